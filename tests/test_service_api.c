/* SPDX-License-Identifier: MIT */
/*
 * test_service_api.c -- the API for running ringcast as a service (issue
 * 15): rc_server_drain() (listeners shut at once, 1001 with a reason, HTTP
 * answered with Connection: close, a time limit, a second call shortening
 * it), rc_server_stop() shutting the listeners, reuse_port between two
 * servers on one port, rc_config.listen (several addresses, IPv6,
 * dual-stack, names, bad entries), handed-over listening sockets
 * (listen_fds), the log callback, rc_server_alive(),
 * rc_server_set_origins() (also against upgrades on another thread) and
 * rc_build_info(). Raw sockets on loopback, servers on free ports.
 *
 * The checks of a test are collected (note()) and reported once it has
 * freed its servers and closed its sockets, so a failure leaves no workers
 * running behind it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ringcast.h"
#include "wsclient.h"



/* ---- failed checks, reported after the clean-up ---- */

static char failure[8192];
static unsigned nfailed;

__attribute__((format(printf, 2, 3)))
static void note_at(int line, const char *fmt, ...)
{
	size_t at = strlen(failure);
	va_list ap;

	nfailed++;
	if (at + 16 >= sizeof(failure))
		return;
	at += (size_t)snprintf(failure + at, sizeof(failure) - at,
			       "%sline %d: ", at ? "\n  " : "", line);
	va_start(ap, fmt);
	vsnprintf(failure + at, sizeof(failure) - at, fmt, ap);
	va_end(ap);
}

#define note(...) note_at(__LINE__, __VA_ARGS__)
#define CHECK(cond, ...) do { if (!(cond)) note(__VA_ARGS__); } while (0)

static void report(void)
{
	if (!nfailed)
		return;
	fprintf(stderr, "FAILED CHECKS:\n  %s\n", failure);
	fail_msg("%u check(s) failed, listed above; the first: %.*s",
		 nfailed, (int)strcspn(failure, "\n"), failure);
}

/* ---- what the handlers saw (written on workers) ---- */

#define MAX_CLOSES 64
static _Atomic int opens, closes, messages, handler_failures;
static _Atomic int close_codes[MAX_CLOSES];

static void reset(void)
{
	opens = closes = messages = handler_failures = 0;
	for (int i = 0; i < MAX_CLOSES; i++)
		close_codes[i] = 0;
	failure[0] = 0;
	nfailed = 0;
}

/* The server's user pointer, a name, goes into X-Server of every 101. */
static int h_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	const char *name = rc_server_user(rc_conn_server(c));

	(void)req;
	if (name && rc_upgrade_header(c, "X-Server", name))
		handler_failures++;
	return 0;
}

static void h_http(struct rc_conn *c, const struct rc_request *req,
		   struct rc_response *res)
{
	(void)c;
	(void)req;
	res->status = 200;
	res->body = "ok";
	res->body_len = 2;
}

static void h_open(struct rc_conn *c)
{
	(void)c;
	opens++;
}

/* Echo; "sleep" holds the worker 1.2 s, then answers "slept". */
static void h_message(struct rc_conn *c, const void *data, size_t len,
		      enum rc_opcode op)
{
	messages++;
	if (len == 3 && !memcmp(data, "who", 3)) {
		/* The worker's index: the id's top 6 bits. */
		char w[8];
		int n = snprintf(w, sizeof(w), "%u",
				 (unsigned)(rc_conn_id(c) >> 58));

		if (rc_send(c, w, (size_t)n, RC_OP_TEXT))
			handler_failures++;
		return;
	}
	if (len == 5 && !memcmp(data, "sleep", 5)) {
		usleep(1200 * 1000);
		if (rc_send(c, "slept", 5, RC_OP_TEXT))
			handler_failures++;
		return;
	}
	if (rc_send(c, data, len, op))
		handler_failures++;
}

static void h_close(struct rc_conn *c, uint16_t code)
{
	int i = closes++;

	(void)c;
	if (i < MAX_CLOSES)
		close_codes[i] = code;
}

static const struct rc_handlers handlers = {
	.on_upgrade = h_upgrade,
	.on_http = h_http,
	.on_open = h_open,
	.on_message = h_message,
	.on_close = h_close,
};

/* 127.0.0.1 on a free port, unpinned, small tables and receive pool. */
static struct rc_config base_cfg(unsigned threads)
{
	struct rc_config cfg = rc_config_default();

	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = threads;
	cfg.pin_threads = false;
	cfg.max_connections = 512;
	cfg.recv_buffers = 16;
	cfg.recv_buffer_size = 4096;
	cfg.conn_rate_per_ip = RC_UNLIMITED;
	return cfg;
}

/* Would 127.0.0.1:@port take a connection now? 0, or -errno. */
static int try_connect(uint16_t port)
{
	int fd = dial(port);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* ================================================================== */
/* 1. Drain                                                            */
/* ================================================================== */

/* The worker a WebSocket is on (asked with "who"), or -1. */
static int ws_worker(int fd)
{
	uint8_t op = 0, p[16];
	long n;

	if (write_frame(fd, 1, "who", 3))
		return -1;
	n = read_frame(fd, &op, p, sizeof(p) - 1, WAIT_MS);
	if (n < 1 || op != 1)
		return -1;
	p[n] = 0;
	return atoi((char *)p);
}

/* Close a client WebSocket properly (1000, answered): true if done. */
static bool ws_bye(int fd)
{
	uint8_t op = 0, p[128];

	if (write_close(fd, 1000))
		return false;
	for (;;) {
		long n = read_frame(fd, &op, p, sizeof(p), WAIT_MS);

		if (n < 0)
			return false;
		if (op == 8)
			return wait_eof(fd, WAIT_MS) == 0;
	}
}

#define DRAIN_TRIES 12

static void test_drain(void **state)
{
	struct rc_config cfg = base_cfg(2);
	struct rc_server *s;
	struct runner r;
	int ws[2] = { -1, -1 }, h = -1, late = -1, extra = 0;
	char head[2048];
	uint16_t port;
	uint64_t t_answer;
	int st, ret, extra_drained = 0;

	(void)state;
	reset();
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	port = rc_server_port(s);
	runner_start(&r, s);

	/* One WebSocket on each worker (the kernel spreads connections
	   over them by a hash: try a few), the others closed. */
	for (int i = 0; i < DRAIN_TRIES && (ws[0] < 0 || ws[1] < 0); i++) {
		int fd = ws_open(port), w = fd >= 0 ? ws_worker(fd) : -1;

		if (w == 0 || w == 1) {
			if (ws[w] < 0) {
				ws[w] = fd;
				continue;
			}
		} else {
			note("WebSocket %d: no worker index (%d)", i, w);
		}
		if (fd >= 0) {
			extra++;
			CHECK(ws_bye(fd), "WebSocket %d did not close", i);
			close(fd);
		}
	}
	if (ws[0] < 0 || ws[1] < 0) {
		printf("  NOTE: %d WebSockets all went to one worker\n",
		       DRAIN_TRIES);
		for (int i = 0; i < 2; i++)
			if (ws[i] < 0)
				ws[i] = ws_open(port);
	}
	CHECK(ws[0] >= 0 && ws[1] >= 0, "WebSockets did not open");
	/* A connection that upgrades only once the drain is on. */
	late = dial(port);
	st = http_get(late, "/c", "", head, sizeof(head), WAIT_MS);
	CHECK(st == 200, "GET before the late upgrade: %d", st);
	h = dial(port);
	st = http_get(h, "/a", "Connection: keep-alive\r\n", head,
		      sizeof(head), WAIT_MS);
	CHECK(st == 200, "first GET: %d, want 200", st);
	CHECK(strcasestr(head, "\r\nConnection: keep-alive\r\n"),
	      "first GET not answered keep-alive: %s", head);
	for (uint64_t end = now_ms() + WAIT_MS;
	     (opens < 2 + extra || closes < extra) && now_ms() < end;)
		usleep(1000);
	CHECK(opens == 2 + extra && closes == extra, "on_open %d times, "
	      "on_close %d, want %d and %d", opens, closes, 2 + extra,
	      extra);
	CHECK(!rc_server_draining(s), "draining before rc_server_drain()");
	if (nfailed)
		goto out;

	ret = rc_server_drain(s, 3000, "bye now");
	CHECK(ret == 0, "rc_server_drain: %d", ret);
	/* Right after it returns, the kernel refuses new connections. */
	ret = try_connect(port);
	CHECK(ret == -ECONNREFUSED, "connect right after the drain: %s, "
	      "want ECONNREFUSED", ret ? strerror(-ret) : "accepted");
	CHECK(rc_server_draining(s), "rc_server_draining() false");

	for (int i = 0; i < 2; i++) {
		uint8_t op = 0, p[128];
		long n = read_frame(ws[i], &op, p, sizeof(p), WAIT_MS);

		CHECK(n == 9 && op == 8 && (p[0] << 8 | p[1]) == 1001 &&
		      !memcmp(p + 2, "bye now", 7),
		      "WebSocket %d: frame op %u len %ld code %d, want close "
		      "1001 \"bye now\"", i, op, n,
		      n >= 2 ? p[0] << 8 | p[1] : -1);
	}
	/* The keep-alive client's next request: answered, then closed. */
	st = http_get(h, "/b", "", head, sizeof(head), WAIT_MS);
	CHECK(st == 200, "GET while draining: %d, want 200", st);
	CHECK(strcasestr(head, "\r\nConnection: close\r\n"),
	      "GET while draining not answered Connection: close: %s", head);
	ret = wait_eof(h, WAIT_MS);
	CHECK(ret == 0, "HTTP connection while draining: %s after the "
	      "answer, want EOF", ret > 0 ? "more data" : "still open");
	/* As a client does on EOF (until it does, the server waits for it:
	   a half-closed connection lingers up to the drain's limit). */
	close_fd(&h);
	/* WebSockets left: the drain goes on. */
	CHECK(runner_wait(&r, 0) != 0,
	      "rc_server_run() returned while WebSockets were open");
	/* Upgraded during the drain: 101, then the same 1001 at once. */
	st = upgrade_ex(late, "", head, sizeof(head), WAIT_MS);
	CHECK(st == 101, "upgrade during the drain: %d, want 101", st);
	if (st == 101) {
		uint8_t op = 0, p[128];
		long n = read_frame(late, &op, p, sizeof(p), WAIT_MS);

		CHECK(n == 9 && op == 8 && (p[0] << 8 | p[1]) == 1001 &&
		      !memcmp(p + 2, "bye now", 7),
		      "WebSocket upgraded during the drain: frame op %u len "
		      "%ld, want close 1001 \"bye now\"", op, n);
		write_close(late, 1001);
		ret = wait_eof(late, WAIT_MS);
		CHECK(ret == 0, "late WebSocket not closed after its close "
		      "answer");
		extra_drained = 1;
	}

	/* One answers, the other a moment later: the worker whose last
	   WebSocket went first must learn that the drain is over. */
	CHECK(write_close(ws[0], 1001) == 0, "close 0 not sent");
	ret = wait_eof(ws[0], WAIT_MS);
	CHECK(ret == 0, "WebSocket 0 not closed after its close answer");
	usleep(100 * 1000);
	CHECK(runner_wait(&r, 0) != 0,
	      "rc_server_run() returned while a WebSocket was open");
	t_answer = now_ms();
	CHECK(write_close(ws[1], 1001) == 0, "close 1 not sent");
	if (runner_wait(&r, 5000)) {
		note("rc_server_run() did not return within 5000 ms of the "
		     "WebSockets answering the close");
	} else {
		uint64_t dt = r.returned_ms - t_answer;

		printf("  drain: rc_server_run() returned %llu ms after the "
		       "last client answered\n", (unsigned long long)dt);
		CHECK(dt < 500, "rc_server_run() returned %llu ms after the "
		      "last WebSocket answered the close, want < 500 (the "
		      "drain limit was 3000)", (unsigned long long)dt);
		CHECK(r.ret == 0, "rc_server_run: %d", r.ret);
	}
	ret = wait_eof(ws[1], WAIT_MS);
	CHECK(ret == 0, "WebSocket 1 not closed after its close answer");
	CHECK(closes == 2 + extra + extra_drained, "on_close %d times, "
	      "want %d", closes, 2 + extra + extra_drained);
	for (int i = extra; i < closes && i < MAX_CLOSES; i++)
		CHECK(close_codes[i] == 1001, "on_close code %d, want 1001",
		      close_codes[i]);
	CHECK(handler_failures == 0, "%d handler failures", handler_failures);
out:
	runner_end(&r);
	close_fd(&ws[0]);
	close_fd(&ws[1]);
	close_fd(&h);
	close_fd(&late);
	rc_server_free(s);
	report();
}

/*
 * A request sent right after rc_server_drain() returned is answered with
 * Connection: close ("each answer with Connection: close"), also when it
 * reaches the worker in the same loop turn as the drain's wake-up. Rounds
 * of: one WebSocket (so the drain goes on), one keep-alive HTTP client,
 * drain, the GET at once.
 */
#ifndef RACE_ROUNDS
#define RACE_ROUNDS 12
#endif

static void test_drain_http_at_once(void **state)
{
	int keep_alive = 0;

	(void)state;
	reset();
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct rc_config cfg = base_cfg(1);
		struct rc_server *s = rc_server_new(&cfg, &handlers, NULL);
		struct runner r;
		char head[2048];
		int ws, h, st;

		assert_non_null(s);
		runner_start(&r, s);
		ws = ws_open(rc_server_port(s));
		h = dial(rc_server_port(s));
		st = http_get(h, "/a", "", head, sizeof(head), WAIT_MS);
		if (ws < 0 || st != 200) {
			note("round %d: set-up failed (ws %d, GET %d)", round,
			     ws, st);
		} else {
			CHECK(rc_server_drain(s, 3000, NULL) == 0,
			      "rc_server_drain failed");
			st = http_get(h, "/b", "", head, sizeof(head),
				      WAIT_MS);
			CHECK(st == 200, "round %d: GET after the drain: %d",
			      round, st);
			if (st == 200 &&
			    !strcasestr(head, "\r\nConnection: close\r\n"))
				keep_alive++;
			close_fd(&h);
			write_close(ws, 1001);
		}
		runner_wait(&r, WAIT_MS);
		runner_end(&r);
		close_fd(&ws);
		close_fd(&h);
		rc_server_free(s);
	}
	CHECK(keep_alive == 0, "%d of %d GETs sent right after "
	      "rc_server_drain() returned were answered keep-alive, want "
	      "Connection: close", keep_alive, RACE_ROUNDS);
	report();
}

/* ================================================================== */
/* 2. Drain time limit, and a second drain shortening it               */
/* ================================================================== */

static void test_drain_timeout(void **state)
{
	char long_reason[130];
	struct rc_config cfg = base_cfg(2);
	struct rc_server *s;
	struct runner r;
	uint8_t op = 0, p[128];
	uint64_t t0;
	long n;
	int ws = -1, ret;

	(void)state;
	reset();
	/* Refused drains change nothing. */
	memset(long_reason, 'r', 124);
	long_reason[124] = 0;
	assert_int_equal(rc_server_drain(NULL, 0, NULL), -EINVAL);

	/* (a) a WebSocket that never answers: the time limit ends it. */
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	runner_start(&r, s);
	ws = ws_open(rc_server_port(s));
	CHECK(ws >= 0, "WebSocket did not open");
	ret = rc_server_drain(s, 500, long_reason);
	CHECK(ret == -EINVAL, "a 124-byte reason: %d, want -EINVAL", ret);
	ret = rc_server_drain(s, 500, "\xc3\x28");
	CHECK(ret == -EINVAL, "a reason not UTF-8: %d, want -EINVAL", ret);
	CHECK(!rc_server_draining(s), "draining after refused drains");
	CHECK(try_connect(rc_server_port(s)) == 0,
	      "a refused drain closed the listeners");

	t0 = now_ms();
	CHECK(rc_server_drain(s, 500, NULL) == 0, "rc_server_drain failed");
	n = read_frame(ws, &op, p, sizeof(p), WAIT_MS);
	CHECK(n == 12 && op == 8 && (p[0] << 8 | p[1]) == 1001 &&
	      !memcmp(p + 2, "going away", 10),
	      "frame op %u len %ld, want close 1001 \"going away\"", op, n);
	if (runner_wait(&r, 5000)) {
		note("(a) rc_server_run() did not return within 5 s of a "
		     "500 ms drain");
	} else {
		uint64_t dt = r.returned_ms - t0;

		printf("  500 ms drain, silent client: returned after %llu "
		       "ms\n", (unsigned long long)dt);
		CHECK(dt >= 400 && dt <= 2500, "(a) rc_server_run() returned "
		      "%llu ms after a 500 ms drain, want 400..2500",
		      (unsigned long long)dt);
	}
	ret = wait_eof(ws, WAIT_MS);
	CHECK(ret == 0, "(a) the silent client was not disconnected");
	CHECK(closes == 1, "(a) on_close %d times, want 1", closes);
	runner_end(&r);
	close_fd(&ws);
	rc_server_free(s);

	/* (b) a 10 s drain, shortened to nothing by a second call. */
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	runner_start(&r, s);
	ws = ws_open(rc_server_port(s));
	CHECK(ws >= 0, "WebSocket did not open");
	CHECK(rc_server_drain(s, 10000, "first") == 0, "drain failed");
	n = read_frame(ws, &op, p, sizeof(p), WAIT_MS);
	CHECK(n == 7 && op == 8 && !memcmp(p + 2, "first", 5),
	      "(b) frame op %u len %ld, want close 1001 \"first\"", op, n);
	usleep(200 * 1000);
	CHECK(runner_wait(&r, 0) != 0, "(b) the 10 s drain ended by itself");
	t0 = now_ms();
	CHECK(rc_server_drain(s, 0, NULL) == 0, "second drain failed");
	if (runner_wait(&r, 5000)) {
		note("(b) rc_server_run() did not return within 5 s of "
		     "rc_server_drain(s, 0)");
	} else {
		uint64_t dt = r.returned_ms - t0;

		printf("  second drain (0 ms): returned after %llu ms\n",
		       (unsigned long long)dt);
		CHECK(dt < 1000, "(b) rc_server_run() returned %llu ms after "
		      "rc_server_drain(s, 0), want < 1000",
		      (unsigned long long)dt);
	}
	ret = wait_eof(ws, WAIT_MS);
	CHECK(ret == 0, "(b) the client was not disconnected");
	runner_end(&r);
	close_fd(&ws);
	rc_server_free(s);

	/* (c) drained before it ran: run returns at once, nothing listens. */
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	CHECK(rc_server_drain(s, 10000, NULL) == 0, "drain failed");
	ret = try_connect(rc_server_port(s));
	CHECK(ret == -ECONNREFUSED, "(c) connect after a drain before "
	      "start: %s", ret ? strerror(-ret) : "accepted");
	t0 = now_ms();
	runner_start(&r, s);
	if (runner_wait(&r, 5000)) {
		note("(c) rc_server_run() after a drain did not return within "
		     "5 s");
	} else {
		CHECK(r.returned_ms - t0 < 1000, "(c) rc_server_run() after a "
		      "drain took %llu ms, want < 1000",
		      (unsigned long long)(r.returned_ms - t0));
		CHECK(r.ret == 0, "(c) rc_server_run: %d", r.ret);
	}
	runner_end(&r);
	rc_server_free(s);
	report();
}

/* ================================================================== */
/* 3. rc_server_stop() shuts the listeners at once                     */
/* ================================================================== */

static void test_stop_unlistens(void **state)
{
	struct rc_config cfg = base_cfg(2);
	struct rc_server *s;
	struct runner r;
	uint8_t op = 0, p[128];
	long n;
	int ws, ret;

	(void)state;
	reset();
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	runner_start(&r, s);
	ws = ws_open(rc_server_port(s));
	CHECK(ws >= 0, "WebSocket did not open");
	rc_server_stop(s);
	ret = try_connect(rc_server_port(s));
	CHECK(ret == -ECONNREFUSED, "connect right after rc_server_stop(): "
	      "%s, want ECONNREFUSED", ret ? strerror(-ret) : "accepted");
	CHECK(rc_server_draining(s), "rc_server_draining() false after stop");
	n = read_frame(ws, &op, p, sizeof(p), WAIT_MS);
	CHECK(n >= 2 && op == 8 && (p[0] << 8 | p[1]) == 1001,
	      "frame op %u len %ld, want close 1001", op, n);
	write_close(ws, 1001);
	CHECK(runner_wait(&r, 5000) == 0, "rc_server_run() did not return");
	CHECK(r.ret == 0, "rc_server_run: %d", r.ret);
	runner_end(&r);
	close_fd(&ws);
	rc_server_free(s);
	report();
}

/* ================================================================== */
/* 4. reuse_port: a second server on the port, taking over on drain    */
/* ================================================================== */

#define HANDOVER_CONNS 20

static void test_reuse_port(void **state)
{
	struct rc_config cfg = base_cfg(2);
	struct rc_server *a, *b;
	struct runner ra, rb;
	int to_a = 0, to_b = 0;
	uint16_t port;

	(void)state;
	reset();
	a = rc_server_new(&cfg, &handlers, (void *)"A");
	assert_non_null(a);
	port = rc_server_port(a);
	runner_start(&ra, a);

	/* Without reuse_port the port is taken. */
	cfg.port = port;
	errno = 0;
	b = rc_server_new(&cfg, &handlers, (void *)"B");
	CHECK(!b && errno == EADDRINUSE, "a second server without "
	      "reuse_port: %s (errno %s), want NULL with EADDRINUSE",
	      b ? "created" : "NULL", strerror(errno));
	rc_server_free(b);
	cfg.reuse_port = true;
	b = rc_server_new(&cfg, &handlers, (void *)"B");
	CHECK(b != NULL, "a second server with reuse_port: %s",
	      strerror(errno));
	if (!b)
		goto out_a;
	CHECK(rc_server_port(b) == port, "B on port %u, want %u",
	      rc_server_port(b), port);
	runner_start(&rb, b);

	/* Both take connections (how many each: the kernel's hash). */
	for (int i = 0; i < HANDOVER_CONNS; i++) {
		char head[1024];
		int fd = dial(port);

		if (upgrade_ex(fd, "", head, sizeof(head), WAIT_MS) == 101) {
			to_a += strstr(head, "\r\nX-Server: A\r\n") != NULL;
			to_b += strstr(head, "\r\nX-Server: B\r\n") != NULL;
		}
		if (fd >= 0)
			close(fd);
	}
	printf("  before A's drain: %d to A, %d to B\n", to_a, to_b);
	CHECK(to_a + to_b == HANDOVER_CONNS, "before the drain %d of %d "
	      "upgrades answered by A or B", to_a + to_b, HANDOVER_CONNS);

	CHECK(rc_server_drain(a, 3000, NULL) == 0, "drain of A failed");
	to_a = to_b = 0;
	for (int i = 0; i < HANDOVER_CONNS; i++) {
		char head[1024];
		int fd = dial(port), st;

		if (fd < 0) {
			note("connection %d after A's drain: %s", i,
			     strerror(-fd));
			continue;
		}
		st = upgrade_ex(fd, "", head, sizeof(head), WAIT_MS);
		if (st == 101 && strstr(head, "\r\nX-Server: B\r\n"))
			to_b++;
		else if (strstr(head, "\r\nX-Server: A\r\n"))
			to_a++;
		else
			note("connection %d after A's drain: status %d", i,
			     st);
		close(fd);
	}
	CHECK(to_b == HANDOVER_CONNS, "after A's drain %d of %d upgrades "
	      "reached B (%d reached A)", to_b, HANDOVER_CONNS, to_a);
	CHECK(runner_wait(&ra, WAIT_MS) == 0,
	      "A's drain did not end (no WebSocket left on A)");
	rc_server_stop(b);
	CHECK(runner_wait(&rb, WAIT_MS) == 0, "B did not stop");
	runner_end(&rb);
	rc_server_free(b);
out_a:
	runner_end(&ra);
	rc_server_free(a);
	report();
}

/* ================================================================== */
/* 5. Listeners: several, IPv6, dual-stack, names, bad entries         */
/* ================================================================== */

static bool have_ipv6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok = fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a));

	if (fd >= 0)
		close(fd);
	return ok;
}

/* A port free on every address family now (dual-stack bind). */
static uint16_t free_port(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET6, SOCK_STREAM, 0), off = 0;
	uint16_t port = 0;

	if (fd < 0) {
		struct sockaddr_in b = { .sin_family = AF_INET };

		len = sizeof(b);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && !bind(fd, (struct sockaddr *)&b, len) &&
		    !getsockname(fd, (struct sockaddr *)&b, &len))
			port = ntohs(b.sin_port);
	} else {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
		if (!bind(fd, (struct sockaddr *)&a, len) &&
		    !getsockname(fd, (struct sockaddr *)&a, &len))
			port = ntohs(a.sin6_port);
	}
	if (fd >= 0)
		close(fd);
	return port;
}

/* GET / on @ip:@port answered 200: true. */
static bool http_ok(const char *ip, unsigned port)
{
	char head[1024];
	int fd = dial_ip(ip, (uint16_t)port);
	int st = http_get(fd, "/", "", head, sizeof(head), WAIT_MS);

	if (fd >= 0)
		close(fd);
	return st == 200;
}

static struct rc_server *new_listen(const char *const *list, size_t n,
				    unsigned threads)
{
	struct rc_config cfg = base_cfg(threads);

	cfg.listen = list;
	cfg.nlisten = n;
	cfg.host = "host.invalid";	/* not used when listen is set */
	return rc_server_new(&cfg, &handlers, NULL);
}

static void test_listeners(void **state)
{
	static const char *const bad[] = {
		"[::1", "host.invalid:1", "1.2.3.4:70000", "127.0.0.1:",
		"127.0.0.1:x", "127.0.0.1:-1", "[::1]x", "[]:80", "",
	};
	bool v6 = have_ipv6();
	struct rc_server *s;
	char buf[128], want[64];
	unsigned p0, p1;

	(void)state;
	reset();
	if (!v6)
		printf("  NOTE: binding ::1 fails here: IPv6 parts skipped\n");

	/* Two addresses, each on its own free port. */
	{
		const char *const list[] = { "127.0.0.1:0", "[::1]:0" };

		s = new_listen(list, v6 ? 2 : 1, 2);
		assert_non_null(s);
		assert_int_equal(rc_server_start(s), 0);
		p0 = port_of(rc_server_listener(s, 0, buf, sizeof(buf)));
		snprintf(want, sizeof(want), "127.0.0.1:%u", p0);
		CHECK(p0 && !strcmp(buf, want), "listener 0: %s", buf);
		CHECK(p0 == rc_server_port(s), "rc_server_port %u, listener "
		      "0 on %u", rc_server_port(s), p0);
		CHECK(http_ok("127.0.0.1", p0), "127.0.0.1:%u: no answer", p0);
		if (v6) {
			p1 = port_of(rc_server_listener(s, 1, buf,
							sizeof(buf)));
			snprintf(want, sizeof(want), "[::1]:%u", p1);
			CHECK(p1 && !strcmp(buf, want), "listener 1: %s", buf);
			CHECK(http_ok("::1", p1), "[::1]:%u: no answer", p1);
		}
		CHECK(!rc_server_listener(s, v6 ? 2 : 1, buf, sizeof(buf)),
		      "a listener past the last: %s", buf);
		CHECK(!rc_server_listener(s, 0, buf, 0), "cap 0 not NULL");
		CHECK(!rc_server_listener(NULL, 0, buf, sizeof(buf)),
		      "NULL server not NULL");
		rc_server_free(s);
	}

	/* "::" is dual-stack: IPv4 and IPv6 on one listener. */
	if (v6) {
		const char *const list[] = { "[::]:0" };

		s = new_listen(list, 1, 2);
		assert_non_null(s);
		assert_int_equal(rc_server_start(s), 0);
		p0 = port_of(rc_server_listener(s, 0, buf, sizeof(buf)));
		snprintf(want, sizeof(want), "[::]:%u", p0);
		CHECK(p0 && !strcmp(buf, want), "dual-stack listener: %s",
		      buf);
		CHECK(!rc_server_listener(s, 1, buf, sizeof(buf)),
		      "dual-stack: a second listener %s", buf);
		CHECK(http_ok("127.0.0.1", p0), "[::]:%u: no answer on "
		      "127.0.0.1", p0);
		CHECK(http_ok("::1", p0), "[::]:%u: no answer on ::1", p0);
		rc_server_free(s);
	}

	/* A host name, and an address without a port (cfg.port). */
	{
		char e[32];
		const char *list[2] = { e, "127.0.0.2" };
		uint16_t fp = free_port();
		bool any = false;

		snprintf(e, sizeof(e), "localhost:%u", fp);
		s = new_listen(list, 2, 1);
		CHECK(s != NULL, "listen \"%s\": %s", e, strerror(errno));
		for (unsigned i = 0; s && rc_server_listener(s, i, buf,
							     sizeof(buf));
		     i++) {
			printf("  localhost, 127.0.0.2: listener %u %s\n", i,
			       buf);
			if (!strncmp(buf, "127.0.0.2:", 10)) {
				CHECK(port_of(buf) != 0, "%s", buf);
				continue;
			}
			CHECK(port_of(buf) == fp, "listener %s, want port "
			      "%u", buf, fp);
			any = true;
		}
		CHECK(!s || any, "no listener for localhost");
		if (s) {
			assert_int_equal(rc_server_start(s), 0);
			CHECK(http_ok("127.0.0.1", fp) ||
			      (v6 && http_ok("::1", fp)),
			      "localhost:%u: no answer", fp);
		}
		rc_server_free(s);
	}

	/* At most RC_LISTEN_MAX: 8 addresses work, 9 entries do not. */
	{
		char names[RC_LISTEN_MAX + 1][24];
		const char *list[RC_LISTEN_MAX + 1];

		for (int i = 0; i <= RC_LISTEN_MAX; i++) {
			snprintf(names[i], sizeof(names[i]), "127.0.0.%d:0",
				 i + 1);
			list[i] = names[i];
		}
		s = new_listen(list, RC_LISTEN_MAX, 1);
		CHECK(s != NULL, "%d addresses: %s", RC_LISTEN_MAX,
		      strerror(errno));
		CHECK(!s || (rc_server_listener(s, RC_LISTEN_MAX - 1, buf,
						sizeof(buf)) &&
			     !rc_server_listener(s, RC_LISTEN_MAX, buf,
						 sizeof(buf))),
		      "%d addresses: not %d listeners", RC_LISTEN_MAX,
		      RC_LISTEN_MAX);
		rc_server_free(s);
		errno = 0;
		s = new_listen(list, RC_LISTEN_MAX + 1, 1);
		CHECK(!s && errno == EINVAL, "%d entries: %s (%s), want NULL "
		      "with EINVAL", RC_LISTEN_MAX + 1, s ? "created" : "NULL",
		      strerror(errno));
		rc_server_free(s);
		/* nlisten without a list */
		errno = 0;
		s = new_listen(NULL, 1, 1);
		CHECK(!s && errno == EINVAL, "listen NULL with nlisten 1: "
		      "%s (%s)", s ? "created" : "NULL", strerror(errno));
		rc_server_free(s);
	}

	/* Bad entries, each alone and after a good one. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *list[2] = { "127.0.0.1:0", bad[i] };

		for (int k = 0; k < 2; k++) {
			uint64_t t0 = now_ms();

			errno = 0;
			s = new_listen(list + 1 - k, (size_t)k + 1, 1);
			CHECK(!s && errno == EINVAL, "listen \"%s\"%s: %s "
			      "(errno %s), want NULL with EINVAL", bad[i],
			      k ? " after a good one" : "",
			      s ? "created" : "NULL", strerror(errno));
			CHECK(now_ms() - t0 < 3000, "listen \"%s\": %llu ms",
			      bad[i], (unsigned long long)(now_ms() - t0));
			rc_server_free(s);
		}
	}
	report();
}

/* ================================================================== */
/* 6. listen_fds: handed-over listening sockets                        */
/* ================================================================== */

/* A listening socket on 127.0.0.1, moved to descriptor @at (a number
   nothing else will take meanwhile). */
static int listening_at(int at, uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(dup2(fd, at), at);
	close(fd);
	if (port)
		*port = ntohs(a.sin_port);
	return at;
}

static bool fd_closed(int fd)
{
	errno = 0;
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* A self-signed certificate for the tls_port check, or false. */
static char cert_dir[64], cert_pem[96], cert_key[96];

static bool make_cert(void)
{
	char cmd[512];

	strcpy(cert_dir, "/tmp/ringcast-test-svc-XXXXXX");
	if (system("openssl version >/dev/null 2>&1") || !mkdtemp(cert_dir))
		return false;
	snprintf(cert_pem, sizeof(cert_pem), "%s/c.pem", cert_dir);
	snprintf(cert_key, sizeof(cert_key), "%s/c.key", cert_dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:P-256 -nodes -keyout %s -out %s -days 2 "
		 "-subj /CN=localhost >/dev/null 2>&1", cert_key, cert_pem);
	return system(cmd) == 0;
}

static void rm_cert(void)
{
	unlink(cert_pem);
	unlink(cert_key);
	rmdir(cert_dir);
}

#define FD_MINE 900	/* the handed-over socket */
#define FD_MINE2 901	/* ... for the failures */

static void test_listen_fds(void **state)
{
	struct rc_config cfg = base_cfg(2);
	struct rc_server *s;
	struct runner r;
	char head[1024], buf[128], want[64];
	uint16_t port;
	int fd, keep, c = -1, ws = -1, st, ret;
	bool closed_at_new;

	(void)state;
	reset();
	fd = listening_at(FD_MINE, &port);
	/* The supervisor's copy: what stays listening for the next one. */
	keep = dup(fd);
	assert_true(keep >= 0);
	cfg.listen_fds = &fd;
	cfg.nlisten_fds = 1;
	cfg.host = "host.invalid";	/* not used */
	cfg.port = 1;
	s = rc_server_new(&cfg, &handlers, NULL);
	if (!s) {
		close(keep);
		fail_msg("rc_server_new with listen_fds: %s", strerror(errno));
	}
	closed_at_new = fd_closed(fd);
	printf("  the handed-over fd is %s after rc_server_new()\n",
	       closed_at_new ? "closed already" : "still open");
	CHECK(rc_server_port(s) == port, "rc_server_port %u, want %u",
	      rc_server_port(s), port);
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	CHECK(rc_server_listener(s, 0, buf, sizeof(buf)) &&
	      !strcmp(buf, want), "listener 0: %s, want %s", buf, want);
	CHECK(!rc_server_listener(s, 1, buf, sizeof(buf)),
	      "a second listener: %s", buf);
	runner_start(&r, s);

	/* It serves on the socket: HTTP, and a WebSocket echo. */
	c = dial(port);
	st = http_get(c, "/", "", head, sizeof(head), WAIT_MS);
	CHECK(st == 200, "GET on the handed-over socket: %d", st);
	close_fd(&c);
	ws = ws_open(port);
	CHECK(ws >= 0, "no WebSocket on the handed-over socket");
	if (ws >= 0) {
		uint8_t op = 0, p[16];
		long n;

		write_frame(ws, 1, "echo", 4);
		n = read_frame(ws, &op, p, sizeof(p), WAIT_MS);
		CHECK(n == 4 && op == 1 && !memcmp(p, "echo", 4),
		      "no echo: op %u len %ld", op, n);
	}

	/* Drain: the WebSocket leaves; the socket stays listening. */
	CHECK(rc_server_drain(s, 2000, NULL) == 0, "drain failed");
	if (ws >= 0) {
		uint8_t op = 0, p[64];
		long n = read_frame(ws, &op, p, sizeof(p), WAIT_MS);

		CHECK(n >= 2 && op == 8, "no close frame: op %u len %ld", op,
		      n);
		write_close(ws, 1001);
	}
	CHECK(runner_wait(&r, 5000) == 0, "the drain did not end");
	runner_end(&r);
	c = dial(port);
	CHECK(c >= 0, "connect after the drain: %s, want it to wait in the "
	      "handed-over socket's backlog", strerror(-c));
	if (c >= 0) {
		write_all(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
		/* Nobody accepts it in this server any more. */
		ret = read_head(c, head, sizeof(head), 300);
		CHECK(ret < 0, "a connection after the drain was answered "
		      "%d", ret);
	}
	rc_server_free(s);
	CHECK(fd_closed(FD_MINE), "the handed-over fd %d still open after "
	      "rc_server_free()", FD_MINE);
	/* The next process (here: the supervisor's copy) finds the waiting
	   connection, request and all. */
	if (c >= 0) {
		struct pollfd pfd = { .fd = keep, .events = POLLIN };
		int a;

		CHECK(poll(&pfd, 1, 1000) == 1, "nothing waiting in the "
		      "handed-over socket");
		a = accept4(keep, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		CHECK(a >= 0, "accept on the supervisor's copy: %s",
		      strerror(errno));
		if (a >= 0) {
			char req[32] = { 0 };

			usleep(10000);
			CHECK(read(a, req, 3) == 3 && !memcmp(req, "GET", 3),
			      "the waiting connection lost its request");
			close(a);
		}
	}
	close_fd(&c);
	close_fd(&ws);
	close(keep);

	/* A failing rc_server_new() closes them too. */
	fd = listening_at(FD_MINE2, NULL);
	cfg = base_cfg(1);
	cfg.listen_fds = &fd;
	cfg.nlisten_fds = 1;
	cfg.deflate_level = 99;
	errno = 0;
	s = rc_server_new(&cfg, &handlers, NULL);
	CHECK(!s && errno == EINVAL, "bad deflate_level: %s", s ? "created" :
	      strerror(errno));
	rc_server_free(s);
	CHECK(fd_closed(FD_MINE2), "a failing rc_server_new() left the "
	      "handed-over fd open");
	if (!fd_closed(FD_MINE2))
		close(FD_MINE2);

	/* More than RC_LISTEN_MAX of them: EINVAL, all closed. */
	{
		int fds[RC_LISTEN_MAX + 1];
		bool all = true;

		for (int i = 0; i <= RC_LISTEN_MAX; i++)
			fds[i] = listening_at(FD_MINE + 10 + i, NULL);
		cfg = base_cfg(1);
		cfg.listen_fds = fds;
		cfg.nlisten_fds = RC_LISTEN_MAX + 1;
		errno = 0;
		s = rc_server_new(&cfg, &handlers, NULL);
		CHECK(!s && errno == EINVAL, "%d listen_fds: %s",
		      RC_LISTEN_MAX + 1, s ? "created" : strerror(errno));
		rc_server_free(s);
		for (int i = 0; i <= RC_LISTEN_MAX; i++) {
			if (!fd_closed(fds[i])) {
				all = false;
				close(fds[i]);
			}
		}
		CHECK(all, "a refused listen_fds list was not closed");
	}

	/* tls_port with listen_fds: EINVAL (and the fd closed). */
	if (make_cert()) {
		struct rc_tls_cert cert = { cert_pem, cert_key };

		fd = listening_at(FD_MINE2, NULL);
		cfg = base_cfg(1);
		cfg.listen_fds = &fd;
		cfg.nlisten_fds = 1;
		cfg.tls_certs = &cert;
		cfg.ntls_certs = 1;
		cfg.tls_port = -1;
		errno = 0;
		s = rc_server_new(&cfg, &handlers, NULL);
		CHECK(!s && errno == EINVAL, "tls_port with listen_fds: %s",
		      s ? "created" : strerror(errno));
		rc_server_free(s);
		CHECK(fd_closed(FD_MINE2), "tls_port with listen_fds: the fd "
		      "was left open");
		if (!fd_closed(FD_MINE2))
			close(FD_MINE2);
		/* The same certificate without listen_fds works. */
		cfg.listen_fds = NULL;
		cfg.nlisten_fds = 0;
		s = rc_server_new(&cfg, &handlers, NULL);
		CHECK(s && rc_server_tls_port(s), "tls_port -1 without "
		      "listen_fds: %s", s ? "no TLS port" : strerror(errno));
		rc_server_free(s);
		rm_cert();
	} else {
		printf("  NOTE: no openssl command: tls_port with listen_fds "
		       "not checked\n");
	}
	report();
}

/* ================================================================== */
/* 7. The log callback                                                 */
/* ================================================================== */

#define LOG_LINES 64
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	enum rc_log_level level;
	char msg[512];
} log_lines[LOG_LINES];
static int nlog;
static int log_bad_user;

static void log_cb(void *user, enum rc_log_level level, const char *msg)
{
	pthread_mutex_lock(&log_lock);
	if (user != &log_lines)
		log_bad_user++;
	if (nlog < LOG_LINES) {
		log_lines[nlog].level = level;
		snprintf(log_lines[nlog].msg, sizeof(log_lines[0].msg), "%s",
			 msg);
		nlog++;
	}
	pthread_mutex_unlock(&log_lock);
}

/* Index of a line at @level holding @a and @b (may be NULL), or -1. */
static int log_find(enum rc_log_level level, const char *a, const char *b)
{
	int at = -1;

	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < nlog && at < 0; i++)
		if (log_lines[i].level == level &&
		    strstr(log_lines[i].msg, a) &&
		    (!b || strstr(log_lines[i].msg, b)))
			at = i;
	pthread_mutex_unlock(&log_lock);
	return at;
}

static void log_dump(void)
{
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < nlog; i++)
		fprintf(stderr, "  log[%d] level %d: %s\n", i,
			log_lines[i].level, log_lines[i].msg);
	pthread_mutex_unlock(&log_lock);
}

static void test_log(void **state)
{
	struct rc_config cfg = base_cfg(2);
	struct rc_server *s;
	struct runner r;
	char port[16];
	int newlines = 0;

	(void)state;
	reset();
	pthread_mutex_lock(&log_lock);
	nlog = 0;
	log_bad_user = 0;
	pthread_mutex_unlock(&log_lock);
	cfg.log = log_cb;
	cfg.log_user = &log_lines;
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	assert_int_equal(rc_server_start(s), 0);
	snprintf(port, sizeof(port), ":%u", rc_server_port(s));
	CHECK(log_find(RC_LOG_INFO, "listening on", port) >= 0,
	      "no INFO line with \"listening on\" and \"%s\"", port);
	runner_start(&r, s);
	CHECK(rc_server_drain(s, 1000, NULL) == 0, "drain failed");
	CHECK(log_find(RC_LOG_INFO, "draining", NULL) >= 0,
	      "no INFO line with \"draining\" after rc_server_drain()");
	CHECK(runner_wait(&r, 5000) == 0, "the drain did not end");
	runner_end(&r);
	rc_server_free(s);
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < nlog; i++)
		newlines += strchr(log_lines[i].msg, '\n') != NULL ||
			    !log_lines[i].msg[0];
	CHECK(log_bad_user == 0, "log_user not passed (%d lines)",
	      log_bad_user);
	pthread_mutex_unlock(&log_lock);
	CHECK(newlines == 0, "%d log lines empty or with a newline",
	      newlines);

	/* No callback: nothing is logged, nothing breaks. */
	cfg = base_cfg(1);
	cfg.log = NULL;
	cfg.log_user = &log_lines;
	pthread_mutex_lock(&log_lock);
	nlog = 0;
	pthread_mutex_unlock(&log_lock);
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	runner_start(&r, s);
	CHECK(rc_server_drain(s, 500, NULL) == 0, "drain failed");
	CHECK(runner_wait(&r, 5000) == 0, "the drain did not end");
	runner_end(&r);
	rc_server_free(s);
	pthread_mutex_lock(&log_lock);
	CHECK(nlog == 0, "%d lines went to a callback not set", nlog);
	pthread_mutex_unlock(&log_lock);
	if (nfailed)
		log_dump();
	report();
}

/* ================================================================== */
/* 8. rc_server_alive()                                                */
/* ================================================================== */

static void test_alive(void **state)
{
	struct rc_config cfg = base_cfg(2);
	struct rc_server *s;
	struct runner r;
	uint8_t op = 0, p[16];
	int ws, ret;
	long n;

	(void)state;
	reset();
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	CHECK(rc_server_alive(NULL, 1000) == -EINVAL, "NULL server");
	ret = rc_server_alive(s, 1500);
	CHECK(ret == -ESHUTDOWN, "before start: %d, want -ESHUTDOWN", ret);
	runner_start(&r, s);
	usleep(50 * 1000);
	/* Idle workers turn at least once a second. */
	for (int i = 0; i < 13; i++) {
		ret = rc_server_alive(s, 1500);
		if (ret)
			note("idle, check %d: %d, want 0", i, ret);
		usleep(100 * 1000);
	}
	/* One stuck in a handler for 1.2 s. */
	ws = ws_open(rc_server_port(s));
	CHECK(ws >= 0, "WebSocket did not open");
	if (ws >= 0) {
		write_frame(ws, 1, "sleep", 5);
		usleep(700 * 1000);
		ret = rc_server_alive(s, 500);
		CHECK(ret == -ETIMEDOUT, "a worker 700 ms into a 1.2 s "
		      "handler: %d, want -ETIMEDOUT", ret);
		n = read_frame(ws, &op, p, sizeof(p), WAIT_MS);
		CHECK(n == 5 && !memcmp(p, "slept", 5), "no answer from the "
		      "sleeping handler (%ld)", n);
		usleep(100 * 1000);
		ret = rc_server_alive(s, 1500);
		CHECK(ret == 0, "after the handler returned: %d", ret);
	}
	rc_server_stop(s);
	ret = rc_server_alive(s, 1500);
	CHECK(ret == -ESHUTDOWN, "right after rc_server_stop(): %d, want "
	      "-ESHUTDOWN", ret);
	if (ws >= 0)
		write_close(ws, 1001);
	CHECK(runner_wait(&r, 5000) == 0, "rc_server_run() did not return");
	runner_end(&r);
	ret = rc_server_alive(s, 1500);
	CHECK(ret == -ESHUTDOWN, "after run returned: %d, want -ESHUTDOWN",
	      ret);
	close_fd(&ws);
	rc_server_free(s);

	/* A drained server is shut down too, once run returns. */
	cfg = base_cfg(1);
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	runner_start(&r, s);
	CHECK(rc_server_drain(s, 500, NULL) == 0, "drain failed");
	CHECK(runner_wait(&r, 5000) == 0, "the drain did not end");
	runner_end(&r);
	ret = rc_server_alive(s, 1500);
	CHECK(ret == -ESHUTDOWN, "after a drain ended: %d, want -ESHUTDOWN",
	      ret);
	rc_server_free(s);
	report();
}

/* ================================================================== */
/* 9. rc_server_set_origins()                                          */
/* ================================================================== */

static int origin_status(uint16_t port, const char *origin)
{
	char extra[256], head[1024];
	int fd = dial(port), st;

	snprintf(extra, sizeof(extra), "Origin: %s\r\n", origin);
	st = upgrade_ex(fd, extra, head, sizeof(head), WAIT_MS);
	if (fd >= 0)
		close(fd);
	return st;
}

struct flipper {
	struct rc_server *s;
	_Atomic int stop;
	int calls, errors;
};

/* Swap between lists that all admit https://a.example, none c. */
static void *flipper_main(void *arg)
{
	static const char *const l1[] = { "https://a.example" };
	static const char *const l2[] = { "https://b.example",
					  "https://a.example", "null" };
	static const char *const l3[] = { "https://a.example", "bad\r\n" };
	struct flipper *f = arg;

	while (!f->stop) {
		int k = f->calls % 3;

		if (k == 2) {
			/* A refused list in between: the old one stays. */
			if (rc_server_set_origins(f->s, l3, 2) != -EINVAL)
				f->errors++;
		} else if (rc_server_set_origins(f->s, k ? l2 : l1,
						 k ? 3 : 1)) {
			f->errors++;
		}
		f->calls++;
		usleep(200);
	}
	return NULL;
}

#ifndef ORIGIN_ROUNDS
#define ORIGIN_ROUNDS 300
#endif

static void test_set_origins(void **state)
{
	static const char *const a_only[] = { "https://a.example" };
	static const char *const b_only[] = { "https://b.example" };
	static const char *const bad1[] = { "https://c.example",
					    "x\r\nInjected: 1" };
	static const char *const bad2[] = { "" };
	static const char *const bad3[] = { "https://c.example", NULL };
	const char *A = "https://a.example", *B = "https://b.example";
	struct rc_config cfg = base_cfg(2);
	struct rc_server *s;
	struct flipper f = { 0 };
	pthread_t th;
	uint16_t port;
	int st, wrong = 0, ret;

	(void)state;
	reset();
	cfg.allow_origins = a_only;
	cfg.nallow_origins = 1;
	s = rc_server_new(&cfg, &handlers, NULL);
	assert_non_null(s);
	assert_int_equal(rc_server_start(s), 0);
	port = rc_server_port(s);

	st = origin_status(port, B);
	CHECK(st == 403, "allow {a}: b got %d, want 403", st);
	st = origin_status(port, A);
	CHECK(st == 101, "allow {a}: a got %d, want 101", st);

	CHECK(rc_server_set_origins(s, b_only, 1) == 0, "set {b} failed");
	st = origin_status(port, B);
	CHECK(st == 101, "allow {b}: b got %d, want 101", st);
	st = origin_status(port, A);
	CHECK(st == 403, "allow {b}: a got %d, want 403", st);

	/* Refused lists: the one in force stays. */
	ret = rc_server_set_origins(s, bad1, 2);
	CHECK(ret == -EINVAL, "a list with CR LF: %d, want -EINVAL", ret);
	ret = rc_server_set_origins(s, bad2, 1);
	CHECK(ret == -EINVAL, "a list with \"\": %d, want -EINVAL", ret);
	ret = rc_server_set_origins(s, bad3, 2);
	CHECK(ret == -EINVAL, "a list with NULL: %d, want -EINVAL", ret);
	ret = rc_server_set_origins(s, NULL, 1);
	CHECK(ret == -EINVAL, "NULL list, n 1: %d, want -EINVAL", ret);
	ret = rc_server_set_origins(NULL, b_only, 1);
	CHECK(ret == -EINVAL, "NULL server: %d, want -EINVAL", ret);
	st = origin_status(port, B);
	CHECK(st == 101, "after refused lists: b got %d, want 101", st);
	st = origin_status(port, "https://c.example");
	CHECK(st == 403, "after refused lists: c got %d, want 403", st);

	/* None: the server's own origin only. */
	CHECK(rc_server_set_origins(s, NULL, 0) == 0, "set none failed");
	st = origin_status(port, A);
	CHECK(st == 403, "allow none: a got %d, want 403", st);
	st = origin_status(port, B);
	CHECK(st == 403, "allow none: b got %d, want 403", st);
	st = origin_status(port, "http://x");
	CHECK(st == 101, "allow none: its own origin got %d, want 101", st);

	/* Swapped on another thread while upgrades come in. */
	CHECK(rc_server_set_origins(s, a_only, 1) == 0, "set {a} failed");
	f.s = s;
	assert_int_equal(pthread_create(&th, NULL, flipper_main, &f), 0);
	for (int i = 0; i < ORIGIN_ROUNDS; i++) {
		bool odd = i & 1;

		st = origin_status(port, odd ? "https://c.example" : A);
		if (st != (odd ? 403 : 101) && wrong++ < 5)
			note("during swaps, round %d: %s got %d", i,
			     odd ? "c" : "a", st);
	}
	f.stop = 1;
	pthread_join(th, NULL);
	printf("  %d upgrades during %d rc_server_set_origins() calls\n",
	       ORIGIN_ROUNDS, f.calls);
	CHECK(wrong == 0, "%d of %d upgrades answered wrong during swaps",
	      wrong, ORIGIN_ROUNDS);
	CHECK(f.errors == 0, "%d rc_server_set_origins() calls failed "
	      "during swaps", f.errors);
	CHECK(f.calls > 0, "no swaps happened");
	rc_server_free(s);
	report();
}

/* ================================================================== */
/* 10. rc_build_info()                                                 */
/* ================================================================== */

static void test_build_info(void **state)
{
	const char *b = rc_build_info();

	(void)state;
	assert_non_null(b);
	printf("  %s\n", b);
	assert_non_null(strstr(b, "liburing"));
	assert_non_null(strstr(b, "OpenSSL"));
	assert_null(strchr(b, '\n'));
	assert_ptr_equal(rc_build_info(), b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_info),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_drain_http_at_once),
		cmocka_unit_test(test_drain_timeout),
		cmocka_unit_test(test_stop_unlistens),
		cmocka_unit_test(test_reuse_port),
		cmocka_unit_test(test_listeners),
		cmocka_unit_test(test_listen_fds),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_alive),
		cmocka_unit_test(test_set_origins),
	};

	struct rlimit rl;

	/* test_listen_fds parks sockets at descriptors 900..918. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rc_kernel_check(NULL, 0)) {
		printf("SKIP: the kernel lacks io_uring features\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
