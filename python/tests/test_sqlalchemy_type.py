"""EncryptedText and the key hand-in, with SQLAlchemy and psycopg2."""

import logging
import secrets

import psycopg2
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.schema import CreateTable

from encrypted_column.sqlalchemy import (
    EncryptedText,
    EncryptedTextDet,
    connect_args,
    key_options,
    libpq_options,
    use_key,
)

try:                                    # SQLAlchemy 2.0
    from sqlalchemy.sql.cache_key import NO_CACHE
except ImportError:                     # SQLAlchemy 1.4
    from sqlalchemy.sql.traversals import NO_CACHE

VALUES = ["alice@example.com", "", "chlo\u00e9@exemple.fr \U0001f338",
          "x" * 5000, None]


def user_model(table):
    Base = declarative_base()

    class User(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True)
        email = sa.Column(EncryptedText)

    return Base, User


def test_ddl_emits_encrypted_text():
    _, User = user_model("users")
    ddl = str(CreateTable(User.__table__).compile(dialect=postgresql.dialect()))
    assert "email encrypted_text" in ddl


def test_select_reads_through_decrypt():
    _, User = user_model("users")
    sql = str(sa.select(User).compile(dialect=postgresql.dialect()))
    assert "decrypt(users.email) AS email" in sql


def test_comparisons_use_plaintext_but_null_tests_do_not():
    _, User = user_model("users")
    d = postgresql.dialect()
    assert str((User.email == "a").compile(dialect=d)) == \
        "decrypt(users.email) = %(decrypt_1)s"
    assert str(User.email.in_(["a", "b"]).compile(dialect=d)).startswith(
        "decrypt(users.email) IN")
    assert str(User.email.is_(None).compile(dialect=d)) == "users.email IS NULL"
    assert str(User.email.plaintext.compile(dialect=d)) == "decrypt(users.email)"


@pytest.mark.parametrize("cls, type_name", [
    (EncryptedText, "encrypted_text"),
    (EncryptedTextDet, "encrypted_text_det"),
])
def test_both_types_take_str_and_render_literals(cls, type_name):
    d = postgresql.dialect()
    col = cls()
    assert col.python_type is str
    assert col.compile(dialect=d) == type_name
    # a type without cache_ok is left out of the statement cache, with a
    # warning; NO_CACHE lives in sql.traversals (1.4) or sql.cache_key (2.0)
    assert col._static_cache_key != NO_CACHE
    process = col.bind_processor(d)
    assert process("a") == "a" and process(None) is None
    with pytest.raises(TypeError, match=r"^%s takes str values, not int$"
                       % cls.__name__):
        process(42)
    assert col.literal_processor(d)("it's") == "'it''s'"


def test_orm_round_trip(make_engine, key, table_name):
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(User(email=v) for v in VALUES)
        session.commit()
    with Session(engine) as session:
        users = session.execute(sa.select(User).order_by(User.id)).scalars().all()
        assert [u.email for u in users] == VALUES
        # the stored value is ciphertext: only decrypt() gives plaintext
        raw = session.execute(sa.text(
            'SELECT email::text FROM "%s" WHERE email IS NOT NULL ORDER BY id'
            % table_name)).scalars().all()
        assert all(r.startswith("ecv1:") for r in raw)
        assert not any(v in r for r in raw for v in VALUES if v)
        coltype = session.execute(sa.text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = '\"%s\"'::regclass AND attname = 'email'"
            % table_name)).scalar()
        assert coltype == "encrypted_text"


def test_update_filter_and_order(make_engine, key, table_name):
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(User(email="user%02d@example.com" % i) for i in range(30))
        session.commit()
        user = session.execute(sa.select(User).filter_by(
            email="user07@example.com")).scalar_one()
        user.email = "changed@example.com"
        user_id = user.id
        session.commit()
    with Session(engine) as session:
        assert session.get(User, user_id).email == "changed@example.com"
        assert session.execute(sa.select(sa.func.count()).where(
            User.email.like("user%"))).scalar() == 29
        emails = session.execute(sa.select(User.email).order_by(
            User.email.plaintext.desc()).limit(2)).scalars().all()
        assert emails == ["user29@example.com", "user28@example.com"]
        # decrypt() cannot be evaluated in Python: SQLAlchemy 1.4 needs "fetch"
        session.execute(sa.update(User).where(User.email == "user01@example.com")
                        .values(email="core-update@example.com")
                        .execution_options(synchronize_session="fetch"))
        session.commit()
        assert session.execute(sa.select(User.id).where(
            User.email.in_(["core-update@example.com"]))).scalar() is not None


def test_bulk_insert_executemany(make_engine, key, table_name):
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    rows = [{"email": "bulk%d@example.com" % i} for i in range(250)]
    with engine.begin() as conn:
        conn.execute(sa.insert(User.__table__), rows)
    with engine.connect() as conn:
        got = conn.execute(sa.select(User.__table__.c.email)
                           .order_by(User.__table__.c.id)).scalars().all()
    assert got == [r["email"] for r in rows]


def test_non_str_value_is_refused(make_engine, key, table_name):
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(User(email=42))
        with pytest.raises(sa.exc.StatementError) as info:
            session.commit()
    assert isinstance(info.value.orig, TypeError)


def test_without_key_nothing_is_written(make_engine, key, table_name):
    Base, User = user_model(table_name)
    Base.metadata.create_all(make_engine(connect_args=connect_args(key)))
    engine = make_engine()
    with Session(engine) as session:
        session.add(User(email="nobody@example.com"))
        with pytest.raises(sa.exc.DBAPIError) as info:
            session.commit()
    assert "encrypted_column.key" in str(info.value.orig)


def test_key_is_in_no_statement_log_or_setting(make_engine, key, table_name, caplog):
    """The key travels in the startup packet, never in SQL text."""
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key), echo=True)
    sent = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append("%s %r" % (statement, parameters))

    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            session.add(User(email="logged@example.com"))
            session.commit()
            shown = session.execute(sa.text("SHOW encrypted_column.key")).scalar()
            settings = session.execute(sa.text(
                "SELECT string_agg(concat_ws(' ', name, setting, reset_val, "
                "boot_val), ' ') FROM pg_settings")).scalar()
            activity = session.execute(sa.text(
                "SELECT string_agg(query, ' ') FROM pg_stat_activity")).scalar()
    assert sent
    assert key not in " ".join(sent)
    assert key not in caplog.text
    assert key not in shown
    assert key not in settings
    assert key not in activity
    assert key not in repr(engine) and key not in str(engine.url)


@pytest.mark.parametrize("hide", [False, True])
def test_hide_parameters_keeps_plaintext_out_of_the_application_log(
        make_engine, key, table_name, caplog, hide):
    """SQLAlchemy writes parameters into its log (echo) and into the text
    of every exception; only hide_parameters=True keeps them out."""
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key), echo=True, hide_parameters=hide)
    Base.metadata.create_all(engine)
    secret = "hidden-%s@example.com" % secrets.token_hex(4)
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        with Session(engine) as session:
            session.add(User(id=1, email=secret))
            session.commit()
            session.add(User(id=1, email=secret))       # the same primary key
            with pytest.raises(sa.exc.IntegrityError) as info:
                session.commit()
    shown = caplog.text + str(info.value)
    if hide:
        assert secret not in shown
        assert "hide_parameters=True" in str(info.value)
    else:
        # the default, as the docs warn: the plaintext is in both
        assert secret in caplog.text and secret in str(info.value)


def test_use_key_reads_a_callable_per_connection(make_engine, table_name):
    """Rotation: new connections get the new key and decrypt old rows."""
    Base, User = user_model(table_name)
    keys = {"current": secrets.token_hex(32), "previous": []}
    engine = use_key(make_engine(), lambda: keys["current"],
                     lambda: keys["previous"])
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(User(email="before-rotation@example.com"))
        session.commit()
    old = keys["current"]
    keys.update(current=secrets.token_hex(32), previous=[old])
    engine.dispose()        # connections opened from now on use the new key
    with Session(engine) as session:
        session.add(User(email="after-rotation@example.com"))
        session.commit()
        assert session.execute(sa.select(User.email).order_by(User.id)) \
            .scalars().all() == ["before-rotation@example.com",
                                 "after-rotation@example.com"]
        ids = session.execute(sa.text(
            'SELECT key_id(email) FROM "%s" ORDER BY id' % table_name)).scalars().all()
        assert ids[0] != ids[1]


@pytest.mark.parametrize("value", [
    "plain", "with spaces  and\ttabs", "back\\slash\\", "quote's \"double\"",
    "-c injected=1", "\u00fcnicode \U0001f511", "trailing ",
])
def test_options_survive_the_servers_split(server, value):
    options = libpq_options({"legacy.passphrase": value})
    conn = psycopg2.connect("", options=options)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('legacy.passphrase'), "
                        "current_setting('injected', true)")
            assert cur.fetchone() == (value, None)
    finally:
        conn.close()


def test_key_checks_do_not_echo_the_key():
    bad = "zz" + secrets.token_hex(31)
    with pytest.raises(ValueError) as info:
        key_options(bad)
    assert bad not in str(info.value)
    with pytest.raises(ValueError):
        key_options(secrets.token_hex(32), previous_keys=["abc"])
    with pytest.raises(ValueError):
        libpq_options({"no_dot": "x"})
    assert connect_args("a" * 64, options="-c statement_timeout=5s") == {
        "options": "-c statement_timeout=5s -c encrypted_column.key=" + "a" * 64}
    assert key_options("a" * 64, ["b" * 64, "c" * 64]).endswith(
        "-c encrypted_column.previous_keys=" + "b" * 64 + "," + "c" * 64)
