/* SPDX-License-Identifier: MIT */
/* pubsub.c -- the layer's set-up: a server's table, each worker's part. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub/ps.h"

__thread struct rc_ps_worker *rc__ps_self;

int rc__ps_init(struct rc_ps *ps, unsigned nworkers, unsigned max_topics,
		size_t max_message, const _Atomic int *stopping)
{
	int ret;

	memset(ps, 0, sizeof(*ps));
	ps->nworkers = nworkers;
	ps->max_message = max_message;
	ps->stopping = stopping;
	ps->workers = calloc(nworkers, sizeof(*ps->workers));
	if (!ps->workers)
		return -ENOMEM;
	ret = rc__topics_init(&ps->topics, max_topics);
	if (ret) {
		free(ps->workers);
		ps->workers = NULL;
	}
	return ret;
}

void rc__ps_free(struct rc_ps *ps)
{
	rc__topics_free(&ps->topics);
	free(ps->workers);
	ps->workers = NULL;
}

void rc__ps_worker_init(struct rc_ps *ps, struct rc_ps_worker *pw,
			unsigned idx, struct rc_worker *w,
			struct rc_counters *stats)
{
	memset(pw, 0, sizeof(*pw));
	pw->ps = ps;
	pw->w = w;
	pw->stats = stats;
	pw->idx = idx;
	rc__inbox_init(&pw->inbox);
	ps->workers[idx] = pw;
}

void rc__ps_attach(struct rc_ps_worker *pw)
{
	rc__ps_self = pw;
}
