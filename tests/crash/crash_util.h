/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the crash tests: a private segment directory, child
 * processes with deadlines, self-checking messages and direct access to a
 * segment's bytes.
 */
#ifndef CHAN_CRASH_UTIL_H
#define CHAN_CRASH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chan.h"
#include "segment.h"

/*
 * crash_wait() results for a child that outlived its deadline, and for a
 * waitpid(2) failure, with the cause in errno.
 */
#define CRASH_HUNG	  (-1)
#define CRASH_WAIT_FAILED (-2)

/*
 * Children exit with CRASH_EXIT_ERRNO + errno when a chan call fails
 * unexpectedly, so that the parent can name the error.
 */
#define CRASH_EXIT_ERRNO 100

/* Exit code that Check and ctest treat as a skipped test. */
#define CRASH_SKIP 77

/*
 * A test message: this header, then a payload that depends only on
 * (writer, seq), so that any torn or mixed message fails crash_msg_check().
 */
struct crash_msg {
	uint32_t writer;
	uint32_t len; /* of the whole message, header included */
	uint64_t seq;
	uint64_t sum; /* FNV-1a of the payload */
};

/* Pack a received (writer, seq) pair into one log record; writer < 2^23. */
#define CRASH_REC(writer, seq) ((uint64_t)(writer) << 40 | (uint64_t)(seq))
#define CRASH_REC_WRITER(rec)  ((uint32_t)((rec) >> 40))
#define CRASH_REC_SEQ(rec)     ((rec) & ((UINT64_C(1) << 40) - 1))
#define CRASH_REC_CORRUPT      (UINT64_C(1) << 63)

/*
 * Create a private segment directory under /dev/shm and point CHAN_SHM_DIR
 * at it, or remove it with everything inside.  Use them as an unchecked
 * Check fixture, so that the directory goes even when a test fails.
 */
void crash_dir_setup(void);
void crash_dir_teardown(void);
const char *crash_dir(void);

/* Store a channel name unique to this process and call in buf. */
void crash_name(char *buf, size_t size, const char *tag);

/* Build the file path of channel name in the private directory. */
void crash_path(char *buf, size_t size, const char *name);

uint64_t crash_now_ns(void);
void crash_sleep_us(unsigned us);

/*
 * Fork a child that sets CHAN_FAULT to fault (when not NULL) and runs
 * fn(arg), then exits with its return value.  The child never returns.
 */
pid_t crash_spawn(int (*fn)(void *), void *arg, const char *fault);

/*
 * Reap pid, waiting at most timeout_ms.  Returns its wait status,
 * CRASH_HUNG after killing and reaping a child that did not end in time,
 * or CRASH_WAIT_FAILED.
 */
int crash_wait(pid_t pid, int timeout_ms);

/* Describe a wait status for a failure message. */
const char *crash_status_str(int status, char *buf, size_t size);
bool crash_killed_by(int status, int sig);
bool crash_exited_ok(int status);

/* Fill buf with message (writer, seq) of len bytes, len >= header. */
void crash_msg_build(void *buf, size_t len, uint32_t writer, uint64_t seq);

/* Check a received message; 0 and the identity, or -1 if corrupt. */
int crash_msg_check(const void *buf, size_t len, uint32_t *writer,
		    uint64_t *seq);

/* A message length between the header size and max, varying with seq. */
size_t crash_msg_len(uint64_t seq, size_t max);

/* Return the exit code that reports the error err. */
int crash_exit_code(int err);

/* Write one record to a log descriptor; aborts the child on failure. */
void crash_log(int fd, uint64_t record);

/* Read every record up to end of file; *ret is malloc'd. */
size_t crash_read_log(int fd, uint64_t **ret);

/* Sort records and return the number of duplicates among them. */
size_t crash_sort_count_dups(uint64_t *recs, size_t n);
bool crash_contains(const uint64_t *sorted, size_t n, uint64_t rec);

/*
 * Map the segment file of name read-write, bypassing the library, to take
 * its lock or corrupt it.  Returns NULL on failure.
 */
struct chan_seg *crash_seg_map(const char *name, size_t *ret_size);
void crash_seg_unmap(struct chan_seg *seg, size_t size);

/*
 * Store the segment's robust mutexes in out (room for two) and return how
 * many there are.  Senders take the first and receivers the second.  This
 * is the one place that knows the mutex fields of struct chan_seg.
 */
size_t crash_seg_mutexes(struct chan_seg *seg, pthread_mutex_t **out);

/* Create a channel of the given geometry, or return NULL. */
struct chan *crash_create(const char *name, uint64_t capacity,
			  uint64_t max_msg_size);

#endif /* CHAN_CRASH_UTIL_H */
