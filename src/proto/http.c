/* SPDX-License-Identifier: MIT */
/* http.c -- HTTP/1.1 request-head parser (RFC 9112): zero copy, resumable. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "proto/http.h"

/* tchar (RFC 9110 §5.6.2): the characters of a method or a field name. */
static const uint8_t tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

static inline int is_tchar(unsigned char c)
{
	return tchar[c];
}

/* request-target characters: visible ASCII only (RFC 9112 §3.2). */
static inline int is_vchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* field-value characters: VCHAR, SP, HTAB and obs-text; no other CTL. */
static inline int is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline int is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * Skip the empty lines a client may send before the request line (RFC 9112
 * §2.2 says to ignore at least one). Returns where the request line starts;
 * that may be @len, or @len - 1 when a lone CR is still waiting for its LF.
 */
static size_t skip_empty_lines(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (buf[i] == '\n')
			i++;
		else if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')
			i += 2;
		else
			break;
	}
	return i;
}

/*
 * Find the end of the head: an LF followed by an empty line (LF or CRLF),
 * so CRLFCRLF, LFLF and their mixes all count. Scans only [from, len).
 * Returns the offset just past the terminator, or 0 if there is none yet.
 */
static size_t find_head_end(const char *buf, size_t len, size_t from)
{
	const char *p = buf + from;
	const char *end = buf + len;

	while (p < end) {
		p = memchr(p, '\n', end - p);
		if (!p)
			return 0;
		p++;
		if (p < end && *p == '\n')
			return p + 1 - buf;
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return p + 2 - buf;
	}
	return 0;
}

/*
 * Split off the line starting at @p (which lies before @end, and the head is
 * known to end in LF, so one is found). Sets @n to the line length without
 * its CRLF or LF and returns the start of the next line.
 */
static const char *next_line(const char *p, const char *end, size_t *n)
{
	const char *lf = memchr(p, '\n', end - p);

	*n = lf - p;
	if (*n && p[*n - 1] == '\r')
		(*n)--;
	return lf + 1;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 §3). */
static int parse_request_line(const char *p, size_t n,
			      struct rc_http_request *req)
{
	static const char proto[] = "HTTP/1.";
	const char *q;
	size_t i = 0, start;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ' ')
		return -EPROTO;
	req->method = (struct rc_slice){ p, i };

	start = ++i;
	while (i < n && is_vchar(p[i]))
		i++;
	if (i == start || i == n || p[i] != ' ')
		return -EPROTO;
	req->target = (struct rc_slice){ p + start, i - start };
	req->path = req->target;
	q = memchr(req->target.p, '?', req->target.n);
	if (q)
		req->path.n = q - req->target.p;

	/* Exactly "HTTP/1.0" or "HTTP/1.1": anything else, trailing
	   whitespace included, is not a version we speak. */
	i++;
	if (n - i != sizeof(proto) || memcmp(p + i, proto, sizeof(proto) - 1))
		return -EPROTO;
	switch (p[n - 1]) {
	case '0':
		req->minor_version = 0;
		return 0;
	case '1':
		req->minor_version = 1;
		return 0;
	default:
		return -EPROTO;
	}
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). */
static int parse_field_line(const char *p, size_t n, struct rc_http_header *h)
{
	size_t i = 0, start, stop;

	/* A leading SP/HTAB is obs-fold (or whitespace before the first
	   field, §2.2); a non-tchar before ':' covers "Host :" and a line
	   without a colon. Both must be rejected, not guessed at. */
	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ':')
		return -EPROTO;
	h->name = (struct rc_slice){ p, i };

	i++;
	while (i < n && is_ows(p[i]))
		i++;
	start = i;
	stop = i;
	for (; i < n; i++) {
		unsigned char c = p[i];

		if (!is_field_char(c))
			return -EPROTO;
		if (!is_ows(c))
			stop = i + 1;
	}
	h->value = (struct rc_slice){ p + start, stop - start };
	return 0;
}

int rc_http_parse(const char *buf, size_t len, size_t prev_len,
		  struct rc_http_request *req)
{
	const char *line, *p, *end;
	size_t start, from, head_len, n;
	int ret;

	/* The head length is returned as an int; the caller's head limit is
	   far below this, so a longer buffer just reads as incomplete. */
	if (len > INT_MAX)
		len = INT_MAX;
	if (prev_len > len)
		prev_len = len;

	start = skip_empty_lines(buf, len);
	if (start == len)
		return -EAGAIN;

	/* A terminator is at most 3 bytes from its first LF to its end, and
	   the last call would have found one lying wholly before @prev_len. */
	from = prev_len > 3 ? prev_len - 3 : 0;
	if (from < start)
		from = start;
	head_len = find_head_end(buf, len, from);
	if (!head_len)
		return -EAGAIN;

	/* The whole head is here: parse it once, front to back. Every line
	   lies before @end, which is just past an LF, so next_line() always
	   finds one; the first empty line is the terminator found above. */
	end = buf + head_len;
	line = buf + start;
	p = next_line(line, end, &n);
	ret = parse_request_line(line, n, req);
	if (ret)
		return ret;

	req->nheaders = 0;
	for (;;) {
		line = p;
		p = next_line(line, end, &n);
		if (!n)
			break;
		if (req->nheaders == req->max_headers)
			return -E2BIG;
		ret = parse_field_line(line, n, &req->headers[req->nheaders]);
		if (ret)
			return ret;
		req->nheaders++;
	}
	return (int)head_len;
}

bool rc_http_slice_eq(struct rc_slice s, const char *lit)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if (!lit[i] || lower(s.p[i]) != lower(lit[i]))
			return false;
	return !lit[i];
}

const struct rc_http_header *rc_http_find(const struct rc_http_request *req,
					  const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (rc_http_slice_eq(req->headers[i].name, name))
			return &req->headers[i];
	return NULL;
}

size_t rc_http_count(const struct rc_http_request *req, const char *name,
		     const struct rc_http_header **first)
{
	size_t n = 0;

	*first = NULL;
	for (size_t i = 0; i < req->nheaders; i++) {
		if (!rc_http_slice_eq(req->headers[i].name, name))
			continue;
		if (!n++)
			*first = &req->headers[i];
	}
	return n;
}

bool rc_http_host_ok(const struct rc_http_request *req)
{
	const struct rc_http_header *host;
	size_t n = rc_http_count(req, "host", &host);

	return req->minor_version >= 1 ? n == 1 : n <= 1;
}

bool rc_http_is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

bool rc_http_is_field_value(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n && (is_ows((unsigned char)s[0]) || is_ows((unsigned char)s[n - 1])))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_field_char((unsigned char)s[i]))
			return false;
	return true;
}

/* Does the list in @v have an element equal to @token, ignoring case? */
static bool list_contains(struct rc_slice v, const char *token)
{
	const char *p = v.p, *end = v.p + v.n;

	while (p <= end) {
		const char *comma = memchr(p, ',', end - p);
		const char *stop = comma ? comma : end;
		struct rc_slice elem;

		while (p < stop && is_ows(*p))
			p++;
		while (stop > p && is_ows(stop[-1]))
			stop--;
		elem = (struct rc_slice){ p, stop - p };
		if (elem.n && rc_http_slice_eq(elem, token))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

bool rc_http_list_has(const struct rc_http_request *req, const char *name,
		      const char *token)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (rc_http_slice_eq(req->headers[i].name, name) &&
		    list_contains(req->headers[i].value, token))
			return true;
	return false;
}
