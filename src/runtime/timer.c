/* SPDX-License-Identifier: MIT */
/* timer.c -- connection timeouts: one FIFO list per kind, O(1) per change. */
#include "runtime/conn.h"
#include "runtime/timer.h"
#include "runtime/worker.h"

void rc__timers_init(struct rc_timers *t, uint32_t handshake_ms,
		     uint32_t idle_ms, uint32_t close_ms)
{
	for (int k = 0; k < RC_TIMER_KINDS; k++)
		t->list[k].head = t->list[k].tail = RC_NO_SLOT;
	t->list[RC_TIMER_HEAD].duration_ms = handshake_ms;
	t->list[RC_TIMER_IDLE].duration_ms = idle_ms;
	t->list[RC_TIMER_CLOSE].duration_ms = close_ms;
	t->list[RC_TIMER_PING].duration_ms = idle_ms > 1 ? idle_ms / 2 : 1;
}

void rc__timer_link_init(struct rc_conn *c)
{
	c->tl.prev = c->tl.next = RC_NO_SLOT;
	c->timer = RC_TIMER_NONE;
}

static struct rc_timer_link *link_at(struct rc_worker *w, uint32_t slot)
{
	return &w->conns[slot].tl;
}

void rc__timer_clear(struct rc_conn *c)
{
	struct rc_timer_link *l = &c->tl;
	struct rc_worker *w = c->w;

	if (c->timer == RC_TIMER_NONE)
		return;
	if (l->prev != RC_NO_SLOT)
		link_at(w, l->prev)->next = l->next;
	else
		w->timers.list[c->timer].head = l->next;
	if (l->next != RC_NO_SLOT)
		link_at(w, l->next)->prev = l->prev;
	else
		w->timers.list[c->timer].tail = l->prev;
	rc__timer_link_init(c);
}

void rc__timer_set(struct rc_conn *c, enum rc_timer_kind kind)
{
	struct rc_worker *w = c->w;
	struct rc_timer_link *l = &c->tl;

	rc__timer_clear(c);
	if (kind == RC_TIMER_NONE || !w->timers.list[kind].duration_ms)
		return;
	c->timer = (uint8_t)kind;
	l->deadline = w->now_ms + w->timers.list[kind].duration_ms;
	l->prev = w->timers.list[kind].tail;
	l->next = RC_NO_SLOT;
	if (l->prev != RC_NO_SLOT)
		link_at(w, l->prev)->next = rc__conn_slot(c);
	else
		w->timers.list[kind].head = rc__conn_slot(c);
	w->timers.list[kind].tail = rc__conn_slot(c);
}

enum rc_timer_kind rc__timer_kind(const struct rc_conn *c)
{
	return (enum rc_timer_kind)c->timer;
}

void rc__timers_expire(struct rc_worker *w)
{
	for (int k = 1; k < RC_TIMER_KINDS; k++) {
		uint32_t slot;

		while ((slot = w->timers.list[k].head) != RC_NO_SLOT) {
			struct rc_conn *c = &w->conns[slot];

			if ((int32_t)(c->tl.deadline - w->now_ms) > 0)
				break;
			rc__timer_clear(c);
			rc__conn_timeout(c, (enum rc_timer_kind)k);
		}
	}
}

unsigned rc__timers_next_ms(struct rc_worker *w, unsigned cap)
{
	unsigned wait = cap;

	for (int k = 1; k < RC_TIMER_KINDS; k++) {
		uint32_t slot = w->timers.list[k].head;
		int32_t d;

		if (slot == RC_NO_SLOT)
			continue;
		d = (int32_t)(w->conns[slot].tl.deadline - w->now_ms);
		if (d <= 0)
			return 0;
		if ((unsigned)d < wait)
			wait = (unsigned)d;
	}
	return wait;
}
