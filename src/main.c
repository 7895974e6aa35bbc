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
	ROUTE_ECHO,		/* /echo: send each message back */
	ROUTE_TOPIC,		/* /ws/<topic>: a chat room */
};

/* Per-connection hub state: the route and, for a room, its topic (the raw
   path bytes after "/ws/"). Allocated in on_upgrade, freed in on_close. */
struct hub_conn {
	enum route route;
	bool shared;		/* a --ws-route entry: not freed on close */
	uint16_t topic_len;
	char topic[];
};

/* --ws-route PATH=echo|room:NAME: upgrades on PATH (exact match) go to echo
   or to room NAME; checked before /echo and /ws/<room>. */
#define MAX_ROUTES 16
static struct {
	const char *path;
	struct hub_conn *to;
} routes[MAX_ROUTES];
static unsigned nroutes;

static struct hub_conn echo_route = { .route = ROUTE_ECHO, .shared = true };
static bool echo_self = true;

/* src/hub/chat.html, embedded by cmake/embed.cmake. */
extern const unsigned char rc_hub_chat_html[];
extern const size_t rc_hub_chat_html_len;

static struct rc_server *server;

#ifdef RC_HUB_JEMALLOC
/* jemalloc's start-up options (read before main; MALLOC_CONF overrides):
   freed pages go back to the system after about a second instead of ten,
   and a background thread purges them, so an idle hub returns them too.
   Not at once (dirty_decay_ms:0): that halved 16 KiB echo (every large
   free became an madvise). What jemalloc keeps is about a second of the
   hub's churn: 58-72 MB under tests/interop/test_faults.py's publisher
   flood, whose memory in use stays at 11 MB. */
const char *malloc_conf =
	"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
#endif

static bool path_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(p, lit, n);
}

static int hub_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	size_t n;
	const char *p = rc_request_path(req, &n);
	struct hub_conn *hc;

	for (unsigned i = 0; i < nroutes; i++)
		if (path_is(p, n, routes[i].path)) {
			rc_conn_set_data(c, routes[i].to);
			return 0;
		}
	if (path_is(p, n, "/echo")) {
		rc_conn_set_data(c, &echo_route);
		return 0;
	}
	if (n <= 4 || memcmp(p, "/ws/", 4) || n - 4 > RC_TOPIC_MAX)
		return 404;
	hc = malloc(sizeof(*hc) + n - 4);
	if (!hc)
		return 503;
	hc->route = ROUTE_TOPIC;
	hc->shared = false;
	hc->topic_len = (uint16_t)(n - 4);
	memcpy(hc->topic, p + 4, n - 4);
	rc_conn_set_data(c, hc);
	return 0;
}

static void hub_open(struct rc_conn *c)
{
	struct hub_conn *hc = rc_conn_data(c);

	if (hc->route == ROUTE_TOPIC &&
	    rc_subscribe(c, hc->topic, hc->topic_len))
		rc_close(c, RC_CLOSE_INTERNAL, "cannot subscribe");
}

static void hub_message(struct rc_conn *c, const void *data, size_t len,
			enum rc_opcode op)
{
	struct hub_conn *hc = rc_conn_data(c);

	int ret;

	if (hc->route == ROUTE_ECHO)
		ret = rc_send(c, data, len, op);	/* fails c itself */
	else if (echo_self)
		ret = rc_publish(rc_conn_server(c), hc->topic, hc->topic_len,
				 data, len, op);
	else
		ret = rc_conn_publish(c, hc->topic, hc->topic_len, data, len,
				      op);
	/* A room message that could not be published: its sender must not
	   think it was. */
	if (ret == -ENOMEM && hc->route == ROUTE_TOPIC)
		rc_close(c, RC_CLOSE_INTERNAL, "out of memory");
}

static void hub_close(struct rc_conn *c, uint16_t code)
{
	struct hub_conn *hc = rc_conn_data(c);

	(void)code;
	if (hc && !hc->shared)
		free(hc);
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
	{ "published_total", "counter", "Messages published (framed once each)." },
	{ "deliveries_total", "counter", "Published messages queued to subscribers." },
	{ "dropped_total", "counter", "Published messages dropped for slow subscribers." },
	{ "slow_closes_total", "counter", "Slow subscribers closed with 1008." },
	{ "recv_waits_total", "counter", "Reads that waited a turn for a free receive buffer." },
	{ "pings_sent_total", "counter", "Pings sent to idle WebSockets." },
	{ "alloc_failures_total", "counter", "Failed allocations (the connection closes with 1011)." },
};

_Static_assert(sizeof(metric_info) / sizeof(metric_info[0]) ==
	       sizeof(struct rc_stats) / sizeof(uint64_t),
	       "a metric for every counter");

#define MAX_WORKERS 64

/* Each metric: the server total, then one series per worker. */
static size_t metrics(char *buf, size_t cap)
{
	static __thread struct rc_stats per[MAX_WORKERS];
	unsigned nw = rc_server_workers(server);
	struct rc_stats total;
	const uint64_t *v = (const uint64_t *)&total;
	size_t n = 0;

	rc_server_stats(server, &total);
	for (unsigned w = 0; w < nw; w++)
		rc_server_worker_stats(server, w, &per[w]);
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
		for (unsigned w = 0; w < nw; w++)
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0,
					      "ringcast_%s{worker=\"%u\"} %llu\n",
					      metric_info[i].name, w,
					      (unsigned long long)
					      ((const uint64_t *)&per[w])[i]);
	}
	return n < cap ? n : cap - 1;
}

static void hub_http(struct rc_conn *c, const struct rc_request *req,
		     struct rc_response *res)
{
	/* on_http runs on a worker; each worker has its own buffer, and the
	   server copies the body before the next request on this worker. */
	static __thread char buf[65536];
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
		res->body = rc_hub_chat_html;
		res->body_len = rc_hub_chat_html_len;
	}
}

/* "PATH=echo" or "PATH=room:NAME"; PATH starts with '/'. */
static bool add_route(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct hub_conn *hc;
	size_t tlen = 0;
	const char *to;

	if (!eq || arg[0] != '/' || nroutes == MAX_ROUTES)
		return false;
	to = eq + 1;
	if (!strncmp(to, "room:", 5)) {
		tlen = strlen(to + 5);
		if (!tlen || tlen > RC_TOPIC_MAX)
			return false;
	} else if (strcmp(to, "echo")) {
		return false;
	}
	hc = malloc(sizeof(*hc) + tlen);
	routes[nroutes].path = strndup(arg, (size_t)(eq - arg));
	if (!hc || !routes[nroutes].path) {
		free(hc);
		return false;
	}
	hc->route = tlen ? ROUTE_TOPIC : ROUTE_ECHO;
	hc->shared = true;
	hc->topic_len = (uint16_t)tlen;
	memcpy(hc->topic, to + 5 * (tlen > 0), tlen);
	routes[nroutes++].to = hc;
	return true;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: ringcast [OPTIONS]\n"
"WebSocket hub on io_uring.\n"
"\n"
"Endpoints:\n"
"  ws://HOST:PORT/echo     echoes every message with its opcode\n"
"  ws://HOST:PORT/ws/ROOM  a chat room: subscribes to topic ROOM, and each\n"
"                          message sent is published to everyone in ROOM\n"
"  GET /health             200 \"ok\"\n"
"  GET /metrics            Prometheus text format counters\n"
"  GET /                   a chat page (pick a room, talk)\n"
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
"      --max-backpressure BYTES  queued output per connection (default\n"
"                                1048576): past it, reading from it pauses\n"
"                                and room messages follow --slow-policy\n"
"      --slow-policy close|drop  a room member over --max-backpressure is\n"
"                                closed with 1008 (close, default) or loses\n"
"                                its oldest queued room messages (drop)\n"
"      --no-echo-self            room messages are not sent back to their\n"
"                                sender\n"
"      --handshake-timeout SEC   request head must arrive within (10)\n"
"      --idle-timeout SEC        HTTP keep-alive idle limit; a silent\n"
"                                WebSocket is pinged after 1/2 to 1 of it\n"
"                                and closed (1001) a half later (60)\n"
"      --close-timeout SEC       wait for the peer's close frame (5)\n"
"      --ws-route PATH=echo|room:NAME\n"
"                                WebSocket upgrades on PATH (exact) echo or\n"
"                                join room NAME (repeatable; e.g. /=echo for\n"
"                                load tools that upgrade on /; a plain GET\n"
"                                of / still serves the chat page)\n"
"      --recv-buffers N          receive pool per worker: N buffers, shared\n"
"      --recv-buffer-size BYTES  by all connections (default: 64 x 64 KiB\n"
"                                on kernels with incremental buffers, else\n"
"                                512 x 16 KiB); when all are busy, reads\n"
"                                wait a turn (recv_waits_total)\n"
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
	OPT_SLOW_POLICY,
	OPT_NO_ECHO_SELF,
	OPT_WS_ROUTE,
	OPT_RECV_BUFFERS,
	OPT_RECV_BUFFER_SIZE,
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
		{ "slow-policy", required_argument, NULL, OPT_SLOW_POLICY },
		{ "no-echo-self", no_argument, NULL, OPT_NO_ECHO_SELF },
		{ "ws-route", required_argument, NULL, OPT_WS_ROUTE },
		{ "recv-buffers", required_argument, NULL, OPT_RECV_BUFFERS },
		{ "recv-buffer-size", required_argument, NULL,
		  OPT_RECV_BUFFER_SIZE },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *protocols[MAX_PROTOCOLS];
	struct rc_config cfg = rc_config_default();
	struct rc_handlers h = {
		.on_upgrade = hub_upgrade,
		.on_http = hub_http,
		.on_open = hub_open,
		.on_message = hub_message,
		.on_close = hub_close,
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
			ok = parse_num(optarg, MAX_WORKERS, &v) && v > 0;
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
		case OPT_SLOW_POLICY:
			ok = !strcmp(optarg, "close") || !strcmp(optarg, "drop");
			cfg.slow_policy = !strcmp(optarg, "drop") ? RC_SLOW_DROP :
								   RC_SLOW_CLOSE;
			break;
		case OPT_NO_ECHO_SELF:
			echo_self = false;
			break;
		case OPT_WS_ROUTE:
			ok = add_route(optarg);
			break;
		case OPT_RECV_BUFFERS:
			ok = parse_num(optarg, 32768, &v) && v > 0;
			cfg.recv_buffers = (unsigned)v;
			break;
		case OPT_RECV_BUFFER_SIZE:
			ok = parse_num(optarg, 1 << 24, &v) && v >= 64;
			cfg.recv_buffer_size = (unsigned)v;
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
