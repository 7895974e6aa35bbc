/* SPDX-License-Identifier: MIT */
/* unmask_scalar.c -- portable unmask kernel and the scalar kernel table. */
#include <string.h>

#include "kernels.h"
#include "simd.h"

/*
 * The key rotated by @off and repeated to 8 bytes, in memory order: one
 * 64-bit XOR covers 8 payload bytes, and since 8 is a multiple of the
 * 4-byte key period the same word serves every 8 bytes of the buffer.
 */
static uint64_t spread_key(uint32_t key, size_t off)
{
	uint8_t k[4], r[8];
	uint64_t w;

	memcpy(k, &key, sizeof(k));
	for (size_t j = 0; j < sizeof(r); j++)
		r[j] = k[(off + j) & 3];
	memcpy(&w, r, sizeof(w));
	return w;
}

static void unmask(uint8_t *p, size_t n, uint32_t key, size_t off)
{
	uint64_t k = spread_key(key, off);
	uint8_t kb[8];
	size_t i = 0;

	/*
	 * Four independent words per round, so loads, XORs and stores
	 * overlap; gcc 12 does not vectorise p[i] ^= key[i & 3] by itself.
	 * memcpy keeps any alignment legal and compiles to plain moves.
	 */
	for (; n - i >= 32; i += 32) {
		uint64_t w[4];

		memcpy(w, p + i, sizeof(w));
		w[0] ^= k;
		w[1] ^= k;
		w[2] ^= k;
		w[3] ^= k;
		memcpy(p + i, w, sizeof(w));
	}
	for (; n - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		w ^= k;
		memcpy(p + i, &w, sizeof(w));
	}
	/* i is a multiple of 8 here, so byte i & 7 of the word lines up. */
	memcpy(kb, &k, sizeof(kb));
	for (; i < n; i++)
		p[i] ^= kb[i & 7];
}

/* Two passes: the scalar kernels are the reference, the SIMD ones fuse. */
static long unmask_utf8_scan(uint8_t *p, size_t n, uint32_t key, size_t off)
{
	unmask(p, n, key, off);
	return rc__utf8_scan_scalar(p, n);
}

const struct rc_simd rc_simd_scalar = {
	.name = "scalar",
	.unmask = unmask,
	.utf8_scan = rc__utf8_scan_scalar,
	.unmask_utf8_scan = unmask_utf8_scan,
};
