/* HTTP(S) probe on the shared curl multi.  c-ares resolves the URL's host and
 * curl gets the address through CURLOPT_CONNECT_TO, so curl never starts its
 * resolver thread; TLS still checks the URL's host name.  The timeout timer is
 * armed first and covers DNS and the whole transfer; finish() records the result
 * and the callback fires from the timer's close callback. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsin/probe.h"

/* Read cap on bodies until max_body_bytes is configurable: cut, not failed. */
#define HTTP_BODY_CAP (1024 * 1024)

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct tocsin_probe_op {
    uv_timer_t timer;
    struct tocsin_curl_req req;
    const struct tocsin_probe_env *env;
    const struct tocsin_monitor_conf *monitor;
    tocsin_probe_cb cb;
    void *data;
    struct tocsin_resolve_req *resolve;
    char *host;                 /* URL host as curl parsed it ([v6] bracketed) */
    char *port;                 /* URL port, default for the scheme filled in */
    struct curl_slist *connect_to;
    struct curl_slist *headers;
    uint64_t start_ns;
    int64_t dns_ms;
    size_t body_bytes;
    bool transfer_running;
    bool finished;
    bool cancelled;
    char errbuf[CURL_ERROR_SIZE];
    struct tocsin_result result;
};

static void on_closed(uv_handle_t *handle)
{
    struct tocsin_probe_op *op = handle->data;

    if (!op->cancelled)
        op->cb(op->data, &op->result);
    free(op);
}

static int64_t info_ms(CURL *easy, CURLINFO what)
{
    curl_off_t us = 0;

    if (curl_easy_getinfo(easy, what, &us) != CURLE_OK || us <= 0)
        return -1;
    return (int64_t)(us / 1000);
}

/* Phase timings from curl, shifted by our own DNS time (curl never resolves). */
static void record_timings(struct tocsin_probe_op *op)
{
    struct tocsin_timings *t = &op->result.timings;
    int64_t dns = op->dns_ms > 0 ? op->dns_ms : 0;
    int64_t connect = info_ms(op->req.easy, CURLINFO_CONNECT_TIME_T);
    int64_t app = info_ms(op->req.easy, CURLINFO_APPCONNECT_TIME_T);
    int64_t first = info_ms(op->req.easy, CURLINFO_STARTTRANSFER_TIME_T);

    t->connect_ms = connect;
    t->tls_ms = (app >= 0 && connect >= 0) ? app - connect : -1;
    t->first_byte_ms = first >= 0 ? first + dns : -1;
}

static void finish(struct tocsin_probe_op *op)
{
    struct tocsin_result *r = &op->result;

    if (op->finished)
        return;
    op->finished = true;
    if (op->resolve) {
        tocsin_resolve_cancel(op->resolve);
        op->resolve = NULL;
    }
    if (op->req.easy) {
        record_timings(op);
        if (op->transfer_running)
            tocsin_curl_uv_cancel(op->env->curl, &op->req);
        tocsin_curl_uv_release_easy(op->env->curl, op->req.easy);
        op->req.easy = NULL;
    }
    curl_slist_free_all(op->connect_to);
    curl_slist_free_all(op->headers);
    curl_free(op->host);
    curl_free(op->port);
    op->connect_to = op->headers = NULL;
    op->host = op->port = NULL;
    r->timings.dns_ms = op->dns_ms;
    r->timings.total_ms = tocsin_elapsed_ms(op->start_ns);
    if (r->error_kind == TOCSIN_ERR_TIMEOUT)
        r->timings.total_ms = (int64_t)op->monitor->timeout_ms;
    r->response_time_ms = r->timings.total_ms;
    r->timestamp = (int64_t)time(NULL);
    uv_close((uv_handle_t *)&op->timer, on_closed);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct tocsin_probe_op *op = userdata;
    size_t len = size * nmemb;

    (void)ptr;
    /* Nothing inspects bodies yet; count them and stop reading at the cap. */
    if (op->body_bytes + len > HTTP_BODY_CAP)
        return 0;
    op->body_bytes += len;
    return len;
}

static bool is_tls_error(CURLcode code)
{
    switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return true;
    default:
        return false;
    }
}

static const char *detail(struct tocsin_probe_op *op, CURLcode code)
{
    return op->errbuf[0] ? op->errbuf : curl_easy_strerror(code);
}

/* Maps a transfer error onto DESIGN §4's error kinds. */
static void classify_error(struct tocsin_probe_op *op, CURLcode code)
{
    struct tocsin_result *r = &op->result;
    long os_errno = 0;

    curl_easy_getinfo(op->req.easy, CURLINFO_OS_ERRNO, &os_errno);
    if (code == CURLE_COULDNT_CONNECT && os_errno == ECONNREFUSED)
        tocsin_result_fail(r, TOCSIN_ERR_REFUSED, "connection to %s port %s refused", op->host,
                           op->port);
    else if (code == CURLE_COULDNT_CONNECT)
        tocsin_result_fail(r, TOCSIN_ERR_REFUSED, "cannot connect: %s", detail(op, code));
    else if (code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY)
        tocsin_result_fail(r, TOCSIN_ERR_DNS, "%s", detail(op, code));
    else if (is_tls_error(code))
        tocsin_result_fail(r, TOCSIN_ERR_TLS, "TLS: %s", detail(op, code));
    else if (code == CURLE_GOT_NOTHING)
        tocsin_result_fail(r, TOCSIN_ERR_RESET, "server closed the connection without answering");
    else if (code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_PARTIAL_FILE)
        tocsin_result_fail(r, TOCSIN_ERR_RESET, "%s", detail(op, code));
    else if (code == CURLE_OPERATION_TIMEDOUT)
        tocsin_result_fail(r, TOCSIN_ERR_TIMEOUT, "timed out after %llu ms",
                           (unsigned long long)op->monitor->timeout_ms);
    else
        tocsin_result_fail(r, TOCSIN_ERR_INTERNAL, "%s", detail(op, code));
}

static void check_status(struct tocsin_probe_op *op)
{
    char expected[128];
    long status = 0;

    curl_easy_getinfo(op->req.easy, CURLINFO_RESPONSE_CODE, &status);
    op->result.status_code = (int)status;
    if (tocsin_monitor_status_ok(op->monitor, (int)status)) {
        op->result.status = TOCSIN_STATUS_UP;
        return;
    }
    tocsin_monitor_expect_status_str(op->monitor, expected, sizeof(expected));
    tocsin_result_fail(&op->result, TOCSIN_ERR_STATUS, "expected status %s, got %ld", expected,
                       status);
}

static void on_transfer_done(struct tocsin_curl_req *req, CURLcode code)
{
    struct tocsin_probe_op *op = container_of(req, struct tocsin_probe_op, req);
    long status = 0;

    op->transfer_running = false;
    curl_easy_getinfo(op->req.easy, CURLINFO_RESPONSE_CODE, &status);
    /* Stopping at the body cap aborts the read with a write error: cut, not failed. */
    if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && op->body_bytes > 0 && status > 0))
        check_status(op);
    else
        classify_error(op, code);
    finish(op);
}

static const char *timeout_phase(struct tocsin_probe_op *op)
{
    if (op->resolve)
        return "resolving the host";
    if (op->req.easy == NULL || info_ms(op->req.easy, CURLINFO_CONNECT_TIME_T) < 0)
        return "connecting";
    if (info_ms(op->req.easy, CURLINFO_STARTTRANSFER_TIME_T) < 0)
        return "waiting for the first byte";
    return "reading the body";
}

static void on_timeout(uv_timer_t *timer)
{
    struct tocsin_probe_op *op = timer->data;

    tocsin_result_fail(&op->result, TOCSIN_ERR_TIMEOUT, "timed out after %llu ms %s",
                       (unsigned long long)op->monitor->timeout_ms, timeout_phase(op));
    finish(op);
}

static int set_headers(struct tocsin_probe_op *op)
{
    const struct tocsin_kvlist *h = &op->monitor->headers;
    char line[1024];

    for (size_t i = 0; i < h->n; i++) {
        struct curl_slist *next;
        snprintf(line, sizeof(line), "%s: %s", h->items[i].name, h->items[i].value);
        next = curl_slist_append(op->headers, line);
        if (next == NULL)
            return -ENOMEM;
        op->headers = next;
    }
    return 0;
}

static void set_method(CURL *easy, const char *method)
{
    if (strcmp(method, "GET") == 0)
        return;
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
}

/* Every option of DESIGN §6 that keeps a check honest, on every check. */
static void set_options(struct tocsin_probe_op *op, CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_URL, op->monitor->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "tocsin/" TOCSIN_VERSION);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, op->errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, op);
    /* Our timer is the deadline; curl's is a backstop a little later. */
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)op->monitor->timeout_ms + 1000L);
    if (op->connect_to)
        curl_easy_setopt(easy, CURLOPT_CONNECT_TO, op->connect_to);
    if (op->headers)
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, op->headers);
    set_method(easy, op->monitor->method);
}

static void start_transfer(struct tocsin_probe_op *op)
{
    int rc = -ENOMEM;

    op->errbuf[0] = '\0';
    op->req.easy = tocsin_curl_uv_easy(op->env->curl);
    op->req.done = on_transfer_done;
    if (op->req.easy && set_headers(op) == 0) {
        set_options(op, op->req.easy);
        rc = tocsin_curl_uv_add(op->env->curl, &op->req);
    }
    if (rc < 0) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL, "cannot start the request: %s",
                           strerror(-rc));
        finish(op);
        return;
    }
    op->transfer_running = true;
}

static void on_resolved(void *data, int status, const struct sockaddr_storage *addr,
                        const char *message)
{
    struct tocsin_probe_op *op = data;
    char ip[64], line[512];

    op->resolve = NULL;
    op->dns_ms = tocsin_elapsed_ms(op->start_ns);
    if (status < 0) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_DNS, "cannot resolve %s: %s", op->host, message);
        finish(op);
        return;
    }
    tocsin_format_ip(addr, true, ip, sizeof(ip));
    snprintf(line, sizeof(line), "%s:%s:%s:%s", op->host, op->port, ip, op->port);
    op->connect_to = curl_slist_append(NULL, line);
    if (op->connect_to == NULL) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL, "out of memory");
        finish(op);
        return;
    }
    start_transfer(op);
}

/* Host and port as curl will see them, so CONNECT_TO matches exactly. */
static int parse_url(struct tocsin_probe_op *op)
{
    CURLU *u = curl_url();
    int rc = -EINVAL;

    if (u == NULL)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, op->monitor->url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &op->host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &op->port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        rc = 0;
    curl_url_cleanup(u);
    return rc;
}

static int http_start(const struct tocsin_probe_env *env, const struct tocsin_monitor_conf *monitor,
                      size_t region, tocsin_probe_cb cb, void *data, struct tocsin_probe_op **out)
{
    struct tocsin_probe_op *op = calloc(1, sizeof(*op));
    struct sockaddr_storage literal;
    int rc;

    if (op == NULL)
        return -ENOMEM;
    op->env = env;
    op->monitor = monitor;
    op->cb = cb;
    op->data = data;
    op->start_ns = uv_hrtime();
    op->dns_ms = -1;
    op->result = (struct tocsin_result){
        .status = TOCSIN_STATUS_DOWN,
        .region = region,
        .timings = {-1, -1, -1, -1, -1},
    };
    uv_timer_init(env->loop, &op->timer);
    op->timer.data = op;
    uv_timer_start(&op->timer, on_timeout, monitor->timeout_ms, 0);
    *out = op;
    rc = parse_url(op);
    if (rc < 0) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL, "cannot parse url");
        finish(op);
    } else if (tocsin_parse_ip(op->host, &literal)) {
        start_transfer(op); /* a literal needs no lookup, and curl does none */
    } else {
        rc = tocsin_resolve(env->resolvers[region], op->host, AF_UNSPEC, on_resolved, op,
                            &op->resolve);
        if (rc < 0) {
            op->resolve = NULL;
            tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL, "cannot start resolving: %s",
                               strerror(-rc));
            finish(op);
        }
    }
    return 0;
}

static void http_cancel(struct tocsin_probe_op *op)
{
    op->cancelled = true;
    finish(op);
}

const struct tocsin_probe_kind tocsin_probe_http = {
    .name = "http",
    .start = http_start,
    .cancel = http_cancel,
};
