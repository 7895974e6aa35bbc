/* SPDX-License-Identifier: MIT */
/* test_pmd.c -- permessage-deflate negotiation (RFC 7692 §5, §7.1). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proto/http.h"
#include "proto/pmd.h"

#define MAX_HDR 32
#define SHARED 0	/* policy window_bits of the shared mode */

/* The answer to every acceptable offer in shared mode. */
#define SHARED_ANSWER \
	"permessage-deflate; server_no_context_takeover; " \
	"client_no_context_takeover"

static const char ans_prefix[] = "Sec-WebSocket-Extensions: ";

/* Expected parameters (on is implied). */
static struct rc_pmd_params P(bool snc, bool cnc, int sb, int cb, bool asb,
			      bool acb)
{
	return (struct rc_pmd_params){
		.on = true,
		.server_no_context = snc,
		.client_no_context = cnc,
		.server_bits = (uint8_t)sb,
		.client_bits = (uint8_t)cb,
		.answer_server_bits = asb,
		.answer_client_bits = acb,
	};
}

/* What shared mode agrees to: the server's window as offered, or 15. */
static struct rc_pmd_params shared_p(int server_bits)
{
	return P(true, true, server_bits ? server_bits : 15, 15,
		 server_bits != 0, false);
}

static int neg_n(const char *v, size_t len, int w, struct rc_pmd_params *p)
{
	struct rc_pmd_policy pol = { .window_bits = (uint8_t)w };

	/* Garbage first: a declined value must leave *p all zero. */
	memset(p, 1, sizeof(*p));
	return rc_pmd_negotiate_value(v, len, &pol, p);
}

static int neg(const char *v, int w, struct rc_pmd_params *p)
{
	return neg_n(v, strlen(v), w, p);
}

static void show(const char *what, const struct rc_pmd_params *p)
{
	print_error("%s: on %d snc %d cnc %d sbits %d cbits %d asb %d acb %d\n",
		    what, p->on, p->server_no_context, p->client_no_context,
		    p->server_bits, p->client_bits, p->answer_server_bits,
		    p->answer_client_bits);
}

static void check_params(const struct rc_pmd_params *got,
			 const struct rc_pmd_params *want, const char *v,
			 int w, int line)
{
	if (memcmp(got, want, sizeof(*got))) {
		show("got ", got);
		show("want", want);
		fail_msg("line %d: '%s' (window_bits %d): wrong parameters",
			 line, v, w);
	}
}

/* @v[0..@len) declined under @w: 0, and *out all zero. */
static void declined_n(const char *v, size_t len, int w, int line)
{
	struct rc_pmd_params p, zero;

	memset(&zero, 0, sizeof(zero));
	if (neg_n(v, len, w, &p) != 0)
		fail_msg("line %d: '%s' (window_bits %d) accepted", line, v,
			 w);
	check_params(&p, &zero, v, w, line);
}

#define DECLINED(v, w) declined_n(v, strlen(v), w, __LINE__)

/* @v accepted under @w with @want, and the answer line is @ans. */
static void accepted(const char *v, int w, struct rc_pmd_params want,
		     const char *ans, int line)
{
	struct rc_pmd_params p;
	char buf[RC_PMD_ANSWER_MAX], exp[RC_PMD_ANSWER_MAX];
	size_t n;

	if (neg(v, w, &p) != 1)
		fail_msg("line %d: '%s' (window_bits %d) declined", line, v,
			 w);
	check_params(&p, &want, v, w, line);
	if (!ans)
		return;
	n = rc_pmd_answer(&p, buf, sizeof(buf));
	snprintf(exp, sizeof(exp), "%s%s\r\n", ans_prefix, ans);
	if (n != strlen(exp) || strcmp(buf, exp))
		fail_msg("line %d: '%s' (window_bits %d): answer '%s' (%zu), "
			 "want '%s'", line, v, w, buf, n, exp);
}

#define ACCEPTED(v, w, want, ans) accepted(v, w, want, ans, __LINE__)

/* A request head with @lines (each "Name: value\r\n") parsed into @req. */
struct parsed {
	char head[4096];
	struct rc_http_request req;
	struct rc_http_header headers[MAX_HDR];
};

static void parse_head(struct parsed *p, const char *lines)
{
	int n = snprintf(p->head, sizeof(p->head),
			 "GET /chat HTTP/1.1\r\nHost: example.com\r\n%s\r\n",
			 lines);

	assert_true(n > 0 && (size_t)n < sizeof(p->head));
	p->req.headers = p->headers;
	p->req.max_headers = MAX_HDR;
	assert_int_equal(rc_http_parse(p->head, (size_t)n, 0, &p->req), n);
}

/* rc_pmd_negotiate() on a head with @lines under @w. */
static int negotiate_head(const char *lines, int w, struct rc_pmd_params *out)
{
	struct rc_pmd_policy pol = { .window_bits = (uint8_t)w };
	struct parsed p;

	parse_head(&p, lines);
	memset(out, 1, sizeof(*out));
	return rc_pmd_negotiate(&p.req, &pol, out);
}

/* ---- what real clients send ------------------------------------------ */

static void test_clients_shared(void **state)
{
	(void)state;
	/* Chrome, python websockets, node ws */
	ACCEPTED("permessage-deflate; client_max_window_bits", SHARED,
		 shared_p(0), SHARED_ANSWER);
	/* Firefox, Safari */
	ACCEPTED("permessage-deflate", SHARED, shared_p(0), SHARED_ANSWER);
	/* websockets with its defaults spelled out, as some versions send */
	ACCEPTED("permessage-deflate; server_max_window_bits=12; "
		 "client_max_window_bits=12", SHARED, shared_p(12),
		 SHARED_ANSWER "; server_max_window_bits=12");
	/* old Safari: another extension only */
	DECLINED("x-webkit-deflate-frame", SHARED);
}

static void test_clients_dedicated(void **state)
{
	(void)state;
	ACCEPTED("permessage-deflate; client_max_window_bits", 15,
		 P(false, false, 15, 15, true, true),
		 "permessage-deflate; server_max_window_bits=15; "
		 "client_max_window_bits=15");
	ACCEPTED("permessage-deflate", 15, P(false, false, 15, 15, true, false),
		 "permessage-deflate; server_max_window_bits=15");
	ACCEPTED("permessage-deflate; client_max_window_bits", 10,
		 P(false, false, 10, 10, true, true),
		 "permessage-deflate; server_max_window_bits=10; "
		 "client_max_window_bits=10");
	ACCEPTED("permessage-deflate", 9, P(false, false, 9, 15, true, false),
		 "permessage-deflate; server_max_window_bits=9");
	DECLINED("x-webkit-deflate-frame", 15);
}

/* ---- offers, in order -------------------------------------------------- */

static void test_first_acceptable(void **state)
{
	(void)state;
	ACCEPTED("permessage-deflate; foo, permessage-deflate", SHARED,
		 shared_p(0), SHARED_ANSWER);
	/* the second is taken, not the first */
	ACCEPTED("permessage-deflate; server_max_window_bits=7, "
		 "permessage-deflate; server_max_window_bits=10", SHARED,
		 shared_p(10), NULL);
	/* the first of two acceptable ones wins */
	ACCEPTED("permessage-deflate; server_max_window_bits=9, "
		 "permessage-deflate; server_max_window_bits=10", SHARED,
		 shared_p(9), NULL);
	ACCEPTED("permessage-deflate; client_max_window_bits=12, "
		 "permessage-deflate", 15, P(false, false, 15, 12, true, true),
		 NULL);
	ACCEPTED("permessage-deflate; foo=1, permessage-deflate; bar, "
		 "permessage-deflate; client_no_context_takeover", 11,
		 P(false, true, 11, 15, true, false),
		 "permessage-deflate; client_no_context_takeover; "
		 "server_max_window_bits=11");
	DECLINED("permessage-deflate; foo, permessage-deflate; bar", SHARED);
}

/* A comma inside a quoted-string does not end the element. */
static void test_quoted_comma(void **state)
{
	(void)state;
	/* Split at that comma, "0\", permessage-deflate" would open a
	   quoted-string that never ends and nothing would be accepted. */
	ACCEPTED("permessage-deflate; server_max_window_bits=\"1,0\", "
		 "permessage-deflate", SHARED, shared_p(0), NULL);
	ACCEPTED("x-foo; a=\"b, c\\\", d\", permessage-deflate; "
		 "server_max_window_bits=13", SHARED, shared_p(13), NULL);
	/* an escaped quote does not close it either */
	DECLINED("x-foo; a=\"b\\\", permessage-deflate", SHARED);
}

/* ---- several header lines -------------------------------------------- */

static void test_header_lines(void **state)
{
	struct rc_pmd_params p, want;

	(void)state;
	/* the first line has nothing acceptable; the second is taken */
	assert_int_equal(negotiate_head(
		"Sec-WebSocket-Extensions: x-foo, permessage-deflate; bogus\r\n"
		"Sec-WebSocket-Extensions: permessage-deflate; "
		"server_max_window_bits=11\r\n", SHARED, &p), 2);
	want = shared_p(11);
	check_params(&p, &want, "two lines", SHARED, __LINE__);

	/* the first line's offer wins; offers on later lines still count */
	assert_int_equal(negotiate_head(
		"Sec-WebSocket-Extensions: permessage-deflate; "
		"client_max_window_bits=9\r\n"
		"Upgrade: websocket\r\n"
		"sec-websocket-extensions: permessage-deflate, "
		"PERMESSAGE-DEFLATE; x\r\n", 12, &p), 3);
	want = P(false, false, 12, 9, true, true);
	check_params(&p, &want, "three offers", 12, __LINE__);

	/* all declined: counted, off */
	assert_int_equal(negotiate_head(
		"Sec-WebSocket-Extensions: permessage-deflate; a\r\n"
		"Sec-WebSocket-Extensions: permessage-deflate; b, x-y\r\n",
		SHARED, &p), 2);
	assert_false(p.on);
	assert_int_equal(p.server_bits, 0);

	/* counted: an element named permessage-deflate, however bad the
	   rest; not counted: other names, or none */
	assert_int_equal(negotiate_head(
		"Sec-WebSocket-Extensions: permessage-deflate\"\", "
		"\"permessage-deflate\", x-permessage-deflate, "
		"permessage-deflatex, ;permessage-deflate, "
		"permessage-deflate;;\r\n", SHARED, &p), 2);
	assert_false(p.on);

	/* no extension header, an empty one, another name */
	assert_int_equal(negotiate_head("", SHARED, &p), 0);
	assert_false(p.on);
	assert_int_equal(negotiate_head("Sec-WebSocket-Extensions:\r\n",
					SHARED, &p), 0);
	assert_false(p.on);
	assert_int_equal(negotiate_head(
		"Sec-WebSocket-Protocol: permessage-deflate\r\n"
		"X-Sec-WebSocket-Extensions: permessage-deflate\r\n",
		SHARED, &p), 0);
	assert_false(p.on);
	assert_int_equal(p.client_bits, 0);

	/* an offer the policy cannot honour is still an offer seen */
	assert_int_equal(negotiate_head(
		"Sec-WebSocket-Extensions: permessage-deflate; "
		"server_max_window_bits=8\r\n", 15, &p), 1);
	assert_false(p.on);
	assert_int_equal(negotiate_head(
		"Sec-WebSocket-Extensions: permessage-deflate; "
		"server_max_window_bits=8\r\n", SHARED, &p), 1);
	want = shared_p(8);
	check_params(&p, &want, "8 shared", SHARED, __LINE__);
}

/* ---- parameter values ------------------------------------------------- */

static void test_quoted_values(void **state)
{
	(void)state;
	ACCEPTED("permessage-deflate; server_max_window_bits=\"10\"", SHARED,
		 shared_p(10), SHARED_ANSWER "; server_max_window_bits=10");
	ACCEPTED("permessage-deflate; client_max_window_bits=\"12\"", 15,
		 P(false, false, 15, 12, true, true),
		 "permessage-deflate; server_max_window_bits=15; "
		 "client_max_window_bits=12");
	/* quoted-pairs are unescaped first (RFC 6455 §9.1) */
	ACCEPTED("permessage-deflate; server_max_window_bits=\"\\1\\1\"",
		 SHARED, shared_p(11), NULL);
	ACCEPTED("permessage-deflate; server_max_window_bits=\"1\\4\"", 15,
		 P(false, false, 14, 15, true, false), NULL);
}

static void test_bad_quoted(void **state)
{
	static const char *const bad[] = {
		"permessage-deflate; server_max_window_bits=\"10",
		"permessage-deflate; server_max_window_bits=\"10\\\"",
		"permessage-deflate; server_max_window_bits=\"10\\",
		"permessage-deflate; server_max_window_bits=\"\"",
		"permessage-deflate; server_max_window_bits=\" 10\"",
		"permessage-deflate; server_max_window_bits=\"10 \"",
		"permessage-deflate; server_max_window_bits=\"10\"x",
		"permessage-deflate; server_max_window_bits=\"10\"\"\"",
		"permessage-deflate; server_max_window_bits=\"1\"0",
		"permessage-deflate; server_max_window_bits=1\"0\"",
		"permessage-deflate; server_max_window_bits=\"010\"",
		"permessage-deflate; server_max_window_bits=\"16\"",
		"permessage-deflate; server_max_window_bits=\"1\t0\"",
		"permessage-deflate; server_max_window_bits=1\\0",
		"permessage-deflate; client_max_window_bits=\"\"",
		"permessage-deflate; client_max_window_bits=\"7\"",
		"permessage-deflate; client_max_window_bits=\"abc\"",
		"permessage-deflate; \"server_max_window_bits\"=10",
		"permessage-deflate; server_no_context_takeover=\"\"",
		"\"permessage-deflate\"",
		"permessage-deflate\"\"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		DECLINED(bad[i], SHARED);
		DECLINED(bad[i], 15);
	}
}

static void test_duplicates(void **state)
{
	static const char *const dup[] = {
		"permessage-deflate; server_no_context_takeover; "
		"server_no_context_takeover",
		"permessage-deflate; client_no_context_takeover; "
		"client_no_context_takeover",
		"permessage-deflate; server_max_window_bits=10; "
		"server_max_window_bits=10",
		"permessage-deflate; client_max_window_bits; "
		"client_max_window_bits",
		"permessage-deflate; client_max_window_bits=9; "
		"CLIENT_MAX_WINDOW_BITS=9",
		"permessage-deflate; client_max_window_bits; "
		"server_no_context_takeover; client_max_window_bits=10",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(dup) / sizeof(dup[0]); i++) {
		DECLINED(dup[i], SHARED);
		DECLINED(dup[i], 12);
	}
}

static void test_window_values(void **state)
{
	static const char *const bad[] = {
		"7", "16", "010", "08", "0", "00", "", "-1", "+9", "1e1",
		"0x0a", "9.0", "10a", "a10", "100", "99999999999999999999",
		"255", "264",	/* 264 mod 256 is 8 */
	};
	char v[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(v, sizeof(v),
			 "permessage-deflate; server_max_window_bits=%s",
			 bad[i]);
		DECLINED(v, SHARED);
		DECLINED(v, 15);
		snprintf(v, sizeof(v),
			 "permessage-deflate; client_max_window_bits=%s",
			 bad[i]);
		DECLINED(v, SHARED);
		DECLINED(v, 15);
	}
	/* server_max_window_bits needs a value; client_* may go without */
	DECLINED("permessage-deflate; server_max_window_bits", SHARED);
	DECLINED("permessage-deflate; server_max_window_bits", 15);
	DECLINED("permessage-deflate; server_max_window_bits=", SHARED);
	DECLINED("permessage-deflate; client_max_window_bits=", SHARED);
	DECLINED("permessage-deflate; client_max_window_bits=;", SHARED);

	/* every valid value, each mode */
	for (int n = 8; n <= 15; n++) {
		snprintf(v, sizeof(v),
			 "permessage-deflate; server_max_window_bits=%d", n);
		ACCEPTED(v, SHARED, shared_p(n), NULL);
		snprintf(v, sizeof(v),
			 "permessage-deflate; client_max_window_bits=%d", n);
		/* shared mode does not answer client_max_window_bits */
		ACCEPTED(v, SHARED, shared_p(0), SHARED_ANSWER);
		ACCEPTED(v, 15, P(false, false, 15, n, true, true), NULL);
	}
}

static void test_no_context_values(void **state)
{
	static const char *const bad[] = {
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; client_no_context_takeover=1",
		"permessage-deflate; server_no_context_takeover=",
		"permessage-deflate; client_no_context_takeover=\"\"",
		"permessage-deflate; client_no_context_takeover = true",
		"permessage-deflate; server_no_context_takeover=10",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		DECLINED(bad[i], SHARED);
		DECLINED(bad[i], 10);
	}
}

static void test_unknown_params(void **state)
{
	static const char *const bad[] = {
		"permessage-deflate; foo",
		"permessage-deflate; foo=1",
		"permessage-deflate; server_max_window_bit=10",
		"permessage-deflate; server_max_window_bitsx=10",
		"permessage-deflate; client_no_context",
		"permessage-deflate; x-webkit-deflate-frame",
		"permessage-deflate;",
		"permessage-deflate;;",
		"permessage-deflate; ; client_max_window_bits",
		"permessage-deflate; =10",
		"permessage-deflate x",
		"permessage-deflate client_max_window_bits",
		"permessage-deflate; client_max_window_bits 10",
		"permessage-deflate; client_max_window_bits=10 10",
		"permessage-deflate; client_max_window_bits==10",
		"permessage-deflate; server_max_window_bits=1 0",
		"permessage-deflate=1",
		"permessage-deflate; client_max_window_bits=10; @",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		DECLINED(bad[i], SHARED);
		DECLINED(bad[i], 15);
	}
}

/* ---- around the offer ------------------------------------------------- */

static void test_other_extensions(void **state)
{
	(void)state;
	ACCEPTED("x-webkit-deflate-frame, permessage-deflate", SHARED,
		 shared_p(0), SHARED_ANSWER);
	ACCEPTED("permessage-deflate, x-webkit-deflate-frame", SHARED,
		 shared_p(0), SHARED_ANSWER);
	/* another extension's parameters are not ours to judge */
	ACCEPTED("foo; a=\"x y\"; b; c=%%%, permessage-deflate; "
		 "server_max_window_bits=12, bar", SHARED, shared_p(12), NULL);
	ACCEPTED("mux; max-channels=4; flow-control, permessage-deflate; "
		 "client_no_context_takeover", 13,
		 P(false, true, 13, 15, true, false), NULL);
	/* names that only look like ours */
	DECLINED("permessage-deflatex", SHARED);
	DECLINED("x-permessage-deflate", SHARED);
	DECLINED("permessage-deflate-x; client_max_window_bits", SHARED);
	DECLINED("permessage_deflate", SHARED);
	DECLINED("permessage -deflate", SHARED);
	DECLINED("deflate", SHARED);
}

static void test_case(void **state)
{
	(void)state;
	ACCEPTED("PerMessage-Deflate; Server_Max_Window_Bits=10; "
		 "CLIENT_NO_CONTEXT_TAKEOVER; Client_Max_Window_Bits", 12,
		 P(false, true, 10, 12, true, true),
		 "permessage-deflate; client_no_context_takeover; "
		 "server_max_window_bits=10; client_max_window_bits=12");
	ACCEPTED("PERMESSAGE-DEFLATE; SERVER_NO_CONTEXT_TAKEOVER", 14,
		 P(true, false, 14, 15, true, false),
		 "permessage-deflate; server_no_context_takeover; "
		 "server_max_window_bits=14");
	ACCEPTED("permessage-DEFLATE", SHARED, shared_p(0), SHARED_ANSWER);
}

static void test_whitespace(void **state)
{
	(void)state;
	ACCEPTED("  permessage-deflate  ;  server_max_window_bits  =  10  ;"
		 "\tclient_max_window_bits\t,  ", 15,
		 P(false, false, 10, 15, true, true), NULL);
	ACCEPTED("permessage-deflate;server_max_window_bits=9;"
		 "client_no_context_takeover", 15,
		 P(false, true, 9, 15, true, false), NULL);
	ACCEPTED("\tpermessage-deflate\t;\tserver_max_window_bits\t=\t\"11\"\t",
		 SHARED, shared_p(11), NULL);
	/* empty list elements are allowed */
	ACCEPTED(", ,\t,permessage-deflate , ,", SHARED, shared_p(0),
		 SHARED_ANSWER);
	ACCEPTED("x-foo ,permessage-deflate,", 10,
		 P(false, false, 10, 15, true, false), NULL);
	/* only SP and HTAB are whitespace */
	DECLINED("permessage-deflate\r", SHARED);
	DECLINED("permessage-deflate;\nclient_max_window_bits", SHARED);
	DECLINED("permessage-deflate;\vclient_max_window_bits", SHARED);
}

/* ---- dedicated mode --------------------------------------------------- */

static void test_dedicated_windows(void **state)
{
	char v[160];

	(void)state;
	for (int w = 9; w <= 15; w++) {
		ACCEPTED("permessage-deflate", w,
			 P(false, false, w, 15, true, false), NULL);
		ACCEPTED("permessage-deflate; client_max_window_bits", w,
			 P(false, false, w, w, true, true), NULL);
		ACCEPTED("permessage-deflate; server_no_context_takeover; "
			 "client_no_context_takeover", w,
			 P(true, true, w, 15, true, false), NULL);
		for (int n = 8; n <= 15; n++) {
			int m = n < w ? n : w;

			snprintf(v, sizeof(v),
				 "permessage-deflate; server_max_window_bits=%d",
				 n);
			if (m == 8)
				DECLINED(v, w);
			else
				ACCEPTED(v, w,
					 P(false, false, m, 15, true, false),
					 NULL);
			snprintf(v, sizeof(v),
				 "permessage-deflate; client_max_window_bits=%d",
				 n);
			ACCEPTED(v, w, P(false, false, w, m, true, true), NULL);
		}
	}
}

static void test_server_bits_8(void **state)
{
	(void)state;
	/* shared: the core compresses only messages that fit 256 bytes */
	ACCEPTED("permessage-deflate; server_max_window_bits=8", SHARED,
		 shared_p(8), SHARED_ANSWER "; server_max_window_bits=8");
	/* dedicated: zlib cannot, so the next offer is taken */
	for (int w = 9; w <= 15; w++) {
		DECLINED("permessage-deflate; server_max_window_bits=8", w);
		DECLINED("permessage-deflate; server_max_window_bits=\"8\"; "
			 "client_max_window_bits", w);
		ACCEPTED("permessage-deflate; server_max_window_bits=8, "
			 "permessage-deflate", w,
			 P(false, false, w, 15, true, false), NULL);
	}
}

/* A policy that is neither shared nor 9..15 accepts nothing. */
static void test_bad_policy(void **state)
{
	static const int bad[] = { 1, 8, 16, 255 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		DECLINED("permessage-deflate", bad[i]);
}

/* ---- the answer line -------------------------------------------------- */

static void test_answer(void **state)
{
	struct rc_pmd_params p = P(true, true, 12, 11, true, true);
	static const char all[] =
		"Sec-WebSocket-Extensions: permessage-deflate; "
		"server_no_context_takeover; client_no_context_takeover; "
		"server_max_window_bits=12; client_max_window_bits=11\r\n";
	char buf[RC_PMD_ANSWER_MAX + 8];
	size_t len = sizeof(all) - 1;

	(void)state;
	/* the longest there is fits RC_PMD_ANSWER_MAX with its NUL */
	assert_int_equal(len, 156);
	assert_true(len < RC_PMD_ANSWER_MAX);
	assert_int_equal(rc_pmd_answer(&p, buf, RC_PMD_ANSWER_MAX), len);
	assert_string_equal(buf, all);

	/* exactly enough room, and one byte less */
	memset(buf, '#', sizeof(buf));
	assert_int_equal(rc_pmd_answer(&p, buf, len + 1), len);
	assert_memory_equal(buf, all, len + 1);
	assert_int_equal(buf[len + 1], '#');
	memset(buf, '#', sizeof(buf));
	assert_int_equal(rc_pmd_answer(&p, buf, len), 0);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], '#');
	assert_int_equal(rc_pmd_answer(&p, buf, 0), 0);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], '#');

	/* the order is fixed, whatever the offer's */
	p = P(false, true, 9, 15, false, false);
	assert_int_equal(rc_pmd_answer(&p, buf, sizeof(buf)),
			 strlen(ans_prefix) + 48);
	assert_string_equal(buf, "Sec-WebSocket-Extensions: permessage-deflate; "
				 "client_no_context_takeover\r\n");
	p = P(false, false, 15, 10, false, true);
	rc_pmd_answer(&p, buf, sizeof(buf));
	assert_string_equal(buf, "Sec-WebSocket-Extensions: permessage-deflate; "
				 "client_max_window_bits=10\r\n");
	p = P(false, false, 15, 15, false, false);
	rc_pmd_answer(&p, buf, sizeof(buf));
	assert_string_equal(buf, "Sec-WebSocket-Extensions: "
				 "permessage-deflate\r\n");
	ACCEPTED("permessage-deflate; client_max_window_bits=9; "
		 "client_no_context_takeover; server_max_window_bits=10; "
		 "server_no_context_takeover", 15,
		 P(true, true, 10, 9, true, true),
		 "permessage-deflate; server_no_context_takeover; "
		 "client_no_context_takeover; server_max_window_bits=10; "
		 "client_max_window_bits=9");

	/* off: nothing to say */
	memset(&p, 0, sizeof(p));
	memset(buf, '#', sizeof(buf));
	assert_int_equal(rc_pmd_answer(&p, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], '\0');
}

/* Every answer, read back as an offer under the same policy, agrees to
   the same parameters. */
static void test_answer_reparses(void **state)
{
	static const char *const offers[] = {
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=9",
		"permessage-deflate; server_no_context_takeover; "
		"client_max_window_bits=10",
		"permessage-deflate; client_no_context_takeover; "
		"server_max_window_bits=12; client_max_window_bits=8",
	};
	static const int modes[] = { SHARED, 9, 12, 15 };

	(void)state;
	for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++)
		for (size_t j = 0; j < sizeof(modes) / sizeof(modes[0]); j++) {
			struct rc_pmd_params a, b;
			char buf[RC_PMD_ANSWER_MAX];
			size_t n, pre = strlen(ans_prefix);

			assert_int_equal(neg(offers[i], modes[j], &a), 1);
			n = rc_pmd_answer(&a, buf, sizeof(buf));
			assert_true(n > pre + 2);
			assert_memory_equal(buf, ans_prefix, pre);
			assert_int_equal(neg_n(buf + pre, n - pre - 2,
					       modes[j], &b), 1);
			check_params(&b, &a, buf, modes[j], __LINE__);
		}
}

/* ---- hostile input ---------------------------------------------------- */

static void test_garbage(void **state)
{
	static const char *const junk[] = {
		"", " ", "\t", ",", ",,,", ";", "=", "\"", "\\", "\"\\",
		";permessage-deflate", "=permessage-deflate",
		"\"permessage-deflate, permessage-deflate",
		"\xff\xfe", "permessage-deflate\xff",
		"\xc3\xa9permessage-deflate",
	};
	static const char nul[] = "permessage-deflate\0";
	static const char nul2[] = "x\0, permessage-deflate";
	struct rc_pmd_params p;

	(void)state;
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		DECLINED(junk[i], SHARED);
		DECLINED(junk[i], 15);
	}
	/* a NUL is a byte like any other, not an end */
	declined_n(nul, sizeof(nul) - 1, SHARED, __LINE__);
	assert_int_equal(neg_n(nul2, sizeof(nul2) - 1, SHARED, &p), 1);
	/* the length is obeyed: nothing is read past it */
	declined_n("permessage-deflate", 17, SHARED, __LINE__);
	assert_int_equal(neg_n("permessage-deflate; server_max_window_bits=10",
			       45, SHARED, &p), 1);
	assert_int_equal(p.server_bits, 10);
	declined_n("permessage-deflate; server_max_window_bits=10", 44, SHARED,
		   __LINE__);
	assert_int_equal(neg_n("permessage-deflate; server_max_window_bits=10",
			       44, 15, &p), 0);
}

/* Long hostile values finish (linear work; ctest's timeout is the judge)
   and still find the offer at the end. Each unit leaves the scan outside
   any quoted-string, at the start of an element. */
static void test_long(void **state)
{
	static const char *const units[] = {
		"permessage-deflate; x, ",
		"\"\\,\\\"\", ",
		"a; b=\"\\\"\", ",
		";;;;, ",
		"permessage-deflate; server_max_window_bits=\"1\\\"0,\", ",
		", ",
		" \t",
		"x",
	};
	static const char tail[] = ", permessage-deflate; "
				   "server_max_window_bits=10";
	size_t cap = 4u << 20;
	char *v = malloc(cap);
	struct rc_pmd_params p;

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t ul = strlen(units[i]), n = 0;

		while (n + ul + sizeof(tail) <= cap) {
			memcpy(v + n, units[i], ul);
			n += ul;
		}
		memcpy(v + n, tail, sizeof(tail) - 1);
		n += sizeof(tail) - 1;
		if (neg_n(v, n, SHARED, &p) != 1 || p.server_bits != 10)
			fail_msg("unit '%s': not accepted", units[i]);
		if (neg_n(v, n, 15, &p) != 1 || p.server_bits != 10)
			fail_msg("unit '%s': not accepted (15)", units[i]);
	}
	/* an open quoted-string swallows everything after it */
	for (size_t n = 0; n + 20 <= cap; n += 20)
		memcpy(v + n, "permessage-deflate, ", 20);
	assert_int_equal(neg_n(v, cap, SHARED, &p), 1);
	v[0] = '"';
	assert_int_equal(neg_n(v, cap, SHARED, &p), 0);

	/* many offers, the last one acceptable: every one is counted */
	{
		static const char one[] = "permessage-deflate; x, ";
		size_t n = 0, count = 0;
		char *lines = malloc(1 << 20);
		struct parsed *h = malloc(sizeof(*h));
		struct rc_pmd_policy pol = { 0 };

		assert_non_null(lines);
		assert_non_null(h);
		while (n + sizeof(one) + 64 < (1 << 20)) {
			memcpy(v + n, one, sizeof(one) - 1);
			n += sizeof(one) - 1;
			count++;
		}
		memcpy(v + n, "permessage-deflate", 18);
		n += 18;
		assert_int_equal(neg_n(v, n, SHARED, &p), 1);
		assert_int_equal(neg_n(v, n - 1, SHARED, &p), 0);
		/* the same through a request */
		n = (size_t)snprintf(lines, 1 << 20,
				     "GET / HTTP/1.1\r\nSec-WebSocket-"
				     "Extensions: %.*s\r\n\r\n",
				     (int)n, v);
		h->req.headers = h->headers;
		h->req.max_headers = MAX_HDR;
		assert_int_equal(rc_http_parse(lines, n, 0, &h->req), (int)n);
		assert_int_equal(rc_pmd_negotiate(&h->req, &pol, &p),
				 (int)count + 1);
		assert_true(p.on);
		free(h);
		free(lines);
	}
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clients_shared),
		cmocka_unit_test(test_clients_dedicated),
		cmocka_unit_test(test_first_acceptable),
		cmocka_unit_test(test_quoted_comma),
		cmocka_unit_test(test_header_lines),
		cmocka_unit_test(test_quoted_values),
		cmocka_unit_test(test_bad_quoted),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_window_values),
		cmocka_unit_test(test_no_context_values),
		cmocka_unit_test(test_unknown_params),
		cmocka_unit_test(test_other_extensions),
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_dedicated_windows),
		cmocka_unit_test(test_server_bits_8),
		cmocka_unit_test(test_bad_policy),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_answer_reparses),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
