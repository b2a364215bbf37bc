/* Webhook formats: one const vtable per receiver kind (src/formats/<name>.c). */
#ifndef TOCSIN_FORMAT_H
#define TOCSIN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "tocsin/alert.h"
#include "tocsin/config.h"

/* Largest body any format may build (the seeds' 1 MB cap). */
#define TOCSIN_BODY_MAX (1024 * 1024)

struct tocsin_header {
    char name[64];
    char value[192];
};

/* Headers a format adds to one attempt (signature, event name...). */
#define TOCSIN_FORMAT_HEADERS_MAX 4
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
    /* Builds the body for ALERT into a malloc'd NUL-terminated string (*body, *len).
     * Returns 0, -ENOMEM, or -EFBIG when over TOCSIN_BODY_MAX. */
    int (*build_body)(const struct tocsin_alert *alert, const struct tocsin_webhook_conf *webhook,
                      char **body, size_t *len);
    /* Adds the format's own headers (signature per attempt) for BODY.  0 or -errno. */
    int (*sign)(const struct tocsin_webhook_conf *webhook, const char *request_id,
                const char *body, size_t len, struct tocsin_format_headers *out);
};

/* NULL when NAME is not a known format. */
const struct tocsin_format *tocsin_format_find(const char *name);

extern const struct tocsin_format tocsin_format_statuspageone;

/* The URL a monitor shows in alerts: its url, or "tcp://host:port" (IPv6 in brackets). */
void tocsin_monitor_display_url(const struct tocsin_monitor_conf *monitor, char *buf, size_t size);

#endif
