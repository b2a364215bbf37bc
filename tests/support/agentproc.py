"""What the Python suites that drive the real agent share (tests/storm.py,
tests/hostile.py): logging with the time since start, check() that records
failures, bounded waits, children that die with this script, and Agent, the
agent process with its config, state_dir, log and HTTP API.

Set agentproc.TOCSIN to the binary before starting an Agent."""

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

FAILURES = []
T0 = time.monotonic()
TOCSIN = ""


def log(text):
    print(f"[{time.monotonic() - T0:6.1f}s] {text}", flush=True)


def check(ok, what):
    log(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        FAILURES.append(what)
    return ok


def wait_for(predicate, seconds, step=0.05):
    """Polls PREDICATE until it returns a true value or SECONDS pass."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def verdict(suite):
    """Logs the run time and the failures; the exit code (0 or 1)."""
    log(f"total {time.monotonic() - T0:.1f}s")
    if FAILURES:
        print(f"{len(FAILURES)} failure(s):", flush=True)
        for f in FAILURES:
            print("  " + f, flush=True)
        return 1
    print(f"all {suite} checks passed", flush=True)
    return 0


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when this script dies (no orphans)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first(items, n=3):
    return "; ".join(str(i) for i in list(items)[:n])


class Agent:
    """The agent NAME in TMP: its config file, state_dir, log and API on API_PORT.
    KEEP_ENV names environment variables passed on (only PATH otherwise)."""

    def __init__(self, tmp, name, yaml_text, api_port, keep_env=()):
        self.tmp, self.name, self.api_port = tmp, name, api_port
        self.config = os.path.join(tmp, name + ".yaml")
        self.state_dir = os.path.join(tmp, name + "-state")
        self.db = os.path.join(self.state_dir, "tocsin.db")
        self.log_path = os.path.join(tmp, name + ".log")
        self.keep_env = keep_env
        self.proc = None
        self.log = None
        with open(self.config, "w") as f:
            f.write(yaml_text)

    def check_config(self):
        out = subprocess.run([TOCSIN, "check-config", "-c", self.config], capture_output=True,
                             text=True, timeout=60)
        return check(out.returncode == 0, f"{self.name}: check-config exit {out.returncode}: "
                     + (out.stdout + out.stderr).strip()[:300])

    def start(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update({k: os.environ[k] for k in self.keep_env if k in os.environ})
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([TOCSIN, "run", "-c", self.config], stdout=self.log,
                                     stderr=self.log, preexec_fn=die_with_parent, env=env)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)
        self.log.close()

    def stop(self):
        """SIGTERM; the exit code, or None when it had to be killed."""
        if self.proc is None:
            return None
        code = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        self.log.close()
        return code

    def get(self, path, timeout=10):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}{path}",
                                        timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    def get_json(self, path):
        """The JSON document at PATH, or None without a 200 answer."""
        code, body = self.get(path)
        try:
            return json.loads(body) if code == 200 else None
        except ValueError:
            return None

    def status(self):
        return self.get_json("/api/v1/status")

    def metrics_text(self):
        """The /metrics page, or None without an answer."""
        code, text = self.get("/metrics")
        return text if code == 200 else None

    def metric(self, name, text=None):
        """The sum of every sample of metric NAME, or None without an answer."""
        text = self.metrics_text() if text is None else text
        return None if text is None else sum(self.samples(name, text).values())

    def samples(self, name, text=None):
        """{labels: value} of every sample of metric NAME ({} without an answer),
        from TEXT (a /metrics page already read) or a fresh /metrics."""
        text = self.metrics_text() if text is None else text
        out = {}
        for line in (text or "").splitlines():
            m = re.match(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", line)
            if m:
                out[m.group(1) or ""] = float(m.group(2))
        return out

    def all_up(self, n):
        s = self.status()
        return s and s["monitors"]["up"] == n and s

    def outbox_idle(self):
        s = self.status()
        return s and s["outbox"]["waiting"] == 0 and s["outbox"]["in_flight"] == 0 and s

    def log_lines(self, level):
        try:
            with open(self.log_path) as f:
                return [l for l in f if f"level={level} " in l]
        except OSError:
            return []


def launch(agent, text, *targets):
    """Writes AGENT's config TEXT, brings TARGETS up, validates and starts the agent."""
    with open(agent.config, "w") as f:
        f.write(text)
    for target in targets:
        target.up()
    if not agent.check_config():
        return False
    agent.start()
    return True


def lateness_buckets(samples):
    """{upper bound in seconds: cumulative count} of a *_bucket sample set."""
    return {float(re.search(r'le="([^"]+)"', k).group(1).replace("+Inf", "inf")): v
            for k, v in samples.items() if "le=" in k}


def lateness_over(samples, seconds):
    """Checks of a tocsin_check_lateness_seconds_bucket/_count sample set that
    started more than SECONDS late."""
    buckets = lateness_buckets(samples)
    within = max((v for le, v in buckets.items() if le <= seconds), default=0.0)
    return buckets.get(float("inf"), 0.0) - within
