/* The webhook sender: see include/tocsin/sender.h. */
#include "tocsin/sender.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/crypto.h"
#include "tocsin/curl_uv.h"
#include "tocsin/format.h"
#include "tocsin/log.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct delivery {
    struct tocsin_curl_req req;
    struct tocsin_sender *sender;
    size_t webhook;
    char request_id[37];
    char monitor_id[65];
    enum tocsin_notification type;
    int level;
    char *body;
    size_t len;
    char *host;
    char *port;
    struct curl_slist *headers;
    struct curl_slist *connect_to;
    struct tocsin_resolve_req *resolve;
    uint64_t start_ns;
    bool transfer_running;
    char errbuf[CURL_ERROR_SIZE];
    struct delivery *prev, *next; /* in flight */
};

struct tocsin_sender {
    uv_loop_t *loop;
    const struct tocsin_config *config;
    struct tocsin_resolver *resolver;
    struct tocsin_curl_uv curl;
    uv_timer_t drain_timer;
    struct delivery *in_flight;
    struct tocsin_sender_stats stats;
    tocsin_delivery_cb observer;
    void *observer_data;
    bool closing;
    uint64_t drain_deadline;
    int open_parts;      /* curl multi and drain timer, until their close callbacks */
    void (*on_closed)(void *data);
    void *on_closed_data;
};

static void delivery_free(struct delivery *d)
{
    struct tocsin_sender *s = d->sender;

    if (d->resolve)
        tocsin_resolve_cancel(d->resolve);
    if (d->req.easy) {
        if (d->transfer_running)
            tocsin_curl_uv_cancel(&s->curl, &d->req);
        tocsin_curl_uv_release_easy(&s->curl, d->req.easy);
    }
    if (d->prev)
        d->prev->next = d->next;
    else
        s->in_flight = d->next;
    if (d->next)
        d->next->prev = d->prev;
    s->stats.in_flight--;
    curl_slist_free_all(d->headers);
    curl_slist_free_all(d->connect_to);
    curl_free(d->host);
    curl_free(d->port);
    free(d->body);
    free(d);
}

static void report(struct delivery *d, long status, bool delivered, const char *error)
{
    struct tocsin_sender *s = d->sender;
    const struct tocsin_webhook_conf *w = &s->config->webhooks[d->webhook];
    struct tocsin_delivery_report rep = {
        .webhook = d->webhook,
        .request_id = d->request_id,
        .status_code = status,
        .latency_ms = (int64_t)((uv_hrtime() - d->start_ns) / 1000000u),
        .delivered = delivered,
        .error = error,
    };
    char code[16], latency[24], level[16];

    snprintf(code, sizeof(code), "%ld", status);
    snprintf(latency, sizeof(latency), "%" PRId64, rep.latency_ms);
    snprintf(level, sizeof(level), "%d", d->level);
    if (delivered) {
        s->stats.delivered++;
        tocsin_info("alert delivered", "webhook", w->name, "monitor", d->monitor_id, "event",
                    tocsin_notification_name(d->type), "level", level, "status", code,
                    "latency_ms", latency, "request_id", d->request_id);
    } else {
        s->stats.failed++;
        tocsin_error("alert delivery failed, not retried (no outbox yet)", "webhook", w->name,
                     "monitor", d->monitor_id, "event", tocsin_notification_name(d->type),
                     "status", code, "error", error, "request_id", d->request_id);
    }
    if (s->observer)
        s->observer(s->observer_data, &rep);
}

static void on_done(struct tocsin_curl_req *req, CURLcode code)
{
    struct delivery *d = container_of(req, struct delivery, req);
    long status = 0;
    char reason[CURL_ERROR_SIZE + 64];
    char *location = NULL;

    d->transfer_running = false;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK) {
        snprintf(reason, sizeof(reason), "%s", d->errbuf[0] ? d->errbuf : curl_easy_strerror(code));
        report(d, status, false, reason);
    } else if (status >= 200 && status <= 299) {
        report(d, status, true, NULL);
    } else if (status >= 300 && status <= 399) {
        curl_easy_getinfo(req->easy, CURLINFO_REDIRECT_URL, &location);
        snprintf(reason, sizeof(reason), "redirect to %s not followed",
                 location ? location : "(no Location)");
        report(d, status, false, reason);
    } else {
        snprintf(reason, sizeof(reason), "receiver answered %ld", status);
        report(d, status, false, reason);
    }
    delivery_free(d);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static int append_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[1024];
    struct curl_slist *next;

    snprintf(line, sizeof(line), "%s: %s", name, value);
    next = curl_slist_append(*list, line);
    if (next == NULL)
        return -ENOMEM;
    *list = next;
    return 0;
}

/* Content-Type, User-Agent, X-Request-ID, the webhook's own, then the format's
 * signature headers, made for this attempt. */
static int build_headers(struct delivery *d, const struct tocsin_webhook_conf *w,
                         const struct tocsin_format *format)
{
    struct tocsin_format_headers signed_headers = {.n = 0};
    int rc = append_header(&d->headers, "Content-Type", "application/json");

    if (rc == 0)
        rc = append_header(&d->headers, "User-Agent", "tocsin/" TOCSIN_VERSION);
    if (rc == 0)
        rc = append_header(&d->headers, "X-Request-ID", d->request_id);
    /* curl would otherwise send "Expect: 100-continue" and wait on large bodies. */
    if (rc == 0)
        rc = append_header(&d->headers, "Expect", "");
    for (size_t i = 0; rc == 0 && i < w->headers.n; i++)
        rc = append_header(&d->headers, w->headers.items[i].name, w->headers.items[i].value);
    if (rc == 0)
        rc = format->sign(w, d->request_id, d->body, d->len, &signed_headers);
    for (size_t i = 0; rc == 0 && i < signed_headers.n; i++)
        rc = append_header(&d->headers, signed_headers.items[i].name, signed_headers.items[i].value);
    return rc;
}

static void start_transfer(struct delivery *d)
{
    struct tocsin_sender *s = d->sender;
    const struct tocsin_webhook_conf *w = &s->config->webhooks[d->webhook];
    const struct tocsin_format *format = tocsin_format_find(w->format);
    CURL *easy = tocsin_curl_uv_easy(&s->curl);
    int rc = easy ? build_headers(d, w, format) : -ENOMEM;

    d->req.easy = easy;
    d->req.done = on_done;
    if (rc == 0) {
        curl_easy_setopt(easy, CURLOPT_URL, w->url);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(easy, CURLOPT_PROXY, "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, d->body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->len);
        if (strcmp(w->method, "POST") != 0)
            curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, w->method);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, d->headers);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)w->connect_timeout_ms);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, d->errbuf);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
        if (d->connect_to)
            curl_easy_setopt(easy, CURLOPT_CONNECT_TO, d->connect_to);
        rc = tocsin_curl_uv_add(&s->curl, &d->req);
    }
    if (rc < 0) {
        report(d, 0, false, strerror(-rc));
        delivery_free(d);
        return;
    }
    d->transfer_running = true;
}

static void on_resolved(void *data, int status, const struct sockaddr_storage *addr,
                        const char *message)
{
    struct delivery *d = data;
    char ip[64], reason[256];

    d->resolve = NULL;
    if (status < 0) {
        snprintf(reason, sizeof(reason), "cannot resolve %s: %s", d->host, message);
        report(d, 0, false, reason);
        delivery_free(d);
        return;
    }
    tocsin_format_ip(addr, true, ip, sizeof(ip));
    d->connect_to = tocsin_curl_connect_to(d->host, d->port, ip);
    if (d->connect_to == NULL) {
        report(d, 0, false, "out of memory");
        delivery_free(d);
        return;
    }
    start_transfer(d);
}

static struct delivery *delivery_new(struct tocsin_sender *s, const struct tocsin_alert *alert)
{
    struct delivery *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->sender = s;
    d->webhook = alert->webhook;
    d->type = alert->type;
    d->level = alert->notification_level;
    d->start_ns = uv_hrtime();
    snprintf(d->monitor_id, sizeof(d->monitor_id), "%s", alert->monitor->id);
    d->next = s->in_flight;
    if (d->next)
        d->next->prev = d;
    s->in_flight = d;
    s->stats.in_flight++;
    return d;
}

int tocsin_sender_send(struct tocsin_sender *s, const struct tocsin_alert *alert)
{
    const struct tocsin_webhook_conf *w = &s->config->webhooks[alert->webhook];
    const struct tocsin_format *format = tocsin_format_find(w->format);
    struct sockaddr_storage literal;
    struct delivery *d;
    int rc;

    if (s->closing || format == NULL)
        return -ECANCELED;
    d = delivery_new(s, alert);
    if (d == NULL)
        return -ENOMEM;
    s->stats.queued++;
    rc = format->build_body(alert, w, &d->body, &d->len);
    if (rc == 0)
        rc = tocsin_uuid4(d->request_id);
    if (rc == 0)
        rc = tocsin_curl_url_parts(w->url, &d->host, &d->port, NULL);
    if (rc == 0 && tocsin_parse_ip(d->host, &literal)) {
        start_transfer(d);
        return 0;
    }
    if (rc == 0)
        rc = tocsin_resolve(s->resolver, d->host, AF_UNSPEC, on_resolved, d, &d->resolve);
    if (rc < 0) {
        d->resolve = NULL;
        report(d, 0, false, rc == -EFBIG ? "body over 1 MB refused" : strerror(-rc));
        delivery_free(d);
    }
    return rc;
}

int tocsin_sender_new(uv_loop_t *loop, const struct tocsin_config *config,
                      struct tocsin_resolver *resolver, struct tocsin_sender **out)
{
    struct tocsin_sender *s = calloc(1, sizeof(*s));
    int rc;

    if (s == NULL)
        return -ENOMEM;
    s->loop = loop;
    s->config = config;
    s->resolver = resolver;
    rc = tocsin_curl_uv_init(&s->curl, loop, 16);
    if (rc < 0) {
        free(s);
        return rc;
    }
    uv_timer_init(loop, &s->drain_timer);
    s->drain_timer.data = s;
    *out = s;
    return 0;
}

void tocsin_sender_on_delivery(struct tocsin_sender *s, tocsin_delivery_cb cb, void *data)
{
    s->observer = cb;
    s->observer_data = data;
}

void tocsin_sender_stats(const struct tocsin_sender *s, struct tocsin_sender_stats *out)
{
    *out = s->stats;
}

static void part_closed(struct tocsin_sender *s)
{
    if (--s->open_parts > 0)
        return;
    if (s->on_closed)
        s->on_closed(s->on_closed_data);
    free(s);
}

static void on_curl_closed(struct tocsin_curl_uv *cu)
{
    part_closed(container_of(cu, struct tocsin_sender, curl));
}

static void on_drain_timer_closed(uv_handle_t *handle)
{
    part_closed(handle->data);
}

static void finish_close(struct tocsin_sender *s)
{
    while (s->in_flight) {
        tocsin_warn("alert delivery abandoned at shutdown", "webhook",
                    s->config->webhooks[s->in_flight->webhook].name, "request_id",
                    s->in_flight->request_id);
        delivery_free(s->in_flight);
    }
    s->open_parts = 2;
    uv_close((uv_handle_t *)&s->drain_timer, on_drain_timer_closed);
    tocsin_curl_uv_close(&s->curl, on_curl_closed);
}

static void on_drain_tick(uv_timer_t *timer)
{
    struct tocsin_sender *s = timer->data;

    /* Polled every 50 ms rather than hooked into completion: shutdown only. */
    if (s->in_flight == NULL || uv_now(s->loop) >= s->drain_deadline) {
        uv_timer_stop(timer);
        finish_close(s);
    }
}

void tocsin_sender_close(struct tocsin_sender *s, uint64_t drain_ms, void (*on_closed)(void *data),
                         void *data)
{
    s->closing = true;
    s->on_closed = on_closed;
    s->on_closed_data = data;
    if (s->in_flight == NULL) {
        finish_close(s);
        return;
    }
    s->drain_deadline = uv_now(s->loop) + drain_ms;
    uv_timer_start(&s->drain_timer, on_drain_tick, 50, 50);
}
