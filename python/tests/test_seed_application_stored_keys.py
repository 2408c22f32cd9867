"""The seed application with a server-side key-encryption key and no key in its configuration.

The application (examples/signup_app.py) is configured with a database
URL for its own role and the name of a stored key; the key was made by
create_key() as the superuser and granted to the role.  Users sign up
and are found by email through the unique index on the
encrypted_text_det column; an email already there is refused (409).

The failure of 0.3 this answers: an application started with a wrong but
well-formed key answered 201 to sign-ups of existing users, writing rows
under a key no one had, which UNIQUE could not see.  Here a name that is
no stored key, a stored key the role was not granted, and a
key-encryption key on the server that does not unwrap the stored key each
make the first write fail with an error, and no row is written.
"""

import os
import secrets

import pytest
import sqlalchemy as sa

import signup_app
from conftest import superuser, wait_for_kek_source


@pytest.fixture
def users_table(server, table_name):
    """The application's table, made by the superuser; (table, grant(role))."""
    Base, _ = signup_app.model(table_name)
    engine = sa.create_engine("postgresql+psycopg2://", future=True)
    Base.metadata.create_all(engine)

    def grant(role):
        with engine.begin() as conn:
            conn.execute(sa.text('GRANT SELECT, INSERT ON "%s" TO "%s"' % (table_name, role)))
            conn.execute(sa.text('GRANT USAGE ON SEQUENCE "%s_id_seq" TO "%s"'
                                 % (table_name, role)))

    yield table_name, grant
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def apps():
    """make(url, key_name, table): a test client of a fresh application;
    every application's engine is disposed after the test."""
    made = []

    def make(url, key_name, table):
        app = signup_app.create_app(url, key_name, table)
        made.append(app)
        return app.test_client()

    yield make
    for app in made:
        app.config["ENGINE"].dispose()


def count(table):
    conn = superuser()
    with conn.cursor() as cur:
        cur.execute('SELECT count(*), array_agg(DISTINCT key_id(email)) FROM "%s"' % table)
        n, ids = cur.fetchone()
    conn.close()
    return n, sorted(ids or [])


def sign_up(client, username, email):
    return client.post("/users", json={"username": username, "email": email})


def test_sign_up_and_login_with_a_stored_key_only(
        stored_key, login_role, users_table, apps):
    table, grant = users_table
    key_name, key_id = stored_key("app")
    role, url = login_role("app")
    grant(role)
    with superuser() as conn, conn.cursor() as cur:
        cur.execute("SELECT grant_key(%s, %s, 'all')", (key_name, role))
    conn.close()

    client = apps(url, key_name, table)
    people = [("alice", "alice@example.com"), ("bob", "bob@example.org"),
              ("chlo\u00e9", "chlo\u00e9@exemple.fr")]
    for username, email in people:
        answer = sign_up(client, username, email)
        assert answer.status_code == 201, answer.get_json()
    for username, email in people:
        answer = client.get("/users", query_string={"email": email})
        assert answer.status_code == 200
        assert answer.get_json()["username"] == username
        assert answer.get_json()["email"] == email
    assert client.get("/users", query_string={"email": "nobody@example.com"}).status_code == 404

    # an existing email is refused, whoever signs up with it
    answer = sign_up(client, "mallory", "alice@example.com")
    assert answer.status_code == 409, answer.get_json()
    assert count(table) == (3, [key_id])

    # the unique index refuses it too, when the lookup is skipped (a race)
    with pytest.raises(sa.exc.IntegrityError) as info:
        engine = client.application.config["ENGINE"]
        with engine.begin() as conn:
            conn.execute(sa.text('INSERT INTO "%s" (username, email) VALUES (:u, :e)' % table),
                         {"u": "mallory", "e": "bob@example.org"})
    assert info.value.orig.pgcode == "23505"

    # the lookup is an index scan on the encrypted column
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in conn.execute(sa.text(
            'EXPLAIN SELECT id FROM "%s" WHERE email = :e' % table), {"e": "bob@example.org"}))
    assert "Index" in plan, plan

    # the application's sessions hold a key name and no key
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_setting('encrypted_column.key_name'), "
                                    "current_setting('encrypted_column.key')")).one() \
            == (key_name, "")

    # --- the wrong configurations: each first write fails, nothing is written
    # a name that is no stored key
    wrong_name = apps(url, key_name + "x", table)
    answer = sign_up(wrong_name, "dave", "alice@example.com")
    assert answer.status_code == 503 and answer.get_json()["sqlstate"] == "42704"
    answer = sign_up(wrong_name, "dave", "dave@example.com")
    assert answer.status_code == 503 and answer.get_json()["sqlstate"] == "42704"
    assert count(table) == (3, [key_id])

    # another tenant's key, which exists but was not granted to this role
    other, _ = stored_key("other")
    not_granted = apps(url, other, table)
    answer = sign_up(not_granted, "dave", "alice@example.com")
    assert answer.status_code == 503 and answer.get_json()["sqlstate"] == "42501"
    assert count(table) == (3, [key_id])

    # a key-encryption key on the server that does not unwrap the stored key
    good_source = "file:" + os.environ["EC_TEST_KEK_FILE"]
    wrong_kek = os.path.join(os.path.dirname(os.environ["EC_TEST_KEK_FILE"]), "wrong.hex")
    owner = os.stat(os.environ["EC_TEST_KEK_FILE"])
    fd = os.open(wrong_kek, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chown(wrong_kek, owner.st_uid, owner.st_gid)
    admin = superuser()
    try:
        with admin.cursor() as cur:
            cur.execute("ALTER SYSTEM SET encrypted_column.kek_source = %s",
                        ("file:" + wrong_kek,))
            cur.execute("SELECT pg_reload_conf()")
        wait_for_kek_source("file:" + wrong_kek)
        wrong_kek_app = apps(url, key_name, table)
        answer = sign_up(wrong_kek_app, "erin", "erin@example.com")
        assert answer.status_code == 503 and answer.get_json()["sqlstate"] == "55000"
        answer = sign_up(wrong_kek_app, "erin", "alice@example.com")
        assert answer.status_code == 503 and answer.get_json()["sqlstate"] == "55000"
        answer = wrong_kek_app.get("/users", query_string={"email": "alice@example.com"})
        assert answer.status_code == 503 and answer.get_json()["sqlstate"] == "55000"
        assert count(table) == (3, [key_id])
    finally:
        with admin.cursor() as cur:
            cur.execute("ALTER SYSTEM RESET encrypted_column.kek_source")
            cur.execute("SELECT pg_reload_conf()")
        admin.close()
        wait_for_kek_source(good_source)
        os.unlink(wrong_kek)

    # the right configuration, in a new backend, works again
    again = apps(url, key_name, table)
    assert again.get("/users", query_string={"email": "chlo\u00e9@exemple.fr"}).get_json()[
        "username"] == "chlo\u00e9"
    assert sign_up(again, "frank", "frank@example.com").status_code == 201
    assert sign_up(again, "frank2", "frank@example.com").status_code == 409
    assert count(table) == (4, [key_id])
