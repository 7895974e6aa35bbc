/* SPDX-License-Identifier: MIT */
/*
 * record.h -- TLS 1.3 records after the handshake, without OpenSSL's SSL
 * object (RFC 8446 §5): an AEAD key, IV and sequence number per direction,
 * and the traffic secret for KeyUpdate. OpenSSL does the handshake; then
 * its SSL (15 KB) is freed and a connection keeps about 300 bytes, the
 * user-space twin of kTLS.
 */
#ifndef RC_TLS_RECORD_H
#define RC_TLS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_conn;
struct rc_worker;
struct ssl_st;

/* Longest traffic secret: SHA-384. */
#define RC_TLS_SECRET_MAX 48

/* The cipher suites whose records we run ourselves. */
enum rc_tls_suite {
	RC_TLS_SUITE_NONE = 0,
	RC_TLS_AES_128_GCM_SHA256,
	RC_TLS_AES_256_GCM_SHA384,
	RC_TLS_CHACHA20_POLY1305_SHA256,
};

/* One direction: application traffic keys and where the sequence is. */
struct rc_tls_dir {
	uint8_t secret[RC_TLS_SECRET_MAX];
	uint8_t key[32];
	uint8_t iv[12];
	uint64_t seq;
};

/* The record layer of one connection, once the handshake is done. */
struct rc_tls_rl {
	struct rc_tls_dir rd, wr;
	uint8_t suite;			/* enum rc_tls_suite; 0: not ours */
	uint8_t secret_len;		/* 32 or 48 */
	bool have_rd, have_wr;		/* secrets captured from keylog */
	uint8_t *part;			/* a record split across reads */
	uint32_t part_len, part_cap;
	/* Cipher contexts keyed for this connection ([0] opens, [1]
	   seals), held while it is active: a record then sets only its
	   nonce, where re-keying a shared context would cost about as much
	   again. About 1 KB each, so a connection quiet for a second gives
	   them back (rc__tls_rl_sweep()); an idle one holds none. */
	void *kctx[2];
	uint32_t used_ms;		/* the worker's clock at the last use */
	uint32_t live_prev, live_next;	/* slots, on the worker's list */
	bool live;
};

/* Per worker: one cipher context re-keyed per record (a connection keeps
   keys, not contexts), and the fetched algorithms. 0 or -ENOMEM. */
struct rc_tls_crypto;
struct rc_tls_crypto *rc__tls_crypto_new(void);
void rc__tls_crypto_free(struct rc_tls_crypto *cr);

/* keylog callback line: keep the application traffic secrets. */
void rc__tls_rl_keylog(struct rc_tls_rl *rl, const char *line);

/* After the handshake of @ssl: can the records be ours (TLS 1.3, one of
   the three suites, both secrets)? Then derive the keys, with @wr_seq
   records already written under the server's secret. True if taken over. */
bool rc__tls_rl_take_over(struct rc_tls_rl *rl, struct rc_tls_crypto *cr,
			  struct ssl_st *ssl, uint64_t wr_seq);

/* Derive both directions' keys for @suite from the captured secrets;
   sequences start at 0. 0 or -EINVAL. (The take-over, and tests.) */
int rc__tls_rl_start(struct rc_tls_rl *rl, struct rc_tls_crypto *cr,
		     uint8_t suite);

/* Ciphertext @buf[0..n) arrived (writable: records are opened in place);
   the plaintext goes to the connection's HTTP/WebSocket part. */
void rc__tls_rl_input(struct rc_conn *c, uint8_t *buf, size_t n);

/* Seal queued plaintext into records in the wire queue, up to @ahead
   bytes of it. */
void rc__tls_rl_encrypt(struct rc_conn *c, size_t ahead);

/* Queue a close_notify alert. */
void rc__tls_rl_close_notify(struct rc_conn *c);

/* Once a second: connections quiet for a second give their cipher
   contexts back. */
void rc__tls_rl_sweep(struct rc_worker *w);

void rc__tls_rl_free(struct rc_conn *c);

#endif /* RC_TLS_RECORD_H */
