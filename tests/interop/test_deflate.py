#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""permessage-deflate (RFC 7692, issue 13) against the hub.

Clients we did not write: python3-websockets (compression on by default,
and off with compression=None), and a raw asyncio socket with zlib that
masks and compresses by hand, for the frame rules and for what only the
bytes on the wire show (RSV1 on each server frame, the size of each
compressed payload, windows and context).

  shared mode (the default): the exact answer, echo of large/small/binary/
      incompressible/empty messages, many in order; a room with a
      compressing, a plain and two raw members; RSV1 only on compressible
      messages >= --deflate-min-size, never on control frames or
      continuations; every compressed server message inflates alone.
  dedicated mode (--deflate-window-bits 10 and 15): the answer's window
      parameters, 500 messages in order, context carried across messages
      both ways, the server's window kept within server_max_window_bits.
  --no-deflate: no extension answered; RSV1 is then 1002.
  failures: RSV1 on control frames/continuations, RSV2/RSV3 (1002),
      corrupt deflate data and compressed invalid UTF-8 (1007), inflate
      bombs past --max-message (1009, quickly, counted, other clients
      unharmed), in both modes.
  /metrics: the deflate/inflate byte counters, skipped messages, the
      deflate connections gauge.

Usage: test_deflate.py /path/to/ringcast  (exit 77 if websockets is missing)
"""
import asyncio
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, TIMEOUT, CaseFailed, Hub, Suite,  # noqa: E402
                     check, check_eq, hub_binary, metrics, ws_frame)

try:
    import websockets
    from websockets.frames import OP_BINARY as WS_OP_BINARY
    from websockets.frames import OP_TEXT as WS_OP_TEXT
except ImportError:
    print("SKIP: python3-websockets is not installed")
    sys.exit(77)

MAX_MESSAGE = 1 << 20   # --max-message of every hub here
MIN_SIZE = 128          # the hub's default --deflate-min-size
SHARED_ANSWER = ("permessage-deflate; server_no_context_takeover; "
                 "client_no_context_takeover")
TAIL = b"\x00\x00\xff\xff"     # RFC 7692 §7.2.1: stripped by the sender

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 4, 2, 1      # as Frame.rsv holds them (b0 >> 4 & 7)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="

# Every hub: a 1 MiB message limit, no per-socket rate limits (the cases
# send hundreds of messages a second from one socket) and no per-address
# connection rate (the failure cases open a connection each).
COMMON = ("--max-message", str(MAX_MESSAGE), "--msg-rate", "0",
          "--byte-rate", "0", "--conn-rate-per-ip", "0")

# /metrics names (src/hub/metrics.c).
M_DEFLATE_IN = "ringcast_deflate_in_bytes_total"
M_DEFLATE_OUT = "ringcast_deflate_out_bytes_total"
M_SKIPPED = "ringcast_deflate_skipped_total"
M_INFLATE_IN = "ringcast_inflate_in_bytes_total"
M_INFLATE_OUT = "ringcast_inflate_out_bytes_total"
M_CONNS = "ringcast_deflate_connections"
M_INFLATE_ERRORS = "ringcast_inflate_errors_total"
M_TOO_BIG = "ringcast_too_big_total"

rng = random.Random(13)


# ---- payloads ----

def hex_text(n, r=rng):
    """n random hex digits: text that deflate halves, never much more."""
    return "%0*x" % (n, r.getrandbits(4 * n)) if n else ""


def json_doc(nbytes, tag="doc"):
    """A chat-like JSON document of about nbytes (compresses 5-10x)."""
    items, size, i = [], 0, 0
    while size < nbytes:
        item = {"id": i, "user": f"user{i % 37}", "room": "lobby",
                "text": f"message number {i} from {tag}: héllo wörld €",
                "ts": 1700000000 + i * 7, "tags": ["a", "b", str(i % 5)]}
        items.append(item)
        size += len(json.dumps(item)) + 2
        i += 1
    return json.dumps({"tag": tag, "items": items}, ensure_ascii=False)


def far_repeat(window_bits, r=rng):
    """Text with a 300-byte run repeated 2**window_bits + 500 bytes later:
    a compressor whose window is larger than 2**window_bits finds the
    match, and a client inflating with that window in steps (inflate()
    here, node's ws) then fails."""
    run = hex_text(300, r)
    return run + hex_text((1 << window_bits) + 500, r) + run


def utf8_text(nbytes):
    """About nbytes of valid UTF-8 with 2-, 3- and 4-byte characters."""
    unit = "ringcast é€😀 ünïcödé "
    return unit * (nbytes // len(unit.encode()) + 1)


# ---- a raw client: asyncio streams, frames by hand ----

def frame(op, payload=b"", fin=True, rsv=0):
    return ws_frame(op, payload, fin, rsv=rsv)


def deflate_raw(data, wbits=15, level=6):
    """One message compressed alone, the 4-byte tail stripped."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    check(out.endswith(TAIL), "zlib sync flush ends with 00 00 ff ff")
    return out[:-4]


def inflate(d, z, bits):
    """z + the tail through decompressor d. Under a 15-bit window, out in
    256-byte steps: zlib allows a distance as far back as its window plus
    what this call has written, so one call into a large buffer would
    take a reference past the 2**bits the hub answered; in small steps it
    is 'invalid distance too far back'."""
    data = z + TAIL
    if bits == 15:
        out = d.decompress(data)
        check(not d.unconsumed_tail, "bytes left after inflating")
        return out
    out = []
    while True:
        chunk = d.decompress(data, 256)
        out.append(chunk)
        check(len(out) <= MAX_MESSAGE // 256 + 64,
              "inflating a server message never ends")
        data = d.unconsumed_tail
        # eof: the hub ended the stream with a final block (what is left
        # is the empty stored block after it, RFC 7692 §7.2.3.3).
        if d.eof or (not data and len(chunk) < 256):
            return b"".join(out)


def parse_ext(value):
    """'permessage-deflate; a; b=1' -> ('permessage-deflate', {a: None,
    b: '1'}); None -> (None, {})."""
    if value is None:
        return None, {}
    name, *params = [p.strip() for p in value.split(";")]
    out = {}
    for p in params:
        k, eq, v = p.partition("=")
        check(k.strip() not in out, f"parameter {k} twice in {value!r}")
        out[k.strip()] = v.strip().strip('"') if eq else None
    return name, out


class Msg:
    def __init__(self, op, data, compressed, wire_len, frames):
        self.op, self.data, self.compressed = op, data, compressed
        self.wire_len, self.frames = wire_len, frames

    def __repr__(self):
        return (f"Msg(op={self.op}, {len(self.data)} bytes, compressed="
                f"{self.compressed}, wire {self.wire_len})")


class Raw:
    """A hand-made WebSocket client. offer: the Sec-WebSocket-Extensions
    value(s) to send (a str or a list of header lines). After open():
    ext (the answer, None if none), params, and the deflate state the
    answer implies for each direction."""

    @classmethod
    async def open(cls, port, path="/echo", offer=None):
        self = cls()
        self.r, self.w = await asyncio.wait_for(
            asyncio.open_connection(HOST, port), TIMEOUT)
        self.w.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}",
                 "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]
        for o in ([offer] if isinstance(offer, str) else offer or []):
            lines.append(f"Sec-WebSocket-Extensions: {o}")
        self.w.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(self.r.readuntil(b"\r\n\r\n"), TIMEOUT)
        status, *hl = head.decode("latin-1").split("\r\n")
        check(status.startswith("HTTP/1.1 101 "),
              f"upgrade of {path}: {status!r}")
        exts = [v.strip() for k, _, v in (h.partition(":") for h in hl)
                if k.strip().lower() == "sec-websocket-extensions"]
        check(len(exts) <= 1, f"several Sec-WebSocket-Extensions: {exts}")
        self.ext = exts[0] if exts else None
        name, self.params = parse_ext(self.ext)
        self.on = name == "permessage-deflate"
        check(self.ext is None or self.on, f"answered {self.ext!r}")
        p = self.params
        self.server_bits = int(p.get("server_max_window_bits") or 15)
        self.client_bits = int(p.get("client_max_window_bits") or 15)
        self.server_ctx = "server_no_context_takeover" not in p
        self.client_ctx = "client_no_context_takeover" not in p
        self.inflater = zlib.decompressobj(-self.server_bits)
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -self.client_bits)
        return self

    def close(self):
        self.w.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()

    def send(self, op, payload=b"", fin=True, rsv=0):
        self.w.write(frame(op, payload, fin, rsv))

    def compress(self, data):
        """data as the compressed payload of one message, from the
        client's compressor (kept across messages where the answer lets
        the client keep context)."""
        if not self.client_ctx:
            return deflate_raw(data, self.client_bits)
        out = self.deflater.compress(data) + \
            self.deflater.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4]

    def send_compressed(self, op, data, parts=1):
        """One compressed message in parts frames, RSV1 on the first."""
        z = self.compress(data)
        cut = [len(z) * i // parts for i in range(parts + 1)]
        for i in range(parts):
            self.send(op if i == 0 else OP_CONT, z[cut[i]:cut[i + 1]],
                      fin=i == parts - 1, rsv=RSV1 if i == 0 else 0)
        return len(z)

    async def recv_frame(self, timeout=TIMEOUT):
        """(fin, rsv, op, payload); CaseFailed at EOF."""
        try:
            b0, b1 = await asyncio.wait_for(self.r.readexactly(2), timeout)
            check(not b1 & 0x80, "server frame is masked")
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.r.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.r.readexactly(8))[0]
            payload = await asyncio.wait_for(self.r.readexactly(n), timeout)
        except asyncio.IncompleteReadError as e:
            raise CaseFailed(f"server closed the connection "
                             f"({len(e.partial)} bytes of a frame)") from None
        return bool(b0 & 0x80), b0 >> 4 & 7, b0 & 0xF, payload

    async def recv_message(self, timeout=TIMEOUT):
        """The next data message, inflated: RSV1 only on its first frame
        and only if negotiated, no RSV2/RSV3, no control frame between."""
        fin, rsv, op, payload = await self.recv_frame(timeout)
        check(op in (OP_TEXT, OP_BINARY),
              f"expected a data frame, got opcode {op} {payload[:40]!r}")
        check(rsv in (0, RSV1), f"server frame with RSV bits {rsv:03b}")
        compressed = rsv == RSV1
        check(not compressed or self.on,
              "RSV1 from the server without permessage-deflate negotiated")
        parts, nframes = [payload], 1
        while not fin:
            fin, rsv, cop, payload = await self.recv_frame(timeout)
            check_eq(cop, OP_CONT, "opcode inside a fragmented message")
            check_eq(rsv, 0, "RSV bits on a continuation frame")
            parts.append(payload)
            nframes += 1
        z = b"".join(parts)
        data = z
        if compressed:
            d = self.inflater if self.server_ctx else \
                zlib.decompressobj(-self.server_bits)
            try:
                data = inflate(d, z, self.server_bits)
            except zlib.error as e:
                raise CaseFailed(
                    f"a compressed server message ({len(z)} bytes) does not "
                    f"inflate with a {self.server_bits}-bit window"
                    f"{' and the context' if self.server_ctx else ' alone'}"
                    f": {e}") from None
        if op == OP_TEXT:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CaseFailed(f"server text is not UTF-8: {e}") from None
        return Msg(op, data, compressed, len(z), nframes)

    async def expect_close(self, code, what):
        """The next frame is a close with code, then EOF. Returns the
        seconds it took."""
        t0 = time.monotonic()
        fin, rsv, op, payload = await self.recv_frame()
        took = time.monotonic() - t0
        check_eq(op, OP_CLOSE, f"{what}: opcode of the next frame "
                 f"({payload[:30]!r})")
        check_eq(rsv, 0, f"{what}: RSV bits on the close frame")
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 \
            else None
        check_eq(got, code, f"{what}: close code (reason {payload[2:]!r})")
        try:
            rest = await asyncio.wait_for(self.r.read(), TIMEOUT)
        except ConnectionResetError:
            rest = b""
        except asyncio.TimeoutError:
            raise CaseFailed(f"{what}: connection still open "
                             f"{TIMEOUT:.0f}s after the close frame") from None
        check_eq(rest, b"", f"{what}: bytes after the close frame")
        return took

    async def echo(self, op, data, *, compressed=True, parts=1):
        """Send data (compressed or not), return the echo Msg, checked
        equal."""
        if compressed:
            self.last_sent = self.send_compressed(op, data, parts)
        else:
            self.send(op, data)
            self.last_sent = len(data)
        m = await self.recv_message()
        check_eq(m.op, op, "echo opcode")
        check_eq(m.data, data, f"echo of {len(data)} bytes")
        return m


# ---- python3-websockets helpers ----

def connect(url, **kw):
    return websockets.connect(url, max_size=None, max_queue=None,
                              open_timeout=TIMEOUT, close_timeout=TIMEOUT,
                              **kw)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


def spy_rsv1(ws):
    """A list that gets RSV1 of each data frame (TEXT/BINARY, not
    continuations) ws receives, from the permessage-deflate extension."""
    check_eq(len(ws.extensions), 1, "extensions negotiated by websockets")
    ext, seen = ws.extensions[0], []
    orig = ext.decode

    def decode(f, *, max_size=None):
        if f.opcode in (WS_OP_TEXT, WS_OP_BINARY):
            seen.append(f.rsv1)
        return orig(f, max_size=max_size)
    ext.decode = decode
    return seen


def answer_of(ws):
    return ws.response_headers.get("Sec-WebSocket-Extensions")


# ---- shared mode: python3-websockets ----

async def py_shared_handshake(url):
    async with connect(url) as ws:
        check_eq(answer_of(ws), SHARED_ANSWER, "Sec-WebSocket-Extensions")
        check_eq(len(ws.response_headers.get_all(
            "Sec-WebSocket-Extensions")), 1, "answer lines")
        ext = ws.extensions[0]
        check(ext.remote_no_context_takeover and
              ext.local_no_context_takeover,
              f"websockets took the answer as {ext!r}")
        await ws.send("hello")
        check_eq(await recv(ws), "hello", "echo")


async def py_echo_kinds(url):
    """Each kind of message echoed, and whether the echo came compressed
    (RSV1) as --deflate-min-size and 'not smaller' say."""
    big_json = json_doc(200_000)
    cases = [
        ("200 KB JSON text", big_json, True),
        ("small text (under min size)", '{"t":"hi"}', False),
        (f"text of {MIN_SIZE - 1} bytes", "a" * (MIN_SIZE - 1), False),
        (f"text of {MIN_SIZE} bytes", "a" * MIN_SIZE, True),
        ("UTF-8 text, 50 KB", utf8_text(50_000), True),
        ("compressible binary, 100 KB", bytes(range(256)) * 400, True),
        ("random binary, 64 KB", os.urandom(65536), False),
        ("random binary, 300 bytes", os.urandom(300), False),
        ("empty text", "", False),
        ("empty binary", b"", False),
    ]
    async with connect(url) as ws:
        rsv1 = spy_rsv1(ws)
        for name, msg, want_rsv1 in cases:
            await ws.send(msg)
            got = await recv(ws)
            check_eq(type(got), type(msg), f"{name}: echo type")
            check_eq(got, msg, f"{name}: echo")
            check_eq(rsv1[-1], want_rsv1, f"{name}: echo came compressed")


async def py_many_in_order(url, count, make):
    """count messages sent back to back while a second task reads the
    echoes: all arrive, equal, in order."""
    msgs = [make(i) for i in range(count)]
    async with connect(url) as ws:
        async def reader():
            for i, want in enumerate(msgs):
                got = await recv(ws)
                if got != want:
                    raise CaseFailed(f"echo {i} of {count}: expected "
                                     f"{want[:60]!r}..., got {got[:60]!r}...")

        async def writer():
            for m in msgs:
                await ws.send(m)
        await asyncio.gather(reader(), writer())


def mixed_message(i, bits=15):
    """Message i of a long run: short and long, text and binary, repeats
    of earlier messages (context helps) and far repeats (a window larger
    than 2**bits would reach them)."""
    r = random.Random(i)
    k = i % 5
    if k == 0:
        return f'{{"seq":{i},"text":"short one"}}'
    if k == 1:
        return f"{i:06d} " + json_doc(r.randrange(200, 3000), tag=f"m{i}")
    if k == 2:
        return f"{i:06d} " + far_repeat(bits, r)
    if k == 3:
        return i.to_bytes(4, "big") + bytes(r.randrange(256) for _ in
                                            range(r.randrange(0, 400)))
    return f"{i:06d} " + hex_text(r.randrange(100, 1500), r)


# ---- rooms with mixed members ----

# Not "from": a JSON message with "from" is one posing as the hub's
# stamped form, and the hub closes its sender (1008).
_KEY_RE = re.compile(rb'^(?:\{"sender":"(\w+)","seq":(\d+)|(\w+):(\d+):)')


def room_message(sender, i, bits=15):
    """(payload, compressible) for message i of sender: large JSON (100 KB
    the first, then 20 KB), small JSON, compressible binary, random
    binary, far-repeat text (hex under a 15-bit window)."""
    k = i % 5
    if k == 0:
        s = json.dumps({"sender": sender, "seq": i,
                        "doc": json.loads(json_doc(100_000 if i == 0 else
                                                   20_000, sender))},
                       separators=(",", ":"))
        return s, True
    if k == 1:
        return json.dumps({"sender": sender, "seq": i},
                          separators=(",", ":")), False
    if k == 2:
        return f"{sender}:{i}:".encode() + b"abcdefgh" * 512, True
    if k == 3:
        return f"{sender}:{i}:".encode() + os.urandom(2000), False
    far = far_repeat(bits) if bits < 15 else hex_text(10_000)
    return json.dumps({"sender": sender, "seq": i, "far": far},
                      separators=(",", ":")), True


def key_of(data):
    b = data.encode() if isinstance(data, str) else data
    m = _KEY_RE.match(b)
    if not m:
        return None
    return (m.group(1) or m.group(3)).decode(), int(m.group(2) or
                                                     m.group(4))


class Member:
    """One room member; got: [(sender, seq, payload, rsv1)]. kind: 'py'
    (websockets, compression on), 'py-plain' (compression=None), 'raw'
    (no offer), 'raw-deflate' (offer)."""

    def __init__(self, name, kind, offer=None, check_rsv1=True):
        self.name, self.kind = name, kind
        self.offer = offer or "permessage-deflate; client_max_window_bits"
        self.check_rsv1 = check_rsv1
        self.got, self.probed = [], False

    async def open(self, hub, path):
        url = hub.url(path)
        offer = self.offer
        if self.kind == "py":
            self.ws = await connect(url)
            self.rsv1 = spy_rsv1(self.ws)
        elif self.kind == "py-plain":
            self.ws = await connect(url, compression=None)
            check_eq(answer_of(self.ws), None,
                     f"{self.name}: answer to no offer")
        else:
            self.ws = await Raw.open(hub.port, path, offer if
                                     self.kind == "raw-deflate" else None)
            check_eq(self.ws.on, self.kind == "raw-deflate",
                     f"{self.name}: deflate negotiated ({self.ws.ext!r})")
        return self

    async def send(self, payload, i):
        if self.kind.startswith("py"):
            await self.ws.send(payload)
            return
        op = OP_TEXT if isinstance(payload, str) else OP_BINARY
        b = payload.encode() if isinstance(payload, str) else payload
        if self.kind == "raw-deflate" and i % 2 == 0:
            self.ws.send_compressed(op, b, parts=1 + i % 3)
        else:
            self.ws.send(op, b)
        await self.ws.w.drain()

    async def read_until(self, want):
        """Collect messages until want (room messages, probes apart)
        have come."""
        n = 0
        while n < want:
            if self.kind.startswith("py"):
                data = await recv(self.ws)
                rsv1 = self.rsv1.pop(0) if self.kind == "py" else False
            else:
                m = await self.ws.recv_message()
                data = m.data.decode() if m.op == OP_TEXT else m.data
                rsv1 = m.compressed
            if data == "probe":
                self.probed = True
                continue
            k = key_of(data)
            check(k is not None, f"{self.name}: stray message {data[:40]!r}")
            self.got.append((k[0], k[1], data, rsv1))
            n += 1

    async def close(self):
        if self.kind.startswith("py"):
            await self.ws.close()
        else:
            self.ws.close()


async def room_mixed(hub, bits=15, count=10, small_window=False,
                     dedicated=False):
    """A compressing, a plain and two raw members (one without an offer,
    one with one) in one room; each sends count messages at once; each
    member gets all, per sender in order and equal, with RSV1 exactly on
    the compressible ones for the members that negotiated deflate.
    small_window: a fifth, raw, that asked for server_max_window_bits=10
    (shared mode): what comes compressed to it inflates in that window
    (which messages do is the hub's choice)."""
    room = f"/ws/deflate-{os.urandom(4).hex()}"
    members = [Member("A", "py"), Member("B", "py-plain"),
               Member("C", "raw"), Member("D", "raw-deflate")]
    if small_window:
        members.append(Member("E", "raw-deflate", "permessage-deflate; "
                              "server_max_window_bits=10", False))
    kinds = [(m.name, m.kind) for m in members]
    try:
        for m in members:
            await m.open(hub, room)
        if small_window:
            check_eq(members[-1].ws.server_bits, 10,
                     f"E's server window ({members[-1].ws.ext!r})")
        # Everyone subscribed: probes from the last to join until each
        # member has seen one.
        readers = [asyncio.ensure_future(m.read_until(len(kinds) * count))
                   for m in members]
        deadline = time.monotonic() + TIMEOUT
        while not all(m.probed for m in members):
            check(time.monotonic() < deadline, "probes never reached all: "
                  f"{[m.name for m in members if not m.probed]}")
            for t in readers:
                if t.done():
                    t.result()
            await members[-1].send("probe", 1)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)     # the last probes land
        sent = {name: [room_message(name, i, bits) for i in range(count)]
                for name, _ in kinds}

        async def send_all(m):
            for i, (payload, _) in enumerate(sent[m.name]):
                await m.send(payload, i)
        await asyncio.gather(*(send_all(m) for m in members))
        await asyncio.wait_for(asyncio.gather(*readers), 3 * TIMEOUT)
        for m in members:
            for sender, _ in kinds:
                mine = [(seq, data, rsv1) for s, seq, data, rsv1 in m.got
                        if s == sender]
                check_eq([seq for seq, _, _ in mine], list(range(count)),
                         f"{m.name} ({m.kind}): numbers of {sender}'s "
                         "messages")
                for seq, data, rsv1 in mine:
                    payload, compressible = sent[sender][seq]
                    check(data == payload,
                          f"{m.name} ({m.kind}): {sender}'s message {seq} "
                          f"differs ({len(data)} vs {len(payload)} bytes)")
                    negotiated = m.kind in ("py", "raw-deflate")
                    # In dedicated mode a message goes into the window
                    # once compressed, so the hub sends random bytes
                    # compressed too (not smaller): either way is right.
                    if m.check_rsv1 and not (dedicated and seq % 5 == 3):
                        check_eq(rsv1, compressible and negotiated,
                                 f"{m.name} ({m.kind}): RSV1 on {sender}'s "
                                 f"message {seq} ({len(payload)} bytes)")
    finally:
        for m in members:
            await m.close()


# ---- raw: frame rules in shared mode ----

async def raw_shared_answer(port, offer, want):
    """want: the exact answer (a str), a dict of parameters, or None."""
    async with await Raw.open(port, offer=offer) as c:
        if isinstance(want, dict):
            name, params = parse_ext(c.ext)
            check_eq((name, params), ("permessage-deflate", want),
                     f"answer to {offer!r} ({c.ext!r})")
        else:
            check_eq(c.ext, want, f"answer to {offer!r}")
        if c.on:
            await c.echo(OP_TEXT, json_doc(5000).encode())
            if c.server_bits < 15:
                # The server's window stays within what it answered.
                await c.echo(OP_TEXT, far_repeat(c.server_bits).encode())
        else:
            await c.echo(OP_TEXT, b"plain after no deflate",
                         compressed=False)


async def raw_fragments(port):
    """A compressed TEXT in 3 frames (RSV1 on the first only), cut
    inside multi-byte characters of the inflated text: echoed whole.
    (Under 32 KiB: what the hub does with longer ones is
    py_echo_kinds's.)"""
    async with await Raw.open(port, offer="permessage-deflate") as c:
        check_eq(c.ext, SHARED_ANSWER, "answer")
        text = utf8_text(30_000).encode()
        m = await c.echo(OP_TEXT, text, parts=3)
        check(m.compressed, "the 30 KB echo came compressed")
        m = await c.echo(OP_BINARY, bytes(range(256)) * 64, parts=3)
        check(m.compressed, "the 16 KB binary echo came compressed")
        # An uncompressed fragmented message on the same connection.
        c.send(OP_TEXT, b"plain ", fin=False)
        c.send(OP_CONT, b"in two")
        m = await c.recv_message()
        check_eq(m.data, b"plain in two", "plain fragmented echo")


async def raw_rsv1_rules(port):
    """RSV1 exactly on echoes of compressible messages >= min size, each
    of which inflates alone (no context in shared mode); never on small
    ones (even sent compressed), incompressible ones, pongs."""
    async with await Raw.open(port, offer="permessage-deflate") as c:
        doc = json_doc(3000).encode()
        for name, op, data, sent_z, want in (
                ("3 KB JSON sent plain", OP_TEXT, doc, False, True),
                ("3 KB JSON sent compressed", OP_TEXT, doc, True, True),
                ("the same again", OP_TEXT, doc, True, True),
                ("20-byte text sent compressed", OP_TEXT, b"a" * 20, True,
                 False),
                (f"{MIN_SIZE - 1} bytes sent compressed", OP_TEXT,
                 b"b" * (MIN_SIZE - 1), True, False),
                (f"{MIN_SIZE} bytes sent plain", OP_BINARY,
                 b"c" * MIN_SIZE, False, True),
                ("4 KB random bytes", OP_BINARY, os.urandom(4096), True,
                 False),
                ("empty text sent compressed", OP_TEXT, b"", True, False),
                ("empty binary sent plain", OP_BINARY, b"", False, False)):
            m = await c.echo(op, data, compressed=sent_z)
            check_eq(m.compressed, want, f"{name}: RSV1 on the echo")
            if want:
                check(m.wire_len < len(data),
                      f"{name}: compressed echo {m.wire_len} bytes, not "
                      f"smaller than {len(data)}")
        # Control frames never carry RSV1, whatever their payload.
        for payload in (b"", b"p" * 125):
            c.send(OP_PING, payload)
            fin, rsv, op, got = await c.recv_frame()
            check_eq((fin, rsv, op, got), (True, 0, OP_PONG, payload),
                     f"pong for a {len(payload)}-byte ping (fin, rsv, op, "
                     "payload)")
        # A ping between the fragments of a compressed message.
        z = c.compress(doc)
        c.send(OP_TEXT, z[:100], fin=False, rsv=RSV1)
        c.send(OP_PING, b"between")
        c.send(OP_CONT, z[100:])
        fin, rsv, op, got = await c.recv_frame()
        check_eq((rsv, op, got), (0, OP_PONG, b"between"),
                 "pong between fragments")
        m = await c.recv_message()
        check_eq(m.data, doc, "compressed message around a ping")
        c.send(OP_CLOSE, struct.pack("!H", 1000))
        await c.expect_close(1000, "close echo")


async def raw_bad(port, offer, send, code, what):
    """send(c) writes something bad: the hub closes with code, then EOF;
    nothing sent after it is echoed."""
    async with await Raw.open(port, offer=offer) as c:
        send(c)
        c.send(OP_TEXT, b"after the bad frame: not echoed")
        await c.expect_close(code, what)


def bad_cases():
    doc = json_doc(2000).encode()

    def rsv1_ping(c):
        c.send(OP_PING, b"x", rsv=RSV1)

    def rsv1_pong(c):
        c.send(OP_PONG, b"x", rsv=RSV1)

    def rsv1_close(c):
        c.send(OP_CLOSE, struct.pack("!H", 1000), rsv=RSV1)

    def rsv1_cont_compressed(c):
        z = c.compress(doc)
        c.send(OP_TEXT, z[:50], fin=False, rsv=RSV1)
        c.send(OP_CONT, z[50:], rsv=RSV1)

    def rsv1_cont_plain(c):
        z = c.compress(doc)
        c.send(OP_BINARY, b"plain start", fin=False)
        c.send(OP_CONT, z, rsv=RSV1)

    def rsv2(c):
        c.send(OP_TEXT, b"hello", rsv=RSV2)

    def rsv3(c):
        c.send(OP_TEXT, b"hello", rsv=RSV3)

    def rsv12(c):
        c.send(OP_TEXT, c.compress(b"hello"), rsv=RSV1 | RSV2)

    def rsv1_plain(c):
        c.send(OP_TEXT, deflate_raw(doc), rsv=RSV1)

    def corrupt(c):
        # BFINAL=1, BTYPE=11: a reserved block type.
        c.send(OP_BINARY, b"\xff\xff\xff\xff" + os.urandom(64), rsv=RSV1)

    def corrupt_later(c):
        # Valid deflate, then a stored block whose NLEN is not ~LEN.
        z = deflate_raw(doc) + b"\x00\x05\x00\x05\x00hello"
        c.send(OP_TEXT, z, rsv=RSV1)

    def corrupt_fragmented(c):
        # A whole compressed prefix, then a stored block's LEN/NLEN that
        # disagree (ff ff / ff ff).
        c.send(OP_TEXT, deflate_raw(b"hello " * 10), fin=False, rsv=RSV1)
        c.send(OP_CONT, b"\xff" * 40)

    def bad_utf8(c):
        c.send(OP_TEXT, deflate_raw(b"valid start " * 20 + b"\xff\xfe end"),
               rsv=RSV1)

    def bad_utf8_end(c):
        c.send(OP_TEXT, deflate_raw(b"euro " * 50 + b"\xe2\x82"), rsv=RSV1)

    def bad_utf8_fragmented(c):
        z = deflate_raw(utf8_text(5000).encode() + b"\xed\xa0\x80 surrogate")
        c.send(OP_TEXT, z[:len(z) // 2], fin=False, rsv=RSV1)
        c.send(OP_CONT, z[len(z) // 2:])

    deflate = "permessage-deflate"
    return [
        ("RSV1 on a ping", deflate, rsv1_ping, 1002),
        ("RSV1 on a pong", deflate, rsv1_pong, 1002),
        ("RSV1 on a close", deflate, rsv1_close, 1002),
        ("RSV1 on the continuation of a compressed message", deflate,
         rsv1_cont_compressed, 1002),
        ("RSV1 on the continuation of a plain message", deflate,
         rsv1_cont_plain, 1002),
        ("RSV2 with deflate negotiated", deflate, rsv2, 1002),
        ("RSV3 with deflate negotiated", deflate, rsv3, 1002),
        ("RSV1+RSV2", deflate, rsv12, 1002),
        ("RSV1 without an offer", None, rsv1_plain, 1002),
        ("RSV1 after a refused offer (server_max_window_bits=7)",
         "permessage-deflate; server_max_window_bits=7", rsv1_plain, 1002),
        ("corrupt deflate data (reserved block type)", deflate, corrupt,
         1007),
        ("corrupt deflate data after valid blocks", deflate, corrupt_later,
         1007),
        ("corrupt deflate data in a continuation", deflate,
         corrupt_fragmented, 1007),
        ("compressed TEXT with invalid UTF-8", deflate, bad_utf8, 1007),
        ("compressed TEXT ending mid code point", deflate, bad_utf8_end,
         1007),
        ("fragmented compressed TEXT with a surrogate", deflate,
         bad_utf8_fragmented, 1007),
    ]


# ---- inflate bombs ----

async def bomb(hub, offer, parts=1, op=OP_BINARY):
    """~5 KB of deflate that inflates to 5 MB of zeros, past --max-message
    (1 MiB): close 1009 within 2 s, ringcast_too_big_total +1, and a
    client open meanwhile still echoes. Then exactly --max-message
    inflated is echoed and one byte more is 1009."""
    async with await Raw.open(hub.port, offer=offer) as other:
        check(other.on, f"deflate on the bystander ({other.ext!r})")
        await other.echo(OP_TEXT, json_doc(1000).encode())
        before = metrics(hub.port).get(M_TOO_BIG, 0)
        async with await Raw.open(hub.port, offer=offer) as c:
            check(c.on, f"deflate negotiated ({c.ext!r})")
            z = c.compress(bytes(5 << 20))
            check(len(z) < 8192, f"the bomb is {len(z)} bytes")
            cut = [len(z) * i // parts for i in range(parts + 1)]
            for i in range(parts):
                c.send(op if i == 0 else OP_CONT, z[cut[i]:cut[i + 1]],
                       fin=i == parts - 1, rsv=RSV1 if i == 0 else 0)
            took = await c.expect_close(1009, f"{len(z)}-byte bomb")
            check(took < 2.0, f"the 1009 took {took:.2f}s")
        after = metrics(hub.port).get(M_TOO_BIG, 0)
        check_eq(after - before, 1, f"{M_TOO_BIG} increase")
        await other.echo(OP_TEXT, json_doc(1000).encode())
        await other.echo(OP_BINARY, os.urandom(100), compressed=False)
    # The limit itself: exactly MAX_MESSAGE inflated is fine.
    async with await Raw.open(hub.port, offer=offer) as c:
        await c.echo(op, b"z" * MAX_MESSAGE, parts=parts)
        c.send_compressed(op, b"z" * (MAX_MESSAGE + 1), parts)
        await c.expect_close(1009, f"{MAX_MESSAGE + 1} bytes inflated")


# ---- dedicated mode ----

def dedicated_params(bits, client_bits=True):
    p = {"server_max_window_bits": str(bits)}
    if client_bits:
        p["client_max_window_bits"] = str(bits)
    return p


async def py_dedicated_handshake(url, bits):
    async with connect(url) as ws:
        name, params = parse_ext(answer_of(ws))
        check_eq((name, params), ("permessage-deflate",
                                  dedicated_params(bits)),
                 f"answer ({answer_of(ws)!r})")
        ext = ws.extensions[0]
        check(not ext.remote_no_context_takeover and
              not ext.local_no_context_takeover and
              ext.remote_max_window_bits == bits and
              ext.local_max_window_bits == bits,
              f"websockets took the answer as {ext!r}")
        rsv1 = spy_rsv1(ws)
        for msg in (json_doc(50_000), far_repeat(bits), "tiny"):
            await ws.send(msg)
            check_eq(await recv(ws), msg, f"echo of {len(msg)} bytes")
        check_eq(rsv1, [True, True, False], "RSV1 on the three echoes")


async def raw_dedicated(port, bits):
    """The answer to each offer form; context kept both ways (the second
    copy of a message is sent as a back-reference and comes back as one);
    the server's window within 2**bits; bits 9..14 refuse no offer."""
    for offer, want in (
            ("permessage-deflate; client_max_window_bits",
             dedicated_params(bits)),
            ("permessage-deflate", dedicated_params(bits, False)),
            ("permessage-deflate; server_no_context_takeover; "
             "client_no_context_takeover; client_max_window_bits",
             {**dedicated_params(bits), "server_no_context_takeover": None,
              "client_no_context_takeover": None})):
        async with await Raw.open(port, offer=offer) as c:
            name, params = parse_ext(c.ext)
            check_eq((name, params), ("permessage-deflate", want),
                     f"answer to {offer!r} ({c.ext!r})")
            msg = hex_text(min(1 << bits, 8192) // 2).encode()
            first = await c.echo(OP_TEXT, msg)
            sent_first = c.last_sent
            second = await c.echo(OP_TEXT, msg)
            if c.client_ctx:
                # Our copy went as a back-reference into the last message:
                # the echo is right only if the hub inflated with context.
                check(c.last_sent * 4 < sent_first,
                      f"client compressor: {c.last_sent} after {sent_first}")
            check(first.compressed and second.compressed,
                  "both echoes compressed")
            if c.server_ctx:
                check(second.wire_len * 4 < first.wire_len,
                      f"the repeat took {second.wire_len} bytes after "
                      f"{first.wire_len}: no context kept")
            else:
                check(second.wire_len * 4 > first.wire_len,
                      f"no context takeover answered, yet the repeat took "
                      f"{second.wire_len} bytes after {first.wire_len}")
            for i in range(5):
                await c.echo(OP_TEXT, far_repeat(bits).encode(),
                             parts=1 + i % 3)
                await c.echo(OP_BINARY, os.urandom(200), compressed=i % 2)
                await c.echo(OP_TEXT, json_doc(300 * i + 10).encode())


# ---- --no-deflate ----

async def py_no_deflate(url):
    async with connect(url) as ws:
        check_eq(answer_of(ws), None, "Sec-WebSocket-Extensions")
        check_eq(ws.extensions, [], "extensions negotiated")
        for msg in (json_doc(200_000), "small", os.urandom(5000), ""):
            await ws.send(msg)
            check_eq(await recv(ws), msg, f"echo of {len(msg)}")


async def raw_no_deflate(port):
    async with await Raw.open(port, offer=[
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate"]) as c:
        check_eq(c.ext, None, "answer")
        m = await c.echo(OP_TEXT, json_doc(10_000).encode(), compressed=False)
        check(not m.compressed, "echo compressed")
        c.send(OP_TEXT, deflate_raw(b"hello" * 50), rsv=RSV1)
        await c.expect_close(1002, "RSV1 under --no-deflate")


# ---- --deflate-min-size ----

async def raw_min_size(port, n):
    async with await Raw.open(port, offer="permessage-deflate") as c:
        m = await c.echo(OP_TEXT, b"x" * (n - 1))
        check(not m.compressed, f"{n - 1} bytes came compressed")
        m = await c.echo(OP_TEXT, b"x" * n)
        check(m.compressed, f"{n} bytes came uncompressed")


# ---- /metrics ----

async def metrics_counters(hub):
    """The byte counters move with compressed traffic, out < in for
    compressible text; skipped counts the small and the incompressible;
    inflate errors count corrupt data, not bad UTF-8; the gauge counts
    connections with deflate (the plain one apart) and comes back
    down."""
    port = hub.port
    # The cases before on this hub may still be closing their connections:
    # start from none open, so the gauge's delta is this case's alone.
    deadline = time.monotonic() + 5
    while metrics(port).get(M_CONNS, 0) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    m0 = metrics(port)
    check_eq(m0.get(M_CONNS), 0, f"{M_CONNS} before the case")
    for name in (M_DEFLATE_IN, M_DEFLATE_OUT, M_SKIPPED, M_INFLATE_IN,
                 M_INFLATE_OUT, M_CONNS, M_INFLATE_ERRORS):
        check(name in m0, f"/metrics has no {name}")
    doc = json_doc(30_000).encode()
    conns = [await Raw.open(port, offer="permessage-deflate")
             for _ in range(3)]
    plain = await Raw.open(port)
    try:
        check(all(c.on for c in conns) and not plain.on, "negotiation")
        m1 = metrics(port)
        check_eq(m1[M_CONNS] - m0[M_CONNS], 3, f"{M_CONNS} with 3 of 4 "
                 "connections compressed")
        c = conns[0]
        sent = c.send_compressed(OP_TEXT, doc)
        m = await c.recv_message()
        check(m.compressed and m.data == doc, "30 KB echo, compressed")
        m2 = metrics(port)
        d = {k: m2[k] - m1[k] for k in (M_DEFLATE_IN, M_DEFLATE_OUT,
                                        M_INFLATE_IN, M_INFLATE_OUT,
                                        M_SKIPPED)}
        check_eq(d[M_DEFLATE_IN], len(doc), f"{M_DEFLATE_IN} increase")
        check_eq(d[M_DEFLATE_OUT], m.wire_len, f"{M_DEFLATE_OUT} increase")
        check(d[M_DEFLATE_OUT] * 5 < d[M_DEFLATE_IN],
              f"deflate out {d[M_DEFLATE_OUT]} vs in {d[M_DEFLATE_IN]}")
        check(d[M_INFLATE_IN] in (sent, sent + 4),
              f"{M_INFLATE_IN} increase: {d[M_INFLATE_IN]}, sent {sent} "
              "(+4 for the tail)")
        check_eq(d[M_INFLATE_OUT], len(doc), f"{M_INFLATE_OUT} increase")
        check_eq(d[M_SKIPPED], 0, f"{M_SKIPPED} increase")
        await c.echo(OP_TEXT, b"tiny", compressed=False)
        await c.echo(OP_BINARY, os.urandom(3000), compressed=False)
        await plain.echo(OP_TEXT, doc, compressed=False)
        m3 = metrics(port)
        check_eq(m3[M_SKIPPED] - m2[M_SKIPPED], 2,
                 f"{M_SKIPPED} after a small and a random message "
                 "(the plain connection's echo apart)")
        check(m3[M_DEFLATE_IN] - m2[M_DEFLATE_IN] <= 3000 + 4,
              f"{M_DEFLATE_IN} grew by {m3[M_DEFLATE_IN] - m2[M_DEFLATE_IN]}"
              " for the plain connection's 30 KB")
    finally:
        for c in conns + [plain]:
            c.close()
    m4 = metrics(port)
    async with await Raw.open(port, offer="permessage-deflate") as c:
        c.send(OP_BINARY, b"\xff\xff\xff\xff", rsv=RSV1)
        await c.expect_close(1007, "corrupt deflate data")
    async with await Raw.open(port, offer="permessage-deflate") as c:
        c.send(OP_TEXT, deflate_raw(b"\xff not UTF-8"), rsv=RSV1)
        await c.expect_close(1007, "compressed invalid UTF-8")
    m5 = metrics(port)
    check_eq(m5[M_INFLATE_ERRORS] - m4[M_INFLATE_ERRORS], 1,
             f"{M_INFLATE_ERRORS} after a corrupt message and an invalid "
             "UTF-8 one")
    deadline = time.monotonic() + TIMEOUT
    while metrics(port)[M_CONNS] != m0[M_CONNS]:
        check(time.monotonic() < deadline,
              f"{M_CONNS} stays at {metrics(port)[M_CONNS]} after the "
              f"connections closed, was {m0[M_CONNS]}")
        await asyncio.sleep(0.05)


# ---- the run ----

async def main():
    binary = hub_binary()
    suite = Suite()
    t0 = time.monotonic()

    with suite.watch(Hub(binary, *COMMON)) as hub:
        url, port = hub.url(), hub.port
        await suite.acase("shared: websockets gets exactly the shared answer",
                          py_shared_handshake, url)
        await suite.acase("shared: websockets echo of each kind, RSV1 by "
                          "size and ratio", py_echo_kinds, url)
        await suite.acase("shared: websockets, 300 mixed messages in order",
                          py_many_in_order, url, 300, mixed_message)
        await suite.acase("shared: room with compressing, plain and raw "
                          "members (one with a 10-bit window)", room_mixed,
                          hub, 15, 10, True, timeout=40)
        for offer, want in (
                ("permessage-deflate", SHARED_ANSWER),
                (["x-webkit-deflate-frame", "permessage-deflate; foo=1, "
                  "permessage-deflate; client_max_window_bits"],
                 SHARED_ANSWER),
                ("permessage-deflate; server_max_window_bits=10",
                 {"server_no_context_takeover": None,
                  "client_no_context_takeover": None,
                  "server_max_window_bits": "10"}),
                ("permessage-deflate; server_max_window_bits=7", None),
                ("x-webkit-deflate-frame", None)):
            await suite.acase(f"shared: raw offer {offer!r}",
                              raw_shared_answer, port, offer, want)
        await suite.acase("raw: compressed TEXT and BINARY in 3 fragments",
                          raw_fragments, port)
        await suite.acase("raw: RSV1 on compressible echoes >= min size "
                          "only, never on pongs", raw_rsv1_rules, port)
        for what, offer, send, code in bad_cases():
            await suite.acase(f"raw: {what} -> {code}", raw_bad, port, offer,
                              send, code, what)
        await suite.acase("shared: inflate bomb -> 1009, bystander fine",
                          bomb, hub, "permessage-deflate")
        await suite.acase("shared: inflate bomb in 3 fragments (TEXT)",
                          bomb, hub, "permessage-deflate", 3, OP_TEXT)
        await suite.acase("metrics: deflate/inflate counters and gauge",
                          metrics_counters, hub)
        suite.case("shared: hub exits 0 on SIGTERM", hub.check_clean_exit)

    for bits in (10, 15):
        with suite.watch(Hub(binary, *COMMON, "--deflate-window-bits",
                             str(bits))) as hub:
            url = hub.url()
            await suite.acase(f"dedicated {bits}: websockets answer and echo",
                              py_dedicated_handshake, url, bits)
            await suite.acase(f"dedicated {bits}: 500 messages in order",
                              py_many_in_order, url, 500,
                              lambda i: mixed_message(i, bits))
            await suite.acase(f"dedicated {bits}: raw offers, context kept "
                              "both ways, window kept", raw_dedicated,
                              hub.port, bits)
            await suite.acase(f"dedicated {bits}: room with mixed members",
                              room_mixed, hub, bits, 10, False, True,
                              timeout=40)
            if bits == 10:
                await suite.acase("dedicated 10: inflate bomb -> 1009",
                                  bomb, hub, "permessage-deflate; "
                                  "client_max_window_bits")
                await suite.acase("dedicated 10: bomb in 3 fragments",
                                  bomb, hub, "permessage-deflate", 3)
            suite.case(f"dedicated {bits}: hub exits 0 on SIGTERM",
                       hub.check_clean_exit)

    with suite.watch(Hub(binary, *COMMON, "--no-deflate")) as hub:
        await suite.acase("--no-deflate: websockets gets no extension",
                          py_no_deflate, hub.url())
        await suite.acase("--no-deflate: raw offers refused, RSV1 -> 1002",
                          raw_no_deflate, hub.port)
        suite.case("--no-deflate: hub exits 0 on SIGTERM",
                   hub.check_clean_exit)

    with suite.watch(Hub(binary, *COMMON, "--deflate-min-size",
                         "1000")) as hub:
        await suite.acase("--deflate-min-size 1000: 999 plain, 1000 "
                          "compressed", raw_min_size, hub.port, 1000)
        suite.case("--deflate-min-size: hub exits 0 on SIGTERM",
                   hub.check_clean_exit)

    def bad_flags():
        for args in (["--deflate-window-bits", "8"],
                     ["--deflate-window-bits", "16"],
                     ["--deflate-window-bits", "x"],
                     ["--deflate-level", "0"],
                     ["--deflate-level", "13"],
                     ["--deflate-min-size", "0"]):
            r = subprocess.run([binary, "--port", "0", "--admin-port", "off",
                                *args], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=20)
            check(b"listening" not in r.stdout,
                  f"{' '.join(args)}: the hub started")
            check_eq(r.returncode, 2, f"{' '.join(args)}: exit code "
                                      f"(stderr {r.stderr[:200]!r})")
    suite.case("bad deflate flags (window 8, 16, x; level 0, 13; min size "
               "0): exit 2", bad_flags)

    print(f"     ({time.monotonic() - t0:.1f}s)", flush=True)
    suite.finish()


if __name__ == "__main__":
    asyncio.run(main())
