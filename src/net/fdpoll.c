/* Library sockets in one epoll set: see include/tocsin/fdpoll.h. */
#include "tocsin/fdpoll.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Events read per wakeup; more stay ready in the set for the next iteration. */
#define BATCH 128

void tocsin_fdtable_init(struct tocsin_fdtable *t, uv_loop_t *loop)
{
    *t = (struct tocsin_fdtable){.loop = loop, .epfd = -1};
}

void tocsin_fdtable_free(struct tocsin_fdtable *t)
{
    for (size_t i = 0; i < t->n_slots; i++)
        free(t->slots[i]);
    free(t->slots);
    t->slots = NULL;
    t->n_slots = 0;
}

static struct tocsin_fdpoll *slot_of(const struct tocsin_fdtable *t, int fd)
{
    return fd >= 0 && (size_t)fd < t->n_slots ? t->slots[fd] : NULL;
}

/* The slot for FD, allocated on first use; descriptors are bounded by
 * RLIMIT_NOFILE, so the array is too.  NULL on ENOMEM. */
static struct tocsin_fdpoll *slot_for(struct tocsin_fdtable *t, int fd)
{
    size_t n = t->n_slots ? t->n_slots : 64;

    if ((size_t)fd >= t->n_slots) {
        struct tocsin_fdpoll **slots;

        while (n <= (size_t)fd)
            n *= 2;
        slots = realloc(t->slots, n * sizeof(*slots));
        if (slots == NULL)
            return NULL;
        for (size_t i = t->n_slots; i < n; i++)
            slots[i] = NULL;
        t->slots = slots;
        t->n_slots = n;
    }
    if (t->slots[fd] == NULL && (t->slots[fd] = calloc(1, sizeof(*t->slots[fd]))) != NULL)
        t->slots[fd]->fd = fd;
    return t->slots[fd];
}

static uint64_t key_of(const struct tocsin_fdpoll *p)
{
    return (uint64_t)p->gen << 32 | (uint32_t)p->fd;
}

static void forget(struct tocsin_fdtable *t, struct tocsin_fdpoll *p)
{
    if (p->registered)
        epoll_ctl(t->epfd, EPOLL_CTL_DEL, p->fd, NULL);
    p->registered = false;
    p->events = 0;
}

static void dispatch(struct tocsin_fdtable *t, const struct epoll_event *ev)
{
    int fd = (int)(uint32_t)ev->data.u64;
    struct tocsin_fdpoll *p = slot_of(t, fd);
    int events = 0;
    int status = 0;

    if (p == NULL || key_of(p) != ev->data.u64 || !p->registered)
        return; /* read before its descriptor was closed (and maybe reused) */
    if (p->events == 0) {
        forget(t, p); /* released but still open: the one wakeup it costs */
        return;
    }
    if (ev->events & EPOLLIN)
        events |= UV_READABLE;
    if (ev->events & EPOLLOUT)
        events |= UV_WRITABLE;
    if (ev->events & (EPOLLERR | EPOLLHUP))
        events |= p->events;
    if (ev->events & EPOLLERR)
        status = UV_EIO;
    p->cb(p, status, events & p->events);
}

static void on_ready(uv_poll_t *handle, int status, int events)
{
    struct tocsin_fdtable *t = handle->data;
    struct epoll_event evs[BATCH];
    int n;

    (void)status; /* an epoll descriptor reports no error of its own */
    (void)events;
    n = epoll_wait(t->epfd, evs, BATCH, 0);
    /* A callback may close the table: then the rest of the batch is dropped. */
    for (int i = 0; i < n && !t->closing; i++)
        dispatch(t, &evs[i]);
}

/* The epoll set and its poll handle, made on the first watch. */
static int open_set(struct tocsin_fdtable *t)
{
    int rc;

    if (t->epfd < 0) {
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (t->epfd < 0)
            return -errno;
        rc = uv_poll_init(t->loop, &t->poll, t->epfd);
        if (rc < 0) {
            close(t->epfd); /* a handle that failed in init needs no close */
            t->epfd = -1;
            return rc;
        }
        t->poll.data = t;
        t->n_open = 1;
    }
    if (uv_is_active((uv_handle_t *)&t->poll))
        return 0;
    return uv_poll_start(&t->poll, UV_READABLE, on_ready);
}

/* Puts P's current events into the epoll set (ADD or MOD). */
static int apply(struct tocsin_fdtable *t, struct tocsin_fdpoll *p, int events)
{
    struct epoll_event ev = {0};
    int op, rc;

    p->pending = false;
    p->gen++;
    ev.events = (events & UV_READABLE ? EPOLLIN : 0) | (events & UV_WRITABLE ? EPOLLOUT : 0);
    ev.data.u64 = key_of(p);
    op = p->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    rc = epoll_ctl(t->epfd, op, p->fd, &ev);
    /* The library may have closed a socket itself (then its number is new to
     * the set) or reused one the set still holds. */
    if (rc < 0 && errno == ENOENT && op == EPOLL_CTL_MOD)
        rc = epoll_ctl(t->epfd, EPOLL_CTL_ADD, p->fd, &ev);
    else if (rc < 0 && errno == EEXIST && op == EPOLL_CTL_ADD)
        rc = epoll_ctl(t->epfd, EPOLL_CTL_MOD, p->fd, &ev);
    if (rc < 0) {
        rc = -errno;
        p->registered = false;
        p->events = 0;
        return rc;
    }
    p->registered = true;
    p->events = events;
    return 0;
}

/* Starts or changes watching FD; with SOON, a socket not yet in the set only
 * gets its slot filled and waits for tocsin_fdtable_flush(). */
static int watch(struct tocsin_fdtable *t, int fd, int events, tocsin_fdpoll_cb cb, void *data,
                 bool soon)
{
    struct tocsin_fdpoll *p;
    int rc = t->closing ? UV_ECANCELED : open_set(t);

    if (rc < 0)
        return rc;
    p = slot_for(t, fd);
    if (p == NULL)
        return UV_ENOMEM;
    p->cb = cb;
    p->data = data;
    if (p->registered && p->events == events)
        return 0;
    if (soon && !p->registered) {
        p->events = events;
        p->pending = true;
        return 0;
    }
    return apply(t, p, events);
}

int tocsin_fdtable_watch(struct tocsin_fdtable *t, int fd, int events, tocsin_fdpoll_cb cb,
                         void *data)
{
    return watch(t, fd, events, cb, data, false);
}

int tocsin_fdtable_watch_soon(struct tocsin_fdtable *t, int fd, int events, tocsin_fdpoll_cb cb,
                              void *data)
{
    return watch(t, fd, events, cb, data, true);
}

int tocsin_fdtable_flush(struct tocsin_fdtable *t, int fd)
{
    struct tocsin_fdpoll *p = slot_of(t, fd);

    if (p == NULL || !p->pending)
        return 0;
    p->pending = false;
    return p->events ? apply(t, p, p->events) : 0;
}

int tocsin_fdtable_events(const struct tocsin_fdtable *t, int fd)
{
    const struct tocsin_fdpoll *p = slot_of(t, fd);

    return p ? p->events : 0;
}

void tocsin_fdtable_release(struct tocsin_fdtable *t, int fd)
{
    struct tocsin_fdpoll *p = slot_of(t, fd);

    /* Deleted from the set by close or by its next event; a pending watch
     * is dropped by its flush. */
    if (p != NULL)
        p->events = 0;
}

void tocsin_fdtable_close_socket(struct tocsin_fdtable *t, int fd)
{
    struct tocsin_fdpoll *p = slot_of(t, fd);

    if (p != NULL) {
        p->registered = false; /* close(2) takes it out of the set */
        p->pending = false;
        p->events = 0;
        p->gen++;
    }
    close(fd);
}

static void on_poll_closed(uv_handle_t *handle)
{
    struct tocsin_fdtable *t = handle->data;

    close(t->epfd);
    t->epfd = -1;
    t->n_open = 0;
    if (t->drained)
        t->drained(t);
}

void tocsin_fdtable_close(struct tocsin_fdtable *t)
{
    if (t->closing)
        return;
    t->closing = true;
    for (size_t i = 0; i < t->n_slots; i++)
        if (t->slots[i] != NULL)
            t->slots[i]->events = 0;
    if (t->n_open > 0)
        uv_close((uv_handle_t *)&t->poll, on_poll_closed);
}
