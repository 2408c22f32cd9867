-- Every update path ends where a fresh install starts: the same objects
-- with the same attributes (volatility, strictness, parallel safety,
-- security, cost, implementation, privileges, comments), and the data
-- written under each version on the way still reads.
\set regdb :DBNAME
\set k1 '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'

-- One line per extension object and attribute; the array types that
-- CREATE TYPE makes are members from PostgreSQL 16 on only, so they are
-- described through their element type instead.
\set describe 'WITH ext AS (SELECT oid FROM pg_extension WHERE extname = ''encrypted_column''), m AS (SELECT d.classid, d.objid FROM pg_depend d, ext WHERE d.refclassid = ''pg_extension''::regclass AND d.refobjid = ext.oid AND d.deptype = ''e'') SELECT string_agg(line, E''\n'' ORDER BY line) FROM ('
\set describe :describe' SELECT ''member '' || pg_describe_object(classid, objid, 0) AS line FROM m WHERE NOT (classid = ''pg_type''::regclass AND EXISTS (SELECT FROM pg_type a WHERE a.oid = objid AND a.typcategory = ''A''))'
\set describe :describe' UNION ALL SELECT format(''function %s returns %s language %s volatility %s strict %s parallel %s security_definer %s leakproof %s cost %s rows %s support %s source %s library %s config %s acl %s comment %s'', p.oid::regprocedure, p.prorettype::regtype, l.lanname, p.provolatile, p.proisstrict, p.proparallel, p.prosecdef, p.proleakproof, p.procost, p.prorows, p.prosupport, p.prosrc, p.probin, p.proconfig, p.proacl, obj_description(p.oid, ''pg_proc'')) FROM m JOIN pg_proc p ON m.classid = ''pg_proc''::regclass AND p.oid = m.objid JOIN pg_language l ON l.oid = p.prolang'
\set describe :describe' UNION ALL SELECT format(''type %s length %s byval %s storage %s align %s category %s preferred %s in %s out %s recv %s send %s analyze %s array %s acl %s comment %s'', t.oid::regtype, t.typlen, t.typbyval, t.typstorage, t.typalign, t.typcategory, t.typispreferred, t.typinput, t.typoutput, t.typreceive, t.typsend, t.typanalyze, t.typarray::regtype, t.typacl, obj_description(t.oid, ''pg_type'')) FROM m JOIN pg_type t ON m.classid = ''pg_type''::regclass AND t.oid = m.objid'
\set describe :describe' UNION ALL SELECT format(''operator %s code %s commutator %s negator %s restrict %s join %s merges %s hashes %s comment %s'', o.oid::regoperator, o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest, o.oprjoin, o.oprcanmerge, o.oprcanhash, obj_description(o.oid, ''pg_operator'')) FROM m JOIN pg_operator o ON m.classid = ''pg_operator''::regclass AND o.oid = m.objid'
\set describe :describe' UNION ALL SELECT format(''opclass %s method %s type %s default %s family %s comment %s'', c.opcname, c.opcmethod, c.opcintype::regtype, c.opcdefault, pg_describe_object(''pg_opfamily''::regclass, c.opcfamily, 0), obj_description(c.oid, ''pg_opclass'')) FROM m JOIN pg_opclass c ON m.classid = ''pg_opclass''::regclass AND c.oid = m.objid'
\set describe :describe' UNION ALL SELECT format(''opfamily member %s: operator %s strategy %s purpose %s, types %s %s'', pg_describe_object(''pg_opfamily''::regclass, a.amopfamily, 0), a.amopopr::regoperator, a.amopstrategy, a.amoppurpose, a.amoplefttype::regtype, a.amoprighttype::regtype) FROM m JOIN pg_amop a ON m.classid = ''pg_opfamily''::regclass AND a.amopfamily = m.objid'
\set describe :describe' UNION ALL SELECT format(''opfamily member %s: function %s number %s, types %s %s'', pg_describe_object(''pg_opfamily''::regclass, a.amprocfamily, 0), a.amproc::regprocedure, a.amprocnum, a.amproclefttype::regtype, a.amprocrighttype::regtype) FROM m JOIN pg_amproc a ON m.classid = ''pg_opfamily''::regclass AND a.amprocfamily = m.objid'
\set describe :describe' UNION ALL SELECT format(''cast %s as %s function %s context %s method %s comment %s'', c.castsource::regtype, c.casttarget::regtype, c.castfunc::regprocedure, c.castcontext, c.castmethod, obj_description(c.oid, ''pg_cast'')) FROM m JOIN pg_cast c ON m.classid = ''pg_cast''::regclass AND c.oid = m.objid'
\set describe :describe') lines'
-- the lines that differ between an updated database and a fresh install
\set differences 'CREATE FUNCTION pg_temp.differences(path text, updated text, fresh text) RETURNS SETOF text LANGUAGE sql AS $$ (SELECT path || '', only after the update: '' || l FROM regexp_split_to_table(updated, E''\\n'') l EXCEPT SELECT path || '', only after the update: '' || l FROM regexp_split_to_table(fresh, E''\\n'') l) UNION ALL (SELECT path || '', only in a fresh install: '' || l FROM regexp_split_to_table(fresh, E''\\n'') l EXCEPT SELECT path || '', only in a fresh install: '' || l FROM regexp_split_to_table(updated, E''\\n'') l) ORDER BY 1 $$'

-- a fresh install of the default version
CREATE DATABASE ec_fresh;
\c ec_fresh
CREATE EXTENSION encrypted_column;
SELECT extversion AS fresh_version FROM pg_extension WHERE extname = 'encrypted_column';
:describe \gset fresh_
\c :regdb
DROP DATABASE ec_fresh;

-- From 0.1.0 through every step, writing data under each version.
CREATE DATABASE ec_chain;
\c ec_chain
SET encrypted_column.key = :'k1';
SET client_min_messages = warning;
CREATE EXTENSION encrypted_column VERSION '0.1.0';
CREATE TABLE written (version text, v encrypted_text, ctx encrypted_text);
INSERT INTO written VALUES ('0.1.0', 'written under 0.1.0', encrypt('bound under 0.1.0', 'row 1'));
ALTER EXTENSION encrypted_column UPDATE TO '0.2.0';
INSERT INTO written VALUES ('0.2.0', 'written under 0.2.0', encrypt('bound under 0.2.0', 'row 2'));
ALTER EXTENSION encrypted_column UPDATE TO '0.3.0';
INSERT INTO written VALUES ('0.3.0', 'written under 0.3.0', encrypt('bound under 0.3.0', 'row 3'));
CREATE TABLE written_det (version text, v encrypted_text_det UNIQUE);
INSERT INTO written_det VALUES ('0.3.0', 'det under 0.3.0');
ALTER EXTENSION encrypted_column UPDATE;
RESET client_min_messages;
SELECT extversion AS chain_version FROM pg_extension WHERE extname = 'encrypted_column';
INSERT INTO written VALUES ('default', 'written under the default version', encrypt('bound under the default version', 'row 4'));
INSERT INTO written_det VALUES ('default', 'det under the default version');
SELECT version, decrypt(v), decrypt(ctx, 'row ' || row_number() OVER (ORDER BY version)) FROM written ORDER BY version;
SELECT version, decrypt(v) FROM written_det WHERE v = ('det under ' || CASE version WHEN 'default' THEN 'the default version' ELSE version END)::text ORDER BY version;
-- what an update path left different from the fresh install (expect none)
:describe \gset chain_
:differences;
-- (a control: the comparison does find a line that only one side has)
SELECT pg_temp.differences('control', :'chain_string_agg' || E'\nan extra line', :'fresh_string_agg') AS difference;
SELECT pg_temp.differences('from 0.1.0', :'chain_string_agg', :'fresh_string_agg') AS difference;
\c :regdb
DROP DATABASE ec_chain;

-- the same from 0.2.0 and from 0.3.0
CREATE DATABASE ec_from_020;
\c ec_from_020
SET client_min_messages = warning;
CREATE EXTENSION encrypted_column VERSION '0.2.0';
ALTER EXTENSION encrypted_column UPDATE;
RESET client_min_messages;
:describe \gset path_
:differences;
SELECT pg_temp.differences('from 0.2.0', :'path_string_agg', :'fresh_string_agg') AS difference;
\c :regdb
DROP DATABASE ec_from_020;

CREATE DATABASE ec_from_030;
\c ec_from_030
CREATE EXTENSION encrypted_column VERSION '0.3.0';
ALTER EXTENSION encrypted_column UPDATE;
:describe \gset path_
:differences;
SELECT pg_temp.differences('from 0.3.0', :'path_string_agg', :'fresh_string_agg') AS difference;
\c :regdb
DROP DATABASE ec_from_030;
