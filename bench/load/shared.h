/* SPDX-License-Identifier: MIT */
/* shared.h -- memory shared by the parent and every worker process: run phase, live counters, publisher progress. */
#ifndef RL_SHARED_H
#define RL_SHARED_H

#include <stdint.h>

#include "stats.h"

/* The parent moves the phase forward; workers only read it. */
enum rl_phase {
	RL_PHASE_CONNECT,	/* workers open their connections */
	RL_PHASE_RUN,		/* load from start_ns until stop_ns */
	RL_PHASE_DRAIN,		/* broadcast: publishing has stopped, the
				   subscribers catch up */
	RL_PHASE_CLOSE,		/* close handshakes; workers report, exit */
};

/*
 * One worker thread's live view, written only by that thread, read by the
 * parent for the progress line and the phase changes. A cache line of its
 * own, so that workers do not share lines.
 */
struct rl_live {
	uint64_t c[RL_C_MAX];	/* a recent copy of the worker's counters */
	uint32_t ready;		/* ramp-up done: each connection open or failed */
	int32_t err;		/* setup failed (negative errno): no load */
} __attribute__((aligned(64)));

/*
 * One mapping (MAP_SHARED, made before fork()), so every pointer here is
 * valid in every process. Fields are accessed with __atomic builtins.
 */
struct rl_shared {
	uint32_t phase;		/* enum rl_phase */
	uint64_t start_ns;	/* CLOCK_MONOTONIC; set before phase RUN */
	uint64_t stop_ns;
	int64_t subs_open;	/* broadcast: subscribers upgraded, not closed */
	uint32_t done;		/* recover: the scenario finished before
				   stop_ns; the parent ends phase RUN */
	unsigned nworkers;
	unsigned npub;
	struct rl_live *live;		/* [nworkers] */
	uint64_t *pub_sent;		/* [npub] messages each publisher sent;
					   stored by its worker */
	uint64_t *pub_delivered;	/* [npub] deliveries of its messages,
					   added by the subscribers' workers */
};

/* Map the area for @nworkers threads and @npub publishers, zeroed.
   Returns NULL with errno set. Unmapped by rl_shared_free(). */
struct rl_shared *rl_shared_new(unsigned nworkers, unsigned npub);
void rl_shared_free(struct rl_shared *s);

/* Copy a worker's counters to its live slot (relaxed: counters only). */
void rl_shared_publish(struct rl_live *l, const uint64_t c[RL_C_MAX]);

/* Sum the live counters of every worker into @c. */
void rl_shared_sum(const struct rl_shared *s, uint64_t c[RL_C_MAX]);

/* inline defs */

/* Acquire: a worker that sees RL_PHASE_RUN also sees start_ns/stop_ns. */
static inline enum rl_phase rl_shared_phase(const struct rl_shared *s)
{
	return (enum rl_phase)__atomic_load_n(&s->phase, __ATOMIC_ACQUIRE);
}

static inline void rl_shared_set_phase(struct rl_shared *s, enum rl_phase p)
{
	__atomic_store_n(&s->phase, (uint32_t)p, __ATOMIC_RELEASE);
}

#endif /* RL_SHARED_H */
