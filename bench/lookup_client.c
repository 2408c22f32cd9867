/*
 * lookup_client.c
 *		Runs one prepared lookup many times over the extended protocol, for
 *		bench/instructions.sh to count the backend's instructions.
 *
 * Prepares "SELECT id FROM ec_lookup WHERE <column> = $1" with $1 declared
 * text (as a driver that sends a string parameter does), then executes it
 * COUNT times with values u<i>@example.com, i spread over FIRST..LAST.
 * Each execution must find exactly one row.  Prints the backend's process
 * id, whose callgrind output the caller reads.
 *
 * Usage: lookup_client CONNINFO COLUMN COUNT FIRST LAST
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define TEXT_OID 25

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *res;
	char		sql[200];
	char		value[64];
	const char *params[1] = {value};
	Oid			types[1] = {TEXT_OID};
	long		count;
	long		first;
	long		rows;

	if (argc != 6 || (strcmp(argv[2], "email") != 0 && strcmp(argv[2], "plain") != 0))
	{
		fprintf(stderr, "usage: lookup_client CONNINFO email|plain COUNT FIRST LAST\n");
		return 2;
	}
	count = atol(argv[3]);
	first = atol(argv[4]);
	rows = atol(argv[5]) - first + 1;
	if (count < 0 || rows < 1)
	{
		fprintf(stderr, "lookup_client: bad COUNT, FIRST or LAST\n");
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	snprintf(sql, sizeof(sql), "SELECT id FROM ec_lookup WHERE %s = $1", argv[2]);
	res = PQprepare(conn, "lookup", sql, 1, types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);
	for (long i = 0; i < count; i++)
	{
		snprintf(value, sizeof(value), "u%ld@example.com", first + (i * 7919) % rows);
		res = PQexecPrepared(conn, "lookup", 1, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		{
			fprintf(stderr, "lookup of row %ld: %s (%d rows)\n",
					first + (i * 7919) % rows, PQerrorMessage(conn),
					PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1);
			return 1;
		}
		PQclear(res);
	}
	printf("%d\n", PQbackendPID(conn));
	PQfinish(conn);
	return 0;
}
