/* SPDX-License-Identifier: MIT */
/* history.c -- topics' last messages, offsets and epochs (history.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pubsub/history.h"
#include "runtime/alloc.h"

struct rc_hent {
	struct rc_msg *m;
	int64_t ms;			/* when it was published */
	uint64_t off;
};

struct rc_hist {
	struct rc_hist *next;		/* in its bucket */
	uint64_t hash, epoch, last;	/* last: the last offset given */
	uint64_t touched;		/* last publish (ns): eviction order */
	uint64_t own_ver;		/* the hub-set version this server last
					   numbered it at as its owner; 0:
					   numbered elsewhere (history.h) */
	uint32_t head, n;		/* ring: the oldest at head */
	size_t bytes;			/* what it holds, counted in the budget */
	struct rc_hent *ring;		/* size entries, made on first use */
	uint16_t len;
	uint8_t name[];
};

static uint64_t new_epoch(void)
{
	uint64_t e = 0;
	struct timespec ts;

	if (getrandom(&e, sizeof(e), GRND_NONBLOCK) != sizeof(e) || !e) {
		clock_gettime(CLOCK_REALTIME, &ts);
		e = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
		    (uint64_t)ts.tv_sec;
	}
	/* Sent as a JSON number by some clients: keep it within 2^53. */
	e &= (1ull << 53) - 1;
	return e ? e : 1;
}

/* Precise, unlike the entries' coarse milliseconds: the order of the
   last publishes, so that the room being published to now is never the
   stalest. */
static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What a remembered message costs: its allocation and its entry. */
static size_t cost(const struct rc_msg *m)
{
	return (size_t)m->overhead + rc__msg_frames(m) +
	       sizeof(struct rc_hent);
}

int rc__hist_init(struct rc_history *H, unsigned size, unsigned ttl_ms,
		  size_t budget)
{
	memset(H, 0, sizeof(*H));
	H->size = size;
	H->ttl_ms = ttl_ms;
	H->budget = budget;
	pthread_mutex_init(&H->evict_lock, NULL);
	for (unsigned i = 0; i < RC_HIST_STRIPES; i++) {
		struct rc_hist_stripe *st = &H->stripes[i];

		pthread_mutex_init(&st->lock, NULL);
		st->cap = 16;
		st->buckets = calloc(st->cap, sizeof(*st->buckets));
		if (!st->buckets)
			return -ENOMEM;
	}
	return 0;
}

static void drop_oldest(struct rc_history *H, struct rc_hist *hi)
{
	struct rc_hent *e = &hi->ring[hi->head];
	size_t c = cost(e->m);

	hi->bytes -= c;
	atomic_fetch_sub(&H->bytes, c);
	rc__msg_put(e->m);
	e->m = NULL;
	hi->head = (hi->head + 1) % H->size;
	hi->n--;
}

/* A history's own memory (besides its messages): counted too, so that
   many small rooms cannot pass the budget. */
static size_t own_cost(const struct rc_history *H, const struct rc_hist *hi)
{
	return sizeof(*hi) + hi->len + (hi->ring ? H->size *
					sizeof(*hi->ring) : 0);
}

static void hist_free(struct rc_history *H, struct rc_hist *hi)
{
	while (hi->n)
		drop_oldest(H, hi);
	atomic_fetch_sub(&H->bytes, own_cost(H, hi));
	free(hi->ring);
	free(hi);
	atomic_fetch_sub(&H->rooms, 1);
}

void rc__hist_free(struct rc_history *H)
{
	for (unsigned i = 0; i < RC_HIST_STRIPES; i++) {
		struct rc_hist_stripe *st = &H->stripes[i];

		for (uint32_t b = 0; st->buckets && b < st->cap; b++) {
			struct rc_hist *hi = st->buckets[b], *next;

			for (; hi; hi = next) {
				next = hi->next;
				hist_free(H, hi);
			}
		}
		free(st->buckets);
		st->buckets = NULL;
		pthread_mutex_destroy(&st->lock);
	}
	pthread_mutex_destroy(&H->evict_lock);
}

struct rc_hist_stripe *rc__hist_lock(struct rc_history *H, uint64_t h)
{
	/* The low bits pick the bucket inside the stripe: the stripe takes
	   high ones. */
	struct rc_hist_stripe *st = &H->stripes[(h >> 58) % RC_HIST_STRIPES];

	pthread_mutex_lock(&st->lock);
	return st;
}

void rc__hist_unlock(struct rc_hist_stripe *st)
{
	pthread_mutex_unlock(&st->lock);
}

static struct rc_hist **find(struct rc_hist_stripe *st, uint64_t h,
			     const void *name, size_t len)
{
	struct rc_hist **pp = &st->buckets[h & (st->cap - 1)];

	while (*pp && !((*pp)->hash == h && (*pp)->len == len &&
			!memcmp((*pp)->name, name, len)))
		pp = &(*pp)->next;
	return pp;
}

static void grow(struct rc_hist_stripe *st)
{
	uint32_t cap = st->cap * 2;
	struct rc_hist **tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return;		/* longer chains; still correct */
	for (uint32_t b = 0; b < st->cap; b++) {
		struct rc_hist *hi = st->buckets[b], *next;

		for (; hi; hi = next) {
			next = hi->next;
			hi->next = tab[hi->hash & (cap - 1)];
			tab[hi->hash & (cap - 1)] = hi;
		}
	}
	free(st->buckets);
	st->buckets = tab;
	st->cap = cap;
}

/* The topic's history, made (with a new epoch) if it has none. */
static struct rc_hist *get(struct rc_history *H, struct rc_hist_stripe *st,
			   uint64_t h, const void *name, size_t len)
{
	struct rc_hist **pp = find(st, h, name, len), *hi = *pp;

	if (!hi) {
		if (st->count + 1 > st->cap) {
			grow(st);
			pp = find(st, h, name, len);
		}
		hi = calloc(1, sizeof(*hi) + len);
		if (!hi)
			return NULL;
		hi->hash = h;
		hi->epoch = new_epoch();
		hi->len = (uint16_t)len;
		memcpy(hi->name, name, len);
		*pp = hi;
		st->count++;
		atomic_fetch_add(&H->rooms, 1);
		atomic_fetch_add(&H->bytes, sizeof(*hi) + len);
	}
	if (!hi->ring) {
		hi->ring = calloc(H->size, sizeof(*hi->ring));
		if (!hi->ring)
			return NULL;
		atomic_fetch_add(&H->bytes, H->size * sizeof(*hi->ring));
	}
	return hi;
}

int rc__hist_next(struct rc_history *H, struct rc_hist_stripe *st,
		  uint64_t h, const void *name, size_t len,
		  struct rc_hpos *pos, struct rc_hist **out)
{
	struct rc_hist *hi = get(H, st, h, name, len);

	if (!hi)
		return -ENOMEM;
	pos->epoch = hi->epoch;
	pos->offset = ++hi->last;
	*out = hi;
	return 0;
}

void rc__hist_reset(struct rc_history *H, struct rc_hist *hi)
{
	while (hi->n)
		drop_oldest(H, hi);
	hi->head = 0;
}

int rc__hist_next_owned(struct rc_history *H, struct rc_hist_stripe *st,
			uint64_t h, const void *name, size_t len, uint64_t ver,
			bool (*same)(void *, uint64_t), void *arg,
			struct rc_hpos *pos, struct rc_hist **out)
{
	struct rc_hist *hi = get(H, st, h, name, len);

	if (!hi)
		return -ENOMEM;
	/* Made just now (last 0): its epoch is new already. */
	if (hi->last && !(hi->own_ver && same(arg, hi->own_ver))) {
		rc__hist_reset(H, hi);
		hi->epoch = new_epoch();
		hi->last = 0;
	}
	hi->own_ver = ver;
	pos->epoch = hi->epoch;
	pos->offset = ++hi->last;
	*out = hi;
	return 0;
}

int rc__hist_at(struct rc_history *H, struct rc_hist_stripe *st, uint64_t h,
		const void *name, size_t len, const struct rc_hpos *pos,
		struct rc_hist **out, uint64_t *gap)
{
	struct rc_hist *hi = get(H, st, h, name, len);
	bool fresh;

	*gap = 0;
	if (!hi)
		return -ENOMEM;
	fresh = !hi->last && !hi->n;
	*out = hi;
	if (!fresh && pos->epoch == hi->epoch && pos->offset <= hi->last)
		return -EALREADY;
	/* Numbered elsewhere now: should this server number it later, it
	   starts a new epoch. */
	hi->own_ver = 0;
	if (!fresh && pos->epoch == hi->epoch && pos->offset == hi->last + 1) {
		hi->last = pos->offset;
		return 0;
	}
	/* Another epoch (a new owner), a jump (lost on the way), or the
	   first heard of: the window holds only what follows without a
	   hole, so it restarts here. */
	if (!fresh && pos->epoch == hi->epoch)
		*gap = pos->offset - hi->last - 1;
	rc__hist_reset(H, hi);
	hi->epoch = pos->epoch;
	hi->last = pos->offset;
	return 1;
}

void rc__hist_forget(struct rc_history *H, uint64_t h, const void *name,
		     size_t len, bool (*keep)(void *, uint64_t), void *arg)
{
	struct rc_hist_stripe *st = rc__hist_lock(H, h);
	struct rc_hist **pp = find(st, h, name, len), *hi = *pp;

	if (hi && !(hi->own_ver && keep(arg, hi->own_ver))) {
		*pp = hi->next;
		st->count--;
		hist_free(H, hi);
	}
	rc__hist_unlock(st);
}

void rc__hist_undo(struct rc_hist *hi)
{
	hi->last--;
}

/* Drop what is past its age (the oldest first). */
static void expire(struct rc_history *H, struct rc_hist *hi, int64_t now_ms)
{
	uint64_t n = 0;

	if (!H->ttl_ms)
		return;
	while (hi->n && now_ms - hi->ring[hi->head].ms > H->ttl_ms) {
		drop_oldest(H, hi);
		n++;
	}
	if (n)
		atomic_fetch_add(&H->expired, n);
}

void rc__hist_append(struct rc_history *H, struct rc_hist *hi,
		     struct rc_msg *m, int64_t now_ms)
{
	struct rc_hent *e;
	size_t c = cost(m);

	expire(H, hi, now_ms);
	if (hi->n == H->size)
		drop_oldest(H, hi);
	e = &hi->ring[(hi->head + hi->n) % H->size];
	rc__msg_get(m, 1);
	e->m = m;
	e->ms = now_ms;
	e->off = hi->last;
	hi->n++;
	hi->bytes += c;
	hi->touched = mono_ns();
	atomic_fetch_add(&H->bytes, c);
}

int rc__hist_since(struct rc_history *H, struct rc_hist_stripe *st,
		   uint64_t h, const void *name, size_t len,
		   const struct rc_hpos *since, unsigned last,
		   struct rc_msg **out, unsigned cap, unsigned *n,
		   struct rc_hpos *now, int64_t now_ms)
{
	struct rc_hist *hi = *find(st, h, name, len);
	uint64_t first, from;
	uint32_t skip, take;
	int recovered = 0;

	*n = 0;
	now->epoch = hi ? hi->epoch : 0;
	now->offset = hi ? hi->last : 0;
	/* Nothing kept (never, or dropped: a restart, an eviction): a
	   client that held a position cannot recover. */
	if (!hi)
		return 0;
	expire(H, hi, now_ms);
	/* The offsets held: first .. last (first = last + 1 when none). */
	first = hi->last - hi->n + 1;
	if (since && since->epoch == hi->epoch && since->offset <= hi->last &&
	    since->offset + 1 >= first) {
		from = since->offset + 1;
		recovered = 1;
	} else if (last) {
		from = hi->last - (last < hi->n ? last : hi->n) + 1;
	} else {
		return 0;
	}
	skip = (uint32_t)(from - first);
	take = hi->n - skip;
	if (take > cap)
		take = cap;
	for (uint32_t i = 0; i < take; i++) {
		struct rc_hent *e = &hi->ring[(hi->head + skip + i) % H->size];

		rc__msg_get(e->m, 1);
		out[i] = e->m;
	}
	*n = take;
	return recovered;
}

struct stale {
	uint64_t ns;
	size_t bytes;
};

static int stale_cmp(const void *a, const void *b)
{
	const struct stale *x = a, *y = b;

	return x->ns < y->ns ? -1 : x->ns > y->ns;
}

/* The last publish time at or before which the stalest histories hold
   @need bytes: one pass over every history, then a sort. False if it
   cannot allocate. */
static bool stale_cutoff(struct rc_history *H, size_t need, uint64_t *cut)
{
	size_t cap = atomic_load(&H->rooms) + 64, n = 0, sum = 0;
	struct stale *v = malloc(cap * sizeof(*v));

	if (!v)
		return false;
	for (unsigned i = 0; i < RC_HIST_STRIPES; i++) {
		struct rc_hist_stripe *st = &H->stripes[i];

		pthread_mutex_lock(&st->lock);
		/* (Histories made since the count are the freshest: left.) */
		for (uint32_t b = 0; b < st->cap; b++)
			for (struct rc_hist *hi = st->buckets[b];
			     hi && n < cap; hi = hi->next)
				v[n++] = (struct stale){
					hi->touched, hi->bytes + own_cost(H, hi) };
		pthread_mutex_unlock(&st->lock);
	}
	if (!n) {
		free(v);
		return false;
	}
	qsort(v, n, sizeof(*v), stale_cmp);
	*cut = v[n - 1].ns;
	for (size_t i = 0; i < n; i++) {
		sum += v[i].bytes;
		if (sum >= need) {
			*cut = v[i].ns;
			break;
		}
	}
	free(v);
	return true;
}

/* Drop every history last published at or before @cut: how many (bytes
   would not do: other threads append meanwhile). */
static size_t evict_to(struct rc_history *H, uint64_t cut)
{
	size_t dropped = 0;

	for (unsigned i = 0; i < RC_HIST_STRIPES; i++) {
		struct rc_hist_stripe *st = &H->stripes[i];

		pthread_mutex_lock(&st->lock);
		for (uint32_t b = 0; b < st->cap; b++) {
			struct rc_hist **pp = &st->buckets[b], *hi;

			while ((hi = *pp)) {
				if (hi->touched > cut) {
					pp = &hi->next;
					continue;
				}
				*pp = hi->next;
				st->count--;
				hist_free(H, hi);
				atomic_fetch_add(&H->evicted, 1);
				dropped++;
			}
		}
		pthread_mutex_unlock(&st->lock);
	}
	return dropped;
}

void rc__hist_enforce(struct rc_history *H)
{
	size_t goal = H->budget / 10 * 9, now;

	if (atomic_load_explicit(&H->bytes, memory_order_relaxed) <=
	    H->budget || pthread_mutex_trylock(&H->evict_lock))
		return;
	/* Whole histories, the stalest of all stripes first: a topic keeps
	   all its window or none of it (its epoch is new when it starts
	   again), so a client is told exactly when it cannot recover. In
	   batches: the publish time below which enough of them lie, found
	   in one pass and a sort, then one more pass to drop them (one scan
	   per history dropped took seconds with tens of thousands of
	   rooms). */
	while ((now = atomic_load(&H->bytes)) > goal) {
		uint64_t cut;

		/* Out of memory for the list, or nothing dropped (all
		   published since): the next publish over the budget tries
		   again. */
		if (!stale_cutoff(H, now - goal, &cut) || !evict_to(H, cut))
			break;
	}
	pthread_mutex_unlock(&H->evict_lock);
}

void rc__hist_sweep(struct rc_history *H, int64_t now_ms)
{
	if (!H->ttl_ms)
		return;
	for (unsigned i = 0; i < RC_HIST_STRIPES; i++) {
		struct rc_hist_stripe *st = &H->stripes[i];

		pthread_mutex_lock(&st->lock);
		for (uint32_t b = 0; b < st->cap; b++)
			for (struct rc_hist *hi = st->buckets[b]; hi;
			     hi = hi->next)
				expire(H, hi, now_ms);
		pthread_mutex_unlock(&st->lock);
	}
}
