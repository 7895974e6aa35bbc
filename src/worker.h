/* SPDX-License-Identifier: MIT */
/* worker.h -- one thread, one io_uring, its connections and timers. */
#ifndef RC_WORKER_H
#define RC_WORKER_H

#include <liburing.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>

#include "conn.h"
#include "pubsub.h"
#include "send.h"
#include "server.h"

struct rc_timer_list {
	uint32_t head, tail;		/* slots, RC_NO_SLOT when empty */
	uint32_t duration_ms;
};

struct rc_worker {
	struct rc_server *srv;
	unsigned idx;
	pthread_t thread;
	sem_t ready;			/* posted once the ring is set up */
	int init_err;
	struct io_uring ring;
	int listen_fd;
	int wake_fd;			/* eventfd: rc_server_stop() */
	uint64_t wake_val;

	/* Provided-buffer ring: nbufs buffers of bufsz bytes each, every
	   buffer followed by RC_SIMD_PADDING bytes that vector code may read.
	   With incremental consumption (buf_inc), many reads share a buffer
	   back to back; boff[bid] is where the next read into it lands. */
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	uint32_t *boff;
	size_t br_size, bufs_size;
	unsigned nbufs, bufsz, stride;
	bool buf_inc;

	struct rc_http_header *hdrs;	/* parser scratch, max_headers */
	struct rc_conn *conns;		/* indexed by slot */
	uint32_t nslots;		/* direct descriptor table size */
	uint32_t nconns;
	uint32_t dirty_head;		/* flush list */
	struct rc_timer_list timers[RC_TIMER_KINDS];
	uint32_t now_ms;
	uint64_t next_id;
	bool stopping;
	bool accept_armed;

	const void *cur_msg;		/* message in on_message, if any */
	size_t cur_len;
	struct rc_conn *cur_conn;	/* whose on_message is running */

	struct rc_chunk *wchunk;	/* private output of all connections
					   is appended here (send.c) */
	struct rc_chunk *pool[2];	/* free chunks: standard, big */
	unsigned npool[2];
	struct rc_segs *seg_pool;	/* free segment blocks */
	unsigned nseg_pool;
	/* Fewest free in each pool (standard, big, blocks) since the last
	   trim: that many were not needed, and go back once a second. */
	unsigned pool_low[3];
	uint32_t pool_trim_ms;

	/* Published messages for this worker: any thread pushes, then rings
	   the bell (MSG_RING from workers, the eventfd from elsewhere)
	   unless it is already ringing. */
	struct rc_inbox inbox;
	_Atomic int bell;
	/* Bytes of frames waiting in the inbox. A connection of any worker
	   that publishes into an inbox over RC_INBOX_HIGH stops being read
	   (RC_CF_PUB_WAIT) until every inbox is under RC_INBOX_LOW, so a
	   publisher faster than fan-out cannot grow memory without end. */
	_Atomic int64_t inbox_bytes;
	_Atomic int inbox_waiters;	/* someone waits for it to drain */
	unsigned npub_wait;		/* own connections in RC_CF_PUB_WAIT */
	bool inbox_busy;		/* a push was half done: poll again */

	/* Local topics with subscribers on this worker. */
	struct rc_topic **topics;
	uint32_t topic_cap, topic_count, topic_used;

	struct rc_counters stats;
};

int rc__worker_init(struct rc_worker *w, struct rc_server *s, unsigned idx,
		    int listen_fd);
void *rc__worker_main(void *arg);
void rc__worker_free(struct rc_worker *w);

/* Get an SQE, submitting first if the queue is full. Never NULL. */
struct io_uring_sqe *rc__sqe(struct rc_worker *w);

/* Put @c on the list handled at the end of the loop turn: re-arm its recv
   (RC_CF_REARM) and send its queued output. */
void rc__dirty(struct rc_conn *c);

/* Arm a multishot recv for @c. */
void rc__recv_arm(struct rc_conn *c);

/* Put @c on timer list @kind (taking it off any other), or off all. */
void rc__timer_set(struct rc_conn *c, enum rc_timer_kind kind);
void rc__timer_clear(struct rc_conn *c);

static inline struct rc_conn *rc__conn_at(struct rc_worker *w, uint32_t slot)
{
	return &w->conns[slot];
}

#endif /* RC_WORKER_H */
