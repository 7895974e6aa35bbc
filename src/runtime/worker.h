/* SPDX-License-Identifier: MIT */
/* worker.h -- one thread, one io_uring: its connections, the loop. */
#ifndef RC_WORKER_H
#define RC_WORKER_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>

#include "pubsub/pubsub.h"
#include "runtime/conn.h"
#include "runtime/outq.h"
#include "runtime/recvbuf.h"
#include "runtime/ring.h"
#include "runtime/server.h"
#include "runtime/stats.h"
#include "runtime/timer.h"
#include "tls/tls.h"

struct rc_server;

/* The message on_message is handling on this worker (rc__delivering(),
   rc__validated_text()). */
struct rc_delivery {
	struct rc_conn *conn;
	const void *data;
	size_t len;
	uint8_t opcode;
};

/* Accepts a listener keeps pending, each with the peer address it will
   fill: a multishot accept has one address buffer for all its
   completions, overwritten before we could read it. */
#define RC_ACCEPTS 8

/* Room for rc_upgrade_header()'s headers, all together. */
#define RC_UP_HEADERS_MAX 1024

/* A connection to close at a wall-clock time (rc_conn_close_at()). */
struct rc_deadline {
	int64_t unix_ms;
	uint64_t id;			/* the connection, if still there */
	const char *reason;
	uint16_t code;
};

/* A listening socket of a worker (SO_REUSEPORT, one per worker). */
struct rc_listener {
	int fd;
	bool tls;			/* its connections speak TLS */
	bool inherited;			/* a copy of a handed-over socket:
					   closed, never shut down */
	uint8_t armed;			/* bit k: accept k is pending */
	uint32_t backoff_ms;		/* after an accept error; 0: none */
	uint32_t retry_ms;		/* when to arm them again */
	struct {
		struct sockaddr_storage addr;
		socklen_t len;
	} acc[RC_ACCEPTS];
};

/* The main listener of each address, and a TLS one beside each
   (rc_config.tls_port). */
#define RC_LISTENERS (2 * RC_LISTEN_MAX)

/* The sockets a worker is given (server.c), which it owns from then on. */
struct rc_listener_set {
	int fd[RC_LISTENERS];
	bool tls[RC_LISTENERS];
	bool inherited[RC_LISTENERS];
	unsigned n;
};

/* A worker. Each part belongs to the file named beside it. */
struct rc_worker {
	struct rc_server *srv;
	unsigned idx;
	pthread_t thread;
	sem_t ready;			/* posted once the ring is set up */
	int init_err;
	struct rc_listener lis[RC_LISTENERS];
	unsigned nlis;
	int wake_fd;			/* eventfd: stop, mail from threads */
	uint64_t wake_val;
	bool stopping;
	/* rc_server_drain(), as this worker saw it: the generation it
	   last read, and when the time left runs out. */
	bool draining;
	unsigned drain_gen;
	uint32_t drain_end_ms;
	/* now_ms at the end of each loop turn, for rc_server_alive(). */
	_Atomic uint32_t beat;

	struct rc_ring ring;		/* ring.c */
	struct rc_recvbuf rb;		/* recvbuf.c */
	struct rc_timers timers;	/* timer.c */
	struct rc_outpool out;		/* outq.c */
	struct rc_ps_worker ps;		/* pubsub/ */
	struct rc_tls_worker tlsw;	/* tls/ */
	struct rc_counters stats;

	/* worker.c */
	struct rc_http_header *hdrs;	/* parser scratch, max_headers */
	struct rc_conn *conns;		/* indexed by slot */
	/* permessage-deflate's dedicated mode only (else NULL): each
	   connection's windows, by slot, so a connection holds no pointer
	   for them in shared mode (conn_ws.c). */
	struct rc_zconn **zconns;
	uint32_t nslots;		/* direct descriptor table size */
	uint32_t nconns;		/* slots with a connection */
	uint32_t nretired;		/* slots retired (rc__conn_closed) */
	uint32_t dirty_head;		/* flush list */
	uint32_t now_ms;
	uint32_t pool_trim_ms;
	unsigned long id_gen_start;	/* tests: generations start here */
	struct rc_delivery cur;

	/* conn_http.c: headers for the answer to the upgrade whose
	   on_upgrade runs now (rc_upgrade_header()). */
	struct rc_conn *up_conn;
	uint16_t up_len;
	uint16_t up_ext;		/* of which the first, our
					   Sec-WebSocket-Extensions answer */
	char up_hdrs[RC_UP_HEADERS_MAX + 1];

	/* conn.c: rc_conn_close_at() deadlines, a min-heap by time. */
	struct rc_deadline *dl;
	uint32_t ndl, dl_cap, dl_live;
};

/* Set up worker @idx with its listening sockets, which it owns from now
   on, also on failure. */
int rc__worker_init(struct rc_worker *w, struct rc_server *s, unsigned idx,
		    const struct rc_listener_set *ls);
/* Shut its listeners down at once (any thread: new connections are
   refused by the kernel from now on); copies of handed-over sockets are
   left to the worker to close. */
void rc__worker_unlisten(struct rc_worker *w);
/* clock_ms() as the workers read it. */
uint32_t rc__clock_ms(void);
void *rc__worker_main(void *arg);
void rc__worker_free(struct rc_worker *w);

/* The worker this thread runs, or NULL on other threads. */
extern __thread struct rc_worker *rc__self;

/* Put @c on the list handled at the end of the loop turn: re-arm its recv
   (RC_CF_REARM) and send its queued output. */
void rc__dirty(struct rc_conn *c);

/* A connection's server configuration, handlers and counters (inline:
   several per message). */
static inline const struct rc_config *rc__conn_cfg(const struct rc_conn *c)
{
	return &c->w->srv->cfg;
}

static inline const struct rc_handlers *
rc__conn_handlers(const struct rc_conn *c)
{
	return &c->w->srv->h;
}

static inline void rc__conn_stat(struct rc_conn *c, enum rc_stat i,
				 int64_t n)
{
	rc__stat_add(&c->w->stats, i, n);
}

#endif /* RC_WORKER_H */
