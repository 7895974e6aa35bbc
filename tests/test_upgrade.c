/* SPDX-License-Identifier: MIT */
/* test_upgrade.c -- RFC 6455 §4.2 handshake checks, accept key, responses. */
#define _GNU_SOURCE	/* memmem() */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "proto/sha1.h"
#include "proto/upgrade.h"

#define MAX_HDR 32

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

struct parsed {
	struct rc_http_request req;
	struct rc_http_header headers[MAX_HDR];
};

/* Parse @head, which must be a complete, valid request head. */
static void parse_ok(const char *head, struct parsed *p)
{
	p->req.headers = p->headers;
	p->req.max_headers = MAX_HDR;
	assert_int_equal(rc_http_parse(head, strlen(head), 0, &p->req),
			 (int)strlen(head));
}

/* rc_upgrade_check() on @head with the server protocols @protos. */
static int check_with(const char *head, const char *const *protos,
		      size_t nprotos, struct rc_upgrade *out)
{
	struct parsed p;

	parse_ok(head, &p);
	return rc_upgrade_check(&p.req, protos, nprotos, out);
}

static int check(const char *head)
{
	struct rc_upgrade out;

	return check_with(head, NULL, 0, &out);
}

#define GOOD_LINES \
	"Host: server.example.com\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: " RFC_KEY "\r\n" \
	"Sec-WebSocket-Version: 13\r\n"

static bool contains(const char *buf, size_t n, const char *needle)
{
	return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void test_accept_key(void **state)
{
	char out[RC_ACCEPT_LEN + 1];

	(void)state;
	memset(out, '#', sizeof(out));
	assert_int_equal(rc_upgrade_accept_key(RFC_KEY, strlen(RFC_KEY), out),
			 0);
	assert_memory_equal(out, RFC_ACCEPT, RC_ACCEPT_LEN);
	/* Exactly RC_ACCEPT_LEN bytes are written, no NUL after them. */
	assert_int_equal(out[RC_ACCEPT_LEN], '#');

	/* The handshake example on Wikipedia's WebSocket page. */
	assert_int_equal(rc_upgrade_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24,
					       out), 0);
	assert_memory_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
			    RC_ACCEPT_LEN);
}

static void test_accept_key_too_long(void **state)
{
	char key[65], out[RC_ACCEPT_LEN];

	(void)state;
	memset(key, 'A', sizeof(key));
	assert_int_equal(rc_upgrade_accept_key(key, 64, out), 0);
	assert_int_equal(rc_upgrade_accept_key(key, 65, out), -EINVAL);
}

/* Our SHA-1 against OpenSSL's for every length 0..300 (every padding
   case: rest < 56, rest >= 56, whole blocks) and random bytes; then the
   full accept key against OpenSSL's SHA-1 and base64. */
static void test_sha1_vs_openssl(void **state)
{
	uint8_t buf[301], mine[20], theirs[EVP_MAX_MD_SIZE];
	unsigned int n;
	uint32_t x = 12345;

	(void)state;
	for (size_t len = 0; len <= 300; len++) {
		for (int rep = 0; rep < 4; rep++) {
			for (size_t i = 0; i < len; i++) {
				x = x * 1103515245u + 12345u;
				buf[i] = (uint8_t)(x >> 16);
			}
			rc_sha1(buf, len, mine);
			assert_true(EVP_Digest(buf, len, theirs, &n,
					       EVP_sha1(), NULL));
			assert_int_equal(n, 20);
			assert_memory_equal(mine, theirs, 20);
		}
	}
	for (size_t klen = 0; klen <= 64; klen++) {
		static const char guid[] =
			"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
		char key[64], in[64 + sizeof(guid)], out[RC_ACCEPT_LEN];
		unsigned char b64[RC_ACCEPT_LEN + 1];

		for (size_t i = 0; i < klen; i++) {
			x = x * 1103515245u + 12345u;
			key[i] = (char)('!' + (x >> 16) % 94);
		}
		memcpy(in, key, klen);
		memcpy(in + klen, guid, sizeof(guid) - 1);
		assert_true(EVP_Digest(in, klen + sizeof(guid) - 1, theirs, &n,
				       EVP_sha1(), NULL));
		assert_int_equal(EVP_EncodeBlock(b64, theirs, 20),
				 RC_ACCEPT_LEN);
		assert_int_equal(rc_upgrade_accept_key(key, klen, out), 0);
		assert_memory_equal(out, b64, RC_ACCEPT_LEN);
	}
}

static void test_valid(void **state)
{
	static const char head[] = "GET /chat HTTP/1.1\r\n" GOOD_LINES "\r\n";
	struct rc_upgrade out = { .protocol = 7 };
	struct parsed p;

	(void)state;
	parse_ok(head, &p);
	assert_int_equal(rc_upgrade_check(&p.req, NULL, 0, &out), 101);
	assert_int_equal(out.key.n, 24);
	assert_memory_equal(out.key.p, RFC_KEY, 24);
	assert_true(out.key.p > head && out.key.p < head + sizeof(head));
	assert_int_equal(out.protocol, -1);
}

static void test_connection_list(void **state)
{
	(void)state;
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: websocket\r\n"
			       "Connection: keep-alive, Upgrade\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n"), 101);
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: websocket\r\n"
			       "Connection: keep-alive\r\n"
			       "Connection: Upgrade\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n"), 101);
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: h2c, websocket\r\n"
			       "Connection: Upgrade, HTTP2-Settings\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n"), 101);
}

static void test_case_insensitive(void **state)
{
	(void)state;
	assert_int_equal(check("GET / HTTP/1.1\r\nhost: h\r\n"
			       "UPGRADE: WebSocket\r\n"
			       "connection: UPGRADE\r\n"
			       "sec-websocket-key: " RFC_KEY "\r\n"
			       "SEC-WEBSOCKET-VERSION: 13\r\n\r\n"), 101);
}

static void test_not_upgrade(void **state)
{
	(void)state;
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	/* Everything but Upgrade: still a plain request. */
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Connection: Upgrade\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n"), 0);
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: h2c\r\nConnection: Upgrade\r\n\r\n"),
			 0);
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: websocket2\r\n"
			       "Connection: Upgrade\r\n\r\n"), 0);
	/* Not an upgrade, so not a bad one: POST without Upgrade is 0. */
	assert_int_equal(check("POST / HTTP/1.0\r\n\r\n"), 0);
}

static void test_bad_request(void **state)
{
	(void)state;
	assert_int_equal(check("POST / HTTP/1.1\r\n" GOOD_LINES "\r\n"), 400);
	assert_int_equal(check("get / HTTP/1.1\r\n" GOOD_LINES "\r\n"), 400);
	assert_int_equal(check("HEAD / HTTP/1.1\r\n" GOOD_LINES "\r\n"), 400);
	assert_int_equal(check("GET / HTTP/1.0\r\n" GOOD_LINES "\r\n"), 400);

	/* No Host, and two Hosts (RFC 9112 §3.2). */
	assert_int_equal(check("GET / HTTP/1.1\r\n"
			       "Upgrade: websocket\r\n"
			       "Connection: Upgrade\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n"), 400);
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: a\r\n"
			       GOOD_LINES "\r\n"), 400);

	/* Connection missing, or without "upgrade". */
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: websocket\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n"), 400);
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: websocket\r\n"
			       "Connection: keep-alive\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n"), 400);
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: websocket\r\n"
			       "Connection: upgrades\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n"), 400);
}

static void test_version(void **state)
{
	static const char *const prefix =
		"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY "\r\n";
	static const struct {
		const char *lines;
		int status;
	} cases[] = {
		{ "Sec-WebSocket-Version: 13\r\n", 101 },
		{ "Sec-WebSocket-Version:   13 \t\r\n", 101 },
		{ "Sec-WebSocket-Version: 8\r\n", 426 },
		{ "", 426 },
		{ "Sec-WebSocket-Version: 130\r\n", 426 },
		{ "Sec-WebSocket-Version: 1\r\n", 426 },
		{ "Sec-WebSocket-Version: 13, 8\r\n", 426 },
		{ "Sec-WebSocket-Version:\r\n", 426 },
		{ "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n",
		  400 },
		{ "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Version: 13\r\n",
		  400 },
	};
	char head[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(head, sizeof(head), "%s%s\r\n", prefix,
			 cases[i].lines);
		assert_int_equal(check(head), cases[i].status);
	}
}

/* A malformed request with a bad version is a 400: those come first. */
static void test_400_before_426(void **state)
{
	(void)state;
	assert_int_equal(check("POST / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			       "Sec-WebSocket-Key: " RFC_KEY "\r\n"
			       "Sec-WebSocket-Version: 8\r\n\r\n"), 400);
	assert_int_equal(check("GET / HTTP/1.1\r\nHost: h\r\n"
			       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			       "Sec-WebSocket-Key: short\r\n\r\n"), 400);
}

static void test_key(void **state)
{
	static const char *const prefix =
		"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
	static const struct {
		const char *lines;
		int status;
	} cases[] = {
		{ "Sec-WebSocket-Key: " RFC_KEY "\r\n", 101 },
		{ "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n", 101 },
		{ "Sec-WebSocket-Key: +/+/+/+/+/+/+/+/+/+/+w==\r\n", 101 },
		{ "Sec-WebSocket-Key:  " RFC_KEY " \r\n", 101 },
		{ "", 400 },					/* missing */
		{ "Sec-WebSocket-Key:\r\n", 400 },		/* empty */
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n", 400 },
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\n", 400 },
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n", 400 },
		/* base64url, not base64 */
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25-ZQ==\r\n", 400 },
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25_ZQ==\r\n", 400 },
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2*jZQ==\r\n", 400 },
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2 jZQ==\r\n", 400 },
		/* 15 bytes: 20 characters, no padding */
		{ "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n", 400 },
		/* 17 bytes: 23 characters and one '=' */
		{ "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n", 400 },
		/* 18 bytes: 24 characters, no padding */
		{ "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n", 400 },
		/* '=' inside the data */
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBu=25jZQ==\r\n", 400 },
		/* 'R' leaves bits set past the 16th byte: not canonical */
		{ "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n", 400 },
		{ "Sec-WebSocket-Key: " RFC_KEY "\r\n"
		  "Sec-WebSocket-Key: " RFC_KEY "\r\n", 400 },
	};
	char head[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(head, sizeof(head), "%s%s\r\n", prefix,
			 cases[i].lines);
		print_message("key case %zu\n", i);
		assert_int_equal(check(head), cases[i].status);
	}
}

static void test_protocol(void **state)
{
	static const char *const ours[] = { "chat", "superchat" };
	static const struct {
		const char *lines;
		int want;
	} cases[] = {
		{ "Sec-WebSocket-Protocol: superchat, chat\r\n", 0 },
		{ "Sec-WebSocket-Protocol: superchat\r\n", 1 },
		{ "Sec-WebSocket-Protocol: foo,superchat\r\n", 1 },
		{ "Sec-WebSocket-Protocol: foo\r\n"
		  "Sec-WebSocket-Protocol: bar, superchat\r\n", 1 },
		{ "Sec-WebSocket-Protocol: superchat\r\n"
		  "sec-websocket-protocol: chat\r\n", 0 },
		{ "Sec-WebSocket-Protocol: foo, bar\r\n", -1 },
		{ "Sec-WebSocket-Protocol: CHAT\r\n", -1 },
		{ "Sec-WebSocket-Protocol: Chat, SuperChat\r\n", -1 },
		{ "Sec-WebSocket-Protocol: chatty, xchat, superchat2\r\n", -1 },
		{ "Sec-WebSocket-Protocol: ,\r\n", -1 },
		{ "", -1 },
	};
	char head[512];
	struct rc_upgrade out;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(head, sizeof(head), "GET / HTTP/1.1\r\n" GOOD_LINES
			 "%s\r\n", cases[i].lines);
		out.protocol = 42;
		assert_int_equal(check_with(head, ours, 2, &out), 101);
		assert_int_equal(out.protocol, cases[i].want);
	}

	/* A server with no subprotocols picks none, whatever is offered. */
	out.protocol = 42;
	assert_int_equal(check_with("GET / HTTP/1.1\r\n" GOOD_LINES
				    "Sec-WebSocket-Protocol: chat\r\n\r\n",
				    NULL, 0, &out), 101);
	assert_int_equal(out.protocol, -1);
}

static void test_upgrade_response(void **state)
{
	static const char want[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
		"\r\n";
	static const char want_proto[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
		"Sec-WebSocket-Protocol: chat\r\n"
		"\r\n";
	char buf[256], big[65];

	(void)state;
	assert_int_equal(rc_upgrade_response(buf, sizeof(buf), RFC_KEY, 24,
					     NULL), (int)sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	assert_int_equal(rc_upgrade_response(buf, sizeof(buf), RFC_KEY, 24,
					     "chat"),
			 (int)sizeof(want_proto) - 1);
	assert_memory_equal(buf, want_proto, sizeof(want_proto) - 1);

	/* A buffer exactly the size of the response is enough. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rc_upgrade_response(buf, sizeof(want) - 1, RFC_KEY,
					     24, NULL), (int)sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	assert_int_equal(rc_upgrade_response(buf, sizeof(want) - 2, RFC_KEY,
					     24, NULL), -ENOSPC);
	assert_int_equal(rc_upgrade_response(buf, 0, RFC_KEY, 24, NULL),
			 -ENOSPC);

	/* The documented 256 bytes hold a 64-byte subprotocol name. */
	memset(big, 'p', 64);
	big[64] = '\0';
	assert_true(rc_upgrade_response(buf, sizeof(buf), RFC_KEY, 24, big) >
		    0);
	assert_true(contains(buf, sizeof(buf), big));
}

/* Parse "Content-Length: N" out of a response head. */
static long content_length(const char *buf, size_t n)
{
	const char *p = memmem(buf, n, "\r\nContent-Length: ", 18);
	long v = -1;

	if (p)
		sscanf(p + 18, "%ld", &v);
	return v;
}

static size_t head_len(const char *buf, size_t n)
{
	const char *p = memmem(buf, n, "\r\n\r\n", 4);

	assert_non_null(p);
	return (size_t)(p + 4 - buf);
}

static void test_http_response_404(void **state)
{
	static const char want[] =
		"HTTP/1.1 404 Not Found\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Length: 10\r\n"
		"Connection: keep-alive\r\n"
		"\r\n"
		"not found\n";
	char buf[256];

	(void)state;
	assert_int_equal(rc_http_response(buf, sizeof(buf), 404, NULL,
					  "not found\n", 10, 1, 0),
			 (int)sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);

	/* Exactly enough room, then one byte less. */
	assert_int_equal(rc_http_response(buf, sizeof(want) - 1, 404, NULL,
					  "not found\n", 10, 1, 0),
			 (int)sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	assert_int_equal(rc_http_response(buf, sizeof(want) - 2, 404, NULL,
					  "not found\n", 10, 1, 0), -ENOSPC);
}

static void test_http_response_426(void **state)
{
	static const char body[] = "WebSocket version 13 only\n";
	char buf[512];
	int n;

	(void)state;
	n = rc_http_response(buf, sizeof(buf), 426, NULL, body,
			     sizeof(body) - 1, 0, 0);
	assert_true(n > 0);
	assert_memory_equal(buf, "HTTP/1.1 426 Upgrade Required\r\n", 31);
	assert_true(contains(buf, n, "\r\nSec-WebSocket-Version: 13\r\n"));
	assert_true(contains(buf, n, "\r\nConnection: close\r\n"));
	assert_false(contains(buf, n, "keep-alive"));
	assert_int_equal(content_length(buf, n), sizeof(body) - 1);
	assert_int_equal(head_len(buf, n) + sizeof(body) - 1, n);
	assert_memory_equal(buf + n - (sizeof(body) - 1), body,
			    sizeof(body) - 1);
}

static void test_http_response_head(void **state)
{
	static const char body[] = "<h1>hello</h1>";
	char get[256], head[256];
	int ng, nh;

	(void)state;
	ng = rc_http_response(get, sizeof(get), 200, "text/html", body,
			      sizeof(body) - 1, 1, 0);
	memset(head, 'Z', sizeof(head));
	nh = rc_http_response(head, sizeof(head), 200, "text/html", body,
			      sizeof(body) - 1, 1, 1);
	assert_true(ng > 0 && nh > 0);
	/* HEAD: the same head, Content-Length of the GET body, no body. */
	assert_int_equal(nh, ng - (int)(sizeof(body) - 1));
	assert_int_equal(head_len(head, nh), nh);
	assert_memory_equal(head, get, nh);
	assert_int_equal(content_length(head, nh), sizeof(body) - 1);
	assert_true(contains(head, nh, "\r\nContent-Type: text/html\r\n"));
	/* Past the head only snprintf's NUL: no body bytes were written. */
	for (size_t i = nh + 1; i < nh + sizeof(body); i++)
		assert_int_equal(head[i], 'Z');
	assert_false(contains(get, ng, "Allow:"));
	assert_false(contains(get, ng, "Sec-WebSocket-Version"));

	/* A HEAD reply needs room for the head only. */
	assert_int_equal(rc_http_response(head, nh, 200, "text/html", body,
					  sizeof(body) - 1, 1, 1), nh);
	assert_int_equal(rc_http_response(head, nh - 1, 200, "text/html",
					  body, sizeof(body) - 1, 1, 1),
			 -ENOSPC);
}

static void test_http_response_misc(void **state)
{
	char buf[256];
	int n;

	(void)state;
	n = rc_http_response(buf, sizeof(buf), 405, NULL, NULL, 0, 1, 0);
	assert_true(n > 0);
	assert_true(contains(buf, n, "\r\nAllow: GET, HEAD\r\n"));
	assert_int_equal(content_length(buf, n), 0);
	assert_int_equal(head_len(buf, n), n);

	/* 204 carries no Content-Length and no body (RFC 9110 §8.6). */
	n = rc_http_response(buf, sizeof(buf), 204, NULL, "x", 1, 1, 0);
	assert_true(n > 0);
	assert_memory_equal(buf, "HTTP/1.1 204 No Content\r\n", 25);
	assert_int_equal(content_length(buf, n), -1);
	assert_int_equal(head_len(buf, n), n);

	/* Too small for the head at all. */
	assert_int_equal(rc_http_response(buf, 10, 200, NULL, "x", 1, 1, 0),
			 -ENOSPC);
	assert_int_equal(rc_http_response(buf, 0, 200, NULL, NULL, 0, 1, 0),
			 -ENOSPC);
	assert_int_equal(rc_http_response(buf, sizeof(buf), 42, NULL, NULL, 0,
					  1, 0), -EINVAL);
}

static void test_reason(void **state)
{
	(void)state;
	assert_string_equal(rc_http_reason(101), "Switching Protocols");
	assert_string_equal(rc_http_reason(200), "OK");
	assert_string_equal(rc_http_reason(400), "Bad Request");
	assert_string_equal(rc_http_reason(404), "Not Found");
	assert_string_equal(rc_http_reason(426), "Upgrade Required");
	assert_string_equal(rc_http_reason(431),
			    "Request Header Fields Too Large");
	assert_string_equal(rc_http_reason(503), "Service Unavailable");
	assert_string_equal(rc_http_reason(299), "Unknown");
}

/* Parse, check, answer: the path a worker takes for a browser. */
static void test_end_to_end(void **state)
{
	static const char *const ours[] = { "chat" };
	static const char head[] =
		"GET /chat HTTP/1.1\r\n" GOOD_LINES
		"Sec-WebSocket-Protocol: chat, superchat\r\n\r\n";
	struct rc_upgrade up;
	struct parsed p;
	char buf[256];
	int n;

	(void)state;
	parse_ok(head, &p);
	assert_int_equal(rc_upgrade_check(&p.req, ours, 1, &up), 101);
	assert_int_equal(up.protocol, 0);
	n = rc_upgrade_response(buf, sizeof(buf), up.key.p, up.key.n,
				ours[up.protocol]);
	assert_true(n > 0);
	assert_true(contains(buf, n, "\r\nSec-WebSocket-Accept: " RFC_ACCEPT
			     "\r\n"));
	assert_true(contains(buf, n, "\r\nSec-WebSocket-Protocol: chat\r\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_accept_key_too_long),
		cmocka_unit_test(test_sha1_vs_openssl),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_connection_list),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_not_upgrade),
		cmocka_unit_test(test_bad_request),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_400_before_426),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_upgrade_response),
		cmocka_unit_test(test_http_response_404),
		cmocka_unit_test(test_http_response_426),
		cmocka_unit_test(test_http_response_head),
		cmocka_unit_test(test_http_response_misc),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_end_to_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
