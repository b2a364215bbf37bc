/* The outcome of one check: one (monitor, region) probe (DESIGN §4). */
#ifndef TOCSIN_RESULT_H
#define TOCSIN_RESULT_H

#include <stddef.h>
#include <stdint.h>

enum tocsin_status { TOCSIN_STATUS_UNKNOWN, TOCSIN_STATUS_UP, TOCSIN_STATUS_DOWN };

enum tocsin_error_kind {
    TOCSIN_ERR_NONE,
    TOCSIN_ERR_TIMEOUT,
    TOCSIN_ERR_REFUSED,
    TOCSIN_ERR_DNS,
    TOCSIN_ERR_TLS,
    TOCSIN_ERR_STATUS,
    TOCSIN_ERR_BODY,
    TOCSIN_ERR_HEADER,
    TOCSIN_ERR_SLOW,
    TOCSIN_ERR_CERT,
    TOCSIN_ERR_RESET,
    TOCSIN_ERR_EXPECT,
    TOCSIN_ERR_INTERNAL,
};

/* error_message is at most 512 bytes, cut on a UTF-8 character boundary. */
#define TOCSIN_ERROR_MESSAGE_MAX 512

/* Phase durations in milliseconds; -1 when the phase did not happen. */
struct tocsin_timings {
    int64_t dns_ms;
    int64_t connect_ms;
    int64_t tls_ms;
    int64_t first_byte_ms;
    int64_t total_ms;
};

struct tocsin_result {
    enum tocsin_status status;        /* UP or DOWN */
    enum tocsin_error_kind error_kind; /* NONE when UP */
    char error_message[TOCSIN_ERROR_MESSAGE_MAX + 1];
    int status_code;                  /* HTTP status; 0 = no HTTP answer (null) */
    int64_t response_time_ms;         /* = total_ms; on timeout: the timeout */
    struct tocsin_timings timings;
    int64_t timestamp;                /* wall clock at completion, Unix seconds */
    int64_t timestamp_ms;             /* the same instant in ms (repeat timing); 0 = unset */
    size_t region;                    /* index into tocsin_config.regions */
};

/* Sets RESULT's timestamp and timestamp_ms to now (wall clock). */
void tocsin_result_stamp(struct tocsin_result *result);

const char *tocsin_status_name(enum tocsin_status status);       /* "UP", "DOWN", "UNKNOWN" */
const char *tocsin_error_kind_name(enum tocsin_error_kind kind); /* "timeout", ...; "" for NONE */

/* Marks RESULT DOWN with KIND and a printf-style message, truncated safely. */
void tocsin_result_fail(struct tocsin_result *result, enum tocsin_error_kind kind,
                        const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
