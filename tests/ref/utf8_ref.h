/* SPDX-License-Identifier: MIT */
/* utf8_ref.h -- test references for the payload kernels, written apart from src/simd/. */
#ifndef RC_TEST_UTF8_REF_H
#define RC_TEST_UTF8_REF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Same contract as rc_simd->utf8_scan (simd.h): -1 if @p[0..n) holds an
 * invalid sequence, else the length 0..3 of a valid but unfinished final
 * sequence. Decodes code points and checks them against the ranges of
 * Unicode scalar values, instead of byte tables as utf8_scalar.c does.
 */
long ref_utf8_scan(const uint8_t *p, size_t n);

/* Encode @cp (any value below 0x200000, surrogates too) into @out; returns
   its length 1..4. */
size_t ref_utf8_encode(uint32_t cp, uint8_t out[4]);

/* Byte at a time unmask with the contract of rc_simd->unmask. */
static inline void ref_unmask(uint8_t *p, size_t n, uint32_t key, size_t off)
{
	const uint8_t *k = (const uint8_t *)&key;

	for (size_t i = 0; i < n; i++)
		p[i] ^= k[(off + i) % 4];
}

#endif /* RC_TEST_UTF8_REF_H */
