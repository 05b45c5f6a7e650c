/* SPDX-License-Identifier: MIT */
/* The verbs that show channels: ls and info. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chanctl.h"
#include "printer.h"

enum {
	OPT_JSON = 0x100,
	OPT_NO_LEGEND,
};

struct show_options {
	bool json;
	bool legend;
};

/* Parse the options of ls and info; returns -1 to go on, or a status. */
static int parse_show_options(const struct verb *verb, int argc, char **argv,
			      struct show_options *opts)
{
	static const struct option options[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"no-legend", no_argument, NULL, OPT_NO_LEGEND},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	opts->json = false;
	opts->legend = true;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			opts->json = true;
			break;
		case OPT_NO_LEGEND:
			opts->legend = false;
			break;
		case 'h':
			verb_help(verb);
			return CHANCTL_EXIT_OK;
		default:
			return option_error(verb, argv, c);
		}
	}
	c = check_operands(verb, argc - optind);
	return c != 0 ? c : -1;
}

static int finish_output(struct printer *p)
{
	int r = printer_finish(p);

	printer_free(p);
	if (r < 0) {
		log_error("failed to write the output: %s", chan_strerror(r));
		return CHANCTL_EXIT_FAILURE;
	}
	return CHANCTL_EXIT_OK;
}

static void format_mode(char *buf, size_t size, uint32_t mode)
{
	snprintf(buf, size, "%04o", (unsigned)mode);
}

/* One row of ls.  A channel that cannot be read shows its error. */
static void print_ls_row(struct printer *p, const char *name, int err,
			 const struct chan_info *info)
{
	static const char *const unknown[] = {
	    "capacity", "msg_size", "depth", "size", "mode", "owner",
	};
	char mode[8], *owner, *state = NULL;

	printer_begin_object(p);
	printer_field_str(p, "name", name);
	if (err < 0) {
		for (size_t i = 0; i < sizeof(unknown) / sizeof(*unknown); i++)
			printer_field_null(p, unknown[i]);
		if (asprintf(&state, "error: %s", chan_strerror(err)) < 0)
			state = NULL;
		printer_field_str(p, "state", state ? state : "error");
		free(state);
		printer_end_object(p);
		return;
	}

	format_mode(mode, sizeof(mode), info->mode);
	owner = user_name(info->owner);
	printer_field_u64(p, "capacity", info->capacity);
	printer_field_size(p, "msg_size", info->max_msg_size);
	printer_field_u64(p, "depth", info->depth);
	printer_field_size(p, "size", info->segment_size);
	printer_field_str(p, "mode", mode);
	printer_field_str(p, "owner", owner);
	printer_field_str(p, "state", info->closed ? "closed" : "open");
	free(owner);
	printer_end_object(p);
}

static int read_info(const char *name, struct chan_info *info)
{
	struct chan *ch;
	int r;

	r = chan_attach(name, &ch);
	if (r < 0)
		return r;
	r = chan_info(ch, info);
	chan_detach(ch);
	return r;
}

int verb_ls(const struct verb *verb, int argc, char **argv)
{
	struct show_options opts;
	struct chan_info info;
	struct printer *p;
	char **names;
	size_t count;
	int r;

	r = parse_show_options(verb, argc, argv, &opts);
	if (r >= 0)
		return r;
	r = chan_list(&names, &count);
	if (r < 0) {
		char *dir = segment_path("");

		log_error("failed to list channels in %s: %s; set CHAN_SHM_DIR "
			  "to the directory that holds them",
			  dir ? dir : "/dev/shm", chan_strerror(r));
		free(dir);
		return CHANCTL_EXIT_FAILURE;
	}
	p = printer_new(PRINTER_COLUMNS, opts.json, opts.legend);
	if (p == NULL) {
		chan_list_free(names, count);
		log_error("out of memory");
		return CHANCTL_EXIT_FAILURE;
	}

	printer_begin_list(p);
	for (size_t i = 0; i < count; i++) {
		/* A channel removed since chan_list() is no longer listed. */
		r = read_info(names[i], &info);
		if (r != -ENOENT)
			print_ls_row(p, names[i], r, &info);
	}
	printer_end_list(p);
	chan_list_free(names, count);
	return finish_output(p);
}

/* Format a creation time as ISO 8601 in UTC, to the nanosecond. */
static void format_time(char *buf, size_t size, int64_t sec, int64_t nsec)
{
	time_t t = (time_t)sec;
	struct tm tm;
	char date[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "@%" PRId64, sec);
		return;
	}
	snprintf(buf, size, "%s.%09" PRId64 "Z", date, nsec);
}

static void print_info(struct printer *p, const char *name,
		       const struct chan_info *info)
{
	char mode[8], created[64];
	char *owner = user_name(info->owner);
	char *group = group_name(info->group);

	format_mode(mode, sizeof(mode), info->mode);
	format_time(created, sizeof(created), info->created_sec,
		    info->created_nsec);

	printer_begin_object(p);
	printer_field_str(p, "name", name);
	printer_field_u64(p, "capacity", info->capacity);
	printer_field_size(p, "max_msg_size", info->max_msg_size);
	printer_field_size(p, "segment_size", info->segment_size);
	printer_field_u64(p, "depth", info->depth);
	printer_field_u64(p, "msgs_sent", info->msgs_sent);
	printer_field_u64(p, "bytes_sent", info->bytes_sent);
	printer_field_u64(p, "msgs_received", info->msgs_received);
	printer_field_u64(p, "bytes_received", info->bytes_received);
	printer_field_u64(p, "send_waits", info->send_waits);
	printer_field_u64(p, "recv_waits", info->recv_waits);
	printer_field_u64(p, "send_waiters", info->send_waiters);
	printer_field_u64(p, "recv_waiters", info->recv_waiters);
	printer_field_u64(p, "recoveries", info->recoveries);
	printer_field_i64(p, "creator_pid", info->creator_pid);
	printer_field_str(p, "created", created);
	printer_field_str(p, "mode", mode);
	printer_field_str(p, "owner", owner);
	printer_field_str(p, "group", group);
	printer_field_bool(p, "closed", info->closed);
	printer_end_object(p);
	free(owner);
	free(group);
}

int verb_info(const struct verb *verb, int argc, char **argv)
{
	struct show_options opts;
	struct chan_info info;
	struct printer *p;
	struct chan *ch;
	const char *name;
	int r;

	r = parse_show_options(verb, argc, argv, &opts);
	if (r >= 0)
		return r;
	name = argv[optind];
	r = attach_channel(name, &ch);
	if (r != 0)
		return r;
	r = chan_info(ch, &info);
	chan_detach(ch);
	if (r < 0) {
		log_error("failed to read channel \"%s\": %s", name,
			  chan_strerror(r));
		return CHANCTL_EXIT_FAILURE;
	}

	p = printer_new(PRINTER_FIELDS, opts.json, opts.legend);
	if (p == NULL) {
		log_error("out of memory");
		return CHANCTL_EXIT_FAILURE;
	}
	print_info(p, name, &info);
	return finish_output(p);
}
