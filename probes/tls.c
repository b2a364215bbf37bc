/* TLS client over a libuv stream: see include/tocsin/tls.h.
 *
 * OpenSSL never touches the socket.  Ciphertext read by libuv goes into the
 * read BIO; whatever OpenSSL wants to send lands in the write BIO and is moved
 * to one uv_write per flush.  "pump" runs OpenSSL after every socket event:
 * the handshake until it is done, then SSL_read while the owner reads. */
#include "tocsin/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* One TLS record is at most 16 KiB; smaller reads only mean more loop turns. */
#define TLS_READ_CHUNK 8192
#define TLS_PLAIN_CHUNK 8192
/* Distinct (ca_file, cert_file, key_file) settings kept; the oldest goes first. */
#define TLS_CTX_CACHE_MAX 16

struct tocsin_tls {
    SSL *ssl;
    BIO *rbio;                  /* ciphertext from the peer (owned by ssl) */
    BIO *wbio;                  /* ciphertext to the peer (owned by ssl) */
    uv_stream_t *stream;
    void *data;
    tocsin_tls_handshake_cb on_handshake;
    tocsin_tls_read_cb on_read;
    int sock_error;             /* first socket error (UV_EOF included); 0 = none */
    bool handshaking;
    bool established;           /* the handshake succeeded */
    bool reading;               /* the owner wants plaintext */
    bool socket_reading;        /* uv_read_start is in effect */
    bool in_pump;
    bool stopped;
    char message[TOCSIN_TLS_MESSAGE_MAX];
    char rbuf[TLS_READ_CHUNK];
    char pbuf[TLS_PLAIN_CHUNK];
};

struct tls_write {
    uv_write_t req;
    struct tocsin_tls *tls;
    char buf[];
};

/* ---- contexts ------------------------------------------------------------ */

struct ctx_entry {
    char *ca_file;
    char *cert_file;
    char *key_file;
    SSL_CTX *ctx;
};

static struct ctx_entry ctx_cache[TLS_CTX_CACHE_MAX];
static size_t ctx_cache_n;

static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;

    return reason ? reason : "unknown error";
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* The system store is its CA file (SSL_CERT_FILE, else OpenSSL's default),
 * by default the bundle libcurl reads for HTTPS checks (tocsin_curl_set_ca),
 * so both probes trust the same (docs/decisions.md).  The default verify
 * paths would add the hashed directory and OpenSSL 3's store loader on it,
 * which look there for every issuer the bundle lacks (a server's
 * intermediate, on each check): a stat and a scan of the directory's ~300
 * entries per check, on the loop.  Only a host without the file gets the
 * directory. */
static int load_system_store(SSL_CTX *ctx)
{
    const char *file = getenv(X509_get_default_cert_file_env());

    if (file == NULL || file[0] == '\0')
        file = X509_get_default_cert_file();
    if (access(file, F_OK) == 0)
        return SSL_CTX_load_verify_file(ctx, file);
    return SSL_CTX_set_default_verify_paths(ctx);
}

static int load_files(SSL_CTX *ctx, const struct tocsin_tls_conf *conf, char *err, size_t size)
{
    const char *key = conf->key_file ? conf->key_file : conf->cert_file;

    if (conf->ca_file ? SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL) != 1
                      : load_system_store(ctx) != 1) {
        snprintf(err, size, "cannot load CA certificates from %s: %s",
                 conf->ca_file ? conf->ca_file : "the system store", openssl_reason());
        return -EINVAL;
    }
    if (conf->cert_file == NULL)
        return 0;
    if (SSL_CTX_use_certificate_chain_file(ctx, conf->cert_file) != 1) {
        snprintf(err, size, "cannot load client certificate %s: %s", conf->cert_file,
                 openssl_reason());
        return -EINVAL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, size, "cannot load client key %s: %s", key, openssl_reason());
        return -EINVAL;
    }
    return 0;
}

/* A fresh context: verification on (a session may turn it off), no tickets and
 * no session cache, since a resumed session shows no certificate (DESIGN §6). */
static int ctx_create(const struct tocsin_tls_conf *conf, SSL_CTX **out, char *err, size_t size)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int rc;

    if (ctx == NULL) {
        snprintf(err, size, "cannot create a TLS context: %s", openssl_reason());
        return -ENOMEM;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    rc = load_files(ctx, conf, err, size);
    if (rc < 0) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    *out = ctx;
    return rc;
}

static void entry_free(struct ctx_entry *e)
{
    free(e->ca_file);
    free(e->cert_file);
    free(e->key_file);
    SSL_CTX_free(e->ctx);
    memset(e, 0, sizeof(*e));
}

static char *dup_or_null(const char *s, bool *failed)
{
    char *copy = s ? strdup(s) : NULL;

    if (s && copy == NULL)
        *failed = true;
    return copy;
}

/* Remembers CTX (taking a reference); when memory is short it simply is not kept. */
static void ctx_remember(const struct tocsin_tls_conf *conf, SSL_CTX *ctx)
{
    struct ctx_entry e = {0};
    bool failed = false;

    e.ca_file = dup_or_null(conf->ca_file, &failed);
    e.cert_file = dup_or_null(conf->cert_file, &failed);
    e.key_file = dup_or_null(conf->key_file, &failed);
    if (failed || SSL_CTX_up_ref(ctx) != 1) {
        e.ctx = NULL;
        entry_free(&e);
        return;
    }
    e.ctx = ctx;
    if (ctx_cache_n == TLS_CTX_CACHE_MAX) {
        entry_free(&ctx_cache[0]);
        memmove(&ctx_cache[0], &ctx_cache[1], (TLS_CTX_CACHE_MAX - 1) * sizeof(ctx_cache[0]));
        ctx_cache_n--;
    }
    ctx_cache[ctx_cache_n++] = e;
}

/* A context for CONF with one reference for the caller. */
static int ctx_get(const struct tocsin_tls_conf *conf, SSL_CTX **out, char *err, size_t size)
{
    int rc;

    for (size_t i = 0; i < ctx_cache_n; i++) {
        struct ctx_entry *e = &ctx_cache[i];
        if (same(e->ca_file, conf->ca_file) && same(e->cert_file, conf->cert_file) &&
            same(e->key_file, conf->key_file) && SSL_CTX_up_ref(e->ctx) == 1) {
            *out = e->ctx;
            return 0;
        }
    }
    rc = ctx_create(conf, out, err, size);
    if (rc == 0)
        ctx_remember(conf, *out);
    return rc;
}

void tocsin_tls_cache_clear(void)
{
    for (size_t i = 0; i < ctx_cache_n; i++)
        entry_free(&ctx_cache[i]);
    ctx_cache_n = 0;
}

/* ---- sessions ------------------------------------------------------------ */

/* The numeric form of HOST without IPv6 brackets, or false for a name. */
static bool ip_literal(const char *host, char *ip, size_t size)
{
    unsigned char bin[sizeof(struct in6_addr)];
    size_t len = strlen(host);

    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len >= size)
        return false;
    memcpy(ip, host, len);
    ip[len] = '\0';
    return inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1;
}

/* What the certificate must be issued for, and SNI (never sent for an address). */
static int set_peer_name(SSL *ssl, const char *name, bool verify)
{
    char ip[64];
    bool is_ip = ip_literal(name, ip, sizeof(ip));

    if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1)
        return -EINVAL;
    if (!verify)
        return 0;
    if (is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) == 1 ? 0 : -EINVAL;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, name) == 1 ? 0 : -EINVAL;
}

static int session_setup(struct tocsin_tls *tls, SSL_CTX *ctx, const struct tocsin_tls_conf *conf,
                         const char *name)
{
    tls->ssl = SSL_new(ctx);
    tls->rbio = BIO_new(BIO_s_mem());
    tls->wbio = BIO_new(BIO_s_mem());
    if (tls->ssl == NULL || tls->rbio == NULL || tls->wbio == NULL) {
        BIO_free(tls->rbio);
        BIO_free(tls->wbio);
        tls->rbio = tls->wbio = NULL;
        return -ENOMEM;
    }
    SSL_set_bio(tls->ssl, tls->rbio, tls->wbio);
    SSL_set_connect_state(tls->ssl);
    if (conf->skip_verify)
        SSL_set_verify(tls->ssl, SSL_VERIFY_NONE, NULL);
    return set_peer_name(tls->ssl, name, !conf->skip_verify);
}

int tocsin_tls_new(const struct tocsin_tls_conf *conf, const char *host, void *data,
                   struct tocsin_tls **out, char *err, size_t err_size)
{
    struct tocsin_tls *tls = calloc(1, sizeof(*tls));
    const char *name = conf->server_name ? conf->server_name : host;
    SSL_CTX *ctx = NULL;
    int rc;

    if (tls == NULL) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    ERR_clear_error();
    rc = ctx_get(conf, &ctx, err, err_size);
    if (rc == 0) {
        rc = session_setup(tls, ctx, conf, name);
        if (rc < 0)
            snprintf(err, err_size, "cannot set up a TLS session for %s: %s", name,
                     openssl_reason());
    }
    SSL_CTX_free(ctx); /* the session holds its own reference */
    if (rc < 0) {
        tocsin_tls_free(tls);
        tls = NULL;
    } else {
        tls->data = data;
    }
    *out = tls;
    return rc;
}

void tocsin_tls_free(struct tocsin_tls *tls)
{
    if (tls == NULL)
        return;
    SSL_free(tls->ssl); /* frees both BIOs */
    free(tls);
}

void *tocsin_tls_data(const struct tocsin_tls *tls)
{
    return tls->data;
}

const char *tocsin_tls_message(const struct tocsin_tls *tls)
{
    return tls->message;
}

bool tocsin_tls_cert_days(const struct tocsin_tls *tls, int *days)
{
    X509 *cert = SSL_get0_peer_certificate(tls->ssl);
    int d = 0, secs = 0;

    if (cert == NULL || !ASN1_TIME_diff(&d, &secs, NULL, X509_get0_notAfter(cert)))
        return false;
    if (secs < 0 && d <= 0)
        d--; /* expired: a partial day past counts as a whole one */
    *days = d;
    return true;
}

/* ---- moving ciphertext ----------------------------------------------------- */

static void fail(struct tocsin_tls *tls, int status);

static void on_written(uv_write_t *req, int status)
{
    struct tls_write *w = (struct tls_write *)req;
    struct tocsin_tls *tls = w->tls;

    free(w);
    /* UV_ECANCELED: the owner closed the stream; nobody is listening any more. */
    if (status < 0 && status != UV_ECANCELED)
        fail(tls, status);
}

/* Sends whatever OpenSSL has produced.  0 or a UV_* error. */
static int flush(struct tocsin_tls *tls)
{
    size_t pending = BIO_ctrl_pending(tls->wbio);
    struct tls_write *w;
    uv_buf_t buf;
    int rc;

    if (pending == 0)
        return 0;
    w = malloc(sizeof(*w) + pending);
    if (w == NULL)
        return UV_ENOMEM;
    w->tls = tls;
    if (BIO_read(tls->wbio, w->buf, (int)pending) != (int)pending) {
        free(w);
        return UV_EIO;
    }
    buf = uv_buf_init(w->buf, (unsigned)pending);
    rc = uv_write(&w->req, tls->stream, &buf, 1, on_written);
    if (rc < 0)
        free(w);
    return rc;
}

static void socket_read_stop(struct tocsin_tls *tls)
{
    if (tls->socket_reading)
        uv_read_stop(tls->stream);
    tls->socket_reading = false;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct tocsin_tls *tls = handle->data;

    (void)suggested;
    *buf = uv_buf_init(tls->rbuf, sizeof(tls->rbuf));
}

static void pump(struct tocsin_tls *tls);

static void on_socket_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tocsin_tls *tls = stream->data;

    if (tls->stopped || nread == 0)
        return;
    if (nread < 0) {
        socket_read_stop(tls);
        if (tls->sock_error == 0)
            tls->sock_error = (int)nread;
    } else if (BIO_write(tls->rbio, buf->base, (int)nread) != (int)nread) {
        tls->sock_error = UV_ENOMEM;
    }
    pump(tls);
}

static int socket_read_start(struct tocsin_tls *tls)
{
    int rc = 0;

    if (!tls->socket_reading && tls->sock_error == 0) {
        rc = uv_read_start(tls->stream, on_alloc, on_socket_read);
        tls->socket_reading = rc == 0;
    }
    return rc;
}

/* ---- driving OpenSSL ------------------------------------------------------- */

/* Reports STATUS to whoever waits: the handshake, the reader, or nobody yet. */
static void fail(struct tocsin_tls *tls, int status)
{
    if (tls->sock_error == 0)
        tls->sock_error = status;
    if (tls->stopped)
        return;
    socket_read_stop(tls);
    if (tls->handshaking) {
        tls->handshaking = false;
        tls->on_handshake(tls, status, status == TOCSIN_TLS_EPROTO ? tls->message
                                       : status == UV_EOF ? "connection closed by the server"
                                                          : uv_strerror(status));
    } else if (tls->reading) {
        tls->reading = false;
        tls->on_read(tls, status, NULL);
    }
}

/* Names what OpenSSL refused, e.g. "certificate verify failed: self-signed certificate". */
static void describe(struct tocsin_tls *tls, int ssl_error)
{
    unsigned long e = ERR_peek_last_error();
    long verify = SSL_get_verify_result(tls->ssl);
    const char *reason = e ? ERR_reason_error_string(e) : NULL;

    if (e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK)
        snprintf(tls->message, sizeof(tls->message), "%s: %s", reason ? reason : "verify failed",
                 X509_verify_cert_error_string(verify));
    else if (reason)
        snprintf(tls->message, sizeof(tls->message), "%s", reason);
    else if (ssl_error == SSL_ERROR_SYSCALL)
        snprintf(tls->message, sizeof(tls->message), "connection closed by the server");
    else
        snprintf(tls->message, sizeof(tls->message), "OpenSSL error %d", ssl_error);
    ERR_clear_error(); /* said; leave nothing for the next user of this thread's queue */
}

/* One OpenSSL call's outcome: true when it only waits for more ciphertext. */
static bool wants_more(struct tocsin_tls *tls, int rc)
{
    int err = SSL_get_error(tls->ssl, rc);
    int flushed = flush(tls); /* alerts and key updates go out in every case */

    if (flushed < 0) {
        fail(tls, flushed);
        return false;
    }
    if (err == SSL_ERROR_WANT_READ) {
        if (tls->sock_error != 0)
            fail(tls, tls->sock_error);
        return tls->sock_error == 0;
    }
    if (err == SSL_ERROR_ZERO_RETURN) { /* close_notify */
        fail(tls, UV_EOF);
        return false;
    }
    describe(tls, err);
    fail(tls, TOCSIN_TLS_EPROTO);
    return false;
}

static void step_handshake(struct tocsin_tls *tls)
{
    int rc;

    ERR_clear_error();
    rc = SSL_do_handshake(tls->ssl);
    if (rc != 1) {
        wants_more(tls, rc);
        return;
    }
    rc = flush(tls);
    if (rc < 0) {
        fail(tls, rc);
        return;
    }
    tls->handshaking = false;
    tls->established = true;
    tls->on_handshake(tls, 0, "");
}

static void step_read(struct tocsin_tls *tls)
{
    while (!tls->stopped && tls->reading) {
        int n;
        ERR_clear_error();
        n = SSL_read(tls->ssl, tls->pbuf, (int)sizeof(tls->pbuf));
        if (n > 0)
            tls->on_read(tls, n, tls->pbuf);
        else if (!wants_more(tls, n))
            break;
        else
            return; /* drained: wait for the socket */
    }
}

/* Runs OpenSSL on what arrived; the socket is read only while someone waits. */
static void pump(struct tocsin_tls *tls)
{
    tls->in_pump = true;
    if (!tls->stopped && tls->handshaking)
        step_handshake(tls);
    if (!tls->stopped && !tls->handshaking && tls->reading)
        step_read(tls);
    if (!tls->reading && !tls->handshaking)
        socket_read_stop(tls);
    tls->in_pump = false;
}

int tocsin_tls_handshake(struct tocsin_tls *tls, uv_stream_t *stream, tocsin_tls_handshake_cb cb)
{
    int rc;

    tls->stream = stream;
    stream->data = tls;
    tls->on_handshake = cb;
    ERR_clear_error();
    rc = SSL_do_handshake(tls->ssl); /* writes the ClientHello into the BIO */
    if (rc == 1 || SSL_get_error(tls->ssl, rc) != SSL_ERROR_WANT_READ) {
        describe(tls, SSL_get_error(tls->ssl, rc));
        return TOCSIN_TLS_EPROTO;
    }
    rc = flush(tls);
    if (rc == 0)
        rc = socket_read_start(tls);
    tls->handshaking = rc == 0;
    return rc;
}

int tocsin_tls_write(struct tocsin_tls *tls, const char *buf, size_t len)
{
    int rc;

    if (tls->sock_error != 0)
        return tls->sock_error;
    if (len == 0)
        return 0;
    ERR_clear_error();
    /* Memory BIOs take everything: one call writes all of it or fails. */
    rc = SSL_write(tls->ssl, buf, (int)len);
    if (rc <= 0) {
        describe(tls, SSL_get_error(tls->ssl, rc));
        return TOCSIN_TLS_EPROTO;
    }
    return flush(tls);
}

int tocsin_tls_read_start(struct tocsin_tls *tls, tocsin_tls_read_cb cb)
{
    tls->on_read = cb;
    /* Outside a pump an error already seen could never be reported: return it. */
    if (tls->sock_error != 0 && !tls->in_pump)
        return tls->sock_error;
    tls->reading = true;
    return socket_read_start(tls);
}

void tocsin_tls_stop(struct tocsin_tls *tls)
{
    /* A close_notify, so the monitored service logs a clean close rather than
     * an unexpected EOF; libuv sends it at once when nothing else is queued. */
    if (!tls->stopped && tls->established && tls->sock_error == 0) {
        ERR_clear_error();
        SSL_shutdown(tls->ssl);
        flush(tls);
        ERR_clear_error();
    }
    socket_read_stop(tls);
    tls->stopped = true;
    tls->reading = false;
    tls->handshaking = false;
}
