/* SPDX-License-Identifier: MIT */
/* publish.c -- the API: publish from any thread, frame once, one ref per worker. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "bridge/bridge.h"
#include "deflate/deflate.h"
#include "pubsub/history.h"
#include "pubsub/ps.h"
#include "ringcast.h"
#include "runtime/rt.h"
#include "runtime/stats.h"
#include "simd/simd.h"

static int check_payload(struct rc_ps *ps, const void *data, size_t len,
			 enum rc_opcode op)
{
	if (!data && len)
		return -EINVAL;
	op &= ~RC_OP_NO_DEFLATE;
	if (op != RC_OP_TEXT && op != RC_OP_BINARY)
		return -EINVAL;
	if (len > ps->max_message)
		return -EMSGSIZE;
	if (atomic_load_explicit(ps->stopping, memory_order_relaxed))
		return -ESHUTDOWN;
	/* Re-publishing the TEXT message being delivered (the chat case)
	   skips a second UTF-8 pass: it was validated on the way in. */
	if (op == RC_OP_TEXT && !rc__validated_text(data, len) &&
	    !rc_utf8_valid(data, len))
		return -EINVAL;
	return 0;
}

static void count_published(struct rc_ps *ps)
{
	struct rc_ps_worker *self = rc__ps_self;

	if (self && self->ps == ps)
		rc__stat_add(self->stats, RC_STAT_PUBLISHED, 1);
	else
		atomic_fetch_add_explicit(&ps->published_elsewhere, 1,
					  memory_order_relaxed);
}

/* Count compression: @in bytes made @out (0, 0: sent uncompressed). */
static void z_count(struct rc_ps *ps, size_t in, size_t out)
{
	struct rc_ps_worker *self = rc__ps_self;

	if (self && self->ps == ps) {
		if (out) {
			rc__stat_add(self->stats, RC_STAT_DEFLATE_IN,
				     (int64_t)in);
			rc__stat_add(self->stats, RC_STAT_DEFLATE_OUT,
				     (int64_t)out);
		} else {
			rc__stat_add(self->stats, RC_STAT_DEFLATE_SKIPPED, 1);
		}
	} else if (out) {
		atomic_fetch_add_explicit(&ps->z_elsewhere[0], in,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&ps->z_elsewhere[1], out,
					  memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&ps->z_elsewhere[2], 1,
					  memory_order_relaxed);
	}
}

/* Compress @data once for the subscribers that take compressed frames:
   the length (the payload at *@z), or 0 to send it plain. */
static size_t compress_once(struct rc_ps *ps, const void *data, size_t len,
			    enum rc_opcode op, const uint8_t **z)
{
	struct rc_zctx *zc;
	size_t n = 0;

	if (!(op & RC_OP_NO_DEFLATE) && len >= ps->z_min) {
		zc = rc__z_thread(ps->z_level);
		n = zc ? rc__z_deflate(zc, data, len, z) : 0;
	}
	z_count(ps, len, n);
	return n;
}

/* An inbox @mask sends to is over its bound. */
static bool inbox_full(const struct rc_ps *ps, uint64_t mask)
{
	for (unsigned i = 0; i < ps->nworkers; i++)
		if ((mask & (1ull << i)) &&
		    atomic_load_explicit(&ps->workers[i]->inbox_bytes,
					 memory_order_relaxed) > RC_INBOX_HIGH)
			return true;
	return false;
}

/* Queue @m (framed once) to each worker in @mask. */
static void to_inboxes(struct rc_ps *ps, struct rc_msg *m, uint64_t mask)
{
	for (unsigned i = 0; i < ps->nworkers; i++) {
		if (!(mask & (1ull << i)))
			continue;
		m->nodes[i].msg = m;
		rc__inbox_send(ps->workers[i], &m->nodes[i], m);
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One publish, as the API calls gave it. */
struct pubreq {
	const void *topic;
	size_t topic_len;
	uint64_t h;
	const void *data;
	size_t len;
	enum rc_opcode op;
	const void *meta;
	size_t meta_len;
	uint64_t skip;			/* a connection not to deliver to */
	unsigned flags;			/* RC_PUB_* */
	bool in;			/* from another server (the bridge) */
	struct rc_stream_pos *pos;	/* out, or NULL */
	/* History and the bridge on (publish_owned()): */
	const struct rc_hpos *at;	/* the owner's position for it */
	uint64_t *gap;			/* with @at: offsets skipped before */
	struct rc_bridge_own *own;	/* numbered here, as the owner */
	bool fwd;			/* forwarded here by @origin, whose
					   connection @out_skip sent it */
	uint64_t origin, out_skip;
};

/* The stamped form of a message (rc_config.stamp) into @buf (@cap bytes)
   or, when longer, into *@big (freed by the caller): its length, 0 for
   none. */
static size_t stamp_into(const struct rc_ps *ps,
			 const struct rc_stamp_in *in, char *buf, size_t cap,
			 char **big)
{
	size_t n = ps->stamp(ps->stamp_user, in, buf, cap);

	*big = NULL;
	if (n <= cap)
		return n;
	/* Longer than the buffer: once more with room (bounded: a stamp
	   is the message plus what it says of it). */
	if (n > ps->max_message + 65536)
		return 0;
	*big = malloc(n);
	if (!*big || ps->stamp(ps->stamp_user, in, *big, n) != n) {
		free(*big);
		*big = NULL;
		return 0;
	}
	return n;
}

/* Frame @r once (with its compressed payload @z, and its stamped form
   when @smask says a target wants it), one reference per worker in
   @mask; at @hp in its topic's stream (0, 0 without history). */
static struct rc_msg *frame(struct rc_ps *ps, const struct pubreq *r,
			    uint64_t mask, uint64_t smask, const uint8_t *z,
			    size_t zlen, const struct rc_hpos *hp)
{
	struct rc_msg_parts parts = { .z = z, .zlen = zlen,
				      .meta = r->meta,
				      .meta_len = r->meta_len };
	char sbuf[4096], *big = NULL;
	struct rc_msg *m;

	if (ps->stamp && (mask & smask)) {
		struct rc_stamp_in in = {
			.topic = r->topic, .topic_len = r->topic_len,
			.pos = { hp->epoch, hp->offset },
			.data = r->data, .len = r->len,
			.op = (enum rc_opcode)(r->op & 0xf),
			.meta = r->meta, .meta_len = r->meta_len,
		};

		parts.slen = stamp_into(ps, &in, sbuf, sizeof(sbuf), &big);
		parts.s = big ? big : sbuf;
	}
	m = rc__msg_new_parts(ps->nworkers,
			      (uint32_t)__builtin_popcountll(mask), r->topic,
			      r->topic_len, r->op & 0xf, r->data, r->len,
			      &parts);
	free(big);
	if (!m)
		return NULL;
	m->plain_only = !!(r->op & RC_OP_NO_DEFLATE);
	m->hash = r->h;
	m->conn_id = r->skip;
	m->epoch = hp->epoch;
	m->offset = hp->offset;
	return m;
}

/*
 * With history: the topic's stripe is held from the offset taken to the
 * inboxes queued into (history.h), so that every worker sees the topic's
 * offsets in order and a subscriber reading the history under the lock
 * gets the rest live. What can be done before (compressing) is; the stamp
 * needs the offset, so it is made under the lock.
 */
static int publish_hist(struct rc_ps *ps, const struct pubreq *r)
{
	struct rc_history *H = ps->hist;
	struct rc_hist_stripe *st;
	struct rc_hist *hi;
	struct rc_hpos hp;
	struct rc_msg *m;
	uint64_t mask, zmask = 0, smask = 0;
	const uint8_t *z = NULL;
	size_t zlen = 0;
	int ret;

	/* A hint, read again under the lock: a subscriber that takes
	   compressed frames and comes meanwhile gets this one plain. */
	mask = rc__topics_targets(&ps->topics, r->h, ps->nworkers, &zmask);
	if (ps->z_on && (mask & zmask))
		zlen = compress_once(ps, r->data, r->len, r->op, &z);
	st = rc__hist_lock(H, r->h);
	mask = rc__topics_targets_s(&ps->topics, r->h, ps->nworkers, &zmask,
				    &smask);
	if (r->in && mask && inbox_full(ps, mask)) {
		rc__hist_unlock(st);
		return -EAGAIN;
	}
	if (r->at) {
		uint64_t gap;

		ret = rc__hist_at(H, st, r->h, r->topic, r->topic_len, r->at,
				  &hi, r->gap ? r->gap : &gap);
		hp = *r->at;
	} else if (r->own) {
		ret = rc__hist_next_owned(H, st, r->h, r->topic, r->topic_len,
					  r->own->ver, rc__bridge_same_owner,
					  r->own, &hp, &hi);
	} else {
		ret = rc__hist_next(H, st, r->h, r->topic, r->topic_len, &hp,
				    &hi);
	}
	if (ret < 0) {
		rc__hist_unlock(st);
		return ret;
	}
	m = frame(ps, r, mask, smask, z, zlen, &hp);
	if (!m) {
		if (r->at)
			rc__hist_reset(H, hi);
		else
			rc__hist_undo(hi);
		rc__hist_unlock(st);
		return -ENOMEM;
	}
	rc__hist_append(H, hi, m, mono_ms());
	to_inboxes(ps, m, mask);
	/* Numbered here as the room's owner: out to every other server,
	   still under the lock, so that the room's offsets leave in their
	   order (NATS keeps a connection's order). */
	if (r->own) {
		struct rc_ps_worker *self = rc__ps_self;

		rc__bridge_out_seq(ps->bridge,
				   self && self->ps == ps ? self->idx :
							    ps->nworkers,
				   r->topic, r->topic_len, r->data, r->len,
				   r->op, r->meta, r->meta_len, hp.epoch,
				   hp.offset, r->fwd ? r->origin : 0,
				   r->fwd ? r->out_skip : r->skip);
	}
	rc__hist_unlock(st);
	if (r->pos) {
		r->pos->epoch = hp.epoch;
		r->pos->offset = hp.offset;
	}
	rc__hist_enforce(H);
	return 0;
}

/* RC_PUB_CONTROL: to the stamped subscribers only, as it is: the
   workers that have any, one frame, no stamp, no offset, no history, not
   compressed, not bridged (fan_out() passes the others over). */
static int publish_control(struct rc_ps *ps, const struct pubreq *r)
{
	uint64_t mask, zmask = 0, smask = 0;
	struct rc_msg *m;

	mask = rc__topics_targets_s(&ps->topics, r->h, ps->nworkers, &zmask,
				    &smask);
	mask &= smask;
	if (!mask)
		return 0;
	m = rc__msg_new(ps->nworkers, (uint32_t)__builtin_popcountll(mask),
			r->topic, r->topic_len, r->op & 0xf, r->data, r->len);
	if (!m)
		return -ENOMEM;
	m->plain_only = 1;
	m->control = 1;
	m->hash = r->h;
	m->conn_id = r->skip;
	to_inboxes(ps, m, mask);
	return 0;
}

/*
 * History and the bridge on: one server numbers each room (bridge.h). A
 * message the owner numbered elsewhere is remembered at its position; one
 * published here for a room owned elsewhere is forwarded to the owner,
 * neither fanned out here nor remembered: it comes back numbered, like
 * everyone else's. The owner numbers what is published on it and what is
 * forwarded to it (never forwarding again, so two servers that disagree
 * about the owner cannot bounce a message).
 */
static int publish_owned(struct rc_ps *ps, struct pubreq *r)
{
	struct rc_ps_worker *self = rc__ps_self;
	struct rc_bridge_own own;
	int ret;

	if (r->at)
		return publish_hist(ps, r);
	if (!rc__bridge_owner(ps->bridge, r->topic, r->topic_len, &own) &&
	    !r->fwd) {
		/* Unnumbered from another program (0xB0, 0xB1): its
		   owner numbers it, if it follows the room. */
		if (r->in)
			return -EREMOTE;
		if (r->pos)
			r->pos->epoch = r->pos->offset = 0;
		ret = rc__bridge_forward(ps->bridge,
					 self && self->ps == ps ? self->idx :
								  ps->nworkers,
					 own.hub, r->topic, r->topic_len,
					 r->data, r->len, r->op, r->meta,
					 r->meta_len, r->skip);
		if (!ret)
			count_published(ps);
		return ret;
	}
	r->own = &own;
	ret = publish_hist(ps, r);
	if (!ret && !r->in)
		count_published(ps);
	return ret;
}

/* Frame once, one reference per interested worker; a message from
   another server (r->in, the bridge) does not go back out. */
static int publish(struct rc_ps *ps, struct pubreq *r)
{
	static const struct rc_hpos none = { 0, 0 };
	struct rc_ps_worker *self = rc__ps_self;
	struct rc_msg *m;
	uint64_t mask, zmask = 0, smask = 0;
	const uint8_t *z = NULL;
	size_t zlen = 0;
	int ret;

	if (!r->topic || !r->topic_len || r->topic_len > RC_TOPIC_MAX ||
	    (r->meta_len && !r->meta) || r->meta_len > 255)
		return -EINVAL;
	ret = check_payload(ps, r->data, r->len, r->op);
	if (ret)
		return ret;
	r->h = rc__topics_hash(&ps->topics, r->topic, r->topic_len);
	if (r->flags & RC_PUB_CONTROL) {
		if (r->pos)
			r->pos->epoch = r->pos->offset = 0;
		return publish_control(ps, r);
	}
	if (ps->hist && ps->bridge)
		return publish_owned(ps, r);
	if (ps->hist) {
		ret = publish_hist(ps, r);
		if (ret)
			return ret;
		if (!r->in)
			count_published(ps);
		goto out;
	}
	if (r->pos)
		r->pos->epoch = r->pos->offset = 0;
	mask = rc__topics_targets_s(&ps->topics, r->h, ps->nworkers, &zmask,
				    ps->stamp ? &smask : NULL);
	if (r->in && mask && inbox_full(ps, mask))
		return -EAGAIN;
	if (!r->in)
		count_published(ps);
	if (mask) {
		/* Once per message, here, not per subscriber nor per
		   worker. */
		if (ps->z_on && (mask & zmask))
			zlen = compress_once(ps, r->data, r->len, r->op, &z);
		m = frame(ps, r, mask, smask, z, zlen, &none);
		if (!m)
			return -ENOMEM;
		to_inboxes(ps, m, mask);
	}
out:
	/* To the other servers after the local fan-out is queued: local
	   subscribers never wait for NATS. */
	if (!r->in && ps->bridge)
		rc__bridge_out(ps->bridge,
			       self && self->ps == ps ? self->idx : ps->nworkers,
			       r->h, r->topic, r->topic_len, r->data, r->len,
			       r->op);
	return 0;
}

struct rc_msg *rc__ps_stamped(struct rc_conn *c, struct rc_msg *m)
{
	struct rc_ps *ps = rc__conn_ps(c)->ps;
	struct rc_msg_parts parts = { .meta = m->meta,
				      .meta_len = m->meta_len };
	char sbuf[4096], *big = NULL;
	struct rc_stamp_in in;
	struct rc_msg *s;
	size_t len;
	const uint8_t *p = rc__msg_payload(m, &len);

	if (!ps->stamp)
		return m;
	in = (struct rc_stamp_in){
		.topic = m->topic, .topic_len = m->topic_len,
		.pos = { m->epoch, m->offset },
		.data = p, .len = len,
		.op = (enum rc_opcode)(m->frame[0] & 0xf),
		.meta = m->meta, .meta_len = m->meta_len,
	};
	parts.slen = stamp_into(ps, &in, sbuf, sizeof(sbuf), &big);
	if (!parts.slen)
		return m;
	parts.s = big ? big : sbuf;
	/* For this connection alone: no inbox node. */
	s = rc__msg_new_parts(0, 1, m->topic, m->topic_len, in.op, p, len,
			      &parts);
	free(big);
	if (s) {
		s->hash = m->hash;
		s->epoch = m->epoch;
		s->offset = m->offset;
		s->conn_id = 0;
	}
	rc__msg_put(m);
	return s;
}

int rc_publish(struct rc_server *s, const void *topic, size_t topic_len,
	       const void *data, size_t len, enum rc_opcode op)
{
	if (!s)
		return -EINVAL;
	struct pubreq r = { .topic = topic, .topic_len = topic_len,
			    .data = data, .len = len, .op = op };

	return publish(rc__server_ps(s), &r);
}

int rc_publish_pos(struct rc_server *s, const void *topic, size_t topic_len,
		   const void *data, size_t len, enum rc_opcode op,
		   struct rc_stream_pos *pos)
{
	if (!s)
		return -EINVAL;
	struct pubreq r = { .topic = topic, .topic_len = topic_len,
			    .data = data, .len = len, .op = op, .pos = pos };

	return publish(rc__server_ps(s), &r);
}

int rc__ps_publish_in(struct rc_ps *ps, const void *topic, size_t topic_len,
		      const void *data, size_t len, unsigned op)
{
	struct pubreq r = { .topic = topic, .topic_len = topic_len,
			    .data = data, .len = len,
			    .op = (enum rc_opcode)op, .in = true };

	return publish(ps, &r);
}

int rc__ps_publish_from(struct rc_ps *ps, const struct rc_ps_in *in,
			uint64_t *gap)
{
	struct rc_hpos at = { in->epoch, in->offset };
	struct pubreq r = { .topic = in->topic, .topic_len = in->topic_len,
			    .data = in->data, .len = in->len,
			    .op = (enum rc_opcode)in->op, .meta = in->meta,
			    .meta_len = in->meta_len, .in = true,
			    .gap = gap };

	if (gap)
		*gap = 0;
	if (in->offset) {
		r.at = &at;
		r.skip = in->skip;
	} else {
		r.fwd = true;
		r.origin = in->origin;
		r.out_skip = in->skip;
	}
	return publish(ps, &r);
}

int rc_conn_publish(struct rc_conn *from, const void *topic, size_t topic_len,
		    const void *data, size_t len, enum rc_opcode op)
{
	if (!from)
		return -EINVAL;
	struct pubreq r = { .topic = topic, .topic_len = topic_len,
			    .data = data, .len = len, .op = op,
			    .skip = rc_conn_id(from) };

	return publish(rc__server_ps(rc_conn_server(from)), &r);
}

int rc_publish_ex(struct rc_server *s, const struct rc_publish *p,
		  struct rc_stream_pos *pos)
{
	struct pubreq r;

	if (!s || !p)
		return -EINVAL;
	r = (struct pubreq){ .topic = p->topic, .topic_len = p->topic_len,
			     .data = p->data, .len = p->len, .op = p->op,
			     .meta = p->meta, .meta_len = p->meta_len,
			     .skip = p->skip, .flags = p->flags, .pos = pos };
	if (p->flags & ~(unsigned)RC_PUB_CONTROL)
		return -EINVAL;
	return publish(rc__server_ps(s), &r);
}

int rc_send_to(struct rc_server *s, uint64_t conn_id, const void *data,
	       size_t len, enum rc_opcode op)
{
	unsigned wi = rc__id_worker(conn_id);
	struct rc_ps *ps;
	struct rc_msg *m;
	int ret;

	if (!s)
		return -EINVAL;
	ps = rc__server_ps(s);
	if (wi >= ps->nworkers)
		return -ENOENT;
	ret = check_payload(ps, data, len, op);
	if (ret)
		return ret;
	m = rc__msg_new(1, 1, NULL, 0, op & 0xf, data, len);
	if (!m)
		return -ENOMEM;
	/* Compressed (or not) by the worker, for its one recipient. */
	m->plain_only = !!(op & RC_OP_NO_DEFLATE);
	m->kind = RC_MSG_DIRECT;
	m->conn_id = conn_id;
	m->nodes[0].msg = m;
	rc__inbox_send(ps->workers[wi], &m->nodes[0], m);
	return 0;
}

int rc__ps_mail(struct rc_ps *ps, uint64_t conn_id, const void *p, size_t len)
{
	unsigned wi = rc__id_worker(conn_id);
	struct rc_msg *m;

	if (wi >= ps->nworkers)
		return -ENOENT;
	if (len > UINT16_MAX)
		return -EINVAL;
	if (atomic_load_explicit(ps->stopping, memory_order_relaxed))
		return -ESHUTDOWN;
	m = rc__msg_new(1, 1, NULL, 0, RC_OP_BINARY, p, len);
	if (!m)
		return -ENOMEM;
	m->kind = RC_MSG_MAIL;
	m->conn_id = conn_id;
	m->topic_len = (uint16_t)len;
	m->nodes[0].msg = m;
	rc__inbox_send(ps->workers[wi], &m->nodes[0], m);
	return 0;
}
