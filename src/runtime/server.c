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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridge/bridge.h"
#include "proto/http.h"
#include "runtime/fault.h"
#include "runtime/rt.h"
#include "runtime/server.h"
#include "runtime/worker.h"
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

static int listener(const struct rc_config *cfg, uint16_t port, bool reuseport)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int one = 1, fd, family;

	if (inet_pton(AF_INET, cfg->host, &in4->sin_addr) == 1) {
		family = in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		sl = sizeof(*in4);
	} else if (inet_pton(AF_INET6, cfg->host, &in6->sin6_addr) == 1) {
		family = in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		sl = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Accepted sockets inherit TCP_NODELAY from the listener; direct
	   descriptors cannot be given it with setsockopt() afterwards. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				     sizeof(one))) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * SO_REUSEPORT lets any process of the same user join a port, so a second
 * hub started by mistake would silently share it. Bind a plain socket
 * first: if the port is taken, that fails with EADDRINUSE.
 */
static int port_free(const struct rc_config *cfg, uint16_t port)
{
	int fd;

	if (!port)
		return 0;
	fd = listener(cfg, port, false);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
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

/* allow_origins, copied. "*" anywhere makes the list just that. */
static int copy_origins(struct rc_server *s)
{
	size_t n = s->cfg.nallow_origins;

	if (!n) {
		s->cfg.allow_origins = NULL;
		return 0;
	}
	if (!s->cfg.allow_origins)
		return -EINVAL;
	s->origins = calloc(n, sizeof(*s->origins));
	if (!s->origins)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *o = s->cfg.allow_origins[i];

		if (!o || !*o || !rc_http_is_field_value(o)) {
			s->cfg.nallow_origins = i;
			return -EINVAL;
		}
		s->origins[i] = strdup(o);
		if (!s->origins[i]) {
			s->cfg.nallow_origins = i;
			return -ENOMEM;
		}
	}
	s->cfg.allow_origins = (const char *const *)s->origins;
	return 0;
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
	if (!ret)
		ret = rc__tls_init(&s->tls, &s->cfg, why, sizeof(why));
	/* Copied by the bridge (the strings are not kept). */
	if (!ret && s->cfg.nats_urls)
		ret = rc__bridge_new(&s->ps.bridge, &s->ps, s->cfg.nats_urls,
				     s->cfg.nats_prefix);
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
	s->port = s->cfg.port;
	/* With certificates, the main listener speaks TLS unless tls_port
	   asks for a listener of its own (-1: on any free port). */
	s->tls_listener = s->cfg.ntls_certs && s->cfg.tls_port;
	if (s->tls_listener && s->cfg.tls_port > 0)
		s->tls_port = (uint16_t)s->cfg.tls_port;
	ret = port_free(&s->cfg, s->port);
	if (!ret && s->tls_listener)
		ret = port_free(&s->cfg, s->tls_port);
	if (ret) {
		errno = -ret;
		goto out_free;
	}
	for (unsigned i = 0; i < s->nworkers; i++) {
		bool tls[RC_LISTENERS] = { s->cfg.ntls_certs && !s->tls_listener,
					   true };
		int fds[RC_LISTENERS] = { -1, -1 };
		unsigned n = s->tls_listener ? 2 : 1;

		fds[0] = listener(&s->cfg, s->port, true);
		if (fds[0] >= 0 && !s->port)
			s->port = bound_port(fds[0]);
		if (fds[0] >= 0 && n == 2) {
			fds[1] = listener(&s->cfg, s->tls_port, true);
			if (fds[1] >= 0 && !s->tls_port)
				s->tls_port = bound_port(fds[1]);
		}
		s->workers[i] = calloc(1, sizeof(struct rc_worker));
		if (fds[0] < 0 || (n == 2 && fds[1] < 0) || !s->workers[i]) {
			ret = fds[0] < 0 ? fds[0] : fds[1] < 0 && n == 2 ?
			      fds[1] : -ENOMEM;
			for (unsigned k = 0; k < n; k++)
				if (fds[k] >= 0)
					close(fds[k]);
			errno = -ret;
			goto out_free;
		}
		ret = rc__worker_init(s->workers[i], s, i, fds, tls, n);
		if (ret) {
			errno = -ret;
			goto out_free;
		}
	}
	return s;
out_free:
	ret = errno;
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

void rc_server_stop(struct rc_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, 1);
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
	rc__ps_free(&s->ps);
	rc__tls_free(&s->tls);
	for (size_t i = 0; s->protos && i < s->cfg.nsubprotocols; i++)
		free((char *)s->protos[i]);
	free(s->protos);
	for (size_t i = 0; s->origins && i < s->cfg.nallow_origins; i++)
		free(s->origins[i]);
	free(s->origins);
	rc__peers_free(&s->peers);
	pthread_mutex_destroy(&s->run_lock);
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

const char *rc_simd_name(void)
{
	pthread_once(&simd_once, simd_pick);
	return rc_simd->name;
}
