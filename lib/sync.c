/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sync.h"

#define NSEC_PER_SEC 1000000000LL

/*
 * A call that must not wait for space or data may still wait this long for
 * the lock, which live processes hold only while copying one message.
 */
#define LOCK_GRACE_NS (100 * 1000 * 1000LL)

/*
 * Sleeps are cut into slices of this length.  A waker wakes one sleeper per
 * message.  If that sleeper is killed before it takes the message, another
 * sleeper notices at the end of its slice at the latest.
 */
#define WAIT_SLICE_NS (500 * 1000 * 1000LL)

/* Attempts at the lock, spinning and then yielding, before sleeping. */
#define LOCK_SPINS  200
#define LOCK_YIELDS 20

/*
 * How long a waiter spins before sleeping: about the cost of one futex
 * wake-up between CPUs, which chanbench's round trips put at 15 to 20 us
 * each way on a 2-core KVM guest.
 */
#define WAIT_SPIN_NS (30 * 1000)

static void timespec_add_ns(struct timespec *ts, uint64_t ns)
{
	uint64_t sec = ns / NSEC_PER_SEC;

	if (sec > (uint64_t)(INT64_MAX / 2)) {
		ts->tv_sec = INT64_MAX / 2;
		ts->tv_nsec = 0;
		return;
	}
	ts->tv_sec += (time_t)sec;
	ts->tv_nsec += (long)(ns % NSEC_PER_SEC);
	if (ts->tv_nsec >= NSEC_PER_SEC) {
		ts->tv_sec++;
		ts->tv_nsec -= NSEC_PER_SEC;
	}
}

static bool timespec_before(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec;
	return a->tv_nsec < b->tv_nsec;
}

static struct timespec now_plus(uint64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	timespec_add_ns(&ts, ns);
	return ts;
}

void chan__deadline_init(struct chan_deadline *d, uint64_t timeout_ns)
{
	d->infinite = timeout_ns == CHAN_TIMEOUT_INFINITE;
	d->immediate = timeout_ns == 0;
	if (d->infinite)
		d->at = (struct timespec){0};
	else
		d->at = now_plus(timeout_ns);
}

bool chan__deadline_passed(const struct chan_deadline *d)
{
	struct timespec now;

	if (d->infinite)
		return false;
	if (d->immediate)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return !timespec_before(&now, &d->at);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Wait for a mutex until a point on CLOCK_MONOTONIC, by polling with
 * pthread_mutex_trylock and pauses that double up to LOCK_POLL_MAX_NS.
 * Callers get here only after spinning and yielding failed, so the holder
 * is off its CPU and a pause costs little.  The blocking alternatives
 * fall short: pthread_mutex_clocklock is unknown to clang 14's thread
 * sanitizer, pthread_mutex_timedlock runs on the wall clock, and the
 * sanitizer's wrapper of the latter drops a lock taken with EOWNERDEAD,
 * which the one of trylock records.
 */
#define LOCK_POLL_MIN_NS (10 * 1000L)
#define LOCK_POLL_MAX_NS (200 * 1000L)

static int lock_until(pthread_mutex_t *mutex, const struct timespec *until)
{
	struct timespec now, pause = {.tv_nsec = LOCK_POLL_MIN_NS};
	int r;

	for (;;) {
		r = pthread_mutex_trylock(mutex);
		if (r != EBUSY)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!timespec_before(&now, until))
			return ETIMEDOUT;
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < LOCK_POLL_MAX_NS)
			pause.tv_nsec *= 2;
	}
}

static pthread_mutex_t *side_mutex(struct chan *ch, enum chan_side side)
{
	return side == CHAN_SIDE_SEND ? &ch->seg->send_lock.mutex
				      : &ch->seg->recv_lock.mutex;
}

/*
 * The previous owner died inside the critical section.  head and tail are
 * published by single stores after the data they cover (see segment.h),
 * so the ring is consistent as it is.  What remains is to reset this
 * side's cached view of the other index, to reject a ring that no crash
 * could have produced, and to count the recovery.
 */
static int recover_owner_died(struct chan *ch, enum chan_side side)
{
	struct chan_seg *seg = ch->seg;
	uint64_t head = load_acquire(&seg->head);
	uint64_t tail = load_acquire(&seg->tail);

	if (pthread_mutex_consistent(side_mutex(ch, side)) != 0)
		return -EBADMSG;
	add_relaxed(&seg->recoveries, 1);
	if (tail - head > ch->capacity)
		return -EBADMSG;
	if (side == CHAN_SIDE_SEND)
		store_relaxed(&seg->cached_head, head);
	else
		store_relaxed(&seg->cached_tail, tail);
	return 0;
}

int chan__lock(struct chan *ch, enum chan_side side,
	       const struct chan_deadline *d)
{
	pthread_mutex_t *mutex = side_mutex(ch, side);
	struct timespec grace;
	const struct timespec *until;
	int r = EBUSY;

	for (int i = 0; i < LOCK_SPINS && r == EBUSY; i++) {
		r = pthread_mutex_trylock(mutex);
		if (r == EBUSY)
			cpu_relax();
	}

	/*
	 * The holder keeps the lock for one copy, unless it lost its CPU.
	 * Yielding lets it run again; sleeping in the kernel instead would
	 * make its unlock pay for a futex wake-up on every handover.
	 */
	for (int i = 0; i < LOCK_YIELDS && r == EBUSY; i++) {
		sched_yield();
		r = pthread_mutex_trylock(mutex);
	}

	if (r == EBUSY) {
		CHAN_FAULT("lock-wait");
		if (d->infinite) {
			r = pthread_mutex_lock(mutex);
		} else {
			grace = now_plus(LOCK_GRACE_NS);
			until = &d->at;
			if (d->immediate || timespec_before(&d->at, &grace))
				until = &grace;
			r = lock_until(mutex, until);
		}
	}

	switch (r) {
	case 0:
		CHAN_FAULT("locked");
		return 0;
	case EOWNERDEAD:
		r = recover_owner_died(ch, side);
		if (r < 0)
			pthread_mutex_unlock(mutex);
		CHAN_FAULT("recovered");
		return r;
	case ETIMEDOUT:
		return -ETIMEDOUT;
	default:
		/* EINVAL, ENOTRECOVERABLE, EDEADLK: the mutex is not ours. */
		return -EBADMSG;
	}
}

void chan__unlock(struct chan *ch, enum chan_side side)
{
	pthread_mutex_unlock(side_mutex(ch, side));
}

/*
 * The futex words are shared between processes, so the operations must not
 * carry FUTEX_PRIVATE_FLAG.  FUTEX_WAIT_BITSET takes an absolute time on
 * CLOCK_MONOTONIC, so a wall clock change does not move the deadline.
 */
int chan__futex_wait(uint32_t *word, uint32_t expected,
		     const struct chan_deadline *d)
{
	struct timespec slice = now_plus(WAIT_SLICE_NS);
	const struct timespec *until = &slice;
	long r;

	if (!d->infinite && timespec_before(&d->at, &slice))
		until = &d->at;

	r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, until, NULL,
		    FUTEX_BITSET_MATCH_ANY);
	if (r == 0)
		return 0;

	switch (errno) {
	case EINTR:
		return -EINTR;
	case ETIMEDOUT:
		return until == &slice ? 0 : -ETIMEDOUT;
	default:
		/* EAGAIN: the word changed before we slept. */
		return 0;
	}
}

static bool have_other_cpu(void)
{
	static int cpus;
	int n = __atomic_load_n(&cpus, __ATOMIC_RELAXED);

	if (n == 0) {
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
		__atomic_store_n(&cpus, n > 0 ? n : 1, __ATOMIC_RELAXED);
	}
	return n > 1;
}

static uint64_t monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * NSEC_PER_SEC + (uint64_t)now.tv_nsec;
}

bool chan__spin_claim(uint64_t *lease, uint64_t *ret_until)
{
	uint64_t now = monotonic_ns();
	uint64_t held = __atomic_load_n(lease, __ATOMIC_RELAXED);
	uint64_t until = now + WAIT_SPIN_NS;

	if (held > now)
		return false;
	if (!__atomic_compare_exchange_n(lease, &held, until, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return false;
	*ret_until = until;
	return true;
}

void chan__spin_release(uint64_t *lease, uint64_t until)
{
	__atomic_compare_exchange_n(lease, &until, 0, false, __ATOMIC_RELEASE,
				    __ATOMIC_RELAXED);
}

bool chan__spin_while_equal(const uint64_t *index, uint64_t seen,
			    const uint32_t *closed)
{
	struct timespec until, now;

	if (!have_other_cpu())
		return false;
	until = now_plus(WAIT_SPIN_NS);
	for (;;) {
		for (int i = 0; i < 64; i++) {
			if (load_acquire(index) != seen ||
			    load_relaxed(closed) != 0)
				return true;
			cpu_relax();
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!timespec_before(&now, &until))
			return false;
	}
}

void chan__futex_wake(uint32_t *word, int count)
{
	syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

#ifdef CHAN_FAULT_INJECTION
/*
 * CHAN_FAULT is "POINT" to die the first time POINT is reached, or
 * "POINT@N" to die the N-th time.
 */
void chan__fault_point(const char *point)
{
	static unsigned hits;
	const char *spec = getenv("CHAN_FAULT");
	size_t len = strlen(point);
	unsigned long nth = 1;

	if (spec == NULL || strncmp(spec, point, len) != 0)
		return;
	if (spec[len] == '@')
		nth = strtoul(spec + len + 1, NULL, 10);
	else if (spec[len] != '\0')
		return;
	if (__atomic_add_fetch(&hits, 1, __ATOMIC_RELAXED) >= nth)
		raise(SIGKILL);
}
#endif
