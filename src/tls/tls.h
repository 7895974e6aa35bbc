/* SPDX-License-Identifier: MIT */
/*
 * tls.h -- TLS on the ring: OpenSSL transforms bytes, io_uring moves them.
 *
 * Each worker has one pair of custom BIOs that every one of its TLS
 * connections uses: the read BIO hands OpenSSL the ciphertext of the
 * current receive buffer, the write BIO appends records to the current
 * connection's wire queue, which goes out in the same batched sends as
 * plain output. No socket BIO, no blocking call, no thread; an idle TLS
 * connection holds its SSL and no record buffers (SSL_MODE_RELEASE_BUFFERS).
 */
#ifndef RC_TLS_H
#define RC_TLS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/outq.h"
#include "tls/record.h"

struct ssl_st;
struct bio_st;
struct rc_conn;
struct rc_worker;
struct rc_config;
struct rc_tls_certs;

/* A server's TLS: the certificates in force (replaced whole by a reload)
   and where they come from. */
struct rc_tls {
	pthread_mutex_t lock;		/* @cur, against reloads */
	struct rc_tls_certs *cur;
	char **cert_files, **key_files;	/* copies of the configuration */
	size_t ncerts;
	char *client_ca;		/* mTLS: verify client certificates */
	_Atomic uint64_t reloads, reload_failures;
};

/* Handshake steps with a full key exchange that one worker runs per loop
   turn; the rest wait for the next turns, so that a flood of handshakes
   cannot starve established connections (each costs ~0.1-0.3 ms). */
#define RC_TLS_HANDSHAKES_PER_TURN 16

/* A worker's TLS: its BIO pair and what they work on now. */
struct rc_tls_worker {
	struct rc_tls *tls;
	struct rc_tls_crypto *crypto;	/* record.c: our TLS 1.3 records */
	struct bio_st *rbio, *wbio;
	const uint8_t *in;		/* ciphertext not yet read by OpenSSL */
	size_t in_len;
	struct rc_conn *cur;		/* whose records the write BIO takes */
	uint8_t *plain;			/* one record of plaintext, padded */
	uint32_t wait_head, wait_tail;	/* handshakes waiting for a turn */
	uint32_t live_head;		/* connections holding keyed cipher
					   contexts (record.c) */
	unsigned budget;		/* handshakes left this turn */
	char *subject;			/* rc_conn_tls_subject()'s buffer */
};

/* One TLS connection's state: OpenSSL's SSL for the handshake (and for
   the whole connection under TLS 1.2 or mTLS), then under TLS 1.3 our own
   record layer (@rl) once @ssl is freed. */
struct rc_tls_conn {
	struct ssl_st *ssl;		/* made when the handshake starts;
					   freed once @rl has taken over
					   (rl.suite set) */
	struct rc_outq wire;		/* records to send */
	struct rc_tls_rl rl;
	uint8_t *held;			/* ciphertext waiting for a turn */
	uint32_t held_len, held_cap;
	uint32_t wait_prev, wait_next;	/* on the worker's wait list */
	bool waiting;
	bool started;			/* the key exchange has run */
	bool open;			/* handshake complete */
	bool failed;			/* a fatal alert: no close_notify */
	bool notify_sent;		/* our close_notify is queued */
	bool keep_ssl;			/* mTLS: the SSL holds the certificate */
	uint8_t fail;			/* enum rc_stat of a failure seen in a
					   callback (SNI, ALPN) */
	/* Records OpenSSL writes in a handshake call, counted from the
	   bytes: those of the last call are the first ones under the
	   server's application secret (the tickets). */
	bool counting;
	uint8_t cnt_have;
	uint8_t cnt_hdr[5];
	uint32_t cnt_skip;
	uint32_t cnt_records;
};

/* ---- the server ---- */

/* Load the configured certificates (rc_server_new). 0, or -errno with
   one line in @why. */
int rc__tls_init(struct rc_tls *t, const struct rc_config *cfg, char *why,
		 size_t cap);
/* Load them again and, only if all load, put them in force. */
int rc__tls_reload(struct rc_tls *t, char *why, size_t cap);
void rc__tls_free(struct rc_tls *t);

/* ---- a worker ---- */

int rc__tls_worker_init(struct rc_tls_worker *tw, struct rc_tls *t);
void rc__tls_worker_free(struct rc_tls_worker *tw);
/* Once per loop turn: a new budget, and the handshakes that waited. */
void rc__tls_turn(struct rc_worker *w);
/* Handshakes are waiting: the loop must not sleep. */
static inline bool rc__tls_waiting(const struct rc_tls_worker *tw)
{
	return tw->wait_head != UINT32_MAX;
}

/* ---- a connection ---- */

/* @c was accepted on a TLS listener. 0 or -ENOMEM. */
int rc__tls_conn_new(struct rc_conn *c);
/* Its descriptor is closed: free its TLS state. */
void rc__tls_conn_free(struct rc_conn *c);
/* Ciphertext arrived (a receive buffer, writable, borrowed for the call:
   our records are opened in place). The plaintext goes on into the
   connection's HTTP or WebSocket part. */
void rc__tls_input(struct rc_conn *c, uint8_t *buf, size_t n);
/* Make records of queued plaintext, up to a little ahead of the socket. */
void rc__tls_encrypt(struct rc_conn *c);
/* Queue our close_notify (once the output is flushed, before the TCP
   half-close). False if there is none to send (failed or sent). */
bool rc__tls_close_notify(struct rc_conn *c);
/* True while @t still owes the peer a close_notify. */
static inline bool rc__tls_notify_owed(const struct rc_tls_conn *t)
{
	return t->open && !t->failed && !t->notify_sent;
}
/* The TLS layer of @c failed (already counted): no more input, queued
   plaintext dropped, what records are queued (an alert) flushed, end. */
void rc__tls_failed(struct rc_conn *c);
/* The handshake timer fired or the peer left before the handshake ended:
   count the failure. */
void rc__tls_unfinished(struct rc_conn *c, bool timeout);

#endif /* RC_TLS_H */
