/* SPDX-License-Identifier: MIT */
/* msg.h -- a published message: one immutable frame, shared by reference. */
#ifndef RC_MSG_H
#define RC_MSG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct rc_msg;

/* A link in a worker's inbox; a message has one per worker (inline), so
   handing it to many workers allocates nothing more. */
struct rc_inbox_node {
	_Atomic(struct rc_inbox_node *) next;
	struct rc_msg *msg;
};

enum rc_msg_kind {
	RC_MSG_TOPIC,		/* to the subscribers of a topic */
	RC_MSG_DIRECT,		/* to one connection (rc_send_to) */
	RC_MSG_MAIL,		/* for the runtime about one connection
				   (rc__ps_mail): its payload, topic_len
				   bytes at the end of the frame */
};

/*
 * The frame is built once by the publisher and never written again, so
 * every worker and every send may read it without locks. Each holder (an
 * inbox, a subscriber's send queue) owns one reference; the last
 * rc__msg_put() frees it, on whatever thread that happens.
 */
struct rc_msg {
	_Atomic uint32_t refs;
	uint8_t kind;
	uint16_t topic_len;
	uint32_t frame_len;		/* < 4 GiB: max_message is clamped */
	uint32_t overhead;		/* bytes of the allocation besides the
					   frames (header, nodes, topic): what
					   a queue holding it also pays for,
					   with the frame it does not send */
	uint64_t hash;			/* of the topic */
	uint64_t conn_id;		/* DIRECT: the target; TOPIC: a
					   connection to skip, or 0 */
	/* TOPIC, with history on (history.h): its place in the topic's
	   stream; 0, 0 otherwise. */
	uint64_t epoch, offset;
	const uint8_t *topic;		/* inside this allocation */
	uint8_t *frame;			/* inside this allocation */
	/* The same message compressed (RFC 7692, RSV1 set), for
	   subscribers that negotiated permessage-deflate: made once, by the
	   publisher; @zframe_len 0 when there is none. */
	uint8_t *zframe;
	uint32_t zframe_len;
	/* Its stamped form (rc_config.stamp), a TEXT frame for connections
	   marked with rc_conn_stamped(): made once, by the publisher, when
	   a worker it goes to has such subscribers; @sframe_len 0 when
	   there is none. @meta: what the publisher attached for the stamp
	   (kept, so that history resent later can be stamped alike). */
	uint8_t *sframe;
	uint32_t sframe_len;
	const uint8_t *meta;
	uint8_t meta_len;
	uint8_t hdr_len;		/* of @frame: its payload follows */
	uint8_t control;		/* RC_PUB_CONTROL: to stamped
					   subscribers only, plain */
	uint8_t plain_only;		/* RC_OP_NO_DEFLATE: never compress
					   it. (A TOPIC message is compressed
					   by its publisher or not at all, for
					   subscribers without a window of
					   their own.) */
	struct rc_inbox_node nodes[];	/* one per worker */
};

/*
 * Build a message: one allocation holding @nnodes inbox nodes, the topic and
 * the frame (header + @len bytes of @data). refs starts at @refs. @len must
 * be under RC_MAX_MESSAGE_LIMIT. NULL on -ENOMEM.
 */
struct rc_msg *rc__msg_new(unsigned nnodes, uint32_t refs, const void *topic,
			   size_t topic_len, unsigned opcode, const void *data,
			   size_t len);
/* The same with the compressed payload @z (@zlen bytes, 0: none) framed
   beside the plain one. */
struct rc_msg *rc__msg_new_z(unsigned nnodes, uint32_t refs,
			     const void *topic, size_t topic_len,
			     unsigned opcode, const void *data, size_t len,
			     const void *z, size_t zlen);
/* What else a message may carry besides its plain frame. */
struct rc_msg_parts {
	const void *z;			/* compressed payload */
	size_t zlen;
	const void *s;			/* stamped payload (TEXT) */
	size_t slen;
	const void *meta;		/* at most 255 bytes */
	size_t meta_len;
};
struct rc_msg *rc__msg_new_parts(unsigned nnodes, uint32_t refs,
				 const void *topic, size_t topic_len,
				 unsigned opcode, const void *data, size_t len,
				 const struct rc_msg_parts *parts);

/* The payload of @m's plain frame, and its length. */
static inline const uint8_t *rc__msg_payload(const struct rc_msg *m,
					     size_t *len)
{
	*len = m->frame_len - m->hdr_len;
	return m->frame + m->hdr_len;
}

/* The bytes of all its frames. */
static inline size_t rc__msg_frames(const struct rc_msg *m)
{
	return (size_t)m->frame_len + m->zframe_len + m->sframe_len;
}

static inline void rc__msg_get(struct rc_msg *m, uint32_t n)
{
	/* Taking a reference needs no ordering: the taker already holds
	   one, which keeps the message alive. */
	atomic_fetch_add_explicit(&m->refs, n, memory_order_relaxed);
}

void rc__msg_put(struct rc_msg *m);

#endif /* RC_MSG_H */
