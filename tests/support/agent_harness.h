/* Runs the real agent on a test's libuv loop for an end-to-end scenario.
 *
 * The scenario is a STEP called by a uv_timer every few ms; it looks at the
 * loopback servers (target, receiver), flips them, and returns true when the
 * scenario is over.  Steps never use cmocka assertions: a longjmp out of
 * uv_run would leave the loop half-run.  They record what they saw; the test
 * asserts after the loop has ended and uv_loop_close() returned 0.  Every run
 * is bounded by a deadline, which ends it (deadline_passed) instead of hanging.
 *
 * Also here: a temporary state directory and its removal, loading a config
 * file with the real loader (its diagnostics printed), and reading a webhook's
 * timestamp. */
#ifndef TEST_AGENT_HARNESS_H
#define TEST_AGENT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "tocsin/agent.h"
#include "tocsin/config.h"

struct test_agent_run {
    /* set by the caller */
    uv_loop_t *loop;                  /* initialised; closed by the caller */
    const struct tocsin_config *config;
    bool (*step)(void *data);         /* every tick: true when the scenario is over */
    void (*on_stop)(void *data);      /* closes the caller's own handles; NULL = none */
    void *data;                       /* for step and on_stop */
    tocsin_delivery_cb on_delivery;   /* observer of the agent's deliveries; NULL = none */
    void *delivery_data;
    uint64_t deadline_ms;             /* 0 = TEST_AGENT_DEADLINE_MS */
    uint64_t tick_ms;                 /* 0 = TEST_AGENT_TICK_MS */
    uint64_t drain_ms;                /* how long stop waits for deliveries; 0 = 2000 */
    /* results */
    bool deadline_passed;             /* stopped by the deadline, not by STEP */
    bool agent_stopped;               /* the agent called its on_stopped */
    uint64_t started_ms;              /* uv_now() when the agent started */
    /* private */
    uv_timer_t tick;
    bool tick_open;
    bool stopping;
    struct tocsin_agent *agent;
};

#define TEST_AGENT_DEADLINE_MS 30000u
#define TEST_AGENT_TICK_MS 50u

/* Creates and starts the agent and the tick, then runs RUN->loop until STEP
 * (or the deadline) ended the scenario and everything closed.  0, or the
 * negative code of tocsin_agent_new (nothing was started then). */
int test_agent_run(struct test_agent_run *run);
/* Ends the scenario early (from a step it is enough to return true).  Safe twice. */
void test_agent_run_stop(struct test_agent_run *run);
/* Milliseconds since the agent started, on the loop's clock. */
uint64_t test_agent_run_elapsed(const struct test_agent_run *run);

/* mkdtemp on "/tmp/PREFIX-XXXXXX" into DIR.  0 or -1. */
int test_temp_dir(char *dir, size_t size, const char *prefix);
/* Removes DIR and everything in it (the agent leaves its database there). */
void test_remove_dir(const char *dir);
/* Writes PATH from a printf format.  0 or -1. */
int test_write_file(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* tocsin_config_load, with every diagnostic printed to stderr and logging set
 * up from the loaded agent section.  0 or the loader's code. */
int test_load_config(const char *path, struct tocsin_config **out);
/* "YYYY-MM-DDTHH:MM:SSZ" (a webhook's timestamp) to Unix seconds; -1 when it
 * is not exactly that. */
time_t test_parse_rfc3339z(const char *s);

#endif
