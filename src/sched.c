/* The scheduler: see include/tocsin/sched.h. */
#include "tocsin/sched.h"
#include "tocsin/prefetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_ALIGN 64

/* One per (monitor, region): one 64-byte cache line (the array is aligned);
 * a uv_timer_t each was 152 more.  Its next due time is its heap entry's key,
 * kept nowhere else.  The intervals are the monitor's, copied: planning the
 * next run (also of a run skipped as an overlap) then reads this line alone,
 * not a cold line of the monitor's config.  The slot does not know where its
 * entry is in the heap: re-planning leaves the old entry behind, stale (its
 * plan number is not the slot's), to be dropped when it reaches the top. */
struct check_slot {
    uint64_t run_due;        /* due time of the instance queued or running */
    uint64_t interval_ms;
    uint64_t retry_interval_ms;
    struct tocsin_sched *sched;
    struct check_slot *next_queued;
    struct tocsin_probe_op *op;
    uint32_t monitor;
    uint16_t region_slot;
    bool failing;            /* last result was DOWN: retry_interval applies */
    bool running;
    bool queued;
    bool planned;            /* a live heap entry holds its next due time */
    uint32_t plan;           /* number of its live heap entry */
};

_Static_assert(sizeof(struct check_slot) == SLOT_ALIGN, "a slot is one cache line");

/* The key is kept in the heap, beside the slot: a sift reads and writes
 * only the heap array (a node's four children are 64 contiguous bytes).
 * Comparing due times kept in the slots read two slots at random per level,
 * and keeping each slot's position in the heap wrote one per level: a cache
 * miss each at thousands of monitors (callgrind with a 2 MiB last level, at
 * 9,000 monitors: 23 misses per check, 1.4 fewer without those writes; the
 * popped slot's own line is read anyway).  With four children there are
 * half the levels of a binary heap. */
struct heap_entry {
    uint64_t due;            /* next due time, uv_now() milliseconds */
    uint32_t slot;
    uint32_t plan;           /* live while it is its slot's plan */
};

#define HEAP_ARITY 4

struct tocsin_sched {
    struct tocsin_probe_env env;
    size_t max_concurrency;
    tocsin_sched_result_cb cb;
    void *data;
    struct check_slot *slots;
    size_t n_slots;
    /* Slots by due time, a 4-ary min-heap (ties: slot order), driven by one
     * timer armed for the earliest.  Room for two entries per slot: one live,
     * and stale ones, dropped all at once when the room is full. */
    struct heap_entry *heap;
    size_t n_heap;
    size_t heap_cap;
    uv_timer_t timer;
    bool in_tick;            /* on_tick re-arms once when it is done */
    struct check_slot *queue_head, *queue_tail;
    struct tocsin_sched_stats stats;
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
    return c->failing ? c->retry_interval_ms : c->interval_ms;
}

/* ---- the heap of due times ---- */

static size_t parent_of(size_t pos)
{
    return (pos - 1) / HEAP_ARITY;
}

static bool earlier(const struct heap_entry *a, const struct heap_entry *b)
{
    return a->due < b->due || (a->due == b->due && a->slot < b->slot);
}

static bool is_live(const struct tocsin_sched *s, const struct heap_entry *e)
{
    const struct check_slot *c = &s->slots[e->slot];

    return c->planned && c->plan == e->plan;
}

static void sift_up(struct tocsin_sched *s, size_t pos)
{
    struct heap_entry e = s->heap[pos];

    while (pos > 0 && earlier(&e, &s->heap[parent_of(pos)])) {
        s->heap[pos] = s->heap[parent_of(pos)];
        pos = parent_of(pos);
    }
    s->heap[pos] = e;
}

static void sift_down(struct tocsin_sched *s, size_t pos)
{
    struct heap_entry e = s->heap[pos];

    for (;;) {
        size_t first = HEAP_ARITY * pos + 1, end, best;

        if (first >= s->n_heap)
            break;
        end = s->n_heap - first < HEAP_ARITY ? s->n_heap : first + HEAP_ARITY;
        best = first;
        for (size_t i = first + 1; i < end; i++)
            if (earlier(&s->heap[i], &s->heap[best]))
                best = i;
        if (!earlier(&s->heap[best], &e))
            break;
        s->heap[pos] = s->heap[best];
        pos = best;
    }
    s->heap[pos] = e;
}

static void heapify(struct tocsin_sched *s)
{
    /* Every inner node, the last first: up to the last entry's parent. */
    for (size_t i = s->n_heap > 1 ? parent_of(s->n_heap - 1) + 1 : 0; i-- > 0;)
        sift_down(s, i);
}

static void pop_top(struct tocsin_sched *s)
{
    s->heap[0] = s->heap[--s->n_heap]; /* the last one fills the hole */
    sift_down(s, 0);
}

/* The room is full: keeps the live entries (one per planned slot, at most
 * n_slots: half the room) and orders them again, in O(n). */
static void drop_stale(struct tocsin_sched *s)
{
    size_t kept = 0;

    for (size_t i = 0; i < s->n_heap; i++)
        if (is_live(s, &s->heap[i]))
            s->heap[kept++] = s->heap[i];
    s->n_heap = kept;
    heapify(s);
}

static void on_tick(uv_timer_t *timer);

/* Arms the one timer for the earliest due slot, unless it already is. */
static void arm_timer(struct tocsin_sched *s)
{
    uint64_t now = uv_now(s->timer.loop), due, in;

    if (s->in_tick || s->closing)
        return;
    if (s->n_heap == 0) {
        uv_timer_stop(&s->timer);
        return;
    }
    due = s->heap[0].due;
    in = due > now ? due - now : 0;
    if (!uv_is_active((uv_handle_t *)&s->timer) || uv_timer_get_due_in(&s->timer) != in)
        uv_timer_start(&s->timer, on_tick, in, 0);
}

/* Plans C for DUE (milliseconds, uv_now's clock); a plan it had goes stale. */
static void plan(struct check_slot *c, uint64_t due)
{
    struct tocsin_sched *s = c->sched;
    uint32_t slot = (uint32_t)(c - s->slots);

    if (s->n_heap == s->heap_cap)
        drop_stale(s);
    c->planned = true;
    c->plan++;
    s->heap[s->n_heap++] = (struct heap_entry){.due = due, .slot = slot, .plan = c->plan};
    sift_up(s, s->n_heap - 1);
    arm_timer(s);
}

/* Next due = FROM + interval; slots already missed are skipped, never burst.
 * COUNT_MISSED is false when the passed due times fell while this slot's
 * instance was queued or running: on_due already counted them as overlaps. */
static void arm_next(struct check_slot *c, uint64_t from, bool count_missed)
{
    uint64_t now = uv_now(c->sched->timer.loop);
    uint64_t interval = slot_interval(c);
    uint64_t due = from + interval;

    if (due <= now) {
        uint64_t missed = (now - due) / interval + 1;
        due += missed * interval;
        if (count_missed)
            c->sched->stats.skipped_slots += missed;
    }
    plan(c, due);
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
    const struct tocsin_probe_kind *kind;
    struct tocsin_result failed = {.status = TOCSIN_STATUS_DOWN};
    size_t region;
    int rc;

    tocsin_prefetch(m, sizeof(*m)); /* a plain GET reads five of its six lines */
    kind = tocsin_probe_kind_of(m->type);
    region = m->regions[c->region_slot];
    failed.region = region;

    record_lateness(s, c->run_due, uv_now(s->timer.loop));
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
    tocsin_result_stamp(&failed);
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

/* C's run due at DUE: started, queued, or skipped as an overlap; then planned. */
static void on_due(struct check_slot *c, uint64_t due)
{
    struct tocsin_sched *s = c->sched;

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
    if (!c->planned)
        arm_next(c, due, true);
}

/* Runs every slot that is due (each is planned again, strictly later than
 * now, so this ends), then arms the timer once.  A stale entry is dropped:
 * at worst it woke the loop early once. */
static void on_tick(uv_timer_t *timer)
{
    struct tocsin_sched *s = timer->data;
    uint64_t now = uv_now(timer->loop);

    s->in_tick = true;
    while (!s->closing && s->n_heap > 0 && s->heap[0].due <= now) {
        struct heap_entry top = s->heap[0];
        struct check_slot *c = &s->slots[top.slot];

        pop_top(s);
        if (!is_live(s, &top))
            continue;
        c->planned = false;
        on_due(c, top.due);
    }
    s->in_tick = false;
    arm_timer(s);
}

int tocsin_sched_new(const struct tocsin_probe_env *env, int max_concurrency,
                     tocsin_sched_result_cb cb, void *data, struct tocsin_sched **out)
{
    const struct tocsin_config *config = env->config;
    struct tocsin_sched *s = calloc(1, sizeof(*s));
    size_t n = 0, k = 0, cap;

    if (s == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < config->n_monitors; i++)
        n += config->monitors[i].n_regions;
    cap = n ? n : 1;
    s->slots = aligned_alloc(SLOT_ALIGN, cap * sizeof(*s->slots));
    /* Pages of the room's second half are touched only once entries go stale. */
    s->heap = calloc(2 * cap, sizeof(*s->heap));
    if (s->slots == NULL || s->heap == NULL || n >= UINT32_MAX) {
        free(s->slots);
        free(s->heap);
        free(s);
        return -ENOMEM;
    }
    memset(s->slots, 0, cap * sizeof(*s->slots));
    s->env = *env;
    s->max_concurrency = max_concurrency > 0 ? (size_t)max_concurrency : 1;
    s->cb = cb;
    s->data = data;
    s->n_slots = n;
    s->heap_cap = 2 * cap;
    for (size_t i = 0; i < config->n_monitors; i++) {
        for (size_t r = 0; r < config->monitors[i].n_regions; r++, k++) {
            struct check_slot *c = &s->slots[k];
            c->sched = s;
            c->interval_ms = config->monitors[i].interval_ms;
            c->retry_interval_ms = config->monitors[i].retry_interval_ms;
            c->monitor = (uint32_t)i;
            c->region_slot = (uint16_t)r;
        }
    }
    uv_timer_init(env->loop, &s->timer);
    s->timer.data = s;
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
    return h % c->interval_ms;
}

void tocsin_sched_start(struct tocsin_sched *s)
{
    uint64_t now = uv_now(s->timer.loop);

    /* Every slot at once: heapify in O(n) instead of n pushes. */
    for (size_t i = 0; i < s->n_slots; i++) {
        struct check_slot *c = &s->slots[i];
        c->planned = true;
        s->heap[i] = (struct heap_entry){
            .due = now + first_offset(c), .slot = (uint32_t)i, .plan = c->plan};
    }
    s->n_heap = s->n_slots;
    heapify(s);
    arm_timer(s);
}

void tocsin_sched_run_now(struct tocsin_sched *s, size_t monitor)
{
    for (size_t i = 0; i < s->n_slots && !s->closing; i++) {
        struct check_slot *c = &s->slots[i];
        if (c->monitor != monitor || c->running || c->queued)
            continue;
        /* Due now: on_due runs it and plans the next run one interval later
         * (its planned entry goes stale). */
        c->planned = false;
        on_due(c, uv_now(s->timer.loop));
    }
    arm_timer(s);
}

void tocsin_sched_stats(const struct tocsin_sched *s, struct tocsin_sched_stats *out)
{
    *out = s->stats;
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct tocsin_sched *s = handle->data;

    if (s->on_closed)
        s->on_closed(s->on_closed_data);
    free(s->slots);
    free(s->heap);
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
    }
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
