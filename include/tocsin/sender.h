/* The webhook sender: its own curl multi on the loop (outside max_concurrency).
 *
 * An alert is built into a body by its webhook's format, given a request id,
 * committed to the outbox (when there is a store) and only then sent; signatures
 * are made per attempt.  Per webhook: at most 16 requests in flight, one per
 * (webhook, monitor) so a recovery never overtakes its incident, a sliding-window
 * rate limit, retries with doubling backoff (+-20% jitter, capped at 1 h) that
 * honour Retry-After, a 429 pausing the whole webhook, and dead letters that are
 * kept and re-sent once the webhook answers 2xx again (DESIGN §5). */
#ifndef TOCSIN_SENDER_H
#define TOCSIN_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tocsin/alert.h"
#include "tocsin/config.h"
#include "tocsin/resolver.h"
#include "tocsin/store.h"

struct tocsin_sender;

struct tocsin_sender_stats {
    uint64_t queued;       /* deliveries created (or loaded from the outbox) */
    uint64_t delivered;
    uint64_t retried;      /* attempts that failed and were rescheduled */
    uint64_t dead;         /* deliveries that became dead letters */
    uint64_t attempts;
    size_t in_flight;
    size_t waiting;        /* queued, not in flight, not dead */
    size_t dead_now;       /* dead letters held */
    size_t unstored;       /* kept in memory because the outbox commit failed */
    uint64_t resent;       /* re-posts of firing alerts (format.refire), never stored */
};

/* What became of one attempt; for logs, tests and `test-webhook`. */
struct tocsin_delivery_report {
    size_t webhook;
    const char *request_id;
    const char *monitor;
    int attempt;             /* 1 for the first */
    long status_code;        /* 0 without an HTTP answer */
    int64_t latency_ms;
    bool delivered;
    bool will_retry;
    int64_t retry_in_ms;     /* when will_retry */
    const char *error;       /* human reason when not delivered */
    const char *response;    /* the first bytes of the answer's body (at most 256), "" if none */
};
typedef void (*tocsin_delivery_cb)(void *data, const struct tocsin_delivery_report *report);

/* RESOLVER looks up webhook hosts (curl never resolves).  STORE may be NULL (no
 * durability: `tocsin test-webhook`); with a store, rows left by an earlier run
 * are loaded and sent again under their original request ids. */
int tocsin_sender_new(uv_loop_t *loop, const struct tocsin_config *config,
                      struct tocsin_resolver *resolver, struct tocsin_store *store,
                      struct tocsin_sender **out);
/* Optional observer of every finished attempt. */
void tocsin_sender_on_delivery(struct tocsin_sender *s, tocsin_delivery_cb cb, void *data);
/* Builds ALERT's body now and queues it (one delivery per URL).  0 or -errno (logged).
 * For a format with `refire` it also keeps an incident as its monitor's firing
 * alert, and a recovery ends it (see tocsin_sender_set_refire_ms). */
int tocsin_sender_send(struct tocsin_sender *s, const struct tocsin_alert *alert);
/* The period of the re-posts of firing alerts for formats with `refire`
 * (alertmanager): 60 s unless set; 0 turns them off.  Each re-post is built
 * afresh, gets its own request id, goes once to every URL of the webhook and is
 * neither stored nor retried (a failed one is logged at debug level: the next
 * period tries again).  A recovery ends them for its monitor. */
#define TOCSIN_REFIRE_MS 60000u
void tocsin_sender_set_refire_ms(struct tocsin_sender *s, uint64_t ms);
void tocsin_sender_stats(const struct tocsin_sender *s, struct tocsin_sender_stats *out);

/* How the attempts of webhook W (its config index) ended, since S started. */
enum tocsin_outcome { TOCSIN_OUTCOME_DELIVERED, TOCSIN_OUTCOME_RETRY, TOCSIN_OUTCOME_DEAD,
                      TOCSIN_OUTCOMES };
void tocsin_sender_webhook_outcomes(const struct tocsin_sender *s, size_t w,
                                    uint64_t out[TOCSIN_OUTCOMES]);
/* False while an outbox commit failed and its alert is held only in memory. */
bool tocsin_sender_healthy(const struct tocsin_sender *s);
/* Restores ALERT, an incident already delivered before a restart or reload, as
 * its monitor's firing alert for a webhook whose format has `refire`
 * (alertmanager), without sending or storing anything now: the re-posts
 * resume at the next period, and a recovery sent later ends them.  A no-op
 * for other formats, for a recovery, and while closing.  The agent calls it
 * for every restored DOWN monitor's alertmanager webhooks.  Like an incident
 * given to tocsin_sender_send, ALERT is copied but its MONITOR and REGION
 * pointers are kept: they must live as long as S.  They do when they come
 * from the configuration S was created with, since the sender is re-created
 * whenever the configuration changes. */
void tocsin_sender_restore_firing(struct tocsin_sender *s, const struct tocsin_alert *alert);

/* ---- the outbox of the running sender (`tocsin outbox list|retry|purge`) ----
 * The sender holds every PENDING and DEAD row in memory, so these read and
 * change its queues, and the outbox with them: memory and disk stay equal. */
struct tocsin_outbox_entry {
    int64_t id;               /* outbox row id, 0 while not yet committed */
    const char *request_id;
    const char *webhook;
    const char *monitor;
    const char *event;        /* "incident" | "recovery" */
    int level;
    int attempts;             /* made so far, over every cycle */
    int64_t created_ms;       /* wall clock, ms */
    int64_t next_attempt_ms;  /* wall clock, ms */
    const char *state;        /* "storing" | "pending" | "sending" | "dead" */
    const char *last_error;   /* NULL when none */
};
/* E and its strings are valid during the call only. */
typedef void (*tocsin_outbox_visit)(void *data, const struct tocsin_outbox_entry *e);
/* Visits every delivery held: oldest first per webhook, webhooks in config
 * order.  The re-posts of firing alerts (never stored) are not included; nor
 * are rows of webhooks no longer configured, which the outbox keeps. */
void tocsin_sender_outbox_each(const struct tocsin_sender *s, tocsin_outbox_visit visit,
                               void *data);
/* Dead letters back to pending now with a fresh attempt cycle (their attempts
 * keep counting, and their request ids stay): ID 0 means every dead letter,
 * of WEBHOOK when not NULL.  Superseded ones (a later alert of their monitor
 * was delivered) are included: named by hand, they are sent even if stale.
 * They are sent as soon as the rules allow (rate limit, 429 pause, one in
 * flight per (webhook, monitor), in queue order).  Each row is updated in the
 * outbox, all of them in one transaction.  Returns how many, -ENOENT when ID
 * is not 0 and not a dead letter held (of WEBHOOK), -EINVAL for an ID below 0,
 * -ECANCELED while closing.  Call these on the loop thread. */
int tocsin_sender_outbox_retry(struct tocsin_sender *s, int64_t id, const char *webhook);
/* Dead letters deleted, selected as for retry, from memory and from the
 * outbox (one transaction).  Returns as retry. */
int tocsin_sender_outbox_purge(struct tocsin_sender *s, int64_t id, const char *webhook);

/* Stops: waits for attempts in flight up to DRAIN_MS, cancels the rest (they stay
 * in the outbox), closes every handle, frees S, then calls ON_CLOSED (may be NULL). */
void tocsin_sender_close(struct tocsin_sender *s, uint64_t drain_ms,
                         void (*on_closed)(void *data), void *data);

/* The delay before retry number ATTEMPT (1 = the first retry): BACKOFF doubled
 * ATTEMPT-1 times, capped at 1 h, then scaled by JITTER in [0.8, 1.2]. */
uint64_t tocsin_retry_delay_ms(uint64_t backoff_ms, int attempt, double jitter);

#endif
