/* SPDX-License-Identifier: MIT */
/* ticker.c -- a thread of the program's own publishes a tick every 100 ms. */
/*
 * usage: ticker [PORT]		(default 9003; 0 picks a free port)
 *
 * A client connecting to any path is subscribed to the topic "ticker" and
 * receives {"seq":N,"ts_ms":T} ten times a second. The ticks come from a
 * plain pthread that ringcast knows nothing about, as a feed or a game loop
 * would in a real program.
 *
 * The ownership rules this file keeps:
 * - rc_publish() may be called from any thread. It frames the message once
 *   and copies the payload before it returns, so the tick can live on the
 *   publishing thread's stack.
 * - A struct rc_conn pointer is valid only during a handler call for it, on
 *   its worker: the ticker thread never sees one. It reaches clients
 *   through the topic (or would keep rc_conn_id() and use rc_send_to()).
 * - After rc_server_stop(), rc_publish() returns -ESHUTDOWN: that is the
 *   ticker thread's cue to end. Join it before rc_server_free(), since the
 *   server must outlive every thread that may still call into it.
 */
#define _POSIX_C_SOURCE 200809L	/* clock_nanosleep, also under -std=c11 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringcast.h>

#define DEFAULT_PORT 9003
#define TOPIC "ticker"
#define TICK_NS 100000000L	/* 100 ms */

static struct rc_server *server;

static void on_open(struct rc_conn *c)
{
	if (rc_subscribe(c, TOPIC, strlen(TOPIC)))
		rc_close(c, RC_CLOSE_INTERNAL, "cannot subscribe");
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *ticker_main(void *arg)
{
	struct rc_server *s = arg;
	struct timespec next;
	uint64_t seq = 0;
	char msg[80];
	int n, err;

	/* Absolute deadlines on the monotonic clock: no drift, and a clock
	   change does not stall the ticks. */
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		n = snprintf(msg, sizeof(msg),
			     "{\"seq\":%" PRIu64 ",\"ts_ms\":%" PRIu64 "}",
			     seq++, now_ms());
		err = rc_publish(s, TOPIC, strlen(TOPIC), msg, (size_t)n,
				 RC_OP_TEXT);
		if (err == -ESHUTDOWN)
			break;
		if (err)
			fprintf(stderr, "rc_publish: %s\n", strerror(-err));
		next.tv_nsec += TICK_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
				       NULL) == EINTR)
			;
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	rc_server_stop(server);		/* async-signal-safe */
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct rc_config cfg = rc_config_default();
	struct rc_handlers h = { .on_open = on_open };
	pthread_t ticker;
	int ret;

	cfg.port = DEFAULT_PORT;
	if (argc > 2 || (argc == 2 && parse_port(argv[1], &cfg.port))) {
		fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
		return 2;
	}
	server = rc_server_new(&cfg, &h, NULL);
	if (!server) {
		perror("rc_server_new");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ret = rc_server_start(server);	/* workers run in the background */
	if (ret) {
		fprintf(stderr, "rc_server_start: %s\n", strerror(-ret));
		rc_server_free(server);
		return 1;
	}
	ret = pthread_create(&ticker, NULL, ticker_main, server);
	if (ret) {
		fprintf(stderr, "pthread_create: %s\n", strerror(ret));
		rc_server_free(server);
		return 1;
	}
	printf("ticker on ws://127.0.0.1:%u/ (simd %s)\n",
	       rc_server_port(server), rc_simd_name());
	fflush(stdout);
	ret = rc_server_run(server);	/* returns once stopped and drained */
	if (ret)
		fprintf(stderr, "rc_server_run: %s\n", strerror(-ret));
	/* The workers may also have ended on an error: stop for certain, so
	   the ticker's next rc_publish() sees -ESHUTDOWN. */
	rc_server_stop(server);
	pthread_join(ticker, NULL);
	rc_server_free(server);
	return ret ? 1 : 0;
}
