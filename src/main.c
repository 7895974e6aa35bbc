/* SPDX-License-Identifier: MIT */
/* main.c -- the ringcast hub: flags, endpoints, metrics, signals. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringcast.h"

#define MAX_PROTOCOLS 16

/* What an upgraded connection does; kept in rc_conn_set_data(). */
enum route {
	ROUTE_NONE = 0,
	ROUTE_ECHO,
};

static const char index_html[] =
	"<!doctype html>\n<html><head><meta charset=\"utf-8\">"
	"<title>ringcast</title></head>\n<body>\n<h1>ringcast</h1>\n"
	"<p>WebSocket echo: <code>ws://HOST:PORT/echo</code><br>\n"
	"Health: <a href=\"/health\">/health</a><br>\n"
	"Metrics: <a href=\"/metrics\">/metrics</a></p>\n</body></html>\n";

static struct rc_server *server;

static bool path_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(p, lit, n);
}

static int hub_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	size_t n;
	const char *p = rc_request_path(req, &n);

	if (path_is(p, n, "/echo")) {
		rc_conn_set_data(c, (void *)(uintptr_t)ROUTE_ECHO);
		return 0;
	}
	return 404;
}

static void hub_message(struct rc_conn *c, const void *data, size_t len,
			enum rc_opcode op)
{
	if ((uintptr_t)rc_conn_data(c) == ROUTE_ECHO)
		rc_send(c, data, len, op);
}

/* Prometheus text exposition; one entry per field of struct rc_stats, in
   order (the struct is all uint64_t, read here as an array). */
static const struct {
	const char *name, *type, *help;
} metric_info[] = {
	{ "connections_accepted_total", "counter", "TCP connections accepted." },
	{ "connections_open", "gauge", "TCP connections open." },
	{ "websockets_open", "gauge", "Upgraded connections open." },
	{ "connections_refused_total", "counter", "Connections refused over the limit (503)." },
	{ "http_requests_total", "counter", "Plain HTTP requests answered." },
	{ "http_errors_total", "counter", "HTTP error responses sent." },
	{ "handshakes_total", "counter", "WebSocket upgrades completed." },
	{ "messages_in_total", "counter", "Data messages received." },
	{ "bytes_in_total", "counter", "Payload bytes received." },
	{ "messages_out_total", "counter", "Data messages sent." },
	{ "bytes_out_total", "counter", "Payload bytes sent." },
	{ "protocol_errors_total", "counter", "Connections failed with close 1002." },
	{ "invalid_utf8_total", "counter", "Connections failed with close 1007." },
	{ "too_big_total", "counter", "Connections failed with close 1009." },
	{ "timeouts_total", "counter", "Handshake, idle and close timeouts." },
	{ "backpressure_pauses_total", "counter", "Reads paused for slow readers." },
};

_Static_assert(sizeof(metric_info) / sizeof(metric_info[0]) ==
	       sizeof(struct rc_stats) / sizeof(uint64_t),
	       "a metric for every counter");

static size_t metrics(char *buf, size_t cap)
{
	struct rc_stats st;
	const uint64_t *v = (const uint64_t *)&st;
	size_t n = 0;

	rc_server_stats(server, &st);
	for (size_t i = 0; i < sizeof(metric_info) / sizeof(metric_info[0]);
	     i++) {
		n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0,
				      "# HELP ringcast_%s %s\n"
				      "# TYPE ringcast_%s %s\n"
				      "ringcast_%s %llu\n",
				      metric_info[i].name, metric_info[i].help,
				      metric_info[i].name, metric_info[i].type,
				      metric_info[i].name,
				      (unsigned long long)v[i]);
	}
	return n < cap ? n : cap - 1;
}

static void hub_http(struct rc_conn *c, const struct rc_request *req,
		     struct rc_response *res)
{
	/* on_http runs on a worker; each worker has its own buffer, and the
	   server copies the body before the next request on this worker. */
	static __thread char buf[8192];
	size_t n;
	const char *p = rc_request_path(req, &n);

	(void)c;
	if (path_is(p, n, "/health")) {
		res->status = 200;
		res->body = "ok\n";
		res->body_len = 3;
	} else if (path_is(p, n, "/metrics")) {
		res->status = 200;
		res->content_type = "text/plain; version=0.0.4";
		res->body_len = metrics(buf, sizeof(buf));
		res->body = buf;
	} else if (path_is(p, n, "/")) {
		res->status = 200;
		res->content_type = "text/html; charset=utf-8";
		res->body = index_html;
		res->body_len = sizeof(index_html) - 1;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: ringcast [OPTIONS]\n"
"WebSocket hub on io_uring.\n"
"\n"
"Endpoints:\n"
"  ws://HOST:PORT/echo     echoes every message with its opcode\n"
"  GET /health             200 \"ok\"\n"
"  GET /metrics            Prometheus text format counters\n"
"  GET /                   a small index page\n"
"\n"
"Options:\n"
"  -H, --host ADDR               listen address (default 0.0.0.0)\n"
"  -p, --port N                  listen port (default 8080; 0 = any free)\n"
"  -t, --threads N               worker threads, one io_uring each\n"
"                                (default: online CPUs)\n"
"      --no-pin                  do not pin worker i to CPU i\n"
"      --max-connections N       total connections (default 100000);\n"
"                                over it: HTTP 503\n"
"      --max-message BYTES       largest message (default 16777216);\n"
"                                over it: close 1009\n"
"      --max-head BYTES          largest request head (default 8192);\n"
"                                over it: HTTP 431\n"
"      --max-backpressure BYTES  queued output per connection before\n"
"                                reading from it pauses (default 1048576)\n"
"      --handshake-timeout SEC   request head must arrive within (10)\n"
"      --idle-timeout SEC        keep-alive HTTP idle limit (60)\n"
"      --close-timeout SEC       wait for the peer's close frame (5)\n"
"      --subprotocol NAME        a subprotocol to accept (repeatable,\n"
"                                in order of preference)\n"
"  -V, --version                 print version and SIMD kernels, exit\n"
"  -h, --help                    this text\n"
"\n"
"Environment: RINGCAST_SIMD=scalar|avx2|avx512 forces the payload kernels.\n"
"SIGINT/SIGTERM: every WebSocket gets close 1001, output drains, exit 0.\n");
}

static bool parse_num(const char *s, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max || *s == '-')
		return false;
	*out = v;
	return true;
}

enum {
	OPT_NO_PIN = 256,
	OPT_MAX_CONN,
	OPT_MAX_MSG,
	OPT_MAX_HEAD,
	OPT_MAX_BP,
	OPT_HS_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_CLOSE_TIMEOUT,
	OPT_SUBPROTO,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "no-pin", no_argument, NULL, OPT_NO_PIN },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
		{ "max-message", required_argument, NULL, OPT_MAX_MSG },
		{ "max-head", required_argument, NULL, OPT_MAX_HEAD },
		{ "max-backpressure", required_argument, NULL, OPT_MAX_BP },
		{ "handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
		{ "close-timeout", required_argument, NULL, OPT_CLOSE_TIMEOUT },
		{ "subprotocol", required_argument, NULL, OPT_SUBPROTO },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *protocols[MAX_PROTOCOLS];
	struct rc_config cfg = rc_config_default();
	struct rc_handlers h = {
		.on_upgrade = hub_upgrade,
		.on_http = hub_http,
		.on_message = hub_message,
	};
	unsigned long long v;
	char why[256];
	sigset_t sigs;
	int opt, sig, ret;

	while ((opt = getopt_long(argc, argv, "H:p:t:Vh", opts, NULL)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'H':
			cfg.host = optarg;
			break;
		case 'p':
			ok = parse_num(optarg, 65535, &v);
			cfg.port = (uint16_t)v;
			break;
		case 't':
			ok = parse_num(optarg, 1024, &v) && v > 0;
			cfg.threads = (unsigned)v;
			break;
		case OPT_NO_PIN:
			cfg.pin_threads = false;
			break;
		case OPT_MAX_CONN:
			ok = parse_num(optarg, 10000000, &v) && v > 0;
			cfg.max_connections = (unsigned)v;
			break;
		case OPT_MAX_MSG:
			ok = parse_num(optarg, 1ull << 31, &v) && v > 0;
			cfg.max_message = (size_t)v;
			break;
		case OPT_MAX_HEAD:
			ok = parse_num(optarg, 1 << 20, &v) && v >= 256;
			cfg.max_head = (size_t)v;
			break;
		case OPT_MAX_BP:
			ok = parse_num(optarg, 1ull << 34, &v) && v > 0;
			cfg.max_backpressure = (size_t)v;
			break;
		case OPT_HS_TIMEOUT:
			ok = parse_num(optarg, 86400, &v) && v > 0;
			cfg.handshake_timeout_ms = (unsigned)v * 1000;
			break;
		case OPT_IDLE_TIMEOUT:
			ok = parse_num(optarg, 86400, &v) && v > 0;
			cfg.idle_timeout_ms = (unsigned)v * 1000;
			break;
		case OPT_CLOSE_TIMEOUT:
			ok = parse_num(optarg, 86400, &v) && v > 0;
			cfg.close_timeout_ms = (unsigned)v * 1000;
			break;
		case OPT_SUBPROTO:
			ok = cfg.nsubprotocols < MAX_PROTOCOLS;
			protocols[cfg.nsubprotocols++] = optarg;
			cfg.subprotocols = protocols;
			break;
		case 'V':
			printf("ringcast %s (simd: %s)\n", RINGCAST_VERSION,
			       rc_simd_name());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "ringcast: bad value for %s: %s\n",
				argv[optind - 1], optarg);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringcast: unexpected argument: %s\n",
			argv[optind]);
		return 2;
	}
	ret = rc_kernel_check(why, sizeof(why));
	if (ret) {
		fprintf(stderr, "ringcast: %s\n", why);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop signals before the workers exist, so they inherit
	   the mask and only sigwait() below takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	server = rc_server_new(&cfg, &h, NULL);
	if (!server) {
		fprintf(stderr, "ringcast: cannot listen on %s:%u: %s\n",
			cfg.host, cfg.port, strerror(errno));
		return 1;
	}
	ret = rc_server_start(server);
	if (ret) {
		fprintf(stderr, "ringcast: cannot start workers: %s\n",
			strerror(-ret));
		rc_server_free(server);
		return 1;
	}
	printf("ringcast %s listening on %s:%u (%u workers, simd %s)\n",
	       RINGCAST_VERSION, cfg.host, rc_server_port(server), cfg.threads,
	       rc_simd_name());
	fflush(stdout);
	sigwait(&sigs, &sig);
	fprintf(stderr, "ringcast: %s, closing connections\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc_server_stop(server);
	ret = rc_server_run(server);
	rc_server_free(server);
	return ret ? 1 : 0;
}
