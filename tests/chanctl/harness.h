/* SPDX-License-Identifier: MIT */
/* Run chanctl and other programs as child processes for the tests. */
#ifndef CHANCTL_HARNESS_H
#define CHANCTL_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Every child gets SIGALRM after this many seconds, so none can hang. */
#define CHILD_TIMEOUT_SEC 60

/* What a finished child left: its output and its exit status. */
struct result {
	int status; /* exit status, or 128 + signal if it was killed */
	char *out;  /* standard output, NUL-terminated */
	size_t out_len;
	char *err; /* standard error, NUL-terminated */
	size_t err_len;
};

/*
 * Run argv (searched in PATH) with input on standard input, and wait for
 * it.  input may be NULL for an empty input.
 */
void run_argv(struct result *res, const void *input, size_t input_len,
	      const char *const argv[]);
void result_free(struct result *res);

static inline size_t input_length(const char *input)
{
	return input != NULL ? strlen(input) : 0;
}

/* Run chanctl with the arguments given, and a string as input. */
#define CHANCTL(res, input, ...)                                               \
	run_argv((res), (input), input_length(input),                          \
		 (const char *const[]){CHANCTL_PATH, __VA_ARGS__, NULL})

/* Start argv in the background with standard output on /dev/null. */
pid_t spawn_argv(const char *const argv[]);

/*
 * Start argv in the background.  With in_fd, its standard input is a pipe
 * whose write end is stored in *in_fd.  With out_fd, its standard output
 * is a pipe whose read end is stored in *out_fd.  Each is /dev/null
 * otherwise.  With group, the child leads a process group of its own, so
 * that kill(-pid, ...) reaches the whole pipeline it starts.
 */
pid_t spawn_piped(const char *const argv[], int *in_fd, int *out_fd,
		  bool group);

/* Wait for a child and return its exit status, or 128 + signal. */
int wait_status(pid_t pid);

/*
 * Like wait_status(), but give up after timeout_ms: then kill the child
 * with SIGKILL, reap it and return -1.
 */
int wait_status_timeout(pid_t pid, int timeout_ms);

/* Read fd to its end into a NUL-terminated string; free it. */
char *read_all(int fd);

/*
 * The segment name prefix of this test run, such as "ctltest-1234-", and
 * a channel name made of it and tag, in a buffer of CHAN_NAME_MAX + 1.
 */
const char *name_prefix(void);
void make_name(char *buf, const char *tag);

/* Remove every segment in /dev/shm whose channel name has our prefix. */
void remove_test_segments(void);

/* Read a number from the "key": value member of a JSON text. */
int json_u64(const char *json, const char *key, uint64_t *ret);

/*
 * Wait until a channel has at least one receiver waiting, for up to
 * CHILD_TIMEOUT_SEC.  Returns 0, or -1 if none came.
 */
int wait_for_receiver(const char *name);

#endif /* CHANCTL_HARNESS_H */
