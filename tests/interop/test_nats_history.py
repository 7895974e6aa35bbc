#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Rooms that remember across hubs joined by NATS (issue 16): one owning hub
per room numbers its stream (docs/HISTORY.md, "Across hubs").

One nats-server (a free loopback port, stopped by PID) and three hubs with
--nats, --history-size 200 and --no-echo-self (two workers each); members
speak ringcast.v1 (python3-websockets, docs/PROTOCOL.md). The test computes
each room's owner as the hubs do (rendezvous hashing: SipHash-1-3 of the
room under the fixed key, splitmix64 of it xor the hub id, highest wins),
from the ids the hubs log ("this is hub X").

  same numbering: three rooms, owned by a different hub each, a listener
      and a publisher on every hub: every listener sees the same
      (epoch, offset) -> message mapping, offsets 1..N without a hole,
      one epoch; each publisher's messages in its order; publishers get
      everyone's messages but never their own (--no-echo-self across the
      round trip to the owner and back).
  resume on another hub: a member on hub A is cut (transport abort)
      mid-stream and comes back on hub B with its epoch and offset:
      recovered true, every missed message once and in order, then live.
  not followed: a hub that had no member while messages flowed (never, or
      one that left) answers a resume with recovered false, not with the
      stale part it holds; the owner, member or not, holds the stream and
      recovers.
  owner killed: SIGKILL the owner of a room mid-stream: within seconds the
      survivors number the room again, in a new epoch that both show alike
      (same mapping, offsets from 1 without a hole); a resume with the old
      epoch gives recovered false on both.

RC_NATS_SCALE (a factor, default 1; 0.3 in sanitizer builds) scales the
message counts. Usage: test_nats_history.py /path/to/ringcast (exit 77
without nats-server or python3-websockets)
"""
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402  (after the sys.path line)
    HOST, Hub, Suite, check, check_eq)

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets is not installed")
    sys.exit(77)

import test_nats  # noqa: E402  (its nats-server and subject names)
from test_nats import subject_of  # noqa: E402
V1 = ["ringcast.v1"]
PRESENCE = ("presence", "join", "leave")    # not about the stream
FLAGS = ("--msg-rate", "0", "--byte-rate", "0", "--conn-rate-per-ip", "0",
         "--history-size", "200", "--no-echo-self")
SLOW = 1.0              # timeout factor, 4 in sanitizer builds (main())
SCALE = 1.0             # message count factor
M64 = (1 << 64) - 1


def n_of(count):
    return max(10, int(count * SCALE))


def tmo(seconds):
    return seconds * SLOW


# ---- the owner, as the hubs choose it (src/bridge/nats.c) ----

def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & M64


def siphash13(k0, k1, data):
    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d,
         k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573]

    def rnd():
        v[0] = (v[0] + v[1]) & M64
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M64
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & M64
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & M64
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)

    def compress(m):
        v[3] ^= m
        rnd()
        v[0] ^= m

    n = len(data)
    full = n - n % 8
    for i in range(0, full, 8):
        compress(int.from_bytes(data[i:i + 8], "little"))
    tail = bytearray(data[full:]) + bytes(7 - (n - full)) + bytes([n & 255])
    compress(int.from_bytes(tail, "little"))
    v[2] ^= 0xff
    for _ in range(3):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def score(room_key, hub):
    z = room_key ^ hub
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def owner(room, ids):
    key = siphash13(0x74736163676e6972, 0x000073726e656e77, room.encode())
    return max(ids, key=lambda h: (score(key, h), h))


# ---- nats-server and hubs ----

class Nats(test_nats.Nats):
    """One nats-server, as test_nats.py starts it; waited on without
    blocking the event loop that serves the members."""

    @property
    def url(self):
        return self.urls

    async def wait_subs(self, room, want):
        """Until the server holds want subscriptions to the room's
        subject (one per hub following it)."""
        deadline = time.monotonic() + tmo(5)
        while (n := self.interest(subject_of(room))[0]) != want:
            check(time.monotonic() < deadline,
                  f"NATS: {n} subscription(s) to room {room!r}, want {want}")
            await asyncio.sleep(0.02)


def hub_id(hub):
    m = re.search(r"this is hub ([0-9a-f]{16})", hub.stderr_tail(1 << 20))
    return int(m.group(1), 16) if m else None


def hubs_settled(hubs, n):
    """Every hub counts n hubs, itself among them."""
    for h in hubs:
        lines = [ln for ln in h.stderr_tail(1 << 20).splitlines()
                 if "number rooms now" in ln]
        if not lines or f"{n} hub(s)" not in lines[-1] or \
                "not yet among them" in lines[-1]:
            return False
    return True


# ---- members ----

class Member:
    """A ringcast.v1 member: its stream of (epoch, offset, data) in a task."""

    def __init__(self, port, room, name, query=""):
        self.port, self.room, self.name = port, room, name
        self.query = query
        self.msgs = []
        self.joined = None
        self.before = []        # messages before the joined line (resent)
        self.ws = None
        self.task = None
        self.error = None

    async def open(self):
        q = "?" + self.query if self.query else ""
        self.ws = await websockets.connect(
            f"ws://{HOST}:{self.port}/ws/{urllib.parse.quote(self.room)}{q}",
            subprotocols=V1, max_queue=None)
        self.task = asyncio.ensure_future(self._read())
        await self.wait(lambda: self.joined is not None, "joined")
        return self

    async def _read(self):
        try:
            async for raw in self.ws:
                m = json.loads(raw)
                if m.get("type") in PRESENCE:
                    continue
                if m["type"] == "joined":
                    self.joined = m
                elif self.joined is None:
                    self.before.append((m["epoch"], m["offset"], m["data"]))
                else:
                    self.msgs.append((m["epoch"], m["offset"], m["data"]))
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 -- reported by wait()
            self.error = e

    async def wait(self, cond, what, timeout=None):
        deadline = time.monotonic() + (tmo(10) if timeout is None
                                       else timeout)
        while not cond():
            check(self.error is None, f"{self.name}: {self.error!r}")
            check(time.monotonic() < deadline,
                  f"{self.name}: no {what} (has {len(self.msgs)} messages, "
                  f"last {self.msgs[-1:]})")
            await asyncio.sleep(0.01)

    async def send(self, text):
        await self.ws.send(text)

    def abort(self):
        self.ws.transport.abort()
        self.task.cancel()

    async def close(self):
        await self.ws.close()
        await self.task


def check_stream(msgs, what, first=1):
    """One epoch, offsets first, first + 1, ... without a hole."""
    check(msgs, f"{what}: no messages")
    epochs = {e for e, _, _ in msgs}
    check_eq(len(epochs), 1, f"{what}: epochs seen")
    offs = [o for _, o, _ in msgs]
    want = list(range(first, first + len(offs)))
    if offs != want:
        bad = next(i for i, (a, b) in enumerate(zip(offs, want)) if a != b)
        check(False, f"{what}: offsets {offs[max(0, bad - 2):bad + 3]} "
                     f"where {want[max(0, bad - 2):bad + 3]} were due")


def diff(got, want):
    """Where two streams part."""
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"at [{i}] {a} where {b} was due"
    return f"{len(got)} messages where {len(want)} were due"


# ---- cases ----

async def case_same(nats, hubs, ids):
    """Three rooms, one owned by each hub; a listener and a publisher per
    hub and room."""
    per = n_of(60)
    rooms = []
    for k in range(1000):
        room = f"same-{k}"
        i = ids.index(owner(room, ids))
        if all(i != ids.index(owner(r, ids)) for r in rooms):
            rooms.append(room)
        if len(rooms) == 3:
            break
    listen = {r: [await Member(h.port, r, f"{r}@hub{i}").open()
                  for i, h in enumerate(hubs)] for r in rooms}
    pubs = {r: [await Member(h.port, r, f"{r}/pub@hub{i}").open()
                for i, h in enumerate(hubs)] for r in rooms}
    for r in rooms:
        await nats.wait_subs(r, 3)

    async def publish(r, i):
        for n in range(per):
            await pubs[r][i].send(f"{r}/{i}/{n}")
            await asyncio.sleep(0.002)

    await asyncio.gather(*[publish(r, i) for r in rooms for i in range(3)])
    total = 3 * per
    for r in rooms:
        for m in listen[r]:
            await m.wait(lambda m=m: len(m.msgs) >= total, f"{total} msgs")
        for i, p in enumerate(pubs[r]):
            await p.wait(lambda p=p: len(p.msgs) >= total - per,
                         f"{total - per} msgs")
        ref = listen[r][0].msgs
        check_stream(ref, listen[r][0].name)
        for m in listen[r][1:]:
            check_stream(m.msgs, m.name)
            check(m.msgs == ref, f"{m.name} and {listen[r][0].name}: "
                  f"different mappings: {diff(m.msgs, ref)}")
        # Each publisher's messages in its order, all there.
        for i in range(3):
            seq = [d for _, _, d in ref if d.startswith(f"{r}/{i}/")]
            check_eq(seq, [f"{r}/{i}/{n}" for n in range(per)],
                     f"{r}: publisher on hub{i}'s messages in order")
        # --no-echo-self: all but their own.
        for i, p in enumerate(pubs[r]):
            want = [x for x in ref if not x[2].startswith(f"{r}/{i}/")]
            check(p.msgs == want, f"{p.name}: not exactly the others' "
                  f"messages: {diff(p.msgs, want)}; own ones: "
                  f"{[x for x in p.msgs if x[2].startswith(f'{r}/{i}/')][:3]}")
    for ms in list(listen.values()) + list(pubs.values()):
        for m in ms:
            await m.close()
    epochs = {listen[r][0].msgs[0][0] for r in rooms}
    check_eq(len(epochs), 3, "three rooms, three epochs")
    print(f"     rooms {rooms} owned by hub "
          f"{[ids.index(owner(r, ids)) for r in rooms]}: {total} messages "
          f"each, identical on 3 hubs", flush=True)


async def case_resume(nats, hubs, ids):
    """Cut on hub A, back on hub B; the publisher on a third hub, none of
    them the owner where it can be helped."""
    room = next(f"resume-{k}" for k in range(1000)
                if ids.index(owner(f"resume-{k}", ids)) == 0)
    n = n_of(300)
    steady = await Member(hubs[2].port, room, "steady@hub2").open()
    a = await Member(hubs[1].port, room, "a@hub1").open()
    pub = await Member(hubs[1].port, room, "pub@hub1").open()
    await nats.wait_subs(room, 2)

    async def publish():
        for i in range(1, n + 1):
            await pub.send(f"p{i}")
            await asyncio.sleep(0.003)

    task = asyncio.ensure_future(publish())
    await a.wait(lambda: len(a.msgs) >= n // 5, f"{n // 5} messages")
    a.abort()
    epoch, last = a.msgs[-1][0], a.msgs[-1][1]
    check_stream(a.msgs, a.name)
    await asyncio.sleep(0.15)
    b = await Member(hubs[2].port, room, "b@hub2",
                     f"epoch={epoch}&offset={last}").open()
    check_eq((b.joined["epoch"], b.joined.get("recovered")), (epoch, True),
             "joined on another hub with the epoch and offset of the first")
    check(b.before, "nothing was missed in 150 ms of 3 ms messages")
    await task
    await b.wait(lambda: b.msgs and b.msgs[-1][2] == f"p{n}", f"p{n}")
    got = b.before + b.msgs
    check_stream(got, "b: missed, then live", first=last + 1)
    check_eq([d for _, _, d in got], [f"p{i}" for i in range(last + 1, n + 1)],
             "b: the messages after the cut, each once, in order")
    await steady.wait(lambda: len(steady.msgs) >= n, f"{n} messages")
    check_eq([d for _, _, d in steady.msgs], [f"p{i}" for i in
                                              range(1, n + 1)],
             "steady member on the resuming hub")
    check(steady.msgs[last:] == got, "b and a steady member of its hub: "
          "the same positions")
    for m in (steady, pub, b):
        await m.close()
    print(f"     cut at offset {last} on hub1, {len(b.before)} recovered on "
          f"hub2, then live to {n}", flush=True)


async def case_unfollowed(nats, hubs, ids):
    """Owner hub0 without members; members on hub1; hub2 follows for a
    while, then leaves."""
    room = next(f"unf-{k}" for k in range(1000)
                if ids.index(owner(f"unf-{k}", ids)) == 0)
    m1 = await Member(hubs[1].port, room, "m@hub1").open()
    m2 = await Member(hubs[2].port, room, "m@hub2").open()
    pub = await Member(hubs[1].port, room, "pub@hub1").open()
    await nats.wait_subs(room, 2)
    for i in range(1, 11):
        await pub.send(f"u{i}")
    await m2.wait(lambda: len(m2.msgs) >= 10, "10 messages")
    epoch = m2.msgs[0][0]
    await m2.close()
    await nats.wait_subs(room, 1)       # hub2 stopped following
    for i in range(11, 21):
        await pub.send(f"u{i}")
    await m1.wait(lambda: len(m1.msgs) >= 20, "20 messages")
    check_stream(m1.msgs, m1.name)
    # hub2 holds u1..u10 from when it followed: stale, never answered from.
    r = await Member(hubs[2].port, room, "r@hub2",
                     f"epoch={epoch}&offset=5").open()
    check_eq((r.joined.get("recovered"), r.before), (False, []),
             "a resume on a hub that stopped following the room")
    await r.close()
    # The owner numbered it all, member or not.
    o = await Member(hubs[0].port, room, "r@hub0",
                     f"epoch={epoch}&offset=5").open()
    check_eq(o.joined.get("recovered"), True, "a resume on the room's owner")
    check_eq([d for _, _, d in o.before], [f"u{i}" for i in range(6, 21)],
             "what the owner resends")
    await o.close()
    # A hub that never had a member (room 2, owned by hub1; members on
    # hub0 only).
    room2 = next(f"never-{k}" for k in range(1000)
                 if ids.index(owner(f"never-{k}", ids)) == 1)
    m0 = await Member(hubs[0].port, room2, "m@hub0").open()
    await nats.wait_subs(room2, 1)
    for i in range(1, 6):
        await m0.send(f"n{i}")
    p0 = await Member(hubs[0].port, room2, "p@hub0").open()
    await m0.send("n6")
    await p0.wait(lambda: p0.msgs, "n6")
    epoch2 = p0.msgs[0][0]
    r = await Member(hubs[2].port, room2, "r@hub2",
                     f"epoch={epoch2}&offset=3").open()
    check_eq((r.joined.get("recovered"), r.before), (False, []),
             "a resume on a hub that never had a member of the room")
    for m in (r, m0, p0, m1, pub):
        await m.close()


async def case_owner_killed(nats, hubs, ids):
    room = next(f"kill-{k}" for k in range(1000)
                if ids.index(owner(f"kill-{k}", ids)) == 0)
    lis = [await Member(hubs[i].port, room, f"l@hub{i}").open()
           for i in (1, 2)]
    pubs = [await Member(hubs[i].port, room, f"p@hub{i}").open()
            for i in (1, 2)]
    await nats.wait_subs(room, 2)
    pre = n_of(20)
    for k in range(pre):
        for j, p in enumerate(pubs):
            await p.send(f"a{j}/{k}")
    for m in lis:
        await m.wait(lambda m=m: len(m.msgs) >= 2 * pre, f"{2 * pre} msgs")
        check_stream(m.msgs, m.name)
    e1, last1 = lis[0].msgs[-1][0], lis[0].msgs[-1][1]
    hubs[0].proc.send_signal(signal.SIGKILL)     # ours, by PID
    hubs[0].stopping = True
    t_kill = time.monotonic()
    first_new = None
    k = 0
    # Both survivors publish every 20 ms until the room is numbered again
    # and 20 more went through.
    while True:
        for j, p in enumerate(pubs):
            await p.send(f"b{j}/{k}")
        k += 1
        await asyncio.sleep(0.02)
        new = [x for x in lis[0].msgs if x[0] != e1]
        if new and first_new is None:
            first_new = time.monotonic() - t_kill
        if len(new) >= 40:
            break
        check(time.monotonic() - t_kill < tmo(8),
              "the room is not numbered again 8 s after its owner died")
    check(first_new < tmo(3), f"numbered again {first_new:.2f}s after the "
          f"owner died")
    for x in range(5):
        for j, p in enumerate(pubs):
            await p.send(f"c{j}/{x}")
    for m in lis:
        await m.wait(lambda m=m: any(x[2] == "c1/4" for x in m.msgs) and
                     any(x[2] == "c0/4" for x in m.msgs), "c*/4")
    after = [[x for x in m.msgs if x[0] != e1] for m in lis]
    e2 = after[0][-1][0]
    for m, a in zip(lis, after):
        tail = [x for x in a if x[0] == e2]
        check_stream(tail, f"{m.name}: the new epoch")
        # The old epoch as it was, up to where the owner died.
        check_stream([x for x in m.msgs if x[0] == e1], f"{m.name}: old")
    check(after[0] == after[1], "the survivors disagree after the kill: "
          f"{after[0][:4]}... vs {after[1][:4]}...")
    # Resumes with the old epoch: recovered false on both.
    for i in (1, 2):
        r = await Member(hubs[i].port, room, f"r@hub{i}",
                         f"epoch={e1}&offset={last1}").open()
        check_eq((r.joined.get("recovered"), r.joined["epoch"]), (False, e2),
                 f"resume with the dead owner's epoch on hub{i}")
        await r.close()
    for x in range(5):
        await pubs[0].send(f"d{x}")
    for m in lis:
        await m.wait(lambda m=m: m.msgs[-1][2] == "d4", "d4")
    after = [[x for x in m.msgs if x[0] == e2] for m in lis]
    check(after[0] == after[1], "the survivors disagree later on")
    for m in lis + pubs:
        await m.close()
    print(f"     owner hub0 killed: numbered again after {first_new:.2f}s "
          f"(epoch {e1} -> {e2}, {len(after[0])} messages since, identical "
          f"on both survivors)", flush=True)


def _cpu_s(hub):
    """The hub's user + system CPU seconds so far."""
    with open(f"/proc/{hub.proc.pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def case_idle_beats(nats, hubs):
    """Idle hubs beat every 250 ms and sleep in between: NATS gets about 4
    messages a second from each, and no hub spins. (The heartbeat thread
    once waited on the wall clock for a monotonic time, so it never slept:
    thousands of beats a second and a CPU each.)"""
    node = nats.nodes[0]
    m0, c0 = node.mon("/varz")["in_msgs"], [_cpu_s(h) for h in hubs]
    t0 = time.monotonic()
    time.sleep(2.0)
    m1, c1 = node.mon("/varz")["in_msgs"], [_cpu_s(h) for h in hubs]
    took = time.monotonic() - t0
    rate = (m1 - m0) / took / len(hubs)
    used = [round((b - a) / took, 3) for a, b in zip(c0, c1)]
    check(2 <= rate <= 12, f"{rate:.1f} messages a second to NATS per idle "
                           "hub, want about 4 (a beat every 250 ms)")
    check(max(used) < 0.2, f"idle hubs used {used} of a CPU each (a "
                           "spinning thread?)")
    print(f"     {rate:.1f} beats/s per hub, CPU {used}", flush=True)


def case_bye(hubs):
    t0 = time.monotonic()
    hubs[1].check_clean_exit()
    while "left)" not in hubs[2].stderr_tail(4000):
        check(time.monotonic() - t0 < tmo(1.2),
              "hub2 still counts hub1 1.2 s after its SIGTERM: "
              + hubs[2].stderr_tail(600))
        time.sleep(0.01)
    check(hubs_settled(hubs[2:], 1), "hub2 does not count itself alone: "
          + hubs[2].stderr_tail(600))
    print(f"     hub1 gone for hub2 {time.monotonic() - t0:.2f}s after "
          f"SIGTERM (exit included)", flush=True)
    hubs[2].check_clean_exit()


async def settle(hubs, n):
    deadline = time.monotonic() + tmo(5)
    while not hubs_settled(hubs, n):
        check(time.monotonic() < deadline,
              f"the hubs do not agree on {n} hubs: " +
              " | ".join(h.stderr_tail(400) for h in hubs))
        await asyncio.sleep(0.05)


def main():
    global SLOW, SCALE
    binary, SLOW, SCALE = test_nats.start_up()
    suite = Suite()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        nats = Nats(tmp)
        hubs = []
        try:
            for _ in range(3):
                hubs.append(suite.watch(Hub(binary, "--nats", nats.url,
                                            *FLAGS)))
            asyncio.run(settle(hubs, 3))
            ids = [hub_id(h) for h in hubs]
            check(all(ids), f"hub ids in the logs: {ids}")
            suite.case("idle hubs beat about 4 times a second each and "
                       "do not spin", case_idle_beats, nats, hubs)
            suite.case(f"same numbering: 3 rooms owned by different hubs, "
                       f"a publisher and a listener per hub: one mapping "
                       f"everywhere, offsets 1..N, --no-echo-self across "
                       f"the owner", lambda: asyncio.run(
                           case_same(nats, hubs, ids)))
            suite.case("cut on one hub, resumed on another: recovered, "
                       "each missed message once, in order, then live",
                       lambda: asyncio.run(case_resume(nats, hubs, ids)))
            suite.case("hubs that did not follow the room answer "
                       "recovered false; the owner recovers",
                       lambda: asyncio.run(case_unfollowed(nats, hubs,
                                                           ids)))
            suite.case("owner SIGKILLed mid-stream: numbered again within "
                       "seconds in a new epoch, the same on both "
                       "survivors; the old epoch gives recovered false",
                       lambda: asyncio.run(case_owner_killed(nats, hubs,
                                                             ids)))
            suite.case("a hub stopped (SIGTERM) says so: the other counts "
                       "it gone at once, not 1.5 s later; both exit 0",
                       case_bye, hubs)
        finally:
            for h in hubs:
                h.stop()
            nats.kill()
    print(f"# {time.monotonic() - t0:.1f}s", flush=True)
    suite.finish()


if __name__ == "__main__":
    main()
