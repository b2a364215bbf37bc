/* The real agent on a test's loop: see agent_harness.h. */
#include "agent_harness.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tocsin/log.h"

static void on_agent_stopped(void *data)
{
    struct test_agent_run *run = data;

    run->agent_stopped = true;
    run->agent = NULL; /* freed by the agent */
}

void test_agent_run_stop(struct test_agent_run *run)
{
    if (run->stopping)
        return;
    run->stopping = true;
    if (run->tick_open)
        uv_close((uv_handle_t *)&run->tick, NULL);
    if (run->on_stop != NULL)
        run->on_stop(run->data);
    if (run->agent != NULL)
        tocsin_agent_stop(run->agent, on_agent_stopped, run);
}

uint64_t test_agent_run_elapsed(const struct test_agent_run *run)
{
    return uv_now(run->loop) - run->started_ms;
}

static void on_tick(uv_timer_t *timer)
{
    struct test_agent_run *run = timer->data;
    uint64_t deadline = run->deadline_ms ? run->deadline_ms : TEST_AGENT_DEADLINE_MS;

    if (run->step(run->data)) {
        test_agent_run_stop(run);
    } else if (test_agent_run_elapsed(run) >= deadline) {
        run->deadline_passed = true;
        test_agent_run_stop(run);
    }
}

int test_agent_run(struct test_agent_run *run)
{
    struct tocsin_agent_options options = {
        .handle_signals = false,
        .drain_ms = run->drain_ms ? run->drain_ms : 2000,
    };
    uint64_t tick = run->tick_ms ? run->tick_ms : TEST_AGENT_TICK_MS;
    int rc;

    rc = tocsin_agent_new(run->loop, run->config, &options, &run->agent);
    if (rc != 0)
        return rc;
    if (run->on_delivery != NULL)
        tocsin_agent_on_delivery(run->agent, run->on_delivery, run->delivery_data);
    uv_update_time(run->loop);
    run->started_ms = uv_now(run->loop);
    uv_timer_init(run->loop, &run->tick);
    run->tick_open = true;
    run->tick.data = run;
    uv_timer_start(&run->tick, on_tick, tick, tick);
    tocsin_agent_start(run->agent);
    uv_run(run->loop, UV_RUN_DEFAULT);
    return 0;
}

int test_temp_dir(char *dir, size_t size, const char *prefix)
{
    int n = snprintf(dir, size, "/tmp/%s-XXXXXX", prefix);

    if (n < 0 || (size_t)n >= size)
        return -1;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void test_remove_dir(const char *dir)
{
    if (dir != NULL && dir[0] != '\0')
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int test_write_file(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "w");
    va_list ap;
    int n;

    if (f == NULL)
        return -1;
    va_start(ap, fmt);
    n = vfprintf(f, fmt, ap);
    va_end(ap);
    if (fclose(f) != 0 || n < 0)
        return -1;
    return 0;
}

int test_load_config(const char *path, struct tocsin_config **out)
{
    struct tocsin_diags diags = {.n = 0};
    int rc = tocsin_config_load(path, out, &diags);

    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "%s\n", diags.lines[i]);
    tocsin_diags_free(&diags);
    if (rc == 0)
        tocsin_log_setup((*out)->agent.log_level, (*out)->agent.log_format);
    return rc;
}

time_t test_parse_rfc3339z(const char *s)
{
    struct tm tm = {0};
    char z = 0, extra = 0;

    if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z, &extra) != 7 || z != 'Z')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}
