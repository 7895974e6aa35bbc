#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""TLS (wss://, https://) against the built hub.

Certificates are made at run time by tlsutil.py (the `openssl` command, a
temporary directory). Clients: python3-websockets and the ssl module,
`openssl s_client` (old versions, renegotiation), raw sockets for
everything hostile. Cases:

  - wss echo (text/binary 0..1 MiB, fragmented, ping/pong, TLS 1.2 and
    1.3, session resumption), a room with members on both workers, https
    /health and /metrics with the counters going up;
  - --tls-port: plain ws and wss at once; plain HTTP to the TLS port;
  - the main listener itself speaking TLS;
  - SNI (two pairs, no SNI, an unknown name), ALPN (h2 only, h2+http/1.1),
    TLS 1.0/1.1 refused;
  - garbage, truncated and garbled records, a bounded fuzz loop of mutated
    ClientHellos in random splits, renegotiation -- each connection ends
    within a bound and is counted, while an established wss client keeps
    echoing;
  - handshake timeouts; mTLS (--tls-client-ca);
  - certificate rotation with SIGHUP under load, a broken reload refused;
  - a flood of 5000 concurrent handshakes against one worker, with the
    round-trip time of an established connection measured meanwhile;
  - bad --tls-* flags: exit 2 naming the file.

Usage: test_tls.py /path/to/ringcast   (exit 77 without websockets/openssl)
Environment: RC_TLS_FUZZ_SEED=N replays a fuzz run; RC_TLS_FLOOD=N changes
the number of handshakes of the flood (default 5000).
"""
import asyncio
import errno
import hashlib
import multiprocessing
import os
import random
import re
import selectors
import shutil
import signal
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
    HOST, TIMEOUT, CaseFailed, FrameReader, Hub, Suite, built_with_asan,
    check, check_eq, hub_binary, metrics_by_worker, raise_nofile,
    register_admin, wait_until, ws_close_code, ws_frame, ws_upgrade_request)
import tlsutil  # noqa: E402

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets is not installed")
    sys.exit(77)
if not tlsutil.have_openssl():
    print("SKIP: no openssl command to make certificates with")
    sys.exit(77)

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
SIZES = (0, 1, 125, 126, 127, 16383, 16384, 16385, 65535, 65536, 1 << 20)
REASONS = ("version", "protocol", "sni", "alpn", "cert", "timeout", "eof",
           "other")
FUZZ_CONNECTIONS = 300
FLOOD = int(os.environ.get("RC_TLS_FLOOD", "5000"))
FLOOD_PROCS = 4
ASAN = False          # set in main(): the binary is a sanitizer build
TSAN = False          # set in main(): ThreadSanitizer, the slower one


# ---- certificates, contexts, connections ----

def file_fp(pem):
    """SHA-256 of the (first) certificate in a PEM file."""
    with open(pem) as f:
        text = f.read()
    first = text[:text.index("-----END CERTIFICATE-----") + 25]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def sock_fp(s):
    return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def client_ctx(certs, verify=True, hostname=True, alpn=None, cert=None,
               version=None):
    """A client context trusting the test CA (verify) or nothing."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(certs.ca.cert)
        ctx.check_hostname = hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if cert:
        ctx.load_cert_chain(cert.cert, cert.key)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def tls_connect(port, ctx, sni="localhost", timeout=TIMEOUT, session=None):
    raw = socket.create_connection((HOST, port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except BaseException:
        raw.close()
        raise


def wss_open(port, ctx, path="/echo", sni="localhost", timeout=TIMEOUT,
             session=None):
    """A TLS connection upgraded to a WebSocket: (sslsock, bytes past the
    101 head)."""
    s = tls_connect(port, ctx, sni, timeout, session)
    try:
        s.sendall(ws_upgrade_request(path))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            check(chunk, f"closed before the 101 for {path}: {buf[:80]!r}")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 101 "),
              f"upgrade to {path}: {head[:60]!r}")
        return s, rest
    except BaseException:
        s.close()
        raise


def ws_echo(sock, reader, payload, op=OP_BINARY, timeout=TIMEOUT):
    sock.sendall(ws_frame(op, payload))
    f = reader.next(timeout)
    check(f is not None, "EOF instead of an echo")
    check_eq((f[0], f[1], f[2]), (True, op, payload), "echo")


def wss_connect(port, ctx, path="/echo", sni="localhost", **kw):
    """websockets.connect over TLS to 127.0.0.1, SNI sni."""
    return websockets.connect(f"wss://{sni or HOST}:{port}{path}", ssl=ctx,
                              host=HOST, server_hostname=sni, max_size=None,
                              open_timeout=TIMEOUT, close_timeout=TIMEOUT,
                              ping_interval=None, **kw)


def wait_eof(sock, timeout=TIMEOUT):
    """Read until the peer closes: ("eof" | "reset", bytes read). A
    connection still open after timeout fails the case."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CaseFailed(f"connection still open after {timeout:.1f}s "
                             f"(read {len(got)} bytes: {got[:24].hex()})")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return "reset", got
        except socket.timeout:
            continue
        if not chunk:
            return "eof", got
        got += chunk


def tls_alerts(data):
    """(level, description) of the alert records in data (plaintext ones:
    what a server sends before keys are in use)."""
    out, i = [], 0
    while i + 5 <= len(data):
        typ, n = data[i], int.from_bytes(data[i + 3:i + 5], "big")
        if typ == 21 and n == 2 and i + 7 <= len(data):
            out.append((data[i + 5], data[i + 6]))
        i += 5 + n
    return out


def client_hello(alpn=("http/1.1",), sni="localhost"):
    """A real ClientHello record, made by Python's ssl on a MemoryBIO."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    check(hello[:1] == b"\x16" and len(hello) > 100,
          f"no ClientHello from MemoryBIO: {hello[:16].hex()}")
    return hello


def legacy_hello(version):
    """A ClientHello offering at most TLS 1.0 (0x0301) or 1.1 (0x0302)."""
    suites = (0xc009, 0xc013, 0x002f, 0x0035, 0x00ff)
    ext = (struct.pack("!HHH", 10, 4, 2) + struct.pack("!H", 23) +  # P-256
           struct.pack("!HHB", 11, 2, 1) + b"\x00")                # points
    body = (struct.pack("!H", version) + os.urandom(32) + b"\x00" +
            struct.pack("!H", 2 * len(suites)) +
            b"".join(struct.pack("!H", s) for s in suites) + b"\x01\x00" +
            struct.pack("!H", len(ext)) + ext)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def sslv2_hello():
    """An SSLv2-format ClientHello (RFC 5246 E.2) offering TLS 1.0."""
    specs = b"".join(bytes([0, 0, s]) for s in (0x2f, 0x35, 0x0a))
    body = (b"\x01\x03\x01" + struct.pack("!HHH", len(specs), 0, 16) +
            specs + os.urandom(16))
    return struct.pack("!H", 0x8000 | len(body)) + body


# ---- /metrics, over plain HTTP or https ----

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def parse_metrics(body):
    """{name or name{labels}: value}, totals only (no worker= series)."""
    out = {}
    for line in body.splitlines():
        m = _SAMPLE.match(line)
        if m and "worker=" not in (m.group(2) or ""):
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def https_get(port, path, ctx, sni="localhost"):
    """One GET over TLS (SNI sni; "127.0.0.1" sends none and checks the
    certificate's IP address): (status, head, body)."""
    s = tls_connect(port, ctx, sni)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 "), f"https {path}: {data[:60]!r}")
    return int(head.split()[1]), head, body


def plain_get(port, path):
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def fails(m):
    return {r: m.get(f'ringcast_tls_failures_total{{reason="{r}"}}', 0)
            for r in REASONS}


def delta(before, after):
    """The tls_failures counters that changed: {reason: +n}."""
    a, b = fails(before), fails(after)
    return {r: int(b[r] - a[r]) for r in REASONS if b[r] != a[r]}


class TlsHub(Hub):
    """A hub with certificate pairs; separate=True adds --tls-port 0, else
    the main port is TLS. /metrics is read on the admin listener (plain
    HTTP; harness.Hub starts it on a free port)."""

    def __init__(self, binary, certs, pairs, *flags, threads=2,
                 separate=True):
        self.certs = certs
        args = []
        for p in pairs:
            args += ["--tls-cert", p.cert, "--tls-key", p.key]
        if separate:
            args += ["--tls-port", "0"]
        super().__init__(binary, *args, *flags, threads=threads)
        # the start-up line (the admin listener's line follows it)
        out = self.stdout_text().decode(errors="replace")
        self.line = next((ln for ln in out.splitlines()
                          if "listening on" in ln), out).strip()
        if separate:
            m = re.search(r"tls on [0-9.]+:(\d+)", self.line)
            check(m, f"no 'tls on HOST:PORT' in {self.line!r}")
            self.tls_port, self.plain_port = int(m.group(1)), self.port
        else:
            self.tls_port, self.plain_port = self.port, None
        if self.admin_port:
            register_admin(self.tls_port, self.admin_port, self.admin_host)

    def stderr_tail(self, n=2000):
        """harness.Hub's seek(0) + read() moves the file offset that the
        hub writes at (one open file shared by both processes), so a
        line the hub prints while it is polled can land over the start of
        the file. pread() leaves the offset alone."""
        fd = self._err.fileno()
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0)
        return data[-n:].decode(errors="replace")

    def stderr_all(self):
        return self.stderr_tail(1 << 20)

    def metrics(self):
        status, _, body = plain_get(self.admin_port, "/metrics")
        check_eq(status, 200, "GET /metrics (admin port)")
        return parse_metrics(body.decode())

    def wait_fails(self, before, want, what, timeout=TIMEOUT):
        """The tls_failures counters rise by exactly want ({reason: n});
        a reason of "*" means any reason, n in all."""
        def got():
            d = delta(before, self.metrics())
            if "*" in want:
                return d if sum(d.values()) >= want["*"] else None
            return d if all(d.get(r, 0) >= n for r, n in want.items()) \
                else None
        try:
            d = wait_until(got, f"{what}: tls_failures_total {want}",
                           timeout, interval=0.05)
        except CaseFailed:
            raise CaseFailed(f"{what}: tls_failures_total should rise by "
                             f"{want}, rose by "
                             f"{delta(before, self.metrics())}")
        if "*" in want:
            check_eq(sum(d.values()), want["*"],
                     f"{what}: tls failures counted (by reason {d})")
        else:
            check_eq(d, want, f"{what}: tls failures counted")
        return d


# ---- an established connection that echoes on a clock ----

class EchoProbe(threading.Thread):
    """A wss client on /echo sending a numbered binary message every
    interval seconds (0: back to back) and checking each echo; samples are
    (time sent, round trip). errors: what went wrong (the thread stops)."""

    def __init__(self, port, ctx, interval, size=32, name="probe"):
        super().__init__(daemon=True, name=name)
        self.sock, rest = wss_open(port, ctx)
        self.fp = sock_fp(self.sock)
        self.reader = FrameReader(self.sock, rest)
        self.interval = interval
        self.size = size
        self.samples = []
        self.errors = []
        self._halt = threading.Event()

    @property
    def count(self):
        return len(self.samples)

    def run(self):
        seq = 0
        tick = time.monotonic()
        try:
            while not self._halt.is_set():
                payload = b"%010d" % seq + b"." * (self.size - 10)
                t0 = time.monotonic()
                self.sock.sendall(ws_frame(OP_BINARY, payload))
                f = self.reader.next(timeout=4 * TIMEOUT)
                if f is None:
                    self.errors.append(f"EOF after {seq} echoes")
                    return
                if f[1] == OP_CLOSE:
                    self.errors.append(f"close {ws_close_code(f[2])} after "
                                       f"{seq} echoes")
                    return
                if f[1:] != (OP_BINARY, payload):
                    self.errors.append(f"echo {seq}: got op {f[1]} "
                                       f"{f[2][:20]!r}")
                    return
                self.samples.append((t0, time.monotonic() - t0))
                seq += 1
                if self.interval:
                    tick += self.interval
                    now = time.monotonic()
                    if tick > now:
                        time.sleep(tick - now)
                    else:
                        tick = now
        except Exception as e:  # noqa: BLE001 -- reported by the case
            self.errors.append(f"{type(e).__name__}: {e}")

    def finish(self):
        self._halt.set()
        self.join(3 * TIMEOUT)
        try:
            self.sock.close()
        except OSError:
            pass
        check(not self.is_alive(), f"{self.name} did not stop")

    def check_ok(self, since_count=None):
        check(not self.errors, f"{self.name}: {self.errors}")
        check(self.is_alive(), f"{self.name} stopped")
        if since_count is not None:
            wait_until(lambda: self.count > since_count or self.errors,
                       f"{self.name} echoes again", 2 * TIMEOUT)
            check(not self.errors, f"{self.name}: {self.errors}")


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v \
        else float("nan")


# ---- 1. wss and https on a --tls-port hub with two pairs ----

def text_of(n):
    raw = ("ringcast é€😀 " * (n // 10 + 1)).encode()[:n]
    s = raw.decode(errors="ignore")
    return s + "x" * (n - len(s.encode()))


async def a_echo_sizes(hub, make):
    async with wss_connect(hub.tls_port, client_ctx(hub.certs)) as ws:
        for n in SIZES:
            msg = make(n)
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
            check_eq(got, msg, f"echo of {n} bytes")


async def a_fragmented(hub):
    async with wss_connect(hub.tls_port, client_ctx(hub.certs)) as ws:
        for parts in (["Hello, ", "wörld", "", "!"],
                      [b"\x00\x01", os.urandom(70000), b"", b"\xff"],
                      [os.urandom(20000) for _ in range(8)]):
            await ws.send(parts)
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
            check_eq(got, parts[0][:0].join(parts), "fragmented echo")


async def a_ping(hub):
    async with wss_connect(hub.tls_port, client_ctx(hub.certs)) as ws:
        for payload in (b"", b"ringcast ping", bytes(range(125))):
            waiter = await ws.ping(payload)
            await asyncio.wait_for(waiter, TIMEOUT)
        await ws.send("still open")
        check_eq(await asyncio.wait_for(ws.recv(), TIMEOUT), "still open",
                 "echo after pings")


async def a_versions(hub):
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        async with wss_connect(hub.tls_port,
                               client_ctx(hub.certs, version=v)) as ws:
            got = ws.transport.get_extra_info("ssl_object").version()
            check_eq(got, {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                           ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v], "version")
            await ws.send(b"x" * 40000)
            check_eq(await asyncio.wait_for(ws.recv(), TIMEOUT),
                     b"x" * 40000, f"echo over {got}")


def c_resumption(hub):
    """Session tickets: a second connection resumes the first's session."""
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(hub.certs, version=v)
        s, rest = wss_open(hub.tls_port, ctx)
        ws_echo(s, FrameReader(s, rest), b"ticket")   # the ticket is read
        sess = s.session
        s.close()
        check(sess is not None, f"{v.name}: no session")
        s, rest = wss_open(hub.tls_port, ctx, session=sess)
        try:
            check(s.session_reused, f"{v.name}: the session was not "
                                    f"resumed (ticket {sess.has_ticket})")
            ws_echo(s, FrameReader(s, rest), b"resumed")
        finally:
            s.close()


async def a_room(hub):
    """Members on both workers (told by websockets_open{worker=N}); every
    member gets every message, whoever sent it."""
    room = "/ws/tls-room-" + os.urandom(4).hex()
    ctx = client_ctx(hub.certs)
    # the clients of the cases before are gone (so the gauges below are
    # this case's members alone)
    wait_until(lambda: hub.metrics()["ringcast_websockets_open"] == 0,
               "websockets_open back to 0")
    base = {}
    members = []
    try:
        for _ in range(48):
            members.append(await wss_connect(hub.tls_port, ctx, room))
            if len(members) < 4:
                continue
            now = metrics_by_worker(hub.plain_port).get(
                "ringcast_websockets_open", {})
            if all(now.get(w, 0) > base.get(w, 0) for w in (0, 1)):
                break
        now = metrics_by_worker(hub.plain_port).get(
            "ringcast_websockets_open", {})
        check(all(now.get(w, 0) > base.get(w, 0) for w in (0, 1)),
              f"{len(members)} members, not on both workers: {now}")
        for i, sender in enumerate((members[0], members[-1], members[1])):
            msg = f"hello {i} from a member"
            await sender.send(msg)
            for j, m in enumerate(members):
                got = await asyncio.wait_for(m.recv(), TIMEOUT)
                check_eq(got, msg, f"member {j} of {len(members)}")
    finally:
        for m in members:
            await m.close()


def c_https(hub):
    """https /health; /metrics only on the admin listener (404 over https
    and on the plain port); tls_handshakes_total counts each https
    connection."""
    ctx = client_ctx(hub.certs)
    status, hdrs, body = https_get(hub.tls_port, "/metrics", ctx)
    check_eq(status, 404, "https /metrics on the public TLS port")
    status, _, _ = plain_get(hub.plain_port, "/metrics")
    check_eq(status, 404, "/metrics on the public plain port")
    m0 = hub.metrics()
    for name in ["ringcast_tls_handshakes_total", "ringcast_tls_reloads_total",
                 "ringcast_tls_reload_failures_total"] + \
            [f'ringcast_tls_failures_total{{reason="{r}"}}' for r in REASONS]:
        check(name in m0, f"/metrics has no {name}")
    for _ in range(3):
        status, _, body = https_get(hub.tls_port, "/health", ctx)
        check_eq((status, body.strip()), (200, b"ok"), "https /health")
    # by IP (no SNI), checking the IP address in the certificate
    status, _, body = https_get(hub.tls_port, "/health", ctx, sni=HOST)
    check_eq((status, body.strip()), (200, b"ok"), "https /health by IP")
    m1 = wait_until(lambda: (lambda m: m if m[
        "ringcast_tls_handshakes_total"] - m0[
        "ringcast_tls_handshakes_total"] >= 4 else None)(hub.metrics()),
        "tls_handshakes_total counting 4 https connections")
    check_eq(m1["ringcast_tls_handshakes_total"] -
             m0["ringcast_tls_handshakes_total"], 4,
             "tls_handshakes_total after 4 more https connections")


def c_both_listeners(hub):
    """--tls-port 0: ws on --port and wss on the TLS port, open at once."""
    check(hub.tls_port != hub.plain_port, "the same port twice")
    check(re.search(r"listening on [0-9.]+:\d+ \(2 workers, simd \w+\), "
                    r"tls on [0-9.]+:\d+, deflate shared$", hub.line),
          f"start-up line: {hub.line!r}")
    s_tls, rest = wss_open(hub.tls_port, client_ctx(hub.certs))
    r_tls = FrameReader(s_tls, rest)
    s_plain = socket.create_connection((HOST, hub.plain_port), TIMEOUT)
    try:
        s_plain.sendall(ws_upgrade_request("/echo"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s_plain.recv(4096)
            check(chunk, "plain upgrade: EOF")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 101 "), f"plain upgrade: {head!r}")
        r_plain = FrameReader(s_plain, rest)
        for i in range(20):
            ws_echo(s_tls, r_tls, b"tls %d" % i)
            ws_echo(s_plain, r_plain, b"plain %d" % i)
        check(rc_conn_plain_health(hub.plain_port), "plain /health")
    finally:
        s_tls.close()
        s_plain.close()


def rc_conn_plain_health(port):
    status, _, body = plain_get(port, "/health")
    return status == 200 and body.strip() == b"ok"


def c_http_to_tls_port(hub):
    """Plain HTTP bytes to the TLS port: closed, counted (protocol)."""
    before = hub.metrics()
    with socket.create_connection((HOST, hub.tls_port), TIMEOUT) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        how, got = wait_eof(s)
        check(b"HTTP/1.1" not in got, f"an HTTP answer on the TLS port: "
                                      f"{got[:40]!r}")
    hub.wait_fails(before, {"protocol": 1}, "plain HTTP to the TLS port")


def c_tls_to_plain_port(hub):
    """A TLS client on the plain port fails its handshake (an HTTP 400
    comes back); the hub goes on."""
    try:
        s = tls_connect(hub.plain_port, client_ctx(hub.certs))
    except (ssl.SSLError, OSError):
        pass
    else:
        s.close()
        raise CaseFailed("TLS handshake succeeded on the plain port")
    check(rc_conn_plain_health(hub.plain_port), "plain /health after")


def c_sni(hub):
    c = hub.certs
    fp_local, fp_other = file_fp(c.localhost.cert), file_fp(c.other.cert)
    ctx = client_ctx(c)
    for sni, want, what in (("localhost", fp_local, "localhost"),
                            ("other.localhost", fp_other, "other.localhost"),
                            ("LOCALHOST", fp_local, "LOCALHOST"),
                            ("Other.LocalHost", fp_other, "Other.LocalHost")):
        s, rest = wss_open(hub.tls_port, ctx, sni=sni)
        try:
            check_eq(sock_fp(s), want, f"certificate served for SNI {what}")
            ws_echo(s, FrameReader(s, rest), b"via " + sni.encode())
        finally:
            s.close()
    # no SNI (by IP): the first pair; the hostname check is on the IP SAN
    s = tls_connect(hub.tls_port, client_ctx(c), sni=HOST)
    try:
        check_eq(sock_fp(s), fp_local, "certificate served without SNI")
    finally:
        s.close()
    # an unknown name: unrecognized_name, counted
    before = hub.metrics()
    for name in ("unknown.example", "localhost.evil", "x.other.localhost"):
        try:
            s = tls_connect(hub.tls_port, client_ctx(c, verify=False), name)
        except ssl.SSLError as e:
            check("UNRECOGNIZED NAME" in str(e).upper().replace("_", " "),
                  f"SNI {name}: refused otherwise: {e}")
        else:
            s.close()
            raise CaseFailed(f"SNI {name}: handshake succeeded "
                             f"(certificate {sock_fp(s)[:16]})")
    hub.wait_fails(before, {"sni": 3}, "unknown server names")


def c_alpn(hub):
    c = hub.certs
    before = hub.metrics()
    for offer in (["h2"], ["h2", "spdy/3"]):
        try:
            s = tls_connect(hub.tls_port, client_ctx(c, alpn=offer))
        except ssl.SSLError as e:
            check("NO APPLICATION PROTOCOL" in
                  str(e).upper().replace("_", " "),
                  f"ALPN {offer}: refused otherwise: {e}")
        else:
            s.close()
            raise CaseFailed(f"ALPN {offer}: handshake succeeded")
    hub.wait_fails(before, {"alpn": 2}, "ALPN without http/1.1")
    for offer in (["h2", "http/1.1"], ["http/1.1"], ["http/1.1", "h2"]):
        s, rest = wss_open(hub.tls_port, client_ctx(c, alpn=offer))
        try:
            check_eq(s.selected_alpn_protocol(), "http/1.1",
                     f"ALPN chosen from {offer}")
            ws_echo(s, FrameReader(s, rest), b"alpn")
        finally:
            s.close()
    s = tls_connect(hub.tls_port, client_ctx(c))
    check_eq(s.selected_alpn_protocol(), None, "ALPN without an offer")
    s.close()


def s_client(args, stdin=b"", timeout=TIMEOUT):
    r = subprocess.run(["openssl", "s_client", *args], input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace")


def s_client_live(hub, *args):
    """An interactive s_client to the hub's TLS port (our CA, SNI
    localhost): the process, the bytearray its output collects into, and
    the thread that collects it."""
    proc = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"{HOST}:{hub.tls_port}", *args,
         "-servername", "localhost", "-CAfile", hub.certs.ca.cert],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    out = bytearray()

    def read():
        while True:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                return
            out.extend(chunk)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, out, reader


def c_old_versions(hub):
    """TLS 1.0 and 1.1: a protocol_version alert, counted (version)."""
    before = hub.metrics()
    for v in (0x0301, 0x0302):
        with socket.create_connection((HOST, hub.tls_port), TIMEOUT) as s:
            s.sendall(legacy_hello(v))
            how, got = wait_eof(s)
            check((2, 70) in tls_alerts(got),
                  f"hello for {v:#06x}: expected a fatal protocol_version "
                  f"alert, got {got[:32].hex()} then {how}")
    hub.wait_fails(before, {"version": 2}, "raw TLS 1.0/1.1 hellos")
    skipped = []
    for flag in ("-tls1", "-tls1_1"):
        before = hub.metrics()
        rc, out = s_client(["-connect", f"{HOST}:{hub.tls_port}", flag,
                            "-cipher", "DEFAULT@SECLEVEL=0",
                            "-servername", "localhost"])
        if re.search(r"no protocols available|unsupported protocol|"
                     r"unknown option", out, re.I) and \
                "alert protocol version" not in out:
            skipped.append(flag)        # this openssl cannot even offer it
            continue
        check(rc != 0, f"s_client {flag} succeeded: {out[-300:]}")
        check("alert protocol version" in out,
              f"s_client {flag}: {out[-300:]}")
        hub.wait_fails(before, {"version": 1}, f"s_client {flag}")
    if skipped:
        print(f"     (s_client {' '.join(skipped)}: not offered by the "
              "local openssl, sub-case skipped)")


def garbage_cases():
    hello = client_hello()
    rng = random.Random(1234)
    rnd = bytes(rng.randrange(256) for _ in range(3000))
    big = b"\x16\x03\x01\xff\xff" + rnd          # 64 KiB record announced
    return [
        # (name, pieces, send FIN after)
        ("random bytes", [b"\x00" + rnd[:1500]], False),
        ("random bytes, 8 KiB, split", [rnd, rnd, rnd[:2192]], False),
        ("zero bytes", [bytes(16384)], False),
        ("SSLv2-format hello", [sslv2_hello()], False),
        ("plain HTTP", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"], False),
        ("plain HTTP upgrade", [ws_upgrade_request("/echo")], False),
        ("truncated ClientHello, then EOF", [hello[:len(hello) // 2]], True),
        ("a record header only, then EOF", [hello[:5]], True),
        ("ClientHello then garbage", [hello, b"\xff" + rnd[:400]], False),
        ("ClientHello then a garbled record",
         [hello, b"\x17\x03\x03\x01\x00" + rnd[:256]], False),
        ("ClientHello then a second ClientHello", [hello, hello], False),
        ("oversized record (18433 bytes)",
         [b"\x16\x03\x03\x48\x01" + rnd[:2000]], False),
        ("record length 65535", [big[:1000]], False),
        ("garbled handshake length",
         [hello[:6] + b"\xff\xff\xff" + hello[9:]], False),
        ("handshake message of a wrong type",
         [hello[:5] + b"\x02" + hello[6:]], False),
        # OpenSSL skips a few empty records (waiting for more), then fails
        ("an empty handshake record, then EOF", [b"\x16\x03\x01\x00\x00"],
         True),
        ("40 empty handshake records", [b"\x16\x03\x01\x00\x00" * 40], False),
        ("alert record before any hello", [b"\x15\x03\x03\x00\x02\x02\x28"],
         False),
        ("application data before any hello",
         [b"\x17\x03\x03\x00\x10" + rnd[:16]], False),
        ("byte by byte hello, then EOF",
         [hello[i:i + 1] for i in range(0, 60)], True),
    ]


def raw_feed(port, pieces, fin, gap=0.0):
    """Send pieces on a new TCP connection (FIN after them if fin), then
    wait, bounded, for the hub to close: (how, bytes read)."""
    with socket.create_connection((HOST, port), TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i, p in enumerate(pieces):
                if i and gap:
                    time.sleep(gap)
                s.sendall(p)
            if fin:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass    # the hub closed already: its answer is still readable
        return wait_eof(s)


def c_garbage(hub, probe):
    for name, pieces, fin in garbage_cases():
        before = hub.metrics()
        count = probe.count
        try:
            how, got = raw_feed(hub.tls_port, pieces, fin, gap=0.002)
            d = hub.wait_fails(before, {"*": 1}, name)
            probe.check_ok(since_count=count)
        except CaseFailed as e:
            raise CaseFailed(f"{name}: {e}")
        print(f"     {name}: {how} after {len(got)} bytes, counted {d}",
              flush=True)


def mutate(rng, hello):
    b = bytearray(hello)
    kind = rng.randrange(8)
    if kind == 0:                       # a few random bytes
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:                     # bit flips in the headers
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(min(64, len(b)))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 2:                     # cut short
        del b[rng.randrange(1, len(b)):]
    elif kind == 3:                     # random bytes inserted
        i = rng.randrange(len(b))
        b[i:i] = os.urandom(rng.randint(1, 64))
    elif kind == 4:                     # a slice repeated
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 200))
        b[j:j] = b[i:j] * rng.randint(1, 4)
    elif kind == 5:                     # a 16-bit field overwritten
        i = rng.randrange(len(b) - 1)
        b[i:i + 2] = rng.choice((b"\xff\xff", b"\x00\x00", b"\x40\x00",
                                 os.urandom(2)))
    elif kind == 6:                     # trailing garbage records
        b += bytes([rng.choice((20, 21, 22, 23, 24, 0xff)), 3, 3]) + \
            struct.pack("!H", rng.randint(0, 300)) + \
            os.urandom(rng.randint(0, 300))
    else:                               # a byte range zeroed
        i = rng.randrange(len(b))
        b[i:i + rng.randint(1, 40)] = bytes(min(40, len(b) - i))
    return bytes(b)


def split(rng, data):
    k = rng.randint(1, 6)
    cuts = sorted(rng.sample(range(1, len(data)), min(k - 1, len(data) - 1))) \
        if len(data) > 1 else []
    out, last = [], 0
    for c in cuts + [len(data)]:
        out.append(data[last:c])
        last = c
    return out


def c_fuzz(hub, probe):
    seed = int(os.environ.get("RC_TLS_FUZZ_SEED") or
               int.from_bytes(os.urandom(4), "big"))
    print(f"     fuzz seed {seed} (RC_TLS_FUZZ_SEED={seed} replays it)",
          flush=True)
    rng = random.Random(seed)
    hellos = [client_hello(), client_hello(alpn=None, sni="other.localhost"),
              client_hello(alpn=("h2", "http/1.1"), sni=None)]
    before = hub.metrics()
    count = probe.count
    how_seen = {}
    t0 = time.monotonic()
    for i in range(FUZZ_CONNECTIONS):
        data = mutate(rng, rng.choice(hellos))
        pieces = split(rng, data)
        try:
            how, _ = raw_feed(hub.tls_port, pieces, fin=True,
                              gap=rng.choice((0, 0, 0.001)))
        except CaseFailed as e:
            raise CaseFailed(f"fuzz connection {i} (seed {seed}; "
                             f"{len(data)} bytes in {len(pieces)} pieces: "
                             f"{data[:48].hex()}...): {e}")
        how_seen[how] = how_seen.get(how, 0) + 1
        if i % 50 == 49:
            probe.check_ok()
    d = hub.wait_fails(before, {"*": FUZZ_CONNECTIONS}, "fuzz connections")
    after = hub.metrics()
    check_eq(after["ringcast_tls_handshakes_total"],
             before["ringcast_tls_handshakes_total"],
             "tls_handshakes_total (no fuzzed hello can complete)")
    probe.check_ok(since_count=count)
    print(f"     {FUZZ_CONNECTIONS} connections in "
          f"{time.monotonic() - t0:.1f}s, ended by {how_seen}, counted {d}",
          flush=True)


def c_renegotiation(hub, probe):
    """openssl s_client -tls1_2, then R: the renegotiation is refused, the
    connection ends, and that is counted."""
    before = hub.metrics()
    proc, out, reader = s_client_live(hub, "-tls1_2")
    try:
        wait_until(lambda: b"Verify return code" in out,
                   "s_client's handshake")
        check(b"Protocol  : TLSv1.2" in out or b"TLSv1.2" in out,
              "s_client did not negotiate TLS 1.2")
        proc.stdin.write(b"R\n")
        proc.stdin.flush()
        try:
            rc = proc.wait(2 * TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CaseFailed("the connection did not end within "
                             f"{2 * TIMEOUT:.0f}s of the renegotiation: "
                             f"{bytes(out[-300:])!r}")
        reader.join(TIMEOUT)
        text = out.decode(errors="replace")
        check("RENEGOTIATING" in text, f"s_client did not renegotiate: "
                                       f"{text[-300:]}")
        check(rc != 0 or "renegotiation" in text.lower(),
              f"renegotiation seems to have succeeded: {text[-300:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    hub.wait_fails(before, {"*": 1}, "renegotiation")
    probe.check_ok()


def section_main(binary, certs, suite):
    # --conn-rate-per-ip 0: the fuzz loop opens FUZZ_CONNECTIONS (300) from
    # one address back to back (0.5-0.7 s here), more than the default
    # burst of 256 wherever it takes under about 0.2 s.
    with suite.watch(TlsHub(binary, certs, [certs.localhost, certs.other],
                            "--conn-rate-per-ip", "0")) as hub:
        suite.case("both listeners: ws on --port, wss on --tls-port",
                   c_both_listeners, hub)
        asyncio.run(suite.acase(f"wss text echo, sizes {SIZES}",
                                a_echo_sizes, hub, text_of))
        asyncio.run(suite.acase("wss binary echo, same sizes", a_echo_sizes,
                                hub, os.urandom))
        asyncio.run(suite.acase("wss fragmented messages", a_fragmented, hub))
        asyncio.run(suite.acase("wss ping/pong", a_ping, hub))
        asyncio.run(suite.acase("TLS 1.2 and 1.3 both work", a_versions,
                                hub))
        suite.case("session tickets resume (TLS 1.2, 1.3)", c_resumption,
                   hub)
        asyncio.run(suite.acase("wss room with members on both workers",
                                a_room, hub, timeout=40))
        suite.case("https /health, /metrics; tls_handshakes_total counts",
                   c_https, hub)
        suite.case("plain HTTP to the TLS port: closed, counted (protocol)",
                   c_http_to_tls_port, hub)
        suite.case("TLS to the plain port: refused, hub goes on",
                   c_tls_to_plain_port, hub)
        suite.case("SNI: localhost / other.localhost / none / unknown",
                   c_sni, hub)
        suite.case("ALPN: h2 alone refused, h2+http/1.1 -> http/1.1", c_alpn,
                   hub)
        suite.case("TLS 1.0/1.1 refused, counted (version)", c_old_versions,
                   hub)
        suite.case("a valid request then a bad record in one read: "
                   "closed at once", c_bad_record_after_request, hub)
        probes = []

        def open_probe():
            probes.append(EchoProbe(hub.tls_port, client_ctx(certs), 0.01,
                                    name="established wss client"))
            probes[0].start()
        suite.case("an established wss client opens", open_probe)
        if probes:
            probe = probes[0]
            suite.case("garbage: each closed within a bound and counted; "
                       "an established client echoes on", c_garbage, hub,
                       probe)
            suite.case(f"fuzz: {FUZZ_CONNECTIONS} mutated ClientHellos in "
                       "random splits", c_fuzz, hub, probe)
            suite.case("renegotiation (s_client -tls1_2, R): refused, "
                       "counted", c_renegotiation, hub, probe)

            def probe_done():
                probe.check_ok()
                probe.finish()
                check(probe.count > 50, f"only {probe.count} echoes")
                print(f"     established client: {probe.count} echoes, p99 "
                      f"{percentile([r for _, r in probe.samples], 99) * 1e3:.1f}"
                      " ms", flush=True)
            suite.case("the established client echoed throughout",
                       probe_done)
        suite.case("the hub exits 0 on SIGTERM", hub.check_clean_exit)


# ---- 1b. the TLS layer's edges: close_notify, records, backpressure ----

def mem_tls(port, ctx, sni="localhost"):
    """A TLS client on memory BIOs over a raw socket, handshake done:
    (sock, sslobject, outgoing BIO) -- to put chosen bytes after records."""
    raw = socket.create_connection((HOST, port), timeout=TIMEOUT)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            d = out.read()
            if d:
                raw.sendall(d)
            d = raw.recv(65536)
            check(d, "EOF during the handshake")
            inc.write(d)
    d = out.read()
    if d:
        raw.sendall(d)
    return raw, obj, out


def c_bad_record_after_request(hub):
    """A valid request and a bad record in one read: the alert, then the
    connection ends at once (the client's FIN too). (It used to end only
    after --close-timeout: the request's answer, queued as plaintext before
    the bad record failed the connection, could never be sealed, so the
    output never flushed; the plaintext queue is dropped on failure now.)"""
    ctx = client_ctx(hub.certs)
    for what, req in (("https GET", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
                      ("wss upgrade and a frame", ws_upgrade_request("/echo") +
                       ws_frame(OP_BINARY, b"x" * 3000))):
        for fin in (True, False):
            before = hub.metrics()
            raw, obj, out = mem_tls(hub.tls_port, ctx)
            try:
                obj.write(req)
                raw.sendall(out.read() + b"\x17\x03\x03\x00\x20" +
                            os.urandom(32))
                if fin:
                    raw.shutdown(socket.SHUT_WR)
                t0 = time.monotonic()
                how, got = wait_eof(raw, 10)
                took = time.monotonic() - t0
            finally:
                raw.close()
            hub.wait_fails(before, {"protocol": 1}, what)
            check(took < 2.0, f"{what} + a bad record{' + FIN' if fin else ''}"
                              f": the connection ended after {took:.1f}s "
                              f"(the close timeout), not at once")


class BioConn:
    """A TLS client over ssl.MemoryBIO on a plain socket, so that the
    test sees exactly how the stream ends: recv() returns b"" only after
    the server's close_notify, and raises CaseFailed at a TCP EOF without
    one (the ssl module's sockets may report both as b"")."""

    def __init__(self, port, ctx, sni="localhost"):
        self.raw = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=sni)
        self.tcp_eof = False
        self._io(self.obj.do_handshake)

    def _flush(self):
        data = self.out.read()
        if data:
            self.raw.sendall(data)

    def _io(self, op, *args):
        while True:
            try:
                r = op(*args)
                self._flush()
                return r
            except ssl.SSLWantReadError:
                self._flush()
                if self.tcp_eof:
                    raise
                data = self.raw.recv(1 << 16)
                if data:
                    self.inc.write(data)
                else:
                    self.tcp_eof = True
                    self.inc.write_eof()

    def settimeout(self, t):
        self.raw.settimeout(t)

    def sendall(self, data):
        self._io(self.obj.write, data)

    def recv(self, n):
        try:
            return self._io(self.obj.read, n)
        except ssl.SSLZeroReturnError:
            return b""                  # close_notify
        except (ssl.SSLEOFError, ssl.SSLWantReadError):
            raise CaseFailed("TCP EOF without a close_notify")
        except ssl.SSLError as e:
            if "UNEXPECTED_EOF" in str(e):
                raise CaseFailed("TCP EOF without a close_notify")
            raise

    def half_close(self):
        """Our FIN, no close_notify: as a client that just stops."""
        self.raw.shutdown(socket.SHUT_WR)

    def close(self):
        self.raw.close()


def c_close_notify(hub):
    """A WebSocket close over TLS ends with our close_notify (no ragged
    EOF), also when the client sent its FIN right after its close frame;
    a client's close_notify gets one back."""
    ctx = client_ctx(hub.certs)
    # Debian's Python sets this by default, and then a TCP EOF without
    # a close_notify reads as one.
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    for fin in (False, True):
        s = BioConn(hub.tls_port, ctx)
        try:
            s.sendall(ws_upgrade_request("/echo"))
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(4096)
            r = FrameReader(s, buf.partition(b"\r\n\r\n")[2])
            ws_echo(s, r, b"before close")
            s.sendall(ws_frame(OP_CLOSE, struct.pack("!H", 1000)))
            if fin:
                s.half_close()
            f = r.next()
            check(f is not None and f[1] == OP_CLOSE, f"close reply: {f}")
            check_eq(ws_close_code(f[2]), 1000, "close code")
            # b"" only after a close_notify (BioConn raises otherwise).
            check_eq(s.recv(100), b"", "after the close frame"
                     + (" and our FIN" if fin else ""))
        finally:
            s.close()
    s, rest = wss_open(hub.tls_port, ctx)
    try:
        ws_echo(s, FrameReader(s, rest), b"x")
        raw = s.unwrap()            # our close_notify, then theirs
        raw.settimeout(TIMEOUT)
        check_eq(raw.recv(100), b"", "after close_notify both ways")
        raw.close()
    except ssl.SSLError as e:
        s.close()
        raise CaseFailed(f"no close_notify back: {e}")


def c_records(hub):
    """Requests and frames split and merged across records: an upgrade and
    a frame in one record, a frame in 1-byte records, pipelined https."""
    ctx = client_ctx(hub.certs)
    s = tls_connect(hub.tls_port, ctx)
    try:
        s.sendall(ws_upgrade_request("/echo") +
                  ws_frame(OP_BINARY, b"in the upgrade's record"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        r = FrameReader(s, buf.partition(b"\r\n\r\n")[2])
        f = r.next()
        check_eq(f, (True, OP_BINARY, b"in the upgrade's record"),
                 "frame sent with the upgrade")
        text = ("é€😀" * 200).encode()
        frame = ws_frame(OP_TEXT, text)
        for i in range(len(frame)):
            s.send(frame[i:i + 1])              # one record per byte
        check_eq(r.next(), (True, OP_TEXT, text), "frame in 1-byte records")
        big = os.urandom(200000)
        s.sendall(ws_frame(OP_BINARY, big))     # spans 13 records
        check_eq(r.next(), (True, OP_BINARY, big), "frame over 13 records")
    finally:
        s.close()
    s = tls_connect(hub.tls_port, ctx)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 20 +
                  b"GET /health HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            data += chunk
        check_eq(data.count(b"HTTP/1.1 200 "), 21, "pipelined https answers")
    finally:
        s.close()


def c_keyupdate(hub):
    """TLS 1.3 KeyUpdate (s_client K: update requested, k: not) between
    https requests on one connection."""
    proc, out, _ = s_client_live(hub, "-tls1_3", "-crlf")
    try:
        wait_until(lambda: b"Verify return code" in out, "s_client handshake")
        req = b"GET /health HTTP/1.1\nHost: x\n\n"
        steps = [req, b"K\n", req, b"k\n", req]
        for i, step in enumerate(steps):
            proc.stdin.write(step)
            proc.stdin.flush()
            # one step at a time: s_client reads a command line alone
            if step is req:
                n = (i // 2) + 1
                wait_until(lambda: out.count(b"HTTP/1.1 200 OK") >= n,
                           f"answer {n} (after {i // 2} key updates)")
            else:
                n = (i + 1) // 2
                wait_until(lambda: out.count(b"KEYUPDATE") >= n,
                           f"key update {n}")
        check_eq(out.count(b"KEYUPDATE"), 2, "key updates done")
    finally:
        proc.stdin.close()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def c_backpressure(hub):
    """A wss client that sends 12 MiB of echo requests before reading any
    reply: reading pauses (counted), nothing is lost or reordered.

    One thread only ever touches the TLS state: the records are all made
    up front (ssl.MemoryBIO), and a second thread just writes their bytes
    to the socket while the first reads. (An ssl socket written by one
    thread while another reads it is one SSL object used concurrently,
    which OpenSSL does not allow: it once garbled a record here.)"""
    before = hub.metrics()
    c = BioConn(hub.tls_port, client_ctx(hub.certs))
    msgs = [os.urandom(65536) for _ in range(8)]
    errors = []
    try:
        c.sendall(ws_upgrade_request("/echo"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(1 << 16)
            check(chunk, "EOF before the 101")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        check(head.startswith(b"HTTP/1.1 101"), f"upgrade: {head[:40]!r}")
        for i in range(192):
            c.obj.write(ws_frame(OP_BINARY, msgs[i % 8]))
        wire = c.out.read()
        sender = c.raw.dup()
        sender.settimeout(6 * TIMEOUT)

        def send():
            try:
                sender.sendall(wire)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        th = threading.Thread(target=send, daemon=True)
        th.start()
        time.sleep(1.0)
        r = FrameReader(c, rest)
        for i in range(192):
            f = r.next(timeout=3 * TIMEOUT)
            check(f is not None and f[2] == msgs[i % 8],
                  f"echo {i} of 192: {None if f is None else len(f[2])}")
        th.join(TIMEOUT)
        check(not errors, f"sender: {errors}")
        check(not c.out.pending, "the reads made records to send")
        sender.close()
    finally:
        c.close()
    after = hub.metrics()
    check(after["ringcast_backpressure_pauses_total"] >
          before["ringcast_backpressure_pauses_total"],
          "backpressure_pauses_total did not go up")


def c_slow_member(hub):
    """A room member over wss that does not read is closed with 1008
    (--slow-policy close) while a member that reads gets every message,
    in order (12 MiB: more than the kernel's send buffer can hide). The
    close frame waits behind what was being sent; --close-timeout 30
    leaves the time to read up to it."""
    from harness import SeqReader, seq_payload, check_seqs
    ctx = client_ctx(hub.certs)
    room = "/ws/tls-slow-" + os.urandom(4).hex()
    before = hub.metrics()
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(TIMEOUT)
    raw.connect((HOST, hub.tls_port))
    slow = ctx.wrap_socket(raw, server_hostname="localhost")
    slow.sendall(ws_upgrade_request(room))
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += slow.recv(1)           # leave everything after the 101
    good = SeqReader(None, None, opened=wss_open(hub.tls_port, ctx, room),
                     name="reading member")
    good.start()
    pub, prest = wss_open(hub.tls_port, ctx, room)
    n = 3000
    try:
        time.sleep(0.2)
        for i in range(n):
            pub.sendall(ws_frame(OP_TEXT, seq_payload(i, 4096)))
            if i % 16 == 15:        # at the reader's pace (64 KiB)
                good.wait_count(i + 1, timeout=3 * TIMEOUT)
                check(good.close_code is None,
                      f"the reading member was closed ({good.close_code})")
        good.wait_count(n, timeout=3 * TIMEOUT)
        check_seqs(good.seqs, n, "the reading member")
        r = FrameReader(slow, buf.partition(b"\r\n\r\n")[2])
        code, got = None, 0
        while True:
            try:
                f = r.next(timeout=TIMEOUT)
            except socket.timeout:
                raise CaseFailed(f"the member that did not read got {got} "
                                 "messages, then nothing: never closed")
            if f is None:
                break
            if f[1] == OP_CLOSE:
                code = ws_close_code(f[2])
                break
            got += 1
        check_eq(code, 1008, f"close code of the member that did not read "
                             f"(after {got} messages)")
        after = hub.metrics()
        check_eq(after["ringcast_slow_closes_total"] -
                 before["ringcast_slow_closes_total"], 1, "slow_closes")
    finally:
        good.finish()
        slow.close()
        pub.close()


def c_stop_idle_https(hub):
    """SIGTERM with an idle https keep-alive connection open: the hub
    sends its close_notify and exits at once, not after --close-timeout
    (30 here) waiting for a client that notices only when it next asks."""
    ctx = client_ctx(hub.certs)
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    s = tls_connect(hub.tls_port, ctx)
    try:
        s.sendall(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        buf = b""
        while b"ok\n" not in buf:
            chunk = s.recv(4096)
            check(chunk, f"closed before the /health answer: {buf[:80]!r}")
            buf += chunk
        check(b"connection: close" not in buf.lower(),
              "/health closed the connection: no keep-alive to test")
        t0 = time.monotonic()
        hub.terminate()
        rc = hub.wait(40)
        took = time.monotonic() - t0
        s.settimeout(TIMEOUT)
        try:
            end = s.recv(100)       # b"" only after a close_notify
        except (ssl.SSLError, OSError) as e:
            end = repr(e)
    finally:
        s.close()
    check_eq(rc, 0, "exit code")
    check(took < 3.0, f"hub took {took:.2f}s to exit with an idle https "
                      "keep-alive connection (--close-timeout 30)")
    check_eq(end, b"", "what the idle connection read (close_notify, EOF)")
    print(f"  exit after {took:.2f}s")


def section_edges(binary, certs, suite):
    # --msg-rate 0 --byte-rate 0: c_slow_member's publisher sends 3000
    # messages of 4 KiB as fast as the reading member reads them (a few
    # hundred a second on a small machine, past the default 1000 messages
    # and 8 MiB a second on a fast one).
    with suite.watch(TlsHub(binary, certs, [certs.localhost],
                            "--max-backpressure", "262144",
                            "--no-echo-self", "--close-timeout", "30",
                            "--msg-rate", "0", "--byte-rate", "0")) \
            as hub:
        suite.case("close handshake ends with close_notify; a client's "
                   "close_notify gets one back", c_close_notify, hub)
        suite.case("frames and requests across records (1-byte records, "
                   "with the upgrade, pipelined https)", c_records, hub)
        suite.case("TLS 1.3 KeyUpdate between requests", c_keyupdate, hub)
        suite.case("backpressure over TLS: 12 MiB sent before reading",
                   c_backpressure, hub)
        suite.case("slow room member over wss: 1008, the reader gets all",
                   c_slow_member, hub)
        suite.case("edge hub exits 0 at once on SIGTERM with an idle https "
                   "keep-alive connection (close_notify, EOF)",
                   c_stop_idle_https, hub)


# ---- 2. the main listener speaking TLS ----

def c_tls_main(hub):
    check(re.search(r"listening on [0-9.]+:\d+ \(tls, 2 workers, simd \w+\)"
                    r", deflate shared$",
                    hub.line), f"start-up line: {hub.line!r}")
    ctx = client_ctx(hub.certs)
    status, _, body = https_get(hub.port, "/health", ctx)
    check_eq((status, body.strip()), (200, b"ok"), "https /health")
    s, rest = wss_open(hub.port, ctx, "/echo")
    try:
        r = FrameReader(s, rest)
        for n in (0, 100, 70000):
            ws_echo(s, r, os.urandom(n))
    finally:
        s.close()
    before = hub.metrics()
    with socket.create_connection((HOST, hub.port), TIMEOUT) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_eof(s)
    hub.wait_fails(before, {"protocol": 1}, "plain HTTP to the TLS listener")
    # the https /health and the wss echo (/metrics is read on the admin
    # listener, plain HTTP: no handshakes of its own any more)
    m = hub.metrics()
    check_eq(m["ringcast_tls_handshakes_total"], 2, "tls_handshakes_total")


def c_sighup_no_tls(hub):
    hub.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "what=tls ok=true msg=\"nothing to reload (no TLS)\""
               in hub.stderr_all(), "the 'nothing to reload' line")
    check(rc_conn_plain_health(hub.port), "plain /health after SIGHUP")
    m = hub.metrics()
    check_eq((m["ringcast_tls_reloads_total"],
              m["ringcast_tls_reload_failures_total"]), (0, 0),
             "(tls_reloads, tls_reload_failures)")


def section_tls_main(binary, certs, suite):
    with suite.watch(TlsHub(binary, certs, [], separate=False)) as hub:
        hub.plain_port = hub.port
        suite.case("SIGHUP without TLS: 'nothing to reload', still serving",
                   c_sighup_no_tls, hub)
        suite.case("plain hub exits 0 on SIGTERM", hub.check_clean_exit)
    with suite.watch(TlsHub(binary, certs, [certs.localhost],
                            separate=False)) as hub:
        suite.case("main listener TLS: https, wss, plain HTTP refused",
                   c_tls_main, hub)
        suite.case("TLS-only hub exits 0 on SIGTERM", hub.check_clean_exit)


# ---- 3. handshake timeouts ----

def c_timeouts(hub):
    before = hub.metrics()
    hello = client_hello()
    socks = []
    t0 = time.monotonic()
    try:
        silent = socket.create_connection((HOST, hub.tls_port), TIMEOUT)
        socks.append(silent)
        half = socket.create_connection((HOST, hub.tls_port), TIMEOUT)
        socks.append(half)
        half.sendall(hello[:len(hello) // 2])
        for name, s in (("silent connection", silent),
                        ("half a ClientHello", half)):
            how, got = wait_eof(s, 6.0)
            took = time.monotonic() - t0
            check(took >= 0.8, f"{name}: closed after {took:.2f}s, before "
                               "the 1 s handshake timeout")
            print(f"     {name}: closed ({how}) after {took:.2f}s",
                  flush=True)
    finally:
        for s in socks:
            s.close()
    hub.wait_fails(before, {"timeout": 2}, "handshake timeouts")
    # A TLS handshake done, then no request: the head timeout closes it,
    # and it is no TLS failure.
    before = hub.metrics()
    s = tls_connect(hub.tls_port, client_ctx(hub.certs))
    t0 = time.monotonic()
    try:
        s.settimeout(6.0)
        try:
            data = s.recv(100)
        except (ssl.SSLError, ConnectionResetError):
            data = b""
        check_eq(data, b"", "what came on a silent TLS connection")
        check(time.monotonic() - t0 < 6.0, "not closed within 6 s")
    finally:
        s.close()
    after = hub.metrics()
    check_eq(delta(before, after), {}, "TLS failures for a completed "
                                       "handshake without a request")
    check(after["ringcast_timeouts_total"] > before["ringcast_timeouts_total"],
          "timeouts_total did not go up")


def section_timeouts(binary, certs, suite):
    with suite.watch(TlsHub(binary, certs, [certs.localhost],
                            "--handshake-timeout", "1")) as hub:
        suite.case("--handshake-timeout 1: silent and half-hello "
                   "connections closed, counted (timeout)", c_timeouts, hub)
        suite.case("timeout hub exits 0 on SIGTERM", hub.check_clean_exit)


# ---- 4. mTLS ----

def expect_refused(port, ctx, what):
    """The TLS handshake or the upgrade after it must fail (TLS 1.3 sends
    the server's verdict on the client certificate after the client's
    handshake has completed)."""
    try:
        s, _ = wss_open(port, ctx)
    except (ssl.SSLError, ConnectionError, CaseFailed, socket.timeout) as e:
        return str(e)
    s.close()
    raise CaseFailed(f"{what}: the upgrade succeeded")


def c_mtls(hub):
    c = hub.certs
    for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        before = hub.metrics()
        why = expect_refused(hub.tls_port, client_ctx(c, version=v),
                             f"no client certificate ({v.name})")
        hub.wait_fails(before, {"cert": 1}, f"no client cert, {v.name}: "
                                            f"{why}")
        before = hub.metrics()
        why = expect_refused(hub.tls_port,
                             client_ctx(c, version=v, cert=c.badclient),
                             f"a self-signed client certificate ({v.name})")
        hub.wait_fails(before, {"cert": 1}, f"self-signed client cert, "
                                            f"{v.name}: {why}")
        before = hub.metrics()
        why = expect_refused(hub.tls_port,
                             client_ctx(c, version=v, cert=c.wrong),
                             f"a certificate of another CA ({v.name})")
        hub.wait_fails(before, {"cert": 1}, f"another CA's cert, {v.name}: "
                                            f"{why}")
        s, rest = wss_open(hub.tls_port,
                           client_ctx(c, version=v, cert=c.client))
        try:
            r = FrameReader(s, rest)
            for n in (5, 20000):
                ws_echo(s, r, os.urandom(n))
        finally:
            s.close()


async def a_mtls_websockets(hub):
    c = hub.certs
    async with wss_connect(hub.tls_port, client_ctx(c, cert=c.client)) as ws:
        await ws.send("mutual")
        check_eq(await asyncio.wait_for(ws.recv(), TIMEOUT), "mutual",
                 "echo with a client certificate")


def section_mtls(binary, certs, suite):
    with suite.watch(TlsHub(binary, certs, [certs.localhost],
                            "--tls-client-ca", certs.clientca.cert)) as hub:
        suite.case("mTLS: no cert / self-signed / other CA refused (cert), "
                   "good cert works (TLS 1.3 and 1.2)", c_mtls, hub)
        asyncio.run(suite.acase("mTLS: python websockets with a client "
                                "certificate", a_mtls_websockets, hub))
        suite.case("mTLS hub exits 0 on SIGTERM", hub.check_clean_exit)


# ---- 5. rotation under load ----

def install(src, dst):
    """Copy src over dst atomically (the same name, a new inode)."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def c_rotation(hub, cert, key):
    c = hub.certs
    ctx = client_ctx(c)
    fp1, fp2 = file_fp(c.localhost.cert), file_fp(c.localhost2.cert)

    def served():
        s = tls_connect(hub.tls_port, ctx)
        try:
            return sock_fp(s)
        finally:
            s.close()

    def reloads():
        m = hub.metrics()
        return (int(m["ringcast_tls_reloads_total"]),
                int(m["ringcast_tls_reload_failures_total"]))

    def sighup(want_line, n):
        hub.proc.send_signal(signal.SIGHUP)
        try:
            wait_until(lambda: hub.stderr_all().count(want_line) >= n,
                       f"'{want_line}' printed {n} times")
        except CaseFailed as e:
            raise CaseFailed(f"{e}; the hub's stderr: {hub.stderr_all()}")

    def progress(clients):
        counts = [p.count for p in clients]
        for p, n in zip(clients, counts):
            p.check_ok(since_count=n)

    ok_line = "event=reload what=tls ok=true"
    bad_line = "event=reload what=tls ok=false"
    check_eq(served(), fp1, "certificate before the reload")
    clients = []
    try:
        for i in range(20):
            p = EchoProbe(hub.tls_port, ctx, 0.002, name=f"client {i}")
            check_eq(p.fp, fp1, f"client {i}'s certificate")
            clients.append(p)
            p.start()
        progress(clients)

        install(c.localhost2.cert, cert)
        install(c.localhost2.key, key)
        sighup(ok_line, 1)
        check_eq(served(), fp2, "certificate after the reload")
        check_eq(reloads(), (1, 0), "(tls_reloads, tls_reload_failures)")
        progress(clients)

        # a broken certificate file: refused, the second pair stays
        install(c.garbage, cert)
        sighup(bad_line, 1)
        line = [ln for ln in hub.stderr_all().splitlines()
                if bad_line in ln][-1]
        check(cert in line, f"the failure line does not name {cert}: "
                            f"{line!r}")
        check_eq(served(), fp2, "certificate after a failed reload")
        check_eq(reloads(), (1, 1), "(tls_reloads, tls_reload_failures)")
        progress(clients)

        # a key that does not match: refused too
        install(c.localhost.cert, cert)
        install(c.mismatch_key, key)
        sighup(bad_line, 2)
        line = [ln for ln in hub.stderr_all().splitlines()
                if bad_line in ln][-1]
        check("match" in line and (cert in line or key in line),
              f"the mismatch line: {line!r}")
        check_eq(served(), fp2, "certificate after a mismatched key")
        check_eq(reloads(), (1, 2), "(tls_reloads, tls_reload_failures)")

        # restored: reloads again
        install(c.localhost.key, key)
        sighup(ok_line, 2)
        check_eq(served(), fp1, "certificate after the restore")
        check_eq(reloads(), (2, 2), "(tls_reloads, tls_reload_failures)")
        progress(clients)
        for p in clients:
            p.check_ok()
        total = sum(p.count for p in clients)
        print(f"     20 clients: {total} echoes during the reloads, none "
              "failed", flush=True)
    finally:
        for p in clients:
            p.finish()
    for p in clients:
        check(not p.errors, f"{p.name}: {p.errors}")


def section_rotation(binary, certs, suite):
    d = tempfile.mkdtemp(prefix="ringcast-rot-", dir=certs.dir)
    cert, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
    shutil.copyfile(certs.localhost.cert, cert)
    shutil.copyfile(certs.localhost.key, key)

    class P:
        pass
    pair = P()
    pair.cert, pair.key = cert, key
    with suite.watch(TlsHub(binary, certs, [pair])) as hub:
        suite.case("rotation under load: SIGHUP with 20 clients echoing; "
                   "broken files refused; restored", c_rotation, hub, cert,
                   key)
        suite.case("rotation hub exits 0 on SIGTERM", hub.check_clean_exit)


# ---- 6. a flood of handshakes ----

class _FloodConn:
    """One connection of the flood, driven by _flood_proc's selector:
    connect, TLS handshake, upgrade to /echo, one echo, close."""
    __slots__ = ("sock", "raw", "step", "buf", "out", "payload")

    def __init__(self, i, port, ctx):
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.raw.setblocking(False)
        self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = self.raw.connect_ex((HOST, port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        self.sock = None
        self.step = "connect"
        self.buf = b""
        self.payload = b"flood %d" % i
        self.out = b""

    def advance(self, ctx):
        """Move on as far as the socket allows: the events to wait for
        next, 0 when done. Raises on any failure."""
        if self.step == "connect":
            err = self.raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, "connect: " + os.strerror(err))
            self.sock = ctx.wrap_socket(self.raw, server_hostname="localhost",
                                        do_handshake_on_connect=False)
            self.step = "handshake"
        if self.step == "handshake":
            try:
                self.sock.do_handshake()
            except ssl.SSLWantReadError:
                return selectors.EVENT_READ
            except ssl.SSLWantWriteError:
                return selectors.EVENT_WRITE
            self.out = ws_upgrade_request("/echo")
            self.step = "upgrade"
        if self.step in ("upgrade", "echo") and self.out:
            try:
                n = self.sock.send(self.out)
            except (ssl.SSLWantWriteError, BlockingIOError):
                return selectors.EVENT_WRITE
            except ssl.SSLWantReadError:
                return selectors.EVENT_READ
            self.out = self.out[n:]
            if self.out:
                return selectors.EVENT_WRITE
        while True:
            try:
                chunk = self.sock.recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                return selectors.EVENT_READ
            if not chunk:
                raise ConnectionError(f"EOF in step {self.step} after "
                                      f"{self.buf[:40]!r}")
            self.buf += chunk
            if self.step == "upgrade" and b"\r\n\r\n" in self.buf:
                head, _, self.buf = self.buf.partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 101 "):
                    raise ConnectionError(f"upgrade: {head[:40]!r}")
                self.step = "echo"
                self.out = ws_frame(OP_BINARY, self.payload)
                return self.advance(ctx)
            if self.step == "echo" and len(self.buf) >= 2 + len(self.payload):
                want = bytes([0x82, len(self.payload)]) + self.payload
                if self.buf != want:
                    raise ConnectionError(f"echo: {self.buf[:40]!r}")
                self.step = "done"
                return 0

    def close(self):
        (self.sock or self.raw).close()


def _flood_proc(port, ca, n, go, out):
    """A client process: n connections opened at once, each doing the TLS
    handshake, the upgrade to /echo and one echo (non-blocking sockets and
    one selector: asyncio's TLS costs several times more client CPU, and
    on a small machine the clients, not the hub, would set the pace).
    Puts (failures, the first few, the time the last one ended) on out."""
    os.nice(10)     # the hub and the measuring client come first
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    errs = []
    go.wait(60)
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + 50
    conns = 0
    for i in range(n):
        try:
            c = _FloodConn(i, port, ctx)
        except OSError as e:
            errs.append(f"connect: {e}")
            continue
        sel.register(c.raw, selectors.EVENT_WRITE, c)
        conns += 1
    while conns and time.monotonic() < deadline:
        for key, _ in sel.select(1.0):
            c = key.data
            try:
                ev = c.advance(ctx)
            except (OSError, ssl.SSLError, ConnectionError) as e:
                errs.append(f"{type(e).__name__} in {c.step}: {e}")
                ev = 0
            if ev:
                sel.modify(c.raw, ev, c)
            else:
                sel.unregister(c.raw)
                c.close()
                conns -= 1
    if conns:
        errs.append(f"{conns} connections not done within 50 s")
    out.put((len(errs) if not conns else len(errs) - 1 + conns, errs[:5],
             time.monotonic()))


def c_flood(hub):
    raise_nofile(FLOOD // FLOOD_PROCS + 1024)
    ctx = client_ctx(hub.certs)
    mp = multiprocessing.get_context("fork")
    go, out = mp.Event(), mp.Queue()
    per = [FLOOD // FLOOD_PROCS + (i < FLOOD % FLOOD_PROCS)
           for i in range(FLOOD_PROCS)]
    procs = [mp.Process(target=_flood_proc, args=(hub.tls_port,
                                                   hub.certs.ca.cert, n, go,
                                                   out), daemon=True)
             for n in per]
    for p in procs:
        p.start()
    probe = None
    try:
        probe = EchoProbe(hub.tls_port, ctx, 0.01, name="measuring client")
        probe.start()
        time.sleep(0.5)                 # a baseline before the flood
        before = hub.metrics()
        t0 = time.monotonic()
        go.set()
        results = []
        for _ in procs:
            try:
                results.append(out.get(timeout=max(1, t0 + 55 -
                                                   time.monotonic())))
            except Exception:  # noqa: BLE001 -- queue.Empty
                raise CaseFailed(f"flood not done within 55 s "
                                 f"({len(results)} of {len(procs)} client "
                                 "processes)")
        t1 = max(r[2] for r in results)
        time.sleep(0.2)
        probe.check_ok()
        during = [rtt for t, rtt in probe.samples if t0 <= t <= t1]
        base = [rtt for t, rtt in probe.samples if t < t0]
        after = hub.metrics()
    finally:
        go.set()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
        if probe:
            probe.finish()
    errors = sum(r[0] for r in results)
    took = t1 - t0
    hs = after["ringcast_tls_handshakes_total"] - \
        before["ringcast_tls_handshakes_total"]
    p50, p99 = percentile(during, 50) * 1e3, percentile(during, 99) * 1e3
    slowest = sorted(((rtt, t - t0) for t, rtt in probe.samples
                      if t0 <= t <= t1), reverse=True)[:3]
    print(f"     flood: {FLOOD} TLS handshakes + upgrades + echoes from "
          f"{FLOOD_PROCS} processes in {took:.2f}s = {FLOOD / took:.0f}/s "
          f"({int(hs)} counted by the hub); measuring client during it: "
          f"{len(during)} echoes, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"max {max(during, default=0) * 1e3:.1f} ms (before: p99 "
          f"{percentile(base, 99) * 1e3:.1f} ms); slowest at "
          f"{', '.join(f'+{at:.2f}s' for _, at in slowest)}", flush=True)
    check(not errors, f"{errors} of {FLOOD} connections failed, e.g. "
                      f"{[e for r in results for e in r[1]][:5]}")
    check_eq(int(hs), FLOOD, "tls_handshakes_total during the flood")
    check_eq(delta(before, after), {}, "TLS failures during the flood")
    # Generous: the target is < 50 ms (Release); this bound only catches
    # starvation. In a sanitizer build OpenSSL's allocations go through
    # the sanitizer's allocator and a turn of 16 handshakes takes ~0.1-0.5
    # s, so there it is only a liveness check.
    # Under TSan (5-10x slower than ASan here) the flood keeps both CPUs
    # busy for ~16 s, and the probe, a Python thread beside four flooding
    # processes, has waited up to 10 s once at the start (p50 1-60 ms in
    # the same runs): there the typical echo (p50) is what shows
    # starvation, the worst one is bounded loosely.
    check(len(during) >= (2 if ASAN else 5),
          f"only {len(during)} echoes during the flood")
    bound = (20000 if TSAN else 8000) if ASAN else 1000
    check(p99 < bound, f"p99 echo latency during the flood {p99:.1f} ms "
                       f"(bound {bound} ms; target 50 ms)")
    if ASAN:
        check(p50 < 1000, f"p50 echo latency during the flood {p50:.1f} ms "
                          f"(bound 1000 ms in a sanitizer build)")
    if p99 >= 50:
        print(f"     NOTE: p99 {p99:.1f} ms is over the 50 ms target",
              flush=True)


def section_flood(binary, certs, suite):
    raise_nofile(FLOOD + 2048)       # the hub inherits it
    # The handshake timeout is the clients' pace here, not the hub's: on a
    # small shared machine 5000 Python clients can take over 10 s to send
    # their last ClientHello.
    # The per-address limits (1024 open, 256 new a second by default) are
    # off: all 5000 come from 127.0.0.1 at once, on purpose.
    with suite.watch(TlsHub(binary, certs, [certs.localhost],
                            "--handshake-timeout", "60",
                            "--max-conns-per-ip", "0",
                            "--conn-rate-per-ip", "0", threads=1)) as hub:
        suite.case(f"flood: {FLOOD} concurrent TLS handshakes on 1 worker; "
                   "an established client's p99 echo latency", c_flood, hub)
        suite.case("flood hub exits 0 on SIGTERM", hub.check_clean_exit)


# ---- 7. bad flags ----

def c_bad_flags(binary, certs):
    c = certs
    missing = os.path.join(c.dir, "no-such-file.pem")
    cases = [
        (["--tls-cert", c.localhost.cert], "--tls-key", None),
        (["--tls-key", c.localhost.key], "--tls-key", None),
        (["--tls-port", "0"], "--tls-cert", None),
        (["--tls-cert", missing, "--tls-key", c.localhost.key], missing,
         None),
        (["--tls-cert", c.localhost.cert, "--tls-key", missing], missing,
         None),
        (["--tls-cert", c.localhost.cert, "--tls-key", c.mismatch_key],
         c.mismatch_key, "mismatch"),
        (["--tls-cert", c.garbage, "--tls-key", c.localhost.key], c.garbage,
         None),
        (["--tls-cert", c.localhost.cert, "--tls-key", c.localhost.key,
          "--tls-cert", c.other.cert, "--tls-key", c.localhost.key],
         c.localhost.key, "mismatch"),
        (["--tls-cert", c.localhost.cert, "--tls-key", c.localhost.key,
          "--tls-client-ca", missing], missing, None),
        (["--tls-cert", c.localhost.cert, "--tls-key", c.localhost.key,
          "--tls-client-ca", c.garbage], c.garbage, None),
    ]
    for args, names, also in cases:
        r = subprocess.run([binary, "--port", "0", "--admin-port", "off",
                            *args],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        err = r.stderr.decode(errors="replace")
        what = " ".join(os.path.basename(a) for a in args)
        check_eq(r.returncode, 2, f"exit code for {what} (stderr {err!r})")
        check(names in err, f"{what}: the message does not name {names}: "
                            f"{err!r}")
        if also:
            check(also in err, f"{what}: the message does not say "
                               f"{also!r}: {err!r}")
        check(b"listening" not in r.stdout, f"{what}: it listened")


# ---- main ----

def main():
    global ASAN, TSAN
    binary = hub_binary()
    ASAN = built_with_asan(binary)
    with open(binary, "rb") as f:
        TSAN = b"__tsan_init" in f.read()
    tmp = tempfile.mkdtemp(prefix="ringcast-tls-")
    suite = Suite()
    t0 = time.monotonic()
    try:
        certs = tlsutil.make_certs(tmp)
        suite.case("bad --tls-* flags: exit 2 naming the file", c_bad_flags,
                   binary, certs)
        section_main(binary, certs, suite)
        section_edges(binary, certs, suite)
        section_tls_main(binary, certs, suite)
        section_timeouts(binary, certs, suite)
        section_mtls(binary, certs, suite)
        section_rotation(binary, certs, suite)
        section_flood(binary, certs, suite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"     ({time.monotonic() - t0:.1f}s)", flush=True)
    suite.finish()


if __name__ == "__main__":
    main()
