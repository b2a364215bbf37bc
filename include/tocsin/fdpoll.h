/* uv_poll handles indexed by file descriptor, with late close.
 *
 * curl and c-ares tell us a socket is gone (CURL_POLL_REMOVE, sock state 0/0)
 * and then close it at once; the kernel reuses the number immediately, while
 * libuv may still hold a handle for it until its close callback.  So the owner
 * closes sockets through tocsin_fdtable_close_late(): the descriptor is closed
 * only after its uv_poll handle is gone, and a new socket never gets a number
 * libuv still knows (DESIGN §6). */
#ifndef TOCSIN_FDPOLL_H
#define TOCSIN_FDPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct tocsin_fdpoll;
typedef void (*tocsin_fdpoll_cb)(struct tocsin_fdpoll *p, int status, int events);

struct tocsin_fdpoll {
    uv_poll_t handle;
    int fd;
    bool close_fd;             /* close the descriptor in the close callback */
    struct tocsin_fdtable *table;
    tocsin_fdpoll_cb cb;
    void *data;                /* owner's per-socket data */
    int events;                /* what the owner asked to watch */
};

struct tocsin_fdtable {
    uv_loop_t *loop;
    struct tocsin_fdpoll **slots; /* slot[fd]: live or closing poll for fd */
    size_t n_slots;
    size_t n_open;             /* polls not yet through their close callback */
    void (*drained)(struct tocsin_fdtable *t); /* called when n_open drops to 0 */
};

void tocsin_fdtable_init(struct tocsin_fdtable *t, uv_loop_t *loop);
/* Frees the slot array; every poll must have been released and closed. */
void tocsin_fdtable_free(struct tocsin_fdtable *t);

/* The live poll for FD, or NULL. */
struct tocsin_fdpoll *tocsin_fdtable_get(struct tocsin_fdtable *t, int fd);

/* Starts watching FD for EVENTS (UV_READABLE|UV_WRITABLE), creating its poll if
 * needed.  0 or a negative libuv error (UV_EEXIST when libuv still knows FD). */
int tocsin_fdtable_watch(struct tocsin_fdtable *t, int fd, int events, tocsin_fdpoll_cb cb,
                         void *data);

/* libuv stops a poll handle that reported an error; when the owner still wants
 * FD watched afterwards (the library read the error and carries on), this
 * starts it again with the events last asked for. */
void tocsin_fdtable_rearm(struct tocsin_fdtable *t, int fd);

/* Stops watching FD and closes its poll handle (freed in the close callback). */
void tocsin_fdtable_release(struct tocsin_fdtable *t, int fd);

/* Closes FD now if no poll knows it, else once its poll handle has closed. */
void tocsin_fdtable_close_late(struct tocsin_fdtable *t, int fd);

#endif
