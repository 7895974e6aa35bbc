// SPDX-License-Identifier: MIT
// node_echo.js -- echo peer on node ws (Debian node-ws), for side-by-side
// benchmarks: upgrades on any path and echoes every message with its type;
// GET /health answers 200 "ok" (node's http server), as the ringcast hub does.
// With TLS_CERT and TLS_KEY (PEM files) in the environment it serves wss://
// and https:// instead (node's https server: OpenSSL, TLS 1.2 and 1.3).
// usage: NODE_PATH=/usr/share/nodejs [TLS_CERT=F TLS_KEY=F] node bench/peers/node_echo.js PORT (0: any)
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] ?? 9002);
const tls = Boolean(process.env.TLS_CERT && process.env.TLS_KEY);
const onRequest = (req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
    res.end('ok');
  } else {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  }
};
const server = tls ?
  https.createServer({ cert: fs.readFileSync(process.env.TLS_CERT),
                       key: fs.readFileSync(process.env.TLS_KEY),
                       ALPNProtocols: ['http/1.1'] }, onRequest) :
  http.createServer(onRequest);
const wss = new WebSocketServer({ server, maxPayload: 16 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(port, '127.0.0.1', () =>
  console.log(`node ws echo listening on 127.0.0.1:${server.address().port}` +
              (tls ? ' (tls)' : '')));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
