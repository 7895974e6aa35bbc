/* SPDX-License-Identifier: MIT */
/* utf8_scalar.c -- portable UTF-8 validator over the byte ranges of RFC 3629. */
#include <string.h>

#include "kernels.h"
#include "simd.h"

#define ASCII_MASK 0x8080808080808080ull

/*
 * What a lead byte allows next (RFC 3629 §4, Unicode Table 3-7). The range
 * of the second byte is what rules out overlongs (E0, F0), surrogates (ED)
 * and code points above U+10FFFF (F4); every later byte is 80..BF.
 */
struct lead {
	uint8_t len;		/* sequence length; 0: not a lead byte */
	uint8_t lo, hi;		/* allowed range of the second byte */
};

/* Bytes not listed: 00..7F (handled before), 80..BF continuation, C0/C1
   overlong, F5..FF beyond U+10FFFF. */
static const struct lead leads[256] = {
	[0xC2 ... 0xDF] = { 2, 0x80, 0xBF },
	[0xE0]		= { 3, 0xA0, 0xBF },
	[0xE1 ... 0xEC] = { 3, 0x80, 0xBF },
	[0xED]		= { 3, 0x80, 0x9F },
	[0xEE ... 0xEF] = { 3, 0x80, 0xBF },
	[0xF0]		= { 4, 0x90, 0xBF },
	[0xF1 ... 0xF3] = { 4, 0x80, 0xBF },
	[0xF4]		= { 4, 0x80, 0x8F },
};

/*
 * Bytes 1..3 of a sequence, loaded as load_le32() does: bytes 2 and 3
 * must be continuation bytes (10xxxxxx) as far as the length goes.
 */
static const uint32_t cont_mask[5] = { 0, 0, 0, 0x00C00000, 0xC0C00000 };
static const uint32_t cont_bits[5] = { 0, 0, 0, 0x00800000, 0x80800000 };

static uint32_t load_le32(const uint8_t *p)
{
	uint32_t w;

	memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	w = __builtin_bswap32(w);
#endif
	return w;
}

/* Index of the first byte with the top bit set in a non-ASCII word. */
static size_t first_high_byte(uint64_t w)
{
	w &= ASCII_MASK;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(w) / 8;
#else
	return (size_t)__builtin_clzll(w) / 8;
#endif
}

/*
 * Shared with the kernel table in unmask_scalar.c. Reads only p[0..n), so
 * it is also safe on unpadded buffers.
 */
long rc__utf8_scan_scalar(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		struct lead l;
		size_t avail, len;

		if (p[i] < 0x80) {
			uint64_t w;

			if (n - i < 8) {
				i++;
				continue;
			}
			/* Most payloads are mostly ASCII: 8 bytes a test. */
			memcpy(&w, p + i, 8);
			if (!(w & ASCII_MASK)) {
				i += 8;
				continue;
			}
			i += first_high_byte(w);
		}

		/*
		 * The next index depends only on the lead byte's value, not
		 * on the table load, which keeps the loop-carried chain short
		 * on non-Latin text; the checks resolve off that chain.
		 */
		len = 2 + (p[i] >= 0xE0) + (p[i] >= 0xF0);
		l = leads[p[i]];
		avail = n - i;
		if (avail >= 4) {
			/* the whole sequence in one test: a loop over its
			   varying length would mispredict on mixed text */
			uint32_t w = load_le32(p + i);
			uint8_t b1 = (uint8_t)(w >> 8);

			if ((l.len != len) | (b1 < l.lo) | (b1 > l.hi) |
			    ((w & cont_mask[len]) != cont_bits[len]))
				return -1;
			i += len;
			continue;
		}
		if (l.len != len)
			return -1;
		if (avail > 1 && (p[i + 1] < l.lo || p[i + 1] > l.hi))
			return -1;
		for (size_t k = 2; k < len && k < avail; k++)
			if ((p[i + k] & 0xC0) != 0x80)
				return -1;
		/* A sequence cut short by the end of the chunk: the caller
		   completes it with the next chunk. */
		if (avail < len)
			return (long)avail;
		i += len;
	}
	return 0;
}
