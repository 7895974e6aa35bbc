/* SPDX-License-Identifier: MIT */
/* metrics.c -- the hub's /metrics: Prometheus text, totals and per worker. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hub.h"
#include "log.h"

/* One entry per field of struct rc_stats, in order (the struct is all
   uint64_t, read here as an array). Fields that are one metric with a
   label follow each other, with the same name. */
static const struct {
	const char *name, *type, *help, *label;
} metric_info[] = {
	{ "connections_accepted_total", "counter", "TCP connections accepted.", NULL },
	{ "connections_open", "gauge", "TCP connections open.", NULL },
	{ "websockets_open", "gauge", "Upgraded connections open.", NULL },
	{ "connections_refused_total", "counter", "Connections refused over the limit (503).", NULL },
	{ "http_requests_total", "counter", "Plain HTTP requests answered.", NULL },
	{ "http_errors_total", "counter", "HTTP error responses sent.", NULL },
	{ "handshakes_total", "counter", "WebSocket upgrades completed.", NULL },
	{ "messages_in_total", "counter", "Data messages received.", NULL },
	{ "bytes_in_total", "counter", "Payload bytes received.", NULL },
	{ "messages_out_total", "counter", "Data messages sent.", NULL },
	{ "bytes_out_total", "counter", "Payload bytes sent.", NULL },
	{ "protocol_errors_total", "counter", "Connections failed with close 1002.", NULL },
	{ "invalid_utf8_total", "counter", "Connections failed with close 1007.", NULL },
	{ "too_big_total", "counter", "Connections failed with close 1009.", NULL },
	{ "timeouts_total", "counter", "Handshake, idle and close timeouts.", NULL },
	{ "backpressure_pauses_total", "counter", "Reads paused for slow readers (or held pipelined requests).", NULL },
	{ "published_total", "counter", "Messages published (framed once each).", NULL },
	{ "deliveries_total", "counter", "Published messages queued to subscribers.", NULL },
	{ "dropped_total", "counter", "Published messages dropped for slow subscribers.", NULL },
	{ "slow_closes_total", "counter", "Slow subscribers closed with 1008.", NULL },
	{ "recv_waits_total", "counter", "Reads that waited a turn for a free receive buffer.", NULL },
	{ "pings_sent_total", "counter", "Pings sent to idle WebSockets.", NULL },
	{ "alloc_failures_total", "counter", "Failed allocations (the connection closes with 1011).", NULL },
	{ "pubsub_misses_total", "counter", "Published messages a worker got but had no subscriber for.", NULL },
	{ "accept_errors_total", "counter", "Accepts that failed (retried after a back-off).", NULL },
	{ "ring_retries_total", "counter", "io_uring submits retried after the kernel could take no more.", NULL },
	{ "tls_handshakes_total", "counter", "TLS handshakes completed.", NULL },
	{ "tls_failures_total", "counter", "TLS connections failed, by reason.", "reason=\"version\"" },
	{ "tls_failures_total", "counter", NULL, "reason=\"protocol\"" },
	{ "tls_failures_total", "counter", NULL, "reason=\"sni\"" },
	{ "tls_failures_total", "counter", NULL, "reason=\"alpn\"" },
	{ "tls_failures_total", "counter", NULL, "reason=\"cert\"" },
	{ "tls_failures_total", "counter", NULL, "reason=\"timeout\"" },
	{ "tls_failures_total", "counter", NULL, "reason=\"eof\"" },
	{ "tls_failures_total", "counter", NULL, "reason=\"other\"" },
	{ "origin_refused_total", "counter", "Upgrades refused for their Origin (403).", NULL },
	{ "ip_refused_total", "counter", "Connections over a per-address limit (429, or closed before the TLS handshake).", NULL },
	{ "rate_limited_total", "counter", "WebSockets closed with 1008 \"rate limit\" (--msg-rate, --byte-rate).", NULL },
	{ "subscriptions_refused_total", "counter", "Subscriptions refused over --max-rooms.", NULL },
	{ "partial_refused_total", "counter", "WebSockets closed with 1013 \"server busy\" (--max-partial).", NULL },
	{ "deadline_closes_total", "counter", "WebSockets closed at a set time (4001 \"token expired\").", NULL },
	{ "tls_reloads_total", "counter", "TLS certificate reloads.", NULL },
	{ "tls_reload_failures_total", "counter", "TLS certificate reloads refused (the certificates in force stayed).", NULL },
	{ "deflate_connections", "gauge", "WebSockets open with permessage-deflate.", NULL },
	{ "deflate_in_bytes_total", "counter", "Payload bytes compressed (a room message once).", NULL },
	{ "deflate_out_bytes_total", "counter", "Bytes they compressed to.", NULL },
	{ "deflate_skipped_total", "counter", "Messages sent uncompressed to permessage-deflate peers (opted out, under --deflate-min-size, or not smaller).", NULL },
	{ "inflate_in_bytes_total", "counter", "Compressed payload bytes received.", NULL },
	{ "inflate_out_bytes_total", "counter", "Bytes they inflated to.", NULL },
	{ "inflate_errors_total", "counter", "WebSockets closed with 1007 for data that does not inflate.", NULL },
	{ "nats_connected", "gauge", "1 while connected to NATS (--nats).", NULL },
	{ "nats_subscriptions", "gauge", "Rooms subscribed on NATS (with members here).", NULL },
	{ "nats_reconnects_total", "counter", "Reconnections to NATS.", NULL },
	{ "nats_out_total", "counter", "Room messages sent to NATS.", NULL },
	{ "nats_out_bytes_total", "counter", "Their payload bytes.", NULL },
	{ "nats_out_errors_total", "counter", "Room messages NATS could not take (down past its buffer).", NULL },
	{ "nats_in_total", "counter", "Room messages from other hubs fanned out here.", NULL },
	{ "nats_in_bytes_total", "counter", "Their payload bytes.", NULL },
	{ "nats_in_dropped_total", "counter", "Messages from NATS not delivered (malformed, or inboxes stayed full).", NULL },
	{ "nats_in_gaps_total", "counter", "Messages missing from another hub's numbering: lost between hubs.", NULL },
	{ "nats_in_dups_total", "counter", "Messages from NATS repeated or out of order, dropped.", NULL },
	{ "nats_slow_consumer_total", "counter", "Times NATS reported this hub fell behind.", NULL },
	{ "nats_forwarded_total", "counter", "With history on: room messages forwarded to the room's owning hub to be numbered.", NULL },
	{ "nats_hub_changes_total", "counter", "With history on: changes seen in the set of hubs that own rooms (a hub came or went).", NULL },
	{ "history_rooms", "gauge", "Rooms with a history now (--history-size).", NULL },
	{ "history_bytes", "gauge", "Memory the rooms' history holds (--history-memory bounds it).", NULL },
	{ "history_evicted_total", "counter", "Rooms' histories dropped whole for --history-memory (their epoch is new).", NULL },
	{ "history_expired_total", "counter", "History messages dropped for --history-ttl.", NULL },
	{ "recoveries_total", "counter", "Reconnecting members given every message they missed.", NULL },
	{ "recoveries_failed_total", "counter", "Reconnecting members told they could not recover (epoch changed, or out of the window).", NULL },
};

#define NMETRICS (sizeof(metric_info) / sizeof(metric_info[0]))

/* Counters kept for the whole server, not per worker: no per-worker
   lines. */
static bool server_wide(size_t i)
{
	size_t off = i * sizeof(uint64_t);

	return off == offsetof(struct rc_stats, tls_reloads) ||
	       off == offsetof(struct rc_stats, tls_reload_failures) ||
	       off >= offsetof(struct rc_stats, nats_connected);
}

_Static_assert(NMETRICS == sizeof(struct rc_stats) / sizeof(uint64_t),
	       "a metric for every counter");

/* A growing text buffer, one per worker thread (on_http runs there),
   freed when the thread ends. */
struct text {
	char *p;
	size_t len, cap;
	int failed;
};

static pthread_key_t text_key;
static pthread_once_t text_once = PTHREAD_ONCE_INIT;

static void text_free(void *arg)
{
	struct text *t = arg;

	free(t->p);
	free(t);
}

static void text_key_init(void)
{
	pthread_key_create(&text_key, text_free);
}

/* This thread's buffer, emptied; NULL if out of memory. */
static struct text *text_get(void)
{
	struct text *t;

	pthread_once(&text_once, text_key_init);
	t = pthread_getspecific(text_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || pthread_setspecific(text_key, t)) {
			free(t);
			return NULL;
		}
	}
	t->len = 0;
	t->failed = 0;
	return t;
}

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		/* The first call has no buffer yet: NULL, 0 just measures. */
		n = vsnprintf(t->p ? t->p + t->len : NULL, t->cap - t->len,
			      fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len)
			break;
		size_t cap = t->cap ? t->cap * 2 : 16384;
		char *p;

		while (cap - t->len <= (size_t)n)
			cap *= 2;
		p = realloc(t->p, cap);
		if (!p) {
			t->failed = 1;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	t->len += (size_t)n;
}

/* The hub's own counters (enum hub_counter), as the library's above. */
static const struct {
	const char *name, *help, *label;
} hub_info[HUB_NCOUNTERS] = {
	[HUB_C_REFUSED_MISSING] = { "auth_refused_total", "Upgrades refused for their token (401/403), by reason.", "reason=\"missing\"" },
	[HUB_C_REFUSED_INVALID] = { "auth_refused_total", NULL, "reason=\"invalid\"" },
	[HUB_C_REFUSED_EXPIRED] = { "auth_refused_total", NULL, "reason=\"expired\"" },
	[HUB_C_REFUSED_ROOM] = { "auth_refused_total", NULL, "reason=\"room\"" },
	[HUB_C_READONLY_CLOSES] = { "readonly_closes_total", "Read-only members closed with 1008 for posting.", NULL },
	[HUB_C_FORGED_CLOSES] = { "forged_closes_total", "Room members closed with 1008 for a message posing as one the hub stamped with its sender.", NULL },
};

static uint64_t hub_count(unsigned w, enum hub_counter i)
{
	return atomic_load_explicit(&hub_counts[w].v[i], memory_order_relaxed);
}

static void put_hub(struct text *buf, unsigned nw)
{
	for (enum hub_counter i = 0; i < HUB_NCOUNTERS; i++) {
		const char *label = hub_info[i].label;
		uint64_t total = 0;

		for (unsigned w = 0; w < nw; w++)
			total += hub_count(w, i);
		if (hub_info[i].help)
			put(buf, "# HELP ringcast_%s %s\n# TYPE ringcast_%s counter\n",
			    hub_info[i].name, hub_info[i].help,
			    hub_info[i].name);
		put(buf, "ringcast_%s%s%s%s %llu\n", hub_info[i].name,
		    label ? "{" : "", label ? label : "", label ? "}" : "",
		    (unsigned long long)total);
		for (unsigned w = 0; w < nw; w++)
			put(buf, "ringcast_%s{%s%sworker=\"%u\"} %llu\n",
			    hub_info[i].name, label ? label : "",
			    label ? "," : "", w,
			    (unsigned long long)hub_count(w, i));
	}
}

/* The hub as a service: drain, reloads, its log; presence lines. */
static void put_service(struct text *buf)
{
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{ "draining", "gauge", "1 while the hub drains (SIGTERM): listeners closed, /health answers 503." },
		{ "reloads_total", "counter", "Reloads (SIGHUP) that applied every part." },
		{ "reload_failures_total", "counter", "Reloads with a part refused (what was in force stayed)." },
		{ "log_lines_total", "counter", "Log lines written." },
		{ "log_suppressed_total", "counter", "Log lines dropped by --log-rate." },
		{ "presence_events_total", "counter", "Join and leave lines sent to rooms of at most --presence-max members (one per join or leave, shared by the room)." },
		{ "presence_snapshots_total", "counter", "Presence snapshots sent (at most one a second per room that changed; the count only in rooms over --presence-max)." },
	};
	uint64_t v[] = {
		rc_server_draining(hub_server),
		atomic_load(&hub_reloads),
		atomic_load(&hub_reload_failures),
		hub_log_lines(),
		hub_log_suppressed(),
		atomic_load(&hub_presence_events),
		atomic_load(&hub_presence_snapshots),
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		put(buf, "# HELP ringcast_%s %s\n# TYPE ringcast_%s %s\n"
			 "ringcast_%s %llu\n", m[i].name, m[i].help, m[i].name,
		    m[i].type, m[i].name, (unsigned long long)v[i]);
}

const char *hub_metrics(size_t *len)
{
	static __thread struct rc_stats per[HUB_MAX_WORKERS];
	unsigned nw = rc_server_workers(hub_server);
	struct text *buf = text_get();
	struct rc_stats total;
	const uint64_t *v = (const uint64_t *)&total;

	if (!buf)
		return NULL;
	if (nw > HUB_MAX_WORKERS)
		nw = HUB_MAX_WORKERS;
	rc_server_stats(hub_server, &total);
	for (unsigned w = 0; w < nw; w++)
		rc_server_worker_stats(hub_server, w, &per[w]);
	for (size_t i = 0; i < NMETRICS; i++) {
		const char *label = metric_info[i].label;

		if (metric_info[i].help)
			put(buf, "# HELP ringcast_%s %s\n# TYPE ringcast_%s %s\n",
			    metric_info[i].name, metric_info[i].help,
			    metric_info[i].name, metric_info[i].type);
		put(buf, "ringcast_%s%s%s%s %llu\n", metric_info[i].name,
		    label ? "{" : "", label ? label : "", label ? "}" : "",
		    (unsigned long long)v[i]);
		for (unsigned w = 0; !server_wide(i) && w < nw; w++)
			put(buf, "ringcast_%s{%s%sworker=\"%u\"} %llu\n",
			    metric_info[i].name, label ? label : "",
			    label ? "," : "", w,
			    (unsigned long long)((const uint64_t *)&per[w])[i]);
	}
	put_hub(buf, nw);
	put_service(buf);
	if (buf->failed)
		return NULL;
	*len = buf->len;
	return buf->p;
}
