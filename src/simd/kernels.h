/* SPDX-License-Identifier: MIT */
/* kernels.h -- what the kernel files of src/simd share; private to them. */
#ifndef RC_SIMD_KERNELS_H
#define RC_SIMD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "simd.h"

/* Kernel tables, one per instruction set (cpu.c picks one). */
extern const struct rc_simd rc_simd_avx2;
extern const struct rc_simd rc_simd_avx512;

/* Unmask kernels (unmask_*.c); the AVX-512 one hands short payloads to the
   AVX2 one, and the fused kernels use them for their tails. */
void rc__unmask_avx2(uint8_t *p, size_t n, uint32_t key, size_t off);
void rc__unmask_avx512(uint8_t *p, size_t n, uint32_t key, size_t off);

/* utf8_scalar.c: the scalar validator (the rc_simd_scalar table's). */
long rc__utf8_scan_scalar(const uint8_t *p, size_t n);

/* utf8_avx2.c, shared with utf8_avx512.c: the Keiser-Lemire nibble
   tables, and the length of a valid unfinished sequence ending @p[0..n). */
extern const uint8_t rc__utf8_lut[3][16];
long rc__utf8_tail(const uint8_t *p, size_t n);

/* The key as it falls on payload bytes 0..3 when unmasking starts at @off. */
static inline uint32_t rc__key_at(uint32_t key, size_t off)
{
	unsigned int s = (off & 3) * 8;

	return (key >> s) | (key << ((32 - s) & 31));
}

#endif /* RC_SIMD_KERNELS_H */
