/* SPDX-License-Identifier: MIT */
/*
 * chan: named, bounded, multi-producer multi-consumer message channels
 * between processes over POSIX shared memory.
 *
 * Every function that can fail returns a negative errno value on failure
 * and 0 (or a non-negative result) on success.  The library never prints
 * and never exits.  Output parameters are left untouched on failure unless
 * the description says otherwise.
 *
 * A handle (struct chan *) may be used by several threads at once, except
 * that chan_detach() must be the last call made on it.
 */
#ifndef CHAN_H
#define CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A channel name is 1 to CHAN_NAME_MAX bytes from [A-Za-z0-9._-], and is
 * neither "." nor "..".  The channel NAME lives in the file
 * /dev/shm/chan.NAME (CHAN_SHM_PREFIX followed by the name), or in the
 * directory that the environment variable CHAN_SHM_DIR names instead of
 * /dev/shm (ignored by set-user-ID programs).
 */
#define CHAN_NAME_MAX	128
#define CHAN_SHM_PREFIX "chan."

/* Defaults used when a field of struct chan_params is 0. */
#define CHAN_CAPACITY_DEFAULT 256
#define CHAN_MSG_SIZE_DEFAULT 4096
#define CHAN_MODE_DEFAULT     0600

/* Limits on the geometry of a channel. */
#define CHAN_CAPACITY_MAX (UINT64_C(1) << 24)
#define CHAN_MSG_SIZE_MAX (UINT64_C(1) << 30)

/* Pass as timeout_ns to wait without limit. */
#define CHAN_TIMEOUT_INFINITE UINT64_MAX

struct chan;

/* Flags of struct chan_params. */
enum {
	/* Attach to an existing channel of the same geometry. */
	CHAN_EXIST_OK = 1u << 0,
	/*
	 * End the channel when a side is gone, as Rust's mpsc does: once
	 * every sender that was attached has detached or died, receivers
	 * drain the queue and then get -EPIPE; once every receiver is gone,
	 * sends fail with -EPIPE.  A side counts as gone only after at least
	 * one peer of that role attached, and comes back when one attaches
	 * again.  A detach is seen at once.  A death takes system calls to
	 * see, which are kept off the fast path, so a sender sees it within
	 * about 100 ms and a waiter within about 500 ms.  Off by default,
	 * because channels that outlive their processes (a bus, or shell
	 * commands that attach one after another) would otherwise end between
	 * two short-lived senders.
	 */
	CHAN_TRACK_PEERS = 1u << 1,
};

/* Flags of chan_open(): the roles a handle declares, and its access. */
enum {
	CHAN_SENDER = 1u << 0,	 /* counted as a sender by CHAN_TRACK_PEERS */
	CHAN_RECEIVER = 1u << 1, /* counted as a receiver */
	/*
	 * Map the segment read-only, to inspect it with only read permission:
	 * chan_info() and chan_peers() work, calls that would change the
	 * channel fail with -EBADF, and the handle takes no attachment entry.
	 */
	CHAN_READ_ONLY = 1u << 2,
};

/* Maximum number of handles attached to one channel at a time. */
#define CHAN_ATTACH_MAX 224

/* Parameters of chan_create().  Initialise with chan_params_init(). */
struct chan_params {
	uint64_t capacity;     /* messages; 0 selects CHAN_CAPACITY_DEFAULT */
	uint64_t max_msg_size; /* bytes; 0 selects CHAN_MSG_SIZE_DEFAULT */
	uint32_t mode;	       /* permission bits; 0 selects 0600 */
	uint32_t flags;	       /* CHAN_EXIST_OK, CHAN_TRACK_PEERS */
	uint32_t roles;	       /* roles of the creator's handle */
	uid_t owner;	       /* (uid_t)-1 keeps the creator's user */
	gid_t group;	       /* (gid_t)-1 keeps the creator's group */
};

/* Snapshot of a channel's geometry, state and counters. */
struct chan_info {
	uint64_t capacity;     /* messages */
	uint64_t max_msg_size; /* bytes */
	uint64_t segment_size; /* bytes of shared memory */
	uint64_t depth;	       /* messages queued now */
	uint64_t msgs_sent;    /* messages committed since creation */
	uint64_t bytes_sent;
	uint64_t msgs_received; /* messages taken since creation */
	uint64_t bytes_received;
	uint64_t send_waits;   /* sends that waited on a full channel */
	uint64_t recv_waits;   /* receives that waited on an empty one */
	uint64_t recoveries;   /* lock owners found dead and repaired */
	uint32_t send_waiters; /* senders waiting now (an upper bound) */
	uint32_t recv_waiters; /* receivers waiting now (an upper bound) */
	int64_t creator_pid;
	int64_t created_sec; /* creation time, seconds since the epoch */
	int64_t created_nsec;
	uint32_t mode; /* permission bits of the segment */
	uid_t owner;
	gid_t group;
	uint32_t flags;	      /* CHAN_TRACK_PEERS if set at create */
	uint32_t attachments; /* handles attached now, by the table */
	uint32_t senders;     /* of which with CHAN_SENDER */
	uint32_t receivers;   /* of which with CHAN_RECEIVER */
	int closed;	      /* non-zero once chan_close() was called */
};

/* One attached handle, as listed by chan_peers(). */
struct chan_peer {
	int64_t pid;	      /* the process that attached */
	int64_t attached_sec; /* when, in seconds since the epoch */
	uint32_t roles;	      /* CHAN_SENDER, CHAN_RECEIVER */
	int alive;	      /* 0 if its process died */
};

/*
 * Fill params with the defaults: capacity CHAN_CAPACITY_DEFAULT, maximum
 * message size CHAN_MSG_SIZE_DEFAULT, mode 0600, no flags, owner and group
 * unchanged.
 */
void chan_params_init(struct chan_params *params);

/*
 * Create the channel name and attach to it.  params may be NULL for the
 * defaults.  The segment gets exactly params->mode, whatever the umask.
 * The channel becomes visible to others only once it is fully initialised.
 *
 * Returns 0 and stores the handle in *ret, or:
 *   -EINVAL  invalid name, capacity, size, mode, flags or roles
 *   -EEXIST  the name exists (without CHAN_EXIST_OK), or it exists with
 *            another capacity, maximum message size or CHAN_TRACK_PEERS
 *            setting (with it)
 *   -ENOSPC  /dev/shm cannot hold the channel; nothing is left behind
 *   -EACCES, -EPERM  no permission to create, chown or attach
 *   -EBADMSG, -EPROTONOSUPPORT  as for chan_attach(), with CHAN_EXIST_OK
 *   -ENOMEM  out of memory or address space
 *   or another errno from open(2), fallocate(2), mmap(2) or fchown(2).
 */
int chan_create(const char *name, const struct chan_params *params,
		struct chan **ret);

/*
 * Attach to the existing channel name, with no role.  The segment is
 * opened without following symbolic links and validated before use.
 * Same as chan_open(name, 0, ret).
 *
 * Returns 0 and stores the handle in *ret, or:
 *   -EINVAL  invalid name
 *   -ENOENT  no channel of that name
 *   -EACCES  no permission to read and write the segment
 *   -EBADMSG  not a chan segment: wrong magic, geometry or size
 *   -EPROTONOSUPPORT  a segment of a newer format version, or made by a
 *            process of another ABI (for example 32-bit)
 *   -ENOMEM  out of memory or address space, or 1024 handles are
 *            attached in this process already
 */
int chan_attach(const char *name, struct chan **ret);

/*
 * Attach to the existing channel name with flags: CHAN_SENDER,
 * CHAN_RECEIVER, both, neither, or CHAN_READ_ONLY alone.  Every writable
 * handle may send and receive whatever its roles; the roles decide only
 * when the other side of a CHAN_TRACK_PEERS channel counts as gone.  A
 * handle inherited across fork(2) is the same attachment: the child should
 * attach on its own.
 *
 * Returns as chan_attach(), and also:
 *   -EINVAL  unknown flags, or CHAN_READ_ONLY with a role
 *   -EUSERS  CHAN_ATTACH_MAX handles are attached already (only with a
 *            role; a handle without one then attaches without an entry,
 *            and chan_peers() does not list it)
 */
int chan_open(const char *name, uint32_t flags, struct chan **ret);

/*
 * Like chan_open(), but attach only if the segment file belongs to the
 * user owner; (uid_t)-1 accepts any owner.  Anybody who may create files
 * in /dev/shm can create a channel's name first: a process that expects a
 * channel made by a given user (the bus daemon's, or its own) should say
 * so here, so that it never talks through an impostor's segment.
 *
 * Returns as chan_open(), and also -EPERM if another user owns the segment.
 */
int chan_open_owned(const char *name, uint32_t flags, uid_t owner,
		    struct chan **ret);

/*
 * Unmap the channel and free the handle.  The channel itself stays, with
 * its messages.  Accepts NULL.
 */
void chan_detach(struct chan *ch);

/*
 * Remove the name.  Processes attached keep using the channel until they
 * detach, as with an unlinked file; new attaches fail with -ENOENT.
 *
 * Returns 0, or -EINVAL (invalid name), -ENOENT, -EACCES or -EPERM.
 */
int chan_remove(const char *name);

/*
 * Make every call on ch that is waiting now, in any thread, return -EINTR
 * soon.  If no call is waiting, the interrupt stays pending, and the next
 * call on ch that would wait returns -EINTR at once instead.  A call that
 * completes without waiting leaves it pending.  Async-signal-safe: call
 * it from a signal handler to stop a blocked send or receive, even when
 * the signal arrives just before the call begins.  Other processes'
 * waiters may wake spuriously and wait again.
 */
void chan_interrupt(struct chan *ch);

/*
 * Close the channel for every process.  Later sends fail with -EPIPE;
 * receivers take the messages still queued and then get -EPIPE.  Every
 * blocked sender and receiver wakes.  Closing twice is not an error.
 *
 * Returns 0, or -EINVAL (ch is NULL), -EBADF (a read-only handle) or
 * -EBADMSG (the segment is corrupt).
 */
int chan_close(struct chan *ch);

/*
 * Send len bytes from buf as one message.  chan_send() waits while the
 * channel is full, chan_try_send() never waits, and chan_send_timeout()
 * waits up to timeout_ns nanoseconds of CLOCK_MONOTONIC.  A send that can
 * complete at once succeeds whatever the timeout.  Those two still wait up
 * to 100 ms for a lock that another process holds (for one copy, unless
 * that process is stopped), even past the deadline.  The receive calls
 * below do the same.
 *
 * Returns 0 once the message is committed, or:
 *   -EMSGSIZE  len exceeds the channel's maximum message size; nothing
 *              was queued
 *   -EPIPE     the channel is closed, or it tracks peers and every
 *              receiver is gone
 *   -EAGAIN    chan_try_send() only: the channel is full
 *   -ETIMEDOUT chan_send_timeout() only: still full at the deadline
 *   -EINTR     a signal handler ran while waiting, or chan_interrupt()
 *              was called; nothing was sent.  The call is not restarted,
 *              whatever SA_RESTART says.
 *   -EINVAL    ch is NULL, or buf is NULL and len is not 0
 *   -EBADF     the handle is read-only
 *   -EBADMSG   the segment is corrupt
 */
int chan_send(struct chan *ch, const void *buf, size_t len);
int chan_try_send(struct chan *ch, const void *buf, size_t len);
int chan_send_timeout(struct chan *ch, const void *buf, size_t len,
		      uint64_t timeout_ns);

/*
 * Take the oldest message into buf, which has room for size bytes, and
 * store its length in *ret_len.  chan_recv() waits while the channel is empty,
 * chan_try_recv() never waits, and chan_recv_timeout() waits up to
 * timeout_ns nanoseconds of CLOCK_MONOTONIC.  A receive that can complete
 * at once succeeds whatever the timeout.
 *
 * Returns 0, or:
 *   -EMSGSIZE  the next message is larger than size: nothing is removed,
 *              and *ret_len is set to the size needed
 *   -EPIPE     end of channel: no message is left, and the channel is
 *              closed, or it tracks peers and every sender is gone
 *   -EAGAIN    chan_try_recv() only: the channel is empty
 *   -ETIMEDOUT chan_recv_timeout() only: still empty at the deadline
 *   -EINTR     a signal handler ran while waiting, or chan_interrupt()
 *              was called; nothing was taken.  The call is not restarted,
 *              whatever SA_RESTART says.
 *   -EINVAL    ch or ret_len is NULL, or buf is NULL and size is not 0
 *   -EBADF     the handle is read-only
 *   -EBADMSG   the segment is corrupt
 */
int chan_recv(struct chan *ch, void *buf, size_t size, size_t *ret_len);
int chan_try_recv(struct chan *ch, void *buf, size_t size, size_t *ret_len);
int chan_recv_timeout(struct chan *ch, void *buf, size_t size, size_t *ret_len,
		      uint64_t timeout_ns);

/*
 * Batches.  These move many messages per hold of a lock, which is what
 * makes many small messages cheap.  Their timeout_ns is 0 for "do not
 * wait" (-EAGAIN), CHAN_TIMEOUT_INFINITE, or a limit (-ETIMEDOUT).
 *
 * chan_send_batch() sends the count messages of msgs in order, waiting
 * for room as needed, and stores in *ret_sent how many were committed,
 * also on failure.  Every length is checked first: with one too long, it
 * returns -EMSGSIZE and sends nothing.  Returns 0 once all are sent, or
 * an error of chan_send().
 *
 * chan_recv_batch() waits for at least one message, then takes as many
 * as are queued, up to max_msgs, while each fits in what is left of buf.
 * Message i is stored at buf plus the sum of lens[0..i-1], and its length
 * in lens[i].  *ret_count receives the number taken.  Returns 0, or an
 * error of chan_recv(); -EMSGSIZE when the first message does not fit in
 * size bytes, with the size it needs in lens[0] and nothing removed.
 */
int chan_send_batch(struct chan *ch, const struct iovec *msgs, size_t count,
		    size_t *ret_sent, uint64_t timeout_ns);
int chan_recv_batch(struct chan *ch, void *buf, size_t size, size_t *lens,
		    size_t max_msgs, size_t *ret_count, uint64_t timeout_ns);

/*
 * Zero-copy sending.  chan_send_reserve() waits for room, as
 * chan_send_batch() does, and stores in *ret_buf a pointer to len bytes
 * inside the channel for the next message.  Write the message there, then
 * publish it with chan_send_commit(), giving its final length (at most
 * len), or drop it with chan_send_abort().  Between the two calls the
 * calling thread holds the channel's send lock: keep that span short, make
 * no other chan call on the channel in it, and end it in the same thread.
 * A process that dies in between loses only its unpublished message.
 *
 * chan_send_reserve() returns 0, or an error of chan_send().
 * chan_send_commit() returns 0, -EINVAL when nothing is reserved, or
 * -EMSGSIZE when len exceeds the reserved length (the message is dropped).
 */
int chan_send_reserve(struct chan *ch, size_t len, void **ret_buf,
		      uint64_t timeout_ns);
int chan_send_commit(struct chan *ch, size_t len);
void chan_send_abort(struct chan *ch);

/*
 * Zero-copy receiving.  chan_recv_peek() waits for a message, as
 * chan_recv_batch() does, and stores a pointer to it and its length in
 * *ret_buf and *ret_len; the message stays in the channel until
 * chan_recv_release() removes it.  As with reserve, the calling thread
 * holds the receive lock in between.  A process that dies in between
 * leaves the message queued for the next receiver.
 *
 * chan_recv_peek() returns 0, or an error of chan_recv().
 * chan_recv_release() returns 0, or -EINVAL when nothing is peeked.
 */
int chan_recv_peek(struct chan *ch, const void **ret_buf, size_t *ret_len,
		   uint64_t timeout_ns);
int chan_recv_release(struct chan *ch);

/*
 * Store a snapshot of the channel's geometry, state and counters in *ret.
 * The snapshot is taken without the lock, so it works while another
 * process holds it, and its counters may disagree by a message or two.
 *
 * Returns 0, or -EINVAL (a NULL argument), -EBADMSG (the segment shrank
 * under the mapping) or -errno from fstat(2).
 */
int chan_info(struct chan *ch, struct chan_info *ret);

/*
 * List the handles attached to the channel, oldest entry first, into
 * peers (room for size entries), and store the number found in
 * *ret_count, which may exceed size.  Attachments whose process died are
 * listed with alive 0 and reaped by this call, so they are listed once.
 * A read-only handle cannot reap them, so through it they stay listed.
 *
 * Returns 0, or -EINVAL (ch or ret_count is NULL, or peers is NULL and
 * size is not 0).
 */
int chan_peers(struct chan *ch, struct chan_peer *peers, size_t size,
	       size_t *ret_count);

/* The findings and actions of one chan_repair() call. */
struct chan_repair_report {
	/* Locks whose owner had died. */
	uint32_t locks_repaired;
	/* Locks held for over 100 ms by a live owner. */
	uint32_t locks_busy;
	/* Attachments of dead processes cleared. */
	uint32_t peers_reaped;
};

/*
 * Repair what dead processes left, without waiting for the next send or
 * receive to do it.  Taking and releasing each of the channel's locks
 * repairs a lock whose owner died.  The attachments of processes that
 * died are cleared, with their share of the waiter counts.  A lock that a
 * live process holds for longer than 100 ms is counted as busy and
 * skipped.
 * For housekeeping by a supervisor such as chanbusd.
 *
 * Returns 0 and fills *ret, or -EINVAL (a NULL argument), -EBADF (a
 * read-only handle) or -EBADMSG (the segment is corrupt).
 */
int chan_repair(struct chan *ch, struct chan_repair_report *ret);

/* Return the channel's name, or its maximum message size in bytes. */
const char *chan_name(const struct chan *ch);
size_t chan_max_msg_size(const struct chan *ch);

/*
 * Check a channel name against the rules above.
 * Returns 0, or -EINVAL for NULL, empty, too long, "." or ".." names
 * and names with a byte outside [A-Za-z0-9._-].
 */
int chan_name_validate(const char *name);

/*
 * List the channels in /dev/shm, sorted by name.  *ret_names receives an
 * array of *ret_count names; release it with chan_list_free().
 *
 * Returns 0, or -ENOMEM, or -errno from opendir(3).
 */
int chan_list(char ***ret_names, size_t *ret_count);
void chan_list_free(char **names, size_t count);

/*
 * Describe an error code in words, with chan's meaning where it has one
 * ("channel is closed" for EPIPE).  Accepts err with either sign.  Returns
 * a static string, never NULL.
 */
const char *chan_strerror(int err);

/* Return the symbolic name of an error code, such as "EPIPE". */
const char *chan_error_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* CHAN_H */
