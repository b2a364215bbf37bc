#!/usr/bin/env python3
"""The agent as an SRE runs it: the real binary under a NOTIFY_SOCKET with
WATCHDOG_USEC, against a TCP target that answers, a port that refuses, an HTTP
target behind userinfo, and a webhook receiver that checks every signature
with its own HMAC code.  Asserts sd_notify READY/WATCHDOG/RELOADING/STOPPING,
/healthz, /metrics (promtool), /api/v1/monitors, /status (HTML), logfmt and
JSON logs, that no secret shows anywhere, SIGTERM exit 0, and that two agents
with shard 1/2 and 2/2 split the same monitors into disjoint, complete halves.

Usage: ops.py <tocsin-binary> <source-dir>.  Every wait is bounded."""

import hashlib
import hmac
import http.server
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TOCSIN, SRC = sys.argv[1], sys.argv[2]
SECRET = "whsec-ops-" + os.urandom(8).hex()
PASSWORD = "pw-ops-" + os.urandom(6).hex()
FAILURES = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        FAILURES.append(what)
    return ok


def wait_for(predicate, seconds, step=0.05):
    """Polls PREDICATE until it returns a true value or SECONDS pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(http.server.BaseHTTPRequestHandler):
    """Webhook receiver (POST, signature checked here) and HTTP target (GET)."""
    alerts = []
    bad_signatures = 0
    lock = threading.Lock()

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        self.send_response(200 if auth.startswith("Basic ") else 401)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        good = hmac.compare_digest(self.headers.get("X-StatusPageOne-Signature", ""), want)
        with Receiver.lock:
            if good:
                Receiver.alerts.append(json.loads(body))
            else:
                Receiver.bad_signatures += 1
        self.send_response(200 if good else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Notify:
    """The systemd side of sd_notify: a datagram socket collecting messages."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []
        self.stop = False
        self.thread = threading.Thread(target=self.collect, daemon=True)
        self.thread.start()

    def collect(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append(data)

    def count(self, line):
        return sum(1 for m in list(self.messages) if line in m.split("\n"))

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def get(port, path):
    """GET on the agent; (status, content type, body text)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()
    except OSError:
        return None, "", ""


def monitors(port):
    status, _, body = get(port, "/api/v1/monitors")
    if status != 200:
        return None
    return {m["id"]: m for m in json.loads(body)["monitors"]}


def low_open_files_limit():
    """preexec_fn: a soft limit of 256 open files under the hard one."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))


def under_wrapper():
    """TOCSIN is a script (CI's valgrind wrapper), not the binary itself."""
    with open(TOCSIN, "rb") as f:
        return f.read(2) == b"#!"


def log_skip(what):
    print("skip: " + what, flush=True)


def raised_open_files(log_path):
    """The agent's log says it raised the soft limit from 256 to the hard one."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    pattern = re.compile(r'msg="open files limit raised" from=256 to=(\d+)')
    with open(log_path) as f:
        for line in f:
            m = pattern.search(line)
            if m and 256 < int(m.group(1)) <= hard:
                return True
    return False


def start_agent(config, tmp, name, env_extra=None, preexec_fn=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(env_extra or {})
    err = open(os.path.join(tmp, name + ".log"), "w")
    proc = subprocess.Popen([TOCSIN, "run", "-c", config], stdout=err, stderr=err, env=env,
                            preexec_fn=preexec_fn)
    return proc, err


def stop_agent(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return None


def fnv1a64(text):
    h = 14695981039346656037
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def logfmt_ok(line):
    return re.match(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(debug|info|warn|error) '
                    r'msg=("([^"\\]|\\.)*"|\S+)( [a-z_]+=("([^"\\]|\\.)*"|\S*))*$', line)


def main_agent(tmp, target_port, receiver_port):
    api_port = free_port()
    refused_port = free_port()  # nothing listens there: connect is refused
    config = os.path.join(tmp, "ops.yaml")
    with open(config, "w") as f:
        f.write(f"""
agent:
  region: ops
  state_dir: {tmp}/state
  listen: 127.0.0.1:{api_port}
  log_level: info
webhooks:
  - name: ops
    url: http://127.0.0.1:{receiver_port}/hook
    format: statuspageone
    secret: {SECRET}
policies:
  default:
    failure_threshold: 2
    levels:
      - {{level: 1, after: 2, notify: [ops]}}
defaults:
  interval: 300ms
  timeout: 250ms
monitors:
  - {{id: up_tcp, name: "Up <TCP> & co", type: tcp, host: 127.0.0.1, port: {target_port}}}
  - {{id: down_tcp, name: Down TCP, type: tcp, host: 127.0.0.1, port: {refused_port}}}
  - id: up_http
    type: http
    url: http://ops:{PASSWORD}@127.0.0.1:{receiver_port}/health
""")
    os.makedirs(f"{tmp}/state")
    notify = Notify(os.path.join(tmp, "notify.sock"))
    proc, err = start_agent(config, tmp, "agent",
                            {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"},
                            low_open_files_limit)
    texts = []  # everything the agent shows; no secret may be in any of it
    try:
        check(wait_for(lambda: notify.count("READY=1") >= 1, 20), "sd_notify READY=1")
        if under_wrapper():
            log_skip("open files limit: the agent runs under a wrapper (valgrind shows it "
                     "soft = hard, nothing to raise)")
        else:
            check(raised_open_files(os.path.join(tmp, "agent.log")),
                  "open files: the soft limit of 256 raised to the hard one (logged)")
        settled = wait_for(lambda: (lambda m: m and m["up_tcp"]["status"] == "UP"
                                    and m["up_http"]["status"] == "UP"
                                    and m["down_tcp"]["status"] == "DOWN" and m)(monitors(api_port)),
                           30)
        check(settled is not None, "/api/v1/monitors: up_tcp and up_http UP, down_tcp DOWN")
        if settled:
            down = settled["down_tcp"]
            last = down["regions"][0]["last"]
            check(down["consecutive_failures"] >= 2 and down["since"] is not None
                  and down["type"] == "tcp" and last["status"] == "DOWN"
                  and last["error_kind"] == "refused",
                  "down_tcp: failures, since, last result refused " + json.dumps(last))
            check(PASSWORD not in settled["up_http"]["target"]
                  and settled["up_http"]["target"].startswith("http://"),
                  "up_http target shown without its password: " + settled["up_http"]["target"])
        check(wait_for(lambda: any(a.get("monitor", {}).get("id") == "down_tcp"
                                   or "down_tcp" in json.dumps(a) for a in Receiver.alerts), 20),
              "signed alert for down_tcp received and verified")
        check(Receiver.bad_signatures == 0, "no bad signatures at the receiver")
        check(wait_for(lambda: notify.count("WATCHDOG=1") >= 3, 10), "sd_notify WATCHDOG=1 pings")

        status, ctype, body = get(api_port, "/healthz")
        check(status == 200, f"/healthz 200 ({status} {body.strip()})")
        texts.append(body)
        status, ctype, metrics = get(api_port, "/metrics")
        texts.append(metrics)
        check(status == 200 and ctype.startswith("text/plain"), "/metrics answers text/plain")
        check(re.search(r'^tocsin_monitor_up\{monitor="down_tcp"[^}]*\} 0$', metrics, re.M)
              and re.search(r'^tocsin_monitor_up\{monitor="up_tcp"[^}]*\} 1$', metrics, re.M),
              "tocsin_monitor_up 0 for down_tcp, 1 for up_tcp")
        for name in ("tocsin_check_duration_seconds_bucket", "tocsin_monitor_checks_total",
                     "tocsin_build_info", "tocsin_webhook_attempts_total"):
            check(name in metrics, f"/metrics has {name}")
        promtool = shutil.which("promtool")
        if check(promtool is not None, "promtool installed (package prometheus)"):
            lint = subprocess.run([promtool, "check", "metrics"], input=metrics.encode(),
                                  capture_output=True, timeout=30)
            check(lint.returncode == 0, "promtool check metrics: "
                  + (lint.stdout + lint.stderr).decode().strip()[:500])

        status, ctype, page = get(api_port, "/status")
        texts.append(page)
        check(status == 200 and ctype.startswith("text/html") and "<!DOCTYPE html>" in page,
              "/status is an HTML page")
        check("Up &lt;TCP&gt; &amp; co" in page and "<TCP>" not in page, "/status escapes names")
        check(0 <= page.find("down_tcp") < page.find("up_tcp"), "/status lists DOWN first")
        status, ctype, summary = get(api_port, "/api/v1/status")
        texts.append(summary)
        check(status == 200 and ctype.startswith("application/json"), "/api/v1/status is JSON")
        status, _, listing = get(api_port, "/api/v1/monitors")
        texts.append(listing)

        ready_before = notify.count("READY=1")
        proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: notify.count("RELOADING=1") >= 1
                       and notify.count("READY=1") > ready_before, 10),
              "SIGHUP: RELOADING=1 then READY=1")
        code = stop_agent(proc)
        check(code == 0, f"SIGTERM: exit {code}")
        check(notify.count("STOPPING=1") >= 1, "sd_notify STOPPING=1")
    finally:
        stop_agent(proc, signal.SIGKILL)
        err.close()
        notify.close()

    with open(os.path.join(tmp, "agent.log")) as f:
        log = f.read()
    texts.append(log)
    texts.extend(notify.messages)
    texts.extend(json.dumps(a) for a in Receiver.alerts)  # bodies: the password must not be there
    lines = log.splitlines()
    bad = [line for line in lines if not logfmt_ok(line)]
    check(lines and not bad, f"{len(lines)} log lines, all logfmt" + (f"; not: {bad[:3]}" if bad else ""))
    check(re.search(r'msg="monitor status changed" monitor=down_tcp', log), "log: down_tcp transition")
    texts_all = "\n".join(texts)
    check(SECRET not in texts_all, "webhook secret in no log line, metric, API answer, page or notify")
    check(PASSWORD not in texts_all,
          "URL password in no log line, metric, API answer, page or webhook body")


def shard_agents(tmp, target_port):
    ids = [f"svc-{i:02d}" for i in range(24)]
    halves = {}
    for k in (1, 2):
        port = free_port()
        config = os.path.join(tmp, f"shard{k}.yaml")
        with open(config, "w") as f:
            f.write(f"agent: {{shard: {k}/2, listen: '127.0.0.1:{port}', "
                    f"state_dir: '{tmp}/shard{k}', log_format: json}}\n"
                    "defaults: {interval: 1h, timeout: 1s}\nmonitors:\n")
            for i in ids:
                f.write(f"  - {{id: {i}, type: tcp, host: 127.0.0.1, port: {target_port}}}\n")
        os.makedirs(f"{tmp}/shard{k}")
        out = subprocess.run([TOCSIN, "check-config", "-c", config], capture_output=True,
                             text=True, timeout=30)
        want = sum(1 for i in ids if fnv1a64(i) % 2 + 1 == k)
        check(out.returncode == 0 and f"ok ({want} of {len(ids)} monitors in shard {k}/2"
              in out.stdout, f"check-config shard {k}/2: {out.stdout.strip()}")
        proc, err = start_agent(config, tmp, f"shard{k}")
        try:
            seen = wait_for(lambda: monitors(port), 20)
            halves[k] = set(seen or {})
            check(halves[k] == {i for i in ids if fnv1a64(i) % 2 + 1 == k},
                  f"shard {k}/2 runs the ids whose FNV-1a 64 mod 2 is {k - 1}: {sorted(halves[k])}")
            check(stop_agent(proc) == 0, f"shard {k}/2 agent: SIGTERM exit 0")
        finally:
            stop_agent(proc, signal.SIGKILL)
            err.close()
        with open(os.path.join(tmp, f"shard{k}.log")) as f:
            lines = f.read().splitlines()
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                pass
        check(lines and len(parsed) == len(lines) and all("ts" in p and "msg" in p for p in parsed),
              f"shard {k}/2: {len(lines)} log lines, all JSON objects")
    check(halves.get(1, set()).isdisjoint(halves.get(2, set()))
          and halves.get(1, set()) | halves.get(2, set()) == set(ids)
          and halves.get(1) and halves.get(2), "shards 1/2 and 2/2: disjoint and complete")


def accept_and_close(listener):
    """The TCP target: accepts and closes, so its backlog never fills."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.close()


def main():
    tmp = tempfile.mkdtemp(prefix="tocsin-ops.")
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen(128)
    threading.Thread(target=accept_and_close, args=(target,), daemon=True).start()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        main_agent(tmp, target.getsockname()[1], receiver.server_address[1])
        shard_agents(tmp, target.getsockname()[1])
    finally:
        receiver.shutdown()
        target.close()
        if not FAILURES:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp} for inspection", flush=True)
    if FAILURES:
        print(f"{len(FAILURES)} failure(s)", flush=True)
        return 1
    print("all ops checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
