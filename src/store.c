/* The outbox store: see include/tocsin/store.h (DESIGN §1, §5).
 *
 * Two threads meet here, under s->lock only:
 *   - the loop thread copies each operation into a struct op and appends it to
 *     s->queue (tocsin_store_insert, _update, ...);
 *   - the store thread, the only one that touches the SQLite connection once
 *     open has returned, takes everything queued, runs all of it in ONE
 *     transaction, and moves the finished operations to s->done with a
 *     uv_async_send;
 *   - back on the loop, on_async calls each operation's callback.
 * Group commit without a waiting window: an alert queued while the store is
 * idle is committed at once (one fsync, well under a millisecond on a local
 * disk), and what arrives during a commit goes whole into the next one, so a
 * burst of thousands of alerts costs a few fsyncs, not one per row
 * (synchronous=FULL), and never queues behind the disk. */
#include "tocsin/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tocsin/log.h"

#define DB_NAME "tocsin.db"
/* The loop is the only producer; if the disk is this far behind, callers get
 * -ENOBUFS and keep the alert in memory rather than growing without bound. */
#define MAX_QUEUED 65536
/* Another process (`tocsin outbox` with the agent down) may hold the write
 * lock briefly; longer than this and the batch fails (-EBUSY) and is retried. */
#define BUSY_TIMEOUT_MS 5000
#define PRUNE_EVERY_NS (3600ull * 1000 * 1000 * 1000)
#define RETENTION_MS (7ll * 24 * 3600 * 1000)
#define SCHEMA_VERSION 2

/* The SQL below spells the states as numbers. */
_Static_assert(TOCSIN_OUTBOX_PENDING == 0 && TOCSIN_OUTBOX_DELIVERED == 1 &&
                   TOCSIN_OUTBOX_DEAD == 2,
               "outbox states are stored as 0, 1, 2");

enum op_kind {
    OP_INSERT, OP_UPDATE, OP_RETRY, OP_PURGE, /* outbox rows */
    OP_STATE_PUT, OP_STATE_DELETE,            /* monitor states */
    OP_LOAD, OP_LOAD_STATES,                  /* synchronous reads, never in a write batch */
};

/* A load waits on the loop thread; the store thread fills this and sets done. */
struct load_req {
    bool done;
    int status;
    struct tocsin_outbox_row *rows;    /* OP_LOAD */
    struct tocsin_state_row *states;   /* OP_LOAD_STATES */
    size_t n;
};

struct op {
    struct op *next;
    enum op_kind kind;
    tocsin_store_cb cb;
    void *data;
    int64_t id;                   /* update: the row; retry/purge: the row or 0; then the result */
    struct tocsin_outbox_row row; /* insert: the copy; update: new values; retry/purge: webhook */
    struct tocsin_state_row state; /* state put: the copy; delete: the monitor */
    struct load_req *load;        /* OP_LOAD and OP_LOAD_STATES only */
    int status;
};

struct op_list {
    struct op *head;
    struct op *tail;
};

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT,
    ST_FIND,
    ST_UPDATE,
    ST_RETRY,
    ST_PURGE,
    ST_LOAD,
    ST_PRUNE,
    ST_STATE_PUT,
    ST_STATE_DELETE,
    ST_STATE_LOAD,
    N_STMTS
};

/* Prepared once at open and reused for every operation. */
static const char *const stmt_sql[N_STMTS] = {
    /* IMMEDIATE takes the write lock up front, so a batch never fails halfway
     * on a lock another process holds. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO outbox (request_id, webhook, monitor, event, level, url, body,"
                  " attempts, created_ms, next_attempt_ms, state, last_error, updated_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_FIND] = "SELECT id FROM outbox WHERE request_id = ?1",
    [ST_UPDATE] = "UPDATE outbox SET state = ?1, attempts = ?2, next_attempt_ms = ?3,"
                  " last_error = ?4, updated_ms = ?5 WHERE id = ?6",
    [ST_RETRY] = "UPDATE outbox SET state = 0, attempts = 0, next_attempt_ms = ?1,"
                 " updated_ms = ?1 WHERE state = 2 AND (?2 = 0 OR id = ?2)"
                 " AND (?3 IS NULL OR webhook = ?3)",
    [ST_PURGE] = "DELETE FROM outbox WHERE state = 2 AND (?1 = 0 OR id = ?1)"
                 " AND (?2 IS NULL OR webhook = ?2)",
    [ST_LOAD] = "SELECT id, request_id, webhook, monitor, event, level, url, body, attempts,"
                " created_ms, next_attempt_ms, state, last_error"
                " FROM outbox WHERE state IN (0, 2) ORDER BY id",
    [ST_PRUNE] = "DELETE FROM outbox WHERE state = 1 AND updated_ms < ?1",
    [ST_STATE_PUT] = "INSERT OR REPLACE INTO monitor_state (monitor, identity, state, updated_ms)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [ST_STATE_DELETE] = "DELETE FROM monitor_state WHERE monitor = ?1",
    [ST_STATE_LOAD] = "SELECT monitor, identity, state, updated_ms FROM monitor_state"
                      " ORDER BY monitor",
};

/* migrations[v] brings a database from user_version v to v + 1.
 * AUTOINCREMENT: ids are shown by `tocsin outbox list` and taken by `outbox
 * retry ID`, so an id must never name another alert after a purge.
 * updated_ms: when the row last changed; retention counts from delivery. */
static const char *const migrations[SCHEMA_VERSION] = {
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " request_id TEXT UNIQUE NOT NULL,"
    " webhook TEXT NOT NULL,"
    " monitor TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " level INTEGER NOT NULL,"
    " url TEXT NOT NULL,"
    " body BLOB NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " next_attempt_ms INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " last_error TEXT,"
    " updated_ms INTEGER NOT NULL);"
    "CREATE INDEX outbox_state_id ON outbox (state, id);",
    /* One row per monitor: its state as a JSON document the agent encodes,
     * written in the same transaction as the outbox rows of its decisions. */
    "CREATE TABLE monitor_state ("
    " monitor TEXT PRIMARY KEY,"
    " identity TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
};

struct tocsin_store {
    uv_loop_t *loop;
    uv_async_t async;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;   /* loop → thread: work queued, flush, stop */
    uv_cond_t loaded; /* thread → loop: a load finished */

    /* Under lock. */
    struct op_list queue;
    size_t n_queued;
    bool stopping;
    bool exited;              /* the thread has closed the db and is returning */
    struct op_list done;
    struct tocsin_store_stats stats;

    /* Store thread only (and open, before the thread starts). */
    sqlite3 *db;
    sqlite3_stmt *stmt[N_STMTS];
    uint64_t next_prune_ns;

    /* Loop thread only. */
    struct op_list group;     /* ops held back by tocsin_store_group_begin */
    size_t group_n;
    int group_depth;
    bool closing;
    void (*on_closed)(void *data);
    void *on_closed_data;
};

/* ---- small helpers ------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t size,
                                                          const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

/* "PATH: what went wrong", so the operator knows which file. */
static void prefix_err(char *err, size_t size, const char *path)
{
    char *what = err && size ? strdup(err) : NULL;

    if (what)
        set_err(err, size, "%s: %s", path, what);
    free(what);
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SQLite result code → negative errno; the OS errno when SQLite has one. */
static int to_errno(sqlite3 *db, int rc)
{
    int sys = db ? sqlite3_system_errno(db) : 0;

    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
        return sys > 0 ? -sys : -EIO;
    default:
        return -EIO;
    }
}

/* For errors that must be reported as errors even when SQLite says nothing. */
static int fail_errno(sqlite3 *db, int rc)
{
    int e = to_errno(db, rc);

    return e < 0 ? e : -EIO;
}

static void list_push(struct op_list *l, struct op *op)
{
    op->next = NULL;
    if (l->tail)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
}

static void list_append(struct op_list *l, struct op_list *more)
{
    if (more->head == NULL)
        return;
    if (l->tail)
        l->tail->next = more->head;
    else
        l->head = more->head;
    l->tail = more->tail;
    *more = (struct op_list){NULL, NULL};
}

static void row_clear(struct tocsin_outbox_row *r)
{
    free(r->webhook);
    free(r->monitor);
    free(r->event);
    free(r->url);
    free(r->body);
    free(r->last_error);
    r->webhook = r->monitor = r->event = r->url = r->body = r->last_error = NULL;
}

void tocsin_outbox_rows_free(struct tocsin_outbox_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        row_clear(&rows[i]);
    free(rows);
}

static void state_clear(struct tocsin_state_row *r)
{
    free(r->monitor);
    free(r->identity);
    free(r->state);
    r->monitor = r->identity = r->state = NULL;
}

void tocsin_state_rows_free(struct tocsin_state_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        state_clear(&rows[i]);
    free(rows);
}

static void op_free(struct op *op)
{
    row_clear(&op->row);
    state_clear(&op->state);
    free(op);
}

/* strdup that keeps NULL; false when out of memory. */
static bool dup_opt(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src == NULL || *dst != NULL;
}

/* Deep copy of what an insert stores; the body gets a NUL after its bytes. */
static int row_copy(struct tocsin_outbox_row *dst, const struct tocsin_outbox_row *src)
{
    *dst = *src;
    dst->webhook = dst->monitor = dst->event = dst->url = dst->body = dst->last_error = NULL;
    dst->body = malloc(src->body_len + 1);
    if (dst->body == NULL || !dup_opt(&dst->webhook, src->webhook) ||
        !dup_opt(&dst->monitor, src->monitor) || !dup_opt(&dst->event, src->event) ||
        !dup_opt(&dst->url, src->url) || !dup_opt(&dst->last_error, src->last_error)) {
        row_clear(dst);
        return -ENOMEM;
    }
    if (src->body_len > 0)
        memcpy(dst->body, src->body, src->body_len);
    dst->body[src->body_len] = '\0';
    return 0;
}

/* ---- the store thread: running operations -------------------------------- */

/* Steps ST once and resets it: SQLITE_OK when it ran to completion (or gave a
 * row), else the error code. */
static int run_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* NULL strings are stored as "" (the columns are NOT NULL). SQLITE_STATIC:
 * the op outlives the step. */
static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int64_t find_request(struct tocsin_store *s, const char *request_id)
{
    sqlite3_stmt *st = s->stmt[ST_FIND];
    int64_t id = 0;

    sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return id;
}

/* The run_* functions set op->status/op->id for outcomes of the operation
 * itself and return an SQLite error only when the whole batch must fail. */
static int run_insert(struct tocsin_store *s, struct op *op, int64_t now)
{
    sqlite3_stmt *st = s->stmt[ST_INSERT];
    const struct tocsin_outbox_row *r = &op->row;
    int rc;

    sqlite3_bind_text(st, 1, r->request_id, -1, SQLITE_STATIC);
    bind_text(st, 2, r->webhook);
    bind_text(st, 3, r->monitor);
    bind_text(st, 4, r->event);
    sqlite3_bind_int(st, 5, r->level);
    bind_text(st, 6, r->url);
    /* Never NULL (row_copy), so an empty body is an empty blob, not NULL. */
    sqlite3_bind_blob(st, 7, r->body, (int)r->body_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, r->attempts);
    sqlite3_bind_int64(st, 9, r->created_ms);
    sqlite3_bind_int64(st, 10, r->next_attempt_ms);
    sqlite3_bind_int(st, 11, (int)r->state);
    bind_opt_text(st, 12, r->last_error);
    sqlite3_bind_int64(st, 13, now);
    rc = run_stmt(st);
    if (rc == SQLITE_OK) {
        op->id = sqlite3_last_insert_rowid(s->db);
        op->status = 0;
    } else if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        /* Only the statement is undone; the rest of the batch goes on. */
        op->id = find_request(s, r->request_id);
        op->status = -EEXIST;
        rc = SQLITE_OK;
    }
    return rc;
}

static int run_update(struct tocsin_store *s, struct op *op, int64_t now)
{
    sqlite3_stmt *st = s->stmt[ST_UPDATE];
    int rc;

    sqlite3_bind_int(st, 1, (int)op->row.state);
    sqlite3_bind_int(st, 2, op->row.attempts);
    sqlite3_bind_int64(st, 3, op->row.next_attempt_ms);
    bind_opt_text(st, 4, op->row.last_error);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int64(st, 6, op->id);
    rc = run_stmt(st);
    if (rc == SQLITE_OK)
        op->status = sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
    return rc;
}

/* mark_retry and purge: same selection, op->id becomes the count. */
static int run_dead_rows(struct tocsin_store *s, struct op *op, int64_t now)
{
    sqlite3_stmt *st = s->stmt[op->kind == OP_RETRY ? ST_RETRY : ST_PURGE];
    int first = 1;
    int rc;

    if (op->kind == OP_RETRY)
        sqlite3_bind_int64(st, first++, now);
    sqlite3_bind_int64(st, first, op->id);
    bind_opt_text(st, first + 1, op->row.webhook);
    rc = run_stmt(st);
    if (rc == SQLITE_OK) {
        int changed = sqlite3_changes(s->db);
        op->status = op->id != 0 && changed == 0 ? -ENOENT : 0;
        op->id = changed;
    }
    return rc;
}

static int run_state(struct tocsin_store *s, struct op *op, int64_t now)
{
    sqlite3_stmt *st = s->stmt[op->kind == OP_STATE_PUT ? ST_STATE_PUT : ST_STATE_DELETE];
    int rc;

    bind_text(st, 1, op->state.monitor);
    if (op->kind == OP_STATE_PUT) {
        bind_text(st, 2, op->state.identity);
        bind_text(st, 3, op->state.state);
        sqlite3_bind_int64(st, 4, now);
    }
    rc = run_stmt(st);
    if (rc == SQLITE_OK)
        op->status = 0;
    return rc;
}

static int run_op(struct tocsin_store *s, struct op *op, int64_t now)
{
    switch (op->kind) {
    case OP_INSERT:
        return run_insert(s, op, now);
    case OP_UPDATE:
        return run_update(s, op, now);
    case OP_RETRY:
    case OP_PURGE:
        return run_dead_rows(s, op, now);
    case OP_STATE_PUT:
    case OP_STATE_DELETE:
        return run_state(s, op, now);
    case OP_LOAD:
    case OP_LOAD_STATES:
        break; /* never in a write batch */
    }
    return SQLITE_MISUSE;
}

/* One transaction for the whole batch: committed as a whole, or every op of it
 * fails with the reason and the thread rolls back and goes on. */
static bool run_writes(struct tocsin_store *s, struct op *head)
{
    int64_t now = wall_ms();
    int rc = run_stmt(s->stmt[ST_BEGIN]);
    int status;

    for (struct op *op = head; rc == SQLITE_OK && op; op = op->next)
        rc = run_op(s, op, now);
    if (rc == SQLITE_OK)
        rc = run_stmt(s->stmt[ST_COMMIT]);
    if (rc == SQLITE_OK)
        return true;
    status = fail_errno(s->db, rc); /* before the rollback resets the OS errno */
    if (status == -EEXIST)
        status = -EIO; /* a constraint that failed the batch is not "already there" */
    for (struct op *op = head; op; op = op->next) {
        op->status = status;
        op->id = 0;
    }
    /* SQLite may have rolled back on its own (I/O errors, full disk). */
    if (!sqlite3_get_autocommit(s->db))
        run_stmt(s->stmt[ST_ROLLBACK]);
    return false;
}

static int column_string(sqlite3_stmt *st, int col, bool nullable, char **out)
{
    const unsigned char *text;
    int len;

    *out = NULL;
    if (nullable && sqlite3_column_type(st, col) == SQLITE_NULL)
        return 0;
    text = sqlite3_column_text(st, col);
    len = sqlite3_column_bytes(st, col);
    *out = malloc((size_t)len + 1);
    if (*out == NULL || (text == NULL && len > 0))
        return -ENOMEM;
    if (len > 0)
        memcpy(*out, text, (size_t)len);
    (*out)[len] = '\0';
    return 0;
}

static int column_body(sqlite3_stmt *st, int col, struct tocsin_outbox_row *r)
{
    const void *blob = sqlite3_column_blob(st, col);
    int len = sqlite3_column_bytes(st, col);

    r->body = malloc((size_t)len + 1);
    if (r->body == NULL || (blob == NULL && len > 0))
        return -ENOMEM;
    if (len > 0)
        memcpy(r->body, blob, (size_t)len);
    r->body[len] = '\0';
    r->body_len = (size_t)len;
    return 0;
}

/* Fills R from the current row of ST_LOAD; on failure R holds what it got. */
static int read_row(sqlite3_stmt *st, struct tocsin_outbox_row *r)
{
    const unsigned char *rid = sqlite3_column_text(st, 1);

    r->id = sqlite3_column_int64(st, 0);
    snprintf(r->request_id, sizeof(r->request_id), "%s", rid ? (const char *)rid : "");
    r->level = sqlite3_column_int(st, 5);
    r->attempts = sqlite3_column_int(st, 8);
    r->created_ms = sqlite3_column_int64(st, 9);
    r->next_attempt_ms = sqlite3_column_int64(st, 10);
    r->state = (enum tocsin_outbox_state)sqlite3_column_int(st, 11);
    if (column_string(st, 2, false, &r->webhook) < 0 ||
        column_string(st, 3, false, &r->monitor) < 0 ||
        column_string(st, 4, false, &r->event) < 0 || column_string(st, 6, false, &r->url) < 0 ||
        column_body(st, 7, r) < 0 || column_string(st, 12, true, &r->last_error) < 0)
        return -ENOMEM;
    return 0;
}

/* ARRAY of *CAP elements of SIZE bytes, doubled (the new ones zeroed); NULL
 * when out of memory, ARRAY and *CAP unchanged then. */
static void *grow_array(void *array, size_t size, size_t *cap)
{
    size_t n = *cap ? *cap * 2 : 64;
    char *more = realloc(array, n * size);

    if (more != NULL) {
        memset(more + *cap * size, 0, (n - *cap) * size);
        *cap = n;
    }
    return more;
}

static void run_load(struct tocsin_store *s, struct load_req *req)
{
    sqlite3_stmt *st = s->stmt[ST_LOAD];
    size_t cap = 0;
    int rc;

    req->status = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct tocsin_outbox_row *more = req->n < cap ? req->rows
                                      : grow_array(req->rows, sizeof(*req->rows), &cap);
        if (more == NULL) {
            req->status = -ENOMEM;
            break;
        }
        req->rows = more;
        /* Counted even when incomplete, so the free below sees its strings. */
        if (read_row(st, &req->rows[req->n++]) < 0) {
            req->status = -ENOMEM;
            break;
        }
    }
    if (req->status == 0 && rc != SQLITE_DONE)
        req->status = to_errno(s->db, rc);
    sqlite3_reset(st);
    if (req->status < 0) {
        tocsin_outbox_rows_free(req->rows, req->n);
        req->rows = NULL;
        req->n = 0;
    }
}

static void run_load_states(struct tocsin_store *s, struct load_req *req)
{
    sqlite3_stmt *st = s->stmt[ST_STATE_LOAD];
    size_t cap = 0;
    int rc;

    req->status = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct tocsin_state_row *r;
        struct tocsin_state_row *more = req->n < cap ? req->states
                                    : grow_array(req->states, sizeof(*req->states), &cap);
        if (more == NULL) {
            req->status = -ENOMEM;
            break;
        }
        req->states = more;
        r = &req->states[req->n++];
        r->updated_ms = sqlite3_column_int64(st, 3);
        if (column_string(st, 0, false, &r->monitor) < 0 ||
            column_string(st, 1, false, &r->identity) < 0 ||
            column_string(st, 2, false, &r->state) < 0) {
            req->status = -ENOMEM;
            break;
        }
    }
    if (req->status == 0 && rc != SQLITE_DONE)
        req->status = to_errno(s->db, rc);
    sqlite3_reset(st);
    if (req->status < 0) {
        tocsin_state_rows_free(req->states, req->n);
        req->states = NULL;
        req->n = 0;
    }
}

/* Retention: delivered rows unchanged for RETENTION_MS go. */
static void prune(struct tocsin_store *s)
{
    sqlite3_stmt *st = s->stmt[ST_PRUNE];
    uint64_t deleted = 0;
    int rc;

    sqlite3_bind_int64(st, 1, wall_ms() - RETENTION_MS);
    rc = run_stmt(st);
    if (rc == SQLITE_OK)
        deleted = (uint64_t)sqlite3_changes(s->db);
    else
        tocsin_warn("cannot prune delivered outbox rows", "error", sqlite3_errstr(rc));
    s->next_prune_ns = uv_hrtime() + PRUNE_EVERY_NS;
    uv_mutex_lock(&s->lock);
    s->stats.prunes++;
    s->stats.pruned += deleted;
    uv_mutex_unlock(&s->lock);
}

/* ---- the store thread: waiting and batching ------------------------------ */

/* Lock held: until something is queued, the store stops or a prune is due. */
static void wait_for_work(struct tocsin_store *s)
{
    uint64_t now;

    while (s->queue.head == NULL && !s->stopping && (now = uv_hrtime()) < s->next_prune_ns)
        uv_cond_timedwait(&s->wake, &s->lock, s->next_prune_ns - now);
}

/* Lock held: takes the whole queue.  A load can only be last (the loop thread
 * waits in it, so nothing is queued after it) and is split off. */
static struct op *take_batch(struct tocsin_store *s, struct op_list *writes)
{
    struct op *load = NULL;
    struct op **link = &s->queue.head;

    *writes = (struct op_list){NULL, NULL};
    while (*link) {
        struct op *op = *link;
        if (op->kind == OP_LOAD || op->kind == OP_LOAD_STATES) {
            load = op; /* the op lives on the loader's stack */
            *link = op->next;
            continue;
        }
        link = &op->next;
        writes->tail = op;
    }
    writes->head = s->queue.head;
    s->queue = (struct op_list){NULL, NULL};
    s->n_queued = 0;
    return load;
}

static size_t list_length(const struct op_list *l)
{
    size_t n = 0;

    for (const struct op *op = l->head; op; op = op->next)
        n++;
    return n;
}

/* Lock held on entry and exit; runs the batch without it. */
static void run_batch(struct tocsin_store *s)
{
    struct op_list writes;
    struct op *load_op = take_batch(s, &writes);
    struct load_req *load = load_op ? load_op->load : NULL;
    bool committed = false;

    uv_mutex_unlock(&s->lock);
    if (writes.head)
        committed = run_writes(s, writes.head);
    /* After the commit, so the load sees every write queued before it. */
    if (load_op && load_op->kind == OP_LOAD)
        run_load(s, load);
    else if (load_op)
        run_load_states(s, load);
    uv_mutex_lock(&s->lock);
    if (writes.head) {
        s->stats.ops += list_length(&writes);
        if (committed)
            s->stats.transactions++;
        else
            s->stats.failed++;
        list_append(&s->done, &writes);
        uv_async_send(&s->async);
    }
    if (load) {
        load->done = true;
        uv_cond_broadcast(&s->loaded);
    }
}

static void close_db(struct tocsin_store *s)
{
    for (int i = 0; i < N_STMTS; i++) {
        sqlite3_finalize(s->stmt[i]);
        s->stmt[i] = NULL;
    }
    /* The last connection to close checkpoints and removes the WAL. */
    sqlite3_close_v2(s->db);
    s->db = NULL;
}

static void store_thread(void *arg)
{
    struct tocsin_store *s = arg;

    prune(s); /* on open, then hourly */
    uv_mutex_lock(&s->lock);
    for (;;) {
        wait_for_work(s);
        if (s->queue.head) {
            run_batch(s);
        } else if (s->stopping) {
            break;
        }
        if (uv_hrtime() >= s->next_prune_ns) {
            uv_mutex_unlock(&s->lock);
            prune(s);
            uv_mutex_lock(&s->lock);
        }
    }
    uv_mutex_unlock(&s->lock);
    close_db(s);
    uv_mutex_lock(&s->lock);
    s->exited = true;
    uv_async_send(&s->async); /* the loop joins us and closes the handle */
    uv_mutex_unlock(&s->lock);
}

/* ---- the loop thread: completions and closing ----------------------------- */

static void destroy_sync(struct tocsin_store *s)
{
    uv_cond_destroy(&s->loaded);
    uv_cond_destroy(&s->wake);
    uv_mutex_destroy(&s->lock);
}

static void on_async_closed(uv_handle_t *handle)
{
    struct tocsin_store *s = handle->data;
    void (*cb)(void *) = s->on_closed;
    void *data = s->on_closed_data;

    destroy_sync(s);
    free(s);
    if (cb)
        cb(data);
}

static void on_async(uv_async_t *handle)
{
    struct tocsin_store *s = handle->data;
    struct op *op;
    struct op *next;
    bool exited;

    uv_mutex_lock(&s->lock);
    op = s->done.head;
    s->done = (struct op_list){NULL, NULL};
    exited = s->exited;
    uv_mutex_unlock(&s->lock);
    for (; op; op = next) {
        next = op->next;
        if (op->cb)
            op->cb(op->data, op->status, op->id);
        op_free(op);
    }
    /* EXITED was read with the done queue: every completion has been called. */
    if (exited && !uv_is_closing((uv_handle_t *)handle)) {
        uv_thread_join(&s->thread);
        uv_close((uv_handle_t *)handle, on_async_closed);
    }
}

void tocsin_store_close(struct tocsin_store *s, void (*cb)(void *data), void *data)
{
    if (s == NULL || s->closing)
        return;
    s->closing = true;
    s->on_closed = cb;
    s->on_closed_data = data;
    uv_mutex_lock(&s->lock);
    s->stopping = true;
    uv_cond_signal(&s->wake);
    uv_mutex_unlock(&s->lock);
}

/* ---- the loop thread: queueing ------------------------------------------- */

/* Lock held. */
static int enqueue_locked(struct tocsin_store *s, struct op *op)
{
    if (s->stopping)
        return -ECANCELED;
    bool load = op->kind == OP_LOAD || op->kind == OP_LOAD_STATES;

    if (!load && s->n_queued >= MAX_QUEUED)
        return -ENOBUFS;
    list_push(&s->queue, op);
    /* The thread waits only while the queue is empty. */
    if (++s->n_queued == 1 || load)
        uv_cond_signal(&s->wake);
    return 0;
}

/* Takes OP, freeing it when it cannot be queued.  Inside a group it waits on
 * the loop thread until tocsin_store_group_end. */
static int enqueue(struct tocsin_store *s, struct op *op)
{
    int rc = 0;

    if (s->group_depth > 0) {
        if (s->closing)
            rc = -ECANCELED;
        else if (s->group_n >= MAX_QUEUED)
            rc = -ENOBUFS;
        if (rc == 0) {
            list_push(&s->group, op);
            s->group_n++;
            return 0;
        }
    } else {
        uv_mutex_lock(&s->lock);
        rc = enqueue_locked(s, op);
        uv_mutex_unlock(&s->lock);
    }
    if (rc < 0)
        op_free(op);
    return rc;
}

void tocsin_store_group_begin(struct tocsin_store *s)
{
    if (s)
        s->group_depth++;
}

/* The whole group joins the queue under one lock, so the store thread takes
 * all of it into one batch: one transaction.  Its ops were accepted when
 * queued, so none is refused here (the queue may briefly exceed MAX_QUEUED). */
void tocsin_store_group_end(struct tocsin_store *s)
{
    if (s == NULL || s->group_depth == 0 || --s->group_depth > 0 || s->group.head == NULL)
        return;
    uv_mutex_lock(&s->lock);
    s->n_queued += s->group_n;
    list_append(&s->queue, &s->group);
    s->group_n = 0;
    uv_cond_signal(&s->wake);
    uv_mutex_unlock(&s->lock);
}

static struct op *op_new(enum op_kind kind, tocsin_store_cb cb, void *data)
{
    struct op *op = calloc(1, sizeof(*op));

    if (op) {
        op->kind = kind;
        op->cb = cb;
        op->data = data;
    }
    return op;
}

static int check_row(const struct tocsin_outbox_row *row)
{
    if (row == NULL || row->request_id[0] == '\0' ||
        memchr(row->request_id, '\0', sizeof(row->request_id)) == NULL ||
        (row->body == NULL && row->body_len > 0))
        return -EINVAL;
    if (row->body_len > TOCSIN_STORE_MAX_BODY)
        return -E2BIG;
    return 0;
}

int tocsin_store_insert(struct tocsin_store *s, const struct tocsin_outbox_row *row,
                        tocsin_store_cb cb, void *data)
{
    struct op *op;
    int rc = s ? check_row(row) : -EINVAL;

    if (rc < 0)
        return rc;
    op = op_new(OP_INSERT, cb, data);
    if (op == NULL)
        return -ENOMEM;
    rc = row_copy(&op->row, row);
    if (rc < 0) {
        free(op);
        return rc;
    }
    return enqueue(s, op);
}

int tocsin_store_update(struct tocsin_store *s, int64_t id, enum tocsin_outbox_state state,
                        int attempts, int64_t next_attempt_ms, const char *last_error,
                        tocsin_store_cb cb, void *data)
{
    struct op *op;

    if (s == NULL || id <= 0 || state > TOCSIN_OUTBOX_DEAD)
        return -EINVAL;
    op = op_new(OP_UPDATE, cb, data);
    if (op == NULL)
        return -ENOMEM;
    op->id = id;
    op->row.state = state;
    op->row.attempts = attempts;
    op->row.next_attempt_ms = next_attempt_ms;
    if (!dup_opt(&op->row.last_error, last_error)) {
        free(op);
        return -ENOMEM;
    }
    return enqueue(s, op);
}

static int queue_dead_rows(struct tocsin_store *s, enum op_kind kind, int64_t id,
                           const char *webhook, tocsin_store_cb cb, void *data)
{
    struct op *op;

    if (s == NULL || id < 0)
        return -EINVAL;
    op = op_new(kind, cb, data);
    if (op == NULL)
        return -ENOMEM;
    op->id = id;
    if (!dup_opt(&op->row.webhook, webhook)) {
        free(op);
        return -ENOMEM;
    }
    return enqueue(s, op);
}

static int queue_state(struct tocsin_store *s, enum op_kind kind, const char *monitor,
                       const char *identity, const char *state, tocsin_store_cb cb, void *data)
{
    struct op *op;

    if (s == NULL || monitor == NULL)
        return -EINVAL;
    op = op_new(kind, cb, data);
    if (op == NULL)
        return -ENOMEM;
    if (!dup_opt(&op->state.monitor, monitor) || !dup_opt(&op->state.identity, identity) ||
        !dup_opt(&op->state.state, state)) {
        op_free(op);
        return -ENOMEM;
    }
    return enqueue(s, op);
}

int tocsin_store_put_state(struct tocsin_store *s, const char *monitor, const char *identity,
                           const char *state, tocsin_store_cb cb, void *data)
{
    if (identity == NULL || state == NULL)
        return -EINVAL;
    return queue_state(s, OP_STATE_PUT, monitor, identity, state, cb, data);
}

int tocsin_store_delete_state(struct tocsin_store *s, const char *monitor, tocsin_store_cb cb,
                              void *data)
{
    return queue_state(s, OP_STATE_DELETE, monitor, NULL, NULL, cb, data);
}

int tocsin_store_mark_retry(struct tocsin_store *s, int64_t id, const char *webhook,
                            tocsin_store_cb cb, void *data)
{
    return queue_dead_rows(s, OP_RETRY, id, webhook, cb, data);
}

int tocsin_store_purge(struct tocsin_store *s, int64_t id, const char *webhook,
                       tocsin_store_cb cb, void *data)
{
    return queue_dead_rows(s, OP_PURGE, id, webhook, cb, data);
}

/* Synchronous, through the store thread rather than a second connection: the
 * thread commits what was queued first, so the rows include those writes, and
 * the connection stays single-threaded.  The wait is as long as one commit
 * plus the read; at start-up and for the CLI that is what the caller wants. */
static int load_sync(struct tocsin_store *s, enum op_kind kind, struct load_req *req)
{
    struct op op = {.kind = kind, .load = req};
    int rc;

    uv_mutex_lock(&s->lock);
    rc = enqueue_locked(s, &op);
    while (rc == 0 && !req->done)
        uv_cond_wait(&s->loaded, &s->lock);
    uv_mutex_unlock(&s->lock);
    return rc < 0 ? rc : req->status;
}

int tocsin_store_load(struct tocsin_store *s, struct tocsin_outbox_row **rows, size_t *n)
{
    struct load_req req = {.done = false};
    int rc;

    if (rows)
        *rows = NULL;
    if (n)
        *n = 0;
    if (s == NULL || rows == NULL || n == NULL)
        return -EINVAL;
    rc = load_sync(s, OP_LOAD, &req);
    *rows = req.rows;
    *n = req.n;
    return rc;
}

int tocsin_store_load_states(struct tocsin_store *s, struct tocsin_state_row **rows, size_t *n)
{
    struct load_req req = {.done = false};
    int rc;

    if (rows)
        *rows = NULL;
    if (n)
        *n = 0;
    if (s == NULL || rows == NULL || n == NULL)
        return -EINVAL;
    rc = load_sync(s, OP_LOAD_STATES, &req);
    *rows = req.states;
    *n = req.n;
    return rc;
}

void tocsin_store_stats(struct tocsin_store *s, struct tocsin_store_stats *out)
{
    uv_mutex_lock(&s->lock);
    *out = s->stats;
    out->queued = s->n_queued;
    uv_mutex_unlock(&s->lock);
}

/* ---- opening ------------------------------------------------------------- */

/* mkdir -p with 0750 for what it creates; the last component must end up a
 * directory. */
static int make_dirs(const char *dir, char *err, size_t err_size)
{
    char *path = strdup(dir);
    struct stat st;
    int rc = 0;

    if (path == NULL)
        return -ENOMEM;
    for (char *p = path + 1; rc == 0; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (stat(path, &st) < 0 && (errno != ENOENT || (mkdir(path, 0750) < 0 && errno != EEXIST)))
            rc = -errno;
        *p = c;
        if (c == '\0')
            break;
    }
    if (rc == 0 && stat(dir, &st) < 0)
        rc = -errno;
    else if (rc == 0 && !S_ISDIR(st.st_mode))
        rc = -ENOTDIR;
    if (rc < 0)
        set_err(err, err_size, "cannot create state_dir %s: %s", dir, strerror(-rc));
    free(path);
    return rc;
}

/* SQLite would create the file 0644; it is created 0640 first (the WAL and
 * shm files take their mode from it).  An existing file is left as it is. */
static int create_db_file(const char *path, char *err, size_t err_size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);

    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    set_err(err, err_size, "cannot create %s: %s", path, strerror(errno));
    return -errno;
}

static int exec_sql(struct tocsin_store *s, const char *sql, const char *what, char *err,
                    size_t err_size)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    if (rc == SQLITE_OK)
        return 0;
    set_err(err, err_size, "cannot %s: %s", what, sqlite3_errmsg(s->db));
    return fail_errno(s->db, rc);
}

static int read_user_version(struct tocsin_store *s, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Applies the migrations the file lacks, in one transaction (read again inside
 * it, in case another process migrated first). */
static int migrate(struct tocsin_store *s, char *err, size_t err_size)
{
    char sql[64];
    int version = 0;
    int rc = exec_sql(s, "BEGIN IMMEDIATE", "lock the database", err, err_size);

    if (rc < 0)
        return rc;
    if (read_user_version(s, &version) != SQLITE_OK) {
        set_err(err, err_size, "cannot read the schema version: %s", sqlite3_errmsg(s->db));
        rc = -EIO;
    } else if (version > SCHEMA_VERSION) {
        set_err(err, err_size, "database schema version %d is newer than this tocsin's (%d)",
                version, SCHEMA_VERSION);
        rc = -ENOTSUP;
    }
    for (; rc == 0 && version < SCHEMA_VERSION; version++)
        rc = exec_sql(s, migrations[version], "migrate the schema", err, err_size);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
    if (rc == 0)
        rc = exec_sql(s, sql, "set the schema version", err, err_size);
    if (rc == 0)
        rc = exec_sql(s, "COMMIT", "commit the schema", err, err_size);
    if (rc < 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int set_pragmas(struct tocsin_store *s, char *err, size_t err_size)
{
    sqlite3_stmt *st = NULL;
    bool wal = false;
    int rc;

    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* journal_mode answers with the mode it got, which may not be WAL. */
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        wal = mode && strcmp((const char *)mode, "wal") == 0;
    }
    sqlite3_finalize(st);
    if (!wal) {
        set_err(err, err_size, "cannot use WAL journal: %s", sqlite3_errmsg(s->db));
        return fail_errno(s->db, rc);
    }
    return exec_sql(s, "PRAGMA synchronous = FULL", "set synchronous=FULL", err, err_size);
}

static int prepare_all(struct tocsin_store *s, char *err, size_t err_size)
{
    for (int i = 0; i < N_STMTS; i++) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            set_err(err, err_size, "cannot prepare statement: %s", sqlite3_errmsg(s->db));
            return fail_errno(s->db, rc);
        }
    }
    return 0;
}

/* On the calling thread, before the store thread exists: errors come back
 * from open with a message, and the connection is handed over by
 * uv_thread_create (which orders these writes before the thread's reads). */
static int open_db(struct tocsin_store *s, const char *path, char *err, size_t err_size)
{
    /* NOMUTEX: one thread at a time ever uses this connection. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);

    if (rc != SQLITE_OK) {
        set_err(err, err_size, "cannot open %s: %s", path,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return fail_errno(s->db, rc);
    }
    sqlite3_extended_result_codes(s->db, 1);
    rc = set_pragmas(s, err, err_size);
    if (rc == 0)
        rc = migrate(s, err, err_size);
    if (rc == 0)
        rc = prepare_all(s, err, err_size);
    if (rc < 0)
        prefix_err(err, err_size, path);
    return rc;
}

static int init_sync(struct tocsin_store *s)
{
    int rc = uv_mutex_init(&s->lock);

    if (rc < 0)
        return rc;
    rc = uv_cond_init(&s->wake);
    if (rc < 0) {
        uv_mutex_destroy(&s->lock);
        return rc;
    }
    rc = uv_cond_init(&s->loaded);
    if (rc < 0) {
        uv_cond_destroy(&s->wake);
        uv_mutex_destroy(&s->lock);
    }
    return rc;
}

static void on_failed_start_closed(uv_handle_t *handle)
{
    struct tocsin_store *s = handle->data;

    destroy_sync(s);
    free(s);
}

/* Returns with the thread running, or with everything but S freed; when the
 * async handle was initialised S is freed by its close callback (*HANDED). */
static int start_thread(struct tocsin_store *s, bool *handed)
{
    int rc = init_sync(s);

    if (rc < 0)
        return rc;
    rc = uv_async_init(s->loop, &s->async, on_async);
    if (rc < 0) {
        destroy_sync(s);
        return rc;
    }
    s->async.data = s;
    rc = uv_thread_create(&s->thread, store_thread, s);
    if (rc < 0) {
        close_db(s);
        *handed = true;
        uv_close((uv_handle_t *)&s->async, on_failed_start_closed);
    }
    return rc;
}

static char *db_path(const char *state_dir)
{
    size_t len = strlen(state_dir) + sizeof("/" DB_NAME);
    char *path = malloc(len);

    if (path)
        snprintf(path, len, "%s/%s", state_dir, DB_NAME);
    return path;
}

int tocsin_store_open(uv_loop_t *loop, const char *state_dir, struct tocsin_store **out,
                      char *err, size_t err_size)
{
    struct tocsin_store *s = NULL;
    char *path = NULL;
    bool handed = false;
    int rc;

    set_err(err, err_size, "%s", "");
    if (out)
        *out = NULL;
    if (loop == NULL || state_dir == NULL || state_dir[0] == '\0' || out == NULL) {
        set_err(err, err_size, "%s", "no state_dir");
        return -EINVAL;
    }
    s = calloc(1, sizeof(*s));
    path = db_path(state_dir);
    rc = s && path ? make_dirs(state_dir, err, err_size) : -ENOMEM;
    if (rc == 0)
        rc = create_db_file(path, err, err_size);
    if (rc == 0) {
        s->loop = loop;
        rc = open_db(s, path, err, err_size);
    }
    if (rc == 0)
        rc = start_thread(s, &handed);
    if (rc == -ENOMEM && err && err[0] == '\0')
        set_err(err, err_size, "%s", "out of memory");
    else if (rc < 0 && err && err[0] == '\0')
        set_err(err, err_size, "cannot start the store thread: %s", strerror(-rc));
    if (rc < 0 && s && !handed) {
        close_db(s);
        free(s);
    }
    free(path);
    if (rc == 0)
        *out = s;
    return rc;
}
