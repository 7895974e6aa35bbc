/* SPDX-License-Identifier: MIT */
/* outq.c -- a connection's output queue; one vectored send per connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "pubsub/msg.h"
#include "runtime/alloc.h"
#include "runtime/conn.h"
#include "runtime/outq.h"
#include "runtime/ring.h"
#include "runtime/worker.h"
#include "tls/tls.h"

/* A segment's bookkeeping: its iovec and owner, and its share of the
   block's header (rounded up). */
#define SEG_COST ((sizeof(struct rc_segs) + RC_SEGS - 1) / RC_SEGS)

/* Owner tags: a shared message has the low bit set, and bit 1 when the
   segment is its compressed frame, bit 2 its stamped one (both types are
   at least 8-byte aligned, so the bits are free). */
#define TAG_MSG 1u
#define TAG_Z 2u
#define TAG_S 4u

static uintptr_t tag_msg(struct rc_msg *m, enum rc_frame_kind k)
{
	return (uintptr_t)m | TAG_MSG | (k == RC_FRAME_Z ? TAG_Z : 0) |
	       (k == RC_FRAME_S ? TAG_S : 0);
}

static struct rc_msg *owner_msg(uintptr_t o)
{
	return (o & TAG_MSG) ? (struct rc_msg *)(o & ~(uintptr_t)7) : NULL;
}

/* Owner of segments in static memory (rc__out_static): never released, and
   never written (it is shared by every worker). */
static struct rc_chunk static_owner;

/* What a segment costs besides its unsent bytes (see struct rc_outq). */
static size_t seg_extra(uintptr_t owner)
{
	struct rc_msg *m = owner_msg(owner);

	/* The frame not sent is held as much as the rest. */
	if (!m)
		return SEG_COST;
	return SEG_COST + m->overhead + rc__msg_frames(m) -
	       (owner & TAG_Z ? m->zframe_len : owner & TAG_S ?
		m->sframe_len : m->frame_len);
}

size_t rc__out_msg_cost(const struct rc_msg *m)
{
	return SEG_COST + m->overhead + rc__msg_frames(m);
}

/* ---- pools ---- */

/* Pool class of a chunk capacity: 0 standard, 1 big, -1 none. */
static int chunk_class(size_t cap)
{
	return cap == RC_CHUNK_SIZE ? 0 : cap == RC_CHUNK_BIG ? 1 : -1;
}

static struct rc_chunk *chunk_get(struct rc_outpool *p, size_t need)
{
	size_t cap = need <= RC_CHUNK_SIZE ? RC_CHUNK_SIZE :
		     need <= RC_CHUNK_BIG ? RC_CHUNK_BIG : need;
	int cls = chunk_class(cap);
	struct rc_chunk *k;

	if (cls >= 0 && p->pool[cls]) {
		k = p->pool[cls];
		p->pool[cls] = k->next;
		if (--p->npool[cls] < p->low[cls])
			p->low[cls] = p->npool[cls];
	} else {
		k = rc__malloc(sizeof(*k) + cap);
		if (!k)
			return NULL;
		k->cap = (uint32_t)cap;
	}
	k->next = NULL;
	k->refs = 0;
	k->len = 0;
	return k;
}

static void chunk_put(struct rc_outpool *p, struct rc_chunk *k)
{
	int cls = chunk_class(k->cap);

	/* Big chunks: fewer kept, they are four times the size. */
	if (cls >= 0 && p->npool[cls] < (cls ? RC_POOL_MAX / 4 : RC_POOL_MAX)) {
		k->next = p->pool[cls];
		p->pool[cls] = k;
		p->npool[cls]++;
		return;
	}
	free(k);
}

static struct rc_segs *segs_get(struct rc_outpool *p)
{
	struct rc_segs *b = p->seg_pool;

	if (b) {
		p->seg_pool = b->next;
		if (--p->nseg_pool < p->low[2])
			p->low[2] = p->nseg_pool;
	} else {
		b = rc__malloc(sizeof(*b));
		if (!b)
			return NULL;
	}
	b->next = NULL;
	b->head = b->tail = b->sending = b->partial = 0;
	return b;
}

static void segs_put(struct rc_outpool *p, struct rc_segs *b)
{
	if (p->nseg_pool < RC_POOL_MAX) {
		b->next = p->seg_pool;
		p->seg_pool = b;
		p->nseg_pool++;
		return;
	}
	free(b);
}

/* ---- queueing ---- */

/* Return emptied blocks at the front of @q (drained, or emptied by drops)
   to the pool; an idle connection keeps none. Not while a send is in
   flight from them. */
static void trim_head(struct rc_conn *c, struct rc_outq *q)
{
	struct rc_segs *b = q->head;

	while (b && b->head == b->tail && !b->sending) {
		q->head = b->next;
		if (!q->head)
			q->tail = NULL;
		segs_put(&c->w->out, b);
		b = q->head;
	}
}

/* A segment's bytes are all sent or dropped: let go of what owns them and
   of what the segment cost beyond its bytes. */
static void release(struct rc_conn *c, struct rc_outq *q, uintptr_t owner)
{
	struct rc_msg *m = owner_msg(owner);
	struct rc_chunk *k = (struct rc_chunk *)owner;

	q->bytes -= seg_extra(owner);
	if (m) {
		rc__msg_put(m);
		return;
	}
	if (k == &static_owner || --k->refs)
		return;
	/* No segment left in it: the worker's write chunk starts over, any
	   other goes back to the pool. */
	if (k == c->w->out.wchunk)
		k->len = 0;
	else
		chunk_put(&c->w->out, k);
}

static int append(struct rc_conn *c, struct rc_outq *q, void *p, size_t n,
		  uintptr_t owner)
{
	struct rc_segs *b = q->tail;

	if (!b || b->tail == RC_SEGS) {
		struct rc_segs *nb = segs_get(&c->w->out);

		if (!nb)
			return -ENOMEM;
		if (b)
			b->next = nb;
		else
			q->head = nb;
		q->tail = b = nb;
	}
	b->iov[b->tail].iov_base = p;
	b->iov[b->tail].iov_len = n;
	b->owner[b->tail] = owner;
	b->tail++;
	q->bytes += n + seg_extra(owner);
	rc__dirty(c);
	return 0;
}

/*
 * Private output of every connection of a worker is appended to one write
 * chunk: a turn's replies to many connections sit side by side in a few
 * cache-warm chunks instead of one buffer each, and a connection with
 * nothing queued holds no output memory. A full write chunk is replaced;
 * it lives on until the sends from it complete.
 */
uint8_t *rc__out_reserve(struct rc_conn *c, size_t n)
{
	struct rc_outpool *p = &c->w->out;
	struct rc_chunk *k = p->wchunk;

	if (k && k->cap - k->len >= n)
		return k->data + k->len;
	if (n > UINT32_MAX - sizeof(*k))
		return NULL;
	k = chunk_get(p, n);
	if (!k)
		return NULL;
	if (p->wchunk && !p->wchunk->refs)
		chunk_put(p, p->wchunk);
	p->wchunk = k;
	return k->data;
}

int rc__out_commit(struct rc_conn *c, size_t used)
{
	return rc__out_commit_to(c, &c->q, used);
}

int rc__out_commit_to(struct rc_conn *c, struct rc_outq *q, size_t used)
{
	struct rc_chunk *k = c->w->out.wchunk;
	struct rc_segs *b = q->tail;
	uint8_t *p = k->data + k->len;

	if (!used)
		return 0;	/* an empty segment would never complete */

	k->len += (uint32_t)used;
	/* Bytes right after the last segment's, in the same chunk, and not
	   part of a send in flight: grow that segment instead of adding one,
	   so many small frames still go out as one iovec. */
	if (b && b->tail > b->head && b->owner[b->tail - 1] == (uintptr_t)k &&
	    (uint8_t *)b->iov[b->tail - 1].iov_base +
	    b->iov[b->tail - 1].iov_len == p &&
	    (b != q->head || b->tail - 1 >= b->head + b->sending)) {
		b->iov[b->tail - 1].iov_len += used;
		q->bytes += used;
		rc__dirty(c);
		return 0;
	}
	if (append(c, q, p, used, (uintptr_t)k))
		return -ENOMEM;
	k->refs++;
	return 0;
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
	return rc__out_commit(c, hl + len);
}

int rc__out_static(struct rc_conn *c, const void *p, size_t n)
{
	return append(c, &c->q, (void *)p, n, (uintptr_t)&static_owner);
}

int rc__out_msg(struct rc_conn *c, struct rc_msg *m, enum rc_frame_kind k)
{
	uint8_t *f = k == RC_FRAME_Z ? m->zframe :
		     k == RC_FRAME_S ? m->sframe : m->frame;
	uint32_t n = k == RC_FRAME_Z ? m->zframe_len :
		     k == RC_FRAME_S ? m->sframe_len : m->frame_len;

	if (append(c, &c->q, f, n, tag_msg(m, k))) {
		rc__msg_put(m);
		return -ENOMEM;
	}
	return 0;
}

unsigned rc__out_drop_shared(struct rc_conn *c, size_t need, size_t limit)
{
	unsigned dropped = 0;

	for (struct rc_segs *b = c->q.head; b; b = b->next) {
		/* Never a segment being sent, nor one partly sent: a frame
		   is all or nothing on the wire. */
		uint16_t from = b->head;
		uint16_t to;

		if (b == c->q.head)
			from = (uint16_t)(b->head + (b->sending ? b->sending :
						     b->partial));
		to = from;
		for (uint16_t i = from; i < b->tail; i++) {
			struct rc_msg *m = owner_msg(b->owner[i]);

			if (m && rc__out_bytes(c) + need > limit) {
				c->q.bytes -= b->iov[i].iov_len;
				release(c, &c->q, b->owner[i]);
				dropped++;
				continue;
			}
			b->iov[to] = b->iov[i];
			b->owner[to] = b->owner[i];
			to++;
		}
		b->tail = to;
		if (rc__out_bytes(c) + need <= limit)
			break;
	}
	if (c->tls || !rc__io_busy(c, RC_IO_SEND))
		trim_head(c, &c->q);
	return dropped;
}

/* ---- sending ---- */

/* The queue the socket is fed from: the connection's own, or for TLS the
   records made from it (runtime/conn.h, tls/tls.h). */
static struct rc_outq *wire_of(struct rc_conn *c)
{
	return c->tls ? &c->tls->wire : &c->q;
}

void rc__out_kick(struct rc_conn *c)
{
	struct rc_outq *q;
	struct rc_segs *b;
	struct io_uring_sqe *sqe;
	unsigned n;

	if (rc__io_busy(c, RC_IO_SEND) || c->state == RC_CONN_DEAD)
		return;
	if (c->tls) {
		/* Plaintext becomes records just ahead of the socket, so
		   queued shared messages stay shared until then. */
		rc__tls_encrypt(c);
		if (c->state == RC_CONN_DEAD)
			return;
	}
	q = wire_of(c);
	trim_head(c, q);
	b = q->head;
	if (!b)
		return;
	n = (unsigned)(b->tail - b->head);
	sqe = rc__ring_sqe(&c->w->ring);
	if (n == 1) {
		io_uring_prep_send(sqe, (int)rc__conn_slot(c), b->iov[b->head].iov_base,
				   b->iov[b->head].iov_len, MSG_NOSIGNAL);
	} else {
		memset(&b->mh, 0, sizeof(b->mh));
		b->mh.msg_iov = &b->iov[b->head];
		b->mh.msg_iovlen = n;
		io_uring_prep_sendmsg(sqe, (int)rc__conn_slot(c), &b->mh, MSG_NOSIGNAL);
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_SEND, rc__conn_slot(c)));
	b->sending = (uint16_t)n;
	rc__io_start(c, RC_IO_SEND);
}

/* Take @n bytes off the front of @q: sent (consume) or copied out
   (rc__out_take). */
static void consume(struct rc_conn *c, struct rc_outq *q, size_t n)
{
	struct rc_segs *b = q->head;

	q->bytes -= n;
	while (n) {
		struct iovec *v = &b->iov[b->head];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			b->partial = 1;
			break;
		}
		n -= v->iov_len;
		release(c, q, b->owner[b->head]);
		b->head++;
		b->partial = 0;
		if (b->head == b->tail && b->next && n) {
			q->head = b->next;
			segs_put(&c->w->out, b);
			b = q->head;
		}
	}
	b->sending = 0;
	trim_head(c, q);
}

size_t rc__out_take(struct rc_conn *c, uint8_t *dst, size_t max)
{
	size_t n = 0;

	for (struct rc_segs *b = c->q.head; b && n < max; b = b->next)
		for (uint16_t i = b->head; i < b->tail && n < max; i++) {
			size_t k = b->iov[i].iov_len;

			if (k > max - n)
				k = max - n;
			memcpy(dst + n, b->iov[i].iov_base, k);
			n += k;
		}
	if (n)
		consume(c, &c->q, n);
	return n;
}

void rc__out_complete(struct rc_conn *c, int res)
{
	struct rc_outq *q = wire_of(c);

	rc__io_done(c, RC_IO_SEND);
	if (q->head)
		q->head->sending = 0;
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
	consume(c, q, (size_t)res);
	rc__out_kick(c);
	rc__conn_sent(c);
}

/* Release what @q holds that is not in flight. */
static void discard(struct rc_conn *c, struct rc_outq *q, bool in_flight)
{
	struct rc_segs *b = q->head;

	while (b) {
		struct rc_segs *next = b->next;
		/* Segments the kernel is still sending from stay until their
		   completion comes back. */
		uint16_t keep = b == q->head && in_flight ? b->sending : 0;

		for (uint16_t i = (uint16_t)(b->head + keep); i < b->tail; i++) {
			q->bytes -= b->iov[i].iov_len;
			release(c, q, b->owner[i]);
		}
		b->tail = (uint16_t)(b->head + keep);
		if (!keep) {
			segs_put(&c->w->out, b);
			if (b == q->head)
				q->head = next;
		} else {
			b->next = NULL;
			q->tail = b;
		}
		b = next;
	}
	if (!q->head)
		q->tail = NULL;
}

void rc__out_drop_plain(struct rc_conn *c)
{
	/* TLS sends from its wire queue: nothing is in flight from this one. */
	discard(c, &c->q, !c->tls && rc__io_busy(c, RC_IO_SEND));
}

void rc__out_discard(struct rc_conn *c)
{
	bool busy = rc__io_busy(c, RC_IO_SEND);

	discard(c, &c->q, busy && !c->tls);
	if (c->tls)
		discard(c, &c->tls->wire, busy);
}

void rc__out_pool_trim(struct rc_outpool *p)
{
	for (unsigned cls = 0; cls < 2; cls++) {
		for (unsigned n = p->low[cls]; n; n--) {
			struct rc_chunk *k = p->pool[cls];

			p->pool[cls] = k->next;
			p->npool[cls]--;
			free(k);
		}
		p->low[cls] = p->npool[cls];
	}
	for (unsigned n = p->low[2]; n; n--) {
		struct rc_segs *b = p->seg_pool;

		p->seg_pool = b->next;
		p->nseg_pool--;
		free(b);
	}
	p->low[2] = p->nseg_pool;
}

void rc__out_pool_free(struct rc_outpool *p)
{
	/* Every connection is gone: nothing refers to the write chunk. */
	free(p->wchunk);
	p->wchunk = NULL;
	for (unsigned cls = 0; cls < 2; cls++) {
		while (p->pool[cls]) {
			struct rc_chunk *k = p->pool[cls];

			p->pool[cls] = k->next;
			free(k);
		}
		p->npool[cls] = 0;
	}
	while (p->seg_pool) {
		struct rc_segs *b = p->seg_pool;

		p->seg_pool = b->next;
		free(b);
	}
	p->nseg_pool = 0;
}
