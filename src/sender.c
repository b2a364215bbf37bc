/* The webhook sender: see include/tocsin/sender.h.
 *
 * Each webhook has a queue of deliveries, oldest first.  pump() walks it and
 * starts what may go now: committed (or uncommittable) rows that are due, not
 * behind an earlier undelivered row of the same monitor, within 16 in flight
 * and the rate limit, and not while a 429 pauses the webhook.  One uv timer
 * wakes the sender at the earliest time anything becomes possible.
 *
 * A pass costs O(n) in the queue, and an alert storm brings thousands of
 * events (a commit, an answer) per second while tens of thousands wait: so
 * pump() only asks for a pass, and an idle handle makes at most one per queue
 * per loop iteration, then arms the timer once.
 *
 * Formats with `refire` (alertmanager) also keep their firing incidents, one
 * per monitor, and a second timer re-posts them every refire_ms: deliveries
 * outside the queue, never stored nor retried (see "re-posts" below). */
#include "tocsin/sender.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsin/crypto.h"
#include "tocsin/curl_uv.h"
#include "tocsin/format.h"
#include "tocsin/log.h"
#include "tocsin/name_index.h"
#include "tocsin/sched.h" /* tocsin_fnv1a64 */

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define MAX_IN_FLIGHT_PER_WEBHOOK 16
#define MAX_DELAY_MS (3600u * 1000u)
#define RATE_RING_MAX 65536u
#define STORE_RETRY_MS 5000u
#define SUPERSEDED "superseded: a later alert of this monitor was delivered"

enum phase {
    PHASE_STORING, /* waiting for the outbox commit: nothing is sent before it */
    PHASE_WAITING, /* due at `due` */
    PHASE_SENDING,
    PHASE_DEAD,    /* kept; revived when the webhook answers 2xx again */
    PHASE_DONE,    /* delivered while its insert is on its way: on_stored frees it */
};

struct webhook_queue;

/* A firing incident of a `refire` webhook, re-posted until its recovery. */
struct firing {
    struct firing *next, *prev;
    size_t monitor_index;         /* into config->monitors: its slot in firing_of */
    struct tocsin_alert alert;    /* the last incident; its monitor is of the sender's config */
    size_t in_flight;             /* its re-posts not finished yet */
};

struct delivery {
    struct tocsin_curl_req req;
    struct tocsin_sender *sender;
    struct webhook_queue *queue;
    struct delivery *prev, *next;
    struct tocsin_outbox_row row; /* owned strings */
    enum phase phase;
    bool stored;                  /* the outbox has this row */
    bool store_failed;            /* commit failed: held in memory, retried */
    bool store_busy;              /* an insert is on its way */
    bool superseded;              /* dead, and a later alert of its monitor was delivered:
                                   * stale, never re-sent on its own (outbox retry may) */
    int cycle_attempts;           /* attempts since queued or revived */
    bool blocked;                 /* an earlier or in-flight delivery of its monitor goes
                                   * first (mark_blocked, once per pass over the queue) */
    uint64_t due;                 /* uv_now() ms */
    char *host;
    char *port;
    struct curl_slist *headers;
    struct curl_slist *connect_to;
    struct tocsin_resolve_req *resolve;
    uint64_t start_ns;
    char errbuf[CURL_ERROR_SIZE];
    struct firing *firing;        /* set on a re-post of it: on webhook_queue.refires,
                                   * never stored, retried or reported */
    bool unsynced;                /* changed since the outbox got the row (or while it
                                   * could not): the row needs an update once stored */
    /* Orphaned: taken out of its sender (closed, or the dead letter purged) while
     * its insert was on its way.  SENDER, QUEUE and the links are NULL then; the
     * insert's callback finishes its row in STORE and frees it. */
    bool orphan;
    bool purge;                   /* orphaned by a purge: delete the row once stored */
    struct tocsin_store *store;
};

struct webhook_queue {
    struct tocsin_sender *sender;
    size_t index;
    const struct tocsin_webhook_conf *conf;
    const struct tocsin_format *format;
    struct delivery *head, *tail;
    size_t in_flight;
    uint64_t paused_until;        /* uv_now() ms; a 429 pauses the whole webhook */
    bool pump_wanted;             /* something changed: pass over it this iteration */
    uint64_t wake;                /* the last pass's answer: when anything could start */
    uint64_t *sends;              /* ring of recent send times (uv_now ms) */
    size_t ring_cap, ring_head, ring_n;
    struct firing *firing;        /* format->refire: incidents not recovered */
    struct firing **firing_of;    /* the same by monitor index (made on first use), so a
                                   * storm of 10,000 alerts does not search the list */
    struct delivery *refires;     /* re-posts in flight */
    uint64_t outcomes[TOCSIN_OUTCOMES]; /* finished attempts, for /metrics */
};

struct tocsin_sender {
    uv_loop_t *loop;
    const struct tocsin_config *config;
    struct tocsin_resolver *resolver;
    struct tocsin_store *store;
    struct tocsin_curl_uv curl;
    uv_timer_t timer;
    uv_idle_t pump_idle;          /* active while a queue wants a pass */
    uv_timer_t refire_timer;      /* every refire_ms while anything fires */
    uint64_t refire_ms;
    struct webhook_queue *queues;
    size_t n_queues;
    struct tocsin_sender_stats stats;
    tocsin_delivery_cb observer;
    void *observer_data;
    bool closing;
    uint64_t drain_deadline;
    int open_parts;
    void (*on_closed)(void *data);
    void *on_closed_data;
};

static void pump(struct webhook_queue *q);
static void arm_timer(struct tocsin_sender *s);

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t tocsin_retry_delay_ms(uint64_t backoff_ms, int attempt, double jitter)
{
    uint64_t delay = backoff_ms;

    for (int i = 1; i < attempt && delay < MAX_DELAY_MS; i++)
        delay *= 2;
    if (delay > MAX_DELAY_MS)
        delay = MAX_DELAY_MS;
    return (uint64_t)((double)delay * jitter);
}

/* A factor in [0.8, 1.2] so many agents' retries do not line up. */
static double jitter(void)
{
    uint32_t r = 0;

    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)rand();
    return 0.8 + 0.4 * ((double)r / 4294967295.0);
}

/* ---- queue bookkeeping -------------------------------------------------- */

static void row_free(struct tocsin_outbox_row *row)
{
    free(row->webhook);
    free(row->monitor);
    free(row->event);
    free(row->url);
    free(row->body);
    free(row->last_error);
    memset(row, 0, sizeof(*row));
}

static void end_attempt(struct delivery *d)
{
    struct tocsin_sender *s = d->sender;

    if (d->resolve) {
        tocsin_resolve_cancel(d->resolve);
        d->resolve = NULL;
    }
    if (d->req.easy) {
        if (d->phase == PHASE_SENDING)
            tocsin_curl_uv_cancel(&s->curl, &d->req);
        tocsin_curl_uv_release_easy(&s->curl, d->req.easy, NULL);
        d->req.easy = NULL;
    }
    curl_slist_free_all(d->headers);
    curl_slist_free_all(d->connect_to);
    curl_free(d->host);
    curl_free(d->port);
    d->headers = d->connect_to = NULL;
    d->host = d->port = NULL;
}

/* Takes D out of its sender: the attempt ended, the counters and the lists. */
static void delivery_unlink(struct delivery *d)
{
    struct webhook_queue *q = d->queue;

    end_attempt(d);
    if (d->store_failed)
        d->sender->stats.unstored--;
    if (d->phase == PHASE_DEAD)
        d->sender->stats.dead_now--;
    if (d->firing)
        d->firing->in_flight--;
    if (d->prev)
        d->prev->next = d->next;
    else if (d->firing)
        q->refires = d->next;
    else
        q->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else if (d->firing == NULL)
        q->tail = d->prev;
    d->prev = d->next = NULL;
}

static void delivery_free(struct delivery *d)
{
    delivery_unlink(d);
    row_free(&d->row);
    free(d);
}

/* Frees D, or, while its insert is on its way (the store calls on_stored with
 * D later, maybe after this sender is gone), orphans it: on_stored frees it
 * then.  PURGE: the row is to be deleted from the outbox once it is there. */
static void delivery_drop(struct delivery *d, bool purge)
{
    if (!d->store_busy) {
        delivery_free(d);
        return;
    }
    delivery_unlink(d);
    d->orphan = true;
    d->purge = purge;
    d->store = d->sender->store;
    d->sender = NULL;
    d->queue = NULL;
    d->firing = NULL;
}

static void enqueue(struct webhook_queue *q, struct delivery *d)
{
    d->queue = q;
    d->prev = q->tail;
    if (q->tail)
        q->tail->next = d;
    else
        q->head = d;
    q->tail = d;
    q->sender->stats.queued++;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- the outbox --------------------------------------------------------- */

static void row_update(struct tocsin_store *store, const struct tocsin_outbox_row *row)
{
    if (tocsin_store_update(store, row->id, row->state, row->attempts, row->next_attempt_ms,
                            row->last_error, NULL, NULL) < 0)
        tocsin_warn("cannot queue an outbox update", "request_id", row->request_id);
}

static void store_update(struct delivery *d)
{
    struct tocsin_sender *s = d->sender;

    if (s->store == NULL)
        return;
    if (!d->stored) {
        d->unsynced = true; /* written once the insert lands */
        return;
    }
    d->unsynced = false;
    row_update(s->store, &d->row);
}

/* The insert of an orphan (see delivery_drop) finished: its sender is gone,
 * so only the row is brought up to date, or deleted when it was purged. */
static void orphan_stored(struct delivery *d, int status, int64_t id, bool existed)
{
    if (status == 0 && d->purge) {
        d->row.id = id;
        d->row.state = TOCSIN_OUTBOX_DEAD; /* purge deletes dead rows only */
        tocsin_store_group_begin(d->store);
        row_update(d->store, &d->row);
        if (tocsin_store_purge(d->store, id, NULL, NULL, NULL) < 0)
            tocsin_warn("cannot queue an outbox purge", "request_id", d->row.request_id);
        tocsin_store_group_end(d->store);
    } else if (status == 0 && (d->unsynced || existed)) {
        d->row.id = id;
        row_update(d->store, &d->row);
    }
    row_free(&d->row);
    free(d);
}

static void on_stored(void *data, int status, int64_t id)
{
    struct delivery *d = data;
    bool existed = false;

    d->store_busy = false;
    /* A retried insert whose earlier "failed" commit did land is stored after all. */
    if (status == -EEXIST && id > 0) {
        status = 0;
        existed = true;
    }
    if (d->orphan) {
        orphan_stored(d, status, id, existed);
        return;
    }
    if (status < 0) {
        /* Never a silent drop: keep it in memory, send anyway, retry the commit. */
        if (!d->store_failed)
            d->sender->stats.unstored++;
        d->store_failed = true;
        tocsin_error("outbox commit failed; alert kept in memory and sent anyway", "request_id",
                     d->row.request_id, "error", strerror(-status));
    } else {
        d->row.id = id;
        d->stored = true;
        if (d->store_failed)
            d->sender->stats.unstored--;
        d->store_failed = false;
        store_update(d); /* an attempt may have happened while the commit was failing */
    }
    if (d->phase == PHASE_STORING)
        d->phase = PHASE_WAITING;
    if (d->row.state == TOCSIN_OUTBOX_DELIVERED && d->phase != PHASE_SENDING)
        delivery_free(d);
    else
        pump(d->queue);
}

static void store_insert(struct delivery *d)
{
    struct tocsin_sender *s = d->sender;
    int rc;

    if (s->store == NULL) {
        d->phase = PHASE_WAITING;
        return;
    }
    d->store_busy = true;
    d->unsynced = false; /* the insert copies the row as it is now */
    rc = tocsin_store_insert(s->store, &d->row, on_stored, d);
    if (rc < 0) {
        d->store_busy = false;
        on_stored(d, rc, 0);
    }
}

/* ---- one attempt -------------------------------------------------------- */

static void report(struct delivery *d, long status, bool delivered, int64_t retry_in,
                   const char *error)
{
    struct tocsin_sender *s = d->sender;
    struct tocsin_delivery_report rep = {
        .webhook = d->queue->index,
        .request_id = d->row.request_id,
        .monitor = d->row.monitor,
        .attempt = d->row.attempts,
        .status_code = status,
        .latency_ms = (int64_t)((uv_hrtime() - d->start_ns) / 1000000u),
        .delivered = delivered,
        .will_retry = retry_in >= 0,
        .retry_in_ms = retry_in,
        .error = error,
    };
    char code[16], latency[24], attempt[16], retry[24];
    const char *name = d->queue->conf->name;

    d->queue->outcomes[delivered ? TOCSIN_OUTCOME_DELIVERED
                       : rep.will_retry ? TOCSIN_OUTCOME_RETRY : TOCSIN_OUTCOME_DEAD]++;
    snprintf(code, sizeof(code), "%ld", status);
    snprintf(latency, sizeof(latency), "%" PRId64, rep.latency_ms);
    snprintf(attempt, sizeof(attempt), "%d", d->row.attempts);
    snprintf(retry, sizeof(retry), "%" PRId64, retry_in);
    if (delivered)
        tocsin_info("alert delivered", "webhook", name, "monitor", d->row.monitor, "event",
                    d->row.event, "attempt", attempt, "status", code, "latency_ms", latency,
                    "request_id", d->row.request_id);
    else if (retry_in >= 0)
        tocsin_warn("alert delivery failed, will retry", "webhook", name, "monitor",
                    d->row.monitor, "event", d->row.event, "attempt", attempt, "status", code,
                    "error", error, "retry_in_ms", retry, "request_id", d->row.request_id);
    else
        tocsin_error("alert delivery failed, kept as a dead letter", "webhook", name, "monitor",
                     d->row.monitor, "event", d->row.event, "attempt", attempt, "status", code,
                     "error", error, "request_id", d->row.request_id);
    if (s->observer)
        s->observer(s->observer_data, &rep);
}

/* A 2xx: revive this webhook's dead letters still younger than max_age. */
static void revive_dead(struct webhook_queue *q)
{
    int64_t now = wall_ms();

    for (struct delivery *d = q->head; d; d = d->next) {
        if (d->phase != PHASE_DEAD || d->superseded ||
            now - d->row.created_ms > (int64_t)q->conf->max_age_ms)
            continue;
        d->phase = PHASE_WAITING;
        d->cycle_attempts = 0;
        d->due = uv_now(q->sender->loop);
        d->row.state = TOCSIN_OUTBOX_PENDING;
        d->row.next_attempt_ms = now;
        q->sender->stats.dead_now--;
        tocsin_info("re-sending dead letter", "webhook", q->conf->name, "request_id",
                    d->row.request_id);
        store_update(d);
    }
}

static void set_error(struct delivery *d, const char *error)
{
    free(d->row.last_error);
    d->row.last_error = dup_or_null(error);
}

static void delivered(struct delivery *d, long status)
{
    struct webhook_queue *q = d->queue;

    d->sender->stats.delivered++;
    report(d, status, true, -1, NULL);
    d->row.state = TOCSIN_OUTBOX_DELIVERED;
    set_error(d, NULL);
    store_update(d);
    /* Earlier dead letters of this monitor are stale now: re-sending an incident
     * after its recovery went through would show the monitor DOWN again. */
    for (struct delivery *e = d->prev; e; e = e->prev) {
        if (e->phase != PHASE_DEAD || e->superseded || strcmp(e->row.monitor, d->row.monitor) != 0)
            continue;
        /* Said in last_error so the outbox remembers it across a restart. */
        e->superseded = true;
        set_error(e, SUPERSEDED);
        store_update(e);
    }
    revive_dead(q);
    /* An insert still on its way needs d; on_stored frees it then. */
    if (d->store_busy)
        d->phase = PHASE_DONE;
    else
        delivery_free(d);
}

static void dead(struct delivery *d, long status, const char *error)
{
    d->sender->stats.dead++;
    d->sender->stats.dead_now++;
    d->phase = PHASE_DEAD;
    d->row.state = TOCSIN_OUTBOX_DEAD;
    set_error(d, error);
    report(d, status, false, -1, error);
    store_update(d);
}

static void retry_later(struct delivery *d, long status, int64_t retry_after_s, const char *error)
{
    struct webhook_queue *q = d->queue;
    uint64_t delay = tocsin_retry_delay_ms(q->conf->retry_backoff_ms, d->cycle_attempts, jitter());

    if (retry_after_s > 0) {
        /* The receiver said when: honour it (clamped to 1 h). */
        uint64_t asked = (uint64_t)retry_after_s * 1000u;
        delay = asked > MAX_DELAY_MS ? MAX_DELAY_MS : asked;
    }
    d->sender->stats.retried++;
    d->phase = PHASE_WAITING;
    d->due = uv_now(d->sender->loop) + delay;
    d->row.state = TOCSIN_OUTBOX_PENDING;
    d->row.next_attempt_ms = wall_ms() + (int64_t)delay;
    if (status == 429 && d->due > q->paused_until)
        q->paused_until = d->due;
    set_error(d, error);
    report(d, status, false, (int64_t)delay, error);
    store_update(d);
}

static bool retryable(long status)
{
    return status == 0 || status == 408 || status == 429 || (status >= 300 && status <= 399) ||
           status >= 500;
}

/* What went wrong with a transfer, for the log and the outbox. */
static void transfer_error(const struct delivery *d, CURLcode code, char *out, size_t size)
{
    if (tocsin_curl_reset_before_answer(code, d->errbuf))
        snprintf(out, size, "connection reset before any answer");
    else
        snprintf(out, size, "%s", d->errbuf[0] ? d->errbuf : curl_easy_strerror(code));
}

static void refire_done(struct delivery *d, CURLcode code);

static void on_done(struct tocsin_curl_req *req, CURLcode code)
{
    struct delivery *d = container_of(req, struct delivery, req);
    struct webhook_queue *q = d->queue;
    long status = 0;
    curl_off_t retry_after = 0;
    char reason[CURL_ERROR_SIZE + 160];
    char *location = NULL;

    if (d->firing) {
        refire_done(d, code);
        return;
    }

    if (req->easy) {
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after);
    }
    if (code != CURLE_OK) {
        status = 0;
        transfer_error(d, code, reason, sizeof(reason));
    } else if (status >= 300 && status <= 399) {
        if (req->easy)
            curl_easy_getinfo(req->easy, CURLINFO_REDIRECT_URL, &location);
        snprintf(reason, sizeof(reason), "redirect to %.120s not followed",
                 location ? location : "(no Location)");
    } else {
        snprintf(reason, sizeof(reason), "receiver answered %ld", status);
    }
    d->phase = PHASE_WAITING; /* leaves SENDING before the easy handle goes back */
    end_attempt(d);
    q->in_flight--;
    d->sender->stats.in_flight--;
    if (code == CURLE_OK && status >= 200 && status <= 299)
        delivered(d, status);
    else if (retryable(status) && d->cycle_attempts <= q->conf->retries)
        retry_later(d, status, (int64_t)retry_after, reason);
    else
        dead(d, status, reason);
    pump(q);
}

/* Content-Type, User-Agent, X-Request-ID, the webhook's own, then the format's
 * signature headers, made for this attempt. */
static int build_headers(struct delivery *d)
{
    const struct tocsin_webhook_conf *w = d->queue->conf;
    struct tocsin_format_headers signed_headers = {.n = 0};
    int rc = tocsin_curl_header_append(&d->headers, "Content-Type", "application/json");

    if (rc == 0)
        rc = tocsin_curl_header_append(&d->headers, "User-Agent", TOCSIN_USER_AGENT);
    if (rc == 0)
        rc = tocsin_curl_header_append(&d->headers, "X-Request-ID", d->row.request_id);
    /* curl would otherwise send "Expect: 100-continue" and wait on large bodies. */
    if (rc == 0)
        rc = tocsin_curl_header_append(&d->headers, "Expect", "");
    for (size_t i = 0; rc == 0 && i < w->headers.n; i++)
        rc = tocsin_curl_header_append(&d->headers, w->headers.items[i].name, w->headers.items[i].value);
    if (rc == 0)
        rc = tocsin_format_sign(d->queue->format, w, d->row.request_id, wall_ms() / 1000,
                                d->row.body, d->row.body_len, &signed_headers);
    for (size_t i = 0; rc == 0 && i < signed_headers.n; i++)
        rc = tocsin_curl_header_append(&d->headers, signed_headers.items[i].name, signed_headers.items[i].value);
    return rc;
}

/* The answer's body is not needed; without a callback curl would print it. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static void set_options(struct delivery *d, CURL *easy)
{
    const struct tocsin_webhook_conf *w = d->queue->conf;

    curl_easy_setopt(easy, CURLOPT_URL, d->row.url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROXY, w->proxy ? w->proxy : "");
    curl_easy_setopt(easy, CURLOPT_NOPROXY, ""); /* nor the no_proxy environment */
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, d->row.body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->row.body_len);
    if (strcmp(w->method, "POST") != 0)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, w->method);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)w->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, d->errbuf);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    tocsin_curl_set_ca(easy, w->tls.ca_file);
    if (w->tls.skip_verify) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (w->tls.cert_file) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, w->tls.cert_file);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, w->tls.key_file);
    }
    if (d->connect_to)
        curl_easy_setopt(easy, CURLOPT_CONNECT_TO, d->connect_to);
}

/* A failure before any request went out counts as a network error. */
static void attempt_failed_early(struct delivery *d, const char *reason)
{
    d->errbuf[0] = '\0';
    snprintf(d->errbuf, sizeof(d->errbuf), "%s", reason);
    on_done(&d->req, CURLE_COULDNT_CONNECT);
}

static void start_transfer(struct delivery *d)
{
    struct tocsin_sender *s = d->sender;
    int rc;

    d->req.easy = tocsin_curl_uv_easy(&s->curl);
    d->req.done = on_done;
    rc = d->req.easy ? build_headers(d) : -ENOMEM;
    if (rc == 0) {
        set_options(d, d->req.easy);
        rc = tocsin_curl_uv_add(&s->curl, &d->req);
    }
    if (rc < 0)
        attempt_failed_early(d, strerror(-rc));
}

static void on_resolved(void *data, int status, const struct sockaddr_storage *addr,
                        const char *message)
{
    struct delivery *d = data;
    char ip[64], reason[256];

    d->resolve = NULL;
    if (status < 0) {
        snprintf(reason, sizeof(reason), "cannot resolve %s: %s", d->host, message);
        attempt_failed_early(d, reason);
        return;
    }
    tocsin_format_ip(addr, true, ip, sizeof(ip));
    d->connect_to = tocsin_curl_connect_to(d->host, d->port, ip);
    if (d->connect_to == NULL) {
        attempt_failed_early(d, "out of memory");
        return;
    }
    start_transfer(d);
}

/* Sends D's request; on_done follows (at once when it fails before any I/O).
 * Through a proxy the proxy resolves; otherwise c-ares, and curl gets the address. */
static void start_request(struct delivery *d)
{
    struct webhook_queue *q = d->queue;
    struct sockaddr_storage literal;
    int rc;

    d->phase = PHASE_SENDING;
    d->start_ns = uv_hrtime();
    d->errbuf[0] = '\0';
    rc = tocsin_curl_url_parts(d->row.url, &d->host, &d->port, NULL);
    if (rc < 0) {
        attempt_failed_early(d, "cannot parse the webhook URL");
    } else if (q->conf->proxy || tocsin_parse_ip(d->host, &literal)) {
        start_transfer(d);
    } else {
        rc = tocsin_resolve(d->sender->resolver, d->host, AF_UNSPEC, on_resolved, d, &d->resolve);
        if (rc < 0) {
            d->resolve = NULL;
            attempt_failed_early(d, strerror(-rc));
        }
    }
}

static void start_attempt(struct delivery *d)
{
    d->row.attempts++;
    d->cycle_attempts++;
    d->queue->in_flight++;
    d->sender->stats.in_flight++;
    d->sender->stats.attempts++;
    start_request(d);
}

/* ---- scheduling --------------------------------------------------------- */

/* True (and the send recorded) when one more send fits the sliding window;
 * else *WAKE is when the oldest send in the window leaves it. */
static bool rate_take(struct webhook_queue *q, uint64_t now, uint64_t *wake)
{
    uint64_t period = q->conf->rate_period_ms;

    if (q->ring_n == q->ring_cap) {
        uint64_t oldest = q->sends[q->ring_head];
        if (now < oldest + period) {
            *wake = oldest + period;
            return false;
        }
        q->ring_head = (q->ring_head + 1) % q->ring_cap;
        q->ring_n--;
    }
    q->sends[(q->ring_head + q->ring_n) % q->ring_cap] = now;
    q->ring_n++;
    return true;
}

/* True when an earlier live delivery of the same monitor is still ahead of D,
 * or a later one is in flight (a dead letter revived or retried by hand while
 * it was sent): one in flight per (webhook, monitor), in order. */
static bool behind_same_monitor(const struct delivery *d)
{
    bool earlier = true;

    for (const struct delivery *e = d->queue->head; e; e = e->next) {
        if (e == d) {
            earlier = false;
            continue;
        }
        if (strcmp(e->row.monitor, d->row.monitor) != 0)
            continue;
        if (e->phase == PHASE_SENDING ||
            (earlier && e->phase != PHASE_DEAD && e->phase != PHASE_DONE))
            return true;
    }
    return false;
}

/* Monitor ids seen in one pass over a queue, with what was seen of them: an
 * open-addressing table of pointers into the rows, built per pass, so that a
 * queue of n deliveries costs O(n) per pass, not O(n^2), while a receiver is
 * down for hours and tens of thousands wait. */
#define SEEN_SENDING 1u  /* a delivery of the monitor is in flight */
#define SEEN_PENDING 2u  /* an earlier delivery of it is not yet delivered or dead */

struct monitor_set {
    const char **ids;
    unsigned char *seen;
    size_t mask;
};

static bool set_init(struct monitor_set *set, size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n)
        cap <<= 1;
    set->ids = calloc(cap, sizeof(*set->ids));
    set->seen = calloc(cap, 1);
    set->mask = cap - 1;
    return set->ids && set->seen;
}

static void set_free(struct monitor_set *set)
{
    free(set->ids);
    free(set->seen);
}

/* The slot of ID: where it is, or the free one where it goes. */
static size_t set_slot(const struct monitor_set *set, const char *id)
{
    size_t i = (size_t)tocsin_fnv1a64(id, strlen(id), TOCSIN_FNV1A64_SEED) & set->mask;

    while (set->ids[i] && strcmp(set->ids[i], id) != 0)
        i = (i + 1) & set->mask;
    return i;
}

static void set_mark(struct monitor_set *set, const char *id, unsigned what)
{
    size_t i = set_slot(set, id);

    set->ids[i] = id;
    set->seen[i] |= (unsigned char)what;
}

/* Sets d->blocked for every delivery of Q in one pass (two, really: in-flight
 * ones block wherever they are); the quadratic scan only when out of memory. */
static void mark_blocked(const struct webhook_queue *q)
{
    struct monitor_set set;
    size_t n = 0;

    for (struct delivery *d = q->head; d; d = d->next)
        n++;
    if (!set_init(&set, n)) {
        for (struct delivery *d = q->head; d; d = d->next)
            d->blocked = behind_same_monitor(d);
        set_free(&set);
        return;
    }
    for (struct delivery *d = q->head; d; d = d->next)
        if (d->phase == PHASE_SENDING)
            set_mark(&set, d->row.monitor, SEEN_SENDING);
    for (struct delivery *d = q->head; d; d = d->next) {
        size_t i = set_slot(&set, d->row.monitor);
        d->blocked = set.ids[i] != NULL && set.seen[i] != 0;
        if (d->phase != PHASE_DEAD && d->phase != PHASE_DONE)
            set_mark(&set, d->row.monitor, SEEN_PENDING);
    }
    set_free(&set);
}

/* When the webhook's rate window is full: the moment its oldest send leaves it. */
static uint64_t rate_full_until(const struct webhook_queue *q, uint64_t now)
{
    uint64_t free_at;

    if (q->ring_n < q->ring_cap)
        return 0;
    free_at = q->sends[q->ring_head] + q->conf->rate_period_ms;
    return free_at > now ? free_at : 0;
}

/* One pass over Q: starts what may go now and returns the earliest moment
 * anything else could start.  What only a finishing attempt can unblock (16 in
 * flight, or an earlier delivery of the same monitor) counts as never: on_done
 * pumps then, and counting its past `due` would re-arm the timer at 0 for
 * ever and spin the loop.  Starting an attempt only turns a waiting delivery
 * that was not blocked into a sending one, and every later delivery of its
 * monitor was already blocked by it: the marks stay true for the whole pass. */
static uint64_t pump_pass(struct webhook_queue *q)
{
    uint64_t now = uv_now(q->sender->loop), wake = UINT64_MAX, rate_wake = 0;

    /* Nothing can start: spare the pass over the queue.  Waking when the pause
     * or the window ends is at worst one pass that finds nothing. */
    if (q->in_flight >= MAX_IN_FLIGHT_PER_WEBHOOK)
        return UINT64_MAX;
    if (now < q->paused_until)
        return q->paused_until;
    if ((rate_wake = rate_full_until(q, now)) != 0)
        return rate_wake;
    mark_blocked(q);
    for (struct delivery *d = q->head, *next; d; d = next) {
        next = d->next;
        if (d->phase != PHASE_WAITING || d->blocked)
            continue;
        if (d->due > now) {
            if (d->due < wake)
                wake = d->due;
            continue;
        }
        if (q->in_flight >= MAX_IN_FLIGHT_PER_WEBHOOK)
            return UINT64_MAX;
        if (now < q->paused_until)
            return q->paused_until;
        if (!rate_take(q, now, &rate_wake))
            return rate_wake;
        start_attempt(d); /* one that fails at once asks for the next pass */
    }
    rate_wake = rate_full_until(q, now);
    if (wake != UINT64_MAX && rate_wake > wake)
        wake = rate_wake;
    return wake;
}

static void on_pump_idle(uv_idle_t *idle)
{
    struct tocsin_sender *s = idle->data;

    uv_idle_stop(idle);
    for (size_t i = 0; i < s->n_queues; i++) {
        struct webhook_queue *q = &s->queues[i];
        if (!q->pump_wanted)
            continue;
        q->pump_wanted = false; /* before the pass: what it sets off asks again */
        q->wake = pump_pass(q);
    }
    arm_timer(s);
}

/* Asks for a pass over Q in this loop iteration (the idle phase comes before
 * the poll and keeps it from blocking), however many times it is called. */
static void pump(struct webhook_queue *q)
{
    struct tocsin_sender *s = q->sender;

    if (s->closing)
        return;
    q->pump_wanted = true;
    uv_idle_start(&s->pump_idle, on_pump_idle);
}

static void on_timer(uv_timer_t *timer)
{
    struct tocsin_sender *s = timer->data;

    for (size_t i = 0; i < s->n_queues; i++) {
        struct webhook_queue *q = &s->queues[i];
        for (struct delivery *d = q->head; d; d = d->next)
            if (d->store_failed && !d->store_busy)
                store_insert(d); /* retry commits that failed */
        pump(q);
    }
}

static void arm_timer(struct tocsin_sender *s)
{
    uint64_t now = uv_now(s->loop), wake = UINT64_MAX;

    if (s->closing)
        return;
    for (size_t i = 0; i < s->n_queues; i++)
        if (s->queues[i].wake < wake)
            wake = s->queues[i].wake;
    if (s->stats.unstored > 0 && now + STORE_RETRY_MS < wake)
        wake = now + STORE_RETRY_MS;
    if (wake == UINT64_MAX)
        uv_timer_stop(&s->timer);
    else
        uv_timer_start(&s->timer, on_timer, wake > now ? wake - now : 0, 0);
}

/* ---- queueing alerts ---------------------------------------------------- */

static struct delivery *delivery_new(struct webhook_queue *q, const char *monitor,
                                     const char *event, int level, const char *url,
                                     const char *body, size_t body_len)
{
    struct delivery *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->sender = q->sender;
    d->row.webhook = strdup(q->conf->name);
    d->row.monitor = strdup(monitor);
    d->row.event = strdup(event);
    d->row.url = strdup(url);
    d->row.body = malloc(body_len + 1);
    d->row.level = level;
    d->row.created_ms = d->row.next_attempt_ms = wall_ms();
    d->row.state = TOCSIN_OUTBOX_PENDING;
    d->phase = PHASE_STORING;
    if (!d->row.webhook || !d->row.monitor || !d->row.event || !d->row.url || !d->row.body ||
        tocsin_uuid4(d->row.request_id) < 0) {
        row_free(&d->row);
        free(d);
        return NULL;
    }
    memcpy(d->row.body, body, body_len);
    d->row.body[body_len] = '\0';
    d->row.body_len = body_len;
    d->due = uv_now(q->sender->loop);
    return d;
}

static size_t n_urls(const struct webhook_queue *q)
{
    return q->conf->n_urls ? q->conf->n_urls : 1;
}

/* The I-th URL an alert of Q goes to. */
static void alert_url(const struct webhook_queue *q, size_t i, char *url, size_t size)
{
    const struct tocsin_webhook_conf *w = q->conf;

    snprintf(url, size, "%s%s", w->n_urls ? w->urls[i] : w->url,
             q->format->url_suffix ? q->format->url_suffix : "");
}

/* One delivery per URL: alertmanager sends each alert to every peer. */
static int queue_alert(struct webhook_queue *q, const struct tocsin_alert *alert, const char *body,
                       size_t len)
{
    char url[2048];

    for (size_t i = 0; i < n_urls(q); i++) {
        struct delivery *d;
        alert_url(q, i, url, sizeof(url));
        d = delivery_new(q, alert->monitor->id, tocsin_notification_name(alert->type),
                         alert->notification_level, url, body, len);
        if (d == NULL)
            return -ENOMEM;
        enqueue(q, d);
        store_insert(d);
    }
    return 0;
}

/* ---- re-posts of firing alerts (format->refire) --------------------------- */

/* Alertmanager forgets an alert once its endsAt passes, so a firing incident is
 * posted again every refire_ms with a fresh endsAt.  A re-post is a delivery
 * outside the queue: a request id of its own, no outbox row, no retry, no
 * report; a failed one is only logged (debug): the next period tries again. */

static void refire_done(struct delivery *d, CURLcode code)
{
    long status = 0;
    char code_s[16], reason[CURL_ERROR_SIZE + 32], url[512];

    tocsin_config_redact_url(d->row.url, url, sizeof(url)); /* a peer may carry user:password */
    if (d->req.easy && code == CURLE_OK)
        curl_easy_getinfo(d->req.easy, CURLINFO_RESPONSE_CODE, &status);
    snprintf(code_s, sizeof(code_s), "%ld", status);
    if (code != CURLE_OK)
        transfer_error(d, code, reason, sizeof(reason));
    else
        snprintf(reason, sizeof(reason), "receiver answered %ld", status);
    if (code == CURLE_OK && status >= 200 && status <= 299)
        tocsin_debug("firing alert re-posted", "webhook", d->queue->conf->name, "monitor",
                     d->row.monitor, "url", url, "status", code_s, "request_id",
                     d->row.request_id);
    else
        tocsin_debug("re-posting a firing alert failed; the next period tries again", "webhook",
                     d->queue->conf->name, "monitor", d->row.monitor, "url", url, "status",
                     code_s, "error", reason, "request_id", d->row.request_id);
    d->phase = PHASE_WAITING; /* finished: nothing to cancel */
    delivery_free(d);
}

static void on_refire(uv_timer_t *timer);

static void arm_refire(struct tocsin_sender *s)
{
    bool firing = false;

    for (size_t i = 0; i < s->n_queues && !firing; i++)
        firing = s->queues[i].firing != NULL;
    if (s->closing || s->refire_ms == 0 || !firing)
        uv_timer_stop(&s->refire_timer);
    else if (!uv_is_active((uv_handle_t *)&s->refire_timer))
        uv_timer_start(&s->refire_timer, on_refire, s->refire_ms, s->refire_ms);
}

/* The monitors with a live delivery queued (still being sent or retried: a
 * re-post would only race it), one pass over the queue per period instead of
 * one per firing alert.  -ENOMEM leaves IX empty. */
static int index_queued(const struct webhook_queue *q, struct tocsin_name_index *ix)
{
    size_t n = 0;

    for (const struct delivery *d = q->head; d; d = d->next)
        n++;
    if (tocsin_name_index_init(ix, n) < 0)
        return -ENOMEM;
    for (const struct delivery *d = q->head; d; d = d->next)
        if (d->phase != PHASE_DEAD && d->phase != PHASE_DONE &&
            tocsin_name_index_put(ix, d->row.monitor, 0) == TOCSIN_NAME_ABSENT)
            return -ENOMEM;
    return 0;
}

/* Posts F once more to every URL, built with "now" = this moment, unless its
 * last re-post is still on its way, its monitor has a delivery queued (in
 * QUEUED), a 429 pauses the webhook or the rate limit is used up. */
static void refire(struct webhook_queue *q, struct firing *f, const struct tocsin_name_index *queued)
{
    struct tocsin_sender *s = q->sender;
    struct tocsin_alert alert = f->alert;
    uint64_t now = uv_now(s->loop), wake = 0;
    char url[2048], *body = NULL;
    size_t len = 0;
    int rc;

    if (f->in_flight > 0 || now < q->paused_until ||
        tocsin_name_index_get(queued, f->alert.monitor->id) != TOCSIN_NAME_ABSENT)
        return;
    alert.check_result.timestamp = (int64_t)time(NULL);
    rc = q->format->build_body(&alert, q->conf, &body, &len);
    for (size_t i = 0; rc == 0 && i < n_urls(q); i++) {
        struct delivery *d;
        if (!rate_take(q, now, &wake)) {
            rc = -EBUSY;
            break;
        }
        alert_url(q, i, url, sizeof(url));
        d = delivery_new(q, alert.monitor->id, tocsin_notification_name(alert.type),
                         alert.notification_level, url, body, len);
        if (d == NULL) {
            rc = -ENOMEM;
            break;
        }
        d->queue = q;
        d->firing = f;
        f->in_flight++;
        d->next = q->refires;
        if (q->refires)
            q->refires->prev = d;
        q->refires = d;
        s->stats.resent++;
        start_request(d); /* may end (and free d) at once */
    }
    if (rc < 0)
        tocsin_debug("firing alert not re-posted this time", "webhook", q->conf->name, "monitor",
                     alert.monitor->id, "error",
                     rc == -EBUSY ? "rate limit reached" : rc == -EFBIG ? "body over 1 MB"
                                                                         : strerror(-rc));
    free(body);
}

static void on_refire(uv_timer_t *timer)
{
    struct tocsin_sender *s = timer->data;

    for (size_t i = 0; i < s->n_queues; i++) {
        struct webhook_queue *q = &s->queues[i];
        struct tocsin_name_index queued;

        if (q->firing == NULL)
            continue;
        if (index_queued(q, &queued) < 0)
            tocsin_debug("firing alerts not re-posted this time", "webhook", q->conf->name,
                         "error", strerror(ENOMEM));
        else
            for (struct firing *f = q->firing; f; f = f->next)
                refire(q, f, &queued);
        tocsin_name_index_free(&queued);
    }
    arm_refire(s);
}

static void firing_free(struct webhook_queue *q, struct firing *f)
{
    /* A re-post still on its way could land after the recovery and make the
     * alert fire again for five minutes: cut it. */
    for (struct delivery *d = q->refires, *next; d && f->in_flight > 0; d = next) {
        next = d->next;
        if (d->firing == f)
            delivery_free(d);
    }
    if (f->prev)
        f->prev->next = f->next;
    else
        q->firing = f->next;
    if (f->next)
        f->next->prev = f->prev;
    if (q->firing_of)
        q->firing_of[f->monitor_index] = NULL;
    free(f);
}

/* A firing entry for the monitor at INDEX, and the index by monitor on the
 * first one; NULL on ENOMEM. */
static struct firing *firing_new(struct webhook_queue *q, size_t index)
{
    struct firing *f;

    if (q->firing_of == NULL &&
        (q->firing_of = calloc(q->sender->config->n_monitors, sizeof(*q->firing_of))) == NULL)
        return NULL;
    if ((f = calloc(1, sizeof(*f))) == NULL)
        return NULL;
    f->monitor_index = index;
    f->next = q->firing;
    if (q->firing)
        q->firing->prev = f;
    q->firing = f;
    q->firing_of[index] = f;
    return f;
}

/* An incident starts (or, at a later level, replaces) its monitor's firing
 * alert; a recovery ends it. */
static void track_firing(struct webhook_queue *q, const struct tocsin_alert *alert)
{
    const struct tocsin_config *config = q->sender->config;
    size_t index = (size_t)(alert->monitor - config->monitors);
    struct firing *f;

    if (alert->monitor < config->monitors || index >= config->n_monitors)
        return; /* not of this config: never the case */
    f = q->firing_of ? q->firing_of[index] : NULL;
    if (alert->type != TOCSIN_NOTIFY_INCIDENT) {
        if (f)
            firing_free(q, f);
    } else if (f == NULL && (f = firing_new(q, index)) == NULL) {
        tocsin_error("out of memory: a firing alert will not be re-posted", "webhook",
                     q->conf->name, "monitor", alert->monitor->id);
    } else {
        f->alert = *alert;
    }
    arm_refire(q->sender);
}

void tocsin_sender_set_refire_ms(struct tocsin_sender *s, uint64_t ms)
{
    s->refire_ms = ms;
    uv_timer_stop(&s->refire_timer);
    arm_refire(s);
}

int tocsin_sender_send(struct tocsin_sender *s, const struct tocsin_alert *alert)
{
    struct webhook_queue *q = &s->queues[alert->webhook];
    char *body = NULL;
    size_t len = 0;
    int rc;

    if (s->closing)
        return -ECANCELED;
    if (q->format->refire)
        track_firing(q, alert);
    rc = q->format->build_body(alert, q->conf, &body, &len);
    if (rc == 0)
        rc = queue_alert(q, alert, body, len);
    if (rc < 0)
        tocsin_error("cannot queue alert", "webhook", q->conf->name, "monitor", alert->monitor->id,
                     "error", rc == -EFBIG ? "body over 1 MB refused" : strerror(-rc));
    free(body);
    pump(q);
    return rc;
}

/* Rows an earlier run left: sent again under their original request ids. */
static void resume_rows(struct tocsin_sender *s, struct tocsin_outbox_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct tocsin_outbox_row *row = &rows[i];
        struct webhook_queue *q = NULL;
        struct delivery *d;
        for (size_t w = 0; w < s->n_queues && q == NULL; w++)
            if (strcmp(s->queues[w].conf->name, row->webhook) == 0)
                q = &s->queues[w];
        if (q == NULL) {
            tocsin_warn("outbox row for a webhook no longer configured, kept", "webhook",
                        row->webhook, "request_id", row->request_id);
            continue;
        }
        d = calloc(1, sizeof(*d));
        if (d == NULL) {
            tocsin_error("out of memory resuming the outbox", "request_id", row->request_id);
            continue;
        }
        d->sender = s;
        d->row = *row;             /* takes the strings */
        memset(row, 0, sizeof(*row));
        d->stored = true;
        d->phase = d->row.state == TOCSIN_OUTBOX_DEAD ? PHASE_DEAD : PHASE_WAITING;
        d->superseded = d->phase == PHASE_DEAD && d->row.last_error &&
                        strcmp(d->row.last_error, SUPERSEDED) == 0;
        d->due = uv_now(s->loop);
        if (d->phase == PHASE_DEAD)
            s->stats.dead_now++;
        enqueue(q, d);
    }
}

static int load_outbox(struct tocsin_sender *s)
{
    struct tocsin_outbox_row *rows = NULL;
    size_t n = 0;
    char count[24];
    int rc;

    if (s->store == NULL)
        return 0;
    rc = tocsin_store_load(s->store, &rows, &n);
    if (rc < 0)
        return rc;
    if (n > 0) {
        snprintf(count, sizeof(count), "%zu", n);
        tocsin_info("resuming outbox", "deliveries", count);
    }
    resume_rows(s, rows, n);
    tocsin_outbox_rows_free(rows, n);
    return 0;
}

static int init_queues(struct tocsin_sender *s)
{
    s->n_queues = s->config->n_webhooks;
    s->queues = calloc(s->n_queues ? s->n_queues : 1, sizeof(*s->queues));
    if (s->queues == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_queues; i++) {
        struct webhook_queue *q = &s->queues[i];
        q->sender = s;
        q->index = i;
        q->conf = &s->config->webhooks[i];
        q->format = tocsin_format_find(q->conf->format);
        q->wake = UINT64_MAX;
        q->ring_cap = q->conf->rate_limit ? q->conf->rate_limit : 1;
        if (q->ring_cap > RATE_RING_MAX)
            q->ring_cap = RATE_RING_MAX;
        q->sends = calloc(q->ring_cap, sizeof(*q->sends));
        if (q->format == NULL || q->sends == NULL)
            return q->format == NULL ? -EINVAL : -ENOMEM;
    }
    return 0;
}

static void free_queues(struct tocsin_sender *s)
{
    for (size_t i = 0; s->queues && i < s->n_queues; i++) {
        struct webhook_queue *q = &s->queues[i];
        while (q->head)
            delivery_drop(q->head, false);
        while (q->firing)
            firing_free(q, q->firing);
        free(q->firing_of);
        free(q->sends);
    }
    free(s->queues);
    s->queues = NULL;
    s->n_queues = 0;
}

int tocsin_sender_new(uv_loop_t *loop, const struct tocsin_config *config,
                      struct tocsin_resolver *resolver, struct tocsin_store *store,
                      struct tocsin_sender **out)
{
    struct tocsin_sender *s = calloc(1, sizeof(*s));
    int rc;

    if (s == NULL)
        return -ENOMEM;
    s->loop = loop;
    s->config = config;
    s->resolver = resolver;
    s->store = store;
    rc = init_queues(s);
    if (rc == 0)
        rc = tocsin_curl_uv_init(&s->curl, loop, 16);
    if (rc < 0) {
        free_queues(s);
        free(s);
        return rc;
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_idle_init(loop, &s->pump_idle);
    s->pump_idle.data = s;
    uv_timer_init(loop, &s->refire_timer);
    s->refire_timer.data = s;
    s->refire_ms = TOCSIN_REFIRE_MS;
    rc = load_outbox(s);
    if (rc < 0)
        tocsin_error("cannot read the outbox; starting without its rows", "error", strerror(-rc));
    *out = s;
    for (size_t i = 0; i < s->n_queues; i++)
        pump(&s->queues[i]);
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
    out->waiting = 0;
    for (size_t i = 0; i < s->n_queues; i++)
        for (const struct delivery *d = s->queues[i].head; d; d = d->next)
            if (d->phase == PHASE_WAITING || d->phase == PHASE_STORING)
                out->waiting++;
}

void tocsin_sender_webhook_outcomes(const struct tocsin_sender *s, size_t w,
                                    uint64_t out[TOCSIN_OUTCOMES])
{
    memcpy(out, s->queues[w].outcomes, sizeof(s->queues[w].outcomes));
}

bool tocsin_sender_healthy(const struct tocsin_sender *s)
{
    return s->stats.unstored == 0;
}

/* ---- outbox operations (tocsin outbox list|retry|purge) ------------------ */

static const char *phase_name(enum phase phase)
{
    switch (phase) {
    case PHASE_STORING:
        return "storing";
    case PHASE_WAITING:
        return "pending";
    case PHASE_SENDING:
        return "sending";
    case PHASE_DEAD:
        return "dead";
    case PHASE_DONE:
        break;
    }
    return "delivered";
}

void tocsin_sender_outbox_each(const struct tocsin_sender *s, tocsin_outbox_visit visit,
                               void *data)
{
    for (size_t i = 0; i < s->n_queues; i++) {
        for (const struct delivery *d = s->queues[i].head; d; d = d->next) {
            struct tocsin_outbox_entry e = {
                .id = d->stored ? d->row.id : 0,
                .request_id = d->row.request_id,
                .webhook = d->row.webhook,
                .monitor = d->row.monitor,
                .event = d->row.event,
                .level = d->row.level,
                .attempts = d->row.attempts,
                .created_ms = d->row.created_ms,
                .next_attempt_ms = d->row.next_attempt_ms,
                .state = phase_name(d->phase),
                .last_error = d->row.last_error,
            };
            if (d->phase != PHASE_DONE) /* delivered: only its insert is still on its way */
                visit(data, &e);
        }
    }
}

/* The dead letters an outbox command names: row ID (0: all), of WEBHOOK (NULL: any). */
static bool selected(const struct delivery *d, int64_t id, const char *webhook)
{
    return d->phase == PHASE_DEAD && (id == 0 || (d->stored && d->row.id == id)) &&
           (webhook == NULL || strcmp(d->queue->conf->name, webhook) == 0);
}

static void log_outbox_command(const char *what, int n)
{
    char count[16];

    snprintf(count, sizeof(count), "%d", n);
    if (n > 0)
        tocsin_info(what, "count", count);
}

/* Each row is written on its own (not tocsin_store_mark_retry or a purge of
 * every dead row), so the outbox changes exactly as memory does: rows the
 * sender does not hold (a webhook gone from the config) stay as they are, and
 * a retried row keeps its count of attempts, as a revived one does.  One
 * group: the rows of one command commit together. */
int tocsin_sender_outbox_retry(struct tocsin_sender *s, int64_t id, const char *webhook)
{
    int64_t now = wall_ms();
    int n = 0;

    if (s->closing)
        return -ECANCELED;
    if (id < 0)
        return -EINVAL;
    tocsin_store_group_begin(s->store);
    for (size_t i = 0; i < s->n_queues; i++) {
        struct webhook_queue *q = &s->queues[i];
        for (struct delivery *d = q->head; d; d = d->next) {
            if (!selected(d, id, webhook))
                continue;
            d->phase = PHASE_WAITING;
            d->superseded = false; /* named by hand: sent even if stale */
            d->cycle_attempts = 0;
            d->due = uv_now(s->loop);
            d->row.state = TOCSIN_OUTBOX_PENDING;
            d->row.next_attempt_ms = now;
            s->stats.dead_now--;
            n++;
            tocsin_debug("dead letter retried", "webhook", q->conf->name, "monitor",
                         d->row.monitor, "request_id", d->row.request_id);
            store_update(d);
        }
    }
    tocsin_store_group_end(s->store);
    log_outbox_command("dead letters retried", n);
    for (size_t i = 0; i < s->n_queues; i++)
        pump(&s->queues[i]);
    return id != 0 && n == 0 ? -ENOENT : n;
}

int tocsin_sender_outbox_purge(struct tocsin_sender *s, int64_t id, const char *webhook)
{
    int n = 0;

    if (s->closing)
        return -ECANCELED;
    if (id < 0)
        return -EINVAL;
    tocsin_store_group_begin(s->store);
    for (size_t i = 0; i < s->n_queues; i++) {
        struct webhook_queue *q = &s->queues[i];
        for (struct delivery *d = q->head, *next; d; d = next) {
            next = d->next;
            if (!selected(d, id, webhook))
                continue;
            n++;
            tocsin_debug("dead letter purged", "webhook", q->conf->name, "monitor",
                         d->row.monitor, "request_id", d->row.request_id);
            /* Its last update (DEAD) was queued before: the purge follows it. */
            if (s->store && d->stored && !d->store_busy &&
                tocsin_store_purge(s->store, d->row.id, NULL, NULL, NULL) < 0)
                tocsin_warn("cannot queue an outbox purge", "request_id", d->row.request_id);
            delivery_drop(d, true); /* an insert on its way: purged once it lands */
        }
    }
    tocsin_store_group_end(s->store);
    log_outbox_command("dead letters purged", n);
    return id != 0 && n == 0 ? -ENOENT : n;
}

/* ---- restoring firing alerts after a restart or reload --------------------- */

void tocsin_sender_restore_firing(struct tocsin_sender *s, const struct tocsin_alert *alert)
{
    struct webhook_queue *q;

    if (s->closing || alert->webhook >= s->n_queues || alert->type != TOCSIN_NOTIFY_INCIDENT)
        return;
    q = &s->queues[alert->webhook];
    if (q->format->refire)
        track_firing(q, alert);
}

/* ---- shutdown ----------------------------------------------------------- */

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

static void on_timer_closed(uv_handle_t *handle)
{
    part_closed(handle->data);
}

static void finish_close(struct tocsin_sender *s)
{
    for (size_t i = 0; i < s->n_queues; i++)
        for (struct delivery *d = s->queues[i].head; d; d = d->next)
            if (!d->stored && !d->store_busy)
                tocsin_warn("delivery not in the outbox lost at shutdown", "webhook",
                            s->queues[i].conf->name, "request_id", d->row.request_id);
            else if (d->phase == PHASE_SENDING)
                tocsin_warn("delivery cut short at shutdown; the outbox keeps it", "webhook",
                            s->queues[i].conf->name, "request_id", d->row.request_id);
    free_queues(s);
    s->open_parts = 4;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    uv_close((uv_handle_t *)&s->pump_idle, on_timer_closed);
    uv_close((uv_handle_t *)&s->refire_timer, on_timer_closed);
    tocsin_curl_uv_close(&s->curl, on_curl_closed);
}

static void on_drain_tick(uv_timer_t *timer)
{
    struct tocsin_sender *s = timer->data;

    /* Polled every 50 ms rather than hooked into completion: shutdown only. */
    if (s->stats.in_flight == 0 || uv_now(s->loop) >= s->drain_deadline) {
        uv_timer_stop(timer);
        finish_close(s);
    }
}

void tocsin_sender_close(struct tocsin_sender *s, uint64_t drain_ms, void (*on_closed)(void *data),
                         void *data)
{
    s->closing = true; /* nothing new starts; attempts in flight may finish */
    uv_timer_stop(&s->refire_timer);
    uv_idle_stop(&s->pump_idle);
    s->on_closed = on_closed;
    s->on_closed_data = data;
    if (s->stats.in_flight == 0) {
        uv_timer_stop(&s->timer);
        finish_close(s);
        return;
    }
    s->drain_deadline = uv_now(s->loop) + drain_ms;
    uv_timer_start(&s->timer, on_drain_tick, 50, 50);
}
