/* SPDX-License-Identifier: MIT */
/*
 * tls_record_harness.h -- src/tls/record.c alone, for tests/test_tls_record.c
 * and tests/fuzz/fuzz_tls_records.c: the runtime calls it makes are stubbed
 * here, two "connections" share keys the way a client and the server do,
 * and what one seals the other opens.
 *
 *   client: plaintext queued in @pending ──rc__tls_rl_encrypt──▶ @wire bytes
 *   server: @wire bytes ──rc__tls_rl_input──▶ plaintext in @got
 */
#ifndef RC_TLS_RECORD_HARNESS_H
#define RC_TLS_RECORD_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "runtime/conn.h"
#include "runtime/worker.h"
#include "simd/simd.h"
#include "tls/record.h"

/* One side: a connection on its own worker, and its buffers. */
struct side {
	struct rc_worker w;
	struct rc_conn c;
	struct rc_tls_conn t;
	/* what rc__tls_rl_encrypt() takes (rc__out_take) */
	const uint8_t *pending;
	size_t pending_len;
	/* the records it sealed (rc__out_reserve/commit_to) */
	uint8_t *wire;
	size_t wire_len, wire_cap;
	/* the plaintext it opened, and how its input ended */
	uint8_t *got;
	size_t got_len, got_cap;
	int eofs, closes, ooms;
};

static struct side *side_of(struct rc_conn *c)
{
	return (struct side *)((char *)c - offsetof(struct side, c));
}

static void grow(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	*cap = need * 2 + 64;
	*p = realloc(*p, *cap + RC_SIMD_PADDING);
	if (!*p)
		abort();
}

/* ---- the stubs ---- */

void *rc__realloc(void *p, size_t n)
{
	return realloc(p, n);
}

void rc__conn_plain_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	struct side *s = side_of(c);

	grow(&s->got, &s->got_cap, s->got_len + n);
	memcpy(s->got + s->got_len, buf, n);
	s->got_len += n;
}

void rc__conn_eof(struct rc_conn *c, int err)
{
	(void)err;
	side_of(c)->eofs++;
	c->flags |= RC_CF_INPUT_BAD;
}

void rc__conn_close_after_flush(struct rc_conn *c)
{
	side_of(c)->closes++;
	c->state = RC_CONN_CLOSING;
}

void rc__tls_failed(struct rc_conn *c)
{
	c->tls->failed = true;
	c->flags |= RC_CF_INPUT_BAD;
	rc__conn_close_after_flush(c);
}

void rc__conn_oom(struct rc_conn *c)
{
	side_of(c)->ooms++;
}

uint8_t *rc__out_reserve(struct rc_conn *c, size_t n)
{
	struct side *s = side_of(c);

	grow(&s->wire, &s->wire_cap, s->wire_len + n);
	return s->wire + s->wire_len;
}

int rc__out_commit_to(struct rc_conn *c, struct rc_outq *q, size_t used)
{
	struct side *s = side_of(c);

	s->wire_len += used;
	q->bytes += used;
	return 0;
}

size_t rc__out_take(struct rc_conn *c, uint8_t *dst, size_t max)
{
	struct side *s = side_of(c);
	size_t n = s->pending_len < max ? s->pending_len : max;

	memcpy(dst, s->pending, n);
	s->pending += n;
	s->pending_len -= n;
	if (!s->pending_len)
		c->q.head = NULL;
	return n;
}

/* ---- set-up ---- */

/* A side with the suite's keys made from fixed secrets: @client swaps
   them, so that what one seals (wr) the other opens (rd). */
static int side_init(struct side *s, struct rc_tls_crypto *cr, uint8_t suite,
		     bool client)
{
	static const char a[] = "SERVER_TRAFFIC_SECRET_0 00 "
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		"202122232425262728292a2b2c2d2e2f";
	static const char b[] = "CLIENT_TRAFFIC_SECRET_0 00 "
		"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f"
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
	/* SHA-256 suites take the first 32 bytes of each. */
	char la[sizeof(a)], lb[sizeof(b)];
	size_t cut = suite == RC_TLS_AES_256_GCM_SHA384 ? 0 : 32;
	struct rc_tls_rl *rl;

	memset(s, 0, sizeof(*s));
	memcpy(la, a, sizeof(a));
	memcpy(lb, b, sizeof(b));
	la[sizeof(a) - 1 - cut] = 0;
	lb[sizeof(b) - 1 - cut] = 0;
	s->w.tlsw.crypto = cr;
	s->w.tlsw.live_head = UINT32_MAX;
	/* One connection, in slot 0 of its worker's table. */
	s->w.conns = &s->c;
	s->w.nslots = 1;
	s->w.tlsw.plain = malloc(16384 + RC_SIMD_PADDING);
	s->c.w = &s->w;
	s->c.tls = &s->t;
	s->c.state = RC_CONN_WS;
	rl = &s->t.rl;
	/* The server sends with "server" secrets; the client's side of the
	   same connection reads with them. */
	if (client) {
		memcpy(la, "CLIENT", 6);
		memcpy(lb, "SERVER", 6);
	}
	rc__tls_rl_keylog(rl, la);
	rc__tls_rl_keylog(rl, lb);
	if (!rl->have_rd || !rl->have_wr)
		return -1;
	/* rc__tls_rl_take_over() learns the suite from the SSL; here it is
	   named, and the keys derived the same way. */
	return rc__tls_rl_start(rl, cr, suite);
}

static void side_free(struct side *s)
{
	rc__tls_rl_free(&s->c);
	free(s->w.tlsw.plain);
	free(s->wire);
	free(s->got);
}

/* @s seals one record of inner type @type over @p[0..n) (any type: a
   peer's KeyUpdate, alert, padding), appended to s->wire. Needs record.c's
   static seal_record(), so the including file includes record.c first. */
static inline void raw_seal(struct side *s, uint8_t type, const uint8_t *p,
			    size_t n)
{
	uint8_t *out = rc__out_reserve(&s->c, 5 + n + 1 + 16);

	if (seal_record(&s->c, type, p, n, out))
		abort();
	rc__out_commit_to(&s->c, &s->t.wire, 5 + n + 1 + 16);
}

/* @s seals @n bytes of @p into records (appended to s->wire). */
static inline void seal(struct side *s, const uint8_t *p, size_t n)
{
	s->pending = p;
	s->pending_len = n;
	s->c.q.head = n ? (struct rc_segs *)1 : NULL;	/* "not empty" */
	s->t.wire.bytes = 0;
	rc__tls_rl_encrypt(&s->c, SIZE_MAX);
}

#endif /* RC_TLS_RECORD_HARNESS_H */
