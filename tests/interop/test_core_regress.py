#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Regression tests against the hub for defects found in a code review; each
case fails on the code that had its defect.

- pipelined plain HTTP obeys --max-backpressure: four clients that pipeline
  64 KB of `GET /` and do not read keep the hub's RSS bounded, others are
  served meanwhile, and once they read each gets every response, whole;
- an HTTP/1.1 request needs exactly one Host (RFC 9112 §3.2): 400 and
  ringcast_http_errors_total; HTTP/1.0 needs none;
- a peer's close with 1012, 1013 or 1014 (IANA-registered) is echoed with
  the same code; 1015 still gets 1002;
- --subprotocol with CR/LF in it is refused at start (exit non-zero);
- /metrics is complete with 64 workers (it was cut at 64 KiB).

Usage: test_core_regress.py /path/to/ringcast
"""
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402  (after the sys.path line)
    HOST, TIMEOUT, CaseFailed, FrameReader, Hub, Suite, check, check_eq,
    http_get,
    hub_binary, metrics, proc_rss_kb, recv_http_response, ws_close_code,
    ws_frame, ws_open)

KIB, MIB = 1 << 10, 1 << 20
OP_BINARY, OP_CLOSE = 0x2, 0x8


def sanitizer(binary):
    """'tsan', 'asan' or None: what the hub was built with."""
    with open(binary, "rb") as f:
        data = f.read()
    if b"__tsan_init" in data:
        return "tsan"
    if b"__asan_init" in data:
        return "asan"
    return None


# ---- pipelined plain HTTP and --max-backpressure ----

PIPE_REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
PIPE_N = 64 * KIB // len(PIPE_REQ)      # requests per client, ~64 KB
PIPE_CLIENTS = 4
PIPE_IDLE_S = 2.0                       # the clients do not read this long
# RSS growth while the clients do not read. Measured here at 123 MB (gcc
# Release), 138 MB (ASan), 413 MB (TSan) when every request of a read is
# answered at once; with parsing paused past 1 MiB of output, about 5 MB,
# 7 MB and 40 MB (measured by sending only 125 requests per client).
PIPE_RSS_BOUND_MB = {None: 40, "asan": 40, "tsan": 120}
PIPE_DRAIN_S = 30.0                     # all ~88 MB of responses read


def read_responses(sock, want, deadline, what):
    """Read exactly want responses to `GET /` (each whole by its
    Content-Length, all alike, status 200), then nothing more."""
    buf, pos, got, body0 = bytearray(), 0, 0, None
    while True:
        while got < want:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            head = bytes(buf[pos:end])
            check(head.startswith(b"HTTP/1.1 200 "),
                  f"{what}: response {got} is {head[:40]!r}")
            m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
            check(m, f"{what}: response {got} has no Content-Length")
            n = int(m.group(1))
            if len(buf) < end + 4 + n:
                break
            body = bytes(buf[end + 4:end + 4 + n])
            if body0 is None:
                body0 = body
            check(body == body0, f"{what}: response {got}'s body differs "
                                 f"from the first ({n} vs {len(body0)} B)")
            pos = end + 4 + n
            got += 1
        if got == want:
            break
        if pos > MIB:
            del buf[:pos]
            pos = 0
        left = deadline - time.monotonic()
        check(left > 0, f"{what}: {got} of {want} responses within "
                        f"{PIPE_DRAIN_S:.0f}s")
        sock.settimeout(min(left, TIMEOUT))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            raise CaseFailed(f"{what}: {got} of {want} responses, then "
                               f"nothing for {min(left, TIMEOUT):.0f}s")
        check(chunk, f"{what}: EOF after {got} of {want} responses")
        buf += chunk
    # Every request has its answer; nothing may follow.
    extra = bytes(buf[pos:])
    sock.settimeout(0.3)
    try:
        extra += sock.recv(65536)
    except socket.timeout:
        pass
    check_eq(extra[:80], b"", f"{what}: bytes after response {want}")


def pipelined_backpressure(binary):
    bound_mb = PIPE_RSS_BOUND_MB[sanitizer(binary)]
    with Hub(binary) as hub:        # --max-backpressure: 1 MiB default
        port, pid = hub.port, hub.proc.pid
        for _ in range(3):
            http_get(port, "/health")
        time.sleep(0.2)
        rss0 = proc_rss_kb(pid)
        socks = []
        try:
            for _ in range(PIPE_CLIENTS):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                # A small window: what the hub queues stays in the hub.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(TIMEOUT)
                s.connect((HOST, port))
            for s in socks:
                s.sendall(PIPE_REQ * PIPE_N)
            # Nobody reads for a while; another client is served.
            peak, health_s = rss0, None
            t0 = time.monotonic()
            while time.monotonic() - t0 < PIPE_IDLE_S:
                peak = max(peak, proc_rss_kb(pid))
                if health_s is None and time.monotonic() - t0 > 0.5:
                    h0 = time.monotonic()
                    status, _, body = http_get(port, "/health")
                    health_s = time.monotonic() - h0
                    check_eq((status, body), (200, b"ok\n"),
                             "GET /health while the pipeliners do not "
                             "read")
                time.sleep(0.02)
            growth_mb = (peak - rss0) / 1024
            print(f"  {PIPE_CLIENTS} x {PIPE_N} pipelined GET /: RSS "
                  f"{rss0 / 1024:.1f} -> {peak / 1024:.1f} MB (+"
                  f"{growth_mb:.1f}, bound {bound_mb}); /health took "
                  f"{health_s * 1000:.0f} ms", flush=True)
            check(health_s < 2.0, f"GET /health took {health_s:.1f}s "
                                  "while the pipeliners did not read")
            check(growth_mb < bound_mb,
                  f"the hub's RSS grew by {growth_mb:.0f} MB for "
                  f"{PIPE_CLIENTS} clients that pipelined "
                  f"{PIPE_N * len(PIPE_REQ)} bytes of GET / each and read "
                  f"nothing (bound {bound_mb} MB: parsing must pause past "
                  "--max-backpressure)")
            # Now they read: every response, whole, nothing lost.
            deadline = time.monotonic() + PIPE_DRAIN_S
            t1 = time.monotonic()
            for i, s in enumerate(socks):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                read_responses(s, PIPE_N, deadline, f"client {i}")
            print(f"  read {PIPE_CLIENTS} x {PIPE_N} responses in "
                  f"{time.monotonic() - t1:.1f}s", flush=True)
        finally:
            for s in socks:
                s.close()


# ---- Host in plain requests (RFC 9112 §3.2) ----

def one_response(port, request):
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
        s.sendall(request)
        status, _, body, _ = recv_http_response(s)
        return status, body


def errors_total(port):
    return metrics(port).get("ringcast_http_errors_total", 0)


def host_required(port):
    for name, request in (
            ("HTTP/1.1 GET /health without Host",
             b"GET /health HTTP/1.1\r\n\r\n"),
            ("HTTP/1.1 GET /health with two Host headers",
             b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")):
        before = errors_total(port)
        status, _ = one_response(port, request)
        check_eq(status, 400, f"{name}: status")
        check_eq(errors_total(port) - before, 1,
                 f"{name}: ringcast_http_errors_total increase")


def host_optional_http10(port):
    status, body = one_response(port, b"GET /health HTTP/1.0\r\n\r\n")
    check_eq((status, body), (200, b"ok\n"),
             "HTTP/1.0 GET /health without Host")


# ---- a peer's close codes ----

PEER_CLOSE = ((1012, 1012), (1013, 1013), (1014, 1014), (1015, 1002))


def peer_close_code(port, code, want):
    sock, rest = ws_open(port, "/echo")
    try:
        sock.sendall(ws_frame(OP_CLOSE, struct.pack("!H", code)))
        f = FrameReader(sock, rest).next()
        check(f is not None, f"close {code}: EOF instead of a close frame")
        check_eq((f[1], ws_close_code(f[2])), (OP_CLOSE, want),
                 f"peer sent close {code}: the hub's (opcode, code)")
    finally:
        sock.close()


# ---- --subprotocol that is not a token ----

def subprotocol_crlf(binary):
    # --admin-port off: its default port, busy, would be another reason
    # to exit non-zero.
    args = [binary, "--port", "0", "--threads", "1", "--admin-port", "off",
            "--subprotocol", "a\r\nb"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err)
        try:
            deadline = time.monotonic() + 10
            while p.poll() is None and time.monotonic() < deadline:
                out.seek(0)
                if b"listening on" in out.read():
                    break
                time.sleep(0.02)
            rc = p.poll()
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    check(rc is not None, "ringcast --subprotocol $'a\\r\\nb' started "
                          f"(stdout: {stdout.strip()[:120]!r}); want it to "
                          "refuse the value and exit non-zero")
    check(rc > 0, f"ringcast --subprotocol $'a\\r\\nb' exited {rc}, want a "
                  f"non-zero exit code (stderr: {stderr[-300:]!r})")
    check(stderr.strip(), f"ringcast --subprotocol $'a\\r\\nb' exited {rc} "
                          "without a message on stderr")
    print(f"  exit {rc}: {stderr.decode(errors='replace').strip()[:200]}",
          flush=True)


# ---- /metrics with 64 workers ----

METRICS_WORKERS = 64
METRICS_CONNS = 640         # about 10 per worker: 2 digits
METRICS_MSG = 20000         # bytes_in/out: 6 digits per worker


def get_raw(port, path):
    """GET path with Connection: close, read to EOF: (head, body)."""
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while chunk := s.recv(1 << 20):
            data += chunk
            check(time.monotonic() < deadline, f"GET {path}: no EOF")
    head, sep, body = data.partition(b"\r\n\r\n")
    check(sep, f"GET {path}: no response head")
    return head.decode("latin-1"), body


def metric_names(body):
    return re.findall(r"^# TYPE (\S+) ", body.decode(), re.M)


def per_worker(total, w):
    """The series of worker w for a total series: name{worker="w"}, or
    name{labels,worker="w"}."""
    if total.endswith("}"):
        return f'{total[:-1]},worker="{w}"}}'
    return f'{total}{{worker="{w}"}}'


# Counters kept for the whole server, not per worker: their total only.
SERVER_WIDE = ("ringcast_tls_reload", "ringcast_nats_", "ringcast_draining",
               "ringcast_reload", "ringcast_log_", "ringcast_history_",
               "ringcast_recoveries", "ringcast_presence_")


def metrics_64_workers(binary):
    with Hub(binary, threads=1) as small:
        _, body = get_raw(small.admin_port, "/metrics")
        names = metric_names(body)
        # Every total series (a name, or a name with labels), in order.
        totals = [ln.rsplit(" ", 1)[0] for ln in body.decode().split("\n")
                  if ln and not ln.startswith("#") and "worker=" not in ln]
    check(len(names) > 10, f"a 1-worker hub's /metrics names {names}")
    # --conn-rate-per-ip 0: the 640 connections below come from one
    # address as fast as they echo, past the default 256 a second.
    with Hub(binary, "--no-pin", "--conn-rate-per-ip", "0",
             threads=METRICS_WORKERS) as hub:
        # Traffic on most workers, so their counters have some digits
        # (all zeros, the text just fits in 64 KiB).
        t0 = time.monotonic()
        for i in range(METRICS_CONNS):
            sock, rest = ws_open(hub.port, "/echo")
            try:
                sock.sendall(ws_frame(OP_BINARY, b"m" * METRICS_MSG))
                f = FrameReader(sock, rest).next()
                check_eq((f[1], len(f[2])), (OP_BINARY, METRICS_MSG),
                         f"echo {i}")
            finally:
                sock.close()
        head, body = get_raw(hub.admin_port, "/metrics")
        print(f"  {METRICS_CONNS} echoes in {time.monotonic() - t0:.1f}s; "
              f"/metrics is {len(body)} bytes", flush=True)
    check(head.startswith("HTTP/1.1 200 "), f"status line {head[:40]!r}")
    m = re.search(r"\r\ncontent-length: *(\d+)", head, re.I)
    check(m, "no Content-Length")
    last = per_worker([t for t in totals if not t.startswith(SERVER_WIDE)][-1],
                      METRICS_WORKERS - 1)
    tail = body[-80:].decode(errors="replace")
    check_eq(len(body), int(m.group(1)), "body length vs Content-Length")
    check(body.endswith(b"\n"),
          f"/metrics with {METRICS_WORKERS} workers ({len(body)} bytes) "
          f"does not end with a newline; it ends {tail!r}")
    lines = body.decode().split("\n")[:-1]
    # The last per-worker series is there whole, with the server-wide
    # ones after it: the text was not cut short.
    check(any(ln.startswith(last + " ") for ln in lines[-40:]),
          f"/metrics with {METRICS_WORKERS} workers ({len(body)} bytes) "
          f"ends with {lines[-1][-60:]!r}, want the line {last} N near "
          f"the end")
    values = {ln.rsplit(" ", 1)[0] for ln in lines
              if not ln.startswith("#") and " " in ln}
    missing = []
    for name in names:
        if f"# TYPE {name} " not in body.decode():
            missing.append(f"# TYPE {name}")
    for total in totals:
        wide = total.startswith(SERVER_WIDE)
        for series in [total] + [per_worker(total, w)
                                 for w in range(METRICS_WORKERS)]:
            if series not in values:
                missing.append(series)
            # Counters the server keeps as a whole: the total alone.
            if wide:
                break
        if wide and per_worker(total, 0) in values:
            missing.append(f"no per-worker series for {total}")
    check(not missing, f"/metrics with {METRICS_WORKERS} workers lacks "
                       f"{len(missing)} series, e.g. {missing[:3]}")


def main():
    binary = hub_binary()
    suite = Suite()
    suite.case(f"plain HTTP: {PIPE_CLIENTS} clients pipeline {PIPE_N} "
               "GET / and do not read: RSS bounded, /health served, then "
               "every response whole", pipelined_backpressure, binary)
    with suite.watch(Hub(binary)) as hub:
        suite.case("plain HTTP/1.1 without Host or with two: 400, counted",
                   host_required, hub.port)
        suite.case("plain HTTP/1.0 without Host: 200", host_optional_http10,
                   hub.port)
        for code, want in PEER_CLOSE:
            suite.case(f"close: a peer's {code} gets {want}",
                       peer_close_code, hub.port, code, want)
        suite.case("hub exits 0 on SIGTERM", hub.check_clean_exit)
    suite.case("--subprotocol $'a\\r\\nb': refused, exit non-zero",
               subprotocol_crlf, binary)
    suite.case(f"/metrics with --threads {METRICS_WORKERS}: every series, "
               "Content-Length right", metrics_64_workers, binary)
    suite.finish()


if __name__ == "__main__":
    main()
