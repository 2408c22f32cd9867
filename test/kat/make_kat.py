#!/usr/bin/env python3
"""Known-answer envelopes for encrypted_text, built with an independent
implementation (the `cryptography` package) from the envelope and key
derivation rules in the README, so the extension is checked against the
specification rather than against itself.

Prints, for each case: the master key, the expected key id, the context,
the plaintext and the envelope's text form.  The regression tests
sql/tamper.sql (encrypted_text) and sql/det.sql (encrypted_text_det)
carry its output; sql/encoding.sql carries the output of the encoding
cases (bit 6 of byte 1 set: the plaintext is UTF-8; clear, as 0.2.0 wrote
it: the plaintext is in the encoding of the writing database).
encrypted_text_det, new in 0.3.0, always holds UTF-8 and leaves bit 6
clear.

`make_kat.py check TEXT_FORM [CONTEXT]` goes the other way: it decrypts
an encrypted_text_det text form that the extension wrote, with the same
independent implementation, and prints the plaintext.
"""
import sys
from base64 import b64encode

from cryptography.hazmat.primitives import hashes
from base64 import b64decode

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hkdf(master: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, None, info).derive(master)


def envelope(master: bytes, nonce: bytes, plaintext: str, context: str | None,
             encoding: str = "utf-8", utf8_flag: bool = False) -> str:
    key_id = hkdf(master, b"encrypted_column key id", 4)
    subkey = hkdf(master, b"encrypted_column aes-256-gcm", 32)
    algorithm = 1 | (0x80 if context is not None else 0) | (0x40 if utf8_flag else 0)
    header = bytes([1, algorithm]) + key_id
    aad = header + (context.encode() if context is not None else b"")
    sealed = AESGCM(subkey).encrypt(nonce, plaintext.encode(encoding), aad)
    return "ecv1:" + b64encode(header + nonce + sealed).decode()


def envelope_det(master: bytes, plaintext: str, context: str | None) -> str:
    """AES-256-SIV envelope: header, 16-byte synthetic IV, ciphertext.  The
    header and the context are separate associated-data strings."""
    key_id = hkdf(master, b"encrypted_column key id", 4)
    subkey = hkdf(master, b"encrypted_column aes-256-siv", 64)
    header = bytes([1, 2 | (0x80 if context is not None else 0)]) + key_id
    ad = [header] + ([context.encode()] if context is not None else [])
    sealed = AESSIV(subkey).encrypt(plaintext.encode(), ad)
    return "ecv1:" + b64encode(header + sealed).decode()


def open_det(master: bytes, text_form: str, context: str | None) -> str:
    """Decrypt an encrypted_text_det text form; raises on any mismatch."""
    env = b64decode(text_form.removeprefix("ecv1:"), validate=True)
    assert env[0] == 1 and env[1] & 0x7F == 2, "not an AES-256-SIV envelope"
    assert bool(env[1] & 0x80) == (context is not None), "context bit"
    assert env[2:6] == hkdf(master, b"encrypted_column key id", 4), "key id"
    subkey = hkdf(master, b"encrypted_column aes-256-siv", 64)
    ad = [env[:6]] + ([context.encode()] if context is not None else [])
    return AESSIV(subkey).decrypt(env[6:], ad).decode()


MASTER = bytes(range(32))
DET_CASES = [
    ("", None),
    ("alice@example.com", None),
    ("grüße, 東京", None),
    ("alice@example.com", "users.email"),
]
CASES = [
    (bytes(12), "", None),
    (bytes(range(100, 112)), "alice@example.com", None),
    (bytes(range(200, 212)), "grüße, 東京", None),
    (bytes(range(12)), "bound to a row", "users:42"),
]
# (nonce, plaintext, encoding of its bytes, bit 6 set)
ENCODING_CASES = [
    (bytes(range(50, 62)), "grüße", "latin-1", False),   # 0.2.0 in a LATIN1 database
    (bytes(range(70, 82)), "grüße", "utf-8", True),      # 0.3.0, any database
    (bytes(range(90, 102)), "grüße", "utf-8", False),    # 0.2.0 in a UTF-8 database
]

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "check":
        print(open_det(MASTER, sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
        sys.exit(0)
    print("key", MASTER.hex(), "id", hkdf(MASTER, b"encrypted_column key id", 4).hex())
    for nonce, plaintext, context in CASES:
        print(repr(plaintext), repr(context), envelope(MASTER, nonce, plaintext, context))
    for nonce, plaintext, encoding, flag in ENCODING_CASES:
        print(repr(plaintext), encoding, "flag" if flag else "no-flag",
              envelope(MASTER, nonce, plaintext, None, encoding, flag))
    print("deterministic (encrypted_text_det)")
    for plaintext, context in DET_CASES:
        print(repr(plaintext), repr(context), envelope_det(MASTER, plaintext, context))
