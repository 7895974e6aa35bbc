/* SPDX-License-Identifier: MIT */
/* conn_http.c -- a connection's HTTP part: request heads, answers, the upgrade. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/origin.h"
#include "proto/upgrade.h"
#include "runtime/alloc.h"
#include "runtime/conn.h"
#include "runtime/rt.h"
#include "runtime/server.h"
#include "runtime/stats.h"
#include "runtime/worker.h"
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
	REQ_LATER,		/* on_upgrade decides later: hold the rest */
};

/*
 * A deferred upgrade (RC_UPGRADE_LATER), in @c->ctrl while it waits (a
 * connection's control frame buffer, unused before its upgrade): what
 * the 101 needs, and the headers on_upgrade added.
 */
struct deferred {
	char accept[RC_ACCEPT_LEN];
	uint16_t hlen;
	char hdrs[];
};

static int respond_h(struct rc_conn *c, int status, const char *ctype,
		     const void *body, size_t body_len, int keep,
		     int head_only, const char *hdrs, size_t hlen)
{
	size_t cap = 512 + hlen + (ctype ? strlen(ctype) : 0) +
		     (head_only ? 0 : body_len);
	uint8_t *p = rc__out_reserve(c, cap);
	int n;

	if (!p)
		return -ENOMEM;
	n = rc_http_response_h((char *)p, cap, status, ctype, body, body_len,
			       keep, head_only, hlen ? hdrs : NULL);
	if (n < 0)
		return n;
	return rc__out_commit(c, (size_t)n);
}

static int respond(struct rc_conn *c, int status, const char *ctype,
		   const void *body, size_t body_len, int keep, int head_only)
{
	return respond_h(c, status, ctype, body, body_len, keep, head_only,
			 NULL, 0);
}

/* Answer @status with @hdrs (may be NULL) and close. */
static void http_fail_h(struct rc_conn *c, int status, const char *hdrs,
			size_t hlen)
{
	rc__conn_stat(c, RC_STAT_HTTP_ERRORS, 1);
	respond_h(c, status, NULL, rc_http_reason(status),
		  strlen(rc_http_reason(status)), 0, 0, hdrs, hlen);
	c->flags |= RC_CF_INPUT_BAD;
	rc__conn_drop_gather(c);
	rc__conn_close_after_flush(c);
}

static void http_fail(struct rc_conn *c, int status)
{
	http_fail_h(c, status, NULL, 0);
}

void rc__conn_refuse(struct rc_conn *c, int status, const char *what)
{
	rc__conn_stat(c, status == 429 ? RC_STAT_IP_REFUSED : RC_STAT_REFUSED,
		      1);
	rc__conn_refused(c, status, what);
	/* No handshake yet, so no way to say it over TLS: just end it. */
	if (c->tls) {
		rc__conn_kill(c, RC_CLOSE_ABNORMAL);
		return;
	}
	if (status == 429)
		respond_h(c, 429, NULL, "Too Many Requests", 17, 0, 0,
			  "Retry-After: 1\r\n", 16);
	else
		respond(c, status, NULL, rc_http_reason(status),
			strlen(rc_http_reason(status)), 0, 0);
	c->flags |= RC_CF_INPUT_BAD;
	rc__conn_close_after_flush(c);
}

/*
 * Through a trusted proxy, the client is named by X-Forwarded-For: the
 * per-address limits apply to it from this request on. False if it is
 * over them (answered 429).
 */
static bool forwarded_peer(struct rc_conn *c, const struct rc_http_request *req)
{
	struct rc_peers *t = &c->w->srv->peers;
	struct rc_addr a;
	uint32_t idx;
	enum rc_peer_verdict v;

	if (!rc__peer_forwarded(t, req, &a) ||
	    (c->peer && !memcmp(rc__peer_addr(t, c->peer)->b, a.b, 16)))
		return true;
	v = rc__peer_get(t, &a, c->w->now_ms, true, &idx);
	if (v != RC_PEER_OK) {
		rc__conn_stat(c, RC_STAT_IP_REFUSED, 1);
		/* Named by its forwarded address while refused. */
		if (v != RC_PEER_FULL &&
		    !rc__peer_get(t, &a, c->w->now_ms, false, &idx)) {
			rc__peer_put(t, c->peer);
			c->peer = idx;
			c->port = 0;
		}
		rc__conn_refused(c, v == RC_PEER_FULL ? 503 : 429,
				 rc__peer_verdict_what(v));
		http_fail_h(c, v == RC_PEER_FULL ? 503 : 429,
			    "Retry-After: 1\r\n", 16);
		return false;
	}
	rc__peer_put(t, c->peer);
	c->peer = idx;
	c->port = 0;
	return true;
}

/* RFC 6454 and RFC 6455 §10.2: a browser says which page opened the
   WebSocket; only the server's own origin and the configured ones may. */
static bool origin_ok(struct rc_conn *c, const struct rc_http_request *req)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	const struct rc_http_header *o, *host, *proto;
	const char *scheme = c->tls ? "https" : "http";

	bool listed = false;

	if (rc_http_count(req, "origin", &o) == 0)
		return true;		/* not a browser */
	/* rc_server_set_origins() may replace the list meanwhile. */
	pthread_rwlock_rdlock(&c->w->srv->origins_lock);
	for (size_t i = 0; i < cfg->nallow_origins && !listed; i++)
		listed = rc_origin_match(o->value, cfg->allow_origins[i]);
	pthread_rwlock_unlock(&c->w->srv->origins_lock);
	if (listed)
		return true;
	/* Behind a TLS-terminating proxy of ours, the page was https. */
	if ((c->flags & RC_CF_VIA_PROXY) &&
	    (proto = rc_http_find(req, "x-forwarded-proto")) != NULL)
		scheme = rc_http_slice_eq(proto->value, "https") ? "https" :
									    "http";
	host = rc_http_find(req, "host");
	return host && rc_origin_is_own(o->value, scheme, host->value);
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
	/* Draining: answer, then close, so the client goes elsewhere. */
	if (c->w->draining)
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

/* The upgrade is accepted: queue the 101 (with the headers on_upgrade
   added) and become a WebSocket. False if @c failed instead. */
static bool upgrade_accepted(struct rc_conn *c, const char *accept,
			     const char *hdrs, size_t hlen)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	const char *proto = NULL;
	size_t cap;
	uint8_t *p;
	int n;

	/* Accepted: from here on on_close will be called, whatever happens,
	   so the application can free what on_upgrade set up. */
	c->flags |= RC_CF_OPENED;
	rc__conn_stat(c, RC_STAT_WS_OPEN, 1);
	if (c->protocol >= 0)
		proto = cfg->subprotocols[c->protocol];
	cap = 256 + hlen + (proto ? strlen(proto) : 0);
	p = rc__out_reserve(c, cap);
	n = p ? rc_upgrade_response_h((char *)p, cap, accept, proto,
				      hlen ? hdrs : NULL) : -ENOMEM;
	if (n < 0 || rc__out_commit(c, (size_t)n)) {
		rc__conn_kill(c, RC_CLOSE_INTERNAL);
		return false;
	}
	rc__ws_start(c);
	/* Upgraded while draining: told to go elsewhere at once, as the
	   others were. */
	if (c->w->draining)
		rc__conn_drain(c);
	return c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING;
}

/* on_upgrade said "later": keep what the answer needs in @c->ctrl, and
   hold reading (the handshake timer runs on). */
static enum req_next upgrade_later(struct rc_conn *c, const char *accept)
{
	struct rc_worker *w = c->w;
	struct deferred *d = rc__malloc(sizeof(*d) + w->up_len + 1);

	if (!d) {
		rc__conn_kill(c, RC_CLOSE_INTERNAL);
		return REQ_CLOSE;
	}
	memcpy(d->accept, accept, RC_ACCEPT_LEN);
	d->hlen = w->up_len;
	memcpy(d->hdrs, w->up_hdrs, w->up_len);
	d->hdrs[w->up_len] = '\0';
	free(c->ctrl);
	c->ctrl = (uint8_t *)d;
	c->flags |= RC_CF_DEFERRED | RC_CF_HELD;
	rc__conn_cancel_recv(c);
	return REQ_LATER;
}

static enum req_next handle_request(struct rc_conn *c,
				    const struct rc_http_request *req)
{
	const struct rc_config *cfg = rc__conn_cfg(c);
	const struct rc_handlers *h = rc__conn_handlers(c);
	struct rc_worker *w = c->w;
	struct rc_request rr = { req };
	char accept[RC_ACCEPT_LEN];
	struct rc_upgrade u;
	int st;

	if ((c->flags & RC_CF_VIA_PROXY) && !forwarded_peer(c, req))
		return REQ_CLOSE;
	st = rc_upgrade_check(req, cfg->subprotocols, cfg->nsubprotocols, &u);
	if (st == 0)
		return plain_request(c, req);
	if (st != 101) {
		http_fail(c, st);
		return REQ_CLOSE;
	}
	if (!origin_ok(c, req)) {
		rc__conn_stat(c, RC_STAT_ORIGIN_REFUSED, 1);
		rc__conn_refused(c, 403, "origin");
		http_fail(c, 403);
		return REQ_CLOSE;
	}
	if (rc_upgrade_accept_key(u.key.p, u.key.n, accept)) {
		http_fail(c, 400);
		return REQ_CLOSE;
	}
	c->protocol = (int8_t)u.protocol;
	w->up_len = 0;
	if (!rc__ws_negotiate(c, req)) {
		http_fail(c, 500);
		return REQ_CLOSE;
	}
	if (h->on_upgrade) {
		w->up_conn = c;
		st = h->on_upgrade(c, &rr);
		w->up_conn = NULL;
		if (st == RC_UPGRADE_LATER && c->state == RC_CONN_HTTP)
			return upgrade_later(c, accept);
		if (st) {
			/* Not our extension answer: that was for a 101. */
			http_fail_h(c, st >= 400 && st <= 599 ? st : 500,
				    w->up_hdrs + w->up_ext,
				    (size_t)(w->up_len - w->up_ext));
			return REQ_CLOSE;
		}
	}
	return upgrade_accepted(c, accept, w->up_hdrs, w->up_len) ?
		       REQ_UPGRADED : REQ_CLOSE;
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
		if (next == REQ_LATER)
			break;		/* the rest waits for the decision */
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

	if (c->flags & RC_CF_DEFERRED) {
		/* Waiting for on_upgrade's decision: whatever came after
		   the head waits too, under the handshake timer. */
		if (!left) {
			free(c->gather);
			c->gather = NULL;
			c->glen = c->gcap = 0;
			return;
		}
	} else if (!left) {
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
	if (c->flags & RC_CF_DEFERRED)
		return;
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
	if (c->flags & RC_CF_DEFERRED)
		return;		/* held for on_upgrade's decision */
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

const char *rc_request_query(const struct rc_request *req, size_t *len)
{
	const struct rc_http_request *r = req->http;

	if (r->target.n <= r->path.n) {
		*len = 0;
		return NULL;
	}
	*len = r->target.n - r->path.n - 1;
	return r->target.p + r->path.n + 1;
}

int rc_query_param(const char *query, size_t qlen, const char *name,
		   char *out, size_t cap)
{
	if ((!query && qlen) || !name || (!out && cap))
		return -EINVAL;
	return rc_query_find(query, qlen, name, out, cap);
}

/* ---- public API: the answer to an upgrade ---- */

int rc_upgrade_header(struct rc_conn *c, const char *name, const char *value)
{
	struct rc_worker *w;
	size_t nl, vl;
	int n;

	if (!c || !name || !value)
		return -EINVAL;
	w = c->w;
	if (w->up_conn != c)
		return -EPIPE;
	if (!rc_http_is_token(name) ||
	    (*value && !rc_http_is_field_value(value)))
		return -EINVAL;
	nl = strlen(name);
	vl = strlen(value);
	if (nl + vl + 4 > (size_t)RC_UP_HEADERS_MAX - w->up_len)
		return -ENOSPC;
	n = snprintf(w->up_hdrs + w->up_len, sizeof(w->up_hdrs) - w->up_len,
		     "%s: %s\r\n", name, value);
	w->up_len = (uint16_t)(w->up_len + n);
	return 0;
}

/* A deferred upgrade's decision, on @c's worker (from the inbox): @status
   0 accepts with @data, else refuses with it and @hdrs. */
void rc__conn_upgrade_decided(struct rc_conn *c, int status, void *data,
			      const char *hdrs, size_t hlen)
{
	struct deferred *d = (struct deferred *)c->ctrl;
	uint8_t *g;
	uint32_t glen, gcap;

	if (c->state != RC_CONN_HTTP || !(c->flags & RC_CF_DEFERRED))
		return;		/* gone, or decided already */
	c->ctrl = NULL;
	c->flags &= ~(RC_CF_DEFERRED | RC_CF_HELD);
	if (status) {
		free(d);
		http_fail_h(c, status, hdrs, hlen);
		return;
	}
	c->data = data;
	/* Bytes that came after the head are the first frames. */
	g = c->gather;
	glen = c->glen;
	gcap = c->gcap;
	c->gather = NULL;
	c->glen = c->gcap = 0;
	if (!upgrade_accepted(c, d->accept, d->hdrs, d->hlen)) {
		free(d);
		free(g);
		return;
	}
	free(d);
	(void)gcap;
	if (glen)
		rc__ws_input(c, g, glen);
	free(g);
	if (c->state != RC_CONN_DEAD) {
		c->flags |= RC_CF_REARM;
		rc__dirty(c);
	}
}

/* A deferred upgrade's decision, as mailed to the connection's worker. */
struct decision {
	void *data;
	int32_t status;			/* 0: accept */
	char hdrs[];			/* refusal headers (to the end) */
};

void rc__conn_mail(struct rc_conn *c, const uint8_t *p, size_t len)
{
	struct decision d;

	if (len < sizeof(d))
		return;
	memcpy(&d, p, sizeof(d));
	rc__conn_upgrade_decided(c, d.status, d.data,
				 (const char *)p + sizeof(d),
				 len - sizeof(d));
}

/* "Name: value\r\n" lines: a token, a colon, a field value. */
static bool header_lines_ok(const char *h, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t eol = i, colon;
		char line[RC_UP_HEADERS_MAX + 1];

		while (eol + 1 < n && !(h[eol] == '\r' && h[eol + 1] == '\n'))
			eol++;
		if (eol + 1 >= n || eol == i)
			return false;
		for (colon = i; colon < eol && h[colon] != ':'; colon++)
			;
		if (colon == eol || colon == i)
			return false;
		memcpy(line, h + i, colon - i);
		line[colon - i] = '\0';
		if (!rc_http_is_token(line))
			return false;
		colon++;
		while (colon < eol && h[colon] == ' ')
			colon++;
		memcpy(line, h + colon, eol - colon);
		line[eol - colon] = '\0';
		if (eol > colon && !rc_http_is_field_value(line))
			return false;
		i = eol + 2;
	}
	return true;
}

static int decide(struct rc_server *s, uint64_t conn_id, int status,
		  void *data, const char *hdrs)
{
	size_t hlen = hdrs ? strlen(hdrs) : 0;
	union {
		struct decision d;
		char b[sizeof(struct decision) + RC_UP_HEADERS_MAX];
	} u;

	if (!s || hlen > RC_UP_HEADERS_MAX || !header_lines_ok(hdrs, hlen))
		return -EINVAL;
	u.d.data = data;
	u.d.status = status;
	if (hlen)
		memcpy(u.d.hdrs, hdrs, hlen);
	return rc__ps_mail(rc__server_ps(s), conn_id, u.b,
			   sizeof(u.d) + hlen);
}

int rc_upgrade_accept(struct rc_server *s, uint64_t conn_id, void *data)
{
	return decide(s, conn_id, 0, data, NULL);
}

int rc_upgrade_refuse(struct rc_server *s, uint64_t conn_id, int status,
		      const char *headers)
{
	if (status < 400 || status > 599)
		return -EINVAL;
	return decide(s, conn_id, status, NULL, headers);
}
