/* SPDX-License-Identifier: MIT */
/*
 * fuzz_bridge.c -- libFuzzer harness for what crosses NATS between hubs
 * (src/bridge/): message heads from anyone who can publish on the subject,
 * the per-room order check, and room names as subject tokens. The input is
 * a run of messages, each a length byte and that many bytes. Checked:
 *   - rc__bridge_parse() reads only its buffer (ASan: each message is its
 *     own allocation of exactly its size), takes only what the format says
 *     (a known version, known flags, a non-zero hub and number for 0xB1;
 *     for 0xB2 and 0xB3, what bridge.h says of them) and reads the fields
 *     back as they were written (0xB2 and 0xB3: written again from what
 *     was read, the same bytes);
 *   - rc__bridge_order() against a reference written apart from it (a list
 *     in least-recently-heard order): the same verdict, the same gap;
 *   - each message's bytes as a room name: the token has only subject-safe
 *     characters, at most three per byte, and reads back to the name; read
 *     as a token, it is refused or spells itself.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge.h"
#include "fuzz/check.h"

static const char *fuzz_context(void)
{
	return "";
}

struct ref_origin {
	uint64_t hub, seq;
	uint32_t lane_gen;
};

/* The reference: o[0] the most recently heard of. */
struct ref_order {
	struct ref_origin o[RC_BRIDGE_ORIGINS];
	unsigned n;
};

static int ref_check(struct ref_order *r, const struct rc_bridge_head *h,
		     uint64_t *gap)
{
	struct ref_origin cur;
	unsigned i;
	int verdict = 1;

	*gap = 0;
	if (!h->hub)
		return 1;
	for (i = 0; i < r->n; i++)
		if (r->o[i].hub == h->hub && r->o[i].lane_gen == h->lane_gen)
			break;
	if (i == r->n) {
		/* New: forget the least recently heard of if full. */
		if (r->n < RC_BRIDGE_ORIGINS)
			r->n++;
		i = r->n - 1;
		cur = (struct ref_origin){ h->hub, h->seq, h->lane_gen };
	} else {
		cur = r->o[i];
		if (h->seq <= cur.seq) {
			verdict = 0;
		} else {
			*gap = h->seq - cur.seq - 1;
			cur.seq = h->seq;
		}
	}
	memmove(&r->o[1], &r->o[0], i * sizeof(r->o[0]));
	r->o[0] = cur;
	return verdict;
}

static bool safe_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '~';
}

static void check_token(const uint8_t *p, size_t n)
{
	char *tok = malloc(3 * n + 1);
	uint8_t *back = malloc(n + 1);
	size_t tn = rc__bridge_subject_token(tok, p, n);
	long bn;

	CHECK(tn >= n && tn <= 3 * n);
	for (size_t i = 0; i < tn; i++)
		CHECK(safe_char(tok[i]));
	CHECK(rc__bridge_subject_untoken(back, tok, tn) == (long)n);
	CHECK(!n || !memcmp(back, p, n));
	/* The bytes read as a token: refused, or a name spelt this way. */
	bn = rc__bridge_subject_untoken(back, (const char *)p, n);
	if (bn >= 0) {
		char *again = malloc(3 * (size_t)bn + 1);
		size_t an = rc__bridge_subject_token(again, back, (size_t)bn);

		CHECK(an == n && !memcmp(again, p, n));
		free(again);
	}
	free(tok);
	free(back);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rc_bridge_order ord;
	static struct ref_order ref;

	memset(&ord, 0, sizeof(ord));
	memset(&ref, 0, sizeof(ref));
	while (size) {
		size_t n = data[0];
		uint8_t *m;
		struct rc_bridge_head h;
		uint64_t gap, rgap;
		int ret;

		data++;
		size--;
		if (n > size)
			n = size;
		m = malloc(n ? n : 1);
		memcpy(m, data, n);
		ret = rc__bridge_parse(m, n, &h);
		if (!ret) {
			CHECK(n >= 2 && (m[0] == RC_BRIDGE_V0 ||
					 m[0] == RC_BRIDGE_V1 ||
					 m[0] == RC_BRIDGE_V2 ||
					 m[0] == RC_BRIDGE_V3));
			CHECK(h.version == m[0]);
			CHECK(!(m[1] & ~(RC_BRIDGE_F_BINARY |
					 RC_BRIDGE_F_NO_DEFLATE)));
			CHECK(h.flags == m[1] && h.head_len <= n);
			if (m[0] == RC_BRIDGE_V1) {
				CHECK(n >= RC_BRIDGE_V1_HEAD &&
				      h.head_len == RC_BRIDGE_V1_HEAD);
				CHECK(h.hub == le64(m + 8) &&
				      h.seq == le64(m + 16) && h.hub &&
				      h.seq);
				CHECK(h.lane_gen ==
				      ((uint32_t)m[2] | (uint32_t)m[3] << 8 |
				       (uint32_t)m[4] << 16 |
				       (uint32_t)m[5] << 24));
			} else if (m[0] == RC_BRIDGE_V2) {
				static uint8_t w[RC_BRIDGE_V2_HEAD + 255];

				CHECK(h.head_len == RC_BRIDGE_V2_HEAD + m[2]);
				CHECK(h.hub == le64(m + 8) &&
				      h.epoch == le64(m + 16) &&
				      h.offset == le64(m + 24) &&
				      h.origin == le64(m + 32) &&
				      h.skip == le64(m + 40));
				CHECK(h.hub && h.epoch && h.offset &&
				      h.origin && !(h.epoch >> 53));
				CHECK(!h.meta_len ||
				      h.meta == m + RC_BRIDGE_V2_HEAD);
				CHECK(rc__bridge_head_v2(w, &h) == h.head_len &&
				      !memcmp(w, m, h.head_len));
			} else if (m[0] == RC_BRIDGE_V3) {
				static uint8_t w[RC_BRIDGE_V3_HEAD +
						 RC_TOPIC_MAX + 255];

				CHECK(h.head_len == RC_BRIDGE_V3_HEAD +
						    h.room_len + m[2]);
				CHECK(h.hops == 1 && h.room_len &&
				      h.room_len <= RC_TOPIC_MAX &&
				      h.room == m + RC_BRIDGE_V3_HEAD);
				CHECK(h.origin == le64(m + 8) &&
				      h.skip == le64(m + 16) &&
				      h.seq == le64(m + 24) && h.origin &&
				      h.seq);
				CHECK(rc__bridge_head_v3(w, &h) == h.head_len &&
				      !memcmp(w, m, h.head_len));
			} else {
				CHECK(h.head_len == RC_BRIDGE_V0_HEAD &&
				      !h.hub && !h.seq);
			}
			/* Few hubs and numbers, so that origins repeat and
			   numbers collide. */
			h.hub = h.hub ? 1 + h.hub % 40 : 0;
			h.seq = h.seq ? 1 + h.seq % 64 : 0;
			ret = rc__bridge_order(&ord, &h, &gap);
			CHECK(ret == ref_check(&ref, &h, &rgap));
			CHECK(gap == rgap);
		} else {
			CHECK(ret == -EINVAL);
		}
		check_token(m, n);
		free(m);
		data += n;
		size -= n;
	}
	return 0;
}
