/* SPDX-License-Identifier: MIT */
/*
 * wsclient.h -- the tests' raw client: sockets, HTTP heads, WebSocket
 * frames (masked), and rc_server_run() on a thread with a bound. For
 * cmocka tests that include <cmocka.h> and "ringcast.h" first; nothing
 * here asserts but runner_start().
 */
#ifndef RC_TESTS_WSCLIENT_H
#define RC_TESTS_WSCLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Longest wait for what should happen at once (sanitizer builds are
   slow); a test may define its own first. */
#ifndef WAIT_MS
#define WAIT_MS 3000
#endif

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- sockets; nothing here asserts ---- */

/* Exactly @n bytes within @ms: 0, or -1 on EOF, error or timeout. */
static inline int read_within(int fd, void *p, size_t n, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - now_ms());
		ssize_t r;
		int pr;

		if (left <= 0)
			return -1;
		pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		r = read(fd, (char *)p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Within @ms: 0 on EOF (or a reset), 1 if data came, -1 on timeout. */
static inline int wait_eof(int fd, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - now_ms());
		char b;
		ssize_t r;
		int pr;

		if (left <= 0)
			return -1;
		pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		r = read(fd, &b, 1);
		if (r < 0 && errno == EINTR)
			continue;
		return r > 0 ? 1 : 0;
	}
}

/* One server frame within @ms: its payload length (payload in @p), -1 on
   EOF or timeout, -2 if over @cap. */
static inline long read_frame(int fd, uint8_t *op, uint8_t *p, size_t cap, int ms)
{
	uint8_t h[8];
	uint64_t n;

	if (read_within(fd, h, 2, ms))
		return -1;
	*op = h[0] & 0x0f;
	n = h[1] & 0x7f;
	if (n >= 126) {
		size_t k = n == 126 ? 2 : 8;

		if (read_within(fd, h, k, ms))
			return -1;
		n = 0;
		for (size_t i = 0; i < k; i++)
			n = n << 8 | h[i];
	}
	if (n > cap)
		return -2;
	if (n && read_within(fd, p, (size_t)n, ms))
		return -1;
	return (long)n;
}

/* An HTTP response head (NUL-terminated in @buf) within @ms: its status,
   or -1. */
static inline int read_head(int fd, char *buf, size_t cap, int ms)
{
	size_t n = 0;

	while (n < cap - 1) {
		if (read_within(fd, buf + n, 1, ms))
			break;
		n++;
		if (n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4))
			break;
	}
	buf[n] = 0;
	return n > 12 && !memcmp(buf + n - 4, "\r\n\r\n", 4) ?
	       atoi(buf + 9) : -1;
}

static inline int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p = (const char *)p + r;
		n -= (size_t)r;
	}
	return 0;
}

/* One masked client frame (payload < 126). */
static inline int write_frame(int fd, uint8_t op, const void *p, size_t n)
{
	uint8_t f[2 + 4 + 125];
	const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

	if (n > 125)
		return -1;
	f[0] = (uint8_t)(0x80 | op);
	f[1] = (uint8_t)(0x80 | n);
	memcpy(f + 2, key, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = ((const uint8_t *)p)[i] ^ key[i & 3];
	return write_all(fd, f, 6 + n);
}

/* Answer a close with @code. */
static inline int write_close(int fd, uint16_t code)
{
	uint8_t p[2] = { (uint8_t)(code >> 8), (uint8_t)code };

	return write_frame(fd, 8, p, 2);
}

/* Connect to @ip (IPv4 or IPv6 text) port @port: the socket, or -errno. */
static inline int dial_ip(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, err;

	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
			return -EINVAL;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
			return -EINVAL;
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A server for a test: loopback, any free port, @threads workers
   unpinned, no per-address limits (the tests open many connections from
   one address, fast). */
static inline struct rc_config test_config(unsigned threads)
{
	struct rc_config cfg = rc_config_default();

	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = threads;
	cfg.pin_threads = false;
	cfg.max_conns_per_ip = RC_UNLIMITED;
	cfg.conn_rate_per_ip = RC_UNLIMITED;
	return cfg;
}

static inline int dial(uint16_t port)
{
	return dial_ip("127.0.0.1", port);
}

/* The upgrade request for @path, with @extra header lines; the answer's
   status. */
static inline int upgrade_to(int fd, const char *path, const char *extra,
			     char *head, size_t cap, int ms)
{
	char req[1024];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n%s\r\n", path, extra);

	if (fd < 0 || n < 0 || (size_t)n >= sizeof(req) ||
	    write_all(fd, req, (size_t)n))
		return -1;
	return read_head(fd, head, cap, ms);
}

static inline int upgrade_ex(int fd, const char *extra, char *head,
			     size_t cap, int ms)
{
	return upgrade_to(fd, "/ws", extra, head, cap, ms);
}

/* A WebSocket on 127.0.0.1:@port: the socket, or -1. */
static inline int ws_open(uint16_t port)
{
	char head[1024];
	int fd = dial(port);

	if (fd < 0)
		return -1;
	if (upgrade_ex(fd, "", head, sizeof(head), WAIT_MS) != 101) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET @path on @fd, with @extra header lines: the status (head in @head),
   the body (Content-Length) read and dropped; -1 on failure. */
static inline int http_get(int fd, const char *path, const char *extra, char *head,
		    size_t cap, int ms)
{
	char req[512], body[256];
	const char *cl;
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n"
			 "%s\r\n", path, extra);
	int st;
	long len;

	if (fd < 0 || write_all(fd, req, (size_t)n))
		return -1;
	st = read_head(fd, head, cap, ms);
	if (st < 0)
		return -1;
	cl = strcasestr(head, "\r\ncontent-length:");
	len = cl ? strtol(cl + 17, NULL, 10) : 0;
	if (len < 0 || len > (long)sizeof(body) ||
	    (len && read_within(fd, body, (size_t)len, ms)))
		return -1;
	return st;
}

static inline void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Port of "127.0.0.1:8080" or "[::1]:8080", or 0. */
static inline unsigned port_of(const char *addr)
{
	const char *c = addr ? strrchr(addr, ':') : NULL;

	return c ? (unsigned)atoi(c + 1) : 0;
}

/* ---- rc_server_run() on a thread, bounded ---- */

struct runner {
	struct rc_server *s;
	pthread_t th;
	sem_t done;
	int ret;
	bool joined;
	uint64_t returned_ms;
};

static inline void *runner_main(void *arg)
{
	struct runner *r = arg;

	r->ret = rc_server_run(r->s);
	r->returned_ms = now_ms();
	sem_post(&r->done);
	return NULL;
}

static inline void runner_start(struct runner *r, struct rc_server *s)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	assert_int_equal(sem_init(&r->done, 0, 0), 0);
	assert_int_equal(pthread_create(&r->th, NULL, runner_main, r), 0);
}

/* 0 once rc_server_run() has returned, -1 if not within @ms. */
static inline int runner_wait(struct runner *r, unsigned ms)
{
	struct timespec ts;

	if (r->joined)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (sem_timedwait(&r->done, &ts))
		if (errno != EINTR)
			return -1;
	pthread_join(r->th, NULL);
	r->joined = true;
	return 0;
}

/* End the runner whatever happened (a stop if it still runs). */
static inline void runner_end(struct runner *r)
{
	if (r->joined) {
		sem_destroy(&r->done);
		return;
	}
	if (runner_wait(r, 0)) {
		rc_server_stop(r->s);
		if (runner_wait(r, 10000)) {
			fprintf(stderr, "FAIL: rc_server_run() did not return "
				"even after rc_server_stop(): giving up\n");
			fflush(NULL);
			_exit(1);
		}
	}
	sem_destroy(&r->done);
}

#endif /* RC_TESTS_WSCLIENT_H */
