/* SPDX-License-Identifier: MIT */
/*
 * scenario_broadcast.c -- broadcast: publishers send into one room, every
 * subscriber should get every message; deliveries/s, publish-to-receive
 * latency, lost and out-of-order messages.
 *
 * Payload (payload.h): a stamp of send time (ns, CLOCK_MONOTONIC: one clock
 * for every process on the host), publisher id and sequence number, then
 * filler; or with --json a chat message of that many bytes on average, the
 * stamp its first fields. With --deflate, a publisher whose server agreed
 * sends its messages compressed: each made once, the stamp rewritten per
 * message as in a plain one.
 *
 * Several servers sharing rooms (--ports, --pub-ports): subscribers are
 * spread over --ports, publishers over --pub-ports (default: the first
 * port); latency is then also kept apart for subscribers on their
 * publisher's server (near) and on another one (far).
 *
 * --subprotocol ringcast.v1: every member asks for the hub's envelopes
 * (v1.h); a delivery is a "msg" line, its data the publisher's message
 * (--text: carried as it is), its offset the previous one's + 1 for each
 * subscriber; other lines (joined, presence) are counted apart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringcast.h"
#include "payload.h"
#include "v1.h"
#include "worker.h"

#define ROLE_SUB	0
#define ROLE_PUB	1

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
	uint8_t *frames;	/* up to @batch frames being sent */
	bool z;			/* sends compressed (--deflate, agreed) */
	unsigned filled;	/* one variant: frames already in place,
				   only their stamps change */
};

struct broadcast {
	struct pub *pubs;	/* local publishers */
	unsigned npubs;
	unsigned nsubs;		/* local subscribers: conns [0, nsubs) */
	unsigned npub_all;
	uint32_t *next_seq;	/* [nsubs * npub_all]: next expected */
	uint64_t *offset;	/* ringcast.v1: [nsubs] last offset seen */
	uint64_t *delivered;	/* [npub_all] not yet added to shared */
	uint32_t *dirty;	/* publishers with delivered[] non-zero */
	unsigned ndirty;
	struct rl_payload pl;
	unsigned batch;
	uint64_t interval;	/* rate: ns between messages; 0: max */
	uint64_t timeout;
	bool multi;		/* over several ports: near/far latency */
};

static unsigned bc_count(const struct rl_cfg *cfg, unsigned worker,
			 unsigned nworkers)
{
	return rl_cfg_share(cfg->subscribers, worker, nworkers) +
	       rl_cfg_share(cfg->publishers, worker, nworkers);
}

static int bc_init(struct rl_worker *w)
{
	const struct rl_cfg *cfg = w->cfg;
	struct broadcast *b = calloc(1, sizeof(*b));
	int ret;

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
	b->multi = rl_cfg_multi_port(cfg);
	ret = rl_payload_init(&b->pl, cfg, w->mask_key);
	if (ret)
		return ret;
	b->batch = (unsigned)(BATCH_BYTES / b->pl.max_frame);
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
	b->offset = calloc(b->nsubs ? b->nsubs : 1, sizeof(*b->offset));
	if (!b->pubs || !b->next_seq || !b->delivered || !b->dirty ||
	    !b->offset)
		return -ENOMEM;
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
		p->c->port = rl_cfg_pub_port(cfg, p->id);
		p->frames = malloc(b->pl.max_frame * b->batch);
		if (!p->frames)
			return -ENOMEM;
	}
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
	free(b->offset);
	rl_payload_free(&b->pl);
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
	const struct rl_payload *pl = &b->pl;
	uint64_t bytes = 0;
	size_t off = 0;
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
		const struct rl_variant *v =
			&pl->v[rl_payload_pick(pl, p->id, p->seq)];
		const struct rl_frame_tpl *f = &v->f[p->z];

		/* One variant: the frames stay, only stamps change. */
		if (pl->n > 1 || k >= p->filled)
			memcpy(p->frames + off, f->frame, f->len);
		rl_payload_stamp(pl, f, p->frames + off, w->mask_key,
				 b->interval ? p->next : w->now, p->id,
				 p->seq);
		off += f->len;
		bytes += v->len;
		p->seq++;
		p->next += b->interval;
	}
	if (n > p->filled)
		p->filled = n;
	w->stats.c[RL_C_SENT] += n;
	w->stats.c[RL_C_BYTES_OUT] += bytes;
	w->stats.c[RL_C_WIRE_OUT] += off;
	if (p->z)
		w->stats.c[RL_C_Z_OUT] += n;
	__atomic_store_n(&w->shm->pub_sent[p->id], p->seq, __ATOMIC_RELAXED);
	if (b->interval)
		rl_worker_wake_at(w, p->next);
	rl_conn_write(w, p->c, p->frames, off);
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
	struct broadcast *b = w->sc_data;

	if (c->role == ROLE_SUB) {
		__atomic_fetch_add(&w->shm->subs_open, 1, __ATOMIC_RELAXED);
		return;
	}
	/* Compressed if the server agreed: the frames are made anew. */
	b->pubs[c->slot].z = !!(c->flags & RL_F_PMD);
	b->pubs[c->slot].filled = 0;
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

/*
 * A ringcast.v1 line on @c: false if it is no delivery (counted here).
 * A "msg" moves *@head, *@n and *@len to the data inside it and gives
 * its *@off; a "joined" line sets where a subscriber's offsets go on.
 */
static bool v1_unwrap(struct rl_worker *w, struct broadcast *b,
		      struct rl_conn *c, const struct rl_ws_msg *m,
		      const uint8_t **head, size_t *n, uint64_t *len,
		      uint64_t *off)
{
	struct rl_v1_line e;
	enum rl_v1_type t = m->opcode == RC_OP_TEXT ?
			    rl_v1_parse(m->head, m->head_len, &e) : RL_V1_BAD;

	/* The envelope ends with the data's closing quote and "}". */
	if (t == RL_V1_MSG && m->len >= e.data_at + 2) {
		*head = m->head + e.data_at;
		*n = m->head_len - e.data_at;
		*len = m->len - e.data_at - 2;
		*off = e.offset;
		return true;
	}
	if (t == RL_V1_MSG || t == RL_V1_BAD) {
		w->stats.c[RL_E_PAYLOAD]++;
		return false;
	}
	if (t == RL_V1_JOINED && c->role == ROLE_SUB)
		b->offset[c->slot] = e.offset;
	w->stats.c[RL_C_V1_OTHER]++;
	return false;
}

static void bc_message(struct rl_worker *w, struct rl_conn *c,
		       const struct rl_ws_msg *m)
{
	struct broadcast *b = w->sc_data;
	const struct rl_payload *pl = &b->pl;
	const uint8_t *head = m->head;
	size_t head_len = m->head_len;
	uint64_t sent, lat, len = m->len, off = 0;
	uint32_t pub, seq, *next;

	if (w->cfg->v1 &&
	    !v1_unwrap(w, b, c, m, &head, &head_len, &len, &off))
		return;
	if (m->opcode != pl->opcode ||
	    !rl_payload_unstamp(pl, head, head_len, &sent, &pub, &seq) ||
	    pub >= b->npub_all ||
	    len != pl->v[rl_payload_pick(pl, pub, seq)].len) {
		w->stats.c[RL_E_PAYLOAD]++;
		return;
	}
	/* A publisher is in the room too: the hub sends it its own
	   messages unless --no-echo-self. Not a delivery. */
	if (c->role == ROLE_PUB)
		return;
	/* Offsets go up by one per message; none (0) without history. */
	if (off) {
		if (off != b->offset[c->slot] + 1)
			w->stats.c[RL_C_OFFSET_BAD]++;
		b->offset[c->slot] = off;
	}
	w->stats.c[RL_C_RECV]++;
	w->stats.c[RL_C_BYTES_IN] += m->len;
	w->stats.c[RL_C_WIRE_IN] += m->wire_len;
	if (w->now < w->stop_ns)
		w->stats.c[RL_C_MSGS]++;
	lat = w->now > sent ? w->now - sent : 0;
	rl_hist_record(&w->hist, lat);
	if (b->multi)
		rl_hist_record(c->port == rl_cfg_pub_port(w->cfg, pub) ?
			       &w->hist_near : &w->hist_far, lat);
	if (!b->delivered[pub]++)
		b->dirty[b->ndirty++] = pub;

	next = &b->next_seq[(size_t)c->slot * b->npub_all + pub];
	if (seq == *next) {
		(*next)++;
	} else if (seq > *next) {
		w->stats.c[RL_C_GAPS] += seq - *next;
		*next = seq + 1;
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
