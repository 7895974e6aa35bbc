/* SPDX-License-Identifier: MIT */
/* test_frame.c -- frame decoder (any split, errors, UTF-8), header encoder and close frames. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ringcast.h"
#include "proto/frame.h"
/* Built into this test directly, so CMake needs no extra source. */
#include "ref/utf8_ref.c"
#include "ref/testutil.h"

#define KEY 0x9AC3E10Fu		/* a masking key with no zero byte */

/* xorshift64* state: a fixed seed, so every run tests the same inputs. */
static uint64_t rng = 0x2545F4914F6CDD1Dull;

/*
 * Valid UTF-8 of exactly @n bytes: mostly ASCII, like real text, with
 * 2-, 3- and 4-byte sequences (and so code points split across chunks)
 * every few bytes.
 */
static void make_text(uint8_t *out, size_t n)
{
	static const uint32_t cps[] = { 0xE9, 0x20AC, 0x1F600, 0x7FF, 0xFFFD,
					0x10FFFF, 0x80, 0x800, 0x10000 };
	size_t i = 0;

	while (i < n) {
		uint64_t r = rng_next(&rng);
		uint8_t b[4];
		size_t k;

		if (r % 8)
			k = ref_utf8_encode('a' + (uint32_t)(r >> 8) % 26, b);
		else
			k = ref_utf8_encode(cps[(r >> 8) % 9], b);
		if (k > n - i)
			k = ref_utf8_encode('x', b);
		memcpy(out + i, b, k);
		i += k;
	}
}

/*
 * Write one frame, written apart from rc_frame_encode_header (which has
 * its own test): @b0 is the first header byte as is (FIN, RSV, opcode),
 * the length is minimal, and with @key the payload is masked.
 */
static size_t put_frame(uint8_t *out, uint8_t b0, const void *payload,
			size_t len, const uint32_t *key)
{
	size_t n = 0;

	out[n++] = b0;
	if (len < 126) {
		out[n++] = (uint8_t)len;
	} else if (len < 65536) {
		out[n++] = 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 127;
		for (int s = 56; s >= 0; s -= 8)
			out[n++] = (uint8_t)((uint64_t)len >> s);
	}
	if (key) {
		out[1] |= 0x80;
		memcpy(out + n, key, 4);
		n += 4;
	}
	if (len)
		memcpy(out + n, payload, len);
	if (key)
		ref_unmask(out + n, len, *key, 0);
	return n + len;
}

/* A finished message or control frame, as reassembled from events. */
struct msg {
	enum rc_frame_event_kind kind;
	uint8_t opcode;
	uint8_t *data;
	size_t len;
};

#define MAX_MSGS 16

/*
 * Reassembles events and checks their flags as they come: a message opens
 * with @first, keeps its opcode, closes with @last, and a control frame's
 * events are not mixed with anything else.
 */
struct log {
	struct msg msgs[MAX_MSGS];
	size_t nmsgs;
	bool data_open, ctl_open;
	uint8_t data_op, ctl_op;
	uint8_t *data;
	size_t data_len, data_cap;
	uint8_t ctl[RC_FRAME_CONTROL_MAX];
	size_t ctl_len;
};

static void push_msg(struct log *l, enum rc_frame_event_kind kind,
		     uint8_t opcode, const uint8_t *p, size_t n)
{
	struct msg *m;

	assert_true(l->nmsgs < MAX_MSGS);
	m = &l->msgs[l->nmsgs++];
	m->kind = kind;
	m->opcode = opcode;
	m->len = n;
	m->data = malloc(n + 1);
	assert_non_null(m->data);
	if (n)
		memcpy(m->data, p, n);
}

static void log_event(struct log *l, const struct rc_frame_event *ev)
{
	switch (ev->kind) {
	case RC_FRAME_DATA:
		assert_false(l->ctl_open);
		assert_true(ev->opcode == RC_OP_TEXT ||
			    ev->opcode == RC_OP_BINARY);
		if (ev->first) {
			assert_false(l->data_open);
			l->data_open = true;
			l->data_op = ev->opcode;
			l->data_len = 0;
		} else {
			assert_true(l->data_open);
			assert_int_equal(ev->opcode, l->data_op);
		}
		if (l->data_len + ev->len > l->data_cap) {
			/* exact, not doubled: 128 KiB would be mmap()ed
			   afresh for every split of a 64 KiB message */
			l->data_cap = l->data_len + ev->len;
			l->data = realloc(l->data, l->data_cap);
			assert_non_null(l->data);
		}
		if (ev->len)
			memcpy(l->data + l->data_len, ev->data, ev->len);
		l->data_len += ev->len;
		if (ev->last) {
			push_msg(l, RC_FRAME_DATA, l->data_op, l->data,
				 l->data_len);
			l->data_open = false;
		}
		break;
	case RC_FRAME_CONTROL:
		assert_true(ev->opcode == RC_OP_CLOSE ||
			    ev->opcode == RC_OP_PING ||
			    ev->opcode == RC_OP_PONG);
		if (ev->first) {
			assert_false(l->ctl_open);
			l->ctl_open = true;
			l->ctl_op = ev->opcode;
			l->ctl_len = 0;
		} else {
			assert_true(l->ctl_open);
			assert_int_equal(ev->opcode, l->ctl_op);
		}
		assert_true(l->ctl_len + ev->len <= RC_FRAME_CONTROL_MAX);
		if (ev->len)
			memcpy(l->ctl + l->ctl_len, ev->data, ev->len);
		l->ctl_len += ev->len;
		if (ev->last) {
			push_msg(l, RC_FRAME_CONTROL, l->ctl_op, l->ctl,
				 l->ctl_len);
			l->ctl_open = false;
		}
		break;
	default:
		fail_msg("event kind %d", ev->kind);
	}
}

static void log_free(struct log *l)
{
	for (size_t i = 0; i < l->nmsgs; i++)
		free(l->msgs[i].data);
	free(l->data);
	memset(l, 0, sizeof(*l));
}

/*
 * Decode one chunk, as its own padded buffer (so the decoder cannot lean
 * on bytes of other chunks), until all of it is consumed. Returns 0 or the
 * decoder's error.
 */
static long decode_chunk(struct rc_frame_decoder *d, struct log *l,
			 const uint8_t *chunk, size_t n)
{
	uint8_t *buf = malloc(n + RC_SIMD_PADDING);
	struct rc_frame_event ev;
	size_t pos = 0;
	long r;

	assert_non_null(buf);
	if (n)
		memcpy(buf, chunk, n);
	memset(buf + n, 0xA5, RC_SIMD_PADDING);
	while (pos < n) {
		r = rc_frame_decode(d, buf + pos, n - pos, &ev);
		if (r < 0)
			goto out_free_buf;
		assert_true((size_t)r <= n - pos);
		if (ev.kind == RC_FRAME_NONE) {
			/* no event: must have made progress */
			assert_true(r > 0);
			assert_int_equal(ev.len, 0);
		} else {
			/* the event's bytes are the last ones consumed */
			assert_ptr_equal(ev.data + ev.len, buf + pos + r);
			log_event(l, &ev);
		}
		pos += (size_t)r;
	}
	/* nothing may be left to report without more input */
	r = rc_frame_decode(d, buf + n, 0, &ev);
	assert_int_equal(r, 0);
	assert_int_equal(ev.kind, RC_FRAME_NONE);
out_free_buf:
	free(buf);
	return r;
}

/* Decode @wire in chunks ending at @cuts (ascending, the last is n). */
static long decode_cuts(struct rc_frame_decoder *d, struct log *l,
			const uint8_t *wire, size_t n, const size_t *cuts,
			size_t ncuts)
{
	size_t start = 0;

	for (size_t c = 0; c < ncuts; c++) {
		long r = decode_chunk(d, l, wire + start, cuts[c] - start);

		if (r < 0)
			return r;
		start = cuts[c];
	}
	assert_int_equal(start, n);
	return 0;
}

static void check_msgs(const struct log *l, const struct msg *want,
		       size_t nwant)
{
	assert_int_equal(l->nmsgs, nwant);
	assert_false(l->data_open);
	assert_false(l->ctl_open);
	for (size_t i = 0; i < nwant; i++) {
		assert_int_equal(l->msgs[i].kind, want[i].kind);
		assert_int_equal(l->msgs[i].opcode, want[i].opcode);
		assert_int_equal(l->msgs[i].len, want[i].len);
		if (want[i].len)
			expect_bytes(l->msgs[i].data, want[i].data,
					    want[i].len);
	}
}

/* Decode with the given cuts on a fresh decoder; expect @want. */
static void check_cuts(bool server, const uint8_t *wire, size_t n,
		       const size_t *cuts, size_t ncuts,
		       const struct msg *want, size_t nwant)
{
	struct rc_frame_decoder d;
	struct log l = { 0 };

	rc_frame_decoder_init(&d, 0, server);
	assert_int_equal(decode_cuts(&d, &l, wire, n, cuts, ncuts), 0);
	check_msgs(&l, want, nwant);
	log_free(&l);
}

/*
 * Whole, every split into two, byte by byte, and random chunkings. With
 * @stride > 1 the splits inside a long payload are sampled: every point
 * near the header and the end, then every @stride-th (odd, so all offsets
 * modulo the key and any SIMD block size still come up).
 */
static void check_splits(bool server, const uint8_t *wire, size_t n,
			 const struct msg *want, size_t nwant,
			 unsigned nrandom, size_t stride)
{
	size_t cuts[2] = { n, n };
	size_t *bytes = malloc(n * sizeof(*bytes));

	assert_non_null(bytes);
	check_cuts(server, wire, n, cuts, 1, want, nwant);
	for (size_t i = 0; i <= n; i++) {
		if (i > 300 && i + 300 < n && i % stride)
			continue;
		cuts[0] = i;
		check_cuts(server, wire, n, cuts, 2, want, nwant);
	}
	for (size_t i = 0; i < n; i++)
		bytes[i] = i + 1;
	check_cuts(server, wire, n, bytes, n, want, nwant);
	for (unsigned k = 0; k < nrandom; k++) {
		size_t ncuts = 0, at = 0;

		/* chunks of 1..16 bytes: many header and code point splits */
		while (at < n) {
			at += 1 + rng_next(&rng) % 16;
			bytes[ncuts++] = at < n ? at : n;
		}
		check_cuts(server, wire, n, bytes, ncuts, want, nwant);
	}
	free(bytes);
}

/*
 * Single frames of the boundary payload lengths, TEXT and BINARY, masked
 * (client to server): every split point gives back the same message.
 */
static void test_split_lengths(void **state)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536 };
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);
	uint32_t key = KEY;

	(void)state;
	for (size_t i = 0; i < nimpl; i++) {
		rc_simd = impls[i];
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
			for (unsigned op = RC_OP_TEXT; op <= RC_OP_BINARY; op++) {
				size_t len = lens[j];
				uint8_t *payload = malloc(len + 1);
				uint8_t *wire = malloc(len + RC_FRAME_HDR_MAX);
				struct msg want = { RC_FRAME_DATA, (uint8_t)op,
						    payload, len };
				size_t n;

				assert_non_null(payload);
				assert_non_null(wire);
				if (op == RC_OP_TEXT)
					make_text(payload, len);
				else
					for (size_t b = 0; b < len; b++)
						payload[b] = (uint8_t)rng_next(&rng);
				n = put_frame(wire, (uint8_t)(0x80 | op), payload,
					      len, &key);
				/* the decoder's own logic at every split
				   point, the SIMD kernels at a sample */
				check_splits(true, wire, n, &want, 1,
					     len > 1000 ? 0 : 100,
					     impls[i] == &rc_simd_scalar ? 1 : 7);
				free(wire);
				free(payload);
			}
	}
	rc_simd = &rc_simd_scalar;
}

/*
 * A fragmented TEXT message with control frames between its fragments and
 * a code point split across fragments, then empty messages and a full
 * 125-byte ping, from both sides (masked to a server, unmasked to a
 * client).
 */
static void test_fragmented_with_control(void **state)
{
	static const char text[] = "Hel\xc3\xa9lo w\xe2\x82\xacrld \xf0\x9f\x98\x80!";
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);
	uint8_t ping[RC_FRAME_CONTROL_MAX];
	uint8_t wire[512];

	(void)state;
	for (size_t i = 0; i < sizeof(ping); i++)
		ping[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < nimpl; i++) {
		rc_simd = impls[i];
		for (int server = 0; server <= 1; server++) {
			uint32_t key = KEY;
			const uint32_t *k = server ? &key : NULL;
			const struct msg want[] = {
				{ RC_FRAME_CONTROL, RC_OP_PING, (uint8_t *)"p1", 2 },
				{ RC_FRAME_CONTROL, RC_OP_PONG, NULL, 0 },
				{ RC_FRAME_DATA, RC_OP_TEXT, (uint8_t *)text, sizeof(text) - 1 },
				{ RC_FRAME_DATA, RC_OP_BINARY, NULL, 0 },
				{ RC_FRAME_CONTROL, RC_OP_PING, ping, sizeof(ping) },
				{ RC_FRAME_DATA, RC_OP_TEXT, NULL, 0 },
				{ RC_FRAME_DATA, RC_OP_BINARY, (uint8_t *)"\xff\x00", 2 },
				{ RC_FRAME_CONTROL, RC_OP_CLOSE, (uint8_t *)"\x03\xe8", 2 },
			};
			size_t n = 0;

			/* "Hel\xc3" | ping | "\xa9lo w\xe2" | pong | rest */
			n += put_frame(wire + n, RC_OP_TEXT, text, 4, k);
			n += put_frame(wire + n, 0x80 | RC_OP_PING, "p1", 2, k);
			n += put_frame(wire + n, RC_OP_CONT, text + 4, 6, k);
			n += put_frame(wire + n, 0x80 | RC_OP_PONG, NULL, 0, k);
			n += put_frame(wire + n, RC_OP_CONT, NULL, 0, k);
			n += put_frame(wire + n, 0x80 | RC_OP_CONT, text + 10,
				       sizeof(text) - 1 - 10, k);
			n += put_frame(wire + n, 0x80 | RC_OP_BINARY, NULL, 0, k);
			/* an empty first fragment: @first on an empty event */
			n += put_frame(wire + n, RC_OP_TEXT, NULL, 0, k);
			n += put_frame(wire + n, 0x80 | RC_OP_PING, ping,
				       sizeof(ping), k);
			n += put_frame(wire + n, 0x80 | RC_OP_CONT, NULL, 0, k);
			n += put_frame(wire + n, RC_OP_BINARY, "\xff", 1, k);
			n += put_frame(wire + n, 0x80 | RC_OP_CONT, "\x00", 1, k);
			n += put_frame(wire + n, 0x80 | RC_OP_CLOSE, "\x03\xe8", 2, k);
			assert_true(n <= sizeof(wire));
			check_splits(server, wire, n, want,
				     sizeof(want) / sizeof(want[0]), 2000, 1);
		}
	}
	rc_simd = &rc_simd_scalar;
}

/* One event per call: the decoder stops after the first frame's bytes. */
static void test_one_event_per_call(void **state)
{
	uint32_t key = KEY;
	struct rc_frame_decoder d;
	struct rc_frame_event ev;
	uint8_t wire[64];
	size_t n1, n2;
	long r;

	(void)state;
	memset(wire, 0, sizeof(wire));
	n1 = put_frame(wire, 0x80 | RC_OP_TEXT, "abc", 3, &key);
	n2 = put_frame(wire + n1, 0x80 | RC_OP_PING, NULL, 0, &key);
	put_frame(wire + n1 + n2, 0x80 | RC_OP_BINARY, "z", 1, &key);
	rc_frame_decoder_init(&d, 0, true);

	r = rc_frame_decode(&d, wire, 0, &ev);
	assert_int_equal(r, 0);
	assert_int_equal(ev.kind, RC_FRAME_NONE);

	r = rc_frame_decode(&d, wire, sizeof(wire), &ev);
	assert_int_equal(r, n1);
	assert_int_equal(ev.kind, RC_FRAME_DATA);
	assert_int_equal(ev.opcode, RC_OP_TEXT);
	assert_true(ev.first && ev.last);
	assert_ptr_equal(ev.data, wire + n1 - 3);
	expect_bytes(ev.data, "abc", 3);

	r = rc_frame_decode(&d, wire + n1, sizeof(wire) - n1, &ev);
	assert_int_equal(r, n2);
	assert_int_equal(ev.kind, RC_FRAME_CONTROL);
	assert_int_equal(ev.opcode, RC_OP_PING);
	assert_true(ev.first && ev.last);
	assert_int_equal(ev.len, 0);

	r = rc_frame_decode(&d, wire + n1 + n2, sizeof(wire) - n1 - n2, &ev);
	assert_int_equal(r, 2 + 4 + 1);
	assert_int_equal(ev.opcode, RC_OP_BINARY);
	expect_bytes(ev.data, "z", 1);

	/* a header alone: consumed, no event until payload arrives */
	n1 = put_frame(wire, 0x80 | RC_OP_BINARY, "xyz", 3, &key);
	r = rc_frame_decode(&d, wire, n1 - 3, &ev);
	assert_int_equal(r, n1 - 3);
	assert_int_equal(ev.kind, RC_FRAME_NONE);
	r = rc_frame_decode(&d, wire + n1 - 3, 1, &ev);
	assert_int_equal(r, 1);
	assert_true(ev.first && !ev.last);
	expect_bytes(ev.data, "x", 1);
	r = rc_frame_decode(&d, wire + n1 - 2, 2, &ev);
	assert_int_equal(r, 2);
	assert_true(!ev.first && ev.last);
	expect_bytes(ev.data, "yz", 2);
}

struct bad {
	const char *name;
	const uint8_t *wire;
	size_t n;
	bool server;
	uint64_t max;
	long err;
	size_t at;	/* byte by byte, the error comes by this index */
};

/*
 * Feed @b whole and byte by byte: both must fail with b->err, the second
 * no later than the byte that proves it.
 */
static void check_bad(const struct bad *b)
{
	struct rc_frame_decoder d;
	struct log l = { 0 };
	long r = 0;

	rc_frame_decoder_init(&d, b->max, b->server);
	r = decode_chunk(&d, &l, b->wire, b->n);
	if (r != b->err)
		fail_msg("%s, whole: %ld, want %ld", b->name, r, b->err);
	log_free(&l);

	rc_frame_decoder_init(&d, b->max, b->server);
	for (size_t i = 0; i < b->n; i++) {
		r = decode_chunk(&d, &l, b->wire + i, 1);
		if (r) {
			if (r != b->err || i > b->at)
				fail_msg("%s, byte by byte: %ld at byte %zu, want %ld by %zu",
					 b->name, r, i, b->err, b->at);
			break;
		}
	}
	if (!r)
		fail_msg("%s, byte by byte: no error", b->name);
	log_free(&l);
	assert_int_equal(rc_frame_close_code(b->err),
			 b->err == -EPROTO ? 1002 : b->err == -EILSEQ ? 1007 : 1009);
}

#define K 0x11, 0x22, 0x33, 0x44	/* a masking key on the wire */
#define BAD(nm, srv, mx, e, at_, ...)                                    \
	{ nm, (const uint8_t[]){ __VA_ARGS__ },                          \
	  sizeof((const uint8_t[]){ __VA_ARGS__ }), srv, mx, e, at_ }

/* Header errors: the header alone must fail, no payload needed. */
static void test_header_errors(void **state)
{
	const struct bad cases[] = {
		BAD("unmasked client frame", true, 0, -EPROTO, 1, 0x81, 0x00),
		BAD("unmasked client frame with payload", true, 0, -EPROTO, 1,
		    0x82, 0x03, 'a', 'b', 'c'),
		BAD("masked server frame", false, 0, -EPROTO, 1, 0x81, 0x80, K),
		BAD("RSV1", true, 0, -EPROTO, 1, 0xC1, 0x80, K),
		BAD("RSV2", true, 0, -EPROTO, 1, 0xA1, 0x80, K),
		BAD("RSV3", true, 0, -EPROTO, 1, 0x91, 0x80, K),
		BAD("RSV1 on a ping", true, 0, -EPROTO, 1, 0xC9, 0x80, K),
		BAD("fragmented ping", true, 0, -EPROTO, 1, 0x09, 0x80, K),
		BAD("fragmented close", true, 0, -EPROTO, 1, 0x08, 0x80, K),
		BAD("126-byte ping", true, 0, -EPROTO, 1, 0x89, 0xFE, 0x00,
		    0x7E, K),
		BAD("126-byte close", true, 0, -EPROTO, 1, 0x88, 0xFE, 0x00,
		    0x7E, K),
		BAD("ping with 64-bit length", true, 0, -EPROTO, 1, 0x89, 0xFF,
		    0, 0, 0, 0, 0, 1, 0, 0, K),
		BAD("continuation without a message", true, 0, -EPROTO, 1,
		    0x80, 0x80, K),
		BAD("unfinished continuation without a message", true, 0,
		    -EPROTO, 1, 0x00, 0x80, K),
		BAD("TEXT inside a fragmented message", true, 0, -EPROTO, 7,
		    0x01, 0x80, K, 0x81, 0x80, K),
		BAD("BINARY inside a fragmented message", true, 0, -EPROTO, 7,
		    0x02, 0x80, K, 0x02, 0x80, K),
		BAD("TEXT after ping inside a fragmented message", true, 0,
		    -EPROTO, 13, 0x02, 0x80, K, 0x89, 0x80, K, 0x81, 0x80, K),
		BAD("16-bit length 125", true, 0, -EPROTO, 7, 0x82, 0xFE, 0x00,
		    0x7D, K),
		BAD("16-bit length 0", true, 0, -EPROTO, 7, 0x82, 0xFE, 0x00,
		    0x00, K),
		BAD("64-bit length 65535", true, 0, -EPROTO, 13, 0x82, 0xFF, 0,
		    0, 0, 0, 0, 0, 0xFF, 0xFF, K),
		BAD("64-bit length 125", true, 0, -EPROTO, 13, 0x82, 0xFF, 0,
		    0, 0, 0, 0, 0, 0, 125, K),
		BAD("64-bit length 2^63", true, 0, -EPROTO, 13, 0x82, 0xFF,
		    0x80, 0, 0, 0, 0, 0, 0, 0, K),
		BAD("64-bit length 2^64-1", true, 0, -EPROTO, 13, 0x82, 0xFF,
		    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, K),
		BAD("64-bit non-minimal from a client", false, 0, -EPROTO, 9,
		    0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 200),
		BAD("message over max_message", true, 1000, -EMSGSIZE, 7, 0x82,
		    0xFE, 0x03, 0xE9, K),
		BAD("huge message over max_message", true, 1000, -EMSGSIZE, 13,
		    0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		    K),
	};
	uint8_t wire[16];
	struct bad b = { "opcode", wire, 6, true, 0, -EPROTO, 1 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(&cases[i]);
	for (unsigned op = 0; op < 16; op++) {
		if (op <= 2 || (op >= 8 && op <= 10))
			continue;
		wire[0] = (uint8_t)(0x80 | op);
		wire[1] = 0x80;
		memcpy(wire + 2, (const uint8_t[]){ K }, 4);
		check_bad(&b);
	}
}

/* Decode @wire whole with @d: the events (at most 4) into @ev, and the
   first error (0 if none). */
static long decode_events(struct rc_frame_decoder *d, uint8_t *wire,
			  size_t n, struct rc_frame_event *ev, int *nev)
{
	size_t off = 0;

	*nev = 0;
	while (off < n) {
		struct rc_frame_event e;
		long r = rc_frame_decode(d, wire + off, n - off, &e);

		if (r < 0)
			return r;
		off += (size_t)r;
		if (e.kind != RC_FRAME_NONE && *nev < 4)
			ev[(*nev)++] = e;
		if (!r && e.kind == RC_FRAME_NONE)
			break;
	}
	return 0;
}

/* permessage-deflate (RFC 7692 §6): RSV1 marks a data message compressed,
   on its first frame only; never on control frames or continuations,
   and never without the extension; RSV2/RSV3 stay errors. */
static void test_rsv1_deflate(void **state)
{
	uint32_t key = KEY;
	static const uint8_t junk[] = { 0xff, 0xfe, 0x00, 0xc0 };
	uint8_t wire[64], hdr[RC_FRAME_HDR_MAX];
	struct rc_frame_event ev[4];
	struct rc_frame_decoder d;
	size_t n;
	int nev;

	(void)state;
	/* A compressed TEXT: the event says so, and its bytes (deflate
	   data, not UTF-8) are not checked. */
	rc_frame_decoder_init(&d, 0, true);
	d.rsv1_ok = 1;
	n = put_frame(wire, 0xC1, junk, sizeof(junk), &key);
	assert_int_equal(decode_events(&d, wire, n, ev, &nev), 0);
	assert_int_equal(nev, 1);
	assert_true(ev[0].compressed && ev[0].first && ev[0].last);
	assert_int_equal(ev[0].opcode, RC_OP_TEXT);
	assert_memory_equal(ev[0].data, junk, sizeof(junk));
	/* The next message, plain, is checked again. */
	n = put_frame(wire, 0x81, junk, sizeof(junk), &key);
	assert_int_equal(decode_events(&d, wire, n, ev, &nev), -EILSEQ);

	/* Fragmented: RSV1 on the first frame only; every event of the
	   message is marked, and a ping in between is not. */
	rc_frame_decoder_init(&d, 0, true);
	d.rsv1_ok = 1;
	n = put_frame(wire, 0x42, junk, 2, &key);
	n += put_frame(wire + n, 0x89, "p", 1, &key);
	n += put_frame(wire + n, 0x80, junk + 2, 2, &key);
	n += put_frame(wire + n, 0x82, "ab", 2, &key);
	assert_int_equal(decode_events(&d, wire, n, ev, &nev), 0);
	assert_int_equal(nev, 4);
	assert_true(ev[0].compressed && !ev[0].last);
	assert_true(ev[1].kind == RC_FRAME_CONTROL && !ev[1].compressed);
	assert_true(ev[2].compressed && ev[2].last);
	assert_true(!ev[3].compressed && ev[3].opcode == RC_OP_BINARY);

	/* RSV1 on a continuation, on control frames, RSV2 and RSV3 with
	   the extension on, and RSV1 without it: 1002. */
	{
		static const struct {
			uint8_t first, second;
			bool ok;
		} bad[] = {
			{ 0x41, 0xC0, true },	/* continuation */
			{ 0xC9, 0, true },	/* ping */
			{ 0xCA, 0, true },	/* pong */
			{ 0xC8, 0, true },	/* close */
			{ 0xE1, 0, true },	/* RSV1 + RSV2 */
			{ 0xA1, 0, true },	/* RSV2 */
			{ 0x91, 0, true },	/* RSV3 */
			{ 0xC1, 0, false },	/* not negotiated */
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			rc_frame_decoder_init(&d, 0, true);
			d.rsv1_ok = bad[i].ok;
			n = put_frame(wire, bad[i].first, "x", 1, &key);
			if (bad[i].second)
				n += put_frame(wire + n, bad[i].second, "y",
					       1, &key);
			assert_int_equal(decode_events(&d, wire, n, ev, &nev),
					 -EPROTO);
		}
	}
	/* The encoder sets RSV1 when asked, and keeps it off control
	   frames' opcode bits. */
	assert_int_equal(rc_frame_encode_header(hdr, RC_OP_TEXT | RC_FRAME_RSV1,
						true, 5, NULL), 2);
	assert_int_equal(hdr[0], 0xC1);
	rc_frame_encode_header(hdr, RC_OP_BINARY, true, 5, NULL);
	assert_int_equal(hdr[0], 0x82);
}

/* Limits: exactly max_message passes, and the count restarts per message. */
static void test_max_message(void **state)
{
	uint32_t key = KEY;
	static uint8_t payload[1000], wire[4 * 1100];
	const struct msg want[] = {
		{ RC_FRAME_DATA, RC_OP_BINARY, payload, 1000 },
		{ RC_FRAME_CONTROL, RC_OP_PING, payload, 125 },
		{ RC_FRAME_DATA, RC_OP_BINARY, payload, 1000 },
	};
	struct rc_frame_decoder d;
	struct log l = { 0 };
	size_t n = 0;
	uint8_t *big;
	struct bad b;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	n += put_frame(wire + n, 0x80 | RC_OP_BINARY, payload, 1000, &key);
	n += put_frame(wire + n, RC_OP_BINARY, payload, 600, &key);
	/* control frames do not count toward the message */
	n += put_frame(wire + n, 0x80 | RC_OP_PING, payload, 125, &key);
	n += put_frame(wire + n, 0x80 | RC_OP_CONT, payload + 600, 400, &key);
	rc_frame_decoder_init(&d, 1000, true);
	assert_int_equal(decode_chunk(&d, &l, wire, n), 0);
	check_msgs(&l, want, 3);
	log_free(&l);

	/* 600 then 401: the second header fails, before its payload */
	n = put_frame(wire, RC_OP_BINARY, payload, 600, &key);
	big = wire + n;
	n += put_frame(big, 0x80 | RC_OP_CONT, payload, 401, &key);
	b = (struct bad){ "600 + 401", wire, (size_t)(big + 8 - wire), true, 1000,
			  -EMSGSIZE, (size_t)(big + 7 - wire) };
	check_bad(&b);
}

/* UTF-8 errors in TEXT messages fail in the frame that proves them. */
static void test_utf8_errors(void **state)
{
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);
	uint32_t key = KEY;
	uint8_t wire[4][64];
	size_t n[4], at[4];
	size_t m;

	(void)state;
	/* invalid inside one frame: the overlong C0 80 is proven by C0 */
	n[0] = put_frame(wire[0], 0x81, "ab\xc0\x80" "cd", 6, &key);
	at[0] = 6 + 2;
	/* F4 | 90: split across fragments, fails in the second one, which
	   is not even final */
	m = put_frame(wire[1], 0x01, "ab\xf4", 3, &key);
	n[1] = m + put_frame(wire[1] + m, 0x00, "\x90\x80\x80", 3, &key);
	at[1] = m + 6;
	/* E2 82 | ping | 'A': fails on 'A', after the ping */
	m = put_frame(wire[2], 0x01, "\xe2\x82", 2, &key);
	m += put_frame(wire[2] + m, 0x89, "hi", 2, &key);
	n[2] = m + put_frame(wire[2] + m, 0x80, "A", 1, &key);
	at[2] = m + 6;
	/* a FIN frame ending mid-code-point: fails at its last byte */
	n[3] = put_frame(wire[3], 0x81, "a\xe2\x82", 3, &key);
	at[3] = n[3] - 1;

	for (size_t i = 0; i < nimpl; i++) {
		rc_simd = impls[i];
		for (size_t c = 0; c < 4; c++) {
			struct bad b = { "utf8", wire[c], n[c], true, 0,
					 -EILSEQ, at[c] };

			check_bad(&b);
		}
	}
	rc_simd = &rc_simd_scalar;
}

/* Text that ends mid-code-point, proven only by the final empty frame. */
static void test_utf8_unfinished_at_fin(void **state)
{
	uint32_t key = KEY;
	struct rc_frame_decoder d;
	struct log l = { 0 };
	uint8_t wire[32];
	size_t m, n;

	(void)state;
	m = put_frame(wire, 0x01, "a\xe2", 2, &key);
	n = m + put_frame(wire + m, 0x80, NULL, 0, &key);
	rc_frame_decoder_init(&d, 0, true);
	assert_int_equal(decode_chunk(&d, &l, wire, m), 0);
	assert_int_equal(decode_chunk(&d, &l, wire + m, n - m), -EILSEQ);
	assert_int_equal(l.nmsgs, 0);
	log_free(&l);

	/* the same from a server, unmasked, to a client decoder */
	m = put_frame(wire, 0x01, "a\xf0\x9f\x98", 4, NULL);
	n = m + put_frame(wire + m, 0x80, NULL, 0, NULL);
	rc_frame_decoder_init(&d, 0, false);
	assert_int_equal(decode_chunk(&d, &l, wire, m), 0);
	assert_int_equal(decode_chunk(&d, &l, wire + m, n - m), -EILSEQ);
	log_free(&l);

	/* and BINARY is never checked */
	m = put_frame(wire, 0x82, "a\xe2", 2, &key);
	rc_frame_decoder_init(&d, 0, true);
	assert_int_equal(decode_chunk(&d, &l, wire, m), 0);
	assert_int_equal(l.nmsgs, 1);
	log_free(&l);
}

/* The rule, written apart from rc_close_code_valid(). */
static bool close_code_rule(unsigned code)
{
	switch (code) {
	case 1000: case 1001: case 1002: case 1003:
	case 1007: case 1008: case 1009: case 1010: case 1011:
	case 1012: case 1013: case 1014:	/* IANA registry (§11.7) */
		return true;
	default:
		return code >= 3000 && code <= 4999;
	}
}

static void test_close_code_valid(void **state)
{
	unsigned nvalid = 0;

	(void)state;
	for (unsigned code = 0; code <= 5000; code++) {
		assert_int_equal(rc_close_code_valid((uint16_t)code),
				 close_code_rule(code));
		nvalid += rc_close_code_valid((uint16_t)code);
	}
	assert_int_equal(nvalid, 4 + 8 + 2000);
	assert_false(rc_close_code_valid(1004));
	assert_false(rc_close_code_valid(1005));
	assert_false(rc_close_code_valid(1006));
	assert_true(rc_close_code_valid(1012));
	assert_true(rc_close_code_valid(1014));
	assert_false(rc_close_code_valid(1015));
	assert_false(rc_close_code_valid(65535));
	assert_true(rc_close_code_valid(4999));
}

static void test_close_parse(void **state)
{
	static const uint8_t reason[] = "\x03\xe8" "bye \xc3\xa9";
	uint8_t big[125];
	const uint8_t *r;
	size_t rlen;
	uint16_t code;

	(void)state;
	code = 0;
	assert_int_equal(rc_frame_close_parse(reason, 0, &code, &r, &rlen), 0);
	assert_int_equal(code, 1005);
	assert_int_equal(rlen, 0);
	assert_int_equal(rc_frame_close_parse(reason, 1, &code, &r, &rlen),
			 -EPROTO);
	assert_int_equal(rc_frame_close_parse(reason, 2, &code, &r, &rlen), 0);
	assert_int_equal(code, 1000);
	assert_int_equal(rlen, 0);
	assert_int_equal(rc_frame_close_parse(reason, sizeof(reason) - 1,
					      &code, &r, &rlen), 0);
	assert_int_equal(code, 1000);
	assert_ptr_equal(r, reason + 2);
	assert_int_equal(rlen, sizeof(reason) - 3);
	/* codes not allowed on the wire */
	assert_int_equal(rc_frame_close_parse((const uint8_t *)"\x03\xed", 2,
					      &code, &r, &rlen), -EPROTO);
	assert_int_equal(rc_frame_close_parse((const uint8_t *)"\x03\xee", 2,
					      &code, &r, &rlen), -EPROTO);
	assert_int_equal(rc_frame_close_parse((const uint8_t *)"\x03\xe7", 2,
					      &code, &r, &rlen), -EPROTO);
	assert_int_equal(rc_frame_close_parse((const uint8_t *)"\x13\x88", 2,
					      &code, &r, &rlen), -EPROTO);
	assert_int_equal(rc_frame_close_parse((const uint8_t *)"\x0f\xa0", 2,
					      &code, &r, &rlen), 0);
	assert_int_equal(code, 4000);
	/* reasons that are not UTF-8: bad, and cut mid-code-point */
	assert_int_equal(rc_frame_close_parse((const uint8_t *)"\x03\xe8\xc0\x80",
					      4, &code, &r, &rlen), -EILSEQ);
	assert_int_equal(rc_frame_close_parse((const uint8_t *)"\x03\xe8" "a\xe2\x82",
					      5, &code, &r, &rlen), -EILSEQ);
	assert_int_equal(rc_frame_close_parse((const uint8_t *)"\x03\xe8\xed\xa0\x80",
					      5, &code, &r, &rlen), -EILSEQ);
	/* the largest close payload */
	big[0] = 0x0B;
	big[1] = 0xB8;
	make_text(big + 2, sizeof(big) - 2);
	assert_int_equal(rc_frame_close_parse(big, sizeof(big), &code, &r,
					      &rlen), 0);
	assert_int_equal(code, 3000);
	assert_int_equal(rlen, 123);
}

static void test_close_code(void **state)
{
	(void)state;
	assert_int_equal(rc_frame_close_code(-EPROTO), 1002);
	assert_int_equal(rc_frame_close_code(-EILSEQ), 1007);
	assert_int_equal(rc_frame_close_code(-EMSGSIZE), 1009);
	assert_int_equal(rc_frame_close_code(-ENOMEM), 1011);
	assert_int_equal(rc_frame_close_code(-EAGAIN), 1011);
}

/*
 * rc_frame_encode_header at the length boundaries, masked and not: the
 * bytes match the independent writer and the decoder reads them back.
 */
static void test_encode_header(void **state)
{
	static const uint64_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536,
					 1ull << 32, (1ull << 63) - 1 };
	uint32_t key = KEY;

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (int masked = 0; masked <= 1; masked++)
			for (int fin = 0; fin <= 1; fin++) {
				uint64_t len = lens[i];
				size_t hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
				uint8_t out[RC_FRAME_HDR_MAX];
				uint8_t *wire, *payload;
				struct rc_frame_decoder d;
				struct rc_frame_event ev;
				size_t n;
				long r;

				hl += masked ? 4 : 0;
				n = rc_frame_encode_header(out, RC_OP_BINARY, fin,
							   len, masked ? &key : NULL);
				assert_int_equal(n, hl);
				assert_int_equal(out[0], (fin ? 0x80 : 0) | RC_OP_BINARY);
				assert_int_equal(out[1] >> 7, masked);
				if (masked)
					expect_bytes(out + n - 4, &key, 4);

				if (len > 65536) {
					/* header only: the decoder takes it
					   and waits for the payload */
					rc_frame_decoder_init(&d, 0, masked);
					r = rc_frame_decode(&d, out, n, &ev);
					assert_int_equal(r, n);
					assert_int_equal(ev.kind, RC_FRAME_NONE);
					assert_true(d.remaining == len);
					continue;
				}
				/* header and payload, byte for byte as the
				   independent writer has them */
				wire = malloc(hl + len + RC_SIMD_PADDING);
				payload = malloc(len + 1);
				assert_non_null(wire);
				assert_non_null(payload);
				memset(payload, 'q', len);
				assert_int_equal(put_frame(wire, out[0], payload,
							   len, masked ? &key : NULL),
						 hl + len);
				expect_bytes(wire, out, n);
				rc_frame_decoder_init(&d, 0, masked);
				r = rc_frame_decode(&d, wire, hl + len, &ev);
				assert_int_equal(r, hl + len);
				assert_int_equal(ev.kind, RC_FRAME_DATA);
				assert_int_equal(ev.opcode, RC_OP_BINARY);
				assert_true(ev.first);
				assert_int_equal(ev.last, fin);
				assert_int_equal(ev.len, len);
				if (len)
					expect_bytes(ev.data, payload, len);
				free(payload);
				free(wire);
			}
}

/* Control opcodes and FIN through the encoder and decoder. */
static void test_encode_control(void **state)
{
	static const unsigned ops[] = { RC_OP_CLOSE, RC_OP_PING, RC_OP_PONG };
	uint32_t key = KEY;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		uint8_t wire[RC_FRAME_HDR_MAX + RC_FRAME_CONTROL_MAX];
		struct rc_frame_decoder d;
		struct rc_frame_event ev;
		size_t n;

		n = rc_frame_encode_header(wire, ops[i], true,
					   RC_FRAME_CONTROL_MAX, &key);
		assert_int_equal(n, 6);
		memset(wire + n, 'c', RC_FRAME_CONTROL_MAX);
		ref_unmask(wire + n, RC_FRAME_CONTROL_MAX, key, 0);
		rc_frame_decoder_init(&d, 0, true);
		assert_int_equal(rc_frame_decode(&d, wire, sizeof(wire), &ev),
				 n + RC_FRAME_CONTROL_MAX);
		assert_int_equal(ev.kind, RC_FRAME_CONTROL);
		assert_int_equal(ev.opcode, ops[i]);
		assert_true(ev.first && ev.last);
		assert_int_equal(ev.len, RC_FRAME_CONTROL_MAX);
		assert_int_equal(ev.data[0], 'c');
		assert_int_equal(ev.data[RC_FRAME_CONTROL_MAX - 1], 'c');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_lengths),
		cmocka_unit_test(test_fragmented_with_control),
		cmocka_unit_test(test_one_event_per_call),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_max_message),
		cmocka_unit_test(test_utf8_errors),
		cmocka_unit_test(test_utf8_unfinished_at_fin),
		cmocka_unit_test(test_close_code_valid),
		cmocka_unit_test(test_close_parse),
		cmocka_unit_test(test_close_code),
		cmocka_unit_test(test_encode_header),
		cmocka_unit_test(test_rsv1_deflate),
		cmocka_unit_test(test_encode_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
