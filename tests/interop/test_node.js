#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Interop with a client we did not write: node's `ws` (Debian node-ws 8.x).
//
// Handshake, text/binary echo up to 1 MiB, fragmented sends, ping/pong,
// close codes, subprotocols, and close 1001 for everyone on SIGTERM.
//
// Usage: node test_node.js /path/to/ringcast   (exit 77 if ws is missing)
'use strict';

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');

let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  console.log('SKIP: node ws is not installed (NODE_PATH=/usr/share/nodejs?)');
  process.exit(77);
}

const HOST = '127.0.0.1';
const TIMEOUT_MS = 5000;      // every wait for the hub gives up after this
const STOP_TIMEOUT_MS = 10000;
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20];

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

// ---- the hub process ----

class Hub {
  constructor(binary, flags) {
    // The admin listener on any free port (its default 9090 is one port
    // for every hub that runs at once).
    this.proc = spawn(binary, ['--port', '0', '--threads', '2', '--admin-port', '0', ...flags],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-2000); });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve(sig || code)));
  }

  static async start(binary, ...flags) {
    const hub = new Hub(binary, flags);
    let out = '';
    const port = new Promise((resolve, reject) => {
      hub.proc.stdout.on('data', (d) => {
        out += d;
        const m = /listening on [0-9.]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      hub.exited.then((code) => reject(new Error(`hub exited ${code} before listening: ${hub.stderr}`)));
    });
    try {
      hub.port = await within(port, 10000, 'the hub\'s "listening on" line');
    } catch (e) {
      hub.proc.kill('SIGKILL');
      throw e;
    }
    return hub;
  }

  url(path = '/echo') {
    return `ws://${HOST}:${this.port}${path}`;
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

// ---- a ws client whose events can be awaited one at a time ----

class Client {
  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.pongs = [];
    this.waiters = { messages: [], pongs: [] };
    ws.on('message', (data, isBinary) => this.push('messages', { data, isBinary }));
    ws.on('pong', (data) => this.push('pongs', data));
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString() })));
  }

  static open(url, protocols) {
    const ws = new WebSocket(url, protocols, { maxPayload: 0 });
    return within(new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) =>
        reject(new CaseFailed(`handshake answered HTTP ${res.statusCode}`)));
    }), TIMEOUT_MS, `open ${url}`).catch((e) => { ws.terminate(); throw e; });
  }

  push(kind, item) {
    const waiter = this.waiters[kind].shift();
    if (waiter) waiter(item);
    else this[kind].push(item);
  }

  next(kind) {
    if (this[kind].length) return Promise.resolve(this[kind].shift());
    return within(new Promise((resolve) => this.waiters[kind].push(resolve)),
      TIMEOUT_MS, `the next ${kind.slice(0, -1)}`);
  }

  async expectMessage(data, isBinary) {
    const m = await this.next('messages');
    checkEq(m.isBinary, isBinary, 'echo is binary');
    checkEq(isBinary ? m.data : m.data.toString('utf8'), data, 'echo payload');
  }

  async roundtrip(data) {
    const isBinary = Buffer.isBuffer(data);
    this.ws.send(data, { binary: isBinary });
    await this.expectMessage(data, isBinary);
  }

  async close(code, reason) {
    this.ws.close(code, reason);
    return within(this.closed, TIMEOUT_MS, 'the close handshake');
  }

  terminate() {
    this.ws.terminate();
  }
}

// Open a client, run fn(client), and always let it go.
async function withClient(url, fn, protocols) {
  const c = await Client.open(url, protocols);
  try {
    return await fn(c);
  } finally {
    c.terminate();
  }
}

// ---- cases ----

const cases = {
  handshake: (hub) => withClient(hub.url(), async (c) => {
    checkEq(c.ws.protocol, '', 'subprotocol when none was offered');
    await c.roundtrip('hello');
  }),

  textEcho: (hub) => withClient(hub.url(), async (c) => {
    for (const n of SIZES) await c.roundtrip(textOf(n));
  }),

  binaryEcho: (hub) => withClient(hub.url(), async (c) => {
    for (const n of SIZES) await c.roundtrip(crypto.randomBytes(n));
  }),

  fragmented: (hub) => withClient(hub.url(), async (c) => {
    const parts = ['Hello, ', 'wörld', '', '!'];
    parts.forEach((p, i) => c.ws.send(p, { fin: i === parts.length - 1 }));
    await c.expectMessage(parts.join(''), false);

    const bins = [Buffer.from([0, 1]), crypto.randomBytes(70000), Buffer.from([0xff])];
    bins.forEach((p, i) => c.ws.send(p, { binary: true, fin: i === bins.length - 1 }));
    await c.expectMessage(Buffer.concat(bins), true);
  }),

  ping: (hub) => withClient(hub.url(), async (c) => {
    for (const payload of [Buffer.alloc(0), Buffer.from('ringcast ping'),
      Buffer.from([...Array(125).keys()])]) {
      c.ws.ping(payload);
      checkEq(await c.next('pongs'), payload, `pong for a ${payload.length}-byte ping`);
    }
    await c.roundtrip('still open after pings');
  }),

  closeEcho: (hub, code, reason) => withClient(hub.url(), async (c) => {
    await c.roundtrip('before close');
    const got = await c.close(code, reason);
    checkEq(got.code, code, 'close code the server sent back');
  }),

  subprotocol: (hub, offered, want) => withClient(hub.url(), async (c) => {
    checkEq(c.ws.protocol, want, `subprotocol chosen from ${JSON.stringify(offered)}`);
    await c.roundtrip('with a subprotocol');
  }, offered),

  // ws itself fails a handshake where it offered subprotocols and got none
  // back; that error is how we see the hub chose none (and no stranger).
  noCommonSubprotocol: async (hub) => {
    try {
      await withClient(hub.url(), async () => {}, ['other']);
    } catch (e) {
      check(/no subprotocol/.test(e.message), `handshake failed otherwise: ${e.message}`);
      return;
    }
    check(false, 'hub accepted a subprotocol the client did not offer');
  },

  unknownPath: async (hub) => {
    try {
      await withClient(hub.url('/nope'), async () => {});
    } catch (e) {
      check(/HTTP 404/.test(e.message), `expected HTTP 404, got: ${e.message}`);
      return;
    }
    check(false, 'handshake on an unknown path succeeded');
  },

  sigterm: async (binary) => {
    const hub = await Hub.start(binary);
    const clients = [];
    try {
      for (let i = 0; i < 5; i++) clients.push(await Client.open(hub.url()));
      for (const c of clients) await c.roundtrip('before SIGTERM');
      hub.terminate();
      for (const [i, c] of clients.entries()) {
        const got = await within(c.closed, TIMEOUT_MS, `client ${i} close`);
        checkEq(got.code, 1001, `client ${i} close code`);
      }
      await hub.checkCleanExit();
    } finally {
      clients.forEach((c) => c.terminate());
      hub.kill();
    }
  },
};

// ---- runner ----

let passed = 0;
let failed = 0;
const watched = []; // hubs whose unexpected death a failure should name

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
    await within(Promise.resolve().then(() => fn(...args)), 20000, name);
    passed++;
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    const at = e instanceof CaseFailed ? '' : ` ${(e.stack || '').split('\n')[1] || ''}`.trimEnd();
    console.log(`FAIL ${name}: ${e.message}${at}${died()}`);
  }
}

async function main() {
  const binary = process.argv[2];
  if (!binary || !fs.existsSync(binary)) {
    console.error('usage: node test_node.js /path/to/ringcast');
    process.exit(2);
  }
  const hub = await Hub.start(binary, '--subprotocol', 'chat', '--subprotocol', 'superchat');
  watched.push(hub);
  try {
    await run('handshake', cases.handshake, hub);
    await run(`text echo, sizes ${SIZES}`, cases.textEcho, hub);
    await run(`binary echo, sizes ${SIZES}`, cases.binaryEcho, hub);
    await run('fragmented send (fin:false ... fin:true) echoed whole', cases.fragmented, hub);
    await run('ping -> pong with the same payload', cases.ping, hub);
    for (const [code, reason] of [[1000, ''], [3000, 'custom reason']]) {
      await run(`close ${code} echoed`, cases.closeEcho, hub, code, reason);
    }
    for (const [offered, want] of [[['superchat', 'chat'], 'chat'], [['superchat'], 'superchat']]) {
      await run(`subprotocol: offered ${offered} -> ${want}`, cases.subprotocol, hub, offered, want);
    }
    await run('subprotocol: offered other -> none', cases.noCommonSubprotocol, hub);
    await run('unknown path -> 404', cases.unknownPath, hub);
    await run('hub exits 0 on SIGTERM', () => hub.checkCleanExit());
  } finally {
    hub.kill();
  }
  await run('SIGTERM: every client gets close 1001, exit 0', cases.sigterm, binary);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL harness: ${e.stack}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
