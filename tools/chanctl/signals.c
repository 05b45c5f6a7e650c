/* SPDX-License-Identifier: MIT */
/* Signal handling and full writes for send, recv and watch. */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
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
 * Record the signal and interrupt the handle's waits.  libchan keeps the
 * interrupt pending if no call waits yet, so a signal that lands just
 * before a call into libchan still stops it.  chan_interrupt() is
 * async-signal-safe.
 */
static void record_signal(int signo)
{
	struct chan *ch = atomic_load(&interrupt_target);
	int saved_errno = errno;

	caught_signal = signo;
	if (ch != NULL)
		chan_interrupt(ch);
	errno = saved_errno;
}

void stop_interrupting(void)
{
	atomic_store(&interrupt_target, NULL);
}

/*
 * Install the handler for signo unless signo is ignored.  A shell starts
 * the background jobs of a script with SIGINT ignored, and such a job
 * must not stop at a Ctrl-C meant for the foreground job.
 */
static void catch_unless_ignored(int signo, const struct sigaction *sa)
{
	struct sigaction old;

	if (sigaction(signo, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
		return;
	sigaction(signo, sa, NULL);
}

void install_signal_handlers(struct chan *ch)
{
	struct sigaction sa;

	atomic_store(&interrupt_target, ch);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = record_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocked calls return EINTR */
	catch_unless_ignored(SIGINT, &sa);
	catch_unless_ignored(SIGTERM, &sa);

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
