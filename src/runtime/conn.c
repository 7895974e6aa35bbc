/* SPDX-License-Identifier: MIT */
/* conn.c -- a connection's life: open, backpressure, closing, the end. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "runtime/alloc.h"
#include "runtime/conn.h"
#include "runtime/rt.h"
#include "runtime/server.h"
#include "runtime/worker.h"

/* The next id for slot @slot of @w, after @prev (the slot's last id, or 0
   if it never held a connection). */
static uint64_t next_id(struct rc_worker *w, uint32_t slot, uint64_t prev)
{
	uint64_t gen = (prev >> RC_ID_SLOT_BITS) & RC_ID_GEN_MAX;

	if (!prev && w->id_gen_start && w->id_gen_start <= RC_ID_GEN_MAX)
		gen = RC_ID_GEN_MAX - w->id_gen_start;	/* tests */
	return (uint64_t)w->idx << RC_ID_WORKER_SHIFT |
	       (gen + 1) << RC_ID_SLOT_BITS | slot;
}

bool rc__conn_open(struct rc_worker *w, struct rc_conn *c, uint32_t slot)
{
	uint64_t prev = c->id;

	memset(c, 0, sizeof(*c));
	c->w = w;
	rc__timer_link_init(c);
	c->dirty_next = RC_NO_SLOT;
	c->state = RC_CONN_HTTP;
	c->protocol = -1;
	w->nconns++;
	rc__conn_stat(c, RC_STAT_ACCEPTED, 1);
	rc__conn_stat(c, RC_STAT_CONNS_OPEN, 1);
	if (((prev >> RC_ID_SLOT_BITS) & RC_ID_GEN_MAX) == RC_ID_GEN_MAX) {
		/* Every id of this slot has been given (and retiring it
		   failed): never give one twice. */
		c->id = prev;
		c->flags |= RC_CF_RETIRE;
		rc__conn_stat(c, RC_STAT_REFUSED, 1);
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return false;
	}
	/* Worker, generation and slot: unique without a shared counter, and
	   rc_send_to() finds the connection from the id alone. */
	c->id = next_id(w, slot, prev);
	if (((c->id >> RC_ID_SLOT_BITS) & RC_ID_GEN_MAX) == RC_ID_GEN_MAX)
		c->flags |= RC_CF_RETIRE;
	rc__conn_recv_arm(c);
	rc__timer_set(c, RC_TIMER_HEAD);
	return true;
}

unsigned rc__id_worker(uint64_t id)
{
	return (unsigned)(id >> RC_ID_WORKER_SHIFT);
}

void rc__conn_closed(struct rc_conn *c)
{
	struct rc_worker *w = c->w;
	int fd = w->wake_fd;

	rc__io_done(c, RC_IO_CLOSE);
	rc__tls_conn_free(c);
	rc__peer_put(&w->srv->peers, c->peer);
	c->peer = 0;
	atomic_fetch_sub(&w->srv->nconns, 1);
	rc__conn_stat(c, RC_STAT_CONNS_OPEN, -1);
	w->nconns--;
	c->flags &= RC_CF_RETIRE;
	c->state = RC_CONN_FREE;
	/* Its ids are used up: a file of ours in the slot keeps the kernel
	   from allocating it again. Should that fail, the slot's next
	   connection is refused (rc__conn_open) and we try again. */
	if ((c->flags & RC_CF_RETIRE) &&
	    io_uring_register_files_update(&w->ring.uring, rc__conn_slot(c), &fd,
					   1) == 1) {
		c->state = RC_CONN_RETIRED;
		w->nretired++;
	}
	c->flags = 0;
}

/* ---- in-flight operations and the end ---- */

void rc__conn_recv_arm(struct rc_conn *c)
{
	struct io_uring_sqe *sqe;

	if (rc__io_busy(c, RC_IO_RECV))
		return;
	sqe = rc__ring_sqe(&c->w->ring);
	io_uring_prep_recv_multishot(sqe, (int)rc__conn_slot(c), NULL, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_RECV, rc__conn_slot(c)));
	rc__io_start(c, RC_IO_RECV);
}

static void cancel_op(struct rc_conn *c, enum rc_ud_op op)
{
	struct io_uring_sqe *sqe = rc__ring_sqe(&c->w->ring);

	io_uring_prep_cancel64(sqe, rc_ud(op, rc__conn_slot(c)), 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_IGNORE, rc__conn_slot(c)));
}

void rc__conn_cancel_recv(struct rc_conn *c)
{
	if (rc__io_busy(c, RC_IO_RECV))
		cancel_op(c, RC_UD_RECV);
}

void rc__conn_drop_message(struct rc_conn *c)
{
	if (c->flags & RC_CF_PARTIAL) {
		atomic_fetch_sub(&c->w->srv->partial, c->glen);
		c->flags &= ~RC_CF_PARTIAL;
	}
	free(c->gather);
	c->gather = NULL;
	c->glen = c->gcap = 0;
}

void rc__conn_drop_gather(struct rc_conn *c)
{
	rc__conn_drop_message(c);
	free(c->ctrl);
	c->ctrl = NULL;
	c->ctrl_len = 0;
	c->flags &= ~RC_CF_HELD;
}

int rc__conn_gather(struct rc_conn *c, const void *p, size_t n, size_t limit)
{
	size_t need = (size_t)c->glen + n;

	if (need > c->gcap) {
		size_t cap = c->gcap ? (size_t)c->gcap * 2 : 4096;
		uint8_t *g;

		if (cap < need)
			cap = need;
		if (cap > limit)
			cap = need;
		if (cap > UINT32_MAX - RC_SIMD_PADDING)
			return -ENOMEM;	/* max_message is clamped below */
		/* Padded so that vector kernels may read past the end. */
		g = rc__realloc(c->gather, cap + RC_SIMD_PADDING);
		if (!g)
			return -ENOMEM;
		c->gather = g;
		c->gcap = (uint32_t)cap;
	}
	memcpy(c->gather + c->glen, p, n);
	c->glen = (uint32_t)need;
	return 0;
}

void rc__conn_kill(struct rc_conn *c, uint16_t code)
{
	const struct rc_handlers *h = rc__conn_handlers(c);

	if (c->state == RC_CONN_DEAD || c->state == RC_CONN_FREE ||
	    c->state == RC_CONN_RETIRED)
		return;
	rc__timer_clear(c);
	c->state = RC_CONN_DEAD;
	rc__ps_conn_gone(c);
	rc__ws_z_free(c);
	rc__out_discard(c);
	rc__conn_drop_gather(c);
	rc__conn_cancel_recv(c);
	/* A send to a peer that stopped reading waits for socket space that
	   never comes: cancel it, or the slot (and a stopping server) would
	   wait for it forever. */
	if (rc__io_busy(c, RC_IO_SEND))
		cancel_op(c, RC_UD_SEND);
	if (c->flags & RC_CF_OPENED) {
		c->flags &= ~RC_CF_OPENED;
		rc__conn_stat(c, RC_STAT_WS_OPEN, -1);
		if (c->flags & RC_CF_Z)
			rc__conn_stat(c, RC_STAT_DEFLATE_CONNS, -1);
		/* State is DEAD already: rc_send() from on_close fails
		   cleanly instead of queueing to a closed socket. */
		if (h->on_close)
			h->on_close(c, code);
	}
	rc__conn_reap(c);
}

void rc__conn_reap(struct rc_conn *c)
{
	struct io_uring_sqe *sqe;

	/* Close the descriptor only once no op can still complete on it, so
	   the slot (and its index) is not reused under a pending CQE; and
	   not while the slot is on the flush list, which names it. */
	if (c->state != RC_CONN_DEAD || c->inflight ||
	    (c->flags & RC_CF_DIRTY))
		return;
	sqe = rc__ring_sqe(&c->w->ring);
	io_uring_prep_close_direct(sqe, rc__conn_slot(c));
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_CLOSE, rc__conn_slot(c)));
	rc__io_start(c, RC_IO_CLOSE);
}

/* Output is empty and no send is in flight. */
static void after_flush(struct rc_conn *c)
{
	struct io_uring_sqe *sqe;

	if (!(c->flags & RC_CF_SHUT_AFTER) || c->state == RC_CONN_DEAD)
		return;
	/* TLS: every way out sends our close_notify first (RFC 8446 §6.1;
	   an OpenSSL client whose connection ends without one marks its
	   session not resumable); back here once it is out. */
	if (c->tls && rc__tls_close_notify(c))
		return;
	/* The peer had half-closed (or the connection was idle at a stop):
	   what it was owed is out, so end. */
	if (c->flags & RC_CF_PEER_EOF) {
		rc__conn_kill(c, c->close_code ? c->close_code :
				 RC_CLOSE_ABNORMAL);
		return;
	}
	/* Both close frames exchanged: the server closes TCP first
	   (RFC 6455 §7.1.1), so the client is not left in TIME_WAIT. */
	if ((c->flags & RC_CF_CLOSE_SENT) && (c->flags & RC_CF_CLOSE_RCVD)) {
		rc__conn_kill(c, c->close_code);
		return;
	}
	if (c->flags & RC_CF_SHUT_WR)
		return;
	/* Half-close rather than close: closing with unread input would
	   send a RST that can destroy our last bytes (a 400, a close frame)
	   before the client reads them. We read on until EOF or the close
	   timer. The shutdown looks its slot up when it runs (in a kernel
	   worker, later), so it is in flight like a send. */
	sqe = rc__ring_sqe(&c->w->ring);
	io_uring_prep_shutdown(sqe, (int)rc__conn_slot(c), SHUT_WR);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_SHUTDOWN, rc__conn_slot(c)));
	c->flags |= RC_CF_SHUT_WR;
	rc__io_start(c, RC_IO_SHUTDOWN);
}

static bool flushed(const struct rc_conn *c)
{
	return !c->q.head && !(c->tls && c->tls->wire.head) &&
	       !rc__io_busy(c, RC_IO_SEND);
}

void rc__conn_close_after_flush(struct rc_conn *c)
{
	c->state = RC_CONN_CLOSING;
	c->flags |= RC_CF_SHUT_AFTER;
	rc__timer_set(c, RC_TIMER_CLOSE);
	if (flushed(c))
		after_flush(c);
}

void rc__conn_sent(struct rc_conn *c)
{
	const struct rc_config *cfg = rc__conn_cfg(c);

	if (!rc__out_bytes(c) && (c->flags & RC_CF_WAS_FULL)) {
		c->flags &= ~RC_CF_WAS_FULL;
		if (c->state == RC_CONN_WS && rc__conn_handlers(c)->on_drain)
			rc__conn_handlers(c)->on_drain(c);
	}
	if ((c->flags & RC_CF_PAUSED) &&
	    rc__out_bytes(c) <= cfg->max_backpressure / 2) {
		c->flags &= ~RC_CF_PAUSED;
		/* Requests held while the output was full go first; they
		   may fill it again and pause once more. */
		if (c->flags & RC_CF_HELD)
			rc__http_resume(c);
		if (!(c->flags & RC_CF_PAUSED) && c->state != RC_CONN_DEAD) {
			c->flags |= RC_CF_REARM;
			rc__dirty(c);
		}
	}
	if (c->state != RC_CONN_DEAD && flushed(c))
		after_flush(c);
}

void rc__conn_check_backpressure(struct rc_conn *c)
{
	if (c->state == RC_CONN_DEAD || (c->flags & RC_CF_PAUSED) ||
	    rc__out_bytes(c) <= rc__conn_cfg(c)->max_backpressure)
		return;
	/* The peer sends faster than it reads: stop reading from it, so TCP
	   flow control slows it down instead of our memory growing. */
	c->flags |= RC_CF_PAUSED | RC_CF_WAS_FULL;
	rc__conn_stat(c, RC_STAT_BACKPRESSURE, 1);
	rc__conn_cancel_recv(c);
}

/* ---- what the worker calls ---- */

void rc__conn_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	/* Any bytes prove the peer alive (one store; the ping timer looks at
	   it when it fires, so reading costs no timer list work). */
	c->flags = (c->flags | RC_CF_ACTIVE) & ~RC_CF_PINGED;
	if (c->flags & RC_CF_INPUT_BAD)
		return;
	if (c->tls)
		rc__tls_input(c, buf, n);
	else
		rc__conn_plain_input(c, buf, n);
	rc__conn_check_backpressure(c);
}

void rc__conn_plain_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	if (c->state == RC_CONN_HTTP)
		rc__http_input(c, buf, n);
	else if (c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING)
		rc__ws_input(c, buf, n);
}

void rc__conn_eof(struct rc_conn *c, int err)
{
	/* A FIN only ends the peer's sending: it may still be reading the
	   answer to what it sent last (a response, an echo, our close
	   frame), often queued in this very turn. Deliver that, then close.
	   Over TLS that includes our close_notify (the answer to the
	   peer's). An error (a reset) ends everything now. */
	if (c->tls)
		rc__tls_unfinished(c, false);
	if (!err && c->state != RC_CONN_DEAD &&
	    (!flushed(c) || (c->tls && rc__tls_notify_owed(c->tls)))) {
		c->flags |= RC_CF_PEER_EOF | RC_CF_INPUT_BAD;
		if (!(c->flags & RC_CF_SHUT_AFTER))
			rc__conn_close_after_flush(c);
		return;
	}
	rc__conn_kill(c, c->close_code ? c->close_code : RC_CLOSE_ABNORMAL);
}

void rc__conn_timeout(struct rc_conn *c, enum rc_timer_kind kind)
{
	if (kind == RC_TIMER_PING) {
		rc__ws_ping_timeout(c);
		return;
	}
	rc__conn_stat(c, RC_STAT_TIMEOUTS, 1);
	if (c->tls && kind == RC_TIMER_HEAD)
		rc__tls_unfinished(c, true);
	rc__conn_kill(c, c->close_code ? c->close_code : RC_CLOSE_ABNORMAL);
}

void rc__conn_oom(struct rc_conn *c)
{
	if (c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING)
		rc__ws_fail(c, -ENOMEM);
	else
		rc__conn_kill(c, RC_CLOSE_INTERNAL);
}

void rc__conn_going_away(struct rc_conn *c)
{
	if (c->state == RC_CONN_WS) {
		rc__ws_send_close(c, RC_CLOSE_GOING_AWAY, NULL, 0);
	} else if (c->state == RC_CONN_HTTP) {
		/* An idle keep-alive connection (nothing half read, nothing
		   owed) ends as soon as our close_notify is out, if TLS: its
		   client (a metrics scraper, say) notices a FIN only when it
		   next asks, so a half-close would hold a stopping server
		   for close_timeout_ms. The idle timer ends it so too. */
		if (!c->gather && flushed(c) &&
		    !(c->flags & (RC_CF_DEFERRED | RC_CF_HELD)))
			c->flags |= RC_CF_PEER_EOF;
		c->flags |= RC_CF_INPUT_BAD;
		rc__conn_drop_gather(c);
		rc__conn_close_after_flush(c);
	}
}

void rc__conn_drain(struct rc_conn *c)
{
	const char *r = c->w->srv->drain_reason;

	if (c->state == RC_CONN_WS)
		rc__ws_send_close(c, RC_CLOSE_GOING_AWAY, r, strlen(r));
}

void rc__conn_refused(struct rc_conn *c, int code, const char *what)
{
	const struct rc_handlers *h = rc__conn_handlers(c);

	if (h->on_refuse)
		h->on_refuse(c, code, what);
}

void rc__conn_peer_accepted(struct rc_conn *c, const struct sockaddr *peer)
{
	struct rc_peers *t = &c->w->srv->peers;
	enum rc_peer_verdict v;
	struct rc_addr a;
	uint16_t port;
	bool proxy;

	if (!rc__addr_from_sockaddr(&a, peer, &port))
		return;
	/* A trusted proxy's own connections are many and not limited; the
	   client it names in X-Forwarded-For is (conn_http.c). */
	proxy = t->ntrusted && rc__peer_trusted(t, &a);
	v = rc__peer_get(t, &a, c->w->now_ms, !proxy, &c->peer);
	if (v != RC_PEER_OK) {
		/* Held (not limited) while the refusal goes out, so that
		   on_refuse can name the address. */
		if (v == RC_PEER_FULL ||
		    rc__peer_get(t, &a, c->w->now_ms, false, &c->peer))
			c->peer = 0;
		c->port = port;
		rc__conn_refuse(c, v == RC_PEER_FULL ? 503 : 429,
				rc__peer_verdict_what(v));
		return;
	}
	c->port = port;
	if (proxy)
		c->flags |= RC_CF_VIA_PROXY;
}

/* ---- deadlines: rc_conn_close_at(), a min-heap per worker ---- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool dl_before(const struct rc_deadline *a, const struct rc_deadline *b)
{
	return a->unix_ms < b->unix_ms;
}

static void dl_swap(struct rc_deadline *a, struct rc_deadline *b)
{
	struct rc_deadline t = *a;

	*a = *b;
	*b = t;
}

static void dl_up(struct rc_deadline *h, uint32_t i)
{
	while (i && dl_before(&h[i], &h[(i - 1) / 2])) {
		dl_swap(&h[i], &h[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static void dl_down(struct rc_deadline *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;

		if (l < n && dl_before(&h[l], &h[m]))
			m = l;
		if (l + 1 < n && dl_before(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		dl_swap(&h[i], &h[m]);
		i = m;
	}
}

/* Entries of connections that are gone stay until they come due; when
   they are most of the heap, drop them all at once (O(n), amortised). */
static void dl_compact(struct rc_worker *w)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < w->ndl; i++)
		if (rc__worker_conn(w, w->dl[i].id))
			w->dl[n++] = w->dl[i];
	w->ndl = n;
	for (uint32_t i = n / 2; i-- > 0;)
		dl_down(w->dl, n, i);
}

int rc_conn_close_at(struct rc_conn *c, int64_t unix_ms, uint16_t code,
		     const char *reason)
{
	struct rc_worker *w;
	size_t rlen = reason ? strlen(reason) : 0;

	if (!c || !rc_close_code_valid(code) ||
	    rlen > RC_FRAME_CONTROL_MAX - 2 ||
	    !rc_utf8_valid((const uint8_t *)reason, rlen))
		return -EINVAL;
	if (c->state != RC_CONN_WS && c->state != RC_CONN_HTTP)
		return -EPIPE;
	w = c->w;
	if (w->ndl == w->dl_cap) {
		uint32_t cap = w->dl_cap ? w->dl_cap * 2 : 64;
		struct rc_deadline *v;

		if (w->ndl > 2 * w->nconns + 64) {
			dl_compact(w);
		}
		if (w->ndl == w->dl_cap) {
			v = rc__realloc(w->dl, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			w->dl = v;
			w->dl_cap = cap;
		}
	}
	w->dl[w->ndl] = (struct rc_deadline){ .unix_ms = unix_ms,
					      .id = c->id,
					      .reason = reason,
					      .code = code };
	dl_up(w->dl, w->ndl++);
	return 0;
}

unsigned rc__deadlines_next_ms(struct rc_worker *w, unsigned cap)
{
	int64_t d;

	if (!w->ndl)
		return cap;
	d = w->dl[0].unix_ms - wall_ms();
	return d <= 0 ? 0 : d < (int64_t)cap ? (unsigned)d : cap;
}

void rc__deadlines_fire(struct rc_worker *w)
{
	int64_t now;

	if (!w->ndl)
		return;
	now = wall_ms();
	while (w->ndl && w->dl[0].unix_ms <= now) {
		struct rc_deadline d = w->dl[0];
		struct rc_conn *c;

		w->dl[0] = w->dl[--w->ndl];
		dl_down(w->dl, w->ndl, 0);
		c = rc__worker_conn(w, d.id);
		if (!c)
			continue;
		rc__conn_stat(c, RC_STAT_DEADLINE_CLOSES, 1);
		if (c->state == RC_CONN_WS)
			rc__ws_send_close(c, d.code, d.reason,
					  d.reason ? strlen(d.reason) : 0);
		else if (c->state == RC_CONN_HTTP)
			rc__conn_kill(c, d.code);
	}
}

/* ---- what the pub/sub layer calls (runtime/rt.h) ---- */

bool rc__conn_deliver(struct rc_conn *c, struct rc_msg *m)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	size_t cost;
	bool z;

	if (c->state != RC_CONN_WS || (c->flags & RC_CF_CLOSE_SENT) ||
	    (m->kind == RC_MSG_TOPIC && m->conn_id == c->id)) {
		rc__msg_put(m);
		return false;
	}
	/* The policy is for a queue that is already long: a message that
	   finds the queue empty always goes, however large. */
	cost = rc__out_msg_cost(m);
	if (rc__out_bytes(c) &&
	    rc__out_bytes(c) + cost > cfg->max_backpressure) {
		c->flags |= RC_CF_WAS_FULL;
		if (cfg->slow_policy == RC_SLOW_CLOSE) {
			rc__conn_stat(c, RC_STAT_SLOW_CLOSES, 1);
			/* What it has not started to receive of published
			   messages goes now, so memory is back at once. */
			rc__out_drop_shared(c, 0, 0);
			if (!(c->flags & RC_CF_CLOSE_SENT))
				rc__ws_send_close(c, RC_CLOSE_POLICY, NULL, 0);
			rc__msg_put(m);
			return false;
		}
		rc__conn_stat(c, RC_STAT_DROPPED,
			      rc__out_drop_shared(c, cost,
						  cfg->max_backpressure));
		/* Still no room (what is queued is being sent): drop this
		   one, unless the queue is empty now. */
		if (rc__out_bytes(c) &&
		    rc__out_bytes(c) + cost > cfg->max_backpressure) {
			rc__conn_stat(c, RC_STAT_DROPPED, 1);
			rc__msg_put(m);
			return false;
		}
	}
	if ((c->flags & RC_CF_Z) && !m->plain_only &&
	    (m->kind == RC_MSG_DIRECT || rc__conn_zc(c))) {
		/* One recipient (rc_send_to), or a window of its own:
		   compressed for it alone. */
		size_t len;
		const uint8_t *p = rc__msg_payload(m, &len);
		int ret = rc__ws_send_data(c, p, len, m->frame[0] & 0xf,
					   false);

		rc__msg_put(m);
		if (ret) {
			rc__conn_oom(c);
			return false;
		}
		return true;
	}
	/* Stamped (rc_conn_stamped()): the shared stamped frame, or one
	   made for it alone when the message came without (published before
	   it subscribed; the stamp said 0: plain). */
	if ((c->flags & RC_CF_STAMPED) && m->kind == RC_MSG_TOPIC &&
	    !m->sframe_len && !m->control)
		m = rc__ps_stamped(c, m);
	if (!m) {
		rc__conn_oom(c);
		return false;
	}
	if ((c->flags & RC_CF_STAMPED) && m->sframe_len) {
		if (rc__out_msg(c, m, RC_FRAME_S)) {
			rc__conn_oom(c);
			return false;
		}
		return true;
	}
	/* Published: the shared compressed frame if there is one and the
	   peer takes it; else plain, never a compression per subscriber. */
	z = (c->flags & RC_CF_Z) && !m->plain_only && m->zframe_len &&
	    rc__conn_zfits(c, m->frame_len - m->hdr_len);
	if (rc__out_msg(c, m, z ? RC_FRAME_Z : RC_FRAME_PLAIN)) {
		rc__conn_oom(c);
		return false;
	}
	return true;
}

bool rc__conn_takes_sframe(const struct rc_conn *c)
{
	return c->flags & RC_CF_STAMPED;
}

void rc_conn_stamped(struct rc_conn *c)
{
	if (c)
		c->flags |= RC_CF_STAMPED;
}

bool rc__conn_takes_zframe(const struct rc_conn *c)
{
	return (c->flags & RC_CF_Z) && !rc__conn_zc(c);
}

struct rc_sub **rc__conn_subs(struct rc_conn *c)
{
	return &c->subs;
}

bool rc__conn_sub_allowed(struct rc_conn *c, unsigned have)
{
	unsigned max = rc__conn_cfg(c)->max_subscriptions;

	if (max == RC_UNLIMITED || have < max)
		return true;
	rc__conn_stat(c, RC_STAT_SUBS_REFUSED, 1);
	return false;
}

bool rc__conn_is_open(const struct rc_conn *c)
{
	return c->state == RC_CONN_WS;
}

struct rc_ps_worker *rc__conn_ps(struct rc_conn *c)
{
	return &c->w->ps;
}

bool rc__conn_pub_wait(struct rc_conn *c)
{
	if (c->flags & RC_CF_PUB_WAIT)
		return false;
	c->flags |= RC_CF_PUB_WAIT;
	rc__conn_stat(c, RC_STAT_BACKPRESSURE, 1);
	rc__conn_cancel_recv(c);
	return true;
}

/* ---- public API: the connection ---- */

size_t rc_conn_buffered(const struct rc_conn *c)
{
	return c ? rc__out_bytes(c) : 0;
}

uint64_t rc_conn_id(const struct rc_conn *c)
{
	return c ? c->id : 0;
}

struct rc_server *rc_conn_server(const struct rc_conn *c)
{
	return c ? c->w->srv : NULL;
}

const char *rc_conn_protocol(const struct rc_conn *c)
{
	if (!c || c->protocol < 0)
		return NULL;
	return rc__conn_cfg(c)->subprotocols[c->protocol];
}

void *rc_conn_data(const struct rc_conn *c)
{
	return c ? c->data : NULL;
}

void rc_conn_set_data(struct rc_conn *c, void *data)
{
	if (c)
		c->data = data;
}

int rc_conn_peer(const struct rc_conn *c, struct sockaddr_storage *out)
{
	if (!c || !out)
		return -EINVAL;
	if (!c->peer)
		return -ENOTCONN;
	rc__addr_to_sockaddr(rc__peer_addr(&c->w->srv->peers, c->peer),
			     c->port, out);
	return 0;
}

const char *rc_conn_peer_str(const struct rc_conn *c, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	const void *a;

	if (!buf || !cap)
		return NULL;
	buf[0] = '\0';
	if (rc_conn_peer(c, &ss))
		return buf;
	a = ss.ss_family == AF_INET ?
		    (const void *)&((struct sockaddr_in *)&ss)->sin_addr :
		    (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (!inet_ntop(ss.ss_family, a, buf, (socklen_t)cap))
		buf[0] = '\0';
	return buf;
}
