/* SPDX-License-Identifier: MIT */
/* subs.c -- a worker's topics and their local subscribers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/bridge.h"
#include "pubsub/history.h"
#include "pubsub/presence.h"
#include "pubsub/ps.h"
#include "ringcast.h"
#include "runtime/alloc.h"
#include "runtime/rt.h"

/* A deleted entry in a worker's topic map. */
#define TOMB ((struct rc_topic *)1)

static bool topic_is(const struct rc_topic *t, uint64_t h, const void *name,
		     size_t len)
{
	return t != TOMB && t->hash == h && t->len == len &&
	       !memcmp(t->name, name, len);
}

struct rc_topic *rc__ps_find(struct rc_ps_worker *pw, uint64_t h,
			     const void *name, size_t len)
{
	uint32_t mask = pw->topic_cap - 1;

	if (!pw->topic_cap)
		return NULL;
	/* At most half the map is used, so a probe ends at an empty entry;
	   the keyed hash keeps probes short whatever the names. */
	for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
		struct rc_topic *t = pw->topics[i];

		if (!t)
			return NULL;
		if (topic_is(t, h, name, len))
			return t;
	}
}

/* Another local topic with hash @h (two names, one 64-bit hash: they
   share a slot of the shared table and this worker's bit in it). */
static struct rc_topic *same_hash(struct rc_ps_worker *pw, uint64_t h,
				  const struct rc_topic *except)
{
	uint32_t mask = pw->topic_cap - 1;

	for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
		struct rc_topic *t = pw->topics[i];

		if (!t)
			return NULL;
		if (t != TOMB && t != except && t->hash == h)
			return t;
	}
}

static void map_place(struct rc_topic **tab, uint32_t cap, struct rc_topic *t)
{
	uint32_t i = (uint32_t)t->hash & (cap - 1);

	while (tab[i] && tab[i] != TOMB)
		i = (i + 1) & (cap - 1);
	tab[i] = t;
}

static int map_insert(struct rc_ps_worker *pw, struct rc_topic *t)
{
	/* Keep the table at most half used (tombstones included), so a
	   probe always ends at an empty entry; rebuilding drops the
	   tombstones, and shrinks a map that churn had grown. */
	if ((pw->topic_used + 1) * 2 > pw->topic_cap) {
		uint32_t cap = 32;
		struct rc_topic **tab;

		while ((pw->topic_count + 1) * 4 > cap)
			cap *= 2;
		tab = calloc(cap, sizeof(*tab));
		if (!tab)
			return -ENOMEM;
		for (uint32_t i = 0; i < pw->topic_cap; i++)
			if (pw->topics[i] && pw->topics[i] != TOMB)
				map_place(tab, cap, pw->topics[i]);
		free(pw->topics);
		pw->topics = tab;
		pw->topic_cap = cap;
		pw->topic_used = pw->topic_count;
	}
	map_place(pw->topics, pw->topic_cap, t);
	pw->topic_count++;
	pw->topic_used++;
	return 0;
}

static void map_remove(struct rc_ps_worker *pw, struct rc_topic *t)
{
	uint32_t mask = pw->topic_cap - 1;

	for (uint32_t i = (uint32_t)t->hash & mask;; i = (i + 1) & mask) {
		if (pw->topics[i] == t) {
			pw->topics[i] = TOMB;
			pw->topic_count--;
			return;
		}
	}
}

/* @n more (or fewer) local topics without a slot in the shared table. */
static void overflow_add(struct rc_ps_worker *pw, int n)
{
	if (n > 0)
		atomic_fetch_add(&pw->ps->topics.overflow, (unsigned)n);
	else
		atomic_fetch_sub(&pw->ps->topics.overflow, (unsigned)-n);
	pw->nslotless += n;
}

/* Tell the shared table whether this worker wants @t's hash compressed:
   any local topic of that hash with a subscriber taking compressed
   frames. */
static void z_update(struct rc_ps_worker *pw, struct rc_topic *t)
{
	struct rc_topic *same;

	if (!t->slot)
		return;
	same = t->nz ? NULL : same_hash(pw, t->hash, t);
	rc__topics_zset(t->slot, pw->idx, t->nz || (same && same->nz));
}

/* The same for stamped frames (rc_conn_stamped()). */
static void s_update(struct rc_ps_worker *pw, struct rc_topic *t)
{
	struct rc_topic *same;

	if (!t->slot)
		return;
	same = t->ns ? NULL : same_hash(pw, t->hash, t);
	rc__topics_sset(t->slot, pw->idx, t->ns || (same && same->ns));
}

/* @t has no subscriber left on this worker: forget it, and tell the
   shared table unless another local topic has the same hash (then that
   one keeps the slot, or takes it over if it had none). */
static void topic_drop(struct rc_ps_worker *pw, struct rc_topic *t)
{
	struct rc_topic *same;

	if (pw->ps->bridge)
		rc__bridge_interest(pw->ps->bridge, t->hash, t->name, t->len,
				    -1);
	map_remove(pw, t);
	same = same_hash(pw, t->hash, t);
	if (!t->slot)
		overflow_add(pw, -1);
	else if (!same)
		rc__topics_leave(&pw->ps->topics, t->slot, pw->idx);
	else if (!same->slot) {
		same->slot = t->slot;
		overflow_add(pw, -1);
	}
	if (same) {
		z_update(pw, same);
		s_update(pw, same);
	}
	free(t->subs);
	free(t);
}

static void sub_remove(struct rc_ps_worker *pw, struct rc_sub *sub)
{
	struct rc_topic *t = sub->topic;

	if (pw->ps->pres)
		rc__pres_leave(pw->ps->pres, t->hash, t->name, t->len, sub);
	if (rc__conn_takes_zframe(sub->conn) && !--t->nz && t->nsubs > 1)
		z_update(pw, t);
	if (rc__conn_takes_sframe(sub->conn) && !--t->ns && t->nsubs > 1)
		s_update(pw, t);
	t->subs[sub->idx] = t->subs[--t->nsubs];
	t->subs[sub->idx]->idx = sub->idx;
	free(sub);
	if (!t->nsubs)
		topic_drop(pw, t);
}

/* A new local topic, in the map and in the shared table. */
static struct rc_topic *topic_new(struct rc_ps_worker *pw, uint64_t h,
				  const void *name, size_t len)
{
	struct rc_topic *t = rc__malloc(sizeof(*t) + len);
	struct rc_topic *same;

	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->hash = h;
	t->len = (uint16_t)len;
	memcpy(t->name, name, len);
	if (map_insert(pw, t)) {
		free(t);
		return NULL;
	}
	same = same_hash(pw, h, t);
	t->slot = same ? same->slot :
		  rc__topics_join(&pw->ps->topics, h, pw->idx);
	if (!t->slot)		/* each slotless topic is counted */
		overflow_add(pw, 1);
	if (pw->ps->bridge)
		rc__bridge_interest(pw->ps->bridge, h, name, len, 1);
	return t;
}

int rc_subscribe(struct rc_conn *c, const void *topic, size_t len)
{
	struct rc_ps_worker *pw;
	struct rc_sub *sub, **subs;
	struct rc_topic *t;
	unsigned n = 0;
	uint64_t h;

	if (!c || !topic || !len || len > RC_TOPIC_MAX)
		return -EINVAL;
	if (!rc__conn_is_open(c))
		return -EPIPE;
	pw = rc__conn_ps(c);
	subs = rc__conn_subs(c);
	h = rc__topics_hash(&pw->ps->topics, topic, len);
	t = rc__ps_find(pw, h, topic, len);
	for (sub = *subs; sub; sub = sub->next, n++)
		if (t && sub->topic == t)
			return 0;
	if (!rc__conn_sub_allowed(c, n))
		return -ENOSPC;
	if (!t) {
		t = topic_new(pw, h, topic, len);
		if (!t)
			return -ENOMEM;
	}
	if (t->nsubs == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 4;
		struct rc_sub **v = rc__realloc(t->subs, cap * sizeof(*v));

		if (!v)
			goto out_unused;
		t->subs = v;
		t->cap = cap;
	}
	sub = rc__malloc(sizeof(*sub));
	if (!sub)
		goto out_unused;
	sub->topic = t;
	sub->conn = c;
	sub->pidx = RC_PIDX_NONE;
	if (pw->ps->pres &&
	    rc__pres_join(pw->ps->pres, h, topic, len, sub, c)) {
		free(sub);
		goto out_unused;
	}
	sub->idx = t->nsubs;
	sub->next = *subs;
	*subs = sub;
	t->subs[t->nsubs++] = sub;
	if (rc__conn_takes_zframe(c) && !t->nz++)
		z_update(pw, t);
	if (rc__conn_takes_sframe(c) && !t->ns++)
		s_update(pw, t);
	return 0;
out_unused:
	if (!t->nsubs)
		topic_drop(pw, t);
	return -ENOMEM;
}

int rc_unsubscribe(struct rc_conn *c, const void *topic, size_t len)
{
	struct rc_sub **pp;

	if (!c || !topic || !len || len > RC_TOPIC_MAX)
		return -EINVAL;
	for (pp = rc__conn_subs(c); *pp; pp = &(*pp)->next) {
		struct rc_sub *sub = *pp;

		if (sub->topic->len == len &&
		    !memcmp(sub->topic->name, topic, len)) {
			*pp = sub->next;
			sub_remove(rc__conn_ps(c), sub);
			return 0;
		}
	}
	return -ENOENT;
}

void rc__ps_conn_gone(struct rc_conn *c)
{
	struct rc_sub **subs = rc__conn_subs(c);

	while (*subs) {
		struct rc_sub *sub = *subs;

		*subs = sub->next;
		sub_remove(rc__conn_ps(c), sub);
	}
}

void rc__ps_tick(struct rc_ps_worker *pw)
{
	struct timespec ts;

	/* Messages past history_ttl: one worker looks, once a second. */
	if (pw->ps->hist && pw->idx == 0) {
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		rc__hist_sweep(pw->ps->hist, (int64_t)ts.tv_sec * 1000 +
						ts.tv_nsec / 1000000);
	}
	/* Topics that found the shared table full try again: once they all
	   have a slot, publishing stops going to every worker. A bounded
	   number a turn: a table that is full stays full. */
	unsigned tries = 256;

	for (uint32_t i = 0; pw->nslotless && tries && i < pw->topic_cap;
	     i++) {
		struct rc_topic *t = pw->topics[i];

		if (!t || t == TOMB || t->slot)
			continue;
		tries--;
		t->slot = rc__topics_join(&pw->ps->topics, t->hash, pw->idx);
		if (t->slot) {
			overflow_add(pw, -1);
			z_update(pw, t);
			s_update(pw, t);
		}
	}
}

void rc__ps_worker_free(struct rc_ps_worker *pw)
{
	struct rc_inbox_node *n;
	bool busy = false;

	while ((n = rc__inbox_pop(&pw->inbox, &busy)))
		rc__msg_put(n->msg);
	for (uint32_t i = 0; i < pw->topic_cap; i++) {
		struct rc_topic *t = pw->topics[i];

		if (t && t != TOMB) {
			for (uint32_t k = 0; k < t->nsubs; k++)
				free(t->subs[k]);
			free(t->subs);
			free(t);
		}
	}
	free(pw->topics);
	pw->topics = NULL;
	pw->topic_cap = 0;
	free(pw->seams);
	pw->seams = NULL;
	pw->nseams = pw->seams_cap = 0;
}
