/* SPDX-License-Identifier: MIT */
/* server.c -- the API's lifecycle: config, kernel check, listeners, workers. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libdeflate.h>
#include <nats/nats.h>
#include <openssl/crypto.h>
#include <zlib.h>

#include "bridge/bridge.h"
#include "proto/http.h"
#include "pubsub/history.h"
#include "pubsub/presence.h"
#include "runtime/fault.h"
#include "runtime/listen.h"
#include "runtime/rt.h"
#include "runtime/server.h"
#include "runtime/worker.h"
#include "simd/simd.h"
#include "tls/tls.h"

_Static_assert(sizeof(struct rc_stats) == RC_STAT_COUNT * sizeof(uint64_t),
	       "enum rc_stat must list every field of struct rc_stats");
_Static_assert(RC_MAX_MESSAGE_LIMIT + RC_FRAME_HDR_MAX <= UINT32_MAX,
	       "a whole frame's length fits 32 bits");

struct rc_config rc_config_default(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct rc_config c = {
		.host = "0.0.0.0",
		.port = 8080,
		.threads = ncpu > 0 ? (unsigned)ncpu : 1,
		.pin_threads = true,
		.max_connections = 100000,
		.max_message = 16u << 20,
		.max_head = 8192,
		.max_headers = 128,
		.max_backpressure = 1u << 20,
		.handshake_timeout_ms = 10000,
		.close_timeout_ms = 5000,
		.idle_timeout_ms = 60000,
		.max_topics = 65536,
		.slow_policy = RC_SLOW_CLOSE,
		.max_conns_per_ip = 1024,
		.conn_rate_per_ip = 256,
		.msg_rate = 1000,
		.byte_rate = 8u << 20,
		.max_subscriptions = 128,
		.max_partial_total = 256u << 20,
		.deflate_level = 4,
		.deflate_min_size = 128,
	};
	return c;
}

/* Kernels are picked once per process, before any worker runs. */
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

static void simd_pick(void)
{
	rc_simd_init();
}

static void fill_defaults(struct rc_config *c)
{
	struct rc_config d = rc_config_default();

	if (!c->host || !*c->host)
		c->host = d.host;
	if (!c->threads)
		c->threads = d.threads;
	if (!c->max_connections)
		c->max_connections = d.max_connections;
	if (!c->max_message)
		c->max_message = d.max_message;
	/* Lengths of gathered messages and shared frames are 32-bit. */
	if (c->max_message > RC_MAX_MESSAGE_LIMIT)
		c->max_message = RC_MAX_MESSAGE_LIMIT;
	if (!c->max_head)
		c->max_head = d.max_head;
	if (!c->max_headers)
		c->max_headers = d.max_headers;
	if (!c->max_backpressure)
		c->max_backpressure = d.max_backpressure;
	if (!c->handshake_timeout_ms)
		c->handshake_timeout_ms = d.handshake_timeout_ms;
	if (!c->close_timeout_ms)
		c->close_timeout_ms = d.close_timeout_ms;
	if (!c->idle_timeout_ms)
		c->idle_timeout_ms = d.idle_timeout_ms;
	/* The ping timer is also when a connection's rate buckets catch up
	   with a clock that laps every 70 minutes (conn_ws.c). */
	if (c->idle_timeout_ms > RC_IDLE_TIMEOUT_MAX_MS)
		c->idle_timeout_ms = RC_IDLE_TIMEOUT_MAX_MS;
	/* recv_buffers, recv_buffer_size: 0 stays 0, chosen by the worker
	   from what the kernel supports. */
	if (!c->max_topics)
		c->max_topics = d.max_topics;
	if (!c->max_conns_per_ip)
		c->max_conns_per_ip = d.max_conns_per_ip;
	if (!c->conn_rate_per_ip)
		c->conn_rate_per_ip = d.conn_rate_per_ip;
	if (!c->msg_rate)
		c->msg_rate = d.msg_rate;
	if (!c->byte_rate)
		c->byte_rate = d.byte_rate;
	if (!c->max_subscriptions)
		c->max_subscriptions = d.max_subscriptions;
	if (!c->max_partial_total)
		c->max_partial_total = d.max_partial_total;
	if (!c->deflate_level)
		c->deflate_level = d.deflate_level;
	if (!c->deflate_min_size)
		c->deflate_min_size = d.deflate_min_size;
}

static int why_set(char *why, size_t cap, int err, const char *msg)
{
	if (why && cap)
		snprintf(why, cap, "%s", msg);
	return err;
}

int rc_kernel_check(char *why, size_t cap)
{
	static const struct {
		int op;
		const char *msg;
	} ops[] = {
		{ IORING_OP_ACCEPT, "io_uring: no IORING_OP_ACCEPT (needs Linux 5.5)" },
		{ IORING_OP_RECV, "io_uring: no IORING_OP_RECV (needs Linux 5.6)" },
		{ IORING_OP_SEND, "io_uring: no IORING_OP_SEND (needs Linux 5.6)" },
		{ IORING_OP_CLOSE, "io_uring: no IORING_OP_CLOSE (needs Linux 5.6)" },
		{ IORING_OP_SHUTDOWN, "io_uring: no IORING_OP_SHUTDOWN (needs Linux 5.11)" },
		{ IORING_OP_ASYNC_CANCEL, "io_uring: no IORING_OP_ASYNC_CANCEL (needs Linux 5.5)" },
		{ IORING_OP_MSG_RING, "io_uring: no IORING_OP_MSG_RING (needs Linux 5.18)" },
	};
	struct io_uring_params p = { 0 };
	struct io_uring_buf_reg reg = { 0 };
	struct io_uring_probe *probe;
	struct io_uring ring;
	void *br;
	int ret;

	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	ret = io_uring_queue_init_params(8, &ring, &p);
	if (ret == -ENOSYS)
		return why_set(why, cap, ret, "io_uring is not available in this kernel (needs Linux 6.1 with CONFIG_IO_URING)");
	if (ret == -EPERM)
		return why_set(why, cap, ret, "io_uring is disabled for this process (sysctl kernel.io_uring_disabled or a seccomp filter)");
	if (ret == -EINVAL)
		return why_set(why, cap, -ENOTSUP, "io_uring: no IORING_SETUP_DEFER_TASKRUN (needs Linux 6.1)");
	if (ret)
		return why_set(why, cap, ret, "io_uring_setup failed");
	probe = io_uring_get_probe_ring(&ring);
	for (size_t i = 0; probe && i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!io_uring_opcode_supported(probe, ops[i].op)) {
			ret = why_set(why, cap, -ENOTSUP, ops[i].msg);
			goto out;
		}
	}
	if (io_uring_register_files_sparse(&ring, 16)) {
		ret = why_set(why, cap, -ENOTSUP, "io_uring: no sparse direct descriptor table (needs Linux 5.19)");
		goto out;
	}
	br = aligned_alloc(4096, 4096);
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = 8;
	if (!br || io_uring_register_buf_ring(&ring, &reg, 0))
		ret = why_set(why, cap, -ENOTSUP, "io_uring: no provided buffer rings (needs Linux 5.19)");
	else
		io_uring_unregister_buf_ring(&ring, 0);
	free(br);
out:
	if (probe)
		io_uring_free_probe(probe);
	io_uring_queue_exit(&ring);
	return ret;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	/* Direct descriptor tables are bounded by RLIMIT_NOFILE. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * The subprotocols, checked and copied: each goes into a response header,
 * so it must be a token (RFC 6455 §4.1): a CR or LF would let the
 * configuration inject headers. At most 127 (an int8_t per connection).
 */
static int copy_protocols(struct rc_server *s)
{
	size_t n = s->cfg.nsubprotocols;

	if (!n) {
		s->cfg.subprotocols = NULL;
		return 0;
	}
	if (n > 127 || !s->cfg.subprotocols)
		return -EINVAL;
	s->protos = calloc(n, sizeof(*s->protos));
	if (!s->protos)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!rc_http_is_token(s->cfg.subprotocols[i])) {
			s->cfg.nsubprotocols = i;
			return -EINVAL;
		}
		s->protos[i] = strdup(s->cfg.subprotocols[i]);
		if (!s->protos[i]) {
			s->cfg.nsubprotocols = i;
			return -ENOMEM;
		}
	}
	s->cfg.subprotocols = s->protos;
	return 0;
}

/* An allow_origins list, checked and copied into @out (NULL for none). */
static int origins_copy(const char *const *list, size_t n, char ***out)
{
	char **v;

	*out = NULL;
	if (!n)
		return 0;
	if (!list)
		return -EINVAL;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *o = list[i];

		/* It is compared with a header: no control characters. */
		v[i] = o && *o && rc_http_is_field_value(o) ? strdup(o) : NULL;
		if (!v[i]) {
			int err = o && *o && rc_http_is_field_value(o) ?
				  -ENOMEM : -EINVAL;

			while (i)
				free(v[--i]);
			free(v);
			return err;
		}
	}
	*out = v;
	return 0;
}

static void origins_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static int copy_origins(struct rc_server *s)
{
	int ret = origins_copy(s->cfg.allow_origins, s->cfg.nallow_origins,
			       &s->origins);

	if (ret)
		s->cfg.nallow_origins = 0;
	s->cfg.allow_origins = (const char *const *)s->origins;
	return ret;
}

int rc_server_set_origins(struct rc_server *s, const char *const *origins,
			  size_t n)
{
	char **v, **old;
	size_t oldn;
	int ret;

	if (!s)
		return -EINVAL;
	ret = origins_copy(origins, n, &v);
	if (ret)
		return ret;
	pthread_rwlock_wrlock(&s->origins_lock);
	old = s->origins;
	oldn = s->cfg.nallow_origins;
	s->origins = v;
	s->cfg.allow_origins = (const char *const *)v;
	s->cfg.nallow_origins = n;
	pthread_rwlock_unlock(&s->origins_lock);
	origins_free(old, oldn);
	return 0;
}

/* Topics' history (history.h), within bounds the API can keep. */
static int history_new(struct rc_server *s)
{
	struct rc_history *H;
	int ret;

	if (s->cfg.history_size > RC_HISTORY_MAX)
		return -EINVAL;
	if (!s->cfg.history_memory)
		s->cfg.history_memory = 64u << 20;
	H = aligned_alloc(64, sizeof(*H));
	if (!H)
		return -ENOMEM;
	ret = rc__hist_init(H, s->cfg.history_size, s->cfg.history_ttl_ms,
			    s->cfg.history_memory);
	s->ps.hist = H;		/* freed with the server, also half made */
	return ret;
}

/* The rate limits as bucket costs (conn_ws.c): a bucket holds
   RC_RL_FULL, a second's worth. */
static void rate_costs(struct rc_server *s)
{
	unsigned m = s->cfg.msg_rate;

	/* A whole number of units per message, so a full bucket is
	   exactly msg_rate messages. */
	if (m > RC_RL_FULL && m != RC_UNLIMITED)
		m = RC_RL_FULL;
	s->rl_msg_cost = m == RC_UNLIMITED ? 0 : RC_RL_FULL / m;
	s->rl_msg_full = s->rl_msg_cost * m;
	s->rl_byte_rate = s->cfg.byte_rate == RC_UNLIMITED_SIZE ? 0 :
			  (uint64_t)s->cfg.byte_rate;
}

/*
 * One worker's listening sockets: for each address, one at its port (the
 * main listener, TLS when it has certificates and no tls_port) and one at
 * tls_port; or a copy of each handed-over socket. A port 0 becomes the
 * one the first worker got, so that all share it.
 */
static int make_listeners(struct rc_server *s, struct rc_listener_set *ls)
{
	bool main_tls = s->cfg.ntls_certs && !s->tls_listener;
	int fd;

	memset(ls, 0, sizeof(*ls));
	for (size_t k = 0; k < s->cfg.nlisten_fds; k++) {
		fd = fcntl(s->cfg.listen_fds[k], F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			goto fail;
		ls->fd[ls->n] = fd;
		ls->tls[ls->n] = main_tls;
		ls->inherited[ls->n++] = true;
	}
	for (int pass = 0; pass < (s->tls_listener ? 2 : 1); pass++) {
		for (unsigned i = 0; i < s->naddrs; i++) {
			struct rc_laddr *a = &s->addrs[i];
			uint16_t port = pass ? s->tls_port :
					rc__laddr_port(&a->ss);

			fd = rc__listen_socket(a, port, true);
			if (fd < 0)
				goto fail;
			if (!port && pass)
				s->tls_port = rc__fd_port(fd);
			else if (!port)
				rc__laddr_set_port(&a->ss, rc__fd_port(fd));
			ls->fd[ls->n] = fd;
			ls->tls[ls->n++] = pass || main_tls;
		}
	}
	return 0;
fail:
	fd = -errno;
	for (unsigned k = 0; k < ls->n; k++)
		close(ls->fd[k]);
	ls->n = 0;
	return fd;
}

static void log_start(struct rc_server *s)
{
	char line[RC_LISTENERS * 48 + 64], addr[64];
	size_t n = 0;

	if (!s->cfg.log)
		return;
	n += (size_t)snprintf(line, sizeof(line), "listening on");
	for (unsigned i = 0; rc_server_listener(s, i, addr, sizeof(addr)) &&
	     n < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s",
				      i ? "," : "", addr);
	rc__log(s, RC_LOG_INFO, "%s", line);
}

struct rc_server *rc_server_new(const struct rc_config *cfg,
				const struct rc_handlers *h, void *user)
{
	struct rc_server *s;
	char why[256];
	int ret;

	if (!cfg) {
		errno = EINVAL;
		return NULL;
	}
	ret = rc_kernel_check(NULL, 0);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	pthread_once(&simd_once, simd_pick);
	rc__fault_init();
	raise_nofile();
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&s->run_lock, NULL);
	pthread_mutex_init(&s->drain_lock, NULL);
	pthread_rwlock_init(&s->origins_lock, NULL);
	s->cfg = *cfg;
	fill_defaults(&s->cfg);
	if (strlen(s->cfg.host) >= sizeof(s->host)) {
		errno = EINVAL;
		goto out_free;
	}
	snprintf(s->host, sizeof(s->host), "%s", s->cfg.host);
	s->cfg.host = s->host;
	if (h)
		s->h = *h;
	s->user = user;
	if (s->cfg.threads > 64)
		s->cfg.threads = 64;	/* workers are bits of a 64-bit mask */
	s->nworkers = s->cfg.threads;
	if ((s->cfg.deflate_window_bits != RC_DEFLATE_OFF &&
	     s->cfg.deflate_window_bits != 0 &&
	     (s->cfg.deflate_window_bits < 9 ||
	      s->cfg.deflate_window_bits > 15)) ||
	    s->cfg.deflate_level < 1 || s->cfg.deflate_level > 12) {
		errno = EINVAL;
		goto out_free;
	}
	rate_costs(s);
	ret = copy_protocols(s);
	if (!ret)
		ret = copy_origins(s);
	if (!ret)
		ret = rc__peers_init(&s->peers, s->cfg.max_conns_per_ip,
				     s->cfg.conn_rate_per_ip,
				     s->cfg.max_connections,
				     s->cfg.trusted_proxies,
				     s->cfg.ntrusted_proxies);
	if (!ret) {
		/* Copied into the table (the strings are not kept). */
		s->cfg.trusted_proxies = NULL;
		s->cfg.ntrusted_proxies = 0;
		ret = rc__ps_init(&s->ps, s->nworkers, s->cfg.max_topics,
				  s->cfg.max_message, &s->stopping);
		s->ps.z_on = s->cfg.deflate_window_bits != RC_DEFLATE_OFF;
		s->ps.z_level = s->cfg.deflate_level;
		s->ps.z_min = s->cfg.deflate_min_size;
	}
	if (!ret && s->cfg.history_size)
		ret = history_new(s);
	if (!ret && s->cfg.presence) {
		s->ps.pres = aligned_alloc(64, sizeof(*s->ps.pres));
		ret = s->ps.pres ? rc__pres_init(s->ps.pres,
						 s->cfg.presence_label,
						 s->cfg.presence_user) :
				   -ENOMEM;
	}
	s->ps.stamp = s->cfg.stamp;
	s->ps.stamp_user = s->cfg.stamp_user;
	if (!ret)
		ret = rc__tls_init(&s->tls, &s->cfg, why, sizeof(why));
	/* Copied by the bridge (the strings are not kept). */
	if (!ret && s->cfg.nats_urls)
		ret = rc__bridge_new(&s->ps.bridge, &s->ps, s->cfg.nats_urls,
				     s->cfg.nats_prefix, s->cfg.log,
				     s->cfg.log_user);
	s->cfg.nats_urls = s->cfg.nats_prefix = NULL;
	if (ret) {
		errno = -ret;
		goto out_free;
	}
	s->workers = calloc(s->nworkers, sizeof(*s->workers));
	if (!s->workers) {
		errno = ENOMEM;
		goto out_free;
	}
	/* With certificates, the main listeners speak TLS unless tls_port
	   asks for listeners of their own (-1: on any free port). */
	s->tls_listener = s->cfg.ntls_certs && s->cfg.tls_port;
	if (s->tls_listener && s->cfg.tls_port > 0)
		s->tls_port = (uint16_t)s->cfg.tls_port;
	if (s->cfg.nlisten_fds && (s->tls_listener || !s->cfg.listen_fds ||
				   s->cfg.nlisten_fds > RC_LISTEN_MAX)) {
		errno = EINVAL;
		goto out_free;
	}
	ret = rc__listen_resolve(s);
	if (!ret)
		ret = rc__listen_check(s, s->tls_port, s->tls_listener);
	if (ret) {
		errno = -ret;
		goto out_free;
	}
	for (unsigned i = 0; i < s->nworkers; i++) {
		struct rc_listener_set ls;

		s->workers[i] = calloc(1, sizeof(struct rc_worker));
		ret = s->workers[i] ? make_listeners(s, &ls) : -ENOMEM;
		if (ret) {
			errno = -ret;
			goto out_free;
		}
		ret = rc__worker_init(s->workers[i], s, i, &ls);
		if (ret) {
			errno = -ret;
			goto out_free;
		}
	}
	s->port = s->naddrs ? rc__laddr_port(&s->addrs[0].ss) :
		  rc__fd_port(s->cfg.listen_fds[0]);
	/* Handed over: the workers have copies, ours are not needed. */
	for (size_t k = 0; k < s->cfg.nlisten_fds; k++)
		close(s->cfg.listen_fds[k]);
	s->cfg.nlisten_fds = 0;
	s->cfg.listen_fds = NULL;
	s->cfg.listen = NULL;
	s->cfg.nlisten = 0;
	log_start(s);
	return s;
out_free:
	ret = errno;
	/* They were given to us: on failure too. */
	for (size_t k = 0; k < s->cfg.nlisten_fds; k++)
		close(s->cfg.listen_fds[k]);
	s->cfg.nlisten_fds = 0;
	rc_server_free(s);
	errno = ret;
	return NULL;
}

uint16_t rc_server_port(const struct rc_server *s)
{
	return s->port;
}

uint16_t rc_server_tls_port(const struct rc_server *s)
{
	return s && s->tls_listener ? s->tls_port : 0;
}

int rc_server_tls_reload(struct rc_server *s, char *why, size_t cap)
{
	char buf[256];

	if (!s)
		return -EINVAL;
	if (!why || !cap) {
		why = buf;
		cap = sizeof(buf);
	}
	return rc__tls_reload(&s->tls, why, cap);
}

void *rc_server_user(const struct rc_server *s)
{
	return s->user;
}

/* Wait for the workers that were started; their first error, or 0. */
static int join_workers(struct rc_server *s)
{
	int ret = 0;

	pthread_mutex_lock(&s->run_lock);
	if (!s->joined) {
		for (int i = 0; i < s->started; i++) {
			pthread_join(s->workers[i]->thread, NULL);
			if (!ret)
				ret = s->workers[i]->init_err;
		}
		/* No worker runs any more, whatever ended them: publishers
		   on other threads now get -ESHUTDOWN. */
		atomic_store(&s->stopping, 1);
		s->joined = true;
	}
	pthread_mutex_unlock(&s->run_lock);
	return ret;
}

int rc_server_start(struct rc_server *s)
{
	sigset_t all, old;
	int ret = 0;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->run_lock);
	if (s->started || s->joined) {
		pthread_mutex_unlock(&s->run_lock);
		return 0;
	}
	/* Workers take no signals: the embedding program's threads do. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < s->nworkers; i++) {
		struct rc_worker *w = s->workers[i];

		ret = -pthread_create(&w->thread, NULL, rc__worker_main, w);
		if (ret)
			break;
		s->started = (int)i + 1;
		sem_wait(&w->ready);
		ret = w->init_err;
		if (ret)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_unlock(&s->run_lock);
	if (ret) {
		rc_server_stop(s);
		join_workers(s);
	}
	return ret;
}

int rc_server_run(struct rc_server *s)
{
	int ret;

	if (!s)
		return -EINVAL;
	ret = rc_server_start(s);
	return ret ? ret : join_workers(s);
}

/* Every worker's listeners shut down at once (async-signal-safe). */
static void unlisten(struct rc_server *s)
{
	for (unsigned i = 0; s->workers && i < s->nworkers; i++)
		if (s->workers[i])
			rc__worker_unlisten(s->workers[i]);
}

int rc_server_drain(struct rc_server *s, unsigned timeout_ms,
		    const char *reason)
{
	size_t n;

	if (!s)
		return -EINVAL;
	if (!reason)
		reason = "going away";
	n = strlen(reason);
	if (n >= sizeof(s->drain_reason) || !rc_utf8_valid((const uint8_t *)reason, n))
		return -EINVAL;
	pthread_mutex_lock(&s->drain_lock);
	/* The reason is written before the first generation is seen. */
	if (!atomic_load(&s->draining))
		memcpy(s->drain_reason, reason, n + 1);
	atomic_store(&s->drain_ms, timeout_ms);
	atomic_fetch_add_explicit(&s->drain_gen, 1, memory_order_release);
	if (!atomic_exchange(&s->draining, 1))
		rc__log(s, RC_LOG_INFO, "draining: listeners closed, %u "
			"ms for the connections to go", timeout_ms);
	pthread_mutex_unlock(&s->drain_lock);
	unlisten(s);
	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->workers && s->workers[i] &&
		    s->workers[i]->wake_fd >= 0)
			rc__worker_wake(NULL, s->workers[i]);
	return 0;
}

bool rc_server_draining(const struct rc_server *s)
{
	return s && (atomic_load(&s->draining) || atomic_load(&s->stopping));
}

int rc_server_alive(const struct rc_server *s, unsigned within_ms)
{
	uint32_t now = rc__clock_ms();

	if (!s)
		return -EINVAL;
	/* (stopping is set before the workers are joined.) */
	if (atomic_load(&s->stopping) ||
	    atomic_load(&s->started) < (int)s->nworkers)
		return -ESHUTDOWN;
	for (unsigned i = 0; i < s->nworkers; i++) {
		uint32_t beat = atomic_load_explicit(&s->workers[i]->beat,
						     memory_order_relaxed);

		if ((int32_t)(now - beat) > (int32_t)within_ms)
			return -ETIMEDOUT;
	}
	return 0;
}

const char *rc_server_listener(const struct rc_server *s, unsigned i,
			       char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const struct rc_worker *w;

	if (!s || !s->workers || !s->workers[0] || !buf || !cap)
		return NULL;
	w = s->workers[0];
	if (i >= w->nlis || w->lis[i].fd < 0 ||
	    getsockname(w->lis[i].fd, (struct sockaddr *)&ss, &sl))
		return NULL;
	return rc__addr_str(&ss, buf, cap);
}

void rc__log(const struct rc_server *s, enum rc_log_level lv,
	     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!s->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->cfg.log(s->cfg.log_user, lv, msg);
}

void rc_server_stop(struct rc_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, 1);
	unlisten(s);
	/* Every worker's eventfd exists from rc_server_new() on, and a
	   worker that starts later reads what was written before: a stop
	   before (or during) rc_server_start() is not lost. write() is
	   async-signal-safe. */
	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->workers && s->workers[i] &&
		    s->workers[i]->wake_fd >= 0)
			rc__worker_wake(NULL, s->workers[i]);
}

void rc_server_free(struct rc_server *s)
{
	if (!s)
		return;
	rc_server_stop(s);
	join_workers(s);
	/* Before the inboxes go: its delivery thread publishes into them. */
	rc__bridge_free(s->ps.bridge);
	s->ps.bridge = NULL;
	for (unsigned i = 0; s->workers && i < s->nworkers; i++) {
		if (s->workers[i]) {
			rc__worker_free(s->workers[i]);
			free(s->workers[i]);
		}
	}
	free(s->workers);
	/* The messages it holds are the workers' no more. */
	if (s->ps.pres) {
		rc__pres_free(s->ps.pres);
		free(s->ps.pres);
		s->ps.pres = NULL;
	}
	if (s->ps.hist) {
		rc__hist_free(s->ps.hist);
		free(s->ps.hist);
		s->ps.hist = NULL;
	}
	rc__ps_free(&s->ps);
	rc__tls_free(&s->tls);
	for (size_t i = 0; s->protos && i < s->cfg.nsubprotocols; i++)
		free((char *)s->protos[i]);
	free(s->protos);
	origins_free(s->origins, s->cfg.nallow_origins);
	rc__peers_free(&s->peers);
	pthread_mutex_destroy(&s->run_lock);
	pthread_mutex_destroy(&s->drain_lock);
	pthread_rwlock_destroy(&s->origins_lock);
	free(s);
}

static void add_worker_stats(const struct rc_worker *w, struct rc_stats *out)
{
	uint64_t *o = (uint64_t *)out;

	for (int k = 0; k < RC_STAT_WORKER_COUNT; k++)
		o[k] += atomic_load_explicit(&w->stats.v[k],
					     memory_order_relaxed);
}

int rc_server_stats(const struct rc_server *s, struct rc_stats *out)
{
	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < s->nworkers; i++)
		add_worker_stats(s->workers[i], out);
	out->published += atomic_load_explicit(&s->ps.published_elsewhere,
					       memory_order_relaxed);
	out->deflate_in_bytes += atomic_load(&s->ps.z_elsewhere[0]);
	out->deflate_out_bytes += atomic_load(&s->ps.z_elsewhere[1]);
	out->deflate_skipped += atomic_load(&s->ps.z_elsewhere[2]);
	out->tls_reloads = atomic_load(&s->tls.reloads);
	out->tls_reload_failures = atomic_load(&s->tls.reload_failures);
	rc__bridge_stats(s->ps.bridge, out);
	if (s->ps.hist) {
		struct rc_history *H = s->ps.hist;

		out->history_topics = atomic_load(&H->rooms);
		out->history_bytes = atomic_load(&H->bytes);
		out->history_evicted = atomic_load(&H->evicted);
		out->history_expired = atomic_load(&H->expired);
		out->recoveries = atomic_load(&H->recovered);
		out->recoveries_failed = atomic_load(&H->not_recovered);
	}
	return 0;
}

int rc_server_worker_stats(const struct rc_server *s, unsigned i,
			   struct rc_stats *out)
{
	if (!s || !out || i >= s->nworkers)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	add_worker_stats(s->workers[i], out);
	return 0;
}

unsigned rc_server_workers(const struct rc_server *s)
{
	return s ? s->nworkers : 0;
}

struct rc_ps *rc__server_ps(struct rc_server *s)
{
	return &s->ps;
}

static char build_info[256];

/* Filled once: the runtime OpenSSL may differ from the one built with. */
static void build_info_fill(void)
{
	snprintf(build_info, sizeof(build_info),
		 "simd kernels: scalar avx2 avx512; liburing %s, OpenSSL %s, "
		 "libdeflate %s, zlib %s, libnats %s",
		 RC_URING_VERSION, OpenSSL_version(OPENSSL_VERSION_STRING),
		 LIBDEFLATE_VERSION_STRING, zlibVersion(), nats_GetVersion());
}

const char *rc_simd_name(void)
{
	pthread_once(&simd_once, simd_pick);
	return rc_simd->name;
}

const char *rc_build_info(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, build_info_fill);
	return build_info;
}
