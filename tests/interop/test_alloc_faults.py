#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Allocation failure injection, against a hub built with RC_FAULT_INJECT
(RINGCAST_FAIL_ALLOC=N[,K] fails the N-th allocation on the serving paths,
then every K-th).

1. For N = 1, 2, ... until a run makes fewer than N allocations: a fresh hub
   (one worker) with only the N-th allocation failing runs a fixed script,
   one client after the other:
     echo client: small, 200 B, fragmented, 70 KB messages and a ping;
     room: a subscriber, and a publisher sending 5 numbered messages.
   Each client must either get everything right, or be failed cleanly:
   close 1011 (nothing wrong before it, nothing after it), or, when the
   failure hits its handshake, no 101 and EOF. At most one client is
   failed, never the others; ringcast_alloc_failures_total counts the
   failure; a new client is served afterwards; SIGTERM exits 0.
2. Every 7th allocation failing (from the 3rd), 12 echo clients at once,
   20 messages each: each one completes or is failed cleanly; the hub
   lives and exits 0.

usage: test_alloc_faults.py path/to/ringcast   (built with RC_FAULT_INJECT)
"""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CaseFailed, FrameReader, Hub, Suite,  # noqa: E402
                     check, check_eq, hub_binary, metrics, seq_of,
                     seq_payload, ws_close_code, ws_frame, ws_open)

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_N = 200


class Failed(Exception):
    """The client was failed cleanly by the server (1011 or no 101)."""


def frames_until(r, want_op, timeout=5.0):
    """Next frame of want_op; a close 1011 raises Failed (after checking
    only EOF follows); anything else fails the test."""
    f = r.next(timeout)
    check(f is not None, f"EOF while waiting for opcode {want_op}")
    if f[1] == OP_CLOSE:
        check_eq(ws_close_code(f[2]), 1011, "close code of a failed client")
        r.expect_eof()
        raise Failed()
    check_eq(f[1], want_op, "opcode")
    return f[2]


def open_or_fail(port, path):
    try:
        return ws_open(port, path)
    except (CaseFailed, ConnectionError, socket.timeout) as e:
        # The 101 itself could not be queued: the server ends the
        # connection without one (EOF or reset, never another status).
        raise Failed() from e


def echo_script(port):
    s, rest = open_or_fail(port, "/echo")
    with s:
        r = FrameReader(s, rest)
        for op, msg in ((OP_TEXT, b"hi"), (OP_BIN, os.urandom(200)),
                        (OP_BIN, os.urandom(70000))):
            s.sendall(ws_frame(op, msg))
            check_eq(frames_until(r, op), msg, f"echo of {len(msg)} bytes")
        s.sendall(ws_frame(OP_TEXT, b"frag", fin=False) +
                  ws_frame(OP_CONT, b"men", fin=False) +
                  ws_frame(OP_CONT, b"ted"))
        check_eq(frames_until(r, OP_TEXT), b"fragmented", "fragmented echo")
        s.sendall(ws_frame(OP_PING, b"p"))
        check_eq(frames_until(r, OP_PONG), b"p", "pong")
        s.sendall(ws_frame(OP_CLOSE, b"\x03\xe8"))
        f = r.next()
        check(f is not None and f[1] == OP_CLOSE, "close echoed")


def room_script(port):
    """Returns (subscriber outcome, publisher outcome)."""
    outcome = {}
    try:
        sub, srest = open_or_fail(port, "/ws/r")
    except Failed:
        return "failed", "skipped"
    with sub:
        rs = FrameReader(sub, srest)
        try:
            pub, prest = open_or_fail(port, "/ws/r")
        except Failed:
            return "unused", "failed"
        with pub:
            rp = FrameReader(pub, prest)
            sent = 0
            try:
                for i in range(5):
                    pub.sendall(ws_frame(OP_TEXT, seq_payload(i)))
                    sent += 1
                    check_eq(seq_of(frames_until(rp, OP_TEXT)), i,
                             "publisher's own copy")
                outcome["pub"] = "ok"
            except Failed:
                outcome["pub"] = "failed"
            # The subscriber: everything the publisher had confirmed, in
            # order; when the publisher was failed, at most the message
            # it was failed on is missing, and nothing else.
            got = []
            try:
                while len(got) < (5 if outcome["pub"] == "ok" else sent):
                    try:
                        got.append(seq_of(frames_until(
                            rs, OP_TEXT, 5.0 if outcome["pub"] == "ok"
                            else 1.0)))
                    except socket.timeout:
                        break
                outcome["sub"] = "ok"
            except Failed:
                outcome["sub"] = "failed"
            check_eq(got, list(range(len(got))), "subscriber's numbers")
            if outcome["sub"] == "ok":
                want = 5 if outcome["pub"] == "ok" else sent - 1
                check(len(got) >= want,
                      f"subscriber got {len(got)} of {want} messages")
    return outcome["sub"], outcome["pub"]


def run_script(port):
    """Outcomes of the three clients, in order: 'ok' or 'failed'."""
    try:
        echo_script(port)
        e = "ok"
    except Failed:
        e = "failed"
    sub, pub = room_script(port)
    return e, sub, pub


def fail_nth(binary):
    n = 1
    seen = set()
    while n <= MAX_N:
        os.environ["RINGCAST_FAIL_ALLOC"] = str(n)
        try:
            with Hub(binary, threads=1) as hub:
                outcomes = run_script(hub.port)
                failed = [o for o in outcomes if o == "failed"]
                check(len(failed) <= 1,
                      f"N={n}: {outcomes}: one failure cost two clients")
                # A new client is served in full afterwards (the injected
                # failure may fall on the first such one, not on two).
                try:
                    echo_script(hub.port)
                except Failed:
                    check(not failed, f"N={n}: a second client failed")
                    echo_script(hub.port)
                try:
                    m = metrics(hub.port)
                except Exception:  # noqa: BLE001 -- its response failed
                    m = metrics(hub.port)
                count = m.get("ringcast_alloc_failures_total")
                check(count in (0.0, 1.0), f"N={n}: {count} failures")
                if failed:
                    check_eq(count, 1.0, f"N={n}: a client failed, counter")
                hub.check_clean_exit()
        finally:
            del os.environ["RINGCAST_FAIL_ALLOC"]
        seen.add(outcomes)
        if count == 0.0:
            break           # the script makes fewer than n allocations
        n += 1
    check(n > 5, f"only {n - 1} allocations in the script?")
    check(n <= MAX_N, f"more than {MAX_N} allocations in the script")
    check(any("failed" in o for o in seen),
          "no allocation failure ever reached a client")
    print(f"  {n - 1} allocation points failed one at a time; outcomes "
          f"{sorted(seen)}")


def fail_every(binary):
    os.environ["RINGCAST_FAIL_ALLOC"] = "3,7"
    try:
        with Hub(binary, threads=1) as hub:
            results = []
            errors = []

            def client(i):
                try:
                    s, rest = open_or_fail(hub.port, "/echo")
                    with s:
                        r = FrameReader(s, rest)
                        for j in range(20):
                            msg = b"client %d message %d " % (i, j) * (j + 1)
                            s.sendall(ws_frame(OP_BIN, msg))
                            check_eq(frames_until(r, OP_BIN), msg, "echo")
                    results.append("ok")
                except Failed:
                    results.append("failed")
                except Exception as e:  # noqa: BLE001 -- reported below
                    errors.append(f"client {i}: {e!r}")

            threads = [threading.Thread(target=client, args=(i,))
                       for i in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            check(not errors, "; ".join(errors))
            check_eq(len(results), 12, "clients finished")
            check("failed" in results, "no client was failed by 1 in 7")
            hub.check_clean_exit()
    finally:
        del os.environ["RINGCAST_FAIL_ALLOC"]


def main():
    binary = hub_binary()
    suite = Suite()
    suite.case("the N-th allocation fails, for every N: one client closed "
               "with 1011 (or refused), the rest served", fail_nth, binary)
    suite.case("every 7th allocation fails, 12 clients at once: each "
               "completes or gets 1011; the hub lives", fail_every, binary)
    suite.finish()


if __name__ == "__main__":
    main()
