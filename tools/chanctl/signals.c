/* SPDX-License-Identifier: MIT */
/* Signal handling and full writes for send, recv and watch. */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chanctl.h"

volatile sig_atomic_t caught_signal;

/*
 * The handle whose waits a signal interrupts.  An atomic pointer, which
 * is lock-free on every target of libchan, may be read in a handler.
 */
static _Atomic(struct chan *) interrupt_target;

static_assert(ATOMIC_POINTER_LOCK_FREE == 2,
	      "the handler reads interrupt_target without a lock");

/*
 * NOTE: chan_interrupt() reaches a call that waits or is about to wait,
 * but libchan ignores it for a call that starts afterwards.  A signal that
 * lands after the caller's last look at caught_signal and before the call
 * into libchan starts (a window that lazy symbol binding and page faults
 * widen to microseconds) would leave the call waiting.  Until libchan
 * keeps an interrupt pending for the next call, the handler arms
 * retry_timer, whose signal repeats the interrupt every RETRY_NS until
 * the process stops waiting.
 */
#define RETRY_NS (10 * 1000 * 1000)

static timer_t retry_timer;
static bool have_retry_timer;

static void interrupt_waits(void)
{
	struct chan *ch = atomic_load(&interrupt_target);

	if (ch != NULL)
		chan_interrupt(ch);
}

static void repeat_interrupt(int signo)
{
	int saved_errno = errno;

	(void)signo;
	interrupt_waits();
	errno = saved_errno;
}

static void record_signal(int signo)
{
	const struct itimerspec every = {
	    .it_value = {.tv_nsec = RETRY_NS},
	    .it_interval = {.tv_nsec = RETRY_NS},
	};
	int saved_errno = errno;

	caught_signal = signo;
	/* Both calls are async-signal-safe. */
	interrupt_waits();
	if (have_retry_timer)
		timer_settime(retry_timer, 0, &every, NULL);
	errno = saved_errno;
}

void stop_interrupting(void)
{
	const struct itimerspec never = {0};

	atomic_store(&interrupt_target, NULL);
	if (have_retry_timer)
		timer_settime(retry_timer, 0, &never, NULL);
}

/* Create retry_timer, which raises SIGRTMIN, with its handler. */
static void create_retry_timer(void)
{
	struct sigevent event = {
	    .sigev_notify = SIGEV_SIGNAL,
	    .sigev_signo = SIGRTMIN,
	};
	struct sigaction sa;

	if (have_retry_timer)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = repeat_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN, &sa, NULL);
	/* Without the timer, only the race described above remains. */
	have_retry_timer =
	    timer_create(CLOCK_MONOTONIC, &event, &retry_timer) == 0;
}

void install_signal_handlers(struct chan *ch)
{
	struct sigaction sa;

	if (ch != NULL)
		create_retry_timer();
	atomic_store(&interrupt_target, ch);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = record_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocked calls return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* A closed standard output shows up as EPIPE from write(2). */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
