/* libFuzzer target: every webhook format's body builder and signer, through the
 * format vtables (include/tocsin/format.h), on alerts with hostile monitor
 * names, ids, error messages, URLs, regions, webhook names and secrets.
 *
 * Input: a 12-byte header (flags, numbers; missing bytes are 0), then fields
 * separated by NUL bytes (a C string cannot hold one anyway):
 *   name, id, error message, url (host for TCP), region, webhook name,
 *   secret, old secret, routing key
 * A missing field takes a plain default, as a decoded config always has one.
 * Header byte 6 = 0xA0 + N blows field N up by repetition to
 * 64 * (byte 8 + 1) << (byte 7 % 8) bytes (64 B .. 2 MiB), so small inputs
 * reach the 1 MB body limit.
 *
 * Checked for every format, incident and recovery alike: the builder succeeds
 * (or says -EFBIG, only for an input that can exceed 1 MB); the body is
 * NUL-free, has no raw control character, parses with jansson and re-dumps with
 * JSON_COMPACT to exactly the same bytes (DESIGN §5); signing succeeds (a bad
 * whsec_ secret may be refused) and no header name or value holds a control
 * character or was cut; PagerDuty's summary stays within 1024 UTF-16 units. */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "tocsin/alert.h"
#include "tocsin/format.h"
#include "tocsin/result.h"
#include "utf16.h"

#define HEADER_BYTES 12
#define N_FIELDS 9
#define REQUEST_ID "00000000-0000-4000-8000-000000000000"

enum { F_NAME, F_ID, F_ERROR, F_URL, F_REGION, F_HOOK, F_SECRET, F_OLD_SECRET, F_ROUTING };

static const char *const defaults[N_FIELDS] = {
    "API Server", "mon_api", "connection refused", "https://api.example.com/health",
    "eu-central", "ops", NULL, NULL, "R0UT1NGKEY0000000000000000000000",
};

/* The field repeated to LEN bytes (a hostile pattern when it is empty). */
static char *blow_up(const char *s, size_t len)
{
    const char *pat = s && *s ? s : "\xc3\xa9\"\\\x01\xe2\x80\xae\xff\n";
    size_t plen = strlen(pat);
    char *out = malloc(len + 1);

    FUZZ_CHECK(out != NULL);
    for (size_t i = 0; i < len; i++)
        out[i] = pat[i % plen];
    out[len] = '\0';
    return out;
}

static void check_body(const struct tocsin_format *f, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root;
    char *again;

    FUZZ_CHECK(body != NULL && len > 0 && len <= TOCSIN_BODY_MAX);
    FUZZ_CHECK(strlen(body) == len);
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((unsigned char)body[i] >= 0x20);
    root = json_loadb(body, len, 0, &jerr);
    if (!root)
        fprintf(stderr, "%s: invalid JSON: %s at %d\n", f->name, jerr.text, jerr.position);
    FUZZ_CHECK(root != NULL);
    again = json_dumps(root, JSON_COMPACT);
    FUZZ_CHECK(again != NULL);
    if (strcmp(again, body) != 0)
        fprintf(stderr, "%s: body does not re-serialise to itself\n", f->name);
    FUZZ_CHECK(strcmp(again, body) == 0);
    free(again);
    if (strcmp(f->name, "pagerduty") == 0) {
        const char *summary = json_string_value(json_object_get(json_object_get(root, "payload"),
                                                                "summary"));

        FUZZ_CHECK(summary == NULL || test_utf16_units(summary) <= 1024);
    }
    json_decref(root);
}

static void check_headers(const struct tocsin_format_headers *h)
{
    FUZZ_CHECK(h->n <= TOCSIN_FORMAT_HEADERS_MAX);
    for (size_t i = 0; i < h->n; i++) {
        const char *name = h->items[i].name, *value = h->items[i].value;

        FUZZ_CHECK(name[0] != '\0' && strlen(name) < sizeof(h->items[i].name) - 1);
        FUZZ_CHECK(strlen(value) < sizeof(h->items[i].value) - 1);
        FUZZ_CHECK(strcspn(name, " :\t\r\n") == strlen(name));
        for (const unsigned char *p = (const unsigned char *)value; *p; p++)
            FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t hd[HEADER_BYTES] = { 0 };
    char *field[N_FIELDS] = { 0 }, *rest, *secrets[2];
    size_t n_fields = 0, total = 0, pos, rest_len, n_formats;
    const struct tocsin_format *const *formats = tocsin_formats(&n_formats);

    pos = size < HEADER_BYTES ? size : HEADER_BYTES;
    memcpy(hd, data, pos);
    rest_len = size - pos;
    rest = malloc(rest_len + 1);
    FUZZ_CHECK(rest != NULL);
    memcpy(rest, data + pos, rest_len);
    rest[rest_len] = '\0';
    for (size_t i = 0; rest_len > 0 && i <= rest_len && n_fields < N_FIELDS; n_fields++) {
        field[n_fields] = strdup(rest + i);
        FUZZ_CHECK(field[n_fields] != NULL);
        i += strlen(rest + i) + 1;
    }
    free(rest);
    /* Rare on purpose (a 1 MB run costs ~0.1 s): only when byte 6 is 0xA0 + field. */
    if ((hd[6] & 0xF0) == 0xA0 && (hd[6] & 0x0F) < N_FIELDS) {
        size_t k = hd[6] & 0x0F, len = ((size_t)hd[8] + 1) * 64 << (hd[7] % 8);
        char *big = blow_up(field[k], len);

        free(field[k]);
        field[k] = big;
    }
    for (size_t k = 0; k < N_FIELDS; k++) {
        if (!field[k] && defaults[k]) {
            field[k] = strdup(defaults[k]);
            FUZZ_CHECK(field[k] != NULL);
        }
        total += field[k] ? strlen(field[k]) : 0;
    }

    const bool tcp = hd[0] & 1, recovery = hd[0] & 2;
    const unsigned signing = (hd[0] >> 2) & 3;
    struct tocsin_monitor_conf monitor = {
        .id = field[F_ID],
        .name = field[F_NAME],
        .type = tcp ? TOCSIN_PROBE_TCP : TOCSIN_PROBE_HTTP,
        .url = tcp ? NULL : field[F_URL],
        .host = tcp ? field[F_URL] : NULL,
        .port = tcp ? 1 + hd[9] * 256 + hd[10] : 0,
    };
    size_t n_secrets = field[F_SECRET] ? 1 + (field[F_OLD_SECRET] != NULL) : 0;
    secrets[0] = field[F_SECRET];
    secrets[1] = field[F_OLD_SECRET];
    struct tocsin_webhook_conf webhook = {
        .name = field[F_HOOK],
        .url = (char *)"http://127.0.0.1:9/hook",
        .secret = field[F_SECRET],
        .secrets = n_secrets ? secrets : NULL,
        .n_secrets = n_secrets,
        .signing = signing == 1   ? TOCSIN_SIGNING_NONE
                   : signing == 2 ? TOCSIN_SIGNING_STANDARD
                                  : TOCSIN_SIGNING_DEFAULT,
        .routing_key = field[F_ROUTING],
    };
    /* Wall-clock times within a thousand years of 2024, either side. */
    int32_t shift = (int32_t)((uint32_t)hd[9] << 24 | (uint32_t)hd[10] << 16 | (uint32_t)hd[11] << 8) / 256;
    int64_t now = INT64_C(1705314620) + (int64_t)shift * 4000;
    struct tocsin_alert alert = {
        .monitor = &monitor,
        .region = field[F_REGION],
        .monitor_status = recovery ? TOCSIN_STATUS_UP : TOCSIN_STATUS_DOWN,
        .previous_status = recovery ? TOCSIN_STATUS_DOWN
                           : hd[0] & 64 ? TOCSIN_STATUS_UP
                                        : TOCSIN_STATUS_UNKNOWN,
        .consecutive_failures = hd[2],
        .notification_level = hd[1] % 8,
        .type = recovery ? TOCSIN_NOTIFY_RECOVERY : TOCSIN_NOTIFY_INCIDENT,
        .regions_total = 1 + hd[5] % 8,
        .incident_started = hd[0] & 128 ? now - 600 : 0,
    };
    alert.regions_down = hd[4] % (alert.regions_total + 1);
    alert.check_result.timestamp = now;
    alert.check_result.timestamp_ms = now * 1000;
    alert.check_result.response_time_ms = hd[3] * 37;
    alert.check_result.status_code = hd[0] & 32 ? 100 + hd[4] * 2 : 0;
    if (recovery) {
        alert.check_result.status = TOCSIN_STATUS_UP;
    } else {
        enum tocsin_error_kind kind = (enum tocsin_error_kind)(1 + hd[3] % TOCSIN_ERR_INTERNAL);

        tocsin_result_fail(&alert.check_result, kind, "%s", field[F_ERROR]);
        FUZZ_CHECK(strlen(alert.check_result.error_message) <= TOCSIN_ERROR_MESSAGE_MAX);
    }

    char url[64];
    tocsin_monitor_display_url(&monitor, url, sizeof(url));
    FUZZ_CHECK(strlen(url) < sizeof(url));

    for (size_t i = 0; i < n_formats; i++) {
        const struct tocsin_format *f = formats[i];
        struct tocsin_format_headers headers = { 0 };
        char *body = NULL;
        size_t len = 0;
        int rc;

        FUZZ_CHECK(tocsin_format_find(f->name) == f);
        rc = f->build_body(&alert, &webhook, &body, &len);
        /* A field shows up at most 3 times (pagerduty's id), each input byte at
         * most 3 bytes (U+FFFD; control characters become spaces, never \u0001). */
        if (total * 3 * 3 + 16384 < TOCSIN_BODY_MAX)
            FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(rc == 0 || rc == -EFBIG);
        if (rc != 0) {
            FUZZ_CHECK(body == NULL);
            continue;
        }
        check_body(f, body, len);
        rc = tocsin_format_sign(f, &webhook, REQUEST_ID, now, body, len, &headers);
        if (rc == -EINVAL)
            FUZZ_CHECK(webhook.signing == TOCSIN_SIGNING_STANDARD &&
                       ((secrets[0] && strncmp(secrets[0], "whsec_", 6) == 0) ||
                        (n_secrets > 1 && strncmp(secrets[1], "whsec_", 6) == 0)));
        else
            FUZZ_CHECK(rc == 0);
        check_headers(&headers);
        free(body);
    }
    for (size_t k = 0; k < N_FIELDS; k++)
        free(field[k]);
    return 0;
}
