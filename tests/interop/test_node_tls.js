#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// wss:// with a client we did not write: node's `ws` over node's TLS.
//
// Certificates come from tlsutil.py (the openssl command, a temporary
// directory). Against a hub with --tls-port 0 (two certificate pairs):
// text/binary echo up to 1 MiB trusting the test CA (the `ca` option), a
// room, SNI, https /health, rejectUnauthorized against a wrong CA and
// against the default CAs, then a hub with --tls-client-ca (mTLS), and
// close 1001 for everyone on SIGTERM.
//
// Usage: node test_node_tls.js /path/to/ringcast
//        (exit 77 if ws, python3 or openssl is missing)
'use strict';

const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const os = require('os');
const path = require('path');

let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  console.log('SKIP: node ws is not installed (NODE_PATH=/usr/share/nodejs?)');
  process.exit(77);
}

const HOST = '127.0.0.1';
const TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 10000;
const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20];

class CaseFailed extends Error {}

function check(cond, msg) {
  if (!cond) throw new CaseFailed(msg);
}

function checkEq(got, want, what) {
  const same = Buffer.isBuffer(want) ? Buffer.isBuffer(got) && got.equals(want) : got === want;
  const show = (v) => (Buffer.isBuffer(v) ? `<Buffer ${v.length} bytes>` : JSON.stringify(v)).slice(0, 120);
  check(same, `${what}: expected ${show(want)}, got ${show(got)}`);
}

function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CaseFailed(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- certificates ----

function makeCerts(dir) {
  const tool = path.join(__dirname, 'tlsutil.py');
  for (const py of [process.env.PYTHON3, '/usr/bin/python3', 'python3']) {
    if (!py) continue;
    try {
      return JSON.parse(execFileSync(py, [tool, dir], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 }));
    } catch (e) {
      if (e.status === 77) {
        console.log('SKIP: no openssl command to make certificates with');
        process.exit(77);
      }
      if (e.code !== 'ENOENT') throw new Error(`tlsutil.py: ${e.message} ${e.stderr || ''}`);
    }
  }
  console.log('SKIP: no python3 to run tlsutil.py');
  process.exit(77);
}

function fingerprintOf(pemFile) {
  return new crypto.X509Certificate(fs.readFileSync(pemFile)).fingerprint256;
}

// ---- the hub ----

class Hub {
  static async start(binary, ...flags) {
    const hub = new Hub();
    // The admin listener (/metrics) on any free port: its default, 9090,
    // is not for tests that may run beside others.
    hub.proc = spawn(binary, ['--port', '0', '--threads', '2', '--admin-port', '0', ...flags],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    hub.stderr = '';
    hub.proc.stderr.on('data', (d) => { hub.stderr = (hub.stderr + d).slice(-4000); });
    hub.exited = new Promise((resolve) => hub.proc.on('exit', (code, sig) => resolve(sig || code)));
    let out = '';
    const line = new Promise((resolve, reject) => {
      hub.proc.stdout.on('data', (d) => {
        out += d;
        if (/ringcast: admin on .*\n/.test(out)) resolve(out);
      });
      hub.exited.then((code) => reject(new Error(`hub exited ${code} before listening: ${hub.stderr}`)));
    });
    try {
      const l = await within(line, 10000, 'the hub\'s "listening on" and "admin on" lines');
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
    return `wss://${host}:${this.tlsPort}${path}`;
  }

  async checkCleanExit() {
    this.stopping = true;
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
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

// ---- a ws client whose messages can be awaited one at a time ----

class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    ws.on('message', (data, isBinary) => {
      const w = this.waiters.shift();
      if (w) w({ data, isBinary });
      else this.queue.push({ data, isBinary });
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  // opts: tls options for ws (ca, servername, cert, key, rejectUnauthorized...)
  static open(url, opts = {}) {
    const ws = new WebSocket(url, { maxPayload: 0, family: 4, ...opts });
    return within(new Promise((resolve, reject) => {
      ws.once('upgrade', (res) => { ws.peerCert = res.socket.getPeerCertificate(); });
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) =>
        reject(new CaseFailed(`handshake answered HTTP ${res.statusCode}`)));
    }), TIMEOUT_MS, `open ${url}`).catch((e) => { ws.terminate(); throw e; });
  }

  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return within(new Promise((resolve) => this.waiters.push(resolve)), TIMEOUT_MS, 'the next message');
  }

  async roundtrip(data) {
    const isBinary = Buffer.isBuffer(data);
    this.ws.send(data, { binary: isBinary });
    const m = await this.next();
    checkEq(m.isBinary, isBinary, 'echo is binary');
    checkEq(isBinary ? m.data : m.data.toString('utf8'), data, 'echo payload');
  }

  terminate() {
    this.ws.terminate();
  }
}

async function withClient(url, opts, fn) {
  const c = await Client.open(url, opts);
  try {
    return await fn(c);
  } finally {
    c.terminate();
  }
}

// An open that must fail; returns the error.
async function refused(url, opts, what) {
  let c;
  try {
    c = await Client.open(url, opts);
  } catch (e) {
    return e;
  }
  c.terminate();
  throw new CaseFailed(`${what}: the connection opened`);
}

function httpsGet(port, path, opts) {
  return within(new Promise((resolve, reject) => {
    const req = https.get({ host: HOST, port, path, family: 4, agent: false, ...opts }, (res) => {
      const cert = res.socket.getPeerCertificate();
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, cert }));
    });
    req.on('error', reject);
  }), TIMEOUT_MS, `https GET ${path}`);
}

function textOf(n) {
  const buf = Buffer.from('ringcast é€😀 '.repeat(Math.floor(n / 10) + 1)).subarray(0, n);
  let s = buf.toString('utf8').replace(/\ufffd+$/, '');
  return s + 'x'.repeat(n - Buffer.byteLength(s));
}

// ---- cases ----

function cases(certs) {
  const ca = fs.readFileSync(certs.ca.cert);
  const trust = { ca };
  return {
    textEcho: (hub) => withClient(hub.url('/echo', 'localhost'), trust, async (c) => {
      for (const n of SIZES) await c.roundtrip(textOf(n));
    }),

    binaryEcho: (hub) => withClient(hub.url(), trust, async (c) => {
      for (const n of SIZES) await c.roundtrip(crypto.randomBytes(n));
    }),

    fragmentedAndPing: (hub) => withClient(hub.url(), trust, async (c) => {
      const bins = [Buffer.from([0, 1]), crypto.randomBytes(70000), Buffer.from([0xff])];
      bins.forEach((p, i) => c.ws.send(p, { binary: true, fin: i === bins.length - 1 }));
      const m = await c.next();
      checkEq(m.data, Buffer.concat(bins), 'fragmented echo');
      const pong = within(new Promise((resolve) => c.ws.once('pong', resolve)), TIMEOUT_MS, 'pong');
      c.ws.ping(Buffer.from('wss ping'));
      checkEq(await pong, Buffer.from('wss ping'), 'pong payload');
    }),

    room: async (hub) => {
      const room = `/ws/node-tls-${crypto.randomBytes(4).toString('hex')}`;
      const members = [];
      try {
        for (let i = 0; i < 6; i++) members.push(await Client.open(hub.url(room, 'localhost'), trust));
        for (const [i, sender] of [members[0], members[5]].entries()) {
          const msg = `hello ${i} over wss`;
          sender.ws.send(msg);
          for (const [j, m] of members.entries()) {
            const got = await m.next();
            checkEq(got.data.toString('utf8'), msg, `member ${j}`);
          }
        }
      } finally {
        members.forEach((m) => m.terminate());
      }
    },

    sni: async (hub) => {
      for (const [name, pair] of [['localhost', certs.localhost], ['other.localhost', certs.other]]) {
        await withClient(hub.url(), { ...trust, servername: name }, async (c) => {
          checkEq(c.ws.peerCert.fingerprint256, fingerprintOf(pair.cert), `certificate for SNI ${name}`);
          await c.roundtrip(`via ${name}`);
        });
      }
      const e = await refused(hub.url(), { ...trust, servername: 'unknown.example' }, 'unknown SNI');
      check(/unrecognized name/i.test(e.message), `unknown SNI refused otherwise: ${e.message}`);
    },

    https: async (hub) => {
      const r = await httpsGet(hub.tlsPort, '/health', { ca, servername: 'localhost' });
      checkEq(r.status, 200, 'https /health status');
      checkEq(r.body.trim(), 'ok', 'https /health body');
      checkEq(r.cert.fingerprint256, fingerprintOf(certs.localhost.cert), 'https certificate');
      // /metrics is served on the admin listener (plain, loopback) only.
      const pub = await httpsGet(hub.tlsPort, '/metrics', { ca });
      checkEq(pub.status, 404, 'https /metrics on the public port');
      const res = await within(fetch(`http://${HOST}:${hub.adminPort}/metrics`), TIMEOUT_MS,
        'GET /metrics on the admin port');
      checkEq(res.status, 200, 'admin /metrics status');
      check(/ringcast_tls_handshakes_total [1-9]/.test(await res.text()), 'tls_handshakes_total in /metrics');
    },

    wrongCa: async (hub) => {
      const e = await refused(hub.url(), { ca: fs.readFileSync(certs.wrongca.cert) }, 'a wrong CA');
      check(/unable to verify|self.signed|certificate/i.test(e.message) || e.code,
        `wrong CA: refused otherwise: ${e.message}`);
      // the default CAs do not know the test CA either
      const e2 = await refused(hub.url(), {}, 'the default CAs');
      check(/unable to verify|self.signed|certificate/i.test(e2.message),
        `default CAs: refused otherwise: ${e2.message}`);
      // a name the certificate does not have
      const e3 = await refused(hub.url('/echo', 'localhost'), { ...trust, servername: 'other.localhost',
        checkServerIdentity: (host, cert) => require('tls').checkServerIdentity('localhost.example', cert) },
      'a name mismatch');
      check(/altnames|does not match|not in the cert/i.test(e3.message), `name mismatch: ${e3.message}`);
      // rejectUnauthorized: false lets the wrong CA through (the option is
      // what refused it above)
      await withClient(hub.url(), { ca: fs.readFileSync(certs.wrongca.cert), rejectUnauthorized: false },
        (c) => c.roundtrip('unverified'));
    },

    mtls: async (binary) => {
      const hub = await Hub.start(binary, '--tls-cert', certs.localhost.cert, '--tls-key', certs.localhost.key,
        '--tls-client-ca', certs.clientca.cert);
      try {
        await refused(hub.url(), trust, 'no client certificate');
        await refused(hub.url(), { ...trust, cert: fs.readFileSync(certs.badclient.cert),
          key: fs.readFileSync(certs.badclient.key) }, 'a self-signed client certificate');
        await withClient(hub.url(), { ...trust, cert: fs.readFileSync(certs.client.cert),
          key: fs.readFileSync(certs.client.key) }, async (c) => {
          for (const n of [1, 70000]) await c.roundtrip(crypto.randomBytes(n));
        });
        await hub.checkCleanExit();
      } finally {
        hub.kill();
      }
    },

    sigterm: async (hub) => {
      const clients = [];
      try {
        for (let i = 0; i < 5; i++) clients.push(await Client.open(hub.url(), trust));
        for (const c of clients) await c.roundtrip('before SIGTERM');
        const exit = hub.checkCleanExit();
        for (const [i, c] of clients.entries()) {
          checkEq(await within(c.closed, TIMEOUT_MS, `client ${i} close`), 1001, `client ${i} close code`);
        }
        await exit;
      } finally {
        clients.forEach((c) => c.terminate());
      }
    },
  };
}

// ---- runner ----

let passed = 0;
let failed = 0;
const watched = [];

async function run(name, fn, ...args) {
  try {
    await within(Promise.resolve().then(() => fn(...args)), 30000, name);
    passed++;
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    const at = e instanceof CaseFailed ? '' : ` ${(e.stack || '').split('\n')[1] || ''}`.trimEnd();
    let died = '';
    for (const hub of watched) {
      if (!hub.stopping && hub.proc.exitCode !== null) died = `\n  the hub died (exit ${hub.proc.exitCode}): ${hub.stderr}`;
    }
    console.log(`FAIL ${name}: ${e.message}${at}${died}`);
  }
}

async function main() {
  const binary = process.argv[2];
  if (!binary || !fs.existsSync(binary)) {
    console.error('usage: node test_node_tls.js /path/to/ringcast');
    process.exit(2);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringcast-node-tls-'));
  try {
    const certs = makeCerts(dir);
    const c = cases(certs);
    const hub = await Hub.start(binary, '--tls-cert', certs.localhost.cert, '--tls-key', certs.localhost.key,
      '--tls-cert', certs.other.cert, '--tls-key', certs.other.key, '--tls-port', '0');
    watched.push(hub);
    try {
      await run(`wss text echo (ca option, wss://localhost), sizes ${SIZES}`, c.textEcho, hub);
      await run(`wss binary echo (wss://127.0.0.1), sizes ${SIZES}`, c.binaryEcho, hub);
      await run('wss fragmented message and ping/pong', c.fragmentedAndPing, hub);
      await run('wss room: 6 members, 2 senders', c.room, hub);
      await run('SNI: localhost, other.localhost, unknown refused', c.sni, hub);
      await run('https /health and /metrics', c.https, hub);
      await run('rejectUnauthorized: wrong CA, default CAs, wrong name refused; false lets it through',
        c.wrongCa, hub);
      await run('SIGTERM: every wss client gets close 1001, exit 0', c.sigterm, hub);
    } finally {
      hub.kill();
    }
    await run('mTLS: no / self-signed client certificate refused, a good one echoes', c.mtls, binary);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL harness: ${e.stack}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
