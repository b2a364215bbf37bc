/* `tocsin outbox`: see include/tocsin/outbox_cmd.h.
 *
 * Run as root, the command first becomes the owner of state_dir (the tocsin
 * user on an installed system), so it never creates root-owned files there.
 * A running agent holds the state lock: `list` still works (SQLite WAL lets a
 * reader in), while `retry` and `purge` refuse, since the agent keeps the
 * outbox in memory and would not see the change. */
#include "tocsin/outbox_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
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

static int list_rows(struct tocsin_store *store)
{
    struct tocsin_outbox_row *rows = NULL;
    size_t n = 0;
    struct timespec now;
    int rc = tocsin_store_load(store, &rows, &n);

    if (rc < 0) {
        fprintf(stderr, "tocsin: cannot read the outbox: %s\n", strerror(-rc));
        return 1;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    printf("%-6s %-16s %-20s %-9s %-7s %8s %6s  %s\n", "ID", "WEBHOOK", "MONITOR", "EVENT",
           "STATE", "ATTEMPTS", "AGE", "LAST ERROR");
    for (size_t i = 0; i < n; i++) {
        char age[32];
        int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        format_age(now_ms - rows[i].created_ms, age, sizeof(age));
        printf("%-6" PRId64 " %-16s %-20s %-9s %-7s %8d %6s  %s\n", rows[i].id, rows[i].webhook,
               rows[i].monitor, rows[i].event,
               rows[i].state == TOCSIN_OUTBOX_DEAD ? "dead" : "pending", rows[i].attempts, age,
               rows[i].last_error ? rows[i].last_error : "");
    }
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
    if (lock_fd == -EBUSY && action != TOCSIN_OUTBOX_LIST) {
        fprintf(stderr, "tocsin: the agent is running on %s; stop it first (it holds the outbox "
                        "in memory), or wait for it to re-send dead letters on the next 2xx\n",
                dir);
        return 1;
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
