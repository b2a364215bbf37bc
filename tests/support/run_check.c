/* One probe check on its own loop: see run_check.h. */
#include "run_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tocsin/engine.h"

/* Far above any timeout a test sets: only a hung check ever meets it. */
#define GUARD_MS 15000

struct check {
    uv_loop_t loop;
    struct tocsin_engine engine;
    uv_timer_t guard, next;
    const struct tocsin_probe_kind *kind;
    const struct tocsin_monitor_conf *monitor;
    struct tocsin_probe_op *op;
    size_t n, done;            /* checks to run, checks called back */
    test_between_fn between;
    void *between_data;
    int start_rc;
    bool in_start;
    bool fired_in_start;
    bool guard_fired;
    struct tocsin_result *results;
};

static void stop_check(struct check *c)
{
    uv_close((uv_handle_t *)&c->guard, NULL);
    uv_close((uv_handle_t *)&c->next, NULL);
    tocsin_engine_close(&c->engine, NULL);
}

static void on_result(void *data, const struct tocsin_result *result);

static void start_one(struct check *c)
{
    c->in_start = true;
    c->start_rc = c->kind->start(&c->engine.env, c->monitor, 0, on_result, c, &c->op);
    c->in_start = false;
    if (c->start_rc < 0)
        stop_check(c);
}

static void on_next(uv_timer_t *timer)
{
    struct check *c = timer->data;

    if (c->between)
        c->between(c->done, c->between_data);
    start_one(c);
}

static void on_result(void *data, const struct tocsin_result *result)
{
    struct check *c = data;

    if (c->in_start)
        c->fired_in_start = true;
    c->results[c->done++] = *result;
    if (c->done < c->n)
        uv_timer_start(&c->next, on_next, 0, 0); /* not from inside the callback */
    else
        stop_check(c);
}

static void on_guard(uv_timer_t *timer)
{
    struct check *c = timer->data;

    c->guard_fired = true;
    c->kind->cancel(c->op);
    stop_check(c);
}

void test_run_checks(const struct tocsin_probe_kind *kind, const struct tocsin_config *config,
                     const struct tocsin_monitor_conf *monitor, size_t n, test_between_fn between,
                     void *data, struct tocsin_result *out)
{
    struct check *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->kind = kind;
    c->monitor = monitor;
    c->n = n;
    c->between = between;
    c->between_data = data;
    c->results = out;
    assert_int_equal(uv_loop_init(&c->loop), 0);
    assert_int_equal(tocsin_engine_init(&c->engine, &c->loop, config), 0);
    uv_timer_init(&c->loop, &c->guard);
    uv_timer_init(&c->loop, &c->next);
    c->guard.data = c->next.data = c;
    uv_timer_start(&c->guard, on_guard, GUARD_MS, 0);
    start_one(c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
    assert_int_equal(c->start_rc, 0);
    assert_false(c->guard_fired);
    assert_false(c->fired_in_start);
    assert_int_equal(c->done, n);
    free(c);
}

void test_run_check(const struct tocsin_probe_kind *kind, const struct tocsin_config *config,
                    const struct tocsin_monitor_conf *monitor, struct tocsin_result *out)
{
    test_run_checks(kind, config, monitor, 1, NULL, NULL, out);
}
