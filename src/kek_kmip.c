/*
 * kek_kmip.c
 *		The kmip:// key-encryption-key source: one KMIP Get over mutual TLS.
 *
 *	kmip://HOST[:PORT]/UNIQUE-ID?cert=PATH&key=PATH&ca=PATH[&servername=NAME]
 *
 * fetches the 32-byte AES key that the server holds under UNIQUE-ID,
 * authenticating with the client certificate and key and trusting only a
 * server whose certificate the CA signed for NAME (default HOST).  kek.c
 * calls this once per backend and caches the key.
 *
 * Like crypto.c, the TLS exchange calls no PostgreSQL function while it
 * holds an OpenSSL object or a socket: it returns a status and a message,
 * frees everything, and only then is anything reported.  A query cancel
 * or a shutdown ends the wait at the next poll (every 100 ms), and the
 * whole exchange gives up after EC_KMIP_TIMEOUT_MS.  The message building
 * and reading is in kmip_ttlv.c, which the fuzzer runs.  OpenSSL is told
 * to wipe its record buffers (SSL_OP_CLEANSE_PLAINTEXT), and the response
 * is wiped here, on every path.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "miscadmin.h"

#include "encrypted_column.h"
#include "kek.h"
#include "kmip_ttlv.h"

#define EC_KMIP_DEFAULT_PORT	"5696"
#define EC_KMIP_TIMEOUT_MS		10000
#define EC_KMIP_POLL_MS			100
#define EC_KMIP_ERR_LEN			256

/* The parts of a kmip:// URL, percent-decoded, in CurrentMemoryContext. */
typedef struct kmip_url
{
	char	   *host;
	char	   *port;
	char	   *uid;
	char	   *cert;
	char	   *key;
	char	   *ca;
	char	   *servername;
} kmip_url;

/* How an exchange ended. */
typedef enum kmip_io_status
{
	KMIP_IO_OK,
	KMIP_IO_FAILED,				/* message in the error buffer */
	KMIP_IO_CANCELED			/* an interrupt is pending */
} kmip_io_status;

/*
 * Percent-decode s[0..len) into a new string; a malformed escape or an
 * encoded NUL (which would cut the value short unseen) is a config error
 * naming the part of the URL.
 */
static char *
url_decode(const char *s, size_t len, const char *part)
{
	char	   *out = palloc(len + 1);
	size_t		i;
	size_t		o = 0;

	for (i = 0; i < len; i++)
	{
		if (s[i] == '%')
		{
			int			hi = i + 2 < len ? ec_hex_digit(s[i + 1]) : -1;
			int			lo = i + 2 < len ? ec_hex_digit(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				ereport(ERROR,
						(errcode(ERRCODE_CONFIG_FILE_ERROR),
						 errmsg("invalid encrypted_column.kek_source: bad percent-escape in the %s of the kmip:// URL", part),
						 errhint("Write a byte as %% followed by two hex digits; %%00 is not allowed.")));
			out[o++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* Report a malformed kmip:// URL; what says which part is wrong. */
static void
url_error(const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("invalid encrypted_column.kek_source: %s", what),
			 errhint("%s", hint)));
}

#define URL_FORM_HINT "The form is kmip://HOST[:PORT]/UNIQUE-ID?cert=PATH&key=PATH&ca=PATH[&servername=NAME]."

/* Split a kmip:// URL into its parts, or report which part is malformed. */
static void
parse_url(const char *url, kmip_url *u)
{
	const char *p;
	const char *slash;
	const char *query;
	const char *host_end;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "kmip://", 7) != 0)
		url_error("a KMIP source must start with kmip://", URL_FORM_HINT);
	p = url + 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		url_error("the kmip:// URL has no key identifier after the host", URL_FORM_HINT);

	/* host: a name, an IPv4 address or an IPv6 address in brackets */
	if (*p == '[')
	{
		const char *close = memchr(p, ']', slash - p);
		struct in6_addr a6;

		if (close == NULL)
			url_error("the IPv6 address in the kmip:// URL has no closing bracket", URL_FORM_HINT);
		u->host = pnstrdup(p + 1, close - p - 1);
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			url_error("the host of the kmip:// URL is not an IPv6 address", URL_FORM_HINT);
		host_end = close + 1;
		if (host_end != slash && *host_end != ':')
			url_error("the kmip:// URL has text after the IPv6 address", URL_FORM_HINT);
	}
	else
	{
		host_end = memchr(p, ':', slash - p);
		if (host_end == NULL)
			host_end = slash;
		u->host = url_decode(p, host_end - p, "host");
	}
	if (u->host[0] == '\0')
		url_error("the kmip:// URL has no host", URL_FORM_HINT);
	if (strspn(u->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") !=
		strlen(u->host))
		url_error("the host of the kmip:// URL has a character that no host name has", URL_FORM_HINT);

	/* port: 1 to 65535, default 5696 */
	if (host_end != slash)
	{
		const char *d = host_end + 1;
		long		port = 0;

		if (d == slash || slash - d > 5)
			url_error("the port of the kmip:// URL is not a number from 1 to 65535", URL_FORM_HINT);
		for (; d < slash; d++)
		{
			if (*d < '0' || *d > '9')
				url_error("the port of the kmip:// URL is not a number from 1 to 65535", URL_FORM_HINT);
			port = port * 10 + (*d - '0');
		}
		if (port < 1 || port > 65535)
			url_error("the port of the kmip:// URL is not a number from 1 to 65535", URL_FORM_HINT);
		u->port = psprintf("%ld", port);
	}
	else
		u->port = pstrdup(EC_KMIP_DEFAULT_PORT);

	/* the unique identifier, up to the query */
	query = strchr(slash + 1, '?');
	u->uid = url_decode(slash + 1,
						query ? (size_t) (query - slash - 1) : strlen(slash + 1),
						"key identifier");
	if (u->uid[0] == '\0')
		url_error("the kmip:// URL has an empty key identifier", URL_FORM_HINT);
	if (strlen(u->uid) > EC_KMIP_MAX_ID_LEN)
		url_error("the key identifier of the kmip:// URL is longer than 1024 bytes", URL_FORM_HINT);

	/* attributes: each known one once, nothing else */
	if (query != NULL)
	{
		const char *a = query + 1;

		for (;;)
		{
			const char *amp = strchr(a, '&');
			size_t		alen = amp ? (size_t) (amp - a) : strlen(a);
			const char *eq = memchr(a, '=', alen);
			char	   *name;
			char	  **slot;

			if (eq == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_CONFIG_FILE_ERROR),
						 errmsg("invalid encrypted_column.kek_source: attribute \"%s\" of the kmip:// URL has no value",
								url_decode(a, alen, "attribute name")),
						 errhint(URL_FORM_HINT)));
			name = url_decode(a, eq - a, "attribute name");
			if (strcmp(name, "cert") == 0)
				slot = &u->cert;
			else if (strcmp(name, "key") == 0)
				slot = &u->key;
			else if (strcmp(name, "ca") == 0)
				slot = &u->ca;
			else if (strcmp(name, "servername") == 0)
				slot = &u->servername;
			else
				ereport(ERROR,
						(errcode(ERRCODE_CONFIG_FILE_ERROR),
						 errmsg("invalid encrypted_column.kek_source: unknown attribute \"%s\" in the kmip:// URL", name),
						 errhint("The attributes are cert, key, ca and servername.")));
			if (*slot != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_CONFIG_FILE_ERROR),
						 errmsg("invalid encrypted_column.kek_source: attribute \"%s\" appears twice in the kmip:// URL", name)));
			*slot = url_decode(eq + 1, alen - (eq + 1 - a), name);
			if ((*slot)[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_CONFIG_FILE_ERROR),
						 errmsg("invalid encrypted_column.kek_source: attribute \"%s\" of the kmip:// URL is empty", name)));
			if (slot != &u->servername && (*slot)[0] != '/')
				ereport(ERROR,
						(errcode(ERRCODE_CONFIG_FILE_ERROR),
						 errmsg("invalid encrypted_column.kek_source: attribute \"%s\" of the kmip:// URL is not an absolute path", name),
						 errhint("Relative paths would depend on the server's working directory; give the whole path.")));
			if (amp == NULL)
				break;
			a = amp + 1;
		}
	}
	if (u->cert == NULL)
		url_error("attribute \"cert\" (the client certificate) is missing from the kmip:// URL", URL_FORM_HINT);
	if (u->key == NULL)
		url_error("attribute \"key\" (the client's private key) is missing from the kmip:// URL", URL_FORM_HINT);
	if (u->ca == NULL)
		url_error("attribute \"ca\" (the CA that signed the server's certificate) is missing from the kmip:// URL", URL_FORM_HINT);
	if (u->servername == NULL)
		u->servername = u->host;
}

/*
 * Refuse a private key file that others may read, by the rule PostgreSQL
 * applies to ssl_key_file (kek.c); OpenSSL opens it again by its path.
 */
static void
check_key_file(const char *path)
{
	close(ec_open_secret_file(path, "KMIP client key file"));
}

/* Milliseconds on a clock that does not jump. */
static int64
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until the socket is ready for events, in short slices so that a
 * query cancel or a shutdown request ends the wait.  Touches only the
 * interrupt flags, never CHECK_FOR_INTERRUPTS, which could jump away from
 * the caller's OpenSSL objects.
 */
static kmip_io_status
wait_socket(int fd, short events, int64 deadline, const char *doing,
			char *err)
{
	for (;;)
	{
		struct pollfd pfd;
		int64		left = deadline - now_ms();
		int			rc;

		if (InterruptPending && (QueryCancelPending || ProcDiePending))
			return KMIP_IO_CANCELED;
		if (left <= 0)
		{
			snprintf(err, EC_KMIP_ERR_LEN, "no answer within %d seconds while %s",
					 EC_KMIP_TIMEOUT_MS / 1000, doing);
			return KMIP_IO_FAILED;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int) Min(left, EC_KMIP_POLL_MS));
		if (rc > 0)
			return KMIP_IO_OK;
		if (rc < 0 && errno != EINTR)
		{
			snprintf(err, EC_KMIP_ERR_LEN, "poll failed while %s: %s", doing,
					 strerror(errno));
			return KMIP_IO_FAILED;
		}
	}
}

/*
 * Connect a non-blocking TCP socket to the first address of host:port that
 * answers within the deadline; -1 with a message or a cancel otherwise.
 */
static int
connect_tcp(const kmip_url *u, int64 deadline, char *err, kmip_io_status *st)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	int			rc;
	int			fd = -1;

	*st = KMIP_IO_FAILED;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0)
	{
		snprintf(err, EC_KMIP_ERR_LEN, "could not resolve the host name: %s",
				 gai_strerror(rc));
		return -1;
	}
	snprintf(err, EC_KMIP_ERR_LEN, "no address to connect to");
	for (ai = res; ai != NULL; ai = ai->ai_next)
	{
		int			soerr = 0;
		socklen_t	sl = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
					ai->ai_protocol);
		if (fd < 0)
		{
			snprintf(err, EC_KMIP_ERR_LEN, "could not create a socket: %s",
					 strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS)
		{
			*st = wait_socket(fd, POLLOUT, deadline, "connecting", err);
			if (*st == KMIP_IO_CANCELED)
			{
				close(fd);
				fd = -1;
				break;
			}
			if (*st == KMIP_IO_OK &&
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
				soerr == 0)
				break;
			if (*st == KMIP_IO_OK)
				snprintf(err, EC_KMIP_ERR_LEN, "could not connect: %s",
						 strerror(soerr));
		}
		else
			snprintf(err, EC_KMIP_ERR_LEN, "could not connect: %s",
					 strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		*st = KMIP_IO_OK;
	else if (*st == KMIP_IO_OK)
		*st = KMIP_IO_FAILED;
	return fd;
}

/*
 * Put OpenSSL's reason for a failure into err, preferring the certificate
 * verification result, which says why the server was not trusted.
 */
static void
tls_error(SSL *ssl, const char *doing, char *err)
{
	unsigned long e = ERR_peek_last_error();
	long		vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char		lib[EC_KMIP_ERR_LEN];

	if (vr != X509_V_OK)
		snprintf(err, EC_KMIP_ERR_LEN, "the server's certificate was not accepted while %s: %s",
				 doing, X509_verify_cert_error_string(vr));
	else if (e != 0)
	{
		ERR_error_string_n(e, lib, sizeof(lib));
		snprintf(err, EC_KMIP_ERR_LEN, "TLS failed while %s: %s", doing, lib);
	}
	else
		snprintf(err, EC_KMIP_ERR_LEN, "the server closed the connection while %s",
				 doing);
}

/*
 * Drive one TLS call that may need the socket to be readable or writable
 * (the socket is non-blocking) until it succeeds, fails or times out.
 * call returns what SSL_connect, SSL_write or SSL_read return.
 */
static kmip_io_status
tls_step(SSL *ssl, int fd, int64 deadline, const char *doing, char *err,
		 int (*call) (SSL *ssl, void *buf, int len), void *buf, int len,
		 int *done)
{
	for (;;)
	{
		int			rc;
		int			e;
		kmip_io_status st;

		ERR_clear_error();
		rc = call(ssl, buf, len);
		if (rc > 0)
		{
			*done = rc;
			return KMIP_IO_OK;
		}
		e = SSL_get_error(ssl, rc);
		if (e == SSL_ERROR_WANT_READ)
			st = wait_socket(fd, POLLIN, deadline, doing, err);
		else if (e == SSL_ERROR_WANT_WRITE)
			st = wait_socket(fd, POLLOUT, deadline, doing, err);
		else
		{
			tls_error(ssl, doing, err);
			return KMIP_IO_FAILED;
		}
		if (st != KMIP_IO_OK)
			return st;
	}
}

/* SSL_connect in tls_step's shape. */
static int
call_connect(SSL *ssl, void *buf, int len)
{
	(void) buf;
	(void) len;
	return SSL_connect(ssl);
}

/* SSL_write in tls_step's shape. */
static int
call_write(SSL *ssl, void *buf, int len)
{
	return SSL_write(ssl, buf, len);
}

/* SSL_read in tls_step's shape. */
static int
call_read(SSL *ssl, void *buf, int len)
{
	return SSL_read(ssl, buf, len);
}

/* Refuse to prompt for a passphrase: an encrypted key file just fails. */
static int
no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void) buf;
	(void) size;
	(void) rwflag;
	(void) userdata;
	return -1;
}

/*
 * Send the request and read the whole response into resp (at least
 * EC_KMIP_MAX_RESPONSE bytes).  Calls nothing that can ereport: every
 * OpenSSL object and the socket are freed before it returns, on every
 * path, and a failure leaves its reason in err.
 */
static pg_noinline kmip_io_status
kmip_exchange(const kmip_url *u, const uint8_t *req, size_t req_len,
			  uint8_t *resp, size_t *resp_len, char *err)
{
	SSL_CTX    *ctx = NULL;
	SSL		   *ssl = NULL;
	int			fd;
	kmip_io_status st;
	int64		deadline = now_ms() + EC_KMIP_TIMEOUT_MS;
	unsigned char ipbuf[sizeof(struct in6_addr)];
	bool		is_ip;
	size_t		got = 0;
	size_t		total = 0;
	int			n;

	*resp_len = 0;
	fd = connect_tcp(u, deadline, err, &st);
	if (fd < 0)
		return st;

	/* a fresh allowance for the TLS handshake and the exchange */
	deadline = now_ms() + EC_KMIP_TIMEOUT_MS;
	st = KMIP_IO_FAILED;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
	{
		tls_error(NULL, "setting up TLS", err);
		goto done;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, u->cert) != 1)
	{
		tls_error(NULL, "loading the client certificate (attribute cert)", err);
		goto done;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, u->key, SSL_FILETYPE_PEM) != 1)
	{
		tls_error(NULL, "loading the client key (attribute key; it must be an unencrypted PEM file)", err);
		goto done;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
	{
		tls_error(NULL, "matching the client key to the client certificate", err);
		goto done;
	}
	if (SSL_CTX_load_verify_locations(ctx, u->ca, NULL) != 1)
	{
		tls_error(NULL, "loading the CA certificate (attribute ca)", err);
		goto done;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
	{
		tls_error(NULL, "setting up TLS", err);
		goto done;
	}
	/* the server's certificate must name the host (or servername) */
	is_ip = inet_pton(AF_INET, u->servername, ipbuf) == 1 ||
		inet_pton(AF_INET6, u->servername, ipbuf) == 1;
	if (is_ip ?
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->servername) != 1 :
		(SSL_set1_host(ssl, u->servername) != 1 ||
		 SSL_set_tlsext_host_name(ssl, u->servername) != 1))
	{
		tls_error(NULL, "setting the server name to check", err);
		goto done;
	}

	st = tls_step(ssl, fd, deadline, "in the TLS handshake", err,
				  call_connect, NULL, 0, &n);
	if (st != KMIP_IO_OK)
		goto done;
	st = tls_step(ssl, fd, deadline, "sending the Get request", err,
				  call_write, (void *) req, (int) req_len, &n);
	if (st != KMIP_IO_OK)
		goto done;

	/* the 8-byte header says how long the rest is */
	while (total == 0 || got < total)
	{
		size_t		want = total == 0 ? EC_TTLV_HEADER_LEN - got : total - got;

		st = tls_step(ssl, fd, deadline, "reading the response", err,
					  call_read, resp + got, (int) want, &n);
		if (st != KMIP_IO_OK)
			goto done;
		got += n;
		if (total == 0 && got == EC_TTLV_HEADER_LEN)
		{
			total = ec_kmip_response_length(resp);
			if (total == 0)
			{
				snprintf(err, EC_KMIP_ERR_LEN,
						 "the answer is not a KMIP response of at most %d bytes",
						 EC_KMIP_MAX_RESPONSE);
				st = KMIP_IO_FAILED;
				goto done;
			}
		}
	}
	*resp_len = got;
	st = KMIP_IO_OK;
	/* a polite close; the answer is in, so its outcome does not matter */
	(void) SSL_shutdown(ssl);

done:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	ERR_clear_error();
	return st;
}

/* Copy server-supplied text for a message: printable ASCII, at most 200. */
static char *
printable(const char *s, size_t len)
{
	size_t		n = Min(len, 200);
	char	   *out = palloc(n + 1);
	size_t		i;

	for (i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[n] = '\0';
	return out;
}

/*
 * Judge the outcome of the exchange and the response it brought, and copy
 * the key into kek only when everything about it is right; every other
 * outcome is an error that names what was found, never a key byte.
 */
static pg_noinline void
take_key(const kmip_url *u, kmip_io_status st, const char *err,
		 const uint8_t *resp, size_t resp_len, uint8_t *kek)
{
	ec_kmip_get_result res;
	ec_kmip_status ps;

	if (st == KMIP_IO_CANCELED)
	{
		CHECK_FOR_INTERRUPTS();
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceled the fetch of the key-encryption key from KMIP server \"%s\"",
						u->host)));
	}
	if (st != KMIP_IO_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not fetch the key-encryption key from KMIP server \"%s\" port %s",
						u->host, u->port),
				 errdetail("The exchange failed: %s.", err),
				 errhint("Check that the KMIP server runs and that the certificates and the CA in encrypted_column.kek_source are the right ones.")));

	ps = ec_kmip_parse_get(resp, resp_len, &res);
	if (ps == EC_KMIP_FAILED)
	{
		const char *reason = ec_kmip_reason_name(res.result_reason);

		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("KMIP server \"%s\" refused to give key \"%s\"",
						u->host, u->uid),
				 errdetail("Result Status %lld, Result Reason %s, Result Message \"%s\".",
						   (long long) res.result_status,
						   reason ? reason : psprintf("%lld", (long long) res.result_reason),
						   printable(res.result_message ? res.result_message : "",
									 res.result_message_len))));
	}
	if (ps == EC_KMIP_NOT_SYMMETRIC)
	{
		const char *type = ec_kmip_object_type_name(res.object_type);

		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("KMIP object \"%s\" is not a symmetric key", u->uid),
				 errdetail("The server gave an object of type %s.",
						   type ? type : psprintf("%lld", (long long) res.object_type))));
	}
	if (ps != EC_KMIP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("KMIP server \"%s\" gave no usable key for \"%s\"",
						u->host, u->uid),
				 errdetail("It answered with %s.", ec_kmip_status_text(ps))));
	if (res.unique_id != NULL &&
		(res.unique_id_len != strlen(u->uid) ||
		 memcmp(res.unique_id, u->uid, res.unique_id_len) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("KMIP server \"%s\" answered the Get of \"%s\" with another object",
						u->host, u->uid)));
	if (res.key_format != EC_KMIP_FORMAT_RAW &&
		res.key_format != EC_KMIP_FORMAT_TRANSPARENT_SYM)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("KMIP key \"%s\" has Key Format Type %lld, not Raw",
						u->uid, (long long) res.key_format)));
	if (res.algorithm != EC_KMIP_ALG_AES)
	{
		const char *alg = ec_kmip_algorithm_name(res.algorithm);

		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("KMIP key \"%s\" is not an AES key", u->uid),
				 errdetail("The server says its algorithm is %s.",
						   alg ? alg : res.algorithm < 0 ? "not given" :
						   psprintf("%lld", (long long) res.algorithm)),
				 errhint("A key-encryption key must be AES-256.")));
	}
	if (res.key_len != EC_KEK_LEN ||
		(res.crypto_length >= 0 && res.crypto_length != EC_KEK_LEN * 8))
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("KMIP key \"%s\" is not a 256-bit key", u->uid),
				 errdetail("Its key material is %zu bits long.", res.key_len * 8),
				 errhint("A key-encryption key must be AES-256.")));
	memcpy(kek, res.key, EC_KEK_LEN);
}

/* Fetch the KEK that a kmip:// URL names; see kek.h. */
void
ec_kmip_fetch(const char *url, uint8_t *kek)
{
	kmip_url	u;
	uint8_t		req[EC_KMIP_REQUEST_MAX];
	size_t		req_len;
	uint8_t    *volatile resp;
	size_t		resp_len = 0;
	char		err[EC_KMIP_ERR_LEN];
	kmip_io_status st;

	parse_url(url, &u);
	check_key_file(u.key);
	req_len = ec_kmip_build_get(u.uid, strlen(u.uid), req);
	if (req_len == 0)
		elog(ERROR, "could not build a KMIP Get request");

	/* allocated before any OpenSSL object exists, so its failure strands none */
	resp = palloc0(EC_KMIP_MAX_RESPONSE);
	err[0] = '\0';
	st = kmip_exchange(&u, req, req_len, resp, &resp_len, err);

	PG_TRY();
	{
		take_key(&u, st, err, resp, resp_len, kek);
	}
	PG_FINALLY();
	{
		ec_wipe(resp, EC_KMIP_MAX_RESPONSE);
		pfree(resp);
	}
	PG_END_TRY();
}
