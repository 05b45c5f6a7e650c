/* SPDX-License-Identifier: MIT */
/*
 * The list of channels that the bus daemon manages, from the state file
 * that chanbusd(8) replaces atomically: one name per line, sorted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanctl.h"

#define BUS_STATE_DEFAULT "/run/chan-bus/channels"

static const char *bus_state_path(void)
{
	const char *path = getenv("CHAN_BUS_STATE");

	return path != NULL && path[0] != '\0' ? path : BUS_STATE_DEFAULT;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_name(struct bus_state *state, size_t *allocated,
		    const char *name)
{
	char **grown;

	if (state->count == *allocated) {
		size_t n = *allocated ? *allocated * 2 : 16;

		grown = reallocarray(state->names, n, sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		state->names = grown;
		*allocated = n;
	}
	state->names[state->count] = strdup(name);
	if (state->names[state->count] == NULL)
		return -ENOMEM;
	state->count++;
	return 0;
}

/* Read one name per line; a blank line is skipped. */
static int read_names(FILE *f, struct bus_state *state)
{
	size_t allocated = 0, size = 0;
	char *line = NULL;
	ssize_t n;
	int r = 0;

	while (r == 0 && (n = getline(&line, &size, f)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0)
			r = add_name(state, &allocated, line);
	}
	free(line);
	if (r == 0 && ferror(f))
		r = errno != 0 ? -errno : -EIO;
	return r;
}

void bus_state_load(struct bus_state *state)
{
	const char *path = bus_state_path();
	FILE *f;
	int r;

	*state = (struct bus_state){0};
	f = fopen(path, "re");
	if (f == NULL && errno == ENOENT) {
		state->known = true; /* no bus runs */
		return;
	}
	if (f == NULL) {
		r = -errno;
	} else {
		errno = 0;
		r = read_names(f, state);
		fclose(f);
	}
	if (r < 0) {
		log_error("failed to read the bus state file %s: %s; the "
			  "channels of the bus are shown as unknown; set "
			  "CHAN_BUS_STATE to the state file of chanbusd",
			  path, chan_strerror(r));
		bus_state_free(state);
		return;
	}
	qsort(state->names, state->count, sizeof(*state->names), compare_names);
	state->known = true;
}

void bus_state_free(struct bus_state *state)
{
	for (size_t i = 0; i < state->count; i++)
		free(state->names[i]);
	free(state->names);
	*state = (struct bus_state){0};
}

bool bus_state_has(const struct bus_state *state, const char *name)
{
	if (state->count == 0)
		return false;
	return bsearch(&name, state->names, state->count, sizeof(*state->names),
		       compare_names) != NULL;
}
