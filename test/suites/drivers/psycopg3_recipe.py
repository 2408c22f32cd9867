"""psycopg 3's recipe for encrypted_text, run by test/suites/drivers.sh.

psycopg 3 binds parameters on the server.  A str goes out as an untyped
parameter with %s (the server picks the type) and as a text-typed one
with %b; bytes go out as bytea.  Prints one "ok" / "NOT OK" line per
check.  Environment: EC_HOST, EC_PORT, EC_DB, EC_KEY, EC_KEY2 (the
previous key of the rotation checks).
"""

import os
import sys

import psycopg
from psycopg.adapt import Dumper, Loader

HOST, PORT, DB, KEY, KEY2 = (os.environ[n] for n in
                             ("EC_HOST", "EC_PORT", "EC_DB", "EC_KEY", "EC_KEY2"))
failed = 0


def check(desc, ok):
    global failed
    print("%s - psycopg 3: %s" % ("ok    " if ok else "NOT OK", desc), flush=True)
    failed += not ok


def sqlstate(conn, sql, params=None, **kw):
    try:
        conn.execute(sql, params, **kw)
        return None
    except psycopg.Error as exc:
        return exc.sqlstate


def connect(**kw):
    return psycopg.connect(host=HOST, port=PORT, dbname=DB, user="app",
                           autocommit=True, **kw)


# the key as a connection option
conn = connect(options="-c encrypted_column.key=" + KEY)
check("key in the options connection parameter",
      conn.execute("SELECT current_key_id() IS NOT NULL").fetchone()[0])
# insert by parameter: untyped (%s) and text-typed (%b)
conn.execute("INSERT INTO t (who, c) VALUES ('psycopg3', %s)", ["p3-untyped"])
conn.execute("INSERT INTO t (who, c) VALUES ('psycopg3', %b)", ["p3-text"])
rows = conn.execute("SELECT decrypt(c) FROM t WHERE who = 'psycopg3' ORDER BY id").fetchall()
check("insert of a str, untyped (%s) and text-typed (%b: assignment cast)",
      rows == [("p3-untyped",), ("p3-text",)])
check("lookup WHERE decrypt(c) = %s",
      conn.execute("SELECT count(*) FROM t WHERE decrypt(c) = %s", ["p3-text"]).fetchone()[0] == 1)
ct = conn.execute("SELECT * FROM t WHERE who = 'psycopg3' ORDER BY id LIMIT 1").fetchone()[2]
check("SELECT * gives the ciphertext text form", ct.startswith("ecv1:"))
check("the ciphertext back as an untyped parameter to decrypt(): 42725 (two types have decrypt)",
      sqlstate(conn, "SELECT decrypt(%s)", [ct]) == "42725")
check("the ciphertext back as a text parameter (%b) to decrypt(): 42883",
      sqlstate(conn, "SELECT decrypt(%b)", [ct]) == "42883")
check("the ciphertext back into an encrypted_text column: 22023",
      sqlstate(conn, "INSERT INTO t (who, c) VALUES ('x', %s)", [ct]) == "22023")
check("a plaintext str to decrypt() as %b: 42883 (no decrypt(text))",
      sqlstate(conn, "SELECT decrypt(%b)", ["plain"]) == "42883")

# the supported ways back: refer to the row, or the binary form
conn.execute("INSERT INTO t (who, c) SELECT 'psycopg3-copy', c FROM t "
             "WHERE who = 'psycopg3' ORDER BY id LIMIT 1")
check("copy a value by referring to its row (INSERT ... SELECT)",
      conn.execute("SELECT decrypt(c) FROM t WHERE who = 'psycopg3-copy'").fetchone()[0]
      == "p3-untyped")
oid = conn.execute("SELECT 'encrypted_text'::regtype::oid").fetchone()[0]


class EnvelopeDumper(Dumper):
    """Send bytes as an encrypted_text value in binary (the envelope)."""
    format = psycopg.pq.Format.BINARY

    def dump(self, obj):
        return bytes(obj)


class Envelope(bytes):
    pass


class EnvelopeLoader(Loader):
    format = psycopg.pq.Format.BINARY

    def load(self, data):
        return Envelope(data)


EnvelopeDumper.oid = oid
conn.adapters.register_dumper(Envelope, EnvelopeDumper)
conn.adapters.register_loader(oid, EnvelopeLoader)
cur = conn.cursor(binary=True)
env = cur.execute("SELECT c FROM t WHERE who = 'psycopg3' ORDER BY id LIMIT 1").fetchone()[0]
check("a value read in binary is the envelope (version byte 1)", env[:1] == b"\x01")
conn.execute("INSERT INTO t (who, c) VALUES ('psycopg3-bin', %b)", [env])
check("the envelope passed back as a binary encrypted_text parameter",
      conn.execute("SELECT decrypt(c) FROM t WHERE who = 'psycopg3-bin'").fetchone()[0]
      == "p3-untyped")
conn.close()

# the key by set_config with a bind parameter; SET with a parameter fails
conn = connect()
check("SET encrypted_column.key = %s: 42601 (SET takes no parameters)",
      sqlstate(conn, "SET encrypted_column.key = %s", [KEY]) == "42601")
conn.execute("SELECT set_config('encrypted_column.key', %s, false)", [KEY])
check("set_config('encrypted_column.key', %s, false) hands the key in",
      conn.execute("SELECT decrypt(c) FROM t WHERE who = 'psycopg3' ORDER BY id LIMIT 1")
      .fetchone()[0] == "p3-untyped")
conn.close()

# per transaction, as behind a pooler in transaction mode
conn = connect(prepare_threshold=None)
with conn.transaction():
    conn.execute("SELECT set_config('encrypted_column.key', %s, true)", [KEY])
    got = conn.execute("SELECT decrypt(c) FROM t WHERE who = 'psycopg3' ORDER BY id LIMIT 1").fetchone()[0]
check("set_config(..., true) inside a transaction", got == "p3-untyped")
check("the key ends with the transaction",
      conn.execute("SELECT current_key_id()").fetchone()[0] is None)
check("without a key: 55000",
      sqlstate(conn, "SELECT decrypt(c) FROM t WHERE who = 'psycopg3'") == "55000")
conn.close()

# a deterministic column during a rotation: a row under the previous key
# (EC_KEY2) and one under the current key
conn = connect(options="-c encrypted_column.key=" + KEY2)
conn.execute("INSERT INTO td (who, c) VALUES ('psycopg3', %s)", ["p3-old"])
conn.close()
conn = connect(options="-c encrypted_column.key=%s -c encrypted_column.previous_keys=%s"
               % (KEY, KEY2))
conn.execute("INSERT INTO td (who, c) VALUES ('psycopg3', %s)", ["p3-new"])


def count(sql, params):
    return conn.execute(sql, params).fetchone()[0]


check("det: c = %s untyped finds a current-key row",
      count("SELECT count(*) FROM td WHERE c = %s", ["p3-new"]) == 1)
check("det: c = %s untyped misses a previous-key row (encrypted with the current key)",
      count("SELECT count(*) FROM td WHERE c = %s", ["p3-old"]) == 0)
check("det: c = %b (text) finds a previous-key row",
      count("SELECT count(*) FROM td WHERE c = %b", ["p3-old"]) == 1)
check("det: c = ANY (encrypt_det_all(%b)) with a list finds rows under both keys",
      count("SELECT count(*) FROM td WHERE c = ANY (encrypt_det_all(%b))",
            [["p3-old", "p3-new"]]) == 2)
# bound on the server: a failed statement's log line shows $1, not the value
check("a failed INSERT: 22012 (its STATEMENT: line is checked by the suite)",
      sqlstate(conn, "INSERT INTO t (id, who, c) VALUES (1/0, 'fail', %s)",
               ["p3-statement-line-plaintext"]) == "22012")
conn.close()
sys.exit(1 if failed else 0)
