/* SPDX-License-Identifier: MIT */
/* The verbs that manage channels: create, close and rm. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chanctl.h"

enum {
	OPT_CAPACITY = 0x100,
	OPT_MSG_SIZE,
	OPT_MODE,
	OPT_OWNER,
	OPT_GROUP,
	OPT_EXIST_OK,
	OPT_TRACK_PEERS,
};

/* Explain why an existing channel cannot be used with --exist-ok. */
static void log_geometry_mismatch(const char *name,
				  const struct chan_params *params)
{
	struct chan_info info;
	struct chan *ch = NULL;

	if (chan_open(name, CHAN_READ_ONLY, &ch) < 0 ||
	    chan_info(ch, &info) < 0) {
		chan_detach(ch);
		log_error("channel \"%s\" exists with another capacity or "
			  "maximum message size; remove it with "
			  "'chanctl rm %s' to create it anew",
			  name, name);
		return;
	}
	chan_detach(ch);
	if ((info.flags ^ params->flags) & CHAN_TRACK_PEERS) {
		log_error("channel \"%s\" exists and %s peers; %s "
			  "--track-peers to match, or remove it with "
			  "'chanctl rm %s' to create it anew",
			  name,
			  info.flags & CHAN_TRACK_PEERS ? "tracks"
							: "does not track",
			  info.flags & CHAN_TRACK_PEERS ? "add" : "drop", name);
		return;
	}
	log_error("channel \"%s\" exists with capacity %" PRIu64
		  " and maximum message size %" PRIu64 ", not %" PRIu64
		  " and %" PRIu64 "; match them, or remove it with "
		  "'chanctl rm %s' to create it anew",
		  name, info.capacity, info.max_msg_size, params->capacity,
		  params->max_msg_size, name);
}

/* Report that the directory of the segments is missing. */
static void log_missing_dir(const char *name)
{
	const char *env = getenv("CHAN_SHM_DIR");

	if (env != NULL && env[0] != '\0')
		log_error("failed to create channel \"%s\": directory %s not "
			  "found; create it or unset CHAN_SHM_DIR",
			  name, env);
	else
		log_error("failed to create channel \"%s\": directory "
			  "/dev/shm not found; mount a tmpfs on it",
			  name);
}

static int report_create_error(const char *name,
			       const struct chan_params *params, int err)
{
	switch (err) {
	case -EEXIST:
		if (params->flags & CHAN_EXIST_OK)
			log_geometry_mismatch(name, params);
		else
			log_error("channel \"%s\" exists; pass --exist-ok to "
				  "use it, or remove it with 'chanctl rm %s'",
				  name, name);
		break;
	case -ENOENT:
		/* The name is valid, so only the directory can be missing. */
		log_missing_dir(name);
		return CHANCTL_EXIT_FAILURE;
	case -ENOSPC:
		log_error("failed to create channel \"%s\": %s; free space in "
			  "%s or lower --capacity or --msg-size",
			  name, chan_strerror(err), shm_dir());
		break;
	case -EPERM:
	case -EACCES:
		log_error("failed to create channel \"%s\": %s; check the "
			  "permissions of %s, and note that --owner and "
			  "--group need privilege",
			  name, chan_strerror(err), shm_dir());
		break;
	default:
		log_error("failed to create channel \"%s\": %s", name,
			  chan_strerror(err));
		break;
	}
	return exit_status_of(err);
}

static int parse_create_option(int c, struct chan_params *params)
{
	switch (c) {
	case OPT_CAPACITY:
		return parse_count("--capacity", optarg, CHAN_CAPACITY_MAX,
				   &params->capacity);
	case OPT_MSG_SIZE:
		return parse_size("--msg-size", optarg, CHAN_MSG_SIZE_MAX,
				  &params->max_msg_size);
	case OPT_MODE:
		return parse_mode("--mode", optarg, &params->mode);
	case OPT_OWNER:
		return parse_user("--owner", optarg, &params->owner);
	case OPT_GROUP:
		return parse_group("--group", optarg, &params->group);
	case OPT_EXIST_OK:
		params->flags |= CHAN_EXIST_OK;
		return 0;
	case OPT_TRACK_PEERS:
		params->flags |= CHAN_TRACK_PEERS;
		return 0;
	default:
		return -1;
	}
}

int verb_create(const struct verb *verb, int argc, char **argv)
{
	static const struct option options[] = {
	    {"capacity", required_argument, NULL, OPT_CAPACITY},
	    {"msg-size", required_argument, NULL, OPT_MSG_SIZE},
	    {"mode", required_argument, NULL, OPT_MODE},
	    {"owner", required_argument, NULL, OPT_OWNER},
	    {"group", required_argument, NULL, OPT_GROUP},
	    {"exist-ok", no_argument, NULL, OPT_EXIST_OK},
	    {"track-peers", no_argument, NULL, OPT_TRACK_PEERS},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct chan_params params;
	struct chan *ch;
	const char *name;
	int c, r;

	chan_params_init(&params);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == 'h') {
			verb_help(verb);
			return CHANCTL_EXIT_OK;
		}
		r = parse_create_option(c, &params);
		if (r < 0)
			return option_error(verb, argv, c);
		if (r > 0)
			return r;
	}
	r = check_operands(verb, argc - optind);
	if (r != 0)
		return r;
	name = argv[optind];
	r = check_name(name);
	if (r != 0)
		return r;

	r = chan_create(name, &params, &ch);
	if (r < 0)
		return report_create_error(name, &params, r);
	chan_detach(ch);
	return CHANCTL_EXIT_OK;
}

int verb_close(const struct verb *verb, int argc, char **argv)
{
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct chan *ch;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c != 'h')
			return option_error(verb, argv, c);
		verb_help(verb);
		return CHANCTL_EXIT_OK;
	}
	r = check_operands(verb, argc - optind);
	if (r != 0)
		return r;

	r = attach_channel(argv[optind], 0, &ch);
	if (r != 0)
		return r;
	r = chan_close(ch);
	chan_detach(ch);
	if (r < 0) {
		log_error("failed to close channel \"%s\": %s", argv[optind],
			  chan_strerror(r));
		return exit_status_of(r);
	}
	return CHANCTL_EXIT_OK;
}

/* Say who may remove the segment at path: "as its owner, alice, or as root". */
static char *who_may_remove(const char *path)
{
	struct stat st;
	char *owner, *who;

	if (path == NULL || stat(path, &st) < 0)
		return strdup("as its owner or as root");
	if (st.st_uid == 0)
		return strdup("as root, its owner");
	owner = user_name(st.st_uid);
	if (owner == NULL ||
	    asprintf(&who, "as its owner, %s, or as root", owner) < 0)
		who = NULL;
	free(owner);
	return who;
}

/*
 * Report the EPERM of unlink(2): in a directory with the sticky bit, as
 * /dev/shm is, only the owner of a segment, or root, may remove it.
 */
static void log_not_owner(const char *name, int err)
{
	char *path = segment_path(name);
	char *who = who_may_remove(path);

	log_error("failed to remove channel \"%s\": %s; remove it %s, "
		  "because only the owner may remove a segment from %s, "
		  "which has the sticky bit",
		  name, chan_strerror(err),
		  who ? who : "as its owner or as root", shm_dir());
	free(who);
	free(path);
}

/* Report a failed chan_remove() of a channel that exists. */
static void log_remove_error(const char *name, int err)
{
	switch (err) {
	case -EPERM:
		log_not_owner(name, err);
		break;
	case -EACCES:
		log_error("failed to remove channel \"%s\": %s; removing "
			  "needs write permission on %s",
			  name, chan_strerror(err), shm_dir());
		break;
	default:
		log_error("failed to remove channel \"%s\": %s", name,
			  chan_strerror(err));
		break;
	}
}

/* Remove one channel; returns an exit status. */
static int remove_channel(const char *name, bool force)
{
	int r = check_name(name);

	if (r != 0)
		return r;
	r = chan_remove(name);
	if (r == 0 || (r == -ENOENT && force))
		return CHANCTL_EXIT_OK;
	if (r == -ENOENT)
		log_error("channel \"%s\" not found; pass --force to ignore "
			  "missing channels",
			  name);
	else
		log_remove_error(name, r);
	return exit_status_of(r);
}

int verb_rm(const struct verb *verb, int argc, char **argv)
{
	static const struct option options[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool force = false;
	int c, r, status = CHANCTL_EXIT_OK;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fh", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			verb_help(verb);
			return CHANCTL_EXIT_OK;
		default:
			return option_error(verb, argv, c);
		}
	}
	r = check_operands(verb, argc - optind);
	if (r != 0)
		return r;

	/* Like rm(1), go on after a failure, and report the first one. */
	for (int i = optind; i < argc; i++) {
		r = remove_channel(argv[i], force);
		if (status == CHANCTL_EXIT_OK)
			status = r;
	}
	return status;
}
