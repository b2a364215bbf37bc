/* Loopback webhook receiver for sender tests (libmicrohttpd, internal thread).
 *
 * Signatures are checked with OpenSSL's EVP_MAC here, never with src/crypto.c,
 * so a bug in the sender's signer cannot hide itself.  The seed's validator signs
 * JSON.stringify(JSON.parse(body)); sig_ok_seed reproduces that by requiring the
 * body to be in the form JSON.stringify would give back (see canonical_body()),
 * then checking the HMAC over it.  tests/node_fixtures.sh runs the real thing.
 *
 * Answers follow the plan (see receiver.h).  Nothing ever sleeps in a handler:
 * a hung request suspends its connection (MHD_suspend_connection) and is only
 * resumed -- to be closed -- by test_receiver_release_hung() or stop, since MHD
 * requires every suspended connection to be resumed before the daemon stops.
 * Every answer carries "Connection: close", so one attempt of a sender is one
 * request here: curl silently re-sends a request once when a reused connection
 * dies before any byte of the answer, which would blur attempt counts. */
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
#include <sys/socket.h>
#include <time.h>

#define DELIVERIES_MAX 1024
#define BODY_MAX (2 * 1024 * 1024)
#define HUNG_MAX 256 /* hung requests at once; more are reset */

/* A planned answer, strings copied in. */
struct planned {
    enum test_action action;
    int status;
    char retry_after[64];  /* "" = none */
    int retry_after_date_s;
    char location[256];    /* "" = none */
    char match[128];       /* "" = any request */
};

enum req_phase {
    REQ_READING,  /* headers seen, body arriving */
    REQ_HUNG,     /* suspended, never answered */
    REQ_RELEASED, /* resumed by release or stop: close without answering */
};

/* Per-request state in *con_cls: the body so far. */
struct request {
    char *body;
    size_t len;
    size_t cap;
    bool too_big;
    enum req_phase phase;
    uint64_t arrived_ms;
    struct MHD_Connection *conn;
};

struct test_receiver {
    struct MHD_Daemon *daemon;
    uint16_t port;
    char *secret;          /* NULL: nothing verified */
    atomic_size_t active;  /* arrived, not completed */
    atomic_size_t max_active;
    pthread_mutex_t lock;  /* guards everything below */
    struct test_delivery deliveries[DELIVERIES_MAX];
    size_t n;
    struct planned plan[TEST_PLAN_MAX]; /* in order; consumed entries removed */
    size_t n_plan;
    struct planned dflt;
    struct request *hung[HUNG_MAX];
    size_t n_hung;
    bool stopping;
};

static const char received_body[] = "{\"received\":true}";

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

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

/* ---- the plan ------------------------------------------------------------ */

uint64_t test_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Copies SRC (NULL = "") into DST; false when it does not fit. */
static bool copy_str(char *dst, size_t size, const char *src)
{
    return (size_t)snprintf(dst, size, "%s", src ? src : "") < size;
}

static bool to_planned(const struct test_answer *a, struct planned *out)
{
    memset(out, 0, sizeof(*out));
    out->action = a->action;
    out->status = a->status ? a->status : 200;
    out->retry_after_date_s = a->retry_after_date_s;
    return copy_str(out->retry_after, sizeof(out->retry_after), a->retry_after) &&
           copy_str(out->location, sizeof(out->location), a->location) &&
           copy_str(out->match, sizeof(out->match), a->match);
}

/* True when plan entry P applies to a request with BODY and REQUEST_ID. */
static bool plan_matches(const struct planned *p, const char *body, const char *request_id)
{
    return p->match[0] == '\0' || strcmp(p->match, request_id) == 0 ||
           (body != NULL && strstr(body, p->match) != NULL);
}

/* Takes the first plan entry that applies, else the default.  Called with the lock. */
static struct planned take_answer(struct test_receiver *r, const char *body,
                                  const char *request_id, bool *planned)
{
    struct planned a = r->dflt;

    *planned = false;
    for (size_t i = 0; i < r->n_plan; i++) {
        if (!plan_matches(&r->plan[i], body, request_id))
            continue;
        a = r->plan[i];
        memmove(&r->plan[i], &r->plan[i + 1], (r->n_plan - i - 1) * sizeof(r->plan[0]));
        r->n_plan--;
        *planned = true;
        break;
    }
    return a;
}

/* ---- HTTP ---------------------------------------------------------------- */

static void copy_header(struct MHD_Connection *conn, const char *name, char *dst, size_t size)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

    snprintf(dst, size, "%s", v ? v : "");
}

static void record(struct test_receiver *r, struct MHD_Connection *conn, const char *url,
                   const char *method, struct request *req, const struct test_delivery *got)
{
    struct test_delivery d = *got;

    snprintf(d.method, sizeof(d.method), "%s", method);
    snprintf(d.path, sizeof(d.path), "%s", url);
    copy_header(conn, "X-StatusPageOne-Signature", d.signature, sizeof(d.signature));
    copy_header(conn, MHD_HTTP_HEADER_USER_AGENT, d.user_agent, sizeof(d.user_agent));
    copy_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE, d.content_type, sizeof(d.content_type));
    copy_header(conn, MHD_HTTP_HEADER_HOST, d.host, sizeof(d.host));
    d.arrived_ms = req->arrived_ms;
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

static enum MHD_Result reply(struct MHD_Connection *conn, const struct planned *a,
                             const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    char date[64];
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (a->retry_after_date_s > 0) {
        /* Made now, so the delay the client computes is what the plan says. */
        time_t when = time(NULL) + a->retry_after_date_s;
        struct tm tm;
        gmtime_r(&when, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, date);
    } else if (a->retry_after[0] != '\0') {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, a->retry_after);
    }
    if (a->location[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, a->location);
    ret = MHD_queue_response(conn, (unsigned)a->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* MHD shuts the socket down (FIN) before closing it, so a zero linger alone is
 * not enough: connecting a TCP socket to AF_UNSPEC disconnects it at once with
 * RST (Linux), and MHD's own close then has nothing to say. */
static enum MHD_Result reset(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct linger hard = {.l_onoff = 1, .l_linger = 0};

    if (info != NULL) {
        struct sockaddr unspec = {.sa_family = AF_UNSPEC};
        setsockopt(info->connect_fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
        connect(info->connect_fd, &unspec, sizeof(unspec));
    }
    return MHD_NO;
}

/* Parks CONN for good (until release or stop).  Reset when stopping or full.
 * Suspending under the lock means release/stop never resume a connection that
 * is not in hung[] yet. */
static enum MHD_Result hang(struct test_receiver *r, struct request *req,
                            struct MHD_Connection *conn)
{
    bool parked = false;

    pthread_mutex_lock(&r->lock);
    if (!r->stopping && r->n_hung < HUNG_MAX) {
        req->phase = REQ_HUNG;
        req->conn = conn;
        r->hung[r->n_hung++] = req;
        MHD_suspend_connection(conn);
        parked = true;
    }
    pthread_mutex_unlock(&r->lock);
    return parked ? MHD_YES : reset(conn);
}

/* Resumes every hung connection; each is then closed unanswered.  With the lock. */
static size_t release_locked(struct test_receiver *r)
{
    size_t n = r->n_hung;

    for (size_t i = 0; i < r->n_hung; i++) {
        r->hung[i]->phase = REQ_RELEASED;
        MHD_resume_connection(r->hung[i]->conn);
    }
    r->n_hung = 0;
    return n;
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

static struct request *new_request(struct test_receiver *r)
{
    struct request *req = calloc(1, sizeof(*req));
    size_t now, max;

    if (req == NULL)
        return NULL;
    req->arrived_ms = test_monotonic_ms();
    now = atomic_fetch_add(&r->active, 1) + 1;
    max = atomic_load(&r->max_active);
    while (now > max && !atomic_compare_exchange_weak(&r->max_active, &max, now))
        ;
    return req;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    static const struct planned too_large = {.action = TEST_ANSWER, .status = 413};
    struct test_receiver *r = cls;
    struct request *req = *con_cls;
    struct test_delivery got = {0};
    struct planned a;

    (void)version;
    if (req == NULL) { /* headers only: the body (if any) comes next */
        *con_cls = new_request(r);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (req->phase == REQ_RELEASED)
        return MHD_NO;
    if (*upload_data_size != 0) {
        append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_big)
        return reply(conn, &too_large, "{\"error\":\"too large\"}");
    copy_header(conn, "X-Request-ID", got.request_id, sizeof(got.request_id));
    pthread_mutex_lock(&r->lock);
    a = take_answer(r, req->body, got.request_id, &got.planned);
    pthread_mutex_unlock(&r->lock);
    got.action = a.action;
    got.status = a.action == TEST_ANSWER ? a.status : 0;
    record(r, conn, url, method, req, &got);
    switch (a.action) {
    case TEST_HANG:
        return hang(r, req, conn);
    case TEST_RESET:
        return reset(conn);
    case TEST_ANSWER:
    default:
        return reply(conn, &a, received_body);
    }
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct test_receiver *r = cls;
    struct request *req = *con_cls;

    (void)conn;
    (void)toe;
    if (req != NULL) {
        atomic_fetch_sub(&r->active, 1);
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
    atomic_init(&r->active, 0);
    atomic_init(&r->max_active, 0);
    r->dflt = (struct planned){.action = TEST_ANSWER, .status = 200};
    if (secret != NULL && (r->secret = strdup(secret)) == NULL)
        goto fail;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                                     MHD_ALLOW_SUSPEND_RESUME,
                                 0, NULL, NULL, handle, r, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                                 NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, r, MHD_OPTION_END);
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
    const struct test_answer a = {.action = TEST_ANSWER, .status = status};

    test_receiver_set_default(r, &a);
}

int test_receiver_set_default(struct test_receiver *r, const struct test_answer *answer)
{
    struct planned p;

    if (!to_planned(answer, &p))
        return -1;
    p.match[0] = '\0'; /* the default answers everything */
    pthread_mutex_lock(&r->lock);
    r->dflt = p;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int test_receiver_plan(struct test_receiver *r, const struct test_answer *answers, size_t n)
{
    struct planned p[TEST_PLAN_MAX];
    int rc = -1;

    if (n > TEST_PLAN_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!to_planned(&answers[i], &p[i]))
            return -1;
    pthread_mutex_lock(&r->lock);
    if (n <= TEST_PLAN_MAX - r->n_plan) {
        memcpy(&r->plan[r->n_plan], p, n * sizeof(p[0]));
        r->n_plan += n;
        rc = 0;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* The lock is not const; these only read under it. */
#define LOCKED_READ(r, expr)                                                    \
    do {                                                                        \
        struct test_receiver *m_ = (struct test_receiver *)(r);                 \
        pthread_mutex_lock(&m_->lock);                                          \
        n = (expr);                                                             \
        pthread_mutex_unlock(&m_->lock);                                        \
    } while (0)

size_t test_receiver_plan_left(const struct test_receiver *r)
{
    size_t n;

    LOCKED_READ(r, m_->n_plan);
    return n;
}

size_t test_receiver_count(const struct test_receiver *r)
{
    size_t n;

    LOCKED_READ(r, m_->n);
    return n;
}

size_t test_receiver_hung(const struct test_receiver *r)
{
    size_t n;

    LOCKED_READ(r, m_->n_hung);
    return n;
}

size_t test_receiver_active(const struct test_receiver *r)
{
    return atomic_load(&((struct test_receiver *)r)->active);
}

size_t test_receiver_max_active(const struct test_receiver *r)
{
    return atomic_load(&((struct test_receiver *)r)->max_active);
}

size_t test_receiver_release_hung(struct test_receiver *r)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = release_locked(r);
    pthread_mutex_unlock(&r->lock);
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
    pthread_mutex_lock(&r->lock);
    r->stopping = true; /* nothing hangs from now on: MHD must resume all first */
    release_locked(r);
    pthread_mutex_unlock(&r->lock);
    MHD_stop_daemon(r->daemon);
    for (i = 0; i < r->n; i++)
        free(r->deliveries[i].body);
    pthread_mutex_destroy(&r->lock);
    free(r->secret);
    free(r);
}
