/* SPDX-License-Identifier: MIT */
/*
 * test_tls_record.c -- src/tls/record.c, our TLS 1.3 record layer, alone:
 * what a "client" side seals the server side opens, for each cipher suite,
 * whole and split at every byte; records of every size up to 16 KiB and
 * past it; KeyUpdate both ways; close_notify; and records that must be
 * refused (a flipped bit anywhere, a wrong type or version, an oversized
 * length, a replayed or reordered record). Interop with real clients
 * (OpenSSL, Python, node, Chromium) is tests/interop/test_tls.py's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* record.c itself, so that its static sealing and key update can seal
   what a peer would send (KeyUpdate, alerts, padding). */
#include "tls/record.c"
#include "tls_record_harness.h"

static struct rc_tls_crypto *cr;

static const uint8_t suites[] = {
	RC_TLS_AES_128_GCM_SHA256,
	RC_TLS_AES_256_GCM_SHA384,
	RC_TLS_CHACHA20_POLY1305_SHA256,
};

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* A client/server pair for @suite. */
static void pair(struct side *cl, struct side *sv, uint8_t suite)
{
	assert_int_equal(side_init(cl, cr, suite, true), 0);
	assert_int_equal(side_init(sv, cr, suite, false), 0);
}

static void unpair(struct side *cl, struct side *sv)
{
	side_free(cl);
	side_free(sv);
}

/* Feed @s's input @p[0..n) in pieces of @step bytes (0: whole). */
static void feed_in(struct side *s, const uint8_t *p, size_t n, size_t step)
{
	/* Records are opened in place: the input must be writable and
	   padded, like a receive buffer. */
	uint8_t *copy = malloc(n + RC_SIMD_PADDING);

	assert_non_null(copy);
	memcpy(copy, p, n);
	if (!step)
		step = n ? n : 1;
	for (size_t off = 0; off < n; off += step)
		rc__tls_rl_input(&s->c, copy + off,
				 n - off < step ? n - off : step);
	free(copy);
}

static void test_round_trip_sizes(void **state)
{
	static const size_t sizes[] = { 1, 2, 31, 32, 1000, 16383, 16384,
					16385, 40000, 100000 };

	(void)state;
	for (size_t k = 0; k < sizeof(suites); k++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct side cl, sv;
			size_t n = sizes[i];
			uint8_t *msg = malloc(n);

			pair(&cl, &sv, suites[k]);
			fill(msg, n, (uint32_t)n);
			seal(&cl, msg, n);
			/* 16 KiB of plaintext per record, each 22 bytes
			   more on the wire. */
			assert_int_equal(cl.wire_len,
					 n + ((n + 16383) / 16384) * 22);
			feed_in(&sv, cl.wire, cl.wire_len, 0);
			assert_int_equal(sv.got_len, n);
			assert_memory_equal(sv.got, msg, n);
			assert_int_equal(sv.closes, 0);
			free(msg);
			unpair(&cl, &sv);
		}
	}
}

/* The same bytes, whatever the reads look like. */
static void test_split_every_byte(void **state)
{
	uint8_t msg[300];

	(void)state;
	fill(msg, sizeof(msg), 7);
	for (size_t k = 0; k < sizeof(suites); k++) {
		struct side cl, sv;
		uint8_t *wire;
		size_t wl;

		pair(&cl, &sv, suites[k]);
		seal(&cl, msg, 100);
		seal(&cl, msg + 100, 200);
		wire = cl.wire;
		wl = cl.wire_len;
		for (size_t cut = 1; cut < wl; cut++) {
			struct side s2;

			assert_int_equal(side_init(&s2, cr, suites[k], false),
					 0);
			feed_in(&s2, wire, cut, 0);
			feed_in(&s2, wire + cut, wl - cut, 0);
			assert_int_equal(s2.got_len, sizeof(msg));
			assert_memory_equal(s2.got, msg, sizeof(msg));
			side_free(&s2);
		}
		feed_in(&sv, wire, wl, 1);
		assert_int_equal(sv.got_len, sizeof(msg));
		assert_memory_equal(sv.got, msg, sizeof(msg));
		unpair(&cl, &sv);
	}
}

/* Any single flipped bit of a record (header, ciphertext or tag) fails
   the connection, and nothing of that record is delivered. */
static void test_tamper(void **state)
{
	uint8_t msg[40];

	(void)state;
	fill(msg, sizeof(msg), 3);
	for (size_t k = 0; k < sizeof(suites); k++) {
		struct side cl, sv;

		pair(&cl, &sv, suites[k]);
		seal(&cl, msg, sizeof(msg));
		for (size_t i = 0; i < cl.wire_len * 8; i++) {
			struct side s2;

			assert_int_equal(side_init(&s2, cr, suites[k], false),
					 0);
			cl.wire[i / 8] ^= (uint8_t)(1 << (i % 8));
			feed_in(&s2, cl.wire, cl.wire_len, 0);
			cl.wire[i / 8] ^= (uint8_t)(1 << (i % 8));
			/* A length made shorter leaves a record that never
			   completes: nothing delivered either way. */
			assert_int_equal(s2.got_len, 0);
			if (i / 8 != 3 && i / 8 != 4)
				assert_int_equal(s2.closes, 1);
			side_free(&s2);
		}
		feed_in(&sv, cl.wire, cl.wire_len, 0);
		assert_int_equal(sv.got_len, sizeof(msg));
		unpair(&cl, &sv);
	}
}

/* A record replayed, or two swapped, do not open (the nonce carries the
   sequence number). */
static void test_replay_and_order(void **state)
{
	struct side cl, sv, s2;
	uint8_t msg[10] = "0123456789";
	size_t r1;

	(void)state;
	pair(&cl, &sv, RC_TLS_AES_128_GCM_SHA256);
	seal(&cl, msg, 5);
	r1 = cl.wire_len;
	seal(&cl, msg + 5, 5);
	feed_in(&sv, cl.wire, r1, 0);
	feed_in(&sv, cl.wire, r1, 0);		/* the first again */
	assert_int_equal(sv.got_len, 5);
	assert_int_equal(sv.closes, 1);
	assert_int_equal(side_init(&s2, cr, RC_TLS_AES_128_GCM_SHA256, false),
			 0);
	feed_in(&s2, cl.wire + r1, cl.wire_len - r1, 0);	/* second first */
	assert_int_equal(s2.got_len, 0);
	assert_int_equal(s2.closes, 1);
	side_free(&s2);
	unpair(&cl, &sv);
}

/* Headers that are not a TLS 1.3 application_data record of a possible
   length are refused before any decryption. */
static void test_bad_headers(void **state)
{
	static const uint8_t bad[][5] = {
		{ 22, 3, 3, 0, 40 },		/* handshake in the clear */
		{ 21, 3, 3, 0, 2 },		/* alert in the clear */
		{ 20, 3, 3, 0, 1 },		/* change_cipher_spec */
		{ 23, 3, 1, 0, 40 },		/* version 0x0301 */
		{ 23, 3, 3, 0x41, 1 },		/* 16 KiB + 257 */
		{ 23, 3, 3, 0, 5 },		/* shorter than a tag */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct side sv;
		uint8_t rec[5 + 64] = { 0 };

		assert_int_equal(side_init(&sv, cr, RC_TLS_AES_128_GCM_SHA256,
					   false), 0);
		memcpy(rec, bad[i], 5);
		feed_in(&sv, rec, 5 + (size_t)(bad[i][4] < 64 ? bad[i][4] : 64),
			0);
		assert_int_equal(sv.closes, 1);
		assert_int_equal(sv.got_len, 0);
		side_free(&sv);
	}
}

/* Seal a record of inner type @type over @p[0..n) on @s's wire, as its
   peer would send it. */
static void raw(struct side *s, uint8_t type, const uint8_t *p, size_t n)
{
	raw_seal(s, type, p, n);
}

/* KeyUpdate (RFC 8446 §4.6.3): the peer's new keys from the next record
   on; update_requested makes us answer with our own KeyUpdate, sealed
   under the old keys, and send with new ones after it. */
static void test_key_update(void **state)
{
	static const uint8_t ku_req[] = { 24, 0, 0, 1, 1 };
	static const uint8_t ku_not[] = { 24, 0, 0, 1, 0 };

	(void)state;
	for (size_t k = 0; k < sizeof(suites); k++) {
		struct side cl, sv, fresh, a, b;

		/* The client asks for an update. */
		pair(&cl, &sv, suites[k]);
		seal(&cl, (const uint8_t *)"before", 6);
		raw(&cl, 22, ku_req, sizeof(ku_req));
		assert_int_equal(key_update(cr, &cl.t.rl, &cl.t.rl.wr), 0);
		seal(&cl, (const uint8_t *)"after", 5);
		feed_in(&sv, cl.wire, cl.wire_len, 0);
		assert_int_equal(sv.closes, 0);
		assert_int_equal(sv.got_len, 11);
		assert_memory_equal(sv.got, "beforeafter", 11);
		/* Our answer: a KeyUpdate that asks nothing back (one
		   27-byte record), then new keys for what follows. */
		assert_int_equal(sv.wire_len, 27);
		seal(&sv, (const uint8_t *)"reply", 5);
		/* A client with the first keys opens both, in order. */
		assert_int_equal(side_init(&fresh, cr, suites[k], true), 0);
		feed_in(&fresh, sv.wire, sv.wire_len, 0);
		assert_int_equal(fresh.closes, 0);
		assert_int_equal(fresh.got_len, 5);
		assert_memory_equal(fresh.got, "reply", 5);
		assert_int_equal(fresh.wire_len, 0);
		side_free(&fresh);
		unpair(&cl, &sv);

		/* update_not_requested: new keys, no answer. */
		pair(&a, &b, suites[k]);
		raw(&a, 22, ku_not, sizeof(ku_not));
		assert_int_equal(key_update(cr, &a.t.rl, &a.t.rl.wr), 0);
		seal(&a, (const uint8_t *)"after", 5);
		feed_in(&b, a.wire, a.wire_len, 0);
		assert_int_equal(b.closes, 0);
		assert_int_equal(b.got_len, 5);
		assert_int_equal(b.wire_len, 0);
		unpair(&a, &b);

		/* A malformed one (length 2) ends the connection. */
		pair(&a, &b, suites[k]);
		raw(&a, 22, (const uint8_t *)"\x18\x00\x00\x02\x00\x00", 6);
		feed_in(&b, a.wire, a.wire_len, 0);
		assert_int_equal(b.closes, 1);
		unpair(&a, &b);
	}
}

/* close_notify is the peer's EOF; other alerts end the connection. */
static void test_alerts(void **state)
{
	static const uint8_t notify[] = { 1, 0 }, fatal[] = { 2, 40 };
	struct side cl, sv;

	(void)state;
	pair(&cl, &sv, RC_TLS_CHACHA20_POLY1305_SHA256);
	rc__tls_rl_close_notify(&cl.c);
	feed_in(&sv, cl.wire, cl.wire_len, 0);
	assert_int_equal(sv.eofs, 1);
	assert_int_equal(sv.closes, 0);
	unpair(&cl, &sv);

	pair(&cl, &sv, RC_TLS_AES_128_GCM_SHA256);
	raw(&cl, 21, notify, sizeof(notify));
	feed_in(&sv, cl.wire, cl.wire_len, 0);
	assert_int_equal(sv.eofs, 1);
	unpair(&cl, &sv);

	pair(&cl, &sv, RC_TLS_AES_128_GCM_SHA256);
	raw(&cl, 21, fatal, sizeof(fatal));
	feed_in(&sv, cl.wire, cl.wire_len, 0);
	assert_int_equal(sv.eofs, 0);
	assert_int_equal(sv.closes, 1);
	unpair(&cl, &sv);
}

/* Padding (zeros after the content type) is removed; a record of padding
   only, or an unknown inner type, is refused. */
static void test_padding(void **state)
{
	static const uint8_t padded[] = { 'h', 'i', 23, 0, 0, 0, 0 };
	static const uint8_t zeros[] = { 0, 0, 0 };
	struct side cl, sv;

	(void)state;
	pair(&cl, &sv, RC_TLS_AES_256_GCM_SHA384);
	/* Sealing adds the type byte: here it is the last padding zero,
	   after "hi", type 23 and three zeros. */
	raw(&cl, 0, padded, sizeof(padded) - 1);
	feed_in(&sv, cl.wire, cl.wire_len, 0);
	assert_int_equal(sv.closes, 0);
	assert_int_equal(sv.got_len, 2);
	assert_memory_equal(sv.got, "hi", 2);
	unpair(&cl, &sv);

	pair(&cl, &sv, RC_TLS_AES_256_GCM_SHA384);
	raw(&cl, 0, zeros, sizeof(zeros));
	feed_in(&sv, cl.wire, cl.wire_len, 0);
	assert_int_equal(sv.closes, 1);
	unpair(&cl, &sv);
}

static int setup(void **state)
{
	(void)state;
	cr = rc__tls_crypto_new();
	return cr ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rc__tls_crypto_free(cr);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_sizes),
		cmocka_unit_test(test_split_every_byte),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_replay_and_order),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_key_update),
		cmocka_unit_test(test_alerts),
		cmocka_unit_test(test_padding),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
