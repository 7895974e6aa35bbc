/* SPDX-License-Identifier: MIT */
/* alloc.h -- allocation on the serving paths: counted, and injectable. */
#ifndef RC_ALLOC_H
#define RC_ALLOC_H

#include <stddef.h>

/*
 * malloc/realloc for memory a connection or a message needs while serving
 * (output chunks and blocks, gathered input, published frames,
 * subscriptions). A failure is counted in the calling worker's
 * alloc_failures; the caller closes the connection affected with 1011.
 *
 * Built with RC_FAULT_INJECT, the environment variable
 * RINGCAST_FAIL_ALLOC=N[,K] makes the N-th call (counting from 1, over the
 * whole process) fail, and then every K-th after it, so tests can prove
 * each failure path. Without it, these are plain malloc/realloc.
 */
void *rc__malloc(size_t n);
void *rc__realloc(void *p, size_t n);

/* Read RINGCAST_FAIL_ALLOC (no-op without RC_FAULT_INJECT). */
void rc__alloc_init(void);

#endif
