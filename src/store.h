/*
 * store.h
 *		The key table as store.c and key_admin.c reach it: where it is,
 *		and SPI run as its owner.
 */
#ifndef EC_STORE_H
#define EC_STORE_H

#include "postgres.h"

typedef struct ec_store_location
{
	Oid			relid;			/* stored_keys */
	Oid			grants_relid;	/* stored_key_grants */
	Oid			owner;
	const char *schema;			/* quoted, for the queries */
} ec_store_location;

typedef struct ec_store_spi
{
	Oid			save_userid;
	int			save_sec_context;
} ec_store_spi;

extern void ec_store_locate(ec_store_location *where);
extern void ec_store_spi_begin(ec_store_spi *spi);
extern void ec_store_spi_end(ec_store_spi *spi);

/*
 * Run a query of the key table: every %s in format is the extension's
 * schema (at most two), every argument (at most eight) text.
 */
extern int	ec_store_query(const char *format, bool read_only, int nargs,
						   const char *const *args);
extern char *ec_store_text(int row, int col);
extern bytea *ec_store_bytea(int row, int col);
extern Oid	ec_extension_schema(Oid extoid);
extern bool ec_hex_to_bytes(const char *hex, uint8_t *out, size_t len);

#endif							/* EC_STORE_H */
