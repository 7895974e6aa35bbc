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
 * With RC_FAULT_INJECT, RINGCAST_FAIL_ALLOC=N[,K[,MAX]] fails calls
 * (runtime/fault.h), so tests can prove each failure path.
 */
void *rc__malloc(size_t n);
void *rc__realloc(void *p, size_t n);

#endif /* RC_ALLOC_H */
