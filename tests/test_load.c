/* SPDX-License-Identifier: MIT */
/* test_load.c -- ringcast-load: histogram math, and its frames and handshake against the server's own codec. */
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
#include "proto/http.h"
#include "proto/upgrade.h"
#include "hist.h"
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

	len = rl_ws_request(req, sizeof(req), "127.0.0.1:8080", "/ws/room",
			    key);
	assert_true(len > 0);
	assert_int_equal(rc_http_parse(req, (size_t)len, 0, &r), len);
	assert_true(rc_http_slice_eq(r.path, "/ws/room"));
	assert_int_equal(rc_upgrade_check(&r, NULL, 0, &up), 101);
	assert_int_equal(up.key.n, RL_WS_KEY_LEN);
	assert_memory_equal(up.key.p, key, RL_WS_KEY_LEN);
	assert_int_equal(rl_ws_request(req, 40, "h:1", "/echo", key), -ENOSPC);
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
	};

	rc_simd_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
