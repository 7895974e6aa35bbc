/* SPDX-License-Identifier: MIT */
/* conn.c -- one client connection on io_uring: connect, upgrade, frames, close handshake. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringcast.h"
#include "conn.h"
#include "pmd.h"
#include "tls.h"
#include "worker.h"

static uint64_t timeout_ns(const struct rl_worker *w)
{
	return (uint64_t)(w->cfg->timeout_s * 1e9);
}

/* Bind to 127.0.0.(1 + gid % K) so that each source address has its own
   ~28k ephemeral ports towards the one destination. */
static int bind_source(const struct rl_worker *w, int fd, uint32_t gid)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;

	/* Choose the port at connect(), per 4-tuple: without this, bind()
	   would take a port unique over all addresses. */
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		       sizeof(one)))
		return -errno;
	src.sin_addr.s_addr = htonl(0x7f000001u + gid % w->cfg->src_ips);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
		return -errno;
	return 0;
}

int rl_conn_start(struct rl_worker *w, struct rl_conn *c)
{
	const struct rl_cfg *cfg = w->cfg;
	struct io_uring_sqe *sqe;
	int fd, one = 1, err;

	fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		rl_stats_errno(&w->stats, RL_E_SOCKET, err);
		return err;
	}
	err = cfg->src_ips ? bind_source(w, fd, c->gid) : 0;
	if (err) {
		close(fd);
		rl_stats_errno(&w->stats, RL_E_SOCKET, err);
		return err;
	}
	/* Small frames go out as they are written. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->tls && rl_tls_open(c->tls)) {
		close(fd);
		rl_stats_errno(&w->stats, RL_E_TLS_HANDSHAKE, -ENOMEM);
		return -ENOMEM;
	}

	c->fd = fd;
	c->state = RL_CONN_CONNECTING;
	c->flags = 0;
	c->ops = 0;
	c->t_start = w->now;
	c->deadline = w->now + timeout_ns(w);
	c->tx = NULL;
	c->nhead = 0;
	rl_ws_rx_init(&c->rx);
	w->nactive++;

	/* --ports: the resolved address, with this connection's port. */
	memcpy(&c->dst, &cfg->addr, cfg->addrlen);
	if (c->port && cfg->addr.ss_family == AF_INET6)
		c->dst.in6.sin6_port = htons(c->port);
	else if (c->port)
		c->dst.in4.sin_port = htons(c->port);
	sqe = rl_worker_sqe(w);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&c->dst,
			      cfg->addrlen);
	io_uring_sqe_set_data64(sqe, rl_op_pack(c->id, RL_OP_CONNECT));
	c->ops++;
	return 0;
}

static void submit_send(struct rl_worker *w, struct rl_conn *c)
{
	struct io_uring_sqe *sqe = rl_worker_sqe(w);

	/* --tls: @out, as it is now (it may have grown since the last send),
	   stays where it is until this send completes. */
	if (c->tls) {
		c->tx = c->tls->out;
		c->tx_len = c->tls->len;
		rl_tls_pin(c->tls);
	}

	io_uring_prep_send(sqe, c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, rl_op_pack(c->id, RL_OP_SEND));
	c->ops++;
}

static void tls_tx(struct rl_worker *w, struct rl_conn *c, const void *buf,
		   size_t len);
static void send_request(struct rl_worker *w, struct rl_conn *c);
static bool tls_handshake(struct rl_worker *w, struct rl_conn *c);
static void tls_failed(struct rl_worker *w, struct rl_conn *c,
		       enum rl_ctr kind, const char *why);

static void start_tx(struct rl_worker *w, struct rl_conn *c, const void *buf,
		     size_t len, enum rl_tx_kind kind)
{
	c->tx_kind = (uint8_t)kind;
	if (c->tls) {
		tls_tx(w, c, buf, len);
		return;
	}
	c->tx = buf;
	c->tx_len = (uint32_t)len;
	c->tx_off = 0;
	c->flags |= RL_F_TX_BUSY;
	submit_send(w, c);
}

void rl_conn_write(struct rl_worker *w, struct rl_conn *c, const void *buf,
		   size_t len)
{
	start_tx(w, c, buf, len, RL_TX_DATA);
}

static void arm_recv(struct rl_worker *w, struct rl_conn *c)
{
	struct io_uring_sqe *sqe = rl_worker_sqe(w);

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, rl_op_pack(c->id, RL_OP_RECV));
	c->flags |= RL_F_RX_ARMED;
	c->ops++;
}

/* The upgrade request: the worker's, or the scenario's for @c. */
static void send_request(struct rl_worker *w, struct rl_conn *c)
{
	const char *req = w->request;
	size_t len = w->request_len;

	if (w->sc->request)
		w->sc->request(w, c, &req, &len);
	start_tx(w, c, req, len, RL_TX_REQUEST);
}

/* A ramp-up connection is settled once open or failed. */
static void settle(struct rl_worker *w, struct rl_conn *c)
{
	if (c->flags & RL_F_RAMP) {
		c->flags &= ~RL_F_RAMP;
		w->pending--;
	}
}

/* The last request of @c is done: close the socket, free the slot. */
static void finalize(struct rl_worker *w, struct rl_conn *c)
{
	close(c->fd);
	c->fd = -1;
	if (c->tls)
		rl_tls_close(c->tls);
	free(c->head);
	c->head = NULL;
	free(c->pong);
	c->pong = NULL;
	rl_pmd_rx_release(&c->rx);
	c->state = RL_CONN_IDLE;
	c->deadline = 0;
	w->nactive--;
	if (c->flags & RL_F_WAS_OPEN)
		w->stats.c[RL_C_CLOSED]++;
	settle(w, c);
	w->sc->closed(w, c);
}

void rl_conn_abort(struct rl_worker *w, struct rl_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->state == RL_CONN_IDLE || c->state == RL_CONN_DYING)
		return;
	c->state = RL_CONN_DYING;
	if (!c->ops) {
		finalize(w, c);
		return;
	}
	/* The socket stays open until every request on it has completed:
	   closing it earlier would let a new socket reuse the number. */
	sqe = rl_worker_sqe(w);
	io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, rl_op_pack(c->id, RL_OP_CANCEL));
	c->ops++;
}

/* The connection ended the way it should: close frames exchanged. */
static void finish_clean(struct rl_worker *w, struct rl_conn *c)
{
	c->flags |= RL_F_CLEAN;
	rl_conn_abort(w, c);
}

/* The peer reset or closed TCP without a close frame. */
static void lost(struct rl_worker *w, struct rl_conn *c)
{
	/* A server that refuses the handshake may just hang up (a name it
	   does not serve, no common cipher) rather than send an alert. */
	if (c->tls && !(c->flags & RL_F_TLS_UP)) {
		tls_failed(w, c, RL_E_TLS_HANDSHAKE,
			   "connection closed during the handshake");
		return;
	}
	if (c->flags & RL_F_CLOSE_RCVD) {
		/* It sent its close frame and did not wait for ours: a
		   shortcut, not a failure. */
		finish_clean(w, c);
		return;
	}
	rl_stats_closed_by_peer(&w->stats, RC_CLOSE_ABNORMAL);
	rl_conn_abort(w, c);
}

void rl_conn_kick(struct rl_worker *w, struct rl_conn *c)
{
	if (c->flags & RL_F_TX_BUSY)
		return;
	if (c->state != RL_CONN_OPEN && c->state != RL_CONN_CLOSING)
		return;
	if (c->flags & RL_F_PONG_QUEUED) {
		c->flags &= ~RL_F_PONG_QUEUED;
		c->flags |= RL_F_PONG_BUSY;
		start_tx(w, c, c->pong, c->pong_len, RL_TX_PONG);
		return;
	}
	if ((c->flags & RL_F_CLOSE_QUEUED) && !(c->flags & RL_F_CLOSE_SENT)) {
		start_tx(w, c, w->close_frame, sizeof(w->close_frame),
			 RL_TX_CLOSE);
		return;
	}
	if (c->state == RL_CONN_OPEN)
		w->sc->writable(w, c);
}

void rl_conn_close(struct rl_worker *w, struct rl_conn *c)
{
	switch (c->state) {
	case RL_CONN_CONNECTING:
	case RL_CONN_UPGRADING:
		/* Let the upgrade finish, then close properly: a reset in
		   the middle would show up in the server's logs as an error
		   of ours. The deadline still bounds it. */
		c->flags |= RL_F_CLOSE_QUEUED;
		break;
	case RL_CONN_OPEN:
		c->flags |= RL_F_CLOSE_QUEUED;
		c->state = RL_CONN_CLOSING;
		c->deadline = w->now + timeout_ns(w);
		rl_conn_kick(w, c);
		break;
	default:
		break;
	}
}

static void on_connect(struct rl_worker *w, struct rl_conn *c, int res)
{
	if (c->state != RL_CONN_CONNECTING)
		return;
	if (res == -ECONNREFUSED)
		w->stats.c[RL_E_CONNECT_REFUSED]++;
	else if (res < 0)
		rl_stats_errno(&w->stats, RL_E_CONNECT, res);
	if (res < 0) {
		rl_conn_abort(w, c);
		return;
	}
	c->state = RL_CONN_UPGRADING;
	if (c->tls) {
		/* The ClientHello; the request follows the handshake. */
		arm_recv(w, c);
		tls_handshake(w, c);
		return;
	}
	send_request(w, c);
	arm_recv(w, c);
}

static void opened(struct rl_worker *w, struct rl_conn *c)
{
	c->state = RL_CONN_OPEN;
	c->flags |= RL_F_WAS_OPEN;
	c->deadline = 0;
	w->stats.c[RL_C_OPENED]++;
	settle(w, c);
	w->sc->opened(w, c);
	if ((c->flags & RL_F_CLOSE_QUEUED) && c->state == RL_CONN_OPEN) {
		c->state = RL_CONN_CLOSING;
		c->deadline = w->now + timeout_ns(w);
	}
	rl_conn_kick(w, c);
}

/*
 * Take the response head from @buf[0..n), gathering it in c->head when it
 * is split over reads. Returns how many bytes of @buf it took (the rest
 * are frames), or -1 if @c failed.
 */
static long take_response(struct rl_worker *w, struct rl_conn *c,
			  const uint8_t *buf, size_t n)
{
	const char *p = (const char *)buf;
	size_t len = n, prev = c->nhead, add;
	struct rl_pmd_params pmd;
	int status;
	long hl;

	if (c->head) {
		add = RL_WS_RESPONSE_MAX - prev;
		if (add > n)
			add = n;
		memcpy(c->head + prev, buf, add);
		c->nhead = (uint16_t)(prev + add);
		p = c->head;
		len = c->nhead;
	}
	hl = rl_ws_response_proto(p, len, w->accept, &status,
				  w->cfg->deflate ? &pmd : NULL,
				  w->cfg->subprotocol);
	if (hl == -EAGAIN) {
		if (!c->head) {
			c->head = malloc(RL_WS_RESPONSE_MAX);
			if (!c->head) {
				rl_stats_errno(&w->stats, RL_E_IO, -ENOMEM);
				rl_conn_abort(w, c);
				return -1;
			}
			memcpy(c->head, buf, n);
			c->nhead = (uint16_t)n;
		}
		return (long)n;
	}
	if (hl < 0) {
		w->stats.c[RL_E_HANDSHAKE_INVALID]++;
		rl_conn_abort(w, c);
		return -1;
	}
	if (status != 101) {
		rl_stats_rejected(&w->stats, status);
		rl_conn_abort(w, c);
		return -1;
	}
	free(c->head);
	c->head = NULL;
	if (w->cfg->deflate && pmd.on) {
		if (rl_pmd_rx_setup(&c->rx, &w->pmd, &pmd)) {
			rl_stats_errno(&w->stats, RL_E_IO, -ENOMEM);
			rl_conn_abort(w, c);
			return -1;
		}
		c->flags |= RL_F_PMD;
		w->stats.c[RL_C_PMD_OPENED]++;
		if (!pmd.server_no_context)
			w->stats.c[RL_C_PMD_CONTEXT]++;
	}
	opened(w, c);
	return hl - (long)prev;
}

static void on_ping(struct rl_worker *w, struct rl_conn *c,
		    const struct rl_ws_msg *m)
{
	size_t hl;

	/* A pong still being sent owns c->pong; RFC 6455 §5.5.3 lets us
	   answer only the latest ping, and this one then goes unanswered. */
	if (c->flags & RL_F_PONG_BUSY)
		return;
	if (!c->pong) {
		c->pong = malloc(RC_FRAME_HDR_MAX + RC_FRAME_CONTROL_MAX);
		if (!c->pong)
			return;
	}
	hl = rl_ws_encode(c->pong, RC_OP_PONG, m->head, m->head_len,
			  w->mask_key);
	c->pong_len = (uint16_t)hl;
	c->flags |= RL_F_PONG_QUEUED;
	rl_conn_kick(w, c);
}

static void on_close_frame(struct rl_worker *w, struct rl_conn *c,
			   const struct rl_ws_msg *m)
{
	const uint8_t *reason;
	size_t reason_len;
	uint16_t code;

	if (rc_frame_close_parse(m->head, m->head_len, &code, &reason,
				 &reason_len)) {
		w->stats.c[RL_E_PROTOCOL]++;
		rl_conn_abort(w, c);
		return;
	}
	c->flags |= RL_F_CLOSE_RCVD;
	c->deadline = w->now + timeout_ns(w);
	if (!(c->flags & RL_F_CLOSE_QUEUED)) {
		/* The server began it: in every scenario that is news. */
		rl_stats_closed_by_peer(&w->stats, code);
		c->flags |= RL_F_CLOSE_QUEUED;
		c->state = RL_CONN_CLOSING;
		rl_conn_kick(w, c);
	} else if (c->flags & RL_F_CLOSE_SENT) {
		c->state = RL_CONN_DRAINING;
	}
}

/* Frames from @buf[0..n) (padded: see rl_ws_rx_feed()). */
static void take_frames(struct rl_worker *w, struct rl_conn *c, uint8_t *buf,
			size_t n)
{
	struct rl_ws_msg m;

	while (n && !(c->flags & RL_F_CLOSE_RCVD)) {
		long r = rl_ws_rx_feed(&c->rx, buf, n, &m);

		if (r < 0) {
			w->stats.c[RL_E_PROTOCOL]++;
			rl_conn_abort(w, c);
			return;
		}
		buf += r;
		n -= (size_t)r;
		switch (m.kind) {
		case RL_WS_DATA:
			if (m.compressed) {
				w->stats.c[RL_C_Z_IN]++;
				w->stats.c[RL_C_Z_CACHED] += m.cached;
			}
			w->sc->message(w, c, &m);
			break;
		case RL_WS_PING:
			on_ping(w, c, &m);
			break;
		case RL_WS_CLOSE:
			on_close_frame(w, c, &m);
			break;
		default:
			break;
		}
		if (c->state != RL_CONN_OPEN && c->state != RL_CONN_CLOSING &&
		    c->state != RL_CONN_DRAINING)
			return;
	}
}

/* Bytes from the server, @buf[0..n) (padded): the response head while
   upgrading, frames after it. */
static void take_input(struct rl_worker *w, struct rl_conn *c, uint8_t *buf,
		       size_t n)
{
	long used = 0;

	if (c->state == RL_CONN_UPGRADING)
		used = take_response(w, c, buf, n);
	if (used >= 0 && (size_t)used < n)
		take_frames(w, c, buf + used, n - (size_t)used);
}

/* ------------------------------------------------------------- --tls */

/* Still a connection that reads and writes (not dying, nor finished and
   its slot started again from inside a callback). */
static bool tls_live(const struct rl_conn *c)
{
	return c->state >= RL_CONN_UPGRADING && c->state <= RL_CONN_DRAINING;
}

/* Count a TLS failure of @kind, say why (@why, else OpenSSL's reason) once
   per thread, drop @c. */
static void tls_failed(struct rl_worker *w, struct rl_conn *c,
		       enum rl_ctr kind, const char *why)
{
	char buf[256];

	if (!why)
		why = rl_tls_why(c->tls, buf, sizeof(buf));
	w->stats.c[kind]++;
	if (!w->tls_said) {
		w->tls_said = true;
		fprintf(stderr, "ringcast-load: %s: %s (the first on this thread)\n",
			kind == RL_E_TLS_HANDSHAKE ? "TLS handshake failed" :
						     "TLS error",
			why);
	}
	rl_conn_abort(w, c);
}

/* Send what OpenSSL wrote by itself (a handshake flight, close_notify),
   unless the send in flight carries it on when it completes. */
static void tls_flush(struct rl_worker *w, struct rl_conn *c)
{
	if ((c->flags & RL_F_TX_BUSY) || !c->tls->len)
		return;
	c->tx_kind = RL_TX_TLS;
	c->flags |= RL_F_TX_BUSY;
	c->tx_off = 0;
	submit_send(w, c);
}

/* Our close frame is in the TLS stream: the server's close_notify can be
   answered, nothing of ours follows it. */
static bool close_written(const struct rl_conn *c)
{
	return (c->flags & RL_F_CLOSE_SENT) ||
	       ((c->flags & RL_F_TX_BUSY) && c->tx_kind == RL_TX_CLOSE);
}

/*
 * start_tx() with --tls: encrypt the whole of @buf into @out now (the
 * caller's @buf is free again at once) and send it. A send already in
 * flight (only a handshake flight can be, when the request is written)
 * takes it along when it completes.
 */
static void tls_tx(struct rl_worker *w, struct rl_conn *c, const void *buf,
		   size_t len)
{
	if (rl_tls_write(c->tls, buf, len)) {
		tls_failed(w, c, RL_E_TLS, NULL);
		return;
	}
	if (c->tx_kind == RL_TX_CLOSE && (c->flags & RL_F_TLS_BYE))
		rl_tls_shutdown(c->tls);
	if (c->flags & RL_F_TX_BUSY)
		return;
	c->flags |= RL_F_TX_BUSY;
	c->tx_off = 0;
	submit_send(w, c);
}

/* Drive the TLS handshake; once done, the upgrade request goes out with
   our Finished. Returns true if done and @c still live. */
static bool tls_handshake(struct rl_worker *w, struct rl_conn *c)
{
	switch (rl_tls_handshake(c->tls)) {
	case RL_TLS_AGAIN:
		tls_flush(w, c);
		return false;
	case RL_TLS_DONE:
		break;
	default:
		tls_failed(w, c, RL_E_TLS_HANDSHAKE, NULL);
		return false;
	}
	c->flags |= RL_F_TLS_UP;
	w->stats.c[RL_C_TLS_HANDSHAKES]++;
	if (rl_tls_resumed(c->tls))
		w->stats.c[RL_C_TLS_RESUMED]++;
	send_request(w, c);
	return tls_live(c);
}

/* Ciphertext from a receive: the handshake, then plaintext a record at a
   time through take_input(), as plain ws:// would have it. */
static void tls_recv(struct rl_worker *w, struct rl_conn *c,
		     const uint8_t *buf, size_t n)
{
	struct rl_tls *t = c->tls;
	long r = RL_TLS_AGAIN;

	rl_tls_feed(t, buf, n);
	if (!(c->flags & RL_F_TLS_UP) && !tls_handshake(w, c))
		goto out;
	while (tls_live(c)) {
		r = rl_tls_read(t, w->tls_plain, RL_TLS_CHUNK);
		if (r <= 0)
			break;
		take_input(w, c, w->tls_plain, (size_t)r);
	}
	if (!tls_live(c))
		goto out;
	if (r == RL_TLS_ERROR) {
		tls_failed(w, c, RL_E_TLS, NULL);
		goto out;
	}
	if (r == RL_TLS_CLOSED) {
		/* Without its close frame first, the server dropped us. */
		if (!(c->flags & RL_F_CLOSE_RCVD)) {
			lost(w, c);
			goto out;
		}
		/* Answered once our close frame is in the stream: a server
		   may close TCP only then (Python's asyncio does). */
		if (!(c->flags & RL_F_TLS_BYE) && close_written(c))
			rl_tls_shutdown(t);
		c->flags |= RL_F_TLS_BYE;
	}
	tls_flush(w, c);
out:
	/* @buf goes back to the buffer ring. */
	rl_tls_feed(t, NULL, 0);
}

/* ------------------------------------------------------------------ */

static void on_recv(struct rl_worker *w, struct rl_conn *c,
		    const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	uint8_t *buf = NULL;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->flags &= ~RL_F_RX_ARMED;
		c->ops--;
	}
	if (cqe->flags & IORING_CQE_F_BUFFER)
		buf = w->bufs + (size_t)bid * w->buf_stride;
	if (res > 0 && c->tls)
		tls_recv(w, c, buf, (size_t)res);
	else if (res > 0)
		take_input(w, c, buf, (size_t)res);
	if (buf)
		rl_worker_buf_put(w, bid);

	if (c->state == RL_CONN_DYING || c->state == RL_CONN_IDLE)
		return;
	if (res == -ENOBUFS) {
		rl_worker_rearm_later(w, c);
	} else if (res == 0) {
		if (c->state == RL_CONN_DRAINING)
			finish_clean(w, c);
		else
			lost(w, c);
	} else if (res == -ECONNRESET || res == -EPIPE) {
		lost(w, c);
	} else if (res < 0) {
		rl_stats_errno(&w->stats, RL_E_IO, res);
		rl_conn_abort(w, c);
	} else if (!(c->flags & RL_F_RX_ARMED)) {
		arm_recv(w, c);
	}
}

static void on_send(struct rl_worker *w, struct rl_conn *c, int res)
{
	/* Whatever the result, the kernel is done with @out. */
	if (c->tls)
		rl_tls_sent(c->tls);
	if (c->state == RL_CONN_DYING)
		return;
	if (res == -ECONNRESET || res == -EPIPE) {
		lost(w, c);
		return;
	}
	if (res < 0) {
		rl_stats_errno(&w->stats, RL_E_IO, res);
		rl_conn_abort(w, c);
		return;
	}
	c->tx_off += (uint32_t)res;
	if (c->tls) {
		/* With what OpenSSL wrote meanwhile; all sent: @out is
		   empty again, filled from its start. */
		c->tx_len = c->tls->len;
		if (c->tx_off == c->tx_len)
			c->tls->len = c->tx_off = c->tx_len = 0;
	}
	if (c->tx_off < c->tx_len) {
		submit_send(w, c);
		return;
	}
	c->flags &= ~RL_F_TX_BUSY;
	switch (c->tx_kind) {
	case RL_TX_PONG:
		c->flags &= ~RL_F_PONG_BUSY;
		break;
	case RL_TX_CLOSE:
		c->flags |= RL_F_CLOSE_SENT;
		if (c->flags & RL_F_CLOSE_RCVD) {
			c->state = RL_CONN_DRAINING;
			c->deadline = w->now + timeout_ns(w);
		}
		break;
	default:
		break;
	}
	rl_conn_kick(w, c);
}

void rl_conn_complete(struct rl_worker *w, const struct io_uring_cqe *cqe)
{
	struct rl_conn *c = &w->conns[rl_op_conn(cqe->user_data)];

	switch (rl_op_kind(cqe->user_data)) {
	case RL_OP_CONNECT:
		c->ops--;
		on_connect(w, c, cqe->res);
		break;
	case RL_OP_SEND:
		c->ops--;
		on_send(w, c, cqe->res);
		break;
	case RL_OP_RECV:
		on_recv(w, c, cqe);
		break;
	case RL_OP_CANCEL:
		c->ops--;
		break;
	}
	if (c->state == RL_CONN_DYING && !c->ops)
		finalize(w, c);
}

void rl_conn_rearm(struct rl_worker *w, struct rl_conn *c)
{
	/* Past CONNECTING: the slot may have been reused by a new
	   connection (handshake scenario) since it was queued. */
	if (c->state >= RL_CONN_UPGRADING && c->state <= RL_CONN_DRAINING &&
	    !(c->flags & RL_F_RX_ARMED))
		arm_recv(w, c);
}

void rl_conn_expire(struct rl_worker *w, struct rl_conn *c, uint64_t now)
{
	if (!c->deadline || now < c->deadline)
		return;
	switch (c->state) {
	case RL_CONN_CONNECTING:
	case RL_CONN_UPGRADING:
		w->stats.c[RL_E_TIMEOUT_HANDSHAKE]++;
		break;
	case RL_CONN_OPEN:
		w->stats.c[RL_E_TIMEOUT_RESPONSE]++;
		break;
	case RL_CONN_CLOSING:
	case RL_CONN_DRAINING:
		w->stats.c[RL_E_TIMEOUT_CLOSE]++;
		break;
	default:
		return;
	}
	rl_conn_abort(w, c);
}
