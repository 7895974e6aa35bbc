/* SPDX-License-Identifier: MIT */
/* sha1.h -- SHA-1 (FIPS 180-4), for the handshake's Sec-WebSocket-Accept. */
#ifndef RC_SHA1_H
#define RC_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* The 20-byte digest of @n bytes at @p. Not for anything but RFC 6455 §4.2.2
   (SHA-1 is broken for signatures; the handshake only proves it is a
   WebSocket server answering). */
void rc_sha1(const void *p, size_t n, uint8_t out[20]);

#endif
