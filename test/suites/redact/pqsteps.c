/*
 * pqsteps: run statements over libpq the way drivers do, then stay
 * connected and idle until standard input closes, so that another
 * session can read pg_stat_activity.
 *
 *	pqsteps CONNINFO STEP...
 *
 * Each STEP is MODE:TEXT with MODE one of
 *	simple	send TEXT as one Query message (any text, even one that does
 *			not lex)
 *	parse	send only Parse (a protocol-level prepared statement) and Sync
 *	params	TEXT is SQL, then '\x01' and one parameter value: Parse, Bind
 *			and Execute with that parameter
 * Results and errors are printed; "ready" is printed once all steps ran.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

/* Print a result's status and error, and free it. */
static void
report(PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	printf("%s %s %s\n", PQresStatus(PQresultStatus(res)), state ? state : "",
		   PQntuples(res) > 0 && PQnfields(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	char		line[64];

	if (argc < 2)
		return 2;
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	for (int i = 2; i < argc; i++)
	{
		char	   *text = strchr(argv[i], ':');

		if (text == NULL)
			return 2;
		*text++ = '\0';
		if (strcmp(argv[i], "simple") == 0)
			report(PQexec(conn, text));
		else if (strcmp(argv[i], "parse") == 0)
			report(PQprepare(conn, "", text, 0, NULL));
		else if (strcmp(argv[i], "params") == 0)
		{
			char	   *value = strchr(text, '\x01');
			const char *values[1];

			if (value == NULL)
				return 2;
			*value++ = '\0';
			values[0] = value;
			report(PQexecParams(conn, text, 1, NULL, values, NULL, NULL, 0));
		}
		else
			return 2;
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL)
		;
	PQfinish(conn);
	return 0;
}
