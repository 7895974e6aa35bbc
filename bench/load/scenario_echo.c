/* SPDX-License-Identifier: MIT */
/* scenario_echo.c -- echo: each connection keeps --inflight messages in flight, at most, or sends at --rate. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringcast.h"
#include "worker.h"

/* At most this many bytes of frames go out in one send. */
#define BATCH_BYTES	65536
/* Rate-limited: the soonest the connections are looked at again, so that
   many schedules falling due together are served in one pass. */
#define TICK_MIN_NS	(20 * 1000ull)

/* One connection's messages in flight: a ring of their send times. */
struct echo_conn {
	uint64_t next;		/* rate: intended time of the next send */
	uint32_t head;		/* oldest in flight */
	uint32_t count;
};

struct echo {
	uint8_t *frames;	/* @batch copies of the masked frame */
	size_t frame_len;
	uint8_t *zframes;	/* --deflate: the same compressed (RSV1),
				   for connections that agreed on it */
	size_t zframe_len;
	unsigned batch;
	unsigned opcode;
	unsigned inflight;
	uint64_t interval;	/* rate: ns between sends; 0: closed loop */
	uint64_t timeout;
	struct echo_conn *ec;	/* [nconns] */
	uint64_t *times;	/* [nconns * inflight] send times */
};

static unsigned echo_count(const struct rl_cfg *cfg, unsigned worker,
			   unsigned nworkers)
{
	return rl_cfg_share(cfg->conns, worker, nworkers);
}

/*
 * Payload: letters, or for TEXT whole repeats of a mixed-script phrase
 * padded with ASCII to exactly @n bytes, so that it stays valid UTF-8 and
 * a server's validator has work to do.
 */
static void fill_payload(uint8_t *p, size_t n, bool text)
{
	static const char phrase[] = "Grüße, 世界! Καλημέρα 🙂 ";
	size_t len = sizeof(phrase) - 1, i = 0;

	if (text)
		for (; i + len <= n; i += len)
			memcpy(p + i, phrase, len);
	for (; i < n; i++)
		p[i] = (uint8_t)('a' + i % 26);
}

static int make_zframes(struct rl_worker *w, struct echo *e,
			const uint8_t *payload)
{
	size_t zlen, zoff;
	uint8_t *z = rl_pmd_compress(NULL, 0, payload, w->cfg->size, &zlen,
				     &zoff);

	if (!z)
		return -ENOMEM;
	e->zframe_len = rl_ws_frame_len(zlen);
	e->zframes = malloc(e->zframe_len * e->batch);
	if (!e->zframes) {
		free(z);
		return -ENOMEM;
	}
	rl_ws_encode_z(e->zframes, e->opcode, z, zlen, w->mask_key, true);
	free(z);
	for (unsigned i = 1; i < e->batch; i++)
		memcpy(e->zframes + i * e->zframe_len, e->zframes,
		       e->zframe_len);
	return 0;
}

static int echo_init(struct rl_worker *w)
{
	const struct rl_cfg *cfg = w->cfg;
	struct echo *e = calloc(1, sizeof(*e));
	uint8_t *payload;

	if (!e)
		return -ENOMEM;
	w->sc_data = e;
	e->opcode = cfg->text ? RC_OP_TEXT : RC_OP_BINARY;
	e->inflight = cfg->inflight;
	e->interval = cfg->rate > 0 ? (uint64_t)(1e9 / cfg->rate) : 0;
	if (cfg->rate > 0 && !e->interval)
		e->interval = 1;
	e->timeout = (uint64_t)(cfg->timeout_s * 1e9);
	e->frame_len = rl_ws_frame_len(cfg->size);
	e->batch = (unsigned)(BATCH_BYTES / e->frame_len);
	if (e->batch < 1)
		e->batch = 1;
	if (e->batch > e->inflight)
		e->batch = e->inflight;
	payload = malloc(cfg->size ? cfg->size : 1);
	e->frames = malloc(e->frame_len * e->batch);
	e->ec = calloc(w->nconns ? w->nconns : 1, sizeof(*e->ec));
	e->times = calloc((size_t)(w->nconns ? w->nconns : 1) * e->inflight,
			  sizeof(*e->times));
	if (!payload || !e->frames || !e->ec || !e->times) {
		free(payload);
		return -ENOMEM;
	}
	/* One frame, masked once and sent again and again: the server
	   unmasks every copy, the tool pays for masking only here. */
	fill_payload(payload, cfg->size, cfg->text);
	rl_ws_encode(e->frames, e->opcode, payload, cfg->size, w->mask_key);
	for (unsigned i = 1; i < e->batch; i++)
		memcpy(e->frames + i * e->frame_len, e->frames, e->frame_len);
	/* --deflate: compressed once, here, too. */
	if (cfg->deflate && make_zframes(w, e, payload)) {
		free(payload);
		return -ENOMEM;
	}
	free(payload);
	return 0;
}

static void echo_exit(struct rl_worker *w)
{
	struct echo *e = w->sc_data;

	if (!e)
		return;
	free(e->frames);
	free(e->zframes);
	free(e->ec);
	free(e->times);
	free(e);
	w->sc_data = NULL;
}

static void echo_run(struct rl_worker *w)
{
	struct echo *e = w->sc_data;

	for (unsigned i = 0; i < w->nconns; i++) {
		struct rl_conn *c = &w->conns[i];

		/* Spread the connections' schedules over one interval, so
		   that the rate does not come in bursts. */
		e->ec[i].next = w->start_ns +
				e->interval * c->gid / w->cfg->conns;
		rl_conn_kick(w, c);
	}
}

static void echo_writable(struct rl_worker *w, struct rl_conn *c)
{
	struct echo *e = w->sc_data;
	struct echo_conn *ec = &e->ec[c->id];
	uint64_t *times = e->times + (size_t)c->id * e->inflight;
	uint64_t now = w->now, due;
	unsigned k = e->inflight - ec->count;

	if (!w->started || now >= w->stop_ns)
		return;
	if (k > e->batch)
		k = e->batch;
	if (e->interval) {
		due = now >= ec->next ? (now - ec->next) / e->interval + 1 : 0;
		if (due < k)
			k = (unsigned)due;
	}
	if (!k)
		return;
	for (unsigned j = 0; j < k; j++) {
		/* Rate-limited: latency counts from when the message was
		   due, so a stalled server is not hidden by a send that
		   waited for it (coordinated omission). */
		times[(ec->head + ec->count) % e->inflight] =
			e->interval ? ec->next : now;
		ec->count++;
		ec->next += e->interval;
	}
	if (!c->deadline)
		c->deadline = now + e->timeout;
	if (e->interval)
		rl_worker_wake_at(w, ec->next);
	w->stats.c[RL_C_SENT] += k;
	w->stats.c[RL_C_BYTES_OUT] += (uint64_t)k * w->cfg->size;
	if (c->flags & RL_F_PMD) {
		w->stats.c[RL_C_Z_OUT] += k;
		w->stats.c[RL_C_WIRE_OUT] += (uint64_t)k * e->zframe_len;
		rl_conn_write(w, c, e->zframes, (size_t)k * e->zframe_len);
		return;
	}
	w->stats.c[RL_C_WIRE_OUT] += (uint64_t)k * e->frame_len;
	rl_conn_write(w, c, e->frames, (size_t)k * e->frame_len);
}

static void echo_message(struct rl_worker *w, struct rl_conn *c,
			 const struct rl_ws_msg *m)
{
	struct echo *e = w->sc_data;
	struct echo_conn *ec = &e->ec[c->id];
	uint64_t *times = e->times + (size_t)c->id * e->inflight;
	uint64_t t;

	if (!ec->count || m->len != w->cfg->size || m->opcode != e->opcode) {
		w->stats.c[RL_E_PAYLOAD]++;
		if (!ec->count)
			return;
	}
	t = times[ec->head];
	ec->head = (ec->head + 1) % e->inflight;
	ec->count--;
	w->stats.c[RL_C_RECV]++;
	w->stats.c[RL_C_BYTES_IN] += m->len;
	w->stats.c[RL_C_WIRE_IN] += m->wire_len;
	if (w->now < w->stop_ns)
		w->stats.c[RL_C_MSGS]++;
	rl_hist_record(&w->hist, w->now > t ? w->now - t : 0);
	/* The timeout waits for progress: the next echo within it. */
	c->deadline = ec->count ? w->now + e->timeout : 0;
	rl_conn_kick(w, c);
}

/* Rate-limited: send what is due, and wake when the next one is. */
static uint64_t echo_tick(struct rl_worker *w, uint64_t now)
{
	struct echo *e = w->sc_data;
	uint64_t next = UINT64_MAX;

	if (!e->interval || now >= w->stop_ns)
		return UINT64_MAX;
	for (unsigned i = 0; i < w->nconns; i++) {
		if (w->conns[i].state != RL_CONN_OPEN)
			continue;
		if (e->ec[i].next <= now)
			rl_conn_kick(w, &w->conns[i]);
		/* Due but with its window full or a send in flight: the
		   echo or the send's completion kicks it again. */
		if (e->ec[i].next <= now &&
		    (e->ec[i].count == e->inflight ||
		     !rl_conn_can_write(&w->conns[i])))
			continue;
		if (e->ec[i].next < next)
			next = e->ec[i].next;
	}
	return next > now + TICK_MIN_NS ? next : now + TICK_MIN_NS;
}

static void echo_opened(struct rl_worker *w, struct rl_conn *c)
{
	(void)w;
	(void)c;
}

static void echo_closed(struct rl_worker *w, struct rl_conn *c)
{
	struct echo *e = w->sc_data;

	/* What was in flight will not come back; nothing to count. */
	e->ec[c->id].count = 0;
}

const struct rl_scenario rl_scenario_echo = {
	.name = "echo",
	.ramp = true,
	.count = echo_count,
	.init = echo_init,
	.exit = echo_exit,
	.run = echo_run,
	.tick = echo_tick,
	.opened = echo_opened,
	.writable = echo_writable,
	.message = echo_message,
	.closed = echo_closed,
};
