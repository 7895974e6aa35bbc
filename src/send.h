/* SPDX-License-Identifier: MIT */
/* send.h -- per-connection output queue: segments of private or shared bytes. */
#ifndef RC_SEND_H
#define RC_SEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct rc_worker;
struct rc_conn;
struct rc_msg;

/*
 * A chunk of the connection's own output bytes (echo replies, control
 * frames, HTTP responses), appended at @len. A chunk never moves, so a
 * send in flight from it stays valid; it is freed when no segment refers to
 * it. Standard chunks are recycled through a per-worker pool.
 */
struct rc_chunk {
	struct rc_chunk *next;		/* in the pool */
	uint32_t refs;			/* segments pointing into it */
	uint32_t len;
	uint32_t cap;
	uint8_t data[];
};

/* Chunk capacities: standard, and big for frames up to 64 KiB (pooled
   too, so echoing 16 KiB messages allocates nothing); larger frames get a
   chunk of their own size. */
#define RC_CHUNK_SIZE (16384 - sizeof(struct rc_chunk))
#define RC_CHUNK_BIG (65536 - sizeof(struct rc_chunk))
/* Segments per block: one vectored send covers at most one block. */
#define RC_SEGS 60

/*
 * A block of output segments, in order. Segment i is @iov[i] (what is left
 * to send of it) and @owner[i] (a chunk, or a shared message with the low
 * bit set). The iovecs and @mh stay put while a send from them is in
 * flight, as the kernel may read them until it completes.
 */
struct rc_segs {
	struct rc_segs *next;
	uint16_t head, tail;		/* live segments: [head, tail) */
	uint16_t sending;		/* segments in the send in flight */
	uint16_t partial;		/* head segment is partly sent */
	struct msghdr mh;
	struct iovec iov[RC_SEGS];
	uintptr_t owner[RC_SEGS];
};

/* Most blocks and chunks of each kind a worker's pool holds. Steady traffic
   recycles through the pool with no malloc; what a burst left and the next
   second did not use is freed by rc__out_pool_trim(). */
#define RC_POOL_MAX 4096

/*
 * Reserve @n contiguous bytes of private output and return where to write
 * them (borrowed until rc__out_commit()). May allocate: NULL on -ENOMEM.
 * rc__out_commit() queues the @used (<= n) bytes written and marks @c for
 * sending at the end of the loop turn.
 */
uint8_t *rc__out_reserve(struct rc_conn *c, size_t n);
int rc__out_commit(struct rc_conn *c, size_t used);

/* Queue a frame (header + @len payload bytes, unmasked). 0 or -ENOMEM. */
int rc__out_frame(struct rc_conn *c, unsigned opcode, const void *data,
		  size_t len);

/* Queue a shared message's frame, taking over one reference to @m (which
   is released on failure too). 0 or -ENOMEM. */
int rc__out_msg(struct rc_conn *c, struct rc_msg *m);

/*
 * Drop queued shared messages, oldest first, that are not being sent,
 * until @need more bytes fit under @limit. Returns how many were dropped.
 */
unsigned rc__out_drop_shared(struct rc_conn *c, size_t need, size_t limit);

/* Issue one send of @c's queue if it has output and no send in flight. */
void rc__out_kick(struct rc_conn *c);

/* A send completed with @res. */
void rc__out_complete(struct rc_conn *c, int res);

/* Release everything queued that is not in flight (the connection is going
   away); what is in flight goes when its send completes. */
void rc__out_discard(struct rc_conn *c);

/* Queue @n bytes of static, read-only memory (no allocation but, at most,
   a segment block). */
int rc__out_static(struct rc_conn *c, const void *p, size_t n);

/* Once a second: free what each pool did not dip into since the last call,
   so memory held after a burst of connections or output goes back. */
void rc__out_pool_trim(struct rc_worker *w);

/* Free the worker's pools. */
void rc__out_pool_free(struct rc_worker *w);

#endif /* RC_SEND_H */
