/* SPDX-License-Identifier: MIT */
/* server.h -- the server object shared by its workers. */
#ifndef RC_SERVER_H
#define RC_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "pubsub/pubsub.h"
#include "ringcast.h"
#include "tls/tls.h"

struct rc_worker;

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
	int started;			/* workers created (under run_lock) */
	bool joined;
	/* Set by rc_server_stop() from any thread (a signal handler too),
	   and when the workers are gone. */
	_Atomic int stopping;
	/* Connections open across all workers, for max_connections: one
	   atomic add per accept and per close, never per message. */
	_Atomic unsigned nconns;
	struct rc_ps ps;		/* pubsub/ */
	struct rc_tls tls;		/* tls/: certificates in force */
};

#endif /* RC_SERVER_H */
