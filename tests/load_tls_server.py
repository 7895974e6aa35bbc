#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""load_tls_server.py -- a wss:// server for the load tool's TLS tests, on
python3-websockets: /echo echoes every message with its type, /ws/NAME is a
room (each message to every other member), anything else is a 404.

Two listeners on 127.0.0.1, each printed as "NAME listening on ADDR:PORT":
"tls" (TLS 1.2 or 1.3) and "tls12" (at most TLS 1.2), so that both
handshakes are exercised. A server_name "nowhere.*" is refused with an
alert, so a test can tell SNI is sent. ALPN: http/1.1.

usage: load_tls_server.py CERT KEY
"""
import asyncio
import http
import signal
import ssl
import sys

import websockets

rooms = {}


async def handler(ws):
    path = ws.path
    if path == '/echo':
        async for msg in ws:
            await ws.send(msg)
        return
    room = rooms.setdefault(path, set())
    room.add(ws)
    try:
        async for msg in ws:
            websockets.broadcast([m for m in room if m is not ws], msg)
    finally:
        room.discard(ws)


async def route(path, headers):
    if path == '/echo' or path.startswith('/ws/'):
        return None
    return http.HTTPStatus.NOT_FOUND, [], b""


def context(cert, key, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(['http/1.1'])
    if max_version:
        ctx.maximum_version = max_version

    def sni(sock, name, c):
        if name is not None and name.startswith('nowhere.'):
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        return None
    ctx.sni_callback = sni
    return ctx


async def main(cert, key):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    servers = []
    for name, mv in (('tls', None), ('tls12', ssl.TLSVersion.TLSv1_2)):
        srv = await websockets.serve(handler, '127.0.0.1', 0,
                                     ssl=context(cert, key, mv),
                                     process_request=route, compression=None,
                                     max_size=16 << 20, max_queue=None,
                                     ping_interval=None, backlog=4096)
        port = srv.sockets[0].getsockname()[1]
        print(f'{name} listening on 127.0.0.1:{port}', flush=True)
        servers.append(srv)
    await stop
    for srv in servers:
        srv.close()


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1], sys.argv[2]))
