/* SPDX-License-Identifier: MIT */
/* alloc.c -- counted allocation, with injectable failures. */
#include <stdlib.h>

#include "runtime/alloc.h"
#include "runtime/fault.h"
#include "runtime/stats.h"

static void *counted(void *p)
{
	if (!p && rc__stats_self)
		rc__stat_add(rc__stats_self, RC_STAT_ALLOC_FAILURES, 1);
	return p;
}

void *rc__malloc(size_t n)
{
	return counted(rc__fault(RC_FAULT_ALLOC) ? NULL : malloc(n));
}

void *rc__realloc(void *p, size_t n)
{
	return counted(rc__fault(RC_FAULT_ALLOC) ? NULL : realloc(p, n));
}
