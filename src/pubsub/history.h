/* SPDX-License-Identifier: MIT */
/*
 * history.h -- what a topic remembers (rc_config.history_size): its last
 * messages, each with an offset (strictly increasing per topic) and the
 * topic's epoch (random, new whenever its history is lost).
 *
 * The store is a hash table of topics in stripes, each under its own
 * mutex. A publish to a topic holds its stripe's lock from the offset it
 * takes to the inboxes it queues into, so offsets reach every worker in
 * order, and a subscriber that reads the history under the same lock
 * knows that every message with a higher offset will reach it live (the
 * seam: rc_subscribe_from()). Messages are kept by reference: the frame
 * the subscribers were sent is the one remembered, never a copy.
 *
 * Memory is bounded per topic (history_size messages, history_ttl_ms old)
 * and in all (history_memory bytes, counting frames and bookkeeping): past
 * it, the histories of the topics published to least recently go first,
 * whole (their epoch is new when they start again), counted.
 */
#ifndef RC_HISTORY_H
#define RC_HISTORY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pubsub/msg.h"

#define RC_HIST_STRIPES 64

struct rc_hist;

struct rc_hist_stripe {
	pthread_mutex_t lock;
	struct rc_hist **buckets;	/* chained by hash */
	uint32_t cap, count;
} __attribute__((aligned(64)));

struct rc_history {
	unsigned size;			/* messages per topic */
	int64_t ttl_ms;			/* 0: no limit */
	size_t budget;			/* bytes in all */
	_Atomic size_t bytes;		/* held now */
	_Atomic uint64_t rooms;		/* topics with a history now */
	_Atomic uint64_t evicted;	/* histories dropped for the budget */
	_Atomic uint64_t expired;	/* messages dropped for their age */
	_Atomic uint64_t recovered, not_recovered;
	pthread_mutex_t evict_lock;	/* one evictor at a time */
	struct rc_hist_stripe stripes[RC_HIST_STRIPES];
};

/* The position a subscriber holds or the stream is at (ringcast.h's
   struct rc_stream_pos, kept here too for the layer's own use). */
struct rc_hpos {
	uint64_t epoch, offset;
};

int rc__hist_init(struct rc_history *H, unsigned size, unsigned ttl_ms,
		  size_t budget);
void rc__hist_free(struct rc_history *H);

/* The stripe of hash @h, locked. */
struct rc_hist_stripe *rc__hist_lock(struct rc_history *H, uint64_t h);
void rc__hist_unlock(struct rc_hist_stripe *st);

/* Under the stripe's lock: the next position of topic @name (creating its
   history, with a new epoch, if it has none), or -ENOMEM. */
int rc__hist_next(struct rc_history *H, struct rc_hist_stripe *st,
		  uint64_t h, const void *name, size_t len,
		  struct rc_hpos *pos, struct rc_hist **out);
/* Under the lock: give back the offset just taken (the message could
   not be made). */
void rc__hist_undo(struct rc_hist *hi);

/*
 * Rooms numbered by one owning server (bridge.h, with the bridge on):
 *
 * Under the lock: rc__hist_next() for the owner, at hub-set version @ver.
 * The stream goes on when this server numbered it last (not another
 * owner) and @same(@arg, the version it did so at) says the room's owner
 * has not changed since; else it restarts in a new epoch, the window
 * dropped (a new owner cannot know it saw all the old one numbered).
 */
int rc__hist_next_owned(struct rc_history *H, struct rc_hist_stripe *st,
			uint64_t h, const void *name, size_t len, uint64_t ver,
			bool (*same)(void *, uint64_t), void *arg,
			struct rc_hpos *pos, struct rc_hist **out);
/*
 * Under the lock: take the position @pos another server gave a message.
 * 0: it follows the last one (append it); -EALREADY: at or before the
 * last of the same epoch (a repeat: drop it); 1: another epoch, or a jump
 * (*@gap offsets skipped): the window was dropped and restarts at @pos.
 * Then rc__hist_append() it, or rc__hist_reset() when it cannot be made.
 * -ENOMEM.
 */
int rc__hist_at(struct rc_history *H, struct rc_hist_stripe *st, uint64_t h,
		const void *name, size_t len, const struct rc_hpos *pos,
		struct rc_hist **out, uint64_t *gap);
/* Under the lock: drop what @hi holds; its position stays (a resume from
   before it is then not recovered). */
void rc__hist_reset(struct rc_history *H, struct rc_hist *hi);
/* Outside any lock: drop topic @name's history, unless this server
   numbered it and @keep(@arg, the version it did so at) says it has owned
   it since (a server that stopped following a room holds a stale window:
   a resume must not be answered from it). */
void rc__hist_forget(struct rc_history *H, uint64_t h, const void *name,
		     size_t len, bool (*keep)(void *, uint64_t), void *arg);
/* Under the lock: remember @m (one reference taken) at @hi's last
   position; the oldest goes past size or age. */
void rc__hist_append(struct rc_history *H, struct rc_hist *hi,
		     struct rc_msg *m, int64_t now_ms);

/*
 * Under the lock: what a subscriber resuming from @since (NULL: a
 * newcomer) gets: into @out (room for @cap), references to the messages
 * after @since->offset when its epoch is the topic's and the offset is in
 * the window (returns 1, recovered), or, with @last, the last @last
 * messages (returns 0 when @since was given: not recovered); *@now the
 * stream's position (epoch 0, offset 0: no history). *@n the count.
 */
int rc__hist_since(struct rc_history *H, struct rc_hist_stripe *st,
		   uint64_t h, const void *name, size_t len,
		   const struct rc_hpos *since, unsigned last,
		   struct rc_msg **out, unsigned cap, unsigned *n,
		   struct rc_hpos *now, int64_t now_ms);

/* Outside any lock: drop the least recently published histories until the
   store is under 90 % of its budget. */
void rc__hist_enforce(struct rc_history *H);
/* Outside any lock, now and then: messages past their age. */
void rc__hist_sweep(struct rc_history *H, int64_t now_ms);

#endif /* RC_HISTORY_H */
