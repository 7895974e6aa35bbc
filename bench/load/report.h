/* SPDX-License-Identifier: MIT */
/* report.h -- the end of a run: a key=value line, a human summary, one JSON line. */
#ifndef RL_REPORT_H
#define RL_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cfg.h"
#include "procs.h"

/* Everything a report says; filled by main.c. */
struct rl_summary {
	const struct rl_cfg *cfg;
	const struct rl_result *res;	/* merged over every worker */
	double run_s;			/* measured window as it ran */
	unsigned workers_lost;		/* processes that sent no result */
	bool interrupted;		/* ^C ended the run early */
	long rss_before_kb;		/* idle, --server-pid; -1: none */
	long rss_after_kb;		/* at the end of the hold */
	uint64_t open_at_end;		/* idle: connections open then */
};

/* Errors of every kind, lost workers and setup failures included. */
uint64_t rl_report_errors(const struct rl_summary *s);

/* Messages lost or out of order (broadcast). */
uint64_t rl_report_lost(const struct rl_summary *s);

/* The bench=... key=value line (scripts/ parse these), then a few
   readable lines. */
void rl_report_text(FILE *f, const struct rl_summary *s);

/* One line of JSON: scenario, parameters, rates, latency percentiles,
   errors by kind. */
void rl_report_json(FILE *f, const struct rl_summary *s);

#endif /* RL_REPORT_H */
