/* SPDX-License-Identifier: MIT */
/*
 * rt.h -- the runtime as the pub/sub layer sees it: a few calls, no struct
 * fields. A published message reaches a connection through one of them,
 * rc__conn_deliver(); the rest name a connection's worker and state.
 */
#ifndef RC_RT_H
#define RC_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_conn;
struct rc_msg;
struct rc_ps;
struct rc_ps_worker;
struct rc_server;
struct rc_sub;
struct rc_worker;

/*
 * Queue shared message @m to @c, taking over one reference to it (released
 * if it is not queued). Applies the slow-subscriber policy: a message that
 * would take a non-empty queue past max_backpressure (counting what the
 * queue really holds, runtime/outq.h) closes @c with 1008 or drops its
 * oldest queued messages. True if @m was queued.
 */
bool rc__conn_deliver(struct rc_conn *c, struct rc_msg *m);

/* Mail for @c from rc__ps_mail(), on its worker: @p[0..@len). */
void rc__conn_mail(struct rc_conn *c, const uint8_t *p, size_t len);

/* Head of @c's subscription list (owned by the pub/sub layer). */
struct rc_sub **rc__conn_subs(struct rc_conn *c);
/* May @c, subscribed to @have topics, take one more (max_subscriptions)?
   False is counted. */
bool rc__conn_sub_allowed(struct rc_conn *c, unsigned have);
/* Does @c take published messages' shared compressed frame
   (permessage-deflate without a window of its own)? Fixed from its
   upgrade on, so subscriptions can count it. */
bool rc__conn_takes_zframe(const struct rc_conn *c);
/* Does @c take published messages in their stamped form? */
bool rc__conn_takes_sframe(const struct rc_conn *c);
/* Is @c an open WebSocket (not closing)? */
bool rc__conn_is_open(const struct rc_conn *c);
/* The pub/sub part of @c's worker. */
struct rc_ps_worker *rc__conn_ps(struct rc_conn *c);
/* The server's pub/sub part. */
struct rc_ps *rc__server_ps(struct rc_server *s);

/* The index of the worker that owns connection id @id. */
unsigned rc__id_worker(uint64_t id);
/* Worker @w's connection with id @id, or NULL if it is gone. */
struct rc_conn *rc__worker_conn(struct rc_worker *w, uint64_t id);

/* Wake worker @to: a MSG_RING from @from's ring (the same server's
   worker running this call), or its eventfd when @from is NULL. */
void rc__worker_wake(struct rc_worker *from, struct rc_worker *to);

/* The connection whose on_message runs on this thread now, or NULL. */
struct rc_conn *rc__delivering(void);
/* True if @p/@len is the TEXT message being delivered on this thread (so
   it is valid UTF-8 already); a BINARY one never is. */
bool rc__validated_text(const void *p, size_t len);

/* @c published into an inbox over its bound: stop reading from it until
   rc__worker_resume_publishers(). False if it was paused so already. */
bool rc__conn_pub_wait(struct rc_conn *c);
/* Every inbox is low again: read again from the connections paused so. */
void rc__worker_resume_publishers(struct rc_worker *w);

#endif /* RC_RT_H */
