/* A monitor's state as it is kept in state_dir (DESIGN §4): status, counters,
 * levels sent, webhooks notified and `since`, as one JSON document per monitor
 * that names regions and webhooks rather than numbering them, so it survives a
 * config whose order changed.  Pure: no I/O; the store writes the text. */
#ifndef TOCSIN_PERSIST_H
#define TOCSIN_PERSIST_H

#include <stdint.h>

#include "tocsin/config.h"
#include "tocsin/monitor.h"

/* What must stay equal for a monitor to keep its state across a restart or a
 * reload: type, target, method and the set of regions (sorted), as
 * "sha256:<hex>" of e.g. "http GET https://api.example.com/health eu-a,us-b"
 * (hashed: a URL may carry credentials).  Malloc'd; NULL on ENOMEM. */
char *tocsin_persist_identity(const struct tocsin_config *config,
                              const struct tocsin_monitor_conf *monitor);

/* The JSON document of S (a state of MONITOR under CONFIG).  Malloc'd; NULL on ENOMEM. */
char *tocsin_persist_encode(const struct tocsin_config *config,
                            const struct tocsin_monitor_conf *monitor,
                            const struct tocsin_monitor_state *s);

/* Applies DOCUMENT onto S, freshly initialised for MONITOR under CONFIG: status,
 * incident, levels fired (at most the policy's levels), webhooks notified (by
 * name; one no longer configured is logged: its recovery cannot be sent) and
 * the region counters (by name), unless AGE_MS (how old the document is)
 * exceeds 2 x the monitor's interval: then the counters start from zero and
 * the status stays.  0, or -EINVAL for a document it cannot read (S unchanged). */
int tocsin_persist_decode(const struct tocsin_config *config,
                          const struct tocsin_monitor_conf *monitor,
                          struct tocsin_monitor_state *s, const char *document, int64_t age_ms);

/* A monitor whose stored state cannot be kept (gone from the config, or its
 * identity changed) but had an incident sent: emits, through EMIT, the
 * recovery each configured webhook that got the incident (and wants
 * recoveries) is owed.  The alert's monitor is rebuilt from the document (id
 * MONITOR_ID, name, type, url or host:port) and lives only during the call;
 * its check_result is UP at NOW_S with no status code, no response time and
 * no error_message, in the region the document names first.  Returns how many
 * were emitted, or -EINVAL / -ENOMEM. */
int tocsin_persist_owed_recoveries(const struct tocsin_config *config, const char *monitor_id,
                                   const char *document, int64_t now_s, tocsin_alert_cb emit,
                                   void *data);

#endif
