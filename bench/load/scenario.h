/* SPDX-License-Identifier: MIT */
/* scenario.h -- what a load scenario plugs into a worker: how many connections, and what they send and expect. */
#ifndef RL_SCENARIO_H
#define RL_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "conn.h"
#include "ws.h"

struct rl_worker;

/*
 * Callbacks run on the worker's thread. Those marked optional may be
 * NULL. Time is w->now (ns, CLOCK_MONOTONIC); the measured window is
 * [w->start_ns, w->stop_ns).
 */
struct rl_scenario {
	const char *name;
	/* Open every connection before the measured run (false: the
	   scenario opens them itself, from run()). */
	bool ramp;
	/* Connections of worker @worker of @nworkers. */
	unsigned (*count)(const struct rl_cfg *cfg, unsigned worker,
			  unsigned nworkers);
	/* Set up w->sc_data (may allocate); 0 or a negative errno. */
	int (*init)(struct rl_worker *w);
	/* Free what init() allocated (optional). */
	void (*exit)(struct rl_worker *w);
	/* The measured window begins. */
	void (*run)(struct rl_worker *w);
	/* Timers (optional): returns when to run next (UINT64_MAX: no
	   need); with w->tick_each_batch also after every completion batch. */
	uint64_t (*tick)(struct rl_worker *w, uint64_t now);
	/* The upgrade request of @c (optional): set *@req and *@len to one
	   of the scenario's, borrowed until @c closes; left alone, the
	   worker's. */
	void (*request)(struct rl_worker *w, struct rl_conn *c,
			const char **req, size_t *len);
	/* @c got its 101. */
	void (*opened)(struct rl_worker *w, struct rl_conn *c);
	/* @c may send (rl_conn_can_write()). */
	void (*writable)(struct rl_worker *w, struct rl_conn *c);
	/* A whole data message on @c. */
	void (*message)(struct rl_worker *w, struct rl_conn *c,
			const struct rl_ws_msg *m);
	/* @c is idle again (socket closed); c->flags tell how it ended. */
	void (*closed)(struct rl_worker *w, struct rl_conn *c);
	/* Phase CLOSE begins, connections still open (optional). */
	void (*finish)(struct rl_worker *w);
};

extern const struct rl_scenario rl_scenario_echo;
extern const struct rl_scenario rl_scenario_broadcast;
extern const struct rl_scenario rl_scenario_handshake;
extern const struct rl_scenario rl_scenario_idle;
extern const struct rl_scenario rl_scenario_recover;

/* inline defs */

static inline const struct rl_scenario *rl_scenario_get(enum rl_scenario_kind k)
{
	switch (k) {
	case RL_SC_ECHO:
		return &rl_scenario_echo;
	case RL_SC_BROADCAST:
		return &rl_scenario_broadcast;
	case RL_SC_HANDSHAKE:
		return &rl_scenario_handshake;
	case RL_SC_IDLE:
		return &rl_scenario_idle;
	case RL_SC_RECOVER:
		return &rl_scenario_recover;
	}
	return NULL;
}

#endif /* RL_SCENARIO_H */
