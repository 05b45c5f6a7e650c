/* SPDX-License-Identifier: MIT */
/* The recv verb: messages from a channel to standard output. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chanctl.h"

enum {
	OPT_RAW = 0x100,
	OPT_TIMEOUT,
	OPT_NONBLOCK,
};

struct recv_options {
	enum record_format format;
	uint64_t count; /* stop after this many messages; 0: no limit */
	uint64_t timeout_ns;
	const char *timeout_text;
	bool nonblock;
};

static int parse_recv_options(const struct verb *verb, int argc, char **argv,
			      struct recv_options *opts)
{
	static const struct option options[] = {
	    {"null", no_argument, NULL, '0'},
	    {"raw", no_argument, NULL, OPT_RAW},
	    {"count", required_argument, NULL, 'n'},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"nonblock", no_argument, NULL, OPT_NONBLOCK},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":0n:h", options, NULL)) != -1) {
		r = 0;
		switch (c) {
		case '0':
			r = set_record_format(verb, &opts->format, FORMAT_NUL);
			break;
		case OPT_RAW:
			r = set_record_format(verb, &opts->format, FORMAT_RAW);
			break;
		case 'n':
			r = parse_count("--count", optarg, UINT64_MAX,
					&opts->count);
			break;
		case OPT_TIMEOUT:
			opts->timeout_text = optarg;
			r = parse_seconds("--timeout", optarg,
					  &opts->timeout_ns);
			break;
		case OPT_NONBLOCK:
			opts->nonblock = true;
			break;
		case 'h':
			verb_help(verb);
			return CHANCTL_EXIT_OK;
		default:
			return option_error(verb, argv, c);
		}
		if (r != 0)
			return r;
	}
	if (opts->nonblock && opts->timeout_text != NULL)
		return usage_error(verb, "--nonblock and --timeout exclude "
					 "each other");
	r = check_operands(verb, argc - optind);
	return r != 0 ? r : -1;
}

/*
 * A signal stops a wait through chan_interrupt() in the handler, even in
 * the instant before the wait starts.  signals.c covers the instant
 * before the call starts.
 */
static int receive(struct chan *ch, const struct recv_options *opts, char *buf,
		   size_t size, size_t *len)
{
	if (opts->nonblock)
		return chan_try_recv(ch, buf, size, len);
	return chan_recv_timeout(ch, buf, size, len, opts->timeout_ns);
}

/*
 * Report why receiving stopped, once, and return the exit status.  End of
 * channel, and an empty channel with --nonblock, are a normal end.
 */
static int report_recv_end(const char *name, const struct recv_options *opts,
			   int err)
{
	switch (err) {
	case -EPIPE:
	case -EAGAIN:
		return CHANCTL_EXIT_OK;
	case -EINTR:
		return CHANCTL_EXIT_SIGNAL_BASE + caught_signal;
	case -ETIMEDOUT:
		log_error("no message arrived on channel \"%s\" within %s s",
			  name, opts->timeout_text);
		return CHANCTL_EXIT_TIMED_OUT;
	default:
		log_error("failed to receive from channel \"%s\": %s", name,
			  chan_strerror(err));
		return exit_status_of(err);
	}
}

static int report_write_error(const char *name, uint64_t number, int err)
{
	log_error("failed to write to standard output: %s; message %" PRIu64
		  " was already taken from channel \"%s\" and is lost",
		  strerror(-err), number, name);
	return CHANCTL_EXIT_FAILURE;
}

/*
 * Receive into buf, which has room for the maximum message size and one
 * delimiter byte, and write each message out before taking the next.
 */
static int receive_loop(struct chan *ch, const char *name,
			const struct recv_options *opts, char *buf, size_t size)
{
	uint64_t received = 0;
	size_t len;
	int r;

	while (opts->count == 0 || received < opts->count) {
		/* A message already written is safe: stop before the next. */
		if (caught_signal != 0)
			return CHANCTL_EXIT_SIGNAL_BASE + caught_signal;

		r = receive(ch, opts, buf, size, &len);
		if (r == -EINTR && caught_signal == 0)
			continue;
		if (r < 0)
			return report_recv_end(name, opts, r);
		received++;

		if (opts->format == FORMAT_LINES)
			buf[len++] = '\n';
		else if (opts->format == FORMAT_NUL)
			buf[len++] = '\0';
		r = write_all(STDOUT_FILENO, buf, len);
		if (r < 0)
			return report_write_error(name, received, r);
	}
	return CHANCTL_EXIT_OK;
}

int verb_recv(const struct verb *verb, int argc, char **argv)
{
	struct recv_options opts = {
	    .format = FORMAT_LINES,
	    .timeout_ns = CHAN_TIMEOUT_INFINITE,
	};
	const char *name;
	struct chan *ch;
	size_t size;
	char *buf;
	int r;

	r = parse_recv_options(verb, argc, argv, &opts);
	if (r >= 0)
		return r;
	name = argv[optind];
	r = attach_channel(name, CHAN_RECEIVER, &ch);
	if (r != 0)
		return r;

	size = chan_max_msg_size(ch);
	buf = malloc(size + 1);
	if (buf == NULL) {
		log_error("out of memory for a buffer of %zu bytes", size + 1);
		chan_detach(ch);
		return CHANCTL_EXIT_FAILURE;
	}
	install_signal_handlers(ch);
	r = receive_loop(ch, name, &opts, buf, size);
	stop_interrupting();
	free(buf);
	chan_detach(ch);
	return r;
}
