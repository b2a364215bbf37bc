/* The statuspageone format: golden bodies, signatures, and the shared helpers
 * (HMAC, UUIDv4, display URL, format lookup).
 *
 * Fixtures live in tests/fixtures/statuspageone/NAME.json (the exact body, no
 * trailing newline) and NAME.sig (the X-StatusPageOne-Signature value for
 * SECRET); tests/node_fixtures.sh checks the same files with the seed's own
 * Node.js validator.  TOCSIN_UPDATE_FIXTURES=1 rewrites them (review the diff). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "receiver.h"
#include "tocsin/crypto.h"
#include "tocsin/format.h"

#define SECRET "tocsin-test-secret"
#define FIXTURES TOCSIN_SOURCE_DIR "/tests/fixtures/statuspageone/"

static const struct tocsin_format *const fmt = &tocsin_format_statuspageone;

static struct tocsin_webhook_conf signed_webhook = {
    .name = (char *)"ops",
    .url = (char *)"http://127.0.0.1:9/hook",
    .format = (char *)"statuspageone",
    .secret = (char *)SECRET,
    .signing = TOCSIN_SIGNING_DEFAULT,
};

static struct tocsin_monitor_conf http_monitor = {
    .id = (char *)"mon_api",
    .name = (char *)"API Server",
    .type = TOCSIN_PROBE_HTTP,
    .url = (char *)"https://api.example.com/health",
};

static struct tocsin_monitor_conf tcp_monitor = {
    .id = (char *)"db",
    .name = (char *)"Database",
    .type = TOCSIN_PROBE_TCP,
    .host = (char *)"127.0.0.1",
    .port = 5432,
};

/* Quotes, a slash, a tab, an escape sequence, a lone continuation byte, an
 * overlong '/', a surrogate, a truncated sequence and valid non-ASCII text. */
static struct tocsin_monitor_conf odd_monitor = {
    .id = (char *)"cafe.api",
    .name = (char *)"Caf\xc3\xa9 \xe2\x98\x95 \"API\"/v2\t\x1b[1m\x7f \x80 \xc0\xaf \xed\xa0\x80 \xe2\x82",
    .type = TOCSIN_PROBE_HTTP,
    .url = (char *)"https://xn--caf-dma.example/\xc3\xa9t\xc3\xa9?q=1&r=\xff",
};

static struct tocsin_alert base_alert(const struct tocsin_monitor_conf *m, enum tocsin_status s)
{
    struct tocsin_alert a;

    memset(&a, 0, sizeof(a));
    a.monitor = m;
    a.region = "eu-central";
    a.check_result.status = s;
    a.check_result.timestamp = 1705314615; /* 2024-01-15T10:30:15Z, as in the seed */
    a.monitor_status = s;
    a.notification_level = 1;
    if (s == TOCSIN_STATUS_DOWN) {
        a.previous_status = TOCSIN_STATUS_UP;
        a.consecutive_failures = 3;
        a.type = TOCSIN_NOTIFY_INCIDENT;
    } else {
        a.previous_status = TOCSIN_STATUS_DOWN;
        a.type = TOCSIN_NOTIFY_RECOVERY;
    }
    return a;
}

static struct tocsin_alert incident_http_503(void)
{
    struct tocsin_alert a = base_alert(&http_monitor, TOCSIN_STATUS_DOWN);

    a.check_result.error_kind = TOCSIN_ERR_STATUS;
    snprintf(a.check_result.error_message, sizeof(a.check_result.error_message),
             "HTTP 503, expected 200-299");
    a.check_result.status_code = 503;
    a.check_result.response_time_ms = 87;
    return a;
}

static struct tocsin_alert incident_tcp_refused(void)
{
    struct tocsin_alert a = base_alert(&tcp_monitor, TOCSIN_STATUS_DOWN);

    a.previous_status = TOCSIN_STATUS_UNKNOWN;
    a.consecutive_failures = 5;
    a.notification_level = 2;
    a.check_result.error_kind = TOCSIN_ERR_REFUSED;
    snprintf(a.check_result.error_message, sizeof(a.check_result.error_message),
             "connect to 127.0.0.1:5432: Connection refused");
    a.check_result.response_time_ms = 1;
    return a;
}

static struct tocsin_alert recovery_http_200(void)
{
    struct tocsin_alert a = base_alert(&http_monitor, TOCSIN_STATUS_UP);

    a.check_result.timestamp = 1705315350; /* 10:42:30Z, as in the seed */
    a.check_result.status_code = 200;
    a.check_result.response_time_ms = 245;
    /* Left over from a failure: must not appear in an UP check_result. */
    snprintf(a.check_result.error_message, sizeof(a.check_result.error_message), "stale");
    return a;
}

static struct tocsin_alert unicode_name(void)
{
    struct tocsin_alert a = base_alert(&odd_monitor, TOCSIN_STATUS_DOWN);

    a.region = "eu-\xc3\xa9\x01";
    a.check_result.error_kind = TOCSIN_ERR_BODY;
    snprintf(a.check_result.error_message, sizeof(a.check_result.error_message),
             "body lacks \"ok\": got <h1>\xe2\x9c\x97</h1>\r\n\x02\xfe");
    a.check_result.status_code = 200;
    a.check_result.response_time_ms = 12;
    return a;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

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

static void fixture_path(char *buf, size_t size, const char *name, const char *ext)
{
    snprintf(buf, size, FIXTURES "%s.%s", name, ext);
}

/* Builds ALERT, signs it, and compares body and signature with the fixture. */
static void check_golden(const char *name, struct tocsin_alert alert)
{
    struct tocsin_format_headers h = {.n = 0};
    char path[1024], *body = NULL, *want, *sig;
    size_t len = 0, want_len = 0, sig_len = 0;

    assert_int_equal(fmt->build_body(&alert, &signed_webhook, &body, &len), 0);
    assert_int_equal(strlen(body), len);
    assert_int_equal(fmt->sign(&signed_webhook, "00000000-0000-4000-8000-000000000000", body, len,
                               &h),
                     0);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.items[0].name, "X-StatusPageOne-Signature");
    assert_true(test_verify_signature(SECRET, body, len, h.items[0].value));
    assert_false(test_verify_signature("other-secret", body, len, h.items[0].value));

    if (getenv("TOCSIN_UPDATE_FIXTURES") != NULL) {
        fixture_path(path, sizeof(path), name, "json");
        spit(path, body, len);
        fixture_path(path, sizeof(path), name, "sig");
        spit(path, h.items[0].value, strlen(h.items[0].value));
    }

    fixture_path(path, sizeof(path), name, "json");
    want = slurp(path, &want_len);
    assert_non_null(want);
    if (want_len != len || memcmp(want, body, len) != 0)
        fail_msg("%s differs:\n got: %s\nwant: %s", name, body, want);
    fixture_path(path, sizeof(path), name, "sig");
    sig = slurp(path, &sig_len);
    assert_non_null(sig);
    while (sig_len > 0 && (sig[sig_len - 1] == '\n' || sig[sig_len - 1] == '\r'))
        sig[--sig_len] = '\0';
    assert_string_equal(sig, h.items[0].value);
    /* The stored signature verifies over the stored body on its own, too. */
    assert_true(test_verify_signature(SECRET, want, want_len, sig));
    free(sig);
    free(want);
    free(body);
}

static void test_golden_incident_http_503(void **state)
{
    (void)state;
    check_golden("incident_http_503", incident_http_503());
}

static void test_golden_incident_tcp_refused(void **state)
{
    (void)state;
    check_golden("incident_tcp_refused", incident_tcp_refused());
}

static void test_golden_recovery_http_200(void **state)
{
    (void)state;
    check_golden("recovery_http_200", recovery_http_200());
}

static void test_golden_unicode_name(void **state)
{
    (void)state;
    check_golden("unicode_name", unicode_name());
}

static void test_unsigned_webhooks_add_no_header(void **state)
{
    struct tocsin_webhook_conf none = signed_webhook, no_secret = signed_webhook;
    struct tocsin_format_headers h = {.n = 0};
    struct tocsin_alert a = incident_http_503();
    char *body = NULL;
    size_t len = 0;

    (void)state;
    none.signing = TOCSIN_SIGNING_NONE;
    no_secret.secret = NULL;
    assert_int_equal(fmt->build_body(&a, &none, &body, &len), 0);
    assert_int_equal(fmt->sign(&none, "id", body, len, &h), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(fmt->sign(&no_secret, "id", body, len, &h), 0);
    assert_int_equal(h.n, 0);
    free(body);
}

static void test_sign_full_header_list(void **state)
{
    struct tocsin_format_headers h = {.n = TOCSIN_FORMAT_HEADERS_MAX};

    (void)state;
    assert_int_equal(fmt->sign(&signed_webhook, "id", "{}", 2, &h), -ENOBUFS);
    assert_int_equal(h.n, TOCSIN_FORMAT_HEADERS_MAX);
}

static void test_body_over_cap(void **state)
{
    struct tocsin_monitor_conf big = http_monitor;
    struct tocsin_alert a;
    char *name, *body = (char *)1;
    size_t len = 7;

    (void)state;
    name = malloc(TOCSIN_BODY_MAX + 1);
    assert_non_null(name);
    memset(name, 'x', TOCSIN_BODY_MAX);
    name[TOCSIN_BODY_MAX] = '\0';
    big.name = name;
    a = base_alert(&big, TOCSIN_STATUS_DOWN);
    assert_int_equal(fmt->build_body(&a, &signed_webhook, &body, &len), -EFBIG);
    assert_null(body);
    assert_int_equal(len, 0);
    free(name);
}

static void test_format_lookup(void **state)
{
    (void)state;
    assert_ptr_equal(tocsin_format_find("statuspageone"), &tocsin_format_statuspageone);
    assert_null(tocsin_format_find("StatusPageOne"));
    assert_null(tocsin_format_find("nope"));
    assert_null(tocsin_format_find(NULL));
    assert_int_equal(fmt->default_timeout_ms, 30000);
    assert_string_equal(tocsin_notification_name(TOCSIN_NOTIFY_INCIDENT), "incident");
    assert_string_equal(tocsin_notification_name(TOCSIN_NOTIFY_RECOVERY), "recovery");
}

static void test_display_url(void **state)
{
    struct tocsin_monitor_conf m = tcp_monitor;
    char buf[128];

    (void)state;
    tocsin_monitor_display_url(&m, buf, sizeof(buf));
    assert_string_equal(buf, "tcp://127.0.0.1:5432");
    m.host = (char *)"::1";
    tocsin_monitor_display_url(&m, buf, sizeof(buf));
    assert_string_equal(buf, "tcp://[::1]:5432");
    m.host = (char *)"db.internal";
    m.port = 6379;
    tocsin_monitor_display_url(&m, buf, sizeof(buf));
    assert_string_equal(buf, "tcp://db.internal:6379");
    tocsin_monitor_display_url(&http_monitor, buf, sizeof(buf));
    assert_string_equal(buf, "https://api.example.com/health");
    tocsin_monitor_display_url(&http_monitor, buf, 9); /* truncates, stays terminated */
    assert_string_equal(buf, "https://");
    /* Credentials in a monitor's URL never leave in a payload or the API. */
    struct tocsin_monitor_conf with_auth = http_monitor;
    with_auth.url = (char *)"https://probe:s3cret@api.example.com/health?x=1";
    tocsin_monitor_display_url(&with_auth, buf, sizeof(buf));
    assert_string_equal(buf, "https://<redacted>@api.example.com/health?x=1");
}

/* RFC 4231 test case 2. */
static void test_hmac_known_answer(void **state)
{
    const char *data = "what do ya want for nothing?";
    char hex[65];

    (void)state;
    assert_int_equal(tocsin_hmac_sha256_hex("Jefe", 4, data, strlen(data), hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* The empty key is a valid HMAC key (OpenSSL needs a non-NULL pointer). */
    assert_int_equal(tocsin_hmac_sha256_hex("", 0, "", 0, hex), 0);
    assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_uuid4(void **state)
{
    char a[37], b[37];
    int i, round;

    (void)state;
    for (round = 0; round < 100; round++) {
        assert_int_equal(tocsin_uuid4(a), 0);
        assert_int_equal(strlen(a), 36);
        for (i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(a[i], '-');
            else
                assert_true(is_hex(a[i]));
        }
        assert_int_equal(a[14], '4');                 /* version */
        assert_non_null(strchr("89ab", a[19]));       /* variant 10xx */
    }
    assert_int_equal(tocsin_uuid4(b), 0);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_incident_http_503),
        cmocka_unit_test(test_golden_incident_tcp_refused),
        cmocka_unit_test(test_golden_recovery_http_200),
        cmocka_unit_test(test_golden_unicode_name),
        cmocka_unit_test(test_unsigned_webhooks_add_no_header),
        cmocka_unit_test(test_sign_full_header_list),
        cmocka_unit_test(test_body_over_cap),
        cmocka_unit_test(test_format_lookup),
        cmocka_unit_test(test_display_url),
        cmocka_unit_test(test_hmac_known_answer),
        cmocka_unit_test(test_uuid4),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
