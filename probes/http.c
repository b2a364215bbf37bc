/* HTTP(S) probe on the shared curl multi.
 *
 * c-ares resolves every hop's host and curl gets the address through
 * CURLOPT_CONNECT_TO, so curl never starts its resolver thread and regions never
 * share answers; TLS still checks the URL's host name.  Redirects are followed
 * here, hop by hop (at most 10), each hop resolved the same way.  In a proxy
 * region only the proxy's host is resolved: the proxy resolves the target.
 *
 * Chain: start -> [resolve proxy] -> hop: [resolve host] -> transfer -> done ->
 * (redirect: hop) | evaluate -> finish.  The timeout timer is armed first and
 * covers every step; finish() records the result and the callback fires from
 * the timer's close callback, so never inside start() and never twice. */
#include <errno.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "tocsin/probe.h"

#define MAX_REDIRECTS 10

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct tocsin_probe_op {
    uv_timer_t timer;
    struct tocsin_curl_req req;
    const struct tocsin_probe_env *env;
    const struct tocsin_monitor_conf *monitor;
    const struct tocsin_region_conf *region;
    tocsin_probe_cb cb;
    void *data;
    struct tocsin_resolve_req *resolve;
    const char *resolving;      /* host being resolved, for messages */
    char *url;                  /* this hop's URL */
    char *host;                 /* this hop's host as curl parses it ([v6] bracketed) */
    char *port;                 /* this hop's port, the scheme's default filled in */
    bool https;
    bool literal;               /* this hop's host is an IP address */
    bool hop_parts_owned;       /* host and port are this op's (a redirect), not the monitor's */
    const struct tocsin_url_parts *first; /* the monitor's URL: credentials go only there */
    char *proxy;                /* region proxy with its host replaced by its address */
    const char *method;         /* changes to GET on 303 (and 301/302 after POST) */
    bool send_body;
    int hops;
    struct curl_slist *connect_to;
    struct curl_slist *headers;
    struct tocsin_curl_profile profile; /* this hop's, when has_profile */
    bool has_profile;
    uint64_t start_ns;
    uint64_t hop_start_ns;
    int64_t dns_ms;             /* summed over hops; -1 when nothing was resolved */
    char *body;                 /* kept only when an expectation reads it */
    size_t body_len;
    size_t body_cap;
    bool body_cut;
    bool headers_done;          /* this hop's header block ended (its blank line came) */
    curl_socket_t sock;         /* this hop's socket, CURL_SOCKET_BAD before curl made one */
    int cert_days;              /* smallest days-to-expiry seen over https hops */
    bool cert_seen;
    bool cert_checked_this_hop;
    bool transfer_running;
    bool finished;
    bool cancelled;
    char errbuf[CURL_ERROR_SIZE];
    struct tocsin_result result;
};

static void start_hop(struct tocsin_probe_op *op);

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

/* Phase timings of the final hop; first byte counted from the check's start. */
static void record_timings(struct tocsin_probe_op *op)
{
    struct tocsin_timings *t = &op->result.timings;
    int64_t connect = info_ms(op->req.easy, CURLINFO_CONNECT_TIME_T);
    int64_t app = info_ms(op->req.easy, CURLINFO_APPCONNECT_TIME_T);
    int64_t first = info_ms(op->req.easy, CURLINFO_STARTTRANSFER_TIME_T);
    int64_t hop_offset = (int64_t)((op->hop_start_ns - op->start_ns) / 1000000u);

    t->connect_ms = connect >= 0 ? connect : t->connect_ms;
    if (app >= 0 && connect >= 0) {
        curl_off_t app_us = 0, connect_us = 0;
        curl_easy_getinfo(op->req.easy, CURLINFO_APPCONNECT_TIME_T, &app_us);
        curl_easy_getinfo(op->req.easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        /* Rounded up: a handshake that happened never reads as 0 ms. */
        t->tls_ms = (int64_t)((app_us - connect_us + 999) / 1000);
    }
    if (first >= 0)
        t->first_byte_ms = hop_offset + first;
}

/* Ends the current transfer, if any, and gives its easy handle back. */
static void end_transfer(struct tocsin_probe_op *op)
{
    if (op->req.easy == NULL)
        return;
    record_timings(op);
    if (op->transfer_running)
        tocsin_curl_uv_cancel(op->env->curl, &op->req);
    op->transfer_running = false;
    tocsin_curl_uv_release_easy(op->env->curl, op->req.easy, op->has_profile ? &op->profile : NULL);
    op->req.easy = NULL;
    curl_slist_free_all(op->connect_to);
    curl_slist_free_all(op->headers);
    op->connect_to = op->headers = NULL;
}

static void free_hop(struct tocsin_probe_op *op)
{
    if (op->hop_parts_owned) {
        curl_free(op->host);
        curl_free(op->port);
    }
    op->host = op->port = NULL;
    op->hop_parts_owned = false;
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
    end_transfer(op);
    free_hop(op);
    free(op->url);
    free(op->proxy);
    free(op->body);
    op->url = op->proxy = op->body = NULL;
    r->timings.dns_ms = op->dns_ms;
    r->timings.total_ms = tocsin_elapsed_ms_ceil(op->start_ns);
    if (r->error_kind == TOCSIN_ERR_TIMEOUT)
        r->timings.total_ms = (int64_t)op->monitor->timeout_ms;
    r->response_time_ms = r->timings.total_ms;
    tocsin_result_stamp(r);
    uv_close((uv_handle_t *)&op->timer, on_closed);
}

static void fail(struct tocsin_probe_op *op, enum tocsin_error_kind kind, const char *what)
{
    tocsin_result_fail(&op->result, kind, "%s", what);
    finish(op);
}

/* ---- reading the answer ------------------------------------------------- */

static bool body_needed(const struct tocsin_monitor_conf *m)
{
    const struct tocsin_expect_conf *e = &m->expect;

    return e->body_contains || e->body_not_contains || e->body_regex_re || e->body_not_regex_re;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct tocsin_probe_op *op = userdata;
    size_t len = size * nmemb;
    size_t room = op->monitor->max_body_bytes - op->body_len;

    if (len > room) {
        /* The cap: keep what fits and stop reading; cut, not failed. */
        op->body_cut = true;
        len = room;
    }
    if (op->body && len > 0) {
        memcpy(op->body + op->body_len, ptr, len);
        op->body[op->body_len + len] = '\0';
    }
    op->body_len += len;
    return op->body_cut ? 0 : size * nmemb;
}

/* Days until the peer certificate's notAfter, read while the connection is up. */
static void capture_cert_days(struct tocsin_probe_op *op)
{
    struct curl_tlssessioninfo *info = NULL;
    X509 *cert;
    int days = 0, secs = 0;

    op->cert_checked_this_hop = true;
    if (curl_easy_getinfo(op->req.easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == NULL ||
        info->backend != CURLSSLBACKEND_OPENSSL || info->internals == NULL)
        return;
    cert = SSL_get0_peer_certificate((SSL *)info->internals);
    if (cert == NULL || !ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)))
        return;
    if (secs < 0 && days <= 0)
        days--; /* expired: count partial days as a whole day past */
    if (!op->cert_seen || days < op->cert_days)
        op->cert_days = days;
    op->cert_seen = true;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct tocsin_probe_op *op = userdata;

    if (op->https && !op->cert_checked_this_hop)
        capture_cert_days(op);
    if (size * nmemb == 2 && ptr[0] == '\r' && ptr[1] == '\n')
        op->headers_done = true;
    return size * nmemb;
}

/* ---- evaluating the answer ---------------------------------------------- */

static bool check_status(struct tocsin_probe_op *op)
{
    char expected[128];
    int status = op->result.status_code;

    if (tocsin_monitor_status_ok(op->monitor, status))
        return true;
    tocsin_monitor_expect_status_str(op->monitor, expected, sizeof(expected));
    tocsin_result_fail(&op->result, TOCSIN_ERR_STATUS, "expected status %s, got %d", expected,
                       status);
    return false;
}

static bool check_headers(struct tocsin_probe_op *op)
{
    const struct tocsin_kvlist *want = &op->monitor->expect.headers;

    for (size_t i = 0; i < want->n; i++) {
        struct curl_header *h = NULL;
        const char *name = want->items[i].name, *value = want->items[i].value;
        if (curl_easy_header(op->req.easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK) {
            tocsin_result_fail(&op->result, TOCSIN_ERR_HEADER,
                               "expected header %s containing \"%s\", got none", name, value);
            return false;
        }
        if (strstr(h->value, value) == NULL) {
            tocsin_result_fail(&op->result, TOCSIN_ERR_HEADER,
                               "expected header %s containing \"%s\", got \"%.100s\"", name,
                               value, h->value);
            return false;
        }
    }
    return true;
}

static bool body_has(const struct tocsin_probe_op *op, const char *needle)
{
    return memmem(op->body, op->body_len, needle, strlen(needle)) != NULL;
}

/* Regexes run on the body up to its first NUL byte (POSIX regexec). */
static bool check_body(struct tocsin_probe_op *op)
{
    const struct tocsin_expect_conf *e = &op->monitor->expect;
    struct tocsin_result *r = &op->result;
    const char *cut = op->body_cut ? " (first bytes read)" : "";

    if (op->body == NULL)
        return true;
    if (e->body_contains && !body_has(op, e->body_contains))
        tocsin_result_fail(r, TOCSIN_ERR_BODY, "body%s does not contain \"%s\"", cut,
                           e->body_contains);
    else if (e->body_not_contains && body_has(op, e->body_not_contains))
        tocsin_result_fail(r, TOCSIN_ERR_BODY, "body contains \"%s\"", e->body_not_contains);
    else if (e->body_regex_re && regexec(e->body_regex_re, op->body, 0, NULL, 0) != 0)
        tocsin_result_fail(r, TOCSIN_ERR_BODY, "body%s does not match /%s/", cut, e->body_regex);
    else if (e->body_not_regex_re && regexec(e->body_not_regex_re, op->body, 0, NULL, 0) == 0)
        tocsin_result_fail(r, TOCSIN_ERR_BODY, "body matches /%s/", e->body_not_regex);
    else
        return true;
    return false;
}

static bool check_cert(struct tocsin_probe_op *op)
{
    int min;

    if (!op->cert_seen) /* plain http: the monitor's cold line stays unread */
        return true;
    min = op->monitor->expect.cert_min_days;
    if (min <= 0 || op->cert_days >= min)
        return true;
    if (op->cert_days < 0)
        tocsin_result_fail(&op->result, TOCSIN_ERR_CERT,
                           "certificate expired %d days ago, minimum %d", -op->cert_days, min);
    else
        tocsin_result_fail(&op->result, TOCSIN_ERR_CERT,
                           "certificate expires in %d days, minimum %d", op->cert_days, min);
    return false;
}

static bool check_time(struct tocsin_probe_op *op)
{
    uint64_t max = op->monitor->expect.max_response_time_ms;
    int64_t took;

    if (max == 0) /* no clock read for a check that sets no maximum */
        return true;
    took = tocsin_elapsed_ms(op->start_ns);
    if ((uint64_t)took <= max)
        return true;
    tocsin_result_fail(&op->result, TOCSIN_ERR_SLOW, "response took %lld ms, maximum %llu",
                       (long long)took, (unsigned long long)max);
    return false;
}

/* The answer arrived: each expectation in turn, the first failure wins. */
static void evaluate(struct tocsin_probe_op *op)
{
    if (check_status(op) && check_headers(op) && check_body(op) && check_cert(op) &&
        check_time(op))
        op->result.status = TOCSIN_STATUS_UP;
    finish(op);
}

/* ---- transfer errors ------------------------------------------------------ */

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
        tocsin_result_fail(r, TOCSIN_ERR_REFUSED, "connection to %s port %s refused%s", op->host,
                           op->port, op->proxy ? " (through the proxy)" : "");
    else if (code == CURLE_COULDNT_CONNECT && (os_errno == ECONNRESET || os_errno == ECONNABORTED))
        /* Accepted, then RST before curl saw the connect complete: a race with
         * the RST a read would see, so the same kind (as in the TCP probe). */
        tocsin_result_fail(r, TOCSIN_ERR_RESET, "connection to %s port %s reset before any answer",
                           op->host, op->port);
    else if (code == CURLE_COULDNT_CONNECT)
        tocsin_result_fail(r, TOCSIN_ERR_REFUSED, "cannot connect: %s", detail(op, code));
    else if (code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY)
        tocsin_result_fail(r, TOCSIN_ERR_DNS, "%s", detail(op, code));
    else if (is_tls_error(code))
        tocsin_result_fail(r, TOCSIN_ERR_TLS, "TLS: %s", detail(op, code));
    else if (tocsin_curl_reset_before_answer(code, op->errbuf))
        tocsin_result_fail(r, TOCSIN_ERR_RESET, "connection to %s port %s reset before any answer",
                           op->host, op->port);
    else if (code == CURLE_GOT_NOTHING)
        tocsin_result_fail(r, TOCSIN_ERR_RESET, "server closed the connection without answering");
    else if (code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_PARTIAL_FILE)
        tocsin_result_fail(r, TOCSIN_ERR_RESET, "%s", detail(op, code));
    else if (code == CURLE_OPERATION_TIMEDOUT)
        tocsin_result_fail(r, TOCSIN_ERR_TIMEOUT, "timed out after %llu ms",
                           (unsigned long long)op->monitor->timeout_ms);
    else
        tocsin_result_fail(r, TOCSIN_ERR_INTERNAL, "%s", detail(op, code));
    finish(op);
}

/* ---- redirects ------------------------------------------------------------ */

/* 303, and 301/302 after a POST, continue as GET without a body (as browsers
 * and curl do); 307/308 repeat the request as it was. */
static void adapt_method(struct tocsin_probe_op *op, long status)
{
    if (status == 303 || ((status == 301 || status == 302) && strcmp(op->method, "POST") == 0)) {
        if (strcmp(op->method, "HEAD") != 0)
            op->method = "GET";
        op->send_body = false;
    }
}

/* True when the answer was a redirect and the next hop has been started. */
static bool follow_redirect(struct tocsin_probe_op *op, long status)
{
    char *location = NULL;
    char *next;

    if (!op->monitor->follow_redirects || status < 300 || status > 399)
        return false;
    curl_easy_getinfo(op->req.easy, CURLINFO_REDIRECT_URL, &location);
    if (location == NULL)
        return false;
    if (op->hops >= MAX_REDIRECTS) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_STATUS, "stopped after %d redirects (last to %.200s)",
                           MAX_REDIRECTS, location);
        finish(op);
        return true;
    }
    next = strdup(location); /* owned by the easy handle, which goes back to the pool */
    if (next == NULL) {
        fail(op, TOCSIN_ERR_INTERNAL, "out of memory");
        return true;
    }
    adapt_method(op, status);
    end_transfer(op);
    free_hop(op);
    free(op->url);
    op->url = next;
    op->hops++;
    start_hop(op);
    return true;
}

static void on_transfer_done(struct tocsin_curl_req *req, CURLcode code)
{
    struct tocsin_probe_op *op = container_of(req, struct tocsin_probe_op, req);
    long status = 0;

    op->transfer_running = false;
    curl_easy_getinfo(op->req.easy, CURLINFO_RESPONSE_CODE, &status);
    op->result.status_code = (int)status;
    /* Stopping at the body cap aborts the read with a write error: cut, not failed. */
    if (code == CURLE_WRITE_ERROR && op->body_cut && status > 0)
        code = CURLE_OK;
    if (code != CURLE_OK) {
        op->result.status_code = 0; /* no complete HTTP answer */
        classify_error(op, code);
        return;
    }
    if (follow_redirect(op, status))
        return;
    evaluate(op);
}

/* ---- starting a hop ------------------------------------------------------- */

static bool names_user_agent(const struct tocsin_kvlist *h)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->items[i].name, "User-Agent") == 0)
            return true;
    return false;
}

/* The check's own header list, or none (NULL: env->default_headers go) when
 * it adds nothing to them; ours names the agent unless the monitor does. */
static int build_headers(struct tocsin_probe_op *op)
{
    const struct tocsin_kvlist *h = &op->monitor->headers;
    int rc = 0;

    if (op->headers == NULL && h->n == 0 && !op->send_body)
        return 0;
    if (!names_user_agent(h))
        rc = tocsin_curl_header_append(&op->headers, "User-Agent", TOCSIN_USER_AGENT);
    for (size_t i = 0; rc == 0 && i < h->n; i++)
        rc = tocsin_curl_header_append(&op->headers, h->items[i].name, h->items[i].value);
    /* curl would otherwise wait for "100 Continue" before sending a body. */
    if (rc == 0 && op->send_body)
        rc = tocsin_curl_header_append(&op->headers, "Expect", "");
    return rc;
}

static void set_method(struct tocsin_probe_op *op, CURL *easy)
{
    const struct tocsin_monitor_conf *m = op->monitor;

    if (strcmp(op->method, "HEAD") == 0)
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    else if (strcmp(op->method, "GET") != 0 && strcmp(op->method, "POST") != 0)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, op->method);
    if (op->send_body || strcmp(op->method, "POST") == 0) {
        const char *body = op->send_body && m->body ? m->body : "";
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(op->send_body && m->body ? m->body_len : 0));
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        if (strcmp(op->method, "POST") != 0)
            curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, op->method);
    }
}

/* Credentials go only to the host, port and scheme the monitor names, never to a
 * redirect target elsewhere (curl's own rule since 7.83 without
 * CURLOPT_UNRESTRICTED_AUTH): no password to another port, none over plain HTTP. */
static void set_auth(struct tocsin_probe_op *op, CURL *easy)
{
    const struct tocsin_monitor_conf *m = op->monitor;

    if (strcasecmp(op->host, op->first->host) != 0 || strcmp(op->port, op->first->port) != 0 ||
        op->https != op->first->https)
        return;
    if (m->basic_auth_user) {
        curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(easy, CURLOPT_USERNAME, m->basic_auth_user);
        curl_easy_setopt(easy, CURLOPT_PASSWORD, m->basic_auth_password ? m->basic_auth_password : "");
    } else if (m->bearer_token) {
        curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, m->bearer_token);
    }
}

static void set_tls(const struct tocsin_monitor_conf *m, CURL *easy)
{
    const struct tocsin_tls_conf *tls = &m->tls;

    curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L); /* a resumed session shows no certificate */
    tocsin_curl_set_ca(easy, tls->ca_file);
    if (tls->skip_verify) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (tls->cert_file) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->cert_file);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->key_file);
    }
}

static void set_vantage(struct tocsin_probe_op *op, CURL *easy)
{
    const struct tocsin_region_conf *region = op->region;
    char iface[160];

    if (region->source_address) {
        snprintf(iface, sizeof(iface), "host!%s", region->source_address);
        curl_easy_setopt(easy, CURLOPT_INTERFACE, iface);
    } else if (region->interface) {
        snprintf(iface, sizeof(iface), "if!%s", region->interface);
        curl_easy_setopt(easy, CURLOPT_INTERFACE, iface);
    }
}

static void set_versions(const struct tocsin_monitor_conf *m, CURL *easy)
{
    static const long ipresolve[] = {[TOCSIN_IP_ANY] = CURL_IPRESOLVE_WHATEVER,
                                     [TOCSIN_IP_V4] = CURL_IPRESOLVE_V4,
                                     [TOCSIN_IP_V6] = CURL_IPRESOLVE_V6};

    curl_easy_setopt(easy, CURLOPT_IPRESOLVE, ipresolve[m->ip_version]);
    if (m->http_version == TOCSIN_HTTP_1_1)
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    else if (m->http_version == TOCSIN_HTTP_2)
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
}

/* CURLOPT_SOCKOPTFUNCTION: remembers the socket, for timeout_phase(). */
static int on_sockopt(void *userdata, curl_socket_t fd, curlsocktype purpose)
{
    struct tocsin_probe_op *op = userdata;

    if (purpose == CURLSOCKTYPE_IPCXN)
        op->sock = fd;
    return CURL_SOCKOPT_OK;
}

/* The options of DESIGN §6 that keep a check honest and follow from its
 * profile (below): set on a handle that was reset. */
static void set_profile_options(struct tocsin_probe_op *op, CURL *easy)
{
    const struct tocsin_monitor_conf *m = op->monitor;

    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L); /* we follow, resolving each hop */
    /* The region's proxy is for every target: no_proxy in the environment
     * exempts none (and curl then reads no environment per request). */
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "");
    if (!m->keep_alive) {
        curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    /* Our timer is the deadline; curl's is a backstop a little later. */
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)m->timeout_ms + 1000L);
    set_method(op, easy);
    set_auth(op, easy);
    set_tls(m, easy);
    set_vantage(op, easy);
    set_versions(m, easy);
}

/* What differs between two checks of one profile: set on every request. */
static void set_request_options(struct tocsin_probe_op *op, CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_URL, op->url);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, op->errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, op);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, op);
    curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, op);
    curl_easy_setopt(easy, CURLOPT_CONNECT_TO, op->connect_to); /* NULL: none */
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER,
                     op->headers ? op->headers : op->env->default_headers);
    curl_easy_setopt(easy, CURLOPT_PROXY, op->proxy ? op->proxy : ""); /* never *_proxy env */
}

/* The profile of this hop: everything set_profile_options() reads, for a GET
 * without a body or credentials, without a client certificate and with the
 * certificate verified (what most checks are); false for any other, whose
 * handle is reset before and after.  Region and CA file are compared by
 * address: both live in the config, as long as the pool. */
static bool profile_of(const struct tocsin_probe_op *op, struct tocsin_curl_profile *p)
{
    const struct tocsin_monitor_conf *m = op->monitor;

    if (strcmp(op->method, "GET") != 0 || op->send_body || m->basic_auth_user ||
        m->bearer_token || m->tls.skip_verify || m->tls.cert_file)
        return false;
    *p = (struct tocsin_curl_profile){
        .words = {(uint64_t)(uintptr_t)op->region, (uint64_t)(uintptr_t)m->tls.ca_file,
                  m->timeout_ms,
                  1u | (uint64_t)m->keep_alive << 1 | (uint64_t)m->ip_version << 8 |
                      (uint64_t)m->http_version << 16}};
    return true;
}

/* A handle already set up for this hop's profile, else a reset one set up now. */
static CURL *take_easy(struct tocsin_probe_op *op)
{
    CURL *easy = NULL;

    op->has_profile = profile_of(op, &op->profile);
    if (op->has_profile)
        easy = tocsin_curl_uv_easy_kept(op->env->curl, &op->profile);
    if (easy == NULL) {
        easy = tocsin_curl_uv_easy(op->env->curl);
        if (easy)
            set_profile_options(op, easy);
    }
    return easy;
}

static void start_transfer(struct tocsin_probe_op *op)
{
    int rc = -ENOMEM;

    op->errbuf[0] = '\0';
    op->cert_checked_this_hop = false;
    op->body_len = 0;
    op->body_cut = false;
    op->headers_done = false;
    op->sock = CURL_SOCKET_BAD;
    /* The transfer's phases count from here; the hop began just before
     * unless a name was resolved on the way. */
    if (op->dns_ms >= 0)
        op->hop_start_ns = uv_hrtime();
    op->req.easy = take_easy(op);
    op->req.done = on_transfer_done;
    if (op->req.easy && build_headers(op) == 0) {
        set_request_options(op, op->req.easy);
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

/* server_name: SNI and the certificate name differ from the URL's host.  The
 * URL then names server_name, CONNECT_TO sends it to the real host's address
 * (or the real host, through a proxy) and Host: keeps the original name. */
static int apply_server_name(struct tocsin_probe_op *op, const char *target)
{
    const char *name;
    CURLU *u;
    char *url = NULL;
    char line[512];
    int rc = -ENOMEM;

    /* The op's own fields first: a plain http check reads no TLS settings. */
    if (!op->https || op->hops > 0 || (name = op->monitor->tls.server_name) == NULL)
        return 1;
    u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, op->url, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_HOST, name, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK) {
        op->connect_to = tocsin_curl_connect_to(name, op->port, target);
        /* Host: carries the port unless it is https' default. */
        snprintf(line, sizeof(line), strcmp(op->port, "443") == 0 ? "%s" : "%s:%s", op->host,
                 op->port);
        rc = op->connect_to && tocsin_curl_header_append(&op->headers, "Host", line) == 0
                 ? 0
                 : -ENOMEM;
        if (rc == 0) {
            free(op->url);
            op->url = strdup(url);
            rc = op->url ? 0 : -ENOMEM;
        }
    }
    curl_free(url);
    curl_url_cleanup(u);
    return rc;
}

static void connect_hop(struct tocsin_probe_op *op, const char *target)
{
    int rc = apply_server_name(op, target);

    if (rc == 1 && target != op->host) {
        op->connect_to = tocsin_curl_connect_to(op->host, op->port, target);
        rc = op->connect_to ? 0 : -ENOMEM;
    }
    if (rc < 0) {
        fail(op, TOCSIN_ERR_INTERNAL, "out of memory");
        return;
    }
    start_transfer(op);
}

static int family_of(const struct tocsin_monitor_conf *m)
{
    return m->ip_version == TOCSIN_IP_V4 ? AF_INET : m->ip_version == TOCSIN_IP_V6 ? AF_INET6
                                                                                   : AF_UNSPEC;
}

static void on_host_resolved(void *data, int status, const struct sockaddr_storage *addr,
                             const char *message)
{
    struct tocsin_probe_op *op = data;
    char ip[64];

    op->resolve = NULL;
    op->dns_ms = (op->dns_ms > 0 ? op->dns_ms : 0) + tocsin_elapsed_ms(op->hop_start_ns);
    if (status < 0) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_DNS, "cannot resolve %s: %s", op->host, message);
        finish(op);
        return;
    }
    tocsin_format_ip(addr, true, ip, sizeof(ip));
    connect_hop(op, ip);
}

/* The monitor's own URL is parsed once and kept (env->url_parts), with whether
 * its host is an IP address (tested on every check, that read two more cold
 * strings per check at thousands of monitors); a redirect target is parsed
 * for its hop. */
static bool is_ip_literal(const char *host)
{
    struct sockaddr_storage addr;

    return host && tocsin_parse_ip(host, &addr);
}

static int parse_hop_url(struct tocsin_probe_op *op)
{
    struct tocsin_url_parts *memo =
        &op->env->url_parts[op->monitor - op->env->config->monitors];
    int rc;

    if (op->hops > 0) {
        op->hop_parts_owned = true;
        rc = tocsin_curl_url_parts(op->url, &op->host, &op->port, &op->https);
        op->literal = rc == 0 && is_ip_literal(op->host);
        return rc;
    }
    if (!memo->parsed) {
        if (tocsin_curl_url_parts(op->monitor->url, &memo->host, &memo->port, &memo->https) ==
            -ENOMEM)
            return -ENOMEM; /* not remembered: the next check tries again */
        memo->literal = is_ip_literal(memo->host);
        memo->parsed = true;
    }
    op->first = memo;
    op->host = memo->host;
    op->port = memo->port;
    op->https = memo->https;
    op->literal = memo->literal;
    return memo->host ? 0 : -EINVAL;
}

static void start_hop(struct tocsin_probe_op *op)
{
    int rc;

    if (op->hops > 0) /* the first hop starts with the check (http_start) */
        op->hop_start_ns = uv_hrtime();
    rc = parse_hop_url(op);
    if (rc == -ENOMEM) {
        fail(op, TOCSIN_ERR_INTERNAL, "out of memory");
        return;
    }
    if (rc < 0) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_STATUS, "redirect to an unusable URL: %.200s",
                           op->url);
        finish(op);
        return;
    }
    /* Through a proxy the proxy resolves; a literal needs no lookup. */
    if (op->proxy || op->literal) {
        connect_hop(op, op->host);
        return;
    }
    op->resolving = op->host;
    rc = tocsin_resolve(op->env->resolvers[op->result.region], op->host, family_of(op->monitor),
                        on_host_resolved, op, &op->resolve);
    if (rc < 0) {
        op->resolve = NULL;
        tocsin_result_fail(&op->result, TOCSIN_ERR_INTERNAL, "cannot start resolving: %s",
                           strerror(-rc));
        finish(op);
    }
}

/* ---- the proxy of the region ------------------------------------------- */

static void on_proxy_resolved(void *data, int status, const struct sockaddr_storage *addr,
                              const char *message)
{
    struct tocsin_probe_op *op = data;
    CURLU *u = curl_url();
    char ip[64];
    char *url = NULL;

    op->resolve = NULL;
    op->dns_ms = tocsin_elapsed_ms(op->start_ns);
    if (status < 0) {
        tocsin_result_fail(&op->result, TOCSIN_ERR_DNS, "cannot resolve the proxy: %s", message);
        curl_url_cleanup(u);
        finish(op);
        return;
    }
    tocsin_format_ip(addr, true, ip, sizeof(ip));
    if (u && curl_url_set(u, CURLUPART_URL, op->region->proxy, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_HOST, ip, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK)
        op->proxy = strdup(url);
    curl_free(url);
    curl_url_cleanup(u);
    if (op->proxy == NULL) {
        fail(op, TOCSIN_ERR_INTERNAL, "cannot use the proxy URL");
        return;
    }
    start_hop(op);
}

/* The proxy's own host goes through c-ares too, so curl resolves nothing. */
static void start_via_proxy(struct tocsin_probe_op *op)
{
    CURLU *u = curl_url();
    char *host = NULL;
    struct sockaddr_storage literal;
    int rc = -EINVAL;

    if (u && curl_url_set(u, CURLUPART_URL, op->region->proxy, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        rc = 0;
    curl_url_cleanup(u);
    if (rc == 0 && tocsin_parse_ip(host, &literal)) {
        op->proxy = strdup(op->region->proxy);
        curl_free(host);
        if (op->proxy)
            start_hop(op);
        else
            fail(op, TOCSIN_ERR_INTERNAL, "out of memory");
        return;
    }
    if (rc == 0)
        rc = tocsin_resolve(op->env->resolvers[op->result.region], host, AF_UNSPEC,
                            on_proxy_resolved, op, &op->resolve);
    op->resolving = "the proxy";
    curl_free(host);
    if (rc < 0) {
        op->resolve = NULL;
        fail(op, TOCSIN_ERR_INTERNAL, "cannot use the proxy URL");
    }
}

/* ---- the timeout and the vtable ------------------------------------------ */

/* Whether this hop's TCP connection is up: curl 7.88 sets CONNECT_TIME only
 * once TLS is done too, so a server that accepts and then stalls the
 * handshake read as "connecting".  Not through a proxy (its socket is the
 * proxy's). */
static bool tcp_connected(const struct tocsin_probe_op *op)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);

    if (op->req.easy && info_ms(op->req.easy, CURLINFO_CONNECT_TIME_T) >= 0)
        return true;
    return op->proxy == NULL && op->sock != CURL_SOCKET_BAD &&
           getpeername(op->sock, (struct sockaddr *)&peer, &len) == 0;
}

static const char *timeout_phase(struct tocsin_probe_op *op)
{
    if (op->req.easy == NULL || !tcp_connected(op))
        return "connecting";
    if (op->https && info_ms(op->req.easy, CURLINFO_APPCONNECT_TIME_T) < 0)
        return "during the TLS handshake";
    if (info_ms(op->req.easy, CURLINFO_STARTTRANSFER_TIME_T) < 0)
        return "waiting for the first byte";
    if (!op->headers_done)
        return "reading the headers";
    return "reading the body";
}

static void on_timeout(uv_timer_t *timer)
{
    struct tocsin_probe_op *op = timer->data;
    unsigned long long ms = (unsigned long long)op->monitor->timeout_ms;

    /* A lookup that outlives the check is a DNS failure, not a slow server. */
    if (op->resolve)
        tocsin_result_fail(&op->result, TOCSIN_ERR_DNS, "DNS lookup of %s timed out after %llu ms",
                           op->resolving, ms);
    else
        tocsin_result_fail(&op->result, TOCSIN_ERR_TIMEOUT, "timed out after %llu ms %s", ms,
                           timeout_phase(op));
    finish(op);
}

static int http_start(const struct tocsin_probe_env *env, const struct tocsin_monitor_conf *monitor,
                      size_t region, tocsin_probe_cb cb, void *data, struct tocsin_probe_op **out)
{
    struct tocsin_probe_op *op = calloc(1, sizeof(*op));

    if (op == NULL)
        return -ENOMEM;
    op->url = strdup(monitor->url);
    if (body_needed(monitor))
        op->body = malloc(monitor->max_body_bytes + 1);
    if (op->url == NULL || (body_needed(monitor) && op->body == NULL)) {
        free(op->url);
        free(op->body);
        free(op);
        return -ENOMEM;
    }
    op->env = env;
    op->monitor = monitor;
    op->region = &env->config->regions[region];
    op->cb = cb;
    op->data = data;
    op->method = monitor->method;
    op->send_body = monitor->body != NULL;
    op->start_ns = op->hop_start_ns = uv_hrtime();
    op->dns_ms = -1;
    op->sock = CURL_SOCKET_BAD;
    op->result = (struct tocsin_result){
        .status = TOCSIN_STATUS_DOWN,
        .region = region,
        .timings = {-1, -1, -1, -1, -1},
    };
    uv_timer_init(env->loop, &op->timer);
    op->timer.data = op;
    uv_timer_start(&op->timer, on_timeout, monitor->timeout_ms, 0);
    *out = op;
    if (op->region->proxy)
        start_via_proxy(op);
    else
        start_hop(op);
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
