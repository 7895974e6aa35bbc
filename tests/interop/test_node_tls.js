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

const { execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const os = require('os');
const path = require('path');
const { HOST, TIMEOUT_MS, requireWs, CaseFailed, check, checkEq, within, textOf, opening, using, Hub, runner } =
  require(path.join(__dirname, 'node_hub.js'));

const WebSocket = requireWs();
const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20];
const { run, watch, main } = runner(30000);

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
    ws.once('upgrade', (res) => { ws.peerCert = res.socket.getPeerCertificate(); });
    return opening(ws, url, () => new Client(ws));
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

function withClient(url, opts, fn) {
  return using(Client.open(url, opts), fn);
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

// ---- main ----

main('test_node_tls.js', async (binary) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringcast-node-tls-'));
  try {
    const certs = makeCerts(dir);
    const c = cases(certs);
    const hub = await Hub.start(binary, '--tls-cert', certs.localhost.cert, '--tls-key', certs.localhost.key,
      '--tls-cert', certs.other.cert, '--tls-key', certs.other.key, '--tls-port', '0');
    watch(hub);
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
});
