/* Names of statuses and error kinds, and the one way to mark a result failed. */
#include "tocsin/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const status_names[] = {
    [TOCSIN_STATUS_UNKNOWN] = "UNKNOWN",
    [TOCSIN_STATUS_UP] = "UP",
    [TOCSIN_STATUS_DOWN] = "DOWN",
};

static const char *const error_kind_names[] = {
    [TOCSIN_ERR_NONE] = "",          [TOCSIN_ERR_TIMEOUT] = "timeout",
    [TOCSIN_ERR_REFUSED] = "refused", [TOCSIN_ERR_DNS] = "dns",
    [TOCSIN_ERR_TLS] = "tls",         [TOCSIN_ERR_STATUS] = "status",
    [TOCSIN_ERR_BODY] = "body",       [TOCSIN_ERR_HEADER] = "header",
    [TOCSIN_ERR_SLOW] = "slow",       [TOCSIN_ERR_CERT] = "cert",
    [TOCSIN_ERR_RESET] = "reset",     [TOCSIN_ERR_EXPECT] = "expect",
    [TOCSIN_ERR_INTERNAL] = "internal",
};

const char *tocsin_status_name(enum tocsin_status status)
{
    if ((size_t)status >= sizeof(status_names) / sizeof(status_names[0]))
        return "UNKNOWN";
    return status_names[status];
}

const char *tocsin_error_kind_name(enum tocsin_error_kind kind)
{
    if ((size_t)kind >= sizeof(error_kind_names) / sizeof(error_kind_names[0]))
        return "internal";
    return error_kind_names[kind];
}

/* Cuts S to at most MAX bytes without splitting a UTF-8 sequence. */
static void cut_utf8(char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max)
        return;
    len = max;
    /* Step back over continuation bytes to the start of the cut character. */
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    s[len] = '\0';
}

void tocsin_result_fail(struct tocsin_result *result, enum tocsin_error_kind kind,
                        const char *fmt, ...)
{
    char buf[TOCSIN_ERROR_MESSAGE_MAX * 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cut_utf8(buf, TOCSIN_ERROR_MESSAGE_MAX);
    memcpy(result->error_message, buf, strlen(buf) + 1);
    result->status = TOCSIN_STATUS_DOWN;
    result->error_kind = kind;
}

void tocsin_result_stamp(struct tocsin_result *result)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    result->timestamp = (int64_t)ts.tv_sec;
    result->timestamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
