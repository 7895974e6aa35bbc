/* SPDX-License-Identifier: MIT */
/*
 * deflate.h -- permessage-deflate (RFC 7692) compression and inflation.
 *
 * Shared mode (the default) keeps no state per connection: both sides
 * agreed on no context takeover, so every message is a deflate stream of
 * its own, made and read whole by one compressor and one decompressor per
 * thread (libdeflate: one-shot, about twice zlib's speed at the same
 * ratio). A published message is compressed once, by its publisher, and
 * the compressed frame is shared like the plain one.
 *
 * Dedicated mode keeps a window per connection and direction (zlib
 * streams, made on the first message that needs them): a better ratio for
 * small messages, at tens to hundreds of KiB per connection and one
 * compression per subscriber.
 */
#ifndef RC_DEFLATE_H
#define RC_DEFLATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every compressed message ends, on the wire, without the 4 bytes of an
   empty stored block that a sync flush makes (RFC 7692 §7.2.1). */
#define RC_Z_TAIL_LEN 4

/*
 * A thread's shared-mode compressor and decompressor, and the scratch
 * buffers a message is made in. Made on first use; freed at thread exit.
 */
struct rc_zctx;

/* This thread's context at compression @level (1..12), or NULL on -ENOMEM. */
struct rc_zctx *rc__z_thread(int level);

/*
 * Compress @len bytes as one message with no context. Returns the
 * compressed length (the payload of a frame with RSV1, its tail already
 * left off) with *@out pointing at it in @z's scratch (valid until @z is
 * used again), or 0 when it is not smaller than @len (or on -ENOMEM): then
 * send it uncompressed.
 */
size_t rc__z_deflate(struct rc_zctx *z, const void *data, size_t len,
		     const uint8_t **out);

/*
 * Inflate one whole compressed message with no context (its tail not
 * included) into @z's scratch: *@out and *@outlen (valid until @z is used
 * again). The output may not pass @max bytes: -EMSGSIZE as soon as it
 * would. Scratch beyond 64 KiB is taken from *@budget (at most @budget_max
 * in all, RC_UNLIMITED_SIZE: no limit) while the message is inflated, and
 * given back by rc__z_release(): -EBUSY if it is not there. -EILSEQ: not
 * valid deflate data. -ENOMEM.
 */
int rc__z_inflate(struct rc_zctx *z, const uint8_t *in, size_t n, size_t max,
		  _Atomic size_t *budget, size_t budget_max, uint8_t **out,
		  size_t *outlen);

/* Done with what rc__z_inflate() (or rc__zc_inflate()) gave: give back the
   budget it took, and scratch over 256 KiB. */
void rc__z_release(struct rc_zctx *z);

/*
 * A connection's dedicated-mode state: a window each way, kept across
 * messages (zlib). @server_bits and @client_bits are the agreed windows.
 */
struct rc_zconn;

struct rc_zconn *rc__zc_new(uint8_t server_bits, uint8_t client_bits,
			    bool server_ctx, bool client_ctx);
void rc__zc_free(struct rc_zconn *zc);
/* Bytes it holds now (its streams, once made). */
size_t rc__zc_size(const struct rc_zconn *zc);

/* Compress @len bytes into @z's scratch with @zc's window (*@out, the
   returned length; the tail left off). 0 on -ENOMEM; the connection must
   then be closed, as its window may hold part of the message. */
size_t rc__zc_deflate(struct rc_zconn *zc, struct rc_zctx *z, int level,
		      const void *data, size_t len, const uint8_t **out);

/* As rc__z_inflate(), with @zc's window when the client keeps one. */
int rc__zc_inflate(struct rc_zconn *zc, struct rc_zctx *z, const uint8_t *in,
		   size_t n, size_t max, _Atomic size_t *budget,
		   size_t budget_max, uint8_t **out, size_t *outlen);

#endif /* RC_DEFLATE_H */
