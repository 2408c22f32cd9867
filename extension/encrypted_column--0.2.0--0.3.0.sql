/* encrypted_column 0.2.0 -> 0.3.0 */

\echo Use "ALTER EXTENSION encrypted_column UPDATE" to load this file. \quit

-- From 0.3.0 on, encrypted_column.accept_ciphertext is a superuser setting
-- (a privilege that can be granted with GRANT SET ON PARAMETER).  Values
-- stored with ALTER ROLE or ALTER DATABASE ... SET before the upgrade were
-- checked under the old rule, when any role could set it, and they still
-- apply: name each holder so that an administrator can review them.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT coalesce(a.rolname, '(every role)') AS role_name,
			   coalesce(d.datname, '(every database)') AS database_name
		FROM pg_catalog.pg_db_role_setting s
		LEFT JOIN pg_catalog.pg_roles a ON a.oid = s.setrole
		LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
		WHERE EXISTS (SELECT FROM unnest(s.setconfig) c
					  WHERE lower(split_part(c, '=', 1)) = 'encrypted_column.accept_ciphertext')
		ORDER BY 1, 2
	LOOP
		RAISE WARNING 'role % in database % has encrypted_column.accept_ciphertext set with ALTER ROLE or ALTER DATABASE',
			r.role_name, r.database_name
			USING HINT = 'Since 0.3.0 only superusers and roles granted SET on the parameter may turn it on, but settings stored before still apply. '
				'Reset those that no restore or subscription role needs.';
	END LOOP;
END $$;
