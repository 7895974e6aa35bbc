/* SPDX-License-Identifier: MIT */
/*
 * listen.c -- where a server listens: "HOST:PORT" parsed, host names
 * resolved, one SO_REUSEPORT socket per address and worker, and the
 * sockets a supervisor hands over (systemd socket activation).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/listen.h"
#include "runtime/server.h"

void rc__laddr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

uint16_t rc__laddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* Add @ai's addresses not there yet, with @port; -ENOSPC past the most. */
static int add_addrs(struct rc_server *s, const struct addrinfo *ai,
		     uint16_t port, bool dual)
{
	for (; ai; ai = ai->ai_next) {
		struct rc_laddr *a;
		bool seen = false;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (ai->ai_addrlen > sizeof(a->ss))
			continue;
		for (unsigned i = 0; i < s->naddrs && !seen; i++)
			seen = s->addrs[i].len == ai->ai_addrlen &&
			       !memcmp(&s->addrs[i].ss, ai->ai_addr,
				       ai->ai_addrlen);
		if (seen)
			continue;
		if (s->naddrs == RC_LISTEN_MAX)
			return -ENOSPC;
		a = &s->addrs[s->naddrs++];
		memset(a, 0, sizeof(*a));
		memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
		a->len = (socklen_t)ai->ai_addrlen;
		a->dual = dual && ai->ai_family == AF_INET6;
		rc__laddr_set_port(&a->ss, port);
	}
	return 0;
}

/*
 * One listen entry: "HOST:PORT", "[V6]:PORT", "HOST" or a bare IPv6
 * address (with @port), ":PORT" (every address: "::"). -EINVAL if it does
 * not parse or resolve.
 */
static int add_entry(struct rc_server *s, const char *e, uint16_t port)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	const char *colon, *pstr = NULL;
	char host[256];
	size_t n;
	int ret;

	/* (":PORT" is every address; nothing at all is a mistake.) */
	if (!*e)
		return -EINVAL;
	if (e[0] == '[') {
		const char *end = strchr(e, ']');

		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		n = (size_t)(end - e - 1);
		if (!n || n >= sizeof(host))
			return -EINVAL;
		memcpy(host, e + 1, n);
		host[n] = '\0';
		if (end[1] == ':')
			pstr = end + 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	} else {
		colon = strrchr(e, ':');
		/* Two colons or more: an IPv6 address without a port. */
		if (colon && strchr(e, ':') == colon) {
			n = (size_t)(colon - e);
			pstr = colon + 1;
		} else {
			n = strlen(e);
		}
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, e, n);
		host[n] = '\0';
		if (!n)
			snprintf(host, sizeof(host), "::");
	}
	if (pstr) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(pstr, &end, 10);
		if (!*pstr || *end || errno || v > 65535 || *pstr == '-' ||
		    *pstr == '+' || *pstr == ' ')
			return -EINVAL;
		port = (uint16_t)v;
	}
	if (!*host)
		return -EINVAL;
	/* Host names only through the resolver's files and DNS, at start:
	   an address that does not resolve is a configuration error. */
	ret = getaddrinfo(host, NULL, &hints, &res);
	if (ret)
		return -EINVAL;
	ret = add_addrs(s, res, port, !strcmp(host, "::"));
	freeaddrinfo(res);
	return ret;
}

int rc__listen_resolve(struct rc_server *s)
{
	const struct rc_config *cfg = &s->cfg;
	int ret = 0;

	s->naddrs = 0;
	if (cfg->nlisten_fds)
		return 0;
	if (!cfg->nlisten)
		return add_entry(s, cfg->host, cfg->port);
	if (!cfg->listen || cfg->nlisten > RC_LISTEN_MAX)
		return -EINVAL;
	for (size_t i = 0; i < cfg->nlisten && !ret; i++)
		ret = cfg->listen[i] && strlen(cfg->listen[i]) < 300 ?
		      add_entry(s, cfg->listen[i], cfg->port) : -EINVAL;
	return ret == -ENOSPC ? -EINVAL : ret;
}

int rc__listen_socket(const struct rc_laddr *a, uint16_t port,
		      bool reuseport)
{
	struct sockaddr_storage ss = a->ss;
	int one = 1, v6only = !a->dual, fd;

	rc__laddr_set_port(&ss, port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Accepted sockets inherit TCP_NODELAY from the listener; direct
	   descriptors cannot be given it with setsockopt() afterwards. An
	   IPv6 socket is dual-stack only when asked ("::"): then the same
	   port on 0.0.0.0 is taken, as it would be by any dual-stack
	   server. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				     sizeof(one))) ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
			sizeof(v6only))) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, a->len) || listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * SO_REUSEPORT lets any process of the same user join a port, so a second
 * server started by mistake would silently share it. Unless reuse_port
 * says that is the point, bind a plain socket first: if the port is taken,
 * that fails with EADDRINUSE.
 */
int rc__listen_check(const struct rc_server *s, uint16_t tls_port,
		     bool tls_listener)
{
	if (s->cfg.reuse_port)
		return 0;
	for (unsigned i = 0; i < s->naddrs; i++) {
		uint16_t ports[2] = { rc__laddr_port(&s->addrs[i].ss),
				      tls_listener ? tls_port : 0 };

		for (unsigned k = 0; k < 2; k++) {
			int fd;

			if (!ports[k])
				continue;
			fd = rc__listen_socket(&s->addrs[i], ports[k], false);
			if (fd < 0)
				return fd;
			close(fd);
		}
	}
	return 0;
}

uint16_t rc__fd_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return 0;
	return rc__laddr_port(&ss);
}

const char *rc__addr_str(const struct sockaddr_storage *ss, char *buf,
			 size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, cap, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const void *)ss;

		inet_ntop(AF_INET, &in4->sin_addr, a, sizeof(a));
		snprintf(buf, cap, "%s:%u", a, ntohs(in4->sin_port));
	} else {
		snprintf(buf, cap, "?");
	}
	return buf;
}
