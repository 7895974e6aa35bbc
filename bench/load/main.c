/* SPDX-License-Identifier: MIT */
/* main.c -- ringcast-load: options, worker processes, run phases, progress line, results. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ringcast.h"
#include "cfg.h"
#include "payload.h"
#include "procs.h"
#include "report.h"
#include "shared.h"
#include "simd/simd.h"
#include "tls.h"
#include "v1.h"
#include "worker.h"

#define NS		1000000000ull
/* The parent looks at the workers this often. */
#define POLL_NS		(10 * 1000 * 1000ull)
/* Phase RUN is announced this far ahead, so every worker starts alike. */
#define LEAD_NS		(20 * 1000 * 1000ull)
/* Broadcast: the longest wait for subscribers to catch up. */
#define DRAIN_MAX_NS	(2 * NS)
/* Descriptors a worker process needs besides its connections. */
#define FD_SPARE	64
/* Ephemeral ports towards one address from one source (32768-60999). */
#define PORTS_PER_SRC	28000

static volatile sig_atomic_t interrupted;
static uint64_t interrupted_at;

static void on_sigint(int sig)
{
	struct timespec ts;
	uint64_t now;

	(void)sig;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
	if (!interrupted) {
		interrupted = 1;
		interrupted_at = now;
		return;
	}
	/* Another ^C, a while after the first: the shutdown is stuck, leave
	   now (the workers die with us: PR_SET_PDEATHSIG). One that comes
	   with the first is the same ^C, sent to the process group too. */
	if (now - interrupted_at > NS / 2)
		_exit(130);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: ringcast-load SCENARIO [OPTIONS]\n"
"WebSocket load generator on io_uring (RFC 6455; any server).\n"
"\n"
"Scenarios:\n"
"  echo       --conns connections, each with --inflight messages of --size\n"
"             bytes in flight (or sending at --rate); round trips/s, latency\n"
"  broadcast  --subscribers in one room (--path), --publishers sending\n"
"             --size-byte messages at --rate each (or as fast as a window of\n"
"             --window undelivered messages allows); deliveries/s,\n"
"             publish-to-receive latency, lost and out-of-order messages\n"
"  handshake  --conns cycles at once of connect, upgrade, close handshake;\n"
"             handshakes/s, upgrade latency (connect to 101)\n"
"  idle       open --conns connections, hold them --duration seconds; with\n"
"             --server-pid the server's RSS growth per connection\n"
"  recover    ringcast.v1 history (a ringcast hub with --history-size of\n"
"             at least --messages + 10, members sent their own messages):\n"
"             --conns clients (1000) join the room (--path) and see 10\n"
"             messages live, all leave, a publisher sends --messages (300)\n"
"             TEXT messages of --size bytes, then every client comes back\n"
"             at once (--connect-concurrency at a time) with\n"
"             ?epoch=E&offset=N; each must get offsets N+1..N+messages\n"
"             once, in order, then joined with recovered:true. The time\n"
"             from the first reconnect to the last client done, recovered\n"
"             deliveries/s, failed clients; --server-pid: the server's CPU\n"
"             over that time. One thread (--threads 1, --procs 1);\n"
"             --duration bounds the whole (a client not done by then\n"
"             failed)\n"
"\n"
"Target:\n"
"  -H, --host ADDR            server address (default 127.0.0.1)\n"
"  -p, --port N               server port (default 8080)\n"
"      --ports LIST           several servers on --host, e.g. 8080,8081,8082\n"
"                             (ringcast hubs sharing rooms over NATS):\n"
"                             connection i (broadcast: subscriber i) goes\n"
"                             to the (i mod n)-th; --port becomes the first\n"
"      --pub-ports LIST       broadcast: publisher j goes to the (j mod n)-th\n"
"                             of LIST (default: the first of --ports). Over\n"
"                             several ports the latency is also told apart\n"
"                             for subscribers on their publisher's server\n"
"                             (near_*) and on another one (far_*)\n"
"  -P, --path PATH            upgrade path (default /echo; broadcast:\n"
"                             /ws/bench, a ringcast room; a query such as\n"
"                             ?token=... goes with it)\n"
"      --subprotocol NAME     send Sec-WebSocket-Protocol: NAME with each\n"
"                             upgrade; a 101 must answer exactly NAME. With\n"
"                             ringcast.v1 (the hub's, docs/PROTOCOL.md)\n"
"                             broadcast reads its envelopes: a delivery is a\n"
"                             \"msg\" line (its data the message, its offset\n"
"                             the member's last + 1, else offset_errors),\n"
"                             other lines (joined, presence) are skipped\n"
"      --origin ORIGIN        send Origin: ORIGIN with each upgrade, as a\n"
"                             browser would (\"auto\": http[s]://HOST:PORT)\n"
"      --tls                  wss://: TLS 1.2 or 1.3 (OpenSSL, ALPN http/1.1)\n"
"                             under every scenario; the handshake scenario\n"
"                             then counts full TLS + WebSocket handshakes\n"
"      --tls-ca FILE          verify the server's certificate against the\n"
"                             CA(s) in FILE, and its name (--tls-sni, else\n"
"                             --host); default: take any certificate\n"
"      --tls-sni NAME         server_name to send (default --host when it\n"
"                             is a name, none for an address; \"\": none)\n"
"      --tls-resume           resume a session of the slot's last connections\n"
"                             (a TLS 1.3 ticket once, a TLS 1.2 session while\n"
"                             it lasts) instead of a full handshake\n"
"Load:\n"
"  -c, --conns N              echo: connections (100); idle: connections\n"
"                             (1000); handshake: cycles at once (50)\n"
"  -s, --size BYTES           payload per message (echo 32, broadcast 64;\n"
"                             broadcast needs >= 16 for its stamp); with\n"
"                             --json the average (300, at least %d)\n"
"      --inflight N           echo: messages in flight per connection (1)\n"
"      --text                 echo: TEXT frames of valid mixed-script UTF-8\n"
"                             (default BINARY); broadcast: TEXT of ASCII\n"
"                             letters, the stamp (publisher, sequence\n"
"                             number, send time) its first %d bytes, no\n"
"                             byte that JSON escapes (a ringcast.v1\n"
"                             envelope carries it as it is)\n"
"      --json                 broadcast: TEXT chat messages, JSON of about\n"
"                             --size bytes ({\"id\",\"ts\",\"type\",\"room\",\n"
"                             \"from\",\"text\"}), %d of them in turn, the\n"
"                             text English words from a seeded PRNG; the\n"
"                             stamp in \"id\" (publisher-sequence) and \"ts\"\n"
"      --deflate              offer permessage-deflate (RFC 7692) with\n"
"                             client_max_window_bits; where the server\n"
"                             agrees, messages go out compressed (each made\n"
"                             once) and what comes compressed is inflated\n"
"                             and checked like the rest: without context\n"
"                             (server_no_context_takeover) once per\n"
"                             distinct message and thread, a cache finding\n"
"                             the same bytes after; with it, through a zlib\n"
"                             stream per connection\n"
"  -S, --subscribers N        broadcast: subscribers (100)\n"
"  -m, --messages N           recover: messages published while the\n"
"                             clients are away (300)\n"
"      --publishers N         broadcast: publishers (1); they join the room\n"
"                             too, and ignore what they receive\n"
"  -r, --rate R|max           messages/s per connection (echo) or per\n"
"                             publisher (broadcast); default max. With a\n"
"                             rate, latency counts from when each message\n"
"                             was due (no coordinated omission)\n"
"  -w, --window N             broadcast at max rate: messages per publisher\n"
"                             not yet received by every subscriber (16)\n"
"  -d, --duration SEC         measured time (10; at most %d)\n"
"      --timeout SEC          limit on connect+upgrade, on waiting for an\n"
"                             echo or a stalled window, on the close\n"
"                             handshake (5)\n"
"Scale:\n"
"  -t, --threads N            worker threads per process, one io_uring each (1)\n"
"      --procs N              worker processes (1): connections are split\n"
"                             over processes and threads; each process is\n"
"                             bound by the descriptor limit (raised to the\n"
"                             hard limit)\n"
"      --cpus LIST            pin worker thread i (over all processes) to\n"
"                             the i-th CPU of LIST, e.g. 1 or 2-5,7\n"
"      --src-ips K            bind connection i to 127.0.0.(1 + i %% K): K\n"
"                             times the ~28k ephemeral ports of one source\n"
"                             (loopback targets only)\n"
"      --connect-concurrency N  connections opening at once per thread\n"
"                             during the ramp-up (256)\n"
"Output:\n"
"      --server-pid PID       idle: read the server's VmRSS from /proc\n"
"                             before and after opening the connections;\n"
"                             recover: its CPU time (every thread's\n"
"                             schedstat) over the recovery\n"
"  -n, --name NAME            impl label in the results (ringcast)\n"
"  -q, --quiet                no progress line\n"
"  -h, --help                 this text\n"
"\n"
"Phases: connections open first (bounded by %d s), then the measured run\n"
"of --duration, then (broadcast) up to 2 s for subscribers to catch up,\n"
"then close handshakes (bounded by --timeout). ^C ends the run early and\n"
"still reports; a second ^C exits at once.\n"
"\n"
"Output: a progress line each second on stderr (rewritten in place on a\n"
"terminal); at the end on stdout a bench=load-SCENARIO key=value line, a\n"
"summary, and as the last line one JSON object: params, rates, latency\n"
"percentiles (us: p50 p90 p99 p999 max) and errors by kind (socket,\n"
"connect_refused, connect_failed, handshake_rejected with\n"
"handshake_status, handshake_invalid, tls_handshake, protocol, tls,\n"
"unexpected_message, unexpected_close with close_codes (1006: no close\n"
"frame), timeout_handshake, timeout_response, timeout_close, io); with\n"
"--tls, tls=1 on the bench= line and a \"tls\" object in the JSON. Echo\n"
"and broadcast also give wire_bytes_in= (frame bytes of the messages\n"
"received, as they came) and payload_bytes_in= (their payloads, inflated);\n"
"with --deflate, deflate_conns= (connections that agreed on it) and\n"
"compressed_in= (messages received compressed). The\n"
"first TLS failure of each thread is told on stderr, with OpenSSL's reason.\n"
"Exit status: 0 clean, 1 any error or lost message, 2 bad usage.\n",
		RL_JSON_MIN_SIZE, RL_STAMP_TEXT, RL_JSON_VARIANTS,
		RL_MAX_DURATION_S, RL_RAMP_MAX_S);
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max,
		       unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* A number > 0 and <= @max (seconds, a rate). */
static bool parse_positive(const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > max)
		return false;
	*out = v;
	return true;
}

/* "8080,8081": ports, at most RL_MAX_PORTS. */
static bool parse_ports(const char *s, uint16_t *out, unsigned *n)
{
	*n = 0;
	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s || v < 1 || v > 65535 || *n == RL_MAX_PORTS)
			return false;
		out[(*n)++] = (uint16_t)v;
		if (*end == ',')
			end++;
		else if (*end)
			return false;
		s = end;
	}
	return *n > 0;
}

/* "1", "0-3,6": CPU numbers in order. */
static bool parse_cpus(const char *s, struct rl_cfg *cfg)
{
	cfg->ncpus = 0;
	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s || a < 0)
			return false;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a)
				return false;
		}
		for (long i = a; i <= b; i++) {
			if (cfg->ncpus == RL_MAX_CPUS || i >= CPU_SETSIZE)
				return false;
			cfg->cpus[cfg->ncpus++] = (int)i;
		}
		if (*end == ',')
			end++;
		else if (*end)
			return false;
		s = end;
	}
	return cfg->ncpus > 0;
}

static int resolve(struct rl_cfg *cfg)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai;
	char port[8];
	int ret;

	snprintf(port, sizeof(port), "%u", cfg->port);
	ret = getaddrinfo(cfg->host, port, &hints, &ai);
	if (ret) {
		fprintf(stderr, "ringcast-load: %s: %s\n", cfg->host,
			gai_strerror(ret));
		return -1;
	}
	memcpy(&cfg->addr, ai->ai_addr, ai->ai_addrlen);
	cfg->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	snprintf(cfg->host_header, sizeof(cfg->host_header),
		 strchr(cfg->host, ':') ? "[%s]:%u" : "%s:%u", cfg->host,
		 cfg->port);
	/* The page a browser would have come from: the server's own. */
	if (cfg->origin && !strcmp(cfg->origin, "auto")) {
		snprintf(cfg->origin_auto, sizeof(cfg->origin_auto), "%s://%s",
			 cfg->tls ? "https" : "http", cfg->host_header);
		cfg->origin = cfg->origin_auto;
	}
	return 0;
}

/* Connections (or cycle slots) of the whole run. */
static unsigned total_conns(const struct rl_cfg *cfg)
{
	if (cfg->scenario == RL_SC_BROADCAST)
		return cfg->subscribers + cfg->publishers;
	if (cfg->scenario == RL_SC_RECOVER)
		return cfg->conns + 1;
	return cfg->conns;
}

/* Raise the descriptor limit to the hard limit; fail if one process
   would still need more than that. */
static int raise_nofile(const struct rl_cfg *cfg)
{
	unsigned per_proc = (total_conns(cfg) + cfg->procs - 1) / cfg->procs;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if ((rlim_t)per_proc + FD_SPARE > rl.rlim_cur) {
		unsigned room = rl.rlim_cur > FD_SPARE ?
				(unsigned)(rl.rlim_cur - FD_SPARE) : 1;

		fprintf(stderr,
			"ringcast-load: %u connections per process, but the descriptor limit is %llu: use --procs %u or more\n",
			per_proc, (unsigned long long)rl.rlim_cur,
			(total_conns(cfg) + room - 1) / room);
		return -1;
	}
	return 0;
}

/* VmRSS of @pid in kB, or -1. */
static long read_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

enum {
	OPT_INFLIGHT = 256,
	OPT_TEXT,
	OPT_PUBLISHERS,
	OPT_TIMEOUT,
	OPT_PROCS,
	OPT_CPUS,
	OPT_SRC_IPS,
	OPT_CONNECT_CONC,
	OPT_SERVER_PID,
	OPT_TLS,
	OPT_TLS_CA,
	OPT_TLS_SNI,
	OPT_TLS_RESUME,
	OPT_ORIGIN,
	OPT_JSON,
	OPT_DEFLATE,
	OPT_PORTS,
	OPT_PUB_PORTS,
	OPT_SUBPROTOCOL,
};

/* The long name of option @val, for messages. */
static const char *option_name(const struct option *opts, int val)
{
	for (; opts->name; opts++)
		if (opts->val == val)
			return opts->name;
	return "?";
}

/* Parse argv into @cfg; returns 0, or 2 (bad usage) / -1 (--help done). */
static int parse_args(int argc, char **argv, struct rl_cfg *cfg)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "ports", required_argument, NULL, OPT_PORTS },
		{ "pub-ports", required_argument, NULL, OPT_PUB_PORTS },
		{ "path", required_argument, NULL, 'P' },
		{ "conns", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "inflight", required_argument, NULL, OPT_INFLIGHT },
		{ "text", no_argument, NULL, OPT_TEXT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "deflate", no_argument, NULL, OPT_DEFLATE },
		{ "subscribers", required_argument, NULL, 'S' },
		{ "publishers", required_argument, NULL, OPT_PUBLISHERS },
		{ "messages", required_argument, NULL, 'm' },
		{ "subprotocol", required_argument, NULL, OPT_SUBPROTOCOL },
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "threads", required_argument, NULL, 't' },
		{ "procs", required_argument, NULL, OPT_PROCS },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "src-ips", required_argument, NULL, OPT_SRC_IPS },
		{ "connect-concurrency", required_argument, NULL,
		  OPT_CONNECT_CONC },
		{ "server-pid", required_argument, NULL, OPT_SERVER_PID },
		{ "tls", no_argument, NULL, OPT_TLS },
		{ "origin", required_argument, NULL, OPT_ORIGIN },
		{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
		{ "tls-sni", required_argument, NULL, OPT_TLS_SNI },
		{ "tls-resume", no_argument, NULL, OPT_TLS_RESUME },
		{ "name", required_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned conns = 0, size = 0, pid;
	bool size_set = false;
	const char *scenario;
	int opt;

	while ((opt = getopt_long(argc, argv, "H:p:P:c:s:S:m:r:w:d:t:n:qh", opts,
				  NULL)) != -1) {
		unsigned v = 0;
		bool ok = true;

		switch (opt) {
		case 'H':
			cfg->host = optarg;
			break;
		case 'p':
			ok = parse_uint(optarg, 1, 65535, &v);
			cfg->port = (uint16_t)v;
			break;
		case OPT_PORTS:
			ok = parse_ports(optarg, cfg->ports, &cfg->nports);
			break;
		case OPT_PUB_PORTS:
			ok = parse_ports(optarg, cfg->pub_ports,
					 &cfg->npub_ports);
			break;
		case 'P':
			ok = optarg[0] == '/' && !strpbrk(optarg, " \r\n");
			cfg->path = optarg;
			break;
		case OPT_ORIGIN:
			ok = *optarg && !strpbrk(optarg, "\r\n");
			cfg->origin = optarg;
			break;
		case 'c':
			ok = parse_uint(optarg, 1, 10000000, &conns);
			break;
		case 's':
			ok = parse_uint(optarg, 0, 1u << 30, &size);
			size_set = true;
			break;
		case OPT_INFLIGHT:
			ok = parse_uint(optarg, 1, 65536, &cfg->inflight);
			break;
		case OPT_TEXT:
			cfg->text = true;
			break;
		case OPT_JSON:
			cfg->json = true;
			break;
		case OPT_DEFLATE:
			cfg->deflate = true;
			break;
		case 'S':
			ok = parse_uint(optarg, 1, 10000000, &cfg->subscribers);
			break;
		case OPT_PUBLISHERS:
			ok = parse_uint(optarg, 1, 100000, &cfg->publishers);
			break;
		case 'm':
			ok = parse_uint(optarg, 1, 1000000, &cfg->messages);
			break;
		case OPT_SUBPROTOCOL:
			/* A token (RFC 6455 §4.1: RFC 2616 token characters). */
			ok = *optarg && strlen(optarg) < 128 &&
			     !strpbrk(optarg, " \t\r\n\",;()<>@:\\/[]?={}");
			cfg->subprotocol = optarg;
			break;
		case 'r':
			cfg->rate = 0;
			ok = !strcmp(optarg, "max") ||
			     parse_positive(optarg, 1e9, &cfg->rate);
			break;
		case 'w':
			ok = parse_uint(optarg, 1, 1u << 20, &cfg->window);
			break;
		case 'd':
			ok = parse_positive(optarg, RL_MAX_DURATION_S,
					&cfg->duration_s);
			break;
		case OPT_TIMEOUT:
			ok = parse_positive(optarg, 600, &cfg->timeout_s);
			break;
		case 't':
			ok = parse_uint(optarg, 1, 256, &cfg->threads);
			break;
		case OPT_PROCS:
			ok = parse_uint(optarg, 1, 256, &cfg->procs);
			break;
		case OPT_CPUS:
			ok = parse_cpus(optarg, cfg);
			break;
		case OPT_SRC_IPS:
			ok = parse_uint(optarg, 1, 254, &cfg->src_ips);
			break;
		case OPT_CONNECT_CONC:
			ok = parse_uint(optarg, 1, 1000000,
					&cfg->connect_concurrency);
			break;
		case OPT_SERVER_PID:
			ok = parse_uint(optarg, 1, 1u << 30, &pid);
			cfg->server_pid = (pid_t)pid;
			break;
		case OPT_TLS:
			cfg->tls = true;
			break;
		case OPT_TLS_CA:
			cfg->tls_ca = optarg;
			break;
		case OPT_TLS_SNI:
			ok = !strpbrk(optarg, " \r\n");
			cfg->tls_sni = optarg;
			break;
		case OPT_TLS_RESUME:
			cfg->tls_resume = true;
			break;
		case 'n':
			cfg->name = optarg;
			break;
		case 'q':
			cfg->quiet = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "ringcast-load: bad value for --%s: %s\n",
				option_name(opts, opt), optarg);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "ringcast-load: name one scenario: echo, broadcast, handshake, idle or recover (--help)\n");
		return 2;
	}
	scenario = argv[optind];
	if (!strcmp(scenario, "echo"))
		cfg->scenario = RL_SC_ECHO;
	else if (!strcmp(scenario, "broadcast"))
		cfg->scenario = RL_SC_BROADCAST;
	else if (!strcmp(scenario, "handshake"))
		cfg->scenario = RL_SC_HANDSHAKE;
	else if (!strcmp(scenario, "idle"))
		cfg->scenario = RL_SC_IDLE;
	else if (!strcmp(scenario, "recover"))
		cfg->scenario = RL_SC_RECOVER;
	else {
		fprintf(stderr, "ringcast-load: unknown scenario %s (--help)\n",
			scenario);
		return 2;
	}

	/* --ports: --port is the first (the Host header, the publishers'
	   default). */
	if (cfg->nports)
		cfg->port = cfg->ports[0];
	if (cfg->npub_ports && cfg->scenario != RL_SC_BROADCAST) {
		fprintf(stderr, "ringcast-load: --pub-ports goes with broadcast\n");
		return 2;
	}

	if (!cfg->tls && (cfg->tls_ca || cfg->tls_sni || cfg->tls_resume)) {
		fprintf(stderr, "ringcast-load: --tls-ca, --tls-sni and --tls-resume go with --tls\n");
		return 2;
	}

	/* Defaults that depend on the scenario. */
	if (!cfg->path)
		cfg->path = cfg->scenario == RL_SC_BROADCAST ||
			    cfg->scenario == RL_SC_RECOVER ? "/ws/bench" :
							     "/echo";
	cfg->conns = conns ? conns :
		     cfg->scenario == RL_SC_IDLE ||
		     cfg->scenario == RL_SC_RECOVER ? 1000 :
		     cfg->scenario == RL_SC_HANDSHAKE ? 50 : 100;
	if (cfg->scenario == RL_SC_RECOVER) {
		/* Its clients speak ringcast.v1; its messages are --text. */
		if (cfg->subprotocol && strcmp(cfg->subprotocol, RL_V1_NAME)) {
			fprintf(stderr, "ringcast-load: recover speaks %s\n",
				RL_V1_NAME);
			return 2;
		}
		if (cfg->threads != 1 || cfg->procs != 1 || cfg->json ||
		    cfg->deflate) {
			fprintf(stderr, "ringcast-load: recover runs on one thread (--threads 1 --procs 1), without --json or --deflate\n");
			return 2;
		}
		cfg->subprotocol = RL_V1_NAME;
		cfg->text = true;
		if (!cfg->messages)
			cfg->messages = 300;
	} else if (cfg->messages) {
		fprintf(stderr, "ringcast-load: --messages goes with recover\n");
		return 2;
	}
	cfg->v1 = cfg->subprotocol && !strcmp(cfg->subprotocol, RL_V1_NAME);
	if (cfg->json && cfg->scenario != RL_SC_BROADCAST) {
		fprintf(stderr, "ringcast-load: --json goes with broadcast\n");
		return 2;
	}
	cfg->size = size_set ? size :
		    cfg->json ? 300 :
		    cfg->scenario == RL_SC_BROADCAST ||
		    cfg->scenario == RL_SC_RECOVER ? 64 : 32;
	if (cfg->json && (cfg->size < RL_JSON_MIN_SIZE || cfg->size > 1u << 20)) {
		fprintf(stderr, "ringcast-load: --json needs --size from %d to %u\n",
			RL_JSON_MIN_SIZE, 1u << 20);
		return 2;
	}
	if (cfg->scenario == RL_SC_BROADCAST && cfg->size < RL_STAMP_BIN) {
		fprintf(stderr, "ringcast-load: broadcast needs --size >= %d (send time, publisher, sequence number)\n",
			RL_STAMP_BIN);
		return 2;
	}
	if ((cfg->scenario == RL_SC_BROADCAST ||
	     cfg->scenario == RL_SC_RECOVER) &&
	    cfg->text && !cfg->json && cfg->size < RL_STAMP_TEXT) {
		fprintf(stderr, "ringcast-load: --text needs --size >= %d (its stamp)\n",
			RL_STAMP_TEXT);
		return 2;
	}
	return 0;
}

struct progress {
	bool on;
	bool tty;
	uint64_t next;		/* next line due */
	uint64_t last_t;
	uint64_t last_n;
	size_t width;		/* of the last line, to overwrite it */
};

static uint64_t live_metric(const struct rl_cfg *cfg, const uint64_t *c)
{
	switch (cfg->scenario) {
	case RL_SC_HANDSHAKE:
		return c[RL_C_HANDSHAKES];
	case RL_SC_IDLE:
		return c[RL_C_OPENED];
	default:
		return c[RL_C_MSGS];
	}
}

static const char *live_unit(const struct rl_cfg *cfg)
{
	switch (cfg->scenario) {
	case RL_SC_ECHO:
		return "round trips/s";
	case RL_SC_BROADCAST:
	case RL_SC_RECOVER:
		return "deliveries/s";
	case RL_SC_HANDSHAKE:
		return "handshakes/s";
	default:
		return "opened/s";
	}
}

/* One progress line, each second: rewritten in place on a terminal,
   one per line otherwise. */
static void progress(struct progress *p, const struct rl_cfg *cfg,
		     const struct rl_shared *shm, uint64_t t0)
{
	uint64_t c[RL_C_MAX], now = rl_now(), n;
	enum rl_phase ph = rl_shared_phase(shm);
	char line[256];
	double rate;
	int len, pad;

	if (!p->on || now < p->next)
		return;
	p->next = now + NS;
	rl_shared_sum(shm, c);
	n = live_metric(cfg, c);
	rate = now > p->last_t ? (double)(n - p->last_n) * 1e9 /
				 (double)(now - p->last_t) : 0;
	p->last_t = now;
	p->last_n = n;
	if (ph == RL_PHASE_CONNECT)
		len = snprintf(line, sizeof(line),
			       "[%5.1fs] connecting: %llu/%u open, %llu errors",
			       (double)(now - t0) / 1e9,
			       (unsigned long long)(c[RL_C_OPENED] -
						    c[RL_C_CLOSED]),
			       total_conns(cfg),
			       (unsigned long long)rl_stats_errors(c));
	else
		len = snprintf(line, sizeof(line),
			       "[%5.1fs/%.0fs] %s: %.0f %s, %llu open, %llu errors",
			       now > shm->start_ns ?
			       (double)(now - shm->start_ns) / 1e9 : 0.0,
			       cfg->duration_s,
			       rl_scenario_get(cfg->scenario)->name, rate,
			       live_unit(cfg),
			       (unsigned long long)(c[RL_C_OPENED] -
						    c[RL_C_CLOSED]),
			       (unsigned long long)rl_stats_errors(c));
	if (len < 0)
		return;
	/* Spaces over what a longer previous line left behind. */
	pad = p->width > (size_t)len ? (int)(p->width - (size_t)len) : 0;
	if (p->tty)
		fprintf(stderr, "\r%s%*s", line, pad, "");
	else
		fprintf(stderr, "%s\n", line);
	p->width = (size_t)len;
}

static void progress_end(struct progress *p)
{
	if (p->on && p->tty && p->width)
		fprintf(stderr, "\n");
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NS),
			       .tv_nsec = (long)(ns % NS) };

	nanosleep(&ts, NULL);
}

/* A worker that could not set up: name it, and end the run. */
static bool worker_failed(const struct rl_shared *shm)
{
	for (unsigned i = 0; i < shm->nworkers; i++) {
		int err = __atomic_load_n(&shm->live[i].err, __ATOMIC_RELAXED);

		if (err) {
			fprintf(stderr, "ringcast-load: worker %u cannot start: %s\n",
				i, strerror(-err));
			return true;
		}
	}
	return false;
}

static bool all_ready(const struct rl_shared *shm)
{
	for (unsigned i = 0; i < shm->nworkers; i++)
		if (!__atomic_load_n(&shm->live[i].ready, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* Broadcast: every subscriber open has every message published. */
static bool drained(const struct rl_shared *shm)
{
	uint64_t c[RL_C_MAX], sent = 0;
	int64_t subs = __atomic_load_n(&shm->subs_open, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < shm->npub; i++)
		sent += __atomic_load_n(&shm->pub_sent[i], __ATOMIC_RELAXED);
	rl_shared_sum(shm, c);
	return subs <= 0 || c[RL_C_RECV] >= sent * (uint64_t)subs;
}

/*
 * Drive the phases: ramp-up until every worker is ready, the measured
 * window, the drain, then CLOSE. Fills the run's timing and RSS fields of
 * @s.
 */
static void coordinate(const struct rl_cfg *cfg, struct rl_shared *shm,
		       struct rl_summary *s, struct progress *p)
{
	uint64_t t0 = rl_now(), now, end, c[RL_C_MAX];
	bool failed = false;

	end = t0 + (uint64_t)RL_RAMP_MAX_S * NS;
	while (!interrupted && !(failed = worker_failed(shm)) &&
	       !all_ready(shm) && rl_now() < end) {
		sleep_ns(POLL_NS);
		progress(p, cfg, shm, t0);
	}
	if (interrupted || failed) {
		s->interrupted = interrupted;
		return;
	}
	/* Nothing to measure: say so now rather than after --duration. */
	rl_shared_sum(shm, c);
	if (rl_scenario_get(cfg->scenario)->ramp &&
	    c[RL_C_OPENED] == c[RL_C_CLOSED]) {
		fprintf(stderr, "ringcast-load: no connection is open\n");
		return;
	}

	now = rl_now();
	shm->start_ns = now + LEAD_NS;
	shm->stop_ns = shm->start_ns + (uint64_t)(cfg->duration_s * 1e9);
	rl_shared_set_phase(shm, RL_PHASE_RUN);
	p->last_t = shm->start_ns;
	p->next = shm->start_ns + NS;
	/* recover: ends when its scenario is done, stop_ns at the latest. */
	while (!interrupted && !(failed = worker_failed(shm)) &&
	       (now = rl_now()) < shm->stop_ns &&
	       !__atomic_load_n(&shm->done, __ATOMIC_ACQUIRE)) {
		uint64_t left = shm->stop_ns - now;

		sleep_ns(left < POLL_NS ? left : POLL_NS);
		progress(p, cfg, shm, t0);
	}
	now = rl_now();
	end = now < shm->stop_ns ? now : shm->stop_ns;
	s->run_s = end > shm->start_ns ?
		   (double)(end - shm->start_ns) / 1e9 : 0;
	s->interrupted = interrupted;
	/* Idle: the end of the hold, every connection still open. */
	if (cfg->scenario == RL_SC_IDLE) {
		rl_shared_sum(shm, c);
		s->open_at_end = c[RL_C_OPENED] - c[RL_C_CLOSED];
		if (cfg->server_pid)
			s->rss_after_kb = read_rss_kb(cfg->server_pid);
	}
	if (cfg->scenario != RL_SC_BROADCAST || interrupted || failed)
		return;
	rl_shared_set_phase(shm, RL_PHASE_DRAIN);
	end = now + DRAIN_MAX_NS;
	/* The workers' counters are up to 5 ms old: once they say
	   "drained", wait that long again so the last ones are in. */
	while (!interrupted && rl_now() < end && !drained(shm))
		sleep_ns(POLL_NS / 2);
	sleep_ns(POLL_NS);
}

int main(int argc, char **argv)
{
	static struct rl_cfg cfg = {
		.name = "ringcast",
		.host = "127.0.0.1",
		.port = 8080,
		.inflight = 1,
		.subscribers = 100,
		.publishers = 1,
		.window = 16,
		.duration_s = 10,
		.timeout_s = 5,
		.threads = 1,
		.procs = 1,
		.connect_concurrency = 256,
	};
	static struct rl_result res;
	struct rl_summary s = { .cfg = &cfg, .res = &res, .rss_before_kb = -1,
				.rss_after_kb = -1 };
	struct progress p = { 0 };
	struct rl_procs procs = { 0 };
	struct sigaction sa = { .sa_handler = on_sigint };
	struct rl_shared *shm;
	uint64_t close_wait;
	char errbuf[256];
	int ret;

	ret = parse_args(argc, argv, &cfg);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (resolve(&cfg))
		return 2;
	if (cfg.src_ips && cfg.addr.ss_family != AF_INET) {
		fprintf(stderr, "ringcast-load: --src-ips needs an IPv4 (127.x) target\n");
		return 2;
	}
	if (raise_nofile(&cfg))
		return 2;
	/* Before fork(): a bad --tls-ca shows here, once. */
	if (cfg.tls && rl_tls_init(&cfg, errbuf, sizeof(errbuf))) {
		fprintf(stderr, "ringcast-load: TLS: %s\n", errbuf);
		return 2;
	}
	if (cfg.addr.ss_family == AF_INET &&
	    total_conns(&cfg) > PORTS_PER_SRC * (cfg.src_ips ? cfg.src_ips : 1))
		fprintf(stderr, "ringcast-load: %u connections may run out of source ports: consider --src-ips %u\n",
			total_conns(&cfg),
			total_conns(&cfg) / PORTS_PER_SRC + 1);
	if (cfg.server_pid) {
		s.rss_before_kb = read_rss_kb(cfg.server_pid);
		if (s.rss_before_kb < 0) {
			fprintf(stderr, "ringcast-load: no VmRSS for pid %d\n",
				(int)cfg.server_pid);
			return 2;
		}
	}
	/* The payload kernels the frame decoder uses, chosen once. */
	rc_simd_init();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);

	shm = rl_shared_new(rl_cfg_workers(&cfg), cfg.publishers);
	if (!shm) {
		perror("ringcast-load: shared memory");
		return 1;
	}
	ret = rl_procs_start(&procs, &cfg, shm);
	if (ret) {
		fprintf(stderr, "ringcast-load: cannot start workers: %s\n",
			strerror(-ret));
		rl_shared_free(shm);
		return 1;
	}
	p.on = !cfg.quiet;
	p.tty = isatty(STDERR_FILENO);
	coordinate(&cfg, shm, &s, &p);
	rl_shared_set_phase(shm, RL_PHASE_CLOSE);
	/* Close handshakes take up to --timeout, cancelling stragglers up to
	   a second more; then the results must come. */
	close_wait = rl_now() + (uint64_t)(cfg.timeout_s * 1e9) + 3 * NS;
	s.workers_lost = rl_procs_collect(&procs, &res, close_wait);
	progress_end(&p);
	rl_procs_exit(&procs);
	rl_shared_free(shm);
	if (cfg.tls)
		rl_tls_exit();

	if (s.workers_lost)
		fprintf(stderr, "ringcast-load: %u worker processes sent no result\n",
			s.workers_lost);
	rl_report_text(stdout, &s);
	rl_report_json(stdout, &s);
	fflush(stdout);
	return rl_report_errors(&s) || rl_report_lost(&s) ? 1 : 0;
}
