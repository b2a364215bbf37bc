/* One alert the monitor state machine decided: an incident or a recovery for one
 * webhook.  Formats turn it into a request body; the sender delivers it. */
#ifndef TOCSIN_ALERT_H
#define TOCSIN_ALERT_H

#include "tocsin/config.h"
#include "tocsin/result.h"

enum tocsin_notification { TOCSIN_NOTIFY_INCIDENT, TOCSIN_NOTIFY_RECOVERY };

struct tocsin_alert {
    const struct tocsin_monitor_conf *monitor;
    const char *region;               /* name of the region of check_result */
    struct tocsin_result check_result;
    enum tocsin_status monitor_status;   /* DOWN for an incident, UP for a recovery */
    enum tocsin_status previous_status;  /* before the incident; DOWN for a recovery */
    int consecutive_failures;
    int notification_level;
    enum tocsin_notification type;
    size_t webhook;                   /* index into tocsin_config.webhooks */
    int regions_down;                 /* regions whose last check failed */
    int regions_total;                /* regions the monitor runs in */
    int64_t incident_started;         /* Unix seconds the incident began (DOWN decided) */
};

const char *tocsin_notification_name(enum tocsin_notification type); /* "incident"|"recovery" */

#endif
