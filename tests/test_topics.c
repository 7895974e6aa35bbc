/* SPDX-License-Identifier: MIT */
/*
 * test_topics.c -- src/pubsub/siphash.c and src/pubsub/topics.c: the keyed
 * hash against OpenSSL's SipHash, and the shared topic table's slots: found,
 * claimed, given back (tombstones, turned empty again), overflow counted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "pubsub/siphash.h"
#include "pubsub/topics.h"

/* The targets of @h, the compressed-frame mask left out. */
static uint64_t targets(struct rc_topic_table *t, uint64_t h, unsigned n)
{
	uint64_t z;

	return rc__topics_targets(t, h, n, &z);
}

/* OpenSSL's SIPHASH MAC with 1 compression and 3 finalization rounds and
   an 8-byte output: SipHash-1-3, the oracle. */
static uint64_t openssl_siphash13(const uint64_t key[2], const void *p,
				  size_t n)
{
	unsigned size = 8, c = 1, d = 3;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_SIZE, &size),
		OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_C_ROUNDS, &c),
		OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_D_ROUNDS, &d),
		OSSL_PARAM_END,
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	uint8_t k[16], out[8];
	size_t outl = 0;
	uint64_t v = 0;

	assert_non_null(ctx);
	for (int i = 0; i < 8; i++) {
		k[i] = (uint8_t)(key[0] >> (8 * i));
		k[8 + i] = (uint8_t)(key[1] >> (8 * i));
	}
	assert_int_equal(EVP_MAC_init(ctx, k, sizeof(k), params), 1);
	assert_int_equal(EVP_MAC_update(ctx, p, n), 1);
	assert_int_equal(EVP_MAC_final(ctx, out, &outl, sizeof(out)), 1);
	assert_int_equal(outl, 8);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | out[i];
	return v;
}

static uint64_t rnd64(uint64_t *s)
{
	/* splitmix64: fixed seed, reproducible */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void test_siphash_vs_openssl(void **state)
{
	uint8_t buf[200];
	uint64_t seed = 42;

	(void)state;
	/* Every length across the 8-byte word boundaries, random keys. */
	for (int round = 0; round < 20; round++) {
		uint64_t key[2] = { rnd64(&seed), rnd64(&seed) };

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)rnd64(&seed);
		for (size_t n = 0; n <= sizeof(buf); n++)
			assert_true(rc__siphash13(key, buf, n) ==
				    openssl_siphash13(key, buf, n));
	}
}

/* A table of 64 slots with a known key, so that names can be picked to
   share a home slot. */
static void table_init(struct rc_topic_table *t)
{
	assert_int_equal(rc__topics_init(t, 64), 0);
	assert_int_equal(t->mask, 63);
	t->key[0] = 0x0706050403020100ull;
	t->key[1] = 0x0f0e0d0c0b0a0908ull;
}

static uint64_t state_of(struct rc_topic_table *t, uint32_t i)
{
	return atomic_load(&t->slots[i & t->mask].hash);
}

/* @n names "n<i>" whose hashes share the home slot of the first. */
static int same_home(struct rc_topic_table *t, uint64_t *h, int n)
{
	char name[32];
	int found = 0;

	for (int i = 0; found < n && i < 100000; i++) {
		int len = snprintf(name, sizeof(name), "n%d", i);
		uint64_t v = rc__topics_hash(t, name, (size_t)len);

		if (!found || ((v ^ h[0]) & t->mask) == 0)
			h[found++] = v;
	}
	return found;
}

static void test_join_leave_tombstones(void **state)
{
	struct rc_topic_table t;
	struct rc_topic_slot *a, *b, *c;
	uint64_t h[3];
	uint32_t home;

	(void)state;
	table_init(&t);
	assert_int_equal(same_home(&t, h, 3), 3);
	home = (uint32_t)(h[0] & t.mask);
	a = rc__topics_join(&t, h[0], 0);
	b = rc__topics_join(&t, h[1], 1);
	c = rc__topics_join(&t, h[2], 0);
	assert_ptr_equal(a, &t.slots[home]);
	assert_ptr_equal(b, &t.slots[(home + 1) & t.mask]);
	assert_ptr_equal(c, &t.slots[(home + 2) & t.mask]);
	/* Joining again from another worker only adds its bit. */
	assert_ptr_equal(rc__topics_join(&t, h[2], 1), c);
	assert_true(targets(&t, h[0], 2) == 1);
	assert_true(targets(&t, h[1], 2) == 2);
	assert_true(targets(&t, h[2], 2) == 3);

	/* B's only worker leaves: C is behind it, so B becomes a tombstone
	   and C is still found past it. */
	rc__topics_leave(&t, b, 1);
	assert_true(state_of(&t, home + 1) == RC_SLOT_TOMB);
	assert_true(targets(&t, h[1], 2) == 0);
	assert_true(targets(&t, h[2], 2) == 3);
	/* One of C's two workers leaves: the slot stays. */
	rc__topics_leave(&t, c, 0);
	assert_true(state_of(&t, home + 2) == h[2]);
	assert_true(targets(&t, h[2], 2) == 2);
	/* A new topic with the same home takes the tombstone. */
	assert_ptr_equal(rc__topics_join(&t, h[1], 0), b);
	rc__topics_leave(&t, b, 0);
	/* C's last worker leaves: nothing lies beyond it, so its slot and
	   the tombstone before it are empty again; A stays. */
	rc__topics_leave(&t, c, 1);
	assert_true(state_of(&t, home + 2) == RC_SLOT_EMPTY);
	assert_true(state_of(&t, home + 1) == RC_SLOT_EMPTY);
	assert_true(state_of(&t, home) == h[0]);
	rc__topics_leave(&t, a, 0);
	for (uint32_t i = 0; i <= t.mask; i++)
		assert_true(state_of(&t, i) == RC_SLOT_EMPTY);
	rc__topics_free(&t);
}

/* Unique names churning through a small table: slots come back, so it
   never fills and never falls back to "every worker". */
static void test_churn(void **state)
{
	struct rc_topic_table t;
	char name[32];

	(void)state;
	table_init(&t);
	for (int i = 0; i < 200000; i++) {
		int len = snprintf(name, sizeof(name), "room-%d", i);
		uint64_t h = rc__topics_hash(&t, name, (size_t)len);
		struct rc_topic_slot *sl = rc__topics_join(&t, h, i & 1);

		assert_non_null(sl);
		assert_true(targets(&t, h, 2) == 1ull << (i & 1));
		rc__topics_leave(&t, sl, i & 1);
		assert_true(targets(&t, h, 2) == 0);
	}
	for (uint32_t i = 0; i <= t.mask; i++)
		assert_true(state_of(&t, i) == RC_SLOT_EMPTY);
	rc__topics_free(&t);
}

/* More live topics than slots: join finds none for the rest; while the
   caller counts them in @overflow, an unknown topic goes to every worker;
   when they go, the table is exact again. */
static void test_overflow(void **state)
{
	enum { N = 100 };
	struct rc_topic_table t;
	struct rc_topic_slot *sl[N];
	uint64_t h[N];
	int none = 0;

	(void)state;
	table_init(&t);
	for (int i = 0; i < N; i++) {
		char name[32];
		int len = snprintf(name, sizeof(name), "t%d", i);

		h[i] = rc__topics_hash(&t, name, (size_t)len);
		sl[i] = rc__topics_join(&t, h[i], 0);
		if (!sl[i]) {
			none++;
			atomic_fetch_add(&t.overflow, 1);
		}
	}
	assert_int_equal(none, N - 64);
	assert_true(targets(&t, 12345, 3) == 7);
	/* A slotless topic is still delivered: to every worker. */
	assert_true(targets(&t, h[N - 1], 3) == 7);
	for (int i = 0; i < N; i++) {
		if (sl[i])
			rc__topics_leave(&t, sl[i], 0);
		else
			atomic_fetch_sub(&t.overflow, 1);
	}
	assert_true(targets(&t, 12345, 3) == 0);
	rc__topics_free(&t);
}

/* The hash never takes the two reserved slot states, and it depends on
   the key: the same name lands elsewhere under another server's key. */
/* The workers wanting the compressed frame: set and cleared per worker,
   cleared when the worker leaves, and "all" for a topic outside the
   table while one overflowed. */
static void test_zworkers(void **state)
{
	struct rc_topic_table t;
	struct rc_topic_slot *a, *b;
	uint64_t h, z = 99;

	(void)state;
	assert_int_equal(rc__topics_init(&t, 64), 0);
	h = rc__topics_hash(&t, "room", 4);
	a = rc__topics_join(&t, h, 0);
	b = rc__topics_join(&t, h, 2);
	assert_ptr_equal(a, b);
	assert_true(rc__topics_targets(&t, h, 3, &z) == 5);
	assert_true(z == 0);
	rc__topics_zset(a, 2, true);
	assert_true(rc__topics_targets(&t, h, 3, &z) == 5);
	assert_true(z == 4);
	rc__topics_zset(a, 0, true);
	rc__topics_zset(a, 2, false);
	assert_true(rc__topics_targets(&t, h, 3, &z) == 5 && z == 1);
	/* Leaving takes the worker's compressed bit with it, so a slot
	   given back and claimed again starts clean. */
	rc__topics_leave(&t, a, 0);
	assert_true(rc__topics_targets(&t, h, 3, &z) == 4 && z == 0);
	rc__topics_leave(&t, a, 2);
	assert_true(rc__topics_targets(&t, h, 3, &z) == 0);
	assert_true(z == 7);	/* not in the table: all (none to send to) */
	rc__topics_free(&t);
}

static void test_keyed(void **state)
{
	struct rc_topic_table a, b;
	int same = 0;

	(void)state;
	assert_int_equal(rc__topics_init(&a, 64), 0);
	assert_int_equal(rc__topics_init(&b, 64), 0);
	assert_false(a.key[0] == b.key[0] && a.key[1] == b.key[1]);
	for (int i = 0; i < 1000; i++) {
		char name[32];
		int len = snprintf(name, sizeof(name), "k%d", i);
		uint64_t ha = rc__topics_hash(&a, name, (size_t)len);

		assert_true(ha > RC_SLOT_TOMB);
		same += ha == rc__topics_hash(&b, name, (size_t)len);
	}
	assert_true(same < 2);
	rc__topics_free(&a);
	rc__topics_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vs_openssl),
		cmocka_unit_test(test_join_leave_tombstones),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_keyed),
		cmocka_unit_test(test_zworkers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
