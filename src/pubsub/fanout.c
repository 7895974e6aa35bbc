/* SPDX-License-Identifier: MIT */
/* fanout.c -- a worker's inbox to its local subscribers: one reference each. */
#include "pubsub/ps.h"
#include "ringcast.h"
#include "runtime/rt.h"
#include "runtime/stats.h"

/* @c read @m's topic's history past @m already (a seam, rc_subscribe_from). */
static bool seen(const struct rc_ps_worker *pw, const struct rc_topic *t,
		 const struct rc_msg *m, const struct rc_conn *c)
{
	for (uint32_t i = 0; i < pw->nseams; i++) {
		const struct rc_seam *s = &pw->seams[i];

		if (s->topic == t && s->epoch == m->epoch &&
		    m->offset <= s->offset && s->conn_id == rc_conn_id(c))
			return true;
	}
	return false;
}

static void fan_out(struct rc_ps_worker *pw, struct rc_msg *m)
{
	struct rc_topic *t;
	int64_t sent = 0;

	if (m->kind == RC_MSG_DIRECT) {
		struct rc_conn *c = rc__worker_conn(pw->w, m->conn_id);

		if (c) {
			rc__msg_get(m, 1);
			sent = rc__conn_deliver(c, m);
		}
		goto out;
	}
	if (m->kind == RC_MSG_MAIL) {
		struct rc_conn *c = rc__worker_conn(pw->w, m->conn_id);

		if (c)
			rc__conn_mail(c, m->frame + m->frame_len -
					     m->topic_len, m->topic_len);
		goto out;
	}
	t = rc__ps_find(pw, m->hash, m->topic, m->topic_len);
	if (!t) {
		/* Sent here for nothing: a hash collision in the shared
		   table, a topic that overflowed it, or the last subscriber
		   left while the message was on its way. */
		rc__stat_add(pw->stats, RC_STAT_PUBSUB_MISSES, 1);
		goto out;
	}
	/* One reference per subscriber, taken at once. Downwards, because
	   a delivery may end a subscription (swap-remove from the end). */
	rc__msg_get(m, t->nsubs);
	if (m->control) {
		for (uint32_t i = t->nsubs; i-- > 0;) {
			struct rc_conn *c = t->subs[i]->conn;

			if (rc__conn_takes_sframe(c))
				sent += rc__conn_deliver(c, m);
			else
				rc__msg_put(m);
		}
		goto out;
	}
	if (pw->nseams && m->offset) {
		for (uint32_t i = t->nsubs; i-- > 0;) {
			struct rc_conn *c = t->subs[i]->conn;

			if (seen(pw, t, m, c))
				rc__msg_put(m);
			else
				sent += rc__conn_deliver(c, m);
		}
		goto out;
	}
	for (uint32_t i = t->nsubs; i-- > 0;)
		sent += rc__conn_deliver(t->subs[i]->conn, m);
out:
	if (sent)
		rc__stat_add(pw->stats, RC_STAT_DELIVERIES, sent);
	rc__msg_put(m);		/* the inbox's reference */
}

/* Seams made before drain @gen began: their messages have all passed. */
static void seams_done(struct rc_ps_worker *pw, unsigned gen)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < pw->nseams; i++)
		if ((int)(pw->seams[i].gen - gen) >= 0)
			pw->seams[k++] = pw->seams[i];
	pw->nseams = k;
}

void rc__ps_drain(struct rc_ps_worker *pw)
{
	struct rc_inbox_node *n;
	bool busy = false;
	int64_t bytes = 0;
	unsigned gen = ++pw->drain_gen;

	/* Quiet the bell before looking: a push after this point either is
	   seen below or rings again. */
	atomic_store(&pw->bell, 0);
	while ((n = rc__inbox_pop(&pw->inbox, &busy))) {
		bytes += rc__inbox_cost(n->msg);
		fan_out(pw, n->msg);
	}
	pw->busy = busy;
	if (pw->nseams && !busy)
		seams_done(pw, gen);
	if (bytes)
		rc__inbox_drained(pw, bytes);
}
