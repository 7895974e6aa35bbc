/* SPDX-License-Identifier: MIT */
/*
 * systemd.h -- systemd's notify protocol (sd_notify(3)) and socket
 * activation (sd_listen_fds(3)), without libsystemd.
 */
#ifndef RC_HUB_SYSTEMD_H
#define RC_HUB_SYSTEMD_H

#include <stdbool.h>
#include <stdint.h>

/* The first fd systemd passes (SD_LISTEN_FDS_START). */
#define HUB_SD_LISTEN_FDS_START 3

/*
 * Send @state ("READY=1", "STATUS=...", several lines at once) to
 * $NOTIFY_SOCKET: an absolute path, or '@' and a name in the abstract
 * namespace; one datagram per call, from a socket opened for it. 0 sent,
 * 1 no NOTIFY_SOCKET (unset or empty: nothing to do), -errno: -EINVAL for
 * a relative or overlong address, -EAFNOSUPPORT for "vsock:" (systemd in
 * a VM; not supported), else sendto()'s error (-ENOENT, -ECONNREFUSED...).
 * Thread-safe as far as getenv() is; not async-signal-safe.
 */
int hub_sd_notify(const char *state);
/* The same, @fmt printf-style (allocates the formatted text; -ENOMEM). */
int hub_sd_notifyf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* $WATCHDOG_USEC when $WATCHDOG_PID is unset or getpid(); else (or when
   either is not a number) 0: no watchdog. */
uint64_t hub_sd_watchdog_usec(void);

/*
 * Socket activation: when $LISTEN_PID is getpid(), the $LISTEN_FDS fds
 * from HUB_SD_LISTEN_FDS_START on, written to @fds (FD_CLOEXEC set on each;
 * each checked to be a listening SOCK_STREAM socket). Returns their count,
 * 0 if none were passed to us (no LISTEN_PID, another process's, or
 * LISTEN_FDS=0), or -errno: -EINVAL when one is not a listening stream
 * socket or LISTEN_* is not a number, -EBADF when one is not open, -E2BIG
 * when there are more than @max. LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
 * (names are not used) are unset on every call, as sd_listen_fds(1) does,
 * so nothing we start inherits them. Call it once, before threads start
 * (setenv/unsetenv are not thread-safe). The fds are the caller's.
 */
int hub_sd_listen_fds(int *fds, int max);

/*
 * Start a thread that sends WATCHDOG=1 at once and then every @usec/2
 * while @alive(@arg) says true: @alive is called on that thread, once per
 * period. When it says false nothing is sent and it is asked again the
 * next period, so that systemd's watchdog fires if the hub stays stuck.
 * The NOTIFY_SOCKET address is read here, once. Returns 0 (also when
 * NOTIFY_SOCKET is unset: then no thread runs), or -errno: -EINVAL for
 * @usec 0 or a bad address, -EBUSY if already started, pthread's error.
 * The thread inherits the caller's signal mask: block signals first.
 */
int hub_sd_watchdog_start(uint64_t usec, bool (*alive)(void *), void *arg);
/* Stop the thread and join it (wakes it at once, mid-period); safe if it
   was never started, and a start may follow. */
void hub_sd_watchdog_stop(void);

#endif
