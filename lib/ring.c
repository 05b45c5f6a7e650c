/* SPDX-License-Identifier: MIT */
/*
 * Send, receive and close.  Senders work under send_lock and receivers
 * under recv_lock; see segment.h for the protocol between the two sides.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>
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
	uint64_t *spin_lease;
	const uint64_t *index;
	uint64_t seen;
	uint32_t role;	    /* the waiting side: CHAN_SENDER or CHAN_RECEIVER */
	uint32_t peer_role; /* the side it waits for */
	uint32_t interrupts; /* ch->interrupts when the call started */
	bool pending;	     /* an interrupt came before the call started */
};

/*
 * An interrupt stops the calls waiting when it comes, and stays pending
 * for the next call that waits if none was waiting: a signal handler may
 * run just before the call it means to stop.
 */
static bool interrupted(struct chan *ch, const struct wait_target *target)
{
	return target->pending ||
	       load_seq_cst(&ch->interrupts) != target->interrupts;
}

static void start_interruptible(struct chan *ch, struct wait_target *target)
{
	target->interrupts = load_seq_cst(&ch->interrupts);
	target->pending =
	    target->interrupts != load_relaxed(&ch->interrupts_seen);
}

/* Mark the interrupts so far as handled, once a call returns -EINTR. */
static int return_interrupted(struct chan *ch)
{
	store_relaxed(&ch->interrupts_seen, load_seq_cst(&ch->interrupts));
	return -EINTR;
}

/*
 * Wait until the other side moves target->index away from target->seen,
 * the channel is closed, or the deadline passes.  Entered with the side's
 * lock held; returns with it held, or returns an error with it released.
 *
 * The peer usually acts within microseconds, and a futex sleep and wake
 * cost tens of microseconds between CPUs, so spin for a while before
 * registering as a waiter.  Only one process per side spins at a time
 * (chan__spin_claim): with many senders or receivers on few CPUs,
 * spinners would take the CPU from the very process they wait for.
 */
static int wait_locked(struct chan *ch, enum chan_side side,
		       const struct wait_target *target,
		       const struct chan_deadline *d)
{
	struct chan_seg *seg = ch->seg;
	uint64_t lease;
	uint32_t expected;
	int r = 0;

	chan__unlock(ch, side);
	if (chan__spin_claim(target->spin_lease, &lease)) {
		bool moved;

		CHAN_FAULT("spinning");
		moved = chan__spin_while_equal(target->index, target->seen,
					       &seg->closed);

		chan__spin_release(target->spin_lease, lease);
		if (moved)
			return chan__lock(ch, side, d);
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
		return return_interrupted(ch);
	if (chan__segment_shrunk(ch))
		return -EBADMSG;

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

/* Check what every send and receive checks before it takes a lock. */
static int check_handle(struct chan *ch)
{
	if (ch == NULL)
		return -EINVAL;
	if (ch->read_only)
		return -EBADF;
	if (chan__guard_faulted(ch->guard))
		return -EBADMSG;
	return 0;
}

/*
 * Take the send lock and wait for room.  Returns the number of free slots
 * (at least 1) with the lock held and *ret_tail set, or an error with the
 * lock released.
 */
static int64_t send_begin(struct chan *ch, const struct chan_deadline *d,
			  uint64_t *ret_tail)
{
	struct chan_seg *seg = ch->seg;
	struct wait_target target = {
	    .seq = &seg->space_seq,
	    .waiters = &seg->send_waiters,
	    .spin_lease = &seg->send_spin_until,
	    .index = &seg->head,
	    .role = CHAN_SENDER,
	    .peer_role = CHAN_RECEIVER,
	};
	bool counted_wait = false;
	uint64_t tail;
	int64_t space;
	int r;

	start_interruptible(ch, &target);
	r = chan__lock(ch, CHAN_SIDE_SEND, d);
	if (r < 0)
		return r == -ETIMEDOUT && d->immediate ? -EAGAIN : r;

	for (;;) {
		if (chan__guard_faulted(ch->guard)) {
			r = -EBADMSG;
			break;
		}
		if (load_acquire(&seg->closed) || receivers_gone(ch)) {
			r = -EPIPE;
			break;
		}
		tail = load_relaxed(&seg->tail);
		space = free_slots(ch, tail);
		if (space != 0) {
			if (space < 0) {
				r = (int)space;
				break;
			}
			*ret_tail = tail;
			return space;
		}
		r = check_wait(d);
		if (r < 0)
			break;
		if (!counted_wait) {
			add_relaxed(&seg->send_waits, 1);
			counted_wait = true;
		}
		target.seen = tail - ch->capacity;
		r = wait_locked(ch, CHAN_SIDE_SEND, &target, d);
		if (r < 0)
			return r;
	}
	chan__unlock(ch, CHAN_SIDE_SEND);
	return r;
}

/*
 * Release a side's lock after moving count messages, and wake as many of
 * the other side's sleepers as may be asleep, up to one per message (for
 * a sender) or freed slot (for a receiver).
 */
static int side_end(struct chan *ch, enum chan_side side, size_t count)
{
	struct chan_seg *seg = ch->seg;
	uint32_t *seq =
	    side == CHAN_SIDE_SEND ? &seg->data_seq : &seg->space_seq;
	uint32_t *waiters =
	    side == CHAN_SIDE_SEND ? &seg->recv_waiters : &seg->send_waiters;
	bool wake = count > 0 && bump_if_waiting(seq, waiters);

	chan__unlock(ch, side);
	if (wake)
		chan__futex_wake(seq, count > INT_MAX ? INT_MAX : (int)count);
	return chan__guard_faulted(ch->guard) ? -EBADMSG : 0;
}

static int send_end(struct chan *ch, size_t count)
{
	return side_end(ch, CHAN_SIDE_SEND, count);
}

static int recv_end(struct chan *ch, size_t count)
{
	return side_end(ch, CHAN_SIDE_RECV, count);
}

static int send_deadline(struct chan *ch, const void *buf, size_t len,
			 const struct chan_deadline *d)
{
	uint64_t tail = 0;
	int64_t space;
	int r = check_handle(ch);

	if (r < 0)
		return r;
	if (buf == NULL && len > 0)
		return -EINVAL;
	if (len > ch->max_msg_size)
		return -EMSGSIZE;

	space = send_begin(ch, d, &tail);
	if (space < 0)
		return (int)space;
	commit_message(ch, tail, buf, len);
	return send_end(ch, 1);
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
static int take_message(struct chan *ch, uint64_t head, void *buf, size_t size,
			size_t *ret_len)
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
 * a sender's entry is cleared after its last commit.  So once either shows,
 * one more look at tail finds every committed message.
 */
static bool end_of_channel(struct chan *ch, uint64_t head)
{
	if (!load_acquire(&ch->seg->closed) &&
	    !chan__peers_gone(ch, CHAN_SENDER, false))
		return false;
	return queued_messages(ch, head) == 0;
}

/*
 * Take the receive lock and wait for a message.  Returns the number of
 * queued messages (at least 1) with the lock held and *ret_head set, or an
 * error with the lock released: -EPIPE at end of channel.
 */
static int64_t recv_begin(struct chan *ch, const struct chan_deadline *d,
			  uint64_t *ret_head)
{
	struct chan_seg *seg = ch->seg;
	struct wait_target target = {
	    .seq = &seg->data_seq,
	    .waiters = &seg->recv_waiters,
	    .spin_lease = &seg->recv_spin_until,
	    .index = &seg->tail,
	    .role = CHAN_RECEIVER,
	    .peer_role = CHAN_SENDER,
	};
	bool counted_wait = false;
	uint64_t head;
	int64_t queued;
	int r;

	start_interruptible(ch, &target);
	r = chan__lock(ch, CHAN_SIDE_RECV, d);
	if (r < 0)
		return r == -ETIMEDOUT && d->immediate ? -EAGAIN : r;

	for (;;) {
		if (chan__guard_faulted(ch->guard)) {
			r = -EBADMSG;
			break;
		}
		head = load_relaxed(&seg->head);
		queued = queued_messages(ch, head);
		if (queued != 0) {
			if (queued < 0) {
				r = (int)queued;
				break;
			}
			*ret_head = head;
			return queued;
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
		target.seen = head;
		r = wait_locked(ch, CHAN_SIDE_RECV, &target, d);
		if (r < 0)
			return r;
	}
	chan__unlock(ch, CHAN_SIDE_RECV);
	return r;
}

static int recv_deadline(struct chan *ch, void *buf, size_t size,
			 size_t *ret_len, const struct chan_deadline *d)
{
	uint64_t head = 0;
	int64_t queued;
	int r = check_handle(ch);

	if (r < 0)
		return r;
	if (ret_len == NULL || (buf == NULL && size > 0))
		return -EINVAL;

	queued = recv_begin(ch, d, &head);
	if (queued < 0)
		return (int)queued;
	r = take_message(ch, head, buf, size, ret_len);
	if (r < 0) {
		recv_end(ch, 0);
		return r;
	}
	return recv_end(ch, 1);
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

int chan_recv_timeout(struct chan *ch, void *buf, size_t size, size_t *ret_len,
		      uint64_t timeout_ns)
{
	struct chan_deadline d;

	chan__deadline_init(&d, timeout_ns);
	d.immediate = false;
	return recv_deadline(ch, buf, size, ret_len, &d);
}

/*
 * Set closed under the send lock, so that every send either committed
 * before it or finds it set.  Then wake everybody, whatever the waiter
 * counts.
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

static int send_batch_deadline(struct chan *ch, const struct iovec *msgs,
			       size_t count, size_t *ret_sent,
			       const struct chan_deadline *d)
{
	size_t sent = 0;
	uint64_t tail = 0;
	int64_t space;
	int r;

	if (ret_sent == NULL)
		return -EINVAL;
	*ret_sent = 0;
	r = check_handle(ch);
	if (r < 0)
		return r;
	if (msgs == NULL && count > 0)
		return -EINVAL;
	for (size_t i = 0; i < count; i++) {
		if (msgs[i].iov_base == NULL && msgs[i].iov_len > 0)
			return -EINVAL;
		if (msgs[i].iov_len > ch->max_msg_size)
			return -EMSGSIZE;
	}

	/* Commit as many as there is room for under each hold of the lock. */
	while (sent < count) {
		size_t batch;

		space = send_begin(ch, d, &tail);
		if (space < 0) {
			r = (int)space;
			break;
		}
		batch = count - sent < (uint64_t)space ? count - sent
						       : (size_t)space;
		for (size_t i = 0; i < batch; i++)
			commit_message(ch, tail + i, msgs[sent + i].iov_base,
				       msgs[sent + i].iov_len);
		sent += batch;
		r = send_end(ch, batch);
		if (r < 0)
			break;
	}
	*ret_sent = sent;
	return r;
}

int chan_send_batch(struct chan *ch, const struct iovec *msgs, size_t count,
		    size_t *ret_sent, uint64_t timeout_ns)
{
	struct chan_deadline d;

	chan__deadline_init(&d, timeout_ns);
	return send_batch_deadline(ch, msgs, count, ret_sent, &d);
}

int chan_recv_batch(struct chan *ch, void *buf, size_t size, size_t *lens,
		    size_t max_msgs, size_t *ret_count, uint64_t timeout_ns)
{
	struct chan_deadline d;
	uint64_t head = 0;
	int64_t queued;
	size_t count = 0, used = 0, len;
	int r = check_handle(ch);

	if (r < 0)
		return r;
	if (ret_count == NULL || lens == NULL || max_msgs == 0 ||
	    (buf == NULL && size > 0))
		return -EINVAL;

	chan__deadline_init(&d, timeout_ns);
	queued = recv_begin(ch, &d, &head);
	if (queued < 0)
		return (int)queued;

	/* Take whole messages while they fit; the first must fit. */
	while (count < max_msgs && (int64_t)count < queued) {
		r = take_message(ch, head + count, (uint8_t *)buf + used,
				 size - used, &len);
		if (r < 0)
			break;
		lens[count++] = len;
		used += len;
	}
	if (count > 0 || r == 0) {
		*ret_count = count;
		return recv_end(ch, count);
	}
	recv_end(ch, 0);
	if (r == -EMSGSIZE)
		lens[0] = len;
	return r;
}

/*
 * Zero-copy sending.  chan_send_reserve() returns with the send lock held
 * and the slot at tail lent to the caller; chan_send_commit() publishes it
 * exactly as commit_message() does.  A process killed in between holds
 * the lock, so the next sender repairs the channel and the message, never
 * published, is never seen.
 */
int chan_send_reserve(struct chan *ch, size_t len, void **ret_buf,
		      uint64_t timeout_ns)
{
	struct chan_deadline d;
	uint64_t tail = 0;
	int64_t space;
	int r = check_handle(ch);

	if (r < 0)
		return r;
	if (ret_buf == NULL)
		return -EINVAL;
	if (len > ch->max_msg_size)
		return -EMSGSIZE;

	chan__deadline_init(&d, timeout_ns);
	space = send_begin(ch, &d, &tail);
	if (space < 0)
		return (int)space;
	ch->reserved_len = len;
	*ret_buf = (void *)(slot_at(ch, tail) + 1);
	return 0;
}

int chan_send_commit(struct chan *ch, size_t len)
{
	struct chan_seg *seg;
	uint64_t tail;

	if (ch == NULL || ch->reserved_len == SIZE_MAX)
		return -EINVAL;
	if (len > ch->reserved_len) {
		chan_send_abort(ch);
		return -EMSGSIZE;
	}
	seg = ch->seg;
	tail = load_relaxed(&seg->tail);
	store_relaxed(&slot_at(ch, tail)->len, (uint32_t)len);
	store_seq_cst(&seg->tail, tail + 1);
	store_relaxed(&seg->bytes_sent, load_relaxed(&seg->bytes_sent) + len);
	ch->reserved_len = SIZE_MAX;
	return send_end(ch, 1);
}

void chan_send_abort(struct chan *ch)
{
	if (ch == NULL || ch->reserved_len == SIZE_MAX)
		return;
	ch->reserved_len = SIZE_MAX;
	send_end(ch, 0);
}

/*
 * Zero-copy receiving.  chan_recv_peek() returns with the receive lock
 * held and a pointer into the slot at head; chan_recv_release() advances
 * head past it.  A process killed in between leaves the message queued.
 */
int chan_recv_peek(struct chan *ch, const void **ret_buf, size_t *ret_len,
		   uint64_t timeout_ns)
{
	struct chan_deadline d;
	struct chan_slot *slot;
	uint64_t head = 0;
	int64_t queued;
	uint32_t len;
	int r = check_handle(ch);

	if (r < 0)
		return r;
	if (ret_buf == NULL || ret_len == NULL)
		return -EINVAL;

	chan__deadline_init(&d, timeout_ns);
	queued = recv_begin(ch, &d, &head);
	if (queued < 0)
		return (int)queued;
	slot = slot_at(ch, head);
	len = load_relaxed(&slot->len);
	if (len > ch->max_msg_size) {
		recv_end(ch, 0);
		return -EBADMSG;
	}
	ch->peeking = true;
	*ret_buf = slot + 1;
	*ret_len = len;
	return 0;
}

int chan_recv_release(struct chan *ch)
{
	struct chan_seg *seg;
	uint64_t head;
	uint32_t len;

	if (ch == NULL || !ch->peeking)
		return -EINVAL;
	seg = ch->seg;
	head = load_relaxed(&seg->head);
	len = load_relaxed(&slot_at(ch, head)->len);
	store_seq_cst(&seg->head, head + 1);
	store_relaxed(&seg->bytes_received,
		      load_relaxed(&seg->bytes_received) +
			  (len <= ch->max_msg_size ? len : 0));
	ch->peeking = false;
	return recv_end(ch, 1);
}
