-- What reaches disk: after CHECKPOINT, the table's heap and TOAST files and
-- the WAL hold no plaintext.  A plain text table is the control that shows
-- the search would find it.
-- standalone: install the extension unless an earlier file did
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS encrypted_column;
RESET client_min_messages;
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
SET encrypted_column.key = :'k1';
CREATE TABLE stored_enc (id int, enc encrypted_text);
CREATE TABLE stored_plain (id int, v text);
INSERT INTO stored_enc SELECT i, 'heap-marker-' || i || '@example.com' FROM generate_series(1, 200) i;
INSERT INTO stored_enc SELECT 0, repeat('toast-marker-', 20000);
INSERT INTO stored_plain SELECT i, 'control-marker-' || i FROM generate_series(1, 200) i;
CHECKPOINT;

-- a relation's main fork, all segments (these tables have one)
CREATE FUNCTION relation_bytes(rel regclass) RETURNS bytea LANGUAGE sql AS $$
	SELECT pg_read_binary_file(pg_relation_filepath(rel))
$$;
SELECT octet_length(relation_bytes('stored_enc')) > 0 AS heap_read,
       position('heap-marker'::bytea IN relation_bytes('stored_enc')) = 0 AS heap_clean;
SELECT position('toast-marker'::bytea IN relation_bytes(reltoastrelid::regclass)) = 0 AS toast_clean,
       octet_length(relation_bytes(reltoastrelid::regclass)) > 200000 AS toast_holds_value
FROM pg_class WHERE oid = 'stored_enc'::regclass;
SELECT position('control-marker'::bytea IN relation_bytes('stored_plain')) > 0 AS control_found;

-- every WAL segment of the cluster
SELECT count(*) > 0 AS segments_read,
       bool_and(position('heap-marker'::bytea IN seg) = 0) AS wal_clean,
       bool_and(position('toast-marker'::bytea IN seg) = 0) AS wal_toast_clean,
       bool_or(position('control-marker'::bytea IN seg) > 0) AS wal_control_found
FROM (SELECT pg_read_binary_file('pg_wal/' || name) AS seg
      FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$') s;

-- values stay readable
SELECT count(*) FILTER (WHERE decrypt(enc) LIKE 'heap-marker-%') AS readable,
       max(length(decrypt(enc))) AS longest
FROM stored_enc;
-- stored size: the envelope adds 34 bytes to the plaintext, plus a
-- one-byte varlena header for short values
SELECT pg_column_size(enc) - octet_length(decrypt(enc)) AS stored_overhead
FROM stored_enc WHERE id = 1;
