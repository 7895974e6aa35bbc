/* SPDX-License-Identifier: MIT */
/* test_http.c -- rc_http_parse() whole, byte by byte, and at a guard page. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proto/http.h"
#include "proto/origin.h"

/* Room for more headers than any test sends, so over-writes show. */
#define MAX_HDR 80

/* A string literal and its length, embedded NULs included. */
#define LIT(s) s, sizeof(s) - 1

struct parsed {
	struct rc_http_request req;
	struct rc_http_header headers[MAX_HDR];
	int ret;
};

/* Two pages, the second PROT_NONE: input placed against it over-reads
   into a fault rather than into silence. */
static char *guard_base;
static size_t page;

static int setup_guard(void **state)
{
	(void)state;
	page = (size_t)sysconf(_SC_PAGESIZE);
	guard_base = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED)
		return -1;
	return mprotect(guard_base + page, page, PROT_NONE);
}

static int teardown_guard(void **state)
{
	(void)state;
	return munmap(guard_base, 2 * page);
}

/* Copy @len bytes of @s so that they end exactly at the guard page. */
static const char *at_guard(const char *s, size_t len)
{
	char *p = guard_base + page - len;

	assert_true(len <= page);
	memcpy(p, s, len);
	return p;
}

static int parse(const char *buf, size_t len, size_t prev_len,
		 size_t max_headers, struct parsed *out)
{
	memset(out, 0xa5, sizeof(*out));
	out->req.headers = out->headers;
	out->req.max_headers = max_headers;
	out->ret = rc_http_parse(buf, len, prev_len, &out->req);
	return out->ret;
}

static void assert_slice(struct rc_slice s, const char *want)
{
	assert_int_equal(s.n, strlen(want));
	if (s.n)
		assert_memory_equal(s.p, want, s.n);
}

/* @s lies inside the first @len bytes of @buf. */
static void assert_inside(struct rc_slice s, const char *buf, size_t len)
{
	assert_true(s.p >= buf);
	assert_true(s.p + s.n <= buf + len);
}

/* Same place (relative to each buffer) and same length. */
static void assert_same_slice(struct rc_slice a, const char *abuf,
			      struct rc_slice b, const char *bbuf)
{
	assert_int_equal(a.n, b.n);
	assert_int_equal(a.p - abuf, b.p - bbuf);
}

static void assert_same(const struct parsed *a, const char *abuf,
			const struct parsed *b, const char *bbuf)
{
	assert_int_equal(a->ret, b->ret);
	if (a->ret < 0)
		return;
	assert_same_slice(a->req.method, abuf, b->req.method, bbuf);
	assert_same_slice(a->req.target, abuf, b->req.target, bbuf);
	assert_same_slice(a->req.path, abuf, b->req.path, bbuf);
	assert_int_equal(a->req.minor_version, b->req.minor_version);
	assert_int_equal(a->req.nheaders, b->req.nheaders);
	for (size_t i = 0; i < a->req.nheaders; i++) {
		assert_same_slice(a->headers[i].name, abuf,
				  b->headers[i].name, bbuf);
		assert_same_slice(a->headers[i].value, abuf,
				  b->headers[i].value, bbuf);
	}
}

/*
 * Parse @s whole, then every prefix of it as if it arrived one byte at a
 * time (same buffer, prev_len = the last length), then every prefix again
 * copied against the guard page, both resumed and from scratch. Until the
 * head is complete each must say -EAGAIN; from then on each must match the whole
 * parse exactly. Invalid heads in these tests end at their terminator, so
 * for an error the head completes at @len. Returns the whole parse in @out.
 */
static void check_all_ways(const char *s, size_t len, size_t max_headers,
			   int expect, struct parsed *out)
{
	struct parsed rr, *r = &rr;
	size_t head_end, prev = 0;
	const char *g;

	assert_int_equal(parse(s, len, 0, max_headers, out), expect);
	if (expect >= 0)
		head_end = (size_t)expect;
	else if (expect == -EAGAIN)
		head_end = SIZE_MAX;
	else
		head_end = len;

	g = at_guard(s, len);
	parse(g, len, 0, max_headers, r);
	assert_same(r, g, out, s);

	/* prev_len only ever names a length that was still incomplete: past
	   the head it stays at the last -EAGAIN, as for a caller whose read
	   brought the end of the head and more. */
	for (size_t l = 1; l <= len; l++) {
		parse(s, l, prev, max_headers, r);
		if (l < head_end) {
			assert_int_equal(r->ret, -EAGAIN);
			prev = l;
		} else {
			assert_same(r, s, out, s);
		}
	}

	prev = 0;
	for (size_t l = 1; l <= len; l++) {
		g = at_guard(s, l);
		for (size_t from = 0; from < 2; from++) {
			parse(g, l, from ? prev : 0, max_headers, r);
			if (l < head_end)
				assert_int_equal(r->ret, -EAGAIN);
			else
				assert_same(r, g, out, s);
		}
		if (l < head_end)
			prev = l;
	}
}

struct want_header {
	const char *name;
	const char *value;
};

static void assert_headers(const struct parsed *p, const char *buf,
			   const struct want_header *want, size_t n)
{
	assert_int_equal(p->req.nheaders, n);
	for (size_t i = 0; i < n; i++) {
		assert_slice(p->headers[i].name, want[i].name);
		assert_slice(p->headers[i].value, want[i].value);
		assert_inside(p->headers[i].name, buf, (size_t)p->ret);
		assert_inside(p->headers[i].value, buf, (size_t)p->ret);
	}
}

static const char browser[] =
	"GET /ws/chat?room=1 HTTP/1.1\r\n"
	"Host: localhost:8080\r\n"
	"Connection: Upgrade\r\n"
	"Pragma: no-cache\r\n"
	"Cache-Control: no-cache\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
	"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
	"Upgrade: websocket\r\n"
	"Origin: http://localhost:8080\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Accept-Language: en-US,en;q=0.9\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
	"\r\n";

static void test_browser_upgrade(void **state)
{
	static const struct want_header want[] = {
		{ "Host", "localhost:8080" },
		{ "Connection", "Upgrade" },
		{ "Pragma", "no-cache" },
		{ "Cache-Control", "no-cache" },
		{ "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) "
				"AppleWebKit/537.36 (KHTML, like Gecko) "
				"Chrome/120.0.0.0 Safari/537.36" },
		{ "Upgrade", "websocket" },
		{ "Origin", "http://localhost:8080" },
		{ "Sec-WebSocket-Version", "13" },
		{ "Accept-Encoding", "gzip, deflate, br" },
		{ "Accept-Language", "en-US,en;q=0.9" },
		{ "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==" },
		{ "Sec-WebSocket-Extensions",
		  "permessage-deflate; client_max_window_bits" },
	};
	struct parsed p;

	(void)state;
	check_all_ways(LIT(browser), MAX_HDR, (int)sizeof(browser) - 1, &p);
	assert_slice(p.req.method, "GET");
	assert_slice(p.req.target, "/ws/chat?room=1");
	assert_slice(p.req.path, "/ws/chat");
	assert_true(p.req.path.p == p.req.target.p);
	assert_inside(p.req.method, browser, sizeof(browser) - 1);
	assert_inside(p.req.target, browser, sizeof(browser) - 1);
	assert_int_equal(p.req.minor_version, 1);
	assert_headers(&p, browser, want, sizeof(want) / sizeof(want[0]));
}

static void test_wrk_get(void **state)
{
	static const char req[] =
		"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
	static const struct want_header want[] = {
		{ "Host", "127.0.0.1:8080" },
	};
	struct parsed p;

	(void)state;
	check_all_ways(LIT(req), MAX_HDR, (int)sizeof(req) - 1, &p);
	assert_slice(p.req.method, "GET");
	assert_slice(p.req.target, "/");
	assert_slice(p.req.path, "/");
	assert_int_equal(p.req.minor_version, 1);
	assert_headers(&p, req, want, 1);
}

static void test_no_headers(void **state)
{
	static const char req[] = "OPTIONS * HTTP/1.0\r\n\r\n";
	struct parsed p;

	(void)state;
	check_all_ways(LIT(req), MAX_HDR, (int)sizeof(req) - 1, &p);
	assert_slice(p.req.method, "OPTIONS");
	assert_slice(p.req.target, "*");
	assert_slice(p.req.path, "*");
	assert_int_equal(p.req.minor_version, 0);
	assert_int_equal(p.req.nheaders, 0);
}

/* Write @n headers "X-Hdr-i: value-i" after a request line into @buf. */
static size_t make_many(char *buf, size_t cap, size_t n)
{
	size_t len = (size_t)snprintf(buf, cap, "GET /many HTTP/1.1\r\n");

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len,
					"X-Hdr-%zu: value-%zu\r\n", i, i);
	len += (size_t)snprintf(buf + len, cap - len, "\r\n");
	assert_true(len < cap);
	return len;
}

static void test_many_headers(void **state)
{
	char buf[2048], name[16], value[16];
	struct parsed p;
	size_t len = make_many(buf, sizeof(buf), 64);

	(void)state;
	check_all_ways(buf, len, 64, (int)len, &p);
	assert_int_equal(p.req.nheaders, 64);
	for (size_t i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "X-Hdr-%zu", i);
		snprintf(value, sizeof(value), "value-%zu", i);
		assert_slice(p.headers[i].name, name);
		assert_slice(p.headers[i].value, value);
	}
	/* One over the caller's limit is -E2BIG, not a silent drop. */
	check_all_ways(buf, len, 63, -E2BIG, &p);
}

static void test_too_many_headers(void **state)
{
	static const char req[] =
		"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	unsigned char untouched[sizeof(struct rc_http_header)];
	struct parsed p;

	(void)state;
	check_all_ways(LIT(req), 3, (int)sizeof(req) - 1, &p);
	check_all_ways(LIT(req), 2, -E2BIG, &p);
	check_all_ways(LIT(req), 0, -E2BIG, &p);

	/* The parser stops at max_headers: entry [2] is never written. */
	memset(&p, 0xa5, sizeof(p));
	p.req.headers = p.headers;
	p.req.max_headers = 2;
	assert_int_equal(rc_http_parse(req, sizeof(req) - 1, 0, &p.req),
			 -E2BIG);
	memset(untouched, 0xa5, sizeof(untouched));
	assert_memory_equal(&p.headers[2], untouched, sizeof(untouched));
}

static void test_lf_only(void **state)
{
	static const char req[] =
		"GET /a/b HTTP/1.0\nHost: x\nUser-Agent: curl/8\n\n";
	static const struct want_header want[] = {
		{ "Host", "x" },
		{ "User-Agent", "curl/8" },
	};
	struct parsed p;

	(void)state;
	check_all_ways(LIT(req), MAX_HDR, (int)sizeof(req) - 1, &p);
	assert_slice(p.req.method, "GET");
	assert_slice(p.req.target, "/a/b");
	assert_int_equal(p.req.minor_version, 0);
	assert_headers(&p, req, want, 2);
}

static void test_mixed_endings(void **state)
{
	static const char a[] = "GET / HTTP/1.1\r\nHost: x\n\r\n";
	static const char b[] = "GET / HTTP/1.1\nHost: x\r\n\n";
	static const char c[] = "GET / HTTP/1.1\n\r\n";
	static const struct want_header want[] = { { "Host", "x" } };
	struct parsed p;

	(void)state;
	check_all_ways(LIT(a), MAX_HDR, (int)sizeof(a) - 1, &p);
	assert_headers(&p, a, want, 1);
	check_all_ways(LIT(b), MAX_HDR, (int)sizeof(b) - 1, &p);
	assert_headers(&p, b, want, 1);
	check_all_ways(LIT(c), MAX_HDR, (int)sizeof(c) - 1, &p);
	assert_int_equal(p.req.nheaders, 0);
}

static void test_leading_empty_lines(void **state)
{
	static const char a[] = "\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char b[] = "\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
	struct parsed p;

	(void)state;
	/* The skipped lines are part of what the head consumed. */
	check_all_ways(LIT(a), MAX_HDR, (int)sizeof(a) - 1, &p);
	assert_true(p.req.method.p == a + 4);
	assert_slice(p.req.method, "GET");
	assert_slice(p.req.target, "/x");
	assert_int_equal(p.req.nheaders, 1);
	assert_slice(p.headers[0].value, "h");
	check_all_ways(LIT(b), MAX_HDR, (int)sizeof(b) - 1, &p);
	assert_true(p.req.method.p == b + 3);
	assert_slice(p.req.target, "/x");
}

static void test_incomplete(void **state)
{
	static const char *const partial[] = {
		"\r\n\r\n\n",
		"\r",
		"GET / HTTP/1.1",
		"GET / HTTP/1.1\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r",
		"GET / HTTP/1.1\r\nHost: x\n\r",
	};
	struct parsed p;

	(void)state;
	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		check_all_ways(partial[i], strlen(partial[i]), MAX_HDR,
			       -EAGAIN, &p);
	assert_int_equal(parse("", 0, 0, MAX_HDR, &p), -EAGAIN);
}

static void test_values(void **state)
{
	static const char req[] =
		"GET /?q HTTP/1.1\r\n"
		"X-A:   a b \t \r\n"
		"X-B:\r\n"
		"X-C: \t\r\n"
		"X-D: caf\xc3\xa9\r\n"
		"X-E:x\r\n"
		"X-F: a\tb\r\n"
		"x-lower.and_marks!#$%&'*+-^`|~: ~\r\n"
		"\r\n";
	static const struct want_header want[] = {
		{ "X-A", "a b" },
		{ "X-B", "" },
		{ "X-C", "" },
		{ "X-D", "caf\xc3\xa9" },
		{ "X-E", "x" },
		{ "X-F", "a\tb" },
		{ "x-lower.and_marks!#$%&'*+-^`|~", "~" },
	};
	struct parsed p;

	(void)state;
	check_all_ways(LIT(req), MAX_HDR, (int)sizeof(req) - 1, &p);
	assert_slice(p.req.target, "/?q");
	assert_slice(p.req.path, "/");
	assert_headers(&p, req, want, sizeof(want) / sizeof(want[0]));
}

static void test_targets(void **state)
{
	static const char a[] = "M-SEARCH /a?b?c HTTP/1.1\r\n\r\n";
	static const char b[] = "GET http://ex.com/x?y=%20 HTTP/1.1\r\n\r\n";
	struct parsed p;

	(void)state;
	check_all_ways(LIT(a), MAX_HDR, (int)sizeof(a) - 1, &p);
	assert_slice(p.req.method, "M-SEARCH");
	assert_slice(p.req.target, "/a?b?c");
	assert_slice(p.req.path, "/a");
	check_all_ways(LIT(b), MAX_HDR, (int)sizeof(b) - 1, &p);
	assert_slice(p.req.target, "http://ex.com/x?y=%20");
	assert_slice(p.req.path, "http://ex.com/x");
}

static void test_pipelined(void **state)
{
	/* RFC 6455 §5.7 masked "Hello", then bytes that would be a bad
	   header and a second terminator: none of it is the head's. */
	static const char head[] =
		"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";
	static const char frame[] =
		"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
		"\0\xff bad\r\n\r\n";
	char buf[sizeof(head) + sizeof(frame)], copy[sizeof(buf)];
	size_t hlen = sizeof(head) - 1, len = hlen + sizeof(frame) - 1;
	struct parsed p;

	(void)state;
	memcpy(buf, head, hlen);
	memcpy(buf + hlen, frame, sizeof(frame) - 1);
	memcpy(copy, buf, len);
	check_all_ways(buf, len, MAX_HDR, (int)hlen, &p);
	assert_int_equal(p.ret, hlen);
	assert_int_equal(p.req.nheaders, 2);
	assert_slice(p.headers[1].value, "websocket");
	assert_memory_equal(buf, copy, len);
	assert_memory_equal(buf + p.ret, frame, sizeof(frame) - 1);
}

struct bad {
	const char *s;
	size_t len;
	const char *why;
};

static void test_invalid(void **state)
{
	static const struct bad bad[] = {
		{ LIT("G@T / HTTP/1.1\r\n\r\n"), "bad method char" },
		{ LIT("GE(T / HTTP/1.1\r\n\r\n"), "bad method char" },
		{ LIT("G\0T / HTTP/1.1\r\n\r\n"), "NUL in method" },
		{ LIT(" / HTTP/1.1\r\n\r\n"), "empty method" },
		{ LIT("\rGET / HTTP/1.1\r\n\r\n"), "bare CR first" },
		{ LIT("\r\n\rGET / HTTP/1.1\r\n\r\n"), "CRLF, bare CR" },
		{ LIT("GET/ HTTP/1.1\r\n\r\n"), "no SP after method" },
		{ LIT("GET /HTTP/1.1\r\n\r\n"), "no SP before version" },
		{ LIT("GET\r\n\r\n"), "method only" },
		{ LIT("GET /\r\n\r\n"), "no version" },
		{ LIT("GET\t/ HTTP/1.1\r\n\r\n"), "HTAB for SP" },
		{ LIT("GET  / HTTP/1.1\r\n\r\n"), "two SPs after method" },
		{ LIT("GET /  HTTP/1.1\r\n\r\n"), "two SPs after target" },
		{ LIT("GET / HTTP/1.1 \r\n\r\n"), "SP after version" },
		{ LIT("GET / HTTP/2.0\r\n\r\n"), "HTTP/2.0" },
		{ LIT("GET / HTTP/1.2\r\n\r\n"), "HTTP/1.2" },
		{ LIT("GET / HTTP/1.1x\r\n\r\n"), "HTTP/1.1x" },
		{ LIT("GET / HTTP/1.\r\n\r\n"), "HTTP/1." },
		{ LIT("GET / HTTP/1.01\r\n\r\n"), "HTTP/1.01" },
		{ LIT("GET / HTTP/1.11\r\n\r\n"), "HTTP/1.11" },
		{ LIT("GET / HTTP/11\r\n\r\n"), "HTTP/11" },
		{ LIT("GET / http/1.1\r\n\r\n"), "lowercase version" },
		{ LIT("GET / HTTP/1.1\r\r\n\r\n"), "CR CR LF" },
		{ LIT("GET /\x80 HTTP/1.1\r\n\r\n"), "8-bit target" },
		{ LIT("GET /\x7f HTTP/1.1\r\n\r\n"), "DEL in target" },
		{ LIT("GET /\x01 HTTP/1.1\r\n\r\n"), "CTL in target" },
		{ LIT("GET /\r HTTP/1.1\r\n\r\n"), "bare CR in target" },
		{ LIT("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n"), "CTL in value" },
		{ LIT("GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n"), "DEL in value" },
		{ LIT("GET / HTTP/1.1\r\nX: a\0z\r\n\r\n"), "NUL in value" },
		{ LIT("GET / HTTP/1.1\r\nX: a\rz\r\n\r\n"), "bare CR in value" },
		{ LIT("GET / HTTP/1.1\r\nX: a\x1b\r\n\r\n"), "ESC at end" },
		{ LIT("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), "SP before colon" },
		{ LIT("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n"), "HTAB before colon" },
		{ LIT("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), "obs-fold SP" },
		{ LIT("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), "obs-fold HTAB" },
		{ LIT("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), "SP first line" },
		{ LIT("GET / HTTP/1.1\r\n: x\r\n\r\n"), "empty name" },
		{ LIT("GET / HTTP/1.1\r\nHost x\r\n\r\n"), "no colon" },
		{ LIT("GET / HTTP/1.1\r\nHost\r\n\r\n"), "name only" },
		{ LIT("GET / HTTP/1.1\r\nA: 1\nB\n\n"), "no colon, LF" },
		{ LIT("GET / HTTP/1.1\r\nHo(st: x\r\n\r\n"), "bad name char" },
		{ LIT("GET / HTTP/1.1\r\nH\xc3\xa9: x\r\n\r\n"), "8-bit name" },
		{ LIT("GET / HTTP/1.1\r\nX\0: x\r\n\r\n"), "NUL in name" },
		{ LIT("GET / HTTP/1.1\r\n\rX: y\r\n\r\n"), "CR starts line" },
	};
	struct parsed p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("invalid: %s\n", bad[i].why);
		check_all_ways(bad[i].s, bad[i].len, MAX_HDR, -EPROTO, &p);
	}
}

static void test_prev_len_past_end(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	struct parsed p;

	(void)state;
	/* A prev_len beyond @len is treated as @len, not trusted. */
	assert_int_equal(parse(req, sizeof(req) - 1, 1000, MAX_HDR, &p),
			 (int)sizeof(req) - 1);
	assert_int_equal(parse(req, 5, 1000, MAX_HDR, &p), -EAGAIN);
}

/* Parse @s (which must be valid) for the helper tests below. */
static void parse_ok(const char *s, struct parsed *p)
{
	assert_int_equal(parse(s, strlen(s), 0, MAX_HDR, p), (int)strlen(s));
}

static void test_slice_eq(void **state)
{
	(void)state;
	assert_true(rc_http_slice_eq((struct rc_slice){ "Host", 4 }, "host"));
	assert_true(rc_http_slice_eq((struct rc_slice){ "hOST", 4 }, "HoSt"));
	assert_true(rc_http_slice_eq((struct rc_slice){ "", 0 }, ""));
	assert_true(rc_http_slice_eq((struct rc_slice){ "Hostile", 4 },
				     "host"));
	assert_false(rc_http_slice_eq((struct rc_slice){ "Hos", 3 }, "host"));
	assert_false(rc_http_slice_eq((struct rc_slice){ "Hosts", 5 },
				      "host"));
	assert_false(rc_http_slice_eq((struct rc_slice){ "", 0 }, "host"));
	assert_false(rc_http_slice_eq((struct rc_slice){ "Host", 4 }, ""));
	/* Case folding is for letters only: '@' and '`' differ by 0x20. */
	assert_false(rc_http_slice_eq((struct rc_slice){ "@", 1 }, "`"));
	assert_false(rc_http_slice_eq((struct rc_slice){ "[", 1 }, "{"));
	assert_false(rc_http_slice_eq((struct rc_slice){ "a\0", 2 }, "a"));
}

static void test_find(void **state)
{
	static const char req[] =
		"GET / HTTP/1.1\r\nHost: one\r\nX-A: 1\r\nHOST: two\r\n\r\n";
	const struct rc_http_header *h;
	struct parsed p;

	(void)state;
	parse_ok(req, &p);
	h = rc_http_find(&p.req, "host");
	assert_non_null(h);
	assert_true(h == &p.headers[0]);
	assert_slice(h->value, "one");
	h = rc_http_find(&p.req, "x-a");
	assert_non_null(h);
	assert_slice(h->value, "1");
	assert_null(rc_http_find(&p.req, "X"));
	assert_null(rc_http_find(&p.req, "X-A2"));
	assert_null(rc_http_find(&p.req, ""));
}

static bool list_has(const char *head, const char *name, const char *token)
{
	struct parsed p;

	parse_ok(head, &p);
	return rc_http_list_has(&p.req, name, token);
}

static void test_list_has(void **state)
{
	(void)state;
	assert_true(list_has("GET / HTTP/1.1\r\nConnection: keep-alive, "
			     "Upgrade\r\n\r\n", "connection", "upgrade"));
	assert_true(list_has("GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
			     "Connection", "upgrade"));
	assert_true(list_has("GET / HTTP/1.1\r\nConnection: upgrade,\r\n\r\n",
			     "Connection", "Upgrade"));
	assert_true(list_has("GET / HTTP/1.1\r\nConnection: ,,upgrade\r\n\r\n",
			     "Connection", "upgrade"));
	assert_true(list_has("GET / HTTP/1.1\r\nConnection: a,,upgrade ,b\r\n"
			     "\r\n", "Connection", "upgrade"));
	assert_true(list_has("GET / HTTP/1.1\r\nConnection: a ,\t upgrade"
			     "\t\r\n\r\n", "Connection", "upgrade"));
	assert_true(list_has("GET / HTTP/1.1\r\nConnection: keep-alive\r\n"
			     "Host: h\r\nconnection: Upgrade\r\n\r\n",
			     "Connection", "upgrade"));
	assert_true(list_has("GET / HTTP/1.1\r\nUpgrade: h2c, WebSocket\r\n"
			     "\r\n", "Upgrade", "websocket"));

	assert_false(list_has("GET / HTTP/1.1\r\nConnection: upgrades\r\n\r\n",
			      "Connection", "upgrade"));
	assert_false(list_has("GET / HTTP/1.1\r\nConnection: xupgrade\r\n\r\n",
			      "Connection", "upgrade"));
	assert_false(list_has("GET / HTTP/1.1\r\nUpgrade: websocket2\r\n\r\n",
			      "Upgrade", "websocket"));
	assert_false(list_has("GET / HTTP/1.1\r\nConnection: keep-alive\r\n"
			      "\r\n", "Connection", "upgrade"));
	assert_false(list_has("GET / HTTP/1.1\r\nConnection: up grade\r\n\r\n",
			      "Connection", "upgrade"));
	assert_false(list_has("GET / HTTP/1.1\r\nX-Connection: upgrade\r\n\r\n",
			      "Connection", "upgrade"));
	assert_false(list_has("GET / HTTP/1.1\r\nConnection: , ,\r\n\r\n",
			      "Connection", ""));
	assert_false(list_has("GET / HTTP/1.1\r\nHost: h\r\n\r\n",
			      "Connection", "upgrade"));
}


static struct rc_slice sl(const char *s)
{
	return (struct rc_slice){ s, strlen(s) };
}

/* RFC 6454 origins against the Host a request came with. */
static void test_origin_own(void **state)
{
	static const struct {
		const char *origin, *scheme, *host;
		bool own;
	} c[] = {
		{ "http://x", "http", "x", true },
		{ "http://X", "http", "x", true },
		{ "HTTP://x:80", "http", "x", true },
		{ "http://x", "http", "x:80", true },
		{ "http://x:080", "http", "x:80", true },
		{ "https://x", "https", "x:443", true },
		{ "http://x:8080", "http", "x:8080", true },
		{ "http://[::1]:8080", "http", "[::1]:8080", true },
		{ "http://[::1]", "http", "[::1]:80", true },
		{ "https://x", "http", "x", false },
		{ "http://x", "https", "x", false },
		{ "http://x:81", "http", "x", false },
		{ "http://x", "http", "x:81", false },
		{ "http://x.evil", "http", "x", false },
		{ "http://evilx", "http", "x", false },
		{ "http://x/", "http", "x", false },
		{ "http://x/path", "http", "x", false },
		{ "http://u@x", "http", "x", false },
		{ "null", "http", "x", false },
		{ "", "http", "x", false },
		{ "x", "http", "x", false },
		{ "http://", "http", "x", false },
		{ "http://x", "http", "", false },
		{ "http://[::1]:80", "http", "[::2]", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		bool got = rc_origin_is_own(sl(c[i].origin), c[i].scheme,
					    sl(c[i].host));

		if (got != c[i].own)
			fail_msg("%s vs %s://%s: %d, want %d", c[i].origin,
				 c[i].scheme, c[i].host, got, c[i].own);
	}
	assert_true(rc_origin_match(sl("https://A.example:443"),
				    "https://a.example"));
	assert_true(rc_origin_match(sl("http://anything"), "*"));
	assert_true(rc_origin_match(sl("null"), "null"));
	assert_false(rc_origin_match(sl("null"), "http://null"));
	assert_false(rc_origin_match(sl("http://null"), "null"));
	assert_false(rc_origin_match(sl("https://a.example"),
				     "http://a.example"));
	assert_false(rc_origin_match(sl("https://a.example.evil"),
				     "https://a.example"));
}

/* Query parameters: decoding, and what is refused. */
static void test_query_find(void **state)
{
	char out[16], big[17];
	const char *q = "tok=1&token=a%2Fb+c&e=&n&t2=%zz&t3=%00&t4=%4&big="
			"0123456789abcdef";

	(void)state;
	assert_int_equal(rc_query_find(q, strlen(q), "token", out,
				       sizeof(out)), 5);
	assert_string_equal(out, "a/b c");
	assert_int_equal(rc_query_find(q, strlen(q), "tok", out, sizeof(out)),
			 1);
	assert_string_equal(out, "1");
	assert_int_equal(rc_query_find(q, strlen(q), "e", out, sizeof(out)),
			 0);
	assert_int_equal(rc_query_find(q, strlen(q), "n", out, sizeof(out)),
			 0);
	assert_int_equal(rc_query_find(q, strlen(q), "to", out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(rc_query_find(q, strlen(q), "t2", out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(rc_query_find(q, strlen(q), "t3", out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(rc_query_find(q, strlen(q), "t4", out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(rc_query_find(q, strlen(q), "big", out, sizeof(out)),
			 -ENOSPC);
	/* Exactly room for the value and its NUL. */
	assert_int_equal(rc_query_find(q, strlen(q), "big", big, sizeof(big)),
			 16);
	assert_string_equal(big, "0123456789abcdef");
	/* The length bounds the scan: "token" cut short is not there. */
	assert_int_equal(rc_query_find(q, 3, "tok", out, sizeof(out)), 0);
	assert_int_equal(rc_query_find("", 0, "x", out, sizeof(out)),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_browser_upgrade),
		cmocka_unit_test(test_wrk_get),
		cmocka_unit_test(test_no_headers),
		cmocka_unit_test(test_many_headers),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_lf_only),
		cmocka_unit_test(test_mixed_endings),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_prev_len_past_end),
		cmocka_unit_test(test_slice_eq),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_list_has),
		cmocka_unit_test(test_origin_own),
		cmocka_unit_test(test_query_find),
	};

	return cmocka_run_group_tests(tests, setup_guard, teardown_guard);
}
