/* SPDX-License-Identifier: MIT */
/*
 * sendzc_bench.c -- does IORING_OP_SEND_ZC pay over plain IORING_OP_SEND for
 * large messages? One TCP connection on loopback, a reader thread that
 * discards, and a ring that sends the same buffer of SIZE bytes again and
 * again (one send in flight, as the server does per connection).
 *
 * usage: sendzc_bench [-s bytes] [-d seconds]
 * prints: bench=send impl=send|send_zc bytes=S gib_per_s=X
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *drain(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static char buf[1 << 20];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

/* A connected pair over loopback TCP: *@tx to send on, *@rx to read. */
static int pair(int *tx, int *rx)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &sl))
		return -1;
	*tx = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(*tx, (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	*rx = accept(l, NULL, NULL);
	close(l);
	return *rx < 0 ? -1 : 0;
}

static double run(int zc, size_t size, double secs)
{
	struct io_uring ring;
	uint8_t *buf = malloc(size);
	uint64_t bytes = 0;
	pthread_t th;
	int tx, rx;
	double t0, t;

	memset(buf, 'z', size);
	if (pair(&tx, &rx) || io_uring_queue_init(64, &ring, 0))
		exit(1);
	pthread_create(&th, NULL, drain, (void *)(intptr_t)rx);
	t0 = t = now_s();
	while (t - t0 < secs) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		struct io_uring_cqe *cqe;
		int done = 0, notif = !zc;

		if (zc)
			io_uring_prep_send_zc(sqe, tx, buf, size, 0, 0);
		else
			io_uring_prep_send(sqe, tx, buf, size, 0);
		io_uring_submit(&ring);
		/* With SEND_ZC the buffer is ours again only after the
		   notification; the server would have to hold it till then. */
		while (!done || !notif) {
			if (io_uring_wait_cqe(&ring, &cqe))
				exit(1);
			if (cqe->flags & IORING_CQE_F_NOTIF) {
				notif = 1;
			} else {
				if (cqe->res < 0)
					exit(1);
				bytes += (uint64_t)cqe->res;
				done = 1;
				if (!(cqe->flags & IORING_CQE_F_MORE))
					notif = 1;
			}
			io_uring_cqe_seen(&ring, cqe);
		}
		t = now_s();
	}
	shutdown(tx, SHUT_WR);
	pthread_join(th, NULL);
	close(tx);
	close(rx);
	io_uring_queue_exit(&ring);
	free(buf);
	return (double)bytes / (t - t0) / (1 << 30);
}

int main(int argc, char **argv)
{
	size_t size = 256 << 10;
	double secs = 2;
	int opt;

	while ((opt = getopt(argc, argv, "s:d:")) != -1) {
		if (opt == 's')
			size = (size_t)atol(optarg);
		else if (opt == 'd')
			secs = atof(optarg);
		else
			return 2;
	}
	if (!size || secs <= 0 || secs > 60)
		return 2;
	for (int zc = 0; zc < 2; zc++)
		printf("bench=send impl=%s bytes=%zu gib_per_s=%.2f\n",
		       zc ? "send_zc" : "send", size, run(zc, size, secs));
	return 0;
}
