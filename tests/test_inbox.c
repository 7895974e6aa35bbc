/* SPDX-License-Identifier: MIT */
/*
 * test_inbox.c -- src/pubsub/inbox.c alone, its runtime calls stubbed: the
 * MPSC queue, the bound that pauses a publishing connection, and the
 * wake-up of paused publishers when an inbox drains, with the two sides of
 * that hand-off interleaved both ways (the race hook runs a drain between
 * the waiter's first look and its request to be woken).
 */
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pubsub/ps.h"
#include "runtime/rt.h"

/* ---- the runtime, stubbed ---- */

__thread struct rc_ps_worker *rc__ps_self;

static struct rc_ps ps;
static struct rc_ps_worker pw[2];
/* Stand-ins for the workers and a connection (never dereferenced). */
static char worker_id[2], conn_id;
static int wakes[2], resumed, paused;
static struct rc_conn *delivering;
static void (*race)(struct rc_ps_worker *t);

static int widx(struct rc_worker *w)
{
	return (int)((char *)w - worker_id);
}

void rc__worker_wake(struct rc_worker *from, struct rc_worker *to)
{
	(void)from;
	wakes[widx(to)]++;
}

void rc__worker_resume_publishers(struct rc_worker *w)
{
	(void)w;
	resumed++;
}

struct rc_conn *rc__delivering(void)
{
	return delivering;
}

bool rc__conn_pub_wait(struct rc_conn *c)
{
	(void)c;
	return !paused++;
}

void rc_inbox_race_hook(struct rc_ps_worker *t)
{
	if (race)
		race(t);
}

/* ---- set-up ---- */

static int setup(void **state)
{
	static struct rc_ps_worker *list[2];

	(void)state;
	memset(&ps, 0, sizeof(ps));
	ps.nworkers = 2;
	ps.workers = list;
	for (int i = 0; i < 2; i++) {
		memset(&pw[i], 0, sizeof(pw[i]));
		pw[i].ps = &ps;
		pw[i].w = (struct rc_worker *)&worker_id[i];
		pw[i].idx = (unsigned)i;
		rc__inbox_init(&pw[i].inbox);
		list[i] = &pw[i];
	}
	memset(wakes, 0, sizeof(wakes));
	resumed = paused = 0;
	delivering = NULL;
	race = NULL;
	rc__ps_self = NULL;
	return 0;
}

/* A message of @frame_len bytes with one inbox node. */
static struct rc_msg *msg(uint32_t frame_len)
{
	struct rc_msg *m = calloc(1, sizeof(*m) + sizeof(m->nodes[0]));

	assert_non_null(m);
	m->frame_len = frame_len;
	m->nodes[0].msg = m;
	return m;
}

/* ---- tests ---- */

static void test_queue_order(void **state)
{
	struct rc_msg *m[100];
	struct rc_inbox_node *n;
	bool busy = false;

	(void)state;
	for (int i = 0; i < 100; i++) {
		m[i] = msg((uint32_t)i);
		rc__inbox_send(&pw[1], &m[i]->nodes[0], m[i]);
	}
	/* One wake-up for the lot: only the push that found the bell quiet
	   rings it. */
	assert_int_equal(wakes[1], 1);
	for (int i = 0; i < 100; i++) {
		n = rc__inbox_pop(&pw[1].inbox, &busy);
		assert_non_null(n);
		assert_ptr_equal(n->msg, m[i]);
		free(m[i]);
	}
	assert_null(rc__inbox_pop(&pw[1].inbox, &busy));
	assert_false(busy);
}

/* A worker that posts to its own inbox (from a timer, after its drain)
   rings no bell, but must not go to sleep on the mail. */
static void test_own_mail_keeps_awake(void **state)
{
	struct rc_msg *m = msg(10);
	struct rc_inbox_node *n;
	bool busy = false;

	(void)state;
	rc__ps_self = &pw[0];
	assert_false(rc__ps_pending(&pw[0]));
	rc__inbox_send(&pw[0], &m->nodes[0], m);
	assert_int_equal(wakes[0], 0);
	assert_true(rc__ps_pending(&pw[0]));
	n = rc__inbox_pop(&pw[0].inbox, &busy);
	assert_ptr_equal(n, &m->nodes[0]);
	free(m);
}

/* A publish from on_message on worker 0 that takes worker 1's inbox over
   RC_INBOX_HIGH pauses the publishing connection, once. */
static void test_bound_pauses_publisher(void **state)
{
	struct rc_msg *a = msg(RC_INBOX_HIGH), *b = msg(1000);

	(void)state;
	rc__ps_self = &pw[0];
	delivering = (struct rc_conn *)&conn_id;
	rc__inbox_send(&pw[1], &a->nodes[0], a);
	assert_int_equal(paused, 1);
	assert_int_equal(pw[0].npub_wait, 1);
	assert_int_equal(atomic_load(&pw[1].inbox_waiters), 1);
	rc__inbox_send(&pw[1], &b->nodes[0], b);
	assert_int_equal(pw[0].npub_wait, 1);
	/* Not from a handler (a timer, another thread): nobody to pause. */
	delivering = NULL;
	paused = 0;
	rc__inbox_send(&pw[1], &b->nodes[0], b);
	assert_int_equal(paused, 0);
	free(a);
	free(b);
}

static void drain_all(struct rc_ps_worker *t)
{
	rc__inbox_drained(t, atomic_load(&t->inbox_bytes));
}

/*
 * The drain lands between worker 0's look at worker 1's inbox (still full)
 * and its request to be woken: the drain sees no waiter and wakes nobody.
 * Worker 0 must then see the inbox low on its second look and resume its
 * publishers, or it sleeps until a timer (the lost wake-up).
 */
static void test_drain_between_look_and_ask(void **state)
{
	(void)state;
	rc__ps_self = &pw[0];
	pw[0].npub_wait = 1;
	atomic_store(&pw[1].inbox_bytes, RC_INBOX_HIGH);
	race = drain_all;
	rc__ps_self = &pw[1];
	rc__ps_pub_wait_check(&pw[0]);
	assert_true(resumed == 1 || wakes[0] == 1);
	assert_int_equal(resumed, 1);
	assert_int_equal(pw[0].npub_wait, 0);
}

/* The other order: worker 0 asks to be woken while the inbox is full;
   the later drain must wake it. */
static void test_drain_after_ask(void **state)
{
	(void)state;
	pw[0].npub_wait = 1;
	atomic_store(&pw[1].inbox_bytes, RC_INBOX_HIGH);
	rc__ps_pub_wait_check(&pw[0]);
	assert_int_equal(resumed, 0);
	assert_int_equal(pw[0].npub_wait, 1);
	rc__ps_self = &pw[1];
	drain_all(&pw[1]);
	assert_int_equal(wakes[0], 1);
	assert_int_equal(atomic_load(&pw[1].inbox_waiters), 0);
	/* Woken, worker 0 looks again and resumes. */
	rc__ps_self = &pw[0];
	rc__ps_pub_wait_check(&pw[0]);
	assert_int_equal(resumed, 1);
}

/* A drain that leaves the inbox above RC_INBOX_LOW wakes nobody yet. */
static void test_partial_drain(void **state)
{
	(void)state;
	pw[0].npub_wait = 1;
	atomic_store(&pw[1].inbox_bytes, RC_INBOX_HIGH);
	rc__ps_pub_wait_check(&pw[0]);
	rc__inbox_drained(&pw[1], RC_INBOX_HIGH - RC_INBOX_LOW);
	assert_int_equal(wakes[0], 0);
	rc__inbox_drained(&pw[1], RC_INBOX_LOW);
	assert_int_equal(wakes[0], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_queue_order, setup),
		cmocka_unit_test_setup(test_own_mail_keeps_awake, setup),
		cmocka_unit_test_setup(test_bound_pauses_publisher, setup),
		cmocka_unit_test_setup(test_drain_between_look_and_ask, setup),
		cmocka_unit_test_setup(test_drain_after_ask, setup),
		cmocka_unit_test_setup(test_partial_drain, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
