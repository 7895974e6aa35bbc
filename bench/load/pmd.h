/* SPDX-License-Identifier: MIT */
/* pmd.h -- permessage-deflate (RFC 7692), the client's side: the offer, the check of the server's answer, inflating what the server sends, compressing what the tool sends. */
#ifndef RL_PMD_H
#define RL_PMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "simd/simd.h"

struct rl_ws_rx;

/* What --deflate offers: any window for the server, and we take the one it
   gives us (our frames are compressed with a 512-byte window: within any
   client_max_window_bits the server may answer, 8 included). */
#define RL_PMD_OFFER	"permessage-deflate; client_max_window_bits"

/* Window of the tool's own compressed frames: zlib's least (distances stay
   under 256 bytes, so any client_max_window_bits=8..15 holds). */
#define RL_PMD_OWN_BITS	9

/* The server's answer, as agreed for one connection. */
struct rl_pmd_params {
	bool on;			/* permessage-deflate in use */
	bool server_no_context;		/* server_no_context_takeover */
	bool client_no_context;		/* client_no_context_takeover */
	uint8_t server_bits;		/* server_max_window_bits (15) */
	uint8_t client_bits;		/* client_max_window_bits (15) */
};

/*
 * Take one Sec-WebSocket-Extensions value of a 101 (@v[0..@n), a header
 * line's value) into *@p (zeroed by the caller before the first line).
 * What we offered is all that may come back: one permessage-deflate, with
 * server_no_context_takeover, client_no_context_takeover,
 * server_max_window_bits=8..15, client_max_window_bits=8..15 (tokens or
 * quoted strings), each at most once. Returns 0, or -EPROTO for anything
 * else (a second extension, an unknown or repeated parameter, a bad value):
 * RFC 6455 §9.1 has the client fail the connection then.
 */
int rl_pmd_answer(const char *v, size_t n, struct rl_pmd_params *p);

/* A worker's inflate cache: sets of ways (a message goes to one set, by
   its hash, and takes the oldest entry there), and the largest compressed
   message an entry keeps (bigger ones are inflated every time). 1024
   entries: the messages in flight of many publishers' windows. */
#define RL_PMD_CACHE_SETS	256
#define RL_PMD_CACHE_WAYS	4
#define RL_PMD_CACHE_ZMAX	1024
/* Inflated output goes through a scratch buffer of this size. */
#define RL_PMD_OUT		65536

struct rl_pmd_cached;

/*
 * A worker's inflate state, shared by its connections whose server keeps no
 * context (server_no_context_takeover): a message is inflated from scratch,
 * so the result depends on its compressed bytes alone. A server that
 * compresses once per publish sends the same bytes to every subscriber: the
 * worker inflates them once and finds them in its cache for the others
 * (the whole compressed message compared, byte for byte). Without this the
 * tool's inflating, not the server, would bound a compressed fan-out.
 */
struct rl_pmd_worker {
	z_stream zs;
	bool zs_ok;
	uint8_t *out;			/* [RL_PMD_OUT] */
	struct rl_pmd_cached *cache;	/* [SETS * WAYS] */
	uint8_t *victim;		/* [SETS]: the way to fill next */
};

/*
 * One connection's state, made when first needed: a zlib stream of its own
 * when the server keeps context (dedicated mode), or the bytes of a
 * compressed message that came in several pieces (no context: inflated
 * whole once complete). Kept for the connection's life, not per message.
 */
struct rl_pmd_conn {
	z_stream zs;			/* context: the server's window */
	bool ctx;			/* zs is set up */
	bool ended;			/* a final block ended zs: reset it */
	struct rc_utf8 utf8;		/* context: the open message's text */
	uint8_t *acc;			/* no context: the message so far */
	size_t acc_len;
	size_t acc_cap;
};

/* Set up @z; 0 or -ENOMEM. rl_pmd_worker_exit() undoes either way. */
int rl_pmd_worker_init(struct rl_pmd_worker *z);
void rl_pmd_worker_exit(struct rl_pmd_worker *z);

/*
 * Ready @rx (just upgraded, with @p agreed) to take compressed messages:
 * RSV1 allowed, @z for inflating, a stream of its own if the server keeps
 * context. Returns 0 or -ENOMEM.
 */
int rl_pmd_rx_setup(struct rl_ws_rx *rx, struct rl_pmd_worker *z,
		    const struct rl_pmd_params *p);

/* Free what rl_pmd_rx_setup() and the messages made for @rx. */
void rl_pmd_rx_release(struct rl_ws_rx *rx);

/*
 * Payload bytes @p[0..@n) of a compressed data message on @rx (@first,
 * @last as the decoder's event says): inflated into rx->len and rx->head,
 * the text checked as UTF-8 when @text. *@cached is set when the last
 * piece's message came from the cache. Returns 0, -EPROTO (corrupt
 * deflate data), -EILSEQ (inflated TEXT not UTF-8) or -ENOMEM.
 */
int rl_pmd_take(struct rl_ws_rx *rx, const uint8_t *p, size_t n, bool first,
		bool last, bool text, bool *cached);

/*
 * Compress for sending: a raw deflate stream (RFC 7692 §7.2.1, the final
 * 00 00 ff ff left off) of @prefix[0..@np) in a stored block, so that it
 * stays as it is in the output at *@prefix_off (a stamp rewritten per
 * message), then @body[0..@nb) compressed with a window of RL_PMD_OWN_BITS.
 * @np 0: no stored block. Returns a malloc'd buffer (*@len bytes), or NULL.
 */
uint8_t *rl_pmd_compress(const uint8_t *prefix, size_t np, const uint8_t *body,
			 size_t nb, size_t *len, size_t *prefix_off);

#endif /* RL_PMD_H */
