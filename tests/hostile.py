#!/usr/bin/env python3
"""Hostile targets against the real binary, on loopback only (DESIGN §4, §6).

1,000 monitors of targets that misbehave, served by one selectors loop in a
child process (a few ports per kind, many monitors a port, each its own path
or its own `send` line):
  hang      accept, then never answer nor close (HTTP, HTTPS, TCP, TCP+TLS)
  slowloris an HTTP status line and headers one byte every 0.5 s, never ended
  reset     accept and close with SO_LINGER 0 (RST), at once or after the request
  endless   HTTP 200 chunked forever, 200 with a 1 TB Content-Length trickled,
            500 with a 1 TB body at full speed, bytes forever to a TCP check
  bad TLS   a self-signed certificate made here (openssl), and a port that
            answers a ClientHello with plain text
beside 100 healthy monitors (50 HTTP, 50 TCP with send/expect, interval 1s) of
a fast server in a second child process that counts the checks it sees.

Asserted, from the agent's own view (/api/v1/monitors, /metrics) and the
servers': every hostile monitor ends DOWN with the error kind its target
calls for and a message, none ever had an UP check, each is still checked;
every healthy monitor is UP at every look of a window of WINDOW seconds,
never had a failed check, and got >= 80% of window/interval checks by the
agent's count and by its server's; the agent's RSS stays < 200 MB (an
endless body is read to max_body_bytes, never further), its open files stay
<= the monitors + 200 (a timed-out check closes its socket: the hang
servers' open connections never exceed their monitors), it is alive at the
end and SIGTERM exits 0.  Printed: healthy checks a second, scheduler
lateness p99, RSS, files.

Every wait is bounded.  Usage: hostile.py <tocsin-binary> <source-dir>
[--window S] [--healthy N] [--groups PREFIX,...] [--keep]; internally also
hostile.py --serve hostile|healthy SPEC (the server processes).  An ASan
build (found by its __asan_init) gets 4 x the RSS limit: its quarantine."""

import argparse
import json
import os
import resource
import select
import selectors
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import agentproc  # noqa: E402
from agentproc import Agent, FAILURES, check, die_with_parent, first, free_port, launch, log, \
    wait_for  # noqa: E402

HEALTHY_INTERVAL_S = 1.0
RSS_LIMIT_MB = 200


def raise_nofile(want=65536):
    """Raises this process's soft RLIMIT_NOFILE (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---- the servers: one selectors loop each, in child processes ------------------

class Loop:
    """Listeners, connections and periodic ticks on one selector, one thread."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.ticks = []          # [period, next due, function]
        self.stats = {}          # kind -> {"accepted", "open", "max_open", "bytes"}

    def listen(self, kind, make):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(4096)
        s.setblocking(False)
        self.stats.setdefault(kind, {"accepted": 0, "open": 0, "max_open": 0, "bytes": 0})
        self.sel.register(s, selectors.EVENT_READ, lambda mask: self.accept(s, kind, make))
        return s.getsockname()[1]

    def accept(self, s, kind, make):
        for _ in range(64):
            try:
                c, _ = s.accept()
            except OSError:
                return
            c.setblocking(False)
            st = self.stats[kind]
            st["accepted"] += 1
            make(self, c, kind)

    def every(self, period, fn):
        self.ticks.append([period, time.monotonic() + period, fn])

    def run(self):
        while True:
            now = time.monotonic()
            wait = min((t[1] for t in self.ticks), default=now + 1.0) - now
            for key, mask in self.sel.select(max(0.0, wait)):
                key.data(mask)
            now = time.monotonic()
            for t in self.ticks:
                if now >= t[1]:
                    t[1] = now + t[0]
                    t[2]()


class Conn:
    """One accepted connection: read and discard, close on EOF or error."""

    def __init__(self, loop, sock, kind):
        self.loop, self.sock, self.kind = loop, sock, kind
        self.closed = False
        self.out = b""           # left to send before closing (reply_and_close)
        self.closing = False
        st = loop.stats[kind]
        st["open"] += 1
        st["max_open"] = max(st["max_open"], st["open"])
        self.events = selectors.EVENT_READ
        loop.sel.register(sock, self.events, self.on_event)
        self.started()

    def started(self):
        pass

    def want_write(self, on):
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        if events != self.events and not self.closed:
            self.events = events
            self.loop.sel.modify(self.sock, events, self.on_event)

    def on_event(self, mask):
        if mask & selectors.EVENT_READ:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                data = None
            except OSError:
                return self.close()
            if data == b"":
                return self.close()
            if data:
                self.on_data(data)
        if not self.closed and mask & selectors.EVENT_WRITE:
            if self.closing:
                self.flush()
            else:
                self.on_writable()

    def on_data(self, data):
        pass

    def on_writable(self):
        self.want_write(False)

    def send(self, data):
        """Sends what the socket takes of DATA now; its length, or -1 (closed)."""
        try:
            n = self.sock.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
            return 0
        except OSError:
            self.close()
            return -1
        self.loop.stats[self.kind]["bytes"] += n
        return n

    def reply_and_close(self, data):
        self.out, self.closing = data, True
        self.flush()

    def flush(self):
        n = self.send(self.out)
        if n < 0:
            return
        self.out = self.out[n:]
        if self.out:
            self.want_write(True)
        else:
            self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.loop.stats[self.kind]["open"] -= 1
        try:
            self.loop.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()


class Trickle(Conn):
    """Sends PART() of a stream that never ends, once a tick (loop.every)."""
    live = None     # the set of a subclass's open connections

    def started(self):
        self.pos = 0
        type(self).live.add(self)

    @classmethod
    def tick(cls):
        for c in list(cls.live):
            n = c.send(c.part())
            if n > 0:
                c.pos += n

    def close(self):
        type(self).live.discard(self)
        super().close()


class Slowloris(Trickle):
    """A status line and headers forever, one byte a tick (0.5 s)."""
    HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    FILL = b"X-Slowloris: still coming\r\n"
    live = set()

    def part(self):
        i = self.pos
        return self.HEAD[i:i + 1] if i < len(self.HEAD) else \
            self.FILL[(i - len(self.HEAD)) % len(self.FILL):][:1]


def reset_now(loop, sock, kind):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class ResetAfterRequest(Conn):
    """Reads the first bytes of the request, then RST."""

    def on_data(self, data):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()


class Stream(Conn):
    """HEAD, then BLOCK over and over, as fast as the reader reads."""
    HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    BLOCK = (b"4000\r\n" + b"x" * 0x4000 + b"\r\n") * 4

    def started(self):
        self.pending = self.HEAD
        self.offset = 0
        self.want_write(True)

    def on_writable(self):
        if self.pending:
            n = self.send(self.pending)
            if n > 0:
                self.pending = self.pending[n:]
            return
        view = memoryview(self.BLOCK)[self.offset:]
        n = self.send(view)
        if n > 0:
            self.offset = (self.offset + n) % len(self.BLOCK)


class Stream500(Stream):
    HEAD = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000000000000\r\n\r\n"
    BLOCK = b"error " * 10923


class SlowBody(Trickle):
    """200 with a 1 TB Content-Length; 2 KiB a tick (0.1 s)."""
    HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000000000\r\n\r\n"
    CHUNK = b"y" * 2048
    live = set()

    def part(self):
        return self.HEAD[self.pos:] if self.pos < len(self.HEAD) else self.CHUNK


class Garbage(Conn):
    """Plain text where a TLS server would answer, then silence."""
    TEXT = b"220 this is not TLS, just garbage \x00\xff\xfe\r\n" * 24

    def started(self):
        self.sent = False

    def on_data(self, data):
        if not self.sent:
            self.sent = True
            self.send(self.TEXT)


class TLSServer(Conn):
    """A TLS handshake with the self-signed certificate; an agent that accepted
    it would get "200 OK" (and the check would fail as UP)."""
    context = None

    def started(self):
        self.handshaken = False

    def on_event(self, mask):
        if self.handshaken:
            return super().on_event(mask)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.want_write(False)
            return
        except ssl.SSLWantWriteError:
            self.want_write(True)
            return
        except (ssl.SSLError, OSError):
            self.loop.stats[self.kind].setdefault("handshake_failed", 0)
            self.loop.stats[self.kind]["handshake_failed"] += 1
            return self.close()
        self.handshaken = True
        self.loop.stats[self.kind].setdefault("handshake_ok", 0)
        self.loop.stats[self.kind]["handshake_ok"] += 1
        self.reply_and_close(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                             b"\r\nok")


def tls_conn(loop, sock, kind):
    try:
        wrapped = TLSServer.context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
    except (ssl.SSLError, OSError):
        sock.close()
        return
    TLSServer(loop, wrapped, kind)


class HealthyHTTP(Conn):
    """Counts GET PATH and answers 200 "ok"."""
    counts = {}

    def started(self):
        self.buf = b""

    def on_data(self, data):
        self.buf += data
        if b"\r\n\r\n" not in self.buf or self.closing:
            return
        parts = self.buf.split(b" ", 2)
        path = parts[1].decode("latin-1").split("?")[0] if len(parts) > 2 else "?"
        HealthyHTTP.counts[path] = HealthyHTTP.counts.get(path, 0) + 1
        self.reply_and_close(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                             b"Connection: close\r\n\r\nok\n")


class HealthyTCP(Conn):
    """Counts the line "hello ID" and answers "ok ID"."""

    def started(self):
        self.buf = b""

    def on_data(self, data):
        self.buf += data
        if b"\n" not in self.buf or self.closing:
            return
        line = self.buf.split(b"\n", 1)[0].decode("latin-1")
        name = "tcp:" + line.split(" ", 1)[-1]
        HealthyHTTP.counts[name] = HealthyHTTP.counts.get(name, 0) + 1
        self.reply_and_close(b"ok " + line.split(" ", 1)[-1].encode("latin-1") + b"\n")


class Control(Conn):
    """Answers every connection with the loop's stats as one JSON line."""

    def started(self):
        doc = {"stats": self.loop.stats, "counts": HealthyHTTP.counts}
        self.reply_and_close(json.dumps(doc).encode() + b"\n")


HOSTILE_KINDS = {   # server kind -> (ports, connection maker, tick)
    "hang": (3, Conn, None),
    "slowloris": (2, Slowloris, (0.5, Slowloris.tick)),
    "reset": (1, reset_now, None),
    "reset_late": (1, ResetAfterRequest, None),
    "chunked": (2, Stream, None),
    "status500": (1, Stream500, None),
    "slowbody": (1, SlowBody, (0.1, SlowBody.tick)),
    "tls": (2, tls_conn, None),
    "garbage": (1, Garbage, None),
}


def serve(role, spec):
    """The child process: listens, prints "ready {ports}", serves until killed."""
    raise_nofile()
    loop = Loop()
    ports = {}
    if role == "hostile":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(spec["cert"], spec["key"])
        TLSServer.context = ctx
        for kind, (n, make, tick) in HOSTILE_KINDS.items():
            ports[kind] = [loop.listen(kind, make) for _ in range(n)]
            if tick:
                loop.every(*tick)
    else:
        ports["http"] = [loop.listen("http", HealthyHTTP)]
        ports["tcp"] = [loop.listen("tcp", HealthyTCP)]
    ports["control"] = loop.listen("control", Control)
    print("ready " + json.dumps(ports), flush=True)
    loop.run()


class Server:
    """A child process running serve(ROLE); its ports and its stats."""

    def __init__(self, role, spec):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", role,
                                      json.dumps(spec)], stdout=subprocess.PIPE,
                                     preexec_fn=die_with_parent)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("ready "):
            self.close()
            raise RuntimeError(f"{role} server did not start")
        self.ports = json.loads(line[6:])

    def stats(self):
        try:
            with socket.create_connection(("127.0.0.1", self.ports["control"]), timeout=10) as s:
                data = b""
                while not data.endswith(b"\n"):
                    more = s.recv(65536)
                    if not more:
                        break
                    data += more
            return json.loads(data)
        except (OSError, ValueError):
            return None

    def close(self):
        self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()


# ---- the monitors ----------------------------------------------------------------

def q(text):
    return json.dumps(text)   # a JSON string is a YAML double-quoted string


def http_mon(url, **extra):
    def make(mid, port, i):
        return {"type": "http", "url": url.format(port=port, id=mid, i=i), **extra}
    return make


def tcp_mon(tls=False, send=True, **extra):
    def make(mid, port, i):
        m = {"type": "tcp", "host": "127.0.0.1", "port": port}
        if send:
            m.update({"send": f"hello {mid}\n", "expect": {"contains": f"ok {mid}"}})
        if tls:
            m["tls"] = True
        m.update(extra)
        return m
    return make


# (group, monitors, server kinds, monitor maker, {error kind its last check may
# have: text its message must contain})
HOSTILE_GROUPS = [
    ("hang-http", 120, ["hang"], http_mon("http://127.0.0.1:{port}/hang/{id}"),
     {"timeout": "waiting for the first byte"}),
    ("hang-tcp", 80, ["hang"], tcp_mon(), {"timeout": "waiting for the reply"}),
    ("hang-tcp-tls", 50, ["hang"], tcp_mon(tls=True, send=False),
     {"timeout": "during the TLS handshake"}),
    ("hang-https", 50, ["hang"], http_mon("https://127.0.0.1:{port}/hang/{id}"),
     {"timeout": "during the TLS handshake"}),
    ("slowloris-http", 150, ["slowloris"], http_mon("http://127.0.0.1:{port}/slow?m={id}"),
     {"timeout": "reading the headers"}),
    ("slowloris-tcp", 50, ["slowloris"], tcp_mon(), {"expect": 'got "H'}),
    ("reset-http", 100, ["reset", "reset_late"], http_mon("http://127.0.0.1:{port}/rst/{id}"),
     {"reset": "reset"}),
    ("reset-tcp", 50, ["reset", "reset_late"], tcp_mon(), {"reset": "reset"}),
    ("endless-chunked-64k", 50, ["chunked"],
     http_mon("http://127.0.0.1:{port}/endless/{id}", max_body_bytes="64KiB",
              expect={"body_contains": "never sent"}),
     {"body": 'body (first bytes read) does not contain "never sent"'}),
    ("endless-chunked-1m", 30, ["chunked"],
     http_mon("http://127.0.0.1:{port}/endless/{id}", expect={"body_contains": "never sent"}),
     {"body": 'body (first bytes read) does not contain "never sent"'}),
    ("endless-slow-body", 60, ["slowbody"], http_mon("http://127.0.0.1:{port}/trickle/{id}"),
     {"timeout": "reading the body"}),
    ("endless-500", 30, ["status500"], http_mon("http://127.0.0.1:{port}/e500/{id}"),
     {"status": "got 500"}),
    ("endless-tcp", 30, ["chunked"], tcp_mon(), {"expect": 'got "HTTP/1.1 200 OK'}),
    ("tls-selfsigned-https", 60, ["tls"], http_mon("https://127.0.0.1:{port}/tls/{id}"),
     {"tls": "self-signed certificate"}),
    ("tls-selfsigned-tcp", 30, ["tls"], tcp_mon(tls=True, send=False),
     {"tls": "self-signed certificate"}),
    ("tls-garbage-https", 40, ["garbage"], http_mon("https://127.0.0.1:{port}/g/{id}"),
     {"tls": "wrong version number"}),
    ("tls-garbage-tcp", 20, ["garbage"], tcp_mon(tls=True, send=False),
     {"tls": "wrong version number"}),
]


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(x)}" for k, x in v.items()) + "}"
    return q(str(v))


def build_monitors(hostile_ports, healthy_ports, n_healthy):
    """[(id, group, expected kinds, fields)] of every monitor."""
    out = []
    for group, n, kinds, make, expected in HOSTILE_GROUPS:
        ports = [p for k in kinds for p in hostile_ports[k]]
        for i in range(n):
            mid = f"{group}-{i:03d}"
            fields = make(mid, ports[i % len(ports)], i)
            fields.update({"interval": "2s" if i % 2 == 0 else "3s", "timeout": "1500ms"})
            out.append((mid, group, expected, fields))
    for i in range(n_healthy):
        mid = f"healthy-http-{i:02d}"
        out.append((mid, "healthy-http", None,
                    http_mon("http://127.0.0.1:{port}/ok/{id}?i={i}")(
                        mid, healthy_ports["http"][0], i)))
        mid = f"healthy-tcp-{i:02d}"
        out.append((mid, "healthy-tcp", None, tcp_mon()(mid, healthy_ports["tcp"][0], i)))
    return out


def config_yaml(api_port, state_dir, monitors):
    lines = [
        "agent:",
        "  region: hostile",
        f"  state_dir: {state_dir}",
        f"  listen: 127.0.0.1:{api_port}",
        "  log_level: warn",
        "policies:",
        "  default:",
        "    failure_threshold: 2",
        "    success_threshold: 1",
        f"defaults: {{interval: {HEALTHY_INTERVAL_S:g}s, timeout: 1s}}",
        "monitors:",
    ]
    for mid, _, _, fields in monitors:
        lines.append(f"  - {yaml_value({'id': mid, **fields})}")
    return "\n".join(lines) + "\n"


# ---- what the agent's process holds -------------------------------------------------

def proc_usage(pid):
    """(RSS in MB, open files) of process PID, or (None, None) once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024.0
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration, ValueError):
        return None, None


def sanitized(binary):
    """True when BINARY is built with AddressSanitizer (its RSS is not comparable)."""
    try:
        with open(binary, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def make_cert(tmp):
    cert, key = os.path.join(tmp, "selfsigned.pem"), os.path.join(tmp, "selfsigned.key")
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                          "-days", "30", "-subj", "/CN=hostile.invalid",
                          "-addext", "subjectAltName=IP:127.0.0.1"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("openssl req failed: " + out.stderr.strip()[:300])
    return cert, key


def by_monitor(samples, result):
    """{monitor: value} of tocsin_monitor_checks_total samples with RESULT."""
    out = {}
    for labels, v in samples.items():
        if f'result="{result}"' in labels:
            mid = labels.split('monitor="', 1)[1].split('"', 1)[0]
            out[mid] = out.get(mid, 0) + v
    return out


def quantile(buckets0, buckets1, q_):
    """The upper bound (s) of the bucket holding quantile Q_ of the checks
    counted between two cumulative histograms; None without checks."""
    delta = {le: v - buckets0.get(le, 0.0) for le, v in buckets1.items()}
    total = delta.get(float("inf"), 0.0)
    if total <= 0:
        return None
    for le in sorted(delta):
        if delta[le] >= q_ * total:
            return le
    return float("inf")


# ---- the run --------------------------------------------------------------------------

def run(tmp, window, n_healthy):
    hostile = healthy = agent = None
    n_hostile = sum(g[1] for g in HOSTILE_GROUPS)
    asan = sanitized(agentproc.TOCSIN)
    rss_limit = RSS_LIMIT_MB * (4 if asan else 1)
    try:
        cert, key = make_cert(tmp)
        hostile = Server("hostile", {"cert": cert, "key": key})
        healthy = Server("healthy", {})
        monitors = build_monitors(hostile.ports, healthy.ports, n_healthy)
        groups = {}
        for mid, group, _, _ in monitors:
            groups.setdefault(group, []).append(mid)
        healthy_ids = [m[0] for m in monitors if m[2] is None]
        expected = {m[0]: m[2] for m in monitors if m[2] is not None}
        api = free_port()
        agent = Agent(tmp, "hostile", "", api,
                      keep_env=("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"))
        log(f"{n_hostile} hostile monitors in {len(HOSTILE_GROUPS)} groups, {len(healthy_ids)} "
            f"healthy; hostile ports {hostile.ports}; agent API {api}"
            + ("; ASan build: RSS limit x4" if asan else ""))
        if not launch(agent, config_yaml(api, agent.state_dir, monitors)):
            return
        pid = agent.proc.pid
        t_start = time.monotonic()

        def settled():
            s = agent.status()
            return s and s["monitors"]["up"] == len(healthy_ids) and \
                s["monitors"]["down"] == n_hostile and s
        s = wait_for(settled, 40, 0.25)
        got = agent.status() or {"monitors": {}}
        if not check(bool(s), f"all {len(healthy_ids)} healthy UP and all {n_hostile} hostile DOWN "
                     f"({got['monitors']}) {time.monotonic() - t_start:.1f}s after start"):
            dump_unsettled(agent, expected)
            return

        # ---- the window ----
        text0 = agent.metrics_text() or ""
        counts0 = (healthy.stats() or {}).get("counts", {})
        t0 = time.monotonic()
        rss_max = fds_max = 0.0
        looks = 0
        not_up = {}
        while time.monotonic() < t0 + window:
            time.sleep(1.0)
            rss, fds = proc_usage(pid)
            if rss is None:
                break
            rss_max, fds_max = max(rss_max, rss), max(fds_max, fds)
            doc = agent.get_json("/api/v1/monitors")
            if doc is None:
                not_up["(no answer from /api/v1/monitors)"] = 1
                continue
            looks += 1
            for m in doc["monitors"]:
                if m["id"].startswith("healthy-") and (m["status"] != "UP"
                                                       or m["consecutive_failures"] != 0):
                    not_up[m["id"]] = f"{m['status']} {m['regions'][0].get('last')}"
        elapsed = time.monotonic() - t0
        text1 = agent.metrics_text() or ""
        counts1 = (healthy.stats() or {}).get("counts", {})
        alive = agent.proc.poll() is None
        check(alive, f"the agent is alive after {elapsed:.0f} s of hostile targets "
              f"(exit {agent.proc.returncode})")
        if not alive:
            return

        # ---- healthy: the agent's view and the server's ----
        check(looks >= window * 0.5 and not not_up,
              f"every healthy monitor UP with 0 consecutive failures at each of {looks} looks "
              f"over {elapsed:.0f} s" + (f"; not: {first(not_up.items())}" if not_up else ""))
        up0 = by_monitor(agent.samples("tocsin_monitor_checks_total", text0), "up")
        up1 = by_monitor(agent.samples("tocsin_monitor_checks_total", text1), "up")
        down1 = by_monitor(agent.samples("tocsin_monitor_checks_total", text1), "down")
        want = 0.8 * elapsed / HEALTHY_INTERVAL_S
        deltas = {m: up1.get(m, 0) - up0.get(m, 0) for m in healthy_ids}
        short = {m: d for m, d in deltas.items() if d < want}
        check(not short, f"every healthy monitor had >= {want:.1f} UP checks in the window "
              f"(min {min(deltas.values()):.0f}, max {max(deltas.values()):.0f})"
              + (f"; short: {first(short.items())}" if short else ""))
        failed = {m: down1.get(m, 0) for m in healthy_ids if down1.get(m, 0)}
        check(not failed, "no healthy monitor ever had a failed check"
              + (f"; failed: {first(failed.items())}" if failed else ""))

        def seen(mid):
            key = f"tcp:{mid}" if mid.startswith("healthy-tcp") else f"/ok/{mid}"
            return counts1.get(key, 0) - counts0.get(key, 0)
        served = {m: seen(m) for m in healthy_ids}
        short = {m: n for m, n in served.items() if n < want}
        check(not short, f"every healthy monitor's server saw >= {want:.1f} of its checks in the "
              f"window (min {min(served.values())}, max {max(served.values())})"
              + (f"; short: {first(short.items())}" if short else ""))

        # ---- hostile: DOWN with the right kind, never UP, still checked ----
        doc = agent.get_json("/api/v1/monitors") or {"monitors": []}
        wrong, kinds_seen = [], {}
        for m in doc["monitors"]:
            if m["id"] not in expected:
                continue
            last = (m["regions"] or [{}])[0].get("last") or {}
            kind, msg = last.get("error_kind"), last.get("error_message") or ""
            group = m["id"].rsplit("-", 1)[0]
            seen_kind = kinds_seen.setdefault(group, {}).setdefault(kind, [0, msg])
            seen_kind[0] += 1
            if m["status"] != "DOWN" or kind not in expected[m["id"]] \
                    or expected[m["id"]][kind] not in msg or len(msg.encode()) > 512:
                wrong.append(f"{m['id']}: {m['status']} {kind} {msg!r}")
        for group, ks in kinds_seen.items():
            log(f"  {group}: " + "; ".join(f"{k} x{n}: {msg}" for k, (n, msg) in ks.items()))
        check(not wrong and len(kinds_seen) == len(HOSTILE_GROUPS),
              f"every hostile monitor DOWN, its last check failed with the kind and message its "
              f"target calls for (<= 512 bytes)" + (f"; {len(wrong)} not: {first(wrong)}"
                                                   if wrong else ""))
        ups = {m: up1.get(m, 0) for m in expected if up1.get(m, 0)}
        check(not ups, "no hostile monitor ever had an UP check"
              + (f"; {len(ups)}: {first(ups.items())}" if ups else ""))
        down0 = by_monitor(agent.samples("tocsin_monitor_checks_total", text0), "down")
        intervals = {m: 2.0 if int(m.rsplit("-", 1)[1]) % 2 == 0 else 3.0 for m in expected}
        starved = {m: down1.get(m, 0) - down0.get(m, 0) for m in expected
                   if down1.get(m, 0) - down0.get(m, 0) < 0.5 * elapsed / intervals[m]}
        check(not starved, f"every hostile monitor still checked (>= 50% of window/interval)"
              + (f"; {len(starved)} not: {first(starved.items())}" if starved else ""))

        # ---- the agent's resources ----
        check(rss_max < rss_limit, f"agent RSS stayed < {rss_limit} MB (max {rss_max:.0f} MB)")
        fd_limit = len(monitors) + 200
        check(fds_max <= fd_limit, f"agent open files stayed <= {fd_limit} (monitors + 200; "
              f"max {fds_max:.0f})")
        served_by = (hostile.stats() or {"stats": {}})["stats"]
        held = {k: (v["max_open"], sum(g[1] for g in HOSTILE_GROUPS if k in g[2]))
                for k, v in served_by.items() if k in ("hang", "slowloris", "slowbody", "garbage")}
        check(all(most <= n for most, n in held.values()),
              "the servers that never close held at most one connection per monitor at any "
              "time (kind: most open / monitors: "
              + ", ".join(f"{k}: {most}/{n}" for k, (most, n) in held.items()) + ")")

        # ---- summary ----
        completed = (agent.metric("tocsin_checks_completed_total", text1) or 0) - \
            (agent.metric("tocsin_checks_completed_total", text0) or 0)
        b0 = agentproc.lateness_buckets(agent.samples("tocsin_check_lateness_seconds_bucket",
                                                      text0))
        b1 = agentproc.lateness_buckets(agent.samples("tocsin_check_lateness_seconds_bucket",
                                                      text1))
        p99 = quantile(b0, b1, 0.99)
        over1 = agentproc.lateness_over(
            {k: v - agent.samples("tocsin_check_lateness_seconds_bucket", text0).get(k, 0.0)
             for k, v in agent.samples("tocsin_check_lateness_seconds_bucket", text1).items()},
            1.0)
        st = hostile.stats() or {"stats": {}}
        tls = st["stats"].get("tls", {})
        check(not tls.get("handshake_ok"), f"no TLS handshake with the self-signed certificate "
              f"completed ({tls.get('handshake_failed', 0)} refused)")
        healthy_rate = sum(deltas.values()) / elapsed
        rss_end, fds_end = proc_usage(pid)
        t_stop = time.monotonic()
        code = agent.stop()
        check(code == 0, f"SIGTERM exit {code} ({time.monotonic() - t_stop:.1f} s, with hostile "
              f"checks in flight)")
        print(f"HOSTILE-RESULT window_s={elapsed:.1f} healthy_checks_per_s={healthy_rate:.1f} "
              f"(of {len(healthy_ids) / HEALTHY_INTERVAL_S:.0f} due) "
              f"min_healthy_checks={min(deltas.values()):.0f} all_checks_per_s="
              f"{completed / elapsed:.0f} lateness_p99_s<={p99} late_over_1s={over1:.0f} "
              f"rss_max_mb={rss_max:.0f} rss_end_mb={rss_end or 0:.0f} fds_max={fds_max:.0f} "
              f"fds_end={fds_end or 0} bytes_streamed_mb="
              f"{sum(v['bytes'] for v in st['stats'].values()) / 1e6:.0f}", flush=True)
    finally:
        if agent:
            agent.stop()
        for s in (hostile, healthy):
            if s:
                s.close()


def dump_unsettled(agent, expected):
    doc = agent.get_json("/api/v1/monitors") or {"monitors": []}
    odd = [f"{m['id']}: {m['status']} {(m['regions'] or [{}])[0].get('last')}"
           for m in doc["monitors"]
           if m["status"] != ("DOWN" if m["id"] in expected else "UP")]
    log(f"{len(odd)} monitors not where they should be: {first(odd, 5)}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], json.loads(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tocsin")
    ap.add_argument("source_dir")
    ap.add_argument("--window", type=float, default=15.0, help="seconds of the measured window")
    ap.add_argument("--healthy", type=int, default=50, help="healthy monitors of each type")
    ap.add_argument("--groups", help="only the hostile groups named (comma-separated prefixes)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.groups:
        HOSTILE_GROUPS[:] = [g for g in HOSTILE_GROUPS
                             if any(g[0].startswith(p) for p in args.groups.split(","))]
    agentproc.TOCSIN = os.path.abspath(args.tocsin)
    if shutil.which("openssl") is None:
        print("skipped: openssl not found", flush=True)
        return 77
    nofile = raise_nofile()
    tmp = tempfile.mkdtemp(prefix="tocsin-hostile.")
    log(f"work dir {tmp}; RLIMIT_NOFILE {nofile}")
    try:
        run(tmp, args.window, args.healthy)
    finally:
        if FAILURES or args.keep:
            log(f"kept {tmp} for inspection")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return agentproc.verdict("hostile")


if __name__ == "__main__":
    sys.exit(main())
