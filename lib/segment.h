/* SPDX-License-Identifier: MIT */
/*
 * The layout of a channel segment in shared memory, and the process-local
 * handle that maps it.
 *
 * A segment is one file in /dev/shm:
 *
 *   offset 0                   struct chan_seg
 *   CHAN_SEG_ATTACH_OFFSET     CHAN_SEG_ATTACH_MAX struct chan_attachment
 *   CHAN_SEG_HEADER_SIZE       capacity slots of slot_size bytes each
 *
 * A slot holds a struct chan_slot (the message length) followed by the
 * payload.  Every field has a fixed width and a fixed offset, checked by
 * static assertions below, and no pointer is stored.  The ABI-dependent
 * objects, the pthread mutexes, sit in fixed 64-byte cells;
 * the header records the ABI that initialised it (CHAN_SEG_ABI), and
 * attach rejects a segment made under another.
 *
 * Ring indices.  head and tail count messages since creation and never
 * wrap in practice (2^64).  Message n lives in slot n % capacity.  The
 * queue holds the messages head .. tail-1, so depth = tail - head, and a
 * valid segment always has tail - head <= capacity.
 *
 * Two locks.  Senders serialise on send_lock and own tail; receivers
 * serialise on recv_lock and own head.  The two sides meet only through
 * head and tail, as in a single-producer single-consumer ring, so a sender
 * and a receiver never wait for each other's lock, and a lone sender and
 * receiver each take a lock that stays in their own cache.  Both are
 * robust, process-shared pthread mutexes.
 *
 * Crash consistency.  tail is advanced by one release store after the
 * slot it covers is fully written, and head by one release store after
 * the slot is fully read.  A process killed at any instruction inside
 * either lock therefore leaves a consistent ring: a half-written message
 * lies beyond tail and is never seen, and a half-read one is still
 * queued.  The counters beside them (bytes, waits) are updated after the
 * index store, so a crash can leave them one message behind, never ahead.
 * cached_head and cached_tail are each side's last view of the other's
 * index; they may only lag, never lead, and are reloaded when they would
 * block progress.
 *
 * Waiting.  Receivers sleep on data_seq and senders on space_seq, two
 * 32-bit futex words.  A waiter reads the word, adds itself to
 * recv_waiters or send_waiters, checks the ring once more and sleeps only
 * if the word still holds what it read.  A sender stores tail and then
 * reads recv_waiters (both sequentially consistent), and bumps data_seq
 * and wakes one sleeper only when that count is non-zero; receivers do
 * the same in mirror.  When nobody waits, a send or receive therefore
 * makes no system call.  A waiter that dies leaves its count behind; that
 * costs a spurious wake-up call, never a lost one.
 */
#ifndef CHAN_SEGMENT_H
#define CHAN_SEGMENT_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "sigbus.h"

/* The bytes "CHANSEG1" read as a little-endian integer. */
#define CHAN_SEG_MAGIC	       UINT64_C(0x314745534e414843)
#define CHAN_SEG_VERSION       1
#define CHAN_SEG_HEADER_SIZE   8192
#define CHAN_SEG_ATTACH_OFFSET 1024
#define CHAN_SEG_ATTACH_MAX                                                    \
	((CHAN_SEG_HEADER_SIZE - CHAN_SEG_ATTACH_OFFSET) /                     \
	 sizeof(struct chan_attachment))
#define CHAN_SEG_SLOT_ALIGN 64
#define CHAN_CACHE_LINE	    64

/* Pointer width and mutex size of the process that built the segment. */
#define CHAN_SEG_ABI                                                           \
	((uint32_t)(sizeof(void *) << 16 | sizeof(pthread_mutex_t) << 8 |      \
		    sizeof(long)))

struct chan_seg {
	/* Identity and geometry: written once, before the name exists. */
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint32_t abi;
	uint32_t flags; /* CHAN_TRACK_PEERS */
	uint64_t capacity;
	uint64_t max_msg_size;
	uint64_t slot_size;
	uint64_t segment_size;
	int64_t creator_pid;
	int64_t created_sec;
	int64_t created_nsec;
	uint8_t pad0[CHAN_CACHE_LINE * 2 - 80];

	/* Robust, process-shared mutexes of the two sides. */
	union {
		pthread_mutex_t mutex;
		uint8_t bytes[CHAN_CACHE_LINE];
	} send_lock, recv_lock;

	/* State shared by both sides. */
	uint32_t closed;
	uint32_t peer_gen; /* bumped on every change of the attachments */
	uint64_t recoveries;
	uint32_t sender_seen;	/* a sender has attached at some time */
	uint32_t receiver_seen; /* a receiver has attached at some time */
	uint8_t pad1[CHAN_CACHE_LINE - 24];

	/* Producer side: written by senders under send_lock. */
	uint64_t tail;
	uint64_t cached_head;
	uint64_t bytes_sent;
	uint64_t send_waits;
	uint32_t data_seq;	  /* receivers sleep on this futex word */
	uint32_t recv_waiters;	  /* receivers that may sleep on data_seq */
	uint64_t send_spin_until; /* the spinning sender's lease, see sync.h */
	uint8_t pad2[CHAN_CACHE_LINE - 48];

	/* Consumer side: written by receivers under recv_lock. */
	uint64_t head;
	uint64_t cached_tail;
	uint64_t bytes_received;
	uint64_t recv_waits;
	uint32_t space_seq;	  /* senders sleep on this futex word */
	uint32_t send_waiters;	  /* senders that may sleep on space_seq */
	uint64_t recv_spin_until; /* the spinning receiver's lease */
	uint8_t pad3[CHAN_CACHE_LINE - 48];
};

static_assert(sizeof(pthread_mutex_t) <= CHAN_CACHE_LINE,
	      "pthread_mutex_t must fit its cell in the segment");
static_assert(offsetof(struct chan_seg, send_lock) == 128, "layout");
static_assert(offsetof(struct chan_seg, recv_lock) == 192, "layout");
static_assert(offsetof(struct chan_seg, closed) == 256, "layout");
static_assert(offsetof(struct chan_seg, tail) == 320, "layout");
static_assert(offsetof(struct chan_seg, head) == 384, "layout");
static_assert(sizeof(struct chan_seg) == 448, "layout");
static_assert(sizeof(struct chan_seg) <= CHAN_SEG_ATTACH_OFFSET, "layout");

/*
 * Attachments.  Each process that attaches claims an entry of the table
 * and holds an open-file-description lock (F_OFD_SETLK) on the entry's
 * bytes for as long as it stays attached.  The kernel drops that lock
 * when the last descriptor of the open file goes away, whatever the cause
 * of death, so a peer is alive exactly while its entry is locked: no PID
 * is compared, so a reused PID cannot pass for a live peer, and a process
 * stopped by SIGSTOP or a debugger still holds its lock.  state says
 * whether the entry is in use; an entry in use whose lock is free belongs
 * to a dead process and may be reaped by anyone who takes the lock.
 * send_waiting and recv_waiting count this attachment's share of the
 * global waiter counts, so that reaping can return what a dead waiter
 * left behind.
 */
struct chan_attachment {
	uint32_t state; /* CHAN_ATTACH_FREE or CHAN_ATTACH_USED */
	uint32_t roles; /* CHAN_SENDER, CHAN_RECEIVER */
	int32_t pid;	/* for display only */
	uint32_t send_waiting;
	uint32_t recv_waiting;
	uint32_t reserved;
	int64_t attached_sec;
};

enum {
	CHAN_ATTACH_FREE = 0,
	CHAN_ATTACH_USED = 1,
};

static_assert(sizeof(struct chan_attachment) == 32, "layout");

/* The header of each slot; the payload follows it. */
struct chan_slot {
	uint32_t len;
	uint32_t reserved;
};

#define CHAN_SLOT_HEADER_SIZE ((uint64_t)sizeof(struct chan_slot))

/*
 * The process-local handle.  The geometry is copied from the segment once,
 * at attach, after validation, and every bound is checked against these
 * copies: a peer that rewrites the header later cannot move our accesses
 * outside the mapping.
 */
struct chan {
	struct chan_seg *seg;
	uint8_t *slots;
	size_t map_size;
	uint64_t capacity;
	uint64_t max_msg_size;
	uint64_t slot_size;
	struct chan_attachment *attachments;
	struct chan_guard *guard; /* see sigbus.c */
	int fd;
	int attach_index; /* this handle's entry, or -1 */
	pid_t attach_pid; /* the process that claimed it */
	uint32_t roles;
	uint32_t flags;		  /* the segment's, as validated at attach */
	bool read_only;		  /* mapped without write access */
	uint64_t peer_view;	  /* see chan__peers_gone() */
	uint32_t interrupts;	  /* bumped by chan_interrupt() */
	uint32_t interrupts_seen; /* interrupts when a call last gave EINTR */
	int64_t next_reap_ns;	  /* when a sender next looks for dead peers */
	size_t reserved_len; /* chan_send_reserve()'s length, or SIZE_MAX */
	bool peeking;	     /* between chan_recv_peek() and release */
	char name[CHAN_NAME_MAX + 1];
};

/* Claim and release this handle's attachment entry (peers.c). */
int chan__attachment_claim(struct chan *ch, uint32_t roles);
void chan__attachment_release(struct chan *ch);

/*
 * Tell whether every peer of a role (CHAN_SENDER or CHAN_RECEIVER) is gone
 * on a channel with CHAN_TRACK_PEERS: one was attached at some time and
 * none is now.  The cheap form reads only shared memory and trusts the
 * table; the thorough form first reaps dead attachments with a few system
 * calls.
 */
bool chan__peers_gone(struct chan *ch, uint32_t role, bool thorough);

/*
 * Record that this handle starts (+1) or stops (-1) waiting on the side of
 * role.  Call it after raising the global waiter count and before lowering
 * it, so that a death in between leaves the global count too high, which
 * costs a spurious wake-up, never too low, which could lose one.
 */
void chan__waiting(struct chan *ch, uint32_t role, int delta);

/* Count attached handles, and those with each role, by the table. */
void chan__peer_counts(struct chan *ch, uint32_t *attachments,
		       uint32_t *senders, uint32_t *receivers);

/* Tell whether the file shrank below the mapping; marks the handle. */
bool chan__segment_shrunk(struct chan *ch);

/* Compute slot_size and segment_size for a geometry; -EINVAL if too big. */
int chan__geometry(uint64_t capacity, uint64_t max_msg_size,
		   uint64_t *ret_slot_size, uint64_t *ret_segment_size);

/* Build "<dir>/chan.<name>" into buf, and return the directory alone. */
const char *chan__shm_dir(void);
int chan__shm_path(const char *name, char *buf, size_t size);

#endif /* CHAN_SEGMENT_H */
