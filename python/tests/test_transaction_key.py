"""use_transaction_key: the key handed in per transaction, for poolers.

Runs against the server libpq's environment names.  The PgBouncer suite
runs this file again through PgBouncer in transaction mode with a pool of
one server connection (EC_PYTEST_POOLED=1): then every engine below
shares that one connection, and the same assertions show that no key
passes from one client to another.
"""

import logging
import os
import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, declarative_base

from conftest import connect
from encrypted_column.sqlalchemy import (
    EncryptedText,
    _set_config_statement,
    use_transaction_key,
)

POOLED = os.environ.get("EC_PYTEST_POOLED") == "1"
# A session without a key: "no key is set" (55000); on a server with stored
# keys (a kek_source, as test/suites/python.sh gives), decrypt() looks the
# value's key id up in the key table and says it has no such key (42704).
NO_KEY = "42704" if os.environ.get("EC_TEST_KEK_FILE") else "55000"


@pytest.fixture(scope="module")
def server():
    """Only the extension is needed here (not the migration readers)."""
    conn = connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS encrypted_column")
    conn.close()
    return {}


@pytest.fixture
def table(plain_db):
    """A fresh table with an encrypted_text column; dropped afterwards."""
    name = "tk_" + secrets.token_hex(6)
    with plain_db.cursor() as cur:
        cur.execute('CREATE TABLE "%s" (id serial PRIMARY KEY, owner text, '
                    "email encrypted_text)" % name)
    yield name
    with plain_db.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS "%s"' % name)


def model(table):
    Base = declarative_base()

    class User(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True)
        owner = sa.Column(sa.Text)
        email = sa.Column(EncryptedText)

    return User


def engine_with(make_engine, key=None, previous_keys=(), **kwargs):
    """An engine with one pooled connection, keyed per transaction."""
    engine = make_engine(pool_size=1, max_overflow=0, **kwargs)
    if key is not None:
        use_transaction_key(engine, key, previous_keys)
    return engine


def raw_key_id(engine):
    """current_key_id() on the engine's pooled connection, outside SQLAlchemy."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT current_key_id(), pg_backend_pid()")
        row = cur.fetchone()
        raw.rollback()
        return row
    finally:
        raw.close()


def sqlstate_of(engine, sql, params=None):
    with pytest.raises(sa.exc.DBAPIError) as info:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})
    return info.value.orig.pgcode


@pytest.mark.parametrize("style,sql,params", [
    ("pyformat", "SELECT set_config('a.b', %s, true)", ("v",)),
    ("format", "SELECT set_config('a.b', %s, true)", ("v",)),
    ("qmark", "SELECT set_config('a.b', ?, true)", ("v",)),
    ("numeric", "SELECT set_config('a.b', :1, true)", ("v",)),
    ("numeric_dollar", "SELECT set_config('a.b', $1, true)", ("v",)),
    ("named", "SELECT set_config('a.b', :p1, true)", {"p1": "v"}),
])
def test_statement_for_each_paramstyle(style, sql, params):
    assert _set_config_statement(style, [("a.b", "v")]) == (sql, params)


def test_two_settings_in_one_statement():
    sql, params = _set_config_statement("pyformat", [("a.b", "1"), ("c.d", "2")])
    assert sql == "SELECT set_config('a.b', %s, true), set_config('c.d', %s, true)"
    assert params == ("1", "2")


def test_orm_round_trip_and_no_key_after_commit(make_engine, key, table):
    User = model(table)
    engine = engine_with(make_engine, key)
    with Session(engine) as session:
        session.add_all([User(owner="a", email="alice@example.com"), User(owner="a")])
        session.commit()
    with Session(engine) as session:
        emails = session.execute(sa.select(User.email).order_by(User.id)).scalars().all()
        assert emails == ["alice@example.com", None]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_key_id()")).scalar() is not None
        conn.commit()
    # the key ended with the transaction: the pooled connection holds none
    assert raw_key_id(engine)[0] is None


def test_clients_with_different_keys_stay_apart(make_engine, table):
    key_a, key_b = secrets.token_hex(32), secrets.token_hex(32)
    User = model(table)
    a = engine_with(make_engine, key_a)
    b = engine_with(make_engine, key_b)
    nokey = engine_with(make_engine)
    for engine, owner in ((a, "a"), (b, "b")):
        with Session(engine) as session:
            session.add(User(owner=owner, email="secret-" + owner))
            session.commit()
    pids = set()
    for i in range(10):
        engine, own, other = (a, "a", "b") if i % 2 == 0 else (b, "b", "a")
        with Session(engine) as session:
            got = session.execute(sa.select(User.email).where(User.owner == own)).scalar()
            assert got == "secret-" + own
            pids.add(session.execute(sa.text("SELECT pg_backend_pid()")).scalar())
        # the other client's row names a key this transaction does not hold
        assert sqlstate_of(engine, 'SELECT decrypt(email) FROM "%s" WHERE owner = :o'
                           % table, {"o": other}) == "42704"
        key_id, pid = raw_key_id(nokey)
        pids.add(pid)
        assert key_id is None
        assert sqlstate_of(nokey, 'SELECT decrypt(email) FROM "%s"' % table) == NO_KEY
    # a keyless client's RESET and DISCARD ALL do not touch the others
    with nokey.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("RESET ALL"))
        conn.execute(sa.text("DISCARD ALL"))
    with Session(a) as session:
        assert session.execute(sa.select(User.email).where(User.owner == "a")).scalar() \
            == "secret-a"
    if POOLED:
        assert len(pids) == 1, "the pooler should hand out one server connection"
    else:
        assert len(pids) == 3


def test_key_is_a_bind_parameter_and_stays_out_of_sqlalchemy_logs(
        make_engine, key, table, caplog):
    engine = engine_with(make_engine, key, echo=True)
    seen = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        with engine.begin() as conn:
            conn.execute(sa.text('INSERT INTO "%s" (owner, email) VALUES (:o, :e)' % table),
                         {"o": "a", "e": "x"})
    assert seen, "the application's own statement passes the execute events"
    assert key not in repr(seen)
    assert key not in caplog.text
    assert "INSERT INTO" in caplog.text


def test_callable_key_and_previous_keys(make_engine, table):
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    User = model(table)
    current = {"key": old}
    engine = engine_with(make_engine, lambda: current["key"],
                         previous_keys=lambda: [old] if current["key"] != old else [])
    with Session(engine) as session:
        session.add(User(owner="a", email="under-old"))
        session.commit()
    current["key"] = new
    with Session(engine) as session:
        assert session.execute(sa.select(User.email)).scalar() == "under-old"
        session.execute(sa.text('UPDATE "%s" SET email = reencrypt(email)' % table))
        session.commit()
    only_new = engine_with(make_engine, new)
    with Session(only_new) as session:
        assert session.execute(sa.select(User.email)).scalar() == "under-old"


def test_autocommit_connections_get_no_key(make_engine, key, table):
    engine = engine_with(make_engine, key)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(sa.text('INSERT INTO "%s" (email) VALUES (:e)' % table),
                         {"e": "x"})
        assert info.value.orig.pgcode == "55000"


def test_malformed_key_is_refused_without_echo(make_engine):
    bad = "zz" + secrets.token_hex(31)
    engine = engine_with(make_engine, bad)
    with pytest.raises(ValueError) as info:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
    assert bad not in str(info.value)
