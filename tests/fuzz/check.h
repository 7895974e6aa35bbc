/* SPDX-License-Identifier: MIT */
/* check.h -- CHECK() for the fuzz harnesses: an assert that is never
   compiled out, and that says what the harness was doing. */
#ifndef RC_FUZZ_CHECK_H
#define RC_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                        \
	do {                                                            \
		if (!(c))                                               \
			fuzz_check_failed(__FILE__, __LINE__, #c);      \
	} while (0)

/* Each harness defines it: the kernel set under test, or "". */
static const char *fuzz_context(void);

static void fuzz_check_failed(const char *file, int line, const char *what)
{
	const char *ctx = fuzz_context();

	fprintf(stderr, "%s:%d: check failed: %s%s%s%s\n", file, line, what,
		*ctx ? " (kernels " : "", ctx, *ctx ? ")" : "");
	abort();
}

#endif
