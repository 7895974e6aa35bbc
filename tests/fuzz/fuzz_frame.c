/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame.c -- libFuzzer harness for the frame decoder: one wire stream
 * decoded in one piece with the scalar kernels, and again in chunks (sizes
 * from the input) with the kernel set the input picks, must give the same
 * messages, control frames, payload bytes and error. Events are checked as
 * they come (flags, opcodes, slices in the buffer), completed TEXT
 * messages against tests/ref/utf8_ref.c, close payloads through
 * rc_frame_close_parse().
 *
 * Input: 8 bytes of set-up, then the wire bytes.
 *   byte 0   bit 0: client role (expects unmasked frames); else server
 *            bits 1-2: max_message 0 (none), 125, 1000, 65536
 *            bits 3-4: kernels of the chunked run: scalar, avx2, avx512,
 *            scalar (a set the CPU lacks falls back to scalar)
 *            bit 5: permessage-deflate negotiated (RSV1 allowed on a data
 *            message's first frame: its events are marked compressed,
 *            and its bytes are not UTF-8-checked)
 *   bytes 1-7  chunk sizes, used in turn: 0 is an empty call then one
 *            byte; 1..127 that many bytes; 128..255 (b - 127) * 16
 * Every chunk is decoded from a buffer of exactly its size, so ASan
 * reports any read past the bytes given (error paths included).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringcast.h"
#include "proto/frame.h"
#include "simd/simd.h"
#include "ref/utf8_ref.c"
#include "check.h"

#define SETUP 8

static const char *fuzz_context(void)
{
	return "";
}

/*
 * Events, normalised: consecutive non-empty events of one frame or one
 * message are merged (a chunked run sees a frame's payload in pieces, a
 * one-piece run whole), so a token is a run of payload between a first
 * and a last flag, or an empty event (an empty frame's).
 */
struct token {
	enum rc_frame_event_kind kind;
	uint8_t opcode;
	bool first, last, z;
	size_t off, len;	/* bytes in struct run's @bytes */
};

struct run {
	struct token *tok;
	size_t ntok, tcap;
	uint8_t *bytes;
	size_t nbytes, bcap;
	long err;
	/* the open data message and control frame, as events arrive */
	bool data_open, ctl_open;
	uint8_t data_op, ctl_op;
	bool data_z;		/* the open data message is compressed */
	size_t data_start;	/* @bytes offset of the open TEXT message */
	uint8_t *text;		/* the open TEXT message's bytes so far */
	size_t text_len, text_cap;
	uint8_t ctl[RC_FRAME_CONTROL_MAX];
	size_t ctl_len;
};

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	*cap = need * 2 + 16;
	p = realloc(p, *cap * size);
	CHECK(p != NULL);
	return p;
}

static void add_bytes(struct run *r, const uint8_t *p, size_t n)
{
	r->bytes = grow(r->bytes, &r->bcap, r->nbytes + n, 1);
	if (n)
		memcpy(r->bytes + r->nbytes, p, n);
	r->nbytes += n;
}

/* A completed close frame's payload, in a buffer of its exact size. */
static void check_close(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	const uint8_t *reason;
	size_t reason_len;
	uint16_t code;
	int ret;

	CHECK(c != NULL);
	if (n)
		memcpy(c, p, n);
	ret = rc_frame_close_parse(c, n, &code, &reason, &reason_len);
	CHECK(ret == 0 || ret == -EPROTO || ret == -EILSEQ);
	if (!ret) {
		CHECK(n ? rc_close_code_valid(code) : code == 1005);
		CHECK(reason_len == (n ? n - 2 : 0));
		CHECK(reason == c + (n ? 2 : 0));
		CHECK(ref_utf8_scan(reason, reason_len) == 0);
	} else if (ret == -EILSEQ) {
		CHECK(n >= 2 && rc_close_code_valid(code));
		CHECK(ref_utf8_scan(c + 2, n - 2) != 0);
	} else {
		CHECK(n == 1 || !rc_close_code_valid(
					(uint16_t)(c[0] << 8 | c[1])));
	}
	free(c);
}

/* Check one event against the ones before it, and log it. */
static void log_event(struct run *r, const struct rc_frame_event *ev)
{
	struct token *last = r->ntok ? &r->tok[r->ntok - 1] : NULL;

	switch (ev->kind) {
	case RC_FRAME_DATA:
		CHECK(!r->ctl_open);
		CHECK(ev->opcode == RC_OP_TEXT || ev->opcode == RC_OP_BINARY);
		if (ev->first) {
			CHECK(!r->data_open);
			r->data_open = true;
			r->data_op = ev->opcode;
			r->data_z = ev->compressed;
			r->text_len = 0;
		} else {
			CHECK(r->data_open);
			CHECK(ev->opcode == r->data_op);
			CHECK(ev->compressed == r->data_z);
		}
		if (ev->opcode == RC_OP_TEXT && !r->data_z) {
			r->text = grow(r->text, &r->text_cap,
				       r->text_len + ev->len, 1);
			if (ev->len)
				memcpy(r->text + r->text_len, ev->data, ev->len);
			r->text_len += ev->len;
		}
		if (ev->last) {
			/* a TEXT message is whole and valid at its end */
			if (ev->opcode == RC_OP_TEXT && !r->data_z)
				CHECK(ref_utf8_scan(r->text, r->text_len) == 0);
			r->data_open = false;
		}
		break;
	case RC_FRAME_CONTROL:
		CHECK(!ev->compressed);
		CHECK(ev->opcode == RC_OP_CLOSE || ev->opcode == RC_OP_PING ||
		      ev->opcode == RC_OP_PONG);
		if (ev->first) {
			CHECK(!r->ctl_open);
			r->ctl_open = true;
			r->ctl_op = ev->opcode;
			r->ctl_len = 0;
		} else {
			CHECK(r->ctl_open);
			CHECK(ev->opcode == r->ctl_op);
		}
		CHECK(r->ctl_len + ev->len <= RC_FRAME_CONTROL_MAX);
		if (ev->len)
			memcpy(r->ctl + r->ctl_len, ev->data, ev->len);
		r->ctl_len += ev->len;
		if (ev->last) {
			if (ev->opcode == RC_OP_CLOSE)
				check_close(r->ctl, r->ctl_len);
			r->ctl_open = false;
		}
		break;
	default:
		CHECK(!"event kind");
	}

	/* more of the token before it? */
	if (last && ev->len && last->len && !ev->first && !last->last &&
	    last->kind == ev->kind && last->opcode == ev->opcode &&
	    last->z == ev->compressed) {
		add_bytes(r, ev->data, ev->len);
		last->len += ev->len;
		last->last = ev->last;
		return;
	}
	r->tok = grow(r->tok, &r->tcap, r->ntok + 1, sizeof(*r->tok));
	r->tok[r->ntok++] = (struct token){
		.kind = ev->kind, .opcode = ev->opcode, .first = ev->first,
		.last = ev->last, .z = ev->compressed, .off = r->nbytes,
		.len = ev->len,
	};
	add_bytes(r, ev->data, ev->len);
}

/*
 * Decode @p[0..n) (a chunk in a buffer of exactly n bytes) to the end or
 * to an error; returns 0 or the error.
 */
static long decode_chunk(struct rc_frame_decoder *d, struct run *r,
			 uint8_t *p, size_t n)
{
	struct rc_frame_event ev;
	size_t pos = 0;
	long ret;

	while (pos < n) {
		ret = rc_frame_decode(d, p + pos, n - pos, &ev);
		if (ret < 0) {
			CHECK(ret == -EPROTO || ret == -EILSEQ ||
			      ret == -EMSGSIZE);
			return ret;
		}
		CHECK((size_t)ret <= n - pos);
		if (ev.kind == RC_FRAME_NONE) {
			/* no event: it must have taken bytes */
			CHECK(ret > 0);
			CHECK(ev.len == 0);
		} else {
			/* the event's bytes are the last ones consumed */
			CHECK(ev.data >= p + pos);
			CHECK(ev.data + ev.len == p + pos + ret);
			log_event(r, &ev);
		}
		pos += (size_t)ret;
	}
	/* nothing is left to report without more input */
	ret = rc_frame_decode(d, p + n, 0, &ev);
	CHECK(ret == 0 && ev.kind == RC_FRAME_NONE);
	return 0;
}

/* Decode @wire in chunks as @sizes says (NULL: in one piece). */
static void decode(struct run *r, const uint8_t *wire, size_t n,
		   bool server, uint64_t max_message, bool rsv1,
		   const uint8_t *sizes)
{
	struct rc_frame_decoder d;
	size_t pos = 0, turn = 0;

	rc_frame_decoder_init(&d, max_message, server);
	d.rsv1_ok = rsv1;
	while (pos < n) {
		size_t want = n - pos;
		uint8_t *chunk;
		long err;

		if (sizes) {
			uint8_t s = sizes[turn++ % (SETUP - 1)];

			if (s == 0) {
				struct rc_frame_event ev;

				/* an empty call changes nothing */
				CHECK(rc_frame_decode(&d, (uint8_t *)wire + pos,
						      0, &ev) == 0);
				CHECK(ev.kind == RC_FRAME_NONE);
				want = 1;
			} else {
				want = s < 128 ? s : (size_t)(s - 127) * 16;
			}
			if (want > n - pos)
				want = n - pos;
		}
		chunk = malloc(want);
		CHECK(chunk != NULL);
		memcpy(chunk, wire + pos, want);
		err = decode_chunk(&d, r, chunk, want);
		free(chunk);
		if (err) {
			r->err = err;
			break;
		}
		pos += want;
	}
	/* a TEXT message cut off by the end of the input or by an error is
	   still a valid prefix as far as it was handed out */
	if (r->data_open && r->data_op == RC_OP_TEXT && !r->data_z)
		CHECK(ref_utf8_scan(r->text, r->text_len) >= 0);
}

static bool same_token(const struct run *a, const struct token *x,
		       const struct run *b, const struct token *y)
{
	return x->kind == y->kind && x->opcode == y->opcode &&
	       x->first == y->first && x->last == y->last && x->z == y->z &&
	       x->len == y->len &&
	       (!x->len || !memcmp(a->bytes + x->off, b->bytes + y->off,
				   x->len));
}

/*
 * The runs must agree. Only -EILSEQ may come with different output: the
 * one-piece run fails a frame before handing out any of its payload,
 * the chunked run after handing out the chunks before the one that
 * proves the text invalid. So the chunked run may have more bytes of the
 * last, unfinished TEXT message, and nothing else.
 */
static void compare(const struct run *one, const struct run *chunked)
{
	size_t n = one->ntok;

	CHECK(one->err == chunked->err);
	if (one->err != -EILSEQ) {
		CHECK(one->ntok == chunked->ntok);
		for (size_t i = 0; i < n; i++)
			CHECK(same_token(one, &one->tok[i], chunked,
					 &chunked->tok[i]));
		return;
	}
	CHECK(chunked->ntok == n || chunked->ntok == n + 1);
	for (size_t i = 0; i + 1 < n; i++)
		CHECK(same_token(one, &one->tok[i], chunked, &chunked->tok[i]));
	if (chunked->ntok == n + 1) {
		const struct token *t = &chunked->tok[n];

		if (n)
			CHECK(same_token(one, &one->tok[n - 1], chunked,
					 &chunked->tok[n - 1]));
		CHECK(t->kind == RC_FRAME_DATA && t->opcode == RC_OP_TEXT);
		CHECK(!t->last && t->len > 0);
	} else if (n) {
		const struct token *x = &one->tok[n - 1];
		const struct token *y = &chunked->tok[n - 1];

		if (x->len != y->len) {
			/* the same open TEXT run, carried further */
			CHECK(x->kind == RC_FRAME_DATA &&
			      x->opcode == RC_OP_TEXT);
			CHECK(y->kind == x->kind && y->opcode == x->opcode &&
			      y->first == x->first);
			CHECK(!x->last && !y->last && x->len < y->len);
			CHECK(!x->len || !memcmp(one->bytes + x->off,
				      chunked->bytes + y->off, x->len));
		} else {
			CHECK(same_token(one, x, chunked, y));
		}
	}
}

static void run_free(struct run *r)
{
	free(r->tok);
	free(r->bytes);
	free(r->text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const uint64_t limits[4] = { 0, 125, 1000, 65536 };
	static const char *const sets[4] = { "scalar", "avx2", "avx512",
					     "scalar" };
	struct run one = { 0 }, chunked = { 0 };
	const struct rc_simd *k;
	bool server, rsv1;
	uint64_t max_message;

	if (len < SETUP)
		return 0;
	server = !(data[0] & 1);
	max_message = limits[(data[0] >> 1) & 3];
	k = rc_simd_get(sets[(data[0] >> 3) & 3]);
	rsv1 = data[0] >> 5 & 1;

	rc_simd = &rc_simd_scalar;
	decode(&one, data + SETUP, len - SETUP, server, max_message, rsv1,
	       NULL);
	rc_simd = k ? k : &rc_simd_scalar;
	decode(&chunked, data + SETUP, len - SETUP, server, max_message, rsv1,
	       data + 1);
	rc_simd = &rc_simd_scalar;

	compare(&one, &chunked);
	run_free(&one);
	run_free(&chunked);
	return 0;
}
