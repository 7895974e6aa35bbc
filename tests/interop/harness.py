# SPDX-License-Identifier: MIT
"""Shared helpers for the Python interop tests.

Hub     -- starts the built ringcast on a free port (and its admin
           listener on another: --admin-port 0 unless the test names
           one), stops it with SIGTERM and checks that it exits 0.
Suite   -- runs named cases, prints one line each and the closing
           "N passed, M failed" line, and gives the exit status.
http_get / metrics -- one plain HTTP request, for /health and /metrics.
           /metrics is served on the admin port only (the public one
           answers 404): metrics(port) and metrics_by_worker(port) take
           either port of a Hub started here and read the admin one.
"""
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HOST = "127.0.0.1"
TIMEOUT = 5.0          # every socket read or wait gives up after this
START_TIMEOUT = 10.0   # for the hub's "listening" line (ASan builds are slow)
STOP_TIMEOUT = 10.0    # SIGTERM to exit

_LISTENING = re.compile(rb"listening on \[?[0-9a-fA-F.:]+?\]?:(\d+)")
# Printed after the "listening on" line when the admin listener is on.
_ADMIN = re.compile(rb"ringcast: admin on ([0-9a-fA-F.:\[\]]+):(\d+)")

# A hub's public port(s) -> (admin host, admin port), filled when a Hub
# starts, so that metrics(hub.port) reads the admin listener.
_admin_of = {}


def admin_port_of(port):
    """The admin port of the hub whose public port is port (port itself
    if no Hub here started one with it: a caller that already passes the
    admin port)."""
    return _admin_of.get(port, (HOST, port))[1]


def register_admin(public_port, admin_port, admin_host=HOST):
    """Make metrics(public_port) read admin_port (for hubs started
    elsewhere than Hub, or a Hub's extra --tls-port)."""
    _admin_of[public_port] = (admin_host, admin_port)


class CaseFailed(AssertionError):
    pass


def check(cond, msg):
    """assert that is not stripped by -O and reads as a sentence."""
    if not cond:
        raise CaseFailed(msg)


def check_eq(got, want, what):
    if got != want:
        raise CaseFailed(f"{what}: expected {_short(want)}, got {_short(got)}")


def _short(v, limit=120):
    r = repr(v)
    return r if len(r) <= limit else r[:limit] + f"... ({len(v)} long)"


class Hub:
    """One ringcast process: `with Hub(path, "--max-message", "1000") as hub:`.

    Leaving the block stops it; check_clean_exit() inside the block makes
    the shutdown itself a check.
    """

    def __init__(self, binary, *flags, threads=2):
        # The admin listener (/metrics) defaults to port 9090, which two
        # hubs at once (ctest -j) cannot share: any free port instead,
        # unless the test names one (or "off").
        admin = [] if "--admin-port" in flags else ["--admin-port", "0"]
        self.args = [binary, "--port", "0", "--threads", str(threads),
                     *admin, *flags]
        flags_admin = (flags[flags.index("--admin-port") + 1]
                       if "--admin-port" in flags[:-1] else "0")
        self.want_admin = flags_admin != "off"
        self.admin_host = self.admin_port = None
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err)
        self.stopping = False     # SIGTERM sent: an exit is no death
        self.death_reported = False
        try:
            self.port = self._wait_port()
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise
        if self.admin_port:
            register_admin(self.port, self.admin_port, self.admin_host)

    def stdout_text(self):
        """What the hub printed on stdout so far. pread: seek() + read()
        would move the offset the hub writes at (one open file description
        shared by both processes), and a line printed meanwhile could land
        over the start of the file."""
        fd = self._out.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0)

    def _wait_port(self):
        deadline = time.monotonic() + START_TIMEOUT
        what = "'listening on'"
        while time.monotonic() < deadline:
            out = self.stdout_text()
            m = _LISTENING.search(out)
            if m and not self.want_admin:
                return int(m.group(1))
            a = _ADMIN.search(out)
            if m and a:
                self.admin_host = a.group(1).decode().strip("[]")
                self.admin_port = int(a.group(2))
                return int(m.group(1))
            if m:
                what = "'ringcast: admin on HOST:PORT'"
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{' '.join(self.args)}: no {what} line "
                           f"(exit {self.proc.poll()}); stdout: "
                           f"{self.stdout_text()[-500:]!r}; stderr: "
                           f"{self.stderr_tail()}")

    def url(self, path="/echo"):
        return f"ws://{HOST}:{self.port}{path}"

    def stderr_tail(self, n=2000):
        """The end of the hub's stderr (pread, as stdout_text())."""
        fd = self._err.fileno()
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        return data[-n:].decode(errors="replace")

    def terminate(self):
        """SIGTERM, without waiting."""
        self.stopping = True
        # Our kept-alive /metrics connection goes with the hub (which
        # closes idle ones at once when it stops: test_service.py).
        _drop_scraper(self.admin_port)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout=STOP_TIMEOUT):
        """The exit code; None if it took over timeout (then it is killed)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        self.terminate()
        return self.wait()

    def check_clean_exit(self):
        """SIGTERM, then the process must exit 0 within STOP_TIMEOUT."""
        rc = self.stop()
        check(rc is not None,
              f"hub did not exit within {STOP_TIMEOUT:.0f}s of SIGTERM")
        check(rc == 0, f"hub exit code {rc}, expected 0 after SIGTERM; "
                       f"stderr: {self.stderr_tail()}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        for port, (_, admin) in list(_admin_of.items()):
            if admin == self.admin_port:
                del _admin_of[port]
        self._out.close()
        self._err.close()


def recv_http_response(sock, head_only=False, buf=b""):
    """Read one response: (status, {lower-name: value}, body, leftover).

    buf holds bytes already read from sock. The body is read by
    Content-Length (none for a HEAD reply). leftover is what came after it
    in the same reads.
    """
    sock.settimeout(TIMEOUT)
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        check(chunk, f"connection closed before a full response head: "
                     f"{_short(buf)}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0] + " ")
    check(m, f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        check(chunk, f"connection closed inside a {length}-byte body")
        rest += chunk
    return int(m.group(1)), headers, rest[:length], rest[length:]


def http_get(port, path):
    """One GET on its own connection: (status, headers, body)."""
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                  "Connection: close\r\n\r\n".encode())
        status, headers, body, _ = recv_http_response(s)
        return status, headers, body


# One kept-alive connection per admin port for /metrics: cases that scrape
# in a tight loop (ws_open_on_worker: two scrapes per try) would otherwise
# open hundreds of connections a second from one address, past the admin
# listener's own --conn-rate-per-ip.
_scrapers = {}


def _drop_scraper(port):
    s = _scrapers.pop(port, None)
    if s:
        s.close()


def admin_get(port, path):
    """GET path on port (an admin port) over the kept-alive connection,
    opened (again) when there is none or the hub closed it: (status,
    headers, body)."""
    for _ in range(2):
        s = _scrapers.get(port)
        fresh = s is None
        if fresh:
            s = socket.create_connection((HOST, port), timeout=TIMEOUT)
            _scrapers[port] = s
        try:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n"
                      .encode())
            status, headers, body, rest = recv_http_response(s)
        except (OSError, CaseFailed):
            _drop_scraper(port)
            if fresh:
                raise
            continue        # closed while idle: once more on a new one
        if rest or headers.get("connection", "").lower() == "close":
            _drop_scraper(port)
        return status, headers, body
    raise CaseFailed(f"GET {path} on port {port}: no answer")


def metrics(port):
    """The hub's /metrics as {name: value} (samples without labels). port:
    a Hub's public port (its admin port is read) or an admin port."""
    status, _, body = admin_get(admin_port_of(port), "/metrics")
    check_eq(status, 200, "GET /metrics status")
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def metrics_labeled(port):
    """/metrics as {name or name{labels}: value}, totals only (no
    worker= series): e.g. 'ringcast_auth_refused_total{reason="room"}'."""
    status, _, body = admin_get(admin_port_of(port), "/metrics")
    check_eq(status, 200, "GET /metrics status")
    out = {}
    for line in body.decode().splitlines():
        m = _SAMPLE.match(line)
        if m and "worker=" not in (m.group(2) or ""):
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Suite:
    """Runs cases, one line each; finish() prints the totals and exits."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.hubs = []

    def watch(self, hub):
        """Name hub in failures if it died on its own (a crash, an abort)."""
        self.hubs.append(hub)
        return hub

    def _died(self):
        for hub in self.hubs:
            rc = hub.proc.poll()
            if rc is not None and not (hub.stopping or hub.death_reported):
                hub.death_reported = True
                return (f"\n  the hub died (exit {rc}) -- its stderr:\n"
                        f"{hub.stderr_tail()}")
        return ""

    def _report(self, name, err):
        if err is None:
            self.passed += 1
            print(f"PASS {name}", flush=True)
            return
        self.failed += 1
        if isinstance(err, CaseFailed):
            why = str(err)
        elif isinstance(err, (asyncio.TimeoutError, socket.timeout)):
            why = f"timed out ({type(err).__name__}) at " + _where(err)
        else:
            why = f"{type(err).__name__}: {err} at " + _where(err)
        print(f"FAIL {name}: {why}{self._died()}", flush=True)

    def case(self, name, fn, *args):
        """Run fn(*args) now; a raised exception fails the case."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 -- any error fails the case
            self._report(name, e)
        else:
            self._report(name, None)

    async def acase(self, name, coro_fn, *args, timeout=20.0):
        """Await coro_fn(*args), bounded by timeout seconds."""
        try:
            await asyncio.wait_for(coro_fn(*args), timeout)
        except Exception as e:  # noqa: BLE001
            self._report(name, e)
        else:
            self._report(name, None)

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


def _where(err):
    """file:line of the innermost frame in a test script, for the message."""
    frames = traceback.extract_tb(err.__traceback__)
    here = os.path.dirname(os.path.abspath(__file__))
    mine = [f for f in frames if os.path.dirname(f.filename) == here]
    f = (mine or frames or [None])[-1]
    return f"{os.path.basename(f.filename)}:{f.lineno}" if f else "?"


def hub_binary():
    """The hub path from argv, or exit 2 with usage."""
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        print(f"usage: {sys.argv[0]} /path/to/ringcast", file=sys.stderr)
        sys.exit(2)
    return os.path.abspath(sys.argv[1])


# ---- Added for test_faults.py, test_shutdown.py and tests/soak/: raw
# WebSocket clients that can be made slow, stuck or rude, figures of the
# hub process, and polling with a bound. Nothing above uses them. ----

import base64 as _base64
import hashlib as _hashlib
import resource as _resource
import struct as _struct

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="    # RFC 6455 §1.3's sample key
_WS_ACCEPT = _base64.b64encode(_hashlib.sha1(
    (WS_KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
ZERO_KEY = b"\0\0\0\0"                 # a valid mask that leaves bytes as they are


def raise_nofile(want):
    """Raise this process's soft RLIMIT_NOFILE to want (at most the hard
    limit); returns the soft limit now in force."""
    soft, hard = _resource.getrlimit(_resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == _resource.RLIM_INFINITY else min(want, hard)
        _resource.setrlimit(_resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


def proc_rss_kb(pid):
    """VmRSS of pid in KiB (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise CaseFailed(f"no VmRSS in /proc/{pid}/status")


def proc_fd_count(pid):
    """Open file descriptors of pid. The hub's connections are io_uring
    direct descriptors, which do not show here: this counts the listeners,
    rings, eventfds and whatever else a leak would add."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def metrics_by_worker(port):
    """/metrics as {name: {worker: value}}, from the {worker="N"} series."""
    status, _, body = admin_get(admin_port_of(port), "/metrics")
    check_eq(status, 200, "GET /metrics status")
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{worker="(\d+)"\} (\S+)$',
                     line)
        if m:
            out.setdefault(m.group(1), {})[int(m.group(2))] = float(m.group(3))
    return out


def wait_until(fn, what, timeout=TIMEOUT, interval=0.05):
    """Call fn() until it returns something true, at most timeout seconds;
    returns that value, or fails the case naming what was awaited (and the
    last value fn returned)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise CaseFailed(f"{what}: not within {timeout:.1f}s "
                             f"(last: {_short(last)})")
        time.sleep(interval)


def built_with_asan(binary):
    """True if binary is an AddressSanitizer or ThreadSanitizer build (its
    RSS means little: shadow memory, redzones, the quarantine of freed
    blocks, TSan's history)."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def ws_mask(payload, key):
    """payload XOR the 4-byte key, fast for large payloads."""
    n = len(payload)
    if not n or key == ZERO_KEY:
        return bytes(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^
            int.from_bytes(k, "little")).to_bytes(n, "little")


def ws_frame(op, payload=b"", fin=True, key=None, rsv=0):
    """One masked client frame (key: 4 bytes, default random; rsv: the
    RSV1..RSV3 bits as a number 0..7, 4 being RSV1)."""
    n = len(payload)
    key = os.urandom(4) if key is None else key
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    if n < 126:
        head = _struct.pack("!BB", b0, 0x80 | n)
    elif n < 1 << 16:
        head = _struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = _struct.pack("!BBQ", b0, 0x80 | 127, n)
    return head + key + ws_mask(payload, key)


def ws_upgrade_request(path="/echo"):
    return (f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


def ws_open(port, path="/echo", rcvbuf=None, timeout=TIMEOUT):
    """A connected, upgraded socket: (sock, bytes read past the 101 head).

    rcvbuf sets SO_RCVBUF before connecting, so the TCP window stays that
    small: a client that does not read then makes the server queue."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((HOST, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(ws_upgrade_request(path))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            check(chunk, f"closed before the 101 for {path}: {_short(buf)}")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 101 "),
              f"upgrade to {path}: {_short(head[:60])}")
        check(b"\r\nSec-WebSocket-Accept: " + _WS_ACCEPT in head,
              "Sec-WebSocket-Accept")
        return s, rest
    except BaseException:
        s.close()
        raise


def ws_reset(sock):
    """Close with RST instead of FIN (SO_LINGER 0): a crashed client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    _struct.pack("ii", 1, 0))
    sock.close()


class FrameReader:
    """Server frames from a socket: next() -> (fin, opcode, payload), or
    None at EOF (a reset counts as EOF: reset is set)."""

    def __init__(self, sock, buf=b""):
        self.sock = sock
        self.buf = bytearray(buf)
        self.pos = 0
        self.reset = False
        self.eof = False

    def _fill(self, deadline):
        if self.pos > 1 << 20:
            del self.buf[:self.pos]
            self.pos = 0
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("FrameReader: no frame before deadline")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 18)
        except ConnectionResetError:
            self.reset = True
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _need(self, n, deadline):
        while len(self.buf) - self.pos < n:
            if self.eof or not self._fill(deadline):
                return False
        return True

    def next(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        if not self._need(2, deadline):
            check(len(self.buf) == self.pos,
                  f"EOF inside a frame head ({len(self.buf) - self.pos} "
                  "bytes)")
            return None
        b0, b1 = self.buf[self.pos], self.buf[self.pos + 1]
        check(not b1 & 0x80, "server frame is masked")
        n, hl = b1 & 0x7F, 2
        if n >= 126:
            hl = 4 if n == 126 else 10
            check(self._need(hl, deadline), "EOF inside a frame length")
            n = int.from_bytes(self.buf[self.pos + 2:self.pos + hl], "big")
        check(self._need(hl + n, deadline),
              f"EOF inside a {n}-byte frame payload")
        payload = bytes(self.buf[self.pos + hl:self.pos + hl + n])
        self.pos += hl + n
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def expect_eof(self, timeout=TIMEOUT):
        """Nothing more but EOF (or a reset) within timeout."""
        f = self.next(timeout)
        check(f is None, f"expected EOF, got a frame {_short(f)}")


def ws_close_code(payload):
    return _struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


SEQ_DIGITS = 10


def seq_payload(seq, size=64):
    """A room message numbered seq: ten ASCII digits, then filler up to
    size bytes (valid UTF-8 text)."""
    head = b"%010d" % seq
    return head + b"." * max(0, size - len(head))


def seq_of(payload):
    return int(payload[:SEQ_DIGITS])


def check_seqs(seqs, want_count, what, start=0):
    """seqs must be exactly start, start+1, ... (want_count of them, or any
    count if want_count is None): in order, no gap, no duplicate."""
    n = len(seqs) if want_count is None else want_count
    if seqs == list(range(start, start + n)):
        return
    for i, s in enumerate(seqs):
        if s != start + i:
            raise CaseFailed(f"{what}: message {i} has number {s}, expected "
                             f"{start + i} (received {len(seqs)}, expected "
                             f"{n}; around it: {seqs[max(0, i - 3):i + 4]})")
    raise CaseFailed(f"{what}: received {len(seqs)} messages in order, "
                     f"expected {n}")


import threading as _threading  # noqa: E402


class SeqReader(_threading.Thread):
    """A room member that reads in a thread and records what it gets.

    seqs: the numbers of the data messages, in arrival order; close_code:
    the code of the server's close frame (None if none came); eof: the
    connection ended; error: what went wrong in the thread, if anything.
    At the server's close frame it answers with the same code
    (answer_close=True) and reads on to EOF. lag: seconds slept after each
    frame until hurry() is called (a reader that falls behind, then
    catches up). A ping is answered with its pong. opened: a (sock, rest)
    from ws_open() to use instead of opening one. lock: held while
    answering a close or a ping, for a socket that another thread writes
    to as well."""

    def __init__(self, port, path, rcvbuf=None, answer_close=True, lag=0.0,
                 name="reader", opened=None, lock=None):
        super().__init__(daemon=True, name=name)
        self.lock = lock or _threading.Lock()
        self.sock, rest = opened or ws_open(port, path, rcvbuf=rcvbuf)
        self.reader = FrameReader(self.sock, rest)
        self.answer_close = answer_close
        self.lag = lag
        self.seqs = []
        self.close_code = None
        self.close_at = None
        self.eof = False
        self.error = None
        self._halt = _threading.Event()
        self._hurry = _threading.Event()

    def hurry(self):
        self._hurry.set()

    def stop(self):
        self._halt.set()

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 -- reported by the case
            self.error = e

    def _run(self):
        while not self._halt.is_set():
            try:
                f = self.reader.next(timeout=0.2)
            except socket.timeout:
                continue
            if f is None:
                self.eof = True
                return
            fin, op, payload = f
            if op in (1, 2):
                check(fin, "a fragmented room message")
                self.seqs.append(seq_of(payload))
                if self.lag and not self._hurry.is_set():
                    time.sleep(self.lag)
            elif op == 8:
                self.close_code = ws_close_code(payload)
                self.close_at = time.monotonic()
                if self.answer_close:
                    with self.lock:
                        try:
                            self.sock.sendall(ws_frame(8, payload[:2]))
                        except OSError:
                            pass
                # Nothing may follow a close frame but EOF.
                f = self.reader.next(timeout=3 * TIMEOUT)
                check(f is None, f"a frame after the close frame: "
                                 f"{_short(f)}")
                self.eof = True
                return
            elif op == 9:       # the hub pings idle WebSockets: answer
                with self.lock:
                    self.sock.sendall(ws_frame(10, payload))
            elif op != 10:      # pongs are fine, anything else is not
                raise CaseFailed(f"unexpected frame opcode {op}")

    def wait_count(self, n, timeout=TIMEOUT):
        wait_until(lambda: len(self.seqs) >= n or self.error or self.eof,
                   f"{self.name}: {n} messages (has {len(self.seqs)})",
                   timeout)
        check(self.error is None, f"{self.name}: {self.error!r}")

    def finish(self, timeout=TIMEOUT):
        """Stop reading and close the socket; re-raise the thread's error."""
        self.stop()
        self.join(timeout)
        check(not self.is_alive(), f"{self.name} did not stop")
        self.sock.close()
        if self.error is not None:
            raise CaseFailed(f"{self.name}: {self.error}")


def ws_open_on_worker(port, path, worker, rcvbuf=None, tries=64):
    """ws_open() until the hub's worker `worker` takes the connection (told
    by its websockets_open{worker=...} series going up; nothing else may
    open WebSockets meanwhile). Returns (sock, rest)."""
    for _ in range(tries):
        before = metrics_by_worker(port).get("ringcast_websockets_open", {})
        sock, rest = ws_open(port, path, rcvbuf=rcvbuf)
        after = metrics_by_worker(port).get("ringcast_websockets_open", {})
        if after.get(worker, 0) > before.get(worker, 0):
            return sock, rest
        sock.close()
    raise CaseFailed(f"{tries} connections, none on worker {worker}")
