/* SPDX-License-Identifier: MIT */
/* test_simd.c -- each SIMD kernel set against tests/ref, at every block edge. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "simd/simd.h"
/* Built into this test directly, so CMake needs no extra source. */
#include "ref/utf8_ref.c"
#include "ref/testutil.h"

#define MAX_LEN 512		/* every length 0..MAX_LEN */
#define MAX_MIS 64		/* every misalignment 0..MAX_MIS-1 */
/* Bytes around the data that no kernel may write */
#define FENCE 64
#define FENCE_BYTE 0x5A

/*
 * Work areas. @work is 64-byte aligned with FENCE bytes of margin on both
 * sides; @arena ends right before a PROT_NONE page, so a kernel that reads
 * past the end of its data faults (the SIMD kernels here read nothing
 * past n, though the contract would allow RC_SIMD_PADDING).
 */
#define WORK_SIZE (FENCE + MAX_MIS + (1u << 16) + FENCE)
static uint8_t *work;
#define ARENA_SIZE (1u << 16)
static uint8_t *arena_end;

/* xorshift64* state: a fixed seed, so every run tests the same inputs. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static size_t rnd_below(size_t n)
{
	return (size_t)(rng_next(&rng) % n);
}

/* ---- test text -------------------------------------------------------- */

/* Code points at the edges of the byte-length and table ranges. */
static const uint32_t edge_cps[] = {
	0x00, 0x7F, 0x80, 0xFF, 0x7FF, 0x800, 0xFFF, 0x1000, 0xCFFF,
	0xD000, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x3FFFF, 0x40000,
	0xFFFFF, 0x100000, 0x10FFFF,
};

/* A random scalar value: a mix of ASCII, 2-, 3- and 4-byte ones and edges. */
static uint32_t rnd_cp(void)
{
	uint32_t cp;

	switch (rnd_below(8)) {
	case 0:
	case 1:
	case 2:
		return (uint32_t)rnd_below(0x80);
	case 3:
		return 0x80 + (uint32_t)rnd_below(0x800 - 0x80);
	case 4:
		do
			cp = 0x800 + (uint32_t)rnd_below(0x10000 - 0x800);
		while (cp >= 0xD800 && cp <= 0xDFFF);
		return cp;
	case 5:
		return 0x10000 + (uint32_t)rnd_below(0x110000 - 0x10000);
	case 6:
		return edge_cps[rnd_below(sizeof(edge_cps) / sizeof(edge_cps[0]))];
	default:
		/* runs of ASCII, so blocks take the ASCII path too */
		return 'a' + (uint32_t)rnd_below(26);
	}
}

/*
 * Valid text of exactly @n bytes, complete at the end; the starts of its
 * code points are marked in @starts (if not NULL). A run of ASCII now and
 * then gives whole ASCII blocks between non-ASCII ones.
 */
static void gen_text(uint8_t *p, size_t n, bool *starts)
{
	size_t i = 0;

	while (i < n) {
		uint8_t e[4];
		size_t k;

		if (rnd_below(16) == 0) {
			size_t run = rnd_below(160);

			for (k = 0; k < run && i < n; k++) {
				if (starts)
					starts[i] = true;
				p[i++] = ' ' + (uint8_t)rnd_below(95);
			}
			continue;
		}
		k = ref_utf8_encode(rnd_cp(), e);
		if (k > n - i)
			k = ref_utf8_encode('x', e);
		if (starts) {
			starts[i] = true;
			memset(starts + i + 1, 0, k - 1);
		}
		memcpy(p + i, e, k);
		i += k;
	}
}

#define TEXT_SIZE (1u << 16)
static uint8_t text[TEXT_SIZE];
static bool text_start[TEXT_SIZE];

/* A code point boundary in text[] with at least @n bytes after it. */
static size_t text_window(size_t n)
{
	size_t s = rnd_below(TEXT_SIZE - n + 1);

	while (s > 0 && !text_start[s])
		s--;
	return s;
}

/* ---- kernel sets ---------------------------------------------------- */

static const struct rc_simd *set_of(void **state)
{
	return *state;
}

/* ---- checking helpers ------------------------------------------------- */

static uint8_t *place_work(const uint8_t *src, size_t n, size_t mis)
{
	uint8_t *p = work + FENCE + mis;

	memset(p - FENCE, FENCE_BYTE, FENCE);
	memcpy(p, src, n);
	memset(p + n, FENCE_BYTE, FENCE);
	return p;
}

static void check_fences(const struct rc_simd *k, const uint8_t *p, size_t n,
			 size_t mis)
{
	for (size_t i = 1; i <= FENCE; i++)
		if (p[-(ptrdiff_t)i] != FENCE_BYTE || p[n + i - 1] != FENCE_BYTE)
			fail_msg("%s: wrote outside the data (n=%zu mis=%zu)",
				 k->name, n, mis);
}

static uint8_t *place_arena_end(const uint8_t *src, size_t n)
{
	uint8_t *p = arena_end - n;

	memcpy(p, src, n);
	return p;
}

static void dump(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x%s", p[i], i % 32 == 31 ? "\n" : " ");
	fprintf(stderr, "\n");
}

/*
 * Scan @src[0..n) with kernel set @k placed at misalignment @mis and at the
 * end of the arena, and compare with the reference.
 */
static void check_scan_at(const struct rc_simd *k, const uint8_t *src,
			  size_t n, size_t mis, const char *what)
{
	long want = ref_utf8_scan(src, n);
	long got = k->utf8_scan(place_work(src, n, mis), n);
	long got_end;

	if (got != want) {
		dump(src, n);
		fail_msg("%s: utf8_scan %s n=%zu mis=%zu: got %ld, want %ld",
			 k->name, what, n, mis, got, want);
	}
	got_end = k->utf8_scan(place_arena_end(src, n), n);
	if (got_end != want) {
		dump(src, n);
		fail_msg("%s: utf8_scan %s n=%zu at page end: got %ld, want %ld",
			 k->name, what, n, got_end, want);
	}
}

/* ---- unmask ----------------------------------------------------------- */

/* Every length, misalignment and key offset, against the reference. */
static void test_unmask(void **state)
{
	const struct rc_simd *k = set_of(state);
	static uint8_t src[MAX_LEN], want[MAX_LEN];
	uint32_t key = 0xA1B2C3D4u;

	for (size_t i = 0; i < MAX_LEN; i++)
		src[i] = (uint8_t)rng_next(&rng);
	for (size_t n = 0; n <= MAX_LEN; n++) {
		for (size_t off = 0; off < 8; off++) {
			memcpy(want, src, n);
			ref_unmask(want, n, key, off);
			for (size_t mis = 0; mis < MAX_MIS; mis++) {
				uint8_t *p = place_work(src, n, mis);

				k->unmask(p, n, key, off);
				if (memcmp(p, want, n))
					fail_msg("%s: unmask n=%zu mis=%zu off=%zu",
						 k->name, n, mis, off);
				check_fences(k, p, n, mis);
			}
			/* right before the guard page */
			k->unmask(place_arena_end(src, n), n, key, off);
			if (memcmp(arena_end - n, want, n))
				fail_msg("%s: unmask at page end n=%zu off=%zu",
					 k->name, n, off);
		}
		key = key * 2654435761u + 1;
	}
}

/* Large buffers: the aligned main loops, and off beyond the key size. */
static void test_unmask_large(void **state)
{
	const struct rc_simd *k = set_of(state);
	static uint8_t src[1u << 16], want[1u << 16];
	static const size_t sizes[] = { 1000, 4096, 4099, 16384, 65536 - 64 };

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)rng_next(&rng);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (size_t mis = 0; mis < MAX_MIS; mis += 7) {
			size_t n = sizes[s], off = 1000003 + mis;
			uint32_t key = (uint32_t)rng_next(&rng);
			uint8_t *p;

			memcpy(want, src, n);
			ref_unmask(want, n, key, off);
			p = place_work(src, n, mis);
			k->unmask(p, n, key, off);
			assert_memory_equal(p, want, n);
			check_fences(k, p, n, mis);
		}
	}
}

/* ---- utf8_scan -------------------------------------------------------- */

/* Windows of random valid text: every length and misalignment. */
static void test_scan_random_valid(void **state)
{
	const struct rc_simd *k = set_of(state);

	for (size_t n = 0; n <= MAX_LEN; n++)
		for (size_t mis = 0; mis < MAX_MIS; mis++)
			check_scan_at(k, text + text_window(n), n, mis, "valid");
	/* long ones: several blocks of every kind in a row */
	for (size_t r = 0; r < 64; r++) {
		size_t n = 512 + rnd_below(16384);

		check_scan_at(k, text + text_window(n), n, rnd_below(MAX_MIS),
			      "valid long");
	}
}

/* Bytes that break UTF-8 in different ways, or start a sequence. */
static const uint8_t bad_bytes[] = {
	0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
	0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xF7, 0xF8, 0xFF, 0x00, 0x41,
};

/* Valid text with 1..3 bytes replaced, at random places and values. */
static void test_scan_random_corrupt(void **state)
{
	const struct rc_simd *k = set_of(state);
	static uint8_t buf[2048];

	for (size_t r = 0; r < 60000; r++) {
		size_t n = 1 + rnd_below(r % 8 ? 300 : 2000);
		size_t hits = 1 + rnd_below(3);

		memcpy(buf, text + text_window(n), n);
		for (size_t h = 0; h < hits; h++) {
			size_t at = rnd_below(n);

			buf[at] = rng_next(&rng) & 1 ? (uint8_t)rng_next(&rng) :
				bad_bytes[rnd_below(sizeof(bad_bytes))];
		}
		check_scan_at(k, buf, n, rnd_below(MAX_MIS), "corrupt");
	}
}

/*
 * Short byte strings to place at block boundaries: the first NBAD_PROBES
 * are invalid UTF-8, the rest valid (setup_memory() checks which is which).
 */
#define NBAD_PROBES 23
static const struct {
	uint8_t len;
	uint8_t b[5];
} probes[] = {
	{ 1, { 0x80 } },			/* stray continuation */
	{ 1, { 0xBF } },
	{ 2, { 0xC0, 0x80 } },			/* overlong 2 */
	{ 2, { 0xC1, 0xBF } },
	{ 3, { 0xE0, 0x80, 0x80 } },		/* overlong 3 */
	{ 3, { 0xE0, 0x9F, 0xBF } },
	{ 3, { 0xED, 0xA0, 0x80 } },		/* surrogates */
	{ 3, { 0xED, 0xBF, 0xBF } },
	{ 4, { 0xF0, 0x80, 0x80, 0x80 } },	/* overlong 4 */
	{ 4, { 0xF0, 0x8F, 0xBF, 0xBF } },
	{ 4, { 0xF4, 0x90, 0x80, 0x80 } },	/* > U+10FFFF */
	{ 4, { 0xF5, 0x80, 0x80, 0x80 } },
	{ 5, { 0xF8, 0x88, 0x80, 0x80, 0x80 } },
	{ 1, { 0xFF } },
	{ 1, { 0xFE } },
	{ 2, { 0xC2, 0x41 } },			/* too short */
	{ 3, { 0xE2, 0x82, 0x41 } },
	{ 4, { 0xF0, 0x9F, 0x98, 0x41 } },
	{ 3, { 0xC2, 0xA9, 0x80 } },		/* too long */
	{ 4, { 0xE2, 0x82, 0xAC, 0x80 } },
	{ 5, { 0xF0, 0x9F, 0x98, 0x80, 0x80 } },
	{ 3, { 0xC2, 0xC2, 0xA9 } },		/* lead after lead */
	{ 3, { 0xE1, 0xE1, 0x80 } },
	/* valid at the edges of the ranges: must not be flagged */
	{ 2, { 0xC2, 0x80 } },
	{ 2, { 0xDF, 0xBF } },
	{ 3, { 0xE0, 0xA0, 0x80 } },
	{ 3, { 0xED, 0x9F, 0xBF } },
	{ 3, { 0xEE, 0x80, 0x80 } },
	{ 3, { 0xEF, 0xBF, 0xBF } },
	{ 4, { 0xF0, 0x90, 0x80, 0x80 } },
	{ 4, { 0xF3, 0xBF, 0xBF, 0xBF } },
	{ 4, { 0xF4, 0x8F, 0xBF, 0xBF } },
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

/*
 * Every length and misalignment, with a probe starting at each position
 * around the 32- and 64-byte block boundaries and at the very end, in ASCII
 * and in mixed text.
 */
static void test_scan_adversarial(void **state)
{
	const struct rc_simd *k = set_of(state);
	static const size_t at[] = { 31, 32, 33, 63, 64, 65, 127, 128, 129 };
	static uint8_t buf[MAX_LEN + 8];
	size_t pr = 0;

	for (size_t n = 0; n <= MAX_LEN; n++) {
		for (size_t mis = 0; mis < MAX_MIS; mis++) {
			size_t base = text_window(n);

			for (size_t a = 0; a < sizeof(at) / sizeof(at[0]) + 3; a++) {
				size_t pos = a < sizeof(at) / sizeof(at[0]) ?
					at[a] : n - (a - sizeof(at) / sizeof(at[0]) + 1);
				size_t len = probes[pr].len;

				if (pos >= n)	/* also catches n - j wrapping */
					continue;
				if (mis & 1)
					memset(buf, 'a', n);
				else
					memcpy(buf, text + base, n);
				memcpy(buf + pos, probes[pr].b,
				       len < n - pos ? len : n - pos);
				check_scan_at(k, buf, n, mis, "adversarial");
				pr = (pr + 1) % NPROBES;
			}
		}
	}
}

/*
 * Every unfinished end: each prefix of each probe as the last bytes, after
 * ASCII or text, at every length up to 3 blocks and every misalignment.
 */
static void test_scan_tails(void **state)
{
	const struct rc_simd *k = set_of(state);
	static uint8_t buf[200];

	for (size_t p = 0; p < NPROBES; p++) {
		for (size_t plen = 1; plen <= probes[p].len; plen++) {
			for (size_t n = plen; n <= 3 * 64 + 3; n++) {
				size_t mis = (n * 5 + p + plen) % MAX_MIS;

				if (n % 3)
					memset(buf, 'a', n);
				else
					memcpy(buf, text + text_window(n), n);
				memcpy(buf + n - plen, probes[p].b, plen);
				check_scan_at(k, buf, n, mis, "tail");
			}
		}
	}
}

/*
 * A sequence that ends, finished or not, on the last byte of a 32-, 64-,
 * 128- or 256-byte block, then whole blocks of ASCII: the kernels skip
 * ASCII blocks with one test and must still see what came before.
 */
static void test_scan_before_ascii(void **state)
{
	const struct rc_simd *k = set_of(state);
	static const size_t ends[] = { 31, 63, 95, 127, 191, 255, 383, 511 };
	static uint8_t buf[1100];

	for (size_t e = 0; e < sizeof(ends) / sizeof(ends[0]); e++) {
		for (size_t p = NBAD_PROBES; p < NPROBES; p++) {
			for (size_t plen = 1; plen <= probes[p].len; plen++) {
				size_t pos = ends[e] + 1 - plen;

				for (size_t after = 1; after <= 520; after += 103) {
					size_t n = ends[e] + 1 + after;

					if (p & 1)
						memset(buf, 'a', n);
					else
						memcpy(buf, text + text_window(n), n);
					memcpy(buf + pos, probes[p].b, plen);
					memset(buf + pos + plen, 'a', after);
					for (size_t mis = 0; mis < MAX_MIS; mis += 9)
						check_scan_at(k, buf, n, mis,
							      "before ascii");
				}
			}
		}
	}
}

/*
 * The exhaustive tests below scan strings embedded in ASCII, in a region of
 * @work kept full of 'a' (only the string's bytes change, and go back), and
 * remember the reference's answers: each kernel set sees the same cases, and
 * this keeps the run short under the sanitizers.
 */
static void fill_ascii(void)
{
	memset(work, 'a', WORK_SIZE);
}

/* Answer of the reference for case @i, computed by the first set to ask. */
static long memo_ref(int8_t *memo, size_t i, const uint8_t *p, size_t n)
{
	if (!memo[i])
		memo[i] = (int8_t)(ref_utf8_scan(p, n) + 2);
	return memo[i] - 2;
}

/* Place @s[0..len) at @pos in ASCII, @after bytes of ASCII behind it. */
static void check_embedded(const struct rc_simd *k, const uint8_t *s,
			   size_t len, size_t pos, size_t after, size_t mis,
			   int8_t *memo, size_t i)
{
	uint8_t *p = work + FENCE + mis;
	size_t n = pos + len + after;
	long want, got;

	memcpy(p + pos, s, len);
	want = memo_ref(memo, i, p, n);
	got = k->utf8_scan(p, n);
	if (got != want) {
		dump(p, n);
		fail_msg("%s: utf8_scan of %zu bytes at %zu (+%zu, mis %zu): got %ld, want %ld",
			 k->name, len, pos, after, mis, got, want);
	}
	memset(p + pos, 'a', len);
}

/* Where to embed: at the start, across 32- and 64-byte boundaries. */
static const size_t embed_pos[] = { 0, 1, 29, 30, 31, 32, 61, 62, 63, 64, 93, 126 };
static const size_t embed_after[] = { 0, 1, 2, 3, 40 };
#define NPOS (sizeof(embed_pos) / sizeof(embed_pos[0]))
#define NAFTER (sizeof(embed_after) / sizeof(embed_after[0]))

/* All 1- and 2-byte strings at every place; all 3-byte strings at some. */
static void test_scan_exhaustive_123(void **state)
{
	static int8_t memo1[256 * NPOS * NAFTER], memo2[(1u << 16) * NPOS];
	static int8_t memo3[1u << 24];
	const struct rc_simd *k = set_of(state);
	uint8_t s[3];

	fill_ascii();
	for (unsigned v = 0; v < 256; v++) {
		s[0] = (uint8_t)v;
		for (size_t i = 0; i < NPOS; i++)
			for (size_t j = 0; j < NAFTER; j++)
				check_embedded(k, s, 1, embed_pos[i],
					       embed_after[j], v % MAX_MIS, memo1,
					       (v * NPOS + i) * NAFTER + j);
	}
	for (unsigned v = 0; v < 1u << 16; v++) {
		s[0] = (uint8_t)(v >> 8);
		s[1] = (uint8_t)v;
		for (size_t i = 0; i < NPOS; i++)
			check_embedded(k, s, 2, embed_pos[i],
				       embed_after[(v + i) % NAFTER],
				       (v * 7 + i) % MAX_MIS, memo2, v * NPOS + i);
	}
	for (unsigned v = 0; v < 1u << 24; v++) {
		s[0] = (uint8_t)(v >> 16);
		s[1] = (uint8_t)(v >> 8);
		s[2] = (uint8_t)v;
		check_embedded(k, s, 3, embed_pos[v % NPOS],
			       embed_after[(v / NPOS) % NAFTER],
			       (v / (NPOS * NAFTER)) % MAX_MIS, memo3, v);
	}
}

/*
 * 4-byte strings: every lead byte from C0 up with every second byte and
 * the edge values of the continuation range for the 3rd and 4th; and
 * F0..F4 with every 2nd and 3rd byte.
 */
static void test_scan_sample_4(void **state)
{
	static const uint8_t edge[] = {
		0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
		0xC2, 0xE0, 0xF0, 0xFF,
	};
	static const uint8_t last[] = { 0x41, 0x80, 0xBF, 0xC0 };
	static int8_t memo[64 * 256 * sizeof(edge) * sizeof(edge) +
			   5 * 65536 * sizeof(last)];
	const struct rc_simd *k = set_of(state);
	uint8_t s[4];
	unsigned v = 0;

	fill_ascii();
	for (unsigned b0 = 0xC0; b0 < 0x100; b0++)
		for (unsigned b1 = 0; b1 < 0x100; b1++)
			for (size_t i = 0; i < sizeof(edge); i++)
				for (size_t j = 0; j < sizeof(edge); j++, v++) {
					s[0] = (uint8_t)b0;
					s[1] = (uint8_t)b1;
					s[2] = edge[i];
					s[3] = edge[j];
					check_embedded(k, s, 4, embed_pos[v % NPOS],
						       embed_after[(v / NPOS) % NAFTER],
						       v % MAX_MIS, memo, v);
				}
	for (unsigned b0 = 0xF0; b0 <= 0xF4; b0++)
		for (unsigned b12 = 0; b12 < 0x10000; b12++)
			for (size_t j = 0; j < sizeof(last); j++, v++) {
				s[0] = (uint8_t)b0;
				s[1] = (uint8_t)(b12 >> 8);
				s[2] = (uint8_t)b12;
				s[3] = last[j];
				check_embedded(k, s, 4, embed_pos[v % NPOS],
					       embed_after[(v / NPOS) % NAFTER],
					       (v / 3) % MAX_MIS, memo, v);
			}
}

/* Known vectors (Markus Kuhn's stress test, RFC 3629 examples). */
static void test_scan_vectors(void **state)
{
	const struct rc_simd *k = set_of(state);
	static const struct {
		const char *s;
		long want;
	} v[] = {
		{ "", 0 },
		{ "\x41\xE2\x89\xA2\xCE\x91\x2E", 0 },
		{ "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4", 0 },
		{ "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 0 },
		{ "\xEF\xBB\xBF\xF0\xA3\x8E\xB4", 0 },
		{ "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", 0 },
		{ "\xF4\x8F\xBF\xBF", 0 },
		{ "\xF4\x90\x80\x80", -1 },
		{ "\xED\xA0\x80\xED\xB0\x80", -1 },
		{ "\xC0\xAF", -1 },
		{ "\xE0\x80\xAF", -1 },
		{ "\xF0\x80\x80\xAF", -1 },
		{ "\xF8\x80\x80\x80\xAF", -1 },
		{ "\xFC\x80\x80\x80\x80\xAF", -1 },
		{ "\xCE\xBA\xE1\xBD", 2 },
		{ "\xCE\xBA\xE1", 1 },
		{ "\xF0\x9F\x98", 3 },
		{ "\xF0\x9F\x98\x80\xF0", 1 },
		{ "\xEF\xBF\xBE", 0 },	/* noncharacters are valid */
		{ "\xC2\x80\x80", -1 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (size_t mis = 0; mis < MAX_MIS; mis++) {
			size_t n = strlen(v[i].s);
			long got = k->utf8_scan(place_work((const uint8_t *)v[i].s,
							   n, mis), n);

			if (got != v[i].want)
				fail_msg("%s: vector %zu mis %zu: got %ld, want %ld",
					 k->name, i, mis, got, v[i].want);
		}
}

/* ---- fused ------------------------------------------------------------ */

/*
 * unmask_utf8_scan against the reference unmask, then the reference scan:
 * same bytes and result, every length, misalignment and key offset, on
 * valid text and on text with a probe near a block boundary.
 */
static void test_fused(void **state)
{
	const struct rc_simd *k = set_of(state);
	static uint8_t plain[MAX_LEN + 8], masked[MAX_LEN + 8];
	size_t pr = 0;

	for (size_t n = 0; n <= MAX_LEN; n++) {
		for (size_t off = 0; off < 4; off++) {
			uint32_t key = (uint32_t)rng_next(&rng);
			long want;

			memcpy(plain, text + text_window(n), n);
			if (n && off & 1) {
				size_t pos = (n / 2 + 31 * off) % n;
				size_t len = probes[pr].len;

				memcpy(plain + pos, probes[pr].b,
				       len < n - pos ? len : n - pos);
				pr = (pr + 1) % NPROBES;
			}
			want = ref_utf8_scan(plain, n);
			memcpy(masked, plain, n);
			ref_unmask(masked, n, key, off);
			for (size_t mis = 0; mis < MAX_MIS; mis++) {
				uint8_t *p = place_work(masked, n, mis);
				long got = k->unmask_utf8_scan(p, n, key, off);

				if (got != want || memcmp(p, plain, n))
					fail_msg("%s: unmask_utf8_scan n=%zu mis=%zu off=%zu: got %ld, want %ld%s",
						 k->name, n, mis, off, got, want,
						 memcmp(p, plain, n) ? ", bytes differ" : "");
				check_fences(k, p, n, mis);
			}
			{
				uint8_t *p = place_arena_end(masked, n);

				assert_int_equal(k->unmask_utf8_scan(p, n, key, off), want);
				assert_memory_equal(p, plain, n);
			}
		}
	}
}

/* ---- streaming -------------------------------------------------------- */

/*
 * Feed @src in two chunks split at every point, and byte by byte, through
 * rc_utf8_feed and rc_utf8_feed_unmask with @k selected. A chunk must fail
 * exactly when the bytes so far cannot be valid any more.
 */
static void check_stream(const struct rc_simd *k, const uint8_t *src, size_t n)
{
	static uint8_t buf[1024];
	const struct rc_simd *saved = rc_simd;
	/* what rc_utf8_finish() says, and whether the bytes alone are bad */
	int whole = ref_utf8_scan(src, n) == 0 ? 0 : -EILSEQ;
	int proven_bad = ref_utf8_scan(src, n) < 0 ? -EILSEQ : 0;
	uint32_t key = 0x37FA213Du;

	rc_simd = k;
	for (size_t cut = 0; cut <= n; cut++) {
		int first = ref_utf8_scan(src, cut) < 0 ? -EILSEQ : 0;
		struct rc_utf8 s = { 0 };

		assert_int_equal(rc_utf8_feed(&s, src, cut), first);
		if (!first) {
			assert_int_equal(rc_utf8_feed(&s, src + cut, n - cut),
					 proven_bad);
			if (!proven_bad)
				assert_int_equal(rc_utf8_finish(&s), whole);
		}

		memset(&s, 0, sizeof(s));
		memcpy(buf, src, n);
		ref_unmask(buf, n, key, 0);
		assert_int_equal(rc_utf8_feed_unmask(&s, buf, cut, key, 0), first);
		if (first)
			continue;
		assert_memory_equal(buf, src, cut);
		assert_int_equal(rc_utf8_feed_unmask(&s, buf + cut, n - cut, key, cut),
				 proven_bad);
		if (proven_bad)
			continue;
		assert_memory_equal(buf, src, n);
		assert_int_equal(rc_utf8_finish(&s), whole);
	}
	{
		struct rc_utf8 s = { 0 };
		int ret = 0;
		size_t i;

		for (i = 0; i < n && !ret; i++)
			ret = rc_utf8_feed(&s, src + i, 1);
		if (ret)	/* failed at the first byte that proves it */
			assert_true(ref_utf8_scan(src, i) < 0 &&
				    ref_utf8_scan(src, i - 1) >= 0);
		else
			assert_int_equal(rc_utf8_finish(&s), whole);
	}
	rc_simd = saved;
}

static void test_stream(void **state)
{
	const struct rc_simd *k = set_of(state);
	static uint8_t buf[600];

	for (size_t r = 0; r < 24; r++) {
		size_t n = 100 + rnd_below(400);

		memcpy(buf, text + text_window(n), n);
		if (r % 3 == 1) {		/* an error somewhere */
			size_t pos = rnd_below(n);
			size_t bad = r % NBAD_PROBES;
			size_t len = probes[bad].len;

			memcpy(buf + pos, probes[bad].b,
			       len < n - pos ? len : n - pos);
		} else if (r % 3 == 2) {	/* cut short at the end */
			n -= 1 + rnd_below(3);
		}
		check_stream(k, buf, n);
	}
}

/* ---- selection ------------------------------------------------------- */

/* Nothing to do: no access at all, so even a NULL pointer is fine. */
static void test_empty(void **state)
{
	const struct rc_simd *k = set_of(state);

	k->unmask(NULL, 0, 0x12345678u, 3);
	assert_int_equal(k->utf8_scan(NULL, 0), 0);
	assert_int_equal(k->unmask_utf8_scan(NULL, 0, 0x12345678u, 1), 0);
}

static void test_select(void **state)
{
	const struct rc_simd *k = set_of(state);
	const struct rc_simd *saved = rc_simd;
	const char *old = getenv("RINGCAST_SIMD");

	assert_ptr_equal(rc_simd_get(k->name), k);
	setenv("RINGCAST_SIMD", k->name, 1);
	assert_int_equal(rc_simd_init(), 0);
	assert_ptr_equal(rc_simd, k);
	if (old)
		setenv("RINGCAST_SIMD", old, 1);
	else
		unsetenv("RINGCAST_SIMD");
	rc_simd = saved;
}

/* ---- main ------------------------------------------------------------- */

static int setup_memory(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *m;

	if (posix_memalign((void **)&work, 64, WORK_SIZE))
		return -1;
	m = mmap(NULL, ARENA_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || mprotect(m + ARENA_SIZE, (size_t)page, PROT_NONE))
		return -1;
	arena_end = m + ARENA_SIZE;
	for (size_t i = 0; i < NPROBES; i++)
		if ((ref_utf8_scan(probes[i].b, probes[i].len) < 0) !=
		    (i < NBAD_PROBES))
			return -1;
	gen_text(text, TEXT_SIZE, text_start);
	return ref_utf8_scan(text, TEXT_SIZE) == 0 ? 0 : -1;
}

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} cases[] = {
	{ "select", test_select },
	{ "empty", test_empty },
	{ "unmask", test_unmask },
	{ "unmask_large", test_unmask_large },
	{ "scan_vectors", test_scan_vectors },
	{ "scan_random_valid", test_scan_random_valid },
	{ "scan_random_corrupt", test_scan_random_corrupt },
	{ "scan_adversarial", test_scan_adversarial },
	{ "scan_tails", test_scan_tails },
	{ "scan_before_ascii", test_scan_before_ascii },
	{ "scan_exhaustive_123", test_scan_exhaustive_123 },
	{ "scan_sample_4", test_scan_sample_4 },
	{ "fused", test_fused },
	{ "stream", test_stream },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

int main(void)
{
	static struct CMUnitTest tests[NIMPLS * NCASES];
	static char names[NIMPLS * NCASES][64];
	size_t nt = 0;

	if (setup_memory()) {
		fprintf(stderr, "test_simd: setup failed\n");
		return 1;
	}
	for (size_t s = 0; s < NIMPLS; s++) {
		const struct rc_simd *k = rc_simd_get(impl_names[s]);

		if (!k) {
			printf("SKIP %s: CPU lacks it (or this build has no such kernels)\n",
			       impl_names[s]);
			continue;
		}
		for (size_t c = 0; c < NCASES; c++, nt++) {
			snprintf(names[nt], sizeof(names[nt]), "%s/%s",
				 impl_names[s], cases[c].name);
			tests[nt] = (struct CMUnitTest){
				.name = names[nt],
				.test_func = cases[c].fn,
				.initial_state = (void *)k,
			};
		}
	}
	return _cmocka_run_group_tests("simd", tests, nt, NULL, NULL);
}
