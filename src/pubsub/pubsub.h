/* SPDX-License-Identifier: MIT */
/*
 * pubsub.h -- pub/sub as the runtime sees it: the state a server and each
 * worker embed, and the calls the loop makes. The layer's own parts:
 * topics.c (which workers have subscribers), subs.c (a worker's topics and
 * their local subscribers), inbox.c (MPSC inboxes, their bound, the bell),
 * fanout.c (inbox -> local subscribers), publish.c (the API), msg.c.
 */
#ifndef RC_PUBSUB_H
#define RC_PUBSUB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pubsub/msg.h"
#include "pubsub/topics.h"

struct rc_stamp_in;

struct rc_worker;
struct rc_conn;
struct rc_counters;
struct rc_topic;

/* MPSC inbox of a worker (intrusive, after D. Vyukov): any thread pushes,
   the worker pops. Wait-free for producers; bounded by RC_INBOX_HIGH. */
struct rc_inbox {
	_Atomic(struct rc_inbox_node *) head;	/* producers swap in here */
	struct rc_inbox_node *tail;		/* the worker pops here */
	struct rc_inbox_node stub;
};

/* Inbox bounds per worker, in bytes of queued frames (see inbox_bytes). */
#define RC_INBOX_HIGH (8 << 20)
#define RC_INBOX_LOW (4 << 20)

struct rc_ps_worker;

/* A server's pub/sub state. */
struct rc_ps {
	struct rc_topic_table topics;
	unsigned nworkers;
	struct rc_ps_worker **workers;	/* by index */
	size_t max_message;
	const _Atomic int *stopping;	/* the server's: publish fails */
	_Atomic uint64_t published_elsewhere;	/* from non-worker threads */
	/* permessage-deflate (publish.c): compress a message once, when
	   one of the workers it goes to has subscribers that take the
	   compressed frame. */
	bool z_on;
	int z_level;
	size_t z_min;
	_Atomic uint64_t z_elsewhere[3];	/* deflate in, out, skipped:
						   from non-worker threads */
	/* Rooms across servers (bridge/bridge.h), or NULL: told of each
	   topic's first and last subscriber per worker, and handed each
	   message published here. */
	struct rc_bridge *bridge;
	/* What topics remember (history.h), or NULL (history_size 0). */
	struct rc_history *hist;
	/* Who subscribes (presence.h), or NULL (rc_config.presence off). */
	struct rc_presence *pres;
	/* rc_config.stamp: the stamped form of a message. */
	size_t (*stamp)(void *user, const struct rc_stamp_in *in, char *out,
			size_t cap);
	void *stamp_user;
};

/* A subscriber that just read a topic's history up to @offset
   (rc_subscribe_from()): messages up to it that are still in its
   worker's inbox are not delivered to it again. Kept until a drain that
   began after it ends with the inbox empty: by then every such message
   has passed (they were queued before the history was read). */
struct rc_seam {
	struct rc_topic *topic;
	uint64_t conn_id;
	uint64_t epoch, offset;
	unsigned gen;
};

/* One worker's pub/sub state; only @inbox, @bell, @inbox_bytes and
   @inbox_waiters are touched by other threads. */
struct rc_ps_worker {
	struct rc_ps *ps;
	struct rc_worker *w;		/* its worker, for the bell */
	struct rc_counters *stats;	/* its worker's */
	unsigned idx;
	struct rc_inbox inbox;
	/* Rung (set) by the push that finds it quiet, which then wakes the
	   worker (MSG_RING from workers, the eventfd from elsewhere). */
	_Atomic int bell;
	/* Bytes of frames waiting in the inbox. A connection of any worker
	   that publishes into an inbox over RC_INBOX_HIGH stops being read
	   until every inbox is under RC_INBOX_LOW, so a publisher faster
	   than fan-out cannot grow memory without end. */
	_Atomic int64_t inbox_bytes;
	_Atomic int inbox_waiters;	/* someone waits for it to drain */
	unsigned npub_wait;		/* own connections paused for that */
	bool busy;			/* a push was half done: poll again */
	/* Local topics with subscribers on this worker: open addressing,
	   linear probing, at most half used (tombstones included). */
	struct rc_topic **topics;
	uint32_t topic_cap, topic_count, topic_used;
	int nslotless;			/* local topics without a shared slot */
	struct rc_seam *seams;
	uint32_t nseams, seams_cap;
	unsigned drain_gen;		/* drains begun */
};

int rc__ps_init(struct rc_ps *ps, unsigned nworkers, unsigned max_topics,
		size_t max_message, const _Atomic int *stopping);
void rc__ps_free(struct rc_ps *ps);

/* Set up worker @idx's part (before any thread runs). */
void rc__ps_worker_init(struct rc_ps *ps, struct rc_ps_worker *pw,
			unsigned idx, struct rc_worker *w,
			struct rc_counters *stats);
/* Free its topic map and whatever is left in its inbox. */
void rc__ps_worker_free(struct rc_ps_worker *pw);
/* Called on the worker's thread when it starts. */
void rc__ps_attach(struct rc_ps_worker *pw);

/* Take every message from the inbox and fan it out to local subscribers.
   Sets pw->busy if a producer was caught mid-push (poll again soon). */
void rc__ps_drain(struct rc_ps_worker *pw);

/* True if the worker must not sleep: mail may be waiting (its bell is
   rung, also by its own publishes from timers and handlers run after the
   drain), or a push was half done. */
bool rc__ps_pending(struct rc_ps_worker *pw);

/* Connections paused for a full inbox: resume them once every inbox is
   under RC_INBOX_LOW. Each turn, while pw->npub_wait. */
void rc__ps_pub_wait_check(struct rc_ps_worker *pw);

/* Once a second: local topics that found the shared table full try to
   get a slot again. */
void rc__ps_tick(struct rc_ps_worker *pw);

/* @c is going away: drop its subscriptions. */
void rc__ps_conn_gone(struct rc_conn *c);

/* Hand @len bytes of @p (copied) to connection @conn_id's worker, from any
   thread: rc__conn_mail() runs there, if the connection still is. 0,
   -ENOENT (no such worker), -EINVAL, -ENOMEM, -ESHUTDOWN. */
/* A message from another server (the bridge): fanned out here like
   rc_publish(), never sent back out. -EAGAIN when an inbox it must go to
   is over RC_INBOX_HIGH (nothing was queued: pace and try again), or as
   rc_publish(). */
int rc__ps_publish_in(struct rc_ps *ps, const void *topic, size_t topic_len,
		      const void *data, size_t len, unsigned op);

int rc__ps_mail(struct rc_ps *ps, uint64_t conn_id, const void *p,
		size_t len);

/* For stamped connection @c, @m (a reference it owns) made stamped for it
   alone: the message to queue instead (@m's reference released), or @m
   itself when there is no stamp or it said 0; NULL: out of memory. */
struct rc_msg *rc__ps_stamped(struct rc_conn *c, struct rc_msg *m);

#endif /* RC_PUBSUB_H */
