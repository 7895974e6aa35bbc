/* SPDX-License-Identifier: MIT */
/* cpu.c -- picks the payload kernels once, from cpuid or RINGCAST_SIMD. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "simd.h"

/*
 * Kernel sets built into this binary, best first. An ISA file adds itself
 * here; its supported() check runs once, in rc_simd_init().
 */
struct candidate {
	const struct rc_simd *impl;
	int (*supported)(void);
};

static int always(void)
{
	return 1;
}

/*
 * Each test names every extension its files are built with (CMakeLists.txt),
 * since the compiler may use any of them anywhere in those files. The
 * compiler's runtime (libgcc, compiler-rt) also checks that the OS saves
 * the AVX and AVX-512 registers.
 */
static int avx2_supported(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
	       __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
}

static int avx512_supported(void)
{
	return avx2_supported() && __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") &&
	       __builtin_cpu_supports("avx512vbmi");
}

/* Best first, by bench/simd_bench (bench/results/2026-11-21-simd.md). */
static const struct candidate candidates[] = {
	{ &rc_simd_avx512, avx512_supported },
	{ &rc_simd_avx2, avx2_supported },
	{ &rc_simd_scalar, always },
};

const struct rc_simd *rc_simd = &rc_simd_scalar;

const struct rc_simd *rc_simd_get(const char *name)
{
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (!strcmp(candidates[i].impl->name, name) &&
		    candidates[i].supported())
			return candidates[i].impl;
	return NULL;
}

int rc_simd_init(void)
{
	const char *want = getenv("RINGCAST_SIMD");

	if (want && *want) {
		const struct rc_simd *s = rc_simd_get(want);

		rc_simd = s ? s : &rc_simd_scalar;
		return s ? 0 : -ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		if (candidates[i].supported()) {
			rc_simd = candidates[i].impl;
			break;
		}
	}
	return 0;
}
