/* sd_notify from the loop (see include/tocsin/notify.h).  libsystemd's
 * sd_notify is one datagram on a unix socket: cheap enough to send from the
 * loop, and it returns at once when nobody listens. */
#include "tocsin/notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "tocsin/log.h"

void tocsin_notify(struct tocsin_notifier *n, const char *state)
{
    char status[256] = "";
    char msg[320];

    if (n->status)
        n->status(n->data, status, sizeof(status));
    snprintf(msg, sizeof(msg), "%s%s%s", state, status[0] ? "\nSTATUS=" : "", status);
    if (sd_notify(0, msg) < 0)
        tocsin_debug("cannot notify the service manager", "state", state);
}

static void on_timer(uv_timer_t *timer)
{
    struct tocsin_notifier *n = timer->data;

    if (!n->ready) {
        n->ready = true;
        tocsin_notify(n, "READY=1");
        if (n->ping_ms)
            uv_timer_start(&n->timer, on_timer, n->ping_ms, n->ping_ms);
        return;
    }
    tocsin_notify(n, "WATCHDOG=1");
}

void tocsin_notifier_start(uv_loop_t *loop, struct tocsin_notifier *n,
                           tocsin_notify_status_fn status, void *data)
{
    uint64_t usec = 0;

    n->status = status;
    n->data = data;
    n->ready = false;
    /* Half the period, as sd_watchdog_enabled(3) advises: one late ping is
     * not yet a restart. */
    n->ping_ms = sd_watchdog_enabled(0, &usec) > 0 ? usec / 2000 : 0;
    if (usec && n->ping_ms == 0)
        n->ping_ms = 1;
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    uv_timer_start(&n->timer, on_timer, 0, 0);
    uv_unref((uv_handle_t *)&n->timer); /* pings alone keep nothing alive */
}

static void on_close(uv_handle_t *handle)
{
    struct tocsin_notifier *n = handle->data;

    n->on_closed(n);
}

void tocsin_notifier_close(struct tocsin_notifier *n, void (*on_closed)(struct tocsin_notifier *n))
{
    n->on_closed = on_closed;
    uv_close((uv_handle_t *)&n->timer, on_close);
}
