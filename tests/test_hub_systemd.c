/* SPDX-License-Identifier: MIT */
/*
 * test_hub_systemd.c -- src/hub/systemd.c against a fake systemd: AF_UNIX
 * datagram sockets bound here (a path in a mkdtemp() directory, and a name
 * in the abstract namespace) that receive what the hub would send, with
 * the sender's credentials (systemd's NotifyAccess=main checks the pid).
 * The watchdog thread timed on the real clock; socket activation with
 * listening sockets dup2()'d onto fds 3 and 4, as systemd passes them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "hub/systemd.h"

/* Fds below this are left to the activation tests. */
#define FD_FLOOR 10

static char dir[64], sock_path[96], abstract_name[64];
static int path_fd = -1, abstract_fd = -1;	/* the fake systemd's ends */

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* @fd moved to FD_FLOOR or above (close-on-exec), so fds 3.. stay free. */
static int lift(int fd)
{
	int hi;

	assert_true(fd >= 0);
	hi = fcntl(fd, F_DUPFD_CLOEXEC, FD_FLOOR);
	assert_true(hi >= FD_FLOOR);
	close(fd);
	return hi;
}

/* A datagram socket bound to @sa, asking for the senders' credentials. */
static int fake_systemd(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (const struct sockaddr *)sa, len), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
				    sizeof(one)), 0);
	return lift(fd);
}

/*
 * The next datagram on @fd within @ms, NUL-terminated in @buf: its length,
 * or -1 if none came. The sender's pid goes to @pid (if not NULL).
 */
static int recv_state(int fd, char *buf, size_t cap, int ms, pid_t *pid)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap - 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t n;

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	n = recvmsg(fd, &mh, MSG_DONTWAIT);
	assert_true(n >= 0);
	assert_false(mh.msg_flags & MSG_TRUNC);
	buf[n] = '\0';
	if (pid) {
		*pid = 0;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred uc;

				memcpy(&uc, CMSG_DATA(c), sizeof(uc));
				*pid = uc.pid;
			}
	}
	return (int)n;
}

/* Exactly @want (every byte, nothing more) from our own pid, and then
   nothing else waiting. */
static void expect_state(int fd, const char *want)
{
	char buf[4096];
	pid_t pid;
	int n = recv_state(fd, buf, sizeof(buf), 2000, &pid);

	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	assert_int_equal(pid, getpid());
	assert_int_equal(recv_state(fd, buf, sizeof(buf), 0, NULL), -1);
}

static void expect_nothing(int fd, int ms)
{
	char buf[4096];

	assert_int_equal(recv_state(fd, buf, sizeof(buf), ms, NULL), -1);
}

static void clear_env(void)
{
	static const char *const names[] = {
		"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
		"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
}

static int setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;

	(void)state;
	clear_env();
	strcpy(dir, "/tmp/rc-sd-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/notify", dir);
	strcpy(sa.sun_path, sock_path);
	path_fd = fake_systemd(&sa, sizeof(sa));

	snprintf(abstract_name, sizeof(abstract_name), "@rc-sd-test-%d-%.6s",
		 (int)getpid(), dir + strlen("/tmp/rc-sd-"));
	n = strlen(abstract_name);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, abstract_name + 1, n - 1);
	abstract_fd = fake_systemd(&sa, (socklen_t)(offsetof(struct sockaddr_un,
							      sun_path) + n));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hub_sd_watchdog_stop();
	close(path_fd);
	close(abstract_fd);
	unlink(sock_path);
	rmdir(dir);
	clear_env();
	return 0;
}

/* Each test starts with no systemd variable set and nothing queued. */
static int clean(void **state)
{
	char buf[4096];

	(void)state;
	clear_env();
	while (recv_state(path_fd, buf, sizeof(buf), 0, NULL) >= 0)
		;
	while (recv_state(abstract_fd, buf, sizeof(buf), 0, NULL) >= 0)
		;
	return 0;
}

/* ---- notify ---- */

static void test_notify_path(void **state)
{
	(void)state;
	setenv("NOTIFY_SOCKET", sock_path, 1);
	assert_int_equal(hub_sd_notify("READY=1"), 0);
	expect_state(path_fd, "READY=1");
	assert_int_equal(hub_sd_notify("STOPPING=1\nSTATUS=draining"), 0);
	expect_state(path_fd, "STOPPING=1\nSTATUS=draining");
	expect_nothing(abstract_fd, 0);
	/* Not unset: the next state goes too (sd_notify(0, ...)). */
	assert_string_equal(getenv("NOTIFY_SOCKET"), sock_path);
}

static void test_notify_abstract(void **state)
{
	(void)state;
	setenv("NOTIFY_SOCKET", abstract_name, 1);
	assert_int_equal(hub_sd_notify("READY=1"), 0);
	expect_state(abstract_fd, "READY=1");
	expect_nothing(path_fd, 0);
}

static void test_notifyf(void **state)
{
	char big[3000];

	(void)state;
	setenv("NOTIFY_SOCKET", sock_path, 1);
	assert_int_equal(hub_sd_notifyf("READY=1\nSTATUS=listening on %s:%d"
					"\nMAINPID=%d", "::1", 8080, 4242), 0);
	expect_state(path_fd, "READY=1\nSTATUS=listening on ::1:8080\n"
			      "MAINPID=4242");
	/* Longer than any fixed buffer one might have picked. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(hub_sd_notifyf("STATUS=%s", big), 0);
	{
		char want[sizeof(big) + 8];

		snprintf(want, sizeof(want), "STATUS=%s", big);
		expect_state(path_fd, want);
	}
	setenv("NOTIFY_SOCKET", abstract_name, 1);
	assert_int_equal(hub_sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
					123456789ULL), 0);
	expect_state(abstract_fd, "RELOADING=1\nMONOTONIC_USEC=123456789");
}

static void test_notify_unset(void **state)
{
	(void)state;
	assert_int_equal(hub_sd_notify("READY=1"), 1);
	assert_int_equal(hub_sd_notifyf("READY=%d", 1), 1);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(hub_sd_notify("READY=1"), 1);
	assert_int_equal(hub_sd_notifyf("READY=%d", 1), 1);
	expect_nothing(path_fd, 100);
	expect_nothing(abstract_fd, 0);
}

static void test_notify_bad(void **state)
{
	char stale[128], file[128], longp[200];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	(void)state;
	setenv("NOTIFY_SOCKET", "/nonexistent-rc-dir/notify", 1);
	assert_int_equal(hub_sd_notify("READY=1"), -ENOENT);
	assert_int_equal(hub_sd_notifyf("READY=%d", 1), -ENOENT);
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	assert_int_equal(hub_sd_notify("READY=1"), -EINVAL);
	setenv("NOTIFY_SOCKET", "@", 1);
	assert_int_equal(hub_sd_notify("READY=1"), -EINVAL);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(hub_sd_notify("READY=1"), -EAFNOSUPPORT);
	/* Longer than sun_path holds. */
	longp[0] = '/';
	memset(longp + 1, 'a', sizeof(longp) - 2);
	longp[sizeof(longp) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longp, 1);
	assert_int_equal(hub_sd_notify("READY=1"), -EINVAL);
	longp[0] = '@';
	setenv("NOTIFY_SOCKET", longp, 1);
	assert_int_equal(hub_sd_notify("READY=1"), -EINVAL);

	/* A socket file nobody reads any more (systemd gone). */
	snprintf(stale, sizeof(stale), "%s/stale", dir);
	strcpy(sa.sun_path, stale);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	setenv("NOTIFY_SOCKET", stale, 1);
	assert_int_equal(hub_sd_notify("READY=1"), -ECONNREFUSED);
	unlink(stale);

	/* Not a socket at all. */
	snprintf(file, sizeof(file), "%s/file", dir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	setenv("NOTIFY_SOCKET", file, 1);
	assert_int_equal(hub_sd_notify("READY=1"), -ECONNREFUSED);
	unlink(file);

	setenv("NOTIFY_SOCKET", sock_path, 1);
	assert_int_equal(hub_sd_notify(NULL), -EINVAL);
	expect_nothing(path_fd, 0);
}

/* ---- watchdog ---- */

static void test_watchdog_usec(void **state)
{
	char pid[32];

	(void)state;
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "10000000", 1);
	assert_int_equal(hub_sd_watchdog_usec(), 10000000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(hub_sd_watchdog_usec(), 10000000);
	/* Another process's watchdog (pid 1 is never us in a test). */
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_PID", "x", 1);
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "10s", 1);
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "", 1);
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "99999999999999999999999", 1);
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "18446744073709551616", 1);
	assert_int_equal(hub_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "18446744073709551615", 1);
	assert_true(hub_sd_watchdog_usec() == UINT64_MAX);
}

struct probe {
	atomic_bool ok;		/* what alive() answers */
	atomic_int calls;
};

static bool alive(void *arg)
{
	struct probe *p = arg;

	atomic_fetch_add(&p->calls, 1);
	return atomic_load(&p->ok);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* WATCHDOG_USEC=100000: a datagram about every 50 ms, each exactly
   "WATCHDOG=1" from our pid; none after stop. */
static void test_watchdog_alive(void **state)
{
	struct probe p = { .ok = true };
	uint64_t t0, t, at[64], gap[64];
	char buf[64];
	pid_t pid;
	int n = 0, len;

	(void)state;
	setenv("NOTIFY_SOCKET", sock_path, 1);
	t0 = now_ms();
	assert_int_equal(hub_sd_watchdog_start(100000, alive, &p), 0);
	while ((t = now_ms()) < t0 + 500) {
		len = recv_state(path_fd, buf, sizeof(buf),
				 (int)(t0 + 500 - t), &pid);
		if (len < 0)
			break;
		assert_string_equal(buf, "WATCHDOG=1");
		assert_int_equal(pid, getpid());
		assert_true(n < 64);
		at[n++] = now_ms();
	}
	t = now_ms();
	hub_sd_watchdog_stop();
	/* The stop wakes the thread mid-period. */
	assert_true(now_ms() - t < 200);
	/* 11 on time (one at start, then every 50 ms); a loaded box may
	   lose a few, but not most. A period of usec, not usec/2, gives 6;
	   a thread that does not wait, hundreds. */
	assert_true(n >= 4);
	assert_true(n <= 20);
	assert_true(atomic_load(&p.calls) >= n);
	/* The median gap is the period, whatever a late wake-up did. */
	for (int i = 1; i < n; i++)
		gap[i - 1] = at[i] - at[i - 1];
	qsort(gap, (size_t)n - 1, sizeof(gap[0]), cmp_u64);
	assert_in_range(gap[(n - 1) / 2], 25, 85);

	expect_nothing(path_fd, 150);
	hub_sd_watchdog_stop();		/* twice: no-op */
}

/* alive() false: nothing is sent, but it is asked again every period;
   once it says true again, datagrams come back. */
static void test_watchdog_stuck(void **state)
{
	struct probe p = { .ok = false };
	char buf[64];
	int calls;

	(void)state;
	setenv("NOTIFY_SOCKET", abstract_name, 1);
	assert_int_equal(hub_sd_watchdog_start(100000, alive, &p), 0);
	expect_nothing(abstract_fd, 500);
	calls = atomic_load(&p.calls);
	assert_true(calls >= 4);
	assert_true(calls <= 20);
	atomic_store(&p.ok, true);
	assert_int_equal(recv_state(abstract_fd, buf, sizeof(buf), 1000, NULL),
			 10);
	assert_string_equal(buf, "WATCHDOG=1");
	hub_sd_watchdog_stop();
	/* Drained after the stop: at most what was sent before it. */
	while (recv_state(abstract_fd, buf, sizeof(buf), 0, NULL) >= 0)
		assert_string_equal(buf, "WATCHDOG=1");
	expect_nothing(abstract_fd, 150);
}

/* Start's own errors, and a stop that does not wait out a long period. */
static void test_watchdog_start_stop(void **state)
{
	struct probe p = { .ok = true };
	uint64_t t;

	(void)state;
	hub_sd_watchdog_stop();		/* never started: no-op */
	setenv("NOTIFY_SOCKET", sock_path, 1);
	assert_int_equal(hub_sd_watchdog_start(0, alive, &p), -EINVAL);
	assert_int_equal(hub_sd_watchdog_start(100000, NULL, &p), -EINVAL);

	/* A 10 s period: the first datagram at once, and a prompt stop. */
	assert_int_equal(hub_sd_watchdog_start(20000000, alive, &p), 0);
	assert_int_equal(hub_sd_watchdog_start(20000000, alive, &p), -EBUSY);
	expect_state(path_fd, "WATCHDOG=1");
	t = now_ms();
	hub_sd_watchdog_stop();
	assert_true(now_ms() - t < 500);

	/* Started again after a stop. */
	assert_int_equal(hub_sd_watchdog_start(20000000, alive, &p), 0);
	expect_state(path_fd, "WATCHDOG=1");
	hub_sd_watchdog_stop();

	/* A bad address is reported at start; none set starts nothing. */
	setenv("NOTIFY_SOCKET", "relative", 1);
	assert_int_equal(hub_sd_watchdog_start(100000, alive, &p), -EINVAL);
	unsetenv("NOTIFY_SOCKET");
	atomic_store(&p.calls, 0);
	assert_int_equal(hub_sd_watchdog_start(100000, alive, &p), 0);
	usleep(150000);
	assert_int_equal(atomic_load(&p.calls), 0);
	hub_sd_watchdog_stop();
	expect_nothing(path_fd, 0);
}

/* ---- socket activation ---- */

/* Whatever the process had on fds 3 and 4, kept aside during a test. */
static int saved[5] = { -1, -1, -1, -1, -1 };

static int free_fds(void **state)
{
	clean(state);
	for (int fd = 3; fd <= 4; fd++) {
		saved[fd] = -1;
		if (fcntl(fd, F_GETFD) >= 0)
			saved[fd] = lift(fd);
	}
	return 0;
}

static int restore_fds(void **state)
{
	(void)state;
	for (int fd = 3; fd <= 4; fd++) {
		close(fd);
		if (saved[fd] >= 0) {
			assert_int_equal(dup2(saved[fd], fd), fd);
			close(saved[fd]);
		}
	}
	clear_env();
	return 0;
}

/* @fd moved onto @target (dup2() leaves FD_CLOEXEC clear, as exec does). */
static void place(int fd, int target)
{
	assert_true(fd >= 0);
	if (fd == target)
		return;
	assert_int_equal(dup2(fd, target), target);
	close(fd);
}

/* A TCP socket on 127.0.0.1, listening if @listening: its port. */
static int tcp_socket(int target, int type, bool listening)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	place(socket(AF_INET, type, 0), target);
	assert_int_equal(bind(target, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listening)
		assert_int_equal(listen(target, 16), 0);
	assert_int_equal(getsockname(target, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

static int port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

static void set_listen_env(const char *pid, const char *n)
{
	char me[32];

	if (!pid) {
		snprintf(me, sizeof(me), "%d", (int)getpid());
		pid = me;
	}
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", n, 1);
	setenv("LISTEN_FDNAMES", "web:web", 1);
}

static bool env_gone(void)
{
	return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") &&
	       !getenv("LISTEN_FDNAMES");
}

static void test_listen_fds(void **state)
{
	int port3, port4, fds[8] = { -1, -1 };

	(void)state;
	port3 = tcp_socket(3, SOCK_STREAM, true);
	port4 = tcp_socket(4, SOCK_STREAM, true);
	assert_false(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(4, F_GETFD) & FD_CLOEXEC);
	set_listen_env(NULL, "2");
	assert_int_equal(hub_sd_listen_fds(fds, 8), 2);
	assert_int_equal(fds[0], 3);
	assert_int_equal(fds[1], 4);
	assert_int_equal(port_of(fds[0]), port3);
	assert_int_equal(port_of(fds[1]), port4);
	assert_true(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(4, F_GETFD) & FD_CLOEXEC);
	assert_true(env_gone());
	/* Once taken, a second call finds nothing (and leaves fds open). */
	assert_int_equal(hub_sd_listen_fds(fds, 8), 0);
	assert_true(fcntl(3, F_GETFD) >= 0);

	/* Exactly max is fine; one more than max is not. */
	set_listen_env(NULL, "1");
	assert_int_equal(hub_sd_listen_fds(fds, 1), 1);
	set_listen_env(NULL, "2");
	assert_int_equal(hub_sd_listen_fds(fds, 1), -E2BIG);
	assert_true(env_gone());
	/* LISTEN_FDS=0 and no LISTEN_FDS: none. */
	set_listen_env(NULL, "0");
	assert_int_equal(hub_sd_listen_fds(fds, 8), 0);
	assert_true(env_gone());
	set_listen_env(NULL, "1");
	unsetenv("LISTEN_FDS");
	assert_int_equal(hub_sd_listen_fds(fds, 8), 0);
	assert_true(env_gone());
	/* No LISTEN_PID at all. */
	setenv("LISTEN_FDS", "2", 1);
	assert_int_equal(hub_sd_listen_fds(fds, 8), 0);
	assert_true(env_gone());
}

/* Meant for another process: 0, our fds untouched, the variables gone. */
static void test_listen_fds_other_pid(void **state)
{
	char pid[32];
	int fds[8] = { -1 };

	(void)state;
	tcp_socket(3, SOCK_STREAM, true);
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	set_listen_env(pid, "1");
	assert_int_equal(hub_sd_listen_fds(fds, 8), 0);
	assert_int_equal(fds[0], -1);
	assert_false(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_true(env_gone());
	set_listen_env("1", "1");
	assert_int_equal(hub_sd_listen_fds(fds, 8), 0);
	assert_false(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_true(env_gone());
}

static void test_listen_fds_bad(void **state)
{
	int fds[8], p[2];

	(void)state;
	/* A listener, then a bound TCP socket that does not listen. */
	tcp_socket(3, SOCK_STREAM, true);
	tcp_socket(4, SOCK_STREAM, false);
	set_listen_env(NULL, "2");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EINVAL);
	assert_true(env_gone());
	/* UDP. */
	close(4);
	tcp_socket(4, SOCK_DGRAM, false);
	set_listen_env(NULL, "2");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EINVAL);
	/* Listening, but not a stream: SOCK_SEQPACKET. */
	close(4);
	place(socket(AF_UNIX, SOCK_SEQPACKET, 0), 4);
	assert_int_equal(bind(4, (struct sockaddr *)&(struct sockaddr_un){
				      .sun_family = AF_UNIX },
			      offsetof(struct sockaddr_un, sun_path)), 0);
	assert_int_equal(listen(4, 4), 0);
	set_listen_env(NULL, "2");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EINVAL);
	/* Not a socket. */
	close(4);
	assert_int_equal(pipe(p), 0);
	place(p[0], 4);
	set_listen_env(NULL, "2");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EINVAL);
	close(p[1]);
	/* Not open. */
	close(4);
	set_listen_env(NULL, "2");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EBADF);
	/* Malformed variables. */
	set_listen_env(NULL, "two");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EINVAL);
	assert_true(env_gone());
	set_listen_env(NULL, "-1");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EINVAL);
	set_listen_env(NULL, "99999999999");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EINVAL);
	set_listen_env("me", "1");
	assert_int_equal(hub_sd_listen_fds(fds, 8), -EINVAL);
	assert_true(env_gone());
	/* And fd 3, a good one, still works alone. */
	set_listen_env(NULL, "1");
	assert_int_equal(hub_sd_listen_fds(fds, 8), 1);
	assert_int_equal(fds[0], 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_notify_path, clean),
		cmocka_unit_test_setup(test_notify_abstract, clean),
		cmocka_unit_test_setup(test_notifyf, clean),
		cmocka_unit_test_setup(test_notify_unset, clean),
		cmocka_unit_test_setup(test_notify_bad, clean),
		cmocka_unit_test_setup(test_watchdog_usec, clean),
		cmocka_unit_test_setup(test_watchdog_alive, clean),
		cmocka_unit_test_setup(test_watchdog_stuck, clean),
		cmocka_unit_test_setup(test_watchdog_start_stop, clean),
		cmocka_unit_test_setup_teardown(test_listen_fds, free_fds,
						restore_fds),
		cmocka_unit_test_setup_teardown(test_listen_fds_other_pid,
						free_fds, restore_fds),
		cmocka_unit_test_setup_teardown(test_listen_fds_bad, free_fds,
						restore_fds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
