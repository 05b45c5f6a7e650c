/* SPDX-License-Identifier: MIT */
/* Declarations shared by the chanctl verbs. */
#ifndef CHANCTL_H
#define CHANCTL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chan.h"

/*
 * Exit status of chanctl, as documented in chanctl(1) and --help.  A verb
 * stopped by SIGINT or SIGTERM exits with 128 plus the signal number.
 */
enum chanctl_exit {
	CHANCTL_EXIT_OK = 0,
	CHANCTL_EXIT_FAILURE = 1,
	CHANCTL_EXIT_USAGE = 2,
	CHANCTL_EXIT_NOT_FOUND = 3,
	CHANCTL_EXIT_TIMED_OUT = 4,
	CHANCTL_EXIT_CLOSED = 5,
	CHANCTL_EXIT_EXISTS = 6,
	CHANCTL_EXIT_SIGNAL_BASE = 128,
};

/*
 * One verb: its name, its operands after the options, the help text and
 * the function that runs it.  run() receives argv with argv[0] set to the
 * verb name and returns an exit status.
 */
struct verb {
	const char *name;
	const char *synopsis; /* operands and options, after "chanctl VERB" */
	const char *summary;  /* one line for the verb list */
	const char *options;  /* option help, one option per line */
	unsigned min_operands;
	unsigned max_operands; /* UINT_MAX: no limit */
	int (*run)(const struct verb *verb, int argc, char **argv);
};

int verb_create(const struct verb *verb, int argc, char **argv);
int verb_ls(const struct verb *verb, int argc, char **argv);
int verb_info(const struct verb *verb, int argc, char **argv);
int verb_send(const struct verb *verb, int argc, char **argv);
int verb_recv(const struct verb *verb, int argc, char **argv);
int verb_close(const struct verb *verb, int argc, char **argv);
int verb_rm(const struct verb *verb, int argc, char **argv);
int verb_watch(const struct verb *verb, int argc, char **argv);

/* Print the help of one verb to standard output. */
void verb_help(const struct verb *verb);

/*
 * Report an unknown option or a missing option value found by
 * getopt_long() at argv[optind - 1], and return CHANCTL_EXIT_USAGE.
 */
int option_error(const struct verb *verb, char **argv, int c);

/*
 * Check the operand count left after the options; on failure, report it
 * and return CHANCTL_EXIT_USAGE.
 */
int check_operands(const struct verb *verb, int count);

/* Print "chanctl: MESSAGE" to standard error. */
void log_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/*
 * Report a usage error with a pointer to the verb's help, and return
 * CHANCTL_EXIT_USAGE.
 */
int usage_error(const struct verb *verb, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Report `invalid SUBJECT "VALUE": RULE` with VALUE escaped for the
 * terminal, and return CHANCTL_EXIT_USAGE.
 */
int invalid_value(const char *subject, const char *value, const char *rule);

/* Map a negative errno from libchan to an exit status. */
int exit_status_of(int err);

/* Check a channel name; report it and return the exit status if invalid. */
int check_name(const char *name);

/*
 * Attach to a channel with the chan_open() flags given (the roles, or
 * CHAN_READ_ONLY); on failure, report it with the fix and return the exit
 * status.
 */
int attach_channel(const char *name, uint32_t flags, struct chan **ret);

/* The directory of the segments: CHAN_SHM_DIR, or /dev/shm. */
const char *shm_dir(void);

/* The path of the segment of a channel, for messages.  Free the result. */
char *segment_path(const char *name);

/*
 * Strict parsers for option values.  Each returns 0, or reports the
 * option and the value and returns CHANCTL_EXIT_USAGE.
 */
int parse_count(const char *option, const char *value, uint64_t max,
		uint64_t *ret);
int parse_size(const char *option, const char *value, uint64_t max,
	       uint64_t *ret);
int parse_seconds(const char *option, const char *value, uint64_t *ret_ns);
int parse_mode(const char *option, const char *value, uint32_t *ret);
int parse_user(const char *option, const char *value, uid_t *ret);
int parse_group(const char *option, const char *value, gid_t *ret);

/* Format a byte count in human units ("4.0K") into buf. */
void format_size(char *buf, size_t size, uint64_t bytes);

/* The user or group name of an id, or the id in decimal.  Free it. */
char *user_name(uid_t uid);
char *group_name(gid_t gid);

/*
 * How send reads and recv writes messages on standard input and output:
 * one per line (the newline is not part of the message), one per
 * NUL-terminated record, or raw bytes (chunks of up to the maximum
 * message size on input, the bytes with nothing added on output).
 */
enum record_format {
	FORMAT_LINES,
	FORMAT_NUL,
	FORMAT_RAW,
};

/*
 * Set *format to the one of -0 or --raw; they exclude each other, so a
 * second, different one is a usage error.  Returns 0 or an exit status.
 */
int set_record_format(const struct verb *verb, enum record_format *format,
		      enum record_format requested);

/*
 * SIGINT and SIGTERM set caught_signal and call chan_interrupt() on ch,
 * unless ch is NULL, so that a send or receive waiting on ch, or about to
 * wait, returns -EINTR.  A signal that chanctl inherited as ignored stays
 * ignored.  The handlers are installed without SA_RESTART, so
 * that a blocked read(2), write(2) or poll(2) returns EINTR once they have
 * run.  Call stop_interrupting() before detaching ch.
 */
extern volatile sig_atomic_t caught_signal;
void install_signal_handlers(struct chan *ch);
void stop_interrupting(void);

/*
 * The channels that the bus daemon chanbusd manages now, read from its
 * state file (CHAN_BUS_STATE, or /run/chan-bus/channels).  A missing file
 * means that no bus runs, so known is true and the list empty.  known is
 * false after a failure to read the file, which bus_state_load() logs.
 */
struct bus_state {
	bool known;
	char **names; /* sorted with strcmp() */
	size_t count;
};

void bus_state_load(struct bus_state *state);
void bus_state_free(struct bus_state *state);

/* Tell whether the bus manages the channel; only when state->known. */
bool bus_state_has(const struct bus_state *state, const char *name);

/* Format a time as ISO 8601 in UTC, to the nanosecond ("...T...Z"). */
void format_time(char *buf, size_t size, int64_t sec, int64_t nsec);

/*
 * Write all of buf to fd, retrying after short writes and EINTR.  Returns
 * 0 or a negative errno.
 */
int write_all(int fd, const void *buf, size_t len);

#endif /* CHANCTL_H */
