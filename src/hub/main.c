/* SPDX-License-Identifier: MIT */
/* main.c -- the ringcast hub: flags, signals, start and stop. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "hub.h"

#define MAX_PROTOCOLS 16
#define MAX_LISTED 64		/* --allow-origin, --trusted-proxy entries */

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
"  GET /                   a chat page (pick a room, talk)\n"
"  GET /metrics            Prometheus text counters, on the admin listener\n"
"                          only (--admin-port; 404 on the public port)\n"
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
"                                and closed (1001) a half later (60; at\n"
"                                most 7200)\n"
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
"      --no-deflate              do not negotiate permessage-deflate\n"
"      --deflate-window-bits N   dedicated mode: each WebSocket keeps a\n"
"                                2^N-byte window each way (9..15; more\n"
"                                memory per connection, see\n"
"                                docs/DEFLATE.md). Default: shared mode,\n"
"                                no context kept, no memory per connection,\n"
"                                a room message compressed once\n"
"      --deflate-min-size BYTES  shorter messages go uncompressed (128)\n"
"      --deflate-level N         1..12 (dedicated: 1..9), default 4\n"
"\n"
"Rooms across hubs (docs/SCALEOUT.md):\n"
"      --nats URL[,URL...]       share rooms with every hub on these NATS\n"
"                                servers (nats://host:port); a room is\n"
"                                subscribed while it has members here.\n"
"                                NATS down: rooms stay local, retried\n"
"                                forever in the background\n"
"      --nats-prefix P           subject prefix (ringcast): hubs with the\n"
"                                same one share rooms\n"
"\n"
"Who may connect (0 turns a numeric limit off; absent: the default):\n"
"      --allow-origin ORIGIN     also admit browser upgrades from ORIGIN\n"
"                                (scheme://host[:port]; \"*\" any, \"null\"\n"
"                                the opaque origin; repeatable). By default\n"
"                                only the hub's own origin; others: 403\n"
"      --trusted-proxy CIDR      believe X-Forwarded-For/-Proto from these\n"
"                                peers (repeatable; e.g. 127.0.0.1/32)\n"
"      --max-conns-per-ip N      connections open at once from one address\n"
"                                (default 1024); over it: HTTP 429\n"
"      --conn-rate-per-ip N      new connections per second from one\n"
"                                address (default 256); over it: HTTP 429\n"
"      --msg-rate N              messages per second a WebSocket may send\n"
"                                (default 1000, at most 32767); over it:\n"
"                                close 1008\n"
"      --byte-rate BYTES         payload bytes per second a WebSocket may\n"
"                                send (default 8388608); over it: close 1008\n"
"      --max-rooms N             subscriptions per connection (default 128)\n"
"      --max-partial BYTES       bytes of partly received messages, all\n"
"                                connections together (default 268435456);\n"
"                                over it: close 1013\n"
"      --auth-secret-file FILE   HS256 tokens signed with the file's content\n"
"                                (less one trailing newline)\n"
"      --auth-secret SECRET      the same, from the command line: other\n"
"                                local users can read it (ps); prefer the file\n"
"      --auth-public-key FILE    RS256 (RSA) or ES256 (EC P-256) tokens, a\n"
"                                PEM public key\n"
"      --auth required|optional  with a key, a token is required (default)\n"
"                                to join (?token= or Authorization: Bearer);\n"
"                                optional: no token joins a room read-only\n"
"      --admin-port N|off        listener for /metrics and /health (default\n"
"                                9090; 0 any free port; off: none)\n"
"      --admin-host ADDR         its address (default 127.0.0.1)\n"
"\n"
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

/* A limit: 0 turns it off (RC_UNLIMITED), else 1..RC_UNLIMITED - 1. */
static bool parse_limit(const char *s, unsigned *out)
{
	unsigned long long v;

	if (!parse_num(s, RC_UNLIMITED - 1ull, &v))
		return false;
	*out = v ? (unsigned)v : RC_UNLIMITED;
	return true;
}

/* A size limit in bytes: 0 turns it off (RC_UNLIMITED_SIZE). */
static bool parse_size_limit(const char *s, size_t *out)
{
	unsigned long long v;

	if (!parse_num(s, 1ull << 50, &v))
		return false;
	*out = v ? (size_t)v : RC_UNLIMITED_SIZE;
	return true;
}

/* "*", "null", or scheme://host[:port] as a browser sends it: no path, no
   trailing '/' (an origin never has one, so such an entry would never
   match). */
static bool origin_ok(const char *s)
{
	const char *host;

	if (!strcmp(s, "*") || !strcmp(s, "null"))
		return true;
	if (!strncasecmp(s, "http://", 7))
		host = s + 7;
	else if (!strncasecmp(s, "https://", 8))
		host = s + 8;
	else
		return false;
	return *host && !strpbrk(host, "/?#@ \t\r\n");
}

/* An address, or an address/prefix length. */
static bool cidr_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	unsigned char a[16];
	unsigned long long bits;
	char addr[INET6_ADDRSTRLEN];
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	bool v4;

	if (n >= sizeof(addr))
		return false;
	memcpy(addr, s, n);
	addr[n] = '\0';
	v4 = inet_pton(AF_INET, addr, a) == 1;
	if (!v4 && inet_pton(AF_INET6, addr, a) != 1)
		return false;
	return !slash || parse_num(slash + 1, v4 ? 32 : 128, &bits);
}

/* The secret in @path, less one trailing newline, in a buffer the caller
   frees (after wiping it); NULL with errno set. */
static char *read_secret(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 65536, n;
	char *buf;
	int err;

	if (!f)
		return NULL;
	setvbuf(f, NULL, _IONBF, 0);	/* no copy left in stdio's buffer */
	buf = malloc(cap);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, cap, f);
	err = ferror(f) ? EIO : n == cap ? EFBIG : 0;
	fclose(f);
	if (err) {
		explicit_bzero(buf, n);
		free(buf);
		errno = err;
		return NULL;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	*len = n;
	return buf;
}

/* hub_auth from the flags; the secret is wiped from memory (and from
   the command line, where ps shows it) once the verifier has its copy.
   0, or the exit status after saying why. */
static int make_auth(char *secret_arg, const char *secret_file,
		     const char *pubkey, char *why, size_t cap)
{
	char *secret = secret_arg;
	size_t len = secret_arg ? strlen(secret_arg) : 0;

	if (secret_file) {
		secret = read_secret(secret_file, &len);
		if (!secret) {
			fprintf(stderr, "ringcast: --auth-secret-file %s: %s\n",
				secret_file, strerror(errno));
			return 2;
		}
		if (!len) {
			fprintf(stderr, "ringcast: --auth-secret-file %s is "
				"empty\n", secret_file);
			free(secret);
			return 2;
		}
	}
	hub_auth = hub_auth_new(secret, len, pubkey, why, cap);
	if (secret) {
		explicit_bzero(secret, len);
		if (secret_file)
			free(secret);
	}
	if (!hub_auth) {
		fprintf(stderr, "ringcast: auth: %s\n", why);
		return 2;
	}
	return 0;
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
	OPT_ALLOW_ORIGIN,
	OPT_TRUSTED_PROXY,
	OPT_MAX_CONNS_IP,
	OPT_CONN_RATE_IP,
	OPT_MSG_RATE,
	OPT_BYTE_RATE,
	OPT_MAX_ROOMS,
	OPT_MAX_PARTIAL,
	OPT_AUTH_SECRET,
	OPT_AUTH_SECRET_FILE,
	OPT_AUTH_PUBKEY,
	OPT_AUTH,
	OPT_ADMIN_PORT,
	OPT_ADMIN_HOST,
	OPT_NO_DEFLATE,
	OPT_DEFLATE_BITS,
	OPT_DEFLATE_MIN,
	OPT_DEFLATE_LEVEL,
	OPT_NATS,
	OPT_NATS_PREFIX,
};

/* The admin listener first: its /metrics reads the main server. Then the
   main server and the token verifier its handlers used. */
static void free_servers(struct rc_server *admin)
{
	rc_server_free(admin);
	rc_server_free(hub_server);
	hub_auth_free(hub_auth);
	hub_log_flush();
}

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
		{ "no-deflate", no_argument, NULL, OPT_NO_DEFLATE },
		{ "deflate-window-bits", required_argument, NULL,
		  OPT_DEFLATE_BITS },
		{ "deflate-min-size", required_argument, NULL,
		  OPT_DEFLATE_MIN },
		{ "deflate-level", required_argument, NULL, OPT_DEFLATE_LEVEL },
		{ "nats", required_argument, NULL, OPT_NATS },
		{ "nats-prefix", required_argument, NULL, OPT_NATS_PREFIX },
		{ "allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN },
		{ "trusted-proxy", required_argument, NULL, OPT_TRUSTED_PROXY },
		{ "max-conns-per-ip", required_argument, NULL, OPT_MAX_CONNS_IP },
		{ "conn-rate-per-ip", required_argument, NULL, OPT_CONN_RATE_IP },
		{ "msg-rate", required_argument, NULL, OPT_MSG_RATE },
		{ "byte-rate", required_argument, NULL, OPT_BYTE_RATE },
		{ "max-rooms", required_argument, NULL, OPT_MAX_ROOMS },
		{ "max-partial", required_argument, NULL, OPT_MAX_PARTIAL },
		{ "auth-secret", required_argument, NULL, OPT_AUTH_SECRET },
		{ "auth-secret-file", required_argument, NULL,
		  OPT_AUTH_SECRET_FILE },
		{ "auth-public-key", required_argument, NULL, OPT_AUTH_PUBKEY },
		{ "auth", required_argument, NULL, OPT_AUTH },
		{ "admin-port", required_argument, NULL, OPT_ADMIN_PORT },
		{ "admin-host", required_argument, NULL, OPT_ADMIN_HOST },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *protocols[MAX_PROTOCOLS];
	static struct rc_tls_cert certs[MAX_CERTS];
	static const char *origins[MAX_LISTED], *proxies[MAX_LISTED];
	size_t ncert = 0, nkey = 0;
	struct rc_config cfg = rc_config_default();
	struct rc_config admin_cfg = rc_config_default();
	struct rc_server *admin = NULL;
	const char *secret_file = NULL, *pubkey = NULL;
	char *secret_arg = NULL;
	const char *auth_mode = NULL;
	bool admin_on = true;
	unsigned long long v;
	pthread_t sig_thread;
	char why[256];
	sigset_t sigs;
	int opt, ret, longi = -1;

	/* The admin listener: /metrics and /health for whoever watches the
	   hub, loopback by default. One worker, unpinned, a small receive
	   pool and few connections: it must cost next to nothing. */
	admin_cfg.host = "127.0.0.1";
	admin_cfg.port = 9090;
	admin_cfg.threads = 1;
	admin_cfg.pin_threads = false;
	admin_cfg.recv_buffers = 8;
	admin_cfg.recv_buffer_size = 16384;
	admin_cfg.max_connections = 64;
	/* Its scrapers are few and trusted, and poll as they like; 64
	   connections bound it. */
	admin_cfg.max_conns_per_ip = RC_UNLIMITED;
	admin_cfg.conn_rate_per_ip = RC_UNLIMITED;

	while ((opt = getopt_long(argc, argv, "H:p:t:Vh", opts, &longi)) !=
	       -1) {
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
			ok = parse_num(optarg, HUB_MAX_WORKERS, &v) && v > 0;
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
			ok = parse_num(optarg, 7200, &v) && v > 0;
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
		case OPT_NO_DEFLATE:
			cfg.deflate_window_bits = RC_DEFLATE_OFF;
			break;
		case OPT_DEFLATE_BITS:
			ok = parse_num(optarg, 15, &v) && v >= 9;
			cfg.deflate_window_bits = (int)v;
			break;
		case OPT_DEFLATE_MIN:
			ok = parse_num(optarg, 1ull << 32, &v) && v;
			cfg.deflate_min_size = (size_t)v;
			break;
		case OPT_DEFLATE_LEVEL:
			ok = parse_num(optarg, 12, &v) && v;
			cfg.deflate_level = (int)v;
			break;
		case OPT_NATS:
			ok = *optarg;
			cfg.nats_urls = optarg;
			break;
		case OPT_NATS_PREFIX:
			ok = *optarg;
			cfg.nats_prefix = optarg;
			break;
		case OPT_ALLOW_ORIGIN:
			ok = cfg.nallow_origins < MAX_LISTED &&
			     origin_ok(optarg);
			if (ok)
				origins[cfg.nallow_origins++] = optarg;
			cfg.allow_origins = origins;
			break;
		case OPT_TRUSTED_PROXY:
			ok = cfg.ntrusted_proxies < MAX_LISTED &&
			     cidr_ok(optarg);
			if (ok)
				proxies[cfg.ntrusted_proxies++] = optarg;
			cfg.trusted_proxies = proxies;
			break;
		case OPT_MAX_CONNS_IP:
			ok = parse_limit(optarg, &cfg.max_conns_per_ip);
			break;
		case OPT_CONN_RATE_IP:
			ok = parse_limit(optarg, &cfg.conn_rate_per_ip);
			break;
		case OPT_MSG_RATE:
			ok = parse_limit(optarg, &cfg.msg_rate);
			break;
		case OPT_BYTE_RATE:
			ok = parse_size_limit(optarg, &cfg.byte_rate);
			break;
		case OPT_MAX_ROOMS:
			ok = parse_limit(optarg, &cfg.max_subscriptions);
			break;
		case OPT_MAX_PARTIAL:
			ok = parse_size_limit(optarg, &cfg.max_partial_total);
			break;
		case OPT_AUTH_SECRET:
			ok = *optarg;
			secret_arg = optarg;
			break;
		case OPT_AUTH_SECRET_FILE:
			secret_file = optarg;
			break;
		case OPT_AUTH_PUBKEY:
			pubkey = optarg;
			break;
		case OPT_AUTH:
			ok = !strcmp(optarg, "required") ||
			     !strcmp(optarg, "optional");
			auth_mode = optarg;
			break;
		case OPT_ADMIN_PORT:
			admin_on = strcmp(optarg, "off");
			if (admin_on) {
				ok = parse_num(optarg, 65535, &v);
				admin_cfg.port = (uint16_t)v;
			}
			break;
		case OPT_ADMIN_HOST:
			admin_cfg.host = optarg;
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
			/* The option as named, "--name" or "-c" (argv holds
			   only the value when it came as its own argument). */
			if (longi >= 0)
				fprintf(stderr, "ringcast: bad value for --%s: "
					"%s\n", opts[longi].name, optarg);
			else
				fprintf(stderr, "ringcast: bad value for -%c: "
					"%s\n", opt, optarg);
			return 2;
		}
		longi = -1;	/* getopt_long() sets it for long ones only */
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
	if (secret_arg && secret_file) {
		fprintf(stderr, "ringcast: --auth-secret or --auth-secret-file, "
			"not both\n");
		return 2;
	}
	if (auth_mode && !secret_arg && !secret_file && !pubkey) {
		fprintf(stderr, "ringcast: --auth %s needs a key: "
			"--auth-secret-file, --auth-secret or "
			"--auth-public-key\n", auth_mode);
		return 2;
	}
	cfg.tls_certs = certs;
	cfg.ntls_certs = ncert;
	if (rc_tls_check(&cfg, why, sizeof(why))) {
		fprintf(stderr, "ringcast: TLS: %s\n", why);
		return 2;
	}
	if (secret_arg || secret_file || pubkey) {
		ret = make_auth(secret_arg, secret_file, pubkey, why,
				sizeof(why));
		if (ret)
			return ret;
		hub_auth_optional = auth_mode && !strcmp(auth_mode, "optional");
	}
	hub_max_message = cfg.max_message;
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
			"that is not a token, an --allow-origin or "
			"--trusted-proxy refused, --host too long, or a --nats "
			"URL or --nats-prefix libnats cannot use)\n");
		return 2;
	}
	if (!hub_server) {
		fprintf(stderr, "ringcast: cannot listen on %s:%u: %s\n",
			cfg.host, cfg.port, strerror(errno));
		return 1;
	}
	if (admin_on) {
		admin = rc_server_new(&admin_cfg, &hub_admin_handlers, NULL);
		if (!admin) {
			fprintf(stderr, "ringcast: cannot listen on %s:%u for "
				"the admin listener (--admin-port, "
				"--admin-host): %s\n", admin_cfg.host,
				admin_cfg.port, strerror(errno));
			rc_server_free(hub_server);
			hub_auth_free(hub_auth);
			return 1;
		}
	}
	ret = rc_server_start(hub_server);
	if (!ret && admin)
		ret = rc_server_start(admin);
	if (ret) {
		fprintf(stderr, "ringcast: cannot start workers: %s\n",
			strerror(-ret));
		free_servers(admin);
		return 1;
	}
	printf("ringcast %s listening on %s:%u (%s%u workers, simd %s)",
	       RINGCAST_VERSION, cfg.host, rc_server_port(hub_server),
	       ncert && !rc_server_tls_port(hub_server) ? "tls, " : "",
	       cfg.threads, rc_simd_name());
	if (rc_server_tls_port(hub_server))
		printf(", tls on %s:%u", cfg.host,
		       rc_server_tls_port(hub_server));
	if (cfg.deflate_window_bits == RC_DEFLATE_OFF)
		printf(", no deflate");
	else if (cfg.deflate_window_bits)
		printf(", deflate windows of 2^%d", cfg.deflate_window_bits);
	else
		printf(", deflate shared");
	if (cfg.nats_urls)
		printf(", nats %s", cfg.nats_urls);
	printf("\n");
	if (admin)
		printf("ringcast: admin on %s:%u\n", admin_cfg.host,
		       rc_server_port(admin));
	fflush(stdout);
	/* The signals go to a thread of their own, so that this one can
	   wait for the server: it also ends by itself when a worker's ring
	   fails. */
	ret = -pthread_create(&sig_thread, NULL, wait_signal, &sigs);
	if (ret) {
		rc_server_stop(hub_server);
		rc_server_run(hub_server);
		free_servers(admin);
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
	free_servers(admin);
	return ret ? 1 : 0;
}
