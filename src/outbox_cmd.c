/* `tocsin outbox`: see include/tocsin/outbox_cmd.h.
 *
 * Run as root, the command first becomes the owner of state_dir (the tocsin
 * user on an installed system), so it never creates root-owned files there.
 * A running agent holds the state lock and the outbox in memory: then the
 * command asks the agent's API (agent.listen) instead, so the change reaches
 * the rows the agent is sending; with the agent down it opens the database. */
#include "tocsin/outbox_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "tocsin/store.h"

#define LOCK_NAME "tocsin.lock"

int tocsin_state_lock(const char *state_dir)
{
    char path[4096];
    int fd;

    if (mkdir(state_dir, 0750) < 0 && errno != EEXIST)
        return -errno;
    snprintf(path, sizeof(path), "%s/" LOCK_NAME, state_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno == EWOULDBLOCK ? -EBUSY : -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* As root, become the owner of state_dir; 0 or -errno. */
static int drop_to_owner(const char *state_dir)
{
    struct stat st;

    if (geteuid() != 0 || stat(state_dir, &st) < 0 || st.st_uid == 0)
        return 0;
    if (setgroups(0, NULL) < 0 || setgid(st.st_gid) < 0 || setuid(st.st_uid) < 0)
        return -errno;
    return 0;
}

static void format_age(int64_t ms, char *buf, size_t size)
{
    int64_t s = ms / 1000;

    if (s < 120)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 7200)
        snprintf(buf, size, "%" PRId64 "m", s / 60);
    else if (s < 172800)
        snprintf(buf, size, "%" PRId64 "h", s / 3600);
    else
        snprintf(buf, size, "%" PRId64 "d", s / 86400);
}

static void print_header(void)
{
    printf("%-6s %-16s %-20s %-9s %-7s %8s %6s  %s\n", "ID", "WEBHOOK", "MONITOR", "EVENT",
           "STATE", "ATTEMPTS", "AGE", "LAST ERROR");
}

static void print_row(int64_t id, const char *webhook, const char *monitor, const char *event,
                      const char *state, int attempts, int64_t created_ms, const char *last_error)
{
    struct timespec now;
    char age[32];

    clock_gettime(CLOCK_REALTIME, &now);
    format_age((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - created_ms, age, sizeof(age));
    printf("%-6" PRId64 " %-16s %-20s %-9s %-7s %8d %6s  %s\n", id, webhook, monitor, event, state,
           attempts, age, last_error ? last_error : "");
}

static int list_rows(struct tocsin_store *store)
{
    struct tocsin_outbox_row *rows = NULL;
    size_t n = 0;
    int rc = tocsin_store_load(store, &rows, &n);

    if (rc < 0) {
        fprintf(stderr, "tocsin: cannot read the outbox: %s\n", strerror(-rc));
        return 1;
    }
    print_header();
    for (size_t i = 0; i < n; i++)
        print_row(rows[i].id, rows[i].webhook, rows[i].monitor, rows[i].event,
                  rows[i].state == TOCSIN_OUTBOX_DEAD ? "dead" : "pending", rows[i].attempts,
                  rows[i].created_ms, rows[i].last_error);
    printf("%zu deliveries not yet acknowledged\n", n);
    tocsin_outbox_rows_free(rows, n);
    return 0;
}

struct change {
    enum tocsin_outbox_action action;
    int status;
    int64_t changed;
};

static void on_changed(void *data, int status, int64_t id)
{
    struct change *c = data;

    c->status = status;
    c->changed = id;
}

static int change_rows(uv_loop_t *loop, struct tocsin_store *store, enum tocsin_outbox_action action,
                       int64_t id, const char *webhook)
{
    struct change c = {.action = action, .status = -EINPROGRESS};
    int rc = action == TOCSIN_OUTBOX_RETRY
                 ? tocsin_store_mark_retry(store, id, webhook, on_changed, &c)
                 : tocsin_store_purge(store, id, webhook, on_changed, &c);

    while (rc == 0 && c.status == -EINPROGRESS)
        uv_run(loop, UV_RUN_ONCE); /* until the store thread reports back */
    if (rc == 0)
        rc = c.status;
    if (rc == -ENOENT) {
        fprintf(stderr, "tocsin: no dead letter with id %" PRId64 "\n", id);
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, "tocsin: cannot change the outbox: %s\n", strerror(-rc));
        return 1;
    }
    printf("%" PRId64 " dead letters %s\n", c.changed,
           action == TOCSIN_OUTBOX_RETRY ? "queued again (sent when the agent starts)" : "purged");
    return 0;
}

static void on_store_closed(void *data)
{
    (void)data;
}

/* ---- through the running agent's API --------------------------------------- */

struct buffer {
    char *data;
    size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buffer *b = userdata;
    size_t n = size * nmemb;
    char *more;

    if (b->len + n > (16u << 20)) /* an answer this big is not from tocsin */
        return 0;
    more = realloc(b->data, b->len + n + 1);
    if (more == NULL)
        return 0;
    memcpy(more + b->len, ptr, n);
    b->data = more;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* The URL of PATH on the agent's listen address; a wildcard address is
 * reached on loopback.  -1 when the agent serves no API. */
static int api_url(const char *listen, const char *path, char *url, size_t size)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    size_t hlen = colon ? (size_t)(colon - listen) : 0;

    if (listen[0] == '\0' || colon == NULL || hlen >= sizeof(host))
        return -1;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (strcmp(host, "[::]") == 0)
        snprintf(host, sizeof(host), "[::1]");
    snprintf(url, size, "http://%s:%s%s", host, colon + 1, path);
    return 0;
}

/* One request to the agent; its JSON answer in *OUT.  The HTTP status, or -1. */
static long api_call(const char *url, bool post, json_t **out)
{
    struct buffer b = {NULL, 0};
    CURL *easy = curl_easy_init();
    long status = -1;
    CURLcode code;

    *out = NULL;
    if (easy == NULL)
        return -1;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOPROXY, ""); /* nor the no_proxy environment */
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &b);
    if (post)
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
    code = curl_easy_perform(easy);
    if (code == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        *out = b.data ? json_loads(b.data, 0, NULL) : NULL;
    } else {
        fprintf(stderr, "tocsin: cannot reach the agent at %s: %s\n", url,
                curl_easy_strerror(code));
    }
    curl_easy_cleanup(easy);
    free(b.data);
    return status;
}

static const char *json_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    return v ? v : "";
}

static int api_list(const char *listen)
{
    char url[300];
    json_t *answer, *rows, *row;
    size_t i;
    long status;

    api_url(listen, "/api/v1/outbox", url, sizeof(url));
    status = api_call(url, false, &answer);
    rows = json_object_get(answer, "deliveries");
    if (status != 200 || !json_is_array(rows)) {
        if (status > 0)
            fprintf(stderr, "tocsin: the agent answered %ld to %s\n", status, url);
        json_decref(answer);
        return 1;
    }
    print_header();
    json_array_foreach(rows, i, row) {
        const json_t *error = json_object_get(row, "last_error");
        print_row(json_integer_value(json_object_get(row, "id")), json_str(row, "webhook"),
                  json_str(row, "monitor"), json_str(row, "event"), json_str(row, "state"),
                  (int)json_integer_value(json_object_get(row, "attempts")),
                  json_integer_value(json_object_get(row, "created_ms")),
                  json_is_string(error) ? json_string_value(error) : NULL);
    }
    printf("%zu deliveries not yet acknowledged\n", json_array_size(rows));
    json_decref(answer);
    return 0;
}

static int api_change(const char *listen, enum tocsin_outbox_action action, int64_t id,
                      const char *webhook)
{
    const char *verb = action == TOCSIN_OUTBOX_RETRY ? "retry" : "purge";
    char path[256], url[400];
    char *escaped = webhook ? curl_easy_escape(NULL, webhook, 0) : NULL;
    json_t *answer;
    long status;

    if (id > 0)
        snprintf(path, sizeof(path), "/api/v1/outbox/%s?id=%" PRId64, verb, id);
    else if (escaped)
        snprintf(path, sizeof(path), "/api/v1/outbox/%s?webhook=%.128s", verb, escaped);
    else
        snprintf(path, sizeof(path), "/api/v1/outbox/%s?all=1", verb);
    curl_free(escaped);
    api_url(listen, path, url, sizeof(url));
    status = api_call(url, true, &answer);
    if (status == 200) {
        printf("%" PRId64 " dead letters %s\n",
               (int64_t)json_integer_value(json_object_get(answer, "changed")),
               action == TOCSIN_OUTBOX_RETRY ? "queued again" : "purged");
    } else if (status > 0) {
        fprintf(stderr, "tocsin: %s\n", json_object_get(answer, "error")
                                              ? json_str(answer, "error")
                                              : "the agent refused the request");
    }
    json_decref(answer);
    return status == 200 ? 0 : 1;
}

int tocsin_outbox_cmd(const struct tocsin_config *config, enum tocsin_outbox_action action,
                      int64_t id, const char *webhook)
{
    const char *dir = config->agent.state_dir;
    struct tocsin_store *store = NULL;
    char err[256] = "";
    uv_loop_t loop;
    int lock_fd, code = 1, rc;

    rc = drop_to_owner(dir);
    if (rc < 0) {
        fprintf(stderr, "tocsin: cannot become the owner of %s: %s\n", dir, strerror(-rc));
        return 1;
    }
    lock_fd = tocsin_state_lock(dir);
    if (lock_fd == -EBUSY) {
        char url[300];
        if (api_url(config->agent.listen, "/", url, sizeof(url)) < 0) {
            fprintf(stderr, "tocsin: the agent is running on %s without agent.listen, so it "
                            "cannot be asked; stop it first or give it a listen address\n",
                    dir);
            return 1;
        }
        return action == TOCSIN_OUTBOX_LIST ? api_list(config->agent.listen)
                                            : api_change(config->agent.listen, action, id,
                                                         webhook);
    }
    if (uv_loop_init(&loop) < 0) {
        if (lock_fd >= 0)
            close(lock_fd);
        return 1;
    }
    rc = tocsin_store_open(&loop, dir, &store, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "tocsin: cannot open the outbox in %s: %s\n", dir,
                err[0] ? err : strerror(-rc));
    else if (action == TOCSIN_OUTBOX_LIST)
        code = list_rows(store);
    else
        code = change_rows(&loop, store, action, id, webhook);
    if (store)
        tocsin_store_close(store, on_store_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (lock_fd >= 0)
        close(lock_fd);
    return code;
}
