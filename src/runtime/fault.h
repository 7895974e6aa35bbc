/* SPDX-License-Identifier: MIT */
/* fault.h -- fault injection points, for tests (RC_FAULT_INJECT builds only). */
#ifndef RC_FAULT_H
#define RC_FAULT_H

#include <stdbool.h>

/*
 * Places where a test can make the server see a failure it cannot cause
 * from outside. Built with RC_FAULT_INJECT, the environment variable
 * RINGCAST_FAIL_<NAME>=N[,K[,MAX]] makes the N-th call at that point
 * (counting from 1, over the whole process) fail, then every K-th after
 * it, at most MAX times in all. Without RC_FAULT_INJECT rc__fault() is a
 * constant false and costs nothing.
 */
enum rc_fault {
	RC_FAULT_ALLOC,		/* ALLOC: rc__malloc/rc__realloc return NULL */
	RC_FAULT_SUBMIT,	/* SUBMIT: a submit of the ring fails -EBUSY */
	RC_FAULT_BELL,		/* BELL: a MSG_RING bell fails (-EBADF) */
	RC_FAULT_ACCEPT,	/* ACCEPT: an accept is armed on no socket
				   (fails at once, -EBADF) */
	RC_FAULT_COUNT
};

#ifdef RC_FAULT_INJECT
/* Read the RINGCAST_FAIL_* variables (again); call before any worker. */
void rc__fault_init(void);
bool rc__fault(enum rc_fault f);
/* RINGCAST_TEST_<NAME>=V as a number, or @dflt when unset. */
unsigned long rc__fault_knob(const char *name, unsigned long dflt);
#else
static inline void rc__fault_init(void)
{
}

static inline bool rc__fault(enum rc_fault f)
{
	(void)f;
	return false;
}

static inline unsigned long rc__fault_knob(const char *name,
					   unsigned long dflt)
{
	(void)name;
	return dflt;
}
#endif

#endif /* RC_FAULT_H */
