/* SPDX-License-Identifier: MIT */
/*
 * fuzz_inflate.c -- libFuzzer harness for the permessage-deflate codec
 * (src/deflate/), what a hostile peer reaches: any bytes as a compressed
 * message, inflated within a limit, with zlib as the differential oracle.
 *
 * Input: 1 byte of set-up, then the payload.
 *   byte 0, low 2 bits: 0  the payload as a shared-mode message: inflates
 *                          (then zlib agrees byte for byte, and ours
 *                          compresses it back to the same bytes), or is
 *                          refused as not deflate (zlib refuses it too) or
 *                          over the limit
 *                       1  the payload as data: compressed, it inflates
 *                          back (ours and zlib)
 *                       2  dedicated mode: the payload split in two
 *                          messages of one client stream, any outcome but
 *                          a crash or a limit passed
 *   bits 2-7: the limit, 64 << (bits % 12) bytes
 */
#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate/deflate.h"
#include "ringcast.h"
#include "check.h"

static const char *fuzz_context(void)
{
	return "";
}

static _Atomic size_t budget;

/* zlib's view of a message, given what ours is given: the message, the
   tail its sender cut and an empty final block. Returns the length when
   the stream ends (a final block) within @cap bytes, -1 when it does not
   inflate or does not end, -2 over @cap. */
static long zlib_view(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	static const uint8_t tail[] = { 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff };
	z_stream s = { 0 };
	long got = 0;
	int r = Z_OK;

	if (inflateInit2(&s, -15) != Z_OK)
		abort();
	for (int part = 0; part < 2 && r != Z_STREAM_END; part++) {
		s.next_in = (Bytef *)(uintptr_t)(part ? tail : in);
		s.avail_in = part ? sizeof(tail) : (uInt)n;
		do {
			uint8_t one;
			bool room = got < (long)cap;

			s.next_out = room ? out + got : &one;
			s.avail_out = room ? (uInt)(cap - (size_t)got) : 1;
			r = inflate(&s, Z_NO_FLUSH);
			got = room ? (long)(cap - s.avail_out) :
				     got + (1 - (long)s.avail_out);
			if (got > (long)cap) {
				inflateEnd(&s);
				return -2;
			}
		} while (r == Z_OK && (s.avail_in || !s.avail_out));
	}
	inflateEnd(&s);
	return r == Z_STREAM_END ? got : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct rc_zctx *z = rc__z_thread(6);
	size_t max, olen = 0, n;
	const uint8_t *zp;
	uint8_t *out;
	int r;

	if (!len || !z)
		return 0;
	max = (size_t)64 << ((data[0] >> 2) % 12);
	n = len - 1;
	switch (data[0] & 3) {
	case 0: {
		uint8_t *ref = malloc(max + 1);
		long zr;

		r = rc__z_inflate(z, data + 1, n, max, &budget, 1u << 30,
				  &out, &olen);
		CHECK(r == 0 || r == -EILSEQ || r == -EMSGSIZE);
		zr = zlib_view(data + 1, n, ref, max);
		if (r == 0) {
			/* The two may differ in what they refuse (codes
			   zlib and libdeflate judge differently); what both
			   read must be the same. */
			CHECK(olen <= max);
			if (zr >= 0) {
				CHECK((size_t)zr == olen);
				CHECK(!memcmp(ref, out, olen));
			}
			memcpy(ref, out, olen);
			rc__z_release(z);
			n = olen ? rc__z_deflate(z, ref, olen, &zp) : 0;
			if (n) {
				uint8_t *copy = malloc(n);

				memcpy(copy, zp, n);
				CHECK(rc__z_inflate(z, copy, n, max, &budget,
						    1u << 30, &out, &olen) == 0);
				CHECK(!memcmp(out, ref, olen));
				free(copy);
			}
		} else if (r == -EMSGSIZE) {
			CHECK(zr < 0);
		}
		rc__z_release(z);
		free(ref);
		break;
	}
	case 1: {
		uint8_t *copy, *ref = malloc(n + 1);

		n = rc__z_deflate(z, data + 1, len - 1, &zp);
		if (!n) {
			free(ref);
			break;	/* not smaller */
		}
		CHECK(n < len - 1);
		copy = malloc(n);
		memcpy(copy, zp, n);
		CHECK(zlib_view(copy, n, ref, len - 1) == (long)(len - 1));
		CHECK(!memcmp(ref, data + 1, len - 1));
		CHECK(rc__z_inflate(z, copy, n, len - 1, &budget, 1u << 30,
				    &out, &olen) == 0);
		CHECK(olen == len - 1 && !memcmp(out, data + 1, olen));
		rc__z_release(z);
		free(copy);
		free(ref);
		break;
	}
	default: {
		struct rc_zconn *zc = rc__zc_new(15, (uint8_t)(9 + data[0] % 7),
						 true, true);
		size_t half = n / 2;

		for (int i = 0; i < 2 && zc; i++) {
			r = rc__zc_inflate(zc, z, data + 1 + (i ? half : 0),
					   i ? n - half : half, max, &budget,
					   1u << 30, &out, &olen);
			CHECK(r == 0 || r == -EILSEQ || r == -EMSGSIZE);
			CHECK(r || olen <= max);
			rc__z_release(z);
			if (r)
				break;
		}
		rc__zc_free(zc);
		break;
	}
	}
	CHECK(atomic_load(&budget) == 0);
	return 0;
}
