/* Maintenance windows (DESIGN §4): a small 5-field cron parser (Debian has no
 * cron library) and the question "is this monitor in a window at time T?".
 * Pure: no clock of its own, no I/O. */
#ifndef TOCSIN_MAINTENANCE_H
#define TOCSIN_MAINTENANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/config.h"

/* Parses "MIN HOUR DOM MON DOW" (numbers, *, ranges a-b, steps "*" + "/n" and a-b/n,
 * lists, month and weekday names JAN..DEC / SUN..SAT, 0 and 7 both Sunday; as
 * in Vixie cron, when both DOM and DOW are restricted a day matches either).
 * Returns 0 and *OUT, or -EINVAL with a message in ERR. */
int tocsin_cron_parse(const char *text, struct tocsin_cron **out, char *err, size_t err_size);
void tocsin_cron_free(struct tocsin_cron *cron);

/* True when the wall-clock minute of Unix time T, in TIMEZONE (NULL = local),
 * matches CRON.  DST as cron does it: a minute that does not exist that day is
 * skipped, one that happens twice matches twice. */
bool tocsin_cron_matches(const struct tocsin_cron *cron, const char *tz_name, int64_t t);

/* True when T falls in window W: a one-off [start, end), or a cron start at or
 * before T whose duration has not passed. */
bool tocsin_maintenance_active(const struct tocsin_maintenance_conf *w, int64_t t);

/* True when T falls in any of the monitor's windows. */
bool tocsin_monitor_in_maintenance(const struct tocsin_monitor_conf *m, int64_t t);

#endif
