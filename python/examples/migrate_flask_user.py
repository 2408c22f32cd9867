#!/usr/bin/env python3
"""Move a Flask-style ``User.email`` from sqlalchemy-utils to encrypted_text_det.

Before, the application encrypted the column itself, and looked users up
by the (deterministic) ciphertext through a unique index::

    email = db.Column(EncryptedType(db.Unicode, OLD_PASSPHRASE, AesEngine, "pkcs5"),
                      unique=True, index=True)

After, the server does, the model reads plaintext just the same, and
``User.query.filter_by(email=...)`` is still an index lookup::

    email = db.Column(EncryptedTextDet(), unique=True, index=True)

The migration is one statement that runs inside the server, so no
plaintext leaves it and none is written to disk; the unique index is
rebuilt on the new values.  Its reader comes from the extension
encrypted_column_migrate (CREATE EXTENSION it first, and DROP EXTENSION it
once every column has moved)::

    ALTER TABLE users ALTER COLUMN email TYPE encrypted_text_det
        USING encrypt_det(decrypt_sqlalchemy_aes(
            email, current_setting('legacy.passphrase'), 'pkcs5'));

With Alembic, ``encrypted_column.alembic.alter_to_encrypted(op, "users",
"email")`` emits that statement.  A column that is never searched can move
to the randomized ``encrypted_text`` instead (``deterministic=False``),
after dropping its indexes.

The old passphrase and the new key reach the server as connection options
(the startup packet), which no statement log, pg_stat_activity or
pg_stat_statements shows.

Run it against the database libpq's environment names (PGHOST, PGPORT,
PGUSER, PGDATABASE), with the secrets in the environment:

    ENCRYPTED_COLUMN_KEY=$(openssl rand -hex 32) \\
    LEGACY_PASSPHRASE='old passphrase' \\
    python3 migrate_flask_user.py --demo

``--demo`` first creates the ``users`` table the old way and fills it
through the old model; without it the script migrates an existing table.
"""

import argparse
import os
import sys
import warnings

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.pool import NullPool

try:
    from encrypted_column.sqlalchemy import EncryptedText, EncryptedTextDet, connect_args
except ImportError:     # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from encrypted_column.sqlalchemy import EncryptedText, EncryptedTextDet, connect_args

# EncryptedType warns that its storage will change from bytea to varchar.
warnings.filterwarnings("ignore", category=DeprecationWarning,
                        module="sqlalchemy_utils")

URL = "postgresql+psycopg2://"     # libpq reads PGHOST, PGDATABASE, ...


def legacy_model(table, passphrase, unique=True):
    """The application's model before the migration (sqlalchemy-utils).

    ``unique`` gives the email a unique index, as the seed application has.
    """
    from sqlalchemy_utils import EncryptedType
    from sqlalchemy_utils.types.encrypted.encrypted_type import AesEngine

    Base = declarative_base()

    class User(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True)
        username = sa.Column(sa.String(80), unique=True, nullable=False)
        email = sa.Column(EncryptedType(sa.Unicode, passphrase, AesEngine, "pkcs5"),
                          unique=unique, index=unique)

    return Base, User


def new_model(table, deterministic=True):
    """The same model after the migration: only the column type changed."""
    Base = declarative_base()

    class User(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True)
        username = sa.Column(sa.String(80), unique=True, nullable=False)
        if deterministic:
            email = sa.Column(EncryptedTextDet(), unique=True, index=True)
        else:
            email = sa.Column(EncryptedText)

    return Base, User


def create_legacy_table(table, passphrase, users, unique=True):
    """Create the table the old way and insert users through the old model."""
    Base, User = legacy_model(table, passphrase, unique)
    engine = sa.create_engine(URL, poolclass=NullPool, future=True)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(User(username=name, email=email) for name, email in users)
        session.commit()
    engine.dispose()


def migration_statement(table, column="email", padding="pkcs5", deterministic=True):
    """The one ALTER TABLE; it names the passphrase's setting, not its value."""
    prep = postgresql.dialect().identifier_preparer
    return sa.text(
        "ALTER TABLE {t} ALTER COLUMN {c} TYPE {type} "
        "USING {enc}(decrypt_sqlalchemy_aes({c}, "
        "current_setting('legacy.passphrase'), '{p}'))".format(
            t=prep.quote(table), c=prep.quote(column), p=padding,
            type="encrypted_text_det" if deterministic else "encrypted_text",
            enc="encrypt_det" if deterministic else "encrypt"))


def migrate(table, key, passphrase, column="email", deterministic=True):
    """Run the migration on a connection of its own that holds both secrets.

    The passphrase lives only in this connection's session, which closes
    when the migration commits.
    """
    engine = sa.create_engine(
        URL, poolclass=NullPool, future=True,
        connect_args=connect_args(key, settings={"legacy.passphrase": passphrase}))
    with engine.begin() as conn:
        conn.execute(migration_statement(table, column, deterministic=deterministic))
    engine.dispose()


def application_engine(key):
    """The application's engine afterwards: the key is in every connection."""
    return sa.create_engine(URL, future=True, connect_args=connect_args(key))


def find_user(engine, table, email):
    """Login: one user by email, an index lookup through the unique index."""
    _, User = new_model(table)
    with Session(engine) as session:
        user = session.query(User).filter_by(email=email).one_or_none()
        return None if user is None else user.username


def read_users(engine, table, deterministic=True):
    """What the migrated application sees: plaintext attributes."""
    _, User = new_model(table, deterministic)
    with Session(engine) as session:
        return [(u.username, u.email)
                for u in session.execute(sa.select(User).order_by(User.id)).scalars()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default="users")
    parser.add_argument("--demo", action="store_true",
                        help="create and fill the table the old way first")
    args = parser.parse_args()
    key = os.environ["ENCRYPTED_COLUMN_KEY"]
    passphrase = os.environ["LEGACY_PASSPHRASE"]

    if args.demo:
        create_legacy_table(args.table, passphrase, [
            ("alice", "alice@example.com"),
            ("bob", "bob@example.org"),
            ("chloé", "chloé@exemple.fr"),
        ])
    migrate(args.table, key, passphrase)
    engine = application_engine(key)
    for username, email in read_users(engine, args.table):
        print("%s <%s>" % (username, email))
    if args.demo:
        print("login bob@example.org: %s" % find_user(engine, args.table, "bob@example.org"))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
