#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// chat_test.js -- headless-Chromium test of the hub's chat page.
//
//   node tests/browser/chat_test.js /path/to/ringcast
//
// Starts the hub on a free port, opens the chat page (GET /) in Debian's
// Chromium driven by playwright-core: two pages in one room, a third in
// another room. A message typed in one page must appear in the other (and in
// the sender's own list), and never in the other room. Then SIGTERM must make
// the hub exit 0.
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
  let port, a, b, c, nickA, nickB;

  await must('hub starts and prints its port', async () => {
    port = await startHub();
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

  const m4 = `after switching rooms ${crypto.randomBytes(6).toString('hex')}`;
  await check(`page 3 switches to ${room} with #join and hears page 2`, async () => {
    await c.fill('#room', room);
    await c.click('#join');
    await waitOpen(c, 'page 3');
    // the hub may register the subscription a moment after the upgrade
    await sleep(200);
    await typeAndEnter(b, m4);
    await Promise.all([waitLine(c, `${nickB}: ${m4}`, 'page 3'),
                       waitLine(a, `${nickB}: ${m4}`, 'page 1')]);
    await assertAbsent(c, m1, 'page 3 (old message after switch)');
  });

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
      const want = `wss://localhost:${port}/ws/${room}`;
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
