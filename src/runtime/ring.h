/* SPDX-License-Identifier: MIT */
/*
 * ring.h -- a worker's io_uring: what a completion is about (user_data, in
 * one place), submission entries that never run out, submits that recover
 * from a full completion queue or fail the worker cleanly.
 */
#ifndef RC_RING_H
#define RC_RING_H

#include <liburing.h>
#include <stdint.h>

struct rc_counters;

/*
 * user_data = op << 56 | arg. For a connection's operations arg is its
 * slot: its index in the worker's table, which is also its direct
 * descriptor. A slot is reused only after every operation on it has
 * completed (runtime/conn.h), so no generation is needed to tell an old
 * completion from a new connection's.
 */
enum rc_ud_op {
	RC_UD_IGNORE = 0,	/* cancels: nothing to do */
	RC_UD_ACCEPT,		/* an accept: listener * RC_ACCEPTS + which */
	RC_UD_RECV,		/* multishot recv into the buffer ring */
	RC_UD_SEND,		/* one send from the connection's queue */
	RC_UD_CLOSE,		/* close of the direct descriptor */
	RC_UD_SHUTDOWN,		/* shutdown(SHUT_WR) of a connection */
	RC_UD_INBOX,		/* MSG_RING from another worker: inbox mail */
	RC_UD_WAKE,		/* read of the worker's eventfd (stop, mail) */
	RC_UD_BELL,		/* our MSG_RING to worker arg failed */
};

static inline uint64_t rc_ud(enum rc_ud_op op, uint32_t arg)
{
	return (uint64_t)op << 56 | arg;
}

static inline enum rc_ud_op rc_ud_op(uint64_t ud)
{
	return (enum rc_ud_op)(ud >> 56);
}

static inline uint32_t rc_ud_arg(uint64_t ud)
{
	return (uint32_t)ud;
}

/*
 * The ring, and completions set aside: when the submission queue is full
 * in the middle of a turn, the entries queued so far must reach the kernel
 * before more can be written. If the kernel cannot take them because its
 * completion queue is full (-EBUSY), completions are copied out of the way
 * (@backlog) and handed out later, in order, before newer ones.
 */
struct rc_ring {
	struct io_uring uring;
	struct io_uring_cqe *backlog;	/* copies, oldest at @bhead */
	unsigned bhead, btail, bcap;
	unsigned fails;			/* submits in a row that failed */
	int error;			/* the ring cannot be used: -errno */
	struct rc_counters *stats;	/* ring_retries */
	/* Handed out once @error is set: written, never submitted, so
	   callers need no NULL check on the way to the end of the turn. */
	struct io_uring_sqe scratch;
};

/* Set up @r with @entries submission entries and a sparse table of
   @nfiles direct descriptors. 0 or -errno. */
int rc__ring_init(struct rc_ring *r, unsigned entries, unsigned nfiles,
		  struct rc_counters *stats);
void rc__ring_exit(struct rc_ring *r);

/* A submission entry; never NULL. If the ring fails, r->error is set and
   the entry returned is a scratch one that goes nowhere. */
struct io_uring_sqe *rc__ring_sqe(struct rc_ring *r);

/* Submit everything queued now, without waiting: for work whose latency
   matters more than one syscall (a TLS key exchange's reply, ~0.2 ms of
   CPU, should not wait for the rest of a turn's handshakes). A failure
   leaves them queued for rc__ring_enter(). */
void rc__ring_submit(struct rc_ring *r);

/* Submit everything queued and wait up to @wait_ms (0: not at all) for a
   completion: the one syscall of a loop turn. */
void rc__ring_enter(struct rc_ring *r, unsigned wait_ms);

/* Copy up to @max completions, oldest first, into @out and consume them
   from the ring; returns how many (0: none left). Handlers of these may
   call rc__ring_sqe(), which may set more aside: they come out next. */
unsigned rc__ring_reap(struct rc_ring *r, struct io_uring_cqe *out,
		       unsigned max);

/* Completions set aside and not yet reaped (the loop must not sleep). */
static inline unsigned rc__ring_backlog(const struct rc_ring *r)
{
	return r->btail - r->bhead;
}

#endif /* RC_RING_H */
