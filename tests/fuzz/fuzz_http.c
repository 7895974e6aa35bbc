/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http.c -- libFuzzer harness for rc_http_parse(): the input parsed
 * whole, resumed after a split (prefix first, then all of it with
 * prev_len), and grown a byte at a time must give the same answer; every
 * slice of a parsed request must lie in its head; the header limit must
 * cut exactly where it should; a parsed request goes on through the
 * WebSocket upgrade check and the 101 response.
 *
 * The input is the raw request bytes, so seeds are plain HTTP. Each parse
 * gets a buffer of exactly the bytes it may read, so ASan reports any read
 * past them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"
#include "proto/upgrade.h"
#include "check.h"

/* Header slots of the ordinary parse; the server uses a limit like it. */
#define MAX_HDR 32
/* Byte-at-a-time feeding is O(n) per input; skip it for huge inputs. */
#define GROW_MAX 8192

static const char *fuzz_context(void)
{
	return "";
}

/* A parse and its result; slices are compared as offsets from @base. */
struct parsed {
	const char *base;
	int ret;
	struct rc_http_request req;
	struct rc_http_header *headers;
};

static int parse(struct parsed *out, const char *buf, size_t len,
		 size_t prev_len, struct rc_http_header *headers,
		 size_t max_headers)
{
	memset(&out->req, 0, sizeof(out->req));
	out->base = buf;
	out->headers = headers;
	out->req.headers = headers;
	out->req.max_headers = max_headers;
	out->ret = rc_http_parse(buf, len, prev_len, &out->req);
	return out->ret;
}

/* An owned copy of @data[0..len), in a buffer of exactly that size. */
static char *copy_of(const uint8_t *data, size_t len)
{
	char *p = malloc(len ? len : 1);

	CHECK(p != NULL);
	if (len)
		memcpy(p, data, len);
	return p;
}

static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* @s lies inside @base[0..@len). */
static void check_inside(struct rc_slice s, const char *base, size_t len)
{
	CHECK(s.p != NULL);
	CHECK(s.p >= base && s.p <= base + len);
	CHECK(s.n <= (size_t)(base + len - s.p));
}

/*
 * What a successful parse must look like, whatever the input: slices in
 * the head, the head ending in an empty line, a well-formed request line,
 * trimmed header values without control characters.
 */
static void check_request(const struct parsed *r, size_t len)
{
	const struct rc_http_request *q = &r->req;
	const char *b = r->base;
	size_t hl = (size_t)r->ret;

	CHECK(r->ret > 0 && hl <= len);
	/* ends in LF LF or LF CR LF */
	CHECK(hl >= 2 && b[hl - 1] == '\n');
	CHECK(b[hl - 2] == '\n' || (hl >= 3 && b[hl - 2] == '\r' &&
				     b[hl - 3] == '\n'));

	check_inside(q->method, b, hl);
	check_inside(q->target, b, hl);
	check_inside(q->path, b, hl);
	CHECK(q->method.n > 0 && q->target.n > 0);
	for (size_t i = 0; i < q->method.n; i++)
		CHECK(is_tchar((unsigned char)q->method.p[i]));
	for (size_t i = 0; i < q->target.n; i++)
		CHECK(q->target.p[i] > 0x20 && q->target.p[i] < 0x7f);
	CHECK(q->target.p == q->method.p + q->method.n + 1);
	CHECK(q->path.p == q->target.p && q->path.n <= q->target.n);
	CHECK(!memchr(q->path.p, '?', q->path.n));
	CHECK(q->path.n == q->target.n || q->target.p[q->path.n] == '?');
	CHECK(q->minor_version == 0 || q->minor_version == 1);

	CHECK(q->headers == r->headers);
	CHECK(q->nheaders <= q->max_headers);
	for (size_t i = 0; i < q->nheaders; i++) {
		const struct rc_http_header *h = &q->headers[i];

		check_inside(h->name, b, hl);
		check_inside(h->value, b, hl);
		CHECK(h->name.n > 0);
		CHECK(h->name.p > q->target.p);
		CHECK(h->name.p[h->name.n] == ':');
		for (size_t j = 0; j < h->name.n; j++)
			CHECK(is_tchar((unsigned char)h->name.p[j]));
		CHECK(h->value.p > h->name.p + h->name.n);
		for (size_t j = 0; j < h->value.n; j++) {
			unsigned char c = (unsigned char)h->value.p[j];

			CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
		}
		if (h->value.n) {
			CHECK(h->value.p[0] != ' ' && h->value.p[0] != '\t');
			CHECK(h->value.p[h->value.n - 1] != ' ' &&
			      h->value.p[h->value.n - 1] != '\t');
		}
		if (i)
			CHECK(h->name.p > q->headers[i - 1].value.p +
						  q->headers[i - 1].value.n);
	}
}

static void check_same_slice(struct rc_slice a, const char *abase,
			     struct rc_slice b, const char *bbase)
{
	CHECK(a.p - abase == b.p - bbase);
	CHECK(a.n == b.n);
}

/* Two parses of the same bytes (maybe in different buffers) agree. */
static void check_same(const struct parsed *a, const struct parsed *b)
{
	CHECK(a->ret == b->ret);
	if (a->ret < 0)
		return;
	check_same_slice(a->req.method, a->base, b->req.method, b->base);
	check_same_slice(a->req.target, a->base, b->req.target, b->base);
	check_same_slice(a->req.path, a->base, b->req.path, b->base);
	CHECK(a->req.minor_version == b->req.minor_version);
	CHECK(a->req.nheaders == b->req.nheaders);
	for (size_t i = 0; i < a->req.nheaders; i++) {
		check_same_slice(a->req.headers[i].name, a->base,
				 b->req.headers[i].name, b->base);
		check_same_slice(a->req.headers[i].value, a->base,
				 b->req.headers[i].value, b->base);
	}
}

/* FNV-1a: a split point that moves with every byte of the input. */
static size_t split_point(const uint8_t *data, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	return len ? (size_t)(h % (len + 1)) : 0;
}

/*
 * Sec-WebSocket-Accept of every header value (hashed up to 64 bytes, so
 * the SHA-1 sees messages across its padding boundaries): base64 of 20
 * bytes, or -EINVAL for a value longer than any key.
 */
static void check_accept_keys(const struct parsed *r)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < r->req.nheaders; i++) {
		struct rc_slice v = r->req.headers[i].value;
		char out[RC_ACCEPT_LEN];
		int ret = rc_upgrade_accept_key(v.p, v.n, out);

		if (v.n > 64) {
			CHECK(ret == -EINVAL);
			continue;
		}
		CHECK(ret == 0);
		for (size_t j = 0; j < RC_ACCEPT_LEN - 1; j++)
			CHECK(memchr(b64, out[j], sizeof(b64) - 1) != NULL);
		CHECK(out[RC_ACCEPT_LEN - 1] == '=');
	}
}

/* Does the head @h[0..n) have the line "@name@value\r\n"? */
static bool has_line(const char *h, size_t n, const char *name,
		     const char value[RC_ACCEPT_LEN])
{
	size_t nl = strlen(name), ll = nl + RC_ACCEPT_LEN + 2;

	for (size_t i = 0; i + ll <= n; i++)
		if ((i == 0 || h[i - 1] == '\n') && !memcmp(h + i, name, nl) &&
		    !memcmp(h + i + nl, value, RC_ACCEPT_LEN) &&
		    !memcmp(h + i + nl + RC_ACCEPT_LEN, "\r\n", 2))
			return true;
	return false;
}

/* The upgrade check on a parsed request, and the 101 answer to it. */
static void check_upgrade(const struct parsed *r)
{
	static const char *const protocols[] = { "chat", "v2.ringcast.chat" };
	struct rc_upgrade up = { { NULL, 0 }, -2 };
	char out[256], accept[RC_ACCEPT_LEN];
	int st, n;

	st = rc_upgrade_check(&r->req, protocols, 2, &up);
	CHECK(st == 0 || st == 101 || st == 400 || st == 426);
	if (st == 0) {
		CHECK(!rc_http_list_has(&r->req, "Upgrade", "websocket"));
	} else {
		CHECK(rc_http_list_has(&r->req, "Upgrade", "websocket"));
	}
	if (st != 101) {
		n = rc_http_response(out, sizeof(out), st ? st : 404, NULL,
				     "x", 1, st == 0, 0);
		CHECK(n > 0 && (size_t)n <= sizeof(out));
		return;
	}
	/* what 101 promises */
	CHECK(r->req.method.n == 3 && !memcmp(r->req.method.p, "GET", 3));
	CHECK(r->req.minor_version == 1);
	CHECK(rc_http_find(&r->req, "Host") != NULL);
	CHECK(rc_http_list_has(&r->req, "Connection", "upgrade"));
	check_inside(up.key, r->base, (size_t)r->ret);
	CHECK(up.key.n == 24);
	CHECK(up.protocol >= -1 && up.protocol < 2);
	CHECK(rc_upgrade_accept_key(up.key.p, up.key.n, accept) == 0);
	/* RFC 6455 §1.3's example */
	if (!memcmp(up.key.p, "dGhlIHNhbXBsZSBub25jZQ==", 24))
		CHECK(!memcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
			      RC_ACCEPT_LEN));
	n = rc_upgrade_response(out, sizeof(out), up.key.p, up.key.n,
				up.protocol >= 0 ? protocols[up.protocol] :
						   NULL);
	CHECK(n > 0 && (size_t)n <= sizeof(out));
	CHECK(!memcmp(out, "HTTP/1.1 101 ", 13));
	CHECK(!memcmp(out + n - 4, "\r\n\r\n", 4));
	CHECK(has_line(out, (size_t)n, "Sec-WebSocket-Accept: ", accept));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	/* Enough slots that no input of this size can run out of them. */
	size_t big = len / 2 + 2;
	struct rc_http_header *hw = malloc(MAX_HDR * sizeof(*hw));
	struct rc_http_header *hs = malloc(MAX_HDR * sizeof(*hs));
	struct rc_http_header *hb = malloc(big * sizeof(*hb));
	struct rc_http_header *hg = malloc(MAX_HDR * sizeof(*hg));
	char *whole = copy_of(data, len);
	size_t cut = split_point(data, len);
	char *prefix = copy_of(data, cut);
	struct parsed w, s, b, g;

	CHECK(hw && hs && hb && hg);

	/* whole */
	parse(&w, whole, len, 0, hw, MAX_HDR);
	CHECK(w.ret > 0 || w.ret == -EAGAIN || w.ret == -EPROTO ||
	      w.ret == -E2BIG);
	if (w.ret > 0)
		check_request(&w, len);

	/* A prefix, then all of it resumed from there. A prefix that holds
	   the whole head answers for it (errors included); otherwise the
	   resumed parse must find what the whole parse found. */
	parse(&s, prefix, cut, 0, hs, MAX_HDR);
	if (s.ret == -EAGAIN) {
		parse(&s, whole, len, cut, hs, MAX_HDR);
		check_same(&s, &w);
	} else {
		check_same(&s, &w);
		if (s.ret > 0)
			CHECK((size_t)s.ret <= cut);
	}

	/* Any prev_len beyond @len is clamped; prev_len == len is a plain
	   repeat of a call that said -EAGAIN. */
	if (w.ret == -EAGAIN) {
		parse(&s, whole, len, len, hs, MAX_HDR);
		CHECK(s.ret == -EAGAIN);
	}

	/* The header limit: as many slots as headers is enough, one fewer
	   is -E2BIG; and -E2BIG only where the headers really are more. */
	parse(&b, whole, len, 0, hb, big);
	CHECK(b.ret != -E2BIG);
	if (b.ret > 0) {
		check_request(&b, len);
		if (b.req.nheaders <= MAX_HDR) {
			check_same(&w, &b);
		} else {
			CHECK(w.ret == -E2BIG);
		}
		if (b.req.nheaders > 0) {
			parse(&s, whole, len, 0, hb, b.req.nheaders - 1);
			CHECK(s.ret == -E2BIG);
		}
		parse(&s, whole, len, 0, hb, b.req.nheaders);
		check_same(&s, &b);
	} else if (b.ret == -EAGAIN) {
		CHECK(w.ret == -EAGAIN);
	} else {
		CHECK(w.ret == -EPROTO || w.ret == -E2BIG);
	}

	/*
	 * Grown a byte at a time, as a slow client sends it: -EAGAIN until
	 * the head is complete, then the whole parse's answer; a successful
	 * parse is found exactly when its last byte arrives.
	 */
	if (len <= GROW_MAX) {
		size_t k;

		for (k = 1; k <= len; k++) {
			parse(&g, whole, k, k - 1, hg, MAX_HDR);
			if (g.ret != -EAGAIN)
				break;
		}
		if (k > len) {
			CHECK(w.ret == -EAGAIN);
		} else {
			check_same(&g, &w);
			if (g.ret > 0)
				CHECK((size_t)g.ret == k);
		}
	}

	if (w.ret > 0) {
		check_upgrade(&w);
		check_accept_keys(&w);
	}

	free(prefix);
	free(whole);
	free(hg);
	free(hb);
	free(hs);
	free(hw);
	return 0;
}
