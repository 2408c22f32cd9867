/* encrypted_column 0.2.0 -> 0.3.0 */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit

-- The readers for application-level ciphertexts move to their own
-- extension, encrypted_column_migrate (CREATE EXTENSION it after this
-- update to use them again).  A user object that depends on one of them,
-- such as a view or a SQL-standard function body, would make the DROP
-- below fail with a hint to use CASCADE, which ALTER EXTENSION cannot
-- take; check first, from pg_depend, and name what is in the way.  The
-- update then stops, in its transaction, and nothing changes.
DO $$
DECLARE
	dependents text;
BEGIN
	SELECT string_agg(DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid),
					  ', ')
	  INTO dependents
	  FROM pg_depend d
	  JOIN pg_depend m ON m.classid = 'pg_proc'::regclass
					  AND m.objid = d.refobjid
					  AND m.refclassid = 'pg_extension'::regclass
					  AND m.deptype = 'e'
	  JOIN pg_extension e ON e.oid = m.refobjid
	  JOIN pg_proc p ON p.oid = d.refobjid
	 WHERE d.refclassid = 'pg_proc'::regclass
	   AND d.deptype IN ('n', 'a')
	   AND e.extname = 'encrypted_column'
	   AND p.proname IN ('decrypt_sqlalchemy_aes', 'decrypt_sqlalchemy_aesgcm',
						 'decrypt_sqlalchemy_fernet', 'decrypt_fernet');
	IF dependents IS NOT NULL THEN
		RAISE EXCEPTION 'cannot move the migration readers out of encrypted_column: other objects depend on them'
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = 'Depending on them: ' || dependents || '.',
				  HINT = 'Drop those objects, run ALTER EXTENSION encrypted_column UPDATE and CREATE EXTENSION encrypted_column_migrate, then create them again.';
	END IF;
END
$$;

DROP FUNCTION decrypt_sqlalchemy_aes(bytea, text, text);
DROP FUNCTION decrypt_sqlalchemy_aes(text, text, text);
DROP FUNCTION decrypt_sqlalchemy_aesgcm(bytea, text);
DROP FUNCTION decrypt_sqlalchemy_aesgcm(text, text);
DROP FUNCTION decrypt_sqlalchemy_fernet(bytea, text);
DROP FUNCTION decrypt_sqlalchemy_fernet(text, text);
DROP FUNCTION decrypt_fernet(bytea, text);
DROP FUNCTION decrypt_fernet(text, text);
DROP FUNCTION decrypt_fernet(bytea, text, bigint);
DROP FUNCTION decrypt_fernet(text, text, bigint);
