/* SPDX-License-Identifier: MIT */
/* inbox.c -- a worker's MPSC inbox, its bound, and the bell that wakes it. */
#include "pubsub/ps.h"
#include "runtime/rt.h"

#ifdef RC_INBOX_RACE_HOOK
/* tests/test_inbox.c runs the other side of a race at this point. */
void rc_inbox_race_hook(struct rc_ps_worker *t);
#else
static inline void rc_inbox_race_hook(struct rc_ps_worker *t)
{
	(void)t;
}
#endif

void rc__inbox_init(struct rc_inbox *q)
{
	atomic_init(&q->stub.next, NULL);
	atomic_init(&q->head, &q->stub);
	q->tail = &q->stub;
}

static void push(struct rc_inbox *q, struct rc_inbox_node *n)
{
	struct rc_inbox_node *prev;

	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	/* Swapping the head orders producers; linking the old head to us
	   publishes our message (release) to the consumer's acquire. */
	prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

struct rc_inbox_node *rc__inbox_pop(struct rc_inbox *q, bool *busy)
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
	push(q, &q->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		q->tail = next;
		return tail;
	}
	*busy = true;
	return NULL;
}

/* Tell @t its inbox has mail, once per drain: only the push that finds the
   bell quiet wakes it. A worker ringing its own bell needs no wake-up: its
   loop sees the bell before it sleeps (rc__ps_pending()). */
static void ring_bell(struct rc_ps_worker *self, struct rc_ps_worker *t)
{
	if (atomic_exchange(&t->bell, 1) || self == t)
		return;
	rc__worker_wake(self && self->ps == t->ps ? self->w : NULL, t->w);
}

void rc__inbox_send(struct rc_ps_worker *t, struct rc_inbox_node *n,
		    struct rc_msg *m)
{
	struct rc_ps_worker *self = rc__ps_self;
	int64_t cost = rc__inbox_cost(m);
	int64_t now = atomic_fetch_add_explicit(&t->inbox_bytes, cost,
						memory_order_relaxed) + cost;
	struct rc_conn *c;

	push(&t->inbox, n);
	ring_bell(self, t);
	/* Over the bound: the connection whose message this is (when it
	   comes from on_message on a worker of this server) stops being
	   read until the inboxes drain. Other threads pace themselves. */
	if (now <= RC_INBOX_HIGH || !self || self->ps != t->ps)
		return;
	c = rc__delivering();
	if (!c)
		return;
	atomic_store(&t->inbox_waiters, 1);
	if (rc__conn_pub_wait(c))
		self->npub_wait++;
}

void rc__inbox_drained(struct rc_ps_worker *pw, int64_t bytes)
{
	struct rc_ps *ps = pw->ps;
	int64_t left;

	/*
	 * seq_cst, as in rc__ps_pub_wait_check(): there a waiter stores
	 * inbox_waiters and then loads inbox_bytes; here we store
	 * inbox_bytes and then load inbox_waiters. Ordered so, at least one
	 * side sees the other's store: either the waiter finds the inbox
	 * low, or we find the waiter and wake it. (Relaxed, each could miss
	 * the other, and the paused publishers slept until a timer.)
	 */
	left = atomic_fetch_sub(&pw->inbox_bytes, bytes) - bytes;
	if (left >= RC_INBOX_LOW || !atomic_load(&pw->inbox_waiters) ||
	    !atomic_exchange(&pw->inbox_waiters, 0))
		return;
	for (unsigned i = 0; i < ps->nworkers; i++)
		if (ps->workers[i] != pw)
			ring_bell(pw, ps->workers[i]);
}

void rc__ps_pub_wait_check(struct rc_ps_worker *pw)
{
	struct rc_ps *ps = pw->ps;

	for (unsigned i = 0; i < ps->nworkers; i++) {
		struct rc_ps_worker *t = ps->workers[i];

		if (atomic_load(&t->inbox_bytes) < RC_INBOX_LOW)
			continue;
		rc_inbox_race_hook(t);
		/* Ask to be woken, then look again (see
		   rc__inbox_drained()). */
		atomic_store(&t->inbox_waiters, 1);
		if (atomic_load(&t->inbox_bytes) >= RC_INBOX_LOW)
			return;
	}
	rc__worker_resume_publishers(pw->w);
	pw->npub_wait = 0;
}

bool rc__ps_pending(struct rc_ps_worker *pw)
{
	return pw->busy ||
	       atomic_load_explicit(&pw->bell, memory_order_relaxed);
}
