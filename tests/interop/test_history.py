#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Rooms that remember, through the hub's ringcast.v1 subprotocol, with
python3-websockets as the client (docs/PROTOCOL.md):

- a newcomer asking for the last N gets them in envelopes (room, epoch,
  offset, from, data), then a "joined" line, then live messages;
- a member whose TCP connection is cut mid-stream reconnects with its last
  offset and gets every message it missed once and in order, then live
  ones, while the publisher never stops;
- an offset out of the window, or an epoch of a hub that restarted, gives
  "recovered": false and nothing of the history;
- members without the subprotocol get the messages as they were sent;
  BINARY reaches v1 members as base64.

usage: test_history.py /path/to/ringcast
"""
import asyncio
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Hub, Suite, check, check_eq, hub_binary  # noqa: E402

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets is not installed")
    sys.exit(77)

V1 = ["ringcast.v1"]
T = 10.0                    # longest wait for a message that is due


PRESENCE = ("presence", "join", "leave")   # tests/interop/test_presence.py


async def recv_json(ws, what):
    """The next v1 line that is not about presence."""
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), T)
        except asyncio.TimeoutError:
            raise AssertionError(f"no message within {T}s: {what}") from None
        check(isinstance(raw, str),
              f"{what}: a v1 message is TEXT, got {raw!r}")
        m = json.loads(raw)
        if m.get("type") not in PRESENCE:
            return m


async def publish(port, room, texts):
    """Publish each text from a plain member, waiting for its own echo
    (so each is in the room's history when this returns)."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/{room}") as p:
        for t in texts:
            await p.send(t)
        for t in texts:
            got = await asyncio.wait_for(p.recv(), T)
            check_eq(got, t, "the publisher's own echo")


async def newcomer(port):
    await publish(port, "r1", [f"m{i}" for i in range(1, 11)])
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/r1?last=5",
                                  subprotocols=V1) as c:
        check_eq(c.subprotocol, "ringcast.v1", "negotiated subprotocol")
        msgs = [await recv_json(c, f"history {i}") for i in range(5)]
        joined = await recv_json(c, "joined")
        epoch = msgs[0]["epoch"]
        check(isinstance(epoch, int) and 0 < epoch < 2 ** 53,
              f"epoch {epoch!r}")
        for i, m in enumerate(msgs):
            check_eq((m["type"], m["room"], m["epoch"], m["offset"],
                      m["from"], m["data"]),
                     ("msg", "r1", epoch, 6 + i, None, f"m{6 + i}"),
                     f"history message {i}")
        check_eq(joined, {"type": "joined", "room": "r1", "epoch": epoch,
                          "offset": 10}, "the joined line")
        # then live, in the same envelope, from a plain member
        await publish(port, "r1", ["live"])
        m = await recv_json(c, "live")
        check_eq((m["offset"], m["data"]), (11, "live"), "live message")
        # BINARY: base64
        async with websockets.connect(
                f"ws://127.0.0.1:{port}/ws/r1") as p:
            await p.send(b"\x00\xffbin")
            await asyncio.wait_for(p.recv(), T)
        m = await recv_json(c, "binary")
        check_eq((m["offset"], m.get("binary"),
                  base64.b64decode(m["data"])),
                 (12, True, b"\x00\xffbin"), "binary message")


async def recovery(port):
    """The publisher sends n messages 3 ms apart; member A reads ~80, is
    cut (TCP aborted, no close), comes back 150 ms later with its last
    offset: every offset after it arrives once, in order, to the end."""
    n = 400
    room = "r2"
    done = asyncio.Event()

    async def publisher():
        async with websockets.connect(
                f"ws://127.0.0.1:{port}/ws/{room}") as p:
            for i in range(1, n + 1):
                await p.send(f"p{i}")
                await asyncio.sleep(0.003)
            # (its echoes are not read: the hub's queue for it is small)
        done.set()

    pub = asyncio.ensure_future(publisher())
    a = await websockets.connect(f"ws://127.0.0.1:{port}/ws/{room}",
                                 subprotocols=V1)
    joined = await recv_json(a, "first joined")
    check_eq(joined["type"], "joined", "first line of a newcomer")
    epoch, last = joined["epoch"], joined["offset"]
    got = []
    while len(got) < 80:
        m = await recv_json(a, "before the cut")
        check_eq(m["offset"], last + 1, "offsets before the cut")
        # (joined in an empty room says epoch 0: the stream's epoch
        # comes with its first message)
        epoch, last = m["epoch"], m["offset"]
        got.append(last)
    a.transport.abort()         # the phone lost signal: no close frame
    await asyncio.sleep(0.15)
    b = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/{room}?epoch={epoch}&offset={last}",
        subprotocols=V1)
    missed = 0
    while True:
        m = await recv_json(b, "after the cut")
        if m["type"] == "joined":
            check_eq((m["epoch"], m["recovered"]), (epoch, True),
                     "joined after the cut")
            check_eq(m["offset"], last, "joined continues from the "
                     "last missed message")
            break
        check_eq((m["type"], m["offset"], m["data"]),
                 ("msg", last + 1, f"p{last + 1}"), "missed message")
        last = m["offset"]
        missed += 1
    check(missed > 0, "nothing was missed in 150 ms of 3 ms messages")
    while last < n:
        m = await recv_json(b, "live after the cut")
        check_eq((m["offset"], m["data"]), (last + 1, f"p{last + 1}"),
                 "live message after the seam")
        last = m["offset"]
    await b.close()
    await pub
    print(f"     cut after offset {got[-1]}, {missed} missed messages "
          f"recovered, then live to {n}: each once, in order", flush=True)


async def not_recovered(port):
    await publish(port, "r3", [f"q{i}" for i in range(1, 51)])
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/r3?last=1",
                                  subprotocols=V1) as c:
        m = await recv_json(c, "last one")
        epoch = m["epoch"]
        await recv_json(c, "joined")
    # offset 5 fell out of a 20-message window
    async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/r3?epoch={epoch}&offset=5",
            subprotocols=V1) as c:
        m = await recv_json(c, "joined out of the window")
        check_eq((m["type"], m["recovered"], m["offset"]),
                 ("joined", False, 50), "an offset out of the window")
    # an epoch this hub never gave
    async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/r3?epoch={epoch ^ 1}&offset=49",
            subprotocols=V1) as c:
        m = await recv_json(c, "joined in another epoch")
        check_eq((m["type"], m["recovered"]), ("joined", False),
                 "another epoch")
    return epoch


async def bad_queries(port):
    """Resume parameters that do not parse are a newcomer's: a joined line
    without "recovered" and nothing before it; ?last is capped at the
    history; the room's other members are not disturbed."""
    await publish(port, "r5", [f"b{i}" for i in range(1, 31)])
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/r5") as raw:
        for q in ("epoch=abc&offset=5", "epoch=1&offset=-1",
                  "epoch=%ZZ&offset=3", "offset=7", "last=x",
                  "epoch=99999999999999999999999&offset=1"):
            async with websockets.connect(
                    f"ws://127.0.0.1:{port}/ws/r5?{q}",
                    subprotocols=V1) as c:
                m = await recv_json(c, f"?{q}")
                check_eq((m["type"], "recovered" in m), ("joined", False),
                         f"?{q}: a newcomer's joined line")
        # 2^32 and 2^32 + 100 once read as 0 and 100 (cut to 32 bits
        # before the cap); 20 digits are past UINT64_MAX.
        for n in ("99999999", "4294967296", "4294967396",
                  "99999999999999999999"):
            async with websockets.connect(
                    f"ws://127.0.0.1:{port}/ws/r5?last={n}",
                    subprotocols=V1) as c:
                msgs = []
                while True:
                    m = await recv_json(c, f"?last={n}")
                    if m["type"] == "joined":
                        break
                    msgs.append(m["offset"])
                check_eq(msgs, list(range(11, 31)), f"?last={n}, past the "
                         "history: the 20 it holds")
        await publish(port, "r5", ["still here"])
        check_eq(await asyncio.wait_for(raw.recv(), T), "still here",
                 "the plain member after the bad queries")


async def plain_member(port):
    """A member without the subprotocol gets the bytes as sent."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/r4") as raw:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/r4",
                                      subprotocols=V1) as v1:
            await recv_json(v1, "joined")
            await raw.send("plain text")
            check_eq(await asyncio.wait_for(raw.recv(), T), "plain text",
                     "the plain member's echo")
            m = await recv_json(v1, "the v1 member's copy")
            check_eq(m["data"], "plain text", "v1 envelope data")


def main():
    binary = hub_binary()
    suite = Suite()
    t0 = time.monotonic()
    flags = ("--history-size", "20")
    with suite.watch(Hub(binary, *flags)) as hub:
        suite.case("newcomer ?last=5: five envelopes, joined, then live "
                   "and binary", lambda: asyncio.run(newcomer(hub.port)))
        suite.case("members without ringcast.v1 get the bytes as sent",
                   lambda: asyncio.run(plain_member(hub.port)))
        suite.case("resume parameters that do not parse: a newcomer; "
                   "?last capped; other members unaffected",
                   lambda: asyncio.run(bad_queries(hub.port)))
        epoch = []
        suite.case("an offset out of the window, an unknown epoch: "
                   "recovered false",
                   lambda: epoch.append(asyncio.run(
                       not_recovered(hub.port))))
    with suite.watch(Hub(binary, "--history-size", "1000")) as hub:
        suite.case("TCP cut mid-stream, back with the last offset: every "
                   "missed message once and in order, then live",
                   lambda: asyncio.run(recovery(hub.port)))
        if epoch:
            async def restarted():
                await publish(hub.port, "r3", ["after a restart"])
                async with websockets.connect(
                        f"ws://127.0.0.1:{hub.port}/ws/r3?epoch="
                        f"{epoch[0]}&offset=50", subprotocols=V1) as c:
                    m = await recv_json(c, "joined after a restart")
                    check_eq((m["type"], m["recovered"]), ("joined", False),
                             "the epoch of a hub that restarted")
            suite.case("a hub restarted: the old epoch gives recovered "
                       "false", lambda: asyncio.run(restarted()))
        hub.check_clean_exit()
    print(f"# {time.monotonic() - t0:.1f}s")
    suite.finish()


if __name__ == "__main__":
    main()
