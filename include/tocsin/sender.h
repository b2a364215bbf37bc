/* The webhook sender: its own curl multi on the loop (outside max_concurrency).
 * An alert is built into a body by its webhook's format, then sent once with a
 * fresh X-Request-ID, signed per attempt.  2xx is delivered; redirects are never
 * followed.  (Durable outbox, retries and rate limits: the alert delivery issue;
 * for now a failed send is logged, clearly.) */
#ifndef TOCSIN_SENDER_H
#define TOCSIN_SENDER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tocsin/alert.h"
#include "tocsin/config.h"
#include "tocsin/resolver.h"

struct tocsin_sender;

struct tocsin_sender_stats {
    uint64_t queued;
    uint64_t delivered;
    uint64_t failed;
    size_t in_flight;
};

/* What became of one delivery; for logs, tests and `test-webhook`. */
struct tocsin_delivery_report {
    size_t webhook;
    const char *request_id;
    long status_code;        /* 0 without an HTTP answer */
    int64_t latency_ms;
    bool delivered;
    const char *error;       /* human reason when not delivered */
};
typedef void (*tocsin_delivery_cb)(void *data, const struct tocsin_delivery_report *report);

/* RESOLVER looks up webhook hosts (curl never resolves). */
int tocsin_sender_new(uv_loop_t *loop, const struct tocsin_config *config,
                      struct tocsin_resolver *resolver, struct tocsin_sender **out);
/* Optional observer of every finished delivery. */
void tocsin_sender_on_delivery(struct tocsin_sender *s, tocsin_delivery_cb cb, void *data);
/* Builds ALERT's body now and starts sending it.  0 or -errno (logged). */
int tocsin_sender_send(struct tocsin_sender *s, const struct tocsin_alert *alert);
void tocsin_sender_stats(const struct tocsin_sender *s, struct tocsin_sender_stats *out);
/* Stops: waits for deliveries in flight up to DRAIN_MS, cancels the rest, closes
 * every handle, frees S, then calls ON_CLOSED (may be NULL). */
void tocsin_sender_close(struct tocsin_sender *s, uint64_t drain_ms,
                         void (*on_closed)(void *data), void *data);

#endif
