/* SPDX-License-Identifier: MIT */
/* hist.c -- log-linear latency histogram: record, merge, percentiles. */
#include <string.h>

#include "hist.h"

void rl_hist_init(struct rl_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t rl_hist_lowest(unsigned idx)
{
	unsigned g = idx / RL_HIST_SUB, sub = idx % RL_HIST_SUB;

	if (!g)
		return sub;
	return (uint64_t)(RL_HIST_SUB + sub) << (g - 1);
}

uint64_t rl_hist_width(unsigned idx)
{
	unsigned g = idx / RL_HIST_SUB;

	return g ? 1ull << (g - 1) : 1;
}

void rl_hist_merge(struct rl_hist *dst, const struct rl_hist *src)
{
	for (unsigned i = 0; i < RL_HIST_BUCKETS; i++)
		dst->n[i] += src->n[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t rl_hist_percentile(const struct rl_hist *h, double pct)
{
	double want = pct / 100.0 * (double)h->count;
	uint64_t rank, seen = 0, v;
	unsigned i;

	if (!h->count)
		return 0;
	if (pct >= 100.0)
		return h->max;
	/* ceil(), without libm; the first sample for pct <= 0 */
	rank = want > 1.0 ? (uint64_t)want : 1;
	if ((double)rank < want)
		rank++;
	for (i = 0; i < RL_HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen >= rank)
			break;
	}
	if (i == RL_HIST_BUCKETS)
		return h->max;
	v = rl_hist_lowest(i) + rl_hist_width(i) - 1;
	if (v > h->max)
		v = h->max;
	if (v < h->min)
		v = h->min;
	return v;
}

double rl_hist_mean(const struct rl_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
