/* The scheduler: see include/tocsin/sched.h. */
#include "tocsin/sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct check_slot {
    uv_timer_t timer;
    struct tocsin_sched *sched;
    size_t monitor;
    size_t region_slot;
    uint64_t due;            /* next due time, uv_now() milliseconds */
    uint64_t run_due;        /* due time of the instance queued or running */
    bool failing;            /* last result was DOWN: retry_interval applies */
    bool running;
    bool queued;
    struct check_slot *next_queued;
    struct tocsin_probe_op *op;
};

struct tocsin_sched {
    struct tocsin_probe_env env;
    size_t max_concurrency;
    tocsin_sched_result_cb cb;
    void *data;
    struct check_slot *slots;
    size_t n_slots;
    struct check_slot *queue_head, *queue_tail;
    struct tocsin_sched_stats stats;
    size_t open_timers;
    void (*on_closed)(void *data);
    void *on_closed_data;
    bool closing;
};

const uint64_t tocsin_lateness_bounds_ms[TOCSIN_LATENESS_BUCKETS - 1] = {
    1, 5, 10, 50, 100, 500, 1000, 5000,
};

static void record_lateness(struct tocsin_sched *s, uint64_t due, uint64_t now)
{
    uint64_t late = now > due ? now - due : 0;
    size_t i = 0;

    while (i < TOCSIN_LATENESS_BUCKETS - 1 && late > tocsin_lateness_bounds_ms[i])
        i++;
    s->stats.lateness[i]++;
    s->stats.lateness_sum_ms += late;
}

uint64_t tocsin_fnv1a64(const void *bytes, size_t len, uint64_t seed)
{
    const unsigned char *p = bytes;
    uint64_t h = seed;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static const struct tocsin_monitor_conf *slot_monitor(const struct check_slot *c)
{
    return &c->sched->env.config->monitors[c->monitor];
}

static uint64_t slot_interval(const struct check_slot *c)
{
    const struct tocsin_monitor_conf *m = slot_monitor(c);

    return c->failing ? m->retry_interval_ms : m->interval_ms;
}

static void on_due(uv_timer_t *timer);

/* Next due = FROM + interval; slots already missed are skipped, never burst.
 * COUNT_MISSED is false when the passed due times fell while this slot's
 * instance was queued or running: on_due already counted them as overlaps. */
static void arm_next(struct check_slot *c, uint64_t from, bool count_missed)
{
    uint64_t now = uv_now(c->timer.loop);
    uint64_t interval = slot_interval(c);

    c->due = from + interval;
    if (c->due <= now) {
        uint64_t missed = (now - c->due) / interval + 1;
        c->due += missed * interval;
        if (count_missed)
            c->sched->stats.skipped_slots += missed;
    }
    uv_timer_start(&c->timer, on_due, c->due - now, 0);
}

static void start_next_queued(struct tocsin_sched *s);

static void on_result(void *data, const struct tocsin_result *result)
{
    struct check_slot *c = data;
    struct tocsin_sched *s = c->sched;
    bool failing = result->status == TOCSIN_STATUS_DOWN;

    c->op = NULL;
    c->running = false;
    s->stats.in_flight--;
    s->stats.completed++;
    if (failing != c->failing) {
        /* The interval changed (retry_interval while failing): re-plan from this run. */
        c->failing = failing;
        arm_next(c, c->run_due, false);
    }
    s->cb(s->data, c->monitor, c->region_slot, result);
    start_next_queued(s);
}

static void run_check(struct check_slot *c)
{
    struct tocsin_sched *s = c->sched;
    const struct tocsin_monitor_conf *m = slot_monitor(c);
    const struct tocsin_probe_kind *kind = tocsin_probe_kind_of(m->type);
    size_t region = m->regions[c->region_slot];
    struct tocsin_result failed = {.status = TOCSIN_STATUS_DOWN, .region = region};
    int rc;

    record_lateness(s, c->run_due, uv_now(c->timer.loop));
    rc = kind->start(&s->env, m, region, on_result, c, &c->op);
    if (rc == 0) {
        c->running = true;
        s->stats.in_flight++;
        s->stats.started++;
        return;
    }
    /* Could not even start (out of memory): one failed check, not a dead agent. */
    tocsin_result_fail(&failed, TOCSIN_ERR_INTERNAL, "cannot start check: %s", strerror(-rc));
    failed.timings = (struct tocsin_timings){-1, -1, -1, -1, 0};
    if (!c->failing) {
        c->failing = true; /* retry_interval applies to this failure too */
        arm_next(c, c->run_due, false);
    }
    s->cb(s->data, c->monitor, c->region_slot, &failed);
}

static void start_next_queued(struct tocsin_sched *s)
{
    while (!s->closing && s->queue_head && s->stats.in_flight < s->max_concurrency) {
        struct check_slot *c = s->queue_head;
        s->queue_head = c->next_queued;
        if (s->queue_head == NULL)
            s->queue_tail = NULL;
        c->next_queued = NULL;
        c->queued = false;
        s->stats.queued--;
        run_check(c);
    }
}

static void on_due(uv_timer_t *timer)
{
    struct check_slot *c = timer->data;
    struct tocsin_sched *s = c->sched;
    uint64_t due = c->due;

    if (c->running || c->queued) {
        s->stats.skipped_overlap++;
    } else {
        c->run_due = due;
        if (s->stats.in_flight < s->max_concurrency) {
            run_check(c);
        } else {
            c->queued = true;
            s->stats.queued++;
            if (s->queue_tail)
                s->queue_tail->next_queued = c;
            else
                s->queue_head = c;
            s->queue_tail = c;
        }
    }
    /* run_check may already have re-planned (a synchronous failure flips failing). */
    if (c->due == due)
        arm_next(c, due, true);
}

int tocsin_sched_new(const struct tocsin_probe_env *env, int max_concurrency,
                     tocsin_sched_result_cb cb, void *data, struct tocsin_sched **out)
{
    const struct tocsin_config *config = env->config;
    struct tocsin_sched *s = calloc(1, sizeof(*s));
    size_t n = 0, k = 0;

    if (s == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < config->n_monitors; i++)
        n += config->monitors[i].n_regions;
    s->slots = calloc(n ? n : 1, sizeof(*s->slots));
    if (s->slots == NULL) {
        free(s);
        return -ENOMEM;
    }
    s->env = *env;
    s->max_concurrency = max_concurrency > 0 ? (size_t)max_concurrency : 1;
    s->cb = cb;
    s->data = data;
    s->n_slots = n;
    for (size_t i = 0; i < config->n_monitors; i++) {
        for (size_t r = 0; r < config->monitors[i].n_regions; r++, k++) {
            struct check_slot *c = &s->slots[k];
            c->sched = s;
            c->monitor = i;
            c->region_slot = r;
            uv_timer_init(env->loop, &c->timer);
            c->timer.data = c;
            s->open_timers++;
        }
    }
    *out = s;
    return 0;
}

/* Spreads first runs over the interval so a restart never stampedes. */
static uint64_t first_offset(const struct check_slot *c)
{
    const struct tocsin_monitor_conf *m = slot_monitor(c);
    const char *region = c->sched->env.config->regions[m->regions[c->region_slot]].name;
    uint64_t h = tocsin_fnv1a64(m->id, strlen(m->id), TOCSIN_FNV1A64_SEED);

    h = tocsin_fnv1a64("", 1, h);
    h = tocsin_fnv1a64(region, strlen(region), h);
    return h % m->interval_ms;
}

void tocsin_sched_start(struct tocsin_sched *s)
{
    for (size_t i = 0; i < s->n_slots; i++) {
        struct check_slot *c = &s->slots[i];
        uint64_t offset = first_offset(c);
        c->due = uv_now(c->timer.loop) + offset;
        uv_timer_start(&c->timer, on_due, offset, 0);
    }
}

void tocsin_sched_run_now(struct tocsin_sched *s, size_t monitor)
{
    for (size_t i = 0; i < s->n_slots && !s->closing; i++) {
        struct check_slot *c = &s->slots[i];
        if (c->monitor != monitor || c->running || c->queued)
            continue;
        /* Due now: on_due runs it and plans the next run one interval later. */
        uv_timer_stop(&c->timer);
        c->due = uv_now(c->timer.loop);
        on_due(&c->timer);
    }
}

void tocsin_sched_stats(const struct tocsin_sched *s, struct tocsin_sched_stats *out)
{
    *out = s->stats;
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct check_slot *c = handle->data;
    struct tocsin_sched *s = c->sched;

    if (--s->open_timers > 0)
        return;
    if (s->on_closed)
        s->on_closed(s->on_closed_data);
    free(s->slots);
    free(s);
}

void tocsin_sched_close(struct tocsin_sched *s, void (*on_closed)(void *data), void *data)
{
    s->closing = true;
    s->on_closed = on_closed;
    s->on_closed_data = data;
    for (size_t i = 0; i < s->n_slots; i++) {
        struct check_slot *c = &s->slots[i];
        if (c->op) {
            const struct tocsin_probe_kind *kind = tocsin_probe_kind_of(slot_monitor(c)->type);
            kind->cancel(c->op); /* discarded: a shutdown is not a failure */
            c->op = NULL;
        }
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    }
    if (s->n_slots == 0) {
        if (on_closed)
            on_closed(data);
        free(s->slots);
        free(s);
    }
}
