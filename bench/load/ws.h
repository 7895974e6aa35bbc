/* SPDX-License-Identifier: MIT */
/* ws.h -- the client side of RFC 6455: upgrade request and response, masked frames out, server frames in. */
#ifndef RL_WS_H
#define RL_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"
#include "proto/upgrade.h"

/* Bytes of each data message kept for the scenarios: the broadcast header
   (send time, publisher, sequence number). */
#define RL_WS_HEAD	16
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
	uint64_t len;
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
	uint64_t len;		/* bytes of the open data message so far */
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

void rl_ws_rx_init(struct rl_ws_rx *rx);

/*
 * Decode server frames from @buf[0..@len) (only read: server frames are
 * not masked); @buf must be readable RC_SIMD_PADDING bytes past @len (the
 * UTF-8 kernels read ahead).
 * Returns the bytes consumed and fills @msg (kind RL_WS_NONE if nothing
 * completed); call again with the rest. Errors as rc_frame_decode():
 * -EPROTO (masked frame, bad opcode, ...), -EILSEQ (TEXT not UTF-8);
 * after one the state must not be used again.
 */
long rl_ws_rx_feed(struct rl_ws_rx *rx, uint8_t *buf, size_t len,
		   struct rl_ws_msg *msg);

#endif /* RL_WS_H */
