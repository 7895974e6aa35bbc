/* SPDX-License-Identifier: MIT */
/* ring.c -- submission entries that never run out; submits that recover. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/fault.h"
#include "runtime/ring.h"
#include "runtime/stats.h"

/*
 * Submits in a row that may fail before the ring is declared broken. After
 * the first few, each retry waits a millisecond: a kernel that is short of
 * memory (-EAGAIN) or still flushing completions (-EBUSY) gets about a
 * second to recover before the worker gives up.
 */
#define FAILS_MAX 1000
#define FAILS_SPIN 8

int rc__ring_init(struct rc_ring *r, unsigned entries, unsigned nfiles,
		  struct rc_counters *stats)
{
	struct io_uring_params p = { 0 };
	int ret;

	memset(r, 0, sizeof(*r));
	r->stats = stats;
	/* One thread submits and reaps (SINGLE_ISSUER); completions' task
	   work runs only when we ask for events (DEFER_TASKRUN), so the
	   kernel does not interrupt the loop while it works. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 4;
	ret = io_uring_queue_init_params(entries, &r->uring, &p);
	if (ret) {
		r->uring.ring_fd = -1;
		return ret;
	}
	/* The one io_uring_enter per turn then skips the fd lookup (5.18+;
	   without it everything works the same, a little slower). */
	io_uring_register_ring_fd(&r->uring);
	return io_uring_register_files_sparse(&r->uring, nfiles);
}

void rc__ring_exit(struct rc_ring *r)
{
	if (r->uring.ring_fd >= 0)
		io_uring_queue_exit(&r->uring);
	r->uring.ring_fd = -1;
	free(r->backlog);
	r->backlog = NULL;
}

/* Copy every completion in the queue to the backlog, making room for the
   kernel's. Returns how many were moved. */
static unsigned set_aside(struct rc_ring *r)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (!io_uring_peek_cqe(&r->uring, &cqe)) {
		if (r->btail == r->bcap) {
			unsigned live = r->btail - r->bhead;
			unsigned cap = r->bcap ? r->bcap * 2 : 256;
			struct io_uring_cqe *b;

			if (r->bhead) {		/* slide down first */
				memmove(r->backlog, r->backlog + r->bhead,
					live * sizeof(*b));
				r->bhead = 0;
				r->btail = live;
				continue;
			}
			b = realloc(r->backlog, cap * sizeof(*b));
			if (!b)
				break;	/* no progress this time */
			r->backlog = b;
			r->bcap = cap;
		}
		r->backlog[r->btail++] = *cqe;
		io_uring_cqe_seen(&r->uring, cqe);
		n++;
	}
	return n;
}

/* A submit (or enter) failed with @ret: free what the kernel may be
   waiting for and decide whether to go on. False: the ring is broken. */
static bool recover(struct rc_ring *r, int ret)
{
	if (ret != -EBUSY && ret != -EAGAIN && ret != -EINTR &&
	    ret != -ENOMEM && ret != 0) {
		r->error = ret;
		return false;
	}
	if (++r->fails > FAILS_MAX) {
		r->error = ret ? ret : -EBUSY;
		return false;
	}
	if (r->stats)
		rc__stat_add(r->stats, RC_STAT_RING_RETRIES, 1);
	/* Overflowed completions and deferred task work into the queue,
	   then out of the kernel's way. */
	io_uring_get_events(&r->uring);
	set_aside(r);
	if (r->fails > FAILS_SPIN) {
		struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
	}
	return true;
}

static int submit(struct rc_ring *r)
{
	if (rc__fault(RC_FAULT_SUBMIT))
		return -EBUSY;
	return io_uring_submit(&r->uring);
}

struct io_uring_sqe *rc__ring_sqe(struct rc_ring *r)
{
	struct io_uring_sqe *sqe;

	while (!r->error && !(sqe = io_uring_get_sqe(&r->uring))) {
		/* Full: hand what we have to the kernel and take a fresh
		   entry. The ring is sized so this is rare (a burst of
		   thousands of connections in one turn). */
		int ret = submit(r);

		if (ret > 0)
			r->fails = 0;
		else
			recover(r, ret);
	}
	if (r->error) {
		memset(&r->scratch, 0, sizeof(r->scratch));
		return &r->scratch;
	}
	return sqe;
}

void rc__ring_submit(struct rc_ring *r)
{
	/* A failure leaves the entries queued: the turn's enter submits
	   them and recovers as always. */
	if (!r->error)
		(void)io_uring_submit(&r->uring);
}

void rc__ring_enter(struct rc_ring *r, unsigned wait_ms)
{
	struct __kernel_timespec ts = {
		.tv_sec = wait_ms / 1000,
		.tv_nsec = (long long)(wait_ms % 1000) * 1000000,
	};
	struct io_uring_cqe *cqe;
	int ret;

	if (r->error)
		return;
	if (rc__fault(RC_FAULT_SUBMIT))
		ret = -EBUSY;
	else
		ret = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1,
						       &ts, NULL);
	/* -ETIME: nothing completed in time, the normal way to wake for
	   timers. */
	if (ret >= 0 || ret == -ETIME || ret == -EINTR)
		r->fails = 0;
	else
		recover(r, ret);
}

unsigned rc__ring_reap(struct rc_ring *r, struct io_uring_cqe *out,
		       unsigned max)
{
	struct io_uring_cqe *cqes[256];
	unsigned n = 0;

	/* What was set aside is older than anything still in the queue. */
	if (r->bhead != r->btail) {
		n = r->btail - r->bhead;
		if (n > max)
			n = max;
		memcpy(out, r->backlog + r->bhead, n * sizeof(*out));
		r->bhead += n;
		if (r->bhead == r->btail)
			r->bhead = r->btail = 0;
		return n;
	}
	if (max > 256)
		max = 256;
	n = io_uring_peek_batch_cqe(&r->uring, cqes, max);
	/* Copies, consumed at once: a handler may need the queue's room
	   (rc__ring_sqe() may set completions aside). */
	for (unsigned i = 0; i < n; i++)
		out[i] = *cqes[i];
	io_uring_cq_advance(&r->uring, n);
	return n;
}
