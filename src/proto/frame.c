/* SPDX-License-Identifier: MIT */
/* frame.c -- RFC 6455 frame decoder (incremental, unmasks in place) and encoder. */
#include <errno.h>
#include <string.h>

#include "ringcast.h"
#include "proto/frame.h"

/* Header bits (RFC 6455 §5.2). */
#define FIN_BIT		0x80
#define RSV_BITS	0x70
#define RSV1_BIT	0x40	/* RFC 7692: a compressed message */
#define OPCODE_BITS	0x0f
#define MASK_BIT	0x80
#define LEN_BITS	0x7f
#define LEN_16		126	/* 7-bit length value: 16-bit length follows */
#define LEN_64		127	/* 7-bit length value: 64-bit length follows */

/*
 * Values of d->in_payload. The decoder keeps no frame length, so whether
 * any of the current frame has been handed out yet (an event's @first)
 * is kept here, as a second "in payload" state.
 */
enum {
	IN_HEADER = 0,
	PAYLOAD_START,		/* header done, no event for this frame yet */
	PAYLOAD_MORE,		/* header done, some payload handed out */
};

void rc_frame_decoder_init(struct rc_frame_decoder *d, uint64_t max_message,
			   bool server)
{
	memset(d, 0, sizeof(*d));
	d->max_message = max_message < UINT32_MAX ? (uint32_t)max_message :
						    UINT32_MAX - 1;
	d->expect_masked = server;
}

static bool is_control(unsigned opcode)
{
	return opcode & 0x8;
}

/* Header length from its first two bytes. */
static size_t header_len(const uint8_t *h)
{
	size_t n = 2;

	if ((h[1] & LEN_BITS) == LEN_16)
		n += 2;
	else if ((h[1] & LEN_BITS) == LEN_64)
		n += 8;
	if (h[1] & MASK_BIT)
		n += 4;
	return n;
}

static uint64_t load_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

/*
 * The checks that need only the first two header bytes, so that a bad
 * frame fails before its extended length and key arrive.
 */
static int check_start(const struct rc_frame_decoder *d, const uint8_t *h)
{
	unsigned opcode = h[0] & OPCODE_BITS;

	/* RSV1 is permessage-deflate's, on a data message's first frame
	   only (RFC 7692 §6); RSV2 and RSV3 are never negotiated. */
	if (h[0] & RSV_BITS &&
	    ((h[0] & RSV_BITS) != RSV1_BIT || !d->rsv1_ok ||
	     (opcode != RC_OP_TEXT && opcode != RC_OP_BINARY)))
		return -EPROTO;
	if (!(h[1] & MASK_BIT) != !d->expect_masked)
		return -EPROTO;
	switch (opcode) {
	case RC_OP_CONT:
		return d->msg_opcode ? 0 : -EPROTO;
	case RC_OP_TEXT:
	case RC_OP_BINARY:
		return d->msg_opcode ? -EPROTO : 0;
	case RC_OP_CLOSE:
	case RC_OP_PING:
	case RC_OP_PONG:
		/* §5.5: never fragmented, and at most 125 bytes, so the
		   7-bit length is the whole length. */
		if (!(h[0] & FIN_BIT) ||
		    (h[1] & LEN_BITS) > RC_FRAME_CONTROL_MAX)
			return -EPROTO;
		return 0;
	default:
		return -EPROTO;
	}
}

/* Take a complete, checked header of @hl bytes; its payload comes next. */
static int start_frame(struct rc_frame_decoder *d, const uint8_t *h, size_t hl)
{
	unsigned opcode = h[0] & OPCODE_BITS;
	uint64_t len = h[1] & LEN_BITS;

	/* §5.2: "the minimal number of bytes MUST be used", and the 64-bit
	   form has its most significant bit 0. */
	if (len == LEN_16) {
		len = load_be(h + 2, 2);
		if (len < LEN_16)
			return -EPROTO;
	} else if (len == LEN_64) {
		len = load_be(h + 2, 8);
		if (len >> 63 || len <= 0xffff)
			return -EPROTO;
	}
	if (!is_control(opcode)) {
		if (opcode != RC_OP_CONT) {
			d->msg_opcode = (uint8_t)opcode;
			d->msg_z = !!(h[0] & RSV1_BIT);
		}
		/* Refuse at the header, before the peer has sent (and we
		   have buffered) a message we would refuse anyway. */
		if (d->max_message && len > d->max_message - d->msg_len)
			return -EMSGSIZE;
		/* Within the limit it fits; without one the count only has
		   to saturate. */
		d->msg_len = len > UINT32_MAX - d->msg_len ? UINT32_MAX :
			     d->msg_len + (uint32_t)len;
	}
	if (h[1] & MASK_BIT)
		memcpy(&d->key, h + hl - 4, sizeof(d->key));
	else
		d->key = 0;
	d->key_off = 0;
	d->opcode = (uint8_t)opcode;
	d->fin = !!(h[0] & FIN_BIT);
	d->remaining = len;
	d->in_payload = PAYLOAD_START;
	return 0;
}

/* Copy header bytes into d->hdr until it holds @upto (if it holds fewer);
   returns how many. */
static size_t gather(struct rc_frame_decoder *d, const uint8_t *buf,
		     size_t len, size_t upto)
{
	size_t n = upto > d->nhdr ? upto - d->nhdr : 0;

	if (n > len)
		n = len;
	if (n)
		memcpy(d->hdr + d->nhdr, buf, n);
	d->nhdr += (uint8_t)n;
	return n;
}

/*
 * Take the header from @buf. A header that is whole in @buf is parsed where
 * it lies; only a header split across calls is gathered into d->hdr.
 * Returns the bytes consumed (d->in_payload is set once the header is
 * complete), or a negative errno.
 */
static long take_header(struct rc_frame_decoder *d, const uint8_t *buf,
			size_t len)
{
	const uint8_t *h = buf;
	size_t hl, used;
	int err;

	if (!d->nhdr && len >= 2 && len >= header_len(buf)) {
		hl = used = header_len(buf);
	} else {
		used = gather(d, buf, len, 2);
		if (d->nhdr < 2)
			return (long)used;
		hl = header_len(d->hdr);
		used += gather(d, buf + used, len - used, hl);
		h = d->hdr;
	}
	/* Runs on every call once two bytes are in; it only reads them. */
	err = check_start(d, h);
	if (err)
		return err;
	if (h == d->hdr) {
		if (d->nhdr < hl)
			return (long)used;
		d->nhdr = 0;
	}
	err = start_frame(d, h, hl);
	return err ? err : (long)used;
}

/*
 * Hand out @p[0..n), the next payload bytes of the current frame: unmask
 * them in place, validate TEXT, and fill @ev. Returns 0 or a negative errno
 * (then @ev is left empty).
 */
static int take_payload(struct rc_frame_decoder *d, uint8_t *p, size_t n,
			struct rc_frame_event *ev)
{
	bool control = is_control(d->opcode);
	bool text = !control && d->msg_opcode == RC_OP_TEXT && !d->msg_z;
	bool first = d->in_payload == PAYLOAD_START &&
		     (control || d->opcode != RC_OP_CONT);
	bool last = d->remaining == n && d->fin;
	int err = 0;

	if (text && d->expect_masked)
		err = rc_utf8_feed_unmask(&d->utf8, p, n, d->key, d->key_off);
	else if (text)
		err = rc_utf8_feed(&d->utf8, p, n);
	else if (d->expect_masked)
		rc_simd->unmask(p, n, d->key, d->key_off);
	if (!err && text && last)
		err = rc_utf8_finish(&d->utf8);
	if (err)
		return err;

	ev->kind = control ? RC_FRAME_CONTROL : RC_FRAME_DATA;
	ev->opcode = control ? d->opcode : d->msg_opcode;
	ev->first = first;
	ev->last = last;
	ev->compressed = !control && d->msg_z;
	ev->data = p;
	ev->len = n;

	d->remaining -= n;
	d->key_off = (d->key_off + n) & 3;
	d->in_payload = d->remaining ? PAYLOAD_MORE : IN_HEADER;
	if (last && !control) {
		d->msg_opcode = 0;
		d->msg_z = 0;
		d->msg_len = 0;
	}
	return 0;
}

long rc_frame_decode(struct rc_frame_decoder *d, uint8_t *buf, size_t len,
		     struct rc_frame_event *ev)
{
	size_t used = 0, n;
	long r;

	*ev = (struct rc_frame_event){ .kind = RC_FRAME_NONE };
	if (d->in_payload == IN_HEADER) {
		r = take_header(d, buf, len);
		if (r < 0 || d->in_payload == IN_HEADER)
			return r;
		used = (size_t)r;
	}
	n = len - used;
	if (n > d->remaining)
		n = d->remaining;
	/* Nothing to hand out until payload bytes arrive; an empty frame
	   still gets its one (empty) event. */
	if (!n && d->remaining)
		return (long)used;
	r = take_payload(d, buf + used, n, ev);
	return r ? r : (long)(used + n);
}

size_t rc_frame_encode_header(uint8_t out[RC_FRAME_HDR_MAX], unsigned opcode,
			      bool fin, uint64_t len, const uint32_t *mask)
{
	size_t n = 2;

	out[0] = (fin ? FIN_BIT : 0) | (opcode & (OPCODE_BITS | RSV1_BIT));
	out[1] = mask ? MASK_BIT : 0;
	if (len < LEN_16) {
		out[1] |= (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] |= LEN_16;
		store_be(out + 2, len, 2);
		n += 2;
	} else {
		out[1] |= LEN_64;
		store_be(out + 2, len, 8);
		n += 8;
	}
	if (mask) {
		memcpy(out + n, mask, sizeof(*mask));
		n += sizeof(*mask);
	}
	return n;
}

int rc_frame_close_parse(const uint8_t *p, size_t n, uint16_t *code,
			 const uint8_t **reason, size_t *reason_len)
{
	*reason = p;
	*reason_len = 0;
	if (!n) {
		*code = RC_CLOSE_NO_STATUS;
		return 0;
	}
	if (n == 1)
		return -EPROTO;
	*code = (uint16_t)(p[0] << 8 | p[1]);
	if (!rc_close_code_valid(*code))
		return -EPROTO;
	/*
	 * At most 123 bytes, and the caller may have gathered the payload
	 * into an unpadded buffer: the scalar kernel reads nothing past it.
	 */
	if (rc_simd_scalar.utf8_scan(p + 2, n - 2))
		return -EILSEQ;
	*reason = p + 2;
	*reason_len = n - 2;
	return 0;
}

bool rc_close_code_valid(uint16_t code)
{
	/*
	 * RFC 6455 §7.4.1 defines 1000-1011 and 1015; 1004 is reserved and
	 * 1005, 1006, 1015 must never be sent. 1012-1014 (service restart,
	 * try again later, bad gateway) are registered with IANA in the
	 * RFC's own registry (§11.7), and browsers send and accept them.
	 * 3000-3999 are registered, 4000-4999 private.
	 */
	return (code >= 1000 && code <= 1003) ||
	       (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

uint16_t rc_frame_close_code(long err)
{
	switch (err) {
	case -EPROTO:
		return RC_CLOSE_PROTOCOL;
	case -EILSEQ:
		return RC_CLOSE_INVALID_DATA;
	case -EMSGSIZE:
		return RC_CLOSE_TOO_BIG;
	default:
		return RC_CLOSE_INTERNAL;
	}
}
