/* SPDX-License-Identifier: MIT */
/* unmask_avx2.c -- WebSocket unmasking, 32 bytes a step with AVX2. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "simd.h"

/*
 * XOR the last 0..31 bytes; @k is already rotated to p[0]. Every step is a
 * multiple of 4 bytes until the last 0..3, so @k stays in phase.
 */
static void xor_tail(uint8_t *p, size_t n, uint32_t k)
{
	uint64_t k8 = k | (uint64_t)k << 32;

	if (n >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)p);

		v = _mm_xor_si128(v, _mm_set1_epi32((int)k));
		_mm_storeu_si128((__m128i *)p, v);
		p += 16;
		n -= 16;
	}
	if (n >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= k8;
		memcpy(p, &w, 8);
		p += 8;
		n -= 8;
	}
	if (n >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		w ^= k;
		memcpy(p, &w, 4);
		p += 4;
		n -= 4;
	}
	for (size_t i = 0; i < n; i++)
		p[i] ^= (uint8_t)(k >> (8 * i));
}

void rc__unmask_avx2(uint8_t *p, size_t n, uint32_t key, size_t off)
{
	uint32_t k = rc__key_at(key, off);
	size_t i = 0;
	__m256i kv;

	/*
	 * Large buffers: XOR up to 31 bytes first so that every 32-byte
	 * store below is aligned and none straddles two cache lines. Not
	 * worth its branch for short messages.
	 */
	if (n >= 512) {
		size_t head = -(uintptr_t)p & 31;

		xor_tail(p, head, k);
		k = rc__key_at(key, off + head);
		i = head;
	}
	kv = _mm256_set1_epi32((int)k);
	/* Four stores in flight per round: the loop is load/store bound. */
	for (; n - i >= 128; i += 128) {
		__m256i *q = (__m256i *)(p + i);
		__m256i a = _mm256_loadu_si256(q);
		__m256i b = _mm256_loadu_si256(q + 1);
		__m256i c = _mm256_loadu_si256(q + 2);
		__m256i d = _mm256_loadu_si256(q + 3);

		_mm256_storeu_si256(q, _mm256_xor_si256(a, kv));
		_mm256_storeu_si256(q + 1, _mm256_xor_si256(b, kv));
		_mm256_storeu_si256(q + 2, _mm256_xor_si256(c, kv));
		_mm256_storeu_si256(q + 3, _mm256_xor_si256(d, kv));
	}
	for (; n - i >= 32; i += 32) {
		__m256i *q = (__m256i *)(p + i);
		__m256i a = _mm256_loadu_si256(q);

		_mm256_storeu_si256(q, _mm256_xor_si256(a, kv));
	}
	if (n - i)
		xor_tail(p + i, n - i, k);
}
