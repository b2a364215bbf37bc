#!/usr/bin/env python3
"""Alert latency: from the agent's decision to the webhook request on the wire.

    python3 bench/alert_latency.py TOCSIN_BINARY [--monitors N] [--rounds R]

N TCP monitors (interval 1s, failure_threshold 1) check a loopback port this
script serves; each round it stops serving (the checks are refused, so the
monitors go DOWN one by one over a second, as their phases come), waits for
every incident, serves again and waits for every recovery.  A receiver in
this script timestamps each request when its headers have arrived; the
decision time is the `ts` of the agent's `alert` log line for that monitor
and event (JSON logs, millisecond resolution, same clock).  It prints the
latency percentiles (ms) of all alerts; the outbox commit (synchronous=FULL)
is inside them, as an alert is sent only once committed.  Loopback only.
Not a test: bench/run's table is the place for pass/fail, this prints numbers.
"""
import argparse
import datetime
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SECRET = "bench-latency-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """A listening socket that accepts and closes, switched on and off."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.thread = None

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(1024)
        sock = self.sock

        def loop():
            while True:
                try:
                    c, _ = sock.accept()
                except OSError:
                    return
                c.close()

        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


arrivals = {}  # (monitor, status) -> [arrival times]
arrivals_lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        t = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            doc = json.loads(body)
            key = (doc["monitor"]["id"], doc["monitor"]["status"])
        except (ValueError, KeyError, TypeError):
            key = None
        if key:
            with arrivals_lock:
                arrivals.setdefault(key, []).append(t)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


class ReceiverServer(http.server.ThreadingHTTPServer):
    # The default backlog of 5 drops SYNs when the sender opens its 16
    # connections at once, and each retransmit costs a second.
    request_queue_size = 1024
    daemon_threads = True


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def decisions(log_path):
    """(monitor, DOWN|UP) -> [decision times] from the `alert` log lines."""
    out = {}
    with open(log_path) as f:
        for line in f:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("msg") != "alert":
                continue
            status = {"incident": "DOWN", "recovery": "UP"}.get(doc.get("event"))
            if status:
                out.setdefault((doc["monitor"], status), []).append(parse_ts(doc["ts"]))
    return out


def wait_for(pred, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def count(status):
    with arrivals_lock:
        return sum(len(v) for k, v in arrivals.items() if k[1] == status)


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tocsin")
    ap.add_argument("--monitors", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = args.monitors
    work = tempfile.mkdtemp(prefix="tocsin-latency.")
    target = Target(free_port())
    target.start()
    rx = ReceiverServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=rx.serve_forever, daemon=True).start()
    cfg = os.path.join(work, "latency.yaml")
    with open(cfg, "w") as f:
        f.write(f"""agent:
  region: bench
  state_dir: {work}/state
  log_level: info
  log_format: json
webhooks:
  - name: rx
    url: http://127.0.0.1:{rx.server_address[1]}/hook
    secret: {SECRET}
    rate_limit: 100000/s
policies:
  default:
    failure_threshold: 1
defaults: {{interval: 1s, timeout: 500ms}}
monitors:
""")
        for i in range(n):
            f.write(f"  - {{id: m{i}, type: tcp, host: 127.0.0.1, port: {target.port}}}\n")
    log_path = os.path.join(work, "agent.log")
    with open(log_path, "w") as log:
        agent = subprocess.Popen([args.tocsin, "run", "-c", cfg], stdout=log, stderr=log)
    ok = True
    try:
        time.sleep(2.5)  # every monitor checked UP at least once
        for r in range(args.rounds):
            target.stop()
            if not wait_for(lambda: count("DOWN") >= n * (r + 1), 30):
                print(f"round {r + 1}: only {count('DOWN')} incidents", file=sys.stderr)
                ok = False
                break
            target.start()
            if not wait_for(lambda: count("UP") >= n * (r + 1), 30):
                print(f"round {r + 1}: only {count('UP')} recoveries", file=sys.stderr)
                ok = False
                break
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
        rx.shutdown()
    decided = decisions(log_path)
    lat = []
    for key, times in decided.items():
        got = arrivals.get(key, [])
        for d, a in zip(sorted(times), sorted(got)):
            lat.append((a - d) * 1000)
    lat.sort()
    print(f"alert latency, decision -> request on the wire: {len(lat)} alerts "
          f"({n} monitors x {args.rounds} rounds x DOWN+UP, ~{n}/s while they flip)")
    print(f"  p50 {pct(lat, 50):.1f} ms  p90 {pct(lat, 90):.1f} ms  p99 {pct(lat, 99):.1f} ms  "
          f"max {lat[-1] if lat else float('nan'):.1f} ms  (log ts has 1 ms resolution)")
    print(f"  work dir {work}")
    return 0 if ok and lat else 1


if __name__ == "__main__":
    sys.exit(main())
