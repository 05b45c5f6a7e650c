/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define SHM_DIR	    "/dev/shm"
#define NAME_PREFIX "libtest-"

/*
 * The test program's main process.  Its pid names every segment of the
 * run, so that it can remove what a failed test, which leaves with
 * _exit() in Check's fork mode, left behind.
 */
static pid_t owner_pid;

static void cleanup_at_exit(void)
{
	if (getpid() == owner_pid)
		tu_cleanup();
}

void tu_init(void)
{
	owner_pid = getpid();
	atexit(cleanup_at_exit);
	tu_cleanup();
}

static int prefix_pid(void)
{
	return owner_pid != 0 ? (int)owner_pid : (int)getpid();
}

void tu_name(char *buf, size_t size, const char *tag)
{
	int n = snprintf(buf, size, NAME_PREFIX "%d-%d-%s", prefix_pid(),
			 (int)getpid(), tag);

	ck_assert_msg(n > 0 && (size_t)n < size,
		      "channel name for tag %s does not fit %zu bytes", tag,
		      size);
}

void tu_shm_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, SHM_DIR "/" CHAN_SHM_PREFIX "%s", name);
}

bool tu_path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/*
 * Whether a /dev/shm entry belongs to this test program: chan.<prefix> or
 * <prefix>, where the prefix carries the program's pid.
 */
static bool owned_entry(const char *entry, const char *prefix)
{
	size_t len = strlen(prefix);

	if (strncmp(entry, CHAN_SHM_PREFIX, strlen(CHAN_SHM_PREFIX)) == 0)
		entry += strlen(CHAN_SHM_PREFIX);
	return strncmp(entry, prefix, len) == 0;
}

void tu_cleanup(void)
{
	char prefix[64], path[PATH_MAX];
	struct dirent *entry;
	DIR *dir;

	snprintf(prefix, sizeof(prefix), NAME_PREFIX "%d-", prefix_pid());
	dir = opendir(SHM_DIR);
	if (dir == NULL)
		return;
	while ((entry = readdir(dir)) != NULL) {
		if (!owned_entry(entry->d_name, prefix))
			continue;
		snprintf(path, sizeof(path), SHM_DIR "/%s", entry->d_name);
		/* Some tests place a directory under a channel's path. */
		if (unlink(path) < 0 && errno == EISDIR)
			rmdir(path);
	}
	closedir(dir);
}

pid_t tu_spawn(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	ck_assert_msg(pid >= 0, "fork failed: %s", strerror(errno));
	if (pid > 0)
		return pid;

	/* Die with the test process, so that no child blocks forever. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(125);
	_exit(fn(arg));
}

int tu_wait(pid_t pid, double timeout_sec)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)(timeout_sec * 1e9);
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return TU_HUNG;
		if (tu_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return TU_HUNG;
		}
		tu_sleep_ms(1);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

const char *tu_status_text(int status)
{
	static char text[64];

	if (status == TU_HUNG)
		return "a hang (killed after the timeout)";
	if (status > 128)
		snprintf(text, sizeof(text), "death by signal %d (%s)",
			 status - 128, strsignal(status - 128));
	else
		snprintf(text, sizeof(text), "exit status %d", status);
	return text;
}

bool tu_running(pid_t pid)
{
	siginfo_t info = {0};

	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
		return false;
	return info.si_pid == 0;
}

void tu_child_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: child %d: ", file, line, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t tu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tu_sleep_ms(unsigned ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000,
	    .tv_nsec = (long)(ms % 1000) * 1000000,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int tu_wait_waiters(struct chan *ch, uint32_t recv_waiters,
		    uint32_t send_waiters, double timeout_sec)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)(timeout_sec * 1e9);
	struct chan_info info;

	while (tu_now_ns() < deadline) {
		if (chan_info(ch, &info) == 0 &&
		    info.recv_waiters >= recv_waiters &&
		    info.send_waiters >= send_waiters)
			return 0;
		tu_sleep_ms(1);
	}
	return -ETIMEDOUT;
}

struct chan *tu_create(const char *name, uint64_t capacity,
		       uint64_t max_msg_size)
{
	struct chan_params params;
	struct chan *ch = NULL;
	int r;

	chan_params_init(&params);
	params.capacity = capacity;
	params.max_msg_size = max_msg_size;
	r = chan_create(name, &params, &ch);
	ck_assert_msg(r == 0, "chan_create(%s): expected 0, got %d (%s)", name,
		      r, chan_error_name(r));
	return ch;
}

uint32_t tu_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t hash = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		hash ^= p[i];
		hash *= 16777619u;
	}
	return hash;
}

uint64_t tu_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}
