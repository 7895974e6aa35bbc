/* SPDX-License-Identifier: MIT */
/*
 * scenario_recover.c -- recover: ringcast.v1 clients come back at once
 * after missing --messages messages; the time until every one of them has
 * them all, in order, and "recovered":true.
 *
 * Steps, on one thread (the steps wait on each other, so one thread sees
 * them all without shared state):
 *
 *   join       the clients (conns [0, n)) and the publisher (conns[n])
 *              open in the ramp-up, all of them ringcast.v1;
 *   prime      the publisher sends PRIME messages; every client takes
 *              its position from them (a room's epoch is 0 until its
 *              first message, so a position needs one);
 *   leave      every client closes (close handshake);
 *   publish    the publisher sends --messages messages; the hub sends
 *              each back to it (no --no-echo-self), so its own last
 *              offset says when all of them are in the room's history;
 *   reconnect  every client opens again with ?epoch=E&offset=N, at most
 *              --connect-concurrency connecting at a time, and must get
 *              offsets N+1..N+messages once each, in order, then its
 *              joined line with recovered:true and offset N+messages.
 *
 * Measured: from the first reconnect issued to the last client done; with
 * --server-pid, the server's CPU time over the same span.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringcast.h"
#include "payload.h"
#include "v1.h"
#include "worker.h"

#define ROLE_CLIENT	0
#define ROLE_PUB	1

/* Messages the clients see live before they leave. */
#define PRIME		10
/* At most this many bytes of frames go out in one send. */
#define BATCH_BYTES	65536
/* A client's upgrade request (as the worker's: struct rl_worker). */
#define REQ_CAP		1024

enum step {
	S_JOIN,
	S_PRIME,
	S_LEAVE,
	S_PUBLISH,
	S_RECONNECT,
	S_DONE,
};

static const char *const step_name[] = {
	"join", "prime", "leave", "publish", "reconnect", "done",
};

enum cstate {
	C_NEW = 0,	/* not open yet (the ramp-up) */
	C_LIVE,		/* joined, seeing the prime messages */
	C_AWAY,		/* left */
	C_BACK,		/* reconnecting, or recovering */
	C_OK,		/* recovered everything */
	C_FAILED,
};

struct client {
	uint64_t epoch;		/* of the last message it got */
	uint64_t last;		/* the last offset it got */
	uint32_t got;		/* envelopes recovered so far */
	uint8_t state;		/* enum cstate */
	bool connecting;	/* counted in recover.connecting */
	uint16_t req_len;
};

struct recover {
	unsigned n;		/* clients */
	struct client *cl;
	char *reqs;		/* [n][REQ_CAP]: each client's request */
	struct rl_conn *pub;
	struct rl_payload pl;
	uint8_t *frames;	/* up to @batch frames being sent */
	unsigned batch;
	enum step step;
	uint64_t base;		/* the room's offset at the publisher's join */
	uint64_t pub_last;	/* the last offset the publisher got back */
	bool pub_joined;
	uint32_t seq;		/* messages sent */
	uint32_t goal;		/* messages to have sent by the step's end */
	unsigned live;		/* clients in C_LIVE */
	unsigned primed;	/* of those, with every prime message */
	unsigned away;		/* clients in C_AWAY */
	unsigned next;		/* reconnect: the next client to start */
	unsigned connecting;	/* reconnect: started, not open yet */
	unsigned opened;	/* reconnect: clients upgraded again */
	unsigned ok;		/* clients in C_OK */
	unsigned failed;	/* clients in C_FAILED */
	uint64_t t0;		/* the first reconnect issued */
	uint64_t cpu0;		/* the server's CPU time then, ns */
	bool said;		/* the first failure was told */
	bool busy;		/* in advance() */
	bool again;		/* advance() asked again meanwhile */
};

/* The server's CPU time so far in ns (every live thread's schedstat, the
   first field), or 0 if there is no --server-pid or it is gone. */
static uint64_t server_cpu_ns(const struct rl_cfg *cfg)
{
	char path[64];
	uint64_t sum = 0;
	struct dirent *d;
	DIR *dir;

	if (!cfg->server_pid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)cfg->server_pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		unsigned long long ns;
		char f[300];
		FILE *fp;

		if (d->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "/proc/%d/task/%s/schedstat",
			 (int)cfg->server_pid, d->d_name);
		fp = fopen(f, "r");
		if (!fp)
			continue;	/* a thread that just ended */
		if (fscanf(fp, "%llu", &ns) == 1)
			sum += ns;
		fclose(fp);
	}
	closedir(dir);
	return sum;
}

static unsigned rc_count(const struct rl_cfg *cfg, unsigned worker,
			 unsigned nworkers)
{
	(void)nworkers;
	return worker ? 0 : cfg->conns + 1;
}

static int rc_init(struct rl_worker *w)
{
	const struct rl_cfg *cfg = w->cfg;
	struct recover *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	w->sc_data = r;
	r->n = cfg->conns;
	r->cl = calloc(r->n, sizeof(*r->cl));
	r->reqs = malloc((size_t)r->n * REQ_CAP);
	if (!r->cl || !r->reqs)
		return -ENOMEM;
	ret = rl_payload_init(&r->pl, cfg, w->mask_key);
	if (ret)
		return ret;
	r->batch = (unsigned)(BATCH_BYTES / r->pl.max_frame);
	if (r->batch < 1)
		r->batch = 1;
	r->frames = malloc(r->pl.max_frame * r->batch);
	if (!r->frames)
		return -ENOMEM;
	for (unsigned i = 0; i < r->n; i++) {
		w->conns[i].role = ROLE_CLIENT;
		w->conns[i].slot = i;
	}
	r->pub = &w->conns[r->n];
	r->pub->role = ROLE_PUB;
	return 0;
}

static void rc_exit(struct rl_worker *w)
{
	struct recover *r = w->sc_data;

	if (!r)
		return;
	free(r->cl);
	free(r->reqs);
	free(r->frames);
	rl_payload_free(&r->pl);
	free(r);
	w->sc_data = NULL;
}

/* The measured part is over: tell the parent, which ends phase RUN. */
static void finish_run(struct rl_worker *w, struct recover *r)
{
	uint64_t cpu = server_cpu_ns(w->cfg);

	r->step = S_DONE;
	if (r->t0) {
		w->stats.c[RL_C_RECOVER_NS] = w->now - r->t0;
		if (cpu && r->cpu0)
			w->stats.c[RL_C_RECOVER_CPU_NS] = cpu - r->cpu0;
	}
	__atomic_store_n(&w->shm->done, 1, __ATOMIC_RELEASE);
}

static void advance(struct rl_worker *w, struct recover *r);
static void reconnect_more(struct rl_worker *w, struct recover *r);

/* Client @i did not recover: say why (the first time), close it. */
static void fail(struct rl_worker *w, struct recover *r, unsigned i,
		 const char *why)
{
	struct client *k = &r->cl[i];

	if (k->state == C_OK || k->state == C_FAILED)
		return;
	if (k->state == C_LIVE) {
		r->live--;
		if (k->last == r->base + PRIME)
			r->primed--;
	} else if (k->state == C_AWAY) {
		r->away--;
	}
	if (!r->said) {
		r->said = true;
		fprintf(stderr, "ringcast-load: recover: client %u (step %s, offset %llu, %u recovered): %s (the first failure)\n",
			i, step_name[r->step], (unsigned long long)k->last,
			k->got, why);
	}
	k->state = C_FAILED;
	r->failed++;
	w->stats.c[RL_C_RECOVER_FAILED]++;
	rl_conn_close(w, &w->conns[i]);
	advance(w, r);
}

/* Write the request client @i comes back with. */
static int make_request(struct rl_worker *w, struct recover *r, unsigned i)
{
	const char *kp = strstr(w->request, "Sec-WebSocket-Key: ");
	struct client *k = &r->cl[i];
	char key[RL_WS_KEY_LEN + 1], path[REQ_CAP];
	int n;

	/* The worker's key, so that its expected accept holds. */
	if (!kp)
		return -EINVAL;
	memcpy(key, kp + 19, RL_WS_KEY_LEN);
	key[RL_WS_KEY_LEN] = '\0';
	n = snprintf(path, sizeof(path), "%s%cepoch=%llu&offset=%llu",
		     w->cfg->path, strchr(w->cfg->path, '?') ? '&' : '?',
		     (unsigned long long)k->epoch,
		     (unsigned long long)k->last);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENOSPC;
	n = rl_ws_request_proto(r->reqs + (size_t)i * REQ_CAP, REQ_CAP,
				w->cfg->host_header, path, key,
				w->cfg->origin, NULL, w->cfg->subprotocol);
	if (n < 0)
		return n;
	k->req_len = (uint16_t)n;
	return 0;
}

/* Reconnect: start clients, at most --connect-concurrency at once. */
static void reconnect_more(struct rl_worker *w, struct recover *r)
{
	while (r->step == S_RECONNECT && r->next < r->n &&
	       r->connecting < w->cfg->connect_concurrency) {
		unsigned i = r->next++;
		struct client *k = &r->cl[i];

		if (k->state != C_AWAY)
			continue;
		r->away--;
		k->state = C_BACK;
		k->got = 0;
		if (make_request(w, r, i)) {
			fail(w, r, i, "no request");
			continue;
		}
		if (!r->t0) {
			r->cpu0 = server_cpu_ns(w->cfg);
			r->t0 = rl_now();
		}
		if (rl_conn_start(w, &w->conns[i])) {
			fail(w, r, i, "cannot connect");
			continue;
		}
		k->connecting = true;
		r->connecting++;
	}
}

/* One move on, if the clients and the publisher allow it: true if
   something changed. */
static bool step_once(struct rl_worker *w, struct recover *r)
{
	switch (r->step) {
	case S_PRIME:
		if (r->pub_last != r->base + PRIME || r->primed != r->live)
			return false;
		r->step = S_LEAVE;
		for (unsigned i = 0; i < r->n; i++)
			if (r->cl[i].state == C_LIVE)
				rl_conn_close(w, &w->conns[i]);
		return true;
	case S_LEAVE:
		if (r->live)
			return false;
		r->step = S_PUBLISH;
		r->goal = PRIME + w->cfg->messages;
		rl_conn_kick(w, r->pub);
		return true;
	case S_PUBLISH:
		if (r->pub_last != r->base + r->goal)
			return false;
		r->step = S_RECONNECT;
		return true;
	case S_RECONNECT:
		/* Every client settled, recovered or failed, ends the
		   measured part. */
		if (r->ok + r->failed == r->n) {
			finish_run(w, r);
			return true;
		}
		reconnect_more(w, r);
		return false;
	default:
		return false;
	}
}

/*
 * Move on as far as possible. Callbacks it runs (a failed start, a close)
 * may ask again from inside it: they are taken in its loop instead.
 */
static void advance(struct rl_worker *w, struct recover *r)
{
	bool more;

	if (r->busy) {
		r->again = true;
		return;
	}
	r->busy = true;
	do {
		r->again = false;
		more = step_once(w, r);
	} while (more || r->again);
	r->busy = false;
}

static void rc_run(struct rl_worker *w)
{
	struct recover *r = w->sc_data;

	/* Clients the ramp-up did not open will never recover. */
	for (unsigned i = 0; i < r->n; i++)
		if (r->cl[i].state == C_NEW)
			fail(w, r, i, "did not join");
	if (r->pub->state != RL_CONN_OPEN || !r->pub_joined) {
		fprintf(stderr, "ringcast-load: recover: the publisher did not join\n");
		r->step = S_DONE;
		for (unsigned i = 0; i < r->n; i++)
			fail(w, r, i, "no publisher");
		finish_run(w, r);
		return;
	}
	r->step = S_PRIME;
	r->goal = PRIME;
	rl_conn_kick(w, r->pub);
}

static void publish(struct rl_worker *w, struct recover *r)
{
	const struct rl_variant *v = &r->pl.v[0];
	const struct rl_frame_tpl *f = &v->f[0];
	size_t off = 0;
	unsigned n;

	if ((r->step != S_PRIME && r->step != S_PUBLISH) || r->seq >= r->goal)
		return;
	n = r->goal - r->seq;
	if (n > r->batch)
		n = r->batch;
	for (unsigned k = 0; k < n; k++) {
		memcpy(r->frames + off, f->frame, f->len);
		rl_payload_stamp(&r->pl, f, r->frames + off, w->mask_key,
				 w->now, 0, r->seq++);
		off += f->len;
	}
	w->stats.c[RL_C_SENT] += n;
	w->stats.c[RL_C_BYTES_OUT] += (uint64_t)n * v->len;
	w->stats.c[RL_C_WIRE_OUT] += off;
	rl_conn_write(w, r->pub, r->frames, off);
}

static void rc_writable(struct rl_worker *w, struct rl_conn *c)
{
	if (c->role == ROLE_PUB)
		publish(w, w->sc_data);
}

static void rc_request(struct rl_worker *w, struct rl_conn *c,
		       const char **req, size_t *len)
{
	struct recover *r = w->sc_data;

	if (c->role != ROLE_CLIENT || r->cl[c->slot].state != C_BACK)
		return;
	*req = r->reqs + (size_t)c->slot * REQ_CAP;
	*len = r->cl[c->slot].req_len;
}

static void rc_opened(struct rl_worker *w, struct rl_conn *c)
{
	struct recover *r = w->sc_data;
	struct client *k;

	if (c->role != ROLE_CLIENT)
		return;
	k = &r->cl[c->slot];
	if (k->connecting) {
		k->connecting = false;
		r->connecting--;
		/* How much of the time the upgrades take. */
		if (++r->opened == r->n)
			w->stats.c[RL_C_RECOVER_OPEN_NS] = rl_now() - r->t0;
		advance(w, r);
	}
}

/* A line to the publisher: its join, its own messages back. */
static void pub_line(struct rl_worker *w, struct recover *r,
		     enum rl_v1_type t, const struct rl_v1_line *e)
{
	if (t == RL_V1_JOINED && !r->pub_joined) {
		r->pub_joined = true;
		r->base = r->pub_last = e->offset;
	} else if (t == RL_V1_MSG) {
		r->pub_last = e->offset;
	}
	advance(w, r);
}

/* A line to client @i while it sees the prime messages live. */
static void live_line(struct rl_worker *w, struct recover *r, unsigned i,
		      enum rl_v1_type t, const struct rl_v1_line *e)
{
	struct client *k = &r->cl[i];

	if (t == RL_V1_JOINED) {
		k->last = e->offset;
		k->epoch = e->epoch;
		return;
	}
	if (e->offset != k->last + 1)
		w->stats.c[RL_C_OFFSET_BAD]++;
	k->last = e->offset;
	k->epoch = e->epoch;
	if (k->last == r->base + PRIME) {
		r->primed++;
		advance(w, r);
	}
}

/* A line to client @i coming back: the missed messages, then joined. */
static void back_line(struct rl_worker *w, struct recover *r, unsigned i,
		      enum rl_v1_type t, const struct rl_v1_line *e)
{
	struct client *k = &r->cl[i];

	if (t == RL_V1_MSG) {
		if (e->epoch != k->epoch || e->offset != k->last + 1) {
			w->stats.c[RL_C_OFFSET_BAD]++;
			fail(w, r, i, "an offset out of turn");
			return;
		}
		k->last = e->offset;
		k->got++;
		return;
	}
	if (e->recovered != 1) {
		fail(w, r, i, "joined without recovered:true");
		return;
	}
	if (k->got != w->cfg->messages || e->offset != k->last ||
	    e->epoch != k->epoch) {
		fail(w, r, i, "joined before every message");
		return;
	}
	k->state = C_OK;
	r->ok++;
	w->stats.c[RL_C_RECOVERED]++;
	advance(w, r);
}

static void rc_message(struct rl_worker *w, struct rl_conn *c,
		       const struct rl_ws_msg *m)
{
	struct recover *r = w->sc_data;
	const struct rl_payload *pl = &r->pl;
	struct rl_v1_line e;
	enum rl_v1_type t = m->opcode == RC_OP_TEXT ?
			    rl_v1_parse(m->head, m->head_len, &e) : RL_V1_BAD;
	uint64_t sent;
	uint32_t pub, seq;
	struct client *k;

	if (t == RL_V1_OTHER) {
		w->stats.c[RL_C_V1_OTHER]++;
		return;
	}
	/* A msg carries one of ours as it is: the stamp, then "}. */
	if (t == RL_V1_MSG &&
	    (m->len != e.data_at + pl->v[0].len + 2 ||
	     !rl_payload_unstamp(pl, m->head + e.data_at,
				 m->head_len - e.data_at, &sent, &pub, &seq)))
		t = RL_V1_BAD;
	if (t == RL_V1_BAD) {
		w->stats.c[RL_E_PAYLOAD]++;
		if (c->role == ROLE_CLIENT)
			fail(w, r, c->slot, "not a ringcast.v1 line");
		return;
	}
	if (t == RL_V1_JOINED)
		w->stats.c[RL_C_V1_OTHER]++;
	if (c->role == ROLE_PUB) {
		pub_line(w, r, t, &e);
		return;
	}
	if (t == RL_V1_MSG) {
		w->stats.c[RL_C_RECV]++;
		w->stats.c[RL_C_BYTES_IN] += m->len;
		w->stats.c[RL_C_WIRE_IN] += m->wire_len;
		if (w->now < w->stop_ns)
			w->stats.c[RL_C_MSGS]++;
	}
	k = &r->cl[c->slot];
	switch (k->state) {
	case C_NEW:
		if (t == RL_V1_JOINED) {
			k->state = C_LIVE;
			k->last = e.offset;
			k->epoch = e.epoch;
			r->live++;
		}
		break;
	case C_LIVE:
		live_line(w, r, c->slot, t, &e);
		break;
	case C_BACK:
		back_line(w, r, c->slot, t, &e);
		break;
	default:
		break;
	}
}

static void rc_closed(struct rl_worker *w, struct rl_conn *c)
{
	struct recover *r = w->sc_data;
	enum step step;
	struct client *k;

	if (c->role == ROLE_PUB) {
		/* Nothing more can be published: those not done never
		   will be. */
		if (r->step == S_DONE || w->closing)
			return;
		fprintf(stderr, "ringcast-load: recover: the publisher's connection ended in step %s\n",
			step_name[r->step]);
		step = r->step;
		r->step = S_DONE;
		for (unsigned i = 0; i < r->n; i++)
			fail(w, r, i, "the publisher is gone");
		if (step != S_DONE)
			finish_run(w, r);
		return;
	}
	k = &r->cl[c->slot];
	if (k->connecting) {
		k->connecting = false;
		r->connecting--;
	}
	switch (k->state) {
	case C_LIVE:
		/* Left, as asked (or lost: then it left early). */
		if (k->last != r->base + PRIME) {
			fail(w, r, c->slot, "left before every prime message");
			break;
		}
		r->live--;
		r->primed--;
		k->state = C_AWAY;
		r->away++;
		advance(w, r);
		break;
	case C_NEW:
	case C_BACK:
		if (!w->closing)
			fail(w, r, c->slot, "its connection ended");
		break;
	default:
		break;
	}
}

/* Phase CLOSE: whoever has not recovered by now, did not. */
static void rc_finish(struct rl_worker *w)
{
	struct recover *r = w->sc_data;

	if (r->step == S_DONE)
		return;
	fprintf(stderr, "ringcast-load: recover: stopped in step %s (--duration)\n",
		step_name[r->step]);
	for (unsigned i = 0; i < r->n; i++)
		if (r->cl[i].state != C_OK && r->cl[i].state != C_FAILED) {
			r->cl[i].state = C_FAILED;
			r->failed++;
			w->stats.c[RL_C_RECOVER_FAILED]++;
		}
	if (r->t0)
		w->stats.c[RL_C_RECOVER_NS] = w->now - r->t0;
	r->step = S_DONE;
}

const struct rl_scenario rl_scenario_recover = {
	.name = "recover",
	.ramp = true,
	.count = rc_count,
	.init = rc_init,
	.exit = rc_exit,
	.run = rc_run,
	.request = rc_request,
	.opened = rc_opened,
	.writable = rc_writable,
	.message = rc_message,
	.closed = rc_closed,
	.finish = rc_finish,
};
