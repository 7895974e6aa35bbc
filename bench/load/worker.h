/* SPDX-License-Identifier: MIT */
/* worker.h -- one load thread: its io_uring, receive buffers, connections and completion loop. */
#ifndef RL_WORKER_H
#define RL_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>

#include "cfg.h"
#include "conn.h"
#include "hist.h"
#include "pmd.h"
#include "scenario.h"
#include "shared.h"
#include "stats.h"
#include "proto/upgrade.h"
#include "ws.h"

/*
 * Everything one thread owns. Allocated by its thread (the ring is
 * SINGLE_ISSUER), so rl_worker_init(), _run() and _exit() run there.
 */
struct rl_worker {
	struct io_uring ring;
	bool have_ring;
	const struct rl_cfg *cfg;
	const struct rl_scenario *sc;
	void *sc_data;			/* the scenario's, from its init() */
	struct rl_shared *shm;
	struct rl_live *live;		/* &shm->live[index] */
	unsigned index;			/* over all processes */
	unsigned nworkers;

	struct rl_conn *conns;
	unsigned nconns;
	unsigned nactive;		/* connections with a socket */
	unsigned next_start;		/* ramp-up: next one to open */
	unsigned pending;		/* ramp-up: opening, not settled */
	bool ready;			/* ramp-up finished */

	/* Receive buffers, a provided-buffer ring; each is readable
	   RC_SIMD_PADDING bytes past its end (the decoder reads ahead). */
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	size_t bufs_len;
	size_t buf_size;
	size_t buf_stride;
	unsigned nbufs;
	uint32_t *rearm;		/* conns whose recv ran out of buffers */
	unsigned nrearm;
	/* --tls: each record's plaintext, decoded before the next is read;
	   padded like the receive buffers. */
	uint8_t *tls_plain;
	bool tls_said;			/* the first TLS failure was told */

	/* Sent alike by every connection of this worker. */
	char request[1024];
	size_t request_len;
	char accept[RC_ACCEPT_LEN];
	uint32_t mask_key;
	uint8_t close_frame[8];		/* masked close, code 1000 */
	/* --deflate: inflating for the connections that agreed on it. */
	struct rl_pmd_worker pmd;

	uint64_t now;			/* ns, refreshed per completion */
	uint64_t start_ns;		/* the measured window, from the parent */
	uint64_t stop_ns;
	bool running;			/* phase RUN seen */
	bool started;			/* start_ns reached: run() called */
	bool closing;			/* phase CLOSE seen */
	bool forced;			/* close timeout passed: aborting all */
	uint64_t close_deadline;
	uint64_t next_sweep;		/* timeout sweep over the connections */
	uint64_t next_publish;		/* live counters to the parent */
	uint64_t sc_next;		/* scenario tick */
	bool tick_each_batch;

	struct rl_stats stats;
	struct rl_hist hist;
	/* Broadcast over several ports: the same latencies again, of
	   subscribers on their publisher's server (near) and on another
	   (far: a hop between servers). */
	struct rl_hist hist_near;
	struct rl_hist hist_far;
};

/*
 * Set up worker @index for @cfg: connections, ring, buffers, scenario.
 * Returns 0 or a negative errno; rl_worker_exit() undoes either way.
 */
int rl_worker_init(struct rl_worker *w, const struct rl_cfg *cfg,
		   struct rl_shared *shm, unsigned index);

/* The completion loop, through every phase until phase CLOSE has closed
   every connection (or given up on them). */
void rl_worker_run(struct rl_worker *w);

/* Close what is left, free everything rl_worker_init() made. */
void rl_worker_exit(struct rl_worker *w);

/* A submission queue entry; submits first when the queue is full, so
   never NULL. */
struct io_uring_sqe *rl_worker_sqe(struct rl_worker *w);

/* Give receive buffer @bid back to the ring. */
void rl_worker_buf_put(struct rl_worker *w, unsigned bid);

/* Note that @c must re-arm its receive after this batch. */
void rl_worker_rearm_later(struct rl_worker *w, struct rl_conn *c);

/* Run the scenario's tick() at @t at the latest. */
static inline void rl_worker_wake_at(struct rl_worker *w, uint64_t t)
{
	if (t < w->sc_next)
		w->sc_next = t;
}

/* CLOCK_MONOTONIC in ns: the clock of every timestamp, also across
   processes (broadcast payloads). */
uint64_t rl_now(void);

#endif /* RL_WORKER_H */
