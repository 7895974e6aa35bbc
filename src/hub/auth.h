/* SPDX-License-Identifier: MIT */
/* auth.h -- JWT (RFC 7519) verification for the hub: HS256, RS256, ES256. */
#ifndef RC_HUB_AUTH_H
#define RC_HUB_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* Longer tokens are HUB_AUTH_MALFORMED unread; a buffer of
   HUB_AUTH_MAX_TOKEN + 1 bytes holds any token that can pass. */
#define HUB_AUTH_MAX_TOKEN 8192
/* nbf may be this many seconds ahead of our clock (the issuer's clock may
   run ahead). exp gets no leeway: a token is expired from the second it
   names, so the hub's close at exp and the check at the handshake agree. */
#define HUB_AUTH_NBF_LEEWAY 30
/* Claims' bounds; past them the token is HUB_AUTH_CLAIMS. */
#define HUB_AUTH_MAX_SUB 256		/* bytes of sub */
#define HUB_AUTH_MAX_ROOMS 256		/* entries of rooms, and of listen */
#define HUB_AUTH_MAX_ROOM 1024		/* bytes of one entry */

enum hub_auth_err {
	HUB_AUTH_OK = 0,
	HUB_AUTH_MALFORMED,	/* not a compact JWS with JSON header and claims */
	HUB_AUTH_ALG,		/* alg missing, "none", unknown, or not our key's */
	HUB_AUTH_SIGNATURE,	/* the signature does not verify */
	HUB_AUTH_EXPIRED,	/* now >= exp */
	HUB_AUTH_NOT_YET,	/* now + HUB_AUTH_NBF_LEEWAY < nbf */
	HUB_AUTH_CLAIMS,	/* exp missing, or a claim of the wrong type/size */
	HUB_AUTH_INTERNAL,	/* out of memory (or OpenSSL failed): not the
				   token's fault, so answer 503, not 401 */
};

enum hub_perm { HUB_PERM_NONE, HUB_PERM_LISTEN, HUB_PERM_POST };

/* The verified claims. Owned by the caller; hub_token_clear() frees. */
struct hub_token {
	char *sub;		/* NULL if absent; 1..HUB_AUTH_MAX_SUB bytes, no
				   control characters, NUL-terminated */
	int64_t exp;		/* seconds since the epoch (required; a
				   fractional exp is rounded up); |exp| <= 2^53,
				   so exp * 1000 fits in an int64_t */
	char **rooms;		/* may join and post ("x*" = prefix) */
	size_t nrooms;
	char **listen;		/* may join read-only */
	size_t nlisten;
	void *mem;		/* private: the one block all of the above is in */
};

/* The keys; immutable once made, so one may be shared by every thread. */
struct hub_auth;

/*
 * Make a verifier. @secret (@secret_len bytes, any bytes) enables HS256;
 * @pubkey_file (a PEM "PUBLIC KEY": RSA of 2048 bits or more, or EC P-256)
 * enables RS256 or ES256. Either may be NULL, not both; with both, each
 * token's alg picks the key. The secret is copied (the caller may wipe
 * its own). Allocates. Returns NULL with a reason in @why (@cap bytes,
 * NUL-terminated, may name @pubkey_file) on failure.
 */
struct hub_auth *hub_auth_new(const char *secret, size_t secret_len,
			      const char *pubkey_file, char *why, size_t cap);

/*
 * Verify the compact JWS @tok (@len bytes; not NUL-terminated, never read
 * past @len) at @now (seconds since the epoch). The header's alg must be
 * the configured key's (HS256 for the secret, RS256 for an RSA key, ES256
 * for an EC key: anything else, "none" included, is HUB_AUTH_ALG); a typ,
 * if present, must be "JWT" (any case); crit is refused (we implement no
 * extension); keys named in the header (jwk, jku, x5c, kid...) are ignored.
 * Claims: exp (number) required, nbf (number) optional, sub (string),
 * rooms and listen (arrays of strings) optional, others ignored.
 *
 * On HUB_AUTH_OK fills @out (the caller's; hub_token_clear() frees it).
 * On any error @out is zeroed: hub_token_clear() on it is harmless. @out
 * is overwritten, not freed: clear it first if it held a token.
 *
 * Thread-safe: any number of threads may verify with one hub_auth at once.
 * Allocates (the JSON, the OpenSSL contexts, @out's block).
 */
enum hub_auth_err hub_auth_verify(const struct hub_auth *a, const char *tok,
				  size_t len, int64_t now, struct hub_token *out);

/* Frees @a (NULL is fine). No verify may be running on it. */
void hub_auth_free(struct hub_auth *a);

/*
 * What @t allows in @room (@len bytes; compared as bytes, so pass the
 * decoded name): HUB_PERM_POST if an entry of rooms matches, else
 * HUB_PERM_LISTEN if one of listen does, else HUB_PERM_NONE. An entry
 * matches if it equals @room, or if it ends in '*' and the bytes before
 * the '*' are a prefix of @room ("*" alone matches every room).
 */
enum hub_perm hub_token_perm(const struct hub_token *t, const char *room,
			     size_t len);

/* Free what hub_auth_verify() put in @t and zero it; again is harmless. */
void hub_token_clear(struct hub_token *t);

/* A short lower-case phrase for logs ("token expired"); never NULL. */
const char *hub_auth_err_str(enum hub_auth_err e);

#endif /* RC_HUB_AUTH_H */
