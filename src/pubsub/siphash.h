/* SPDX-License-Identifier: MIT */
/* siphash.h -- SipHash-1-3 (Aumasson, Bernstein): a keyed 64-bit hash. */
#ifndef RC_SIPHASH_H
#define RC_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * SipHash with one compression and three finalization rounds, as Python,
 * Rust and Ruby use for their hash tables: without the 128-bit @key an
 * attacker cannot pick names that collide, so a table keyed by it cannot
 * be made to degrade. Not a MAC (that is SipHash-2-4).
 */
uint64_t rc__siphash13(const uint64_t key[2], const void *p, size_t n);

#endif /* RC_SIPHASH_H */
