/* SPDX-License-Identifier: MIT */
/* Locking, futex waits and deadlines on a channel segment. */
#ifndef CHAN_SYNC_H
#define CHAN_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "segment.h"

/* Shorthands for the atomics on shared fields. */
#define load_relaxed(p)	    __atomic_load_n((p), __ATOMIC_RELAXED)
#define load_acquire(p)	    __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define load_seq_cst(p)	    __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define add_relaxed(p, v)   __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define add_seq_cst(p, v)   __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/*
 * A point on CLOCK_MONOTONIC by which a call gives up.  infinite means no
 * limit; immediate means the call must not wait for space or data.
 */
struct chan_deadline {
	struct timespec at;
	bool infinite;
	bool immediate;
};

void chan__deadline_init(struct chan_deadline *d, uint64_t timeout_ns);
bool chan__deadline_passed(const struct chan_deadline *d);

/* The two locks of a segment: senders' and receivers'. */
enum chan_side {
	CHAN_SIDE_SEND,
	CHAN_SIDE_RECV,
};

/*
 * Take one side's lock, waiting no later than the deadline.  An owner
 * found dead is repaired here.  Returns 0, -ETIMEDOUT, or -EBADMSG if the
 * mutex or the ring is corrupt beyond repair.
 */
int chan__lock(struct chan *ch, enum chan_side side,
	       const struct chan_deadline *d);
void chan__unlock(struct chan *ch, enum chan_side side);

/*
 * Sleep on a futex word while it still holds expected, until woken, the
 * deadline, or a signal.  Returns 0 (woken, or the word changed),
 * -ETIMEDOUT or -EINTR.
 */
int chan__futex_wait(uint32_t *word, uint32_t expected,
		     const struct chan_deadline *d);
void chan__futex_wake(uint32_t *word, int count);

/*
 * Claim a side's spin lease, a CLOCK_MONOTONIC time in nanoseconds until
 * which one process spins: only one process per side spins at a time, and
 * a spinner that dies frees the lease when it runs out, a few tens of
 * microseconds later.  Returns true and the lease's end in *ret_until, or
 * false while another process holds it.
 */
bool chan__spin_claim(uint64_t *lease, uint64_t *ret_until);
void chan__spin_release(uint64_t *lease, uint64_t until);

/*
 * Spin for a short, bounded time while *index equals seen and *closed is
 * zero, and only when another CPU exists to change them.  Returns true if
 * either changed.
 */
bool chan__spin_while_equal(const uint64_t *index, uint64_t seen,
			    const uint32_t *closed);

/*
 * Fault injection for the crash tests: when the library is built with
 * CHAN_FAULT_INJECTION and the environment variable CHAN_FAULT names this
 * point, the process kills itself with SIGKILL here.
 */
#ifdef CHAN_FAULT_INJECTION
void chan__fault_point(const char *point);
#define CHAN_FAULT(point) chan__fault_point(point)
#else
#define CHAN_FAULT(point) ((void)0)
#endif

#endif /* CHAN_SYNC_H */
