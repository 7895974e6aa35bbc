/* SPDX-License-Identifier: MIT */
/* chat.c -- a chat server: one room per path, each message goes to the room. */
/*
 * usage: chat [PORT]		(default 9002; 0 picks a free port)
 *
 * ws://HOST:PORT/<room> joins <room>; "/" joins "lobby". A message from a
 * client goes to everyone else in its room (not back to the sender), and
 * the room hears "* #<id> joined" and "* #<id> left".
 *
 * The ownership rules this file keeps:
 * - A struct rc_conn pointer belongs to the server and is valid only during
 *   a handler call for that connection. To reach a connection later or from
 *   another thread, keep rc_conn_id() and use rc_send_to().
 * - The request in on_upgrade, and the data in on_message, are borrowed
 *   until the handler returns: copy what you keep. rc_send(), rc_publish()
 *   and rc_conn_publish() copy the payload before they return.
 * - What we hang on a connection with rc_conn_set_data() is ours: allocated
 *   in on_upgrade, freed in on_close, which runs exactly once for every
 *   upgrade that on_upgrade accepted.
 * - rc_server_free() comes last, once rc_server_run() has returned.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringcast.h>

#define DEFAULT_PORT 9002
#define DEFAULT_ROOM "lobby"

/* Per-connection state, from on_upgrade to on_close. */
struct member {
	bool joined;		/* subscribed, so "left" is announced */
	size_t room_len;
	char room[];		/* the topic: path bytes after "/", no query */
};

static struct rc_server *server;

/* "* #<id> joined" to the whole room, the member included. */
static void announce(struct rc_conn *c, const struct member *m,
		     const char *what)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "* #%" PRIu64 " %s",
			 rc_conn_id(c), what);

	/* -ESHUTDOWN while the server stops: nobody is left to tell. */
	rc_publish(rc_conn_server(c), m->room, m->room_len, line, (size_t)n,
		   RC_OP_TEXT);
}

static int chat_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	size_t n;
	const char *p = rc_request_path(req, &n);
	const char *q = memchr(p, '?', n);
	struct member *m;

	if (q)
		n = (size_t)(q - p);
	if (!n || p[0] != '/')
		return 400;
	p++;
	n--;
	if (!n) {
		p = DEFAULT_ROOM;
		n = strlen(DEFAULT_ROOM);
	}
	if (n > RC_TOPIC_MAX)
		return 414;
	/* Allocated only once we accept: on_close frees it, and on_close
	   never runs for an upgrade we refuse. */
	m = malloc(sizeof(*m) + n);
	if (!m)
		return 503;
	m->joined = false;
	m->room_len = n;
	memcpy(m->room, p, n);	/* the path is borrowed: keep a copy */
	rc_conn_set_data(c, m);
	return 0;
}

static void chat_open(struct rc_conn *c)
{
	struct member *m = rc_conn_data(c);

	if (rc_subscribe(c, m->room, m->room_len)) {
		rc_close(c, RC_CLOSE_INTERNAL, "cannot join the room");
		return;
	}
	m->joined = true;
	announce(c, m, "joined");
}

static void chat_message(struct rc_conn *c, const void *data, size_t len,
			 enum rc_opcode op)
{
	struct member *m = rc_conn_data(c);
	int err;

	/* @data is borrowed: rc_conn_publish frames it once into a shared
	   buffer before it returns, and skips the sender. */
	err = rc_conn_publish(c, m->room, m->room_len, data, len, op);
	if (err == -ENOMEM)
		rc_close(c, RC_CLOSE_TRY_AGAIN, "out of memory");
}

static void chat_close(struct rc_conn *c, uint16_t code)
{
	struct member *m = rc_conn_data(c);

	(void)code;
	/* Its subscriptions are gone already, so "left" goes to the others
	   only. */
	if (m->joined)
		announce(c, m, "left");
	free(m);
}

static void on_signal(int sig)
{
	(void)sig;
	rc_server_stop(server);		/* async-signal-safe */
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct rc_config cfg = rc_config_default();
	struct rc_handlers h = {
		.on_upgrade = chat_upgrade,
		.on_open = chat_open,
		.on_message = chat_message,
		.on_close = chat_close,
	};
	int ret;

	cfg.port = DEFAULT_PORT;
	if (argc > 2 || (argc == 2 && parse_port(argv[1], &cfg.port))) {
		fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
		return 2;
	}
	server = rc_server_new(&cfg, &h, NULL);
	if (!server) {
		perror("rc_server_new");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("chat server on ws://127.0.0.1:%u/<room> (simd %s)\n",
	       rc_server_port(server), rc_simd_name());
	fflush(stdout);
	ret = rc_server_run(server);	/* returns once stopped and drained */
	if (ret)
		fprintf(stderr, "rc_server_run: %s\n", strerror(-ret));
	rc_server_free(server);
	return ret ? 1 : 0;
}
