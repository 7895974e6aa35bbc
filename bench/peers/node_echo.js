// SPDX-License-Identifier: MIT
// node_echo.js -- echo peer on node ws (Debian node-ws), for side-by-side
// benchmarks: upgrades on any path and echoes every message with its type.
// usage: NODE_PATH=/usr/share/nodejs node bench/peers/node_echo.js PORT (0: any)
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] ?? 9002);
const wss = new WebSocketServer({ port, host: '127.0.0.1', maxPayload: 16 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(`node ws echo listening on 127.0.0.1:${wss.address().port}`));
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
