/* The store: one thread that owns the only SQLite connection (WAL,
 * synchronous=FULL) under state_dir, and commits what the loop queues in
 * batches (all that is queued when the previous commit ends: group commit, no
 * waiting window); completions come back to the loop through uv_async.
 * The loop never waits on a disk (DESIGN §1, §5). */
#ifndef TOCSIN_STORE_H
#define TOCSIN_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum tocsin_outbox_state {
    TOCSIN_OUTBOX_PENDING,   /* to be sent (again) at next_attempt_ms */
    TOCSIN_OUTBOX_DELIVERED, /* acknowledged with 2xx; pruned after a retention period */
    TOCSIN_OUTBOX_DEAD,      /* retries used up or refused (4xx): kept, listed, re-sendable */
};

/* One delivery of one alert to one webhook (one URL). */
struct tocsin_outbox_row {
    int64_t id;              /* assigned by the store when inserted */
    char request_id[37];     /* X-Request-ID and webhook-id, stable across attempts and restarts */
    char *webhook;           /* webhook name */
    char *monitor;           /* monitor id */
    char *event;             /* "incident" | "recovery" */
    int level;
    char *url;               /* where it goes (alertmanager: one row per peer) */
    char *body;              /* exact bytes; signatures are made per attempt */
    size_t body_len;
    int attempts;            /* made so far */
    int64_t created_ms;      /* wall clock, ms */
    int64_t next_attempt_ms; /* wall clock, ms */
    enum tocsin_outbox_state state;
    char *last_error;        /* NULL when none */
};

struct tocsin_store;

/* Called on the loop thread once the operation committed (STATUS 0) or failed
 * (negative errno-style: the caller keeps the data in memory and retries).
 * A batch commits or fails as a whole: when its commit fails (full disk,
 * read-only directory: -ENOSPC, -EIO, -EFBIG, -EROFS, -EBUSY...) every
 * operation of it gets that status and nothing of it is stored.  ID is the
 * new row's id for an insert (and, with -EEXIST, the id of the row that
 * already has that request_id), the row's id for an update, and the number
 * of rows changed for mark_retry and purge.  A function that returns < 0
 * never calls its CB. */
typedef void (*tocsin_store_cb)(void *data, int status, int64_t id);

/* Counters, for tests and metrics. */
struct tocsin_store_stats {
    uint64_t transactions; /* batches committed (one fsync each with synchronous=FULL) */
    uint64_t failed;       /* batches rolled back: every op of them failed */
    uint64_t ops;          /* write operations completed, either way */
    uint64_t prunes;       /* retention passes run (on open, then hourly) */
    uint64_t pruned;       /* delivered rows deleted by retention */
    size_t queued;         /* operations waiting for the store thread now */
};

/* Opens (creating) STATE_DIR/tocsin.db and starts the store thread.  0 or -errno
 * with a message in ERR (may be NULL).  STATE_DIR is created (0750) when
 * missing, the database file 0640.  A database written by a newer tocsin
 * (schema version above ours) is refused with -ENOTSUP.  Opening does its
 * disk I/O on the calling thread: call it at start-up, not from a busy loop. */
int tocsin_store_open(uv_loop_t *loop, const char *state_dir, struct tocsin_store **out,
                      char *err, size_t err_size);

/* Queues an insert of ROW (copied; ROW->id is ignored); CB gets the new id after
 * the commit.  A request_id already in the outbox gives -EEXIST (and that row's
 * id).  Returns 0, -EINVAL (no request_id, or body NULL with body_len > 0),
 * -E2BIG (body over TOCSIN_STORE_MAX_BODY), -ENOMEM, -ENOBUFS (queue full:
 * the disk is far behind) or -ECANCELED (closing).  CB may be NULL. */
#define TOCSIN_STORE_MAX_BODY (64u << 20)
int tocsin_store_insert(struct tocsin_store *s, const struct tocsin_outbox_row *row,
                        tocsin_store_cb cb, void *data);

/* Queues an update of row ID's state, attempts, next attempt time and last error
 * (NULL clears it).  An ID not in the outbox gives -ENOENT.  Returns as insert. */
int tocsin_store_update(struct tocsin_store *s, int64_t id, enum tocsin_outbox_state state,
                        int attempts, int64_t next_attempt_ms, const char *last_error,
                        tocsin_store_cb cb, void *data);

/* Reads every PENDING and DEAD row in id order, synchronously: for start-up
 * before the loop runs, and for `tocsin outbox list` with the agent down.  The
 * caller frees with tocsin_outbox_rows_free.  Call it on the loop thread (or
 * before the loop runs); it blocks until the store thread has committed
 * everything queued before it and read the rows, so it sees those writes.
 * Bodies come back NUL-terminated (body_len excludes the NUL); webhook,
 * monitor, event and url are never NULL; last_error is NULL when none. */
int tocsin_store_load(struct tocsin_store *s, struct tocsin_outbox_row **rows, size_t *n);
void tocsin_outbox_rows_free(struct tocsin_outbox_row *rows, size_t n);

/* For `tocsin outbox retry`: DEAD rows back to PENDING with attempts 0 and
 * the next attempt now; ID 0 means every dead row (of WEBHOOK when not NULL).
 * CB's id is the number of rows changed; a non-zero ID that is not a dead row
 * gives -ENOENT.  Returns as insert. */
int tocsin_store_mark_retry(struct tocsin_store *s, int64_t id, const char *webhook,
                            tocsin_store_cb cb, void *data);

/* For `tocsin outbox purge`: deletes DEAD rows, selected as for mark_retry. */
int tocsin_store_purge(struct tocsin_store *s, int64_t id, const char *webhook,
                       tocsin_store_cb cb, void *data);

/* The persisted state of one monitor (DESIGN §4), encoded by the agent. */
struct tocsin_state_row {
    char *monitor;      /* its id */
    char *identity;     /* type, target, method, regions: the state is kept while equal */
    char *state;        /* a JSON document */
    int64_t updated_ms; /* wall clock of the last write */
};

/* Queues an upsert of MONITOR's state (copied); returns as insert. */
int tocsin_store_put_state(struct tocsin_store *s, const char *monitor, const char *identity,
                           const char *state, tocsin_store_cb cb, void *data);
/* Queues the removal of MONITOR's state (a monitor gone from the config). */
int tocsin_store_delete_state(struct tocsin_store *s, const char *monitor, tocsin_store_cb cb,
                              void *data);
/* Every monitor state, synchronously, as tocsin_store_load. */
int tocsin_store_load_states(struct tocsin_store *s, struct tocsin_state_row **rows, size_t *n);
void tocsin_state_rows_free(struct tocsin_state_row *rows, size_t n);

/* Operations queued between begin and end reach the store thread together,
 * so they commit in one transaction, or fail together: a monitor's state and
 * the outbox rows of the alerts it decided (DESIGN §5).  Groups nest; call
 * both on the loop thread, within one callback. */
void tocsin_store_group_begin(struct tocsin_store *s);
void tocsin_store_group_end(struct tocsin_store *s);

void tocsin_store_stats(struct tocsin_store *s, struct tocsin_store_stats *out);

/* Commits what is queued, stops the thread and closes the database; CB (may be
 * NULL) fires on the loop when everything is closed, after the callbacks of
 * every operation queued before.  Operations queued after it fail with
 * -ECANCELED.  The loop does not wait for the disk: the last commit runs on
 * the store thread, which is joined once it has finished. */
void tocsin_store_close(struct tocsin_store *s, void (*cb)(void *data), void *data);

#endif
