/* SPDX-License-Identifier: MIT */
/* pmd.h -- permessage-deflate negotiation (RFC 7692 §5, §7.1): no I/O. */
#ifndef RC_PMD_H
#define RC_PMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_http_request;	/* proto/http.h */

/* Room for the longest answer line rc_pmd_answer() writes (all four
   parameters, 156 bytes) and its NUL. */
#define RC_PMD_ANSWER_MAX 160

/* What the server is willing to do. */
struct rc_pmd_policy {
	uint8_t window_bits;	/* 0: shared mode (no context either way);
				   9..15: dedicated mode; anything else
				   accepts no offer */
};

/* What was agreed for one connection. */
struct rc_pmd_params {
	bool on;			/* permessage-deflate negotiated */
	bool server_no_context;		/* server resets per message (answered) */
	bool client_no_context;		/* client resets per message (answered) */
	uint8_t server_bits;		/* LZ77 window the server may use: 8..15 */
	uint8_t client_bits;		/* window the client may use (our
					   inflater): 8..15 */
	bool answer_server_bits;	/* say server_max_window_bits=server_bits */
	bool answer_client_bits;	/* say client_max_window_bits=client_bits */
};

/*
 * Walk every Sec-WebSocket-Extensions header of @req (several header lines,
 * each a comma-separated list; RFC 6455 §9.1 grammar: values are tokens or
 * quoted-strings, OWS around ';' '=' ',') and accept the first
 * permessage-deflate offer that @pol can honour.
 *
 * Returns the number of permessage-deflate offers seen in all the lines,
 * declined ones included (0..), with *@out filled: all zero (out->on false)
 * if none was accepted. Never fails the handshake: a bad offer is declined.
 * Work is linear in the size of the headers; nothing is kept of @req.
 */
int rc_pmd_negotiate(const struct rc_http_request *req,
		     const struct rc_pmd_policy *pol, struct rc_pmd_params *out);

/* The same on one raw header value @v[0..@len) (rc_pmd_negotiate() calls it
   per line): returns 1 accepted, 0 none acceptable in this value (*@out then
   all zero). */
int rc_pmd_negotiate_value(const char *v, size_t len,
			   const struct rc_pmd_policy *pol,
			   struct rc_pmd_params *out);

/*
 * The response header line for @p ("Sec-WebSocket-Extensions: ...\r\n"),
 * NUL-terminated, into @buf. Returns its length (without the NUL), or 0 if
 * @p is off or the line and its NUL do not fit @cap (RC_PMD_ANSWER_MAX
 * always does).
 */
size_t rc_pmd_answer(const struct rc_pmd_params *p, char *buf, size_t cap);

#endif /* RC_PMD_H */
