/* SPDX-License-Identifier: MIT */
/* topics.c -- the server-wide table: which workers have subscribers of a topic. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "pubsub/siphash.h"
#include "pubsub/topics.h"

int rc__topics_init(struct rc_topic_table *t, unsigned max_topics)
{
	uint32_t n = 64;

	while (n < max_topics && n < (1u << 30))
		n <<= 1;
	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = n - 1;
	atomic_init(&t->overflow, 0);
	if (getrandom(t->key, sizeof(t->key), 0) != sizeof(t->key)) {
		/* No entropy source (very old kernel, seccomp): a weaker
		   key from the clock and the table's address is still not
		   one an attacker knows in advance. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t->key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
			    (uint64_t)(uintptr_t)t->slots;
		clock_gettime(CLOCK_REALTIME, &ts);
		t->key[1] = (uint64_t)ts.tv_sec << 30 ^ (uint64_t)ts.tv_nsec;
	}
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void rc__topics_free(struct rc_topic_table *t)
{
	if (!t->slots)
		return;
	free(t->slots);
	t->slots = NULL;
	pthread_mutex_destroy(&t->lock);
}

uint64_t rc__topics_hash(const struct rc_topic_table *t, const void *name,
			 size_t len)
{
	uint64_t h = rc__siphash13(t->key, name, len);

	return h > RC_SLOT_TOMB ? h : h + 2;
}

static struct rc_topic_slot *slot_at(struct rc_topic_table *t, uint64_t h,
				     uint32_t i)
{
	return &t->slots[(h + i) & t->mask];
}

struct rc_topic_slot *rc__topics_join(struct rc_topic_table *t, uint64_t h,
				      unsigned w)
{
	struct rc_topic_slot *sl = NULL, *free_sl = NULL;

	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < RC_SLOT_PROBES && i <= t->mask; i++) {
		struct rc_topic_slot *s = slot_at(t, h, i);
		uint64_t cur = atomic_load_explicit(&s->hash,
						    memory_order_relaxed);

		if (cur == h) {
			sl = s;
			break;
		}
		if (cur == RC_SLOT_TOMB && !free_sl)
			free_sl = s;
		if (cur == RC_SLOT_EMPTY) {
			if (!free_sl)
				free_sl = s;
			break;	/* slots fill in probe order */
		}
	}
	if (!sl && free_sl) {
		sl = free_sl;
		/* Workers first (zero since the slot was freed), then the
		   hash that makes it visible to publishers. */
		atomic_store_explicit(&sl->hash, h, memory_order_release);
	}
	if (sl)
		atomic_fetch_or_explicit(&sl->workers, 1ull << w,
					 memory_order_release);
	pthread_mutex_unlock(&t->lock);
	return sl;
}

void rc__topics_leave(struct rc_topic_table *t, struct rc_topic_slot *sl,
		      unsigned w)
{
	uint32_t i;

	pthread_mutex_lock(&t->lock);
	rc__topics_zset(sl, w, false);
	if (atomic_fetch_and_explicit(&sl->workers, ~(1ull << w),
				      memory_order_release) != 1ull << w)
		goto out_unlock;
	/* Nobody anywhere: the slot goes back. If the next slot is empty,
	   no probe goes past this one, so it (and the tombstones just
	   before it) can be empty again; otherwise it becomes a tombstone
	   that probes step over and claims reuse. */
	i = (uint32_t)(sl - t->slots);
	if (atomic_load_explicit(&t->slots[(i + 1) & t->mask].hash,
				 memory_order_relaxed) != RC_SLOT_EMPTY) {
		atomic_store_explicit(&sl->hash, RC_SLOT_TOMB,
				      memory_order_release);
		goto out_unlock;
	}
	do {
		atomic_store_explicit(&t->slots[i].hash, RC_SLOT_EMPTY,
				      memory_order_release);
		i = (i - 1) & t->mask;
	} while (atomic_load_explicit(&t->slots[i].hash,
				      memory_order_relaxed) == RC_SLOT_TOMB);
out_unlock:
	pthread_mutex_unlock(&t->lock);
}

void rc__topics_zset(struct rc_topic_slot *sl, unsigned w, bool on)
{
	if (on)
		atomic_fetch_or_explicit(&sl->zworkers, 1ull << w,
					 memory_order_relaxed);
	else
		atomic_fetch_and_explicit(&sl->zworkers, ~(1ull << w),
					  memory_order_relaxed);
}

void rc__topics_sset(struct rc_topic_slot *sl, unsigned w, bool on)
{
	if (on)
		atomic_fetch_or_explicit(&sl->sworkers, 1ull << w,
					 memory_order_relaxed);
	else
		atomic_fetch_and_explicit(&sl->sworkers, ~(1ull << w),
					  memory_order_relaxed);
}

uint64_t rc__topics_targets(struct rc_topic_table *t, uint64_t h,
			    unsigned nworkers, uint64_t *z)
{
	return rc__topics_targets_s(t, h, nworkers, z, NULL);
}

uint64_t rc__topics_targets_s(struct rc_topic_table *t, uint64_t h,
			      unsigned nworkers, uint64_t *z, uint64_t *st)
{
	uint64_t all = nworkers >= 64 ? ~0ull : (1ull << nworkers) - 1;

	for (uint32_t i = 0; i < RC_SLOT_PROBES && i <= t->mask; i++) {
		struct rc_topic_slot *s = slot_at(t, h, i);
		uint64_t cur = atomic_load_explicit(&s->hash,
						    memory_order_acquire);

		if (cur == h) {
			*z = atomic_load_explicit(&s->zworkers,
						  memory_order_relaxed);
			if (st)
				*st = atomic_load_explicit(&s->sworkers,
							   memory_order_relaxed);
			return atomic_load_explicit(&s->workers,
						    memory_order_acquire);
		}
		if (cur == RC_SLOT_EMPTY)
			break;
	}
	/* Not in the table: unless some topic had to go without a slot,
	   nobody is subscribed. */
	*z = all;
	if (st)
		*st = all;
	if (!atomic_load_explicit(&t->overflow, memory_order_acquire))
		return 0;
	return all;
}
