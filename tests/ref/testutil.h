/* SPDX-License-Identifier: MIT */
/* testutil.h -- shared test helpers: seeded random numbers, the kernel sets, byte compares. */
#ifndef RC_TEST_TESTUTIL_H
#define RC_TEST_TESTUTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "simd/simd.h"

/* Every kernel set a build may have; rc_simd_get() says which run here. */
static const char *const impl_names[] = { "scalar", "avx2", "avx512" };
#define NIMPLS (sizeof(impl_names) / sizeof(impl_names[0]))

/*
 * xorshift64*: the next number of the sequence in *@state. Each file keeps
 * its own state with its own fixed seed, so it sees the same inputs on
 * every run and every libc.
 */
static inline uint64_t rng_next(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1Dull;
}

/* The kernel sets this build and CPU can run, into @out; returns how many. */
static inline size_t get_impls(const struct rc_simd *out[NIMPLS])
{
	size_t n = 0;

	for (size_t i = 0; i < NIMPLS; i++)
		if (rc_simd_get(impl_names[i]))
			out[n++] = rc_simd_get(impl_names[i]);
	return n;
}

/* Only after <cmocka.h>, which defines fail_msg(); the benchmark has none. */
#ifdef fail_msg
/* assert_memory_equal(), at memcmp() speed for 64 KiB payloads. */
static inline void expect_bytes(const void *got, const void *want, size_t n)
{
	const uint8_t *g = got, *w = want;

	if (!n || !memcmp(g, w, n))
		return;
	for (size_t i = 0; i < n; i++)
		if (g[i] != w[i])
			fail_msg("byte %zu of %zu: %#x, want %#x", i, n, g[i],
				 w[i]);
}

/*
 * Read exactly @n bytes from socket @fd (a SO_RCVTIMEO bounds it). EINTR is
 * retried: the kernel's io_uring task work (a ring's tear-down) may
 * interrupt a socket read with a timeout on the test's thread.
 */
static inline void read_full(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			fail_msg("read %zu of %zu bytes: %s", got, n,
				 r ? strerror(errno) : "EOF");
		got += (size_t)r;
	}
}
#endif

#endif /* RC_TEST_TESTUTIL_H */
