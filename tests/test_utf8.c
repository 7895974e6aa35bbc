/* SPDX-License-Identifier: MIT */
/* test_utf8.c -- unmask and UTF-8 kernels and the streaming validator, checked against tests/ref. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "simd/simd.h"
/* Built into this test directly, so CMake needs no extra source. */
#include "ref/utf8_ref.c"
#include "ref/testutil.h"

/*
 * Inputs are placed right before a PROT_NONE page, as picohttpparser's
 * tests do: the scalar kernels must read nothing past the data, the others
 * at most RC_SIMD_PADDING bytes.
 */
#define ARENA_SIZE (1u << 20)
static uint8_t *arena;		/* ARENA_SIZE bytes, then a PROT_NONE page */
static uint8_t *arena_end;

static int setup_arena(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *m;

	(void)state;
	m = mmap(NULL, ARENA_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	if (mprotect(m + ARENA_SIZE, (size_t)page, PROT_NONE))
		return -1;
	arena = m;
	arena_end = m + ARENA_SIZE;
	return 0;
}

static size_t pad_of(const struct rc_simd *impl)
{
	return impl == &rc_simd_scalar ? 0 : RC_SIMD_PADDING;
}

/*
 * Copy @src to the end of the arena, leaving the padding @impl may read.
 * The padding alternates between continuation bytes (which would "finish"
 * a tail) and 0xFF (which would fail a scan), so a kernel that looks at it
 * shows up either way.
 */
static uint8_t *place(const struct rc_simd *impl, const void *src, size_t n)
{
	static uint8_t fills[2][RC_SIMD_PADDING];
	static unsigned calls;
	size_t pad = pad_of(impl);
	uint8_t *p = arena_end - pad - n;

	if (!fills[0][0]) {
		memset(fills[0], 0x80, RC_SIMD_PADDING);
		memset(fills[1], 0xFF, RC_SIMD_PADDING);
	}
	if (n)
		memmove(p, src, n);
	/* a constant size: an inline copy, not a call, in the hot loops */
	if (pad)
		memcpy(p + n, fills[calls++ & 1], RC_SIMD_PADDING);
	return p;
}

/* xorshift64* state: a fixed seed, so every run tests the same inputs. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t random_cp(void)
{
	static const uint32_t edges[] = { 0x00, 0x7F, 0x80, 0x7FF, 0x800,
					  0xD7FF, 0xE000, 0xFFFD, 0xFFFF,
					  0x10000, 0x10FFFF };
	uint32_t cp;

	switch (rng_next(&rng) % 8) {
	case 0:
		return 0x80 + (uint32_t)(rng_next(&rng) % (0x800 - 0x80));
	case 1:
		cp = 0x800 + (uint32_t)(rng_next(&rng) % (0x10000 - 0x800));
		return cp >= 0xD800 && cp <= 0xDFFF ? cp - 0x800 : cp;
	case 2:
		return 0x10000 +
		       (uint32_t)(rng_next(&rng) % (0x110000 - 0x10000));
	case 3:
		return edges[rng_next(&rng) %
			     (sizeof(edges) / sizeof(edges[0]))];
	default:
		return 0x20 + (uint32_t)(rng_next(&rng) % 0x5F);
	}
}

/* Valid UTF-8 of exactly @n bytes (ASCII fills what a code point can't). */
static void random_text(uint8_t *out, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b[4];
		size_t k = ref_utf8_encode(random_cp(), b);

		if (k > n - i) {
			out[i++] = 'x';
			continue;
		}
		memcpy(out + i, b, k);
		i += k;
	}
}

/* Break @p in a few random ways: bytes, bits, truncation-like holes. */
static void corrupt(uint8_t *p, size_t n)
{
	size_t times = 1 + rng_next(&rng) % 3;

	if (!n)
		return;
	while (times--) {
		size_t i = rng_next(&rng) % n;

		switch (rng_next(&rng) % 4) {
		case 0:
			p[i] = (uint8_t)rng_next(&rng);
			break;
		case 1:
			p[i] ^= (uint8_t)(1u << (rng_next(&rng) % 8));
			break;
		case 2:
			p[i] = (uint8_t)(0x80 + rng_next(&rng) % 0x40);
			break;
		default:
			p[i] = (uint8_t)(0xC0 + rng_next(&rng) % 0x40);
			break;
		}
	}
}

/*
 * Feed @p[0..n) in chunks ending at @cuts[0..ncuts) (ascending, the last
 * one n), then finish; with @key the chunks go through
 * rc_utf8_feed_unmask on a masked copy, which must come back unmasked.
 * Returns the chunk whose feed failed, ncuts if only finish failed, or -1.
 */
static long feed_chunks(const struct rc_simd *impl, const uint8_t *p,
			size_t n, const size_t *cuts, size_t ncuts,
			const uint32_t *key)
{
	struct rc_utf8 s = { { 0 }, 0 };
	uint8_t *q = place(impl, p, n);
	size_t start = 0;

	rc_simd = impl;
	if (key)
		ref_unmask(q, n, *key, 0);
	for (size_t c = 0; c < ncuts; c++) {
		int r;

		if (key)
			r = rc_utf8_feed_unmask(&s, q + start, cuts[c] - start,
						*key, start);
		else
			r = rc_utf8_feed(&s, q + start, cuts[c] - start);
		if (r) {
			assert_int_equal(r, -EILSEQ);
			return (long)c;
		}
		start = cuts[c];
	}
	if (key && n)
		expect_bytes(q, p, n);
	if (rc_utf8_finish(&s)) {
		assert_int_equal(s.npend, 0);
		return (long)ncuts;
	}
	return -1;
}

/*
 * What feed_chunks must return: a chunk fails exactly when the bytes up
 * to its end cannot start valid UTF-8 any more (fail fast, not later, and
 * not earlier).
 */
static long expected_chunk(const uint8_t *p, size_t n, const size_t *cuts,
			   size_t ncuts)
{
	for (size_t c = 0; c < ncuts; c++)
		if (ref_utf8_scan(p, cuts[c]) < 0)
			return (long)c;
	return ref_utf8_scan(p, n) == 0 ? -1 : (long)ncuts;
}

static void check_chunks(const struct rc_simd *impl, const uint8_t *p,
			 size_t n, const size_t *cuts, size_t ncuts)
{
	uint32_t key = (uint32_t)rng_next(&rng);
	long want = expected_chunk(p, n, cuts, ncuts);

	assert_int_equal(feed_chunks(impl, p, n, cuts, ncuts, NULL), want);
	assert_int_equal(feed_chunks(impl, p, n, cuts, ncuts, &key), want);
}

/* Whole, every split into two, and byte by byte. */
static void check_stream(const struct rc_simd *impl, const uint8_t *p,
			 size_t n)
{
	size_t cuts[2];
	size_t *bytes = malloc((n + 1) * sizeof(*bytes));

	assert_non_null(bytes);
	cuts[0] = n;
	check_chunks(impl, p, n, cuts, 1);
	for (size_t i = 0; i <= n; i++) {
		cuts[0] = i;
		cuts[1] = n;
		check_chunks(impl, p, n, cuts, 2);
	}
	for (size_t i = 0; i < n; i++)
		bytes[i] = i + 1;
	check_chunks(impl, p, n, bytes, n);
	free(bytes);
}

/* Every check on one input whose verdict is known. */
static void check_input(const uint8_t *p, size_t n, bool valid)
{
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);

	assert_int_equal(ref_utf8_scan(p, n) == 0, valid);
	for (size_t i = 0; i < nimpl; i++) {
		uint8_t *q = place(impls[i], p, n);

		assert_int_equal(impls[i]->utf8_scan(q, n),
				 ref_utf8_scan(p, n));
		rc_simd = impls[i];
		assert_int_equal(rc_utf8_valid(q, n), valid);
		check_stream(impls[i], p, n);
	}
	rc_simd = &rc_simd_scalar;
}

struct vec {
	const char *s;
	size_t n;
	bool valid;
};

#define VEC(str, ok) { str, sizeof(str) - 1, ok }

static const struct vec vectors[] = {
	/* ASCII, including 8- and 64-byte blocks and NUL */
	VEC("", true),
	VEC("a", true),
	VEC("\x00", true),
	VEC("Hello, world! 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ", true),
	/* 2-, 3-, 4-byte, and the edges of each range */
	VEC("\xc2\x80", true),			/* U+0080 */
	VEC("\xdf\xbf", true),			/* U+07FF */
	VEC("\xe0\xa0\x80", true),		/* U+0800 */
	VEC("\xe2\x82\xac", true),		/* U+20AC */
	VEC("\xed\x9f\xbf", true),		/* U+D7FF */
	VEC("\xee\x80\x80", true),		/* U+E000 */
	VEC("\xef\xbf\xbd", true),		/* U+FFFD */
	VEC("\xef\xbf\xbf", true),		/* U+FFFF */
	VEC("\xf0\x90\x80\x80", true),		/* U+10000 */
	VEC("\xf0\x9f\x98\x80", true),		/* U+1F600 */
	VEC("\xf4\x8f\xbf\xbf", true),		/* U+10FFFF */
	VEC("abcdefg\xe2\x82\xac" "abcdefgh\xf0\x9f\x98\x80" "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-\xc3\xa9", true),
	/* Autobahn 6.2, 6.5, 6.7, 6.9, 6.11, 6.22 (noncharacters are valid) */
	VEC("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", true),
	VEC("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true),
	VEC("\x7f", true),
	VEC("\xef\xbf\xbe", true),
	VEC("\xf0\x9f\xbf\xbe", true),
	VEC("\xf0\x9f\xbf\xbf", true),
	VEC("\xf4\x8f\xbf\xbe", true),
	VEC("\xef\xb7\x90", true),		/* U+FDD0 */
	/* Autobahn 6.3, 6.4: kosme with a surrogate / > U+10FFFF inside */
	VEC("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", false),
	VEC("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64", false),
	/* 6.8, 6.10, 6.11.5: 5-/6-byte forms, above U+10FFFF */
	VEC("\xf8\x88\x80\x80\x80", false),
	VEC("\xfc\x84\x80\x80\x80\x80", false),
	VEC("\xf7\xbf\xbf\xbf", false),
	VEC("\xfb\xbf\xbf\xbf\xbf", false),
	VEC("\xfd\xbf\xbf\xbf\xbf\xbf", false),
	VEC("\xf4\x90\x80\x80", false),
	VEC("\xf5\x80\x80\x80", false),
	/* 6.12: unexpected continuation bytes */
	VEC("\x80", false),
	VEC("\xbf", false),
	VEC("\x80\xbf", false),
	VEC("\x80\xbf\x80", false),
	VEC("\x80\xbf\x80\xbf", false),
	VEC("\x80\xbf\x80\xbf\x80", false),
	VEC("\x80\xbf\x80\xbf\x80\xbf", false),
	VEC("\x80\xbf\x80\xbf\x80\xbf\x80", false),
	/* 6.14, 6.15: last continuation byte missing, alone and together */
	VEC("\xc0", false),
	VEC("\xe0\x80", false),
	VEC("\xf0\x80\x80", false),
	VEC("\xf8\x80\x80\x80", false),
	VEC("\xfc\x80\x80\x80\x80", false),
	VEC("\xdf", false),
	VEC("\xef\xbf", false),
	VEC("\xf7\xbf\xbf", false),
	VEC("\xfb\xbf\xbf\xbf", false),
	VEC("\xfd\xbf\xbf\xbf\xbf", false),
	VEC("\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf", false),
	/* truncated at the end, but a valid prefix: only finish fails */
	VEC("\xc3", false),
	VEC("a\xe2\x82", false),
	VEC("\xf0\x9f\x98", false),
	VEC("\xf4\x8f\xbf", false),
	/* incomplete, then more bytes */
	VEC("\xc3" "a", false),
	VEC("\xe2\x82" "a", false),
	VEC("\xf0\x9f\x98" "a", false),
	VEC("\xe2\x82\xe2\x82\xac", false),
	/* 6.16: impossible bytes */
	VEC("\xfe", false),
	VEC("\xff", false),
	VEC("\xfe\xfe\xff\xff", false),
	/* 6.17, 6.18, 6.19: overlongs */
	VEC("\xc0\xaf", false),
	VEC("\xe0\x80\xaf", false),
	VEC("\xf0\x80\x80\xaf", false),
	VEC("\xf8\x80\x80\x80\xaf", false),
	VEC("\xfc\x80\x80\x80\x80\xaf", false),
	VEC("\xc1\xbf", false),
	VEC("\xe0\x9f\xbf", false),
	VEC("\xf0\x8f\xbf\xbf", false),
	VEC("\xf8\x87\xbf\xbf\xbf", false),
	VEC("\xfc\x83\xbf\xbf\xbf\xbf", false),
	VEC("\xc0\x80", false),
	VEC("\xe0\x80\x80", false),
	VEC("\xf0\x80\x80\x80", false),
	VEC("\xf8\x80\x80\x80\x80", false),
	VEC("\xfc\x80\x80\x80\x80\x80", false),
	/* 6.20, 6.21: single and paired surrogates */
	VEC("\xed\xa0\x80", false),
	VEC("\xed\xad\xbf", false),
	VEC("\xed\xae\x80", false),
	VEC("\xed\xaf\xbf", false),
	VEC("\xed\xb0\x80", false),
	VEC("\xed\xbe\x80", false),
	VEC("\xed\xbf\xbf", false),
	VEC("\xed\xa0\x80\xed\xb0\x80", false),
	VEC("\xed\xa0\x80\xed\xbf\xbf", false),
	VEC("\xed\xad\xbf\xed\xb0\x80", false),
	VEC("\xed\xad\xbf\xed\xbf\xbf", false),
	VEC("\xed\xae\x80\xed\xb0\x80", false),
	VEC("\xed\xae\x80\xed\xbf\xbf", false),
	VEC("\xed\xaf\xbf\xed\xb0\x80", false),
	VEC("\xed\xaf\xbf\xed\xbf\xbf", false),
	/* an error after a long ASCII run, past the 8-byte fast path */
	VEC("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-abcdefg\xc0\x80", false),
	VEC("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-abcdefg\xed\xa0\x80xyz", false),
};

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		check_input((const uint8_t *)vectors[i].s, vectors[i].n,
			    vectors[i].valid);
}

/* Autobahn 6.12.8 and 6.13: every continuation byte alone, every lead
   byte followed by a space. */
static void test_autobahn_generated(void **state)
{
	uint8_t buf[2 * 64];
	size_t n = 0;

	(void)state;
	for (unsigned b = 0x80; b <= 0xBF; b++) {
		buf[n++] = (uint8_t)b;
		check_input(buf + n - 1, 1, false);
	}
	check_input(buf, n, false);
	for (unsigned b = 0xC0; b <= 0xFD; b++) {
		uint8_t two[2] = { (uint8_t)b, ' ' };

		check_input(two, 2, false);
	}
}

struct tail_case {
	const char *s;
	size_t n;
	long tail;
};

#define TAIL(str, t) { str, sizeof(str) - 1, t }

/* The exact return values of utf8_scan at the end of a chunk. */
static void test_scan_tails(void **state)
{
	static const struct tail_case cases[] = {
		TAIL("", 0), TAIL("abc", 0), TAIL("\xc3", 1), TAIL("a\xc3", 1),
		TAIL("\xe2", 1), TAIL("\xe2\x82", 2), TAIL("a\xe2\x82", 2),
		TAIL("\xf0", 1), TAIL("\xf0\x9f", 2), TAIL("\xf0\x9f\x98", 3),
		TAIL("\xf4\x8f", 2), TAIL("\xf4\x8f\xbf", 3),
		TAIL("\xed\x9f", 2), TAIL("\xf0\x90", 2), TAIL("\xe0\xa0", 2),
		TAIL("abcdefgh\xf0\x9f\x98", 3),
		/* already invalid although unfinished */
		TAIL("\xe0\x80", -1), TAIL("\xe0\x9f", -1), TAIL("\xf4\x90", -1),
		TAIL("\xed\xa0", -1), TAIL("\xf0\x8f", -1), TAIL("\xf5", -1),
		TAIL("\xc0", -1), TAIL("\xc1", -1), TAIL("\xff", -1),
		TAIL("\x80", -1), TAIL("\xe2\x82" "a", -1),
		TAIL("abcdefgh\xf4\x90", -1),
	};
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const uint8_t *p = (const uint8_t *)cases[c].s;

		assert_int_equal(ref_utf8_scan(p, cases[c].n), cases[c].tail);
		for (size_t i = 0; i < nimpl; i++)
			assert_int_equal(impls[i]->utf8_scan(place(impls[i], p, cases[c].n),
							     cases[c].n),
					 cases[c].tail);
	}
}

/*
 * @seq[0..k) placed after an ASCII run whose length varies with the
 * sequence (so every offset within the 8-byte words is hit), once at the
 * end of the input and once followed by ASCII; the scan must equal the
 * reference, tail values included.
 */
static void check_sequence(const struct rc_simd *impl, const uint8_t *seq,
			   size_t k, size_t lead)
{
	uint8_t buf[48];
	uint8_t *q;
	long want, got;

	memset(buf, 'a', sizeof(buf));
	memcpy(buf + lead, seq, k);
	want = ref_utf8_scan(buf, lead + k);
	q = place(impl, buf, lead + k);
	got = impl->utf8_scan(q, lead + k);
	if (got != want)
		fail_msg("%s: %02x %02x %02x %02x (%zu bytes) at %zu: %ld, ref %ld",
			 impl->name, seq[0], k > 1 ? seq[1] : 0,
			 k > 2 ? seq[2] : 0, k > 3 ? seq[3] : 0, k, lead, got,
			 want);
	want = ref_utf8_scan(buf, lead + k + 9);
	q = place(impl, buf, lead + k + 9);
	got = impl->utf8_scan(q, lead + k + 9);
	if (got != want)
		fail_msg("%s: %02x %02x %02x %02x (%zu bytes) at %zu, then ASCII: %ld, ref %ld",
			 impl->name, seq[0], k > 1 ? seq[1] : 0,
			 k > 2 ? seq[2] : 0, k > 3 ? seq[3] : 0, k, lead, got,
			 want);
}

static void test_exhaustive_1_2_3(void **state)
{
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);
	size_t nvalid = 0;

	(void)state;
	for (size_t i = 0; i < nimpl; i++) {
		for (unsigned v = 0; v < 1u << 24; v++) {
			uint8_t s[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8),
					 (uint8_t)v };
			size_t lead = (v ^ v >> 7 ^ v >> 13) % 20;

			if (v < 1u << 8)
				check_sequence(impls[i], s + 2, 1, lead);
			if (v < 1u << 16)
				check_sequence(impls[i], s + 1, 2, lead);
			check_sequence(impls[i], s, 3, lead);
			if (i == 0)
				nvalid += ref_utf8_scan(s, 3) == 0;
		}
	}
	/*
	 * The reference against a count worked out by hand: 3 ASCII
	 * (128^3), ASCII + 2-byte both ways (2 * 128 * 1920), and 3-byte
	 * (61440 scalar values in U+0800..U+FFFF less the surrogates).
	 */
	assert_int_equal(nvalid, 128u * 128 * 128 + 2 * 128 * 1920 + 61440);
}

static void test_sample_4(void **state)
{
	static const uint8_t tail[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
					0x9F, 0xA0, 0xBF, 0xC0, 0xE0, 0xF0,
					0xFF };
	const size_t nt = sizeof(tail);
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);

	(void)state;
	for (size_t i = 0; i < nimpl; i++)
		for (unsigned v = 0; v < 1u << 16; v++)
			for (size_t a = 0; a < nt; a++)
				for (size_t b = 0; b < nt; b++) {
					uint8_t s[4] = { (uint8_t)(v >> 8),
							 (uint8_t)v, tail[a],
							 tail[b] };

					check_sequence(impls[i], s, 4,
						       (v + a * 3 + b) % 20);
				}
}

/*
 * The chunk that fails must be the first one that proves the input
 * invalid: "\xF4" + "\x90..." fails in the second feed, not at finish.
 */
static void test_fail_fast(void **state)
{
	static const struct {
		const char *a, *b;
	} cases[] = {
		{ "\xf4", "\x90\x80\x80" }, { "\xf4", "\x90" },
		{ "\xe0", "\x80\x80" }, { "\xed", "\xa0\x80" },
		{ "\xf0", "\x8f\xbf\xbf" }, { "\xc2", "A" }, { "\xe2\x82", "A" },
		{ "\xf0\x9f", "\x98" "A" }, { "ab\xf0\x9f\x98", "Abcdefgh" },
		{ "\xf0\x9f\x98", "\x80\xff" }, { "ok", "\xc0\x80" },
	};
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);

	(void)state;
	for (size_t i = 0; i < nimpl; i++) {
		rc_simd = impls[i];
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			size_t na = strlen(cases[c].a), nb = strlen(cases[c].b);
			struct rc_utf8 s = { { 0 }, 0 };
			uint8_t buf[32];
			uint8_t *q;

			memcpy(buf, cases[c].a, na);
			memcpy(buf + na, cases[c].b, nb);
			q = place(impls[i], buf, na + nb);
			assert_int_equal(rc_utf8_feed(&s, q, na), 0);
			assert_int_equal(rc_utf8_feed(&s, q + na, nb), -EILSEQ);

			/* the same through the unmasking feed */
			memset(&s, 0, sizeof(s));
			q = place(impls[i], buf, na + nb);
			ref_unmask(q, na + nb, 0xA1B2C3D4u, 3);
			assert_int_equal(rc_utf8_feed_unmask(&s, q, na,
							     0xA1B2C3D4u, 3), 0);
			assert_int_equal(rc_utf8_feed_unmask(&s, q + na, nb,
							     0xA1B2C3D4u,
							     3 + na),
					 -EILSEQ);
		}
	}
	rc_simd = &rc_simd_scalar;
}

/* A stream ending mid-sequence fails at finish, and finish resets. */
static void test_finish(void **state)
{
	struct rc_utf8 s = { { 0 }, 0 };

	(void)state;
	assert_int_equal(rc_utf8_feed(&s, (const uint8_t *)"a\xe2\x82", 3), 0);
	assert_int_equal(s.npend, 2);
	assert_int_equal(rc_utf8_finish(&s), -EILSEQ);
	assert_int_equal(s.npend, 0);
	assert_int_equal(rc_utf8_finish(&s), 0);
	/* a fresh message after the reset: the old "\xe2\x82" is gone */
	assert_int_equal(rc_utf8_feed(&s, (const uint8_t *)"\xac", 1),
			 -EILSEQ);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rc_utf8_feed(&s, (const uint8_t *)"\xf0", 1), 0);
	assert_int_equal(rc_utf8_feed(&s, (const uint8_t *)"\x9f", 1), 0);
	assert_int_equal(rc_utf8_feed(&s, (const uint8_t *)"", 0), 0);
	assert_int_equal(rc_utf8_feed(&s, (const uint8_t *)"\x98", 1), 0);
	assert_int_equal(s.npend, 3);
	assert_int_equal(rc_utf8_feed(&s, (const uint8_t *)"\x80", 1), 0);
	assert_int_equal(s.npend, 0);
	assert_int_equal(rc_utf8_finish(&s), 0);
}

/* Random text, half of it corrupted: scans and streams vs the reference. */
static void test_random(void **state)
{
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);
	uint8_t buf[4096];
	size_t nbad = 0;

	(void)state;
	for (unsigned iter = 0; iter < 20000; iter++) {
		size_t n = iter < 19000 ? rng_next(&rng) % 200 :
					  rng_next(&rng) % sizeof(buf);
		size_t cuts[6], ncuts = 1 + rng_next(&rng) % 5;

		random_text(buf, n);
		if (rng_next(&rng) & 1)
			corrupt(buf, n);
		nbad += ref_utf8_scan(buf, n) != 0;
		for (size_t c = 0; c + 1 < ncuts; c++)
			cuts[c] = n ? rng_next(&rng) % (n + 1) : 0;
		cuts[ncuts - 1] = n;
		/* insertion sort: cuts must ascend */
		for (size_t c = 1; c < ncuts; c++)
			for (size_t d = c; d && cuts[d - 1] > cuts[d]; d--) {
				size_t t = cuts[d];

				cuts[d] = cuts[d - 1];
				cuts[d - 1] = t;
			}
		for (size_t i = 0; i < nimpl; i++) {
			size_t off = n ? rng_next(&rng) % n : 0;
			long want = ref_utf8_scan(buf + off, n - off);

			assert_int_equal(impls[i]->utf8_scan(place(impls[i], buf + off, n - off),
							     n - off),
					 want);
			check_chunks(impls[i], buf, n, cuts, ncuts);
		}
	}
	/* the corruption must actually produce invalid inputs, and not only */
	assert_true(nbad > 2000 && nbad < 18000);
	rc_simd = &rc_simd_scalar;
}

/* Every length 0..300, key offset 0..3 and misalignment 0..15. */
static void test_unmask(void **state)
{
	static const uint32_t keys[] = { 0x00000000u, 0xFFFFFFFFu,
					 0x12345678u, 0x80C0E0F1u };
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);
	uint8_t src[300 + 64], want[300 + 64];

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)rng_next(&rng);
	for (size_t i = 0; i < nimpl; i++)
		for (size_t n = 0; n <= 300; n++)
			for (size_t off = 0; off < 4; off++)
				for (size_t mis = 0; mis < 16; mis++) {
					uint32_t key = keys[(n + mis) % 4];
					uint8_t *p = arena + 64 + mis;

					/* 32 canary bytes either side */
					memcpy(p - 32, src, n + 64);
					memcpy(want, src, n + 64);
					ref_unmask(want + 32, n, key, off);
					impls[i]->unmask(p + 0, n, key, off);
					expect_bytes(p - 32, want, n + 64);

					/* again right at the guard page */
					p = place(impls[i], src + 32, n);
					impls[i]->unmask(p, n, key, off);
					expect_bytes(p, want + 32, n);
				}
}

/* The fused kernel: unmask all, then the same verdict as the reference. */
static void test_unmask_utf8_scan(void **state)
{
	const struct rc_simd *impls[NIMPLS];
	size_t nimpl = get_impls(impls);
	uint8_t text[300];

	(void)state;
	for (size_t i = 0; i < nimpl; i++)
		for (size_t n = 0; n <= 300; n++)
			for (size_t off = 0; off < 4; off++)
				for (size_t mis = 0; mis < 16; mis++) {
					uint32_t key = (uint32_t)rng_next(&rng);
					uint8_t *p = arena + 64 + mis;
					long want, got;

					random_text(text, n);
					if (rng_next(&rng) % 4 == 0)
						corrupt(text, n);
					want = ref_utf8_scan(text, n);
					memcpy(p, text, n);
					ref_unmask(p, n, key, off);
					got = impls[i]->unmask_utf8_scan(p, n, key, off);
					assert_int_equal(got, want);
					/* an invalid input may be left part
					   masked: the connection fails anyway */
					if (got >= 0 && n)
						expect_bytes(p, text, n);
				}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_autobahn_generated),
		cmocka_unit_test(test_scan_tails),
		cmocka_unit_test(test_exhaustive_1_2_3),
		cmocka_unit_test(test_sample_4),
		cmocka_unit_test(test_fail_fast),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_unmask),
		cmocka_unit_test(test_unmask_utf8_scan),
	};

	return cmocka_run_group_tests(tests, setup_arena, NULL);
}
