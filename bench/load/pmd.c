/* SPDX-License-Identifier: MIT */
/* pmd.c -- permessage-deflate (RFC 7692), the client's side: the offer, the check of the server's answer, inflating what the server sends, compressing what the tool sends. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pmd.h"
#include "ws.h"

/* ------------------------------------------------------- the answer */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 7230 tchar. */
static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

struct cursor {
	const char *p;
	const char *end;
};

static void skip_ows(struct cursor *c)
{
	while (c->p < c->end && is_ows(*c->p))
		c->p++;
}

/* A token at the cursor: its start and length (0: none). */
static size_t token(struct cursor *c, const char **start)
{
	*start = c->p;
	while (c->p < c->end && is_tchar(*c->p))
		c->p++;
	return (size_t)(c->p - *start);
}

/* A token or quoted-string value, unquoted into @buf (at most @cap - 1
   bytes, NUL-terminated). Returns its length or -1. */
static long value(struct cursor *c, char *buf, size_t cap)
{
	size_t n = 0;

	if (c->p < c->end && *c->p == '"') {
		c->p++;
		while (c->p < c->end && *c->p != '"') {
			if (*c->p == '\\' && ++c->p == c->end)
				return -1;
			if (n + 1 >= cap)
				return -1;
			buf[n++] = *c->p++;
		}
		if (c->p == c->end)
			return -1;
		c->p++;
	} else {
		const char *s;
		size_t tl = token(c, &s);

		if (!tl || tl + 1 > cap)
			return -1;
		memcpy(buf, s, tl);
		n = tl;
	}
	buf[n] = 0;
	return (long)n;
}

/* "8".."15", no leading zero (RFC 7692 §7.1.2). */
static int window_bits(const char *v, long n)
{
	int b;

	if (n < 1 || n > 2 || v[0] < '1' || v[0] > '9')
		return -1;
	b = v[0] - '0';
	if (n == 2) {
		if (v[1] < '0' || v[1] > '9')
			return -1;
		b = b * 10 + (v[1] - '0');
	}
	return b >= 8 && b <= 15 ? b : -1;
}

static bool name_eq(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && !strncasecmp(s, lit, n);
}

enum {
	P_SNC = 1 << 0,
	P_CNC = 1 << 1,
	P_SBITS = 1 << 2,
	P_CBITS = 1 << 3,
};

/* The parameters of one permessage-deflate element, up to its end. */
static int params(struct cursor *c, struct rl_pmd_params *p)
{
	unsigned seen = 0;

	for (;;) {
		const char *name;
		char val[16];
		long vl = -1;
		size_t nl;
		unsigned bit;
		int b = 0;

		skip_ows(c);
		if (c->p == c->end || *c->p == ',')
			return 0;
		if (*c->p != ';')
			return -EPROTO;
		c->p++;
		skip_ows(c);
		nl = token(c, &name);
		if (!nl)
			return -EPROTO;
		skip_ows(c);
		if (c->p < c->end && *c->p == '=') {
			c->p++;
			skip_ows(c);
			vl = value(c, val, sizeof(val));
			if (vl < 0)
				return -EPROTO;
		}
		if (name_eq(name, nl, "server_no_context_takeover"))
			bit = P_SNC;
		else if (name_eq(name, nl, "client_no_context_takeover"))
			bit = P_CNC;
		else if (name_eq(name, nl, "server_max_window_bits"))
			bit = P_SBITS;
		else if (name_eq(name, nl, "client_max_window_bits"))
			bit = P_CBITS;
		else
			return -EPROTO;
		if (seen & bit)
			return -EPROTO;
		seen |= bit;
		if (bit & (P_SNC | P_CNC)) {
			if (vl >= 0)
				return -EPROTO;
		} else {
			/* A value is required in an answer (§7.1.2.1-2). */
			b = vl < 0 ? -1 : window_bits(val, vl);
			if (b < 0)
				return -EPROTO;
		}
		switch (bit) {
		case P_SNC:
			p->server_no_context = true;
			break;
		case P_CNC:
			p->client_no_context = true;
			break;
		case P_SBITS:
			p->server_bits = (uint8_t)b;
			break;
		default:
			p->client_bits = (uint8_t)b;
			break;
		}
	}
}

int rl_pmd_answer(const char *v, size_t n, struct rl_pmd_params *p)
{
	struct cursor c = { v, v + n };

	for (;;) {
		const char *name;
		size_t nl;
		int err;

		/* Empty list elements are allowed, and skipped (RFC 7230
		   §7). */
		while (c.p < c.end && (is_ows(*c.p) || *c.p == ','))
			c.p++;
		if (c.p == c.end)
			return 0;
		nl = token(&c, &name);
		/* Only what was offered may be answered, and only once. */
		if (!name_eq(name, nl, "permessage-deflate") || p->on)
			return -EPROTO;
		p->on = true;
		p->server_bits = 15;
		p->client_bits = 15;
		err = params(&c, p);
		if (err)
			return err;
	}
}

/* ------------------------------------------------------- inflating */

/* A message's compressed bytes and what they inflate to. */
struct rl_pmd_cached {
	uint64_t hash;		/* 0: empty */
	uint64_t len;
	uint32_t zlen;
	uint8_t text;
	uint8_t nhead;
	uint8_t head[RL_WS_HEAD];
	uint8_t z[RL_PMD_CACHE_ZMAX];
};

/* The 4 bytes RFC 7692 §7.2.2 has the receiver append. */
static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };

int rl_pmd_worker_init(struct rl_pmd_worker *z)
{
	memset(z, 0, sizeof(*z));
	z->out = malloc(RL_PMD_OUT);
	z->cache = calloc(RL_PMD_CACHE_SETS * RL_PMD_CACHE_WAYS,
			  sizeof(*z->cache));
	z->victim = calloc(RL_PMD_CACHE_SETS, 1);
	if (!z->out || !z->cache || !z->victim)
		return -ENOMEM;
	/* Any window the server may use (up to 15 bits) decodes with 15. */
	if (inflateInit2(&z->zs, -15) != Z_OK)
		return -ENOMEM;
	z->zs_ok = true;
	return 0;
}

void rl_pmd_worker_exit(struct rl_pmd_worker *z)
{
	if (z->zs_ok)
		inflateEnd(&z->zs);
	free(z->out);
	free(z->cache);
	free(z->victim);
	memset(z, 0, sizeof(*z));
}

static struct rl_pmd_conn *conn_state(struct rl_ws_rx *rx)
{
	if (!rx->zc)
		rx->zc = calloc(1, sizeof(*rx->zc));
	return rx->zc;
}

int rl_pmd_rx_setup(struct rl_ws_rx *rx, struct rl_pmd_worker *z,
		    const struct rl_pmd_params *p)
{
	struct rl_pmd_conn *zc;

	rx->dec.rsv1_ok = 1;
	rx->zw = z;
	if (p->server_no_context)
		return 0;
	/* The server keeps its window between messages: so must we. */
	zc = conn_state(rx);
	if (!zc)
		return -ENOMEM;
	if (inflateInit2(&zc->zs, -(int)p->server_bits) != Z_OK)
		return -ENOMEM;
	zc->ctx = true;
	return 0;
}

void rl_pmd_rx_release(struct rl_ws_rx *rx)
{
	struct rl_pmd_conn *zc = rx->zc;

	if (zc) {
		if (zc->ctx)
			inflateEnd(&zc->zs);
		free(zc->acc);
		free(zc);
	}
	rx->zc = NULL;
	rx->zw = NULL;
}

/* Inflated bytes @p[0..n) of the open message: head, length, text. */
static int take_out(struct rl_ws_rx *rx, const uint8_t *p, size_t n,
		    struct rc_utf8 *utf8)
{
	size_t keep = RL_WS_HEAD - rx->nhead;

	if (keep > n)
		keep = n;
	memcpy(rx->head + rx->nhead, p, keep);
	rx->nhead += (uint8_t)keep;
	rx->len += n;
	return utf8 ? rc_utf8_feed(utf8, p, n) : 0;
}

/* Run @p[0..n) through @zs, the output through @out (RL_PMD_OUT bytes)
   into take_out(). Sets *@ended when a final block ended the stream
   (what follows it is ignored). */
static int inflate_some(struct rl_ws_rx *rx, z_stream *zs, const uint8_t *p,
			size_t n, uint8_t *out, struct rc_utf8 *utf8,
			bool *ended)
{
	int r, err;

	if (*ended)
		return 0;
	zs->next_in = (Bytef *)(uintptr_t)p;
	zs->avail_in = (uInt)n;
	do {
		zs->next_out = out;
		zs->avail_out = RL_PMD_OUT;
		r = inflate(zs, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
			return -EPROTO;
		err = take_out(rx, out, RL_PMD_OUT - zs->avail_out, utf8);
		if (err)
			return err;
		if (r == Z_STREAM_END) {
			*ended = true;
			return 0;
		}
		/* A full output buffer: there may be more. */
	} while (!zs->avail_out);
	return 0;
}

/* 64-bit words of the message mixed, for the cache's slot and a quick
   "not the same". */
static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, p + i, n - i);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	}
	/* MurmurHash3's finaliser: every bit counts in the set's index. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h ? h : 1;
}

/* A whole message without context: from the cache, or inflated from
   scratch and put there. */
static int whole(struct rl_ws_rx *rx, const uint8_t *p, size_t n, bool text,
		 bool *cached)
{
	struct rl_pmd_worker *z = rx->zw;
	uint64_t h = hash(p, n) ^ (uint64_t)text;
	unsigned set = (unsigned)(h % RL_PMD_CACHE_SETS);
	struct rl_pmd_cached *e = &z->cache[set * RL_PMD_CACHE_WAYS];
	struct rc_utf8 utf8 = { 0 };
	bool ended = false;
	int err;

	for (unsigned i = 0; i < RL_PMD_CACHE_WAYS; i++, e++) {
		if (e->hash != h || e->zlen != n || e->text != text ||
		    memcmp(e->z, p, n))
			continue;
		rx->len = e->len;
		rx->nhead = e->nhead;
		memcpy(rx->head, e->head, e->nhead);
		*cached = true;
		return 0;
	}
	/* Filled in turn: the oldest of the set goes. */
	e = &z->cache[set * RL_PMD_CACHE_WAYS + z->victim[set]];
	if (inflateReset(&z->zs) != Z_OK)
		return -EPROTO;
	err = inflate_some(rx, &z->zs, p, n, z->out, text ? &utf8 : NULL,
			   &ended);
	if (!err)
		err = inflate_some(rx, &z->zs, tail, sizeof(tail), z->out,
				   text ? &utf8 : NULL, &ended);
	if (!err && text)
		err = rc_utf8_finish(&utf8);
	if (err)
		return err;
	if (n <= RL_PMD_CACHE_ZMAX) {
		z->victim[set] = (uint8_t)((z->victim[set] + 1) %
					   RL_PMD_CACHE_WAYS);
		e->hash = h;
		e->zlen = (uint32_t)n;
		e->text = text;
		e->len = rx->len;
		e->nhead = rx->nhead;
		memcpy(e->head, rx->head, rx->nhead);
		memcpy(e->z, p, n);
	}
	return 0;
}

/* Append @p[0..n) to the message gathered in @zc (grown, never shrunk). */
static int gather(struct rl_pmd_conn *zc, const uint8_t *p, size_t n)
{
	if (zc->acc_len + n > zc->acc_cap) {
		size_t cap = zc->acc_cap ? zc->acc_cap : 1024;
		uint8_t *a;

		while (cap < zc->acc_len + n)
			cap *= 2;
		a = realloc(zc->acc, cap);
		if (!a)
			return -ENOMEM;
		zc->acc = a;
		zc->acc_cap = cap;
	}
	memcpy(zc->acc + zc->acc_len, p, n);
	zc->acc_len += n;
	return 0;
}

int rl_pmd_take(struct rl_ws_rx *rx, const uint8_t *p, size_t n, bool first,
		bool last, bool text, bool *cached)
{
	struct rl_pmd_conn *zc = rx->zc;
	int err;

	*cached = false;
	if (!rx->zw)
		return -EPROTO;
	if (zc && zc->ctx) {
		/* Dedicated: this connection's stream, as the bytes come. */
		if (first) {
			memset(&zc->utf8, 0, sizeof(zc->utf8));
			if (zc->ended && inflateReset(&zc->zs) != Z_OK)
				return -EPROTO;
			zc->ended = false;
		}
		err = inflate_some(rx, &zc->zs, p, n, rx->zw->out,
				   text ? &zc->utf8 : NULL, &zc->ended);
		if (err || !last)
			return err;
		err = inflate_some(rx, &zc->zs, tail, sizeof(tail),
				   rx->zw->out, text ? &zc->utf8 : NULL,
				   &zc->ended);
		if (!err && text)
			err = rc_utf8_finish(&zc->utf8);
		return err;
	}
	/* No context: inflated whole, the usual case straight from the
	   receive buffer; one in pieces gathered first. */
	if (first && last)
		return whole(rx, p, n, text, cached);
	zc = conn_state(rx);
	if (!zc)
		return -ENOMEM;
	if (first)
		zc->acc_len = 0;
	err = gather(zc, p, n);
	if (err || !last)
		return err;
	return whole(rx, zc->acc, zc->acc_len, text, cached);
}

/* ------------------------------------------------------- compressing */

uint8_t *rl_pmd_compress(const uint8_t *prefix, size_t np, const uint8_t *body,
			 size_t nb, size_t *len, size_t *prefix_off)
{
	/* A stored block: 3 header bits (not final, type 00) padded to a
	   byte, LEN and its complement, little-endian, then the bytes. */
	size_t head = np ? 5 + np : 0, cap;
	z_stream zs;
	uint8_t *out;
	int r;

	if (np > 0xffff)
		return NULL;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
			 -RL_PMD_OWN_BITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = head + deflateBound(&zs, nb) + 16;
	out = malloc(cap);
	if (!out) {
		deflateEnd(&zs);
		return NULL;
	}
	if (np) {
		out[0] = 0;
		out[1] = (uint8_t)np;
		out[2] = (uint8_t)(np >> 8);
		out[3] = (uint8_t)~np;
		out[4] = (uint8_t)(~np >> 8);
		memcpy(out + 5, prefix, np);
	}
	zs.next_in = (Bytef *)(uintptr_t)body;
	zs.avail_in = (uInt)nb;
	zs.next_out = out + head;
	zs.avail_out = (uInt)(cap - head);
	r = deflate(&zs, Z_SYNC_FLUSH);
	*len = cap - zs.avail_out;
	deflateEnd(&zs);
	/* A sync flush ends in an empty stored block: 00 00 ff ff, its LEN
	   and NLEN, are left for the receiver to put back (§7.2.1). */
	if (r != Z_OK || zs.avail_in || *len < head + 4 ||
	    memcmp(out + *len - 4, tail, 4)) {
		free(out);
		return NULL;
	}
	*len -= 4;
	*prefix_off = 5;
	return out;
}
