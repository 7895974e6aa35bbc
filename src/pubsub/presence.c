/* SPDX-License-Identifier: MIT */
/* presence.c -- who subscribes to each topic, server-wide (presence.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub/presence.h"
#include "pubsub/ps.h"
#include "runtime/alloc.h"
#include "runtime/rt.h"

struct rc_pmember {
	uint64_t id;
	struct rc_sub *sub;		/* its pidx follows a swap-remove */
	char *label;			/* NULL when empty */
	uint16_t label_len;
};

struct rc_proom {
	struct rc_proom *next;
	uint64_t h;
	long count;			/* subscribers, listed or not */
	struct rc_pmember *m;		/* the listed ones */
	uint32_t n, cap;
	uint16_t len;
	uint8_t name[];
};

int rc__pres_init(struct rc_presence *P,
		  int (*label)(void *, struct rc_conn *, char *, size_t),
		  void *user)
{
	memset(P, 0, sizeof(*P));
	for (unsigned i = 0; i < RC_PRES_STRIPES; i++)
		pthread_mutex_init(&P->st[i].lock, NULL);
	P->label = label;
	P->user = user;
	return 0;
}

void rc__pres_free(struct rc_presence *P)
{
	for (unsigned i = 0; i < RC_PRES_STRIPES; i++) {
		struct rc_pres_stripe *st = &P->st[i];

		for (uint32_t b = 0; b < st->cap; b++) {
			struct rc_proom *r = st->tab[b], *next;

			for (; r; r = next) {
				next = r->next;
				for (uint32_t k = 0; k < r->n; k++)
					free(r->m[k].label);
				free(r->m);
				free(r);
			}
		}
		free(st->tab);
		pthread_mutex_destroy(&st->lock);
	}
}

static struct rc_pres_stripe *stripe(struct rc_presence *P, uint64_t h)
{
	return &P->st[h & (RC_PRES_STRIPES - 1)];
}

static struct rc_proom **slot(struct rc_pres_stripe *st, uint64_t h,
			      const void *name, size_t len)
{
	struct rc_proom **pp;

	if (!st->cap)
		return NULL;
	for (pp = &st->tab[(h >> 6) & (st->cap - 1)]; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && (*pp)->len == len &&
		    !memcmp((*pp)->name, name, len))
			return pp;
	return pp;
}

/* Keep chains short: at most one room per bucket on average. */
static int grow(struct rc_pres_stripe *st)
{
	uint32_t cap = st->cap ? st->cap * 2 : 16;
	struct rc_proom **tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t b = 0; b < st->cap; b++) {
		struct rc_proom *r = st->tab[b], *next;

		for (; r; r = next) {
			struct rc_proom **to = &tab[(r->h >> 6) & (cap - 1)];

			next = r->next;
			r->next = *to;
			*to = r;
		}
	}
	free(st->tab);
	st->tab = tab;
	st->cap = cap;
	return 0;
}

int rc__pres_join(struct rc_presence *P, uint64_t h, const void *name,
		  size_t len, struct rc_sub *sub, struct rc_conn *c)
{
	struct rc_pres_stripe *st = stripe(P, h);
	char lbuf[RC_META_MAX + 1], *label = NULL;
	int llen = P->label ? P->label(P->user, c, lbuf, RC_META_MAX) : 0;
	struct rc_proom **pp, *r;
	int ret = -ENOMEM;

	/* Longer than it may be: listed without it rather than cut
	   (perhaps inside a character). */
	if (llen > RC_META_MAX)
		llen = 0;
	/* The label's copy is made before the lock, and dropped if the
	   join fails. */
	if (llen > 0) {
		label = rc__malloc((size_t)llen);
		if (!label)
			return -ENOMEM;
		memcpy(label, lbuf, (size_t)llen);
	}
	sub->pidx = RC_PIDX_NONE;
	pthread_mutex_lock(&st->lock);
	if ((st->count + 1) > st->cap && grow(st))
		goto out;
	pp = slot(st, h, name, len);
	r = *pp;
	if (!r) {
		r = rc__malloc(sizeof(*r) + len);
		if (!r)
			goto out;
		memset(r, 0, sizeof(*r));
		r->h = h;
		r->len = (uint16_t)len;
		memcpy(r->name, name, len);
		*pp = r;
		st->count++;
	}
	if (llen >= 0) {
		if (r->n == r->cap) {
			uint32_t cap = r->cap ? r->cap * 2 : 4;
			struct rc_pmember *m = rc__realloc(r->m,
							 cap * sizeof(*m));

			if (!m) {
				if (!r->count) {	/* made just now */
					*pp = r->next;
					st->count--;
					free(r->m);
					free(r);
				}
				goto out;
			}
			r->m = m;
			r->cap = cap;
		}
		r->m[r->n] = (struct rc_pmember){
			.id = rc_conn_id(c), .sub = sub, .label = label,
			.label_len = (uint16_t)llen,
		};
		sub->pidx = r->n++;
		label = NULL;
	}
	r->count++;
	ret = 0;
out:
	pthread_mutex_unlock(&st->lock);
	free(label);
	return ret;
}

void rc__pres_leave(struct rc_presence *P, uint64_t h, const void *name,
		    size_t len, struct rc_sub *sub)
{
	struct rc_pres_stripe *st = stripe(P, h);
	struct rc_proom **pp, *r;
	char *label = NULL;

	pthread_mutex_lock(&st->lock);
	pp = slot(st, h, name, len);
	r = pp ? *pp : NULL;
	if (!r)
		goto out;	/* its join failed */
	if (sub->pidx != RC_PIDX_NONE) {
		uint32_t i = sub->pidx;

		label = r->m[i].label;
		r->m[i] = r->m[--r->n];
		if (i < r->n)
			r->m[i].sub->pidx = i;
		sub->pidx = RC_PIDX_NONE;
	}
	if (!--r->count) {
		*pp = r->next;
		st->count--;
		free(r->m);
		free(r);
	} else if (r->n && r->n * 4 < r->cap && r->cap > 16) {
		/* A room that emptied gives its list back. */
		struct rc_pmember *m = realloc(r->m, r->cap / 2 * sizeof(*m));

		if (m) {
			r->m = m;
			r->cap /= 2;
		}
	}
out:
	pthread_mutex_unlock(&st->lock);
	free(label);
}

long rc__pres_list(struct rc_presence *P, uint64_t h, const void *name,
		   size_t len, int (*fn)(void *, const struct rc_member *),
		   void *arg)
{
	struct rc_pres_stripe *st = stripe(P, h);
	struct rc_proom **pp, *r;
	long count = 0;

	pthread_mutex_lock(&st->lock);
	pp = slot(st, h, name, len);
	r = pp ? *pp : NULL;
	if (r) {
		count = r->count;
		for (uint32_t i = 0; fn && i < r->n; i++) {
			struct rc_member m = { .id = r->m[i].id,
					       .label = r->m[i].label,
					       .label_len = r->m[i].label_len };

			if (fn(arg, &m))
				break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return count;
}

long rc_presence(struct rc_server *s, const void *topic, size_t len,
		 int (*fn)(void *arg, const struct rc_member *m), void *arg)
{
	struct rc_ps *ps;

	if (!s || !topic || !len || len > RC_TOPIC_MAX)
		return -EINVAL;
	ps = rc__server_ps(s);
	if (!ps->pres)
		return -ENOTSUP;
	return rc__pres_list(ps->pres, rc__topics_hash(&ps->topics, topic, len),
			     topic, len, fn, arg);
}
