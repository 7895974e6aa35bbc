#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Security defaults of the hub (issue 12), each against a hub started with
its own flags; clients: python3-websockets, raw sockets, PyJWT tokens
(python3-jwt) signed with keys made here (python3-cryptography).

  - Origin: the hub's own origin (http://127.0.0.1:PORT, http://localhost:
    PORT, matching Host; https on a TLS listener; default ports elided;
    X-Forwarded-Proto from a trusted proxy) is accepted; another origin or
    `null` gets 403 and ringcast_origin_refused_total; --allow-origin
    widens it (an origin, `null`, `*`); no Origin and plain GETs are not
    checked.
  - Tokens: HS256 (--auth-secret-file, --auth-secret), RS256 and ES256
    (--auth-public-key): valid, expired, not yet valid, wrong signature,
    alg none, HS/RS confusion, another algorithm than the key's, no exp,
    a token for room A on room B, `rooms` prefixes, `listen` read-only
    (publishing closes 1008 "read-only"), expiry while connected (4001
    "token expired"), Authorization: Bearer, no token (401 with
    WWW-Authenticate), --auth optional (anonymous read-only), the `from`
    wrapper carrying the sub (not forgeable); every refusal counted in
    ringcast_auth_refused_total{reason=...}.
  - Rate limits from one address: --max-conns-per-ip, --conn-rate-per-ip
    (429, ringcast_ip_refused_total; established clients keep echoing),
    --msg-rate and --byte-rate (and their defaults; close 1008 "rate
    limit", ringcast_rate_limited_total; another client loses nothing;
    0 = unlimited), --max-partial (1013 "server busy",
    ringcast_partial_refused_total; the others finish their messages).
    --max-rooms: the flag and its default only (the hub subscribes a
    connection to one room, so rc_subscribe()'s limit is for the C tests).
  - --trusted-proxy: X-Forwarded-For (rightmost untrusted entry) decides
    the address the per-IP limits count; without it XFF is ignored.
  - Room names: percent-decoded (/ws/%41 is /ws/A), UTF-8, 1..1024 bytes
    decoded, no control characters; otherwise 400.
  - Admin: /metrics on --admin-port only (404 on the public port), /health
    on both, --admin-port off.

Usage: test_security.py /path/to/ringcast
(exit 77 without python3-websockets, python3-jwt or python3-cryptography)
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (  # noqa: E402
    HOST, TIMEOUT, CaseFailed, FrameReader, Hub, SeqReader, Suite, check,
    check_eq, check_seqs, http_get, hub_binary, metrics_labeled,
    recv_http_response, seq_payload, wait_until, ws_close_code, ws_frame)
import tlsutil  # noqa: E402

try:
    import websockets
    import websockets.exceptions
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
except ImportError as e:
    print(f"SKIP: {e.name} is not installed (python3-websockets, "
          "python3-jwt, python3-cryptography)")
    sys.exit(77)

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE = 0x0, 0x1, 0x2, 0x8
KIB, MIB = 1 << 10, 1 << 20
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


# ---- metrics ----

def counters(port):
    """Totals of /metrics (read on the hub's admin port), with labels."""
    return metrics_labeled(port)


def m_get(m, name):
    return m.get(f"ringcast_{name}", 0.0)


def auth_refused(m, reason):
    return m.get(f'ringcast_auth_refused_total{{reason="{reason}"}}', 0.0)


AUTH_REASONS = ("missing", "invalid", "expired", "room")


def auth_deltas(before, after):
    """{reason: +n} for the auth refusal counters that moved."""
    d = {r: auth_refused(after, r) - auth_refused(before, r)
         for r in AUTH_REASONS}
    return {r: int(v) for r, v in d.items() if v}


def check_counter(port, before, name, want, what):
    """Counter ringcast_<name> rises by exactly want (polled: a refusal
    may be counted a moment after the client saw it)."""
    def got():
        m = counters(port)
        return m if m_get(m, name) - m_get(before, name) >= want else None
    try:
        m = wait_until(got, f"{what}: ringcast_{name} +{want}", timeout=3)
    except CaseFailed:
        m = counters(port)
    check_eq(m_get(m, name) - m_get(before, name), want,
             f"{what}: ringcast_{name} delta")
    return m


# ---- raw HTTP: an upgrade (or GET) with exactly the headers given ----

class Resp:
    """A response head read from a raw socket. status None: the connection
    ended (EOF or reset) before any response."""

    def __init__(self, status, headers, body, sock, rest, early=False):
        self.status, self.headers, self.body = status, headers, body
        self.sock, self.rest, self.early = sock, rest, early

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:80]!r}>"


def request_bytes(port, path, headers=(), host=None, upgrade=True):
    lines = [f"GET {path} HTTP/1.1",
             f"Host: {host if host is not None else f'{HOST}:{port}'}"]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade",
                  f"Sec-WebSocket-Key: {WS_KEY}", "Sec-WebSocket-Version: 13"]
    for name, value in headers:
        lines.append(f"{name}: {value}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8",
                                                   "surrogateescape")
    return raw


def connect(port, tls=None, sni="localhost", timeout=TIMEOUT):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        try:
            s = tls.wrap_socket(s, server_hostname=sni)
        except BaseException:
            s.close()
            raise
    return s


def ask(port, path="/ws/x", headers=(), host=None, upgrade=True, tls=None,
        raw_path=None, wait_first=0.0):
    """One request on a new connection: Resp. A 101 keeps the socket open
    in Resp.sock (the caller closes it); anything else closes it.
    wait_first: first wait that long for an answer the hub sends before
    the request (a per-address refusal at accept): Resp.early."""
    s = connect(port, tls)
    early = False
    buf = b""
    try:
        if wait_first:
            s.settimeout(wait_first)
            try:
                buf = s.recv(65536)
                early = True
                if not buf:
                    s.close()
                    return Resp(None, {}, b"", None, b"", early=True)
            except socket.timeout:
                pass
            except ConnectionResetError:
                s.close()
                return Resp(None, {}, b"", None, b"", early=True)
        if not early:
            data = request_bytes(port, path, headers, host, upgrade)
            if raw_path is not None:
                data = data.replace(path.encode(), raw_path, 1)
            s.sendall(data)
        try:
            status, hdrs, body, rest = recv_http_response(s, buf=buf)
        except (ConnectionResetError, BrokenPipeError):
            s.close()
            return Resp(None, {}, b"", None, b"", early=early)
        except CaseFailed:
            if buf:
                raise
            s.close()       # closed before a response head
            return Resp(None, {}, b"", None, b"", early=early)
    except BaseException:
        s.close()
        raise
    if status != 101:
        s.close()
        s = None
    return Resp(status, hdrs, body, s, rest, early=early)


def expect_status(resp, want, what):
    resp.close()
    check_eq(resp.status, want, f"{what}: status")


def ws_echo(sock, reader, payload, op=OP_TEXT, timeout=TIMEOUT):
    sock.sendall(ws_frame(op, payload))
    f = reader.next(timeout)
    check(f is not None, f"EOF instead of the echo of {payload[:20]!r}")
    check_eq(f, (True, op, payload), "echo")


class Echoer:
    """An established /echo client on a raw socket."""

    def __init__(self, port, path="/echo", headers=()):
        r = ask(port, path, headers)
        check_eq(r.status, 101, f"upgrade to {path}")
        self.sock, self.reader = r.sock, FrameReader(r.sock, r.rest)
        self.n = 0

    def echo(self, what="echo"):
        payload = b"%s %d" % (what.encode(), self.n)
        self.n += 1
        ws_echo(self.sock, self.reader, payload)

    def close(self):
        self.sock.close()


def read_until_close(reader, timeout=TIMEOUT):
    """Data frames until the server's close frame: (data payloads, close
    code, close reason); code None if the connection ended without one."""
    deadline = time.monotonic() + timeout
    data = []
    while True:
        left = deadline - time.monotonic()
        check(left > 0, f"no close frame within {timeout}s "
                        f"({len(data)} data frames)")
        f = reader.next(left)
        if f is None:
            return data, None, None
        fin, op, payload = f
        if op in (OP_TEXT, OP_BINARY):
            data.append(payload)
        elif op == OP_CLOSE:
            return data, ws_close_code(payload), payload[2:]


def flood(sock, frames, reader, timeout=10.0):
    """Send frames (bytes) from a thread while this one reads what comes
    back until the close frame (so the hub's output to us never fills up
    and pauses its reading): (echoed payloads, close code, reason)."""
    err = []

    def send():
        try:
            sock.sendall(frames)
        except OSError as e:    # the hub closed us mid-flood: expected
            err.append(e)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    try:
        out = read_until_close(reader, timeout)
    finally:
        t.join(timeout)
    return out


# ---- tokens ----

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hand_token(header, claims, sign):
    """A JWT made by hand (for what PyJWT refuses to make): sign(bytes)
    -> signature bytes."""
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    p = b64u(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{p}.{b64u(sign(f'{h}.{p}'.encode()))}"


def claims(sub="alice", ttl=300, **kw):
    c = {"exp": int(time.time()) + ttl, **kw}
    if sub is not None:
        c["sub"] = sub
    return c


class Keys:
    """Keys and the files the hubs read them from, in a temporary dir."""

    def __init__(self, d):
        self.dir = d
        self.secret = os.urandom(32).hex()
        self.secret_file = self._write("secret", self.secret.encode())
        self.rsa = rsa.generate_private_key(public_exponent=65537,
                                            key_size=2048)
        self.rsa_pub_pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.rsa_pub = self._write("rsa.pub.pem", self.rsa_pub_pem)
        self.rsa_other = rsa.generate_private_key(public_exponent=65537,
                                                  key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.ec_pub = self._write("ec.pub.pem", self.ec.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo))
        self.ec_other = ec.generate_private_key(ec.SECP256R1())

    def _write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def hs(self, c, secret=None):
        return jwt.encode(c, secret or self.secret, algorithm="HS256")

    def rs(self, c, key=None):
        return jwt.encode(c, key or self.rsa, algorithm="RS256")

    def es(self, c, key=None):
        return jwt.encode(c, key or self.ec, algorithm="ES256")


def with_token(path, token):
    return f"{path}?token={token}"


def refused(port, path, want_status, reason, what, headers=(),
            www=None):
    """An upgrade to path is refused with want_status, counted once in
    ringcast_auth_refused_total under reason (None: under some reason),
    with a WWW-Authenticate header containing www (if given)."""
    before = counters(port)
    r = ask(port, path, headers)
    r.close()
    check_eq(r.status, want_status, f"{what}: status")
    if www is not None:
        got = r.headers.get("www-authenticate")
        check(got is not None and www in got,
              f"{what}: WWW-Authenticate {got!r}, want one with {www!r}")

    def moved():
        d = auth_deltas(before, counters(port))
        return d if d else None
    d = wait_until(moved, f"{what}: an auth refusal counted", timeout=3)
    if reason is None:
        check_eq(sum(d.values()), 1, f"{what}: auth refusals counted ({d})")
    else:
        check_eq(d, {reason: 1}, f"{what}: ringcast_auth_refused_total "
                                 "deltas")


def accepted(port, path, what, headers=()):
    r = ask(port, path, headers)
    r.close()
    check_eq(r.status, 101, f"{what}: status")


def run_async(coro, timeout=20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_url(port, path):
    return f"ws://{HOST}:{port}{path}"


def close_of(e):
    """(code, reason) of a websockets ConnectionClosed."""
    rcvd = getattr(e, "rcvd", None)
    if rcvd is not None:
        return rcvd.code, rcvd.reason
    return getattr(e, "code", None), getattr(e, "reason", None)


async def recv_json(ws, what, timeout=TIMEOUT):
    msg = await asyncio.wait_for(ws.recv(), timeout)
    check(isinstance(msg, str), f"{what}: a binary message {msg[:40]!r}")
    try:
        return json.loads(msg)
    except ValueError:
        raise CaseFailed(f"{what}: not JSON: {msg[:120]!r}") from None


async def expect_close(ws, code, reason, what, timeout=TIMEOUT,
                       reason_any=False):
    """Read until the hub closes ws; its close must be (code, reason)
    (code alone with reason_any)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            await asyncio.wait_for(ws.recv(),
                                   max(0.01, deadline - time.monotonic()))
    except websockets.exceptions.ConnectionClosed as e:
        got = close_of(e)
        if reason_any:
            check_eq(got[0], code, f"{what}: close code ({got})")
        else:
            check_eq(got, (code, reason), f"{what}: close")
        return time.time()
    except asyncio.TimeoutError:
        pass
    raise CaseFailed(f"{what}: not closed within {timeout}s")


# ---- Origin ----

def origin_cases(suite, binary):
    with suite.watch(Hub(binary)) as hub:
        port = hub.port

        def own_origin():
            for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
                r = ask(port, "/ws/o", [("Origin", f"http://{host}")],
                        host=host)
                expect_status(r, 101, f"Origin http://{host}, Host {host}")
            # case-insensitive host
            r = ask(port, "/ws/o", [("Origin", f"http://LocalHost:{port}")],
                    host=f"localhost:{port}")
            expect_status(r, 101, "Origin with the host in another case")
        suite.case("Origin: the hub's own (127.0.0.1 and localhost, "
                   "matching Host): 101", own_origin)

        def default_ports():
            for host, origin, want in (
                    ("chat.example:80", "http://chat.example", 101),
                    ("chat.example", "http://chat.example:80", 101),
                    ("chat.example:443", "http://chat.example", 403),
                    ("chat.example", "https://chat.example", 403)):
                r = ask(port, "/ws/o", [("Origin", origin)], host=host)
                expect_status(r, want, f"Host {host}, Origin {origin}")
        suite.case("Origin: default port 80 elided on either side; 443 is "
                   "not http's", default_ports)

        def foreign():
            before = counters(port)
            bad = ["http://evil.example", f"http://127.0.0.1:{port + 1}",
                   f"https://127.0.0.1:{port}", f"http://localhost:{port}",
                   "null"]
            for origin in bad:
                # Host 127.0.0.1:PORT: localhost is another origin
                r = ask(port, "/ws/o", [("Origin", origin)])
                expect_status(r, 403, f"Origin {origin}")
            check_counter(port, before, "origin_refused_total", len(bad),
                          "foreign origins")
            m = counters(port)
            check_eq(m_get(m, "handshakes_total") -
                     m_get(before, "handshakes_total"), 0,
                     "handshakes_total delta")
        suite.case("Origin: another host, port, scheme, or null: 403, "
                   "counted in origin_refused", foreign)

        async def real_client():
            try:
                async with websockets.connect(ws_url(port, "/ws/o"),
                                              origin="http://evil.example",
                                              open_timeout=TIMEOUT):
                    pass
            except websockets.exceptions.InvalidStatusCode as e:
                check_eq(e.status_code, 403, "websockets with a foreign "
                                             "origin: status")
            else:
                raise CaseFailed("websockets with origin http://evil.example"
                                 " was let in")
            async with websockets.connect(ws_url(port, "/echo"),
                                          origin=f"http://127.0.0.1:{port}",
                                          open_timeout=TIMEOUT) as ws:
                await ws.send("own origin")
                check_eq(await asyncio.wait_for(ws.recv(), TIMEOUT),
                         "own origin", "echo")
            async with websockets.connect(ws_url(port, "/echo"),
                                          open_timeout=TIMEOUT) as ws:
                await ws.send("no origin")
                check_eq(await asyncio.wait_for(ws.recv(), TIMEOUT),
                         "no origin", "echo without Origin")
        suite.case("Origin: python3-websockets, foreign 403, own and none "
                   "echo", lambda: run_async(real_client()))

        def plain_get():
            for path, want in (("/", 200), ("/health", 200)):
                r = ask(port, path, [("Origin", "http://evil.example")],
                        upgrade=False)
                expect_status(r, want, f"GET {path} with a foreign Origin")
        suite.case("Origin: plain GET / and /health are not checked",
                   plain_get)
        suite.case("hub exits 0 on SIGTERM", hub.check_clean_exit)

    def allow_list():
        with Hub(binary, "--allow-origin", "https://a.example") as hub:
            port = hub.port
            for origin, want in (("https://a.example", 101),
                                 ("https://b.example", 403),
                                 ("http://a.example", 403),
                                 ("null", 403),
                                 (f"http://127.0.0.1:{port}", 101)):
                r = ask(port, "/ws/o", [("Origin", origin)])
                expect_status(r, want, f"--allow-origin https://a.example: "
                                       f"Origin {origin}")
            hub.check_clean_exit()
    suite.case("--allow-origin https://a.example: it and the own origin in, "
               "others 403", allow_list)

    def allow_null():
        with Hub(binary, "--allow-origin", "null") as hub:
            for origin, want in (("null", 101), ("http://evil.example", 403)):
                r = ask(hub.port, "/ws/o", [("Origin", origin)])
                expect_status(r, want, f"--allow-origin null: Origin "
                                       f"{origin}")
            hub.check_clean_exit()
    suite.case("--allow-origin null: Origin null in, others still 403",
               allow_null)

    def allow_any():
        with Hub(binary, "--allow-origin", "*") as hub:
            before = counters(hub.port)
            for origin in ("http://evil.example", "https://a.example:8443",
                           f"http://127.0.0.1:{hub.port}"):
                r = ask(hub.port, "/ws/o", [("Origin", origin)])
                expect_status(r, 101, f"--allow-origin '*': Origin {origin}")
            check_eq(m_get(counters(hub.port), "origin_refused_total") -
                     m_get(before, "origin_refused_total"), 0,
                     "origin_refused delta")
            hub.check_clean_exit()
    suite.case("--allow-origin '*': any origin in", allow_any)


def tls_origin_cases(suite, binary, certs):
    if certs is None:
        print("     (no openssl: the TLS Origin cases are skipped)")
        return
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca.cert)

    def tls_main():
        with Hub(binary, "--tls-cert", certs.localhost.cert, "--tls-key",
                 certs.localhost.key) as hub:
            port = hub.port
            for origin, host, want in (
                    (f"https://localhost:{port}", f"localhost:{port}", 101),
                    (f"https://127.0.0.1:{port}", f"127.0.0.1:{port}", 101),
                    (f"http://localhost:{port}", f"localhost:{port}", 403),
                    ("https://localhost", "localhost:443", 101),
                    ("https://evil.example", f"localhost:{port}", 403)):
                r = ask(port, "/ws/o", [("Origin", origin)], host=host,
                        tls=ctx)
                expect_status(r, want, f"TLS listener: Origin {origin}, "
                                       f"Host {host}")
            hub.check_clean_exit()
    suite.case("Origin over TLS: https://host:port accepted, http:// 403",
               tls_main)

    def tls_port():
        with Hub(binary, "--tls-cert", certs.localhost.cert, "--tls-key",
                 certs.localhost.key, "--tls-port", "0") as hub:
            m = re.search(rb"tls on [0-9.]+:(\d+)", hub.stdout_text())
            check(m, "no 'tls on' in the start-up line")
            tport = int(m.group(1))
            for port, tls, scheme, want in (
                    (hub.port, None, "http", 101),
                    (hub.port, None, "https", 403),
                    (tport, ctx, "https", 101),
                    (tport, ctx, "http", 403)):
                r = ask(port, "/ws/o",
                        [("Origin", f"{scheme}://localhost:{port}")],
                        host=f"localhost:{port}", tls=tls)
                expect_status(r, want, f"{'TLS' if tls else 'plain'} port, "
                                       f"Origin {scheme}://")
            hub.check_clean_exit()
    suite.case("Origin with --tls-port: http on the plain port, https on "
               "the TLS one", tls_port)


# ---- room names ----

def room_cases(suite, binary):
    with suite.watch(Hub(binary)) as hub:
        port = hub.port

        async def same_room(a_path, b_path):
            async with websockets.connect(ws_url(port, a_path)) as a, \
                    websockets.connect(ws_url(port, b_path)) as b:
                await asyncio.sleep(0.05)
                await b.send(f"from {b_path}")
                check_eq(await asyncio.wait_for(a.recv(), TIMEOUT),
                         f"from {b_path}", f"{a_path} hears {b_path}")
                await a.send(f"from {a_path}")
                got = [await asyncio.wait_for(b.recv(), TIMEOUT)
                       for _ in range(2)]
                check_eq(got, [f"from {b_path}", f"from {a_path}"],
                         f"{b_path} hears itself and {a_path}")

        def one_room():
            run_async(same_room("/ws/A", "/ws/%41"))
            run_async(same_room("/ws/%c3%a9t%C3%A9", "/ws/%C3%A9t%c3%a9"))
        suite.case("room names: /ws/%41 and /ws/A, %c3%a9 and %C3%A9 are one "
                   "room each", one_room)

        def bad_names():
            bad = ["%ZZ", "%00", "%C3", "%4", "a%", "%7F", "%1F", "%0A",
                   "%C2%80", "%C2%9F", "%FF", "%C0%80", "%ED%A0%80",
                   "%F4%90%80%80", "a" * 1025, "%C3%A9" * 512 + "a"]
            for name in bad:
                r = ask(port, "/ws/" + name)
                expect_status(r, 400, f"/ws/{name[:40]}")
            r = ask(port, "/ws/x", raw_path=b"/ws/\xc3")
            expect_status(r, 400, "raw byte 0xC3 (bad UTF-8) in the path")
        suite.case("room names: bad escapes, NUL, control chars (C0, DEL, "
                   "C1), bad UTF-8, over 1024 bytes decoded: 400",
                   bad_names)

        def long_names():
            for name in ("a" * 1024, "%C3%A9" * 512, "%41" * 1024):
                r = ask(port, "/ws/" + name)
                expect_status(r, 101, f"/ws/{name[:12]}... ({len(name)} "
                                      "chars)")
        suite.case("room names: 1024 bytes after decoding (up to 3072 "
                   "chars of %XX): 101", long_names)

        async def forged_stamp():
            before = counters(port)
            async with websockets.connect(ws_url(port, "/ws/stamp")) as a, \
                    websockets.connect(ws_url(port, "/ws/stamp")) as b:
                await asyncio.sleep(0.05)
                await a.send('{"from":"admin","data":"trust me"}')
                await expect_close(a, 1008, None, "a forged stamp",
                                   reason_any=True)
                await b.send("plain")
                check_eq(await asyncio.wait_for(b.recv(), TIMEOUT), "plain",
                         "the other member's next message (the forgery "
                         "never went out)")
            m = counters(port)
            check_eq(m_get(m, "forged_closes_total") -
                     m_get(before, "forged_closes_total"), 1,
                     "forged_closes delta")
        suite.case("no auth: a message posing as hub-stamped "
                   "({\"from\":...) closes its sender 1008, never delivered",
                   lambda: run_async(forged_stamp()))
        suite.case("hub exits 0 on SIGTERM", hub.check_clean_exit)


# ---- the admin listener ----

def admin_cases(suite, binary):
    with suite.watch(Hub(binary)) as hub:
        def split():
            check(hub.admin_port and hub.admin_port != hub.port,
                  f"admin port {hub.admin_port}, public {hub.port}")
            check_eq(hub.admin_host, "127.0.0.1", "admin host (default)")
            status, _, body = http_get(hub.port, "/metrics")
            check_eq(status, 404, "GET /metrics on the public port")
            check(b"ringcast_" not in body, "the public 404 has metrics")
            status, hdrs, body = http_get(hub.admin_port, "/metrics")
            check_eq(status, 200, "GET /metrics on the admin port")
            text = body.decode()
            for name in ("origin_refused_total", "ip_refused_total",
                         "rate_limited_total", "subscriptions_refused_total",
                         "partial_refused_total", "handshakes_total"):
                check(re.search(rf"^ringcast_{name} \d+$", text, re.M),
                      f"admin /metrics has no ringcast_{name}")
            for port in (hub.port, hub.admin_port):
                status, _, body = http_get(port, "/health")
                check_eq((status, body), (200, b"ok\n"), f"/health on "
                                                         f"{port}")
            status, _, _ = http_get(hub.admin_port, "/")
            check_eq(status, 404, "GET / on the admin port")
            r = ask(hub.admin_port, "/echo")
            r.close()
            check(r.status != 101, "a WebSocket upgrade on the admin port "
                                   "was accepted")
        suite.case("admin: /metrics on --admin-port (200), 404 on the "
                   "public port; /health on both", split)
        suite.case("hub exits 0 on SIGTERM", hub.check_clean_exit)

    def admin_off():
        with Hub(binary, "--admin-port", "off") as hub:
            check(b"admin on" not in hub.stdout_text(),
                  f"--admin-port off printed {hub.stdout_text()!r}")
            status, _, _ = http_get(hub.port, "/metrics")
            check_eq(status, 404, "public /metrics with --admin-port off")
            status, _, _ = http_get(hub.port, "/health")
            check_eq(status, 200, "/health with --admin-port off")
            hub.check_clean_exit()
    suite.case("--admin-port off: no admin listener, /metrics nowhere",
               admin_off)


# ---- tokens ----

def token_cases(suite, binary, keys):
    with suite.watch(Hub(binary, "--auth-secret-file",
                         keys.secret_file)) as hub:
        port = hub.port
        ok = keys.hs(claims(rooms=["a"]))

        def valid():
            accepted(port, with_token("/ws/a", ok), "a valid HS256 token")
            accepted(port, with_token("/ws/%61", ok),
                     "the same room percent-encoded")
            accepted(port, "/ws/a", "the token in Authorization: Bearer",
                     headers=[("Authorization", f"Bearer {ok}")])
            accepted(port, with_token("/echo", keys.hs(claims())),
                     "/echo with a token naming no room")
        suite.case("HS256: a valid token (query, Bearer header), /echo with "
                   "any valid token: 101", valid)

        def missing():
            refused(port, "/ws/a", 401, "missing", "no token",
                    www='Bearer realm="ringcast"')
            refused(port, "/echo", 401, "missing", "/echo without a token",
                    www='Bearer realm="ringcast"')
        suite.case("HS256: no token: 401 + WWW-Authenticate realm, counted "
                   "missing", missing)

        def bad():
            now = int(time.time())
            inv = 'error="invalid_token"'
            refused(port, with_token("/ws/a", keys.hs(claims(ttl=-60,
                                                              rooms=["a"]))),
                    401, "expired", "an expired token", www=inv)
            refused(port, with_token("/ws/a", keys.hs(claims(
                        rooms=["a"], nbf=now + 3600))),
                    401, None, "nbf an hour ahead", www=inv)
            refused(port, with_token("/ws/a", keys.hs(claims(rooms=["a"]),
                                                      secret="not-it")),
                    401, "invalid", "signed with another secret", www=inv)
            forged = ok[:-4] + ("AAAA" if not ok.endswith("AAAA") else "BBBB")
            refused(port, with_token("/ws/a", forged), 401, "invalid",
                    "a changed signature", www=inv)
            head, payload, sig = ok.split(".")
            c = json.loads(base64.urlsafe_b64decode(payload + "=="))
            c["rooms"] = ["a", "b"]
            swapped = f"{head}.{b64u(json.dumps(c).encode())}.{sig}"
            refused(port, with_token("/ws/b", swapped), 401, "invalid",
                    "claims changed under a kept signature", www=inv)
            refused(port, with_token("/ws/a", jwt.encode(
                        claims(rooms=["a"]), None, algorithm="none")),
                    401, "invalid", "alg none, no signature", www=inv)
            refused(port, with_token("/ws/a", hand_token(
                        {"alg": "none", "typ": "JWT"}, claims(rooms=["a"]),
                        lambda m: hmac.new(keys.secret.encode(), m,
                                           hashlib.sha256).digest())),
                    401, "invalid", "alg none with an HS256 signature")
            refused(port, with_token("/ws/a", keys.rs(claims(rooms=["a"]))),
                    401, "invalid", "RS256 on an HS256-only hub")
            refused(port, with_token("/ws/a", keys.hs({"sub": "x",
                                                       "rooms": ["a"]})),
                    401, "invalid", "no exp")
            for junk in ("x", "a.b.c", "...."):
                refused(port, with_token("/ws/a", junk), 401, "invalid",
                        f"token {junk!r}")
        suite.case("HS256: expired, nbf ahead, wrong signature, changed "
                   "claims, alg none, another alg, no exp, junk: 401 "
                   "invalid_token, counted", bad)

        def rooms():
            refused(port, with_token("/ws/b", ok), 403, "room",
                    "a token for room a on room b")
            pre = keys.hs(claims(rooms=["a*"]))
            for room in ("a", "abc", "a%2Fx"):
                accepted(port, with_token(f"/ws/{room}", pre),
                         f"rooms [a*] on /ws/{room}")
            for room in ("b", "ba", "A"):
                refused(port, with_token(f"/ws/{room}", pre), 403, "room",
                        f"rooms [a*] on /ws/{room}")
            exact = keys.hs(claims(rooms=["A"]))
            accepted(port, with_token("/ws/%41", exact),
                     "rooms [A] on /ws/%41 (decoded before matching)")
            refused(port, with_token("/ws/ab", exact), 403, "room",
                    "rooms [A] on /ws/ab")
            lst = keys.hs(claims(listen=["news"]))
            accepted(port, with_token("/ws/news", lst), "listen [news]")
            refused(port, with_token("/ws/other", lst), 403, "room",
                    "listen [news] on /ws/other")
        suite.case("HS256: room A's token on B 403 (counted room); 'a*' "
                   "prefix; decoded names; listen", rooms)

        async def read_only():
            poster = keys.hs(claims(sub="poster", rooms=["news"]))
            reader = keys.hs(claims(sub="reader", listen=["news"]))
            before = counters(port)
            async with websockets.connect(ws_url(port, with_token(
                    "/ws/news", poster))) as p, \
                    websockets.connect(ws_url(port, with_token(
                        "/ws/news", reader))) as r:
                await asyncio.sleep(0.05)
                await p.send("headline")
                for ws, who in ((r, "listener"), (p, "poster")):
                    got = await recv_json(ws, who)
                    check_eq(got, {"from": "poster", "data": "headline"},
                             f"{who} receives")
                await r.send("a reader's reply")
                await expect_close(r, 1008, "read-only", "listener posting")
                await p.send("after")
                got = await recv_json(p, "poster")
                check_eq(got, {"from": "poster", "data": "after"},
                         "poster's next message (the listener's never "
                         "went out)")
            m = counters(port)
            check_eq(m_get(m, "deliveries_total") -
                     m_get(before, "deliveries_total"), 3,
                     "deliveries delta (headline x2, after x1)")
            check_eq(m_get(m, "readonly_closes_total") -
                     m_get(before, "readonly_closes_total"), 1,
                     "readonly_closes delta")
        suite.case("HS256: a listen member receives; publishing closes it "
                   "1008 read-only, nothing published",
                   lambda: run_async(read_only()))

        async def from_field():
            alice = keys.hs(claims(sub="alice", rooms=["f"]))
            odd_sub = 'b\u00f6b "the" \\ </script> \U0001f600'
            bob = keys.hs(claims(sub=odd_sub, rooms=["f"]))
            async with websockets.connect(ws_url(port, with_token(
                    "/ws/f", alice))) as a, \
                    websockets.connect(ws_url(port, "/ws/f"), extra_headers={
                        "Authorization": f"Bearer {bob}"}) as b:
                await asyncio.sleep(0.05)
                forged = '{"from":"admin","data":"you are fired"}'
                await a.send(forged)
                for ws, who in ((b, "bob"), (a, "alice")):
                    got = await recv_json(ws, who)
                    check_eq(got, {"from": "alice", "data": forged},
                             f"{who} receives alice's forgery attempt")
                text = 'tab\t "quote" \\ é 😀 \u2028'
                await b.send(text)
                for ws, who in ((a, "alice"), (b, "bob")):
                    got = await recv_json(ws, who)
                    check_eq(got, {"from": odd_sub, "data": text},
                             f"{who} receives bob's message")
            # A sub with a control character could forge a line where it
            # is shown: the token is refused.
            refused(port, with_token("/ws/f", keys.hs(claims(
                        sub="alice\nadmin: hi", rooms=["f"]))), 401,
                    "invalid", "a sub with a newline")
        suite.case("HS256: 'from' is the sender's sub, escaped; a message "
                   "saying from admin cannot forge it",
                   lambda: run_async(from_field()))

        async def expiry():
            before = counters(port)
            exp = int(time.time()) + 2
            tok = keys.hs({"sub": "brief", "exp": exp, "rooms": ["t"]})
            async with websockets.connect(ws_url(port, with_token(
                    "/ws/t", tok))) as ws:
                await ws.send("still valid")
                got = await recv_json(ws, "before expiry")
                check_eq(got["data"], "still valid", "echo before expiry")
                closed = await expect_close(ws, 4001, "token expired",
                                            "a token expiring while "
                                            "connected", timeout=6)
            check(closed >= exp - 0.05,
                  f"closed {exp - closed:.2f}s before exp")
            check(closed <= exp + 1.5,
                  f"closed {closed - exp:.2f}s after exp")
            m = counters(port)
            check_eq(m_get(m, "deadline_closes_total") -
                     m_get(before, "deadline_closes_total"), 1,
                     "deadline_closes delta")
        suite.case("HS256: token expiring while connected (exp now+2s): "
                   "close 4001 'token expired' at exp",
                   lambda: run_async(expiry()))
        suite.case("hub exits 0 on SIGTERM", hub.check_clean_exit)

    def rs256():
        with Hub(binary, "--auth-public-key", keys.rsa_pub) as hub:
            port = hub.port
            accepted(port, with_token("/ws/a", keys.rs(claims(rooms=["a"]))),
                     "a valid RS256 token")
            refused(port, with_token("/ws/b", keys.rs(claims(rooms=["a"]))),
                    403, "room", "RS256: room a's token on b")
            confused = hand_token(
                {"alg": "HS256", "typ": "JWT"}, claims(rooms=["a"]),
                lambda m: hmac.new(keys.rsa_pub_pem, m,
                                   hashlib.sha256).digest())
            refused(port, with_token("/ws/a", confused), 401, "invalid",
                    "HS256 signed with the RSA public key PEM as secret")
            refused(port, with_token("/ws/a", keys.rs(
                        claims(rooms=["a"]), key=keys.rsa_other)),
                    401, "invalid", "RS256 signed by another key")
            refused(port, with_token("/ws/a", keys.rs(claims(
                        ttl=-5, rooms=["a"]))), 401, "expired",
                    "an expired RS256 token")
            refused(port, with_token("/ws/a", keys.es(claims(rooms=["a"]))),
                    401, "invalid", "ES256 on an RSA hub")
            refused(port, with_token("/ws/a", keys.hs(claims(rooms=["a"]))),
                    401, "invalid", "HS256 on an RSA-only hub")
            refused(port, with_token("/ws/a", jwt.encode(
                        claims(rooms=["a"]), None, algorithm="none")),
                    401, "invalid", "alg none on an RSA hub")
            hub.check_clean_exit()
    suite.case("RS256 (--auth-public-key RSA): valid 101; HS/RS confusion, "
               "other key, ES256, HS256, none: 401", rs256)

    def es256():
        with Hub(binary, "--auth-public-key", keys.ec_pub) as hub:
            port = hub.port
            accepted(port, with_token("/ws/a", keys.es(claims(rooms=["a"]))),
                     "a valid ES256 token")
            refused(port, with_token("/ws/a", keys.es(
                        claims(rooms=["a"]), key=keys.ec_other)),
                    401, "invalid", "ES256 signed by another key")
            refused(port, with_token("/ws/a", keys.rs(claims(rooms=["a"]))),
                    401, "invalid", "RS256 on an EC hub")
            refused(port, with_token("/ws/b", keys.es(claims(rooms=["a"]))),
                    403, "room", "ES256: room a's token on b")
            hub.check_clean_exit()
    suite.case("ES256 (--auth-public-key EC P-256): valid 101; other key, "
               "RS256: 401; other room 403", es256)

    def both_keys():
        with Hub(binary, "--auth-secret", keys.secret, "--auth-public-key",
                 keys.rsa_pub) as hub:
            port = hub.port
            accepted(port, with_token("/ws/a", keys.hs(claims(rooms=["a"]))),
                     "HS256 with --auth-secret on the command line")
            accepted(port, with_token("/ws/a", keys.rs(claims(rooms=["a"]))),
                     "RS256 beside it")
            confused = hand_token(
                {"alg": "HS256", "typ": "JWT"}, claims(rooms=["a"]),
                lambda m: hmac.new(keys.rsa_pub_pem, m,
                                   hashlib.sha256).digest())
            refused(port, with_token("/ws/a", confused), 401, "invalid",
                    "HS256 signed with the RSA public PEM, both keys set")
            hub.check_clean_exit()
    suite.case("--auth-secret and --auth-public-key together: each alg with "
               "its key, no confusion", both_keys)

    async def optional():
        with Hub(binary, "--auth-secret-file", keys.secret_file, "--auth",
                 "optional") as hub:
            port = hub.port
            tok = keys.hs(claims(sub="carol", rooms=["o"]))
            async with websockets.connect(ws_url(port, "/ws/o")) as anon, \
                    websockets.connect(ws_url(port, with_token(
                        "/ws/o", tok))) as carol:
                await asyncio.sleep(0.05)
                await carol.send("hello anon")
                got = await recv_json(anon, "anonymous member")
                check_eq(got, {"from": "carol", "data": "hello anon"},
                         "anonymous member receives")
                await anon.send("let me talk")
                await expect_close(anon, 1008, "read-only",
                                   "anonymous member posting")
            refused(port, with_token("/ws/o", "not.a.token"), 401,
                    "invalid", "--auth optional: a bad token is no "
                               "anonymous pass")
            refused(port, with_token("/ws/other", tok), 403, "room",
                    "--auth optional: a token for another room")
            hub.check_clean_exit()
    suite.case("--auth optional: anonymous joins read-only (posting closes "
               "1008), token holders post, bad tokens 401",
               lambda: run_async(optional()))

    def usage_errors():
        for args in (["--auth", "optional"],
                     ["--auth-public-key", os.path.join(keys.dir, "none")],
                     ["--auth-secret-file", os.path.join(keys.dir, "none")],
                     ["--auth-public-key", keys.secret_file],
                     ["--auth", "sometimes", "--auth-secret", "x"]):
            r = subprocess.run([binary, "--port", "0", "--admin-port", "off",
                                *args], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=20)
            check(r.returncode != 0 and b"listening" not in r.stdout,
                  f"{' '.join(args)}: exit {r.returncode}, stdout "
                  f"{r.stdout[:80]!r}")
            check_eq(r.returncode, 2, f"{' '.join(args)}: exit code "
                                      f"(stderr {r.stderr[:200]!r})")
    suite.case("bad auth flags (optional without a key, missing or non-key "
               "files, a bad mode): exit 2", usage_errors)


# ---- per-address limits ----

def established(port, n):
    return [Echoer(port) for _ in range(n)]


def conn_limit_cases(suite, binary):
    LIMIT = 8

    def max_conns():
        with Hub(binary, "--max-conns-per-ip", str(LIMIT)) as hub:
            port = hub.port
            before = counters(port)
            socks = established(port, LIMIT)
            try:
                r = ask(port, "/echo", wait_first=1.0)
                r.close()
                check_eq(r.status, 429, f"connection {LIMIT + 1} from one "
                                        "address: status")
                check(r.early, "the 429 came only after the request: it "
                               "must come at accept")
                FLOOD = 50
                statuses = []
                for i in range(FLOOD):
                    r = ask(port, "/echo")
                    r.close()
                    statuses.append(r.status)
                    if i % 10 == 0:
                        socks[i % LIMIT].echo("during the flood")
                check(all(s in (429, None) for s in statuses),
                      f"flood over the limit: statuses {set(statuses)}")
                check(statuses.count(429) >= FLOOD // 2,
                      f"only {statuses.count(429)} of {FLOOD} got the 429")
                for s in socks:
                    s.echo("after the flood")
                check_counter(port, before, "ip_refused_total", FLOOD + 1,
                              "connections over --max-conns-per-ip")
                socks.pop().close()
                # A freed place is taken again (the close is asynchronous:
                # polled, bounded).
                wait_until(lambda: (lambda r: (r.close(), r.status == 101)[1])(
                               ask(port, "/echo")),
                           "a connection after one of the first left")
            finally:
                for s in socks:
                    s.close()
            logs.append(hub.stderr_tail(1 << 16))
            hub.check_clean_exit()
    logs = []
    suite.case(f"--max-conns-per-ip {LIMIT}: connection {LIMIT + 1} and a "
               "flood of 50 get 429 at accept, counted; the others echo",
               max_conns)

    def logged():
        check(logs, "no hub ran")
        check(re.search(r"127\.0\.0\.1.*429|429.*127\.0\.0\.1", logs[0]),
              f"no line of the hub's stderr names 127.0.0.1 and 429 for "
              f"the 51 connections refused; stderr: {logs[0][-300:]!r}")
    suite.case("per-address refusals (429) are logged with the address",
               logged)

    RATE = 20

    def conn_rate():
        with Hub(binary, "--conn-rate-per-ip", str(RATE)) as hub:
            port = hub.port
            socks = established(port, 2)
            try:
                time.sleep(1.2)     # the bucket refills to RATE
                before = counters(port)
                t0 = time.monotonic()
                statuses = []
                for _ in range(3 * RATE):
                    r = ask(port, "/health", upgrade=False)
                    r.close()
                    statuses.append(r.status)
                took = time.monotonic() - t0
                ok = statuses.count(200)
                refused_n = len(statuses) - ok
                check(set(statuses) <= {200, 429, None},
                      f"statuses {set(statuses)}")
                check(ok >= RATE - 1, f"{ok} of {3 * RATE} connections in "
                                      f"{took:.2f}s let in: the burst is "
                                      f"{RATE}")
                check(ok <= RATE + RATE * took + 1,
                      f"{ok} of {3 * RATE} connections in {took:.2f}s let "
                      f"in, over --conn-rate-per-ip {RATE}")
                check_counter(port, before, "ip_refused_total", refused_n,
                              "connections over --conn-rate-per-ip")
                for s in socks:
                    s.echo("after the connection flood")
                time.sleep(1.1)
                r = ask(port, "/echo")
                expect_status(r, 101, "a connection a second later")
            finally:
                for s in socks:
                    s.close()
            hub.check_clean_exit()
    suite.case(f"--conn-rate-per-ip {RATE}: a burst of {RATE} in, the rest "
               "429 counted; a second later in again", conn_rate)

    def xff_ignored():
        with Hub(binary, "--max-conns-per-ip", "3") as hub:
            port = hub.port
            held = []
            try:
                for i in range(3):
                    r = ask(port, "/echo", [("X-Forwarded-For",
                                             f"203.0.113.{i + 1}")])
                    held.append(r)
                    check_eq(r.status, 101, f"connection {i + 1}")
                r = ask(port, "/echo", [("X-Forwarded-For", "203.0.113.9")])
                expect_status(r, 429, "a 4th connection claiming another "
                                      "X-Forwarded-For (no trusted proxy)")
            finally:
                for r in held:
                    r.close()
            hub.check_clean_exit()
    suite.case("without --trusted-proxy X-Forwarded-For is ignored: the 4th "
               "connection over --max-conns-per-ip 3 gets 429", xff_ignored)

    def xff_trusted():
        with Hub(binary, "--trusted-proxy", "127.0.0.0/8",
                 "--max-conns-per-ip", "3") as hub:
            port = hub.port
            before = counters(port)
            held = []
            try:
                for client in ("203.0.113.1", "203.0.113.2"):
                    for i in range(3):
                        r = ask(port, "/echo", [("X-Forwarded-For", client)])
                        held.append(r)
                        check_eq(r.status, 101, f"{client}: connection {i + 1}")
                # every chain below ends at 203.0.113.1 (the rightmost
                # address that is not a trusted proxy)
                for chain in ("203.0.113.1", "198.51.100.7, 203.0.113.1",
                              "203.0.113.1, 127.0.0.9"):
                    r = ask(port, "/echo", [("X-Forwarded-For", chain)])
                    expect_status(r, 429, f"X-Forwarded-For {chain!r}: a "
                                          "4th from 203.0.113.1")
                r = ask(port, "/echo", [("X-Forwarded-For",
                                         "203.0.113.1, 203.0.113.3")])
                held.append(r)
                check_eq(r.status, 101, "a client cannot pick its address "
                                        "by adding entries on the left")
                r = ask(port, "/echo")
                held.append(r)
                check_eq(r.status, 101, "the proxy itself, no "
                                        "X-Forwarded-For")
                check_counter(port, before, "ip_refused_total", 3,
                              "refusals by forwarded address")
                for r in held:
                    ws_echo(r.sock, FrameReader(r.sock, r.rest),
                            b"behind the proxy")
            finally:
                for r in held:
                    r.close()
            logs.append(hub.stderr_tail(1 << 16))
            hub.check_clean_exit()
    suite.case("--trusted-proxy 127.0.0.0/8: X-Forwarded-For's rightmost "
               "untrusted address has its own --max-conns-per-ip 3",
               xff_trusted)

    def logged_forwarded():
        check(len(logs) >= 2, "the trusted-proxy hub did not run")
        check("203.0.113.1" in logs[1],
              f"the refusals of 203.0.113.1 (behind the proxy) are not "
              f"logged with that address; stderr: {logs[1][-300:]!r}")
    suite.case("refusals behind a trusted proxy are logged with the "
               "forwarded address", logged_forwarded)

    def xfp():
        origin_https = [("X-Forwarded-Proto", "https"),
                        ("Origin", "https://chat.example")]
        with Hub(binary, "--trusted-proxy", "127.0.0.0/8") as hub:
            r = ask(hub.port, "/ws/o", origin_https, host="chat.example")
            expect_status(r, 101, "X-Forwarded-Proto https from a trusted "
                                  "proxy, Origin https://chat.example")
            r = ask(hub.port, "/ws/o", [("X-Forwarded-Proto", "https"),
                                        ("Origin", "http://chat.example")],
                    host="chat.example")
            expect_status(r, 403, "X-Forwarded-Proto https, Origin http://")
            hub.check_clean_exit()
        with Hub(binary) as hub:
            r = ask(hub.port, "/ws/o", origin_https, host="chat.example")
            expect_status(r, 403, "X-Forwarded-Proto https from an "
                                  "untrusted peer")
            hub.check_clean_exit()
    suite.case("X-Forwarded-Proto decides the own origin's scheme from a "
               "trusted proxy only", xfp)


# ---- per-connection rates ----

class Steady(threading.Thread):
    """A well-behaved /echo client: count messages of size bytes at rate
    per second, each echo checked; error holds what went wrong."""

    def __init__(self, port, count, rate, size=32):
        super().__init__(daemon=True)
        self.c = Echoer(port)
        self.count, self.rate, self.size = count, rate, size
        self.got = 0
        self.error = None

    def run(self):
        try:
            for i in range(self.count):
                payload = seq_payload(i, self.size)
                ws_echo(self.c.sock, self.c.reader, payload)
                self.got += 1
                time.sleep(1.0 / self.rate)
        except Exception as e:  # noqa: BLE001 -- reported by finish()
            self.error = e

    def finish(self):
        self.join(30)
        self.c.close()
        check(not self.is_alive(), "the steady client did not finish")
        check(self.error is None, f"the steady client: {self.error}")
        check_eq(self.got, self.count, "the steady client's echoes")


def rate_flood(port, path, count, size, what, want=(1008, b"rate limit")):
    """count messages of size bytes sent at once on path (then a close
    1000), read back until the hub's close, which must be want: returns
    how many came back before it (on /echo: how many the hub took)."""
    e = Echoer(port, path)
    try:
        frames = b"".join(ws_frame(OP_BINARY, seq_payload(i, size))
                          for i in range(count))
        frames += ws_frame(OP_CLOSE, struct.pack("!H", 1000))
        echoed, code, reason = flood(e.sock, frames, e.reader, timeout=20)
        got = reason[:len(want[1])] if want[1] and reason else reason
        check_eq((code, got), want, f"{what}: the flooder's close")
        check_seqs([int(p[:10]) for p in echoed], None,
                   f"{what}: what the flooder got back")
        return len(echoed)
    finally:
        e.close()


def sink_flood(port, count, size, what):
    """count messages of size bytes sent at once into a room of one on a
    hub with --no-echo-self, read until the hub's close (1008 "rate
    limit"): returns how many the hub took (messages_in_total)."""
    before = counters(port)
    e = Echoer(port, "/ws/sink-" + os.urandom(4).hex())
    try:
        frames = b"".join(ws_frame(OP_BINARY, seq_payload(i, size))
                          for i in range(count))
        frames += ws_frame(OP_CLOSE, struct.pack("!H", 1000))
        got, code, reason = flood(e.sock, frames, e.reader, timeout=20)
        check_eq((len(got), code, reason), (0, 1008, b"rate limit"),
                 f"{what}: (messages back, close code, reason)")
    finally:
        e.close()
    m = wait_until(lambda: (lambda m: m if m_get(m, "rate_limited_total") >
                            m_get(before, "rate_limited_total") else None)(
                                counters(port)), f"{what}: counted", 3)
    return int(m_get(m, "messages_in_total") -
               m_get(before, "messages_in_total"))


def rate_cases(suite, binary):
    def msg_rate():
        with Hub(binary, "--msg-rate", "100") as hub:
            port = hub.port
            before = counters(port)
            room = SeqReader(port, "/ws/flood", name="room member")
            room.start()
            steady = Steady(port, 60, 50)
            steady.start()
            try:
                time.sleep(0.1)
                # The flooder's own copies of what it published may come
                # after its close frame (then they are not sent): count
                # what the other member got.
                rate_flood(port, "/ws/flood", 500, 20,
                           "500 messages at once, --msg-rate 100")
                time.sleep(0.3)
                n = len(room.seqs)
                check(100 <= n < 500, f"{n} of 500 messages went through "
                                      "(--msg-rate 100: a burst of 100)")
                check_seqs(room.seqs, n, "the room member")
                check_counter(port, before, "rate_limited_total", 1,
                              "message flood")
            finally:
                steady.finish()
                room.finish()
            hub.check_clean_exit()
    suite.case("--msg-rate 100: 500 at once closes 1008 'rate limit' after "
               "the burst, counted; a 50/s client and the room lose nothing",
               msg_rate)

    def byte_rate():
        with Hub(binary, "--byte-rate", str(64 * KIB)) as hub:
            port = hub.port
            before = counters(port)
            steady = Steady(port, 20, 20, size=KIB)
            steady.start()
            try:
                n = rate_flood(port, "/echo", 20, 16 * KIB,
                               "20 x 16 KiB at once, --byte-rate 64 KiB")
                check(4 <= n < 20, f"{n} of 20 messages of 16 KiB went "
                                   "through (--byte-rate 65536)")
                check_counter(port, before, "rate_limited_total", 1,
                              "byte flood")
            finally:
                steady.finish()
            hub.check_clean_exit()
    suite.case("--byte-rate 64 KiB: 320 KiB at once closes 1008 'rate "
               "limit', counted; a 20 KiB/s client loses nothing", byte_rate)

    def defaults():
        # --no-echo-self and a room of one: the hub only reads the floods
        # (a sanitizer build that echoed them would take longer to than
        # the rates allow, and no flood would be one).
        with Hub(binary, "--no-echo-self") as hub:
            port = hub.port
            before = counters(port)
            n = sink_flood(port, 3000, 16, "3000 messages at once, default "
                                           "--msg-rate")
            check(1000 <= n < 3000, f"{n} of 3000 went through (default "
                                    "--msg-rate 1000)")
            # 16 MiB in 512 messages of 32 KiB (under the message rate;
            # each in one read, so even a TSan build reads them at
            # ~50 MiB/s, fast enough to empty the bucket)
            n = sink_flood(port, 512, 32 * KIB, "512 x 32 KiB at once, "
                                                "default --byte-rate")
            check(256 <= n < 512, f"{n} of 512 x 32 KiB went through "
                                  "(default --byte-rate 8 MiB: 256 of "
                                  "them and what a second adds)")
            check_counter(port, before, "rate_limited_total", 2,
                          "floods at the default rates")
            Echoer(port).echo("after the floods")
            hub.check_clean_exit()
    suite.case("defaults: 3000 messages or 16 MiB at once are closed 1008 "
               "(1000/s, 8 MiB/s)", defaults)

    def high_rate():
        with Hub(binary, "--msg-rate", "20000", "--byte-rate", "0") as hub:
            n = rate_flood(hub.port, "/echo", 30000, 16,
                           "30000 messages at once, --msg-rate 20000")
            check(20000 <= n < 30000, f"{n} of 30000 went through "
                                      "(--msg-rate 20000: a burst of 20000)")
            hub.check_clean_exit()
    suite.case("--msg-rate 20000: a burst of 20000 messages goes through, "
               "30000 is closed", high_rate)

    def msg_rate_off_alone():
        with Hub(binary, "--msg-rate", "0") as hub:
            count = 40000       # 16 bytes each: 640 KB, under 8 MiB
            n = rate_flood(hub.port, "/echo", count, 16,
                           f"{count} small messages, --msg-rate 0 and the "
                           "default --byte-rate", want=(1000, b""))
            check_eq(n, count, "echoes")
            hub.check_clean_exit()
    suite.case("--msg-rate 0 with the default --byte-rate: 40000 messages "
               "of 16 bytes (640 KB) at once all echoed", msg_rate_off_alone)

    def unlimited():
        with Hub(binary, "--msg-rate", "0", "--byte-rate", "0") as hub:
            port = hub.port
            before = counters(port)
            e = Echoer(port)
            try:
                count = 3000
                frames = b"".join(ws_frame(OP_BINARY, seq_payload(i, 16))
                                  for i in range(count))
                frames += ws_frame(OP_BINARY, b"m" * (12 * MIB))
                frames += ws_frame(OP_CLOSE, struct.pack("!H", 1000))
                echoed, code, _ = flood(e.sock, frames, e.reader)
                check_eq(code, 1000, "close code (our own close echoed)")
                check_eq(len(echoed), count + 1, "echoes")
                check_seqs([int(p[:10]) for p in echoed[:count]], count,
                           "echoes")
                check_eq(len(echoed[-1]), 12 * MIB, "the 12 MiB echo")
            finally:
                e.close()
            check_eq(m_get(counters(port), "rate_limited_total") -
                     m_get(before, "rate_limited_total"), 0,
                     "rate_limited delta")
            hub.check_clean_exit()
    suite.case("--msg-rate 0 --byte-rate 0: unlimited (3000 messages and "
               "12 MiB at once all echoed)", unlimited)


# ---- the partial-message budget ----

def partial_cases(suite, binary):
    BUDGET = MIB
    PIECE = 300 * KIB

    def partial(kind):
        """Clients that each hold PIECE bytes of an unfinished message: the
        first three (900 KiB) fit --max-partial 1 MiB, the fourth does
        not. kind "fragments": a whole non-final fragment each; "frame": a
        frame head announcing PIECE + 1 KiB, then PIECE bytes of it."""
        with Hub(binary, "--max-partial", str(BUDGET)) as hub:
            port = hub.port
            before = counters(port)
            other = Echoer(port)
            clients = []
            try:
                for i in range(4):
                    c = Echoer(port)
                    clients.append(c)
                    if kind == "fragments":
                        c.sock.sendall(ws_frame(OP_BINARY, b"%d" % i * PIECE,
                                                fin=False))
                        c.tail = ws_frame(OP_CONT, b"end", fin=True)
                        c.whole = b"%d" % i * PIECE + b"end"
                    else:
                        whole = b"%d" % i * (PIECE + KIB)
                        frame = ws_frame(OP_BINARY, whole)
                        cut = len(frame) - KIB
                        c.sock.sendall(frame[:cut])
                        c.tail, c.whole = frame[cut:], whole
                    time.sleep(0.2)
                    other.echo("while partial messages are held")
                data, code, reason = read_until_close(clients[3].reader)
                check_eq((data, code, reason), ([], 1013, b"server busy"),
                         f"the client whose {PIECE // KIB} KiB took the held "
                         "bytes past --max-partial 1 MiB")
                check_counter(port, before, "partial_refused_total", 1,
                              "over --max-partial")
                for i, c in enumerate(clients[:3]):
                    c.sock.sendall(c.tail)
                    f = c.reader.next()
                    check(f is not None, f"client {i}: EOF, no echo")
                    check_eq(f, (True, OP_BINARY, c.whole),
                             f"client {i}'s finished message")
                # The budget is free again: a client holds 900 KiB alone.
                c = Echoer(port)
                clients.append(c)
                big = b"z" * (3 * PIECE)
                c.sock.sendall(ws_frame(OP_BINARY, big, fin=False))
                time.sleep(0.2)
                c.sock.sendall(ws_frame(OP_CONT, b"!", fin=True))
                check_eq(c.reader.next(), (True, OP_BINARY, big + b"!"),
                         "900 KiB held by one client once the others "
                         "finished")
                other.echo("after")
                status, _, _ = http_get(port, "/health")
                check_eq(status, 200, "/health")
            finally:
                other.close()
                for c in clients:
                    c.close()
            hub.check_clean_exit()
    suite.case("--max-partial 1 MiB, non-final fragments of 300 KiB: the "
               "4th client gets 1013, counted; the others finish",
               partial, "fragments")
    suite.case("--max-partial 1 MiB, frames of 301 KiB sent but for 1 KiB: "
               "the 4th gets 1013; the others finish", partial, "frame")


# ---- --max-rooms ----

def max_rooms_cases(suite, binary):
    def flag():
        r = subprocess.run([binary, "--help"], capture_output=True,
                           timeout=10)
        text = r.stdout.decode()
        m = re.search(r"--max-rooms\b[^\n]*(?:\n {10,}[^\n]*)*", text)
        check(m, "--help does not list --max-rooms")
        check("128" in m.group(0), f"--help's --max-rooms does not say its "
                                   f"default 128: {m.group(0)!r}")
        for value in ("1", "0", "128"):
            with Hub(binary, "--max-rooms", value) as hub:
                r = ask(hub.port, "/ws/one")
                expect_status(r, 101, f"--max-rooms {value}: one room")
                hub.check_clean_exit()
        r = subprocess.run([binary, "--port", "0", "--admin-port", "off",
                            "--max-rooms", "x"], capture_output=True,
                           timeout=10)
        check_eq(r.returncode, 2, "--max-rooms x: exit code")
    suite.case("--max-rooms: documented with its default 128, 0/1/128 "
               "accepted, junk exit 2 (the hub joins one room per "
               "connection: the limit itself is tested through the API)",
               flag)


# ---- main ----

def main():
    binary = hub_binary()
    tmp = tempfile.mkdtemp(prefix="ringcast-security-")
    suite = Suite()
    t0 = time.monotonic()
    try:
        keys = Keys(tmp)
        certs = None
        if tlsutil.have_openssl():
            certs = tlsutil.make_certs(os.path.join(tmp, "certs"))
        admin_cases(suite, binary)
        origin_cases(suite, binary)
        tls_origin_cases(suite, binary, certs)
        room_cases(suite, binary)
        token_cases(suite, binary, keys)
        conn_limit_cases(suite, binary)
        rate_cases(suite, binary)
        partial_cases(suite, binary)
        max_rooms_cases(suite, binary)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"     ({time.monotonic() - t0:.1f}s)", flush=True)
    suite.finish()


if __name__ == "__main__":
    main()
