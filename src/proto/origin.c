/* SPDX-License-Identifier: MIT */
/* origin.c -- request checks with no I/O: Origin policy, query parameters. */
#include <errno.h>
#include <string.h>

#include "proto/origin.h"

/* An origin taken apart: its scheme, host and port (as text, or empty for
   the scheme's default). */
struct origin_parts {
	struct rc_slice scheme, host, port;
};

static char lower(char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

static bool slice_ieq(struct rc_slice a, struct rc_slice b)
{
	if (a.n != b.n)
		return false;
	for (size_t i = 0; i < a.n; i++)
		if (lower(a.p[i]) != lower(b.p[i]))
			return false;
	return true;
}

static struct rc_slice lit(const char *s)
{
	return (struct rc_slice){ s, strlen(s) };
}

/* Split "host[:port]" (an IPv6 literal in brackets keeps its colons). */
static bool split_host(struct rc_slice hp, struct origin_parts *o)
{
	size_t i = hp.n;

	if (!hp.n)
		return false;
	while (i > 0 && hp.p[i - 1] >= '0' && hp.p[i - 1] <= '9')
		i--;
	if (i > 0 && i < hp.n && hp.p[i - 1] == ':' &&
	    (hp.p[0] != '[' || hp.p[i - 2] == ']')) {
		o->host = (struct rc_slice){ hp.p, i - 1 };
		o->port = (struct rc_slice){ hp.p + i, hp.n - i };
	} else if (i > 0 && i == hp.n && hp.p[i - 1] == ':') {
		o->host = (struct rc_slice){ hp.p, i - 1 };	/* "host:" */
		o->port = (struct rc_slice){ hp.p + i, 0 };
	} else {
		o->host = hp;
		o->port = (struct rc_slice){ hp.p + hp.n, 0 };
	}
	/* Leading zeros name the same port: drop them. */
	while (o->port.n > 1 && o->port.p[0] == '0') {
		o->port.p++;
		o->port.n--;
	}
	return o->host.n > 0;
}

/* "scheme://host[:port]" with nothing after it (RFC 6454 §6.2). */
static bool split_origin(struct rc_slice s, struct origin_parts *o)
{
	const char *sep = NULL;

	for (size_t i = 0; i + 2 < s.n; i++)
		if (s.p[i] == ':' && s.p[i + 1] == '/' && s.p[i + 2] == '/') {
			sep = s.p + i;
			break;
		}
	if (!sep || sep == s.p)
		return false;
	o->scheme = (struct rc_slice){ s.p, (size_t)(sep - s.p) };
	s.n -= (size_t)(sep + 3 - s.p);
	s.p = sep + 3;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] == '/' || s.p[i] == '?' || s.p[i] == '#' ||
		    s.p[i] == '@')
			return false;
	return split_host(s, o);
}

static const char *default_port(struct rc_slice scheme)
{
	if (slice_ieq(scheme, lit("http")) || slice_ieq(scheme, lit("ws")))
		return "80";
	if (slice_ieq(scheme, lit("https")) || slice_ieq(scheme, lit("wss")))
		return "443";
	return "";
}

/* Ports equal, an absent one standing for the scheme's default. */
static bool port_eq(struct origin_parts *a, struct origin_parts *b)
{
	struct rc_slice pa = a->port, pb = b->port;

	if (!pa.n)
		pa = lit(default_port(a->scheme));
	if (!pb.n)
		pb = lit(default_port(b->scheme));
	return slice_ieq(pa, pb);
}

static bool parts_eq(struct origin_parts *a, struct origin_parts *b)
{
	return slice_ieq(a->scheme, b->scheme) &&
	       slice_ieq(a->host, b->host) && port_eq(a, b);
}

bool rc_origin_is_own(struct rc_slice origin, const char *scheme,
		      struct rc_slice host)
{
	struct origin_parts o, own;

	if (!split_origin(origin, &o) || !split_host(host, &own))
		return false;
	own.scheme = lit(scheme);
	return parts_eq(&o, &own);
}

bool rc_origin_match(struct rc_slice origin, const char *allowed)
{
	struct origin_parts o, a;
	struct rc_slice al = lit(allowed);

	if (!strcmp(allowed, "*"))
		return true;
	if (slice_ieq(al, lit("null")) || slice_ieq(origin, lit("null")))
		return slice_ieq(al, origin);
	if (!split_origin(origin, &o) || !split_origin(al, &a))
		return false;
	return parts_eq(&o, &a);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int rc_query_find(const char *q, size_t qlen, const char *name, char *out,
		  size_t cap)
{
	size_t nlen = strlen(name), i = 0;

	while (i < qlen) {
		size_t end = i, eq;

		while (end < qlen && q[end] != '&' && q[end] != ';')
			end++;
		eq = i;
		while (eq < end && q[eq] != '=')
			eq++;
		if (eq - i == nlen && !memcmp(q + i, name, nlen)) {
			size_t n = 0;

			if (eq < end)
				eq++;
			for (size_t k = eq; k < end; k++) {
				int c = (unsigned char)q[k];

				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					int hi, lo;

					if (k + 2 >= end)
						return -EINVAL;
					hi = hexval(q[k + 1]);
					lo = hexval(q[k + 2]);
					if (hi < 0 || lo < 0 || !(hi | lo))
						return -EINVAL;
					c = hi << 4 | lo;
					k += 2;
				}
				if (n + 1 >= cap)
					return -ENOSPC;
				out[n++] = (char)c;
			}
			if (!cap)
				return -ENOSPC;
			out[n] = '\0';
			return (int)n;
		}
		i = end + 1;
	}
	return -ENOENT;
}
