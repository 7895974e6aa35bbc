/* SPDX-License-Identifier: MIT */
/*
 * lws_echo.c -- echo peer on libwebsockets (Debian libwebsockets-dev 4.1),
 * for side-by-side benchmarks (scripts/bench): upgrades on any path and
 * sends every whole message back with its type (text or binary), however
 * it was fragmented on the way in. GET /health answers 200 "ok".
 *
 * One thread, lws's own service loop. Each connection keeps a queue of
 * messages to send, one lws_write() per WRITEABLE callback as lws asks;
 * past LP_QUEUE_MAX queued messages reading from it pauses
 * (lws_rx_flow_control) until the queue is half empty.
 *
 * usage: lws_echo [--port N] [--verbose]   (N = 0: any free port)
 */
#include "lws_peer.h"

#define LP_QUEUE_MAX	64

struct msg {
	struct msg *next;
	size_t len;
	bool binary;
	unsigned char buf[];	/* LWS_PRE bytes for lws, then the payload */
};

struct pss {
	struct msg *head, *tail;
	unsigned queued;
	bool paused;
	struct lp_rx rx;
};

static int enqueue(struct lws *wsi, struct pss *s, const unsigned char *data,
		   size_t len, bool binary)
{
	struct msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m)
		return -1;
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	if (len)
		memcpy(m->buf + LWS_PRE, data, len);
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	if (++s->queued == 1)
		lws_callback_on_writable(wsi);
	if (s->queued >= LP_QUEUE_MAX && !s->paused) {
		s->paused = true;
		lws_rx_flow_control(wsi, 0);
	}
	return 0;
}

/* Send the oldest queued message. Returns -1 to close. */
static int send_one(struct lws *wsi, struct pss *s)
{
	struct msg *m = s->head;
	int n;

	if (!m)
		return 0;
	n = lws_write(wsi, m->buf + LWS_PRE, m->len,
		      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	s->head = m->next;
	if (!s->head)
		s->tail = NULL;
	s->queued--;
	free(m);
	if (n < 0)
		return -1;
	if (s->head)
		lws_callback_on_writable(wsi);
	if (s->paused && s->queued <= LP_QUEUE_MAX / 2) {
		s->paused = false;
		lws_rx_flow_control(wsi, 1);
	}
	return 0;
}

static void drop_all(struct pss *s)
{
	while (s->head) {
		struct msg *m = s->head;

		s->head = m->next;
		free(m);
	}
	s->tail = NULL;
	s->queued = 0;
	lp_rx_free(&s->rx);
}

static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct pss *s = user;
	const unsigned char *msg;
	size_t msg_len;
	bool handled;
	int n;

	n = lp_http(wsi, reason, in, &handled);
	if (handled)
		return n;
	switch (reason) {
	case LWS_CALLBACK_RECEIVE:
		n = lp_rx_add(wsi, &s->rx, in, len, &msg, &msg_len);
		if (n < 0) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					 NULL, 0);
			return -1;
		}
		if (n > 0 && enqueue(wsi, s, msg, msg_len, s->rx.binary))
			return -1;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return send_one(wsi, s);
	case LWS_CALLBACK_CLOSED:
		drop_all(s);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "echo", callback_echo, sizeof(struct pss), 0, 0, NULL, LP_TX_PACKET },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct lp_opts o;
	int ret = lp_parse(argc, argv, &o, false);

	if (ret)
		return ret;
	return lp_run(&o, protocols, "lws echo");
}
