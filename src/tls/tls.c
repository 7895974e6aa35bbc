/* SPDX-License-Identifier: MIT */
/* tls.c -- TLS on the ring: OpenSSL on custom BIOs, records in the output queue. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ringcast.h"
#include "runtime/alloc.h"
#include "runtime/conn.h"
#include "runtime/server.h"
#include "runtime/worker.h"
#include "simd/simd.h"
#include "tls/tls.h"

/* Plaintext of one record, the most SSL_read() returns at once. */
#define RECORD 16384
/* Records made ahead of the socket: more waits as plaintext (and queued
   shared messages stay shared). */
#define WIRE_AHEAD (64 * 1024)
/* Ciphertext a connection may send before its handshake had its turn: a
   ClientHello is at most one record, a few KB in practice. */
#define HELD_MAX (64 * 1024)
#define NO_SLOT UINT32_MAX
/* rc_conn_tls_subject(): the longest subject returned. */
#define SUBJECT_MAX 1024

/*
 * A set of certificates in force: one SSL_CTX per certificate/key pair,
 * the first the default, the others picked by SNI. A reload makes a new
 * set; an old one lives on while connections made from it do (each SSL
 * holds a reference, as the SNI callback may switch it to any context of
 * its set).
 */
struct rc_tls_certs {
	_Atomic int refs;
	size_t n;
	SSL_CTX *ctx[];
};

static int ssl_set_idx = -1;		/* SSL ex_data: its rc_tls_certs */
static BIO_METHOD *ring_bio;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- the BIOs: the ring's bytes in, records out ---- */

static int bio_read(BIO *b, char *out, int len)
{
	struct rc_tls_worker *tw = BIO_get_data(b);
	size_t n = tw->in_len < (size_t)len ? tw->in_len : (size_t)len;

	BIO_clear_retry_flags(b);
	if (!n) {
		BIO_set_retry_read(b);
		return -1;
	}
	memcpy(out, tw->in, n);
	tw->in += n;
	tw->in_len -= n;
	return (int)n;
}

/* Count the records in bytes OpenSSL writes (headers may be split). */
static void count_records(struct rc_tls_conn *t, const uint8_t *p, size_t n)
{
	while (n) {
		if (t->cnt_skip) {
			size_t k = n < t->cnt_skip ? n : t->cnt_skip;

			t->cnt_skip -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		t->cnt_hdr[t->cnt_have++] = *p++;
		n--;
		if (t->cnt_have < 5)
			continue;
		t->cnt_have = 0;
		t->cnt_skip = (uint32_t)t->cnt_hdr[3] << 8 | t->cnt_hdr[4];
		t->cnt_records++;
	}
}

static int bio_write(BIO *b, const char *in, int len)
{
	struct rc_tls_worker *tw = BIO_get_data(b);
	struct rc_conn *c = tw->cur;
	uint8_t *p;

	BIO_clear_retry_flags(b);
	if (!c || len < 0)
		return -1;
	if (c->tls->counting)
		count_records(c->tls, (const uint8_t *)in, (size_t)len);
	p = rc__out_reserve(c, (size_t)len);
	if (!p)
		return -1;
	memcpy(p, in, (size_t)len);
	if (rc__out_commit_to(c, &c->tls->wire, (size_t)len))
		return -1;
	return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	/* Everything written is queued at once: a flush has nothing to do. */
	return cmd == BIO_CTRL_FLUSH;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void init_once(void)
{
	ssl_set_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ring_bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				"ringcast ring");
	if (!ring_bio)
		return;
	BIO_meth_set_read(ring_bio, bio_read);
	BIO_meth_set_write(ring_bio, bio_write);
	BIO_meth_set_ctrl(ring_bio, bio_ctrl);
	BIO_meth_set_create(ring_bio, bio_create);
}

/* ---- certificates ---- */

static int why_openssl(char *why, size_t cap, const char *what,
		       const char *file)
{
	/* The first error is the cause ("No such file or directory"), the
	   last one what OpenSSL made of it ("system lib"). */
	unsigned long first = ERR_peek_error(), last = ERR_peek_last_error();
	char a[256], b[256];

	ERR_error_string_n(first, a, sizeof(a));
	ERR_error_string_n(last, b, sizeof(b));
	if (why && cap) {
		if (!first)
			snprintf(why, cap, "%s %s: failed", what,
				 file ? file : "");
		else if (first == last)
			snprintf(why, cap, "%s %s: %s", what, file ? file : "",
				 a);
		else
			snprintf(why, cap, "%s %s: %s (%s)", what,
				 file ? file : "", a, b);
	}
	ERR_clear_error();
	return -EINVAL;
}

static void certs_put(struct rc_tls_certs *set)
{
	if (!set || atomic_fetch_sub(&set->refs, 1) != 1)
		return;
	for (size_t i = 0; i < set->n; i++)
		SSL_CTX_free(set->ctx[i]);
	free(set);
}

/* SNI: the context whose certificate names the host asked for. No name
   (clients connecting by address) keeps the default; a name none of ours
   matches is refused, as a client would refuse our default anyway. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct rc_tls_certs *set = SSL_get_ex_data(ssl, ssl_set_idx);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct rc_tls_conn *t = SSL_get_app_data(ssl);

	(void)arg;
	if (!name || !set)
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i < set->n; i++) {
		X509 *x = SSL_CTX_get0_certificate(set->ctx[i]);

		if (x && X509_check_host(x, name, 0, 0, NULL) == 1) {
			if (i)
				SSL_set_SSL_CTX(ssl, set->ctx[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	if (t)
		t->fail = RC_STAT_TLS_FAIL_SNI;
	*alert = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* ALPN: HTTP/1.1 (the Upgrade lives there); a client that offers only
   other protocols (h2) gets no_application_protocol (RFC 7301 §3.2). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "http/1.1";
	struct rc_tls_conn *t = SSL_get_app_data(ssl);

	(void)arg;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];

		if (i + 1 + n > inlen)
			break;
		if (n == sizeof(h11) - 1 && !memcmp(in + i + 1, h11, n)) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	if (t)
		t->fail = RC_STAT_TLS_FAIL_ALPN;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* The application traffic secrets, for our own record layer. */
static void on_keylog(const SSL *ssl, const char *line)
{
	struct rc_tls_conn *t = SSL_get_app_data(ssl);

	if (t && !t->keep_ssl)
		rc__tls_rl_keylog(&t->rl, line);
}

static SSL_CTX *ctx_new(const char *cert, const char *key, const char *ca,
			char *why, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		why_openssl(why, cap, "SSL_CTX_new", NULL);
		return NULL;
	}
	/* TLS 1.2 and 1.3 with OpenSSL's default ciphers; no
	   renegotiation, no compression. Tickets (stateless) resume
	   sessions; no server-side cache to grow. Record buffers are
	   released while a connection is idle. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
	SSL_CTX_set_keylog_callback(ctx, on_keylog);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		why_openssl(why, cap, "certificate", cert);
		goto out_free;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		why_openssl(why, cap, "private key", key);
		goto out_free;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		why_openssl(why, cap, "key does not match certificate", cert);
		goto out_free;
	}
	if (ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);

		if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			why_openssl(why, cap, "client CA", ca);
			goto out_free;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
				   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
out_free:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Load every configured pair; NULL (and @why) if any fails. */
static struct rc_tls_certs *certs_load(char *const *certs, char *const *keys,
				       size_t n, const char *ca, char *why,
				       size_t cap)
{
	struct rc_tls_certs *set;

	pthread_once(&once, init_once);
	if (!ring_bio || ssl_set_idx < 0) {
		why_openssl(why, cap, "OpenSSL set-up", NULL);
		return NULL;
	}
	set = calloc(1, sizeof(*set) + n * sizeof(set->ctx[0]));
	if (!set) {
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	atomic_init(&set->refs, 1);
	for (; set->n < n; set->n++) {
		set->ctx[set->n] = ctx_new(certs[set->n], keys[set->n], ca, why,
					   cap);
		if (!set->ctx[set->n]) {
			certs_put(set);
			return NULL;
		}
	}
	return set;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int rc__tls_init(struct rc_tls *t, const struct rc_config *cfg, char *why,
		 size_t cap)
{
	size_t n = cfg->ntls_certs;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	if (!n)
		return 0;
	t->cert_files = calloc(n, sizeof(char *));
	t->key_files = calloc(n, sizeof(char *));
	if (!t->cert_files || !t->key_files)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!cfg->tls_certs[i].cert_file || !cfg->tls_certs[i].key_file) {
			snprintf(why, cap, "TLS certificate %zu: a file is missing",
				 i);
			return -EINVAL;
		}
		t->cert_files[i] = strdup(cfg->tls_certs[i].cert_file);
		t->key_files[i] = strdup(cfg->tls_certs[i].key_file);
		t->ncerts++;
		if (!t->cert_files[i] || !t->key_files[i])
			return -ENOMEM;
	}
	t->client_ca = dup_or_null(cfg->tls_client_ca);
	if (cfg->tls_client_ca && !t->client_ca)
		return -ENOMEM;
	t->cur = certs_load(t->cert_files, t->key_files, n, t->client_ca, why,
			    cap);
	return t->cur ? 0 : -EINVAL;
}

int rc__tls_reload(struct rc_tls *t, char *why, size_t cap)
{
	struct rc_tls_certs *set, *old;

	if (!t->ncerts) {
		snprintf(why, cap, "TLS is not configured");
		return -ENOTSUP;
	}
	set = certs_load(t->cert_files, t->key_files, t->ncerts, t->client_ca,
			 why, cap);
	if (!set) {
		atomic_fetch_add(&t->reload_failures, 1);
		return -EINVAL;
	}
	pthread_mutex_lock(&t->lock);
	old = t->cur;
	t->cur = set;
	pthread_mutex_unlock(&t->lock);
	/* Connections made from the old set keep it alive. */
	certs_put(old);
	atomic_fetch_add(&t->reloads, 1);
	return 0;
}

void rc__tls_free(struct rc_tls *t)
{
	certs_put(t->cur);
	for (size_t i = 0; i < t->ncerts; i++) {
		free(t->cert_files[i]);
		free(t->key_files[i]);
	}
	free(t->cert_files);
	free(t->key_files);
	free(t->client_ca);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

/* ---- a worker ---- */

int rc__tls_worker_init(struct rc_tls_worker *tw, struct rc_tls *t)
{
	memset(tw, 0, sizeof(*tw));
	tw->tls = t;
	tw->wait_head = tw->wait_tail = NO_SLOT;
	tw->live_head = NO_SLOT;
	if (!t->ncerts)
		return 0;
	pthread_once(&once, init_once);
	tw->rbio = ring_bio ? BIO_new(ring_bio) : NULL;
	tw->wbio = ring_bio ? BIO_new(ring_bio) : NULL;
	/* Padded: the WebSocket path's vector kernels read past the end. */
	tw->plain = malloc(RECORD + RC_SIMD_PADDING);
	tw->subject = malloc(SUBJECT_MAX);
	tw->crypto = rc__tls_crypto_new();
	if (!tw->rbio || !tw->wbio || !tw->plain || !tw->subject ||
	    !tw->crypto)
		return -ENOMEM;
	BIO_set_data(tw->rbio, tw);
	BIO_set_data(tw->wbio, tw);
	return 0;
}

void rc__tls_worker_free(struct rc_tls_worker *tw)
{
	rc__tls_crypto_free(tw->crypto);
	BIO_free(tw->rbio);
	BIO_free(tw->wbio);
	free(tw->plain);
	free(tw->subject);
	memset(tw, 0, sizeof(*tw));
}

/* ---- the wait list: handshakes over this turn's budget ---- */

static struct rc_tls_worker *tw_of(struct rc_conn *c)
{
	return &c->w->tlsw;
}

static void wait_push(struct rc_conn *c)
{
	struct rc_tls_worker *tw = tw_of(c);
	struct rc_tls_conn *t = c->tls;

	t->waiting = true;
	t->wait_next = NO_SLOT;
	t->wait_prev = tw->wait_tail;
	if (tw->wait_tail != NO_SLOT)
		c->w->conns[tw->wait_tail].tls->wait_next = rc__conn_slot(c);
	else
		tw->wait_head = rc__conn_slot(c);
	tw->wait_tail = rc__conn_slot(c);
}

static void wait_unlink(struct rc_conn *c)
{
	struct rc_tls_worker *tw = tw_of(c);
	struct rc_tls_conn *t = c->tls;

	if (!t->waiting)
		return;
	if (t->wait_prev != NO_SLOT)
		c->w->conns[t->wait_prev].tls->wait_next = t->wait_next;
	else
		tw->wait_head = t->wait_next;
	if (t->wait_next != NO_SLOT)
		c->w->conns[t->wait_next].tls->wait_prev = t->wait_prev;
	else
		tw->wait_tail = t->wait_prev;
	t->waiting = false;
}

/* Keep ciphertext for later (a handshake waiting for its turn). */
static int hold(struct rc_conn *c, const uint8_t *buf, size_t n)
{
	struct rc_tls_conn *t = c->tls;
	size_t need = (size_t)t->held_len + n;

	if (need > HELD_MAX)
		return -EMSGSIZE;
	if (need > t->held_cap) {
		size_t cap = need < 4096 ? 4096 : need * 2;
		uint8_t *p;

		if (cap > HELD_MAX)
			cap = HELD_MAX;
		p = rc__realloc(t->held, cap);
		if (!p)
			return -ENOMEM;
		t->held = p;
		t->held_cap = (uint32_t)cap;
	}
	memcpy(t->held + t->held_len, buf, n);
	t->held_len = (uint32_t)need;
	return 0;
}

static void drop_held(struct rc_tls_conn *t)
{
	free(t->held);
	t->held = NULL;
	t->held_len = t->held_cap = 0;
}

/* ---- a connection ---- */

int rc__tls_conn_new(struct rc_conn *c)
{
	struct rc_tls_conn *t = rc__malloc(sizeof(*t));

	if (!t)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	t->wait_prev = t->wait_next = NO_SLOT;
	t->keep_ssl = tw_of(c)->tls->client_ca != NULL;
	c->tls = t;
	return 0;
}

/* The connection's SSL, made when its handshake gets its turn (not at
   accept: SSL_new clears 8 KB, which a burst of accepts would otherwise
   do all in one loop turn). 0 or -ENOMEM. */
static int ssl_new(struct rc_conn *c)
{
	struct rc_tls_worker *tw = tw_of(c);
	struct rc_tls *tl = tw->tls;
	struct rc_tls_conn *t = c->tls;
	struct rc_tls_certs *set;

	pthread_mutex_lock(&tl->lock);
	set = tl->cur;
	atomic_fetch_add(&set->refs, 1);
	pthread_mutex_unlock(&tl->lock);
	t->ssl = SSL_new(set->ctx[0]);
	if (!t->ssl) {
		ERR_clear_error();
		certs_put(set);
		return -ENOMEM;
	}
	SSL_set_ex_data(t->ssl, ssl_set_idx, set);
	SSL_set_app_data(t->ssl, t);
	/* The worker's BIOs, shared by all its connections: each SSL holds
	   a reference to each. */
	BIO_up_ref(tw->rbio);
	BIO_up_ref(tw->wbio);
	SSL_set_bio(t->ssl, tw->rbio, tw->wbio);
	SSL_set_accept_state(t->ssl);
	return 0;
}

void rc__tls_conn_free(struct rc_conn *c)
{
	struct rc_tls_conn *t = c->tls;
	struct rc_tls_certs *set;

	if (!t)
		return;
	wait_unlink(c);
	drop_held(t);
	if (t->ssl) {
		set = SSL_get_ex_data(t->ssl, ssl_set_idx);
		SSL_free(t->ssl);
		certs_put(set);
	}
	rc__tls_rl_free(c);
	free(t);
	c->tls = NULL;
}

/* What a failed TLS call says about the peer, as a counter. */
static enum rc_stat failure_of(struct rc_tls_conn *t)
{
	unsigned long e = ERR_peek_last_error();

	if (t->fail)
		return (enum rc_stat)t->fail;
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return RC_STAT_TLS_FAIL_OTHER;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return RC_STAT_TLS_FAIL_VERSION;
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
	case SSL_R_NO_CERTIFICATES_RETURNED:
		return RC_STAT_TLS_FAIL_CERT;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
		return RC_STAT_TLS_FAIL_OTHER;
	default:
		return RC_STAT_TLS_FAIL_PROTOCOL;
	}
}

/* The TLS layer failed (bad record, refused handshake): whatever alert
   OpenSSL wrote goes out, then the connection ends. Counted by reason. */
static void fail(struct rc_conn *c)
{
	struct rc_tls_conn *t = c->tls;

	rc__conn_stat(c, failure_of(t), 1);
	ERR_clear_error();
	rc__tls_failed(c);
}

/* TLS 1.3, handshake done: our record layer takes over and the SSL goes
   (15 KB less per connection). */
static bool take_over(struct rc_conn *c)
{
	struct rc_tls_conn *t = c->tls;
	struct rc_tls_certs *set;

	/* Only the tickets were written in this last call. */
	if (!rc__tls_rl_take_over(&t->rl, tw_of(c)->crypto, t->ssl,
				  t->cnt_records))
		return false;
	set = SSL_get_ex_data(t->ssl, ssl_set_idx);
	SSL_free(t->ssl);
	certs_put(set);
	t->ssl = NULL;
	ERR_clear_error();
	return true;
}

void rc__tls_failed(struct rc_conn *c)
{
	c->tls->failed = true;
	c->flags |= RC_CF_INPUT_BAD;
	/* Plaintext already queued (a response to a request in the same
	   read) can never be sent now: drop it, so that the records that
	   are (the alert) flush and the connection ends. */
	rc__out_drop_plain(c);
	if (c->state != RC_CONN_DEAD)
		rc__conn_close_after_flush(c);
}

/* The server's first flight (ServerHello to Finished) leaves at once,
   not at the end of a turn that may run 15 more key exchanges (~0.2 ms
   each): the client's half of the handshake overlaps ours. One submit
   per full handshake, <1% of its cost; measured in the wss-handshake
   row (bench/results/2026-12-05-issue11-tls.md). */
static void send_now(struct rc_conn *c)
{
	if (c->state == RC_CONN_DEAD)
		return;
	rc__out_kick(c);
	rc__ring_submit(&c->w->ring);
}

/* Run the handshake and read records from @buf[0..n). */
static void feed(struct rc_conn *c, const uint8_t *buf, size_t n)
{
	struct rc_tls_worker *tw = tw_of(c);
	struct rc_tls_conn *t = c->tls;
	struct rc_conn *prev = tw->cur;
	int r;

	if (!t->ssl && ssl_new(c)) {
		rc__conn_oom(c);
		return;
	}
	tw->in = buf;
	tw->in_len = n;
	tw->cur = c;
	if (!t->open) {
		bool kx = !t->started;

		if (kx) {
			t->started = true;
			if (tw->budget)
				tw->budget--;
		}
		t->counting = true;
		t->cnt_have = 0;
		t->cnt_skip = 0;
		t->cnt_records = 0;
		r = SSL_do_handshake(t->ssl);
		t->counting = false;
		if (r != 1) {
			if (SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ)
				fail(c);
			else if (kx)
				send_now(c);
			goto out;
		}
		t->open = true;
		rc__conn_stat(c, RC_STAT_TLS_HANDSHAKES, 1);
		if (!t->keep_ssl && take_over(c))
			goto out_records;
	}
	while (c->state != RC_CONN_DEAD && !(c->flags & RC_CF_INPUT_BAD)) {
		r = SSL_read(t->ssl, tw->plain, RECORD);
		if (r > 0) {
			/* One record's plaintext, writable and padded, into
			   the HTTP or WebSocket part like a read. */
			rc__conn_plain_input(c, tw->plain, (size_t)r);
			continue;
		}
		switch (SSL_get_error(t->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_ZERO_RETURN:
			/* close_notify: the peer's end, as a FIN. */
			ERR_clear_error();
			rc__conn_eof(c, 0);
			break;
		default:
			fail(c);
			break;
		}
		break;
	}
out:
	/* Bytes OpenSSL did not want (after a failure) are dropped. */
	tw->in = NULL;
	tw->in_len = 0;
	tw->cur = prev;
	return;
out_records:
	{
		/* What came after the client's Finished is ours to open. The
		   buffer is writable: the receive buffer, or held bytes. */
		uint8_t *rest = (uint8_t *)tw->in;
		size_t rn = tw->in_len;

		tw->in = NULL;
		tw->in_len = 0;
		tw->cur = prev;
		if (rn)
			rc__tls_rl_input(c, rest, rn);
	}
}

void rc__tls_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	struct rc_tls_worker *tw = tw_of(c);
	struct rc_tls_conn *t = c->tls;

	if (t->failed)
		return;
	if (t->rl.suite) {
		rc__tls_rl_input(c, buf, n);
		return;
	}
	/* A handshake that waits for its turn, or whose key exchange would
	   pass this turn's budget: keep its bytes, in order. */
	if (t->waiting || (!t->started && !tw->budget)) {
		if (hold(c, buf, n)) {
			rc__conn_stat(c, RC_STAT_TLS_FAIL_PROTOCOL, 1);
			t->failed = true;
			rc__conn_kill(c, RC_CLOSE_ABNORMAL);
			return;
		}
		if (!t->waiting)
			wait_push(c);
		return;
	}
	feed(c, buf, n);
}

void rc__tls_turn(struct rc_worker *w)
{
	struct rc_tls_worker *tw = &w->tlsw;

	tw->budget = RC_TLS_HANDSHAKES_PER_TURN;
	while (tw->budget && tw->wait_head != NO_SLOT) {
		struct rc_conn *c = &w->conns[tw->wait_head];
		struct rc_tls_conn *t = c->tls;
		uint8_t *held = t->held;
		uint32_t len = t->held_len;

		wait_unlink(c);
		t->held = NULL;
		t->held_len = t->held_cap = 0;
		if (c->state != RC_CONN_DEAD && !t->failed) {
			feed(c, held, len);
			rc__conn_check_backpressure(c);
		}
		free(held);
	}
}

void rc__tls_encrypt(struct rc_conn *c)
{
	struct rc_tls_worker *tw = tw_of(c);
	struct rc_tls_conn *t = c->tls;
	struct rc_conn *prev = tw->cur;

	if (!t->open || t->failed || t->notify_sent)
		return;
	if (t->rl.suite) {
		rc__tls_rl_encrypt(c, WIRE_AHEAD);
		return;
	}
	tw->cur = c;
	while (t->wire.bytes < WIRE_AHEAD && c->q.head) {
		size_t n = rc__out_take(c, tw->plain, RECORD);

		if (!n)
			break;
		/* Our BIO takes every record at once (or fails on memory):
		   no partial writes, no retries. */
		if (SSL_write(t->ssl, tw->plain, (int)n) != (int)n) {
			ERR_clear_error();
			t->failed = true;
			rc__conn_oom(c);
			break;
		}
	}
	tw->cur = prev;
}

bool rc__tls_close_notify(struct rc_conn *c)
{
	struct rc_tls_worker *tw = tw_of(c);
	struct rc_tls_conn *t = c->tls;
	struct rc_conn *prev = tw->cur;

	if (!t->open || t->failed || t->notify_sent)
		return false;
	t->notify_sent = true;
	if (t->rl.suite) {
		rc__tls_rl_close_notify(c);
		return t->wire.head != NULL;
	}
	tw->cur = c;
	SSL_shutdown(t->ssl);
	ERR_clear_error();
	tw->cur = prev;
	return t->wire.head != NULL;
}

void rc__tls_unfinished(struct rc_conn *c, bool timeout)
{
	struct rc_tls_conn *t = c->tls;

	if (!t || t->open || t->failed)
		return;
	t->failed = true;
	rc__conn_stat(c, timeout ? RC_STAT_TLS_FAIL_TIMEOUT :
		      RC_STAT_TLS_FAIL_EOF, 1);
}

/* ---- public API ---- */

bool rc_conn_is_tls(const struct rc_conn *c)
{
	return c && c->tls;
}

const char *rc_conn_tls_subject(const struct rc_conn *c)
{
	struct rc_tls_worker *tw;
	X509 *x;
	BIO *mem;
	int n;

	if (!c || !c->tls || !c->tls->open || !c->tls->ssl)
		return NULL;
	x = SSL_get0_peer_certificate(c->tls->ssl);
	if (!x || SSL_get_verify_result(c->tls->ssl) != X509_V_OK)
		return NULL;
	tw = tw_of((struct rc_conn *)c);
	mem = BIO_new(BIO_s_mem());
	if (!mem)
		return NULL;
	X509_NAME_print_ex(mem, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	n = BIO_read(mem, tw->subject, SUBJECT_MAX - 1);
	BIO_free(mem);
	ERR_clear_error();
	if (n < 0)
		n = 0;
	tw->subject[n] = 0;
	return tw->subject;
}

int rc_tls_check(const struct rc_config *cfg, char *why, size_t cap)
{
	struct rc_tls t;
	int ret;

	if (!cfg)
		return -EINVAL;
	ret = rc__tls_init(&t, cfg, why, cap);
	rc__tls_free(&t);
	return ret;
}
