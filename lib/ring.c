/* SPDX-License-Identifier: MIT */
/*
 * Send, receive and close.  Senders work under send_lock and receivers
 * under recv_lock; see segment.h for the protocol between the two sides.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "sync.h"

#define store_seq_cst(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

static struct chan_slot *slot_at(struct chan *ch, uint64_t index)
{
	return (struct chan_slot *)(ch->slots +
				    (index % ch->capacity) * ch->slot_size);
}

/* The futex word, waiter count and index that a waiting side watches. */
struct wait_target {
	uint32_t *seq;
	uint32_t *waiters;
	uint32_t *spinners;
	const uint64_t *index;
	uint64_t seen;
	uint32_t role;      /* the waiting side: CHAN_SENDER or CHAN_RECEIVER */
	uint32_t peer_role; /* the side it waits for */
	uint32_t interrupts; /* ch->interrupts when the call started */
};

static bool interrupted(struct chan *ch, const struct wait_target *target)
{
	return load_seq_cst(&ch->interrupts) != target->interrupts;
}

/*
 * Wait until the other side moves target->index away from target->seen,
 * the channel is closed, or the deadline passes.  Entered with the side's
 * lock held; returns with it held, or returns an error with it released.
 *
 * The peer usually acts within microseconds, and a futex sleep and wake
 * cost tens of microseconds between CPUs, so spin for a while before
 * registering as a waiter.  Only one process per side spins at a time:
 * with many senders or receivers on few CPUs, spinners would take the CPU
 * from the very process they wait for.
 */
static int wait_locked(struct chan *ch, enum chan_side side,
		       const struct wait_target *target,
		       const struct chan_deadline *d)
{
	struct chan_seg *seg = ch->seg;
	uint32_t expected;
	int r = 0;

	chan__unlock(ch, side);
	if (add_seq_cst(target->spinners, 1) == 1) {
		bool moved = chan__spin_while_equal(target->index, target->seen,
						    &seg->closed);

		add_seq_cst(target->spinners, -1);
		if (moved)
			return chan__lock(ch, side, d);
	} else {
		add_seq_cst(target->spinners, -1);
	}

	/*
	 * Read the word before announcing ourselves and looking again: a
	 * peer that moves the index after our last look sees the waiter
	 * count and bumps the word, so the futex wait returns at once.
	 */
	expected = load_seq_cst(target->seq);
	add_seq_cst(target->waiters, 1);
	chan__waiting(ch, target->role, 1);
	if (load_seq_cst(target->index) == target->seen &&
	    !load_seq_cst(&seg->closed) && !interrupted(ch, target) &&
	    !chan__peers_gone(ch, target->peer_role, true)) {
		CHAN_FAULT("waiting");
		r = chan__futex_wait(target->seq, expected, d);
	}
	chan__waiting(ch, target->role, -1);
	add_seq_cst(target->waiters, -1);
	if (r == -EINTR || interrupted(ch, target))
		return -EINTR;

	/*
	 * Even after a timeout, look once more: a call that can complete
	 * now must not fail because its deadline passed.
	 */
	return chan__lock(ch, side, d);
}

/* Decide, after a call found no room or no message, whether to wait. */
static int check_wait(const struct chan_deadline *d)
{
	if (d->immediate)
		return -EAGAIN;
	if (chan__deadline_passed(d))
		return -ETIMEDOUT;
	return 0;
}

/*
 * Return the number of free slots at tail, reloading head only when the
 * cached copy shows the ring full.  -EBADMSG if the indices are corrupt.
 */
static int64_t free_slots(struct chan *ch, uint64_t tail)
{
	struct chan_seg *seg = ch->seg;
	uint64_t head = load_relaxed(&seg->cached_head);

	if (tail - head >= ch->capacity) {
		head = load_acquire(&seg->head);
		store_relaxed(&seg->cached_head, head);
		if (tail - head > ch->capacity)
			return -EBADMSG;
	}
	return (int64_t)(ch->capacity - (tail - head));
}

/*
 * Copy a message into the slot at tail, then publish it with one store.
 * A process killed before that store leaves the message unpublished.
 */
static void commit_message(struct chan *ch, uint64_t tail, const void *buf,
			   size_t len)
{
	struct chan_seg *seg = ch->seg;
	struct chan_slot *slot = slot_at(ch, tail);
	uint8_t *payload = (uint8_t *)(slot + 1);

	if (len > 0) {
		size_t half = len / 2;

		memcpy(payload, buf, half);
		CHAN_FAULT("send-half-copied");
		memcpy(payload + half, (const uint8_t *)buf + half, len - half);
	}
	store_relaxed(&slot->len, (uint32_t)len);
	CHAN_FAULT("send-before-publish");

	/* Sequentially consistent against the receivers' waiter count. */
	store_seq_cst(&seg->tail, tail + 1);
	store_relaxed(&seg->bytes_sent, load_relaxed(&seg->bytes_sent) + len);
	CHAN_FAULT("send-published");
}

/*
 * Tell whether every receiver is gone.  Looking for dead receivers costs
 * system calls, so a sender that need not wait does it at most every
 * REAP_INTERVAL_NS; a receiver that detached is seen at once.
 */
#define REAP_INTERVAL_NS (100 * 1000 * 1000LL)

static bool receivers_gone(struct chan *ch)
{
	struct timespec now;
	int64_t now_ns, due;

	if (!(ch->flags & CHAN_TRACK_PEERS))
		return false;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
	due = load_relaxed(&ch->next_reap_ns);
	if (now_ns < due)
		return chan__peers_gone(ch, CHAN_RECEIVER, false);
	store_relaxed(&ch->next_reap_ns, now_ns + REAP_INTERVAL_NS);
	return chan__peers_gone(ch, CHAN_RECEIVER, true);
}

/* Wake one receiver if any may be asleep; called after a commit. */
static bool bump_if_waiting(uint32_t *seq, uint32_t *waiters)
{
	if (load_seq_cst(waiters) == 0)
		return false;
	add_seq_cst(seq, 1);
	return true;
}

static int send_deadline(struct chan *ch, const void *buf, size_t len,
			 const struct chan_deadline *d)
{
	struct chan_seg *seg;
	struct wait_target target;
	bool counted_wait = false, wake = false;
	uint64_t tail;
	int64_t space;
	uint32_t interrupts;
	int r;

	if (ch == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	if (ch->read_only)
		return -EBADF;
	if (len > ch->max_msg_size)
		return -EMSGSIZE;
	if (chan__guard_faulted(ch->guard))
		return -EBADMSG;
	seg = ch->seg;
	interrupts = load_seq_cst(&ch->interrupts);

	r = chan__lock(ch, CHAN_SIDE_SEND, d);
	if (r < 0)
		return r == -ETIMEDOUT && d->immediate ? -EAGAIN : r;

	for (;;) {
		if (load_acquire(&seg->closed) || receivers_gone(ch)) {
			r = -EPIPE;
			break;
		}
		tail = load_relaxed(&seg->tail);
		space = free_slots(ch, tail);
		if (space < 0) {
			r = (int)space;
			break;
		}
		if (space > 0) {
			commit_message(ch, tail, buf, len);
			wake = bump_if_waiting(&seg->data_seq,
					       &seg->recv_waiters);
			break;
		}
		r = check_wait(d);
		if (r < 0)
			break;
		if (!counted_wait) {
			add_relaxed(&seg->send_waits, 1);
			counted_wait = true;
		}
		target = (struct wait_target){
			.seq = &seg->space_seq,
			.waiters = &seg->send_waiters,
			.spinners = &seg->send_spinners,
			.index = &seg->head,
			.seen = tail - ch->capacity,
			.role = CHAN_SENDER,
			.peer_role = CHAN_RECEIVER,
			.interrupts = interrupts,
		};
		r = wait_locked(ch, CHAN_SIDE_SEND, &target, d);
		if (r < 0)
			return r;
	}

	chan__unlock(ch, CHAN_SIDE_SEND);
	if (wake)
		chan__futex_wake(&seg->data_seq, 1);
	return chan__guard_faulted(ch->guard) ? -EBADMSG : r;
}

/*
 * Return the number of queued messages at head, reloading tail only when
 * the cached copy shows the ring empty.  -EBADMSG if the indices are
 * corrupt.
 */
static int64_t queued_messages(struct chan *ch, uint64_t head)
{
	struct chan_seg *seg = ch->seg;
	uint64_t tail = load_relaxed(&seg->cached_tail);

	if (tail == head || tail - head > ch->capacity) {
		tail = load_acquire(&seg->tail);
		store_relaxed(&seg->cached_tail, tail);
		if (tail - head > ch->capacity)
			return -EBADMSG;
	}
	return (int64_t)(tail - head);
}

/*
 * Copy the message at head out and release its slot with one store.  A
 * length beyond the maximum can only come from a corrupt segment.  The
 * caller's buffer size is checked first, so that nothing is removed when
 * it is too small.
 */
static int take_message(struct chan *ch, uint64_t head, void *buf,
			size_t size, size_t *ret_len)
{
	struct chan_seg *seg = ch->seg;
	struct chan_slot *slot = slot_at(ch, head);
	uint32_t len = load_relaxed(&slot->len);

	if (len > ch->max_msg_size)
		return -EBADMSG;
	if (len > size) {
		*ret_len = len;
		return -EMSGSIZE;
	}

	if (len > 0)
		memcpy(buf, slot + 1, len);
	CHAN_FAULT("recv-copied");

	/* Sequentially consistent against the senders' waiter count. */
	store_seq_cst(&seg->head, head + 1);
	store_relaxed(&seg->bytes_received,
		      load_relaxed(&seg->bytes_received) + len);
	*ret_len = len;
	CHAN_FAULT("recv-released");
	return 0;
}

/*
 * End of channel: closed, or every sender gone, and nothing left.  closed
 * is set under the send lock after every send that started before it, and
 * a sender's entry is cleared after its last commit; so once either is
 * seen, one more look at tail finds every committed message.
 */
static bool end_of_channel(struct chan *ch, uint64_t head)
{
	if (!load_acquire(&ch->seg->closed) &&
	    !chan__peers_gone(ch, CHAN_SENDER, false))
		return false;
	return queued_messages(ch, head) == 0;
}

static int recv_deadline(struct chan *ch, void *buf, size_t size,
			 size_t *ret_len, const struct chan_deadline *d)
{
	struct chan_seg *seg;
	struct wait_target target;
	bool counted_wait = false, wake = false;
	uint64_t head;
	int64_t queued;
	uint32_t interrupts;
	int r;

	if (ch == NULL || ret_len == NULL || (buf == NULL && size > 0))
		return -EINVAL;
	if (ch->read_only)
		return -EBADF;
	if (chan__guard_faulted(ch->guard))
		return -EBADMSG;
	seg = ch->seg;
	interrupts = load_seq_cst(&ch->interrupts);

	r = chan__lock(ch, CHAN_SIDE_RECV, d);
	if (r < 0)
		return r == -ETIMEDOUT && d->immediate ? -EAGAIN : r;

	for (;;) {
		head = load_relaxed(&seg->head);
		queued = queued_messages(ch, head);
		if (queued < 0) {
			r = (int)queued;
			break;
		}
		if (queued > 0) {
			r = take_message(ch, head, buf, size, ret_len);
			if (r == 0)
				wake = bump_if_waiting(&seg->space_seq,
						       &seg->send_waiters);
			break;
		}
		if (end_of_channel(ch, head)) {
			r = -EPIPE;
			break;
		}
		r = check_wait(d);
		if (r < 0)
			break;
		if (!counted_wait) {
			add_relaxed(&seg->recv_waits, 1);
			counted_wait = true;
		}
		target = (struct wait_target){
			.seq = &seg->data_seq,
			.waiters = &seg->recv_waiters,
			.spinners = &seg->recv_spinners,
			.index = &seg->tail,
			.seen = head,
			.role = CHAN_RECEIVER,
			.peer_role = CHAN_SENDER,
			.interrupts = interrupts,
		};
		r = wait_locked(ch, CHAN_SIDE_RECV, &target, d);
		if (r < 0)
			return r;
	}

	chan__unlock(ch, CHAN_SIDE_RECV);
	if (wake)
		chan__futex_wake(&seg->space_seq, 1);
	return chan__guard_faulted(ch->guard) ? -EBADMSG : r;
}

int chan_send(struct chan *ch, const void *buf, size_t len)
{
	return chan_send_timeout(ch, buf, len, CHAN_TIMEOUT_INFINITE);
}

int chan_try_send(struct chan *ch, const void *buf, size_t len)
{
	struct chan_deadline d;

	chan__deadline_init(&d, 0);
	return send_deadline(ch, buf, len, &d);
}

int chan_send_timeout(struct chan *ch, const void *buf, size_t len,
		      uint64_t timeout_ns)
{
	struct chan_deadline d;

	chan__deadline_init(&d, timeout_ns);
	d.immediate = false;
	return send_deadline(ch, buf, len, &d);
}

int chan_recv(struct chan *ch, void *buf, size_t size, size_t *ret_len)
{
	return chan_recv_timeout(ch, buf, size, ret_len, CHAN_TIMEOUT_INFINITE);
}

int chan_try_recv(struct chan *ch, void *buf, size_t size, size_t *ret_len)
{
	struct chan_deadline d;

	chan__deadline_init(&d, 0);
	return recv_deadline(ch, buf, size, ret_len, &d);
}

int chan_recv_timeout(struct chan *ch, void *buf, size_t size,
		      size_t *ret_len, uint64_t timeout_ns)
{
	struct chan_deadline d;

	chan__deadline_init(&d, timeout_ns);
	d.immediate = false;
	return recv_deadline(ch, buf, size, ret_len, &d);
}

/*
 * Set closed under the send lock, so that every send either committed
 * before it or sees it; then wake everybody, whatever the waiter counts.
 */
int chan_close(struct chan *ch)
{
	struct chan_deadline d;
	struct chan_seg *seg;
	int r;

	if (ch == NULL)
		return -EINVAL;
	if (ch->read_only)
		return -EBADF;
	seg = ch->seg;

	chan__deadline_init(&d, CHAN_TIMEOUT_INFINITE);
	r = chan__lock(ch, CHAN_SIDE_SEND, &d);
	if (r < 0)
		return r;
	store_seq_cst(&seg->closed, 1);
	add_seq_cst(&seg->data_seq, 1);
	add_seq_cst(&seg->space_seq, 1);
	chan__unlock(ch, CHAN_SIDE_SEND);

	chan__futex_wake(&seg->data_seq, INT_MAX);
	chan__futex_wake(&seg->space_seq, INT_MAX);
	return chan__guard_faulted(ch->guard) ? -EBADMSG : 0;
}

/*
 * Bump the handle's interrupt count, then both futex words, so that a
 * waiter between its last look and its futex call finds its word changed
 * and does not sleep.  Uses only atomics and futex(2): async-signal-safe.
 */
void chan_interrupt(struct chan *ch)
{
	struct chan_seg *seg;

	if (ch == NULL || ch->read_only)
		return;
	seg = ch->seg;
	add_seq_cst(&ch->interrupts, 1);
	add_seq_cst(&seg->data_seq, 1);
	add_seq_cst(&seg->space_seq, 1);
	chan__futex_wake(&seg->data_seq, INT_MAX);
	chan__futex_wake(&seg->space_seq, INT_MAX);
}
