/* SPDX-License-Identifier: MIT */
/* scenario_idle.c -- idle: open --conns connections and hold them, silent, for --duration (server memory per connection). */
#include "worker.h"

static unsigned idle_count(const struct rl_cfg *cfg, unsigned worker,
			   unsigned nworkers)
{
	return rl_cfg_share(cfg->conns, worker, nworkers);
}

static int idle_init(struct rl_worker *w)
{
	(void)w;
	return 0;
}

static void idle_run(struct rl_worker *w)
{
	(void)w;
}

static void idle_conn(struct rl_worker *w, struct rl_conn *c)
{
	(void)w;
	(void)c;
}

/* Nothing is sent, so nothing should come. */
static void idle_message(struct rl_worker *w, struct rl_conn *c,
			 const struct rl_ws_msg *m)
{
	(void)c;
	(void)m;
	w->stats.c[RL_E_PAYLOAD]++;
}

const struct rl_scenario rl_scenario_idle = {
	.name = "idle",
	.ramp = true,
	.count = idle_count,
	.init = idle_init,
	.run = idle_run,
	.opened = idle_conn,
	.writable = idle_conn,
	.message = idle_message,
	.closed = idle_conn,
};
