/* SPDX-License-Identifier: MIT */
/*
 * fuzz_utf8.c -- libFuzzer harness, differential: every kernel set this
 * CPU runs (scalar, avx2, avx512) against the scalar kernels and against
 * tests/ref/utf8_ref.c, on the same bytes: utf8_scan (the exact result,
 * the unfinished tail's length included), the fused unmask_utf8_scan (the
 * result and the unmasked bytes), and the streaming API (rc_utf8_feed,
 * rc_utf8_feed_unmask, rc_utf8_finish) split in three at points from the
 * input, and byte by byte.
 *
 * Input: 8 bytes of set-up, then the text.
 *   bytes 0-3  masking key          byte 4  key offset (0..255)
 *   bytes 5-6  the two split points (scaled to the text's length)
 *   byte 7     misalignment of the data (0..63)
 * Every kernel reads from a buffer that ends exactly where the data ends,
 * so ASan reports any read past it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simd/simd.h"
#include "ref/utf8_ref.c"
#include "check.h"

#define SETUP 8
/* Byte-by-byte streaming costs a call per byte: only for short texts. */
#define BYTEWISE_MAX 1024

static const char *fuzz_context(void)
{
	return rc_simd->name;
}

static const char *const names[] = { "scalar", "avx2", "avx512" };

/* @src[0..n) copied to the end of a fresh allocation of mis + n bytes. */
static uint8_t *place(uint8_t **base, const uint8_t *src, size_t n,
		      size_t mis)
{
	*base = malloc(mis + n ? mis + n : 1);
	CHECK(*base != NULL);
	if (n)
		memcpy(*base + mis, src, n);
	return *base + mis;
}

/* -EILSEQ if @p[0..n) cannot begin valid UTF-8, else 0. */
static int proven_bad(const uint8_t *p, size_t n)
{
	return ref_utf8_scan(p, n) < 0 ? -EILSEQ : 0;
}

/*
 * Feed @src in three chunks [0,a) [a,b) [b,n), plain and masked, with the
 * kernels in rc_simd: each feed fails exactly when the bytes so far are
 * proven invalid, and the fused feed hands back the plain bytes.
 */
static void check_stream(const uint8_t *src, size_t n, size_t a, size_t b,
			 uint32_t key, size_t off, size_t mis)
{
	const size_t cut[4] = { 0, a, b, n };
	int whole = ref_utf8_scan(src, n) == 0 ? 0 : -EILSEQ;
	struct rc_utf8 s;
	int ret = 0;

	for (int masked = 0; masked <= 1; masked++) {
		memset(&s, 0, sizeof(s));
		for (size_t c = 0; c < 3; c++) {
			size_t len = cut[c + 1] - cut[c];
			uint8_t *base, *p = place(&base, src + cut[c], len, mis);

			if (masked) {
				ref_unmask(p, len, key, off + cut[c]);
				ret = rc_utf8_feed_unmask(&s, p, len, key,
							  off + cut[c]);
			} else {
				ret = rc_utf8_feed(&s, p, len);
			}
			CHECK(ret == proven_bad(src, cut[c + 1]));
			/* bytes up to the first failing chunk come back */
			if (masked && !ret)
				CHECK(!len || !memcmp(p, src + cut[c], len));
			free(base);
			if (ret)
				break;
		}
		if (!ret)
			CHECK(rc_utf8_finish(&s) == whole);
	}

	/* byte by byte: fails at the very byte that proves it */
	if (n > BYTEWISE_MAX)
		return;
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < n; i++) {
		uint8_t one = src[i];

		ret = rc_utf8_feed(&s, &one, 1);
		CHECK(ret == proven_bad(src, i + 1));
		if (ret)
			break;
	}
	if (!ret)
		CHECK(rc_utf8_finish(&s) == whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const uint8_t *src = data + SETUP;
	uint32_t key;
	size_t n, off, a, b, mis;
	long want;

	if (len < SETUP)
		return 0;
	memcpy(&key, data, sizeof(key));
	off = data[4];
	n = len - SETUP;
	a = n * data[5] / 255;
	b = n * data[6] / 255;
	if (a > b) {
		size_t t = a;

		a = b;
		b = t;
	}
	mis = data[7] & 63;
	want = ref_utf8_scan(src, n);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct rc_simd *k = rc_simd_get(names[i]);
		uint8_t *base, *p;
		long got;

		if (!k)
			continue;
		rc_simd = k;

		/* whole buffer */
		p = place(&base, src, n, mis);
		got = k->utf8_scan(p, n);
		CHECK(got == want);
		CHECK(got == rc_simd_scalar.utf8_scan(p, n));
		CHECK(rc_utf8_valid(p, n) == (want == 0));
		CHECK(!n || !memcmp(p, src, n));	/* read only */
		free(base);

		/* fused: unmasks all of it, then the same answer */
		p = place(&base, src, n, mis);
		ref_unmask(p, n, key, off);
		got = k->unmask_utf8_scan(p, n, key, off);
		CHECK(got == want);
		CHECK(!n || !memcmp(p, src, n));
		free(base);

		check_stream(src, n, a, b, key, off, mis);
	}
	rc_simd = &rc_simd_scalar;
	return 0;
}
