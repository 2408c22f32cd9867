#!/usr/bin/env python3
"""The seed application's sign-up and login, with stored keys: no key in its configuration.

A Flask application whose ``users.email`` is ``encrypted_text_det`` with a
unique index.  Its configuration names a database and a **stored key**
(``encrypted_column.key_name``), nothing secret: the data key lives in the
database, wrapped under the key-encryption key that the server reads from
its ``encrypted_column.kek_source``, and the application's role may use it
only because a key administrator granted it::

    -- a superuser, once
    SELECT create_key('app');
    SELECT grant_key('app', 'app_role', 'all');

    EC_KEY_NAME=app DATABASE_URL=postgresql+psycopg2://app_role@db/app \\
        python3 signup_app.py

``POST /users`` with ``{"username": ..., "email": ...}`` signs a user up:
``201``, or ``409`` when the email is taken (found by an index lookup on
the encrypted column; the unique index refuses a race).  ``GET
/users?email=...`` finds a user by email: ``200`` or ``404``.  When the
database refuses the key (a name that is no stored key, a key the role
was not granted, a key-encryption key that does not unwrap it) the
answer is ``503`` with the SQLSTATE, and nothing is written: a wrong
configuration cannot sign up a second account under an email that is
already there.
"""

import os
import sys

import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy.orm import Session, declarative_base

try:
    from encrypted_column.sqlalchemy import EncryptedTextDet, connect_args
except ImportError:     # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from encrypted_column.sqlalchemy import EncryptedTextDet, connect_args

UNIQUE_VIOLATION = "23505"


def model(table="users"):
    """The seed application's users, with the email encrypted on the server."""
    Base = declarative_base()

    class User(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True)
        username = sa.Column(sa.String(80), unique=True, nullable=False)
        email = sa.Column(EncryptedTextDet(), unique=True, index=True, nullable=False)

    return Base, User


def create_app(database_url, key_name, table="users"):
    """The application: a database URL and a stored key's name, no secret.

    Every pooled connection starts with ``encrypted_column.key_name`` set
    (a connection option, so ``RESET ALL`` keeps it).
    """
    _, User = model(table)
    engine = sa.create_engine(database_url, future=True,
                              connect_args=connect_args(key_name=key_name))
    app = Flask(__name__)
    app.config["ENGINE"] = engine

    def refused(exc):
        code = getattr(exc.orig, "pgcode", None)
        app.logger.warning("the database refused the request (SQLSTATE %s)", code)
        return jsonify(error="the database refused the request", sqlstate=code), 503

    @app.post("/users")
    def sign_up():
        data = request.get_json(force=True)
        username, email = data.get("username"), data.get("email")
        if not isinstance(username, str) or not isinstance(email, str) or not email:
            return jsonify(error="username and email are required"), 400
        try:
            with Session(engine) as session:
                if session.query(User.id).filter_by(email=email).first() is not None:
                    return jsonify(error="email already registered"), 409
                user = User(username=username, email=email)
                session.add(user)
                session.commit()
                return jsonify(id=user.id, username=username), 201
        except sa.exc.IntegrityError as exc:
            if getattr(exc.orig, "pgcode", None) == UNIQUE_VIOLATION:
                return jsonify(error="email or username already registered"), 409
            return refused(exc)
        except sa.exc.DBAPIError as exc:
            return refused(exc)

    @app.get("/users")
    def find_by_email():
        email = request.args.get("email", "")
        try:
            with Session(engine) as session:
                user = session.query(User).filter_by(email=email).one_or_none()
                if user is None:
                    return jsonify(error="no such user"), 404
                return jsonify(id=user.id, username=user.username, email=user.email), 200
        except sa.exc.DBAPIError as exc:
            return refused(exc)

    return app


def main():
    app = create_app(os.environ.get("DATABASE_URL", "postgresql+psycopg2://"),
                     os.environ["EC_KEY_NAME"])
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
