/* SPDX-License-Identifier: MIT */
/* stats.h -- per-worker counters: one per field of struct rc_stats. */
#ifndef RC_STATS_H
#define RC_STATS_H

#include <stdatomic.h>
#include <stdint.h>

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
	RC_STAT_PUBSUB_MISSES,
	RC_STAT_ACCEPT_ERRORS,
	RC_STAT_RING_RETRIES,
	RC_STAT_TLS_HANDSHAKES,
	RC_STAT_TLS_FAIL_VERSION,
	RC_STAT_TLS_FAIL_PROTOCOL,
	RC_STAT_TLS_FAIL_SNI,
	RC_STAT_TLS_FAIL_ALPN,
	RC_STAT_TLS_FAIL_CERT,
	RC_STAT_TLS_FAIL_TIMEOUT,
	RC_STAT_TLS_FAIL_EOF,
	RC_STAT_TLS_FAIL_OTHER,
	RC_STAT_ORIGIN_REFUSED,
	RC_STAT_IP_REFUSED,
	RC_STAT_RATE_LIMITED,
	RC_STAT_SUBS_REFUSED,
	RC_STAT_PARTIAL_REFUSED,
	RC_STAT_DEADLINE_CLOSES,
	RC_STAT_TLS_RELOADS,		/* server-wide, not per worker */
	RC_STAT_TLS_RELOAD_FAILURES,
	RC_STAT_DEFLATE_CONNS,
	RC_STAT_DEFLATE_IN,
	RC_STAT_DEFLATE_OUT,
	RC_STAT_DEFLATE_SKIPPED,
	RC_STAT_INFLATE_IN,
	RC_STAT_INFLATE_OUT,
	RC_STAT_INFLATE_ERRORS,
	/* Server-wide (the bridge's), kept by no worker: */
	RC_STAT_NATS_CONNECTED,
	RC_STAT_NATS_SUBSCRIPTIONS,
	RC_STAT_NATS_RECONNECTS,
	RC_STAT_NATS_OUT,
	RC_STAT_NATS_OUT_BYTES,
	RC_STAT_NATS_OUT_ERRORS,
	RC_STAT_NATS_IN,
	RC_STAT_NATS_IN_BYTES,
	RC_STAT_NATS_IN_DROPPED,
	RC_STAT_NATS_IN_GAPS,
	RC_STAT_NATS_IN_DUPS,
	RC_STAT_NATS_SLOW_CONSUMER,
	RC_STAT_NATS_FORWARDED,
	RC_STAT_NATS_HUB_CHANGES,
	RC_STAT_HISTORY_TOPICS,
	RC_STAT_HISTORY_BYTES,
	RC_STAT_HISTORY_EVICTED,
	RC_STAT_HISTORY_EXPIRED,
	RC_STAT_RECOVERIES,
	RC_STAT_RECOVERIES_FAILED,
	RC_STAT_COUNT,
	/* What a worker keeps: the counters before the bridge's. */
	RC_STAT_WORKER_COUNT = RC_STAT_NATS_CONNECTED
};

/*
 * Counters of one worker. Only the owning worker writes them (relaxed
 * load+store, no locked instruction); any thread may read them.
 */
struct rc_counters {
	_Atomic uint64_t v[RC_STAT_WORKER_COUNT];
};

static inline void rc__stat_add(struct rc_counters *c, enum rc_stat i,
				int64_t n)
{
	uint64_t v = atomic_load_explicit(&c->v[i], memory_order_relaxed);

	atomic_store_explicit(&c->v[i], v + (uint64_t)n, memory_order_relaxed);
}

/* The counters of the worker that runs on this thread; NULL on threads
   that are not workers. Set once by the worker at start. */
extern __thread struct rc_counters *rc__stats_self;

#endif /* RC_STATS_H */
