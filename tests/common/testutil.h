/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the chan test programs: unique channel names, child
 * processes with a hang timeout, polling with a deadline, and removal of
 * every segment a test process created.
 *
 * Children run a function and leave with _exit(), so they never run the
 * parent's atexit handlers or report to the Check runner.  Inside a child,
 * use CHILD_EXPECT instead of the ck_assert macros.
 */
#ifndef CHAN_TESTUTIL_H
#define CHAN_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chan.h"

/* The exit status tu_wait() reports for a child that outlived its time. */
#define TU_HUNG (-1)

/* A generous limit that only a hang exceeds, in seconds. */
#define TU_HANG_SEC 30.0

/*
 * Assert that an int-returning call produced the error code expected
 * (0 or a negative errno value), naming both codes on failure.
 */
#define ASSERT_RET(expr, expected)                                             \
	do {                                                                   \
		int tu_r_ = (expr);                                            \
		int tu_e_ = (expected);                                        \
		ck_assert_msg(tu_r_ == tu_e_,                                  \
			      "%s: expected %d (%s), got %d (%s)", #expr,      \
			      tu_e_, chan_error_name(tu_e_), tu_r_,            \
			      chan_error_name(tu_r_));                         \
	} while (0)

/* Assert that two unsigned values are equal, naming both on failure. */
#define ASSERT_U64(actual, expected)                                           \
	do {                                                                   \
		uint64_t tu_a_ = (actual);                                     \
		uint64_t tu_x_ = (expected);                                   \
		ck_assert_msg(tu_a_ == tu_x_, "%s: expected %ju, got %ju",     \
			      #actual, (uintmax_t)tu_x_, (uintmax_t)tu_a_);    \
	} while (0)

/* Assert that a child process exited with status 0. */
#define ASSERT_CHILD_OK(pid)                                                   \
	do {                                                                   \
		int tu_s_ = tu_wait((pid), TU_HANG_SEC);                       \
		ck_assert_msg(tu_s_ == 0,                                      \
			      "child %d: expected exit status 0, got %s",      \
			      (int)(pid), tu_status_text(tu_s_));              \
	} while (0)

/*
 * In a child: print where and why a check failed, and return 1 from the
 * child's function.
 */
#define CHILD_EXPECT(cond, ...)                                                \
	do {                                                                   \
		if (!(cond)) {                                                 \
			tu_child_fail(__FILE__, __LINE__, __VA_ARGS__);        \
			return 1;                                              \
		}                                                              \
	} while (0)

/*
 * Prepare the test program: call first in main().  Names made later carry
 * this process's pid; their segments are removed now (left by an earlier
 * program with the same pid) and at exit.
 */
void tu_init(void);

/*
 * Store in buf a channel name unique to this test process and tag:
 * "libtest-<program pid>-<test pid>-<tag>".  A name that a failed test
 * left behind therefore never collides with a later test's.  Aborts the
 * test when the name does not fit.
 */
void tu_name(char *buf, size_t size, const char *tag);

/* Store in buf the /dev/shm path of the channel name. */
void tu_shm_path(char *buf, size_t size, const char *name);

/* Whether a file exists at path (lstat succeeds). */
bool tu_path_exists(const char *path);

/*
 * Remove every /dev/shm entry of this program's name prefix.  Tests run
 * one at a time, so a Check teardown may call it too.
 */
void tu_cleanup(void);

/*
 * Fork a child that runs fn(arg) and exits with its return value.  The
 * child dies with its parent, so a failed test leaves no waiter behind.
 */
pid_t tu_spawn(int (*fn)(void *), void *arg);

/*
 * Wait up to timeout_sec seconds for the child pid to end.  Returns its
 * exit status, 128 + the signal number if a signal killed it, or TU_HUNG
 * after killing a child that did not end in time.
 */
int tu_wait(pid_t pid, double timeout_sec);

/* Describe a tu_wait() result for a failure message (static buffer). */
const char *tu_status_text(int status);

/* Whether the child pid is still running (it has not been reaped). */
bool tu_running(pid_t pid);

/* Print a failed check of a child process to stderr. */
void tu_child_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t tu_now_ns(void);

/* Sleep for ms milliseconds. */
void tu_sleep_ms(unsigned ms);

/*
 * Wait up to timeout_sec for at least recv_waiters receivers and
 * send_waiters senders to wait on ch.  Returns 0, or -ETIMEDOUT.
 */
int tu_wait_waiters(struct chan *ch, uint32_t recv_waiters,
		    uint32_t send_waiters, double timeout_sec);

/* Create name with the given geometry and mode 0600, or fail the test. */
struct chan *tu_create(const char *name, uint64_t capacity,
		       uint64_t max_msg_size);

/* A 32-bit FNV-1a checksum of len bytes. */
uint32_t tu_checksum(const void *buf, size_t len);

/* Advance a xorshift64 generator, whose *state must not be 0. */
uint64_t tu_random(uint64_t *state);

#endif /* CHAN_TESTUTIL_H */
