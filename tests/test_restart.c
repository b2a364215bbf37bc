/* State that survives kill -9, restart and SIGHUP reload (DESIGN §4), checked
 * as an operator would see it: the real `tocsin run` binary in a child process,
 * a loopback HTTP target and two webhook receivers that verify signatures with
 * their own OpenSSL code (tests/support), all on 127.0.0.1.
 *
 * Receivers may see one delivery twice after a kill -9 (at-least-once, same
 * X-Request-ID), so incidents are counted by distinct request id.  Every wait
 * is a bounded poll; nothing fails on slowness, only on what arrived. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "agent_harness.h"
#include "receiver.h"
#include "target.h"

#define SECRET "restart-test-secret"
#define WAIT_MS 30000
#define POLL_MS 50

struct fixture {
    char dir[64];
    char config[128];
    char log[128];
    struct test_target *target;
    struct test_receiver *hook[2];
    pid_t pid;
    int log_fd;
};

/* ---- child process ------------------------------------------------------ */

static void start_agent(struct fixture *f)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
        }
        execl(TOCSIN_BINARY, "tocsin", "run", "-c", f->config, (char *)NULL);
        _exit(127);
    }
    f->pid = pid;
}

/* Waits (bounded) for the child to exit; its exit status, or -1. */
static int wait_agent(struct fixture *f)
{
    int status = 0;

    for (int i = 0; i < WAIT_MS / POLL_MS; i++) {
        pid_t got = waitpid(f->pid, &status, WNOHANG);
        if (got == f->pid) {
            f->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(POLL_MS * 1000);
    }
    kill(f->pid, SIGKILL);
    waitpid(f->pid, &status, 0);
    f->pid = 0;
    return -1;
}

static int signal_agent(struct fixture *f, int sig)
{
    kill(f->pid, sig);
    return sig == SIGHUP ? 0 : wait_agent(f);
}

static bool log_contains(const struct fixture *f, const char *needle)
{
    char buf[65536];
    FILE *fp = fopen(f->log, "r");
    size_t n;

    if (fp == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* ---- what the receivers got ---------------------------------------------- */

/* BODY.OBJECT.KEY as a string, "" when absent. */
static const char *field(const json_t *body, const char *object, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(body, object), key));

    return v ? v : "";
}

/* Alerts of MONITOR with notification_type TYPE at receiver R, counted once
 * per request id; the last one's body is left in *LAST when not NULL. */
static int count_alerts(struct test_receiver *r, const char *monitor, const char *type,
                        json_t **last)
{
    char seen[64][64];
    int n = 0;

    if (last)
        *last = NULL;
    for (size_t i = 0; i < test_receiver_count(r) && n < 64; i++) {
        struct test_delivery d;
        json_t *body;
        bool dup = false;
        if (test_receiver_get(r, i, &d) < 0)
            continue;
        body = json_loads(d.body, 0, NULL);
        if (body && d.sig_ok_raw &&
            strcmp(field(body, "monitor", "id"), monitor) == 0 &&
            strcmp(field(body, "context", "notification_type"), type) == 0) {
            for (int k = 0; k < n; k++)
                dup = dup || strcmp(seen[k], d.request_id) == 0;
            if (!dup) {
                snprintf(seen[n++], sizeof(seen[0]), "%s", d.request_id);
                if (last) {
                    json_decref(*last);
                    *last = json_incref(body);
                }
            }
        }
        json_decref(body);
        test_delivery_free(&d);
    }
    return n;
}

/* Polls until both receivers have at least N alerts of MONITOR/TYPE. */
static bool wait_alerts(struct fixture *f, const char *monitor, const char *type, int n)
{
    for (int i = 0; i < WAIT_MS / POLL_MS; i++) {
        if (count_alerts(f->hook[0], monitor, type, NULL) >= n &&
            count_alerts(f->hook[1], monitor, type, NULL) >= n)
            return true;
        usleep(POLL_MS * 1000);
    }
    return false;
}

static unsigned hits_on(struct test_target *t, const char *path)
{
    struct test_request req;
    unsigned n = 0;

    for (unsigned i = 0; i < 64 && test_target_request(t, i, &req); i++)
        n += strcmp(req.path, path) == 0;
    return n;
}

/* ---- config --------------------------------------------------------------- */

/* The webhooks and policy every scenario shares, then MONITORS (YAML list items). */
static void write_config(struct fixture *f, const char *monitors)
{
    FILE *fp = fopen(f->config, "w");

    assert_non_null(fp);
    fprintf(fp,
            "agent: {region: here, state_dir: %s/state, listen: \"\", log_level: info}\n"
            "webhooks:\n"
            "  - {name: a, url: \"http://127.0.0.1:%u/a\", secret: " SECRET "}\n"
            "  - {name: b, url: \"http://127.0.0.1:%u/b\", secret: " SECRET "}\n"
            "policies:\n"
            "  default:\n"
            "    failure_threshold: 2\n"
            "    levels: [{level: 1, after: 2, notify: [a, b]}]\n"
            "defaults: {interval: 200ms, timeout: 150ms}\n"
            "monitors:\n%s",
            f->dir, test_receiver_port(f->hook[0]), test_receiver_port(f->hook[1]), monitors);
    fclose(fp);
}

static char *monitor_line(const struct fixture *f, const char *id, const char *path)
{
    static char lines[4][256];
    static int next;
    char *line = lines[next++ % 4];

    snprintf(line, sizeof(lines[0]), "  - {id: %s, url: \"http://127.0.0.1:%u%s\"}\n", id,
             test_target_port(f->target), path);
    return line;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(test_temp_dir(f->dir, sizeof(f->dir), "tocsin-restart"), 0);
    snprintf(f->config, sizeof(f->config), "%s/tocsin.yaml", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/agent.log", f->dir);
    f->target = test_target_start();
    f->hook[0] = test_receiver_start(SECRET);
    f->hook[1] = test_receiver_start(SECRET);
    assert_non_null(f->target);
    assert_non_null(f->hook[0]);
    assert_non_null(f->hook[1]);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
    test_target_stop(f->target);
    test_receiver_stop(f->hook[0]);
    test_receiver_stop(f->hook[1]);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- scenarios ------------------------------------------------------------- */

/* kill -9 mid-incident, restart: the incident is not decided again (one
 * request id per webhook), and the recovery still reaches both webhooks. */
static void test_kill9_mid_incident(void **state)
{
    struct fixture *f = *state;
    json_t *recovery = NULL;
    unsigned before;

    test_target_set_status(f->target, 503);
    write_config(f, monitor_line(f, "api", "/health"));
    start_agent(f);
    assert_true(wait_alerts(f, "api", "incident", 1));
    assert_int_equal(signal_agent(f, SIGKILL), 128 + SIGKILL);

    start_agent(f);
    /* Ten more failing rounds after the restart: no new incident. */
    before = test_target_hits(f->target);
    for (int i = 0; i < WAIT_MS / POLL_MS && test_target_hits(f->target) < before + 10; i++)
        usleep(POLL_MS * 1000);
    assert_true(test_target_hits(f->target) >= before + 10);
    assert_int_equal(count_alerts(f->hook[0], "api", "incident", NULL), 1);
    assert_int_equal(count_alerts(f->hook[1], "api", "incident", NULL), 1);
    assert_true(log_contains(f, "monitor states restored"));

    test_target_set_status(f->target, 200);
    assert_true(wait_alerts(f, "api", "recovery", 1));
    for (int w = 0; w < 2; w++) {
        assert_int_equal(count_alerts(f->hook[w], "api", "recovery", &recovery), 1);
        json_t *ctx = json_object_get(recovery, "context");
        assert_string_equal(json_string_value(json_object_get(ctx, "previous_status")), "DOWN");
        assert_int_equal(json_integer_value(json_object_get(ctx, "notification_level")), 1);
        json_decref(recovery);
    }
    assert_int_equal(signal_agent(f, SIGTERM), 0);
}

/* SIGHUP with one more monitor and one fewer: the new one is checked, the kept
 * one is not alerted again, the removed one's incident gets its recovery (a
 * body without error_message), and a bad file keeps the running config. */
static void test_sighup_reload(void **state)
{
    struct fixture *f = *state;
    struct test_route down = {.path = "/gone", .mode = TEST_TARGET_ANSWER, .status = 503};
    struct test_route up = {.path = "/extra", .mode = TEST_TARGET_ANSWER, .status = 200};
    char monitors[1024];
    json_t *recovery = NULL;
    unsigned extra_before;

    test_target_set_status(f->target, 503);
    assert_int_equal(test_target_route(f->target, &down), 0);
    assert_int_equal(test_target_route(f->target, &up), 0);
    snprintf(monitors, sizeof(monitors), "%s%s", monitor_line(f, "api", "/health"),
             monitor_line(f, "gone", "/gone"));
    write_config(f, monitors);
    start_agent(f);
    assert_true(wait_alerts(f, "api", "incident", 1));
    assert_true(wait_alerts(f, "gone", "incident", 1));

    snprintf(monitors, sizeof(monitors), "%s%s", monitor_line(f, "api", "/health"),
             monitor_line(f, "extra", "/extra"));
    write_config(f, monitors);
    signal_agent(f, SIGHUP);
    assert_true(wait_alerts(f, "gone", "recovery", 1));
    for (int w = 0; w < 2; w++) {
        assert_int_equal(count_alerts(f->hook[w], "gone", "recovery", &recovery), 1);
        json_t *check = json_object_get(recovery, "check_result");
        assert_string_equal(json_string_value(json_object_get(check, "status")), "UP");
        assert_null(json_object_get(check, "error_message"));
        assert_true(json_is_null(json_object_get(check, "status_code")));
        json_decref(recovery);
    }
    for (int i = 0; i < WAIT_MS / POLL_MS && hits_on(f->target, "/extra") < 3; i++)
        usleep(POLL_MS * 1000);
    assert_true(hits_on(f->target, "/extra") >= 3);
    assert_int_equal(count_alerts(f->hook[0], "api", "incident", NULL), 1);
    assert_int_equal(count_alerts(f->hook[1], "api", "incident", NULL), 1);

    /* A broken file: logged, and the running config goes on checking. */
    FILE *fp = fopen(f->config, "a");
    assert_non_null(fp);
    fputs("  - {id: broken, type: tcp, bogus_key: 1}\n", fp);
    fclose(fp);
    extra_before = hits_on(f->target, "/extra");
    signal_agent(f, SIGHUP);
    for (int i = 0; i < WAIT_MS / POLL_MS && !log_contains(f, "reload failed"); i++)
        usleep(POLL_MS * 1000);
    assert_true(log_contains(f, "reload failed"));
    assert_true(log_contains(f, "bogus_key"));
    for (int i = 0; i < WAIT_MS / POLL_MS && hits_on(f->target, "/extra") < extra_before + 3; i++)
        usleep(POLL_MS * 1000);
    assert_true(hits_on(f->target, "/extra") >= extra_before + 3);

    test_target_set_status(f->target, 200);
    assert_true(wait_alerts(f, "api", "recovery", 1));
    assert_int_equal(count_alerts(f->hook[0], "api", "incident", NULL), 1);
    assert_int_equal(signal_agent(f, SIGTERM), 0);
}

/* A monitor whose identity changes (here its method) is a new monitor: the old
 * incident gets its recovery and the new one starts UNKNOWN, so it alerts
 * afresh with previous_status UNKNOWN.  Then a burst of SIGHUPs and a SIGTERM
 * right behind them: the agent reloads, stops cleanly and exits 0. */
static void test_changed_identity_and_signal_burst(void **state)
{
    struct fixture *f = *state;
    char monitors[256];
    json_t *incident = NULL;

    test_target_set_status(f->target, 503);
    write_config(f, monitor_line(f, "api", "/health"));
    start_agent(f);
    assert_true(wait_alerts(f, "api", "incident", 1));

    snprintf(monitors, sizeof(monitors),
             "  - {id: api, method: HEAD, url: \"http://127.0.0.1:%u/health\"}\n",
             test_target_port(f->target));
    write_config(f, monitors);
    signal_agent(f, SIGHUP);
    assert_true(wait_alerts(f, "api", "recovery", 1));
    assert_true(wait_alerts(f, "api", "incident", 2));
    for (int w = 0; w < 2; w++) {
        assert_int_equal(count_alerts(f->hook[w], "api", "incident", &incident), 2);
        json_t *ctx = json_object_get(incident, "context");
        assert_string_equal(json_string_value(json_object_get(ctx, "previous_status")),
                            "UNKNOWN");
        json_decref(incident);
    }
    assert_true(log_contains(f, "reason=\"monitor removed or changed\""));

    for (int i = 0; i < 5; i++)
        signal_agent(f, SIGHUP);
    assert_int_equal(signal_agent(f, SIGTERM), 0);
    assert_true(log_contains(f, "msg=stopped"));
}

/* Ten incidents stuck on a receiver that hangs survive kill -9 and arrive
 * after the restart, each under the request id of its first attempt. */
static void test_kill9_with_hung_deliveries(void **state)
{
    struct fixture *f = *state;
    struct test_answer hang = {.action = TEST_HANG};
    char monitors[2048] = "", id[16], path[16], seen[10][64];
    size_t n_seen = 0, len = 0;

    test_target_set_status(f->target, 503);
    assert_int_equal(test_receiver_set_default(f->hook[0], &hang), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "m%d", i);
        snprintf(path, sizeof(path), "/m%d", i);
        len += (size_t)snprintf(monitors + len, sizeof(monitors) - len, "%s",
                                monitor_line(f, id, path));
    }
    write_config(f, monitors);
    start_agent(f);
    for (int i = 0; i < WAIT_MS / POLL_MS && test_receiver_hung(f->hook[0]) < 10; i++)
        usleep(POLL_MS * 1000);
    assert_int_equal(test_receiver_hung(f->hook[0]), 10);
    for (size_t i = 0; i < test_receiver_count(f->hook[0]) && n_seen < 10; i++) {
        struct test_delivery d;
        assert_int_equal(test_receiver_get(f->hook[0], i, &d), 0);
        snprintf(seen[n_seen++], sizeof(seen[0]), "%s", d.request_id);
        test_delivery_free(&d);
    }
    assert_int_equal(signal_agent(f, SIGKILL), 128 + SIGKILL);

    test_receiver_set_status(f->hook[0], 200);
    test_receiver_release_hung(f->hook[0]);
    start_agent(f);
    for (size_t k = 0; k < n_seen; k++) {
        bool delivered = false;
        for (int i = 0; i < WAIT_MS / POLL_MS && !delivered; i++) {
            for (size_t j = 0; j < test_receiver_count(f->hook[0]) && !delivered; j++) {
                struct test_delivery d;
                if (test_receiver_get(f->hook[0], j, &d) < 0)
                    continue;
                delivered = d.status == 200 && d.sig_ok_raw &&
                            strcmp(d.request_id, seen[k]) == 0;
                test_delivery_free(&d);
            }
            if (!delivered)
                usleep(POLL_MS * 1000);
        }
        if (!delivered)
            fail_msg("request %s never arrived after the restart", seen[k]);
    }
    for (int m = 0; m < 10; m++) {
        snprintf(id, sizeof(id), "m%d", m);
        assert_int_equal(count_alerts(f->hook[0], id, "incident", NULL), 1);
    }
    assert_int_equal(signal_agent(f, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_mid_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sighup_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_identity_and_signal_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_with_hung_deliveries, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
