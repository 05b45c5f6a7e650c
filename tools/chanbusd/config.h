/* SPDX-License-Identifier: MIT */
/*
 * The bus configuration: a main file and a drop-in directory of *.conf
 * files, read in lexical order after it, in INI syntax.  See chanbusd(8).
 */
#ifndef CHANBUSD_CONFIG_H
#define CHANBUSD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "chan.h"

#define BUS_HOUSEKEEPING_DEFAULT_SEC 30
#define BUS_HOUSEKEEPING_MAX_SEC     86400

enum on_stop {
	ON_STOP_CLOSE,	/* close the channel, keep the segment */
	ON_STOP_REMOVE, /* close the channel and remove its name */
};

/* One [channel NAME] section, merged over every file that declares it. */
struct channel_conf {
	char name[CHAN_NAME_MAX + 1];
	uint64_t capacity;     /* messages */
	uint64_t max_msg_size; /* bytes */
	uint32_t mode;	       /* permission bits */
	uid_t owner;	       /* (uid_t)-1: the daemon's user */
	gid_t group;	       /* (gid_t)-1: the daemon's group */
	enum on_stop on_stop;
};

struct bus_config {
	unsigned housekeeping_sec;
	bool remove_undeclared;
	struct channel_conf *channels; /* in order of first declaration */
	size_t n_channels;
};

/*
 * Read and validate the main file and the *.conf files of dropin_dir
 * (which may be NULL or missing).  On the first invalid entry, log it with
 * its file, line and key, and return -EINVAL; otherwise fill *ret and
 * return 0.  Returns -ENOMEM or -errno when a file cannot be read.
 */
int config_load(const char *main_file, const char *dropin_dir,
		struct bus_config *ret);
void config_free(struct bus_config *config);

const struct channel_conf *config_find(const struct bus_config *config,
				       const char *name);

#endif /* CHANBUSD_CONFIG_H */
