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
	uint8_t hdr[RC_FRAME_HDR_MAX], zhdr[RC_FRAME_HDR_MAX];
	size_t hl = rc_frame_encode_header(hdr, opcode, true, len, NULL);
	size_t zhl = zlen ? rc_frame_encode_header(zhdr,
						   opcode | RC_FRAME_RSV1,
						   true, zlen, NULL) : 0;
	size_t head = sizeof(struct rc_msg) +
		      nnodes * sizeof(struct rc_inbox_node);
	struct rc_msg *m = rc__malloc(head + topic_len + hl + len + zhl +
				      zlen);
	uint8_t *p;

	if (!m)
		return NULL;
	atomic_init(&m->refs, refs);
	m->kind = RC_MSG_TOPIC;
	m->topic_len = (uint16_t)topic_len;
	m->frame_len = (uint32_t)(hl + len);
	m->overhead = (uint32_t)(head + topic_len);
	m->hash = 0;
	m->conn_id = 0;
	m->epoch = m->offset = 0;
	p = (uint8_t *)m + head;
	if (topic_len)
		memcpy(p, topic, topic_len);
	m->topic = p;
	m->frame = p + topic_len;
	memcpy(m->frame, hdr, hl);
	if (len)
		memcpy(m->frame + hl, data, len);
	m->hdr_len = (uint8_t)hl;
	m->plain_only = 0;
	m->zframe = NULL;
	m->zframe_len = 0;
	if (zlen) {
		m->zframe = m->frame + hl + len;
		m->zframe_len = (uint32_t)(zhl + zlen);
		memcpy(m->zframe, zhdr, zhl);
		memcpy(m->zframe + zhl, z, zlen);
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
