/* SPDX-License-Identifier: MIT */
/* conn.h -- one client connection: HTTP head, upgrade, frames, close handshake. */
#ifndef RC_CONN_H
#define RC_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "http.h"
#include "ringcast.h"

struct rc_worker;
struct rc_chunk;
struct rc_segs;
struct rc_sub;

enum rc_conn_state {
	RC_CONN_FREE = 0,	/* slot unused */
	RC_CONN_HTTP,		/* reading request heads */
	RC_CONN_WS,		/* upgraded, frames both ways */
	RC_CONN_CLOSING,	/* close frame sent or received; flushing, then
				   waiting for the peer's close or EOF */
	RC_CONN_DEAD,		/* waiting for in-flight ops, then close */
};

/* Which timer list the connection is on (each has one fixed duration). */
enum rc_timer_kind {
	RC_TIMER_NONE = 0,
	RC_TIMER_HEAD,		/* handshake_timeout: request head incomplete */
	RC_TIMER_IDLE,		/* idle_timeout: keep-alive between requests */
	RC_TIMER_CLOSE,		/* close_timeout: close handshake */
	RC_TIMER_PING,		/* idle_timeout / 2: WebSocket liveness */
	RC_TIMER_KINDS
};

#define RC_NO_SLOT UINT32_MAX

/* Flags in rc_conn.flags. */
enum {
	RC_CF_RECV_ARMED = 1 << 0,	/* a multishot recv is pending */
	RC_CF_SEND_BUSY = 1 << 1,	/* a send is in flight */
	RC_CF_DIRTY = 1 << 2,		/* on the worker's flush list */
	RC_CF_PAUSED = 1 << 3,		/* reading paused (backpressure) */
	RC_CF_CLOSE_SENT = 1 << 4,	/* our close frame is queued */
	RC_CF_CLOSE_RCVD = 1 << 5,	/* the peer's close frame arrived */
	RC_CF_SHUT_AFTER = 1 << 6,	/* close TCP once output is flushed */
	RC_CF_SHUT_WR = 1 << 7,		/* shutdown(SHUT_WR) issued */
	RC_CF_INPUT_BAD = 1 << 8,	/* decoder failed: discard input */
	RC_CF_OPENED = 1 << 9,		/* on_open was called */
	RC_CF_CLOSE_FD = 1 << 10,	/* close_direct issued */
	RC_CF_REARM = 1 << 11,		/* re-arm recv at end of turn */
	RC_CF_REFUSED = 1 << 12,	/* over the connection limit */
	RC_CF_SHUT_BUSY = 1 << 13,	/* the shutdown is in flight */
	RC_CF_WAS_FULL = 1 << 14,	/* output passed max_backpressure:
					   on_drain when it empties */
	RC_CF_ACTIVE = 1 << 15,		/* bytes came in this ping period */
	RC_CF_PINGED = 1 << 16,		/* idle: a ping is out, no reply yet */
	RC_CF_PEER_EOF = 1 << 17,	/* peer half-closed: flush, then close */
	RC_CF_PUB_WAIT = 1 << 18,	/* reading paused: it published into an
					   inbox over RC_INBOX_HIGH */
};

/*
 * A connection. Lives in its worker's table at index @slot (== its direct
 * descriptor) from accept until the close of that descriptor completes.
 * No buffer is held while idle: @gather exists only while a request head or
 * a message spans reads, @ctrl only while a control frame does.
 */
struct rc_conn {
	struct rc_worker *w;
	void *data;			/* rc_conn_set_data() */
	uint64_t id;
	struct rc_segs *q_head;		/* output queue */
	struct rc_segs *q_tail;
	size_t out_bytes;		/* queued, not yet sent */
	struct rc_sub *subs;		/* this connection's subscriptions */
	uint8_t *gather;		/* head or message spanning reads */
	uint32_t glen, gcap;
	uint8_t *ctrl;			/* control frame spanning reads */
	uint32_t timer_prev, timer_next;	/* slots on a timer list */
	uint32_t deadline;		/* worker ms clock */
	uint32_t dirty_next;		/* slot on the flush list */
	uint32_t slot;
	uint32_t flags;
	uint16_t close_code;		/* sent or received, for on_close */
	uint8_t state;
	uint8_t timer_kind;
	uint8_t ctrl_len;
	int8_t protocol;		/* index into cfg.subprotocols or -1 */
	struct rc_frame_decoder dec;
};

/* Set up slot @c for a just-accepted connection. */
void rc__conn_open(struct rc_worker *w, struct rc_conn *c, uint32_t slot);

/* Over the connection limit (or stopping): answer 503 and close. */
void rc__conn_refuse(struct rc_conn *c);

/* @n bytes arrived in @buf (a receive buffer, writable, padded by
   RC_SIMD_PADDING); the caller recycles it when this returns. */
void rc__conn_input(struct rc_conn *c, uint8_t *buf, size_t n);

/* The peer ended its side (EOF) or the socket failed (@err < 0). */
void rc__conn_eof(struct rc_conn *c, int err);

/* Its timer of @kind fired (it is off its list now). */
void rc__conn_timeout(struct rc_conn *c, enum rc_timer_kind kind);

/* A send completed: the queue shrank, maybe to nothing (from send.c). */
void rc__conn_sent(struct rc_conn *c);

/* A subscriber too slow for its published messages: close with 1008. */
void rc__conn_close_slow(struct rc_conn *c);

/* Memory for something owed to @c ran out (a message it was sent, a
   frame it is receiving): it cannot be served in full, so it is failed:
   close 1011 for a WebSocket, the end for HTTP. Others are unaffected. */
void rc__conn_oom(struct rc_conn *c);

/* @c published into an inbox that is over its bound: stop reading from it
   (RC_CF_PUB_WAIT) until rc__pub_wait_check() resumes it. */
void rc__conn_pub_wait(struct rc_conn *c);

/* Server is stopping: close with 1001 (WebSocket) or end (HTTP). */
void rc__conn_going_away(struct rc_conn *c);

/*
 * Tear down now: no more input or output. Cancels the recv, and closes the
 * descriptor once nothing is in flight. Calls on_close if on_open was.
 */
void rc__conn_kill(struct rc_conn *c, uint16_t code);

/* An op on @c finished; close the descriptor if @c is dead and idle. */
void rc__conn_reap(struct rc_conn *c);

#endif /* RC_CONN_H */
