/* SPDX-License-Identifier: MIT */
/* recvbuf.c -- a worker's receive pool: provided buffers shared by every read. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "runtime/recvbuf.h"
#include "simd/simd.h"

/* Kernel 6.12+: a provided buffer is consumed incrementally, so reads from
   many connections fill one buffer back to back (liburing 2.3 predates the
   names). */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

static int do_register(struct rc_recvbuf *rb, struct io_uring *ring,
		       unsigned n, bool inc)
{
	struct io_uring_buf_reg reg = { 0 };

	reg.ring_addr = (unsigned long)rb->br;
	reg.ring_entries = n;
	reg.bgid = 0;
	reg.pad = inc ? IOU_PBUF_RING_INC : 0;	/* the flags field */
	return io_uring_register_buf_ring(ring, &reg, 0);
}

static unsigned pow2_at_least(unsigned want)
{
	unsigned n = 1;

	while (n < want && n < 32768)
		n <<= 1;
	return n;
}

int rc__recvbuf_init(struct rc_recvbuf *rb, struct io_uring *ring,
		     unsigned nbufs, unsigned bufsz)
{
	unsigned want = nbufs ? nbufs : 512;
	unsigned n = pow2_at_least(want);
	int ret;

	/* The ring's memory must exist before it is registered, and its size
	   depends on the mode: map for the larger count, register INC first. */
	rb->br_size = (size_t)n * sizeof(struct io_uring_buf);
	rb->br = mmap(NULL, rb->br_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rb->br == MAP_FAILED) {
		rb->br = NULL;
		return -ENOMEM;
	}
	if (!nbufs)
		n = 64;
	ret = do_register(rb, ring, n, true);
	rb->inc = ret == 0;
	if (ret) {
		n = pow2_at_least(want);
		ret = do_register(rb, ring, n, false);
		if (ret)
			return ret;
	}
	rb->nbufs = n;
	rb->bufsz = bufsz ? bufsz : rb->inc ? 65536 : 16384;
	rb->stride = rb->bufsz + RC_SIMD_PADDING;
	/* A fixed pool, paged in now: the kernel's copies never fault, and
	   what the server holds does not grow with connections or traffic. */
	rb->bufs_size = (size_t)n * rb->stride;
	rb->bufs = mmap(NULL, rb->bufs_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	rb->off = calloc(n, sizeof(*rb->off));
	if (rb->bufs == MAP_FAILED || !rb->off) {
		if (rb->bufs == MAP_FAILED)
			rb->bufs = NULL;
		return -ENOMEM;
	}
	io_uring_buf_ring_init(rb->br);
	for (unsigned i = 0; i < n; i++)
		io_uring_buf_ring_add(rb->br, rb->bufs + (size_t)i * rb->stride,
				      rb->bufsz, (unsigned short)i,
				      io_uring_buf_ring_mask(n), (int)i);
	io_uring_buf_ring_advance(rb->br, (int)n);
	return 0;
}

void rc__recvbuf_done(struct rc_recvbuf *rb, unsigned cqe_flags, int res)
{
	unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;

	if (rb->inc && (cqe_flags & IORING_CQE_F_BUF_MORE)) {
		rb->off[bid] += (uint32_t)res;
		return;
	}
	rb->off[bid] = 0;
	io_uring_buf_ring_add(rb->br, rb->bufs + (size_t)bid * rb->stride,
			      rb->bufsz, (unsigned short)bid,
			      io_uring_buf_ring_mask(rb->nbufs), 0);
	io_uring_buf_ring_advance(rb->br, 1);
}

void rc__recvbuf_free(struct rc_recvbuf *rb)
{
	if (rb->br)
		munmap(rb->br, rb->br_size);
	if (rb->bufs)
		munmap(rb->bufs, rb->bufs_size);
	free(rb->off);
	rb->br = NULL;
	rb->bufs = NULL;
	rb->off = NULL;
}
