/* SPDX-License-Identifier: MIT */
/*
 * scenario_broadcast.c -- broadcast: publishers send into one room, every
 * subscriber should get every message; deliveries/s, publish-to-receive
 * latency, lost and out-of-order messages.
 *
 * Payload: send time (ns, CLOCK_MONOTONIC: one clock for every process on
 * the host), publisher id, sequence number, all little-endian, then filler.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringcast.h"
#include "worker.h"

#define ROLE_SUB	0
#define ROLE_PUB	1

/* The part of the payload that changes per message. */
struct stamp {
	uint64_t sent;		/* intended send time (rate) or actual (max) */
	uint32_t pub;
	uint32_t seq;
};

_Static_assert(sizeof(struct stamp) == RL_WS_HEAD, "the stamp is the head");

/* Rate-limited: the soonest publishers are looked at again, so that
   schedules falling due together are served in one pass. */
#define TICK_MIN_NS	(20 * 1000ull)
/* Max rate, a window blocked on subscribers in other threads: how soon
   to look again (their progress arrives through shared memory). */
#define POLL_NS		(200 * 1000ull)
/* At most this many bytes of frames go out in one send. */
#define BATCH_BYTES	65536

struct pub {
	struct rl_conn *c;
	uint32_t id;		/* over all workers */
	uint32_t seq;		/* next sequence number = messages sent */
	uint64_t next;		/* rate: intended time of message seq */
	uint64_t blocked;	/* max: window full since, 0 if not */
	uint8_t *frames;	/* @batch frames, only their stamps change */
};

struct broadcast {
	struct pub *pubs;	/* local publishers */
	unsigned npubs;
	unsigned nsubs;		/* local subscribers: conns [0, nsubs) */
	unsigned npub_all;
	uint32_t *next_seq;	/* [nsubs * npub_all]: next expected */
	uint64_t *delivered;	/* [npub_all] not yet added to shared */
	uint32_t *dirty;	/* publishers with delivered[] non-zero */
	unsigned ndirty;
	size_t frame_len;
	size_t hdr_len;
	unsigned batch;
	uint64_t interval;	/* rate: ns between messages; 0: max */
	uint64_t timeout;
};

static unsigned bc_count(const struct rl_cfg *cfg, unsigned worker,
			 unsigned nworkers)
{
	return rl_cfg_share(cfg->subscribers, worker, nworkers) +
	       rl_cfg_share(cfg->publishers, worker, nworkers);
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static int bc_init(struct rl_worker *w)
{
	const struct rl_cfg *cfg = w->cfg;
	struct broadcast *b = calloc(1, sizeof(*b));
	uint8_t *payload, hdr[RC_FRAME_HDR_MAX];

	if (!b)
		return -ENOMEM;
	w->sc_data = b;
	b->nsubs = rl_cfg_share(cfg->subscribers, w->index, w->nworkers);
	b->npubs = rl_cfg_share(cfg->publishers, w->index, w->nworkers);
	b->npub_all = cfg->publishers;
	b->interval = cfg->rate > 0 ? (uint64_t)(1e9 / cfg->rate) : 0;
	if (cfg->rate > 0 && !b->interval)
		b->interval = 1;
	b->timeout = (uint64_t)(cfg->timeout_s * 1e9);
	b->frame_len = rl_ws_frame_len(cfg->size);
	b->hdr_len = rc_frame_encode_header(hdr, RC_OP_BINARY, true, cfg->size,
					    &w->mask_key);
	b->batch = (unsigned)(BATCH_BYTES / b->frame_len);
	if (b->batch < 1)
		b->batch = 1;
	if (!b->interval && b->batch > cfg->window)
		b->batch = cfg->window;
	/* Max rate: a blocked window waits on other threads' progress. */
	w->tick_each_batch = !b->interval;

	b->pubs = calloc(b->npubs ? b->npubs : 1, sizeof(*b->pubs));
	b->next_seq = calloc((size_t)(b->nsubs ? b->nsubs : 1) * b->npub_all,
			     sizeof(*b->next_seq));
	b->delivered = calloc(b->npub_all, sizeof(*b->delivered));
	b->dirty = calloc(b->npub_all, sizeof(*b->dirty));
	payload = calloc(1, cfg->size);
	if (!b->pubs || !b->next_seq || !b->delivered || !b->dirty ||
	    !payload) {
		free(payload);
		return -ENOMEM;
	}
	for (size_t i = RL_WS_HEAD; i < cfg->size; i++)
		payload[i] = (uint8_t)('a' + i % 26);
	for (unsigned i = 0; i < b->nsubs; i++) {
		w->conns[i].role = ROLE_SUB;
		w->conns[i].slot = i;
	}
	for (unsigned j = 0; j < b->npubs; j++) {
		struct pub *p = &b->pubs[j];

		p->c = &w->conns[b->nsubs + j];
		p->c->role = ROLE_PUB;
		p->c->slot = j;
		p->id = w->index + j * w->nworkers;
		p->frames = malloc(b->frame_len * b->batch);
		if (!p->frames) {
			free(payload);
			return -ENOMEM;
		}
		for (unsigned k = 0; k < b->batch; k++)
			rl_ws_encode(p->frames + k * b->frame_len,
				     RC_OP_BINARY, payload, cfg->size,
				     w->mask_key);
	}
	free(payload);
	return 0;
}

static void bc_exit(struct rl_worker *w)
{
	struct broadcast *b = w->sc_data;

	if (!b)
		return;
	for (unsigned j = 0; b->pubs && j < b->npubs; j++)
		free(b->pubs[j].frames);
	free(b->pubs);
	free(b->next_seq);
	free(b->delivered);
	free(b->dirty);
	free(b);
	w->sc_data = NULL;
}

/* Messages publisher @p may send now: those due (rate), or the room left
   in its window (max). */
static unsigned sendable(struct rl_worker *w, struct broadcast *b,
			 struct pub *p)
{
	const struct rl_shared *shm = w->shm;
	uint64_t done, subs, inflight;

	if (b->interval) {
		if (w->now < p->next)
			return 0;
		done = (w->now - p->next) / b->interval + 1;
		return done < b->batch ? (unsigned)done : b->batch;
	}
	/* A message is done once every subscriber has it: deliveries of
	   this publisher's messages over subscribers open. */
	subs = (uint64_t)__atomic_load_n(&shm->subs_open, __ATOMIC_RELAXED);
	done = __atomic_load_n(&shm->pub_delivered[p->id], __ATOMIC_RELAXED);
	done = subs ? done / subs : p->seq;
	inflight = p->seq > done ? p->seq - done : 0;
	if (inflight >= w->cfg->window)
		return 0;
	inflight = w->cfg->window - inflight;
	return inflight < b->batch ? (unsigned)inflight : b->batch;
}

static void publish(struct rl_worker *w, struct broadcast *b, struct pub *p)
{
	unsigned n;

	if (!rl_conn_can_write(p->c) || w->now >= w->stop_ns)
		return;
	n = sendable(w, b, p);
	if (!n) {
		if (!b->interval && !p->blocked)
			p->blocked = w->now;
		return;
	}
	p->blocked = 0;
	for (unsigned k = 0; k < n; k++) {
		uint8_t *stamp = p->frames + k * b->frame_len + b->hdr_len;

		put_le(stamp, b->interval ? p->next : w->now, 8);
		put_le(stamp + 8, p->id, 4);
		put_le(stamp + 12, p->seq, 4);
		/* The stamp starts the payload: key offset 0. */
		rl_ws_mask(stamp, RL_WS_HEAD, w->mask_key, 0);
		p->seq++;
		p->next += b->interval;
	}
	w->stats.c[RL_C_SENT] += n;
	w->stats.c[RL_C_BYTES_OUT] += (uint64_t)n * w->cfg->size;
	__atomic_store_n(&w->shm->pub_sent[p->id], p->seq, __ATOMIC_RELAXED);
	if (b->interval)
		rl_worker_wake_at(w, p->next);
	rl_conn_write(w, p->c, p->frames, (size_t)n * b->frame_len);
}

static void bc_run(struct rl_worker *w)
{
	struct broadcast *b = w->sc_data;

	for (unsigned j = 0; j < b->npubs; j++) {
		struct pub *p = &b->pubs[j];

		/* Publishers' schedules spread over one interval. */
		p->next = w->start_ns +
			  b->interval * p->id / w->cfg->publishers;
		rl_conn_kick(w, p->c);
	}
}

/* Deliveries counted here go to the shared counters the publishers'
   windows read. */
static void flush_delivered(struct rl_worker *w, struct broadcast *b)
{
	for (unsigned i = 0; i < b->ndirty; i++) {
		uint32_t p = b->dirty[i];

		__atomic_fetch_add(&w->shm->pub_delivered[p], b->delivered[p],
				   __ATOMIC_RELAXED);
		b->delivered[p] = 0;
	}
	b->ndirty = 0;
}

static uint64_t bc_tick(struct rl_worker *w, uint64_t now)
{
	struct broadcast *b = w->sc_data;
	uint64_t next = UINT64_MAX;

	if (!b->interval)
		flush_delivered(w, b);
	if (now >= w->stop_ns)
		return UINT64_MAX;
	for (unsigned j = 0; j < b->npubs; j++) {
		struct pub *p = &b->pubs[j];

		if (p->c->state != RL_CONN_OPEN)
			continue;
		rl_conn_kick(w, p->c);
		if (b->interval) {
			/* Due with a send in flight: its completion kicks
			   it again. */
			if (p->next <= now && !rl_conn_can_write(p->c))
				continue;
			if (p->next < next)
				next = p->next;
			continue;
		}
		if (!p->blocked)
			continue;
		if (now - p->blocked > b->timeout) {
			/* Some subscriber never got a message: the window
			   would never open again. */
			w->stats.c[RL_E_TIMEOUT_RESPONSE]++;
			rl_conn_abort(w, p->c);
			continue;
		}
		if (now + POLL_NS < next)
			next = now + POLL_NS;
	}
	if (b->interval && next < now + TICK_MIN_NS)
		next = now + TICK_MIN_NS;
	return next;
}

static void bc_opened(struct rl_worker *w, struct rl_conn *c)
{
	if (c->role == ROLE_SUB)
		__atomic_fetch_add(&w->shm->subs_open, 1, __ATOMIC_RELAXED);
}

static void bc_closed(struct rl_worker *w, struct rl_conn *c)
{
	if (c->role == ROLE_SUB && (c->flags & RL_F_WAS_OPEN))
		__atomic_fetch_sub(&w->shm->subs_open, 1, __ATOMIC_RELAXED);
}

static void bc_writable(struct rl_worker *w, struct rl_conn *c)
{
	struct broadcast *b = w->sc_data;

	if (c->role == ROLE_PUB)
		publish(w, b, &b->pubs[c->slot]);
}

static void bc_message(struct rl_worker *w, struct rl_conn *c,
		       const struct rl_ws_msg *m)
{
	struct broadcast *b = w->sc_data;
	struct stamp s;
	uint32_t *next;

	if (m->opcode != RC_OP_BINARY || m->len != w->cfg->size ||
	    m->head_len < RL_WS_HEAD) {
		w->stats.c[RL_E_PAYLOAD]++;
		return;
	}
	s.sent = get_le(m->head, 8);
	s.pub = (uint32_t)get_le(m->head + 8, 4);
	s.seq = (uint32_t)get_le(m->head + 12, 4);
	if (s.pub >= b->npub_all) {
		w->stats.c[RL_E_PAYLOAD]++;
		return;
	}
	/* A publisher is in the room too: the hub sends it its own
	   messages unless --no-echo-self. Not a delivery. */
	if (c->role == ROLE_PUB)
		return;
	w->stats.c[RL_C_RECV]++;
	w->stats.c[RL_C_BYTES_IN] += m->len;
	if (w->now < w->stop_ns)
		w->stats.c[RL_C_MSGS]++;
	rl_hist_record(&w->hist, w->now > s.sent ? w->now - s.sent : 0);
	if (!b->delivered[s.pub]++)
		b->dirty[b->ndirty++] = s.pub;

	next = &b->next_seq[(size_t)c->slot * b->npub_all + s.pub];
	if (s.seq == *next) {
		(*next)++;
	} else if (s.seq > *next) {
		w->stats.c[RL_C_GAPS] += s.seq - *next;
		*next = s.seq + 1;
	} else {
		w->stats.c[RL_C_OUT_OF_ORDER]++;
	}
}

/* After the drain: what each subscriber still open never got. */
static void bc_finish(struct rl_worker *w)
{
	struct broadcast *b = w->sc_data;

	for (unsigned i = 0; i < b->nsubs; i++) {
		if (w->conns[i].state != RL_CONN_OPEN)
			continue;
		for (unsigned p = 0; p < b->npub_all; p++) {
			uint64_t sent = __atomic_load_n(&w->shm->pub_sent[p],
							__ATOMIC_RELAXED);
			uint32_t got = b->next_seq[(size_t)i * b->npub_all + p];

			if (sent > got)
				w->stats.c[RL_C_TAIL_LOST] += sent - got;
		}
	}
}

const struct rl_scenario rl_scenario_broadcast = {
	.name = "broadcast",
	.ramp = true,
	.count = bc_count,
	.init = bc_init,
	.exit = bc_exit,
	.run = bc_run,
	.tick = bc_tick,
	.opened = bc_opened,
	.writable = bc_writable,
	.message = bc_message,
	.closed = bc_closed,
	.finish = bc_finish,
};
