#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// The hub's ringcast.v1 protocol (docs/PROTOCOL.md) with a client we did
// not write: node's `ws` (Debian node-ws 8.x).
//
// - a newcomer's ?last=K: exactly the last K messages in order, then the
//   joined line, then live ones;
// - a TCP connection destroyed mid-stream while a publisher keeps sending:
//   back with ?epoch=&offset=, every missed message once and in order,
//   recovered:true, then live ones with no gap and no repeat;
// - an offset out of a --history-size 20 window (and one just inside it),
//   and a hub that restarted (a new epoch): recovered:false, no history;
// - presence: 20 members (with and without tokens, plain and v1) joining
//   and leaving in random order; an observer's member set, built from the
//   presence line and the join/leave lines, ends equal to the room's (the
//   admin GET /presence/ROOM, and the subs expected) with the same count;
//   a room over --presence-max gets count lines only, at most about 1/s.
//
// Usage: node test_node_v1.js /path/to/ringcast   (exit 77 if ws is missing)
'use strict';

const crypto = require('crypto');
const http = require('http');
const path = require('path');
const { HOST, TIMEOUT_MS, requireWs, CaseFailed, check, checkEq, within, opening, Hub, runner } =
  require(path.join(__dirname, 'node_hub.js'));

const WebSocket = requireWs();
const V1 = 'ringcast.v1';
const SLOW = TIMEOUT_MS / 5000;       // 4 against a sanitizer build (node_hub.js)
const { run, watch, main } = runner(30000 * SLOW);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A small seeded generator, so that a failing churn can be replayed
// (RC_SEED=N); the seed is printed.
const SEED = Number(process.env.RC_SEED) || crypto.randomBytes(4).readUInt32LE(0);
let rngState = SEED >>> 0 || 1;
function rand() {
  // xorshift32
  rngState ^= rngState << 13; rngState >>>= 0;
  rngState ^= rngState >>> 17;
  rngState ^= rngState << 5; rngState >>>= 0;
  return rngState / 4294967296;
}

// ---- clients ----

// A v1 member: every line it gets, parsed, to be awaited one at a time.
// Presence lines (presence, join, leave) go to their own queue, so the
// message cases read only msg and joined lines.
class Member {
  constructor(ws) {
    this.ws = ws;
    this.q = { lines: [], presence: [] };
    this.waiters = { lines: [], presence: [] };
    this.bad = null;
    ws.on('message', (data, isBinary) => {
      let m = null;
      try { m = isBinary ? null : JSON.parse(data.toString('utf8')); } catch (e) { m = null; }
      if (!m || typeof m !== 'object') {
        this.bad = this.bad || `not a JSON text line: ${data.toString('utf8').slice(0, 80)}`;
        return;
      }
      // when it came, kept off the line's own fields
      Object.defineProperty(m, 'at', { value: Date.now(), enumerable: false });
      this.push(['presence', 'join', 'leave'].includes(m.type) ? 'presence' : 'lines', m);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static open(url, headers) {
    const ws = new WebSocket(url, V1, { headers });
    return opening(ws, url, () => {
      checkEq(ws.protocol, V1, 'negotiated subprotocol');
      return new Member(ws);
    });
  }

  // From now on every line of kind goes to fn (those queued first).
  follow(kind, fn) {
    this.followers = this.followers || {};
    this.followers[kind] = fn;
    for (const m of this.q[kind].splice(0)) fn(m);
  }

  push(kind, m) {
    if (this.followers && this.followers[kind]) {
      this.followers[kind](m);
      return;
    }
    const w = this.waiters[kind].shift();
    if (w) w(m);
    else this.q[kind].push(m);
  }

  next(what, kind = 'lines', ms = TIMEOUT_MS) {
    check(!this.bad, this.bad);
    if (this.q[kind].length) return Promise.resolve(this.q[kind].shift());
    let waiter;
    const p = new Promise((resolve) => { waiter = resolve; this.waiters[kind].push(resolve); });
    return within(p, ms, what).catch((e) => {
      const i = this.waiters[kind].indexOf(waiter);
      if (i >= 0) this.waiters[kind].splice(i, 1);
      throw e;
    });
  }

  // The envelopes before the joined line, and the joined line.
  async joining() {
    const msgs = [];
    for (;;) {
      const m = await this.next(`the joined line (after ${msgs.length} messages)`);
      if (m.type === 'joined') return { msgs, joined: m };
      checkEq(m.type, 'msg', 'a line before joined');
      msgs.push(m);
    }
  }

  terminate() { this.ws.terminate(); }
}

// A plain member (no subprotocol), for publishing and for presence.
function openPlain(url, headers) {
  const ws = new WebSocket(url, { headers });
  return opening(ws, url, () => {
    const c = { ws, got: [], waiters: [] };
    ws.on('message', (d) => {
      const w = c.waiters.shift();
      if (w) w(d.toString('utf8'));
      else c.got.push(d.toString('utf8'));
    });
    c.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
    c.next = (what) => (c.got.length ? Promise.resolve(c.got.shift())
      : within(new Promise((r) => c.waiters.push(r)), TIMEOUT_MS, what));
    c.terminate = () => ws.terminate();
    return c;
  });
}

// Publish texts from a plain member, each awaited as its own echo, so all
// are in the room's history when this returns.
async function publish(hub, room, texts) {
  const p = await openPlain(hub.url(`/ws/${room}`));
  try {
    for (const t of texts) p.ws.send(t);
    for (const t of texts) checkEq(await p.next(`echo of ${t}`), t, 'the publisher\'s echo');
  } finally {
    p.terminate();
  }
}

function checkEpoch(e, what) {
  check(Number.isSafeInteger(e) && e > 0, `${what}: epoch ${e}, want a number in 1..2^53-1`);
}

// ---- history on join ----

async function newcomer(hub) {
  const room = `hist-${crypto.randomBytes(3).toString('hex')}`;
  await publish(hub, room, Array.from({ length: 30 }, (_, i) => `m${i + 1}`));
  let total = 30;
  for (const [k, want] of [[10, 10], [1, 1], [100, 31], [0, 0]]) {
    const c = await Member.open(hub.url(`/ws/${room}${k ? `?last=${k}` : ''}`));
    try {
      const { msgs, joined } = await c.joining();
      checkEq(msgs.length, want, `?last=${k}: messages before the joined line`);
      checkEpoch(joined.epoch, 'joined');
      checkEq(JSON.stringify(joined),
        JSON.stringify({ type: 'joined', room, epoch: joined.epoch, offset: total }),
        `?last=${k}: the joined line (no "recovered" for a newcomer)`);
      msgs.forEach((m, i) => {
        const o = total - want + 1 + i;
        checkEq(JSON.stringify([m.type, m.room, m.epoch, m.offset, m.from, m.data]),
          JSON.stringify(['msg', room, joined.epoch, o, null, `m${o}`]),
          `?last=${k}: history message ${i}`);
      });
      if (k === 10) {
        await publish(hub, room, [`m${++total}`]);
        const m = await c.next('the live message');
        checkEq(JSON.stringify([m.type, m.offset, m.data]), JSON.stringify(['msg', 31, 'm31']),
          'the live message after the joined line');
      }
    } finally {
      c.terminate();
    }
  }
}

// ---- a TCP cut mid-stream ----

// A plain publisher sends n1..nN, one every `every` ms, without waiting.
function streamer(hub, room, n, every) {
  return openPlain(hub.url(`/ws/${room}`)).then((p) => {
    const done = (async () => {
      for (let i = 1; i <= n; i++) {
        p.ws.send(`n${i}`);
        await sleep(every);
      }
    })();
    return { p, done };
  });
}

async function tcpCut(hub) {
  const room = `cut-${crypto.randomBytes(3).toString('hex')}`;
  const N = 300;
  const seen = [];                    // every envelope taken, in order
  let c = await Member.open(hub.url(`/ws/${room}`));
  const first = await c.joining();
  checkEq(first.msgs.length, 0, 'messages before joining an empty room');
  checkEq(first.joined.offset, 0, 'an empty room\'s offset');

  const { p, done } = await streamer(hub, room, N, 5);
  try {
    while (seen.length < 60) seen.push(await c.next(`message ${seen.length + 1}`));
    const last = seen[seen.length - 1];
    // Cut: no close frame, the socket gone (as a lost network would).
    c.ws._socket.destroy();
    await within(c.closed, TIMEOUT_MS, 'the cut client\'s close event');
    await sleep(150);                 // the publisher goes on meanwhile

    c = await Member.open(hub.url(`/ws/${room}?epoch=${last.epoch}&offset=${last.offset}`));
    const back = await c.joining();
    checkEq(back.joined.recovered, true, 'recovered after the cut');
    checkEq(back.joined.epoch, last.epoch, 'the joined line\'s epoch');
    check(back.msgs.length >= 1, 'the cut missed no message: the test did not test the resume');
    checkEq(back.joined.offset, back.msgs[back.msgs.length - 1].offset,
      'the joined line\'s offset (the last one resent)');
    seen.push(...back.msgs);
    while (seen[seen.length - 1].data !== `n${N}`) seen.push(await c.next(`message after n${seen[seen.length - 1].data}`));
    await done;
  } finally {
    p.terminate();
    c.terminate();
  }
  // Every number once, in order; offsets 1..N with no hole.
  for (let i = 0; i < N; i++) {
    const m = seen[i];
    if (!m || m.data !== `n${i + 1}` || m.offset !== i + 1 || m.epoch !== seen[0].epoch) {
      throw new CaseFailed(`message ${i + 1}: got ${JSON.stringify(m)}; around it: ` +
        JSON.stringify(seen.slice(Math.max(0, i - 2), i + 3).map((x) => [x.offset, x.data])));
    }
  }
  checkEq(seen.length, N, 'messages taken in all');
}

// ---- recovered:false ----

async function oldOffset(hub, room, state) {
  await publish(hub, room, Array.from({ length: 50 }, (_, i) => `o${i + 1}`));
  const c0 = await Member.open(hub.url(`/ws/${room}?last=1`));
  const { joined: j0 } = await c0.joining();
  c0.terminate();
  const E = j0.epoch;
  checkEpoch(E, 'joined');
  state.E = E;                        // for the restart case, whatever follows
  // The window holds 31..50: offset 30 still recovers (31.. are held),
  // 29 does not (30 is gone).
  for (const [q, rec, want] of [
    [`epoch=${E}&offset=30`, true, [31, 50]],
    [`epoch=${E}&offset=29`, false, null],
    [`epoch=${E}&offset=5`, false, null],
    [`epoch=${E}&offset=5&last=3`, false, [48, 50]],
  ]) {
    const c = await Member.open(hub.url(`/ws/${room}?${q}`));
    try {
      const { msgs, joined } = await c.joining();
      checkEq(JSON.stringify(joined), JSON.stringify({ type: 'joined', room, epoch: E, offset: 50, recovered: rec }),
        `?${q}: the joined line`);
      const offs = msgs.map((m) => m.offset);
      const wantOffs = want ? Array.from({ length: want[1] - want[0] + 1 }, (_, i) => want[0] + i) : [];
      checkEq(JSON.stringify(offs), JSON.stringify(wantOffs), `?${q}: offsets sent before the joined line`);
      msgs.forEach((m) => checkEq(m.data, `o${m.offset}`, `?${q}: message ${m.offset}`));
    } finally {
      c.terminate();
    }
  }
}

async function restarted(binary, hub, room, E) {
  check(E, 'no epoch from the case before');
  await hub.checkCleanExit();
  const h2 = watch(await Hub.start(binary, '--history-size', '20'));
  try {
    // A room the new hub never saw, then one with a message (a new epoch).
    for (const fresh of [true, false]) {
      if (!fresh) await publish(h2, room, ['after the restart']);
      const c = await Member.open(h2.url(`/ws/${room}?epoch=${E}&offset=50&last=5`));
      try {
        const { msgs, joined } = await c.joining();
        checkEq(joined.recovered, false, `${fresh ? 'an unknown room' : 'a new epoch'}: recovered (${JSON.stringify(joined)})`);
        check(joined.epoch !== E, `the restarted hub kept epoch ${E}`);
        if (fresh) {
          checkEq(JSON.stringify([msgs.length, joined.epoch, joined.offset]), JSON.stringify([0, 0, 0]),
            'an unknown room: messages, epoch, offset');
        } else {
          checkEpoch(joined.epoch, 'the new epoch');
          checkEq(JSON.stringify(msgs.map((m) => [m.offset, m.data])),
            JSON.stringify([[1, 'after the restart']]), 'last=5 in the new epoch');
        }
      } finally {
        c.terminate();
      }
    }
    await h2.checkCleanExit();
  } finally {
    h2.kill();
  }
}

// ---- presence ----

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function hs256(secret, claims) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = b64url(crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

// GET /presence/ROOM on the admin listener, on a connection of its own
// that closes after the answer (an idle keep-alive one would hold the
// hub's drain at SIGTERM until the client let it go).
function adminPresence(hub, room) {
  return within(new Promise((resolve, reject) => {
    http.get({ host: HOST, port: hub.adminPort, path: `/presence/${encodeURIComponent(room)}`,
      agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        try {
          checkEq(res.statusCode, 200, 'GET /presence status');
          check(/application\/json/.test(res.headers['content-type'] || ''),
            `GET /presence content-type ${res.headers['content-type']}`);
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e);
        }
      });
    }).on('error', reject);
  }), TIMEOUT_MS, 'GET /presence');
}

// The observer's view of a room: its member set, kept from the presence
// line and every join and leave after it, each checked against the set.
class View {
  constructor() { this.set = new Map(); this.count = null; this.listed = false; this.lines = []; }

  take(m, room) {
    this.lines.push(m);
    checkEq(m.room, room, `${m.type} line's room`);
    check(Number.isInteger(m.count) && m.count >= 0, `${m.type} line's count ${m.count}`);
    if (m.type === 'presence') {
      this.listed = Array.isArray(m.members);
      this.set = new Map(this.listed ? m.members.map((x) => [x.id, x.sub]) : []);
      if (this.listed) {
        checkEq(this.set.size, m.members.length, 'presence: ids listed twice');
        checkEq(m.members.length, m.count, 'presence: members listed vs count');
      }
    } else {
      check(typeof m.id === 'string' && /^[0-9a-f]+$/.test(m.id), `${m.type}: id ${JSON.stringify(m.id)}`);
      // A snapshot (made by another thread) and a join or leave line
      // can cross: a join of a listed member and a leave of one not
      // listed are no-ops (docs/PROTOCOL.md); the snapshot after the
      // last change settles it, which the end of the churn checks.
      if (m.type === 'join') {
        if (this.set.has(m.id)) checkEq(this.set.get(m.id), m.sub, `join of ${m.id}: its sub`);
        this.set.set(m.id, m.sub);
      } else {
        if (this.set.has(m.id)) checkEq(this.set.get(m.id), m.sub, `leave of ${m.id}: its sub`);
        this.set.delete(m.id);
      }
    }
    this.count = m.count;
  }
}

async function churn(hub, secret) {
  const room = `churn-${crypto.randomBytes(3).toString('hex')}`;
  const exp = Math.floor(Date.now() / 1000) + 600;
  const tokenFor = (sub) => ({ Authorization: `Bearer ${hs256(secret, { sub, exp, rooms: [room] })}` });

  const obs = await Member.open(hub.url(`/ws/${room}`), tokenFor('observer'));
  const members = [];
  try {
    await obs.joining();
    const view = new View();
    view.take(await obs.next('the observer\'s presence line', 'presence'), room);
    checkEq(view.count, 1, 'the observer alone: count');
    checkEq(JSON.stringify([...view.set.values()]), JSON.stringify(['observer']), 'the observer alone: members');
    const obsId = [...view.set.keys()][0];
    obs.follow('presence', (m) => {
      try {
        if (!view.error) view.take(m, room);
      } catch (e) {
        view.error = e;
      }
    });

    // 20 members: every fourth anonymous (no token), half of them v1;
    // each joins at a random moment in 1.5 s, and 10 of them leave at a
    // random moment after, by a close handshake or a cut socket.
    const plan = Array.from({ length: 20 }, (_, i) => ({
      i, sub: i % 4 === 3 ? null : `m${i}`, v1: i % 2 === 0,
      joinAt: Math.floor(rand() * 1500), leaves: false, cut: rand() < 0.5,
    }));
    const order = plan.map((x) => x.i).sort(() => rand() - 0.5);
    for (const i of order.slice(0, 10)) plan[i].leaves = true;
    for (const x of plan) x.leaveAt = x.joinAt + 100 + Math.floor(rand() * 900);
    const t0 = Date.now();
    await Promise.all(plan.map(async (x) => {
      await sleep(x.joinAt);
      const url = hub.url(`/ws/${room}`);
      const h = x.sub ? tokenFor(x.sub) : undefined;
      const c = x.v1 ? await Member.open(url, h) : await openPlain(url, h);
      members.push(c);
      if (!x.leaves) return;
      await sleep(Math.max(0, x.leaveAt - (Date.now() - t0)));
      if (x.cut) c.ws._socket.destroy();
      else c.ws.close(1000);
      await within(c.closed, TIMEOUT_MS, `member ${x.i} closed`);
    }));
    const stay = plan.filter((x) => !x.leaves);
    const want = ['observer', ...stay.map((x) => x.sub)].map(String).sort();

    // The hub may see a cut socket a moment later, and a join or leave
    // line that crossed a snapshot leaves the set wrong until the next
    // snapshot (at most a second after the last change): wait for the
    // view to settle on the expected count and set.
    const until = Date.now() + TIMEOUT_MS;
    while ((view.count !== want.length || view.set.size !== want.length) &&
           !view.error && Date.now() < until) await sleep(20);
    await sleep(200);                 // and a stray line after it would show
    if (view.error) throw view.error;
    checkEq(view.count, want.length, 'the observer\'s count once the churn is over');
    checkEq(view.set.size, want.length, 'the observer\'s member set size');
    checkEq(JSON.stringify([...view.set.values()].map(String).sort()), JSON.stringify(want),
      'the observer\'s member subs (null: anonymous)');
    check(view.set.has(obsId), 'the observer left its own view');

    const adm = await adminPresence(hub, room);
    checkEq(adm.count, want.length, 'GET /presence count');
    checkEq(adm.truncated, false, 'GET /presence truncated');
    checkEq(JSON.stringify(adm.members.map((x) => x.id).sort()), JSON.stringify([...view.set.keys()].sort()),
      'GET /presence ids vs the observer\'s');
    for (const x of adm.members) checkEq(x.sub, view.set.get(x.id), `member ${x.id}'s sub`);
    const joins = view.lines.filter((m) => m.type === 'join').length;
    const leaves = view.lines.filter((m) => m.type === 'leave').length;
    checkEq(JSON.stringify([joins, leaves]), JSON.stringify([20, 10]), 'join and leave lines seen');
  } finally {
    for (const c of members) c.terminate();
    obs.terminate();
  }
}

// --presence-max 5: past 5 members, no join/leave lines, and count lines
// at most about once a second; a newcomer's presence line has no list.
async function overMax(hub) {
  const room = `big-${crypto.randomBytes(3).toString('hex')}`;
  const MAX = 5;
  const obs = await Member.open(hub.url(`/ws/${room}`));
  const members = [];
  try {
    await obs.joining();
    const first = await obs.next('the observer\'s presence line', 'presence');
    checkEq(JSON.stringify([first.type, first.count, (first.members || []).length]),
      JSON.stringify(['presence', 1, 1]), 'the observer alone');
    const lines = [];
    obs.follow('presence', (m) => lines.push(m));
    const settle = async (n, what) => {
      const until = Date.now() + TIMEOUT_MS;
      while (Date.now() < until && !(lines.length && lines[lines.length - 1].count === n)) await sleep(20);
      check(lines.length && lines[lines.length - 1].count === n,
        `${what}: the last line's count is ${lines.length ? lines[lines.length - 1].count : 'none'}, want ${n}`);
    };
    // 12 more, one every 100 ms: 13 members.
    for (let i = 0; i < 12; i++) {
      members.push(await openPlain(hub.url(`/ws/${room}`)));
      await sleep(100);
    }
    await settle(13, 'after 12 joins');
    const late = await Member.open(hub.url(`/ws/${room}`));
    members.push(late);
    await late.joining();
    const lp = await late.next('the late member\'s presence line', 'presence');
    checkEq(JSON.stringify([lp.type, lp.count, 'members' in lp]), JSON.stringify(['presence', 14, false]),
      'a newcomer to a room over --presence-max: presence count, no list');
    await settle(14, 'after the late join');
    // Back down to 3: the leaves that take the room to 5 and below are
    // announced again.
    for (let i = 0; i < 11; i++) {
      members[i].ws.close(1000);
      await within(members[i].closed, TIMEOUT_MS, `member ${i} closed`);
      await sleep(50);
    }
    await settle(3, 'after 11 leaves');
    await sleep(1300 * SLOW);          // the snapshot after the last change
    for (const m of lines) {
      checkEq(m.room, room, 'a presence line\'s room');
      if (m.type === 'join' || m.type === 'leave') {
        check(m.count <= MAX, `a ${m.type} line with count ${m.count} > --presence-max ${MAX}`);
      } else {
        checkEq(m.type, 'presence', 'line type');
        check(!('members' in m) || m.count <= MAX, `a presence line with members in a room of ${m.count}`);
      }
    }
    // Measured where they arrive: one line held up on the way and the
    // next not shortens a gap, more so against a sanitizer build.
    const counts = lines.filter((m) => m.type === 'presence');
    const minGap = SLOW > 1 ? 500 : 800;
    for (let i = 1; i < counts.length; i++) {
      const dt = counts[i].at - counts[i - 1].at;
      check(dt >= minGap, `count lines ${dt} ms apart (${counts[i - 1].count} -> ${counts[i].count}): ` +
        'more than one a second');
    }
    check(counts.length >= 2, `${counts.length} count lines while the room was over --presence-max`);
    // Back under the limit: the snapshot lists the members again, which
    // a member that joined while the room was big never had.
    const last = counts[counts.length - 1];
    checkEq(JSON.stringify([last.count, Array.isArray(last.members) && last.members.length]),
      JSON.stringify([3, 3]), 'the snapshot once the room is small again lists its 3 members');
    check(lines.filter((m) => m.type === 'join').length === MAX - 1,
      `join lines: ${lines.filter((m) => m.type === 'join').map((m) => m.count)}, want counts 2..${MAX}`);
  } finally {
    for (const c of members) c.terminate();
    obs.terminate();
  }
}

// ---- main ----

main('test_node_v1.js', async (binary) => {
  console.log(`seed ${SEED} (RC_SEED=${SEED} replays the churn)`);
  const hub = watch(await Hub.start(binary, '--history-size', '100'));
  try {
    await run('history on join: ?last=K gives the last K in order, then joined, then live', newcomer, hub);
    await run('TCP cut mid-stream: back with epoch/offset, every message once and in order', tcpCut, hub);
    await run('hub exits 0 on SIGTERM', () => hub.checkCleanExit());
  } finally {
    hub.kill();
  }

  const small = watch(await Hub.start(binary, '--history-size', '20'));
  const room = `old-${crypto.randomBytes(3).toString('hex')}`;
  const state = { E: 0 };
  try {
    await run('--history-size 20: an offset out of the window gives recovered:false', oldOffset, small, room, state);
    await run('a restarted hub (a new epoch) gives recovered:false', () => restarted(binary, small, room, state.E));
  } finally {
    small.kill();
  }

  const secret = crypto.randomBytes(16).toString('hex');
  const ph = watch(await Hub.start(binary, '--auth-secret', secret, '--auth', 'optional',
    '--presence-max', '100'));
  try {
    await run('presence under churn: 20 members join and leave, the observer\'s view ends right', churn, ph, secret);
    await run('hub exits 0 on SIGTERM', () => ph.checkCleanExit());
  } finally {
    ph.kill();
  }
  const big = watch(await Hub.start(binary, '--presence-max', '5'));
  try {
    await run('over --presence-max: count lines only, at most about one a second', overMax, big);
    await run('hub exits 0 on SIGTERM', () => big.checkCleanExit());
  } finally {
    big.kill();
  }
});
