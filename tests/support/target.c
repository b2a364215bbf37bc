/* Loopback HTTP target for probe tests (libmicrohttpd, internal polling thread).
 *
 * HANG suspends the connection instead of sleeping in the handler, so the MHD
 * thread stays free and test_target_stop() only has to resume what it parked. */
#include "target.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hung connections we can park at once; more are reset. */
#define HUNG_MAX 256

struct test_target {
    struct MHD_Daemon *daemon;
    uint16_t port;
    atomic_int status;
    atomic_int mode;
    atomic_uint hits;
    pthread_mutex_t lock; /* guards hung[], n_hung and stopping */
    struct MHD_Connection *hung[HUNG_MAX];
    size_t n_hung;
    bool stopping;
};

/* Per-request markers stored in *con_cls (no allocation needed). */
static int request_seen;
static int request_hung;

static const char ok_body[] = "ok\n";

/* MHD's own messages, marked so a RESET test's "internal error" reads as intended. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("test target (libmicrohttpd): ", stderr);
    vfprintf(stderr, fmt, ap);
}

static enum MHD_Result answer(struct test_target *t, struct MHD_Connection *conn)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(sizeof(ok_body) - 1, (void *)ok_body,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    ret = MHD_queue_response(conn, (unsigned)atomic_load(&t->status), resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Parks CONN until stop.  MHD_NO (reset) when stopping or when the park is full. */
static enum MHD_Result hang(struct test_target *t, struct MHD_Connection *conn, void **con_cls)
{
    enum MHD_Result ret = MHD_NO;

    pthread_mutex_lock(&t->lock);
    if (!t->stopping && t->n_hung < HUNG_MAX) {
        t->hung[t->n_hung++] = conn;
        *con_cls = &request_hung;
        MHD_suspend_connection(conn);
        ret = MHD_YES;
    }
    pthread_mutex_unlock(&t->lock);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct test_target *t = cls;

    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) { /* headers only: wait for the body */
        *con_cls = &request_seen;
        return MHD_YES;
    }
    if (*con_cls == &request_hung) /* resumed by stop: drop it */
        return MHD_NO;
    if (*upload_data_size != 0) { /* request bodies are read and ignored */
        *upload_data_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&t->hits, 1);
    switch ((enum test_target_mode)atomic_load(&t->mode)) {
    case TEST_TARGET_HANG:
        return hang(t, conn, con_cls);
    case TEST_TARGET_RESET:
        return MHD_NO;
    case TEST_TARGET_ANSWER:
    default:
        return answer(t, conn);
    }
}

struct test_target *test_target_start(void)
{
    struct test_target *t = calloc(1, sizeof(*t));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    const union MHD_DaemonInfo *info;

    if (t == NULL)
        return NULL;
    atomic_init(&t->status, 200);
    atomic_init(&t->mode, TEST_TARGET_ANSWER);
    atomic_init(&t->hits, 0);
    pthread_mutex_init(&t->lock, NULL);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                                     MHD_ALLOW_SUSPEND_RESUME,
                                 0, NULL, NULL, handle, t, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                                 NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_END);
    if (t->daemon == NULL)
        goto fail;
    info = MHD_get_daemon_info(t->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0)
        goto fail;
    t->port = info->port;
    return t;
fail:
    if (t->daemon)
        MHD_stop_daemon(t->daemon);
    pthread_mutex_destroy(&t->lock);
    free(t);
    return NULL;
}

uint16_t test_target_port(const struct test_target *t)
{
    return t->port;
}

void test_target_set_status(struct test_target *t, int status)
{
    atomic_store(&t->status, status);
}

void test_target_set_mode(struct test_target *t, enum test_target_mode mode)
{
    atomic_store(&t->mode, (int)mode);
}

unsigned test_target_hits(const struct test_target *t)
{
    return atomic_load(&((struct test_target *)t)->hits);
}

void test_target_stop(struct test_target *t)
{
    size_t i;

    if (t == NULL)
        return;
    /* MHD requires suspended connections to be resumed before the daemon stops;
     * their handler then sees request_hung and closes them. */
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    for (i = 0; i < t->n_hung; i++)
        MHD_resume_connection(t->hung[i]);
    t->n_hung = 0;
    pthread_mutex_unlock(&t->lock);
    MHD_stop_daemon(t->daemon);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
