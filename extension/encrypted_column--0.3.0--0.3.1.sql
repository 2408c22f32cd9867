/* encrypted_column 0.3.0 -> 0.3.1: fixes from the second outside review */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit

-- 0.3.1: prepared lookups of encrypted_text_det cost about what plain text
-- lookups cost.
--
-- The comparison and hash functions of the operator classes become C
-- functions of the module that hand each call to the bytea function.
-- Declared LANGUAGE internal under the bytea function's name, fmgr found
-- them only by a search of the built-in functions' names, on every lookup
-- of each (each index scan key); a C function is found by its OID once
-- loaded.  Same results, signatures, operators and operator classes.
CREATE OR REPLACE FUNCTION encrypted_text_det_eq(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_ne(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_lt(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_le(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_ge(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_gt(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.bool AS 'MODULE_PATHNAME', 'encrypted_text_det_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_cmp(encrypted_text_det, encrypted_text_det)
	RETURNS pg_catalog.int4 AS 'MODULE_PATHNAME', 'encrypted_text_det_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_hash(encrypted_text_det)
	RETURNS pg_catalog.int4 AS 'MODULE_PATHNAME', 'encrypted_text_det_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION encrypted_text_det_hash_extended(encrypted_text_det, pg_catalog.int8)
	RETURNS pg_catalog.int8 AS 'MODULE_PATHNAME', 'encrypted_text_det_hash_extended'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- The index condition the support function of encrypted_text_det = text
-- hands the planner is ARRAY[encrypt_det_nth(x, 0), ...], one element per
-- loaded key, instead of encrypt_det_all(x): the planner knows the length
-- of an ARRAY[...], in a custom plan and a generic one alike, so a
-- prepared lookup keeps its generic plan instead of being planned, and
-- encrypting twice, on every execution.
CREATE FUNCTION encrypt_det_nth(pg_catalog.text, pg_catalog.int4) RETURNS encrypted_text_det
	AS 'MODULE_PATHNAME', 'encrypted_text_det_encrypt_nth'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_det_nth(pg_catalog.text, pg_catalog.int4) IS
	'the plaintext''s deterministic encryption under the n-th loaded key (0: encrypted_column.key, then previous_keys in order), NULL past the last: the elements of the index condition the planner makes for col = x';
