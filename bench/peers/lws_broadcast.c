/* SPDX-License-Identifier: MIT */
/*
 * lws_broadcast.c -- fan-out peer on libwebsockets (Debian
 * libwebsockets-dev 4.1), for side-by-side benchmarks (scripts/bench):
 * every client, whatever its path, is in one room; every whole message a
 * client sends goes to every client in the room, the sender too unless
 * --no-echo-self (as the ringcast hub's rooms and its --no-echo-self).
 * GET /health answers 200 "ok".
 *
 * One thread, lws's own service loop. A message is stored once with a
 * reference count; each client has a queue of references (a ring that
 * grows), sent one lws_write() per WRITEABLE callback as lws asks. A
 * client whose queue would pass LP_QUEUE_BYTES of payload (or
 * LP_QUEUE_MSGS messages) is closed with 1008, as the hub's default
 * --slow-policy close at its --max-backpressure of 1 MiB.
 *
 * usage: lws_broadcast [--port N] [--no-echo-self] [--verbose]
 */
#include "lws_peer.h"

#define LP_QUEUE_BYTES	(1u << 20)
#define LP_QUEUE_MSGS	65536u

struct bmsg {
	unsigned refs;
	size_t len;
	bool binary;
	unsigned char buf[];	/* LWS_PRE bytes for lws, then the payload */
};

struct client {
	struct lws *wsi;
	struct client *prev, *next;	/* the room */
	struct bmsg **q;		/* ring of qcap (a power of two) */
	unsigned qhead, qlen, qcap;
	size_t qbytes;
	bool closing;			/* over its queue bound */
	bool in_room;
	struct lp_rx rx;
};

static struct client *room;
static bool no_echo_self;

static void unref(struct bmsg *m)
{
	if (--m->refs == 0)
		free(m);
}

/* Queue @m for @c; false when @c's queue is full. */
static bool push(struct client *c, struct bmsg *m)
{
	if (c->qlen == LP_QUEUE_MSGS || c->qbytes + m->len > LP_QUEUE_BYTES)
		return false;
	if (c->qlen == c->qcap) {
		unsigned cap = c->qcap ? c->qcap * 2 : 8;
		struct bmsg **q = malloc(cap * sizeof(*q));

		if (!q)
			return false;
		for (unsigned i = 0; i < c->qlen; i++)
			q[i] = c->q[(c->qhead + i) & (c->qcap - 1)];
		free(c->q);
		c->q = q;
		c->qcap = cap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qlen) & (c->qcap - 1)] = m;
	c->qlen++;
	c->qbytes += m->len;
	m->refs++;
	if (c->qlen == 1)
		lws_callback_on_writable(c->wsi);
	return true;
}

static struct bmsg *pop(struct client *c)
{
	struct bmsg *m = c->q[c->qhead];

	c->qhead = (c->qhead + 1) & (c->qcap - 1);
	c->qlen--;
	c->qbytes -= m->len;
	return m;
}

static int publish(struct client *from, const unsigned char *data,
		   size_t len, bool binary)
{
	struct bmsg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m)
		return -1;
	m->refs = 1;		/* ours, while the loop runs */
	m->len = len;
	m->binary = binary;
	if (len)
		memcpy(m->buf + LWS_PRE, data, len);
	for (struct client *c = room; c; c = c->next) {
		if (c->closing || (no_echo_self && c == from))
			continue;
		if (!push(c, m)) {
			/* Too slow: closed at its next WRITEABLE. */
			c->closing = true;
			lws_close_reason(c->wsi,
					 LWS_CLOSE_STATUS_POLICY_VIOLATION,
					 NULL, 0);
			lws_callback_on_writable(c->wsi);
		}
	}
	unref(m);
	return 0;
}

/* Send the oldest queued message. Returns -1 to close. */
static int send_one(struct client *c)
{
	struct bmsg *m;
	int n;

	if (c->closing)
		return -1;
	if (!c->qlen)
		return 0;
	m = pop(c);
	n = lws_write(c->wsi, m->buf + LWS_PRE, m->len,
		      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	unref(m);
	if (n < 0)
		return -1;
	if (c->qlen)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void leave(struct client *c)
{
	if (c->in_room) {
		if (c->prev)
			c->prev->next = c->next;
		else
			room = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->in_room = false;
	}
	while (c->qlen)
		unref(pop(c));
	free(c->q);
	c->q = NULL;
	c->qcap = 0;
	lp_rx_free(&c->rx);
}

static int callback_broadcast(struct lws *wsi,
			      enum lws_callback_reasons reason, void *user,
			      void *in, size_t len)
{
	struct client *c = user;
	const unsigned char *msg;
	size_t msg_len;
	bool handled;
	int n;

	n = lp_http(wsi, reason, in, &handled);
	if (handled)
		return n;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		c->wsi = wsi;
		c->prev = NULL;
		c->next = room;
		if (room)
			room->prev = c;
		room = c;
		c->in_room = true;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (c->closing)
			return 0;
		n = lp_rx_add(wsi, &c->rx, in, len, &msg, &msg_len);
		if (n < 0) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					 NULL, 0);
			return -1;
		}
		if (n > 0 && publish(c, msg, msg_len, c->rx.binary))
			return -1;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return send_one(c);
	case LWS_CALLBACK_CLOSED:
		leave(c);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "broadcast", callback_broadcast, sizeof(struct client), 0, 0, NULL,
	  LP_TX_PACKET },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct lp_opts o;
	int ret = lp_parse(argc, argv, &o, true);

	if (ret)
		return ret;
	no_echo_self = o.no_echo_self;
	return lp_run(&o, protocols, "lws broadcast");
}
