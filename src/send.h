/* SPDX-License-Identifier: MIT */
/* send.h -- per-connection output queue: frames appended, one send at a time. */
#ifndef RC_SEND_H
#define RC_SEND_H

#include <stddef.h>
#include <stdint.h>

struct rc_worker;
struct rc_conn;

/*
 * A chunk of output bytes. Frames are appended at @len; the kernel is sent
 * [@off, @len). Appending never moves a chunk, so a send in flight from it
 * stays valid. Chunks of the standard size are recycled through a
 * per-worker pool, so steady-state sending does not allocate.
 */
struct rc_chunk {
	struct rc_chunk *next;
	uint32_t off;
	uint32_t len;
	uint32_t cap;
	uint8_t data[];
};

/* Standard chunk capacity; larger frames get a chunk of their own size. */
#define RC_CHUNK_SIZE (16384 - sizeof(struct rc_chunk))
/* Chunks kept in a worker's pool after a burst; the rest go back to libc. */
#define RC_CHUNK_POOL_MAX 256

/*
 * Reserve @n contiguous bytes at the end of @c's queue and return where to
 * write them (borrowed until rc__out_commit()). May allocate: NULL on
 * -ENOMEM. rc__out_commit() then adds the @used (<= n) bytes written and
 * marks @c for sending at the end of the loop turn.
 */
uint8_t *rc__out_reserve(struct rc_conn *c, size_t n);
void rc__out_commit(struct rc_conn *c, size_t used);

/* Queue a frame (header + @len payload bytes, unmasked). 0 or -ENOMEM. */
int rc__out_frame(struct rc_conn *c, unsigned opcode, const void *data,
		  size_t len);

/* Queue raw bytes (an HTTP response). 0 or -ENOMEM. */
int rc__out_bytes(struct rc_conn *c, const void *data, size_t len);

/* Issue a send of @c's queue if it has output and no send in flight. */
void rc__out_kick(struct rc_conn *c);

/* A send completed with @res. */
void rc__out_complete(struct rc_conn *c, int res);

/* Free every queued chunk not in flight (the connection is going away). */
void rc__out_discard(struct rc_conn *c);

/* Free the worker's chunk pool. */
void rc__out_pool_free(struct rc_worker *w);

#endif /* RC_SEND_H */
