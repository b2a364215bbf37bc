/* The service manager's side channel (systemd Type=notify, sd_notify(3)):
 * READY=1 once the loop runs, RELOADING=1/READY=1 around a reload, STOPPING=1,
 * and WATCHDOG=1 pings sent from the loop itself, so a loop that stops turning
 * stops the pings and systemd restarts the agent.  Everything is a no-op when
 * NOTIFY_SOCKET is unset (a shell, the tests). */
#ifndef TOCSIN_NOTIFY_H
#define TOCSIN_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Writes a one-line STATUS= text (what `systemctl status` shows) into BUF. */
typedef void (*tocsin_notify_status_fn)(void *data, char *buf, size_t size);

struct tocsin_notifier {
    uv_timer_t timer;
    uint64_t ping_ms;  /* half of WATCHDOG_USEC; 0 when no watchdog is asked for */
    bool ready;        /* READY=1 sent */
    tocsin_notify_status_fn status;
    void *data;
    void (*on_closed)(struct tocsin_notifier *n);
};

/* Sends STATE (e.g. "RELOADING=1", "STOPPING=1") with the current STATUS=. */
void tocsin_notify(struct tocsin_notifier *n, const char *state);
/* Arms the timer: READY=1 from the first loop iteration, then WATCHDOG=1 every
 * ping_ms.  STATUS may be NULL. */
void tocsin_notifier_start(uv_loop_t *loop, struct tocsin_notifier *n,
                           tocsin_notify_status_fn status, void *data);
/* Closes the timer; ON_CLOSED runs from its close callback. */
void tocsin_notifier_close(struct tocsin_notifier *n, void (*on_closed)(struct tocsin_notifier *n));

#endif
