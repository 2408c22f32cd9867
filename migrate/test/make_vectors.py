#!/usr/bin/env python3
"""Test vectors for the legacy readers, made with the real libraries.

Every ciphertext here is written by sqlalchemy-utils (EncryptedType,
StringEncryptedType with AesEngine, AesGcmEngine, FernetEngine) or by
cryptography's Fernet, exactly as an application would store it.  The
expected result of each vector comes from ``spec``, an executable copy of
the rules the SQL functions document; for every value a library wrote, the
generator checks that ``spec`` returns what the library itself reads back,
so the rules cannot drift from the libraries' behaviour unnoticed.

    make_vectors.py                 # rewrite vectors.json and vectors.sql
    make_vectors.py --check         # re-verify the checked-in vectors.json
    make_vectors.py --fresh --seed N --out FILE   # random vectors, for tests

The pytest suite imports this module to make fresh random vectors at test
time; pg_regress reads the fixed set through vectors.sql.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import sys
import time
import warnings

# EncryptedType warns that its storage will change; that is the point here.
warnings.filterwarnings("ignore", category=DeprecationWarning)

import sqlalchemy as sa  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from cryptography.hazmat.primitives.ciphers import (  # noqa: E402
    Cipher,
    algorithms,
    modes,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from sqlalchemy.dialects.postgresql.psycopg2 import (  # noqa: E402
    PGDialect_psycopg2,
)
from sqlalchemy_utils.types.encrypted.encrypted_type import (  # noqa: E402
    AesEngine,
    AesGcmEngine,
    EncryptedType,
    FernetEngine,
    StringEncryptedType,
)

HERE = os.path.dirname(os.path.abspath(__file__))
PADDINGS = ("pkcs5", "naive", "zeroes", "oneandzeroes")
ENGINES = {
    "decrypt_sqlalchemy_aes": AesEngine,
    "decrypt_sqlalchemy_aesgcm": AesGcmEngine,
    "decrypt_sqlalchemy_fernet": FernetEngine,
}
FERNET_CLOCK_SKEW = 60
DIALECT = PGDialect_psycopg2()

# SQLSTATEs the functions raise.
WRONG_SECRET = "39000"      # MAC, tag, padding or UTF-8 check failed
BAD_INPUT = "22P02"         # not base64, truncated, not a Fernet token
BAD_ARGUMENT = "22023"      # unknown padding mode, bad Fernet key, ttl < 0
NOT_TEXT = "22021"          # authentic plaintext that text cannot hold

# Plaintexts around the AES block size, in bytes and in characters, and
# the ones that show each padding decoder's quirks.
FIXED_PLAINTEXTS = [
    ("empty", ""),
    ("ascii15", "fifteen bytes!!"),
    ("ascii16", "sixteen bytes!!!"),
    ("ascii17", "seventeen bytes!!"),
    ("utf8_15", "\u00e9" * 7 + "x"),
    ("utf8_16", "\u00e9" * 8),
    ("utf8_17", "\u00e9" * 8 + "x"),
    ("utf8_mixed", "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u6771\u4eac \U0001f338"),
    ("email", "alice@example.com"),
    ("control", "tab\tnewline\ncontrol\x01"),
    ("trailing_stars", "secret***"),
    ("only_stars", "****"),
    ("ends_in_0x80", "voil\u00e0 \u00c0"),
    ("nul_inside", "nul\x00byte"),
    ("long", "The quick brown fox jumps over the lazy dog. " * 60 + "\u2713"),
]
FIXED_PASSPHRASES = [
    "correct horse battery staple",
    "p\u00e4ssw\u00f6rd \u043a\u043b\u044e\u0447 \U0001f511",
    "",
]


# ---- the documented rules, executable -------------------------------------

class Reject(Exception):
    """What the SQL function raises, by SQLSTATE."""

    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def b64decode_strict(text, urlsafe):
    """Padded base64 with whitespace skipped; anything else is rejected."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    symbols = [c for c in text if c not in " \t\n\r\f\v"]
    if urlsafe:
        symbols = ["+" if c == "-" else "/" if c == "_" else c for c in symbols]
    if len(symbols) % 4:
        raise Reject(BAD_INPUT)
    for i, c in enumerate(symbols):
        if c == "=":
            last_quad = i >= len(symbols) - 4
            if not last_quad or i % 4 < 2 or any(
                    s != "=" for s in symbols[i:]):
                raise Reject(BAD_INPUT)
        elif c not in alphabet:
            raise Reject(BAD_INPUT)
    return base64.b64decode("".join(symbols))


def text_of(plain, authenticated):
    """UTF-8 bytes to a PostgreSQL text value, or the error for them."""
    try:
        result = plain.decode("utf-8")
    except UnicodeDecodeError:
        raise Reject(NOT_TEXT if authenticated else WRONG_SECRET)
    if "\x00" in result:
        raise Reject(NOT_TEXT)
    return result


def strip_padding(p, mode):
    """AesEngine unpad(), after checking what its pad() always writes."""
    if mode == "pkcs5":
        n = p[-1]
        if not 1 <= n <= 16 or p[-n:] != bytes([n]) * n:
            raise Reject(WRONG_SECRET)
        return p[:-n]
    if mode == "naive":
        if p[-1:] != b"*":
            raise Reject(WRONG_SECRET)
        return p.rstrip(b"*")
    if mode == "zeroes":
        n = p[-1]
        if not 1 <= n <= 16 or p[-n:-1] != bytes(n - 1):
            raise Reject(WRONG_SECRET)
        return p[:-n]
    if mode == "oneandzeroes":
        body = p.rstrip(b"\x00")
        if len(p) - len(body) > 15 or body[-1:] != b"\x80":
            raise Reject(WRONG_SECRET)
        return body.rstrip(b"\x80")
    raise Reject(BAD_ARGUMENT)


def fernet_structure(raw):
    """Version byte, then 57 bytes around a whole number of blocks."""
    if not raw or raw[0] != 0x80:
        raise Reject(BAD_INPUT)
    if len(raw) < 73 or (len(raw) - 57) % 16:
        raise Reject(BAD_INPUT)


def fernet_open(raw, key, ttl, now):
    """A decoded Fernet token under a 32-byte key, as the functions read it."""
    mac = hmac.new(key[:16], raw[:-32], hashlib.sha256).digest()
    if not hmac.compare_digest(mac, raw[-32:]):
        raise Reject(WRONG_SECRET)
    if ttl is not None:
        stamp = int.from_bytes(raw[1:9], "big")
        if stamp + ttl < now or now + FERNET_CLOCK_SKEW < stamp:
            raise Reject(WRONG_SECRET)
    dec = Cipher(algorithms.AES(key[16:]), modes.CBC(raw[9:25])).decryptor()
    p = dec.update(raw[25:-32]) + dec.finalize()
    n = p[-1]
    if not 1 <= n <= 16 or p[-n:] != bytes([n]) * n:
        raise Reject(WRONG_SECRET)
    return text_of(p[:-n], authenticated=True)


def spec(fn, value, secret, padding=None, ttl=None, now=None):
    """The documented result of fn(value, secret[, padding | ttl])."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if fn == "decrypt_sqlalchemy_aes" and padding not in PADDINGS:
        raise Reject(BAD_ARGUMENT)
    if fn == "decrypt_fernet" and ttl is not None and ttl < 0:
        raise Reject(BAD_ARGUMENT)
    raw = b64decode_strict(value, urlsafe=fn.endswith("fernet"))
    if fn.endswith("fernet"):
        fernet_structure(raw)
    if fn == "decrypt_fernet":
        try:
            key = b64decode_strict(secret, urlsafe=True)
        except Reject:
            key = b""
        if len(key) != 32:
            raise Reject(BAD_ARGUMENT)
        return fernet_open(raw, key, ttl, now if now is not None else time.time())
    key = hashlib.sha256(secret.encode("utf-8")).digest()
    if fn == "decrypt_sqlalchemy_fernet":
        # FernetEngine: Fernet(urlsafe_b64encode(sha256(passphrase)))
        return fernet_open(raw, key, None, None)
    if fn == "decrypt_sqlalchemy_aesgcm":
        if len(raw) < 28:
            raise Reject(BAD_INPUT)
        try:
            p = AESGCM(key).decrypt(raw[:12], raw[28:] + raw[12:28], None)
        except Exception:
            raise Reject(WRONG_SECRET)
        return text_of(p, authenticated=True)
    if not raw or len(raw) % 16:
        raise Reject(BAD_INPUT)
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    p = dec.update(raw) + dec.finalize()
    return text_of(strip_padding(p, padding), authenticated=False)


# ---- vectors ----------------------------------------------------------------

def outcome(call):
    """{'plaintext': ...} or {'error': 'Name: message'} for call()."""
    try:
        return {"plaintext": call()}
    except Exception as exc:  # the library's own exception, kept as a note
        return {"error": "%s: %s" % (type(exc).__name__, exc)}


def make_vector(vid, fn, storage, value, secret, padding=None, ttl=None,
                library=None, note=None, now=None):
    """One vector, with its expectation from spec()."""
    ascii_value = value.decode("ascii", "replace") if isinstance(
        value, bytes) else value
    try:
        expect = {"plaintext": spec(fn, ascii_value, secret, padding, ttl, now)}
    except Reject as rej:
        expect = {"sqlstate": rej.sqlstate}
    vector = {
        "id": vid,
        "fn": fn,
        "storage": storage,
        "value": ascii_value,
        "secret": secret,
        "padding": padding,
        "ttl": ttl,
        "expect": expect,
    }
    if library is not None:
        vector["library"] = library
    if note:
        vector["note"] = note
    return vector


def check_against_library(vector):
    """A value the library wrote must read as the library reads it."""
    vector["agrees_with_library"] = True
    lib, exp = vector["library"], vector["expect"]
    if "plaintext" in lib:
        if "\x00" in lib["plaintext"]:
            ok = exp.get("sqlstate") == NOT_TEXT
        else:
            ok = exp.get("plaintext") == lib["plaintext"]
    else:
        ok = "sqlstate" in exp
    if not ok:
        raise AssertionError("spec and library disagree on %s: library %r, spec %r"
                             % (vector["id"], lib, exp))


def engine_type(fn, secret, padding, storage):
    """The sqlalchemy-utils column type an application would declare."""
    cls = EncryptedType if storage == "bytea" else StringEncryptedType
    return cls(sa.Unicode, secret, ENGINES[fn], padding)


def sqlalchemy_vectors(prefix, passphrases, plaintexts):
    """Values as EncryptedType / StringEncryptedType store them."""
    out = []
    for fn in ENGINES:
        for padding in (PADDINGS if fn == "decrypt_sqlalchemy_aes" else (None,)):
            for storage in ("bytea", "text"):
                for pi, secret in enumerate(passphrases):
                    for name, plain in plaintexts:
                        if name == "long" and pi > 0:
                            continue
                        col = engine_type(fn, secret, padding, storage)
                        stored = col.process_bind_param(plain, DIALECT)
                        assert isinstance(stored, bytes if storage == "bytea" else str)
                        vid = "%s-%s%s-%s-p%d-%s" % (
                            prefix, fn.replace("decrypt_sqlalchemy_", ""),
                            "-" + padding if padding else "", storage, pi, name)
                        v = make_vector(
                            vid, fn, storage, stored, secret, padding,
                            library=outcome(lambda: col.process_result_value(
                                stored, DIALECT)))
                        check_against_library(v)
                        out.append(v)
    return out


def library_default_padding_vectors(prefix, plaintexts):
    """A column declared without a padding argument uses 'naive'."""
    out = []
    for storage in ("bytea", "text"):
        for name, plain in plaintexts:
            cls = EncryptedType if storage == "bytea" else StringEncryptedType
            col = cls(sa.Unicode, "no padding argument", AesEngine)
            stored = col.process_bind_param(plain, DIALECT)
            v = make_vector(
                "%s-aes-default-%s-%s" % (prefix, storage, name),
                "decrypt_sqlalchemy_aes", storage, stored,
                "no padding argument", "naive",
                library=outcome(lambda: col.process_result_value(stored, DIALECT)),
                note="declared without padding: the library uses naive")
            check_against_library(v)
            out.append(v)
    return out


def fernet_vectors(prefix, keys, plaintexts, now):
    """Tokens of cryptography's Fernet, stored as text or bytea."""
    out = []
    for ki, key in enumerate(keys):
        f = Fernet(key)
        for name, plain in plaintexts:
            data = plain if isinstance(plain, bytes) else plain.encode("utf-8")
            token = f.encrypt(data)
            for storage in ("bytea", "text"):
                lib = outcome(lambda: f.decrypt(token).decode("utf-8"))
                v = make_vector("%s-fernet-%s-k%d-%s" % (prefix, storage, ki, name),
                                "decrypt_fernet", storage, token, key.decode(),
                                library=lib)
                check_against_library(v)
                out.append(v)
    return out


def fernet_ttl_vectors(prefix, key, now, include_now=False):
    """Fernet's ttl: expired, from the future, and valid tokens."""
    f = Fernet(key)
    out = []
    cases = [
        ("old-no-ttl", 1500000000, None),
        ("old-expired", 1500000000, 60),
        ("old-long-ttl", 1500000000, 10 ** 11),
        ("future-no-ttl", 4102444800, None),
        ("future-ttl", 4102444800, 60),
    ]
    if include_now:     # not in the fixed set: it expires
        cases.append(("now-ttl", int(now), 3600))
    for name, stamp, ttl in cases:
        token = f.encrypt_at_time(("issued at %d" % stamp).encode(), stamp)

        def lib(token=token, ttl=ttl):
            return f.decrypt(token, ttl).decode()
        for storage in ("bytea", "text"):
            v = make_vector("%s-fernet-ttl-%s-%s" % (prefix, storage, name),
                            "decrypt_fernet", storage, token, key.decode(), ttl=ttl,
                            library=outcome(lib), now=now)
            check_against_library(v)
            out.append(v)
    return out


def flip(value, index, urlsafe=False):
    """Re-encode value with one bit of decoded byte `index` flipped."""
    enc, dec = ((base64.urlsafe_b64encode, base64.urlsafe_b64decode)
                if urlsafe else (base64.b64encode, base64.b64decode))
    raw = bytearray(dec(value))
    raw[index] ^= 0x01
    return enc(bytes(raw)).decode()


def reencode(raw, urlsafe=False):
    """base64 of raw bytes, in the given alphabet."""
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()


def error_vectors(prefix, now):
    """Wrong secrets, wrong modes, tampering, truncation and bad arguments."""
    out = []
    good, wrong = "correct horse battery staple", "Correct horse battery staple"

    def add(name, fn, value, secret, padding=None, ttl=None, library=None,
            note=None, storage="text"):
        out.append(make_vector("%s-error-%s" % (prefix, name), fn, storage,
                               value, secret, padding, ttl, library, note, now))

    for fn in ENGINES:
        for padding in (PADDINGS if fn == "decrypt_sqlalchemy_aes" else (None,)):
            tag = fn.replace("decrypt_sqlalchemy_", "") + ("-" + padding if padding else "")
            for plain_name, plain in (("empty", ""), ("email", "alice@example.com")):
                col = StringEncryptedType(sa.Unicode, good, ENGINES[fn], padding)
                stored = col.process_bind_param(plain, DIALECT)
                other = StringEncryptedType(sa.Unicode, wrong, ENGINES[fn], padding)
                add("%s-wrong-passphrase-%s" % (tag, plain_name), fn, stored, wrong,
                    padding, library=outcome(lambda: other.process_result_value(
                        stored, DIALECT)))
                add("%s-wrong-passphrase-%s-bytea" % (tag, plain_name), fn,
                    stored.encode(), wrong, padding, storage="bytea")
            if padding:
                for other_mode in PADDINGS:
                    if other_mode == padding:
                        continue
                    for plain_name, plain in (("ascii15", "fifteen bytes!!"),
                                              ("email", "alice@example.com")):
                        col = StringEncryptedType(sa.Unicode, good, AesEngine, padding)
                        stored = col.process_bind_param(plain, DIALECT)
                        other = StringEncryptedType(sa.Unicode, good, AesEngine,
                                                    other_mode)
                        add("aes-%s-read-as-%s-%s" % (padding, other_mode, plain_name),
                            fn, stored, good, other_mode,
                            library=outcome(lambda: other.process_result_value(
                                stored, DIALECT)),
                            note="written with %s, read with %s" % (padding, other_mode))

    aes = StringEncryptedType(sa.Unicode, good, AesEngine, "pkcs5")
    aes_value = aes.process_bind_param("alice@example.com", DIALECT)
    gcm = StringEncryptedType(sa.Unicode, good, AesGcmEngine)
    gcm_value = gcm.process_bind_param("alice@example.com", DIALECT)
    saf = StringEncryptedType(sa.Unicode, good, FernetEngine)
    saf_value = saf.process_bind_param("alice@example.com", DIALECT)
    key = Fernet.generate_key()
    token = Fernet(key).encrypt(b"alice@example.com").decode()

    # arguments
    for i, mode in enumerate(("PKCS5", "pkcs7", "", good)):
        add("aes-padding-mode-%d" % i, "decrypt_sqlalchemy_aes", aes_value, good, mode,
            note="unknown padding mode")
    add("fernet-key-short", "decrypt_fernet", token, "c2hvcnQ=")
    add("fernet-key-not-base64", "decrypt_fernet", token, "not a key at all!")
    add("fernet-key-passphrase", "decrypt_fernet", token, good)
    add("fernet-negative-ttl", "decrypt_fernet", token, key.decode(), ttl=-1)
    # Python's urlsafe_b64decode takes the standard alphabet too
    std_key = key.decode().replace("-", "+").replace("_", "/")
    add("fernet-key-standard-alphabet", "decrypt_fernet", token, std_key,
        library=outcome(lambda: Fernet(std_key).decrypt(token.encode()).decode()))

    # tampering
    add("aesgcm-flipped-ciphertext", "decrypt_sqlalchemy_aesgcm",
        flip(gcm_value, 30), good)
    add("aesgcm-flipped-tag", "decrypt_sqlalchemy_aesgcm", flip(gcm_value, 12), good)
    add("aesgcm-flipped-nonce", "decrypt_sqlalchemy_aesgcm", flip(gcm_value, 0), good)
    add("sqlalchemy-fernet-flipped-ciphertext", "decrypt_sqlalchemy_fernet",
        flip(saf_value, 30, True), good)
    add("fernet-flipped-ciphertext", "decrypt_fernet", flip(token, 30, True),
        key.decode())
    add("fernet-flipped-hmac", "decrypt_fernet", flip(token, -1, True), key.decode())
    add("fernet-flipped-timestamp", "decrypt_fernet", flip(token, 8, True),
        key.decode())
    add("fernet-other-key", "decrypt_fernet", token, Fernet.generate_key().decode())
    add("aes-pkcs5-flipped-last-block", "decrypt_sqlalchemy_aes", flip(aes_value, 31),
        good, "pkcs5",
        note="CBC has no MAC: flipping the last ciphertext block scrambles the padding")

    # structure
    raw = base64.b64decode(aes_value)
    add("aes-truncated-block", "decrypt_sqlalchemy_aes", reencode(raw[:-1]), good,
        "pkcs5")
    add("aes-empty", "decrypt_sqlalchemy_aes", "", good, "pkcs5")
    add("aes-missing-padding", "decrypt_sqlalchemy_aes", aes_value.rstrip("="), good,
        "pkcs5")
    add("aes-truncated-text", "decrypt_sqlalchemy_aes", aes_value[:-3], good, "pkcs5")
    add("aes-not-base64", "decrypt_sqlalchemy_aes", "this is not base64!", good, "pkcs5")
    add("aes-urlsafe-alphabet", "decrypt_sqlalchemy_aes",
        reencode(bytes(range(200, 232)), urlsafe=True), good, "pkcs5")
    add("aes-data-after-padding", "decrypt_sqlalchemy_aes", "QQ==QUJD", good, "pkcs5")
    add("aes-whitespace", "decrypt_sqlalchemy_aes",
        aes_value[:8] + "\n " + aes_value[8:] + "\n", good, "pkcs5",
        library=outcome(lambda: aes.process_result_value(
            aes_value[:8] + "\n " + aes_value[8:] + "\n", DIALECT)),
        note="whitespace is skipped, as base64 decoders do")
    graw = base64.b64decode(gcm_value)
    add("aesgcm-too-short", "decrypt_sqlalchemy_aesgcm", reencode(graw[:27]), good)
    add("aesgcm-only-nonce-and-tag", "decrypt_sqlalchemy_aesgcm", reencode(graw[:28]),
        good)
    traw = base64.urlsafe_b64decode(token)
    add("fernet-bad-version", "decrypt_fernet", reencode(b"\x81" + traw[1:], True),
        key.decode())
    add("fernet-truncated", "decrypt_fernet", reencode(traw[:-1], True), key.decode())
    add("fernet-no-ciphertext", "decrypt_fernet", reencode(traw[:25] + traw[-32:], True),
        key.decode())
    add("fernet-empty", "decrypt_fernet", "", key.decode())
    add("fernet-not-base64", "decrypt_fernet", "gAAAAA$$", key.decode())
    add("sqlalchemy-fernet-truncated", "decrypt_sqlalchemy_fernet", saf_value[:-4], good)
    return out


def random_text(rng, length):
    """A random string of `length` characters from several scripts."""
    pools = [
        (0x20, 0x7e), (0xa0, 0x17f), (0x400, 0x4ff), (0x4e00, 0x4fff),
        (0x1f300, 0x1f5ff),
    ]
    chars = []
    for _ in range(length):
        lo, hi = rng.choice(pools)
        chars.append(chr(rng.randint(lo, hi)))
    return "".join(chars)


def fixed_vectors():
    """The checked-in set."""
    now = time.time()
    keys = [Fernet.generate_key(), Fernet.generate_key()]
    fernet_plain = FIXED_PLAINTEXTS + [("not_utf8", b"\xff\xfe\x00binary")]
    vectors = []
    vectors += sqlalchemy_vectors("fixed", FIXED_PASSPHRASES, FIXED_PLAINTEXTS)
    vectors += library_default_padding_vectors("fixed", FIXED_PLAINTEXTS[:4])
    vectors += fernet_vectors("fixed", keys, fernet_plain, now)
    vectors += fernet_ttl_vectors("fixed", keys[0], now)
    vectors += error_vectors("fixed", now)
    return vectors


def fresh_vectors(seed):
    """Random passphrases, keys and plaintexts; the structured sizes too."""
    rng = random.Random(seed)
    now = time.time()
    plaintexts = list(FIXED_PLAINTEXTS)
    for length in (0, 1, 15, 16, 17, 31, 32, 33):
        plaintexts.append(("rand%d" % length, random_text(rng, length)))
    plaintexts.append(("rand_long", random_text(rng, rng.randint(2000, 6000))))
    ascii_sizes = [("size%d" % n, "".join(rng.choice("abcxyz*") for _ in range(n)))
                   for n in (15, 16, 17, 48)]
    plaintexts += ascii_sizes
    passphrases = [random_text(rng, rng.randint(1, 40)), "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24))]
    vectors = []
    vectors += sqlalchemy_vectors("fresh", passphrases, plaintexts)
    vectors += library_default_padding_vectors("fresh", plaintexts[:6])
    vectors += fernet_vectors("fresh", [Fernet.generate_key()], plaintexts, now)
    vectors += fernet_ttl_vectors("fresh", Fernet.generate_key(), now, True)
    vectors += error_vectors("fresh", now)
    return vectors


# ---- output -------------------------------------------------------------------

def sql_literal(value):
    """A standard-conforming SQL string literal, or NULL."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def write_sql(vectors, path):
    """INSERTs of the vectors into legacy_vectors, for pg_regress."""
    lines = [
        "-- Fixed test vectors for the legacy readers, written by",
        "-- migrate/test/make_vectors.py from vectors.json: do not edit.",
        "INSERT INTO legacy_vectors",
        "  (id, fn, storage, value, secret, padding, ttl, plaintext, sqlstate)",
        "VALUES",
    ]
    rows = []
    for v in vectors:
        rows.append("  (%s)" % ", ".join(sql_literal(x) for x in (
            v["id"], v["fn"], v["storage"], v["value"], v["secret"], v["padding"],
            v["ttl"], v["expect"].get("plaintext"), v["expect"].get("sqlstate"))))
    lines.append(",\n".join(rows) + ";")
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def write_json(vectors, path, meta):
    """The vectors with the library versions that made them."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"meta": meta, "vectors": vectors}, out, indent=1,
                  ensure_ascii=False)
        out.write("\n")


def library_versions():
    """Versions of the libraries that wrote the vectors."""
    import cryptography
    import sqlalchemy_utils
    return {
        "sqlalchemy_utils": sqlalchemy_utils.__version__,
        "cryptography": cryptography.__version__,
        "sqlalchemy": sa.__version__,
        "python": sys.version.split()[0],
    }


def recheck(vectors):
    """Re-derive every checked-in expectation; returns the mismatching ids."""
    bad = []
    for v in vectors:
        try:
            got = {"plaintext": spec(v["fn"], v["value"], v["secret"], v["padding"],
                                     v["ttl"], time.time())}
        except Reject as rej:
            got = {"sqlstate": rej.sqlstate}
        if got != v["expect"]:
            bad.append(v["id"])
        if v.get("agrees_with_library"):
            check_against_library(v)
    return bad


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="re-verify the checked-in vectors.json")
    parser.add_argument("--fresh", action="store_true",
                        help="random vectors instead of the fixed set")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default=os.path.join(HERE, "vectors.json"))
    parser.add_argument("--sql", default=os.path.join(HERE, "vectors.sql"))
    args = parser.parse_args()

    if args.check:
        with open(args.out, encoding="utf-8") as f:
            vectors = json.load(f)["vectors"]
        bad = recheck(vectors)
        print("%d vectors, %d mismatches %s" % (len(vectors), len(bad), bad[:5]))
        return 1 if bad else 0
    if args.fresh:
        seed = args.seed if args.seed is not None else random.randrange(2 ** 32)
        vectors = fresh_vectors(seed)
        write_json(vectors, args.out, dict(library_versions(), seed=seed))
        print("%d fresh vectors (seed %d) in %s" % (len(vectors), seed, args.out))
        return 0
    vectors = fixed_vectors()
    write_json(vectors, args.out, library_versions())
    write_sql(vectors, args.sql)
    print("%d vectors in %s and %s" % (len(vectors), args.out, args.sql))
    return 0


if __name__ == "__main__":
    sys.exit(main())
