/* SPDX-License-Identifier: MIT */
/*
 * The attachment table: who is attached, in which role, and whether it is
 * still alive.  See struct chan_attachment in segment.h for the protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include "sync.h"

static int lock_entry(struct chan *ch, unsigned index, short type, int cmd,
		      struct flock *fl)
{
	*fl = (struct flock){
	    .l_type = type,
	    .l_whence = SEEK_SET,
	    .l_start = (off_t)(CHAN_SEG_ATTACH_OFFSET +
			       index * sizeof(struct chan_attachment)),
	    .l_len = sizeof(struct chan_attachment),
	};
	return fcntl(ch->fd, cmd, fl);
}

/* Take an entry's lock without waiting; true if this handle now holds it. */
static bool try_lock_entry(struct chan *ch, unsigned index)
{
	struct flock fl;

	return lock_entry(ch, index, F_WRLCK, F_OFD_SETLK, &fl) == 0;
}

static void unlock_entry(struct chan *ch, unsigned index)
{
	struct flock fl;

	lock_entry(ch, index, F_UNLCK, F_OFD_SETLK, &fl);
}

/*
 * Tell whether another open file description holds the entry's lock.  Our
 * own entry is held through our own description, which never conflicts
 * with itself, so the handle decides for it.
 */
static bool entry_alive(struct chan *ch, unsigned index)
{
	struct flock fl;

	if ((int)index == ch->attach_index)
		return true;
	if (lock_entry(ch, index, F_WRLCK, F_OFD_GETLK, &fl) < 0)
		return true; /* when in doubt, a peer is alive */
	return fl.l_type != F_UNLCK;
}

/* Return the waiter counts a dead entry left behind; it is ours now. */
static void clear_entry(struct chan *ch, struct chan_attachment *entry)
{
	struct chan_seg *seg = ch->seg;
	uint32_t send_waiting = load_relaxed(&entry->send_waiting);
	uint32_t recv_waiting = load_relaxed(&entry->recv_waiting);

	if (send_waiting > 0)
		add_seq_cst(&seg->send_waiters, -send_waiting);
	if (recv_waiting > 0)
		add_seq_cst(&seg->recv_waiters, -recv_waiting);
	store_relaxed(&entry->send_waiting, 0);
	store_relaxed(&entry->recv_waiting, 0);
	store_release(&entry->state, CHAN_ATTACH_FREE);
	add_seq_cst(&seg->peer_gen, 1);
}

/*
 * Reap the entry if it is in use and its owner is dead: taking its lock
 * proves that no live description holds it.  Returns true if it was
 * reaped.
 */
static bool reap_entry(struct chan *ch, unsigned index)
{
	struct chan_attachment *entry = &ch->attachments[index];
	bool reaped = false;

	if ((int)index == ch->attach_index ||
	    load_acquire(&entry->state) != CHAN_ATTACH_USED)
		return false;
	if (!try_lock_entry(ch, index))
		return false;
	if (load_acquire(&entry->state) == CHAN_ATTACH_USED) {
		clear_entry(ch, entry);
		reaped = true;
	}
	unlock_entry(ch, index);
	return reaped;
}

/* Wake every waiter of both sides, so that they look at the peers again. */
static void wake_all(struct chan *ch)
{
	struct chan_seg *seg = ch->seg;

	add_seq_cst(&seg->data_seq, 1);
	add_seq_cst(&seg->space_seq, 1);
	chan__futex_wake(&seg->data_seq, INT_MAX);
	chan__futex_wake(&seg->space_seq, INT_MAX);
}

static void fill_entry(struct chan *ch, unsigned index, uint32_t roles)
{
	struct chan_attachment *entry = &ch->attachments[index];
	struct chan_seg *seg = ch->seg;
	struct timespec now;

	/* An entry left in use by a dead owner is ours to clear first. */
	if (load_acquire(&entry->state) == CHAN_ATTACH_USED)
		clear_entry(ch, entry);

	clock_gettime(CLOCK_REALTIME, &now);
	store_relaxed(&entry->roles, roles);
	store_relaxed(&entry->pid, (int32_t)getpid());
	store_relaxed(&entry->attached_sec, (int64_t)now.tv_sec);
	store_release(&entry->state, CHAN_ATTACH_USED);
	if (roles & CHAN_SENDER)
		store_relaxed(&seg->sender_seen, 1);
	if (roles & CHAN_RECEIVER)
		store_relaxed(&seg->receiver_seen, 1);
	add_seq_cst(&seg->peer_gen, 1);

	ch->attach_index = (int)index;
	ch->attach_pid = getpid();
	ch->roles = roles;
}

static unsigned reap_dead(struct chan *ch);

/*
 * Claim a free entry, or one whose owner died.  Free entries are tried
 * first; the lock, not the state word, decides who gets an entry.  Each
 * claim also reaps the entries of processes that died since, so that
 * their waiter counts, which make every send and receive wake a futex,
 * do not pile up on a channel that nobody supervises.
 */
int chan__attachment_claim(struct chan *ch, uint32_t roles)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < CHAN_SEG_ATTACH_MAX; i++) {
			uint32_t state =
			    load_acquire(&ch->attachments[i].state);

			if (pass == 0 && state != CHAN_ATTACH_FREE)
				continue;
			if (!try_lock_entry(ch, i))
				continue;
			fill_entry(ch, i, roles);
			reap_dead(ch);
			if (ch->flags & CHAN_TRACK_PEERS)
				wake_all(ch);
			return 0;
		}
	}
	return -EUSERS;
}

void chan__attachment_release(struct chan *ch)
{
	struct chan_attachment *entry;

	/* A child that inherited the handle through fork does not own it. */
	if (ch->attach_index < 0 || ch->attach_pid != getpid())
		return;
	entry = &ch->attachments[ch->attach_index];
	clear_entry(ch, entry);
	unlock_entry(ch, (unsigned)ch->attach_index);
	ch->attach_index = -1;
	if (ch->flags & CHAN_TRACK_PEERS)
		wake_all(ch);
}

/* Count the live entries of a role (0 for any) as the table shows them. */
static unsigned count_role(struct chan *ch, uint32_t role)
{
	unsigned count = 0;

	for (unsigned i = 0; i < CHAN_SEG_ATTACH_MAX; i++) {
		struct chan_attachment *entry = &ch->attachments[i];

		if (load_acquire(&entry->state) != CHAN_ATTACH_USED)
			continue;
		if (role == 0 || (load_relaxed(&entry->roles) & role))
			count++;
	}
	return count;
}

static unsigned reap_dead(struct chan *ch)
{
	unsigned reaped = 0;

	for (unsigned i = 0; i < CHAN_SEG_ATTACH_MAX; i++)
		reaped += reap_entry(ch, i);
	return reaped;
}

/*
 * Take and release each lock, which repairs a lock whose owner died, and
 * reap the attachments of dead processes.
 */
int chan_repair(struct chan *ch, struct chan_repair_report *ret)
{
	const enum chan_side sides[] = {CHAN_SIDE_SEND, CHAN_SIDE_RECV};
	struct chan_repair_report report = {0};
	struct chan_deadline d;
	uint64_t before;
	int r;

	if (ch == NULL || ret == NULL)
		return -EINVAL;
	if (ch->read_only)
		return -EBADF;

	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		chan__deadline_init(&d, 0);
		before = load_relaxed(&ch->seg->recoveries);
		r = chan__lock(ch, sides[i], &d);
		if (r == -ETIMEDOUT) {
			report.locks_busy++;
			continue;
		}
		if (r < 0)
			return r;
		report.locks_repaired +=
		    (uint32_t)(load_relaxed(&ch->seg->recoveries) - before);
		chan__unlock(ch, sides[i]);
	}
	report.peers_reaped = reap_dead(ch);
	if (chan__guard_faulted(ch->guard))
		return -EBADMSG;
	*ret = report;
	return 0;
}

/*
 * The handle caches, per generation of the table, which roles are
 * present: bits 0-31 hold peer_gen, bit 32 "a sender is attached" and
 * bit 33 "a receiver is attached", bit 34 "the cache is valid".  Scanning
 * the table happens only when it changed.
 */
#define VIEW_SENDER   (UINT64_C(1) << 32)
#define VIEW_RECEIVER (UINT64_C(1) << 33)
#define VIEW_VALID    (UINT64_C(1) << 34)

static uint64_t peer_view(struct chan *ch)
{
	uint32_t gen = load_acquire(&ch->seg->peer_gen);
	uint64_t view = load_relaxed(&ch->peer_view);

	if ((view & VIEW_VALID) && (uint32_t)view == gen)
		return view;
	view = gen | VIEW_VALID;
	if (count_role(ch, CHAN_SENDER) > 0)
		view |= VIEW_SENDER;
	if (count_role(ch, CHAN_RECEIVER) > 0)
		view |= VIEW_RECEIVER;
	store_relaxed(&ch->peer_view, view);
	return view;
}

bool chan__peers_gone(struct chan *ch, uint32_t role, bool thorough)
{
	struct chan_seg *seg = ch->seg;
	uint32_t *seen;
	uint64_t present;

	if (!(ch->flags & CHAN_TRACK_PEERS))
		return false;
	seen = role == CHAN_SENDER ? &seg->sender_seen : &seg->receiver_seen;
	if (!load_relaxed(seen))
		return false;
	if (thorough)
		reap_dead(ch);
	present = role == CHAN_SENDER ? VIEW_SENDER : VIEW_RECEIVER;
	return !(peer_view(ch) & present);
}

void chan__waiting(struct chan *ch, uint32_t role, int delta)
{
	struct chan_attachment *entry;

	if (ch->attach_index < 0)
		return;
	entry = &ch->attachments[ch->attach_index];
	if (role == CHAN_SENDER)
		add_seq_cst(&entry->send_waiting, (uint32_t)delta);
	else
		add_seq_cst(&entry->recv_waiting, (uint32_t)delta);
}

int chan_peers(struct chan *ch, struct chan_peer *peers, size_t size,
	       size_t *ret_count)
{
	size_t count = 0;

	if (ch == NULL || ret_count == NULL || (peers == NULL && size > 0))
		return -EINVAL;

	for (unsigned i = 0; i < CHAN_SEG_ATTACH_MAX; i++) {
		struct chan_attachment *entry = &ch->attachments[i];
		struct chan_peer peer;

		if (load_acquire(&entry->state) != CHAN_ATTACH_USED)
			continue;
		peer = (struct chan_peer){
		    .pid = load_relaxed(&entry->pid),
		    .attached_sec = load_relaxed(&entry->attached_sec),
		    .roles = load_relaxed(&entry->roles),
		    .alive = 1,
		};
		if (!entry_alive(ch, i)) {
			peer.alive = 0;
			reap_entry(ch, i);
		}
		if (count < size)
			peers[count] = peer;
		count++;
	}
	if (chan__guard_faulted(ch->guard))
		return -EBADMSG;
	*ret_count = count;
	return 0;
}

void chan__peer_counts(struct chan *ch, uint32_t *attachments,
		       uint32_t *senders, uint32_t *receivers)
{
	*attachments = count_role(ch, 0);
	*senders = count_role(ch, CHAN_SENDER);
	*receivers = count_role(ch, CHAN_RECEIVER);
}
