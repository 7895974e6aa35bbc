#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Rooms across hubs over NATS (issue 14), with real nats-server processes.

Every case starts its own nats-server(s) (free loopback ports, a temporary
directory, stopped by PID and always cleaned up) and three hubs with
`--nats URLS` (two workers each), then drives them with raw WebSocket
members (harness.SeqReader) that can also publish numbered messages
(publisher p sends p*STRIDE + 1, + 2, ...). The hub echoes a member's
message back to it (no --no-echo-self), so a publisher is a member that
gets its own messages too.

  scale: one NATS, a room with members on every hub (several per hub, on
      both workers), a publisher on each hub: every member gets every
      message exactly once, each publisher's in order with no gap; then
      nats_out/nats_in (and their bytes) match what each hub's clients
      sent and what the others sent, no gap/dup/drop/error counted, one
      subscription per hub, dropped when the room empties; hubs exit 0.
  interest: no member, no subscription (the hub's gauge and the server's
      own /subsz); one with the first member, none after the last.
      Churn: members joining and leaving on a hub (also its only member,
      so it subscribes and unsubscribes) while a publisher on another
      hub streams: each stay sees a contiguous run, a steady member all.
  names: rooms with '.', ' ', '*', '>', '~', '/', UTF-8, published from
      each hub to the other two: the subject is the spec's encoding
      (checked on the server), nothing crosses between rooms.
  nats down: SIGKILL the server: rooms stay local (delivery on each hub
      goes on), nats_connected 0; 10 MiB published meanwhile, past the
      8 MiB libnats keeps, so some is refused (nats_out_errors; out +
      out_errors = what was sent); restart it on the same port: the hubs
      reconnect by themselves (nats_reconnects, nats_connected 1) and
      cross-hub delivery resumes; what could not cross while it was down
      is delivered in order or counted (receiver's nats_in_gaps, sender's
      nats_out_errors), never lost silently; a hub still exits 0 on
      SIGTERM while NATS is down.
  nats late: hubs started before their server connect when it comes up
      (their rooms subscribed then, not counted as reconnects); a room
      joined while the server is down is subscribed when it is back, one
      left meanwhile is not.
  cluster: three routed nats-servers, hubs given all three URLs; the node
      holding the most hub connections is SIGKILLed mid-stream: every hub
      is connected again within seconds, delivery goes on, in order, and
      anything lost in the kill is counted.
  hub killed: SIGKILL one of three hubs mid-stream: members of the other
      two get every message of the surviving publishers, in order, no
      gap, and a gap-free prefix of the dead hub's publisher.
  bad input: a plain NATS client (the protocol by hand) publishes into a
      room's subject: malformed heads, an unknown flag, TEXT that is not
      UTF-8 and a message over --max-message are dropped and counted
      (nats_in_dropped); a repeated and a late number are dropped
      (nats_in_dups), a jump is delivered and counted (nats_in_gaps);
      unnumbered 0xB0 messages from another program arrive as TEXT or
      BINARY; the room's members get exactly the good ones and stay
      connected. Bad --nats and --nats-prefix values: exit 2.

RC_NATS_SCALE (a factor, default 1; 0.3 in sanitizer builds) scales the
message counts. Usage: test_nats.py /path/to/ringcast (exit 77 if
nats-server is missing)
"""
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402  (after the sys.path line)
    HOST, CaseFailed, FrameReader, Hub, SeqReader, Suite, built_with_asan,
    check, check_eq, check_seqs, hub_binary, metrics, seq_payload,
    wait_until, ws_frame, ws_open, ws_open_on_worker)

NATS_SERVER = (shutil.which("nats-server") or
               shutil.which("nats-server", path="/usr/sbin:/usr/local/sbin"))

OP_TEXT = 0x1
STRIDE = 10_000_000     # message number = publisher * STRIDE + n
MSG_SIZE = 64           # payload bytes of every numbered message
PREFIX = "ringcast"     # the hub's default --nats-prefix

# No per-socket rate limits (publishers send thousands of messages a second
# from one socket), no per-address connection rate (ws_open_on_worker and
# the churn open many).
# History off: this file checks the bridge's own delivery (each message
# once, per publisher in order, every count exact). With history on, a
# room's owning hub numbers it (test_nats_history.py), and publishes in
# flight to an owner that dies are lost by design (docs/HISTORY.md).
COMMON = ("--msg-rate", "0", "--byte-rate", "0", "--conn-rate-per-ip", "0",
          "--history-size", "0")

SLOW = 1.0              # timeout factor, 4 in sanitizer builds (main())
SCALE = 1.0             # message count factor


def n_of(count):
    return max(20, int(count * SCALE))


def note(text):
    """A detail line, with RC_NATS_VERBOSE=1."""
    if os.environ.get("RC_NATS_VERBOSE"):
        print(f"#   {text}", flush=True)


def tmo(seconds):
    return seconds * SLOW


# ---- nats-server processes ----

def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# nats-server dies with us even if we are SIGKILLed (a ctest timeout):
# setpriv sets the parent-death signal and execs it (same PID).
_PDEATH = (["setpriv", "--pdeathsig", "KILL"]
           if shutil.which("setpriv") else [])


class NatsNode:
    """One nats-server: client port, monitoring port, optional cluster
    port and routes. start() may be called again after kill() (same
    ports: a restart)."""

    def __init__(self, tmp, name, cluster=False):
        self.tmp = tmp
        self.name = name
        self.port = free_port()
        self.mport = free_port()
        self.cport = free_port() if cluster else None
        self.routes = []
        self.proc = None
        self.server_id = None
        self.log = os.path.join(tmp, name + ".log")

    @property
    def url(self):
        return f"nats://{HOST}:{self.port}"

    def start(self, timeout=10.0):
        args = [NATS_SERVER, "-a", HOST, "-p", str(self.port),
                "-m", str(self.mport), "-n", self.name, "-l", self.log]
        if self.cport:
            args += ["--cluster", f"nats://{HOST}:{self.cport}",
                     "--cluster_name", "rc"]
            if self.routes:
                args += ["--routes", ",".join(self.routes)]
        self.proc = subprocess.Popen(_PDEATH + args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.server_id = self.mon("/varz")["server_id"]
                with socket.create_connection((HOST, self.port), 1) as s:
                    if s.recv(5) == b"INFO ":
                        return True
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)
        self.kill()
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL (by PID) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def mon(self, path):
        with urllib.request.urlopen(f"http://{HOST}:{self.mport}{path}",
                                    timeout=5) as r:
            return json.loads(r.read())

    def log_tail(self, n=1500):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def local_subs(self, subject):
        """This server's own clients' subscriptions to exactly subject."""
        q = urllib.parse.quote(subject, safe="")
        j = self.mon(f"/subsz?subs=1&limit=100000&test={q}")
        return [s for s in j.get("subscriptions_list") or []
                if s.get("subject") == subject]

    def all_subjects(self):
        j = self.mon("/subsz?subs=1&limit=100000")
        return sorted(s.get("subject") for s in
                      j.get("subscriptions_list") or []
                      if not s.get("subject", "").startswith("$SYS"))

    def route_subjects(self):
        """{remote server id: subjects it told this one it wants}."""
        j = self.mon("/routez?subs=1")
        return {r.get("remote_id"): set(r.get("subscriptions_list") or [])
                for r in j.get("routes") or []}

    def num_connections(self):
        return self.mon("/connz")["num_connections"]


class Nats:
    """n nats-servers (a full mesh of routes when n > 1), in tmp."""

    def __init__(self, tmp, n=1, start=True):
        for _ in range(3):      # a port taken meanwhile: new ports
            self.nodes = [NatsNode(tmp, f"n{i}", cluster=n > 1)
                          for i in range(n)]
            for node in self.nodes:
                node.routes = [f"nats://{HOST}:{o.cport}"
                               for o in self.nodes if o is not node]
            if not start or all([node.start() for node in self.nodes]):
                break
            self.kill()
        else:
            raise RuntimeError("nats-server did not start: " +
                               self.nodes[0].log_tail())
        if n > 1:
            wait_until(lambda: all(nd.mon("/routez")["num_routes"] == n - 1
                                   for nd in self.nodes),
                       "nats cluster: full mesh of routes", tmo(10))

    @property
    def urls(self):
        return ",".join(nd.url for nd in self.nodes)

    def kill(self):
        for nd in self.nodes:
            nd.kill()

    def alive(self):
        return [nd for nd in self.nodes if nd.alive()]

    def interest(self, subject):
        """(subscriptions to subject on all servers, whether every live
        server knows of every other one's)."""
        alive = self.alive()
        local = {nd.name: len(nd.local_subs(subject)) for nd in alive}
        spread = True
        routes = {nd.name: nd.route_subjects() for nd in alive} \
            if len(alive) > 1 else {}
        for nd in alive:
            if not local[nd.name]:
                continue
            for other in alive:
                if other is not nd and subject not in \
                        routes[other.name].get(nd.server_id, ()):
                    spread = False
        return sum(local.values()), spread

    def wait_interest(self, subject, want, timeout=None):
        """Until the servers hold exactly want subscriptions to subject
        (one per hub with members), known across the routes."""
        timeout = tmo(5) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            total, spread = self.interest(subject)
            if total == want and spread:
                return
            if time.monotonic() > deadline:
                subs = {nd.name: nd.all_subjects() for nd in self.alive()}
                raise CaseFailed(
                    f"NATS servers: {total} subscription(s) to {subject!r} "
                    f"(want {want}){'' if spread else ', not yet routed'} "
                    f"after {timeout:.0f}s; subscriptions on the servers: "
                    f"{subs}")
            time.sleep(0.03)


# ---- rooms and members ----

def room_path(room):
    return "/ws/" + urllib.parse.quote(room, safe="")


def subject_of(room, prefix=PREFIX):
    """The spec's subject: [A-Za-z0-9_-] as is, any other byte ~HH."""
    ok = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             b"0123456789_-")
    return f"{prefix}.r." + "".join(chr(b) if b in ok else "~%02X" % b
                                    for b in room.encode())


def split(seqs):
    """Message numbers -> {publisher: [n, ...]} in arrival order."""
    out = {}
    for s in seqs:
        out.setdefault(s // STRIDE, []).append(s % STRIDE)
    return out


class Member:
    """A member of room on hub (a SeqReader thread) that can publish the
    numbered messages of publisher pid, from a dup of its socket (the
    reader's socket timeouts would cut a blocked sendall short)."""

    def __init__(self, hub, room, name, worker=None, pid=None):
        path = room_path(room)
        opened = (ws_open_on_worker(hub.port, path, worker)
                  if worker is not None else None)
        self.hub = hub
        self.name = name
        self.pid = pid
        self.lock = threading.Lock()
        self.reader = SeqReader(hub.port, path, name=name, opened=opened,
                                lock=self.lock)
        self.out = socket.socket(fileno=os.dup(self.reader.sock.fileno()))
        self.out.settimeout(tmo(30))
        self.sent = 0
        self.send_error = None
        self.thread = None
        self.closed = False
        self.reader.start()

    def seqs(self):
        return list(self.reader.seqs)

    def got(self, pid):
        return split(self.seqs()).get(pid, [])

    def send(self, count, chunk=50, pause=0.0, size=MSG_SIZE):
        """The next count numbers (size bytes each), chunk messages a
        write."""
        while count > 0:
            k = min(chunk, count)
            data = b"".join(
                ws_frame(OP_TEXT, seq_payload(self.pid * STRIDE + self.sent
                                              + 1 + i, size))
                for i in range(k))
            with self.lock:
                self.out.sendall(data)
            self.sent += k
            count -= k
            if pause:
                time.sleep(pause)

    def stream(self, count, chunk=50, pause=0.0, size=MSG_SIZE):
        """send() in a thread; join() waits for it."""
        def run():
            try:
                self.send(count, chunk, pause, size)
            except OSError as e:
                self.send_error = e
        self.thread = threading.Thread(target=run, daemon=True,
                                       name=self.name + "-send")
        self.thread.start()

    def join(self, timeout=None):
        if self.thread:
            self.thread.join(tmo(30) if timeout is None else timeout)
            check(not self.thread.is_alive(), f"{self.name}: send stuck")
            self.thread = None

    def wait_last(self, pid, last, timeout=None):
        """Until publisher pid's number last has arrived."""
        want = pid * STRIDE + last
        wait_until(lambda: want in self.reader.seqs or self.reader.error
                   or self.reader.eof,
                   f"{self.name}: message {last} of publisher {pid} (has "
                   f"{len(self.got(pid))} of it)",
                   tmo(15) if timeout is None else timeout)
        check(self.reader.error is None, f"{self.name}: {self.reader.error}")
        check(not self.reader.eof, f"{self.name}: connection closed")

    def close(self, check_error=True):
        """Stop reading and close (a leave); re-raise the reader's error."""
        if self.closed:
            return
        self.closed = True
        if self.thread:
            self.thread.join(tmo(30))
        self.out.close()
        if check_error:
            self.reader.finish(tmo(5))
        else:
            self.reader.stop()
            self.reader.join(tmo(5))
            self.reader.sock.close()


def check_exact(m, want):
    """m got exactly want = {publisher: count} messages: each publisher's
    1..count in order, once, and nothing from anyone else."""
    check(m.reader.error is None, f"{m.name}: {m.reader.error}")
    got = split(m.seqs())
    extra = sorted(set(got) - set(want))
    check(not extra, f"{m.name}: messages from publisher(s) {extra} not in "
                     f"its room (cross-talk): first "
                     f"{[got[p][:3] for p in extra]}")
    for pid, count in want.items():
        check_seqs(got.get(pid, []), count,
                   f"{m.name}: from publisher {pid}", start=1)


def check_increasing(m, pid):
    """Publisher pid's messages at m: strictly increasing (in order, no
    duplicate); returns them."""
    got = m.got(pid)
    for i in range(1, len(got)):
        check(got[i] > got[i - 1],
              f"{m.name}: from publisher {pid}, {got[i]} after "
              f"{got[i - 1]} (a duplicate or out of order; around it: "
              f"{got[max(0, i - 3):i + 3]})")
    return got


# ---- /metrics ----

NATS_KEYS = ("connected", "subscriptions", "reconnects_total", "out_total",
             "out_bytes_total", "out_errors_total", "in_total",
             "in_bytes_total", "in_dropped_total", "in_gaps_total",
             "in_dups_total", "slow_consumer_total")


def nm(hub):
    """The hub's ringcast_nats_* metrics without the prefix."""
    m = metrics(hub.port)
    out = {k[len("ringcast_nats_"):]: v for k, v in m.items()
           if k.startswith("ringcast_nats_")}
    missing = [k for k in NATS_KEYS if k not in out]
    check(not missing, f"/metrics lacks ringcast_nats_{missing}")
    return out


def wait_metric(hubs, key, want, what, timeout=None):
    """Until ringcast_nats_<key> is want on every hub in hubs."""
    timeout = tmo(5) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        now = [nm(h)[key] for h in hubs]
        if all(v == want for v in now):
            return
        if time.monotonic() > deadline:
            raise CaseFailed(f"{what}: nats_{key} not {want} within "
                             f"{timeout:.0f}s on hubs "
                             f"{[h.label for h in hubs]}: {now}")
        time.sleep(0.05)


def start_nats(stack, nodes=1, start=True):
    """nats-server node(s) in a temporary directory, killed when @stack
    unwinds."""
    tmp = stack.enter_context(tempfile.TemporaryDirectory())
    nats = Nats(tmp, nodes, start=start)
    stack.callback(nats.kill)
    return nats


def start_hubs(stack, suite, binary, urls, n=3, flags=(), connected=1):
    hubs = []
    for i in range(n):
        h = stack.enter_context(Hub(binary, "--nats", urls, *COMMON, *flags,
                                    threads=2))
        h.label = f"H{i}"
        suite.watch(h)
        hubs.append(h)
    stack.push(lambda *exc: _hub_deaths(hubs, *exc))
    wait_metric(hubs, "connected", connected, "hubs and NATS", tmo(10))
    return hubs


def stop_all(hubs):
    """SIGTERM each hub still running: it must exit 0 (its NATS
    connection closed cleanly: a sanitizer report exits non-zero)."""
    for h in hubs:
        if not h.stopping:
            h.check_clean_exit()


def _hub_deaths(hubs, et, ev, tb):
    """On a case's failure, before its hubs are stopped: a hub that died
    (a sanitizer report, a crash) is named with its stderr. A dying hub
    may take a moment to write its report and exit."""
    if et is None:
        return False
    deadline = time.monotonic() + tmo(1)
    while time.monotonic() < deadline and \
            all(h.proc.poll() is None or h.stopping for h in hubs):
        time.sleep(0.05)
    dead = [h for h in hubs if h.proc.poll() is not None and not h.stopping
            and not h.death_reported]
    if not dead:
        return False
    for h in dead:
        h.death_reported = True
    why = str(ev) if isinstance(ev, CaseFailed) else f"{et.__name__}: {ev}"
    raise CaseFailed(why + "".join(
        f"\n  {h.label} died (exit {h.proc.poll()}) -- its stderr:\n"
        f"{h.stderr_tail(6000)}" for h in dead)) from ev


def check_quiet(hubs, keys=("in_gaps_total", "in_dups_total",
                            "in_dropped_total", "out_errors_total",
                            "slow_consumer_total")):
    for h in hubs:
        m = nm(h)
        for k in keys:
            check_eq(m[k], 0, f"{h.label}: nats_{k}")


def settle():
    """Time for a duplicate or stray message to show up."""
    time.sleep(tmo(0.3))


def check_accounted(hubs, members, pubs):
    """Nothing lost silently: for each hub, the messages its members lack
    from publishers on other hubs are at least its nats_in_gaps (a gap is
    a message really missed) and at most those gaps plus the senders'
    nats_out_errors. Members of one hub got the same messages; publishers
    on the same hub as a member were all delivered, in order."""
    for j, h in enumerate(hubs):
        if h.proc.poll() is not None:
            continue
        local = [m for m in members if m.hub is h]
        if not local:
            continue
        missing = 0
        senders = set()
        for p in pubs:
            if p.hub is h:
                for m in local:
                    check_seqs(m.got(p.pid), p.sent,
                               f"{m.name}: from publisher {p.pid} on its "
                               f"own hub", start=1)
                continue
            runs = [check_increasing(m, p.pid) for m in local]
            for m, run in zip(local[1:], runs[1:]):
                check(run == runs[0],
                      f"{m.name} and {local[0].name} (both on {h.label}) "
                      f"got different messages from publisher {p.pid}: "
                      f"{len(run)} and {len(runs[0])}")
            missing += p.sent - len(runs[0])
            senders.add(p.hub)
        delivered = sum(len(m.got(p.pid)) for p in pubs for m in local[:1]
                        if p.hub is not h)
        check_eq(nm(h)["in_total"], delivered,
                 f"{h.label}: nats_in_total (what its members got from "
                 f"other hubs)")
        gaps = nm(h)["in_gaps_total"]
        errors = sum(nm(s)["out_errors_total"] for s in senders
                     if s.proc.poll() is None)
        note(f"{h.label}: members miss {missing} from other hubs; "
             f"nats_in_gaps {gaps:.0f}, senders' out errors {errors:.0f}")
        check(gaps <= missing,
              f"{h.label}: nats_in_gaps {gaps:.0f} but its members miss "
              f"only {missing} messages")
        check(missing <= gaps + errors,
              f"{h.label}: its members miss {missing} messages from other "
              f"hubs, but only {gaps:.0f} gaps + {errors:.0f} out errors "
              f"were counted (lost silently)")


# ---- cases ----

def case_scale(binary, suite):
    """3 hubs, publishers on each, members on both workers of each."""
    n = n_of(1000)
    room = "scale"
    with ExitStack() as stack:
        nats = start_nats(stack)
        hubs = start_hubs(stack, suite, binary, nats.urls)
        for h in hubs:
            check_eq(nm(h)["subscriptions"], 0, f"{h.label}: no room yet")
        pubs, members = [], []
        for i, h in enumerate(hubs):
            p = Member(h, room, f"P{i + 1}@{h.label}", worker=0, pid=i + 1)
            pubs.append(p)
            members.append(p)
        # H0: the publisher and one on worker 1; H1: one more on each
        # worker; H2: one on worker 1.
        for h, w in ((0, 1), (1, 0), (1, 1), (2, 1)):
            members.append(Member(hubs[h], room,
                                  f"m{len(members)}@{hubs[h].label}/w{w}",
                                  worker=w))
        for m in members:
            stack.callback(m.close, False)
        wait_metric(hubs, "subscriptions", 1, "one subscription per hub")
        nats.wait_interest(subject_of(room), 3)

        for p in pubs:
            p.stream(n, chunk=50)
        for p in pubs:
            p.join()
            check(p.send_error is None, f"{p.name}: {p.send_error}")
        for m in members:
            m.reader.wait_count(3 * n, tmo(20))
        settle()
        for m in members:
            check_exact(m, {p.pid: n for p in pubs})

        for h in hubs:
            wait_metric([h], "out_total", n, f"{h.label}: what its "
                        f"publisher sent", tmo(3))
            wait_metric([h], "in_total", 2 * n, f"{h.label}: what the "
                        f"other two hubs' publishers sent", tmo(3))
        out_bytes = [nm(h)["out_bytes_total"] for h in hubs]
        for i, h in enumerate(hubs):
            m = nm(h)
            # Payload bytes (or with the 24-byte envelope: either reading).
            check(out_bytes[i] in (n * MSG_SIZE, n * (MSG_SIZE + 24)),
                  f"{h.label}: nats_out_bytes {out_bytes[i]:.0f}, not "
                  f"{n} x {MSG_SIZE} (or x {MSG_SIZE + 24})")
            check_eq(m["in_bytes_total"], sum(out_bytes) - out_bytes[i],
                     f"{h.label}: nats_in_bytes (what the other two sent)")
            check_eq(m["subscriptions"], 1, f"{h.label}: nats_subscriptions")
            check_eq(m["connected"], 1, f"{h.label}: nats_connected")
        check_quiet(hubs)

        for m in members:
            m.close()
        wait_metric(hubs, "subscriptions", 0, "the room emptied")
        nats.wait_interest(subject_of(room), 0)
        stop_all(hubs)


def case_interest(binary, suite):
    """The subscription follows local membership; churn during a stream."""
    n = 2000    # 2 s at the pace below, in any build: time for the churn
    seed = int(os.environ.get("RC_NATS_SEED") or
               random.randrange(1 << 30))
    rng = random.Random(seed)
    with ExitStack() as stack:
        nats = start_nats(stack)
        hubs = start_hubs(stack, suite, binary, nats.urls)
        h0, h1, h2 = hubs
        room, subj = "interest", subject_of("interest")
        wait_metric(hubs, "subscriptions", 0, "no member anywhere")
        check_eq(nats.interest(subj)[0], 0, "server: subscriptions at start")

        a = Member(h1, room, "a@H1")
        stack.callback(a.close, False)
        wait_metric([h1], "subscriptions", 1, "first member on H1")
        nats.wait_interest(subj, 1)
        b = Member(h1, room, "b@H1")
        stack.callback(b.close, False)
        settle()
        for h, want in ((h0, 0), (h1, 1), (h2, 0)):
            check_eq(nm(h)["subscriptions"], want,
                     f"{h.label}: nats_subscriptions with 2 members on H1")
        check_eq(nats.interest(subj)[0], 1, "server: one subscription for "
                                            "two members of one hub")
        a.close()
        settle()
        check_eq(nm(h1)["subscriptions"], 1, "H1: one member left")
        b.close()
        wait_metric([h1], "subscriptions", 0, "last member left H1")
        nats.wait_interest(subj, 0)

        # Churn while P streams from H0 to the steady member S on H2.
        room, subj = "churn", subject_of("churn")
        p = Member(h0, room, "P1@H0", pid=1)
        s = Member(h2, room, "S@H2")
        stack.callback(p.close, False)
        stack.callback(s.close, False)
        nats.wait_interest(subj, 2)
        sessions = []           # (hub label, member) after it left
        errors = []
        stop = threading.Event()

        def churn(hub, tag, seed):
            r = random.Random(seed)
            k = 0
            try:
                while not stop.is_set():
                    m = Member(hub, room, f"c{tag}.{k}@{hub.label}")
                    time.sleep(r.uniform(0.03, 0.25))
                    m.close()
                    sessions.append((hub.label, m))
                    k += 1
                    time.sleep(r.uniform(0, 0.05))
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(f"churn on {hub.label}: {e!r}")

        threads = [threading.Thread(target=churn, args=(h, t, rng.random()),
                                    daemon=True)
                   for h, t in ((h1, "a"), (h1, "b"), (h2, "c"))]
        for t in threads:
            t.start()
        time.sleep(0.1)
        p.send(n, chunk=10, pause=0.01)
        time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join(tmo(10))
        check(not errors, f"seed {seed}: {errors}")
        s.wait_last(1, n)
        p.wait_last(1, n)
        settle()
        check_exact(s, {1: n})
        check_exact(p, {1: n})
        seen = {"H1": 0, "H2": 0}
        for label, m in sessions:
            got = split(m.seqs())
            check(set(got) <= {1}, f"{m.name}: stray publishers {set(got)}")
            run = got.get(1, [])
            if run:
                seen[label] += 1
                check_seqs(run, None, f"seed {seed}: {m.name} (joined "
                                      f"mid-stream)", start=run[0])
        note(f"churn: {len(sessions)} stays, with messages: {seen}; "
             f"H1 nats_in {nm(h1)['in_total']:.0f} of {n}")
        check(len(sessions) >= 6, f"only {len(sessions)} churn sessions")
        check(seen["H1"] and seen["H2"],
              f"seed {seed}: churn members that got anything: {seen} of "
              f"{len(sessions)}")
        wait_metric([h1], "subscriptions", 0, "churn over, none on H1")
        check_eq(nm(h2)["subscriptions"], 1, "H2: S is still there")
        check_eq(nm(h2)["in_total"], n, "H2: nats_in_total (all of P's)")
        check_eq(nm(h0)["out_total"], n, "H0: nats_out_total")
        for h in hubs:
            m = nm(h)
            check_eq(m["in_dups_total"], 0, f"{h.label}: nats_in_dups")
            check_eq(m["in_dropped_total"], 0, f"{h.label}: nats_in_dropped")
        # Messages published while H1 had no member were not for H1: no
        # loss between hubs, so no gap either (H1 subscribed and dropped
        # its subscription many times meanwhile).
        for h in hubs:
            check_eq(nm(h)["in_gaps_total"], 0,
                     f"seed {seed}: {h.label}: nats_in_gaps after churn "
                     f"(messages sent while a hub had no member are not "
                     f"lost)")
        stop_all(hubs)


# Room names the hub takes (percent-encoded in the path) that NATS subjects
# could confuse: '.' (token separator), '*' and '>' (wildcards), ' ',
# '~' (the encoding's own escape), '/', UTF-8.
NAMES = ["a.b", "a~2Eb", "a", "a b", "a~20b", "a.>", "x*y", "*", ">",
         "~", "a/b", "café", "日本語", "😀.x"]


def case_names(binary, suite):
    k = 20
    with ExitStack() as stack:
        nats = start_nats(stack)
        hubs = start_hubs(stack, suite, binary, nats.urls)
        rooms = []      # (name, publisher, [members])
        for i, name in enumerate(NAMES):
            src = hubs[i % 3]
            p = Member(src, name, f"P{i + 1}[{name}]@{src.label}", pid=i + 1)
            stack.callback(p.close, False)
            ms = []
            for h in hubs:
                if h is not src:
                    m = Member(h, name, f"m[{name}]@{h.label}")
                    stack.callback(m.close, False)
                    ms.append(m)
            rooms.append((name, p, ms))
        wait_metric(hubs, "subscriptions", len(NAMES),
                    "one subscription per room per hub")
        for name, _, _ in rooms:
            nats.wait_interest(subject_of(name), 3)
        for _, p, _ in rooms:
            p.stream(k, chunk=5, pause=0.002)
        for name, p, ms in rooms:
            p.join()
            check(p.send_error is None, f"{p.name}: {p.send_error}")
            for m in [p] + ms:
                m.wait_last(p.pid, k)
        settle()
        for name, p, ms in rooms:
            for m in [p] + ms:
                check_exact(m, {p.pid: k})
        check_quiet(hubs)
        for h in hubs:
            # Each hub published k into each of its rooms and got k of each
            # of the others'.
            mine = sum(1 for _, p, _ in rooms if p.hub is h)
            check_eq(nm(h)["out_total"], k * mine, f"{h.label}: nats_out")
            check_eq(nm(h)["in_total"], k * (len(NAMES) - mine),
                     f"{h.label}: nats_in")
        for _, p, ms in rooms:
            for m in [p] + ms:
                m.close()
        wait_metric(hubs, "subscriptions", 0, "all rooms empty")
        stop_all(hubs)


BIG = 16 << 10          # a message of the case past libnats' buffer
BIG_COUNT = 640         # 10 MiB: past the 8 MiB it keeps while down


def case_nats_down(binary, suite):
    n1, n2, n3 = n_of(100), n_of(200), n_of(100)
    room, subj = "down", subject_of("down")
    with ExitStack() as stack:
        nats = start_nats(stack)
        node = nats.nodes[0]
        # 10 MiB reach the local members at once: room to queue it.
        hubs = start_hubs(stack, suite, binary, nats.urls,
                          flags=("--max-backpressure", str(64 << 20)))
        h0, h1, h2 = hubs
        p1 = Member(h0, room, "P1@H0", worker=0, pid=1)
        l0 = Member(h0, room, "L0@H0/w1", worker=1)
        p2 = Member(h1, room, "P2@H1", pid=2)
        l1 = Member(h1, room, "L1@H1")
        l2 = Member(h2, room, "L2@H2")
        pubs, members = [p1, p2], [p1, l0, p2, l1, l2]
        for m in members:
            stack.callback(m.close, False)
        nats.wait_interest(subj, 3)

        # Up: everything crosses.
        for p in pubs:
            p.send(n1, chunk=20)
        for m in members:
            m.reader.wait_count(2 * n1, tmo(10))
        settle()
        for m in members:
            check_exact(m, {1: n1, 2: n1})
        for h in hubs:
            check_eq(nm(h)["reconnects_total"], 0, f"{h.label}: reconnects")

        # Down: rooms stay local.
        node.kill()
        wait_metric(hubs, "connected", 0, "NATS killed")
        for p in pubs:
            p.stream(n2, chunk=10, pause=0.002)
        for p in pubs:
            p.join()
            check(p.send_error is None, f"{p.name}: {p.send_error}")
        # More than libnats keeps while reconnecting: refused, counted.
        p1.send(BIG_COUNT, chunk=8, pause=0.004, size=BIG)
        for p, local in ((p1, l0), (p2, l1)):
            for m in (p, local):
                m.wait_last(p.pid, p.sent)
                check_seqs(m.got(p.pid), p.sent,
                           f"{m.name}: from its own hub's publisher while "
                           f"NATS is down", start=1)
        check_eq(nm(h0)["connected"], 0, "H0: nats_connected while down")
        errors = nm(h0)["out_errors_total"]
        note(f"H0: {errors:.0f} of {BIG_COUNT} x {BIG} B refused while "
             f"down")
        check(errors >= 1, f"H0: nats_out_errors 0 after {BIG_COUNT} x "
                           f"{BIG} B published while NATS was down (past "
                           f"the 8 MiB reconnect buffer)")

        # Back on the same port: the hubs reconnect and resubscribe.
        check(node.start(), "nats-server did not restart on its port: " +
              node.log_tail())
        wait_metric(hubs, "connected", 1, "NATS back", tmo(10))
        for h in hubs:
            wait_until(lambda: nm(h)["reconnects_total"] >= 1,
                       f"{h.label}: nats_reconnects >= 1", tmo(5))
        nats.wait_interest(subj, 3)
        base = {p.pid: p.sent for p in pubs}
        for p in pubs:
            p.send(n3, chunk=20)
        for m in members:
            for p in pubs:
                m.wait_last(p.pid, p.sent)
        settle()
        for m in members:
            for p in pubs:
                run = check_increasing(m, p.pid)
                check_eq(run[:n1], list(range(1, n1 + 1)),
                         f"{m.name}: publisher {p.pid}'s messages before "
                         f"the kill")
                check_eq(run[-n3:], list(range(base[p.pid] + 1,
                                               p.sent + 1)),
                         f"{m.name}: publisher {p.pid}'s messages after "
                         f"the restart")
        check_accounted(hubs, members, pubs)
        for h in hubs:
            m = nm(h)
            check_eq(m["in_dups_total"], 0, f"{h.label}: nats_in_dups")
            check_eq(m["in_dropped_total"], 0, f"{h.label}: nats_in_dropped")
        for h, p in ((h0, p1), (h1, p2)):
            m = nm(h)
            check_eq(m["out_total"] + m["out_errors_total"], p.sent,
                     f"{h.label}: nats_out {m['out_total']:.0f} + "
                     f"out_errors {m['out_errors_total']:.0f} (every "
                     f"message its client sent, handed to NATS or refused)")

        # Stopping while NATS is down (reconnecting): still exit 0 quickly.
        node.kill()
        wait_metric(hubs, "connected", 0, "NATS killed again")
        for m in members:
            m.close()
        stop_all(hubs)


def case_nats_late(binary, suite):
    """Hubs started before their NATS server; a room joined while it is
    down."""
    n, pre = n_of(200), n_of(50)
    room, subj = "late", subject_of("late")
    with ExitStack() as stack:
        nats = start_nats(stack, start=False)
        node = nats.nodes[0]
        hubs = start_hubs(stack, suite, binary, nats.urls, connected=0)
        h0, h1, h2 = hubs
        p1 = Member(h0, room, "P1@H0", pid=1)
        p2 = Member(h1, room, "P2@H1", pid=2)
        m2 = Member(h2, room, "m@H2")
        pubs, members = [p1, p2], [p1, p2, m2]
        for m in members:
            stack.callback(m.close, False)
        wait_metric(hubs, "subscriptions", 1, "a room joined before NATS "
                                              "is up")
        p1.send(pre, chunk=10)
        p1.wait_last(1, pre)
        check_exact(p1, {1: pre})

        check(node.start(), "nats-server: " + node.log_tail())
        wait_metric(hubs, "connected", 1, "NATS started after the hubs",
                    tmo(10))
        nats.wait_interest(subj, 3)
        for h in hubs:
            check_eq(nm(h)["reconnects_total"], 0,
                     f"{h.label}: nats_reconnects (a first connect)")
        for p in pubs:
            p.send(n, chunk=20)
        for m in members:
            for p in pubs:
                m.wait_last(p.pid, p.sent)
        settle()
        # P1's first ones went out at the first connect, maybe before the
        # other hubs' subscriptions: got or not, never counted (no number
        # to compare with yet), so only their order is checked.
        note(f"P1's {pre} sent before NATS was up: H1 got "
             f"{len(p2.got(1))}, H2 {len(m2.got(1))}; H0 out errors "
             f"{nm(h0)['out_errors_total']:.0f}")
        for m in members:
            for p in pubs:
                run = check_increasing(m, p.pid)
                first = p.sent - n + 1
                check_eq(run[-n:], list(range(first, p.sent + 1)),
                         f"{m.name}: publisher {p.pid} once NATS was up")
                if m.hub is p.hub:      # local: all of it
                    check_seqs(run, p.sent, f"{m.name}: publisher "
                                            f"{p.pid} on its hub", start=1)
        for h in hubs:
            m = nm(h)
            check_eq(m["in_dups_total"], 0, f"{h.label}: nats_in_dups")
            check_eq(m["in_gaps_total"], 0, f"{h.label}: nats_in_gaps")

        # Joined while NATS is down again: subscribed when it is back;
        # left meanwhile: not subscribed when it is back.
        node.kill()
        wait_metric(hubs, "connected", 0, "NATS killed")
        p2.close()
        wait_metric([h1], "subscriptions", 0, "H1's member left while "
                                              "NATS is down")
        room2 = "late2"
        q = Member(h0, room2, "Q3@H0", pid=3)
        r = Member(h2, room2, "r@H2")
        for m in (q, r):
            stack.callback(m.close, False)
        wait_metric([h0, h2], "subscriptions", 2, "a second room joined "
                                                  "while NATS is down")
        check(node.start(), "nats-server restart: " + node.log_tail())
        wait_metric(hubs, "connected", 1, "NATS back", tmo(10))
        nats.wait_interest(subject_of(room2), 2)
        nats.wait_interest(subj, 2)
        q.send(n, chunk=20)
        r.wait_last(3, n)
        settle()
        check_exact(q, {3: n})
        check_exact(r, {3: n})
        check_eq(nm(h2)["in_gaps_total"], 0, "H2: nats_in_gaps")
        stop_all(hubs)


def case_cluster(binary, suite):
    na, nk, nb = n_of(200), n_of(400), n_of(200)
    room, subj = "cluster", subject_of("cluster")
    with ExitStack() as stack:
        nats = start_nats(stack, 3)
        hubs = start_hubs(stack, suite, binary, nats.urls)
        pubs = [Member(h, room, f"P{i + 1}@{h.label}", pid=i + 1)
                for i, h in enumerate(hubs)]
        members = pubs + [Member(hubs[1], room, "m@H1")]
        for m in members:
            stack.callback(m.close, False)
        nats.wait_interest(subj, 3)
        conns = {nd.name: nd.num_connections() for nd in nats.nodes}
        check_eq(sum(conns.values()), 3, f"hub connections on the nodes "
                                         f"{conns}")
        victim = max(nats.nodes, key=lambda nd: conns[nd.name])
        note(f"hub connections per node {conns}: killing {victim.name}")

        for p in pubs:
            p.send(na, chunk=20)
        for m in members:
            for p in pubs:
                m.wait_last(p.pid, na)
        settle()
        for m in members:
            check_exact(m, {p.pid: na for p in pubs})

        # Kill the busiest node mid-stream.
        for p in pubs:
            p.stream(nk, chunk=10, pause=0.005)
        time.sleep(0.1)
        victim.kill()
        for p in pubs:
            p.join()
            check(p.send_error is None, f"{p.name}: {p.send_error}")
        wait_metric(hubs, "connected", 1, f"after {victim.name} (had "
                    f"{conns[victim.name]} hubs) died", tmo(5))
        wait_until(lambda: sum(nm(h)["reconnects_total"] for h in hubs)
                   >= conns[victim.name],
                   f"nats_reconnects of the {conns[victim.name]} hub(s) "
                   f"on {victim.name}", tmo(5))
        nats.wait_interest(subj, 3)
        for p in pubs:
            p.send(nb, chunk=20)
        total = na + nk + nb
        for m in members:
            for p in pubs:
                m.wait_last(p.pid, total)
        settle()
        for m in members:
            for p in pubs:
                run = check_increasing(m, p.pid)
                check_eq(run[:na], list(range(1, na + 1)),
                         f"{m.name}: publisher {p.pid}, before the kill")
                check_eq(run[-nb:], list(range(na + nk + 1, total + 1)),
                         f"{m.name}: publisher {p.pid}, after the kill")
        check_accounted(hubs, members, pubs)
        for h in hubs:
            check_eq(nm(h)["in_dups_total"], 0, f"{h.label}: nats_in_dups")
            check_eq(nm(h)["connected"], 1, f"{h.label}: nats_connected")
        stop_all(hubs)


def case_hub_killed(binary, suite):
    n = n_of(600)
    room, subj = "hubkill", subject_of("hubkill")
    with ExitStack() as stack:
        nats = start_nats(stack)
        hubs = start_hubs(stack, suite, binary, nats.urls)
        h0, h1, h2 = hubs
        pubs = [Member(h, room, f"P{i + 1}@{h.label}", worker=0, pid=i + 1)
                for i, h in enumerate(hubs)]
        members = pubs + [Member(h, room, f"m@{h.label}/w1", worker=1)
                          for h in hubs]
        for m in members:
            stack.callback(m.close, False)
        nats.wait_interest(subj, 3)
        for p in pubs:
            p.stream(n, chunk=10, pause=0.01)
        time.sleep(n / 1000 * 0.4)       # about 40% through
        check(pubs[2].thread.is_alive(), "P3 finished before the kill")
        h2.stopping = True               # not a crash: ours
        os.kill(h2.proc.pid, signal.SIGKILL)
        h2.proc.wait()
        for p in pubs:
            p.join()
        for p in pubs[:2]:
            check(p.send_error is None, f"{p.name}: {p.send_error}")
        alive = [m for m in members if m.hub is not h2]
        for m in alive:
            for p in pubs[:2]:
                m.wait_last(p.pid, n)
        settle()
        nats.wait_interest(subj, 2)
        for h in (h0, h1):
            local = [m for m in alive if m.hub is h]
            runs = [m.got(3) for m in local]
            k = len(runs[0])
            note(f"{h.label}: got {k} of P3's messages (P3 wrote "
                 f"{pubs[2].sent})")
            check(k >= 1, f"{h.label}: nothing from P3 before the kill")
            for m, run in zip(local, runs):
                check_exact(m, {1: n, 2: n, 3: len(run)})
                check_eq(len(run), k, f"{m.name}: P3's messages (same as "
                                      f"{local[0].name})")
            mt = nm(h)
            check_eq(mt["in_total"], n + k, f"{h.label}: nats_in_total (all "
                                            f"of the other survivor's, {k} "
                                            f"of P3's)")
            check_eq(mt["out_total"], n, f"{h.label}: nats_out_total")
            check_eq(mt["connected"], 1, f"{h.label}: nats_connected")
        check_quiet([h0, h1])
        # The dead hub's own members lost their connection, nothing else.
        for m in members:
            if m.hub is h2:
                wait_until(lambda: m.reader.eof or m.reader.error,
                           f"{m.name}: connection ends with its hub", tmo(5))
        stop_all(hubs)


def nats_publish(port, subject, payloads):
    """Publish payloads on subject as a plain NATS client would (the
    protocol by hand), then PING: its PONG says the server has them."""
    s = socket.create_connection((HOST, port), timeout=tmo(5))
    try:
        f = s.makefile("rb")
        check(f.readline().startswith(b"INFO "), "nats: no INFO line")
        out = [b'CONNECT {"verbose":false,"pedantic":false}\r\n']
        for p in payloads:
            out.append(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(p), p))
        s.sendall(b"".join(out) + b"PING\r\n")
        line = f.readline()
        while line.startswith(b"INFO "):
            line = f.readline()
        check_eq(line, b"PONG\r\n", "nats: answer to PING")
    finally:
        s.close()


def head_v1(seq, hub, payload, flags=0, lane=0, gen=0):
    """A numbered message as a hub sends it (docs/SCALEOUT.md)."""
    return (bytes([0xB1, flags]) + struct.pack("<HHHQQ", lane, gen, 0, hub, seq)
            + payload)


def case_bad_input(binary, suite):
    room = "ext.bad"
    subj = subject_of(room)
    # Bad flags: refused at start, with exit 2 and a line saying which.
    for flags, says in ((("--nats", ""), b"--nats"),
                        (("--nats", "nats://127.0.0.1:1",
                          "--nats-prefix", "a..b"), b"--nats-prefix"),
                        (("--nats", "nats://127.0.0.1:1",
                          "--nats-prefix", "a b"), b"--nats-prefix")):
        p = subprocess.run([binary, "--port", "0", "--admin-port", "off",
                            *flags], capture_output=True, timeout=tmo(10))
        check_eq(p.returncode, 2, f"exit status of ringcast {flags}")
        check(says in p.stderr, f"ringcast {flags} says {p.stderr!r}")
    with ExitStack() as stack:
        nats = start_nats(stack)
        (hub,) = start_hubs(stack, suite, binary, nats.urls, n=1,
                            flags=("--max-message", "4096"))
        socks = []
        for _ in range(2):
            sock, rest = ws_open(hub.port, room_path(room))
            stack.callback(sock.close)
            socks.append((sock, FrameReader(sock, rest)))
        wait_metric([hub], "subscriptions", 1, "the room's subscription")
        wait_until(lambda: nats.interest(subj)[0] == 1,
                   "the server knows the subscription", tmo(5))
        before = nm(hub)
        nats_publish(nats.nodes[0].port, subj, [
            b"",                                    # no head: dropped
            b"garbage",                             # unknown version
            head_v1(1, 0, b"hub 0"),                # hub id 0
            bytes([0xB0, 0x04]) + b"x",             # unknown flag
            bytes([0xB0, 0x00]) + b"\xff\xfe",      # TEXT, not UTF-8
            bytes([0xB0, 0x00]) + b"external text",
            bytes([0xB0, 0x01]) + b"\x00\x01bin",   # BINARY
            head_v1(5, 77, b"n5"),                  # first heard: taken
            head_v1(5, 77, b"n5 again"),            # repeated: dropped
            head_v1(4, 77, b"n4 late"),             # late: dropped
            head_v1(8, 77, b"n8"),                  # 6, 7 missing: counted
            bytes([0xB0, 0x01]) + b"z" * 5000,      # over --max-message
            bytes([0xB0, 0x00]) + b"end",
        ])
        want = [(0x1, b"external text"), (0x2, b"\x00\x01bin"),
                (0x1, b"n5"), (0x1, b"n8"), (0x1, b"end")]
        for i, (sock, reader) in enumerate(socks):
            got = []
            while not got or got[-1] != (0x1, b"end"):
                f = reader.next()
                check(f is not None, f"member {i}: closed after {got}")
                got.append((f[1], f[2]))
                check(len(got) <= len(want), f"member {i}: got {got}")
            check_eq(got, want, f"member {i}: what the room delivered")
        after = nm(hub)
        delta = {k: after[k] - before[k] for k in
                 ("in_total", "in_dropped_total", "in_dups_total",
                  "in_gaps_total")}
        check_eq(delta, {"in_total": 5, "in_dropped_total": 6,
                         "in_dups_total": 2, "in_gaps_total": 2},
                 "nats_* counters for the bad input")
        # Both members are still there, and the room still works.
        socks[0][0].sendall(ws_frame(OP_TEXT, b"still here",
                                     key=b"\x01\x02\x03\x04"))
        for i, (sock, reader) in enumerate(socks):
            f = reader.next()
            check(f is not None, f"member {i}: closed")
            check_eq((f[1], f[2]), (0x1, b"still here"),
                     f"member {i} after the bad input")
        stop_all([hub])


def start_up():
    """What a NATS test's main() does first (this file's, and
    test_nats_history.py's): the hub from argv, exit 77 without
    nats-server, SLOW and SCALE for a sanitizer build (set here too, for
    the helpers of this file), and SIGTERM (a ctest timeout) unwinding
    the cases, so that their nats-servers and hubs are stopped on the way
    out. Returns (binary, slow, scale)."""
    global SLOW, SCALE
    binary = hub_binary()
    if not NATS_SERVER:
        print("SKIP: nats-server is not installed")
        sys.exit(77)
    san = built_with_asan(binary)
    SLOW = 4.0 if san else 1.0
    SCALE = float(os.environ.get("RC_NATS_SCALE", "0.3" if san else "1"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return binary, SLOW, SCALE


def main():
    binary, _, _ = start_up()
    suite = Suite()
    t0 = time.monotonic()
    suite.case(f"scale: 3 hubs x 1 NATS, 3 publishers x {n_of(1000)}, 7 "
               f"members on both workers: each message once, in order; "
               f"nats_* counters exact", case_scale, binary, suite)
    suite.case("interest: subscription follows membership; churn during a "
               "stream sees contiguous runs, no gap counted",
               case_interest, binary, suite)
    suite.case(f"names: {len(NAMES)} rooms ('.', '*', '>', ' ', '~', '/', "
               f"UTF-8) across hubs: spec subjects, no cross-talk",
               case_names, binary, suite)
    suite.case("nats down: rooms stay local, hubs reconnect to the "
               "restarted server, nothing lost silently, exit 0 while down",
               case_nats_down, binary, suite)
    suite.case("nats late: hubs started before NATS, and a room joined "
               "while it is down, are subscribed once it is up",
               case_nats_late, binary, suite)
    suite.case("cluster: 3 routed nats-servers, busiest node SIGKILLed "
               "mid-stream: hubs reconnect, delivery in order, losses "
               "counted", case_cluster, binary, suite)
    suite.case("hub killed mid-stream: the other hubs get every surviving "
               "publisher's message in order and a gap-free prefix of the "
               "dead hub's", case_hub_killed, binary, suite)
    suite.case("bad input from NATS: malformed, unknown flag, not UTF-8, "
               "too big dropped and counted; repeats dropped, jumps counted; "
               "other programs' messages delivered; members unaffected",
               case_bad_input, binary, suite)
    print(f"# {time.monotonic() - t0:.1f}s", flush=True)
    suite.finish()


if __name__ == "__main__":
    main()
