#!/usr/bin/env python3
"""bench/notify_wait.py: start a command as systemd would (NOTIFY_SOCKET), time
how long it takes to send READY=1, then read its memory.

    notify_wait.py SETTLE_SECONDS LOGFILE -- COMMAND [ARG...]

Prints one line:  ready_s=S rss_kb=K hwm_kb=K cpu_s=C
ready_s is from just before exec to the READY=1 datagram; rss_kb is VmRSS
SETTLE_SECONDS after READY=1; cpu_s is user+system CPU until then.  The
command is then stopped with SIGTERM.  Exit 1 when READY=1 never came.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    settle, logfile, cmd = float(sys.argv[1]), sys.argv[2], sys.argv[4:]
    tmp = tempfile.mkdtemp(prefix="tocsin-notify.")
    path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    with open(logfile, "ab") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        ready = None
        while ready is None and time.monotonic() - t0 < 300:
            try:
                data = sock.recv(4096)
            except socket.timeout:
                if proc.poll() is not None:
                    break
                continue
            if b"READY=1" in data.split(b"\n"):
                ready = time.monotonic() - t0
        if ready is None:
            proc.kill()
            proc.wait()
            print("ready_s=nan rss_kb=-1 hwm_kb=-1 cpu_s=nan")
            sys.exit(1)
        time.sleep(settle)
        rss, hwm = proc_status(proc.pid, "VmRSS"), proc_status(proc.pid, "VmHWM")
        cpu = proc_cpu_s(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    os.unlink(path)
    os.rmdir(tmp)
    print(f"ready_s={ready:.3f} rss_kb={rss} hwm_kb={hwm} cpu_s={cpu:.2f}")


if __name__ == "__main__":
    main()
