"""The worked migration: sqlalchemy-utils EncryptedType to the extension's types.

A table made and filled by the real EncryptedType(Unicode, passphrase,
AesEngine, 'pkcs5'), migrated in place by one ALTER TABLE, read back
through EncryptedText; then the table's files and the WAL are searched
for the plaintext.  The seed application's model, with a unique index on
the email, moves to encrypted_text_det through a real Alembic migration
and keeps its index lookups and its uniqueness.
"""

import os
import secrets
import subprocess
import sys

import sqlalchemy as sa

import migrate_flask_user as example
from conftest import PYTHON_DIR


def users(tag):
    """Sample users with unique plaintexts, one long enough to be toasted."""
    return [
        ("alice", "alice.%s@example.com" % tag),
        ("bob", "bob.%s@example.org" % tag),
        ("chlo\u00e9", "chlo\u00e9.%s@exemple.fr" % tag),
        ("dmitri", "\u0434\u043c\u0438\u0442\u0440\u0438\u0439.%s@\u043f\u0440\u0438"
                   "\u043c\u0435\u0440.\u0440\u0444" % tag),
        ("long", "long.%s." % tag + "x" * 3000 + "@example.com"),
        ("empty", ""),
    ]


def relation_files(cur, table):
    """Bytes of the table's heap and TOAST files, after a checkpoint."""
    cur.execute("CHECKPOINT")
    cur.execute("""
        SELECT pg_read_binary_file(pg_relation_filepath(c.oid))
          FROM pg_class c
         WHERE c.oid = %s::regclass
            OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = %s::regclass)
        """, (table, table))
    files = [bytes(r[0]) for r in cur.fetchall()]
    assert len(files) == 2
    return files


def wal_files(cur):
    """Bytes of every WAL segment the server still has."""
    cur.execute("SELECT name FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'")
    names = [r[0] for r in cur.fetchall()]
    assert names
    for name in names:
        cur.execute("SELECT pg_read_binary_file('pg_wal/' || %s)", (name,))
        yield bytes(cur.fetchone()[0])


def test_search_finds_plaintext_where_there_is_some(db, table_name):
    """Control: the disk search below would see a plaintext if there were one."""
    marker = "control-%s@example.com" % secrets.token_hex(8)
    with db.cursor() as cur:
        cur.execute('CREATE TABLE "%s" (id int, email text)' % table_name)
        cur.execute('ALTER TABLE "%s" ALTER COLUMN email SET STORAGE external'
                    % table_name)
        cur.execute('INSERT INTO "%s" VALUES (1, %%s), (2, %%s)' % table_name,
                    (marker, marker + "y" * 3000))
        heap, toast = relation_files(cur, table_name)
        assert marker.encode() in heap and marker.encode() in toast
        assert any(marker.encode() in wal for wal in wal_files(cur))


def test_worked_migration(db, key, table_name):
    tag = secrets.token_hex(8)
    passphrase = "old passphrase with spaces, \\ and \u00fcnicode " + tag
    people = users(tag)

    # a value this long cannot be in a btree index: no unique index here
    example.create_legacy_table(table_name, passphrase, people, unique=False)
    with db.cursor() as cur:
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attname = 'email'", (table_name,))
        assert cur.fetchone()[0] == "bytea"
        cur.execute('SELECT email FROM "%s" ORDER BY id' % table_name)
        legacy_values = [bytes(r[0]) for r in cur.fetchall()]

    statement = str(example.migration_statement(table_name, deterministic=False))
    assert passphrase not in statement and "current_setting" in statement
    example.migrate(table_name, key, passphrase, deterministic=False)

    engine = example.application_engine(key)
    try:
        assert example.read_users(engine, table_name, deterministic=False) == people
    finally:
        engine.dispose()

    with db.cursor() as cur:
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attname = 'email'", (table_name,))
        assert cur.fetchone()[0] == "encrypted_text"
        cur.execute('SELECT count(*) FROM "%s" WHERE decrypt(email) LIKE %%s'
                    % table_name, ("%" + tag + "%",))
        assert cur.fetchone()[0] == len(people) - 1
        files = relation_files(cur, table_name)
        plaintexts = [e.encode() for _, e in people if e]
        for data in files:
            assert data.strip(b"\x00"), "empty relation file"
            for p in plaintexts:
                assert p[:40] not in data
            for old in legacy_values:
                assert old[:40] not in data
        for wal in wal_files(cur):
            for p in plaintexts:
                assert p[:40] not in wal
        cur.execute("SELECT count(*) FROM pg_settings WHERE name = 'legacy.passphrase'")
        assert cur.fetchone()[0] == 0   # not in other sessions


def test_example_script_runs(server, key):
    table = "users_" + secrets.token_hex(4)
    env = dict(os.environ, ENCRYPTED_COLUMN_KEY=key, LEGACY_PASSPHRASE="old secret",
               PYTHONDONTWRITEBYTECODE="1")
    try:
        out = subprocess.run(
            [sys.executable, os.path.join(PYTHON_DIR, "examples", "migrate_flask_user.py"),
             "--demo", "--table", table],
            env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == [
            "alice <alice@example.com>", "bob <bob@example.org>",
            "chlo\u00e9 <chlo\u00e9@exemple.fr>",
            "login bob@example.org: bob"]
    finally:
        engine = sa.create_engine("postgresql+psycopg2://")
        with engine.begin() as conn:
            conn.execute(sa.text('DROP TABLE IF EXISTS "%s"' % table))
        engine.dispose()
