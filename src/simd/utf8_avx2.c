/* SPDX-License-Identifier: MIT */
/* utf8_avx2.c -- UTF-8 validation (Keiser & Lemire) and fused unmask, AVX2. */
#include <immintrin.h>

#include "kernels.h"
#include "simd.h"

/*
 * Keiser & Lemire, "Validating UTF-8 in less than one instruction per
 * byte" (Software: Practice and Experience, 2021). Every error shows in a
 * pair of adjacent bytes, but for the 3rd and 4th bytes of a sequence,
 * which are checked against the lead byte 2 or 3 bytes before. A pair's
 * errors are told by the high nibble of its first byte, that byte's low
 * nibble and the high nibble of the second byte: each of the three tables
 * maps its nibble to the set of errors the nibble allows, and a pair is bad
 * when some error bit survives in all three.
 */
enum {
	TOO_SHORT = 1 << 0,	/* lead byte, then no continuation */
	TOO_LONG = 1 << 1,	/* ASCII, then a continuation */
	OVERLONG_3 = 1 << 2,	/* E0 80..9F */
	TOO_LARGE = 1 << 3,	/* F4 90..BF, F5..FF 90..BF */
	SURROGATE = 1 << 4,	/* ED A0..BF */
	OVERLONG_2 = 1 << 5,	/* C0 or C1, then a continuation */
	/* F0 80..8F and F5..FF 80..8F: both need F_ then 8_, so one bit */
	OVERLONG_4 = 1 << 6,
	TOO_LARGE_1000 = 1 << 6,
	/* Two continuations: an error unless the 2nd is a 3rd or 4th byte */
	TWO_CONTS = 1 << 7,
	CARRY = TOO_SHORT | TOO_LONG | TWO_CONTS,
};

const uint8_t rc__utf8_lut[3][16] = {
	/* high nibble of the first byte of the pair */
	{
		/* 0_..7_ ASCII */
		TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
		TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
		/* 8_..B_ continuation */
		TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
		/* C_ */ TOO_SHORT | OVERLONG_2,
		/* D_ */ TOO_SHORT,
		/* E_ */ TOO_SHORT | OVERLONG_3 | SURROGATE,
		/* F_ */ TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4,
	},
	/* low nibble of the first byte */
	{
		/* _0 */ CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
		/* _1 */ CARRY | OVERLONG_2,
		/* _2 */ CARRY,
		/* _3 */ CARRY,
		/* _4 */ CARRY | TOO_LARGE,
		/* _5.._C */
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		/* _D */ CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
		/* _E, _F */
		CARRY | TOO_LARGE | TOO_LARGE_1000,
		CARRY | TOO_LARGE | TOO_LARGE_1000,
	},
	/* high nibble of the second byte */
	{
		/* 0_..7_ ASCII */
		TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
		TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
		/* 8_ */
		TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 |
		TOO_LARGE_1000 | OVERLONG_4,
		/* 9_ */
		TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
		/* A_, B_ */
		TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
		TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
		/* C_..F_ lead bytes */
		TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
	},
};

/*
 * After a vector pass found no error inside @p[0..n): the length (0..3) of
 * the unfinished sequence at the end, or -1 if it cannot become one. The
 * vector pass checks every byte pair inside the buffer, so a lead byte with
 * nothing after it is all that is left to look at.
 */
long rc__utf8_tail(const uint8_t *p, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++) {
		uint8_t c = p[n - k];
		size_t need;

		if ((c & 0xC0) == 0x80)
			continue;
		if (c < 0x80)
			return 0;
		if (c < 0xC2 || c > 0xF4)
			return -1;
		need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		return need > k ? (long)k : 0;
	}
	return 0;
}

struct utf8_avx2 {
	__m256i hi1, lo1, hi2;	/* rc__utf8_lut in both lanes */
	__m256i err;		/* OR of every error found so far */
	__m256i prev;		/* the previous 32 input bytes */
	__m256i incomplete;	/* nonzero if prev ends inside a sequence */
};

static inline __m256i lut(int i)
{
	return _mm256_broadcastsi128_si256(
		_mm_loadu_si128((const __m128i *)rc__utf8_lut[i]));
}

static inline void state_init(struct utf8_avx2 *s)
{
	s->hi1 = lut(0);
	s->lo1 = lut(1);
	s->hi2 = lut(2);
	s->err = _mm256_setzero_si256();
	s->prev = _mm256_setzero_si256();
	s->incomplete = _mm256_setzero_si256();
}

/* Errors of the pairs and 3rd/4th bytes ending in @in, which follows @prev. */
static inline __m256i block_errors(const struct utf8_avx2 *s, __m256i in,
				   __m256i prev)
{
	const __m256i nib = _mm256_set1_epi8(0x0F);
	/* The 16 bytes before each lane: prev's top lane, then in's low lane */
	__m256i before = _mm256_permute2x128_si256(prev, in, 0x21);
	__m256i prev1 = _mm256_alignr_epi8(in, before, 15);
	__m256i prev2 = _mm256_alignr_epi8(in, before, 14);
	__m256i prev3 = _mm256_alignr_epi8(in, before, 13);
	__m256i hi1 = _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nib);
	__m256i lo1 = _mm256_and_si256(prev1, nib);
	__m256i hi2 = _mm256_and_si256(_mm256_srli_epi16(in, 4), nib);
	__m256i pair = _mm256_and_si256(
		_mm256_and_si256(_mm256_shuffle_epi8(s->hi1, hi1),
				 _mm256_shuffle_epi8(s->lo1, lo1)),
		_mm256_shuffle_epi8(s->hi2, hi2));
	/* Top bit set where a byte must be a 3rd (E0..) or 4th (F0..) byte */
	__m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8(0xE0 - 0x80));
	__m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8(0xF0 - 0x80));
	__m256i must = _mm256_and_si256(_mm256_or_si256(third, fourth),
					_mm256_set1_epi8((char)0x80));

	return _mm256_xor_si256(pair, must);
}

/* Nonzero in the last three bytes if @in ends in an unfinished sequence. */
static inline __m256i block_incomplete(__m256i in)
{
	const __m256i max = _mm256_setr_epi8(
		-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
		-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
		(char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));

	return _mm256_subs_epu8(in, max);
}

/* ASCII ending in @last: only what came before may be left unfinished. */
static inline void feed_ascii(struct utf8_avx2 *s, __m256i last)
{
	s->err = _mm256_or_si256(s->err, s->incomplete);
	s->incomplete = _mm256_setzero_si256();
	s->prev = last;
}

/* 64 bytes, without looking for ASCII first */
static inline void feed_checked(struct utf8_avx2 *s, __m256i a, __m256i b)
{
	s->err = _mm256_or_si256(s->err, block_errors(s, a, s->prev));
	s->err = _mm256_or_si256(s->err, block_errors(s, b, a));
	s->incomplete = block_incomplete(b);
	s->prev = b;
}

/* 64 bytes; an all-ASCII pair of blocks only has to end the last one. */
static inline void feed64(struct utf8_avx2 *s, __m256i a, __m256i b)
{
	if (!_mm256_movemask_epi8(_mm256_or_si256(a, b)))
		feed_ascii(s, b);
	else
		feed_checked(s, a, b);
}

static inline void feed32(struct utf8_avx2 *s, __m256i in)
{
	if (!_mm256_movemask_epi8(in)) {
		feed_ascii(s, in);
		return;
	}
	s->err = _mm256_or_si256(s->err, block_errors(s, in, s->prev));
	s->incomplete = block_incomplete(in);
	s->prev = in;
}

/*
 * The last 1..31 bytes, zero-extended: whole dwords by a masked load (which
 * does not touch memory under a clear mask bit, so nothing past @n is read),
 * the 0..3 bytes after them one by one.
 */
static inline __m256i load_partial(const uint8_t *p, size_t n)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i nd = _mm256_set1_epi32((int)(n / 4));
	__m256i v = _mm256_maskload_epi32((const int *)p,
					  _mm256_cmpgt_epi32(nd, idx));
	const uint8_t *q = p + (n & ~(size_t)3);
	uint32_t w = 0;
	__m256i w32;

	switch (n & 3) {
	case 3:
		w |= (uint32_t)q[2] << 16;
		/* fall through */
	case 2:
		w |= (uint32_t)q[1] << 8;
		/* fall through */
	case 1:
		w |= q[0];
	}
	w32 = _mm256_and_si256(_mm256_set1_epi32((int)w),
			       _mm256_cmpeq_epi32(nd, idx));
	return _mm256_or_si256(v, w32);
}

/* 0xFF in the lanes below @n (0..32), 0 above. */
static inline __m256i lanes_below(size_t n)
{
	const __m256i idx = _mm256_setr_epi8(
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);

	return _mm256_cmpgt_epi8(_mm256_set1_epi8((char)n), idx);
}

/*
 * The final 1..31 bytes @in (zero-extended). Errors in the lanes past the
 * end only say that the data stops inside a sequence: rc__utf8_tail()
 * judges that from the bytes themselves.
 */
static inline void feed_last(struct utf8_avx2 *s, __m256i in, size_t n)
{
	if (!_mm256_movemask_epi8(in)) {
		s->err = _mm256_or_si256(s->err, s->incomplete);
		return;
	}
	s->err = _mm256_or_si256(s->err, _mm256_and_si256(
		block_errors(s, in, s->prev), lanes_below(n)));
}

static inline long finish(const struct utf8_avx2 *s, const uint8_t *p,
			  size_t n)
{
	if (!_mm256_testz_si256(s->err, s->err))
		return -1;
	return rc__utf8_tail(p, n);
}

/* Length of the run of whole 128-byte ASCII chunks at the start of @p. */
static inline size_t ascii_run(const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; n - i >= 128; i += 128) {
		const __m256i *q = (const __m256i *)(p + i);
		__m256i ab = _mm256_or_si256(_mm256_loadu_si256(q),
					     _mm256_loadu_si256(q + 1));
		__m256i cd = _mm256_or_si256(_mm256_loadu_si256(q + 2),
					     _mm256_loadu_si256(q + 3));

		if (_mm256_movemask_epi8(_mm256_or_si256(ab, cd)))
			break;
	}
	return i;
}

static long utf8_scan(const uint8_t *p, size_t n)
{
	struct utf8_avx2 s;
	size_t i = 0;

	state_init(&s);
	while (n - i >= 128) {
		const __m256i *q = (const __m256i *)(p + i);
		__m256i a = _mm256_loadu_si256(q);
		__m256i b = _mm256_loadu_si256(q + 1);
		__m256i c = _mm256_loadu_si256(q + 2);
		__m256i d = _mm256_loadu_si256(q + 3);
		__m256i any = _mm256_or_si256(_mm256_or_si256(a, b),
					      _mm256_or_si256(c, d));

		if (_mm256_movemask_epi8(any)) {
			feed_checked(&s, a, b);
			feed_checked(&s, c, d);
			i += 128;
			continue;
		}
		/*
		 * A run of ASCII: skip it with nothing but loads and one
		 * test per 128 bytes (err and prev may live on the stack
		 * for want of ymm registers; they stay out of this loop).
		 */
		i += ascii_run(p + i + 128, n - i - 128) + 128;
		q = (const __m256i *)(p + i - 32);
		feed_ascii(&s, _mm256_loadu_si256(q));
	}
	if (n - i >= 64) {
		feed64(&s, _mm256_loadu_si256((const __m256i *)(p + i)),
		       _mm256_loadu_si256((const __m256i *)(p + i + 32)));
		i += 64;
	}
	if (n - i >= 32) {
		feed32(&s, _mm256_loadu_si256((const __m256i *)(p + i)));
		i += 32;
	}
	if (n - i)
		feed_last(&s, load_partial(p + i, n - i), n - i);
	return finish(&s, p, n);
}

/*
 * Each 64 bytes are unmasked in registers, stored, and validated from the
 * same registers: the payload is read once. The last 0..31 bytes are
 * unmasked in a register for validation and by rc__unmask_avx2() in
 * memory, loads before stores: a load from bytes just stored in pieces
 * would wait for the stores to retire.
 */
static long unmask_utf8_scan(uint8_t *p, size_t n, uint32_t key, size_t off)
{
	__m256i kv = _mm256_set1_epi32((int)rc__key_at(key, off));
	struct utf8_avx2 s;
	size_t i = 0;

	state_init(&s);
	for (; n - i >= 64; i += 64) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(p + i + 32));

		a = _mm256_xor_si256(a, kv);
		b = _mm256_xor_si256(b, kv);
		_mm256_storeu_si256((__m256i *)(p + i), a);
		_mm256_storeu_si256((__m256i *)(p + i + 32), b);
		feed64(&s, a, b);
	}
	if (n - i >= 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(p + i));

		a = _mm256_xor_si256(a, kv);
		_mm256_storeu_si256((__m256i *)(p + i), a);
		feed32(&s, a);
		i += 32;
	}
	if (n - i) {
		__m256i k = _mm256_and_si256(kv, lanes_below(n - i));
		__m256i a = _mm256_xor_si256(load_partial(p + i, n - i), k);

		rc__unmask_avx2(p + i, n - i, key, off + i);
		feed_last(&s, a, n - i);
	}
	return finish(&s, p, n);
}

const struct rc_simd rc_simd_avx2 = {
	.name = "avx2",
	.unmask = rc__unmask_avx2,
	.utf8_scan = utf8_scan,
	.unmask_utf8_scan = unmask_utf8_scan,
};
