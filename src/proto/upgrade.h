/* SPDX-License-Identifier: MIT */
/* upgrade.h -- RFC 6455 §4.2 opening handshake: checks, accept key, responses. */
#ifndef RC_UPGRADE_H
#define RC_UPGRADE_H

#include <stddef.h>

#include "proto/http.h"

/* Length of a Sec-WebSocket-Accept value: base64 of a 20-byte SHA-1. */
#define RC_ACCEPT_LEN 28

struct rc_upgrade {
	struct rc_slice key;		/* Sec-WebSocket-Key, trimmed */
	int protocol;			/* index into the server's list, -1 none */
};

/*
 * Decide what a parsed request is (RFC 6455 §4.2.1, RFC 9110 §7.8).
 *
 * Returns
 *   0    not a WebSocket upgrade: no Upgrade header listing "websocket"
 *        (answer it as a plain HTTP request);
 *   101  a valid upgrade; @out is filled (slices borrowed from @req);
 *   400  an upgrade attempt that is malformed: method not GET, not
 *        HTTP/1.1, no Host, Connection without "upgrade", key missing or not
 *        base64 of exactly 16 bytes, repeated key or version header;
 *   426  Sec-WebSocket-Version missing or not 13 (send
 *        "Sec-WebSocket-Version: 13" with it).
 *
 * @protocols (in server preference order, @nprotocols entries) is matched
 * against the client's Sec-WebSocket-Protocol token lists; the first of
 * ours that the client offered wins; none matches -> protocol = -1.
 */
int rc_upgrade_check(const struct rc_http_request *req,
		     const char *const *protocols, size_t nprotocols,
		     struct rc_upgrade *out);

/*
 * Compute Sec-WebSocket-Accept for @key (SHA-1 of key + the RFC's GUID,
 * base64) into @out (RC_ACCEPT_LEN bytes, no NUL). 0, or -EINVAL for a key
 * longer than any valid one.
 */
int rc_upgrade_accept_key(const char *key, size_t key_len,
			  char out[RC_ACCEPT_LEN]);

/*
 * Write the 101 response for @key (and @protocol, may be NULL) into @buf.
 * Returns the length, or -ENOSPC if @cap is too small (256 is enough with a
 * subprotocol name of up to 64 bytes).
 */
int rc_upgrade_response(char *buf, size_t cap, const char *key,
			size_t key_len, const char *protocol);
/* The same from the accept value, with @headers ("Name: value\r\n"
   lines, checked by the caller; may be NULL) after the protocol. */
int rc_upgrade_response_h(char *buf, size_t cap,
			  const char accept[RC_ACCEPT_LEN],
			  const char *protocol, const char *headers);

/*
 * Write a complete plain HTTP/1.1 response into @buf: status line, Date-less
 * minimal headers (Content-Type, Content-Length, Connection: keep-alive or
 * close, and "Sec-WebSocket-Version: 13" when @status is 426, "Allow: GET,
 * HEAD" when 405), a blank line, then @body unless @head_only.
 * A NULL @content_type means "text/plain; charset=utf-8".
 * Returns the length, or -ENOSPC if it does not fit in @cap.
 */
int rc_http_response(char *buf, size_t cap, int status,
		     const char *content_type, const void *body,
		     size_t body_len, int keep_alive, int head_only);
/* The same with @headers ("Name: value\r\n" lines, checked by the
   caller; may be NULL) after the others. */
int rc_http_response_h(char *buf, size_t cap, int status,
		       const char *content_type, const void *body,
		       size_t body_len, int keep_alive, int head_only,
		       const char *headers);

/* Reason phrase for @status ("Not Found"), "Unknown" if we have none. */
const char *rc_http_reason(int status);

#endif /* RC_UPGRADE_H */
