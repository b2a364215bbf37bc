/* tocsin's command line: run, check-config, probe, version (DESIGN §7). */
#include <ares.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tocsin/agent.h"
#include "tocsin/config.h"
#include "tocsin/json.h"
#include "tocsin/log.h"
#include "tocsin/oneshot.h"
#include "tocsin/outbox_cmd.h"
#include "tocsin/test_webhook.h"

#define DEFAULT_CONFIG "/etc/tocsin/tocsin.yaml"

enum { EXIT_OK = 0, EXIT_DOWN = 1, EXIT_CONFIG = 2 };

static const char usage_main[] =
    "usage: tocsin COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  run           run the agent until SIGTERM/SIGINT\n"
    "  check-config  validate the configuration and exit (2 on errors)\n"
    "  probe         run checks once and print their results\n"
    "  outbox        list, retry or purge undelivered alerts\n"
    "  test-webhook  send a test alert to one webhook\n"
    "  version       print the version\n"
    "\n"
    "Run 'tocsin COMMAND --help' for a command's options.\n";

static const char usage_run[] =
    "usage: tocsin run [-c FILE]\n"
    "\n"
    "Runs every monitor of FILE (default " DEFAULT_CONFIG ") on its schedule and\n"
    "delivers alerts to its webhooks.  SIGTERM or SIGINT stops it.\n"
    "\n"
    "  -c, --config FILE  configuration file (.yaml, .yml or .ini)\n"
    "  -h, --help         this help\n";

static const char usage_check[] =
    "usage: tocsin check-config [-c FILE]\n"
    "\n"
    "Validates FILE (default " DEFAULT_CONFIG ") and the probes.d/ beside it.\n"
    "Prints every problem as FILE:LINE:COL: message.  Exit 0 valid, 2 invalid.\n"
    "\n"
    "  -c, --config FILE  configuration file\n"
    "  -h, --help         this help\n";

static const char usage_probe[] =
    "usage: tocsin probe [-c FILE] [--json] [--region R] [ID...]\n"
    "\n"
    "Runs the checks of the monitors ID... (default: all) once, concurrently, and\n"
    "prints their results.  Exit 0 when all are UP, 1 when any is DOWN, 2 on\n"
    "configuration errors.\n"
    "\n"
    "  -c, --config FILE  configuration file\n"
    "  -j, --json         one JSON object per line instead of a table\n"
    "  -r, --region R     only checks from region R\n"
    "  -h, --help         this help\n";

static const char usage_test_webhook[] =
    "usage: tocsin test-webhook [-c FILE] NAME\n"
    "\n"
    "Sends a test alert to the webhook NAME in its format and signing, once, and\n"
    "prints the status code, latency and the start of the answer; for pagerduty\n"
    "and alertmanager a trigger then a resolve.  Exit 0 when answered 2xx.\n"
    "\n"
    "  -c, --config FILE  configuration file\n"
    "  -h, --help         this help\n";

static const char usage_outbox[] =
    "usage: tocsin outbox list  [-c FILE]\n"
    "       tocsin outbox retry [-c FILE] (ID | --webhook NAME | --all)\n"
    "       tocsin outbox purge [-c FILE] (ID | --webhook NAME | --all)\n"
    "\n"
    "Lists the deliveries of the outbox in state_dir that no receiver has\n"
    "acknowledged yet (pending and dead letters), queues dead letters again, or\n"
    "deletes them.  While the agent runs, the command asks it through its API\n"
    "(agent.listen); otherwise it opens the database, as the owner of state_dir\n"
    "when run as root.\n"
    "\n"
    "  -c, --config FILE   configuration file (for state_dir)\n"
    "  -w, --webhook NAME  only the dead letters of this webhook\n"
    "  -a, --all           every dead letter\n"
    "  -h, --help          this help\n";

struct cli {
    const char *config;
    bool json;
    const char *region;
};

/* Parses the options of one command; -1 means exit with *EXIT_CODE. */
static int parse_options(int argc, char **argv, const char *usage, bool probe_opts,
                         struct cli *cli, int *exit_code)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"region", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    cli->config = DEFAULT_CONFIG;
    optind = 1;
    while ((c = getopt_long(argc, argv, probe_opts ? "c:jr:h" : "c:h", options, NULL)) != -1) {
        if (c == 'c') {
            cli->config = optarg;
        } else if (c == 'j' && probe_opts) {
            cli->json = true;
        } else if (c == 'r' && probe_opts) {
            cli->region = optarg;
        } else if (c == 'h') {
            fputs(usage, stdout);
            *exit_code = EXIT_OK;
            return -1;
        } else {
            fputs(usage, stderr);
            *exit_code = EXIT_CONFIG;
            return -1;
        }
    }
    if (!probe_opts && optind < argc) {
        fprintf(stderr, "tocsin: unexpected argument '%s'\n", argv[optind]);
        fputs(usage, stderr);
        *exit_code = EXIT_CONFIG;
        return -1;
    }
    return 0;
}

static int load(const char *path, struct tocsin_config **config)
{
    struct tocsin_diags diags = {.n = 0};
    int rc = tocsin_config_load(path, config, &diags);

    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "%s\n", diags.lines[i]);
    if (rc < 0 && diags.n == 0)
        fprintf(stderr, "%s: cannot load: %s\n", path, strerror(-rc));
    tocsin_diags_free(&diags);
    return rc;
}

/* Every check holds a descriptor, and the agent never uses select(), so the
 * soft limit on open files goes up to the hard one, as Go programs such as
 * blackbox_exporter do at start: a hand-started agent under the usual 1,024
 * would otherwise fail checks of a large config with EMFILE. */
static void raise_open_files_limit(void)
{
    struct rlimit rl;
    char from[24], to[24];

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    snprintf(from, sizeof(from), "%llu", (unsigned long long)rl.rlim_cur);
    snprintf(to, sizeof(to), "%llu", (unsigned long long)rl.rlim_max);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        tocsin_info("open files limit raised", "from", from, "to", to);
}

static int cmd_run(int argc, char **argv)
{
    struct cli cli = {.json = false};
    struct tocsin_config *config;
    int code = EXIT_OK;

    if (parse_options(argc, argv, usage_run, false, &cli, &code) < 0)
        return code;
    if (load(cli.config, &config) < 0)
        return EXIT_CONFIG;
    tocsin_log_setup(config->agent.log_level, config->agent.log_format);
    raise_open_files_limit();
    code = tocsin_agent_run(config);
    tocsin_config_free(config);
    return code;
}

static int cmd_check_config(int argc, char **argv)
{
    struct cli cli = {.json = false};
    struct tocsin_config *config;
    int code = EXIT_OK;

    if (parse_options(argc, argv, usage_check, false, &cli, &code) < 0)
        return code;
    if (load(cli.config, &config) < 0)
        return EXIT_CONFIG;
    if (config->agent.shard_count > 1)
        printf("%s: ok (%zu of %zu monitors in shard %u/%u, %zu webhooks, %zu policies)\n",
               cli.config, config->n_monitors, config->n_monitors_all, config->agent.shard_index,
               config->agent.shard_count, config->n_webhooks, config->n_policies);
    else
        printf("%s: ok (%zu monitors, %zu webhooks, %zu policies)\n", cli.config,
               config->n_monitors, config->n_webhooks, config->n_policies);
    tocsin_config_free(config);
    return EXIT_OK;
}

static json_t *ms_or_null(int64_t ms)
{
    return ms < 0 ? json_null() : json_integer(ms);
}

static int print_json(const struct tocsin_config *config, const struct tocsin_oneshot_result *o)
{
    const struct tocsin_result *r = &o->result;
    bool down = r->status == TOCSIN_STATUS_DOWN;
    char ts[32];
    char *line = NULL;
    size_t len;
    json_t *root = json_object(), *timings = json_object();
    int rc;

    tocsin_rfc3339(r->timestamp, ts, sizeof(ts));
    json_object_set_new(root, "monitor", tocsin_json_string(config->monitors[o->monitor].id));
    json_object_set_new(root, "region", tocsin_json_string(config->regions[r->region].name));
    json_object_set_new(root, "status", json_string(tocsin_status_name(r->status)));
    json_object_set_new(root, "error_kind",
                        down ? json_string(tocsin_error_kind_name(r->error_kind)) : json_null());
    json_object_set_new(root, "error_message",
                        down ? tocsin_json_string(r->error_message) : json_null());
    json_object_set_new(root, "status_code", r->status_code ? json_integer(r->status_code)
                                                            : json_null());
    json_object_set_new(root, "response_time_ms", json_integer(r->response_time_ms));
    json_object_set_new(root, "timestamp", json_string(ts));
    json_object_set_new(timings, "dns_ms", ms_or_null(r->timings.dns_ms));
    json_object_set_new(timings, "connect_ms", ms_or_null(r->timings.connect_ms));
    json_object_set_new(timings, "tls_ms", ms_or_null(r->timings.tls_ms));
    json_object_set_new(timings, "first_byte_ms", ms_or_null(r->timings.first_byte_ms));
    json_object_set_new(timings, "total_ms", ms_or_null(r->timings.total_ms));
    json_object_set_new(root, "timings", timings);
    rc = tocsin_json_dump(root, 1 << 20, &line, &len);
    if (rc == 0)
        printf("%s\n", line);
    free(line);
    json_decref(root);
    return rc;
}

static void print_table(const struct tocsin_config *config, const struct tocsin_oneshot_result *o,
                        size_t n)
{
    printf("%-24s %-14s %-6s %-5s %8s  %s\n", "MONITOR", "REGION", "STATUS", "CODE", "TIME",
           "ERROR");
    for (size_t i = 0; i < n; i++) {
        const struct tocsin_result *r = &o[i].result;
        char code[8] = "-", time_ms[24];
        if (r->status_code)
            snprintf(code, sizeof(code), "%d", r->status_code);
        snprintf(time_ms, sizeof(time_ms), "%" PRId64 "ms", r->response_time_ms);
        printf("%-24s %-14s %-6s %-5s %8s  %s%s%s\n", config->monitors[o[i].monitor].id,
               config->regions[r->region].name, tocsin_status_name(r->status), code, time_ms,
               tocsin_error_kind_name(r->error_kind), r->error_message[0] ? ": " : "",
               r->error_message);
    }
}

static int cmd_probe(int argc, char **argv)
{
    struct cli cli = {.json = false};
    struct tocsin_config *config;
    struct tocsin_oneshot_result *results = NULL;
    size_t n = 0;
    const char *bad = NULL;
    int code = EXIT_OK;
    int rc;

    if (parse_options(argc, argv, usage_probe, true, &cli, &code) < 0)
        return code;
    if (load(cli.config, &config) < 0)
        return EXIT_CONFIG;
    tocsin_log_setup(TOCSIN_LOG_WARN, config->agent.log_format);
    rc = tocsin_oneshot_run(config, argv + optind, (size_t)(argc - optind), cli.region, &results,
                            &n, &bad);
    if (rc == -ENOENT) {
        fprintf(stderr, "tocsin: no monitor or region named '%s' in %s\n", bad, cli.config);
        code = EXIT_CONFIG;
    } else if (rc < 0) {
        fprintf(stderr, "tocsin: cannot run checks: %s\n", strerror(-rc));
        code = EXIT_DOWN;
    } else {
        for (size_t i = 0; i < n; i++)
            if (results[i].result.status != TOCSIN_STATUS_UP)
                code = EXIT_DOWN;
        if (cli.json)
            for (size_t i = 0; i < n; i++)
                print_json(config, &results[i]);
        else
            print_table(config, results, n);
    }
    free(results);
    tocsin_config_free(config);
    return code;
}

static int cmd_test_webhook(int argc, char **argv)
{
    struct cli cli = {.json = false};
    struct tocsin_config *config;
    int code = EXIT_OK;

    /* probe_opts: the webhook name is a positional argument, as probe's ids. */
    if (parse_options(argc, argv, usage_test_webhook, true, &cli, &code) < 0)
        return code;
    if (optind + 1 != argc || cli.json || cli.region) {
        fputs(usage_test_webhook, stderr);
        return EXIT_CONFIG;
    }
    if (load(cli.config, &config) < 0)
        return EXIT_CONFIG;
    tocsin_log_setup(TOCSIN_LOG_ERROR, config->agent.log_format);
    code = tocsin_test_webhook(config, argv[optind]);
    tocsin_config_free(config);
    return code;
}

/* Parses the selection of retry/purge: one id, --webhook NAME or --all. */
static int parse_selection(int argc, char **argv, struct cli *cli, int64_t *id, const char **webhook)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"webhook", required_argument, NULL, 'w'},
        {"all", no_argument, NULL, 'a'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool all = false;
    char *end;
    int c;

    cli->config = DEFAULT_CONFIG;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:w:ah", options, NULL)) != -1) {
        if (c == 'c')
            cli->config = optarg;
        else if (c == 'w')
            *webhook = optarg;
        else if (c == 'a')
            all = true;
        else
            return c == 'h' ? 1 : -1;
    }
    if (optind + 1 == argc && !all && *webhook == NULL) {
        *id = strtoll(argv[optind], &end, 10);
        return *end == '\0' && *id > 0 ? 0 : -1;
    }
    return optind == argc && (all || *webhook) ? 0 : -1;
}

static int cmd_outbox(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    enum tocsin_outbox_action action = TOCSIN_OUTBOX_LIST;
    struct cli cli = {.json = false};
    struct tocsin_config *config;
    const char *webhook = NULL;
    int64_t id = 0;
    int code = EXIT_OK, rc;

    if (strcmp(sub, "list") == 0) {
        if (parse_options(argc - 1, argv + 1, usage_outbox, false, &cli, &code) < 0)
            return code;
    } else if (strcmp(sub, "retry") == 0 || strcmp(sub, "purge") == 0) {
        action = sub[0] == 'r' ? TOCSIN_OUTBOX_RETRY : TOCSIN_OUTBOX_PURGE;
        rc = parse_selection(argc - 1, argv + 1, &cli, &id, &webhook);
        if (rc != 0) {
            fputs(usage_outbox, rc > 0 ? stdout : stderr);
            return rc > 0 ? EXIT_OK : EXIT_CONFIG;
        }
    } else {
        bool help = strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0;
        fputs(usage_outbox, help ? stdout : stderr);
        return help ? EXIT_OK : EXIT_CONFIG;
    }
    if (load(cli.config, &config) < 0)
        return EXIT_CONFIG;
    tocsin_log_setup(TOCSIN_LOG_WARN, config->agent.log_format);
    code = tocsin_outbox_cmd(config, action, id, webhook);
    tocsin_config_free(config);
    return code;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    int code;

    if (cmd == NULL || strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        fputs(usage_main, cmd ? stdout : stderr);
        return cmd ? EXIT_OK : EXIT_CONFIG;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("tocsin %s (libcurl %s, c-ares %s, libuv %s)\n", TOCSIN_VERSION,
               curl_version_info(CURLVERSION_NOW)->version, ares_version(NULL), uv_version_string());
        return EXIT_OK;
    }
    /* A peer that resets while we write must cost one failed check, not the
     * process: libuv writes with plain write(), so SIGPIPE is ignored here. */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || ares_library_init(ARES_LIB_INIT_ALL) != 0) {
        fprintf(stderr, "tocsin: cannot initialise libcurl or c-ares\n");
        return 1;
    }
    if (strcmp(cmd, "run") == 0)
        code = cmd_run(argc - 1, argv + 1);
    else if (strcmp(cmd, "check-config") == 0)
        code = cmd_check_config(argc - 1, argv + 1);
    else if (strcmp(cmd, "probe") == 0)
        code = cmd_probe(argc - 1, argv + 1);
    else if (strcmp(cmd, "test-webhook") == 0)
        code = cmd_test_webhook(argc - 1, argv + 1);
    else if (strcmp(cmd, "outbox") == 0)
        code = cmd_outbox(argc - 1, argv + 1);
    else {
        fprintf(stderr, "tocsin: unknown command '%s'\n\n%s", cmd, usage_main);
        code = EXIT_CONFIG;
    }
    ares_library_cleanup();
    curl_global_cleanup();
    return code;
}
