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
		log_error("failed to write the output: %s", strerror(-r));
		return CHANCTL_EXIT_FAILURE;
	}
	return CHANCTL_EXIT_OK;
}

static void format_mode(char *buf, size_t size, uint32_t mode)
{
	snprintf(buf, size, "%04o", (unsigned)mode);
}

/*
 * Whether the bus manages name: in the table "yes" or an empty cell with
 * flag, else "yes" or "no", and null when the state file was unreadable.
 */
static void print_bus_field(struct printer *p, const char *key,
			    const struct bus_state *bus, const char *name,
			    bool flag)
{
	if (!bus->known)
		printer_field_null(p, key);
	else if (flag)
		printer_field_flag(p, key, bus_state_has(bus, name));
	else
		printer_field_bool(p, key, bus_state_has(bus, name));
}

/* One row of ls.  A channel that cannot be read shows its error. */
static void print_ls_row(struct printer *p, const char *name, int err,
			 const struct chan_info *info,
			 const struct bus_state *bus)
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
		print_bus_field(p, "bus", bus, name, true);
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
	print_bus_field(p, "bus", bus, name, true);
	free(owner);
	printer_end_object(p);
}

static int read_info(const char *name, struct chan_info *info)
{
	struct chan *ch;
	int r;

	r = chan_open(name, CHAN_READ_ONLY, &ch);
	if (r < 0)
		return r;
	r = chan_info(ch, info);
	chan_detach(ch);
	return r;
}

int verb_ls(const struct verb *verb, int argc, char **argv)
{
	struct show_options opts;
	struct bus_state bus;
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
		/* A failure of the directory itself, in the system's words. */
		log_error("failed to list channels in %s: %s; set CHAN_SHM_DIR "
			  "to the directory that holds them",
			  shm_dir(), strerror(-r));
		return CHANCTL_EXIT_FAILURE;
	}
	p = printer_new(PRINTER_COLUMNS, opts.json, opts.legend);
	if (p == NULL) {
		chan_list_free(names, count);
		log_error("out of memory");
		return CHANCTL_EXIT_FAILURE;
	}

	bus_state_load(&bus);
	printer_begin_list(p);
	for (size_t i = 0; i < count; i++) {
		/* A channel removed since chan_list() is no longer listed. */
		r = read_info(names[i], &info);
		if (r != -ENOENT)
			print_ls_row(p, names[i], r, &info, &bus);
	}
	printer_end_list(p);
	bus_state_free(&bus);
	chan_list_free(names, count);
	return finish_output(p);
}

/* Format a time as ISO 8601 in UTC, to the second. */
static void format_time_sec(char *buf, size_t size, int64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "@%" PRId64, sec);
}

static const char *roles_name(uint32_t roles)
{
	switch (roles & (CHAN_SENDER | CHAN_RECEIVER)) {
	case CHAN_SENDER:
		return "sender";
	case CHAN_RECEIVER:
		return "receiver";
	case CHAN_SENDER | CHAN_RECEIVER:
		return "both";
	default:
		return "none";
	}
}

/*
 * The attached processes, oldest first.  Through the read-only handle of
 * info, a dead peer stays listed, with alive false, until a writable
 * handle reaps it.
 */
static void print_peers(struct printer *p, const struct chan_peer *peers,
			size_t count)
{
	char attached[32];

	printer_begin_list_field(p, "peers");
	for (size_t i = 0; i < count; i++) {
		format_time_sec(attached, sizeof(attached),
				peers[i].attached_sec);
		printer_begin_object(p);
		printer_field_i64(p, "pid", peers[i].pid);
		printer_field_str(p, "roles", roles_name(peers[i].roles));
		printer_field_bool(p, "alive", peers[i].alive);
		printer_field_str(p, "attached", attached);
		printer_end_object(p);
	}
	printer_end_list_field(p);
}

/* The state of a channel that info prints, read through one handle. */
struct channel_view {
	const char *name;
	struct chan_info info;
	struct chan_peer peers[CHAN_ATTACH_MAX];
	size_t peer_count;
	struct bus_state bus;
};

static void print_counters(struct printer *p, const struct chan_info *info)
{
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
}

static void print_info(struct printer *p, const struct channel_view *view)
{
	const struct chan_info *info = &view->info;
	char mode[8], created[64];
	char *owner = user_name(info->owner);
	char *group = group_name(info->group);

	format_mode(mode, sizeof(mode), info->mode);
	format_time(created, sizeof(created), info->created_sec,
		    info->created_nsec);

	printer_begin_object(p);
	printer_field_str(p, "name", view->name);
	printer_field_u64(p, "capacity", info->capacity);
	printer_field_size(p, "max_msg_size", info->max_msg_size);
	printer_field_size(p, "segment_size", info->segment_size);
	print_counters(p, info);
	printer_field_i64(p, "creator_pid", info->creator_pid);
	printer_field_str(p, "created", created);
	printer_field_str(p, "mode", mode);
	printer_field_str(p, "owner", owner);
	printer_field_str(p, "group", group);
	printer_field_bool(p, "closed", info->closed);
	printer_field_bool(p, "tracks_peers",
			   (info->flags & CHAN_TRACK_PEERS) != 0);
	print_bus_field(p, "managed_by_bus", &view->bus, view->name, false);
	printer_field_u64(p, "attachments", info->attachments);
	printer_field_u64(p, "senders", info->senders);
	printer_field_u64(p, "receivers", info->receivers);
	print_peers(p, view->peers, view->peer_count);
	printer_end_object(p);
	free(owner);
	free(group);
}

/* Read the counters and the peers; returns 0 or an exit status. */
static int read_view(struct chan *ch, struct channel_view *view)
{
	int r;

	r = chan_info(ch, &view->info);
	if (r == 0)
		r = chan_peers(ch, view->peers, CHAN_ATTACH_MAX,
			       &view->peer_count);
	if (r < 0) {
		log_error("failed to read channel \"%s\": %s", view->name,
			  chan_strerror(r));
		return CHANCTL_EXIT_FAILURE;
	}
	/* Entries may change between the calls; show those that fit. */
	if (view->peer_count > CHAN_ATTACH_MAX)
		view->peer_count = CHAN_ATTACH_MAX;
	return 0;
}

int verb_info(const struct verb *verb, int argc, char **argv)
{
	struct show_options opts;
	struct channel_view *view;
	struct printer *p;
	struct chan *ch;
	int r;

	r = parse_show_options(verb, argc, argv, &opts);
	if (r >= 0)
		return r;
	view = calloc(1, sizeof(*view));
	if (view == NULL) {
		log_error("out of memory");
		return CHANCTL_EXIT_FAILURE;
	}
	view->name = argv[optind];
	r = attach_channel(view->name, CHAN_READ_ONLY, &ch);
	if (r == 0) {
		r = read_view(ch, view);
		chan_detach(ch);
	}
	if (r != 0) {
		free(view);
		return r;
	}

	bus_state_load(&view->bus);
	p = printer_new(PRINTER_FIELDS, opts.json, opts.legend);
	if (p == NULL) {
		log_error("out of memory");
		r = CHANCTL_EXIT_FAILURE;
	} else {
		print_info(p, view);
		r = finish_output(p);
	}
	bus_state_free(&view->bus);
	free(view);
	return r;
}
