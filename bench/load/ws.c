/* SPDX-License-Identifier: MIT */
/* ws.c -- the client side of RFC 6455: upgrade request and response, masked frames out, server frames in. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ringcast.h"
#include "pmd.h"
#include "ws.h"

/* splitmix64: spreads a small seed (a thread number) over 64 bits. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

int rl_ws_key(uint64_t seed, char key[RL_WS_KEY_LEN + 1],
	      char accept[RC_ACCEPT_LEN])
{
	uint8_t raw[16];
	uint64_t a = mix(&seed), b = mix(&seed);

	memcpy(raw, &a, 8);
	memcpy(raw + 8, &b, 8);
	if (EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw)) !=
	    RL_WS_KEY_LEN)
		return -EIO;
	return rc_upgrade_accept_key(key, RL_WS_KEY_LEN, accept);
}

int rl_ws_request_proto(char *buf, size_t cap, const char *host,
			const char *path, const char *key, const char *origin,
			const char *extensions, const char *protocol)
{
	int n = snprintf(buf, cap,
			 "GET %s HTTP/1.1\r\n"
			 "Host: %s\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "%s%s%s"
			 "%s%s%s"
			 "%s%s%s"
			 "\r\n", path, host, key, origin ? "Origin: " : "",
			 origin ? origin : "", origin ? "\r\n" : "",
			 extensions ? "Sec-WebSocket-Extensions: " : "",
			 extensions ? extensions : "",
			 extensions ? "\r\n" : "",
			 protocol ? "Sec-WebSocket-Protocol: " : "",
			 protocol ? protocol : "", protocol ? "\r\n" : "");

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int rl_ws_request_ext(char *buf, size_t cap, const char *host,
		      const char *path, const char *key, const char *origin,
		      const char *extensions)
{
	return rl_ws_request_proto(buf, cap, host, path, key, origin,
				   extensions, NULL);
}

int rl_ws_request(char *buf, size_t cap, const char *host, const char *path,
		  const char *key, const char *origin)
{
	return rl_ws_request_ext(buf, cap, host, path, key, origin, NULL);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* True if the comma-separated list @v[0..n) holds @token (any case). */
static bool list_has(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token), i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && is_ows(v[e - 1]))
			e--;
		if (e - s == tl && !strncasecmp(v + s, token, tl))
			return true;
	}
	return false;
}

static bool name_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && !strncasecmp(p, lit, n);
}

/* Check the header lines of a 101 in @p[0..n) (each ends in CRLF); with
   @pmd, extensions as rl_pmd_answer() takes them; with @protocol, the
   subprotocol asked for must be the one answered. */
static int check_101(const char *p, size_t n, const char accept[RC_ACCEPT_LEN],
		     struct rl_pmd_params *pmd, const char *protocol)
{
	bool upgrade = false, connection = false, key = false;
	bool proto = !protocol;
	const char *end = p + n;

	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		const char *colon, *v, *ve;
		size_t nl;

		if (!eol || eol == p)
			break;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon)
			return -EPROTO;
		nl = (size_t)(colon - p);
		for (v = colon + 1; v < eol && is_ows(*v); v++)
			;
		for (ve = eol; ve > v && is_ows(ve[-1]); ve--)
			;
		if (name_is(p, nl, "upgrade"))
			upgrade |= list_has(v, (size_t)(ve - v), "websocket");
		else if (name_is(p, nl, "connection"))
			connection |= list_has(v, (size_t)(ve - v), "upgrade");
		else if (name_is(p, nl, "sec-websocket-accept"))
			key = ve - v == RC_ACCEPT_LEN &&
			      !memcmp(v, accept, RC_ACCEPT_LEN);
		else if (name_is(p, nl, "sec-websocket-extensions")) {
			/* §4.1: we asked for none, so none may be in use. */
			if (!pmd ||
			    rl_pmd_answer(v, (size_t)(ve - v), pmd))
				return -EPROTO;
		} else if (name_is(p, nl, "sec-websocket-protocol")) {
			/* §4.1: only the one we asked for, once (the name
			   is case-sensitive); none asked, none answered. */
			if (!protocol || proto ||
			    (size_t)(ve - v) != strlen(protocol) ||
			    memcmp(v, protocol, strlen(protocol)))
				return -EPROTO;
			proto = true;
		}
		p = eol + 2;
	}
	return upgrade && connection && key && proto ? 0 : -EPROTO;
}

long rl_ws_response_proto(const char *buf, size_t len,
			  const char accept[RC_ACCEPT_LEN], int *status,
			  struct rl_pmd_params *pmd, const char *protocol)
{
	size_t scan = len < RL_WS_RESPONSE_MAX ? len : RL_WS_RESPONSE_MAX;
	const char *end = memmem(buf, scan, "\r\n\r\n", 4);
	const char *headers;
	size_t hl;

	*status = 0;
	if (pmd)
		memset(pmd, 0, sizeof(*pmd));
	if (!end)
		return len >= RL_WS_RESPONSE_MAX ? -EMSGSIZE : -EAGAIN;
	hl = (size_t)(end - buf) + 4;
	/* "HTTP/1.1 101 Switching Protocols": the reason may be empty. */
	if (hl < 14 || memcmp(buf, "HTTP/1.1 ", 9) ||
	    buf[9] < '1' || buf[9] > '5' || !is_digit(buf[10]) ||
	    !is_digit(buf[11]) || (buf[12] != ' ' && buf[12] != '\r'))
		return -EPROTO;
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (*status != 101)
		return (long)hl;
	headers = (const char *)memmem(buf, hl, "\r\n", 2) + 2;
	if (check_101(headers, (size_t)(buf + hl - headers), accept, pmd,
		      protocol))
		return -EPROTO;
	return (long)hl;
}

long rl_ws_response_ext(const char *buf, size_t len,
			const char accept[RC_ACCEPT_LEN], int *status,
			struct rl_pmd_params *pmd)
{
	return rl_ws_response_proto(buf, len, accept, status, pmd, NULL);
}

long rl_ws_response(const char *buf, size_t len,
		    const char accept[RC_ACCEPT_LEN], int *status)
{
	return rl_ws_response_ext(buf, len, accept, status, NULL);
}

void rl_ws_mask(uint8_t *p, size_t n, uint32_t key, size_t off)
{
	uint8_t k[4];

	memcpy(k, &key, 4);
	for (size_t i = 0; i < n; i++)
		p[i] ^= k[(off + i) & 3];
}

size_t rl_ws_frame_len(uint64_t len)
{
	size_t hl = len < 126 ? 2 : len <= 0xffff ? 4 : 10;

	return hl + 4 + (size_t)len;
}

size_t rl_ws_encode_z(uint8_t *out, unsigned opcode, const void *payload,
		      size_t len, uint32_t key, bool compressed)
{
	size_t hl = rc_frame_encode_header(out, opcode, true, len, &key);

	/* RSV1: RFC 7692 §6, on the first (here the only) frame. */
	if (compressed)
		out[0] |= 0x40;
	memcpy(out + hl, payload, len);
	rl_ws_mask(out + hl, len, key, 0);
	return hl + len;
}

size_t rl_ws_encode(uint8_t *out, unsigned opcode, const void *payload,
		    size_t len, uint32_t key)
{
	return rl_ws_encode_z(out, opcode, payload, len, key, false);
}

void rl_ws_rx_init(struct rl_ws_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	/* No limit: the tool counts message bytes, it never buffers them. */
	rc_frame_decoder_init(&rx->dec, 0, false);
}

long rl_ws_rx_feed(struct rl_ws_rx *rx, uint8_t *buf, size_t len,
		   struct rl_ws_msg *msg)
{
	struct rc_frame_event ev;
	long n = rc_frame_decode(&rx->dec, buf, len, &ev);
	bool cached = false;
	size_t keep;
	int err;

	msg->kind = RL_WS_NONE;
	if (n < 0)
		return n;
	/* A call takes at most one frame's header and then payload of that
	   same frame: bytes are the frame's whose payload comes next. */
	rx->pend += (uint64_t)n;
	if (ev.kind == RC_FRAME_NONE)
		return n;
	if (ev.kind == RC_FRAME_DATA) {
		if (ev.first) {
			rx->len = 0;
			rx->wire = 0;
			rx->nhead = 0;
		}
		rx->wire += rx->pend;
		rx->pend = 0;
		if (ev.compressed) {
			err = rl_pmd_take(rx, ev.data, ev.len, ev.first,
					  ev.last, ev.opcode == RC_OP_TEXT,
					  &cached);
			if (err)
				return err;
		} else {
			keep = RL_WS_HEAD - rx->nhead;
			if (keep > ev.len)
				keep = ev.len;
			memcpy(rx->head + rx->nhead, ev.data, keep);
			rx->nhead += (uint8_t)keep;
			rx->len += ev.len;
		}
		if (!ev.last)
			return n;
		msg->kind = RL_WS_DATA;
		msg->opcode = ev.opcode;
		msg->len = rx->len;
		msg->wire_len = rx->wire;
		msg->compressed = ev.compressed;
		msg->cached = cached;
		msg->head = rx->head;
		msg->head_len = rx->nhead;
		return n;
	}
	rx->pend = 0;
	/* The decoder refuses control frames over 125 bytes, so the whole
	   payload fits in ctl[]. */
	if (ev.first)
		rx->nctl = 0;
	memcpy(rx->ctl + rx->nctl, ev.data, ev.len);
	rx->nctl += (uint8_t)ev.len;
	if (!ev.last)
		return n;
	msg->kind = ev.opcode == RC_OP_PING ? RL_WS_PING :
		    ev.opcode == RC_OP_PONG ? RL_WS_PONG : RL_WS_CLOSE;
	msg->opcode = ev.opcode;
	msg->len = rx->nctl;
	msg->head = rx->ctl;
	msg->head_len = rx->nctl;
	return n;
}
