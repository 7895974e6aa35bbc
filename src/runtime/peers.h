/* SPDX-License-Identifier: MIT */
/*
 * peers.h -- peer addresses: the server-wide table that the per-address
 * limits count in, and the trusted proxies whose X-Forwarded-For counts.
 */
#ifndef RC_PEERS_H
#define RC_PEERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/http.h"

/* An address as 16 bytes: IPv6, or IPv4 mapped (::ffff:a.b.c.d). */
struct rc_addr {
	uint8_t b[16];
};

/* A CIDR of trusted proxies. */
struct rc_cidr {
	struct rc_addr net;
	uint8_t bits;			/* of the 128 */
};

/*
 * One address that has connections open, or had new ones within the last
 * second. Entries live in one array (a connection names its entry by a
 * 32-bit index, 0 meaning none) and hash chains of indices.
 */
struct rc_peer {
	struct rc_addr addr;
	uint32_t next;			/* chain, or the free list */
	uint32_t conns;			/* open connections that name it */
	uint32_t last_ms;		/* new-connection bucket: last refill */
	int32_t tokens;			/* in thousandths of a connection */
};

struct rc_peers {
	pthread_mutex_t lock;		/* taken once per accept and close */
	struct rc_peer *e;		/* e[0] unused */
	uint32_t *heads;		/* hash chains */
	uint32_t mask;			/* of heads */
	uint32_t cap, used, free;	/* entries: capacity, in use, free list */
	uint32_t sweep;			/* next chain the incremental sweep
					   looks at */
	uint64_t key[2];		/* siphash key (random) */
	unsigned max_conns;		/* per address; RC_UNLIMITED: none */
	unsigned rate;			/* new connections/s; RC_UNLIMITED */
	struct rc_cidr *trusted;
	unsigned ntrusted;
};

/* What rc__peer_get() says. */
enum rc_peer_verdict {
	RC_PEER_OK = 0,
	RC_PEER_TOO_MANY,		/* max_conns open already */
	RC_PEER_TOO_FAST,		/* over the new-connection rate */
	RC_PEER_FULL,			/* the table is full (out of memory) */
};

/* 0, -EINVAL (a bad CIDR in @cfg) or -ENOMEM. */
int rc__peers_init(struct rc_peers *t, unsigned max_conns, unsigned rate,
		   unsigned max_connections, const char *const *cidrs,
		   size_t ncidrs);
void rc__peers_free(struct rc_peers *t);

/*
 * A new connection from @a at @now_ms: on RC_PEER_OK, *@idx names its
 * entry (one reference, dropped by rc__peer_put). @limits false: count it
 * but refuse nothing (a trusted proxy's own connection).
 */
enum rc_peer_verdict rc__peer_get(struct rc_peers *t, const struct rc_addr *a,
				  uint32_t now_ms, bool limits, uint32_t *idx);
void rc__peer_put(struct rc_peers *t, uint32_t idx);
/* What @v refused, in words (rc_handlers.on_refuse). */
const char *rc__peer_verdict_what(enum rc_peer_verdict v);
/* The address of entry @idx (held by a reference, so it cannot change). */
static inline const struct rc_addr *rc__peer_addr(const struct rc_peers *t,
						  uint32_t idx)
{
	return &t->e[idx].addr;
}

/* From a sockaddr (AF_INET or AF_INET6); false for any other family. */
bool rc__addr_from_sockaddr(struct rc_addr *a, const struct sockaddr *sa,
			    uint16_t *port);
/* Back to a sockaddr_storage (AF_INET for a mapped IPv4). */
void rc__addr_to_sockaddr(const struct rc_addr *a, uint16_t port,
			  struct sockaddr_storage *ss);
/* Is @a in a trusted proxy's CIDR? */
bool rc__peer_trusted(const struct rc_peers *t, const struct rc_addr *a);
/*
 * The client behind a trusted proxy: the rightmost X-Forwarded-For address
 * that is not itself trusted (every such header, the last first). False
 * if there is none, or one of them does not parse.
 */
bool rc__peer_forwarded(const struct rc_peers *t,
			const struct rc_http_request *req, struct rc_addr *out);

#endif /* RC_PEERS_H */
