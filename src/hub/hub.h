/* SPDX-License-Identifier: MIT */
/* hub.h -- between the files of the ringcast binary (an API client only). */
#ifndef RC_HUB_H
#define RC_HUB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringcast.h"

/* The hub runs at most this many workers (--threads). */
#define HUB_MAX_WORKERS 64

/* The hub's own counters (metrics.c names them). The first four are
   ringcast_auth_refused_total's reasons, in this order. */
enum hub_counter {
	HUB_C_REFUSED_MISSING,	/* no token (401) */
	HUB_C_REFUSED_INVALID,	/* a token that does not verify (401) */
	HUB_C_REFUSED_EXPIRED,	/* an expired token (401) */
	HUB_C_REFUSED_ROOM,	/* a room the token does not name (403) */
	HUB_C_READONLY_CLOSES,	/* a read-only member posted: 1008 */
	HUB_C_FORGED_CLOSES,	/* a message posing as hub-stamped: 1008 */
	HUB_NCOUNTERS,
};

/* One set per worker of the main server (index: the connection id's top
   bits), written by that worker, read by /metrics on the admin thread. A
   cache line each, so workers do not share one. */
struct hub_counts {
	_Atomic uint64_t v[HUB_NCOUNTERS];
} __attribute__((aligned(64)));

/* The server the handlers serve (set once by main before it starts). */
extern struct rc_server *hub_server;
extern struct hub_counts hub_counts[HUB_MAX_WORKERS];

/* routes.c: the handlers, and what the flags set before the start. */
extern const struct rc_handlers hub_handlers;
/* The admin listener's: GET /metrics (of hub_server) and /health only. */
extern const struct rc_handlers hub_admin_handlers;
extern bool hub_echo_self;
extern size_t hub_max_message;		/* the server's max_message */
/* Tokens (auth.h), or NULL for none; owned by main. */
extern struct hub_auth *hub_auth;
/* --auth optional: no token is an anonymous, read-only member. */
extern bool hub_auth_optional;
/* Both, replaced by a reload (SIGHUP) under the write lock; upgrades
   read them under the read lock. */
extern pthread_rwlock_t hub_auth_lock;
/* "PATH=echo" or "PATH=room:NAME" (--ws-route); false if malformed or
   too many. */
bool hub_add_route(const char *arg);

/* main.c: reloads (SIGHUP) that applied everything, and those with a
   part refused. */
extern _Atomic uint64_t hub_reloads, hub_reload_failures;

/* routes.c: the subprotocol ringcast.v1 (docs/PROTOCOL.md), and the
   envelope of its room messages (rc_config.stamp). */
extern const char hub_v1_name[];
size_t hub_stamp(void *user, const struct rc_stamp_in *in, char *out,
		 size_t cap);

/* routes.c: JSON string escaping (without the quotes): the length
   @s[0..@n) takes escaped, and writing it to @out (that much room). */
size_t hub_json_len(const unsigned char *s, size_t n);
char *hub_json_put(char *out, const unsigned char *s, size_t n);
/* routes.c: a room member's label for presence, its token's sub
   (JSON-escaped), rc_config.presence_label. */
int hub_presence_label(void *user, struct rc_conn *c, char *out, size_t cap);

/*
 * presence.c: who is in a room, for ringcast.v1 members (docs/PROTOCOL.md).
 * Rooms of at most hub_presence_max members get join and leave lines
 * (rate-limited per room); every room that changed gets a snapshot at
 * most once a second (a thread of its own): its members, or its count
 * only when bigger.
 */
#define HUB_PRESENCE_MAX_LIMIT 1000
extern unsigned hub_presence_max;
extern _Atomic uint64_t hub_presence_events, hub_presence_snapshots;
/* Member @id (label @sub/@sublen, JSON-escaped; NULL: none) joined or
   left @room: told to the room's other v1 members, or counted for the
   thread. Worker threads, after the subscription changed. */
void hub_presence_changed(const char *room, size_t rlen, uint64_t id,
			  const char *sub, size_t sublen, bool joined);
/* The presence line a v1 member gets on joining (count, and the members
   while there are at most hub_presence_max), in this thread's buffer
   @buf (grown with @grow); its length, or 0 if out of memory. */
size_t hub_presence_line(const char *room, size_t rlen, char **out,
			 char *(*grow)(size_t need));
/* GET /presence/ROOM on the admin listener: the JSON body, at most
   HUB_PRESENCE_MAX_LIMIT members, into this thread's buffer. */
size_t hub_presence_json(const char *room, size_t rlen, char **out,
			 char *(*grow)(size_t need));
/* The thread sending snapshots: start (0 or -errno) and stop. */
int hub_presence_start(void);
void hub_presence_stop(void);

/* metrics.c: Prometheus text of every counter (totals and per worker).
   Returns the text in a buffer of this thread's, valid until the next
   call on this thread (it grows as needed), and its length in *@len;
   NULL if out of memory. */
const char *hub_metrics(size_t *len);

#endif /* RC_HUB_H */
