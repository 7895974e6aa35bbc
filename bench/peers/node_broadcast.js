// SPDX-License-Identifier: MIT
// node_broadcast.js -- fan-out peer on node ws (Debian node-ws), for
// side-by-side benchmarks: /ws/<room> joins a room; each message is sent to
// every other member of the room, as ringcast --no-echo-self does. GET
// /health answers 200 "ok" (node's http server), as the ringcast hub does.
// usage: NODE_PATH=/usr/share/nodejs node bench/peers/node_broadcast.js PORT (0: any)
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] ?? 9003);
const rooms = new Map();
const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
    res.end('ok');
  } else {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  }
});
const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  const room = req.url;
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const m of members) if (m !== ws) m.send(data, { binary: isBinary });
  });
  ws.on('close', () => members.delete(ws));
});
server.listen(port, '127.0.0.1', () =>
  console.log(`node ws broadcast listening on 127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
