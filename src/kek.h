/*
 * kek.h
 *		Key-encryption keys: the sources that encrypted_column.kek_source
 *		names, as kek.c drives them.
 *
 * A stored data key is 32 bytes, kept in the key table only wrapped with
 * AES key wrap with padding (RFC 5649, 40 bytes for a 32-byte key).  Two
 * kinds of source give the key-encryption key (KEK):
 *	- sources that hand 32 bytes of KEK to this backend (file:, command:,
 *	  session, kmip://), after which kek.c wraps and unwraps with OpenSSL;
 *	- a token (pkcs11:), which wraps and unwraps inside itself, so the KEK
 *	  never enters the backend's memory.
 * Both produce the same RFC 5649 bytes, so a key wrapped by one kind can be
 * unwrapped by the other when they hold the same KEK.
 *
 * Every function here reports failure with ereport(ERROR) and a SQLSTATE:
 *	ERRCODE_CONFIG_FILE_ERROR	the source text is malformed or names
 *								something unusable (a key file others
 *								can read, an unknown token)
 *	ERRCODE_SYSTEM_ERROR		the source is well formed but failed at run
 *								time (command exited non-zero, token or
 *								server unreachable, TLS failure)
 * Messages name the source's non-secret parts (path, host, token label,
 * key label or id) and never a PIN, a KEK or a data key byte.  Buffers
 * that held secrets are wiped on every path, error paths included.
 */
#ifndef EC_KEK_H
#define EC_KEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EC_KEK_LEN			32	/* an AES-256 KEK */
#define EC_DATA_KEY_LEN		32	/* a stored data key = a 0.3.0 master key */
#define EC_WRAPPED_LEN		40	/* RFC 5649 output for a 32-byte key */

/* ---- kek.c: shared by the sources ---- */

/* Open a file holding a secret, refused unless only the server may read it. */
extern int	ec_open_secret_file(const char *path, const char *what);

/* ---- kek_pkcs11.c: a token, through the PKCS#11 C API (dlopen) ---- */

/*
 * Open the token and find the key that an RFC 7512 URI names, e.g.
 *	pkcs11:token=ec;object=kek1;type=secret-key
 *		?module-path=/usr/lib/softhsm/libsofthsm2.so
 *		&pin-source=/etc/postgresql/ec-pin
 * The returned handle lives in TopMemoryContext until ec_pkcs11_close.
 */
extern void *ec_pkcs11_open(const char *uri);

/* Wrap a data key with CKM_AES_KEY_WRAP_PAD inside the token. */
extern void ec_pkcs11_wrap(void *handle, const uint8_t *key, size_t key_len,
						   uint8_t *wrapped /* EC_WRAPPED_LEN */ );

/*
 * Unwrap inside the token and read the data key out; false when the token
 * says the wrapped bytes do not verify under its KEK (a wrong KEK), an
 * ereport for any other failure.
 */
extern bool ec_pkcs11_unwrap(void *handle, const uint8_t *wrapped,
							 size_t wrapped_len,
							 uint8_t *key /* EC_DATA_KEY_LEN */ );

/* Log out, close the session, finalize and dlclose; NULL is ignored. */
extern void ec_pkcs11_close(void *handle);

/* ---- kek_kmip.c: a KMIP server over mutual TLS ---- */

/*
 * Fetch the 32-byte symmetric key that a KMIP URL names, e.g.
 *	kmip://kms.example:5696/KEY-ID?cert=/path/client.pem&key=/path/client.key
 *		&ca=/path/ca.pem
 * with a KMIP Get request over TLS; the key is written to kek.
 */
extern void ec_kmip_fetch(const char *url, uint8_t *kek /* EC_KEK_LEN */ );

#endif							/* EC_KEK_H */
