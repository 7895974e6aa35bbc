/* SPDX-License-Identifier: MIT */
/* pubsub.h -- topics, worker inboxes, fan-out to local subscribers. */
#ifndef RC_PUBSUB_H
#define RC_PUBSUB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "msg.h"

struct rc_server;
struct rc_worker;
struct rc_conn;

/*
 * The server-wide hint "which workers have subscribers of topics with this
 * hash". Slots are claimed once (hash 0 = free) and never given back, so a
 * reader needs no lock; the worker bits are set and cleared by the workers
 * with atomic or/and. A hash collision only means a worker gets a message
 * its local map then ignores: the hint may be a superset, never a subset.
 */
struct rc_topic_slot {
	_Atomic uint64_t hash;
	_Atomic uint64_t workers;
};

/* A topic with subscribers on one worker (worker-private). */
struct rc_topic {
	uint64_t hash;
	struct rc_topic_slot *slot;	/* NULL: the shared table was full */
	struct rc_sub **subs;		/* subscribers, unordered */
	uint32_t nsubs, cap;
	uint16_t len;
	uint8_t name[];
};

/* One connection's subscription to one topic. */
struct rc_sub {
	struct rc_topic *topic;
	struct rc_conn *conn;
	uint32_t idx;			/* in topic->subs */
	struct rc_sub *next;		/* the connection's next subscription */
};

/* MPSC inbox of a worker (intrusive, after D. Vyukov): any thread pushes,
   the worker pops. Unbounded, wait-free for producers. */
struct rc_inbox {
	_Atomic(struct rc_inbox_node *) head;	/* producers swap in here */
	struct rc_inbox_node *tail;		/* the worker pops here */
	struct rc_inbox_node stub;
};

/* Inbox bounds per worker, in bytes of queued frames (see inbox_bytes). */
#define RC_INBOX_HIGH (8 << 20)
#define RC_INBOX_LOW (4 << 20)

/* Connections of @w paused for a full inbox: resume them if every inbox
   is under RC_INBOX_LOW (called each turn while w->npub_wait). */
void rc__pub_wait_check(struct rc_worker *w);

/* The worker this thread runs, or NULL on other threads. */
extern __thread struct rc_worker *rc__self;

/* Set up / free the shared topic table (@max_topics slots, rounded up to a
   power of two). 0 or -ENOMEM. */
int rc__topics_init(struct rc_server *s, unsigned max_topics);
void rc__topics_free(struct rc_server *s);

void rc__inbox_init(struct rc_inbox *q);

/* Take every message from @w's inbox and fan it out to local subscribers.
   Returns false if a producer was caught mid-push (poll again soon). */
bool rc__inbox_drain(struct rc_worker *w);

/* Drop @c's subscriptions (connection going away). */
void rc__conn_unsubscribe_all(struct rc_conn *c);

/* Free @w's topic map and whatever is left in its inbox. */
void rc__worker_pubsub_free(struct rc_worker *w);

#endif /* RC_PUBSUB_H */
