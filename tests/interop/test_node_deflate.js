#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// permessage-deflate (RFC 7692, issue 13) with node's `ws` (Debian node-ws
// 8.x), perMessageDeflate on with threshold 0 (every message it sends is
// compressed): echo and a chat room through the hub in shared mode (the
// default), dedicated mode (--deflate-window-bits 10 and 15) and with
// --no-deflate. What ws negotiated is read from ws.extensions and the
// 101's Sec-WebSocket-Extensions; whether the hub compressed a message is
// read from the bytes the socket received for it.
//
// Usage: node test_node_deflate.js /path/to/ringcast   (exit 77 without ws)
'use strict';

const crypto = require('crypto');
const path = require('path');
const { TIMEOUT_MS, requireWs, CaseFailed, check, short, checkEq, within, opening, using, Hub, runner } =
  require(path.join(__dirname, 'node_hub.js'));

const WebSocket = requireWs();
const MIN_SIZE = 128; // the hub's default --deflate-min-size
const SHARED_ANSWER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
// No per-socket rate limits: the cases send hundreds of messages a second.
const COMMON = ['--max-message', String(1 << 20), '--msg-rate', '0', '--byte-rate', '0',
  '--conn-rate-per-ip', '0'];
const { run, watch, main } = runner(30000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// 'permessage-deflate; a; b=1' -> { name, params: { a: true, b: '1' } }
function parseExt(value) {
  if (value === undefined) return { name: undefined, params: {} };
  const [name, ...rest] = value.split(';').map((s) => s.trim());
  const params = {};
  for (const p of rest) {
    const [k, v] = p.split('=').map((s) => s.trim());
    check(!(k in params), `parameter ${k} twice in ${value}`);
    params[k] = v === undefined ? true : v.replace(/^"|"$/g, '');
  }
  return { name, params };
}

function sameParams(got, want, what) {
  const g = JSON.stringify(Object.entries(got).sort());
  const w = JSON.stringify(Object.entries(want).sort());
  check(g === w, `${what}: expected ${w}, got ${g}`);
}

// ---- payloads ----

function jsonDoc(nbytes, tag = 'doc') {
  const items = [];
  let size = 0;
  for (let i = 0; size < nbytes; i++) {
    const item = { id: i, user: `user${i % 37}`, room: 'lobby',
      text: `message number ${i} from ${tag}: héllo wörld €`, ts: 1700000000 + i * 7 };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  return JSON.stringify({ tag, items });
}

function hexText(n) {
  return crypto.randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
}

// A 300-byte run repeated 2**bits + 500 bytes later: a hub whose window
// is larger than the 2**bits it answered reaches back for it, and ws's
// inflater (windowBits = the answer) then fails.
function farRepeat(bits) {
  const run = hexText(300);
  return run + hexText((1 << bits) + 500) + run;
}

// ---- a ws client whose messages can be awaited one at a time ----

class Client {
  constructor(ws, res) {
    this.ws = ws;
    this.answer = res.headers['sec-websocket-extensions'];
    this.socket = res.socket;
    this.messages = [];
    this.waiters = [];
    this.ended = null; // why the connection ended, once it has
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary, bytesRead: this.socket.bytesRead };
      const w = this.waiters.shift();
      if (w) w.resolve(m); else this.messages.push(m);
    });
    // An inflate error, a close from the hub: fail what waits, at once.
    ws.on('error', (e) => { this.end(`error: ${e.message}`); });
    ws.on('close', (code, reason) => { this.end(`closed ${code} ${reason}`); });
  }

  end(why) {
    if (!this.ended) this.ended = why;
    for (const w of this.waiters.splice(0)) w.reject(new CaseFailed(`connection ${this.ended}`));
  }

  // deflate: true (threshold 0), false (no offer), or ws options.
  static open(url, deflate = true) {
    const pmd = deflate === true ? { threshold: 0 } : deflate;
    const ws = new WebSocket(url, { perMessageDeflate: pmd, maxPayload: 0 });
    let res;
    ws.once('upgrade', (r) => { res = r; });
    return opening(ws, url, () => new Client(ws, res));
  }

  next() {
    if (this.messages.length) return Promise.resolve(this.messages.shift());
    if (this.ended) return Promise.reject(new CaseFailed(`connection ${this.ended}`));
    return within(new Promise((resolve, reject) => this.waiters.push({ resolve, reject })),
      TIMEOUT_MS, 'the next message');
  }

  // Send data, wait for its echo, check it; returns the bytes the socket
  // read for the echo (frame head included).
  async roundtrip(data) {
    const isBinary = Buffer.isBuffer(data);
    const before = this.socket.bytesRead;
    this.ws.send(data, { binary: isBinary });
    const m = await this.next();
    checkEq(m.isBinary, isBinary, 'echo is binary');
    checkEq(isBinary ? m.data : m.data.toString('utf8'), data, `echo of ${Buffer.byteLength(data)} bytes`);
    return m.bytesRead - before;
  }

  terminate() {
    this.ws.terminate();
  }
}

function withClient(url, deflate, fn) {
  return using(Client.open(url, deflate), fn);
}

// Frame head size for a server frame of n payload bytes.
function head(n) {
  return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

// ---- cases ----

// Each kind echoed; the bytes read for each echo show whether the hub
// compressed it (it must for compressible >= MIN_SIZE, must not below
// MIN_SIZE or when the output is not smaller; in dedicated mode a message
// goes into the window once compressed, so incompressible ones may come
// compressed, a little larger).
async function echoKinds(c, dedicated = false) {
  const big = jsonDoc(200000);
  let n = await c.roundtrip(big);
  check(n < big.length / 4, `200 KB JSON echo took ${n} bytes on the wire: not compressed`);
  n = await c.roundtrip(Buffer.alloc(100000, 'abcdefgh'));
  check(n < 100000 / 10, `100 KB compressible binary took ${n} bytes`);
  const rnd = crypto.randomBytes(65536);
  n = await c.roundtrip(rnd);
  if (dedicated) {
    check(n >= 65536 && n < 65536 * 1.02, `64 KB of random bytes took ${n} bytes`);
  } else {
    checkEq(n, 65536 + head(65536), 'wire bytes for 64 KB of random bytes (sent as they are)');
  }
  const below = 'a'.repeat(MIN_SIZE - 1);
  n = await c.roundtrip(below);
  checkEq(n, below.length + head(below.length), `wire bytes for ${below.length} bytes (under the min size)`);
  const at = 'a'.repeat(MIN_SIZE);
  n = await c.roundtrip(at);
  check(n < MIN_SIZE / 4, `${MIN_SIZE} bytes of "a" took ${n} bytes: not compressed`);
  n = await c.roundtrip('');
  checkEq(n, 2, 'wire bytes for an empty text');
  n = await c.roundtrip(Buffer.alloc(0));
  checkEq(n, 2, 'wire bytes for an empty binary');
  await c.roundtrip('ringcast é€😀 '.repeat(3000));
}

async function handshakeShared(hub) {
  await withClient(hub.url(), true, async (c) => {
    checkEq(c.ws.extensions, 'permessage-deflate', 'ws.extensions');
    checkEq(c.answer, SHARED_ANSWER, 'Sec-WebSocket-Extensions');
    await echoKinds(c);
  });
}

async function handshakeDedicated(hub, bits) {
  await withClient(hub.url(), true, async (c) => {
    checkEq(c.ws.extensions, 'permessage-deflate', 'ws.extensions');
    const { name, params } = parseExt(c.answer);
    checkEq(name, 'permessage-deflate', `extension answered (${c.answer})`);
    sameParams(params, { server_max_window_bits: String(bits), client_max_window_bits: String(bits) },
      `answer parameters (${c.answer})`);
    await echoKinds(c, true);
    // Context across messages: a repeat of the last message is a
    // back-reference on the wire (the window holds it).
    const msg = hexText(Math.min(1 << bits, 8192) / 2);
    const first = await c.roundtrip(msg);
    const second = await c.roundtrip(msg);
    check(second * 4 < first, `repeat took ${second} bytes after ${first}: no context kept`);
    await c.roundtrip(farRepeat(bits));
  });
  // A client that asks for no context takeover both ways gets it.
  const opts = { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
  await withClient(hub.url(), opts, async (c) => {
    const { params } = parseExt(c.answer);
    sameParams(params, { server_max_window_bits: String(bits), client_max_window_bits: String(bits),
      server_no_context_takeover: true, client_no_context_takeover: true },
    `answer to no_context_takeover (${c.answer})`);
    const msg = hexText(Math.min(1 << bits, 8192) / 2);
    const first = await c.roundtrip(msg);
    const second = await c.roundtrip(msg);
    check(second * 4 > first, `server_no_context_takeover answered, yet the repeat took ${second} bytes after ${first}`);
  });
}

function mixed(i, bits) {
  switch (i % 5) {
    case 0: return `{"seq":${i},"short":true}`;
    case 1: return `${String(i).padStart(6, '0')} ${jsonDoc(200 + (i * 37) % 3000, `m${i}`)}`;
    case 2: return `${String(i).padStart(6, '0')} ${farRepeat(bits)}`;
    case 3: return Buffer.concat([Buffer.from(String(i).padStart(6, '0')), crypto.randomBytes(i % 400)]);
    default: return `${String(i).padStart(6, '0')} ${hexText(100 + (i * 13) % 1400)}`;
  }
}

// count messages sent at once, the echoes read meanwhile: equal, in order.
async function manyInOrder(hub, count, bits) {
  await withClient(hub.url(), true, async (c) => {
    const msgs = Array.from({ length: count }, (_, i) => mixed(i, bits));
    for (const m of msgs) c.ws.send(m, { binary: Buffer.isBuffer(m) });
    for (const [i, want] of msgs.entries()) {
      const m = await c.next();
      const got = m.isBinary ? m.data : m.data.toString('utf8');
      check(Buffer.isBuffer(want) ? Buffer.isBuffer(got) && got.equals(want) : got === want,
        `echo ${i} of ${count}: expected ${short(want)}, got ${short(got)}`);
    }
  });
}

// A room with two compressing members and a plain one: each sends count
// messages at once; each member gets all, per sender in order and equal.
async function chat(hub, count = 8) {
  const room = `/ws/node-deflate-${crypto.randomBytes(4).toString('hex')}`;
  const kinds = [['A', true], ['B', true], ['C', false]];
  const members = [];
  try {
    for (const [name, deflate] of kinds) {
      const c = await Client.open(hub.url(room), deflate);
      c.name = name;
      checkEq(c.ws.extensions, deflate ? 'permessage-deflate' : '', `${name}: ws.extensions`);
      members.push(c);
    }
    // Subscribed everywhere: probes until each member has seen one.
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      members[2].ws.send('probe');
      await sleep(50);
      const seen = members.map((c) => {
        const i = c.messages.findIndex((m) => m.data.toString() === 'probe');
        return i >= 0;
      });
      if (seen.every(Boolean)) break;
      check(Date.now() < deadline, `probes never reached all: ${seen}`);
    }
    await sleep(100);
    for (const c of members) c.messages = c.messages.filter((m) => m.data.toString() !== 'probe');
    const sent = {};
    for (const [name] of kinds) {
      sent[name] = Array.from({ length: count }, (_, i) => {
        switch (i % 4) {
          case 0: return JSON.stringify({ sender: name, seq: i, doc: jsonDoc(i === 0 ? 100000 : 20000, name) });
          case 1: return JSON.stringify({ sender: name, seq: i });
          case 2: return Buffer.concat([Buffer.from(`${name}:${i}:`), Buffer.alloc(4096, 'abcdefgh')]);
          default: return Buffer.concat([Buffer.from(`${name}:${i}:`), crypto.randomBytes(2000)]);
        }
      });
    }
    for (const c of members) {
      for (const m of sent[c.name]) c.ws.send(m, { binary: Buffer.isBuffer(m) });
    }
    for (const c of members) {
      const got = {};
      for (let k = 0; k < kinds.length * count;) {
        const m = await c.next();
        const s = m.data.toString('latin1');
        if (s === 'probe') continue;
        const km = /^(?:\{"sender":"(\w+)","seq":(\d+)|(\w+):(\d+):)/.exec(s);
        check(km, `${c.name}: stray message ${short(s.slice(0, 40))}`);
        const from = km[1] || km[3];
        (got[from] = got[from] || []).push(m.isBinary ? m.data : m.data.toString('utf8'));
        k++;
      }
      for (const [name] of kinds) {
        const want = sent[name];
        const have = got[name] || [];
        checkEq(have.length, want.length, `${c.name}: messages from ${name}`);
        want.forEach((w, i) => {
          const h = have[i];
          check(Buffer.isBuffer(w) ? Buffer.isBuffer(h) && h.equals(w) : h === w,
            `${c.name}: message ${i} from ${name} differs or out of order (${short(h)})`);
        });
      }
    }
  } finally {
    members.forEach((c) => c.terminate());
  }
}

async function noDeflate(hub) {
  await withClient(hub.url(), true, async (c) => {
    checkEq(c.ws.extensions, '', 'ws.extensions');
    checkEq(c.answer, undefined, 'Sec-WebSocket-Extensions');
    const big = jsonDoc(200000);
    const n = await c.roundtrip(big);
    checkEq(n, Buffer.byteLength(big) + head(Buffer.byteLength(big)), 'wire bytes for 200 KB JSON');
    await c.roundtrip('small');
  });
}

// ---- main ----

async function withHub(binary, flags, fn) {
  const hub = watch(await Hub.start(binary, ...COMMON, ...flags));
  try {
    await fn(hub);
    await run(`${flags.join(' ') || 'shared'}: hub exits 0 on SIGTERM`, () => hub.checkCleanExit());
  } finally {
    hub.kill();
  }
}

main('test_node_deflate.js', async (binary) => {
  const t0 = Date.now();
  await withHub(binary, [], async (hub) => {
    await run('shared: answer, ws.extensions, echo of each kind', handshakeShared, hub);
    await run('shared: 300 messages in order', manyInOrder, hub, 300, 15);
    await run('shared: chat with two compressing members and a plain one', chat, hub);
  });
  for (const bits of [10, 15]) {
    await withHub(binary, ['--deflate-window-bits', String(bits)], async (hub) => {
      await run(`dedicated ${bits}: answer, echo, context kept`, handshakeDedicated, hub, bits);
      await run(`dedicated ${bits}: 300 messages in order`, manyInOrder, hub, 300, bits);
      await run(`dedicated ${bits}: chat with mixed members`, chat, hub);
    });
  }
  await withHub(binary, ['--no-deflate'], async (hub) => {
    await run('--no-deflate: no extension, echo uncompressed', noDeflate, hub);
  });
  console.log(`     (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
});
