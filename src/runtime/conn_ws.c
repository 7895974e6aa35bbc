/* SPDX-License-Identifier: MIT */
/* conn_ws.c -- a connection's WebSocket part: frames, messages, closing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deflate/deflate.h"
#include "proto/pmd.h"
#include "runtime/alloc.h"
#include "runtime/conn.h"
#include "runtime/rt.h"
#include "runtime/stats.h"
#include "runtime/worker.h"

void rc__ws_start(struct rc_conn *c)
{
	const struct rc_handlers *h = rc__conn_handlers(c);

	c->state = RC_CONN_WS;
	rc_frame_decoder_init(&c->dec, rc__conn_cfg(c)->max_message, true);
	if (c->flags & RC_CF_Z) {
		c->dec.rsv1_ok = 1;
		rc__conn_stat(c, RC_STAT_DEFLATE_CONNS, 1);
	}
	c->flags &= ~RC_CF_ACTIVE;	/* the head was not a sign of life */
	c->rl_msgs = (int16_t)c->w->srv->rl_msg_full;
	c->rl_bytes = RC_RL_FULL;
	c->rl_last = (uint16_t)(c->w->now_ms >> RC_RL_TICK_SHIFT);
	rc__timer_set(c, RC_TIMER_PING);
	rc__conn_stat(c, RC_STAT_HANDSHAKES, 1);
	if (h->on_open)
		h->on_open(c);
}

void rc__ws_send_close(struct rc_conn *c, uint16_t code, const char *reason,
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
	rc__conn_close_after_flush(c);
}

void rc__ws_fail(struct rc_conn *c, long err)
{
	uint16_t code = rc_frame_close_code(err);

	if (code == RC_CLOSE_PROTOCOL)
		rc__conn_stat(c, RC_STAT_PROTOCOL_ERRORS, 1);
	else if (code == RC_CLOSE_INVALID_DATA)
		rc__conn_stat(c, RC_STAT_INVALID_UTF8, 1);
	else if (code == RC_CLOSE_TOO_BIG)
		rc__conn_stat(c, RC_STAT_TOO_BIG, 1);
	/* The input can no longer be parsed: ignore the rest of it. */
	c->flags |= RC_CF_INPUT_BAD;
	rc__conn_drop_gather(c);
	c->close_code = code;
	if (!(c->flags & RC_CF_CLOSE_SENT))
		rc__ws_send_close(c, code, NULL, 0);
	else
		rc__conn_close_after_flush(c);
}

/* Close @c with @code and @reason for a limit it passed (counted). */
static void ws_refuse(struct rc_conn *c, enum rc_stat st, uint16_t code,
		      const char *reason, const char *what)
{
	rc__conn_stat(c, st, 1);
	rc__conn_refused(c, code, what);
	c->flags |= RC_CF_INPUT_BAD;
	rc__conn_drop_gather(c);
	c->close_code = code;
	if (!(c->flags & RC_CF_CLOSE_SENT))
		rc__ws_send_close(c, code, reason, strlen(reason));
	else
		rc__conn_close_after_flush(c);
}

/* Refill @c's rate buckets for the time since the last refill, in ticks
   of a 16-bit clock (RC_RL_TICK_SHIFT): the ping timer calls this too,
   so the clock never laps between two calls. */
static int16_t rl_add(int16_t v, uint64_t add, uint32_t full)
{
	return (int16_t)(v + (int64_t)add >= (int64_t)full ? (int64_t)full :
			 v + (int64_t)add);
}

static void rl_refill(struct rc_conn *c)
{
	const struct rc_server *s = c->w->srv;
	uint16_t now = (uint16_t)(c->w->now_ms >> RC_RL_TICK_SHIFT);
	uint64_t ms = (uint64_t)(uint16_t)(now - c->rl_last)
		      << RC_RL_TICK_SHIFT;

	if (!ms)
		return;		/* the same tick: nothing to add */
	c->rl_last = now;
	c->rl_msgs = rl_add(c->rl_msgs, ms * s->rl_msg_full / 1000,
			    s->rl_msg_full);
	c->rl_bytes = rl_add(c->rl_bytes, ms * RC_RL_FULL / 1000,
			     RC_RL_FULL);
}

/* Take one message of @len bytes from @c's buckets: false if one was
   empty already. A bucket may go into debt (down to a second's worth),
   so one message larger than a second's bytes still goes. */
static bool rate_ok(struct rc_conn *c, size_t len)
{
	const struct rc_server *s = c->w->srv;
	int32_t v;

	if (!s->rl_msg_cost && !s->rl_byte_rate)
		return true;
	rl_refill(c);
	if ((s->rl_msg_cost && c->rl_msgs <= 0) ||
	    (s->rl_byte_rate && c->rl_bytes <= 0))
		return false;
	if (s->rl_msg_cost) {
		v = c->rl_msgs - (int32_t)s->rl_msg_cost;
		c->rl_msgs = (int16_t)(v < -RC_RL_FULL ? -RC_RL_FULL : v);
	}
	if (s->rl_byte_rate) {
		/* Rounded down: a message costs at most a unit (byte_rate /
		   32767 bytes) less than its size, so the byte limit may be
		   passed by that much per message (at most 3% at the
		   default rates); the message bucket bounds the count. */
		uint64_t cost = (uint64_t)len * RC_RL_FULL / s->rl_byte_rate;

		v = cost >= 2 * RC_RL_FULL ? -RC_RL_FULL :
					     c->rl_bytes - (int32_t)cost;
		c->rl_bytes = (int16_t)(v < -RC_RL_FULL ? -RC_RL_FULL : v);
	}
	return true;
}

/* ---- permessage-deflate (deflate/) ---- */

struct rc_zconn *rc__conn_zc(const struct rc_conn *c)
{
	return c->w->zconns ? c->w->zconns[rc__conn_slot(c)] : NULL;
}

void rc__ws_z_free(struct rc_conn *c)
{
	struct rc_zconn **zc;

	if (!c->w->zconns)
		return;
	zc = &c->w->zconns[rc__conn_slot(c)];
	rc__zc_free(*zc);
	*zc = NULL;
}

bool rc__ws_negotiate(struct rc_conn *c, const struct rc_http_request *req)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	struct rc_worker *w = c->w;
	struct rc_pmd_policy pol = {
		.window_bits = cfg->deflate_window_bits > 0 ?
				       (uint8_t)cfg->deflate_window_bits : 0,
	};
	struct rc_pmd_params p;
	size_t n;

	/* A keep-alive connection's earlier upgrade may have been refused
	   after it negotiated: start over. */
	w->up_ext = 0;
	c->flags &= ~(RC_CF_Z | RC_CF_ZBITS_MASK);
	rc__ws_z_free(c);
	if (cfg->deflate_window_bits == RC_DEFLATE_OFF ||
	    rc_pmd_negotiate(req, &pol, &p) <= 0 || !p.on)
		return true;
	n = rc_pmd_answer(&p, w->up_hdrs, RC_UP_HEADERS_MAX);
	if (!n)
		return true;
	/* Dedicated mode: windows of its own, unless the client asked for
	   none either way (then it is served as in shared mode). */
	if (pol.window_bits && !(p.server_no_context && p.client_no_context)) {
		struct rc_zconn *zc = rc__zc_new(p.server_bits, p.client_bits,
						 !p.server_no_context,
						 !p.client_no_context);

		if (!zc)
			return false;
		rc__ws_z_free(c);
		w->zconns[rc__conn_slot(c)] = zc;
	}
	c->flags |= RC_CF_Z | (uint32_t)(15 - p.server_bits)
				      << RC_CF_ZBITS_SHIFT;
	w->up_len = w->up_ext = (uint16_t)n;
	return true;
}

int rc__ws_send_data(struct rc_conn *c, const void *data, size_t len,
		     unsigned op, bool plain)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	const uint8_t *z = NULL;
	struct rc_zconn *zc;
	struct rc_zctx *zx;
	size_t zl = 0;

	if (!(c->flags & RC_CF_Z))
		return rc__out_frame(c, op, data, len);
	zc = rc__conn_zc(c);
	/* With a window of its own every message may go compressed (the
	   window holds it once compressed, so it must); without, one longer
	   than a window the client made smaller than libdeflate's 32 KiB
	   goes plain. */
	if (!plain && len >= cfg->deflate_min_size &&
	    (zc || rc__conn_zfits(c, len))) {
		zx = rc__z_thread(cfg->deflate_level);
		if (!zx)
			return -ENOMEM;
		zl = zc ? rc__zc_deflate(zc, zx, cfg->deflate_level, data,
					 len, &z) :
			  rc__z_deflate(zx, data, len, &z);
		if (!zl && zc)
			return -ENOMEM;
	}
	if (!zl) {
		rc__conn_stat(c, RC_STAT_DEFLATE_SKIPPED, 1);
		return rc__out_frame(c, op, data, len);
	}
	rc__conn_stat(c, RC_STAT_DEFLATE_IN, (int64_t)len);
	rc__conn_stat(c, RC_STAT_DEFLATE_OUT, (int64_t)zl);
	return rc__out_frame(c, op | RC_FRAME_RSV1, z, zl);
}

static void deliver(struct rc_conn *c, const uint8_t *data, size_t len,
		    uint8_t op);

/* A compressed message, whole: inflate it (within max_message and the
   budget for partly received messages), check TEXT, deliver it. */
static void deliver_z(struct rc_conn *c, const uint8_t *in, size_t n,
		      uint8_t op)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	struct rc_zctx *z = rc__z_thread(cfg->deflate_level);
	struct rc_zconn *zc = rc__conn_zc(c);
	uint8_t *out = NULL;
	size_t olen = 0;
	int r = z ? 0 : -ENOMEM;

	if (z)
		r = zc ? rc__zc_inflate(zc, z, in, n, cfg->max_message,
					&c->w->srv->partial,
					cfg->max_partial_total, &out, &olen) :
			 rc__z_inflate(z, in, n, cfg->max_message,
				       &c->w->srv->partial,
				       cfg->max_partial_total, &out, &olen);
	if (r == -EILSEQ) {
		/* Not deflate data (RFC 7692 §6.2: fail the connection):
		   1007, invalid payload, counted apart from UTF-8. */
		rc__conn_stat(c, RC_STAT_INFLATE_ERRORS, 1);
		c->flags |= RC_CF_INPUT_BAD;
		rc__conn_drop_gather(c);
		c->close_code = RC_CLOSE_INVALID_DATA;
		if (!(c->flags & RC_CF_CLOSE_SENT))
			rc__ws_send_close(c, RC_CLOSE_INVALID_DATA,
					  "bad deflate data", 16);
		else
			rc__conn_close_after_flush(c);
	} else if (r == -EBUSY) {
		ws_refuse(c, RC_STAT_PARTIAL_REFUSED, RC_CLOSE_TRY_AGAIN,
			  "server busy", "partial messages");
	} else if (r) {
		rc__ws_fail(c, r);
	} else if (op == RC_OP_TEXT && !rc_utf8_valid(out, olen)) {
		rc__ws_fail(c, -EILSEQ);
	} else {
		rc__conn_stat(c, RC_STAT_INFLATE_IN, (int64_t)n);
		rc__conn_stat(c, RC_STAT_INFLATE_OUT, (int64_t)olen);
		deliver(c, out, olen, op);
	}
	if (z)
		rc__z_release(z);
}

static void deliver(struct rc_conn *c, const uint8_t *data, size_t len,
		    uint8_t op)
{
	const struct rc_handlers *h = rc__conn_handlers(c);
	struct rc_delivery *cur = &c->w->cur;

	if (!rate_ok(c, len)) {
		ws_refuse(c, RC_STAT_RATE_LIMITED, RC_CLOSE_POLICY,
			  "rate limit", "rate limit");
		return;
	}
	rc__conn_stat(c, RC_STAT_MSGS_IN, 1);
	rc__conn_stat(c, RC_STAT_BYTES_IN, (int64_t)len);
	if (!h->on_message)
		return;
	/* rc_send()/rc_publish() of exactly this message as TEXT skip
	   re-checking its UTF-8 when it came in as TEXT (the echo and chat
	   cases): rc__validated_text(). */
	cur->conn = c;
	cur->data = data;
	cur->len = len;
	cur->opcode = op;
	h->on_message(c, data, len, (enum rc_opcode)op);
	cur->conn = NULL;
	cur->data = NULL;
}

static void on_data(struct rc_conn *c, const struct rc_frame_event *ev)
{
	/* After our close frame, data is read only to find the peer's. */
	if (c->state != RC_CONN_WS) {
		if (ev->last && c->gather)
			rc__conn_drop_gather(c);
		return;
	}
	if (ev->first && ev->last && !c->gather) {
		if (ev->compressed)
			deliver_z(c, ev->data, ev->len, ev->opcode);
		else
			deliver(c, ev->data, ev->len, ev->opcode);
		return;
	}
	/* A message spanning reads is held: its bytes count against the
	   server's budget for such messages (an atomic add per read of a
	   long message, none for a message that comes in one read). */
	if (rc__conn_cfg(c)->max_partial_total != RC_UNLIMITED_SIZE) {
		_Atomic size_t *partial = &c->w->srv->partial;

		if (atomic_fetch_add(partial, ev->len) + ev->len >
		    rc__conn_cfg(c)->max_partial_total) {
			atomic_fetch_sub(partial, ev->len);
			ws_refuse(c, RC_STAT_PARTIAL_REFUSED,
				  RC_CLOSE_TRY_AGAIN, "server busy",
				  "partial messages");
			return;
		}
		if (rc__conn_gather(c, ev->data, ev->len,
				    rc__conn_cfg(c)->max_message)) {
			atomic_fetch_sub(partial, ev->len);
			rc__ws_fail(c, -ENOMEM);
			return;
		}
		c->flags |= RC_CF_PARTIAL;
	} else if (rc__conn_gather(c, ev->data, ev->len,
				   rc__conn_cfg(c)->max_message)) {
		rc__ws_fail(c, -ENOMEM);
		return;
	}
	if (!ev->last)
		return;
	if (ev->compressed)
		deliver_z(c, c->gather, c->glen, ev->opcode);
	else
		deliver(c, c->gather, c->glen, ev->opcode);
	rc__conn_drop_message(c);
}

static void peer_close(struct rc_conn *c, const uint8_t *p, size_t n)
{
	const uint8_t *reason;
	size_t rlen;
	uint16_t code;
	int r = rc_frame_close_parse(p, n, &code, &reason, &rlen);

	if (r < 0) {
		rc__ws_fail(c, r);
		return;
	}
	c->flags |= RC_CF_CLOSE_RCVD | RC_CF_INPUT_BAD;
	if (c->flags & RC_CF_CLOSE_SENT) {
		rc__conn_close_after_flush(c);
		return;
	}
	/* Echo the peer's code (RFC 6455 §5.5.1), or none if it sent none. */
	c->close_code = code;
	rc__ws_send_close(c, code, NULL, 0);
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
				rc__ws_fail(c, -ENOMEM);
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
			rc__ws_fail(c, -ENOMEM);
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

void rc__ws_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	size_t off = 0;

	while (off < n && !(c->flags & RC_CF_INPUT_BAD) &&
	       c->state != RC_CONN_DEAD) {
		struct rc_frame_event ev;
		long r = rc_frame_decode(&c->dec, buf + off, n - off, &ev);

		if (r < 0) {
			rc__ws_fail(c, r);
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

/*
 * WebSocket liveness, on a timer of idle_timeout / 2: a period with input
 * re-arms it; the first silent period sends a ping, and a second one closes
 * with 1001. So a silent peer is pinged after 1/2 to 1 idle_timeout and
 * closed after 1 to 3/2 (exactly 1/2 and 1 if silent since its upgrade).
 * Browsers and every RFC 6455 client answer pings by themselves, so a
 * client that only reads stays open by its pongs.
 */
void rc__ws_ping_timeout(struct rc_conn *c)
{
	if (c->state != RC_CONN_WS)
		return;
	rl_refill(c);
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
		rc__conn_stat(c, RC_STAT_PINGS_SENT, 1);
		c->flags |= RC_CF_PINGED;
		rc__timer_set(c, RC_TIMER_PING);
		return;
	}
	rc__conn_stat(c, RC_STAT_TIMEOUTS, 1);
	rc__ws_send_close(c, RC_CLOSE_GOING_AWAY, "idle timeout", 12);
}

/* ---- public API ---- */

int rc_send(struct rc_conn *c, const void *data, size_t len,
	    enum rc_opcode op)
{
	int ret;

	bool plain = op & RC_OP_NO_DEFLATE;

	if (!c || (!data && len))
		return -EINVAL;
	op &= ~RC_OP_NO_DEFLATE;
	switch (op) {
	case RC_OP_TEXT:
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
	if (len > rc__conn_cfg(c)->max_message)
		return -EMSGSIZE;
	/* Last, as it reads every byte: TEXT must be UTF-8, unless it is the
	   TEXT message being delivered, validated on its way in. */
	if (op == RC_OP_TEXT && !rc__validated_text(data, len) &&
	    !rc_utf8_valid(data, len))
		return -EINVAL;
	ret = op == RC_OP_TEXT || op == RC_OP_BINARY ?
		      rc__ws_send_data(c, data, len, op, plain) :
		      rc__out_frame(c, op, data, len);
	if (ret) {
		/* The message is lost: the peer must not go on as if it
		   had it. */
		rc__conn_oom(c);
		return ret;
	}
	if (op == RC_OP_TEXT || op == RC_OP_BINARY) {
		rc__conn_stat(c, RC_STAT_MSGS_OUT, 1);
		rc__conn_stat(c, RC_STAT_BYTES_OUT, (int64_t)len);
	}
	rc__conn_check_backpressure(c);
	return 0;
}

int rc_close(struct rc_conn *c, uint16_t code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;

	if (!c || !rc_close_code_valid(code) ||
	    rlen > RC_FRAME_CONTROL_MAX - 2 ||
	    !rc_utf8_valid((const uint8_t *)reason, rlen))
		return -EINVAL;
	if (c->state != RC_CONN_WS)
		return -EPIPE;
	rc__ws_send_close(c, code, reason, rlen);
	return 0;
}
