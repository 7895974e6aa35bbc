#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The receive pool running dry (ENOBUFS from the provided-buffer ring) is
back-pressure, never data loss: a hub with a tiny pool (2 buffers of 256
bytes per worker) serves 24 clients that all send at once, messages of 1 B
to 20 KB split into many reads; every echo must come back byte for byte
and in order, and ringcast_recv_waits_total must show the pool did run dry.

usage: test_recv_pool.py path/to/ringcast
"""
import os
import random
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FrameReader, Hub, Suite, check, check_eq,  # noqa: E402
                     hub_binary, metrics, ws_frame, ws_open)

CLIENTS, MESSAGES, WINDOW = 24, 40, 8


def tiny_pool(binary):
    with Hub(binary, "--recv-buffers", "2", "--recv-buffer-size", "256",
             threads=2) as hub:
        errors = []

        def client(i):
            rnd = random.Random(i)
            try:
                s, rest = ws_open(hub.port)
                with s:
                    r = FrameReader(s, rest)
                    msgs = [rnd.randbytes(rnd.choice((1, 100, 3000, 20000)))
                            for _ in range(MESSAGES)]
                    # WINDOW messages in flight: many reads per turn.
                    for j, m in enumerate(msgs):
                        s.sendall(ws_frame(2, m))
                        if j >= WINDOW - 1:
                            f = r.next()
                            check(f is not None, "EOF")
                            check_eq(f[2], msgs[j - WINDOW + 1],
                                     f"echo {j - WINDOW + 1}")
                    for j in range(len(msgs) - WINDOW + 1, len(msgs)):
                        f = r.next()
                        check(f is not None, "EOF")
                        check_eq(f[2], msgs[j], f"echo {j}")
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(f"client {i}: {e}")

        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        check(not errors, "; ".join(errors[:3]))
        m = metrics(hub.port)
        check(m.get("ringcast_recv_waits_total", 0) > 0,
              "the pool never ran dry: the test proves nothing")
        check_eq(m.get("ringcast_protocol_errors_total"), 0.0,
                 "protocol errors")
        print(f"  recv waits: {m['ringcast_recv_waits_total']:.0f}")
        hub.check_clean_exit()


def main():
    binary = hub_binary()
    suite = Suite()
    suite.case(f"2 x 256 B receive buffers, {CLIENTS} clients sending at "
               "once: every byte echoed, the waits counted", tiny_pool,
               binary)
    suite.finish()


if __name__ == "__main__":
    main()
