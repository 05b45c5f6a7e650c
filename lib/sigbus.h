/* SPDX-License-Identifier: MIT */
/* The SIGBUS guard over channel mappings; see sigbus.c. */
#ifndef CHAN_SIGBUS_H
#define CHAN_SIGBUS_H

#include <stdbool.h>
#include <stddef.h>

struct chan_guard;

/*
 * Guard the mapping [start, start + size), installing the process's
 * SIGBUS handler on first use.  Returns 0, -EMFILE when too many
 * mappings are guarded, or -errno from sigaction(2).
 */
int chan__guard_add(void *start, size_t size, struct chan_guard **ret);
void chan__guard_remove(struct chan_guard *guard);

/* Mark the mapping as lost to its peers, as a fault would. */
void chan__guard_mark_faulted(struct chan_guard *guard);

/* Tell whether a fault hit the mapping since it was guarded. */
bool chan__guard_faulted(const struct chan_guard *guard);

#endif /* CHAN_SIGBUS_H */
