/* The epoll-backed socket table on a real libuv loop, with real socket pairs:
 * events reach the right callback, a released socket stays quiet, a number
 * closed and reused inside one batch of events never gets the old socket's
 * event, a socket the library closed itself can be watched again under the
 * same number, a watch left for a later flush costs nothing until then, and
 * closing the table drains once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tocsin/fdpoll.h"

/* Iterations of UV_RUN_NOWAIT a test may spend waiting for an event. */
enum { MAX_SPINS = 200 };

struct seen {
    int calls;
    int last_events;
    int last_status;
    int fd;
    struct tocsin_fdtable *table;
    bool drain;        /* read what is readable (level-triggered: else it fires again) */
    int close_fd;      /* when >= 0, the first callback closes it and reuses its number */
    int reused[2];     /* the socket pair made in its place */
    struct seen *reused_seen;
};

static void on_event(struct tocsin_fdpoll *p, int status, int events)
{
    struct seen *s = p->data;

    s->calls++;
    s->last_events = events;
    s->last_status = status;
    s->fd = p->fd;
    if (s->drain && (events & UV_READABLE)) {
        char buf[16];

        while (read(p->fd, buf, sizeof(buf)) > 0)
            ;
    }
    if (s->close_fd >= 0) {
        int fd = s->close_fd;

        s->close_fd = -1;
        tocsin_fdtable_close_socket(s->table, fd);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s->reused), 0);
        assert_int_equal(s->reused[0], fd); /* the lowest free number: the one just closed */
        assert_int_equal(tocsin_fdtable_watch(s->table, s->reused[0], UV_READABLE, on_event,
                                              s->reused_seen),
                         0);
    }
}

static void spin_until(uv_loop_t *loop, const int *calls, int want)
{
    for (int i = 0; i < MAX_SPINS && *calls < want; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static void spin(uv_loop_t *loop, int n)
{
    for (int i = 0; i < n; i++)
        uv_run(loop, UV_RUN_NOWAIT);
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static int drained_calls;

static void on_drained(struct tocsin_fdtable *t)
{
    (void)t;
    drained_calls++;
}

static void close_table(uv_loop_t *loop, struct tocsin_fdtable *t)
{
    drained_calls = 0;
    t->drained = on_drained;
    tocsin_fdtable_close(t);
    spin(loop, 5);
    assert_int_equal(drained_calls, 1);
    assert_int_equal(t->n_open, 0);
    assert_int_equal(t->epfd, -1);
    tocsin_fdtable_free(t);
    assert_int_equal(uv_loop_close(loop), 0); /* no handle left behind */
}

static void test_events_release_and_change(void **state)
{
    uv_loop_t loop;
    struct tocsin_fdtable t;
    struct seen s = {.close_fd = -1};
    int sv[2];

    (void)state;
    uv_loop_init(&loop);
    tocsin_fdtable_init(&t, &loop);
    pair(sv);
    assert_int_equal(tocsin_fdtable_watch(&t, sv[0], UV_READABLE, on_event, &s), 0);
    spin(&loop, 3);
    assert_int_equal(s.calls, 0); /* nothing to read yet */
    assert_int_equal(write(sv[1], "x", 1), 1);
    spin_until(&loop, &s.calls, 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last_events, UV_READABLE);
    assert_int_equal(s.last_status, 0);
    assert_int_equal(s.fd, sv[0]);

    /* Released: still readable, never reported again, and taken out of the set. */
    tocsin_fdtable_release(&t, sv[0]);
    spin(&loop, 5);
    assert_int_equal(s.calls, 1);
    assert_false(t.slots[sv[0]]->registered);

    /* Watched again, now for writing (ADD after the lazy delete). */
    assert_int_equal(tocsin_fdtable_watch(&t, sv[0], UV_WRITABLE, on_event, &s), 0);
    spin_until(&loop, &s.calls, 2);
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.last_events, UV_WRITABLE); /* readable too, but not asked for */

    /* The peer goes away: the hang-up is reported with what is watched. */
    assert_int_equal(tocsin_fdtable_watch(&t, sv[0], UV_READABLE, on_event, &s), 0);
    close(sv[1]);
    spin_until(&loop, &s.calls, 3);
    assert_true(s.calls >= 3);
    assert_true(s.last_events & UV_READABLE);
    tocsin_fdtable_close_socket(&t, sv[0]);
    close_table(&loop, &t);
}

/* Two readable sockets in one batch; whichever callback runs first closes the
 * other and puts a new, quiet socket under its number.  The event already read
 * for the old socket must not reach the new one. */
static void test_reuse_inside_a_batch(void **state)
{
    uv_loop_t loop;
    struct tocsin_fdtable t;
    struct seen a = {.close_fd = -1, .drain = true}, b = {.close_fd = -1, .drain = true};
    struct seen fresh = {.close_fd = -1, .drain = true};
    int sa[2], sb[2];

    (void)state;
    uv_loop_init(&loop);
    tocsin_fdtable_init(&t, &loop);
    pair(sa);
    pair(sb);
    a.table = b.table = &t;
    a.close_fd = sb[0];
    a.reused_seen = &fresh;
    b.close_fd = sa[0];
    b.reused_seen = &fresh;
    assert_int_equal(tocsin_fdtable_watch(&t, sa[0], UV_READABLE, on_event, &a), 0);
    assert_int_equal(tocsin_fdtable_watch(&t, sb[0], UV_READABLE, on_event, &b), 0);
    assert_int_equal(write(sa[1], "x", 1), 1);
    assert_int_equal(write(sb[1], "x", 1), 1);
    usleep(1000);
    spin(&loop, 1); /* both events in one epoll_wait */
    assert_int_equal(a.calls + b.calls, 1);
    spin(&loop, 5);
    assert_int_equal(a.calls + b.calls, 1);
    assert_int_equal(fresh.calls, 0);
    {
        struct seen *first = a.calls ? &a : &b;
        int survivor = a.calls ? sa[0] : sb[0];

        /* The new socket works under the reused number. */
        assert_int_equal(write(first->reused[1], "y", 1), 1);
        spin_until(&loop, &fresh.calls, 1);
        assert_int_equal(fresh.calls, 1);
        assert_int_equal(fresh.fd, first->reused[0]);
        tocsin_fdtable_close_socket(&t, first->reused[0]);
        close(first->reused[1]);
        tocsin_fdtable_close_socket(&t, survivor);
    }
    close(sa[1]);
    close(sb[1]);
    close_table(&loop, &t);
}

/* A library that closes a socket itself (no close callback): the table still
 * thinks the number is in the set; watching the next socket of that number
 * falls back from MOD to ADD. */
static void test_closed_behind_the_tables_back(void **state)
{
    uv_loop_t loop;
    struct tocsin_fdtable t;
    struct seen s = {.close_fd = -1};
    int sv[2], again[2];

    (void)state;
    uv_loop_init(&loop);
    tocsin_fdtable_init(&t, &loop);
    pair(sv);
    assert_int_equal(tocsin_fdtable_watch(&t, sv[0], UV_READABLE, on_event, &s), 0);
    close(sv[0]);
    close(sv[1]);
    pair(again);
    assert_int_equal(again[0], sv[0]);
    assert_int_equal(tocsin_fdtable_watch(&t, again[0], UV_WRITABLE, on_event, &s), 0);
    spin_until(&loop, &s.calls, 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last_events, UV_WRITABLE);
    tocsin_fdtable_close_socket(&t, again[0]);
    close(again[1]);
    close_table(&loop, &t);
}

/* A watch made "soon" reports nothing until flushed; watched again before the
 * flush (the library changed its mind) it is registered once, with the new
 * events; released before the flush, the flush adds nothing; closed before
 * it, the flush is a no-op even for a new socket of the same number. */
static void test_watch_soon(void **state)
{
    uv_loop_t loop;
    struct tocsin_fdtable t;
    struct seen s = {.close_fd = -1}, other = {.close_fd = -1};
    int sv[2], again[2];

    (void)state;
    uv_loop_init(&loop);
    tocsin_fdtable_init(&t, &loop);
    pair(sv);
    assert_int_equal(tocsin_fdtable_watch_soon(&t, sv[0], UV_WRITABLE, on_event, &s), 0);
    assert_int_equal(tocsin_fdtable_events(&t, sv[0]), UV_WRITABLE);
    spin(&loop, 5);
    assert_int_equal(s.calls, 0); /* writable, but not in the set yet */
    assert_int_equal(tocsin_fdtable_flush(&t, sv[0]), 0);
    spin_until(&loop, &s.calls, 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last_events, UV_WRITABLE);
    assert_int_equal(tocsin_fdtable_flush(&t, sv[0]), 0); /* nothing pending: no change */
    assert_true(t.slots[sv[0]]->registered);

    /* Changed before the flush: the new events alone, from one ADD. */
    tocsin_fdtable_close_socket(&t, sv[0]);
    close(sv[1]);
    pair(sv);
    s.calls = 0;
    assert_int_equal(tocsin_fdtable_watch_soon(&t, sv[0], UV_WRITABLE, on_event, &s), 0);
    assert_int_equal(tocsin_fdtable_watch(&t, sv[0], UV_READABLE, on_event, &s), 0);
    assert_false(t.slots[sv[0]]->pending);
    assert_int_equal(tocsin_fdtable_flush(&t, sv[0]), 0);
    spin(&loop, 5);
    assert_int_equal(s.calls, 0); /* not readable, and writable is not asked for */
    assert_int_equal(write(sv[1], "x", 1), 1);
    spin_until(&loop, &s.calls, 1);
    assert_int_equal(s.last_events, UV_READABLE);
    tocsin_fdtable_close_socket(&t, sv[0]);
    close(sv[1]);

    /* Released before the flush: never added. */
    pair(sv);
    s.calls = 0;
    assert_int_equal(tocsin_fdtable_watch_soon(&t, sv[0], UV_WRITABLE, on_event, &s), 0);
    tocsin_fdtable_release(&t, sv[0]);
    assert_int_equal(tocsin_fdtable_flush(&t, sv[0]), 0);
    assert_false(t.slots[sv[0]]->registered);
    spin(&loop, 5);
    assert_int_equal(s.calls, 0);

    /* Closed before the flush, its number reused and watched at once: the
     * stale flush leaves the new watch as it is. */
    tocsin_fdtable_close_socket(&t, sv[0]);
    close(sv[1]);
    pair(sv);
    assert_int_equal(tocsin_fdtable_watch_soon(&t, sv[0], UV_WRITABLE, on_event, &s), 0);
    tocsin_fdtable_close_socket(&t, sv[0]);
    close(sv[1]);
    pair(again);
    assert_int_equal(again[0], sv[0]);
    assert_int_equal(tocsin_fdtable_watch(&t, again[0], UV_READABLE, on_event, &other), 0);
    assert_int_equal(tocsin_fdtable_flush(&t, sv[0]), 0);
    assert_int_equal(tocsin_fdtable_events(&t, again[0]), UV_READABLE);
    assert_int_equal(write(again[1], "y", 1), 1);
    spin_until(&loop, &other.calls, 1);
    assert_int_equal(other.last_events, UV_READABLE);
    assert_int_equal(s.calls, 0);
    tocsin_fdtable_close_socket(&t, again[0]);
    close(again[1]);
    close_table(&loop, &t);
}

/* A table that never watched anything has no handle: nothing to drain. */
static void test_unused_table(void **state)
{
    uv_loop_t loop;
    struct tocsin_fdtable t;

    (void)state;
    uv_loop_init(&loop);
    tocsin_fdtable_init(&t, &loop);
    drained_calls = 0;
    t.drained = on_drained;
    tocsin_fdtable_close(&t);
    assert_int_equal(t.n_open, 0);
    assert_int_equal(tocsin_fdtable_watch(&t, 0, UV_READABLE, on_event, NULL), UV_ECANCELED);
    spin(&loop, 2);
    assert_int_equal(drained_calls, 0);
    tocsin_fdtable_free(&t);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_release_and_change),
        cmocka_unit_test(test_reuse_inside_a_batch),
        cmocka_unit_test(test_closed_behind_the_tables_back),
        cmocka_unit_test(test_watch_soon),
        cmocka_unit_test(test_unused_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
