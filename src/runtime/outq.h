/* SPDX-License-Identifier: MIT */
/* outq.h -- a connection's output queue: segments of private or shared bytes. */
#ifndef RC_OUTQ_H
#define RC_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct rc_worker;
struct rc_conn;
struct rc_msg;

/*
 * A chunk of connections' own output bytes (echo replies, control frames,
 * HTTP responses), appended at @len. A chunk never moves, so a send in
 * flight from it stays valid; it is freed when no segment refers to it.
 * Standard and big chunks are recycled through a per-worker pool.
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

/*
 * One connection's queue. @bytes is what the queue really holds, so that
 * max_backpressure bounds memory and not just payload: the bytes not yet
 * sent, plus for each segment its share of a block (iovec and owner), plus
 * for a shared message everything else its allocation keeps alive (its
 * header, inbox links and topic): a queue of empty frames costs about
 * 100 bytes per frame, not 2. 0 exactly when nothing is queued.
 */
struct rc_outq {
	struct rc_segs *head;
	struct rc_segs *tail;
	size_t bytes;
};

/* A worker's pools: recycled chunks (standard, big) and segment blocks. */
struct rc_outpool {
	struct rc_chunk *wchunk;	/* private output of all connections
					   is appended here */
	struct rc_chunk *pool[2];
	unsigned npool[2];
	struct rc_segs *seg_pool;
	unsigned nseg_pool;
	/* Fewest free in each pool (standard, big, blocks) since the last
	   trim: that many were not needed, and go back once a second. */
	unsigned low[3];
};

/* Most blocks and chunks of each kind a worker's pool holds. Steady traffic
   recycles through the pool with no malloc; what a burst left and the next
   second did not use is freed by rc__out_pool_trim(). */
#define RC_POOL_MAX 4096

/* What queueing shared message @m costs a connection (see rc_outq). */
size_t rc__out_msg_cost(const struct rc_msg *m);

/*
 * Reserve @n contiguous bytes of private output and return where to write
 * them (borrowed until rc__out_commit()). May allocate: NULL on -ENOMEM.
 * rc__out_commit() queues the @used (<= n) bytes written and marks @c for
 * sending at the end of the loop turn.
 */
uint8_t *rc__out_reserve(struct rc_conn *c, size_t n);
int rc__out_commit(struct rc_conn *c, size_t used);
/* The same into queue @q of @c (TLS: records into its wire queue). */
int rc__out_commit_to(struct rc_conn *c, struct rc_outq *q, size_t used);

/* Copy up to @max bytes from the front of @c's queue into @dst and take
   them off it (TLS: plaintext on its way into records). Returns how many;
   a frame may be taken in parts. */
size_t rc__out_take(struct rc_conn *c, uint8_t *dst, size_t max);

/* Queue a frame (header + @len payload bytes, unmasked). 0 or -ENOMEM. */
int rc__out_frame(struct rc_conn *c, unsigned opcode, const void *data,
		  size_t len);

/* Which of a shared message's frames a connection is sent. */
enum rc_frame_kind {
	RC_FRAME_PLAIN,
	RC_FRAME_Z,		/* compressed (permessage-deflate) */
	RC_FRAME_S,		/* stamped (rc_conn_stamped()) */
};

/* Queue a shared message's frame of kind @k, taking over one reference
   to @m (which is released on failure too). 0 or -ENOMEM. */
int rc__out_msg(struct rc_conn *c, struct rc_msg *m, enum rc_frame_kind k);

/* Queue @n bytes of static, read-only memory (no allocation but, at most,
   a segment block). */
int rc__out_static(struct rc_conn *c, const void *p, size_t n);

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
/* The same for the connection's own queue only (TLS: its plaintext, when
   no more records can be made; the wire queue keeps what is sealed). */
void rc__out_drop_plain(struct rc_conn *c);

/* Once a second: free what each pool did not dip into since the last call,
   so memory held after a burst of connections or output goes back. */
void rc__out_pool_trim(struct rc_outpool *p);

/* Free the worker's pools (every connection is gone). */
void rc__out_pool_free(struct rc_outpool *p);

#endif /* RC_OUTQ_H */
