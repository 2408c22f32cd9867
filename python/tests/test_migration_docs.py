"""docs/migration.md followed literally, on a real server.

Each marked code block of the page (see ``docs.py``) runs here as it is
written: the database is the only thing changed (``-d app`` names a fresh
database of the test's own).
"""

import glob
import os
import re
import secrets
import subprocess

import psycopg2
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from sqlalchemy_utils import EncryptedType
from sqlalchemy_utils.types.encrypted.encrypted_type import AesEngine

import docs
from conftest import HERE, connect
from encrypted_column.sqlalchemy import _escape_option, key_id, key_options

PASSPHRASE = "old passphrase \\ with a backslash"
EMAILS = ["user%03d@example.com" % i for i in range(40)]


@pytest.fixture
def fresh_db(server):
    """A new, empty database (no extension in it), dropped afterwards."""
    name = "ec_docs_" + secrets.token_hex(4)
    admin = connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute('CREATE DATABASE "%s"' % name)
    yield name
    with admin.cursor() as cur:
        cur.execute('DROP DATABASE IF EXISTS "%s"' % name)
    admin.close()


def connect_to(dbname, options=None):
    kwargs = {"dbname": dbname}
    if options:
        kwargs["options"] = options
    conn = psycopg2.connect("", **kwargs)
    conn.autocommit = True
    return conn


def legacy_users(dbname, bad_row=False):
    """The seed application's table, written by sqlalchemy-utils itself."""
    engine = sa.create_engine("postgresql+psycopg2:///" + dbname, poolclass=NullPool)
    meta = sa.MetaData()
    users = sa.Table("users", meta,
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("email", EncryptedType(sa.Unicode, PASSPHRASE, AesEngine, "pkcs5"),
                               unique=True, index=True))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(users.insert(), [{"id": i + 1, "email": e} for i, e in enumerate(EMAILS)])
        if bad_row:
            # written under another passphrase: the migration would stop here
            other = sa.Table("users", sa.MetaData(),
                             sa.Column("id", sa.Integer, primary_key=True),
                             sa.Column("email", EncryptedType(sa.Unicode, "another", AesEngine,
                                                              "pkcs5")))
            conn.execute(other.insert(), {"id": 999, "email": "stray@example.com"})
    engine.dispose()


def run_session(dbname, key, sql):
    """The page's session command, as written, with ``sql`` on its input."""
    script = docs.block("session").replace("-d app", "-d %s" % dbname)
    assert script != docs.block("session"), "the session block no longer says -d app"
    env = dict(os.environ, EC_KEY=key, OLD_PASSPHRASE_ESCAPED=_escape_option(PASSPHRASE))
    env.pop("PGOPTIONS", None)
    return subprocess.run(["bash", "-c", script], input=sql, env=env, text=True,
                          capture_output=True, timeout=120)


def test_every_marked_block_is_tested_and_every_tested_block_marked():
    marked = set(docs.blocks())
    used = set()
    for path in glob.glob(os.path.join(HERE, "test_*.py")):
        with open(path, encoding="utf-8") as f:
            used |= set(re.findall(r'docs\.block\("([a-z0-9-]+)"\)', f.read()))
    assert marked == used


def test_the_steps_hand_the_passphrase_in_before_using_it():
    page = docs.text()
    steps = page[page.index("## The migration, step by step"):]
    first_use = steps.index("current_setting('legacy.passphrase')")
    assert steps.index("<!-- tested: session -->") < first_use
    assert steps.index("<!-- tested: session -->") < steps.index("<!-- tested: dry-run -->") \
        < steps.index("<!-- tested: alter -->")
    # step 0 names the setting that the suite's own server runs with
    assert "shared_preload_libraries = 'encrypted_column'" in steps[:steps.index("1. ")]


def test_the_server_runs_as_step_0_says(plain_db):
    with plain_db.cursor() as cur:
        cur.execute("SHOW shared_preload_libraries")
        assert "encrypted_column" in cur.fetchone()[0]


def test_create_extension_needs_cascade(fresh_db):
    conn = connect_to(fresh_db)
    with conn.cursor() as cur:
        with pytest.raises(psycopg2.Error) as info:
            cur.execute("CREATE EXTENSION encrypted_column_migrate")
        assert info.value.pgcode == "42704"
        cur.execute(docs.block("create-extension"))
        cur.execute("SELECT extname FROM pg_extension WHERE extname LIKE 'encrypted_column%'")
        assert [r[0] for r in cur.fetchall()] == ["encrypted_column"]
    conn.close()


def test_the_steps_as_written(fresh_db, key):
    conn = connect_to(fresh_db)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION encrypted_column_migrate CASCADE")   # step 1
    legacy_users(fresh_db, bad_row=True)

    # step 4, the dry run, in step 3's session: names the stray row only
    done = run_session(fresh_db, key, docs.block("dry-run"))
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\s*999 \| 39000: ", done.stdout, re.M), done.stdout
    assert "(1 row)" in done.stdout
    for secret in [PASSPHRASE, "stray@example.com", key] + EMAILS:
        assert secret not in done.stdout + done.stderr

    # step 5 stops at the stray row and changes nothing
    done = run_session(fresh_db, key, docs.block("alter"))
    assert done.returncode != 0
    assert "stray@example.com" not in done.stderr and PASSPHRASE not in done.stderr
    with conn.cursor() as cur:
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'users'::regclass AND attname = 'email'")
        assert cur.fetchone()[0] == "bytea"
        cur.execute("DELETE FROM users WHERE id = 999")

    done = run_session(fresh_db, key, docs.block("alter"))
    assert done.returncode == 0, done.stderr
    keyed = connect_to(fresh_db, key_options(key))
    with keyed.cursor() as cur:
        cur.execute("SELECT decrypt(email) FROM users ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == EMAILS
        cur.execute("SELECT indisunique FROM pg_index WHERE indrelid = 'users'::regclass "
                    "AND NOT indisprimary")
        assert [r[0] for r in cur.fetchall()] == [True]
    keyed.close()
    conn.close()


@pytest.mark.parametrize("id_type", ["uuid", "integer", "text"])
def test_rotation_block_batches_by_key_id(fresh_db, key, id_type):
    conn = connect_to(fresh_db, key_options(key))
    ids = {"uuid": "gen_random_uuid()", "integer": "n",
           "text": "'user-' || n"}[id_type]
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION encrypted_column")
        cur.execute("CREATE TABLE users (id %s PRIMARY KEY, email encrypted_text_det UNIQUE)"
                    % id_type)
        cur.execute("INSERT INTO users SELECT %s, 'user' || n || '@example.com' "
                    "FROM generate_series(1, 25000) n" % ids)
    conn.close()
    new = secrets.token_hex(32)
    conn = connect_to(fresh_db, key_options(new, [key]))
    with conn.cursor() as cur:
        cur.execute("INSERT INTO users VALUES (%s, 'after@example.com')"
                    % {"uuid": "gen_random_uuid()", "integer": "0", "text": "'x'"}[id_type])
        # psql sends the two statements one by one; so does this (a DO
        # that commits cannot share a message with another statement)
        do, count = docs.block("rotation").split("END $$;\n")
        cur.execute(do + "END $$")
        cur.execute(count)
        assert cur.fetchall() == [(key_id(new), 25001)]
        notices = [n for n in conn.notices if "rotated" in n]
        assert len(notices) == 3, notices            # 10000, 10000, 5000
        cur.execute("SELECT count(*) FROM users WHERE email = 'user777@example.com'::text")
        assert cur.fetchone()[0] == 1
    conn.close()
    # the old key is no longer needed
    conn = connect_to(fresh_db, key_options(new))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users WHERE decrypt(email) LIKE 'user%'")
        assert cur.fetchone()[0] == 25000
    conn.close()
