/* SPDX-License-Identifier: MIT */
/* pubsub.c -- topics, worker inboxes and fan-out: frame once, send to all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "pubsub.h"
#include "ring.h"
#include "send.h"
#include "worker.h"

/* How far a shared-table lookup probes before it calls the table full. */
#define SLOT_PROBES 64
/* A deleted entry in a worker's topic map. */
#define TOMB ((struct rc_topic *)1)

__thread struct rc_worker *rc__self;

/* FNV-1a, 64-bit; 0 is kept for "free slot". */
static uint64_t topic_hash(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

/* ---- the shared table: hash -> workers with subscribers ---- */

int rc__topics_init(struct rc_server *s, unsigned max_topics)
{
	uint32_t n = 64;

	while (n < max_topics && n < (1u << 30))
		n <<= 1;
	s->slots = calloc(n, sizeof(*s->slots));
	if (!s->slots)
		return -ENOMEM;
	s->slot_mask = n - 1;
	return 0;
}

void rc__topics_free(struct rc_server *s)
{
	free(s->slots);
	s->slots = NULL;
}

static struct rc_topic_slot *slot_find(struct rc_server *s, uint64_t h,
				       bool claim)
{
	for (uint32_t i = 0; i < SLOT_PROBES && i <= s->slot_mask; i++) {
		struct rc_topic_slot *sl = &s->slots[(h + i) & s->slot_mask];
		uint64_t cur = atomic_load_explicit(&sl->hash,
						    memory_order_acquire);

		if (cur == h)
			return sl;
		if (cur)
			continue;
		if (!claim)
			return NULL;	/* slots fill in probe order */
		if (atomic_compare_exchange_strong(&sl->hash, &cur, h) ||
		    cur == h)
			return sl;
	}
	if (claim)
		atomic_store(&s->slots_full, 1);
	return NULL;
}

/* The workers a message on topic hash @h must go to. */
static uint64_t targets(struct rc_server *s, uint64_t h)
{
	struct rc_topic_slot *sl = slot_find(s, h, false);

	if (sl)
		return atomic_load_explicit(&sl->workers, memory_order_acquire);
	/* A topic that did not fit in the table may have subscribers
	   anywhere: every worker gets it and checks its own map. */
	if (atomic_load_explicit(&s->slots_full, memory_order_relaxed))
		return s->nworkers >= 64 ? ~0ull : (1ull << s->nworkers) - 1;
	return 0;
}

/* ---- a worker's own topic map: open addressing, linear probing ---- */

static bool topic_is(const struct rc_topic *t, uint64_t h, const void *name,
		     size_t len)
{
	return t != TOMB && t->hash == h && t->len == len &&
	       !memcmp(t->name, name, len);
}

static struct rc_topic *local_find(struct rc_worker *w, uint64_t h,
				   const void *name, size_t len)
{
	if (!w->topic_cap)
		return NULL;
	for (uint32_t i = (uint32_t)h & (w->topic_cap - 1);;
	     i = (i + 1) & (w->topic_cap - 1)) {
		struct rc_topic *t = w->topics[i];

		if (!t)
			return NULL;
		if (topic_is(t, h, name, len))
			return t;
	}
}

/* Does any other local topic share hash @h (and so the shared slot)? */
static bool hash_in_use(struct rc_worker *w, uint64_t h,
			const struct rc_topic *except)
{
	for (uint32_t i = (uint32_t)h & (w->topic_cap - 1);;
	     i = (i + 1) & (w->topic_cap - 1)) {
		struct rc_topic *t = w->topics[i];

		if (!t)
			return false;
		if (t != TOMB && t != except && t->hash == h)
			return true;
	}
}

static void map_place(struct rc_topic **tab, uint32_t cap, struct rc_topic *t)
{
	uint32_t i = (uint32_t)t->hash & (cap - 1);

	while (tab[i] && tab[i] != TOMB)
		i = (i + 1) & (cap - 1);
	tab[i] = t;
}

static int map_insert(struct rc_worker *w, struct rc_topic *t)
{
	/* Keep the table at most half used (tombstones included), so a
	   probe always ends at an empty entry. */
	if ((w->topic_used + 1) * 2 > w->topic_cap) {
		uint32_t cap = w->topic_cap ? w->topic_cap : 32;
		struct rc_topic **tab;

		while ((w->topic_count + 1) * 2 > cap / 2)
			cap *= 2;
		tab = calloc(cap, sizeof(*tab));
		if (!tab)
			return -ENOMEM;
		for (uint32_t i = 0; i < w->topic_cap; i++)
			if (w->topics[i] && w->topics[i] != TOMB)
				map_place(tab, cap, w->topics[i]);
		free(w->topics);
		w->topics = tab;
		w->topic_cap = cap;
		w->topic_used = w->topic_count;
	}
	map_place(w->topics, w->topic_cap, t);
	w->topic_count++;
	w->topic_used++;
	return 0;
}

static void map_remove(struct rc_worker *w, struct rc_topic *t)
{
	for (uint32_t i = (uint32_t)t->hash & (w->topic_cap - 1);;
	     i = (i + 1) & (w->topic_cap - 1)) {
		if (w->topics[i] == t) {
			w->topics[i] = TOMB;
			w->topic_count--;
			return;
		}
	}
}

/* ---- subscriptions ---- */

static void sub_remove(struct rc_worker *w, struct rc_sub *sub)
{
	struct rc_topic *t = sub->topic;

	t->subs[sub->idx] = t->subs[--t->nsubs];
	t->subs[sub->idx]->idx = sub->idx;
	free(sub);
	if (t->nsubs)
		return;
	if (t->slot && !hash_in_use(w, t->hash, t))
		atomic_fetch_and(&t->slot->workers, ~(1ull << w->idx));
	map_remove(w, t);
	free(t->subs);
	free(t);
}

int rc_subscribe(struct rc_conn *c, const void *topic, size_t len)
{
	struct rc_worker *w;
	struct rc_topic *t;
	struct rc_sub *sub;
	uint64_t h;

	if (!c || !topic || !len || len > RC_TOPIC_MAX)
		return -EINVAL;
	if (c->state != RC_CONN_WS)
		return -EPIPE;
	w = c->w;
	h = topic_hash(topic, len);
	t = local_find(w, h, topic, len);
	if (t) {
		for (sub = c->subs; sub; sub = sub->next)
			if (sub->topic == t)
				return 0;
	} else {
		t = rc__malloc(sizeof(*t) + len);
		if (!t)
			return -ENOMEM;
		memset(t, 0, sizeof(*t));
		t->hash = h;
		t->len = (uint16_t)len;
		memcpy(t->name, topic, len);
		if (map_insert(w, t)) {
			free(t);
			return -ENOMEM;
		}
		t->slot = slot_find(w->srv, h, true);
	}
	if (t->nsubs == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 4;
		struct rc_sub **subs = rc__realloc(t->subs, cap * sizeof(*subs));

		if (!subs)
			goto out_unused;
		t->subs = subs;
		t->cap = cap;
	}
	sub = rc__malloc(sizeof(*sub));
	if (!sub)
		goto out_unused;
	sub->topic = t;
	sub->conn = c;
	sub->idx = t->nsubs;
	sub->next = c->subs;
	c->subs = sub;
	t->subs[t->nsubs++] = sub;
	/* First local subscriber: publishers must now send here. */
	if (t->nsubs == 1 && t->slot)
		atomic_fetch_or(&t->slot->workers, 1ull << w->idx);
	return 0;
out_unused:
	if (!t->nsubs) {
		map_remove(w, t);
		free(t->subs);
		free(t);
	}
	return -ENOMEM;
}

int rc_unsubscribe(struct rc_conn *c, const void *topic, size_t len)
{
	struct rc_sub **pp;

	if (!c || !topic || !len || len > RC_TOPIC_MAX)
		return -EINVAL;
	for (pp = &c->subs; *pp; pp = &(*pp)->next) {
		struct rc_sub *sub = *pp;

		if (sub->topic->len == len &&
		    !memcmp(sub->topic->name, topic, len)) {
			*pp = sub->next;
			sub_remove(c->w, sub);
			return 0;
		}
	}
	return -ENOENT;
}

void rc__conn_unsubscribe_all(struct rc_conn *c)
{
	while (c->subs) {
		struct rc_sub *sub = c->subs;

		c->subs = sub->next;
		sub_remove(c->w, sub);
	}
}

/* ---- inboxes ---- */

void rc__inbox_init(struct rc_inbox *q)
{
	atomic_init(&q->stub.next, NULL);
	atomic_init(&q->head, &q->stub);
	q->tail = &q->stub;
}

/* A message in an inbox costs its frame and its share of the rest. */
#define INBOX_COST(frame_len) ((int64_t)(frame_len) + 64)

static void inbox_push(struct rc_inbox *q, struct rc_inbox_node *n);
static void ring_bell(struct rc_worker *t);

/* Queue @n for worker @t and wake it. If that takes its inbox over
   RC_INBOX_HIGH, the connection whose message this is (when it comes from
   a worker's on_message) stops being read until the inboxes drain. */
static void inbox_send(struct rc_worker *t, struct rc_inbox_node *n,
		       uint32_t frame_len)
{
	struct rc_worker *self = rc__self;
	int64_t cost = INBOX_COST(frame_len);
	int64_t now = atomic_fetch_add_explicit(&t->inbox_bytes, cost,
						memory_order_relaxed) + cost;

	inbox_push(&t->inbox, n);
	ring_bell(t);
	if (now > RC_INBOX_HIGH && self && self->cur_conn &&
	    self->srv == t->srv &&
	    !(self->cur_conn->flags & RC_CF_PUB_WAIT)) {
		atomic_store(&t->inbox_waiters, 1);
		rc__conn_pub_wait(self->cur_conn);
		self->npub_wait++;
	}
}

static void inbox_push(struct rc_inbox *q, struct rc_inbox_node *n)
{
	struct rc_inbox_node *prev;

	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	/* Swapping the head orders producers; linking the old head to us
	   publishes our message (release) to the consumer's acquire. */
	prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* The oldest node, or NULL. *@busy is set when a producer has swapped the
   head but not linked its node yet: more is coming, look again soon. */
static struct rc_inbox_node *inbox_pop(struct rc_inbox *q, bool *busy)
{
	struct rc_inbox_node *tail = q->tail;
	struct rc_inbox_node *next =
		atomic_load_explicit(&tail->next, memory_order_acquire);

	if (tail == &q->stub) {
		if (!next) {
			*busy = atomic_load(&q->head) != tail;
			return NULL;
		}
		q->tail = next;
		tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next) {
		q->tail = next;
		return tail;
	}
	if (tail != atomic_load(&q->head)) {
		*busy = true;
		return NULL;
	}
	/* @tail is the last node: put the stub behind it so that it can be
	   taken without leaving the queue empty of nodes. */
	inbox_push(q, &q->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		q->tail = next;
		return tail;
	}
	*busy = true;
	return NULL;
}

/* Tell @t its inbox has mail, once per drain: only the push that finds the
   bell quiet rings it. */
static void ring_bell(struct rc_worker *t)
{
	struct rc_worker *self = rc__self;
	uint64_t one = 1;

	if (atomic_exchange(&t->bell, 1) || self == t)
		return;
	if (self && self->srv == t->srv) {
		/* From another worker: an SQE in our own ring, submitted
		   with the rest of this turn's, not a syscall of its own. */
		struct io_uring_sqe *sqe = rc__sqe(self);

		io_uring_prep_msg_ring(sqe, t->ring.ring_fd, 0,
				       rc_ud(RC_UD_INBOX, 0), 0);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_IGNORE, 0));
		return;
	}
	/* From a thread with no ring of ours: the eventfd the worker keeps a
	   read pending on. */
	if (write(t->wake_fd, &one, sizeof(one)) < 0)
		return;
}

/* ---- fan-out on the worker ---- */

/* Queue @m (one reference, ours to give) to @c, or drop it by policy. */
static bool deliver_one(struct rc_worker *w, struct rc_conn *c,
			struct rc_msg *m)
{
	const struct rc_config *cfg = &w->srv->cfg;

	if (c->state != RC_CONN_WS || (c->flags & RC_CF_CLOSE_SENT)) {
		rc__msg_put(m);
		return false;
	}
	/* The policy is for a queue that is already long: a message that
	   finds the queue empty always goes, however large. */
	if (c->out_bytes &&
	    c->out_bytes + m->frame_len > cfg->max_backpressure) {
		c->flags |= RC_CF_WAS_FULL;
		if (cfg->slow_policy == RC_SLOW_CLOSE) {
			rc__stat_add(&w->stats, RC_STAT_SLOW_CLOSES, 1);
			rc__conn_close_slow(c);
			rc__msg_put(m);
			return false;
		}
		rc__stat_add(&w->stats, RC_STAT_DROPPED,
			     rc__out_drop_shared(c, m->frame_len,
						 cfg->max_backpressure));
		/* Still no room (what is queued is being sent): drop this
		   one, unless the queue is empty now. */
		if (c->out_bytes &&
		    c->out_bytes + m->frame_len > cfg->max_backpressure) {
			rc__stat_add(&w->stats, RC_STAT_DROPPED, 1);
			rc__msg_put(m);
			return false;
		}
	}
	if (rc__out_msg(c, m)) {
		rc__conn_oom(c);
		return false;
	}
	return true;
}

static void fan_out(struct rc_worker *w, struct rc_msg *m)
{
	struct rc_topic *t;
	int64_t sent = 0;

	if (m->kind == RC_MSG_DIRECT) {
		uint32_t slot = (uint32_t)(m->conn_id & 0xffffff);
		struct rc_conn *c = slot < w->nslots ? &w->conns[slot] : NULL;

		if (c && c->id == m->conn_id && c->state != RC_CONN_FREE) {
			rc__msg_get(m, 1);
			sent = deliver_one(w, c, m);
		}
		goto out;
	}
	t = local_find(w, m->hash, m->topic, m->topic_len);
	if (!t)
		goto out;
	/* One reference per subscriber, taken at once. Downwards, because
	   a delivery may end a subscription (swap-remove from the end). */
	rc__msg_get(m, t->nsubs);
	for (uint32_t i = t->nsubs; i-- > 0;) {
		struct rc_conn *c = t->subs[i]->conn;

		if (c->id == m->conn_id) {
			rc__msg_put(m);
			continue;
		}
		sent += deliver_one(w, c, m);
	}
out:
	if (sent)
		rc__stat_add(&w->stats, RC_STAT_DELIVERIES, sent);
	rc__msg_put(m);		/* the inbox's reference */
}

bool rc__inbox_drain(struct rc_worker *w)
{
	struct rc_inbox_node *n;
	bool busy = false;
	int64_t bytes = 0, left;

	/* Quiet the bell before looking: a push after this point either is
	   seen below or rings again. */
	atomic_store(&w->bell, 0);
	while ((n = inbox_pop(&w->inbox, &busy))) {
		bytes += INBOX_COST(n->msg->frame_len);
		fan_out(w, n->msg);
	}
	if (!bytes)
		return !busy;
	left = atomic_fetch_sub_explicit(&w->inbox_bytes, bytes,
					 memory_order_relaxed) - bytes;
	/* Publishers wait on this inbox: wake every worker to look again. */
	if (left < RC_INBOX_LOW && atomic_load(&w->inbox_waiters) &&
	    atomic_exchange(&w->inbox_waiters, 0))
		for (unsigned i = 0; i < w->srv->nworkers; i++)
			if (w->srv->workers[i] != w)
				ring_bell(w->srv->workers[i]);
	return !busy;
}

void rc__pub_wait_check(struct rc_worker *w)
{
	struct rc_server *s = w->srv;

	for (unsigned i = 0; i < s->nworkers; i++) {
		struct rc_worker *t = s->workers[i];

		if (atomic_load_explicit(&t->inbox_bytes, memory_order_relaxed) >=
		    RC_INBOX_LOW) {
			atomic_store(&t->inbox_waiters, 1);
			return;
		}
	}
	/* Rare (a flood ended): a scan is cheaper than a list kept always. */
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct rc_conn *c = &w->conns[i];

		if (c->flags & RC_CF_PUB_WAIT) {
			c->flags = (c->flags & ~RC_CF_PUB_WAIT) | RC_CF_REARM;
			rc__dirty(c);
		}
	}
	w->npub_wait = 0;
}

void rc__worker_pubsub_free(struct rc_worker *w)
{
	struct rc_inbox_node *n;
	bool busy = false;

	while ((n = inbox_pop(&w->inbox, &busy)))
		rc__msg_put(n->msg);
	for (uint32_t i = 0; i < w->topic_cap; i++) {
		struct rc_topic *t = w->topics[i];

		if (t && t != TOMB) {
			for (uint32_t k = 0; k < t->nsubs; k++)
				free(t->subs[k]);
			free(t->subs);
			free(t);
		}
	}
	free(w->topics);
	w->topics = NULL;
	w->topic_cap = 0;
}

/* ---- the API: publish from any thread ---- */

static int check_payload(struct rc_server *s, const void *data, size_t len,
			 enum rc_opcode op)
{
	struct rc_worker *self = rc__self;

	if (!data && len)
		return -EINVAL;
	if (op != RC_OP_TEXT && op != RC_OP_BINARY)
		return -EINVAL;
	if (len > s->cfg.max_message)
		return -EMSGSIZE;
	if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
		return -ESHUTDOWN;
	/* Re-publishing the message being delivered (the chat case) skips
	   a second UTF-8 pass: it was validated on the way in. */
	if (op == RC_OP_TEXT &&
	    !(self && data == self->cur_msg && len == self->cur_len) &&
	    !rc_utf8_valid(data, len))
		return -EINVAL;
	return 0;
}

static void count_published(struct rc_server *s)
{
	if (rc__self && rc__self->srv == s)
		rc__stat_add(&rc__self->stats, RC_STAT_PUBLISHED, 1);
	else
		atomic_fetch_add_explicit(&s->published_elsewhere, 1,
					  memory_order_relaxed);
}

static int publish(struct rc_server *s, const void *topic, size_t topic_len,
		   const void *data, size_t len, enum rc_opcode op,
		   uint64_t skip)
{
	struct rc_msg *m;
	uint64_t h, mask;
	int ret;

	if (!s || !topic || !topic_len || topic_len > RC_TOPIC_MAX)
		return -EINVAL;
	ret = check_payload(s, data, len, op);
	if (ret)
		return ret;
	count_published(s);
	h = topic_hash(topic, topic_len);
	mask = targets(s, h);
	if (!mask)
		return 0;
	m = rc__msg_new(s->nworkers, (uint32_t)__builtin_popcountll(mask),
			topic, topic_len, op, data, len);
	if (!m)
		return -ENOMEM;
	m->hash = h;
	m->conn_id = skip;
	for (unsigned i = 0; i < s->nworkers; i++) {
		if (!(mask & (1ull << i)))
			continue;
		m->nodes[i].msg = m;
		inbox_send(s->workers[i], &m->nodes[i], m->frame_len);
	}
	return 0;
}

int rc_publish(struct rc_server *s, const void *topic, size_t topic_len,
	       const void *data, size_t len, enum rc_opcode op)
{
	return publish(s, topic, topic_len, data, len, op, 0);
}

int rc_conn_publish(struct rc_conn *from, const void *topic, size_t topic_len,
		    const void *data, size_t len, enum rc_opcode op)
{
	if (!from)
		return -EINVAL;
	return publish(from->w->srv, topic, topic_len, data, len, op,
		       from->id);
}

int rc_send_to(struct rc_server *s, uint64_t conn_id, const void *data,
	       size_t len, enum rc_opcode op)
{
	unsigned wi = (unsigned)(conn_id >> 56);
	struct rc_msg *m;
	int ret;

	if (!s)
		return -EINVAL;
	if (wi >= s->nworkers)
		return -ENOENT;
	ret = check_payload(s, data, len, op);
	if (ret)
		return ret;
	m = rc__msg_new(1, 1, NULL, 0, op, data, len);
	if (!m)
		return -ENOMEM;
	m->kind = RC_MSG_DIRECT;
	m->conn_id = conn_id;
	m->nodes[0].msg = m;
	inbox_send(s->workers[wi], &m->nodes[0], m->frame_len);
	return 0;
}
