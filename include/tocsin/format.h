/* Webhook formats: one const vtable per receiver kind (src/formats/<name>.c). */
#ifndef TOCSIN_FORMAT_H
#define TOCSIN_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/alert.h"
#include "tocsin/config.h"
#include "tocsin/json.h"

/* Largest body any format may build (the seeds' 1 MB cap). */
#define TOCSIN_BODY_MAX (1024 * 1024)

/* 256: four space-separated Standard Webhooks signatures ("v1," + 44) fit. */
struct tocsin_header {
    char name[64];
    char value[256];
};

/* Headers a format adds to one attempt (signature, event name...): an event
 * header plus one signature header per secret (at most 4 while rotating), or
 * the three Standard Webhooks headers. */
#define TOCSIN_FORMAT_HEADERS_MAX 8
struct tocsin_format_headers {
    struct tocsin_header items[TOCSIN_FORMAT_HEADERS_MAX];
    size_t n;
};

struct tocsin_format {
    const char *name;
    /* Delivery defaults from the vendor's document (DESIGN §5). */
    uint64_t default_timeout_ms;
    uint64_t default_connect_timeout_ms;
    int default_retries;
    uint64_t default_retry_backoff_ms;
    /* Appended to each of webhook->urls (alertmanager: "/api/v2/alerts"); NULL = use url. */
    const char *url_suffix;
    /* The receiver forgets an alert it stops hearing about (alertmanager): the
     * sender re-posts every firing incident, rebuilt with check_result.timestamp
     * = now, every refire period until its recovery; re-posts are not stored. */
    bool refire;
    /* Builds the body for ALERT into a malloc'd NUL-terminated string (*body, *len).
     * Returns 0, -ENOMEM, or -EFBIG when over TOCSIN_BODY_MAX. */
    int (*build_body)(const struct tocsin_alert *alert, const struct tocsin_webhook_conf *webhook,
                      char **body, size_t *len);
    /* Adds the format's own headers for BODY: its event header (always) and its
     * vendor signature (only with signing: default and a secret).  Called through
     * tocsin_format_sign, never directly by the sender.  0 or -errno. */
    int (*sign)(const struct tocsin_webhook_conf *webhook, const char *request_id,
                const char *body, size_t len, struct tocsin_format_headers *out);
};

/* NULL when NAME is not a known format. */
const struct tocsin_format *tocsin_format_find(const char *name);
/* Every format, in DESIGN's order; *N is set to how many. */
const struct tocsin_format *const *tocsin_formats(size_t *n);

/* The headers one attempt carries beyond Content-Type, User-Agent and X-Request-ID:
 * FORMAT's own (event name, vendor signature), and with signing: standard the
 * Standard Webhooks webhook-id (= REQUEST_ID), webhook-timestamp (NOW, Unix
 * seconds of this attempt) and webhook-signature, for every format alike.
 * 0, -ENOBUFS (OUT full), -EINVAL (bad whsec_ secret), -ENOMEM or -EIO. */
int tocsin_format_sign(const struct tocsin_format *format,
                       const struct tocsin_webhook_conf *webhook, const char *request_id,
                       int64_t now, const char *body, size_t len,
                       struct tocsin_format_headers *out);

extern const struct tocsin_format tocsin_format_statuspageone;
extern const struct tocsin_format tocsin_format_statuspage;
extern const struct tocsin_format tocsin_format_betterstack;
extern const struct tocsin_format tocsin_format_atstatus;
extern const struct tocsin_format tocsin_format_statusstack;
extern const struct tocsin_format tocsin_format_pagerduty;
extern const struct tocsin_format tocsin_format_alertmanager;

/* ---- helpers the formats share (src/format.c) ---- */

/* The sign of a format that adds no headers (unsigned, no event header). */
int tocsin_format_no_headers(const struct tocsin_webhook_conf *webhook, const char *request_id,
                             const char *body, size_t len, struct tocsin_format_headers *out);

/* Appends NAME: VALUE to OUT.  0 or -ENOBUFS when OUT is full. */
int tocsin_format_add_header(struct tocsin_format_headers *out, const char *name,
                             const char *value);

/* With signing: default, one "PREFIX<hex HMAC-SHA256(secret, body)>" per secret:
 * the newest (secrets[0]) under HEADER, each older one under HEADER-2, HEADER-3...
 * (docs/decisions.md "Formats": why not the same header twice).  No-op without
 * a secret or with another signing mode. */
int tocsin_format_hex_signatures(const struct tocsin_webhook_conf *webhook, const char *header,
                                 const char *prefix, const char *body, size_t len,
                                 struct tocsin_format_headers *out);

/* The three Standard Webhooks headers, one space-separated "v1,..." per secret. */
int tocsin_standard_webhooks_headers(const struct tocsin_webhook_conf *webhook,
                                     const char *request_id, int64_t now, const char *body,
                                     size_t len, struct tocsin_format_headers *out);

/* Sets KEY to VALUE in OBJ in insertion order; jansson takes VALUE even on failure,
 * so a NULL VALUE (failed allocation) becomes -1 without leaks. */
int tocsin_format_put(json_t *obj, const char *key, json_t *value);

/* OBJ, or NULL (OBJ released) when ERR is set: the end of every object builder. */
json_t *tocsin_format_object(json_t *obj, int err);

/* Dumps ROOT (released here) into *BODY, *LEN unless ERR.  0, -ENOMEM or -EFBIG. */
int tocsin_format_finish(json_t *root, int err, char **body, size_t *len);

/* RFC 3339 UTC string for Unix seconds T. */
json_t *tocsin_format_time(int64_t t);

/* The monitor's display URL (tocsin_monitor_display_url) as a cleaned string. */
json_t *tocsin_format_url(const struct tocsin_monitor_conf *monitor);

/* The "meta" object of the status-page formats (statuspage, betterstack):
 * unsubscribe and documentation links, empty since tocsin has no subscription
 * pages; the keys stay so their parsers find them.  NULL on ENOMEM. */
json_t *tocsin_format_meta(void);

/* {"id", "name", "slug"} all naming webhook W: the page or stack object of the
 * formats whose receiver knows tocsin by the webhook (atstatus, statusstack). */
json_t *tocsin_format_webhook_object(const struct tocsin_webhook_conf *w);

/* True for a DOWN alert every region agrees on (or whose split is unknown):
 * status pages show a major outage then, a partial one when some regions fail. */
bool tocsin_alert_all_regions_down(const struct tocsin_alert *alert);

/* level 1 "warning", 2 "error", 3+ "critical" (PagerDuty, Alertmanager). */
const char *tocsin_alert_severity(const struct tocsin_alert *alert);

/* The alert's error message (DOWN) or "" (UP): never a stale message on recovery. */
const char *tocsin_alert_error(const struct tocsin_alert *alert);

/* The URL a monitor shows in alerts: its url, or "tcp://host:port" (IPv6 in brackets). */
void tocsin_monitor_display_url(const struct tocsin_monitor_conf *monitor, char *buf, size_t size);

#endif
