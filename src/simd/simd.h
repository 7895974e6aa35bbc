/* SPDX-License-Identifier: MIT */
/* simd.h -- payload kernels (unmask, UTF-8), one table chosen once at start-up. */
#ifndef RC_SIMD_H
#define RC_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Readers of receive buffers may load up to this many bytes past the end of
 * the data (never write them): receive buffers are padded by this much.
 */
#define RC_SIMD_PADDING 64

/*
 * One implementation of the kernels. @key is the 4-byte masking key as it
 * sits on the wire, loaded with memcpy (so byte j of the key is
 * ((uint8_t *)&key)[j]); payload byte i is XORed with key byte (off + i) & 3.
 *
 * utf8_scan returns -1 if @p[0..n) contains an invalid UTF-8 sequence
 * (overlong, surrogate, > U+10FFFF, bad continuation, or an incomplete
 * sequence followed by more bytes); otherwise the number of bytes (0..3) at
 * the end that start a sequence which is not finished yet but is a valid
 * prefix of one. A stream is valid iff every chunk scans >= 0 and the last
 * tail is 0 (see struct rc_utf8 for chunk boundaries inside a sequence).
 *
 * unmask_utf8_scan unmasks all of @p in place, then scans it: one pass.
 */
struct rc_simd {
	const char *name;
	void (*unmask)(uint8_t *p, size_t n, uint32_t key, size_t off);
	long (*utf8_scan)(const uint8_t *p, size_t n);
	long (*unmask_utf8_scan)(uint8_t *p, size_t n, uint32_t key,
				 size_t off);
};

/* The kernels in use; set by rc_simd_init(), never changed afterwards. */
extern const struct rc_simd *rc_simd;

/*
 * Pick kernels from CPU features, or from RINGCAST_SIMD=scalar|avx2|avx512.
 * Idempotent; call before any worker starts. Returns 0, or -ENOTSUP when
 * RINGCAST_SIMD names kernels this CPU cannot run (scalar is used then).
 */
int rc_simd_init(void);

/* Look up a kernel set by name ("scalar", "avx2", "avx512"); NULL if this
   build or CPU lacks it. For tests and benchmarks. */
const struct rc_simd *rc_simd_get(const char *name);

/* The scalar reference kernels (always present). */
extern const struct rc_simd rc_simd_scalar;

/*
 * Streaming UTF-8 validation across fragments and reads. Zero-initialise,
 * feed chunks, then finish at the end of the message. A code point split
 * across chunks is valid; an invalid sequence fails in the first chunk that
 * proves it invalid.
 */
struct rc_utf8 {
	uint8_t pend[4];	/* bytes of an unfinished sequence */
	uint8_t npend;
};

/* 0, or -EILSEQ if the bytes so far cannot be valid UTF-8. */
int rc_utf8_feed(struct rc_utf8 *s, const uint8_t *p, size_t n);
/* Like rc_utf8_feed() but unmasks @p in place first (fused kernel). */
int rc_utf8_feed_unmask(struct rc_utf8 *s, uint8_t *p, size_t n, uint32_t key,
			size_t off);
/* 0 if the stream ended on a code-point boundary, else -EILSEQ. Resets. */
int rc_utf8_finish(struct rc_utf8 *s);
/* Whole-buffer validation: true if @p[0..n) is valid UTF-8. */
bool rc_utf8_valid(const uint8_t *p, size_t n);

#endif /* RC_SIMD_H */
