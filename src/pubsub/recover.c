/* SPDX-License-Identifier: MIT */
/*
 * recover.c -- the API of topics' history: subscribe from a position
 * (what was missed, then live, no gap and no repeat at the seam), and
 * read a history from any thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pubsub/history.h"
#include "pubsub/ps.h"
#include "ringcast.h"
#include "runtime/alloc.h"
#include "runtime/rt.h"
#include "runtime/stats.h"

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Remember that @c has @t's stream up to @pos already. */
static int seam_add(struct rc_ps_worker *pw, struct rc_topic *t,
		    const struct rc_conn *c, const struct rc_hpos *pos)
{
	if (pw->nseams == pw->seams_cap) {
		uint32_t cap = pw->seams_cap ? pw->seams_cap * 2 : 8;
		struct rc_seam *v = rc__realloc(pw->seams, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pw->seams = v;
		pw->seams_cap = cap;
	}
	pw->seams[pw->nseams++] = (struct rc_seam){
		.topic = t, .conn_id = rc_conn_id(c), .epoch = pos->epoch,
		.offset = pos->offset, .gen = pw->drain_gen,
	};
	return 0;
}

int rc_subscribe_from(struct rc_conn *c, const void *topic, size_t len,
		      const struct rc_stream_pos *since, unsigned last,
		      struct rc_stream_pos *now)
{
	struct rc_ps_worker *pw;
	struct rc_history *H;
	struct rc_hist_stripe *st;
	struct rc_hpos hs, hn = { 0, 0 };
	struct rc_msg **got = NULL;
	struct rc_topic *t;
	unsigned n = 0, cap;
	int64_t sent = 0;
	uint64_t h;
	int ret, rec;

	ret = rc_subscribe(c, topic, len);
	if (ret)
		return ret;
	pw = rc__conn_ps(c);
	H = pw->ps->hist;
	if (now)
		*now = (struct rc_stream_pos){ 0, 0 };
	if (!H)
		return 0;
	if (since) {
		hs.epoch = since->epoch;
		hs.offset = since->offset;
	}
	cap = since || last ? H->size : 0;
	if (cap) {
		got = rc__malloc(cap * sizeof(*got));
		if (!got)
			return -ENOMEM;
	}
	h = rc__topics_hash(&pw->ps->topics, topic, len);
	t = rc__ps_find(pw, h, topic, len);
	/* Subscribed first (the topic's workers include this one now), then
	   the history read under the stripe's lock: every message after
	   hn.offset is published after, and reaches this worker live. */
	st = rc__hist_lock(H, h);
	rec = rc__hist_since(H, st, h, topic, len, since ? &hs : NULL, last,
			     got, cap, &n, &hn, mono_ms());
	rc__hist_unlock(st);
	/* The ones up to hn.offset that are in the inbox already are for
	   the other subscribers. */
	if (hn.offset && t && seam_add(pw, t, c, &hn)) {
		while (n)
			rc__msg_put(got[--n]);
		free(got);
		rc_unsubscribe(c, topic, len);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++)
		sent += rc__conn_deliver(c, got[i]);
	free(got);
	if (sent)
		rc__stat_add(pw->stats, RC_STAT_DELIVERIES, sent);
	if (since)
		atomic_fetch_add(rec ? &H->recovered : &H->not_recovered, 1);
	if (now) {
		now->epoch = hn.epoch;
		now->offset = hn.offset;
	}
	return rec;
}

int rc_history(struct rc_server *s, const void *topic, size_t len,
	       uint64_t after, struct rc_stream_pos *now,
	       int (*fn)(void *arg, uint64_t offset, const void *data,
			 size_t len, enum rc_opcode op),
	       void *arg)
{
	struct rc_ps *ps;
	struct rc_history *H;
	struct rc_hist_stripe *st;
	struct rc_hpos since, hn;
	struct rc_msg **got;
	unsigned n = 0;
	uint64_t h;
	int stop = 0;

	if (!s || !topic || !len || len > RC_TOPIC_MAX)
		return -EINVAL;
	ps = rc__server_ps(s);
	H = ps->hist;
	if (!H)
		return -ENOTSUP;
	got = rc__malloc(H->size * sizeof(*got));
	if (!got)
		return -ENOMEM;
	h = rc__topics_hash(&ps->topics, topic, len);
	st = rc__hist_lock(H, h);
	/* "Recover" from @after in the stream's own epoch: what is still
	   held after it, or from the oldest held. */
	rc__hist_since(H, st, h, topic, len, NULL, 0, got, 0, &n, &hn,
		       mono_ms());
	since.epoch = hn.epoch;
	since.offset = after;
	if (hn.epoch && after < hn.offset)
		rc__hist_since(H, st, h, topic, len, &since, H->size, got,
			       H->size, &n, &hn, mono_ms());
	rc__hist_unlock(st);
	if (now) {
		now->epoch = hn.epoch;
		now->offset = hn.offset;
	}
	for (unsigned i = 0; i < n; i++) {
		size_t plen;
		const uint8_t *p = rc__msg_payload(got[i], &plen);

		if (!stop && fn)
			stop = fn(arg, got[i]->offset, p, plen,
				  (enum rc_opcode)(got[i]->frame[0] & 0xf));
		rc__msg_put(got[i]);
	}
	free(got);
	return hn.epoch ? (int)n : -ENOENT;
}
