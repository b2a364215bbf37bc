/* uv_poll handles by descriptor with late close: see include/tocsin/fdpoll.h. */
#include "tocsin/fdpoll.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void tocsin_fdtable_init(struct tocsin_fdtable *t, uv_loop_t *loop)
{
    *t = (struct tocsin_fdtable){.loop = loop};
}

void tocsin_fdtable_free(struct tocsin_fdtable *t)
{
    free(t->slots);
    t->slots = NULL;
    t->n_slots = 0;
}

struct tocsin_fdpoll *tocsin_fdtable_get(struct tocsin_fdtable *t, int fd)
{
    struct tocsin_fdpoll *p;

    if (fd < 0 || (size_t)fd >= t->n_slots)
        return NULL;
    p = t->slots[fd];
    /* A closing poll is not live: it no longer delivers events. */
    if (p == NULL || uv_is_closing((uv_handle_t *)&p->handle))
        return NULL;
    return p;
}

/* Grows the slot array to hold FD; descriptors are bounded by RLIMIT_NOFILE. */
static int reserve(struct tocsin_fdtable *t, int fd)
{
    size_t n = t->n_slots ? t->n_slots : 64;
    struct tocsin_fdpoll **slots;

    if ((size_t)fd < t->n_slots)
        return 0;
    while (n <= (size_t)fd)
        n *= 2;
    slots = realloc(t->slots, n * sizeof(*slots));
    if (slots == NULL)
        return UV_ENOMEM;
    for (size_t i = t->n_slots; i < n; i++)
        slots[i] = NULL;
    t->slots = slots;
    t->n_slots = n;
    return 0;
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct tocsin_fdpoll *p = (struct tocsin_fdpoll *)handle;

    p->cb(p, status, events);
}

static void on_closed(uv_handle_t *handle)
{
    struct tocsin_fdpoll *p = (struct tocsin_fdpoll *)handle;
    struct tocsin_fdtable *t = p->table;

    if (p->close_fd)
        close(p->fd);
    if (t->slots[p->fd] == p)
        t->slots[p->fd] = NULL;
    free(p);
    if (--t->n_open == 0 && t->drained)
        t->drained(t);
}

static int poll_open(struct tocsin_fdtable *t, int fd, struct tocsin_fdpoll **out)
{
    struct tocsin_fdpoll *p;
    int rc = reserve(t, fd);

    if (rc < 0)
        return rc;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return UV_ENOMEM;
    rc = uv_poll_init_socket(t->loop, &p->handle, fd);
    if (rc < 0) {
        free(p); /* never initialised, so no close callback owes anything */
        return rc;
    }
    p->fd = fd;
    p->table = t;
    t->slots[fd] = p;
    t->n_open++;
    *out = p;
    return 0;
}

int tocsin_fdtable_watch(struct tocsin_fdtable *t, int fd, int events, tocsin_fdpoll_cb cb,
                         void *data)
{
    struct tocsin_fdpoll *p = tocsin_fdtable_get(t, fd);
    int rc;

    if (p == NULL) {
        rc = poll_open(t, fd, &p);
        if (rc < 0)
            return rc;
    }
    p->cb = cb;
    p->data = data;
    p->events = events;
    return uv_poll_start(&p->handle, events, on_poll);
}

void tocsin_fdtable_rearm(struct tocsin_fdtable *t, int fd)
{
    struct tocsin_fdpoll *p = tocsin_fdtable_get(t, fd);

    if (p && !uv_is_active((uv_handle_t *)&p->handle))
        uv_poll_start(&p->handle, p->events, on_poll);
}

void tocsin_fdtable_release(struct tocsin_fdtable *t, int fd)
{
    struct tocsin_fdpoll *p = tocsin_fdtable_get(t, fd);

    if (p == NULL)
        return;
    uv_poll_stop(&p->handle);
    uv_close((uv_handle_t *)&p->handle, on_closed);
}

void tocsin_fdtable_close_late(struct tocsin_fdtable *t, int fd)
{
    struct tocsin_fdpoll *p = NULL;

    if (fd >= 0 && (size_t)fd < t->n_slots)
        p = t->slots[fd];
    if (p == NULL) {
        close(fd);
        return;
    }
    p->close_fd = true;
    if (!uv_is_closing((uv_handle_t *)&p->handle)) {
        uv_poll_stop(&p->handle);
        uv_close((uv_handle_t *)&p->handle, on_closed);
    }
}
