/* SPDX-License-Identifier: MIT */
/* The channels that the bus manages, and what it does with them. */
#ifndef CHANBUSD_BUS_H
#define CHANBUSD_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* One declared channel and the handle the bus keeps attached to it. */
struct managed_channel {
	struct channel_conf conf; /* as applied; the geometry is the real one */
	struct chan *ch;	  /* NULL while the channel is in error */
	dev_t dev;		  /* identity of the segment file */
	ino_t ino;
	uint64_t recoveries; /* the counter at the last housekeeping round */
	int error;	     /* last error logged for it, to log it once */
};

struct bus {
	struct bus_config config;
	struct managed_channel *channels;
	size_t n_channels;
	const char *state_file; /* NULL: write no state file */
};

/*
 * Create or adopt every channel of config, which the bus takes over.  A
 * channel that fails (a segment of another geometry, no permission) is
 * logged and counted, and the others go on: see chanbusd(8).
 */
void bus_start(struct bus *bus, struct bus_config *config);

/* Apply a new configuration, which the bus takes over. */
void bus_reload(struct bus *bus, struct bus_config *config);

/* Check every channel: vanished segments, recoveries, failed channels. */
void bus_housekeeping(struct bus *bus);

/* Close every channel, remove those with on-stop = remove, free all. */
void bus_stop(struct bus *bus);

/* Count the channels managed and those in error. */
void bus_count(const struct bus *bus, size_t *ret_managed, size_t *ret_errors);

#endif /* CHANBUSD_BUS_H */
