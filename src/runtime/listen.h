/* SPDX-License-Identifier: MIT */
/* listen.h -- listening addresses and sockets (listen.c). */
#ifndef RC_LISTEN_H
#define RC_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct rc_server;
struct rc_laddr;

/* Fill @s->addrs from cfg.listen (or cfg.host), names resolved. 0 or
   -EINVAL (an entry that does not parse or resolve, too many). */
int rc__listen_resolve(struct rc_server *s);
/* A listening socket on @a at @port (SO_REUSEPORT if @reuseport). */
int rc__listen_socket(const struct rc_laddr *a, uint16_t port,
		      bool reuseport);
/* -EADDRINUSE if another process holds a port (unless reuse_port). */
int rc__listen_check(const struct rc_server *s, uint16_t tls_port,
		     bool tls_listener);
uint16_t rc__laddr_port(const struct sockaddr_storage *ss);
void rc__laddr_set_port(struct sockaddr_storage *ss, uint16_t port);
uint16_t rc__fd_port(int fd);
/* "1.2.3.4:80" or "[::1]:80". */
const char *rc__addr_str(const struct sockaddr_storage *ss, char *buf,
			 size_t cap);

#endif /* RC_LISTEN_H */
