/* SPDX-License-Identifier: MIT */
/*
 * echo_load.c -- a small WebSocket echo load client: N connections, each with
 * one message in flight; counts round trips per second. epoll, one thread.
 *
 * usage: echo_load [-h host] [-p port] [-P path] [-c conns] [-s bytes]
 *                  [-d seconds] [-n name] [-t]
 * -t sends TEXT frames of mixed Latin/CJK/emoji UTF-8 (default: BINARY).
 * prints: bench=echo impl=NAME conns=N bytes=S seconds=D round_trips=R
 *         rt_per_s=X errors=E
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct client {
	int fd;
	size_t have;		/* bytes of the current echo received */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Payload: ASCII letters, or whole repeats of a mixed-script UTF-8 phrase
   padded with ASCII to exactly @n bytes (so it stays valid UTF-8). */
static void fill_payload(uint8_t *p, size_t n, int text)
{
	static const char phrase[] = "Grüße, 世界! Καλημέρα 🙂 ";
	size_t len = sizeof(phrase) - 1, i = 0;

	if (text)
		for (; i + len <= n; i += len)
			memcpy(p + i, phrase, len);
	for (; i < n; i++)
		p[i] = (uint8_t)('a' + i % 26);
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int upgrade(int fd, const char *host, int port, const char *path)
{
	char req[512], resp[1024];
	size_t got = 0;
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n",
			 path, host, port);

	if (write_all(fd, req, (size_t)n))
		return -1;
	/* Read byte by byte up to the blank line: the server sends nothing
	   after the 101 until we send a frame. */
	while (got < sizeof(resp) - 1) {
		ssize_t r = read(fd, resp + got, 1);

		if (r <= 0)
			return -1;
		got++;
		if (got >= 4 && !memcmp(resp + got - 4, "\r\n\r\n", 4))
			break;
	}
	resp[got] = 0;
	return strncmp(resp, "HTTP/1.1 101", 12) ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *path = "/echo", *name = "ringcast";
	int port = 8080, conns = 100, opt, one = 1, ep, text = 0;
	size_t size = 32, hl, frame_len, echo_len;
	double secs = 5, t0, t1;
	uint64_t rts = 0, errors = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct client *cl;
	uint8_t *frame, *rbuf;

	while ((opt = getopt(argc, argv, "h:p:P:c:s:d:n:t")) != -1) {
		switch (opt) {
		case 'h': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'P': path = optarg; break;
		case 'c': conns = atoi(optarg); break;
		case 's': size = (size_t)atol(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'n': name = optarg; break;
		case 't': text = 1; break;
		default:
			fprintf(stderr, "usage: echo_load [-h host] [-p port] [-P path] [-c conns] [-s bytes] [-d seconds] [-n name] [-t]\n");
			return 2;
		}
	}
	if (conns < 1 || secs <= 0 || secs > 3600) {
		fprintf(stderr, "echo_load: bad -c or -d\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);

	/* One masked binary frame, reused: header + masked payload. */
	hl = size < 126 ? 2 : size < 65536 ? 4 : 10;
	frame_len = hl + 4 + size;
	frame = calloc(1, frame_len);
	frame[0] = text ? 0x81 : 0x82;
	if (hl == 2) {
		frame[1] = (uint8_t)(0x80 | size);
	} else if (hl == 4) {
		frame[1] = 0x80 | 126;
		frame[2] = (uint8_t)(size >> 8);
		frame[3] = (uint8_t)size;
	} else {
		frame[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			frame[2 + i] = (uint8_t)((uint64_t)size >> (56 - 8 * i));
	}
	memcpy(frame + hl, "\x12\x34\x56\x78", 4);
	fill_payload(frame + hl + 4, size, text);
	for (size_t i = 0; i < size; i++)
		frame[hl + 4 + i] ^= frame[hl + (i & 3)];
	echo_len = hl + size;	/* server frames are not masked */
	rbuf = malloc(echo_len > 65536 ? echo_len : 65536);

	cl = calloc((size_t)conns, sizeof(*cl));
	ep = epoll_create1(0);
	for (int i = 0; i < conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    upgrade(fd, host, port, path)) {
			fprintf(stderr, "echo_load: connection %d failed: %s\n", i,
				strerror(errno));
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cl[i].fd = fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	t0 = now_s();
	for (int i = 0; i < conns; i++)
		if (write_all(cl[i].fd, frame, frame_len))
			errors++;
	t1 = t0;
	while (t1 - t0 < secs) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 100);

		for (int k = 0; k < n; k++) {
			struct client *c = &cl[evs[k].data.u32];
			ssize_t r = read(c->fd, rbuf, echo_len - c->have);

			if (r <= 0) {
				errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			c->have += (size_t)r;
			if (c->have < echo_len)
				continue;
			c->have = 0;
			rts++;
			if (write_all(c->fd, frame, frame_len))
				errors++;
		}
		t1 = now_s();
	}
	printf("bench=echo impl=%s conns=%d bytes=%zu seconds=%.2f round_trips=%llu rt_per_s=%.0f errors=%llu\n",
	       name, conns, size, t1 - t0, (unsigned long long)rts,
	       (double)rts / (t1 - t0), (unsigned long long)errors);
	return errors ? 1 : 0;
}
