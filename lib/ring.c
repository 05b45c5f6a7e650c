/* SPDX-License-Identifier: MIT */
/* Send, receive and close: the ring under the segment lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "sync.h"

static struct chan_slot *slot_at(struct chan *ch, uint64_t index)
{
	return (struct chan_slot *)(ch->slots +
				    (index % ch->capacity) * ch->slot_size);
}

/*
 * Read the indices under the lock and check them against the geometry
 * cached at attach.  A ring with more messages than slots can only come
 * from a corrupt or hostile segment.
 */
static int load_indices(struct chan *ch, uint64_t *head, uint64_t *tail)
{
	*head = load_relaxed(&ch->seg->head);
	*tail = load_relaxed(&ch->seg->tail);
	if (*tail - *head > ch->capacity)
		return -EBADMSG;
	return 0;
}

/*
 * Copy a message into the slot at tail, then publish it.  The payload and
 * length are written before the tail store, so a process killed here
 * leaves the message unpublished and the ring intact.
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

	store_release(&seg->tail, tail + 1);
	add_relaxed(&seg->data_seq, 1);
	add_relaxed(&seg->bytes_sent, len);
	CHAN_FAULT("send-published");
}

/*
 * Wait for the condition a caller found false under the lock, on the futex
 * word seq with waiters counting the sleepers.  Entered with the lock held
 * and returns with it held, or returns an error with it released.
 */
static int wait_locked(struct chan *ch, uint32_t *seq, uint32_t *waiters,
		       const struct chan_deadline *d)
{
	uint32_t expected = load_relaxed(seq);
	int r;

	add_seq_cst(waiters, 1);
	chan__unlock(ch);

	CHAN_FAULT("waiting");
	r = chan__futex_wait(seq, expected, d);
	add_seq_cst(waiters, -1);
	if (r == -EINTR)
		return r;

	/*
	 * Even after a timeout, look once more: a call that can complete
	 * now must not fail because its deadline passed.
	 */
	return chan__lock(ch, d);
}

static int send_deadline(struct chan *ch, const void *buf, size_t len,
			 const struct chan_deadline *d)
{
	struct chan_seg *seg;
	uint64_t head, tail;
	bool counted_wait = false;
	int r;

	if (ch == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	if (len > ch->max_msg_size)
		return -EMSGSIZE;
	seg = ch->seg;

	r = chan__lock(ch, d);
	if (r < 0)
		return r == -ETIMEDOUT && d->immediate ? -EAGAIN : r;

	for (;;) {
		r = load_indices(ch, &head, &tail);
		if (r < 0)
			break;
		if (load_relaxed(&seg->closed)) {
			r = -EPIPE;
			break;
		}
		if (tail - head < ch->capacity) {
			commit_message(ch, tail, buf, len);
			break;
		}
		if (d->immediate) {
			r = -EAGAIN;
			break;
		}
		if (chan__deadline_passed(d)) {
			r = -ETIMEDOUT;
			break;
		}
		if (!counted_wait) {
			add_relaxed(&seg->send_waits, 1);
			counted_wait = true;
		}
		r = wait_locked(ch, &seg->space_seq, &seg->send_waiters, d);
		if (r < 0)
			return r;
	}

	bool wake = r == 0 && load_relaxed(&seg->recv_waiters) > 0;
	chan__unlock(ch);
	if (wake)
		chan__futex_wake(&seg->data_seq, 1);
	return r;
}

/*
 * Copy the message at head out and release its slot.  A length beyond the
 * maximum can only come from a corrupt segment; the caller's buffer size
 * is checked first so that nothing is removed when it is too small.
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

	store_release(&seg->head, head + 1);
	add_relaxed(&seg->space_seq, 1);
	add_relaxed(&seg->bytes_received, len);
	*ret_len = len;
	CHAN_FAULT("recv-released");
	return 0;
}

static int recv_deadline(struct chan *ch, void *buf, size_t size,
			 size_t *ret_len, const struct chan_deadline *d)
{
	struct chan_seg *seg;
	uint64_t head, tail;
	bool counted_wait = false;
	int r;

	if (ch == NULL || ret_len == NULL || (buf == NULL && size > 0))
		return -EINVAL;
	seg = ch->seg;

	r = chan__lock(ch, d);
	if (r < 0)
		return r == -ETIMEDOUT && d->immediate ? -EAGAIN : r;

	for (;;) {
		r = load_indices(ch, &head, &tail);
		if (r < 0)
			break;
		if (tail != head) {
			r = take_message(ch, head, buf, size, ret_len);
			break;
		}
		if (load_relaxed(&seg->closed)) {
			r = -EPIPE;
			break;
		}
		if (d->immediate) {
			r = -EAGAIN;
			break;
		}
		if (chan__deadline_passed(d)) {
			r = -ETIMEDOUT;
			break;
		}
		if (!counted_wait) {
			add_relaxed(&seg->recv_waits, 1);
			counted_wait = true;
		}
		r = wait_locked(ch, &seg->data_seq, &seg->recv_waiters, d);
		if (r < 0)
			return r;
	}

	bool wake = r == 0 && load_relaxed(&seg->send_waiters) > 0;
	chan__unlock(ch);
	if (wake)
		chan__futex_wake(&seg->space_seq, 1);
	return r;
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

int chan_close(struct chan *ch)
{
	struct chan_deadline d;
	struct chan_seg *seg;
	int r;

	if (ch == NULL)
		return -EINVAL;
	seg = ch->seg;

	chan__deadline_init(&d, CHAN_TIMEOUT_INFINITE);
	r = chan__lock(ch, &d);
	if (r < 0)
		return r;
	store_release(&seg->closed, 1);
	add_relaxed(&seg->data_seq, 1);
	add_relaxed(&seg->space_seq, 1);
	chan__unlock(ch);

	chan__futex_wake(&seg->data_seq, INT_MAX);
	chan__futex_wake(&seg->space_seq, INT_MAX);
	return 0;
}
