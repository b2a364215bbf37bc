/* One line per event on stderr: logfmt (default) or JSON.  Callers pass only
 * values that are safe to show; secrets never reach this module. */
#include "tocsin/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum tocsin_log_level log_min = TOCSIN_LOG_INFO;
static enum tocsin_log_format log_format = TOCSIN_LOG_LOGFMT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tocsin_log_setup(enum tocsin_log_level level, enum tocsin_log_format format)
{
    log_min = level;
    log_format = format;
}

/* Appends S to the line buffer, bounded; quotes for logfmt or JSON as needed. */
struct line {
    char buf[4096];
    size_t len;
};

static void put_char(struct line *l, char c)
{
    if (l->len + 1 < sizeof(l->buf))
        l->buf[l->len++] = c;
}

static void put_raw(struct line *l, const char *s)
{
    while (*s)
        put_char(l, *s++);
}

static bool needs_quotes(const char *s)
{
    if (*s == '\0')
        return true;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\')
            return true;
    return false;
}

static void put_escaped(struct line *l, const char *s)
{
    char hex[8];

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            put_char(l, '\\');
            put_char(l, (char)c);
        } else if (c == '\n') {
            put_raw(l, "\\n");
        } else if (c < 0x20) {
            snprintf(hex, sizeof(hex), "\\u%04x", c);
            put_raw(l, hex);
        } else {
            put_char(l, (char)c);
        }
    }
}

static void put_pair(struct line *l, const char *key, const char *value, bool first)
{
    if (log_format == TOCSIN_LOG_JSON) {
        put_raw(l, first ? "{\"" : ",\"");
        put_escaped(l, key);
        put_raw(l, "\":\"");
        put_escaped(l, value);
        put_char(l, '"');
        return;
    }
    if (!first)
        put_char(l, ' ');
    put_raw(l, key);
    put_char(l, '=');
    if (needs_quotes(value)) {
        put_char(l, '"');
        put_escaped(l, value);
        put_char(l, '"');
    } else {
        put_raw(l, value);
    }
}

void tocsin_log(enum tocsin_log_level level, const char *msg, ...)
{
    struct line l = {.len = 0};
    char ts[64];
    struct timespec now;
    struct tm tm;
    va_list ap;
    const char *key;

    if (level < log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             now.tv_nsec / 1000000L);
    put_pair(&l, "ts", ts, true);
    put_pair(&l, "level", level_names[level], false);
    put_pair(&l, "msg", msg, false);
    va_start(ap, msg);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        put_pair(&l, key, value ? value : "", false);
    }
    va_end(ap);
    if (log_format == TOCSIN_LOG_JSON)
        put_char(&l, '}');
    l.buf[l.len] = '\0';
    fprintf(stderr, "%s\n", l.buf);
}
