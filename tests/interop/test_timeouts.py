#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Timeouts of the hub, with raw sockets and real clocks (each case waits a
few seconds; the hub runs with timeouts of 1-2 s):

- a head dribbled one byte per second is cut off after --handshake-timeout;
- a silent WebSocket is pinged, and closed with 1001 "idle timeout" if it
  stays silent; one that answers pings, or sends, or reads a stream of
  output, stays open;
- a peer that never answers our close frame is cut off after
  --close-timeout;
- the ringcast_timeouts_total and ringcast_pings_sent_total counters move.

usage: test_timeouts.py path/to/ringcast
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FrameReader, Hub, Suite, check, check_eq,  # noqa: E402
                     hub_binary, metrics, ws_close_code, ws_frame, ws_open,
                     ws_upgrade_request)

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def dribbled_head(binary):
    """One header byte per second: closed after --handshake-timeout 2
    (the clock starts at accept), never served."""
    with Hub(binary, "--handshake-timeout", "2") as hub:
        s = socket.create_connection(("127.0.0.1", hub.port), timeout=5)
        start = time.monotonic()
        closed_after = None
        try:
            for b in ws_upgrade_request()[:10]:
                s.sendall(bytes([b]))
                s.settimeout(1.0)
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    continue
                check(not data, f"a dribbled head was answered: {data[:40]!r}")
                closed_after = time.monotonic() - start
                break
        except (ConnectionResetError, BrokenPipeError):
            closed_after = time.monotonic() - start
        finally:
            s.close()
        check(closed_after is not None, "a 1 byte/s head was never cut off")
        check(1.5 <= closed_after <= 3.5,
              f"cut off after {closed_after:.1f}s, want about 2s")
        check_eq(metrics(hub.port).get("ringcast_timeouts_total"), 1.0,
                 "ringcast_timeouts_total")
        hub.check_clean_exit()


def silent_peer_pinged_then_closed(binary):
    """--idle-timeout 2: a WebSocket that sends nothing gets a ping after
    1-2 s, and (not answering) close 1001 "idle timeout" 1 s later."""
    with Hub(binary, "--idle-timeout", "2") as hub:
        s, rest = ws_open(hub.port)
        start = time.monotonic()
        r = FrameReader(s, rest)
        f = r.next(timeout=4)
        t_ping = time.monotonic() - start
        check(f is not None, "EOF instead of a ping")
        check_eq(f[1], OP_PING, "first frame to a silent peer")
        check(0.9 <= t_ping <= 2.6, f"ping after {t_ping:.1f}s, want 1-2s")
        f = r.next(timeout=4)
        t_close = time.monotonic() - start
        check(f is not None, "EOF instead of a close frame")
        check_eq(f[1], OP_CLOSE, "frame after the unanswered ping")
        check_eq(ws_close_code(f[2]), 1001, "close code")
        check_eq(f[2][2:], b"idle timeout", "close reason")
        check(1.9 <= t_close <= 3.6, f"closed after {t_close:.1f}s, want 2-3s")
        s.sendall(ws_frame(OP_CLOSE, f[2][:2]))
        r.expect_eof()
        s.close()
        m = metrics(hub.port)
        check_eq(m.get("ringcast_pings_sent_total"), 1.0, "pings sent")
        check_eq(m.get("ringcast_timeouts_total"), 1.0, "timeouts")
        hub.check_clean_exit()


def live_peers_stay(binary):
    """--idle-timeout 2, for 6 s: a peer that answers every ping with a
    pong, one that sends a message every 0.5 s (never pinged), and a room
    reader that only reads and answers pings all stay open."""
    with Hub(binary, "--idle-timeout", "2") as hub:
        ponger, rest = ws_open(hub.port)
        talker, trest = ws_open(hub.port)
        reader, rrest = ws_open(hub.port, "/ws/t")
        writer, _ = ws_open(hub.port, "/ws/t")
        pings = []
        stop = time.monotonic() + 6
        errors = []

        def answer_pings():
            try:
                r = FrameReader(ponger, rest)
                while time.monotonic() < stop:
                    try:
                        f = r.next(timeout=max(0.1, stop - time.monotonic()))
                    except socket.timeout:
                        break
                    if f is None:
                        errors.append("ponger: EOF")
                        return
                    if f[1] == OP_CLOSE:
                        errors.append(f"ponger closed {ws_close_code(f[2])}")
                        return
                    if f[1] == OP_PING:
                        pings.append(time.monotonic())
                        ponger.sendall(ws_frame(OP_PONG, f[2]))
            except Exception as e:  # reported by the main thread
                errors.append(f"ponger: {e!r}")

        t = threading.Thread(target=answer_pings)
        t.start()
        rt, rr = FrameReader(talker, trest), FrameReader(reader, rrest)
        n = 0
        while time.monotonic() < stop:
            talker.sendall(ws_frame(OP_TEXT, b"still here"))
            f = rt.next()
            check(f is not None and f[1] == OP_TEXT,
                  f"talker got {f!r} instead of its echo (a talker is "
                  "never pinged)")
            writer.sendall(ws_frame(OP_TEXT, b"to the reader %d" % n))
            n += 1
            while True:
                f = rr.next()
                check(f is not None, "reader: EOF")
                check(f[1] != OP_CLOSE, "the reader was closed")
                if f[1] == OP_PING:
                    reader.sendall(ws_frame(OP_PONG, f[2]))
                if f[1] == OP_TEXT and f[2] == b"to the reader %d" % (n - 1):
                    break
            time.sleep(0.5)
        t.join()
        check(not errors, "; ".join(errors))
        check(len(pings) >= 2, f"ponger saw {len(pings)} pings in 6 s, "
              "want >= 2")
        check_eq(metrics(hub.port).get("ringcast_timeouts_total"), 0.0,
                 "timeouts with live peers")
        for s in (ponger, talker, reader, writer):
            s.close()
        hub.check_clean_exit()


def close_unanswered(binary):
    """The server closes (a message over --max-message: 1009; its side is
    shut after the frame, so EOF follows at once) and the peer never
    sends its close frame: the connection is released after
    --close-timeout 1, counted as a timeout."""
    with Hub(binary, "--close-timeout", "1", "--max-message", "100") as hub:
        s, rest = ws_open(hub.port)
        r = FrameReader(s, rest)
        s.sendall(ws_frame(OP_TEXT, b"x" * 200))
        start = time.monotonic()
        f = r.next()
        check(f is not None and f[1] == OP_CLOSE, f"want a close, got {f!r}")
        check_eq(ws_close_code(f[2]), 1009, "close code")
        r.expect_eof()
        while True:
            m = metrics(hub.port)
            waited = time.monotonic() - start
            if m.get("ringcast_websockets_open") == 0.0 or waited > 4:
                break
            time.sleep(0.05)
        check_eq(m.get("ringcast_websockets_open"), 0.0,
                 "WebSockets open 4 s after an unanswered close")
        check(0.7 <= waited <= 2.5,
              f"released {waited:.1f}s after the close frame, want ~1s")
        check_eq(m.get("ringcast_timeouts_total"), 1.0, "timeouts")
        s.close()
        hub.check_clean_exit()


def main():
    binary = hub_binary()
    suite = Suite()
    suite.case("a head at 1 byte/s is cut off after --handshake-timeout 2",
               dribbled_head, binary)
    suite.case("a silent WebSocket: ping, then close 1001 'idle timeout'",
               silent_peer_pinged_then_closed, binary)
    suite.case("pong-answering, talking and reading peers stay open",
               live_peers_stay, binary)
    suite.case("our close unanswered: TCP closed after --close-timeout",
               close_unanswered, binary)
    suite.finish()


if __name__ == "__main__":
    main()
