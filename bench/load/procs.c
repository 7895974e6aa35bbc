/* SPDX-License-Identifier: MIT */
/* procs.c -- worker processes: fork them, run their threads, collect each one's result over a pipe. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procs.h"
#include "worker.h"

struct thread {
	pthread_t tid;
	const struct rl_cfg *cfg;
	struct rl_shared *shm;
	unsigned index;		/* worker index over all processes */
	bool started;
	struct rl_result res;
};

static void pin(const struct rl_cfg *cfg, unsigned index)
{
	cpu_set_t set;

	if (!cfg->ncpus)
		return;
	CPU_ZERO(&set);
	CPU_SET(cfg->cpus[index % cfg->ncpus], &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Tell the parent this worker will not run, so it does not wait for it. */
static void report_failure(struct rl_shared *shm, unsigned index, int err)
{
	__atomic_store_n(&shm->live[index].err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->live[index].ready, 1, __ATOMIC_RELEASE);
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	/* Large (stats and histogram): on the heap, not the stack. */
	struct rl_worker *w = malloc(sizeof(*w));
	int err = -ENOMEM;

	pin(t->cfg, t->index);
	/* Timed waits end when asked, not up to 50 us later: rate-limited
	   sends are due at exact times. */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	rl_hist_init(&t->res.hist);
	rl_hist_init(&t->res.hist_near);
	rl_hist_init(&t->res.hist_far);
	if (w) {
		err = rl_worker_init(w, t->cfg, t->shm, t->index);
		if (!err)
			rl_worker_run(w);
		t->res.stats = w->stats;
		t->res.hist = w->hist;
		t->res.hist_near = w->hist_near;
		t->res.hist_far = w->hist_far;
		rl_worker_exit(w);
		free(w);
	}
	if (err)
		report_failure(t->shm, t->index, err);
	t->res.err = err;
	return NULL;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t r = write(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -errno;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The body of worker process @proc: never returns. */
static void child(const struct rl_cfg *cfg, struct rl_shared *shm,
		  unsigned proc, int fd, pid_t parent)
{
	struct thread *t = calloc(cfg->threads, sizeof(*t));
	struct rl_result *res = calloc(1, sizeof(*res));
	int ret;

	/* The parent handles ^C for everyone: it ends the run, the workers
	   close their connections and report. Should the parent die, only
	   it could have ended the run: die too. */
	signal(SIGINT, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || !t || !res)
		_exit(1);
	rl_hist_init(&res->hist);
	rl_hist_init(&res->hist_near);
	rl_hist_init(&res->hist_far);
	for (unsigned k = 0; k < cfg->threads; k++) {
		t[k].cfg = cfg;
		t[k].shm = shm;
		t[k].index = proc * cfg->threads + k;
		ret = pthread_create(&t[k].tid, NULL, thread_main, &t[k]);
		if (ret) {
			report_failure(shm, t[k].index, -ret);
			if (!res->err)
				res->err = -ret;
			continue;
		}
		t[k].started = true;
	}
	for (unsigned k = 0; k < cfg->threads; k++) {
		if (!t[k].started)
			continue;
		pthread_join(t[k].tid, NULL);
		rl_stats_add(&res->stats, &t[k].res.stats);
		rl_hist_merge(&res->hist, &t[k].res.hist);
		rl_hist_merge(&res->hist_near, &t[k].res.hist_near);
		rl_hist_merge(&res->hist_far, &t[k].res.hist_far);
		if (t[k].res.err && !res->err)
			res->err = t[k].res.err;
	}
	ret = write_all(fd, res, sizeof(*res));
	_exit(ret ? 1 : 0);
}

int rl_procs_start(struct rl_procs *p, const struct rl_cfg *cfg,
		   struct rl_shared *shm)
{
	pid_t self = getpid();
	int err;

	p->n = 0;
	p->pid = calloc(cfg->procs, sizeof(*p->pid));
	p->fd = calloc(cfg->procs, sizeof(*p->fd));
	if (!p->pid || !p->fd)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->procs; i++) {
		int fds[2];
		pid_t pid;

		if (pipe2(fds, O_CLOEXEC))
			goto out_kill;
		pid = fork();
		if (pid < 0) {
			err = -errno;
			close(fds[0]);
			close(fds[1]);
			errno = -err;
			goto out_kill;
		}
		if (!pid) {
			/* Only its own pipe: the parent must see EOF on a
			   worker's pipe when that worker dies. */
			for (unsigned k = 0; k < p->n; k++)
				close(p->fd[k]);
			close(fds[0]);
			child(cfg, shm, i, fds[1], self);
		}
		close(fds[1]);
		p->pid[i] = pid;
		p->fd[i] = fds[0];
		p->n++;
	}
	return 0;

out_kill:
	err = -errno;
	rl_procs_exit(p);
	return err;
}

unsigned rl_procs_collect(struct rl_procs *p, struct rl_result *out,
			  uint64_t deadline_ns)
{
	struct rl_result *res = calloc(p->n, sizeof(*res));
	size_t *got = calloc(p->n, sizeof(*got));
	struct pollfd *pfd = calloc(p->n, sizeof(*pfd));
	unsigned lost = 0, open = p->n;

	memset(out, 0, sizeof(*out));
	rl_hist_init(&out->hist);
	rl_hist_init(&out->hist_near);
	rl_hist_init(&out->hist_far);
	if (!res || !got || !pfd) {
		free(res);
		free(got);
		free(pfd);
		return p->n;
	}
	while (open) {
		uint64_t now = rl_now();
		int n;

		if (now >= deadline_ns)
			break;
		for (unsigned i = 0; i < p->n; i++) {
			pfd[i].fd = p->fd[i];
			pfd[i].events = POLLIN;
		}
		n = poll(pfd, p->n, (int)((deadline_ns - now) / 1000000) + 1);
		if (n < 0 && errno != EINTR)
			break;
		for (unsigned i = 0; n > 0 && i < p->n; i++) {
			ssize_t r;

			if (p->fd[i] < 0 || !pfd[i].revents)
				continue;
			r = read(p->fd[i], (char *)&res[i] + got[i],
				 sizeof(res[i]) - got[i]);
			if (r < 0 && errno == EINTR)
				continue;
			if (r > 0)
				got[i] += (size_t)r;
			if (r <= 0 || got[i] == sizeof(res[i])) {
				close(p->fd[i]);
				p->fd[i] = -1;
				open--;
			}
		}
	}
	for (unsigned i = 0; i < p->n; i++) {
		if (got[i] != sizeof(res[i])) {
			lost++;
			continue;
		}
		rl_stats_add(&out->stats, &res[i].stats);
		rl_hist_merge(&out->hist, &res[i].hist);
		rl_hist_merge(&out->hist_near, &res[i].hist_near);
		rl_hist_merge(&out->hist_far, &res[i].hist_far);
		if (res[i].err && !out->err)
			out->err = res[i].err;
	}
	free(res);
	free(got);
	free(pfd);
	return lost;
}

void rl_procs_exit(struct rl_procs *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		/* A pipe still open: no result came, so the worker is stuck
		   (or never got going); the others are exiting already. */
		if (p->fd[i] >= 0) {
			close(p->fd[i]);
			kill(p->pid[i], SIGKILL);
		}
		waitpid(p->pid[i], NULL, 0);
	}
	free(p->pid);
	free(p->fd);
	p->pid = NULL;
	p->fd = NULL;
	p->n = 0;
}
