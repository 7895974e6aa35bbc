/* SPDX-License-Identifier: MIT */
/* utf8_stream.c -- UTF-8 validation across chunks, over the kernels in use. */
#include <errno.h>
#include <string.h>

#include "simd.h"

/* Sequence length of a byte the scan already accepted as a lead byte. */
static size_t seq_len(uint8_t lead)
{
	return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
}

/* Bytes of the next chunk, at most @n, that the pending sequence lacks. */
static size_t pending_want(const struct rc_utf8 *s, size_t n)
{
	size_t want = seq_len(s->pend[0]) - s->npend;

	return n < want ? n : want;
}

/*
 * Append @p[0..k) to the pending sequence (s->npend drops to 0 if that
 * finishes it). Returns 0, or -EILSEQ as soon as the pending bytes cannot
 * start a valid sequence any more.
 */
static int complete_pending(struct rc_utf8 *s, const uint8_t *p, size_t k)
{
	long tail;

	memcpy(s->pend + s->npend, p, k);
	/*
	 * At most four bytes, one sequence: the scalar kernel is cheapest
	 * here and reads nothing past them. It returns 0 for a finished
	 * sequence and npend + k for a still valid prefix.
	 */
	tail = rc_simd_scalar.utf8_scan(s->pend, s->npend + k);
	if (tail < 0)
		return -EILSEQ;
	s->npend = (uint8_t)tail;
	return 0;
}

/* Keep the unfinished tail of @p[0..n) that a scan reported. */
static int keep_tail(struct rc_utf8 *s, const uint8_t *p, size_t n, long tail)
{
	if (tail < 0)
		return -EILSEQ;
	memcpy(s->pend, p + n - tail, (size_t)tail);
	s->npend = (uint8_t)tail;
	return 0;
}

int rc_utf8_feed(struct rc_utf8 *s, const uint8_t *p, size_t n)
{
	size_t k = 0;

	/* an empty chunk proves nothing (and @p may be NULL) */
	if (!n)
		return 0;
	if (s->npend) {
		int err;

		k = pending_want(s, n);
		err = complete_pending(s, p, k);
		if (err || s->npend)
			return err;
	}
	return keep_tail(s, p + k, n - k, rc_simd->utf8_scan(p + k, n - k));
}

int rc_utf8_feed_unmask(struct rc_utf8 *s, uint8_t *p, size_t n, uint32_t key,
			size_t off)
{
	size_t k = 0;

	if (!n)
		return 0;
	if (s->npend) {
		int err;

		/*
		 * Unmask only the bytes that finish the pending sequence, so
		 * the fused kernel takes the rest with the key advanced by
		 * as many.
		 */
		k = pending_want(s, n);
		rc_simd->unmask(p, k, key, off);
		err = complete_pending(s, p, k);
		if (err || s->npend)
			return err;
	}
	return keep_tail(s, p + k, n - k,
			 rc_simd->unmask_utf8_scan(p + k, n - k, key, off + k));
}

int rc_utf8_finish(struct rc_utf8 *s)
{
	int ret = s->npend ? -EILSEQ : 0;

	memset(s, 0, sizeof(*s));
	return ret;
}

bool rc_utf8_valid(const uint8_t *p, size_t n)
{
	return rc_simd->utf8_scan(p, n) == 0;
}
