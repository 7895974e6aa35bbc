/* SPDX-License-Identifier: MIT */
/* hub.h -- between the files of the ringcast binary (an API client only). */
#ifndef RC_HUB_H
#define RC_HUB_H

#include <stdbool.h>
#include <stddef.h>

#include "ringcast.h"

/* The server the handlers serve (set once by main before it starts). */
extern struct rc_server *hub_server;

/* routes.c: the handlers, and the route table the flags fill. */
extern const struct rc_handlers hub_handlers;
extern bool hub_echo_self;
/* "PATH=echo" or "PATH=room:NAME" (--ws-route); false if malformed or
   too many. */
bool hub_add_route(const char *arg);

/* metrics.c: Prometheus text of every counter (totals and per worker).
   Returns the text in a buffer of this thread's, valid until the next
   call on this thread (it grows as needed), and its length in *@len;
   NULL if out of memory. */
const char *hub_metrics(size_t *len);

#endif /* RC_HUB_H */
