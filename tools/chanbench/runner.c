/* SPDX-License-Identifier: MIT */
/*
 * Child processes, the shared control page, and cleanup.
 *
 * Every object the run creates is registered here before it is created
 * and unregistered after it is removed, so that an error path or a
 * SIGINT, SIGTERM or SIGHUP removes whatever exists at that moment.  The
 * signal handler uses only async-signal-safe calls (kill, unlink,
 * mq_unlink, write), which is why the table stores ready-made paths.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_OBJECTS 8

struct object {
	volatile sig_atomic_t used;
	enum naming naming;
	char path[NAME_LEN + 64]; /* file to unlink, or mq name */
};

static struct object objects[MAX_OBJECTS];
static volatile pid_t children[MAX_PROCS];
static struct ctl *ctl_page;
static char prefix[32];
static unsigned names_made;

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fail(struct proc_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->err, sizeof(res->err), fmt, ap);
	va_end(ap);
}

const char *name_prefix(void)
{
	return prefix;
}

/* Store the next name of this run, with a leading slash if with_slash. */
static void next_name(char *buf, size_t size, bool with_slash)
{
	snprintf(buf, size, "%s%s%u", with_slash ? "/" : "", prefix,
		 names_made++);
}

static void remove_object(const struct object *o)
{
	if (o->naming == NAMING_MQ)
		mq_unlink(o->path);
	else
		unlink(o->path);
}

static void kill_children(void)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	}
}

static void on_signal(int sig)
{
	static const char msg[] =
	    "chanbench: interrupted; children killed, objects removed\n";

	kill_children();
	for (int i = 0; i < MAX_OBJECTS; i++) {
		if (objects[i].used)
			remove_object(&objects[i]);
	}
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* Nothing more can be done inside a signal handler. */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static struct object *register_object(const struct link *link)
{
	for (int i = 0; i < MAX_OBJECTS; i++) {
		struct object *o = &objects[i];

		if (o->used)
			continue;
		o->naming = link->t->naming;
		if (o->naming == NAMING_CHAN)
			transport_chan_path(link->name, o->path,
					    sizeof(o->path));
		else if (o->naming == NAMING_SHM)
			snprintf(o->path, sizeof(o->path), "/dev/shm%s",
				 link->name);
		else
			snprintf(o->path, sizeof(o->path), "%s", link->name);
		o->used = 1;
		return o;
	}
	return NULL;
}

static void unregister_object(const struct link *link)
{
	char path[NAME_LEN + 64];

	for (int i = 0; i < MAX_OBJECTS; i++) {
		struct object *o = &objects[i];

		if (!o->used)
			continue;
		if (o->naming == NAMING_CHAN)
			transport_chan_path(link->name, path, sizeof(path));
		else if (o->naming == NAMING_SHM)
			snprintf(path, sizeof(path), "/dev/shm%s", link->name);
		else
			snprintf(path, sizeof(path), "%s", link->name);
		if (strcmp(path, o->path) == 0)
			o->used = 0;
	}
}

void runner_init(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t chld;

	snprintf(prefix, sizeof(prefix), "chanbench-%d-", (int)getpid());

	ctl_page = mmap(NULL, sizeof(*ctl_page), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl_page == MAP_FAILED) {
		fprintf(stderr,
			"chanbench: failed to map the control page: %m\n");
		exit(1);
	}

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* SIGCHLD stays blocked so that sigtimedwait() can wait for it. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
}

int link_create(struct link *link, const struct transport *t, size_t size)
{
	struct object *o = NULL;
	int r;

	memset(link, 0, sizeof(*link));
	link->t = t;
	link->fd[0] = link->fd[1] = -1;
	link->msg_size = size;
	link->capacity = cfg.capacity;
	if (t->naming != NAMING_NONE) {
		next_name(link->name, sizeof(link->name),
			  t->naming != NAMING_CHAN);
		o = register_object(link);
		if (o == NULL)
			return -ENOSPC;
	}

	r = t->create(link);
	if (r < 0) {
		if (o != NULL)
			o->used = 0;
		return r;
	}
	link->created = true;
	return 0;
}

void link_destroy(struct link *link)
{
	if (!link->created)
		return;
	link->t->destroy(link);
	if (link->t->naming != NAMING_NONE)
		unregister_object(link);
	link->created = false;
}

void cleanup_all(void)
{
	kill_children();
	for (int i = 0; i < MAX_OBJECTS; i++) {
		if (objects[i].used)
			remove_object(&objects[i]);
		objects[i].used = 0;
	}
}

/* Report entries of dir whose name contains this run's prefix. */
static int scan_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int leaks = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, prefix) != NULL) {
			fprintf(
			    stderr,
			    "chanbench: leak check: %s/%s was left behind\n",
			    dir, e->d_name);
			leaks++;
		}
	}
	closedir(d);
	return leaks;
}

/*
 * Check that no object of this run is left: scan the shared-memory
 * directories, and try each message queue name made, since /dev/mqueue is
 * not always mounted.  Returns the number of objects left.
 */
int leak_check(void)
{
	const char *dir = secure_getenv("CHAN_SHM_DIR");
	int leaks = scan_dir("/dev/shm") + scan_dir("/dev/mqueue");
	char name[NAME_LEN];

	if (dir != NULL && dir[0] != '\0' && strcmp(dir, "/dev/shm") != 0)
		leaks += scan_dir(dir);

	for (unsigned i = 0; i < names_made; i++) {
		mqd_t mq;

		snprintf(name, sizeof(name), "/%s%u", prefix, i);
		mq = mq_open(name, O_RDONLY);
		if (mq != (mqd_t)-1) {
			mq_close(mq);
			fprintf(stderr,
				"chanbench: leak check: message queue %s was "
				"left behind\n",
				name);
			leaks++;
		}
	}
	return leaks;
}

static void pin_to(int index)
{
	cpu_set_t set;

	if (!cfg.pin || cfg.ncpus < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cfg.cpus[index % cfg.ncpus], &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void child_main(struct job *job, int index, pid_t parent)
{
	struct proc_result *res = &job->ctl->res[index];
	sigset_t all;
	int r;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	pin_to(index);

	r = job->roles[index](job, index, res);
	if (r < 0 && res->err[0] == '\0')
		fail(res, "failed without a reason");
	_exit(r < 0 ? 1 : 0);
}

/* Wait until every child has reached this point, then return. */
void job_barrier(struct job *job)
{
	unsigned spins = 0;

	__atomic_add_fetch(&job->ctl->ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&job->ctl->ready, __ATOMIC_ACQUIRE) <
	       (uint32_t)job->nprocs)
		spin_pause(&spins);
}

/* Reap the children that have exited.  Returns the number still running. */
static int reap(struct job *job)
{
	int alive = 0;

	for (int i = 0; i < job->nprocs; i++) {
		if (job->pids[i] <= 0)
			continue;
		if (waitpid(job->pids[i], &job->status[i], WNOHANG) > 0) {
			job->pids[i] = 0;
			children[i] = 0;
		} else {
			alive++;
		}
	}
	return alive;
}

static bool child_failed(const struct job *job, int i)
{
	return job->pids[i] == 0 &&
	       !(WIFEXITED(job->status[i]) && WEXITSTATUS(job->status[i]) == 0);
}

static int first_failure(const struct job *job)
{
	for (int i = 0; i < job->nprocs; i++) {
		if (child_failed(job, i))
			return i;
	}
	return -1;
}

/*
 * Poll a flag set by a child, for the parent hook of a job.  Returns 0
 * once it is set, or -1 if a child failed or the run timed out.
 */
int job_wait_flag(struct job *job, const uint32_t *flag)
{
	int64_t deadline = now_ns() + (int64_t)(cfg.timeout_s * 1e9);
	struct timespec ms = {.tv_nsec = 1000000};

	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == 0) {
		reap(job);
		if (first_failure(job) >= 0 || now_ns() > deadline)
			return -1;
		nanosleep(&ms, NULL);
	}
	return 0;
}

static void report_failure(const struct job *job, int i)
{
	const char *err = job->ctl->res[i].err;
	int st = job->status[i];

	if (err[0] != '\0')
		fprintf(stderr, "chanbench: %s: %s\n", job->what, err);
	else if (WIFSIGNALED(st))
		fprintf(stderr,
			"chanbench: %s: process %d killed by signal %d (%s)\n",
			job->what, i, WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		fprintf(stderr,
			"chanbench: %s: process %d exited with status %d\n",
			job->what, i, WEXITSTATUS(st));
}

/* Wait for all children, killing the rest once one fails or time is up. */
static int wait_children(struct job *job)
{
	int64_t deadline = now_ns() + (int64_t)(cfg.timeout_s * 1e9);
	bool timed_out = false;
	sigset_t chld;
	int failed = -1;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (reap(job) > 0) {
		struct timespec slice = {.tv_nsec = 100000000};

		if (failed < 0)
			failed = first_failure(job);
		if (failed >= 0 || timed_out) {
			kill_children();
		} else if (now_ns() > deadline) {
			timed_out = true;
			kill_children();
		}
		sigtimedwait(&chld, NULL, &slice);
	}

	if (failed < 0)
		failed = first_failure(job);
	if (timed_out) {
		fprintf(
		    stderr,
		    "chanbench: %s: no result after %.0f s; the processes were "
		    "killed (raise --timeout if the machine is slow)\n",
		    job->what, cfg.timeout_s);
		return -1;
	}
	if (failed >= 0) {
		report_failure(job, failed);
		return -1;
	}
	return 0;
}

int job_run(struct job *job)
{
	pid_t parent = getpid();
	int r = 0;

	memset(job->pids, 0, sizeof(job->pids));
	memset(ctl_page, 0, sizeof(*ctl_page));
	job->ctl = ctl_page;
	job->corrupt_seq = cfg.corrupt_seq;
	fflush(NULL);

	for (int i = 0; i < job->nprocs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "chanbench: %s: fork failed: %m\n",
				job->what);
			job->nprocs = i;
			kill_children();
			wait_children(job);
			return -1;
		}
		if (pid == 0)
			child_main(job, i, parent);
		job->pids[i] = pid;
		children[i] = pid;
	}

	if (job->parent != NULL)
		r = job->parent(job);
	if (r < 0 && first_failure(job) < 0) {
		/* The parent hook has reported its own error. */
		kill_children();
		while (reap(job) > 0)
			sched_yield();
		return -1;
	}
	return wait_children(job);
}
