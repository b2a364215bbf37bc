/* src/store.c on a real libuv loop and a real SQLite file in a mkdtemp
 * directory: inserts and updates committed in batches through the store
 * thread, exact bodies back from load, unique request ids, closing with
 * operations queued, retention, dead rows retried and purged, a failing commit
 * (RLIMIT_FSIZE: works as root too) that rolls back and lets the store go on,
 * an unusable state_dir, and a child killed with SIGKILL after its commits.
 *
 * Every wait is bounded (wide bounds: valgrind), and every test closes its
 * store and ends with uv_loop_close() == 0. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "tocsin/store.h"

#define WAIT_MS 20000 /* a commit takes milliseconds; valgrind and loaded disks are slower */
#define DAY_MS (24ll * 3600 * 1000)
#define MAX_RESULTS 1000

/* Bytes a body must survive: NUL, invalid UTF-8, a lone continuation byte, controls. */
static const char hostile_body[] = "{\"msg\":\"a\0b\xff\xfe\xc3\x28\x80\x01\x7f\"}\n";
#define HOSTILE_LEN (sizeof(hostile_body) - 1)

struct result {
    int calls;
    int status;
    int64_t id;
    unsigned seq; /* order among all callbacks of the harness */
};

struct harness {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
    char dir[64];
    char state[96];
    struct tocsin_store *s;
    int completed;
    int closed;
    unsigned seq;
    unsigned closed_seq;
    struct result results[MAX_RESULTS];
};

/* Callbacks find their harness through this: one test at a time. */
static struct harness *current;

/* ---- harness ---- */

static void on_done(void *data, int status, int64_t id)
{
    struct result *r = data;

    r->calls++;
    r->status = status;
    r->id = id;
    r->seq = ++current->seq;
    current->completed++;
}

static void on_closed(void *data)
{
    struct harness *h = data;

    h->closed++;
    h->closed_seq = ++h->seq;
}

static void on_deadline(uv_timer_t *t)
{
    struct harness *h = t->data;

    h->expired = true;
}

/* Runs the loop until *COUNTER reaches TARGET or WAIT_MS pass. */
static bool run_until(struct harness *h, const int *counter, int target)
{
    h->expired = false;
    uv_timer_start(&h->deadline, on_deadline, WAIT_MS, 0);
    while (*counter < target && !h->expired)
        uv_run(&h->loop, UV_RUN_ONCE);
    uv_timer_stop(&h->deadline);
    return *counter >= target;
}

static struct harness *harness_new(void)
{
    struct harness *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    snprintf(h->dir, sizeof(h->dir), "/tmp/tocsin-store-XXXXXX");
    assert_non_null(mkdtemp(h->dir));
    /* A directory that does not exist yet: the store creates it. */
    snprintf(h->state, sizeof(h->state), "%s/state", h->dir);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(uv_timer_init(&h->loop, &h->deadline), 0);
    h->deadline.data = h;
    current = h;
    return h;
}

static void store_open(struct harness *h)
{
    char err[256] = "unset";

    assert_int_equal(tocsin_store_open(&h->loop, h->state, &h->s, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_non_null(h->s);
}

static void store_close(struct harness *h)
{
    int target = h->closed + 1;

    tocsin_store_close(h->s, on_closed, h);
    h->s = NULL;
    assert_true(run_until(h, &h->closed, target));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void harness_end(struct harness *h)
{
    if (h->s)
        store_close(h);
    uv_close((uv_handle_t *)&h->deadline, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    chmod(h->state, 0700);
    nftw(h->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    current = NULL;
    free(h);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct tocsin_outbox_row make_row(const char *request_id, const char *webhook,
                                         enum tocsin_outbox_state state)
{
    struct tocsin_outbox_row row = {
        .webhook = (char *)webhook,
        .monitor = "api-eu",
        .event = "incident",
        .level = 2,
        .url = "https://hooks.example/alert",
        .body = "{}",
        .body_len = 2,
        .attempts = 0,
        .created_ms = now_ms(),
        .next_attempt_ms = now_ms(),
        .state = state,
    };

    snprintf(row.request_id, sizeof(row.request_id), "%s", request_id);
    return row;
}

static void insert(struct harness *h, const struct tocsin_outbox_row *row, struct result *r)
{
    assert_int_equal(tocsin_store_insert(h->s, row, on_done, r), 0);
}

static void insert_one(struct harness *h, const char *request_id, const char *webhook,
                       enum tocsin_outbox_state state, struct result *r)
{
    struct tocsin_outbox_row row = make_row(request_id, webhook, state);
    int target = h->completed + 1;

    insert(h, &row, r);
    assert_true(run_until(h, &h->completed, target));
    assert_int_equal(r->status, 0);
    assert_true(r->id > 0);
}

static void load(struct harness *h, struct tocsin_outbox_row **rows, size_t *n)
{
    assert_int_equal(tocsin_store_load(h->s, rows, n), 0);
}

static char *db_file(const struct harness *h, const char *suffix)
{
    static char path[160];

    snprintf(path, sizeof(path), "%s/tocsin.db%s", h->state, suffix);
    return path;
}

/* The schema behind the store's back, for what the API cannot do (age rows). */
static void raw_sql(const struct harness *h, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(db_file(h, ""), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int raw_count(const struct harness *h)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;

    assert_int_equal(sqlite3_open(db_file(h, ""), &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox", -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* ---- tests ---- */

static void test_insert_update_load(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_outbox_row row, *rows = NULL;
    size_t n = 0;
    int64_t created = now_ms() - 1234;

    (void)state;
    store_open(h);
    row = make_row("11111111-1111-4111-8111-111111111111", "ops", TOCSIN_OUTBOX_PENDING);
    row.body = (char *)hostile_body;
    row.body_len = HOSTILE_LEN;
    row.created_ms = created;
    row.next_attempt_ms = created + 5;
    row.level = 3;
    row.event = "recovery";
    row.monitor = "m\xc3\xa9t\xff"; /* non-ASCII, invalid UTF-8: bytes kept */
    insert(h, &row, &r[0]);
    row = make_row("req-2", "ops", TOCSIN_OUTBOX_PENDING);
    insert(h, &row, &r[1]);
    row = make_row("req-3", "pager", TOCSIN_OUTBOX_PENDING);
    row.body = NULL; /* an empty body is stored empty, not lost */
    row.body_len = 0;
    insert(h, &row, &r[2]);
    assert_int_equal(r[0].calls + r[1].calls + r[2].calls, 0); /* only after the commit */
    assert_true(run_until(h, &h->completed, 3));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, 0);
        assert_true(r[i].id > 0);
        assert_true(i == 0 || r[i].id > r[i - 1].id);
    }

    assert_int_equal(tocsin_store_update(h->s, r[0].id, TOCSIN_OUTBOX_PENDING, 2, created + 60000,
                                         "HTTP 500", on_done, &r[3]), 0);
    assert_int_equal(tocsin_store_update(h->s, r[1].id, TOCSIN_OUTBOX_DELIVERED, 1, 0, NULL,
                                         on_done, &r[4]), 0);
    assert_int_equal(tocsin_store_update(h->s, r[2].id, TOCSIN_OUTBOX_DEAD, 6, 0, "HTTP 410 Gone",
                                         on_done, &r[5]), 0);
    assert_int_equal(tocsin_store_update(h->s, 987654, TOCSIN_OUTBOX_DEAD, 1, 0, NULL, on_done,
                                         &r[6]), 0);
    assert_int_equal(tocsin_store_update(h->s, r[0].id, TOCSIN_OUTBOX_PENDING, 3, created + 90000,
                                         NULL, NULL, NULL), 0); /* no callback, clears the error */
    assert_true(run_until(h, &h->completed, 7));
    assert_int_equal(r[3].status, 0);
    assert_int_equal(r[3].id, r[0].id);
    assert_int_equal(r[4].status, 0);
    assert_int_equal(r[5].status, 0);
    assert_int_equal(r[6].status, -ENOENT);
    assert_int_equal(tocsin_store_update(h->s, 0, TOCSIN_OUTBOX_DEAD, 1, 0, NULL, NULL, NULL),
                     -EINVAL);

    load(h, &rows, &n);
    assert_int_equal(n, 2); /* pending and dead, not delivered */
    assert_int_equal(rows[0].id, r[0].id);
    assert_string_equal(rows[0].request_id, "11111111-1111-4111-8111-111111111111");
    assert_string_equal(rows[0].webhook, "ops");
    assert_string_equal(rows[0].monitor, "m\xc3\xa9t\xff");
    assert_string_equal(rows[0].event, "recovery");
    assert_string_equal(rows[0].url, "https://hooks.example/alert");
    assert_int_equal(rows[0].level, 3);
    assert_int_equal(rows[0].body_len, HOSTILE_LEN);
    assert_memory_equal(rows[0].body, hostile_body, HOSTILE_LEN);
    assert_int_equal(rows[0].body[HOSTILE_LEN], '\0');
    assert_int_equal(rows[0].attempts, 3);
    assert_int_equal(rows[0].created_ms, created);
    assert_int_equal(rows[0].next_attempt_ms, created + 90000);
    assert_int_equal(rows[0].state, TOCSIN_OUTBOX_PENDING);
    assert_null(rows[0].last_error);
    assert_int_equal(rows[1].id, r[2].id);
    assert_string_equal(rows[1].request_id, "req-3");
    assert_string_equal(rows[1].webhook, "pager");
    assert_int_equal(rows[1].state, TOCSIN_OUTBOX_DEAD);
    assert_int_equal(rows[1].attempts, 6);
    assert_string_equal(rows[1].last_error, "HTTP 410 Gone");
    assert_int_equal(rows[1].body_len, 0);
    assert_non_null(rows[1].body);
    tocsin_outbox_rows_free(rows, n);
    harness_end(h);
}

/* Start-up: the sender loads before the loop runs; what was queued before the
 * load is committed first and in the answer; callbacks come when the loop runs. */
static void test_load_before_the_loop_runs(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_outbox_row row = make_row("early", "ops", TOCSIN_OUTBOX_PENDING);
    struct tocsin_outbox_row *rows = NULL;
    size_t n = 0;

    (void)state;
    store_open(h);
    load(h, &rows, &n);
    assert_int_equal(n, 0);
    assert_null(rows);
    insert(h, &row, &r[0]);
    load(h, &rows, &n);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].request_id, "early");
    assert_int_equal(r[0].calls, 0);
    assert_true(run_until(h, &h->completed, 1));
    assert_int_equal(r[0].status, 0);
    assert_int_equal(r[0].id, rows[0].id);
    tocsin_outbox_rows_free(rows, n);
    harness_end(h);
}

static void test_request_id_is_unique(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_outbox_row row = make_row("dup", "ops", TOCSIN_OUTBOX_PENDING);
    struct tocsin_outbox_row other = make_row("other", "ops", TOCSIN_OUTBOX_PENDING);
    struct tocsin_outbox_row *rows = NULL;
    struct tocsin_store_stats before, after;
    size_t n = 0;

    (void)state;
    store_open(h);
    insert_one(h, "dup", "ops", TOCSIN_OUTBOX_PENDING, &r[0]);
    tocsin_store_stats(h->s, &before);
    /* In one batch or several: the duplicates fail alone, the other row
     * commits. */
    insert(h, &row, &r[1]);
    insert(h, &other, &r[2]);
    insert(h, &other, &r[3]);
    assert_true(run_until(h, &h->completed, 4));
    assert_int_equal(r[1].status, -EEXIST);
    assert_int_equal(r[1].id, r[0].id); /* the row that has it */
    assert_int_equal(r[2].status, 0);
    assert_int_equal(r[3].status, -EEXIST);
    assert_int_equal(r[3].id, r[2].id);
    tocsin_store_stats(h->s, &after);
    assert_int_equal(after.failed, before.failed);

    /* Refused at once, without a callback. */
    row.request_id[0] = '\0';
    assert_int_equal(tocsin_store_insert(h->s, &row, on_done, &r[4]), -EINVAL);
    row = make_row("nobody", "ops", TOCSIN_OUTBOX_PENDING);
    row.body = NULL;
    row.body_len = 5;
    assert_int_equal(tocsin_store_insert(h->s, &row, on_done, &r[4]), -EINVAL);
    row.body = "x";
    row.body_len = TOCSIN_STORE_MAX_BODY + 1;
    assert_int_equal(tocsin_store_insert(h->s, &row, on_done, &r[4]), -E2BIG);
    memset(row.request_id, 'x', sizeof(row.request_id)); /* not terminated */
    row.body_len = 1;
    assert_int_equal(tocsin_store_insert(h->s, &row, on_done, &r[4]), -EINVAL);
    assert_int_equal(r[4].calls, 0);

    load(h, &rows, &n);
    assert_int_equal(n, 2);
    tocsin_outbox_rows_free(rows, n);
    assert_int_equal(r[4].calls, 0);
    harness_end(h);
}

/* 1000 inserts queued in one loop iteration: a few transactions (one fsync
 * each), not 1000.  How few depends on how fast the worker takes the first
 * ones while the rest are still being queued (no waiting window), so the
 * bound is loose: a slow sanitizer build on a loaded host must pass too. */
static void test_batching(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_store_stats before, after;
    char id[37];

    (void)state;
    store_open(h);
    tocsin_store_stats(h->s, &before);
    for (int i = 0; i < MAX_RESULTS; i++) {
        struct tocsin_outbox_row row;
        snprintf(id, sizeof(id), "batch-%04d", i);
        row = make_row(id, "ops", TOCSIN_OUTBOX_PENDING);
        insert(h, &row, &r[i]);
    }
    assert_true(run_until(h, &h->completed, MAX_RESULTS));
    for (int i = 0; i < MAX_RESULTS; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, 0);
        assert_true(i == 0 || (r[i].id > r[i - 1].id && r[i].seq > r[i - 1].seq));
    }
    tocsin_store_stats(h->s, &after);
    print_message("1000 inserts in %llu transactions\n",
                  (unsigned long long)(after.transactions - before.transactions));
    assert_true(after.transactions - before.transactions >= 1);
    assert_true(after.transactions - before.transactions <= 100);
    assert_int_equal(after.ops - before.ops, MAX_RESULTS);
    assert_int_equal(after.failed, before.failed);
    assert_int_equal(after.queued, 0);
    harness_end(h);
}

static void test_close_commits_what_is_queued(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_outbox_row *rows = NULL;
    struct tocsin_store *s;
    size_t n = 0;
    char id[37];

    (void)state;
    store_open(h);
    for (int i = 0; i < 100; i++) {
        struct tocsin_outbox_row row;
        snprintf(id, sizeof(id), "close-%03d", i);
        row = make_row(id, "ops", TOCSIN_OUTBOX_PENDING);
        insert(h, &row, &r[i]);
    }
    s = h->s;
    tocsin_store_close(s, on_closed, h);
    h->s = NULL;
    {
        struct tocsin_outbox_row row = make_row("late", "ops", TOCSIN_OUTBOX_PENDING);
        assert_int_equal(tocsin_store_insert(s, &row, on_done, &r[100]), -ECANCELED);
        assert_int_equal(tocsin_store_update(s, 1, TOCSIN_OUTBOX_DEAD, 1, 0, NULL, on_done, &r[100]),
                         -ECANCELED);
        assert_int_equal(tocsin_store_load(s, &rows, &n), -ECANCELED);
        assert_int_equal(tocsin_store_purge(s, 0, NULL, on_done, &r[100]), -ECANCELED);
    }
    assert_true(run_until(h, &h->closed, 1));
    assert_int_equal(h->completed, 100); /* every queued op, and only those */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(r[i].status, 0);
        assert_true(r[i].seq < h->closed_seq); /* completions before the close callback */
    }
    assert_int_equal(r[100].calls, 0);
    assert_int_equal(access(db_file(h, "-wal"), F_OK), -1); /* a clean close checkpoints */

    store_open(h);
    load(h, &rows, &n);
    assert_int_equal(n, 100);
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "close-%03zu", i);
        assert_string_equal(rows[i].request_id, id);
        assert_int_equal(rows[i].id, r[i].id);
    }
    tocsin_outbox_rows_free(rows, n);
    harness_end(h);
}

static void test_retry_and_purge_dead_rows(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_outbox_row *rows = NULL;
    size_t n = 0;
    int64_t before = now_ms();

    (void)state;
    store_open(h);
    insert_one(h, "a1", "a", TOCSIN_OUTBOX_DEAD, &r[0]);
    insert_one(h, "a2", "a", TOCSIN_OUTBOX_DEAD, &r[1]);
    insert_one(h, "b1", "b", TOCSIN_OUTBOX_DEAD, &r[2]);
    insert_one(h, "p", "a", TOCSIN_OUTBOX_PENDING, &r[3]);
    assert_int_equal(tocsin_store_update(h->s, r[0].id, TOCSIN_OUTBOX_DEAD, 6, 0, "HTTP 503",
                                         NULL, NULL), 0);

    assert_int_equal(tocsin_store_mark_retry(h->s, r[0].id, NULL, on_done, &r[4]), 0);
    assert_int_equal(tocsin_store_mark_retry(h->s, r[3].id, NULL, on_done, &r[5]), 0);
    assert_int_equal(tocsin_store_mark_retry(h->s, 0, "b", on_done, &r[6]), 0);
    assert_int_equal(tocsin_store_purge(h->s, 0, "a", on_done, &r[7]), 0);
    assert_int_equal(tocsin_store_purge(h->s, 0, NULL, on_done, &r[8]), 0);
    assert_int_equal(tocsin_store_purge(h->s, r[3].id, NULL, on_done, &r[9]), 0);
    assert_int_equal(tocsin_store_mark_retry(h->s, -1, NULL, on_done, &r[10]), -EINVAL);
    assert_true(run_until(h, &h->completed, 10));
    assert_int_equal(r[4].status, 0);
    assert_int_equal(r[4].id, 1);
    assert_int_equal(r[5].status, -ENOENT); /* pending, not dead */
    assert_int_equal(r[6].status, 0);
    assert_int_equal(r[6].id, 1);
    assert_int_equal(r[7].status, 0);
    assert_int_equal(r[7].id, 1); /* a2 */
    assert_int_equal(r[8].status, 0);
    assert_int_equal(r[8].id, 0); /* nothing dead left */
    assert_int_equal(r[9].status, -ENOENT);
    assert_int_equal(r[10].calls, 0);

    load(h, &rows, &n);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].request_id, "a1");
    assert_int_equal(rows[0].state, TOCSIN_OUTBOX_PENDING);
    assert_int_equal(rows[0].attempts, 0);
    assert_true(rows[0].next_attempt_ms >= before && rows[0].next_attempt_ms <= now_ms());
    assert_string_equal(rows[0].last_error, "HTTP 503"); /* kept for the list */
    assert_string_equal(rows[1].request_id, "b1");
    assert_int_equal(rows[1].state, TOCSIN_OUTBOX_PENDING);
    assert_string_equal(rows[2].request_id, "p");
    tocsin_outbox_rows_free(rows, n);

    /* A purged id is never handed out again. */
    insert_one(h, "a3", "a", TOCSIN_OUTBOX_PENDING, &r[11]);
    assert_true(r[11].id > r[3].id);
    harness_end(h);
}

/* Retention on open: delivered rows unchanged for over 7 days go; pending and
 * dead rows stay whatever their age.  Also the modes of what open creates. */
static void test_prune_and_modes(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_store_stats stats = {0};
    struct stat st;

    (void)state;
    store_open(h);
    assert_int_equal(stat(h->state, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    assert_int_equal(stat(db_file(h, ""), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    insert_one(h, "old-delivered", "ops", TOCSIN_OUTBOX_DELIVERED, &r[0]);
    insert_one(h, "new-delivered", "ops", TOCSIN_OUTBOX_DELIVERED, &r[1]);
    insert_one(h, "old-pending", "ops", TOCSIN_OUTBOX_PENDING, &r[2]);
    insert_one(h, "old-dead", "ops", TOCSIN_OUTBOX_DEAD, &r[3]);
    store_close(h);
    raw_sql(h, "UPDATE outbox SET updated_ms = updated_ms - 8 * 86400000,"
               " created_ms = created_ms - 8 * 86400000 WHERE request_id LIKE 'old-%'");

    store_open(h);
    for (int i = 0; i < WAIT_MS / 10 && stats.prunes == 0; i++) {
        uv_sleep(10);
        tocsin_store_stats(h->s, &stats);
    }
    assert_int_equal(stats.prunes, 1);
    assert_int_equal(stats.pruned, 1);
    store_close(h);
    assert_int_equal(raw_count(h), 3);
    harness_end(h);
}

static void test_newer_schema_is_refused(void **state)
{
    struct harness *h = harness_new();
    struct tocsin_store *s = NULL;
    char err[256] = "";

    (void)state;
    store_open(h);
    store_close(h);
    raw_sql(h, "PRAGMA user_version = 99");
    assert_int_equal(tocsin_store_open(&h->loop, h->state, &s, err, sizeof(err)), -ENOTSUP);
    assert_null(s);
    assert_non_null(strstr(err, "newer"));
    harness_end(h);
}

static void expect_open_fails(struct harness *h, const char *dir, const char *words)
{
    struct tocsin_store *s = (struct tocsin_store *)&s; /* must be reset */
    char err[256] = "";

    assert_true(tocsin_store_open(&h->loop, dir, &s, err, sizeof(err)) < 0);
    assert_null(s);
    print_message("open %s: %s\n", dir, err);
    assert_non_null(strstr(err, words));
}

static void test_unusable_state_dir(void **state)
{
    struct harness *h = harness_new();
    char path[160];
    int fd;

    (void)state;
    /* Root ignores modes: a path under a regular file fails for everyone. */
    snprintf(path, sizeof(path), "%s/file", h->dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    expect_open_fails(h, path, "state_dir");
    snprintf(path, sizeof(path), "%s/file/state", h->dir);
    expect_open_fails(h, path, "state_dir");
    expect_open_fails(h, "/proc/tocsin-store-test/state", "state_dir");

    if (geteuid() != 0) {
        struct tocsin_store *s = NULL;
        struct result *r = h->results;
        char err[256] = "";

        store_open(h);
        store_close(h);
        assert_int_equal(chmod(h->state, 0500), 0);
        if (tocsin_store_open(&h->loop, h->state, &s, err, sizeof(err)) < 0) {
            print_message("read-only state_dir: %s\n", err);
            assert_true(err[0] != '\0');
        } else {
            struct tocsin_outbox_row row = make_row("ro", "ops", TOCSIN_OUTBOX_PENDING);
            h->s = s;
            insert(h, &row, &r[0]);
            assert_true(run_until(h, &h->completed, 1));
            assert_true(r[0].status < 0);
        }
        chmod(h->state, 0700);
    }
    harness_end(h);
}

/* A commit that cannot be written (EFBIG from RLIMIT_FSIZE here; a full disk
 * in production) fails every op of its batch, is rolled back, and the store
 * goes on: the same rows commit once the disk takes them.  (That a batch
 * fails as one is test_monitor_states_and_groups' group case.) */
static void test_failed_commit_rolls_back_and_goes_on(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_outbox_row big = make_row("big", "ops", TOCSIN_OUTBOX_PENDING);
    struct tocsin_outbox_row small = make_row("small", "ops", TOCSIN_OUTBOX_PENDING);
    struct tocsin_outbox_row *rows = NULL;
    struct tocsin_store_stats before, after;
    struct rlimit saved, limit;
    struct stat st;
    size_t big_len = 512 * 1024;
    char *body = malloc(big_len);
    size_t n = 0;

    (void)state;
    assert_non_null(body);
    for (size_t i = 0; i < big_len; i++)
        body[i] = (char)(i * 7 + 3); /* incompressible enough, NULs included */
    big.body = body;
    big.body_len = big_len;
    signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead */
    store_open(h);
    insert_one(h, "first", "ops", TOCSIN_OUTBOX_PENDING, &r[0]);
    assert_int_equal(stat(db_file(h, "-wal"), &st), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    limit = saved;
    limit.rlim_cur = (rlim_t)st.st_size + 1024;
    tocsin_store_stats(h->s, &before);

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    insert(h, &big, &r[1]);
    insert(h, &small, &r[2]);
    assert_true(run_until(h, &h->completed, 3));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    print_message("failed commit: %s\n", strerror(-r[1].status));
    assert_true(r[1].status < 0);
    assert_int_equal(r[2].status, r[1].status); /* small does not fit either */
    tocsin_store_stats(h->s, &after);
    /* With group commit and no waiting window the worker may take "big"
     * alone, before "small" is queued: one failed batch or two, never a
     * commit. */
    assert_in_range(after.failed - before.failed, 1, 2);
    assert_int_equal(after.transactions, before.transactions);

    insert(h, &big, &r[3]);
    insert(h, &small, &r[4]);
    assert_true(run_until(h, &h->completed, 5));
    assert_int_equal(r[3].status, 0);
    assert_int_equal(r[4].status, 0);
    load(h, &rows, &n);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].request_id, "first");
    assert_string_equal(rows[1].request_id, "big");
    assert_int_equal(rows[1].body_len, big_len);
    assert_memory_equal(rows[1].body, body, big_len);
    assert_string_equal(rows[2].request_id, "small");
    tocsin_outbox_rows_free(rows, n);
    free(body);
    signal(SIGXFSZ, SIG_DFL);
    harness_end(h);
}

/* ---- monitor states ---- */

/* Upsert, delete, load; and a group (a state and the outbox rows of its
 * decision) reaches the disk as one transaction, or fails as one. */
static void test_monitor_states_and_groups(void **state)
{
    struct harness *h = harness_new();
    struct result *r = h->results;
    struct tocsin_outbox_row row = make_row("grouped", "ops", TOCSIN_OUTBOX_PENDING);
    struct tocsin_state_row *states = NULL;
    struct tocsin_outbox_row *rows = NULL;
    struct tocsin_store_stats before, after;
    struct rlimit saved, limit;
    struct stat st;
    size_t big_len = 256 * 1024, n = 0;
    char *big = malloc(big_len + 1);

    (void)state;
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + (i * 7919) % 26);
    big[big_len] = '\0';
    store_open(h);
    assert_int_equal(tocsin_store_put_state(h->s, "api", "http GET u r1", "{\"v\":1}", on_done,
                                            &r[0]), 0);
    assert_int_equal(tocsin_store_put_state(h->s, "db", "tcp h:1 r1", "{}", on_done, &r[1]), 0);
    assert_int_equal(tocsin_store_put_state(h->s, "api", "http GET u r1,r2", "{\"v\":2}",
                                            on_done, &r[2]), 0);
    assert_int_equal(tocsin_store_delete_state(h->s, "db", on_done, &r[3]), 0);
    assert_int_equal(tocsin_store_put_state(h->s, NULL, "x", "{}", on_done, &r[4]), -EINVAL);
    assert_true(run_until(h, &h->completed, 4));
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].status, 0);
    assert_int_equal(tocsin_store_load_states(h->s, &states, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(states[0].monitor, "api");
    assert_string_equal(states[0].identity, "http GET u r1,r2");
    assert_string_equal(states[0].state, "{\"v\":2}");
    assert_true(states[0].updated_ms > 0);
    tocsin_state_rows_free(states, n);

    /* A group that cannot be written fails whole: neither part is stored. */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(stat(db_file(h, "-wal"), &st), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    limit = saved;
    limit.rlim_cur = (rlim_t)st.st_size + 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    tocsin_store_group_begin(h->s);
    assert_int_equal(tocsin_store_put_state(h->s, "api", "i", big, on_done, &r[5]), 0);
    insert(h, &row, &r[6]);
    tocsin_store_group_end(h->s);
    assert_true(run_until(h, &h->completed, 6));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_true(r[5].status < 0);
    assert_int_equal(r[6].status, r[5].status);
    load(h, &rows, &n);
    assert_int_equal(n, 0);
    tocsin_outbox_rows_free(rows, n);

    /* The same group with room: one transaction holds both. */
    tocsin_store_stats(h->s, &before);
    tocsin_store_group_begin(h->s);
    assert_int_equal(tocsin_store_put_state(h->s, "api", "i", big, on_done, &r[7]), 0);
    insert(h, &row, &r[8]);
    tocsin_store_group_end(h->s);
    assert_true(run_until(h, &h->completed, 8));
    assert_int_equal(r[7].status, 0);
    assert_int_equal(r[8].status, 0);
    tocsin_store_stats(h->s, &after);
    assert_int_equal(after.transactions - before.transactions, 1);
    assert_int_equal(tocsin_store_load_states(h->s, &states, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(states[0].state), big_len);
    tocsin_state_rows_free(states, n);
    free(big);
    harness_end(h);
}

/* ---- kill -9 ---- */

static int child_done;

static void on_child_done(void *data, int status, int64_t id)
{
    (void)id;
    if (status == 0)
        child_done++;
    else
        *(bool *)data = true;
}

static void on_child_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* In the child: 10 inserts, all committed, "ready", then wait to be killed. */
static void crash_child(const char *state_dir, int fd)
{
    uv_loop_t loop;
    uv_timer_t deadline;
    struct tocsin_store *s = NULL;
    bool failed = false, expired = false;
    char id[37];

    alarm(3 * WAIT_MS / 1000); /* never outlives a parent that failed before kill */
    if (uv_loop_init(&loop) < 0 || tocsin_store_open(&loop, state_dir, &s, NULL, 0) < 0)
        _exit(2);
    uv_timer_init(&loop, &deadline);
    deadline.data = &expired;
    uv_timer_start(&deadline, on_child_deadline, WAIT_MS, 0);
    for (int i = 0; i < 10; i++) {
        struct tocsin_outbox_row row;
        snprintf(id, sizeof(id), "crash-%02d", i);
        row = make_row(id, "ops", TOCSIN_OUTBOX_PENDING);
        row.body = (char *)hostile_body;
        row.body_len = HOSTILE_LEN;
        if (tocsin_store_insert(s, &row, on_child_done, &failed) < 0)
            _exit(3);
    }
    while (child_done < 10 && !failed && !expired)
        uv_run(&loop, UV_RUN_ONCE);
    if (child_done < 10 || write(fd, "ready", 5) != 5)
        _exit(4);
    for (;;)
        pause();
}

static void test_kill_9_after_commit(void **state)
{
    struct harness *h = harness_new();
    struct tocsin_outbox_row *rows = NULL;
    struct pollfd pfd;
    char buf[8] = "";
    char id[37];
    int fds[2], wstatus = 0;
    size_t n = 0;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(h->state, fds[1]);
    }
    close(fds[1]);
    pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
    assert_int_equal(read(fds[0], buf, sizeof(buf) - 1), 5);
    assert_string_equal(buf, "ready");
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
    close(fds[0]);
    assert_int_equal(access(db_file(h, "-wal"), F_OK), 0); /* no clean close happened */

    store_open(h);
    load(h, &rows, &n);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "crash-%02zu", i);
        assert_string_equal(rows[i].request_id, id);
        assert_int_equal(rows[i].body_len, HOSTILE_LEN);
        assert_memory_equal(rows[i].body, hostile_body, HOSTILE_LEN);
    }
    tocsin_outbox_rows_free(rows, n);
    harness_end(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_update_load),
        cmocka_unit_test(test_load_before_the_loop_runs),
        cmocka_unit_test(test_request_id_is_unique),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_close_commits_what_is_queued),
        cmocka_unit_test(test_retry_and_purge_dead_rows),
        cmocka_unit_test(test_prune_and_modes),
        cmocka_unit_test(test_newer_schema_is_refused),
        cmocka_unit_test(test_unusable_state_dir),
        cmocka_unit_test(test_failed_commit_rolls_back_and_goes_on),
        cmocka_unit_test(test_kill_9_after_commit),
        cmocka_unit_test(test_monitor_states_and_groups),
    };

    umask(022);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
