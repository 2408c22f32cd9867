/* encrypted_column 0.4.0 -> 0.5.0: typed encrypted values, and search beyond equality */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit

-- Search beyond equality (0.5.0).  A column opts in with a type modifier:
-- encrypted_text(trigram [, bits]) carries keyed trigram tags for LIKE and
-- ILIKE, encrypted_date(range, width) and its kin carry a keyed range term
-- for comparisons and ORDER BY ... LIMIT.  The terms are made when a value
-- is sealed and travel inside it, so indexes are built without a key; the
-- operators decrypt, so every candidate an index gives is rechecked.

-- ---- encrypted_text(trigram): LIKE and ILIKE through a GIN index ----

CREATE FUNCTION encrypted_text_typmod_in(pg_catalog.cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'encrypted_trigram_typmod_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text_typmod_in(pg_catalog.cstring[]) IS
	'encrypted_text(trigram [, bits]): values carry keyed trigram tags of 8 to 16 bits (default 12) for LIKE and ILIKE through an index';
CREATE FUNCTION encrypted_text_typmod_out(integer) RETURNS pg_catalog.cstring
	AS 'MODULE_PATHNAME', 'encrypted_trigram_typmod_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text_typmod_out(integer) IS
	'prints encrypted_text''s type modifier, (trigram,bits)';
ALTER TYPE encrypted_text SET (TYPMOD_IN = encrypted_text_typmod_in,
							   TYPMOD_OUT = encrypted_text_typmod_out);

CREATE FUNCTION encrypted_text(encrypted_text, integer, boolean) RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_apply_typmod'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text(encrypted_text, integer, boolean) IS
	'a value as a column of encrypted_text(trigram, bits) stores it: with its trigram tags, made under the value''s own key';
CREATE CAST (encrypted_text AS encrypted_text)
	WITH FUNCTION encrypted_text(encrypted_text, integer, boolean) AS IMPLICIT;
COMMENT ON CAST (encrypted_text AS encrypted_text) IS
	'gives a value the search terms its column''s type modifier asks for';

-- The casts from text and varchar take the column's type modifier, so
-- that a value gets its terms as it is sealed (one encryption, not two).
-- The modifier's arguments have defaults: Citus calls a cast function with
-- the value alone.
CREATE FUNCTION encrypted_text(pg_catalog.text, integer DEFAULT -1, boolean DEFAULT false)
	RETURNS encrypted_text
	AS 'MODULE_PATHNAME', 'encrypted_text_from_text'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_text(pg_catalog.text, integer, boolean) IS
	'cast from text and varchar: encrypts the value as plaintext, with the input function''s rules and the search terms of the column''s type modifier';
DROP CAST (pg_catalog.text AS encrypted_text);
DROP CAST (pg_catalog.varchar AS encrypted_text);
CREATE CAST (pg_catalog.text AS encrypted_text)
	WITH FUNCTION encrypted_text(pg_catalog.text, integer, boolean) AS ASSIGNMENT;
CREATE CAST (pg_catalog.varchar AS encrypted_text)
	WITH FUNCTION encrypted_text(pg_catalog.text, integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (pg_catalog.text AS encrypted_text) IS
	'encrypts the text as plaintext with encrypted_column.key';
COMMENT ON CAST (pg_catalog.varchar AS encrypted_text) IS
	'encrypts the text as plaintext with encrypted_column.key';

CREATE FUNCTION encrypted_text_like(encrypted_text, pg_catalog.text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_text_like'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION encrypted_text_like(encrypted_text, pg_catalog.text) IS
	'col LIKE pattern: decrypts and compares as text LIKE does; needs EXECUTE on read_plaintext()';
CREATE FUNCTION encrypted_text_not_like(encrypted_text, pg_catalog.text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_text_not_like'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION encrypted_text_not_like(encrypted_text, pg_catalog.text) IS
	'col NOT LIKE pattern: decrypts and compares as text NOT LIKE does; needs EXECUTE on read_plaintext()';
CREATE FUNCTION encrypted_text_ilike(encrypted_text, pg_catalog.text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_text_ilike'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION encrypted_text_ilike(encrypted_text, pg_catalog.text) IS
	'col ILIKE pattern: decrypts and compares as text ILIKE does; needs EXECUTE on read_plaintext()';
CREATE FUNCTION encrypted_text_not_ilike(encrypted_text, pg_catalog.text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_text_not_ilike'
	LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION encrypted_text_not_ilike(encrypted_text, pg_catalog.text) IS
	'col NOT ILIKE pattern: decrypts and compares as text NOT ILIKE does; needs EXECUTE on read_plaintext()';

CREATE OPERATOR ~~ (LEFTARG = encrypted_text, RIGHTARG = pg_catalog.text,
	FUNCTION = encrypted_text_like, NEGATOR = !~~,
	RESTRICT = pg_catalog.matchingsel, JOIN = pg_catalog.matchingjoinsel);
CREATE OPERATOR !~~ (LEFTARG = encrypted_text, RIGHTARG = pg_catalog.text,
	FUNCTION = encrypted_text_not_like, NEGATOR = ~~,
	RESTRICT = pg_catalog.matchingsel, JOIN = pg_catalog.matchingjoinsel);
CREATE OPERATOR ~~* (LEFTARG = encrypted_text, RIGHTARG = pg_catalog.text,
	FUNCTION = encrypted_text_ilike, NEGATOR = !~~*,
	RESTRICT = pg_catalog.matchingsel, JOIN = pg_catalog.matchingjoinsel);
CREATE OPERATOR !~~* (LEFTARG = encrypted_text, RIGHTARG = pg_catalog.text,
	FUNCTION = encrypted_text_not_ilike, NEGATOR = ~~*,
	RESTRICT = pg_catalog.matchingsel, JOIN = pg_catalog.matchingjoinsel);
COMMENT ON OPERATOR ~~ (encrypted_text, pg_catalog.text) IS
	'LIKE on the plaintext; through an encrypted_trigram_ops index when the column has trigram tags';
COMMENT ON OPERATOR !~~ (encrypted_text, pg_catalog.text) IS 'NOT LIKE on the plaintext';
COMMENT ON OPERATOR ~~* (encrypted_text, pg_catalog.text) IS
	'ILIKE on the plaintext; through an encrypted_trigram_ops index when the column has trigram tags';
COMMENT ON OPERATOR !~~* (encrypted_text, pg_catalog.text) IS 'NOT ILIKE on the plaintext';

CREATE FUNCTION encrypted_trigram_extract_value(encrypted_text, pg_catalog.internal)
	RETURNS pg_catalog.internal AS 'MODULE_PATHNAME'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_trigram_extract_value(encrypted_text, pg_catalog.internal) IS
	'GIN support: the trigram tags a value carries, read without a key';
CREATE FUNCTION encrypted_trigram_extract_query(pg_catalog.text, pg_catalog.internal,
	pg_catalog.int2, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal,
	pg_catalog.internal)
	RETURNS pg_catalog.internal AS 'MODULE_PATHNAME'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_trigram_extract_query(pg_catalog.text, pg_catalog.internal, pg_catalog.int2, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal) IS
	'GIN support: the tags of a pattern''s trigrams under every loaded key';
CREATE FUNCTION encrypted_trigram_consistent(pg_catalog.internal, pg_catalog.int2,
	pg_catalog.text, integer, pg_catalog.internal, pg_catalog.internal,
	pg_catalog.internal, pg_catalog.internal)
	RETURNS boolean AS 'MODULE_PATHNAME'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_trigram_consistent(pg_catalog.internal, pg_catalog.int2, pg_catalog.text, integer, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal) IS
	'GIN support: a row is a candidate when it has every tag of the pattern under one key; always rechecked';
CREATE FUNCTION encrypted_trigram_triconsistent(pg_catalog.internal, pg_catalog.int2,
	pg_catalog.text, integer, pg_catalog.internal, pg_catalog.internal,
	pg_catalog.internal)
	RETURNS pg_catalog.char AS 'MODULE_PATHNAME'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_trigram_triconsistent(pg_catalog.internal, pg_catalog.int2, pg_catalog.text, integer, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal) IS
	'GIN support: the ternary form of encrypted_trigram_consistent';

CREATE OPERATOR CLASS encrypted_trigram_ops
	DEFAULT FOR TYPE encrypted_text USING gin AS
	OPERATOR 1 ~~ (encrypted_text, pg_catalog.text),
	OPERATOR 2 ~~* (encrypted_text, pg_catalog.text),
	FUNCTION 1 pg_catalog.btint4cmp(integer, integer),
	FUNCTION 2 encrypted_trigram_extract_value(encrypted_text, pg_catalog.internal),
	FUNCTION 3 encrypted_trigram_extract_query(pg_catalog.text, pg_catalog.internal, pg_catalog.int2, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal),
	FUNCTION 4 encrypted_trigram_consistent(pg_catalog.internal, pg_catalog.int2, pg_catalog.text, integer, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal),
	FUNCTION 6 encrypted_trigram_triconsistent(pg_catalog.internal, pg_catalog.int2, pg_catalog.text, integer, pg_catalog.internal, pg_catalog.internal, pg_catalog.internal),
	STORAGE integer;
COMMENT ON OPERATOR CLASS encrypted_trigram_ops USING gin IS
	'LIKE and ILIKE on an encrypted_text(trigram) column through its keyed trigram tags; built without a key, rechecked by decrypting';
COMMENT ON OPERATOR FAMILY encrypted_trigram_ops USING gin IS
	'LIKE and ILIKE on an encrypted_text(trigram) column through its keyed trigram tags';

CREATE FUNCTION search_terms(encrypted_text) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'encrypted_search_terms'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION search_terms(encrypted_text) IS
	'the trigram tags a value carries, as index entries (bits * 65536 + tag): what the stored terms show without a key';

-- ---- the typed types ----
--
-- Six types, one block each, made by the loop below so that they cannot
-- drift apart.  A typed value holds the plain type's binary form; text
-- in is plaintext in the plain type's text form.  The four ordered types
-- also get comparisons by plaintext (they decrypt), a default btree
-- operator class for ORDER BY and sorting (which no index may use: see
-- the guard on indexes), the (range, width) modifier, and the range_ops
-- operator class, whose order is that of the stored range terms.

CREATE FUNCTION encrypted_typed_analyze(pg_catalog.internal) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_typed_analyze'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_typed_analyze(pg_catalog.internal) IS
	'ANALYZE of a typed encrypted column: counts NULLs and widths only, needs no key and keeps no value';

CREATE FUNCTION encrypted_range_support(pg_catalog.internal) RETURNS pg_catalog.internal
	AS 'MODULE_PATHNAME', 'encrypted_range_support'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_range_support(pg_catalog.internal) IS
	'planner support of the typed comparisons: lossy index conditions on a range_ops index, rechecked by decrypting';

CREATE FUNCTION range_bound(anyelement, integer, boolean) RETURNS bigint
	AS 'MODULE_PATHNAME', 'encrypted_range_bound'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION range_bound(anyelement, integer, boolean) IS
	'the widest range term, over the loaded keys, of the bucket of a plain value under a (range, width) modifier: the planner''s index bound';

CREATE FUNCTION range_bound(anyelement, integer, boolean, integer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'encrypted_range_bound'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION range_bound(anyelement, integer, boolean, integer) IS
	'the range term, under the n-th loaded key (0 is the current key), of the bucket of a plain value, or of the key''s first or last bucket for a NULL value; NULL past the last key: during a rotation the planner asks a range index one range per key';

CREATE FUNCTION order_guard(anyelement) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_order_guard'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION order_guard(anyelement) IS
	'true, or the error decrypt() would raise on the value (no read privilege, or its key not loaded): ORDER BY ... LIMIT through a range index checks every row it reads with it';

CREATE FUNCTION order_guard(anyelement, integer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_order_guard'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION order_guard(anyelement, integer) IS
	'order_guard(value), and true only for a value under the n-th loaded key (a NULL counts as the first key''s): during a rotation ORDER BY ... LIMIT walks a range index once per key';

CREATE FUNCTION order_value(anyelement) RETURNS anyelement
	AS 'MODULE_PATHNAME', 'encrypted_order_value'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION order_value(anyelement) IS
	'the value itself: ORDER BY ... LIMIT through a range index sorts by the range terms, then by order_value(col) in plaintext order';

DO $types$
DECLARE
	t record;
	cmp record;
	sig text;
BEGIN
	FOR t IN SELECT * FROM (VALUES
		('bigint', 'int8', 'bigint', 'a bigint (or integer)'),
		('numeric', 'numeric', 'numeric', 'a numeric'),
		('date', 'date', 'date', 'a date'),
		('timestamptz', 'timestamptz', 'timestamptz', 'a timestamp with time zone'),
		('jsonb', 'jsonb', NULL, 'a jsonb document'),
		('bytea', 'bytea', NULL, 'a bytea string'))
		AS v(name, plain, modifier, what)
	LOOP
		EXECUTE pg_catalog.format($f$
CREATE TYPE encrypted_%1$s;
CREATE FUNCTION encrypted_%1$s_in(pg_catalog.cstring, pg_catalog.oid, integer)
	RETURNS encrypted_%1$s AS 'MODULE_PATHNAME', 'encrypted_%1$s_in'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_in(pg_catalog.cstring, pg_catalog.oid, integer) IS
	'encrypted_%1$s input: encrypts %3$s given in its text form with encrypted_column.key; refuses ciphertext text forms unless encrypted_column.accept_ciphertext is on';
CREATE FUNCTION encrypted_%1$s_out(encrypted_%1$s) RETURNS pg_catalog.cstring
	AS 'MODULE_PATHNAME', 'encrypted_text_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_out(encrypted_%1$s) IS
	'encrypted_%1$s output: the ciphertext text form (prefix ecv1: and base64), never plaintext';
CREATE FUNCTION encrypted_%1$s_recv(pg_catalog.internal, pg_catalog.oid, integer)
	RETURNS encrypted_%1$s AS 'MODULE_PATHNAME', 'encrypted_%1$s_recv'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_recv(pg_catalog.internal, pg_catalog.oid, integer) IS
	'encrypted_%1$s binary input: a well-formed envelope of this type, stored as it is';
CREATE FUNCTION encrypted_%1$s_send(encrypted_%1$s) RETURNS pg_catalog.bytea
	AS 'MODULE_PATHNAME', 'encrypted_text_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_send(encrypted_%1$s) IS
	'encrypted_%1$s binary output: the envelope bytes';
$f$, t.name, t.plain, t.what);

		IF t.modifier IS NOT NULL THEN
			EXECUTE pg_catalog.format($f$
CREATE FUNCTION encrypted_%1$s_typmod_in(pg_catalog.cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'encrypted_%2$s_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_typmod_in(pg_catalog.cstring[]) IS
	'encrypted_%1$s(range, width): values carry a keyed range term of their bucket of that width';
CREATE FUNCTION encrypted_%1$s_typmod_out(integer) RETURNS pg_catalog.cstring
	AS 'MODULE_PATHNAME', 'encrypted_%3$s_typmod_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_typmod_out(integer) IS
	'prints encrypted_%1$s''s type modifier, (range,width)';
CREATE TYPE encrypted_%1$s (
	INPUT = encrypted_%1$s_in, OUTPUT = encrypted_%1$s_out,
	RECEIVE = encrypted_%1$s_recv, SEND = encrypted_%1$s_send,
	TYPMOD_IN = encrypted_%1$s_typmod_in, TYPMOD_OUT = encrypted_%1$s_typmod_out,
	ANALYZE = encrypted_typed_analyze,
	INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = external);
$f$, t.name, t.modifier, CASE WHEN t.modifier = 'numeric' THEN 'numeric' ELSE 'range' END);
		ELSE
			EXECUTE pg_catalog.format($f$
CREATE TYPE encrypted_%1$s (
	INPUT = encrypted_%1$s_in, OUTPUT = encrypted_%1$s_out,
	RECEIVE = encrypted_%1$s_recv, SEND = encrypted_%1$s_send,
	ANALYZE = encrypted_typed_analyze,
	INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = external);
$f$, t.name);
		END IF;

		EXECUTE pg_catalog.format($f$
COMMENT ON TYPE encrypted_%1$s IS
	'%3$s encrypted with AES-256-GCM inside the backend; read it with decrypt()';
CREATE FUNCTION encrypt(pg_catalog.%2$s) RETURNS encrypted_%1$s
	AS 'MODULE_PATHNAME', 'encrypted_%1$s_encrypt' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt(pg_catalog.%2$s) IS
	'encrypts %3$s with the current key (AES-256-GCM, a fresh nonce per value)';
CREATE FUNCTION encrypt(pg_catalog.%2$s, context pg_catalog.text) RETURNS encrypted_%1$s
	AS 'MODULE_PATHNAME', 'encrypted_%1$s_encrypt' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt(pg_catalog.%2$s, pg_catalog.text) IS
	'encrypts %3$s bound to a non-empty context (such as the row''s primary key)';
CREATE FUNCTION decrypt(encrypted_%1$s) RETURNS pg_catalog.%2$s
	AS 'MODULE_PATHNAME', 'encrypted_typed_decrypt' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_%1$s) IS
	'the plain value, with the loaded key whose id the value names; the only way to plaintext; needs EXECUTE on read_plaintext()';
CREATE FUNCTION decrypt(encrypted_%1$s, context pg_catalog.text) RETURNS pg_catalog.%2$s
	AS 'MODULE_PATHNAME', 'encrypted_typed_decrypt' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrypt(encrypted_%1$s, pg_catalog.text) IS
	'the plain value of a value bound to a context; fails unless the context is the one it was encrypted with; needs EXECUTE on read_plaintext()';
CREATE FUNCTION reencrypt(encrypted_%1$s) RETURNS encrypted_%1$s
	AS 'MODULE_PATHNAME', 'encrypted_typed_reencrypt' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_%1$s) IS
	'decrypts with whichever loaded key fits and encrypts again with the current key (key rotation); a column with a type modifier gives the result its search terms; needs EXECUTE on read_plaintext()';
CREATE FUNCTION reencrypt(encrypted_%1$s, context pg_catalog.text) RETURNS encrypted_%1$s
	AS 'MODULE_PATHNAME', 'encrypted_typed_reencrypt' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reencrypt(encrypted_%1$s, pg_catalog.text) IS
	'key rotation for a value bound to a context: decrypts and encrypts again with the same context; needs EXECUTE on read_plaintext()';
CREATE FUNCTION key_id(encrypted_%1$s) RETURNS pg_catalog.text
	AS 'MODULE_PATHNAME', 'encrypted_text_key_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION key_id(encrypted_%1$s) IS
	'the 8-hex-digit id of the key that encrypted the value';
$f$, t.name, t.plain, t.what);

		IF t.modifier IS NULL THEN
			CONTINUE;
		END IF;

		-- the modifier's cast, and the stored range term
		EXECUTE pg_catalog.format($f$
CREATE FUNCTION encrypted_%1$s(encrypted_%1$s, integer, boolean) RETURNS encrypted_%1$s
	AS 'MODULE_PATHNAME', 'encrypted_apply_typmod' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s(encrypted_%1$s, integer, boolean) IS
	'a value as a column of encrypted_%1$s(range, width) stores it: with its range term, made under the value''s own key';
CREATE CAST (encrypted_%1$s AS encrypted_%1$s)
	WITH FUNCTION encrypted_%1$s(encrypted_%1$s, integer, boolean) AS IMPLICIT;
COMMENT ON CAST (encrypted_%1$s AS encrypted_%1$s) IS
	'gives a value the range term its column''s type modifier asks for';
CREATE FUNCTION range_term(encrypted_%1$s) RETURNS bigint
	AS 'MODULE_PATHNAME', 'encrypted_range_term' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION range_term(encrypted_%1$s) IS
	'the range term a value carries: what the stored terms show without a key';
$f$, t.name);

		-- comparisons by plaintext, both ways round and against the plain type
		FOR cmp IN SELECT * FROM (VALUES
			('lt', '<', '>', '>=', 'scalarltsel', 'scalarltjoinsel', 'less than'),
			('le', '<=', '>=', '>', 'scalarlesel', 'scalarlejoinsel', 'less than or equal to'),
			('eq', '=', '=', '<>', 'eqsel', 'eqjoinsel', 'equal to'),
			('ne', '<>', '<>', '=', 'neqsel', 'neqjoinsel', 'not equal to'),
			('ge', '>=', '<=', '<', 'scalargesel', 'scalargejoinsel', 'greater than or equal to'),
			('gt', '>', '<', '<=', 'scalargtsel', 'scalargtjoinsel', 'greater than'))
			AS c(fn, op, commutator, negator, rest, joinsel, words)
		LOOP
			FOREACH sig IN ARRAY ARRAY[
				pg_catalog.format('encrypted_%s,encrypted_%s,typed', t.name, t.name),
				pg_catalog.format('encrypted_%s,pg_catalog.%s,typed_plain', t.name, t.plain),
				pg_catalog.format('pg_catalog.%s,encrypted_%s,plain_typed', t.plain, t.name)]
			LOOP
				EXECUTE pg_catalog.format($f$
CREATE FUNCTION encrypted_%1$s_%2$s(%3$s, %4$s) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_%5$s_%2$s' LANGUAGE C STABLE STRICT PARALLEL SAFE
	COST 100 SUPPORT encrypted_range_support;
COMMENT ON FUNCTION encrypted_%1$s_%2$s(%3$s, %4$s) IS
	'is the first plaintext %10$s the second? decrypts; needs EXECUTE on read_plaintext()';
CREATE OPERATOR %6$s (LEFTARG = %3$s, RIGHTARG = %4$s,
	FUNCTION = encrypted_%1$s_%2$s, COMMUTATOR = %7$s, NEGATOR = %8$s,
	RESTRICT = pg_catalog.%9$s, JOIN = pg_catalog.%11$s);
COMMENT ON OPERATOR %6$s (%3$s, %4$s) IS
	'%10$s, by plaintext; through a range_ops index when the column has range terms';
$f$, t.name, cmp.fn, pg_catalog.split_part(sig, ',', 1),
				   pg_catalog.split_part(sig, ',', 2), pg_catalog.split_part(sig, ',', 3),
				   cmp.op, cmp.commutator, cmp.negator, cmp.rest, cmp.words, cmp.joinsel);
			END LOOP;
		END LOOP;

		-- sorting by plaintext, and the range terms' order for indexes
		EXECUTE pg_catalog.format($f$
CREATE FUNCTION encrypted_%1$s_cmp(encrypted_%1$s, encrypted_%1$s) RETURNS integer
	AS 'MODULE_PATHNAME', 'encrypted_typed_cmp' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;
COMMENT ON FUNCTION encrypted_%1$s_cmp(encrypted_%1$s, encrypted_%1$s) IS
	'orders two values by plaintext; decrypts; needs EXECUTE on read_plaintext()';
CREATE OPERATOR CLASS encrypted_%1$s_ops DEFAULT FOR TYPE encrypted_%1$s USING btree AS
	OPERATOR 1 < , OPERATOR 2 <= , OPERATOR 3 = , OPERATOR 4 >= , OPERATOR 5 > ,
	FUNCTION 1 encrypted_%1$s_cmp(encrypted_%1$s, encrypted_%1$s);
COMMENT ON OPERATOR CLASS encrypted_%1$s_ops USING btree IS
	'ORDER BY and sorting by plaintext, decrypting; no index may use it (it would keep the plaintext order)';
COMMENT ON OPERATOR FAMILY encrypted_%1$s_ops USING btree IS
	'ORDER BY and sorting by plaintext, decrypting';
$f$, t.name);

		FOR cmp IN SELECT * FROM (VALUES
			('lt', '~<~', '~>~', 1, 'scalarltsel', 'scalarltjoinsel'),
			('le', '~<=~', '~>=~', 2, 'scalarlesel', 'scalarlejoinsel'),
			('eq', '~=~', '~=~', 3, 'eqsel', 'eqjoinsel'),
			('ge', '~>=~', '~<=~', 4, 'scalargesel', 'scalargejoinsel'),
			('gt', '~>~', '~<~', 5, 'scalargtsel', 'scalargtjoinsel'))
			AS c(fn, op, commutator, strategy, rest, joinsel)
		LOOP
			EXECUTE pg_catalog.format($f$
CREATE FUNCTION encrypted_%1$s_range_%2$s(encrypted_%1$s, encrypted_%1$s) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_range_%2$s' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_range_%2$s(encrypted_%1$s, encrypted_%1$s) IS
	'compares the stored range terms of two values, without a key';
CREATE OPERATOR %3$s (LEFTARG = encrypted_%1$s, RIGHTARG = encrypted_%1$s,
	FUNCTION = encrypted_%1$s_range_%2$s, COMMUTATOR = %4$s,
	RESTRICT = pg_catalog.%5$s, JOIN = pg_catalog.%6$s);
COMMENT ON OPERATOR %3$s (encrypted_%1$s, encrypted_%1$s) IS
	'compares stored range terms (bucket order under one key), not plaintexts';
CREATE FUNCTION encrypted_%1$s_range_%2$s(encrypted_%1$s, bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'encrypted_range_%2$s_term' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_range_%2$s(encrypted_%1$s, bigint) IS
	'compares a value''s stored range term with a bound, without a key';
CREATE OPERATOR %3$s (LEFTARG = encrypted_%1$s, RIGHTARG = bigint,
	FUNCTION = encrypted_%1$s_range_%2$s,
	RESTRICT = pg_catalog.%5$s, JOIN = pg_catalog.%6$s);
COMMENT ON OPERATOR %3$s (encrypted_%1$s, bigint) IS
	'compares a stored range term with a bound from range_bound()';
$f$, t.name, cmp.fn, cmp.op, cmp.commutator, cmp.rest, cmp.joinsel);
		END LOOP;

		EXECUTE pg_catalog.format($f$
CREATE FUNCTION encrypted_%1$s_range_cmp(encrypted_%1$s, encrypted_%1$s) RETURNS integer
	AS 'MODULE_PATHNAME', 'encrypted_range_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_range_cmp(encrypted_%1$s, encrypted_%1$s) IS
	'orders two values by their stored range terms, without a key';
CREATE FUNCTION encrypted_%1$s_range_cmp(encrypted_%1$s, bigint) RETURNS integer
	AS 'MODULE_PATHNAME', 'encrypted_range_cmp_term' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s_range_cmp(encrypted_%1$s, bigint) IS
	'orders a value''s stored range term against a bound, without a key';
CREATE OPERATOR CLASS encrypted_%1$s_range_ops FOR TYPE encrypted_%1$s USING btree AS
	OPERATOR 1 ~<~ , OPERATOR 2 ~<=~ , OPERATOR 3 ~=~ , OPERATOR 4 ~>=~ , OPERATOR 5 ~>~ ,
	FUNCTION 1 encrypted_%1$s_range_cmp(encrypted_%1$s, encrypted_%1$s),
	OPERATOR 1 ~<~ (encrypted_%1$s, bigint), OPERATOR 2 ~<=~ (encrypted_%1$s, bigint),
	OPERATOR 3 ~=~ (encrypted_%1$s, bigint), OPERATOR 4 ~>=~ (encrypted_%1$s, bigint),
	OPERATOR 5 ~>~ (encrypted_%1$s, bigint),
	FUNCTION 1 encrypted_%1$s_range_cmp(encrypted_%1$s, bigint);
COMMENT ON OPERATOR CLASS encrypted_%1$s_range_ops USING btree IS
	'comparisons, BETWEEN and ORDER BY ... LIMIT on an encrypted_%1$s(range, width) column through its range terms; built without a key, rechecked by decrypting';
COMMENT ON OPERATOR FAMILY encrypted_%1$s_range_ops USING btree IS
	'the order of stored range terms of encrypted_%1$s';
$f$, t.name);
	END LOOP;
END
$types$;

-- Integers into the integer types.
CREATE FUNCTION encrypt(integer) RETURNS encrypted_bigint
	AS 'MODULE_PATHNAME', 'encrypted_bigint_encrypt' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt(integer) IS
	'encrypts an integer as an encrypted_bigint with the current key';
CREATE FUNCTION encrypt_numeric(bigint) RETURNS encrypted_numeric
	AS 'MODULE_PATHNAME', 'encrypted_numeric_encrypt' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_numeric(bigint) IS
	'encrypts an integer as an encrypted_numeric with the current key';
CREATE FUNCTION encrypt_numeric(integer) RETURNS encrypted_numeric
	AS 'MODULE_PATHNAME', 'encrypted_numeric_encrypt' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypt_numeric(integer) IS
	'encrypts an integer as an encrypted_numeric with the current key';

-- The assignment casts from the plain types, and from the integers into
-- the integer types, take the column's type modifier, so that a value
-- gets its terms as it is sealed (one encryption, not two).  The
-- modifier's arguments have defaults: Citus calls a cast function with
-- the value alone.
DO $casts$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT * FROM (VALUES ('bigint', 'int8', 'bigint'), ('bigint', 'int4', 'integer'),
			('numeric', 'numeric', 'numeric'), ('numeric', 'int8', 'bigint'),
			('numeric', 'int4', 'integer'), ('date', 'date', 'date'),
			('timestamptz', 'timestamptz', 'timestamp with time zone'),
			('jsonb', 'jsonb', 'jsonb'), ('bytea', 'bytea', 'bytea')) AS v(name, source, what)
	LOOP
		EXECUTE pg_catalog.format($f$
CREATE FUNCTION encrypted_%1$s(pg_catalog.%2$s, integer DEFAULT -1, boolean DEFAULT false)
	RETURNS encrypted_%1$s
	AS 'MODULE_PATHNAME', 'encrypted_%1$s_encrypt' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION encrypted_%1$s(pg_catalog.%2$s, integer, boolean) IS
	'cast from %3$s: encrypts it with the current key, with the search terms of the column''s type modifier';
CREATE CAST (pg_catalog.%2$s AS encrypted_%1$s)
	WITH FUNCTION encrypted_%1$s(pg_catalog.%2$s, integer, boolean) AS ASSIGNMENT;
COMMENT ON CAST (pg_catalog.%2$s AS encrypted_%1$s) IS
	'encrypts the value with the current key';
$f$, c.name, c.source, c.what);
	END LOOP;
END
$casts$;

-- ---- what the stored terms reveal, measured on the data ----

CREATE FUNCTION leakage_report(tab pg_catalog.regclass, col pg_catalog.name)
	RETURNS TABLE (scheme pg_catalog.text, parameter pg_catalog.text,
				   rows bigint, distinct_terms bigint,
				   largest_term_share double precision,
				   distinct_term_sets bigint,
				   largest_set_share double precision,
				   warning pg_catalog.text)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $report$
DECLARE
	coltype pg_catalog.oid;
	coltypmod integer;
	typname pg_catalog.text;
	ext_schema pg_catalog.oid;
	fn pg_catalog.text;
	warnings pg_catalog.text[] := '{}';
BEGIN
	SELECT a.atttypid, a.atttypmod, t.typname, t.typnamespace
		INTO coltype, coltypmod, typname, ext_schema
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
		WHERE a.attrelid OPERATOR(pg_catalog.=) tab
		  AND a.attname OPERATOR(pg_catalog.=) col AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'undefined_column',
			MESSAGE = pg_catalog.format('column "%s" of relation %s does not exist', col, tab);
	END IF;
	IF NOT EXISTS (
		SELECT FROM pg_catalog.pg_depend d
		 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
		   AND d.objid OPERATOR(pg_catalog.=) coltype
		   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
										  WHERE e.extname OPERATOR(pg_catalog.=) 'encrypted_column'))
	THEN
		RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
			MESSAGE = pg_catalog.format('column "%s" is not of an encrypted_column type', col);
	END IF;

	parameter := CASE WHEN coltypmod OPERATOR(pg_catalog.>=) 0
				 THEN pg_catalog.substring(pg_catalog.format_type(coltype, coltypmod), '\(.*\)$') END;
	fn := ext_schema::pg_catalog.regnamespace::pg_catalog.text;
	IF coltypmod OPERATOR(pg_catalog.<) 0 THEN
		scheme := 'none';
		-- values written under an earlier modifier may still carry terms
		-- (bit 5 of the envelope's second byte)
		EXECUTE pg_catalog.format(
			'SELECT pg_catalog.count(%2$I), pg_catalog.count(*) FILTER (WHERE (pg_catalog.get_byte(%1$s.%4$I(%2$I), 1) OPERATOR(pg_catalog.&) 32) OPERATOR(pg_catalog.<>) 0) FROM %3$s',
			fn, col, tab, typname OPERATOR(pg_catalog.||) '_send')
			INTO rows, distinct_terms;
		warning := CASE WHEN distinct_terms OPERATOR(pg_catalog.>) 0
			THEN pg_catalog.format('%s values still carry search terms from an earlier type modifier: re-encrypt them (UPDATE ... SET col = reencrypt(col)) to drop the terms', distinct_terms)
			ELSE 'no search terms: the stored values reveal their length, their key id and nothing else'
				|| CASE WHEN typname OPERATOR(pg_catalog.=) 'encrypted_text_det'
						THEN ' except equality: deterministic values reveal which rows are equal, and how often each value occurs' ELSE '' END
			END;
		distinct_terms := NULL;
		RETURN NEXT;
		RETURN;
	END IF;

	IF typname OPERATOR(pg_catalog.=) 'encrypted_text' THEN
		scheme := 'trigram';
		EXECUTE pg_catalog.format($q$
			WITH v AS (SELECT %1$s.search_terms(%2$I) AS t FROM %3$s WHERE %2$I IS NOT NULL),
			n AS (SELECT pg_catalog.count(*) AS rows FROM v),
			tags AS (SELECT u.tag, pg_catalog.count(*) AS c FROM v, pg_catalog.unnest(v.t) AS u(tag) GROUP BY u.tag),
			sets AS (SELECT pg_catalog.count(*) AS c FROM v GROUP BY v.t)
			SELECT n.rows,
				   (SELECT pg_catalog.count(*) FROM tags),
				   (SELECT pg_catalog.max(tags.c) FROM tags)::double precision OPERATOR(pg_catalog./) NULLIF(n.rows, 0),
				   (SELECT pg_catalog.count(*) FROM sets),
				   (SELECT pg_catalog.max(sets.c) FROM sets)::double precision OPERATOR(pg_catalog./) NULLIF(n.rows, 0)
			FROM n $q$, fn, col, tab)
			INTO rows, distinct_terms, largest_term_share, distinct_term_sets, largest_set_share;
		IF largest_set_share OPERATOR(pg_catalog.>) 0.01 THEN
			warnings := warnings OPERATOR(pg_catalog.||) pg_catalog.format(
				'low-cardinality column: %s%% of rows carry the same set of tags, which marks equal values; frequency analysis can name them',
				pg_catalog.round((largest_set_share OPERATOR(pg_catalog.*) 100)::numeric, 1));
		END IF;
		IF distinct_term_sets OPERATOR(pg_catalog.>) 0 THEN
			warnings := warnings OPERATOR(pg_catalog.||) pg_catalog.format(
				'%s distinct tag sets among %s rows: rows with the same set almost surely hold the same value',
				distinct_term_sets, rows);
		END IF;
	ELSE
		scheme := 'range';
		EXECUTE pg_catalog.format($q$
			WITH v AS (SELECT %1$s.range_term(%2$I) AS t FROM %3$s WHERE %2$I IS NOT NULL),
			n AS (SELECT pg_catalog.count(*) AS rows FROM v),
			b AS (SELECT pg_catalog.count(*) AS c FROM v GROUP BY v.t)
			SELECT n.rows, (SELECT pg_catalog.count(*) FROM b),
				   (SELECT pg_catalog.max(b.c) FROM b)::double precision OPERATOR(pg_catalog./) NULLIF(n.rows, 0)
			FROM n $q$, fn, col, tab)
			INTO rows, distinct_terms, largest_term_share;
		distinct_term_sets := distinct_terms;
		largest_set_share := largest_term_share;
		IF largest_term_share OPERATOR(pg_catalog.>) 0.05 THEN
			warnings := warnings OPERATOR(pg_catalog.||) pg_catalog.format(
				'low-cardinality column: one bucket holds %s%% of rows, and the terms show which rows share it',
				pg_catalog.round((largest_term_share OPERATOR(pg_catalog.*) 100)::numeric, 1));
		END IF;
		IF distinct_terms OPERATOR(pg_catalog.>) 0 THEN
			warnings := warnings OPERATOR(pg_catalog.||) pg_catalog.format(
				'the terms show the order of %s buckets and how many rows each holds; with the distribution of the data known, bucket values can be inferred (Naveed et al., CCS 2015; Grubbs et al., S&P 2017)',
				distinct_terms);
		END IF;
	END IF;
	warning := pg_catalog.array_to_string(warnings, '; ');
	RETURN NEXT;
END
$report$;
COMMENT ON FUNCTION leakage_report(pg_catalog.regclass, pg_catalog.name) IS
	'what the stored search terms of a column show to someone with the data files but no key: distinct terms, the largest share of rows one term or one set of terms covers, and warnings; reads no key';
