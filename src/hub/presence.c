/* SPDX-License-Identifier: MIT */
/*
 * presence.c -- who is in a room, told to its ringcast.v1 members
 * (docs/PROTOCOL.md).
 *
 * The library keeps the members (rc_config.presence: a count and a list
 * per room, server-wide, touched on subscribe and unsubscribe only); this
 * decides what the members are told, within bounds:
 *  - in a room of at most hub_presence_max members, a join or leave is
 *    one control line (RC_PUB_CONTROL: v1 members only, framed once,
 *    shared) to the others, while the room's bucket has tokens
 *    (ROOM_RATE a second, ROOM_BURST at once);
 *  - every change also marks the room; a thread sends each marked room,
 *    at most once a second, a snapshot: its members while it has at most
 *    hub_presence_max, its count above. The snapshot is what is true
 *    then: it corrects counts that lines from two workers carried out of
 *    order, lines a slow member dropped, and what a member of a big room
 *    that shrank never had. A room whose bucket is empty, or over the
 *    limit, gets snapshots only: 10,000 members arriving at once cost
 *    10,000 marks and one line a second to each, never 10,000 lines to
 *    each.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hub.h"

unsigned hub_presence_max = 100;
_Atomic uint64_t hub_presence_events, hub_presence_snapshots;

/* A member's entry as JSON, at most: ,{"id":"<16 hex>","sub":"<label>"}
   (8 + 16 + 9 + RC_META_MAX + 2 bytes), with room to spare. */
#define MEMBER_MAX (40 + RC_META_MAX)

/* Join and leave lines a room may get: a second's worth, and at once. */
#define ROOM_RATE 20
#define ROOM_BURST 40

/* ---- the rooms that changed, for the thread; their buckets ---- */

/* An open hash set that grows: its size is bounded by the rooms that
   changed within a second, at most one per subscription. */
struct dirty {
	uint64_t h;
	char *name;		/* NULL: free */
	uint16_t len;
};
static struct dirty *dirty;
static unsigned dirty_cap, ndirty;
static pthread_mutex_t dirty_lock = PTHREAD_MUTEX_INITIALIZER;

/* Join/leave line buckets, by the room's hash: rooms that share one
   share its rate, which only makes them snapshot sooner. */
#define BUCKETS 4096
static struct {
	float tokens;
	int64_t at_ms;		/* last refill */
} bucket[BUCKETS];

static uint64_t seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
	struct timespec ts;

	/* Keyed, so that names chosen to collide cannot make the set's
	   probes long (a lock every worker takes). */
	clock_gettime(CLOCK_REALTIME, &ts);
	seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
	       (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 32) ^
	       (uint64_t)(uintptr_t)&ts;
}

static uint64_t room_hash(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ull ^ seed;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(struct dirty *tab, unsigned cap, struct dirty d)
{
	unsigned i = (unsigned)d.h & (cap - 1);

	while (tab[i].name)
		i = (i + 1) & (cap - 1);
	tab[i] = d;
}

/* Under dirty_lock: mark @room (hash @h) for a snapshot. Out of memory,
   the mark is lost, and the room's next change marks it again. */
static void mark_locked(uint64_t h, const char *room, size_t rlen)
{
	unsigned i;
	char *name;

	if ((ndirty + 1) * 2 > dirty_cap) {
		unsigned cap = dirty_cap ? dirty_cap * 2 : 64;
		struct dirty *tab = calloc(cap, sizeof(*tab));

		if (!tab)
			return;
		for (i = 0; i < dirty_cap; i++)
			if (dirty[i].name)
				put(tab, cap, dirty[i]);
		free(dirty);
		dirty = tab;
		dirty_cap = cap;
	}
	for (i = (unsigned)h & (dirty_cap - 1); dirty[i].name;
	     i = (i + 1) & (dirty_cap - 1))
		if (dirty[i].h == h && dirty[i].len == rlen &&
		    !memcmp(dirty[i].name, room, rlen))
			return;
	name = malloc(rlen);
	if (!name)
		return;
	memcpy(name, room, rlen);
	dirty[i] = (struct dirty){ .h = h, .name = name,
				   .len = (uint16_t)rlen };
	ndirty++;
}

/* Mark @room for a snapshot. */
static void mark(const char *room, size_t rlen)
{
	uint64_t h;

	pthread_once(&seed_once, seed_init);
	h = room_hash(room, rlen);
	pthread_mutex_lock(&dirty_lock);
	mark_locked(h, room, rlen);
	pthread_mutex_unlock(&dirty_lock);
}

/* A token from @room's bucket: may a join/leave line go? */
static bool token(const char *room, size_t rlen)
{
	unsigned b;
	int64_t now = mono_ms();
	float t;
	bool ok;

	pthread_once(&seed_once, seed_init);
	b = (unsigned)(room_hash(room, rlen) >> 40) & (BUCKETS - 1);
	pthread_mutex_lock(&dirty_lock);
	t = bucket[b].tokens + (float)(now - bucket[b].at_ms) * ROOM_RATE / 1000;
	if (!bucket[b].at_ms || t > ROOM_BURST)
		t = ROOM_BURST;
	bucket[b].at_ms = now;
	ok = t >= 1;
	bucket[b].tokens = ok ? t - 1 : t;
	pthread_mutex_unlock(&dirty_lock);
	return ok;
}

/* ---- lines ---- */

/* {"type":"T","room":"R"  -- the start every line shares. */
static char *line_head(char *p, const char *type, const char *room,
		       size_t rlen)
{
	p += sprintf(p, "{\"type\":\"%s\",\"room\":\"", type);
	p = hub_json_put(p, (const unsigned char *)room, rlen);
	*p++ = '"';
	return p;
}

/* "id":"<hex>","sub":"<sub>"|null -- a member's fields. */
static char *id_sub_put(char *p, uint64_t id, const char *sub,
			size_t sublen)
{
	p += sprintf(p, "\"id\":\"%llx\",\"sub\":", (unsigned long long)id);
	if (!sub) {
		memcpy(p, "null", 4);
		return p + 4;
	}
	*p++ = '"';
	memcpy(p, sub, sublen);		/* escaped already */
	p += sublen;
	*p++ = '"';
	return p;
}

static void publish(const char *room, size_t rlen, const char *line,
		    size_t len, uint64_t skip)
{
	struct rc_publish pub = {
		.topic = room, .topic_len = rlen, .data = line, .len = len,
		.op = RC_OP_TEXT, .skip = skip, .flags = RC_PUB_CONTROL,
	};

	rc_publish_ex(hub_server, &pub, NULL);
}

void hub_presence_changed(const char *room, size_t rlen, uint64_t id,
			  const char *sub, size_t sublen, bool joined)
{
	char line[128 + 6 * RC_TOPIC_MAX + MEMBER_MAX], *p;
	long n = rc_presence(hub_server, room, rlen, NULL, NULL);

	if (n < 0)
		return;
	/* A small room's line, while its bucket lets it. Then the mark:
	   a snapshot follows every change, made after it, so the last
	   thing a member hears of a room is what is true. */
	if ((unsigned long)n > hub_presence_max || !token(room, rlen)) {
		mark(room, rlen);
		return;
	}
	if (sublen > RC_META_MAX)	/* as the member list shows it */
		sub = NULL;
	p = line_head(line, joined ? "join" : "leave", room, rlen);
	*p++ = ',';
	p = id_sub_put(p, id, sub, sublen);
	p += sprintf(p, ",\"count\":%ld}", n);
	atomic_fetch_add_explicit(&hub_presence_events, 1,
				  memory_order_relaxed);
	/* Not to the member itself: it learns of the room from its own
	   presence line. */
	publish(room, rlen, line, (size_t)(p - line), id);
	mark(room, rlen);
}

/* The members, as rc_presence() lists them, up to @max, within @end. */
struct list {
	char *p, *end;
	unsigned n, max;
};

static int list_one(void *arg, const struct rc_member *m)
{
	struct list *l = arg;

	if (l->n == l->max || l->end - l->p < MEMBER_MAX ||
	    m->label_len > RC_META_MAX)
		return 1;
	if (l->n++)
		*l->p++ = ',';
	*l->p++ = '{';
	l->p = id_sub_put(l->p, m->id, m->label_len ? m->label : NULL,
			  m->label_len);
	*l->p++ = '}';
	return 0;
}

/* A room's members as JSON into @buf (@cap bytes): its head @kind
   ("presence" for a member, NULL for the admin listing), the members
   while there are at most @max (the admin: the first @max, and
   "truncated"), the count. The length. */
static size_t members_json(char *buf, size_t cap, const char *kind,
			   const char *room, size_t rlen, unsigned max)
{
	struct list l = { .end = buf + cap - 64, .max = max };
	char *p;
	long n;

	if (kind) {
		p = line_head(buf, kind, room, rlen);
	} else {
		p = buf + sprintf(buf, "{\"room\":\"");
		p = hub_json_put(p, (const unsigned char *)room, rlen);
		*p++ = '"';
	}
	/* A big room's line has the count only: no list made for it. */
	n = rc_presence(hub_server, room, rlen, NULL, NULL);
	if (n >= 0 && (!kind || (unsigned long)n <= max)) {
		char *list = p;

		memcpy(p, ",\"members\":[", 12);
		l.p = p + 12;
		n = rc_presence(hub_server, room, rlen, list_one, &l);
		*l.p++ = ']';
		p = l.p;
		if (kind && (unsigned long)n > max)	/* grew meanwhile */
			p = list;
	}
	if (n < 0)
		n = 0;
	if (kind)
		p += sprintf(p, ",\"count\":%ld}", n);
	else
		p += sprintf(p, ",\"count\":%ld,\"truncated\":%s}\n", n,
			     (unsigned long)n > l.n ? "true" : "false");
	return (size_t)(p - buf);
}

/* What members_json() may need. */
static size_t members_cap(size_t rlen, unsigned max)
{
	return 160 + 6 * rlen + (size_t)max * MEMBER_MAX;
}

/* members_json() into this thread's buffer (@grow). */
static size_t members_into(char **out, char *(*grow)(size_t need),
			   const char *kind, const char *room, size_t rlen,
			   unsigned max)
{
	size_t cap = members_cap(rlen, max);
	char *buf = grow(cap);

	if (!buf)
		return 0;
	*out = buf;
	return members_json(buf, cap, kind, room, rlen, max);
}

size_t hub_presence_line(const char *room, size_t rlen, char **out,
			 char *(*grow)(size_t need))
{
	return members_into(out, grow, "presence", room, rlen,
			    hub_presence_max);
}

size_t hub_presence_json(const char *room, size_t rlen, char **out,
			 char *(*grow)(size_t need))
{
	return members_into(out, grow, NULL, room, rlen,
			    HUB_PRESENCE_MAX_LIMIT);
}

/* ---- the thread: a snapshot of each room that changed, once a second ---- */

static pthread_t ticker;
static bool ticking, stop;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond;
static char *snap;		/* the thread's line buffer */

static void send_snapshots(void)
{
	struct dirty *todo;
	unsigned cap;

	pthread_mutex_lock(&dirty_lock);
	todo = dirty;
	cap = dirty_cap;
	dirty = NULL;
	dirty_cap = ndirty = 0;
	pthread_mutex_unlock(&dirty_lock);
	for (unsigned i = 0; i < cap; i++) {
		struct dirty *d = &todo[i];
		size_t len;

		if (!d->name)
			continue;
		len = members_json(snap, members_cap(RC_TOPIC_MAX,
						     hub_presence_max),
				   "presence", d->name, d->len,
				   hub_presence_max);
		atomic_fetch_add_explicit(&hub_presence_snapshots, 1,
					  memory_order_relaxed);
		publish(d->name, d->len, snap, len, 0);
		free(d->name);
	}
	free(todo);
}

static void *tick(void *arg)
{
	struct timespec at;

	(void)arg;
	pthread_mutex_lock(&stop_lock);
	while (!stop) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec++;
		while (!stop && pthread_cond_timedwait(&stop_cond, &stop_lock,
						       &at) != ETIMEDOUT)
			;
		if (stop)
			break;
		pthread_mutex_unlock(&stop_lock);
		send_snapshots();
		pthread_mutex_lock(&stop_lock);
	}
	pthread_mutex_unlock(&stop_lock);
	return NULL;
}

int hub_presence_start(void)
{
	pthread_condattr_t ca;
	int ret;

	snap = malloc(members_cap(RC_TOPIC_MAX, hub_presence_max));
	if (!snap)
		return -ENOMEM;
	/* A clock that does not step: the wall clock set back would stop
	   the lines for that long. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&stop_cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = pthread_create(&ticker, NULL, tick, NULL);
	ticking = !ret;
	if (ret) {
		free(snap);
		snap = NULL;
	}
	return -ret;
}

void hub_presence_stop(void)
{
	if (ticking) {
		pthread_mutex_lock(&stop_lock);
		stop = true;
		pthread_cond_signal(&stop_cond);
		pthread_mutex_unlock(&stop_lock);
		pthread_join(ticker, NULL);
		ticking = false;
	}
	free(snap);
	snap = NULL;
	pthread_mutex_lock(&dirty_lock);
	for (unsigned i = 0; i < dirty_cap; i++)
		free(dirty[i].name);
	free(dirty);
	dirty = NULL;
	dirty_cap = ndirty = 0;
	pthread_mutex_unlock(&dirty_lock);
}
