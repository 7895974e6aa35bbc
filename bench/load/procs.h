/* SPDX-License-Identifier: MIT */
/* procs.h -- worker processes: fork them, run their threads, collect each one's result over a pipe. */
#ifndef RL_PROCS_H
#define RL_PROCS_H

#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "hist.h"
#include "shared.h"
#include "stats.h"

/* What one worker process sends back, and what the parent merges them
   into. Plain data, written whole to the pipe. */
struct rl_result {
	int err;		/* first worker setup error (negative errno) */
	struct rl_stats stats;
	struct rl_hist hist;
	struct rl_hist hist_near;	/* see struct rl_worker */
	struct rl_hist hist_far;
};

struct rl_procs {
	unsigned n;
	pid_t *pid;
	int *fd;		/* read end of each worker's pipe; -1 once its
				   result (or EOF) came */
};

/*
 * Fork cfg->procs worker processes sharing @shm; each runs cfg->threads
 * worker threads through every phase, writes its rl_result and exits.
 * Returns 0, or a negative errno (workers already forked are killed).
 */
int rl_procs_start(struct rl_procs *p, const struct rl_cfg *cfg,
		   struct rl_shared *shm);

/*
 * Read every worker's result, merged into @out (initialised here), waiting
 * until @deadline_ns (CLOCK_MONOTONIC) at most. Returns how many workers
 * sent nothing (crashed or late: those are killed).
 */
unsigned rl_procs_collect(struct rl_procs *p, struct rl_result *out,
			  uint64_t deadline_ns);

/* Kill (SIGKILL) and reap whatever still runs; free @p's arrays. */
void rl_procs_exit(struct rl_procs *p);

#endif /* RL_PROCS_H */
