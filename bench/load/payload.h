/* SPDX-License-Identifier: MIT */
/* payload.h -- what the broadcast publishers send: binary filler, --text or --json chat messages, as masked frames ready to copy (plain, and compressed for --deflate), each with the place of its per-message stamp. */
#ifndef RL_PAYLOAD_H
#define RL_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/* The stamp: send time, publisher, sequence number. Binary: 16 bytes,
   little-endian, starting the payload. --json: the message's first 51
   bytes, {"id":"PPPPPPPP-SSSSSSSS","ts":1TTTTTTTTTTTTTTTTTT, with the
   publisher and sequence number in hex and ts = 10^18 + the send time
   (CLOCK_MONOTONIC ns), so that every field has its fixed width. */
#define RL_STAMP_BIN		16
#define RL_STAMP_JSON		51
/* --text: TEXT of ASCII letters, no byte JSON would escape (so that a
   ringcast.v1 envelope carries it as it is), the stamp its first 37
   bytes, PPPPPPPP-SSSSSSSS-1TTTTTTTTTTTTTTTTTT (hex, hex, ts as in
   --json). */
#define RL_STAMP_TEXT		37
/* --json: distinct messages, drawn in turn; every worker makes the same. */
#define RL_JSON_VARIANTS	128
/* --json: the smallest --size (a stamp, the fixed fields, a few words). */
#define RL_JSON_MIN_SIZE	128

/* One message as a frame, masked with the worker's key. */
struct rl_frame_tpl {
	uint8_t *frame;
	uint32_t len;		/* frame bytes */
	uint32_t stamp_off;	/* where the stamp is, in the frame */
	uint32_t key_off;	/* its offset in the payload, mod 4 */
};

struct rl_variant {
	uint32_t len;			/* payload bytes, as published */
	struct rl_frame_tpl f[2];	/* [0] plain, [1] compressed (RSV1;
					   only with --deflate) */
};

struct rl_payload {
	bool json;
	bool text;			/* --text (not --json) */
	unsigned opcode;		/* RC_OP_BINARY, --json and --text
					   RC_OP_TEXT */
	size_t stamp_len;
	unsigned n;			/* variants */
	struct rl_variant *v;
	size_t max_frame;		/* the longest frame of any of them */
};

/*
 * Make the messages of @cfg (--size, --text, --json, --deflate) as frames masked
 * with @key. Returns 0 or -ENOMEM; rl_payload_free() undoes either way.
 */
int rl_payload_init(struct rl_payload *pl, const struct rl_cfg *cfg,
		    uint32_t key);
void rl_payload_free(struct rl_payload *pl);

/* The variant message @seq of publisher @pub is (the same everywhere). */
static inline unsigned rl_payload_pick(const struct rl_payload *pl,
				       uint32_t pub, uint32_t seq)
{
	return pl->n == 1 ? 0 : (unsigned)((pub + (uint64_t)seq) % pl->n);
}

/* Write the stamp of (@t, @pub, @seq) into @frame, a copy of @f, masked
   with @key. */
void rl_payload_stamp(const struct rl_payload *pl,
		      const struct rl_frame_tpl *f, uint8_t *frame,
		      uint32_t key, uint64_t t, uint32_t pub, uint32_t seq);

/* Read the stamp at the start of a received payload (@head[0..@n)).
   False if it is not one. */
bool rl_payload_unstamp(const struct rl_payload *pl, const uint8_t *head,
			size_t n, uint64_t *t, uint32_t *pub, uint32_t *seq);

/*
 * --json message number @v (0..RL_JSON_VARIANTS) for an average of @size
 * bytes into @out (room for @size * 5 / 4 + 64 bytes), its stamp (t 0,
 * publisher 0, sequence 0) first. Returns its length. For tests and the
 * variants above.
 */
size_t rl_payload_json(uint8_t *out, size_t size, unsigned v);

#endif /* RL_PAYLOAD_H */
