/* SPDX-License-Identifier: MIT */
/* v1.c -- ringcast.v1 lines as the load tool reads them (docs/PROTOCOL.md): the type, epoch and offset, where the data starts, recovered. */
#include <string.h>

#include "v1.h"

/* A cursor over the head; every step fails once it would run past it. */
struct cur {
	const uint8_t *p;
	size_t n, i;
};

static bool lit(struct cur *c, const char *s)
{
	size_t l = strlen(s);

	if (c->n - c->i < l || memcmp(c->p + c->i, s, l))
		return false;
	c->i += l;
	return true;
}

/* A JSON number the hub wrote: digits, at most 20, and no more than
   UINT64_MAX (a larger one is no number of the hub's: BAD, not wrapped). */
static bool number(struct cur *c, uint64_t *v)
{
	size_t start = c->i;
	uint64_t x = 0;

	while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
		uint64_t d = (uint64_t)(c->p[c->i++] - '0');

		if (x > UINT64_MAX / 10 ||
		    (x == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return c->i > start;
}

/* Past a JSON string's closing quote (the opening one taken already):
   an escape's second byte is never the end. */
static bool skip_string(struct cur *c)
{
	while (c->i < c->n) {
		uint8_t b = c->p[c->i++];

		if (b == '\\')
			c->i++;
		else if (b == '"')
			return true;
	}
	return false;
}

enum rl_v1_type rl_v1_parse(const uint8_t *p, size_t n,
			    struct rl_v1_line *out)
{
	struct cur c = { .p = p, .n = n };
	enum rl_v1_type t;

	out->recovered = -1;
	if (!lit(&c, "{\"type\":\""))
		return RL_V1_BAD;
	if (lit(&c, "msg\""))
		t = RL_V1_MSG;
	else if (lit(&c, "joined\""))
		t = RL_V1_JOINED;
	else
		return skip_string(&c) ? RL_V1_OTHER : RL_V1_BAD;
	if (!lit(&c, ",\"room\":\"") || !skip_string(&c) ||
	    !lit(&c, ",\"epoch\":") || !number(&c, &out->epoch) ||
	    !lit(&c, ",\"offset\":") || !number(&c, &out->offset))
		return RL_V1_BAD;
	if (t == RL_V1_JOINED) {
		if (lit(&c, ",\"recovered\":"))
			out->recovered = lit(&c, "true") ? 1 :
					 lit(&c, "false") ? 0 : -2;
		return out->recovered != -2 && lit(&c, "}") && c.i == n ?
		       t : RL_V1_BAD;
	}
	if (!lit(&c, ",\"from\":"))
		return RL_V1_BAD;
	if (!lit(&c, "null") && !(lit(&c, "\"") && skip_string(&c)))
		return RL_V1_BAD;
	if (!lit(&c, ",\"data\":\""))
		return RL_V1_BAD;
	out->data_at = c.i;
	return t;
}
