/* SPDX-License-Identifier: MIT */
/*
 * bridge.h -- rooms that span servers: what pub/sub asks of the bridge to
 * another engine (NATS, src/bridge/nats.c), and what the bridge asks back.
 *
 * Pub/sub tells the bridge two things, never per subscriber:
 *  - interest: a worker got its first local subscriber of a topic (+1) or
 *    lost its last (-1). The bridge subscribes to the topic's subject while
 *    the sum over workers is above 0, and only then.
 *  - out: a message published on this server (after its local fan-out was
 *    queued: local subscribers never wait for the engine). It goes to the
 *    engine once, numbered per (topic, lane) so that receivers can check
 *    order and count what was lost.
 * The bridge hands what other servers published to rc__ps_publish_in(),
 * which fans it out locally exactly like a local publish, and never back
 * out.
 */
#ifndef RC_BRIDGE_H
#define RC_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringcast.h"

struct rc_bridge;
struct rc_ps;
struct rc_stats;

/*
 * Connect to the NATS servers in @urls ("nats://h:p[,nats://...]"), in the
 * background: a server that is down now is retried, forever. @prefix
 * starts every subject (NULL: "ringcast"). @log (may be NULL) hears of
 * the connection's state. *@out, or -EINVAL (bad URL or prefix), -ENOMEM,
 * -EIO (libnats failed).
 */
int rc__bridge_new(struct rc_bridge **out, struct rc_ps *ps,
		   const char *urls, const char *prefix,
		   void (*log)(void *, enum rc_log_level, const char *),
		   void *log_user);
/* Flush what is queued for NATS (up to a second), close, and wait until
   no callback of ours runs. Call after the workers have stopped, before
   the pub/sub state is freed. */
void rc__bridge_free(struct rc_bridge *b);

/* A worker's interest in topic @name (hash @h) went up (@delta 1) or
   down (-1). Worker threads; takes the bridge's lock. */
void rc__bridge_interest(struct rc_bridge *b, uint64_t h, const void *name,
			 size_t len, int delta);

/* Send a message published here to the other servers. @lane: the
   publishing worker's index, or the number of workers for any other
   thread. @op: RC_OP_TEXT or RC_OP_BINARY, maybe | RC_OP_NO_DEFLATE. */
void rc__bridge_out(struct rc_bridge *b, unsigned lane, uint64_t h,
		    const void *topic, size_t topic_len, const void *data,
		    size_t len, unsigned op);

/* Add the bridge's counters into @out (its nats_* fields). */
void rc__bridge_stats(const struct rc_bridge *b, struct rc_stats *out);

/*
 * The pure parts, for tests and fuzzing.
 *
 * A room name as a subject token: bytes [A-Za-z0-9_-] as they are, any
 * other byte as '~' and two upper-case hex digits. Writes at most
 * 3 * @len bytes and no NUL; returns the length written.
 */
size_t rc__bridge_subject_token(char *out, const void *name, size_t len);
/* The inverse: the name's length, or -1 if @tok is not such a token. */
long rc__bridge_subject_untoken(uint8_t *out, const char *tok, size_t len);

/* What crosses NATS, before the payload (little-endian). Version 0xB1: */
#define RC_BRIDGE_V1 0xB1
#define RC_BRIDGE_V1_HEAD 24	/* [0] 0xB1, [1] flags, [2..3] lane,
				   [4..7] lane generation, [8..15] hub id,
				   [16..23] sequence, then the payload */
/* 0xB0: from another program: [0] 0xB0, [1] flags, then the payload;
   delivered in the order it comes, not numbered. */
#define RC_BRIDGE_V0 0xB0
#define RC_BRIDGE_V0_HEAD 2
#define RC_BRIDGE_F_BINARY 0x01
#define RC_BRIDGE_F_NO_DEFLATE 0x02

/* A message's head, parsed. */
struct rc_bridge_head {
	uint64_t hub, seq;	/* 0, 0: not numbered (0xB0) */
	uint32_t lane_gen;	/* lane | generation << 16 */
	uint8_t flags;
	size_t head_len;
};
/* 0, or -EINVAL (too short, unknown version, unknown flags). */
int rc__bridge_parse(const uint8_t *p, size_t len, struct rc_bridge_head *h);

/*
 * The order check a receiving server makes per room: which (hub, lane)
 * numbered a message and the last number seen from each. Bounded: the
 * least recently heard of is forgotten first (a publisher heard of again
 * then starts afresh, like one never heard of).
 */
#define RC_BRIDGE_ORIGINS 32
struct rc_bridge_origin {
	uint64_t hub;
	uint64_t seq;
	uint64_t heard;		/* the room's message count when last heard */
	uint32_t lane_gen;
};
struct rc_bridge_order {
	struct rc_bridge_origin o[RC_BRIDGE_ORIGINS];
	unsigned n;
	uint64_t clock;
};
/* Check @h against @ord: 1 deliver it (*@gap: numbers skipped since the
   last one from its origin, 0 in order), 0 drop it (a number already
   seen: repeated or out of order). */
int rc__bridge_order(struct rc_bridge_order *ord,
		     const struct rc_bridge_head *h, uint64_t *gap);

#endif /* RC_BRIDGE_H */
