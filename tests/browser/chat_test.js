#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// chat_test.js -- headless-Chromium test of the hub's chat page.
//
//   node tests/browser/chat_test.js /path/to/ringcast
//
// Starts the hub on a free port (--history-size 100), opens the chat page
// (GET /) in Debian's Chromium driven by playwright-core: two pages in one
// room, a third in another room. A message typed in one page must appear in
// the other (and in the sender's own list), and never in the other room. The
// page speaks ringcast.v1 (docs/PROTOCOL.md):
//
// - history on join: a page opened (or switched to the room) after messages
//   were posted shows them, in order, with their offsets;
// - presence: two pages in a room both list 2 members (count 2); one closes,
//   the other shows its leave (count 1, one member listed);
// - a TCP cut mid-stream: a page behind a small TCP proxy while a node ws
//   publisher posts numbered messages every 20 ms; the proxy destroys the
//   page's sockets, the page comes back through it with its epoch and offset
//   and finally shows every number exactly once and in order, with no
//   "could not be recovered" notice and no gap.
//
// Then SIGTERM must make the hub exit 0.
//
// Then the same over TLS: a hub whose listener speaks TLS (certificates made
// by tests/interop/tlsutil.py with the openssl command, in a temporary
// directory), the page at https://localhost:PORT/ (ignoreHTTPSErrors: the
// test CA is not in Chromium's store), its WebSockets on wss://, two pages
// in one room exchanging messages.
//
// Exit status: 0 all passed, 1 any failure, 77 skipped (playwright-core or
// /usr/bin/chromium not installed; scripts/setup installs both).
'use strict';

const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const CHROMIUM = '/usr/bin/chromium';
const OVERALL_TIMEOUT_MS = 120000;
const MSG_TIMEOUT_MS = 5000;

// ---- skip when the tools are not installed ---------------------------------
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.log('SKIP: playwright-core is not installed ' +
              '(run scripts/setup, or npm ci in tests/browser)');
  process.exit(77);
}
// node's ws (Debian node-ws), the publisher of the TCP-cut case.
let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  console.log('SKIP: node ws is not installed (NODE_PATH=/usr/share/nodejs?)');
  process.exit(77);
}
if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} is missing (run scripts/setup: apt-get install chromium)`);
  process.exit(77);
}

const hubPath = process.argv[2];
if (!hubPath) {
  console.log('usage: node chat_test.js /path/to/ringcast');
  process.exit(1);
}

// ---- bookkeeping -------------------------------------------------------------
let passed = 0, failed = 0;
let hub = null, hubOutput = '', hubExit = null, adminPort = 0;
let browser = null;
let finishing = false;

// After the overall timeout fired, late results of the aborted run are noise.
function pass(name) { if (finishing) return; passed++; console.log(`ok   - ${name}`); }
function fail(name, err) {
  if (finishing) return;
  failed++;
  const msg = (err && err.message ? err.message : String(err)).split('\n')[0];
  console.log(`FAIL - ${name}: ${msg}`);
}

async function check(name, fn) {
  try { await fn(); pass(name); return true; } catch (e) { fail(name, e); return false; }
}

// A setup step everything after it depends on: on failure stop here.
class Abort extends Error {}
async function must(name, fn) {
  if (!(await check(name, fn))) throw new Abort(name);
}

const sleep = ms => new Promise(r => setTimeout(r, ms));
function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => {
    t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(t));
}

async function cleanup() {
  if (browser) {
    const b = browser; browser = null;
    await withTimeout(b.close(), 5000, 'browser close').catch(() => {});
  }
  if (hub && hubExit === null) {
    try { hub.kill('SIGKILL'); } catch (e) { /* gone */ }
  }
}

async function finish() {
  if (finishing) return;
  finishing = true;
  await cleanup();
  if (failed && hubOutput.trim()) {
    console.log('--- hub output ---\n' + hubOutput.trimEnd().split('\n').slice(-30).join('\n'));
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed || passed === 0 ? 1 : 0);
}

const overall = setTimeout(() => {
  fail('overall', new Error(`test did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`));
  finish();
}, OVERALL_TIMEOUT_MS);
overall.unref();

// ---- the hub -------------------------------------------------------------------
// The admin listener (/metrics) on any free port: its default, 9090, is
// not for tests that may run beside others.
function startHub(extra = []) {
  hubExit = null;
  return new Promise((resolve, reject) => {
    hub = spawn(hubPath, ['--port', '0', '--threads', '2', '--admin-port', '0', ...extra],
                { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '', done = false;
    const t = setTimeout(() => {
      if (!done) { done = true; reject(new Error('no "listening on" and "admin on" lines within 10 s')); }
    }, 10000);
    hub.on('error', e => { if (!done) { done = true; clearTimeout(t); reject(e); } });
    hub.on('exit', (code, sig) => {
      hubExit = { code, sig };
      if (!done) {
        done = true; clearTimeout(t);
        reject(new Error(`hub exited early (code ${code}, signal ${sig})`));
      }
    });
    hub.stderr.on('data', d => { hubOutput += d; });
    hub.stdout.on('data', d => {
      hubOutput += d;
      buf += d;
      const m = /listening on \S*:(\d+)/.exec(buf);
      const a = /ringcast: admin on \S*:(\d+)/.exec(buf);
      if (m && a && !done) {
        done = true; clearTimeout(t);
        adminPort = Number(a[1]);
        resolve(Number(m[1]));
      }
    });
  });
}

function stopHub() {
  return new Promise((resolve, reject) => {
    if (hubExit) return resolve(hubExit);
    const t = setTimeout(() => reject(new Error('hub still running 10 s after SIGTERM')), 10000);
    hub.once('exit', (code, sig) => { clearTimeout(t); resolve({ code, sig }); });
    hub.kill('SIGTERM');
  });
}

// ---- page helpers --------------------------------------------------------------
const pageErrors = [];

// base: 'http://127.0.0.1:PORT' or 'https://localhost:PORT'; sockets, if
// given, collects the URL of every WebSocket the page opens.
async function openChat(port, room, label, base = `http://127.0.0.1:${port}`, sockets = null) {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 600 },
                                         ignoreHTTPSErrors: base.startsWith('https:') });
  // Every WebSocket the page makes, kept where the test can read its
  // negotiated extensions (the page holds its own in a closure).
  await ctx.addInitScript(() => {
    const Native = window.WebSocket;
    window.__rcSockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) { super(...args); window.__rcSockets.push(this); }
    };
  });
  const page = await ctx.newPage();
  page.on('pageerror', e => pageErrors.push(`${label}: ${e.message}`));
  if (sockets) page.on('websocket', ws => sockets.push(ws.url()));
  await page.goto(`${base}/#${encodeURIComponent(room)}`,
                  { waitUntil: 'load', timeout: 10000 });
  return page;
}

function waitOpen(page, who) {
  return page.waitForFunction(() => {
    const s = document.querySelector('#status');
    return !!s && /\bopen\b/.test(s.textContent);
  }, null, { timeout: 10000 }).catch(async () => {
    const st = await page.textContent('#status').catch(() => '?');
    throw new Error(`${who}: #status not "open" within 10 s; it says "${st}"`);
  });
}

// Every .msg line's text, in order.
function lines(page) {
  return page.$$eval('#messages .msg', els => els.map(e => e.textContent));
}

// The room messages shown (notices left out): [offset, text] in order.
function shown(page) {
  return page.$$eval('#messages .msg[data-offset]',
                     els => els.map(e => [Number(e.dataset.offset), e.textContent]));
}

// The page shows exactly want (lines, in order) as the room's messages,
// numbered 1, 2, 3... and no notice.
async function assertShown(page, want, who) {
  const got = await shown(page);
  const texts = got.map(x => x[1]), offs = got.map(x => x[0]);
  if (JSON.stringify(texts) !== JSON.stringify(want)) {
    let i = 0;
    while (i < want.length && texts[i] === want[i]) i++;
    const cut = a => JSON.stringify(a.slice(Math.max(0, i - 1), i + 3).map(t => t.slice(0, 80)));
    throw new Error(`${who} shows ${texts.length} messages, want ${want.length}; from line ${i + 1} ` +
                    `it shows ${cut(texts)}, want ${cut(want)}`);
  }
  if (offs.some((o, i) => o !== i + 1)) throw new Error(`${who}: offsets ${offs}`);
  const notes = await notices(page);
  if (notes.length) throw new Error(`${who} shows notices: ${JSON.stringify(notes)}`);
}

function notices(page) {
  return page.$$eval('#messages [data-notice]', els => els.map(e => `${e.dataset.notice}: ${e.textContent}`));
}

// The members sidebar once it shows n (count and list): the ids listed.
async function waitMembers(page, n, who) {
  try {
    await page.waitForFunction(k =>
      document.querySelector('#member-count').dataset.count === String(k) &&
      document.querySelectorAll('#member-list li[data-id]').length === k,
    n, { timeout: MSG_TIMEOUT_MS });
  } catch (e) {
    const st = await page.evaluate(() => [document.querySelector('#member-count').dataset.count,
      Array.from(document.querySelectorAll('#member-list li')).map(l => l.textContent)]).catch(() => '?');
    throw new Error(`${who}: members not ${n} within ${MSG_TIMEOUT_MS} ms: count, list ${JSON.stringify(st)}`);
  }
  return page.$$eval('#member-list li[data-id]', els => els.map(e => e.dataset.id).sort());
}

function waitLine(page, line, who) {
  return page.waitForFunction(l =>
    Array.from(document.querySelectorAll('#messages .msg')).some(e => e.textContent === l),
  line, { timeout: MSG_TIMEOUT_MS }).catch(async () => {
    throw new Error(`${who}: "${line}" not shown within ${MSG_TIMEOUT_MS} ms; ` +
                    `has ${JSON.stringify(await lines(page).catch(() => '?'))}`);
  });
}

async function typeAndEnter(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

// The extensions of the page's open WebSocket(s): each must have
// negotiated permessage-deflate (Chromium offers it; the hub accepts).
async function assertDeflate(page, who) {
  const exts = await page.evaluate(() =>
    window.__rcSockets.filter(s => s.readyState === 1).map(s => s.extensions));
  if (exts.length !== 1) throw new Error(`${who}: ${exts.length} open WebSockets`);
  if (!/(^|,\s*)permessage-deflate(;|,|$)/.test(exts[0])) {
    throw new Error(`${who}: WebSocket extensions "${exts[0]}", want permessage-deflate`);
  }
}

async function adminMetrics() {
  const res = await withTimeout(fetch(`http://127.0.0.1:${adminPort}/metrics`), 5000,
                                'GET /metrics (admin port)');
  if (res.status !== 200) throw new Error(`admin /metrics status ${res.status}`);
  return res.text();
}

async function assertAbsent(page, needle, who) {
  const got = await lines(page);
  if (got.some(l => l.includes(needle))) {
    throw new Error(`${who} received "${needle}": ${JSON.stringify(got)}`);
  }
}

function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20000,
    // playwright gives it a fresh, temporary --user-data-dir itself.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
           '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
}

// ---- the cases -------------------------------------------------------------------
async function main() {
  const tag = crypto.randomBytes(4).toString('hex');
  const room = `room-${tag}`, other = `other-${tag}`;
  let port, a, b, c, nickA, nickB, nickC;

  await must('hub starts and prints its port', async () => {
    // Rooms remember their last 100 messages (said here: the default
    // is not this test's to rely on).
    port = await startHub(['--history-size', '100']);
    if (!(port > 0 && port < 65536)) throw new Error(`bad port ${port}`);
  });

  await must('GET / serves the chat page', async () => {
    const res = await withTimeout(fetch(`http://127.0.0.1:${port}/`), 5000, 'GET /');
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    const ct = res.headers.get('content-type') || '';
    if (!/text\/html/i.test(ct)) throw new Error(`content-type "${ct}"`);
    const body = await res.text();
    for (const id of ['room', 'join', 'nick', 'text', 'send', 'messages', 'status']) {
      if (!body.includes(`id="${id}"`)) throw new Error(`page has no #${id}`);
    }
  });

  await must('Chromium starts', async () => { browser = await launchBrowser(); });

  await must(`three pages connect (two in ${room}, one in ${other})`, async () => {
    a = await openChat(port, room, 'page 1');
    b = await openChat(port, room, 'page 2');
    c = await openChat(port, other, 'page 3');
    await Promise.all([waitOpen(a, 'page 1'), waitOpen(b, 'page 2'), waitOpen(c, 'page 3')]);
    nickA = await a.inputValue('#nick');
    nickB = await b.inputValue('#nick');
    nickC = await c.inputValue('#nick');
    if (!nickA || !nickB) throw new Error('empty default nick');
    if (nickA === nickB) {       // 1 in 9000; make them distinct
      nickB += '-b';
      await b.fill('#nick', nickB);
    }
    const roomShown = await a.inputValue('#room');
    if (roomShown !== room) throw new Error(`#room shows "${roomShown}", want "${room}"`);
  });

  const m1 = `hello from page 1 ${crypto.randomBytes(6).toString('hex')}`;
  await check('page 1 -> page 2 (and echoed to page 1)', async () => {
    await typeAndEnter(a, m1);
    await Promise.all([waitLine(b, `${nickA}: ${m1}`, 'page 2'),
                       waitLine(a, `${nickA}: ${m1}`, 'page 1')]);
    if ((await a.inputValue('#text')) !== '') throw new Error('input not cleared after send');
  });

  const m2 = `reply from page 2 ${crypto.randomBytes(6).toString('hex')}`;
  await check('page 2 -> page 1 (and echoed to page 2)', async () => {
    await b.fill('#text', m2);
    await b.click('#send');
    await Promise.all([waitLine(a, `${nickB}: ${m2}`, 'page 1'),
                       waitLine(b, `${nickB}: ${m2}`, 'page 2')]);
  });

  await check('both pages\' WebSockets negotiated permessage-deflate', async () => {
    await assertDeflate(a, 'page 1');
    await assertDeflate(b, 'page 2');
  });

  // Long enough (over --deflate-min-size) and repetitive: the hub
  // inflates Chromium's compressed frame and sends a compressed one.
  const long = `compressed ${tag} ` + 'la la la lalala, '.repeat(120) + crypto.randomBytes(6).toString('hex');
  await check('a 2 KB message flows compressed page 1 -> page 2', async () => {
    const before = await adminMetrics();
    await typeAndEnter(a, long);
    await Promise.all([waitLine(b, `${nickA}: ${long}`, 'page 2'),
                       waitLine(a, `${nickA}: ${long}`, 'page 1')]);
    const after = await adminMetrics();
    for (const name of ['ringcast_inflate_out_bytes_total', 'ringcast_deflate_in_bytes_total']) {
      const d = metric(after, name) - metric(before, name);
      if (!(d >= long.length)) throw new Error(`${name} grew by ${d}, want >= ${long.length}`);
    }
    const din = metric(after, 'ringcast_deflate_in_bytes_total') - metric(before, 'ringcast_deflate_in_bytes_total');
    const dout = metric(after, 'ringcast_deflate_out_bytes_total') - metric(before, 'ringcast_deflate_out_bytes_total');
    if (!(dout > 0 && dout * 4 < din)) throw new Error(`deflate out grew by ${dout} for ${din} in`);
  });

  const m3 = `<img src=x onerror="window.__xss=1">&amp; ${tag}`;
  await check('markup in a message is shown as text', async () => {
    await typeAndEnter(a, m3);
    await waitLine(b, `${nickA}: ${m3}`, 'page 2');
    const bad = await b.evaluate(() =>
      !!document.querySelector('#messages img') || window.__xss === 1);
    if (bad) throw new Error('message text was parsed as HTML');
  });

  await check(`page 3 in ${other} got none of ${room}'s messages`, async () => {
    await sleep(300);        // let any stray delivery land
    for (const m of [m1, m2, m3]) await assertAbsent(c, m, 'page 3');
    const got = await lines(c);
    if (got.length) throw new Error(`page 3 shows ${JSON.stringify(got)}`);
  });

  // What the room holds so far, in order, as the pages show it.
  const said = [`${nickA}: ${m1}`, `${nickB}: ${m2}`, `${nickA}: ${long}`, `${nickA}: ${m3}`];

  const m0 = `in ${other} before switching ${crypto.randomBytes(6).toString('hex')}`;
  const m4 = `after switching rooms ${crypto.randomBytes(6).toString('hex')}`;
  await check(`page 3 switches to ${room} with #join: its history in order, then page 2 live`, async () => {
    await typeAndEnter(c, m0);
    await waitLine(c, `${nickC}: ${m0}`, 'page 3');
    await c.fill('#room', room);
    await c.click('#join');
    await waitOpen(c, 'page 3');
    // "open" comes with the joined line: the history is shown by then,
    // and the page is subscribed.
    await assertShown(c, said, 'page 3 (history after the switch)');
    await typeAndEnter(b, m4);
    await Promise.all([waitLine(c, `${nickB}: ${m4}`, 'page 3'),
                       waitLine(a, `${nickB}: ${m4}`, 'page 1')]);
    await assertAbsent(c, m0, 'page 3 (its old room after the switch)');
    await assertShown(c, [...said, `${nickB}: ${m4}`], 'page 3');
  });
  said.push(`${nickB}: ${m4}`);

  await check('history on join: page 4, opened after pages 1 and 2 posted, shows their messages in order', async () => {
    const d = await openChat(port, room, 'page 4');
    try {
      await waitOpen(d, 'page 4');
      await assertShown(d, said, 'page 4');
    } finally {
      await d.context().close();
    }
  });

  await check('presence: two pages list 2 members (count 2); one closes, the other shows its leave', async () => {
    const pr = `presence-${tag}`;
    const p = await openChat(port, pr, 'page 5');
    let q = null;
    try {
      await waitOpen(p, 'page 5');
      const [self] = await waitMembers(p, 1, 'page 5 alone');
      q = await openChat(port, pr, 'page 6');
      await waitOpen(q, 'page 6');
      const [ip, iq] = await Promise.all([waitMembers(p, 2, 'page 5'), waitMembers(q, 2, 'page 6')]);
      if (ip.join() !== iq.join() || !ip.includes(self)) {
        throw new Error(`member ids: page 5 ${ip}, page 6 ${iq} (page 5 is ${self})`);
      }
      await q.context().close();
      q = null;
      const left = await waitMembers(p, 1, 'page 5 after page 6 closed');
      if (left[0] !== self) throw new Error(`page 5 lists ${left}, want itself (${self})`);
    } finally {
      if (q) await q.context().close();
      await p.context().close();
    }
  });

  await check('a TCP cut mid-stream: page 7 behind a proxy comes back with every number once, in order; ' +
              'then a restarted hub: the "could not be recovered" notice',
              () => cutCase(port, tag));

  await check('screenshot of page 2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringcast-chat-'));
    const file = path.join(dir, 'page2.png');
    await b.screenshot({ path: file });
    if (fs.statSync(file).size < 1000) throw new Error(`${file} is suspiciously small`);
    console.log(`     screenshot: ${file}`);
  });

  await check('no script errors on the pages', async () => {
    if (pageErrors.length) throw new Error(pageErrors.join('; '));
  });

  const bb = browser; browser = null;
  await withTimeout(bb.close(), 5000, 'browser close').catch(() => {});

  await check('SIGTERM: hub exits 0', async () => {
    const { code, sig } = await stopHub();
    if (code !== 0) throw new Error(`exit code ${code}, signal ${sig}`);
  });

  await tlsCases(tag);
}

// ---- a TCP cut mid-stream ----------------------------------------------------------
// A TCP proxy on a free port to a hub's (target, which may change):
// destroyAll() cuts every connection through it both ways at once, as a
// lost network would (no close frame).
function startProxy(target) {
  const pairs = new Set();
  const proxy = { target };
  const server = net.createServer(client => {
    const up = net.connect(proxy.target, '127.0.0.1');
    const pair = { client, up };
    pairs.add(pair);
    const end = () => { client.destroy(); up.destroy(); pairs.delete(pair); };
    client.on('error', end); up.on('error', end);
    client.on('close', end); up.on('close', end);
    client.pipe(up); up.pipe(client);
  });
  const destroyAll = () => {
    const n = pairs.size;
    for (const p of [...pairs]) { p.client.destroy(); p.up.destroy(); pairs.delete(p); }
    return n;
  };
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(Object.assign(proxy, {
      port: server.address().port,
      destroyAll,
      close: () => { server.close(); destroyAll(); },
    })));
  });
}

// A second hub, apart from the one startHub() keeps: { proc, port }.
function spawnHub(extra) {
  const proc = spawn(hubPath, ['--port', '0', '--threads', '2', '--admin-port', 'off', ...extra],
                     { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', d => { out += d; });
  proc.stderr.on('data', d => { out += d; });
  return withTimeout(new Promise((resolve, reject) => {
    proc.on('exit', code => reject(new Error(`second hub exited ${code}: ${out}`)));
    proc.stdout.on('data', () => {
      const m = /listening on \S*:(\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]) });
    });
  }), 10000, 'the second hub\'s "listening on" line').catch(e => { proc.kill('SIGKILL'); throw e; });
}

// A node ws member of room straight on the hub (not through the proxy).
function openPublisher(port, room) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${encodeURIComponent(room)}`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  }), 5000, 'the publisher\'s WebSocket');
}

async function cutCase(port, tag) {
  const room = `cut-${tag}`, N = 100;
  const proxy = await startProxy(port);
  const urls = [];
  let page = null, pub = null, timer = null;
  try {
    page = await openChat(proxy.port, room, 'page 7', `http://127.0.0.1:${proxy.port}`, urls);
    await waitOpen(page, 'page 7');
    pub = await openPublisher(port, room);
    let sent = 0;
    const sending = new Promise(resolve => {
      timer = setInterval(() => {
        if (sent === N) { clearInterval(timer); resolve(); return; }
        pub.send(JSON.stringify({ nick: 'pub', text: `${tag} #${++sent}` }));
      }, 20);
    });
    await page.waitForFunction(() => document.querySelectorAll('#messages .msg[data-offset]').length >= 30,
                               null, { timeout: MSG_TIMEOUT_MS });
    const cut = proxy.destroyAll(), sentAtCut = sent;
    if (!cut) throw new Error('no connection through the proxy to cut');
    await sending;
    if (sentAtCut > N - 20) throw new Error(`the cut came late: ${sentAtCut} of ${N} sent`);
    const last = `pub: ${tag} #${N}`;
    await page.waitForFunction(l =>
      Array.from(document.querySelectorAll('#messages .msg')).some(e => e.textContent === l),
    last, { timeout: 10000 }).catch(async () => {
      throw new Error(`"${last}" not shown within 10 s; the last lines: ` +
                      JSON.stringify((await lines(page).catch(() => [])).slice(-5)));
    });
    await sleep(100);        // a repeat after the last would show now
    await assertShown(page, Array.from({ length: N }, (_, i) => `pub: ${tag} #${i + 1}`), 'page 7');
    // It did come back, through the proxy, from where it was.
    const again = urls.slice(1);
    if (!again.length || !again.every(u => /[?&]epoch=\d+&offset=\d+&last=50$/.test(u))) {
      throw new Error(`the page's WebSocket URLs: ${JSON.stringify(urls)}`);
    }

    // The hub "restarts" (another one behind the same address: a new
    // epoch): the page comes back unrecovered, says so, and replaces its
    // list with the new hub's (empty) history; then the room goes on.
    const h2 = await spawnHub(['--history-size', '100']);
    let pub2 = null;
    try {
      proxy.target = h2.port;
      proxy.destroyAll();
      await page.waitForFunction(() => !!document.querySelector('#messages [data-notice="unrecovered"]'),
                                 null, { timeout: MSG_TIMEOUT_MS }).catch(async () => {
        throw new Error(`no "could not be recovered" notice after the hub changed; the last lines: ` +
                        JSON.stringify((await lines(page).catch(() => [])).slice(-3)));
      });
      await waitOpen(page, 'page 7 on the second hub');
      const left = await lines(page);
      if (left.length !== 1 || !/some messages could not be recovered/.test(left[0])) {
        throw new Error(`after an unrecovered return page 7 shows ${JSON.stringify(left.slice(0, 3))}`);
      }
      pub2 = await openPublisher(h2.port, room);
      pub2.send(JSON.stringify({ nick: 'pub', text: `${tag} on the second hub` }));
      await waitLine(page, `pub: ${tag} on the second hub`, 'page 7');
      const after = await shown(page);
      const notes = await notices(page);
      if (after.length !== 1 || after[0][0] !== 1 || notes.length !== 1) {
        throw new Error(`page 7 on the second hub: messages ${JSON.stringify(after)}, notices ${JSON.stringify(notes)}`);
      }
    } finally {
      if (pub2) pub2.terminate();
      h2.proc.kill('SIGKILL');
    }
  } finally {
    clearInterval(timer);
    if (pub) pub.terminate();
    proxy.close();
    if (page) await page.context().close();
  }
}

// ---- the same over TLS -------------------------------------------------------------
function makeCerts(dir) {
  const tool = path.join(__dirname, '..', 'interop', 'tlsutil.py');
  let last;
  for (const py of [process.env.PYTHON3, '/usr/bin/python3', 'python3']) {
    if (!py) continue;
    try {
      return JSON.parse(execFileSync(py, [tool, dir],
                                     { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 }));
    } catch (e) {
      last = e;
      if (e.code !== 'ENOENT') break;
    }
  }
  throw new Error(`tlsutil.py could not make certificates: ${last && last.message}`);
}

function httpsGet(port, urlPath, ca) {
  return withTimeout(new Promise((resolve, reject) => {
    require('https').get({ host: '127.0.0.1', port, path: urlPath, ca, servername: 'localhost',
                           agent: false }, res => {
      let body = '';
      res.on('data', d => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  }), 5000, `https GET ${urlPath}`);
}

function metric(body, name) {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

async function tlsCases(tag) {
  const room = `tls-room-${tag}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringcast-chat-tls-'));
  const sockets = [];
  let certs, port, a, b, nickA, nickB;
  try {
    await must('TLS: certificates made (tlsutil.py)', async () => { certs = makeCerts(dir); });

    await must('TLS: hub starts with its listener on TLS', async () => {
      port = await startHub(['--tls-cert', certs.localhost.cert, '--tls-key', certs.localhost.key]);
      if (!/\(tls, /.test(hubOutput)) throw new Error(`start-up line: ${hubOutput.split('\n')[0]}`);
    });

    await must('TLS: https GET / serves the chat page', async () => {
      const r = await httpsGet(port, '/', fs.readFileSync(certs.ca.cert));
      if (r.status !== 200 || !r.body.includes('id="messages"')) {
        throw new Error(`status ${r.status}, ${r.body.length} bytes`);
      }
    });

    await must('TLS: Chromium starts', async () => { browser = await launchBrowser(); });

    const base = `https://localhost:${port}`;
    await must(`TLS: two pages at ${base}/ join ${room} over wss`, async () => {
      a = await openChat(port, room, 'tls page 1', base, sockets);
      b = await openChat(port, room, 'tls page 2', base, sockets);
      await Promise.all([waitOpen(a, 'tls page 1'), waitOpen(b, 'tls page 2')]);
      for (const p of [a, b]) {
        const proto = await p.evaluate(() => location.protocol);
        if (proto !== 'https:') throw new Error(`page protocol ${proto}`);
      }
      const want = `wss://localhost:${port}/ws/${room}?last=50`;
      if (sockets.length < 2 || !sockets.every(u => u === want)) {
        throw new Error(`WebSocket URLs ${JSON.stringify(sockets)}, want ${want}`);
      }
      nickA = await a.inputValue('#nick');
      nickB = await b.inputValue('#nick');
      if (nickA === nickB) { nickB += '-b'; await b.fill('#nick', nickB); }
    });

    const m1 = `over wss from page 1 ${crypto.randomBytes(6).toString('hex')}`;
    await check('TLS: page 1 -> page 2 (and echoed to page 1)', async () => {
      await typeAndEnter(a, m1);
      await Promise.all([waitLine(b, `${nickA}: ${m1}`, 'tls page 2'),
                         waitLine(a, `${nickA}: ${m1}`, 'tls page 1')]);
    });

    const m2 = `over wss from page 2 é€😀 ${crypto.randomBytes(6).toString('hex')}`;
    await check('TLS: page 2 -> page 1 (and echoed to page 2)', async () => {
      await b.fill('#text', m2);
      await b.click('#send');
      await Promise.all([waitLine(a, `${nickB}: ${m2}`, 'tls page 1'),
                         waitLine(b, `${nickB}: ${m2}`, 'tls page 2')]);
    });

    await check('TLS: both pages\' WebSockets negotiated permessage-deflate', async () => {
      await assertDeflate(a, 'tls page 1');
      await assertDeflate(b, 'tls page 2');
    });

    await check('TLS: the hub counted the TLS handshakes and WebSocket upgrades', async () => {
      // /metrics is on the admin listener (plain HTTP, loopback) only.
      const res = await withTimeout(fetch(`http://127.0.0.1:${adminPort}/metrics`), 5000,
                                    'GET /metrics (admin port)');
      const r = { status: res.status, body: await res.text() };
      if (r.status !== 200) throw new Error(`admin /metrics status ${r.status}`);
      const tls = metric(r.body, 'ringcast_tls_handshakes_total');
      const ws = metric(r.body, 'ringcast_handshakes_total');
      if (!(tls >= 4 && ws >= 2)) throw new Error(`tls_handshakes_total ${tls}, handshakes_total ${ws}`);
    });

    await check('TLS: no script errors on the pages', async () => {
      if (pageErrors.length) throw new Error(pageErrors.join('; '));
    });

    const bb = browser; browser = null;
    await withTimeout(bb.close(), 5000, 'browser close').catch(() => {});

    await check('TLS: SIGTERM: hub exits 0', async () => {
      const { code, sig } = await stopHub();
      if (code !== 0) throw new Error(`exit code ${code}, signal ${sig}`);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(e => {
  if (!(e instanceof Abort)) fail('unexpected error', e);
}).finally(finish);
