/* The real agent on its own libuv loop in a second thread, and a libcurl
 * client for its HTTP API, so that a test thread can ask /metrics, /healthz
 * and /api/v1 as an operator would while the agent runs undisturbed. */
#ifndef TEST_AGENT_THREAD_H
#define TEST_AGENT_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tocsin/agent.h"
#include "tocsin/config.h"

struct test_agent_thread {
    uv_loop_t loop;
    uv_async_t stop;
    struct tocsin_config *config;
    struct tocsin_agent *agent;
    pthread_t thread;
    bool running;
    uint16_t port;      /* the agent's API port (its config says listen "127.0.0.1:0") */
};

/* Loads CONFIG_PATH (test_load_config), creates the agent (signals left alone,
 * 1 s drain) and runs its loop on a new thread.  0, or -1 with a message. */
int test_agent_thread_start(struct test_agent_thread *t, const char *config_path);
/* Stops the agent, joins the thread, closes the loop and frees the config:
 * uv_loop_close's result (0 = every handle was closed).  0 when not running. */
int test_agent_thread_stop(struct test_agent_thread *t);

struct test_http_answer {
    long status;        /* -1: no answer */
    char body[65536];   /* NUL-terminated, cut to fit */
    size_t len;
    char content_type[128];
};

/* METHOD PATH on the agent's API into *A (a POST sends an empty body). */
void test_agent_http(const struct test_agent_thread *t, const char *method, const char *path,
                     struct test_http_answer *a);

#endif
