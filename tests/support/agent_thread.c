/* See agent_thread.h. */
#include "agent_thread.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "agent_harness.h"

static void on_stop(uv_async_t *handle)
{
    struct test_agent_thread *t = handle->data;

    tocsin_agent_stop(t->agent, NULL, NULL);
    uv_close((uv_handle_t *)handle, NULL);
}

static void *run_loop(void *arg)
{
    struct test_agent_thread *t = arg;

    uv_run(&t->loop, UV_RUN_DEFAULT);
    return NULL;
}

int test_agent_thread_start(struct test_agent_thread *t, const char *config_path)
{
    struct tocsin_agent_options options = {.handle_signals = false, .drain_ms = 1000};

    memset(t, 0, sizeof(*t));
    if (test_load_config(config_path, &t->config) != 0)
        return -1;
    if (uv_loop_init(&t->loop) < 0 || uv_async_init(&t->loop, &t->stop, on_stop) < 0) {
        fprintf(stderr, "agent_thread: cannot set up the loop\n");
        return -1;
    }
    t->stop.data = t;
    if (tocsin_agent_new(&t->loop, t->config, &options, &t->agent) < 0) {
        fprintf(stderr, "agent_thread: the agent did not start\n");
        return -1;
    }
    t->port = tocsin_agent_http_port(t->agent);
    tocsin_agent_start(t->agent);
    if (pthread_create(&t->thread, NULL, run_loop, t) != 0) {
        fprintf(stderr, "agent_thread: cannot start the thread\n");
        return -1;
    }
    t->running = true;
    return 0;
}

int test_agent_thread_stop(struct test_agent_thread *t)
{
    int rc;

    if (!t->running)
        return 0;
    t->running = false;
    uv_async_send(&t->stop);
    pthread_join(t->thread, NULL);
    rc = uv_loop_close(&t->loop);
    tocsin_config_free(t->config);
    t->config = NULL;
    return rc;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct test_http_answer *a = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof(a->body) - 1 - a->len;

    memcpy(a->body + a->len, ptr, n < room ? n : room);
    a->len += n < room ? n : room;
    a->body[a->len] = '\0';
    return n;
}

void test_agent_http(const struct test_agent_thread *t, const char *method, const char *path,
                     struct test_http_answer *a)
{
    char url[256];
    CURL *easy = curl_easy_init();

    memset(a, 0, sizeof(*a));
    a->status = -1;
    if (easy == NULL)
        return;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", t->port, path);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, a);
    if (curl_easy_perform(easy) == CURLE_OK) {
        char *type = NULL;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &a->status);
        if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type)
            snprintf(a->content_type, sizeof(a->content_type), "%s", type);
    }
    curl_easy_cleanup(easy);
}
