/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pmd.c -- libFuzzer harness for the permessage-deflate negotiation
 * (src/proto/pmd.c). The input is one Sec-WebSocket-Extensions value,
 * negotiated under the shared policy, each dedicated window 9..15 and a few
 * invalid policies, from a buffer of exactly its size (ASan reports any read
 * past it). Checked:
 *   - the same answer (and offer count) as a reference written apart from
 *     pmd.c: it lexes the whole value first, then reads each element's
 *     lexemes against RFC 6455 §9.1 and RFC 7692 §7.1 as the spec says;
 *   - what each mode may agree to (RFC 7692 §7.1 ranges, the shared mode's
 *     fixed answers, dedicated windows no wider than the policy);
 *   - the answer line is well-formed, fits RC_PMD_ANSWER_MAX, obeys @cap,
 *     and read back as an offer under the same policy agrees to the same;
 *   - the modes agree with each other about which offer they took;
 *   - the same result with another extension put in front, with every
 *     letter's case flipped, with OWS added around ';' '=' ',' outside
 *     quoted-strings, with an acceptable offer appended;
 *   - split on '\n' into Sec-WebSocket-Extensions lines of a request head:
 *     rc_pmd_negotiate() takes the first line that has an acceptable offer
 *     and counts the offers of every line (the reference's sum).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"
#include "proto/pmd.h"
#include "check.h"

/* The metamorphic copies are a few times the input; keep them bounded. */
#define META_MAX 16384
#define MAX_HDR 64

static const char *fuzz_context(void)
{
	return "";
}

static const char prefix[] = "Sec-WebSocket-Extensions: ";

/* ---- the reference ---------------------------------------------------- */

enum lex_kind { L_TOKEN, L_QSTRING, L_SEMI, L_EQ, L_COMMA, L_BAD };

struct lexeme {
	enum lex_kind kind;
	const char *p;		/* L_TOKEN: the token; L_QSTRING: the raw
				   string inside the quotes */
	size_t n;
	bool closed;		/* L_QSTRING: the closing quote was there */
};

static bool ref_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (c >= 0x80 || c <= 0x20)
		return false;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	if (c >= '0' && c <= '9')
		return true;
	return memchr(extra, c, sizeof(extra) - 1) != NULL;
}

/* Lex the whole of @v; OWS (SP, HTAB) between lexemes is dropped. */
static size_t ref_lex(const char *v, size_t len, struct lexeme *out)
{
	size_t i = 0, k = 0;

	while (i < len) {
		unsigned char c = (unsigned char)v[i];
		struct lexeme *l = &out[k];

		if (c == ' ' || c == '\t') {
			i++;
			continue;
		}
		k++;
		l->p = v + i;
		l->n = 1;
		l->closed = false;
		if (c == ';') {
			l->kind = L_SEMI;
		} else if (c == '=') {
			l->kind = L_EQ;
		} else if (c == ',') {
			l->kind = L_COMMA;
		} else if (c == '"') {
			size_t j = i + 1;

			l->kind = L_QSTRING;
			while (j < len && v[j] != '"')
				j += v[j] == '\\' ? 2 : 1;
			if (j > len)
				j = len;
			l->p = v + i + 1;
			l->n = j - i - 1;
			l->closed = j < len;
			i = j + 1;
			continue;
		} else if (ref_tchar(c)) {
			size_t j = i;

			while (j < len && ref_tchar((unsigned char)v[j]))
				j++;
			l->kind = L_TOKEN;
			l->n = j - i;
			i = j;
			continue;
		} else {
			l->kind = L_BAD;
		}
		i++;
	}
	return k;
}

static bool ref_ieq(const char *p, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char a = p[i], b = lit[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a + 32);
		if (a != b)
			return false;
	}
	return true;
}

/* A window-bits value: its text, unescaped if quoted, is one of "8".."15". */
static int ref_bits(const struct lexeme *l)
{
	static const char *const ok[] = { "8", "9", "10", "11", "12", "13",
					  "14", "15" };
	char text[4];
	size_t n = 0;

	if (l->kind == L_TOKEN) {
		if (l->n > 2)
			return -1;
		memcpy(text, l->p, l->n);
		n = l->n;
	} else if (l->kind == L_QSTRING && l->closed) {
		for (size_t i = 0; i < l->n; i++) {
			if (l->p[i] == '\\')
				i++;
			if (n == 3)
				return -1;
			text[n++] = l->p[i];
		}
	} else {
		return -1;
	}
	for (int b = 0; b < 8; b++)
		if (strlen(ok[b]) == n && !memcmp(ok[b], text, n))
			return b + 8;
	return -1;
}

struct ref_offer {
	bool has[4];	/* snc, cnc, smwb, cmwb */
	int bits[4];	/* -1: no value */
};

/* One element's lexemes @l[0..@n): 0 not permessage-deflate, 1 to decline,
   2 a valid offer in *@o. */
static int ref_element(const struct lexeme *l, size_t n, struct ref_offer *o)
{
	static const char *const names[4] = {
		"server_no_context_takeover", "client_no_context_takeover",
		"server_max_window_bits", "client_max_window_bits",
	};
	size_t i = 1;

	memset(o, 0, sizeof(*o));
	if (!n || l[0].kind != L_TOKEN ||
	    !ref_ieq(l[0].p, l[0].n, "permessage-deflate"))
		return 0;
	while (i < n) {
		int k;

		if (l[i].kind != L_SEMI || i + 1 >= n ||
		    l[i + 1].kind != L_TOKEN)
			return 1;
		for (k = 0; k < 4; k++)
			if (ref_ieq(l[i + 1].p, l[i + 1].n, names[k]))
				break;
		if (k == 4 || o->has[k])
			return 1;
		o->has[k] = true;
		o->bits[k] = -1;
		i += 2;
		if (i < n && l[i].kind == L_EQ) {
			if (k < 2 || i + 1 >= n)
				return 1;
			o->bits[k] = ref_bits(&l[i + 1]);
			if (o->bits[k] < 0)
				return 1;
			i += 2;
		}
		if (k == 2 && o->bits[k] < 0)
			return 1;
	}
	return 2;
}

/* RFC 7692 as the spec words it: false to decline. */
static bool ref_agree(const struct ref_offer *o, int w,
		      struct rc_pmd_params *p)
{
	memset(p, 0, sizeof(*p));
	p->on = true;
	if (w == 0) {
		p->server_no_context = true;
		p->client_no_context = true;
		p->server_bits = (uint8_t)(o->has[2] ? o->bits[2] : 15);
		p->answer_server_bits = o->has[2];
		p->client_bits = 15;
		return true;
	}
	if (w < 9 || w > 15)
		return false;
	p->server_no_context = o->has[0];
	p->client_no_context = o->has[1];
	p->server_bits = (uint8_t)(o->has[2] && o->bits[2] < w ? o->bits[2] :
								  w);
	if (p->server_bits == 8)
		return false;
	p->answer_server_bits = true;
	p->client_bits = 15;
	if (o->has[3]) {
		p->client_bits = (uint8_t)(o->bits[3] >= 0 && o->bits[3] < w ?
					   o->bits[3] : w);
		p->answer_client_bits = true;
	}
	return true;
}

/* The reference for one value: accepted or not (*@p), and the number of
   permessage-deflate offers in it. */
static int ref_negotiate(const char *v, size_t len, int w,
			 struct rc_pmd_params *p, int *offers)
{
	struct lexeme *l = malloc((len + 1) * sizeof(*l));
	size_t n = ref_lex(v, len, l), start = 0;
	bool done = false;

	CHECK(l != NULL);
	memset(p, 0, sizeof(*p));
	*offers = 0;
	for (size_t i = 0; i <= n; i++) {
		struct ref_offer o;
		struct rc_pmd_params q;
		int e;

		if (i < n && l[i].kind != L_COMMA)
			continue;
		e = ref_element(l + start, i - start, &o);
		start = i + 1;
		*offers += e != 0;
		if (e == 2 && !done && ref_agree(&o, w, &q)) {
			*p = q;
			done = true;
		}
	}
	free(l);
	return done;
}

/* ---- the implementation's own promises -------------------------------- */

static struct rc_pmd_policy policy(int w)
{
	return (struct rc_pmd_policy){ .window_bits = (uint8_t)w };
}

/* rc_pmd_negotiate_value() on a copy of exactly @len bytes. */
static int negotiate(const char *v, size_t len, int w, struct rc_pmd_params *p)
{
	struct rc_pmd_policy pol = policy(w);
	char *copy = malloc(len ? len : 1);
	int r;

	CHECK(copy != NULL);
	if (len)
		memcpy(copy, v, len);
	memset(p, 1, sizeof(*p));
	r = rc_pmd_negotiate_value(copy, len, &pol, p);
	free(copy);
	CHECK(r == 0 || r == 1);
	CHECK(r == p->on);
	if (!r) {
		struct rc_pmd_params zero;

		memset(&zero, 0, sizeof(zero));
		CHECK(!memcmp(p, &zero, sizeof(*p)));
	}
	return r;
}

static bool same(const struct rc_pmd_params *a, const struct rc_pmd_params *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* rc_pmd_negotiate_value() and the reference agree on @v under @w. */
static int negotiate_both(const char *v, size_t len, int w,
			  struct rc_pmd_params *p)
{
	struct rc_pmd_params want;
	int offers, r = negotiate(v, len, w, p);

	CHECK(ref_negotiate(v, len, w, &want, &offers) == r);
	CHECK(same(p, &want));
	return r;
}

/* What mode @w may agree to, whatever the offer. */
static void check_params(const struct rc_pmd_params *p, int w)
{
	CHECK(p->on);
	CHECK(p->server_bits >= 8 && p->server_bits <= 15);
	CHECK(p->client_bits >= 8 && p->client_bits <= 15);
	if (!w) {
		CHECK(p->server_no_context && p->client_no_context);
		CHECK(p->client_bits == 15 && !p->answer_client_bits);
		if (!p->answer_server_bits)
			CHECK(p->server_bits == 15);
	} else {
		CHECK(p->answer_server_bits);
		CHECK(p->server_bits >= 9 && p->server_bits <= w);
		if (p->answer_client_bits)
			CHECK(p->client_bits <= w);
		else
			CHECK(p->client_bits == 15);
	}
}

/* The answer line: well-formed, within @cap, and re-negotiable to the same
   parameters under the same policy. */
static void check_answer(const struct rc_pmd_params *p, int w)
{
	char buf[RC_PMD_ANSWER_MAX], small[RC_PMD_ANSWER_MAX];
	size_t n = rc_pmd_answer(p, buf, sizeof(buf)), pre = sizeof(prefix) - 1;
	struct rc_pmd_params again;

	CHECK(n > pre + 2 && n < sizeof(buf));
	CHECK(strlen(buf) == n);
	CHECK(!memcmp(buf, prefix, pre));
	CHECK(!memcmp(buf + pre, "permessage-deflate", 18));
	CHECK(buf[n - 2] == '\r' && buf[n - 1] == '\n');
	for (size_t i = 0; i < n - 2; i++)
		CHECK(buf[i] >= 0x20 && buf[i] < 0x7f);
	/* as said only when asked */
	CHECK(!!strstr(buf, "server_no_context_takeover") ==
	      p->server_no_context);
	CHECK(!!strstr(buf, "client_no_context_takeover") ==
	      p->client_no_context);
	CHECK(!!strstr(buf, "server_max_window_bits=") ==
	      p->answer_server_bits);
	CHECK(!!strstr(buf, "client_max_window_bits=") ==
	      p->answer_client_bits);

	/* the cap: n + 1 is enough, n is not */
	CHECK(rc_pmd_answer(p, small, n + 1) == n);
	CHECK(!memcmp(small, buf, n + 1));
	CHECK(rc_pmd_answer(p, small, n) == 0 && small[0] == '\0');

	CHECK(negotiate(buf + pre, n - pre - 2, w, &again) == 1);
	CHECK(same(&again, p));
}

/* The quoted-string state at the end of @v, scanned as the list is: 0
   outside, 1 inside, 2 inside right after a backslash. */
static int quote_state(const char *v, size_t len)
{
	int st = 0;

	for (size_t i = 0; i < len; i++) {
		if (st == 2)
			st = 1;
		else if (st == 1 && v[i] == '\\')
			st = 2;
		else if (v[i] == '"')
			st = !st;
	}
	return st;
}

/* @v with " \t" before and after each ';' '=' ',' outside quoted-strings,
   into @out (5 * @len bytes); its length. */
static size_t add_ows(const char *v, size_t len, char *out)
{
	size_t n = 0;
	int st = 0;

	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		bool sep = !st && (c == ';' || c == '=' || c == ',');

		if (sep) {
			out[n++] = ' ';
			out[n++] = '\t';
		}
		out[n++] = c;
		if (sep) {
			out[n++] = '\t';
			out[n++] = ' ';
		}
		if (st == 2)
			st = 1;
		else if (st == 1 && c == '\\')
			st = 2;
		else if (c == '"')
			st = !st;
	}
	return n;
}

/* Metamorphic checks of @v under @w, whose result was @r, @p. */
static void check_variants(const char *v, size_t len, int w, int r,
			   const struct rc_pmd_params *p)
{
	static const char front[] = "x-foo; a=\"b, c\\\"\"; d, ";
	static const char back[] = ", permessage-deflate";
	size_t fl = sizeof(front) - 1, bl = sizeof(back) - 1;
	char *buf = malloc(5 * len + fl + bl + 1);
	struct rc_pmd_params q;
	size_t n;

	CHECK(buf != NULL);

	/* another extension in front changes nothing */
	memcpy(buf, front, fl);
	memcpy(buf + fl, v, len);
	CHECK(negotiate_both(buf, fl + len, w, &q) == r && same(&q, p));

	/* case does not matter: valid values are digits only */
	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		else if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		buf[i] = c;
	}
	CHECK(negotiate_both(buf, len, w, &q) == r && same(&q, p));

	/* OWS around the separators */
	n = add_ows(v, len, buf);
	CHECK(negotiate_both(buf, n, w, &q) == r && same(&q, p));

	/* An acceptable offer after the list: taken only if none was, and
	   only if the list does not end inside a quoted-string. */
	memcpy(buf, v, len);
	memcpy(buf + len, back, bl);
	if (r) {
		CHECK(negotiate_both(buf, len + bl, w, &q) == 1 && same(&q, p));
	} else if (quote_state(v, len)) {
		CHECK(negotiate_both(buf, len + bl, w, &q) == 0);
	} else {
		CHECK(negotiate_both(buf, len + bl, w, &q) == 1);
		CHECK(q.server_bits == (w ? w : 15));
		CHECK(!q.answer_client_bits);
		CHECK(q.server_no_context == !w);
	}
	free(buf);
}

/*
 * The input's lines as Sec-WebSocket-Extensions headers of a request head
 * (other headers between them): rc_pmd_negotiate() agrees with
 * rc_pmd_negotiate_value() on the first line that accepts.
 */
static void check_request(const char *v, size_t len)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: a\r\n";
	char *head = malloc(sizeof(start) + len * 2 + 64 * (len + 1) + 4);
	struct rc_http_header *hdr = malloc(MAX_HDR * sizeof(*hdr));
	struct rc_http_request req = { .headers = hdr, .max_headers = MAX_HDR };
	size_t n = sizeof(start) - 1, lines = 0;
	const char *p = v, *end = v + len;

	CHECK(head && hdr);
	memcpy(head, start, n);
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		/* alternate the name's case, and put a decoy between */
		const char *name = lines & 1 ? "sec-websocket-extensions: " :
					       prefix;

		n += (size_t)sprintf(head + n, "%s", name);
		memcpy(head + n, p, (size_t)(stop - p));
		n += (size_t)(stop - p);
		n += (size_t)sprintf(head + n, "\r\nX-Ext: permessage-deflate\r\n");
		lines++;
		if (!nl)
			break;
		p = nl + 1;
	}
	memcpy(head + n, "\r\n", 2);
	n += 2;

	if (rc_http_parse(head, n, 0, &req) == (int)n) {
		for (int w = 0; w <= 15; w += w ? 3 : 9) {
			struct rc_pmd_policy pol = policy(w);
			struct rc_pmd_params got, want, one, r;
			int offers, k, accepting = 0, total = 0;

			memset(&want, 0, sizeof(want));
			for (size_t i = 0; i < req.nheaders; i++) {
				struct rc_slice s = req.headers[i].value;

				if (!rc_http_slice_eq(req.headers[i].name,
						      "Sec-WebSocket-Extensions"))
					continue;
				if (negotiate(s.p, s.n, w, &one)) {
					if (!accepting++)
						want = one;
				}
				ref_negotiate(s.p, s.n, w, &r, &k);
				total += k;
			}
			memset(&got, 1, sizeof(got));
			offers = rc_pmd_negotiate(&req, &pol, &got);
			CHECK(same(&got, &want));
			CHECK(offers == total);
			CHECK(offers >= accepting);
			CHECK((size_t)offers <= n / 18);
		}
	}
	free(hdr);
	free(head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *v = (const char *)data;
	struct rc_pmd_params shared, ded, bad;
	int rs, rd;

	/* shared */
	rs = negotiate_both(v, len, 0, &shared);
	if (rs) {
		check_params(&shared, 0);
		check_answer(&shared, 0);
	}

	/* dedicated, each window; the first valid offer is the shared
	   mode's pick, so unless it asked for an 8-bit server window each
	   window takes it too */
	for (int w = 9; w <= 15; w++) {
		rd = negotiate_both(v, len, w, &ded);
		if (rd) {
			check_params(&ded, w);
			check_answer(&ded, w);
			CHECK(rs);
		}
		if (rs && shared.server_bits != 8) {
			int s = shared.server_bits;

			CHECK(rd);
			CHECK(ded.server_bits == (s < w ? s : w));
		}
		if (len <= META_MAX && w == 9 + (int)(len % 7))
			check_variants(v, len, w, rd, &ded);
	}

	/* no policy but these two accepts anything */
	CHECK(negotiate_both(v, len, 8, &bad) == 0);
	CHECK(negotiate_both(v, len, 16, &bad) == 0);

	if (len <= META_MAX) {
		check_variants(v, len, 0, rs, &shared);
		check_request(v, len);
	}
	return 0;
}
