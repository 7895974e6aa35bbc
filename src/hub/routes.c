/* SPDX-License-Identifier: MIT */
/* routes.c -- the hub's handlers: rooms, echo, /health, /metrics, the page. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

/* What an upgraded connection does; kept in rc_conn_set_data(). */
enum route {
	ROUTE_ECHO,		/* /echo: send each message back */
	ROUTE_TOPIC,		/* /ws/<topic>: a chat room */
};

/* Per-connection hub state: the route and, for a room, its topic (the raw
   path bytes after "/ws/"). Allocated in on_upgrade, freed in on_close. */
struct hub_conn {
	enum route route;
	bool shared;		/* a --ws-route entry: not freed on close */
	uint16_t topic_len;
	char topic[];
};

/* --ws-route PATH=echo|room:NAME: upgrades on PATH (exact match) go to echo
   or to room NAME; checked before /echo and /ws/<room>. */
#define MAX_ROUTES 16
static struct {
	const char *path;
	struct hub_conn *to;
} routes[MAX_ROUTES];
static unsigned nroutes;

static struct hub_conn echo_route = { .route = ROUTE_ECHO, .shared = true };

struct rc_server *hub_server;
bool hub_echo_self = true;

/* src/hub/chat.html, embedded by cmake/embed.cmake. */
extern const unsigned char rc_hub_chat_html[];
extern const size_t rc_hub_chat_html_len;

static bool path_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(p, lit, n);
}

static int hub_upgrade(struct rc_conn *c, const struct rc_request *req)
{
	size_t n;
	const char *p = rc_request_path(req, &n);
	struct hub_conn *hc;

	for (unsigned i = 0; i < nroutes; i++)
		if (path_is(p, n, routes[i].path)) {
			rc_conn_set_data(c, routes[i].to);
			return 0;
		}
	if (path_is(p, n, "/echo")) {
		rc_conn_set_data(c, &echo_route);
		return 0;
	}
	if (n <= 4 || memcmp(p, "/ws/", 4) || n - 4 > RC_TOPIC_MAX)
		return 404;
	hc = malloc(sizeof(*hc) + n - 4);
	if (!hc)
		return 503;
	hc->route = ROUTE_TOPIC;
	hc->shared = false;
	hc->topic_len = (uint16_t)(n - 4);
	memcpy(hc->topic, p + 4, n - 4);
	rc_conn_set_data(c, hc);
	return 0;
}

static void hub_open(struct rc_conn *c)
{
	struct hub_conn *hc = rc_conn_data(c);

	if (hc->route == ROUTE_TOPIC &&
	    rc_subscribe(c, hc->topic, hc->topic_len))
		rc_close(c, RC_CLOSE_INTERNAL, "cannot subscribe");
}

static void hub_message(struct rc_conn *c, const void *data, size_t len,
			enum rc_opcode op)
{
	struct hub_conn *hc = rc_conn_data(c);
	int ret;

	if (hc->route == ROUTE_ECHO)
		ret = rc_send(c, data, len, op);	/* fails c itself */
	else if (hub_echo_self)
		ret = rc_publish(rc_conn_server(c), hc->topic, hc->topic_len,
				 data, len, op);
	else
		ret = rc_conn_publish(c, hc->topic, hc->topic_len, data, len,
				      op);
	/* A room message that could not be published: its sender must not
	   think it was. */
	if (ret == -ENOMEM && hc->route == ROUTE_TOPIC)
		rc_close(c, RC_CLOSE_INTERNAL, "out of memory");
}

static void hub_close(struct rc_conn *c, uint16_t code)
{
	struct hub_conn *hc = rc_conn_data(c);

	(void)code;
	if (hc && !hc->shared)
		free(hc);
}

static void hub_http(struct rc_conn *c, const struct rc_request *req,
		     struct rc_response *res)
{
	size_t n;
	const char *p = rc_request_path(req, &n);

	(void)c;
	if (path_is(p, n, "/health")) {
		res->status = 200;
		res->body = "ok\n";
		res->body_len = 3;
	} else if (path_is(p, n, "/metrics")) {
		/* The server copies the body before the next request on this
		   worker, so the worker's buffer can be reused. */
		res->body = hub_metrics(&res->body_len);
		res->status = res->body ? 200 : 503;
		res->content_type = "text/plain; version=0.0.4";
	} else if (path_is(p, n, "/")) {
		res->status = 200;
		res->content_type = "text/html; charset=utf-8";
		res->body = rc_hub_chat_html;
		res->body_len = rc_hub_chat_html_len;
	}
}

const struct rc_handlers hub_handlers = {
	.on_upgrade = hub_upgrade,
	.on_http = hub_http,
	.on_open = hub_open,
	.on_message = hub_message,
	.on_close = hub_close,
};

bool hub_add_route(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct hub_conn *hc;
	size_t tlen = 0;
	const char *to;

	if (!eq || arg[0] != '/' || nroutes == MAX_ROUTES)
		return false;
	to = eq + 1;
	if (!strncmp(to, "room:", 5)) {
		tlen = strlen(to + 5);
		if (!tlen || tlen > RC_TOPIC_MAX)
			return false;
	} else if (strcmp(to, "echo")) {
		return false;
	}
	hc = malloc(sizeof(*hc) + tlen);
	routes[nroutes].path = strndup(arg, (size_t)(eq - arg));
	if (!hc || !routes[nroutes].path) {
		free(hc);
		return false;
	}
	hc->route = tlen ? ROUTE_TOPIC : ROUTE_ECHO;
	hc->shared = true;
	hc->topic_len = (uint16_t)tlen;
	memcpy(hc->topic, to + 5 * (tlen > 0), tlen);
	routes[nroutes++].to = hc;
	return true;
}
