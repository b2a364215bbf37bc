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
    uv_timer_t guard;
    const struct tocsin_probe_kind *kind;
    struct tocsin_probe_op *op;
    bool in_start;
    bool fired_in_start;
    bool guard_fired;
    int fired;
    struct tocsin_result result;
};

static void stop_check(struct check *c)
{
    uv_close((uv_handle_t *)&c->guard, NULL);
    tocsin_engine_close(&c->engine, NULL);
}

static void on_result(void *data, const struct tocsin_result *result)
{
    struct check *c = data;

    c->fired++;
    if (c->in_start)
        c->fired_in_start = true;
    c->result = *result;
    stop_check(c);
}

static void on_guard(uv_timer_t *timer)
{
    struct check *c = timer->data;

    c->guard_fired = true;
    c->kind->cancel(c->op);
    stop_check(c);
}

void test_run_check(const struct tocsin_probe_kind *kind, const struct tocsin_config *config,
                    const struct tocsin_monitor_conf *monitor, struct tocsin_result *out)
{
    struct check *c = calloc(1, sizeof(*c));
    int rc;

    assert_non_null(c);
    c->kind = kind;
    assert_int_equal(uv_loop_init(&c->loop), 0);
    assert_int_equal(tocsin_engine_init(&c->engine, &c->loop, config), 0);
    uv_timer_init(&c->loop, &c->guard);
    c->guard.data = c;
    uv_timer_start(&c->guard, on_guard, GUARD_MS, 0);
    c->in_start = true;
    rc = kind->start(&c->engine.env, monitor, 0, on_result, c, &c->op);
    c->in_start = false;
    if (rc < 0)
        stop_check(c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
    assert_int_equal(rc, 0);
    assert_false(c->guard_fired);
    assert_false(c->fired_in_start);
    assert_int_equal(c->fired, 1);
    *out = c->result;
    free(c);
}
