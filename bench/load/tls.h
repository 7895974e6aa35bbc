/* SPDX-License-Identifier: MIT */
/* tls.h -- the client side of TLS for ringcast-load: OpenSSL on a BIO of our own, io_uring doing every read and write. */
#ifndef RL_TLS_H
#define RL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/ssl.h>

#include "cfg.h"

/* Plaintext bytes one rl_tls_read() gives at most: a whole record. */
#define RL_TLS_CHUNK	16384
/* --tls-resume: sessions (tickets) a slot keeps, the newest first used. */
#define RL_TLS_SESS	4

/*
 * One connection slot's TLS state, kept for the slot's life (the handshake
 * scenario reuses slots): the SSL of the connection now open, and the
 * ciphertext it wrote, which waits in @out for io_uring to send it.
 *
 * OpenSSL never sees the socket: our BIO hands it the bytes a receive
 * completion brought (@in, only during rl_tls_feed() .. rl_tls_feed(NULL))
 * and appends what it writes to @out. The connection sends out[off..len)
 * and calls rl_tls_sent() as each send completes.
 */
struct rl_tls {
	SSL *ssl;		/* NULL between connections */
	uint8_t *out;		/* ciphertext not yet sent: [0, len) */
	uint32_t len;
	uint32_t cap;
	const uint8_t *pinned;	/* the buffer a send in flight reads, or
				   NULL: that one may not move */
	uint8_t *retired;	/* an old @out still pinned: freed once the
				   send completes */
	const uint8_t *in;	/* ciphertext fed, not yet taken */
	size_t in_len;
	SSL_SESSION *sess[RL_TLS_SESS];	/* --tls-resume: oldest first */
	unsigned nsess;
};

/* The outcome of rl_tls_handshake() and rl_tls_read(). */
enum {
	RL_TLS_AGAIN = 0,	/* needs more ciphertext */
	RL_TLS_DONE = 1,	/* handshake complete */
	RL_TLS_ERROR = -1,	/* failed: rl_tls_why() says why */
	RL_TLS_CLOSED = -2,	/* the peer sent close_notify */
};

/*
 * The SSL_CTX of this process, made from @cfg (--tls-ca, --tls-sni,
 * --tls-resume) before the worker processes are forked, so each has its
 * own copy. Returns 0, or -1 with a message in @err.
 */
int rl_tls_init(const struct rl_cfg *cfg, char *err, size_t errlen);
void rl_tls_exit(void);

/* A slot's state, no connection yet. NULL: out of memory. */
struct rl_tls *rl_tls_new(void);

/* Begin a connection on @t: a new SSL (resuming --tls-resume's session),
   @out emptied. Returns 0 or -ENOMEM. */
int rl_tls_open(struct rl_tls *t);

/* End @t's connection: free its SSL. No send may still read @out. */
void rl_tls_close(struct rl_tls *t);

/* Free everything of @t; no send may read @out any more. */
void rl_tls_free(struct rl_tls *t);

/* Give OpenSSL @buf[0..n) to read from; rl_tls_feed(t, NULL, 0) after,
   before @buf goes back to the buffer ring. */
static inline void rl_tls_feed(struct rl_tls *t, const uint8_t *buf, size_t n)
{
	t->in = buf;
	t->in_len = n;
}

/* Drive the handshake: RL_TLS_DONE, RL_TLS_AGAIN or RL_TLS_ERROR. What it
   wrote is in @out. */
int rl_tls_handshake(struct rl_tls *t);

/* Decrypt into @buf (RL_TLS_CHUNK bytes): the bytes, or RL_TLS_AGAIN (all
   fed ciphertext taken), RL_TLS_CLOSED or RL_TLS_ERROR. */
long rl_tls_read(struct rl_tls *t, uint8_t *buf, size_t cap);

/* Encrypt @buf[0..n) into @out. Returns 0 or RL_TLS_ERROR. */
int rl_tls_write(struct rl_tls *t, const void *buf, size_t n);

/* Answer the peer's close_notify with ours (into @out). */
void rl_tls_shutdown(struct rl_tls *t);

/* True if the connection's session was resumed. */
bool rl_tls_resumed(const struct rl_tls *t);

/*
 * Why the last RL_TLS_ERROR on this thread happened, into @buf
 * ("certificate verify failed: self-signed certificate"); clears
 * OpenSSL's error queue, which must be empty before the next call.
 */
const char *rl_tls_why(struct rl_tls *t, char *buf, size_t cap);

/*
 * Append @n bytes to @t->out, growing it: by realloc(), or, while a send
 * reads it (@t->pinned), by moving to a new buffer and retiring the old
 * one until rl_tls_sent(). Returns 0 or -ENOMEM. (The BIO's write; here
 * for the tests.)
 */
int rl_tls_out_append(struct rl_tls *t, const void *p, size_t n);

/* inline defs */

/* A send of @t->out[off..len) is about to go out: @out must stay. */
static inline void rl_tls_pin(struct rl_tls *t)
{
	t->pinned = t->out;
}

/* The send in flight completed: free what only it still read. */
static inline void rl_tls_sent(struct rl_tls *t)
{
	free(t->retired);
	t->retired = NULL;
	t->pinned = NULL;
}

#endif /* RL_TLS_H */
