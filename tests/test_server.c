/* SPDX-License-Identifier: MIT */
/* test_server.c -- the public API end to end: lifecycle, handlers, misuse. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ringcast.h"

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

static int dial(struct rc_server *s)
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

/*
 * Read exactly @n bytes (bounded by SO_RCVTIMEO). EINTR is retried: the
 * kernel's io_uring task work (the probe ring's tear-down) may interrupt a
 * socket read that has a timeout in this thread.
 */
static void get(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r > 0);
		got += (size_t)r;
	}
}

/* Read an HTTP response head; return its status. */
static int get_head(int fd)
{
	char buf[2048];
	size_t n = 0;

	while (n < sizeof(buf) - 1) {
		get(fd, buf + n, 1);
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

	get(fd, h, 2);
	*op = h[0] & 0x0f;
	assert_true(h[0] & 0x80);
	assert_int_equal(h[1] & 0x80, 0);
	assert_true((h[1] & 0x7f) < 126);
	get(fd, p, h[1] & 0x7f);
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
	int fd = dial(s);

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
	fd = dial(s);
	assert_int_equal(upgrade(fd, "/private", ""), 403);
	close(fd);
	fd = dial(s);
	assert_int_equal(upgrade(fd, "/private", "X-Token: secret\r\n"), 101);
	close(fd);
	fd = dial(s);
	put(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
	assert_int_equal(get_head(fd), 200);
	get(fd, body, 2);
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
	int fd = dial(s);

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_default),
		cmocka_unit_test(test_echo_and_stop),
		cmocka_unit_test(test_refuse_and_http),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_port_in_use),
	};
	char why[256];

	if (rc_kernel_check(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
