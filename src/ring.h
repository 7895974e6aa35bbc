/* SPDX-License-Identifier: MIT */
/* ring.h -- what a completion is about: user_data packing, in one place. */
#ifndef RC_RING_H
#define RC_RING_H

#include <stdint.h>

/*
 * user_data = op << 56 | slot. The slot is the connection's index in the
 * worker's table, which is also its direct descriptor. A slot is reused
 * only after every operation on it has completed, so no generation count
 * is needed to tell an old completion from a new connection's.
 */
enum rc_ud_op {
	RC_UD_IGNORE = 0,	/* cancels, shutdowns: nothing to do */
	RC_UD_ACCEPT,		/* multishot accept on the listener */
	RC_UD_RECV,		/* multishot recv into the buffer ring */
	RC_UD_SEND,		/* one send from the connection's queue */
	RC_UD_CLOSE,		/* close of the direct descriptor */
	RC_UD_SHUTDOWN,		/* shutdown(SHUT_WR) of a connection */
	RC_UD_INBOX,		/* MSG_RING from another worker: inbox mail */
	RC_UD_WAKE,		/* read of the worker's eventfd (stop) */
};

static inline uint64_t rc_ud(enum rc_ud_op op, uint32_t slot)
{
	return (uint64_t)op << 56 | slot;
}

static inline enum rc_ud_op rc_ud_op(uint64_t ud)
{
	return (enum rc_ud_op)(ud >> 56);
}

static inline uint32_t rc_ud_slot(uint64_t ud)
{
	return (uint32_t)ud;
}

#endif /* RC_RING_H */
