#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// origin_test.js -- headless Chromium against the hub's Origin policy and
// tokens (issue 12).
//
//   node tests/browser/origin_test.js /path/to/ringcast
//
// A second local HTTP server (node's http, another port: another origin)
// serves a page that opens ws://127.0.0.1:HUBPORT/... The browser sends
// that page's Origin, so the hub must refuse the upgrade (the page sees
// onerror and onclose, never onopen; the hub counts origin_refused), while
// the same code run on the hub's own page opens. A hub started with
// --allow-origin naming the other server lets that page in. Then the chat
// page with tokens (--auth-secret): pages opened with ?token= join and talk,
// each message shown as from its sender's verified sub; a page without a
// token is not let in.
//
// Exit status: 0 all passed, 1 any failure, 77 skipped (playwright-core or
// /usr/bin/chromium not installed; scripts/setup installs both).
'use strict';

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const CHROMIUM = '/usr/bin/chromium';
const OVERALL_TIMEOUT_MS = 120000;
const WAIT_MS = 5000;

let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.log('SKIP: playwright-core is not installed ' +
              '(run scripts/setup, or npm ci in tests/browser)');
  process.exit(77);
}
if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} is missing (run scripts/setup: apt-get install chromium)`);
  process.exit(77);
}

const hubPath = process.argv[2];
if (!hubPath) {
  console.log('usage: node origin_test.js /path/to/ringcast');
  process.exit(1);
}

// ---- bookkeeping -------------------------------------------------------------
let passed = 0, failed = 0, finishing = false;
let browser = null, other = null;
const hubs = [];

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

async function finish() {
  if (finishing) return;
  finishing = true;
  if (browser) await withTimeout(browser.close(), 5000, 'browser close').catch(() => {});
  if (other) other.close();
  for (const h of hubs) {
    if (h.exit === null) { try { h.proc.kill('SIGKILL'); } catch (e) { /* gone */ } }
  }
  if (failed) {
    for (const h of hubs) {
      if (h.output.trim()) {
        console.log(`--- hub ${h.port} output ---\n` +
                    h.output.trimEnd().split('\n').slice(-20).join('\n'));
      }
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed || passed === 0 ? 1 : 0);
}

const overall = setTimeout(() => {
  fail('overall', new Error(`test did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`));
  finish();
}, OVERALL_TIMEOUT_MS);
overall.unref();

// ---- hubs: the public port and the admin one (for /metrics) ---------------
function startHub(extra = []) {
  return new Promise((resolve, reject) => {
    const h = { proc: null, port: 0, admin: 0, output: '', exit: null };
    hubs.push(h);
    h.proc = spawn(hubPath, ['--port', '0', '--threads', '2', '--admin-port', '0', ...extra],
                   { stdio: ['ignore', 'pipe', 'pipe'] });
    let done = false;
    const t = setTimeout(() => {
      if (!done) { done = true; reject(new Error('no "listening on" + "admin on" lines within 10 s')); }
    }, 10000);
    h.proc.on('error', e => { if (!done) { done = true; clearTimeout(t); reject(e); } });
    h.proc.on('exit', (code, sig) => {
      h.exit = { code, sig };
      if (!done) {
        done = true; clearTimeout(t);
        reject(new Error(`hub exited early (code ${code}, signal ${sig}): ${h.output}`));
      }
    });
    h.proc.stderr.on('data', d => { h.output += d; });
    h.proc.stdout.on('data', d => {
      h.output += d;
      const m = /listening on \S*:(\d+)/.exec(h.output);
      const a = /ringcast: admin on \S*:(\d+)/.exec(h.output);
      if (m && a && !done) {
        done = true; clearTimeout(t);
        h.port = Number(m[1]);
        h.admin = Number(a[1]);
        resolve(h);
      }
    });
  });
}

function stopHub(h) {
  return new Promise((resolve, reject) => {
    if (h.exit) return resolve(h.exit);
    const t = setTimeout(() => reject(new Error('hub still running 10 s after SIGTERM')), 10000);
    h.proc.once('exit', (code, sig) => { clearTimeout(t); resolve({ code, sig }); });
    h.proc.kill('SIGTERM');
  });
}

async function stopClean(h) {
  const { code, sig } = await stopHub(h);
  if (code !== 0) throw new Error(`exit code ${code}, signal ${sig}`);
}

async function metric(h, name) {
  const res = await withTimeout(fetch(`http://127.0.0.1:${h.admin}/metrics`), 5000, 'GET /metrics');
  if (res.status !== 200) throw new Error(`admin /metrics status ${res.status}`);
  const body = await res.text();
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(body);
  if (!m) throw new Error(`/metrics has no ${name}`);
  return Number(m[1]);
}

// ---- the other origin: a page that opens a WebSocket given in ?url= --------
const OTHER_PAGE = `<!doctype html><meta charset="utf-8"><title>elsewhere</title>
<script>
"use strict";
window.r = { open: false, error: false, close: null, msg: null, done: false };
try {
  var ws = new WebSocket(new URLSearchParams(location.search).get("url"));
  ws.onopen = function () { window.r.open = true; ws.send("hello from elsewhere"); };
  ws.onmessage = function (e) { window.r.msg = e.data; ws.close(1000); };
  ws.onerror = function () { window.r.error = true; };
  ws.onclose = function (e) { window.r.close = e.code; window.r.done = true; };
} catch (e) {
  window.r.error = String(e); window.r.done = true;
}
</script><p>another origin</p>`;

function startOther() {
  return new Promise((resolve, reject) => {
    const srv = http.createServer((req, res) => {
      if (req.url.startsWith('/page')) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(OTHER_PAGE);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
           '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
}

async function newPage() {
  const ctx = await browser.newContext();
  return ctx.newPage();
}

// Open pageUrl (whose script opens wsUrl) and wait for the socket's end:
// window.r as the page recorded it.
async function tryFrom(pageUrl, wsUrl) {
  const page = await newPage();
  try {
    await page.goto(`${pageUrl}?url=${encodeURIComponent(wsUrl)}`,
                    { waitUntil: 'load', timeout: 10000 });
    await page.waitForFunction(() => window.r && window.r.done, null, { timeout: WAIT_MS })
      .catch(async () => {
        const r = await page.evaluate(() => window.r).catch(() => '?');
        throw new Error(`the WebSocket did not end within ${WAIT_MS} ms: ${JSON.stringify(r)}`);
      });
    return await page.evaluate(() => window.r);
  } finally {
    await page.context().close();
  }
}

// The same WebSocket code run in a page of the hub itself (its chat page).
async function tryOnHubPage(h, wsUrl) {
  const page = await newPage();
  try {
    await page.goto(`http://127.0.0.1:${h.port}/#origin-own`, { waitUntil: 'load', timeout: 10000 });
    return await page.evaluate(url => new Promise(resolve => {
      const r = { open: false, error: false, close: null, msg: null };
      const ws = new WebSocket(url);
      ws.onopen = () => { r.open = true; ws.send('hello from home'); };
      ws.onmessage = e => { r.msg = e.data; ws.close(1000); };
      ws.onerror = () => { r.error = true; };
      ws.onclose = e => { r.close = e.code; resolve(r); };
      setTimeout(() => resolve(r), 5000);
    }), wsUrl);
  } finally {
    await page.context().close();
  }
}

function expectRefused(r, what) {
  if (r.open) throw new Error(`${what}: the WebSocket opened (${JSON.stringify(r)})`);
  if (!r.error || r.close !== 1006) {
    throw new Error(`${what}: want onerror then onclose 1006, got ${JSON.stringify(r)}`);
  }
}

function expectEcho(r, what, text) {
  if (!r.open || r.msg !== text || r.close !== 1000) {
    throw new Error(`${what}: want open, the echo "${text}", close 1000; got ${JSON.stringify(r)}`);
  }
}

// ---- JWTs (HS256) for the chat page ------------------------------------------
function b64u(buf) { return Buffer.from(buf).toString('base64url'); }
function hs256(secret, claims) {
  const head = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64u(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64u(sig)}`;
}

async function openChat(h, room, token) {
  const page = await newPage();
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  await page.goto(`http://127.0.0.1:${h.port}/${q}#${encodeURIComponent(room)}`,
                  { waitUntil: 'load', timeout: 10000 });
  return page;
}

function status(page) { return page.textContent('#status').catch(() => '?'); }

async function waitOpen(page, who) {
  await page.waitForFunction(() => /\bopen\b/.test(document.querySelector('#status').textContent),
                             null, { timeout: 10000 })
    .catch(async () => { throw new Error(`${who}: #status is "${await status(page)}", not open`); });
}

// The .msg line whose .text is text: {nick, verified} (waits for it).
async function lineFor(page, text, who) {
  await page.waitForFunction(t => Array.from(document.querySelectorAll('#messages .msg .text'))
    .some(e => e.textContent === t), text, { timeout: WAIT_MS })
    .catch(async () => {
      const got = await page.$$eval('#messages .msg', els => els.map(e => e.textContent)).catch(() => '?');
      throw new Error(`${who}: "${text}" not shown within ${WAIT_MS} ms; has ${JSON.stringify(got)}`);
    });
  return page.evaluate(t => {
    const li = Array.from(document.querySelectorAll('#messages .msg'))
      .find(l => l.querySelector('.text') && l.querySelector('.text').textContent === t);
    return { nick: li.querySelector('.nick').textContent, verified: !!li.querySelector('.verified') };
  }, text);
}

// ---- the cases -----------------------------------------------------------------
async function main() {
  let hub, otherBase;
  const tag = crypto.randomBytes(4).toString('hex');

  await must('hub starts (public and admin ports)', async () => { hub = await startHub(); });
  await must('another origin: a node http server on a second port', async () => {
    other = await startOther();
    otherBase = `http://127.0.0.1:${other.address().port}`;
  });
  await must('Chromium starts', async () => { browser = await launchBrowser(); });

  await check('a page from another origin (127.0.0.1, another port) cannot open the hub\'s WebSocket; counted', async () => {
    const before = await metric(hub, 'ringcast_origin_refused_total');
    const hs0 = await metric(hub, 'ringcast_handshakes_total');
    for (const path of [`/ws/x-${tag}`, '/echo']) {
      const r = await tryFrom(`${otherBase}/page`, `ws://127.0.0.1:${hub.port}${path}`);
      expectRefused(r, `${otherBase} -> ${path}`);
    }
    const after = await metric(hub, 'ringcast_origin_refused_total');
    if (after - before !== 2) throw new Error(`origin_refused went ${before} -> ${after}, want +2`);
    const hs1 = await metric(hub, 'ringcast_handshakes_total');
    if (hs1 !== hs0) throw new Error(`handshakes_total went ${hs0} -> ${hs1}`);
  });

  await check('a page from http://localhost:OTHER to ws://localhost:HUB is refused too', async () => {
    const before = await metric(hub, 'ringcast_origin_refused_total');
    const r = await tryFrom(`http://localhost:${other.address().port}/page`,
                            `ws://localhost:${hub.port}/echo`);
    expectRefused(r, 'localhost:OTHER -> localhost:HUB');
    const after = await metric(hub, 'ringcast_origin_refused_total');
    if (after - before !== 1) throw new Error(`origin_refused went ${before} -> ${after}, want +1`);
  });

  await check('the same WebSocket code on the hub\'s own page opens and echoes', async () => {
    const before = await metric(hub, 'ringcast_origin_refused_total');
    const r = await tryOnHubPage(hub, `ws://127.0.0.1:${hub.port}/echo`);
    expectEcho(r, 'own page -> /echo', 'hello from home');
    const after = await metric(hub, 'ringcast_origin_refused_total');
    if (after !== before) throw new Error(`origin_refused went ${before} -> ${after}`);
  });

  await check('the hub\'s chat page connects (status open)', async () => {
    const page = await openChat(hub, `own-${tag}`, null);
    try { await waitOpen(page, 'chat page'); } finally { await page.context().close(); }
  });

  await check('SIGTERM: hub exits 0', async () => stopClean(hub));

  let allow;
  await check(`--allow-origin ${otherBase}: that page opens and echoes, another still refused`, async () => {
    allow = await startHub(['--allow-origin', otherBase]);
    const r = await tryFrom(`${otherBase}/page`, `ws://127.0.0.1:${allow.port}/echo`);
    expectEcho(r, `${otherBase} -> /echo (allowed)`, 'hello from elsewhere');
    const r2 = await tryFrom(`http://localhost:${other.address().port}/page`,
                             `ws://127.0.0.1:${allow.port}/echo`);
    expectRefused(r2, 'localhost:OTHER (not the allowed origin)');
    await stopClean(allow);
  });

  // ---- tokens on the chat page ----
  const secret = crypto.randomBytes(24).toString('hex');
  const room = `auth-${tag}`;
  const exp = Math.floor(Date.now() / 1000) + 300;
  let auth;
  await must('hub with --auth-secret starts', async () => {
    auth = await startHub(['--auth-secret', secret]);
  });

  let alice, bob;
  await check('chat pages with ?token= (alice posts, bob posts) join the room', async () => {
    alice = await openChat(auth, room, hs256(secret, { sub: 'alice', exp, rooms: [room] }));
    bob = await openChat(auth, room, hs256(secret, { sub: 'bob', exp, rooms: [room] }));
    await Promise.all([waitOpen(alice, 'alice'), waitOpen(bob, 'bob')]);
  });

  await check('a message shows its sender as the token\'s sub, verified, on both pages', async () => {
    const text = `signed message ${crypto.randomBytes(4).toString('hex')}`;
    await alice.fill('#text', text);
    await alice.press('#text', 'Enter');
    for (const [page, who] of [[bob, 'bob'], [alice, 'alice']]) {
      const l = await lineFor(page, text, who);
      if (l.nick !== 'alice' || !l.verified) {
        throw new Error(`${who} shows the sender as ${JSON.stringify(l)}, want alice, verified`);
      }
    }
  });

  await check('a nick typed into the page does not replace the verified sender', async () => {
    const text = `posing ${crypto.randomBytes(4).toString('hex')}`;
    await bob.fill('#nick', 'alice');
    await bob.dispatchEvent('#nick', 'change');
    await bob.fill('#text', text);
    await bob.press('#text', 'Enter');
    const l = await lineFor(alice, text, 'alice');
    if (l.nick !== 'bob' || !l.verified) {
      throw new Error(`alice shows bob's message as from ${JSON.stringify(l)}, want bob, verified`);
    }
  });

  await check('a chat page without a token is not let in (401), counted missing', async () => {
    const name = 'ringcast_auth_refused_total{reason="missing"}';
    const before = await metric(auth, name);
    const page = await openChat(auth, room, null);
    try {
      await sleep(1500);
      const st = await status(page);
      if (/\bopen\b/.test(st)) throw new Error(`#status "${st}"`);
    } finally { await page.context().close(); }
    const after = await metric(auth, name);
    if (!(after > before)) throw new Error(`auth_refused{missing} went ${before} -> ${after}`);
  });

  if (browser) { const b = browser; browser = null; await withTimeout(b.close(), 5000, 'browser close').catch(() => {}); }
  await check('SIGTERM: the auth hub exits 0', async () => stopClean(auth));
}

main().catch(e => {
  if (!(e instanceof Abort)) fail('unexpected error', e);
}).finally(finish);
