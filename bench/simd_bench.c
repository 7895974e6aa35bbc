/* SPDX-License-Identifier: MIT */
/* simd_bench.c -- payload kernels (unmask, UTF-8, fused) beside memcpy. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "simd/simd.h"
#include "ref/testutil.h"
#include "ref/utf8_ref.h"

/*
 * Usage: simd_bench [--quick] [--impl NAME] [--bytes N] [--offset N]
 *                   [--dump DIR]
 *
 * One line per result, for scripts/:
 *   bench=unmask impl=avx512 bytes=16384 iters=N ns_per_op=X gib_per_s=Y
 *   bench=utf8 impl=avx2 input=mixed bytes=16384 ...
 *   bench=memcpy impl=libc bytes=16384 ...
 * UTF-8 inputs: ascii, mixed (Latin, Cyrillic, CJK, emoji: see mixed_cp())
 * and four (all 4-byte sequences, the worst case). ns_per_op is the best
 * of several timed rounds (the machine is shared), each long enough for
 * the clock to be exact. The whole run takes about 10 s, --quick 1 s.
 * --impl keeps to one kernel set, --bytes N measures N bytes only.
 * --offset N places every buffer N bytes past a 64-byte boundary, as a
 * payload after a frame header would be. --dump DIR writes the UTF-8
 * inputs as DIR/<input>-<bytes>.bin, for other validators to read.
 */

static const size_t sizes[] = { 64, 1024, 16384, 256 * 1024, 4 * 1024 * 1024 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define MAX_SIZE (4 * 1024 * 1024)

/* Masking key for the fused run; see mixed_cp(). */
#define FUSED_KEY 0x01010101u

enum input { ASCII, MIXED, FOUR, NINPUTS };
static const char *const input_names[] = { "ascii", "mixed", "four" };

enum op { OP_MEMCPY, OP_UNMASK, OP_UTF8, OP_FUSED };

struct run {
	enum op op;
	const char *bench, *impl, *input;	/* for the report line */
	const struct rc_simd *k;
	uint8_t *buf;		/* worked on in place (unmask, fused) */
	const uint8_t *src;	/* read only (utf8), or memcpy's source */
	size_t n;
	size_t iters;		/* per timed round */
	double best_ns;		/* per operation, best round so far */
};

struct opts {
	bool quick;
	const char *impl;	/* only this kernel set, or all */
	size_t bytes;		/* only this size, or all */
	size_t offset;
	const char *dump;
};

/* xorshift64* state, seeded per input: each run and --dump see the same text. */
static uint64_t rng;

static uint32_t rnd_range(uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rng_next(&rng) % (hi - lo + 1));
}

/*
 * Text in the style of chat messages: by characters about half ASCII words,
 * 15% Latin-1 and Cyrillic letters, 25% CJK ideographs, 10% emoji. Each
 * class was picked so that XOR with FUSED_KEY (0x01 in every byte) is
 * valid UTF-8 again (C3<->C2, D0<->D1, E4..E9 among themselves, F0 9F<->
 * F1 9E; continuations stay continuations): the fused run can unmask the
 * same buffer over and over, always over valid text.
 */
static uint32_t mixed_cp(void)
{
	uint32_t r = (uint32_t)(rng_next(&rng) % 100);

	if (r < 50)
		return r < 8 ? ' ' : rnd_range('a', 'z');
	if (r < 58)
		return rnd_range(0xC0, 0xFF);		/* Latin-1 letters */
	if (r < 65)
		return rnd_range(0x410, 0x44F);		/* Cyrillic */
	if (r < 90)
		return rnd_range(0x4E00, 0x9FFF);	/* CJK */
	return rnd_range(0x1F300, 0x1FAFF);		/* emoji */
}

static uint32_t input_cp(enum input in)
{
	switch (in) {
	case ASCII:
		return rnd_range(0x20, 0x7E);
	case MIXED:
		return mixed_cp();
	default:
		return rnd_range(0x10000, 0x10FFFF);
	}
}

/* Exactly @n bytes of valid, complete text; ASCII fills the last 0..3. */
static void gen_input(enum input in, uint8_t *p, size_t n)
{
	size_t i = 0;

	rng = 0x9E3779B97F4A7C15ull + in;
	while (i < n) {
		uint8_t e[4];
		size_t k = ref_utf8_encode(input_cp(in), e);

		if (k > n - i)
			k = ref_utf8_encode('.', e);
		memcpy(p + i, e, k);
		i += k;
	}
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Keeps results alive; also where a wrong result would show. */
static long sink_min;

/* @iters operations; a tight loop per kind, so only the call is measured. */
static void run_iters(const struct run *r, size_t iters)
{
	long mn = 0;

	switch (r->op) {
	case OP_MEMCPY:
		for (size_t i = 0; i < iters; i++) {
			memcpy(r->buf, r->src, r->n);
			/* so the copies are not merged or dropped */
			__asm__ volatile("" : : "r"(r->buf) : "memory");
		}
		break;
	case OP_UNMASK:
		for (size_t i = 0; i < iters; i++)
			r->k->unmask(r->buf, r->n, 0xA1B2C3D4u, i);
		break;
	case OP_UTF8:
		for (size_t i = 0; i < iters; i++) {
			long v = r->k->utf8_scan(r->src, r->n);

			mn = v < mn ? v : mn;
		}
		break;
	case OP_FUSED:
		for (size_t i = 0; i < iters; i++) {
			long v = r->k->unmask_utf8_scan(r->buf, r->n, FUSED_KEY, 0);

			mn = v < mn ? v : mn;
		}
		break;
	}
	if (mn < sink_min)
		sink_min = mn;
}

/* Warm up, and find how many operations make a round of about @round_ns. */
static void calibrate(struct run *r, double round_ns)
{
	size_t iters = 1;

	for (;;) {
		double t = now_ns();

		run_iters(r, iters);
		t = now_ns() - t;
		if (t >= round_ns / 4 || iters >= (size_t)1 << 40) {
			r->iters = t > 0 ? (size_t)(iters * round_ns / t) + 1 : iters;
			break;
		}
		iters *= 2;
	}
	r->best_ns = 1e300;
}

static void time_round(struct run *r)
{
	double t = now_ns();

	run_iters(r, r->iters);
	t = (now_ns() - t) / (double)r->iters;
	if (t < r->best_ns)
		r->best_ns = t;
}

static void report(const struct run *r)
{
	printf("bench=%s impl=%s%s%s bytes=%zu iters=%zu ns_per_op=%.1f gib_per_s=%.2f\n",
	       r->bench, r->impl, r->input ? " input=" : "",
	       r->input ? r->input : "", r->n, r->iters, r->best_ns,
	       r->n / r->best_ns * 1e9 / (1024.0 * 1024 * 1024));
}

static int dump_inputs(const char *dir, uint8_t *scratch)
{
	if (mkdir(dir, 0777) && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	for (int in = 0; in < NINPUTS; in++) {
		for (size_t s = 0; s < NSIZES; s++) {
			char path[4096];
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s-%zu.bin", dir,
				 input_names[in], sizes[s]);
			gen_input(in, scratch, sizes[s]);
			f = fopen(path, "wb");
			if (!f || fwrite(scratch, 1, sizes[s], f) != sizes[s] ||
			    fclose(f)) {
				perror(path);
				return 1;
			}
		}
	}
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			o->quick = true;
		else if (!strcmp(argv[i], "--impl") && i + 1 < argc)
			o->impl = argv[++i];
		else if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
			o->bytes = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--offset") && i + 1 < argc)
			o->offset = strtoul(argv[++i], NULL, 0) % 64;
		else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
			o->dump = argv[++i];
		else
			return -EINVAL;
	}
	return o->bytes > MAX_SIZE ? -EINVAL : 0;
}

/*
 * Buffers, each MAX_SIZE bytes @offset past a 64-byte boundary: the three
 * inputs, memcpy's source and destination, and one each for unmask and
 * fused to work on in place.
 */
enum { BUF_COPY_SRC = NINPUTS, BUF_COPY_DST, BUF_UNMASK, BUF_FUSED, NBUFS };
#define BUF_STRIDE (MAX_SIZE + 128)

/* All runs for one size: memcpy, then per kernel set unmask, 3 x utf8, fused. */
static size_t plan(struct run *runs, uint8_t *const bufs[NBUFS], size_t n,
		   const struct opts *o)
{
	size_t nr = 0;

	runs[nr++] = (struct run){ .op = OP_MEMCPY, .bench = "memcpy",
		.impl = "libc", .buf = bufs[BUF_COPY_DST],
		.src = bufs[BUF_COPY_SRC], .n = n };
	for (size_t i = 0; i < NIMPLS; i++) {
		const struct rc_simd *k = rc_simd_get(impl_names[i]);

		if (o->impl && strcmp(o->impl, impl_names[i]))
			continue;
		if (!k) {
			printf("# skip %s: not built or CPU lacks it\n",
			       impl_names[i]);
			continue;
		}
		runs[nr++] = (struct run){ .op = OP_UNMASK, .bench = "unmask",
			.impl = k->name, .k = k, .buf = bufs[BUF_UNMASK], .n = n };
		for (int in = 0; in < NINPUTS; in++)
			runs[nr++] = (struct run){ .op = OP_UTF8, .bench = "utf8",
				.impl = k->name, .input = input_names[in], .k = k,
				.src = bufs[in], .n = n };
		runs[nr++] = (struct run){ .op = OP_FUSED, .bench = "fused",
			.impl = k->name, .input = input_names[MIXED], .k = k,
			.buf = bufs[BUF_FUSED], .n = n };
	}
	return nr;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	uint8_t *mem, *bufs[NBUFS];
	struct run runs[1 + 3 * 5];
	double round_ns;
	int reps;

	if (parse(argc, argv, &o)) {
		fprintf(stderr, "usage: simd_bench [--quick] [--impl NAME] [--bytes N] [--offset N] [--dump DIR]\n");
		return 2;
	}
	if (posix_memalign((void **)&mem, 64, NBUFS * BUF_STRIDE))
		return 1;
	/* fault the pages in now, not in the first timed round */
	memset(mem, 0, NBUFS * BUF_STRIDE);
	for (int i = 0; i < NBUFS; i++)
		bufs[i] = mem + i * BUF_STRIDE + o.offset;
	if (o.dump) {
		int ret = dump_inputs(o.dump, bufs[0]);

		free(mem);
		return ret;
	}

	rc_simd_init();
	printf("# simd_bench: default kernels %s, %s, offset %zu\n",
	       rc_simd->name, o.quick ? "quick" : "full", o.offset);
	/*
	 * The rounds of all runs of a size take turns, so that a noisy
	 * moment on a shared machine hits them alike; each keeps its best.
	 */
	round_ns = o.quick ? 1e6 : 10e6;
	reps = o.quick ? 3 : 11;
	for (size_t s = 0; s < NSIZES; s++) {
		size_t n = o.bytes ? o.bytes : sizes[s], nr;

		if (o.bytes && s)
			break;
		for (int i = 0; i < NINPUTS; i++)
			gen_input(i, bufs[i], n);
		memcpy(bufs[BUF_COPY_SRC], bufs[MIXED], n);
		memcpy(bufs[BUF_UNMASK], bufs[MIXED], n);
		memcpy(bufs[BUF_FUSED], bufs[MIXED], n);
		nr = plan(runs, bufs, n, &o);
		for (size_t i = 0; i < nr; i++)
			calibrate(&runs[i], round_ns);
		for (int rep = 0; rep < reps; rep++)
			for (size_t i = 0; i < nr; i++)
				time_round(&runs[i]);
		for (size_t i = 0; i < nr; i++)
			report(&runs[i]);
		fflush(stdout);
	}
	free(mem);
	if (sink_min < 0) {
		fprintf(stderr, "simd_bench: a kernel rejected valid input\n");
		return 1;
	}
	return 0;
}
