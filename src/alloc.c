/* SPDX-License-Identifier: MIT */
/* alloc.c -- counted allocation with optional fault injection. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "alloc.h"
#include "pubsub.h"
#include "server.h"
#include "worker.h"

#ifdef RC_FAULT_INJECT
static _Atomic unsigned long calls;
static unsigned long fail_at, fail_every;

void rc__alloc_init(void)
{
	const char *e = getenv("RINGCAST_FAIL_ALLOC");
	char *end;

	fail_at = fail_every = 0;
	atomic_store(&calls, 0);
	if (!e)
		return;
	fail_at = strtoul(e, &end, 10);
	if (*end == ',')
		fail_every = strtoul(end + 1, NULL, 10);
}

static bool injected(void)
{
	unsigned long n;

	if (!fail_at)
		return false;
	n = atomic_fetch_add(&calls, 1) + 1;
	if (n == fail_at)
		return true;
	return fail_every && n > fail_at && (n - fail_at) % fail_every == 0;
}
#else
void rc__alloc_init(void)
{
}

static bool injected(void)
{
	return false;
}
#endif

static void *counted(void *p)
{
	if (!p && rc__self)
		rc__stat_add(&rc__self->stats, RC_STAT_ALLOC_FAILURES, 1);
	return p;
}

void *rc__malloc(size_t n)
{
	return counted(injected() ? NULL : malloc(n));
}

void *rc__realloc(void *p, size_t n)
{
	return counted(injected() ? NULL : realloc(p, n));
}
