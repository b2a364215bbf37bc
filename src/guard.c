/* Prober guard: see include/tocsin/guard.h. */
#include "tocsin/guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/curl_uv.h"

#define NIL SIZE_MAX

enum result { RESULT_NONE, RESULT_UP, RESULT_FAILED };

/* One (monitor, region slot): its latest result while that is current. */
struct check {
    uint64_t at_ms;        /* when the current result came */
    size_t prev, next;     /* in its queue, oldest first, while current */
    size_t host_region;    /* index into tocsin_guard.hr; NIL: no target host */
    size_t region;         /* NIL: not a config region (ignored) */
    size_t queue;
    unsigned char result;  /* enum result; RESULT_NONE = no current result */
    bool canary;
};

/* One target host as seen from one region. */
struct host_region {
    size_t current;        /* its checks there with a current result */
    size_t failed;         /* of which failed */
};

/* Current checks that share one staleness horizon, oldest first: the time
 * only goes forward, so each one expires in order. */
struct queue {
    uint64_t horizon_ms;
    size_t head, tail;
};

struct region {
    size_t hosts_counted, hosts_failing;
    size_t canaries, canaries_failing;
    bool touched;          /* its counts changed in this call */
    bool queued;           /* in tocsin_guard.changes */
    bool reported;         /* the state last given by tocsin_guard_pop_change */
};

struct tocsin_guard {
    size_t n_monitors;
    size_t *first;         /* per monitor, its first check; [n_monitors] = n_checks */
    struct check *checks;
    struct host_region *hr;
    struct queue *queues;
    size_t n_queues;
    struct region *regions;
    bool *degraded;        /* per config region */
    size_t n_regions;
    size_t *touched;       /* regions whose counts changed in this call */
    size_t n_touched;
    size_t *changes;       /* regions tocsin_guard_pop_change looks at, oldest first */
    size_t changes_head, n_changes;
    uint64_t now_ms;       /* latest time seen */
    uint64_t next_expiry_ms; /* no current result goes stale before this */
};

/* ---- building ------------------------------------------------------------ */

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;

    while (p < n)
        p *= 2;
    return p;
}

static uint64_t hash_bytes(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t hash_pair(size_t a, size_t b)
{
    uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ull ^ ((uint64_t)b + 0x632be59bd9b4e019ull);

    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

/* The host as compared: brackets and one trailing dot off, lower case, an
 * IPv6 address in its canonical text.  0 or -ENOMEM. */
static int normalise_host(const char *host, char **out)
{
    size_t len = strlen(host);
    struct in6_addr a6;
    char *s;

    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len > 1 && host[len - 1] == '.')
        len--;
    s = malloc(len + 1 > INET6_ADDRSTRLEN ? len + 1 : INET6_ADDRSTRLEN);
    if (s == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)tolower((unsigned char)host[i]);
    s[len] = '\0';
    if (strchr(s, ':') && inet_pton(AF_INET6, s, &a6) == 1)
        inet_ntop(AF_INET6, &a6, s, INET6_ADDRSTRLEN);
    *out = s;
    return 0;
}

/* *OUT = MONITOR's target host as compared, or NULL when it names none.
 * 0 or -ENOMEM. */
static int target_host(const struct tocsin_monitor_conf *monitor, char **out)
{
    char *host = NULL, *port = NULL;
    int rc = 0;

    *out = NULL;
    if (monitor->type == TOCSIN_PROBE_HTTP) {
        if (monitor->url == NULL)
            return 0;
        rc = tocsin_curl_url_parts(monitor->url, &host, &port, NULL);
        curl_free(port);
        if (rc == -ENOMEM)
            return rc;
        if (rc == 0 && host && host[0])
            rc = normalise_host(host, out);
        else
            rc = 0;        /* a URL curl would refuse: no host to count */
        curl_free(host);
        return rc;
    }
    if (monitor->host && monitor->host[0])
        rc = normalise_host(monitor->host, out);
    return rc;
}

/* Interns each monitor's host: *IDS[m] is its host number or NIL.  0 or -ENOMEM. */
static int intern_hosts(const struct tocsin_config *config, size_t *ids)
{
    size_t cap = pow2_at_least(config->n_monitors * 2), n_hosts = 0;
    char **table = calloc(cap, sizeof(*table));
    size_t *numbers = calloc(cap, sizeof(*numbers));
    int rc = table && numbers ? 0 : -ENOMEM;

    for (size_t m = 0; m < config->n_monitors && rc == 0; m++) {
        char *host;
        size_t i;

        ids[m] = NIL;
        rc = target_host(&config->monitors[m], &host);
        if (rc < 0 || host == NULL)
            continue;
        i = (size_t)hash_bytes(host) & (cap - 1);
        while (table[i] && strcmp(table[i], host) != 0)
            i = (i + 1) & (cap - 1);
        if (table[i]) {
            free(host);
        } else {
            table[i] = host;
            numbers[i] = n_hosts++;
        }
        ids[m] = numbers[i];
    }
    if (table)
        for (size_t i = 0; i < cap; i++)
            free(table[i]);
    free(table);
    free(numbers);
    return rc;
}

static uint64_t horizon_ms(const struct tocsin_monitor_conf *m)
{
    uint64_t every = m->interval_ms > m->retry_interval_ms ? m->interval_ms : m->retry_interval_ms;
    uint64_t h = every > UINT64_MAX / 2 ? UINT64_MAX : every * 2;

    return h > UINT64_MAX - m->timeout_ms ? UINT64_MAX : h + m->timeout_ms;
}

static int by_horizon(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* One queue per distinct horizon; *QUEUE_OF[m] is monitor m's.  0 or -ENOMEM. */
static int make_queues(struct tocsin_guard *g, const struct tocsin_config *config, size_t *queue_of)
{
    uint64_t (*pairs)[2] = calloc(config->n_monitors + 1, sizeof(*pairs));
    size_t n = 0;

    if (pairs == NULL)
        return -ENOMEM;
    for (size_t m = 0; m < config->n_monitors; m++) {
        pairs[m][0] = horizon_ms(&config->monitors[m]);
        pairs[m][1] = m;
    }
    qsort(pairs, config->n_monitors, sizeof(*pairs), by_horizon);
    g->queues = calloc(config->n_monitors + 1, sizeof(*g->queues));
    if (g->queues == NULL) {
        free(pairs);
        return -ENOMEM;
    }
    for (size_t i = 0; i < config->n_monitors; i++) {
        if (n == 0 || g->queues[n - 1].horizon_ms != pairs[i][0])
            g->queues[n++] = (struct queue){pairs[i][0], NIL, NIL};
        queue_of[pairs[i][1]] = n - 1;
    }
    g->n_queues = n;
    free(pairs);
    return 0;
}

/* Numbers the (host, region) pairs in use and links every check to its own.
 * 0 or -ENOMEM. */
static int make_checks(struct tocsin_guard *g, const struct tocsin_config *config,
                       const size_t *host_of, const size_t *queue_of, const bool *canary)
{
    size_t n_checks = g->first[config->n_monitors], n_hr = 0;
    size_t cap = pow2_at_least(n_checks * 2);
    size_t (*table)[3] = malloc(cap * sizeof(*table)); /* host, region, number */

    g->checks = calloc(n_checks + 1, sizeof(*g->checks));
    if (table == NULL || g->checks == NULL) {
        free(table);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        table[i][0] = NIL;
    for (size_t m = 0; m < config->n_monitors; m++) {
        const struct tocsin_monitor_conf *mon = &config->monitors[m];
        for (size_t slot = 0; slot < mon->n_regions; slot++) {
            struct check *c = &g->checks[g->first[m] + slot];
            size_t region = mon->regions[slot], i;

            *c = (struct check){.prev = NIL, .next = NIL, .host_region = NIL, .region = NIL,
                                .queue = queue_of[m], .result = RESULT_NONE};
            if (region >= g->n_regions)
                continue;
            c->region = region;
            c->canary = canary[m];
            g->regions[region].canaries += canary[m];
            if (host_of[m] == NIL)
                continue;
            i = (size_t)hash_pair(host_of[m], region) & (cap - 1);
            while (table[i][0] != NIL && (table[i][0] != host_of[m] || table[i][1] != region))
                i = (i + 1) & (cap - 1);
            if (table[i][0] == NIL) {
                table[i][0] = host_of[m];
                table[i][1] = region;
                table[i][2] = n_hr++;
            }
            c->host_region = table[i][2];
        }
    }
    free(table);
    g->hr = calloc(n_hr + 1, sizeof(*g->hr));
    return g->hr ? 0 : -ENOMEM;
}

int tocsin_guard_new(const struct tocsin_config *config, struct tocsin_guard **out)
{
    size_t n_monitors = config->n_monitors, n_regions = config->n_regions;
    struct tocsin_guard *g = calloc(1, sizeof(*g));
    size_t *host_of = calloc(n_monitors + 1, sizeof(*host_of));
    size_t *queue_of = calloc(n_monitors + 1, sizeof(*queue_of));
    bool *canary = calloc(n_monitors + 1, sizeof(*canary));
    int rc = -ENOMEM;

    *out = NULL;
    if (g == NULL || host_of == NULL || queue_of == NULL || canary == NULL)
        goto done;
    g->n_monitors = n_monitors;
    g->n_regions = n_regions;
    g->next_expiry_ms = UINT64_MAX;
    g->first = calloc(n_monitors + 1, sizeof(*g->first));
    g->regions = calloc(n_regions + 1, sizeof(*g->regions));
    g->degraded = calloc(n_regions + 1, sizeof(*g->degraded));
    g->touched = calloc(n_regions + 1, sizeof(*g->touched));
    g->changes = calloc(n_regions + 1, sizeof(*g->changes));
    if (!g->first || !g->regions || !g->degraded || !g->touched || !g->changes)
        goto done;
    for (size_t m = 0; m < n_monitors; m++)
        g->first[m + 1] = g->first[m] + config->monitors[m].n_regions;
    for (size_t i = 0; i < config->agent.n_canaries; i++)
        if (config->agent.canaries[i] < n_monitors)
            canary[config->agent.canaries[i]] = true; /* listed twice is still one */
    if ((rc = intern_hosts(config, host_of)) < 0 || (rc = make_queues(g, config, queue_of)) < 0 ||
        (rc = make_checks(g, config, host_of, queue_of, canary)) < 0)
        goto done;
    *out = g;
    g = NULL;
done:
    tocsin_guard_free(g);
    free(host_of);
    free(queue_of);
    free(canary);
    return rc;
}

void tocsin_guard_free(struct tocsin_guard *g)
{
    if (g == NULL)
        return;
    free(g->first);
    free(g->checks);
    free(g->hr);
    free(g->queues);
    free(g->regions);
    free(g->degraded);
    free(g->touched);
    free(g->changes);
    free(g);
}

/* ---- counting ------------------------------------------------------------ */

static bool degraded_by_canaries(const struct region *r)
{
    return r->canaries > 0 && r->canaries_failing == r->canaries;
}

static bool degraded_by_hosts(const struct region *r)
{
    return r->hosts_counted >= TOCSIN_GUARD_MIN_HOSTS &&
           r->hosts_failing * 100 >= r->hosts_counted * TOCSIN_GUARD_FAIL_PERCENT;
}

static void touch(struct tocsin_guard *g, size_t region)
{
    if (!g->regions[region].touched) {
        g->regions[region].touched = true;
        g->touched[g->n_touched++] = region;
    }
}

/* Adds check C's current result to the counts of its host and region, or
 * takes it away. */
static void count(struct tocsin_guard *g, const struct check *c, bool add)
{
    struct region *r = &g->regions[c->region];
    bool failed = c->result == RESULT_FAILED;

    if (c->canary && failed) {
        if (add)
            r->canaries_failing++;
        else
            r->canaries_failing--;
    }
    if (c->host_region != NIL) {
        struct host_region *h = &g->hr[c->host_region];
        bool was_counted = h->current > 0, was_failing = was_counted && h->failed == h->current;
        bool counted, failing;

        if (add) {
            h->current++;
            h->failed += failed;
        } else {
            h->current--;
            h->failed -= failed;
        }
        counted = h->current > 0;
        failing = counted && h->failed == h->current;
        r->hosts_counted = r->hosts_counted + counted - was_counted;
        r->hosts_failing = r->hosts_failing + failing - was_failing;
    }
    touch(g, c->region);
}

static void unlink_check(struct tocsin_guard *g, size_t i)
{
    struct check *c = &g->checks[i];
    struct queue *q = &g->queues[c->queue];

    if (c->prev != NIL)
        g->checks[c->prev].next = c->next;
    else
        q->head = c->next;
    if (c->next != NIL)
        g->checks[c->next].prev = c->prev;
    else
        q->tail = c->prev;
    c->prev = c->next = NIL;
}

static uint64_t expiry_ms(const struct tocsin_guard *g, const struct check *c)
{
    uint64_t horizon = g->queues[c->queue].horizon_ms;

    return c->at_ms > UINT64_MAX - horizon ? UINT64_MAX : c->at_ms + horizon;
}

/* Appends check I (its result just came, at g->now_ms) to its queue. */
static void link_check(struct tocsin_guard *g, size_t i)
{
    struct check *c = &g->checks[i];
    struct queue *q = &g->queues[c->queue];
    uint64_t expiry = expiry_ms(g, c);

    c->prev = q->tail;
    c->next = NIL;
    if (q->tail != NIL)
        g->checks[q->tail].next = i;
    else
        q->head = i;
    q->tail = i;
    if (expiry < g->next_expiry_ms)
        g->next_expiry_ms = expiry;
}

/* Drops the results older than their horizon at g->now_ms.  Runs only once
 * the earliest expiry may have passed; each dropped result was paid for by
 * the call that fed it. */
static void sweep(struct tocsin_guard *g)
{
    uint64_t next = UINT64_MAX;

    if (g->now_ms <= g->next_expiry_ms)
        return;
    for (size_t qi = 0; qi < g->n_queues; qi++) {
        struct queue *q = &g->queues[qi];
        while (q->head != NIL) {
            size_t i = q->head;
            struct check *c = &g->checks[i];
            uint64_t expiry = expiry_ms(g, c);

            if (g->now_ms <= expiry) {
                next = expiry < next ? expiry : next;
                break;
            }
            unlink_check(g, i);
            count(g, c, false);
            c->result = RESULT_NONE;
        }
    }
    g->next_expiry_ms = next;
}

/* Decides again for the regions whose counts changed; true when one of them
 * changed state. */
static bool settle(struct tocsin_guard *g)
{
    bool changed = false;

    for (size_t k = 0; k < g->n_touched; k++) {
        size_t ri = g->touched[k];
        struct region *r = &g->regions[ri];
        bool degraded = degraded_by_canaries(r) || degraded_by_hosts(r);

        r->touched = false;
        if (degraded == g->degraded[ri])
            continue;
        g->degraded[ri] = degraded;
        changed = true;
        if (!r->queued) {
            r->queued = true;
            g->changes[(g->changes_head + g->n_changes++) % g->n_regions] = ri;
        }
    }
    g->n_touched = 0;
    return changed;
}

static void advance(struct tocsin_guard *g, uint64_t now_ms)
{
    if (now_ms > g->now_ms)
        g->now_ms = now_ms;
    sweep(g);
}

bool tocsin_guard_feed(struct tocsin_guard *g, size_t monitor, size_t slot, bool failed,
                       uint64_t now_ms)
{
    size_t i;
    struct check *c;

    if (monitor >= g->n_monitors || slot >= g->first[monitor + 1] - g->first[monitor])
        return false;
    i = g->first[monitor] + slot;
    c = &g->checks[i];
    advance(g, now_ms);
    if (c->region != NIL) {
        if (c->result != RESULT_NONE) {
            unlink_check(g, i);
            count(g, c, false);
        }
        c->result = failed ? RESULT_FAILED : RESULT_UP;
        c->at_ms = g->now_ms;
        count(g, c, true);
        link_check(g, i);
    }
    return settle(g);
}

bool tocsin_guard_expire(struct tocsin_guard *g, uint64_t now_ms)
{
    advance(g, now_ms);
    return settle(g);
}

bool tocsin_guard_pop_change(struct tocsin_guard *g, size_t *region)
{
    while (g->n_changes > 0) {
        size_t ri = g->changes[g->changes_head];
        struct region *r = &g->regions[ri];

        g->changes_head = (g->changes_head + 1) % g->n_regions;
        g->n_changes--;
        r->queued = false;
        if (r->reported != g->degraded[ri]) {
            r->reported = g->degraded[ri];
            *region = ri;
            return true;
        }
    }
    return false;
}

bool tocsin_guard_degraded(const struct tocsin_guard *g, size_t region)
{
    return region < g->n_regions && g->degraded[region];
}

const bool *tocsin_guard_regions(const struct tocsin_guard *g)
{
    return g->degraded;
}

void tocsin_guard_info(const struct tocsin_guard *g, size_t region, struct tocsin_guard_info *info)
{
    const struct region *r;

    memset(info, 0, sizeof(*info));
    info->reason = "none";
    if (region >= g->n_regions)
        return;
    r = &g->regions[region];
    info->degraded = g->degraded[region];
    info->hosts_failing = r->hosts_failing;
    info->hosts_counted = r->hosts_counted;
    info->canaries_failing = r->canaries_failing;
    info->canaries = r->canaries;
    if (degraded_by_canaries(r))
        info->reason = "canaries";
    else if (degraded_by_hosts(r))
        info->reason = "hosts";
}
