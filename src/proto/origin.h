/* SPDX-License-Identifier: MIT */
/* origin.h -- request checks with no I/O: Origin policy, query parameters. */
#ifndef RC_ORIGIN_H
#define RC_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/http.h"

/*
 * Is the serialised origin @origin (RFC 6454 §6.2: "scheme://host[:port]"
 * or "null") the server's own, as the request reached it: @scheme ("http"
 * or "https") and the request's Host @host (host[:port])? Schemes and hosts
 * compare case-insensitively, and a port that is the scheme's default
 * (80, 443) may be there on one side and not the other.
 */
bool rc_origin_is_own(struct rc_slice origin, const char *scheme,
		      struct rc_slice host);
/* Does @origin equal @allowed ("*" matches any but never needs to)?
   Case-insensitive, default ports elided as above. */
bool rc_origin_match(struct rc_slice origin, const char *allowed);

/*
 * Find parameter @name in the query string @q[0..@qlen) ("a=1&b=2") and
 * percent-decode its value, '+' as a space, into @out (NUL-terminated).
 * Returns the value's length, -ENOENT (absent), -ENOSPC (does not fit
 * @cap - 1 bytes) or -EINVAL (a bad escape, or a decoded NUL).
 */
int rc_query_find(const char *q, size_t qlen, const char *name, char *out,
		  size_t cap);

#endif /* RC_ORIGIN_H */
