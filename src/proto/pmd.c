/* SPDX-License-Identifier: MIT */
/* pmd.c -- permessage-deflate negotiation (RFC 7692 §5, §7.1): no I/O. */
#include <limits.h>
#include <string.h>

#include "proto/http.h"
#include "proto/pmd.h"

/* The parameters of RFC 7692 §7.1, one bit each in struct offer.seen. */
enum {
	SERVER_NO_CONTEXT,
	CLIENT_NO_CONTEXT,
	SERVER_MAX_BITS,
	CLIENT_MAX_BITS,
	NPARAMS
};

static const char *const param_names[NPARAMS] = {
	"server_no_context_takeover",
	"client_no_context_takeover",
	"server_max_window_bits",
	"client_max_window_bits",
};

/* One syntactically valid permessage-deflate offer. */
struct offer {
	unsigned int seen;	/* 1 << SERVER_NO_CONTEXT, ... */
	int bits[NPARAMS];	/* the *_max_window_bits values, 0 if none */
};

/* What parse_offer() found in one list element. */
enum element {
	NOT_PMD,	/* empty, or another extension: skipped, not counted */
	DECLINE,	/* a permessage-deflate offer we must decline */
	VALID,		/* a permessage-deflate offer, parameters valid */
};

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(char ch)
{
	unsigned char c = (unsigned char)ch;

	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ows(const char *p, const char *end)
{
	while (p < end && is_ows(*p))
		p++;
	return p;
}

/* Step over the token at *@pp; its length (0: there is none). */
static size_t token(const char **pp, const char *end)
{
	const char *start = *pp, *p = start;

	while (p < end && is_tchar(*p))
		p++;
	*pp = p;
	return (size_t)(p - start);
}

/* Case-insensitive: is @p[0..@n) the NUL-terminated ASCII @lit? */
static bool ieq(const char *p, size_t n, const char *lit)
{
	return rc_http_slice_eq((struct rc_slice){ p, n }, lit);
}

/*
 * The end of the list element that starts at @p: the first ',' outside a
 * quoted-string (a backslash inside one escapes the next byte), or @end
 * when there is none (an unterminated quoted-string runs to @end).
 */
static const char *element_end(const char *p, const char *end)
{
	bool quoted = false;

	for (; p < end; p++) {
		if (quoted) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = false;
		} else if (*p == '"') {
			quoted = true;
		} else if (*p == ',') {
			break;
		}
	}
	return p;
}

/*
 * A window-bits value at *@pp: a token or a quoted-string (unescaped, RFC
 * 6455 §9.1) that is a decimal 8..15 without leading zeros. Returns it and
 * steps over it, or returns -1 (anything else, *@pp unchanged).
 */
static int bits_value(const char **pp, const char *end)
{
	const char *p = *pp;
	bool quoted = p < end && *p == '"';
	int n = 0, digits = 0;

	if (quoted)
		p++;
	for (;;) {
		char c;

		if (p == end) {
			if (quoted)
				return -1;	/* unterminated */
			break;
		}
		c = *p;
		if (quoted) {
			if (c == '"') {
				p++;
				break;
			}
			if (c == '\\') {
				if (++p == end)
					return -1;
				c = *p;
			}
		} else if (!is_tchar(c)) {
			break;
		}
		p++;
		/* more than two digits, or a leading zero, is out anyway */
		if (c < '0' || c > '9' || digits == 2 || (!digits && c == '0'))
			return -1;
		n = n * 10 + (c - '0');
		digits++;
	}
	if (n < 8 || n > 15)
		return -1;
	*pp = p;
	return n;
}

/*
 * Parse the list element @p[0..@end) (extension *( ";" param ), OWS around
 * the separators). Only a permessage-deflate element has its parameters
 * looked at; *@o is filled for a VALID one.
 */
static enum element parse_offer(const char *p, const char *end,
				struct offer *o)
{
	const char *name;
	size_t n;

	memset(o, 0, sizeof(*o));
	p = skip_ows(p, end);
	name = p;
	n = token(&p, end);
	if (!ieq(name, n, "permessage-deflate"))
		return NOT_PMD;
	for (p = skip_ows(p, end); p < end; p = skip_ows(p, end)) {
		int k;

		if (*p != ';')
			return DECLINE;
		p = skip_ows(p + 1, end);
		name = p;
		n = token(&p, end);
		for (k = 0; k < NPARAMS; k++)
			if (n && ieq(name, n, param_names[k]))
				break;
		if (k == NPARAMS || (o->seen & 1u << k))
			return DECLINE;	/* unknown (or none), or twice */
		o->seen |= 1u << k;
		p = skip_ows(p, end);
		if (p < end && *p == '=') {
			if (k != SERVER_MAX_BITS && k != CLIENT_MAX_BITS)
				return DECLINE;	/* no_context takes none */
			p = skip_ows(p + 1, end);
			o->bits[k] = bits_value(&p, end);
			if (o->bits[k] < 0)
				return DECLINE;
		} else if (k == SERVER_MAX_BITS) {
			return DECLINE;		/* needs a value */
		}
	}
	return VALID;
}

static bool policy_ok(const struct rc_pmd_policy *pol)
{
	return pol->window_bits == 0 ||
	       (pol->window_bits >= 9 && pol->window_bits <= 15);
}

/* What we answer to the valid offer @o under @pol; false: decline it. */
static bool agree(const struct offer *o, const struct rc_pmd_policy *pol,
		  struct rc_pmd_params *out)
{
	struct rc_pmd_params p = { .on = true };
	int w = pol->window_bits;

	if (!w) {
		/* Shared: no context either way, whatever the offer said;
		   a server window limit is kept (the core compresses only
		   messages that fit it). The client's window is its own. */
		p.server_no_context = true;
		p.client_no_context = true;
		p.answer_server_bits = o->seen & 1u << SERVER_MAX_BITS;
		p.server_bits = p.answer_server_bits ?
			(uint8_t)o->bits[SERVER_MAX_BITS] : 15;
		p.client_bits = 15;
	} else {
		p.server_no_context = o->seen & 1u << SERVER_NO_CONTEXT;
		p.client_no_context = o->seen & 1u << CLIENT_NO_CONTEXT;
		p.server_bits = (uint8_t)w;
		if ((o->seen & 1u << SERVER_MAX_BITS) &&
		    o->bits[SERVER_MAX_BITS] < w)
			p.server_bits = (uint8_t)o->bits[SERVER_MAX_BITS];
		/* zlib makes no raw deflate stream with an 8-bit window */
		if (p.server_bits == 8)
			return false;
		p.answer_server_bits = true;
		p.client_bits = 15;
		if (o->seen & 1u << CLIENT_MAX_BITS) {
			p.client_bits = (uint8_t)w;
			if (o->bits[CLIENT_MAX_BITS] &&
			    o->bits[CLIENT_MAX_BITS] < w)
				p.client_bits =
					(uint8_t)o->bits[CLIENT_MAX_BITS];
			p.answer_client_bits = true;
		}
	}
	*out = p;
	return true;
}

/*
 * Every element of the list @v[0..@len): the number of permessage-deflate
 * offers in it. The first acceptable one fills *@out unless out->on is
 * already set; with @count_all false the walk stops there.
 */
static int scan(const char *v, size_t len, const struct rc_pmd_policy *pol,
		struct rc_pmd_params *out, bool count_all)
{
	const char *p = v, *end = v + len;
	int offers = 0;

	if (!len)
		return 0;
	for (;;) {
		const char *stop = element_end(p, end);
		struct offer o;
		enum element e = parse_offer(p, stop, &o);

		if (e != NOT_PMD) {
			if (offers < INT_MAX)
				offers++;
			if (e == VALID && !out->on && policy_ok(pol))
				agree(&o, pol, out);
			if (out->on && !count_all)
				break;
		}
		if (stop == end)
			break;
		p = stop + 1;
	}
	return offers;
}

int rc_pmd_negotiate(const struct rc_http_request *req,
		     const struct rc_pmd_policy *pol, struct rc_pmd_params *out)
{
	int offers = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct rc_http_header *h = &req->headers[i];
		int n;

		if (!rc_http_slice_eq(h->name, "Sec-WebSocket-Extensions"))
			continue;
		n = scan(h->value.p, h->value.n, pol, out, true);
		offers = n > INT_MAX - offers ? INT_MAX : offers + n;
	}
	return offers;
}

int rc_pmd_negotiate_value(const char *v, size_t len,
			   const struct rc_pmd_policy *pol,
			   struct rc_pmd_params *out)
{
	memset(out, 0, sizeof(*out));
	scan(v, len, pol, out, false);
	return out->on;
}

/* Append the NUL-terminated @s at @b[*@n]; the caller sized @b. */
static void put(char *b, size_t *n, const char *s)
{
	size_t l = strlen(s);

	memcpy(b + *n, s, l);
	*n += l;
}

static void put_uint(char *b, size_t *n, unsigned int v)
{
	char d[3];
	int i = 0;

	do
		d[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < 3);
	while (i)
		b[(*n)++] = d[--i];
}

size_t rc_pmd_answer(const struct rc_pmd_params *p, char *buf, size_t cap)
{
	char line[RC_PMD_ANSWER_MAX + 8];	/* 3-digit bits fit too */
	size_t n = 0;

	if (cap)
		buf[0] = '\0';
	if (!p->on)
		return 0;
	put(line, &n, "Sec-WebSocket-Extensions: permessage-deflate");
	if (p->server_no_context)
		put(line, &n, "; server_no_context_takeover");
	if (p->client_no_context)
		put(line, &n, "; client_no_context_takeover");
	if (p->answer_server_bits) {
		put(line, &n, "; server_max_window_bits=");
		put_uint(line, &n, p->server_bits);
	}
	if (p->answer_client_bits) {
		put(line, &n, "; client_max_window_bits=");
		put_uint(line, &n, p->client_bits);
	}
	put(line, &n, "\r\n");
	if (n >= cap)
		return 0;
	memcpy(buf, line, n);
	buf[n] = '\0';
	return n;
}
