/* Sockets of a library (libcurl, c-ares) watched through one epoll set.
 *
 * One uv_poll_t per socket costs libuv two to four epoll_ctl calls and an
 * ioctl per socket, and a close callback before the descriptor may be closed
 * (libuv must forget a number before the kernel reuses it).  With fresh
 * connections per check those calls were the agent's largest overhead over
 * libcurl alone.  So a table owns one epoll set, watched by one uv_poll_t on
 * the loop, and adds the library's sockets to it itself:
 *
 * - watch: EPOLL_CTL_ADD for a new socket, EPOLL_CTL_MOD when the events change;
 * - release (the library stops watching): nothing at once; the socket stays
 *   in the set and is deleted only if it reports an event nobody wants;
 * - close_socket: close(2), which takes the socket out of the set, so a socket
 *   that lived for one check costs two epoll_ctl calls;
 * - watch_soon + flush: the ADD waits until the caller has let the library
 *   look at the socket once more, so a connect that is already done (loopback)
 *   enters the set once, with the events the library wants next: one call.
 *
 * Every registration carries a generation, so an event already read for a
 * descriptor that was closed and reused in the same batch is dropped. */
#ifndef TOCSIN_FDPOLL_H
#define TOCSIN_FDPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tocsin_fdpoll;
/* STATUS is 0, or UV_EIO when the socket reported an error (EVENTS then holds
 * everything watched, so the library reads the error itself). */
typedef void (*tocsin_fdpoll_cb)(struct tocsin_fdpoll *p, int status, int events);

struct tocsin_fdpoll {
    int fd;
    uint32_t gen;              /* of the current registration */
    int events;                /* UV_READABLE|UV_WRITABLE watched; 0: released */
    bool registered;           /* in the epoll set, as far as the table knows */
    bool pending;              /* EVENTS wait for tocsin_fdtable_flush() */
    tocsin_fdpoll_cb cb;
    void *data;                /* owner's per-socket data */
};

struct tocsin_fdtable {
    uv_loop_t *loop;
    int epfd;                  /* -1 until the first watch */
    uv_poll_t poll;            /* on epfd */
    struct tocsin_fdpoll **slots; /* slot[fd]: kept for reuse once allocated */
    size_t n_slots;
    size_t n_open;             /* 1 while the poll handle is open, else 0 */
    bool closing;
    void (*drained)(struct tocsin_fdtable *t); /* called when n_open drops to 0 */
};

void tocsin_fdtable_init(struct tocsin_fdtable *t, uv_loop_t *loop);
/* Frees the slots; the table must be closed and drained (n_open == 0). */
void tocsin_fdtable_free(struct tocsin_fdtable *t);

/* Starts or changes watching FD for EVENTS (UV_READABLE|UV_WRITABLE).
 * 0 or a negative libuv error. */
int tocsin_fdtable_watch(struct tocsin_fdtable *t, int fd, int events, tocsin_fdpoll_cb cb,
                         void *data);

/* Like tocsin_fdtable_watch() for a socket not yet in the set, but the
 * epoll_ctl waits for tocsin_fdtable_flush(): a caller that is about to let
 * the library look at the socket itself (which may change or drop the events)
 * saves a call.  Events arrive only once flushed. */
int tocsin_fdtable_watch_soon(struct tocsin_fdtable *t, int fd, int events, tocsin_fdpoll_cb cb,
                              void *data);
/* Adds FD's pending events to the set, if it still has any: 0 or a negative
 * libuv error (then FD is not watched). */
int tocsin_fdtable_flush(struct tocsin_fdtable *t, int fd);
/* The events FD is watched for: 0 when it is not watched. */
int tocsin_fdtable_events(const struct tocsin_fdtable *t, int fd);
/* Stops reporting FD's events (the library no longer wants them). */
void tocsin_fdtable_release(struct tocsin_fdtable *t, int fd);

/* Forgets FD and closes it. */
void tocsin_fdtable_close_socket(struct tocsin_fdtable *t, int fd);

/* Stops every watch and closes the epoll set; DRAINED fires once the poll
 * handle has closed (at once in effect if no socket was ever watched: then
 * n_open is already 0 and DRAINED is not called). */
void tocsin_fdtable_close(struct tocsin_fdtable *t);

#endif
