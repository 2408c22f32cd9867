-- Schema of the crash test.  payload() makes every plaintext from its
-- coordinates, so the verifier knows what each committed transaction wrote;
-- one value in 25 is long enough to be stored out of line (TOAST).
CREATE EXTENSION encrypted_column;
CREATE EXTENSION amcheck;

CREATE FUNCTION payload(e int, c int, s int, g int) RETURNS text
IMMUTABLE PARALLEL SAFE LANGUAGE sql
AS $$ SELECT 'crash-' || e || '-' || c || '-' || s || '-' || g || '-' ||
	repeat(md5(e || '/' || c || '/' || s || '/' || g),
		CASE WHEN s % 25 = 0 THEN 100 ELSE 1 + s % 3 END) $$;

CREATE TABLE ledger (
	epoch int,
	client int,
	seq int,
	gen int NOT NULL,
	v encrypted_text NOT NULL,
	PRIMARY KEY (epoch, client, seq)
);
CREATE INDEX ledger_gen ON ledger (gen, epoch);

CREATE TABLE stock (
	epoch int,
	client int,
	seq int,
	v encrypted_text NOT NULL,
	PRIMARY KEY (epoch, client, seq)
);

CREATE TABLE hot (bucket int PRIMARY KEY, n bigint NOT NULL, v encrypted_text NOT NULL);
INSERT INTO hot SELECT b, 0, encrypt('0') FROM generate_series(0, 3) b;

CREATE TABLE ghost (epoch int, client int, seq int, v encrypted_text);

-- per-client acknowledged transaction counts, read from pgbench's logs
CREATE TABLE acked (epoch int, client int, acked int, PRIMARY KEY (epoch, client));
