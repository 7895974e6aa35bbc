// SPDX-License-Identifier: MIT
// What the node interop tests (test_node.js, test_node_tls.js,
// test_node_deflate.js) share: loading ws (exit 77 without it), the
// assertions, a timeout for any wait, the hub process and the runner that
// counts the cases and names a hub that died.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');

const HOST = '127.0.0.1';

// A sanitizer build of the hub (its path is argv[2]) runs several times
// slower, and under ThreadSanitizer two tests run at once: a 1 MiB wss
// echo took over 5 s there once. Waits scale by 4 for such a build.
function sanitized(bin) {
  try {
    const data = fs.readFileSync(bin);
    return data.includes('__asan_init') || data.includes('__tsan_init');
  } catch (e) {
    return false;
  }
}
const SLOW = sanitized(process.argv[2]) ? 4 : 1;
const TIMEOUT_MS = 5000 * SLOW;       // every wait for the hub gives up after this
const STOP_TIMEOUT_MS = 10000 * SLOW;

// node's `ws` (Debian node-ws 8.x); without it the test is skipped.
function requireWs() {
  try {
    return require('ws');
  } catch (e) {
    console.log('SKIP: node ws is not installed (NODE_PATH=/usr/share/nodejs?)');
    process.exit(77);
  }
}

// ---- small helpers ----

class CaseFailed extends Error {}

function check(cond, msg) {
  if (!cond) throw new CaseFailed(msg);
}

function short(v) {
  const s = Buffer.isBuffer(v) ? `<Buffer ${v.length} bytes>` : JSON.stringify(v);
  return s !== undefined && s.length > 120 ? `${s.slice(0, 120)}... (${v.length} long)` : s;
}

function checkEq(got, want, what) {
  const same = Buffer.isBuffer(want) ? Buffer.isBuffer(got) && got.equals(want) : got === want;
  check(same, `${what}: expected ${short(want)}, got ${short(got)}`);
}

// Rejects with a clear message if promise has not settled within ms.
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CaseFailed(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// n bytes of UTF-8 text with multi-byte characters where they fit.
function textOf(n) {
  const buf = Buffer.from('ringcast é€😀 '.repeat(Math.floor(n / 10) + 1)).subarray(0, n);
  let s = buf.toString('utf8');
  s = s.replace(/\ufffd+$/, ''); // a code point cut in two decodes as U+FFFD
  return s + 'x'.repeat(n - Buffer.byteLength(s));
}

// ---- a ws client's handshake ----

// Resolves to make() once ws is open (make runs in the 'open' event, before
// any message can arrive); rejects on an error, on a handshake answered
// with another status than 101, or after TIMEOUT_MS, terminating ws.
function opening(ws, url, make) {
  return within(new Promise((resolve, reject) => {
    ws.once('open', () => resolve(make()));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) =>
      reject(new CaseFailed(`handshake answered HTTP ${res.statusCode}`)));
  }), TIMEOUT_MS, `open ${url}`).catch((e) => { ws.terminate(); throw e; });
}

// Await the client open resolves to, run fn(client), and always let it go.
async function using(open, fn) {
  const c = await open;
  try {
    return await fn(c);
  } finally {
    c.terminate();
  }
}

// ---- the hub process ----

class Hub {
  constructor(binary, flags) {
    // The admin listener (/metrics) on any free port: its default, 9090,
    // is one port for every hub that runs at once.
    this.proc = spawn(binary, ['--port', '0', '--threads', '2', '--admin-port', '0', ...flags],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    // With a certificate, url() is wss:// on the TLS listener (--tls-port,
    // or the main port without it).
    this.tls = flags.includes('--tls-cert');
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000); });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve(sig || code)));
  }

  static async start(binary, ...flags) {
    const hub = new Hub(binary, flags);
    let out = '';
    const lines = new Promise((resolve, reject) => {
      hub.proc.stdout.on('data', (d) => {
        out += d;
        if (/ringcast: admin on .*\n/.test(out)) resolve(out);
      });
      hub.exited.then((code) => reject(new Error(`hub exited ${code} before listening: ${hub.stderr}`)));
    });
    try {
      const l = await within(lines, 10000, 'the hub\'s "listening on" and "admin on" lines');
      hub.port = Number(/listening on [0-9.]+:(\d+)/.exec(l)[1]);
      const m = /tls on [0-9.]+:(\d+)/.exec(l);
      hub.tlsPort = m ? Number(m[1]) : hub.port;
      hub.adminPort = Number(/ringcast: admin on \S+:(\d+)/.exec(l)[1]);
    } catch (e) {
      hub.proc.kill('SIGKILL');
      throw e;
    }
    return hub;
  }

  url(path = '/echo', host = HOST) {
    return this.tls ? `wss://${host}:${this.tlsPort}${path}` : `ws://${host}:${this.port}${path}`;
  }

  terminate() {
    this.stopping = true;
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
  }

  // SIGTERM; the hub must exit 0 within STOP_TIMEOUT_MS.
  async checkCleanExit() {
    this.terminate();
    let code;
    try {
      code = await within(this.exited, STOP_TIMEOUT_MS, 'hub exit after SIGTERM');
    } catch (e) {
      this.proc.kill('SIGKILL');
      throw e;
    }
    checkEq(code, 0, `hub exit code after SIGTERM (stderr: ${this.stderr})`);
  }

  kill() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

// ---- runner ----

// run(name, fn, ...args): one case, failed after caseMs; watch(hub): a hub
// whose unexpected death a failure should name; main(script, body): runs
// body(binary) for the binary in argv[2], prints the tally and exits 0 only
// if every case passed.
function runner(caseMs) {
  let passed = 0;
  let failed = 0;
  const watched = [];

  function died() {
    for (const hub of watched) {
      if (!hub.stopping && !hub.deathReported && hub.proc.exitCode !== null) {
        hub.deathReported = true;
        return `\n  the hub died (exit ${hub.proc.exitCode}) -- its stderr:\n${hub.stderr}`;
      }
    }
    return '';
  }

  async function run(name, fn, ...args) {
    try {
      await within(Promise.resolve().then(() => fn(...args)), caseMs, name);
      passed++;
      console.log(`PASS ${name}`);
    } catch (e) {
      failed++;
      const at = e instanceof CaseFailed ? '' : ` ${(e.stack || '').split('\n')[1] || ''}`.trimEnd();
      console.log(`FAIL ${name}: ${e.message}${at}${died()}`);
    }
  }

  function watch(hub) {
    watched.push(hub);
    return hub;
  }

  function main(script, body) {
    const binary = process.argv[2];
    if (!binary || !fs.existsSync(binary)) {
      console.error(`usage: node ${script} /path/to/ringcast`);
      process.exit(2);
    }
    body(binary).then(() => {
      console.log(`${passed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    }, (e) => {
      console.log(`FAIL harness: ${e.stack}`);
      console.log(`${passed} passed, ${failed + 1} failed`);
      process.exit(1);
    });
  }

  return { run, watch, main };
}

module.exports = {
  HOST, TIMEOUT_MS, STOP_TIMEOUT_MS, requireWs, CaseFailed, check, short, checkEq, within, textOf,
  opening, using, Hub, runner,
};
