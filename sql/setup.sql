-- Install the extension and check its SQL surface: every object is
-- commented, volatility and parallel safety are what the README says.
CREATE EXTENSION encrypted_column;

-- The array types that CREATE TYPE makes, and the row types of the
-- extension's tables and views, are extension members from PostgreSQL 16
-- on and not before; they are left out of both lists (the array types are
-- checked on their own below; a row type goes with its relation) so that
-- the lists read the same everywhere.
CREATE TEMP VIEW members AS
SELECT d.classid, d.objid
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column')
  AND d.deptype = 'e'
  AND NOT (d.classid = 'pg_type'::regclass AND EXISTS
           (SELECT FROM pg_type a WHERE a.oid = d.objid
              AND (a.typcategory = 'A' OR a.typrelid <> 0)));

SELECT pg_describe_object(classid, objid, 0) AS object FROM members ORDER BY 1;

-- objects without a comment (expect none)
SELECT pg_describe_object(d.classid, d.objid, 0) AS uncommented
FROM members d
WHERE obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL
ORDER BY 1;

-- every type of the extension has its array type, whoever owns it
SELECT t.typname, a.typname AS array_type
FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
LEFT JOIN pg_type a ON a.oid = t.typarray
ORDER BY 1;

SELECT p.oid::regprocedure AS function, p.provolatile AS volatility,
       p.proparallel AS parallel, p.proisstrict AS strict
FROM pg_proc p
JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column')
  AND d.deptype = 'e'
ORDER BY p.oid::regprocedure::text;

SELECT typname, typstorage, typlen, typalign FROM pg_type WHERE typname = 'encrypted_text';

SELECT castsource::regtype, casttarget::regtype, castcontext
FROM pg_cast WHERE casttarget = 'encrypted_text'::regtype ORDER BY castsource::regtype::text;
