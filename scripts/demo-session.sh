#!/usr/bin/env bash
# The demo itself, inside the throwaway cluster that scripts/demo.sh starts.
set -euo pipefail

say() { printf '\n== %s\n' "$*"; }

# A fresh random 256-bit key, handed to each session as a connection
# option: it never appears in an SQL statement.
key=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
with_key=(env PGOPTIONS="-c encrypted_column.key=$key" psql -X -q -v ON_ERROR_STOP=1)
without_key=(psql -X -q -v ON_ERROR_STOP=1)

say "Create the extension and a table with an encrypted_text column"
"${without_key[@]}" -e <<'SQL'
CREATE EXTENSION encrypted_column;
CREATE TABLE users (id int PRIMARY KEY, name text, email encrypted_text);
SQL

say "Insert plain strings; the backend encrypts them with the session's key"
"${with_key[@]}" -e <<'SQL'
INSERT INTO users VALUES
	(1, 'Alice', 'alice@example.com'),
	(2, 'Bob', 'bob@example.org'),
	(3, 'Chandra', 'chandra.k@example.net');
SQL

say "What is stored (and what SELECT *, pg_dump and replicas see) next to decrypt()"
"${with_key[@]}" -e <<'SQL'
\pset format aligned
SELECT id, name, email AS stored, decrypt(email), key_id(email) FROM users ORDER BY id;
SHOW encrypted_column.key;
SQL

say "A session without the key gets ciphertext and a clear error"
"${without_key[@]}" -e -v ON_ERROR_STOP=0 <<'SQL'
SELECT left(email::text, 40) || '...' AS stored FROM users WHERE id = 1;
SELECT decrypt(email) FROM users WHERE id = 1;
SQL

say "A deterministic column: looked up through a unique index, duplicates refused"
"${with_key[@]}" -e -v ON_ERROR_STOP=0 <<'SQL'
\pset format aligned
CREATE TABLE accounts (id int PRIMARY KEY, email encrypted_text_det UNIQUE);
INSERT INTO accounts SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 10000) i;
ANALYZE accounts;
EXPLAIN (COSTS OFF) SELECT id FROM accounts WHERE email = 'user42@example.com'::text;
SELECT id, decrypt(email) FROM accounts WHERE email = 'user42@example.com'::text;
INSERT INTO accounts VALUES (10001, 'user42@example.com');
SQL

say "Search: LIKE and a date range through indexes, rechecked by decrypting"
"${with_key[@]}" -e -v ON_ERROR_STOP=0 <<'SQL'
\pset format aligned
CREATE TABLE patients (id int PRIMARY KEY, name encrypted_text(trigram), born encrypted_date(range, 30));
INSERT INTO patients SELECT i, 'patient ' || i, date '1940-01-01' + (i * 7919) % 29000 FROM generate_series(1, 20000) i;
CREATE INDEX ON patients USING gin (name);
CREATE INDEX ON patients (born encrypted_date_range_ops);
ANALYZE patients;
EXPLAIN (COSTS OFF) SELECT id FROM patients WHERE name LIKE 'patient 1234%';
SELECT id, decrypt(name) FROM patients WHERE name LIKE 'patient 1234%' ORDER BY id;
SELECT count(*) FROM patients WHERE born BETWEEN date '1980-01-01' AND date '1980-01-31';
SELECT id, decrypt(born) FROM patients ORDER BY born LIMIT 3;
SELECT scheme, parameter, rows, distinct_terms, warning FROM leakage_report('patients', 'born');
SQL

say "After CHECKPOINT, the table's file on disk holds no plaintext"
"${with_key[@]}" -c 'CHECKPOINT'
datafile="$("${without_key[@]}" -At -c "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('users')")"
for word in alice@example.com bob@example.org Alice; do
	if grep -q -a -F "$word" "$datafile"; then
		echo "  $word: found in the heap file"
	else
		echo "  $word: not in the heap file"
	fi
done
echo "  (the name column is plain text, so 'Alice' is found: the control)"

say "Done: the throwaway cluster is dropped now"
