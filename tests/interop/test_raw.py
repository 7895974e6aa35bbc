#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Raw-socket interop tests: every way a client can get the handshake or the
framing wrong (RFC 6455, issue #2), and the few valid corner cases that only
hand-made bytes can reach (split at every byte, pipelining, ping between
fragments).

For each failure the hub must answer with exactly the right HTTP status or
close code, then close the TCP connection, and echo nothing that was sent
after the bad input.

Usage: test_raw.py /path/to/ringcast
"""
import base64
import collections
import hashlib
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402  (after the sys.path line)
    HOST, TIMEOUT, CaseFailed, Hub, Suite, check, check_eq, hub_binary,
    metrics, recv_http_response)

MAX_MESSAGE = 1000      # --max-message of the main hub
MAX_HEAD = 2048         # --max-head of the main hub
MAX_HEADERS = 64        # --max-headers of the main hub (the default is 128)

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

KEY = "dGhlIHNhbXBsZSBub25jZQ=="   # RFC 6455 §1.3's sample key
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---- bytes on the wire ----

def frame(op, payload=b"", fin=True, rsv=0, mask=True, form=None, length=None):
    """One client frame.

    form forces the length encoding (7, 16 or 64 bits; default minimal);
    length overrides the declared payload length (for impossible ones).
    """
    n = len(payload) if length is None else length
    form = form or (7 if n < 126 else 16 if n < 1 << 16 else 64)
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    mbit = 0x80 if mask else 0
    if form == 7:
        head = bytes([b0, mbit | n])
    elif form == 16:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def upgrade_request(path="/echo", method="GET", version="HTTP/1.1",
                    drop=(), extra=(), **overrides):
    """An upgrade request; overrides replace headers by name (underscores
    for dashes), drop removes them, extra appends (name, value) pairs."""
    headers = {
        "Host": f"{HOST}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        headers[name.replace("_", "-")] = value
    lines = [f"{method} {path} {version}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k not in drop]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def accept_for(key):
    digest = hashlib.sha1((key + WS_GUID).encode()).digest()
    return base64.b64encode(digest).decode()


Frame = collections.namedtuple("Frame", "fin rsv op payload")


class Peer:
    """A client connection and the bytes read from it but not yet used."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, what):
        chunk = self.sock.recv(65536)
        check(chunk, f"server closed the connection while we waited for "
                     f"{what}")
        self.buf += chunk

    def read_exact(self, n, what="data"):
        while len(self.buf) < n:
            self._fill(what)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        b0, b1 = self.read_exact(2, "a frame")
        check(not b1 & 0x80, "server frame is masked (RFC 6455 §5.1)")
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self.read_exact(2, "a frame length"), "big")
        elif n == 127:
            n = int.from_bytes(self.read_exact(8, "a frame length"), "big")
        payload = self.read_exact(n, "a frame payload")
        return Frame(bool(b0 & 0x80), b0 >> 4 & 7, b0 & 0xF, payload)

    def http_response(self, head_only=False):
        """(status, headers, body) of the next response on this connection."""
        status, headers, body, self.buf = recv_http_response(
            self.sock, head_only, self.buf)
        return status, headers, body

    def expect_eof(self, what="after it"):
        """The server must close TCP, within TIMEOUT, sending nothing more."""
        extra, deadline = self.buf, time.monotonic() + TIMEOUT
        try:
            while chunk := self.sock.recv(65536):
                extra += chunk
                check(time.monotonic() < deadline,
                      f"server kept sending {what}")
        except ConnectionResetError:
            pass    # closed all the same
        except socket.timeout:
            check(False, f"server did not close the connection {what} "
                         f"within {TIMEOUT:.0f}s")
        check(not extra, f"server sent {describe(extra)} {what}")
        self.buf = b""


def describe(data):
    """Unexpected server bytes, for a failure message."""
    if data.startswith(b"HTTP/") or len(data) < 2:
        return repr(data[:80])
    return (f"{len(data)} bytes (a frame with opcode {data[0] & 0xF}? "
            f"starts {data[:16]!r})")


def close_code(f):
    check_eq(f.op, OP_CLOSE, f"opcode (payload {f.payload[:20]!r})")
    return struct.unpack("!H", f.payload[:2])[0] if f.payload else None


def ws_connect(port, request=None):
    """A Peer after a checked 101 for request (default: a plain upgrade)."""
    peer = Peer(port)
    try:
        peer.send(request or upgrade_request())
        expect_101(peer)
    except BaseException:
        peer.close()
        raise
    return peer


def expect_101(peer, protocol=None):
    status, headers, _ = peer.http_response(head_only=True)
    check_eq(status, 101, "handshake status")
    check_eq(headers.get("sec-websocket-accept"), accept_for(KEY),
             "Sec-WebSocket-Accept")
    check_eq(headers.get("upgrade", "").lower(), "websocket", "Upgrade header")
    check_eq(headers.get("sec-websocket-protocol"), protocol,
             "Sec-WebSocket-Protocol")


def expect_echo(peer, op, payload):
    f = peer.recv_frame()
    check_eq((f.fin, f.rsv, f.op), (True, 0, op), "echo frame fin/rsv/opcode")
    check_eq(f.payload, payload, f"echo payload ({len(payload)} bytes sent)")


def echo(peer, op, payload):
    peer.send(frame(op, payload))
    expect_echo(peer, op, payload)


# ---- failures after the handshake: close code, then TCP close ----

AFTER = frame(OP_TEXT, b"sent after the bad frame: must not be echoed")


FRAME_FAILURES = [
    ("unmasked client frame", frame(OP_TEXT, b"hi", mask=False), 1002),
    ("RSV1 set", frame(OP_TEXT, b"hi", rsv=4), 1002),
    ("RSV2 set", frame(OP_TEXT, b"hi", rsv=2), 1002),
    ("RSV3 set", frame(OP_TEXT, b"hi", rsv=1), 1002),
    *[(f"reserved opcode {op}", frame(op, b"x"), 1002)
      for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)],
    ("fragmented ping (FIN=0)", frame(OP_PING, b"p", fin=False), 1002),
    ("ping with 126-byte payload", frame(OP_PING, b"p" * 126), 1002),
    ("close with 126-byte payload",
     frame(OP_CLOSE, close_payload(1000, b"r" * 124)), 1002),
    ("continuation without a start", frame(OP_CONT, b"x"), 1002),
    ("text frame inside a fragmented message",
     frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b"), 1002),
    ("binary frame inside a fragmented message",
     frame(OP_BINARY, b"a", fin=False) + frame(OP_BINARY, b"b"), 1002),
    ("invalid UTF-8 in a text message", frame(OP_TEXT, b"ok \xff ok"), 1007),
    ("overlong UTF-8 encoding", frame(OP_TEXT, b"\xc0\xaf"), 1007),
    ("UTF-16 surrogate in UTF-8", frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    ("invalid UTF-8 split across fragments",
     frame(OP_TEXT, b"ab\xe2\x82", fin=False) + frame(OP_CONT, b"\x28cd"),
     1007),
    ("text ending mid code point", frame(OP_TEXT, b"euro \xe2\x82"), 1007),
    ("fragmented text ending mid code point",
     frame(OP_TEXT, b"ok", fin=False) + frame(OP_CONT, b"\xf0\x9f\x98"), 1007),
    *[(f"close with invalid code {code}", frame(OP_CLOSE, close_payload(code)),
       1002) for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999,
                          5000, 65535)],
    ("close with a 1-byte payload", frame(OP_CLOSE, b"\x03"), 1002),
    ("close reason with invalid UTF-8",
     frame(OP_CLOSE, close_payload(1000, b"bad \xff")), 1007),
    (f"message over --max-message {MAX_MESSAGE} in one frame",
     frame(OP_BINARY, b"x" * (MAX_MESSAGE + 1)), 1009),
    (f"message over --max-message {MAX_MESSAGE} across fragments",
     frame(OP_TEXT, b"x" * 600, fin=False) + frame(OP_CONT, b"y" * 600), 1009),
    ("16-bit length for a 5-byte payload",
     frame(OP_TEXT, b"short", form=16), 1002),
    ("16-bit length for a 125-byte payload",
     frame(OP_BINARY, b"z" * 125, form=16), 1002),
    ("64-bit length for a 200-byte payload",
     frame(OP_BINARY, b"z" * 200, form=64), 1002),
    ("64-bit length with the top bit set",
     frame(OP_BINARY, b"", form=64, length=1 << 63), 1002),
]


def expect_failure(port, bad, code):
    with ws_connect(port) as peer:
        peer.send(bad + AFTER)
        got = close_code(peer.recv_frame())
        check_eq(got, code, "close code")
        peer.expect_eof("after its close frame")


# Valid closes: the hub echoes the code (RFC 6455 §5.5.1) and closes TCP.
VALID_CLOSE_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                     1012, 1013, 1014,
                     3000, 4000, 4999)


def expect_close_echo(port, code, reason=b""):
    with ws_connect(port) as peer:
        payload = b"" if code is None else close_payload(code, reason)
        peer.send(frame(OP_CLOSE, payload) + AFTER)
        check_eq(close_code(peer.recv_frame()), code, "echoed close code")
        peer.expect_eof("after the close handshake")


# ---- failures before the upgrade: HTTP status, then TCP close ----

def too_many_headers():
    return upgrade_request(extra=[(f"X-Filler-{i}", "1") for i in range(65)])


def many_headers_by_default(binary):
    """Requests behind some proxies carry ~100 fields: the default (128)
    serves them; 129 is still 431."""
    with Hub(binary) as hub:
        many = upgrade_request(extra=[(f"X-Filler-{i}", "1")
                                      for i in range(105)])
        handshake_then_echo(hub.port, many)
        expect_http_failure(hub.port, upgrade_request(
            extra=[(f"X-Filler-{i}", "1") for i in range(125)]), 431, {})
        hub.check_clean_exit()


def with_key(key):
    return upgrade_request(Sec_WebSocket_Key=key)


HTTP_FAILURES = [
    # name, request, status, headers the response must carry
    ("missing Sec-WebSocket-Key",
     upgrade_request(drop=("Sec-WebSocket-Key",)), 400, {}),
    ("key is not base64", with_key("not*base64*at*all*here=="), 400, {}),
    ("key is base64 of 15 bytes",
     with_key(base64.b64encode(b"x" * 15).decode()), 400, {}),
    ("key is base64 of 17 bytes",
     with_key(base64.b64encode(b"x" * 17).decode()), 400, {}),
    ("key is a non-canonical encoding",
     with_key("dGhlIHNhbXBsZSBub25jZR=="), 400, {}),
    ("two Sec-WebSocket-Key headers",
     upgrade_request(extra=[("Sec-WebSocket-Key", KEY)]), 400, {}),
    ("missing Host", upgrade_request(drop=("Host",)), 400, {}),
    ("Connection without upgrade",
     upgrade_request(Connection="keep-alive"), 400, {}),
    ("Sec-WebSocket-Version: 8",
     upgrade_request(Sec_WebSocket_Version="8"), 426,
     {"sec-websocket-version": "13"}),
    ("missing Sec-WebSocket-Version",
     upgrade_request(drop=("Sec-WebSocket-Version",)), 426,
     {"sec-websocket-version": "13"}),
    ("POST with upgrade headers", upgrade_request(method="POST"), 400, {}),
    ("HTTP/1.0 upgrade", upgrade_request(version="HTTP/1.0"), 400, {}),
    ("garbage request line", b"HELLO THERE\r\n\r\n", 400, {}),
    ("binary garbage (a TLS hello)",
     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n", 400, {}),
    (f"head over --max-head {MAX_HEAD}",
     upgrade_request(extra=[("X-Big", "b" * MAX_HEAD)]), 431, {}),
    ("more than 64 headers", too_many_headers(), 431, {}),
    ("upgrade to an unknown path", upgrade_request(path="/nope"), 404, {}),
]


def expect_http_failure(port, request, status, want_headers):
    with Peer(port) as peer:
        # A frame right behind the request: it must not be taken as one.
        peer.send(request + frame(OP_TEXT, b"not a websocket yet"))
        got, headers, _ = peer.http_response()
        check_eq(got, status, f"status for {request[:40]!r}")
        for name, value in {"connection": "close", **want_headers}.items():
            check_eq(headers.get(name), value, f"{name} header")
        peer.expect_eof(f"after the {status}")


# ---- handshakes that must work ----

HANDSHAKES_OK = [
    ("Connection: keep-alive, Upgrade",
     upgrade_request(Connection="keep-alive, Upgrade")),
    ("header names and tokens in other cases",
     upgrade_request(Upgrade="WebSocket", Connection="UPGRADE").replace(
         b"Sec-WebSocket-Key:", b"sec-websocket-key:")),
    ("Upgrade as one of a token list",
     upgrade_request(Upgrade="foo/2, websocket")),
    (f"head just under --max-head {MAX_HEAD}",
     upgrade_request(extra=[("X-Pad", "p" * (MAX_HEAD - 300))])),
    ("64 headers exactly",
     upgrade_request(extra=[(f"X-Filler-{i}", "1") for i in range(59)])),
]


def handshake_then_echo(port, request):
    with ws_connect(port, request) as peer:
        echo(peer, OP_TEXT, b"hello")


def handshake_split_bytes(port):
    with Peer(port) as peer:
        for b in upgrade_request():          # ~150 writes, ~1 ms apart
            peer.send(bytes([b]))
            time.sleep(0.001)
        expect_101(peer)
        echo(peer, OP_TEXT, b"after a byte-by-byte handshake")


def handshake_split_with_frame(port):
    """A head spread over reads, its last read also carrying a frame."""
    request = upgrade_request()
    with Peer(port) as peer:
        for chunk in (request[:10], request[10:-2]):
            peer.send(chunk)
            time.sleep(0.05)
        peer.send(request[-2:] + frame(OP_TEXT, b"behind a split head"))
        expect_101(peer)
        expect_echo(peer, OP_TEXT, b"behind a split head")


def handshake_pipelined_frame(port):
    with Peer(port) as peer:
        peer.send(upgrade_request() + frame(OP_TEXT, b"pipelined")
                  + frame(OP_BINARY, b"\x00\x01"))
        expect_101(peer)
        expect_echo(peer, OP_TEXT, b"pipelined")
        expect_echo(peer, OP_BINARY, b"\x00\x01")


# ---- plain HTTP ----

def get(path, method="GET", close=False):
    extra = "Connection: close\r\n" if close else ""
    return f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n".encode()


def pipelined_health(port):
    with Peer(port) as peer:
        peer.send(get("/health") + get("/health"))
        for i in (1, 2):
            status, headers, body = peer.http_response()
            check_eq((status, body), (200, b"ok\n"), f"response {i}")
            check_eq(headers.get("connection"), "keep-alive",
                     f"response {i} Connection")
        # Still open: a third request on the same connection is served.
        peer.send(get("/health"))
        check_eq(peer.http_response()[0], 200, "third request status")


def head_health(port):
    with Peer(port) as peer:
        # If the HEAD reply had a body, it would sit where the GET's
        # status line should start.
        peer.send(get("/health", "HEAD") + get("/health"))
        status, headers, _ = peer.http_response(head_only=True)
        check_eq(status, 200, "HEAD status")
        check_eq(headers.get("content-length"), "3", "HEAD Content-Length")
        status, _, body = peer.http_response()
        check_eq((status, body), (200, b"ok\n"),
                 "GET right after HEAD (HEAD reply must have no body)")


PLAIN_HTTP = [
    ("GET unknown path", get("/nope"), 404),
    ("POST /health", get("/health", "POST"), 405),
    ("GET /echo without upgrade", get("/echo"), 404),
]


def plain_status(port, request, status):
    with Peer(port) as peer:
        peer.send(request)
        check_eq(peer.http_response()[0], status, "status")
        peer.send(get("/health"))     # and the connection is kept
        check_eq(peer.http_response()[0], 200, "next request on it")


# ---- valid frame corner cases ----

ECHO_SIZES = (0, 1, 125, 126, MAX_MESSAGE)


def echo_sizes(port):
    with ws_connect(port) as peer:
        for n in ECHO_SIZES:
            echo(peer, OP_TEXT, (b"0123456789" * (n // 10 + 1))[:n])
            echo(peer, OP_BINARY, os.urandom(n))


# Frames sent one byte per write: (name, opcode, payload, reply opcode). The
# ping goes through the hub's control-frame reassembly, the text splits
# UTF-8 code points across reads.
SPLIT_FRAMES = [
    ("200-byte binary", OP_BINARY, bytes(range(200)), OP_BINARY),
    ("multi-byte UTF-8 text", OP_TEXT, "€😀é".encode() * 10, OP_TEXT),
    ("125-byte ping", OP_PING, bytes(range(125)), OP_PONG),
]


def send_bytewise(peer, data):
    for b in data:                  # len(data) writes, 0.5 ms apart
        peer.send(bytes([b]))
        time.sleep(0.0005)


def frame_split_every_byte(port, op, payload, reply_op):
    with ws_connect(port) as peer:
        send_bytewise(peer, frame(op, payload))
        expect_echo(peer, reply_op, payload)


def close_split_every_byte(port):
    with ws_connect(port) as peer:
        send_bytewise(peer, frame(OP_CLOSE, close_payload(4321, b"split")))
        check_eq(close_code(peer.recv_frame()), 4321, "echoed close code")
        peer.expect_eof("after the close handshake")


def fragments_up_to_limit(port):
    with ws_connect(port) as peer:
        half = b"h" * (MAX_MESSAGE // 2)
        peer.send(frame(OP_TEXT, half, fin=False)
                  + frame(OP_CONT, b"", fin=False)
                  + frame(OP_CONT, half))
        expect_echo(peer, OP_TEXT, half * 2)


def fragmented_with_ping(port):
    with ws_connect(port) as peer:
        peer.send(frame(OP_TEXT, "Hello, ".encode(), fin=False)
                  + frame(OP_PING, b"in between")
                  + frame(OP_CONT, "wörld".encode(), fin=False)
                  + frame(OP_CONT, b"!"))
        f = peer.recv_frame()
        check_eq((f.op, f.payload), (OP_PONG, b"in between"),
                 "first reply (the pong)")
        expect_echo(peer, OP_TEXT, "Hello, wörld!".encode())


def ping_pong(port):
    with ws_connect(port) as peer:
        for payload in (b"", b"ping!", bytes(range(125))):
            peer.send(frame(OP_PING, payload))
            f = peer.recv_frame()
            check_eq((f.fin, f.op, f.payload), (True, OP_PONG, payload),
                     f"pong for a {len(payload)}-byte ping")


def unsolicited_pong(port):
    with ws_connect(port) as peer:
        peer.send(frame(OP_PONG, b"unasked"))
        echo(peer, OP_TEXT, b"still fine")   # the pong got no reply


def isolation(port):
    with ws_connect(port) as good, ws_connect(port) as bad:
        echo(good, OP_TEXT, b"before")
        bad.send(b"\xff" * 64)                  # RSV bits, opcode 15
        check_eq(close_code(bad.recv_frame()), 1002, "bad client close code")
        for i in range(5):
            echo(good, OP_BINARY, b"after %d" % i)
        bad.expect_eof("to the bad client")
        echo(good, OP_TEXT, b"after the bad one is gone")


# ---- a peer that resets must not take the next connection with it ----

def reset(peer):
    """Close with RST instead of FIN (SO_LINGER 0), as a crashed client or a
    client that closes with unread input does."""
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
    peer.close()


def end_by_protocol_error(port):
    peer = ws_connect(port)
    peer.send(frame(OP_CONT, b"x"))
    check_eq(close_code(peer.recv_frame()), 1002, "close code")
    return peer


def end_by_http_error(port):
    peer = Peer(port)
    peer.send(b"GARBAGE\r\n\r\n")
    check_eq(peer.http_response()[0], 400, "status")
    return peer


def end_by_connection_close(port):
    peer = Peer(port)
    peer.send(get("/health", close=True))
    check_eq(peer.http_response()[0], 200, "status")
    return peer


def end_by_close_handshake(port):
    peer = ws_connect(port)
    peer.send(frame(OP_CLOSE, close_payload(1000)))
    check_eq(close_code(peer.recv_frame()), 1000, "close code")
    return peer


# How the hub ends the first connection of each round.
ENDINGS = [
    ("after close 1002", end_by_protocol_error),
    ("after HTTP 400", end_by_http_error),
    ("after Connection: close", end_by_connection_close),
    ("after the close handshake", end_by_close_handshake),
]
RESET_ROUNDS = 200


def reset_then_next(port, end):
    """Rounds of: a peer is ended by the hub and resets at once; then a new
    connection (which the hub may give the freed descriptor slot) must
    handshake and echo."""
    for i in range(RESET_ROUNDS):
        try:
            reset(end(port))
            with ws_connect(port) as peer:
                echo(peer, OP_TEXT, b"round %d" % i)
        except (CaseFailed, OSError) as e:
            raise CaseFailed(f"round {i + 1} of {RESET_ROUNDS}: the next "
                             f"connection failed: {e}") from e


def counters_after_failures(port):
    m = metrics(port)
    for name in ("protocol_errors", "invalid_utf8", "too_big", "http_errors",
                 "messages_in"):
        name = f"ringcast_{name}_total"
        check(m.get(name, 0) > 0,
              f"{name} is {m.get(name)} after the failures")


# ---- hubs with their own limits ----

def slowloris(binary):
    with Hub(binary, "--handshake-timeout", "1") as hub:
        with Peer(hub.port) as peer:
            start = time.monotonic()
            closed_after = None
            for b in upgrade_request()[:20]:      # at most 20 * 0.3 s
                try:
                    peer.send(bytes([b]))
                    if select.select([peer.sock], [], [], 0.3)[0]:
                        data = peer.sock.recv(4096)
                        check(not data or data.startswith(b"HTTP/1.1 408"),
                              f"unexpected reply {data[:40]!r}")
                        if not data:
                            closed_after = time.monotonic() - start
                            break
                except (ConnectionResetError, BrokenPipeError):
                    closed_after = time.monotonic() - start
                    break
            check(closed_after is not None,
                  "slow head was never cut off (6 s of 1 byte per 0.3 s)")
            check(closed_after <= 3.0,
                  f"slow head cut off after {closed_after:.1f}s, want <= 3s")
        check(metrics(hub.port).get("ringcast_timeouts_total", 0) > 0,
              "ringcast_timeouts_total not counted")
        hub.check_clean_exit()


def sigterm_with_silent_peers(binary):
    """On SIGTERM a WebSocket gets close 1001, an idle keep-alive or a
    half-sent head gets EOF, and the hub exits 0 even though no peer
    answers: --close-timeout bounds the wait."""
    with Hub(binary, "--close-timeout", "1") as hub:
        with ws_connect(hub.port) as ws, Peer(hub.port) as idle, \
                Peer(hub.port) as partial:
            idle.send(get("/health"))
            check_eq(idle.http_response()[0], 200, "keep-alive request")
            partial.send(upgrade_request()[:30])
            echo(ws, OP_TEXT, b"before SIGTERM")     # all three are open
            start = time.monotonic()
            hub.terminate()
            check_eq(close_code(ws.recv_frame()), 1001, "close code")
            ws.expect_eof("after close 1001")
            idle.expect_eof("to an idle keep-alive connection")
            partial.expect_eof("to a half-sent request")
            rc = hub.wait()
            took = time.monotonic() - start
        check_eq(rc, 0, "hub exit code")
        check(took < 4.0,
              f"hub took {took:.1f}s to exit with --close-timeout 1")


def eventually(fn, timeout=TIMEOUT):
    """fn() until it stops raising, bounded; returns its result."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def max_connections(binary):
    limit = 4
    with Hub(binary, "--max-connections", str(limit)) as hub:
        peers = []
        try:
            for i in range(limit):
                peers.append(ws_connect(hub.port))
            with Peer(hub.port) as extra:
                extra.send(upgrade_request())
                status, _, _ = extra.http_response()
                check_eq(status, 503, f"connection {limit + 1} status")
                extra.expect_eof("after the 503")
            for i, peer in enumerate(peers):
                echo(peer, OP_TEXT, b"peer %d still served" % i)
        finally:
            for peer in peers:
                peer.close()
        # Closed ones free their places (asynchronously: poll, bounded).
        m = eventually(lambda: metrics(hub.port))
        check(m.get("ringcast_connections_refused_total", 0) >= 1,
              "ringcast_connections_refused_total not counted")
        hub.check_clean_exit()


def main():
    binary = hub_binary()
    suite = Suite()
    # --conn-rate-per-ip 0: each "reset ..." case opens 2 x RESET_ROUNDS
    # connections from one address, one after another as fast as each
    # ends (hundreds a second), past the default 256 a second.
    with suite.watch(Hub(binary, "--max-message", str(MAX_MESSAGE),
                         "--max-head", str(MAX_HEAD),
                         "--max-headers", str(MAX_HEADERS),
                         "--conn-rate-per-ip", "0")) as hub:
        port = hub.port
        suite.case("handshake: 101 with the right accept key, then echo",
                   handshake_then_echo, port, upgrade_request())
        for name, request in HANDSHAKES_OK:
            suite.case(f"handshake: {name}", handshake_then_echo, port,
                       request)
        suite.case("handshake: split into 1-byte writes",
                   handshake_split_bytes, port)
        suite.case("handshake: first frames in the same write",
                   handshake_pipelined_frame, port)
        suite.case("handshake: split head with a frame in its last read",
                   handshake_split_with_frame, port)
        for name, request, status, headers in HTTP_FAILURES:
            suite.case(f"http {status}: {name}", expect_http_failure, port,
                       request, status, headers)
        suite.case("http: two pipelined GET /health, keep-alive",
                   pipelined_health, port)
        suite.case("http: HEAD /health has headers only", head_health, port)
        for name, request, status in PLAIN_HTTP:
            suite.case(f"http {status}: {name} (kept alive)", plain_status,
                       port, request, status)
        suite.case(f"echo: sizes {ECHO_SIZES}", echo_sizes, port)
        for name, op, payload, reply_op in SPLIT_FRAMES:
            suite.case(f"split at every byte: {name}", frame_split_every_byte,
                       port, op, payload, reply_op)
        suite.case("split at every byte: close 4321", close_split_every_byte,
                   port)
        suite.case(f"echo: fragments adding up to exactly {MAX_MESSAGE}",
                   fragments_up_to_limit, port)
        suite.case("ping: pong with the same payload", ping_pong, port)
        suite.case("ping: between fragments, pong first", fragmented_with_ping,
                   port)
        suite.case("pong: unsolicited one is ignored", unsolicited_pong, port)
        for name, bad, code in FRAME_FAILURES:
            suite.case(f"close {code}: {name}", expect_failure, port, bad,
                       code)
        for code in VALID_CLOSE_CODES:
            suite.case(f"close: code {code} echoed", expect_close_echo, port,
                       code, b"bye")
        suite.case("close: empty close echoed empty", expect_close_echo, port,
                   None)
        suite.case("isolation: a broken client does not disturb another",
                   isolation, port)
        for name, end in ENDINGS:
            suite.case(f"reset {name}: the next connection is unharmed",
                       reset_then_next, port, end)
        suite.case("metrics: error counters counted", counters_after_failures,
                   port)
        suite.case("hub exits 0 on SIGTERM", hub.check_clean_exit)
    suite.case("defaults: an upgrade with 110 header fields is served",
               many_headers_by_default, binary)
    suite.case("slowloris: --handshake-timeout 1 cuts a slow head",
               slowloris, binary)
    suite.case("SIGTERM: close 1001, EOF to HTTP peers, exit 0 unanswered",
               sigterm_with_silent_peers, binary)
    suite.case("--max-connections 4: the 5th gets 503, the 4 still work",
               max_connections, binary)
    suite.finish()


if __name__ == "__main__":
    main()
