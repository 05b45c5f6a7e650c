/* SPDX-License-Identifier: MIT */
/* Create, adopt, update, check and close the channels of the bus. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"

/*
 * Build the path of a channel's segment file.  This follows the library's
 * rule (CHAN_SHM_DIR when set and the process is not set-id, or /dev/shm,
 * then "chan.NAME"), which chan.h documents but does not export.
 */
static void segment_path(const char *name, char *buf, size_t size)
{
	const char *dir = secure_getenv("CHAN_SHM_DIR");

	if (dir == NULL || dir[0] == '\0')
		dir = "/dev/shm";
	snprintf(buf, size, "%s/" CHAN_SHM_PREFIX "%s", dir, name);
}

/* Log an error of a channel, unless it is the one logged last time. */
static void channel_fail(struct managed_channel *m, int err, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

static void channel_fail(struct managed_channel *m, int err, const char *fmt,
			 ...)
{
	char text[768];
	va_list ap;

	if (m->error == err)
		return;
	m->error = err;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_err("%s", text);
}

static void channel_release(struct managed_channel *m)
{
	chan_detach(m->ch);
	m->ch = NULL;
}

/* Record which file the segment is, to notice later if it is replaced. */
static int record_identity(struct managed_channel *m)
{
	char path[PATH_MAX];
	struct stat st;

	segment_path(m->conf.name, path, sizeof(path));
	if (stat(path, &st) < 0)
		return -errno;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	return 0;
}

static void format_owner(char *buf, size_t size, uid_t uid, gid_t gid)
{
	snprintf(buf, size, "%jd:%jd", (intmax_t)uid, (intmax_t)gid);
}

/*
 * Give the segment file the configured mode and owner if it differs.  The
 * file is opened without following symbolic links and must still be the
 * segment the bus manages.
 */
static int apply_attributes(struct managed_channel *m,
			    const struct chan_info *info)
{
	const struct channel_conf *c = &m->conf;
	uid_t owner = c->owner == (uid_t)-1 ? info->owner : c->owner;
	gid_t group = c->group == (gid_t)-1 ? info->group : c->group;
	char path[PATH_MAX], before[64], after[64];
	struct stat st;
	int fd, r = 0;

	if (info->mode == c->mode && info->owner == owner &&
	    info->group == group)
		return 0;

	segment_path(c->name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		r = -errno;
	else if (st.st_dev != m->dev || st.st_ino != m->ino)
		r = -ESTALE;
	else if (info->mode != c->mode && fchmod(fd, c->mode) < 0)
		r = -errno;
	else if ((info->owner != owner || info->group != group) &&
		 fchown(fd, owner, group) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);

	format_owner(before, sizeof(before), info->owner, info->group);
	format_owner(after, sizeof(after), owner, group);
	if (r < 0) {
		log_err(
		    "failed to change channel %s from mode %04o owner %s to "
		    "mode %04o owner %s: %s",
		    c->name, info->mode, before, c->mode, after,
		    r == -ESTALE ? "the segment was replaced"
				 : chan_strerror(r));
		return r;
	}
	log_notice("changed channel %s: mode %04o owner %s, was mode %04o "
		   "owner %s",
		   c->name, c->mode, after, info->mode, before);
	return 0;
}

static int create_channel(struct managed_channel *m)
{
	const struct channel_conf *c = &m->conf;
	struct chan_params params;
	int r;

	chan_params_init(&params);
	params.capacity = c->capacity;
	params.max_msg_size = c->max_msg_size;
	params.mode = c->mode;
	params.owner = c->owner;
	params.group = c->group;
	r = chan_create(c->name, &params, &m->ch);
	if (r < 0) {
		if (r != -EEXIST)
			channel_fail(m, r, "failed to create channel %s: %s",
				     c->name, chan_strerror(r));
		return r;
	}
	r = record_identity(m);
	if (r < 0) {
		channel_fail(m, r, "failed to stat channel %s: %s", c->name,
			     chan_strerror(r));
		channel_release(m);
		return r;
	}
	log_info("created channel %s: capacity %" PRIu64
		 ", max-msg-size %" PRIu64 ", mode %04o",
		 c->name, c->capacity, c->max_msg_size, c->mode);
	return 0;
}

/*
 * Take over an existing channel with its queued messages, if its geometry
 * is the configured one.  A closed channel cannot be reopened: once empty
 * it is replaced by a new one, and until then it stays in error.
 */
static int adopt_channel(struct managed_channel *m, struct chan *ch)
{
	struct channel_conf *c = &m->conf;
	struct chan_info info;
	int r;

	r = chan_info(ch, &info);
	if (r < 0) {
		chan_detach(ch);
		channel_fail(m, r, "failed to read channel %s: %s", c->name,
			     chan_strerror(r));
		return r;
	}
	if (info.capacity != c->capacity ||
	    info.max_msg_size != c->max_msg_size) {
		chan_detach(ch);
		channel_fail(m, -EEXIST,
			     "channel %s exists with capacity %" PRIu64
			     " and max-msg-size %" PRIu64
			     ", but the configuration sets capacity %" PRIu64
			     " and max-msg-size %" PRIu64
			     ": left it untouched and unmanaged; remove it "
			     "or change the configuration, then reload",
			     c->name, info.capacity, info.max_msg_size,
			     c->capacity, c->max_msg_size);
		return -EEXIST;
	}
	if (info.closed && info.depth == 0) {
		chan_detach(ch);
		log_notice("channel %s exists but is closed and empty: "
			   "replacing it",
			   c->name);
		r = chan_remove(c->name);
		if (r < 0 && r != -ENOENT) {
			channel_fail(m, r,
				     "failed to remove closed channel "
				     "%s: %s",
				     c->name, chan_strerror(r));
			return r;
		}
		return -ENOENT;
	}
	if (info.closed) {
		chan_detach(ch);
		channel_fail(m, -EPIPE,
			     "channel %s exists but is closed with %" PRIu64
			     " messages queued: it is replaced once they are "
			     "received, or remove it",
			     c->name, info.depth);
		return -EPIPE;
	}

	m->ch = ch;
	m->recoveries = info.recoveries;
	r = record_identity(m);
	if (r < 0) {
		channel_fail(m, r, "failed to stat channel %s: %s", c->name,
			     chan_strerror(r));
		channel_release(m);
		return r;
	}
	log_info("adopted channel %s: capacity %" PRIu64
		 ", max-msg-size %" PRIu64 ", %" PRIu64 " messages queued",
		 c->name, info.capacity, info.max_msg_size, info.depth);
	apply_attributes(m, &info);
	return 0;
}

/*
 * Attach to the channel of m, adopting an existing segment or creating a
 * new one.  The name can appear or vanish between the steps, so go round
 * a few times.
 */
static int channel_open(struct managed_channel *m)
{
	const char *name = m->conf.name;
	struct chan *ch;
	int r = -ENOENT;

	for (int attempt = 0; attempt < 4; attempt++) {
		r = chan_attach(name, &ch);
		if (r == 0)
			r = adopt_channel(m, ch);
		else if (r == -ENOENT)
			r = create_channel(m);
		else
			channel_fail(m, r,
				     "failed to attach to existing channel "
				     "%s: %s",
				     name, chan_strerror(r));
		if (r != -ENOENT && r != -EEXIST)
			break;
		if (r == -EEXIST && m->error == -EEXIST)
			break; /* the geometry conflict, logged */
	}
	if (r == 0)
		m->error = 0;
	return r;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Write the managed channels' names to f, sorted, one a line. */
static int print_names(const struct bus *bus, FILE *f)
{
	const char **names = calloc(bus->n_channels + 1, sizeof(*names));
	size_t count = 0;

	if (names == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < bus->n_channels; i++) {
		if (bus->channels[i].ch != NULL)
			names[count++] = bus->channels[i].conf.name;
	}
	qsort(names, count, sizeof(*names), compare_names);
	for (size_t i = 0; i < count; i++)
		fprintf(f, "%s\n", names[i]);
	free(names);
	return ferror(f) ? -EIO : 0;
}

/*
 * Replace the state file with the names of the managed channels, so that
 * readers see the old list or the new one, never a part.  See chanbusd(8).
 */
static void write_state(const struct bus *bus)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd, r;

	if (bus->state_file == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", bus->state_file);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		log_err("failed to write the state file %s: %s",
			bus->state_file, chan_strerror(-errno));
		return;
	}

	/* Readable by every user, whatever the umask, for chanctl. */
	fchmod(fd, 0644);
	f = fdopen(fd, "w");
	if (f == NULL) {
		r = -errno;
		close(fd);
	} else {
		r = print_names(bus, f);
		if (fclose(f) != 0 && r == 0)
			r = -errno;
	}
	if (r == 0 && rename(tmp, bus->state_file) < 0)
		r = -errno;
	if (r < 0) {
		log_err("failed to write the state file %s: %s",
			bus->state_file, chan_strerror(r));
		unlink(tmp);
	}
}

static struct managed_channel *bus_find(struct bus *bus, const char *name)
{
	for (size_t i = 0; i < bus->n_channels; i++) {
		if (strcmp(bus->channels[i].conf.name, name) == 0)
			return &bus->channels[i];
	}
	return NULL;
}

static struct managed_channel *bus_add(struct bus *bus,
				       const struct channel_conf *c)
{
	struct managed_channel *grown;

	grown =
	    reallocarray(bus->channels, bus->n_channels + 1, sizeof(*grown));
	if (grown == NULL) {
		log_err("failed to add channel %s: out of memory", c->name);
		return NULL;
	}
	bus->channels = grown;
	grown[bus->n_channels] = (struct managed_channel){.conf = *c};
	return &grown[bus->n_channels++];
}

void bus_start(struct bus *bus, struct bus_config *config)
{
	bus->config = *config;
	for (size_t i = 0; i < config->n_channels; i++) {
		struct managed_channel *m = bus_add(bus, &config->channels[i]);

		if (m != NULL)
			channel_open(m);
	}
	write_state(bus);
}

/* Apply a changed declaration to a channel the bus holds. */
static void update_channel(struct managed_channel *m,
			   const struct channel_conf *c)
{
	struct chan_info info;
	int r;

	if (m->ch == NULL) {
		m->conf = *c;
		m->error = 0; /* log the outcome of this attempt again */
		channel_open(m);
		return;
	}
	if (c->capacity != m->conf.capacity ||
	    c->max_msg_size != m->conf.max_msg_size)
		log_warn("channel %s keeps capacity %" PRIu64
			 " and max-msg-size %" PRIu64
			 ": the configured capacity %" PRIu64
			 " and max-msg-size %" PRIu64
			 " need a new segment, which would lose its messages; "
			 "remove the channel and reload to apply them",
			 c->name, m->conf.capacity, m->conf.max_msg_size,
			 c->capacity, c->max_msg_size);
	m->conf.mode = c->mode;
	m->conf.owner = c->owner;
	m->conf.group = c->group;
	m->conf.on_stop = c->on_stop;

	r = chan_info(m->ch, &info);
	if (r < 0)
		log_err("failed to read channel %s: %s", c->name,
			chan_strerror(r));
	else
		apply_attributes(m, &info);
}

static void close_channel(struct managed_channel *m, bool remove)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	r = chan_close(m->ch);
	if (r < 0)
		log_err("failed to close channel %s: %s", m->conf.name,
			chan_strerror(r));
	else
		log_info("closed channel %s", m->conf.name);
	if (!remove)
		return;

	/* Remove the name only while it is still the segment closed here. */
	segment_path(m->conf.name, path, sizeof(path));
	if (stat(path, &st) < 0 || st.st_dev != m->dev || st.st_ino != m->ino)
		r = -ESTALE;
	else
		r = chan_remove(m->conf.name);
	if (r < 0)
		log_err("failed to remove channel %s: %s", m->conf.name,
			r == -ESTALE ? "the segment was removed or replaced"
				     : chan_strerror(r));
	else
		log_info("removed channel %s", m->conf.name);
}

/* Handle a channel that the new configuration no longer declares. */
static void drop_channel(struct bus *bus, struct managed_channel *m)
{
	if (m->ch != NULL && bus->config.remove_undeclared)
		close_channel(m, true);
	else if (m->ch != NULL)
		log_notice(
		    "channel %s is no longer declared: left in place and "
		    "unmanaged (remove-undeclared = no)",
		    m->conf.name);
	channel_release(m);
}

void bus_reload(struct bus *bus, struct bus_config *config)
{
	size_t kept = 0;

	config_free(&bus->config);
	bus->config = *config;

	for (size_t i = 0; i < bus->n_channels; i++) {
		struct managed_channel *m = &bus->channels[i];
		const struct channel_conf *c =
		    config_find(config, m->conf.name);

		if (c == NULL) {
			drop_channel(bus, m);
			continue;
		}
		update_channel(m, c);
		bus->channels[kept++] = *m;
	}
	bus->n_channels = kept;

	for (size_t i = 0; i < config->n_channels; i++) {
		const struct channel_conf *c = &config->channels[i];
		struct managed_channel *m;

		if (bus_find(bus, c->name) != NULL)
			continue;
		m = bus_add(bus, c);
		if (m != NULL)
			channel_open(m);
	}
	write_state(bus);
}

/*
 * Check that the segment file is still the one the bus holds.  Returns 0,
 * or -ENOENT if it vanished, or -ESTALE if another file took the name.
 */
static int check_identity(const struct managed_channel *m)
{
	char path[PATH_MAX];
	struct stat st;

	segment_path(m->conf.name, path, sizeof(path));
	if (lstat(path, &st) < 0)
		return -errno;
	if (st.st_dev != m->dev || st.st_ino != m->ino)
		return -ESTALE;
	return 0;
}

/*
 * Repair locks whose owner died and clear the attachments of dead
 * processes now, rather than at the next client's call, and log both.
 */
static void repair_channel(struct managed_channel *m)
{
	struct chan_repair_report report;
	int r = chan_repair(m->ch, &report);

	if (r < 0) {
		log_err("failed to repair channel %s: %s", m->conf.name,
			chan_strerror(r));
		return;
	}
	if (report.peers_reaped > 0)
		log_notice("channel %s: cleared %" PRIu32 " attachments of "
			   "processes that died",
			   m->conf.name, report.peers_reaped);
	if (report.locks_busy > 0)
		log_warn("channel %s: %" PRIu32 " locks held for over 100 ms "
			 "by a live process (stopped or being debugged?)",
			 m->conf.name, report.locks_busy);
}

static void check_channel(struct managed_channel *m)
{
	const char *name = m->conf.name;
	struct chan_info info;
	int r;

	r = check_identity(m);
	if (r == -ENOENT) {
		log_err("segment of channel %s vanished: another process "
			"removed it; creating it again",
			name);
		channel_release(m);
		channel_open(m);
		return;
	}
	if (r == -ESTALE) {
		log_warn("channel %s was replaced by another segment: "
			 "adopting it",
			 name);
		channel_release(m);
		channel_open(m);
		return;
	}

	repair_channel(m);
	r = chan_info(m->ch, &info);
	if (r < 0) {
		log_err("failed to read channel %s: %s", name,
			chan_strerror(r));
		return;
	}
	if (info.recoveries > m->recoveries)
		log_warn("channel %s: %" PRIu64 " lock owners died holding "
			 "the lock and were recovered since the last check",
			 name, info.recoveries - m->recoveries);
	m->recoveries = info.recoveries;
	if (info.closed) {
		log_warn("channel %s was closed by another process", name);
		channel_release(m);
		channel_open(m);
		return;
	}
	log_debug("channel %s: %" PRIu64 " of %" PRIu64 " messages queued, "
		  "%" PRIu32 " senders and %" PRIu32 " receivers waiting, "
		  "%" PRIu32 " attached",
		  name, info.depth, info.capacity, info.send_waiters,
		  info.recv_waiters, info.attachments);
}

void bus_housekeeping(struct bus *bus)
{
	bool changed = false;

	for (size_t i = 0; i < bus->n_channels; i++) {
		struct managed_channel *m = &bus->channels[i];
		bool was_managed = m->ch != NULL;

		if (m->ch != NULL)
			check_channel(m);
		else
			channel_open(m);
		if (was_managed != (m->ch != NULL))
			changed = true;
	}
	if (changed)
		write_state(bus);
}

void bus_stop(struct bus *bus)
{
	for (size_t i = 0; i < bus->n_channels; i++) {
		struct managed_channel *m = &bus->channels[i];

		if (m->ch == NULL)
			continue;
		close_channel(m, m->conf.on_stop == ON_STOP_REMOVE);
		channel_release(m);
	}
	if (bus->state_file != NULL && unlink(bus->state_file) < 0 &&
	    errno != ENOENT)
		log_err("failed to remove the state file %s: %s",
			bus->state_file, chan_strerror(-errno));
	free(bus->channels);
	bus->channels = NULL;
	bus->n_channels = 0;
	config_free(&bus->config);
}

void bus_count(const struct bus *bus, size_t *ret_managed, size_t *ret_errors)
{
	size_t managed = 0;

	for (size_t i = 0; i < bus->n_channels; i++)
		managed += bus->channels[i].ch != NULL;
	*ret_managed = managed;
	*ret_errors = bus->n_channels - managed;
}
