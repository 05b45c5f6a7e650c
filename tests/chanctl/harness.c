/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "harness.h"

struct buffer {
	char *data;
	size_t len, allocated;
};

static void die(const char *call)
{
	perror(call);
	abort();
}

static void buffer_read(struct buffer *b, int fd, bool *open)
{
	char chunk[65536];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		*open = false;
		return;
	}
	if (b->len + (size_t)n + 1 > b->allocated) {
		b->allocated = (b->len + (size_t)n + 1) * 2;
		b->data = realloc(b->data, b->allocated);
		if (b->data == NULL)
			die("realloc");
	}
	memcpy(b->data + b->len, chunk, (size_t)n);
	b->len += (size_t)n;
}

static char *buffer_finish(struct buffer *b, size_t *len)
{
	if (b->data == NULL)
		b->data = calloc(1, 1);
	else
		b->data[b->len] = '\0';
	*len = b->len;
	return b->data;
}

int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int wait_status_timeout(pid_t pid, int timeout_ms)
{
	const struct timespec pause = {.tv_nsec = 5 * 1000 * 1000};
	int status;

	for (int waited = 0; waited < timeout_ms; waited += 5) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r < 0 && errno != EINTR)
			die("waitpid");
		if (r == pid)
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status)
						   : WEXITSTATUS(status);
		nanosleep(&pause, NULL);
	}
	kill(pid, SIGKILL);
	wait_status(pid);
	return -1;
}

/*
 * Fork with SIGINT and SIGTERM blocked until exec_child() has reset them,
 * because a signal meant for chanctl that reached the child earlier would
 * run the handler of Check, which kills the whole process group.
 */
static pid_t fork_child(void)
{
	sigset_t blocked, saved;
	pid_t pid;

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	sigprocmask(SIG_BLOCK, &blocked, &saved);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &saved, NULL);
	return pid;
}

/*
 * In the child: connect the pipes and run argv, or exit 127.  The signals
 * that chanctl handles start with their default action and unblocked,
 * whatever the test runner inherited: a shell starts background jobs with
 * SIGINT ignored.  The child dies with the test that started it, so that a
 * failed assertion leaves no daemon or blocked receiver behind.
 */
static void exec_child(const char *const argv[], int in, int out, int err)
{
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);

	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	alarm(CHILD_TIMEOUT_SEC);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

void run_argv(struct result *res, const void *input, size_t input_len,
	      const char *const argv[])
{
	struct buffer out = {0}, err = {0};
	int in_pipe[2], out_pipe[2], err_pipe[2];
	bool out_open = true, err_open = true;
	size_t written = 0;
	pid_t pid;

	if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0 ||
	    pipe2(err_pipe, O_CLOEXEC) < 0)
		die("pipe2");
	pid = fork_child();
	if (pid == 0)
		exec_child(argv, in_pipe[0], out_pipe[1], err_pipe[1]);
	close(in_pipe[0]);
	close(out_pipe[1]);
	close(err_pipe[1]);

	/* The input must not fill a pipe while the outputs are unread. */
	signal(SIGPIPE, SIG_IGN);
	if (input_len == 0) {
		close(in_pipe[1]);
		in_pipe[1] = -1;
	}
	while (out_open || err_open || in_pipe[1] >= 0) {
		struct pollfd fds[3] = {
		    {.fd = out_open ? out_pipe[0] : -1, .events = POLLIN},
		    {.fd = err_open ? err_pipe[0] : -1, .events = POLLIN},
		    {.fd = in_pipe[1], .events = POLLOUT},
		};

		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (fds[0].revents)
			buffer_read(&out, out_pipe[0], &out_open);
		if (fds[1].revents)
			buffer_read(&err, err_pipe[0], &err_open);
		if (fds[2].revents) {
			ssize_t n =
			    write(in_pipe[1], (const char *)input + written,
				  input_len - written);

			if (n > 0)
				written += (size_t)n;
			if (n < 0 || written == input_len) {
				close(in_pipe[1]);
				in_pipe[1] = -1;
			}
		}
	}
	close(out_pipe[0]);
	close(err_pipe[0]);

	res->status = wait_status(pid);
	res->out = buffer_finish(&out, &res->out_len);
	res->err = buffer_finish(&err, &res->err_len);
}

void result_free(struct result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

pid_t spawn_argv(const char *const argv[])
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid;

	if (null_fd < 0)
		die("open /dev/null");
	pid = fork_child();
	if (pid == 0)
		exec_child(argv, null_fd, null_fd, STDERR_FILENO);
	close(null_fd);
	return pid;
}

pid_t spawn_piped(const char *const argv[], int *in_fd, int *out_fd, bool group)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
	pid_t pid;

	if (null_fd < 0)
		die("open /dev/null");
	if ((in_fd != NULL && pipe2(in_pipe, O_CLOEXEC) < 0) ||
	    (out_fd != NULL && pipe2(out_pipe, O_CLOEXEC) < 0))
		die("pipe2");
	pid = fork_child();
	if (pid == 0) {
		if (group)
			setpgid(0, 0);
		exec_child(argv, in_fd ? in_pipe[0] : null_fd,
			   out_fd ? out_pipe[1] : null_fd, STDERR_FILENO);
	}
	/* Also in the parent, so that kill(-pid, ...) works at once. */
	if (group)
		setpgid(pid, pid);
	close(null_fd);
	if (in_fd != NULL) {
		close(in_pipe[0]);
		*in_fd = in_pipe[1];
	}
	if (out_fd != NULL) {
		close(out_pipe[1]);
		*out_fd = out_pipe[0];
	}
	return pid;
}

char *read_all(int fd)
{
	struct buffer b = {0};
	bool open = true;
	size_t len;

	while (open)
		buffer_read(&b, fd, &open);
	return buffer_finish(&b, &len);
}

const char *name_prefix(void)
{
	static char prefix[32];

	/* The pid of the test runner, which all forked tests share. */
	if (prefix[0] == '\0')
		snprintf(prefix, sizeof(prefix), "ctltest-%d-", (int)getpid());
	return prefix;
}

void make_name(char *buf, const char *tag)
{
	snprintf(buf, CHAN_NAME_MAX + 1, "%s%s", name_prefix(), tag);
}

void remove_test_segments(void)
{
	char prefix[64];
	struct dirent *entry;
	DIR *dir = opendir("/dev/shm");

	if (dir == NULL)
		return;
	snprintf(prefix, sizeof(prefix), "%s%s", CHAN_SHM_PREFIX,
		 name_prefix());
	while ((entry = readdir(dir)) != NULL)
		if (strncmp(entry->d_name, prefix, strlen(prefix)) == 0)
			unlinkat(dirfd(dir), entry->d_name, 0);
	closedir(dir);
}

int json_u64(const char *json, const char *key, uint64_t *ret)
{
	char pattern[128];
	const char *at;
	char *end;

	snprintf(pattern, sizeof(pattern), "\"%s\": ", key);
	at = strstr(json, pattern);
	if (at == NULL)
		return -1;
	at += strlen(pattern);
	errno = 0;
	*ret = strtoull(at, &end, 10);
	return end == at || errno != 0 ? -1 : 0;
}

int wait_for_receiver(const char *name)
{
	const struct timespec pause = {.tv_nsec = 20 * 1000 * 1000};
	struct result res;
	uint64_t waiters = 0;

	for (int i = 0; i < CHILD_TIMEOUT_SEC * 50; i++) {
		CHANCTL(&res, NULL, "info", "--json", name);
		if (json_u64(res.out, "recv_waiters", &waiters) < 0)
			waiters = 0;
		result_free(&res);
		if (waiters > 0) {
			/* The count rises just before the futex wait starts. */
			nanosleep(&pause, NULL);
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	return -1;
}
