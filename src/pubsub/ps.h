/* SPDX-License-Identifier: MIT */
/* ps.h -- between the files of the pub/sub layer. */
#ifndef RC_PS_H
#define RC_PS_H

#include "pubsub/pubsub.h"

/* A topic with subscribers on one worker (worker-private). */
struct rc_topic {
	uint64_t hash;
	struct rc_topic_slot *slot;	/* NULL: the shared table was full */
	struct rc_sub **subs;		/* subscribers, unordered */
	uint32_t nsubs, cap;
	uint32_t nz;			/* of them, taking compressed frames
					   (rc__conn_takes_zframe) */
	uint32_t ns;			/* ... and stamped ones */
	uint16_t len;
	uint8_t name[];
};

/* One connection's subscription to one topic. */
struct rc_sub {
	struct rc_topic *topic;
	struct rc_conn *conn;
	uint32_t idx;			/* in topic->subs */
	uint32_t pidx;			/* in its presence list (presence.h),
					   RC_PIDX_NONE: not listed; read and
					   written under the topic's
					   presence stripe lock only */
	struct rc_sub *next;		/* the connection's next subscription */
};

#define RC_PIDX_NONE UINT32_MAX

/* The pub/sub part of the worker running on this thread, or NULL. */
extern __thread struct rc_ps_worker *rc__ps_self;

/* subs.c: the local topic named @name (hash @h), or NULL. */
struct rc_topic *rc__ps_find(struct rc_ps_worker *pw, uint64_t h,
			     const void *name, size_t len);

/* inbox.c */
void rc__inbox_init(struct rc_inbox *q);
/* Queue @n (for @m) to worker @t and wake it; pauses the publishing
   connection when that takes the inbox over its bound. */
void rc__inbox_send(struct rc_ps_worker *t, struct rc_inbox_node *n,
		    struct rc_msg *m);
/* The oldest node, or NULL (*@busy: a producer is mid-push). */
struct rc_inbox_node *rc__inbox_pop(struct rc_inbox *q, bool *busy);
/* @bytes of frames left the inbox: wake paused publishers if it is low. */
void rc__inbox_drained(struct rc_ps_worker *pw, int64_t bytes);
/* What a message costs in an inbox's bound. */
static inline int64_t rc__inbox_cost(const struct rc_msg *m)
{
	return (int64_t)rc__msg_frames(m) + 64;
}

#endif /* RC_PS_H */
