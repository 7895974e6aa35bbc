/* SPDX-License-Identifier: MIT */
/*
 * test_bridge.c -- rooms across servers (src/bridge/): the subject tokens,
 * the message head, the order check, and two servers in this process
 * sharing a topic through a real nats-server (started here; the API cases
 * are skipped without one).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge/bridge.h"
#include "pubsub/history.h"
#include "ringcast.h"
#include "ref/testutil.h"

/* ---- pure parts ---- */

static void test_token(void **state)
{
	uint8_t all[256], back[256];
	char tok[3 * 256 + 1];
	size_t n;

	(void)state;
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	n = rc__bridge_subject_token(tok, all, sizeof(all));
	/* 64 bytes pass as they are, the other 192 take three each. */
	assert_int_equal(n, 64 + 3 * 192);
	for (size_t i = 0; i < n; i++)
		assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789_-~", tok[i]));
	assert_int_equal(rc__bridge_subject_untoken(back, tok, n), 256);
	assert_memory_equal(back, all, 256);

	n = rc__bridge_subject_token(tok, "chat.general", 12);
	assert_int_equal(n, 14);
	assert_memory_equal(tok, "chat~2Egeneral", 14);
	n = rc__bridge_subject_token(tok, "a b*>~", 6);
	assert_memory_equal(tok, "a~20b~2A~3E~7E", n);

	/* One spelling per name: the others are refused. */
	assert_int_equal(rc__bridge_subject_untoken(back, "~2e", 3), -1);
	assert_int_equal(rc__bridge_subject_untoken(back, "~41", 3), -1);
	assert_int_equal(rc__bridge_subject_untoken(back, "a~4", 3), -1);
	assert_int_equal(rc__bridge_subject_untoken(back, "a.b", 3), -1);
	assert_int_equal(rc__bridge_subject_untoken(back, "*", 1), -1);
	assert_int_equal(rc__bridge_subject_untoken(back, ">", 1), -1);
	assert_int_equal(rc__bridge_subject_untoken(back, "~", 1), -1);

	/* Random names round-trip and never collide with each other. */
	uint64_t r = 42;

	for (int k = 0; k < 2000; k++) {
		uint8_t name[40];
		size_t len = 1 + rng_next(&r) % sizeof(name);

		for (size_t i = 0; i < len; i++)
			name[i] = (uint8_t)rng_next(&r);
		n = rc__bridge_subject_token(tok, name, len);
		assert_true(n >= len && n <= 3 * len);
		assert_int_equal(rc__bridge_subject_untoken(back, tok, n),
				 (long)len);
		assert_memory_equal(back, name, len);
	}
}

static void head_v1(uint8_t *p, uint8_t flags, uint16_t lane, uint16_t gen,
		    uint64_t hub, uint64_t seq)
{
	memset(p, 0, RC_BRIDGE_V1_HEAD);
	p[0] = RC_BRIDGE_V1;
	p[1] = flags;
	p[2] = (uint8_t)lane;
	p[3] = (uint8_t)(lane >> 8);
	p[4] = (uint8_t)gen;
	p[5] = (uint8_t)(gen >> 8);
	for (int i = 0; i < 8; i++) {
		p[8 + i] = (uint8_t)(hub >> (8 * i));
		p[16 + i] = (uint8_t)(seq >> (8 * i));
	}
}

static void test_parse(void **state)
{
	uint8_t p[64];
	struct rc_bridge_head h;

	(void)state;
	head_v1(p, RC_BRIDGE_F_BINARY, 3, 7, 0x1122334455667788ull, 99);
	assert_int_equal(rc__bridge_parse(p, RC_BRIDGE_V1_HEAD + 5, &h), 0);
	assert_int_equal(h.head_len, RC_BRIDGE_V1_HEAD);
	assert_int_equal(h.flags, RC_BRIDGE_F_BINARY);
	assert_int_equal(h.lane_gen, 3 | 7 << 16);
	assert_true(h.hub == 0x1122334455667788ull);
	assert_int_equal(h.seq, 99);
	/* A head alone is an empty message. */
	assert_int_equal(rc__bridge_parse(p, RC_BRIDGE_V1_HEAD, &h), 0);
	assert_int_equal(rc__bridge_parse(p, RC_BRIDGE_V1_HEAD - 1, &h),
			 -EINVAL);
	head_v1(p, 0x04, 3, 7, 1, 1);		/* unknown flag */
	assert_int_equal(rc__bridge_parse(p, 30, &h), -EINVAL);
	head_v1(p, 0, 3, 7, 0, 1);		/* hub 0 */
	assert_int_equal(rc__bridge_parse(p, 30, &h), -EINVAL);
	head_v1(p, 0, 3, 7, 1, 0);		/* number 0 */
	assert_int_equal(rc__bridge_parse(p, 30, &h), -EINVAL);
	p[0] = 0xB4;
	assert_int_equal(rc__bridge_parse(p, 30, &h), -EINVAL);
	p[0] = RC_BRIDGE_V0;
	p[1] = RC_BRIDGE_F_NO_DEFLATE;
	assert_int_equal(rc__bridge_parse(p, 2, &h), 0);
	assert_int_equal(h.head_len, 2);
	assert_true(h.hub == 0 && h.seq == 0);
	assert_int_equal(rc__bridge_parse(p, 1, &h), -EINVAL);
	assert_int_equal(rc__bridge_parse(p, 0, &h), -EINVAL);
}

/* 0xB2 (numbered by the owner) and 0xB3 (forwarded to it): what is
   written reads back the same, with every meta length; a head that lies
   is refused. */
static void test_parse_owned(void **state)
{
	static uint8_t p[RC_BRIDGE_V3_HEAD + RC_TOPIC_MAX + 255 + 16];
	uint8_t meta[255];
	struct rc_bridge_head w, h;
	size_t n;

	(void)state;
	for (int i = 0; i < 255; i++)
		meta[i] = (uint8_t)(i * 7 + 1);
	for (unsigned ml = 0; ml <= 255; ml += 51) {
		w = (struct rc_bridge_head){
			.flags = RC_BRIDGE_F_BINARY | RC_BRIDGE_F_NO_DEFLATE,
			.hub = 0x1122334455667788ull,
			.epoch = (1ull << 53) - 1, .offset = 123456789,
			.origin = 0xfedcba9876543210ull, .skip = 77,
			.meta = meta, .meta_len = (uint8_t)ml,
		};
		n = rc__bridge_head_v2(p, &w);
		assert_int_equal(n, RC_BRIDGE_V2_HEAD + ml);
		memcpy(p + n, "xyz", 3);
		assert_int_equal(rc__bridge_parse(p, n + 3, &h), 0);
		assert_int_equal(h.version, RC_BRIDGE_V2);
		assert_int_equal(h.head_len, n);
		assert_int_equal(h.flags, w.flags);
		assert_true(h.hub == w.hub && h.epoch == w.epoch &&
			    h.offset == w.offset && h.origin == w.origin &&
			    h.skip == w.skip);
		assert_int_equal(h.meta_len, ml);
		if (ml)
			assert_memory_equal(h.meta, meta, ml);
		assert_memory_equal(p + h.head_len, "xyz", 3);
		/* The meta cut short. */
		if (ml)
			assert_int_equal(rc__bridge_parse(p, n - 1, &h),
					 -EINVAL);

		w.room = (const uint8_t *)"chat.general";
		w.room_len = 12;
		w.seq = 0x0102030405060708ull;
		w.lane_gen = 0x1234;
		n = rc__bridge_head_v3(p, &w);
		assert_int_equal(n, RC_BRIDGE_V3_HEAD + 12 + ml);
		assert_int_equal(rc__bridge_parse(p, n, &h), 0);
		assert_int_equal(h.version, RC_BRIDGE_V3);
		assert_int_equal(h.hops, 1);
		assert_int_equal(h.head_len, n);
		assert_int_equal(h.room_len, 12);
		assert_memory_equal(h.room, "chat.general", 12);
		assert_true(h.origin == w.origin && h.skip == w.skip &&
			    h.seq == w.seq);
		assert_int_equal(h.lane_gen, 0x1234);
		assert_int_equal(h.meta_len, ml);
		if (ml)
			assert_memory_equal(h.meta, meta, ml);
		assert_int_equal(rc__bridge_parse(p, n - 1, &h), -EINVAL);
	}
	/* The longest room there is. */
	{
		static uint8_t room[RC_TOPIC_MAX];

		memset(room, 'r', sizeof(room));
		w.room = room;
		w.room_len = RC_TOPIC_MAX;
		w.meta_len = 0;
		n = rc__bridge_head_v3(p, &w);
		assert_int_equal(rc__bridge_parse(p, n, &h), 0);
		assert_int_equal(h.room_len, RC_TOPIC_MAX);
		p[4] = (uint8_t)(RC_TOPIC_MAX + 1);
		p[5] = (uint8_t)((RC_TOPIC_MAX + 1) >> 8);
		assert_int_equal(rc__bridge_parse(p, n + 1, &h), -EINVAL);
	}

	/* V2 that lie. */
	w = (struct rc_bridge_head){ .hub = 1, .epoch = 2, .offset = 3,
				     .origin = 4 };
	n = rc__bridge_head_v2(p, &w);
	assert_int_equal(rc__bridge_parse(p, n, &h), 0);
	assert_int_equal(rc__bridge_parse(p, n - 1, &h), -EINVAL);
	p[3] = 1;				/* reserved */
	assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);
	p[3] = 0;
	p[1] = 0x04;				/* unknown flag */
	assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);
	p[1] = 0;
	p[2] = 1;				/* meta past the end */
	assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);
	p[2] = 0;
	{
		const struct { uint64_t hub, epoch, offset, origin; } bad[] = {
			{ 0, 2, 3, 4 }, { 1, 0, 3, 4 }, { 1, 2, 0, 4 },
			{ 1, 2, 3, 0 }, { 1, 1ull << 53, 3, 4 },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			w = (struct rc_bridge_head){
				.hub = bad[i].hub, .epoch = bad[i].epoch,
				.offset = bad[i].offset,
				.origin = bad[i].origin };
			n = rc__bridge_head_v2(p, &w);
			assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);
		}
	}
	/* V3 that lie: hops, no origin, no number, no room, room cut. */
	w = (struct rc_bridge_head){ .origin = 9, .seq = 1,
				     .room = (const uint8_t *)"r",
				     .room_len = 1 };
	n = rc__bridge_head_v3(p, &w);
	assert_int_equal(rc__bridge_parse(p, n, &h), 0);
	p[3] = 2;
	assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);
	p[3] = 0;
	assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);
	p[3] = 1;
	assert_int_equal(rc__bridge_parse(p, n - 1, &h), -EINVAL);
	w.seq = 0;
	n = rc__bridge_head_v3(p, &w);
	assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);
	w.seq = 1;
	w.origin = 0;
	n = rc__bridge_head_v3(p, &w);
	assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);
	w.origin = 9;
	w.room_len = 0;
	n = rc__bridge_head_v3(p, &w);
	assert_int_equal(rc__bridge_parse(p, n, &h), -EINVAL);

	/* Heartbeats. */
	{
		uint8_t hb[RC_BRIDGE_HB_LEN + 1] = { RC_BRIDGE_HB,
						     RC_BRIDGE_HB_ASK };
		uint64_t id;
		uint8_t fl;

		hb[8] = 0x42;
		hb[15] = 0x80;
		assert_int_equal(rc__bridge_parse_hb(hb, RC_BRIDGE_HB_LEN, &id,
						     &fl), 0);
		assert_true(id == (0x80ull << 56 | 0x42));
		assert_int_equal(fl, RC_BRIDGE_HB_ASK);
		assert_int_equal(rc__bridge_parse_hb(hb, RC_BRIDGE_HB_LEN + 1,
						     &id, &fl), -EINVAL);
		assert_int_equal(rc__bridge_parse_hb(hb, RC_BRIDGE_HB_LEN - 1,
						     &id, &fl), -EINVAL);
		hb[1] = RC_BRIDGE_HB_BYE;
		assert_int_equal(rc__bridge_parse_hb(hb, RC_BRIDGE_HB_LEN, &id,
						     &fl), 0);
		assert_int_equal(fl, RC_BRIDGE_HB_BYE);
		hb[1] = 0x04;
		assert_int_equal(rc__bridge_parse_hb(hb, RC_BRIDGE_HB_LEN, &id,
						     &fl), -EINVAL);
		hb[1] = 0;
		hb[3] = 1;
		assert_int_equal(rc__bridge_parse_hb(hb, RC_BRIDGE_HB_LEN, &id,
						     &fl), -EINVAL);
		hb[3] = 0;
		hb[0] = RC_BRIDGE_V1;
		assert_int_equal(rc__bridge_parse_hb(hb, RC_BRIDGE_HB_LEN, &id,
						     &fl), -EINVAL);
		memset(hb, 0, sizeof(hb));
		hb[0] = RC_BRIDGE_HB;
		assert_int_equal(rc__bridge_parse_hb(hb, RC_BRIDGE_HB_LEN, &id,
						     &fl), -EINVAL);
		/* Not a room message either. */
		hb[8] = 1;
		assert_int_equal(rc__bridge_parse(hb, RC_BRIDGE_HB_LEN, &h),
				 -EINVAL);
	}
}

/* The owner's choice: the same everywhere (pinned against the Python of
   tests/interop/test_nats_history.py), spread over the hubs, and a hub
   joining or leaving moves only the rooms it wins or held. */
static void test_owner_pick(void **state)
{
	uint64_t ids[3] = { 1, 2, 3 }, count[3] = { 0 };
	unsigned moved = 0;

	(void)state;
	assert_true(rc__bridge_room_key("lobby", 5) == 0x22bba5b0f5e18f60ull);
	assert_true(rc__bridge_score(0x22bba5b0f5e18f60ull,
				     0x1122334455667788ull) ==
		    0x6648c5ecca1a51edull);
	assert_true(rc__bridge_pick(rc__bridge_room_key("lobby", 5), ids,
				    3) == 3);
	assert_true(rc__bridge_pick(rc__bridge_room_key("lobby", 5), ids,
				    0) == 0);
	for (int i = 0; i < 3000; i++) {
		char room[16];
		int len = snprintf(room, sizeof(room), "room%d", i);
		uint64_t k = rc__bridge_room_key(room, (size_t)len);
		uint64_t o = rc__bridge_pick(k, ids, 3);
		uint64_t rev[3] = { 3, 2, 1 }, two[2] = { 1, 3 };

		if (i < 8) {
			/* room0..room7, as the Python computes them */
			static const uint64_t want[8] = { 3, 1, 1, 3,
							  1, 2, 1, 2 };

			assert_true(o == want[i]);
		}
		count[o - 1]++;
		/* The order the set is listed in does not matter. */
		assert_true(rc__bridge_pick(k, rev, 3) == o);
		/* Hub 2 gone: only its rooms move. */
		if (o != 2)
			assert_true(rc__bridge_pick(k, two, 2) == o);
		else
			moved++;
	}
	for (int i = 0; i < 3; i++)
		assert_true(count[i] > 800 && count[i] < 1200);
	assert_int_equal(moved, count[1]);
}

/* Remember @n at @pos: rc__hist_at()'s verdict (the message appended
   unless a repeat). */
static int remember(struct rc_history *H, uint64_t epoch, uint64_t off,
		    uint64_t *gap)
{
	struct rc_hpos pos = { epoch, off };
	struct rc_hist_stripe *st = rc__hist_lock(H, 7);
	struct rc_hist *hi;
	int ret = rc__hist_at(H, st, 7, "r", 1, &pos, &hi, gap);

	if (ret >= 0) {
		struct rc_msg *m = rc__msg_new(0, 1, "r", 1, RC_OP_TEXT, "x", 1);

		assert_non_null(m);
		rc__hist_append(H, hi, m, 0);
		rc__msg_put(m);
	}
	rc__hist_unlock(st);
	return ret;
}

/* What the history says a resume from @off of @epoch gets: recovered,
   and the count. */
static int resume(struct rc_history *H, uint64_t epoch, uint64_t off,
		  unsigned *n)
{
	struct rc_hpos since = { epoch, off }, now;
	struct rc_msg *got[16];
	struct rc_hist_stripe *st = rc__hist_lock(H, 7);
	int rec = rc__hist_since(H, st, 7, "r", 1, &since, 0, got, 16, n,
				 &now, 0);

	rc__hist_unlock(st);
	for (unsigned i = 0; i < *n; i++)
		rc__msg_put(got[i]);
	return rec;
}

static bool same_yes(void *arg, uint64_t since)
{
	(void)arg;
	return since != 0;
}

static bool same_no(void *arg, uint64_t since)
{
	(void)arg;
	(void)since;
	return false;
}

/* Numbered by the owner: the next offset: appended; a repeat: dropped;
   a jump or another epoch: the window restarts there (a resume from
   before it is not recovered). The owner goes on with its epoch only
   while it owned the room all along; a hub forgets a room it did not
   number. */
static void test_hist_owned(void **state)
{
	struct rc_history *H = calloc(1, sizeof(*H));
	struct rc_hist_stripe *st;
	struct rc_hist *hi;
	struct rc_hpos pos;
	uint64_t gap;
	unsigned n;

	(void)state;
	assert_int_equal(rc__hist_init(H, 8, 0, 1 << 20), 0);
	/* First heard of, mid-stream: held from there. */
	assert_int_equal(remember(H, 5, 10, &gap), 1);
	assert_int_equal(gap, 0);
	assert_int_equal(remember(H, 5, 11, &gap), 0);
	assert_int_equal(remember(H, 5, 12, &gap), 0);
	assert_int_equal(remember(H, 5, 12, &gap), -EALREADY);
	assert_int_equal(remember(H, 5, 3, &gap), -EALREADY);
	assert_int_equal(resume(H, 5, 9, &n), 1);
	assert_int_equal(n, 3);
	assert_int_equal(resume(H, 5, 8, &n), 0);
	/* A jump: 13 and 14 lost; only 15 on is held. */
	assert_int_equal(remember(H, 5, 15, &gap), 1);
	assert_int_equal(gap, 2);
	assert_int_equal(resume(H, 5, 12, &n), 0);
	assert_int_equal(resume(H, 5, 14, &n), 1);
	assert_int_equal(n, 1);
	/* Another epoch (a new owner) at 1. */
	assert_int_equal(remember(H, 6, 1, &gap), 1);
	assert_int_equal(gap, 0);
	assert_int_equal(resume(H, 5, 15, &n), 0);
	assert_int_equal(resume(H, 6, 0, &n), 1);
	assert_int_equal(n, 1);

	/* This server numbers it now: numbered elsewhere last, so a new
	   epoch, whatever the set says. */
	st = rc__hist_lock(H, 7);
	assert_int_equal(rc__hist_next_owned(H, st, 7, "r", 1, 3, same_yes,
					     NULL, &pos, &hi), 0);
	rc__hist_unlock(st);
	assert_true(pos.epoch != 6 && pos.epoch != 5);
	assert_int_equal(pos.offset, 1);
	{
		uint64_t e = pos.epoch;

		st = rc__hist_lock(H, 7);
		/* Owned all along since: the stream goes on. */
		assert_int_equal(rc__hist_next_owned(H, st, 7, "r", 1, 4,
						     same_yes, NULL, &pos,
						     &hi), 0);
		assert_true(pos.epoch == e);
		assert_int_equal(pos.offset, 2);
		/* The owner changed meanwhile: a new epoch from 1. */
		assert_int_equal(rc__hist_next_owned(H, st, 7, "r", 1, 5,
						     same_no, NULL, &pos,
						     &hi), 0);
		assert_true(pos.epoch != e);
		assert_int_equal(pos.offset, 1);
		rc__hist_unlock(st);
	}
	/* Numbered here: kept while owned, forgotten when not. */
	rc__hist_forget(H, 7, "r", 1, same_yes, NULL);
	assert_int_equal(atomic_load(&H->rooms), 1);
	rc__hist_forget(H, 7, "r", 1, same_no, NULL);
	assert_int_equal(atomic_load(&H->rooms), 0);
	/* Numbered elsewhere: forgotten whatever the set says. */
	assert_int_equal(remember(H, 9, 4, &gap), 1);
	rc__hist_forget(H, 7, "r", 1, same_yes, NULL);
	assert_int_equal(atomic_load(&H->rooms), 0);
	assert_int_equal(resume(H, 9, 3, &n), 0);
	rc__hist_free(H);
	assert_int_equal(atomic_load(&H->bytes), 0);
	free(H);
}

static int order(struct rc_bridge_order *o, uint64_t hub, uint32_t lg,
		 uint64_t seq, uint64_t *gap)
{
	struct rc_bridge_head h = { .hub = hub, .seq = seq, .lane_gen = lg };

	return rc__bridge_order(o, &h, gap);
}

static void test_order(void **state)
{
	struct rc_bridge_order *o = calloc(1, sizeof(*o));
	struct rc_bridge_head v0 = { 0 };
	uint64_t gap;

	(void)state;
	/* First heard of: taken as it comes, whatever its number. */
	assert_int_equal(order(o, 1, 0, 5, &gap), 1);
	assert_int_equal(gap, 0);
	assert_int_equal(order(o, 1, 0, 6, &gap), 1);
	assert_int_equal(gap, 0);
	/* 7 and 8 lost: delivered, and 2 counted. */
	assert_int_equal(order(o, 1, 0, 9, &gap), 1);
	assert_int_equal(gap, 2);
	/* Repeated, and late: dropped. */
	assert_int_equal(order(o, 1, 0, 9, &gap), 0);
	assert_int_equal(order(o, 1, 0, 8, &gap), 0);
	/* Other lanes, generations and hubs are other publishers. */
	assert_int_equal(order(o, 1, 1, 1, &gap), 1);
	assert_int_equal(order(o, 1, 1 << 16, 1, &gap), 1);
	assert_int_equal(order(o, 2, 0, 1, &gap), 1);
	assert_int_equal(order(o, 1, 0, 10, &gap), 1);
	assert_int_equal(gap, 0);
	/* Not numbered: always delivered. */
	assert_int_equal(rc__bridge_order(o, &v0, &gap), 1);
	assert_int_equal(rc__bridge_order(o, &v0, &gap), 1);

	/* Bounded: RC_BRIDGE_ORIGINS publishers more forget the least
	   recently heard of, who then starts afresh (taken, no gap). */
	memset(o, 0, sizeof(*o));
	for (unsigned i = 0; i < RC_BRIDGE_ORIGINS; i++)
		assert_int_equal(order(o, 100 + i, 0, 10, &gap), 1);
	for (unsigned i = 1; i < RC_BRIDGE_ORIGINS; i++)
		assert_int_equal(order(o, 100 + i, 0, 11, &gap), 1);
	assert_int_equal(order(o, 999, 0, 1, &gap), 1);	/* evicts 100 */
	assert_int_equal(o->n, RC_BRIDGE_ORIGINS);
	assert_int_equal(order(o, 100, 0, 3, &gap), 1);	/* afresh */
	assert_int_equal(gap, 0);
	/* which forgot 101, now the least recently heard of */
	assert_int_equal(order(o, 101, 0, 5, &gap), 1);
	assert_int_equal(gap, 0);
	/* while 131, heard of lately, is still checked */
	assert_int_equal(order(o, 131, 0, 11, &gap), 0);
	assert_int_equal(order(o, 131, 0, 13, &gap), 1);
	assert_int_equal(gap, 1);
	free(o);
}

/* ---- two servers through a real nats-server ---- */

static char nats_bin[256];

static bool find_nats(void)
{
	const char *c[] = { "/usr/sbin/nats-server", "/usr/bin/nats-server",
			    "/usr/local/bin/nats-server" };

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (!access(c[i], X_OK)) {
			snprintf(nats_bin, sizeof(nats_bin), "%s", c[i]);
			return true;
		}
	return false;
}

static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	return ntohs(sa.sin_port);
}

static bool port_open(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ok;
}

/* The nats-server this test started (killed by the teardown, also when
   a case fails half-way). */
static pid_t nats_pid;

static void nats_start(uint16_t port)
{
	char ps[16];
	char *argv[] = { nats_bin, "-a", "127.0.0.1", "-p", ps, NULL };

	snprintf(ps, sizeof(ps), "%u", port);
	nats_pid = fork();
	assert_true(nats_pid >= 0);
	if (!nats_pid) {
		int null = open("/dev/null", O_WRONLY);

		/* Gone with this test, however it ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, 1);
		dup2(null, 2);
		execv(nats_bin, argv);
		_exit(127);
	}
	for (int i = 0; i < 500 && !port_open(port); i++)
		usleep(10000);
	assert_true(port_open(port));
}

static int nats_stop(void **state)
{
	(void)state;
	if (nats_pid > 0) {
		kill(nats_pid, SIGKILL);
		waitpid(nats_pid, NULL, 0);
	}
	nats_pid = 0;
	return 0;
}

static _Atomic int opened;

static void api_open(struct rc_conn *c)
{
	assert_int_equal(rc_subscribe(c, "room.1", 6), 0);
	atomic_fetch_add(&opened, 1);
}

static const struct rc_handlers api_handlers = { .on_open = api_open };

static struct rc_server *api_server_h(const char *urls, const char *prefix,
				      unsigned history)
{
	struct rc_config cfg = rc_config_default();

	cfg.history_size = history;
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 2;
	cfg.pin_threads = false;
	cfg.nats_urls = urls;
	cfg.nats_prefix = prefix;
	return rc_server_new(&cfg, &api_handlers, NULL);
}

static struct rc_server *api_server(const char *urls, const char *prefix)
{
	return api_server_h(urls, prefix, 0);
}

static uint64_t stat_of(struct rc_server *s, size_t off)
{
	struct rc_stats st;

	assert_int_equal(rc_server_stats(s, &st), 0);
	return *(const uint64_t *)((const char *)&st + off);
}

#define STAT(s, f) stat_of((s), offsetof(struct rc_stats, f))

static bool wait_stat(struct rc_server *s, size_t off, uint64_t want)
{
	for (int i = 0; i < 1000; i++) {
		if (stat_of(s, off) == want)
			return true;
		usleep(10000);
	}
	return false;
}

#define WAIT_STAT(s, f, v) \
	assert_true(wait_stat((s), offsetof(struct rc_stats, f), (v)))

/* A nats-server on @port and two servers (@prefix, history @hist) on it,
   started and connected. */
static void pair_up(uint16_t port, const char *prefix, unsigned hist,
		    struct rc_server **a, struct rc_server **b)
{
	char urls[64];

	nats_start(port);
	snprintf(urls, sizeof(urls), "nats://127.0.0.1:%u", port);
	*a = api_server_h(urls, prefix, hist);
	*b = api_server_h(urls, prefix, hist);
	assert_non_null(*a);
	assert_non_null(*b);
	assert_int_equal(rc_server_start(*a), 0);
	assert_int_equal(rc_server_start(*b), 0);
	WAIT_STAT(*a, nats_connected, 1);
	WAIT_STAT(*b, nats_connected, 1);
}

/* A raw WebSocket client of @s (its on_open subscribes it). */
static int client(struct rc_server *s)
{
	static const char req[] =
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), want = atomic_load(&opened) + 1;
	char head[1024];
	size_t n = 0;

	sa.sin_port = htons(rc_server_port(s));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(write(fd, req, sizeof(req) - 1),
			 (ssize_t)sizeof(req) - 1);
	while (n < sizeof(head) - 1 &&
	       (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4))) {
		read_full(fd, head + n, 1);
		n++;
	}
	assert_true(!strncmp(head, "HTTP/1.1 101", 12));
	for (int i = 0; i < 500 && atomic_load(&opened) < want; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&opened), want);
	return fd;
}

/* The next TEXT message's payload (short ones only) into @p. */
static size_t next_text(int fd, char *p, size_t cap)
{
	uint8_t h[2];

	read_full(fd, h, 2);
	assert_int_equal(h[0], 0x81);
	assert_true((h[1] & 0x7f) < 126 && (size_t)(h[1] & 0x7f) < cap);
	read_full(fd, p, h[1] & 0x7f);
	p[h[1] & 0x7f] = 0;
	return h[1] & 0x7f;
}

/* Publish probes on @from until @fd (a member on another server) gets
   one: the other server's subscription has reached NATS. Probes still
   in flight are skipped by next_numbered(). */
static void await_route(struct rc_server *from, int fd)
{
	char p[128];

	for (int i = 0; i < 200; i++) {
		struct timeval tv = { .tv_usec = 20000 };
		uint8_t h[2];

		assert_int_equal(rc_publish(from, "room.1", 6, "probe", 5,
					    RC_OP_TEXT), 0);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (recv(fd, h, 2, MSG_PEEK) == 2)
			break;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO,
		   &(struct timeval){ .tv_sec = 5 }, sizeof(struct timeval));
	next_text(fd, p, sizeof(p));
	assert_string_equal(p, "probe");
}

static long next_numbered(int fd)
{
	char p[128];

	do
		next_text(fd, p, sizeof(p));
	while (!strcmp(p, "probe"));
	return strtol(p, NULL, 10);
}

/* A publishes (from this thread, not a worker); a member on B gets every
   message once, in order, a member on A too (its own fan-out: NATS never
   echoes), and the counters agree; the subscription goes when the last
   member does. */
static void test_api_two_servers(void **state)
{
	uint16_t port = free_port();
	struct rc_server *a, *b;
	int fa, fb, n = 500;
	uint64_t out0, in0;

	(void)state;
	if (!nats_bin[0])
		skip();
	pair_up(port, "t2s", 0, &a, &b);
	assert_int_equal(STAT(b, nats_subscriptions), 0);
	fb = client(b);
	WAIT_STAT(b, nats_subscriptions, 1);
	fa = client(a);
	await_route(a, fb);
	usleep(200000);		/* the probes still in flight land */
	out0 = STAT(a, nats_out);
	in0 = STAT(b, nats_in);
	for (long i = 0; i < n; i++) {
		char m[32];
		int len = snprintf(m, sizeof(m), "%ld", i);

		assert_int_equal(rc_publish(a, "room.1", 6, m, (size_t)len,
					    RC_OP_TEXT), 0);
	}
	for (long i = 0; i < n; i++)
		assert_int_equal(next_numbered(fb), i);
	for (long i = 0; i < n; i++)
		assert_int_equal(next_numbered(fa), i);
	assert_int_equal(STAT(a, nats_out), out0 + n);
	WAIT_STAT(b, nats_in, in0 + n);
	assert_int_equal(STAT(b, nats_in_gaps), 0);
	assert_int_equal(STAT(b, nats_in_dups), 0);
	assert_int_equal(STAT(b, nats_in_dropped), 0);
	/* A publishes to NATS, it does not take its own messages back. */
	assert_int_equal(STAT(a, nats_in), 0);
	/* Nothing more came to either member. */
	{
		struct timeval tv = { .tv_usec = 200000 };
		uint8_t x;

		setsockopt(fa, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_true(recv(fa, &x, 1, 0) < 0);
		assert_true(recv(fb, &x, 1, 0) < 0);
	}
	close(fb);
	WAIT_STAT(b, nats_subscriptions, 0);
	assert_int_equal(STAT(a, nats_subscriptions), 1);
	close(fa);
	WAIT_STAT(a, nats_subscriptions, 0);
	rc_server_free(a);
	rc_server_free(b);
}

struct hist_got {
	unsigned n;
	uint64_t off[64];
	char data[64][16];
};

static int hist_take(void *arg, uint64_t offset, const void *data,
		     size_t len, enum rc_opcode op)
{
	struct hist_got *g = arg;

	(void)op;
	if (g->n < 64 && len < 16) {
		g->off[g->n] = offset;
		memcpy(g->data[g->n], data, len);
		g->data[g->n][len] = 0;
		g->n++;
	}
	return 0;
}

/* History on: two servers number a topic as one (its owner numbers it,
   the other forwards), whichever of them publishes: the same offsets and
   messages in both histories, and in both members' streams. */
static void test_api_owned(void **state)
{
	uint16_t port = free_port();
	struct rc_server *a, *b;
	struct hist_got ga, gb;
	struct rc_stream_pos na, nb;
	int fa, fb, n = 20;

	(void)state;
	if (!nats_bin[0])
		skip();
	pair_up(port, "own", 64, &a, &b);
	fa = client(a);
	fb = client(b);
	WAIT_STAT(a, nats_subscriptions, 1);
	WAIT_STAT(b, nats_subscriptions, 1);
	/* Both count both: 300 ms to settle, heartbeats every 250 ms. */
	usleep(900000);
	for (int i = 0; i < n; i++) {
		char m[16];
		int len = snprintf(m, sizeof(m), "m%d", i);

		assert_int_equal(rc_publish(i % 2 ? a : b, "room.1", 6, m,
					    (size_t)len, RC_OP_TEXT), 0);
	}
	for (int i = 0; i < 500; i++) {
		memset(&ga, 0, sizeof(ga));
		memset(&gb, 0, sizeof(gb));
		rc_history(a, "room.1", 6, 0, &na, hist_take, &ga);
		rc_history(b, "room.1", 6, 0, &nb, hist_take, &gb);
		if (ga.n == (unsigned)n && gb.n == (unsigned)n)
			break;
		usleep(10000);
	}
	assert_int_equal(ga.n, n);
	assert_int_equal(gb.n, n);
	assert_true(na.epoch && na.epoch == nb.epoch);
	assert_int_equal(na.offset, n);
	assert_int_equal(nb.offset, n);
	for (int i = 0; i < n; i++) {
		char p[16];

		assert_int_equal(ga.off[i], i + 1);
		assert_int_equal(gb.off[i], i + 1);
		assert_string_equal(ga.data[i], gb.data[i]);
		/* The members' streams: the same order. */
		next_text(fa, p, sizeof(p));
		assert_string_equal(p, ga.data[i]);
		next_text(fb, p, sizeof(p));
		assert_string_equal(p, ga.data[i]);
	}
	/* Each server's publishes in the order made. */
	for (int k = 0, last[2] = { -1, -1 }; k < n; k++) {
		int i = atoi(ga.data[k] + 1);

		assert_true(i > last[i % 2]);
		last[i % 2] = i;
	}
	close(fa);
	close(fb);
	rc_server_free(a);
	rc_server_free(b);
}

/* NATS down at start: the server starts all the same, its local topics
   work, and it connects by itself once NATS is there. */
static void test_api_nats_later(void **state)
{
	uint16_t port = free_port();
	char urls[64], p[64];
	struct rc_server *a;
	int fa;

	(void)state;
	if (!nats_bin[0])
		skip();
	snprintf(urls, sizeof(urls), "nats://127.0.0.1:%u", port);
	a = api_server(urls, NULL);
	assert_non_null(a);
	assert_int_equal(rc_server_start(a), 0);
	assert_int_equal(STAT(a, nats_connected), 0);
	fa = client(a);
	assert_int_equal(rc_publish(a, "room.1", 6, "local", 5, RC_OP_TEXT),
			 0);
	next_text(fa, p, sizeof(p));
	assert_string_equal(p, "local");
	nats_start(port);
	WAIT_STAT(a, nats_connected, 1);
	assert_int_equal(STAT(a, nats_subscriptions), 1);
	close(fa);
	rc_server_free(a);
}

static void test_api_bad_config(void **state)
{
	const char *bad_prefix[] = { "", "a..b", ".a", "a.", "a b", "a*",
				     "a>", "x/y" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(bad_prefix[0]);
	     i++) {
		errno = 0;
		assert_null(api_server("nats://127.0.0.1:4222",
				       bad_prefix[i]));
		assert_int_equal(errno, EINVAL);
	}
	errno = 0;
	assert_null(api_server("", NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(api_server(",,", NULL));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_owned),
		cmocka_unit_test(test_owner_pick),
		cmocka_unit_test(test_hist_owned),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_api_bad_config),
		cmocka_unit_test_teardown(test_api_two_servers, nats_stop),
		cmocka_unit_test_teardown(test_api_nats_later, nats_stop),
		cmocka_unit_test_teardown(test_api_owned, nats_stop),
	};

	signal(SIGPIPE, SIG_IGN);
	find_nats();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
