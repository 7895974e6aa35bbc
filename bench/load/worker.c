/* SPDX-License-Identifier: MIT */
/* worker.c -- one load thread: its io_uring, receive buffers, connections and completion loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ringcast.h"
#include "tls.h"
#include "worker.h"

#define RING_ENTRIES	4096
/* Completions: room for a few per connection (a close burst at the end
   completes one send and one receive each), within the kernel's limit. */
#define CQ_MIN		16384u
#define CQ_MAX		65536u
/* Connections are swept for timeouts this often; timeouts are seconds. */
#define SWEEP_NS	(100 * 1000 * 1000ull)
/* Live counters go to the parent this often (its progress line and its
   drain check read them). */
#define PUBLISH_NS	(5 * 1000 * 1000ull)
/* The longest wait: how soon a phase change is seen. */
#define WAIT_MAX_NS	(10 * 1000 * 1000ull)
/* After the close timeout, how long cancelled requests may take. */
#define FORCE_NS	(1000 * 1000 * 1000ull)
/* Receive buffer memory per worker; pages are touched only as used. */
#define BUF_POOL_BYTES	(32u << 20)
#define BUF_MIN		2048u
#define BUF_MAX		16384u
/* The kernel's limit on the entries of one buffer ring. */
#define BUF_RING_MAX	32768u

uint64_t rl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct io_uring_sqe *rl_worker_sqe(struct rl_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

void rl_worker_buf_put(struct rl_worker *w, unsigned bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * w->buf_stride,
			      (unsigned)w->buf_size, (unsigned short)bid,
			      io_uring_buf_ring_mask(w->nbufs), 0);
	io_uring_buf_ring_advance(w->br, 1);
}

void rl_worker_rearm_later(struct rl_worker *w, struct rl_conn *c)
{
	w->rearm[w->nrearm++] = c->id;
}

/*
 * Buffers a little larger than one frame of the scenario's messages (at
 * least 2 KiB, at most 16 KiB), as many as fit in BUF_POOL_BYTES: small
 * messages to many connections need many buffers, large ones big buffers.
 */
static int setup_buffers(struct rl_worker *w)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t want = rl_ws_frame_len(w->cfg->size), ring_len;
	unsigned n;
	int ret;

	w->buf_size = BUF_MIN;
	while (w->buf_size < want && w->buf_size < BUF_MAX)
		w->buf_size *= 2;
	w->buf_stride = w->buf_size + RC_SIMD_PADDING;
	n = (unsigned)(BUF_POOL_BYTES / w->buf_size);
	if (n > BUF_RING_MAX)
		n = BUF_RING_MAX;
	w->nbufs = n;

	ring_len = n * sizeof(struct io_uring_buf);
	w->br = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->br == MAP_FAILED) {
		w->br = NULL;
		return -ENOMEM;
	}
	/* The last buffer is padded too: the decoder reads ahead. */
	w->bufs_len = (size_t)n * w->buf_stride + RC_SIMD_PADDING;
	w->bufs = mmap(NULL, w->bufs_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->bufs == MAP_FAILED) {
		w->bufs = NULL;
		return -ENOMEM;
	}
	reg.ring_addr = (unsigned long)w->br;
	reg.ring_entries = n;
	reg.bgid = 0;
	ret = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (ret)
		return ret;
	io_uring_buf_ring_init(w->br);
	for (unsigned i = 0; i < n; i++)
		io_uring_buf_ring_add(w->br,
				      w->bufs + (size_t)i * w->buf_stride,
				      (unsigned)w->buf_size, (unsigned short)i,
				      io_uring_buf_ring_mask(n), (int)i);
	io_uring_buf_ring_advance(w->br, (int)n);
	return 0;
}

static int setup_ring(struct rl_worker *w)
{
	struct io_uring_params p = { 0 };
	unsigned cq = CQ_MIN;

	while (cq < CQ_MAX && cq < 4 * w->nconns)
		cq *= 2;
	/* Only this thread submits and reaps; completion work runs when we
	   ask for events, not as interrupts in the middle of the loop. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_CQSIZE;
	p.cq_entries = cq;
	return io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
}

/* What every connection of this worker sends alike: the request, and a
   close frame. */
static int setup_messages(struct rl_worker *w)
{
	static const uint8_t normal[2] = { RC_CLOSE_NORMAL >> 8,
					   RC_CLOSE_NORMAL & 0xff };
	char key[RL_WS_KEY_LEN + 1];
	int ret;

	ret = rl_ws_key((uint64_t)w->index << 32 | (uint64_t)getpid(), key,
			w->accept);
	if (ret)
		return ret;
	ret = rl_ws_request_proto(w->request, sizeof(w->request),
				  w->cfg->host_header, w->cfg->path, key,
				  w->cfg->origin,
				  w->cfg->deflate ? RL_PMD_OFFER : NULL,
				  w->cfg->subprotocol);
	if (ret < 0)
		return ret;
	w->request_len = (size_t)ret;
	/* Any key will do for a load tool, so long as it is not zero (a
	   server could skip unmasking): one per worker. */
	w->mask_key = 0x5ca1ab1eu ^ (w->index * 0x9e3779b9u);
	if (!w->mask_key)
		w->mask_key = 1;
	rl_ws_encode(w->close_frame, RC_OP_CLOSE, normal, sizeof(normal),
		     w->mask_key);
	return 0;
}

int rl_worker_init(struct rl_worker *w, const struct rl_cfg *cfg,
		   struct rl_shared *shm, unsigned index)
{
	int ret;

	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->shm = shm;
	w->index = index;
	w->nworkers = rl_cfg_workers(cfg);
	w->live = &shm->live[index];
	w->sc = rl_scenario_get(cfg->scenario);
	w->sc_next = UINT64_MAX;
	w->now = rl_now();
	rl_hist_init(&w->hist);
	rl_hist_init(&w->hist_near);
	rl_hist_init(&w->hist_far);

	w->nconns = w->sc->count(cfg, index, w->nworkers);
	w->conns = calloc(w->nconns ? w->nconns : 1, sizeof(*w->conns));
	w->rearm = calloc(w->nconns ? w->nconns : 1, sizeof(*w->rearm));
	if (!w->conns || !w->rearm)
		return -ENOMEM;
	for (unsigned i = 0; i < w->nconns; i++) {
		w->conns[i].fd = -1;
		w->conns[i].id = i;
		w->conns[i].gid = index + i * w->nworkers;
		w->conns[i].port = rl_cfg_conn_port(cfg, w->conns[i].gid);
	}
	/* --tls: each slot's state, kept from one connection to the next. */
	if (cfg->tls) {
		w->tls_plain = calloc(1, RL_TLS_CHUNK + RC_SIMD_PADDING);
		if (!w->tls_plain)
			return -ENOMEM;
		for (unsigned i = 0; i < w->nconns; i++) {
			w->conns[i].tls = rl_tls_new();
			if (!w->conns[i].tls)
				return -ENOMEM;
		}
	}
	/* Scenarios without a ramp-up open connections themselves. */
	if (!w->sc->ramp)
		w->next_start = w->nconns;
	ret = setup_ring(w);
	if (ret)
		return ret;
	w->have_ring = true;
	ret = setup_buffers(w);
	if (ret)
		return ret;
	ret = setup_messages(w);
	if (ret)
		return ret;
	if (cfg->deflate) {
		ret = rl_pmd_worker_init(&w->pmd);
		if (ret)
			return ret;
	}
	return w->sc->init(w);
}

void rl_worker_exit(struct rl_worker *w)
{
	if (w->sc && w->sc->exit)
		w->sc->exit(w);
	if (w->have_ring)
		io_uring_queue_exit(&w->ring);
	/* The ring is gone, so no request holds these any more. */
	for (unsigned i = 0; w->conns && i < w->nconns; i++) {
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
		free(w->conns[i].head);
		free(w->conns[i].pong);
		rl_pmd_rx_release(&w->conns[i].rx);
		rl_tls_free(w->conns[i].tls);
	}
	rl_pmd_worker_exit(&w->pmd);
	free(w->tls_plain);
	if (w->bufs)
		munmap(w->bufs, w->bufs_len);
	if (w->br)
		munmap(w->br, w->nbufs * sizeof(struct io_uring_buf));
	free(w->conns);
	free(w->rearm);
}

static void publish(struct rl_worker *w)
{
	rl_shared_publish(w->live, w->stats.c);
	w->next_publish = w->now + PUBLISH_NS;
}

/* Open connections, at most connect_concurrency at once, until all are
   tried (or phase RUN ends the ramp-up); then tell the parent this worker
   is ready. */
static void ramp(struct rl_worker *w)
{
	while (w->next_start < w->nconns &&
	       w->pending < w->cfg->connect_concurrency) {
		struct rl_conn *c = &w->conns[w->next_start++];

		if (!rl_conn_start(w, c)) {
			c->flags |= RL_F_RAMP;
			w->pending++;
		}
	}
	if (w->next_start == w->nconns && !w->pending && !w->ready) {
		w->ready = true;
		publish(w);
		__atomic_store_n(&w->live->ready, 1, __ATOMIC_RELEASE);
	}
}

static void begin_close(struct rl_worker *w)
{
	w->closing = true;
	w->close_deadline = w->now + (uint64_t)(w->cfg->timeout_s * 1e9);
	if (w->sc->finish)
		w->sc->finish(w);
	for (unsigned i = 0; i < w->nconns; i++)
		rl_conn_close(w, &w->conns[i]);
}

/* Follow the parent's phase. */
static void follow_phase(struct rl_worker *w)
{
	enum rl_phase p = rl_shared_phase(w->shm);

	if (p >= RL_PHASE_RUN && !w->running) {
		w->running = true;
		w->start_ns = w->shm->start_ns;
		w->stop_ns = w->shm->stop_ns;
		/* The ramp-up is over: what it did not reach, it never
		   will. */
		if (w->sc->ramp) {
			w->stats.c[RL_E_TIMEOUT_HANDSHAKE] +=
				w->nconns - w->next_start;
			w->next_start = w->nconns;
		}
	}
	if (p == RL_PHASE_RUN && !w->started && w->now >= w->start_ns) {
		w->started = true;
		w->sc->run(w);
		w->sc_next = w->now;
	}
	if (p == RL_PHASE_CLOSE && !w->closing)
		begin_close(w);
}

/* True once every connection is closed, or the close timeout passed and
   the stragglers had their time to be cancelled. */
static bool closed_all(struct rl_worker *w)
{
	if (!w->nactive)
		return true;
	if (!w->forced && w->now >= w->close_deadline) {
		w->forced = true;
		w->close_deadline = w->now + FORCE_NS;
		for (unsigned i = 0; i < w->nconns; i++)
			rl_conn_expire(w, &w->conns[i], UINT64_MAX);
		for (unsigned i = 0; i < w->nconns; i++)
			rl_conn_abort(w, &w->conns[i]);
		return !w->nactive;
	}
	return w->forced && w->now >= w->close_deadline;
}

static void sweep(struct rl_worker *w)
{
	for (unsigned i = 0; i < w->nconns; i++)
		rl_conn_expire(w, &w->conns[i], w->now);
	w->next_sweep = w->now + SWEEP_NS;
}

/* Submit what is queued and wait for a completion, or until the next
   thing this worker has to do on its own. */
static void wait_events(struct rl_worker *w)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	uint64_t until = w->now + WAIT_MAX_NS, d;

	if (w->next_sweep < until)
		until = w->next_sweep;
	if (w->sc_next < until)
		until = w->sc_next;
	if (w->running && !w->started && w->start_ns < until)
		until = w->start_ns;
	if (w->started && w->now < w->stop_ns && w->stop_ns < until)
		until = w->stop_ns;
	if (w->closing && w->close_deadline < until)
		until = w->close_deadline;
	d = until > w->now ? until - w->now : 0;
	ts.tv_sec = (long long)(d / 1000000000ull);
	ts.tv_nsec = (long long)(d % 1000000000ull);
	io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
}

static void reap(struct rl_worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&w->ring, head, cqe) {
		w->now = rl_now();
		rl_conn_complete(w, cqe);
		n++;
	}
	io_uring_cq_advance(&w->ring, n);
	/* Buffers went back while reaping: receives that ran dry can
	   start again. */
	for (unsigned i = 0; i < w->nrearm; i++)
		rl_conn_rearm(w, &w->conns[w->rearm[i]]);
	w->nrearm = 0;
}

void rl_worker_run(struct rl_worker *w)
{
	w->now = rl_now();
	w->next_sweep = w->now + SWEEP_NS;
	for (;;) {
		w->now = rl_now();
		follow_phase(w);
		if (w->closing && closed_all(w))
			break;
		if (!w->ready && !w->closing)
			ramp(w);
		if (w->now >= w->next_sweep)
			sweep(w);
		if (w->sc->tick && w->started && !w->closing &&
		    (w->tick_each_batch || w->now >= w->sc_next))
			w->sc_next = w->sc->tick(w, w->now);
		if (w->now >= w->next_publish)
			publish(w);
		wait_events(w);
		reap(w);
	}
	publish(w);
}
