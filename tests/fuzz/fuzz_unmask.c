/* SPDX-License-Identifier: MIT */
/*
 * fuzz_unmask.c -- libFuzzer harness, differential: the unmask kernel of
 * every set this CPU runs (scalar, avx2, avx512) against the byte-at-a-time
 * reference of tests/ref/utf8_ref.h, with the key, key offset,
 * misalignment and a split point from the input. Unmasking in two calls
 * (the second with the offset advanced) must equal one call, and the
 * fused unmask_utf8_scan must leave the same bytes.
 *
 * Input: 16 bytes of set-up, then the payload.
 *   bytes 0-3   masking key
 *   bytes 4-11  key offset (any size_t: only its value mod 4 may count)
 *   byte 12     misalignment (0..63)
 *   bytes 13-14 split point (scaled to the payload's length)
 *   byte 15     reserved
 * Every kernel works on a buffer that ends exactly where the payload
 * does, so ASan reports any access past it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simd/simd.h"
#include "ref/utf8_ref.h"
#include "check.h"

#define SETUP 16

/* The kernel set under test. */
static const char *current = "?";

static const char *fuzz_context(void)
{
	return current;
}

static const char *const names[] = { "scalar", "avx2", "avx512" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const uint8_t *src = data + SETUP;
	uint8_t *want, *base, *p;
	uint32_t key;
	uint64_t off64;
	size_t n, off, mis, cut;

	if (len < SETUP)
		return 0;
	memcpy(&key, data, sizeof(key));
	memcpy(&off64, data + 4, sizeof(off64));
	off = (size_t)off64;
	mis = data[12] & 63;
	n = len - SETUP;
	cut = n * (size_t)(data[13] | data[14] << 8) / 65535;

	want = malloc(n ? n : 1);
	base = malloc(mis + n ? mis + n : 1);
	CHECK(want && base);
	p = base + mis;
	if (n)
		memcpy(want, src, n);
	ref_unmask(want, n, key, off);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct rc_simd *k = rc_simd_get(names[i]);

		if (!k)
			continue;
		current = k->name;

		/* one call */
		if (n)
			memcpy(p, src, n);
		k->unmask(p, n, key, off);
		CHECK(!n || !memcmp(p, want, n));

		/* two calls: the second resumes at the key offset reached */
		if (n)
			memcpy(p, src, n);
		k->unmask(p, cut, key, off);
		k->unmask(p + cut, n - cut, key, off + cut);
		CHECK(!n || !memcmp(p, want, n));

		/* unmasking twice restores the input */
		k->unmask(p, n, key, off);
		CHECK(!n || !memcmp(p, src, n));

		/* the fused kernel unmasks the same way, whatever the scan
		   finds */
		k->unmask_utf8_scan(p, n, key, off);
		CHECK(!n || !memcmp(p, want, n));
	}
	free(base);
	free(want);
	return 0;
}
