#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The hub run as a service (issue 15): signals, drain, handover, listeners,
config file, logs, systemd, --version.

  sighup: three SIGHUPs to a hub without --config, three to one with it:
      it lives on, echoes after each, and logs event=reload each time.
  drain: SIGTERM with a WebSocket that never answers the close and an
      idle keep-alive HTTP connection: new connects are refused by the
      kernel within about half a second, /health on the kept connection
      answers 503 "draining\\n" with Connection: close, the WebSocket gets
      1001 "draining: reconnect", the hub exits 0 at --drain-timeout (not
      before). A second SIGTERM ends a long drain at once; a drain whose
      peers all answer ends at once too.
  handover: hub A on a fixed port, a population of clients echoing every
      50 ms and reconnecting at once on 1001; hub B joins the port with
      --reuse-port, A gets SIGTERM: every client is on B after one
      reconnect that succeeded first try, nothing refused, echoes kept
      flowing, A exited 0. Without --reuse-port a taken port is exit 1.
  ipv6 / listen: -H ::1; --listen [::1]:P --listen 127.0.0.1:P; --listen
      localhost:P (every address localhost resolves to here); --listen
      [::]:P dual-stack; bad --listen values exit 2 naming --listen.
  config: a file's port, max-message and allow-origin act as the flags;
      a flag wins over the file's scalar; bad files are FILE:LINE errors,
      exit 2; --check on dist/ringcast.conf; SIGHUP re-reads the file
      (allowed origins swap, max-message is a "needs a restart" warning,
      log-level debug shows debug lines).
  logs: --log-format json lines all parse, with time/level/event and
      refusals (403, 429) naming the peer; a flood of refusals with
      --log-rate 50 writes a bounded number of lines, the rest counted in
      log_suppressed lines that add up, as ringcast_log_suppressed_total
      says; text lines have the logfmt shape.
  systemd: a fake NOTIFY_SOCKET: READY=1 (MAINPID, STATUS) once the port
      accepts, WATCHDOG=1 every WATCHDOG_USEC/2, RELOADING=1 with
      MONOTONIC_USEC then READY=1 on SIGHUP, STOPPING=1 on SIGTERM; socket
      activation (LISTEN_FDS, LISTEN_PID) serves the passed socket and
      binds nothing else.
  version: --version has a version, commit and build line.

RC_SERVICE_SCALE (a factor, default 1; 0.3 in sanitizer builds) scales the
client population and the flood. Usage: test_service.py /path/to/ringcast
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402  (after the sys.path line)
    HOST, START_TIMEOUT, TIMEOUT, _ADMIN, CaseFailed, FrameReader, Hub,
    Suite, built_with_asan, check, check_eq, hub_binary, metrics,
    recv_http_response, register_admin, wait_until, ws_close_code, ws_frame,
    ws_open)

OP_TEXT, OP_CLOSE, OP_PING = 0x1, 0x8, 0x9
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

SLOW = 1.0      # timeout factor, 4 in sanitizer builds (main())
SCALE = 1.0     # population / flood factor (RC_SERVICE_SCALE)


def n_of(count, floor):
    return max(floor, int(count * SCALE))


# ---- processes ----

_LISTEN_ANY = re.compile(rb"listening on (\S+)")


class Svc(Hub):
    """A hub started with exactly args (no --port 0 added), an environment
    and fds of our choosing. port: the first address's port on the
    'listening on' line; admin_port as Hub's when admin is True."""

    def __init__(self, args, env=None, admin=False, wait=True, pass_fds=()):
        self.args = [str(a) for a in args]
        self.want_admin = admin
        self.admin_host = self.admin_port = None
        self.port = None
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.stopping = False
        self.death_reported = False
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err,
                                     env=env, pass_fds=pass_fds)
        if wait:
            try:
                self._wait_ready()
            except BaseException:
                self.proc.kill()
                self.proc.wait()
                raise

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT * SLOW
        while time.monotonic() < deadline:
            out = self.stdout_text()
            m = _LISTEN_ANY.search(out)
            a = _ADMIN.search(out)
            if m and (a or not self.want_admin):
                p = re.search(rb":(\d+),?$", m.group(1))
                self.port = int(p.group(1)) if p else None
                if a:
                    self.admin_host = a.group(1).decode().strip("[]")
                    self.admin_port = int(a.group(2))
                    if self.port:
                        register_admin(self.port, self.admin_port,
                                       self.admin_host)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise CaseFailed(f"{' '.join(self.args)}: not listening (exit "
                         f"{self.proc.poll()}); stdout "
                         f"{self.stdout_text()[-300:]!r}; stderr: "
                         f"{self.stderr_tail(600)}")


def stderr_all(hub):
    """All of a Hub's (or Svc's) stderr so far."""
    fd = hub._err.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


def svc(binary, *flags, admin=False, threads=1, **kw):
    return Svc([binary, "--threads", str(threads),
                "--admin-port", "0" if admin else "off", *flags],
               admin=admin, **kw)


def run_exit(args, timeout=None):
    """Run to its end: (exit code, stdout, stderr); fails the case if it
    keeps running."""
    timeout = timeout or 10 * SLOW
    try:
        r = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CaseFailed(f"{' '.join(map(str, args))}: still running after "
                         f"{timeout:.0f}s (expected it to exit)")
    return (r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"))


def free_port():
    """A TCP port free on every IPv4 address and, where there is IPv6, on
    every IPv6 one (bound once, dual-stack, then let go)."""
    if HAVE_V6:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", 0))
            return s.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def _have_v6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_V6 = _have_v6()


# ---- WebSocket and HTTP from any address ----

def _hostport(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def upgrade(host, port, path="/echo", headers=()):
    """One upgrade request on a new connection: (status, sock, rest). The
    socket stays open on a 101 (the caller closes it), else it is closed
    and None."""
    s = socket.create_connection((host, port), timeout=TIMEOUT * SLOW)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: {_hostport(host, port)}"
                   "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        status, _, _, rest = recv_http_response(s, head_only=True)
    except BaseException:
        s.close()
        raise
    if status != 101:
        s.close()
        return status, None, b""
    return status, s, rest


def ws_close_normally(sock, reader):
    """Close 1000 and wait for the hub's answer and EOF (bounded)."""
    sock.sendall(ws_frame(OP_CLOSE, struct.pack("!H", 1000)))
    for _ in range(8):
        f = reader.next(TIMEOUT * SLOW)
        if f is None or f[1] == OP_CLOSE:
            break
    sock.close()


def echo_ok(host, port, msg=b"hello", path="/echo", headers=()):
    """Open, one text message, its echo, close 1000. Fails the case if any
    step does not happen."""
    status, s, rest = upgrade(host, port, path, headers)
    check_eq(status, 101, f"upgrade on {_hostport(host, port)}{path}")
    try:
        s.sendall(ws_frame(OP_TEXT, msg))
        reader = FrameReader(s, rest)
        f = reader.next(TIMEOUT * SLOW)
        check(f is not None, f"{_hostport(host, port)}: closed instead of "
                             "echoing")
        check_eq((f[1], f[2]), (OP_TEXT, msg),
                 f"echo on {_hostport(host, port)}")
        ws_close_normally(s, reader)
    finally:
        s.close()


def send_size(host, port, size):
    """Send one text message of size bytes: 'echo' or the close code."""
    status, s, rest = upgrade(host, port)
    check_eq(status, 101, "upgrade for the size test")
    try:
        s.sendall(ws_frame(OP_TEXT, b"x" * size))
        f = FrameReader(s, rest).next(TIMEOUT * SLOW)
        check(f is not None, f"{size}-byte message: EOF without a close")
        if f[1] == OP_CLOSE:
            return ws_close_code(f[2])
        check_eq(len(f[2]), size, "echoed length")
        return "echo"
    finally:
        s.close()


def connect_refused(host, port):
    """True if a TCP connect to host:port is refused now. A reset during
    the connect (it raced the listener's close: a connection still in the
    handshake is reset then) is False, as an accepted one."""
    try:
        s = socket.create_connection((host, port), timeout=1.0)
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False
    s.close()
    return False


# ---- log lines ----

_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
_BARE = r"[A-Za-z0-9_.:/@+,\[\]-]+"
_QUOTED = r'"(?:[^"\\\x00-\x1f]|\\.)*"'
_KEY = r"[A-Za-z_][A-Za-z0-9_.-]*"
_LOGFMT = re.compile(rf"^time=(\S+) level=(error|warn|info|debug) "
                     rf"event=([a-z_]+)((?: {_KEY}=(?:{_BARE}|{_QUOTED}))*)$")
_PAIR = re.compile(rf" ({_KEY})=({_BARE}|{_QUOTED})")


def parse_text(line):
    """A logfmt line as a dict (quoted values unescaped roughly), or None
    if it does not have the shape."""
    m = _LOGFMT.match(line)
    if not m:
        return None
    d = {"time": m.group(1), "level": m.group(2), "event": m.group(3)}
    for k, v in _PAIR.findall(m.group(4)):
        if v.startswith('"'):
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        d[k] = v
    return d


def text_events(hub, event=None):
    out = []
    for line in stderr_all(hub).splitlines():
        d = parse_text(line)
        if d and (event is None or d["event"] == event):
            out.append(d)
    return out


def count_event(hub, event):
    return len(text_events(hub, event))


# ---- 1. SIGHUP ----

def case_sighup(binary):
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "hub.conf")
        with open(conf, "w") as f:
            f.write("# a config file for SIGHUP\nlog-level = info\n"
                    "max-message = 100000\n")
        for flags in ((), ("--config", conf)):
            with Hub(binary, *flags) as hub:
                what = "with --config" if flags else "without --config"
                echo_ok(HOST, hub.port, b"before")
                for i in range(3):
                    before = count_event(hub, "reload")
                    hub.proc.send_signal(signal.SIGHUP)
                    wait_until(lambda: count_event(hub, "reload") > before,
                               f"an event=reload line after SIGHUP {i + 1} "
                               f"{what} (stderr: {hub.stderr_tail(400)!r})",
                               timeout=TIMEOUT * SLOW)
                    check(hub.proc.poll() is None,
                          f"hub {what} exited ({hub.proc.poll()}) on SIGHUP "
                          f"{i + 1}: {hub.stderr_tail(400)}")
                    echo_ok(HOST, hub.port, b"after SIGHUP %d" % (i + 1))
                hub.check_clean_exit()


# ---- 2. drain ----

def _raw_ws(port):
    s, rest = ws_open(port)
    return s, FrameReader(s, rest)


def _keepalive_health(port):
    s = socket.create_connection((HOST, port), timeout=TIMEOUT * SLOW)
    s.sendall(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    status, headers, body, _ = recv_http_response(s)
    check_eq(status, 200, "GET /health before the drain")
    check(headers.get("connection", "").lower() != "close",
          "/health before the drain closed the connection: no keep-alive "
          "to test")
    return s


def _read_close(reader, what):
    """The next frame must be a close: (code, reason)."""
    for _ in range(16):
        f = reader.next(TIMEOUT * SLOW)
        check(f is not None, f"{what}: EOF without a close frame")
        if f[1] == OP_CLOSE:
            return ws_close_code(f[2]), f[2][2:]
        check(f[1] in (OP_PING, 0xA), f"{what}: frame {f[1]} before close")
    raise CaseFailed(f"{what}: no close frame in 16 frames")


def case_drain(binary):
    drain = 2.0
    with Hub(binary, "--drain-timeout", str(int(drain)), "--close-timeout",
             "20") as hub:
        port = hub.port
        ws, reader = _raw_ws(port)
        http = _keepalive_health(port)
        try:
            t0 = time.monotonic()
            hub.terminate()
            # New connections refused by the kernel, within ~0.5 s.
            refused_at = None
            deadline = t0 + 0.5 * SLOW + 0.1
            for _ in range(200):
                if connect_refused(HOST, port):
                    refused_at = time.monotonic() - t0
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            check(refused_at is not None,
                  f"a new connect was still accepted {0.5 * SLOW:.1f}s after "
                  "SIGTERM (expected ECONNREFUSED: listeners closed)")
            # /health on the kept-alive connection: 503 draining.
            http.sendall(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n"
                         .encode())
            status, headers, body, _ = recv_http_response(http)
            check_eq(status, 503, "/health on a kept-alive connection during "
                                  "the drain")
            check_eq(body, b"draining\n", "/health body during the drain")
            check_eq(headers.get("connection", "").lower(), "close",
                     "Connection header of the 503")
            code, reason = _read_close(reader, "WebSocket during the drain")
            check_eq((code, reason), (1001, b"draining: reconnect"),
                     "close frame of the drain")
            # The WebSocket never answers: the hub waits --drain-timeout.
            rc = hub.wait(6 * SLOW + drain)
            took = time.monotonic() - t0
        finally:
            ws.close()
            http.close()
        check(rc is not None, "hub still running 8s after SIGTERM")
        check_eq(rc, 0, f"exit code after the drain (stderr "
                        f"{hub.stderr_tail(400)})")
        check(drain - 0.5 <= took <= 6 * SLOW,
              f"hub exited {took:.2f}s after SIGTERM; expected at "
              f"--drain-timeout {drain:.0f}s (a WebSocket never answered)")
        check("event=drain" in stderr_all(hub),
              f"no event=drain line: {hub.stderr_tail(400)}")
        print(f"  refused after {refused_at:.3f}s, exit after {took:.2f}s")


def case_drain_second_signal(binary):
    with Hub(binary, "--drain-timeout", "30", "--close-timeout", "30") as hub:
        ws, reader = _raw_ws(hub.port)
        try:
            hub.terminate()
            code, _ = _read_close(reader, "WebSocket during the drain")
            check_eq(code, 1001, "close code of the drain")
            time.sleep(0.2)
            check(hub.proc.poll() is None, "hub exited before the WebSocket "
                  "left or --drain-timeout 30 (it never answered the close)")
            t1 = time.monotonic()
            hub.proc.send_signal(signal.SIGTERM)
            rc = hub.wait(10 * SLOW)
            took = time.monotonic() - t1
        finally:
            ws.close()
        check(rc is not None, "hub still running 10s after a second SIGTERM")
        check(rc >= 0, f"hub killed by signal {-rc} on the second SIGTERM "
                       "(expected it to stop itself)")
        check(took < 3.0 * SLOW, f"hub took {took:.2f}s to stop after the "
                                 "second SIGTERM (expected at once)")
        print(f"  exit {rc} {took:.2f}s after the second SIGTERM")


def case_drain_prompt(binary):
    with Hub(binary, "--drain-timeout", "30") as hub:
        socks = [_raw_ws(hub.port) for _ in range(5)]
        try:
            t0 = time.monotonic()
            hub.terminate()
            for i, (s, reader) in enumerate(socks):
                code, payload = _read_close(reader, f"WebSocket {i}")
                check_eq(code, 1001, f"WebSocket {i} close code")
                s.sendall(ws_frame(OP_CLOSE, struct.pack("!H", 1001)))
            rc = hub.wait(10 * SLOW)
            took = time.monotonic() - t0
        finally:
            for s, _ in socks:
                s.close()
        check_eq(rc, 0, "exit code")
        check(took < 2.0 * SLOW,
              f"hub took {took:.2f}s to exit though every peer answered the "
              "close (--drain-timeout 30)")
        print(f"  exit after {took:.2f}s")


def case_stop_idle_keepalive(binary):
    """Idle keep-alive connections (a metrics scraper's on the admin
    listener, a /health checker's on the public one) do not hold up the
    exit: no WebSocket is open, so the drain ends at once, and the hub
    closes idle HTTP connections rather than wait --close-timeout for
    peers that notice a FIN only when they next ask."""
    hub = svc(binary, "--port", "0", "--close-timeout", "20",
              "--drain-timeout", "20", admin=True, threads=2)
    socks = []
    try:
        socks = [_keepalive_health(hub.admin_port),
                 _keepalive_health(hub.port)]
        t0 = time.monotonic()
        hub.terminate()
        rc = hub.wait(30 * SLOW)
        took = time.monotonic() - t0
        ends = []
        for s in socks:
            s.settimeout(2 * SLOW)
            try:
                ends.append(s.recv(1))
            except OSError as e:
                ends.append(repr(e))
    finally:
        for s in socks:
            s.close()
        hub.stop()
    check_eq(rc, 0, "exit code")
    check(took < 1.5 * SLOW,
          f"hub took {took:.2f}s to exit with two idle keep-alive "
          "connections open (expected at once; --close-timeout 20)")
    check_eq(ends, [b"", b""], "what the idle connections read after the "
                               "exit (EOF)")
    print(f"  exit after {took:.2f}s")


def case_idle_sleeps(binary):
    """An idle hub (history, presence, the admin listener, 2 workers: the
    defaults) sleeps: its threads wait on timers, none spins."""
    hub = svc(binary, "--port", "0", admin=True, threads=2)
    try:
        def cpu():
            with open(f"/proc/{hub.proc.pid}/stat") as f:
                v = f.read().rsplit(")", 1)[1].split()
            return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
        time.sleep(0.3)
        c0, t0 = cpu(), time.monotonic()
        time.sleep(2.0)
        used = (cpu() - c0) / (time.monotonic() - t0)
    finally:
        hub.stop()
    check(used < 0.1, f"an idle hub used {used:.2f} of a CPU over 2 s")
    print(f"  {used * 100:.1f} % of a CPU")


# ---- 3. handover ----

class Looper(threading.Thread):
    """A client that echoes a message every PERIOD seconds on /echo and, on
    close 1001, answers it and reconnects at once, once (a failure to
    reconnect is a failure, not retried)."""
    PERIOD = 0.05

    def __init__(self, idx, port, halt):
        super().__init__(daemon=True, name=f"client {idx}")
        self.idx, self.port, self.halt = idx, port, halt
        self.echoes = [0]          # echoes per connection
        self.closes = []           # close codes the hub sent
        self.errors = []           # connection errors (each a failure)
        self.refused = 0
        self.max_gap = 0.0
        self.last = None
        self.sock = self.reader = None

    def _connect(self):
        try:
            self.sock, rest = ws_open(self.port, timeout=TIMEOUT * SLOW)
        except ConnectionRefusedError:
            self.refused += 1
            raise
        self.reader = FrameReader(self.sock, rest)

    def run(self):
        try:
            self._connect()
        except Exception as e:  # noqa: BLE001 -- counted
            self.errors.append(f"first connect: {e!r}")
            return
        seq = 0
        try:
            while not self.halt.is_set():
                t = time.monotonic()
                if not self._one(b"%d:%d" % (self.idx, seq)):
                    return
                seq += 1
                left = self.PERIOD - (time.monotonic() - t)
                if left > 0:
                    self.halt.wait(left)
        except Exception as e:  # noqa: BLE001 -- counted
            self.errors.append(f"after {sum(self.echoes)} echoes: {e!r}")
        finally:
            if self.sock:
                self.sock.close()

    def _one(self, payload):
        """Send payload and wait for its echo; on a 1001 reconnect. False
        ends the client (an error was recorded)."""
        self.sock.sendall(ws_frame(OP_TEXT, payload))
        for _ in range(64):
            f = self.reader.next(2.0 * SLOW)
            if f is None:
                self.errors.append(f"EOF without a close after "
                                   f"{sum(self.echoes)} echoes")
                return False
            op, data = f[1], f[2]
            if op == OP_TEXT and data == payload:
                now = time.monotonic()
                if self.last is not None:
                    self.max_gap = max(self.max_gap, now - self.last)
                self.last = now
                self.echoes[-1] += 1
                return True
            if op == OP_PING:
                self.sock.sendall(ws_frame(0xA, data))
                continue
            if op == OP_CLOSE:
                return self._reconnect(ws_close_code(data))
            if op != 0xA:
                self.errors.append(f"unexpected frame {op} {data[:40]!r}")
                return False
        self.errors.append("64 frames without the echo")
        return False

    def _reconnect(self, code):
        self.closes.append(code)
        if code != 1001:
            self.errors.append(f"close {code}, expected 1001")
            return False
        try:
            self.sock.sendall(ws_frame(OP_CLOSE, struct.pack("!H", 1001)))
        except OSError:
            pass
        self.sock.close()
        try:
            self._connect()
        except Exception as e:  # noqa: BLE001 -- counted
            self.errors.append(f"reconnect: {e!r}")
            return False
        self.echoes.append(0)
        return True


def case_handover(binary):
    n = n_of(50, 10)
    port = free_port()
    halt = threading.Event()
    clients = []
    a = svc(binary, "--port", port, admin=True, threads=2)
    try:
        clients = [Looper(i, port, halt) for i in range(n)]
        for c in clients:
            c.start()
        wait_until(lambda: all(c.echoes[0] >= 3 or c.errors
                               for c in clients),
                   "3 echoes on every client (hub A)", timeout=10 * SLOW)
        errors = [f"{c.name}: {e}" for c in clients for e in c.errors]
        check_eq(errors, [], "connection errors on hub A, before the "
                             "handover")
        check_eq(metrics(a.port).get("ringcast_websockets_open"), float(n),
                 "WebSockets open on hub A")
        with svc(binary, "--port", port, "--reuse-port", admin=True,
                 threads=2) as b:
            check_eq(metrics(b.port).get("ringcast_websockets_open"), 0.0,
                     "WebSockets on hub B before the handover")
            t0 = time.monotonic()
            a.terminate()
            rc_a = a.wait(10 * SLOW)
            a_took = time.monotonic() - t0
            left = 2.0 - (time.monotonic() - t0)
            if left > 0:
                time.sleep(left)
            mark = [sum(c.echoes) for c in clients]
            time.sleep(0.5)
            flowing = [sum(c.echoes) - m for c, m in zip(clients, mark)]
            on_b = metrics(b.port).get("ringcast_websockets_open")
            halt.set()
            for c in clients:
                c.join(5 * SLOW)
            check(not any(c.is_alive() for c in clients),
                  "client threads did not stop")
            errors = [f"{c.name}: {e}" for c in clients for e in c.errors]
            refused = sum(c.refused for c in clients)
            check_eq(refused, 0, f"connections refused ({errors[:3]})")
            check_eq(errors, [], "connection errors")
            check_eq(rc_a, 0, f"hub A exit code (stderr "
                              f"{a.stderr_tail(300)})")
            reconn = [len(c.echoes) - 1 for c in clients]
            check_eq(reconn, [1] * n, "reconnects per client (each once, "
                                      "after A's 1001)")
            check_eq(on_b, float(n), "WebSockets open on hub B after the "
                                     "handover")
            after = [c.echoes[1] for c in clients]
            slow = [i for i, (e, f) in enumerate(zip(after, flowing))
                    if e < max(3, int(10 / SLOW)) or f < 1]
            check(not slow, f"echoes did not keep flowing on B for clients "
                            f"{slow[:5]}: echoes after the reconnect "
                            f"{[after[i] for i in slow[:5]]}, in the last "
                            f"0.5 s {[flowing[i] for i in slow[:5]]}")
            gap = max(c.max_gap for c in clients)
            check(gap < 1.0 * SLOW, f"an echo gap of {gap:.2f}s across the "
                                    "handover")
            b.check_clean_exit()
        print(f"  {n} clients, A exited {a_took:.2f}s after SIGTERM, "
              f"{min(after)}..{max(after)} echoes each on B, largest echo "
              f"gap {gap * 1000:.0f} ms")
    finally:
        halt.set()
        a.__exit__(None, None, None)


def case_port_taken(binary):
    port = free_port()
    with svc(binary, "--port", port):
        rc, out, err = run_exit([binary, "--threads", "1", "--admin-port",
                                 "off", "--port", port])
        check_eq(rc, 1, f"second hub on a taken port without --reuse-port: "
                        f"exit code (stdout {out[-200:]!r}, stderr "
                        f"{err[-200:]!r})")
        check(err.strip(), "no message on stderr for the taken port")
        print(f"  {err.strip().splitlines()[-1][:160]}")


# ---- 4. IPv6 and --listen ----

def _v6_or_skip(what):
    if not HAVE_V6:
        print(f"  SKIP {what}: no ::1 on this machine", flush=True)
    return HAVE_V6


def case_h_v6(binary):
    if not _v6_or_skip("-H ::1"):
        return
    port = free_port()
    with svc(binary, "-H", "::1", "--port", port) as hub:
        echo_ok("::1", port)
        check(connect_refused(HOST, port), "-H ::1 also serves 127.0.0.1")
        hub.check_clean_exit()


def case_listen_two(binary):
    port = free_port()
    if not _v6_or_skip("--listen [::1]:P --listen 127.0.0.1:P"):
        return
    with svc(binary, "--listen", f"[::1]:{port}", "--listen",
             f"127.0.0.1:{port}") as hub:
        echo_ok("::1", port)
        echo_ok(HOST, port)
        hub.check_clean_exit()


def case_listen_localhost(binary):
    port = free_port()
    addrs = sorted({ai[4][0] for ai in socket.getaddrinfo(
        "localhost", port, type=socket.SOCK_STREAM)})
    check("127.0.0.1" in addrs, f"localhost resolves to {addrs} here")
    if not HAVE_V6:
        addrs = [a for a in addrs if ":" not in a]
    with svc(binary, "--listen", f"localhost:{port}") as hub:
        for a in addrs:
            echo_ok(a, port)
        hub.check_clean_exit()
    print(f"  localhost here: {', '.join(addrs)}")


def case_listen_dual(binary):
    if not _v6_or_skip("--listen [::]:P"):
        return
    port = free_port()
    with svc(binary, "--listen", f"[::]:{port}") as hub:
        echo_ok(HOST, port)
        echo_ok("::1", port)
        hub.check_clean_exit()


def case_listen_bad(binary):
    for bad in ("nohost.invalid:1", "1.2.3.4:99999", "[::1"):
        rc, out, err = run_exit([binary, "--threads", "1", "--admin-port",
                                 "off", "--listen", bad], timeout=30 * SLOW)
        check_eq(rc, 2, f"--listen {bad}: exit code (stderr {err[-200:]!r})")
        check("--listen" in err, f"--listen {bad}: the message does not name "
                                 f"--listen: {err[-200:]!r}")


# ---- 5. config file ----

def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _origin(port, origin):
    status, s, _ = upgrade(HOST, port, "/echo", [("Origin", origin)])
    if s:
        s.close()
    return status


def case_config_flags(binary):
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "ringcast.conf")
        port = free_port()
        _write(conf, f"# what the flags would set\nport = {port}\n"
                     "max-message = 1000\nallow-origin = https://a.example\n")
        with svc(binary, "--config", conf) as hub:
            check_eq(hub.port, port, "port from the file")
            check_eq(send_size(HOST, port, 1000), "echo", "1000 bytes")
            check_eq(send_size(HOST, port, 1001), 1009, "1001 bytes: close")
            check_eq(_origin(port, "https://a.example"), 101,
                     "Origin allowed by the file")
            check_eq(_origin(port, "https://b.example"), 403,
                     "Origin not in the file")
            hub.check_clean_exit()
        # The command line wins over the file's scalars.
        other = free_port()
        with svc(binary, "--config", conf, "--port", other,
                 "--max-message", "2000") as hub:
            check_eq(hub.port, other, "--port over the file's port")
            check(connect_refused(HOST, port),
                  "the file's port is listened on though --port overrode it")
            check_eq(send_size(HOST, other, 1001), "echo",
                     "1001 bytes with --max-message 2000 over the file's 1000")
            hub.check_clean_exit()


def case_config_bad(binary):
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "bad.conf")
        for text, line, what in (
                ("port = 0\n# fine so far\nno-such-key = 1\n", 3,
                 "unknown key"),
                ("port = 0\nmax-message =\n", 2, "missing value"),
                ("threads = 1\nport\n", 2, "key without its value")):
            _write(conf, text)
            rc, out, err = run_exit([binary, "--admin-port", "off",
                                     "--config", conf])
            check_eq(rc, 2, f"{what}: exit code (stderr {err[-200:]!r})")
            check(f"{conf}:{line}:" in err,
                  f"{what}: no '{conf}:{line}:' in the message: "
                  f"{err[-200:]!r}")


def case_config_dist(binary):
    path = os.path.join(REPO, "dist", "ringcast.conf")
    check(os.path.exists(path), f"{path} is missing (the example config "
                                "file of the repo)")
    rc, out, err = run_exit([binary, "--check", "--config", path])
    check_eq(rc, 0, f"--check --config dist/ringcast.conf: exit code "
                    f"(stdout {out[-200:]!r}, stderr {err[-300:]!r})")
    check("configuration ok" in out + err,
          f"no 'configuration ok' (stdout {out[-200:]!r})")


def case_config_reload(binary):
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "ringcast.conf")
        port = free_port()
        base = f"port = {port}\nlog-level = info\n"
        _write(conf, base + "max-message = 1000\n"
                            "allow-origin = https://a.example\n")
        with svc(binary, "--config", conf) as hub:
            check_eq(_origin(port, "https://a.example"), 101, "a before")
            check_eq(_origin(port, "https://b.example"), 403, "b before")
            echo_ok(HOST, port, b"normal close at info")
            time.sleep(0.2)
            debug = [d for d in text_events(hub) if d["level"] == "debug"]
            check_eq(debug, [], "debug lines at log-level info")
            _write(conf, f"port = {port}\nlog-level = debug\n"
                         "max-message = 2000\n"
                         "allow-origin = https://b.example\n")
            before = count_event(hub, "reload")
            hub.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: count_event(hub, "reload") > before,
                       "event=reload after SIGHUP", timeout=TIMEOUT * SLOW)
            time.sleep(0.2)     # every part of the reload logged
            check_eq(_origin(port, "https://b.example"), 101,
                     "b after the reload")
            check_eq(_origin(port, "https://a.example"), 403,
                     "a after the reload")
            warn = [line for line in stderr_all(hub).splitlines()
                    if "level=warn" in line and "max-message" in line]
            check(warn, f"no warning naming max-message (needs a restart) "
                        f"after the reload: {hub.stderr_tail(600)}")
            check_eq(send_size(HOST, port, 1001), 1009,
                     "max-message after the reload (needs a restart)")
            echo_ok(HOST, port, b"normal close at debug")
            wait_until(lambda: [d for d in text_events(hub)
                                if d["level"] == "debug"],
                       f"a level=debug line after log-level = debug and a "
                       f"normal close (stderr {hub.stderr_tail(400)!r})",
                       timeout=TIMEOUT * SLOW)
            hub.check_clean_exit()
        print(f"  warning: {warn[0][:160]}")


# ---- 6. logs ----

def _hold(port, n):
    """n open WebSockets; a 429 (a connection just closed still counted
    against --max-conns-per-ip) is tried again, bounded."""
    held = []
    try:
        for _ in range(100):
            if len(held) == n:
                return held
            try:
                held.append(ws_open(port)[0])
            except CaseFailed as e:
                if "429" not in str(e):
                    raise
                time.sleep(0.05)
    except BaseException:
        for h in held:
            h.close()
        raise
    for h in held:
        h.close()
    raise CaseFailed(f"could not hold {n} WebSockets (429 for 5 s)")


def case_logs_json(binary):
    with Hub(binary, "--log-format", "json", "--max-conns-per-ip", "2",
             "--conn-rate-per-ip", "0") as hub:
        port = hub.port
        check_eq(_origin(port, "https://evil.example"), 403, "foreign Origin")
        held = _hold(port, 2)
        try:
            s = socket.create_connection((HOST, port), timeout=TIMEOUT)
            s.settimeout(TIMEOUT * SLOW)
            try:
                head = s.recv(200)
            except ConnectionResetError:
                head = b""
            s.close()
            check(head.startswith(b"HTTP/1.1 429"),
                  f"third connection with --max-conns-per-ip 2: {head!r}")
        finally:
            for h in held:
                h.close()
        hub.check_clean_exit()
        lines = stderr_all(hub).splitlines()
    check(lines, "no stderr lines")
    recs = []
    for i, line in enumerate(lines):
        try:
            d = json.loads(line)
        except ValueError:
            raise CaseFailed(f"stderr line {i + 1} is not JSON: "
                             f"{line[:200]!r}")
        check(isinstance(d, dict), f"line {i + 1} is not an object")
        check(isinstance(d.get("time"), str) and _TIME.match(d["time"]),
              f"line {i + 1}: time {d.get('time')!r}")
        check(d.get("level") in ("error", "warn", "info", "debug"),
              f"line {i + 1}: level {d.get('level')!r}")
        check(isinstance(d.get("event"), str) and d["event"],
              f"line {i + 1}: event {d.get('event')!r}")
        recs.append(d)
    events = [d["event"] for d in recs]
    check("start" in events, f"no start event: {events}")
    for st in (403, 429):
        hit = [d for d in recs if d["event"] == "refused"
               and d.get("status") == st]
        check(hit, f"no event=refused with status {st} (a number): "
                   f"{[d for d in recs if d['event'] == 'refused']}")
        check_eq(hit[0].get("peer"), "127.0.0.1", f"peer of the {st} refusal")


def case_logs_flood(binary):
    n = n_of(2000, 300)
    rate = 50
    with Hub(binary, "--log-rate", str(rate), "--max-conns-per-ip", "1",
             "--conn-rate-per-ip", "0") as hub:
        port = hub.port
        held = _hold(port, 1)
        try:
            base = metrics(port).get("ringcast_ip_refused_total", 0.0)
            t0 = time.monotonic()
            for i in range(n):
                try:
                    socket.create_connection((HOST, port), timeout=5).close()
                except OSError as e:
                    raise CaseFailed(f"connect {i} of the flood: {e!r}")
            sent = time.monotonic() - t0
            wait_until(lambda: metrics(port).get("ringcast_ip_refused_total",
                                                 0) - base >= n,
                       f"{n} refusals counted", timeout=20 * SLOW,
                       interval=0.05)
            took = time.monotonic() - t0
            # A second for the bucket to fill again: the stop's own lines
            # (some are rate-limited) are then not dropped, and the counts
            # read now are the final ones.
            time.sleep(1.2)
            m = metrics(port)
            refusals = int(m["ringcast_ip_refused_total"] - base)
            check("ringcast_log_suppressed_total" in m,
                  "no ringcast_log_suppressed_total in /metrics")
            check("ringcast_log_lines_total" in m,
                  "no ringcast_log_lines_total in /metrics")
            suppressed_metric = int(m["ringcast_log_suppressed_total"])
        finally:
            for h in held:
                h.close()
        hub.check_clean_exit()
        lines = stderr_all(hub).splitlines()
    bad = [line for line in lines if not parse_text(line)]
    check_eq(bad, [], "stderr lines without the logfmt shape")
    recs = [parse_text(line) for line in lines]
    refused = [d for d in recs if d["event"] == "refused"]
    supp = [d for d in recs if d["event"] == "log_suppressed"]
    supp_sum = sum(int(d.get("count", "0")) for d in supp)
    check_eq(refusals, n, "refusals counted (ip_refused_total)")
    check(refused and all(d.get("peer") == "127.0.0.1" and
                          d.get("status") == "429" for d in refused),
          f"refused lines without peer=127.0.0.1 status=429: {refused[:2]}")
    bound = rate * (took + 1) + 5
    check(len(refused) <= bound,
          f"{len(refused)} refused lines for {n} refusals in {took:.2f}s "
          f"with --log-rate {rate} (at most {bound:.0f})")
    check(supp, "no log_suppressed line")
    check_eq(len(refused) + supp_sum, refusals,
             f"refused lines ({len(refused)}) + log_suppressed counts "
             f"({[d.get('count') for d in supp]})")
    check_eq(supp_sum, suppressed_metric,
             "sum of log_suppressed counts vs ringcast_log_suppressed_total")
    print(f"  {n} refusals ({sent:.2f}s to send, {took:.2f}s counted): "
          f"{len(refused)} lines, {len(supp)} log_suppressed lines "
          f"({supp_sum} dropped)")


# ---- 7. systemd ----

class Notify(threading.Thread):
    """A fake NOTIFY_SOCKET: records (monotonic time, datagram text)."""

    def __init__(self, path):
        super().__init__(daemon=True, name="notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.msgs = []
        self.halt = threading.Event()
        self.on_ready = None       # called with the text on a READY=1

    def run(self):
        while not self.halt.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode(errors="replace")
            if "READY=1" in text.split("\n") and self.on_ready:
                self.on_ready(text)
            self.msgs.append((time.monotonic(), text))

    def stop(self):
        self.halt.set()
        self.join(2)
        self.sock.close()

    def having(self, field, since=0.0):
        return [(t, m) for t, m in list(self.msgs)
                if t >= since and field in m.split("\n")]

    def fields(self, since=0.0):
        return [f for t, m in list(self.msgs) if t >= since
                for f in m.split("\n")]


def case_systemd_notify(binary):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "notify")
        nt = Notify(path)
        port = free_port()
        accepts = []

        def on_ready(_text):
            accepts.append(not connect_refused(HOST, port))
        nt.on_ready = on_ready
        nt.start()
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
        env.pop("WATCHDOG_PID", None)
        try:
            with svc(binary, "--port", port, env=env) as hub:
                wait_until(lambda: nt.having("READY=1"), "READY=1",
                           timeout=TIMEOUT * SLOW)
                check_eq(accepts[:1], [True], "port accepting when READY=1 "
                                              "arrived")
                ready_t = nt.having("READY=1")[0][0]
                upto = [f for t, m in nt.msgs if t <= ready_t
                        for f in m.split("\n")]
                check(f"MAINPID={hub.proc.pid}" in upto,
                      f"no MAINPID={hub.proc.pid} with READY=1: {upto}")
                check(any(f.startswith("STATUS=") for f in upto),
                      f"no STATUS= with READY=1: {upto}")
                t1 = time.monotonic()
                time.sleep(1.0)
                dogs = len(nt.having("WATCHDOG=1", since=t1))
                check(dogs >= 3, f"{dogs} WATCHDOG=1 in 1 s with "
                                 "WATCHDOG_USEC=200000 (expected ~10)")
                t2 = time.monotonic()
                now_us = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
                hub.proc.send_signal(signal.SIGHUP)

                def reloaded():
                    rl = nt.having("RELOADING=1", since=t2)
                    return rl and [x for x in nt.having("READY=1", since=t2)
                                   if x[0] >= rl[0][0]]
                wait_until(reloaded, "RELOADING=1 then READY=1 after SIGHUP "
                           f"(got {nt.fields(since=t2)})",
                           timeout=TIMEOUT * SLOW)
                rl = nt.having("RELOADING=1", since=t2)[0][1].split("\n")
                mono = [f for f in rl if f.startswith("MONOTONIC_USEC=")]
                check(mono, f"RELOADING=1 without MONOTONIC_USEC=: {rl}")
                usec = int(mono[0].split("=", 1)[1])
                check(now_us - 1e6 <= usec <= now_us + 5e6 * SLOW,
                      f"MONOTONIC_USEC={usec}, the clock said {now_us:.0f} "
                      "at the SIGHUP")
                t3 = time.monotonic()
                hub.terminate()
                rc = hub.wait()
                check_eq(rc, 0, "exit code")
                time.sleep(0.1)
                check(nt.having("STOPPING=1", since=t3),
                      f"no STOPPING=1 after SIGTERM: {nt.fields(since=t3)}")
            print(f"  {dogs} watchdog pings in 1 s; READY with "
                  f"{[f for f in upto if f][-3:]}")
        finally:
            nt.stop()


def _listening_inodes():
    """{socket inode: port} of every TCP socket in LISTEN state here."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A":
                        out[p[9]] = int(p[1].rsplit(":", 1)[1], 16)
        except OSError:
            pass
    return out


def _fd_inodes(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", t)
        if m:
            out.add(m.group(1))
    return out


def case_socket_activation(binary):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind((HOST, 0))
    lsock.listen(128)
    port = lsock.getsockname()[1]
    other = free_port()
    fd = lsock.fileno()
    # A wrapper that puts the socket on fd 3 and sets LISTEN_PID to its own
    # pid, which exec keeps: what systemd does before it runs the hub.
    wrap = ("import os, sys\n"
            "fd = int(sys.argv[1])\n"
            "if fd != 3:\n"
            "    os.dup2(fd, 3)\n"
            "    os.close(fd)\n"
            "os.set_inheritable(3, True)\n"
            "os.environ['LISTEN_PID'] = str(os.getpid())\n"
            "os.environ['LISTEN_FDS'] = '1'\n"
            "os.execv(sys.argv[2], sys.argv[2:])\n")
    env = dict(os.environ)
    for k in ("LISTEN_FDNAMES", "LISTEN_PID", "LISTEN_FDS", "NOTIFY_SOCKET"):
        env.pop(k, None)
    args = [sys.executable, "-c", wrap, str(fd), binary, "--threads", "1",
            "--admin-port", "off", "--port", str(other)]
    try:
        hub = Svc(args, env=env, pass_fds=(fd,))
    finally:
        lsock.close()       # the hub holds the only copy now
    with hub:
        echo_ok(HOST, port, b"through the passed socket")
        check(connect_refused(HOST, other),
              f"--port {other} is listened on though a socket was passed")
        mine = _fd_inodes(hub.proc.pid)
        listening = _listening_inodes()
        ports = sorted({listening[i] for i in mine if i in listening})
        if listening:     # /proc/net/tcp readable here
            check_eq(ports, [port], "ports of the hub's listening sockets")
        else:
            print("  SKIP the listening-socket census: no /proc/net/tcp")
        hub.check_clean_exit()


# ---- 8. --version ----

def case_version(binary):
    rc, out, err = run_exit([binary, "--version"])
    check_eq(rc, 0, "--version exit code")
    lines = out.splitlines()
    check(lines and re.match(r"^ringcast \d+\.\d+\.\d+", lines[0]),
          f"first line {lines[:1]}")
    check(any(re.match(r"^commit: \S+", ln) for ln in lines),
          f"no 'commit: ...' line: {out[:300]!r}")
    check(any(re.match(r"^build: \S+", ln) for ln in lines),
          f"no 'build: ...' line: {out[:300]!r}")


def main():
    global SLOW, SCALE
    binary = hub_binary()
    san = built_with_asan(binary)
    SLOW = 4.0 if san else 1.0
    SCALE = float(os.environ.get("RC_SERVICE_SCALE", "0.3" if san else "1"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    suite = Suite()
    t0 = time.monotonic()
    suite.case("SIGHUP x3 without and with --config: hub lives, echoes, logs "
               "event=reload each time", case_sighup, binary)
    suite.case("drain: listeners closed (ECONNREFUSED), /health 503 on a "
               "kept-alive connection, 1001 'draining: reconnect', exit 0 at "
               "--drain-timeout", case_drain, binary)
    suite.case("drain: a second SIGTERM stops at once",
               case_drain_second_signal, binary)
    suite.case("drain: peers that answer the close end it at once",
               case_drain_prompt, binary)
    suite.case("an idle hub sleeps (no thread spins)", case_idle_sleeps,
               binary)
    suite.case("stop: idle keep-alive connections on the admin and public "
               "listeners do not delay the exit", case_stop_idle_keepalive,
               binary)
    suite.case(f"handover: {n_of(50, 10)} reconnecting clients move from A "
               "to B (--reuse-port) with no refused or failed connection",
               case_handover, binary)
    suite.case("a taken port without --reuse-port: exit 1 with a message",
               case_port_taken, binary)
    suite.case("-H ::1 serves ws://[::1]:P", case_h_v6, binary)
    suite.case("--listen [::1]:P --listen 127.0.0.1:P serves both",
               case_listen_two, binary)
    suite.case("--listen localhost:P serves what localhost resolves to",
               case_listen_localhost, binary)
    suite.case("--listen [::]:P is dual-stack", case_listen_dual, binary)
    suite.case("bad --listen values: exit 2 naming --listen",
               case_listen_bad, binary)
    suite.case("config file: port, max-message, allow-origin as the flags; "
               "flags win", case_config_flags, binary)
    suite.case("config file errors: exit 2 with FILE:LINE", case_config_bad,
               binary)
    suite.case("--check --config dist/ringcast.conf: exit 0",
               case_config_dist, binary)
    suite.case("SIGHUP reloads the config file: origins swap, max-message "
               "warns, log-level debug", case_config_reload, binary)
    suite.case("--log-format json: every line parses; refusals 403/429 with "
               "peer", case_logs_json, binary)
    suite.case(f"a flood of {n_of(2000, 300)} refusals with --log-rate 50: "
               "bounded lines, log_suppressed adds up, logfmt shape",
               case_logs_flood, binary)
    suite.case("systemd notify: READY (MAINPID, STATUS) once accepting, "
               "WATCHDOG, RELOADING+MONOTONIC_USEC then READY, STOPPING",
               case_systemd_notify, binary)
    suite.case("socket activation: LISTEN_FDS=1 serves fd 3, binds nothing "
               "else", case_socket_activation, binary)
    suite.case("--version: version, commit and build lines", case_version,
               binary)
    print(f"# {time.monotonic() - t0:.1f}s", flush=True)
    suite.finish()


if __name__ == "__main__":
    main()
