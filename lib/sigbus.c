/* SPDX-License-Identifier: MIT */
/*
 * A guard against SIGBUS from segments that shrink under us.
 *
 * A process with write access to a segment can truncate it, or punch
 * holes in it on a full tmpfs.  Touching a page of our mapping beyond the
 * new end of file then raises SIGBUS, which would kill a process that did
 * nothing wrong.  The guard's handler recognises faults inside a channel
 * mapping, maps a private zero page over the faulting page so that the
 * instruction can complete, and marks the mapping as faulted.  Every call
 * on a faulted handle then fails with -EBADMSG, because its memory no
 * longer reaches the peers.  Faults anywhere else go to the handler that
 * was installed before ours, or kill the process as they would have.
 *
 * The handler reads the table of mappings with plain atomic loads and
 * calls only mmap(2), so it is async-signal-safe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sigbus.h"

/* Channel mappings one process can have at a time. */
#define GUARD_MAX 1024

struct chan_guard {
	uintptr_t start; /* 0 when the entry is free */
	uintptr_t end;
	uint32_t faulted;
	uint32_t claimed;
};

static struct chan_guard guards[GUARD_MAX];
static struct sigaction previous_action;
static uintptr_t page_size;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

static struct chan_guard *find_guard(uintptr_t addr)
{
	for (size_t i = 0; i < GUARD_MAX; i++) {
		uintptr_t start =
		    __atomic_load_n(&guards[i].start, __ATOMIC_ACQUIRE);

		if (start != 0 && addr >= start &&
		    addr < __atomic_load_n(&guards[i].end, __ATOMIC_RELAXED))
			return &guards[i];
	}
	return NULL;
}

/* Pass a fault that is not ours on as if our handler did not exist. */
static void chain_fault(int sig, siginfo_t *info, void *context)
{
	struct sigaction dfl;

	if (previous_action.sa_flags & SA_SIGINFO) {
		previous_action.sa_sigaction(sig, info, context);
		return;
	}
	if (previous_action.sa_handler != SIG_DFL &&
	    previous_action.sa_handler != SIG_IGN) {
		previous_action.sa_handler(sig);
		return;
	}

	/*
	 * Restore the default action and return: the faulting instruction
	 * runs again and the kernel delivers SIGBUS with its default effect.
	 */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &dfl, NULL);
}

static void handle_sigbus(int sig, siginfo_t *info, void *context)
{
	int saved_errno = errno;
	uintptr_t addr = (uintptr_t)info->si_addr;
	struct chan_guard *guard = find_guard(addr);
	void *page;

	if (guard == NULL) {
		chain_fault(sig, info, context);
		errno = saved_errno;
		return;
	}

	page = (void *)(addr & ~(page_size - 1));
	if (mmap(page, page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) == MAP_FAILED) {
		chain_fault(sig, info, context);
		errno = saved_errno;
		return;
	}
	__atomic_store_n(&guard->faulted, 1, __ATOMIC_RELEASE);
	errno = saved_errno;
}

static void install(void)
{
	struct sigaction action;

	page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
	memset(&action, 0, sizeof(action));
	action.sa_sigaction = handle_sigbus;
	action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&action.sa_mask);
	if (sigaction(SIGBUS, &action, &previous_action) < 0)
		install_error = -errno;
}

int chan__guard_add(void *start, size_t size, struct chan_guard **ret)
{
	pthread_once(&install_once, install);
	if (install_error < 0)
		return install_error;

	for (size_t i = 0; i < GUARD_MAX; i++) {
		struct chan_guard *guard = &guards[i];
		uint32_t unclaimed = 0;

		if (!__atomic_compare_exchange_n(&guard->claimed, &unclaimed, 1,
						 false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&guard->faulted, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&guard->end, (uintptr_t)start + size,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&guard->start, (uintptr_t)start,
				 __ATOMIC_RELEASE);
		*ret = guard;
		return 0;
	}
	return -EMFILE;
}

void chan__guard_remove(struct chan_guard *guard)
{
	if (guard == NULL)
		return;
	__atomic_store_n(&guard->start, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&guard->claimed, 0, __ATOMIC_RELEASE);
}

void chan__guard_mark_faulted(struct chan_guard *guard)
{
	if (guard != NULL)
		__atomic_store_n(&guard->faulted, 1, __ATOMIC_RELEASE);
}

bool chan__guard_faulted(const struct chan_guard *guard)
{
	return guard != NULL &&
	       __atomic_load_n(&guard->faulted, __ATOMIC_ACQUIRE) != 0;
}
