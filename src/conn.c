/* SPDX-License-Identifier: MIT */
/* conn.c -- a connection's life: request heads, upgrade, frames, closing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "alloc.h"
#include "conn.h"
#include "pubsub.h"
#include "ring.h"
#include "send.h"
#include "upgrade.h"
#include "worker.h"

/* The public view of a request: the parser's result, borrowed. */
struct rc_request {
	const struct rc_http_request *http;
};

/* What handling one request head leaves the connection doing. */
enum req_next {
	REQ_KEEP,		/* answered; read the next request */
	REQ_UPGRADED,		/* now a WebSocket; the rest are frames */
	REQ_CLOSE,		/* answered; closing */
};

static const struct rc_config *cfg_of(const struct rc_conn *c)
{
	return &c->w->srv->cfg;
}

static const struct rc_handlers *handlers_of(const struct rc_conn *c)
{
	return &c->w->srv->h;
}

static void stat_add(struct rc_conn *c, enum rc_stat i, int64_t n)
{
	rc__stat_add(&c->w->stats, i, n);
}

void rc__conn_open(struct rc_worker *w, struct rc_conn *c, uint32_t slot)
{
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->slot = slot;
	/* Worker index, a per-worker sequence number and the slot: unique
	   without a shared counter, and rc_send_to() finds the connection
	   from the id alone. */
	c->id = (uint64_t)w->idx << 56 | (++w->next_id & 0xffffffffull) << 24 |
		slot;
	c->timer_prev = c->timer_next = RC_NO_SLOT;
	c->dirty_next = RC_NO_SLOT;
	c->state = RC_CONN_HTTP;
	c->protocol = -1;
	stat_add(c, RC_STAT_ACCEPTED, 1);
	stat_add(c, RC_STAT_CONNS_OPEN, 1);
	rc__recv_arm(c);
	rc__timer_set(c, RC_TIMER_HEAD);
}

/* ---- tear-down ---- */

static void cancel_op(struct rc_conn *c, enum rc_ud_op op)
{
	struct io_uring_sqe *sqe = rc__sqe(c->w);

	io_uring_prep_cancel64(sqe, rc_ud(op, c->slot), 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_IGNORE, c->slot));
}

static void cancel_recv(struct rc_conn *c)
{
	if (c->flags & RC_CF_RECV_ARMED)
		cancel_op(c, RC_UD_RECV);
}

static void drop_gather(struct rc_conn *c)
{
	free(c->gather);
	c->gather = NULL;
	c->glen = c->gcap = 0;
	free(c->ctrl);
	c->ctrl = NULL;
	c->ctrl_len = 0;
}

void rc__conn_kill(struct rc_conn *c, uint16_t code)
{
	if (c->state == RC_CONN_DEAD || c->state == RC_CONN_FREE)
		return;
	rc__timer_clear(c);
	c->state = RC_CONN_DEAD;
	rc__conn_unsubscribe_all(c);
	rc__out_discard(c);
	drop_gather(c);
	cancel_recv(c);
	/* A send to a peer that stopped reading waits for socket space that
	   never comes: cancel it, or the slot (and a stopping server) would
	   wait for it forever. */
	if (c->flags & RC_CF_SEND_BUSY)
		cancel_op(c, RC_UD_SEND);
	if (c->flags & RC_CF_OPENED) {
		c->flags &= ~RC_CF_OPENED;
		stat_add(c, RC_STAT_WS_OPEN, -1);
		/* State is DEAD already: rc_send() from on_close fails
		   cleanly instead of queueing to a closed socket. */
		if (handlers_of(c)->on_close)
			handlers_of(c)->on_close(c, code);
	}
	rc__conn_reap(c);
}

void rc__conn_reap(struct rc_conn *c)
{
	struct io_uring_sqe *sqe;

	/* Close the descriptor only once no op can still complete on it, so
	   the slot (and its index) is not reused under a pending CQE. */
	if (c->state != RC_CONN_DEAD ||
	    (c->flags & (RC_CF_RECV_ARMED | RC_CF_SEND_BUSY | RC_CF_DIRTY |
			 RC_CF_SHUT_BUSY | RC_CF_CLOSE_FD)))
		return;
	sqe = rc__sqe(c->w);
	io_uring_prep_close_direct(sqe, c->slot);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_CLOSE, c->slot));
	c->flags |= RC_CF_CLOSE_FD;
}

/* Output is empty and no send is in flight. */
static void after_flush(struct rc_conn *c)
{
	struct io_uring_sqe *sqe;

	if (!(c->flags & RC_CF_SHUT_AFTER) || c->state == RC_CONN_DEAD)
		return;
	/* The peer had half-closed: what it was owed is out, so end. */
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
	   worker, later), so the slot must not be closed and reused before
	   its completion: it is tracked like a send. */
	sqe = rc__sqe(c->w);
	io_uring_prep_shutdown(sqe, (int)c->slot, SHUT_WR);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_UD_SHUTDOWN, c->slot));
	c->flags |= RC_CF_SHUT_WR | RC_CF_SHUT_BUSY;
}

static void close_after_flush(struct rc_conn *c)
{
	c->state = RC_CONN_CLOSING;
	c->flags |= RC_CF_SHUT_AFTER;
	rc__timer_set(c, RC_TIMER_CLOSE);
	if (!c->q_head && !(c->flags & RC_CF_SEND_BUSY))
		after_flush(c);
}

void rc__conn_sent(struct rc_conn *c)
{
	if (!c->out_bytes && (c->flags & RC_CF_WAS_FULL)) {
		c->flags &= ~RC_CF_WAS_FULL;
		if (c->state == RC_CONN_WS && handlers_of(c)->on_drain)
			handlers_of(c)->on_drain(c);
	}
	if ((c->flags & RC_CF_PAUSED) &&
	    c->out_bytes <= cfg_of(c)->max_backpressure / 2) {
		c->flags &= ~RC_CF_PAUSED;
		c->flags |= RC_CF_REARM;
		rc__dirty(c);
	}
	if (!c->q_head && !(c->flags & RC_CF_SEND_BUSY))
		after_flush(c);
}

static void check_backpressure(struct rc_conn *c)
{
	if (c->state == RC_CONN_DEAD || (c->flags & RC_CF_PAUSED) ||
	    c->out_bytes <= cfg_of(c)->max_backpressure)
		return;
	/* The peer sends faster than it reads: stop reading from it, so TCP
	   flow control slows it down instead of our memory growing. */
	c->flags |= RC_CF_PAUSED | RC_CF_WAS_FULL;
	stat_add(c, RC_STAT_BACKPRESSURE, 1);
	cancel_recv(c);
}

/* ---- plain HTTP ---- */

static int respond(struct rc_conn *c, int status, const char *ctype,
		   const void *body, size_t body_len, int keep, int head_only)
{
	size_t cap = 512 + (head_only ? 0 : body_len);
	uint8_t *p = rc__out_reserve(c, cap);
	int n;

	if (!p)
		return -ENOMEM;
	n = rc_http_response((char *)p, cap, status, ctype, body, body_len,
			     keep, head_only);
	if (n < 0)
		return n;
	return rc__out_commit(c, (size_t)n);
}

static void http_fail(struct rc_conn *c, int status)
{
	stat_add(c, RC_STAT_HTTP_ERRORS, 1);
	respond(c, status, NULL, rc_http_reason(status),
		strlen(rc_http_reason(status)), 0, 0);
	c->flags |= RC_CF_INPUT_BAD;
	close_after_flush(c);
}

void rc__conn_refuse(struct rc_conn *c)
{
	stat_add(c, RC_STAT_REFUSED, 1);
	respond(c, 503, NULL, "Service Unavailable", 19, 0, 0);
	c->flags |= RC_CF_INPUT_BAD | RC_CF_REFUSED;
	close_after_flush(c);
}

static bool has_body(const struct rc_http_request *req)
{
	const struct rc_http_header *cl = rc_http_find(req, "content-length");

	if (rc_http_find(req, "transfer-encoding"))
		return true;
	return cl && !(cl->value.n == 1 && cl->value.p[0] == '0');
}

static enum req_next plain_request(struct rc_conn *c,
				   const struct rc_http_request *req)
{
	struct rc_request rr = { req };
	struct rc_response res = { 0 };
	/* Method names are case-sensitive (RFC 9110 §9.1). */
	bool head_only = req->method.n == 4 && !memcmp(req->method.p, "HEAD", 4);
	bool keep;

	if (req->minor_version >= 1)
		keep = !rc_http_list_has(req, "connection", "close");
	else
		keep = rc_http_list_has(req, "connection", "keep-alive");
	/* We serve no request bodies; rather than guess where the next
	   request starts, answer and close. */
	if (has_body(req))
		keep = false;

	if (!head_only && !(req->method.n == 3 && !memcmp(req->method.p,
							  "GET", 3))) {
		res.status = 405;
	} else if (handlers_of(c)->on_http) {
		handlers_of(c)->on_http(c, &rr, &res);
	}
	if (!res.status)
		res.status = 404;
	if (res.status == 404 && !res.body) {
		res.body = "Not Found\n";
		res.body_len = 10;
	}
	if (res.status == 405 && !res.body) {
		res.body = "Method Not Allowed\n";
		res.body_len = 19;
	}
	stat_add(c, res.status >= 400 ? RC_STAT_HTTP_ERRORS :
		 RC_STAT_HTTP_REQUESTS, 1);
	if (respond(c, res.status, res.content_type, res.body, res.body_len,
		    keep, head_only)) {
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return REQ_CLOSE;
	}
	if (!keep) {
		c->flags |= RC_CF_INPUT_BAD;
		close_after_flush(c);
		return REQ_CLOSE;
	}
	return REQ_KEEP;
}

static enum req_next handle_request(struct rc_conn *c,
				    const struct rc_http_request *req)
{
	const struct rc_config *cfg = cfg_of(c);
	struct rc_request rr = { req };
	const char *proto = NULL;
	struct rc_upgrade u;
	size_t cap;
	uint8_t *p;
	int st, n;

	st = rc_upgrade_check(req, cfg->subprotocols, cfg->nsubprotocols, &u);
	if (st == 0)
		return plain_request(c, req);
	if (st != 101) {
		http_fail(c, st);
		return REQ_CLOSE;
	}
	c->protocol = (int8_t)u.protocol;
	if (handlers_of(c)->on_upgrade) {
		st = handlers_of(c)->on_upgrade(c, &rr);
		if (st) {
			http_fail(c, st >= 400 && st <= 599 ? st : 500);
			return REQ_CLOSE;
		}
	}
	/* Accepted: from here on on_close will be called, whatever happens,
	   so the application can free what on_upgrade set up. */
	c->flags |= RC_CF_OPENED;
	stat_add(c, RC_STAT_WS_OPEN, 1);
	if (u.protocol >= 0)
		proto = cfg->subprotocols[u.protocol];
	cap = 256 + (proto ? strlen(proto) : 0);
	p = rc__out_reserve(c, cap);
	n = p ? rc_upgrade_response((char *)p, cap, u.key.p, u.key.n, proto) :
		-ENOMEM;
	if (n < 0 || rc__out_commit(c, (size_t)n)) {
		rc__conn_kill(c, RC_CLOSE_INTERNAL);
		return REQ_CLOSE;
	}
	c->state = RC_CONN_WS;
	rc_frame_decoder_init(&c->dec, cfg->max_message, true);
	c->flags &= ~RC_CF_ACTIVE;	/* the head was not a sign of life */
	rc__timer_set(c, RC_TIMER_PING);
	stat_add(c, RC_STAT_HANDSHAKES, 1);
	if (handlers_of(c)->on_open)
		handlers_of(c)->on_open(c);
	return REQ_UPGRADED;
}

static int gather_append(struct rc_conn *c, const void *p, size_t n,
			 size_t limit)
{
	size_t need = (size_t)c->glen + n;

	if (need > c->gcap) {
		size_t cap = c->gcap ? (size_t)c->gcap * 2 : 4096;
		uint8_t *g;

		if (cap < need)
			cap = need;
		if (cap > limit)
			cap = need;
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

static void ws_input(struct rc_conn *c, uint8_t *buf, size_t n);

static void http_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	const struct rc_config *cfg = cfg_of(c);
	struct rc_http_request req;
	const char *p;
	size_t len, prev = 0;

	if (c->timer_kind == RC_TIMER_IDLE)
		rc__timer_set(c, RC_TIMER_HEAD);
	/* Zero copy when the head arrives in one read (the usual case);
	   gather only a head that spans reads. */
	if (c->gather) {
		prev = c->glen;
		if (gather_append(c, buf, n, cfg->max_head + n)) {
			rc__conn_kill(c, RC_CLOSE_ABNORMAL);
			return;
		}
		p = (const char *)c->gather;
		len = c->glen;
	} else {
		p = (const char *)buf;
		len = n;
	}
	for (;;) {
		enum req_next next;
		int r;

		req.headers = c->w->hdrs;
		req.max_headers = cfg->max_headers;
		r = rc_http_parse(p, len, prev, &req);
		if (r == -EAGAIN) {
			if (len > cfg->max_head) {
				http_fail(c, 431);
				goto out_drop;
			}
			break;
		}
		if (r < 0 || (size_t)r > cfg->max_head) {
			http_fail(c, r == -EPROTO ? 400 : 431);
			goto out_drop;
		}
		next = handle_request(c, &req);
		p += r;
		len -= (size_t)r;
		prev = 0;
		if (next == REQ_CLOSE)
			goto out_drop;
		if (next == REQ_UPGRADED) {
			/* Bytes after the head are the first frames; the
			   gather buffer, if they are in it, is ours now. */
			uint8_t *own = c->gather;

			c->gather = NULL;
			c->glen = c->gcap = 0;
			if (len)
				ws_input(c, (uint8_t *)p, len);
			free(own);
			return;
		}
		if (!len)
			break;
	}
	if (!len) {
		free(c->gather);
		c->gather = NULL;
		c->glen = c->gcap = 0;
		rc__timer_set(c, RC_TIMER_IDLE);
		return;
	}
	/* Keep the start of a head that is not complete yet. */
	if (c->gather) {
		memmove(c->gather, p, len);
		c->glen = (uint32_t)len;
	} else if (gather_append(c, p, len, cfg->max_head + len)) {
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return;
	}
	if (c->timer_kind != RC_TIMER_HEAD)
		rc__timer_set(c, RC_TIMER_HEAD);
	return;
out_drop:
	free(c->gather);
	c->gather = NULL;
	c->glen = c->gcap = 0;
}

/* ---- WebSocket ---- */

static void send_close(struct rc_conn *c, uint16_t code, const char *reason,
		       size_t rlen)
{
	uint8_t p[RC_FRAME_CONTROL_MAX];
	size_t n = 0;

	if (code != RC_CLOSE_NO_STATUS) {
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		if (rlen)
			memcpy(p + 2, reason, rlen);
		n = 2 + rlen;
	}
	if (rc__out_frame(c, RC_OP_CLOSE, p, n)) {
		/* Out of memory: say so with a close frame that needs none. */
		static const uint8_t internal[] = { 0x88, 0x02, 0x03, 0xf3 };

		code = RC_CLOSE_INTERNAL;
		if (rc__out_static(c, internal, sizeof(internal))) {
			rc__conn_kill(c, RC_CLOSE_ABNORMAL);
			return;
		}
	}
	c->flags |= RC_CF_CLOSE_SENT;
	if (!c->close_code)
		c->close_code = code;
	close_after_flush(c);
}

static void ws_fail(struct rc_conn *c, long err)
{
	uint16_t code = rc_frame_close_code(err);

	if (code == RC_CLOSE_PROTOCOL)
		stat_add(c, RC_STAT_PROTOCOL_ERRORS, 1);
	else if (code == RC_CLOSE_INVALID_DATA)
		stat_add(c, RC_STAT_INVALID_UTF8, 1);
	else if (code == RC_CLOSE_TOO_BIG)
		stat_add(c, RC_STAT_TOO_BIG, 1);
	/* The input can no longer be parsed: ignore the rest of it. */
	c->flags |= RC_CF_INPUT_BAD;
	drop_gather(c);
	c->close_code = code;
	if (!(c->flags & RC_CF_CLOSE_SENT))
		send_close(c, code, NULL, 0);
	else
		close_after_flush(c);
}

static void deliver(struct rc_conn *c, const uint8_t *data, size_t len,
		    uint8_t op)
{
	struct rc_worker *w = c->w;

	stat_add(c, RC_STAT_MSGS_IN, 1);
	stat_add(c, RC_STAT_BYTES_IN, (int64_t)len);
	if (!handlers_of(c)->on_message)
		return;
	/* rc_send() of exactly this (validated) message skips re-checking
	   its UTF-8: the echo case. */
	w->cur_msg = data;
	w->cur_len = len;
	w->cur_conn = c;
	handlers_of(c)->on_message(c, data, len, (enum rc_opcode)op);
	w->cur_msg = NULL;
	w->cur_conn = NULL;
}

static void on_data(struct rc_conn *c, const struct rc_frame_event *ev)
{
	/* After our close frame, data is read only to find the peer's. */
	if (c->state != RC_CONN_WS) {
		if (ev->last && c->gather)
			drop_gather(c);
		return;
	}
	if (ev->first && ev->last && !c->gather) {
		deliver(c, ev->data, ev->len, ev->opcode);
		return;
	}
	if (gather_append(c, ev->data, ev->len, cfg_of(c)->max_message)) {
		ws_fail(c, -ENOMEM);
		return;
	}
	if (!ev->last)
		return;
	deliver(c, c->gather, c->glen, ev->opcode);
	free(c->gather);
	c->gather = NULL;
	c->glen = c->gcap = 0;
}

static void peer_close(struct rc_conn *c, const uint8_t *p, size_t n)
{
	const uint8_t *reason;
	size_t rlen;
	uint16_t code;
	int r = rc_frame_close_parse(p, n, &code, &reason, &rlen);

	if (r < 0) {
		ws_fail(c, r);
		return;
	}
	c->flags |= RC_CF_CLOSE_RCVD | RC_CF_INPUT_BAD;
	if (c->flags & RC_CF_CLOSE_SENT) {
		close_after_flush(c);
		return;
	}
	/* Echo the peer's code (RFC 6455 §5.5.1), or none if it sent none. */
	c->close_code = code;
	send_close(c, code, NULL, 0);
}

static void on_control(struct rc_conn *c, const struct rc_frame_event *ev)
{
	const uint8_t *p = ev->data;
	size_t n = ev->len;

	if (!(ev->first && ev->last)) {
		/* Split across reads (rare): collect up to 125 bytes. */
		if (ev->first) {
			free(c->ctrl);
			c->ctrl = rc__malloc(RC_FRAME_CONTROL_MAX);
			c->ctrl_len = 0;
			if (!c->ctrl) {
				ws_fail(c, -ENOMEM);
				return;
			}
		}
		memcpy(c->ctrl + c->ctrl_len, ev->data, ev->len);
		c->ctrl_len = (uint8_t)(c->ctrl_len + ev->len);
		if (!ev->last)
			return;
		p = c->ctrl;
		n = c->ctrl_len;
	}
	switch (ev->opcode) {
	case RC_OP_PING:
		if (c->state == RC_CONN_WS &&
		    rc__out_frame(c, RC_OP_PONG, p, n))
			ws_fail(c, -ENOMEM);
		break;
	case RC_OP_CLOSE:
		peer_close(c, p, n);
		break;
	default:		/* PONG: nothing to do */
		break;
	}
	free(c->ctrl);
	c->ctrl = NULL;
	c->ctrl_len = 0;
}

static void ws_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	size_t off = 0;

	while (off < n && !(c->flags & RC_CF_INPUT_BAD) &&
	       c->state != RC_CONN_DEAD) {
		struct rc_frame_event ev;
		long r = rc_frame_decode(&c->dec, buf + off, n - off, &ev);

		if (r < 0) {
			ws_fail(c, r);
			return;
		}
		off += (size_t)r;
		if (ev.kind == RC_FRAME_DATA)
			on_data(c, &ev);
		else if (ev.kind == RC_FRAME_CONTROL)
			on_control(c, &ev);
		else if (!r)
			break;
	}
}

void rc__conn_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	/* Any bytes prove the peer alive (one store; the ping timer looks at
	   it when it fires, so reading costs no timer list work). */
	c->flags = (c->flags | RC_CF_ACTIVE) & ~RC_CF_PINGED;
	if (c->flags & RC_CF_INPUT_BAD)
		return;
	if (c->state == RC_CONN_HTTP)
		http_input(c, buf, n);
	else if (c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING)
		ws_input(c, buf, n);
	check_backpressure(c);
}

void rc__conn_eof(struct rc_conn *c, int err)
{
	/* A FIN only ends the peer's sending: it may still be reading the
	   answer to what it sent last (a response, an echo, our close
	   frame), often queued in this very turn. Deliver that, then close.
	   An error (a reset) ends everything now. */
	if (!err && (c->q_head || (c->flags & RC_CF_SEND_BUSY)) &&
	    c->state != RC_CONN_DEAD) {
		c->flags |= RC_CF_PEER_EOF | RC_CF_INPUT_BAD;
		if (!(c->flags & RC_CF_SHUT_AFTER))
			close_after_flush(c);
		return;
	}
	rc__conn_kill(c, c->close_code ? c->close_code : RC_CLOSE_ABNORMAL);
}

/*
 * WebSocket liveness, on a timer of idle_timeout / 2: a period with input
 * re-arms it; the first silent period sends a ping, and a second one closes
 * with 1001. So a silent peer is pinged after 1/2 to 1 idle_timeout and
 * closed after 1 to 3/2 (exactly 1/2 and 1 if silent since its upgrade).
 * Browsers and every RFC 6455 client answer pings by themselves, so a
 * client that only reads stays open by its pongs.
 */
static void ping_timeout(struct rc_conn *c)
{
	if (c->state != RC_CONN_WS)
		return;
	if (c->flags & RC_CF_ACTIVE) {
		c->flags &= ~RC_CF_ACTIVE;
		rc__timer_set(c, RC_TIMER_PING);
		return;
	}
	if (!(c->flags & RC_CF_PINGED)) {
		if (rc__out_frame(c, RC_OP_PING, NULL, 0)) {
			rc__conn_oom(c);
			return;
		}
		stat_add(c, RC_STAT_PINGS_SENT, 1);
		c->flags |= RC_CF_PINGED;
		rc__timer_set(c, RC_TIMER_PING);
		return;
	}
	stat_add(c, RC_STAT_TIMEOUTS, 1);
	send_close(c, RC_CLOSE_GOING_AWAY, "idle timeout", 12);
}

void rc__conn_timeout(struct rc_conn *c, enum rc_timer_kind kind)
{
	if (kind == RC_TIMER_PING) {
		ping_timeout(c);
		return;
	}
	stat_add(c, RC_STAT_TIMEOUTS, 1);
	rc__conn_kill(c, c->close_code ? c->close_code : RC_CLOSE_ABNORMAL);
}

void rc__conn_close_slow(struct rc_conn *c)
{
	/* Its queue is over the limit: what it has not started to receive
	   of published messages goes now, so memory is back at once. */
	rc__out_drop_shared(c, 0, 0);
	if (!(c->flags & RC_CF_CLOSE_SENT))
		send_close(c, RC_CLOSE_POLICY, NULL, 0);
}

void rc__conn_pub_wait(struct rc_conn *c)
{
	c->flags |= RC_CF_PUB_WAIT;
	stat_add(c, RC_STAT_BACKPRESSURE, 1);
	cancel_recv(c);
}

void rc__conn_oom(struct rc_conn *c)
{
	if (c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING)
		ws_fail(c, -ENOMEM);
	else
		rc__conn_kill(c, RC_CLOSE_INTERNAL);
}

void rc__conn_going_away(struct rc_conn *c)
{
	if (c->state == RC_CONN_WS) {
		send_close(c, RC_CLOSE_GOING_AWAY, NULL, 0);
	} else if (c->state == RC_CONN_HTTP) {
		c->flags |= RC_CF_INPUT_BAD;
		close_after_flush(c);
	}
}

/* ---- public API ---- */

int rc_send(struct rc_conn *c, const void *data, size_t len,
	    enum rc_opcode op)
{
	struct rc_worker *w;
	int ret;

	if (!c || (!data && len))
		return -EINVAL;
	w = c->w;
	switch (op) {
	case RC_OP_TEXT:
		if (!(data == w->cur_msg && len == w->cur_len) &&
		    !rc_utf8_valid(data, len))
			return -EINVAL;
		break;
	case RC_OP_BINARY:
		break;
	case RC_OP_PING:
	case RC_OP_PONG:
		if (len > RC_FRAME_CONTROL_MAX)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (c->state != RC_CONN_WS)
		return -EPIPE;
	if (len > cfg_of(c)->max_message)
		return -EMSGSIZE;
	ret = rc__out_frame(c, op, data, len);
	if (ret) {
		/* The message is lost: the peer must not go on as if it
		   had it. */
		rc__conn_oom(c);
		return ret;
	}
	if (op == RC_OP_TEXT || op == RC_OP_BINARY) {
		stat_add(c, RC_STAT_MSGS_OUT, 1);
		stat_add(c, RC_STAT_BYTES_OUT, (int64_t)len);
	}
	check_backpressure(c);
	return 0;
}

int rc_close(struct rc_conn *c, uint16_t code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;

	if (!c || !rc_close_code_valid(code) || rlen > RC_FRAME_CONTROL_MAX - 2 ||
	    !rc_utf8_valid((const uint8_t *)reason, rlen))
		return -EINVAL;
	if (c->state != RC_CONN_WS)
		return -EPIPE;
	send_close(c, code, reason, rlen);
	return 0;
}

size_t rc_conn_buffered(const struct rc_conn *c)
{
	return c ? c->out_bytes : 0;
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
	return cfg_of(c)->subprotocols[c->protocol];
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

const char *rc_request_method(const struct rc_request *req, size_t *len)
{
	*len = req->http->method.n;
	return req->http->method.p;
}

const char *rc_request_path(const struct rc_request *req, size_t *len)
{
	*len = req->http->path.n;
	return req->http->path.p;
}

const char *rc_request_header(const struct rc_request *req, const char *name,
			      size_t *len)
{
	const struct rc_http_header *h = rc_http_find(req->http, name);

	if (!h)
		return NULL;
	*len = h->value.n;
	return h->value.p;
}
