#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# make_corpus.py -- writes the seed corpora of the fuzz harnesses into
# tests/fuzz/corpus/<target>/. The seeds are committed; run this again only
# to change them (it replaces every file it names, removes none):
#   python3 tests/fuzz/make_corpus.py
# Input layouts are described at the top of each fuzz_<target>.c.
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- http: raw request heads --------------------------------------------

UPGRADE = (b"GET /chat?room=a HTTP/1.1\r\n"
           b"Host: example.com:8080\r\n"
           b"Upgrade: websocket\r\n"
           b"Connection: keep-alive, Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: superchat, chat\r\n"
           b"Origin: http://example.com\r\n"
           b"\r\n")

http = {
    "upgrade": UPGRADE,
    "upgrade_lf_only": UPGRADE.replace(b"\r\n", b"\n"),
    "upgrade_then_frame": UPGRADE + b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    "upgrade_bad_key": UPGRADE.replace(b"dGhlIHNhbXBsZSBub25jZQ==",
                                       b"dGhlIHNhbXBsZSBub25jZR=="),
    "upgrade_no_version": UPGRADE.replace(b"Sec-WebSocket-Version: 13\r\n", b""),
    "upgrade_version_8": UPGRADE.replace(b"Version: 13", b"Version: 8"),
    "upgrade_post_http10": UPGRADE.replace(b"GET", b"POST").replace(
        b"HTTP/1.1", b"HTTP/1.0"),
    "upgrade_two_hosts": UPGRADE.replace(b"Host:", b"Host: a\r\nHOST:"),
    "get_wrk": b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    "pipelined": (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /c HTTP/1.0\r\n\r\n"),
    "leading_empty_lines": b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "mixed_endings": b"GET / HTTP/1.1\nHost: x\r\nA: b \t\n\r\n",
    "values": (b"OPTIONS * HTTP/1.1\r\nX-Empty:\r\nX-Tab:\t v\tw \t\r\n"
               b"X-Obs: caf\xc3\xa9\r\nAccept: */*\r\n\r\n"),
    "many_headers": b"GET / HTTP/1.1\r\n" + b"".join(
        b"H%d: %d\r\n" % (i, i) for i in range(40)) + b"\r\n",
    "incomplete": b"GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websock",
    "bad_obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\n  folded\r\n\r\n",
    "bad_space_before_colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "bad_ctl_in_value": b"GET / HTTP/1.1\r\nHost: x\x01y\r\n\r\n",
    "bad_version": b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    "bad_lone_cr": b"GET / HTTP/1.1\rHost: x\r\n\r\n",
}
for name, data in http.items():
    write("http", name, data)


# ---- frame: 8 set-up bytes, then wire bytes ------------------------------

KEY = b"\x37\xfa\x21\x3d"


def frame(b0, payload, masked=True, length=None, len_form=None):
    """One frame; @length overrides the length field (payload may be cut
    short), @len_form forces 7, 16 or 64-bit length encoding."""
    n = len(payload) if length is None else length
    form = len_form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        hdr = bytes([b0, n])
    elif form == 16:
        hdr = bytes([b0, 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, 127]) + struct.pack(">Q", n)
    if not masked:
        return hdr + payload
    hdr = bytes([hdr[0], hdr[1] | 0x80]) + hdr[2:] + KEY
    return hdr + bytes(c ^ KEY[i % 4] for i, c in enumerate(payload))


def setup(client=False, limit=0, kernels=2, sizes=b"\x01\x07\x40\x05\x90\x02\x11"):
    return bytes([int(client) | limit << 1 | kernels << 3]) + sizes


TEXT = "Hel\u00e9lo w\u20acrld \U0001F600!".encode()
FIN, CONT, TXT, BIN, CLOSE, PING, PONG = 0x80, 0, 1, 2, 8, 9, 10

frames = {
    "text_small": setup() + frame(FIN | TXT, TEXT),
    "text_16bit": setup(kernels=1) + frame(FIN | TXT, (TEXT * 12)[:300]),
    "binary_64bit_cut": setup() + frame(FIN | BIN, bytes(range(256)) * 2,
                                        length=70000),
    "fragmented_with_control": setup(sizes=b"\x01\x01\x01\x01\x01\x01\x01") + (
        frame(TXT, TEXT[:4]) + frame(FIN | PING, b"p1") +
        frame(CONT, TEXT[4:10]) + frame(FIN | PONG, b"") +
        frame(CONT, b"") + frame(FIN | CONT, TEXT[10:]) +
        frame(FIN | BIN, b"") + frame(TXT, b"") +
        frame(FIN | PING, bytes(i * 7 & 255 for i in range(125))) +
        frame(FIN | CONT, b"") + frame(FIN | CLOSE, b"\x03\xe8bye")),
    "client_role_unmasked": setup(client=True, kernels=0) + (
        frame(FIN | TXT, TEXT, masked=False) +
        frame(FIN | BIN, b"\xff\x00", masked=False) +
        frame(FIN | CLOSE, b"\x0f\xa0", masked=False)),
    "close_codes": setup(sizes=b"\x00\x03\x00\x02\x81\x01\x04") + (
        frame(FIN | CLOSE, b"") + frame(FIN | CLOSE, b"\x03\xe8") +
        frame(FIN | CLOSE, b"\x03\xed") + frame(FIN | CLOSE, b"\x03") +
        frame(FIN | CLOSE, b"\x0b\xb8\xc3\x28")),
    "bad_opcode": setup() + frame(FIN | 3, b"abc"),
    "bad_rsv": setup() + frame(FIN | 0x40 | TXT, b"abc"),
    "bad_unmasked_to_server": setup() + frame(FIN | TXT, b"abc", masked=False),
    "bad_control_fragmented": setup() + frame(PING, b"x"),
    "bad_control_long": setup() + frame(FIN | PING, b"x" * 126),
    "bad_nonminimal_16": setup() + frame(FIN | BIN, b"ab", len_form=16),
    "bad_nonminimal_64": setup() + frame(FIN | BIN, b"ab" * 100, len_form=64),
    "bad_cont_first": setup() + frame(FIN | CONT, b"abc"),
    "bad_text_in_message": setup() + frame(TXT, b"ab") + frame(FIN | TXT, b"c"),
    "bad_utf8_split": setup(sizes=b"\x03\x05\x01\x02\x07\x01\x01") + (
        frame(TXT, b"ok \xe2\x82") + frame(FIN | CONT, b"\x41 more")),
    "bad_utf8_unfinished": setup() + frame(FIN | TXT, b"abc \xf0\x9f\x98"),
    "too_big": setup(limit=1) + frame(BIN, b"x" * 100) + frame(FIN | CONT, b"y" * 30),
}
for name, data in frames.items():
    write("frame", name, data)


# ---- utf8: 8 set-up bytes, then text --------------------------------------

def usetup(off=0, a=85, b=170, mis=0):
    return KEY + bytes([off, a, b, mis])


ascii_run = bytes(range(0x20, 0x7f))
utf8 = {
    "ascii": usetup(mis=3) + ascii_run * 2,
    "mixed": usetup(off=1, mis=17) + ("a\u00e9\u20ac\U0001F600" * 20).encode(),
    "edges": usetup(off=2) + "".join(map(chr, [
        0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000,
        0x10FFFF])).encode() * 3,
    "block_edge_4byte": usetup(a=128, b=129) + b"a" * 62 + "\U0001F600".encode() + b"b" * 64,
    "cut_tail": usetup(off=3) + b"x" * 70 + b"\xf0\x9f\x98",
    "surrogate": usetup() + b"a" * 40 + b"\xed\xa0\x80" + b"z" * 30,
    "overlong": usetup(mis=1) + b"\xc0\x80 \xe0\x80\x80 \xf0\x80\x80\x80",
    "above_max": usetup() + b"\xf4\x90\x80\x80" + b"q" * 64,
    "bad_bytes": usetup(a=3, b=200) + b"ab\x80\xbf\xfe\xff\xf5\xf8\x88\x80\x80\x80",
    "short_seq": usetup() + b"\xc2\x41\xe2\x82\x41\xf0\x9f\x98\x41",
    "nul_bom": usetup() + b"\xef\xbb\xbf\x00\x00hi\x00",
}
for name, data in utf8.items():
    write("utf8", name, data)


# ---- unmask: 16 set-up bytes, then payload --------------------------------

def msetup(off, mis, cut):
    return KEY + struct.pack("<Q", off) + bytes([mis]) + struct.pack("<H", cut) + b"\0"


for i, (n, off, mis, cut) in enumerate([
        (0, 0, 0, 0), (1, 1, 1, 65535), (7, 2, 5, 30000), (31, 3, 63, 1000),
        (33, 5, 32, 40000), (64, 0, 0, 32768), (65, 7, 1, 65535),
        (200, 2**63 + 3, 13, 12345), (1000, 2**64 - 1, 40, 50000)]):
    write("unmask", "len_%d" % n, msetup(off, mis, cut) + bytes((j * 37 + i) & 255 for j in range(n)))


# ---- bridge: messages from NATS, each a length byte and its bytes ---------

def v1(seq, hub=7, lane=0, gen=0, flags=0, payload=b"hi"):
    head = bytes([0xB1, flags]) + struct.pack("<HHH", lane, gen, 0) + struct.pack("<QQ", hub, seq)
    return head + payload


def msgs(*ms):
    return b"".join(bytes([len(m)]) + m for m in ms)


bridge = {
    "in_order": msgs(*(v1(s) for s in range(1, 6))),
    "gap_dup_late": msgs(v1(1), v1(2), v1(5), v1(5), v1(3), v1(6)),
    "lanes_gens_hubs": msgs(v1(1), v1(1, lane=1), v1(1, gen=1), v1(1, hub=9), v1(2), v1(3, lane=1)),
    "flags_v0": msgs(v1(1, flags=1), v1(2, flags=2), b"\xb0\x00text", b"\xb0\x01\x00\xff", v1(3, flags=3)),
    "bad": msgs(b"\xb1", b"\xb0", v1(0), v1(1, hub=0), v1(1, flags=4), b"\xb2\x00" + b"\x00" * 30, v1(1)[:23]),
    "names": msgs(b"chat.general", b"a b*>~", b"~2E", b"~41", b"x~7E~", "caf\u00e9".encode()),
    "many_origins": msgs(*(v1(1, hub=h) for h in range(1, 40)), v1(2, hub=1), v1(2, hub=39)),
}
for name, data in bridge.items():
    write("bridge", name, data)
