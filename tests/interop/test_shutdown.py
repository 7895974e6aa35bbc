#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Graceful shutdown under load: SIGTERM while a publisher is broadcasting.

What the hub does on SIGTERM (src/worker.c go_away, src/conn.c): each
worker stops accepting and queues close 1001 behind whatever output each
WebSocket already has queued; published messages reaching a worker after
that are not queued to its connections (pubsub.c deliver_one skips a
connection whose close frame is queued). Output then drains; a connection
whose close handshake is not done within --close-timeout is cut off (its
unsent output is dropped), and once every connection is gone the hub exits
0.

So: every reader gets a run of messages numbered 0, 1, 2, ... with no gap,
then close 1001, then EOF; readers on the same worker get exactly the same
run, also one that was far behind when the signal came (its queue drains
before the close frame); a member that reads nothing is cut off after
--close-timeout (it finds a prefix of the messages and EOF, no close
frame); and the hub exits 0 within --close-timeout plus a margin.

Usage: test_shutdown.py /path/to/ringcast
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402  (after the sys.path line)
    TIMEOUT, CaseFailed, FrameReader, Hub, SeqReader, Suite, check, check_eq,
    check_seqs, hub_binary, seq_payload, wait_until, ws_close_code, ws_frame,
    ws_open, ws_open_on_worker)

OP_TEXT, OP_CLOSE = 0x1, 0x8
KIB, MIB = 1 << 10, 1 << 20
ROOM = "/ws/shutdown"

MSG_SIZE = 1 * KIB
RATE = 4000             # messages/s from the publisher
BATCH = 40              # messages per write


class Publisher:
    """A room member that sends numbered messages at RATE until the hub
    closes it (it answers the close 1001) or stop() is called."""

    def __init__(self, port):
        self.lock = threading.Lock()
        opened = ws_open(port, ROOM)
        self.reader = SeqReader(port, ROOM, name="publisher", opened=opened,
                                lock=self.lock)
        self.sock = self.reader.sock
        self.sent = 0
        self.error = None
        self._halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.reader.start()
        self.thread.start()

    def stop(self):
        self._halt.set()

    def _run(self):
        start = time.monotonic()
        try:
            while not self._halt.is_set():
                due = start + (self.sent + BATCH) / RATE
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                data = b"".join(ws_frame(OP_TEXT, seq_payload(i, MSG_SIZE))
                                for i in range(self.sent, self.sent + BATCH))
                with self.lock:
                    if self.reader.close_code is not None:
                        return      # the hub said goodbye: send no more
                    self.sock.sendall(data)
                self.sent += BATCH
        except OSError as e:
            self.error = e      # the hub may be gone: noted, not a failure

    def join(self, timeout):
        self.thread.join(timeout)
        self.reader.join(timeout)
        check(not self.thread.is_alive() and not self.reader.is_alive(),
              "publisher threads did not end")
        self.sock.close()


def read_after_exit(sock):
    """What a member that never read finds once the hub is gone: (seqs,
    close code or None, how it ended)."""
    reader = FrameReader(sock)
    seqs, code = [], None
    while True:
        try:
            f = reader.next(timeout=TIMEOUT)
        except socket.timeout:
            return seqs, code, "timeout"
        except CaseFailed as e:
            # Cut off while a frame was on the wire: its tail was dropped
            # with the rest of the queue. Fine for a connection cut off.
            if "EOF inside" not in str(e):
                raise
            return seqs, code, "eof mid-frame"
        if f is None:
            return seqs, code, "reset" if reader.reset else "eof"
        fin, op, payload = f
        if op == OP_CLOSE:
            code = ws_close_code(payload)
        else:
            check(code is None, "a message after the close frame")
            seqs.append(int(payload[:10]))


def sigterm_mid_broadcast(binary, close_timeout=3, run_s=2.5):
    workers = 2
    # --msg-rate 0: the publisher sends RATE (4000) messages a second on
    # one connection, past the default 1000.
    with Hub(binary, "--no-echo-self", "--close-timeout", str(close_timeout),
             "--max-backpressure", str(64 * MIB), "--msg-rate", "0",
             threads=workers) as hub:
        port = hub.port
        # On each worker: two fast readers, one that lags (reads a frame a
        # millisecond while 4 arrive) and one that never reads. Small
        # receive windows keep the backlog in the hub, not in the kernel.
        members = {}
        for w in range(workers):
            fast = [SeqReader(port, ROOM, name=f"fast {i} on worker {w}",
                              opened=ws_open_on_worker(port, ROOM, w))
                    for i in range(2)]
            lag = SeqReader(port, ROOM, name=f"laggard on worker {w}",
                            lag=0.001, opened=ws_open_on_worker(
                                port, ROOM, w, rcvbuf=8 * KIB))
            mute, _ = ws_open_on_worker(port, ROOM, w, rcvbuf=4 * KIB)
            members[w] = (fast, lag, mute)
        readers = [r for fast, lag, _ in members.values()
                   for r in fast + [lag]]
        for r in readers:
            r.start()
        pub = Publisher(port)
        pub.start()
        try:
            time.sleep(run_s)
            sent = pub.sent
            for w, (fast, lag, _) in members.items():
                for r in fast:
                    check(len(r.seqs) >= sent // 2,
                          f"{r.name} has only {len(r.seqs)} of {sent} "
                          "messages before SIGTERM")
                check(len(lag.seqs) < sent - 2000,
                      f"{lag.name} is not behind: {len(lag.seqs)} of {sent}")
            start = time.monotonic()
            hub.terminate()
            for r in readers:
                r.hurry()
            rc = hub.wait(close_timeout + 10)
            took = time.monotonic() - start
            for r in readers:
                r.join(TIMEOUT)
            pub.join(TIMEOUT)
        finally:
            pub.stop()
            for r in readers:
                r.stop()
        check_eq(rc, 0, f"hub exit code (stderr: {hub.stderr_tail(300)})")
        # The mute members hold the hub until --close-timeout cuts them.
        check(close_timeout - 0.5 <= took <= close_timeout + 3.0,
              f"hub exited {took:.1f}s after SIGTERM; expected about "
              f"--close-timeout {close_timeout}s (the mute members are cut "
              "off then)")
        check("SIGTERM" in hub.stderr_tail(), "no SIGTERM line on stderr")
        check_eq(pub.reader.close_code, 1001, "publisher's close code")
        summary = []
        for w, (fast, lag, mute) in members.items():
            counts = set()
            for r in fast + [lag]:
                check(r.error is None, f"{r.name}: {r.error}")
                check_eq(r.close_code, 1001, f"{r.name} close code")
                check(r.eof, f"{r.name}: no EOF after the close handshake")
                check_seqs(r.seqs, None, r.name)
                counts.add(len(r.seqs))
            # Same worker, same messages: the laggard's queue drained.
            check_eq(len(counts), 1, f"message counts on worker {w} (fast "
                     f"{[len(r.seqs) for r in fast]}, laggard "
                     f"{len(lag.seqs)})")
            n = counts.pop()
            check(n >= sent // 2, f"worker {w}: {n} messages of {sent}")
            seqs, code, how = read_after_exit(mute)
            mute.close()
            check_seqs(seqs, None, f"mute member on worker {w}")
            check(code is None and how in ("eof", "reset", "eof mid-frame"),
                  f"mute member on worker {w}: close {code}, ended by {how} "
                  f"after {len(seqs)} messages; expected to be cut off")
            check(len(seqs) < n, f"mute member on worker {w} got {len(seqs)}"
                                 f" messages, its worker sent {n}")
            summary.append(f"worker {w}: {n} messages, mute got {len(seqs)}"
                           f" ({how})")
        print(f"  published {pub.sent}, {sent} before SIGTERM; "
              f"{'; '.join(summary)}; exit after {took:.2f}s")


def sigterm_one_worker(binary, readers_n=5, run_s=1.0):
    """One worker, everyone reads and answers: every reader gets the very
    same messages, and the hub does not wait for --close-timeout."""
    # --msg-rate 0: the publisher's 4000 a second, as above.
    with Hub(binary, "--no-echo-self", "--close-timeout", "5",
             "--max-backpressure", str(64 * MIB), "--msg-rate", "0",
             threads=1) as hub:
        port = hub.port
        readers = [SeqReader(port, ROOM, name=f"reader {i}")
                   for i in range(readers_n)]
        for r in readers:
            r.start()
        pub = Publisher(port)
        pub.start()
        try:
            wait_until(lambda: all(len(r.seqs) > 500 for r in readers),
                       "500 messages to every reader", timeout=run_s + 10)
            start = time.monotonic()
            hub.terminate()
            rc = hub.wait(10)
            took = time.monotonic() - start
            for r in readers:
                r.join(TIMEOUT)
            pub.join(TIMEOUT)
        finally:
            pub.stop()
            for r in readers:
                r.stop()
        check_eq(rc, 0, "hub exit code")
        check(took < 2.0, f"hub took {took:.1f}s to exit though every peer "
                          "answered its close (--close-timeout 5)")
        check_eq(pub.reader.close_code, 1001, "publisher's close code")
        for r in readers:
            check(r.error is None, f"{r.name}: {r.error}")
            check_eq(r.close_code, 1001, f"{r.name} close code")
            check(r.eof, f"{r.name}: no EOF after the close handshake")
            check_seqs(r.seqs, None, r.name)
        counts = [len(r.seqs) for r in readers]
        check_eq(len(set(counts)), 1, f"message counts {counts}")
        print(f"  {counts[0]} messages to each of {readers_n}, "
              f"{pub.sent} published; exit after {took:.2f}s")


def main():
    binary = hub_binary()
    suite = Suite()
    suite.case("SIGTERM mid-broadcast, 2 workers: close 1001 after a gapless "
               "run, laggards drained, mute members cut off, exit 0",
               sigterm_mid_broadcast, binary)
    suite.case("SIGTERM mid-broadcast, 1 worker: every reader the same run, "
               "exit 0 without waiting for --close-timeout",
               sigterm_one_worker, binary)
    suite.finish()


if __name__ == "__main__":
    main()
