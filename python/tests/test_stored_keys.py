"""Stored keys from SQLAlchemy: a key name per session or per transaction.

The suite's server reads its key-encryption key from a file
(test/suites/python.sh); the keys are made here by create_key() as the
superuser and used by LOGIN roles that were granted them, or not.  The
application holds no secret: only key names, which are checked in
Python before any statement is sent.
"""

import contextvars
import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, declarative_base

from conftest import superuser
from encrypted_column.sqlalchemy import (
    EncryptedText,
    EncryptedTextDet,
    connect_args,
    key_name_options,
    use_transaction_key_name,
)

tenant = contextvars.ContextVar("tenant")


def model(table):
    Base = declarative_base()

    class Note(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True)
        owner = sa.Column(sa.Text, nullable=False)
        body = sa.Column(EncryptedText)
        email = sa.Column(EncryptedTextDet(), unique=True)

    return Base, Note


@pytest.fixture
def notes(server, table_name):
    """(Note, grant(role)) for a fresh table made by the superuser."""
    Base, Note = model(table_name)
    engine = sa.create_engine("postgresql+psycopg2://", future=True)
    Base.metadata.create_all(engine)

    def grant(role):
        with engine.begin() as conn:
            conn.execute(sa.text('GRANT SELECT, INSERT ON "%s" TO "%s"' % (table_name, role)))
            conn.execute(sa.text('GRANT USAGE ON SEQUENCE "%s_id_seq" TO "%s"'
                                 % (table_name, role)))

    yield Note, grant
    Base.metadata.drop_all(engine)
    engine.dispose()


def rows(Note):
    """(owner, key id of body, key id of email) of every row, read as the
    superuser without any key: key_id() reads the envelope only."""
    conn = superuser()
    with conn.cursor() as cur:
        cur.execute('SELECT owner, key_id(body), key_id(email) FROM "%s" ORDER BY id'
                    % Note.__tablename__)
        found = cur.fetchall()
    conn.close()
    return found


def sqlstate(exc_info):
    return exc_info.value.orig.pgcode


def test_two_tenants_one_key_each_per_transaction(make_engine, stored_key, login_role, notes):
    Note, grant = notes
    keys = {"a": stored_key("tenant_a"), "b": stored_key("tenant_b")}
    role, url = login_role()
    grant(role)
    with superuser() as conn, conn.cursor() as cur:
        for name, _ in keys.values():
            cur.execute("SELECT grant_key(%s, %s, 'all')", (name, role))
    conn.close()

    # one pooled connection serves both tenants, one transaction each
    engine = make_engine(url=url, pool_size=1, max_overflow=0)
    use_transaction_key_name(engine, lambda: keys[tenant.get()][0])
    for who in ("a", "b", "a"):
        token = tenant.set(who)
        try:
            with Session(engine) as session:
                session.add(Note(owner=who, body="note of " + who,
                                 email="%s-%s@example.com" % (who, secrets.token_hex(3))))
                session.commit()
        finally:
            tenant.reset(token)
    assert [(o, b, e) for o, b, e in rows(Note)] == [
        ("a", keys["a"][1], keys["a"][1]),
        ("b", keys["b"][1], keys["b"][1]),
        ("a", keys["a"][1], keys["a"][1])]

    # the name lasted one transaction: the pooled connection holds none
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT current_setting('encrypted_column.key_name')")
        assert cur.fetchone()[0] == ""
        raw.rollback()
    finally:
        raw.close()

    # reads decrypt both tenants' rows: the key id in each value names its key
    token = tenant.set("a")
    try:
        with Session(engine) as session:
            got = session.execute(sa.select(Note.owner, Note.body, Note.email)
                                  .order_by(Note.id)).all()
            assert [(o, b) for o, b, _ in got] == [
                ("a", "note of a"), ("b", "note of b"), ("a", "note of a")]
            emails = {o: e for o, _, e in got}
            # a lookup tries the versions of this transaction's key name only:
            # tenant a finds its own row, never tenant b's
            assert session.query(Note.owner).filter_by(email=emails["a"]).scalar() == "a"
            assert session.query(Note).filter_by(email=emails["b"]).count() == 0
    finally:
        tenant.reset(token)
    token = tenant.set("b")
    try:
        with Session(engine) as session:
            assert session.query(Note.owner).filter_by(email=emails["b"]).scalar() == "b"
    finally:
        tenant.reset(token)


def test_a_role_without_a_grant_is_refused_and_writes_nothing(
        make_engine, stored_key, login_role, notes):
    Note, grant = notes
    name, key_id = stored_key("tenant")
    writer, writer_url = login_role("writer")
    stranger, stranger_url = login_role("stranger")
    grant(writer)
    grant(stranger)
    with superuser() as conn, conn.cursor() as cur:
        cur.execute("SELECT grant_key(%s, %s, 'encrypt')", (name, writer))
    conn.close()

    refused = make_engine(url=stranger_url)
    use_transaction_key_name(refused, name)
    with pytest.raises(sa.exc.DBAPIError) as info:
        with Session(refused) as session:
            session.add(Note(owner="stranger", body="x", email="x@example.com"))
            session.commit()
    assert sqlstate(info) == "42501"
    assert name in str(info.value.orig)
    assert rows(Note) == []

    # an encrypt-only grant writes values that its role cannot read back
    writer_engine = make_engine(url=writer_url)
    use_transaction_key_name(writer_engine, name)
    with Session(writer_engine) as session:
        session.add(Note(owner="writer", body="write only", email="w@example.com"))
        session.commit()
    assert rows(Note) == [("writer", key_id, key_id)]
    with pytest.raises(sa.exc.DBAPIError) as info:
        with Session(writer_engine) as session:
            session.execute(sa.select(Note.body)).all()
    assert sqlstate(info) == "42501"
    # nor can the stranger, which may read the table but not use the key
    with pytest.raises(sa.exc.DBAPIError) as info:
        with Session(refused) as session:
            session.execute(sa.select(Note.body)).all()
    assert sqlstate(info) == "42501"


def test_key_name_as_a_connection_option(make_engine, stored_key, notes):
    Note, _ = notes
    first, first_id = stored_key("default")
    second, second_id = stored_key("other")
    engine = make_engine(connect_args=connect_args(key_name=first), pool_size=1,
                         max_overflow=0)
    with Session(engine) as session:
        session.add(Note(owner="default", body="b1", email="d1@example.com"))
        session.commit()
    # the connection's default survives RESET ALL and DISCARD ALL
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("RESET ALL"))
        conn.execute(sa.text("DISCARD ALL"))
        assert conn.execute(sa.text("SHOW encrypted_column.key_name")).scalar() == first
    # a transaction's name wins for that transaction; None keeps the default
    current = {"name": second}
    use_transaction_key_name(engine, lambda: current["name"])
    with Session(engine) as session:
        session.add(Note(owner="per transaction", body="b2", email="d2@example.com"))
        session.commit()
    current["name"] = None
    with Session(engine) as session:
        session.add(Note(owner="default again", body="b3", email="d3@example.com"))
        session.commit()
        assert session.execute(sa.select(Note.body).order_by(Note.id)).scalars().all() \
            == ["b1", "b2", "b3"]
    assert rows(Note) == [("default", first_id, first_id),
                          ("per transaction", second_id, second_id),
                          ("default again", first_id, first_id)]
    # names with spaces and non-ASCII letters pass the options string intact
    odd, odd_id = stored_key("with space é")
    spaced = make_engine(connect_args=connect_args(key_name=odd))
    with spaced.connect() as conn:
        assert conn.execute(sa.text("SELECT current_key_id()")).scalar() == odd_id
    assert key_name_options(odd) == "-c encrypted_column.key_name=" + odd.replace(" ", "\\ ")


def test_a_name_that_is_no_stored_key_writes_nothing(make_engine, kek_file, notes):
    Note, _ = notes
    engine = make_engine(connect_args=connect_args(key_name="no_such_key_" + secrets.token_hex(3)))
    with pytest.raises(sa.exc.DBAPIError) as info:
        with Session(engine) as session:
            session.add(Note(owner="nobody", body="x", email="x@example.com"))
            session.commit()
    assert sqlstate(info) == "42704"
    assert rows(Note) == []


BAD_NAMES = ["", "x" * 64, "\u00e9" * 32, "tab\there", "new\nline", "nul\x00", "del\x7f",
             "c1\x85"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_a_bad_name_is_refused_in_python(make_engine, bad):
    with pytest.raises(ValueError):
        key_name_options(bad)
    with pytest.raises(ValueError):
        connect_args(key_name=bad)
    engine = make_engine()
    with pytest.raises(ValueError):
        use_transaction_key_name(engine, bad)
    with pytest.raises(TypeError):
        key_name_options(b"bytes")
    with pytest.raises(TypeError):
        connect_args()


def test_a_bad_name_from_a_callable_sends_no_statement(make_engine, kek_file, notes):
    """The name is checked at BEGIN, before the listener's statement: the
    pooled connection's last statement is still the one before."""
    Note, _ = notes
    engine = make_engine(pool_size=1, max_overflow=0)
    names = iter(["ok_name", "bad\nname"])
    use_transaction_key_name(engine, lambda: next(names))
    with engine.connect() as conn:
        marker = "marker-" + secrets.token_hex(4)
        pid = conn.execute(sa.text("SELECT pg_backend_pid() /* %s */" % marker)).scalar()
        conn.commit()
    with pytest.raises(ValueError):
        with Session(engine) as session:
            session.add(Note(owner="x", body="x", email="x@example.com"))
            session.commit()
    watcher = superuser()
    with watcher.cursor() as cur:
        cur.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,))
        last = cur.fetchone()[0]
    watcher.close()
    assert "set_config" not in last and "INSERT" not in last, last
    assert rows(Note) == []


def test_a_missing_name_never_falls_back_to_the_last_key(make_engine, stored_key, notes):
    """A backend that used key a, then is told a name that is no stored key,
    refuses every write under that name, the second time as the first:
    it never encrypts with the key it used before."""
    Note, _ = notes
    name, key_id = stored_key("used_before")
    missing = "missing_" + secrets.token_hex(3)
    current = {"name": name}
    engine = make_engine(pool_size=1, max_overflow=0)
    use_transaction_key_name(engine, lambda: current["name"])
    with Session(engine) as session:
        session.add(Note(owner="first", body="b", email="first@example.com"))
        session.commit()
    current["name"] = missing
    for attempt in range(3):
        with pytest.raises(sa.exc.DBAPIError) as info:
            with Session(engine) as session:
                if attempt == 2:
                    # a lookup first, then the write
                    session.query(Note).filter_by(email="first@example.com").count()
                session.add(Note(owner="attempt %d" % attempt, body="b",
                                 email="a%d@example.com" % attempt))
                session.commit()
        assert sqlstate(info) == "42704", info.value.orig
        assert missing in str(info.value.orig)
    assert rows(Note) == [("first", key_id, key_id)]
