#!/usr/bin/env python3
"""Known-answer envelopes for encrypted_text, built with an independent
implementation (the `cryptography` package) from the envelope and key
derivation rules in the README, so the extension is checked against the
specification rather than against itself.

Prints, for each case: the master key, the expected key id, the context,
the plaintext and the envelope's text form.  The regression test
sql/tamper.sql carries its output.
"""
from base64 import b64encode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hkdf(master: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, None, info).derive(master)


def envelope(master: bytes, nonce: bytes, plaintext: str, context: str | None) -> str:
    key_id = hkdf(master, b"encrypted_column key id", 4)
    subkey = hkdf(master, b"encrypted_column aes-256-gcm", 32)
    header = bytes([1, 1 | (0x80 if context is not None else 0)]) + key_id
    aad = header + (context.encode() if context is not None else b"")
    sealed = AESGCM(subkey).encrypt(nonce, plaintext.encode(), aad)
    return "ecv1:" + b64encode(header + nonce + sealed).decode()


MASTER = bytes(range(32))
CASES = [
    (bytes(12), "", None),
    (bytes(range(100, 112)), "alice@example.com", None),
    (bytes(range(200, 212)), "grüße, 東京", None),
    (bytes(range(12)), "bound to a row", "users:42"),
]

if __name__ == "__main__":
    print("key", MASTER.hex(), "id", hkdf(MASTER, b"encrypted_column key id", 4).hex())
    for nonce, plaintext, context in CASES:
        print(repr(plaintext), repr(context), envelope(MASTER, nonce, plaintext, context))
