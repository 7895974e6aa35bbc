#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Faults of the ring itself, against a hub built with RC_FAULT_INJECT
(runtime/fault.h: RINGCAST_FAIL_<POINT>=N[,K[,MAX]] fails the N-th call at
that point, then every K-th, at most MAX times; RINGCAST_TEST_RING_ENTRIES
shrinks the submission queue so that it fills in everyday traffic).

1. Submits that fail now and then (-EBUSY) with an 8-entry queue: 40 echo
   clients at once are all served; the retries are counted.
2. Submits that always fail: the worker gives up after its bounded retries,
   the hub stops by itself and exits 1 with a message (it used to spin at
   full CPU for ever).
3. Every MSG_RING bell fails: messages published on one worker reach the
   other at once anyway (the eventfd takes over), not at its next timer.
4. The first accepts fail: the hub backs off and then serves; accepts that
   always fail cost almost no CPU (they used to be re-armed in a spin).

usage: test_ring_faults.py path/to/ringcast   (built with RC_FAULT_INJECT)
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FrameReader, Hub, Suite, check, check_eq,  # noqa: E402
                     hub_binary, metrics, ws_frame, ws_open,
                     ws_open_on_worker)

OP_TEXT, OP_CLOSE = 1, 8
FAULT_VARS = ("RINGCAST_FAIL_SUBMIT", "RINGCAST_FAIL_BELL",
              "RINGCAST_FAIL_ACCEPT", "RINGCAST_TEST_RING_ENTRIES")


class Env:
    """Set fault variables for the hubs started inside the block."""

    def __init__(self, **env):
        self.env = env

    def __enter__(self):
        for k, v in self.env.items():
            os.environ[k] = v

    def __exit__(self, *exc):
        for k in FAULT_VARS:
            os.environ.pop(k, None)


def cpu_s(pid):
    """utime + stime of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def echo_client(port, n, errors):
    try:
        s, rest = ws_open(port, "/echo")
        with s:
            r = FrameReader(s, rest)
            for i in range(n):
                msg = b"m%d-%d" % (threading.get_ident() % 1000, i)
                s.sendall(ws_frame(OP_TEXT, msg))
                f = r.next(10)
                check(f is not None and f[2] == msg, f"echo {i}")
            s.sendall(ws_frame(OP_CLOSE, b"\x03\xe8"))
            f = r.next(10)
            check(f is not None and f[1] == OP_CLOSE, "close echoed")
    except Exception as e:  # noqa: BLE001 -- collected, reported below
        errors.append(e)


def submits_fail_sometimes(binary):
    with Env(RINGCAST_TEST_RING_ENTRIES="8", RINGCAST_FAIL_SUBMIT="2,3"):
        hub = Hub(binary, threads=1)
    with hub:
        errors = []
        threads = [threading.Thread(target=echo_client,
                                    args=(hub.port, 20, errors))
                   for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        check(not errors, f"{len(errors)} clients failed: {errors[:2]}")
        m = metrics(hub.port)
        retries = m.get("ringcast_ring_retries_total", 0)
        print(f"  ring retries: {retries:.0f}", flush=True)
        check(retries > 0, "no retry counted")
        check_eq(hub.stop(), 0, "exit code after SIGTERM")


def submits_always_fail(binary):
    with Env(RINGCAST_TEST_RING_ENTRIES="8", RINGCAST_FAIL_SUBMIT="1,1"):
        hub = Hub(binary, threads=1)
    with hub:
        t0 = time.monotonic()
        rc = hub.wait(timeout=20)
        took = time.monotonic() - t0
        print(f"  hub gave up after {took:.1f}s, exit {rc}", flush=True)
        check(rc is not None, "still running after 20 s (spinning?)")
        check_eq(rc, 1, "exit code")
        check("stopped on an error" in hub.stderr_tail(),
              f"no message: {hub.stderr_tail()}")
        hub.stopping = True


def bells_fail(binary):
    """Publisher on worker 0, subscriber on worker 1: every message from
    worker 0's MSG_RING bell fails; each must still arrive promptly."""
    with Env(RINGCAST_FAIL_BELL="1,1"):
        hub = Hub(binary, threads=2)
    with hub:
        sub, rest = ws_open_on_worker(hub.port, "/ws/bells", 1)
        pub, prest = ws_open_on_worker(hub.port, "/ws/bells", 0)
        with sub, pub:
            rs, rp = FrameReader(sub, rest), FrameReader(pub, prest)
            worst = 0.0
            for i in range(10):
                time.sleep(0.15)    # both workers asleep in the kernel
                msg = b"bell %d" % i
                t0 = time.monotonic()
                pub.sendall(ws_frame(OP_TEXT, msg))
                f = rs.next(5)
                took = time.monotonic() - t0
                check(f is not None and f[2] == msg, f"message {i}")
                check_eq(rp.next(5)[2], msg, "the publisher's own copy")
                worst = max(worst, took)
            print(f"  worst delivery across workers: {worst * 1000:.0f} ms",
                  flush=True)
            # A missed bell waits for the other worker's next timer tick
            # (up to 1 s); the eventfd answers in well under that.
            check(worst < 0.5, f"a delivery took {worst * 1000:.0f} ms")
        check_eq(hub.stop(), 0, "exit code after SIGTERM")


def accepts_fail_first(binary):
    with Env(RINGCAST_FAIL_ACCEPT="1,1,6"):
        hub = Hub(binary, threads=1)
    with hub:
        errors = []
        echo_client(hub.port, 3, errors)
        check(not errors, f"client failed: {errors}")
        m = metrics(hub.port)
        check_eq(m.get("ringcast_accept_errors_total"), 6.0,
                 "accept errors counted")
        check_eq(hub.stop(), 0, "exit code after SIGTERM")


def accepts_always_fail(binary):
    with Env(RINGCAST_FAIL_ACCEPT="1,1"):
        hub = Hub(binary, threads=2)
    with hub:
        time.sleep(0.5)
        c0, t0 = cpu_s(hub.proc.pid), time.monotonic()
        time.sleep(2)
        used = cpu_s(hub.proc.pid) - c0
        wall = time.monotonic() - t0
        print(f"  CPU while every accept fails: {used:.2f}s in {wall:.1f}s",
              flush=True)
        check(used < 0.3 * wall, f"{used:.2f}s of CPU in {wall:.1f}s: "
              "the accept is re-armed without a back-off")
        # Nothing can connect; the hub still stops cleanly.
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect(("127.0.0.1", hub.port))
        except OSError:
            pass
        s.close()
        check_eq(hub.stop(), 0, "exit code after SIGTERM")


def main():
    binary = hub_binary()
    suite = Suite()
    suite.case("submits failing now and then: 40 clients served, "
               "retries counted", submits_fail_sometimes, binary)
    suite.case("submits always failing: the hub stops itself, exit 1",
               submits_always_fail, binary)
    suite.case("every MSG_RING bell failing: deliveries across workers "
               "stay prompt", bells_fail, binary)
    suite.case("the first 6 accepts failing: backed off, then served",
               accepts_fail_first, binary)
    suite.case("accepts always failing: no spin", accepts_always_fail,
               binary)
    suite.finish()


if __name__ == "__main__":
    main()
