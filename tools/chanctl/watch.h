/* SPDX-License-Identifier: MIT */
/* The frames of the watch verb: samples of channels and their rates. */
#ifndef CHANCTL_WATCH_H
#define CHANCTL_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "chan.h"

/* One channel at one refresh. */
struct sample {
	char *name;
	int err; /* 0, or the negative errno that kept it from being read */
	struct chan_info info;
	bool has_rates; /* false at the first sight of the channel */
	double send_msgs, send_bytes; /* per second since the last frame */
	double recv_msgs, recv_bytes;
};

/* The samples of one refresh, in the order shown. */
struct frame {
	struct sample *samples;
	size_t count;
	struct timespec taken; /* CLOCK_MONOTONIC */
	struct timespec wall;  /* CLOCK_REALTIME */
};

/* Display settings of the frames. */
struct frame_style {
	bool json;
	bool legend;
	bool terminal;	 /* clear the screen before each frame */
	size_t max_rows; /* channels that fit the screen; 0: no limit */
	uint64_t interval_ns;
	const char *interval_text;
};

/*
 * Sample the channels names[0..count-1], or every channel when names is
 * NULL, and compute rates from prev (which may be empty).  A channel
 * named on the command line but missing is shown with its error; one
 * that vanishes from the listing is dropped.  Returns 0 or a negative
 * errno from chan_list() or malloc().
 */
int frame_take(struct frame *frame, const struct frame *prev,
	       char *const *names, size_t count);
void frame_free(struct frame *frame);

/* Print a frame; returns 0, or a negative errno if the output failed. */
int frame_print(const struct frame *frame, const struct frame_style *style,
		bool first);

#endif /* CHANCTL_WATCH_H */
