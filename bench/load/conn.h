/* SPDX-License-Identifier: MIT */
/* conn.h -- one client connection on io_uring: connect, upgrade, frames, close handshake. */
#ifndef RL_CONN_H
#define RL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <liburing.h>
#include <netinet/in.h>

#include "ws.h"

struct rl_tls;
struct rl_worker;

enum rl_conn_state {
	RL_CONN_IDLE = 0,	/* no socket: not started yet, or finished */
	RL_CONN_CONNECTING,
	RL_CONN_UPGRADING,	/* connected, waiting for the 101 */
	RL_CONN_OPEN,
	RL_CONN_CLOSING,	/* close frame queued or sent, the server's
				   not both yet */
	RL_CONN_DRAINING,	/* close frames exchanged: waiting for the
				   server to close TCP (RFC 6455 §7.1.1) */
	RL_CONN_DYING,		/* requests being cancelled; the socket is
				   closed when the last one completes */
};

enum rl_conn_flag {
	RL_F_TX_BUSY = 1 << 0,		/* a send is in flight */
	RL_F_RX_ARMED = 1 << 1,		/* a multishot recv is in flight */
	RL_F_PONG_QUEUED = 1 << 2,	/* pong built, not sent yet */
	RL_F_PONG_BUSY = 1 << 3,	/* pong being sent: c->pong in use */
	RL_F_CLOSE_QUEUED = 1 << 4,	/* we are closing: no more data */
	RL_F_CLOSE_SENT = 1 << 5,
	RL_F_CLOSE_RCVD = 1 << 6,
	RL_F_WAS_OPEN = 1 << 7,		/* got its 101 */
	RL_F_CLEAN = 1 << 8,		/* finished by a full close handshake */
	RL_F_RAMP = 1 << 9,		/* counted in the worker's ramp-up */
	RL_F_TLS_UP = 1 << 10,		/* --tls: handshake done */
	RL_F_TLS_BYE = 1 << 11,		/* --tls: the server sent close_notify */
	RL_F_PMD = 1 << 12,		/* --deflate: permessage-deflate agreed */
};

/* What the in-flight send carries; acted on when it completes. */
enum rl_tx_kind {
	RL_TX_REQUEST,
	RL_TX_DATA,
	RL_TX_PONG,
	RL_TX_CLOSE,
	RL_TX_TLS,		/* only what OpenSSL wrote by itself: a
				   handshake flight, close_notify */
};

/*
 * A connection slot, in the worker's array for the whole run (the
 * handshake scenario reuses slots). Owned by its worker thread.
 */
struct rl_conn {
	int fd;
	uint32_t id;		/* index in the worker's array */
	uint32_t gid;		/* index over all workers: source address */
	uint32_t slot;		/* the scenario's index for it */
	uint8_t state;		/* enum rl_conn_state */
	uint8_t role;		/* the scenario's (broadcast: publisher) */
	uint8_t ops;		/* io_uring requests in flight */
	uint8_t tx_kind;	/* enum rl_tx_kind */
	uint16_t flags;		/* enum rl_conn_flag */
	uint16_t pong_len;
	uint16_t port;		/* the server's (--ports): connect() here */
	/* The address connect() goes to (read by the kernel at submit:
	   kept here, not on a stack). */
	union {
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} dst;
	uint64_t t_start;	/* connect() issued, ns */
	uint64_t deadline;	/* ns; 0: none. Past it: a timeout error */
	const uint8_t *tx;	/* borrowed until the send completes;
				   --tls: tls->out, the ciphertext */
	uint32_t tx_len;
	uint32_t tx_off;
	char *head;		/* a response head split over reads; NULL
				   until one is (malloc, freed at 101) */
	uint16_t nhead;
	uint8_t *pong;		/* allocated at the first ping */
	struct rl_tls *tls;	/* --tls: the slot's, for the whole run;
				   NULL without: every TLS path hangs on
				   this one test */
	struct rl_ws_rx rx;
};

/*
 * user_data of every request: the connection's index and what the request
 * is, packed and unpacked only here.
 */
enum rl_op {
	RL_OP_CONNECT = 1,
	RL_OP_SEND,
	RL_OP_RECV,
	RL_OP_CANCEL,
};

/*
 * Open @c: socket(), bind() with --src-ips, connect; the upgrade follows
 * by itself and the scenario's opened() runs on the 101. Returns 0, or a
 * negative errno (counted as an error; @c stays idle).
 */
int rl_conn_start(struct rl_worker *w, struct rl_conn *c);

/*
 * Send @buf[0..@len): whole frames, masked. Only when rl_conn_can_write();
 * @buf is borrowed until the scenario's writable() runs again for @c (or
 * @c closes). A short send is resumed here. With --tls the batch is
 * encrypted at once, its records going out in one send all the same.
 */
void rl_conn_write(struct rl_worker *w, struct rl_conn *c, const void *buf,
		   size_t len);

/* Run the next send @c has waiting (pong, close, or the scenario's
   writable()), if none is in flight. */
void rl_conn_kick(struct rl_worker *w, struct rl_conn *c);

/* Start the close handshake (code 1000); a connection not yet open
   closes as soon as its upgrade is done. Not an error. */
void rl_conn_close(struct rl_worker *w, struct rl_conn *c);

/* Drop @c now: cancel its requests, close the socket once they are
   done. Not counted here: the caller counts the reason. */
void rl_conn_abort(struct rl_worker *w, struct rl_conn *c);

/* Handle one completion of a connection request. */
void rl_conn_complete(struct rl_worker *w, const struct io_uring_cqe *cqe);

/* Re-arm the receive of @c after the buffer ring ran dry (-ENOBUFS). */
void rl_conn_rearm(struct rl_worker *w, struct rl_conn *c);

/* Past its deadline at @now: count the timeout and drop @c. */
void rl_conn_expire(struct rl_worker *w, struct rl_conn *c, uint64_t now);

/* inline defs */

static inline uint64_t rl_op_pack(uint32_t id, enum rl_op op)
{
	return (uint64_t)id << 8 | (uint64_t)op;
}

static inline uint32_t rl_op_conn(uint64_t user_data)
{
	return (uint32_t)(user_data >> 8);
}

static inline enum rl_op rl_op_kind(uint64_t user_data)
{
	return (enum rl_op)(user_data & 0xff);
}

/* True if rl_conn_write() may be called now. */
static inline bool rl_conn_can_write(const struct rl_conn *c)
{
	return c->state == RL_CONN_OPEN &&
	       !(c->flags & (RL_F_TX_BUSY | RL_F_CLOSE_QUEUED));
}

#endif /* RL_CONN_H */
