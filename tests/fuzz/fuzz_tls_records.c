/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tls_records.c -- libFuzzer harness for our TLS 1.3 record layer
 * (src/tls/record.c, built in with its runtime calls stubbed by
 * tests/tls_record_harness.h).
 *
 * Input: byte 0 picks the suite (bits 0-1) and the mode (bit 2);
 * bytes 1-4 are read sizes, used in turn (0 means 1, else the byte).
 *   mode 0: the rest is ciphertext as a peer could send anything: fed to
 *           the server side in those reads. No crash, no over-read, and
 *           nothing is delivered unless a record opens (it never should:
 *           nobody here knows the key).
 *   mode 1: the rest is a script of records a client with the key seals:
 *           [type byte][length byte][that many bytes], any inner type and
 *           padding, KeyUpdate messages included, then fed to the server
 *           in those reads. The plaintext delivered must be exactly the
 *           concatenation of the application_data records up to the first
 *           record the server refuses or the first alert.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tls/record.c"
#include "tls_record_harness.h"
#include "check.h"

static const char *fuzz_context(void)
{
	return "";
}

static struct rc_tls_crypto *cr;

static void feed(struct side *s, const uint8_t *p, size_t n,
		 const uint8_t *sizes)
{
	size_t off = 0;

	for (unsigned i = 0; off < n && !(s->c.flags & RC_CF_INPUT_BAD) &&
	     s->c.state != RC_CONN_CLOSING; i++) {
		size_t k = sizes[i % 4] ? sizes[i % 4] : 1;
		/* Exactly the bytes of the read, padded as a receive buffer
		   is: ASan sees any read past them. */
		uint8_t *buf;

		if (k > n - off)
			k = n - off;
		buf = malloc(k + RC_SIMD_PADDING);
		CHECK(buf);
		memcpy(buf, p + off, k);
		rc__tls_rl_input(&s->c, buf, k);
		free(buf);
		off += k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t suites[] = { RC_TLS_AES_128_GCM_SHA256,
					  RC_TLS_AES_256_GCM_SHA384,
					  RC_TLS_CHACHA20_POLY1305_SHA256,
					  RC_TLS_AES_128_GCM_SHA256 };
	struct side cl, sv;
	uint8_t *want = NULL;
	size_t nwant = 0;
	bool stopped = false;
	uint8_t suite;

	if (size < 5)
		return 0;
	if (!cr)
		cr = rc__tls_crypto_new();
	CHECK(cr);
	suite = suites[data[0] & 3];
	CHECK(side_init(&cl, cr, suite, true) == 0);
	CHECK(side_init(&sv, cr, suite, false) == 0);
	if (!(data[0] & 4)) {
		feed(&sv, data + 5, size - 5, data + 1);
		CHECK(sv.got_len == 0);
		goto out;
	}
	want = malloc(size);
	CHECK(want);
	for (size_t i = 5; i + 2 <= size;) {
		uint8_t type = data[i], len = data[i + 1];
		const uint8_t *p = data + i + 2;

		if (len > size - i - 2)
			len = (uint8_t)(size - i - 2);
		i += 2 + (size_t)len;
		raw_seal(&cl, type, p, len);
		if (stopped)
			continue;
		/* What the server will deliver of it: an application_data
		   record's content (type 23 after stripping zeros). */
		{
			size_t k = len;

			if (type) {
				if (type == 23) {
					memcpy(want + nwant, p, len);
					nwant += len;
					continue;
				}
			} else {
				/* the type is the last non-zero byte of p */
				while (k && !p[k - 1])
					k--;
				if (k && p[k - 1] == 23) {
					memcpy(want + nwant, p, k - 1);
					nwant += k - 1;
					continue;
				}
			}
			/* Anything else (alert, handshake, bad type) may
			   stop the input: expect nothing after it. */
			stopped = true;
		}
	}
	feed(&sv, cl.wire, cl.wire_len, data + 1);
	/* Delivered: a prefix of what was sent as data, all of it unless
	   a non-data record came first. */
	CHECK(sv.got_len <= nwant);
	CHECK(!sv.got_len || !memcmp(sv.got, want, sv.got_len));
	if (!stopped)
		CHECK(sv.got_len == nwant);
out:
	free(want);
	side_free(&cl);
	side_free(&sv);
	return 0;
}
