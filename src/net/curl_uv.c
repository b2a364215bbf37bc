/* libcurl multi_socket on libuv (pattern of curl's docs/examples/multi-uv.c),
 * with curl's sockets in one epoll set (fdpoll) and easy handles pooled. */
#include "tocsin/curl_uv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/log.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static void check_done(struct tocsin_curl_uv *cu)
{
    CURLMsg *msg;
    int pending;

    while ((msg = curl_multi_info_read(cu->multi, &pending)) != NULL) {
        struct tocsin_curl_req *req = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
        curl_multi_remove_handle(cu->multi, easy);
        cu->running--;
        /* The callback may add new transfers: we are outside every curl callback. */
        req->done(req, code);
    }
}

static void flush(struct tocsin_curl_uv *cu, curl_socket_t s)
{
    int rc = tocsin_fdtable_flush(&cu->fds, s);

    /* The socket is not watched: its transfer ends at its own timeout. */
    if (rc < 0)
        tocsin_error("cannot watch socket", "error", uv_strerror(rc));
}

/* Hands curl one event, then lets it look at once at the sockets it began
 * connecting in that call.  A connect to loopback is done before connect(2)
 * returns and curl checks with poll(2) itself, so the request goes out now,
 * the way curl_multi_perform sends it, instead of after an epoll round trip;
 * and such a socket enters the epoll set once, for the answer, instead of
 * once for the connect and again for the answer.  A connect still under way
 * costs that one poll(2) and is then watched as before. */
static void socket_action(struct tocsin_curl_uv *cu, curl_socket_t fd, int flags)
{
    int running;

    cu->in_action = true;
    curl_multi_socket_action(cu->multi, fd, flags, &running);
    for (size_t budget = TOCSIN_CURL_UV_KICKS; cu->n_kick > 0 && budget > 0; budget--) {
        curl_socket_t s = cu->kick[--cu->n_kick];

        curl_multi_socket_action(cu->multi, s, CURL_CSELECT_OUT, &running);
        flush(cu, s);
    }
    while (cu->n_kick > 0) /* only a library gone wild gets here */
        flush(cu, cu->kick[--cu->n_kick]);
    cu->in_action = false;
    check_done(cu);
}

static void on_socket_event(struct tocsin_fdpoll *p, int status, int events)
{
    struct tocsin_curl_uv *cu = p->data;
    int flags = 0;
    int fd = p->fd;

    /* On an error let curl read and write too, so it reports the socket's own
     * error ("Connection reset by peer") instead of "select/poll returned error". */
    if (status < 0)
        flags = CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    socket_action(cu, fd, flags);
}

static void on_timeout(uv_timer_t *timer)
{
    struct tocsin_curl_uv *cu = container_of(timer, struct tocsin_curl_uv, timer);

    socket_action(cu, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: only arms the uv timer; never calls curl from here. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct tocsin_curl_uv *cu = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&cu->timer);
    /* curl asks again for the deadline it has, several times per transfer:
     * moving the timer in libuv's heap each time showed in profiles. */
    else if (!uv_is_active((uv_handle_t *)&cu->timer) ||
             uv_timer_get_due_in(&cu->timer) != (uint64_t)timeout_ms)
        uv_timer_start(&cu->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct tocsin_curl_uv *cu = userp;
    int events = 0;
    int rc;

    (void)easy;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        tocsin_fdtable_release(&cu->fds, s);
        return 0;
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    /* A new connect: looked at again once curl returns (socket_action). */
    if (what == CURL_POLL_OUT && cu->in_action && cu->n_kick < TOCSIN_CURL_UV_KICKS &&
        tocsin_fdtable_events(&cu->fds, s) == 0) {
        rc = tocsin_fdtable_watch_soon(&cu->fds, s, events, on_socket_event, cu);
        if (rc == 0)
            cu->kick[cu->n_kick++] = s;
    } else {
        rc = tocsin_fdtable_watch(&cu->fds, s, events, on_socket_event, cu);
    }
    if (rc < 0) {
        tocsin_error("cannot watch socket", "error", uv_strerror(rc));
        return -1; /* curl fails this transfer; the agent goes on */
    }
    return 0;
}

/* CURLOPT_CLOSESOCKETFUNCTION: the table forgets the number before its reuse. */
static int on_close_socket(void *clientp, curl_socket_t s)
{
    struct tocsin_curl_uv *cu = clientp;

    tocsin_fdtable_close_socket(&cu->fds, s);
    return 0;
}

static void maybe_closed(struct tocsin_curl_uv *cu)
{
    /* timer.data is cleared by the timer's close callback. */
    if (cu->closing && cu->fds.n_open == 0 && cu->timer.data == NULL && cu->on_closed) {
        void (*cb)(struct tocsin_curl_uv *) = cu->on_closed;
        cu->on_closed = NULL;
        tocsin_fdtable_free(&cu->fds);
        cb(cu);
    }
}

static void on_fds_drained(struct tocsin_fdtable *t)
{
    struct tocsin_curl_uv *cu = container_of(t, struct tocsin_curl_uv, fds);

    maybe_closed(cu);
}

int tocsin_curl_uv_init(struct tocsin_curl_uv *cu, uv_loop_t *loop, size_t pool_cap)
{
    int rc;

    *cu = (struct tocsin_curl_uv){.loop = loop, .pool_cap = pool_cap};
    cu->pool = calloc(pool_cap ? pool_cap : 1, sizeof(*cu->pool));
    if (cu->pool == NULL)
        return -ENOMEM;
    cu->multi = curl_multi_init();
    if (cu->multi == NULL) {
        free(cu->pool);
        return -ENOMEM;
    }
    rc = uv_timer_init(loop, &cu->timer);
    if (rc < 0) {
        curl_multi_cleanup(cu->multi);
        free(cu->pool);
        return rc;
    }
    cu->timer.data = cu;
    tocsin_fdtable_init(&cu->fds, loop);
    cu->fds.drained = on_fds_drained;
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);
    return 0;
}

CURL *tocsin_curl_uv_easy(struct tocsin_curl_uv *cu)
{
    CURL *easy;

    if (cu->n_pool == 0) {
        easy = curl_easy_init();
    } else {
        easy = cu->pool[--cu->n_pool].easy;
        curl_easy_reset(easy);
    }
    if (easy) { /* the options of this multi, kept with the handle in its pool */
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, cu);
        /* Signals are the loop's business; curl must not install handlers. */
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    }
    return easy;
}

/* How many of the handles released last tocsin_curl_uv_easy_kept() looks at:
 * enough for a few profiles taking turns, few enough to cost nothing. */
#define KEPT_LOOKUP 8u

CURL *tocsin_curl_uv_easy_kept(struct tocsin_curl_uv *cu, const struct tocsin_curl_profile *profile)
{
    size_t low = cu->n_pool > KEPT_LOOKUP ? cu->n_pool - KEPT_LOOKUP : 0;
    CURL *easy;

    for (size_t i = cu->n_pool; i-- > low;)
        if (memcmp(&cu->pool[i].profile, profile, sizeof(*profile)) == 0) {
            easy = cu->pool[i].easy;
            cu->pool[i] = cu->pool[--cu->n_pool];
            return easy;
        }
    return NULL;
}

void tocsin_curl_uv_release_easy(struct tocsin_curl_uv *cu, CURL *easy,
                                 const struct tocsin_curl_profile *profile)
{
    static const struct tocsin_curl_profile none;

    if (cu->n_pool < cu->pool_cap && !cu->closing)
        cu->pool[cu->n_pool++] =
            (struct tocsin_curl_idle){.easy = easy, .profile = profile ? *profile : none};
    else
        curl_easy_cleanup(easy);
}

int tocsin_curl_uv_add(struct tocsin_curl_uv *cu, struct tocsin_curl_req *req)
{
    CURLMcode mc;

    if (cu->closing)
        return -ECANCELED;
    curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
    mc = curl_multi_add_handle(cu->multi, req->easy);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    cu->running++;
    return 0;
}

void tocsin_curl_uv_cancel(struct tocsin_curl_uv *cu, struct tocsin_curl_req *req)
{
    if (curl_multi_remove_handle(cu->multi, req->easy) == CURLM_OK)
        cu->running--;
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct tocsin_curl_uv *cu = handle->data;

    cu->timer.data = NULL;
    maybe_closed(cu);
}

void tocsin_curl_uv_close(struct tocsin_curl_uv *cu, void (*on_closed)(struct tocsin_curl_uv *cu))
{
    cu->closing = true;
    cu->on_closed = on_closed;
    /* Cleanup closes cached connections through our socket callbacks first. */
    curl_multi_cleanup(cu->multi);
    cu->multi = NULL;
    while (cu->n_pool > 0)
        curl_easy_cleanup(cu->pool[--cu->n_pool].easy);
    free(cu->pool);
    cu->pool = NULL;
    tocsin_fdtable_close(&cu->fds);
    uv_close((uv_handle_t *)&cu->timer, on_timer_closed);
}

int tocsin_curl_url_parts(const char *url, char **host, char **port, bool *https)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    int rc = -EINVAL;

    *host = *port = NULL;
    if (u == NULL)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
        curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        rc = 0;
    if (rc == 0 && https)
        *https = strcmp(scheme, "https") == 0;
    if (rc < 0) {
        curl_free(*host);
        *host = NULL;
    }
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

struct curl_slist *tocsin_curl_connect_to(const char *host, const char *port, const char *addr)
{
    char line[512];

    snprintf(line, sizeof(line), "%s:%s:%s:%s", host, port, addr, port);
    return curl_slist_append(NULL, line);
}

void tocsin_curl_set_ca(CURL *easy, const char *ca_file)
{
    char *builtin = NULL;

    if (ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
    else
        curl_easy_getinfo(easy, CURLINFO_CAINFO, &builtin);
    if (ca_file || builtin)
        curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
}

bool tocsin_curl_reset_before_answer(CURLcode code, const char *errbuf)
{
    return (code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR) &&
           strncmp(errbuf, "getpeername()", 13) == 0;
}

int tocsin_curl_header_append(struct curl_slist **list, const char *name, const char *value)
{
    char line[1024];
    struct curl_slist *next;

    snprintf(line, sizeof(line), "%s: %s", name, value);
    next = curl_slist_append(*list, line);
    if (next == NULL)
        return -ENOMEM;
    *list = next;
    return 0;
}
