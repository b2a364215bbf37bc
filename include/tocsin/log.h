/* Logging: one line per event on stderr, logfmt or JSON; never secrets. */
#ifndef TOCSIN_LOG_H
#define TOCSIN_LOG_H

#include "tocsin/config.h"

void tocsin_log_setup(enum tocsin_log_level level, enum tocsin_log_format format);

/* MSG is the event; the variadic part is NULL-terminated key, value string pairs:
 *   tocsin_log(TOCSIN_LOG_WARN, "delivery failed", "webhook", w->name, "error", err, NULL);
 * Values are quoted/escaped as the format needs. */
void tocsin_log(enum tocsin_log_level level, const char *msg, ...);

#define tocsin_debug(...) tocsin_log(TOCSIN_LOG_DEBUG, __VA_ARGS__, NULL)
#define tocsin_info(...) tocsin_log(TOCSIN_LOG_INFO, __VA_ARGS__, NULL)
#define tocsin_warn(...) tocsin_log(TOCSIN_LOG_WARN, __VA_ARGS__, NULL)
#define tocsin_error(...) tocsin_log(TOCSIN_LOG_ERROR, __VA_ARGS__, NULL)

#endif
