/* SPDX-License-Identifier: MIT */
/* v1.h -- ringcast.v1 lines as the load tool reads them (docs/PROTOCOL.md): the type, epoch and offset, where the data starts, recovered. */
#ifndef RL_V1_H
#define RL_V1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The subprotocol whose lines the tool reads (--subprotocol). */
#define RL_V1_NAME	"ringcast.v1"

enum rl_v1_type {
	RL_V1_BAD = -1,		/* not a line of the hub's (or cut short) */
	RL_V1_OTHER = 0,	/* another type (presence, ...): skipped */
	RL_V1_MSG,		/* {"type":"msg",...} */
	RL_V1_JOINED,		/* {"type":"joined",...} */
};

/* What one line says; only what its type carries is set. */
struct rl_v1_line {
	uint64_t epoch;
	uint64_t offset;
	size_t data_at;		/* msg: where the data string's first byte
				   is, after its opening quote */
	int recovered;		/* joined: -1 not said, 0 false, 1 true */
};

/*
 * Read the head of a TEXT message, @p[0..@n) (rl_ws_msg.head: the first
 * RL_WS_HEAD bytes), the fields in the order the hub writes them. For a
 * msg the head must reach past "data":" (its data_at <= @n); a joined
 * line must be whole. Only reads; no allocation.
 */
enum rl_v1_type rl_v1_parse(const uint8_t *p, size_t n,
			    struct rl_v1_line *out);

#endif /* RL_V1_H */
