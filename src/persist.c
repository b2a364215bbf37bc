/* Monitor state documents: see include/tocsin/persist.h.
 *
 * {"v":1,"name":"API","type":"http","url":"https://…","status":"DOWN",
 *  "previous":"UP","since":1700000000,"incident_started":1700000000,
 *  "consecutive_failures":3,"levels_fired":1,"highest_sent_at_ms":1700000000000,
 *  "regions":{"eu-a":[3,0]},"webhooks":{"ops":1}}
 * (tcp monitors carry "host" and "port" instead of "url"). */
#include "tocsin/persist.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/crypto.h"
#include "tocsin/log.h"

#define DOCUMENT_VERSION 1

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "http GET URL r1,r2" or "tcp HOST:PORT r1,r2", then hashed: the URL may
 * carry credentials or a token, which have no business at rest in state_dir. */
char *tocsin_persist_identity(const struct tocsin_config *config,
                              const struct tocsin_monitor_conf *monitor)
{
    const char **names = calloc(monitor->n_regions + 1, sizeof(*names));
    const char *target = monitor->type == TOCSIN_PROBE_TCP ? monitor->host : monitor->url;
    const char *method = monitor->method ? monitor->method : "GET";
    size_t len = strlen(target ? target : "") + 64, used;
    char *plain = NULL, *out = NULL;

    if (names == NULL)
        return NULL;
    for (size_t i = 0; i < monitor->n_regions; i++) {
        names[i] = config->regions[monitor->regions[i]].name;
        len += strlen(names[i]) + 1;
    }
    /* The set, not the order the config lists them in. */
    qsort(names, monitor->n_regions, sizeof(*names), compare_names);
    plain = malloc(len);
    out = malloc(sizeof("sha256:") + 64);
    if (plain != NULL && out != NULL) {
        if (monitor->type == TOCSIN_PROBE_TCP)
            used = (size_t)snprintf(plain, len, "tcp %s:%d ", target ? target : "",
                                    monitor->port);
        else
            used = (size_t)snprintf(plain, len, "http %.16s %s ", method, target ? target : "");
        for (size_t i = 0; i < monitor->n_regions && used < len; i++)
            used += (size_t)snprintf(plain + used, len - used, "%s%s", i ? "," : "", names[i]);
        memcpy(out, "sha256:", 7);
        if (tocsin_hmac_sha256_hex("tocsin identity", 15, plain, strlen(plain), out + 7) < 0) {
            free(out);
            out = NULL;
        }
    } else {
        free(out);
        out = NULL;
    }
    free(plain);
    free(names);
    return out;
}

/* ---- encode ------------------------------------------------------------- */

/* json_object_set_new that remembers a failure instead of returning it. */
static void put(json_t *o, const char *key, json_t *value, int *err)
{
    if (value == NULL || json_object_set_new(o, key, value) < 0)
        *err = -ENOMEM;
}

static json_t *encode_regions(const struct tocsin_config *config,
                              const struct tocsin_monitor_conf *monitor,
                              const struct tocsin_monitor_state *s, int *err)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < s->n_regions; i++)
        put(o, config->regions[monitor->regions[i]].name,
            json_pack("[ii]", s->region_failures[i], s->region_successes[i]), err);
    return o;
}

static json_t *encode_webhooks(const struct tocsin_config *config,
                               const struct tocsin_monitor_state *s, int *err)
{
    json_t *o = json_object();

    for (size_t w = 0; o && w < s->n_webhooks; w++)
        if (s->webhook_level[w] > 0)
            put(o, config->webhooks[w].name, json_integer(s->webhook_level[w]), err);
    return o;
}

char *tocsin_persist_encode(const struct tocsin_config *config,
                            const struct tocsin_monitor_conf *monitor,
                            const struct tocsin_monitor_state *s)
{
    json_t *o = json_object();
    char *text = NULL;
    int err = 0;

    if (o == NULL)
        return NULL;
    put(o, "v", json_integer(DOCUMENT_VERSION), &err);
    put(o, "name", json_string(monitor->name ? monitor->name : monitor->id), &err);
    put(o, "type", json_string(monitor->type == TOCSIN_PROBE_TCP ? "tcp" : "http"), &err);
    if (monitor->type == TOCSIN_PROBE_TCP) {
        put(o, "host", json_string(monitor->host ? monitor->host : ""), &err);
        put(o, "port", json_integer(monitor->port), &err);
    } else {
        char shown[2048];
        tocsin_config_redact_url(monitor->url ? monitor->url : "", shown, sizeof(shown));
        put(o, "url", json_string(shown), &err); /* what a recovery may show */
    }
    put(o, "status", json_string(tocsin_status_name(s->status)), &err);
    put(o, "previous", json_string(tocsin_status_name(s->incident_previous)), &err);
    put(o, "since", json_integer(s->since), &err);
    put(o, "incident_started", json_integer(s->incident_started), &err);
    put(o, "consecutive_failures", json_integer(s->consecutive_failures), &err);
    put(o, "levels_fired", json_integer((json_int_t)s->levels_fired), &err);
    put(o, "highest_sent_at_ms", json_integer(s->highest_sent_at_ms), &err);
    put(o, "regions", encode_regions(config, monitor, s, &err), &err);
    put(o, "webhooks", encode_webhooks(config, s, &err), &err);
    if (err == 0)
        text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* ---- decode ------------------------------------------------------------- */

static bool parse_status(const char *name, enum tocsin_status *out)
{
    static const enum tocsin_status all[] = {TOCSIN_STATUS_UNKNOWN, TOCSIN_STATUS_UP,
                                             TOCSIN_STATUS_DOWN};

    for (size_t i = 0; name && i < sizeof(all) / sizeof(*all); i++)
        if (strcmp(name, tocsin_status_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

static int64_t get_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int clamp_count(int64_t v)
{
    return v < 0 ? 0 : v > 1000000000 ? 1000000000 : (int)v;
}

static void decode_regions(const struct tocsin_config *config,
                           const struct tocsin_monitor_conf *monitor,
                           struct tocsin_monitor_state *s, const json_t *regions)
{
    for (size_t i = 0; i < s->n_regions; i++) {
        const json_t *pair = json_object_get(regions, config->regions[monitor->regions[i]].name);
        if (!json_is_array(pair) || json_array_size(pair) != 2)
            continue;
        s->region_failures[i] = clamp_count(json_integer_value(json_array_get(pair, 0)));
        s->region_successes[i] = clamp_count(json_integer_value(json_array_get(pair, 1)));
    }
}

static void decode_webhooks(const struct tocsin_config *config,
                            const struct tocsin_monitor_conf *monitor,
                            struct tocsin_monitor_state *s, const json_t *webhooks)
{
    const char *name;
    const json_t *level;

    json_object_foreach((json_t *)webhooks, name, level) {
        size_t w = 0;
        while (w < config->n_webhooks && strcmp(config->webhooks[w].name, name) != 0)
            w++;
        if (w == config->n_webhooks)
            tocsin_warn("a webhook that got this monitor's incident is no longer configured; "
                        "its recovery cannot be sent", "monitor", monitor->id, "webhook", name);
        else
            s->webhook_level[w] = clamp_count(json_integer_value(level));
    }
}

int tocsin_persist_decode(const struct tocsin_config *config,
                          const struct tocsin_monitor_conf *monitor,
                          struct tocsin_monitor_state *s, const char *document, int64_t age_ms)
{
    const struct tocsin_policy_conf *policy = &config->policies[monitor->policy];
    json_t *o = json_loads(document ? document : "", 0, NULL);
    enum tocsin_status status, previous;
    int rc = -EINVAL;
    int64_t fired;

    if (!json_is_object(o) || get_int(o, "v") != DOCUMENT_VERSION ||
        !parse_status(json_string_value(json_object_get(o, "status")), &status) ||
        !parse_status(json_string_value(json_object_get(o, "previous")), &previous))
        goto out;
    s->status = status;
    s->incident_previous = previous;
    s->since = get_int(o, "since");
    s->incident_started = get_int(o, "incident_started");
    s->highest_sent_at_ms = get_int(o, "highest_sent_at_ms");
    fired = get_int(o, "levels_fired");
    s->levels_fired = fired < 0 ? 0 : (size_t)fired > policy->n_levels ? policy->n_levels
                                                                         : (size_t)fired;
    decode_webhooks(config, monitor, s, json_object_get(o, "webhooks"));
    /* Old counters say nothing about now (DESIGN §4: older than 2 x interval). */
    if (age_ms >= 0 && (uint64_t)age_ms <= 2 * monitor->interval_ms) {
        s->consecutive_failures = clamp_count(get_int(o, "consecutive_failures"));
        decode_regions(config, monitor, s, json_object_get(o, "regions"));
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* ---- recoveries owed by monitors that left ------------------------------ */

static const char *first_region(const json_t *o, const struct tocsin_config *config)
{
    void *it = json_object_iter(json_object_get(o, "regions"));

    return it ? json_object_iter_key(it) : config->agent.region;
}

int tocsin_persist_owed_recoveries(const struct tocsin_config *config, const char *monitor_id,
                                   const char *document, int64_t now_s, tocsin_alert_cb emit,
                                   void *data)
{
    json_t *o = json_loads(document ? document : "", 0, NULL);
    const json_t *webhooks = json_object_get(o, "webhooks");
    struct tocsin_monitor_conf monitor = {0};
    struct tocsin_alert alert = {0};
    const char *type;
    int n = 0;

    if (!json_is_object(o) || get_int(o, "v") != DOCUMENT_VERSION) {
        json_decref(o);
        return -EINVAL;
    }
    monitor.id = (char *)monitor_id;
    monitor.name = (char *)json_string_value(json_object_get(o, "name"));
    type = json_string_value(json_object_get(o, "type"));
    monitor.type = type && strcmp(type, "tcp") == 0 ? TOCSIN_PROBE_TCP : TOCSIN_PROBE_HTTP;
    monitor.url = (char *)json_string_value(json_object_get(o, "url"));
    monitor.host = (char *)json_string_value(json_object_get(o, "host"));
    monitor.port = (int)get_int(o, "port");
    alert.monitor = &monitor;
    alert.region = first_region(o, config);
    alert.check_result.status = TOCSIN_STATUS_UP;
    alert.check_result.timestamp = now_s;
    alert.check_result.timings = (struct tocsin_timings){-1, -1, -1, -1, 0};
    alert.monitor_status = TOCSIN_STATUS_UP;
    alert.previous_status = TOCSIN_STATUS_DOWN;
    alert.type = TOCSIN_NOTIFY_RECOVERY;
    alert.regions_total = (int)json_object_size(json_object_get(o, "regions"));
    alert.incident_started = get_int(o, "incident_started");
    for (size_t w = 0; w < config->n_webhooks; w++) {
        const json_t *level = json_object_get(webhooks, config->webhooks[w].name);
        if (!json_is_integer(level) || json_integer_value(level) <= 0 ||
            !(config->webhooks[w].events & TOCSIN_EVENT_RECOVERY))
            continue;
        alert.webhook = w;
        alert.notification_level = clamp_count(json_integer_value(level));
        emit(data, &alert);
        n++;
    }
    json_decref(o);
    return n;
}
