#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Who is in a room, through the hub's ringcast.v1 subprotocol, with
python3-websockets as the client (docs/PROTOCOL.md, "Presence"):

- a v1 member gets a presence line after joined (count, members with their
  token's sub); the others get join and leave lines, never their own; plain
  members are counted and listed but never get a control line;
- churn: members joining and leaving at random, concurrently: an observer
  that applies presence/join/leave ends with exactly the hub's member set
  (GET /presence/ROOM on the admin listener) and count;
- a room over --presence-max: no join/leave lines, a count line at most
  about once a second, ending on the right count; a newcomer's presence
  line has the count only; back under the limit, a snapshot lists the
  members again;
- the longest member list a line carries (113 members with 255-byte subs,
  ids of 16 hex digits), and a sub too long for a label (null);
- 1,100 big rooms changing within a second: a watched room still gets its
  count line;
- /presence/ROOM only on the admin listener; a bad room name is a 400.

usage: test_presence.py /path/to/ringcast
"""
import asyncio
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Hub, Suite, check, check_eq, hub_binary  # noqa: E402

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets is not installed")
    sys.exit(77)
try:
    import jwt
except ImportError:
    print("SKIP: python3-jwt is not installed")
    sys.exit(77)

V1 = ["ringcast.v1"]
T = 10.0
SECRET = os.urandom(16).hex()


def token(sub):
    return jwt.encode({"exp": int(time.time()) + 300, "sub": sub,
                       "rooms": ["p1", "p2"]},
                      SECRET, algorithm="HS256")


async def recv_json(ws, what, timeout=T, snapshots=False):
    """The next line; snapshots (presence lines the hub sends at most once
    a second after changes) are passed over unless asked for."""
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no message within {timeout}s: {what}") from None
        check(isinstance(raw, str), f"{what}: TEXT, got {raw!r}")
        m = json.loads(raw)
        if snapshots or m.get("type") != "presence":
            return m


async def join_v1(port, room, sub=None):
    """A v1 member: returns (ws, its presence line)."""
    q = f"?token={token(sub)}" if sub is not None else ""
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/{room}{q}",
                                  subprotocols=V1)
    j = await recv_json(ws, "joined")
    check_eq(j["type"], "joined", "the first line")
    p = await recv_json(ws, "presence", snapshots=True)
    check_eq(p["type"], "presence", "the line after joined")
    check_eq(p["room"], room, "presence room")
    return ws, p


def admin_presence(hub, room):
    with urllib.request.urlopen(f"http://127.0.0.1:{hub.admin_port}"
                                f"/presence/{room}", timeout=T) as r:
        check_eq(r.headers["Content-Type"], "application/json",
                 "content type")
        return json.loads(r.read())


async def no_more(ws, what, wait=0.3):
    """Nothing but snapshots within @wait."""
    end = time.monotonic() + wait
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), end - time.monotonic())
        except asyncio.TimeoutError:
            return
        if json.loads(raw).get("type") != "presence":
            raise AssertionError(f"{what}: unexpected {raw!r}")


async def lists_and_events(hub):
    port = hub.port
    alice, p = await join_v1(port, "p1", "alice")
    check_eq(p["count"], 1, "alone")
    check_eq([m["sub"] for m in p["members"]], ["alice"], "alone: listed")
    me = p["members"][0]["id"]
    check(isinstance(me, str) and int(me, 16) > 0, f"id {me!r}")

    bob, p = await join_v1(port, "p1", "bob")
    check_eq((p["count"], sorted(m["sub"] for m in p["members"])),
             (2, ["alice", "bob"]), "bob's presence line")
    bob_id = [m["id"] for m in p["members"] if m["sub"] == "bob"][0]
    ev = await recv_json(alice, "bob's join")
    check_eq(ev, {"type": "join", "room": "p1", "id": bob_id, "sub": "bob",
                  "count": 2}, "alice hears of bob")
    await no_more(bob, "bob's own join")

    # A sub that needs escaping comes back as it was.
    odd = 'carol "the" \\ \u00e9'
    carol, p = await join_v1(port, "p1", odd)
    check(odd in [m["sub"] for m in p["members"]], "escaped sub listed")
    for ws in (alice, bob):
        ev = await recv_json(ws, "carol's join")
        check_eq((ev["type"], ev["sub"], ev["count"]), ("join", odd, 3),
                 "carol's join")

    # A plain member (no subprotocol): counted and listed, told nothing.
    plain = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/p1?token={token('dave')}")
    for ws in (alice, bob, carol):
        ev = await recv_json(ws, "dave's join")
        check_eq((ev["type"], ev["sub"], ev["count"]), ("join", "dave", 4),
                 "a plain member's join")
    listing = admin_presence(hub, "p1")
    check_eq((listing["room"], listing["count"], listing["truncated"]),
             ("p1", 4, False), "admin listing")
    check_eq(sorted(m["sub"] for m in listing["members"]),
             sorted(["alice", "bob", odd, "dave"]), "admin members")

    await bob.close()
    for ws in (alice, carol):
        ev = await recv_json(ws, "bob's leave")
        check_eq(ev, {"type": "leave", "room": "p1", "id": bob_id,
                      "sub": "bob", "count": 3}, "bob's leave")
    # A message: the plain member's first frame is it, not a control line.
    await alice.send("hello")
    mine = await recv_json(alice, "alice's own message")
    check_eq((mine["type"], mine["data"]), ("msg", "hello"), "echo to self")
    got = await asyncio.wait_for(plain.recv(), T)
    check_eq(got, '{"from":"alice","data":"hello"}',
             "the plain member's first frame is the message")
    m = await recv_json(carol, "the message")
    check_eq((m["type"], m["from"], m["data"]), ("msg", "alice", "hello"),
             "v1 envelope")
    # Rooms are apart.
    other, p = await join_v1(port, "p2", "erin")
    check_eq(p["count"], 1, "another room")
    await no_more(alice, "erin's join in another room")
    for ws in (alice, carol, plain, other):
        await ws.close()


async def churn(hub, members=30, seconds=2.0):
    port = hub.port
    obs, p = await join_v1(port, "p3")
    known = {m["id"] for m in p["members"]}
    count = p["count"]
    stop = asyncio.Event()

    async def observe():
        nonlocal count
        while not stop.is_set() or True:
            try:
                raw = await asyncio.wait_for(obs.recv(), 1.0)
            except asyncio.TimeoutError:
                if stop.is_set():
                    return
                continue
            ev = json.loads(raw)
            if ev["type"] == "join":
                known.add(ev["id"])
            elif ev["type"] == "leave":
                known.discard(ev["id"])
            elif "members" in ev:       # a snapshot: what is true
                known.clear()
                known.update(m["id"] for m in ev["members"])
            count = ev.get("count", count)

    rng = random.Random(16)
    alive = []

    async def one(i):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            v1 = rng.random() < 0.5
            # (max_queue=None: lines nobody reads must not hold up
            # the close handshake behind a full queue.)
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/p3",
                subprotocols=V1 if v1 else None, max_queue=None)
            await asyncio.sleep(rng.uniform(0, 0.2))
            if rng.random() < 0.3:
                alive.append(ws)      # stays
                return
            await ws.close()
            await asyncio.sleep(rng.uniform(0, 0.1))

    watcher = asyncio.create_task(observe())
    await asyncio.gather(*(one(i) for i in range(members)))
    await asyncio.sleep(1.5)          # the snapshot after the last change
    stop.set()
    await watcher
    truth = admin_presence(hub, "p3")
    check_eq(truth["count"], len(alive) + 1, "the hub's count")
    check_eq(count, truth["count"], "the observer's last count")
    check_eq(known, {m["id"] for m in truth["members"]},
             "the observer's member set")
    for ws in alive:
        await ws.close()
    await obs.close()


async def big_room(hub, n=20):
    port = hub.port
    obs, p = await join_v1(port, "big")
    lines = []

    want = {"type": "presence", "room": "big", "count": n + 2}
    settled = asyncio.Event()

    async def observe():
        # Until the count line for the whole crowd (and a little after,
        # for a stray line), or a deadline a slow build still meets.
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                raw = await asyncio.wait_for(obs.recv(), 0.2)
                lines.append((time.monotonic(), json.loads(raw)))
            except asyncio.TimeoutError:
                pass
            if settled.is_set() and lines and lines[-1][1] == want:
                end = min(end, time.monotonic() + 0.3)

    t0 = time.monotonic()
    watcher = asyncio.create_task(observe())
    crowd = []
    for i in range(n):
        crowd.append(await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/big", subprotocols=V1,
            max_queue=None))
        await asyncio.sleep(0.1)        # joins spread over 2 s
    late, lp = await join_v1(port, "big")
    check_eq(lp["count"], n + 2, "a newcomer in a big room: the count")
    check("members" not in lp, "a big room's presence line lists nobody")
    settled.set()
    await watcher
    joins = [m for _, m in lines if m["type"] == "join"]
    counts = [(t, m) for t, m in lines if m["type"] == "presence"]
    # The first joins (up to --presence-max 5 members) are lines; past it,
    # counts only.
    check_eq([m["count"] for m in joins], [2, 3, 4, 5],
             "join lines until the room is bigger than --presence-max")
    took = counts[-1][0] - t0 if counts else 0
    check(2 <= len(counts) <= took + 2,
          f"count lines at most about once a second: {len(counts)} in "
          f"{took:.1f} s")
    check_eq(counts[-1][1], {"type": "presence", "room": "big",
                             "count": n + 2}, "the last count line")
    # Back under the limit: a snapshot lists the members again, which
    # `late` (it joined a big room) never had.
    for ws in crowd:
        await ws.close()
    t_end = time.monotonic() + 3
    snap = None
    while snap is None and time.monotonic() < t_end:
        m = await recv_json(late, "a snapshot once the room is small",
                            snapshots=True)
        if m["type"] == "presence" and "members" in m:
            snap = m
    check(snap is not None, "no snapshot with members after the room shrank")
    check_eq((snap["count"], len(snap["members"])), (2, 2),
             "the snapshot of the room back to 2")
    await late.close()
    await obs.close()


async def largest_line(hub, n=113):
    """--presence-max 113 members with 255-byte subs on 6 workers (ids of
    16 hex digits): the longest member list a line can carry, then a sub
    whose escaped form is longer than a label holds (listed as null)."""
    port = hub.port
    long_sub = lambda i: f"{i:03d}" + "x" * 252             # noqa: E731
    members = []
    for i in range(n - 1):
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/p1?token={token(long_sub(i))}",
            max_queue=None)
        members.append(ws)
    last, p = await join_v1(port, "p1", long_sub(n - 1))
    check_eq(p["count"], n, "count")
    check_eq(sorted(m["sub"] for m in p["members"]),
             sorted(long_sub(i) for i in range(n)), "every 255-byte sub")
    check(any(len(m["id"]) == 16 for m in p["members"]),
          "ids of 16 hex digits (workers 4 and up)")
    listing = admin_presence(hub, "p1")
    check_eq((listing["count"], len(listing["members"])), (n, n),
             "the admin listing")
    # 200 quotes: 400 bytes escaped, over a label's 255: listed as null,
    # and its join line says null too.
    odd, _ = await join_v1(port, "p2", '"' * 200)
    watcher, p2 = await join_v1(port, "p2", "w")
    check_eq(sorted(str(m["sub"]) for m in p2["members"]), ["None", "w"],
             "a sub too long for a label: null")
    for ws in members + [last, odd, watcher]:
        await ws.close()


async def many_big_rooms(hub, rooms=1100):
    """--presence-max 0 (every room big): more rooms change within a
    second than the old fixed set held; a watched room still gets its
    count line."""
    port = hub.port
    obs, p = await join_v1(port, "victim")
    check_eq((p["count"], "members" in p), (1, False), "count only")
    crowd = []
    for k in range(0, rooms, 100):
        crowd += await asyncio.gather(*(websockets.connect(
            f"ws://127.0.0.1:{port}/ws/r{i}") for i in range(k, k + 100)))
    second = await websockets.connect(f"ws://127.0.0.1:{port}/ws/victim")
    end = time.monotonic() + 4
    last = None
    while time.monotonic() < end and (last is None or last["count"] != 2):
        last = await recv_json(obs, "victim's count", snapshots=True)
    check_eq(last, {"type": "presence", "room": "victim", "count": 2},
             "the watched room's count line")
    for ws in crowd + [second, obs]:
        await ws.close()


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=T) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def bad_flags(binary):
    import subprocess
    for v in ("1001", "x", "-1", ""):
        r = subprocess.run([binary, "--presence-max", v, "--port", "0",
                            "--admin-port", "off"], capture_output=True,
                           timeout=10)
        check_eq(r.returncode, 2, f"--presence-max {v!r}: exit status")
        check(b"--presence-max" in r.stderr,
              f"--presence-max {v!r}: the error names the flag: {r.stderr!r}")


def main():
    binary = hub_binary()
    suite = Suite()
    suite.case("--presence-max over 1000 or not a number: exit 2, named",
               lambda: bad_flags(binary))
    with suite.watch(Hub(binary, "--auth-secret", SECRET)) as hub:
        suite.case("presence line, join and leave with subs, plain members "
                   "counted and never told, the admin listing",
                   lambda: asyncio.run(lists_and_events(hub)))
    with suite.watch(Hub(binary)) as hub:
        suite.case("churn: the observer's set equals the hub's",
                   lambda: asyncio.run(churn(hub)))
        suite.case("/presence only on the admin listener; bad names 400",
                   lambda: (check_eq(http_status(
                       f"http://127.0.0.1:{hub.port}/presence/p3"), 404,
                       "public listener"), check_eq(http_status(
                           f"http://127.0.0.1:{hub.admin_port}/presence/"
                           "%ZZ"), 400, "bad room name")))
        hub.check_clean_exit()
    with suite.watch(Hub(binary, "--auth-secret", SECRET, "--presence-max",
                         "113", threads=6)) as hub:
        suite.case("the longest member list (113 x 255-byte subs, 6 "
                   "workers); a sub too long for a label",
                   lambda: asyncio.run(largest_line(hub)))
        hub.check_clean_exit()
    with suite.watch(Hub(binary, "--presence-max", "0",
                         "--conn-rate-per-ip", "0",
                         "--max-conns-per-ip", "0")) as hub:
        suite.case("1,100 big rooms changing at once: a watched room still "
                   "gets its count", lambda: asyncio.run(many_big_rooms(hub)))
        hub.check_clean_exit()
    with suite.watch(Hub(binary, "--presence-max", "5")) as hub:
        suite.case("a room over --presence-max: count lines, at most about "
                   "once a second", lambda: asyncio.run(big_room(hub)))
        hub.check_clean_exit()
    suite.finish()


if __name__ == "__main__":
    main()
