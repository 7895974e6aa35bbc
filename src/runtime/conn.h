/* SPDX-License-Identifier: MIT */
/*
 * conn.h -- one client connection: its life (conn.c), its HTTP part
 * (conn_http.c) and its WebSocket part (conn_ws.c).
 */
#ifndef RC_CONN_H
#define RC_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/frame.h"
#include "proto/http.h"
#include "ringcast.h"
#include "runtime/outq.h"
#include "runtime/timer.h"
#include "tls/tls.h"

struct rc_worker;
struct rc_sub;
struct rc_msg;

/*
 * A connection's life. The state says what its input is; what the ring is
 * still doing for it is a separate thing, @inflight, below.
 *
 *   accept ──▶ HTTP ──(101 sent)──▶ WS ──(close frame sent or received)──▶ CLOSING
 *               │  plain requests,    │  frames                             │ flush, then
 *               │  keep-alive         │                                     │ wait for the
 *               │                     │                                     │ peer's close/EOF
 *               └───── kill: reset, timeout, error, both closes done ───────┘
 *                                     ▼
 *                                   DEAD ── inflight == 0 and off the ──▶ close_direct
 *                                            flush list                      │
 *                                                                            ▼
 *                                                          FREE (the slot can be accepted
 *                                                          into again), or RETIRED
 *
 * kill (rc__conn_kill) cancels the recv and a send that may wait forever,
 * drops the output, calls on_close if on_open was, and marks DEAD; the slot
 * (the direct descriptor) is closed only once every operation the ring
 * still runs for it has completed (rc__conn_reap), so no completion ever
 * reaches a slot's next connection. RETIRED: a slot whose id generations
 * are used up is never accepted into again (ids stay unique).
 */
enum rc_conn_state {
	RC_CONN_FREE = 0,	/* slot unused */
	RC_CONN_HTTP,		/* reading request heads */
	RC_CONN_WS,		/* upgraded, frames both ways */
	RC_CONN_CLOSING,	/* close frame sent or received; flushing, then
				   waiting for the peer's close or EOF */
	RC_CONN_DEAD,		/* waiting for in-flight ops, then close */
	RC_CONN_RETIRED,	/* never used again (see rc__conn_open) */
};

/*
 * Operations the ring runs for a connection (@inflight). Each kind is at
 * most one at a time: a multishot recv (in flight until its last
 * completion, the one without IORING_CQE_F_MORE), one send, one
 * shutdown(SHUT_WR), and the final close. Cancels are not counted: they
 * name their target by user_data and post nothing on success.
 */
enum rc_io {
	RC_IO_RECV = 1 << 0,
	RC_IO_SEND = 1 << 1,
	RC_IO_SHUTDOWN = 1 << 2,
	RC_IO_CLOSE = 1 << 3,
};

/* Flags in rc_conn.flags. */
enum {
	RC_CF_DIRTY = 1 << 0,		/* on the worker's flush list */
	RC_CF_REARM = 1 << 1,		/* re-arm recv at end of turn */
	RC_CF_PAUSED = 1 << 2,		/* reading paused (backpressure) */
	RC_CF_PUB_WAIT = 1 << 3,	/* reading paused: it published into an
					   inbox over its bound */
	RC_CF_HELD = 1 << 4,		/* HTTP: unparsed requests held in
					   @gather until output drains */
	RC_CF_INPUT_BAD = 1 << 5,	/* input can't be parsed: discard it */
	RC_CF_CLOSE_SENT = 1 << 6,	/* our close frame is queued */
	RC_CF_CLOSE_RCVD = 1 << 7,	/* the peer's close frame arrived */
	RC_CF_SHUT_AFTER = 1 << 8,	/* end TCP once output is flushed */
	RC_CF_SHUT_WR = 1 << 9,		/* shutdown(SHUT_WR) issued */
	RC_CF_PEER_EOF = 1 << 10,	/* peer half-closed (or idle at a
					   stop): flush, then close */
	RC_CF_OPENED = 1 << 11,		/* upgrade accepted: on_close owed */
	RC_CF_WAS_FULL = 1 << 12,	/* output passed max_backpressure:
					   on_drain when it empties */
	RC_CF_ACTIVE = 1 << 13,		/* bytes came in this ping period */
	RC_CF_PINGED = 1 << 14,		/* idle: a ping is out, no reply yet */
	RC_CF_RETIRE = 1 << 15,		/* last id of this slot: retire it */
	RC_CF_PARTIAL = 1 << 16,	/* @glen counts in the server's
					   partly received bytes */
	RC_CF_DEFERRED = 1 << 17,	/* on_upgrade said "later": @ctrl
					   holds the answer's makings */
	RC_CF_VIA_PROXY = 1 << 18,	/* the TCP peer is a trusted proxy */
	RC_CF_Z = 1 << 19,		/* permessage-deflate negotiated */
	/* 3 bits from RC_CF_ZBITS_SHIFT: 15 - the LZ77 window the client
	   allows us (server_max_window_bits), in shared mode: a message
	   longer than the window goes to it plain. */
	RC_CF_STAMPED = 1 << 23,	/* published messages go to it stamped
					   (rc_conn_stamped()) */
};
#define RC_CF_ZBITS_SHIFT 20
#define RC_CF_ZBITS_MASK (7u << RC_CF_ZBITS_SHIFT)


/* A rate bucket full: a second's worth of messages or bytes. */
#define RC_RL_FULL 32767
/* The rate buckets' clock: 64 ms ticks in 16 bits, lapping every 4194 s.
   Each ping period (idle_timeout / 2, so at most an hour) refills them,
   so no connection goes a lap without a refill. */
#define RC_RL_TICK_SHIFT 6
#define RC_IDLE_TIMEOUT_MAX_MS 7200000u

/*
 * A connection's id: the worker (6 bits), a generation of its slot (34
 * bits) and the slot (24 bits). rc_send_to() finds the connection from the
 * id alone, and an id is never given twice in the life of the server: a
 * slot whose generations run out is retired instead of reused.
 */
#define RC_ID_SLOT_BITS 24
#define RC_ID_GEN_BITS 34
#define RC_ID_WORKER_SHIFT (RC_ID_SLOT_BITS + RC_ID_GEN_BITS)
#define RC_ID_SLOT_MAX (1u << RC_ID_SLOT_BITS)
#define RC_ID_GEN_MAX ((1ull << RC_ID_GEN_BITS) - 1)

/*
 * A connection. Lives in its worker's table at index @slot (== its direct
 * descriptor) from accept until the close of that descriptor completes.
 * No buffer is held while idle: @gather exists only while a request head,
 * held requests or a message span reads, @ctrl only while a control frame
 * does.
 */
struct rc_conn {
	struct rc_worker *w;
	void *data;			/* rc_conn_set_data() */
	uint64_t id;			/* kept after close: the next
					   connection in this slot takes the
					   next generation */
	struct rc_outq q;		/* runtime/outq.c */
	struct rc_tls_conn *tls;	/* tls/: NULL for plain TCP */
	struct rc_sub *subs;		/* pubsub: its subscriptions */
	uint8_t *gather;		/* input spanning reads */
	uint32_t glen, gcap;
	uint8_t *ctrl;			/* control frame spanning reads */
	struct rc_timer_link tl;	/* runtime/timer.c */
	uint32_t dirty_next;		/* slot on the flush list */
	uint32_t flags;
	uint32_t peer;			/* its entry in the server's peer
					   table (runtime/peers.h), 0: none */
	/* Rate limits on received data messages (conn_ws.c): two token
	   buckets in parts of RC_RL_FULL, refilled at @rl_last (ms). */
	int16_t rl_msgs, rl_bytes;
	uint16_t rl_last;		/* in RC_RL_TICK_SHIFT ticks */
	uint16_t port;			/* the peer's, 0 through a proxy */
	uint16_t close_code;		/* sent or received, for on_close */
	uint8_t state;
	uint8_t timer;			/* enum rc_timer_kind (timer.c) */
	uint8_t inflight;		/* enum rc_io: ops the ring runs */
	uint8_t ctrl_len;
	int8_t protocol;		/* index into cfg.subprotocols or -1 */
	struct rc_frame_decoder dec;
};

/* @c's slot in its worker's table: its direct descriptor. */
#define rc__conn_slot(c) ((uint32_t)((c) - (c)->w->conns))

/* Without a window of its own, may @c get a @len-byte message compressed
   by a 32 KiB-window compressor? Only if it allowed 15 bits, or the
   message is no longer than the window it allowed. */
static inline bool rc__conn_zfits(const struct rc_conn *c, size_t len)
{
	unsigned bits = 15 - ((c->flags & RC_CF_ZBITS_MASK) >>
			      RC_CF_ZBITS_SHIFT);

	return bits == 15 || len <= (size_t)1 << bits;
}

/* ---- what the worker calls ---- */

/* Set up slot @c for a just-accepted connection. False: the slot is
   retired and was closed again (counted as refused). */
bool rc__conn_open(struct rc_worker *w, struct rc_conn *c, uint32_t slot);

/* Over the connection limit or stopping (503), or over a per-address
   limit (429, @what names it): answer @status and close (conn_http.c). */
void rc__conn_refuse(struct rc_conn *c, int status, const char *what);

/* Tell on_refuse that @c was refused or closed with @code for limit
   @what (conn.c). */
void rc__conn_refused(struct rc_conn *c, int code, const char *what);

/* Accepted from @peer: name its entry in the peer table, or refuse it
   over a per-address limit (conn.c). */
void rc__conn_peer_accepted(struct rc_conn *c, const struct sockaddr *peer);

/* rc_conn_close_at() deadlines of worker @w: close the connections whose
   time has come; how long until the next (at most @cap ms). */
void rc__deadlines_fire(struct rc_worker *w);
unsigned rc__deadlines_next_ms(struct rc_worker *w, unsigned cap);

/* A deferred upgrade's decision arrived (conn_http.c): @status 0 accepts
   with @data, else refuses with @status and @hdrs ("Name: value\r\n"). */
void rc__conn_upgrade_decided(struct rc_conn *c, int status, void *data,
			      const char *hdrs, size_t hlen);

/* @n bytes arrived in @buf (a receive buffer, writable, padded by
   RC_SIMD_PADDING); the caller recycles it when this returns. */
void rc__conn_input(struct rc_conn *c, uint8_t *buf, size_t n);
/* The same for plaintext (after TLS, or the bytes themselves): into the
   connection's HTTP or WebSocket part. */
void rc__conn_plain_input(struct rc_conn *c, uint8_t *buf, size_t n);

/* permessage-deflate (conn_ws.c): @c's dedicated-mode windows, or NULL. */
struct rc_zconn *rc__conn_zc(const struct rc_conn *c);
/* Negotiate it for the upgrade @req of @c: the answer's header line goes
   into the worker's upgrade headers. False on -ENOMEM. */
bool rc__ws_negotiate(struct rc_conn *c, const struct rc_http_request *req);
/* Free @c's dedicated-mode windows, if any. */
void rc__ws_z_free(struct rc_conn *c);

/* Send @len bytes of @op (TEXT or BINARY) on @c, compressed when @c
   negotiated permessage-deflate and it is worth it (@plain: never);
   counted as a message out. 0 or -ENOMEM (the caller fails @c). */
int rc__ws_send_data(struct rc_conn *c, const void *data, size_t len,
		     unsigned op, bool plain);

/* The peer ended its side (EOF) or the socket failed (@err < 0). */
void rc__conn_eof(struct rc_conn *c, int err);

/* Its timer of @kind fired (it is off its list now). */
void rc__conn_timeout(struct rc_conn *c, enum rc_timer_kind kind);

/* A send completed and the queue shrank, maybe to nothing (from outq.c). */
void rc__conn_sent(struct rc_conn *c);

/* Server is stopping: close with 1001 (WebSocket) or end (HTTP). */
void rc__conn_going_away(struct rc_conn *c);
/* Server is draining (rc_server_drain()): a WebSocket gets close 1001
   with the drain's reason. */
void rc__conn_drain(struct rc_conn *c);

/* The close of the descriptor completed: the slot is free (or retired). */
void rc__conn_closed(struct rc_conn *c);

/* What @c's output holds: its queue, and for TLS the records made of it
   and not yet sent (see struct rc_outq). */
static inline size_t rc__out_bytes(const struct rc_conn *c)
{
	return c->q.bytes + (c->tls ? c->tls->wire.bytes : 0);
}

/* ---- in-flight operations ---- */

static inline bool rc__io_busy(const struct rc_conn *c, enum rc_io io)
{
	return c->inflight & io;
}

static inline void rc__io_start(struct rc_conn *c, enum rc_io io)
{
	c->inflight |= (uint8_t)io;
}

static inline void rc__io_done(struct rc_conn *c, enum rc_io io)
{
	c->inflight &= (uint8_t)~io;
}

/* Arm a multishot recv for @c (if none is). */
void rc__conn_recv_arm(struct rc_conn *c);

/* If @c is dead, nothing is in flight and it is off the flush list: close
   its descriptor. Called after each completion for @c. */
void rc__conn_reap(struct rc_conn *c);

/*
 * Tear down now: no more input or output. Cancels the recv, and closes the
 * descriptor once nothing is in flight. Calls on_close if on_open was.
 */
void rc__conn_kill(struct rc_conn *c, uint16_t code);

/* Memory for something owed to @c ran out (a message it was sent, a
   frame it is receiving): it cannot be served in full, so it is failed:
   close 1011 for a WebSocket, the end for HTTP. Others are unaffected. */
void rc__conn_oom(struct rc_conn *c);

/* ---- between conn.c, conn_http.c and conn_ws.c ---- */

/* rc__conn_cfg(), rc__conn_handlers(), rc__conn_stat(): inline, in
   runtime/worker.h (they need the worker and the server). */

/* Flush what is queued, then end: half-close and wait for EOF or the
   close timer (CLOSING). */
void rc__conn_close_after_flush(struct rc_conn *c);

/* Queued output passed max_backpressure: stop reading from @c. */
void rc__conn_check_backpressure(struct rc_conn *c);

/* Stop reading (cancel the recv; re-armed when the flag that paused it is
   cleared and RC_CF_REARM set). */
void rc__conn_cancel_recv(struct rc_conn *c);

/* Append @n bytes to @c->gather (padded by RC_SIMD_PADDING), growing it
   up to @limit (and past it to exactly what is needed). 0 or -ENOMEM. */
int rc__conn_gather(struct rc_conn *c, const void *p, size_t n, size_t limit);
/* Free @c->gather and @c->ctrl. */
void rc__conn_drop_gather(struct rc_conn *c);
/* Only the message being gathered (@gather), given back to the server's
   partly-received budget. */
void rc__conn_drop_message(struct rc_conn *c);

/* conn_http.c: request heads; resume held requests after a drain. */
void rc__http_input(struct rc_conn *c, uint8_t *buf, size_t n);
void rc__http_resume(struct rc_conn *c);

/* conn_ws.c: frames, and the close handshake. */
void rc__ws_input(struct rc_conn *c, uint8_t *buf, size_t n);
void rc__ws_start(struct rc_conn *c);
void rc__ws_fail(struct rc_conn *c, long err);
void rc__ws_send_close(struct rc_conn *c, uint16_t code, const char *reason,
		       size_t rlen);
void rc__ws_ping_timeout(struct rc_conn *c);

#endif /* RC_CONN_H */
