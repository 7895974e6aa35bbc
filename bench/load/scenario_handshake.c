/* SPDX-License-Identifier: MIT */
/* scenario_handshake.c -- handshake: --conns slots, each in a loop of connect, upgrade, close handshake; cycles per second and upgrade latency. */
#include <errno.h>
#include <stdlib.h>

#include "worker.h"

/* How soon a slot whose socket() failed tries again. */
#define RETRY_NS	(1000 * 1000ull)

struct handshake {
	uint32_t *retry;	/* slots to start again */
	unsigned nretry;
};

static unsigned hs_count(const struct rl_cfg *cfg, unsigned worker,
			 unsigned nworkers)
{
	return rl_cfg_share(cfg->conns, worker, nworkers);
}

static int hs_init(struct rl_worker *w)
{
	struct handshake *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	w->sc_data = h;
	h->retry = calloc(w->nconns ? w->nconns : 1, sizeof(*h->retry));
	return h->retry ? 0 : -ENOMEM;
}

static void hs_exit(struct rl_worker *w)
{
	struct handshake *h = w->sc_data;

	if (!h)
		return;
	free(h->retry);
	free(h);
	w->sc_data = NULL;
}

/* Begin a cycle on @c, unless the window is over. */
static void cycle(struct rl_worker *w, struct rl_conn *c)
{
	struct handshake *h = w->sc_data;

	if (w->closing || w->now >= w->stop_ns)
		return;
	/* Failed without a socket (counted): not in a tight loop. */
	if (rl_conn_start(w, c))
		h->retry[h->nretry++] = c->id;
}

static void hs_run(struct rl_worker *w)
{
	for (unsigned i = 0; i < w->nconns; i++)
		cycle(w, &w->conns[i]);
}

static uint64_t hs_tick(struct rl_worker *w, uint64_t now)
{
	struct handshake *h = w->sc_data;
	unsigned n = h->nretry;

	h->nretry = 0;
	for (unsigned i = 0; i < n; i++)
		cycle(w, &w->conns[h->retry[i]]);
	return now + RETRY_NS;
}

/* Latency: connect() issued to 101 checked. Then close at once. */
static void hs_opened(struct rl_worker *w, struct rl_conn *c)
{
	rl_hist_record(&w->hist, w->now - c->t_start);
	rl_conn_close(w, c);
}

static void hs_writable(struct rl_worker *w, struct rl_conn *c)
{
	(void)w;
	(void)c;
}

/* A server may greet; it is not what this scenario measures. */
static void hs_message(struct rl_worker *w, struct rl_conn *c,
		       const struct rl_ws_msg *m)
{
	(void)c;
	w->stats.c[RL_C_RECV]++;
	w->stats.c[RL_C_BYTES_IN] += m->len;
}

static void hs_closed(struct rl_worker *w, struct rl_conn *c)
{
	if ((c->flags & RL_F_CLEAN) && w->now < w->stop_ns)
		w->stats.c[RL_C_HANDSHAKES]++;
	cycle(w, c);
}

const struct rl_scenario rl_scenario_handshake = {
	.name = "handshake",
	.ramp = false,
	.count = hs_count,
	.init = hs_init,
	.exit = hs_exit,
	.run = hs_run,
	.tick = hs_tick,
	.opened = hs_opened,
	.writable = hs_writable,
	.message = hs_message,
	.closed = hs_closed,
};
