/* bench/curl_multi.c: libcurl multi alone, the baseline for tocsin's HTTP checks.
 *
 * Keeps N GETs of URL in flight for T seconds on one curl multi handle
 * (curl_multi_poll loop, no event library).  By default every request is a
 * fresh connection (CURLOPT_FRESH_CONNECT + CURLOPT_FORBID_REUSE), which is what
 * a tocsin HTTP check does; -k allows keep-alive (bench/run uses that to drive
 * blackbox_exporter's /probe endpoint, where the exporter's own fresh connection
 * to nginx is what is measured).
 *
 * -s drives the same multi handle the way an event loop must (and tocsin does):
 * curl_multi_socket_action() on the events of one epoll set that the socket
 * callback keeps, and on the timer callback's timeout; no libuv, no tocsin.
 * It measures what the event-driven API itself costs beside curl_multi_poll().
 *
 * -C CAFILE is for an https URL: the server's certificate is verified against
 * CAFILE alone, and every request makes a full handshake (no session cache),
 * as a tocsin HTTPS check does.
 *
 *   curl_multi -u URL [-c CONCURRENCY] [-t SECONDS] [-k] [-s] [-C CAFILE]
 *
 * Prints one line: completed=N failed=N seconds=S cpu_us=U us_per_req=X
 * (completed = transfers that ended CURLE_OK with a 2xx; CPU from getrusage).
 * bench/run does not trust these numbers alone: it counts nginx's stub_status
 * and reads /proc for every contender in the same way.
 *
 * Only loopback targets are accepted. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *data)
{
    (void)ptr;
    (void)data;
    return size * nmemb;
}

/* -s: curl's sockets in one epoll set, its timeout in one variable. */
static int epfd = -1;
static long curl_timeout_ms = -1;

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct epoll_event ev = {.data.fd = fd};

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        curl_multi_assign(userp, fd, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (socketp == NULL) {
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        curl_multi_assign(userp, fd, &epfd); /* any non-NULL mark: registered */
    } else {
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    }
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    (void)userp;
    curl_timeout_ms = timeout_ms;
    return 0;
}

/* One round of the socket API: wait for events (or curl's timeout), hand them over. */
static void socket_round(CURLM *multi, int *running)
{
    struct epoll_event evs[128];
    int wait_ms = curl_timeout_ms < 0 || curl_timeout_ms > 100 ? 100 : (int)curl_timeout_ms;
    int n = epoll_wait(epfd, evs, 128, wait_ms);

    if (n <= 0 || curl_timeout_ms == 0) {
        curl_timeout_ms = -1;
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, running);
    }
    for (int i = 0; i < n; i++) {
        int bits = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                   (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(multi, evs[i].data.fd, bits, running);
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int loopback_url(const char *url)
{
    const char *p = strstr(url, "://");

    if (!p)
        return 0;
    p += 3;
    return strncmp(p, "127.", 4) == 0 || strncmp(p, "[::1]", 5) == 0 ||
           strncmp(p, "localhost", 9) == 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: curl_multi -u URL [-c CONCURRENCY] [-t SECONDS] [-k] [-s] [-C CAFILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *ca_file = NULL;
    int conc = 64, keepalive = 0, socket_api = 0, opt;
    double seconds = 10;
    long completed = 0, failed = 0;

    while ((opt = getopt(argc, argv, "u:c:t:ksC:h")) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 'c': conc = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'k': keepalive = 1; break;
        case 's': socket_api = 1; break;
        case 'C': ca_file = optarg; break;
        default: usage();
        }
    }
    if (!url || conc < 1 || seconds <= 0)
        usage();
    if (!loopback_url(url)) {
        fprintf(stderr, "curl_multi: only loopback URLs (127.0.0.0/8, [::1], localhost)\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    CURLM *multi = curl_multi_init();
    CURL **easy = calloc((size_t)conc, sizeof(*easy));
    if (!multi || !easy)
        return 1;
    /* Enough for the exporter case; with FORBID_REUSE no connection is kept. */
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc);
    if (socket_api) {
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0)
            return 1;
        curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, multi);
        curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    }
    for (int i = 0; i < conc; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy[i], CURLOPT_PROXY, "");
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT_MS, 10000L);
        if (!keepalive) {
            curl_easy_setopt(easy[i], CURLOPT_FRESH_CONNECT, 1L);
            curl_easy_setopt(easy[i], CURLOPT_FORBID_REUSE, 1L);
        }
        if (ca_file) {
            curl_easy_setopt(easy[i], CURLOPT_CAINFO, ca_file);
            curl_easy_setopt(easy[i], CURLOPT_CAPATH, NULL);
            curl_easy_setopt(easy[i], CURLOPT_SSL_SESSIONID_CACHE, 0L);
        }
        curl_multi_add_handle(multi, easy[i]);
    }

    double t0 = now_s(), deadline = t0 + seconds, c0 = cpu_us();
    int running = conc;

    while (!stop && running > 0) {
        int numfds;
        CURLMsg *msg;
        int left;

        if (socket_api)
            socket_round(multi, &running);
        else
            curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long code = 0;

            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result == CURLE_OK && code >= 200 && code < 300)
                completed++;
            else
                failed++;
            curl_multi_remove_handle(multi, e);
            if (now_s() < deadline && !stop) {
                curl_multi_add_handle(multi, e);
                running++;
            }
        }
        if (running > 0 && !socket_api)
            curl_multi_poll(multi, NULL, 0, 100, &numfds);
    }
    double wall = now_s() - t0, cpu = cpu_us() - c0;

    printf("completed=%ld failed=%ld seconds=%.3f cpu_us=%.0f us_per_req=%.1f\n", completed, failed,
           wall, cpu, completed ? cpu / (double)completed : 0.0);
    for (int i = 0; i < conc; i++) {
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_cleanup(multi);
    free(easy);
    curl_global_cleanup();
    return 0;
}
