/* SPDX-License-Identifier: MIT */
/* frame.h -- RFC 6455 frame decoder (incremental, in place) and encoder. */
#ifndef RC_FRAME_H
#define RC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simd/simd.h"

/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
#define RC_FRAME_HDR_MAX 14
/* Largest control frame payload (RFC 6455 §5.5). */
#define RC_FRAME_CONTROL_MAX 125

/*
 * Decoder state for one direction of one connection. Zero-initialised by
 * rc_frame_decoder_init(); no buffers: payload is unmasked in the caller's
 * buffer and handed back as slices of it.
 */
struct rc_frame_decoder {
	uint64_t remaining;	/* payload bytes left in the current frame */
	uint32_t msg_len;	/* bytes of the open data message so far
				   (saturating when there is no limit) */
	uint32_t max_message;	/* limit on a data message (-EMSGSIZE);
				   0 none. 32 bits: 48 bytes in all, as it
				   sits in every connection */
	uint32_t key;		/* masking key of the current frame */
	uint8_t key_off;	/* payload bytes of this frame seen, mod 4 */
	uint8_t nhdr;		/* header bytes gathered so far */
	uint8_t hdr[RC_FRAME_HDR_MAX];
	uint8_t opcode;		/* opcode of the current frame */
	uint8_t fin;		/* FIN bit of the current frame */
	uint8_t msg_opcode;	/* TEXT/BINARY of the open message, 0 none */
	uint8_t in_payload;	/* header done, payload bytes follow */
	uint8_t expect_masked;	/* 1: server side (client frames are masked),
				   0: client side (server frames are not) */
	uint8_t rsv1_ok;	/* permessage-deflate negotiated: RSV1 may
				   mark a data message compressed */
	uint8_t msg_z;		/* the open data message is compressed */
	struct rc_utf8 utf8;	/* validation state of an open TEXT message */
};

enum rc_frame_event_kind {
	RC_FRAME_NONE = 0,	/* input consumed, no event yet */
	RC_FRAME_DATA,		/* payload of a TEXT/BINARY message */
	RC_FRAME_CONTROL,	/* payload of a PING/PONG/CLOSE frame */
};

/*
 * One event. @data points into the buffer passed to rc_frame_decode() and
 * is already unmasked (borrowed: valid as long as that buffer).
 * For DATA, @opcode is the message's (TEXT or BINARY, also for the
 * continuation frames); @first marks the message's first bytes, @last its
 * final bytes (FIN frame, all payload seen): a TEXT message has been fully
 * validated as UTF-8 when @last is set. For CONTROL, @first/@last mark the
 * first and final bytes of the control frame's payload.
 * An event may have @len 0 (empty frames and messages).
 */
struct rc_frame_event {
	enum rc_frame_event_kind kind;
	uint8_t opcode;
	bool first;
	bool last;
	bool compressed;	/* DATA: the message is compressed (RSV1 on its
				   first frame, RFC 7692): @data is deflate
				   data, not validated as UTF-8 */
	uint8_t *data;
	size_t len;
};

/* @max_message 0 means no limit (one over UINT32_MAX - 1 is taken as
   UINT32_MAX - 1); @server true: require masked frames. */
void rc_frame_decoder_init(struct rc_frame_decoder *d, uint64_t max_message,
			   bool server);

/*
 * Decode from @buf[0..@len), unmasking payload in place. Returns the number
 * of bytes consumed (0..len) and fills @ev with at most one event
 * (kind RC_FRAME_NONE when the consumed bytes completed no event); call
 * again with the rest. Input may be split at any byte. Errors (the
 * connection must be failed with rc_frame_close_code(err)):
 *   -EPROTO    1002: unmasked client frame (masked server frame), RSV2 or
 *              RSV3 set, RSV1 set without rsv1_ok or on a control frame
 *              or a continuation, unknown opcode, fragmented or > 125-byte control frame,
 *              continuation without a started message, new data frame
 *              inside a fragmented message, non-minimal or 2^63+ length;
 *   -EILSEQ    1007: TEXT message is not valid UTF-8 (found as early as
 *              the bytes prove it; a compressed one is the caller's to
 *              check once inflated);
 *   -EMSGSIZE  1009: data message longer than max_message.
 * After an error the decoder must not be used again.
 */
long rc_frame_decode(struct rc_frame_decoder *d, uint8_t *buf, size_t len,
		     struct rc_frame_event *ev);

/* Or'ed into an opcode for rc_frame_encode_header(): set RSV1, the frame
   begins a compressed message (RFC 7692). */
#define RC_FRAME_RSV1 0x40

/*
 * Encode a frame header for a payload of @len bytes into @out. With @mask
 * non-NULL the frame is masked with *@mask (client side; the caller masks
 * the payload). Returns the header length (2..14).
 */
size_t rc_frame_encode_header(uint8_t out[RC_FRAME_HDR_MAX], unsigned opcode,
			      bool fin, uint64_t len, const uint32_t *mask);

/*
 * Parse a complete close frame payload. Sets *@code (1005 for an empty
 * payload) and the reason slice (borrowed from @p). Returns 0, -EPROTO
 * (1-byte payload, or a code not allowed on the wire), -EILSEQ (reason not
 * UTF-8).
 */
int rc_frame_close_parse(const uint8_t *p, size_t n, uint16_t *code,
			 const uint8_t **reason, size_t *reason_len);

/* True if @code may appear in a close frame: 1000-1003, 1007-1014,
   3000-4999 (RFC 6455 §7.4 and its IANA registry; 1004-1006, 1015 and
   the rest are not). */
bool rc_close_code_valid(uint16_t code);

/* The close code for a decoder error: -EPROTO 1002, -EILSEQ 1007,
   -EMSGSIZE 1009, anything else 1011. */
uint16_t rc_frame_close_code(long err);

#endif /* RC_FRAME_H */
