/* Every webhook format behind the one vtable: golden bodies and headers from
 * hostile input, signatures checked with OpenSSL here (never src/crypto.c), the
 * Standard Webhooks spec vector, rotation, and each format's own rules
 * (statuspage partial/major, pagerduty's 1024-character summary, alertmanager's
 * startsAt/endsAt).
 *
 * Fixtures: tests/fixtures/<format>/NAME.json is the exact body (no newline) and
 * NAME.headers the headers tocsin_format_sign adds, "Name: value\n" each, for
 * REQUEST_ID at SIGNED_AT with the secrets below; tests/node/check_fixtures.js
 * verifies the same files in Node.js with the vendors' own validators.
 * TOCSIN_UPDATE_FIXTURES=1 rewrites them (review the diff). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tocsin/crypto.h"
#include "tocsin/format.h"
#include "utf16.h"

/* Shared with tests/node/check_fixtures.js: keep both in step. */
#define SECRET "tocsin-test-secret"
#define OLD_SECRET "tocsin-old-secret"
#define WHSEC "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define REQUEST_ID "00000000-0000-4000-8000-000000000000"
#define SIGNED_AT 1705314620
#define FIXTURES TOCSIN_SOURCE_DIR "/tests/fixtures/"

static char *one_secret[] = {(char *)SECRET};
static char *rotating_secrets[] = {(char *)SECRET, (char *)OLD_SECRET};
static char *standard_secrets[] = {(char *)WHSEC, (char *)SECRET};

static const struct tocsin_webhook_conf plain_hook = {
    .name = (char *)"ops",
    .url = (char *)"http://127.0.0.1:9/hook",
    .secret = (char *)SECRET,
    .secrets = one_secret,
    .n_secrets = 1,
    .signing = TOCSIN_SIGNING_DEFAULT,
    .routing_key = (char *)"R0UT1NGKEY0000000000000000000000",
};

static const struct tocsin_webhook_conf rotating_hook = {
    .name = (char *)"ops",
    .url = (char *)"http://127.0.0.1:9/hook",
    .secret = (char *)SECRET,
    .secrets = rotating_secrets,
    .n_secrets = 2,
    .signing = TOCSIN_SIGNING_DEFAULT,
    .routing_key = (char *)"R0UT1NGKEY0000000000000000000000",
};

static const struct tocsin_webhook_conf standard_hook = {
    .name = (char *)"ops",
    .url = (char *)"http://127.0.0.1:9/hook",
    .secret = (char *)WHSEC,
    .secrets = standard_secrets,
    .n_secrets = 2,
    .signing = TOCSIN_SIGNING_STANDARD,
    .routing_key = (char *)"R0UT1NGKEY0000000000000000000000",
};

/* A page name with a quote, a backslash, non-ASCII and a control character. */
static const struct tocsin_webhook_conf hostile_hook = {
    .name = (char *)"\xc3\xa9quipe \"ops\"\\\x01",
    .url = (char *)"http://127.0.0.1:9/hook",
    .secret = (char *)SECRET,
    .secrets = one_secret,
    .n_secrets = 1,
    .signing = TOCSIN_SIGNING_DEFAULT,
    .routing_key = (char *)"R0UT1NGKEY\"\\0000000000000000000",
};

static const struct tocsin_monitor_conf http_monitor = {
    .id = (char *)"mon_api",
    .name = (char *)"API Server",
    .type = TOCSIN_PROBE_HTTP,
    .url = (char *)"https://api.example.com/health",
};

static const struct tocsin_monitor_conf tcp_monitor = {
    .id = (char *)"db",
    .name = (char *)"Database",
    .type = TOCSIN_PROBE_TCP,
    .host = (char *)"::1",
    .port = 5432,
};

/* Quotes, a backslash, a tab, an escape sequence, DEL, a lone continuation byte,
 * an overlong '/', a surrogate, a truncated sequence, valid non-ASCII text. */
static const struct tocsin_monitor_conf hostile_monitor = {
    .id = (char *)"cafe.api",
    .name = (char *)"Caf\xc3\xa9 \xe2\x98\x95 \"API\" C:\\v2\t\x1b[1m\x7f "
                    "\x80 \xc0\xaf \xed\xa0\x80 "
                    "\xf0\x9f\x94\xa5 \xe2\x82",
    .type = TOCSIN_PROBE_HTTP,
    .url = (char *)"https://xn--caf-dma.example/\xc3\xa9t\xc3\xa9?q=\"1\"&r=\xff\\",
};

static struct tocsin_alert base_alert(const struct tocsin_monitor_conf *m, enum tocsin_status s)
{
    struct tocsin_alert a;

    memset(&a, 0, sizeof(a));
    a.monitor = m;
    a.region = "eu-central";
    a.check_result.status = s;
    a.check_result.timestamp = 1705314615; /* 2024-01-15T10:30:15Z */
    a.monitor_status = s;
    a.notification_level = 1;
    a.regions_total = 3;
    a.incident_started = 1705314555;
    if (s == TOCSIN_STATUS_DOWN) {
        a.previous_status = TOCSIN_STATUS_UP;
        a.consecutive_failures = 3;
        a.regions_down = 3;
        a.type = TOCSIN_NOTIFY_INCIDENT;
        a.check_result.error_kind = TOCSIN_ERR_STATUS;
        a.check_result.status_code = 503;
        a.check_result.response_time_ms = 87;
        snprintf(a.check_result.error_message, sizeof(a.check_result.error_message),
                 "HTTP 503, expected 200-299");
    } else {
        a.previous_status = TOCSIN_STATUS_DOWN;
        a.type = TOCSIN_NOTIFY_RECOVERY;
        a.check_result.timestamp = 1705315350; /* 10:42:30Z */
        a.check_result.status_code = 200;
        a.check_result.response_time_ms = 245;
        /* Left over from a failure: must never appear in a recovery. */
        snprintf(a.check_result.error_message, sizeof(a.check_result.error_message), "stale");
    }
    return a;
}

static struct tocsin_alert incident_major(void)
{
    return base_alert(&http_monitor, TOCSIN_STATUS_DOWN);
}

static struct tocsin_alert incident_partial(void)
{
    struct tocsin_alert a = base_alert(&http_monitor, TOCSIN_STATUS_DOWN);

    a.regions_down = 1;
    a.notification_level = 2;
    return a;
}

static struct tocsin_alert incident_tcp_level3(void)
{
    struct tocsin_alert a = base_alert(&tcp_monitor, TOCSIN_STATUS_DOWN);

    a.previous_status = TOCSIN_STATUS_UNKNOWN;
    a.consecutive_failures = 7;
    a.notification_level = 3;
    a.check_result.error_kind = TOCSIN_ERR_REFUSED;
    a.check_result.status_code = 0;
    a.check_result.response_time_ms = 1;
    snprintf(a.check_result.error_message, sizeof(a.check_result.error_message),
             "connect to [::1]:5432: Connection refused");
    return a;
}

static struct tocsin_alert recovery(void)
{
    return base_alert(&http_monitor, TOCSIN_STATUS_UP);
}

static struct tocsin_alert hostile(void)
{
    struct tocsin_alert a = base_alert(&hostile_monitor, TOCSIN_STATUS_DOWN);

    a.region = "eu-\xc3\xa9\x01\"\\";
    a.regions_down = 2;
    a.check_result.error_kind = TOCSIN_ERR_BODY;
    snprintf(a.check_result.error_message, sizeof(a.check_result.error_message),
             "body lacks \"ok\\\": got <h1>\xe2\x9c\x97</h1>\r\n\x02\xfe\x1f\b\f");
    return a;
}

/* A 2000-character monitor name for pagerduty's 1024-character summary. */
static char long_name[8192]; /* 4977 bytes of UTF-8 */

static const struct tocsin_monitor_conf long_monitor = {
    .id = (char *)"long",
    .name = long_name,
    .type = TOCSIN_PROBE_HTTP,
    .url = (char *)"https://long.example/",
};

static size_t append(size_t o, const char *bytes, int times)
{
    size_t n = strlen(bytes);

    /* Bounded, so the optimiser can see no write goes past the buffer. */
    for (int i = 0; i < times && o + n < sizeof(long_name); i++, o += n)
        memcpy(long_name + o, bytes, n);
    if (o < sizeof(long_name))
        long_name[o] = '\0';
    return o;
}

/* "x", 1022 x U+00E9 (2 bytes each), U+1F525 (4 bytes, 2 UTF-16 units), 976 x
 * U+20AC: 2000 characters; units 1024-1025 are the emoji, which must go whole. */
static void fill_long_name(void)
{
    size_t o;

    if (long_name[0])
        return;
    o = append(0, "x", 1);
    o = append(o, "\xc3\xa9", 1022);
    o = append(o, "\xf0\x9f\x94\xa5", 1);
    append(o, "\xe2\x82\xac", 976);
}

static struct tocsin_alert long_summary(void)
{
    struct tocsin_alert a;

    fill_long_name();
    a = base_alert(&long_monitor, TOCSIN_STATUS_DOWN);
    a.notification_level = 5;
    return a;
}

/* ---- files ---------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    *len = 0;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)size, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

static void spit(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void compare_file(const char *format, const char *name, const char *ext, const char *got,
                         size_t len)
{
    char path[1024], *want;
    size_t want_len;

    snprintf(path, sizeof(path), FIXTURES "%s/%s.%s", format, name, ext);
    if (getenv("TOCSIN_UPDATE_FIXTURES") != NULL)
        spit(path, got, len);
    want = slurp(path, &want_len);
    if (want == NULL)
        fail_msg("missing fixture %s", path);
    if (want_len != len || memcmp(want, got, len) != 0)
        fail_msg("%s/%s.%s differs:\n got: %s\nwant: %s", format, name, ext, got, want);
    free(want);
}

/* ---- independent signature checks (OpenSSL only) -------------------------- */

static void hmac_raw(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char md[32])
{
    unsigned int md_len = 0;
    static const unsigned char empty[1];

    assert_non_null(HMAC(EVP_sha256(), key_len ? key : empty, (int)key_len, len ? data : empty,
                         len, md, &md_len));
    assert_int_equal(md_len, 32);
}

static void hmac_hex(const char *secret, const char *body, size_t len, char out[65])
{
    unsigned char md[32];

    hmac_raw(secret, strlen(secret), body, len, md);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The spec's signature: key = base64 after whsec_ (EVP_DecodeBlock) or raw. */
static void standard_expected(const char *secret, const char *id, long long ts, const char *body,
                              size_t len, char out[64])
{
    unsigned char key[256], md[32];
    size_t key_len;
    char *msg;
    int n;

    if (strncmp(secret, "whsec_", 6) == 0) {
        const char *b64 = secret + 6;
        size_t b64_len = strlen(b64);
        n = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)b64_len);
        assert_true(n >= 0);
        key_len = (size_t)n - (b64_len && b64[b64_len - 1] == '=') -
                  (b64_len > 1 && b64[b64_len - 2] == '=');
    } else {
        key_len = strlen(secret);
        memcpy(key, secret, key_len);
    }
    msg = malloc(strlen(id) + 32 + len);
    assert_non_null(msg);
    n = sprintf(msg, "%s.%lld.", id, ts);
    memcpy(msg + n, body, len);
    hmac_raw(key, key_len, msg, (size_t)n + len, md);
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, md, 32);
    free(msg);
}

static const struct tocsin_header *find_header(const struct tocsin_format_headers *h,
                                               const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->items[i].name, name) == 0)
            return &h->items[i];
    return NULL;
}

/* Each hex-signed format: the vendor's header and prefix. */
struct hex_scheme {
    const char *format;
    const char *header;
    const char *prefix;
};

static const struct hex_scheme hex_schemes[] = {
    {"statuspageone", "X-StatusPageOne-Signature", "sha256="},
    {"atstatus", "X-Webhook-Signature", ""},
    {"statusstack", "X-StatusStack-Signature", ""},
};

static const struct hex_scheme *hex_scheme(const char *format)
{
    for (size_t i = 0; i < sizeof(hex_schemes) / sizeof(hex_schemes[0]); i++)
        if (strcmp(hex_schemes[i].format, format) == 0)
            return &hex_schemes[i];
    return NULL;
}

/* One header per secret: HEADER for secrets[0], HEADER-2 for secrets[1]... */
static void verify_hex(const struct hex_scheme *s, const struct tocsin_webhook_conf *w,
                       const struct tocsin_format_headers *h, const char *body, size_t len)
{
    char name[80], want[80], hex[65];
    size_t n = w->signing == TOCSIN_SIGNING_DEFAULT ? w->n_secrets : 0;

    for (size_t i = 0; i < n; i++) {
        const struct tocsin_header *got;
        if (i == 0)
            snprintf(name, sizeof(name), "%s", s->header);
        else
            snprintf(name, sizeof(name), "%s-%zu", s->header, i + 1);
        got = find_header(h, name);
        if (got == NULL)
            fail_msg("no %s header", name);
        hmac_hex(w->secrets[i], body, len, hex);
        snprintf(want, sizeof(want), "%s%s", s->prefix, hex);
        assert_string_equal(got->value, want);
    }
    snprintf(name, sizeof(name), "%s-%zu", s->header, n + 1);
    assert_null(find_header(h, n ? name : s->header));
}

static void verify_standard(const struct tocsin_webhook_conf *w,
                            const struct tocsin_format_headers *h, const char *body, size_t len)
{
    const struct tocsin_header *id = find_header(h, "webhook-id");
    const struct tocsin_header *ts = find_header(h, "webhook-timestamp");
    const struct tocsin_header *sig = find_header(h, "webhook-signature");
    char want[512] = "", one[64];

    if (w->signing != TOCSIN_SIGNING_STANDARD) {
        assert_null(id);
        assert_null(sig);
        return;
    }
    assert_non_null(id);
    assert_non_null(ts);
    assert_non_null(sig);
    assert_string_equal(id->value, REQUEST_ID);
    assert_int_equal(strtoll(ts->value, NULL, 10), SIGNED_AT);
    for (size_t i = 0; i < w->n_secrets; i++) {
        standard_expected(w->secrets[i], REQUEST_ID, SIGNED_AT, body, len, one);
        if (i)
            strcat(want, " ");
        strcat(want, one);
    }
    assert_string_equal(sig->value, want);
}

/* ---- goldens -------------------------------------------------------------- */

struct golden {
    const char *format;
    const char *name;
    struct tocsin_alert (*alert)(void);
    const struct tocsin_webhook_conf *webhook;
};

static const struct golden goldens[] = {
    {"statuspage", "incident_partial_outage", incident_partial, &plain_hook},
    {"statuspage", "incident_major_outage", incident_major, &plain_hook},
    {"statuspage", "recovery", recovery, &plain_hook},
    {"statuspage", "hostile", hostile, &hostile_hook},
    {"betterstack", "incident_degraded", incident_partial, &plain_hook},
    {"betterstack", "incident_downtime", incident_tcp_level3, &plain_hook},
    {"betterstack", "recovery", recovery, &plain_hook},
    {"betterstack", "hostile", hostile, &hostile_hook},
    {"betterstack", "standard_signing", incident_major, &standard_hook},
    {"atstatus", "incident", incident_major, &plain_hook},
    {"atstatus", "incident_rotating", incident_partial, &rotating_hook},
    {"atstatus", "recovery", recovery, &plain_hook},
    {"atstatus", "hostile", hostile, &hostile_hook},
    {"statusstack", "monitor_down", incident_tcp_level3, &plain_hook},
    {"statusstack", "monitor_down_rotating", incident_major, &rotating_hook},
    {"statusstack", "monitor_recovered", recovery, &plain_hook},
    {"statusstack", "hostile", hostile, &hostile_hook},
    {"pagerduty", "trigger_warning", incident_major, &plain_hook},
    {"pagerduty", "trigger_critical_tcp", incident_tcp_level3, &plain_hook},
    {"pagerduty", "resolve", recovery, &plain_hook},
    {"pagerduty", "hostile", hostile, &hostile_hook},
    {"pagerduty", "summary_cut", long_summary, &plain_hook},
    {"pagerduty", "standard_signing", incident_partial, &standard_hook},
    {"alertmanager", "firing", incident_partial, &plain_hook},
    {"alertmanager", "firing_tcp", incident_tcp_level3, &plain_hook},
    {"alertmanager", "resolved", recovery, &plain_hook},
    {"alertmanager", "hostile", hostile, &hostile_hook},
};

static size_t headers_text(const struct tocsin_format_headers *h, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < h->n; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s: %s\n", h->items[i].name,
                                 h->items[i].value);
    assert_true(used < size);
    return used;
}

static void check_golden(const struct golden *g)
{
    const struct tocsin_format *fmt = tocsin_format_find(g->format);
    const struct hex_scheme *hex = hex_scheme(g->format);
    struct tocsin_alert alert = g->alert();
    struct tocsin_format_headers h = {.n = 0};
    char *body = NULL, text[4096];
    size_t len = 0;

    assert_non_null(fmt);
    assert_int_equal(fmt->build_body(&alert, g->webhook, &body, &len), 0);
    assert_int_equal(strlen(body), len);
    assert_int_equal(tocsin_format_sign(fmt, g->webhook, REQUEST_ID, SIGNED_AT, body, len, &h), 0);
    compare_file(g->format, g->name, "json", body, len);
    compare_file(g->format, g->name, "headers", text, headers_text(&h, text, sizeof(text)));
    if (hex)
        verify_hex(hex, g->webhook, &h, body, len);
    verify_standard(g->webhook, &h, body, len);
    free(body);
}

static void test_goldens(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++)
        check_golden(&goldens[i]);
}

/* ---- per-format rules ----------------------------------------------------- */

static json_t *build_json(const char *format, struct tocsin_alert a,
                          const struct tocsin_webhook_conf *w)
{
    const struct tocsin_format *fmt = tocsin_format_find(format);
    char *body = NULL;
    size_t len = 0;
    json_t *root;

    assert_non_null(fmt);
    assert_int_equal(fmt->build_body(&a, w, &body, &len), 0);
    root = json_loadb(body, len, 0, NULL);
    assert_non_null(root);
    free(body);
    return root;
}

static const char *jstr(json_t *root, const char *path)
{
    json_t *v = json_object_get(root, path);

    assert_non_null(v);
    return json_string_value(v);
}

static void test_statuspage_partial_vs_major(void **state)
{
    struct tocsin_alert a = incident_major();
    json_t *root;

    (void)state;
    for (int down = 0; down <= 4; down++) {
        const char *want = down == 1 || down == 2 ? "partial_outage" : "major_outage";
        a.regions_down = down; /* 0: split unknown, counts as all; 4 > 3 as well */
        root = build_json("statuspage", a, &plain_hook);
        assert_string_equal(jstr(json_object_get(root, "component"), "status"), want);
        assert_string_equal(jstr(json_object_get(root, "component_update"), "new_status"), want);
        assert_string_equal(jstr(json_object_get(root, "component_update"), "old_status"),
                            "operational");
        json_decref(root);
    }
    root = build_json("statuspage", recovery(), &plain_hook);
    assert_string_equal(jstr(json_object_get(root, "component"), "status"), "operational");
    assert_string_equal(jstr(json_object_get(root, "component_update"), "old_status"),
                        "major_outage");
    json_decref(root);
}

static void test_pagerduty_summary_cut(void **state)
{
    json_t *root, *payload;
    const char *summary;

    (void)state;
    root = build_json("pagerduty", long_summary(), &plain_hook);
    payload = json_object_get(root, "payload");
    summary = jstr(payload, "summary");
    /* 1 + 1022 + 2 would be 1025 units: the emoji is left out whole. */
    assert_int_equal(test_utf16_units(summary), 1023);
    assert_int_equal(strlen(summary), 1 + 1022 * 2);
    assert_memory_equal(summary, long_name, strlen(summary));
    assert_string_equal(jstr(payload, "severity"), "critical");
    json_decref(root);
}

static void test_pagerduty_severity_and_resolve(void **state)
{
    static const char *const want[] = {"warning", "warning", "error", "critical", "critical"};
    struct tocsin_alert a = incident_major();
    json_t *root;

    (void)state;
    for (int level = 0; level <= 4; level++) {
        a.notification_level = level;
        root = build_json("pagerduty", a, &plain_hook);
        assert_string_equal(jstr(json_object_get(root, "payload"), "severity"), want[level]);
        assert_string_equal(jstr(root, "event_action"), "trigger");
        assert_string_equal(jstr(root, "dedup_key"), "tocsin-mon_api");
        json_decref(root);
    }
    root = build_json("pagerduty", recovery(), &plain_hook);
    assert_int_equal(json_object_size(root), 3);
    assert_string_equal(jstr(root, "routing_key"), plain_hook.routing_key);
    assert_string_equal(jstr(root, "event_action"), "resolve");
    assert_string_equal(jstr(root, "dedup_key"), "tocsin-mon_api");
    json_decref(root);
}

static void test_alertmanager_times(void **state)
{
    json_t *root, *alert;

    (void)state;
    root = build_json("alertmanager", incident_major(), &plain_hook);
    assert_true(json_is_array(root));
    assert_int_equal(json_array_size(root), 1);
    alert = json_array_get(root, 0);
    assert_string_equal(jstr(alert, "startsAt"), "2024-01-15T10:29:15Z");
    assert_string_equal(jstr(alert, "endsAt"), "2024-01-15T10:35:15Z"); /* now + 5 min */
    assert_string_equal(jstr(json_object_get(alert, "labels"), "alertname"), "TocsinMonitorDown");
    json_decref(root);
    root = build_json("alertmanager", recovery(), &plain_hook);
    alert = json_array_get(root, 0);
    assert_string_equal(jstr(alert, "endsAt"), "2024-01-15T10:42:30Z"); /* now */
    assert_null(json_object_get(json_object_get(alert, "annotations"), "error"));
    json_decref(root);
    assert_string_equal(tocsin_format_alertmanager.url_suffix, "/api/v2/alerts");
}

static const char *const format_names[] = {"statuspageone", "statuspage", "betterstack",
                                           "atstatus",      "statusstack", "pagerduty",
                                           "alertmanager"};

static void test_defaults_and_lookup(void **state)
{
    const char *const *names = format_names;
    const struct tocsin_format *f;

    (void)state;
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
        f = tocsin_format_find(names[i]);
        assert_non_null(f);
        assert_string_equal(f->name, names[i]);
        assert_non_null(f->build_body);
        assert_non_null(f->sign);
        assert_true(f->default_timeout_ms > 0 && f->default_connect_timeout_ms > 0);
        assert_true(f->default_connect_timeout_ms <= f->default_timeout_ms);
        assert_true(f->default_retry_backoff_ms > 0);
        if (strcmp(names[i], "alertmanager") != 0)
            assert_null(f->url_suffix);
    }
    assert_null(tocsin_format_find("PagerDuty"));
    f = &tocsin_format_betterstack;
    assert_int_equal(f->default_retries, 10);
    assert_int_equal(f->default_connect_timeout_ms, 10000);
    assert_int_equal(f->default_timeout_ms, 30000);
    assert_int_equal(tocsin_format_atstatus.default_retries, 2); /* 3 attempts in all */
    assert_int_equal(tocsin_format_atstatus.default_timeout_ms, 10000);
    assert_int_equal(tocsin_format_statusstack.default_timeout_ms, 5000);
    assert_int_equal(tocsin_format_statuspageone.default_retries, 5);
}

/* Every format refuses a body over 1 MB, leaving *body NULL. */
static void test_body_over_cap(void **state)
{
    struct tocsin_monitor_conf big = http_monitor;
    struct tocsin_alert a;
    char *name = malloc(TOCSIN_BODY_MAX + 1), *body;
    size_t len;

    (void)state;
    assert_non_null(name);
    memset(name, 'x', TOCSIN_BODY_MAX);
    name[TOCSIN_BODY_MAX] = '\0';
    big.name = name;
    a = base_alert(&big, TOCSIN_STATUS_DOWN);
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
        const struct tocsin_format *f = tocsin_format_find(format_names[i]);
        body = (char *)1;
        len = 7;
        assert_int_equal(f->build_body(&a, &plain_hook, &body, &len), -EFBIG);
        assert_null(body);
        assert_int_equal(len, 0);
    }
    free(name);
}

/* ---- signing -------------------------------------------------------------- */

/* The standardwebhooks libraries' own test vector. */
static void test_standard_spec_vector(void **state)
{
    const char *payload = "{\"test\": 2432232314}";
    const char *want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    char sig[TOCSIN_STANDARD_SIG_SIZE], indep[64];

    (void)state;
    assert_int_equal(tocsin_standard_webhooks_sign(WHSEC, "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                                   1614265330, payload, strlen(payload), sig),
                     0);
    assert_string_equal(sig, want);
    standard_expected(WHSEC, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, payload,
                      strlen(payload), indep);
    assert_string_equal(indep, want);
    assert_int_equal(tocsin_standard_webhooks_sign("whsec_not*base64", "id", 1, "", 0, sig),
                     -EINVAL);
}

static void test_standard_headers_any_format(void **state)
{
    struct tocsin_format_headers h;
    struct tocsin_alert a = incident_major();
    char *body = NULL;
    size_t len = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
        const struct tocsin_format *f = tocsin_format_find(format_names[i]);
        h.n = 0;
        assert_int_equal(f->build_body(&a, &standard_hook, &body, &len), 0);
        assert_int_equal(
            tocsin_format_sign(f, &standard_hook, REQUEST_ID, SIGNED_AT, body, len, &h), 0);
        verify_standard(&standard_hook, &h, body, len);
        /* Standard replaces the vendor's hex signature, never adds to it. */
        assert_null(find_header(&h, "X-StatusPageOne-Signature"));
        assert_null(find_header(&h, "X-Webhook-Signature"));
        assert_null(find_header(&h, "X-StatusStack-Signature"));
        free(body);
    }
}

static void test_hex_rotation_every_format(void **state)
{
    struct tocsin_webhook_conf four = rotating_hook;
    char *secrets[] = {(char *)"s1", (char *)"s2", (char *)"s3", (char *)""};
    struct tocsin_format_headers h;
    struct tocsin_alert a = hostile();
    char *body = NULL;
    size_t len = 0;

    (void)state;
    four.secrets = secrets;
    four.n_secrets = 4;
    four.secret = secrets[0];
    for (size_t i = 0; i < sizeof(hex_schemes) / sizeof(hex_schemes[0]); i++) {
        const struct tocsin_format *f = tocsin_format_find(hex_schemes[i].format);
        h.n = 0;
        assert_int_equal(f->build_body(&a, &four, &body, &len), 0);
        assert_int_equal(tocsin_format_sign(f, &four, REQUEST_ID, SIGNED_AT, body, len, &h), 0);
        verify_hex(&hex_schemes[i], &four, &h, body, len);
        free(body);
    }
}

static void test_unsigned_modes(void **state)
{
    struct tocsin_webhook_conf none = plain_hook, no_secret = plain_hook;
    struct tocsin_format_headers h = {.n = 0};

    (void)state;
    none.signing = TOCSIN_SIGNING_NONE;
    no_secret.secret = NULL;
    no_secret.secrets = NULL;
    no_secret.n_secrets = 0;
    assert_int_equal(tocsin_format_sign(&tocsin_format_atstatus, &none, "id", 1, "{}", 2, &h), 0);
    /* The event header stays: it is not a signature. */
    assert_int_equal(h.n, 1);
    assert_string_equal(h.items[0].name, "X-Webhook-Event");
    assert_string_equal(h.items[0].value, "component.status_changed");
    h.n = 0;
    assert_int_equal(
        tocsin_format_sign(&tocsin_format_statusstack, &no_secret, "id", 1, "{}", 2, &h), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(
        tocsin_format_sign(&tocsin_format_pagerduty, &plain_hook, "id", 1, "{}", 2, &h), 0);
    assert_int_equal(h.n, 0);
}

/* A full list or a bad whsec_ secret fails the attempt instead of sending it unsigned. */
static void test_sign_errors(void **state)
{
    struct tocsin_webhook_conf bad = standard_hook;
    char *bad_secrets[] = {(char *)"whsec_!!!!"};
    struct tocsin_format_headers h = {.n = TOCSIN_FORMAT_HEADERS_MAX - 2};

    (void)state;
    assert_int_equal(
        tocsin_format_sign(&tocsin_format_pagerduty, &standard_hook, "id", 1, "{}", 2, &h),
        -ENOBUFS);
    h.n = TOCSIN_FORMAT_HEADERS_MAX - 1;
    assert_int_equal(
        tocsin_format_sign(&tocsin_format_statusstack, &rotating_hook, "id", 1, "{}", 2, &h),
        -ENOBUFS);
    bad.secrets = bad_secrets;
    bad.n_secrets = 1;
    h.n = 0;
    assert_int_equal(tocsin_format_sign(&tocsin_format_pagerduty, &bad, "id", 1, "{}", 2, &h),
                     -EINVAL);
}

/* RFC 4648 section 10 vectors, and the strictness the config check applies. */
static void test_base64(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                        "Zm9vYmFy"};
    static const char *const bad[] = {"", "Zg=", "Z===", "Zm9v!", "Zg==Zg==", "=Zg=", "Zm 9"};
    char out[16];
    unsigned char dec[16];

    (void)state;
    for (size_t i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        assert_int_equal(tocsin_base64_encode((const unsigned char *)plain[i], n, out),
                         strlen(coded[i]));
        assert_string_equal(out, coded[i]);
        if (n == 0)
            continue;
        assert_int_equal(tocsin_base64_decode(coded[i], dec, sizeof(dec)), (long)n);
        assert_memory_equal(dec, plain[i], n);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tocsin_base64_decode(bad[i], dec, sizeof(dec)), -EINVAL);
    assert_int_equal(tocsin_base64_decode("Zm9vYmFy", dec, 5), -ENOBUFS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_statuspage_partial_vs_major),
        cmocka_unit_test(test_pagerduty_summary_cut),
        cmocka_unit_test(test_pagerduty_severity_and_resolve),
        cmocka_unit_test(test_alertmanager_times),
        cmocka_unit_test(test_defaults_and_lookup),
        cmocka_unit_test(test_body_over_cap),
        cmocka_unit_test(test_standard_spec_vector),
        cmocka_unit_test(test_standard_headers_any_format),
        cmocka_unit_test(test_hex_rotation_every_format),
        cmocka_unit_test(test_unsigned_modes),
        cmocka_unit_test(test_sign_errors),
        cmocka_unit_test(test_base64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
