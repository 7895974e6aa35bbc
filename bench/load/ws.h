/* SPDX-License-Identifier: MIT */
/* ws.h -- the client side of RFC 6455: upgrade request and response, masked frames out, server frames in. */
#ifndef RL_WS_H
#define RL_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"
#include "proto/upgrade.h"

struct rl_pmd_params;
struct rl_pmd_worker;
struct rl_pmd_conn;

/* Bytes of each data message kept for the scenarios: the broadcast stamp
   (send time, publisher, sequence number), 16 bytes in binary, 51 as the
   start of a --json message; with ringcast.v1, the envelope's head (type,
   room, epoch, offset, from: about 100 bytes for a short room name) and
   the stamp after it. At most 255 (rl_ws_rx.nhead). */
#define RL_WS_HEAD	192
/* Largest response head accepted; a longer one is a bad handshake. */
#define RL_WS_RESPONSE_MAX	8192
/* A Sec-WebSocket-Key: base64 of 16 bytes. */
#define RL_WS_KEY_LEN	24

enum rl_ws_kind {
	RL_WS_NONE = 0,		/* bytes consumed, nothing complete yet */
	RL_WS_DATA,		/* a whole TEXT or BINARY message */
	RL_WS_PING,
	RL_WS_PONG,
	RL_WS_CLOSE,
};

/*
 * One complete message or control frame. For DATA, @head holds the first
 * min(@len, RL_WS_HEAD) payload bytes; for a control frame, the whole
 * payload (@len <= 125). @head is borrowed from the rl_ws_rx: valid until
 * the next rl_ws_rx_feed() on it.
 */
struct rl_ws_msg {
	enum rl_ws_kind kind;
	unsigned opcode;	/* RC_OP_TEXT or RC_OP_BINARY for DATA */
	uint64_t len;		/* DATA: payload bytes, inflated */
	uint64_t wire_len;	/* DATA: bytes of its frames as received */
	bool compressed;	/* DATA: RSV1 (permessage-deflate) */
	bool cached;		/* compressed: the worker had inflated the
				   very same bytes (rl_pmd_worker) */
	const uint8_t *head;
	size_t head_len;
};

/*
 * Receive state of one connection: the server's decoder (client side:
 * frames must be unmasked) and the payload bytes the tool keeps. Message
 * bodies past RL_WS_HEAD are counted, not stored.
 */
struct rl_ws_rx {
	struct rc_frame_decoder dec;
	uint64_t len;		/* bytes of the open data message so far
				   (inflated) */
	uint64_t wire;		/* its frame bytes so far */
	uint64_t pend;		/* bytes consumed not yet told apart: the
				   header of a frame whose payload is next */
	struct rl_pmd_worker *zw;	/* permessage-deflate: the worker's
					   inflater; NULL: not negotiated */
	struct rl_pmd_conn *zc;		/* this connection's, if needed */
	uint8_t nhead;
	uint8_t nctl;
	uint8_t head[RL_WS_HEAD];
	uint8_t ctl[RC_FRAME_CONTROL_MAX];
};

/* Write a 16-byte Sec-WebSocket-Key for @seed, base64, into @key (NUL
   terminated); and its expected Sec-WebSocket-Accept into @accept.
   Returns 0 or -EIO (OpenSSL). */
int rl_ws_key(uint64_t seed, char key[RL_WS_KEY_LEN + 1],
	      char accept[RC_ACCEPT_LEN]);

/*
 * Write the upgrade request for @path into @buf. @host is the Host header
 * value ("127.0.0.1:8080"). Returns its length, or -ENOSPC.
 */
int rl_ws_request(char *buf, size_t cap, const char *host, const char *path,
		  const char *key, const char *origin);

/* The same with a Sec-WebSocket-Extensions: @extensions header (NULL:
   none). */
int rl_ws_request_ext(char *buf, size_t cap, const char *host,
		      const char *path, const char *key, const char *origin,
		      const char *extensions);

/* The same with a Sec-WebSocket-Protocol: @protocol header (NULL:
   none). */
int rl_ws_request_proto(char *buf, size_t cap, const char *host,
			const char *path, const char *key, const char *origin,
			const char *extensions, const char *protocol);

/*
 * Parse a response head from @buf[0..@len). Returns the head's length
 * (bytes after it are frames), with *@status set; for 101 the Upgrade,
 * Connection and Sec-WebSocket-Accept headers (against @accept) have been
 * checked. Errors: -EAGAIN head incomplete; -EPROTO not an HTTP/1.1
 * response, or a 101 without the headers RFC 6455 §4.1 requires (*@status
 * is 101 then, 0 if no status line could be read); -EMSGSIZE no end of
 * head within RL_WS_RESPONSE_MAX bytes.
 */
long rl_ws_response(const char *buf, size_t len,
		    const char accept[RC_ACCEPT_LEN], int *status);

/*
 * The same, for a request that offered permessage-deflate when @pmd is not
 * NULL: a 101's Sec-WebSocket-Extensions are checked against the offer
 * (rl_pmd_answer(), -EPROTO if they do not fit it) and *@pmd says what was
 * agreed (pmd->on false: nothing). With @pmd NULL, as rl_ws_response():
 * no extension may be answered.
 */
long rl_ws_response_ext(const char *buf, size_t len,
			const char accept[RC_ACCEPT_LEN], int *status,
			struct rl_pmd_params *pmd);

/* The same, for a request that asked for the subprotocol @protocol (NULL:
   none): a 101 must answer exactly that one (-EPROTO if it answers none
   or another); one that answers a subprotocol nobody asked for is
   -EPROTO too. */
long rl_ws_response_proto(const char *buf, size_t len,
			  const char accept[RC_ACCEPT_LEN], int *status,
			  struct rl_pmd_params *pmd, const char *protocol);

/* XOR @p[0..n) with @key (bytes as on the wire), starting at key byte
   @off & 3. Its own inverse. */
void rl_ws_mask(uint8_t *p, size_t n, uint32_t key, size_t off);

/* Bytes a masked client frame with @len bytes of payload takes. */
size_t rl_ws_frame_len(uint64_t len);

/*
 * Write one masked, final frame (@opcode, @len bytes of @payload masked
 * with @key) into @out, which holds rl_ws_frame_len(@len) bytes. Returns
 * the frame length.
 */
size_t rl_ws_encode(uint8_t *out, unsigned opcode, const void *payload,
		    size_t len, uint32_t key);

/* The same with RSV1 set when @compressed: @payload is then deflate data
   (RFC 7692), the message's one frame. */
size_t rl_ws_encode_z(uint8_t *out, unsigned opcode, const void *payload,
		      size_t len, uint32_t key, bool compressed);

/* A fresh receive state: no extension (rl_pmd_rx_setup() adds
   permessage-deflate). rl_pmd_rx_release() must have freed what a
   previous connection on @rx had. */
void rl_ws_rx_init(struct rl_ws_rx *rx);

/*
 * Decode server frames from @buf[0..@len) (only read: server frames are
 * not masked); @buf must be readable RC_SIMD_PADDING bytes past @len (the
 * UTF-8 kernels read ahead).
 * Returns the bytes consumed and fills @msg (kind RL_WS_NONE if nothing
 * completed); call again with the rest. A compressed message (RSV1, after
 * rl_pmd_rx_setup()) is inflated as it comes: @msg has its inflated length
 * and head. Errors as rc_frame_decode(): -EPROTO (masked frame, bad
 * opcode, corrupt deflate data, ...), -EILSEQ (TEXT not UTF-8, inflated or
 * not), -ENOMEM; after one the state must not be used again.
 */
long rl_ws_rx_feed(struct rl_ws_rx *rx, uint8_t *buf, size_t len,
		   struct rl_ws_msg *msg);

#endif /* RL_WS_H */
