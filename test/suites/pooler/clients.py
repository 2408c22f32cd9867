"""Two clients with different keys behind PgBouncer in transaction mode.

Run by test/suites/pgbouncer.sh.  Every client hands its key in per
transaction with set_config(..., true) and the key as a bind parameter
(psycopg 3 binds on the server; prepare_threshold=None because PgBouncer
in transaction mode cannot keep named prepared statements).  Prints one
"ok" or "NOT OK" line per check, like the shell helpers.

Environment: EC_HOST, EC_PORT (PgBouncer), EC_DB_SHARED (a pool of one
server connection), EC_DB_POOL (a pool of three), EC_KEY1, EC_KEY2.
"""

import os
import sys

import psycopg

HOST = os.environ["EC_HOST"]
PORT = os.environ["EC_PORT"]
SHARED = os.environ["EC_DB_SHARED"]
POOL = os.environ["EC_DB_POOL"]
KEY1 = os.environ["EC_KEY1"]
KEY2 = os.environ["EC_KEY2"]

SET_KEY = "SELECT set_config('encrypted_column.key', %s, true)"
failed = 0


def check(desc, ok):
    global failed
    print("%s - %s" % ("ok    " if ok else "NOT OK", desc), flush=True)
    if not ok:
        failed += 1


def connect(db):
    return psycopg.connect(host=HOST, port=PORT, dbname=db, user="app",
                           prepare_threshold=None)


def sqlstate(conn, sql, params=()):
    """Run one statement in its own transaction; the SQLSTATE or None."""
    try:
        with conn.transaction():
            conn.execute(sql, params)
        return None
    except psycopg.Error as exc:
        return exc.sqlstate


def in_txn(conn, key, sql, params=()):
    """One transaction: hand in the key, run sql, return all rows."""
    with conn.transaction():
        if key is not None:
            conn.execute(SET_KEY, [key])
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else None


a, b, c = connect(SHARED), connect(SHARED), connect(SHARED)
key_id = {}
for name, conn, key in (("a", a, KEY1), ("b", b, KEY2)):
    key_id[name] = in_txn(conn, key, "SELECT current_key_id()")[0][0]
    in_txn(conn, key, "INSERT INTO t (owner, c) VALUES (%s, %s)",
           (name, "LEAKPOOL-" + name))
check("the two keys have different key ids", key_id["a"] != key_id["b"])

pids = {in_txn(x, None, "SELECT pg_backend_pid()")[0][0] for x in (a, b, c)}
check("the three clients share one server connection", len(pids) == 1)

check("a client without a key sees no key after the others' transactions",
      in_txn(c, None, "SELECT current_key_id()") == [(None,)])
check("a client without a key cannot decrypt another client's row (55000)",
      sqlstate(c, "SELECT decrypt(c) FROM t WHERE owner = 'a'") == "55000")
check("a client without a key cannot encrypt (55000)",
      sqlstate(c, "INSERT INTO t (owner, c) VALUES ('c', %s)", ["x"]) == "55000")

for stmt in ("RESET encrypted_column.key", "RESET ALL", "DISCARD ALL"):
    c.autocommit = True
    c.execute(stmt)
    c.autocommit = False
    check("after another client's %s, a still decrypts its own row" % stmt,
          in_txn(a, KEY1, "SELECT decrypt(c) FROM t WHERE owner = 'a'")
          == [("LEAKPOOL-a",)])

# alternating transactions on the one server connection
good = True
for i in range(20):
    name, conn, key, other = (("a", a, KEY1, "b") if i % 2 == 0
                              else ("b", b, KEY2, "a"))
    rows = in_txn(conn, key, "SELECT current_key_id(), decrypt(c) FROM t "
                  "WHERE owner = %s", [name])
    good &= rows == [(key_id[name], "LEAKPOOL-" + name)]
    with conn.transaction():
        conn.execute(SET_KEY, [key])
        try:
            with conn.transaction():
                conn.execute("SELECT decrypt(c) FROM t WHERE owner = %s",
                             [other])
            good = False
        except psycopg.Error as exc:
            good &= exc.sqlstate == "42704"
    good &= in_txn(c, None, "SELECT current_key_id()") == [(None,)]
check("20 alternating transactions: each client sees only its own key, "
      "the other's row fails with 42704, a keyless client sees no key", good)

# a transaction that fails takes its key with it
try:
    with a.transaction():
        a.execute(SET_KEY, [KEY1])
        a.execute("SELECT 1 / 0")
except psycopg.Error:
    pass
check("after a failed transaction the next client sees no key",
      in_txn(c, None, "SELECT current_key_id()") == [(None,)])

# SET LOCAL works the same way (its text holds the key: a literal)
with a.transaction():
    a.execute("SET LOCAL encrypted_column.key = '%s'" % KEY1)
    local_ok = a.execute("SELECT decrypt(c) FROM t WHERE owner = 'a'").fetchall()
check("SET LOCAL hands the key to its own transaction",
      local_ok == [("LEAKPOOL-a",)])
check("after SET LOCAL's transaction the next client sees no key",
      in_txn(c, None, "SELECT current_key_id()") == [(None,)])
for x in (a, b, c):
    x.close()

# a pool of three: transactions open at the same time, each with its key
a, b, c = connect(POOL), connect(POOL), connect(POOL)
with a.transaction(), b.transaction():
    a.execute(SET_KEY, [KEY1])
    b.execute(SET_KEY, [KEY2])
    # while both idle in their transactions, their query texts show no key
    activity = c.execute("SELECT string_agg(query, ' ') FROM pg_stat_activity "
                         "WHERE usename = 'app'").fetchone()[0] or ""
    c.rollback()
    got_a = a.execute("SELECT decrypt(c) FROM t WHERE owner = 'a'").fetchall()
    got_b = b.execute("SELECT decrypt(c) FROM t WHERE owner = 'b'").fetchall()
    pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    pid_b = b.execute("SELECT pg_backend_pid()").fetchone()[0]
check("two open transactions on two server connections",
      pid_a != pid_b)
check("interleaved open transactions each decrypt their own row",
      got_a == [("LEAKPOOL-a",)] and got_b == [("LEAKPOOL-b",)])
check("pg_stat_activity shows no key while the clients idle in transaction",
      KEY1 not in activity and KEY2 not in activity and "set_config" in activity)
check("after both commits, no server connection of the pool holds a key",
      all(in_txn(c, None, "SELECT current_key_id()") == [(None,)]
          for _ in range(4)))
for x in (a, b, c):
    x.close()
sys.exit(1 if failed else 0)
