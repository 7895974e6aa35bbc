#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Interop with a client we did not write: python3-websockets (asyncio API).

Handshake, echo of text and binary at every length-encoding boundary up to
1 MiB, fragmented messages, ping/pong, close codes, subprotocols, many
concurrent clients, and close 1001 for everyone on SIGTERM.

Usage: test_python.py /path/to/ringcast    (exit 77 if websockets is missing)
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TIMEOUT, Hub, Suite, check, check_eq,  # noqa: E402
                     http_get, hub_binary)

try:
    import websockets
    from websockets.exceptions import InvalidStatusCode
except ImportError:
    print("SKIP: python3-websockets is not installed")
    sys.exit(77)

SIZES = (0, 1, 125, 126, 127, 65535, 65536, 1 << 20)
CLIENTS, MESSAGES = 50, 20


def connect(url, **kw):
    return websockets.connect(url, max_size=None, open_timeout=TIMEOUT,
                              close_timeout=TIMEOUT, **kw)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def roundtrip(ws, message):
    await ws.send(message)
    got = await recv(ws)
    check_eq(type(got), type(message), "echoed message type")
    check_eq(got, message, f"echo of a {len(message)}-long message")


def text_of(n):
    """Exactly n bytes of UTF-8 text, multi-byte characters included."""
    raw = ("ringcast é€😀 " * (n // 10 + 1)).encode()[:n]
    s = raw.decode(errors="ignore")         # drops a cut last code point
    return s + "x" * (n - len(s.encode()))


async def handshake(url):
    async with connect(url) as ws:
        check(ws.open, "connection is not open after the handshake")
        check_eq(ws.subprotocol, None, "subprotocol when none was offered")
        await roundtrip(ws, "hello")
        await ws.close()
        check_eq(ws.close_code, 1000, "close code the server sent back")


async def echo_sizes(url, make):
    async with connect(url) as ws:
        for n in SIZES:
            msg = make(n)
            check_eq(len(msg.encode() if isinstance(msg, str) else msg), n,
                     "test message size")
            await roundtrip(ws, msg)


async def fragmented(url):
    async with connect(url) as ws:
        for parts in (["Hello, ", "wörld", "", "!"],
                      [b"\x00\x01", os.urandom(70000), b"", b"\xff"]):
            await ws.send(parts)
            got = await recv(ws)
            check_eq(got, parts[0][:0].join(parts), "fragmented echo")


async def ping(url):
    async with connect(url) as ws:
        for data in (b"", b"ringcast ping", bytes(range(125))):
            waiter = await ws.ping(data)
            # The waiter resolves only on a pong with this exact payload.
            await asyncio.wait_for(waiter, TIMEOUT)
        await roundtrip(ws, "still open after pings")


async def close_echo(url, code, reason):
    async with connect(url) as ws:
        await roundtrip(ws, "before close")
        await ws.close(code, reason)
        check_eq(ws.close_code, code, "close code the server sent back")


async def subprotocol(url, offered, want):
    async with connect(url, subprotocols=offered) as ws:
        check_eq(ws.subprotocol, want, f"subprotocol chosen from {offered}")
        await roundtrip(ws, "with a subprotocol")


async def unknown_path(url):
    try:
        async with connect(url):
            pass
    except InvalidStatusCode as e:
        check_eq(e.status_code, 404, "status for an unknown path")
    else:
        check(False, "handshake on an unknown path succeeded")


async def many_clients(url):
    async def client(i):
        async with connect(url) as ws:
            for j in range(MESSAGES):
                msg = f"client {i} message {j}"
                await roundtrip(ws, msg if j % 2 else msg.encode())
    await asyncio.gather(*(client(i) for i in range(CLIENTS)))


async def sigterm(binary):
    with Hub(binary) as hub:
        clients = [await connect(hub.url()) for _ in range(5)]
        try:
            for ws in clients:
                await roundtrip(ws, "before SIGTERM")
            hub.terminate()
            for i, ws in enumerate(clients):
                await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
                check_eq(ws.close_code, 1001, f"client {i} close code")
        finally:
            await asyncio.gather(*(ws.close() for ws in clients))
        rc = await asyncio.get_running_loop().run_in_executor(None, hub.wait)
        check_eq(rc, 0, "hub exit code after SIGTERM")


async def ws_routes(binary):
    """--ws-route: upgrades on / echo, on /all join one room; GET / is
    still the chat page; a path with no route is still 404."""
    with Hub(binary, "--ws-route", "/=echo", "--ws-route",
             "/all=room:bench") as hub:
        async with connect(hub.url("/")) as ws:
            await roundtrip(ws, "echo on /")
        async with connect(hub.url("/all")) as a, \
                connect(hub.url("/all")) as b:
            await asyncio.sleep(0.1)     # both subscribed
            await a.send("to the room")
            check_eq(await recv(b), "to the room", "room message at b")
            check_eq(await recv(a), "to the room", "room message at a")
        status, _, body = await asyncio.get_running_loop().run_in_executor(
            None, http_get, hub.port, "/")
        check_eq(status, 200, "GET / status with a / route")
        check(b"<html" in body, "GET / still serves the chat page")
        await unknown_path(hub.url("/none"))
        hub.check_clean_exit()


async def main():
    binary = hub_binary()
    suite = Suite()
    with suite.watch(Hub(binary, "--subprotocol", "chat",
                         "--subprotocol", "superchat")) as hub:
        url = hub.url()
        await suite.acase("handshake", handshake, url)
        await suite.acase(f"text echo, sizes {SIZES}", echo_sizes, url,
                          text_of)
        await suite.acase(f"binary echo, sizes {SIZES}", echo_sizes, url,
                          os.urandom)
        await suite.acase("fragmented text and binary echoed whole",
                          fragmented, url)
        await suite.acase("ping -> pong with the same payload", ping, url)
        for code, reason in ((1000, ""), (4000, "going home")):
            await suite.acase(f"close {code} echoed", close_echo, url, code,
                              reason)
        for offered, want in ((["superchat", "chat"], "chat"),
                              (["superchat"], "superchat"),
                              (["other"], None)):
            await suite.acase(f"subprotocol: offered {offered} -> {want}",
                              subprotocol, url, offered, want)
        await suite.acase("unknown path -> 404", unknown_path,
                          hub.url("/nope"))
        await suite.acase(f"{CLIENTS} clients x {MESSAGES} messages at once",
                          many_clients, url, timeout=40)
        suite.case("hub exits 0 on SIGTERM", hub.check_clean_exit)
    await suite.acase("SIGTERM: every client gets close 1001, exit 0",
                      sigterm, binary)
    await suite.acase("--ws-route: / echoes, /all is one room, GET / is "
                      "the page", ws_routes, binary)
    suite.finish()


if __name__ == "__main__":
    asyncio.run(main())
