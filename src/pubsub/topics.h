/* SPDX-License-Identifier: MIT */
/* topics.h -- the server-wide table: which workers have subscribers of a topic. */
#ifndef RC_TOPICS_H
#define RC_TOPICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A slot: a topic hash and the workers with local subscribers of it (a bit
 * per worker). Publishers read slots with no lock (the publish path is
 * lock-free); workers change them under @lock, only when a topic gets its
 * first subscriber on that worker or loses its last, never per message.
 * A hash collision only means a worker gets a message its local map then
 * ignores (counted in pubsub_misses): the hint may be a superset, never a
 * subset.
 */
struct rc_topic_slot {
	_Atomic uint64_t hash;		/* RC_SLOT_EMPTY, RC_SLOT_TOMB, or one */
	_Atomic uint64_t workers;
	/* Of those, the workers with subscribers that take the shared
	   compressed frame (permessage-deflate, shared mode): a publish
	   compresses only when one of its targets is here. */
	_Atomic uint64_t zworkers;
	/* And those with subscribers that take the stamped frame
	   (rc_conn_stamped()): a publish stamps only when one is here. */
	_Atomic uint64_t sworkers;
};

#define RC_SLOT_EMPTY 0ull
#define RC_SLOT_TOMB 1ull

/*
 * Open addressing with linear probing, at most RC_SLOT_PROBES slots from a
 * hash's home. A topic whose last subscriber anywhere leaves gives its slot
 * back (a tombstone, turned empty again when nothing can probe past it), so
 * the table holds the topics live now, not every topic ever seen. Hashes
 * are SipHash-1-3 under a random key per server, so names cannot be chosen
 * to collide. A topic that finds no slot (more than the table's live
 * topics, or a full probe window) is counted in @overflow by its worker,
 * which tries again once a second; while any is, a publish whose topic is
 * not in the table goes to every worker.
 */
struct rc_topic_table {
	struct rc_topic_slot *slots;
	uint32_t mask;
	uint64_t key[2];
	pthread_mutex_t lock;
	_Atomic unsigned overflow;
};

#define RC_SLOT_PROBES 64

/* @max_topics slots, rounded up to a power of two; a random key. 0 or
   -ENOMEM. */
int rc__topics_init(struct rc_topic_table *t, unsigned max_topics);
void rc__topics_free(struct rc_topic_table *t);

/* The keyed hash of a topic name; never RC_SLOT_EMPTY or RC_SLOT_TOMB. */
uint64_t rc__topics_hash(const struct rc_topic_table *t, const void *name,
			 size_t len);

/* Worker @w has subscribers of hash @h now: its slot (found or claimed),
   or NULL when none is free (the caller counts it in @overflow). */
struct rc_topic_slot *rc__topics_join(struct rc_topic_table *t, uint64_t h,
				      unsigned w);
/* Worker @w has no subscriber of the slot's hash any more: clear its bit,
   and give the slot back if it was the last. */
void rc__topics_leave(struct rc_topic_table *t, struct rc_topic_slot *sl,
		      unsigned w);

/* Worker @w does (@on) or does not have subscribers of the slot's hash
   that take compressed frames. No lock: the bit is only @w's. */
void rc__topics_zset(struct rc_topic_slot *sl, unsigned w, bool on);
void rc__topics_sset(struct rc_topic_slot *sl, unsigned w, bool on);

/* The workers a message on hash @h must go to (of @nworkers), and in
   *@z those of them with subscribers taking compressed frames (all of
   them when the topic is not in the table). */
uint64_t rc__topics_targets(struct rc_topic_table *t, uint64_t h,
			    unsigned nworkers, uint64_t *z);
/* The same, and in *@s (may be NULL) the workers wanting it stamped. */
uint64_t rc__topics_targets_s(struct rc_topic_table *t, uint64_t h,
			      unsigned nworkers, uint64_t *z, uint64_t *s);

#endif /* RC_TOPICS_H */
