"""The seed application's migration with Flask-Migrate, as the page says.

A Flask application whose ``users.email`` is a sqlalchemy-utils
``EncryptedType`` has its table and data; ``flask db init`` and
``flask db stamp head`` start its migration history; then the model changes to ``EncryptedTextDet``, ``flask db migrate``
writes what docs/migration.md quotes, ``flask db upgrade`` fails as it
says, and after the two edits it shows (the revision's ``upgrade()`` and
``migrations/env.py``), ``flask db upgrade`` moves the column.
"""

import os
import subprocess
import sys

import pytest

import docs
from conftest import PYTHON_DIR
from encrypted_column.sqlalchemy import key_options
from test_migration_docs import (EMAILS, PASSPHRASE, connect_to, fresh_db,  # noqa: F401
                                 legacy_users)

pytest.importorskip("flask_migrate", reason="Flask-Migrate is not installed "
                    "(Debian package python3-flask-migrate)")
pytest.importorskip("flask_sqlalchemy", reason="Flask-SQLAlchemy is not installed "
                    "(Debian package python3-flask-sqlalchemy)")

APP = '''
import os
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg2:///" + os.environ["APP_DB"]
db = SQLAlchemy(app)
migrate = Migrate(app, db)

if os.environ["APP_STAGE"] == "before":
    from sqlalchemy_utils import EncryptedType
    from sqlalchemy_utils.types.encrypted.encrypted_type import AesEngine
    email_type = EncryptedType(db.Unicode, os.environ["APP_PASSPHRASE"], AesEngine, "pkcs5")
else:
    from encrypted_column.sqlalchemy import EncryptedTextDet
    email_type = EncryptedTextDet()


class User(db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(email_type, unique=True, index=True)
'''


def flask(workdir, dbname, stage, *args, env=None):
    environ = dict(os.environ, FLASK_APP="app.py", APP_DB=dbname, APP_STAGE=stage,
                   APP_PASSPHRASE=PASSPHRASE, **(env or {}))
    environ["PYTHONPATH"] = PYTHON_DIR + os.pathsep + environ.get("PYTHONPATH", "")
    environ.pop("PGOPTIONS", None)
    return subprocess.run([sys.executable, "-m", "flask", "db"] + list(args), cwd=workdir,
                          env=environ, text=True, capture_output=True, timeout=300)


def lines(code):
    return [line.strip() for line in code.strip().splitlines() if line.strip()]


def test_flask_migrate_as_documented(tmp_path, fresh_db, key):  # noqa: F811
    (tmp_path / "app.py").write_text(APP)
    # the seed application's table, written through its old model
    legacy_users(fresh_db)
    for args in (["init"], ["stamp", "head"]):
        done = flask(tmp_path, fresh_db, "before", *args)
        assert done.returncode == 0, done.stderr

    # the model now says EncryptedTextDet: what flask db migrate writes
    done = flask(tmp_path, fresh_db, "after", "migrate", "-m", "encrypt email")
    assert done.returncode == 0, done.stderr
    versions = tmp_path / "migrations" / "versions"
    revision = next(p for p in versions.glob("*.py") if "encrypt_email" in p.name)
    written = revision.read_text()
    got = lines(written)
    want = lines(docs.block("flask-migrate-generated"))
    start = got.index(want[0])
    assert got[start:start + len(want)] == want, written

    # ... which fails as the page says, and changes nothing
    done = flask(tmp_path, fresh_db, "after", "upgrade",
                 env={"EC_KEY": key, "LEGACY_PASSPHRASE": PASSPHRASE})
    assert done.returncode != 0
    assert "NameError: name 'encrypted_column' is not defined" in done.stderr

    # the two edits the page shows
    head, rest = written.split("def upgrade():", 1)
    tail = rest[rest.index("def downgrade():"):]
    revision.write_text(head + docs.block("flask-migrate-upgrade") + "\n\n" + tail)
    env_py = tmp_path / "migrations" / "env.py"
    original = env_py.read_text()
    line = "    connectable = get_engine()\n"
    assert original.count(line) == 1
    edit = "".join("    " + ln if ln.strip() else ln
                   for ln in docs.block("flask-migrate-env").splitlines(True))
    env_py.write_text(original.replace(line, edit))

    done = flask(tmp_path, fresh_db, "after", "upgrade",
                 env={"EC_KEY": key, "LEGACY_PASSPHRASE": PASSPHRASE})
    assert done.returncode == 0, done.stderr
    for secret in [key, PASSPHRASE] + EMAILS:
        assert secret not in done.stdout + done.stderr
    conn = connect_to(fresh_db, key_options(key))
    with conn.cursor() as cur:
        cur.execute("SELECT decrypt(email) FROM users ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == EMAILS
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'users'::regclass AND attname = 'email'")
        assert cur.fetchone()[0] == "encrypted_text_det"
        cur.execute("SELECT indisunique FROM pg_index WHERE indrelid = 'users'::regclass "
                    "AND NOT indisprimary")
        assert [r[0] for r in cur.fetchall()] == [True]
        cur.execute("SELECT extname FROM pg_extension WHERE extname LIKE 'encrypted_column%' "
                    "ORDER BY 1")
        assert [r[0] for r in cur.fetchall()] == ["encrypted_column", "encrypted_column_migrate"]
    conn.close()
