/* SPDX-License-Identifier: MIT */
/*
 * presence.h -- who subscribes to each topic, server-wide
 * (rc_config.presence), for rc_presence() from any thread.
 *
 * Workers own their subscriptions (subs.c); this is a second, shared view
 * of them: a hash table of topics in stripes, each under its own mutex,
 * holding per topic the number of subscribers and the listed ones (a
 * connection id and a label, rc_config.presence_label). Each subscription
 * (struct rc_sub) knows its place in its topic's list (pidx), so leaving
 * is a swap-remove, never a scan: a room of 10,000 members that empties
 * costs 10,000 constant-time removals. Touched on subscribe and
 * unsubscribe only, never per message.
 */
#ifndef RC_PRESENCE_H
#define RC_PRESENCE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ringcast.h"

struct rc_sub;
struct rc_proom;

#define RC_PRES_STRIPES 64

struct rc_pres_stripe {
	pthread_mutex_t lock;
	struct rc_proom **tab;		/* chained by hash */
	uint32_t cap, count;
} __attribute__((aligned(64)));

struct rc_presence {
	struct rc_pres_stripe st[RC_PRES_STRIPES];
	int (*label)(void *user, struct rc_conn *c, char *out, size_t cap);
	void *user;
};

int rc__pres_init(struct rc_presence *P,
		  int (*label)(void *, struct rc_conn *, char *, size_t),
		  void *user);
void rc__pres_free(struct rc_presence *P);

/* @sub (of @c) joined topic @name (hash @h): counted, and listed unless
   the label callback said not to (sub->pidx set either way). Worker
   thread. 0 or -ENOMEM (nothing changed). */
int rc__pres_join(struct rc_presence *P, uint64_t h, const void *name,
		  size_t len, struct rc_sub *sub, struct rc_conn *c);
/* @sub leaves (before it is freed). */
void rc__pres_leave(struct rc_presence *P, uint64_t h, const void *name,
		    size_t len, struct rc_sub *sub);
/* rc_presence(): the subscriber count, @fn per listed member. */
long rc__pres_list(struct rc_presence *P, uint64_t h, const void *name,
		   size_t len, int (*fn)(void *, const struct rc_member *),
		   void *arg);

#endif
