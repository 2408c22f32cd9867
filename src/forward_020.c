/*
 * forward_020.c
 *		The C entry points that version 0.2.0's SQL gave the readers of
 *		application-level ciphertexts, which now belong to the extension
 *		encrypted_column_migrate and its own library.
 *
 * A database still at 0.2.0, and every update that passes through 0.2.0
 * (its script is released and cannot change), create C functions with
 * these names in this library, so the names must resolve here.  Each one
 * forwards the call unchanged to the migration library, loaded on first
 * use, so a 0.2.0 database reads exactly as before until ALTER EXTENSION
 * encrypted_column UPDATE drops the functions.  No reader and no legacy
 * cipher is compiled into this library.
 */
#include "postgres.h"

#include "fmgr.h"

#define MIGRATE_LIBRARY "$libdir/encrypted_column_migrate"

PG_FUNCTION_INFO_V1(encrypted_column_decrypt_sqlalchemy_aes);
PG_FUNCTION_INFO_V1(encrypted_column_decrypt_sqlalchemy_aesgcm);
PG_FUNCTION_INFO_V1(encrypted_column_decrypt_sqlalchemy_fernet);
PG_FUNCTION_INFO_V1(encrypted_column_decrypt_fernet);

/* Tell whoever sees a failed load where the function went. */
static void
moved_context(void *arg)
{
	errcontext("function %s of encrypted_column 0.2.0, which now lives in the extension encrypted_column_migrate",
			   (const char *) arg);
}

/* Call target in the migration library, looking it up once per backend. */
static Datum
forward(FunctionCallInfo fcinfo, PGFunction *cache, const char *sql_name,
		const char *target)
{
	if (*cache == NULL)
	{
		ErrorContextCallback callback;

		callback.callback = moved_context;
		callback.arg = unconstify(char *, sql_name);
		callback.previous = error_context_stack;
		error_context_stack = &callback;
		*cache = load_external_function(MIGRATE_LIBRARY, target, true, NULL);
		error_context_stack = callback.previous;
	}
	return (*cache) (fcinfo);
}

/* decrypt_sqlalchemy_aes() as 0.2.0 declared it. */
Datum
encrypted_column_decrypt_sqlalchemy_aes(PG_FUNCTION_ARGS)
{
	static PGFunction target = NULL;

	return forward(fcinfo, &target, "decrypt_sqlalchemy_aes",
				   "encrypted_column_migrate_decrypt_sqlalchemy_aes");
}

/* decrypt_sqlalchemy_aesgcm() as 0.2.0 declared it. */
Datum
encrypted_column_decrypt_sqlalchemy_aesgcm(PG_FUNCTION_ARGS)
{
	static PGFunction target = NULL;

	return forward(fcinfo, &target, "decrypt_sqlalchemy_aesgcm",
				   "encrypted_column_migrate_decrypt_sqlalchemy_aesgcm");
}

/* decrypt_sqlalchemy_fernet() as 0.2.0 declared it. */
Datum
encrypted_column_decrypt_sqlalchemy_fernet(PG_FUNCTION_ARGS)
{
	static PGFunction target = NULL;

	return forward(fcinfo, &target, "decrypt_sqlalchemy_fernet",
				   "encrypted_column_migrate_decrypt_sqlalchemy_fernet");
}

/* decrypt_fernet() as 0.2.0 declared it, with and without ttl. */
Datum
encrypted_column_decrypt_fernet(PG_FUNCTION_ARGS)
{
	static PGFunction target = NULL;

	return forward(fcinfo, &target, "decrypt_fernet",
				   "encrypted_column_migrate_decrypt_fernet");
}
