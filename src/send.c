/* SPDX-License-Identifier: MIT */
/* send.c -- per-connection output queue of chunks, sent one chunk at a time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ring.h"
#include "send.h"
#include "worker.h"

static struct rc_chunk *chunk_get(struct rc_worker *w, size_t need)
{
	struct rc_chunk *k;

	if (need <= RC_CHUNK_SIZE && w->pool) {
		k = w->pool;
		w->pool = k->next;
		w->npool--;
	} else {
		size_t cap = need > RC_CHUNK_SIZE ? need : RC_CHUNK_SIZE;

		k = malloc(sizeof(*k) + cap);
		if (!k)
			return NULL;
		k->cap = (uint32_t)cap;
	}
	k->next = NULL;
	k->off = 0;
	k->len = 0;
	return k;
}

static void chunk_put(struct rc_worker *w, struct rc_chunk *k)
{
	/* Keep standard chunks for the next burst, but not without bound:
	   memory goes back after a burst. */
	if (k->cap == RC_CHUNK_SIZE && w->npool < RC_CHUNK_POOL_MAX) {
		k->next = w->pool;
		w->pool = k;
		w->npool++;
		return;
	}
	free(k);
}

uint8_t *rc__out_reserve(struct rc_conn *c, size_t n)
{
	struct rc_chunk *t = c->out_tail;

	if (t && t->cap - t->len >= n)
		return t->data + t->len;
	if (n > UINT32_MAX - sizeof(*t))
		return NULL;
	t = chunk_get(c->w, n);
	if (!t)
		return NULL;
	if (c->out_tail)
		c->out_tail->next = t;
	else
		c->out_head = t;
	c->out_tail = t;
	return t->data;
}

void rc__out_commit(struct rc_conn *c, size_t used)
{
	c->out_tail->len += (uint32_t)used;
	c->out_bytes += used;
	rc__dirty(c);
}

int rc__out_frame(struct rc_conn *c, unsigned opcode, const void *data,
		  size_t len)
{
	uint8_t hdr[RC_FRAME_HDR_MAX];
	size_t hl = rc_frame_encode_header(hdr, opcode, true, len, NULL);
	uint8_t *p = rc__out_reserve(c, hl + len);

	if (!p)
		return -ENOMEM;
	memcpy(p, hdr, hl);
	if (len)
		memcpy(p + hl, data, len);
	rc__out_commit(c, hl + len);
	return 0;
}

int rc__out_bytes(struct rc_conn *c, const void *data, size_t len)
{
	uint8_t *p = rc__out_reserve(c, len);

	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	rc__out_commit(c, len);
	return 0;
}

void rc__out_kick(struct rc_conn *c)
{
	struct rc_chunk *k = c->out_head;
	struct io_uring_sqe *sqe;

	if ((c->flags & RC_CF_SEND_BUSY) || !k || c->state == RC_CONN_DEAD)
		return;
	sqe = rc__sqe(c->w);
	io_uring_prep_send(sqe, (int)c->slot, k->data + k->off, k->len - k->off,
			   MSG_NOSIGNAL);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_SEND, c->slot));
	c->flags |= RC_CF_SEND_BUSY;
}

static void pop_head(struct rc_conn *c)
{
	struct rc_chunk *k = c->out_head;

	c->out_head = k->next;
	if (!c->out_head)
		c->out_tail = NULL;
	chunk_put(c->w, k);
}

void rc__out_complete(struct rc_conn *c, int res)
{
	struct rc_chunk *k = c->out_head;

	c->flags &= ~RC_CF_SEND_BUSY;
	if (c->state == RC_CONN_DEAD) {
		rc__out_discard(c);
		return;
	}
	if (res < 0) {
		/* EPIPE, ECONNRESET: the peer is gone; nothing else can be
		   delivered to it. */
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return;
	}
	k->off += (uint32_t)res;
	c->out_bytes -= (size_t)res;
	if (k->off == k->len)
		pop_head(c);
	rc__out_kick(c);
	rc__conn_sent(c);
}

void rc__out_discard(struct rc_conn *c)
{
	/* A chunk the kernel is still sending from stays until its CQE. */
	while (c->out_head && !(c->out_head == c->out_tail &&
				(c->flags & RC_CF_SEND_BUSY))) {
		if (c->flags & RC_CF_SEND_BUSY) {
			struct rc_chunk *k = c->out_head->next;

			c->out_head->next = k->next;
			if (c->out_tail == k)
				c->out_tail = c->out_head;
			chunk_put(c->w, k);
			continue;
		}
		pop_head(c);
	}
	c->out_bytes = 0;
}

void rc__out_pool_free(struct rc_worker *w)
{
	while (w->pool) {
		struct rc_chunk *k = w->pool;

		w->pool = k->next;
		free(k);
	}
	w->npool = 0;
}
