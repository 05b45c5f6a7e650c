/* SPDX-License-Identifier: MIT */
/* The send verb: messages from the command line or standard input. */
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
	OPT_CLOSE,
};

struct send_options {
	enum record_format format;
	uint64_t timeout_ns; /* CHAN_TIMEOUT_INFINITE: wait without limit */
	const char *timeout_text;
	bool nonblock;
	bool close;
};

struct sender {
	struct chan *ch;
	const char *name;
	const struct send_options *opts;
	size_t max_msg_size;
	uint64_t sent; /* messages committed so far */
};

static int send_message(struct sender *s, const void *buf, size_t len)
{
	int r;

	/* A signal that came between two sends stops as one during a wait. */
	if (caught_signal != 0)
		return -EINTR;
	if (s->opts->nonblock)
		r = chan_try_send(s->ch, buf, len);
	else
		r = chan_send_timeout(s->ch, buf, len, s->opts->timeout_ns);
	if (r == 0)
		s->sent++;
	return r;
}

/* "1 message was" or "N messages were", for the counts in errors. */
static const char *messages_were(uint64_t count)
{
	return count == 1 ? "message was" : "messages were";
}

/*
 * Report -EPIPE: the channel is closed, or it tracks peers and every
 * receiver is gone.  A receiver that attaches again revives it only while
 * another sender is attached: once both sides have gone, a new receiver
 * sees the end at once, so only a new channel takes messages again.
 */
static void report_end_of_channel(const struct sender *s)
{
	struct chan_info info;

	if (chan_info(s->ch, &info) == 0 && !info.closed &&
	    (info.flags & CHAN_TRACK_PEERS)) {
		log_error("every receiver of channel \"%s\" is gone, and it "
			  "tracks peers, so it takes no more messages; "
			  "%" PRIu64 " %s sent before that; a tracked channel "
			  "ends when a side has gone, so to use it again, "
			  "remove it and create it anew ('chanctl rm %s', "
			  "then 'chanctl create --track-peers %s'), or create "
			  "it without --track-peers so that commands can feed "
			  "and drain it one after another",
			  s->name, s->sent, messages_were(s->sent), s->name,
			  s->name);
		return;
	}
	log_error("channel \"%s\" is closed, so it takes no more messages; "
		  "%" PRIu64 " %s sent before that",
		  s->name, s->sent, messages_were(s->sent));
}

/* Report a failed send, once, and return the exit status. */
static int report_send_error(const struct sender *s, int err)
{
	switch (err) {
	case -EINTR:
		return CHANCTL_EXIT_SIGNAL_BASE + caught_signal;
	case -EPIPE:
		report_end_of_channel(s);
		break;
	case -EAGAIN:
		log_error("channel \"%s\" is full; %" PRIu64 " %s sent; "
			  "retry later, or drop --nonblock to wait",
			  s->name, s->sent, messages_were(s->sent));
		break;
	case -ETIMEDOUT:
		log_error("timed out after %s s waiting for space in channel "
			  "\"%s\"; %" PRIu64 " %s sent",
			  s->opts->timeout_text, s->name, s->sent,
			  messages_were(s->sent));
		break;
	default:
		log_error("failed to send to channel \"%s\": %s; %" PRIu64
			  " %s sent",
			  s->name, chan_strerror(err), s->sent,
			  messages_were(s->sent));
		break;
	}
	return exit_status_of(err);
}

static int send_arguments(struct sender *s, int count, char **messages)
{
	int r;

	/* Check every length first, so that a bad argument sends nothing. */
	for (int i = 0; i < count; i++) {
		size_t len = strlen(messages[i]);

		if (len > s->max_msg_size) {
			log_error("MESSAGE argument %d is %zu bytes, over the "
				  "maximum message size of %zu bytes of "
				  "channel \"%s\"; nothing was sent; recreate "
				  "the channel with a larger --msg-size",
				  i + 1, len, s->max_msg_size, s->name);
			return CHANCTL_EXIT_FAILURE;
		}
	}
	for (int i = 0; i < count; i++) {
		r = send_message(s, messages[i], strlen(messages[i]));
		if (r < 0)
			return report_send_error(s, r);
	}
	return CHANCTL_EXIT_OK;
}

static int report_too_long(const struct sender *s, uint64_t number, size_t len)
{
	const char *unit = s->opts->format == FORMAT_LINES ? "line" : "record";

	log_error("%s %" PRIu64 " of standard input is %zu bytes, over the "
		  "maximum message size of %zu bytes of channel \"%s\"; it "
		  "was not sent, and the %" PRIu64 " %s%s before it %s sent; "
		  "recreate the channel with a larger --msg-size",
		  unit, number, len, s->max_msg_size, s->name, s->sent, unit,
		  s->sent == 1 ? "" : "s", s->sent == 1 ? "was" : "were");
	return CHANCTL_EXIT_FAILURE;
}

static int report_read_error(int err)
{
	if (err == -EINTR && caught_signal != 0)
		return CHANCTL_EXIT_SIGNAL_BASE + caught_signal;
	log_error("failed to read standard input: %s", strerror(-err));
	return CHANCTL_EXIT_FAILURE;
}

/* Send each line, or each NUL-terminated record, as one message. */
static int send_records(struct sender *s)
{
	int delim = s->opts->format == FORMAT_NUL ? '\0' : '\n';
	char *record = NULL;
	size_t allocated = 0;
	uint64_t number = 0;
	ssize_t n;
	int r, status = CHANCTL_EXIT_OK;

	errno = 0;
	while ((n = getdelim(&record, &allocated, delim, stdin)) >= 0) {
		size_t len = (size_t)n;

		number++;
		if (len > 0 && record[len - 1] == delim)
			len--;
		if (len > s->max_msg_size) {
			status = report_too_long(s, number, len);
			break;
		}
		r = send_message(s, record, len);
		if (r < 0) {
			status = report_send_error(s, r);
			break;
		}
	}
	if (n < 0 && ferror(stdin))
		status = report_read_error(errno != 0 ? -errno : -EIO);
	free(record);
	return status;
}

/*
 * Read up to size bytes, stopping short only at end of input.  Returns
 * the count, or a negative errno.
 */
static ssize_t read_full(int fd, char *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR && caught_signal == 0)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Send standard input in chunks of the maximum message size. */
static int send_raw(struct sender *s)
{
	char *chunk = malloc(s->max_msg_size);
	ssize_t n;
	int r, status = CHANCTL_EXIT_OK;

	if (chunk == NULL) {
		log_error("out of memory for a buffer of %zu bytes",
			  s->max_msg_size);
		return CHANCTL_EXIT_FAILURE;
	}
	for (;;) {
		n = read_full(STDIN_FILENO, chunk, s->max_msg_size);
		if (n < 0) {
			status = report_read_error((int)n);
			break;
		}
		if (n == 0)
			break;
		r = send_message(s, chunk, (size_t)n);
		if (r < 0) {
			status = report_send_error(s, r);
			break;
		}
	}
	free(chunk);
	return status;
}

static int parse_send_options(const struct verb *verb, int argc, char **argv,
			      struct send_options *opts)
{
	static const struct option options[] = {
	    {"null", no_argument, NULL, '0'},
	    {"raw", no_argument, NULL, OPT_RAW},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"nonblock", no_argument, NULL, OPT_NONBLOCK},
	    {"close", no_argument, NULL, OPT_CLOSE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":0h", options, NULL)) != -1) {
		r = 0;
		switch (c) {
		case '0':
			r = set_record_format(verb, &opts->format, FORMAT_NUL);
			break;
		case OPT_RAW:
			r = set_record_format(verb, &opts->format, FORMAT_RAW);
			break;
		case OPT_TIMEOUT:
			opts->timeout_text = optarg;
			r = parse_seconds("--timeout", optarg,
					  &opts->timeout_ns);
			break;
		case OPT_NONBLOCK:
			opts->nonblock = true;
			break;
		case OPT_CLOSE:
			opts->close = true;
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

int verb_send(const struct verb *verb, int argc, char **argv)
{
	struct send_options opts = {
	    .format = FORMAT_LINES,
	    .timeout_ns = CHAN_TIMEOUT_INFINITE,
	};
	struct sender s = {.opts = &opts};
	int operands, r, status;

	r = parse_send_options(verb, argc, argv, &opts);
	if (r >= 0)
		return r;
	operands = argc - optind;
	if (operands > 1 && opts.format != FORMAT_LINES)
		return usage_error(verb, "-0 and --raw apply to standard "
					 "input, not to MESSAGE arguments");

	s.name = argv[optind];
	r = attach_channel(s.name, CHAN_SENDER, &s.ch);
	if (r != 0)
		return r;
	s.max_msg_size = chan_max_msg_size(s.ch);
	install_signal_handlers(s.ch);

	if (operands > 1)
		status = send_arguments(&s, operands - 1, argv + optind + 1);
	else if (opts.format == FORMAT_RAW)
		status = send_raw(&s);
	else
		status = send_records(&s);

	/* Close only after a complete input, so receivers never take a
	 * truncated stream for a whole one. */
	if (status == CHANCTL_EXIT_OK && opts.close) {
		r = chan_close(s.ch);
		if (r < 0) {
			log_error("failed to close channel \"%s\": %s", s.name,
				  chan_strerror(r));
			status = exit_status_of(r);
		}
	}
	stop_interrupting();
	chan_detach(s.ch);
	return status;
}
