/* SPDX-License-Identifier: MIT */
/* test_load.c -- ringcast-load: histogram math, its frames and handshake against the server's own codec (the subprotocol answer too), its ringcast.v1 line parser, its TLS client against OpenSSL's server. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ringcast.h"
#include "proto/frame.h"
#include "proto/http.h"
#include "proto/upgrade.h"
#include "hist.h"
#include "pmd.h"
#include "tls.h"
#include "v1.h"
#include "ws.h"
#include "ref/testutil.h"

/* xorshift64* state: a fixed seed, so every run tests the same inputs. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Latency-like samples: spread evenly over the powers of two from 1 ns
   to about 17 s, uniform within each. */
static uint64_t sample(void)
{
	uint64_t r = rng_next(&rng);
	unsigned k = (unsigned)(r % 35);

	return (1ull << k) + (rng_next(&rng) & ((1ull << k) - 1));
}

/* Every value lies in its bucket, buckets are no wider than 1/64 of
   their values, and indexes grow with values. */
static void test_hist_buckets(void **state)
{
	unsigned prev = 0;

	(void)state;
	for (uint64_t v = 0; v < 128; v++) {
		assert_int_equal(rl_hist_index(v), v);
		assert_int_equal(rl_hist_width(rl_hist_index(v)), 1);
	}
	for (int i = 0; i < 200000; i++) {
		uint64_t v = sample();
		unsigned idx = rl_hist_index(v);

		assert_true(idx < RL_HIST_BUCKETS);
		assert_true(rl_hist_lowest(idx) <= v);
		assert_true(v < rl_hist_lowest(idx) + rl_hist_width(idx));
		assert_true(rl_hist_width(idx) * 64 <= rl_hist_lowest(idx) ||
			    rl_hist_width(idx) == 1);
	}
	for (uint64_t v = 1; v < (1ull << 42); v += v / 50 + 1) {
		unsigned idx = rl_hist_index(v);

		assert_true(idx >= prev);
		prev = idx;
	}
	/* Consecutive buckets tile the range with no gap. */
	for (unsigned i = 0; i + 1 < RL_HIST_BUCKETS; i++)
		assert_int_equal(rl_hist_lowest(i) + rl_hist_width(i),
				 rl_hist_lowest(i + 1));
	/* Past the top: the last bucket; max stays exact. */
	assert_int_equal(rl_hist_index(1ull << 50), RL_HIST_BUCKETS - 1);
	assert_int_equal(rl_hist_index(UINT64_MAX), RL_HIST_BUCKETS - 1);
}

/* Percentiles agree with a sorted array of the same samples, within the
   bucket of the true value. */
static void test_hist_percentiles(void **state)
{
	static const double pcts[] = { 0, 1, 10, 25, 50, 75, 90, 99, 99.9,
				       99.99, 100 };
	enum { N = 100003 };
	uint64_t *v = malloc(N * sizeof(*v)), sum = 0;
	struct rl_hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(v);
	assert_non_null(h);
	rl_hist_init(h);
	for (int i = 0; i < N; i++) {
		v[i] = sample();
		sum += v[i];
		rl_hist_record(h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	assert_int_equal(h->count, N);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[N - 1]);
	assert_int_equal(h->sum, sum);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		uint64_t rank = (uint64_t)(pcts[i] / 100.0 * N + 0.999999);
		uint64_t want = v[(rank ? rank : 1) - 1];
		uint64_t got = rl_hist_percentile(h, pcts[i]);
		unsigned idx = rl_hist_index(want);

		if (got < rl_hist_lowest(idx) ||
		    got >= rl_hist_lowest(idx) + rl_hist_width(idx))
			fail_msg("p%g: %llu, want %llu (bucket %llu + %llu)",
				 pcts[i], (unsigned long long)got,
				 (unsigned long long)want,
				 (unsigned long long)rl_hist_lowest(idx),
				 (unsigned long long)rl_hist_width(idx));
		/* 1/64 of the value, as promised. */
		assert_true(got == want ||
			    (got > want ? got - want : want - got) * 64 <= want);
	}
	assert_int_equal(rl_hist_percentile(h, 100), v[N - 1]);
	assert_int_equal(rl_hist_percentile(h, 0), rl_hist_percentile(h, 1e-9));
	free(v);
	free(h);
}

/* Few samples, each in a bucket of its own: the rank behind every
   percentile must be exact, not one off. */
static void test_hist_ranks(void **state)
{
	enum { N = 20 };
	uint64_t v[N];
	struct rl_hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(h);
	rl_hist_init(h);
	/* 1000 * 2^i, recorded in a scrambled order (7 is prime to 20). */
	for (unsigned i = 0; i < N; i++) {
		v[i] = 1000ull << i;
		rl_hist_record(h, 1000ull << (i * 7 % N));
	}
	for (double p = 0; p <= 100.0; p += 0.25) {
		double want_rank = p / 100.0 * N;
		unsigned rank = (unsigned)want_rank;
		unsigned idx;
		uint64_t got = rl_hist_percentile(h, p);

		if (rank < want_rank || !rank)
			rank++;
		idx = rl_hist_index(v[rank - 1]);
		if (rl_hist_index(got) != idx)
			fail_msg("p%g: %llu, want the bucket of %llu", p,
				 (unsigned long long)got,
				 (unsigned long long)v[rank - 1]);
	}
	free(h);
}

/* Merging two halves gives the histogram of the whole. */
static void test_hist_merge(void **state)
{
	struct rl_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rl_hist *all = malloc(sizeof(*all));

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(all);
	rl_hist_init(a);
	rl_hist_init(b);
	rl_hist_init(all);
	/* Different ranges, so min comes from one and max from the other. */
	for (int i = 0; i < 50000; i++) {
		uint64_t x = sample() >> 4, y = sample() + 1000;

		rl_hist_record(a, x);
		rl_hist_record(all, x);
		rl_hist_record(b, y);
		rl_hist_record(all, y);
	}
	rl_hist_record(b, 3ull << 40);		/* a single far outlier */
	rl_hist_record(all, 3ull << 40);
	rl_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->sum, all->sum);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, 3ull << 40);
	assert_memory_equal(a->n, all->n, sizeof(a->n));
	assert_int_equal(rl_hist_percentile(a, 50),
			 rl_hist_percentile(all, 50));
	assert_int_equal(rl_hist_percentile(a, 100), 3ull << 40);

	/* Merging an empty one changes nothing, min included. */
	rl_hist_init(b);
	rl_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min, all->min);
	free(a);
	free(b);
	free(all);
}

static void test_hist_small(void **state)
{
	struct rl_hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(h);
	rl_hist_init(h);
	assert_int_equal(rl_hist_percentile(h, 50), 0);
	assert_true(rl_hist_mean(h) == 0.0);
	rl_hist_record(h, 123456789);
	/* One sample: every percentile is it (clamped to min and max). */
	assert_int_equal(rl_hist_percentile(h, 0), 123456789);
	assert_int_equal(rl_hist_percentile(h, 50), 123456789);
	assert_int_equal(rl_hist_percentile(h, 99.9), 123456789);
	rl_hist_record(h, 1);
	assert_int_equal(rl_hist_percentile(h, 50), 1);
	assert_int_equal(rl_hist_percentile(h, 50.1), 123456789);
	assert_int_equal(h->max, 123456789);
	free(h);
}

/* Run @buf[0..n) through the server's decoder in chunks of @chunk bytes;
   the DATA payload collected into @out. Returns its length. */
static size_t server_decode(uint8_t *buf, size_t n, size_t chunk,
			    uint8_t *out, unsigned *opcode)
{
	struct rc_frame_decoder d;
	size_t off = 0, got = 0;
	bool done = false;

	rc_frame_decoder_init(&d, 0, true);
	while (off < n) {
		size_t len = n - off < chunk ? n - off : chunk;
		struct rc_frame_event ev;
		long r = rc_frame_decode(&d, buf + off, len, &ev);

		assert_true(r >= 0);
		off += (size_t)r;
		if (ev.kind != RC_FRAME_DATA)
			continue;
		assert_false(done);
		memcpy(out + got, ev.data, ev.len);
		got += ev.len;
		*opcode = ev.opcode;
		done = ev.last;
	}
	assert_true(done);
	return got;
}

/* The tool's masked frames, decoded by the server (which requires the
   mask, the minimal length form, and valid UTF-8 for TEXT). */
static void test_frame_client_to_server(void **state)
{
	static const size_t sizes[] = { 0, 1, 16, 125, 126, 127, 65535,
					65536, 100000 };
	static const uint32_t keys[] = { 0x12345678u, 0xffffffffu, 0x01u };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], flen = rl_ws_frame_len(n);
		uint8_t *payload = malloc(n + 1), *out = malloc(n + 1);
		/* Padded: the decoder's kernels may read ahead. */
		uint8_t *frame = calloc(1, flen + RC_SIMD_PADDING);

		assert_non_null(payload);
		assert_non_null(out);
		assert_non_null(frame);
		for (size_t j = 0; j < n; j++)
			payload[j] = (uint8_t)('a' + rng_next(&rng) % 26);
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			unsigned op = k % 2 ? RC_OP_TEXT : RC_OP_BINARY;
			unsigned got_op = 0;
			size_t chunk = n < 300 ? 1 : 4093;

			assert_int_equal(rl_ws_encode(frame, op, payload, n,
						      keys[k]), flen);
			assert_int_equal(frame[0], 0x80 | op);
			assert_true(frame[1] & 0x80);
			/* The payload on the wire is masked. */
			if (n >= 4 && keys[k] != 0)
				assert_true(memcmp(frame + flen - n, payload,
						   n));
			/* Whole, then split (byte by byte when small). */
			assert_int_equal(server_decode(frame, flen, flen, out,
						       &got_op), n);
			assert_int_equal(got_op, op);
			expect_bytes(out, payload, n);
			rl_ws_encode(frame, op, payload, n, keys[k]);
			assert_int_equal(server_decode(frame, flen, chunk, out,
						       &got_op), n);
			expect_bytes(out, payload, n);
		}
		free(payload);
		free(out);
		free(frame);
	}
}

/* Masking is its own inverse, at every key offset. */
static void test_frame_mask(void **state)
{
	uint8_t a[37], b[37];
	uint32_t key = 0xa1b2c3d4u;

	(void)state;
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)i;
	for (size_t off = 0; off < 4; off++) {
		rl_ws_mask(a, sizeof(a), key, off);
		assert_true(memcmp(a, b, sizeof(a)));
		assert_int_equal(a[0], b[0] ^ ((const uint8_t *)&key)[off]);
		rl_ws_mask(a, sizeof(a), key, off);
		assert_memory_equal(a, b, sizeof(a));
	}
}

/* One server frame (unmasked), header by the server's encoder. */
static size_t put_server_frame(uint8_t *out, unsigned opcode, bool fin,
			       const void *p, size_t n)
{
	size_t hl = rc_frame_encode_header(out, opcode, fin, n, NULL);

	memcpy(out + hl, p, n);
	return hl + n;
}

struct seen {
	int data, ping, pong, close;
	uint64_t data_len;
	uint8_t head[RL_WS_HEAD];
	size_t head_len;
	uint8_t ping_payload[8];
	uint16_t close_code;
};

static void feed_all(uint8_t *buf, size_t n, size_t chunk, struct seen *s)
{
	struct rl_ws_rx rx;
	size_t off = 0;

	memset(s, 0, sizeof(*s));
	rl_ws_rx_init(&rx);
	while (off < n) {
		size_t len = n - off < chunk ? n - off : chunk;
		struct rl_ws_msg m;
		long r = rl_ws_rx_feed(&rx, buf + off, len, &m);

		assert_true(r >= 0);
		assert_true(r > 0 || m.kind != RL_WS_NONE);
		off += (size_t)r;
		switch (m.kind) {
		case RL_WS_DATA:
			s->data++;
			s->data_len = m.len;
			assert_int_equal(m.opcode, RC_OP_TEXT);
			memcpy(s->head, m.head, m.head_len);
			s->head_len = m.head_len;
			break;
		case RL_WS_PING:
			s->ping++;
			assert_int_equal(m.len, 5);
			memcpy(s->ping_payload, m.head, m.len);
			break;
		case RL_WS_PONG:
			s->pong++;
			break;
		case RL_WS_CLOSE:
			s->close++;
			s->close_code = (uint16_t)(m.head[0] << 8 | m.head[1]);
			break;
		default:
			break;
		}
	}
}

/* Server frames through the tool's parser, split at every place: a
   fragmented TEXT message with a ping between its fragments, a pong, and
   a close frame. */
static void test_frame_server_to_client(void **state)
{
	uint8_t text[300], buf[512 + RC_SIMD_PADDING];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)('A' + i % 26);
	n += put_server_frame(buf + n, RC_OP_TEXT, false, text, 10);
	n += put_server_frame(buf + n, RC_OP_PING, true, "hello", 5);
	n += put_server_frame(buf + n, RC_OP_CONT, false, text + 10, 200);
	n += put_server_frame(buf + n, RC_OP_CONT, true, text + 210, 90);
	n += put_server_frame(buf + n, RC_OP_PONG, true, "", 0);
	n += put_server_frame(buf + n, RC_OP_CLOSE, true, "\x03\xe9" "bye", 5);
	memset(buf + n, 0, RC_SIMD_PADDING);
	for (size_t chunk = 1; chunk <= n; chunk++) {
		struct seen s;

		feed_all(buf, n, chunk, &s);
		assert_int_equal(s.data, 1);
		assert_int_equal(s.data_len, 300);
		assert_int_equal(s.head_len, RL_WS_HEAD);
		assert_memory_equal(s.head, text, RL_WS_HEAD);
		assert_int_equal(s.ping, 1);
		assert_memory_equal(s.ping_payload, "hello", 5);
		assert_int_equal(s.pong, 1);
		assert_int_equal(s.close, 1);
		assert_int_equal(s.close_code, 1001);
	}
}

/* What a client must refuse: a masked frame from the server, and text
   that is not UTF-8. */
static void test_frame_server_errors(void **state)
{
	uint8_t buf[64 + RC_SIMD_PADDING] = { 0 };
	struct rl_ws_rx rx;
	struct rl_ws_msg m;
	size_t n;

	(void)state;
	n = rl_ws_encode(buf, RC_OP_BINARY, "abc", 3, 0x01020304u);
	rl_ws_rx_init(&rx);
	assert_int_equal(rl_ws_rx_feed(&rx, buf, n, &m), -EPROTO);

	n = put_server_frame(buf, RC_OP_TEXT, true, "\xc3\x28", 2);
	rl_ws_rx_init(&rx);
	assert_int_equal(rl_ws_rx_feed(&rx, buf, n, &m), -EILSEQ);

	/* A short message keeps all of itself as head. */
	n = put_server_frame(buf, RC_OP_BINARY, true, "xyz", 3);
	rl_ws_rx_init(&rx);
	assert_int_equal(rl_ws_rx_feed(&rx, buf, n, &m), (long)n);
	assert_int_equal(m.kind, RL_WS_DATA);
	assert_int_equal(m.opcode, RC_OP_BINARY);
	assert_int_equal(m.len, 3);
	assert_int_equal(m.head_len, 3);
}

/* The tool's request, read by the server's parser and upgrade check. */
static void test_handshake_request(void **state)
{
	char key[RL_WS_KEY_LEN + 1], accept[RC_ACCEPT_LEN], want[RC_ACCEPT_LEN];
	char req[512];
	struct rc_http_header headers[32];
	struct rc_http_request r = { .headers = headers, .max_headers = 32 };
	struct rc_upgrade up;
	int len;

	(void)state;
	assert_int_equal(rl_ws_key(7, key, accept), 0);
	assert_int_equal(strlen(key), RL_WS_KEY_LEN);
	assert_int_equal(rc_upgrade_accept_key(key, RL_WS_KEY_LEN, want), 0);
	assert_memory_equal(accept, want, RC_ACCEPT_LEN);
	/* Different seeds, different keys. */
	assert_int_equal(rl_ws_key(8, req, want), 0);
	assert_true(memcmp(key, req, RL_WS_KEY_LEN));

	len = rl_ws_request(req, sizeof(req), "127.0.0.1:8080",
			    "/ws/room?token=t", key, "http://127.0.0.1:8080");
	assert_true(len > 0);
	assert_int_equal(rc_http_parse(req, (size_t)len, 0, &r), len);
	assert_true(rc_http_slice_eq(r.path, "/ws/room"));
	assert_non_null(rc_http_find(&r, "origin"));
	assert_true(rc_http_slice_eq(rc_http_find(&r, "origin")->value,
				     "http://127.0.0.1:8080"));
	assert_int_equal(rc_upgrade_check(&r, NULL, 0, &up), 101);
	assert_int_equal(up.key.n, RL_WS_KEY_LEN);
	assert_memory_equal(up.key.p, key, RL_WS_KEY_LEN);
	assert_int_equal(rl_ws_request(req, 40, "h:1", "/echo", key, NULL),
			 -ENOSPC);
}

/* The server's 101 for our key passes; a wrong key, a rejection and a
   partial head do not. */
static void test_handshake_response(void **state)
{
	char key[RL_WS_KEY_LEN + 1], okey[RL_WS_KEY_LEN + 1];
	char accept[RC_ACCEPT_LEN], other[RC_ACCEPT_LEN];
	char resp[512];
	const char *r503 = "HTTP/1.1 503 Service Unavailable\r\n"
			   "Content-Length: 0\r\n\r\n";
	const char *bad = "HTTP/1.1 101 Switching Protocols\r\n"
			  "Upgrade: websocket\r\n\r\n";
	int len, status;

	(void)state;
	assert_int_equal(rl_ws_key(1, key, accept), 0);
	assert_int_equal(rl_ws_key(2, okey, other), 0);
	len = rc_upgrade_response(resp, sizeof(resp), key, RL_WS_KEY_LEN,
				  NULL);
	assert_true(len > 0);
	/* Bytes after the head (a first frame) are not part of it. */
	memcpy(resp + len, "\x81\x00", 2);
	assert_int_equal(rl_ws_response(resp, (size_t)len + 2, accept,
					&status), len);
	assert_int_equal(status, 101);
	for (int cut = 0; cut < len; cut++)
		assert_int_equal(rl_ws_response(resp, (size_t)cut, accept,
						&status), -EAGAIN);
	assert_int_equal(rl_ws_response(resp, (size_t)len, other, &status),
			 -EPROTO);
	assert_int_equal(status, 101);

	assert_int_equal(rl_ws_response(r503, strlen(r503), accept, &status),
			 (long)strlen(r503));
	assert_int_equal(status, 503);
	assert_int_equal(rl_ws_response(bad, strlen(bad), accept, &status),
			 -EPROTO);
	assert_int_equal(rl_ws_response("SSH-2.0-x\r\n\r\n", 13, accept,
					&status), -EPROTO);
	assert_int_equal(status, 0);
}

/* A 101 from the server's own writer for @key, with @extra header lines
   ("Name: value\r\n" each, may be "") spliced in before the blank line. */
static size_t resp_with(char *buf, size_t cap, const char *key,
			const char *extra)
{
	int len = rc_upgrade_response(buf, cap, key, RL_WS_KEY_LEN, NULL);
	size_t el = strlen(extra);

	assert_true(len > 4);
	assert_true((size_t)len + el < cap);
	memcpy(buf + len - 2 + el, "\r\n", 2);
	memcpy(buf + len - 2, extra, el);
	return (size_t)len + el;
}

/*
 * The subprotocol on the answer (RFC 6455 §4.1, §11.3.4): the one asked
 * for, echoed, once; the header name in any case and the value with OWS
 * around it, but the value itself compared byte for byte (a subprotocol
 * name is case-sensitive, §4.1 and §11.5). None asked: none may come back.
 */
static void test_handshake_subprotocol(void **state)
{
	static const struct {
		const char *extra;	/* header lines added to the 101 */
		const char *asked;	/* NULL: no subprotocol asked for */
		bool ok;
	} cases[] = {
		{ "Sec-WebSocket-Protocol: ringcast.v1\r\n", RL_V1_NAME, true },
		{ "sec-websocket-protocol: ringcast.v1\r\n", RL_V1_NAME, true },
		{ "SEC-WEBSOCKET-PROTOCOL: ringcast.v1\r\n", RL_V1_NAME, true },
		{ "Sec-WebSocket-Protocol:ringcast.v1\r\n", RL_V1_NAME, true },
		{ "Sec-WebSocket-Protocol: \t ringcast.v1 \t\r\n", RL_V1_NAME,
		  true },
		{ "", NULL, true },
		/* Asked, but none answered: the server does not speak it. */
		{ "", RL_V1_NAME, false },
		{ "Sec-WebSocket-Protocol: chat\r\n", RL_V1_NAME, false },
		{ "Sec-WebSocket-Protocol: RingCast.v1\r\n", RL_V1_NAME,
		  false },
		{ "Sec-WebSocket-Protocol: RINGCAST.V1\r\n", RL_V1_NAME,
		  false },
		{ "Sec-WebSocket-Protocol: ringcast.v\r\n", RL_V1_NAME, false },
		{ "Sec-WebSocket-Protocol: ringcast.v12\r\n", RL_V1_NAME,
		  false },
		{ "Sec-WebSocket-Protocol: \"ringcast.v1\"\r\n", RL_V1_NAME,
		  false },
		{ "Sec-WebSocket-Protocol: ringcast .v1\r\n", RL_V1_NAME,
		  false },
		{ "Sec-WebSocket-Protocol:\r\n", RL_V1_NAME, false },
		/* One value, not a list; and the header at most once. */
		{ "Sec-WebSocket-Protocol: ringcast.v1, chat\r\n", RL_V1_NAME,
		  false },
		{ "Sec-WebSocket-Protocol: chat, ringcast.v1\r\n", RL_V1_NAME,
		  false },
		{ "Sec-WebSocket-Protocol: ringcast.v1\r\n"
		  "Sec-WebSocket-Protocol: ringcast.v1\r\n", RL_V1_NAME,
		  false },
		/* None asked for: any answer is one nobody asked for. */
		{ "Sec-WebSocket-Protocol: ringcast.v1\r\n", NULL, false },
		{ "Sec-WebSocket-Protocol: chat\r\n", NULL, false },
		/* The other headers are still checked beside it. */
		{ "Sec-WebSocket-Protocol: ringcast.v1\r\n"
		  "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",
		  RL_V1_NAME, false },
	};
	char key[RL_WS_KEY_LEN + 1], accept[RC_ACCEPT_LEN];
	char resp[512], req[512];
	struct rc_http_header headers[32];
	struct rc_http_request r = { .headers = headers, .max_headers = 32 };
	const struct rc_http_header *h;
	struct rl_pmd_params pmd;
	int len, status;
	size_t n;

	(void)state;
	assert_int_equal(rl_ws_key(3, key, accept), 0);

	/* The request asks for it, as the server reads it; NULL: it does
	   not ask. */
	len = rl_ws_request_proto(req, sizeof(req), "127.0.0.1:8080",
				  "/ws/room", key, NULL, NULL, RL_V1_NAME);
	assert_true(len > 0);
	assert_int_equal(rc_http_parse(req, (size_t)len, 0, &r), len);
	h = rc_http_find(&r, "sec-websocket-protocol");
	assert_non_null(h);
	assert_true(rc_http_slice_eq(h->value, RL_V1_NAME));
	len = rl_ws_request_proto(req, sizeof(req), "127.0.0.1:8080",
				  "/ws/room", key, NULL, NULL, NULL);
	assert_true(len > 0);
	assert_int_equal(rc_http_parse(req, (size_t)len, 0, &r), len);
	assert_null(rc_http_find(&r, "sec-websocket-protocol"));

	/* The server's own answer naming it. */
	len = rc_upgrade_response(resp, sizeof(resp), key, RL_WS_KEY_LEN,
				  RL_V1_NAME);
	assert_true(len > 0);
	assert_int_equal(rl_ws_response_proto(resp, (size_t)len, accept,
					      &status, NULL, RL_V1_NAME), len);
	assert_int_equal(status, 101);
	assert_int_equal(rl_ws_response_proto(resp, (size_t)len, accept,
					      &status, NULL, "chat"), -EPROTO);
	assert_int_equal(rl_ws_response(resp, (size_t)len, accept, &status),
			 -EPROTO);
	for (int cut = 0; cut < len; cut++)
		assert_int_equal(rl_ws_response_proto(resp, (size_t)cut,
						      accept, &status, NULL,
						      RL_V1_NAME), -EAGAIN);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long want;

		n = resp_with(resp, sizeof(resp), key, cases[i].extra);
		want = cases[i].ok ? (long)n : -EPROTO;
		if (rl_ws_response_proto(resp, n, accept, &status, NULL,
					 cases[i].asked) != want)
			fail_msg("case %zu (asked %s): \"%s\" not %s", i,
				 cases[i].asked ? cases[i].asked : "none",
				 cases[i].extra,
				 cases[i].ok ? "accepted" : "refused");
		assert_int_equal(status, 101);
	}

	/* With permessage-deflate offered as well: both are checked. */
	n = resp_with(resp, sizeof(resp), key,
		      "Sec-WebSocket-Extensions: permessage-deflate\r\n"
		      "Sec-WebSocket-Protocol: ringcast.v1\r\n");
	assert_int_equal(rl_ws_response_proto(resp, n, accept, &status, &pmd,
					      RL_V1_NAME), (long)n);
	assert_true(pmd.on);
	assert_int_equal(rl_ws_response_proto(resp, n, accept, &status, NULL,
					      RL_V1_NAME), -EPROTO);
	assert_int_equal(rl_ws_response_proto(resp, n, accept, &status, &pmd,
					      NULL), -EPROTO);
	/* A refusal is no 101: its headers are not checked. */
	snprintf(resp, sizeof(resp), "HTTP/1.1 403 Forbidden\r\n"
		 "Sec-WebSocket-Protocol: chat\r\n\r\n");
	n = strlen(resp);
	assert_int_equal(rl_ws_response_proto(resp, n, accept, &status, NULL,
					      RL_V1_NAME), (long)n);
	assert_int_equal(status, 403);
}

/* ringcast.v1 lines as the hub writes them (docs/PROTOCOL.md). */
#define V1_MSG	"{\"type\":\"msg\",\"room\":\"lobby\"," \
		"\"epoch\":4502237186542821,\"offset\":118," \
		"\"from\":\"alice\",\"data\":\"hello\"}"
#define V1_BIN	"{\"type\":\"msg\",\"room\":\"lobby\"," \
		"\"epoch\":4502237186542821,\"offset\":119," \
		"\"from\":null,\"data\":\"AP9iaW4=\",\"binary\":true}"
/* Room a"b\ and sender x\",\"data\":\" : quotes and backslashes escaped,
   one that looks like the fields after it. */
#define V1_ESC	"{\"type\":\"msg\",\"room\":\"a\\\"b\\\\\",\"epoch\":7," \
		"\"offset\":1,\"from\":\"x\\\",\\\"data\\\":\\\"\"," \
		"\"data\":\"q\\\"\\\\\\u00e9\"}"
#define V1_JOINED \
		"{\"type\":\"joined\",\"room\":\"lobby\",\"epoch\":9," \
		"\"offset\":120}"
#define V1_REC	"{\"type\":\"joined\",\"room\":\"r\\\\\",\"epoch\":9," \
		"\"offset\":0,\"recovered\":true}"
#define V1_NREC	"{\"type\":\"joined\",\"room\":\"lobby\",\"epoch\":10," \
		"\"offset\":3,\"recovered\":false}"
#define V1_PRES	"{\"type\":\"presence\",\"room\":\"lobby\",\"members\":" \
		"[{\"id\":\"1000000\",\"sub\":\"alice\"}],\"count\":1}"
#define V1_JOIN	"{\"type\":\"join\",\"room\":\"lobby\",\"id\":\"4000002\"," \
		"\"sub\":null,\"count\":2}"
#define V1_LEAVE "{\"type\":\"leave\",\"room\":\"lobby\",\"id\":\"4000002\"," \
		 "\"sub\":null,\"count\":1}"
/* A type with an escaped quote in it: still one string to skip. */
#define V1_ODD	"{\"type\":\"pre\\\"sence\",\"room\":\"lobby\"}"

/* Parse a copy of @s[0..@n) in a buffer of exactly @n bytes (so that
   ASan sees a read past it). */
static enum rl_v1_type v1_parse_n(const char *s, size_t n,
				  struct rl_v1_line *e)
{
	uint8_t *p = malloc(n ? n : 1);
	enum rl_v1_type t;

	assert_non_null(p);
	memcpy(p, s, n);
	memset(e, 0xa5, sizeof(*e));
	t = rl_v1_parse(p, n, e);
	free(p);
	return t;
}

static enum rl_v1_type v1_parse(const char *s, struct rl_v1_line *e)
{
	return v1_parse_n(s, strlen(s), e);
}

/* Where the data string of @s starts: after its "data":" (the last). */
static size_t data_at(const char *s)
{
	const char *d = NULL;

	for (const char *q = s; (q = strstr(q, ",\"data\":\"")); q++)
		d = q;
	assert_non_null(d);
	return (size_t)(d - s) + strlen(",\"data\":\"");
}

static void test_v1_parse(void **state)
{
	struct rl_v1_line e;

	(void)state;
	assert_int_equal(v1_parse(V1_MSG, &e), RL_V1_MSG);
	assert_int_equal(e.epoch, 4502237186542821ull);
	assert_int_equal(e.offset, 118);
	assert_int_equal(e.data_at, data_at(V1_MSG));
	assert_memory_equal(&V1_MSG[e.data_at], "hello\"}", 8);
	assert_int_equal(e.recovered, -1);

	assert_int_equal(v1_parse(V1_BIN, &e), RL_V1_MSG);
	assert_int_equal(e.epoch, 4502237186542821ull);
	assert_int_equal(e.offset, 119);
	assert_string_equal(&V1_BIN[e.data_at], "AP9iaW4=\",\"binary\":true}");

	/* The fake "data":" inside the sender's name is skipped. */
	assert_int_equal(v1_parse(V1_ESC, &e), RL_V1_MSG);
	assert_int_equal(e.epoch, 7);
	assert_int_equal(e.offset, 1);
	assert_int_equal(e.data_at, data_at(V1_ESC));
	assert_string_equal(&V1_ESC[e.data_at], "q\\\"\\\\\\u00e9\"}");

	/* The head given may end anywhere after "data":". */
	assert_int_equal(v1_parse_n(V1_MSG, data_at(V1_MSG), &e), RL_V1_MSG);
	assert_int_equal(e.offset, 118);
	assert_int_equal(v1_parse_n(V1_MSG, data_at(V1_MSG) - 1, &e),
			 RL_V1_BAD);

	assert_int_equal(v1_parse(V1_JOINED, &e), RL_V1_JOINED);
	assert_int_equal(e.epoch, 9);
	assert_int_equal(e.offset, 120);
	assert_int_equal(e.recovered, -1);
	assert_int_equal(v1_parse(V1_REC, &e), RL_V1_JOINED);
	assert_int_equal(e.epoch, 9);
	assert_int_equal(e.offset, 0);
	assert_int_equal(e.recovered, 1);
	assert_int_equal(v1_parse(V1_NREC, &e), RL_V1_JOINED);
	assert_int_equal(e.epoch, 10);
	assert_int_equal(e.offset, 3);
	assert_int_equal(e.recovered, 0);

	/* Presence lines are the other lines: skipped, not errors. */
	assert_int_equal(v1_parse(V1_PRES, &e), RL_V1_OTHER);
	assert_int_equal(v1_parse(V1_JOIN, &e), RL_V1_OTHER);
	assert_int_equal(v1_parse(V1_LEAVE, &e), RL_V1_OTHER);
	assert_int_equal(v1_parse(V1_ODD, &e), RL_V1_OTHER);
	assert_int_equal(v1_parse("{\"type\":\"msgs\"}", &e), RL_V1_OTHER);
	assert_int_equal(v1_parse("{\"type\":\"joined2\"}", &e), RL_V1_OTHER);
	assert_int_equal(v1_parse("{\"type\":\"\"}", &e), RL_V1_OTHER);

	/* The largest offset there is; one digit more is no number of the
	   hub's. */
	assert_int_equal(v1_parse("{\"type\":\"joined\",\"room\":\"r\","
				  "\"epoch\":9007199254740991,"
				  "\"offset\":18446744073709551615}", &e),
			 RL_V1_JOINED);
	assert_int_equal(e.epoch, 9007199254740991ull);
	assert_true(e.offset == UINT64_MAX);
	assert_int_equal(v1_parse("{\"type\":\"joined\",\"room\":\"r\","
				  "\"epoch\":1,"
				  "\"offset\":184467440737095516150}", &e),
			 RL_V1_BAD);
	/* 2^64 and 99...9 (20 digits) do not wrap into small offsets */
	assert_int_equal(v1_parse("{\"type\":\"joined\",\"room\":\"r\","
				  "\"epoch\":1,"
				  "\"offset\":18446744073709551616}", &e),
			 RL_V1_BAD);
	assert_int_equal(v1_parse("{\"type\":\"msg\",\"room\":\"r\","
				  "\"epoch\":99999999999999999999,"
				  "\"offset\":1,\"from\":null,\"data\":\"x\"}",
				  &e),
			 RL_V1_BAD);
}

/* Malformed lines, and every cut and single-byte change of good ones:
   BAD (or still what the line is, where enough of it is left), never a
   read past the bytes given (ASan: each parse gets a buffer of exactly
   its length). */
static void test_v1_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "{", "{}", "[]", "msg", "\"{\"type\":\"msg\"",
		"{\"type\":\"msg", "{\"type\":\"", "{\"type\":\"\\",
		"{\"type\":\"\\\\", "{\"type\":\"\\\"",
		"{\"type\":msg,\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"from\":null,\"data\":\"x\"}",
		"{ \"type\":\"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\": \"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"epoch\":1,\"offset\":1,"
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"offset\":1,\"epoch\":1,"
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"epoch\":-1,\"offset\":1,"
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":\"1\","
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":,"
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":1.5,"
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"from\":nul,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"from\":7,\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"data\":\"x\"}",
		"{\"type\":\"msg\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"from\":null,\"data\":x}",
		"{\"type\":\"msg\",\"room\":\"r\\\",\"epoch\":1,\"offset\":1,"
		"\"from\":null,\"data\":\"x\"}",
		"{\"type\":\"joined\",\"room\":\"r\",\"epoch\":1,\"offset\":1",
		"{\"type\":\"joined\",\"room\":\"r\",\"epoch\":1,"
		"\"offset\":1}x",
		"{\"type\":\"joined\",\"room\":\"r\",\"epoch\":1,"
		"\"offset\":1,}",
		"{\"type\":\"joined\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"recovered\":maybe}",
		"{\"type\":\"joined\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"recovered\":True}",
		"{\"type\":\"joined\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"recovered\":}",
		"{\"type\":\"joined\",\"room\":\"r\",\"epoch\":1,\"offset\":1,"
		"\"recovered\":true,\"x\":1}",
	};
	static const char *const good[] = {
		V1_MSG, V1_BIN, V1_ESC, V1_JOINED, V1_REC, V1_NREC, V1_PRES,
		V1_JOIN, V1_LEAVE, V1_ODD,
	};
	static const char swap[] = { '"', '\\', '}', ',', ':', '0', 'x', 0,
				     (char)0xff };
	struct rl_v1_line e, whole;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (v1_parse(bad[i], &e) != RL_V1_BAD)
			fail_msg("bad line %zu read as a line: %s", i, bad[i]);

	for (size_t g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
		const char *s = good[g];
		size_t len = strlen(s);
		enum rl_v1_type t = v1_parse(s, &whole);
		/* Past the type's closing quote an other line is known. */
		size_t type_end = (size_t)(strstr(s, "\",\"room\"") - s) + 1;

		assert_int_not_equal(t, RL_V1_BAD);
		for (size_t cut = 0; cut < len; cut++) {
			enum rl_v1_type c = v1_parse_n(s, cut, &e);
			enum rl_v1_type want = RL_V1_BAD;

			if (t == RL_V1_MSG && cut >= whole.data_at)
				want = RL_V1_MSG;
			else if (t == RL_V1_OTHER && cut >= type_end)
				want = RL_V1_OTHER;
			if (c != want)
				fail_msg("line %zu cut at %zu: %d, not %d", g,
					 cut, c, want);
			if (c == RL_V1_MSG &&
			    (e.data_at != whole.data_at ||
			     e.offset != whole.offset ||
			     e.epoch != whole.epoch))
				fail_msg("line %zu cut at %zu: fields differ",
					 g, cut);
		}
		/* Any one byte changed: whatever it reads as, a msg's data
		   starts within the bytes given. */
		for (size_t i = 0; i < len; i++) {
			for (size_t k = 0; k < sizeof(swap); k++) {
				char *m = malloc(len);

				assert_non_null(m);
				memcpy(m, s, len);
				m[i] = swap[k];
				if (v1_parse_n(m, len, &e) == RL_V1_MSG)
					assert_true(e.data_at <= len);
				free(m);
			}
		}
	}
}

/*
 * What the broadcast and recover scenarios check, from the parsed lines:
 * a joined line says where a member's stream goes on, each msg must be
 * the previous offset + 1. @lines a member's stream; returns how many
 * msgs were out of turn.
 */
static unsigned v1_offset_errors(const char *const *lines, size_t n)
{
	uint64_t last = 0;
	unsigned bad = 0;

	for (size_t i = 0; i < n; i++) {
		struct rl_v1_line e;
		enum rl_v1_type t = v1_parse(lines[i], &e);

		assert_int_not_equal(t, RL_V1_BAD);
		if (t == RL_V1_JOINED) {
			last = e.offset;
		} else if (t == RL_V1_MSG) {
			if (e.offset != last + 1)
				bad++;
			last = e.offset;
		}
	}
	return bad;
}

/* Offsets as the hub counts them, across the powers of ten (one more
   digit each time), read back one greater each; a gap, a repeat, a swap
   and a joined line off by one are found; presence lines are no step. */
static void test_v1_offsets(void **state)
{
	static const uint64_t starts[] = { 0, 7, 97, 9995, 999999998,
					   9007199254740989ull,
					   9999999999999999998ull };
	/* Streams as indexes into the lines below: 0 joined at the start,
	   1..8 msgs start+1..start+8, 9 a presence line, 10 joined at
	   start+1. */
	static const struct {
		int seq[12];
		unsigned errors;
	} streams[] = {
		{ { 0, 1, 2, 3, 4, 9, 5, 6, 7, 8, -1 }, 0 },
		{ { 10, 2, 3, 9, 4, 5, -1 }, 0 },
		{ { 0, 1, 2, 4, 5, 6, 7, 8, -1 }, 1 },		/* gap */
		{ { 0, 1, 2, 3, 3, 4, 5, -1 }, 1 },		/* repeat */
		{ { 0, 1, 2, 3, 4, 5, 7, 6, 8, -1 }, 3 },	/* swap */
		{ { 10, 1, 2, 3, -1 }, 1 },		/* joined too far */
		{ { 0, 2, 3, 0, 1, 2, -1 }, 1 },	/* joined again */
	};
	char buf[11][160];
	const char *lines[12];
	struct rl_v1_line e;

	(void)state;
	for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		unsigned long long base = starts[s];

		snprintf(buf[0], sizeof(buf[0]),
			 "{\"type\":\"joined\",\"room\":\"lobby\",\"epoch\":42,"
			 "\"offset\":%llu}", base);
		snprintf(buf[10], sizeof(buf[10]),
			 "{\"type\":\"joined\",\"room\":\"lobby\",\"epoch\":42,"
			 "\"offset\":%llu,\"recovered\":true}", base + 1);
		snprintf(buf[9], sizeof(buf[9]), "%s", V1_JOIN);
		for (unsigned i = 1; i <= 8; i++) {
			snprintf(buf[i], sizeof(buf[i]),
				 "{\"type\":\"msg\",\"room\":\"lobby\","
				 "\"epoch\":42,\"offset\":%llu,\"from\":null,"
				 "\"data\":\"m%u\"}", base + i, i);
			assert_int_equal(v1_parse(buf[i], &e), RL_V1_MSG);
			assert_true(e.offset == base + i);
			assert_int_equal(e.epoch, 42);
		}
		assert_int_equal(v1_parse(buf[10], &e), RL_V1_JOINED);
		assert_true(e.offset == base + 1);
		for (size_t k = 0; k < sizeof(streams) / sizeof(streams[0]);
		     k++) {
			size_t n = 0;

			while (streams[k].seq[n] >= 0) {
				lines[n] = buf[streams[k].seq[n]];
				n++;
			}
			if (v1_offset_errors(lines, n) != streams[k].errors)
				fail_msg("start %llu stream %zu: %u errors, "
					 "not %u", base, k,
					 v1_offset_errors(lines, n),
					 streams[k].errors);
		}
	}
}

/* The out buffer: appends keep every byte; growing while a send reads it
   moves to a new buffer and keeps the old one until the send is done. */
static void test_tls_out(void **state)
{
	struct rl_tls *t = rl_tls_new();
	uint8_t chunk[3000], *old;

	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7);
	assert_int_equal(rl_tls_out_append(t, chunk, 100), 0);
	assert_int_equal(t->len, 100);
	assert_true(t->cap >= 100);

	/* Pinned, then grown: the pinned bytes stay where the kernel
	   reads them. */
	rl_tls_pin(t);
	old = t->out;
	assert_int_equal(rl_tls_out_append(t, chunk + 100, 2000), 0);
	assert_ptr_equal(t->retired, old);
	assert_ptr_not_equal(t->out, old);
	assert_memory_equal(old, chunk, 100);
	assert_memory_equal(t->out, chunk, 2100);
	/* Grown again, still pinned: the new buffer is nobody's yet, so it
	   may move; the retired one stays the same. */
	assert_int_equal(rl_tls_out_append(t, chunk + 2100, 900), 0);
	assert_ptr_equal(t->retired, old);
	assert_int_equal(t->len, 3000);
	assert_memory_equal(t->out, chunk, 3000);
	rl_tls_sent(t);
	assert_null(t->retired);
	assert_null(t->pinned);

	/* Not pinned: grown in place or moved, contents kept. */
	t->len = 0;
	for (int i = 0; i < 40; i++)
		assert_int_equal(rl_tls_out_append(t, chunk, sizeof(chunk)), 0);
	assert_int_equal(t->len, 40 * sizeof(chunk));
	assert_memory_equal(t->out + 39 * sizeof(chunk), chunk, sizeof(chunk));
	assert_null(t->retired);
	rl_tls_free(t);
}

/* A self-signed P-256 certificate for localhost, and its key. */
static void make_cert(EVP_PKEY **key, X509 **cert)
{
	X509_NAME *name;

	*key = EVP_EC_gen("P-256");
	*cert = X509_new();
	assert_non_null(*key);
	assert_non_null(*cert);
	X509_set_version(*cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(*cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(*cert), 3600);
	X509_set_pubkey(*cert, *key);
	name = X509_get_subject_name(*cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1,
				   0);
	X509_set_issuer_name(*cert, name);
	assert_true(X509_sign(*cert, *key, EVP_sha256()) > 0);
}

/* An OpenSSL server on memory BIOs: the client's out buffer goes in, what
   it writes comes out. */
struct peer {
	SSL *ssl;
	BIO *in;
	BIO *out;
};

/* Move the client's ciphertext to the server. */
static void to_server(struct rl_tls *t, struct peer *p)
{
	if (t->len)
		assert_int_equal(BIO_write(p->in, t->out, (int)t->len),
				 (int)t->len);
	t->len = 0;
}

/*
 * Feed the server's ciphertext to the client @piece bytes at a time (each
 * piece taken whole), driving its handshake while *@hs is not
 * RL_TLS_DONE, then reading into @plain. Returns the plaintext bytes;
 * *@last: the last rl_tls_read() result.
 */
static size_t to_client(struct peer *p, struct rl_tls *t, size_t piece,
			int *hs, uint8_t *plain, size_t cap, long *last)
{
	static uint8_t buf[1 << 16];
	size_t got = 0;
	int n;

	*last = RL_TLS_AGAIN;
	while ((n = BIO_read(p->out, buf, (int)piece)) > 0) {
		rl_tls_feed(t, buf, (size_t)n);
		if (*hs != RL_TLS_DONE) {
			*hs = rl_tls_handshake(t);
			assert_int_not_equal(*hs, RL_TLS_ERROR);
		}
		while (*hs == RL_TLS_DONE) {
			*last = rl_tls_read(t, plain + got, cap - got);
			if (*last <= 0)
				break;
			got += (size_t)*last;
		}
		assert_int_equal(t->in_len, 0);
		rl_tls_feed(t, NULL, 0);
	}
	return got;
}

/* The client through its own BIO against OpenSSL's server, TLS 1.3 and
   1.2, the server's records fed whole and a byte at a time: handshake
   with SNI, data both ways (more than a record), close_notify both ways. */
static void test_tls_client(void **state)
{
	static const struct {
		int version;
		size_t piece;
	} runs[] = {
		{ TLS1_3_VERSION, 1 << 16 },
		{ TLS1_3_VERSION, 1 },
		{ TLS1_2_VERSION, 1 << 16 },
		{ TLS1_2_VERSION, 1 },
	};
	struct rl_cfg cfg = { .host = "localhost", .tls = true };
	static uint8_t big[40000], plain[sizeof(big) + RL_TLS_CHUNK];
	char err[256];
	EVP_PKEY *key;
	X509 *cert;
	SSL_CTX *sctx;

	(void)state;
	make_cert(&key, &cert);
	sctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(sctx);
	assert_int_equal(SSL_CTX_use_certificate(sctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
	assert_int_equal(rl_tls_init(&cfg, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i % 251);

	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		struct rl_tls *t = rl_tls_new();
		struct peer p = { SSL_new(sctx), BIO_new(BIO_s_mem()),
				  BIO_new(BIO_s_mem()) };
		const char *name;
		int chs, shs = 0, rounds = 0;
		size_t n, got;
		long last;

		assert_non_null(t);
		assert_non_null(p.ssl);
		SSL_set_max_proto_version(p.ssl, runs[r].version);
		SSL_set_bio(p.ssl, p.in, p.out);
		SSL_set_accept_state(p.ssl);
		assert_int_equal(rl_tls_open(t), 0);

		/* The handshake, flight by flight. */
		chs = rl_tls_handshake(t);
		assert_int_equal(chs, RL_TLS_AGAIN);
		while (chs != RL_TLS_DONE || shs != 1) {
			assert_true(++rounds < 5);
			to_server(t, &p);
			if (shs != 1) {
				shs = SSL_do_handshake(p.ssl);
				assert_true(shs == 1 ||
					    SSL_get_error(p.ssl, shs) ==
					    SSL_ERROR_WANT_READ);
			}
			to_client(&p, t, runs[r].piece, &chs, plain,
				  sizeof(plain), &last);
		}
		assert_int_equal(SSL_version(p.ssl), runs[r].version);
		assert_false(rl_tls_resumed(t));
		/* SNI: --host, a name. */
		name = SSL_get_servername(p.ssl, TLSEXT_NAMETYPE_host_name);
		assert_non_null(name);
		assert_string_equal(name, "localhost");

		/* Client to server: one write, one out buffer, every byte. */
		assert_int_equal(rl_tls_write(t, big, sizeof(big)), 0);
		assert_true(t->len > sizeof(big));
		to_server(t, &p);
		for (got = 0; got < sizeof(big); got += n)
			assert_int_equal(SSL_read_ex(p.ssl, plain + got,
						     sizeof(plain) - got, &n), 1);
		assert_memory_equal(plain, big, sizeof(big));

		/* Server to client, then its close_notify, ours back. */
		memset(plain, 0, sizeof(plain));
		assert_int_equal(SSL_write_ex(p.ssl, big, sizeof(big), &n), 1);
		assert_int_equal(SSL_shutdown(p.ssl), 0);
		got = to_client(&p, t, runs[r].piece, &chs, plain,
				sizeof(plain), &last);
		assert_int_equal(got, sizeof(big));
		assert_memory_equal(plain, big, sizeof(big));
		assert_int_equal(last, RL_TLS_CLOSED);
		rl_tls_shutdown(t);
		assert_true(t->len > 0);
		to_server(t, &p);
		assert_int_equal(SSL_shutdown(p.ssl), 1);

		rl_tls_free(t);
		SSL_free(p.ssl);
	}
	rl_tls_exit();
	SSL_CTX_free(sctx);
	X509_free(cert);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_hist_percentiles),
		cmocka_unit_test(test_hist_ranks),
		cmocka_unit_test(test_hist_merge),
		cmocka_unit_test(test_hist_small),
		cmocka_unit_test(test_frame_client_to_server),
		cmocka_unit_test(test_frame_mask),
		cmocka_unit_test(test_frame_server_to_client),
		cmocka_unit_test(test_frame_server_errors),
		cmocka_unit_test(test_handshake_request),
		cmocka_unit_test(test_handshake_response),
		cmocka_unit_test(test_handshake_subprotocol),
		cmocka_unit_test(test_v1_parse),
		cmocka_unit_test(test_v1_parse_bad),
		cmocka_unit_test(test_v1_offsets),
		cmocka_unit_test(test_tls_out),
		cmocka_unit_test(test_tls_client),
	};

	rc_simd_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
