/* SPDX-License-Identifier: MIT */
/* test_server.c -- the public API end to end: lifecycle, handlers, misuse. */
#define _GNU_SOURCE	/* strcasestr() in wsclient.h */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ref/testutil.h"
#include "ringcast.h"
#include "wsclient.h"

/* What the handlers saw; written on a worker, read by the test thread. */
static _Atomic int opens, closes, messages, last_close_code;
/* Results of misuse calls made inside on_message (on the worker). */
static _Atomic int misuse_checked;
static int misuse_results[8];
/* cmocka's asserts must run on the test thread: handlers count here. */
static _Atomic int handler_failures;

static void expect(int ok)
{
	if (!ok)
		handler_failures++;
}

static void reset(void)
{
	opens = closes = messages = last_close_code = misuse_checked = 0;
	handler_failures = 0;
	memset(misuse_results, 0, sizeof(misuse_results));
}

static int h_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	size_t n;
	const char *p = rc_request_path(req, &n);
	const char *auth = rc_request_header(req, "x-token", &n);

	(void)c;
	if (!strncmp(p, "/private", 8))
		return auth && n == 6 && !memcmp(auth, "secret", 6) ? 0 : 403;
	return 0;
}

static void h_http(struct rc_conn *c, const struct rc_request *req,
		   struct rc_response *res)
{
	size_t n;
	const char *p = rc_request_path(req, &n);

	(void)c;
	if (n == 6 && !memcmp(p, "/hello", 6)) {
		res->status = 200;
		res->body = "hi";
		res->body_len = 2;
	}
}

static void h_open(struct rc_conn *c)
{
	opens++;
	rc_conn_set_data(c, (void *)0x1234);
}

static void h_message(struct rc_conn *c, const void *data, size_t len,
		      enum rc_opcode op)
{
	static const uint8_t bad_utf8[] = { 0xc3, 0x28 };
	static const char big[200];

	messages++;
	if (len == 6 && !memcmp(data, "misuse", 6)) {
		misuse_results[0] = rc_send(NULL, "x", 1, RC_OP_TEXT);
		misuse_results[1] = rc_send(c, "x", 1, RC_OP_CLOSE);
		misuse_results[2] = rc_send(c, bad_utf8, 2, RC_OP_TEXT);
		misuse_results[3] = rc_send(c, big, sizeof(big), RC_OP_PING);
		misuse_results[4] = rc_close(c, 1005, NULL);
		misuse_results[5] = rc_conn_data(c) == (void *)0x1234;
		misuse_results[6] = rc_send(c, NULL, 5, RC_OP_BINARY);
		misuse_checked = 1;
		return;
	}
	if (len == 5 && !memcmp(data, "close", 5)) {
		expect(rc_close(c, 4001, "bye") == 0);
		/* Closing: more output is refused, not queued. */
		expect(rc_send(c, "x", 1, RC_OP_TEXT) == -EPIPE);
		expect(rc_close(c, 4001, "again") == -EPIPE);
		return;
	}
	expect(rc_send(c, data, len, op) == 0);
}

static void h_close(struct rc_conn *c, uint16_t code)
{
	/* The connection is gone: sending must fail cleanly. */
	expect(rc_send(c, "x", 1, RC_OP_TEXT) == -EPIPE);
	last_close_code = code;
	closes++;
}

static const struct rc_handlers handlers = {
	.on_upgrade = h_upgrade,
	.on_http = h_http,
	.on_open = h_open,
	.on_message = h_message,
	.on_close = h_close,
};

static struct rc_server *start(void)
{
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;

	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 2;
	cfg.pin_threads = false;
	cfg.max_message = 4096;
	reset();
	s = rc_server_new(&cfg, &handlers, (void *)&handlers);
	assert_non_null(s);
	assert_int_not_equal(rc_server_port(s), 0);
	assert_ptr_equal(rc_server_user(s), &handlers);
	assert_int_equal(rc_server_start(s), 0);
	return s;
}

static int dial_s(struct rc_server *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_port = htons(rc_server_port(s));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void put(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

/* Read an HTTP response head; return its status. */
static int get_head(int fd)
{
	char buf[2048];
	size_t n = 0;

	while (n < sizeof(buf) - 1) {
		read_full(fd, buf + n, 1);
		n++;
		if (n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4))
			break;
	}
	buf[n] = 0;
	return atoi(buf + 9);
}

static int upgrade(int fd, const char *path, const char *extra)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n%s\r\n",
			 path, extra);

	put(fd, req, (size_t)n);
	return get_head(fd);
}

/* Send one masked frame (payload < 126). */
static void send_frame(int fd, uint8_t op, const void *p, size_t n)
{
	uint8_t f[2 + 4 + 125];
	const uint8_t key[4] = { 1, 2, 3, 4 };

	assert_true(n < 126);
	f[0] = 0x80 | op;
	f[1] = 0x80 | (uint8_t)n;
	memcpy(f + 2, key, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = ((const uint8_t *)p)[i] ^ key[i & 3];
	put(fd, f, 6 + n);
}

/* Read one unmasked server frame (payload < 126) into @p; returns length. */
static size_t recv_frame(int fd, uint8_t *op, uint8_t *p)
{
	uint8_t h[2];

	read_full(fd, h, 2);
	*op = h[0] & 0x0f;
	assert_true(h[0] & 0x80);
	assert_int_equal(h[1] & 0x80, 0);
	assert_true((h[1] & 0x7f) < 126);
	read_full(fd, p, h[1] & 0x7f);
	return h[1] & 0x7f;
}

static void wait_for(_Atomic int *v, int want)
{
	for (int i = 0; i < 500 && *v != want; i++)
		usleep(10000);
	assert_int_equal(*v, want);
}

static void test_config_default(void **state)
{
	struct rc_config c = rc_config_default();

	(void)state;
	assert_int_equal(c.port, 8080);
	assert_true(c.threads >= 1);
	assert_int_equal(c.max_message, 16u << 20);
	assert_int_equal(c.max_head, 8192);
	assert_int_equal(c.handshake_timeout_ms, 10000);
	assert_non_null(rc_simd_name());
	assert_int_equal(rc_kernel_check(NULL, 0), 0);
}

static void test_echo_and_stop(void **state)
{
	struct rc_server *s = start();
	struct rc_stats st;
	uint8_t op, buf[128];
	int fd = dial_s(s);

	(void)state;
	assert_int_equal(upgrade(fd, "/echo", ""), 101);
	wait_for(&opens, 1);
	send_frame(fd, 1, "hello", 5);
	assert_int_equal(recv_frame(fd, &op, buf), 5);
	assert_int_equal(op, 1);
	assert_memory_equal(buf, "hello", 5);
	send_frame(fd, 9, "pp", 2);
	assert_int_equal(recv_frame(fd, &op, buf), 2);
	assert_int_equal(op, 10);	/* pong with the ping's payload */
	assert_memory_equal(buf, "pp", 2);

	rc_server_stop(s);
	/* Stopping: the client gets close 1001 ... */
	assert_int_equal(recv_frame(fd, &op, buf), 2);
	assert_int_equal(op, 8);
	assert_int_equal(buf[0] << 8 | buf[1], 1001);
	send_frame(fd, 8, buf, 2);
	/* ... and once it answers, the workers finish. */
	assert_int_equal(rc_server_run(s), 0);
	assert_int_equal(closes, 1);
	assert_int_equal(last_close_code, 1001);
	assert_int_equal(rc_server_stats(s, &st), 0);
	assert_int_equal(st.handshakes, 1);
	assert_int_equal(st.messages_in, 1);
	assert_int_equal(st.messages_out, 1);
	assert_int_equal(st.websockets_open, 0);
	assert_int_equal(st.connections_open, 0);
	close(fd);
	assert_int_equal(handler_failures, 0);
	rc_server_free(s);
}

static void test_refuse_and_http(void **state)
{
	struct rc_server *s = start();
	char body[3] = { 0 };
	int fd;

	(void)state;
	fd = dial_s(s);
	assert_int_equal(upgrade(fd, "/private", ""), 403);
	close(fd);
	fd = dial_s(s);
	assert_int_equal(upgrade(fd, "/private", "X-Token: secret\r\n"), 101);
	close(fd);
	fd = dial_s(s);
	put(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
	assert_int_equal(get_head(fd), 200);
	read_full(fd, body, 2);
	assert_string_equal(body, "hi");
	/* Keep-alive: a second request on the same connection. */
	put(fd, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 34);
	assert_int_equal(get_head(fd), 404);
	close(fd);
	assert_int_equal(opens, 1);
	rc_server_free(s);
}

static void test_misuse(void **state)
{
	struct rc_server *s = start();
	uint8_t op, buf[128];
	int fd = dial_s(s);

	(void)state;
	assert_int_equal(upgrade(fd, "/echo", ""), 101);
	send_frame(fd, 1, "misuse", 6);
	wait_for(&misuse_checked, 1);
	assert_int_equal(misuse_results[0], -EINVAL);	/* NULL conn */
	assert_int_equal(misuse_results[1], -EINVAL);	/* bad opcode */
	assert_int_equal(misuse_results[2], -EINVAL);	/* not UTF-8 */
	assert_int_equal(misuse_results[3], -EINVAL);	/* ping > 125 */
	assert_int_equal(misuse_results[4], -EINVAL);	/* 1005 not sendable */
	assert_int_equal(misuse_results[5], 1);		/* user data kept */
	assert_int_equal(misuse_results[6], -EINVAL);	/* NULL data */

	/* rc_close from a handler: close frame with code and reason. */
	send_frame(fd, 1, "close", 5);
	assert_int_equal(recv_frame(fd, &op, buf), 5);
	assert_int_equal(op, 8);
	assert_int_equal(buf[0] << 8 | buf[1], 4001);
	assert_memory_equal(buf + 2, "bye", 3);
	send_frame(fd, 8, buf, 2);
	wait_for(&closes, 1);
	assert_int_equal(last_close_code, 4001);
	close(fd);
	assert_int_equal(rc_close(NULL, 1000, NULL), -EINVAL);
	assert_int_equal(rc_server_start(NULL), -EINVAL);
	assert_null(rc_server_new(NULL, NULL, NULL));
	assert_int_equal(handler_failures, 0);
	rc_server_free(s);
}

static void test_port_in_use(void **state)
{
	struct rc_server *a = start();
	struct rc_config cfg = rc_config_default();

	(void)state;
	cfg.host = "127.0.0.1";
	cfg.port = rc_server_port(a);
	cfg.threads = 1;
	/* SO_REUSEPORT must not let a second server share the port. */
	errno = 0;
	assert_null(rc_server_new(&cfg, &handlers, NULL));
	assert_int_equal(errno, EADDRINUSE);
	rc_server_free(a);
}

/* ------------------------------------------------------------------ */
/* Regressions from a code review: each test below fails on the code   */
/* that had the defect its comment names.                              */
/* ------------------------------------------------------------------ */

/* Longest wait for what should happen at once (TSan builds are slow). */
#define REG_WAIT_MS 5000

static int wait_ge(_Atomic int *v, int want)
{
	uint64_t end = now_ms() + REG_WAIT_MS;

	while (*v < want && now_ms() < end)
		usleep(1000);
	return *v >= want;
}

/*
 * The failed checks of a test, reported by report() once the test has freed
 * its server: a failure leaves no workers running behind it. cmocka cuts a
 * message at 1 KiB, so the list goes to stderr itself.
 */
static char failure[4096];
static unsigned nfailed;

__attribute__((format(printf, 1, 2)))
static void note(const char *fmt, ...)
{
	size_t at = strlen(failure);
	va_list ap;

	nfailed++;
	if (at + 8 >= sizeof(failure))
		return;
	if (at) {
		memcpy(failure + at, "\n  ", 3);
		at += 3;
	}
	va_start(ap, fmt);
	vsnprintf(failure + at, sizeof(failure) - at, fmt, ap);
	va_end(ap);
}

static void report(void)
{
	if (!nfailed)
		return;
	fprintf(stderr, "FAILED CHECKS:\n  %s\n", failure);
	fail_msg("%u check(s) failed, listed above; the first: %.*s",
		 nfailed, (int)strcspn(failure, "\n"), failure);
}

/* @s with control and non-ASCII bytes as \r, \n, \xNN, for messages. */
static const char *esc(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 5 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\r')
			o += (size_t)snprintf(out + o, cap - o, "\\r");
		else if (ch == '\n')
			o += (size_t)snprintf(out + o, cap - o, "\\n");
		else if (ch < 0x20 || ch >= 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = 0;
	return out;
}

/* A server on 127.0.0.1, on a free port, unpinned, started. */
static struct rc_server *start_with(struct rc_config *cfg,
				    const struct rc_handlers *h)
{
	struct rc_server *s;

	cfg->host = "127.0.0.1";
	cfg->port = 0;
	cfg->pin_threads = false;
	reset();
	failure[0] = 0;
	nfailed = 0;
	s = rc_server_new(cfg, h, NULL);
	assert_non_null(s);
	assert_int_equal(rc_server_start(s), 0);
	return s;
}

/* ---- socket helpers that never assert (safe in a forked child, and
   leave the test free to clean up before it fails) ---- */

/* One masked client frame (payload < 126), FIN as given (wsclient.h's
   write_frame() always sets it). */
static int write_frag(int fd, bool fin, uint8_t op, const void *p, size_t n)
{
	uint8_t f[2 + 4 + 125];
	const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

	if (n > 125)
		return -1;
	f[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	f[1] = (uint8_t)(0x80 | n);
	memcpy(f + 2, key, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = ((const uint8_t *)p)[i] ^ key[i & 3];
	return write_all(fd, f, 6 + n);
}

/*
 * Defect: rc_send() and rc_publish() skipped the UTF-8 check whenever
 * data/len were exactly the message being delivered, even one that arrived
 * as BINARY: a handler forwarding a client's BINARY message as TEXT put
 * invalid UTF-8 on the wire. Both must refuse it with -EINVAL (also for a
 * message gathered from fragments); a TEXT message forwarded as TEXT still
 * goes (0).
 */
enum { FWD_BIN, FWD_BIN_FRAG, FWD_TEXT, FWD_CASES };
static _Atomic int fwd_calls;
static _Atomic int fwd_send[FWD_CASES], fwd_pub[FWD_CASES];

static void fwd_open(struct rc_conn *c)
{
	expect(rc_subscribe(c, "fwd", 3) == 0);
}

static void fwd_message(struct rc_conn *c, const void *data, size_t len,
			enum rc_opcode op)
{
	int i = fwd_calls;

	(void)op;
	if (i >= FWD_CASES) {
		handler_failures++;
		return;
	}
	fwd_send[i] = rc_send(c, data, len, RC_OP_TEXT);
	fwd_pub[i] = rc_publish(rc_conn_server(c), "fwd", 3, data, len,
				RC_OP_TEXT);
	fwd_calls++;
}

static void test_binary_forwarded_as_text(void **state)
{
	static const struct rc_handlers h = {
		.on_open = fwd_open,
		.on_message = fwd_message,
	};
	static const char *const what[FWD_CASES] = {
		"a BINARY message ff fe 80",
		"a BINARY message ff fe 80 in two fragments",
		"a TEXT message \"ok\"",
	};
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;
	uint8_t op, buf[128];
	int fd, oks = 0;

	(void)state;
	cfg.threads = 1;
	s = start_with(&cfg, &h);
	fwd_calls = 0;
	fd = dial_s(s);
	assert_int_equal(upgrade(fd, "/", ""), 101);
	assert_int_equal(write_frame(fd, RC_OP_BINARY, "\xff\xfe\x80", 3),
			 0);
	assert_int_equal(write_frag(fd, false, RC_OP_BINARY, "\xff", 1), 0);
	assert_int_equal(write_frame(fd, RC_OP_CONT, "\xfe\x80", 2), 0);
	assert_int_equal(write_frame(fd, RC_OP_TEXT, "ok", 2), 0);
	if (!wait_ge(&fwd_calls, FWD_CASES))
		note("on_message ran %d times for %d messages", fwd_calls,
		     FWD_CASES);
	for (int i = 0; i < FWD_CASES; i++) {
		int want = i == FWD_TEXT ? 0 : -EINVAL;

		if (fwd_send[i] != want)
			note("on_message forwarded %s as TEXT: rc_send() "
			     "returned %d, want %d", what[i], fwd_send[i],
			     want);
		if (fwd_pub[i] != want)
			note("on_message forwarded %s as TEXT: rc_publish() "
			     "returned %d, want %d", what[i], fwd_pub[i], want);
	}
	/* On the wire: "ok" twice (rc_send, then the published copy), and
	   nothing else. */
	for (int k = 0; oks < 2 && k < 8; k++) {
		long n = read_frame(fd, &op, buf, sizeof(buf), 2000);

		if (n < 0) {
			note("the forwarded TEXT \"ok\" did not arrive twice "
			     "(got it %d times)", oks);
			break;
		}
		if (op == RC_OP_TEXT && n == 2 && !memcmp(buf, "ok", 2)) {
			oks++;
			continue;
		}
		note("a frame with opcode %u and %ld bytes (%02x %02x %02x) "
		     "went on the wire: a TEXT frame that is not UTF-8", op, n,
		     n > 0 ? buf[0] : 0, n > 1 ? buf[1] : 0,
		     n > 2 ? buf[2] : 0);
	}
	close(fd);
	rc_server_free(s);
	assert_int_equal(handler_failures, 0);
	report();
}

/*
 * Defect: rc_server_stop() before rc_server_run() (or rc_server_start())
 * was lost, and rc_server_run() then never returned. A hung run is ended
 * by a second stop (the workers exist by then), so the test fails instead
 * of hanging; if even that does not end it, the process gives up.
 */
/* wsclient.h's runner, and a stopper that calls rc_server_stop() after
   @delay_us. */
struct stopper {
	struct rc_server *s;
	unsigned delay_us;
};

static void *stopper_main(void *arg)
{
	struct stopper *st = arg;

	if (st->delay_us)
		usleep(st->delay_us);
	rc_server_stop(st->s);
	return NULL;
}

/* A run that did not return: a second stop; if even that does not end it
   the process gives up (a hung test would say less). */
static void runner_rescue(struct runner *r, const char *what)
{
	rc_server_stop(r->s);
	if (runner_wait(r, REG_WAIT_MS)) {
		fprintf(stderr, "FAIL: %s; a second rc_server_stop() did not "
			"end rc_server_run() either: giving up\n", what);
		fflush(NULL);
		_exit(1);
	}
	runner_end(r);
}

static struct rc_server *new_quiet_server(void)
{
	struct rc_config cfg = rc_config_default();

	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 2;
	cfg.pin_threads = false;
	/* No traffic: small tables and a small receive pool start and stop
	   fast, TSan too (30 rounds of this below). */
	cfg.max_connections = 64;
	cfg.recv_buffers = 8;
	cfg.recv_buffer_size = 4096;
	return rc_server_new(&cfg, NULL, NULL);
}

static void test_stop_before_run(void **state)
{
	static const char *const how[] = {
		"rc_server_stop() then rc_server_run()",
		"rc_server_stop(), rc_server_start(), then rc_server_run()",
	};
	struct runner r;

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct rc_server *s = new_quiet_server();
		int start_ret = 0;
		uint64_t t0;

		assert_non_null(s);
		rc_server_stop(s);
		if (k == 1)
			start_ret = rc_server_start(s);
		t0 = now_ms();
		runner_start(&r, s);
		if (runner_wait(&r, 3000)) {
			runner_rescue(&r, how[k]);
			rc_server_free(s);
			fail_msg("%s: rc_server_run() did not return within "
				 "3000 ms (the stop was lost; a second stop "
				 "ended it)", how[k]);
		}
		printf("  %s: returned %d after %llu ms\n", how[k], r.ret,
		       (unsigned long long)(now_ms() - t0));
		runner_end(&r);
		rc_server_free(s);
		if (!start_ret)
			assert_int_equal(r.ret, 0);
	}
}

#define RACE_ROUNDS 30

static void test_stop_races_run(void **state)
{
	struct runner r;
	pthread_t th;

	(void)state;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		/* 0 to 2 ms: before, while and after the workers start;
		   odd rounds start the stopper first. */
		struct stopper st = {
			.s = new_quiet_server(),
			.delay_us = (unsigned)(i / 2 % 15) * 140,
		};

		assert_non_null(st.s);
		if (i & 1)
			assert_int_equal(pthread_create(&th, NULL,
							stopper_main, &st), 0);
		runner_start(&r, st.s);
		if (!(i & 1))
			assert_int_equal(pthread_create(&th, NULL,
							stopper_main, &st), 0);
		pthread_join(th, NULL);
		if (runner_wait(&r, REG_WAIT_MS)) {
			runner_rescue(&r, "rc_server_stop() racing "
				      "rc_server_run()");
			rc_server_free(st.s);
			fail_msg("round %d of %d (stop %u us after the %s "
				 "started): rc_server_run() did not return "
				 "within %d ms of rc_server_stop() (a second "
				 "stop ended it)", i + 1, RACE_ROUNDS,
				 st.delay_us, i & 1 ? "stopper" : "runner",
				 REG_WAIT_MS);
		}
		runner_end(&r);
		rc_server_free(st.s);
		assert_int_equal(r.ret, 0);
	}
}

/*
 * Defect: rc_close() refused RC_CLOSE_TRY_AGAIN (1013), a code of the
 * public enum. The IANA-registered 1012, 1013 and 1014 are valid: the
 * server may send them (rc_close returns 0 and the peer gets that code)
 * and a peer's close with them is echoed with the same code and reaches
 * on_close. 1004, 1005, 1006, 1015 and 1016 stay refused (-EINVAL), and a
 * peer's 1015 still gets 1002.
 */
static _Atomic int cc_calls, cc_result, cc_closes, cc_close_code;

static void cc_message(struct rc_conn *c, const void *data, size_t len,
		       enum rc_opcode op)
{
	char txt[16];

	(void)op;
	if (len < 7 || len >= sizeof(txt) || memcmp(data, "close ", 6))
		return;
	memcpy(txt, data, len);
	txt[len] = 0;
	cc_result = rc_close(c, (uint16_t)atoi(txt + 6), "later");
	cc_calls++;
}

static void cc_on_close(struct rc_conn *c, uint16_t code)
{
	(void)c;
	cc_close_code = code;
	cc_closes++;
}

static void test_close_iana_codes(void **state)
{
	static const struct rc_handlers h = {
		.on_message = cc_message,
		.on_close = cc_on_close,
	};
	static const uint16_t ok[] = { 1012, 1013, 1014 };
	static const uint16_t never[] = { 1004, 1005, 1006, 1015, 1016 };
	static const uint16_t peer[][2] = {	/* sent, answer */
		{ 1012, 1012 }, { 1013, 1013 }, { 1014, 1014 }, { 1015, 1002 },
	};
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;
	uint8_t op = 0, buf[128];
	char msg[16];
	int fd, nconn = 0;
	long n;

	(void)state;
	cfg.threads = 1;
	s = start_with(&cfg, &h);
	cc_calls = cc_closes = 0;

	/* rc_close with a registered code: 0, and a close frame with it. */
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int calls = cc_calls;

		fd = dial_s(s);
		assert_int_equal(upgrade(fd, "/", ""), 101);
		nconn++;
		snprintf(msg, sizeof(msg), "close %u", ok[i]);
		assert_int_equal(write_frame(fd, RC_OP_TEXT, msg,
					     strlen(msg)), 0);
		if (!wait_ge(&cc_calls, calls + 1)) {
			note("on_message did not run for \"%s\"", msg);
		} else if (cc_result != 0) {
			note("rc_close(c, %u, \"later\") returned %d, want 0",
			     ok[i], cc_result);
		} else {
			n = read_frame(fd, &op, buf, sizeof(buf), REG_WAIT_MS);
			if (n < 2 || op != RC_OP_CLOSE ||
			    (buf[0] << 8 | buf[1]) != ok[i])
				note("after rc_close(c, %u): got opcode %u, "
				     "%ld bytes, code %d; want a close frame "
				     "with %u", ok[i], op, n,
				     n >= 2 ? buf[0] << 8 | buf[1] : -1,
				     ok[i]);
			else
				write_frame(fd, RC_OP_CLOSE, buf, 2);
			if (wait_ge(&cc_closes, nconn) &&
			    cc_close_code != ok[i])
				note("after rc_close(c, %u): on_close saw %d",
				     ok[i], cc_close_code);
		}
		close(fd);
		if (!wait_ge(&cc_closes, nconn))
			note("on_close did not run (%d of %d)", cc_closes,
			     nconn);
	}

	/* Codes that are never sent: refused, the connection stays. */
	fd = dial_s(s);
	assert_int_equal(upgrade(fd, "/", ""), 101);
	nconn++;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		int calls = cc_calls;

		snprintf(msg, sizeof(msg), "close %u", never[i]);
		assert_int_equal(write_frame(fd, RC_OP_TEXT, msg,
					     strlen(msg)), 0);
		if (!wait_ge(&cc_calls, calls + 1))
			note("on_message did not run for \"%s\"", msg);
		else if (cc_result != -EINVAL)
			note("rc_close(c, %u, \"later\") returned %d, want "
			     "-EINVAL", never[i], cc_result);
	}
	close(fd);
	if (!wait_ge(&cc_closes, nconn))
		note("on_close did not run (%d of %d)", cc_closes, nconn);

	/* A peer's close code: echoed, and given to on_close. */
	for (size_t i = 0; i < sizeof(peer) / sizeof(peer[0]); i++) {
		uint8_t code[2] = { (uint8_t)(peer[i][0] >> 8),
				    (uint8_t)peer[i][0] };

		fd = dial_s(s);
		assert_int_equal(upgrade(fd, "/", ""), 101);
		nconn++;
		assert_int_equal(write_frame(fd, RC_OP_CLOSE, code, 2), 0);
		n = read_frame(fd, &op, buf, sizeof(buf), REG_WAIT_MS);
		if (n < 2 || op != RC_OP_CLOSE ||
		    (buf[0] << 8 | buf[1]) != peer[i][1])
			note("peer closed with %u: got opcode %u, %ld bytes, "
			     "code %d; want a close frame with %u",
			     peer[i][0], op, n,
			     n >= 2 ? buf[0] << 8 | buf[1] : -1, peer[i][1]);
		/* After a 1002 the server waits for our EOF, not for the
		   close timeout. */
		close(fd);
		if (!wait_ge(&cc_closes, nconn))
			note("on_close did not run (%d of %d)", cc_closes,
			     nconn);
		else if (cc_close_code != peer[i][1])
			note("peer closed with %u: on_close saw %d, want %u",
			     peer[i][0], cc_close_code, peer[i][1]);
	}
	rc_server_free(s);
	report();
}

/*
 * Defect: CR and LF (header injection) were not refused in configured
 * strings that go into response heads. rc_server_new() must fail with
 * EINVAL for a subprotocol that is not a token (RFC 9110 tchar only);
 * a content_type from on_http with a CTL in it must give a 500 without
 * that header (counted in http_errors).
 */
static void test_subprotocol_must_be_token(void **state)
{
	static const char *const bad[] = {
		"chat\r\nX-Evil: 1", "a b", "", "chat\n", "a,b",
	};
	static const char *const good[] = { "chat", "v2.chat-x_y~1" };
	struct rc_config cfg = rc_config_default();
	struct rc_handlers h = { 0 };
	char e[64];

	(void)state;
	failure[0] = 0;
	nfailed = 0;
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 1;
	cfg.pin_threads = false;
	cfg.nsubprotocols = 2;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *protos[2] = { "chat", bad[i] };
		struct rc_server *s;

		cfg.subprotocols = protos;
		errno = 0;
		s = rc_server_new(&cfg, &h, NULL);
		if (s) {
			rc_server_free(s);
			note("rc_server_new() accepted the subprotocol \"%s\" "
			     "(want NULL, errno EINVAL)",
			     esc(bad[i], e, sizeof(e)));
		} else if (errno != EINVAL) {
			note("rc_server_new() with the subprotocol \"%s\": "
			     "errno %d (%s), want EINVAL",
			     esc(bad[i], e, sizeof(e)), errno, strerror(errno));
		}
	}
	cfg.subprotocols = good;
	{
		struct rc_server *s = rc_server_new(&cfg, &h, NULL);

		if (!s)
			note("rc_server_new() refused the subprotocols \"%s\", "
			     "\"%s\": %s", good[0], good[1], strerror(errno));
		rc_server_free(s);
	}
	report();
}

static const char *const bad_ctypes[] = {
	"text/plain\r\nX-Evil: 1",
	"text/plain\nX-Evil: 1",
	"text/plain\rX-Evil: 1",
	"text/plain\x01X-Evil: 1",
	"text/plain\x7fX-Evil: 1",
};
#define NBAD_CTYPES (sizeof(bad_ctypes) / sizeof(bad_ctypes[0]))

/* GET /ct/N: content type bad_ctypes[N]; /ct/ok: a valid one. */
static void ct_http(struct rc_conn *c, const struct rc_request *req,
		    struct rc_response *res)
{
	size_t n;
	const char *p = rc_request_path(req, &n);

	(void)c;
	if (n < 5 || memcmp(p, "/ct/", 4))
		return;
	res->status = 200;
	res->body = "body";
	res->body_len = 4;
	if (n == 6 && !memcmp(p + 4, "ok", 2))
		res->content_type = "text/csv";
	else if (n == 5 && p[4] >= '0' && (size_t)(p[4] - '0') < NBAD_CTYPES)
		res->content_type = bad_ctypes[p[4] - '0'];
}

static void test_content_type_ctl(void **state)
{
	static const struct rc_handlers h = { .on_http = ct_http };
	struct rc_config cfg = rc_config_default();
	struct rc_stats before, after;
	struct rc_server *s;
	char head[2048], req[64], e[64], h2[4096];
	int fd, st;

	(void)state;
	cfg.threads = 1;
	s = start_with(&cfg, &h);
	assert_int_equal(rc_server_stats(s, &before), 0);
	for (size_t i = 0; i < NBAD_CTYPES; i++) {
		snprintf(req, sizeof(req),
			 "GET /ct/%zu HTTP/1.1\r\nHost: x\r\n\r\n", i);
		fd = dial_s(s);
		put(fd, req, strlen(req));
		st = read_head(fd, head, sizeof(head), REG_WAIT_MS);
		if (st != 500)
			note("on_http set content_type \"%s\": status %d, "
			     "want 500; the head: %s",
			     esc(bad_ctypes[i], e, sizeof(e)), st,
			     esc(head, h2, sizeof(h2)));
		else if (strstr(head, "X-Evil"))
			note("on_http set content_type \"%s\": the 500 "
			     "carries it: %s",
			     esc(bad_ctypes[i], e, sizeof(e)),
			     esc(head, h2, sizeof(h2)));
		close(fd);
	}
	fd = dial_s(s);
	put(fd, "GET /ct/ok HTTP/1.1\r\nHost: x\r\n\r\n", 33);
	st = read_head(fd, head, sizeof(head), REG_WAIT_MS);
	if (st != 200 || !strstr(head, "\r\nContent-Type: text/csv\r\n"))
		note("a valid content_type: status %d, head %s", st,
		     esc(head, h2, sizeof(h2)));
	close(fd);
	assert_int_equal(rc_server_stats(s, &after), 0);
	if (after.http_errors - before.http_errors != NBAD_CTYPES)
		note("http_errors went up by %llu, want %zu (one per 500)",
		     (unsigned long long)(after.http_errors -
					  before.http_errors), NBAD_CTYPES);
	rc_server_free(s);
	report();
}

/*
 * Defect: a max_message of 4 GiB or more was truncated into 32-bit fields.
 * The library clamps it below 4 GiB (RC_MAX_MESSAGE_LIMIT), so with
 * max_message 8 GiB a (4 GiB + 16)-byte message is refused with -EMSGSIZE
 * by rc_publish() (to a topic with a subscriber) and by rc_send() from a
 * handler, without reading it. The data is PROT_NONE: a read crashes.
 * The old code reads it (rc_publish) or fails the connection with -ENOMEM
 * (rc_send), so each case runs in a forked child and the parent reports
 * how the child ended.
 */
#define BIG_LEN ((4ull << 30) + 16)
#ifdef RC_MAX_MESSAGE_LIMIT
_Static_assert(RC_MAX_MESSAGE_LIMIT < BIG_LEN,
	       "the test message must be over the clamp");
#endif
#define BIG_CHILD_MS 10000

static const void *big_data;
static _Atomic int big_send_ret, big_sent;

static void big_open(struct rc_conn *c)
{
	rc_subscribe(c, "big", 3);
}

static void big_message(struct rc_conn *c, const void *data, size_t len,
			enum rc_opcode op)
{
	(void)op;
	if (len != 4 || memcmp(data, "send", 4))
		return;
	big_send_ret = rc_send(c, big_data, BIG_LEN, RC_OP_BINARY);
	big_sent = 1;
	rc_send(c, "done", 4, RC_OP_TEXT);
}

/* The child's side: 0 if the call refused the message, else 1 (and a
   line on stderr); 2 if the set-up failed. Asserts nothing. */
static int big_child(bool from_handler)
{
	static const struct rc_handlers h = {
		.on_open = big_open,
		.on_message = big_message,
	};
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;
	uint8_t op = 0, buf[64];
	char head[1024];
	int fd, ret = 0;
	long n;

	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 1;
	cfg.pin_threads = false;
	cfg.max_message = 8ull << 30;
	s = rc_server_new(&cfg, &h, NULL);
	if (!s || rc_server_start(s)) {
		fprintf(stderr, "child: cannot start a server\n");
		return 2;
	}
	fd = dial(rc_server_port(s));
	/* on_open subscribes before the 101 goes out. */
	if (fd < 0 || upgrade_to(fd, "/", "", head, sizeof(head),
				    REG_WAIT_MS) != 101) {
		fprintf(stderr, "child: no WebSocket\n");
		return 2;
	}
	if (!from_handler) {
		int r = rc_publish(s, "big", 3, big_data, BIG_LEN,
				   RC_OP_BINARY);

		if (r != -EMSGSIZE) {
			fprintf(stderr, "rc_publish() of %llu bytes to a "
				"subscribed topic (max_message 8 GiB) returned "
				"%d, want -EMSGSIZE (%d)\n", BIG_LEN, r,
				-EMSGSIZE);
			ret = 1;
		}
	} else {
		write_frame(fd, RC_OP_TEXT, "send", 4);
		n = read_frame(fd, &op, buf, sizeof(buf), REG_WAIT_MS);
		if (!big_sent) {
			fprintf(stderr, "on_message did not run\n");
			ret = 1;
		} else if (big_send_ret != -EMSGSIZE) {
			fprintf(stderr, "rc_send() of %llu bytes from "
				"on_message (max_message 8 GiB) returned %d, "
				"want -EMSGSIZE (%d)\n", BIG_LEN, big_send_ret,
				-EMSGSIZE);
			ret = 1;
		} else if (n != 4 || op != RC_OP_TEXT ||
			   memcmp(buf, "done", 4)) {
			fprintf(stderr, "after the refused rc_send(), the "
				"connection got opcode %u (%ld bytes), want "
				"TEXT \"done\"\n", op, n);
			ret = 1;
		}
	}
	close(fd);
	rc_server_free(s);
	return ret;
}

static void run_big(bool from_handler)
{
	const char *what = from_handler ? "rc_send() of 4 GiB + 16 from a "
					  "handler" :
					  "rc_publish() of 4 GiB + 16";
	size_t maplen = (size_t)((BIG_LEN + 4095) & ~4095ull);
	void *map = mmap(NULL, maplen, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t end;
	pid_t pid, w;
	int status = 0;

	if (map == MAP_FAILED) {
		printf("  cannot map %zu bytes (%s): skipped\n", maplen,
		       strerror(errno));
		skip();
	}
	big_data = map;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* cmocka's handlers would carry on with the next test in
		   the child: a crash must end it. */
		static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
					    SIGSYS };

		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		_exit(big_child(from_handler));
	}
	assert_true(pid > 0);
	end = now_ms() + BIG_CHILD_MS;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < end)
		usleep(10000);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	munmap(map, maplen);
	if (w == 0)
		fail_msg("%s: the child did not finish within %d ms", what,
			 BIG_CHILD_MS);
	if (WIFSIGNALED(status))
		fail_msg("%s with max_message 8 GiB: the process died of "
			 "signal %d (%s): the PROT_NONE data was read", what,
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	if (WEXITSTATUS(status))
		fail_msg("%s with max_message 8 GiB: exit %d (the reason is "
			 "on stderr above)", what, WEXITSTATUS(status));
}

static void test_max_message_4g_publish(void **state)
{
	(void)state;
	run_big(false);
}

static void test_max_message_4g_send(void **state)
{
	(void)state;
	run_big(true);
}

/*
 * Defect: a worker that published into its own inbox outside a handler
 * for input (an on_close after a close timeout) rang no bell, so its own
 * subscribers got the message only at the loop's next 1-second tick. With
 * one worker and close_timeout_ms 100, "left" must reach the room well
 * within a second of the "quit" that started the close.
 */
enum { TP_MEMBER = 1, TP_QUITTER = 2 };
static _Atomic int tp_opens;

static int tp_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	size_t n;
	const char *p = rc_request_path(req, &n);

	if (n == 5 && !memcmp(p, "/room", 5))
		rc_conn_set_data(c, (void *)(uintptr_t)TP_MEMBER);
	else
		rc_conn_set_data(c, (void *)(uintptr_t)TP_QUITTER);
	return 0;
}

static void tp_open(struct rc_conn *c)
{
	if ((uintptr_t)rc_conn_data(c) == TP_MEMBER)
		expect(rc_subscribe(c, "room", 4) == 0);
	tp_opens++;
}

static void tp_message(struct rc_conn *c, const void *data, size_t len,
		       enum rc_opcode op)
{
	(void)op;
	if (len == 4 && !memcmp(data, "quit", 4))
		expect(rc_close(c, RC_CLOSE_NORMAL, NULL) == 0);
}

static void tp_close(struct rc_conn *c, uint16_t code)
{
	(void)code;
	if ((uintptr_t)rc_conn_data(c) == TP_QUITTER)
		expect(rc_publish(rc_conn_server(c), "room", 4, "left", 4,
				  RC_OP_TEXT) == 0);
}

#define TP_CLOSE_TIMEOUT_MS 100
#define TP_MAX_MS 600

static void test_timer_publish_latency(void **state)
{
	static const struct rc_handlers h = {
		.on_upgrade = tp_upgrade,
		.on_open = tp_open,
		.on_message = tp_message,
		.on_close = tp_close,
	};
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;
	uint8_t op = 0, buf[128];
	uint64_t t0, dt;
	int a, b;
	long n;

	(void)state;
	/* Every other timer stays long: handshake 10 s, pings at 30 s. */
	cfg.threads = 1;
	cfg.close_timeout_ms = TP_CLOSE_TIMEOUT_MS;
	s = start_with(&cfg, &h);
	tp_opens = 0;
	a = dial_s(s);
	assert_int_equal(upgrade(a, "/room", ""), 101);
	b = dial_s(s);
	assert_int_equal(upgrade(b, "/quit", ""), 101);
	assert_true(wait_ge(&tp_opens, 2));
	/* B asks to quit, gets the close frame, never answers it, and
	   keeps its end of TCP open: the close timeout drops it. */
	t0 = now_ms();
	assert_int_equal(write_frame(b, RC_OP_TEXT, "quit", 4), 0);
	n = read_frame(a, &op, buf, sizeof(buf), REG_WAIT_MS);
	dt = now_ms() - t0;
	printf("  \"left\" reached the room %llu ms after \"quit\" (close "
	       "timeout %d ms)\n", (unsigned long long)dt,
	       TP_CLOSE_TIMEOUT_MS);
	if (n != 4 || op != RC_OP_TEXT || memcmp(buf, "left", 4))
		note("the room member got opcode %u, %ld bytes; want TEXT "
		     "\"left\" from on_close", op, n);
	else if (dt >= TP_MAX_MS)
		note("on_close (after the %d ms close timeout) published "
		     "\"left\", and the room got it %llu ms after \"quit\"; "
		     "want < %d ms", TP_CLOSE_TIMEOUT_MS,
		     (unsigned long long)dt, TP_MAX_MS);
	close(a);
	close(b);
	rc_server_free(s);
	assert_int_equal(handler_failures, 0);
	report();
}


/* ---- who may connect, and how much they may spend (issue 12) ---- */

/* The close frame from the server within @ms: its code (reason in
   @reason), or -1. Frames before it are skipped. */
static int read_close(int fd, char *reason, size_t cap, int ms)
{
	uint8_t p[256], op;
	long n;

	do {
		n = read_frame(fd, &op, p, sizeof(p), ms);
	} while (n >= 0 && op != RC_OP_CLOSE);
	if (n < 2)
		return -1;
	snprintf(reason, cap, "%.*s", (int)n - 2, (const char *)p + 2);
	return p[0] << 8 | p[1];
}

static struct rc_stats stats_of(struct rc_server *s)
{
	struct rc_stats st;

	rc_server_stats(s, &st);
	return st;
}

/* What sec_upgrade saw, for the test thread. */
static char sec_peer[64], sec_query[64], sec_param[64];
static _Atomic int sec_peer_port, sec_param_ret, sec_hdr_bad, sec_hdr_late,
	sec_subs[4];
static _Atomic uint64_t sec_later_id[4];
static _Atomic int sec_nlater;
/* on_upgrade calls so far: the strings above are read once it counts
   them (the atomic orders them for the test thread). */
static _Atomic int sec_seen;
/* Two workers may run on_upgrade at once: the strings are written and
   read under it. */
static pthread_mutex_t sec_lock = PTHREAD_MUTEX_INITIALIZER;

/* Is sec_peer @want now? */
static bool sec_peer_is(const char *want)
{
	bool eq;

	pthread_mutex_lock(&sec_lock);
	eq = !strcmp(sec_peer, want);
	pthread_mutex_unlock(&sec_lock);
	return eq;
}

static int sec_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	struct sockaddr_storage ss;
	size_t n, qn;
	const char *p = rc_request_path(req, &n);
	const char *q = rc_request_query(req, &qn);

	pthread_mutex_lock(&sec_lock);
	rc_conn_peer_str(c, sec_peer, sizeof(sec_peer));
	if (!rc_conn_peer(c, &ss) && ss.ss_family == AF_INET)
		sec_peer_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(sec_query, sizeof(sec_query), "%.*s", q ? (int)qn : 0,
		 q ? q : "");
	sec_param_ret = rc_query_param(q, qn, "token", sec_param,
				       sizeof(sec_param));
	pthread_mutex_unlock(&sec_lock);
	sec_seen++;
	if (n == 7 && !memcmp(p, "/refuse", 7)) {
		sec_hdr_bad = rc_upgrade_header(c, "bad name", "x");
		expect(!rc_upgrade_header(c, "WWW-Authenticate",
					  "Bearer realm=\"rc\""));
		return 401;
	}
	if (n == 4 && !memcmp(p, "/hdr", 4))
		expect(!rc_upgrade_header(c, "X-Hello", "1"));
	if (n == 6 && !memcmp(p, "/later", 6)) {
		int i = sec_nlater;

		expect(!rc_upgrade_header(c, "X-Later", "yes"));
		if (i < 4) {
			sec_later_id[i] = rc_conn_id(c);
			sec_nlater = i + 1;
		}
		return RC_UPGRADE_LATER;
	}
	return 0;
}

static void sec_open(struct rc_conn *c)
{
	opens++;
	sec_hdr_late = rc_upgrade_header(c, "X-Late", "1");
	if (rc_conn_data(c) == (void *)&sec_nlater)	/* a deferred accept */
		expect(rc_conn_id(c) != 0);
	for (int i = 0; i < 4; i++) {
		char t[2] = { (char)('a' + i), 0 };

		sec_subs[i] = rc_subscribe(c, t, 1);
	}
}

static void sec_message(struct rc_conn *c, const void *data, size_t len,
			enum rc_opcode op)
{
	messages++;
	if (len == 8 && !memcmp(data, "close-at", 8)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		expect(rc_conn_close_at(c, 0, 999, "x") == -EINVAL);
		expect(!rc_conn_close_at(c, (int64_t)ts.tv_sec * 1000 +
					 ts.tv_nsec / 1000000 + 300, 4001,
					 "token expired"));
		/* A later one does not delay it. */
		expect(!rc_conn_close_at(c, (int64_t)ts.tv_sec * 1000 +
					 ts.tv_nsec / 1000000 + 60000, 4002,
					 "later"));
		return;
	}
	rc_send(c, data, len, op);
}

static void sec_close(struct rc_conn *c, uint16_t code)
{
	(void)c;
	last_close_code = code;
	closes++;
}

static const struct rc_handlers sec_handlers = {
	.on_upgrade = sec_upgrade,
	.on_open = sec_open,
	.on_message = sec_message,
	.on_close = sec_close,
};

/* The peer's address and port, the query, headers on a refusal and on
   the 101, and rc_upgrade_header() outside on_upgrade. */
static void test_peer_query_headers(void **state)
{
	struct rc_config cfg = rc_config_default();
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	struct rc_server *s;
	char head[2048], e[512];
	int fd, st;

	(void)state;
	cfg.threads = 1;
	cfg.max_subscriptions = 2;
	s = start_with(&cfg, &sec_handlers);
	sec_seen = 0;
	fd = dial(rc_server_port(s));
	getsockname(fd, (struct sockaddr *)&me, &ml);
	st = upgrade_to(fd, "/q?x=1&token=a%20b+c", "", head, sizeof(head),
			2000);
	wait_ge(&sec_seen, 1);
	if (st != 101)
		note("upgrade: status %d, want 101", st);
	if (strcmp(sec_peer, "127.0.0.1"))
		note("rc_conn_peer_str: \"%s\", want 127.0.0.1", sec_peer);
	if (sec_peer_port != ntohs(me.sin_port))
		note("rc_conn_peer port %d, want %d (the client's)",
		     sec_peer_port, ntohs(me.sin_port));
	if (strcmp(sec_query, "x=1&token=a%20b+c"))
		note("rc_request_query: \"%s\"", sec_query);
	if (sec_param_ret != 5 || strcmp(sec_param, "a b c"))
		note("rc_query_param(token): %d \"%s\", want 5 \"a b c\"",
		     sec_param_ret, sec_param);
	wait_ge(&opens, 1);
	if (sec_hdr_late != -EPIPE)
		note("rc_upgrade_header in on_open: %d, want -EPIPE",
		     sec_hdr_late);
	/* max_subscriptions 2: the third and fourth are refused. */
	if (sec_subs[0] || sec_subs[1] || sec_subs[2] != -ENOSPC ||
	    sec_subs[3] != -ENOSPC)
		note("rc_subscribe x4 with max_subscriptions 2: %d %d %d %d, "
		     "want 0 0 -ENOSPC -ENOSPC", sec_subs[0], sec_subs[1],
		     sec_subs[2], sec_subs[3]);
	if (stats_of(s).subscriptions_refused != 2)
		note("subscriptions_refused %llu, want 2",
		     (unsigned long long)stats_of(s).subscriptions_refused);
	close(fd);

	fd = dial(rc_server_port(s));
	st = upgrade_to(fd, "/refuse", "", head, sizeof(head), 2000);
	wait_ge(&sec_seen, 2);
	if (st != 401 ||
	    !strstr(head, "\r\nWWW-Authenticate: Bearer realm=\"rc\"\r\n"))
		note("refusal: %d \"%s\", want 401 with WWW-Authenticate", st,
		     esc(head, e, sizeof(e)));
	if (sec_hdr_bad != -EINVAL)
		note("rc_upgrade_header(\"bad name\"): %d, want -EINVAL",
		     sec_hdr_bad);
	if (sec_param_ret != -ENOENT)
		note("rc_query_param without a query: %d, want -ENOENT",
		     sec_param_ret);
	close(fd);

	fd = dial(rc_server_port(s));
	st = upgrade_to(fd, "/hdr", "", head, sizeof(head), 2000);
	if (st != 101 || !strstr(head, "\r\nX-Hello: 1\r\n"))
		note("101 with a header: %d \"%s\"", st,
		     esc(head, e, sizeof(e)));
	close(fd);
	rc_server_free(s);
	assert_int_equal(handler_failures, 0);
	report();
}

/* The Origin policy: the server's own origin, the allowed ones, none. */
static void test_origin_policy(void **state)
{
	static const char *const allow[] = { "https://a.example", "null" };
	static const struct {
		const char *extra;
		int want;
		bool allowed_list;
	} cases[] = {
		{ "", 101, false },			/* not a browser */
		{ "Origin: http://x\r\n", 101, false },	/* its own */
		{ "Origin: HTTP://X:80\r\n", 101, false },
		{ "Origin: https://x\r\n", 403, false },	/* other scheme */
		{ "Origin: http://x:8080\r\n", 403, false },
		{ "Origin: http://evil.example\r\n", 403, false },
		{ "Origin: null\r\n", 403, false },
		{ "Origin: http://x.evil\r\n", 403, false },
		{ "Origin: https://a.example\r\n", 101, true },
		{ "Origin: https://a.example:443\r\n", 101, true },
		{ "Origin: null\r\n", 101, true },
		{ "Origin: https://b.example\r\n", 403, true },
	};
	int refused[2] = { 0, 0 };

	(void)state;
	for (int list = 0; list < 2; list++) {
		struct rc_config cfg = rc_config_default();
		struct rc_server *s;

		cfg.threads = 1;
		if (list) {
			cfg.allow_origins = allow;
			cfg.nallow_origins = 2;
		}
		s = start_with(&cfg, &sec_handlers);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char head[2048], e[256];
			int fd, st;

			if (cases[i].allowed_list != list && i != 0)
				continue;
			fd = dial(rc_server_port(s));
			st = upgrade_to(fd, "/o", cases[i].extra, head,
					sizeof(head), 2000);
			if (st != cases[i].want)
				note("%s: \"%s\": %d, want %d",
				     list ? "allow list" : "default",
				     esc(cases[i].extra, e, sizeof(e)), st,
				     cases[i].want);
			refused[list] += cases[i].want == 403;
			close(fd);
		}
		if (stats_of(s).origin_refused != (uint64_t)refused[list])
			note("origin_refused %llu, want %d",
			     (unsigned long long)stats_of(s).origin_refused,
			     refused[list]);
		rc_server_free(s);
	}
	report();
}

struct decider {
	struct rc_server *s;
	int status;		/* 0: accept */
	int ret;
};

static void *decider_main(void *arg)
{
	struct decider *d = arg;

	wait_ge(&sec_nlater, 1);
	d->ret = d->status ?
			 rc_upgrade_refuse(d->s, sec_later_id[0], d->status,
					   "WWW-Authenticate: Bearer\r\n") :
			 rc_upgrade_accept(d->s, sec_later_id[0], &sec_nlater);
	return NULL;
}

/* An upgrade decided later, from another thread: accepted (with the
   frame the client sent too early), refused with a header, or never
   decided (the handshake timeout ends it; a late decision is harmless). */
static void test_deferred_upgrade(void **state)
{
	(void)state;
	for (int mode = 0; mode < 3; mode++) {
		struct rc_config cfg = rc_config_default();
		struct decider d = { .status = mode == 1 ? 403 : 0 };
		struct rc_server *s;
		pthread_t th;
		char head[2048], e[512];
		uint8_t op, p[64];
		int fd, st;
		long n;

		cfg.threads = 2;
		cfg.handshake_timeout_ms = 500;
		s = start_with(&cfg, &sec_handlers);
		sec_nlater = 0;
		d.s = s;
		if (mode != 2)
			pthread_create(&th, NULL, decider_main, &d);
		fd = dial(rc_server_port(s));
		/* The frame right behind the request waits for the answer. */
		if (mode == 0) {
			char req[512];
			int rn = snprintf(req, sizeof(req),
				"GET /later HTTP/1.1\r\nHost: x\r\n"
				"Upgrade: websocket\r\nConnection: Upgrade\r\n"
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				"Sec-WebSocket-Version: 13\r\n\r\n");

			write_all(fd, req, (size_t)rn);
			write_frame(fd, RC_OP_TEXT, "early", 5);
			st = read_head(fd, head, sizeof(head), 3000);
		} else {
			st = upgrade_to(fd, "/later", "", head, sizeof(head),
					3000);
		}
		if (mode != 2)
			pthread_join(th, NULL);
		if (mode == 0) {
			if (st != 101 || !strstr(head, "\r\nX-Later: yes\r\n") ||
			    d.ret)
				note("deferred accept: %d (ret %d) \"%s\"", st,
				     d.ret, esc(head, e, sizeof(e)));
			n = read_frame(fd, &op, p, sizeof(p), 2000);
			if (n != 5 || memcmp(p, "early", 5))
				note("deferred accept: the early frame came "
				     "back as %ld bytes", n);
			if (!wait_ge(&opens, 1))
				note("deferred accept: no on_open");
		} else if (mode == 1) {
			if (st != 403 ||
			    !strstr(head, "\r\nWWW-Authenticate: Bearer\r\n") ||
			    strstr(head, "X-Later") == NULL || d.ret)
				note("deferred refusal: %d (ret %d) \"%s\"", st,
				     d.ret, esc(head, e, sizeof(e)));
		} else {
			if (st != -1)
				note("undecided: status %d, want the "
				     "connection ended by the timeout", st);
			st = rc_upgrade_accept(s, sec_later_id[0], NULL);
			usleep(100 * 1000);
			if (st || opens || closes)
				note("late decision: ret %d, %d opens, %d "
				     "closes; want 0, none", st, (int)opens,
				     (int)closes);
		}
		close(fd);
		if (rc_upgrade_refuse(s, sec_later_id[0], 200, NULL) !=
		    -EINVAL ||
		    rc_upgrade_refuse(s, sec_later_id[0], 401, "bad\r\n") !=
		    -EINVAL ||
		    rc_upgrade_accept(s, (uint64_t)63 << 58, NULL) != -ENOENT)
			note("bad decisions are not refused");
		rc_server_free(s);
	}
	assert_int_equal(handler_failures, 0);
	report();
}

/* rc_conn_close_at(): the close comes at its time, with its code. */
static void test_close_at(void **state)
{
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;
	char head[512], reason[128];
	uint64_t t0;
	int fd, code;

	(void)state;
	cfg.threads = 1;
	s = start_with(&cfg, &sec_handlers);
	fd = dial(rc_server_port(s));
	if (upgrade_to(fd, "/t", "", head, sizeof(head), 2000) != 101)
		note("upgrade failed");
	t0 = now_ms();
	write_frame(fd, RC_OP_TEXT, "close-at", 8);
	code = read_close(fd, reason, sizeof(reason), 3000);
	if (code != 4001 || strcmp(reason, "token expired"))
		note("close %d \"%s\", want 4001 \"token expired\"", code,
		     reason);
	if (now_ms() - t0 < 250 || now_ms() - t0 > 2000)
		note("closed after %llu ms, want about 300",
		     (unsigned long long)(now_ms() - t0));
	if (stats_of(s).deadline_closes != 1)
		note("deadline_closes %llu, want 1",
		     (unsigned long long)stats_of(s).deadline_closes);
	close(fd);
	rc_server_free(s);
	assert_int_equal(handler_failures, 0);
	report();
}

/* Per-connection message and byte rates: 1008 "rate limit". */
static void test_rate_limits(void **state)
{
	(void)state;
	for (int bytes = 0; bytes < 2; bytes++) {
		struct rc_config cfg = rc_config_default();
		struct rc_server *s;
		char head[512], reason[128], big[125];
		int fd, code, sent = 0;

		memset(big, 'b', sizeof(big));
		cfg.threads = 1;
		cfg.msg_rate = bytes ? RC_UNLIMITED : 20;
		cfg.byte_rate = bytes ? 1000 : RC_UNLIMITED_SIZE;
		s = start_with(&cfg, &sec_handlers);
		fd = dial(rc_server_port(s));
		if (upgrade_to(fd, "/r", "", head, sizeof(head), 2000) != 101)
			note("upgrade failed");
		/* A second's worth goes (20 messages, or 1000 bytes: 8 of
		   125), then the bucket is empty. */
		for (int i = 0; i < 40; i++)
			if (!write_frame(fd, RC_OP_TEXT, big,
					 bytes ? 125 : 1))
				sent++;
		code = read_close(fd, reason, sizeof(reason), 3000);
		if (code != 1008 || strcmp(reason, "rate limit"))
			note("%s: close %d \"%s\" after %d messages, want 1008 "
			     "\"rate limit\"", bytes ? "bytes" : "messages",
			     code, reason, sent);
		wait_ge(&closes, 1);
		if (stats_of(s).rate_limited != 1 ||
		    messages < (bytes ? 8 : 20) || messages > (bytes ? 10 : 22))
			note("%s: rate_limited %llu, %d messages handled; want "
			     "1 and a second's worth",
			     bytes ? "bytes" : "messages",
			     (unsigned long long)stats_of(s).rate_limited,
			     (int)messages);
		close(fd);
		rc_server_free(s);
	}
	report();
}

/* Per-address limits: open connections and new connections per second;
   through a trusted proxy, X-Forwarded-For names the address. */
static void test_per_ip_limits(void **state)
{
	static const char *const proxies[] = { "127.0.0.0/8" };

	(void)state;
	for (int mode = 0; mode < 3; mode++) {
		struct rc_config cfg = rc_config_default();
		struct rc_server *s;
		char head[2048], e[512];
		int fd[6], st[6];

		cfg.threads = 2;
		cfg.max_conns_per_ip = mode == 1 ? RC_UNLIMITED : 2;
		cfg.conn_rate_per_ip = mode == 1 ? 3 : RC_UNLIMITED;
		if (mode == 2) {
			cfg.trusted_proxies = proxies;
			cfg.ntrusted_proxies = 1;
		}
		s = start_with(&cfg, &sec_handlers);
		sec_seen = 0;
		for (int i = 0; i < 5; i++) {
			const char *xff = i == 1 ? "X-Forwarded-For: 10.0.0.9, 127.0.0.5\r\n" :
					  "X-Forwarded-For: 10.0.0.1\r\n";

			fd[i] = dial(rc_server_port(s));
			st[i] = upgrade_to(fd[i], "/p", mode == 2 ? xff : "",
					   head, sizeof(head), 2000);
			if (st[i] == 429 && !strstr(head, "Retry-After: 1\r\n"))
				note("429 without Retry-After: \"%s\"",
				     esc(head, e, sizeof(e)));
			if (mode == 2 && i == 1 && wait_ge(&sec_seen, 2) &&
			    !sec_peer_is("10.0.0.9"))
				note("through the proxy the peer is \"%s\", "
				     "want 10.0.0.9", sec_peer);
		}
		/* 0: 2 open at most; 1: 3 new a second; 2: per forwarded
		   address, 10.0.0.1 twice and 10.0.0.9 once. */
		{
			int want[3][5] = { { 101, 101, 429, 429, 429 },
					   { 101, 101, 101, 429, 429 },
					   { 101, 101, 101, 429, 429 } };

			for (int i = 0; i < 5; i++)
				if (st[i] != want[mode][i])
					note("mode %d: connection %d got %d, "
					     "want %d", mode, i, st[i],
					     want[mode][i]);
		}
		if (stats_of(s).ip_refused != 2)
			note("mode %d: ip_refused %llu, want 2", mode,
			     (unsigned long long)stats_of(s).ip_refused);
		if (mode == 0) {
			/* One leaves: there is room again. */
			close(fd[0]);
			usleep(200 * 1000);
			fd[5] = dial(rc_server_port(s));
			st[5] = upgrade_to(fd[5], "/p", "", head, sizeof(head),
					   2000);
			if (st[5] != 101)
				note("after a close: %d, want 101", st[5]);
			close(fd[5]);
		} else {
			close(fd[0]);
		}
		for (int i = 1; i < 5; i++)
			close(fd[i]);
		rc_server_free(s);
	}
	report();
}

/* The budget for partly received messages: the connection that would
   pass it gets 1013; the others are untouched. */
static void test_partial_budget(void **state)
{
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;
	char head[512], reason[128], chunk[125];
	uint8_t op = 0, p[2048];
	int a, b, code;
	long n;

	(void)state;
	memset(chunk, 'p', sizeof(chunk));
	cfg.threads = 1;
	cfg.max_partial_total = 1000;
	s = start_with(&cfg, &sec_handlers);
	a = dial(rc_server_port(s));
	b = dial(rc_server_port(s));
	if (upgrade_to(a, "/a", "", head, sizeof(head), 2000) != 101 ||
	    upgrade_to(b, "/b", "", head, sizeof(head), 2000) != 101)
		note("upgrade failed");
	/* a holds 750 bytes of an unfinished message. */
	for (int i = 0; i < 6; i++)
		write_frag(a, false, i ? RC_OP_CONT : RC_OP_TEXT, chunk, 125);
	usleep(100 * 1000);
	/* b's third fragment would take it to 1125. */
	for (int i = 0; i < 3; i++)
		write_frag(b, false, i ? RC_OP_CONT : RC_OP_TEXT, chunk, 125);
	code = read_close(b, reason, sizeof(reason), 2000);
	if (code != 1013 || strcmp(reason, "server busy"))
		note("b: close %d \"%s\", want 1013 \"server busy\"", code,
		     reason);
	/* a finishes its message and gets it back whole. */
	write_frame(a, RC_OP_CONT, chunk, 10);
	n = read_frame(a, &op, p, sizeof(p), 2000);
	if (n != 760 || op != RC_OP_TEXT)
		note("a: echo of %ld bytes (op %u), want 760 TEXT", n, op);
	if (stats_of(s).partial_refused != 1)
		note("partial_refused %llu, want 1",
		     (unsigned long long)stats_of(s).partial_refused);
	/* Everything held was given back: b's would-be 1125 fits now. */
	close(b);
	b = dial(rc_server_port(s));
	if (upgrade_to(b, "/b", "", head, sizeof(head), 2000) != 101)
		note("upgrade failed");
	for (int i = 0; i < 7; i++)
		write_frag(b, i == 6, i ? RC_OP_CONT : RC_OP_TEXT, chunk, 125);
	n = read_frame(b, &op, p, sizeof(p), 2000);
	if (n != 875)
		note("after a's message: b's 875 bytes came back as %ld", n);
	close(a);
	close(b);
	rc_server_free(s);
	report();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_default),
		cmocka_unit_test(test_echo_and_stop),
		cmocka_unit_test(test_refuse_and_http),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_binary_forwarded_as_text),
		cmocka_unit_test(test_stop_before_run),
		cmocka_unit_test(test_stop_races_run),
		cmocka_unit_test(test_close_iana_codes),
		cmocka_unit_test(test_subprotocol_must_be_token),
		cmocka_unit_test(test_content_type_ctl),
		cmocka_unit_test(test_timer_publish_latency),
		cmocka_unit_test(test_max_message_4g_publish),
		cmocka_unit_test(test_max_message_4g_send),
		cmocka_unit_test(test_peer_query_headers),
		cmocka_unit_test(test_origin_policy),
		cmocka_unit_test(test_deferred_upgrade),
		cmocka_unit_test(test_close_at),
		cmocka_unit_test(test_rate_limits),
		cmocka_unit_test(test_per_ip_limits),
		cmocka_unit_test(test_partial_budget),
	};
	char why[256];

	/* RC_TEST_FILTER=test_name (a pattern) runs only the matching tests. */
	if (getenv("RC_TEST_FILTER"))
		cmocka_set_test_filter(getenv("RC_TEST_FILTER"));
	if (rc_kernel_check(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
