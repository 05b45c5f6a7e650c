/* SPDX-License-Identifier: MIT */
/* Sample channels for watch, compute their rates, and print a frame. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanctl.h"
#include "printer.h"
#include "watch.h"

/* Short labels, so that a row fits about 100 columns. */
static const struct printer_label watch_labels[] = {
    {"full_percent", "FULL"},
    {"send_msgs_per_sec", "SEND/S"},
    {"send_bytes_per_sec", "SEND-B/S"},
    {"recv_msgs_per_sec", "RECV/S"},
    {"recv_bytes_per_sec", "RECV-B/S"},
    {"send_waiters", "SEND-WAIT"},
    {"recv_waiters", "RECV-WAIT"},
    {"attachments", "ATTACHED"},
    {NULL, NULL},
};

static double seconds_between(const struct timespec *from,
			      const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) +
	       (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static int read_sample(struct sample *sample, const char *name)
{
	struct chan *ch;
	int r;

	*sample = (struct sample){.name = strdup(name)};
	if (sample->name == NULL)
		return -ENOMEM;
	r = chan_open(name, CHAN_READ_ONLY, &ch);
	if (r == 0) {
		r = chan_info(ch, &sample->info);
		chan_detach(ch);
	}
	sample->err = r;
	return 0;
}

/* The sample of the same name in prev, looked for first at index hint. */
static const struct sample *find_previous(const struct frame *prev,
					  const char *name, size_t hint)
{
	if (hint < prev->count && strcmp(prev->samples[hint].name, name) == 0)
		return &prev->samples[hint];
	for (size_t i = 0; i < prev->count; i++)
		if (strcmp(prev->samples[i].name, name) == 0)
			return &prev->samples[i];
	return NULL;
}

/*
 * Rates from the counter deltas.  A channel created anew under the same
 * name since the last frame, which shows as another creation time or as
 * counters that went back, has no rates yet.
 */
static void compute_rates(struct sample *cur, const struct sample *old,
			  double elapsed)
{
	const struct chan_info *a = &old->info, *b = &cur->info;

	if (old->err != 0 || cur->err != 0 || elapsed <= 0 ||
	    a->created_sec != b->created_sec ||
	    a->created_nsec != b->created_nsec || b->msgs_sent < a->msgs_sent ||
	    b->bytes_sent < a->bytes_sent ||
	    b->msgs_received < a->msgs_received ||
	    b->bytes_received < a->bytes_received)
		return;
	cur->send_msgs = (double)(b->msgs_sent - a->msgs_sent) / elapsed;
	cur->send_bytes = (double)(b->bytes_sent - a->bytes_sent) / elapsed;
	cur->recv_msgs =
	    (double)(b->msgs_received - a->msgs_received) / elapsed;
	cur->recv_bytes =
	    (double)(b->bytes_received - a->bytes_received) / elapsed;
	cur->has_rates = true;
}

int frame_take(struct frame *frame, const struct frame *prev,
	       char *const *names, size_t count)
{
	char **listed = NULL;
	double elapsed;
	int r = 0;

	*frame = (struct frame){0};
	if (names == NULL) {
		r = chan_list(&listed, &count);
		if (r < 0)
			return r;
	}
	frame->samples = calloc(count ? count : 1, sizeof(*frame->samples));
	if (frame->samples == NULL) {
		if (listed != NULL)
			chan_list_free(listed, count);
		return -ENOMEM;
	}
	clock_gettime(CLOCK_MONOTONIC, &frame->taken);
	clock_gettime(CLOCK_REALTIME, &frame->wall);
	elapsed = seconds_between(&prev->taken, &frame->taken);

	for (size_t i = 0; i < count && r == 0; i++) {
		struct sample *sample = &frame->samples[frame->count];
		const struct sample *old;

		r = read_sample(sample, names ? names[i] : listed[i]);
		if (r < 0)
			break;
		frame->count++;
		/* A listed channel removed since chan_list() is gone. */
		if (names == NULL && sample->err == -ENOENT) {
			free(sample->name);
			frame->count--;
			continue;
		}
		old = find_previous(prev, sample->name, i);
		if (old != NULL)
			compute_rates(sample, old, elapsed);
	}
	if (listed != NULL)
		chan_list_free(listed, count);
	if (r < 0)
		frame_free(frame);
	return r;
}

void frame_free(struct frame *frame)
{
	for (size_t i = 0; i < frame->count; i++)
		free(frame->samples[i].name);
	free(frame->samples);
	*frame = (struct frame){0};
}

static void print_rates(struct printer *p, const struct sample *sample)
{
	static const char *const keys[] = {
	    "send_msgs_per_sec",
	    "send_bytes_per_sec",
	    "recv_msgs_per_sec",
	    "recv_bytes_per_sec",
	};

	if (!sample->has_rates) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
			printer_field_null(p, keys[i]);
		return;
	}
	printer_field_rate(p, keys[0], sample->send_msgs, false);
	printer_field_rate(p, keys[1], sample->send_bytes, true);
	printer_field_rate(p, keys[2], sample->recv_msgs, false);
	printer_field_rate(p, keys[3], sample->recv_bytes, true);
}

/* One channel; one that could not be read shows its error as state. */
static void print_sample(struct printer *p, const struct sample *sample)
{
	static const char *const unknown[] = {
	    "depth",	    "full_percent", "send_waiters",
	    "recv_waiters", "attachments",  "recoveries",
	};
	const struct chan_info *info = &sample->info;
	char *state = NULL;

	printer_begin_object(p);
	printer_field_str(p, "name", sample->name);
	if (sample->err != 0) {
		for (size_t i = 0; i < 2; i++)
			printer_field_null(p, unknown[i]);
		print_rates(p, sample);
		for (size_t i = 2; i < sizeof(unknown) / sizeof(*unknown); i++)
			printer_field_null(p, unknown[i]);
		if (asprintf(&state, "error: %s", chan_strerror(sample->err)) <
		    0)
			state = NULL;
		printer_field_str(p, "state", state ? state : "error");
		free(state);
		printer_end_object(p);
		return;
	}
	printer_field_u64(p, "depth", info->depth);
	printer_field_percent(p, "full_percent",
			      100.0 * (double)info->depth /
				  (double)info->capacity);
	print_rates(p, sample);
	printer_field_u64(p, "send_waiters", info->send_waiters);
	printer_field_u64(p, "recv_waiters", info->recv_waiters);
	printer_field_u64(p, "attachments", info->attachments);
	printer_field_u64(p, "recoveries", info->recoveries);
	printer_field_str(p, "state", info->closed ? "closed" : "open");
	printer_end_object(p);
}

/* "2026-12-04 17:01:02 UTC, every 1 s, 3 channels", in local time. */
static void print_header(const struct frame *frame,
			 const struct frame_style *style, size_t visible)
{
	char when[64];
	struct tm tm;

	if (localtime_r(&frame->wall.tv_sec, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(when, sizeof(when), "@%lld",
			 (long long)frame->wall.tv_sec);
	printf("%s, every %s s, %zu channel%s", when, style->interval_text,
	       frame->count, frame->count == 1 ? "" : "s");
	if (visible < frame->count)
		printf(", %zu shown", visible);
	/* A blank line parts plain frames, so none goes under the header. */
	printf(style->terminal ? "; press q to quit\n\n" : "\n");
}

static void print_frame_json(struct printer *p, const struct frame *frame,
			     const struct frame_style *style)
{
	char when[64];

	format_time(when, sizeof(when), frame->wall.tv_sec,
		    frame->wall.tv_nsec);
	printer_set_json_lines(p);
	printer_begin_object(p);
	printer_field_str(p, "time", when);
	printer_field_seconds(p, "interval", style->interval_ns);
	printer_begin_list_field(p, "channels");
	for (size_t i = 0; i < frame->count; i++)
		print_sample(p, &frame->samples[i]);
	printer_end_list_field(p);
	printer_end_object(p);
}

int frame_print(const struct frame *frame, const struct frame_style *style,
		bool first)
{
	size_t visible = frame->count;
	struct printer *p;
	int r;

	p = printer_new(PRINTER_COLUMNS, style->json, style->legend);
	if (p == NULL)
		return -ENOMEM;
	printer_set_labels(p, watch_labels);
	if (style->json) {
		print_frame_json(p, frame, style);
	} else {
		if (style->max_rows > 0 && visible > style->max_rows)
			visible = style->max_rows;
		/* Home the cursor and erase the screen below it. */
		if (style->terminal)
			fputs("\033[H\033[J", stdout);
		else if (!first)
			putchar('\n');
		if (style->legend)
			print_header(frame, style, visible);
		printer_begin_list(p);
		for (size_t i = 0; i < visible; i++)
			print_sample(p, &frame->samples[i]);
		printer_end_list(p);
	}
	r = printer_finish(p);
	printer_free(p);
	return r;
}
