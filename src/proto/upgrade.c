/* SPDX-License-Identifier: MIT */
/* upgrade.c -- RFC 6455 §4.2 opening handshake and plain HTTP/1.1 replies. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>


#include "proto/sha1.h"
#include "proto/upgrade.h"

/* RFC 6455 §1.3: appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Longest Sec-WebSocket-Key we hash; a valid one is 24 bytes. */
#define KEY_MAX 64

static inline int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool is_base64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Is @key base64 of exactly 16 bytes? That is 22 characters and "==". The
 * last character before the padding carries only 2 bits of data, so its
 * low 4 bits must be zero (one of "AQgw"): anything else is not the
 * canonical encoding of any 16 bytes.
 */
static bool check_key(struct rc_slice key)
{
	if (key.n != 24 || key.p[22] != '=' || key.p[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++)
		if (!is_base64(key.p[i]))
			return false;
	return strchr("AQgw", key.p[21]) != NULL;
}

/*
 * Does the token list @v have an element exactly equal to @proto? Unlike
 * rc_http_list_has() this is case-sensitive: subprotocol names are tokens
 * compared as given (RFC 6455 §4.1, §11.5).
 */
static bool offers(struct rc_slice v, const char *proto, size_t proto_len)
{
	const char *p = v.p, *end = v.p + v.n;

	for (;;) {
		const char *comma = memchr(p, ',', end - p);
		const char *stop = comma ? comma : end;

		while (p < stop && is_ows(*p))
			p++;
		while (stop > p && is_ows(stop[-1]))
			stop--;
		if ((size_t)(stop - p) == proto_len && proto_len &&
		    !memcmp(p, proto, proto_len))
			return true;
		if (!comma)
			return false;
		p = comma + 1;
	}
}

/* The first of our @protocols that the client offered, or -1. */
static int pick_protocol(const struct rc_http_request *req,
			 const char *const *protocols, size_t nprotocols)
{
	for (size_t i = 0; i < nprotocols && i < INT_MAX; i++) {
		size_t len = strlen(protocols[i]);

		for (size_t j = 0; j < req->nheaders; j++)
			if (rc_http_slice_eq(req->headers[j].name,
					     "Sec-WebSocket-Protocol") &&
			    offers(req->headers[j].value, protocols[i], len))
				return (int)i;
	}
	return -1;
}

int rc_upgrade_check(const struct rc_http_request *req,
		     const char *const *protocols, size_t nprotocols,
		     struct rc_upgrade *out)
{
	const struct rc_http_header *key, *version;

	if (!rc_http_list_has(req, "Upgrade", "websocket"))
		return 0;

	/* From here on the client asked for WebSocket. Every 400 is checked
	   before the version, so a request whose only fault is the version
	   gets the 426 that tells the client which version to use. */
	if (req->method.n != 3 || memcmp(req->method.p, "GET", 3))
		return 400;
	if (req->minor_version < 1)
		return 400;
	/* RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request. */
	if (!rc_http_host_ok(req))
		return 400;
	if (!rc_http_list_has(req, "Connection", "upgrade"))
		return 400;
	if (rc_http_count(req, "Sec-WebSocket-Key", &key) != 1 ||
	    !check_key(key->value))
		return 400;

	switch (rc_http_count(req, "Sec-WebSocket-Version", &version)) {
	case 0:
		return 426;
	case 1:
		break;
	default:
		return 400;
	}
	if (version->value.n != 2 || memcmp(version->value.p, "13", 2))
		return 426;

	out->key = key->value;
	out->protocol = pick_protocol(req, protocols, nprotocols);
	return 101;
}

int rc_upgrade_accept_key(const char *key, size_t key_len,
			  char out[RC_ACCEPT_LEN])
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char in[KEY_MAX + sizeof(ws_guid) - 1];
	uint8_t md[21];		/* 20, and a zero to pad the last triple */
	size_t o = 0;

	if (key_len > KEY_MAX)
		return -EINVAL;
	memcpy(in, key, key_len);
	memcpy(in + key_len, ws_guid, sizeof(ws_guid) - 1);
	rc_sha1(in, key_len + sizeof(ws_guid) - 1, md);
	md[20] = 0;
	/* base64 of 20 bytes: 6 full triples and one of 2 bytes ("=" pad). */
	for (size_t i = 0; i < 21; i += 3) {
		uint32_t v = (uint32_t)md[i] << 16 | (uint32_t)md[i + 1] << 8 |
			     md[i + 2];

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = i + 3 < 21 ? b64[v & 63] : '=';
	}
	return 0;
}

/*
 * vsnprintf() into @buf, returning the length or -ENOSPC. Every head we
 * format ends in "\r\n", so a head that fills @cap exactly lost only its
 * final '\n' to the NUL that vsnprintf() insists on: put it back rather
 * than refuse a buffer that is big enough.
 */
__attribute__((format(printf, 3, 4)))
static int format_head(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > cap)
		return -ENOSPC;
	if ((size_t)n == cap)
		buf[n - 1] = '\n';
	return n;
}

int rc_upgrade_response(char *buf, size_t cap, const char *key,
			size_t key_len, const char *protocol)
{
	char accept[RC_ACCEPT_LEN];
	int ret;

	ret = rc_upgrade_accept_key(key, key_len, accept);
	if (ret)
		return ret;
	return rc_upgrade_response_h(buf, cap, accept, protocol, NULL);
}

int rc_upgrade_response_h(char *buf, size_t cap,
			  const char accept[RC_ACCEPT_LEN],
			  const char *protocol, const char *headers)
{
	return format_head(buf, cap,
			   "HTTP/1.1 101 Switching Protocols\r\n"
			   "Upgrade: websocket\r\n"
			   "Connection: Upgrade\r\n"
			   "Sec-WebSocket-Accept: %.*s\r\n"
			   "%s%s%s%s"
			   "\r\n",
			   RC_ACCEPT_LEN, accept,
			   protocol ? "Sec-WebSocket-Protocol: " : "",
			   protocol ? protocol : "",
			   protocol ? "\r\n" : "", headers ? headers : "");
}

int rc_http_response(char *buf, size_t cap, int status,
		     const char *content_type, const void *body,
		     size_t body_len, int keep_alive, int head_only)
{
	return rc_http_response_h(buf, cap, status, content_type, body,
				  body_len, keep_alive, head_only, NULL);
}

int rc_http_response_h(char *buf, size_t cap, int status,
		       const char *content_type, const void *body,
		       size_t body_len, int keep_alive, int head_only,
		       const char *headers)
{
	const char *extra = "";
	int n;

	/* The status line needs exactly three digits (RFC 9110 §15). */
	if (status < 100 || status > 999)
		return -EINVAL;
	if (status == 426)
		extra = "Sec-WebSocket-Version: 13\r\n";
	else if (status == 405)
		extra = "Allow: GET, HEAD\r\n";

	/* 1xx and 204 must carry neither Content-Length nor a body (RFC
	   9110 §8.6, §15.3.5): only the status and connection lines. */
	if (status < 200 || status == 204)
		return format_head(buf, cap,
				   "HTTP/1.1 %d %s\r\n"
				   "Connection: %s\r\n"
				   "%s%s"
				   "\r\n",
				   status, rc_http_reason(status),
				   keep_alive ? "keep-alive" : "close", extra,
				   headers ? headers : "");

	/* A HEAD reply states the length the GET body would have. */
	n = format_head(buf, cap,
			"HTTP/1.1 %d %s\r\n"
			"Content-Type: %s\r\n"
			"Content-Length: %zu\r\n"
			"Connection: %s\r\n"
			"%s%s"
			"\r\n",
			status, rc_http_reason(status),
			content_type ? content_type :
				       "text/plain; charset=utf-8",
			body_len, keep_alive ? "keep-alive" : "close", extra,
			headers ? headers : "");
	if (n < 0 || head_only || !body_len)
		return n;
	if (body_len > cap - n || body_len > (size_t)INT_MAX - n)
		return -ENOSPC;
	memcpy(buf + n, body, body_len);
	return n + (int)body_len;
}

const char *rc_http_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
