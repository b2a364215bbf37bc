/* `tocsin test-webhook`: see include/tocsin/test_webhook.h. */
#include "tocsin/test_webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "tocsin/resolver.h"
#include "tocsin/sender.h"

struct test_run {
    int sent;
    int answered;
    int failed;
};

static void on_report(void *data, const struct tocsin_delivery_report *r)
{
    struct test_run *run = data;

    run->answered++;
    if (!r->delivered)
        run->failed++;
    printf("%s %s: status %ld, %" PRId64 " ms%s%s%s%s\n", r->delivered ? "ok" : "FAILED",
           r->request_id, r->status_code, r->latency_ms, r->error ? ", " : "",
           r->error ? r->error : "", r->response && r->response[0] ? ", response: " : "",
           r->response ? r->response : "");
}

/* A test alert that says what it is, for a monitor that does not exist. */
static void make_alert(struct tocsin_alert *alert, struct tocsin_monitor_conf *monitor,
                       const struct tocsin_config *config, enum tocsin_notification type)
{
    static char id[] = "tocsin-test-webhook", name[] = "tocsin test-webhook",
                url[] = "https://tocsin.invalid/test-webhook";
    int64_t now = (int64_t)time(NULL);

    memset(monitor, 0, sizeof(*monitor));
    monitor->id = id;
    monitor->name = name;
    monitor->url = url;
    memset(alert, 0, sizeof(*alert));
    alert->monitor = monitor;
    alert->region = config->regions[0].name;
    alert->check_result.status = type == TOCSIN_NOTIFY_INCIDENT ? TOCSIN_STATUS_DOWN
                                                                : TOCSIN_STATUS_UP;
    alert->check_result.timestamp = now;
    alert->check_result.status_code = type == TOCSIN_NOTIFY_INCIDENT ? 0 : 200;
    if (type == TOCSIN_NOTIFY_INCIDENT)
        snprintf(alert->check_result.error_message, sizeof(alert->check_result.error_message),
                 "This is a test alert sent by tocsin test-webhook");
    alert->monitor_status = alert->check_result.status;
    alert->previous_status = type == TOCSIN_NOTIFY_INCIDENT ? TOCSIN_STATUS_UP
                                                             : TOCSIN_STATUS_DOWN;
    alert->consecutive_failures = type == TOCSIN_NOTIFY_INCIDENT ? 1 : 0;
    alert->notification_level = 1;
    alert->type = type;
    alert->regions_down = type == TOCSIN_NOTIFY_INCIDENT ? 1 : 0;
    alert->regions_total = 1;
    alert->incident_started = now;
}

static void on_closed(void *data)
{
    (void)data;
}

/* Sends TYPE and runs the loop until every request of it was answered. */
static void send_and_wait(uv_loop_t *loop, struct tocsin_sender *sender,
                          const struct tocsin_config *config, struct test_run *run,
                          enum tocsin_notification type)
{
    struct tocsin_monitor_conf monitor;
    struct tocsin_alert alert;
    struct tocsin_sender_stats stats;

    make_alert(&alert, &monitor, config, type);
    if (tocsin_sender_send(sender, &alert) < 0) {
        run->failed++;
        return;
    }
    tocsin_sender_stats(sender, &stats);
    run->sent = (int)stats.queued;
    while (run->answered < run->sent)
        uv_run(loop, UV_RUN_ONCE);
}

int tocsin_test_webhook(const struct tocsin_config *config, const char *name)
{
    struct tocsin_config one = *config;
    struct tocsin_webhook_conf webhook;
    struct tocsin_resolver *resolver = NULL;
    struct tocsin_sender *sender = NULL;
    struct test_run run = {0, 0, 0};
    uv_loop_t loop;
    size_t i;

    for (i = 0; i < config->n_webhooks && strcmp(config->webhooks[i].name, name) != 0; i++)
        ;
    if (i == config->n_webhooks) {
        fprintf(stderr, "tocsin: no webhook named '%s'\n", name);
        return 2;
    }
    /* One attempt each, no waiting: a test shows what the receiver says now. */
    webhook = config->webhooks[i];
    webhook.retries = 0;
    one.webhooks = &webhook;
    one.n_webhooks = 1;
    if (uv_loop_init(&loop) < 0)
        return 1;
    if (tocsin_resolver_new(&loop, NULL, &resolver) < 0 ||
        tocsin_sender_new(&loop, &one, resolver, NULL, &sender) < 0) {
        run.failed++;
    } else {
        tocsin_sender_on_delivery(sender, on_report, &run);
        /* One request each; the test monitor lives on this stack frame. */
        tocsin_sender_set_refire_ms(sender, 0);
        send_and_wait(&loop, sender, &one, &run, TOCSIN_NOTIFY_INCIDENT);
        /* Receivers that open incidents get them closed again. */
        if (strcmp(webhook.format, "pagerduty") == 0 || strcmp(webhook.format, "alertmanager") == 0)
            send_and_wait(&loop, sender, &one, &run, TOCSIN_NOTIFY_RECOVERY);
    }
    if (sender)
        tocsin_sender_close(sender, 0, on_closed, NULL);
    if (resolver)
        tocsin_resolver_close(resolver);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return run.failed == 0 && run.answered > 0 ? 0 : 1;
}
