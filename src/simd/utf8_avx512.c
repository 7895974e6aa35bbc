/* SPDX-License-Identifier: MIT */
/* utf8_avx512.c -- UTF-8 validation and fused unmask, AVX-512BW/VBMI. */
#include <immintrin.h>
#include <stdbool.h>

#include "kernels.h"
#include "simd.h"

/* Same method and tables as utf8_avx2.c, on 64-byte blocks. */
struct utf8_avx512 {
	/*
	 * The 16-entry nibble tables repeated four times: VBMI's vpermb
	 * looks up 64 entries by the low 6 bits of each byte, so a byte
	 * (low nibble) or a 16-bit shift (high nibble) needs no masking.
	 */
	__m512i hi1, lo1, hi2;
	/* vpermt2b indices that shift a block right by 1, 2, 3 bytes and
	   fill in from the end of the previous block */
	__m512i shift1, shift2, shift3;
	__m512i err;		/* OR of every error found so far */
	__m512i prev;		/* the previous block */
	__m512i incomplete;	/* nonzero if prev ends inside a sequence */
};

static const uint8_t iota[64] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
	48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
};

/* Byte j: (j - k) mod 128, where index 64.. selects the previous block. */
static inline __m512i shift_index(int k)
{
	return _mm512_and_si512(_mm512_sub_epi8(_mm512_loadu_si512(iota),
						_mm512_set1_epi8((char)k)),
				_mm512_set1_epi8(127));
}

static inline __m512i lut(int i)
{
	return _mm512_broadcast_i32x4(
		_mm_loadu_si128((const __m128i *)rc__utf8_lut[i]));
}

static inline void state_init(struct utf8_avx512 *s)
{
	s->hi1 = lut(0);
	s->lo1 = lut(1);
	s->hi2 = lut(2);
	s->shift1 = shift_index(1);
	s->shift2 = shift_index(2);
	s->shift3 = shift_index(3);
	s->err = _mm512_setzero_si512();
	s->prev = _mm512_setzero_si512();
	s->incomplete = _mm512_setzero_si512();
}

/* Errors of the pairs and 3rd/4th bytes ending in @in, which follows @prev. */
static inline __m512i block_errors(const struct utf8_avx512 *s, __m512i in,
				   __m512i prev)
{
	__m512i prev1 = _mm512_permutex2var_epi8(in, s->shift1, prev);
	__m512i prev2 = _mm512_permutex2var_epi8(in, s->shift2, prev);
	__m512i prev3 = _mm512_permutex2var_epi8(in, s->shift3, prev);
	/* a & b & c */
	__m512i pair = _mm512_ternarylogic_epi64(
		_mm512_permutexvar_epi8(_mm512_srli_epi16(prev1, 4), s->hi1),
		_mm512_permutexvar_epi8(prev1, s->lo1),
		_mm512_permutexvar_epi8(_mm512_srli_epi16(in, 4), s->hi2),
		0x80);
	/* Top bit set where a byte must be a 3rd (E0..) or 4th (F0..) byte */
	__m512i third = _mm512_subs_epu8(prev2, _mm512_set1_epi8(0xE0 - 0x80));
	__m512i fourth = _mm512_subs_epu8(prev3, _mm512_set1_epi8(0xF0 - 0x80));

	/* pair ^ ((third | fourth) & 0x80) */
	return _mm512_ternarylogic_epi64(pair, _mm512_or_si512(third, fourth),
					 _mm512_set1_epi8((char)0x80), 0x78);
}

/* Nonzero in the last three bytes if @in ends in an unfinished sequence. */
static inline __m512i block_incomplete(__m512i in)
{
	/* 0xFF but for the last three bytes: >= F0, >= E0, >= C0 */
	const __m512i max = _mm512_set_epi64(
		(long long)0xBFDFEFFFFFFFFFFFull, -1, -1, -1, -1, -1, -1, -1);

	return _mm512_subs_epu8(in, max);
}

/* ASCII ending in @last: only what came before may be left unfinished. */
static inline void feed_ascii(struct utf8_avx512 *s, __m512i last)
{
	s->err = _mm512_or_si512(s->err, s->incomplete);
	s->incomplete = _mm512_setzero_si512();
	s->prev = last;
}

static inline void feed(struct utf8_avx512 *s, __m512i in)
{
	if (!_mm512_movepi8_mask(in)) {
		feed_ascii(s, in);
		return;
	}
	s->err = _mm512_or_si512(s->err, block_errors(s, in, s->prev));
	s->incomplete = block_incomplete(in);
	s->prev = in;
}

/* 128 bytes, without looking for ASCII first */
static inline void feed_checked(struct utf8_avx512 *s, __m512i a, __m512i b)
{
	s->err = _mm512_ternarylogic_epi64(s->err, block_errors(s, a, s->prev),
					   block_errors(s, b, a), 0xFE);
	s->incomplete = block_incomplete(b);
	s->prev = b;
}

/* 128 bytes; an all-ASCII pair of blocks only has to end the last one. */
static inline void feed2(struct utf8_avx512 *s, __m512i a, __m512i b)
{
	if (!_mm512_movepi8_mask(_mm512_or_si512(a, b)))
		feed_ascii(s, b);
	else
		feed_checked(s, a, b);
}

/*
 * The final block, bytes outside @m zero. Errors past the end only say
 * that the data stops inside a sequence: rc__utf8_tail() judges that from
 * the bytes themselves.
 */
static inline void feed_last(struct utf8_avx512 *s, __m512i in, __mmask64 m)
{
	if (!_mm512_movepi8_mask(in)) {
		s->err = _mm512_or_si512(s->err, s->incomplete);
		return;
	}
	s->err = _mm512_or_si512(s->err, _mm512_maskz_mov_epi8(
		m, block_errors(s, in, s->prev)));
}

/*
 * Validate p[0..n), unmasking it first if @fused: each block is loaded,
 * unmasked, stored and validated from the same register, so the payload is
 * read once. As in rc__unmask_avx512(), past 64 bytes the loop walks the
 * 64-byte blocks of memory that p[0..n) touches, with byte masks on the
 * first and last; the zeros before p in the first block read as ASCII and
 * change nothing. Without @fused, p is only read.
 */
static inline __attribute__((always_inline)) long
scan(uint8_t *p, size_t n, uint32_t key, size_t off, bool fused)
{
	/* one unaligned block is cheaper than two aligned ones */
	size_t lead = n <= 64 ? 0 : (uintptr_t)p & 63;
	uint8_t *b = (uint8_t *)((uintptr_t)p - lead);
	size_t left = n + lead;		/* bytes from b to the end */
	__m512i kv = _mm512_set1_epi32((int)rc__key_at(key, off - lead));
	__mmask64 m = _cvtu64_mask64(~0ull << lead);
	struct utf8_avx512 s;
	__m512i v;

	if (!n)
		return 0;
	state_init(&s);
	if (left > 64) {
		v = _mm512_maskz_loadu_epi8(m, b);
		if (fused) {
			v = _mm512_xor_si512(v, _mm512_maskz_mov_epi8(m, kv));
			_mm512_mask_storeu_epi8(b, m, v);
		}
		feed(&s, v);
		b += 64;
		left -= 64;
		for (; left >= 256; b += 256, left -= 256) {
			__m512i v0 = _mm512_load_si512(b);
			__m512i v1 = _mm512_load_si512(b + 64);
			__m512i v2 = _mm512_load_si512(b + 128);
			__m512i v3 = _mm512_load_si512(b + 192);

			if (fused) {
				v0 = _mm512_xor_si512(v0, kv);
				v1 = _mm512_xor_si512(v1, kv);
				v2 = _mm512_xor_si512(v2, kv);
				v3 = _mm512_xor_si512(v3, kv);
				_mm512_store_si512(b, v0);
				_mm512_store_si512(b + 64, v1);
				_mm512_store_si512(b + 128, v2);
				_mm512_store_si512(b + 192, v3);
			}
			/* ASCII runs take one test per 256 bytes */
			if (!_mm512_movepi8_mask(_mm512_ternarylogic_epi64(
				    _mm512_or_si512(v0, v1), v2, v3, 0xFE))) {
				feed_ascii(&s, v3);
			} else {
				feed_checked(&s, v0, v1);
				feed_checked(&s, v2, v3);
			}
		}
		if (left >= 128) {
			__m512i v0 = _mm512_load_si512(b);
			__m512i v1 = _mm512_load_si512(b + 64);

			if (fused) {
				v0 = _mm512_xor_si512(v0, kv);
				v1 = _mm512_xor_si512(v1, kv);
				_mm512_store_si512(b, v0);
				_mm512_store_si512(b + 64, v1);
			}
			feed2(&s, v0, v1);
			b += 128;
			left -= 128;
		}
		if (left >= 64) {
			v = _mm512_load_si512(b);
			if (fused) {
				v = _mm512_xor_si512(v, kv);
				_mm512_store_si512(b, v);
			}
			feed(&s, v);
			b += 64;
			left -= 64;
		}
		m = _cvtu64_mask64(~0ull);
	}
	if (left) {
		/* 1..64 bytes left in this block */
		m = _kand_mask64(m, _cvtu64_mask64(~0ull >> (64 - left)));
		v = _mm512_maskz_loadu_epi8(m, b);
		if (fused) {
			v = _mm512_xor_si512(v, _mm512_maskz_mov_epi8(m, kv));
			_mm512_mask_storeu_epi8(b, m, v);
		}
		feed_last(&s, v, m);
	}
	if (_mm512_test_epi64_mask(s.err, s.err))
		return -1;
	return rc__utf8_tail(p, n);
}

static long utf8_scan(const uint8_t *p, size_t n)
{
	return scan((uint8_t *)p, n, 0, 0, false);
}

static long unmask_utf8_scan(uint8_t *p, size_t n, uint32_t key, size_t off)
{
	return scan(p, n, key, off, true);
}

const struct rc_simd rc_simd_avx512 = {
	.name = "avx512",
	.unmask = rc__unmask_avx512,
	.utf8_scan = utf8_scan,
	.unmask_utf8_scan = unmask_utf8_scan,
};
