// SPDX-License-Identifier: MIT
// node_echo.js -- echo peer on node ws (Debian node-ws), for side-by-side
// benchmarks: upgrades on any path and echoes every message with its type;
// GET /health answers 200 "ok" (node's http server), as the ringcast hub does.
// usage: NODE_PATH=/usr/share/nodejs node bench/peers/node_echo.js PORT (0: any)
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] ?? 9002);
const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
    res.end('ok');
  } else {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  }
});
const wss = new WebSocketServer({ server, maxPayload: 16 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(port, '127.0.0.1', () =>
  console.log(`node ws echo listening on 127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
