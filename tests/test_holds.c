/* src/holds.c: when a monitor's alerts wait for its parent (DESIGN §4), as a
 * table over the parent's state and the time waited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tocsin/holds.h"

static struct tocsin_policy_conf policies[] = {{.name = "default", .failure_threshold = 3}};
static size_t parents_of_child[] = {0};
static struct tocsin_monitor_conf monitors[] = {
    {.id = "parent", .interval_ms = 10000, .retry_interval_ms = 2000, .timeout_ms = 1000},
    {.id = "child", .interval_ms = 10000, .retry_interval_ms = 2000, .timeout_ms = 1000,
     .depends_on = parents_of_child, .n_depends_on = 1},
};
static struct tocsin_config config = {
    .policies = policies, .n_policies = 1, .monitors = monitors, .n_monitors = 2};

struct row {
    const char *what;
    enum tocsin_status parent_status;
    int parent_failures;
    uint64_t now_ms;          /* monotonic; the wait starts at the first row of a case */
    enum tocsin_hold want;
    bool want_check_parents;
};

/* One case: the rows run in order on one hold state. */
static void run_rows(const struct row *rows, size_t n)
{
    struct tocsin_monitor_state states[2];
    struct tocsin_hold_state h;

    memset(states, 0, sizeof(states));
    memset(&h, 0, sizeof(h));
    for (size_t i = 0; i < n; i++) {
        bool check = false;
        size_t parent = 99;
        enum tocsin_hold got;
        states[0].status = rows[i].parent_status;
        states[0].consecutive_failures = rows[i].parent_failures;
        got = tocsin_hold_decide(&h, &config, states, 1, 1700000000, rows[i].now_ms, &check,
                                 &parent);
        if (got != rows[i].want || check != rows[i].want_check_parents)
            fail_msg("%s: hold %s (want %s), check parents %d (want %d)", rows[i].what,
                     tocsin_hold_name(got), tocsin_hold_name(rows[i].want), check,
                     rows[i].want_check_parents);
        if (got == TOCSIN_HOLD_PARENT_PENDING || got == TOCSIN_HOLD_PARENT_DOWN)
            assert_int_equal(parent, 0);
    }
}

/* The parent's worst case here: 3 x 2000 ms + 1000 ms = 7000 ms. */
static void test_parent_pending_then_down(void **state)
{
    static const struct row rows[] = {
        {"parent unknown at start", TOCSIN_STATUS_UNKNOWN, 0, 1000, TOCSIN_HOLD_PARENT_PENDING, true},
        {"still unknown, no second check request", TOCSIN_STATUS_UNKNOWN, 0, 2000,
         TOCSIN_HOLD_PARENT_PENDING, false},
        {"parent failing but UP", TOCSIN_STATUS_UP, 2, 5000, TOCSIN_HOLD_PARENT_PENDING, false},
        {"parent DOWN: suppressed", TOCSIN_STATUS_DOWN, 3, 9000, TOCSIN_HOLD_PARENT_DOWN, false},
        {"parent UP again: released", TOCSIN_STATUS_UP, 0, 9500, TOCSIN_HOLD_NONE, false},
    };

    (void)state;
    run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_wait_is_bounded(void **state)
{
    static const struct row rows[] = {
        {"parent failing", TOCSIN_STATUS_UP, 1, 1000, TOCSIN_HOLD_PARENT_PENDING, true},
        {"just inside the bound", TOCSIN_STATUS_UP, 1, 7999, TOCSIN_HOLD_PARENT_PENDING, false},
        {"past the bound: the child speaks", TOCSIN_STATUS_UP, 1, 8000, TOCSIN_HOLD_NONE, false},
        {"healthy parent resets the wait", TOCSIN_STATUS_UP, 0, 9000, TOCSIN_HOLD_NONE, false},
        {"a new wait asks again", TOCSIN_STATUS_UP, 1, 10000, TOCSIN_HOLD_PARENT_PENDING, true},
    };

    (void)state;
    run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_no_parents_no_hold(void **state)
{
    struct tocsin_monitor_state states[2];
    struct tocsin_hold_state h;
    bool check = false;
    size_t parent = 0;

    (void)state;
    memset(states, 0, sizeof(states));
    memset(&h, 0, sizeof(h));
    assert_int_equal(tocsin_hold_decide(&h, &config, states, 0, 1700000000, 1000, &check, &parent),
                     TOCSIN_HOLD_NONE);
    assert_false(check);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parent_pending_then_down),
        cmocka_unit_test(test_wait_is_bounded),
        cmocka_unit_test(test_no_parents_no_hold),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
