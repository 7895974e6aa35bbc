#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""soak.py -- the soak driver behind scripts/soak.

Starts the hub, warms it up with the load mix, lets it settle and takes a
baseline (RSS, open descriptors, /metrics); runs the mix for the soak time;
lets it settle again and compares. The mix, all at once:

  echo       ringcast-load echo: 20 connections at 50 round trips/s each
  broadcast  ringcast-load broadcast: 50 subscribers, 2 publishers at 50
             messages/s each, every message checked by sequence number
  churn      ringcast-load handshake: connect, upgrade, close, in 2 s
             bursts with 2 s pauses (no pauses during the warm-up)
  bad        this script: garbage requests (400), invalid frames (1002),
             invalid UTF-8 (1007), oversize messages, declared and
             fragmented (1009), resets mid-frame and mid-send inside the
             broadcast room, slowloris heads (cut by --handshake-timeout),
             short ping floods; each must get exactly its answer

Every few seconds a CSV row: time, phase, RSS, descriptors, gauges and
counters. PASS iff, after the settle:
  RSS <= baseline + max(10 %, 8 MiB)   (allocator pools stay warm; a leak
                                         of a few bytes per operation over
                                         minutes of load goes past it)
  open descriptors == baseline, connections_open and websockets_open ==
  baseline, every good client ran with zero errors and the broadcast lost
  nothing and reordered nothing, every bad client got its answer, the hub
  never died and exits 0 within 10 s of SIGTERM.

usage: soak.py --hub PATH --load PATH --seconds S --out DIR [--sample S]
               [--warmup S] [--settle S]
"""
import argparse
import csv
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
from harness import (  # noqa: E402
    HOST, CaseFailed, FrameReader, Hub, metrics, proc_fd_count, proc_rss_kb,
    raise_nofile, ws_close_code, ws_frame, ws_open, ws_reset,
    ws_upgrade_request)

KIB, MIB = 1 << 10, 1 << 20
MAX_MESSAGE = 1 * MIB
HANDSHAKE_TIMEOUT = 2
# --max-connections bounds the connection table: max_connections + 256
# slots of 168 bytes per worker, paged in as the kernel hands out
# descriptor slots round the table (connection churn touches all of it in
# seconds; 100000 by default would be ~17 MB per worker). The warm-up runs
# the churn without pauses, so the whole table is in the baseline.
# --conn-rate-per-ip 0: the churn client opens connections from one
# address as fast as it can, past the default 256 a second.
HUB_FLAGS = ["--max-message", str(MAX_MESSAGE), "--handshake-timeout",
             str(HANDSHAKE_TIMEOUT), "--close-timeout", "2",
             "--max-connections", "10000", "--conn-rate-per-ip", "0"]
ROOM = "/ws/soak"
SEGMENT_S = 600         # a ringcast-load run lasts at most this long
GAUGES = ("connections_open", "websockets_open")
COUNTERS = ("connections_accepted_total", "handshakes_total",
            "messages_in_total", "messages_out_total", "deliveries_total",
            "http_requests_total", "http_errors_total",
            "protocol_errors_total", "invalid_utf8_total", "too_big_total",
            "timeouts_total", "backpressure_pauses_total",
            "slow_closes_total", "dropped_total")


def log(msg):
    print(f"soak: {msg}", flush=True)


def scrape(port):
    m = metrics(port)
    return {k[len("ringcast_"):]: int(v) for k, v in m.items()
            if k.startswith("ringcast_")}


# ---- good clients: ringcast-load ----

class LoadRunner(threading.Thread):
    """One ringcast-load scenario, in segments, until the deadline."""

    def __init__(self, name, load, port, args, check, deadline,
                 burst=None):
        super().__init__(daemon=True, name=name)
        self.load, self.port, self.args = load, port, args
        self.check, self.deadline, self.burst = check, deadline, burst
        self.runs, self.failures = [], []

    def run(self):
        while True:
            left = self.deadline - time.monotonic()
            if left < 1:
                return
            seg = int(min(left, self.burst or SEGMENT_S, SEGMENT_S))
            cmd = [self.load, *self.args, "-d", str(seg), "-p",
                   str(self.port), "-q"]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True,
                                   timeout=seg + 150)
                j = json.loads(p.stdout.strip().splitlines()[-1])
                why = self.check(j)
                if p.returncode != 0:
                    why = why or f"exit status {p.returncode}"
            except (subprocess.TimeoutExpired, IndexError,
                    ValueError) as e:
                j, why = None, f"{type(e).__name__}: {e}"
            self.runs.append(j)
            if why:
                self.failures.append(why)
                log(f"{self.name}: FAILED: {why}")
            if self.burst:       # churn: a pause between bursts
                time.sleep(min(self.burst,
                               max(0, self.deadline - time.monotonic())))

    def total(self, key):
        return sum(j.get(key, 0) for j in self.runs if j)


def no_errors(j):
    e = j["errors"]["total"]
    return f"{e} errors: {json.dumps(j['errors'])}" if e else None


def broadcast_ok(j):
    why = no_errors(j)
    if why:
        return why
    if j["lost"] or j["out_of_order"]:
        return f"lost {j['lost']}, out of order {j['out_of_order']}"
    want = j["published"] * j["params"]["subscribers"]
    if j["messages"]["received"] != want:
        return (f"received {j['messages']['received']}, expected "
                f"{want} ({j['published']} x subscribers)")
    return None


def good_clients(load, port, deadline, warm_up=False):
    return [
        LoadRunner("echo", load, port,
                   ["echo", "-c", "20", "-r", "50", "-s", "256"],
                   no_errors, deadline),
        LoadRunner("broadcast", load, port,
                   ["broadcast", "-S", "50", "--publishers", "2", "-r", "50",
                    "-s", "128", "-P", ROOM], broadcast_ok, deadline),
        LoadRunner("churn", load, port, ["handshake", "-c", "2"],
                   no_errors, deadline, burst=None if warm_up else 2),
    ]


# ---- bad clients ----

def expect_status(sock, status):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise CaseFailed(f"EOF before a response, after {data[:40]!r}")
        data += chunk
    if not data.startswith(b"HTTP/1.1 %d " % status):
        raise CaseFailed(f"expected {status}, got {data[:40]!r}")


def expect_close(sock, rest, code):
    r = FrameReader(sock, rest)
    while True:
        f = r.next()
        if f is None:
            raise CaseFailed(f"EOF before close {code}")
        if f[1] == 0x8:
            got = ws_close_code(f[2])
            if got != code:
                raise CaseFailed(f"close {got}, expected {code}")
            return
        if f[1] not in (0x1, 0x2, 0xA):
            raise CaseFailed(f"unexpected opcode {f[1]}")


def bad_garbage(port):
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(b"GARBAGE / NOPE\r\n\r\n")
        expect_status(s, 400)


def bad_frame(port):
    s, rest = ws_open(port, "/echo")
    with s:
        s.sendall(b"\xff" * 16)         # RSV bits and opcode 15
        expect_close(s, rest, 1002)


def bad_utf8(port):
    s, rest = ws_open(port, "/echo")
    with s:
        s.sendall(ws_frame(0x1, b"ok \xff\xfe ok"))
        expect_close(s, rest, 1007)


def bad_oversize_declared(port):
    s, rest = ws_open(port, "/echo")
    with s:
        s.sendall(struct.pack("!BBQ", 0x82, 0xFF, MAX_MESSAGE + 1)
                  + b"\0\0\0\0" + b"x" * 1000)
        expect_close(s, rest, 1009)


def bad_oversize_fragments(port):
    s, rest = ws_open(port, "/echo")
    with s:
        piece = b"y" * (256 * KIB)
        s.sendall(ws_frame(0x2, piece, fin=False, key=b"\0\0\0\0"))
        try:
            for _ in range(4):
                s.sendall(ws_frame(0x0, piece, fin=False, key=b"\0\0\0\0"))
        except (BrokenPipeError, ConnectionResetError):
            pass        # the hub may have closed already
        expect_close(s, rest, 1009)


def bad_reset_mid_frame(port):
    s, _ = ws_open(port, ROOM)
    s.sendall(ws_frame(0x2, b"z" * 5000)[:random.randint(1, 4000)])
    time.sleep(0.02)
    ws_reset(s)


def bad_reset_mid_send(port):
    """A room member that reads nothing for a while, then resets."""
    s, _ = ws_open(port, ROOM, rcvbuf=4096)
    time.sleep(random.uniform(0.5, 2.0))
    ws_reset(s)


def bad_reset_mid_handshake(port):
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(ws_upgrade_request(ROOM)[:random.randint(1, 100)])
    time.sleep(0.02)
    ws_reset(s)


def bad_ping_flood(port, count=2000):
    """Pings without reading, then every pong, in order."""
    s, rest = ws_open(port, "/echo")
    with s:
        s.sendall(b"".join(ws_frame(0x9, struct.pack("!I", i), key=b"\0" * 4)
                           for i in range(count)))
        r = FrameReader(s, rest)
        for i in range(count):
            f = r.next()
            if f != (True, 0xA, struct.pack("!I", i)):
                raise CaseFailed(f"pong {i}: {f!r}")
        s.sendall(ws_frame(0x8, struct.pack("!H", 1000)))
        f = r.next()
        if f is None or f[1] != 0x8 or ws_close_code(f[2]) != 1000:
            raise CaseFailed(f"close 1000 not echoed: {f!r}")


BAD = [bad_garbage, bad_frame, bad_utf8, bad_oversize_declared,
       bad_oversize_fragments, bad_reset_mid_frame, bad_reset_mid_send,
       bad_reset_mid_handshake, bad_ping_flood]


class BadClients(threading.Thread):
    """Bad clients one after another, ~10 a second, until the deadline."""

    def __init__(self, port, deadline, name="bad"):
        super().__init__(daemon=True, name=name)
        self.port, self.deadline = port, deadline
        self.done, self.failures = {}, []

    def run(self):
        while time.monotonic() < self.deadline:
            fn = random.choice(BAD)
            try:
                fn(self.port)
                self.done[fn.__name__] = self.done.get(fn.__name__, 0) + 1
            except (CaseFailed, OSError) as e:
                self.failures.append(f"{fn.__name__}: {e!r}")
                log(f"bad client {fn.__name__}: {e!r}")
            time.sleep(0.1)


class Slowloris(threading.Thread):
    """Request heads a byte every 0.5 s; the hub must cut each within
    --handshake-timeout (plus slack)."""

    def __init__(self, port, deadline, name="slowloris"):
        super().__init__(daemon=True, name=name)
        self.port, self.deadline = port, deadline
        self.cut, self.failures = 0, []

    def run(self):
        head = ws_upgrade_request("/echo")
        while time.monotonic() < self.deadline:
            start = time.monotonic()
            try:
                with socket.create_connection((HOST, self.port),
                                              timeout=5) as s:
                    s.settimeout(0.5)
                    for b in head[:-1]:
                        s.sendall(bytes([b]))
                        try:
                            if s.recv(4096) == b"":
                                break
                        except socket.timeout:
                            pass
                        if time.monotonic() - start > HANDSHAKE_TIMEOUT + 3:
                            raise CaseFailed("not cut off in time")
                took = time.monotonic() - start
                if took > HANDSHAKE_TIMEOUT + 3 or took < HANDSHAKE_TIMEOUT - 1:
                    raise CaseFailed(f"cut off after {took:.1f}s")
                self.cut += 1
            except (ConnectionResetError, BrokenPipeError):
                self.cut += 1
            except (CaseFailed, OSError) as e:
                self.failures.append(repr(e))
                log(f"slowloris: {e!r}")


# ---- the run ----

class Sampler(threading.Thread):
    def __init__(self, hub, path, every):
        super().__init__(daemon=True, name="sampler")
        self.hub, self.every = hub, every
        self.phase = "start"
        self.rows = []
        self.t0 = time.monotonic()
        self.f = open(path, "w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerow(["t_s", "phase", "rss_kb", "fds", *GAUGES,
                         *COUNTERS])
        self._halt = threading.Event()

    def sample(self):
        pid = self.hub.proc.pid
        m = scrape(self.hub.port)
        row = {"t_s": round(time.monotonic() - self.t0, 1),
               "phase": self.phase, "rss_kb": proc_rss_kb(pid),
               "fds": proc_fd_count(pid)}
        row.update({k: m.get(k, 0) for k in GAUGES + COUNTERS})
        self.rows.append(row)
        self.w.writerow(row.values())
        self.f.flush()
        return row

    def run(self):
        while not self._halt.wait(self.every):
            if self.hub.proc.poll() is not None:
                return
            try:
                self.sample()
            except (OSError, CaseFailed) as e:
                log(f"sample failed: {e!r}")

    def stop(self):
        self._halt.set()
        self.join(10)
        self.f.close()


def run_mix(hub, load, seconds, warm_up=False):
    deadline = time.monotonic() + seconds
    good = good_clients(load, hub.port, deadline, warm_up)
    bad = [BadClients(hub.port, deadline)] + [
        Slowloris(hub.port, deadline, name=f"slowloris {i}")
        for i in range(2)]
    for t in good + bad:
        t.start()
    for t in good + bad:
        t.join(max(1, deadline - time.monotonic()) + 200)
        if t.is_alive():
            t.failures.append("still running 200 s after the deadline")
    return good, bad


def settle(hub, seconds):
    """Wait, then the gauges must hold still (closing connections done)."""
    time.sleep(seconds)
    last = scrape(hub.port)
    for _ in range(100):
        time.sleep(0.1)
        m = scrape(hub.port)
        if all(m[g] == last[g] for g in GAUGES):
            return m
        last = m
    return last


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hub", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sample", type=float, default=5.0)
    ap.add_argument("--warmup", type=float)
    ap.add_argument("--settle", type=float, default=10.0)
    a = ap.parse_args()
    warmup = a.warmup if a.warmup is not None else \
        min(60.0, max(10.0, a.seconds / 10))
    raise_nofile(4096)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    csv_path = os.path.join(a.out, f"soak-{stamp}.csv")
    verdict = []

    hub = Hub(a.hub, *HUB_FLAGS)
    log(f"hub pid {hub.proc.pid} on port {hub.port}: {' '.join(hub.args)}")
    sampler = Sampler(hub, csv_path, a.sample)
    sampler.start()
    try:
        sampler.phase = "warmup"
        log(f"warm-up: {warmup:.0f}s of the mix")
        run_mix(hub, a.load, warmup, warm_up=True)
        sampler.phase = "settle"
        base_m = settle(hub, a.settle)
        base = sampler.sample()
        log(f"baseline: RSS {base['rss_kb']} KiB, {base['fds']} fds, "
            f"{base_m['connections_open']} connections open")

        sampler.phase = "load"
        log(f"load: {a.seconds:.0f}s of the mix")
        good, bad = run_mix(hub, a.load, a.seconds)
        during = [r for r in sampler.rows if r["phase"] == "load"]
        sampler.phase = "after"
        after_m = settle(hub, a.settle)
        after = sampler.sample()
    finally:
        sampler.stop()
    alive = hub.proc.poll() is None
    start = time.monotonic()
    rc = hub.stop()
    took = time.monotonic() - start

    # ---- verdict ----
    def need(ok, what):
        verdict.append((ok, what))

    tol_kb = max(base["rss_kb"] // 10, 8 * MIB // KIB)
    need(after["rss_kb"] <= base["rss_kb"] + tol_kb,
         f"RSS {after['rss_kb']} KiB after, baseline {base['rss_kb']} KiB "
         f"+ {tol_kb} KiB tolerance")
    need(after["fds"] == base["fds"],
         f"open descriptors {after['fds']}, baseline {base['fds']}")
    for g in GAUGES:
        need(after_m[g] == base_m[g], f"{g} {after_m[g]}, baseline "
                                      f"{base_m[g]}")
    for t in good:
        need(not t.failures and t.runs,
             f"good clients {t.name}: {len(t.runs)} runs, "
             f"{len(t.failures)} failed {t.failures[:2]}")
    bc = next(t for t in good if t.name == "broadcast")
    need(bc.total("lost") == 0 and bc.total("out_of_order") == 0,
         f"broadcast: {bc.total('published')} published, lost "
         f"{bc.total('lost')}, out of order {bc.total('out_of_order')}")
    for t in bad:
        need(not t.failures, f"{t.name}: {len(t.failures)} answered wrong "
                             f"{t.failures[:2]}")
    deltas = {k: after_m[k] - base_m[k] for k in COUNTERS}
    for k in ("protocol_errors_total", "invalid_utf8_total",
              "too_big_total", "timeouts_total", "http_errors_total"):
        need(deltas[k] > 0, f"{k} moved by {deltas[k]}")
    need(alive, "hub alive after the load")
    need(rc == 0 and took < 10, f"hub exit {rc} {took:.1f}s after SIGTERM")

    rss = [r["rss_kb"] for r in during] or [base["rss_kb"]]
    fds = [r["fds"] for r in during] or [base["fds"]]
    third = max(1, len(rss) // 3)
    log("summary:")
    print(f"  samples      {csv_path} ({len(sampler.rows)} rows)")
    print(f"  RSS KiB      baseline {base['rss_kb']}, during min {min(rss)} "
          f"max {max(rss)}, first third avg "
          f"{sum(rss[:third]) // third}, last third avg "
          f"{sum(rss[-third:]) // third}, after {after['rss_kb']}")
    print(f"  fds          baseline {base['fds']}, during max {max(fds)}, "
          f"after {after['fds']}")
    for t in good:
        keys = {"echo": "round_trips", "broadcast": "published",
                "churn": "handshakes"}
        print(f"  {t.name:<12} {len(t.runs)} runs, {t.total(keys[t.name])} "
              f"{keys[t.name]}, {len(t.failures)} failed")
    print(f"  bad clients  {sum(bad[0].done.values())} "
          f"({', '.join(f'{k[4:]} {v}' for k, v in sorted(bad[0].done.items()))}),"
          f" slowloris cut {sum(t.cut for t in bad[1:])}")
    print("  counters     " + ", ".join(f"{k} +{v}" for k, v in deltas.items()))
    ok = all(v for v, _ in verdict)
    for v, what in verdict:
        print(f"  {'ok  ' if v else 'FAIL'} {what}")
    print(f"soak: {'PASS' if ok else 'FAIL'}", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
