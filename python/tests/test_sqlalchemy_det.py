"""EncryptedTextDet: lookups, UNIQUE, grouping and rotation, on a real server."""

import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.schema import CreateIndex, CreateTable

import docs
from encrypted_column.sqlalchemy import EncryptedTextDet, connect_args

ROWS = 3000

# the rotation procedure of docs/migration.md, without its final count
ROTATION_DO = docs.block("rotation").split("END $$;\n")[0] + "END $$"


def user_model(table, context=None):
    Base = declarative_base()

    class User(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True)
        email = sa.Column(EncryptedTextDet(context), unique=True, index=True)
        country = sa.Column(sa.String(2))

    return Base, User


def email(i):
    return "user%05d@example.com" % i


def fill(engine, User, rows=ROWS):
    """Rows 0..rows-1 through Core executemany, then ANALYZE."""
    with engine.begin() as conn:
        conn.execute(sa.insert(User.__table__),
                     [{"email": email(i), "country": "c%d" % (i % 3)}
                      for i in range(rows)])
        conn.execute(sa.text('ANALYZE "%s"' % User.__tablename__))


def plan(conn, stmt):
    """EXPLAIN of a statement as SQLAlchemy sends it, one string."""
    compiled = stmt.compile(dialect=conn.dialect)
    rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
    return "\n".join(r[0] for r in rows)


def test_ddl_and_sql():
    _, User = user_model("users")
    d = postgresql.dialect()
    ddl = str(CreateTable(User.__table__).compile(dialect=d))
    assert "email encrypted_text_det" in ddl
    index = next(iter(User.__table__.indexes))
    assert str(CreateIndex(index).compile(dialect=d)) == \
        "CREATE UNIQUE INDEX ix_users_email ON users (email)"
    assert str((User.email == "a").compile(dialect=d)) == \
        "users.email = ANY (encrypt_det_all(CAST(%(param_1)s AS TEXT)))"
    assert "decrypt(users.email) AS email" in str(sa.select(User).compile(dialect=d))
    with pytest.raises(ValueError):
        EncryptedTextDet("")
    with pytest.raises(TypeError):
        User.email == 42
    with pytest.raises(TypeError):
        User.email.in_(["a", b"b"])


def test_filter_by_uses_the_index(make_engine, key, table_name):
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    fill(engine, User)
    with Session(engine) as session:
        user = session.execute(sa.select(User).filter_by(
            email=email(1234))).scalar_one()
        assert (user.id, user.email) == (1235, email(1234))
        assert session.query(User).filter_by(email="nobody@example.com").first() is None
        # the legacy Query API builds the same criterion
        assert session.query(User).filter_by(email=email(7)).one().id == 8
        got = session.execute(sa.select(User.email).where(
            User.email.in_([email(3), email(5), "nobody@example.com"]))
            .order_by(User.id)).scalars().all()
        assert got == [email(3), email(5)]
        assert session.execute(sa.select(sa.func.count()).where(
            User.email != email(3))).scalar() == ROWS - 1
        assert session.execute(sa.select(sa.func.count()).where(
            User.email.not_in([email(3), email(4)]))).scalar() == ROWS - 2
        # other operators compare the decrypted text
        assert session.execute(sa.select(sa.func.count()).where(
            User.email.like("user0000%"))).scalar() == 10
    with engine.connect() as conn:
        for stmt in (sa.select(User).filter_by(email=email(1234)),
                     sa.select(User).where(User.email.in_([email(1), email(2)]))):
            text = plan(conn, stmt)
            assert "Index Scan" in text or "Bitmap Index Scan" in text, text
            assert "Seq Scan" not in text, text


def test_unique_refuses_a_duplicate(make_engine, key, table_name):
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(User(email="dup@example.com"))
        session.commit()
        session.add(User(email="dup@example.com"))
        with pytest.raises(sa.exc.IntegrityError) as info:
            session.commit()
        assert info.value.orig.pgcode == "23505"
        # the error names the key as ciphertext, never the plaintext
        assert "dup@example.com" not in str(info.value.orig)


def test_group_by_and_distinct(make_engine, key, table_name):
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    fill(engine, User, 300)
    other = "t_" + secrets.token_hex(6)
    visits = sa.Table(other, sa.MetaData(),
                      sa.Column("id", sa.Integer, primary_key=True),
                      sa.Column("email", EncryptedTextDet()))
    visits.create(engine)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(visits), [{"email": email(i % 7)} for i in range(70)])
            # GROUP BY the stored bytes; the select list decrypts each group
            rows = conn.execute(sa.select(visits.c.email, sa.func.count())
                                .group_by(visits.c.email)
                                .order_by(visits.c.email.plaintext)).all()
            assert rows == [(email(i), 10) for i in range(7)]
            assert conn.execute(sa.select(sa.func.count(sa.distinct(visits.c.email)))
                                ).scalar() == 7
            assert sorted(conn.execute(sa.select(visits.c.email).distinct())
                          .scalars().all()) == [email(i) for i in range(7)]
            # a join on two deterministic columns compares the stored bytes
            joined = conn.execute(
                sa.select(sa.func.count())
                .select_from(visits.join(User.__table__,
                                         visits.c.email == User.__table__.c.email))
            ).scalar()
            assert joined == 70
            # grouped by the stored bytes: decrypt() runs once per group
            grouped = plan(conn, sa.select(visits.c.email, sa.func.count())
                           .group_by(visits.c.email))
            keys = [line for line in grouped.split("\n") if "Group Key" in line]
            assert keys and "decrypt" not in keys[0], grouped
    finally:
        visits.drop(engine)


def test_rotation_lookup_finds_old_key_rows(make_engine, key, table_name):
    """During a rotation a lookup by value finds rows under either key."""
    Base, User = user_model(table_name)
    old_engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(old_engine)
    fill(old_engine, User)
    new_key = secrets.token_hex(32)
    engine = make_engine(connect_args=connect_args(new_key, previous_keys=[key]))
    with Session(engine) as session:
        session.add(User(email="after@example.com"))
        session.commit()
        ids = dict(session.execute(sa.text(
            'SELECT decrypt(email), key_id(email) FROM "%s" WHERE id IN (1, %d)'
            % (table_name, ROWS + 1))).all())
        assert ids[email(0)] != ids["after@example.com"]
        # an old-key row and a new-key row, both by filter_by
        assert session.query(User).filter_by(email=email(42)).one().id == 43
        assert session.query(User).filter_by(email="after@example.com").one().id == ROWS + 1
        assert session.execute(sa.select(sa.func.count()).where(User.email.in_(
            [email(1), "after@example.com"]))).scalar() == 2
    with engine.connect() as conn:
        text = plan(conn, sa.select(User).filter_by(email=email(42)))
        assert "Index Scan" in text and "Seq Scan" not in text, text
        # the bare ciphertext comparison would miss the old row: the type
        # must not send that form
        assert conn.execute(sa.text(
            'SELECT count(*) FROM "%s" WHERE email = encrypt_det(:v)' % table_name),
            {"v": email(42)}).scalar() == 0
    # the window UNIQUE cannot close: the same plaintext under the new key
    # is other bytes, so the index takes it; the application checks first
    with Session(engine) as session:
        assert session.query(User).filter_by(email=email(42)).count() == 1
        session.add(User(email=email(42)))
        session.commit()
        assert session.query(User).filter_by(email=email(42)).count() == 2
    # the batched rotation moves every row; then UNIQUE refuses the pair
    with engine.begin() as conn:
        with pytest.raises(sa.exc.IntegrityError):
            with conn.begin_nested():
                conn.execute(sa.text('UPDATE "%s" SET email = reencrypt(email) '
                                     'WHERE key_id(email) <> current_key_id()'
                                     % table_name))
        conn.execute(sa.text('DELETE FROM "%s" WHERE id = :id' % table_name),
                     {"id": ROWS + 2})
    # the documented batched procedure, as it is written there
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        cursor = conn.connection.cursor()   # no parameters: '%' stays as written
        cursor.execute(ROTATION_DO.replace("users", '"%s"' % table_name))
        cursor.close()
        assert conn.execute(sa.text(
            'SELECT count(DISTINCT key_id(email)) FROM "%s"' % table_name)).scalar() == 1
    only_new = make_engine(connect_args=connect_args(new_key))
    with Session(only_new) as session:
        assert session.query(User).filter_by(email=email(42)).one().id == 43


def test_context_separates_columns(make_engine, key, table_name):
    Base, User = user_model(table_name, context="users.email")
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    fill(engine, User)
    with Session(engine) as session:
        assert session.query(User).filter_by(email=email(99)).one().id == 100
        assert [u.email for u in session.query(User).filter(
            User.email.in_([email(5), email(6)])).order_by(User.id)] == [email(5), email(6)]
        # bound to the context: not equal to the value without one
        assert session.execute(sa.text(
            'SELECT count(*) FROM "%s" WHERE email = encrypt_det(:v) '
            'OR email = encrypt_det(:v, \'other\')' % table_name),
            {"v": email(99)}).scalar() == 0
        assert session.execute(sa.text(
            'SELECT decrypt(email, \'users.email\') FROM "%s" WHERE id = 100'
            % table_name)).scalar() == email(99)
        user = session.get(User, 100)
        user.email = "changed@example.com"
        session.commit()
        assert session.query(User).filter_by(email="changed@example.com").one().id == 100
    with engine.connect() as conn:
        text = plan(conn, sa.select(User).filter_by(email=email(99)))
        assert "Index Scan" in text and "Seq Scan" not in text, text


def test_non_str_value_is_refused(make_engine, key, table_name):
    Base, User = user_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(User(email=b"bytes"))
        with pytest.raises(sa.exc.StatementError) as info:
            session.commit()
    assert isinstance(info.value.orig, TypeError)
