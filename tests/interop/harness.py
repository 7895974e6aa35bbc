# SPDX-License-Identifier: MIT
"""Shared helpers for the Python interop tests.

Hub     -- starts the built ringcast on a free port, stops it with SIGTERM
           and checks that it exits 0.
Suite   -- runs named cases, prints one line each and the closing
           "N passed, M failed" line, and gives the exit status.
http_get / metrics -- one plain HTTP request, for /health and /metrics.
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

_LISTENING = re.compile(rb"listening on [0-9.]+:(\d+)")


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
        self.args = [binary, "--port", "0", "--threads", str(threads), *flags]
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

    def _wait_port(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._out.seek(0)
            m = _LISTENING.search(self._out.read())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{' '.join(self.args)}: no 'listening on' line "
                           f"(exit {self.proc.poll()}); stderr: "
                           f"{self.stderr_tail()}")

    def url(self, path="/echo"):
        return f"ws://{HOST}:{self.port}{path}"

    def stderr_tail(self, n=2000):
        self._err.seek(0)
        return self._err.read()[-n:].decode(errors="replace")

    def terminate(self):
        """SIGTERM, without waiting."""
        self.stopping = True
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


def metrics(port):
    """The hub's /metrics as {name: value} (samples without labels)."""
    status, _, body = http_get(port, "/metrics")
    check_eq(status, 200, "GET /metrics status")
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
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
