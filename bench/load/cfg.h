/* SPDX-License-Identifier: MIT */
/* cfg.h -- the parameters of one ringcast-load run, as parsed from the command line. */
#ifndef RL_CFG_H
#define RL_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define RL_MAX_CPUS		1024
#define RL_MAX_DURATION_S	3600	/* hard cap on --duration */
#define RL_RAMP_MAX_S		120	/* hard cap on opening the connections */
#define RL_MAX_PORTS		64	/* --ports, --pub-ports */

enum rl_scenario_kind {
	RL_SC_ECHO,
	RL_SC_BROADCAST,
	RL_SC_HANDSHAKE,
	RL_SC_IDLE,
	RL_SC_RECOVER,
};

/* Filled by main.c before any worker exists; read-only afterwards (the
   worker processes get a copy by fork()). */
struct rl_cfg {
	enum rl_scenario_kind scenario;
	const char *name;		/* impl label in the results */
	const char *host;		/* as given: for the Host header */
	uint16_t port;
	/* --ports: connection i (broadcast: subscriber i) goes to
	   ports[i % nports]; --pub-ports: publisher j to pub_ports[j %
	   npub_ports] (default: the first of --ports). 0: all to port. */
	uint16_t ports[RL_MAX_PORTS];
	unsigned nports;
	uint16_t pub_ports[RL_MAX_PORTS];
	unsigned npub_ports;
	const char *path;
	/* --subprotocol: sent as Sec-WebSocket-Protocol, the 101 must
	   answer it; "ringcast.v1" also makes the tool read the hub's
	   envelopes (v1.h). NULL: none. */
	const char *subprotocol;
	bool v1;			/* subprotocol is ringcast.v1 */
	const char *origin;		/* Origin header of upgrades, or NULL */
	char origin_auto[320];		/* --origin auto: made from the target */
	struct sockaddr_storage addr;	/* resolved --host/--port */
	socklen_t addrlen;
	char host_header[300];		/* "host:port", IPv6 in brackets */

	unsigned conns;			/* echo, idle: connections;
					   handshake: cycles at once */
	unsigned subscribers;		/* broadcast */
	unsigned publishers;		/* broadcast */
	size_t size;			/* payload bytes per message */
	unsigned inflight;		/* echo: messages in flight per conn */
	bool text;			/* echo: TEXT frames (valid UTF-8);
					   broadcast, recover: TEXT with an
					   ASCII stamp (payload.h) */
	bool json;			/* broadcast: ~--size-byte JSON chat
					   messages (TEXT) */
	bool deflate;			/* offer permessage-deflate; compress
					   and inflate where agreed */
	double rate;			/* msgs/s per connection (echo) or
					   per publisher (broadcast); 0: max */
	unsigned window;		/* broadcast, max rate: messages per
					   publisher not yet everywhere */
	unsigned messages;		/* recover: published while the
					   clients are away */
	double duration_s;
	double timeout_s;		/* handshake, response, close */

	unsigned procs;			/* worker processes */
	unsigned threads;		/* worker threads per process */
	unsigned ncpus;			/* --cpus: pin thread i to cpus[i % n] */
	int cpus[RL_MAX_CPUS];
	unsigned src_ips;		/* bind conn i to 127.0.0.(1 + i % K) */
	unsigned connect_concurrency;	/* per thread, while ramping up */

	bool tls;			/* wss:// (tls.c) */
	const char *tls_ca;		/* verify the server against it; NULL:
					   take any certificate */
	const char *tls_sni;		/* NULL: --host if a name; "": none */
	bool tls_resume;		/* reuse sessions/tickets */

	pid_t server_pid;		/* idle: RSS from /proc; 0 none */
	bool quiet;			/* no progress line */
};

/* inline defs */

/* Worker threads in all processes. */
static inline unsigned rl_cfg_workers(const struct rl_cfg *cfg)
{
	return cfg->procs * cfg->threads;
}

/* The port of connection @gid (over all workers; broadcast: of the
   subscribers) and of publisher @id. */
static inline uint16_t rl_cfg_conn_port(const struct rl_cfg *cfg,
					unsigned gid)
{
	return cfg->nports ? cfg->ports[gid % cfg->nports] : cfg->port;
}

static inline uint16_t rl_cfg_pub_port(const struct rl_cfg *cfg, unsigned id)
{
	return cfg->npub_ports ? cfg->pub_ports[id % cfg->npub_ports] :
	       cfg->port;
}

/* Whether the run spreads over more than one port (latency is then also
   told apart by whether subscriber and publisher share a server). */
static inline bool rl_cfg_multi_port(const struct rl_cfg *cfg)
{
	for (unsigned i = 0; i < cfg->nports; i++)
		if (cfg->ports[i] != cfg->port)
			return true;
	for (unsigned i = 0; i < cfg->npub_ports; i++)
		if (cfg->pub_ports[i] != cfg->port)
			return true;
	return false;
}

/* How many of @total items (connections, publishers) worker @w of @n
   takes when item i goes to worker i % n. */
static inline unsigned rl_cfg_share(unsigned total, unsigned w, unsigned n)
{
	return total / n + (w < total % n);
}

#endif /* RL_CFG_H */
