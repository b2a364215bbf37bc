/* Logging: one line per event on stderr, logfmt or JSON; never secrets. */
#ifndef TOCSIN_LOG_H
#define TOCSIN_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "tocsin/config.h"

/* The same line (all but its timestamp) is written at most BURST times per
 * WINDOW; the rest are counted into one "log lines suppressed" line. */
#define TOCSIN_LOG_REPEAT_BURST 10u
#define TOCSIN_LOG_REPEAT_WINDOW_MS 60000u

void tocsin_log_setup(enum tocsin_log_level level, enum tocsin_log_format format);

/* MSG is the event; the variadic part is NULL-terminated key, value string pairs:
 *   tocsin_log(TOCSIN_LOG_WARN, "delivery failed", "webhook", w->name, "error", err, NULL);
 * Values are quoted/escaped as the format needs. */
void tocsin_log(enum tocsin_log_level level, const char *msg, ...);

/* Whether a line at LEVEL would be written: callers skip formatting values
 * for lines nobody reads (a debug line per check). */
bool tocsin_log_enabled(enum tocsin_log_level level);

/* Tests shorten the window; setting it forgets what was counted. */
void tocsin_log_setup_repeats(unsigned burst, uint64_t window_ms);

/* Reports the suppressed counts now (at exit: nothing goes unsaid). */
void tocsin_log_flush_repeats(void);

#define tocsin_debug(...) tocsin_log(TOCSIN_LOG_DEBUG, __VA_ARGS__, NULL)
#define tocsin_info(...) tocsin_log(TOCSIN_LOG_INFO, __VA_ARGS__, NULL)
#define tocsin_warn(...) tocsin_log(TOCSIN_LOG_WARN, __VA_ARGS__, NULL)
#define tocsin_error(...) tocsin_log(TOCSIN_LOG_ERROR, __VA_ARGS__, NULL)

#endif
