/* SPDX-License-Identifier: MIT */
/* deflate.c -- permessage-deflate: per-thread one-shot codec, per-connection streams. */
#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate/deflate.h"
#include "ringcast.h"
#include "runtime/alloc.h"

/* Inflated scratch kept between messages; beyond it, taken from the
   budget while used and freed after (over RC_Z_KEEP). */
#define RC_Z_FREE_CAP (64u << 10)
#define RC_Z_KEEP (256u << 10)

/* What is appended to a received message before inflating it: the tail
   the sender left off, and an empty final block, so that a one-shot
   decoder sees a whole stream (RFC 7692 §7.2.2). */
static const uint8_t tail[] = { 0x00, 0x00, 0xff, 0xff,
				0x01, 0x00, 0x00, 0xff, 0xff };

struct rc_zctx {
	struct libdeflate_compressor *c;
	int level;
	struct libdeflate_decompressor *d;
	uint8_t *zbuf;			/* compressed bytes, out or in */
	size_t zcap;
	uint8_t *obuf;			/* inflated bytes */
	size_t ocap;
	_Atomic size_t *budget;		/* what ocap took from it */
	size_t taken;
};

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;
static __thread struct rc_zctx *zself;

static void zctx_free(void *p)
{
	struct rc_zctx *z = p;

	if (!z)
		return;
	if (z->c)
		libdeflate_free_compressor(z->c);
	if (z->d)
		libdeflate_free_decompressor(z->d);
	free(z->zbuf);
	free(z->obuf);
	free(z);
}

static void zkey_make(void)
{
	(void)pthread_key_create(&zkey, zctx_free);
}

struct rc_zctx *rc__z_thread(int level)
{
	struct rc_zctx *z = zself;

	if (!z) {
		pthread_once(&zonce, zkey_make);
		z = calloc(1, sizeof(*z));
		if (!z)
			return NULL;
		z->d = libdeflate_alloc_decompressor();
		if (!z->d) {
			free(z);
			return NULL;
		}
		zself = z;
		(void)pthread_setspecific(zkey, z);
	}
	if (!z->c || z->level != level) {
		struct libdeflate_compressor *c =
			libdeflate_alloc_compressor(level);

		if (!c)
			return NULL;
		if (z->c)
			libdeflate_free_compressor(z->c);
		z->c = c;
		z->level = level;
	}
	return z;
}

/* Make @z's compressed scratch hold @n bytes. */
static bool zbuf_fit(struct rc_zctx *z, size_t n)
{
	uint8_t *p;

	if (n <= z->zcap)
		return true;
	if (n < 4096)
		n = 4096;
	p = rc__malloc(n);
	if (!p)
		return false;
	free(z->zbuf);
	z->zbuf = p;
	z->zcap = n;
	return true;
}

size_t rc__z_deflate(struct rc_zctx *z, const void *data, size_t len,
		     const uint8_t **out)
{
	size_t bound = libdeflate_deflate_compress_bound(z->c, len) + 1;
	size_t n;

	if (!zbuf_fit(z, bound))
		return 0;
	n = libdeflate_deflate_compress(z->c, data, len, z->zbuf, bound - 1);
	if (!n)
		return 0;
	/* libdeflate ends the stream with a final block (BFINAL set). The
	   RFC's way to end it: an empty stored block after it, the 4 bytes
	   of its length then left off, so one byte stays (§7.2.3.3's
	   BFINAL example). A receiver that keeps no context, or that resets
	   at a final block, reads it; we answer server_no_context_takeover,
	   so every receiver may. */
	z->zbuf[n++] = 0x00;
	if (n >= len)
		return 0;
	*out = z->zbuf;
	return n;
}

/* Make @z's inflated scratch at least @cap bytes, the part over
   RC_Z_FREE_CAP taken from the budget. */
static int obuf_fit(struct rc_zctx *z, size_t cap, _Atomic size_t *budget,
		    size_t budget_max)
{
	uint8_t *p;

	if (cap <= z->ocap)
		return 0;
	if (budget_max != RC_UNLIMITED_SIZE && cap > RC_Z_FREE_CAP) {
		size_t want = cap - RC_Z_FREE_CAP - z->taken;

		if (atomic_fetch_add(budget, want) + want > budget_max) {
			atomic_fetch_sub(budget, want);
			return -EBUSY;
		}
		z->budget = budget;
		z->taken += want;
	}
	p = rc__malloc(cap);
	if (!p)
		return -ENOMEM;
	free(z->obuf);
	z->obuf = p;
	z->ocap = cap;
	return 0;
}

void rc__z_release(struct rc_zctx *z)
{
	if (z->taken) {
		atomic_fetch_sub(z->budget, z->taken);
		z->taken = 0;
	}
	if (z->ocap > RC_Z_KEEP) {
		free(z->obuf);
		z->obuf = NULL;
		z->ocap = 0;
	}
	if (z->zcap > RC_Z_KEEP) {
		free(z->zbuf);
		z->zbuf = NULL;
		z->zcap = 0;
	}
}

/* The first inflated scratch size to try for @n compressed bytes. */
static size_t first_cap(size_t n, size_t max, size_t have)
{
	size_t cap = n < (SIZE_MAX >> 3) ? n * 8 : SIZE_MAX;

	if (cap < RC_Z_FREE_CAP)
		cap = RC_Z_FREE_CAP;
	if (cap < have)
		cap = have;
	return cap < max ? cap : max;
}

int rc__z_inflate(struct rc_zctx *z, const uint8_t *in, size_t n, size_t max,
		  _Atomic size_t *budget, size_t budget_max, uint8_t **out,
		  size_t *outlen)
{
	size_t cap = first_cap(n, max, z->ocap);
	int ret;

	if (!zbuf_fit(z, n + sizeof(tail)))
		return -ENOMEM;
	memcpy(z->zbuf, in, n);
	memcpy(z->zbuf + n, tail, sizeof(tail));
	for (;;) {
		enum libdeflate_result r;
		size_t got;

		ret = obuf_fit(z, cap, budget, budget_max);
		if (ret)
			return ret;
		/* The whole scratch, however large: a message that fits
		   never needs a second pass. */
		r = libdeflate_deflate_decompress(z->d, z->zbuf,
						  n + sizeof(tail), z->obuf,
						  z->ocap < max ? z->ocap : max,
						  &got);
		if (r == LIBDEFLATE_SUCCESS) {
			*out = z->obuf;
			*outlen = got;
			return 0;
		}
		if (r != LIBDEFLATE_INSUFFICIENT_SPACE)
			return -EILSEQ;
		if (z->ocap >= max)
			return -EMSGSIZE;
		/* Inflating again from the start, 4 times larger: at most
		   a third more work than knowing the size. */
		cap = z->ocap <= max / 4 ? z->ocap * 4 : max;
	}
}

/* ---- dedicated mode ---- */

struct rc_zconn {
	z_stream *def, *inf;
	uint8_t server_bits, client_bits;
	bool server_ctx, client_ctx;
	size_t bytes;			/* what zlib allocated for them */
};

static voidpf zc_alloc(voidpf opaque, uInt items, uInt size)
{
	struct rc_zconn *zc = opaque;
	size_t n = (size_t)items * size;
	size_t *p = rc__malloc(n + sizeof(size_t));

	if (!p)
		return Z_NULL;
	*p = n;
	zc->bytes += n;
	return p + 1;
}

static void zc_release(voidpf opaque, voidpf ptr)
{
	struct rc_zconn *zc = opaque;
	size_t *p = (size_t *)ptr - 1;

	zc->bytes -= *p;
	free(p);
}

struct rc_zconn *rc__zc_new(uint8_t server_bits, uint8_t client_bits,
			    bool server_ctx, bool client_ctx)
{
	struct rc_zconn *zc = rc__malloc(sizeof(*zc));

	if (!zc)
		return NULL;
	*zc = (struct rc_zconn){ .server_bits = server_bits,
				 .client_bits = client_bits,
				 .server_ctx = server_ctx,
				 .client_ctx = client_ctx };
	return zc;
}

void rc__zc_free(struct rc_zconn *zc)
{
	if (!zc)
		return;
	if (zc->def) {
		deflateEnd(zc->def);
		free(zc->def);
	}
	if (zc->inf) {
		inflateEnd(zc->inf);
		free(zc->inf);
	}
	free(zc);
}

size_t rc__zc_size(const struct rc_zconn *zc)
{
	return sizeof(*zc) + zc->bytes +
	       (zc->def ? sizeof(z_stream) : 0) +
	       (zc->inf ? sizeof(z_stream) : 0);
}

static z_stream *zc_stream(struct rc_zconn *zc)
{
	z_stream *s = rc__malloc(sizeof(*s));

	if (s)
		*s = (z_stream){ .zalloc = zc_alloc, .zfree = zc_release,
				 .opaque = zc };
	return s;
}

size_t rc__zc_deflate(struct rc_zconn *zc, struct rc_zctx *z, int level,
		      const void *data, size_t len, const uint8_t **out)
{
	/* deflateBound() holds for one call of deflate(); a sync flush adds
	   at most 5 bytes (one empty stored block) and the block boundary
	   a few bits. */
	size_t bound, n;
	z_stream *s = zc->def;

	if (!s) {
		/* memLevel follows the window (zlib's default 8 at 15),
		   so a small window really costs little: memory is about
		   2^(bits+2) + 2^(memLevel+9) bytes. */
		int mem = zc->server_bits - 7;

		s = zc_stream(zc);
		if (!s)
			return 0;
		if (deflateInit2(s, level > 9 ? 9 : level, Z_DEFLATED,
				 -(int)zc->server_bits, mem < 1 ? 1 : mem,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			free(s);
			return 0;
		}
		zc->def = s;
	}
	bound = deflateBound(s, len) + 16;
	if (!zbuf_fit(z, bound))
		return 0;
	s->next_in = (Bytef *)(uintptr_t)data;
	s->avail_in = (uInt)len;
	s->next_out = z->zbuf;
	s->avail_out = (uInt)bound;
	if (deflate(s, Z_SYNC_FLUSH) != Z_OK || s->avail_in || !s->avail_out)
		return 0;
	n = bound - s->avail_out;
	if (!zc->server_ctx)
		deflateReset(s);
	if (n < RC_Z_TAIL_LEN)
		return 0;
	*out = z->zbuf;
	return n - RC_Z_TAIL_LEN;	/* 00 00 ff ff: the sync flush's */
}

int rc__zc_inflate(struct rc_zconn *zc, struct rc_zctx *z, const uint8_t *in,
		   size_t n, size_t max, _Atomic size_t *budget,
		   size_t budget_max, uint8_t **out, size_t *outlen)
{
	z_stream *s = zc->inf;
	size_t got = 0;
	int zr, ret;

	if (!zc->client_ctx)
		return rc__z_inflate(z, in, n, max, budget, budget_max, out,
				     outlen);
	if (!s) {
		s = zc_stream(zc);
		if (!s)
			return -ENOMEM;
		/* A window at least as large as the client's: zlib inflates
		   raw deflate with 9..15 (8 is taken as 9). */
		if (inflateInit2(s, -(int)(zc->client_bits < 9 ? 9 :
					   zc->client_bits)) != Z_OK) {
			free(s);
			return -ENOMEM;
		}
		zc->inf = s;
	}
	ret = obuf_fit(z, first_cap(n, max, z->ocap), budget, budget_max);
	if (ret)
		return ret;
	/* Streamed: the message, then the tail its sender left off. The
	   output stops at @max + 1 bytes, so a bomb costs no more. */
	for (int part = 0; part < 2; part++) {
		s->next_in = (Bytef *)(uintptr_t)(part ? tail : in);
		s->avail_in = (uInt)(part ? RC_Z_TAIL_LEN : n);
		do {
			size_t room;

			if (got == z->ocap) {
				size_t cap = z->ocap <= max / 4 ? z->ocap * 4 :
								   max + 1;
				uint8_t *keep = z->obuf;

				if (got > max)
					return -EMSGSIZE;
				/* Grow keeping what is inflated: take the
				   buffer, make a new one, copy. */
				z->obuf = NULL;
				z->ocap = 0;
				ret = obuf_fit(z, cap, budget, budget_max);
				if (ret) {
					z->obuf = keep;
					z->ocap = got;
					return ret;
				}
				memcpy(z->obuf, keep, got);
				free(keep);
			}
			room = z->ocap - got;
			s->next_out = z->obuf + got;
			s->avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX :
					      room);
			zr = inflate(s, Z_SYNC_FLUSH);
			got += (room > UINT32_MAX ? UINT32_MAX : room) -
			       s->avail_out;
			if (got > max)
				return -EMSGSIZE;
			if (zr == Z_STREAM_END) {
				/* A final block: the client's stream ended;
				   the next message starts a new one. */
				inflateReset(s);
				s->avail_in = 0;
				break;
			}
			if (zr != Z_OK && zr != Z_BUF_ERROR)
				return -EILSEQ;
		} while (s->avail_in || !s->avail_out);
	}
	*out = z->obuf;
	*outlen = got;
	return 0;
}
