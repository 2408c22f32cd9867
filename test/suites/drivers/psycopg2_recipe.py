"""psycopg2's recipe for encrypted_text, run by test/suites/drivers.sh.

psycopg2 binds nothing on the server: it quotes each parameter into the
statement text on the client, so every parameter reaches the server as
an untyped literal.  Prints one "ok" / "NOT OK" line per check.
Environment: EC_HOST, EC_PORT, EC_DB, EC_KEY, EC_KEY2 (the previous key
of the rotation checks).
"""

import os
import sys

import psycopg2

HOST, PORT, DB, KEY, KEY2 = (os.environ[n] for n in
                             ("EC_HOST", "EC_PORT", "EC_DB", "EC_KEY", "EC_KEY2"))
failed = 0


def check(desc, ok):
    global failed
    print("%s - psycopg2: %s" % ("ok    " if ok else "NOT OK", desc), flush=True)
    failed += not ok


def connect(**kw):
    conn = psycopg2.connect(host=HOST, port=PORT, dbname=DB, user="app", **kw)
    conn.autocommit = True
    return conn


def one(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def sqlstate(conn, sql, params=None):
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
        return None
    except psycopg2.Error as exc:
        return exc.pgcode


conn = connect(options="-c encrypted_column.key=" + KEY)
check("key in the options connection parameter",
      one(conn, "SELECT current_key_id() IS NOT NULL"))
with conn.cursor() as cur:
    cur.execute("INSERT INTO t (who, c) VALUES ('psycopg2', %s)", ["p2-plain"])
    cur.execute("INSERT INTO t (who, c) VALUES ('psycopg2', %s::text)", ["p2-text"])
    cur.execute("SELECT decrypt(c) FROM t WHERE who = 'psycopg2' ORDER BY id")
    rows = cur.fetchall()
check("insert of a str, as it comes and cast to text (assignment cast)",
      rows == [("p2-plain",), ("p2-text",)])
check("lookup WHERE decrypt(c) = %s",
      one(conn, "SELECT count(*) FROM t WHERE decrypt(c) = %s", ["p2-text"]) == 1)
with conn.cursor() as cur:
    cur.execute("SELECT * FROM t WHERE who = 'psycopg2' ORDER BY id LIMIT 1")
    ct = cur.fetchone()[2]
check("SELECT * gives the ciphertext text form", ct.startswith("ecv1:"))
check("the ciphertext back as a parameter to decrypt(): 42725 (two types have decrypt)",
      sqlstate(conn, "SELECT decrypt(%s)", [ct]) == "42725")
check("the ciphertext back as a text parameter to decrypt(): 42883",
      sqlstate(conn, "SELECT decrypt(%s::text)", [ct]) == "42883")
check("the ciphertext back into an encrypted_text column: 22023",
      sqlstate(conn, "INSERT INTO t (who, c) VALUES ('x', %s)", [ct]) == "22023")
with conn.cursor() as cur:
    cur.execute("INSERT INTO t (who, c) SELECT 'psycopg2-copy', c FROM t "
                "WHERE who = 'psycopg2' ORDER BY id LIMIT 1")
check("copy a value by referring to its row (INSERT ... SELECT)",
      one(conn, "SELECT decrypt(c) FROM t WHERE who = 'psycopg2-copy'") == "p2-plain")
conn.close()

# without a connection option: SET works (the key is quoted into the SET
# text on the client), and so does set_config()
conn = connect()
with conn.cursor() as cur:
    cur.execute("SET encrypted_column.key = %s", [KEY])
check("SET encrypted_column.key = %s (client-side quoting)",
      one(conn, "SELECT decrypt(c) FROM t WHERE who = 'psycopg2' ORDER BY id LIMIT 1")
      == "p2-plain")
conn.close()
conn = connect()
one(conn, "SELECT set_config('encrypted_column.key', %s, false)", [KEY])
check("set_config('encrypted_column.key', %s, false)",
      one(conn, "SELECT decrypt(c) FROM t WHERE who = 'psycopg2' ORDER BY id LIMIT 1")
      == "p2-plain")
conn.close()

# per transaction
conn = connect()
conn.autocommit = False
with conn.cursor() as cur:
    cur.execute("SELECT set_config('encrypted_column.key', %s, true)", [KEY])
    cur.execute("SELECT decrypt(c) FROM t WHERE who = 'psycopg2' ORDER BY id LIMIT 1")
    got = cur.fetchone()[0]
conn.commit()
check("set_config(..., true) inside a transaction", got == "p2-plain")
check("the key ends with the transaction",
      one(conn, "SELECT current_key_id()") is None)
conn.rollback()
check("without a key: 55000",
      sqlstate(conn, "SELECT decrypt(c) FROM t WHERE who = 'psycopg2'") == "55000")
conn.close()

# a deterministic column during a rotation: psycopg2's parameters are
# untyped literals, so only a cast reaches the rotation-aware operator
conn = connect(options="-c encrypted_column.key=" + KEY2)
one(conn, "INSERT INTO td (who, c) VALUES ('psycopg2', %s) RETURNING 1", ["p2-old"])
conn.close()
conn = connect(options="-c encrypted_column.key=%s -c encrypted_column.previous_keys=%s"
               % (KEY, KEY2))
one(conn, "INSERT INTO td (who, c) VALUES ('psycopg2', %s) RETURNING 1", ["p2-new"])
check("det: c = %s finds a current-key row",
      one(conn, "SELECT count(*) FROM td WHERE c = %s", ["p2-new"]) == 1)
check("det: c = %s misses a previous-key row (the literal is encrypted with the current key)",
      one(conn, "SELECT count(*) FROM td WHERE c = %s", ["p2-old"]) == 0)
check("det: c = %s::text finds a previous-key row",
      one(conn, "SELECT count(*) FROM td WHERE c = %s::text", ["p2-old"]) == 1)
check("det: c = ANY (encrypt_det_all(%s::text[])) finds rows under both keys",
      one(conn, "SELECT count(*) FROM td WHERE c = ANY (encrypt_det_all(%s::text[]))",
          [["p2-old", "p2-new"]]) == 2)
# quoted into the text on the client: the server log's STATEMENT: line of
# this failed statement holds the plaintext (the suite checks the log)
check("a failed INSERT: 22012",
      sqlstate(conn, "INSERT INTO t (id, who, c) VALUES (1/0, 'fail', %s)",
               ["p2-statement-line-plaintext"]) == "22012")
conn.close()
sys.exit(1 if failed else 0)
