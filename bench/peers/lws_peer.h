/* SPDX-License-Identifier: MIT */
/*
 * lws_peer.h -- what the libwebsockets peers (lws_echo.c, lws_broadcast.c)
 * share: options, the context and its one vhost on 127.0.0.1, the service
 * loop until SIGTERM/SIGINT, message assembly from RECEIVE callbacks, and
 * GET /health answered with 200 "ok" (keep-alive), as the ringcast hub does.
 *
 * Header-only: each peer is one translation unit.
 */
#ifndef LWS_PEER_H
#define LWS_PEER_H

#include <libwebsockets.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest message assembled: as the hub's --max-message default. */
#define LP_MAX_MESSAGE	(16u << 20)

/*
 * The protocols' tx_packet_size: the most one send() takes. Left 0, lws
 * caps each send() at the rx buffer size (4 KiB by default) and buffers
 * the rest of a larger frame, and a close frame that arrives while output
 * is buffered makes lws drop the connection without its own close frame.
 * The rx buffer (allocated per connection) stays at its default.
 */
#define LP_TX_PACKET	(1u << 20)

struct lp_opts {
	int port;		/* 0: any free port */
	bool no_echo_self;	/* broadcast: not back to the sender */
	bool verbose;		/* lws warnings and errors on stderr */
};

/* A message being assembled from RECEIVE callbacks. */
struct lp_rx {
	unsigned char *buf;
	size_t len;
	size_t cap;
	bool binary;
};

static struct lws_context *lp_context;
static volatile sig_atomic_t lp_stop;

static void lp_on_signal(int sig)
{
	(void)sig;
	lp_stop = 1;
	/* Wakes the service loop: a write to lws's event pipe. */
	if (lp_context)
		lws_cancel_service(lp_context);
}

static void lp_usage(const char *prog, bool broadcast)
{
	fprintf(stderr, "usage: %s [--port N] %s[--verbose]\n"
		"  --port N         listen on 127.0.0.1:N (default 0: any free port)\n"
		"%s"
		"Prints \"listening on 127.0.0.1:PORT\" once listening; SIGTERM ends it.\n",
		prog, broadcast ? "[--no-echo-self] " : "",
		broadcast ? "  --no-echo-self   a message goes to every client but its sender\n" : "");
}

/* Returns 0, or 2 on bad usage (after saying so). */
static int lp_parse(int argc, char **argv, struct lp_opts *o, bool broadcast)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);

			if (*end || end == argv[i] || v < 0 || v > 65535) {
				lp_usage(argv[0], broadcast);
				return 2;
			}
			o->port = (int)v;
		} else if (broadcast && !strcmp(argv[i], "--no-echo-self")) {
			o->no_echo_self = true;
		} else if (!strcmp(argv[i], "--verbose")) {
			o->verbose = true;
		} else {
			lp_usage(argv[0], broadcast);
			return 2;
		}
	}
	return 0;
}

/*
 * Append a RECEIVE chunk. Returns 1 when @rx holds a whole message (its
 * data: @rx->buf, or @in directly when the message came in one chunk:
 * *@msg, *@len tell which), 0 when more is to come, -1 when the message
 * is over LP_MAX_MESSAGE or memory is short.
 */
static int lp_rx_add(struct lws *wsi, struct lp_rx *rx, const void *in,
		     size_t len, const unsigned char **msg, size_t *msg_len)
{
	bool first = lws_is_first_fragment(wsi);
	bool last = lws_is_final_fragment(wsi) &&
		    !lws_remaining_packet_payload(wsi);

	if (first) {
		rx->len = 0;
		rx->binary = lws_frame_is_binary(wsi);
	}
	if (first && last) {		/* the usual case: no copy */
		*msg = in;
		*msg_len = len;
		return 1;
	}
	if (rx->len + len > LP_MAX_MESSAGE)
		return -1;
	if (rx->len + len > rx->cap) {
		size_t cap = rx->cap ? rx->cap : 4096;
		unsigned char *p;

		while (cap < rx->len + len)
			cap *= 2;
		p = realloc(rx->buf, cap);
		if (!p)
			return -1;
		rx->buf = p;
		rx->cap = cap;
	}
	if (len)
		memcpy(rx->buf + rx->len, in, len);
	rx->len += len;
	if (!last)
		return 0;
	*msg = rx->buf;
	*msg_len = rx->len;
	return 1;
}

static void lp_rx_free(struct lp_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

/*
 * The HTTP side of the protocol callback: GET /health gets 200 "ok",
 * anything else 404. Returns what the callback returns, or 1 with
 * *@handled false for reasons that are not HTTP.
 */
static int lp_http(struct lws *wsi, enum lws_callback_reasons reason,
		   void *in, bool *handled)
{
	unsigned char buf[LWS_PRE + 256], *start = buf + LWS_PRE, *p = start,
		      *end = buf + sizeof(buf) - 1;

	*handled = true;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (strcmp((const char *)in, "/health")) {
			if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
						   NULL))
				return -1;
			return lws_http_transaction_completed(wsi) ? -1 : 0;
		}
		if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK,
						"text/plain", 2, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return 1;
		/* The body goes out when the socket can take it. */
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		memcpy(start, "ok", 2);
		if (lws_write(wsi, start, 2, LWS_WRITE_HTTP_FINAL) != 2)
			return 1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	default:
		*handled = false;
		return 0;
	}
}

/*
 * Create the context and its vhost on 127.0.0.1:@o->port with the
 * protocol list @protocols (the first one takes every upgrade, whatever
 * the path), print the listening line, and serve until SIGTERM/SIGINT.
 * Returns the exit status.
 */
static int lp_run(const struct lp_opts *o,
		  const struct lws_protocols *protocols, const char *what)
{
	struct lws_context_creation_info info;
	struct sigaction sa;
	struct lws_vhost *vh;
	int n = 0;

	lws_set_log_level(o->verbose ? LLL_ERR | LLL_WARN : LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_DISABLE_IPV6;
	info.port = o->port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.count_threads = 1;
	/* Connections close at once when the peer goes: no ws pings. */
	lp_context = lws_create_context(&info);
	if (!lp_context) {
		fprintf(stderr, "%s: lws_create_context failed\n", what);
		return 1;
	}
	vh = lws_create_vhost(lp_context, &info);
	if (!vh) {
		fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d\n", what,
			o->port);
		lws_context_destroy(lp_context);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lp_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("%s listening on 127.0.0.1:%d\n", what,
	       lws_get_vhost_listen_port(vh));
	fflush(stdout);
	while (n >= 0 && !lp_stop)
		n = lws_service(lp_context, 0);
	lws_context_destroy(lp_context);
	lp_context = NULL;
	return n < 0 ? 1 : 0;
}

#endif /* LWS_PEER_H */
