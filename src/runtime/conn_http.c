/* SPDX-License-Identifier: MIT */
/* conn_http.c -- a connection's HTTP part: request heads, answers, the upgrade. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/upgrade.h"
#include "runtime/conn.h"
#include "runtime/stats.h"
#include "runtime/worker.h"

/* Requests held while output drains (RC_CF_HELD) may be at most this much
   more than a head: a read's worth, or a few that were in flight when
   reading paused. A peer that keeps sending past it is cut off. */
#define HELD_MAX (256 * 1024)

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

static int respond(struct rc_conn *c, int status, const char *ctype,
		   const void *body, size_t body_len, int keep, int head_only)
{
	size_t cap = 512 + (ctype ? strlen(ctype) : 0) +
		     (head_only ? 0 : body_len);
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
	rc__conn_stat(c, RC_STAT_HTTP_ERRORS, 1);
	respond(c, status, NULL, rc_http_reason(status),
		strlen(rc_http_reason(status)), 0, 0);
	c->flags |= RC_CF_INPUT_BAD;
	rc__conn_drop_gather(c);
	rc__conn_close_after_flush(c);
}

void rc__conn_refuse(struct rc_conn *c)
{
	rc__conn_stat(c, RC_STAT_REFUSED, 1);
	/* No handshake yet, so no way to say 503 over TLS: just end it. */
	if (c->tls) {
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return;
	}
	respond(c, 503, NULL, "Service Unavailable", 19, 0, 0);
	c->flags |= RC_CF_INPUT_BAD;
	rc__conn_close_after_flush(c);
}

static bool has_body(const struct rc_http_request *req)
{
	const struct rc_http_header *cl = rc_http_find(req, "content-length");

	if (rc_http_find(req, "transfer-encoding"))
		return true;
	return cl && !(cl->value.n == 1 && cl->value.p[0] == '0');
}

/* What on_http filled in, checked: a status line needs three digits, and
   a content type that could end the header early (CR, LF) or carry any
   control character would let a handler's input split the response. */
static bool response_ok(const struct rc_response *res)
{
	return res->status >= 100 && res->status <= 599 &&
	       (!res->content_type ||
		rc_http_is_field_value(res->content_type)) &&
	       (res->body || !res->body_len);
}

static enum req_next plain_request(struct rc_conn *c,
				   const struct rc_http_request *req)
{
	const struct rc_handlers *h = rc__conn_handlers(c);
	struct rc_request rr = { req };
	struct rc_response res = { 0 };
	/* Method names are case-sensitive (RFC 9110 §9.1). */
	bool head_only = req->method.n == 4 && !memcmp(req->method.p, "HEAD", 4);
	bool keep;

	/* RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request
	   without a Host, or to any with more than one. */
	if (!rc_http_host_ok(req)) {
		http_fail(c, 400);
		return REQ_CLOSE;
	}
	if (req->minor_version >= 1)
		keep = !rc_http_list_has(req, "connection", "close");
	else
		keep = rc_http_list_has(req, "connection", "keep-alive");
	/* We serve no request bodies; rather than guess where the next
	   request starts, answer and close. */
	if (has_body(req))
		keep = false;

	if (!head_only && !(req->method.n == 3 && !memcmp(req->method.p,
							  "GET", 3)))
		res.status = 405;
	else if (h->on_http)
		h->on_http(c, &rr, &res);
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
	if (!response_ok(&res)) {
		res = (struct rc_response){ .status = 500,
					    .body = "Internal Server Error\n",
					    .body_len = 22 };
	}
	rc__conn_stat(c, res.status >= 400 ? RC_STAT_HTTP_ERRORS :
		      RC_STAT_HTTP_REQUESTS, 1);
	if (respond(c, res.status, res.content_type, res.body, res.body_len,
		    keep, head_only)) {
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return REQ_CLOSE;
	}
	if (!keep) {
		c->flags |= RC_CF_INPUT_BAD;
		rc__conn_close_after_flush(c);
		return REQ_CLOSE;
	}
	return REQ_KEEP;
}

static enum req_next handle_request(struct rc_conn *c,
				    const struct rc_http_request *req)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	const struct rc_handlers *h = rc__conn_handlers(c);
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
	if (h->on_upgrade) {
		st = h->on_upgrade(c, &rr);
		if (st) {
			http_fail(c, st >= 400 && st <= 599 ? st : 500);
			return REQ_CLOSE;
		}
	}
	/* Accepted: from here on on_close will be called, whatever happens,
	   so the application can free what on_upgrade set up. */
	c->flags |= RC_CF_OPENED;
	rc__conn_stat(c, RC_STAT_WS_OPEN, 1);
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
	rc__ws_start(c);
	return REQ_UPGRADED;
}

/* Parse and answer the requests in @p[0..len), of which the first @prev
   bytes were seen before without a complete head. Stops early when the
   output passes max_backpressure. Returns the bytes consumed, or -1 when
   the connection took another path (failed, closing, upgraded: @p may be
   gone). */
static long parse_requests(struct rc_conn *c, uint8_t *p, size_t len,
			   size_t prev)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	struct rc_http_request req;
	size_t done = 0;

	while (done < len) {
		enum req_next next;
		int r;

		req.headers = c->w->hdrs;
		req.max_headers = cfg->max_headers;
		r = rc_http_parse((const char *)p + done, len - done, prev,
				  &req);
		prev = 0;
		if (r == -EAGAIN) {
			if (len - done > cfg->max_head) {
				http_fail(c, 431);
				return -1;
			}
			break;
		}
		if (r < 0 || (size_t)r > cfg->max_head) {
			http_fail(c, r == -EPROTO ? 400 : 431);
			return -1;
		}
		next = handle_request(c, &req);
		done += (size_t)r;
		if (next == REQ_CLOSE)
			return -1;
		if (next == REQ_UPGRADED) {
			/* Bytes after the head are the first frames. */
			if (done < len)
				rc__ws_input(c, p + done, len - done);
			return -1;
		}
		/* Pipelined requests whose answers the peer does not read:
		   stop here, keep the rest, and stop reading, until half the
		   output has drained (rc__conn_sent). */
		if (rc__out_bytes(c) > cfg->max_backpressure) {
			c->flags |= RC_CF_HELD;
			rc__conn_check_backpressure(c);
			break;
		}
	}
	return (long)done;
}

/* What is left of the input (@left bytes at @p, not in @c->gather) is
   kept for later: the start of a head, or requests held back. */
static void keep_rest(struct rc_conn *c, const uint8_t *p, size_t left)
{
	const struct rc_config *cfg = rc__conn_cfg(c);

	if (!left) {
		rc__conn_drop_gather(c);
		rc__timer_set(c, RC_TIMER_IDLE);
		return;
	}
	if (left > cfg->max_head + HELD_MAX) {
		/* A peer pipelining on regardless: it reads nothing. */
		rc__conn_stat(c, RC_STAT_HTTP_ERRORS, 1);
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return;
	}
	if (c->gather) {
		memmove(c->gather, p, left);
		c->glen = (uint32_t)left;
	} else if (rc__conn_gather(c, p, left, left)) {
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return;
	}
	/* Held requests wait for the peer to read: as between requests,
	   it has the keep-alive idle limit to do so. */
	if (c->flags & RC_CF_HELD)
		rc__timer_set(c, RC_TIMER_IDLE);
	else if (rc__timer_kind(c) != RC_TIMER_HEAD)
		rc__timer_set(c, RC_TIMER_HEAD);
}

/* Run the parser over @c->gather (which is ours while it runs). */
static void parse_gathered(struct rc_conn *c, size_t prev)
{
	uint8_t *g = c->gather;
	size_t len = c->glen;
	uint32_t cap = c->gcap;
	long done;

	c->gather = NULL;
	c->glen = c->gcap = 0;
	done = parse_requests(c, g, len, prev);
	if (done < 0 || c->state == RC_CONN_DEAD) {
		free(g);
		return;
	}
	/* Put the buffer back and keep its unparsed end. */
	c->gather = g;
	c->glen = (uint32_t)len;
	c->gcap = cap;
	keep_rest(c, g + done, len - (size_t)done);
}

void rc__http_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	size_t prev;
	long done;

	if (rc__timer_kind(c) == RC_TIMER_IDLE)
		rc__timer_set(c, RC_TIMER_HEAD);
	/* Zero copy when the head arrives in one read (the usual case);
	   gather only a head that spans reads, or input held back. */
	if (!c->gather) {
		done = parse_requests(c, buf, n, 0);
		if (done >= 0 && c->state != RC_CONN_DEAD)
			keep_rest(c, buf + done, n - (size_t)done);
		return;
	}
	prev = c->glen;
	if (rc__conn_gather(c, buf, n, cfg->max_head + n)) {
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return;
	}
	/* Held requests wait for the output to drain; bytes that were on
	   their way when reading paused join them. */
	if (c->flags & RC_CF_HELD) {
		keep_rest(c, c->gather, c->glen);
		return;
	}
	parse_gathered(c, prev);
}

void rc__http_resume(struct rc_conn *c)
{
	c->flags &= ~RC_CF_HELD;
	if (c->state == RC_CONN_HTTP && c->gather)
		parse_gathered(c, 0);
}

/* ---- public API: the request ---- */

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
