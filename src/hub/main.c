/* SPDX-License-Identifier: MIT */
/* main.c -- the ringcast hub: flags, signals, start and stop. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

#define MAX_PROTOCOLS 16
#define MAX_WORKERS 64

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
"      --max-message BYTES       largest message (default 16777216, at most\n"
"                                4294901760); over it: close 1009\n"
"      --max-head BYTES          largest request head (default 8192);\n"
"                                over it: HTTP 431\n"
"      --max-headers N           most header fields in a request (default\n"
"                                128); over it: HTTP 431\n"
"      --max-backpressure BYTES  queued output per connection, bookkeeping\n"
"                                included (default 1048576): past it,\n"
"                                reading from it pauses (pipelined HTTP\n"
"                                requests wait) and room messages follow\n"
"                                --slow-policy\n"
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
"      --subprotocol NAME        a subprotocol to accept (a token;\n"
"                                repeatable, in order of preference)\n"
"      --tls-cert FILE --tls-key FILE\n"
"                                a PEM certificate chain and its key: the\n"
"                                listener speaks TLS 1.2/1.3 (wss://,\n"
"                                https://). Repeatable pairs: the first is\n"
"                                the default, the others are chosen by SNI\n"
"      --tls-port N              TLS on an extra listener at N instead (0:\n"
"                                any free port); --port stays plain\n"
"      --tls-client-ca FILE      require client certificates signed by\n"
"                                these CAs (mTLS)\n"
"  -V, --version                 print version and SIMD kernels, exit\n"
"  -h, --help                    this text\n"
"\n"
"Environment: RINGCAST_SIMD=scalar|avx2|avx512 forces the payload kernels.\n"
"SIGINT/SIGTERM: every WebSocket gets close 1001, output drains, exit 0.\n"
"SIGHUP: reload the TLS certificates (open connections keep theirs; if one\n"
"fails to load, the ones in force stay and the error is printed).\n");
}

/* Set by main once the server has stopped: the next signal only ends the
   signal thread. */
static atomic_bool exiting;

/* SIGHUP: read the TLS certificates again; say what happened. */
static void reload(void)
{
	char why[512];
	int ret = rc_server_tls_reload(hub_server, why, sizeof(why));

	if (!ret)
		fprintf(stderr, "ringcast: SIGHUP: TLS certificates reloaded\n");
	else if (ret == -ENOTSUP)
		fprintf(stderr, "ringcast: SIGHUP: nothing to reload (no TLS)\n");
	else
		fprintf(stderr, "ringcast: SIGHUP: TLS reload failed, the "
			"certificates in force stay: %s\n", why);
}

/* SIGHUP: reload; SIGINT/SIGTERM: stop the server (rc_server_run() in
   main returns). */
static void *wait_signal(void *arg)
{
	const sigset_t *sigs = arg;
	int sig;

	for (;;) {
		if (sigwait(sigs, &sig) || atomic_load(&exiting))
			return NULL;
		if (sig != SIGHUP)
			break;
		reload();
	}
	fprintf(stderr, "ringcast: %s, closing connections\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc_server_stop(hub_server);
	return NULL;
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
	OPT_MAX_HEADERS,
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
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_PORT,
	OPT_TLS_CLIENT_CA,
};

/* --tls-cert/--tls-key pairs, in the order given. */
#define MAX_CERTS 16

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
		{ "max-headers", required_argument, NULL, OPT_MAX_HEADERS },
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
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "tls-port", required_argument, NULL, OPT_TLS_PORT },
		{ "tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *protocols[MAX_PROTOCOLS];
	static struct rc_tls_cert certs[MAX_CERTS];
	size_t ncert = 0, nkey = 0;
	struct rc_config cfg = rc_config_default();
	unsigned long long v;
	pthread_t sig_thread;
	char why[256];
	sigset_t sigs;
	int opt, ret;

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
			ok = parse_num(optarg, RC_MAX_MESSAGE_LIMIT, &v) &&
			     v > 0;
			cfg.max_message = (size_t)v;
			break;
		case OPT_MAX_HEAD:
			ok = parse_num(optarg, 1 << 20, &v) && v >= 256;
			cfg.max_head = (size_t)v;
			break;
		case OPT_MAX_HEADERS:
			ok = parse_num(optarg, 65536, &v) && v >= 8;
			cfg.max_headers = (unsigned)v;
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
			hub_echo_self = false;
			break;
		case OPT_WS_ROUTE:
			ok = hub_add_route(optarg);
			break;
		case OPT_RECV_BUFFERS:
			ok = parse_num(optarg, 32768, &v) && v > 0;
			cfg.recv_buffers = (unsigned)v;
			break;
		case OPT_RECV_BUFFER_SIZE:
			ok = parse_num(optarg, 1 << 24, &v) && v >= 64;
			cfg.recv_buffer_size = (unsigned)v;
			break;
		case OPT_TLS_CERT:
			ok = ncert < MAX_CERTS;
			if (ok)
				certs[ncert++].cert_file = optarg;
			break;
		case OPT_TLS_KEY:
			ok = nkey < MAX_CERTS;
			if (ok)
				certs[nkey++].key_file = optarg;
			break;
		case OPT_TLS_PORT:
			/* 0: any free port (-1 in rc_config) */
			ok = parse_num(optarg, 65535, &v);
			cfg.tls_port = v ? (int)v : -1;
			break;
		case OPT_TLS_CLIENT_CA:
			cfg.tls_client_ca = optarg;
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
	if (ncert != nkey || (!ncert && (cfg.tls_port ||
					  cfg.tls_client_ca))) {
		fprintf(stderr, "ringcast: --tls-cert and --tls-key come in "
			"pairs; --tls-port and --tls-client-ca need them\n");
		return 2;
	}
	cfg.tls_certs = certs;
	cfg.ntls_certs = ncert;
	if (rc_tls_check(&cfg, why, sizeof(why))) {
		fprintf(stderr, "ringcast: TLS: %s\n", why);
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
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	hub_server = rc_server_new(&cfg, &hub_handlers, NULL);
	if (!hub_server && errno == EINVAL) {
		fprintf(stderr, "ringcast: bad configuration (a --subprotocol "
			"that is not a token, or --host too long)\n");
		return 2;
	}
	if (!hub_server) {
		fprintf(stderr, "ringcast: cannot listen on %s:%u: %s\n",
			cfg.host, cfg.port, strerror(errno));
		return 1;
	}
	ret = rc_server_start(hub_server);
	if (ret) {
		fprintf(stderr, "ringcast: cannot start workers: %s\n",
			strerror(-ret));
		rc_server_free(hub_server);
		return 1;
	}
	printf("ringcast %s listening on %s:%u (%s%u workers, simd %s)",
	       RINGCAST_VERSION, cfg.host, rc_server_port(hub_server),
	       ncert && !rc_server_tls_port(hub_server) ? "tls, " : "",
	       cfg.threads, rc_simd_name());
	if (rc_server_tls_port(hub_server))
		printf(", tls on %s:%u", cfg.host,
		       rc_server_tls_port(hub_server));
	printf("\n");
	fflush(stdout);
	/* The signals go to a thread of their own, so that this one can
	   wait for the server: it also ends by itself when a worker's ring
	   fails. */
	ret = -pthread_create(&sig_thread, NULL, wait_signal, &sigs);
	if (ret) {
		rc_server_stop(hub_server);
		rc_server_run(hub_server);
		rc_server_free(hub_server);
		fprintf(stderr, "ringcast: %s\n", strerror(-ret));
		return 1;
	}
	ret = rc_server_run(hub_server);
	/* The signal thread may be inside rc_server_stop(): let it finish
	   before the server is freed. */
	atomic_store(&exiting, true);
	pthread_kill(sig_thread, SIGTERM);
	pthread_join(sig_thread, NULL);
	if (ret)
		fprintf(stderr, "ringcast: stopped on an error: %s\n",
			strerror(-ret));
	rc_server_free(hub_server);
	return ret ? 1 : 0;
}
