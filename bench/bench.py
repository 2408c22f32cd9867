#!/usr/bin/python3
"""Benchmark driver for encrypted_column; bench/run.sh starts the cluster.

Measures, on one cluster and in one run:
  * INSERT ... SELECT of email-sized (22-byte) and 1 KiB text values into a
    plain text column, an encrypted_text column, pgcrypto encrypt() into
    bytea (raw AES-CBC, the speed reference) and pgcrypto pgp_sym_encrypt()
    (on fewer rows, per-value numbers scaled);
  * decrypting scans, sum(length(...)), over the same tables against the
    plain scan;
  * table size per row;
  * the private memory of a backend while one query decrypts 10,000,000
    values.
Variants are interleaved within each repetition, in an order that rotates,
and every ratio is taken between two measurements of the same repetition.
Writes results.md, raw.json and chart.png into the output folder.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

# A fixed, public benchmark key: nothing here is secret.
EC_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
AES_KEY = "'\\x" + EC_KEY + "'::bytea"
PGP_PASSWORD = "benchmark password"

FULL = {"email": 1_000_000, "1k": 100_000, "pgp": 100_000,
        "memory_values": 10_000_000, "reps": 9,
        "lookup_rows": 1_000_000, "lookups": 20_000, "client_lookups": 2_000,
        "scan_lookups": 3, "rotation_rows": 1_000_000, "rotation_batch": 10_000}
QUICK = {"email": 100_000, "1k": 10_000, "pgp": 5_000,
         "memory_values": 1_000_000, "reps": 3,
         "lookup_rows": 100_000, "lookups": 5_000, "client_lookups": 500,
         "scan_lookups": 2, "rotation_rows": 100_000, "rotation_batch": 10_000}
# A second fixed public key: the rotation moves rows from EC_KEY to it.
EC_KEY_NEW = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"

SIZES = [
    # key, label, SQL for the text of row i
    ("email", "22 B", "substr(md5(i::text), 1, 10) || '@example.com'"),
    ("1k", "1 KiB",
     "(SELECT string_agg(md5(i::text || '-' || j::text), '') "
     "FROM generate_series(1, 32) AS j)"),
]

# key, label, column type, source table suffix, INSERT expression over the
# source's column (v text or b bytea), scan expression over the column c.
# pgcrypto encrypt() takes its input from a bytea column, with no text
# conversion: its INSERT is measured at its fastest.  Its scan turns the
# bytea that decrypt() returns into text with convert_from (a validation
# and a copy, the work decrypt() of encrypted_text does too), so that every
# scan ends in the same length() of a text, which counts characters.
VARIANTS = [
    ("plain", "text (plain)", "text", "", "v", "length(c)"),
    ("enc", "encrypted_text", "encrypted_text", "", "v", "length(decrypt(c))"),
    ("det", "encrypted_text_det", "encrypted_text_det", "", "v", "length(decrypt(c))"),
    ("pgcrypto", "pgcrypto encrypt()", "bytea", "_bytea",
     "public.encrypt(b, " + AES_KEY + ", 'aes')",
     "length(convert_from(public.decrypt(c, " + AES_KEY + ", 'aes'), 'UTF8'))"),
    ("pgp", "pgcrypto pgp_sym_encrypt()", "bytea", "_pgp",
     "public.pgp_sym_encrypt(v, '" + PGP_PASSWORD + "')",
     "length(public.pgp_sym_decrypt(c, '" + PGP_PASSWORD + "'))"),
]
SIZE_LABEL = {s[0]: s[1] for s in SIZES}
OP_LABEL = {"insert": "INSERT ... SELECT", "scan": "decrypting scan"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def connect(args, key=EC_KEY, previous=None, settings=""):
    options = "-c encrypted_column.key=" + key
    if previous:
        options += " -c encrypted_column.previous_keys=" + previous
    options += settings
    conn = psycopg2.connect(host=args.host, port=args.port, user="postgres",
                            dbname="postgres", options=options)
    conn.autocommit = True
    return conn


def timed(cur, sql):
    """Run one statement; its wall time in seconds and its first row."""
    t0 = time.perf_counter()
    cur.execute(sql)
    row = cur.fetchone() if cur.description else None
    return time.perf_counter() - t0, row


def med_min_max(values):
    return [statistics.median(values), min(values), max(values)]


def setup(cur, n, with_pgcrypto=True):
    log("creating the extensions and the source tables")
    cur.execute("CREATE EXTENSION IF NOT EXISTS encrypted_column")
    if with_pgcrypto:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    for key, _, expr in SIZES:
        rows = n[key]
        # One value column per source table, so that no source row is
        # toasted.  The row number i makes every INSERT ... SELECT build its
        # tuples from the selected values, as an INSERT or COPY from a
        # client does; without it PostgreSQL would copy the source tuples of
        # the plain variant whole, a shortcut no other variant gets.
        cur.execute(f"DROP TABLE IF EXISTS src_{key}, src_{key}_bytea, src_{key}_pgp")
        cur.execute(f"CREATE TABLE src_{key} AS SELECT i, {expr} AS v "
                    f"FROM generate_series(1, {rows}) AS i")
        cur.execute(f"CREATE TABLE src_{key}_bytea AS SELECT i, convert_to(v, 'UTF8') AS b "
                    f"FROM src_{key}")
        cur.execute(f"CREATE TABLE src_{key}_pgp AS SELECT i, v FROM src_{key} "
                    f"WHERE i <= {min(rows, n['pgp'])}")
        for suffix in ("", "_bytea", "_pgp"):
            cur.execute(f"VACUUM ANALYZE src_{key}{suffix}")
        cur.execute(f"SELECT avg(octet_length(v)), avg(pg_column_size(v)) FROM src_{key}")
        raw, stored = cur.fetchone()
        log(f"  src_{key}: {rows} rows of {float(raw):.0f} bytes ({float(stored):.0f} stored)")
    cur.execute("CHECKPOINT")


def quiesce(cur):
    """Write out what earlier statements left dirty, before the next timing.

    CHECKPOINT writes the dirty buffers; sync() then waits until the kernel
    has written back every dirty page (all of it, with fsync off), so that
    no timed statement pays for the writeback of an earlier one.
    """
    cur.execute("CHECKPOINT")
    os.sync()


def rotated(items, r):
    k = r % len(items)
    return items[k:] + items[:k]


def rows_for(n, size, variant):
    return min(n[size], n["pgp"]) if variant == "pgp" else n[size]


def source_for(size, variant):
    suffix = next(v[3] for v in VARIANTS if v[0] == variant)
    return f"src_{size}{suffix}"


def log_rep(op, size, r, this):
    log(f"  {op} {SIZE_LABEL[size]}, repetition {r}{' (warm-up)' if r == 0 else ''}: "
        + ", ".join(f"{k} {t:.3f}s" for k, t in sorted(this.items())))


def bench_inserts(cur, n, size, reps, times):
    """Time INSERT ... SELECT per variant; the last repetition's tables stay."""
    for r in range(reps + 1):
        warmup = r == 0     # touches the buffers and makes the WAL segments
        this = {}
        for key, _, ctype, _, expr, _ in rotated(VARIANTS, r):
            if warmup and key == "pgp":
                continue    # slow, and adds nothing to the warm-up
            table = f"bench_{size}_{key}"
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"CREATE TABLE {table} (c {ctype})")
            quiesce(cur)
            this[key], _ = timed(cur, f"INSERT INTO {table} SELECT {expr} "
                                      f"FROM {source_for(size, key)}")
            if not warmup:
                times[key].append(this[key])
        log_rep("INSERT", size, r, this)


def bench_scans(cur, n, size, reps, times, expected_len):
    for key, *_ in VARIANTS:
        cur.execute(f"VACUUM ANALYZE bench_{size}_{key}")
    quiesce(cur)
    for r in range(reps + 1):
        warmup = r == 0     # sets hint bits and reads every page once
        this = {}
        for key, _, _, _, _, scan in rotated(VARIANTS, r):
            if warmup and key == "pgp":
                continue
            this[key], row = timed(cur, f"SELECT sum({scan}) FROM bench_{size}_{key}")
            rows = rows_for(n, size, key)
            if int(row[0]) != rows * expected_len:
                sys.exit(f"wrong result from the {key} scan: {row[0]}")
            if not warmup:
                times[key].append(this[key])
        log_rep("scan", size, r, this)


def table_sizes(cur, n, size):
    out = {}
    for key, *_ in VARIANTS:
        table = f"bench_{size}_{key}"
        cur.execute(f"SELECT pg_total_relation_size('{table}'), "
                    f"avg(pg_column_size(c)) FROM {table}")
        total, col = cur.fetchone()
        rows = rows_for(n, size, key)
        out[key] = {"bytes_per_row": total / rows, "value_bytes": float(col)}
    return out


def summarise(n, size, op, times):
    """Per-variant medians with min/max; ratios paired within a repetition."""
    plain = [t / n[size] * 1e9 for t in times["plain"]]
    out = {}
    for key, *_ in VARIANTS:
        rows = rows_for(n, size, key)
        ns = [t / rows * 1e9 for t in times[key]]
        out[key] = {
            "rows": rows,
            "seconds": times[key],
            "rows_per_s": med_min_max([rows / t for t in times[key]]),
            "ns_per_value": med_min_max(ns),
            "ns_over_plain": med_min_max([a - b for a, b in zip(ns, plain)]),
            "ratio": med_min_max([a / b for a, b in zip(ns, plain)]),
        }
    enc = [a - b for a, b in zip([t / n[size] * 1e9 for t in times["enc"]], plain)]
    for key in ("pgcrypto", "det"):
        if key not in times:
            continue
        other = [a - b for a, b in zip([t / n[size] * 1e9 for t in times[key]], plain)]
        out[key + "_over_enc"] = med_min_max(
            [p / e if e > 0 else float("inf") for p, e in zip(other, enc)])
    return out


def status_kb(pid):
    """RssAnon (private memory), RssShmem and VmHWM of a process, in kB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssShmem", "VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0])
    return fields


def bench_memory(args, n, results):
    """Sample a backend's memory while one query handles memory_values values."""
    values = n["memory_values"]
    passes = max(1, values // n["email"])
    # key, label, SQL for k passes over the table or k generated values,
    # k, k for a small warm-up run, values handled
    queries = [
        ("decrypt stored", "decrypt() of stored encrypted_text values",
         lambda k: "SELECT sum(length(decrypt(c))) FROM bench_email_enc, "
                   f"generate_series(1, {k}) AS pass", passes, 1, passes * n["email"]),
        ("encrypt+decrypt", "encrypt() and decrypt() of generated values",
         lambda k: "SELECT sum(length(decrypt(encrypt("
                   "substr(md5(g::text), 1, 10) || '@example.com')))) "
                   f"FROM (SELECT generate_series(1, {k}) AS g) AS s", values, 1000, values),
        ("plain control", "the same scan of the plain text table (control)",
         lambda k: "SELECT sum(length(c)) FROM bench_email_plain, "
                   f"generate_series(1, {k}) AS pass", passes, 1, passes * n["email"]),
    ]
    out = []
    for key, label, make_sql, k, warm_k, count in queries:
        sql = make_sql(k)
        conn = connect(args)
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        # rescan the table in each pass rather than keep a copy of it
        cur.execute("SET enable_material = off")
        # a small run first, so that caches and the plan are in place
        cur.execute(make_sql(warm_k))
        before = status_kb(pid)
        samples = []
        done = threading.Event()

        def sampler():
            t0 = time.perf_counter()
            while not done.is_set():
                try:
                    s = status_kb(pid)
                except OSError:
                    break
                samples.append((time.perf_counter() - t0, s["RssAnon"], s["VmHWM"]))
                done.wait(0.05)

        th = threading.Thread(target=sampler)
        th.start()
        secs, row = timed(cur, sql)
        done.set()
        th.join()
        after = status_kb(pid)
        conn.close()
        peak = max([s[1] for s in samples] + [after["RssAnon"]])
        entry = {"key": key, "label": label, "sql": sql, "values": count,
                 "seconds": secs, "before_kb": before, "after_kb": after,
                 "peak_rss_anon_kb": peak,
                 "growth_kb": peak - before["RssAnon"],
                 "samples": samples}
        out.append(entry)
        log(f"  memory, {label}: {count} values in {secs:.1f}s, private memory "
            f"{before['RssAnon']} kB before, peak {peak} kB, after {after['RssAnon']} kB")
    results["memory"] = out


def run_floor(path, reps):
    if not path:
        return None
    out = subprocess.run([path, str(reps)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def machine_info(cur, args):
    info = {}
    with open("/proc/cpuinfo") as f:
        cpu = f.read()
    for line in cpu.splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    flags = next((l.split(":", 1)[1].split() for l in cpu.splitlines()
                  if l.startswith("flags")), [])
    info["cpu_flags"] = [f for f in ("aes", "pclmulqdq", "avx2", "vaes", "vpclmulqdq", "avx512f")
                         if f in flags]
    info["cores"] = os.cpu_count()
    with open("/proc/meminfo") as f:
        info["memory_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    info["kernel"] = platform.release()
    try:
        with open("/etc/debian_version") as f:
            info["os"] = "Debian " + f.read().strip()
    except OSError:
        info["os"] = platform.platform()
    cur.execute("SELECT version()")
    info["postgresql"] = cur.fetchone()[0]
    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgcrypto'")
    row = cur.fetchone()
    info["pgcrypto"] = row[0] if row else "not installed"
    # the settings that shape the numbers, as the server reports them
    cur.execute("SELECT name, current_setting(name), source <> 'default' FROM pg_settings "
                "WHERE name IN ('shared_preload_libraries', 'shared_buffers', 'fsync', "
                "'synchronous_commit', 'full_page_writes', 'wal_level', 'wal_buffers', "
                "'max_wal_size', 'min_wal_size', 'checkpoint_timeout', 'autovacuum', "
                "'jit', 'max_parallel_workers_per_gather', 'work_mem') ORDER BY name")
    info["settings"] = [f"{name} = {value}" + ("" if changed else " (default)")
                        for name, value, changed in cur.fetchall()]
    return info


def fmt(v, digits=0):
    if v == float("inf"):
        return "inf"
    if abs(v) >= 1e6 and digits == 0:
        return f"{v / 1e6:.2f} M"
    return f"{v:,.{digits}f}"


def cell(mmm, digits=0, suffix=""):
    med, lo, hi = mmm
    return f"{fmt(med, digits)}{suffix} ({fmt(lo, digits)}–{fmt(hi, digits)})"


def target_rows(res):
    ins, scan, ins1k = res["email"]["insert"], res["email"]["scan"], res["1k"]["insert"]
    rows = [
        ("encrypted_text INSERT, 22 B: ns per value over plain", "≤ 250",
         ins["enc"]["ns_over_plain"], 0, "", lambda m: m <= 250),
        ("encrypted_text INSERT, 22 B: ratio to plain", "≈ 1.7x or better",
         ins["enc"]["ratio"], 2, "x", lambda m: m <= 1.7),
        ("decrypting scan, 22 B: ns per value over plain", "≤ 200",
         scan["enc"]["ns_over_plain"], 0, "", lambda m: m <= 200),
        ("encrypted_text INSERT, 1 KiB: ratio to plain", "≤ 1.4x",
         ins1k["enc"]["ratio"], 2, "x", lambda m: m <= 1.4),
        ("overhead of pgcrypto encrypt() / encrypted_text, INSERT 22 B", "≥ 3x",
         ins["pgcrypto_over_enc"], 1, "x", lambda m: m >= 3),
        ("overhead of pgcrypto encrypt() / encrypted_text, INSERT 1 KiB", "(≥ 3x)",
         ins1k["pgcrypto_over_enc"], 1, "x", lambda m: m >= 3),
        ("overhead of pgcrypto decrypt() / decrypt(), scan 22 B", "(≥ 3x)",
         scan["pgcrypto_over_enc"], 1, "x", lambda m: m >= 3),
    ]
    return [(name, target, cell(m, d, s), "met" if ok(m[0]) else "**missed**")
            for name, target, m, d, s, ok in rows]


def write_markdown(path, res, n, reps, quick):
    info = res["machine"]
    lines = []
    add = lines.append
    add("# encrypted_column benchmark results")
    add("")
    if quick:
        add("**Quick run: small tables and few repetitions, not representative.**")
        add("")
    add(f"Run {res['started']} to {res['finished']} (UTC), "
        f"load average {res['load_before']} before and {res['load_after']} after. "
        f"Each number is the median of {reps} repetitions, min–max in parentheses; "
        "variants are interleaved within each repetition and every ratio pairs two "
        "measurements of the same repetition.")
    add("")
    if "fsync = off" in info["settings"]:
        add("fsync is off, for every variant alike: the WAL is still written but no "
            "statement waits for the disk. `bash bench/run.sh` measures with fsync on.")
    else:
        add("Durability settings are PostgreSQL's defaults (fsync, synchronous_commit and "
            "full_page_writes on), so every INSERT includes writing and flushing its WAL. "
            "`BENCH_FSYNC=off bash bench/run.sh` takes the disk out.")
    add("")
    add("## Targets")
    add("")
    add("| target | goal | measured | |")
    add("|---|---|---|---|")
    for name, target, measured, verdict in target_rows(res):
        add(f"| {name} | {target} | {measured} | {verdict} |")
    add("")
    for size, size_label, _ in SIZES:
        for op in ("insert", "scan"):
            s = res[size][op]
            add(f"## {OP_LABEL[op]}, {size_label} values")
            add("")
            if op == "insert":
                add(f"`INSERT INTO t SELECT <expression> FROM source` of {n[size]:,} rows "
                    f"(pgp_sym_encrypt: {rows_for(n, size, 'pgp'):,} rows, per-value numbers "
                    "scaled) into a new one-column table, with a CHECKPOINT and a sync() "
                    "before each statement, untimed.  The source tables carry a row number besides the "
                    "value, so every variant builds its tuples from selected values, as an "
                    "INSERT or COPY from a client does.")
            else:
                add("`SELECT sum(<expression>) FROM t` over the tables the last INSERT "
                    "repetition filled, after VACUUM ANALYZE and one untimed warm-up scan. "
                    "Every scan ends in length() of a text, which counts characters; "
                    "pgcrypto's decrypt() returns bytea, which convert_from turns into text.")
            add("")
            add("| variant | expression | rows/s | ns per value | ns per value over plain "
                "| ratio to plain | bytes/row |")
            add("|---|---|---|---|---|---|---|")
            for key, label, _, _, ins_expr, scan_expr in VARIANTS:
                if key not in s:
                    continue    # a run from before the variant existed
                v = s[key]
                expr = ins_expr if op == "insert" else f"sum({scan_expr})"
                expr = expr.replace(AES_KEY, "key")
                over = "—" if key == "plain" else cell(v["ns_over_plain"])
                ratio = "1" if key == "plain" else cell(v["ratio"], 2, "x")
                size_b = res[size]["sizes"][key]["bytes_per_row"]
                add(f"| {label} | `{expr}` | {cell(v['rows_per_s'])} | "
                    f"{cell(v['ns_per_value'])} | {over} | {ratio} | {size_b:.0f} |")
            add("")
    add("## Table size")
    add("")
    add("`pg_total_relation_size` per row (heap, line pointer, tuple header, TOAST) "
        "and the average stored value (`pg_column_size`).")
    add("")
    add("| variant | 22 B: bytes/row | 22 B: value bytes | 1 KiB: bytes/row | 1 KiB: value bytes |")
    add("|---|---|---|---|---|")
    for key, label, *_ in VARIANTS:
        if key not in res["email"]["sizes"]:
            continue
        a, b = res["email"]["sizes"][key], res["1k"]["sizes"][key]
        add(f"| {label} | {a['bytes_per_row']:.1f} | {a['value_bytes']:.1f} | "
            f"{b['bytes_per_row']:.1f} | {b['value_bytes']:.1f} |")
    add("")
    add("## Memory of one backend during one query")
    add("")
    add("Private memory (`RssAnon` in `/proc/<pid>/status`) of the backend running the "
        "query, sampled every 50 ms; shared buffers are not private memory. "
        "The queries run with `enable_material = off`, so that each pass rescans the "
        "table instead of keeping a copy of it in work_mem.")
    add("")
    add("| query | values | seconds | before | peak | after | growth |")
    add("|---|---|---|---|---|---|---|")
    for m in res["memory"]:
        add(f"| {m['label']} | {m['values']:,} | {m['seconds']:.1f} | "
            f"{m['before_kb']['RssAnon'] / 1024:.1f} MiB | {m['peak_rss_anon_kb'] / 1024:.1f} MiB | "
            f"{m['after_kb']['RssAnon'] / 1024:.1f} MiB | {m['growth_kb']:+d} KiB |")
    add("")
    for m in res["memory"]:
        add(f"- {m['label']}: `{m['sql']}`")
    add("")
    floor = res.get("floor")
    if floor:
        add("## The floor: the crypto layer without PostgreSQL")
        add("")
        add("`bench/gcm_floor.c` calls the extension's own `ec_gcm_next_nonce`, `ec_gcm_seal` "
            "and `ec_gcm_open` (src/crypto.c) in a C loop: one key, contexts expanded once "
            "and reused, a nonce from the pool and the 6-byte header as associated data.")
        add("")
        add("| value size | seal (nonce + encrypt + tag), ns | open (decrypt + verify), ns |")
        add("|---|---|---|")
        for size, v in floor["sizes"].items():
            add(f"| {size} B | {cell(v['seal_ns'], 0)} | {cell(v['open_ns'], 0)} |")
        add("")
    add("## Machine")
    add("")
    add(f"- CPU: {info['cpu']}, {info['cores']} cores, "
        f"flags {' '.join(info['cpu_flags'])}; {info['memory_gib']} GiB memory")
    add(f"- {info['os']}, Linux {info['kernel']}")
    add(f"- {info['postgresql']}; pgcrypto {info['pgcrypto']}")
    if floor:
        add(f"- {floor['openssl']}")
    add("- Server settings, the same for every variant, as the server reported them:")
    for s in info["settings"]:
        add(f"  - `{s}`")
    add("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_chart(outdir, work, res, reps):
    """Grouped bars of the ratio to plain, and the memory over time."""
    dat = os.path.join(work, "ratios.dat")
    with open(dat, "w") as f:
        f.write("# group enc(med min max) pgcrypto(med min max) pgp(med min max)\n")
        for size, size_label, _ in SIZES:
            for op in ("insert", "scan"):
                s = res[size][op]
                name = ("INSERT " if op == "insert" else "scan ") + size_label
                vals = []
                for key in ("enc", "pgcrypto", "pgp"):
                    vals += s[key]["ratio"]
                f.write(f'"{name}" ' + " ".join(f"{v:.4f}" for v in vals) + "\n")
    mem = []
    for i, m in enumerate(res["memory"]):
        p = os.path.join(work, f"memory{i}.dat")
        with open(p, "w") as f:
            for t, anon, _ in m["samples"]:
                f.write(f"{t:.3f} {anon / 1024:.2f}\n")
        mem.append((p, m["label"]))
    chart = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chart.gp")
    png = os.path.join(outdir, "chart.png")
    mem_plot = ", ".join(f"'{p}' using 1:2 with lines lw 2 title '{label}' noenhanced"
                         for p, label in mem)
    subprocess.run(["gnuplot", "-e",
                    f"ratios='{dat}'; out='{png}'; reps={reps}; "
                    f"values='{res['rows']['memory_values']:,}'; "
                    f"memplot=\"{mem_plot}\"",
                    chart], check=True)

# ---- encrypted_text_det: lookups, INSERT overhead, a rotation ----------

# key, label, column type, index, lookup condition on the column c for the
# text value x (the form the Python type EncryptedTextDet sends for
# det), session's previous_keys
LOOKUPS = [
    ("plain", "text, btree index", "text", "CREATE INDEX ON {t} (c)", "c = {x}", None),
    ("det", "encrypted_text_det, unique index", "encrypted_text_det",
     "CREATE UNIQUE INDEX ON {t} (c)", "c = ANY (encrypt_det_all({x}))", None),
    ("det_rot", "encrypted_text_det, unique index, one previous key loaded",
     "encrypted_text_det", None, "c = ANY (encrypt_det_all({x}))", "prev"),
    ("enc", "encrypted_text, decrypt() in the filter", "encrypted_text", None,
     "decrypt(c) = {x}", None),
]


# Distinct email-like values of about 22 bytes, in SQL and in Python.
UNIQUE_EMAIL = "i || '.' || substr(md5(i::text), 1, 4) || '@example.com'"


def unique_email(i):
    return f"{i}.{hashlib.md5(str(i).encode()).hexdigest()[:4]}@example.com"


def setup_lookups(cur, n):
    rows = n["lookup_rows"]
    log(f"lookup tables: {rows:,} rows each")
    cur.execute("DROP TABLE IF EXISTS lk_src")
    cur.execute(f"CREATE TABLE lk_src AS SELECT i, {UNIQUE_EMAIL} AS v "
                f"FROM generate_series(1, {rows}) AS i")
    for key, _, ctype, index, _, _ in LOOKUPS:
        if key == "det_rot":
            continue        # the det table, read by a session with a previous key
        t = f"lk_{key}"
        cur.execute(f"DROP TABLE IF EXISTS {t}")
        cur.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, c {ctype})")
        cur.execute(f"INSERT INTO {t} SELECT i, v FROM lk_src")
        if index:
            cur.execute(index.format(t=t))
        cur.execute(f"VACUUM ANALYZE {t}")
    # the values to look up: a fixed pseudo-random sample, all present
    cur.execute("DROP TABLE IF EXISTS lk_probe")
    cur.execute(f"CREATE TABLE lk_probe AS SELECT row_number() OVER () AS k, v FROM "
                f"(SELECT v FROM lk_src ORDER BY md5(v) LIMIT {n['lookups']}) s")
    cur.execute("VACUUM ANALYZE lk_probe")
    cur.execute("SELECT v FROM lk_probe ORDER BY k")
    return [r[0] for r in cur.fetchall()]


def lookup_table(key):
    return "lk_det" if key == "det_rot" else f"lk_{key}"


def bench_lookups(args, n, reps, probes):
    """Lookups of one row by value: in one statement and one per statement.

    Server: one statement runs k lookups as a nested loop over the probe
    values (a parameterised index scan per value), so the time per lookup
    is the executor's alone.  Client: one statement per lookup with the
    value as a parameter, as psycopg2 and SQLAlchemy send it (parsed and
    planned each time), round trip included.  The decrypting
    scan reads every row per lookup, so it runs only scan_lookups times.
    """
    conns = {}
    # one lookup per probe: a nested loop, never one pass with a hash
    loop_only = " -c enable_hashjoin=off -c enable_mergejoin=off -c enable_material=off"
    for key, *_, prev in LOOKUPS:
        conns[key] = connect(args, previous=EC_KEY_NEW if prev else None,
                             settings=loop_only)
    plans = {}
    one_sql = {key: f"SELECT id FROM {lookup_table(key)} WHERE " + cond.format(x="%s::text")
               for key, _, _, _, cond, _ in LOOKUPS}
    one_plan = {}
    server = {key: [] for key, *_ in LOOKUPS}
    client = {key: [] for key, *_ in LOOKUPS}
    k = n["lookups"]
    kc = n["client_lookups"]
    ks = n["scan_lookups"]
    for r in range(reps + 1):
        this = {}
        for key, *_ in rotated(LOOKUPS, r):
            cur = conns[key].cursor()
            cond = next(l[4] for l in LOOKUPS if l[0] == key)
            t = lookup_table(key)
            count = ks if key == "enc" else k
            sql = (f"SELECT count(x.id) FROM (SELECT v FROM lk_probe WHERE k <= {count}) p, "
                   f"LATERAL (SELECT id FROM {t} WHERE {cond.format(x='p.v')}) x")
            if r == 0:
                cur.execute("EXPLAIN " + sql)
                plans[key] = "\n".join(row[0] for row in cur.fetchall())
            secs, row = timed(cur, sql)
            if row[0] != count:
                sys.exit(f"lookup {key}: found {row[0]} of {count} rows")
            this[key] = secs / count * 1e6
            cc = min(kc, ks) if key == "enc" else kc
            if r == 0:
                cur.execute("EXPLAIN (ANALYZE, TIMING OFF) " + one_sql[key], (probes[0],))
                one_plan[key] = "\n".join(row[0] for row in cur.fetchall())
            t0 = time.perf_counter()
            for v in probes[:cc]:
                cur.execute(one_sql[key], (v,))
                if cur.fetchone() is None:
                    sys.exit(f"lookup {key}: no row for a probe")
            csecs = (time.perf_counter() - t0) / cc * 1e6
            if r > 0:
                server[key].append(this[key])
                client[key].append(csecs)
        log(f"  lookups, repetition {r}{' (warm-up)' if r == 0 else ''}: "
            + ", ".join(f"{key} {us:.1f} us" for key, us in sorted(this.items())))
    for c in conns.values():
        c.close()
    out = {"plans": plans, "one_plans": one_plan}
    for name, times in (("server", server), ("client", client)):
        out[name] = {key: {"us": med_min_max(v),
                           "ratio_to_plain": med_min_max(
                               [a / b for a, b in zip(v, times["plain"])])}
                     for key, v in times.items()}
        out[name]["enc_over_det"] = med_min_max(
            [a / b for a, b in zip(times["enc"], times["det"])])
    return out


def bench_rotation(args, n):
    """Rotate rotation_rows rows in committed batches while a second session works.

    The second session (key: the new one, previous_keys: the old one, as
    every application session during the window) loops over a lookup by
    value, an INSERT of a new user and an UPDATE of one random user's
    last_login, and records each statement's latency; a third samples
    pg_locks for waiting lock requests.  Its latencies are recorded for a
    few seconds before the rotation too (the baseline).
    """
    rows, batch = n["rotation_rows"], n["rotation_batch"]
    conn = connect(args)
    cur = conn.cursor()
    log(f"rotation: {rows:,} rows under the old key, batches of {batch:,}")
    cur.execute("DROP TABLE IF EXISTS rot")
    cur.execute("CREATE TABLE rot (id int PRIMARY KEY, email encrypted_text_det UNIQUE, "
                "last_login timestamptz)")
    cur.execute(f"INSERT INTO rot SELECT i, {UNIQUE_EMAIL}, now() "
                f"FROM generate_series(1, {rows}) AS i")
    cur.execute("VACUUM ANALYZE rot")
    quiesce(cur)
    conn.close()

    stop = threading.Event()
    rotating = threading.Event()
    samples = {"baseline": [], "during": []}
    counts = {"lookup": 0, "insert": 0, "update": 0, "found": 0}
    waits = []

    def worker():
        c = connect(args, key=EC_KEY_NEW, previous=EC_KEY)
        wc = c.cursor()
        wc.execute("PREPARE look(text) AS SELECT id FROM rot WHERE email = ANY (encrypt_det_all($1))")
        wc.execute("PREPARE ins(int, text) AS INSERT INTO rot VALUES ($1, $2, now())")
        wc.execute("PREPARE upd(int) AS UPDATE rot SET last_login = now() WHERE id = $1")
        i = 0
        while not stop.is_set():
            i += 1
            j = (i * 7919) % rows + 1
            phase = "during" if rotating.is_set() else "baseline"
            for op, sql, params in (
                    ("lookup", "EXECUTE look(%s)", (unique_email(j),)),
                    ("insert", "EXECUTE ins(%s, %s)", (rows + i, f"new{i}@example.org")),
                    ("update", "EXECUTE upd(%s)", (j,))):
                t0 = time.perf_counter()
                wc.execute(sql, params)
                if op == "lookup":
                    counts["found"] += wc.fetchone() is not None
                samples[phase].append((op, time.perf_counter() - t0))
                counts[op] += 1
        c.close()

    def lock_sampler():
        c = connect(args)
        sc = c.cursor()
        while not stop.is_set():
            sc.execute("SELECT coalesce(max(extract(epoch FROM clock_timestamp() - waitstart)), 0), "
                       "count(*) FROM pg_locks WHERE NOT granted")
            w, nwait = sc.fetchone()
            waits.append((float(w), nwait))
            stop.wait(0.01)
        c.close()

    threads = [threading.Thread(target=worker), threading.Thread(target=lock_sampler)]
    for th in threads:
        th.start()
    time.sleep(3)
    rot = connect(args, key=EC_KEY_NEW, previous=EC_KEY)
    rc = rot.cursor()
    rotating.set()
    batches = []
    t_start = time.perf_counter()
    for low in range(1, rows + 1, batch):
        t0 = time.perf_counter()
        rc.execute("UPDATE rot SET email = reencrypt(email) WHERE id BETWEEN %s AND %s "
                   "AND key_id(email) <> current_key_id()", (low, low + batch - 1))
        batches.append(time.perf_counter() - t0)
        if len(batches) % max(1, len(range(1, rows + 1, batch)) // 10) == 0:
            log(f"  rotated {min(low + batch - 1, rows):,} of {rows:,} rows")
    total = time.perf_counter() - t_start
    rotating.clear()
    stop.set()
    for th in threads:
        th.join()
    rc.execute("SELECT count(*) FILTER (WHERE key_id(email) = current_key_id()), count(*) FROM rot")
    moved, all_rows = rc.fetchone()
    rot.close()
    if moved != all_rows:
        sys.exit(f"rotation left {all_rows - moved} rows under the old key")

    def stats(phase, op):
        lat = sorted(t for o, t in samples[phase] if o == op)
        if not lat:
            return None
        return {"n": len(lat), "median_ms": statistics.median(lat) * 1e3,
                "p99_ms": lat[int(len(lat) * 0.99)] * 1e3, "max_ms": lat[-1] * 1e3}

    out = {"rows": rows, "batch": batch, "batches": len(batches), "seconds": total,
           "rows_per_s": rows / total,
           "batch_ms": med_min_max([b * 1e3 for b in batches]),
           "lookups_found": counts["found"], "lookups": counts["lookup"],
           "longest_lock_wait_ms": max([w for w, _ in waits] + [0]) * 1e3,
           "lock_samples": len(waits),
           "samples_with_waiters": sum(1 for _, c in waits if c),
           "latency": {phase: {op: stats(phase, op) for op in ("lookup", "insert", "update")}
                       for phase in ("baseline", "during")}}
    if counts["found"] != counts["lookup"]:
        sys.exit(f"rotation: {counts['lookup'] - counts['found']} lookups found nothing")
    log(f"  rotation: {total:.1f}s, batches {out['batch_ms'][0]:.0f} ms (max "
        f"{out['batch_ms'][2]:.0f}), longest lock wait seen {out['longest_lock_wait_ms']:.0f} ms")
    return out


def det_target_rows(res):
    lk = res["lookups"]["server"]
    rows = [
        ("lookup of one row (server), encrypted_text_det / plain text", "≤ 1.5x",
         lk["det"]["ratio_to_plain"], 2, "x", lambda m: m <= 1.5),
        ("lookup of one row (server), decrypting scan / encrypted_text_det", "≥ 100x",
         lk["enc_over_det"], 0, "x", lambda m: m >= 100),
    ]
    for size, label in (("email", "22 B"), ("1k", "1 KiB")):
        if size in res:
            rows.append((f"INSERT {label}: overhead of encrypted_text_det / encrypted_text's",
                         "≤ 2x", res[size]["insert"]["det_over_enc"], 2, "x",
                         lambda m: m <= 2))
    return [(name, target, cell(m, d, s), "met" if ok(m[0]) else "**missed**")
            for name, target, m, d, s, ok in rows]


def write_det_markdown(path, res, n, reps, quick):
    lines = []
    add = lines.append
    add("# encrypted_text_det benchmark results")
    add("")
    if quick:
        add("**Quick run: small tables and few repetitions, not representative.**")
        add("")
    add(f"Run {res['started']} to {res['finished']} (UTC), load average "
        f"{res['load_before']} before and {res['load_after']} after"
        + (" (the machine was running other work: numbers stray more than on an idle one)"
           if float(res['load_before'].split()[0]) > 0.5 else "")
        + f". Medians of {reps} repetitions, min–max in parentheses; variants interleaved "
        "in a rotating order, every ratio paired within a repetition. "
        "`bash bench/run.sh --det` reproduces it.")
    add("")
    add("## Targets")
    add("")
    add("| target | goal | measured | |")
    add("|---|---|---|---|")
    for name, target, measured, verdict in det_target_rows(res):
        add(f"| {name} | {target} | {measured} | {verdict} |")
    add("")
    lk = res["lookups"]
    add(f"## Lookup of one row by value, {n['lookup_rows']:,} rows")
    add("")
    add(f"Server: one statement looks up {n['lookups']:,} present values (the decrypting "
        f"scan: {n['scan_lookups']}) as a nested loop, time per lookup. Client: one "
        f"statement per lookup (psycopg2, the value as a parameter, parsed and planned "
        f"each time) over a Unix socket, {n['client_lookups']:,} lookups (decrypting "
        "scan: as many as the server column), round trip included.")
    add("")
    add("| variant | condition | server, µs | ratio to plain | client, µs | ratio to plain |")
    add("|---|---|---|---|---|---|")
    for key, label, _, _, cond, _ in LOOKUPS:
        sv, cl = lk["server"][key], lk["client"][key]
        add(f"| {label} | `{cond.format(x='$1')}` | {cell(sv['us'], 1)} | "
            f"{cell(sv['ratio_to_plain'], 2, 'x')} | {cell(cl['us'], 1)} | "
            f"{cell(cl['ratio_to_plain'], 2, 'x')} |")
    add("")
    for key in ("det", "det_rot"):
        add(f"Plan ({key}):")
        add("")
        add("```")
        add(lk["plans"][key])
        add("```")
        add("")
    for key, *_ in LOOKUPS:
        add(f"One lookup as the client sends it, `EXPLAIN (ANALYZE, TIMING OFF)` ({key}):")
        add("")
        add("```")
        add(lk["one_plans"][key])
        add("```")
        add("")
    for size, label, _ in SIZES:
        if size not in res:
            continue
        s = res[size]["insert"]
        add(f"## INSERT of {label} values")
        add("")
        add(f"`INSERT INTO t SELECT v FROM source`, {n[size]:,} rows into a new table without "
            "an index, as in results.md.")
        add("")
        add("| variant | ns per value | ns over plain | ratio to plain |")
        add("|---|---|---|---|")
        for key, vlabel, *_ in VARIANTS:
            v = s[key]
            add(f"| {vlabel} | {cell(v['ns_per_value'])} | "
                f"{'—' if key == 'plain' else cell(v['ns_over_plain'])} | "
                f"{'1' if key == 'plain' else cell(v['ratio'], 2, 'x')} |")
        add(f"| overhead of encrypted_text_det / encrypted_text's | "
            f"{cell(s['det_over_enc'], 2, 'x')} | | |")
        add("")
    rot = res["rotation"]
    add(f"## Rotation of {rot['rows']:,} rows")
    add("")
    add(f"`UPDATE rot SET email = reencrypt(email) WHERE id BETWEEN lo AND hi AND "
        f"key_id(email) <> current_key_id()` in {rot['batches']} committed batches of "
        f"{rot['batch']:,} rows (autocommit), on a table with a unique index on the "
        "column; meanwhile a second session with the new key and the old one in "
        "previous_keys loops over a lookup by value, an INSERT of a new user and an "
        "UPDATE of a random user's last_login, and a third samples pg_locks every 10 ms.")
    add("")
    add(f"- total {rot['seconds']:.1f} s ({rot['rows_per_s']:,.0f} rows/s); per batch "
        f"{cell(rot['batch_ms'], 0)} ms")
    add(f"- longest wait for a lock seen in pg_locks: {rot['longest_lock_wait_ms']:.0f} ms "
        f"({rot['samples_with_waiters']} of {rot['lock_samples']} samples saw a waiter)")
    add(f"- the second session's lookups, before and during the rotation: "
        f"{rot['lookups_found']:,} of {rot['lookups']:,} found their row (old or new key)")
    add("")
    add("| second session | baseline: median / p99 / max, ms | during: median / p99 / max, ms |")
    add("|---|---|---|")
    for op in ("lookup", "insert", "update"):
        cells = []
        for phase in ("baseline", "during"):
            st = rot["latency"][phase][op]
            cells.append("—" if st is None else
                         f"{st['median_ms']:.2f} / {st['p99_ms']:.2f} / {st['max_ms']:.1f} "
                         f"({st['n']:,})")
        add(f"| {op} | {cells[0]} | {cells[1]} |")
    add("")
    floor = res.get("floor")
    if floor and "siv" in floor:
        add("## The floor: the crypto layer without PostgreSQL")
        add("")
        add("| value size | GCM seal, ns | GCM open, ns | SIV seal, ns | SIV open, ns |")
        add("|---|---|---|---|---|")
        for size in floor["sizes"]:
            g, v = floor["sizes"][size], floor["siv"][size]
            add(f"| {size} B | {cell(g['seal_ns'])} | {cell(g['open_ns'])} | "
                f"{cell(v['seal_ns'])} | {cell(v['open_ns'])} |")
        add("")
    info = res["machine"]
    add("## Machine")
    add("")
    add(f"- CPU: {info['cpu']}, {info['cores']} cores; {info['memory_gib']} GiB memory")
    add(f"- {info['os']}, Linux {info['kernel']}; {info['postgresql']}")
    if floor:
        add(f"- {floor['openssl']}")
    add("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main_det(args, n, reps, outdir):
    """--det: the deterministic type's benchmarks alone."""
    global VARIANTS
    VARIANTS = [v for v in VARIANTS if v[0] in ("plain", "enc", "det")]
    res = {"started": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
           "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
           "rows": n, "reps": reps}
    log("timing the crypto layer alone (bench/gcm_floor.c)")
    res["floor"] = run_floor(args.floor, reps)
    conn = connect(args)
    cur = conn.cursor()
    setup(cur, n, with_pgcrypto=False)
    res["machine"] = machine_info(cur, args)
    for size, size_label, _ in SIZES:
        res[size] = {}
        log(f"INSERT of {size_label} values")
        times = {key: [] for key, *_ in VARIANTS}
        bench_inserts(cur, n, size, reps, times)
        res[size]["insert"] = summarise(n, size, "insert", times)
        for key, *_ in VARIANTS:
            cur.execute(f"DROP TABLE bench_{size}_{key}")
    probes = setup_lookups(cur, n)
    conn.close()
    log("lookups of one row by value")
    res["lookups"] = bench_lookups(args, n, reps, probes)
    res["rotation"] = bench_rotation(args, n)
    res["finished"] = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    res["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with open(os.path.join(outdir, "det_raw.json"), "w") as f:
        json.dump(res, f, indent=1)
    write_det_markdown(os.path.join(outdir, "det.md"), res, n, reps, args.quick)
    log(f"results in {outdir}: det.md, det_raw.json")
    print()
    for name, target, measured, verdict in det_target_rows(res):
        print(f"{verdict:>10}  {name}: {measured} (goal {target})")



def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", help="socket folder of the cluster")
    ap.add_argument("--port")
    ap.add_argument("--quick", action="store_true",
                    help="small tables and 3 repetitions; output to a temporary folder")
    ap.add_argument("--reps", type=int, help="repetitions (default 9, quick 3)")
    ap.add_argument("--out", help="output folder (default bench/results)")
    ap.add_argument("--det", action="store_true",
                    help="only the encrypted_text_det benchmarks (lookups, INSERT, "
                         "rotation); writes det.md and det_raw.json")
    ap.add_argument("--floor", help="the gcm_floor program")
    ap.add_argument("--work", default=tempfile.gettempdir(), help="scratch folder")
    ap.add_argument("--replot", metavar="DIR",
                    help="only rewrite DIR/results.md and DIR/chart.png from DIR/raw.json "
                         "(with --det: DIR/det.md from DIR/det_raw.json)")
    args = ap.parse_args()

    if args.replot and args.det:
        with open(os.path.join(args.replot, "det_raw.json")) as f:
            res = json.load(f)
        VARIANTS[:] = [v for v in VARIANTS if v[0] in ("plain", "enc", "det")]
        write_det_markdown(os.path.join(args.replot, "det.md"), res, res["rows"],
                           res["reps"], res["rows"] == QUICK)
        return
    if args.replot:
        with open(os.path.join(args.replot, "raw.json")) as f:
            res = json.load(f)
        write_markdown(os.path.join(args.replot, "results.md"), res, res["rows"],
                       res["reps"], res["rows"] == QUICK)
        write_chart(args.replot, args.work, res, res["reps"])
        return
    if not args.host or not args.port:
        ap.error("--host and --port are required")

    n = dict(QUICK if args.quick else FULL)
    reps = args.reps or n["reps"]
    if args.out:
        outdir = args.out
    elif args.quick:
        outdir = tempfile.mkdtemp(prefix="ec-bench-quick.")
    else:
        outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(outdir, exist_ok=True)
    if args.det:
        main_det(args, n, reps, outdir)
        return

    res = {"started": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
           "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
           "rows": n, "reps": reps}
    if os.getloadavg()[0] > 0.5:
        log(f"warning: load average {os.getloadavg()[0]:.2f}; other work adds noise")
    log("timing the crypto layer alone (bench/gcm_floor.c)")
    res["floor"] = run_floor(args.floor, reps)
    conn = connect(args)
    cur = conn.cursor()
    setup(cur, n)
    res["machine"] = machine_info(cur, args)
    expected = {"email": 22, "1k": 1024}
    for size, size_label, _ in SIZES:
        res[size] = {}
        log(f"INSERT of {size_label} values")
        times = {key: [] for key, *_ in VARIANTS}
        bench_inserts(cur, n, size, reps, times)
        res[size]["insert"] = summarise(n, size, "insert", times)
        res[size]["sizes"] = table_sizes(cur, n, size)
        log(f"decrypting scans of {size_label} values")
        times = {key: [] for key, *_ in VARIANTS}
        bench_scans(cur, n, size, reps, times, expected[size])
        res[size]["scan"] = summarise(n, size, "scan", times)
    conn.close()
    log(f"memory of one backend over {n['memory_values']:,} values")
    bench_memory(args, n, res)
    res["finished"] = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    res["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    with open(os.path.join(outdir, "raw.json"), "w") as f:
        json.dump(res, f, indent=1)
    write_markdown(os.path.join(outdir, "results.md"), res, n, reps, args.quick)
    write_chart(outdir, args.work, res, reps)
    log(f"results in {outdir}: results.md, chart.png, raw.json")
    print()
    for name, target, measured, verdict in target_rows(res):
        print(f"{verdict:>10}  {name}: {measured} (goal {target})")


if __name__ == "__main__":
    main()
