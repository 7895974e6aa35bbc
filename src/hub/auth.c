/* SPDX-License-Identifier: MIT */
/* auth.c -- JWT verification: strict base64url, jansson, OpenSSL 3 EVP. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "auth.h"

enum key_kind { KEY_NONE, KEY_RSA, KEY_EC };

/*
 * Everything here is written once in hub_auth_new() and only read after,
 * so workers share it without locks: OpenSSL allows concurrent use of
 * objects through const pointers (openssl-threads(7)), and each verify
 * works on its own duplicate or context.
 */
struct hub_auth {
	EVP_MAC *mac;		/* HMAC, fetched once */
	EVP_MAC_CTX *hmac;	/* keyed with the secret; only ever dup'ed,
				   which skips the fetch and the key schedule */
	EVP_MD *sha256;		/* fetched once: a fetch by name takes locks */
	EVP_PKEY *pkey;		/* the public key, or NULL */
	enum key_kind kind;
};

/* The signature schemes a token's alg may name. */
enum alg { ALG_HS256, ALG_RS256, ALG_ES256 };

static const char *const alg_names[] = {
	[ALG_HS256] = "HS256", [ALG_RS256] = "RS256", [ALG_ES256] = "ES256",
};

/* The headers most issuers send, as sent (base64url): a token with one of
   these skips the header's JSON parse, some 15% of an HS256 verify. Any
   other spelling is parsed, to the same verdict. */
static const struct {
	enum alg alg;
	const char *b64;
} known_headers[] = {
	/* {"alg":"HS256","typ":"JWT"}: PyJWT, jsonwebtoken, golang-jwt */
	{ ALG_HS256, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" },
	/* {"typ":"JWT","alg":"HS256"}: php-jwt, PyJWT 1 */
	{ ALG_HS256, "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9" },
	/* {"alg":"HS256"}: jose */
	{ ALG_HS256, "eyJhbGciOiJIUzI1NiJ9" },
	{ ALG_RS256, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9" },
	{ ALG_RS256, "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9" },
	{ ALG_RS256, "eyJhbGciOiJSUzI1NiJ9" },
	{ ALG_ES256, "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9" },
	{ ALG_ES256, "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9" },
	{ ALG_ES256, "eyJhbGciOiJFUzI1NiJ9" },
};

/* A public key file is a few KiB; refuse to slurp anything much larger. */
#define MAX_KEY_FILE (64 * 1024)
/* Times past 2^53 s are not a date, and exp * 1000 (the hub's close_at in
   ms) must not overflow; 2^53 is also where a double stops being exact. */
#define MAX_TIME ((int64_t)1 << 53)

static void say(char *why, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!why || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

static int setup_hmac(struct hub_auth *a, const char *secret, size_t len,
		      char *why, size_t cap)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	if (!len) {
		say(why, cap, "the auth secret is empty");
		return -EINVAL;
	}
	/* A public key used as the HMAC secret is the HS/RS confusion attack
	   made into configuration: anyone with the public key could sign. */
	if (len >= 10 && !memcmp(secret, "-----BEGIN", 10)) {
		say(why, cap, "the auth secret is a PEM key (a public key goes to --auth-public-key)");
		return -EINVAL;
	}
	a->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (a->mac)
		a->hmac = EVP_MAC_CTX_new(a->mac);
	if (!a->hmac || !EVP_MAC_init(a->hmac, (const unsigned char *)secret,
				      len, params)) {
		say(why, cap, "OpenSSL: HMAC-SHA256 unavailable");
		return -ENOSYS;
	}
	return 0;
}

/* Read a PEM public key from @path, accepting RSA (>= 2048 bits) or EC on
   P-256: the two keys RS256 and ES256 are defined for. */
static int setup_pkey(struct hub_auth *a, const char *path, char *why,
		      size_t cap)
{
	char *text = NULL, group[32];
	size_t n = 0, glen;
	FILE *f;
	BIO *bio;
	int ret = -EINVAL;

	f = fopen(path, "rb");
	if (!f) {
		ret = -errno;
		say(why, cap, "%s: %s", path, strerror(-ret));
		return ret;
	}
	text = malloc(MAX_KEY_FILE + 1);
	if (!text) {
		fclose(f);
		say(why, cap, "out of memory");
		return -ENOMEM;
	}
	n = fread(text, 1, MAX_KEY_FILE + 1, f);
	if (ferror(f) || n > MAX_KEY_FILE) {
		say(why, cap, "%s: %s", path, ferror(f) ? "read error" :
		    "too large for a public key");
		goto out_free_text;
	}
	bio = BIO_new_mem_buf(text, (int)n);
	if (bio) {
		a->pkey = PEM_read_bio_PUBKEY_ex(bio, NULL, NULL, NULL, NULL,
						 NULL);
		BIO_free(bio);
	}
	if (!a->pkey) {
		say(why, cap, "%s: no PEM public key (-----BEGIN PUBLIC KEY-----) in it",
		    path);
		goto out_free_text;
	}
	/* "RSA" and not RSA-PSS: RS256 is PKCS #1 v1.5, the key's default. */
	if (EVP_PKEY_is_a(a->pkey, "RSA")) {
		if (EVP_PKEY_get_bits(a->pkey) < 2048) {
			say(why, cap, "%s: RSA key of %d bits, 2048 at least",
			    path, EVP_PKEY_get_bits(a->pkey));
			goto out_free_text;
		}
		a->kind = KEY_RSA;
	} else if (EVP_PKEY_is_a(a->pkey, "EC")) {
		if (!EVP_PKEY_get_group_name(a->pkey, group, sizeof(group),
					     &glen) ||
		    strcmp(group, "prime256v1")) {
			say(why, cap, "%s: EC key not on P-256 (ES256 needs P-256)",
			    path);
			goto out_free_text;
		}
		a->kind = KEY_EC;
	} else {
		say(why, cap, "%s: %s key; RS256 needs RSA, ES256 EC P-256",
		    path, EVP_PKEY_get0_type_name(a->pkey));
		goto out_free_text;
	}
	ret = 0;
out_free_text:
	free(text);
	fclose(f);
	return ret;
}

struct hub_auth *hub_auth_new(const char *secret, size_t secret_len,
			      const char *pubkey_file, char *why, size_t cap)
{
	struct hub_auth *a;

	if (!secret && !pubkey_file) {
		say(why, cap, "neither a secret nor a public key");
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		say(why, cap, "out of memory");
		return NULL;
	}
	/* Seed jansson's hash now, before any worker thread parses. */
	json_object_seed(0);
	a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!a->sha256) {
		say(why, cap, "OpenSSL: SHA-256 unavailable");
		goto out_free;
	}
	if (secret && setup_hmac(a, secret, secret_len, why, cap))
		goto out_free;
	if (pubkey_file && setup_pkey(a, pubkey_file, why, cap))
		goto out_free;
	return a;
out_free:
	hub_auth_free(a);
	/* Nothing of this belongs on the thread's queue for a later caller. */
	ERR_clear_error();
	return NULL;
}

void hub_auth_free(struct hub_auth *a)
{
	if (!a)
		return;
	EVP_MAC_CTX_free(a->hmac);
	EVP_MAC_free(a->mac);
	EVP_MD_free(a->sha256);
	EVP_PKEY_free(a->pkey);
	free(a);
}

/* base64url (RFC 4648 §5) digit values; BAD for everything else, '=' too. */
#define BAD 0xff
static const uint8_t b64url[256] = {
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,  62, BAD, BAD,
	 52,  53,  54,  55,  56,  57,  58,  59,  60,  61, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
	 15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, BAD, BAD, BAD, BAD,  63,
	BAD,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
	 41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
};

/*
 * Decode unpadded base64url @in[0..@n) into @out (room for n / 4 * 3 + 2).
 * Strict, as RFC 7515 §2 has it: no padding, no whitespace, no other
 * alphabet, and the bits after the last byte zero, so each byte string has
 * one spelling. Returns the length, or -1.
 */
static long b64url_decode(const char *in, size_t n, uint8_t *out)
{
	const uint8_t *s = (const uint8_t *)in;
	uint8_t *o = out;
	uint32_t v, bad;
	size_t i;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i + 4 <= n; i += 4) {
		bad = b64url[s[i]] | b64url[s[i + 1]] | b64url[s[i + 2]] |
		      b64url[s[i + 3]];
		if (bad & 0xc0)
			return -1;
		v = (uint32_t)b64url[s[i]] << 18 | b64url[s[i + 1]] << 12 |
		    b64url[s[i + 2]] << 6 | b64url[s[i + 3]];
		*o++ = (uint8_t)(v >> 16);
		*o++ = (uint8_t)(v >> 8);
		*o++ = (uint8_t)v;
	}
	switch (n - i) {
	case 2:
		bad = b64url[s[i]] | b64url[s[i + 1]];
		if (bad & 0xc0 || b64url[s[i + 1]] & 0x0f)
			return -1;
		*o++ = (uint8_t)(b64url[s[i]] << 2 | b64url[s[i + 1]] >> 4);
		break;
	case 3:
		bad = b64url[s[i]] | b64url[s[i + 1]] | b64url[s[i + 2]];
		if (bad & 0xc0 || b64url[s[i + 2]] & 0x03)
			return -1;
		v = (uint32_t)b64url[s[i]] << 10 | b64url[s[i + 1]] << 4 |
		    b64url[s[i + 2]] >> 2;
		*o++ = (uint8_t)(v >> 8);
		*o++ = (uint8_t)v;
		break;
	}
	return o - out;
}

static bool str_is(const json_t *v, const char *lit)
{
	size_t n = strlen(lit);

	return json_is_string(v) && json_string_length(v) == n &&
	       !memcmp(json_string_value(v), lit, n);
}

/* The key decides the algorithm, never the token: an alg our key is not
   for (an HS256 token signed with the RSA public key's PEM) fails before
   any key is used. */
static bool alg_usable(const struct hub_auth *a, enum alg alg)
{
	switch (alg) {
	case ALG_HS256:
		return a->hmac;
	case ALG_RS256:
		return a->kind == KEY_RSA;
	case ALG_ES256:
		return a->kind == KEY_EC;
	}
	return false;
}

static bool known_header(const char *p, size_t n, enum alg *alg)
{
	for (size_t i = 0; i < sizeof(known_headers) / sizeof(known_headers[0]);
	     i++)
		if (strlen(known_headers[i].b64) == n &&
		    !memcmp(known_headers[i].b64, p, n)) {
			*alg = known_headers[i].alg;
			return true;
		}
	return false;
}

/* The header: which alg, and nothing we would have to understand. */
static enum hub_auth_err check_header(const struct hub_auth *a,
				      const uint8_t *p, size_t n,
				      enum alg *alg)
{
	json_t *h, *alg_v, *typ;
	enum hub_auth_err err = HUB_AUTH_MALFORMED;
	size_t i;

	h = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(h))
		goto out_put;
	/* crit lists extensions the token needs understood: we know none. */
	if (json_object_get(h, "crit"))
		goto out_put;
	typ = json_object_get(h, "typ");
	if (typ && (!json_is_string(typ) ||
		    strcasecmp(json_string_value(typ), "JWT")))
		goto out_put;
	alg_v = json_object_get(h, "alg");
	for (i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (str_is(alg_v, alg_names[i]))
			break;
	err = HUB_AUTH_ALG;
	if (i < sizeof(alg_names) / sizeof(alg_names[0]) &&
	    alg_usable(a, (enum alg)i)) {
		*alg = (enum alg)i;
		err = HUB_AUTH_OK;
	}
out_put:
	json_decref(h);
	return err;
}

/* A JWS ES256 signature is r || s, 32 bytes each (RFC 7518 §3.4); OpenSSL
   verifies a DER SEQUENCE of two INTEGERs: minimal, positive. At most
   2 + 2 * (2 + 33) = 72 bytes. */
static size_t es256_to_der(const uint8_t rs[64], uint8_t der[72])
{
	uint8_t *p = der + 2;

	for (int i = 0; i < 2; i++) {
		const uint8_t *x = rs + 32 * i;
		size_t n = 32;
		bool pad;

		while (n > 1 && !*x) {
			x++;
			n--;
		}
		pad = *x & 0x80;	/* else it would read as negative */
		*p++ = 0x02;
		*p++ = (uint8_t)(n + pad);
		if (pad)
			*p++ = 0;
		memcpy(p, x, n);
		p += n;
	}
	der[0] = 0x30;
	der[1] = (uint8_t)(p - der - 2);
	return (size_t)(p - der);
}

static enum hub_auth_err verify_hs256(const struct hub_auth *a,
				      const char *in, size_t n,
				      const uint8_t *sig, size_t sn)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t ml = 0;
	EVP_MAC_CTX *ctx;
	int ok;

	if (sn != 32)
		return HUB_AUTH_SIGNATURE;
	ctx = EVP_MAC_CTX_dup(a->hmac);
	if (!ctx)
		return HUB_AUTH_INTERNAL;
	ok = EVP_MAC_update(ctx, (const unsigned char *)in, n) &&
	     EVP_MAC_final(ctx, mac, &ml, sizeof(mac)) && ml == 32;
	EVP_MAC_CTX_free(ctx);
	if (!ok)
		return HUB_AUTH_INTERNAL;
	/* Constant time: a timing leak would let a forger find the MAC of a
	   chosen token byte by byte. */
	return CRYPTO_memcmp(mac, sig, 32) ? HUB_AUTH_SIGNATURE : HUB_AUTH_OK;
}

static enum hub_auth_err verify_pkey(const struct hub_auth *a, enum alg alg,
				     const char *in, size_t n,
				     const uint8_t *sig, size_t sn)
{
	uint8_t der[72];
	EVP_MD_CTX *ctx;
	int ret;

	if (alg == ALG_ES256) {
		if (sn != 64)
			return HUB_AUTH_SIGNATURE;
		sn = es256_to_der(sig, der);
		sig = der;
	} else if ((int)sn != EVP_PKEY_get_size(a->pkey)) {
		return HUB_AUTH_SIGNATURE;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return HUB_AUTH_INTERNAL;
	if (EVP_DigestVerifyInit(ctx, NULL, a->sha256, NULL, a->pkey) != 1) {
		EVP_MD_CTX_free(ctx);
		return HUB_AUTH_INTERNAL;
	}
	ret = EVP_DigestVerify(ctx, sig, sn, (const unsigned char *)in, n);
	EVP_MD_CTX_free(ctx);
	/* 0: a wrong signature; < 0: one that does not even parse. */
	return ret == 1 ? HUB_AUTH_OK : HUB_AUTH_SIGNATURE;
}

/* A NumericDate (RFC 7519 §2): integer or not, rounded up to whole seconds
   ("expired if now >= exp" stays exact for exp = 100.5 and now = 100). */
static bool claim_time(const json_t *v, int64_t *t)
{
	double d;

	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (x > MAX_TIME || x < -MAX_TIME)
			return false;
		*t = x;
		return true;
	}
	if (!json_is_real(v))
		return false;
	d = json_real_value(v);
	if (!(d >= (double)-MAX_TIME && d <= (double)MAX_TIME))
		return false;
	*t = (int64_t)d;
	if ((double)*t < d)
		(*t)++;
	return true;
}

/* sub is shown to other members as the sender: printable only (no C0,
   DEL or C1, which could forge lines in a log or a page). jansson has
   already checked that it is UTF-8 without NULs. */
static bool sub_ok(const json_t *v)
{
	const uint8_t *p;
	size_t n;

	if (!json_is_string(v))
		return false;
	n = json_string_length(v);
	if (!n || n > HUB_AUTH_MAX_SUB)
		return false;
	p = (const uint8_t *)json_string_value(v);
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
		/* U+0080..U+009F is C2 80..C2 9F in UTF-8 */
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] < 0xa0)
			return false;
	}
	return true;
}

/* rooms or listen: absent, or an array of 1..HUB_AUTH_MAX_ROOMS strings of
   1..HUB_AUTH_MAX_ROOM bytes. Adds what copying it takes to *@bytes. */
static bool list_ok(const json_t *v, size_t *bytes)
{
	size_t i, len;
	json_t *e;

	if (!v)
		return true;
	if (!json_is_array(v) || json_array_size(v) > HUB_AUTH_MAX_ROOMS)
		return false;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return false;
		len = json_string_length(e);
		if (!len || len > HUB_AUTH_MAX_ROOM)
			return false;
		*bytes += sizeof(char *) + len + 1;
	}
	return true;
}

/* Copy string @v to *@dst, NUL-terminated; advance *@dst past it. */
static char *copy_str(char **dst, const json_t *v)
{
	size_t n = json_string_length(v);
	char *s = *dst;

	memcpy(s, json_string_value(v), n);
	s[n] = '\0';
	*dst = s + n + 1;
	return s;
}

/* Copy the strings of @list to *@dst, each one's address into @ptrs. */
static size_t copy_list(const json_t *list, char **ptrs, char **dst)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
		ptrs[i] = copy_str(dst, e);
	return json_array_size(list);
}

static enum hub_auth_err read_claims(const uint8_t *p, size_t n, int64_t now,
				     struct hub_token *out)
{
	json_t *c, *sub, *rooms, *listen, *nbf_v;
	enum hub_auth_err err = HUB_AUTH_MALFORMED;
	size_t nr, nl, bytes = 0;
	int64_t exp, nbf = 0;
	char **ptrs, *dst;

	c = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(c))
		goto out_put;
	err = HUB_AUTH_CLAIMS;
	sub = json_object_get(c, "sub");
	rooms = json_object_get(c, "rooms");
	listen = json_object_get(c, "listen");
	nbf_v = json_object_get(c, "nbf");
	if (!claim_time(json_object_get(c, "exp"), &exp) ||
	    (nbf_v && !claim_time(nbf_v, &nbf)) ||
	    (sub && !sub_ok(sub)) ||
	    !list_ok(rooms, &bytes) || !list_ok(listen, &bytes))
		goto out_put;
	/* No leeway on exp (see auth.h); nbf's bound keeps this from
	   overflowing. */
	if (now >= exp) {
		err = HUB_AUTH_EXPIRED;
		goto out_put;
	}
	if (nbf_v && nbf - HUB_AUTH_NBF_LEEWAY > now) {
		err = HUB_AUTH_NOT_YET;
		goto out_put;
	}
	/* One block: the pointer arrays first (aligned), then the strings. */
	if (sub)
		bytes += json_string_length(sub) + 1;
	err = HUB_AUTH_INTERNAL;
	out->mem = malloc(bytes ? bytes : 1);
	if (!out->mem)
		goto out_put;
	nr = rooms ? json_array_size(rooms) : 0;
	nl = listen ? json_array_size(listen) : 0;
	ptrs = out->mem;
	dst = (char *)(ptrs + nr + nl);
	if (nr)
		out->rooms = ptrs;
	if (nl)
		out->listen = ptrs + nr;
	out->nrooms = nr ? copy_list(rooms, out->rooms, &dst) : 0;
	out->nlisten = nl ? copy_list(listen, out->listen, &dst) : 0;
	if (sub)
		out->sub = copy_str(&dst, sub);
	out->exp = exp;
	err = HUB_AUTH_OK;
out_put:
	json_decref(c);
	return err;
}

enum hub_auth_err hub_auth_verify(const struct hub_auth *a, const char *tok,
				  size_t len, int64_t now, struct hub_token *out)
{
	/* The three parts decoded, one after another: at most 3/4 of the
	   token's bytes, plus 2 for each part's partial group. */
	uint8_t buf[HUB_AUTH_MAX_TOKEN / 4 * 3 + 6];
	const char *dot1, *dot2, *end = tok + len;
	long hn, pn, sn;
	uint8_t *hdr, *pay, *sig;
	enum hub_auth_err err;
	enum alg alg = ALG_HS256;

	memset(out, 0, sizeof(*out));
	if (!len || len > HUB_AUTH_MAX_TOKEN)
		return HUB_AUTH_MALFORMED;
	/* header.payload.signature: exactly two dots, no empty part but the
	   signature (empty is "alg":"none", refused below as an alg). */
	dot1 = memchr(tok, '.', len);
	if (!dot1)
		return HUB_AUTH_MALFORMED;
	dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
	if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) ||
	    dot1 == tok || dot2 == dot1 + 1)
		return HUB_AUTH_MALFORMED;
	pay = buf;
	pn = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), pay);
	if (pn < 0)
		return HUB_AUTH_MALFORMED;
	sig = pay + pn;
	sn = b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), sig);
	if (sn < 0)
		return HUB_AUTH_MALFORMED;
	if (known_header(tok, (size_t)(dot1 - tok), &alg)) {
		if (!alg_usable(a, alg))
			return HUB_AUTH_ALG;
	} else {
		hdr = sig + sn;
		hn = b64url_decode(tok, (size_t)(dot1 - tok), hdr);
		if (hn < 0)
			return HUB_AUTH_MALFORMED;
		err = check_header(a, hdr, (size_t)hn, &alg);
		if (err)
			return err;
	}
	/* OpenSSL queues an error for a bad signature; the worker's TLS code
	   reads that per-thread queue (SSL_get_error), so leave it as found. */
	ERR_set_mark();
	if (alg == ALG_HS256)
		err = verify_hs256(a, tok, (size_t)(dot2 - tok), sig,
				   (size_t)sn);
	else
		err = verify_pkey(a, alg, tok, (size_t)(dot2 - tok), sig,
				  (size_t)sn);
	ERR_pop_to_mark();
	if (err)
		return err;
	/* Only a signed payload reaches the JSON parser. */
	return read_claims(pay, (size_t)pn, now, out);
}

static bool entry_matches(const char *e, const char *room, size_t len)
{
	size_t n = strlen(e);

	if (n && e[n - 1] == '*')
		return len >= n - 1 && !memcmp(e, room, n - 1);
	return len == n && !memcmp(e, room, n);
}

enum hub_perm hub_token_perm(const struct hub_token *t, const char *room,
			     size_t len)
{
	for (size_t i = 0; i < t->nrooms; i++)
		if (entry_matches(t->rooms[i], room, len))
			return HUB_PERM_POST;
	for (size_t i = 0; i < t->nlisten; i++)
		if (entry_matches(t->listen[i], room, len))
			return HUB_PERM_LISTEN;
	return HUB_PERM_NONE;
}

void hub_token_clear(struct hub_token *t)
{
	free(t->mem);
	memset(t, 0, sizeof(*t));
}

const char *hub_auth_err_str(enum hub_auth_err e)
{
	switch (e) {
	case HUB_AUTH_OK:		return "ok";
	case HUB_AUTH_MALFORMED:	return "malformed token";
	case HUB_AUTH_ALG:		return "algorithm not accepted";
	case HUB_AUTH_SIGNATURE:	return "bad signature";
	case HUB_AUTH_EXPIRED:		return "token expired";
	case HUB_AUTH_NOT_YET:		return "token not yet valid";
	case HUB_AUTH_CLAIMS:		return "bad claims";
	case HUB_AUTH_INTERNAL:		return "internal error";
	}
	return "unknown error";
}
