/* SPDX-License-Identifier: MIT */
/* timer.h -- connection timeouts: one FIFO list per kind, O(1) per change. */
#ifndef RC_TIMER_H
#define RC_TIMER_H

#include <stdint.h>

struct rc_worker;
struct rc_conn;

/* Which timer list a connection is on (each has one fixed duration). */
enum rc_timer_kind {
	RC_TIMER_NONE = 0,
	RC_TIMER_HEAD,		/* handshake_timeout: request head incomplete */
	RC_TIMER_IDLE,		/* idle_timeout: keep-alive between requests */
	RC_TIMER_CLOSE,		/* close_timeout: close handshake */
	RC_TIMER_PING,		/* idle_timeout / 2: WebSocket liveness */
	RC_TIMER_KINDS
};

#define RC_NO_SLOT UINT32_MAX

/* A connection's place on a list: slots of its neighbours, so a link is
   12 bytes, not two pointers. Which list it is on is the connection's
   byte @timer (beside its other small fields, where it costs no padding). */
struct rc_timer_link {
	uint32_t prev, next;
	uint32_t deadline;		/* the worker's ms clock */
};

/*
 * Every connection on a list has the same duration, so appending at the
 * tail keeps the list sorted by deadline: the loop looks at the heads only.
 */
struct rc_timers {
	struct {
		uint32_t head, tail;	/* slots, RC_NO_SLOT when empty */
		uint32_t duration_ms;	/* 0: this timeout is disabled */
	} list[RC_TIMER_KINDS];
};

void rc__timers_init(struct rc_timers *t, uint32_t handshake_ms,
		     uint32_t idle_ms, uint32_t close_ms);
void rc__timer_link_init(struct rc_conn *c);

/* Put @c on list @kind (taking it off any other), or off all (NONE). */
void rc__timer_set(struct rc_conn *c, enum rc_timer_kind kind);
void rc__timer_clear(struct rc_conn *c);
/* Which list @c is on. */
enum rc_timer_kind rc__timer_kind(const struct rc_conn *c);

/* Fire every timer due at w->now_ms (rc__conn_timeout()). */
void rc__timers_expire(struct rc_worker *w);
/* Milliseconds until the next deadline, at most @cap. */
unsigned rc__timers_next_ms(struct rc_worker *w, unsigned cap);

#endif /* RC_TIMER_H */
