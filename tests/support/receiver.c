/* Loopback webhook receiver for sender tests (libmicrohttpd, internal thread).
 *
 * Signatures are checked with OpenSSL's EVP_MAC here, never with src/crypto.c,
 * so a bug in the sender's signer cannot hide itself.  The seed's validator signs
 * JSON.stringify(JSON.parse(body)); sig_ok_seed reproduces that by requiring the
 * body to be in the form JSON.stringify would give back (see canonical_body()),
 * then checking the HMAC over it.  tests/node_fixtures.sh runs the real thing. */
#include "receiver.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELIVERIES_MAX 1024
#define BODY_MAX (2 * 1024 * 1024)

struct test_receiver {
    struct MHD_Daemon *daemon;
    uint16_t port;
    char *secret;          /* NULL: nothing verified */
    atomic_int status;
    pthread_mutex_t lock;  /* guards deliveries[] and n */
    struct test_delivery deliveries[DELIVERIES_MAX];
    size_t n;
};

/* Per-request state in *con_cls: the body so far. */
struct request {
    char *body;
    size_t len;
    size_t cap;
    bool too_big;
};

static const char received_body[] = "{\"received\":true}";

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("test receiver (libmicrohttpd): ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- independent signature check -------------------------------------- */

static bool hmac_sha256(const char *key, const void *data, size_t len, unsigned char out[32])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    static const unsigned char empty[1];
    size_t out_len = 0;
    bool ok = ctx != NULL &&
              EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) == 1 &&
              EVP_MAC_update(ctx, len ? data : empty, len) == 1 &&
              EVP_MAC_final(ctx, out, &out_len, 32) == 1 && out_len == 32;

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

bool test_verify_signature(const char *secret, const char *body, size_t len,
                           const char *header_value)
{
    unsigned char md[32];
    char expect[7 + 64 + 1];
    size_t i;

    if (secret == NULL || header_value == NULL || (body == NULL && len > 0))
        return false;
    if (!hmac_sha256(secret, body, len, md))
        return false;
    memcpy(expect, "sha256=", 7);
    for (i = 0; i < sizeof(md); i++)
        snprintf(expect + 7 + 2 * i, 3, "%02x", md[i]);
    return strlen(header_value) == sizeof(expect) - 1 &&
           CRYPTO_memcmp(expect, header_value, sizeof(expect) - 1) == 0;
}

/* ---- the seed's way: JSON.stringify(JSON.parse(body)) ------------------- */

/* Values where jansson's output would differ from JSON.stringify's: reals (JS
 * prints 1.0 as 1), integers beyond 2^53 (JS rounds them), and strings with C0
 * controls jansson escapes as \u00XX upper case (JS writes lower case). */
static bool js_safe(const json_t *v)
{
    const json_int_t safe = 9007199254740991LL; /* Number.MAX_SAFE_INTEGER */
    const char *key;
    json_t *child;
    size_t i, n;

    switch (json_typeof(v)) {
    case JSON_REAL:
        return false;
    case JSON_INTEGER:
        return json_integer_value(v) <= safe && json_integer_value(v) >= -safe;
    case JSON_STRING:
        n = json_string_length(v);
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)json_string_value(v)[i];
            if (c < 0x20 && !strchr("\b\f\n\r\t", c))
                return false;
        }
        return true;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, child) {
            if (!js_safe(child))
                return false;
        }
        return true;
    case JSON_ARRAY:
        json_array_foreach(v, i, child) {
            if (!js_safe(child))
                return false;
        }
        return true;
    default:
        return true;
    }
}

/* True when BODY is already what JSON.stringify(JSON.parse(BODY)) gives back:
 * parses (no duplicate keys: JS would keep the last at the first's position),
 * re-serialises to the same bytes, and holds nothing JS would print otherwise. */
static bool canonical_body(const char *body, size_t len)
{
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    char *again = NULL;
    bool ok = false;

    if (root == NULL)
        return false;
    again = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    ok = again != NULL && strlen(again) == len && memcmp(again, body, len) == 0 && js_safe(root);
    free(again);
    json_decref(root);
    return ok;
}

/* ---- HTTP ---------------------------------------------------------------- */

static void copy_header(struct MHD_Connection *conn, const char *name, char *dst, size_t size)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

    snprintf(dst, size, "%s", v ? v : "");
}

static void record(struct test_receiver *r, struct MHD_Connection *conn, const char *url,
                   const char *method, struct request *req)
{
    struct test_delivery d = {0};

    snprintf(d.method, sizeof(d.method), "%s", method);
    snprintf(d.path, sizeof(d.path), "%s", url);
    copy_header(conn, "X-StatusPageOne-Signature", d.signature, sizeof(d.signature));
    copy_header(conn, "X-Request-ID", d.request_id, sizeof(d.request_id));
    copy_header(conn, MHD_HTTP_HEADER_USER_AGENT, d.user_agent, sizeof(d.user_agent));
    copy_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE, d.content_type, sizeof(d.content_type));
    d.body = req->body ? req->body : strdup("");
    if (d.body == NULL)
        return;
    req->body = NULL; /* ownership moves to the delivery */
    d.body_len = req->len;
    if (r->secret != NULL) {
        d.sig_ok_raw = test_verify_signature(r->secret, d.body, d.body_len, d.signature);
        d.sig_ok_seed = d.sig_ok_raw && canonical_body(d.body, d.body_len);
    }
    pthread_mutex_lock(&r->lock);
    if (r->n < DELIVERIES_MAX)
        r->deliveries[r->n++] = d;
    else
        free(d.body); /* full: dropped, tests never send this many */
    pthread_mutex_unlock(&r->lock);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Appends a chunk, keeping one byte for the NUL; past BODY_MAX it only counts. */
static void append(struct request *req, const char *data, size_t size)
{
    size_t cap;
    char *body;

    if (req->too_big || size > BODY_MAX - req->len) {
        req->too_big = true;
        return;
    }
    if (req->len + size + 1 > req->cap) {
        cap = req->cap ? req->cap : 4096;
        while (cap < req->len + size + 1)
            cap *= 2;
        body = realloc(req->body, cap);
        if (body == NULL) {
            req->too_big = true;
            return;
        }
        req->body = body;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, size);
    req->len += size;
    req->body[req->len] = '\0';
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct test_receiver *r = cls;
    struct request *req = *con_cls;

    (void)version;
    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        *con_cls = req;
        return req ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size != 0) {
        append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_big)
        return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "{\"error\":\"too large\"}");
    record(r, conn, url, method, req);
    return reply(conn, (unsigned)atomic_load(&r->status), received_body);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct request *req = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (req != NULL) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

struct test_receiver *test_receiver_start(const char *secret)
{
    struct test_receiver *r = calloc(1, sizeof(*r));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    const union MHD_DaemonInfo *info;

    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    atomic_init(&r->status, 200);
    if (secret != NULL && (r->secret = strdup(secret)) == NULL)
        goto fail;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                                 NULL, handle, r, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (r->daemon == NULL)
        goto fail;
    info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0)
        goto fail;
    r->port = info->port;
    return r;
fail:
    if (r->daemon)
        MHD_stop_daemon(r->daemon);
    pthread_mutex_destroy(&r->lock);
    free(r->secret);
    free(r);
    return NULL;
}

uint16_t test_receiver_port(const struct test_receiver *r)
{
    return r->port;
}

void test_receiver_set_status(struct test_receiver *r, int status)
{
    atomic_store(&r->status, status);
}

size_t test_receiver_count(const struct test_receiver *r)
{
    struct test_receiver *m = (struct test_receiver *)r; /* the lock is not const */
    size_t n;

    pthread_mutex_lock(&m->lock);
    n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int test_receiver_get(struct test_receiver *r, size_t i, struct test_delivery *out)
{
    int rc = -1;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&r->lock);
    if (i < r->n) {
        *out = r->deliveries[i];
        out->body = malloc(out->body_len + 1);
        if (out->body != NULL) {
            memcpy(out->body, r->deliveries[i].body, out->body_len + 1);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void test_delivery_free(struct test_delivery *d)
{
    free(d->body);
    d->body = NULL;
}

void test_receiver_stop(struct test_receiver *r)
{
    size_t i;

    if (r == NULL)
        return;
    MHD_stop_daemon(r->daemon);
    for (i = 0; i < r->n; i++)
        free(r->deliveries[i].body);
    pthread_mutex_destroy(&r->lock);
    free(r->secret);
    free(r);
}
