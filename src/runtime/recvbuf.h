/* SPDX-License-Identifier: MIT */
/* recvbuf.h -- a worker's receive pool: provided buffers shared by every read. */
#ifndef RC_RECVBUF_H
#define RC_RECVBUF_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A provided-buffer ring (group 0): @nbufs buffers of @bufsz bytes, each
 * followed by RC_SIMD_PADDING bytes that vector code may read. With
 * incremental consumption (@inc, kernel 6.12+) many reads share a buffer
 * back to back: @off[bid] is where the next read into it lands. The pool
 * is allocated and paged in at start: what a worker holds does not grow
 * with connections or traffic, and an idle connection holds no buffer.
 */
struct rc_recvbuf {
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	uint32_t *off;
	size_t br_size, bufs_size;
	unsigned nbufs, bufsz, stride;
	bool inc;
};

/* Set up and register the pool on @ring: @nbufs buffers of @bufsz bytes
   (0 and 0: 64 x 64 KiB when the kernel consumes buffers incrementally,
   else 512 x 16 KiB). 0 or -errno. */
int rc__recvbuf_init(struct rc_recvbuf *rb, struct io_uring *ring,
		     unsigned nbufs, unsigned bufsz);
void rc__recvbuf_free(struct rc_recvbuf *rb);

/* Where the @res bytes of a recv completion with @cqe_flags landed
   (writable, padded; borrowed until rc__recvbuf_done()). */
static inline uint8_t *rc__recvbuf_data(struct rc_recvbuf *rb,
					unsigned cqe_flags)
{
	unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;

	return rb->bufs + (size_t)bid * rb->stride + rb->off[bid];
}

/* The bytes of that completion are consumed (or copied): the buffer, or
   its used part, takes the next read. */
void rc__recvbuf_done(struct rc_recvbuf *rb, unsigned cqe_flags, int res);

#endif /* RC_RECVBUF_H */
