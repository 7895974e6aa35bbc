/* SPDX-License-Identifier: MIT */
/* peers.c -- peer addresses: per-address limits, trusted proxies. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pubsub/siphash.h"
#include "ringcast.h"
#include "runtime/peers.h"

/* A full new-connection bucket, in thousandths: a second's worth. */
#define MILLI 1000
/* Chains the sweep looks at per new entry: expired entries (no
   connection, bucket full again) are freed within a few rounds. */
#define SWEEP_STEP 4

static const uint8_t v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				       0xff, 0xff };

bool rc__addr_from_sockaddr(struct rc_addr *a, const struct sockaddr *sa,
			    uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		memcpy(a->b, v4_prefix, 12);
		memcpy(a->b + 12, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		memcpy(a->b, &in6->sin6_addr, 16);
		*port = ntohs(in6->sin6_port);
		return true;
	}
	return false;
}

void rc__addr_to_sockaddr(const struct rc_addr *a, uint16_t port,
			  struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (!memcmp(a->b, v4_prefix, 12)) {
		struct sockaddr_in *in = (void *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, a->b + 12, 4);
	} else {
		struct sockaddr_in6 *in6 = (void *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, a->b, 16);
	}
}

/* "1.2.3.4" or "2001:db8::1" (@n bytes, not NUL-terminated). */
static bool parse_addr(const char *p, size_t n, struct rc_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a->b + 12) == 1) {
		memcpy(a->b, v4_prefix, 12);
		return true;
	}
	return inet_pton(AF_INET6, buf, a->b) == 1;
}

static bool parse_cidr(const char *s, struct rc_cidr *c)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	bool v4;
	long bits;
	char *end;

	if (!parse_addr(s, n, &c->net))
		return false;
	v4 = !memcmp(c->net.b, v4_prefix, 12) && !strchr(s, ':');
	if (!slash) {
		c->bits = 128;
		return true;
	}
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || bits < 0 ||
	    bits > (v4 ? 32 : 128))
		return false;
	c->bits = (uint8_t)(v4 ? bits + 96 : bits);
	/* Clear the host bits so matching is a masked compare. */
	for (unsigned i = c->bits; i < 128; i++)
		c->net.b[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return true;
}

static bool in_cidr(const struct rc_cidr *c, const struct rc_addr *a)
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->net.b, a->b, full))
		return false;
	return !rest ||
	       !((c->net.b[full] ^ a->b[full]) & (uint8_t)(0xff00 >> rest));
}

bool rc__peer_trusted(const struct rc_peers *t, const struct rc_addr *a)
{
	for (unsigned i = 0; i < t->ntrusted; i++)
		if (in_cidr(&t->trusted[i], a))
			return true;
	return false;
}

bool rc__peer_forwarded(const struct rc_peers *t,
			const struct rc_http_request *req, struct rc_addr *out)
{
	/* Each proxy appends the address it got the request from: walk
	   from the right, past our own proxies, to the first that is not
	   one of them. Anything left of it is the client's to make up. */
	for (size_t h = req->nheaders; h-- > 0;) {
		const struct rc_http_header *hd = &req->headers[h];
		size_t end;

		if (!rc_http_slice_eq(hd->name, "x-forwarded-for"))
			continue;
		end = hd->value.n;
		while (end > 0) {
			size_t start = end, a, b;

			while (start > 0 && hd->value.p[start - 1] != ',')
				start--;
			a = start;
			b = end;
			while (a < b && (hd->value.p[a] == ' ' ||
					 hd->value.p[a] == '\t'))
				a++;
			while (b > a && (hd->value.p[b - 1] == ' ' ||
					 hd->value.p[b - 1] == '\t'))
				b--;
			end = start ? start - 1 : 0;
			if (a == b)
				continue;
			if (!parse_addr(hd->value.p + a, b - a, out))
				return false;
			if (!rc__peer_trusted(t, out))
				return true;
		}
	}
	return false;
}

int rc__peers_init(struct rc_peers *t, unsigned max_conns, unsigned rate,
		   unsigned max_connections, const char *const *cidrs,
		   size_t ncidrs)
{
	uint64_t cap = (uint64_t)max_connections * 2 + 1024;
	uint32_t heads = 1024;

	memset(t, 0, sizeof(*t));
	t->max_conns = max_conns;
	t->rate = rate;
	if (ncidrs) {
		t->trusted = calloc(ncidrs, sizeof(*t->trusted));
		if (!t->trusted)
			return -ENOMEM;
		for (size_t i = 0; i < ncidrs; i++)
			if (!cidrs[i] || !parse_cidr(cidrs[i], &t->trusted[i])) {
				free(t->trusted);
				t->trusted = NULL;
				return -EINVAL;
			}
		t->ntrusted = (unsigned)ncidrs;
	}
	if (cap > (1u << 26))
		cap = 1u << 26;
	while (heads < cap / 2)
		heads <<= 1;
	/* calloc: pages are touched only as entries are used. */
	t->e = calloc(cap, sizeof(*t->e));
	t->heads = calloc(heads, sizeof(*t->heads));
	if (!t->e || !t->heads) {
		rc__peers_free(t);
		return -ENOMEM;
	}
	t->cap = (uint32_t)cap;
	t->used = 1;			/* e[0] is "none" */
	t->mask = heads - 1;
	if (getrandom(t->key, sizeof(t->key), 0) != sizeof(t->key)) {
		t->key[0] = (uint64_t)(uintptr_t)t;
		t->key[1] = (uint64_t)(uintptr_t)&t;
	}
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void rc__peers_free(struct rc_peers *t)
{
	if (t->e)
		pthread_mutex_destroy(&t->lock);
	free(t->e);
	free(t->heads);
	free(t->trusted);
	t->e = NULL;
	t->heads = NULL;
	t->trusted = NULL;
}

/* Refill @p's bucket up to @now_ms; true if it is full (and the entry,
   with no connection, holds nothing worth keeping). */
static bool refill(const struct rc_peers *t, struct rc_peer *p,
		   uint32_t now_ms)
{
	uint64_t add;

	if (t->rate == RC_UNLIMITED)
		return true;
	add = (uint64_t)(now_ms - p->last_ms) * t->rate;
	p->last_ms = now_ms;
	if (add >= (uint64_t)t->rate * MILLI ||
	    p->tokens + (int64_t)add >= (int64_t)t->rate * MILLI) {
		p->tokens = (int32_t)(t->rate > INT32_MAX / MILLI ?
				      INT32_MAX : t->rate * MILLI);
		return true;
	}
	p->tokens += (int32_t)add;
	return false;
}

/* Free the expired entries of chain @h. */
static void sweep_chain(struct rc_peers *t, uint32_t h, uint32_t now_ms)
{
	uint32_t *link = &t->heads[h];

	while (*link) {
		struct rc_peer *p = &t->e[*link];
		uint32_t i = *link;

		if (!p->conns && refill(t, p, now_ms)) {
			*link = p->next;
			p->next = t->free;
			t->free = i;
			continue;
		}
		link = &p->next;
	}
}

static uint32_t entry_new(struct rc_peers *t, uint32_t now_ms)
{
	uint32_t i;

	for (int k = 0; k < SWEEP_STEP; k++)
		sweep_chain(t, t->sweep++ & t->mask, now_ms);
	if (!t->free && t->used == t->cap)
		for (uint32_t h = 0; h <= t->mask; h++)
			sweep_chain(t, h, now_ms);
	if (t->free) {
		i = t->free;
		t->free = t->e[i].next;
		return i;
	}
	if (t->used == t->cap)
		return 0;
	return t->used++;
}

enum rc_peer_verdict rc__peer_get(struct rc_peers *t, const struct rc_addr *a,
				  uint32_t now_ms, bool limits, uint32_t *idx)
{
	uint32_t h = (uint32_t)rc__siphash13(t->key, a->b, 16) & t->mask;
	enum rc_peer_verdict v = RC_PEER_OK;
	struct rc_peer *p = NULL;
	uint32_t i;

	pthread_mutex_lock(&t->lock);
	for (i = t->heads[h]; i; i = t->e[i].next)
		if (!memcmp(t->e[i].addr.b, a->b, 16))
			break;
	if (!i) {
		i = entry_new(t, now_ms);
		if (!i) {
			v = RC_PEER_FULL;
			goto out;
		}
		p = &t->e[i];
		p->addr = *a;
		p->conns = 0;
		p->last_ms = now_ms;
		p->tokens = (int32_t)(t->rate == RC_UNLIMITED ||
				      t->rate > INT32_MAX / MILLI ?
				      INT32_MAX : t->rate * MILLI);
		p->next = t->heads[h];
		t->heads[h] = i;
	}
	p = &t->e[i];
	if (limits) {
		refill(t, p, now_ms);
		if (t->max_conns != RC_UNLIMITED && p->conns >= t->max_conns) {
			v = RC_PEER_TOO_MANY;
			goto out;
		}
		if (t->rate != RC_UNLIMITED) {
			if (p->tokens < MILLI) {
				v = RC_PEER_TOO_FAST;
				goto out;
			}
			p->tokens -= MILLI;
		}
	}
	p->conns++;
	*idx = i;
out:
	pthread_mutex_unlock(&t->lock);
	return v;
}

void rc__peer_put(struct rc_peers *t, uint32_t idx)
{
	if (!idx)
		return;
	pthread_mutex_lock(&t->lock);
	t->e[idx].conns--;
	pthread_mutex_unlock(&t->lock);
}

const char *rc__peer_verdict_what(enum rc_peer_verdict v)
{
	return v == RC_PEER_TOO_MANY ? "connections per address" :
	       v == RC_PEER_TOO_FAST ? "new connections per address" :
				       "connections";
}
