"""What the migrated seed application does with its models, on a real server.

Ordering by an encrypted column, ORM comparisons between two
deterministic columns, ORM bulk UPDATE and DELETE, refusing a wrong but
well-formed key, and the package's version.
"""

import os
import re
import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased, declarative_base

import encrypted_column
from conftest import REPO
from encrypted_column.sqlalchemy import (
    EncryptedText,
    EncryptedTextDet,
    UnknownKeyError,
    check_key,
    connect_args,
    key_id,
    refuse_unknown_key,
    stored_key_ids,
)

SQLALCHEMY_2 = int(sa.__version__.split(".")[0]) >= 2

# plaintext order differs from any order of the stored bytes
EMAILS = ["carol@example.com", "alice@example.com", "erin@example.com",
          "bob@example.com", "dave@example.com", "frank@example.com",
          "Zed@example.com", "mallory@example.com"]


def models(table, type_):
    """A users table and an orders table whose email refers to a user's."""
    Base = declarative_base()

    class User(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True)
        email = sa.Column(type_)
        manager = sa.Column(type_)

    class Order(Base):
        __tablename__ = table + "_orders"
        id = sa.Column(sa.Integer, primary_key=True)
        email = sa.Column(type_)

    return Base, User, Order


@pytest.fixture
def tables(make_engine, key, table_name):
    """(engine, Base, User, Order) per column type; the tables are dropped after."""
    made = []

    def factory(type_):
        Base, User, Order = models(table_name, type_)
        engine = make_engine(connect_args=connect_args(key))
        Base.metadata.create_all(engine)
        made.append((engine, Base))
        return engine, User, Order

    yield factory
    for engine, Base in made:
        Base.metadata.drop_all(engine)


def fill(engine, User):
    with Session(engine) as session:
        session.add_all(User(id=i + 1, email=e, manager=EMAILS[(i + 1) % len(EMAILS)])
                        for i, e in enumerate(EMAILS))
        session.commit()


TYPES = [pytest.param(EncryptedText(), id="EncryptedText"),
         pytest.param(EncryptedTextDet(), id="EncryptedTextDet"),
         pytest.param(EncryptedTextDet("users.email"), id="EncryptedTextDet-context")]


def test_order_by_compiles_to_the_plaintext():
    _, User, _ = models("users", EncryptedTextDet())
    d = postgresql.dialect()
    for stmt in (sa.select(User).order_by(User.email),
                 sa.select(User.id).order_by(User.email, User.id),
                 sa.select(User.__table__.c.email).order_by(User.__table__.c.email)):
        sql = str(stmt.compile(dialect=d))
        order = sql[sql.index("ORDER BY"):]
        assert order.startswith("ORDER BY decrypt(users.email)"), sql
    # a grouped column is still grouped by its stored bytes
    sql = str(sa.select(User.email, sa.func.count()).group_by(User.email)
              .order_by(User.email).compile(dialect=d))
    assert "GROUP BY users.email ORDER BY decrypt(users.email)" in sql, sql
    # decrypt() with a context orders by the same call the select list has
    _, User, _ = models("users", EncryptedTextDet("users.email"))
    sql = str(sa.select(User).order_by(User.email).compile(dialect=d))
    assert re.search(r"ORDER BY decrypt\(users\.email, %\(\w+\)s\)$", sql), sql


@pytest.mark.parametrize("type_", TYPES)
def test_order_by_sorts_by_plaintext(tables, type_):
    engine, User, _ = tables(type_)
    fill(engine, User)
    want = sorted(EMAILS)
    with Session(engine) as session:
        assert session.execute(sa.select(User.email).order_by(User.email)).scalars().all() == want
        assert [u.email for u in session.execute(
            sa.select(User).order_by(User.email)).scalars()] == want
        assert [u.email for u in session.query(User).order_by(User.email)] == want
        assert [u.email for u in session.query(User).order_by(User.email.desc())] == want[::-1]
        assert session.execute(sa.select(User.email).distinct().order_by(User.email)
                               ).scalars().all() == want
        assert [u.email for u in session.execute(
            sa.select(User).order_by(User.email).limit(3)).scalars()] == want[:3]
        # the same statement again, from SQLAlchemy's statement cache
        assert session.execute(sa.select(User.email).order_by(User.email)).scalars().all() == want
        # inside a subquery too
        sub = sa.select(User.id).order_by(User.email).limit(2).scalar_subquery()
        assert set(session.execute(sa.select(User.email).where(User.id.in_(sub)))
                   .scalars()) == set(want[:2])


@pytest.mark.parametrize("type_", TYPES[1:])
def test_orm_comparison_between_two_det_columns(tables, type_):
    engine, User, Order = tables(type_)
    fill(engine, User)
    with Session(engine) as session:
        session.add_all(Order(email=e) for e in EMAILS[:3] + ["nobody@example.com"])
        session.commit()
        rows = session.execute(
            sa.select(User.email).join(Order, User.email == Order.email)
            .order_by(User.email)).scalars().all()
        assert rows == sorted(EMAILS[:3])
        assert session.query(Order).filter(Order.email != User.email,
                                           User.id == 1).count() == 3
        # an aliased self-join: who manages whom
        boss = aliased(User)
        pairs = session.execute(
            sa.select(User.email, boss.email).join(boss, User.manager == boss.email)
            .order_by(User.id)).all()
        assert pairs == [(e, EMAILS[(i + 1) % len(EMAILS)]) for i, e in enumerate(EMAILS)]
        # the stored bytes are compared, not decrypt() row by row
        sql = str(sa.select(User.id).join(boss, User.manager == boss.email)
                  .compile(dialect=engine.dialect))
        assert re.search(r"ON \w+\.manager = \w+\.email", sql), sql
    # two contexts can never match on stored bytes: refused, not an empty join
    _, Other, _ = models("others", EncryptedTextDet("others.email"))
    with pytest.raises(ValueError, match="different contexts"):
        User.email == Other.email


@pytest.mark.parametrize("type_", TYPES)
def test_a_column_equals_its_annotated_self(type_):
    """The ORM finds columns in dictionaries by ``==``: a column and its
    annotated copy (what ``User.email`` stands for) must compare equal."""
    _, User, _ = models("users", type_)
    column = User.__table__.c.email
    annotated = User.email.__clause_element__()
    assert bool(annotated == column) and bool(column == annotated)
    assert {column: 1}.get(annotated) == 1
    assert not bool(User.__table__.c.manager == column)


@pytest.mark.parametrize("type_", TYPES)
def test_orm_bulk_update_and_delete(tables, type_):
    """The documented forms for every SQLAlchemy: synchronize_session="fetch"
    or False; on 2.x the default ("auto") works too."""
    engine, User, _ = tables(type_)
    fill(engine, User)
    with Session(engine) as session:
        users = {u.id: u for u in session.query(User)}     # in the identity map
        session.execute(sa.update(User).where(User.email == "alice@example.com")
                        .values(email="alice@example.org")
                        .execution_options(synchronize_session="fetch"))
        assert users[2].email == "alice@example.org"
        session.query(User).filter(User.email.in_(["bob@example.com"])).update(
            {"email": "bob@example.org"}, synchronize_session="fetch")
        assert users[4].email == "bob@example.org"
        session.execute(sa.delete(User).where(User.email == "erin@example.com")
                        .execution_options(synchronize_session="fetch"))
        assert users[3] not in session
        session.query(User).filter(User.email == "dave@example.com").delete(
            synchronize_session=False)
        session.commit()
        assert session.execute(sa.select(User.email).order_by(User.email)
                               ).scalars().all() == sorted(
            ["carol@example.com", "alice@example.org", "bob@example.org",
             "frank@example.com", "Zed@example.com", "mallory@example.com"])

        stmt_update = (sa.update(User).where(User.email == "carol@example.com")
                       .values(email="carol@example.org"))
        stmt_delete = sa.delete(User).where(User.email == "frank@example.com")
        users = {u.id: u for u in session.query(User)}
        if SQLALCHEMY_2:
            session.execute(stmt_update)
            assert users[1].email == "carol@example.org"
            session.execute(stmt_delete)
            assert users[6] not in session
            session.commit()
            assert session.query(User).filter_by(email="carol@example.org").one().id == 1
            assert session.query(User).filter_by(email="frank@example.com").count() == 0
        else:
            # 1.4's default "evaluate" cannot run decrypt() in Python: it
            # refuses before sending anything
            for stmt in (stmt_update, stmt_delete):
                with pytest.raises(sa.exc.InvalidRequestError, match="synchronize_session"):
                    session.execute(stmt)
            session.rollback()
            assert session.query(User).filter_by(email="carol@example.com").one().id == 1
            assert session.query(User).filter_by(email="frank@example.com").one().id == 6


def test_key_id_matches_the_server(db, key):
    with db.cursor() as cur:
        cur.execute("SELECT current_key_id()")
        assert cur.fetchone()[0] == key_id(key)
    assert key_id("00" * 32) != key_id("00" * 31 + "01")
    with pytest.raises(ValueError) as info:
        key_id("ab" * 31)
    assert "ab" * 31 not in str(info.value)


@pytest.mark.parametrize("type_", TYPES)
def test_a_wrong_key_is_refused_before_it_writes(make_engine, tables, key, table_name, type_):
    engine, User, _ = tables(type_)
    # an empty column accepts any key: it starts the column
    with engine.connect() as conn:
        assert check_key(conn, User.email) == key_id(key)
    fill(engine, User)
    wrong = secrets.token_hex(32)
    wrong_engine = make_engine(connect_args=connect_args(wrong))
    with wrong_engine.connect() as conn:
        assert stored_key_ids(conn, User.email) == [key_id(key)]
    with Session(wrong_engine) as session:
        with pytest.raises(UnknownKeyError) as info:
            check_key(session, User.email)
        message = str(info.value)
        assert key_id(wrong) in message and key_id(key) in message
        assert wrong not in message and key not in message
        assert not any(e in message for e in EMAILS)
    # the engine-wide form: a connection with the wrong key never opens
    refuse_unknown_key(wrong_engine, User.email, User.__table__.c.manager)
    wrong_engine.dispose()
    with pytest.raises(UnknownKeyError):
        with Session(wrong_engine) as session:
            session.add(User(id=102, email="carol@example.com"))
            session.commit()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(User)).scalar() == len(EMAILS)
        assert stored_key_ids(conn, User.email) == [key_id(key)]
    # the right key passes, on every new connection
    good = refuse_unknown_key(make_engine(connect_args=connect_args(key)), User.email)
    with Session(good) as session:
        session.add(User(id=100, email="new@example.com"))
        session.commit()
    # a rotation starts with a new key whose id is allowed by name
    new = secrets.token_hex(32)
    rotating = make_engine(connect_args=connect_args(new, previous_keys=[key]))
    refuse_unknown_key(rotating, User.email, allow=[key_id(new)])
    with Session(rotating) as session:
        assert session.query(User).filter(User.email == "new@example.com").count() == 1
        session.add(User(id=101, email="newer@example.com"))
        session.commit()
    with rotating.connect() as conn:
        assert stored_key_ids(conn, User.email) == sorted([key_id(key), key_id(new)])
    # a connection without a key is refused as well
    nokey = make_engine()
    with nokey.connect() as conn:
        with pytest.raises(UnknownKeyError, match="no encrypted_column key"):
            check_key(conn, User.email)
    with pytest.raises(TypeError):
        refuse_unknown_key(nokey, sa.Column("x", sa.Text))


def test_key_check_quotes_the_table_name(make_engine, key):
    Base, User, _ = models("Odd:name %s", EncryptedTextDet())
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    try:
        fill(engine, User)
        with Session(engine) as session:
            assert check_key(session, User.email) == key_id(key)
            assert stored_key_ids(session, User.email) == [key_id(key)]
        wrong = make_engine(connect_args=connect_args(secrets.token_hex(32)))
        with wrong.connect() as conn:
            with pytest.raises(UnknownKeyError, match='in "Odd:name %s".email '):
                check_key(conn, User.email)
        # the same through a DBAPI cursor, on each new connection
        refuse_unknown_key(wrong, User.email)
        wrong.dispose()
        with pytest.raises(UnknownKeyError, match='in "Odd:name %s".email '):
            wrong.connect()
        good = refuse_unknown_key(make_engine(connect_args=connect_args(key)), User.email)
        with good.connect() as conn:
            assert stored_key_ids(conn, User.email) == [key_id(key)]
    finally:
        Base.metadata.drop_all(engine)


def test_package_version_is_the_extension_version():
    with open(os.path.join(REPO, "encrypted_column.control")) as f:
        control = re.search(r"default_version\s*=\s*'([^']+)'", f.read()).group(1)
    with open(os.path.join(REPO, "python", "pyproject.toml")) as f:
        project = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert encrypted_column.__version__ == project == control == "0.5.0"
