/* bench/uv_connect.c: a bare libuv connect/close loop, the baseline for
 * tocsin's TCP checks.
 *
 * Keeps N uv_tcp_connect()s to HOST:PORT in flight for T seconds; each one
 * that connects is closed at once (uv_close, a plain close(2): FIN, as a
 * tocsin TCP check without send/expect does) and replaced by a new one.
 *
 *   uv_connect [-a ADDR] -p PORT [-c CONCURRENCY] [-t SECONDS]
 *
 * Prints one line: completed=N failed=N seconds=S cpu_us=U us_per_conn=X
 * (CPU from getrusage).  Only loopback addresses are accepted. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

struct conn {
    uv_tcp_t tcp;
    uv_connect_t req;
};

static struct sockaddr_storage target;
static uv_loop_t *loop;
static uint64_t deadline_ms;
static long completed, failed;
static int live;
static uv_signal_t sigterm, sigint;
static int stopping;

static double cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void start_one(struct conn *c);

static void on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    if (!stopping && uv_now(loop) < deadline_ms) {
        start_one(c);
        return;
    }
    free(c);
    if (--live == 0) {
        uv_close((uv_handle_t *)&sigterm, NULL);
        uv_close((uv_handle_t *)&sigint, NULL);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;

    if (status == 0)
        completed++;
    else
        failed++;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void start_one(struct conn *c)
{
    int rc;

    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->req.data = c;
    rc = uv_tcp_connect(&c->req, &c->tcp, (const struct sockaddr *)&target, on_connect);
    if (rc < 0) {
        failed++;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    stopping = 1;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 0, conc = 64, opt;
    double seconds = 10;

    while ((opt = getopt(argc, argv, "a:p:c:t:h")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': conc = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        default:
            fprintf(stderr, "usage: uv_connect [-a ADDR] -p PORT [-c CONCURRENCY] [-t SECONDS]\n");
            return 2;
        }
    }
    if (uv_ip4_addr(addr, port, (struct sockaddr_in *)&target) != 0 &&
        uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&target) != 0) {
        fprintf(stderr, "uv_connect: bad address %s\n", addr);
        return 2;
    }
    if (!(strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0) || port < 1 || conc < 1) {
        fprintf(stderr, "uv_connect: only loopback addresses (127.0.0.0/8, ::1) and a port\n");
        return 2;
    }
    loop = uv_default_loop();
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);

    uv_update_time(loop);
    uint64_t t0 = uv_hrtime();
    double c0 = cpu_us();

    deadline_ms = uv_now(loop) + (uint64_t)(seconds * 1000);
    for (int i = 0; i < conc; i++) {
        struct conn *c = calloc(1, sizeof(*c));
        if (!c)
            return 1;
        live++;
        start_one(c);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double wall = (double)(uv_hrtime() - t0) / 1e9, cpu = cpu_us() - c0;

    printf("completed=%ld failed=%ld seconds=%.3f cpu_us=%.0f us_per_conn=%.1f\n", completed,
           failed, wall, cpu, completed ? cpu / (double)completed : 0.0);
    uv_loop_close(loop);
    return 0;
}
