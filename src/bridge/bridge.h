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

/*
 * Rooms that remember across servers (history and the bridge both on):
 * one owning server per room numbers its stream (docs/HISTORY.md, "Across
 * hubs"). The owner is the live server with the highest
 * rc__bridge_score() for the room; the set of live servers has a version,
 * new whenever it changes, and the last RC_BRIDGE_SETS of them are kept,
 * so that an owner can tell whether it owned a room all along since it
 * last numbered it.
 */
struct rc_bridge_own {
	struct rc_bridge *b;
	uint64_t key;			/* rc__bridge_room_key() */
	uint64_t ver;			/* the set's version decided at */
	uint64_t hub;			/* the owner */
};

/* Who owns topic @name now, into *@o: true when this server does. */
bool rc__bridge_owner(struct rc_bridge *b, const void *name, size_t len,
		      struct rc_bridge_own *o);
/* @arg a struct rc_bridge_own: true when the room's owner is the same in
   every version of the set from @since to now (false when @since is 0 or
   too old to tell). For rc__hist_next_owned() and rc__hist_forget(). */
bool rc__bridge_same_owner(void *arg, uint64_t since);
/* rc__bridge_same_owner(), and that owner is this server: whether a
   window it numbered is the room's stream still (rc__hist_forget()). */
bool rc__bridge_owned_since(void *arg, uint64_t since);

/* Send a message numbered here, as its room's owner, at @epoch/@offset,
   to the room's subject (RC_BRIDGE_V2); @origin/@skip: the server whose
   connection @skip must not get it (0: none). Called under the topic's
   history lock, so that a room's messages go out in offset order. */
void rc__bridge_out_seq(struct rc_bridge *b, unsigned lane,
			const void *topic, size_t topic_len,
			const void *data, size_t len, unsigned op,
			const void *meta, size_t meta_len, uint64_t epoch,
			uint64_t offset, uint64_t origin, uint64_t skip);
/* Send a message published here to the room's owner @owner, unnumbered
   (RC_BRIDGE_V3): it numbers it and sends it to every server, this one
   included. 0, or -EIO (NATS took nothing: the message is lost). */
int rc__bridge_forward(struct rc_bridge *b, unsigned lane, uint64_t owner,
		       const void *topic, size_t topic_len, const void *data,
		       size_t len, unsigned op, const void *meta,
		       size_t meta_len, uint64_t skip);

/* What the bridge hands pub/sub from another server, with history on
   (publish.c). */
struct rc_ps_in {
	const void *topic;
	size_t topic_len;
	const void *data;
	size_t len;
	unsigned op;
	const void *meta;
	size_t meta_len;
	uint64_t skip;			/* a local connection not to deliver
					   to, 0 */
	uint64_t epoch, offset;		/* numbered by the owner (V2); 0, 0:
					   numbered here, as the owner */
	uint64_t origin;		/* the server it was published on */
};
/*
 * Numbered (@in->offset): remembered at that position and fanned out
 * locally, under the topic's history lock (the seam stays exact); 0,
 * -EALREADY (a position already held: dropped), -EAGAIN (an inbox is
 * full: nothing done, try again), or as rc_publish(). *@gap: offsets
 * skipped before it (the window restarted at it), when not NULL.
 * Unnumbered: this server numbers it as the room's owner (a forwarded
 * publish, never forwarded again), fans it out and sends it to the others
 * numbered.
 */
int rc__ps_publish_from(struct rc_ps *ps, const struct rc_ps_in *in,
			uint64_t *gap);

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

/* 0xB2: a room's message numbered by its owner (history on), on the
   room's subject: [0] 0xB2, [1] flags, [2] meta length, [3..7] 0,
   [8..15] the owner, [16..23] epoch, [24..31] offset, [32..39] the
   server it was published on, [40..47] the connection there not to
   deliver it to (0: none), then the meta, then the payload. */
#define RC_BRIDGE_V2 0xB2
#define RC_BRIDGE_V2_HEAD 48
/* 0xB3: a publish forwarded to the room's owner, on <prefix>.o.<owner in
   16 hex digits>: [0] 0xB3, [1] flags, [2] meta length, [3] hops (1: the
   owner never forwards again), [4..5] room length, [6..7] lane, [8..15]
   the server it was published on, [16..23] the connection there to skip,
   [24..31] sequence (per server and lane, over all its forwards: the
   owner drops a repeat, as libnats may send some again when it
   reconnects), then the room, the meta, the payload. */
#define RC_BRIDGE_V3 0xB3
#define RC_BRIDGE_V3_HEAD 32
/* 0xB8: a server's heartbeat, on <prefix>.hubs: [0] 0xB8, [1] flags,
   [2..7] 0, [8..15] its id. RC_BRIDGE_HB_ASK: just connected, answer at
   once; RC_BRIDGE_HB_BYE: stopping. */
#define RC_BRIDGE_HB 0xB8
#define RC_BRIDGE_HB_LEN 16
#define RC_BRIDGE_HB_ASK 0x01
#define RC_BRIDGE_HB_BYE 0x02	/* leaving: gone now, not in 1.5 s */

/* A message's head, parsed. */
struct rc_bridge_head {
	uint8_t version;	/* RC_BRIDGE_V0 .. V3 */
	uint64_t hub, seq;	/* 0, 0: not numbered (0xB0); V2: hub is
				   the owner, seq 0; V3: hub 0, seq the
				   forward's */
	uint32_t lane_gen;	/* lane | generation << 16 (V3: lane) */
	uint8_t flags;
	uint8_t hops;		/* V3 */
	uint64_t epoch, offset;	/* V2 */
	uint64_t origin, skip;	/* V2, V3 */
	const uint8_t *room;	/* V3: inside the message */
	uint16_t room_len;
	const uint8_t *meta;	/* V2, V3: inside the message */
	uint8_t meta_len;
	size_t head_len;	/* the payload follows */
};
/* 0, or -EINVAL (too short, unknown version, unknown flags, a V2 number
   0 or an epoch past 2^53, a V3 room empty or over RC_TOPIC_MAX). */
int rc__bridge_parse(const uint8_t *p, size_t len, struct rc_bridge_head *h);
/* Write a V2 head (@h's flags, hub, epoch, offset, origin, skip, meta)
   into @p (room for RC_BRIDGE_V2_HEAD + 255): its length. */
size_t rc__bridge_head_v2(uint8_t *p, const struct rc_bridge_head *h);
/* Write a V3 head (@h's flags, origin, skip, lane_gen (the lane), seq,
   room, meta; hops 1) into @p
   (room for RC_BRIDGE_V3_HEAD + room + meta): its length. */
size_t rc__bridge_head_v3(uint8_t *p, const struct rc_bridge_head *h);
/* A heartbeat: 0 and *@hub, *@flags, or -EINVAL. */
int rc__bridge_parse_hb(const uint8_t *p, size_t len, uint64_t *hub,
			uint8_t *flags);

/* The owner's choice (rendezvous hashing), the same on every server: a
   room's key (SipHash-1-3 of its name under a fixed key), and a server's
   score for it; the highest score owns the room. */
uint64_t rc__bridge_room_key(const void *name, size_t len);
uint64_t rc__bridge_score(uint64_t room_key, uint64_t hub);
/* The owner among @n servers @ids (0 when @n is 0). */
uint64_t rc__bridge_pick(uint64_t room_key, const uint64_t *ids, unsigned n);

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
