/* SPDX-License-Identifier: MIT */
/* tls.c -- the client side of TLS for ringcast-load: OpenSSL on a BIO of our own, io_uring doing every read and write. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* The first @out: a ClientHello, or a Finished and the upgrade request,
   fit; echo frames grow it once to their batch. */
#define OUT_MIN		1024

/* One per process: made before fork(), each worker process has its copy
   and its threads share it (SSL_new() on a shared SSL_CTX is safe). */
static SSL_CTX *ctx;
static BIO_METHOD *bio_method;
static const char *sni;		/* NULL: no server_name */
static bool resume;

int rl_tls_out_append(struct rl_tls *t, const void *p, size_t n)
{
	size_t need = (size_t)t->len + n, cap;
	uint8_t *nb;

	if (need > UINT32_MAX)
		return -ENOMEM;
	if (need > t->cap) {
		cap = t->cap ? 2 * (size_t)t->cap : OUT_MIN;
		if (cap < need)
			cap = need;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		if (t->pinned && t->pinned == t->out) {
			/* The kernel may still read the old buffer: it stays
			   until the send completes. Rare: only what OpenSSL
			   writes by itself (an alert, a key update) comes
			   while a send is in flight. */
			nb = malloc(cap);
			if (!nb)
				return -ENOMEM;
			memcpy(nb, t->out, t->len);
			t->retired = t->out;
		} else {
			nb = realloc(t->out, cap);
			if (!nb)
				return -ENOMEM;
		}
		t->out = nb;
		t->cap = (uint32_t)cap;
	}
	memcpy(t->out + t->len, p, n);
	t->len += (uint32_t)n;
	return 0;
}

/* OpenSSL writes a record (or a flight): queue it for the next send. It
   never has to wait, so OpenSSL never sees "retry" here. */
static int bio_write_ex(BIO *b, const char *p, size_t n, size_t *written)
{
	struct rl_tls *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (rl_tls_out_append(t, p, n))
		return 0;
	*written = n;
	return 1;
}

/* OpenSSL reads: what the receive completion being handled brought; once
   that is taken, "retry" (SSL_ERROR_WANT_READ) until the next one. */
static int bio_read_ex(BIO *b, char *p, size_t n, size_t *readbytes)
{
	struct rl_tls *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (!t->in_len) {
		BIO_set_retry_read(b);
		return 0;
	}
	if (n > t->in_len)
		n = t->in_len;
	memcpy(p, t->in, n);
	t->in += n;
	t->in_len -= n;
	*readbytes = n;
	return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	/* A flush ends each handshake flight: the bytes are queued
	   already, the send follows when the caller flushes @out. */
	return cmd == BIO_CTRL_FLUSH;
}

/* An IPv4 or IPv6 literal, not a name. */
static bool is_ip(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

/* --tls-resume: keep the slot's newest sessions (a TLS 1.3 server sends
   its tickets after the handshake, often two), the oldest dropped. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct rl_tls *t = SSL_get_app_data(ssl);

	if (t->nsess == RL_TLS_SESS) {
		SSL_SESSION_free(t->sess[0]);
		memmove(t->sess, t->sess + 1, sizeof(t->sess[0]) * --t->nsess);
	}
	t->sess[t->nsess++] = sess;
	return 1;
}

/* The session to resume, if any: a TLS 1.3 ticket once only (RFC 8446
   C.4; servers with single-use tickets refuse it again), a TLS 1.2
   session for as long as the server takes it. */
static int resume_session(struct rl_tls *t)
{
	SSL_SESSION *sess;
	int ret;

	if (!t->nsess)
		return 1;
	sess = t->sess[t->nsess - 1];
	ret = SSL_set_session(t->ssl, sess);
	if (SSL_SESSION_get_protocol_version(sess) >= TLS1_3_VERSION) {
		t->nsess--;
		SSL_SESSION_free(sess);		/* the SSL holds its own */
	}
	return ret;
}

/* OpenSSL's words for @e: its reason ("certificate verify failed"), or
   the whole code for an error without one (a system call's). */
static const char *reason(unsigned long e, char *buf, size_t cap)
{
	const char *r = ERR_reason_error_string(e);

	if (r)
		return r;
	ERR_error_string_n(e, buf, cap);
	return buf;
}

static int fail(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	snprintf(err, errlen, "%s%s%s", what, e ? ": " : "",
		 e ? reason(e, buf, sizeof(buf)) : "");
	ERR_clear_error();
	return -1;
}

int rl_tls_init(const struct rl_cfg *cfg, char *err, size_t errlen)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	const char *peer = cfg->tls_sni && *cfg->tls_sni ? cfg->tls_sni :
							   cfg->host;
	X509_VERIFY_PARAM *param;

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return fail(err, errlen, "SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Idle: OpenSSL's read and write buffers (about 17 KiB each) go
	   back to the heap whenever they are empty, so 10k idle connections
	   keep neither. Elsewhere they stay, sparing the tool a malloc() per
	   record: it should not be what limits a TLS echo or broadcast. */
	if (cfg->scenario == RL_SC_IDLE)
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Whole records, several at once, in one BIO read: fewer calls. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1))
		return fail(err, errlen, "ALPN");
	if (cfg->tls_ca) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1)
			return fail(err, errlen, cfg->tls_ca);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		/* The name the certificate must carry: --tls-sni's, else
		   --host's (an address: in an IP SAN). */
		param = SSL_CTX_get0_param(ctx);
		if (is_ip(peer) ?
		    X509_VERIFY_PARAM_set1_ip_asc(param, peer) != 1 :
		    X509_VERIFY_PARAM_set1_host(param, peer, 0) != 1)
			return fail(err, errlen, "peer name");
	} else {
		/* Load testing with throwaway certificates: take any. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	resume = cfg->tls_resume;
	if (resume) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
					       SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, new_session);
	}
	/* SNI: --tls-sni ("" for none), else --host when it is a name. */
	sni = cfg->tls_sni ? (*cfg->tls_sni ? cfg->tls_sni : NULL) :
	      is_ip(cfg->host) ? NULL : cfg->host;

	bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				  "ringcast-load io_uring");
	if (!bio_method || !BIO_meth_set_write_ex(bio_method, bio_write_ex) ||
	    !BIO_meth_set_read_ex(bio_method, bio_read_ex) ||
	    !BIO_meth_set_ctrl(bio_method, bio_ctrl))
		return fail(err, errlen, "BIO_meth_new");
	return 0;
}

void rl_tls_exit(void)
{
	SSL_CTX_free(ctx);
	ctx = NULL;
	BIO_meth_free(bio_method);
	bio_method = NULL;
}

struct rl_tls *rl_tls_new(void)
{
	return calloc(1, sizeof(struct rl_tls));
}

int rl_tls_open(struct rl_tls *t)
{
	BIO *bio;

	t->len = 0;
	t->in = NULL;
	t->in_len = 0;
	t->ssl = SSL_new(ctx);
	bio = BIO_new(bio_method);
	if (!t->ssl || !bio)
		goto fail;
	BIO_set_data(bio, t);
	BIO_set_init(bio, 1);
	SSL_set_bio(t->ssl, bio, bio);	/* takes the one reference */
	bio = NULL;
	SSL_set_app_data(t->ssl, t);
	SSL_set_connect_state(t->ssl);
	if (sni && SSL_set_tlsext_host_name(t->ssl, sni) != 1)
		goto fail;
	if (resume && resume_session(t) != 1)
		goto fail;
	return 0;
fail:
	BIO_free(bio);
	SSL_free(t->ssl);
	t->ssl = NULL;
	ERR_clear_error();
	return -ENOMEM;
}

void rl_tls_close(struct rl_tls *t)
{
	SSL_free(t->ssl);
	t->ssl = NULL;
	t->len = 0;
	free(t->retired);
	t->retired = NULL;
	t->pinned = NULL;
}

void rl_tls_free(struct rl_tls *t)
{
	if (!t)
		return;
	rl_tls_close(t);
	while (t->nsess)
		SSL_SESSION_free(t->sess[--t->nsess]);
	free(t->out);
	free(t);
}

int rl_tls_handshake(struct rl_tls *t)
{
	int r = SSL_do_handshake(t->ssl);

	if (r == 1)
		return RL_TLS_DONE;
	return SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ ?
	       RL_TLS_AGAIN : RL_TLS_ERROR;
}

long rl_tls_read(struct rl_tls *t, uint8_t *buf, size_t cap)
{
	size_t n;
	int r = SSL_read_ex(t->ssl, buf, cap, &n);

	if (r == 1)
		return (long)n;
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return RL_TLS_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return RL_TLS_CLOSED;
	default:
		return RL_TLS_ERROR;
	}
}

int rl_tls_write(struct rl_tls *t, const void *buf, size_t n)
{
	size_t w;

	if (!n)
		return 0;
	/* Our BIO takes everything, so the whole batch is encrypted now:
	   its records go out in one send. */
	return SSL_write_ex(t->ssl, buf, n, &w) == 1 && w == n ? 0 :
								 RL_TLS_ERROR;
}

void rl_tls_shutdown(struct rl_tls *t)
{
	/* Sends close_notify; what it returns tells nothing we need. */
	SSL_shutdown(t->ssl);
	ERR_clear_error();
}

bool rl_tls_resumed(const struct rl_tls *t)
{
	return SSL_session_reused(t->ssl) == 1;
}

const char *rl_tls_why(struct rl_tls *t, char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	long v = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
	char rbuf[256];
	const char *r = e ? reason(e, rbuf, sizeof(rbuf)) : NULL;

	if (v != X509_V_OK)
		snprintf(buf, cap, "%s: %s", r ? r : "certificate verify failed",
			 X509_verify_cert_error_string(v));
	else if (r)
		snprintf(buf, cap, "%s", r);
	else
		snprintf(buf, cap, "no reason queued by OpenSSL");
	ERR_clear_error();
	return buf;
}
