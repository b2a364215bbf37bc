/* libFuzzer target: the scalar parsers of the config (src/config/values.c:
 * durations, sizes, rates, INI escapes, slugs and ids, IP literals and DNS
 * servers, proxy URLs, URL redaction, base64, RFC 3339 timestamps, zone names),
 * base64 decoding (src/crypto.c), shard hashing, and the cron parser with
 * matching and window evaluation (src/maintenance.c).
 *
 * The input up to its first NUL is one string given to every parser; where two
 * parsers must agree, or a value must survive a round trip, that is checked. */
#include <errno.h>
#include <string.h>

#include "decode.h"
#include "fuzz.h"
#include "tocsin/config.h"
#include "tocsin/crypto.h"
#include "tocsin/json.h"
#include "tocsin/maintenance.h"

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void check_duration(const char *s)
{
    uint64_t ms = 0, again = 0;
    char buf[32];

    if (tocsin_config_parse_duration(s, &ms) != 0)
        return;
    FUZZ_CHECK(ms <= 3650ull * 86400000ull);
    tocsin_config_format_duration(ms, buf, sizeof(buf));
    FUZZ_CHECK(tocsin_config_parse_duration(buf, &again) == 0 && again == ms);
}

static void check_size_rate(const char *s)
{
    uint64_t bytes, period = 0;
    uint32_t n = 0;

    (void)tocsin_config_parse_size(s, &bytes);
    if (tocsin_config_parse_rate(s, &n, &period) == 0) {
        FUZZ_CHECK(n >= 1 && n <= TOCSIN_RATE_MAX);
        FUZZ_CHECK(period == 1000 || period == 60000 || period == 3600000);
    }
}

static void check_strings(const char *s, size_t len)
{
    char slug[TOCSIN_ID_MAX + 1], small[8], *out = malloc(len + 1);
    size_t olen = 0, bad = 0;
    int n;

    FUZZ_CHECK(out != NULL);
    if (tocsin_config_unescape(s, out, &olen, &bad) == 0)
        FUZZ_CHECK(olen <= len);
    else
        FUZZ_CHECK(bad < len && s[bad] == '\\');
    free(out);

    n = tocsin_config_slug(s, slug, sizeof(slug));
    if (n >= 0) {
        FUZZ_CHECK((size_t)n == strlen(slug) && tocsin_config_valid_id(slug));
        FUZZ_CHECK(slug[0] != '-' && slug[n - 1] != '-');
    }
    n = tocsin_config_slug(s, small, sizeof(small));
    FUZZ_CHECK(n < 0 || (size_t)n < sizeof(small));
    if (tocsin_config_valid_id(s)) {
        for (unsigned count = 1; count <= 4; count++) {
            unsigned k = tocsin_config_shard_of(s, count);

            FUZZ_CHECK(k >= 1 && k <= count);
        }
    }
}

static void check_network(const char *s)
{
    char buf[4096], tiny[5];
    int rc;

    (void)tocsin_config_ip_literal(s);
    (void)tocsin_config_dns_server(s);
    rc = tocsin_config_check_proxy(s);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EPROTONOSUPPORT);
    if (rc == 0)
        FUZZ_CHECK(strstr(s, "://") != NULL);
    tocsin_config_redact_url(s, buf, sizeof(buf));
    FUZZ_CHECK(strlen(buf) < sizeof(buf));
    tocsin_config_redact_url(s, tiny, sizeof(tiny));
    FUZZ_CHECK(strlen(tiny) < sizeof(tiny));
}

static void check_base64(const char *s, size_t len)
{
    long n = tocsin_config_base64_len(s), m;
    unsigned char *out = malloc(len + 1);

    FUZZ_CHECK(out != NULL);
    m = tocsin_base64_decode(s, out, len);
    /* The config validator and the decoder agree on what is base64. */
    FUZZ_CHECK(n < 0 ? m < 0 : m == n);
    if (m > 0) {
        char *again = malloc(TOCSIN_BASE64_SIZE((size_t)m));

        FUZZ_CHECK(again != NULL);
        /* Not byte for byte: non-zero padding bits are accepted ("AB==" is "AA=="). */
        FUZZ_CHECK(tocsin_base64_encode(out, (size_t)m, again) == len);
        free(again);
    }
    free(out);
}

static void check_timestamp(const char *s)
{
    int64_t t, again;
    char buf[32];

    if (tocsin_config_parse_timestamp(s, &t) != 0)
        return;
    /* Years 0001..9999 print and read back as the same instant. */
    if (t < INT64_C(-62135596800) || t > INT64_C(253402300799))
        return;
    tocsin_rfc3339(t, buf, sizeof(buf));
    FUZZ_CHECK(tocsin_config_parse_timestamp(buf, &again) == 0 && again == t);
}

static void check_cron(const char *s)
{
    static const char *const zones[] = { NULL, "UTC", "Europe/Berlin", "America/New_York" };
    struct tocsin_cron *cron = NULL;
    char err[256], tiny[16];
    uint64_t h = fnv1a(s);
    int rc;

    rc = tocsin_cron_parse(s, &cron, tiny, sizeof(tiny));
    FUZZ_CHECK(rc == 0 || memchr(tiny, '\0', sizeof(tiny)) != NULL);
    tocsin_cron_free(cron);
    cron = NULL;
    err[0] = 'x';
    rc = tocsin_cron_parse(s, &cron, err, sizeof(err));
    FUZZ_CHECK(rc == 0 ? cron != NULL : cron == NULL && err[0] != 'x' && strlen(err) > 0);
    if (rc != 0)
        return;
    /* Times across 1970..2100 and around the DST changes of the zones above. */
    int64_t times[] = { 0, 1711846800, 1730595600, (int64_t)(h % 4102444800u),
                        (int64_t)(h >> 32) * 60 };
    for (size_t z = 0; z < sizeof(zones) / sizeof(*zones); z++) {
        struct tocsin_maintenance_conf w = {
            .cron = cron,
            .duration_ms = (uint64_t)((h >> 8) % 200000) * 60000 + 60000,
            .timezone = (char *)zones[z],
        };

        for (size_t i = 0; i < sizeof(times) / sizeof(*times); i++) {
            bool match = tocsin_cron_matches(cron, zones[z], times[i] / 60 * 60);

            /* A window is in force at the very minute its cron matches. */
            if (match)
                FUZZ_CHECK(tocsin_maintenance_active(&w, times[i] / 60 * 60));
            else
                (void)tocsin_maintenance_active(&w, times[i]);
        }
    }
    tocsin_cron_free(cron);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    size_t len = strlen(s);

    check_duration(s);
    check_size_rate(s);
    check_strings(s, len);
    check_network(s);
    check_base64(s, len);
    check_timestamp(s);
    check_cron(s);
    if (len < 256)
        (void)tocsin_config_timezone_exists(s);
    free(s);
    return 0;
}
