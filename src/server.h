/* SPDX-License-Identifier: MIT */
/* server.h -- the server object shared by its workers, and its counters. */
#ifndef RC_SERVER_H
#define RC_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "ringcast.h"

struct rc_worker;
struct rc_topic_slot;

/* One counter per field of struct rc_stats, in the same order. */
enum rc_stat {
	RC_STAT_ACCEPTED,
	RC_STAT_CONNS_OPEN,
	RC_STAT_WS_OPEN,
	RC_STAT_REFUSED,
	RC_STAT_HTTP_REQUESTS,
	RC_STAT_HTTP_ERRORS,
	RC_STAT_HANDSHAKES,
	RC_STAT_MSGS_IN,
	RC_STAT_BYTES_IN,
	RC_STAT_MSGS_OUT,
	RC_STAT_BYTES_OUT,
	RC_STAT_PROTOCOL_ERRORS,
	RC_STAT_INVALID_UTF8,
	RC_STAT_TOO_BIG,
	RC_STAT_TIMEOUTS,
	RC_STAT_BACKPRESSURE,
	RC_STAT_PUBLISHED,
	RC_STAT_DELIVERIES,
	RC_STAT_DROPPED,
	RC_STAT_SLOW_CLOSES,
	RC_STAT_RECV_WAITS,
	RC_STAT_PINGS_SENT,
	RC_STAT_ALLOC_FAILURES,
	RC_STAT_COUNT
};

/*
 * Counters of one worker. Only the owning worker writes them (relaxed
 * load+store, no locked instruction); any thread may read them.
 */
struct rc_counters {
	_Atomic uint64_t v[RC_STAT_COUNT];
};

static inline void rc__stat_add(struct rc_counters *c, enum rc_stat i,
				int64_t n)
{
	uint64_t v = atomic_load_explicit(&c->v[i], memory_order_relaxed);

	atomic_store_explicit(&c->v[i], v + (uint64_t)n, memory_order_relaxed);
}

struct rc_server {
	struct rc_config cfg;		/* copied; cfg.host points at host[] */
	char host[64];
	struct rc_handlers h;
	void *user;
	uint16_t port;
	unsigned nworkers;
	struct rc_worker **workers;
	int started;
	_Atomic int stopping;
	/* Connections open across all workers, for max_connections: one
	   atomic add per accept and per close, never per message. */
	_Atomic unsigned nconns;
	int joined;
	/* Shared topic hint table (pubsub.c). */
	struct rc_topic_slot *slots;
	uint32_t slot_mask;
	_Atomic int slots_full;
	/* rc_publish calls from threads that are not workers. */
	_Atomic uint64_t published_elsewhere;
};

#endif /* RC_SERVER_H */
