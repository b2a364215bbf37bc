/* The monitor state machine: per-region counters, quorum, UP/DOWN transitions
 * and notification levels (DESIGN §4).  No I/O: results in, alerts out. */
#include "tocsin/monitor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct tocsin_monitor_state) == 2 * TOCSIN_STATE_ALIGN,
               "two cache lines (monitor.h)");

int tocsin_monitor_state_init(struct tocsin_monitor_state *s, const struct tocsin_config *config,
                              const struct tocsin_monitor_conf *monitor)
{
    size_t n_counts = 2 * monitor->n_regions + config->n_webhooks;

    memset(s, 0, sizeof(*s));
    s->status = TOCSIN_STATUS_UNKNOWN;
    s->incident_previous = TOCSIN_STATUS_UNKNOWN;
    s->n_regions = monitor->n_regions;
    s->n_webhooks = config->n_webhooks;
    /* One block for the three arrays, inside the state when it fits: at
     * 100,000 monitors each malloc chunk is 3 MB of RSS.  Else region_failures
     * owns the block. */
    if (n_counts <= TOCSIN_STATE_INLINE_COUNTS)
        s->region_failures = s->counts;
    else if (!(s->region_failures = calloc(n_counts, sizeof(int))))
        return -ENOMEM;
    s->region_successes = s->region_failures + s->n_regions;
    s->webhook_level = s->region_successes + s->n_regions;
    return 0;
}

void tocsin_monitor_state_free(struct tocsin_monitor_state *s)
{
    if (s->region_failures != s->counts)
        free(s->region_failures);
    memset(s, 0, sizeof(*s));
}

static bool region_active(const struct tocsin_monitor_state *s,
                          const struct tocsin_monitor_conf *monitor, size_t slot)
{
    return s->degraded == NULL || !s->degraded[monitor->regions[slot]];
}

static size_t regions_active(const struct tocsin_monitor_state *s,
                             const struct tocsin_monitor_conf *monitor)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_regions; i++)
        n += region_active(s, monitor, i);
    return n;
}

/* The quorum-th largest of the active regions' failure counters. */
static int quorum_failures(const struct tocsin_monitor_state *s,
                           const struct tocsin_monitor_conf *monitor, size_t quorum)
{
    int best = 0;

    /* Counts, for each candidate value, how many regions reach it; regions are few. */
    for (size_t i = 0; i < s->n_regions; i++) {
        int candidate = s->region_failures[i];
        size_t reaching = 0;
        if (!region_active(s, monitor, i))
            continue;
        for (size_t j = 0; j < s->n_regions; j++)
            if (region_active(s, monitor, j) && s->region_failures[j] >= candidate)
                reaching++;
        if (reaching >= quorum && candidate > best)
            best = candidate;
    }
    return best;
}

static size_t regions_recovered(const struct tocsin_monitor_state *s,
                                const struct tocsin_monitor_conf *monitor, int success_threshold)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_regions; i++)
        if (region_active(s, monitor, i) && s->region_successes[i] >= success_threshold)
            n++;
    return n;
}

static int regions_down(const struct tocsin_monitor_state *s,
                        const struct tocsin_monitor_conf *monitor)
{
    int n = 0;

    for (size_t i = 0; i < s->n_regions; i++)
        if (region_active(s, monitor, i) && s->region_failures[i] > 0)
            n++;
    return n;
}

static void emit_alert(struct tocsin_monitor_state *s, const struct tocsin_config *config,
                       const struct tocsin_monitor_conf *monitor, const struct tocsin_result *result,
                       enum tocsin_notification type, int level, size_t webhook,
                       tocsin_alert_cb emit, void *data)
{
    struct tocsin_alert alert = {
        .monitor = monitor,
        .region = config->regions[result->region].name,
        .check_result = *result,
        .monitor_status = type == TOCSIN_NOTIFY_INCIDENT ? TOCSIN_STATUS_DOWN : TOCSIN_STATUS_UP,
        .previous_status = type == TOCSIN_NOTIFY_INCIDENT ? s->incident_previous
                                                          : TOCSIN_STATUS_DOWN,
        .consecutive_failures = s->consecutive_failures,
        .notification_level = level,
        .type = type,
        .webhook = webhook,
        .regions_down = regions_down(s, monitor),
        .regions_total = (int)regions_active(s, monitor),
        .incident_started = s->incident_started,
    };

    emit(data, &alert);
}

/* The check's completion time in ms; whole seconds for a result without it. */
static int64_t result_ms(const struct tocsin_result *result)
{
    return result->timestamp_ms ? result->timestamp_ms : result->timestamp * 1000;
}

/* Sends LEVEL to each of its webhooks that wants incidents. */
static void send_level(struct tocsin_monitor_state *s, const struct tocsin_config *config,
                       const struct tocsin_monitor_conf *monitor,
                       const struct tocsin_level_conf *level, const struct tocsin_result *result,
                       tocsin_alert_cb emit, void *data)
{
    for (size_t i = 0; i < level->n_notify; i++) {
        size_t w = level->notify[i];
        if (!(config->webhooks[w].events & TOCSIN_EVENT_INCIDENT))
            continue;
        if (s->webhook_level[w] < level->level)
            s->webhook_level[w] = level->level;
        emit_alert(s, config, monitor, result, TOCSIN_NOTIFY_INCIDENT, level->level, w, emit, data);
    }
    s->highest_sent_at_ms = result_ms(result);
}

/* Fires every level reached and not yet fired in this incident, in order; if
 * none fired and the highest level reached has a repeat period that has passed
 * (on the checks' own clock: their timestamps), sends it again. */
static void fire_levels(struct tocsin_monitor_state *s, const struct tocsin_config *config,
                        const struct tocsin_monitor_conf *monitor,
                        const struct tocsin_result *result, tocsin_alert_cb emit, void *data)
{
    const struct tocsin_policy_conf *policy = &config->policies[monitor->policy];
    const struct tocsin_level_conf *highest;
    size_t fired_before = s->levels_fired;

    while (s->levels_fired < policy->n_levels &&
           s->consecutive_failures >= policy->levels[s->levels_fired].after) {
        send_level(s, config, monitor, &policy->levels[s->levels_fired], result, emit, data);
        s->levels_fired++;
    }
    if (s->levels_fired == 0 || s->levels_fired != fired_before)
        return;
    highest = &policy->levels[s->levels_fired - 1];
    if (highest->repeat_ms > 0 &&
        result_ms(result) - s->highest_sent_at_ms >= (int64_t)highest->repeat_ms)
        send_level(s, config, monitor, highest, result, emit, data);
}

/* Sends a recovery to every webhook that got an incident and wants recoveries. */
static void recover(struct tocsin_monitor_state *s, const struct tocsin_config *config,
                    const struct tocsin_monitor_conf *monitor, const struct tocsin_result *result,
                    tocsin_alert_cb emit, void *data)
{
    for (size_t w = 0; w < s->n_webhooks; w++) {
        if (s->webhook_level[w] > 0 && (config->webhooks[w].events & TOCSIN_EVENT_RECOVERY))
            emit_alert(s, config, monitor, result, TOCSIN_NOTIFY_RECOVERY, s->webhook_level[w], w,
                       emit, data);
        s->webhook_level[w] = 0;
    }
    s->levels_fired = 0;
}

void tocsin_monitor_feed(struct tocsin_monitor_state *s, const struct tocsin_config *config,
                         const struct tocsin_monitor_conf *monitor, size_t slot,
                         const struct tocsin_result *result, tocsin_alert_cb emit, void *data)
{
    const struct tocsin_policy_conf *policy = &config->policies[monitor->policy];
    size_t active, quorum;

    /* A degraded vantage point's results say nothing about the target. */
    if (slot >= s->n_regions || !region_active(s, monitor, slot))
        return;
    active = regions_active(s, monitor);
    quorum = (size_t)monitor->quorum < active ? (size_t)monitor->quorum : active;
    if (result->status == TOCSIN_STATUS_DOWN) {
        s->region_failures[slot]++;
        s->region_successes[slot] = 0;
    } else {
        s->region_successes[slot]++;
        s->region_failures[slot] = 0;
    }
    s->consecutive_failures = quorum_failures(s, monitor, quorum);

    if (s->status != TOCSIN_STATUS_DOWN &&
        s->consecutive_failures >= policy->failure_threshold) {
        s->incident_previous = s->status;
        s->status = TOCSIN_STATUS_DOWN;
        s->since = result->timestamp;
        s->incident_started = result->timestamp;
        s->levels_fired = 0;
    }
    if (s->status == TOCSIN_STATUS_DOWN && result->status == TOCSIN_STATUS_DOWN) {
        /* Held levels fire at the first failing check after the hold ends. */
        if (!s->hold)
            fire_levels(s, config, monitor, result, emit, data);
        return;
    }
    if (result->status == TOCSIN_STATUS_UP &&
        regions_recovered(s, monitor, policy->success_threshold) >= active - quorum + 1) {
        if (s->status == TOCSIN_STATUS_DOWN)
            recover(s, config, monitor, result, emit, data);
        if (s->status != TOCSIN_STATUS_UP)
            s->since = result->timestamp;
        s->status = TOCSIN_STATUS_UP;
    }
}
