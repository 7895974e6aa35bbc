// SPDX-License-Identifier: MIT
// node_broadcast.js -- fan-out peer on node ws (Debian node-ws), for
// side-by-side benchmarks: /ws/<room> joins a room; each message is sent to
// every other member of the room, as ringcast --no-echo-self does.
// usage: NODE_PATH=/usr/share/nodejs node bench/peers/node_broadcast.js PORT (0: any)
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] ?? 9003);
const rooms = new Map();
const wss = new WebSocketServer({ port, host: '127.0.0.1' });
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
wss.on('listening', () => console.log(`node ws broadcast listening on 127.0.0.1:${wss.address().port}`));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
