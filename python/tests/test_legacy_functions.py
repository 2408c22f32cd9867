"""The legacy readers against vectors written by the real libraries.

Two sets: the checked-in vectors.json, and fresh random vectors made now
with the installed sqlalchemy-utils and cryptography (their seed is printed
on failure; LEGACY_VECTOR_SEED=N reproduces a run).
"""

import json
import os
import random
import secrets

import psycopg2
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, declarative_base

import make_vectors
from conftest import VECTOR_DIR

FIXED_COUNT = 680       # make_vectors.py writes this many; a change is deliberate


def call_sql(fn, storage, value, secret, padding, ttl):
    """The SQL text and parameters of one call, with the value typed."""
    if storage == "bytea":
        param = psycopg2.Binary(value.encode("latin-1"))
        cast = "bytea"
    else:
        param, cast = value, storage
    args = ["%s::" + cast, "%s"]
    params = [param, secret]
    if padding is not None:
        args.append("%s")
        params.append(padding)
    if ttl is not None:
        args.append("%s::bigint")
        params.append(ttl)
    return "SELECT %s(%s)" % (fn, ", ".join(args)), params


def run_vector(cur, v, storage=None):
    """{'plaintext': ...} or {'sqlstate': ..., 'error': diag} from the server."""
    sql, params = call_sql(v["fn"], storage or v["storage"], v["value"], v["secret"],
                           v["padding"], v["ttl"])
    cur.execute("SAVEPOINT v")
    try:
        cur.execute(sql, params)
        result = {"plaintext": cur.fetchone()[0]}
    except psycopg2.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT v")
        return {"sqlstate": exc.pgcode, "diag": exc.diag}
    cur.execute("RELEASE SAVEPOINT v")
    return result


def check_vectors(conn, vectors, label):
    """Run every vector; fail with a list of the ones that disagree."""
    failures = []
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        for v in vectors:
            storages = [v["storage"]] + (["varchar"] if v["storage"] == "text" else [])
            for storage in storages:
                got = run_vector(cur, v, storage)
                expect = v["expect"]
                if "plaintext" in expect:
                    ok = got.get("plaintext") == expect["plaintext"]
                else:
                    ok = got.get("sqlstate") == expect["sqlstate"]
                if not ok:
                    failures.append("%s as %s: expected %r, got %r" % (
                        v["id"], storage, expect,
                        got.get("plaintext", got.get("sqlstate"))))
        cur.execute("ROLLBACK")
    assert not failures, "%s: %d of %d vectors failed:\n%s" % (
        label, len(failures), len(vectors), "\n".join(failures[:20]))


def test_fixed_vectors(db):
    with open(os.path.join(VECTOR_DIR, "vectors.json"), encoding="utf-8") as f:
        data = json.load(f)
    vectors = data["vectors"]
    assert len(vectors) == FIXED_COUNT
    check_vectors(db, vectors, "vectors.json")


def test_fixed_vectors_still_match_the_libraries():
    """The checked-in expectations still follow from the installed libraries."""
    with open(os.path.join(VECTOR_DIR, "vectors.json"), encoding="utf-8") as f:
        vectors = json.load(f)["vectors"]
    assert make_vectors.recheck(vectors) == []


def test_fresh_vectors(db):
    seed = int(os.environ.get("LEGACY_VECTOR_SEED", random.randrange(2 ** 32)))
    vectors = make_vectors.fresh_vectors(seed)
    fns = {v["fn"] for v in vectors}
    paddings = {v["padding"] for v in vectors if v["fn"] == "decrypt_sqlalchemy_aes"}
    assert fns == {"decrypt_sqlalchemy_aes", "decrypt_sqlalchemy_aesgcm",
                   "decrypt_sqlalchemy_fernet", "decrypt_fernet"}
    assert paddings >= set(make_vectors.PADDINGS)
    assert {v["storage"] for v in vectors} == {"bytea", "text"}
    check_vectors(db, vectors, "fresh vectors, LEGACY_VECTOR_SEED=%d" % seed)


def test_every_format_and_padding_round_trips_in_real_tables(db, make_engine):
    """Columns that sqlalchemy-utils created and filled, read in SQL."""
    from sqlalchemy_utils import EncryptedType, StringEncryptedType
    from sqlalchemy_utils.types.encrypted.encrypted_type import (
        AesEngine, AesGcmEngine, FernetEngine)

    passphrase = "pass " + secrets.token_hex(4) + " \u00e9\u00e8"
    columns = {
        "aes_%s" % p: (AesEngine, p, "decrypt_sqlalchemy_aes({c}, %%(p)s, '%s')" % p)
        for p in make_vectors.PADDINGS
    }
    columns["aes_default"] = (AesEngine, None,
                              "decrypt_sqlalchemy_aes({c}, %(p)s, 'naive')")
    columns["aesgcm"] = (AesGcmEngine, None, "decrypt_sqlalchemy_aesgcm({c}, %(p)s)")
    columns["fernet"] = (FernetEngine, None, "decrypt_sqlalchemy_fernet({c}, %(p)s)")
    Base = declarative_base()
    attrs = {"__tablename__": "legacy_" + secrets.token_hex(4),
             "id": sa.Column(sa.Integer, primary_key=True)}
    for name, (engine_cls, padding, _) in columns.items():
        attrs[name + "_b"] = sa.Column(EncryptedType(sa.Unicode, passphrase,
                                                     engine_cls, padding))
        attrs[name + "_s"] = sa.Column(StringEncryptedType(sa.Unicode, passphrase,
                                                           engine_cls, padding))
    Row = type("Row", (Base,), attrs)
    engine = make_engine()
    Base.metadata.create_all(engine)
    values = ["", "x" * 15, "y" * 16, "z" * 17, "\u00e9" * 8,
              "Gr\u00fc\u00dfe \u6771\u4eac \U0001f338", "a" * 5000, None]
    try:
        with Session(engine) as session:
            for value in values:
                session.add(Row(**{c: value for c in attrs
                                   if c.endswith(("_b", "_s"))}))
            session.commit()
        with db.cursor() as cur:
            cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attname IN ('aes_pkcs5_b', "
                        "'aes_pkcs5_s') ORDER BY attname", (attrs["__tablename__"],))
            assert [r[0] for r in cur.fetchall()] == ["bytea", "character varying"]
            exprs = []
            for name, (_, _, call) in columns.items():
                for suffix in ("_b", "_s"):
                    exprs.append(call.format(c=name + suffix))
            cur.execute("SELECT %s FROM %s ORDER BY id" % (
                ", ".join(exprs), attrs["__tablename__"]), {"p": passphrase})
            rows = cur.fetchall()
        assert len(rows) == len(values)
        for value, row in zip(values, rows):
            assert list(row) == [value] * len(exprs)
    finally:
        Base.metadata.drop_all(engine)


def test_varchar_reaches_the_text_variant(db):
    with db.cursor() as cur:
        cur.execute("""
            SELECT p.oid::regprocedure::text
              FROM pg_proc p
             WHERE p.proname = 'decrypt_sqlalchemy_aes'
             ORDER BY 1""")
        assert [r[0] for r in cur.fetchall()] == [
            "decrypt_sqlalchemy_aes(bytea,text,text)",
            "decrypt_sqlalchemy_aes(text,text,text)"]
        value = make_vectors.engine_type("decrypt_sqlalchemy_aes", "pw", "pkcs5",
                                         "text").process_bind_param("hi", make_vectors.DIALECT)
        cur.execute("SELECT decrypt_sqlalchemy_aes(%s::varchar(100), 'pw'), "
                    "decrypt_sqlalchemy_aes(%s::character varying, 'pw', 'pkcs5')",
                    (value, value))
        assert cur.fetchone() == ("hi", "hi")


def test_catalog_properties(db):
    """Volatility, strictness, parallel safety and comments, as documented."""
    with db.cursor() as cur:
        cur.execute("""
            SELECT p.oid::regprocedure::text, e.extname, p.provolatile,
                   p.proisstrict, p.proparallel,
                   obj_description(p.oid, 'pg_proc') IS NOT NULL
              FROM pg_proc p
              LEFT JOIN pg_depend d ON d.classid = 'pg_proc'::regclass
                                   AND d.objid = p.oid AND d.deptype = 'e'
              LEFT JOIN pg_extension e ON e.oid = d.refobjid
             WHERE p.proname = ANY(%s)
             ORDER BY 1""", (["decrypt_sqlalchemy_aes", "decrypt_sqlalchemy_aesgcm",
                              "decrypt_sqlalchemy_fernet", "decrypt_fernet"],))
        rows = cur.fetchall()
    assert len(rows) == 10
    for signature, extension, volatile, strict, parallel, commented in rows:
        assert (extension, volatile, strict, parallel, commented) == \
            ("encrypted_column_migrate", "s", False, "s", True), signature


@pytest.mark.parametrize("fn, args", [
    ("decrypt_sqlalchemy_aes", "NULL::text, 'p'"),
    ("decrypt_sqlalchemy_aes", "NULL::bytea, 'p', 'naive'"),
    ("decrypt_sqlalchemy_aesgcm", "NULL::text, 'p'"),
    ("decrypt_sqlalchemy_fernet", "NULL::bytea, 'p'"),
    ("decrypt_fernet", "NULL::text, 'k'"),
    ("decrypt_fernet", "NULL::text, 'k', 5"),
])
def test_null_value_gives_null(db, fn, args):
    with db.cursor() as cur:
        cur.execute("SELECT %s(%s)" % (fn, args))
        assert cur.fetchone()[0] is None


@pytest.mark.parametrize("fn, args, name", [
    ("decrypt_sqlalchemy_aes", "'QUJD', NULL", "passphrase"),
    ("decrypt_sqlalchemy_aes", "'QUJD', 'p', NULL", "padding"),
    ("decrypt_sqlalchemy_aesgcm", "'QUJD'::bytea, NULL", "passphrase"),
    ("decrypt_sqlalchemy_fernet", "'QUJD', NULL", "passphrase"),
    ("decrypt_fernet", "'QUJD', NULL", "key"),
    ("decrypt_fernet", "'QUJD', 'k', NULL", "ttl"),
])
def test_null_secret_is_an_error(db, fn, args, name):
    """A missing passphrase must not quietly turn a column into NULLs."""
    with db.cursor() as cur:
        with pytest.raises(psycopg2.Error) as info:
            cur.execute("SELECT %s(%s)" % (fn, args))
    assert info.value.pgcode == "22004"
    assert info.value.diag.message_primary == "%s: %s must not be null" % (fn, name)


def test_errors_name_the_function_and_leak_nothing(db):
    """No message, detail, hint or context quotes a secret or a plaintext."""
    with open(os.path.join(VECTOR_DIR, "vectors.json"), encoding="utf-8") as f:
        vectors = json.load(f)["vectors"]
    errors = [v for v in vectors if "sqlstate" in v["expect"]]
    assert len(errors) >= 100
    secrets_seen = 0
    with db.cursor() as cur:
        cur.execute("BEGIN")
        for v in errors:
            got = run_vector(cur, v)
            assert got.get("sqlstate") == v["expect"]["sqlstate"], v["id"]
            diag = got["diag"]
            assert diag.message_primary.startswith(v["fn"] + ": "), v["id"]
            texts = " ".join(t for t in (diag.message_primary, diag.message_detail,
                                         diag.message_hint, diag.context) if t)
            leaks = [v["secret"]] if len(v["secret"]) > 3 else []
            if v["padding"] and v["padding"] not in make_vectors.PADDINGS:
                leaks.append(v["padding"])
            plain = v.get("library", {}).get("plaintext")
            if plain and len(plain) > 3:
                leaks.append(plain)
            for secret in leaks:
                secrets_seen += 1
                assert secret not in texts, v["id"]
        cur.execute("ROLLBACK")
    assert secrets_seen > 100


def test_messages(db):
    """The wording users see for the common mistakes."""
    value = make_vectors.engine_type("decrypt_sqlalchemy_aes", "right", "naive",
                                     "text").process_bind_param("alice", make_vectors.DIALECT)
    cases = [
        ("SELECT decrypt_sqlalchemy_aes(%s, 'right')", "39000",
         "decrypt_sqlalchemy_aes: wrong passphrase, padding mode or corrupted value",
         'The decrypted value does not end in "pkcs5" padding.'),
        ("SELECT decrypt_sqlalchemy_aes(%s, 'right', 'PKCS5')", "22023",
         "decrypt_sqlalchemy_aes: unknown padding mode", None),
        ("SELECT decrypt_sqlalchemy_aes(%s || '!', 'right', 'naive')", "22P02",
         "decrypt_sqlalchemy_aes: value is not valid base64", None),
    ]
    with db.cursor() as cur:
        for sql, state, message, detail in cases:
            with pytest.raises(psycopg2.Error) as info:
                cur.execute(sql, (value,))
            assert info.value.pgcode == state
            assert info.value.diag.message_primary == message
            if detail:
                assert info.value.diag.message_detail == detail
        cur.execute("SELECT decrypt_sqlalchemy_aes(%s, 'right', 'naive')", (value,))
        assert cur.fetchone()[0] == "alice"


def test_parallel_workers(db, table_name):
    """The functions run in parallel workers with the same results."""
    col = make_vectors.engine_type("decrypt_sqlalchemy_aesgcm", "pw", None, "text")
    with db.cursor() as cur:
        cur.execute('CREATE TABLE "%s" (id int, v text)' % table_name)
        rows = [(i, col.process_bind_param("value %d" % i, make_vectors.DIALECT)) for i in range(200)]
        cur.executemany('INSERT INTO "%s" VALUES (%%s, %%s)' % table_name, rows)
        cur.execute('ANALYZE "%s"' % table_name)
        # the same settings on every version: a Gather is the cheapest plan,
        # and without the leader the workers make every call
        cur.execute("SET parallel_setup_cost = 0")
        cur.execute("SET parallel_tuple_cost = 0")
        cur.execute("SET min_parallel_table_scan_size = 0")
        cur.execute("SET parallel_leader_participation = off")
        query = ('SELECT count(*) FILTER (WHERE decrypt_sqlalchemy_aesgcm(v, %%s) = '
                 "'value ' || id) FROM \"%s\"" % table_name)
        cur.execute("EXPLAIN (COSTS OFF) " + query, ("pw",))
        plan = "\n".join(r[0] for r in cur.fetchall())
        assert "Gather" in plan
        cur.execute(query, ("pw",))
        assert cur.fetchone()[0] == 200


@pytest.mark.parametrize("encoding", ["SQL_ASCII", "LATIN1"])
def test_other_database_encodings(server, key, encoding):
    """Passphrases are hashed as UTF-8 and results converted, in any encoding.

    A plaintext the database encoding cannot hold is an error that does not
    quote it (the server's own conversion error would).
    """
    from conftest import connect
    from encrypted_column.sqlalchemy import key_options

    dbname = "legacy_%s_%s" % (encoding.lower(), secrets.token_hex(3))
    admin = connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE %s TEMPLATE template0 ENCODING '%s' "
                    "LC_COLLATE 'C' LC_CTYPE 'C'" % (dbname, encoding))
    conn = None
    try:
        conn = psycopg2.connect("", dbname=dbname, options=key_options(key))
        conn.autocommit = True
        conn.set_client_encoding("UTF8")
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION encrypted_column VERSION %s",
                        (server["version"],))
            cur.execute("CREATE EXTENSION encrypted_column_migrate")
        with open(os.path.join(VECTOR_DIR, "vectors.json"), encoding="utf-8") as f:
            vectors = json.load(f)["vectors"]

        def fits(s):
            return encoding == "SQL_ASCII" or all(ord(c) < 256 for c in s)

        usable = [v for v in vectors if fits(v["secret"]) and v["ttl"] is None]
        readable = [v for v in usable if fits(v["expect"].get("plaintext", ""))]
        check_vectors(conn, readable, "%s database" % encoding)
        unreadable = [v for v in usable if v not in readable]
        assert (encoding == "SQL_ASCII") == (not unreadable)
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            for v in unreadable:
                got = run_vector(cur, v)
                assert got.get("sqlstate") == "22P05", v["id"]
                message = got["diag"].message_primary
                assert message == ('%s: decrypted value cannot be represented in '
                                   'the database encoding "LATIN1"' % v["fn"])
                assert got["diag"].message_detail is None
            cur.execute("ROLLBACK")
            if encoding == "SQL_ASCII":
                # any bytes fit in SQL_ASCII; the error must not quote them
                with pytest.raises(psycopg2.Error) as info:
                    cur.execute("SELECT decrypt_sqlalchemy_aes("
                                "'QUJDREVGR0hJSktMTU5PUA==', "
                                "convert_from('\\xfffe41'::bytea, 'SQL_ASCII'))")
                assert info.value.pgcode == "22021"
                assert info.value.diag.message_primary == \
                    "decrypt_sqlalchemy_aes: passphrase is not valid UTF-8"
    finally:
        if conn is not None:
            conn.close()
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s" % dbname)
        admin.close()
