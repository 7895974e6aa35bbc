/* SPDX-License-Identifier: MIT */
/*
 * presence.c -- who is in a room, told to its ringcast.v1 members
 * (docs/PROTOCOL.md).
 *
 * The library keeps the members (rc_config.presence: a count and a list
 * per room, server-wide, touched on subscribe and unsubscribe only); this
 * decides what the members are told, within a bound:
 *  - a room of at most hub_presence_max members: each join and leave is
 *    one control line (RC_PUB_CONTROL: v1 members only, framed once,
 *    shared) to the others, so a join costs at most hub_presence_max
 *    deliveries;
 *  - a bigger room: nothing per join or leave, only a mark; a thread
 *    sends each marked room's count at most once a second. 10,000 members
 *    joining at once cost 10,000 marks and one line a second to each,
 *    never 10,000 lines to each.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub.h"

unsigned hub_presence_max = 100;
_Atomic uint64_t hub_presence_events, hub_presence_counts;

/* A member's entry as JSON, at most: {"id":"<16 hex>","sub":"<255>"}, */
#define MEMBER_MAX (32 + RC_META_MAX)

/* ---- the rooms whose count changed, for the thread ---- */

#define DIRTY_CAP 2048		/* a power of two; half used at most */
struct dirty {
	uint64_t h;
	char *name;		/* NULL: free */
	uint16_t len;
};
static struct dirty dirty[DIRTY_CAP];
static unsigned ndirty;
static pthread_mutex_t dirty_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return h;
}

/* Mark @room. A full set drops the mark: the room's next change (or a
   later one) marks it again, so a count is late, never wrong for long. */
static void mark(const char *room, size_t rlen)
{
	uint64_t h = fnv(room, rlen);
	unsigned i;

	pthread_mutex_lock(&dirty_lock);
	for (i = (unsigned)h & (DIRTY_CAP - 1); dirty[i].name;
	     i = (i + 1) & (DIRTY_CAP - 1))
		if (dirty[i].h == h && dirty[i].len == rlen &&
		    !memcmp(dirty[i].name, room, rlen))
			goto out;
	if (ndirty < DIRTY_CAP / 2) {
		dirty[i].name = malloc(rlen);
		if (dirty[i].name) {
			memcpy(dirty[i].name, room, rlen);
			dirty[i].h = h;
			dirty[i].len = (uint16_t)rlen;
			ndirty++;
		}
	}
out:
	pthread_mutex_unlock(&dirty_lock);
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
	if ((unsigned long)n > hub_presence_max) {
		mark(room, rlen);
		return;
	}
	p = line_head(line, joined ? "join" : "leave", room, rlen);
	*p++ = ',';
	p = id_sub_put(p, id, sub, sublen);
	p += sprintf(p, ",\"count\":%ld}", n);
	atomic_fetch_add_explicit(&hub_presence_events, 1,
				  memory_order_relaxed);
	/* Not to the member itself: it learns of the room from its own
	   presence line. */
	publish(room, rlen, line, (size_t)(p - line), id);
}

/* The members, as rc_presence() lists them, up to @max. */
struct list {
	char *p;
	unsigned n, max;
};

static int list_one(void *arg, const struct rc_member *m)
{
	struct list *l = arg;

	if (l->n == l->max)
		return 1;
	if (l->n++)
		*l->p++ = ',';
	*l->p++ = '{';
	l->p = id_sub_put(l->p, m->id, m->label_len ? m->label : NULL,
			  m->label_len);
	*l->p++ = '}';
	return 0;
}

/* "members":[...] of @room into @p, at most @max; the count in *@n. */
static char *members_put(char *p, const char *room, size_t rlen,
			 unsigned max, long *n)
{
	struct list l = { .max = max };

	memcpy(p, ",\"members\":[", 12);
	l.p = p + 12;
	*n = rc_presence(hub_server, room, rlen, list_one, &l);
	*l.p++ = ']';
	return l.p;
}

size_t hub_presence_line(const char *room, size_t rlen, char **out,
			 char *(*grow)(size_t need))
{
	unsigned max = hub_presence_max;
	char *buf = grow(160 + 6 * rlen + (size_t)max * (MEMBER_MAX + 1));
	char *p, *list;
	long n;

	if (!buf)
		return 0;
	p = line_head(buf, "presence", room, rlen);
	list = p;
	p = members_put(p, room, rlen, max, &n);
	if (n < 0)
		n = 0;
	if ((unsigned long)n > max)	/* a big room: the count only */
		p = list;
	p += sprintf(p, ",\"count\":%ld}", n);
	*out = buf;
	return (size_t)(p - buf);
}

size_t hub_presence_json(const char *room, size_t rlen, char **out,
			 char *(*grow)(size_t need))
{
	unsigned max = HUB_PRESENCE_MAX_LIMIT;
	char *buf = grow(160 + 6 * rlen + (size_t)max * (MEMBER_MAX + 1));
	char *p;
	long n;

	if (!buf)
		return 0;
	p = buf + sprintf(buf, "{\"room\":\"");
	p = hub_json_put(p, (const unsigned char *)room, rlen);
	*p++ = '"';
	p = members_put(p, room, rlen, max, &n);
	if (n < 0)
		n = 0;
	p += sprintf(p, ",\"count\":%ld,\"truncated\":%s}\n", n,
		     (unsigned long)n > max ? "true" : "false");
	*out = buf;
	return (size_t)(p - buf);
}

/* ---- the thread: counts of the big rooms, once a second ---- */

static pthread_t ticker;
static bool ticking, stop;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;

static void send_counts(void)
{
	static struct dirty todo[DIRTY_CAP / 2];
	unsigned n = 0;

	pthread_mutex_lock(&dirty_lock);
	for (unsigned i = 0; i < DIRTY_CAP; i++) {
		if (dirty[i].name) {
			todo[n++] = dirty[i];
			dirty[i].name = NULL;
		}
	}
	ndirty = 0;
	pthread_mutex_unlock(&dirty_lock);
	for (unsigned i = 0; i < n; i++) {
		char line[128 + 6 * RC_TOPIC_MAX], *p;
		long c = rc_presence(hub_server, todo[i].name, todo[i].len,
				     NULL, NULL);

		if (c >= 0) {
			p = line_head(line, "presence", todo[i].name,
				      todo[i].len);
			p += sprintf(p, ",\"count\":%ld}", c);
			atomic_fetch_add_explicit(&hub_presence_counts, 1,
						  memory_order_relaxed);
			publish(todo[i].name, todo[i].len, line,
				(size_t)(p - line), 0);
		}
		free(todo[i].name);
	}
}

static void *tick(void *arg)
{
	struct timespec at;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &at);
	pthread_mutex_lock(&stop_lock);
	while (!stop) {
		at.tv_sec++;
		pthread_cond_timedwait(&stop_cond, &stop_lock, &at);
		if (stop)
			break;
		pthread_mutex_unlock(&stop_lock);
		send_counts();
		pthread_mutex_lock(&stop_lock);
	}
	pthread_mutex_unlock(&stop_lock);
	return NULL;
}

int hub_presence_start(void)
{
	int ret = pthread_create(&ticker, NULL, tick, NULL);

	ticking = !ret;
	return -ret;
}

void hub_presence_stop(void)
{
	if (!ticking)
		return;
	pthread_mutex_lock(&stop_lock);
	stop = true;
	pthread_cond_signal(&stop_cond);
	pthread_mutex_unlock(&stop_lock);
	pthread_join(ticker, NULL);
	ticking = false;
	pthread_mutex_lock(&dirty_lock);
	for (unsigned i = 0; i < DIRTY_CAP; i++) {
		free(dirty[i].name);
		dirty[i].name = NULL;
	}
	ndirty = 0;
	pthread_mutex_unlock(&dirty_lock);
}
