/* SPDX-License-Identifier: MIT */
/* shared.c -- memory shared by the parent and every worker process: run phase, live counters, publisher progress. */
#include <stddef.h>
#include <sys/mman.h>

#include "shared.h"

/* Everything in one mapping; its length is kept just before it. */
struct mapping {
	size_t len;
	struct rl_shared s;
};

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

struct rl_shared *rl_shared_new(unsigned nworkers, unsigned npub)
{
	size_t live_off = align64(sizeof(struct mapping));
	size_t pub_off = live_off + (size_t)nworkers * sizeof(struct rl_live);
	size_t len = pub_off + 2 * (size_t)npub * sizeof(uint64_t);
	struct mapping *m;
	char *base;

	base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	m = (struct mapping *)base;
	m->len = len;
	m->s.nworkers = nworkers;
	m->s.npub = npub;
	m->s.live = (struct rl_live *)(base + live_off);
	m->s.pub_sent = (uint64_t *)(base + pub_off);
	m->s.pub_delivered = m->s.pub_sent + npub;
	return &m->s;
}

void rl_shared_free(struct rl_shared *s)
{
	struct mapping *m;

	if (!s)
		return;
	m = (struct mapping *)((char *)s - offsetof(struct mapping, s));
	munmap(m, m->len);
}

void rl_shared_publish(struct rl_live *l, const uint64_t c[RL_C_MAX])
{
	for (unsigned i = 0; i < RL_C_MAX; i++)
		__atomic_store_n(&l->c[i], c[i], __ATOMIC_RELAXED);
}

void rl_shared_sum(const struct rl_shared *s, uint64_t c[RL_C_MAX])
{
	for (unsigned i = 0; i < RL_C_MAX; i++)
		c[i] = 0;
	for (unsigned w = 0; w < s->nworkers; w++)
		for (unsigned i = 0; i < RL_C_MAX; i++)
			c[i] += __atomic_load_n(&s->live[w].c[i],
						__ATOMIC_RELAXED);
}
