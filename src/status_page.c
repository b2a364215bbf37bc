/* /status: one HTML page a person reads at a glance (DESIGN §7, issue 10).
 *
 * What is wrong comes first: the agent's own problems (as /healthz says them),
 * then DOWN monitors, then UNKNOWN, then UP, each group in config order.  Every
 * string from the config or a target is HTML-escaped; URLs are shown with
 * their userinfo redacted.  No script, no external asset: it must render from
 * a monitoring host with no Internet, and refreshes itself every 30 s.  A page
 * of 100,000 rows helps nobody, so at most PAGE_ROWS monitors are listed (all
 * the failing ones first) and the rest are counted; /api/v1/monitors has all. */
#include "agent_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tocsin/format.h"
#include "tocsin/json.h"

#define PAGE_ROWS 2000

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fafafa}"
    "h1{font-size:1.3em;margin:0 0 .2em}"
    ".sub{color:#666;margin-bottom:1em}"
    ".sum span{display:inline-block;margin-right:1.2em;font-weight:600}"
    ".problems{background:#fdecea;border:1px solid #f5c2c0;padding:.5em 1em;margin:1em 0}"
    ".ok{background:#e8f5e9;border:1px solid #c8e6c9;padding:.5em 1em;margin:1em 0}"
    "table{border-collapse:collapse;width:100%;background:#fff}"
    "th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e5e5e5;"
    "vertical-align:top}"
    "th{background:#f0f0f0;font-weight:600}"
    ".st{font-weight:700;border-radius:3px;padding:0 .4em;color:#fff;white-space:nowrap}"
    ".UP{background:#2e7d32}.DOWN{background:#c62828}.UNKNOWN{background:#757575}"
    ".id,.t{color:#666;font-size:.9em}"
    ".err{color:#b71c1c;max-width:40em;overflow-wrap:anywhere}"
    ".rg{white-space:nowrap;margin-right:.8em}"
    "footer{color:#666;margin-top:1em;font-size:.9em}";

/* "2026-12-06 04:35:07Z (3m ago)" */
static void put_since(struct tocsin_buf *b, int64_t t, int64_t now)
{
    int64_t ago = now - t;
    char when[32];

    if (t <= 0) {
        tocsin_buf_puts(b, "&ndash;");
        return;
    }
    tocsin_rfc3339(t, when, sizeof(when));
    tocsin_buf_printf(b, "<span title=\"%s\">%s</span> <span class=t>(", when, when);
    if (ago < 0)
        ago = 0;
    if (ago < 120)
        tocsin_buf_printf(b, "%" PRId64 "s", ago);
    else if (ago < 7200)
        tocsin_buf_printf(b, "%" PRId64 "m", ago / 60);
    else if (ago < 172800)
        tocsin_buf_printf(b, "%" PRId64 "h", ago / 3600);
    else
        tocsin_buf_printf(b, "%" PRId64 "d", ago / 86400);
    tocsin_buf_puts(b, " ago)</span>");
}

static void put_header(struct tocsin_agent *a, const json_t *problems, const size_t *count,
                       struct tocsin_buf *b)
{
    const struct tocsin_config *c = a->config;
    size_t i;
    json_t *p;

    tocsin_buf_puts(b, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
                       "<meta http-equiv=refresh content=30>"
                       "<meta name=viewport content=\"width=device-width,initial-scale=1\">"
                       "<title>");
    tocsin_buf_printf(b, "%zu down &middot; ", count[TOCSIN_STATUS_DOWN]);
    tocsin_buf_html(b, c->agent.region);
    tocsin_buf_printf(b, " &middot; tocsin</title><style>%s</style></head><body>\n", style);
    tocsin_buf_puts(b, "<h1>tocsin &middot; ");
    tocsin_buf_html(b, c->agent.region);
    tocsin_buf_puts(b, "</h1><div class=sub>");
    for (size_t r = 0; r < c->n_regions; r++) {
        tocsin_buf_puts(b, r ? ", " : "regions: ");
        tocsin_buf_html(b, c->regions[r].name);
        if (tocsin_guard_degraded(a->gen.guard, r))
            tocsin_buf_puts(b, " (degraded)");
    }
    if (c->agent.shard_count > 1)
        tocsin_buf_printf(b, " &middot; shard %u/%u", c->agent.shard_index, c->agent.shard_count);
    tocsin_buf_printf(b, "</div>\n<div class=sum><span>%zu monitors</span>"
                         "<span style=\"color:#c62828\">%zu down</span>"
                         "<span style=\"color:#757575\">%zu unknown</span>"
                         "<span style=\"color:#2e7d32\">%zu up</span></div>\n",
                      c->n_monitors, count[TOCSIN_STATUS_DOWN], count[TOCSIN_STATUS_UNKNOWN],
                      count[TOCSIN_STATUS_UP]);
    if (json_array_size(problems) == 0) {
        tocsin_buf_puts(b, "<div class=ok>The agent is healthy.</div>\n");
        return;
    }
    tocsin_buf_puts(b, "<div class=problems><b>The agent is not healthy:</b><ul>");
    json_array_foreach(problems, i, p) {
        tocsin_buf_puts(b, "<li>");
        tocsin_buf_html(b, json_string_value(p));
        tocsin_buf_puts(b, "</li>");
    }
    tocsin_buf_puts(b, "</ul></div>\n");
}

/* Each region: a dot for its latest result and the time it took. */
static void put_regions(struct tocsin_agent *a, size_t i, struct tocsin_buf *b)
{
    const struct tocsin_monitor_conf *m = &a->config->monitors[i];

    for (size_t r = 0; r < m->n_regions; r++) {
        const struct tocsin_last_check *c = tocsin_agent_check(&a->gen, i, r);
        const char *status = c->timestamp ? tocsin_status_name(c->status) : "UNKNOWN";

        tocsin_buf_puts(b, "<span class=rg>");
        tocsin_buf_printf(b, "<span class=\"st %s\" title=\"%s\">%s</span> ", status, status,
                          c->status == TOCSIN_STATUS_UP ? "&#10003;" : "&#10007;");
        tocsin_buf_html(b, a->config->regions[m->regions[r]].name);
        if (c->timestamp)
            tocsin_buf_printf(b, " <span class=t>%" PRId32 " ms</span>", c->response_time_ms);
        tocsin_buf_puts(b, "</span> ");
    }
}

/* The failing regions' latest errors, "region: kind: message". */
static void put_errors(struct tocsin_agent *a, size_t i, struct tocsin_buf *b)
{
    const struct tocsin_monitor_conf *m = &a->config->monitors[i];

    for (size_t r = 0; r < m->n_regions; r++) {
        const struct tocsin_last_check *c = tocsin_agent_check(&a->gen, i, r);

        if (c->timestamp == 0 || c->status != TOCSIN_STATUS_DOWN)
            continue;
        tocsin_buf_puts(b, "<div>");
        if (m->n_regions > 1) {
            tocsin_buf_html(b, a->config->regions[m->regions[r]].name);
            tocsin_buf_puts(b, ": ");
        }
        tocsin_buf_html(b, tocsin_error_kind_name(c->error_kind));
        if (c->error_message) {
            tocsin_buf_puts(b, ": ");
            tocsin_buf_html(b, c->error_message);
        }
        tocsin_buf_puts(b, "</div>");
    }
}

static void put_row(struct tocsin_agent *a, size_t i, int64_t now, struct tocsin_buf *b)
{
    const struct tocsin_monitor_conf *m = &a->config->monitors[i];
    const struct tocsin_monitor_state *s = &a->gen.states[i];
    enum tocsin_hold hold = a->gen.holds[i].last;
    const char *status = tocsin_status_name(s->status);
    char target[1100];

    tocsin_monitor_display_url(m, target, sizeof(target)); /* userinfo redacted */
    tocsin_buf_printf(b, "<tr><td><span class=\"st %s\">%s</span></td><td>", status, status);
    tocsin_buf_html(b, m->name ? m->name : m->id);
    tocsin_buf_puts(b, "<br><span class=id>");
    tocsin_buf_html(b, m->id);
    tocsin_buf_puts(b, "</span></td><td class=t>");
    tocsin_buf_html(b, target);
    tocsin_buf_puts(b, "</td><td>");
    put_since(b, s->since, now);
    tocsin_buf_printf(b, "</td><td>%d</td><td>", s->consecutive_failures);
    put_regions(a, i, b);
    if (hold != TOCSIN_HOLD_NONE) {
        tocsin_buf_puts(b, "<div class=t>alerts held: ");
        tocsin_buf_html(b, tocsin_hold_name(hold));
        tocsin_buf_puts(b, "</div>");
    }
    tocsin_buf_puts(b, "</td><td class=err>");
    put_errors(a, i, b);
    tocsin_buf_puts(b, "</td></tr>\n");
}

static void put_footer(struct tocsin_agent *a, int64_t now, struct tocsin_buf *b)
{
    struct tocsin_sender_stats st = {0};
    char when[32];

    if (a->gen.sender)
        tocsin_sender_stats(a->gen.sender, &st);
    tocsin_rfc3339(now, when, sizeof(when));
    tocsin_buf_printf(b, "<footer>Alerts: %zu waiting, %zu in flight, %zu dead letters"
                         " &middot; tocsin %s &middot; %s &middot; "
                         "<a href=\"/api/v1/monitors\">/api/v1/monitors</a> "
                         "<a href=\"/api/v1/status\">/api/v1/status</a> "
                         "<a href=\"/metrics\">/metrics</a> <a href=\"/healthz\">/healthz</a>"
                         "</footer>\n</body></html>\n",
                      st.waiting, st.in_flight, st.dead_now, TOCSIN_VERSION, when);
}

void tocsin_status_page(struct tocsin_agent *a, const json_t *problems, struct tocsin_buf *out)
{
    static const enum tocsin_status order[] = {TOCSIN_STATUS_DOWN, TOCSIN_STATUS_UNKNOWN,
                                               TOCSIN_STATUS_UP};
    const struct tocsin_config *c = a->config;
    size_t count[3] = {0, 0, 0}, shown = 0;
    int64_t now = (int64_t)time(NULL);

    for (size_t i = 0; i < c->n_monitors; i++)
        count[a->gen.states[i].status]++;
    put_header(a, problems, count, out);
    tocsin_buf_puts(out, "<table><thead><tr><th>Status</th><th>Monitor</th><th>Target</th>"
                         "<th>Since</th><th>Failures</th><th>Regions</th><th>Last error</th>"
                         "</tr></thead><tbody>\n");
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < c->n_monitors && shown < PAGE_ROWS; i++)
            if (a->gen.states[i].status == order[k]) {
                put_row(a, i, now, out);
                shown++;
            }
    tocsin_buf_puts(out, "</tbody></table>\n");
    if (shown < c->n_monitors)
        tocsin_buf_printf(out, "<p>&hellip; and %zu more monitors: see "
                               "<a href=\"/api/v1/monitors\">/api/v1/monitors</a>.</p>\n",
                          c->n_monitors - shown);
    put_footer(a, now, out);
}
