#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Interop with a client we did not write: node's `ws` (Debian node-ws 8.x).
//
// Handshake, text/binary echo up to 1 MiB, fragmented sends, ping/pong,
// close codes, subprotocols, and close 1001 for everyone on SIGTERM.
//
// Usage: node test_node.js /path/to/ringcast   (exit 77 if ws is missing)
'use strict';

const crypto = require('crypto');
const path = require('path');
const { TIMEOUT_MS, requireWs, check, checkEq, within, textOf, opening, using, Hub, runner } =
  require(path.join(__dirname, 'node_hub.js'));

const WebSocket = requireWs();
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20];
const { run, watch, main } = runner(20000);

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
    return opening(ws, url, () => new Client(ws));
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
function withClient(url, fn, protocols) {
  return using(Client.open(url, protocols), fn);
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

// ---- main ----

main('test_node.js', async (binary) => {
  const hub = await Hub.start(binary, '--subprotocol', 'chat', '--subprotocol', 'superchat');
  watch(hub);
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
});
