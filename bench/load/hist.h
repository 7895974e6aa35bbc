/* SPDX-License-Identifier: MIT */
/* hist.h -- log-linear latency histogram (HDR style), nanoseconds to an hour. */
#ifndef RL_HIST_H
#define RL_HIST_H

#include <stdint.h>

/*
 * Each power of two [2^k, 2^(k+1)) is split into 64 equal sub-buckets, so
 * a recorded value is known to within 1/64 (1.6 %) of itself; values below
 * 128 are exact. Everything from 2^42 ns (73 minutes) up shares the last
 * bucket; max keeps the exact largest value.
 */
#define RL_HIST_SUB_BITS	6
#define RL_HIST_SUB		(1u << RL_HIST_SUB_BITS)
#define RL_HIST_TOP_BITS	42
#define RL_HIST_BUCKETS		(RL_HIST_SUB * (RL_HIST_TOP_BITS - RL_HIST_SUB_BITS + 1))

/* Plain data: copied whole over a pipe between processes. */
struct rl_hist {
	uint64_t count;
	uint64_t sum;		/* of recorded values, for the mean */
	uint64_t min;		/* UINT64_MAX while empty */
	uint64_t max;
	uint64_t n[RL_HIST_BUCKETS];
};

void rl_hist_init(struct rl_hist *h);

/* Add every sample of @src to @dst. */
void rl_hist_merge(struct rl_hist *dst, const struct rl_hist *src);

/*
 * The value below which @pct percent (0..100) of the samples lie: the
 * highest value of the bucket holding the sample of rank
 * ceil(pct/100 * count), clamped to [min, max]. 0 when empty.
 */
uint64_t rl_hist_percentile(const struct rl_hist *h, double pct);

/* Mean of the samples, 0 when empty. */
double rl_hist_mean(const struct rl_hist *h);

/* The range [lowest, lowest + width) that bucket @idx covers. */
uint64_t rl_hist_lowest(unsigned idx);
uint64_t rl_hist_width(unsigned idx);

/* inline defs */

/*
 * Bucket of @v. Group g = 0 holds 0..63 one by one; group g >= 1 holds
 * [64 << (g - 1), 128 << (g - 1)) in 64 steps of 1 << (g - 1). With that
 * numbering the index of every value below 128 is the value itself.
 */
static inline unsigned rl_hist_index(uint64_t v)
{
	unsigned k, g;

	if (v < RL_HIST_SUB)
		return (unsigned)v;
	k = 63 - (unsigned)__builtin_clzll(v);
	if (k >= RL_HIST_TOP_BITS)
		return RL_HIST_BUCKETS - 1;
	g = k - RL_HIST_SUB_BITS + 1;
	return g * RL_HIST_SUB +
	       (unsigned)((v >> (k - RL_HIST_SUB_BITS)) & (RL_HIST_SUB - 1));
}

/* Record one sample: inline, since it runs once per message. */
static inline void rl_hist_record(struct rl_hist *h, uint64_t v)
{
	h->n[rl_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

#endif /* RL_HIST_H */
