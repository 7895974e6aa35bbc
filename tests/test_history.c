/* SPDX-License-Identifier: MIT */
/*
 * test_history.c -- topics that remember (rc_config.history_size), through
 * the API over loopback sockets: offsets and epochs, rc_history(),
 * rc_subscribe_from() for newcomers and for members that come back (the
 * seam under a running publisher: nothing missing, nothing twice), the
 * memory budget, the age limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define WAIT_MS 5000
#include "ringcast.h"
#include "wsclient.h"

/* ---- a server whose members say where to resume from ---- */

/* What a member asked for in its query, ?epoch=E&offset=N&last=K. */
struct want {
	struct rc_stream_pos since;
	bool has_since;
	unsigned last;
	bool stamped;
};

static _Atomic int last_result = -100;
static _Atomic uint64_t last_now_epoch, last_now_offset;

static uint64_t qnum(const char *q, size_t qlen, const char *name)
{
	char v[32];

	return rc_query_param(q, qlen, name, v, sizeof(v)) > 0 ?
	       strtoull(v, NULL, 10) : 0;
}

static int h_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	size_t qlen = 0;
	const char *q = rc_request_query(req, &qlen);
	struct want *w = calloc(1, sizeof(*w));

	if (!w)
		return 503;
	if (q) {
		w->since.epoch = qnum(q, qlen, "epoch");
		w->since.offset = qnum(q, qlen, "offset");
		w->has_since = w->since.epoch != 0;
		w->last = (unsigned)qnum(q, qlen, "last");
		w->stamped = qnum(q, qlen, "stamped") != 0;
	}
	rc_conn_set_data(c, w);
	return 0;
}

static void h_open(struct rc_conn *c)
{
	struct want *w = rc_conn_data(c);
	struct rc_stream_pos now;
	int r;

	if (w->stamped)
		rc_conn_stamped(c);
	r = rc_subscribe_from(c, "room", 4,
				  w->has_since ? &w->since : NULL, w->last,
				  &now);

	atomic_store(&last_now_epoch, now.epoch);
	atomic_store(&last_now_offset, now.offset);
	atomic_store(&last_result, r);
}

static void h_close(struct rc_conn *c, uint16_t code)
{
	(void)code;
	free(rc_conn_data(c));
}

static const struct rc_handlers handlers = {
	.on_upgrade = h_upgrade,
	.on_open = h_open,
	.on_close = h_close,
};

/* The stamp: {"o":OFFSET,"e":EPOCH,"m":"META","d":"DATA"} (text data as
   is); data "plain" is left unstamped. */
static _Atomic int stamps;

static size_t stamp(void *user, const struct rc_stamp_in *in, char *out,
		    size_t cap)
{
	int n;

	assert_ptr_equal(user, &stamps);
	assert_int_equal(in->topic_len, 4);
	assert_memory_equal(in->topic, "room", 4);
	atomic_fetch_add(&stamps, 1);
	if (in->len == 5 && !memcmp(in->data, "plain", 5))
		return 0;
	n = snprintf(out, cap, "{\"o\":%llu,\"e\":%llu,\"m\":\"%.*s\","
		     "\"d\":\"%.*s\"}", (unsigned long long)in->pos.offset,
		     (unsigned long long)in->pos.epoch, (int)in->meta_len,
		     in->meta ? (const char *)in->meta : "", (int)in->len,
		     (const char *)in->data);
	return (size_t)n;
}

static bool with_stamp;

static struct rc_server *server(unsigned threads, unsigned size,
				unsigned ttl_ms, size_t memory,
				struct runner *r)
{
	struct rc_config cfg = test_config(threads);
	struct rc_server *s;

	cfg.history_size = size;
	cfg.history_ttl_ms = ttl_ms;
	cfg.history_memory = memory;
	if (with_stamp) {
		cfg.stamp = stamp;
		cfg.stamp_user = &stamps;
	}
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	if (r)
		runner_start(r, s);
	return s;
}

static void publish_n(struct rc_server *s, const char *topic, unsigned from,
		      unsigned to, struct rc_stream_pos *last)
{
	char msg[32];

	for (unsigned i = from; i <= to; i++) {
		int n = snprintf(msg, sizeof(msg), "%u", i);

		assert_int_equal(rc_publish_pos(s, topic, strlen(topic), msg,
						(size_t)n, RC_OP_TEXT, last),
				 0);
	}
}

/* A member of "room" resuming with @query ("" for none); *@result what
   rc_subscribe_from() said. */
static int join(uint16_t port, const char *query, int *result)
{
	char head[1024], req[512];
	int fd = dial(port);

	assert_true(fd >= 0);
	atomic_store(&last_result, -100);
	snprintf(req, sizeof(req), "/ws%s%s", *query ? "?" : "", query);
	assert_int_equal(upgrade_to(fd, req, "", head, sizeof(head), WAIT_MS),
			 101);
	for (int i = 0; i < 500 && atomic_load(&last_result) == -100; i++)
		usleep(2000);
	*result = atomic_load(&last_result);
	return fd;
}

/* The next message's text as a number, or -1 (none within @ms). */
static long next_num(int fd, int ms)
{
	uint8_t op, buf[64];
	long n = read_frame(fd, &op, buf, sizeof(buf) - 1, ms);

	if (n < 0 || op != 0x1)
		return -1;
	buf[n] = '\0';
	return strtol((char *)buf, NULL, 10);
}

/* ---- tests ---- */

struct seen {
	uint64_t offs[64];
	char data[64][16];
	int n;
};

static int collect(void *arg, uint64_t off, const void *data, size_t len,
		   enum rc_opcode op)
{
	struct seen *s = arg;

	assert_int_equal(op, RC_OP_TEXT);
	if (s->n < 64) {
		s->offs[s->n] = off;
		snprintf(s->data[s->n], sizeof(s->data[0]), "%.*s", (int)len,
			 (const char *)data);
		s->n++;
	}
	return 0;
}

static void test_offsets(void **state)
{
	struct rc_server *s = server(1, 10, 0, 0, NULL);
	struct rc_stream_pos p, q, now;
	struct seen seen = { 0 };
	char want[16];

	(void)state;
	publish_n(s, "a", 1, 1, &p);
	assert_int_not_equal(p.epoch, 0);
	assert_true(p.epoch < (1ull << 53));
	assert_int_equal(p.offset, 1);
	publish_n(s, "a", 2, 25, &q);
	assert_int_equal(q.epoch, p.epoch);
	assert_int_equal(q.offset, 25);
	/* Another topic: its own stream. */
	publish_n(s, "b", 1, 1, &q);
	assert_int_equal(q.offset, 1);
	assert_int_not_equal(q.epoch, p.epoch);
	/* The last 10 of "a", oldest first. */
	assert_int_equal(rc_history(s, "a", 1, 0, &now, collect, &seen), 10);
	assert_int_equal(now.offset, 25);
	assert_int_equal(now.epoch, p.epoch);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(seen.offs[i], 16 + (uint64_t)i);
		snprintf(want, sizeof(want), "%d", 16 + i);
		assert_string_equal(seen.data[i], want);
	}
	seen.n = 0;
	assert_int_equal(rc_history(s, "a", 1, 22, NULL, collect, &seen), 3);
	assert_int_equal(seen.offs[0], 23);
	assert_int_equal(rc_history(s, "a", 1, 25, NULL, NULL, NULL), 0);
	assert_int_equal(rc_history(s, "a", 1, 99, NULL, NULL, NULL), 0);
	assert_int_equal(rc_history(s, "zz", 2, 0, NULL, NULL, NULL),
			 -ENOENT);
	assert_int_equal(rc_history(s, "", 0, 0, NULL, NULL, NULL), -EINVAL);
	rc_server_free(s);

	/* History off: positions are 0, reading is not supported. */
	s = server(1, 0, 0, 0, NULL);
	p.epoch = p.offset = 7;
	publish_n(s, "a", 1, 1, &p);
	assert_int_equal(p.epoch, 0);
	assert_int_equal(p.offset, 0);
	assert_int_equal(rc_history(s, "a", 1, 0, NULL, NULL, NULL),
			 -ENOTSUP);
	rc_server_free(s);
	/* Too large a history. */
	{
		struct rc_config cfg = rc_config_default();

		cfg.port = 0;
		cfg.history_size = RC_HISTORY_MAX + 1;
		errno = 0;
		assert_null(rc_server_new(&cfg, &handlers, NULL));
		assert_int_equal(errno, EINVAL);
	}
}

static void test_newcomer_and_recovery(void **state)
{
	struct runner r;
	struct rc_server *s = server(2, 10, 0, 0, &r);
	uint16_t port = rc_server_port(s);
	struct rc_stream_pos p;
	struct rc_stats st;
	char q[128];
	int fd, res;

	(void)state;
	publish_n(s, "room", 1, 25, &p);
	/* A newcomer asking for the last 5. */
	fd = join(port, "last=5", &res);
	assert_int_equal(res, 0);
	assert_int_equal(atomic_load(&last_now_offset), 25);
	for (long i = 21; i <= 25; i++)
		assert_int_equal(next_num(fd, WAIT_MS), i);
	/* Then live. */
	publish_n(s, "room", 26, 26, NULL);
	assert_int_equal(next_num(fd, WAIT_MS), 26);
	close(fd);
	/* Back from 22: 23..26, recovered, then live. */
	snprintf(q, sizeof(q), "epoch=%llu&offset=22",
		 (unsigned long long)p.epoch);
	fd = join(port, q, &res);
	assert_int_equal(res, 1);
	for (long i = 23; i <= 26; i++)
		assert_int_equal(next_num(fd, WAIT_MS), i);
	publish_n(s, "room", 27, 27, NULL);
	assert_int_equal(next_num(fd, WAIT_MS), 27);
	close(fd);
	/* Up to date: recovered, nothing to send. */
	snprintf(q, sizeof(q), "epoch=%llu&offset=27",
		 (unsigned long long)p.epoch);
	fd = join(port, q, &res);
	assert_int_equal(res, 1);
	assert_int_equal(next_num(fd, 200), -1);
	close(fd);
	/* Out of the window (18..27 held): not recovered, nothing sent. */
	snprintf(q, sizeof(q), "epoch=%llu&offset=3",
		 (unsigned long long)p.epoch);
	fd = join(port, q, &res);
	assert_int_equal(res, 0);
	assert_int_equal(next_num(fd, 200), -1);
	publish_n(s, "room", 28, 28, NULL);
	assert_int_equal(next_num(fd, WAIT_MS), 28);
	close(fd);
	/* Another epoch (a restart): not recovered; with last=2, the
	   latest two to reload from. */
	snprintf(q, sizeof(q), "epoch=%llu&offset=27&last=2",
		 (unsigned long long)(p.epoch ^ 1));
	fd = join(port, q, &res);
	assert_int_equal(res, 0);
	assert_int_equal(next_num(fd, WAIT_MS), 27);
	assert_int_equal(next_num(fd, WAIT_MS), 28);
	close(fd);
	/* A position past the stream's end is not one it gave. */
	snprintf(q, sizeof(q), "epoch=%llu&offset=99",
		 (unsigned long long)p.epoch);
	fd = join(port, q, &res);
	assert_int_equal(res, 0);
	close(fd);
	assert_int_equal(rc_server_stats(s, &st), 0);
	assert_int_equal(st.recoveries, 2);
	assert_int_equal(st.recoveries_failed, 3);
	assert_int_equal(st.history_topics, 1);
	assert_true(st.history_bytes > 0);
	rc_server_stop(s);
	runner_end(&r);
	rc_server_free(s);
}

/* ---- the seam, under a publisher that does not stop ---- */

struct pub {
	struct rc_server *s;
	_Atomic bool stop;
	_Atomic unsigned long n;	/* published: message i has offset i */
	pthread_t th;
};

static void *pub_main(void *arg)
{
	struct pub *p = arg;
	char msg[32];

	while (!atomic_load(&p->stop)) {
		unsigned long i = atomic_load(&p->n) + 1;
		int len = snprintf(msg, sizeof(msg), "%lu", i);
		int ret = rc_publish(p->s, "room", 4, msg, (size_t)len,
				     RC_OP_TEXT);

		if (ret == -ESHUTDOWN)
			break;
		if (ret) {
			usleep(100);
			continue;
		}
		atomic_store(&p->n, i);
		if (!(i % 64))
			usleep(500);	/* let the members keep up */
	}
	return NULL;
}

#define SEAM_ROUNDS 30

static void test_seam(void **state)
{
	struct runner r;
	/* A window the publisher cannot outrun while this thread is off
	   the CPU for a while (a loaded machine): a resume from 20 back
	   must find its offset held. */
	struct rc_server *s = server(2, 50000, 0, 0, &r);
	uint16_t port = rc_server_port(s);
	struct pub p = { .s = s };
	struct rc_stream_pos pos;

	(void)state;
	publish_n(s, "room", 1, 1, &pos);
	atomic_store(&p.n, 1);
	assert_int_equal(pthread_create(&p.th, NULL, pub_main, &p), 0);
	for (int round = 0; round < SEAM_ROUNDS; round++) {
		unsigned long from = atomic_load(&p.n), upto;
		char q[128];
		long want, got;
		int fd, res;

		/* Resume from a little before the publisher's position: some
		   of what follows is history, the rest live, and messages
		   past the read are in the inbox already. */
		from = from > 20 ? from - 20 : 0;
		snprintf(q, sizeof(q), "epoch=%llu&offset=%lu",
			 (unsigned long long)pos.epoch, from);
		fd = join(port, q, &res);
		/* (Offset 0 in the stream's epoch: "nothing yet".) */
		assert_int_equal(res, 1);
		upto = atomic_load(&p.n) + 200;
		want = (long)from + 1;
		/* Every number from from+1 on, once and in order. */
		while ((unsigned long)want <= upto) {
			got = next_num(fd, WAIT_MS);
			if (got != want)
				fail_msg("round %d: after %lu, got %ld where "
					 "%ld was due", round, from, got,
					 want);
			want++;
		}
		close(fd);
	}
	atomic_store(&p.stop, true);
	pthread_join(p.th, NULL);
	rc_server_stop(s);
	runner_end(&r);
	rc_server_free(s);
}

/* ---- bounds ---- */

static void test_memory_budget(void **state)
{
	const size_t budget = 2u << 20;
	struct rc_server *s = server(1, 100, 0, budget, NULL);
	struct rc_stream_pos first, again;
	struct rc_stats st;
	char topic[32], msg[64];
	uint64_t peak = 0;

	(void)state;
	memset(msg, 'x', sizeof(msg));
	publish_n(s, "t0", 1, 1, &first);
	/* 10,000 rooms with a full history each would take ~20x the
	   budget. */
	for (int t = 0; t < 10000; t++) {
		int tl = snprintf(topic, sizeof(topic), "t%d", t);

		for (int i = 0; i < 100; i++)
			assert_int_equal(rc_publish(s, topic, (size_t)tl, msg,
						    sizeof(msg), RC_OP_BINARY),
					 0);
		if (!(t % 500)) {
			assert_int_equal(rc_server_stats(s, &st), 0);
			if (st.history_bytes > peak)
				peak = st.history_bytes;
		}
	}
	assert_int_equal(rc_server_stats(s, &st), 0);
	if (st.history_bytes > peak)
		peak = st.history_bytes;
	/* Within the budget (a publish may pass it by one message before it
	   evicts). */
	assert_true(peak <= budget + 4096);
	assert_true(st.history_evicted > 0);
	assert_true(st.history_topics < 10000);
	/* The latest room keeps all of its 100. */
	assert_int_equal(rc_history(s, "t9999", 5, 0, NULL, NULL, NULL), 100);
	/* The first one went: it starts again in a new epoch. */
	publish_n(s, "t0", 1, 1, &again);
	assert_int_equal(again.offset, 1);
	assert_int_not_equal(again.epoch, first.epoch);
	printf("     10000 rooms x 100 messages: history peak %llu bytes of "
	       "%zu, %llu rooms evicted, %llu held\n",
	       (unsigned long long)peak, budget,
	       (unsigned long long)st.history_evicted,
	       (unsigned long long)st.history_topics);
	rc_server_free(s);
}

/* Many rooms of one message each: the budget is kept by dropping whole
   histories, least recently published first, in batches. What is held
   is exactly the latest rooms; a room published to again outlives the
   rooms left untouched since. */
#define SMALL_ROOMS 20000

static bool held(struct rc_server *s, int t)
{
	char topic[32];
	int tl = snprintf(topic, sizeof(topic), "s%d", t);
	int n = rc_history(s, topic, (size_t)tl, 0, NULL, NULL, NULL);

	assert_true(n == 1 || n == -ENOENT);
	return n == 1;
}

static void publish_room(struct rc_server *s, int t)
{
	char topic[32];
	int tl = snprintf(topic, sizeof(topic), "s%d", t);

	assert_int_equal(rc_publish(s, topic, (size_t)tl, "m", 1,
				    RC_OP_TEXT), 0);
}

static void test_many_small_rooms(void **state)
{
	const size_t budget = 2u << 20;
	struct rc_server *s = server(1, 100, 0, budget, NULL);
	struct rc_stats st;
	uint64_t t0 = now_ms();
	int kept, oldest, bad = 0;

	(void)state;
	for (int t = 0; t < SMALL_ROOMS; t++)
		publish_room(s, t);
	assert_int_equal(rc_server_stats(s, &st), 0);
	assert_true(st.history_bytes <= budget);
	kept = (int)st.history_topics;
	assert_true(kept > 100 && kept < SMALL_ROOMS);
	assert_int_equal(st.history_evicted, (uint64_t)(SMALL_ROOMS - kept));
	/* exactly the latest @kept rooms */
	oldest = SMALL_ROOMS - kept;
	for (int t = 0; t < SMALL_ROOMS; t++)
		bad += held(s, t) != (t >= oldest);
	assert_int_equal(bad, 0);
	/* The oldest one held, published to again, then half as many new
	   rooms: those untouched since it go first. */
	publish_room(s, oldest);
	for (int t = SMALL_ROOMS; t < SMALL_ROOMS + kept / 2; t++)
		publish_room(s, t);
	{
		char topic[32];
		int tl = snprintf(topic, sizeof(topic), "s%d", oldest);

		assert_int_equal(rc_history(s, topic, (size_t)tl, 0, NULL,
					    NULL, NULL), 2);
	}
	assert_false(held(s, oldest + 1));
	assert_true(held(s, SMALL_ROOMS + kept / 2 - 1));
	assert_int_equal(rc_server_stats(s, &st), 0);
	assert_true(st.history_bytes <= budget);
	printf("     %d rooms of one message: %d held within %zu bytes, "
	       "%llu evicted, in %llu ms\n", SMALL_ROOMS + kept / 2, kept,
	       budget, (unsigned long long)st.history_evicted,
	       (unsigned long long)(now_ms() - t0));
	rc_server_free(s);
}

static void test_ttl(void **state)
{
	struct rc_server *s = server(1, 10, 300, 0, NULL);
	struct rc_stats st;

	(void)state;
	publish_n(s, "a", 1, 5, NULL);
	assert_int_equal(rc_history(s, "a", 1, 0, NULL, NULL, NULL), 5);
	usleep(700 * 1000);
	assert_int_equal(rc_history(s, "a", 1, 0, NULL, NULL, NULL), 0);
	assert_int_equal(rc_server_stats(s, &st), 0);
	assert_int_equal(st.history_expired, 5);
	/* The stream goes on where it was. */
	{
		struct rc_stream_pos p;

		publish_n(s, "a", 6, 6, &p);
		assert_int_equal(p.offset, 6);
	}
	rc_server_free(s);
}

/* The next message's text, NUL-terminated into @buf, or -1. */
static long next_text(int fd, char *buf, size_t cap, int ms)
{
	uint8_t op;
	long n = read_frame(fd, &op, (uint8_t *)buf, cap - 1, ms);

	if (n < 0 || op != 0x1)
		return -1;
	buf[n] = '\0';
	return n;
}

static void pub_meta(struct rc_server *s, const char *data, const char *meta,
		     struct rc_stream_pos *pos)
{
	struct rc_publish p = {
		.topic = "room", .topic_len = 4, .data = data,
		.len = strlen(data), .op = RC_OP_TEXT, .meta = meta,
		.meta_len = meta ? strlen(meta) : 0,
	};

	assert_int_equal(rc_publish_ex(s, &p, pos), 0);
}

static void test_stamped(void **state)
{
	struct runner r;
	struct rc_server *s;
	struct rc_stream_pos p;
	static char big[6000], got[8192], want[8192];
	uint16_t port;
	int raw, st, st2, res;

	(void)state;
	with_stamp = true;
	s = server(2, 10, 0, 0, &r);
	with_stamp = false;
	port = rc_server_port(s);
	/* Before any stamped member: nothing is stamped. */
	atomic_store(&stamps, 0);
	pub_meta(s, "1", "ann", &p);
	pub_meta(s, "2", "bob", NULL);
	assert_int_equal(atomic_load(&stamps), 0);
	raw = join(port, "", &res);
	/* A stamped newcomer asking for the last 2: stamped for it alone
	   (they were published unstamped), with their positions and
	   senders. */
	st = join(port, "stamped=1&last=2", &res);
	assert_true(next_text(st, got, sizeof(got), WAIT_MS) > 0);
	snprintf(want, sizeof(want), "{\"o\":1,\"e\":%llu,\"m\":\"ann\","
		 "\"d\":\"1\"}", (unsigned long long)p.epoch);
	assert_string_equal(got, want);
	assert_true(next_text(st, got, sizeof(got), WAIT_MS) > 0);
	assert_non_null(strstr(got, "\"o\":2,"));
	assert_non_null(strstr(got, "\"m\":\"bob\""));
	assert_int_equal(atomic_load(&stamps), 2);
	/* Live: stamped once by the publisher, whoever the members are;
	   the raw member gets the message as it was. */
	atomic_store(&stamps, 0);
	pub_meta(s, "3", "cy", NULL);
	assert_true(next_text(st, got, sizeof(got), WAIT_MS) > 0);
	assert_non_null(strstr(got, "\"o\":3,"));
	assert_non_null(strstr(got, "\"m\":\"cy\",\"d\":\"3\"}"));
	assert_int_equal(next_num(raw, WAIT_MS), 3);
	/* A second stamped member on the other worker (or this one): the
	   same stamp, no more calls. */
	st2 = join(port, "stamped=1", &res);
	atomic_store(&stamps, 0);
	pub_meta(s, "4", NULL, NULL);
	assert_true(next_text(st, got, sizeof(got), WAIT_MS) > 0);
	assert_true(next_text(st2, want, sizeof(want), WAIT_MS) > 0);
	assert_string_equal(got, want);
	assert_non_null(strstr(got, "\"m\":\"\""));
	assert_int_equal(atomic_load(&stamps), 1);
	assert_int_equal(next_num(raw, WAIT_MS), 4);
	/* A stamp longer than the first buffer: made with room. */
	memset(big, 'x', sizeof(big) - 1);
	pub_meta(s, big, "big", NULL);
	assert_int_equal(next_text(st, got, sizeof(got), WAIT_MS),
			 (long)strlen(big) + 26 + (long)strlen("big") +
			 snprintf(want, sizeof(want), "%llu",
				  (unsigned long long)p.epoch));
	assert_non_null(strstr(got, "\"o\":5,"));
	(void)next_text(st2, got, sizeof(got), WAIT_MS);
	(void)next_text(raw, got, sizeof(got), WAIT_MS);
	/* The stamp says 0: plain for everyone. */
	pub_meta(s, "plain", NULL, NULL);
	assert_true(next_text(st, got, sizeof(got), WAIT_MS) > 0);
	assert_string_equal(got, "plain");
	/* Meta over RC_META_MAX. */
	{
		struct rc_publish q = { .topic = "room", .topic_len = 4,
					.data = "x", .len = 1,
					.op = RC_OP_TEXT, .meta = big,
					.meta_len = RC_META_MAX + 1 };

		assert_int_equal(rc_publish_ex(s, &q, NULL), -EINVAL);
	}
	close(raw);
	close(st);
	close(st2);
	rc_server_stop(s);
	runner_end(&r);
	rc_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_newcomer_and_recovery),
		cmocka_unit_test(test_seam),
		cmocka_unit_test(test_memory_budget),
		cmocka_unit_test(test_many_small_rooms),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_stamped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
