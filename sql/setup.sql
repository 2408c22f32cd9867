-- Install the extension and check its SQL surface: every object is
-- commented, volatility and parallel safety are what the README says.
CREATE EXTENSION encrypted_column;

SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column')
  AND deptype = 'e'
ORDER BY 1;

-- objects without a comment (expect none)
SELECT pg_describe_object(d.classid, d.objid, 0) AS uncommented
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'encrypted_column')
  AND d.deptype = 'e'
  AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL
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
