/* SPDX-License-Identifier: MIT */
/* worker.c -- one thread, one io_uring: accept, completions, the loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "runtime/fault.h"
#include "runtime/rt.h"
#include "runtime/server.h"
#include "deflate/deflate.h"
#include "runtime/worker.h"

/* Completions handled per batch before the loop does its end-of-turn work. */
#define CQE_BATCH 256
/* Longest sleep: a turn at least this often (pool trim, timers). */
#define MAX_WAIT_MS 1000
#define POOL_TRIM_MS 1000
/* Back-off after an accept error, doubling from 1 ms. */
#define ACCEPT_BACKOFF_MAX_MS 1000
/* Direct descriptors kept beyond max_connections so that a connection over
   the limit can still be accepted and told 503 instead of being reset. */
#define SLOT_RESERVE 256
/* Submission queue entries (the completion queue has four times as many). */
#define RING_ENTRIES 4096

__thread struct rc_worker *rc__self;
__thread struct rc_counters *rc__stats_self;

uint32_t rc__clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* ---- end-of-turn list: recv re-arms and sends, batched per turn ---- */

void rc__dirty(struct rc_conn *c)
{
	if (c->flags & RC_CF_DIRTY)
		return;
	c->flags |= RC_CF_DIRTY;
	c->dirty_next = c->w->dirty_head;
	c->w->dirty_head = rc__conn_slot(c);
}

static void dirty_flush(struct rc_worker *w)
{
	while (w->dirty_head != RC_NO_SLOT) {
		struct rc_conn *c = &w->conns[w->dirty_head];

		w->dirty_head = c->dirty_next;
		c->dirty_next = RC_NO_SLOT;
		c->flags &= ~RC_CF_DIRTY;
		if (c->state == RC_CONN_DEAD) {
			rc__conn_reap(c);
			continue;
		}
		if ((c->flags & RC_CF_REARM) &&
		    !(c->flags & (RC_CF_PAUSED | RC_CF_PUB_WAIT |
				  RC_CF_DEFERRED)))
			rc__conn_recv_arm(c);
		c->flags &= ~RC_CF_REARM;
		rc__out_kick(c);
	}
}

/* ---- accept ---- */

/* Every accept of a listener pending. */
#define ACCEPTS_ALL ((uint8_t)((1u << RC_ACCEPTS) - 1))

static void accept_arm(struct rc_worker *w, unsigned li, unsigned k)
{
	struct rc_listener *l = &w->lis[li];
	struct io_uring_sqe *sqe = rc__ring_sqe(&w->ring);
	/* Tests: an accept on no socket fails at once, as an accept on a
	   broken listener would, again and again. */
	int fd = rc__fault(RC_FAULT_ACCEPT) ? -1 : l->fd;

	/* One accept per connection (not multishot), each into its own
	   address buffer: multishot accept would write every peer's
	   address into one buffer, overwritten before we read it. The
	   descriptor goes straight into the ring's table (a slot the
	   kernel picks). */
	l->acc[k].len = sizeof(l->acc[k].addr);
	io_uring_prep_accept(sqe, fd, (struct sockaddr *)&l->acc[k].addr,
			     &l->acc[k].len, 0);
	sqe->file_index = IORING_FILE_INDEX_ALLOC;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_ACCEPT,
					   li * RC_ACCEPTS + k));
	l->armed |= (uint8_t)(1u << k);
}

static void accept_arm_all(struct rc_worker *w, unsigned li)
{
	for (unsigned k = 0; k < RC_ACCEPTS; k++)
		if (!(w->lis[li].armed & (1u << k)))
			accept_arm(w, li, k);
}

static void accepted(struct rc_worker *w, struct rc_listener *l, uint32_t slot,
		     const struct sockaddr *peer)
{
	struct rc_conn *c = &w->conns[slot];
	unsigned total = atomic_fetch_add(&w->srv->nconns, 1);

	if (!rc__conn_open(w, c, slot))
		return;
	if (l->tls && rc__tls_conn_new(c)) {
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return;
	}
	/* Over the limit, or this worker's table (bounded by RLIMIT_NOFILE)
	   is down to its reserve: answer 503 while a slot is still there to
	   answer from. */
	if (total >= w->srv->cfg.max_connections || w->stopping ||
	    w->nconns + w->nretired + SLOT_RESERVE > w->nslots) {
		rc__conn_refuse(c, 503, "connections");
		return;
	}
	rc__conn_peer_accepted(c, peer);
}

static void on_accept(struct rc_worker *w, struct io_uring_cqe *cqe)
{
	unsigned li = rc_ud_arg(cqe->user_data) / RC_ACCEPTS;
	unsigned k = rc_ud_arg(cqe->user_data) % RC_ACCEPTS;
	struct rc_listener *l;

	if (li >= w->nlis)
		return;
	l = &w->lis[li];
	l->armed &= (uint8_t)~(1u << k);
	if (cqe->res >= 0 && (uint32_t)cqe->res < w->nslots) {
		l->backoff_ms = 0;
		accepted(w, l, (uint32_t)cqe->res,
			 (const struct sockaddr *)&l->acc[k].addr);
	} else if (cqe->res == -ENFILE || cqe->res == -EMFILE) {
		/* Even the reserve is used up: the kernel dropped this one. */
		rc__stat_add(&w->stats, RC_STAT_REFUSED, 1);
	} else if (cqe->res < 0 && cqe->res != -ECANCELED &&
		   !rc_server_draining(w->srv)) {
		/* (A listener shut down by a drain or a stop ends its
		   accepts with an error: not one to count.) */
		rc__stat_add(&w->stats, RC_STAT_ACCEPT_ERRORS, 1);
		if (!l->backoff_ms)
			rc__log(w->srv, RC_LOG_WARN, "worker %u: accept "
				"failed: %s; retrying with a back-off",
				w->idx, strerror(-cqe->res));
	}
	if (w->stopping || w->draining || cqe->res == -ECANCELED ||
	    rc_server_draining(w->srv))
		return;
	if (cqe->res >= 0) {
		accept_arm_all(w, li);
		return;
	}
	/* An error: arming again at once would spin the loop on an error
	   that persists (a broken listener, a full table): back off, 1 ms
	   doubling to a second (once per round of accepts); connections
	   wait in the listener's backlog meanwhile. */
	if (!l->backoff_ms || (int32_t)(w->now_ms - l->retry_ms) >= 0) {
		l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : 1;
		if (l->backoff_ms > ACCEPT_BACKOFF_MAX_MS)
			l->backoff_ms = ACCEPT_BACKOFF_MAX_MS;
		l->retry_ms = w->now_ms + l->backoff_ms;
	}
}

/* An accept backing off: when it is due, or -1. */
static int32_t accept_due_in(struct rc_worker *w)
{
	int32_t due = -1;

	for (unsigned i = 0; i < w->nlis && !w->stopping && !w->draining;
	     i++) {
		struct rc_listener *l = &w->lis[i];
		int32_t d;

		if (l->armed == ACCEPTS_ALL || !l->backoff_ms)
			continue;
		d = (int32_t)(l->retry_ms - w->now_ms);
		if (d < 0)
			d = 0;
		if (due < 0 || d < due)
			due = d;
	}
	return due;
}

static void accept_retry(struct rc_worker *w)
{
	for (unsigned i = 0; i < w->nlis && !w->stopping && !w->draining;
	     i++) {
		struct rc_listener *l = &w->lis[i];

		if (l->armed != ACCEPTS_ALL && l->backoff_ms &&
		    (int32_t)(w->now_ms - l->retry_ms) >= 0)
			accept_arm_all(w, i);
	}
}

/* ---- completions ---- */

static void wake_arm(struct rc_worker *w)
{
	struct io_uring_sqe *sqe = rc__ring_sqe(&w->ring);

	io_uring_prep_read(sqe, w->wake_fd, &w->wake_val, sizeof(w->wake_val),
			   0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_WAKE, 0));
}

static void on_recv(struct rc_worker *w, struct io_uring_cqe *cqe)
{
	struct rc_conn *c = &w->conns[rc_ud_arg(cqe->user_data)];
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!more)
		rc__io_done(c, RC_IO_RECV);
	if (cqe->res > 0) {
		if (c->state != RC_CONN_DEAD)
			rc__conn_input(c, rc__recvbuf_data(&w->rb, cqe->flags),
				       (size_t)cqe->res);
		/* Input is consumed or copied by now. */
		rc__recvbuf_done(&w->rb, cqe->flags, cqe->res);
	} else if (cqe->res == 0) {
		if (c->state != RC_CONN_DEAD)
			rc__conn_eof(c, 0);
	} else if (cqe->res == -ENOBUFS) {
		/* Every buffer is busy this turn: the data waits in the
		   socket; try again at the end of the turn, once this
		   batch's buffers are back in the ring. */
		more = false;
		rc__stat_add(&w->stats, RC_STAT_RECV_WAITS, 1);
	} else if (cqe->res != -ECANCELED) {
		if (c->state != RC_CONN_DEAD)
			rc__conn_eof(c, cqe->res);
	}
	if (!more && c->state != RC_CONN_DEAD && cqe->res != 0 &&
	    !rc__io_busy(c, RC_IO_RECV)) {
		c->flags |= RC_CF_REARM;
		rc__dirty(c);
	}
	rc__conn_reap(c);
}

/* Cancel every accept still pending (the listeners are shut down, or
   handed-over ones stay listening for whoever comes next). */
static void accepts_cancel(struct rc_worker *w)
{
	struct io_uring_sqe *sqe;

	for (unsigned i = 0; i < w->nlis; i++) {
		if (!w->lis[i].armed)
			continue;
		sqe = rc__ring_sqe(&w->ring);
		io_uring_prep_cancel_fd(sqe, w->lis[i].fd,
					IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_IGNORE, 0));
		w->lis[i].armed = 0;
	}
}

void rc__worker_unlisten(struct rc_worker *w)
{
	/* shutdown() of a listening socket stops it listening (and takes
	   it out of its SO_REUSEPORT group) at once, whoever holds it;
	   close() would wait for the ring's reference to go. */
	for (unsigned i = 0; i < w->nlis; i++)
		if (w->lis[i].fd >= 0 && !w->lis[i].inherited)
			shutdown(w->lis[i].fd, SHUT_RDWR);
}

static bool live(const struct rc_conn *c)
{
	return c->state != RC_CONN_FREE && c->state != RC_CONN_DEAD &&
	       c->state != RC_CONN_RETIRED;
}

static void go_away(struct rc_worker *w)
{
	w->stopping = true;
	accepts_cancel(w);
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct rc_conn *c = &w->conns[i];

		if (live(c))
			rc__conn_going_away(c);
	}
}

/* ---- drain (rc_server_drain()) ---- */

/* WebSockets open on every worker: the drain ends when the last one
   goes, wherever it was (an HTTP connection on an idle worker stays
   until then: it may ask /health). Each worker's own gauge, read while
   draining only. */
static uint64_t ws_open(const struct rc_worker *w)
{
	const struct rc_server *s = w->srv;
	uint64_t n = 0;

	for (unsigned i = 0; i < s->nworkers; i++)
		n += atomic_load_explicit(&s->workers[i]->stats.v[
						RC_STAT_WS_OPEN],
					  memory_order_relaxed);
	return n;
}

/* Each turn: a new call of rc_server_drain() starts the drain here (1001
   to every WebSocket; HTTP connections stay, answered with Connection:
   close) or shortens it; once no WebSocket is left, or the time is up,
   the worker stops as rc_server_stop() would, and at the time limit
   whatever is left is closed. */
static void drain_turn(struct rc_worker *w)
{
	struct rc_server *s = w->srv;
	unsigned gen = atomic_load_explicit(&s->drain_gen,
					    memory_order_acquire);

	if (gen != w->drain_gen) {
		uint32_t end = w->now_ms + atomic_load(&s->drain_ms);

		w->drain_gen = gen;
		if (!w->draining) {
			w->draining = true;
			w->drain_end_ms = end;
			accepts_cancel(w);
			for (uint32_t i = 0; i < w->nslots; i++)
				if (w->conns[i].state == RC_CONN_WS)
					rc__conn_drain(&w->conns[i]);
		} else if ((int32_t)(end - w->drain_end_ms) < 0) {
			w->drain_end_ms = end;
		}
	}
	if (!w->draining)
		return;
	if ((int32_t)(w->now_ms - w->drain_end_ms) >= 0) {
		if (!w->stopping)
			go_away(w);
		for (uint32_t i = 0; i < w->nslots; i++)
			if (live(&w->conns[i]))
				rc__conn_kill(&w->conns[i],
					      RC_CLOSE_GOING_AWAY);
		/* Once: what is left is dead, waiting for its ring ops. */
		w->drain_end_ms = w->now_ms + 0x7fffffffu;
	} else if (!w->stopping && ws_open(w) == 0) {
		/* The last WebSocket anywhere is gone: the others may be
		   asleep until their next timer; wake them to end too. */
		go_away(w);
		for (unsigned i = 0; i < w->srv->nworkers; i++)
			if (w->srv->workers[i] != w)
				rc__worker_wake(w, w->srv->workers[i]);
	}
}

static void handle_cqe(struct rc_worker *w, struct io_uring_cqe *cqe)
{
	/* For a connection's operations, the argument is its slot. */
	struct rc_conn *c = &w->conns[rc_ud_arg(cqe->user_data)];

	switch (rc_ud_op(cqe->user_data)) {
	case RC_UD_ACCEPT:
		on_accept(w, cqe);
		break;
	case RC_UD_RECV:
		on_recv(w, cqe);
		break;
	case RC_UD_SEND:
		rc__out_complete(c, cqe->res);
		rc__conn_reap(c);
		break;
	case RC_UD_SHUTDOWN:
		rc__io_done(c, RC_IO_SHUTDOWN);
		rc__conn_reap(c);
		break;
	case RC_UD_CLOSE:
		rc__conn_closed(c);
		break;
	case RC_UD_WAKE:
		/* Stop, or inbox mail from a thread that is not a worker. */
		if (!w->stopping && atomic_load(&w->srv->stopping))
			go_away(w);
		else if (!w->stopping)
			wake_arm(w);
		break;
	case RC_UD_BELL:
		/* Our MSG_RING to a worker failed (its completion queue
		   full, say): ring its eventfd instead, or its mail would
		   wait for its next timer. */
		if (rc_ud_arg(cqe->user_data) < w->srv->nworkers)
			rc__worker_wake(NULL, w->srv->workers[
					rc_ud_arg(cqe->user_data)]);
		break;
	case RC_UD_INBOX:	/* drained after every batch anyway */
	case RC_UD_IGNORE:
		break;
	}
}

/* How long the loop may sleep: not at all while mail or set-aside
   completions wait (also mail it posted to itself from a timer or a
   handler after the drain), else until the next timer. */
static unsigned next_wait(struct rc_worker *w)
{
	unsigned wait;
	int32_t due;

	if (rc__ps_pending(&w->ps) || rc__ring_backlog(&w->ring) ||
	    rc__tls_waiting(&w->tlsw))
		return 0;
	wait = rc__timers_next_ms(w, MAX_WAIT_MS);
	wait = rc__deadlines_next_ms(w, wait);
	if (w->draining && (int32_t)(w->drain_end_ms - w->now_ms) < (int32_t)wait)
		wait = (int32_t)(w->drain_end_ms - w->now_ms) > 0 ?
		       w->drain_end_ms - w->now_ms : 0;
	due = accept_due_in(w);
	if (due >= 0 && (unsigned)due < wait)
		wait = (unsigned)due;
	return wait;
}

/* The ring failed beyond repair: end every connection (on_close runs),
   and stop the server, whose rc_server_run() returns the error. */
static void ring_failed(struct rc_worker *w)
{
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct rc_conn *c = &w->conns[i];

		if (c->state != RC_CONN_FREE && c->state != RC_CONN_RETIRED)
			rc__conn_kill(c, RC_CLOSE_INTERNAL);
	}
	w->init_err = w->ring.error;
	rc__log(w->srv, RC_LOG_ERROR, "worker %u: its io_uring failed for "
		"good (%s): stopping the server", w->idx,
		strerror(-w->ring.error));
	rc_server_stop(w->srv);
}

static void loop(struct rc_worker *w)
{
	struct io_uring_cqe cqes[CQE_BATCH];

	for (;;) {
		unsigned n;

		dirty_flush(w);
		if ((w->stopping && w->nconns == 0) || w->ring.error)
			break;
		/* One syscall per turn: submits everything queued since the
		   last turn and waits for at least one completion. */
		rc__ring_enter(&w->ring, next_wait(w));
		w->now_ms = rc__clock_ms();
		while ((n = rc__ring_reap(&w->ring, cqes, CQE_BATCH)))
			for (unsigned i = 0; i < n; i++)
				handle_cqe(w, &cqes[i]);
		rc__ps_drain(&w->ps);
		if (w->ps.npub_wait)
			rc__ps_pub_wait_check(&w->ps);
		if (w->tlsw.tls)
			rc__tls_turn(w);
		rc__timers_expire(w);
		rc__deadlines_fire(w);
		drain_turn(w);
		accept_retry(w);
		atomic_store_explicit(&w->beat, w->now_ms,
				      memory_order_relaxed);
		if ((int32_t)(w->now_ms - w->pool_trim_ms) >= POOL_TRIM_MS) {
			rc__out_pool_trim(&w->out);
			rc__ps_tick(&w->ps);
			if (w->tlsw.tls)
				rc__tls_rl_sweep(w);
			w->pool_trim_ms = w->now_ms;
		}
	}
	if (w->ring.error)
		ring_failed(w);
}

/* ---- what the pub/sub layer calls (runtime/rt.h) ---- */

struct rc_conn *rc__worker_conn(struct rc_worker *w, uint64_t id)
{
	uint32_t slot = (uint32_t)(id & (RC_ID_SLOT_MAX - 1));
	struct rc_conn *c = slot < w->nslots ? &w->conns[slot] : NULL;

	if (!c || c->id != id || c->state == RC_CONN_FREE ||
	    c->state == RC_CONN_RETIRED)
		return NULL;
	return c;
}

void rc__worker_wake(struct rc_worker *from, struct rc_worker *to)
{
	uint64_t one = 1;

	if (from) {
		/* From a worker: an SQE in its own ring, submitted with the
		   rest of its turn, not a syscall of its own. Success posts
		   nothing; a failure comes back as RC_UD_BELL. */
		struct io_uring_sqe *sqe = rc__ring_sqe(&from->ring);
		int fd = rc__fault(RC_FAULT_BELL) ? -1 : to->ring.uring.ring_fd;

		io_uring_prep_msg_ring(sqe, fd, 0, rc_ud(RC_UD_INBOX, 0), 0);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_BELL, to->idx));
		return;
	}
	/* From a thread with no ring of ours: the eventfd the worker keeps
	   a read pending on. Async-signal-safe. */
	if (write(to->wake_fd, &one, sizeof(one)) < 0)
		return;
}

void rc__worker_resume_publishers(struct rc_worker *w)
{
	/* Rare (a flood ended): a scan is cheaper than a list kept always. */
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct rc_conn *c = &w->conns[i];

		if (c->flags & RC_CF_PUB_WAIT) {
			c->flags = (c->flags & ~RC_CF_PUB_WAIT) | RC_CF_REARM;
			rc__dirty(c);
		}
	}
}

struct rc_conn *rc__delivering(void)
{
	return rc__self ? rc__self->cur.conn : NULL;
}

bool rc__validated_text(const void *p, size_t len)
{
	struct rc_worker *w = rc__self;

	return w && w->cur.conn && w->cur.opcode == RC_OP_TEXT &&
	       p == w->cur.data && len == w->cur.len;
}

/* ---- set-up and tear-down ---- */

int rc__worker_init(struct rc_worker *w, struct rc_server *s, unsigned idx,
		    const struct rc_listener_set *ls)
{
	const struct rc_config *cfg = &s->cfg;
	struct rlimit rl;
	int ret;

	memset(w, 0, sizeof(*w));
	w->srv = s;
	w->idx = idx;
	for (unsigned i = 0; i < ls->n && i < RC_LISTENERS; i++) {
		w->lis[i].fd = ls->fd[i];
		w->lis[i].tls = ls->tls[i];
		w->lis[i].inherited = ls->inherited[i];
	}
	w->nlis = ls->n;
	w->ring.uring.ring_fd = -1;
	w->wake_fd = -1;
	/* max_connections is a total over workers, and SO_REUSEPORT may send
	   them all to one worker: each table can hold them all. */
	w->nslots = cfg->max_connections + SLOT_RESERVE;
	/* The kernel refuses a direct descriptor table over RLIMIT_NOFILE. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < w->nslots)
		w->nslots = rl.rlim_cur > 2 * SLOT_RESERVE ?
			    (uint32_t)rl.rlim_cur - 32 : SLOT_RESERVE;
	/* The slot is 24 bits of a connection's id. */
	if (w->nslots > RC_ID_SLOT_MAX)
		w->nslots = RC_ID_SLOT_MAX;
	w->dirty_head = RC_NO_SLOT;
	rc__timers_init(&w->timers, cfg->handshake_timeout_ms,
			cfg->idle_timeout_ms, cfg->close_timeout_ms);
	w->id_gen_start = rc__fault_knob("ID_GEN", 0);
	/* calloc of a large table maps zero pages: a slot costs memory only
	   once a connection has used it. */
	w->conns = calloc(w->nslots, sizeof(*w->conns));
	w->hdrs = calloc(cfg->max_headers, sizeof(*w->hdrs));
	if (!w->conns || !w->hdrs)
		return -ENOMEM;
	if (cfg->deflate_window_bits > 0) {
		w->zconns = calloc(w->nslots, sizeof(*w->zconns));
		if (!w->zconns)
			return -ENOMEM;
	}
	rc__ps_worker_init(&s->ps, &w->ps, idx, w, &w->stats);
	ret = rc__tls_worker_init(&w->tlsw, &s->tls);
	if (ret)
		return ret;
	if (!s->tls.ncerts)
		w->tlsw.tls = NULL;	/* no TLS listener: nothing per turn */
	/* Created now, not when the thread starts: rc_server_stop() may
	   write to it at any time after rc_server_new(). */
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	if (sem_init(&w->ready, 0, 0))
		return -errno;
	return 0;
}

static void pin(struct rc_worker *w)
{
	cpu_set_t set;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (!w->srv->cfg.pin_threads || ncpu <= 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(w->idx % (unsigned)ncpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int setup(struct rc_worker *w)
{
	const struct rc_config *cfg = &w->srv->cfg;
	/* Tests: a tiny ring makes the full-queue path an everyday one. */
	unsigned entries = (unsigned)rc__fault_knob("RING_ENTRIES",
						    RING_ENTRIES);
	int ret;

	ret = rc__ring_init(&w->ring, entries, w->nslots, &w->stats);
	if (ret)
		return ret;
	return rc__recvbuf_init(&w->rb, &w->ring.uring, cfg->recv_buffers,
				cfg->recv_buffer_size);
}

void *rc__worker_main(void *arg)
{
	struct rc_worker *w = arg;

	rc__self = w;
	rc__stats_self = &w->stats;
	rc__ps_attach(&w->ps);
	pin(w);
	w->init_err = setup(w);
	sem_post(&w->ready);
	if (w->init_err)
		return NULL;
	w->now_ms = rc__clock_ms();
	w->pool_trim_ms = w->now_ms;
	atomic_store(&w->beat, w->now_ms);
	for (unsigned i = 0; i < w->nlis && !rc_server_draining(w->srv); i++)
		accept_arm_all(w, i);
	wake_arm(w);
	loop(w);
	return NULL;
}

void rc__worker_free(struct rc_worker *w)
{
	rc__ring_exit(&w->ring);
	rc__recvbuf_free(&w->rb);
	for (uint32_t i = 0; w->conns && i < w->nslots; i++) {
		struct rc_conn *c = &w->conns[i];

		/* The ring is gone, and with it every send in flight. */
		c->inflight = 0;
		if (c->state != RC_CONN_FREE && c->state != RC_CONN_RETIRED) {
			c->state = RC_CONN_DEAD;
			rc__out_discard(c);
			rc__conn_drop_gather(c);
			rc__tls_conn_free(c);
		}
		if (w->zconns)
			rc__zc_free(w->zconns[i]);
	}
	rc__tls_worker_free(&w->tlsw);
	if (w->ps.ps)
		rc__ps_worker_free(&w->ps);
	rc__out_pool_free(&w->out);
	free(w->conns);
	free(w->zconns);
	free(w->hdrs);
	free(w->dl);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	for (unsigned i = 0; i < w->nlis; i++)
		if (w->lis[i].fd >= 0)
			close(w->lis[i].fd);
	sem_destroy(&w->ready);
}
