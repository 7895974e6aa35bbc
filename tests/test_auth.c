/* SPDX-License-Identifier: MIT */
/*
 * test_auth.c -- src/hub/auth.c: JWTs signed here with OpenSSL (HMAC, an
 * RSA-2048 key and an EC P-256 key made at start, public halves written as
 * PEM to a mkdtemp() directory) and encoded with OpenSSL's base64, so the
 * verifier's own decoder and DER encoder are checked against another's.
 * Valid tokens, each way one can be wrong, HS/RS confusion, truncations
 * against a PROT_NONE page, permissions, and verifies from several threads.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "hub/auth.h"

/* The clock every test verifies at. */
#define NOW 1700000000LL

/* Names the error on failure, not just its number. */
#define assert_err(got, want) \
	assert_string_equal(hub_auth_err_str(got), hub_auth_err_str(want))

static const char secret[] = "a secret of thirty-two bytes....";

static EVP_PKEY *rsa_key, *ec_key;
static char dir[64], rsa_pem[96], ec_pem[96];
static char *rsa_pem_text, *ec_pem_text;	/* the public PEMs' contents */

/* Verifiers: the secret alone, a key alone, or both. */
static struct hub_auth *a_hs, *a_rsa, *a_ec, *a_hs_rsa, *a_hs_ec;

/* ---- minting ---- */

/* Unpadded base64url through OpenSSL's (padded, standard) encoder. */
static char *b64url(const void *p, size_t n)
{
	char *s = malloc(4 * (n / 3 + 1) + 1);
	int len;

	assert_non_null(s);
	len = EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	while (len > 0 && s[len - 1] == '=')
		len--;
	s[len] = '\0';
	for (int i = 0; i < len; i++)
		s[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	return s;
}

static char *cat(const char *a, const char *b, const char *c)
{
	char *s;

	assert_true(asprintf(&s, "%s%s%s", a, b, c) > 0);
	return s;
}

enum signer {
	S_HS,		/* HMAC-SHA256 with secret */
	S_RS,		/* RSA PKCS #1 v1.5 with SHA-256 */
	S_ES,		/* ECDSA P-256, JWS form (r || s) */
	S_ES_DER,	/* ECDSA P-256 as OpenSSL gives it (DER) */
	S_HS_RSA_PEM,	/* HMAC with the RSA public PEM text as the secret */
	S_HS_EC_PEM,	/* HMAC with the EC public PEM text as the secret */
	S_EMPTY,	/* no signature at all */
};

/* Sign @in with the pkey; DER ECDSA converted to r || s unless @der. */
static size_t pkey_sign(EVP_PKEY *k, const char *in, uint8_t *sig, bool der)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[1024];
	const uint8_t *p = buf;
	size_t n = sizeof(buf);
	ECDSA_SIG *es;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, buf, &n, (const uint8_t *)in,
					strlen(in)), 1);
	EVP_MD_CTX_free(ctx);
	if (der || !EVP_PKEY_is_a(k, "EC")) {
		memcpy(sig, buf, n);
		return n;
	}
	es = d2i_ECDSA_SIG(NULL, &p, (long)n);
	assert_non_null(es);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32), 32);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32), 32);
	ECDSA_SIG_free(es);
	return 64;
}

static size_t hmac(const void *key, size_t klen, const char *in, uint8_t *sig)
{
	size_t n = 0;

	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, klen,
				  (const uint8_t *)in, strlen(in), sig, 32, &n));
	assert_int_equal(n, 32);
	return n;
}

#define FLIP_SIG 1u	/* flip a bit of the signature */
#define FLIP_PAY 2u	/* sign, then flip a bit of the payload */
#define LONG_SIG 4u	/* one byte more after the signature */
#define SHORT_SIG 8u	/* the signature's last byte left out */
#define EXTRA_B64 16u	/* one more base64 character after the payload's,
			   signed as sent */

/* The last signature mint_flags() made, as bytes. */
static uint8_t last_sig[1024];
static size_t last_sn;

/* A compact JWS of header @hdr (NULL: {"alg":<the signer's>,"typ":"JWT"})
   and payload @pay, signed by @s. Returns a malloc'd string. */
static char *mint_flags(enum signer s, const char *hdr, const char *pay,
			unsigned flags)
{
	static const char *const algs[] = {
		"HS256", "RS256", "ES256", "ES256", "HS256", "HS256", "none",
	};
	char defhdr[64], *h, *p, *in, *sg, *tok;
	uint8_t sig[1024];
	size_t sn = 0;

	if (!hdr) {
		snprintf(defhdr, sizeof(defhdr),
			 "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[s]);
		hdr = defhdr;
	}
	h = b64url(hdr, strlen(hdr));
	p = b64url(pay, strlen(pay));
	if (flags & EXTRA_B64) {
		char *q = cat(p, "A", "");

		free(p);
		p = q;
	}
	in = cat(h, ".", p);
	switch (s) {
	case S_HS:
		sn = hmac(secret, strlen(secret), in, sig);
		break;
	case S_RS:
		sn = pkey_sign(rsa_key, in, sig, false);
		break;
	case S_ES:
	case S_ES_DER:
		sn = pkey_sign(ec_key, in, sig, s == S_ES_DER);
		break;
	case S_HS_RSA_PEM:
		sn = hmac(rsa_pem_text, strlen(rsa_pem_text), in, sig);
		break;
	case S_HS_EC_PEM:
		sn = hmac(ec_pem_text, strlen(ec_pem_text), in, sig);
		break;
	case S_EMPTY:
		break;
	}
	memcpy(last_sig, sig, sn);
	last_sn = sn;
	if (flags & FLIP_SIG)
		sig[sn / 2] ^= 0x10;
	if (flags & LONG_SIG)
		sig[sn++] = 0;
	if (flags & SHORT_SIG)
		sn--;
	if (flags & FLIP_PAY) {
		char *q = strdup(pay);

		assert_non_null(q);
		q[strlen(q) / 2] ^= 0x01;
		free(p);
		p = b64url(q, strlen(q));
		free(q);
		free(in);
		in = cat(h, ".", p);
	}
	sg = b64url(sig, sn);
	tok = cat(in, ".", sg);
	free(h);
	free(p);
	free(in);
	free(sg);
	return tok;
}

static char *mint(enum signer s, const char *hdr, const char *pay)
{
	return mint_flags(s, hdr, pay, 0);
}

/* A payload from a format; malloc'd. */
static char *claims(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *claims(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

/* @n copies of @c; malloc'd. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Verify @tok at NOW and free it (and the claims). */
static enum hub_auth_err check(const struct hub_auth *a, char *tok)
{
	struct hub_token t;
	enum hub_auth_err e = hub_auth_verify(a, tok, strlen(tok), NOW, &t);

	if (e != HUB_AUTH_OK) {
		/* an error leaves the token zeroed */
		assert_null(t.sub);
		assert_null(t.mem);
		assert_null(t.rooms);
		assert_null(t.listen);
		assert_int_equal(t.nrooms + t.nlisten, 0);
	}
	hub_token_clear(&t);
	free(tok);
	return e;
}

/* Sign @pay with @s and verify it with @a. */
static enum hub_auth_err check_claims(const struct hub_auth *a,
				      enum signer s, char *pay)
{
	enum hub_auth_err e = check(a, mint(s, NULL, pay));

	free(pay);
	return e;
}

/* Verify with the secret alone a payload made from a format. */
#define HS_CLAIMS(...) check_claims(a_hs, S_HS, claims(__VA_ARGS__))

/* ---- setup ---- */

static char *write_pub(EVP_PKEY *k, const char *path)
{
	BIO *b = BIO_new_file(path, "w");
	FILE *f;
	char *text;
	long n;

	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
	BIO_free(b);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

static struct hub_auth *must_new(const char *sec, const char *pem)
{
	char why[256] = "";
	struct hub_auth *a = hub_auth_new(sec, sec ? strlen(sec) : 0, pem,
					  why, sizeof(why));

	if (!a)
		fail_msg("hub_auth_new: %s", why);
	return a;
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/ringcast-test-auth-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(rsa_pem, sizeof(rsa_pem), "%s/rsa.pem", dir);
	snprintf(ec_pem, sizeof(ec_pem), "%s/ec.pem", dir);
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!rsa_key || !ec_key)
		return -1;
	rsa_pem_text = write_pub(rsa_key, rsa_pem);
	ec_pem_text = write_pub(ec_key, ec_pem);
	a_hs = must_new(secret, NULL);
	a_rsa = must_new(NULL, rsa_pem);
	a_ec = must_new(NULL, ec_pem);
	a_hs_rsa = must_new(secret, rsa_pem);
	a_hs_ec = must_new(secret, ec_pem);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	hub_auth_free(a_hs);
	hub_auth_free(a_rsa);
	hub_auth_free(a_ec);
	hub_auth_free(a_hs_rsa);
	hub_auth_free(a_hs_ec);
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	free(rsa_pem_text);
	free(ec_pem_text);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* ---- valid tokens ---- */

static const char full_claims[] =
	"{\"sub\":\"alice\",\"exp\":1700000100,\"iat\":1699999000,"
	"\"rooms\":[\"lobby\",\"team-*\"],\"listen\":[\"news\"],"
	"\"extra\":{\"x\":[1,2,3]}}";

static void check_full(const struct hub_auth *a, enum signer s)
{
	char *tok = mint(s, NULL, full_claims);
	struct hub_token t;

	assert_err(hub_auth_verify(a, tok, strlen(tok), NOW, &t), HUB_AUTH_OK);
	assert_string_equal(t.sub, "alice");
	assert_int_equal(t.exp, 1700000100);
	assert_int_equal(t.nrooms, 2);
	assert_string_equal(t.rooms[0], "lobby");
	assert_string_equal(t.rooms[1], "team-*");
	assert_int_equal(t.nlisten, 1);
	assert_string_equal(t.listen[0], "news");
	hub_token_clear(&t);
	assert_null(t.sub);
	hub_token_clear(&t);	/* again: harmless */
	free(tok);
}

static void test_valid_hs256(void **state)
{
	(void)state;
	check_full(a_hs, S_HS);
	check_full(a_hs_rsa, S_HS);
	check_full(a_hs_ec, S_HS);
	/* the least a token can be */
	assert_err(HS_CLAIMS("{\"exp\":%lld}", NOW + 1), HUB_AUTH_OK);
}

static void test_valid_rs256(void **state)
{
	(void)state;
	check_full(a_rsa, S_RS);
	check_full(a_hs_rsa, S_RS);
}

/* ECDSA signatures are random: many of them give r and s with the top bit
   set and clear (and, now and then, a leading zero byte), each a different
   DER encoding. */
static void test_valid_es256(void **state)
{
	bool zero = false, high = false, low = false;
	int i;

	(void)state;
	check_full(a_hs_ec, S_ES);
	/* until r or s has had a leading zero byte that DER drops (0x00
	   then a byte under 0x80: about 1 in 256), and each has had its top
	   bit set and clear */
	for (i = 0; i < 20000 && !(zero && high && low); i++) {
		check_full(a_ec, S_ES);
		assert_int_equal(last_sn, 64);
		zero |= (!last_sig[0] && last_sig[1] < 0x80) ||
			(!last_sig[32] && last_sig[33] < 0x80);
		high |= last_sig[0] >= 0x80 && last_sig[32] >= 0x80;
		low |= last_sig[0] < 0x80 && last_sig[32] < 0x80;
	}
	assert_true(zero && high && low);
}

/* A secret is bytes: NULs and all of it count. */
static void test_secret_bytes(void **state)
{
	static const char key[] = "a\0b";
	struct hub_auth *a = hub_auth_new(key, 3, NULL, NULL, 0);
	char *in, *tok, *h, *p, *sg;
	uint8_t sig[32];

	(void)state;
	assert_non_null(a);
	h = b64url("{\"alg\":\"HS256\"}", 15);
	p = b64url("{\"exp\":1700000001}", 18);
	in = cat(h, ".", p);
	hmac(key, 3, in, sig);
	sg = b64url(sig, 32);
	tok = cat(in, ".", sg);
	assert_err(check(a, strdup(tok)), HUB_AUTH_OK);
	hub_auth_free(a);
	a = hub_auth_new(key, 1, NULL, NULL, 0);	/* "a" alone */
	assert_non_null(a);
	assert_err(check(a, tok), HUB_AUTH_SIGNATURE);
	hub_auth_free(a);
	free(h);
	free(p);
	free(in);
	free(sg);
}

/* ---- time ---- */

static void test_exp(void **state)
{
	(void)state;
	/* expired from the second exp names: no leeway */
	assert_err(HS_CLAIMS("{\"exp\":%lld}", NOW), HUB_AUTH_EXPIRED);
	assert_err(HS_CLAIMS("{\"exp\":%lld}", NOW - 3600), HUB_AUTH_EXPIRED);
	assert_err(HS_CLAIMS("{\"exp\":-1}"), HUB_AUTH_EXPIRED);
	assert_err(HS_CLAIMS("{\"exp\":%lld}", NOW + 1), HUB_AUTH_OK);
	/* fractions */
	assert_err(HS_CLAIMS("{\"exp\":%lld.5}", NOW - 1), HUB_AUTH_EXPIRED);
	assert_err(HS_CLAIMS("{\"exp\":%lld.5}", NOW), HUB_AUTH_OK);
	assert_err(HS_CLAIMS("{\"exp\":1.7e9}"), HUB_AUTH_EXPIRED);
	assert_err(HS_CLAIMS("{\"exp\":1.8e9}"), HUB_AUTH_OK);
	/* required, a number, a date */
	assert_err(HS_CLAIMS("{\"sub\":\"a\"}"), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{}"), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":\"%lld\"}", NOW + 100), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":null}"), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":true}"), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":[%lld]}", NOW + 100), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":1e300}"), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":9007199254740993}"), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":9007199254740992}"), HUB_AUTH_OK);
	/* past int64: the JSON parser refuses it */
	assert_err(HS_CLAIMS("{\"exp\":99999999999999999999}"),
		   HUB_AUTH_MALFORMED);
}

static void test_exp_rounds_up(void **state)
{
	char *tok = mint(S_HS, NULL, "{\"exp\":1700000100.25}");
	struct hub_token t;

	(void)state;
	assert_err(hub_auth_verify(a_hs, tok, strlen(tok), NOW, &t),
		   HUB_AUTH_OK);
	assert_int_equal(t.exp, 1700000101);
	hub_token_clear(&t);
	free(tok);
}

static void test_nbf(void **state)
{
	(void)state;
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"nbf\":%lld}", NOW + 600,
			     NOW + HUB_AUTH_NBF_LEEWAY + 1), HUB_AUTH_NOT_YET);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"nbf\":%lld}", NOW + 600,
			     NOW + 3600), HUB_AUTH_NOT_YET);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"nbf\":%lld.5}", NOW + 600,
			     NOW + HUB_AUTH_NBF_LEEWAY), HUB_AUTH_NOT_YET);
	/* within the leeway, and past */
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"nbf\":%lld}", NOW + 600,
			     NOW + HUB_AUTH_NBF_LEEWAY), HUB_AUTH_OK);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"nbf\":%lld}", NOW + 600, NOW - 5),
		   HUB_AUTH_OK);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"nbf\":\"soon\"}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"nbf\":null}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	/* both wrong: expired is what it is */
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"nbf\":%lld}", NOW - 1,
			     NOW + 3600), HUB_AUTH_EXPIRED);
	/* iat is not looked at */
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"iat\":\"x\"}", NOW + 600),
		   HUB_AUTH_OK);
}

/* ---- signatures ---- */

static void test_wrong_signature(void **state)
{
	static const enum signer s[] = { S_HS, S_RS, S_ES };
	static const char *const hdrs[] = {
		"{\"alg\":\"HS256\"}", "{\"alg\":\"RS256\"}", "{\"alg\":\"ES256\"}",
	};
	const struct hub_auth *a[] = { a_hs, a_rsa, a_ec };
	char pay[64];

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld,\"sub\":\"bob\"}", NOW + 600);
	for (int i = 0; i < 3; i++) {
		assert_err(check(a[i], mint(s[i], NULL, pay)), HUB_AUTH_OK);
		assert_err(check(a[i], mint_flags(s[i], NULL, pay, FLIP_SIG)),
			   HUB_AUTH_SIGNATURE);
		assert_err(check(a[i], mint_flags(s[i], NULL, pay, FLIP_PAY)),
			   HUB_AUTH_SIGNATURE);
		/* the right signature with a byte more, or one less */
		assert_err(check(a[i], mint_flags(s[i], NULL, pay, LONG_SIG)),
			   HUB_AUTH_SIGNATURE);
		assert_err(check(a[i], mint_flags(s[i], NULL, pay, SHORT_SIG)),
			   HUB_AUTH_SIGNATURE);
		/* no signature */
		assert_err(check(a[i], mint(S_EMPTY, hdrs[i], pay)),
			   HUB_AUTH_SIGNATURE);
	}
	/* another secret */
	{
		struct hub_auth *other = hub_auth_new("another secret", 14,
						      NULL, NULL, 0);

		assert_non_null(other);
		assert_err(check(other, mint(S_HS, NULL, pay)),
			   HUB_AUTH_SIGNATURE);
		hub_auth_free(other);
	}
}

/* A bad signature must leave the thread's OpenSSL error queue as it was:
   the worker's TLS code reads it. */
static void test_error_queue(void **state)
{
	char pay[64];

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	ERR_clear_error();
	assert_err(check(a_rsa, mint_flags(S_RS, NULL, pay, FLIP_SIG)),
		   HUB_AUTH_SIGNATURE);
	assert_err(check(a_ec, mint_flags(S_ES, NULL, pay, FLIP_SIG)),
		   HUB_AUTH_SIGNATURE);
	assert_int_equal(ERR_peek_error(), 0);
	/* and one already there stays */
	ERR_raise(ERR_LIB_USER, 42);
	assert_err(check(a_rsa, mint_flags(S_RS, NULL, pay, FLIP_SIG)),
		   HUB_AUTH_SIGNATURE);
	assert_int_equal(ERR_GET_REASON(ERR_get_error()), 42);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_es256_der(void **state)
{
	char pay[64];

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	assert_err(check(a_ec, mint(S_ES_DER, NULL, pay)), HUB_AUTH_SIGNATURE);
	assert_err(check(a_hs_ec, mint(S_ES_DER, NULL, pay)),
		   HUB_AUTH_SIGNATURE);
}

/* ---- algorithms ---- */

static void test_alg_none(void **state)
{
	static const char *const hdrs[] = {
		"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}", "{\"alg\":\"\"}",
		"{\"typ\":\"JWT\"}", "{\"alg\":null}", "{\"alg\":256}",
		"{\"alg\":[\"HS256\"]}", "{\"alg\":\"hs256\"}",
		"{\"alg\":\"HS256 \"}", "{\"alg\":\"HS384\"}",
		"{\"alg\":\"HS512\"}", "{\"alg\":\"PS256\"}",
		"{\"alg\":\"EdDSA\"}",
	};
	const struct hub_auth *as[] = { a_hs, a_rsa, a_ec, a_hs_rsa, a_hs_ec };
	char pay[64];

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	for (size_t k = 0; k < sizeof(as) / sizeof(as[0]); k++)
		for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
			/* without a signature, and with the one HS256 gives */
			assert_err(check(as[k], mint(S_EMPTY, hdrs[i], pay)),
				   HUB_AUTH_ALG);
			assert_err(check(as[k], mint(S_HS, hdrs[i], pay)),
				   HUB_AUTH_ALG);
		}
}

/* Each alg only with its key. */
static void test_alg_key(void **state)
{
	char pay[64];

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	assert_err(check(a_hs, mint(S_RS, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_hs, mint(S_ES, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_rsa, mint(S_HS, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_rsa, mint(S_ES, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_ec, mint(S_HS, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_ec, mint(S_RS, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_hs_rsa, mint(S_ES, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_hs_ec, mint(S_RS, NULL, pay)), HUB_AUTH_ALG);
	/* an RS256 header over an ES256 signature, and back */
	assert_err(check(a_hs_rsa, mint(S_ES, "{\"alg\":\"RS256\"}", pay)),
		   HUB_AUTH_SIGNATURE);
	assert_err(check(a_hs_ec, mint(S_RS, "{\"alg\":\"ES256\"}", pay)),
		   HUB_AUTH_SIGNATURE);
}

/* HS256 signed with the public key's PEM as the secret: the classic
   confusion, where a verifier feeds its "key" to whichever alg the token
   names. */
static void test_hs_rs_confusion(void **state)
{
	char pay[64], why[256] = "";

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	assert_err(check(a_rsa, mint(S_HS_RSA_PEM, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_ec, mint(S_HS_EC_PEM, NULL, pay)), HUB_AUTH_ALG);
	assert_err(check(a_hs_rsa, mint(S_HS_RSA_PEM, NULL, pay)),
		   HUB_AUTH_SIGNATURE);
	assert_err(check(a_hs_ec, mint(S_HS_EC_PEM, NULL, pay)),
		   HUB_AUTH_SIGNATURE);
	/* and the PEM itself refused as a secret */
	assert_null(hub_auth_new(rsa_pem_text, strlen(rsa_pem_text), NULL,
				 why, sizeof(why)));
	assert_non_null(strstr(why, "PEM"));
}

/* ---- header ---- */

static void test_header(void **state)
{
	char pay[64];

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\"}", pay)),
		   HUB_AUTH_OK);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
				    pay)), HUB_AUTH_OK);
	assert_err(check(a_hs, mint(S_HS, "{\"typ\":\"Jwt\",\"alg\":\"HS256\","
				    "\"kid\":\"k1\"}", pay)), HUB_AUTH_OK);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
				    pay)), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
				    pay)), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\",\"typ\":1}", pay)),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
				    pay)), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\",\"b64\":false,"
				    "\"crit\":[\"b64\"]}", pay)),
		   HUB_AUTH_MALFORMED);
	/* JSON, an object, no key twice, nothing after */
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
				    pay)), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"none\",\"alg\":\"HS256\"}",
				    pay)), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "[\"HS256\"]", pay)),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "\"HS256\"", pay)),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "alg=HS256", pay)),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\"}x", pay)),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS256\"", pay)),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, mint(S_HS, "{\"alg\":\"HS\xff\"}", pay)),
		   HUB_AUTH_MALFORMED);
	/* nesting, in the one part read before the signature: deep is
	   fine, too deep for the parser is malformed (and neither crashes) */
	for (size_t depth = 1000; depth <= 3000; depth += 2000) {
		char *open = repeat('[', depth), *close = repeat(']', depth);
		char *h = claims("{\"alg\":\"HS256\",\"x\":%s%s}", open, close);

		assert_err(check(a_hs, mint(S_HS, h, pay)),
			   depth < 2048 ? HUB_AUTH_OK : HUB_AUTH_MALFORMED);
		free(open);
		free(close);
		free(h);
	}
}

/* The spellings issuers use most (auth.c matches these without parsing)
   and one it must parse: the same verdicts, for every key set. */
static void test_header_spellings(void **state)
{
	static const char *const forms[] = {
		"{\"alg\":\"%s\",\"typ\":\"JWT\"}", "{\"typ\":\"JWT\",\"alg\":\"%s\"}",
		"{\"alg\":\"%s\"}", "{ \"alg\" : \"%s\" }",
	};
	static const char *const algs[] = { "HS256", "RS256", "ES256" };
	static const enum signer s[] = { S_HS, S_RS, S_ES };
	const struct hub_auth *as[] = { a_hs, a_rsa, a_ec, a_hs_rsa, a_hs_ec };
	/* which of as[] holds the key for algs[k] */
	static const bool has[3][5] = {
		{ true, false, false, true, true },
		{ false, true, false, true, false },
		{ false, false, true, false, true },
	};
	char pay[64], hdr[64];

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	for (int k = 0; k < 3; k++)
		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
			snprintf(hdr, sizeof(hdr), forms[f], algs[k]);
			for (int v = 0; v < 5; v++) {
				enum hub_auth_err e =
					check(as[v], mint(s[k], hdr, pay));

				if (e != (has[k][v] ? HUB_AUTH_OK : HUB_AUTH_ALG))
					fail_msg("%s with verifier %d: %s", hdr,
						 v, hub_auth_err_str(e));
			}
		}
}

/* ---- payload ---- */

static void test_payload_json(void **state)
{
	(void)state;
	assert_err(HS_CLAIMS("not json"), HUB_AUTH_MALFORMED);
	assert_err(HS_CLAIMS("[{\"exp\":%lld}]", NOW + 600), HUB_AUTH_MALFORMED);
	assert_err(HS_CLAIMS("%lld", NOW + 600), HUB_AUTH_MALFORMED);
	assert_err(HS_CLAIMS("{\"exp\":%lld} {}", NOW + 600),
		   HUB_AUTH_MALFORMED);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"exp\":%lld}", NOW + 600,
			     NOW + 600), HUB_AUTH_MALFORMED);
	/* the last duplicate winning would make this rooms ["*"] */
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"rooms\":[\"a\"],\"rooms\":[\"*\"]}",
			     NOW + 600), HUB_AUTH_MALFORMED);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"a\\u0000b\"}", NOW + 600),
		   HUB_AUTH_MALFORMED);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"\xc3\x28\"}", NOW + 600),
		   HUB_AUTH_MALFORMED);
}


static void test_sub(void **state)
{
	char *s256 = repeat('a', 256), *s257 = repeat('a', 257);
	char *tok = mint(S_HS, NULL, "{\"exp\":1700000600,\"sub\":\"u\\u00e9\"}");
	struct hub_token t;

	(void)state;
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"%s\"}", NOW + 600, s256),
		   HUB_AUTH_OK);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"%s\"}", NOW + 600, s257),
		   HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"\"}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":5}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":null}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":[\"a\"]}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	/* control characters: C0, DEL, C1 */
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"a\\nb\"}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"a\\u001b[31m\"}",
			     NOW + 600), HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"a\\u007f\"}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"a\\u0085\"}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"\xc2\x9f\"}", NOW + 600),
		   HUB_AUTH_CLAIMS);
	/* but not U+00A0 (C2 A0) nor other UTF-8 */
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"a\\u00a0b\"}", NOW + 600),
		   HUB_AUTH_OK);
	assert_err(HS_CLAIMS("{\"exp\":%lld,\"sub\":\"\xe6\x97\xa5\"}",
			     NOW + 600), HUB_AUTH_OK);
	/* decoded as UTF-8 */
	assert_err(hub_auth_verify(a_hs, tok, strlen(tok), NOW, &t),
		   HUB_AUTH_OK);
	assert_string_equal(t.sub, "u\xc3\xa9");
	hub_token_clear(&t);
	free(tok);
	free(s256);
	free(s257);
}

/* A payload with @field a list of @n entries "r0", "r1"... (or of @len
   bytes each if @len); malloc'd. */
static char *list_claims(const char *field, size_t n, size_t len)
{
	size_t cap = 64 + n * (len + 16);
	char *s = malloc(cap), *p = s;

	assert_non_null(s);
	p += sprintf(p, "{\"exp\":%lld,\"%s\":[", NOW + 600, field);
	for (size_t i = 0; i < n; i++) {
		if (len) {
			*p++ = '"';
			memset(p, 'x', len);
			p += len;
			p += sprintf(p, "\"%s", i + 1 < n ? "," : "");
		} else {
			p += sprintf(p, "\"r%zu\"%s", i, i + 1 < n ? "," : "");
		}
	}
	strcpy(p, "]}");
	return s;
}

static void test_lists(void **state)
{
	static const char *const fields[] = { "rooms", "listen" };
	struct hub_token t;
	char *tok;

	(void)state;
	for (int f = 0; f < 2; f++) {
		const char *n = fields[f];

		assert_err(HS_CLAIMS("{\"exp\":%lld,\"%s\":\"a\"}", NOW + 600, n),
			   HUB_AUTH_CLAIMS);
		assert_err(HS_CLAIMS("{\"exp\":%lld,\"%s\":{\"a\":1}}", NOW + 600,
				     n), HUB_AUTH_CLAIMS);
		assert_err(HS_CLAIMS("{\"exp\":%lld,\"%s\":null}", NOW + 600, n),
			   HUB_AUTH_CLAIMS);
		assert_err(HS_CLAIMS("{\"exp\":%lld,\"%s\":[\"a\",1]}", NOW + 600,
				     n), HUB_AUTH_CLAIMS);
		assert_err(HS_CLAIMS("{\"exp\":%lld,\"%s\":[null]}", NOW + 600, n),
			   HUB_AUTH_CLAIMS);
		assert_err(HS_CLAIMS("{\"exp\":%lld,\"%s\":[[\"a\"]]}", NOW + 600,
				     n), HUB_AUTH_CLAIMS);
		assert_err(HS_CLAIMS("{\"exp\":%lld,\"%s\":[\"\"]}", NOW + 600, n),
			   HUB_AUTH_CLAIMS);
		assert_err(HS_CLAIMS("{\"exp\":%lld,\"%s\":[]}", NOW + 600, n),
			   HUB_AUTH_OK);
		/* bounds: count and length */
		assert_err(check_claims(a_hs, S_HS, list_claims(n, 256, 0)),
			   HUB_AUTH_OK);
		assert_err(check_claims(a_hs, S_HS, list_claims(n, 257, 0)),
			   HUB_AUTH_CLAIMS);
		assert_err(check_claims(a_hs, S_HS, list_claims(n, 2, 1024)),
			   HUB_AUTH_OK);
		assert_err(check_claims(a_hs, S_HS, list_claims(n, 2, 1025)),
			   HUB_AUTH_CLAIMS);
	}
	/* all 256 copied, in order */
	{
		char *pay = list_claims("listen", 256, 0);

		tok = mint(S_HS, NULL, pay);
		free(pay);
	}
	assert_err(hub_auth_verify(a_hs, tok, strlen(tok), NOW, &t),
		   HUB_AUTH_OK);
	assert_int_equal(t.nlisten, 256);
	assert_int_equal(t.nrooms, 0);
	assert_null(t.rooms);
	assert_null(t.sub);
	for (size_t i = 0; i < 256; i++) {
		char want[8];

		snprintf(want, sizeof(want), "r%zu", i);
		assert_string_equal(t.listen[i], want);
	}
	hub_token_clear(&t);
	free(tok);
}

/* ---- encoding ---- */

/* @tok with its character at @i replaced by @c (in place). */
static char *poke(char *tok, size_t i, char c)
{
	tok[i] = c;
	return tok;
}

/* @pre @tok @post; @tok is freed. */
static char *with(char *tok, const char *pre, const char *post)
{
	char *s = cat(pre, tok, post);

	free(tok);
	return s;
}

static void test_base64(void **state)
{
	char pay[64], *t;
	size_t d1, d2, n;

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	t = mint(S_HS, NULL, pay);
	n = strlen(t);
	d1 = (size_t)(strchr(t, '.') - t);
	d2 = (size_t)(strrchr(t, '.') - t);
	assert_err(check(a_hs, strdup(t)), HUB_AUTH_OK);
	/* the standard alphabet's characters, and characters of neither */
	for (const char *c = "+/= \t\n!*~\x80\xff"; *c; c++) {
		assert_err(check(a_hs, poke(strdup(t), 0, *c)),
			   HUB_AUTH_MALFORMED);
		assert_err(check(a_hs, poke(strdup(t), d1 + 1, *c)),
			   HUB_AUTH_MALFORMED);
		assert_err(check(a_hs, poke(strdup(t), n - 1, *c)),
			   HUB_AUTH_MALFORMED);
	}
	/* padding: the 32-byte HMAC is 43 characters, 44 padded */
	assert_int_equal(n - d2 - 1, 43);
	assert_err(check(a_hs, with(strdup(t), "", "=")), HUB_AUTH_MALFORMED);
	/* whitespace around */
	assert_err(check(a_hs, with(strdup(t), "", "\n")), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, with(strdup(t), " ", "")), HUB_AUTH_MALFORMED);
	/* bits past the last byte set: the same bytes spelled another way */
	{
		static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
					    "ghijklmnopqrstuvwxyz0123456789-_";
		int v = (int)(strchr(alpha, t[n - 1]) - alpha);

		assert_int_equal(v & 3, 0);
		assert_err(check(a_hs, poke(strdup(t), n - 1, alpha[v | 1])),
			   HUB_AUTH_MALFORMED);
	}
	/* a part of 4k + 1 characters cannot be base64, even signed as sent
	   (a decoder that dropped the odd character would pass it) */
	assert_err(check(a_hs, with(strdup(t), "A", "")), HUB_AUTH_MALFORMED);
	assert_int_equal((d2 - d1 - 1) % 4, 0);
	assert_err(check(a_hs, mint_flags(S_HS, NULL, pay, EXTRA_B64)),
		   HUB_AUTH_MALFORMED);
	free(t);

	/* padded header and payload (16 and 20 bytes: "==" and "=") */
	{
		char *h = b64url("{\"alg\":\"HS256\"} ", 16);
		char *hp = cat(h, "==", "");
		char *p = b64url("{\"exp\":1700000600}\n\n", 20);
		char *pp = cat(p, "=", "");
		char *in, *sg, *tok;
		uint8_t sig[32];

		assert_int_equal(strlen(h) % 4, 2);
		assert_int_equal(strlen(p) % 4, 3);
		/* unpadded, each passes */
		in = cat(h, ".", p);
		hmac(secret, strlen(secret), in, sig);
		sg = b64url(sig, 32);
		tok = cat(in, ".", sg);
		assert_err(check(a_hs, tok), HUB_AUTH_OK);
		free(in);
		free(sg);
		/* a 2-character tail with bits past its byte set */
		{
			static const char alpha[] =
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
				"ghijklmnopqrstuvwxyz0123456789-_";
			size_t hl = strlen(h);
			int v = (int)(strchr(alpha, h[hl - 1]) - alpha);

			assert_int_equal(v & 15, 0);
			h[hl - 1] = alpha[v | 4];
			in = cat(h, ".", p);
			hmac(secret, strlen(secret), in, sig);
			sg = b64url(sig, 32);
			assert_err(check(a_hs, cat(in, ".", sg)),
				   HUB_AUTH_MALFORMED);
			free(in);
			free(sg);
			h[hl - 1] = alpha[v];
		}
		/* padded, signed as sent: still malformed */
		in = cat(hp, ".", p);
		hmac(secret, strlen(secret), in, sig);
		sg = b64url(sig, 32);
		assert_err(check(a_hs, cat(in, ".", sg)), HUB_AUTH_MALFORMED);
		free(in);
		free(sg);
		in = cat(h, ".", pp);
		hmac(secret, strlen(secret), in, sig);
		sg = b64url(sig, 32);
		assert_err(check(a_hs, cat(in, ".", sg)), HUB_AUTH_MALFORMED);
		free(in);
		free(sg);
		free(h);
		free(hp);
		free(p);
		free(pp);
	}
}

static void test_structure(void **state)
{
	char pay[64], *t, *sig, *mid;
	size_t n;

	(void)state;
	snprintf(pay, sizeof(pay), "{\"exp\":%lld}", NOW + 600);
	t = mint(S_HS, NULL, pay);
	n = strlen(t);
	sig = strrchr(t, '.') + 1;
	mid = strchr(t, '.') + 1;
	/* dots: too many, too few */
	assert_err(check(a_hs, with(strdup(t), "", ".")), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, with(strdup(t), "", ".AAAA")),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, with(strdup(t), "eyJ9.", "")),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, strndup(t, (size_t)(sig - t - 1))),
		   HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, strdup(sig)), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, strdup("")), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, strdup(".")), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, strdup("..")), HUB_AUTH_MALFORMED);
	assert_err(check(a_hs, strdup("...")), HUB_AUTH_MALFORMED);
	/* empty header, empty payload */
	assert_err(check(a_hs, strdup(mid - 1)), HUB_AUTH_MALFORMED);
	{
		char *h = strndup(t, (size_t)(mid - t));

		assert_err(check(a_hs, cat(h, ".", sig)), HUB_AUTH_MALFORMED);
		free(h);
	}
	/* a NUL inside (the length says where the token ends) */
	{
		struct hub_token tk;
		char *c = strdup(t);

		c[n / 2] = '\0';
		assert_err(hub_auth_verify(a_hs, c, n, NOW, &tk),
			   HUB_AUTH_MALFORMED);
		free(c);
	}
	/* the length is obeyed: the token is a prefix of this buffer */
	{
		struct hub_token tk;
		char *c = cat(t, "xyz", "");

		assert_err(hub_auth_verify(a_hs, c, n, NOW, &tk), HUB_AUTH_OK);
		hub_token_clear(&tk);
		free(c);
	}
	free(t);
}

/* Every prefix of a valid token of each kind, placed against a PROT_NONE
   page: none passes, none reads past its end. */
static void test_truncations(void **state)
{
	static const enum signer s[] = { S_HS, S_RS, S_ES };
	const struct hub_auth *a[] = { a_hs, a_rsa, a_ec };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *g = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(g != MAP_FAILED);
	assert_int_equal(mprotect(g + page, page, PROT_NONE), 0);
	for (int k = 0; k < 3; k++) {
		char *t = mint(s[k], NULL, full_claims);
		size_t n = strlen(t);
		struct hub_token tk;

		assert_true(n <= page);
		for (size_t len = 0; len <= n; len++) {
			char *at = g + page - len;

			memcpy(at, t, len);
			enum hub_auth_err e = hub_auth_verify(a[k], at, len,
							      NOW, &tk);
			if (len == n)
				assert_err(e, HUB_AUTH_OK);
			else if (e == HUB_AUTH_OK)
				fail_msg("prefix of %zu/%zu bytes passed",
					 len, n);
			hub_token_clear(&tk);
		}
		free(t);
	}
	munmap(g, 2 * page);
}

/* The length bound: the longest tokens under it pass, one over is refused
   unread, however valid. */
static void test_max_length(void **state)
{
	char *ok = NULL, *over = NULL;

	(void)state;
	for (size_t pad = 6000; pad < 6200 && !over; pad++) {
		char *x = repeat('x', pad);
		char *pay = claims("{\"exp\":%lld,\"pad\":\"%s\"}", NOW + 600, x);
		char *t = mint(S_HS, NULL, pay);

		free(x);
		free(pay);
		if (strlen(t) <= HUB_AUTH_MAX_TOKEN) {
			free(ok);
			ok = t;
		} else {
			over = t;
		}
	}
	assert_non_null(ok);
	assert_non_null(over);
	assert_true(strlen(ok) >= HUB_AUTH_MAX_TOKEN - 2);
	assert_err(check(a_hs, ok), HUB_AUTH_OK);
	assert_err(check(a_hs, over), HUB_AUTH_MALFORMED);
}

/* ---- permissions ---- */

static enum hub_perm perm(const struct hub_token *t, const char *room)
{
	return hub_token_perm(t, room, strlen(room));
}

static void test_perm(void **state)
{
	char *r1[] = { "a", "pre*", "a*b" }, *l1[] = { "b", "pre-x", "news" };
	struct hub_token t = {
		.rooms = r1, .nrooms = 3, .listen = l1, .nlisten = 3,
	};
	char *r2[] = { "own" }, *l2[] = { "*" };
	struct hub_token t2 = {
		.rooms = r2, .nrooms = 1, .listen = l2, .nlisten = 1,
	};
	char *r3[] = { "*" };
	struct hub_token t3 = { .rooms = r3, .nrooms = 1 };
	struct hub_token none = { 0 };

	(void)state;
	/* exact */
	assert_int_equal(perm(&t, "a"), HUB_PERM_POST);
	assert_int_equal(perm(&t, "b"), HUB_PERM_LISTEN);
	assert_int_equal(perm(&t, "news"), HUB_PERM_LISTEN);
	assert_int_equal(perm(&t, "ab"), HUB_PERM_NONE);
	assert_int_equal(perm(&t, "A"), HUB_PERM_NONE);
	assert_int_equal(perm(&t, "new"), HUB_PERM_NONE);
	assert_int_equal(perm(&t, "newsroom"), HUB_PERM_NONE);
	assert_int_equal(perm(&t, ""), HUB_PERM_NONE);
	/* the length, not a NUL, ends the room */
	assert_int_equal(hub_token_perm(&t, "ab", 1), HUB_PERM_POST);
	assert_int_equal(hub_token_perm(&t, "news", 3), HUB_PERM_NONE);
	/* prefix */
	assert_int_equal(perm(&t, "pre"), HUB_PERM_POST);
	assert_int_equal(perm(&t, "prefix"), HUB_PERM_POST);
	assert_int_equal(perm(&t, "pr"), HUB_PERM_NONE);
	assert_int_equal(perm(&t, "xpre"), HUB_PERM_NONE);
	/* '*' inside an entry is a character */
	assert_int_equal(perm(&t, "a*b"), HUB_PERM_POST);
	assert_int_equal(perm(&t, "axb"), HUB_PERM_NONE);
	/* rooms beats listen */
	assert_int_equal(perm(&t, "pre-x"), HUB_PERM_POST);
	assert_int_equal(perm(&t2, "own"), HUB_PERM_POST);
	/* "*" alone: any room */
	assert_int_equal(perm(&t2, "anything"), HUB_PERM_LISTEN);
	assert_int_equal(perm(&t2, "o"), HUB_PERM_LISTEN);
	assert_int_equal(perm(&t3, "anything"), HUB_PERM_POST);
	assert_int_equal(perm(&t3, "\xe6\x97\xa5"), HUB_PERM_POST);
	/* nothing granted */
	assert_int_equal(perm(&none, "a"), HUB_PERM_NONE);
}

/* The same through a verified token. */
static void test_perm_verified(void **state)
{
	char *tok = mint(S_RS, NULL, full_claims);
	struct hub_token t;

	(void)state;
	assert_err(hub_auth_verify(a_rsa, tok, strlen(tok), NOW, &t),
		   HUB_AUTH_OK);
	assert_int_equal(perm(&t, "lobby"), HUB_PERM_POST);
	assert_int_equal(perm(&t, "team-red"), HUB_PERM_POST);
	assert_int_equal(perm(&t, "team-"), HUB_PERM_POST);
	assert_int_equal(perm(&t, "team"), HUB_PERM_NONE);
	assert_int_equal(perm(&t, "news"), HUB_PERM_LISTEN);
	assert_int_equal(perm(&t, "lobby2"), HUB_PERM_NONE);
	assert_int_equal(perm(&t, "random"), HUB_PERM_NONE);
	hub_token_clear(&t);
	free(tok);
}

/* ---- construction ---- */

static char *write_key(const char *name, EVP_PKEY *k, bool private)
{
	char *path;
	BIO *b;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	b = BIO_new_file(path, "w");
	assert_non_null(b);
	if (private)
		assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0,
							  NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
	BIO_free(b);
	return path;
}

static void must_fail(const char *sec, size_t n, const char *pem,
		      const char *why_has)
{
	char why[256] = "";

	assert_null(hub_auth_new(sec, n, pem, why, sizeof(why)));
	if (!strstr(why, why_has))
		fail_msg("why \"%s\" lacks \"%s\"", why, why_has);
	/* and without room for a reason */
	assert_null(hub_auth_new(sec, n, pem, NULL, 0));
}

static void test_new_errors(void **state)
{
	EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *f1 = write_key("rsa1024.pem", rsa1024, false);
	char *f2 = write_key("p384.pem", p384, false);
	char *f3 = write_key("ed.pem", ed, false);
	char *f4 = write_key("priv.pem", ec_key, true);
	char *f5, *missing;
	FILE *f;

	(void)state;
	assert_true(asprintf(&f5, "%s/garbage.pem", dir) > 0);
	assert_true(asprintf(&missing, "%s/missing.pem", dir) > 0);
	f = fopen(f5, "w");
	assert_non_null(f);
	fputs("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
	      f);
	fclose(f);
	must_fail(NULL, 0, NULL, "neither");
	must_fail("", 0, NULL, "empty");
	must_fail(rsa_pem_text, strlen(rsa_pem_text), NULL, "PEM");
	must_fail(NULL, 0, missing, "missing.pem");
	must_fail(NULL, 0, f1, "1024");
	must_fail(NULL, 0, f2, "P-256");
	must_fail(NULL, 0, f3, "ED25519");
	must_fail(NULL, 0, f4, "no PEM public key");
	must_fail(NULL, 0, f5, "no PEM public key");
	must_fail(NULL, 0, dir, dir);		/* a directory */
	must_fail(secret, strlen(secret), missing, "missing.pem");
	/* nothing of this left on the error queue */
	assert_int_equal(ERR_peek_error(), 0);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed);
	free(f1);
	free(f2);
	free(f3);
	free(f4);
	free(f5);
	free(missing);
}

static void test_err_str(void **state)
{
	(void)state;
	for (int i = HUB_AUTH_OK; i <= HUB_AUTH_INTERNAL; i++) {
		const char *s = hub_auth_err_str(i);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		for (int j = HUB_AUTH_OK; j < i; j++)
			assert_string_not_equal(s, hub_auth_err_str(j));
	}
	assert_string_equal(hub_auth_err_str(HUB_AUTH_EXPIRED), "token expired");
	assert_non_null(hub_auth_err_str((enum hub_auth_err)99));
}

/* ---- threads ---- */

#define NTHREADS 4

struct thread_arg {
	char *good[3], *bad[3];
	int failures;
};

/* One shared hub_auth, verified from several threads at once: each sees
   the right answer every time (and ASan/TSan builds, no race). */
static void *verify_many(void *p)
{
	struct thread_arg *ta = p;
	const struct hub_auth *as[] = { a_hs_ec, a_rsa, a_hs_ec };

	for (int i = 0; i < 300; i++)
		for (int k = 0; k < 3; k++) {
			struct hub_token t;

			/* the public key ones are slow: fewer of those */
			if (k && i % 10)
				continue;
			if (hub_auth_verify(as[k], ta->good[k],
					    strlen(ta->good[k]), NOW, &t) ||
			    strcmp(t.sub, "alice"))
				ta->failures++;
			hub_token_clear(&t);
			if (hub_auth_verify(as[k], ta->bad[k],
					    strlen(ta->bad[k]), NOW, &t) !=
			    HUB_AUTH_SIGNATURE)
				ta->failures++;
			if (ERR_peek_error())
				ta->failures++;
		}
	return NULL;
}

static void test_threads(void **state)
{
	static const enum signer s[] = { S_HS, S_RS, S_ES };
	struct thread_arg ta[NTHREADS];
	pthread_t th[NTHREADS];

	(void)state;
	for (int i = 0; i < NTHREADS; i++) {
		ta[i].failures = 0;
		for (int k = 0; k < 3; k++) {
			ta[i].good[k] = mint(s[k], NULL, full_claims);
			ta[i].bad[k] = mint_flags(s[k], NULL, full_claims,
						  FLIP_SIG);
		}
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, verify_many,
						&ta[i]), 0);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ta[i].failures, 0);
		for (int k = 0; k < 3; k++) {
			free(ta[i].good[k]);
			free(ta[i].bad[k]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_hs256),
		cmocka_unit_test(test_valid_rs256),
		cmocka_unit_test(test_valid_es256),
		cmocka_unit_test(test_secret_bytes),
		cmocka_unit_test(test_exp),
		cmocka_unit_test(test_exp_rounds_up),
		cmocka_unit_test(test_nbf),
		cmocka_unit_test(test_wrong_signature),
		cmocka_unit_test(test_error_queue),
		cmocka_unit_test(test_es256_der),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_key),
		cmocka_unit_test(test_hs_rs_confusion),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_header_spellings),
		cmocka_unit_test(test_payload_json),
		cmocka_unit_test(test_sub),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_max_length),
		cmocka_unit_test(test_perm),
		cmocka_unit_test(test_perm_verified),
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_err_str),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
