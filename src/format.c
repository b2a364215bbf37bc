/* Webhook format registry and the helpers every format shares. */
#include "tocsin/format.h"

#include <stdio.h>
#include <string.h>

/* One entry per src/formats/<name>.c; the config validator and the sender look
 * formats up here by name, never with a switch. */
static const struct tocsin_format *const formats[] = {
    &tocsin_format_statuspageone,
};

const struct tocsin_format *tocsin_format_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(formats[i]->name, name) == 0)
            return formats[i];
    }
    return NULL;
}

void tocsin_monitor_display_url(const struct tocsin_monitor_conf *monitor, char *buf, size_t size)
{
    const char *host;

    if (size == 0)
        return;
    if (monitor->type != TOCSIN_PROBE_TCP) {
        snprintf(buf, size, "%s", monitor->url ? monitor->url : "");
        return;
    }
    host = monitor->host ? monitor->host : "";
    /* An IPv6 literal needs brackets to keep its colons apart from the port. */
    if (strchr(host, ':') != NULL && host[0] != '[')
        snprintf(buf, size, "tcp://[%s]:%d", host, monitor->port);
    else
        snprintf(buf, size, "tcp://%s:%d", host, monitor->port);
}

const char *tocsin_notification_name(enum tocsin_notification type)
{
    return type == TOCSIN_NOTIFY_RECOVERY ? "recovery" : "incident";
}
