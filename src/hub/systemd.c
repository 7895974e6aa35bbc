/* SPDX-License-Identifier: MIT */
/* systemd.c -- sd_notify(3), the watchdog thread, and socket activation. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "systemd.h"

/* A watchdog period shorter than this would keep a core busy sending;
   systemd's own WatchdogSec= is in seconds in practice. */
#define MIN_PERIOD_NS 1000000ULL

/* A decimal number and nothing else (no sign, no blanks): 0, or -EINVAL. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Is the variable @name unset, or our pid? (A LISTEN_PID or WATCHDOG_PID
   that names another process was meant for it, not us: a wrapper that
   exec'd nothing, a parent that leaked its environment.) */
static bool env_is_our_pid(const char *name, bool unset_ok)
{
	const char *e = getenv(name);
	uint64_t pid;

	if (!e)
		return unset_ok;
	return !parse_u64(e, &pid) && pid == (uint64_t)getpid();
}

/* ---- notify ---- */

/* $NOTIFY_SOCKET as an address: 0, 1 when unset or empty, or -errno. */
static int notify_addr(struct sockaddr_un *sa, socklen_t *len)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!e || !*e)
		return 1;
	if (!strncmp(e, "vsock:", 6))
		return -EAFNOSUPPORT;
	n = strlen(e);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (e[0] == '@') {
		/* Abstract: sun_path starts with a NUL instead of the '@',
		   and the address length (not a terminator) ends the name,
		   so the length must not count one. */
		if (n < 2 || n > sizeof(sa->sun_path))
			return -EINVAL;
		memcpy(sa->sun_path + 1, e + 1, n - 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		return 0;
	}
	if (e[0] != '/' || n >= sizeof(sa->sun_path))
		return -EINVAL;
	memcpy(sa->sun_path, e, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/* One datagram: 0 or -errno. Datagrams go whole or not at all, and
   never wait: a manager that does not read its socket must not stall a
   drain or a reload (-EAGAIN then; systemd always reads). */
static int send_state(int fd, const struct sockaddr_un *sa, socklen_t len,
		      const char *state)
{
	size_t n = strlen(state);
	ssize_t r;

	do
		r = sendto(fd, state, n, MSG_NOSIGNAL | MSG_DONTWAIT,
			   (const struct sockaddr *)sa, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == n ? 0 : -EMSGSIZE;
}

int hub_sd_notify(const char *state)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, ret;

	if (!state)
		return -EINVAL;
	ret = notify_addr(&sa, &len);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = send_state(fd, &sa, len, state);
	close(fd);
	return ret;
}

int hub_sd_notifyf(const char *fmt, ...)
{
	const char *e = getenv("NOTIFY_SOCKET");
	va_list ap;
	char *s;
	int ret;

	/* Nothing to send to: spare the formatting. */
	if (!e || !*e)
		return 1;
	va_start(ap, fmt);
	ret = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (ret < 0)
		return -ENOMEM;
	ret = hub_sd_notify(s);
	free(s);
	return ret;
}

/* ---- watchdog ---- */

uint64_t hub_sd_watchdog_usec(void)
{
	const char *e = getenv("WATCHDOG_USEC");
	uint64_t usec;

	if (!e || parse_u64(e, &usec) || !env_is_our_pid("WATCHDOG_PID", true))
		return 0;
	return usec;
}

/* The one watchdog thread. @lock guards @running and @stop; the rest is
   written before the thread starts and only read by it. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* on CLOCK_MONOTONIC: stop */
	pthread_t thread;
	bool running, stop;
	int fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
	uint64_t period_ns;
	bool (*alive)(void *);
	void *arg;
} wd = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static void ts_add_ns(struct timespec *t, uint64_t ns)
{
	uint64_t sum = (uint64_t)t->tv_nsec + ns % 1000000000ULL;

	t->tv_sec += (time_t)(ns / 1000000000ULL + sum / 1000000000ULL);
	t->tv_nsec = (long)(sum % 1000000000ULL);
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *watchdog_main(void *unused)
{
	struct timespec next, now;

	(void)unused;
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&wd.lock);
	while (!wd.stop) {
		/* @alive may take its time (it may ask the workers): not
		   under the lock, so a stop is not held up by more than it. */
		pthread_mutex_unlock(&wd.lock);
		if (wd.alive(wd.arg))
			/* A failed send is not ours to fix: if systemd
			   misses enough of them, it restarts us. */
			(void)send_state(wd.fd, &wd.addr, wd.addr_len,
					 "WATCHDOG=1");
		pthread_mutex_lock(&wd.lock);
		/* Keep to the period from the start, not from each send;
		   if @alive overran it, go again now, but only once. */
		ts_add_ns(&next, wd.period_ns);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ts_before(&next, &now))
			next = now;
		while (!wd.stop &&
		       pthread_cond_timedwait(&wd.wake, &wd.lock, &next) !=
			       ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&wd.lock);
	return NULL;
}

int hub_sd_watchdog_start(uint64_t usec, bool (*alive)(void *), void *arg)
{
	pthread_condattr_t ca;
	int ret;

	if (!usec || !alive)
		return -EINVAL;
	pthread_mutex_lock(&wd.lock);
	if (wd.running) {
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = notify_addr(&wd.addr, &wd.addr_len);
	if (ret) {
		if (ret > 0)	/* no NOTIFY_SOCKET: nobody to tell */
			ret = 0;
		goto out_unlock;
	}
	wd.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (wd.fd < 0) {
		ret = -errno;
		goto out_unlock;
	}
	/* Half the timeout, as sd_watchdog_enabled(3) advises: one late
	   or lost datagram does not trip it. */
	wd.period_ns = usec > UINT64_MAX / 500 ? UINT64_MAX / 2 : usec * 500;
	if (wd.period_ns < MIN_PERIOD_NS)
		wd.period_ns = MIN_PERIOD_NS;
	wd.alive = alive;
	wd.arg = arg;
	wd.stop = false;
	/* A monotonic clock: setting the wall clock moves no deadline. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = -pthread_cond_init(&wd.wake, &ca);
	pthread_condattr_destroy(&ca);
	if (ret)
		goto out_close;
	ret = -pthread_create(&wd.thread, NULL, watchdog_main, NULL);
	if (ret)
		goto out_cond;
	wd.running = true;
	pthread_mutex_unlock(&wd.lock);
	return 0;

out_cond:
	pthread_cond_destroy(&wd.wake);
out_close:
	close(wd.fd);
	wd.fd = -1;
out_unlock:
	pthread_mutex_unlock(&wd.lock);
	return ret;
}

void hub_sd_watchdog_stop(void)
{
	pthread_mutex_lock(&wd.lock);
	if (!wd.running || wd.stop) {	/* never started, or a stop under way */
		pthread_mutex_unlock(&wd.lock);
		return;
	}
	wd.stop = true;
	pthread_cond_signal(&wd.wake);
	pthread_mutex_unlock(&wd.lock);

	pthread_join(wd.thread, NULL);
	pthread_cond_destroy(&wd.wake);
	close(wd.fd);
	pthread_mutex_lock(&wd.lock);
	wd.fd = -1;
	wd.running = false;
	pthread_mutex_unlock(&wd.lock);
}

/* ---- socket activation ---- */

/* A passed fd: FD_CLOEXEC set (nothing we might run inherits our
   listeners), then checked to be a listening stream socket. 0 or -errno. */
static int take_listener(int fd)
{
	int flags, v;
	socklen_t len = sizeof(v);

	flags = fcntl(fd, F_GETFD);
	if (flags < 0)
		return -errno;
	if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC))
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len))
		return errno == ENOTSOCK ? -EINVAL : -errno;
	if (v != SOCK_STREAM)
		return -EINVAL;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len))
		return -errno;
	return v ? 0 : -EINVAL;
}

int hub_sd_listen_fds(int *fds, int max)
{
	const char *e;
	uint64_t n;
	int i, ret = 0;

	if (!env_is_our_pid("LISTEN_PID", false)) {
		/* Unset, or another's; only a malformed one is an error. */
		e = getenv("LISTEN_PID");
		if (e && parse_u64(e, &n))
			ret = -EINVAL;
		goto out_unset;
	}
	e = getenv("LISTEN_FDS");
	if (!e)
		goto out_unset;
	if (parse_u64(e, &n) || n > INT_MAX - HUB_SD_LISTEN_FDS_START) {
		ret = -EINVAL;
		goto out_unset;
	}
	for (i = 0; i < (int)n; i++) {
		ret = take_listener(HUB_SD_LISTEN_FDS_START + i);
		if (ret)
			goto out_unset;
		if (i < max)
			fds[i] = HUB_SD_LISTEN_FDS_START + i;
	}
	ret = (int)n > max ? -E2BIG : (int)n;
out_unset:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return ret;
}
