/* SPDX-License-Identifier: MIT */
/*
 * nats.c -- rooms that span servers, over NATS (libnats, the C client).
 *
 * One NATS connection per server (no_echo: NATS never hands a server its
 * own messages back, so local subscribers get each message once, from the
 * local fan-out). A room's subject is <prefix>.r.<token> (see
 * rc__bridge_subject_token()), subscribed while any worker has a local
 * subscriber of the room and only then.
 *
 * Out: the publishing thread (a worker, on_message) numbers the message
 * per (room, lane) and hands it to natsConnection_Publish(), which copies
 * it into the connection's buffer; libnats' flusher thread writes the
 * buffer out, many messages per write. A lane is a worker (no lock: only
 * its thread publishes on it) or "any other thread" (one mutex), so the
 * numbers of a lane go out in their order.
 *
 * In: libnats' reader thread parses, its global delivery thread calls
 * on_msg() one message at a time per subscription, in order; on_msg()
 * checks the number (struct rc_bridge_order, touched by that thread
 * only) and calls rc__ps_publish_in(): framed once, one reference per
 * interested worker's inbox, the worker woken by its eventfd, as any
 * rc_publish() from a thread of the program's. No thread per message, no
 * hop but libnats' own.
 *
 * Order per publisher holds because NATS keeps the order of one
 * connection's messages to each subscriber, a lane publishes in number
 * order, and the delivery thread keeps a subscription's order into the
 * inboxes. What NATS or libnats drops (a disconnect, a slow consumer)
 * shows as a jump in the numbers and is counted (nats_in_gaps).
 *
 * With history on, a room's stream is numbered by one server, its owner
 * (rendezvous hashing over the live servers, which say so on
 * <prefix>.hubs every RC_HB_MS): the owner sends what it numbered as
 * 0xB2 (epoch, offset, meta, skip), the others forward what is published
 * on them to <prefix>.o.<owner> (0xB3) and deliver it when it comes back
 * numbered, remembering it at the owner's position (docs/HISTORY.md,
 * "Across hubs").
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bridge/bridge.h"
#include "pubsub/history.h"
#include "pubsub/pubsub.h"
#include "pubsub/siphash.h"
#include "ringcast.h"

/* ---- the pure parts ---- */

static bool token_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

size_t rc__bridge_subject_token(char *out, const void *name, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const uint8_t *p = name;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (token_char(p[i])) {
			out[n++] = (char)p[i];
		} else {
			out[n++] = '~';
			out[n++] = hex[p[i] >> 4];
			out[n++] = hex[p[i] & 15];
		}
	}
	return n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long rc__bridge_subject_untoken(uint8_t *out, const char *tok, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)tok[i];

		if (token_char(c)) {
			out[n++] = c;
			continue;
		}
		if (c != '~' || i + 2 >= len)
			return -1;
		int hi = hexval(tok[i + 1]), lo = hexval(tok[i + 2]);
		uint8_t v;

		if (hi < 0 || lo < 0)
			return -1;
		v = (uint8_t)(hi << 4 | lo);
		if (token_char(v))	/* one spelling per name */
			return -1;
		out[n++] = v;
		i += 2;
	}
	return (long)n;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* 0xB2 and 0xB3 (bridge.h). */
static int parse_owned(const uint8_t *p, size_t len,
		       struct rc_bridge_head *h)
{
	size_t head = p[0] == RC_BRIDGE_V2 ? RC_BRIDGE_V2_HEAD :
					     RC_BRIDGE_V3_HEAD;

	if (len < head)
		return -EINVAL;
	h->meta_len = p[2];
	if (p[0] == RC_BRIDGE_V2) {
		if (p[3] || p[4] || p[5] || p[6] || p[7])
			return -EINVAL;
		h->hub = get64(p + 8);
		h->epoch = get64(p + 16);
		h->offset = get64(p + 24);
		h->origin = get64(p + 32);
		h->skip = get64(p + 40);
		/* Epochs are below 2^53 (history.c), for JavaScript. */
		if (!h->hub || !h->origin || !h->epoch || !h->offset ||
		    h->epoch >> 53)
			return -EINVAL;
	} else {
		h->hops = p[3];
		h->room_len = (uint16_t)(p[4] | p[5] << 8);
		h->lane_gen = (uint32_t)(p[6] | p[7] << 8);
		h->origin = get64(p + 8);
		h->skip = get64(p + 16);
		h->seq = get64(p + 24);
		if (h->hops != 1 || !h->origin || !h->seq || !h->room_len ||
		    h->room_len > RC_TOPIC_MAX || len - head < h->room_len)
			return -EINVAL;
		h->room = p + head;
		head += h->room_len;
	}
	if (len - head < h->meta_len)
		return -EINVAL;
	h->meta = h->meta_len ? p + head : NULL;
	h->head_len = head + h->meta_len;
	return 0;
}

size_t rc__bridge_head_v2(uint8_t *p, const struct rc_bridge_head *h)
{
	memset(p, 0, RC_BRIDGE_V2_HEAD);
	p[0] = RC_BRIDGE_V2;
	p[1] = h->flags;
	p[2] = h->meta_len;
	put64(p + 8, h->hub);
	put64(p + 16, h->epoch);
	put64(p + 24, h->offset);
	put64(p + 32, h->origin);
	put64(p + 40, h->skip);
	if (h->meta_len)
		memcpy(p + RC_BRIDGE_V2_HEAD, h->meta, h->meta_len);
	return RC_BRIDGE_V2_HEAD + h->meta_len;
}

size_t rc__bridge_head_v3(uint8_t *p, const struct rc_bridge_head *h)
{
	memset(p, 0, RC_BRIDGE_V3_HEAD);
	p[0] = RC_BRIDGE_V3;
	p[1] = h->flags;
	p[2] = h->meta_len;
	p[3] = 1;
	p[4] = (uint8_t)h->room_len;
	p[5] = (uint8_t)(h->room_len >> 8);
	p[6] = (uint8_t)h->lane_gen;
	p[7] = (uint8_t)(h->lane_gen >> 8);
	put64(p + 8, h->origin);
	put64(p + 16, h->skip);
	put64(p + 24, h->seq);
	memcpy(p + RC_BRIDGE_V3_HEAD, h->room, h->room_len);
	if (h->meta_len)
		memcpy(p + RC_BRIDGE_V3_HEAD + h->room_len, h->meta,
		       h->meta_len);
	return RC_BRIDGE_V3_HEAD + h->room_len + h->meta_len;
}

int rc__bridge_parse_hb(const uint8_t *p, size_t len, uint64_t *hub,
			uint8_t *flags)
{
	if (len != RC_BRIDGE_HB_LEN || p[0] != RC_BRIDGE_HB ||
	    (p[1] & ~(RC_BRIDGE_HB_ASK | RC_BRIDGE_HB_BYE)))
		return -EINVAL;
	for (int i = 2; i < 8; i++)
		if (p[i])
			return -EINVAL;
	*hub = get64(p + 8);
	*flags = p[1];
	return *hub ? 0 : -EINVAL;
}

uint64_t rc__bridge_room_key(const void *name, size_t len)
{
	/* Fixed ("ringcastowners"): every server must pick the same
	   owner. Someone who names rooms can so put many on one server;
	   that costs balance, not correctness. */
	static const uint64_t key[2] = { 0x74736163676e6972ull,
					 0x000073726e656e77ull };

	return rc__siphash13(key, name, len);
}

uint64_t rc__bridge_score(uint64_t room_key, uint64_t hub)
{
	/* splitmix64's finalizer: every bit of both counts. */
	uint64_t z = room_key ^ hub;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t rc__bridge_pick(uint64_t room_key, const uint64_t *ids, unsigned n)
{
	uint64_t best = 0, best_s = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t sc = rc__bridge_score(room_key, ids[i]);

		/* Ties (never in practice) to the higher id. */
		if (!best || sc > best_s || (sc == best_s && ids[i] > best)) {
			best = ids[i];
			best_s = sc;
		}
	}
	return best;
}

int rc__bridge_parse(const uint8_t *p, size_t len, struct rc_bridge_head *h)
{
	memset(h, 0, sizeof(*h));
	if (len < RC_BRIDGE_V0_HEAD)
		return -EINVAL;
	h->flags = p[1];
	if (h->flags & ~(RC_BRIDGE_F_BINARY | RC_BRIDGE_F_NO_DEFLATE))
		return -EINVAL;
	h->version = p[0];
	if (p[0] == RC_BRIDGE_V0) {
		h->head_len = RC_BRIDGE_V0_HEAD;
		return 0;
	}
	if (p[0] == RC_BRIDGE_V2 || p[0] == RC_BRIDGE_V3)
		return parse_owned(p, len, h);
	if (p[0] != RC_BRIDGE_V1 || len < RC_BRIDGE_V1_HEAD)
		return -EINVAL;
	h->lane_gen = (uint32_t)p[2] | (uint32_t)p[3] << 8 |
		      (uint32_t)(p[4] | p[5] << 8) << 16;
	h->hub = get64(p + 8);
	h->seq = get64(p + 16);
	h->head_len = RC_BRIDGE_V1_HEAD;
	if (!h->hub || !h->seq)
		return -EINVAL;
	return 0;
}

int rc__bridge_order(struct rc_bridge_order *ord,
		     const struct rc_bridge_head *h, uint64_t *gap)
{
	struct rc_bridge_origin *o = NULL, *oldest = NULL;

	*gap = 0;
	if (!h->hub)
		return 1;	/* not numbered */
	ord->clock++;
	for (unsigned i = 0; i < ord->n; i++) {
		struct rc_bridge_origin *x = &ord->o[i];

		if (x->hub == h->hub && x->lane_gen == h->lane_gen) {
			o = x;
			break;
		}
		if (!oldest || x->heard < oldest->heard)
			oldest = x;
	}
	if (!o) {
		/* First heard of (or forgotten): nothing to compare with. */
		o = ord->n < RC_BRIDGE_ORIGINS ? &ord->o[ord->n++] : oldest;
		o->hub = h->hub;
		o->lane_gen = h->lane_gen;
		o->seq = h->seq;
		o->heard = ord->clock;
		return 1;
	}
	o->heard = ord->clock;
	if (h->seq <= o->seq)
		return 0;
	*gap = h->seq - o->seq - 1;
	o->seq = h->seq;
	return 1;
}

/* ---- the bridge ---- */

/* A room this server has subscribers of. Freed by libnats' completion
   callback, once no message callback can run for it any more. */
struct room {
	struct room *next;		/* hash chain */
	struct rc_bridge *b;
	natsSubscription *sub;
	uint64_t h;
	int workers;			/* with local subscribers */
	bool gone;			/* out of the table (done_lock) */
	bool done;			/* libnats closed the subscription
					   while it was in (done_lock) */
	struct rc_bridge_order order;	/* the delivery thread's only */
	uint16_t len;
	char *subject;			/* after the name */
	uint8_t name[];
};

/* Per room, the numbers a lane gave out: open addressing on the topic's
   keyed 64-bit hash. Full at RC_LANE_MAX: emptied, and its generation
   goes up (receivers take a new generation as a publisher never heard
   of, so a restart of the numbers reads as neither a gap nor a repeat). */
struct seq_slot {
	uint64_t h, seq;
};
#define RC_LANE_MAX (1u << 16)

struct lane {
	struct seq_slot *slots;
	uint32_t cap, used;
	uint32_t gen;
	uint64_t fwd_seq;		/* forwards sent (0xB3) */
	uint8_t *buf;			/* head + payload, reused */
	size_t buf_cap;
	char *subject;			/* prefix + token, reused */
	pthread_mutex_t lock;		/* the last lane only (other threads) */
};

/* Servers numbering rooms (history on): heartbeats every RC_HB_MS; one
   silent for RC_HB_DEAD_MS is gone; a server that just connected counts
   itself in once it had RC_HB_SETTLE_MS to hear the others (it asks them
   to answer at once). */
#define RC_HB_MS 250
#define RC_HB_DEAD_MS 1500
#define RC_HB_SETTLE_MS 300
#define RC_BRIDGE_HUBS 64		/* heard of at once, at most */
#define RC_BRIDGE_SETS 32		/* versions of the set kept */

/* One version of the set of live servers, sorted. */
struct hubset {
	uint64_t ver;
	unsigned n;
	uint64_t id[RC_BRIDGE_HUBS];
};

struct peer {
	uint64_t id;
	int64_t seen_ms;
};

struct rc_bridge {
	struct rc_ps *ps;
	natsConnection *nc;
	natsOptions *opts;
	uint64_t hub_id;
	char *prefix;
	size_t prefix_len;
	unsigned nlanes;
	struct lane *lanes;

	pthread_mutex_t lock;		/* the rooms */
	pthread_mutex_t done_lock;	/* room->gone, room->done */
	struct room **rooms;
	uint32_t rooms_cap, nrooms;
	uint32_t nsubs;			/* of which subscribed on NATS */
	/* rc_config.log, for connection state (never per message). */
	void (*log)(void *, enum rc_log_level, const char *);
	void *log_user;

	_Atomic int closed;		/* libnats' closed callback ran */
	_Atomic int closing;
	_Atomic int active;		/* message callbacks running */
	_Atomic long live_rooms;	/* not yet freed */

	_Atomic uint64_t connected, reconnects, out, out_bytes, out_errors,
		in, in_bytes, in_dropped, gaps, dups, slow;

	/* Rooms numbered by their owner (ps->hist on), else all unused. */
	bool owned;
	natsSubscription *hb_sub, *fwd_sub;
	char *hb_subject, *fwd_subject;
	pthread_mutex_t set_lock;	/* innermost: below it, nothing */
	struct peer peers[RC_BRIDGE_HUBS];
	unsigned npeers;
	bool ready;			/* counts itself in */
	int64_t ready_at;		/* ms; 0: not connected yet */
	uint64_t ver;			/* sets[ver % RC_BRIDGE_SETS] is now */
	struct hubset sets[RC_BRIDGE_SETS];
	pthread_t hb_thread;
	bool hb_started, hb_stop, hb_ask;
	pthread_mutex_t hb_lock;
	pthread_cond_t hb_cond;
	_Atomic uint64_t forwarded, set_changes;
	struct rc_bridge_order fwd_order;	/* on_fwd()'s only */
	_Atomic bool leaving;			/* said bye: beats no more */
};

static uint64_t random_id(void)
{
	uint64_t v = 0;
	struct timespec ts;

	if (getentropy(&v, sizeof(v)) || !v) {
		clock_gettime(CLOCK_REALTIME, &ts);
		v = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
		    (uint64_t)getpid() << 48;
	}
	return v ? v : 1;
}

static bool prefix_ok(const char *p)
{
	size_t n = strlen(p);

	if (!n || n > 64 || p[0] == '.' || p[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!token_char((uint8_t)p[i]) &&
		    !(p[i] == '.' && p[i + 1] != '.'))
			return false;
	return true;
}

/* <prefix>.r.<token>: the longest there is. */
static size_t subject_cap(const struct rc_bridge *b)
{
	return b->prefix_len + 3 + 3 * RC_TOPIC_MAX + 1;
}

/* Its length, without the NUL. */
static size_t subject_len(const struct rc_bridge *b, const void *name,
			  size_t len)
{
	const uint8_t *p = name;
	size_t n = b->prefix_len + 3;

	for (size_t i = 0; i < len; i++)
		n += token_char(p[i]) ? 1 : 3;
	return n;
}

static size_t subject_of(const struct rc_bridge *b, char *out,
			 const void *name, size_t len)
{
	size_t n = b->prefix_len;

	memcpy(out, b->prefix, n);
	memcpy(out + n, ".r.", 3);
	n += 3;
	n += rc__bridge_subject_token(out + n, name, len);
	out[n] = 0;
	return n;
}

__attribute__((format(printf, 3, 4)))
static void blog(struct rc_bridge *b, enum rc_log_level lv,
		 const char *fmt, ...);

/* ---- the set of servers (history on) ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct hubset *set_now(struct rc_bridge *b)
{
	return &b->sets[b->ver % RC_BRIDGE_SETS];
}

/* Under set_lock: the set from what was heard; a new version if it
   differs. Into @why (for the log): what changed, or "" if nothing. */
static void set_update(struct rc_bridge *b, char *why, size_t cap)
{
	struct hubset *cur = set_now(b), next = { 0 };

	*why = 0;
	if (b->ready)
		next.id[next.n++] = b->hub_id;
	/* Cut off from NATS, it can reach no owner: it numbers every room
	   itself (new epochs, detected by clients) rather than lose what
	   its members publish until the others count as gone. */
	for (unsigned i = 0; i < b->npeers && next.n < RC_BRIDGE_HUBS &&
			     atomic_load(&b->connected);
	     i++)
		next.id[next.n++] = b->peers[i].id;
	/* Alone (or not connected yet, and nobody heard of): it numbers
	   its rooms itself, as a lone server would. */
	if (!next.n)
		next.id[next.n++] = b->hub_id;
	qsort(next.id, next.n, sizeof(next.id[0]), cmp_id);
	if (next.n == cur->n &&
	    !memcmp(next.id, cur->id, next.n * sizeof(next.id[0])))
		return;
	next.ver = ++b->ver;
	*set_now(b) = next;
	atomic_fetch_add(&b->set_changes, 1);
	snprintf(why, cap, "nats: %u hub(s) number rooms now (set %llu, "
		 "was %u%s); rooms whose owner changed start a new epoch",
		 next.n, (unsigned long long)next.ver, cur->n,
		 b->ready ? "" : ", this hub not yet among them");
}

/* Heard from server @id at @now. */
static void peer_heard(struct rc_bridge *b, uint64_t id, int64_t now,
		       char *why, size_t cap)
{
	*why = 0;
	for (unsigned i = 0; i < b->npeers; i++)
		if (b->peers[i].id == id) {
			b->peers[i].seen_ms = now;
			return;
		}
	if (b->npeers == RC_BRIDGE_HUBS)
		return;
	b->peers[b->npeers++] = (struct peer){ id, now };
	set_update(b, why, cap);
}

/* Server @id said it stops. */
static void peer_bye(struct rc_bridge *b, uint64_t id, char *why, size_t cap)
{
	unsigned k = 0;

	for (unsigned i = 0; i < b->npeers; i++)
		if (b->peers[i].id != id)
			b->peers[k++] = b->peers[i];
	b->npeers = k;
	set_update(b, why, cap);
}

/* Servers silent too long are gone; a new one counts itself in once
   settled. */
static void peers_expire(struct rc_bridge *b, int64_t now, char *why,
			 size_t cap)
{
	unsigned k = 0;

	for (unsigned i = 0; i < b->npeers; i++)
		if (now - b->peers[i].seen_ms <= RC_HB_DEAD_MS)
			b->peers[k++] = b->peers[i];
	b->npeers = k;
	if (!b->ready && b->ready_at && now >= b->ready_at)
		b->ready = true;
	set_update(b, why, cap);
}

bool rc__bridge_owner(struct rc_bridge *b, const void *name, size_t len,
		      struct rc_bridge_own *o)
{
	struct hubset *cur;

	o->b = b;
	o->key = rc__bridge_room_key(name, len);
	pthread_mutex_lock(&b->set_lock);
	cur = set_now(b);
	o->ver = b->ver;
	o->hub = rc__bridge_pick(o->key, cur->id, cur->n);
	pthread_mutex_unlock(&b->set_lock);
	return o->hub == b->hub_id;
}

/* The room's owner in every version from @since to now into *@who: true
   when it is one hub all along. */
static bool owner_since(struct rc_bridge_own *o, uint64_t since,
			uint64_t *who)
{
	struct rc_bridge *b = o->b;
	bool same = true;
	uint64_t first = 0;

	pthread_mutex_lock(&b->set_lock);
	if (!since || since > b->ver || b->ver - since >= RC_BRIDGE_SETS) {
		same = false;
	} else {
		for (uint64_t v = since; v <= b->ver && same; v++) {
			const struct hubset *hs = &b->sets[v % RC_BRIDGE_SETS];
			uint64_t w = rc__bridge_pick(o->key, hs->id, hs->n);

			if (v == since)
				first = w;
			same = w == first;
		}
	}
	pthread_mutex_unlock(&b->set_lock);
	*who = first;
	return same;
}

bool rc__bridge_same_owner(void *arg, uint64_t since)
{
	uint64_t who;

	return owner_since(arg, since, &who);
}

bool rc__bridge_owned_since(void *arg, uint64_t since)
{
	struct rc_bridge_own *o = arg;
	uint64_t who;

	return owner_since(o, since, &who) && who == o->b->hub_id;
}

/* ---- callbacks, on libnats' threads ---- */

static unsigned op_of(uint8_t flags)
{
	unsigned op = flags & RC_BRIDGE_F_BINARY ? RC_OP_BINARY : RC_OP_TEXT;

	return flags & RC_BRIDGE_F_NO_DEFLATE ? op | RC_OP_NO_DEFLATE : op;
}

/* rc__ps_publish_from(), paced like on_msg()'s rc__ps_publish_in(), and
   counted. */
static void publish_from(struct rc_bridge *b, const struct rc_ps_in *in)
{
	uint64_t gap = 0;
	int ret;

	for (int tries = 0;; tries++) {
		ret = rc__ps_publish_from(b->ps, in, &gap);
		if (ret != -EAGAIN || tries == 250 ||
		    atomic_load(&b->closing))
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
	}
	if (gap)
		atomic_fetch_add_explicit(&b->gaps, gap, memory_order_relaxed);
	if (ret == -EALREADY) {
		atomic_fetch_add_explicit(&b->dups, 1, memory_order_relaxed);
		return;
	}
	if (ret) {
		atomic_fetch_add_explicit(&b->in_dropped, 1,
					  memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&b->in, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->in_bytes, in->len, memory_order_relaxed);
}

/* A room's message numbered by its owner (0xB2). */
static void on_numbered(struct rc_bridge *b, struct room *r,
			const struct rc_bridge_head *h, const uint8_t *p,
			size_t len)
{
	struct rc_ps_in in = {
		.topic = r->name, .topic_len = r->len,
		.data = p + h->head_len, .len = len - h->head_len,
		.op = op_of(h->flags), .meta = h->meta,
		.meta_len = h->meta_len,
		/* The sender's connection, on the server it sent from. */
		.skip = h->origin == b->hub_id ? h->skip : 0,
		.epoch = h->epoch, .offset = h->offset, .origin = h->origin,
	};

	publish_from(b, &in);
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		   void *closure)
{
	struct room *r = closure;
	struct rc_bridge *b = r->b;
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(msg);
	size_t len = (size_t)natsMsg_GetDataLength(msg);
	struct rc_bridge_head h;
	uint64_t gap;
	unsigned op;
	int ret;

	(void)nc;
	(void)sub;
	atomic_fetch_add(&b->active, 1);
	if (atomic_load(&b->closing))
		goto out;
	/* Forwards travel on the owner's subject only. */
	if (rc__bridge_parse(p, len, &h) || h.version == RC_BRIDGE_V3) {
		atomic_fetch_add_explicit(&b->in_dropped, 1,
					  memory_order_relaxed);
		goto out;
	}
	if (h.version == RC_BRIDGE_V2) {
		on_numbered(b, r, &h, p, len);
		goto out;
	}
	if (!rc__bridge_order(&r->order, &h, &gap)) {
		atomic_fetch_add_explicit(&b->dups, 1, memory_order_relaxed);
		goto out;
	}
	if (gap)
		atomic_fetch_add_explicit(&b->gaps, gap, memory_order_relaxed);
	op = h.flags & RC_BRIDGE_F_BINARY ? RC_OP_BINARY : RC_OP_TEXT;
	if (h.flags & RC_BRIDGE_F_NO_DEFLATE)
		op |= RC_OP_NO_DEFLATE;
	p += h.head_len;
	len -= h.head_len;
	/* Full inboxes: wait for the workers (up to ~50 ms), as a thread
	   of the program's publishing must pace itself; libnats holds
	   what comes meanwhile. Then drop, counted. */
	for (int tries = 0;; tries++) {
		ret = rc__ps_publish_in(b->ps, r->name, r->len, p, len, op);
		if (ret != -EAGAIN || tries == 250 ||
		    atomic_load(&b->closing))
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
	}
	/* Unnumbered, for a room another server owns: the owner numbers
	   it (if it follows the room) and it comes back so. */
	if (ret == -EREMOTE)
		goto out;
	if (ret) {
		atomic_fetch_add_explicit(&b->in_dropped, 1,
					  memory_order_relaxed);
		goto out;
	}
	atomic_fetch_add_explicit(&b->in, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->in_bytes, len, memory_order_relaxed);
out:
	atomic_fetch_sub(&b->active, 1);
	natsMsg_Destroy(msg);
}

/* A publish forwarded to this server as the room's owner (0xB3). */
static void on_fwd(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		   void *closure)
{
	struct rc_bridge *b = closure;
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(msg);
	size_t len = (size_t)natsMsg_GetDataLength(msg);
	struct rc_bridge_head h, o;
	struct rc_ps_in in;
	uint64_t gap;

	(void)nc;
	(void)sub;
	atomic_fetch_add(&b->active, 1);
	if (atomic_load(&b->closing))
		goto out;
	if (rc__bridge_parse(p, len, &h) || h.version != RC_BRIDGE_V3) {
		atomic_fetch_add_explicit(&b->in_dropped, 1,
					  memory_order_relaxed);
		goto out;
	}
	/* A forward sent again (libnats resends what a dying server may
	   have taken already): numbered once. Its numbers run over every
	   owner, so a jump here is no loss. */
	o = (struct rc_bridge_head){ .hub = h.origin, .seq = h.seq,
				     .lane_gen = h.lane_gen };
	if (!rc__bridge_order(&b->fwd_order, &o, &gap)) {
		atomic_fetch_add_explicit(&b->dups, 1, memory_order_relaxed);
		goto out;
	}
	in = (struct rc_ps_in){
		.topic = h.room, .topic_len = h.room_len,
		.data = p + h.head_len, .len = len - h.head_len,
		.op = op_of(h.flags), .meta = h.meta,
		.meta_len = h.meta_len, .skip = h.skip, .origin = h.origin,
	};
	publish_from(b, &in);
out:
	atomic_fetch_sub(&b->active, 1);
	natsMsg_Destroy(msg);
}

static void hb_send(struct rc_bridge *b, uint8_t flags)
{
	uint8_t p[RC_BRIDGE_HB_LEN] = { RC_BRIDGE_HB, flags };

	put64(p + 8, b->hub_id);
	natsConnection_Publish(b->nc, b->hb_subject, p, sizeof(p));
}

/* Another server's heartbeat. */
static void on_hb(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		  void *closure)
{
	struct rc_bridge *b = closure;
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(msg);
	size_t len = (size_t)natsMsg_GetDataLength(msg);
	uint64_t id;
	uint8_t flags;
	char why[200];

	(void)nc;
	(void)sub;
	atomic_fetch_add(&b->active, 1);
	if (atomic_load(&b->closing) ||
	    rc__bridge_parse_hb(p, len, &id, &flags) || id == b->hub_id)
		goto out;
	pthread_mutex_lock(&b->set_lock);
	if (flags & RC_BRIDGE_HB_BYE)
		peer_bye(b, id, why, sizeof(why));
	else
		peer_heard(b, id, now_ms(), why, sizeof(why));
	pthread_mutex_unlock(&b->set_lock);
	if (*why)
		blog(b, RC_LOG_INFO, "%s (hub %016llx %s)", why,
		     (unsigned long long)id,
		     flags & RC_BRIDGE_HB_BYE ? "left" : "joined");
	/* A server that just connected: so it learns the set in one round
	   trip, not one period. */
	if ((flags & RC_BRIDGE_HB_ASK) && !atomic_load(&b->leaving))
		hb_send(b, 0);
out:
	atomic_fetch_sub(&b->active, 1);
	natsMsg_Destroy(msg);
}

/* Beats every RC_HB_MS (at once when asked), and the set's bookkeeping. */
static void *hb_main(void *arg)
{
	struct rc_bridge *b = arg;
	char why[200];

	pthread_mutex_lock(&b->hb_lock);
	while (!b->hb_stop) {
		struct timespec ts;
		bool ask;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += RC_HB_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!b->hb_ask)
			pthread_cond_timedwait(&b->hb_cond, &b->hb_lock, &ts);
		if (b->hb_stop)
			break;
		ask = b->hb_ask;
		b->hb_ask = false;
		pthread_mutex_unlock(&b->hb_lock);
		if (atomic_load(&b->connected))
			hb_send(b, ask ? RC_BRIDGE_HB_ASK : 0);
		pthread_mutex_lock(&b->set_lock);
		peers_expire(b, now_ms(), why, sizeof(why));
		pthread_mutex_unlock(&b->set_lock);
		if (*why)
			blog(b, RC_LOG_INFO, "%s", why);
		pthread_mutex_lock(&b->hb_lock);
	}
	pthread_mutex_unlock(&b->hb_lock);
	return NULL;
}

/* (Re)connected: ask the others to beat now; a new server counts itself
   in once it had time to hear them. */
static void hb_connected(struct rc_bridge *b)
{
	char why[200];

	if (!b->owned)
		return;
	pthread_mutex_lock(&b->set_lock);
	if (!b->ready_at)
		b->ready_at = now_ms() + RC_HB_SETTLE_MS;
	/* Back after a short cut: those not yet counted gone count again. */
	set_update(b, why, sizeof(why));
	pthread_mutex_unlock(&b->set_lock);
	if (*why)
		blog(b, RC_LOG_INFO, "%s (NATS back)", why);
	pthread_mutex_lock(&b->hb_lock);
	b->hb_ask = true;
	pthread_cond_signal(&b->hb_cond);
	pthread_mutex_unlock(&b->hb_lock);
}

static void room_free(struct room *r)
{
	struct rc_bridge *b = r->b;

	free(r);
	atomic_fetch_sub(&b->live_rooms, 1);
}

/* No message callback will run for @closure's subscription any more. It
   is ours to free once the room is out of the table; should libnats close
   a subscription of a room still in it, room_forget() frees it. */
static void on_room_done(void *closure)
{
	struct room *r = closure;
	struct rc_bridge *b = r->b;
	bool gone;

	pthread_mutex_lock(&b->done_lock);
	gone = r->gone;
	r->done = !gone;
	pthread_mutex_unlock(&b->done_lock);
	if (gone)
		room_free(r);
}

/* @r is out of the table: unsubscribe, and free it now or once libnats
   is done with it (on_room_done(), maybe before Unsubscribe() returns). */
static void room_forget(struct rc_bridge *b, struct room *r)
{
	natsSubscription *sub = r->sub;
	bool done;

	if (sub)
		b->nsubs--;

	pthread_mutex_lock(&b->done_lock);
	r->gone = true;
	done = r->done;
	pthread_mutex_unlock(&b->done_lock);
	if (sub && !done)
		natsSubscription_Unsubscribe(sub);
	if (sub)
		natsSubscription_Destroy(sub);
	if (!sub || done)
		room_free(r);
}

__attribute__((format(printf, 3, 4)))
static void blog(struct rc_bridge *b, enum rc_log_level lv,
		 const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	if (!b->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->log(b->log_user, lv, msg);
}

/* Where @nc is connected to, into @buf. */
static const char *nats_url(natsConnection *nc, char *buf, size_t cap)
{
	if (!nc || natsConnection_GetConnectedUrl(nc, buf, cap) != NATS_OK ||
	    !*buf)
		snprintf(buf, cap, "?");
	return buf;
}

static void on_connected(natsConnection *nc, void *closure)
{
	struct rc_bridge *b = closure;
	char url[256];

	atomic_store(&b->connected, 1);
	blog(b, RC_LOG_INFO, "nats: connected to %s as hub %016llx",
	     nats_url(nc, url, sizeof(url)), (unsigned long long)b->hub_id);
	hb_connected(b);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct rc_bridge *b = closure;
	char why[200] = "";

	(void)nc;
	atomic_store(&b->connected, 0);
	if (b->owned) {
		pthread_mutex_lock(&b->set_lock);
		set_update(b, why, sizeof(why));
		pthread_mutex_unlock(&b->set_lock);
		if (*why && !atomic_load(&b->closing))
			blog(b, RC_LOG_INFO, "%s (NATS lost)", why);
	}
	if (!atomic_load(&b->closing))
		blog(b, RC_LOG_WARN, "nats: disconnected; reconnecting, rooms "
		     "stay local meanwhile");
}

static void on_closed(natsConnection *nc, void *closure)
{
	struct rc_bridge *b = closure;

	(void)nc;
	atomic_store(&b->closed, 1);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct rc_bridge *b = closure;

	char url[256];

	atomic_fetch_add(&b->reconnects, 1);
	atomic_store(&b->connected, 1);
	blog(b, RC_LOG_INFO, "nats: reconnected to %s; rooms subscribed again",
	     nats_url(nc, url, sizeof(url)));
	hb_connected(b);
}

static void on_error(natsConnection *nc, natsSubscription *sub,
		     natsStatus err, void *closure)
{
	struct rc_bridge *b = closure;

	(void)nc;
	(void)sub;
	uint64_t n;

	if (err != NATS_SLOW_CONSUMER)
		return;
	/* Logged at 1, 2, 4, 8... times: a flood of them is one line
	   now and then, the counter has the rest. */
	n = atomic_fetch_add(&b->slow, 1) + 1;
	if (!(n & (n - 1)))
		blog(b, RC_LOG_WARN, "nats: slow consumer (%llu times so "
		     "far): messages dropped, counted as gaps",
		     (unsigned long long)n);
}

/* ---- interest ---- */

static struct room **room_at(struct rc_bridge *b, uint64_t h,
			     const void *name, size_t len)
{
	struct room **pp = &b->rooms[h & (b->rooms_cap - 1)];

	while (*pp && !((*pp)->h == h && (*pp)->len == len &&
			!memcmp((*pp)->name, name, len)))
		pp = &(*pp)->next;
	return pp;
}

static int rooms_grow(struct rc_bridge *b)
{
	uint32_t cap = b->rooms_cap * 2;
	struct room **tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->rooms_cap; i++) {
		struct room *r = b->rooms[i], *next;

		for (; r; r = next) {
			next = r->next;
			r->next = tab[r->h & (cap - 1)];
			tab[r->h & (cap - 1)] = r;
		}
	}
	free(b->rooms);
	b->rooms = tab;
	b->rooms_cap = cap;
	return 0;
}

static void room_subscribe(struct rc_bridge *b, struct room *r)
{
	if (natsConnection_Subscribe(&r->sub, b->nc, r->subject, on_msg, r) !=
	    NATS_OK) {
		r->sub = NULL;
		blog(b, RC_LOG_WARN, "nats: cannot subscribe to %s: the room "
		     "stays local until it is joined again", r->subject);
		return;
	}
	b->nsubs++;
	/* Held in libnats until on_msg() takes them: no count limit, 256
	   MiB of bytes (the inboxes' bound paces on_msg(); past this libnats
	   drops, reported as a slow consumer and seen as a gap). */
	natsSubscription_SetPendingLimits(r->sub, -1, 256 << 20);
	if (natsSubscription_SetOnCompleteCB(r->sub, on_room_done, r) !=
	    NATS_OK) {
		/* Closed already: no completion to free @r by; it stays
		   here, local, without a subscription. */
		natsSubscription_Unsubscribe(r->sub);
		natsSubscription_Destroy(r->sub);
		r->sub = NULL;
		b->nsubs--;
	}
}

/* With rooms numbered by their owner: drop the room's history unless
   this server numbered it, owning it throughout (history.h). */
static void hist_unfollowed(struct rc_bridge *b, const void *name,
			    size_t len, uint64_t h)
{
	struct rc_bridge_own o;

	if (!b->owned)
		return;
	rc__bridge_owner(b, name, len, &o);
	/* Owned by this server all along, not just by one server: a window
	   it numbered from forwards while another hub owned the room (the
	   sender's view of the set out of date) is not the room's stream. */
	rc__hist_forget(b->ps->hist, h, name, len, rc__bridge_owned_since,
			&o);
}

void rc__bridge_interest(struct rc_bridge *b, uint64_t h, const void *name,
			 size_t len, int delta)
{
	struct room **pp, *r;

	pthread_mutex_lock(&b->lock);
	pp = room_at(b, h, name, len);
	r = *pp;
	if (delta > 0 && r) {
		r->workers++;
	} else if (delta > 0) {
		if (b->nrooms + 1 > b->rooms_cap / 2 && !rooms_grow(b))
			pp = room_at(b, h, name, len);
		/* The name, then its subject, in one allocation. */
		r = calloc(1, sizeof(*r) + len +
			      subject_len(b, name, len) + 1);
		if (!r)
			goto out;	/* the room stays local */
		r->b = b;
		r->h = h;
		r->len = (uint16_t)len;
		memcpy(r->name, name, len);
		r->subject = (char *)r->name + len;
		subject_of(b, r->subject, name, len);
		r->workers = 1;
		*pp = r;
		b->nrooms++;
		atomic_fetch_add(&b->live_rooms, 1);
		/* Not followed until now: what this server remembers of
		   the room is stale, unless it numbered the room itself
		   all along (its owner). Before the subscription, so that
		   what comes through it restarts the window. */
		hist_unfollowed(b, name, len, h);
		room_subscribe(b, r);
	} else if (r && !--r->workers) {
		*pp = r->next;
		b->nrooms--;
		room_forget(b, r);
		hist_unfollowed(b, name, len, h);
	}
out:
	pthread_mutex_unlock(&b->lock);
}

/* ---- out ---- */

static uint64_t next_seq(struct lane *l, uint64_t h)
{
	uint32_t i;

	if ((l->used + 1) * 2 > l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 256;
		struct seq_slot *s = NULL;

		if (cap <= RC_LANE_MAX)
			s = calloc(cap, sizeof(*s));
		if (s) {
			for (uint32_t k = 0; k < l->cap; k++) {
				if (!l->slots[k].h)
					continue;
				for (i = (uint32_t)l->slots[k].h & (cap - 1);
				     s[i].h; i = (i + 1) & (cap - 1))
					;
				s[i] = l->slots[k];
			}
			free(l->slots);
			l->slots = s;
			l->cap = cap;
		} else if (l->cap) {
			/* At the bound (or out of memory): start afresh
			   under a new generation. */
			memset(l->slots, 0, l->cap * sizeof(*l->slots));
			l->used = 0;
			l->gen++;
		} else {
			return 0;
		}
	}
	for (i = (uint32_t)h & (l->cap - 1); l->slots[i].h;
	     i = (i + 1) & (l->cap - 1))
		if (l->slots[i].h == h)
			return ++l->slots[i].seq;
	l->slots[i].h = h;
	l->used++;
	return l->slots[i].seq = 1;
}

static void lane_out(struct rc_bridge *b, struct lane *l, unsigned lane,
		     uint64_t h, const void *topic, size_t topic_len,
		     const void *data, size_t len, unsigned op)
{
	uint8_t *p;
	uint64_t seq;

	if (len + RC_BRIDGE_V1_HEAD > l->buf_cap) {
		size_t cap = len + RC_BRIDGE_V1_HEAD;

		cap = cap < 4096 ? 4096 : cap + cap / 2;
		p = realloc(l->buf, cap);
		if (!p)
			goto fail;
		l->buf = p;
		l->buf_cap = cap;
	}
	if (!l->subject && !(l->subject = malloc(subject_cap(b))))
		goto fail;
	seq = next_seq(l, h);
	if (!seq)
		goto fail;
	p = l->buf;
	p[0] = RC_BRIDGE_V1;
	p[1] = (uint8_t)(((op & 0xf) == RC_OP_BINARY ? RC_BRIDGE_F_BINARY : 0) |
			 (op & RC_OP_NO_DEFLATE ? RC_BRIDGE_F_NO_DEFLATE : 0));
	p[2] = (uint8_t)lane;
	p[3] = (uint8_t)(lane >> 8);
	p[4] = (uint8_t)l->gen;
	p[5] = (uint8_t)(l->gen >> 8);
	p[6] = p[7] = 0;
	put64(p + 8, b->hub_id);
	put64(p + 16, seq);
	if (len)
		memcpy(p + RC_BRIDGE_V1_HEAD, data, len);
	subject_of(b, l->subject, topic, topic_len);
	/* Copied into libnats' buffer (or its reconnect buffer while it
	   reconnects); its flusher thread writes it out. */
	if (natsConnection_Publish(b->nc, l->subject, p,
				   (int)(len + RC_BRIDGE_V1_HEAD)) != NATS_OK)
		goto fail;
	atomic_fetch_add_explicit(&b->out, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->out_bytes, len, memory_order_relaxed);
	return;
fail:
	atomic_fetch_add_explicit(&b->out_errors, 1, memory_order_relaxed);
}

void rc__bridge_out(struct rc_bridge *b, unsigned lane, uint64_t h,
		    const void *topic, size_t topic_len, const void *data,
		    size_t len, unsigned op)
{
	struct lane *l;

	if (lane >= b->nlanes - 1) {
		l = &b->lanes[b->nlanes - 1];
		pthread_mutex_lock(&l->lock);
		lane_out(b, l, b->nlanes - 1, h, topic, topic_len, data, len,
			 op);
		pthread_mutex_unlock(&l->lock);
		return;
	}
	lane_out(b, &b->lanes[lane], lane, h, topic, topic_len, data, len, op);
}

/* @l's buffer, with room for @need bytes. */
static uint8_t *lane_buf(struct lane *l, size_t need)
{
	uint8_t *p;

	if (need > l->buf_cap) {
		size_t cap = need < 4096 ? 4096 : need + need / 2;

		p = realloc(l->buf, cap);
		if (!p)
			return NULL;
		l->buf = p;
		l->buf_cap = cap;
	}
	return l->buf;
}

/* The lane of @lane, locked when other threads share it. */
static struct lane *lane_take(struct rc_bridge *b, unsigned lane)
{
	struct lane *l;

	if (lane < b->nlanes - 1)
		return &b->lanes[lane];
	l = &b->lanes[b->nlanes - 1];
	pthread_mutex_lock(&l->lock);
	return l;
}

static void lane_give(struct rc_bridge *b, struct lane *l)
{
	if (l == &b->lanes[b->nlanes - 1])
		pthread_mutex_unlock(&l->lock);
}

static uint8_t flags_of(unsigned op)
{
	return (uint8_t)(((op & 0xf) == RC_OP_BINARY ? RC_BRIDGE_F_BINARY :
						       0) |
			 (op & RC_OP_NO_DEFLATE ? RC_BRIDGE_F_NO_DEFLATE : 0));
}

void rc__bridge_out_seq(struct rc_bridge *b, unsigned lane,
			const void *topic, size_t topic_len,
			const void *data, size_t len, unsigned op,
			const void *meta, size_t meta_len, uint64_t epoch,
			uint64_t offset, uint64_t origin, uint64_t skip)
{
	struct rc_bridge_head h = {
		.flags = flags_of(op), .hub = b->hub_id, .epoch = epoch,
		.offset = offset, .origin = origin ? origin : b->hub_id,
		.skip = skip, .meta = meta, .meta_len = (uint8_t)meta_len,
	};
	struct lane *l = lane_take(b, lane);
	uint8_t *p = lane_buf(l, RC_BRIDGE_V2_HEAD + meta_len + len);
	size_t n;

	if (!p || (!l->subject && !(l->subject = malloc(subject_cap(b)))))
		goto fail;
	n = rc__bridge_head_v2(p, &h);
	if (len)
		memcpy(p + n, data, len);
	subject_of(b, l->subject, topic, topic_len);
	if (natsConnection_Publish(b->nc, l->subject, p, (int)(n + len)) !=
	    NATS_OK)
		goto fail;
	lane_give(b, l);
	atomic_fetch_add_explicit(&b->out, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->out_bytes, len, memory_order_relaxed);
	return;
fail:
	lane_give(b, l);
	atomic_fetch_add_explicit(&b->out_errors, 1, memory_order_relaxed);
}

int rc__bridge_forward(struct rc_bridge *b, unsigned lane, uint64_t owner,
		       const void *topic, size_t topic_len, const void *data,
		       size_t len, unsigned op, const void *meta,
		       size_t meta_len, uint64_t skip)
{
	struct rc_bridge_head h = {
		.flags = flags_of(op), .origin = b->hub_id, .skip = skip,
		.room = topic, .room_len = (uint16_t)topic_len,
		.meta = meta, .meta_len = (uint8_t)meta_len,
		.lane_gen = lane < b->nlanes ? lane : b->nlanes - 1,
	};
	struct lane *l = lane_take(b, lane);
	uint8_t *p = lane_buf(l, RC_BRIDGE_V3_HEAD + topic_len + meta_len +
				 len);
	size_t n;

	if (!p || (!l->subject && !(l->subject = malloc(subject_cap(b)))))
		goto fail;
	h.seq = ++l->fwd_seq;
	n = rc__bridge_head_v3(p, &h);
	if (len)
		memcpy(p + n, data, len);
	snprintf(l->subject, subject_cap(b), "%s.o.%016llx", b->prefix,
		 (unsigned long long)owner);
	if (natsConnection_Publish(b->nc, l->subject, p, (int)(n + len)) !=
	    NATS_OK)
		goto fail;
	lane_give(b, l);
	atomic_fetch_add_explicit(&b->forwarded, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->out, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->out_bytes, len, memory_order_relaxed);
	return 0;
fail:
	lane_give(b, l);
	atomic_fetch_add_explicit(&b->out_errors, 1, memory_order_relaxed);
	return -EIO;
}

/* ---- life ---- */

static int set_servers(natsOptions *o, const char *urls)
{
	char *copy = strdup(urls), *save = NULL, *tok;
	const char *list[64];
	int n = 0, ret = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && n < 64;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (*tok)
			list[n++] = tok;
	}
	if (!n || tok)
		ret = -EINVAL;
	else if (natsOptions_SetServers(o, list, n) != NATS_OK)
		ret = -EINVAL;
	free(copy);
	return ret;
}

static int make_options(struct rc_bridge *b, const char *urls)
{
	natsOptions *o;
	char name[64];
	int ret;

	if (natsOptions_Create(&o) != NATS_OK)
		return -ENOMEM;
	b->opts = o;
	ret = set_servers(o, urls);
	if (ret)
		return ret;
	snprintf(name, sizeof(name), "ringcast %016llx",
		 (unsigned long long)b->hub_id);
	/* Forever, quickly, with jitter so that hubs do not come back in
	   step; buffered meanwhile up to 8 MiB (then nats_out_errors). */
	if (natsOptions_SetName(o, name) != NATS_OK ||
	    natsOptions_SetNoEcho(o, true) != NATS_OK ||
	    natsOptions_SetMaxReconnect(o, -1) != NATS_OK ||
	    natsOptions_SetReconnectWait(o, 200) != NATS_OK ||
	    natsOptions_SetReconnectJitter(o, 100, 1000) != NATS_OK ||
	    natsOptions_SetReconnectBufSize(o, 8 << 20) != NATS_OK ||
	    natsOptions_SetTimeout(o, 2000) != NATS_OK ||
	    natsOptions_SetPingInterval(o, 5000) != NATS_OK ||
	    natsOptions_SetMaxPingsOut(o, 2) != NATS_OK ||
	    natsOptions_SetRetryOnFailedConnect(o, true, on_connected, b) !=
		    NATS_OK ||
	    natsOptions_SetDisconnectedCB(o, on_disconnected, b) != NATS_OK ||
	    natsOptions_SetClosedCB(o, on_closed, b) != NATS_OK ||
	    natsOptions_SetReconnectedCB(o, on_reconnected, b) != NATS_OK ||
	    natsOptions_SetErrorHandler(o, on_error, b) != NATS_OK ||
	    /* One delivery thread for every subscription (libnats' pool),
	       not one per room. */
	    natsOptions_UseGlobalMessageDelivery(o, true) != NATS_OK)
		return -EIO;
	return 0;
}

/* History on: the set's subject, this server's own one, the beat. */
static int owned_start(struct rc_bridge *b)
{
	size_t cap = b->prefix_len + 32;

	b->hb_subject = malloc(cap);
	b->fwd_subject = malloc(cap);
	if (!b->hb_subject || !b->fwd_subject)
		return -ENOMEM;
	snprintf(b->hb_subject, cap, "%s.hubs", b->prefix);
	snprintf(b->fwd_subject, cap, "%s.o.%016llx", b->prefix,
		 (unsigned long long)b->hub_id);
	if (natsConnection_Subscribe(&b->hb_sub, b->nc, b->hb_subject, on_hb,
				     b) != NATS_OK ||
	    natsConnection_Subscribe(&b->fwd_sub, b->nc, b->fwd_subject,
				     on_fwd, b) != NATS_OK)
		return -EIO;
	natsSubscription_SetPendingLimits(b->fwd_sub, -1, 256 << 20);
	if (pthread_create(&b->hb_thread, NULL, hb_main, b))
		return -EIO;
	b->hb_started = true;
	blog(b, RC_LOG_INFO, "nats: this is hub %016llx; with history on, "
	     "each room is numbered by one owning hub",
	     (unsigned long long)b->hub_id);
	return 0;
}

int rc__bridge_new(struct rc_bridge **out, struct rc_ps *ps,
		   const char *urls, const char *prefix,
		   void (*log)(void *, enum rc_log_level, const char *),
		   void *log_user)
{
	pthread_condattr_t ca;
	struct rc_bridge *b;
	natsStatus st;
	int ret = -ENOMEM;

	*out = NULL;
	if (!prefix)
		prefix = "ringcast";
	if (!urls || !*urls || !prefix_ok(prefix))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->done_lock, NULL);
	b->ps = ps;
	b->log = log;
	b->log_user = log_user;
	b->hub_id = random_id();
	b->prefix = strdup(prefix);
	b->prefix_len = strlen(prefix);
	b->nlanes = ps->nworkers + 1;
	/* Rooms numbered by their owner: only with history (else no
	   heartbeat, no owner, nothing of it costs). */
	b->owned = ps->hist != NULL;
	pthread_mutex_init(&b->set_lock, NULL);
	pthread_mutex_init(&b->hb_lock, NULL);
	/* hb_main() waits until a CLOCK_MONOTONIC time: a condition on the
	   default (wall) clock would take it as long past, and the thread
	   would beat without pause. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->hb_cond, &ca);
	pthread_condattr_destroy(&ca);
	b->ver = 1;
	b->sets[1].ver = 1;
	b->sets[1].n = 1;
	b->sets[1].id[0] = b->hub_id;
	b->lanes = calloc(b->nlanes, sizeof(*b->lanes));
	b->rooms_cap = 64;
	b->rooms = calloc(b->rooms_cap, sizeof(*b->rooms));
	if (!b->prefix || !b->lanes || !b->rooms)
		goto fail;
	for (unsigned i = 0; i < b->nlanes; i++)
		pthread_mutex_init(&b->lanes[i].lock, NULL);
	ret = make_options(b, urls);
	if (ret)
		goto fail;
	st = natsConnection_Connect(&b->nc, b->opts);
	if (st == NATS_OK)
		atomic_store(&b->connected, 1);
	else if (st != NATS_NOT_YET_CONNECTED) {
		/* A URL libnats cannot read; a server that is down only
		   gives NATS_NOT_YET_CONNECTED (retried). */
		ret = st == NATS_NO_MEMORY ? -ENOMEM : -EINVAL;
		goto fail;
	}
	if (b->owned) {
		ret = owned_start(b);
		if (ret)
			goto fail;
		if (st == NATS_OK)
			hb_connected(b);
	}
	*out = b;
	return 0;
fail:
	rc__bridge_free(b);
	return ret;
}

void rc__bridge_free(struct rc_bridge *b)
{
	if (!b)
		return;
	if (b->hb_started) {
		pthread_mutex_lock(&b->hb_lock);
		b->hb_stop = true;
		pthread_cond_signal(&b->hb_cond);
		pthread_mutex_unlock(&b->hb_lock);
		pthread_join(b->hb_thread, NULL);
		/* The others stop counting on this one at once, rather than
		   forward to it for RC_HB_DEAD_MS (flushed just below). */
		atomic_store(&b->leaving, true);
		if (atomic_load(&b->connected))
			hb_send(b, RC_BRIDGE_HB_BYE);
	}
	if (b->nc) {
		/* What local publishers queued, out first (a second at
		   most: NATS may be down). */
		if (atomic_load(&b->connected))
			natsConnection_FlushTimeout(b->nc, 1000);
		atomic_store(&b->closing, 1);
		for (uint32_t i = 0; i < b->rooms_cap; i++) {
			struct room *r, *next;

			for (r = b->rooms[i]; r; r = next) {
				next = r->next;
				room_forget(b, r);
			}
			b->rooms[i] = NULL;
		}
		natsConnection_Close(b->nc);
		/* Callbacks that started before @closing finish, the
		   completion callbacks free the rooms, and the closed
		   callback, libnats' last on this connection (after the
		   disconnected one, on the same thread), has run: then
		   nothing of libnats' touches @b any more (2 s at most). */
		for (int i = 0; i < 2000 && (atomic_load(&b->active) ||
					     atomic_load(&b->live_rooms) ||
					     !atomic_load(&b->closed));
		     i++)
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 },
				  NULL);
		natsSubscription_Destroy(b->hb_sub);
		natsSubscription_Destroy(b->fwd_sub);
		natsConnection_Destroy(b->nc);
	}
	free(b->hb_subject);
	free(b->fwd_subject);
	pthread_mutex_destroy(&b->set_lock);
	pthread_mutex_destroy(&b->hb_lock);
	pthread_cond_destroy(&b->hb_cond);
	natsOptions_Destroy(b->opts);
	for (unsigned i = 0; b->lanes && i < b->nlanes; i++) {
		free(b->lanes[i].slots);
		free(b->lanes[i].buf);
		free(b->lanes[i].subject);
		pthread_mutex_destroy(&b->lanes[i].lock);
	}
	free(b->lanes);
	free(b->rooms);
	free(b->prefix);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->done_lock);
	free(b);
}

void rc__bridge_stats(const struct rc_bridge *b, struct rc_stats *out)
{
	struct rc_bridge *m = (struct rc_bridge *)b;

	if (!b)
		return;
	out->nats_connected = atomic_load(&m->connected);
	pthread_mutex_lock(&m->lock);
	out->nats_subscriptions = b->nsubs;
	pthread_mutex_unlock(&m->lock);
	out->nats_reconnects = atomic_load(&m->reconnects);
	out->nats_out = atomic_load(&m->out);
	out->nats_out_bytes = atomic_load(&m->out_bytes);
	out->nats_out_errors = atomic_load(&m->out_errors);
	out->nats_in = atomic_load(&m->in);
	out->nats_in_bytes = atomic_load(&m->in_bytes);
	out->nats_in_dropped = atomic_load(&m->in_dropped);
	out->nats_in_gaps = atomic_load(&m->gaps);
	out->nats_in_dups = atomic_load(&m->dups);
	out->nats_slow_consumer = atomic_load(&m->slow);
	out->nats_forwarded = atomic_load(&m->forwarded);
	out->nats_hub_changes = atomic_load(&m->set_changes);
}
