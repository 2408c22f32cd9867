"""Fixtures: a real server named by libpq's environment, and fresh keys.

Nothing here skips: a missing server, a missing extension or a missing
library is a failure, so a green run always means the tests ran.
"""

import os
import secrets
import sys
import time
import warnings

import psycopg2
import pytest
import sqlalchemy as sa

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
VECTOR_DIR = os.path.join(REPO, "migrate", "test")

for path in (PYTHON_DIR, VECTOR_DIR, os.path.join(PYTHON_DIR, "examples")):
    if path not in sys.path:
        sys.path.insert(0, path)

warnings.filterwarnings("ignore", category=DeprecationWarning,
                        module="sqlalchemy_utils")

from encrypted_column.sqlalchemy import key_options  # noqa: E402

# the SQLAlchemy tests' driver: psycopg2, or another libpq driver named
# by EC_TEST_SQLALCHEMY_URL (postgresql+psycopg:// with SQLAlchemy 2.0)
URL = os.environ.get("EC_TEST_SQLALCHEMY_URL", "postgresql+psycopg2://")
LEGACY_FUNCTIONS = {
    "decrypt_sqlalchemy_aes", "decrypt_sqlalchemy_aesgcm",
    "decrypt_sqlalchemy_fernet", "decrypt_fernet",
}


def connect(options=None):
    """A psycopg2 connection to the server libpq's environment names."""
    kwargs = {"options": options} if options else {}
    try:
        return psycopg2.connect("", **kwargs)
    except psycopg2.OperationalError as exc:
        pytest.fail("no PostgreSQL server to test against (set PGHOST, PGPORT, "
                    "PGUSER, PGDATABASE): %s" % exc, pytrace=False)


@pytest.fixture(scope="session")
def server():
    """Check the server once: reachable, superuser, both extensions there.

    The readers belong to encrypted_column_migrate (since 0.3.0), which
    requires encrypted_column.
    """
    conn = connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS encrypted_column")
        cur.execute("CREATE EXTENSION IF NOT EXISTS encrypted_column_migrate")
        cur.execute("SELECT extversion FROM pg_extension "
                    "WHERE extname = 'encrypted_column'")
        version = cur.fetchone()[0]
        cur.execute("SELECT DISTINCT p.proname FROM pg_proc p "
                    "JOIN pg_depend d ON d.classid = 'pg_proc'::regclass "
                    " AND d.objid = p.oid AND d.deptype = 'e' "
                    "JOIN pg_extension e ON e.oid = d.refobjid "
                    "WHERE p.proname = ANY(%s) "
                    "AND e.extname = 'encrypted_column_migrate'",
                    (sorted(LEGACY_FUNCTIONS),))
        found = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = cur.fetchone()[0]
    conn.close()
    if found != LEGACY_FUNCTIONS:
        pytest.fail("encrypted_column_migrate lacks %s"
                    % sorted(LEGACY_FUNCTIONS - found), pytrace=False)
    if not superuser:
        pytest.fail("the tests read relation files and need a superuser",
                    pytrace=False)
    return {"version": version}


@pytest.fixture
def key():
    """A fresh 256-bit master key, as 64 hex digits."""
    return secrets.token_hex(32)


@pytest.fixture
def db(server, key):
    """A psycopg2 connection with the key handed in, in autocommit mode."""
    conn = connect(key_options(key))
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def plain_db(server):
    """A psycopg2 connection without any key."""
    conn = connect()
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def table_name(db):
    """A unique table name, dropped after the test."""
    name = "t_" + secrets.token_hex(6)
    yield name
    with db.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS "%s"' % name)


@pytest.fixture
def make_engine(server):
    """create_engine() for the test server (or ``url``, another role's);
    every engine is disposed after."""
    engines = []

    def factory(url=URL, **kwargs):
        kwargs.setdefault("future", True)
        engine = sa.create_engine(url, **kwargs)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.dispose()


# ---- stored keys: the suite's server reads its key-encryption key from a
# file (test/suites/python.sh), which EC_TEST_KEK_FILE names.

def superuser():
    """A connection as the test's superuser, in autocommit mode."""
    conn = connect()
    conn.autocommit = True
    return conn


def kek_source():
    with superuser() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('encrypted_column.kek_source')")
        value = cur.fetchone()[0]
    conn.close()
    return value


def wait_for_kek_source(value, seconds=15):
    """After pg_reload_conf(): wait until new backends see ``value``."""
    for _ in range(int(seconds / 0.1)):
        if kek_source() == value:
            return
        time.sleep(0.1)
    pytest.fail("encrypted_column.kek_source did not become %r after a reload" % value,
                pytrace=False)


@pytest.fixture(scope="session")
def kek_file(server):
    """The key-encryption key file the server's kek_source names."""
    path = os.environ.get("EC_TEST_KEK_FILE")
    source = kek_source()
    if not path or source != "file:" + path:
        pytest.fail("stored keys need a server whose encrypted_column.kek_source is "
                    "file:$EC_TEST_KEK_FILE (test/suites/python.sh sets both); "
                    "kek_source is %r" % source, pytrace=False)
    return path


@pytest.fixture
def stored_key(kek_file):
    """create_key(name) as the superuser: returns (name, key id)."""
    def make(prefix="k"):
        name = "%s_%s" % (prefix, secrets.token_hex(4))
        with superuser() as conn, conn.cursor() as cur:
            cur.execute("SELECT create_key(%s)", (name,))
            key_id = cur.fetchone()[0]
        conn.close()
        return name, key_id
    return make


@pytest.fixture
def login_role(server):
    """make(prefix): a LOGIN role with a password, as (name, URL); every
    role is dropped after the test, with its key grants and privileges."""
    made = []

    def make(prefix="app"):
        name = "%s_%s" % (prefix, secrets.token_hex(4))
        password = secrets.token_hex(16)
        with superuser() as conn, conn.cursor() as cur:
            cur.execute('CREATE ROLE "%s" LOGIN PASSWORD %%s' % name, (password,))
        conn.close()
        made.append(name)
        return name, sa.engine.URL.create("postgresql+psycopg2", username=name,
                                          password=password)

    yield make
    conn = superuser()
    with conn.cursor() as cur:
        for name in made:
            cur.execute("SELECT DISTINCT name FROM stored_key_grants "
                        "WHERE grantee::text = %s", (name,))
            for (key,) in cur.fetchall():
                cur.execute("SELECT revoke_key(%s, %s)", (key, name))
            cur.execute('DROP OWNED BY "%s"' % name)
            cur.execute('DROP ROLE "%s"' % name)
    conn.close()
