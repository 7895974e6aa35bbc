/* SPDX-License-Identifier: MIT */
/* utf8_ref.c -- reference UTF-8 check for the tests: decode, then check ranges. */
#include <stdbool.h>

#include "utf8_ref.h"

/* Smallest code point that needs a sequence of [len] bytes. */
static const uint32_t ref_min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };

static unsigned ref_leading_ones(uint8_t b)
{
	unsigned n = 0;

	while (n < 8 && (b & (0x80u >> n)))
		n++;
	return n;
}

/* Whether [lo, hi] holds a Unicode scalar value (not a surrogate). */
static bool ref_any_scalar(uint32_t lo, uint32_t hi)
{
	if (hi > 0x10FFFF)
		hi = 0x10FFFF;
	if (lo > hi)
		return false;
	return lo < 0xD800 || hi > 0xDFFF;
}

long ref_utf8_scan(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned len = ref_leading_ones(p[i]);
		unsigned have = 1, missing;
		uint32_t cp, lo, hi;

		if (len == 0) {
			i++;
			continue;
		}
		if (len == 1 || len > 4)
			return -1;
		cp = p[i] & (0x7Fu >> len);
		while (have < len && i + have < n) {
			if (ref_leading_ones(p[i + have]) != 1)
				return -1;
			cp = cp << 6 | (p[i + have] & 0x3F);
			have++;
		}
		/*
		 * The bytes seen fix the top bits; a missing continuation
		 * byte may still supply any 6 bits. The prefix is good if
		 * some completion is a scalar value needing exactly len bytes.
		 */
		missing = len - have;
		lo = cp << (6 * missing);
		hi = lo | ((1u << (6 * missing)) - 1);
		if (lo < ref_min_cp[len])
			lo = ref_min_cp[len];
		if (!ref_any_scalar(lo, hi))
			return -1;
		if (missing)
			return have;
		i += len;
	}
	return 0;
}

size_t ref_utf8_encode(uint32_t cp, uint8_t out[4])
{
	size_t len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	static const uint8_t lead[5] = { 0, 0x00, 0xC0, 0xE0, 0xF0 };

	for (size_t i = len; i-- > 1; cp >>= 6)
		out[i] = (uint8_t)(0x80 | (cp & 0x3F));
	out[0] = (uint8_t)(lead[len] | cp);
	return len;
}
