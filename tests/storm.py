#!/usr/bin/env python3
"""Alert storms against the real binary, on loopback only (DESIGN §5).

1. storm + kill -9: 2,000 TCP monitors (interval 1s, failure_threshold 1) of a
   target this script controls, all UP, then the target goes away so all of
   them go DOWN at once.  One statuspageone webhook with a secret, rate
   limited so the storm is still being delivered when the agent gets
   `kill -9`; restarted on the same state_dir it must deliver the rest.
   The receiver checks every request with its own HMAC code.  Asserted: every
   monitor's incident arrives, each under exactly one X-Request-ID (a
   redelivery across the crash carries the same id and the same body), every
   request is signed, UUIDv4 ids, compact JSON, the right payload; then the
   target returns and every monitor's recovery arrives once, after its
   incident; the outbox ends with every row delivered and exactly the ids the
   receiver saw.
2. receiver down, then back: 40 monitors go DOWN while the webhook's port
   refuses (retry_backoff 100ms), come back UP, then the receiver listens but
   answers 503 + Retry-After: 1 to its first requests, then 2xx: everything is
   delivered, per monitor the incident before the recovery, no dead letters.
3. measured, never asserted: 10,000 monitors go DOWN; the time from the
   target's failure until 10,000 incident rows are in the SQLite outbox
   (read-only reads of state_dir/tocsin.db).

Every wait is bounded; nothing fails on slowness, only on what arrived.
Usage: storm.py <tocsin-binary> <source-dir> [--phases storm,retry,queue]
[--queue-monitors N[,N...]] [--rounds N] [--queue-wait S] [--keep]"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import random
import re
import select
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import agentproc  # noqa: E402
from agentproc import Agent, FAILURES, check, die_with_parent, first, free_port, launch, \
    lateness_over, log, wait_for  # noqa: E402

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# ---- the probed target -------------------------------------------------------

TARGET_CODE = r"""
import ctypes, signal, socket, sys
try:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
except OSError:
    pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4096)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class Target:
    """A TCP port that accepts and closes (UP) or refuses (DOWN), switched at once
    for every monitor.  Listeners are separate processes (SO_REUSEPORT) so that
    thousands of connects a second do not wait on this script's GIL; killing
    them makes the port refuse.  A bound, never listening holder socket keeps
    the port ours while it refuses (no other bind, and Linux never picks a
    bound port as a source port, so no TCP self-connect can make a check UP),
    and the port is chosen below the ephemeral range when there is room."""

    def __init__(self, listeners=1):
        self.listeners = listeners
        self.procs = []
        self.holder = socket.socket()
        self.holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        low = ephemeral_low()
        candidates = random.sample(range(10000, low), min(64, low - 10000)) if low > 10100 else []
        for port in candidates + [0]:
            try:
                self.holder.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
        self.port = self.holder.getsockname()[1]

    def up(self):
        for _ in range(self.listeners):
            p = subprocess.Popen([sys.executable, "-c", TARGET_CODE, str(self.port)],
                                 stdout=subprocess.PIPE, preexec_fn=die_with_parent)
            self.procs.append(p)
            ready, _, _ = select.select([p.stdout], [], [], 20)
            if not ready or p.stdout.readline().strip() != b"ready":
                raise RuntimeError("target listener did not start")

    def down(self):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait(10)
            p.stdout.close()
        self.procs = []

    def close(self):
        self.down()
        self.holder.close()


# ---- the webhook receiver ----------------------------------------------------

class Receiver:
    """statuspageone receiver: verifies every request with its own HMAC code and
    records it (before answering, so a request the agent was killed waiting on
    is on record).  Until open() its port is bound but not listening: refused."""

    def __init__(self, secret, listen=True):
        self.secret = secret.encode()
        self.lock = threading.Lock()
        self.records = []        # one dict per complete request, in arrival order
        self.problems = []       # what was wrong with a request, one string each
        self.truncated = 0       # bodies cut off (the agent was killed mid-send)
        self.delay = 0.0         # seconds before answering
        self.fail_next = 0       # answer this many with 503 + Retry-After: 1
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                outer.handle(self)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.server_bind()
        self.port = self.server.server_address[1]
        self.thread = None
        if listen:
            self.open()

    def open(self):
        self.server.server_activate()
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        if self.thread:
            self.server.shutdown()
            self.thread.join(10)
        self.server.server_close()

    def handle(self, h):
        try:
            length = int(h.headers.get("Content-Length", "0"))
            body = h.rfile.read(length)
        except (OSError, ValueError):
            body, length = b"", 1
        if len(body) < length:
            with self.lock:
                self.truncated += 1
            h.close_connection = True
            return
        want = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(h.headers.get("X-StatusPageOne-Signature", ""), want)
        rid = h.headers.get("X-Request-ID", "")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        problems = []
        if not signed:
            problems.append("bad signature")
        if not UUID4.match(rid):
            problems.append(f"X-Request-ID not a UUIDv4: {rid!r}")
        if h.headers.get("Content-Type") != "application/json":
            problems.append(f"Content-Type {h.headers.get('Content-Type')!r}")
        if not h.headers.get("User-Agent", "").startswith("tocsin/"):
            problems.append(f"User-Agent {h.headers.get('User-Agent')!r}")
        if doc is None or json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() != body:
            problems.append("body is not compact JSON equal to its re-serialisation")
        doc = doc if isinstance(doc, dict) else {}
        with self.lock:
            if problems:
                code = 401
            elif self.fail_next > 0:
                self.fail_next -= 1
                code = 503
            else:
                code = 200
            self.records.append({
                "seq": len(self.records), "t": time.monotonic(), "rid": rid, "body": body,
                "code": code, "signed": signed,
                "monitor": str((doc.get("monitor") or {}).get("id")),
                "type": str((doc.get("context") or {}).get("notification_type")),
                "doc": doc})
            self.problems.extend(f"{rid}: {p}" for p in problems)
        if self.delay:
            time.sleep(self.delay)
        try:
            h.send_response(code)
            if code == 503:
                h.send_header("Retry-After", "1")
            h.send_header("Content-Length", "0")
            h.end_headers()
        except OSError:
            h.close_connection = True  # the agent is gone (kill -9)

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def monitors_with(self, kind, code=200):
        """Distinct monitors with a request of notification_type KIND answered CODE."""
        with self.lock:
            return {r["monitor"] for r in self.records if r["type"] == kind and r["code"] == code}


# ---- the agent ---------------------------------------------------------------

def outbox_rows(db, query="SELECT request_id, monitor, event, state FROM outbox", args=()):
    """Rows of the agent's outbox, read-only (WAL: no lock the agent waits on)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def config_yaml(name, api_port, state_dir, hook_port, secret, webhook, defaults, monitors, port,
                region="storm"):
    lines = [
        "agent:",
        f"  region: {region}",
        f"  state_dir: {state_dir}",
        f"  listen: 127.0.0.1:{api_port}",
        "  log_level: info",
        "webhooks:",
        f"  - name: {name}",
        f"    url: http://127.0.0.1:{hook_port}/hook",
        "    format: statuspageone",
        "    signing: default",
        f"    secret: {secret}",
        "    events: [incident, recovery]",
    ]
    lines += [f"    {k}: {v}" for k, v in webhook.items()]
    lines += [
        "policies:",
        "  default:",
        "    failure_threshold: 1",
        "    success_threshold: 1",
        f"    levels: [{{level: 1, after: 1, notify: [{name}]}}]",
        f"defaults: {{{', '.join(f'{k}: {v}' for k, v in defaults.items())}}}",
        "monitors:",
    ]
    lines += [f"  - {{id: {m}, type: tcp, host: 127.0.0.1, port: {port}}}" for m in monitors]
    return "\n".join(lines) + "\n"


# ---- verification shared by the phases ----------------------------------------

def verify_alerts(label, records, ids, kind, port, region, rids_in_outbox=None):
    """Each monitor of IDS has requests of KIND under exactly one request id, one
    of them answered 200; a repeated id repeats the same body; the payload is
    the alert of a TCP monitor of PORT.  Returns {monitor: [records]}."""
    by_monitor = {m: [] for m in ids}
    for r in records:
        if r["type"] == kind and r["monitor"] in by_monitor:
            by_monitor[r["monitor"]].append(r)
    missing = [m for m, rs in by_monitor.items() if not any(r["code"] == 200 for r in rs)]
    check(not missing, f"{label}: every one of {len(ids)} monitors has its {kind} delivered"
          + (f"; {len(missing)} missing: {first(missing)}" if missing else ""))
    multi = {m: sorted({r["rid"] for r in rs}) for m, rs in by_monitor.items()
             if len({r["rid"] for r in rs}) > 1}
    check(not multi, f"{label}: each {kind} under exactly one X-Request-ID"
          + (f"; {len(multi)} monitors with several: {first(multi.items())}" if multi else ""))
    bodies = {}
    changed = set()
    for rs in by_monitor.values():
        for r in rs:
            if bodies.setdefault(r["rid"], r["body"]) != r["body"]:
                changed.add(r["rid"])
    check(not changed, f"{label}: a repeated request id repeats the exact body"
          + (f"; not: {first(changed)}" if changed else ""))
    want_status = "DOWN" if kind == "incident" else "UP"
    want_prev = "UP" if kind == "incident" else "DOWN"
    wrong = []
    for m, rs in by_monitor.items():
        for r in rs:
            d = r["doc"]
            mon, res, ctx = d.get("monitor", {}), d.get("check_result", {}), d.get("context", {})
            got = (d.get("event_type"), mon.get("url"), mon.get("status"), res.get("status"),
                   res.get("region"), ctx.get("previous_status"), ctx.get("notification_level"),
                   ("error_message" in res) == (kind == "incident"))
            want = ("monitor_alert", f"tcp://127.0.0.1:{port}", want_status, want_status,
                    region, want_prev, 1, True)
            if got != want:
                wrong.append(f"{m}: {got} != {want}")
    check(not wrong, f"{label}: every {kind} payload is right (status {want_status}, previous "
          f"{want_prev}, level 1, tcp url, region)" + (f"; {len(wrong)} not: {first(wrong, 2)}"
                                                       if wrong else ""))
    if rids_in_outbox is not None:
        got = {r["rid"] for rs in by_monitor.values() for r in rs}
        check(got <= rids_in_outbox, f"{label}: every {kind} request id received is an outbox row")
    return by_monitor


def verify_common(label, rx):
    check(not rx.problems, f"{label}: every request signed (own HMAC-SHA256), UUIDv4 "
          f"X-Request-ID, application/json, tocsin/ User-Agent, compact JSON"
          + (f"; {len(rx.problems)} not: {first(rx.problems)}" if rx.problems else ""))
    owners = {}
    shared = set()
    for r in rx.snapshot():
        key = (r["monitor"], r["type"])
        if owners.setdefault(r["rid"], key) != key:
            shared.add(r["rid"])
    check(not shared, f"{label}: no request id names two alerts"
          + (f"; shared: {first(shared)}" if shared else ""))


def verify_order(label, incidents, recoveries):
    """Per monitor: every incident request arrived before every recovery request."""
    bad = []
    for m, rs in recoveries.items():
        inc = incidents.get(m, [])
        if rs and inc and max(r["seq"] for r in inc) > min(r["seq"] for r in rs):
            bad.append(m)
    check(not bad, f"{label}: per monitor, the incident arrived before its recovery"
          + (f"; not for {len(bad)}: {first(bad)}" if bad else ""))


# ---- 1. storm + kill -9 ------------------------------------------------------

def phase_storm(tmp, n=2000, kill_at=400):
    log(f"== storm: {n} monitors DOWN at once, kill -9 after {kill_at} incidents delivered")
    secret = "storm-" + os.urandom(12).hex()
    rx = Receiver(secret)
    rx.delay = 0.03            # a slow receiver; the rate limit keeps the storm going
    target = Target(listeners=1)
    ids = [f"storm-{i:04d}" for i in range(n)]
    api = free_port()
    name = "storm"
    agent = Agent(tmp, name, "", api)
    text = config_yaml("sp1", api, agent.state_dir, rx.port, secret,
                       {"rate_limit": "250/s", "retries": 10, "retry_backoff": "250ms",
                        "timeout": "10s", "connect_timeout": "2s", "max_age": "1h"},
                       {"interval": "1s", "timeout": "900ms"}, ids, target.port)
    try:
        if not launch(agent, text, target):
            return
        up = wait_for(lambda: agent.all_up(n), 60, 0.25)
        if not check(up, f"storm: all {n} monitors UP"):
            return
        check(not rx.snapshot(), "storm: no alert for UNKNOWN -> UP")
        # A monitor that flapped while starting (a busy host) had an incident of
        # its own: let it be delivered, and judge only what came after.
        wait_for(lambda: agent.outbox_idle(), 30, 0.1)
        before = len(rx.snapshot())
        if before:
            log(f"storm: {before} alerts of start-up flaps, left out of what follows")
        t_fail = time.monotonic()
        target.down()
        wait_for(lambda: len(rx.monitors_with("incident")) >= kill_at, 60, 0.01)
        agent.kill9()
        t_kill = time.monotonic()
        at_kill = len(rx.monitors_with("incident"))
        rows = outbox_rows(agent.db, "SELECT event, state, count(*) FROM outbox GROUP BY 1, 2")
        log(f"kill -9 {t_kill - t_fail:.2f}s after the target failed: receiver had {at_kill} "
            f"monitors' incidents ({len(rx.snapshot())} requests); outbox (event, state, rows): "
            f"{rows}")
        check(kill_at <= at_kill < n, f"storm: killed mid-storm ({at_kill} of {n} delivered)")

        agent.start()
        done = wait_for(lambda: len(rx.monitors_with("incident")) == n and agent.outbox_idle(),
                        90, 0.1)
        t_done = time.monotonic()
        log(f"after restart: {len(rx.monitors_with('incident'))} of {n} incidents delivered "
            f"{t_done - t_kill:.1f}s after the kill")
        check(done, f"storm: all {n} incidents delivered after restart, outbox idle")
        records = rx.snapshot()[before:]
        incidents = verify_alerts("storm", records, ids, "incident", target.port, "storm")
        total = sum(len(rs) for rs in incidents.values())
        again = total - len({r["rid"] for rs in incidents.values() for r in rs})
        log(f"storm: {total} incident requests for {n} incidents: {again} redelivered under the "
            f"same id across the crash; {rx.truncated} cut off by the kill")

        target.up()
        done = wait_for(lambda: len(rx.monitors_with("recovery")) == n and agent.outbox_idle(),
                        90, 0.1)
        check(done, f"storm: all {n} recoveries delivered")
        time.sleep(1.5)        # anything after the last recovery would be a duplicate
        records = rx.snapshot()[before:]
        incidents = verify_alerts("storm", records, ids, "incident", target.port, "storm")
        recoveries = verify_alerts("storm", records, ids, "recovery", target.port, "storm")
        verify_order("storm", incidents, recoveries)
        verify_common("storm", rx)
        others = [r for r in records if r["type"] not in ("incident", "recovery")
                  or r["monitor"] not in incidents]
        check(not others, f"storm: no other requests ({first(others)})")
        code = agent.stop()
        check(code == 0, f"storm: SIGTERM exit {code}")
        rows = outbox_rows(agent.db)
        undelivered = [r for r in rows if r[3] != 1]
        check(not undelivered, f"storm: all {len(rows)} outbox rows delivered (state 1)"
              + (f"; not: {first(undelivered)}" if undelivered else ""))
        stored = {(r[0], r[1], r[2]) for r in rows}
        seen = {(r["rid"], r["monitor"], r["type"]) for r in rx.snapshot()}
        check(stored == seen and len(rows) == len(stored),
              f"storm: the outbox holds exactly the {len(seen)} (request id, monitor, event) the "
              f"receiver saw ({len(rows)} rows, {len(stored - seen)} never received, "
              f"{len(seen - stored)} not stored)")
        errors = agent.log_lines("error")
        check(not errors, f"storm: no error log lines ({first(errors, 2)})")
    finally:
        agent.stop()
        rx.close()
        target.close()


# ---- 2. receiver down for a while, then back ---------------------------------

def phase_retry(tmp, n=40, refusals=3, unavailable=15):
    log(f"== retry: {n} monitors DOWN then UP while the receiver refuses, then 503 x {unavailable}")
    secret = "retry-" + os.urandom(12).hex()
    rx = Receiver(secret, listen=False)
    target = Target(listeners=1)
    ids = [f"retry-{i:02d}" for i in range(n)]
    api = free_port()
    agent = Agent(tmp, "retry", "", api)
    text = config_yaml("sp1", api, agent.state_dir, rx.port, secret,
                       {"rate_limit": "100/s", "retries": 40, "retry_backoff": "100ms",
                        "timeout": "5s", "connect_timeout": "1s", "max_age": "1h"},
                       {"interval": "500ms", "timeout": "400ms"}, ids, target.port, "retry")
    try:
        if not launch(agent, text, target):
            return
        if not check(wait_for(lambda: agent.all_up(n), 30, 0.2), f"retry: all {n} UP"):
            return
        target.down()
        retried = wait_for(lambda: (agent.metric("tocsin_delivery_retries_total") or 0)
                           >= n * refusals, 30, 0.1)
        check(retried, f"retry: every incident refused and rescheduled (>= {n * refusals} retries)")
        target.up()
        check(wait_for(lambda: agent.all_up(n), 30, 0.2), "retry: all UP again, recoveries queued")
        queued = agent.metric("tocsin_deliveries_queued_total")
        check(queued == 2 * n, f"retry: {queued} deliveries queued (an incident and a recovery each)")
        rx.fail_next = unavailable
        rx.open()
        t_open = time.monotonic()
        done = wait_for(lambda: len(rx.monitors_with("incident")) == n
                        and len(rx.monitors_with("recovery")) == n and agent.outbox_idle(), 60, 0.1)
        log(f"retry: delivered {time.monotonic() - t_open:.1f}s after the receiver listened")
        check(done, f"retry: all {n} incidents and recoveries delivered once the receiver is back")
        time.sleep(1.0)
        records = rx.snapshot()
        incidents = verify_alerts("retry", records, ids, "incident", target.port, "retry")
        recoveries = verify_alerts("retry", records, ids, "recovery", target.port, "retry")
        verify_order("retry", incidents, recoveries)
        verify_common("retry", rx)
        failed = {r["rid"] for r in records if r["code"] == 503}
        retried_ok = {r["rid"] for r in records if r["code"] == 200} & failed
        check(len(failed) == unavailable and retried_ok == failed,
              f"retry: each of the {len(failed)} requests answered 503 was sent again under its "
              f"id and delivered")
        dead = agent.metric("tocsin_deliveries_dead_total")
        retries = agent.metric("tocsin_delivery_retries_total")
        check(dead == 0, f"retry: no dead letters ({dead}); {retries:.0f} retries in all")
        code = agent.stop()
        check(code == 0, f"retry: SIGTERM exit {code}")
        rows = outbox_rows(agent.db)
        check(len(rows) == 2 * n and all(r[3] == 1 for r in rows),
              f"retry: {len(rows)} outbox rows, all delivered")
    finally:
        agent.stop()
        rx.close()
        target.close()


# ---- 3. how fast 10,000 alerts are durably queued (measured) -----------------

def phase_queue(tmp, n=10000, round_no=1, wait_s=45, interval_ms=1000):
    log(f"== queue: {n} monitors DOWN at once, interval {interval_ms} ms, "
        f"outbox rows counted in SQLite (measured only)")
    secret = "queue-" + os.urandom(12).hex()
    rx = Receiver(secret, listen=False)       # refuses: nothing leaves the outbox
    target = Target(listeners=2)
    ids = [f"q-{i:05d}" for i in range(n)]
    api = free_port()
    agent = Agent(tmp, f"queue{n}-{interval_ms}ms-{round_no}", "", api)
    text = config_yaml("sp1", api, agent.state_dir, rx.port, secret,
                       {"rate_limit": "1/h", "retries": 5, "retry_backoff": "1h"},
                       {"interval": f"{interval_ms}ms", "timeout": f"{interval_ms * 9 // 10}ms"},
                       ids, target.port, "queue")
    result = None
    try:
        if not launch(agent, text, target):
            return None
        up = wait_for(lambda: agent.all_up(n), 60, 0.25)
        s = agent.status() or {"monitors": {"up": 0}}
        n_up = s["monitors"]["up"]
        if not up:
            log(f"queue: only {n_up} of {n} monitors UP (a busy host); measuring those")
        if n_up == 0:
            return None
        late0 = agent.samples("tocsin_check_lateness_seconds_bucket")
        skipped0 = agent.metric("tocsin_checks_skipped_total") or 0
        checks0 = agent.metric("tocsin_checks_completed_total") or 0
        wall0_ms = int(time.time() * 1000)
        t0 = time.monotonic()
        target.down()
        t_first = None
        count = 0
        con = sqlite3.connect(f"file:{agent.db}?mode=ro", uri=True, timeout=5)
        try:
            # Incidents decided after the failure (a start-up flap's are older).
            query = ("SELECT count(DISTINCT monitor), count(*), min(created_ms), max(created_ms)"
                     " FROM outbox WHERE event = 'incident' AND created_ms >= ?")
            while time.monotonic() < t0 + wait_s:
                count = con.execute(query, (wall0_ms,)).fetchone()[0]
                if count and t_first is None:
                    t_first = time.monotonic()
                if count >= n_up:
                    break
                time.sleep(0.005)
            t_all = time.monotonic()
            distinct, rows, lo, hi = con.execute(query, (wall0_ms,)).fetchone()
        finally:
            con.close()
        late = agent.samples("tocsin_check_lateness_seconds_bucket")
        late_delta = {k: v - late0.get(k, 0.0) for k, v in late.items()}
        skipped = (agent.metric("tocsin_checks_skipped_total") or 0) - skipped0
        checks = (agent.metric("tocsin_checks_completed_total") or 0) - checks0
        waiting = agent.metric("tocsin_deliveries_waiting")
        if count < n_up:
            log(f"queue: {count:,} of {n_up:,} alerts durably queued after {wait_s} s "
                f"(alerts created over {(hi or 0) - (lo or 0)} ms so far)")
            return None
        result = {
            "n": count,
            "interval_ms": interval_ms,
            "all_ms": (t_all - t0) * 1000,
            "first_ms": (t_first - t0) * 1000,
            "created_span_ms": hi - lo,
            "commit_lag_ms": wall0_ms + (t_all - t0) * 1000 - hi,
            "late_1s": lateness_over(late_delta, 1.0),
            "checks": checks,
            "skipped": skipped,
        }
        log(f"{count:,} alerts durably queued in {result['all_ms']:.0f} ms "
            f"(target failed -> {count:,} incident rows in tocsin.db; first row after "
            f"{result['first_ms']:.0f} ms; alerts created over {result['created_span_ms']} ms; "
            f"last row visible {result['commit_lag_ms']:.0f} ms after the last alert was created; "
            f"meanwhile {checks:.0f} checks completed, {result['late_1s']:.0f} started > 1 s late, "
            f"{skipped:.0f} skipped; tocsin_deliveries_waiting {waiting:.0f})")
        code = agent.stop()
        check(code == 0, f"queue: SIGTERM exit {code} with {count:,} deliveries waiting")
        check(distinct == rows == count, f"queue: one incident row per monitor ({distinct} "
              f"monitors, {rows} rows)")
    finally:
        agent.stop()
        rx.close()
        target.close()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tocsin")
    ap.add_argument("source_dir")
    ap.add_argument("--phases", default="storm,retry,queue")
    ap.add_argument("--storm-monitors", type=int, default=2000)
    ap.add_argument("--queue-monitors", default="10000",
                    help="monitors of the queue measurement; a comma-separated list runs each")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of the queue measurement")
    ap.add_argument("--queue-wait", type=float, default=45,
                    help="seconds the queue measurement waits for the rows at most")
    ap.add_argument("--queue-interval", default="1000",
                    help="check interval of the queue measurement in ms; a comma-separated list runs each")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    agentproc.TOCSIN = os.path.abspath(args.tocsin)
    phases = args.phases.split(",")
    tmp = tempfile.mkdtemp(prefix="tocsin-storm.")
    log(f"work dir {tmp}")
    results = []
    try:
        if "storm" in phases:
            phase_storm(tmp, args.storm_monitors, max(1, args.storm_monitors // 5))
        if "retry" in phases:
            phase_retry(tmp)
        if "queue" in phases:
            for interval_ms in [int(x) for x in args.queue_interval.split(",")]:
                for n in [int(x) for x in args.queue_monitors.split(",")]:
                    for r in range(args.rounds):
                        res = phase_queue(tmp, n, r + 1, args.queue_wait, interval_ms)
                        if res:
                            results.append(res)
    finally:
        if FAILURES or args.keep:
            log(f"kept {tmp} for inspection")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for n, interval_ms in sorted({(r["n"], r["interval_ms"]) for r in results}):
        mine = [r for r in results if r["n"] == n and r["interval_ms"] == interval_ms]
        all_ms = sorted(r["all_ms"] for r in mine)
        def col(key, fmt="{:.0f}"):
            return ",".join(fmt.format(r[key]) for r in mine)
        print(f"STORM-RESULT monitors={n} interval_ms={interval_ms} rounds={len(mine)} queued_ms={col('all_ms')} "
              f"median_queued_ms={all_ms[len(all_ms) // 2]:.0f} "
              f"created_span_ms={col('created_span_ms')} commit_lag_ms={col('commit_lag_ms')} "
              f"late_over_1s={col('late_1s')} checks={col('checks')} skipped={col('skipped')}",
              flush=True)
    return agentproc.verdict("storm")


if __name__ == "__main__":
    sys.exit(main())
