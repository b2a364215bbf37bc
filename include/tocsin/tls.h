/* A TLS client on the libuv loop: OpenSSL 3 with two memory BIOs, driven by
 * uv_read/uv_write on a connected stream.  Nothing blocks and no thread is
 * started.  Used by the TCP probe; any later probe that speaks TLS over a raw
 * stream (SMTP, IMAP, ...) can use it as is.
 *
 * Ownership: the session takes over STREAM's data pointer and its reads while
 * it runs, so the owner finds its own state from the handle with container_of.
 * The owner stops the session (tocsin_tls_stop), closes the stream, and frees
 * the session from the stream's close callback or later: pending writes still
 * point into it until then. */
#ifndef TOCSIN_TLS_H
#define TOCSIN_TLS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "tocsin/config.h"

/* TLS failures that are not socket errors (those come as UV_* codes):
 * OpenSSL refused the handshake or a record; tocsin_tls_message() says why. */
#define TOCSIN_TLS_EPROTO (-EPROTO)

#define TOCSIN_TLS_MESSAGE_MAX 256

struct tocsin_tls;

/* STATUS 0: handshake done.  Otherwise TOCSIN_TLS_EPROTO or a UV_* error
 * (UV_EOF: the peer closed during the handshake), with a human MESSAGE such as
 * "certificate verify failed: self-signed certificate". */
typedef void (*tocsin_tls_handshake_cb)(struct tocsin_tls *tls, int status, const char *message);

/* NREAD > 0: plaintext in BUF (valid during the call).  NREAD < 0: UV_EOF or a
 * UV_* error (a failed write of ours is reported here too); no more reads follow. */
typedef void (*tocsin_tls_read_cb)(struct tocsin_tls *tls, ssize_t nread, const char *buf);

/* Prepares a session with CONF's settings for HOST (a name or an IP literal;
 * CONF->server_name overrides it for SNI and the certificate check).  0 or a
 * negative errno-style code with the reason in ERR (bad CA file, client key...). */
int tocsin_tls_new(const struct tocsin_tls_conf *conf, const char *host, void *data,
                   struct tocsin_tls **out, char *err, size_t err_size);

/* Starts the handshake on the connected STREAM.  0 or -errno (then CB never
 * fires).  CB fires once, never inside this call. */
int tocsin_tls_handshake(struct tocsin_tls *tls, uv_stream_t *stream, tocsin_tls_handshake_cb cb);

/* Encrypts LEN bytes and queues them on the stream.  0 or -errno. */
int tocsin_tls_write(struct tocsin_tls *tls, const char *buf, size_t len);

/* Delivers plaintext to CB.  Call it from the handshake callback: bytes that
 * arrived with the end of the handshake are delivered right after that callback
 * returns.  0 or -errno (also the socket's error, when one came in between). */
int tocsin_tls_read_start(struct tocsin_tls *tls, tocsin_tls_read_cb cb);

/* Whole days until the peer certificate's notAfter (negative once expired,
 * a partial day past counted as a whole one).  False without a peer certificate. */
bool tocsin_tls_cert_days(const struct tocsin_tls *tls, int *days);

void *tocsin_tls_data(const struct tocsin_tls *tls);

/* Why the last TOCSIN_TLS_EPROTO happened ("" when it did not). */
const char *tocsin_tls_message(const struct tocsin_tls *tls);

/* No callback fires after this; reading stops.  The owner then closes the stream. */
void tocsin_tls_stop(struct tocsin_tls *tls);

/* After the stream's close callback.  NULL is fine. */
void tocsin_tls_free(struct tocsin_tls *tls);

/* SSL_CTXs are shared by checks with the same (ca_file, cert_file, key_file):
 * loading the system store costs milliseconds per context.  Loop thread only.
 * Clearing drops them (on reload, at engine close); sessions in flight keep
 * their own reference. */
void tocsin_tls_cache_clear(void);

#endif
