/* SPDX-License-Identifier: MIT */
/*
 * test_deflate.c -- the permessage-deflate codec (src/deflate/) against
 * zlib, the reference every peer uses: what we compress inflates with zlib
 * the way RFC 7692 says (the tail put back), what zlib compresses with a
 * sync flush we inflate; bounds, corrupt data, the budget, and the
 * dedicated mode's windows across messages.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "deflate/deflate.h"
#include "ringcast.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Chat-like JSON text of @n bytes. */
static void chat_text(uint8_t *out, size_t n)
{
	static const char *words[] = { "hello", "room", "message", "the",
				       "ringcast", "user", "typing", "ok",
				       "\"from\":", "{\"text\":", "}," };
	size_t i = 0;

	while (i < n) {
		const char *w = words[next() % 11];
		size_t k = strlen(w);

		if (k > n - i)
			k = n - i;
		memcpy(out + i, w, k);
		i += k;
		if (i < n)
			out[i++] = ' ';
	}
}

/* Inflate a message as a peer does: zlib raw inflate, the 4-byte tail put
   back; with @s a stream kept across messages (NULL: a fresh one).
   Returns the length, or -1. */
static long zlib_inflate(z_stream *s, const uint8_t *in, size_t n,
			 uint8_t *out, size_t cap)
{
	static const uint8_t tail[] = { 0, 0, 0xff, 0xff };
	z_stream fresh = { 0 };
	size_t got = 0;
	int r = Z_OK;

	if (!s) {
		s = &fresh;
		assert_int_equal(inflateInit2(s, -15), Z_OK);
	}
	for (int part = 0; part < 2 && r != Z_STREAM_END; part++) {
		s->next_in = (Bytef *)(uintptr_t)(part ? tail : in);
		s->avail_in = part ? 4 : (uInt)n;
		s->next_out = out + got;
		s->avail_out = (uInt)(cap - got);
		r = inflate(s, Z_SYNC_FLUSH);
		got = cap - s->avail_out;
		if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
			got = (size_t)-1;
		if (got == (size_t)-1)
			break;
	}
	if (r == Z_STREAM_END && s != &fresh)
		inflateReset(s);
	if (s == &fresh)
		inflateEnd(s);
	return got == (size_t)-1 ? -1 : (long)got;
}

/* zlib compressing as a client does: raw deflate, sync flush, tail cut. */
static size_t zlib_deflate(z_stream *s, const uint8_t *in, size_t n,
			   uint8_t *out, size_t cap)
{
	z_stream fresh = { 0 };
	size_t got;

	if (!s) {
		s = &fresh;
		assert_int_equal(deflateInit2(s, 6, Z_DEFLATED, -15, 8,
					      Z_DEFAULT_STRATEGY), Z_OK);
	}
	s->next_in = (Bytef *)(uintptr_t)in;
	s->avail_in = (uInt)n;
	s->next_out = out;
	s->avail_out = (uInt)cap;
	assert_int_equal(deflate(s, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(s->avail_in, 0);
	got = cap - s->avail_out;
	assert_true(got >= 4);
	assert_memory_equal(out + got - 4, "\x00\x00\xff\xff", 4);
	if (s == &fresh)
		deflateEnd(s);
	return got - 4;
}

static _Atomic size_t budget;

/* Shared mode: ours inflates with zlib to the same bytes, for sizes
   around the block and buffer boundaries, text and random bytes. */
static void test_deflate_roundtrip_zlib(void **state)
{
	static const size_t sizes[] = { 1,    2,     64,    127,   300,
					4095, 65535, 65536, 70000, 300000 };
	struct rc_zctx *z = rc__z_thread(6);
	size_t cap = 400000;
	uint8_t *in = malloc(cap), *out = malloc(cap + 64);

	(void)state;
	assert_non_null(z);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int kind = 0; kind < 2; kind++) {
			const uint8_t *zp;
			size_t n = sizes[i], zl;

			if (kind)
				for (size_t k = 0; k < n; k++)
					in[k] = (uint8_t)next();
			else
				chat_text(in, n);
			zl = rc__z_deflate(z, in, n, &zp);
			if (kind) {
				/* Random bytes never get smaller. */
				assert_int_equal(zl, 0);
				continue;
			}
			if (n < 64) {
				/* Too short to win: 0, or smaller. */
				assert_true(zl < n);
				if (!zl)
					continue;
			}
			assert_true(zl > 0 && zl < n);
			assert_int_equal(zlib_inflate(NULL, zp, zl, out,
						      cap + 64), (long)n);
			assert_memory_equal(out, in, n);
		}
	}
	free(in);
	free(out);
}

/* Shared mode: what zlib compresses (sync flush, tail cut) we inflate,
   in pieces of any size; and our own output too. */
static void test_inflate_zlib_and_ours(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	size_t n = 200000, zl;
	uint8_t *in = malloc(n), *zb = malloc(n + 1024), *out;
	const uint8_t *zp;
	size_t olen;

	(void)state;
	chat_text(in, n);
	zl = zlib_deflate(NULL, in, n, zb, n + 1024);
	assert_int_equal(rc__z_inflate(z, zb, zl, n, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen), 0);
	assert_int_equal(olen, n);
	assert_memory_equal(out, in, n);
	rc__z_release(z);
	/* One byte less room than it needs: too big. */
	assert_int_equal(rc__z_inflate(z, zb, zl, n - 1, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen),
			 -EMSGSIZE);
	rc__z_release(z);
	/* Ours, read back by ours. */
	zl = rc__z_deflate(z, in, 5000, &zp);
	assert_true(zl > 0);
	memcpy(zb, zp, zl);
	assert_int_equal(rc__z_inflate(z, zb, zl, 5000, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen), 0);
	assert_int_equal(olen, 5000);
	assert_memory_equal(out, in, 5000);
	rc__z_release(z);
	/* An empty message: zlib's sync flush of nothing. */
	zl = zlib_deflate(NULL, in, 0, zb, 64);
	assert_int_equal(rc__z_inflate(z, zb, zl, 10, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen), 0);
	assert_int_equal(olen, 0);
	rc__z_release(z);
	free(in);
	free(zb);
}

/* A bomb: 8 MiB of zeros in a few KiB inflates to at most max + a pass,
   fails with -EMSGSIZE, and gives back what it took of the budget. */
static void test_bomb(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	size_t n = 8u << 20, zl;
	uint8_t *in = calloc(1, n), *zb = malloc(64 << 10), *out;
	size_t olen;

	(void)state;
	zl = zlib_deflate(NULL, in, n, zb, 64 << 10);
	assert_true(zl < 16 << 10);
	assert_int_equal(rc__z_inflate(z, zb, zl, 1u << 20, &budget,
				       64u << 20, &out, &olen), -EMSGSIZE);
	rc__z_release(z);
	assert_int_equal(atomic_load(&budget), 0);
	/* Within the limit but over the budget: -EBUSY, nothing kept. */
	assert_int_equal(rc__z_inflate(z, zb, zl, 16u << 20, &budget,
				       1u << 20, &out, &olen), -EBUSY);
	rc__z_release(z);
	assert_int_equal(atomic_load(&budget), 0);
	/* And with room for it all, the whole 8 MiB. */
	assert_int_equal(rc__z_inflate(z, zb, zl, 16u << 20, &budget,
				       64u << 20, &out, &olen), 0);
	assert_int_equal(olen, n);
	assert_true(atomic_load(&budget) > 0);
	rc__z_release(z);
	assert_int_equal(atomic_load(&budget), 0);
	free(in);
	free(zb);
}

/* Not deflate data: -EILSEQ, never a crash, for garbage of any length. */
static void test_corrupt(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	uint8_t junk[512], *out;
	size_t olen;
	int bad = 0;

	(void)state;
	/* A reserved block type (BTYPE 11) is always an error. */
	junk[0] = 0x07;
	assert_int_equal(rc__z_inflate(z, junk, 1, 1 << 20, &budget,
				       RC_UNLIMITED_SIZE, &out, &olen),
			 -EILSEQ);
	for (int i = 0; i < 2000; i++) {
		size_t n = 1 + next() % sizeof(junk);
		int r;

		for (size_t k = 0; k < n; k++)
			junk[k] = (uint8_t)next();
		r = rc__z_inflate(z, junk, n, 1 << 16, &budget,
				  RC_UNLIMITED_SIZE, &out, &olen);
		assert_true(r == 0 || r == -EILSEQ || r == -EMSGSIZE);
		bad += r == -EILSEQ;
		rc__z_release(z);
	}
	assert_true(bad > 1000);
}

/* Dedicated mode: windows kept across messages both ways. The second of
   two equal messages compresses to almost nothing (it refers to the
   first), and a client stream with context inflates message by message. */
static void test_dedicated_context(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	struct rc_zconn *zc = rc__zc_new(15, 15, true, true);
	z_stream peer_in = { 0 }, peer_out = { 0 };
	uint8_t msg[2000], out[4096], zb[4096], *o;
	const uint8_t *zp;
	size_t zl1, zl2, olen;

	(void)state;
	assert_non_null(zc);
	assert_int_equal(inflateInit2(&peer_in, -15), Z_OK);
	assert_int_equal(deflateInit2(&peer_out, 6, Z_DEFLATED, -15, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	chat_text(msg, sizeof(msg));
	/* Server to client. */
	zl1 = rc__zc_deflate(zc, z, 6, msg, sizeof(msg), &zp);
	assert_true(zl1 > 0);
	assert_int_equal(zlib_inflate(&peer_in, zp, zl1, out, sizeof(out)),
			 sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	zl2 = rc__zc_deflate(zc, z, 6, msg, sizeof(msg), &zp);
	assert_true(zl2 > 0 && zl2 < 40 && zl2 < zl1 / 4);
	assert_int_equal(zlib_inflate(&peer_in, zp, zl2, out, sizeof(out)),
			 sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	/* Client to server, with context: the second message alone does
	   not inflate without the first. */
	for (int i = 0; i < 3; i++) {
		size_t n = zlib_deflate(&peer_out, msg, sizeof(msg), zb,
					sizeof(zb));

		assert_int_equal(rc__zc_inflate(zc, z, zb, n, sizeof(msg),
						&budget, RC_UNLIMITED_SIZE,
						&o, &olen), 0);
		assert_int_equal(olen, sizeof(msg));
		assert_memory_equal(o, msg, sizeof(msg));
		rc__z_release(z);
		if (i == 1)
			assert_int_not_equal(rc__z_inflate(z, zb, n,
							   sizeof(msg),
							   &budget,
							   RC_UNLIMITED_SIZE,
							   &o, &olen) == 0 &&
					     olen == sizeof(msg), 1);
		rc__z_release(z);
	}
	/* Over max in dedicated mode: stops at max + 1. */
	{
		size_t n = zlib_deflate(&peer_out, msg, sizeof(msg), zb,
					sizeof(zb));

		assert_int_equal(rc__zc_inflate(zc, z, zb, n, 100, &budget,
						RC_UNLIMITED_SIZE, &o, &olen),
				 -EMSGSIZE);
		rc__z_release(z);
	}
	inflateEnd(&peer_in);
	deflateEnd(&peer_out);
	rc__zc_free(zc);
}

/* What a dedicated connection holds, by window: reported for the docs,
   and small windows really cost less. */
static void test_dedicated_size(void **state)
{
	struct rc_zctx *z = rc__z_thread(6);
	size_t size[16] = { 0 };
	uint8_t msg[600], zb[1024], *o;
	const uint8_t *zp;
	size_t olen;

	(void)state;
	chat_text(msg, sizeof(msg));
	for (int bits = 9; bits <= 15; bits++) {
		struct rc_zconn *zc = rc__zc_new((uint8_t)bits, (uint8_t)bits,
						 true, true);
		z_stream peer = { 0 };
		size_t n;

		assert_int_equal(rc__zc_size(zc) < 128, 1);	/* idle */
		assert_true(rc__zc_deflate(zc, z, 6, msg, sizeof(msg), &zp));
		assert_int_equal(deflateInit2(&peer, 6, Z_DEFLATED, -bits, 8,
					      Z_DEFAULT_STRATEGY), Z_OK);
		n = zlib_deflate(&peer, msg, sizeof(msg), zb, sizeof(zb));
		assert_int_equal(rc__zc_inflate(zc, z, zb, n, sizeof(msg),
						&budget, RC_UNLIMITED_SIZE,
						&o, &olen), 0);
		assert_int_equal(olen, sizeof(msg));
		rc__z_release(z);
		size[bits] = rc__zc_size(zc);
		printf("dedicated window %d bits: %zu bytes per connection\n",
		       bits, size[bits]);
		deflateEnd(&peer);
		rc__zc_free(zc);
	}
	assert_true(size[9] < 32 << 10);
	assert_true(size[15] > 4 * size[9]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deflate_roundtrip_zlib),
		cmocka_unit_test(test_inflate_zlib_and_ours),
		cmocka_unit_test(test_bomb),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_dedicated_context),
		cmocka_unit_test(test_dedicated_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
