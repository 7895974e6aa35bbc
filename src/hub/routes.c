/* SPDX-License-Identifier: MIT */
/* routes.c -- the hub's handlers: rooms, echo, tokens, /health, the page. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "hub.h"
#include "log.h"

/* What an upgraded connection does; kept in rc_conn_set_data(). */
enum route {
	ROUTE_ECHO,		/* /echo: send each message back */
	ROUTE_TOPIC,		/* /ws/<room>: a chat room */
	ROUTE_GONE,		/* its room refused it (closing): nothing to
				   do, no leave to tell */
};

/*
 * Per-connection hub state: the route and, for a room, its topic (the
 * decoded room name). A connection that needs nothing of its own (echo, a
 * --ws-route entry) points at a shared one; a /ws/ room, or any member
 * whose token has a sub, gets its own, allocated in on_upgrade and freed
 * in on_close. Eight bytes before the names, as before tokens: a member
 * without a sub pays nothing more.
 */
struct hub_conn {
	uint8_t route;		/* enum route */
	bool shared;		/* static or a --ws-route entry: never freed */
	bool readonly;		/* may listen, not post (a token's listen, or
				   anonymous with --auth optional) */
	uint16_t topic_len;
	uint16_t stamp_len;	/* bytes of the stamp after the topic, 0 if
				   the member's token has no sub */
	char topic[];		/* topic_len bytes, then the stamp:
				   {"from":"<sub, JSON-escaped>","data":" */
};

/* --ws-route PATH=echo|room:NAME: upgrades on PATH (exact match) go to echo
   or to room NAME; checked before /echo and /ws/<room>. Each has a
   read-only twin for anonymous members (--auth optional). */
#define MAX_ROUTES 16
static struct {
	const char *path;
	struct hub_conn *to, *to_ro;
} routes[MAX_ROUTES];
static unsigned nroutes;

static struct hub_conn echo_route = { .route = ROUTE_ECHO, .shared = true };
static struct hub_conn gone_route = { .route = ROUTE_GONE, .shared = true };

struct rc_server *hub_server;
bool hub_echo_self = true;
size_t hub_max_message = 16u << 20;
struct hub_auth *hub_auth;
bool hub_auth_optional;
pthread_rwlock_t hub_auth_lock = PTHREAD_RWLOCK_INITIALIZER;
struct hub_counts hub_counts[HUB_MAX_WORKERS];

/* src/hub/chat.html, embedded by cmake/embed.cmake. */
extern const unsigned char rc_hub_chat_html[];
extern const size_t rc_hub_chat_html_len;

/* What a hub-stamped room message starts with; nobody else may send it. */
static const char stamp_head[] = "{\"from\":\"";
static const char stamp_mid[] = "\",\"data\":\"";
static const char stamp_tail[] = "\"}";
#define STAMP_HEAD_LEN (sizeof(stamp_head) - 1)

static bool path_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(p, lit, n);
}

static unsigned worker_of(const struct rc_conn *c)
{
	/* The top 6 bits of a connection id are its worker (ringcast.h). */
	return (unsigned)(rc_conn_id(c) >> 58) % HUB_MAX_WORKERS;
}

static void count(const struct rc_conn *c, enum hub_counter i)
{
	atomic_fetch_add_explicit(&hub_counts[worker_of(c)].v[i], 1,
				  memory_order_relaxed);
}

/* ---- a growing buffer per worker thread, freed when the thread ends ---- */

struct tbuf {
	char *p;
	size_t cap;
};

static pthread_key_t tbuf_key;
static pthread_once_t tbuf_once = PTHREAD_ONCE_INIT;

static void tbuf_free(void *arg)
{
	struct tbuf *b = arg;

	free(b->p);
	free(b);
}

static void tbuf_key_init(void)
{
	pthread_key_create(&tbuf_key, tbuf_free);
}

/* This thread's buffer, at least @need bytes (allocates only when it
   must grow); NULL if out of memory. Valid until the next call on this
   thread or tbuf_trim(). */
static char *tbuf_get(size_t need)
{
	struct tbuf *b;

	pthread_once(&tbuf_once, tbuf_key_init);
	b = pthread_getspecific(tbuf_key);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || pthread_setspecific(tbuf_key, b)) {
			free(b);
			return NULL;
		}
	}
	if (b->cap < need) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < need)
			cap *= 2;
		p = malloc(cap);
		if (!p)
			return NULL;
		free(b->p);
		b->p = p;
		b->cap = cap;
	}
	return b->p;
}

/* After an unusually large message: give the memory back rather than keep
   up to six times --max-message per worker for good. */
#define TBUF_KEEP (1u << 20)
static void tbuf_trim(void)
{
	struct tbuf *b = pthread_getspecific(tbuf_key);

	if (b && b->cap > TBUF_KEEP) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

/* Path bytes as printable ASCII (others '?'), at most 64 of them: the
   client chose them, and a log may be read on a terminal. */
static void printable(char *out, size_t cap, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 4 < cap; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
	if (i < n)
		out[i++] = '.', out[i++] = '.', out[i++] = '.';
	out[i] = '\0';
}

/* A refusal or a close for what a client did, at info, with its address
   (rate-limited by the log: a flood cannot flood it). @status: the HTTP
   status, or the close code. */
static void log_refusal(const struct rc_conn *c, int status,
			const char *reason, const char *path)
{
	char peer[64];
	const char *who;

	if (!hub_log_enabled(HUB_LOG_INFO))
		return;
	who = rc_conn_peer_str(c, peer, sizeof(peer));
	if (status >= 1000)
		hub_log(HUB_LOG_INFO, "closed", KV_S("peer", who),
			KV_I("code", status), KV_S("reason", reason));
	else if (path)
		hub_log(HUB_LOG_INFO, "refused", KV_S("peer", who),
			KV_I("status", status), KV_S("reason", reason),
			KV_S("path", path));
	else
		hub_log(HUB_LOG_INFO, "refused", KV_S("peer", who),
			KV_I("status", status), KV_S("reason", reason));
}

/* ---- room names ---- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/*
 * Is @s[0..@n) well-formed UTF-8 (RFC 3629: shortest forms, no surrogates,
 * at most U+10FFFF) free of control characters (C0, DEL, C1)?
 */
static bool room_chars_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		uint32_t cp;
		size_t k;

		if (b < 0x80) {
			if (b < 0x20 || b == 0x7f)
				return false;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			k = 1, cp = b & 0x1f;
		else if (b >= 0xe0 && b <= 0xef)
			k = 2, cp = b & 0x0f;
		else if (b >= 0xf0 && b <= 0xf4)
			k = 3, cp = b & 0x07;
		else
			return false;	/* continuation, overlong lead, > F4 */
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += k + 1;
	}
	return true;
}

/* Percent-decode the room name @p[0..@n) into @out (RC_TOPIC_MAX bytes)
   and check it. Returns its length, or -EINVAL: a bad escape, empty, too
   long, not UTF-8, or a control character. '+' stays itself (a path). */
static int room_decode(const char *p, size_t n, char *out)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (len == RC_TOPIC_MAX)
			return -EINVAL;
		if (p[i] != '%') {
			out[len++] = p[i];
			continue;
		}
		if (n - i < 3 || (hi = hexval(p[i + 1])) < 0 ||
		    (lo = hexval(p[i + 2])) < 0)
			return -EINVAL;
		out[len++] = (char)(hi << 4 | lo);
		i += 2;
	}
	if (!len || !room_chars_ok((const unsigned char *)out, len))
		return -EINVAL;
	return (int)len;
}

/* ---- JSON strings ---- */

/* Extra bytes a JSON string needs for byte @b: 1 for \" \\ \n ..., 5 for
   \u00XX, 0 otherwise (UTF-8 passes as is). */
static unsigned json_extra(unsigned char b)
{
	if (b == '"' || b == '\\')
		return 1;
	if (b >= 0x20)
		return 0;
	return b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f' ?
	       1 : 5;
}

size_t hub_json_len(const unsigned char *s, size_t n)
{
	size_t len = n;

	for (size_t i = 0; i < n; i++)
		len += json_extra(s[i]);
	return len;
}

/* Write @s[0..@n) JSON-escaped (without quotes) to @out, which holds
   hub_json_len(); returns the end. */
char *hub_json_put(char *out, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char b = s[i];

		if (!json_extra(b))
			continue;
		memcpy(out, s + run, i - run);
		out += i - run;
		run = i + 1;
		*out++ = '\\';
		switch (b) {
		case '"': case '\\': *out++ = (char)b; break;
		case '\n': *out++ = 'n'; break;
		case '\r': *out++ = 'r'; break;
		case '\t': *out++ = 't'; break;
		case '\b': *out++ = 'b'; break;
		case '\f': *out++ = 'f'; break;
		default:
			memcpy(out, "u00", 3);
			out[3] = hex[b >> 4];
			out[4] = hex[b & 15];
			out += 5;
		}
	}
	memcpy(out, s + run, n - run);
	return out + (n - run);
}

/* ---- ringcast.v1 (docs/PROTOCOL.md): envelopes, resuming ---- */

const char hub_v1_name[] = "ringcast.v1";

static bool is_v1(const struct rc_conn *c)
{
	const char *p = rc_conn_protocol(c);

	return p && !strcmp(p, hub_v1_name);
}

static size_t b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

static char *b64_put(char *out, const unsigned char *s, size_t n)
{
	static const char d[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				"qrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*out++ = d[s[i] >> 2];
		*out++ = d[(s[i] & 3) << 4 | s[i + 1] >> 4];
		*out++ = d[(s[i + 1] & 15) << 2 | s[i + 2] >> 6];
		*out++ = d[s[i + 2] & 63];
	}
	if (i < n) {
		*out++ = d[s[i] >> 2];
		if (i + 1 < n) {
			*out++ = d[(s[i] & 3) << 4 | s[i + 1] >> 4];
			*out++ = d[(s[i + 1] & 15) << 2];
		} else {
			*out++ = d[(s[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	return out;
}

/*
 * rc_config.stamp: a room message as a ringcast.v1 envelope,
 * {"type":"msg","room":R,"epoch":E,"offset":N,"from":S|null,"data":D}
 * (D a string; BINARY as base64 with "binary":true). A message its
 * sender's token named (meta: the length of the escaped sub) was
 * published wrapped, {"from":"SUB","data":"TEXT"}: both are taken from
 * it as they are, already escaped.
 */
size_t hub_stamp(void *user, const struct rc_stamp_in *in, char *out,
		 size_t cap)
{
	const unsigned char *d = in->data;
	const char *from = NULL, *data = NULL;
	size_t flen = 0, dlen = 0, need;
	char num[48], *p;
	int nn;

	(void)user;
	if (in->meta_len == 2 && in->op == RC_OP_TEXT) {
		size_t sub = (size_t)((const uint8_t *)in->meta)[0] |
			     (size_t)((const uint8_t *)in->meta)[1] << 8;
		size_t at = STAMP_HEAD_LEN + sub + sizeof(stamp_mid) - 2;

		if (in->len < at + 3)
			return 0;
		from = (const char *)d + STAMP_HEAD_LEN;
		flen = sub;
		data = (const char *)d + at;	/* its opening quote */
		dlen = in->len - at - 1;	/* to its closing one */
	}
	nn = snprintf(num, sizeof(num), "%llu,\"offset\":%llu",
		      (unsigned long long)in->pos.epoch,
		      (unsigned long long)in->pos.offset);
	need = sizeof("{\"type\":\"msg\",\"room\":\"\",\"epoch\":") - 1 +
	       hub_json_len(in->topic, in->topic_len) + (size_t)nn +
	       sizeof(",\"from\":") - 1 + (from ? flen + 2 : 4) +
	       sizeof(",\"data\":") - 1 +
	       (data ? dlen : in->op == RC_OP_TEXT ?
		hub_json_len(d, in->len) + 2 : b64_len(in->len) + 2) +
	       (in->op == RC_OP_BINARY ? sizeof(",\"binary\":true") - 1 : 0) +
	       1;
	if (need > cap)
		return need;
	p = out;
	p += sprintf(p, "{\"type\":\"msg\",\"room\":\"");
	p = hub_json_put(p, in->topic, in->topic_len);
	p += sprintf(p, "\",\"epoch\":%s,\"from\":", num);
	if (from) {
		*p++ = '"';
		memcpy(p, from, flen);
		p += flen;
		*p++ = '"';
	} else {
		memcpy(p, "null", 4);
		p += 4;
	}
	memcpy(p, ",\"data\":", 8);
	p += 8;
	if (data) {
		memcpy(p, data, dlen);
		p += dlen;
	} else if (in->op == RC_OP_TEXT) {
		*p++ = '"';
		p = hub_json_put(p, d, in->len);
		*p++ = '"';
	} else {
		*p++ = '"';
		p = b64_put(p, d, in->len);
		*p++ = '"';
		memcpy(p, ",\"binary\":true", 14);
		p += 14;
	}
	*p++ = '}';
	return (size_t)(p - out);
}

/* A v1 member's resume point, from its upgrade's query to its on_open on
   the same worker (right after): ?epoch=E&offset=N, and ?last=K. */
static __thread struct {
	uint64_t id;
	struct rc_stream_pos since;
	bool has_since;
	unsigned last;
} resume;

static uint64_t query_num(const char *q, size_t qlen, const char *name,
			  bool *found)
{
	char v[24], *end;
	unsigned long long n;

	*found = false;
	if (!q || rc_query_param(q, qlen, name, v, sizeof(v)) <= 0)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	*found = !*end && !errno && v[0] >= '0' && v[0] <= '9';
	/* Digits past UINT64_MAX: not found, but as large as there is (for
	   ?last, capped below). */
	if (!*end && errno == ERANGE && v[0] >= '0' && v[0] <= '9')
		return UINT64_MAX;
	return *found ? n : 0;
}

static void resume_read(struct rc_conn *c, const struct rc_request *req)
{
	size_t qlen = 0;
	const char *q = rc_request_query(req, &qlen);
	uint64_t last;
	bool e, o, l;

	resume.id = rc_conn_id(c);
	resume.since.epoch = query_num(q, qlen, "epoch", &e);
	resume.since.offset = query_num(q, qlen, "offset", &o);
	resume.has_since = e && o && resume.since.epoch;
	last = query_num(q, qlen, "last", &l);
	/* Capped before it is narrowed: 2^32 is not 0. */
	resume.last = last > RC_HISTORY_MAX ? RC_HISTORY_MAX : (unsigned)last;
}

/* ---- upgrades ---- */


/* Refuse @c's upgrade for a token reason: count, log, and the status with
   its WWW-Authenticate (RFC 6750 §3). */
static int refuse(struct rc_conn *c, enum hub_counter why, const char *detail,
		  const char *path, size_t plen)
{
	static const struct {
		int status;
		const char *auth;
	} how[] = {
		[HUB_C_REFUSED_MISSING] = { 401, "Bearer realm=\"ringcast\"" },
		[HUB_C_REFUSED_INVALID] = { 401, "Bearer error=\"invalid_token\"" },
		[HUB_C_REFUSED_EXPIRED] = { 401, "Bearer error=\"invalid_token\"" },
		[HUB_C_REFUSED_ROOM] = { 403, "Bearer error=\"insufficient_scope\"" },
	};
	char shown[80];

	count(c, why);
	rc_upgrade_header(c, "WWW-Authenticate", how[why].auth);
	printable(shown, sizeof(shown), path, plen);
	log_refusal(c, how[why].status, detail, shown);
	return how[why].status;
}

/* The token of the upgrade: ?token= or Authorization: Bearer. Returns its
   length with *@tok set (in this thread's buffer, or the request), 0 if
   there is none, -EINVAL if the query's is unreadable (too long, a bad
   escape): a token that cannot pass. */
static int find_token(const struct rc_request *req, const char **tok)
{
	size_t qlen, hlen;
	const char *q = rc_request_query(req, &qlen);
	const char *h;
	char *buf;
	int ret;

	if (q) {
		buf = tbuf_get(HUB_AUTH_MAX_TOKEN + 1);
		if (!buf)
			return -ENOMEM;
		ret = rc_query_param(q, qlen, "token", buf,
				     HUB_AUTH_MAX_TOKEN + 1);
		if (ret != -ENOENT) {
			*tok = buf;
			return ret < 0 ? -EINVAL : ret;
		}
	}
	h = rc_request_header(req, "Authorization", &hlen);
	if (!h || hlen < 7 || strncasecmp(h, "Bearer ", 7))
		return 0;
	h += 7;
	hlen -= 7;
	while (hlen && *h == ' ')
		h++, hlen--;
	while (hlen && h[hlen - 1] == ' ')
		hlen--;
	*tok = h;
	return hlen > HUB_AUTH_MAX_TOKEN ? -EINVAL : (int)hlen;
}

/* A connection's own state, for a room (@topic) or echo (@tlen 0), with
   @sub's stamp if any. Allocates. NULL if out of memory. */
static struct hub_conn *conn_new(enum route route, const char *topic,
				 size_t tlen, bool readonly, const char *sub)
{
	size_t slen = sub ? STAMP_HEAD_LEN + hub_json_len((const void *)sub,
			    strlen(sub)) + sizeof(stamp_mid) - 1 : 0;
	struct hub_conn *hc;
	char *p;

	if (slen > UINT16_MAX)
		return NULL;	/* a sub is at most HUB_AUTH_MAX_SUB bytes */
	hc = malloc(sizeof(*hc) + tlen + slen);
	if (!hc)
		return NULL;
	hc->route = (uint8_t)route;
	hc->shared = false;
	hc->readonly = readonly;
	hc->topic_len = (uint16_t)tlen;
	hc->stamp_len = (uint16_t)slen;
	memcpy(hc->topic, topic, tlen);
	if (sub) {
		p = hc->topic + tlen;
		memcpy(p, stamp_head, STAMP_HEAD_LEN);
		p = hub_json_put(p + STAMP_HEAD_LEN, (const void *)sub,
			     strlen(sub));
		memcpy(p, stamp_mid, sizeof(stamp_mid) - 1);
	}
	return hc;
}

/*
 * With tokens configured: who is asking, and may they come in here?
 * @room (@rlen bytes) is the decoded room, NULL for echo; @shared the
 * route's shared state (NULL for /ws/), @shared_ro its read-only twin.
 * Sets @c's data and its close at the token's exp; returns 0 or a status.
 */
static int upgrade_auth(struct rc_conn *c, const struct rc_request *req,
			const char *room, size_t rlen,
			struct hub_conn *shared, struct hub_conn *shared_ro)
{
	struct hub_token t = { 0 };
	enum hub_auth_err err;
	enum hub_perm perm;
	struct hub_conn *hc;
	const char *tok = NULL, *path;
	size_t plen;
	int len, status = 0;

	path = rc_request_path(req, &plen);
	len = find_token(req, &tok);
	if (len == -ENOMEM)
		return 503;
	if (!len) {
		if (!hub_auth_optional || !room)
			return refuse(c, HUB_C_REFUSED_MISSING, "no token", path, plen);
		/* anonymous: read-only, in any room */
		hc = shared_ro ? shared_ro :
		     conn_new(ROUTE_TOPIC, room, rlen, true, NULL);
		if (!hc)
			return 503;
		rc_conn_set_data(c, hc);
		return 0;
	}
	err = len < 0 ? HUB_AUTH_MALFORMED :
	      hub_auth_verify(hub_auth, tok, (size_t)len, (int64_t)time(NULL),
			      &t);
	if (err == HUB_AUTH_INTERNAL)
		return 503;
	if (err)
		return refuse(c, err == HUB_AUTH_EXPIRED ? HUB_C_REFUSED_EXPIRED :
			      HUB_C_REFUSED_INVALID, hub_auth_err_str(err), path, plen);
	perm = room ? hub_token_perm(&t, room, rlen) : HUB_PERM_POST;
	if (perm == HUB_PERM_NONE) {
		status = refuse(c, HUB_C_REFUSED_ROOM, "room not in token", path, plen);
		goto out_clear;
	}
	if (rc_conn_close_at(c, t.exp * 1000, 4001, "token expired")) {
		status = 503;
		goto out_clear;
	}
	if (!room)
		hc = shared ? shared : &echo_route;	/* echo stamps nothing */
	else if (shared && !t.sub)
		hc = perm == HUB_PERM_POST ? shared : shared_ro;
	else
		hc = conn_new(ROUTE_TOPIC, room, rlen, perm != HUB_PERM_POST,
			      t.sub);
	if (!hc)
		status = 503;
	else
		rc_conn_set_data(c, hc);
out_clear:
	hub_token_clear(&t);
	return status;
}

static int upgrade_locked(struct rc_conn *c, const struct rc_request *req)
{
	size_t n;
	const char *p = rc_request_path(req, &n);
	char room[RC_TOPIC_MAX];
	struct hub_conn *hc;
	int len;

	for (unsigned i = 0; i < nroutes; i++) {
		if (!path_is(p, n, routes[i].path))
			continue;
		hc = routes[i].to;
		if (hub_auth)
			return upgrade_auth(c, req, hc->route == ROUTE_TOPIC ?
					    hc->topic : NULL, hc->topic_len,
					    hc, routes[i].to_ro);
		rc_conn_set_data(c, hc);
		return 0;
	}
	if (path_is(p, n, "/echo")) {
		if (hub_auth)
			return upgrade_auth(c, req, NULL, 0, &echo_route, NULL);
		rc_conn_set_data(c, &echo_route);
		return 0;
	}
	if (n < 4 || memcmp(p, "/ws/", 4))
		return 404;
	len = room_decode(p + 4, n - 4, room);
	if (len < 0) {
		char shown[80];

		printable(shown, sizeof(shown), p, n);
		log_refusal(c, 400, "bad room name", shown);
		return 400;
	}
	if (hub_auth)
		return upgrade_auth(c, req, room, (size_t)len, NULL, NULL);
	hc = conn_new(ROUTE_TOPIC, room, (size_t)len, false, NULL);
	if (!hc)
		return 503;
	rc_conn_set_data(c, hc);
	return 0;
}

/* The token verifier may be replaced by a reload meanwhile. */
static int hub_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	int ret;

	pthread_rwlock_rdlock(&hub_auth_lock);
	ret = upgrade_locked(c, req);
	pthread_rwlock_unlock(&hub_auth_lock);
	if (!ret && is_v1(c))
		resume_read(c, req);
	return ret;
}

/* @hc's token sub, JSON-escaped (as its stamp holds it), or NULL. */
static const char *hc_sub(const struct hub_conn *hc, size_t *len)
{
	if (!hc || !hc->stamp_len)
		return NULL;
	*len = hc->stamp_len - STAMP_HEAD_LEN - (sizeof(stamp_mid) - 1);
	return hc->topic + hc->topic_len + STAMP_HEAD_LEN;
}

int hub_presence_label(void *user, struct rc_conn *c, char *out, size_t cap)
{
	size_t len = 0;
	const char *sub = hc_sub(rc_conn_data(c), &len);

	(void)user;
	/* A sub longer escaped than a label holds is listed without it
	   rather than cut inside an escape. */
	if (!sub || len > cap)
		return 0;
	memcpy(out, sub, len);
	return (int)len;
}

/* @c (of room @hc) joined or left: the room's v1 members are told. */
static void presence_changed(struct rc_conn *c, const struct hub_conn *hc,
			     bool joined)
{
	size_t len = 0;
	const char *sub = hc_sub(hc, &len);

	hub_presence_changed(hc->topic, hc->topic_len, rc_conn_id(c), sub, len,
			     joined);
}

/* @c's room would not take it: close it, and never tell the room it
   left (it never joined). */
static void refused_room(struct rc_conn *c, struct hub_conn *hc)
{
	if (!hc->shared)
		free(hc);
	rc_conn_set_data(c, &gone_route);
	rc_close(c, RC_CLOSE_INTERNAL, "cannot subscribe");
}

/* A v1 member joins: what it missed (or the last K), then a "joined"
   line saying where the stream is and whether it recovered, then who is
   in the room, then live. */
static void open_v1(struct rc_conn *c, struct hub_conn *hc)
{
	bool mine = resume.id == rc_conn_id(c);
	struct rc_stream_pos now;
	char line[256 + RC_TOPIC_MAX * 6], *p;
	size_t len;
	int r;

	rc_conn_stamped(c);
	r = rc_subscribe_from(c, hc->topic, hc->topic_len,
			      mine && resume.has_since ? &resume.since : NULL,
			      mine ? resume.last : 0, &now);
	if (r < 0) {
		refused_room(c, hc);
		return;
	}
	p = line + sprintf(line, "{\"type\":\"joined\",\"room\":\"");
	p = hub_json_put(p, (const void *)hc->topic, hc->topic_len);
	p += sprintf(p, "\",\"epoch\":%llu,\"offset\":%llu",
		     (unsigned long long)now.epoch,
		     (unsigned long long)now.offset);
	if (mine && resume.has_since)
		p += sprintf(p, ",\"recovered\":%s", r ? "true" : "false");
	*p++ = '}';
	resume.id = 0;
	rc_send(c, line, (size_t)(p - line), RC_OP_TEXT);
	len = hub_presence_line(hc->topic, hc->topic_len, &p, tbuf_get);
	if (len)
		rc_send(c, p, len, RC_OP_TEXT);
	presence_changed(c, hc, true);
}

static void hub_open(struct rc_conn *c)
{
	struct hub_conn *hc = rc_conn_data(c);

	if (hc->route == ROUTE_TOPIC && is_v1(c))
		open_v1(c, hc);
	else if (hc->route == ROUTE_TOPIC &&
		 rc_subscribe(c, hc->topic, hc->topic_len))
		refused_room(c, hc);
	else if (hc->route == ROUTE_TOPIC)
		presence_changed(c, hc, true);
}

/* Close @c for what it sent: count, log, 1008. */
static void refuse_message(struct rc_conn *c, enum hub_counter why,
			   const char *reason)
{
	count(c, why);
	log_refusal(c, RC_CLOSE_POLICY, reason, NULL);
	rc_close(c, RC_CLOSE_POLICY, reason);
}

/*
 * The member's TEXT message wrapped in its stamp, {"from":..,"data":..},
 * in this thread's buffer; its length in *@out_len. NULL: out of memory
 * (-ENOMEM in *@out_len) or over --max-message (-EMSGSIZE).
 */
static const char *stamp(const struct hub_conn *hc, const void *data,
			 size_t len, long *out_len)
{
	size_t need = hc->stamp_len + hub_json_len(data, len) +
		      sizeof(stamp_tail) - 1;
	char *buf, *p;

	if (need > hub_max_message) {
		*out_len = -EMSGSIZE;
		return NULL;
	}
	buf = tbuf_get(need);
	if (!buf) {
		*out_len = -ENOMEM;
		return NULL;
	}
	memcpy(buf, hc->topic + hc->topic_len, hc->stamp_len);
	p = hub_json_put(buf + hc->stamp_len, data, len);
	memcpy(p, stamp_tail, sizeof(stamp_tail) - 1);
	*out_len = (long)need;
	return buf;
}

static void hub_message(struct rc_conn *c, const void *data, size_t len,
			enum rc_opcode op)
{
	struct hub_conn *hc = rc_conn_data(c);
	long slen = 0;
	int ret;

	if (hc->route == ROUTE_ECHO) {
		rc_send(c, data, len, op);	/* fails c itself */
		return;
	}
	if (hc->route == ROUTE_GONE)
		return;
	if (hc->readonly) {
		refuse_message(c, HUB_C_READONLY_CLOSES,
			       "read-only");
		return;
	}
	if (op == RC_OP_TEXT && hc->stamp_len) {
		data = stamp(hc, data, len, &slen);
		if (!data) {
			rc_close(c, slen == -EMSGSIZE ? RC_CLOSE_TOO_BIG :
				 RC_CLOSE_INTERNAL, slen == -EMSGSIZE ?
				 "too big with its sender" : "out of memory");
			return;
		}
		len = (size_t)slen;
	} else if (op == RC_OP_TEXT && len >= STAMP_HEAD_LEN &&
		   !memcmp(data, stamp_head, STAMP_HEAD_LEN)) {
		/* Only the hub says who sent a message: the chat page shows
		   a message starting so as from a verified sender. */
		refuse_message(c, HUB_C_FORGED_CLOSES,
			       "from is the hub's to say");
		return;
	}
	{
		/* The sub's escaped length, for v1 envelopes (hub_stamp). */
		uint16_t sub = hc->stamp_len ? (uint16_t)(hc->stamp_len -
				STAMP_HEAD_LEN - (sizeof(stamp_mid) - 1)) : 0;
		uint8_t meta[2] = { (uint8_t)sub, (uint8_t)(sub >> 8) };
		struct rc_publish pub = {
			.topic = hc->topic, .topic_len = hc->topic_len,
			.data = data, .len = len, .op = op,
			.meta = meta, .meta_len = slen ? 2 : 0,
			.skip = hub_echo_self ? 0 : rc_conn_id(c),
		};

		ret = rc_publish_ex(rc_conn_server(c), &pub, NULL);
	}
	if (slen > (long)TBUF_KEEP)
		tbuf_trim();
	/* A room message that could not be published: its sender must not
	   think it was. */
	if (ret == -ENOMEM)
		rc_close(c, RC_CLOSE_INTERNAL, "out of memory");
	else if (ret == -EMSGSIZE)
		rc_close(c, RC_CLOSE_TOO_BIG, "too big with its sender");
}

static void hub_close(struct rc_conn *c, uint16_t code)
{
	struct hub_conn *hc = rc_conn_data(c);
	/* Normal ends at debug; the others say something went wrong. */
	enum hub_log_level lv = code == RC_CLOSE_NORMAL ||
				code == RC_CLOSE_GOING_AWAY ||
				code == RC_CLOSE_NO_STATUS ||
				code == RC_CLOSE_ABNORMAL ? HUB_LOG_DEBUG :
							    HUB_LOG_INFO;

	if (hub_log_enabled(lv)) {
		char peer[64];

		hub_log(lv, "closed", KV_S("peer", rc_conn_peer_str(c, peer,
								  sizeof(peer))),
			KV_I("code", code),
			KV_S("route", !hc ? "?" : hc->route != ROUTE_ECHO ?
				      "room" : "echo"));
	}
	/* Its subscription is gone already: the count says so. */
	if (hc && hc->route == ROUTE_TOPIC)
		presence_changed(c, hc, false);
	if (hc && !hc->shared)
		free(hc);
}

/* GET /health, on both listeners: true if @p/@n was it. */
static bool health(const char *p, size_t n, struct rc_response *res)
{
	if (!path_is(p, n, "/health"))
		return false;
	/* Draining: a load balancer takes the hub out of its pool. */
	if (rc_server_draining(hub_server)) {
		res->status = 503;
		res->body = "draining\n";
		res->body_len = 9;
		return true;
	}
	res->status = 200;
	res->body = "ok\n";
	res->body_len = 3;
	return true;
}

static void hub_http(struct rc_conn *c, const struct rc_request *req,
		     struct rc_response *res)
{
	size_t n;
	const char *p = rc_request_path(req, &n);

	(void)c;
	if (health(p, n, res))
		return;
	if (path_is(p, n, "/")) {
		res->status = 200;
		res->content_type = "text/html; charset=utf-8";
		res->body = rc_hub_chat_html;
		res->body_len = rc_hub_chat_html_len;
	}
	/* /metrics is on the admin listener only */
}

/* The library's own refusals (Origin, per-address limits, rates, the
   partial-message budget): logged like ours, with the address. */
static void hub_refuse(struct rc_conn *c, int code, const char *what)
{
	log_refusal(c, code, what, NULL);
}

const struct rc_handlers hub_handlers = {
	.on_upgrade = hub_upgrade,
	.on_http = hub_http,
	.on_open = hub_open,
	.on_message = hub_message,
	.on_close = hub_close,
	.on_refuse = hub_refuse,
};

/* ---- the admin listener: /metrics and /health, nothing else ---- */

static int admin_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	(void)c;
	(void)req;
	return 404;
}

static void admin_http(struct rc_conn *c, const struct rc_request *req,
		       struct rc_response *res)
{
	size_t n;
	const char *p = rc_request_path(req, &n);

	(void)c;
	if (health(p, n, res))
		return;
	if (n > 10 && !memcmp(p, "/presence/", 10)) {
		/* Who is in a room: for operators, never on the public
		   listener (member ids and subs). */
		char room[RC_TOPIC_MAX], *body;
		int len = room_decode(p + 10, n - 10, room);

		res->status = 400;
		if (len > 0) {
			res->body_len = hub_presence_json(room, (size_t)len,
							  &body, tbuf_get);
			res->body = body;
			res->status = res->body_len ? 200 : 503;
			res->content_type = "application/json";
		}
		return;
	}
	if (path_is(p, n, "/metrics")) {
		/* The server copies the body before the next request on this
		   worker, so the worker's buffer can be reused. */
		res->body = hub_metrics(&res->body_len);
		res->status = res->body ? 200 : 503;
		res->content_type = "text/plain; version=0.0.4";
	}
}

const struct rc_handlers hub_admin_handlers = {
	.on_upgrade = admin_upgrade,
	.on_http = admin_http,
};

/* A shared route's state: @readonly, for room @name (@tlen bytes) or
   echo (0). Allocates; lives as long as the program. */
static struct hub_conn *route_new(const char *name, size_t tlen,
				  bool readonly)
{
	struct hub_conn *hc = malloc(sizeof(*hc) + tlen);

	if (!hc)
		return NULL;
	hc->route = tlen ? ROUTE_TOPIC : ROUTE_ECHO;
	hc->shared = true;
	hc->readonly = readonly;
	hc->topic_len = (uint16_t)tlen;
	hc->stamp_len = 0;
	memcpy(hc->topic, name, tlen);
	return hc;
}

bool hub_add_route(const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t tlen = 0;
	const char *to, *name = "";

	if (!eq || arg[0] != '/' || nroutes == MAX_ROUTES)
		return false;
	to = eq + 1;
	if (!strncmp(to, "room:", 5)) {
		name = to + 5;
		tlen = strlen(name);
		if (!tlen || tlen > RC_TOPIC_MAX ||
		    !room_chars_ok((const unsigned char *)name, tlen))
			return false;
	} else if (strcmp(to, "echo")) {
		return false;
	}
	routes[nroutes].to = route_new(name, tlen, false);
	routes[nroutes].to_ro = route_new(name, tlen, true);
	routes[nroutes].path = strndup(arg, (size_t)(eq - arg));
	if (!routes[nroutes].to || !routes[nroutes].to_ro ||
	    !routes[nroutes].path) {
		free(routes[nroutes].to);
		free(routes[nroutes].to_ro);
		free((char *)routes[nroutes].path);
		return false;
	}
	nroutes++;
	return true;
}
