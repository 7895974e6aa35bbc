/* SPDX-License-Identifier: MIT */
/*
 * history_evict.c -- what keeping the history budget costs the thread that
 * publishes: ROOMS rooms of one 64-byte message each through rc_publish()
 * on a server with history_size 100 and history_memory MIB MiB (64, the
 * hub's default), so that past a point every new room pushes the stalest
 * out. Prints one RESULT line: the whole run, the mean and the slowest
 * single publish (an eviction round), and what the history held at the end.
 *
 *   history_evict [ROOMS [MIB]]      (default 80000 64)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringcast.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int rooms = argc > 1 ? atoi(argv[1]) : 80000;
	unsigned mib = argc > 2 ? (unsigned)atoi(argv[2]) : 64;
	struct rc_config cfg = rc_config_default();
	struct rc_server *s;
	struct rc_stats st;
	char topic[32], msg[64];
	uint64_t t0, worst = 0;
	int worst_at = 0;

	if (rooms <= 0 || !mib) {
		fprintf(stderr, "usage: %s [ROOMS [MIB]]\n", argv[0]);
		return 2;
	}
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 1;
	cfg.pin_threads = false;
	cfg.history_size = 100;
	cfg.history_memory = (size_t)mib << 20;
	s = rc_server_new(&cfg, NULL, NULL);
	if (!s) {
		perror("rc_server_new");
		return 1;
	}
	memset(msg, 'x', sizeof(msg));
	t0 = now_ns();
	for (int t = 0; t < rooms; t++) {
		int tl = snprintf(topic, sizeof(topic), "room-%d", t);
		uint64_t a = now_ns(), d;

		if (rc_publish(s, topic, (size_t)tl, msg, sizeof(msg),
			       RC_OP_BINARY)) {
			fprintf(stderr, "rc_publish failed at room %d\n", t);
			return 1;
		}
		d = now_ns() - a;
		if (d > worst) {
			worst = d;
			worst_at = t;
		}
	}
	t0 = now_ns() - t0;
	rc_server_stats(s, &st);
	printf("RESULT bench=history-evict rooms=%d budget_mib=%u total_ms=%.1f "
	       "mean_us=%.2f worst_ms=%.2f worst_at=%d evicted=%llu held=%llu "
	       "bytes=%llu\n", rooms, mib, t0 / 1e6, t0 / 1e3 / rooms,
	       worst / 1e6, worst_at, (unsigned long long)st.history_evicted,
	       (unsigned long long)st.history_topics,
	       (unsigned long long)st.history_bytes);
	rc_server_free(s);
	return 0;
}
