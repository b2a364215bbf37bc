/* Loopback HTTP(S) target for probe tests (libmicrohttpd, internal thread pool).
 *
 * Nothing ever sleeps in a handler: a delayed or hung request suspends its
 * connection and a "waker" thread resumes it when due (a hung one only at
 * stop).  So the pool stays free, a slow answer never delays another request,
 * and test_target_stop() only has to resume what it parked (MHD requires every
 * suspended connection to be resumed before the daemon stops).
 *
 * The thread count is fixed once the target runs (pool + waker): connections
 * never start threads, so a test may count the process's threads around a check.
 *
 * Route strings are kept until stop even when a route is replaced, so a parked
 * request may point into them without copying. */
#include "target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define POOL_THREADS 4
#define PARKED_MAX 256   /* delayed or hung requests at once; more are reset */
#define ROUTES_MAX 64    /* route slots, replaced ones included */
#define REQUESTS_MAX 64  /* requests recorded */
#define FAIL_FROM_MAX 8  /* client addresses with their own status */
#define CLIENTS_MAX 16   /* client addresses counted */
#define NEVER UINT64_MAX

struct test_target {
    struct MHD_Daemon *daemon;
    uint16_t port;
    atomic_int status;
    atomic_int mode;
    atomic_uint hits;
    char *cert_pem;
    char *key_pem;
    pthread_t waker;
    bool waker_started;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* on CLOCK_MONOTONIC */
    struct req *parked;   /* delayed or hung, in no particular order */
    size_t n_parked;
    bool stopping;
    struct test_route routes[ROUTES_MAX]; /* strings owned; later ones win */
    bool route_live[ROUTES_MAX];
    size_t n_routes;
    struct test_request requests[REQUESTS_MAX];
    struct {
        char ip[64];
        int status;
    } fail_from[FAIL_FROM_MAX];           /* status 0: free slot */
    struct {
        char ip[64];
        unsigned hits;
    } clients[CLIENTS_MAX];               /* ip "": free slot */
};

enum req_phase {
    REQ_READING,  /* headers seen, body arriving */
    REQ_PARKED,   /* suspended until due */
    REQ_RESUMED,  /* due: answer now */
    REQ_DROPPED,  /* resumed by stop: close without answering */
};

/* One request; *con_cls, freed when MHD reports it completed. */
struct req {
    enum req_phase phase;
    struct MHD_Connection *conn;
    enum test_target_mode mode;
    int status;
    const char *body;
    const char *header_name;
    const char *header_value;
    const char *location;
    char location_buf[32]; /* /r/N chains */
    uint64_t due_ns;
    struct req *next;      /* in test_target.parked */
    struct test_request rec;
};

static const char ok_body[] = "ok\n";

/* MHD's own messages, marked so a RESET test's "internal error" reads as intended. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("test target (libmicrohttpd): ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* Nanoseconds, so a delay is never cut short by rounding. */
static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* ---- what a request gets -------------------------------------------------- */

/* /r/N with N > 0 redirects to /r/N-1; /r/0 answers 200. */
static bool chain_hop(const char *path, unsigned long *n)
{
    char *end;

    if (strncmp(path, "/r/", 3) != 0 || path[3] < '0' || path[3] > '9')
        return false;
    errno = 0;
    *n = strtoul(path + 3, &end, 10);
    return *end == '\0' && errno == 0;
}

/* Fills R's answer from the route for PATH, the chain, or the target's state. */
static void choose(struct test_target *t, struct req *r, const char *path)
{
    const struct test_route *route = NULL;
    unsigned long n;

    r->mode = (enum test_target_mode)atomic_load(&t->mode);
    r->status = atomic_load(&t->status);
    r->body = ok_body;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < FAIL_FROM_MAX; i++) {
        if (t->fail_from[i].status != 0 && strcmp(t->fail_from[i].ip, r->rec.client_ip) == 0) {
            r->mode = TEST_TARGET_ANSWER;
            r->status = t->fail_from[i].status;
        }
    }
    for (size_t i = t->n_routes; route == NULL && i-- > 0;)
        if (t->route_live[i] && strcmp(t->routes[i].path, path) == 0)
            route = &t->routes[i];
    if (route != NULL) {
        r->mode = route->mode;
        r->status = route->status ? route->status : r->status;
        r->body = route->body ? route->body : ok_body;
        r->header_name = route->header_name;
        r->header_value = route->header_value;
        r->location = route->location;
        r->due_ns = route->delay_ms ? now_ns() + (uint64_t)route->delay_ms * 1000000u : 0;
    } else if (chain_hop(path, &n)) {
        r->mode = TEST_TARGET_ANSWER;
        r->status = n > 0 ? 302 : 200;
        if (n > 0) {
            snprintf(r->location_buf, sizeof(r->location_buf), "/r/%lu", n - 1);
            r->location = r->location_buf;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (r->mode == TEST_TARGET_HANG)
        r->due_ns = NEVER;
}

/* Counted under the lock, so a request below test_target_hits() is always filled in. */
static void record(struct test_target *t, struct req *r)
{
    unsigned i;

    pthread_mutex_lock(&t->lock);
    i = atomic_load(&t->hits);
    if (i < REQUESTS_MAX)
        t->requests[i] = r->rec;
    for (size_t c = 0; c < CLIENTS_MAX; c++) {
        if (t->clients[c].ip[0] == '\0')
            copy(t->clients[c].ip, sizeof(t->clients[c].ip), r->rec.client_ip);
        if (strcmp(t->clients[c].ip, r->rec.client_ip) == 0) {
            t->clients[c].hits++;
            break;
        }
    }
    atomic_store(&t->hits, i + 1);
    pthread_mutex_unlock(&t->lock);
}

/* ---- answering ------------------------------------------------------------ */

static enum MHD_Result respond(struct req *r, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info;
    struct linger hard = {.l_onoff = 1, .l_linger = 0};
    struct MHD_Response *resp;
    enum MHD_Result ret;

    switch (r->mode) {
    case TEST_TARGET_ABORT:
        /* MHD shuts the socket down (FIN) before closing it, so a zero linger
         * alone is not enough: connecting a TCP socket to AF_UNSPEC disconnects
         * it at once with RST (Linux), and MHD's own close then has nothing to say. */
        info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info != NULL) {
            struct sockaddr unspec = {.sa_family = AF_UNSPEC};
            setsockopt(info->connect_fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
            connect(info->connect_fd, &unspec, sizeof(unspec));
        }
        return MHD_NO;
    case TEST_TARGET_RESET:
    case TEST_TARGET_HANG: /* only reached when resumed by stop */
        return MHD_NO;
    case TEST_TARGET_ANSWER:
    default:
        break;
    }
    resp = MHD_create_response_from_buffer(strlen(r->body), (void *)r->body,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    if (r->header_name)
        MHD_add_response_header(resp, r->header_name, r->header_value ? r->header_value : "");
    if (r->location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Suspends CONN until R is due.  MHD_NO (reset) when stopping or the park is full. */
static enum MHD_Result park(struct test_target *t, struct req *r, struct MHD_Connection *conn)
{
    enum MHD_Result ret = MHD_NO;

    pthread_mutex_lock(&t->lock);
    if (!t->stopping && t->n_parked < PARKED_MAX) {
        r->phase = REQ_PARKED;
        r->next = t->parked;
        t->parked = r;
        t->n_parked++;
        MHD_suspend_connection(conn);
        pthread_cond_signal(&t->wake);
        ret = MHD_YES;
    }
    pthread_mutex_unlock(&t->lock);
    return ret;
}

/* Resumes every parked request due by NOW (all of them with DROP); returns the
 * next due time.  Called with the lock held. */
static uint64_t resume_due(struct test_target *t, uint64_t now, bool drop)
{
    struct req **p = &t->parked;
    uint64_t next = NEVER;

    while (*p != NULL) {
        struct req *r = *p;
        if (drop || r->due_ns <= now) {
            *p = r->next;
            t->n_parked--;
            r->phase = drop ? REQ_DROPPED : REQ_RESUMED;
            MHD_resume_connection(r->conn);
        } else {
            next = r->due_ns < next ? r->due_ns : next;
            p = &r->next;
        }
    }
    return next;
}

static void *waker_main(void *arg)
{
    struct test_target *t = arg;

    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        uint64_t next = resume_due(t, now_ns(), false);
        if (next == NEVER) {
            pthread_cond_wait(&t->wake, &t->lock);
        } else {
            struct timespec ts = {.tv_sec = (time_t)(next / 1000000000u),
                                  .tv_nsec = (long)(next % 1000000000u)};
            pthread_cond_timedwait(&t->wake, &t->lock, &ts);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- MHD callbacks -------------------------------------------------------- */

static void lookup(struct MHD_Connection *conn, const char *name, char *dst, size_t size)
{
    copy(dst, size, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name));
}

static enum MHD_Result count_user_agent(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_USER_AGENT) == 0)
        (*(unsigned *)cls)++;
    return MHD_YES;
}

static struct req *new_req(struct MHD_Connection *conn, const char *url, const char *method)
{
    struct req *r = calloc(1, sizeof(*r));
    const union MHD_ConnectionInfo *info;
    const char *auth;

    if (r == NULL)
        return NULL;
    r->conn = conn;
    copy(r->rec.method, sizeof(r->rec.method), method);
    copy(r->rec.path, sizeof(r->rec.path), url);
    lookup(conn, MHD_HTTP_HEADER_HOST, r->rec.host, sizeof(r->rec.host));
    lookup(conn, MHD_HTTP_HEADER_USER_AGENT, r->rec.user_agent, sizeof(r->rec.user_agent));
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_user_agent, &r->rec.user_agents);
    auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    r->rec.has_authorization = auth != NULL;
    copy(r->rec.authorization, sizeof(r->rec.authorization), auth);
    auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Proxy-Authorization");
    r->rec.has_proxy_authorization = auth != NULL;
    copy(r->rec.proxy_authorization, sizeof(r->rec.proxy_authorization), auth);
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info != NULL && info->client_addr != NULL) {
        const struct sockaddr *sa = info->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                      r->rec.client_ip, sizeof(r->rec.client_ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      r->rec.client_ip, sizeof(r->rec.client_ip));
    }
    return r;
}

/* Keeps the body's first bytes; body_len counts them all. */
static void append_body(struct req *r, const char *data, size_t len)
{
    size_t cap = sizeof(r->rec.body) - 1;
    size_t kept = r->rec.body_len < cap ? r->rec.body_len : cap;
    size_t keep = len < cap - kept ? len : cap - kept;

    memcpy(r->rec.body + kept, data, keep);
    r->rec.body[kept + keep] = '\0';
    r->rec.body_len += len;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct test_target *t = cls;
    struct req *r = *con_cls;

    (void)version;
    if (r == NULL) { /* headers only: the body (if any) comes next */
        *con_cls = new_req(conn, url, method);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    switch (r->phase) {
    case REQ_DROPPED:
        return MHD_NO;
    case REQ_RESUMED:
        return respond(r, conn);
    case REQ_PARKED: /* not called while suspended */
    case REQ_READING:
    default:
        break;
    }
    if (*upload_data_size != 0) {
        append_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    record(t, r);
    choose(t, r, url);
    if (r->due_ns != 0)
        return park(t, r, conn);
    return respond(r, conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    free(*con_cls);
    *con_cls = NULL;
}

/* ---- life cycle ----------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)len + 1)) != NULL) {
        if (fread(buf, 1, (size_t)len, f) == (size_t)len) {
            buf[len] = '\0';
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

static void free_target(struct test_target *t)
{
    for (size_t i = 0; i < t->n_routes; i++) {
        free((char *)t->routes[i].path);
        free((char *)t->routes[i].body);
        free((char *)t->routes[i].header_name);
        free((char *)t->routes[i].header_value);
        free((char *)t->routes[i].location);
    }
    free(t->cert_pem);
    free(t->key_pem);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Stops the waker and resumes everything parked (with DROP). */
static void stop_waker(struct test_target *t)
{
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    resume_due(t, 0, true);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    if (t->waker_started)
        pthread_join(t->waker, NULL);
    t->waker_started = false;
}

struct test_target *test_target_start_opts(const struct test_target_opts *opts)
{
    static const struct test_target_opts defaults = {.bind_address = NULL};
    struct test_target *t = calloc(1, sizeof(*t));
    struct sockaddr_storage addr = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    pthread_condattr_t cattr;
    const union MHD_DaemonInfo *info;
    const char *bind;

    if (t == NULL)
        return NULL;
    opts = opts ? opts : &defaults;
    bind = opts->bind_address ? opts->bind_address : "127.0.0.1";
    atomic_init(&t->status, 200);
    atomic_init(&t->mode, TEST_TARGET_ANSWER);
    atomic_init(&t->hits, 0);
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &cattr);
    pthread_condattr_destroy(&cattr);
    if (inet_pton(AF_INET, bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        flags |= MHD_USE_IPv6;
    } else {
        goto fail;
    }
    if (opts->cert_file || opts->key_file) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
            (t->cert_pem = read_file(opts->cert_file)) == NULL ||
            (t->key_pem = read_file(opts->key_file)) == NULL)
            goto fail;
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->key_pem};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert_pem};
        tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    if (pthread_create(&t->waker, NULL, waker_main, t) != 0)
        goto fail;
    t->waker_started = true;
    t->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, t, MHD_OPTION_EXTERNAL_LOGGER,
                                 mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                 MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (t->daemon == NULL)
        goto fail;
    info = MHD_get_daemon_info(t->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0)
        goto fail;
    t->port = info->port;
    return t;
fail:
    stop_waker(t);
    if (t->daemon)
        MHD_stop_daemon(t->daemon);
    free_target(t);
    return NULL;
}

struct test_target *test_target_start(void)
{
    return test_target_start_opts(NULL);
}

uint16_t test_target_port(const struct test_target *t)
{
    return t->port;
}

void test_target_set_status(struct test_target *t, int status)
{
    atomic_store(&t->status, status);
}

void test_target_set_mode(struct test_target *t, enum test_target_mode mode)
{
    atomic_store(&t->mode, (int)mode);
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    *ok = *ok && d != NULL;
    return d;
}

int test_target_route(struct test_target *t, const struct test_route *route)
{
    struct test_route copy = *route;
    bool ok = route->path != NULL;
    int rc = -1;

    copy.path = dup_or_null(route->path, &ok);
    copy.body = dup_or_null(route->body, &ok);
    copy.header_name = dup_or_null(route->header_name, &ok);
    copy.header_value = dup_or_null(route->header_value, &ok);
    copy.location = dup_or_null(route->location, &ok);
    pthread_mutex_lock(&t->lock);
    if (ok && t->n_routes < ROUTES_MAX) {
        /* The replaced route stays allocated: a parked request may point into it. */
        for (size_t i = 0; i < t->n_routes; i++)
            if (strcmp(t->routes[i].path, copy.path) == 0)
                t->route_live[i] = false;
        t->routes[t->n_routes] = copy;
        t->route_live[t->n_routes++] = true;
        rc = 0;
    }
    pthread_mutex_unlock(&t->lock);
    if (rc != 0) {
        free((char *)copy.path);
        free((char *)copy.body);
        free((char *)copy.header_name);
        free((char *)copy.header_value);
        free((char *)copy.location);
    }
    return rc;
}

int test_target_fail_from(struct test_target *t, const char *client_ip, int status)
{
    size_t i, slot = FAIL_FROM_MAX;
    int rc = 0;

    if (client_ip != NULL && strlen(client_ip) >= sizeof(t->fail_from[0].ip))
        return -1;
    pthread_mutex_lock(&t->lock);
    for (i = 0; i < FAIL_FROM_MAX; i++) {
        if (client_ip == NULL) {
            t->fail_from[i].status = 0;
        } else if (t->fail_from[i].status != 0 && strcmp(t->fail_from[i].ip, client_ip) == 0) {
            slot = i;
            break;
        } else if (t->fail_from[i].status == 0 && slot == FAIL_FROM_MAX) {
            slot = i;
        }
    }
    if (client_ip != NULL) {
        if (slot == FAIL_FROM_MAX) {
            rc = status == 0 ? 0 : -1;
        } else {
            copy(t->fail_from[slot].ip, sizeof(t->fail_from[slot].ip), client_ip);
            t->fail_from[slot].status = status;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

unsigned test_target_hits_from(struct test_target *t, const char *client_ip)
{
    unsigned hits = 0;

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < CLIENTS_MAX && t->clients[i].ip[0] != '\0'; i++)
        if (strcmp(t->clients[i].ip, client_ip) == 0)
            hits = t->clients[i].hits;
    pthread_mutex_unlock(&t->lock);
    return hits;
}

unsigned test_target_hits(const struct test_target *t)
{
    return atomic_load(&((struct test_target *)t)->hits);
}

bool test_target_request(struct test_target *t, unsigned i, struct test_request *out)
{
    if (i >= REQUESTS_MAX || i >= test_target_hits(t))
        return false;
    pthread_mutex_lock(&t->lock);
    *out = t->requests[i];
    pthread_mutex_unlock(&t->lock);
    return true;
}

bool test_target_last_request(struct test_target *t, struct test_request *out)
{
    unsigned n = test_target_hits(t);

    return n > 0 && test_target_request(t, n - 1, out);
}

void test_target_stop(struct test_target *t)
{
    if (t == NULL)
        return;
    stop_waker(t);
    MHD_stop_daemon(t->daemon);
    free_target(t);
}
