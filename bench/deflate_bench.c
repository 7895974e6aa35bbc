/* SPDX-License-Identifier: MIT */
/*
 * deflate_bench.c -- the permessage-deflate codecs side by side, as shared
 * mode uses them: every message a stream of its own (no context). The
 * choice in src/deflate/ (libdeflate for shared mode) rests on these
 * figures.
 *
 * Usage: deflate_bench [--quick]
 *
 * One line per result, for scripts/:
 *   bench=deflate codec=libdeflate level=6 input=chat300 bytes=300
 *     out_bytes=N ratio=R ns_per_msg=X mib_per_s=Y
 *   bench=inflate codec=zlib input=chat300 ... ns_per_msg=X mib_per_s=Y
 * Inputs: chat300 (about 300 B of chat JSON, the hub's common message),
 * chat16k (16 KiB of the same), and rand1k (1 KiB of random bytes, which
 * do not compress). zlib compresses as RFC 7692 senders do: deflateReset,
 * deflate with Z_SYNC_FLUSH; libdeflate as src/deflate/ does, one call.
 * Inflating: zlib inflateReset + inflate; libdeflate one call (on the
 * libdeflate output). ns_per_msg is the best of 5 timed rounds.
 */
#include <libdeflate.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const words[] = {
	"the", "room", "is", "ready", "hello", "meeting", "at", "noon",
	"thanks", "see", "you", "there", "ok", "great", "deploy", "done",
	"lunch", "anyone", "build", "green", "review", "please", "link",
};

/* Chat JSON messages of about @n bytes each, back to back. */
static size_t chat(char *out, size_t n)
{
	size_t len = (size_t)snprintf(out, n,
		"{\"type\":\"message\",\"room\":\"lobby\",\"from\":\"user-%u\","
		"\"ts\":17334%08u,\"id\":\"m%06u\",\"text\":\"",
		(unsigned)(next() % 10000), (unsigned)(next() % 100000000),
		(unsigned)(next() % 1000000));

	while (len + 16 < n) {
		const char *w = words[next() % (sizeof(words) / sizeof(*words))];

		len += (size_t)snprintf(out + len, n - len, "%s ", w);
	}
	len += (size_t)snprintf(out + len, n - len, "\"}");
	return len;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

struct input {
	const char *name;
	uint8_t *p;
	size_t n;
};

static size_t z_deflate(z_stream *s, const struct input *in, uint8_t *out,
			size_t cap)
{
	deflateReset(s);
	s->next_in = in->p;
	s->avail_in = (uInt)in->n;
	s->next_out = out;
	s->avail_out = (uInt)cap;
	deflate(s, Z_SYNC_FLUSH);
	return cap - s->avail_out - 4;
}

static size_t z_inflate(z_stream *s, const uint8_t *in, size_t n,
			uint8_t *out, size_t cap)
{
	static const uint8_t tail[] = { 0, 0, 0xff, 0xff };

	inflateReset(s);
	s->next_in = (Bytef *)(uintptr_t)in;
	s->avail_in = (uInt)n;
	s->next_out = out;
	s->avail_out = (uInt)cap;
	inflate(s, Z_SYNC_FLUSH);
	s->next_in = (Bytef *)(uintptr_t)tail;
	s->avail_in = 4;
	inflate(s, Z_SYNC_FLUSH);
	return cap - s->avail_out;
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	double budget_ns = quick ? 2e7 : 2e8;
	static uint8_t out[1 << 16], back[1 << 16];
	struct input in[3] = { { "chat300", NULL, 0 },
			       { "chat16k", NULL, 0 },
			       { "rand1k", NULL, 0 } };
	struct libdeflate_decompressor *ld = libdeflate_alloc_decompressor();
	static const int ld_levels[] = { 1, 4, 6, 9 }, z_levels[] = { 1, 6 };

	in[0].p = malloc(400);
	in[0].n = chat((char *)in[0].p, 300);
	in[1].p = malloc(16384);
	in[1].n = chat((char *)in[1].p, 16384);
	in[2].p = malloc(1024);
	in[2].n = 1024;
	for (size_t i = 0; i < 1024; i++)
		in[2].p[i] = (uint8_t)next();

	for (int ii = 0; ii < 3; ii++) {
		const struct input *x = &in[ii];

		for (int codec = 0; codec < 2; codec++) {
			int nl = codec ? 2 : 4;

			for (int li = 0; li < nl; li++) {
				int level = codec ? z_levels[li] : ld_levels[li];
				struct libdeflate_compressor *lc = NULL;
				z_stream zd = { 0 }, zi = { 0 };
				double best_d = 1e30, best_i = 1e30;
				size_t zl = 0, iters;

				if (codec) {
					deflateInit2(&zd, level, Z_DEFLATED,
						     -15, 8, Z_DEFAULT_STRATEGY);
					inflateInit2(&zi, -15);
				} else {
					lc = libdeflate_alloc_compressor(level);
				}
				iters = (size_t)(budget_ns / 5 /
						 (x->n * 10.0 + 500));
				if (!iters)
					iters = 1;
				for (int round = 0; round < 5; round++) {
					double t0 = now_ns(), t1;

					for (size_t k = 0; k < iters; k++)
						zl = codec ? z_deflate(&zd, x, out,
								       sizeof(out)) :
							     libdeflate_deflate_compress(
								     lc, x->p, x->n,
								     out, sizeof(out));
					t1 = now_ns();
					if ((t1 - t0) / iters < best_d)
						best_d = (t1 - t0) / iters;
					t0 = now_ns();
					for (size_t k = 0; k < iters; k++) {
						size_t got;

						if (codec)
							got = z_inflate(&zi, out, zl,
									back,
									sizeof(back));
						else
							libdeflate_deflate_decompress(
								ld, out, zl, back,
								sizeof(back), &got);
						if (got != x->n)
							return fprintf(stderr,
								"deflate_bench: round trip failed\n"), 1;
					}
					t1 = now_ns();
					if ((t1 - t0) / iters < best_i)
						best_i = (t1 - t0) / iters;
				}
				printf("bench=deflate codec=%s level=%d input=%s "
				       "bytes=%zu out_bytes=%zu ratio=%.3f "
				       "ns_per_msg=%.0f mib_per_s=%.1f\n",
				       codec ? "zlib" : "libdeflate", level,
				       x->name, x->n, zl, (double)zl / x->n,
				       best_d, x->n / best_d * 1e9 / 1048576);
				printf("bench=inflate codec=%s level=%d input=%s "
				       "bytes=%zu ns_per_msg=%.0f mib_per_s=%.1f\n",
				       codec ? "zlib" : "libdeflate", level,
				       x->name, x->n, best_i,
				       x->n / best_i * 1e9 / 1048576);
				if (codec) {
					deflateEnd(&zd);
					inflateEnd(&zi);
				} else {
					libdeflate_free_compressor(lc);
				}
			}
		}
	}
	libdeflate_free_decompressor(ld);
	return 0;
}
