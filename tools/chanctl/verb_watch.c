/* SPDX-License-Identifier: MIT */
/* The watch verb: a live view of channels, refreshed like top(1). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "chanctl.h"
#include "watch.h"

#define NSEC_PER_SEC INT64_C(1000000000)

enum {
	OPT_INTERVAL = 0x100,
	OPT_JSON,
	OPT_NO_LEGEND,
};

struct watch_options {
	struct frame_style style;
	uint64_t count; /* stop after this many refreshes; 0: no limit */
};

/* The terminal, when watch draws on one, and what to restore on exit. */
struct screen {
	bool keyboard; /* standard input is a terminal in non-canonical mode */
	struct termios saved;
};

static int parse_watch_options(const struct verb *verb, int argc, char **argv,
			       struct watch_options *opts)
{
	static const struct option options[] = {
	    {"interval", required_argument, NULL, OPT_INTERVAL},
	    {"count", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"no-legend", no_argument, NULL, OPT_NO_LEGEND},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:h", options, NULL)) != -1) {
		r = 0;
		switch (c) {
		case OPT_INTERVAL:
			opts->style.interval_text = optarg;
			r = parse_seconds("--interval", optarg,
					  &opts->style.interval_ns);
			if (r == 0 && opts->style.interval_ns == 0)
				r = invalid_value("--interval", optarg,
						  "expected a positive number "
						  "of seconds");
			break;
		case 'n':
			r = parse_count("--count", optarg, UINT64_MAX,
					&opts->count);
			break;
		case OPT_JSON:
			opts->style.json = true;
			break;
		case OPT_NO_LEGEND:
			opts->style.legend = false;
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
	r = check_operands(verb, argc - optind);
	return r != 0 ? r : -1;
}

/* Rows left for channels below the header, blank line and legend. */
static size_t screen_rows(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row < 5)
		return 0;
	return (size_t)ws.ws_row - 4;
}

/*
 * Hide the cursor and turn off line wrapping, so that long rows are cut
 * at the right edge instead of scrolling the frame, and read keys one at
 * a time without echo, so that q quits.  Ctrl-C still sends SIGINT.
 * NOTE: Ctrl-Z stops watch with the keyboard still in this mode.  A
 * shell that does not restore its own terminal state then shows no echo
 * until watch resumes or exits.
 */
static void screen_open(struct screen *screen)
{
	struct termios raw;

	fputs("\033[?25l\033[?7l", stdout);
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &screen->saved))
		return;
	raw = screen->saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		screen->keyboard = true;
}

static void screen_close(struct screen *screen)
{
	fputs("\033[?7h\033[?25h", stdout);
	fflush(stdout);
	if (screen->keyboard)
		tcsetattr(STDIN_FILENO, TCSANOW, &screen->saved);
}

static int64_t monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * NSEC_PER_SEC + now.tv_nsec;
}

/* Read the keys typed; true if one of them is q. */
static bool quit_typed(void)
{
	char keys[64];
	ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));

	for (ssize_t i = 0; i < n; i++)
		if (keys[i] == 'q' || keys[i] == 'Q')
			return true;
	return false;
}

enum wait_result {
	WAIT_REFRESH,
	WAIT_QUIT,   /* q was typed */
	WAIT_SIGNAL, /* SIGINT or SIGTERM arrived */
};

/*
 * Wait until the monotonic time deadline_ns, a q on the keyboard or a
 * signal.  SIGINT and SIGTERM are blocked except inside ppoll(2), so that
 * one that arrives after the check of caught_signal still ends the wait.
 */
static enum wait_result wait_until(int64_t deadline_ns, bool keyboard)
{
	struct pollfd fd = {.fd = keyboard ? STDIN_FILENO : -1,
			    .events = POLLIN};
	sigset_t blocked, during;
	enum wait_result result = WAIT_REFRESH;

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	sigprocmask(SIG_BLOCK, &blocked, &during);
	sigdelset(&during, SIGINT);
	sigdelset(&during, SIGTERM);
	for (;;) {
		int64_t left = deadline_ns - monotonic_ns();
		struct timespec timeout;
		int n;

		if (caught_signal != 0) {
			result = WAIT_SIGNAL;
			break;
		}
		if (left <= 0)
			break;
		timeout.tv_sec = (time_t)(left / NSEC_PER_SEC);
		timeout.tv_nsec = (long)(left % NSEC_PER_SEC);
		n = ppoll(&fd, 1, &timeout, &during);
		if (n > 0 && (fd.revents & POLLIN) && quit_typed()) {
			result = WAIT_QUIT;
			break;
		}
		/* End of input, or an error: stop looking at the keyboard. */
		if (n > 0 && (fd.revents & (POLLHUP | POLLERR | POLLNVAL)))
			fd.fd = -1;
	}
	sigprocmask(SIG_UNBLOCK, &blocked, NULL);
	return result;
}

static int report_frame_error(char *const *names, int err)
{
	if (names == NULL && err != -ENOMEM)
		log_error("failed to list channels in %s: %s; set "
			  "CHAN_SHM_DIR to the directory that holds them",
			  shm_dir(), strerror(-err));
	else
		log_error("failed to sample the channels: %s",
			  chan_strerror(err));
	return CHANCTL_EXIT_FAILURE;
}

/*
 * A reader that closed the pipe, as head(1) does, has all it wanted, so
 * watch ends quietly; other write errors are failures.
 */
static int report_output_error(int err)
{
	if (err == -EPIPE)
		return CHANCTL_EXIT_OK;
	log_error("failed to write the output: %s", strerror(-err));
	return CHANCTL_EXIT_FAILURE;
}

/* Refresh until the count is reached, q is typed or a signal arrives. */
static int watch_loop(const struct watch_options *opts, bool keyboard,
		      char *const *names, size_t count)
{
	struct frame_style style = opts->style;
	struct frame prev = {0}, cur;
	int64_t next = monotonic_ns();
	int r;

	for (uint64_t n = 0; opts->count == 0 || n < opts->count; n++) {
		if (n > 0) {
			enum wait_result w = wait_until(next, keyboard);

			if (w == WAIT_QUIT)
				break;
			if (w == WAIT_SIGNAL)
				goto stopped;
		}
		r = frame_take(&cur, &prev, names, count);
		if (r < 0) {
			frame_free(&prev);
			return report_frame_error(names, r);
		}
		/* Follow the size of the terminal as it is resized. */
		if (style.terminal)
			style.max_rows = screen_rows();
		r = frame_print(&cur, &style, n == 0);
		frame_free(&prev);
		prev = cur;
		if (r < 0) {
			if (caught_signal != 0)
				goto stopped;
			frame_free(&prev);
			return report_output_error(r);
		}
		/* After a slow frame, skip the refreshes that were missed. */
		next += (int64_t)opts->style.interval_ns;
		if (next < monotonic_ns())
			next = monotonic_ns();
	}
	frame_free(&prev);
	return CHANCTL_EXIT_OK;

stopped:
	frame_free(&prev);
	return CHANCTL_EXIT_SIGNAL_BASE + caught_signal;
}

int verb_watch(const struct verb *verb, int argc, char **argv)
{
	struct watch_options opts = {
	    .style = {.legend = true,
		      .interval_ns = (uint64_t)NSEC_PER_SEC,
		      .interval_text = "1"},
	};
	struct screen screen = {0};
	int operands, r;

	r = parse_watch_options(verb, argc, argv, &opts);
	if (r >= 0)
		return r;
	operands = argc - optind;
	for (int i = optind; i < argc; i++) {
		r = check_name(argv[i]);
		if (r != 0)
			return r;
	}

	/* JSON Lines stay plain even on a terminal, for jq and tee. */
	opts.style.terminal = !opts.style.json && isatty(STDOUT_FILENO);
	install_signal_handlers(NULL);
	if (opts.style.terminal)
		screen_open(&screen);
	r = watch_loop(&opts, screen.keyboard, operands ? argv + optind : NULL,
		       (size_t)operands);
	if (opts.style.terminal)
		screen_close(&screen);
	return r;
}
