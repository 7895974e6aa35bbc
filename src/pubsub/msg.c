/* SPDX-License-Identifier: MIT */
/* msg.c -- published messages: framed once, freed by the last reference. */
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "pubsub/msg.h"
#include "runtime/alloc.h"

struct rc_msg *rc__msg_new(unsigned nnodes, uint32_t refs, const void *topic,
			   size_t topic_len, unsigned opcode, const void *data,
			   size_t len)
{
	return rc__msg_new_z(nnodes, refs, topic, topic_len, opcode, data,
			     len, NULL, 0);
}

struct rc_msg *rc__msg_new_z(unsigned nnodes, uint32_t refs,
			     const void *topic, size_t topic_len,
			     unsigned opcode, const void *data, size_t len,
			     const void *z, size_t zlen)
{
	struct rc_msg_parts parts = { .z = z, .zlen = zlen };

	return rc__msg_new_parts(nnodes, refs, topic, topic_len, opcode, data,
				 len, &parts);
}

struct rc_msg *rc__msg_new_parts(unsigned nnodes, uint32_t refs,
				 const void *topic, size_t topic_len,
				 unsigned opcode, const void *data, size_t len,
				 const struct rc_msg_parts *pp)
{
	uint8_t hdr[RC_FRAME_HDR_MAX], zhdr[RC_FRAME_HDR_MAX];
	uint8_t shdr[RC_FRAME_HDR_MAX];
	size_t zlen = pp ? pp->zlen : 0, slen = pp ? pp->slen : 0;
	size_t mlen = pp && pp->meta_len <= 255 ? pp->meta_len : 0;
	size_t hl = rc_frame_encode_header(hdr, opcode, true, len, NULL);
	size_t zhl = zlen ? rc_frame_encode_header(zhdr,
						   opcode | RC_FRAME_RSV1,
						   true, zlen, NULL) : 0;
	size_t shl = slen ? rc_frame_encode_header(shdr, 0x1, true, slen,
						   NULL) : 0;
	size_t head = sizeof(struct rc_msg) +
		      nnodes * sizeof(struct rc_inbox_node);
	struct rc_msg *m = rc__malloc(head + topic_len + mlen + hl + len +
				      zhl + zlen + shl + slen);
	uint8_t *p;

	if (!m)
		return NULL;
	atomic_init(&m->refs, refs);
	m->kind = RC_MSG_TOPIC;
	m->topic_len = (uint16_t)topic_len;
	m->frame_len = (uint32_t)(hl + len);
	m->overhead = (uint32_t)(head + topic_len + mlen);
	m->hash = 0;
	m->conn_id = 0;
	m->epoch = m->offset = 0;
	p = (uint8_t *)m + head;
	if (topic_len)
		memcpy(p, topic, topic_len);
	m->topic = p;
	p += topic_len;
	m->meta = p;
	m->meta_len = (uint8_t)mlen;
	if (mlen)
		memcpy(p, pp->meta, mlen);
	m->frame = p + mlen;
	memcpy(m->frame, hdr, hl);
	if (len)
		memcpy(m->frame + hl, data, len);
	m->hdr_len = (uint8_t)hl;
	m->plain_only = 0;
	m->control = 0;
	m->zframe = NULL;
	m->zframe_len = 0;
	p = m->frame + hl + len;
	if (zlen) {
		m->zframe = p;
		m->zframe_len = (uint32_t)(zhl + zlen);
		memcpy(p, zhdr, zhl);
		memcpy(p + zhl, pp->z, zlen);
		p += zhl + zlen;
	}
	m->sframe = NULL;
	m->sframe_len = 0;
	if (slen) {
		m->sframe = p;
		m->sframe_len = (uint32_t)(shl + slen);
		memcpy(p, shdr, shl);
		memcpy(p + shl, pp->s, slen);
	}
	return m;
}

void rc__msg_put(struct rc_msg *m)
{
	/* Release our writes (none after creation, but the reads of the
	   frame by our sends) before the last holder frees it. */
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		free(m);
}
