/* SPDX-License-Identifier: MIT */
/* http.h -- HTTP/1.1 request-head parser: zero copy, resumable, no allocation. */
#ifndef RC_HTTP_H
#define RC_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* A borrowed byte range; not NUL-terminated. */
struct rc_slice {
	const char *p;
	size_t n;
};

struct rc_http_header {
	struct rc_slice name;	/* token, as sent (case kept) */
	struct rc_slice value;	/* leading/trailing SP/HTAB trimmed */
};

/*
 * A parsed request head. Every slice points into the buffer given to
 * rc_http_parse() (borrowed: valid while that buffer is). The caller owns
 * @headers (an array of @max_headers entries); the parser never allocates.
 */
struct rc_http_request {
	struct rc_slice method;
	struct rc_slice target;		/* request-target, e.g. "/ws/a?x=1" */
	struct rc_slice path;		/* target up to '?' */
	int minor_version;		/* 0 or 1 for HTTP/1.0, HTTP/1.1 */
	struct rc_http_header *headers;
	size_t nheaders;
	size_t max_headers;
};

/*
 * Parse a request head from @buf[0..@len).
 *
 * @prev_len is how many of these bytes an earlier call (on the same, grown
 * buffer) already saw without finding the end of the head; the parser skips
 * re-scanning them for the terminator, so feeding a head one byte at a time
 * costs O(n) scanning, not O(n^2). Pass 0 on the first call.
 *
 * Returns the length of the head including the final CRLFCRLF (bytes after
 * it, such as a pipelined first WebSocket frame, are not touched), or
 *   -EAGAIN  the head is not complete yet,
 *   -EPROTO  bad syntax (answer 400),
 *   -E2BIG   more than req->max_headers header fields (answer 431).
 * Bare LF line endings are accepted, as RFC 9112 §2.2 allows. Obsolete line
 * folding, whitespace before the colon, and control characters in a field
 * are -EPROTO. The size limit on the head is the caller's (-EAGAIN with
 * @len over the limit means 431).
 *
 * On success the request fields are set; on any error they are undefined.
 */
int rc_http_parse(const char *buf, size_t len, size_t prev_len,
		  struct rc_http_request *req);

/* Case-insensitive ASCII comparison of a slice with a NUL-terminated name. */
bool rc_http_slice_eq(struct rc_slice s, const char *lit);

/* The first header named @name (case-insensitive), or NULL. */
const struct rc_http_header *rc_http_find(const struct rc_http_request *req,
					  const char *name);

/* How many header fields are named @name (case-insensitive); the first of
   them in *@first (NULL if none). */
size_t rc_http_count(const struct rc_http_request *req, const char *name,
		     const struct rc_http_header **first);

/*
 * Host rules of RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host
 * field, an HTTP/1.0 request at most one. False means answer 400.
 */
bool rc_http_host_ok(const struct rc_http_request *req);

/* Is @s (NUL-terminated) a token (RFC 9110 §5.6.2: one or more tchar)?
   Subprotocol names must be. */
bool rc_http_is_token(const char *s);

/* May @s (NUL-terminated) be sent as a field value: visible characters,
   SP, HTAB and obs-text, no CR, LF or other control character, no
   leading or trailing whitespace (RFC 9110 §5.5)? */
bool rc_http_is_field_value(const char *s);

/*
 * True if the comma-separated token list @list (RFC 9110 §5.6.1: elements
 * separated by "," with optional whitespace, empty elements allowed)
 * contains @token, compared case-insensitively. Checks every header named
 * @name in the request (a list may be split over several fields).
 */
bool rc_http_list_has(const struct rc_http_request *req, const char *name,
		      const char *token);

#endif /* RC_HTTP_H */
