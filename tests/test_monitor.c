/* src/monitor.c as a pure table (DESIGN §4): each case is a policy, a region set
 * with a quorum, and a sequence of check results; after every step the test
 * compares the alerts emitted (in order) and the monitor status with the table.
 *
 * The configuration is built in C, never loaded: this test is about the state
 * machine, not the decoder.  The monitor's region slots map onto configuration
 * regions in a permuted order ({2, 0, 1}) so a mix-up of "slot" and "region
 * index" shows up as a wrong region name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tocsin/monitor.h"

/* Webhooks of every case: two that want everything, one that only wants
 * incidents, one that only wants recoveries. */
enum { WH_A, WH_B, WH_INC_ONLY, WH_REC_ONLY, N_WEBHOOKS };

#define UNK TOCSIN_STATUS_UNKNOWN
#define UP TOCSIN_STATUS_UP
#define DOWN TOCSIN_STATUS_DOWN

#define MAX_LEVELS 3
#define MAX_NOTIFY 4
#define MAX_ALERTS 8
#define MAX_STEPS 24

struct want_alert {
    enum tocsin_notification type;
    size_t webhook;
    int level;
    int failures;                 /* consecutive_failures */
    enum tocsin_status previous;  /* previous_status */
    size_t slot;                  /* region slot of check_result */
};

struct step {
    unsigned degraded;            /* bit k: the region of slot k is degraded (prober guard) */
    size_t slot;                  /* region slot the result comes from */
    enum tocsin_status result;    /* UP or DOWN */
    int status_code;
    enum tocsin_status expect;    /* monitor status after the step */
    struct want_alert alerts[MAX_ALERTS + 1]; /* [0] unused: see STEP */
    size_t n_alerts;
};

struct level_spec {
    int level;
    int after;
    uint64_t repeat_ms;
    size_t notify[MAX_NOTIFY];
    size_t n_notify;
};

struct monitor_case {
    const char *name;
    int failure_threshold;
    int success_threshold;
    struct level_spec levels[MAX_LEVELS];
    size_t n_levels;
    size_t n_regions;
    int quorum;
    struct step steps[MAX_STEPS];
    size_t n_steps;
};

/* Counts a braced list given as macro arguments. */
#define COUNT_OF(type, ...) (sizeof((type[]){__VA_ARGS__}) / sizeof(type))

#define LEVEL(lvl, aft, ...)                                                                     \
    {.level = (lvl), .after = (aft), .notify = {__VA_ARGS__},                                   \
     .n_notify = COUNT_OF(size_t, __VA_ARGS__)}
/* A level that repeats every REP_MS; steps are one second apart. */
#define LEVEL_REPEAT(lvl, aft, rep_ms, ...)                                                      \
    {.level = (lvl), .after = (aft), .repeat_ms = (rep_ms), .notify = {__VA_ARGS__},            \
     .n_notify = COUNT_OF(size_t, __VA_ARGS__)}
#define LEVELS(...) .levels = {__VA_ARGS__}, .n_levels = COUNT_OF(struct level_spec, __VA_ARGS__)
#define STEPS(...) .steps = {__VA_ARGS__}, .n_steps = COUNT_OF(struct step, __VA_ARGS__)

/* One step: a result from SLOT, the status expected after it, the alerts
 * expected from it (none when the list is empty).  The alerts array starts
 * with an unused element so that an empty list is still a valid C11
 * initializer; the expected alerts are alerts[1..n_alerts]. */
#define STEP(sl, res, code, exp, ...) DSTEP(0, sl, res, code, exp, __VA_ARGS__)
/* A step while the regions of the slots in MASK are degraded. */
#define DSTEP(mask, sl, res, code, exp, ...)                                                     \
    {.degraded = (mask), .slot = (sl), .result = (res), .status_code = (code), .expect = (exp), \
     .alerts = {{0}, __VA_ARGS__},                                                              \
     .n_alerts = sizeof((struct want_alert[]){{0}, __VA_ARGS__}) / sizeof(struct want_alert) - 1}
#define FAIL(sl, exp, ...) STEP(sl, DOWN, 503, exp, __VA_ARGS__)
#define OK(sl, exp, ...) STEP(sl, UP, 200, exp, __VA_ARGS__)
#define DFAIL(mask, sl, exp, ...) DSTEP(mask, sl, DOWN, 503, exp, __VA_ARGS__)
#define DOK(mask, sl, exp, ...) DSTEP(mask, sl, UP, 200, exp, __VA_ARGS__)

#define INCIDENT(wh, lvl, fails, prev, sl)                                                       \
    {.type = TOCSIN_NOTIFY_INCIDENT, .webhook = (wh), .level = (lvl), .failures = (fails),      \
     .previous = (prev), .slot = (sl)}
/* A recovery's previous_status is always DOWN. */
#define RECOVERY(wh, lvl, fails, sl)                                                             \
    {.type = TOCSIN_NOTIFY_RECOVERY, .webhook = (wh), .level = (lvl), .failures = (fails),      \
     .previous = DOWN, .slot = (sl)}

static const struct monitor_case cases[] = {
    {
        /* Prober guard: the degraded region's results are ignored (its
         * counters freeze) and the quorum counts the two others. */
        .name = "degraded region frozen, quorum over the rest",
        .failure_threshold = 2, .success_threshold = 1, .n_regions = 3, .quorum = 2,
        LEVELS(LEVEL(1, 2, WH_A)),
        STEPS(DFAIL(0x2, 1, UNK),
              DFAIL(0x2, 1, UNK),
              DFAIL(0x2, 0, UNK),
              DFAIL(0x2, 2, UNK),
              DFAIL(0x2, 0, UNK),
              DFAIL(0x2, 2, DOWN, INCIDENT(WH_A, 1, 2, UNK, 2)),
              DOK(0x2, 0, UP, RECOVERY(WH_A, 1, 0, 0))),
    },
    {
        /* Every region degraded: nothing is decided; counting resumes from
         * the frozen counters once the guard lifts. */
        .name = "all regions degraded",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A)),
        STEPS(FAIL(0, UNK),
              DFAIL(0x1, 0, UNK),
              DFAIL(0x1, 0, UNK),
              DFAIL(0x1, 0, UNK),
              FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UNK, 0))),
    },
    {
        /* A quorum larger than the regions left counts all of them. */
        .name = "quorum clamped to the regions left",
        .failure_threshold = 2, .success_threshold = 1, .n_regions = 2, .quorum = 2,
        LEVELS(LEVEL(1, 2, WH_A)),
        STEPS(DFAIL(0x2, 0, UNK),
              DFAIL(0x2, 0, DOWN, INCIDENT(WH_A, 1, 2, UNK, 0)),
              /* Back to 2 regions, quorum 2: one region's success is enough. */
              OK(1, UP, RECOVERY(WH_A, 1, 0, 1)),
              OK(0, UP)),
    },
    {
        /* The default policy shape: incident exactly at the 3rd failure, never
         * again while DOWN, recovery at the first success; a second incident
         * starts from UP and fires its level again. */
        .name = "threshold 3",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A)),
        STEPS(FAIL(0, UNK),
              FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UNK, 0)),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              OK(0, UP, RECOVERY(WH_A, 1, 0, 0)),
              OK(0, UP),
              FAIL(0, UP),
              FAIL(0, UP),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UP, 0)),
              OK(0, UP, RECOVERY(WH_A, 1, 0, 0))),
    },
    {
        /* UNKNOWN -> UP is not an incident's end: nothing is sent. */
        .name = "unknown to up is silent",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A, WH_B)),
        STEPS(OK(0, UP),
              FAIL(0, UP),
              FAIL(0, UP),
              OK(0, UP),
              FAIL(0, UP),
              FAIL(0, UP),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UP, 0), INCIDENT(WH_B, 1, 3, UP, 0))),
    },
    {
        /* Flapping below the threshold: the counter restarts at every success. */
        .name = "flapping below threshold",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A)),
        STEPS(FAIL(0, UNK), FAIL(0, UNK), OK(0, UP),
              FAIL(0, UP), FAIL(0, UP), OK(0, UP),
              FAIL(0, UP), FAIL(0, UP), OK(0, UP),
              FAIL(0, UP), OK(0, UP), FAIL(0, UP), FAIL(0, UP), OK(0, UP)),
    },
    {
        /* success_threshold 2: one success does not recover, a failure in
         * between restarts the count, and climbing back to 3 failures inside the
         * same incident is not a second incident. */
        .name = "success threshold 2",
        .failure_threshold = 3, .success_threshold = 2, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A)),
        STEPS(FAIL(0, UNK),
              FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UNK, 0)),
              OK(0, DOWN),
              FAIL(0, DOWN),
              OK(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              OK(0, DOWN),
              OK(0, UP, RECOVERY(WH_A, 1, 0, 0))),
    },
    {
        /* Escalation: level 1 to A at 2, level 2 to A and B at 4; the recovery
         * carries each webhook's highest level sent (2 for both). */
        .name = "levels",
        .failure_threshold = 2, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 2, WH_A), LEVEL(2, 4, WH_A, WH_B)),
        STEPS(FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 2, UNK, 0)),
              FAIL(0, DOWN),
              FAIL(0, DOWN, INCIDENT(WH_A, 2, 4, UNK, 0), INCIDENT(WH_B, 2, 4, UNK, 0)),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              OK(0, UP, RECOVERY(WH_A, 2, 0, 0), RECOVERY(WH_B, 2, 0, 0))),
    },
    {
        /* Only B is on level 2: A's recovery says 1, B's says 2. */
        .name = "recovery level per webhook",
        .failure_threshold = 2, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 2, WH_A), LEVEL(2, 3, WH_B)),
        STEPS(FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 2, UNK, 0)),
              FAIL(0, DOWN, INCIDENT(WH_B, 2, 3, UNK, 0)),
              OK(0, UP, RECOVERY(WH_A, 1, 0, 0), RECOVERY(WH_B, 2, 0, 0))),
    },
    {
        /* The counter falls (a success that does not recover, success_threshold
         * 2) and rises again: level 1 never fires twice in one incident, level 2
         * fires when the counter reaches 4 afresh.  After the recovery a new
         * incident starts from level 1 again. */
        .name = "level never twice in one incident",
        .failure_threshold = 2, .success_threshold = 2, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 2, WH_A), LEVEL(2, 4, WH_A, WH_B)),
        STEPS(FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 2, UNK, 0)),
              FAIL(0, DOWN),
              OK(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN, INCIDENT(WH_A, 2, 4, UNK, 0), INCIDENT(WH_B, 2, 4, UNK, 0)),
              OK(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              FAIL(0, DOWN),
              OK(0, DOWN),
              OK(0, UP, RECOVERY(WH_A, 2, 0, 0), RECOVERY(WH_B, 2, 0, 0)),
              FAIL(0, UP),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 2, UP, 0))),
    },
    {
        /* events filtering: the incident-only webhook gets the incident and no
         * recovery; the recovery-only webhook was never sent the incident, so
         * it gets nothing (DESIGN §4: recovery goes to every webhook that was
         * sent the incident and wants recoveries). */
        .name = "webhook events filter",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A, WH_INC_ONLY, WH_REC_ONLY)),
        STEPS(FAIL(0, UNK),
              FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UNK, 0), INCIDENT(WH_INC_ONLY, 1, 3, UNK, 0)),
              OK(0, UP, RECOVERY(WH_A, 1, 0, 0))),
    },
    {
        /* Two webhooks on level 1: both get the incident and the recovery. */
        .name = "two webhooks level 1",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A, WH_B)),
        STEPS(FAIL(0, UNK),
              FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UNK, 0), INCIDENT(WH_B, 1, 3, UNK, 0)),
              FAIL(0, DOWN),
              OK(0, UP, RECOVERY(WH_A, 1, 0, 0), RECOVERY(WH_B, 1, 0, 0))),
    },
    {
        /* DOWN before the first level's `after`: no incident was sent, so the
         * recovery is silent too. */
        .name = "down below first level",
        .failure_threshold = 2, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A)),
        STEPS(FAIL(0, UNK),
              FAIL(0, DOWN),
              OK(0, UP),
              FAIL(0, UP),
              FAIL(0, DOWN),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UP, 0)),
              OK(0, UP, RECOVERY(WH_A, 1, 0, 0))),
    },
    {
        /* Quorum 1 of 3: UP needs all 3 regions (3 - 1 + 1) with a success, so
         * the first two successes leave it UNKNOWN.  One region failing 3 times
         * is an incident whose check_result is that region's; the recovery is
         * the success that completes it. */
        .name = "quorum 1 of 3",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 3, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A)),
        STEPS(OK(0, UNK),
              OK(1, UNK),
              OK(2, UP),
              FAIL(1, UP),
              OK(0, UP),
              FAIL(1, UP),
              OK(2, UP),
              FAIL(1, DOWN, INCIDENT(WH_A, 1, 3, UP, 1)),
              OK(0, DOWN),
              OK(1, UP, RECOVERY(WH_A, 1, 0, 1))),
    },
    {
        /* Quorum 1 of 3 from UNKNOWN: recovery waits for every region. */
        .name = "quorum 1 of 3 recovery needs all regions",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 3, .quorum = 1,
        LEVELS(LEVEL(1, 3, WH_A)),
        STEPS(FAIL(0, UNK),
              FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UNK, 0)),
              OK(0, DOWN),
              OK(1, DOWN),
              OK(2, UP, RECOVERY(WH_A, 1, 0, 2))),
    },
    {
        /* Quorum 2 of 3: one region failing alone is silent however long; the
         * incident comes when a second region reaches 3 (its check is the
         * check_result, counted 3 = the 2nd largest counter); recovery needs
         * 3 - 2 + 1 = 2 regions with a success. */
        .name = "quorum 2 of 3",
        .failure_threshold = 3, .success_threshold = 1, .n_regions = 3, .quorum = 2,
        LEVELS(LEVEL(1, 3, WH_A), LEVEL(2, 5, WH_A)),
        STEPS(OK(0, UNK),
              OK(1, UP),
              OK(2, UP),
              FAIL(0, UP),
              FAIL(0, UP),
              FAIL(0, UP),
              FAIL(0, UP),
              FAIL(0, UP),
              FAIL(1, UP),
              FAIL(1, UP),
              FAIL(1, DOWN, INCIDENT(WH_A, 1, 3, UP, 1)),
              FAIL(2, DOWN),
              FAIL(0, DOWN),
              FAIL(1, DOWN),
              FAIL(1, DOWN, INCIDENT(WH_A, 2, 5, UP, 1)),
              OK(0, DOWN),
              OK(2, UP, RECOVERY(WH_A, 2, 0, 2))),
    },
    {
        /* Quorum 2 of 3 with success_threshold 2: two regions need two
         * successes each; the third region still failing does not hold it. */
        .name = "quorum 2 of 3, success threshold 2",
        .failure_threshold = 3, .success_threshold = 2, .n_regions = 3, .quorum = 2,
        LEVELS(LEVEL(1, 3, WH_A, WH_B)),
        STEPS(FAIL(0, UNK),
              FAIL(2, UNK),
              FAIL(0, UNK),
              FAIL(2, UNK),
              FAIL(0, UNK),
              FAIL(2, DOWN, INCIDENT(WH_A, 1, 3, UNK, 2), INCIDENT(WH_B, 1, 3, UNK, 2)),
              OK(0, DOWN),
              OK(1, DOWN),
              OK(0, DOWN),
              FAIL(2, DOWN),
              OK(1, UP, RECOVERY(WH_A, 1, 0, 1), RECOVERY(WH_B, 1, 0, 1))),
    },
    {
        /* repeat: the highest level reached goes out again every period while
         * DOWN (steps are 1 s apart), never a lower one, and not in the same
         * step it first fired; the recovery carries the highest level. */
        .name = "repeat of the highest level",
        .failure_threshold = 2, .success_threshold = 1, .n_regions = 1, .quorum = 1,
        LEVELS(LEVEL_REPEAT(1, 2, 1000, WH_A), LEVEL_REPEAT(2, 4, 2000, WH_A, WH_B)),
        STEPS(FAIL(0, UNK),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 2, UNK, 0)),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 3, UNK, 0)),
              FAIL(0, DOWN, INCIDENT(WH_A, 2, 4, UNK, 0), INCIDENT(WH_B, 2, 4, UNK, 0)),
              FAIL(0, DOWN),
              FAIL(0, DOWN, INCIDENT(WH_A, 2, 6, UNK, 0), INCIDENT(WH_B, 2, 6, UNK, 0)),
              OK(0, UP, RECOVERY(WH_A, 2, 0, 0), RECOVERY(WH_B, 2, 0, 0)),
              FAIL(0, UP),
              FAIL(0, DOWN, INCIDENT(WH_A, 1, 2, UP, 0))),
    },
};

/* ---- the driver ---- */

static struct tocsin_region_conf regions[] = {{.name = "eu"}, {.name = "us"}, {.name = "ap"}};
/* Slot i of every monitor is configuration region slot_region[i]. */
static size_t slot_region[] = {2, 0, 1};

static struct tocsin_webhook_conf webhooks[N_WEBHOOKS] = {
    [WH_A] = {.name = "a", .events = TOCSIN_EVENT_INCIDENT | TOCSIN_EVENT_RECOVERY},
    [WH_B] = {.name = "b", .events = TOCSIN_EVENT_INCIDENT | TOCSIN_EVENT_RECOVERY},
    [WH_INC_ONLY] = {.name = "inc", .events = TOCSIN_EVENT_INCIDENT},
    [WH_REC_ONLY] = {.name = "rec", .events = TOCSIN_EVENT_RECOVERY},
};

struct recorder {
    struct tocsin_alert alerts[MAX_ALERTS];
    size_t n;
    size_t overflow;
};

static void record(void *data, const struct tocsin_alert *alert)
{
    struct recorder *r = data;

    if (r->n < MAX_ALERTS)
        r->alerts[r->n++] = *alert;
    else
        r->overflow++;
}

/* Fails with the case name and the 1-based step number. */
#define EXPECT(cond, ...)                                                                        \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            char msg_[256];                                                                      \
            snprintf(msg_, sizeof(msg_), __VA_ARGS__);                                           \
            fail_msg("case \"%s\", step %zu: %s", mc->name, i + 1, msg_);                        \
        }                                                                                        \
    } while (0)

static const char *type_name(enum tocsin_notification t)
{
    return t == TOCSIN_NOTIFY_INCIDENT ? "incident" : "recovery";
}

static void run_case(void **state)
{
    const struct monitor_case *mc = *state;
    struct tocsin_level_conf levels[MAX_LEVELS];
    size_t notify[MAX_LEVELS][MAX_NOTIFY];
    struct tocsin_policy_conf policy = {
        .name = "p",
        .failure_threshold = mc->failure_threshold,
        .success_threshold = mc->success_threshold,
        .levels = levels,
        .n_levels = mc->n_levels,
    };
    struct tocsin_monitor_conf monitor = {
        .id = "api",
        .name = "API",
        .type = TOCSIN_PROBE_HTTP,
        .url = "http://127.0.0.1/",
        .interval_ms = 60000,
        .timeout_ms = 10000,
        .retry_interval_ms = 60000,
        .policy = 0,
        .regions = slot_region,
        .n_regions = mc->n_regions,
        .quorum = mc->quorum,
    };
    struct tocsin_config config = {
        .regions = regions,
        .n_regions = 3,
        .webhooks = webhooks,
        .n_webhooks = N_WEBHOOKS,
        .policies = &policy,
        .n_policies = 1,
        .monitors = &monitor,
        .n_monitors = 1,
    };
    struct tocsin_monitor_state s;
    size_t i = 0;

    for (size_t l = 0; l < mc->n_levels; l++) {
        memcpy(notify[l], mc->levels[l].notify, sizeof(notify[l]));
        levels[l] = (struct tocsin_level_conf){
            .level = mc->levels[l].level,
            .after = mc->levels[l].after,
            .repeat_ms = mc->levels[l].repeat_ms,
            .notify = notify[l],
            .n_notify = mc->levels[l].n_notify,
        };
    }
    assert_int_equal(tocsin_monitor_state_init(&s, &config, &monitor), 0);
    EXPECT(s.status == UNK, "a new monitor is %s, not UNKNOWN", tocsin_status_name(s.status));

    for (i = 0; i < mc->n_steps; i++) {
        const struct step *st = &mc->steps[i];
        struct recorder rec = {.n = 0};
        struct tocsin_result result = {
            .status = st->result,
            .status_code = st->status_code,
            .response_time_ms = 12,
            .timings = {-1, 1, -1, 5, 12},
            /* Tags the check so the alert's check_result can be traced to it. */
            .timestamp = 1700000000 + (int64_t)i,
            .region = slot_region[st->slot],
        };
        bool degraded[3] = {false, false, false};
        if (st->result == DOWN)
            tocsin_result_fail(&result, TOCSIN_ERR_STATUS, "expected status 200-299, got %d",
                               st->status_code);
        for (size_t k = 0; k < mc->n_regions; k++)
            degraded[slot_region[k]] = (st->degraded >> k) & 1u;
        s.degraded = degraded;

        tocsin_monitor_feed(&s, &config, &monitor, st->slot, &result, record, &rec);
        s.degraded = NULL;

        EXPECT(rec.overflow == 0, "more than %d alerts", MAX_ALERTS);
        for (size_t a = 0; a < rec.n || a < st->n_alerts; a++) {
            const struct tocsin_alert *got = &rec.alerts[a];
            const struct want_alert *want = &st->alerts[a + 1];
            EXPECT(a < rec.n, "alert %zu missing: %s to webhook %zu level %d (got %zu alerts)",
                   a + 1, type_name(want->type), want->webhook, want->level, rec.n);
            EXPECT(a < st->n_alerts, "unexpected alert %zu: %s to webhook %zu level %d", a + 1,
                   type_name(got->type), got->webhook, got->notification_level);
            EXPECT(got->type == want->type, "alert %zu: %s, want %s", a + 1, type_name(got->type),
                   type_name(want->type));
            EXPECT(got->webhook == want->webhook, "alert %zu: webhook %zu, want %zu", a + 1,
                   got->webhook, want->webhook);
            EXPECT(got->notification_level == want->level,
                   "alert %zu (webhook %zu): notification_level %d, want %d", a + 1, got->webhook,
                   got->notification_level, want->level);
            EXPECT(got->consecutive_failures == want->failures,
                   "alert %zu (webhook %zu): consecutive_failures %d, want %d", a + 1,
                   got->webhook, got->consecutive_failures, want->failures);
            EXPECT(got->previous_status == want->previous,
                   "alert %zu (webhook %zu): previous_status %s, want %s", a + 1, got->webhook,
                   tocsin_status_name(got->previous_status), tocsin_status_name(want->previous));
            EXPECT(got->monitor_status == (want->type == TOCSIN_NOTIFY_INCIDENT ? DOWN : UP),
                   "alert %zu (webhook %zu): monitor status %s", a + 1, got->webhook,
                   tocsin_status_name(got->monitor_status));
            EXPECT(got->monitor == &monitor, "alert %zu: wrong monitor pointer", a + 1);
            /* check_result is the check that caused the alert: this very step's. */
            EXPECT(got->check_result.timestamp == result.timestamp &&
                       got->check_result.status == result.status &&
                       got->check_result.status_code == result.status_code,
                   "alert %zu: check_result is not this step's check", a + 1);
            EXPECT(got->check_result.region == slot_region[want->slot],
                   "alert %zu: check_result region index %zu, want %zu (slot %zu)", a + 1,
                   got->check_result.region, slot_region[want->slot], want->slot);
            EXPECT(got->region != NULL && strcmp(got->region, regions[slot_region[want->slot]].name) == 0,
                   "alert %zu: region \"%s\", want \"%s\"", a + 1,
                   got->region ? got->region : "(null)", regions[slot_region[want->slot]].name);
        }
        EXPECT(s.status == st->expect, "monitor is %s, want %s", tocsin_status_name(s.status),
               tocsin_status_name(st->expect));
    }
    tocsin_monitor_state_free(&s);
}

/* A result from a slot the monitor does not have is ignored, not a crash. */
static void test_slot_out_of_range(void **state)
{
    struct tocsin_level_conf level = {.level = 1, .after = 1, .notify = (size_t[]){WH_A},
                                      .n_notify = 1};
    struct tocsin_policy_conf policy = {.failure_threshold = 1, .success_threshold = 1,
                                        .levels = &level, .n_levels = 1};
    struct tocsin_monitor_conf monitor = {.id = "x", .regions = slot_region, .n_regions = 1,
                                          .quorum = 1};
    struct tocsin_config config = {.regions = regions, .n_regions = 3, .webhooks = webhooks,
                                   .n_webhooks = N_WEBHOOKS, .policies = &policy,
                                   .n_policies = 1, .monitors = &monitor, .n_monitors = 1};
    struct tocsin_result down = {.status = DOWN, .region = 0};
    struct tocsin_monitor_state s;
    struct recorder rec = {.n = 0};

    (void)state;
    assert_int_equal(tocsin_monitor_state_init(&s, &config, &monitor), 0);
    tocsin_monitor_feed(&s, &config, &monitor, 1, &down, record, &rec);
    assert_int_equal(rec.n, 0);
    assert_int_equal(s.status, UNK);
    tocsin_monitor_feed(&s, &config, &monitor, 0, &down, record, &rec);
    assert_int_equal(rec.n, 1);
    assert_int_equal(s.status, DOWN);
    tocsin_monitor_state_free(&s);
}

/* The counters live inside the state while they fit (a region, four
 * webhooks: 6 of 8), in a block of their own past that (three regions: 10);
 * both count alike and free cleanly (valgrind runs this suite). */
static void test_counters_inline_or_allocated(void **state)
{
    struct tocsin_policy_conf policy = {.failure_threshold = 1, .success_threshold = 1};
    struct tocsin_monitor_conf monitor = {.id = "x", .regions = slot_region, .quorum = 1};
    struct tocsin_config config = {.regions = regions, .n_regions = 3, .webhooks = webhooks,
                                   .n_webhooks = N_WEBHOOKS, .policies = &policy,
                                   .n_policies = 1, .monitors = &monitor, .n_monitors = 1};
    struct tocsin_result down = {.status = DOWN, .region = 0};

    (void)state;
    for (size_t n = 1; n <= 3; n += 2) {
        struct tocsin_monitor_state s;
        struct recorder rec = {.n = 0};

        monitor.n_regions = n;
        assert_int_equal(tocsin_monitor_state_init(&s, &config, &monitor), 0);
        if (n == 1)
            assert_ptr_equal(s.region_failures, s.counts);
        else
            assert_ptr_not_equal(s.region_failures, s.counts);
        assert_ptr_equal(s.region_successes, s.region_failures + n);
        assert_ptr_equal(s.webhook_level, s.region_successes + n);
        tocsin_monitor_feed(&s, &config, &monitor, n - 1, &down, record, &rec);
        assert_int_equal(s.region_failures[n - 1], 1);
        assert_int_equal(s.region_successes[n - 1], 0);
        assert_int_equal(s.webhook_level[N_WEBHOOKS - 1], 0);
        tocsin_monitor_state_free(&s);
    }
}

/* repeat counts milliseconds of the checks' clock, not whole seconds: a level
 * sent at 10.8 s with repeat 2s goes again at the first check from 12.8 s. */
static void test_repeat_in_ms(void **state)
{
    struct tocsin_level_conf level = {.level = 1, .after = 1, .notify = (size_t[]){WH_A},
                                      .n_notify = 1, .repeat_ms = 2000};
    struct tocsin_policy_conf policy = {.failure_threshold = 1, .success_threshold = 1,
                                        .levels = &level, .n_levels = 1};
    struct tocsin_monitor_conf monitor = {.id = "x", .regions = slot_region, .n_regions = 1,
                                          .quorum = 1};
    struct tocsin_config config = {.regions = regions, .n_regions = 3, .webhooks = webhooks,
                                   .n_webhooks = N_WEBHOOKS, .policies = &policy,
                                   .n_policies = 1, .monitors = &monitor, .n_monitors = 1};
    static const int64_t at_ms[] = {10800, 11000, 12000, 12600, 12799, 12800, 14000, 14800};
    static const size_t alerts_after[] = {1, 1, 1, 1, 1, 2, 2, 3};
    struct tocsin_monitor_state s;
    struct recorder rec = {.n = 0};

    (void)state;
    assert_int_equal(tocsin_monitor_state_init(&s, &config, &monitor), 0);
    for (size_t i = 0; i < sizeof(at_ms) / sizeof(*at_ms); i++) {
        struct tocsin_result down = {.status = DOWN, .region = slot_region[0],
                                     .timestamp = at_ms[i] / 1000, .timestamp_ms = at_ms[i]};
        tocsin_monitor_feed(&s, &config, &monitor, 0, &down, record, &rec);
        if (rec.n != alerts_after[i])
            fail_msg("check at %lld ms: %zu alerts, want %zu", (long long)at_ms[i], rec.n,
                     alerts_after[i]);
    }
    tocsin_monitor_state_free(&s);
}

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

int main(void)
{
    struct CMUnitTest tests[N_CASES + 3];

    for (size_t c = 0; c < N_CASES; c++)
        tests[c] = (struct CMUnitTest){
            .name = cases[c].name,
            .test_func = run_case,
            /* cmocka's state is a void *; the case is only read. */
            .initial_state = (void *)(uintptr_t)&cases[c],
        };
    tests[N_CASES] = (struct CMUnitTest){.name = "slot out of range",
                                         .test_func = test_slot_out_of_range};
    tests[N_CASES + 1] = (struct CMUnitTest){.name = "repeat in ms",
                                             .test_func = test_repeat_in_ms};
    tests[N_CASES + 2] = (struct CMUnitTest){.name = "counters inline or allocated",
                                             .test_func = test_counters_inline_or_allocated};
    return _cmocka_run_group_tests("monitor", tests, N_CASES + 3, NULL, NULL);
}
