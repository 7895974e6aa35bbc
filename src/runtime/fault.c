/* SPDX-License-Identifier: MIT */
/* fault.c -- fault injection for tests: fail the N-th call, then every K-th. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/fault.h"

#ifdef RC_FAULT_INJECT
static const char *const names[RC_FAULT_COUNT] = {
	[RC_FAULT_ALLOC] = "ALLOC",
	[RC_FAULT_SUBMIT] = "SUBMIT",
	[RC_FAULT_BELL] = "BELL",
	[RC_FAULT_ACCEPT] = "ACCEPT",
};

static struct {
	_Atomic unsigned long calls, failed;
	unsigned long at, every, max;
} points[RC_FAULT_COUNT];

void rc__fault_init(void)
{
	for (int f = 0; f < RC_FAULT_COUNT; f++) {
		char var[32];
		const char *e;
		char *end;

		snprintf(var, sizeof(var), "RINGCAST_FAIL_%s", names[f]);
		e = getenv(var);
		atomic_store(&points[f].calls, 0);
		atomic_store(&points[f].failed, 0);
		points[f].at = points[f].every = points[f].max = 0;
		if (!e)
			continue;
		points[f].at = strtoul(e, &end, 10);
		if (*end == ',')
			points[f].every = strtoul(end + 1, &end, 10);
		if (*end == ',')
			points[f].max = strtoul(end + 1, &end, 10);
	}
}

bool rc__fault(enum rc_fault f)
{
	unsigned long n, at = points[f].at, every = points[f].every;

	if (!at)
		return false;
	n = atomic_fetch_add(&points[f].calls, 1) + 1;
	if (n != at && !(every && n > at && (n - at) % every == 0))
		return false;
	if (points[f].max &&
	    atomic_fetch_add(&points[f].failed, 1) >= points[f].max)
		return false;
	return true;
}

unsigned long rc__fault_knob(const char *name, unsigned long dflt)
{
	char var[64];
	const char *e;

	snprintf(var, sizeof(var), "RINGCAST_TEST_%s", name);
	e = getenv(var);
	return e ? strtoul(e, NULL, 10) : dflt;
}
#endif
