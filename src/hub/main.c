/* SPDX-License-Identifier: MIT */
/* main.c -- the ringcast hub: flags, signals, start and stop. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "build_commit.h"
#include "config.h"
#include "hub.h"
#include "log.h"
#include "systemd.h"

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
"  -H, --host ADDR               listen address (default 0.0.0.0; a name\n"
"                                binds every address it resolves to; ::\n"
"                                is IPv6 and IPv4)\n"
"  -p, --port N                  listen port (default 8080; 0 = any free)\n"
"      --listen ADDR             listen on HOST:PORT, [IPV6]:PORT or HOST\n"
"                                (with --port) instead of --host\n"
"                                (repeatable, at most 8)\n"
"      --reuse-port              share the port with another ringcast that\n"
"                                listens on it: start the new one, then\n"
"                                SIGTERM the old (zero-downtime restart)\n"
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
"\n"
"Running as a service (docs/OPERATIONS.md):\n"
"      --config FILE             read flags from FILE first, one \"key =\n"
"                                value\" a line (key: a long option's name;\n"
"                                a flag alone for one without a value);\n"
"                                the command line's flags come after it\n"
"      --check                   check the flags and the files they name\n"
"                                (TLS, keys), print \"configuration ok\",\n"
"                                exit 0 (2 and the error otherwise)\n"
"      --drain-timeout SEC       on SIGTERM, how long open connections get\n"
"                                to go (default 10)\n"
"      --log-level LEVEL         error, warn, info (default) or debug\n"
"      --log-format text|json    one line per event on stderr: logfmt\n"
"                                (default) or JSON\n"
"      --log-rate N              most log lines a second (default 100; 0:\n"
"                                no limit); the rest are counted\n"
"\n"
"Rooms that remember (docs/HISTORY.md, docs/PROTOCOL.md):\n"
"      --history-size N          messages a room keeps (default 100; 0:\n"
"                                none): clients of the subprotocol\n"
"                                ringcast.v1 get the last ones on joining\n"
"                                and resume from them\n"
"      --history-ttl SEC         and none older (default 0: no limit)\n"
"      --history-memory BYTES    all rooms together (default 67108864);\n"
"                                past it the least recently active rooms\n"
"                                lose their history (counted)\n"
"      --presence-max N          rooms of at most N members (default 100,\n"
"                                at most 1000) tell ringcast.v1 members\n"
"                                who is there and each join and leave (20\n"
"                                a second at most); every room that\n"
"                                changed gets a snapshot at most once a\n"
"                                second (its count only above N);\n"
"                                GET /presence/ROOM on the admin listener\n"
"                                lists a room's members\n"
"\n"
"  -V, --version                 print the version, commit and build, exit\n"
"  -h, --help                    this text\n"
"\n"
"Environment: RINGCAST_SIMD=scalar|avx2|avx512 forces the payload kernels.\n"
"NOTIFY_SOCKET (systemd Type=notify): READY=1 once listening, WATCHDOG=1\n"
"while every worker turns (WatchdogSec=), STOPPING=1 on SIGTERM. LISTEN_FDS\n"
"(systemd socket activation): accept on those sockets instead of binding.\n"
"SIGTERM/SIGINT: drain: listeners close at once, /health answers 503,\n"
"every WebSocket gets close 1001 \"draining: reconnect\"; exit 0 once all\n"
"are gone or after --drain-timeout. A second one: close everything now.\n"
"SIGHUP: reload --config's file and apply the log level and rate, the\n"
"allowed origins, the token keys and the TLS certificates (read again from\n"
"their files); open connections keep what they have, and a part that fails\n"
"to load leaves what is in force. Other changed keys take a restart (said\n"
"in the log).\n");
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

/* A --listen entry: "HOST:PORT", "[V6]:PORT", "HOST" or a bare IPv6
   address, whose host resolves. */
static bool listen_ok(const char *s)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	const char *port = NULL, *colon;
	unsigned long long v;
	char host[256];
	size_t n;

	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] && end[1] != ':') || end == s + 1)
			return false;
		n = (size_t)(end - s - 1);
		s++;
		if (end[1])
			port = end + 2;
	} else {
		colon = strrchr(s, ':');
		n = colon && strchr(s, ':') == colon ? (size_t)(colon - s) :
						       strlen(s);
		if (colon && strchr(s, ':') == colon)
			port = colon + 1;
	}
	if (n >= sizeof(host) || (port && !parse_num(port, 65535, &v)))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	if (!n)
		return true;	/* ":PORT": every address */
	if (getaddrinfo(host, NULL, &hints, &res))
		return false;
	freeaddrinfo(res);
	return true;
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

/* --tls-cert/--tls-key pairs, in the order given. */
#define MAX_CERTS 16

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
	OPT_LISTEN,
	OPT_REUSE_PORT,
	OPT_CONFIG,
	OPT_CHECK,
	OPT_DRAIN_TIMEOUT,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_LOG_RATE,
	OPT_HISTORY_SIZE,
	OPT_PRESENCE_MAX,
	OPT_HISTORY_TTL,
	OPT_HISTORY_MEMORY,
};

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
	{ "recv-buffer-size", required_argument, NULL, OPT_RECV_BUFFER_SIZE },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "tls-port", required_argument, NULL, OPT_TLS_PORT },
	{ "tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA },
	{ "no-deflate", no_argument, NULL, OPT_NO_DEFLATE },
	{ "deflate-window-bits", required_argument, NULL, OPT_DEFLATE_BITS },
	{ "deflate-min-size", required_argument, NULL, OPT_DEFLATE_MIN },
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
	{ "auth-secret-file", required_argument, NULL, OPT_AUTH_SECRET_FILE },
	{ "auth-public-key", required_argument, NULL, OPT_AUTH_PUBKEY },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "admin-port", required_argument, NULL, OPT_ADMIN_PORT },
	{ "admin-host", required_argument, NULL, OPT_ADMIN_HOST },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "reuse-port", no_argument, NULL, OPT_REUSE_PORT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "log-rate", required_argument, NULL, OPT_LOG_RATE },
	{ "history-size", required_argument, NULL, OPT_HISTORY_SIZE },
	{ "presence-max", required_argument, NULL, OPT_PRESENCE_MAX },
	{ "history-ttl", required_argument, NULL, OPT_HISTORY_TTL },
	{ "history-memory", required_argument, NULL, OPT_HISTORY_MEMORY },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* Keys a config file may not hold. */
static const char *const conf_refused[] = { "config", "help", "version",
					    "check", NULL };

/* What a reload (SIGHUP) applies; a change to any other key takes a
   restart. */
static bool reloadable(int opt)
{
	switch (opt) {
	case OPT_ALLOW_ORIGIN:
	case OPT_AUTH_SECRET:
	case OPT_AUTH_SECRET_FILE:
	case OPT_AUTH_PUBKEY:
	case OPT_AUTH:
	case OPT_LOG_LEVEL:
	case OPT_LOG_RATE:
	case OPT_CONFIG:
	case OPT_CHECK:
		return true;
	}
	return false;
}

/* Everything the flags set: the config file's, then the command line's. */
struct settings {
	struct rc_config cfg, admin;
	const char *protocols[MAX_PROTOCOLS];
	struct rc_tls_cert certs[MAX_CERTS];
	size_t ncert, nkey;
	const char *origins[MAX_LISTED], *proxies[MAX_LISTED];
	const char *listen[RC_LISTEN_MAX];
	const char *secret_file, *pubkey, *auth_mode;
	char *secret_arg;
	bool secret_kept;	/* reload: the command line's, wiped at start */
	bool admin_on, check;
	const char *config;
	const char *log_level, *log_format;
	unsigned log_rate;
	unsigned drain_s;
	unsigned presence_max;
	/* "key=value\n" for every flag a reload cannot apply, in order:
	   compared at a reload to say what takes a restart. */
	char fixed[16384];
	size_t fixed_len;
};

static void settings_init(struct settings *st)
{
	memset(st, 0, sizeof(*st));
	st->cfg = rc_config_default();
	/* The admin listener: /metrics and /health for whoever watches the
	   hub, loopback by default. One worker, unpinned, a small receive
	   pool and few connections: it must cost next to nothing. */
	st->admin = rc_config_default();
	st->admin.host = "127.0.0.1";
	st->admin.port = 9090;
	st->admin.threads = 1;
	st->admin.pin_threads = false;
	st->admin.recv_buffers = 8;
	st->admin.recv_buffer_size = 16384;
	st->admin.max_connections = 64;
	/* Its scrapers are few and trusted, and poll as they like; 64
	   connections bound it. */
	st->admin.max_conns_per_ip = RC_UNLIMITED;
	st->admin.conn_rate_per_ip = RC_UNLIMITED;
	st->admin_on = true;
	/* Rooms remember their last 100 messages and know who is in them
	   (docs/HISTORY.md, docs/PROTOCOL.md). */
	st->cfg.history_size = 100;
	st->cfg.presence = true;
	st->cfg.presence_label = hub_presence_label;
	st->presence_max = 100;
	st->log_rate = 100;
	st->drain_s = 10;
}

/* What parse() found besides settings. */
enum parsed { PARSED_OK, PARSED_HELP, PARSED_VERSION, PARSED_BAD };

/*
 * One getopt_long() pass over @argv into @st. @src names the config file
 * (@lines: argv[i]'s line in it), NULL for the command line. @first: the
 * start, when flags with effects of their own (routes, the command line's
 * secret) take them; a reload passes false. A bad value: PARSED_BAD with
 * the message in @why.
 */
static enum parsed parse(struct settings *st, int argc, char **argv,
			 const char *src, const unsigned *lines, bool first,
			 char *why, size_t cap)
{
	unsigned long long v = 0;
	int opt, longi = -1;

	optind = 0;		/* glibc: start afresh */
	opterr = !src;		/* the file's keys were checked already */
	while ((opt = getopt_long(argc, argv, "H:p:t:Vh", opts, &longi)) !=
	       -1) {
		struct rc_config *cfg = &st->cfg;
		bool ok = true;

		switch (opt) {
		case 'H':
			cfg->host = optarg;
			break;
		case 'p':
			ok = parse_num(optarg, 65535, &v);
			cfg->port = (uint16_t)v;
			break;
		case 't':
			ok = parse_num(optarg, HUB_MAX_WORKERS, &v) && v > 0;
			cfg->threads = (unsigned)v;
			break;
		case OPT_NO_PIN:
			cfg->pin_threads = false;
			break;
		case OPT_MAX_CONN:
			ok = parse_num(optarg, 10000000, &v) && v > 0;
			cfg->max_connections = (unsigned)v;
			break;
		case OPT_MAX_MSG:
			ok = parse_num(optarg, RC_MAX_MESSAGE_LIMIT, &v) &&
			     v > 0;
			cfg->max_message = (size_t)v;
			break;
		case OPT_MAX_HEAD:
			ok = parse_num(optarg, 1 << 20, &v) && v >= 256;
			cfg->max_head = (size_t)v;
			break;
		case OPT_MAX_HEADERS:
			ok = parse_num(optarg, 65536, &v) && v >= 8;
			cfg->max_headers = (unsigned)v;
			break;
		case OPT_MAX_BP:
			ok = parse_num(optarg, 1ull << 34, &v) && v > 0;
			cfg->max_backpressure = (size_t)v;
			break;
		case OPT_HS_TIMEOUT:
			ok = parse_num(optarg, 86400, &v) && v > 0;
			cfg->handshake_timeout_ms = (unsigned)v * 1000;
			break;
		case OPT_IDLE_TIMEOUT:
			ok = parse_num(optarg, 7200, &v) && v > 0;
			cfg->idle_timeout_ms = (unsigned)v * 1000;
			break;
		case OPT_CLOSE_TIMEOUT:
			ok = parse_num(optarg, 86400, &v) && v > 0;
			cfg->close_timeout_ms = (unsigned)v * 1000;
			break;
		case OPT_SUBPROTO:
			ok = cfg->nsubprotocols < MAX_PROTOCOLS;
			if (ok)
				st->protocols[cfg->nsubprotocols++] = optarg;
			cfg->subprotocols = st->protocols;
			break;
		case OPT_SLOW_POLICY:
			ok = !strcmp(optarg, "close") || !strcmp(optarg, "drop");
			cfg->slow_policy = !strcmp(optarg, "drop") ?
					   RC_SLOW_DROP : RC_SLOW_CLOSE;
			break;
		case OPT_NO_ECHO_SELF:
			if (first)
				hub_echo_self = false;
			break;
		case OPT_WS_ROUTE:
			/* Routes are the hub's tables: set once. */
			ok = !first || hub_add_route(optarg);
			break;
		case OPT_RECV_BUFFERS:
			ok = parse_num(optarg, 32768, &v) && v > 0;
			cfg->recv_buffers = (unsigned)v;
			break;
		case OPT_RECV_BUFFER_SIZE:
			ok = parse_num(optarg, 1 << 24, &v) && v >= 64;
			cfg->recv_buffer_size = (unsigned)v;
			break;
		case OPT_TLS_CERT:
			ok = st->ncert < MAX_CERTS;
			if (ok)
				st->certs[st->ncert++].cert_file = optarg;
			break;
		case OPT_TLS_KEY:
			ok = st->nkey < MAX_CERTS;
			if (ok)
				st->certs[st->nkey++].key_file = optarg;
			break;
		case OPT_TLS_PORT:
			/* 0: any free port (-1 in rc_config) */
			ok = parse_num(optarg, 65535, &v);
			cfg->tls_port = v ? (int)v : -1;
			break;
		case OPT_TLS_CLIENT_CA:
			cfg->tls_client_ca = optarg;
			break;
		case OPT_NO_DEFLATE:
			cfg->deflate_window_bits = RC_DEFLATE_OFF;
			break;
		case OPT_DEFLATE_BITS:
			ok = parse_num(optarg, 15, &v) && v >= 9;
			cfg->deflate_window_bits = (int)v;
			break;
		case OPT_DEFLATE_MIN:
			ok = parse_num(optarg, 1ull << 32, &v) && v;
			cfg->deflate_min_size = (size_t)v;
			break;
		case OPT_DEFLATE_LEVEL:
			ok = parse_num(optarg, 12, &v) && v;
			cfg->deflate_level = (int)v;
			break;
		case OPT_NATS:
			ok = *optarg;
			cfg->nats_urls = optarg;
			break;
		case OPT_NATS_PREFIX:
			ok = *optarg;
			cfg->nats_prefix = optarg;
			break;
		case OPT_ALLOW_ORIGIN:
			ok = cfg->nallow_origins < MAX_LISTED &&
			     origin_ok(optarg);
			if (ok)
				st->origins[cfg->nallow_origins++] = optarg;
			cfg->allow_origins = st->origins;
			break;
		case OPT_TRUSTED_PROXY:
			ok = cfg->ntrusted_proxies < MAX_LISTED &&
			     cidr_ok(optarg);
			if (ok)
				st->proxies[cfg->ntrusted_proxies++] = optarg;
			cfg->trusted_proxies = st->proxies;
			break;
		case OPT_MAX_CONNS_IP:
			ok = parse_limit(optarg, &cfg->max_conns_per_ip);
			break;
		case OPT_CONN_RATE_IP:
			ok = parse_limit(optarg, &cfg->conn_rate_per_ip);
			break;
		case OPT_MSG_RATE:
			ok = parse_limit(optarg, &cfg->msg_rate);
			break;
		case OPT_BYTE_RATE:
			ok = parse_size_limit(optarg, &cfg->byte_rate);
			break;
		case OPT_MAX_ROOMS:
			ok = parse_limit(optarg, &cfg->max_subscriptions);
			break;
		case OPT_MAX_PARTIAL:
			ok = parse_size_limit(optarg, &cfg->max_partial_total);
			break;
		case OPT_AUTH_SECRET:
			/* The command line's was wiped at the start (ps shows
			   argv): a reload keeps the verifier made from it. */
			if (!first && !src && !*optarg) {
				st->secret_kept = true;
				break;
			}
			ok = *optarg;
			st->secret_arg = optarg;
			st->secret_kept = false;
			break;
		case OPT_AUTH_SECRET_FILE:
			st->secret_file = optarg;
			break;
		case OPT_AUTH_PUBKEY:
			st->pubkey = optarg;
			break;
		case OPT_AUTH:
			ok = !strcmp(optarg, "required") ||
			     !strcmp(optarg, "optional");
			st->auth_mode = optarg;
			break;
		case OPT_ADMIN_PORT:
			st->admin_on = strcmp(optarg, "off");
			if (st->admin_on) {
				ok = parse_num(optarg, 65535, &v);
				st->admin.port = (uint16_t)v;
			}
			break;
		case OPT_ADMIN_HOST:
			st->admin.host = optarg;
			break;
		case OPT_LISTEN:
			ok = cfg->nlisten < RC_LISTEN_MAX && *optarg &&
			     listen_ok(optarg);
			if (ok)
				st->listen[cfg->nlisten++] = optarg;
			cfg->listen = st->listen;
			break;
		case OPT_REUSE_PORT:
			cfg->reuse_port = true;
			break;
		case OPT_CONFIG:
			/* Read before this pass (main); a file names none. */
			st->config = optarg;
			break;
		case OPT_CHECK:
			st->check = true;
			break;
		case OPT_DRAIN_TIMEOUT:
			ok = parse_num(optarg, 86400, &v);
			st->drain_s = (unsigned)v;
			break;
		case OPT_LOG_LEVEL:
			ok = !strcmp(optarg, "error") || !strcmp(optarg, "warn") ||
			     !strcmp(optarg, "info") || !strcmp(optarg, "debug");
			st->log_level = optarg;
			break;
		case OPT_LOG_FORMAT:
			ok = !strcmp(optarg, "text") || !strcmp(optarg, "json");
			st->log_format = optarg;
			break;
		case OPT_LOG_RATE:
			ok = parse_num(optarg, 1000000, &v);
			st->log_rate = (unsigned)v;
			break;
		case OPT_PRESENCE_MAX:
			ok = parse_num(optarg, HUB_PRESENCE_MAX_LIMIT, &v);
			st->presence_max = (unsigned)v;
			break;
		case OPT_HISTORY_SIZE:
			ok = parse_num(optarg, RC_HISTORY_MAX, &v);
			cfg->history_size = (unsigned)v;
			break;
		case OPT_HISTORY_TTL:
			ok = parse_num(optarg, 7 * 86400, &v);
			cfg->history_ttl_ms = (unsigned)v * 1000;
			break;
		case OPT_HISTORY_MEMORY:
			ok = parse_num(optarg, 1ull << 40, &v) && v >= 65536;
			cfg->history_memory = (size_t)v;
			break;
		case 'V':
			return PARSED_VERSION;
		case 'h':
			return PARSED_HELP;
		default:
			snprintf(why, cap, "%s%s", src ? src : "",
				 src ? ": a flag getopt refused" :
				       "unknown option or missing value (see "
				       "--help)");
			return PARSED_BAD;
		}
		if (!ok) {
			/* The option as named, "--name" or "-c" (argv holds
			   only the value when it came as its own argument);
			   where it came from when a file said it. */
			char at[300] = "";

			if (src)
				snprintf(at, sizeof(at), "%s:%u: ", src,
					 lines ? lines[optind - 1] : 0);
			if (longi >= 0)
				snprintf(why, cap, "%sbad value for --%s: %s", at,
					 opts[longi].name, optarg);
			else
				snprintf(why, cap, "%sbad value for -%c: %s", at,
					 opt, optarg);
			return PARSED_BAD;
		}
		if (!reloadable(opt) && st->fixed_len < sizeof(st->fixed)) {
			const char *name = longi >= 0 ? opts[longi].name :
					   opt == 'H' ? "host" : opt == 'p' ?
					   "port" : "threads";
			int n = snprintf(st->fixed + st->fixed_len,
					 sizeof(st->fixed) - st->fixed_len,
					 "%s=%s\n", name, optarg ? optarg : "");

			if (n > 0)
				st->fixed_len += (size_t)n;
		}
		longi = -1;	/* getopt_long() sets it for long ones only */
	}
	if (optind < argc) {
		snprintf(why, cap, "unexpected argument: %s", argv[optind]);
		return PARSED_BAD;
	}
	return PARSED_OK;
}

/* The checks across flags: 0, or -1 with @why. */
static int settings_check(struct settings *st, char *why, size_t cap)
{
	if (st->ncert != st->nkey || (!st->ncert && (st->cfg.tls_port ||
						     st->cfg.tls_client_ca))) {
		snprintf(why, cap, "--tls-cert and --tls-key come in pairs; "
			 "--tls-port and --tls-client-ca need them");
		return -1;
	}
	if (st->secret_arg && st->secret_file) {
		snprintf(why, cap, "--auth-secret or --auth-secret-file, not "
			 "both");
		return -1;
	}
	if (st->auth_mode && !st->secret_arg && !st->secret_file &&
	    !st->pubkey && !st->secret_kept) {
		snprintf(why, cap, "--auth %s needs a key: --auth-secret-file, "
			 "--auth-secret or --auth-public-key", st->auth_mode);
		return -1;
	}
	st->cfg.tls_certs = st->certs;
	st->cfg.ntls_certs = st->ncert;
	return 0;
}

/* The config file (if @path) then @argv, into @st; the file's text lives
   in @conf and its arguments in *@fargv (freed by the caller). */
struct parsed_args {
	struct hub_conf conf;
	int fargc;
	char **fargv;
	unsigned *lines;
};

static void parsed_args_free(struct parsed_args *pa)
{
	if (pa->fargv)
		hub_conf_argv_free(pa->fargc, pa->fargv, pa->lines);
	hub_conf_free(&pa->conf);
	memset(pa, 0, sizeof(*pa));
}

static enum parsed load(struct settings *st, struct parsed_args *pa,
			const char *path, int argc, char **argv, bool first,
			char *why, size_t cap)
{
	enum parsed r;

	settings_init(st);
	memset(pa, 0, sizeof(*pa));
	if (path) {
		if (hub_conf_read(path, &pa->conf, why, cap) ||
		    hub_conf_argv(&pa->conf, path, opts, conf_refused,
				  &pa->fargc, &pa->fargv, &pa->lines, why, cap))
			return PARSED_BAD;
		r = parse(st, pa->fargc, pa->fargv, path, pa->lines, first,
			  why, cap);
		if (r != PARSED_OK)
			return r;
	}
	r = parse(st, argc, argv, NULL, NULL, first, why, cap);
	if (r == PARSED_OK && settings_check(st, why, cap))
		r = PARSED_BAD;
	return r;
}

/* --config's value, looked for before the flags are read (the file comes
   first). NULL if none. */
static const char *config_path(int argc, char **argv)
{
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
	}
	return path;
}

/* The token verifier from @st's flags, or NULL with *@status 0 when none
   is configured. On failure NULL, *@status 2 and @why. The secret is
   wiped from memory (and, at the start, from the command line, where ps
   shows it) once the verifier has its copy. */
static struct hub_auth *make_auth(struct settings *st, int *status,
				  char *why, size_t cap)
{
	char *secret = st->secret_arg;
	size_t len = secret ? strlen(secret) : 0;
	struct hub_auth *a;
	char err[256];

	*status = 0;
	if (!secret && !st->secret_file && !st->pubkey)
		return NULL;
	*status = 2;
	if (st->secret_file) {
		secret = read_secret(st->secret_file, &len);
		if (!secret) {
			snprintf(why, cap, "--auth-secret-file %s: %s",
				 st->secret_file, strerror(errno));
			return NULL;
		}
		if (!len) {
			snprintf(why, cap, "--auth-secret-file %s is empty",
				 st->secret_file);
			free(secret);
			return NULL;
		}
	}
	a = hub_auth_new(secret, len, st->pubkey, err, sizeof(err));
	/* (A reload never gets the command line's: it was wiped here at
	   the start, and the verifier made from it is kept.) */
	if (secret)
		explicit_bzero(secret, len);
	if (secret && st->secret_file)
		free(secret);
	if (!a) {
		snprintf(why, cap, "auth: %s", err);
		return NULL;
	}
	*status = 0;
	return a;
}

/* ---- the library's log, and the start-up line ---- */

/* The library logs events, never per message (accept errors back off,
   NATS' slow consumer is said at 1, 2, 4... times): never rate-limited,
   so a drain's line is not lost in a flood of refusals. */
static void lib_log(void *user, enum rc_log_level lv, const char *msg)
{
	hub_log_force((enum hub_log_level)lv, (const char *)user,
		      KV_S("msg", msg));
}

static void print_version(void)
{
	printf("ringcast %s\ncommit: %s\nbuild: %s, %s%s\n%s\n"
	       "simd in use: %s\n", RINGCAST_VERSION, RC_BUILD_COMMIT,
	       RC_BUILD_TYPE, RC_BUILD_CC, RC_BUILD_OPTS, rc_build_info(),
	       rc_simd_name());
}

/* The listeners, "a, b", into @buf. */
static const char *listeners(const struct rc_server *s, char *buf, size_t cap)
{
	char one[80];
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; rc_server_listener(s, i, one, sizeof(one)) &&
	     n + 1 < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "",
				      one);
	return buf;
}

/* ---- running: signals, reload, drain ---- */

_Atomic uint64_t hub_reloads, hub_reload_failures;

/* What the running hub was started with (the signal thread reloads
   against it). */
static struct {
	struct settings *st;
	int argc;
	char **argv;
	const char *config;
	struct rc_server *admin;
} run;

/* Set by main once the server has stopped: the next signal only ends the
   signal thread. */
static atomic_bool exiting;

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

/* Say which keys of @now differ from the running ones and take a
   restart. */
static void restart_keys(const struct settings *was,
			 const struct settings *now)
{
	char keys[512] = "";
	size_t n = 0;

	if (was->fixed_len == now->fixed_len &&
	    !memcmp(was->fixed, now->fixed, was->fixed_len))
		return;
	/* Each "key=value" line of either not in the other names a key. */
	for (int side = 0; side < 2; side++) {
		const struct settings *a = side ? now : was;
		const struct settings *b = side ? was : now;
		const char *p = a->fixed, *end = a->fixed + a->fixed_len;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = (size_t)(nl - p), klen;
			const char *eq = memchr(p, '=', len);
			bool found = false;

			for (const char *q = b->fixed;
			     q < b->fixed + b->fixed_len && !found;) {
				const char *qn = memchr(q, '\n',
					(size_t)(b->fixed + b->fixed_len - q));

				found = (size_t)(qn - q) == len &&
					!memcmp(q, p, len);
				q = qn + 1;
			}
			klen = eq ? (size_t)(eq - p) : len;
			if (!found && n + klen + 3 < sizeof(keys)) {
				char key[64];

				snprintf(key, sizeof(key), "%.*s", (int)klen, p);
				if (!strstr(keys, key))
					n += (size_t)snprintf(keys + n,
						sizeof(keys) - n, "%s%s",
						n ? "," : "", key);
			}
			p = nl + 1;
		}
	}
	hub_log_force(HUB_LOG_WARN, "reload", KV_S("what", "restart-only"),
		      KV_S("keys", keys),
		      KV_S("msg", "changed, but only a restart applies them"));
}

/* SIGHUP: read the config file (if any) and the command line again, and
   apply what can change while running; say what happened to each part. */
static void reload(void)
{
	struct settings *st = malloc(sizeof(*st));
	struct parsed_args pa;
	struct hub_auth *auth = NULL, *old;
	bool failed = false;
	char why[512];
	int ret, status;

	hub_sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
		       (unsigned long long)mono_usec());
	if (!st) {
		hub_log_force(HUB_LOG_ERROR, "reload", KV_B("ok", false),
			      KV_S("msg", "out of memory"));
		atomic_fetch_add(&hub_reload_failures, 1);
		hub_sd_notify("READY=1");
		return;
	}
	if (load(st, &pa, run.config, run.argc, run.argv, false, why,
		 sizeof(why)) != PARSED_OK) {
		hub_log_force(HUB_LOG_WARN, "reload", KV_S("what", "config"),
			      KV_B("ok", false), KV_S("error", why),
			      KV_S("msg", "nothing changed"));
		failed = true;
		goto out;
	}
	if (run.config)
		hub_log_force(HUB_LOG_INFO, "reload", KV_S("what", "config"),
			      KV_B("ok", true), KV_S("file", run.config));
	/* The log's level and rate. */
	hub_log_level_set(st->log_level ? st->log_level : "info");
	hub_log_rate_set(st->log_rate);
	hub_log_force(HUB_LOG_INFO, "reload", KV_S("what", "log"),
		      KV_B("ok", true), KV_S("level", hub_log_level_name()),
		      KV_I("rate", st->log_rate));
	/* The origins. */
	ret = rc_server_set_origins(hub_server, st->cfg.allow_origins,
				    st->cfg.nallow_origins);
	hub_log_force(ret ? HUB_LOG_WARN : HUB_LOG_INFO, "reload",
		      KV_S("what", "origins"), KV_B("ok", !ret),
		      KV_I("allowed", st->cfg.nallow_origins),
		      KV_S("error", ret ? strerror(-ret) : NULL));
	failed |= ret != 0;
	/* The token keys: read again, or kept when the command line gave
	   the secret (it was wiped). */
	if (!st->secret_kept) {
		auth = make_auth(st, &status, why, sizeof(why));
		if (status) {
			hub_log_force(HUB_LOG_WARN, "reload",
				      KV_S("what", "auth"), KV_B("ok", false),
				      KV_S("error", why),
				      KV_S("msg", "the keys in force stay"));
			failed = true;
		} else {
			pthread_rwlock_wrlock(&hub_auth_lock);
			old = hub_auth;
			hub_auth = auth;
			hub_auth_optional = st->auth_mode &&
					    !strcmp(st->auth_mode, "optional");
			pthread_rwlock_unlock(&hub_auth_lock);
			hub_auth_free(old);
			hub_log_force(auth || old ? HUB_LOG_INFO : HUB_LOG_DEBUG,
				      "reload", KV_S("what", "auth"),
				      KV_B("ok", true),
				      KV_S("tokens", auth ? hub_auth_optional ?
						     "optional" : "required" :
						     "off"));
		}
	}
	/* The certificates, from their files. */
	ret = rc_server_tls_reload(hub_server, why, sizeof(why));
	if (ret == -ENOTSUP) {
		hub_log_force(HUB_LOG_INFO, "reload", KV_S("what", "tls"),
			      KV_B("ok", true),
			      KV_S("msg", "nothing to reload (no TLS)"));
	} else {
		hub_log_force(ret ? HUB_LOG_WARN : HUB_LOG_INFO, "reload",
			      KV_S("what", "tls"), KV_B("ok", !ret),
			      KV_S("error", ret ? why : NULL),
			      KV_S("msg", ret ? "the certificates in force "
					      "stay" : "certificates reloaded"));
		failed |= ret != 0;
	}
	restart_keys(run.st, st);
out:
	parsed_args_free(&pa);
	free(st);
	atomic_fetch_add(failed ? &hub_reload_failures : &hub_reloads, 1);
	hub_sd_notify("READY=1");
}

/* SIGHUP: reload; SIGINT/SIGTERM: drain, and a second one ends it now. */
static void *wait_signal(void *arg)
{
	const sigset_t *sigs = arg;
	bool draining = false;
	int sig;

	for (;;) {
		if (sigwait(sigs, &sig) || atomic_load(&exiting))
			return NULL;
		if (sig == SIGHUP) {
			reload();
			continue;
		}
		if (!draining) {
			struct rc_stats st;

			draining = true;
			rc_server_stats(hub_server, &st);
			rc_server_drain(hub_server, run.st->drain_s * 1000u,
					"draining: reconnect");
			hub_sd_notifyf("STOPPING=1\nSTATUS=draining %llu "
				       "connections",
				       (unsigned long long)st.connections_open);
			hub_log_force(HUB_LOG_INFO, "drain",
				      KV_S("signal", sig == SIGINT ? "SIGINT" :
						     "SIGTERM"),
				      KV_I("connections", st.connections_open),
				      KV_I("websockets", st.websockets_open),
				      KV_I("timeout_s", run.st->drain_s),
				      KV_S("msg", "listeners closed, closing "
						  "connections"));
		} else {
			hub_log_force(HUB_LOG_INFO, "drain",
				      KV_S("signal", sig == SIGINT ? "SIGINT" :
						     "SIGTERM"),
				      KV_S("msg", "second signal: closing "
						  "everything now"));
			rc_server_drain(hub_server, 0, NULL);
		}
	}
}

/* The watchdog's question: is every worker turning? (A stopping server
   is exiting: systemd's stop timeout watches that.) */
static bool alive(void *arg)
{
	unsigned within = *(unsigned *)arg;
	int ret = rc_server_alive(hub_server, within);

	if (ret == -ETIMEDOUT)
		hub_log(HUB_LOG_ERROR, "watchdog",
			KV_S("msg", "a worker has not turned in time: no "
				    "WATCHDOG=1"), KV_I("within_ms", within));
	return !ret || ret == -ESHUTDOWN;
}

/* The admin listener first: its /metrics reads the main server. Then the
   main server and the token verifier its handlers used. */
static void free_servers(struct rc_server *admin)
{
	rc_server_free(admin);
	rc_server_free(hub_server);
	hub_auth_free(hub_auth);
	hub_log_flush();
}

static void log_start(const struct settings *st, struct rc_server *admin)
{
	char lis[RC_LISTEN_MAX * 2 * 64], adm[80] = "", why[160];
	struct utsname u;
	struct rlimit rl;

	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	if (getrlimit(RLIMIT_NOFILE, &rl))
		rl.rlim_cur = 0;
	if (admin)
		rc_server_listener(admin, 0, adm, sizeof(adm));
	hub_log_force(HUB_LOG_INFO, "start",
		      KV_S("version", RINGCAST_VERSION),
		      KV_S("commit", RC_BUILD_COMMIT),
		      KV_S("listen", listeners(hub_server, lis, sizeof(lis))),
		      KV_S("admin", admin ? adm : "off"),
		      KV_I("workers", rc_server_workers(hub_server)),
		      KV_S("simd", rc_simd_name()),
		      KV_S("kernel", u.release),
		      KV_S("io_uring", rc_kernel_check(why, sizeof(why)) ?
					 why : "ok"),
		      KV_B("tls", st->ncert > 0),
		      KV_S("deflate", st->cfg.deflate_window_bits ==
				      RC_DEFLATE_OFF ? "off" :
				      st->cfg.deflate_window_bits ? "dedicated" :
				      "shared"),
		      KV_S("nats", st->cfg.nats_urls),
		      KV_B("tokens", hub_auth != NULL),
		      KV_I("max_connections", st->cfg.max_connections),
		      KV_I("max_message", st->cfg.max_message),
		      KV_I("nofile", rl.rlim_cur),
		      KV_I("drain_timeout_s", st->drain_s),
		      KV_I("history_size", st->cfg.history_size),
		      KV_I("history_memory", st->cfg.history_memory ?
				st->cfg.history_memory : 64u << 20),
		      KV_I("presence_max", st->presence_max),
		      KV_B("systemd", getenv("NOTIFY_SOCKET") != NULL));
}

/* The stdout line scripts wait for (kept as it was). */
static void print_listening(const struct settings *st, struct rc_server *admin)
{
	char lis[RC_LISTEN_MAX * 2 * 64], one[80];
	unsigned n = 0;
	size_t len = 0;

	lis[0] = '\0';
	/* The plain (or main TLS) listeners: the TLS ones follow them. */
	while (rc_server_listener(hub_server, n, one, sizeof(one)))
		n++;
	if (rc_server_tls_port(hub_server))
		n /= 2;
	for (unsigned i = 0; i < n && rc_server_listener(hub_server, i, one,
							 sizeof(one)); i++)
		len += (size_t)snprintf(lis + len, sizeof(lis) - len, "%s%s",
					i ? ", " : "", one);
	printf("ringcast %s listening on %s (%s%u workers, simd %s)",
	       RINGCAST_VERSION, lis,
	       st->ncert && !rc_server_tls_port(hub_server) ? "tls, " : "",
	       rc_server_workers(hub_server), rc_simd_name());
	if (rc_server_tls_port(hub_server)) {
		printf(", tls on");
		for (unsigned i = n; rc_server_listener(hub_server, i, one,
							sizeof(one)); i++)
			printf("%s %s", i > n ? "," : "", one);
	}
	if (st->cfg.deflate_window_bits == RC_DEFLATE_OFF)
		printf(", no deflate");
	else if (st->cfg.deflate_window_bits)
		printf(", deflate windows of 2^%d",
		       st->cfg.deflate_window_bits);
	else
		printf(", deflate shared");
	if (st->cfg.nats_urls)
		printf(", nats %s", st->cfg.nats_urls);
	printf("\n");
	if (admin && rc_server_listener(admin, 0, one, sizeof(one)))
		printf("ringcast: admin on %s\n", one);
	fflush(stdout);
}

/* The hub, once the flags are read into @st (and @pa, which main
   frees whatever this returns). */
static int hub_main(int argc, char **argv, struct parsed_args *pa)
{
	static struct settings st;
	static int listen_fds[RC_LISTEN_MAX];
	struct rc_server *admin = NULL;
	pthread_t sig_thread;
	unsigned watch_ms = 0;
	uint64_t watch_usec;
	char why[512];
	sigset_t sigs;
	enum parsed r;
	int ret, nfds;

	r = load(&st, pa, config_path(argc, argv), argc, argv, true, why,
		 sizeof(why));
	if (r == PARSED_HELP) {
		usage(stdout);
		return 0;
	}
	if (r == PARSED_VERSION) {
		print_version();
		return 0;
	}
	if (r != PARSED_OK) {
		if (*why)
			fprintf(stderr, "ringcast: %s\n", why);
		else
			usage(stderr);
		return 2;
	}
	if (st.log_format)
		hub_log_format_set(st.log_format);
	hub_log_level_set(st.log_level ? st.log_level : "info");
	hub_log_rate_set(st.log_rate);
	if (rc_tls_check(&st.cfg, why, sizeof(why))) {
		fprintf(stderr, "ringcast: TLS: %s\n", why);
		return 2;
	}
	hub_auth = make_auth(&st, &ret, why, sizeof(why));
	if (ret) {
		fprintf(stderr, "ringcast: %s\n", why);
		return ret;
	}
	hub_auth_optional = st.auth_mode && !strcmp(st.auth_mode, "optional");
	if (st.check) {
		hub_auth_free(hub_auth);
		printf("ringcast: configuration ok\n");
		return 0;
	}
	hub_max_message = st.cfg.max_message;
	ret = rc_kernel_check(why, sizeof(why));
	if (ret) {
		fprintf(stderr, "ringcast: %s\n", why);
		hub_auth_free(hub_auth);
		return 1;
	}
	/* systemd socket activation: its sockets instead of binding. */
	nfds = hub_sd_listen_fds(listen_fds, RC_LISTEN_MAX);
	if (nfds < 0) {
		fprintf(stderr, "ringcast: LISTEN_FDS: %s\n", strerror(-nfds));
		hub_auth_free(hub_auth);
		return 1;
	}
	st.cfg.listen_fds = listen_fds;
	st.cfg.nlisten_fds = (size_t)nfds;
	st.cfg.log = lib_log;
	st.cfg.log_user = "server";
	/* ringcast.v1, the hub's own protocol, after any --subprotocol:
	   its envelopes are made once per message, by the stamp. */
	if (st.cfg.nsubprotocols < MAX_PROTOCOLS) {
		st.protocols[st.cfg.nsubprotocols++] = hub_v1_name;
		st.cfg.subprotocols = st.protocols;
	}
	st.cfg.stamp = hub_stamp;
	st.admin.log = lib_log;
	st.admin.log_user = "admin";
	signal(SIGPIPE, SIG_IGN);
	/* Block the signals before the workers exist, so they inherit the
	   mask and only sigwait() below takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	/* Before any worker reads it. */
	hub_presence_max = st.presence_max;
	hub_server = rc_server_new(&st.cfg, &hub_handlers, NULL);
	if (!hub_server && errno == EINVAL) {
		fprintf(stderr, "ringcast: bad configuration (a --listen or "
			"--host that does not parse or resolve, a "
			"--subprotocol that is not a token, an --allow-origin "
			"or --trusted-proxy refused, or a --nats URL or "
			"--nats-prefix libnats cannot use)\n");
		hub_auth_free(hub_auth);
		return 2;
	}
	if (!hub_server) {
		fprintf(stderr, "ringcast: cannot listen on %s: %s%s\n",
			st.cfg.nlisten ? st.listen[0] : st.cfg.host,
			strerror(errno), errno == EADDRINUSE ?
			" (another process has the port; --reuse-port shares "
			"it on purpose)" : "");
		hub_auth_free(hub_auth);
		return 1;
	}
	if (st.admin_on) {
		admin = rc_server_new(&st.admin, &hub_admin_handlers, NULL);
		if (!admin) {
			fprintf(stderr, "ringcast: cannot listen on %s:%u for "
				"the admin listener (--admin-port, "
				"--admin-host): %s\n", st.admin.host,
				st.admin.port, strerror(errno));
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
	run.st = &st;
	run.argc = argc;
	run.argv = argv;
	run.config = st.config;
	run.admin = admin;
	print_listening(&st, admin);
	log_start(&st, admin);
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
	hub_sd_notifyf("READY=1\nMAINPID=%ld\nSTATUS=listening on %s",
		       (long)getpid(), listeners(hub_server, why, sizeof(why)));
	/* The watchdog asks the workers: an idle one turns every second, so
	   less than 1.5 s would be a false alarm. */
	watch_usec = hub_sd_watchdog_usec();
	if (watch_usec) {
		watch_ms = (unsigned)(watch_usec / 1000);
		if (watch_ms < 1500)
			watch_ms = 1500;
		if (hub_sd_watchdog_start(watch_usec, alive, &watch_ms))
			hub_log_force(HUB_LOG_WARN, "watchdog",
				      KV_S("msg", "cannot start its thread"));
	}
	if (hub_presence_start())
		hub_log_force(HUB_LOG_WARN, "presence",
			      KV_S("msg", "cannot start its thread: no presence "
				   "snapshots"));
	ret = rc_server_run(hub_server);
	hub_presence_stop();
	hub_sd_watchdog_stop();
	/* The signal thread may be inside a reload or a drain: let it finish
	   before the server is freed. */
	atomic_store(&exiting, true);
	pthread_kill(sig_thread, SIGTERM);
	pthread_join(sig_thread, NULL);
	if (ret)
		hub_log_force(HUB_LOG_ERROR, "stop",
			      KV_S("msg", "stopped on an error"),
			      KV_S("error", strerror(-ret)));
	else
		hub_log_force(HUB_LOG_INFO, "stop", KV_S("msg", "stopped"));
	free_servers(admin);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct parsed_args pa = { 0 };
	int ret = hub_main(argc, argv, &pa);

	parsed_args_free(&pa);
	return ret;
}
