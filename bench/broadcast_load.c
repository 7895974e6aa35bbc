/* SPDX-License-Identifier: MIT */
/*
 * broadcast_load.c -- fan-out load: S subscribers in one room and one
 * publisher that keeps W messages in flight (a message is in flight until
 * every subscriber has it). Counts deliveries per second and the
 * publish-to-receive latency (timestamp in the payload). epoll, one thread.
 *
 * usage: broadcast_load [-h host] [-p port] [-P path] [-c subscribers]
 *                       [-s bytes] [-w window] [-d seconds] [-n name]
 * The publisher connects to the same path; the server is expected not to
 * send its own messages back to it (ringcast --no-echo-self), or it simply
 * discards them.
 * prints: bench=broadcast impl=NAME subscribers=S bytes=B seconds=D
 *         deliveries=N deliveries_per_s=X p50_us=.. p99_us=.. errors=E
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAT_SAMPLES (1 << 20)

struct sub {
	int fd;
	size_t have;		/* bytes of a partial frame kept in buf */
	uint8_t buf[64];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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

static int dial(const struct sockaddr_in *sa, const char *host, int port,
		const char *path)
{
	char req[512], resp[1024];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, n;

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)))
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n", path, host, port);
	if (write_all(fd, req, (size_t)n))
		return -1;
	while (got < sizeof(resp) - 1) {
		if (read(fd, resp + got, 1) != 1)
			return -1;
		got++;
		if (got >= 4 && !memcmp(resp + got - 4, "\r\n\r\n", 4))
			break;
	}
	return strncmp(resp, "HTTP/1.1 101", 12) ? -1 : fd;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *path = "/ws/bench", *name = "ringcast";
	int port = 8080, nsubs = 1000, window = 4, opt, ep, pub;
	size_t size = 64, flen;
	double secs = 5;
	uint64_t deliveries = 0, errors = 0, published = 0, nlat = 0;
	uint64_t *lat = malloc(LAT_SAMPLES * sizeof(*lat));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct rlimit rl;
	struct sub *subs;
	uint8_t frame[2 + 4 + 125];
	uint64_t t0, t1, end;

	while ((opt = getopt(argc, argv, "h:p:P:c:s:w:d:n:")) != -1) {
		switch (opt) {
		case 'h': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'P': path = optarg; break;
		case 'c': nsubs = atoi(optarg); break;
		case 's': size = (size_t)atol(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'n': name = optarg; break;
		default:
			fprintf(stderr, "usage: broadcast_load [-h host] [-p port] [-P path] [-c subscribers] [-s bytes] [-w window] [-d seconds] [-n name]\n");
			return 2;
		}
	}
	if (nsubs < 1 || size < 8 || size > 125 || window < 1 || secs <= 0 ||
	    secs > 3600) {
		fprintf(stderr, "broadcast_load: need -c >= 1, 8 <= -s <= 125, -w >= 1, 0 < -d <= 3600\n");
		return 2;
	}
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);

	ep = epoll_create1(0);
	subs = calloc((size_t)nsubs, sizeof(*subs));
	for (int i = 0; i < nsubs; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		subs[i].fd = dial(&sa, host, port, path);
		if (subs[i].fd < 0) {
			fprintf(stderr, "broadcast_load: subscriber %d: %s\n", i,
				strerror(errno));
			return 1;
		}
		epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
	}
	pub = dial(&sa, host, port, path);
	if (pub < 0) {
		fprintf(stderr, "broadcast_load: publisher: %s\n", strerror(errno));
		return 1;
	}
	/* Let the last subscriptions settle before the clock starts. */
	usleep(200000);

	/* Masked binary frame; payload: 8-byte send time, then filler. */
	flen = 2 + 4 + size;
	frame[0] = 0x82;
	frame[1] = (uint8_t)(0x80 | size);
	memset(frame + 2, 0, 4);	/* a zero key: payload is plain */
	memset(frame + 6, 'x', size);

	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	t1 = t0;
	while (t1 < end) {
		struct epoll_event evs[512];
		int n;

		/* Keep @window messages in flight across all subscribers. */
		while ((int64_t)(published * (uint64_t)nsubs - deliveries) <
		       (int64_t)window * nsubs) {
			uint64_t ts = now_ns();

			memcpy(frame + 6, &ts, 8);
			if (write_all(pub, frame, flen)) {
				errors++;
				break;
			}
			published++;
		}
		n = epoll_wait(ep, evs, 512, 100);
		for (int k = 0; k < n; k++) {
			struct sub *s = &subs[evs[k].data.u32];
			uint8_t buf[65536];
			ssize_t r = read(s->fd, buf, sizeof(buf));
			size_t off = 0;
			uint64_t now = now_ns();

			if (r <= 0) {
				errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
				continue;
			}
			/* Frames are 2 + size bytes; keep a partial one. */
			while (off < (size_t)r) {
				size_t take = 2 + size - s->have;

				if (take > (size_t)r - off)
					take = (size_t)r - off;
				memcpy(s->buf + s->have, buf + off, take);
				s->have += take;
				off += take;
				if (s->have < 2 + size)
					break;
				s->have = 0;
				deliveries++;
				if (nlat < LAT_SAMPLES && (deliveries & 15) == 0) {
					uint64_t sent;

					memcpy(&sent, s->buf + 2, 8);
					lat[nlat++] = now - sent;
				}
			}
		}
		t1 = now_ns();
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	printf("bench=broadcast impl=%s subscribers=%d bytes=%zu window=%d seconds=%.2f published=%llu deliveries=%llu deliveries_per_s=%.0f p50_us=%.0f p99_us=%.0f errors=%llu\n",
	       name, nsubs, size, window, (double)(t1 - t0) / 1e9,
	       (unsigned long long)published, (unsigned long long)deliveries,
	       (double)deliveries / ((double)(t1 - t0) / 1e9),
	       nlat ? (double)lat[nlat / 2] / 1e3 : 0,
	       nlat ? (double)lat[nlat * 99 / 100] / 1e3 : 0,
	       (unsigned long long)errors);
	return errors ? 1 : 0;
}
