/* src/persist.c: a monitor's state as a document that survives restarts and
 * reloads (DESIGN §4), matched by names, not positions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "tocsin/persist.h"

static struct tocsin_region_conf regions[] = {{.name = "eu"}, {.name = "us"}, {.name = "ap"}};
static struct tocsin_webhook_conf webhooks[] = {
    {.name = "ops", .events = TOCSIN_EVENT_INCIDENT | TOCSIN_EVENT_RECOVERY},
    {.name = "pager", .events = TOCSIN_EVENT_INCIDENT | TOCSIN_EVENT_RECOVERY},
    {.name = "quiet", .events = TOCSIN_EVENT_INCIDENT},
};
static struct tocsin_level_conf levels[] = {{.level = 1, .after = 3}, {.level = 2, .after = 5}};
static struct tocsin_policy_conf policies[] = {
    {.name = "default", .failure_threshold = 3, .success_threshold = 1, .levels = levels,
     .n_levels = 2}};
static size_t eu_us[] = {0, 1};
static size_t us_eu[] = {1, 0};
static size_t eu_ap[] = {0, 2};
static struct tocsin_monitor_conf monitors[] = {
    {.id = "api", .name = "API", .type = TOCSIN_PROBE_HTTP, .url = "https://api.example/h",
     .method = "GET", .regions = eu_us, .n_regions = 2, .quorum = 1, .interval_ms = 10000},
    {.id = "db", .name = "DB", .type = TOCSIN_PROBE_TCP, .host = "db.internal", .port = 5432,
     .regions = eu_us, .n_regions = 2, .quorum = 1, .interval_ms = 10000},
};
static struct tocsin_config config = {
    .agent = {.region = "here"}, .regions = regions, .n_regions = 3, .webhooks = webhooks,
    .n_webhooks = 3, .policies = policies, .n_policies = 1, .monitors = monitors,
    .n_monitors = 2};

static void test_identity(void **state)
{
    struct tocsin_monitor_conf m = monitors[0];
    char *a = tocsin_persist_identity(&config, &monitors[0]);
    char *b, *c, *d;

    (void)state;
    assert_int_equal(strncmp(a, "sha256:", 7), 0);
    assert_int_equal(strlen(a), 7 + 64);
    m.regions = us_eu; /* the set, not its order */
    b = tocsin_persist_identity(&config, &m);
    assert_string_equal(a, b);
    m.regions = eu_ap;
    c = tocsin_persist_identity(&config, &m);
    assert_string_not_equal(a, c);
    m.regions = eu_us;
    m.method = "HEAD";
    d = tocsin_persist_identity(&config, &m);
    assert_string_not_equal(a, d);
    free(b);
    free(c);
    free(d);
    m = monitors[0];
    m.url = "https://user:secret@api.example/h";
    b = tocsin_persist_identity(&config, &m);
    assert_null(strstr(b, "secret")); /* hashed: no credentials at rest */
    assert_string_not_equal(a, b);
    free(b);
    free(a);
    a = tocsin_persist_identity(&config, &monitors[1]);
    b = tocsin_persist_identity(&config, &monitors[0]);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void fill_down(struct tocsin_monitor_state *s)
{
    s->status = TOCSIN_STATUS_DOWN;
    s->incident_previous = TOCSIN_STATUS_UP;
    s->since = 1700000100;
    s->incident_started = 1700000100;
    s->consecutive_failures = 5;
    s->levels_fired = 2;
    s->highest_sent_at_ms = 1700000160123;
    s->region_failures[0] = 5;
    s->region_failures[1] = 2;
    s->region_successes[1] = 0;
    s->webhook_level[0] = 2;
    s->webhook_level[1] = 2;
}

/* Encoded under one config, decoded under another whose regions and
 * webhooks are listed in another order: everything lands by name. */
static void test_round_trip_by_name(void **state)
{
    struct tocsin_monitor_state s, t;
    struct tocsin_region_conf regions2[] = {{.name = "us"}, {.name = "eu"}};
    struct tocsin_webhook_conf webhooks2[] = {{.name = "pager"}, {.name = "ops"}};
    struct tocsin_monitor_conf m2 = monitors[0];
    struct tocsin_config config2 = config;
    char *doc;

    (void)state;
    assert_int_equal(tocsin_monitor_state_init(&s, &config, &monitors[0]), 0);
    fill_down(&s);
    doc = tocsin_persist_encode(&config, &monitors[0], &s);
    assert_non_null(doc);

    size_t slots[] = {1, 0}; /* eu, us in config2's numbering */
    m2.regions = slots;
    config2.regions = regions2;
    config2.n_regions = 2;
    config2.webhooks = webhooks2;
    config2.n_webhooks = 2;
    assert_int_equal(tocsin_monitor_state_init(&t, &config2, &m2), 0);
    assert_int_equal(tocsin_persist_decode(&config2, &m2, &t, doc, 1000), 0);
    assert_int_equal(t.status, TOCSIN_STATUS_DOWN);
    assert_int_equal(t.incident_previous, TOCSIN_STATUS_UP);
    assert_int_equal(t.since, 1700000100);
    assert_int_equal(t.incident_started, 1700000100);
    assert_int_equal(t.consecutive_failures, 5);
    assert_int_equal(t.levels_fired, 2);
    assert_int_equal(t.highest_sent_at_ms, 1700000160123);
    assert_int_equal(t.region_failures[0], 5); /* slot 0 is eu in m2 too */
    assert_int_equal(t.region_failures[1], 2);
    assert_int_equal(t.webhook_level[0], 2); /* pager */
    assert_int_equal(t.webhook_level[1], 2); /* ops */
    tocsin_monitor_state_free(&t);
    tocsin_monitor_state_free(&s);
    free(doc);
}

/* Counters older than 2 x interval start from zero; the incident stays. */
static void test_old_counters_reset(void **state)
{
    struct tocsin_monitor_state s, t;
    char *doc;

    (void)state;
    assert_int_equal(tocsin_monitor_state_init(&s, &config, &monitors[0]), 0);
    fill_down(&s);
    doc = tocsin_persist_encode(&config, &monitors[0], &s);
    assert_int_equal(tocsin_monitor_state_init(&t, &config, &monitors[0]), 0);
    assert_int_equal(tocsin_persist_decode(&config, &monitors[0], &t, doc, 20001), 0);
    assert_int_equal(t.status, TOCSIN_STATUS_DOWN);
    assert_int_equal(t.levels_fired, 2);
    assert_int_equal(t.webhook_level[0], 2);
    assert_int_equal(t.consecutive_failures, 0);
    assert_int_equal(t.region_failures[0], 0);
    assert_int_equal(t.region_failures[1], 0);
    tocsin_monitor_state_free(&t);
    tocsin_monitor_state_free(&s);
    free(doc);
}

static void test_bad_documents(void **state)
{
    static const char *const bad[] = {
        "", "not json", "[]", "{\"v\":2,\"status\":\"UP\",\"previous\":\"UP\"}",
        "{\"v\":1,\"status\":\"SIDEWAYS\",\"previous\":\"UP\"}",
    };
    struct tocsin_monitor_state t;

    (void)state;
    assert_int_equal(tocsin_monitor_state_init(&t, &config, &monitors[0]), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(tocsin_persist_decode(&config, &monitors[0], &t, bad[i], 0), -EINVAL);
        assert_int_equal(t.status, TOCSIN_STATUS_UNKNOWN);
    }
    /* levels_fired never points past the policy's levels. */
    assert_int_equal(tocsin_persist_decode(&config, &monitors[0], &t,
                                           "{\"v\":1,\"status\":\"DOWN\",\"previous\":\"UP\","
                                           "\"levels_fired\":9}",
                                           0),
                     0);
    assert_int_equal(t.levels_fired, 2);
    tocsin_monitor_state_free(&t);
}

struct owed {
    int n;
    struct tocsin_alert alerts[4];
    char names[4][32];
    char urls[4][64];
};

static void on_owed(void *data, const struct tocsin_alert *alert)
{
    struct owed *o = data;

    if (o->n < 4) {
        o->alerts[o->n] = *alert;
        snprintf(o->names[o->n], sizeof(o->names[0]), "%s", alert->monitor->name);
        snprintf(o->urls[o->n], sizeof(o->urls[0]), "%s:%d", alert->monitor->host,
                 alert->monitor->port);
        o->n++;
    }
}

/* A monitor gone from the config owes a recovery to each webhook that got its
 * incident and wants recoveries ("quiet" wants incidents only). */
static void test_owed_recoveries(void **state)
{
    struct tocsin_monitor_state s;
    struct owed o = {0};
    char *doc;

    (void)state;
    assert_int_equal(tocsin_monitor_state_init(&s, &config, &monitors[1]), 0);
    fill_down(&s);
    s.webhook_level[1] = 0;
    s.webhook_level[2] = 1;
    doc = tocsin_persist_encode(&config, &monitors[1], &s);
    assert_int_equal(tocsin_persist_owed_recoveries(&config, "db", doc, 1700000999, on_owed, &o),
                     1);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.alerts[0].webhook, 0);
    assert_int_equal(o.alerts[0].type, TOCSIN_NOTIFY_RECOVERY);
    assert_int_equal(o.alerts[0].notification_level, 2);
    assert_int_equal(o.alerts[0].previous_status, TOCSIN_STATUS_DOWN);
    assert_int_equal(o.alerts[0].monitor_status, TOCSIN_STATUS_UP);
    assert_int_equal(o.alerts[0].check_result.status, TOCSIN_STATUS_UP);
    assert_int_equal(o.alerts[0].check_result.timestamp, 1700000999);
    assert_int_equal(o.alerts[0].check_result.status_code, 0);
    assert_string_equal(o.alerts[0].check_result.error_message, "");
    assert_string_equal(o.names[0], "DB");
    assert_string_equal(o.urls[0], "db.internal:5432");
    assert_int_equal(tocsin_persist_owed_recoveries(&config, "db", "{}", 0, on_owed, &o),
                     -EINVAL);
    tocsin_monitor_state_free(&s);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_round_trip_by_name),
        cmocka_unit_test(test_old_counters_reset),
        cmocka_unit_test(test_bad_documents),
        cmocka_unit_test(test_owed_recoveries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
