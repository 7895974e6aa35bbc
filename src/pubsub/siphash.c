/* SPDX-License-Identifier: MIT */
/* siphash.c -- SipHash-1-3, from the paper; tests/test_pubsub_unit.c checks it
   against OpenSSL's SIPHASH with c-rounds=1, d-rounds=3. */
#include <string.h>

#include "pubsub/siphash.h"

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return x << b | x >> (64 - b);
}

static inline uint64_t load_le(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

static inline void round1(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline void compress(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	round1(s);		/* c = 1 */
	s->v0 ^= m;
}

uint64_t rc__siphash13(const uint64_t key[2], const void *p, size_t n)
{
	const uint8_t *b = p;
	struct sip s = {
		key[0] ^ 0x736f6d6570736575ull,
		key[1] ^ 0x646f72616e646f6dull,
		key[0] ^ 0x6c7967656e657261ull,
		key[1] ^ 0x7465646279746573ull,
	};
	uint8_t tail[8] = { 0 };
	size_t i;

	for (i = 0; i + 8 <= n; i += 8)
		compress(&s, load_le(b + i));
	/* The last word: the remaining bytes, and the length mod 256 in
	   the top byte. */
	memcpy(tail, b + i, n - i);
	tail[7] = (uint8_t)n;
	compress(&s, load_le(tail));
	s.v2 ^= 0xff;
	round1(&s);		/* d = 3 */
	round1(&s);
	round1(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
