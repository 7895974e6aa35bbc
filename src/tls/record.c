/* SPDX-License-Identifier: MIT */
/* record.c -- TLS 1.3 records after the handshake, without the SSL object (RFC 8446 §5). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "runtime/alloc.h"
#include "runtime/conn.h"
#include "runtime/worker.h"
#include "simd/simd.h"
#include "tls/record.h"
#include "tls/tls.h"

/* RFC 8446 §5.1-5.2 */
#define HDR 5
#define TAG 16
#define PLAIN_MAX 16384			/* plaintext of one record */
#define CIPHER_MAX (PLAIN_MAX + 256)	/* its ciphertext, at most */
#define TYPE_ALERT 21
#define TYPE_HANDSHAKE 22
#define TYPE_APPDATA 23
#define HS_KEY_UPDATE 24

struct rc_tls_crypto {
	EVP_CIPHER *cipher[4];		/* by enum rc_tls_suite */
	EVP_CIPHER_CTX *ctx;		/* re-keyed per record */
	EVP_KDF *hkdf;
};

struct rc_tls_crypto *rc__tls_crypto_new(void)
{
	struct rc_tls_crypto *cr = calloc(1, sizeof(*cr));

	if (!cr)
		return NULL;
	cr->cipher[RC_TLS_AES_128_GCM_SHA256] =
		EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	cr->cipher[RC_TLS_AES_256_GCM_SHA384] =
		EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	cr->cipher[RC_TLS_CHACHA20_POLY1305_SHA256] =
		EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	cr->ctx = EVP_CIPHER_CTX_new();
	cr->hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!cr->ctx || !cr->hkdf) {
		rc__tls_crypto_free(cr);
		return NULL;
	}
	return cr;
}

void rc__tls_crypto_free(struct rc_tls_crypto *cr)
{
	if (!cr)
		return;
	for (int i = 0; i < 4; i++)
		EVP_CIPHER_free(cr->cipher[i]);
	EVP_CIPHER_CTX_free(cr->ctx);
	EVP_KDF_free(cr->hkdf);
	free(cr);
}

/* ---- keys ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void rc__tls_rl_keylog(struct rc_tls_rl *rl, const char *line)
{
	static const char srv[] = "SERVER_TRAFFIC_SECRET_0 ";
	static const char cli[] = "CLIENT_TRAFFIC_SECRET_0 ";
	struct rc_tls_dir *d;
	const char *hex;
	size_t n;

	if (!strncmp(line, srv, sizeof(srv) - 1))
		d = &rl->wr;
	else if (!strncmp(line, cli, sizeof(cli) - 1))
		d = &rl->rd;
	else
		return;
	/* "<label> <client random> <secret>", in hex */
	hex = strrchr(line, ' ');
	if (!hex)
		return;
	hex++;
	n = strlen(hex) / 2;
	if (n != 32 && n != 48)
		return;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return;
		d->secret[i] = (uint8_t)(hi << 4 | lo);
	}
	rl->secret_len = (uint8_t)n;
	if (d == &rl->wr)
		rl->have_wr = true;
	else
		rl->have_rd = true;
}

static const char *digest_of(uint8_t suite)
{
	return suite == RC_TLS_AES_256_GCM_SHA384 ? "SHA384" : "SHA256";
}

static size_t key_len(uint8_t suite)
{
	return suite == RC_TLS_AES_128_GCM_SHA256 ? 16 : 32;
}

/* HKDF-Expand-Label(secret, label, "", n) (RFC 8446 §7.1). */
static int expand_label(struct rc_tls_crypto *cr, uint8_t suite,
			const uint8_t *secret, size_t slen, const char *label,
			uint8_t *out, size_t n)
{
	uint8_t info[2 + 1 + 6 + 16 + 1];
	size_t ll = strlen(label), k = 0;
	OSSL_PARAM params[5];
	EVP_KDF_CTX *kctx;
	int ret;

	info[k++] = (uint8_t)(n >> 8);
	info[k++] = (uint8_t)n;
	info[k++] = (uint8_t)(6 + ll);
	memcpy(info + k, "tls13 ", 6);
	k += 6;
	memcpy(info + k, label, ll);
	k += ll;
	info[k++] = 0;			/* empty context */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE,
						     (char *)"EXPAND_ONLY", 0);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)digest_of(suite), 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)secret, slen);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						      info, k);
	params[4] = OSSL_PARAM_construct_end();
	kctx = EVP_KDF_CTX_new(cr->hkdf);
	if (!kctx)
		return -ENOMEM;
	ret = EVP_KDF_derive(kctx, out, n, params) == 1 ? 0 : -EINVAL;
	EVP_KDF_CTX_free(kctx);
	return ret;
}

static int derive(struct rc_tls_crypto *cr, struct rc_tls_rl *rl,
		  struct rc_tls_dir *d)
{
	if (expand_label(cr, rl->suite, d->secret, rl->secret_len, "key",
			 d->key, key_len(rl->suite)) ||
	    expand_label(cr, rl->suite, d->secret, rl->secret_len, "iv",
			 d->iv, sizeof(d->iv)))
		return -EINVAL;
	d->seq = 0;
	return 0;
}

static void kctx_drop(struct rc_tls_rl *rl, int dir)
{
	EVP_CIPHER_CTX_free(rl->kctx[dir]);
	rl->kctx[dir] = NULL;
}

/* KeyUpdate (§4.6.3, §7.2): the next traffic secret, and its keys. */
static int key_update(struct rc_tls_crypto *cr, struct rc_tls_rl *rl,
		      struct rc_tls_dir *d)
{
	uint8_t next[RC_TLS_SECRET_MAX];

	if (expand_label(cr, rl->suite, d->secret, rl->secret_len,
			 "traffic upd", next, rl->secret_len))
		return -EINVAL;
	memcpy(d->secret, next, rl->secret_len);
	/* The context keyed with the old key goes; the next record keys a
	   new one. */
	kctx_drop(rl, d == &rl->wr);
	return derive(cr, rl, d);
}

bool rc__tls_rl_take_over(struct rc_tls_rl *rl, struct rc_tls_crypto *cr,
			  struct ssl_st *ssl, uint64_t wr_seq)
{
	const SSL_CIPHER *ciph = SSL_get_current_cipher(ssl);
	uint8_t suite;

	if (!cr || SSL_version(ssl) != TLS1_3_VERSION || !ciph ||
	    !rl->have_rd || !rl->have_wr)
		return false;
	switch (SSL_CIPHER_get_id(ciph) & 0xffff) {
	case 0x1301:
		suite = RC_TLS_AES_128_GCM_SHA256;
		break;
	case 0x1302:
		suite = RC_TLS_AES_256_GCM_SHA384;
		break;
	case 0x1303:
		suite = RC_TLS_CHACHA20_POLY1305_SHA256;
		break;
	default:
		return false;
	}
	if (rc__tls_rl_start(rl, cr, suite))
		return false;
	/* The tickets OpenSSL sent at the end of the handshake were the
	   first records under the server's application secret. */
	rl->wr.seq = wr_seq;
	return true;
}

int rc__tls_rl_start(struct rc_tls_rl *rl, struct rc_tls_crypto *cr,
		     uint8_t suite)
{
	if (suite < RC_TLS_AES_128_GCM_SHA256 ||
	    suite > RC_TLS_CHACHA20_POLY1305_SHA256 || !cr->cipher[suite] ||
	    !rl->have_rd || !rl->have_wr ||
	    rl->secret_len != (suite == RC_TLS_AES_256_GCM_SHA384 ? 48 : 32))
		return -EINVAL;
	rl->suite = suite;
	if (derive(cr, rl, &rl->rd) || derive(cr, rl, &rl->wr)) {
		rl->suite = RC_TLS_SUITE_NONE;
		return -EINVAL;
	}
	return 0;
}

/* ---- the connections holding keyed contexts ---- */

#define NO_SLOT UINT32_MAX

static struct rc_tls_rl *rl_at(struct rc_worker *w, uint32_t slot)
{
	return &w->conns[slot].tls->rl;
}

static void live_link(struct rc_conn *c)
{
	struct rc_tls_worker *tw = &c->w->tlsw;
	struct rc_tls_rl *rl = &c->tls->rl;

	rl->live = true;
	rl->live_prev = NO_SLOT;
	rl->live_next = tw->live_head;
	if (tw->live_head != NO_SLOT)
		rl_at(c->w, tw->live_head)->live_prev = rc__conn_slot(c);
	tw->live_head = rc__conn_slot(c);
}

static void live_unlink(struct rc_conn *c)
{
	struct rc_tls_worker *tw = &c->w->tlsw;
	struct rc_tls_rl *rl = &c->tls->rl;

	if (!rl->live)
		return;
	if (rl->live_prev != NO_SLOT)
		rl_at(c->w, rl->live_prev)->live_next = rl->live_next;
	else
		tw->live_head = rl->live_next;
	if (rl->live_next != NO_SLOT)
		rl_at(c->w, rl->live_next)->live_prev = rl->live_prev;
	rl->live = false;
}

void rc__tls_rl_sweep(struct rc_worker *w)
{
	uint32_t slot = w->tlsw.live_head;

	while (slot != NO_SLOT) {
		struct rc_conn *c = &w->conns[slot];
		struct rc_tls_rl *rl = &c->tls->rl;

		slot = rl->live_next;
		if ((int32_t)(w->now_ms - rl->used_ms) < 1000)
			continue;
		kctx_drop(rl, 0);
		kctx_drop(rl, 1);
		live_unlink(c);
	}
}

void rc__tls_rl_free(struct rc_conn *c)
{
	struct rc_tls_rl *rl = &c->tls->rl;

	live_unlink(c);
	kctx_drop(rl, 0);
	kctx_drop(rl, 1);
	free(rl->part);
	/* The keys do not outlive the connection in freed memory. */
	OPENSSL_cleanse(rl, sizeof(*rl));
}

/* ---- records ---- */

/* The per-record nonce: the IV with the sequence number XORed into its
   last 8 bytes (§5.3). */
static void nonce_of(const struct rc_tls_dir *d, uint8_t nonce[12])
{
	memcpy(nonce, d->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

static struct rc_tls_crypto *crypto_of(struct rc_conn *c)
{
	return c->w->tlsw.crypto;
}

/*
 * Start a record in direction @dir (0 open, 1 seal) with @nonce: on the
 * connection's own context, keyed once and then given only the nonce; if
 * one cannot be had, on the worker's, keyed for this record. Returns the
 * context, or NULL.
 */
static EVP_CIPHER_CTX *record_start(struct rc_conn *c, int dir,
				    const uint8_t nonce[12])
{
	struct rc_tls_rl *rl = &c->tls->rl;
	struct rc_tls_crypto *cr = crypto_of(c);
	const uint8_t *key = dir ? rl->wr.key : rl->rd.key;
	EVP_CIPHER_CTX *x = rl->kctx[dir];

	rl->used_ms = c->w->now_ms;
	if (!x) {
		x = EVP_CIPHER_CTX_new();
		if (x && EVP_CipherInit_ex2(x, cr->cipher[rl->suite], key,
					    NULL, dir, NULL) == 1) {
			rl->kctx[dir] = x;
			if (!rl->live)
				live_link(c);
		} else {
			EVP_CIPHER_CTX_free(x);
			x = NULL;
		}
	}
	if (x)
		return EVP_CipherInit_ex2(x, NULL, NULL, nonce, dir, NULL) == 1 ?
		       x : NULL;
	return EVP_CipherInit_ex2(cr->ctx, cr->cipher[rl->suite], key, nonce,
				  dir, NULL) == 1 ? cr->ctx : NULL;
}

/* Open the record at @rec (header, then @n bytes of ciphertext and tag)
   in place. Returns the inner plaintext length, or -EBADMSG. */
static long open_record(struct rc_conn *c, uint8_t *rec, size_t n)
{
	struct rc_tls_rl *rl = &c->tls->rl;
	EVP_CIPHER_CTX *x;
	uint8_t nonce[12];
	int outl, fl;

	if (n < TAG + 1)
		return -EBADMSG;
	nonce_of(&rl->rd, nonce);
	x = record_start(c, 0, nonce);
	if (!x ||
	    EVP_DecryptUpdate(x, NULL, &outl, rec, HDR) != 1 ||
	    EVP_DecryptUpdate(x, rec + HDR, &outl, rec + HDR,
			      (int)(n - TAG)) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAG,
				rec + HDR + n - TAG) != 1 ||
	    EVP_DecryptFinal_ex(x, rec + HDR + outl, &fl) != 1)
		return -EBADMSG;
	rl->rd.seq++;
	return (long)(n - TAG);
}

/* Seal @n bytes of @in (content type @type) as one record at @out, which
   has room for HDR + n + 1 + TAG bytes. */
static int seal_record(struct rc_conn *c, uint8_t type, const uint8_t *in,
		       size_t n, uint8_t *out)
{
	struct rc_tls_rl *rl = &c->tls->rl;
	size_t len = n + 1 + TAG;
	EVP_CIPHER_CTX *x;
	uint8_t nonce[12];
	int outl, fl;

	out[0] = TYPE_APPDATA;		/* opaque_type */
	out[1] = 3;			/* legacy_record_version 0x0303 */
	out[2] = 3;
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	nonce_of(&rl->wr, nonce);
	x = record_start(c, 1, nonce);
	if (!x ||
	    EVP_EncryptUpdate(x, NULL, &outl, out, HDR) != 1 ||
	    EVP_EncryptUpdate(x, out + HDR, &outl, in, (int)n) != 1 ||
	    EVP_EncryptUpdate(x, out + HDR + n, &outl, &type, 1) != 1 ||
	    EVP_EncryptFinal_ex(x, out + HDR + n + 1, &fl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG,
				out + HDR + n + 1) != 1)
		return -EINVAL;
	rl->wr.seq++;
	return 0;
}

/* Queue one sealed record of @n bytes at @in into the wire queue. */
static int queue_record(struct rc_conn *c, uint8_t type, const uint8_t *in,
			size_t n)
{
	size_t len = HDR + n + 1 + TAG;
	uint8_t *p = rc__out_reserve(c, len);

	if (!p)
		return -ENOMEM;
	if (seal_record(c, type, in, n, p))
		return -EINVAL;
	return rc__out_commit_to(c, &c->tls->wire, len);
}

/* The TLS layer failed: counted, and the connection ends (no alert: a
   peer that sends records we cannot open gets nothing more). */
static void rl_fail(struct rc_conn *c)
{
	rc__conn_stat(c, RC_STAT_TLS_FAIL_PROTOCOL, 1);
	rc__tls_failed(c);
}

/* A handshake message after the handshake: only KeyUpdate (§4.6.3). */
static int post_handshake(struct rc_conn *c, const uint8_t *p, size_t n)
{
	struct rc_tls_rl *rl = &c->tls->rl;
	static const uint8_t ours[] = { HS_KEY_UPDATE, 0, 0, 1, 0 };

	if (n != 5 || p[0] != HS_KEY_UPDATE || p[1] || p[2] || p[3] != 1 ||
	    p[4] > 1)
		return -EPROTO;
	/* update_requested: our KeyUpdate goes out under the old keys,
	   before anything sealed from now on. */
	if (p[4] && (queue_record(c, TYPE_HANDSHAKE, ours, sizeof(ours)) ||
		     key_update(crypto_of(c), rl, &rl->wr)))
		return -EPROTO;
	return key_update(crypto_of(c), rl, &rl->rd);
}

/* Handle the complete records in @p[0..n); returns the bytes used (a
   partial record at the end is left), or -1 when the connection stopped
   taking input. */
static long records(struct rc_conn *c, uint8_t *p, size_t n)
{
	size_t used = 0;

	while (n - used >= HDR) {
		uint8_t *rec = p + used;
		size_t len = (size_t)rec[3] << 8 | rec[4];
		long pt;
		size_t k;

		if (rec[0] != TYPE_APPDATA || rec[1] != 3 || rec[2] != 3 ||
		    len > CIPHER_MAX) {
			rl_fail(c);
			return -1;
		}
		if (n - used < HDR + len)
			break;
		used += HDR + len;
		pt = open_record(c, rec, len);
		if (pt < 0) {
			rl_fail(c);
			return -1;
		}
		/* TLSInnerPlaintext: content, type, zero padding. */
		for (k = (size_t)pt; k && !rec[HDR + k - 1]; k--)
			;
		if (!k || k - 1 > PLAIN_MAX) {
			rl_fail(c);
			return -1;
		}
		switch (rec[HDR + k - 1]) {
		case TYPE_APPDATA:
			/* In place: writable, and the tag (and the buffer's
			   own padding) lie after it for vector readers. */
			if (k > 1)
				rc__conn_plain_input(c, rec + HDR, k - 1);
			break;
		case TYPE_ALERT:
			/* close_notify (or user_canceled): the peer's end,
			   as a FIN; any other alert is fatal anyway. */
			if (k - 1 == 2 && (rec[HDR + 1] == 0 ||
					   rec[HDR + 1] == 90)) {
				rc__conn_eof(c, 0);
				return -1;
			}
			rl_fail(c);
			return -1;
		case TYPE_HANDSHAKE:
			if (post_handshake(c, rec + HDR, k - 1)) {
				rl_fail(c);
				return -1;
			}
			break;
		default:
			rl_fail(c);
			return -1;
		}
		if (c->state == RC_CONN_DEAD || (c->flags & RC_CF_INPUT_BAD))
			return -1;
	}
	return (long)used;
}

/* Keep @n bytes of a record that continues in the next read. */
static int keep_part(struct rc_tls_rl *rl, const uint8_t *p, size_t n)
{
	size_t need = (size_t)rl->part_len + n;

	if (need > rl->part_cap) {
		/* A whole record, and padding for the vector readers of
		   its plaintext, opened in place here. */
		size_t cap = HDR + CIPHER_MAX;
		uint8_t *q;

		if (need > cap)
			return -EMSGSIZE;
		q = rc__realloc(rl->part, cap + RC_SIMD_PADDING);
		if (!q)
			return -ENOMEM;
		rl->part = q;
		rl->part_cap = (uint32_t)cap;
	}
	memmove(rl->part + rl->part_len, p, n);
	rl->part_len = (uint32_t)need;
	return 0;
}

static void drop_part(struct rc_tls_rl *rl)
{
	free(rl->part);
	rl->part = NULL;
	rl->part_len = rl->part_cap = 0;
}

void rc__tls_rl_input(struct rc_conn *c, uint8_t *buf, size_t n)
{
	struct rc_tls_rl *rl = &c->tls->rl;
	long used;

	while (rl->part_len && n) {
		/* Complete the split record first, from as few bytes of
		   @buf as it needs. */
		size_t have = rl->part_len, need;

		if (have < HDR) {
			need = HDR - have;
		} else {
			size_t len = (size_t)rl->part[3] << 8 | rl->part[4];

			need = HDR + len - have;
		}
		if (need > n)
			need = n;
		if (keep_part(rl, buf, need)) {
			rl_fail(c);
			return;
		}
		buf += need;
		n -= need;
		used = records(c, rl->part, rl->part_len);
		if (used < 0) {
			drop_part(rl);
			return;
		}
		if ((size_t)used == rl->part_len)
			drop_part(rl);
	}
	used = records(c, buf, n);
	if (used < 0)
		return;
	if ((size_t)used < n && keep_part(rl, buf + used, n - (size_t)used))
		rl_fail(c);
}

void rc__tls_rl_encrypt(struct rc_conn *c, size_t ahead)
{
	struct rc_tls_conn *t = c->tls;
	uint8_t *plain = c->w->tlsw.plain;

	while (t->wire.bytes < ahead && c->q.head) {
		/* Taken out first (it may release the write chunk the
		   plaintext was in), then sealed from there into the new
		   record: one copy, by the cipher. */
		size_t n = rc__out_take(c, plain, PLAIN_MAX);

		if (!n)
			break;
		if (queue_record(c, TYPE_APPDATA, plain, n)) {
			t->failed = true;
			rc__conn_oom(c);
			return;
		}
	}
}

void rc__tls_rl_close_notify(struct rc_conn *c)
{
	static const uint8_t close_notify[] = { 1, 0 };	/* warning, 0 */

	if (queue_record(c, TYPE_ALERT, close_notify, sizeof(close_notify)))
		c->tls->failed = true;
}
