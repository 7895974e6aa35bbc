/* SPDX-License-Identifier: MIT */
/* worker.c -- one thread, one io_uring: accept, recv, send, timers, the loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "worker.h"

/* Completions reaped per batch before the loop does its end-of-turn work. */
#define CQE_BATCH 256
/* Longest sleep: timers are checked at least this often. */
#define MAX_WAIT_MS 1000	/* a turn at least this often (pool trim) */
#define POOL_TRIM_MS 1000
/* Direct descriptors kept beyond max_connections so that a connection over the
   limit can still be accepted and told 503 instead of being reset. */
#define SLOT_RESERVE 256

static uint32_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

struct io_uring_sqe *rc__sqe(struct rc_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	/* SQ full: hand what we have to the kernel and take a fresh slot.
	   The ring is sized so this is rare (a burst of thousands). */
	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* ---- timers: one FIFO list per kind; a fixed duration keeps it sorted ---- */

static struct rc_timer_list *timer_list(struct rc_worker *w, uint8_t kind)
{
	return &w->timers[kind];
}

void rc__timer_clear(struct rc_conn *c)
{
	struct rc_worker *w = c->w;
	struct rc_timer_list *l;

	if (c->timer_kind == RC_TIMER_NONE)
		return;
	l = timer_list(w, c->timer_kind);
	if (c->timer_prev != RC_NO_SLOT)
		w->conns[c->timer_prev].timer_next = c->timer_next;
	else
		l->head = c->timer_next;
	if (c->timer_next != RC_NO_SLOT)
		w->conns[c->timer_next].timer_prev = c->timer_prev;
	else
		l->tail = c->timer_prev;
	c->timer_prev = c->timer_next = RC_NO_SLOT;
	c->timer_kind = RC_TIMER_NONE;
}

void rc__timer_set(struct rc_conn *c, enum rc_timer_kind kind)
{
	struct rc_worker *w = c->w;
	struct rc_timer_list *l;

	rc__timer_clear(c);
	if (kind == RC_TIMER_NONE)
		return;
	l = timer_list(w, kind);
	if (!l->duration_ms)
		return;		/* this timeout is disabled */
	c->timer_kind = (uint8_t)kind;
	c->deadline = w->now_ms + l->duration_ms;
	c->timer_prev = l->tail;
	c->timer_next = RC_NO_SLOT;
	if (l->tail != RC_NO_SLOT)
		w->conns[l->tail].timer_next = c->slot;
	else
		l->head = c->slot;
	l->tail = c->slot;
}

static void timers_expire(struct rc_worker *w)
{
	for (int k = 1; k < RC_TIMER_KINDS; k++) {
		struct rc_timer_list *l = timer_list(w, (uint8_t)k);

		while (l->head != RC_NO_SLOT) {
			struct rc_conn *c = &w->conns[l->head];

			if ((int32_t)(c->deadline - w->now_ms) > 0)
				break;
			rc__timer_clear(c);
			rc__conn_timeout(c, (enum rc_timer_kind)k);
		}
	}
}

static unsigned timers_next_ms(struct rc_worker *w)
{
	unsigned wait = MAX_WAIT_MS;

	for (int k = 1; k < RC_TIMER_KINDS; k++) {
		struct rc_timer_list *l = timer_list(w, (uint8_t)k);
		int32_t d;

		if (l->head == RC_NO_SLOT)
			continue;
		d = (int32_t)(w->conns[l->head].deadline - w->now_ms);
		if (d <= 0)
			return 0;
		if ((unsigned)d < wait)
			wait = (unsigned)d;
	}
	return wait;
}

/* ---- end-of-turn list: recv re-arms and sends, batched per turn ---- */

void rc__dirty(struct rc_conn *c)
{
	if (c->flags & RC_CF_DIRTY)
		return;
	c->flags |= RC_CF_DIRTY;
	c->dirty_next = c->w->dirty_head;
	c->w->dirty_head = c->slot;
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
		    !(c->flags & (RC_CF_PAUSED | RC_CF_PUB_WAIT)))
			rc__recv_arm(c);
		c->flags &= ~RC_CF_REARM;
		rc__out_kick(c);
	}
}

/* ---- provided-buffer ring ---- */

/* Kernel 6.12+: a provided buffer is consumed incrementally, so reads from
   many connections fill one buffer back to back (liburing 2.3 predates the
   names). */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

static int bufring_register(struct rc_worker *w, unsigned n, bool inc)
{
	struct io_uring_buf_reg reg = { 0 };

	reg.ring_addr = (unsigned long)w->br;
	reg.ring_entries = n;
	reg.bgid = 0;
	reg.pad = inc ? IOU_PBUF_RING_INC : 0;	/* the flags field */
	return io_uring_register_buf_ring(&w->ring, &reg, 0);
}

static int bufring_setup(struct rc_worker *w)
{
	const struct rc_config *cfg = &w->srv->cfg;
	unsigned n = 1, want;
	int ret;

	/* The ring's memory must exist before it is registered, and its size
	   depends on the mode: map for the larger count, register INC first. */
	want = cfg->recv_buffers ? cfg->recv_buffers : 512;
	while (n < want && n < 32768)
		n <<= 1;
	w->br_size = (size_t)n * sizeof(struct io_uring_buf);
	w->br = mmap(NULL, w->br_size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->br == MAP_FAILED) {
		w->br = NULL;
		return -ENOMEM;
	}
	if (!cfg->recv_buffers)
		n = 64;
	ret = bufring_register(w, n, true);
	w->buf_inc = ret == 0;
	if (ret) {
		n = 1;
		while (n < want && n < 32768)
			n <<= 1;
		ret = bufring_register(w, n, false);
		if (ret)
			return ret;
	}
	w->nbufs = n;
	w->bufsz = cfg->recv_buffer_size ? cfg->recv_buffer_size :
		   w->buf_inc ? 65536 : 16384;
	w->stride = w->bufsz + RC_SIMD_PADDING;
	/* A fixed pool, paged in now: the kernel's copies never fault, and
	   what the server holds does not grow with connections or traffic. */
	w->bufs_size = (size_t)n * w->stride;
	w->bufs = mmap(NULL, w->bufs_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	w->boff = calloc(n, sizeof(*w->boff));
	if (w->bufs == MAP_FAILED || !w->boff) {
		if (w->bufs == MAP_FAILED)
			w->bufs = NULL;
		return -ENOMEM;
	}
	io_uring_buf_ring_init(w->br);
	for (unsigned i = 0; i < n; i++)
		io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * w->stride,
				      w->bufsz, (unsigned short)i,
				      io_uring_buf_ring_mask(n), (int)i);
	io_uring_buf_ring_advance(w->br, (int)n);
	return 0;
}

static void buf_recycle(struct rc_worker *w, unsigned bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * w->stride,
			      w->bufsz, (unsigned short)bid,
			      io_uring_buf_ring_mask(w->nbufs), 0);
	io_uring_buf_ring_advance(w->br, 1);
}

/* ---- submissions ---- */

static void accept_arm(struct rc_worker *w)
{
	struct io_uring_sqe *sqe = rc__sqe(w);

	io_uring_prep_multishot_accept_direct(sqe, w->listen_fd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_ACCEPT, 0));
	w->accept_armed = true;
}

static void wake_arm(struct rc_worker *w)
{
	struct io_uring_sqe *sqe = rc__sqe(w);

	io_uring_prep_read(sqe, w->wake_fd, &w->wake_val, sizeof(w->wake_val),
			   0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_WAKE, 0));
}

void rc__recv_arm(struct rc_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->flags & RC_CF_RECV_ARMED)
		return;
	sqe = rc__sqe(c->w);
	io_uring_prep_recv_multishot(sqe, (int)c->slot, NULL, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_RECV, c->slot));
	c->flags |= RC_CF_RECV_ARMED;
}

/* ---- completions ---- */

static void on_accept(struct rc_worker *w, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		w->accept_armed = false;
	if (cqe->res >= 0 && (uint32_t)cqe->res < w->nslots) {
		struct rc_conn *c = &w->conns[cqe->res];

		unsigned total = atomic_fetch_add(&w->srv->nconns, 1);

		rc__conn_open(w, c, (uint32_t)cqe->res);
		w->nconns++;
		/* Over the limit, or this worker's table (bounded by
		   RLIMIT_NOFILE) is down to its reserve: answer 503 while
		   a slot is still there to answer from. */
		if (total >= w->srv->cfg.max_connections || w->stopping ||
		    w->nconns + SLOT_RESERVE > w->nslots)
			rc__conn_refuse(c);
	} else if (cqe->res == -ENFILE || cqe->res == -EMFILE) {
		/* Even the reserve is used up: the kernel dropped this one. */
		rc__stat_add(&w->stats, RC_STAT_REFUSED, 1);
	}
	if (!w->accept_armed && !w->stopping)
		accept_arm(w);
}

static void on_recv(struct rc_worker *w, struct io_uring_cqe *cqe)
{
	struct rc_conn *c = &w->conns[rc_ud_slot(cqe->user_data)];
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!more)
		c->flags &= ~RC_CF_RECV_ARMED;
	if (cqe->res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *data = w->bufs + (size_t)bid * w->stride + w->boff[bid];

		if (c->state != RC_CONN_DEAD)
			rc__conn_input(c, data, (size_t)cqe->res);
		/* Input is consumed or copied by now: the buffer (or its
		   used part) can take the next read. */
		if (w->buf_inc && (cqe->flags & IORING_CQE_F_BUF_MORE)) {
			w->boff[bid] += (uint32_t)cqe->res;
		} else {
			w->boff[bid] = 0;
			buf_recycle(w, bid);
		}
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
	    !(c->flags & RC_CF_RECV_ARMED)) {
		c->flags |= RC_CF_REARM;
		rc__dirty(c);
	}
	if (c->state == RC_CONN_DEAD)
		rc__conn_reap(c);
}

static void on_close(struct rc_worker *w, struct io_uring_cqe *cqe)
{
	struct rc_conn *c = &w->conns[rc_ud_slot(cqe->user_data)];

	c->state = RC_CONN_FREE;
	c->flags = 0;
	w->nconns--;
	atomic_fetch_sub(&w->srv->nconns, 1);
	rc__stat_add(&w->stats, RC_STAT_CONNS_OPEN, -1);
}

static void go_away(struct rc_worker *w)
{
	struct io_uring_sqe *sqe;

	w->stopping = true;
	if (w->accept_armed) {
		sqe = rc__sqe(w);
		io_uring_prep_cancel64(sqe, rc_ud(RC_UD_ACCEPT, 0), 0);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_IGNORE, 0));
	}
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct rc_conn *c = &w->conns[i];

		if (c->state != RC_CONN_FREE && c->state != RC_CONN_DEAD)
			rc__conn_going_away(c);
	}
}

static void handle_cqe(struct rc_worker *w, struct io_uring_cqe *cqe)
{
	switch (rc_ud_op(cqe->user_data)) {
	case RC_UD_ACCEPT:
		on_accept(w, cqe);
		break;
	case RC_UD_RECV:
		on_recv(w, cqe);
		break;
	case RC_UD_SEND: {
		struct rc_conn *c = &w->conns[rc_ud_slot(cqe->user_data)];

		rc__out_complete(c, cqe->res);
		rc__conn_reap(c);
		break;
	}
	case RC_UD_CLOSE:
		on_close(w, cqe);
		break;
	case RC_UD_SHUTDOWN: {
		struct rc_conn *c = &w->conns[rc_ud_slot(cqe->user_data)];

		c->flags &= ~RC_CF_SHUT_BUSY;
		rc__conn_reap(c);
		break;
	}
	case RC_UD_WAKE:
		/* Stop, or inbox mail from a thread that is not a worker. */
		if (!w->stopping && atomic_load(&w->srv->stopping))
			go_away(w);
		else if (!w->stopping)
			wake_arm(w);
		break;
	case RC_UD_INBOX:	/* drained after every batch anyway */
	case RC_UD_IGNORE:
		break;
	}
}

static void loop(struct rc_worker *w)
{
	struct io_uring_cqe *cqes[CQE_BATCH];

	for (;;) {
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		unsigned wait, n;

		dirty_flush(w);
		if (w->stopping && w->nconns == 0)
			break;
		wait = w->inbox_busy ? 0 : timers_next_ms(w);
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (long long)(wait % 1000) * 1000000;
		/* One syscall per turn: submits everything queued since the
		   last turn and waits for at least one completion. */
		io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		w->now_ms = clock_ms();
		while ((n = io_uring_peek_batch_cqe(&w->ring, cqes, CQE_BATCH))) {
			for (unsigned i = 0; i < n; i++)
				handle_cqe(w, cqes[i]);
			io_uring_cq_advance(&w->ring, n);
		}
		w->inbox_busy = !rc__inbox_drain(w);
		if (w->npub_wait)
			rc__pub_wait_check(w);
		timers_expire(w);
		if ((int32_t)(w->now_ms - w->pool_trim_ms) >= POOL_TRIM_MS) {
			rc__out_pool_trim(w);
			w->pool_trim_ms = w->now_ms;
		}
	}
}

/* ---- set-up and tear-down ---- */

int rc__worker_init(struct rc_worker *w, struct rc_server *s, unsigned idx,
		    int listen_fd)
{
	const struct rc_config *cfg = &s->cfg;
	struct rlimit rl;

	memset(w, 0, sizeof(*w));
	w->srv = s;
	w->idx = idx;
	w->listen_fd = listen_fd;
	/* max_connections is a total over workers, and SO_REUSEPORT may send
	   them all to one worker: each table can hold them all. */
	w->nslots = cfg->max_connections + SLOT_RESERVE;
	/* The kernel refuses a direct descriptor table over RLIMIT_NOFILE. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < w->nslots)
		w->nslots = rl.rlim_cur > 2 * SLOT_RESERVE ?
			    (uint32_t)rl.rlim_cur - 32 : SLOT_RESERVE;
	w->dirty_head = RC_NO_SLOT;
	for (int k = 0; k < RC_TIMER_KINDS; k++)
		w->timers[k].head = w->timers[k].tail = RC_NO_SLOT;
	w->timers[RC_TIMER_HEAD].duration_ms = cfg->handshake_timeout_ms;
	w->timers[RC_TIMER_IDLE].duration_ms = cfg->idle_timeout_ms;
	w->timers[RC_TIMER_CLOSE].duration_ms = cfg->close_timeout_ms;
	w->timers[RC_TIMER_PING].duration_ms = cfg->idle_timeout_ms > 1 ?
					       cfg->idle_timeout_ms / 2 : 1;
	/* calloc of a large table maps zero pages: a slot costs memory only
	   once a connection has used it. */
	w->conns = calloc(w->nslots, sizeof(*w->conns));
	w->hdrs = calloc(cfg->max_headers, sizeof(*w->hdrs));
	if (!w->conns || !w->hdrs)
		return -ENOMEM;
	rc__inbox_init(&w->inbox);
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	if (sem_init(&w->ready, 0, 0))
		return -errno;
	return 0;
}

static int ring_setup(struct rc_worker *w)
{
	struct io_uring_params p = { 0 };
	unsigned entries = 4096;
	int ret;

	/* One thread submits and reaps (SINGLE_ISSUER); completions' task
	   work runs only when we ask for events (DEFER_TASKRUN), so the
	   kernel does not interrupt the loop while it works. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 4;
	ret = io_uring_queue_init_params(entries, &w->ring, &p);
	if (ret)
		return ret;
	/* The one io_uring_enter per turn then skips the fd lookup (5.18+;
	   without it everything works the same, a little slower). */
	io_uring_register_ring_fd(&w->ring);
	ret = io_uring_register_files_sparse(&w->ring, w->nslots);
	if (ret)
		return ret;
	return bufring_setup(w);
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

void *rc__worker_main(void *arg)
{
	struct rc_worker *w = arg;

	rc__self = w;
	pin(w);
	w->init_err = ring_setup(w);
	sem_post(&w->ready);
	if (w->init_err)
		return NULL;
	w->now_ms = clock_ms();
	accept_arm(w);
	wake_arm(w);
	loop(w);
	return NULL;
}

void rc__worker_free(struct rc_worker *w)
{
	if (w->ring.ring_fd > 0)
		io_uring_queue_exit(&w->ring);
	if (w->br)
		munmap(w->br, w->br_size);
	if (w->bufs)
		munmap(w->bufs, w->bufs_size);
	free(w->boff);
	for (uint32_t i = 0; w->conns && i < w->nslots; i++) {
		struct rc_conn *c = &w->conns[i];

		c->flags &= ~RC_CF_SEND_BUSY;
		if (c->state != RC_CONN_FREE) {
			c->state = RC_CONN_DEAD;
			rc__out_discard(c);
			free(c->gather);
			free(c->ctrl);
		}
	}
	rc__worker_pubsub_free(w);
	rc__out_pool_free(w);
	free(w->conns);
	free(w->hdrs);
	if (w->wake_fd > 0)
		close(w->wake_fd);
	if (w->listen_fd > 0)
		close(w->listen_fd);
	sem_destroy(&w->ready);
}
