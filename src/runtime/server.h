/* SPDX-License-Identifier: MIT */
/* server.h -- the server object shared by its workers. */
#ifndef RC_SERVER_H
#define RC_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "pubsub/pubsub.h"
#include "ringcast.h"
#include "runtime/peers.h"
#include "tls/tls.h"

struct rc_worker;

/* A listening address (listen.c), its port filled in once bound. */
struct rc_laddr {
	struct sockaddr_storage ss;
	socklen_t len;
	bool dual;			/* "::": IPv4 too (IPV6_V6ONLY off) */
};

struct rc_server {
	struct rc_config cfg;		/* copied; strings point into ours */
	char host[64];
	const char **protos;		/* copies of cfg.subprotocols */
	struct rc_handlers h;
	void *user;
	uint16_t port;
	uint16_t tls_port;		/* the TLS listener's, if separate */
	bool tls_listener;		/* a TLS listener beside the main one */
	unsigned nworkers;
	struct rc_worker **workers;
	pthread_mutex_t run_lock;	/* start/run/free against each other */
	_Atomic int started;		/* workers created (written under
				   run_lock; rc_server_alive() reads) */
	bool joined;
	/* Set by rc_server_stop() from any thread (a signal handler too),
	   and when the workers are gone. */
	_Atomic int stopping;
	/* Connections open across all workers, for max_connections: one
	   atomic add per accept and per close, never per message. */
	_Atomic unsigned nconns;
	/* allow_origins (copies), replaced by rc_server_set_origins():
	   read-locked for each upgrade that carries an Origin. */
	char **origins;
	pthread_rwlock_t origins_lock;
	/* listen.c: the addresses of the main listeners (the TLS ones
	   share them, at tls_port), or the handed-over sockets. */
	struct rc_laddr addrs[RC_LISTEN_MAX];
	unsigned naddrs;
	/* rc_server_drain(): set once; @drain_gen moves on every call, with
	   @drain_ms the time left from then; the reason is written before
	   @draining. */
	_Atomic int draining;
	_Atomic unsigned drain_gen;
	_Atomic unsigned drain_ms;
	char drain_reason[124];
	pthread_mutex_t drain_lock;	/* callers of rc_server_drain() */
	struct rc_peers peers;		/* peers.c: per-address limits */
	/* Per-connection rate limits (conn_ws.c): the message bucket holds
	   @rl_msg_full (a second's worth, msg_rate times @rl_msg_cost, at
	   most RC_RL_FULL), the byte bucket RC_RL_FULL, a message costing
	   its length * RC_RL_FULL / byte_rate. 0: that limit is off. */
	uint32_t rl_msg_cost, rl_msg_full;
	uint64_t rl_byte_rate;
	/* Bytes of messages held partly received, all workers: an atomic
	   add only when a message spans reads (conn_ws.c). */
	_Atomic size_t partial;
	struct rc_ps ps;		/* pubsub/ */
	struct rc_tls tls;		/* tls/: certificates in force */
};

/* Through cfg.log, if set: one line, never per message. */
__attribute__((format(printf, 3, 4)))
void rc__log(const struct rc_server *s, enum rc_log_level lv,
	     const char *fmt, ...);

#endif /* RC_SERVER_H */
