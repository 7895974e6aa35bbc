/* SPDX-License-Identifier: MIT */
/* stats.h -- what a run counts: events, errors by kind, HTTP statuses and close codes. */
#ifndef RL_STATS_H
#define RL_STATS_H

#include <stdint.h>

/*
 * Counters, one array so that live copies and merges are loops. The
 * errors come last, from RL_E_FIRST: every failure lands in exactly one
 * of them.
 */
enum rl_ctr {
	RL_C_OPENED,		/* upgrades completed (101 checked) */
	RL_C_CLOSED,		/* upgraded connections finished, any way */
	RL_C_SENT,		/* data messages sent */
	RL_C_BYTES_OUT,		/* their payload bytes */
	RL_C_RECV,		/* echoes / subscriber deliveries received,
				   whenever (publishers' own copies not) */
	RL_C_BYTES_IN,		/* their payload bytes */
	RL_C_MSGS,		/* echo round trips / broadcast deliveries
				   received inside the measured window */
	RL_C_HANDSHAKES,	/* handshake scenario: cycles (connect,
				   upgrade, close handshake) in the window */
	RL_C_GAPS,		/* broadcast: sequence numbers skipped */
	RL_C_TAIL_LOST,		/* broadcast: published, never received */
	RL_C_OUT_OF_ORDER,	/* broadcast: older than one already seen */
	RL_C_TLS_HANDSHAKES,	/* --tls: TLS handshakes completed */
	RL_C_TLS_RESUMED,	/* of those, sessions resumed (--tls-resume) */
	RL_C_WIRE_OUT,		/* frame bytes of the data messages sent */
	RL_C_WIRE_IN,		/* frame bytes of those counted in BYTES_IN,
				   as received (compressed or not) */
	RL_C_PMD_OPENED,	/* --deflate: upgrades that agreed on it */
	RL_C_PMD_CONTEXT,	/* of those, the server keeping context
				   (no server_no_context_takeover) */
	RL_C_Z_OUT,		/* data messages sent compressed */
	RL_C_Z_IN,		/* data messages received compressed (any
				   connection's) */
	RL_C_Z_CACHED,		/* of those, found inflated already in the
				   worker's cache */
	RL_C_OFFSET_BAD,	/* ringcast.v1: an envelope whose offset is
				   not its member's previous one + 1 */
	RL_C_V1_OTHER,		/* ringcast.v1: lines not "msg" (joined,
				   presence): not deliveries */
	RL_C_RECOVERED,		/* recover: clients that got every message
				   they missed, in order, and recovered:true */
	RL_C_RECOVER_FAILED,	/* recover: clients that did not */
	RL_C_RECOVER_NS,	/* recover: first reconnect to the last
				   client recovered */
	RL_C_RECOVER_CPU_NS,	/* recover, --server-pid: the server's CPU
				   time over that phase */
	RL_C_RECOVER_OPEN_NS,	/* recover: first reconnect to the last
				   client's 101 (every one came back) */

	RL_E_FIRST,
	RL_E_SOCKET = RL_E_FIRST, /* socket(), bind(): EMFILE, ... */
	RL_E_CONNECT_REFUSED,	/* ECONNREFUSED */
	RL_E_CONNECT,		/* any other connect() failure */
	RL_E_HANDSHAKE_REJECTED, /* a status other than 101 (see status[]) */
	RL_E_HANDSHAKE_INVALID,	/* not HTTP, or a 101 without the right
				   Upgrade/Connection/Accept headers */
	RL_E_TLS_HANDSHAKE,	/* the TLS handshake failed (alert, bad
				   certificate, no common version) */
	RL_E_PROTOCOL,		/* a bad frame from the server */
	RL_E_TLS,		/* a TLS error after the handshake (bad
				   record, alert) */
	RL_E_PAYLOAD,		/* a well-formed message the scenario did not
				   expect (size, opcode, publisher id) */
	RL_E_UNEXPECTED_CLOSE,	/* close frame or EOF/reset we did not ask
				   for (code in close[]; 1006 = none) */
	RL_E_TIMEOUT_HANDSHAKE, /* no 101 within --timeout, or the ramp-up
				   ended before the connection was tried */
	RL_E_TIMEOUT_RESPONSE,	/* an echo or a publisher's window stalled */
	RL_E_TIMEOUT_CLOSE,	/* close handshake not finished in time */
	RL_E_IO,		/* any other send/recv error */
	RL_C_MAX,
};

#define RL_STATUS_MAX	600	/* HTTP statuses counted: 100..599 */
#define RL_CLOSE_MAX	5000	/* close codes counted: 0..4999 */
#define RL_ERRNO_MAX	256	/* errno values counted: 1..255 */

/* Plain data: copied whole over a pipe between processes. */
struct rl_stats {
	uint64_t c[RL_C_MAX];
	uint32_t status[RL_STATUS_MAX];	/* rejected handshakes by status */
	uint32_t close[RL_CLOSE_MAX];	/* unexpected closes by code */
	uint32_t err_no[RL_ERRNO_MAX];	/* socket, connect_failed and io
					   errors by errno */
};

/* JSON key of each counter ("connect_refused"). */
extern const char *const rl_ctr_name[RL_C_MAX];

/* Add @src into @dst. */
void rl_stats_add(struct rl_stats *dst, const struct rl_stats *src);

/* Sum of the error counters of @c (an rl_stats.c or a live copy). */
uint64_t rl_stats_errors(const uint64_t c[RL_C_MAX]);

/* Count a rejected handshake with its status. */
void rl_stats_rejected(struct rl_stats *s, int status);

/* Count an error of @kind that a syscall or request gave as @err
   (a negative errno). */
void rl_stats_errno(struct rl_stats *s, enum rl_ctr kind, int err);

/* Count an unexpected close with its code (1006: no close frame). */
void rl_stats_closed_by_peer(struct rl_stats *s, unsigned code);

#endif /* RL_STATS_H */
