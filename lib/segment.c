/* SPDX-License-Identifier: MIT */
/* Create, attach, validate, remove and list channel segments. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sync.h"

const char *chan__shm_dir(void)
{
	const char *dir = secure_getenv("CHAN_SHM_DIR");

	return dir != NULL && dir[0] != '\0' ? dir : "/dev/shm";
}

int chan_name_validate(const char *name)
{
	size_t len;

	if (name == NULL)
		return -EINVAL;
	len = strnlen(name, CHAN_NAME_MAX + 1);
	if (len == 0 || len > CHAN_NAME_MAX)
		return -EINVAL;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			 c == '-';

		if (!ok)
			return -EINVAL;
	}
	return 0;
}

int chan__shm_path(const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/" CHAN_SHM_PREFIX "%s", chan__shm_dir(),
			 name);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int chan__geometry(uint64_t capacity, uint64_t max_msg_size,
		   uint64_t *ret_slot_size, uint64_t *ret_segment_size)
{
	uint64_t slot_size;

	if (capacity == 0 || capacity > CHAN_CAPACITY_MAX)
		return -EINVAL;
	if (max_msg_size > CHAN_MSG_SIZE_MAX)
		return -EINVAL;

	slot_size = CHAN_SLOT_HEADER_SIZE + max_msg_size;
	slot_size = (slot_size + CHAN_SEG_SLOT_ALIGN - 1) &
		    ~(uint64_t)(CHAN_SEG_SLOT_ALIGN - 1);

	/* Both factors are below 2^31 and 2^25, so the product fits. */
	if (capacity * slot_size > (uint64_t)SIZE_MAX - CHAN_SEG_HEADER_SIZE)
		return -EINVAL;
	*ret_slot_size = slot_size;
	*ret_segment_size = CHAN_SEG_HEADER_SIZE + capacity * slot_size;
	return 0;
}

void chan_params_init(struct chan_params *params)
{
	*params = (struct chan_params){
	    .capacity = CHAN_CAPACITY_DEFAULT,
	    .max_msg_size = CHAN_MSG_SIZE_DEFAULT,
	    .mode = CHAN_MODE_DEFAULT,
	    .flags = 0,
	    .roles = 0,
	    .owner = (uid_t)-1,
	    .group = (gid_t)-1,
	};
}

static struct chan *handle_new(const char *name, int fd, void *map,
			       const struct chan_seg *geometry)
{
	struct chan *ch = calloc(1, sizeof(*ch));

	if (ch == NULL)
		return NULL;
	if (chan__guard_add(map, geometry->segment_size, &ch->guard) < 0) {
		free(ch);
		return NULL;
	}
	ch->seg = map;
	ch->slots = (uint8_t *)map + CHAN_SEG_HEADER_SIZE;
	ch->map_size = geometry->segment_size;
	ch->capacity = geometry->capacity;
	ch->max_msg_size = geometry->max_msg_size;
	ch->slot_size = geometry->slot_size;
	ch->attachments =
	    (struct chan_attachment *)((uint8_t *)map + CHAN_SEG_ATTACH_OFFSET);
	ch->flags = geometry->flags & CHAN_TRACK_PEERS;
	ch->attach_index = -1;
	ch->reserved_len = SIZE_MAX;
	ch->fd = fd;
	strcpy(ch->name, name);
	return ch;
}

/*
 * Check a copy of a segment header against the format and the file's
 * real size.  Every later bound is derived from the values checked here.
 */
static int validate_header(const struct chan_seg *h, uint64_t file_size)
{
	uint64_t slot_size, segment_size;

	if (h->magic != CHAN_SEG_MAGIC)
		return -EBADMSG;
	if (h->version > CHAN_SEG_VERSION)
		return -EPROTONOSUPPORT;
	if (h->version != CHAN_SEG_VERSION)
		return -EBADMSG;
	if (h->abi != CHAN_SEG_ABI)
		return -EPROTONOSUPPORT;
	if (h->header_size != CHAN_SEG_HEADER_SIZE)
		return -EBADMSG;
	if (h->flags & ~(uint32_t)CHAN_TRACK_PEERS)
		return -EBADMSG;
	if (chan__geometry(h->capacity, h->max_msg_size, &slot_size,
			   &segment_size) < 0)
		return -EBADMSG;
	if (h->slot_size != slot_size || h->segment_size != segment_size)
		return -EBADMSG;
	if (segment_size != file_size)
		return -EBADMSG;
	return 0;
}

/*
 * Map an open segment file after validating it.  The header is read with
 * pread, not through a mapping, so that a file truncated meanwhile gives
 * a short read instead of SIGBUS.
 */
static int attach_fd(const char *name, int fd, bool read_only, uid_t owner,
		     struct chan **ret)
{
	struct chan_seg header;
	struct stat st;
	void *map;
	int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < CHAN_SEG_HEADER_SIZE)
		return -EBADMSG;
	if (owner != (uid_t)-1 && st.st_uid != owner)
		return -EPERM;
	if (pread(fd, &header, sizeof(header), 0) != (ssize_t)sizeof(header))
		return -EBADMSG;

	r = validate_header(&header, (uint64_t)st.st_size);
	if (r < 0)
		return r;

	map = mmap(NULL, header.segment_size, prot, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;

	*ret = handle_new(name, fd, map, &header);
	if (*ret == NULL) {
		munmap(map, header.segment_size);
		return -ENOMEM;
	}
	(*ret)->read_only = read_only;
	return 0;
}

/*
 * Tell whether the segment file is now smaller than the mapping.  A waiter
 * that touches only the header would not fault on a truncated file, so it
 * looks after each sleep.  The SIGBUS guard catches the other cases.
 */
bool chan__segment_shrunk(struct chan *ch)
{
	struct stat st;

	if (fstat(ch->fd, &st) < 0 || (uint64_t)st.st_size >= ch->map_size)
		return false;
	chan__guard_mark_faulted(ch->guard);
	return true;
}

/*
 * Move a new descriptor of a segment above 0, 1 and 2.  A program started
 * with standard output closed gets the segment as descriptor 1 otherwise,
 * and its next printf writes over the channel.  Returns the descriptor or
 * a negative errno; fd is closed either way when it moved.
 */
static int move_above_stdio(int fd)
{
	int moved;

	if (fd > STDERR_FILENO)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	close(fd);
	return moved < 0 ? -errno : moved;
}

/*
 * Map the errors of opening something that is not a regular file (a
 * symbolic link, a directory, a socket) to "not a chan segment".
 */
static int open_error(int err)
{
	switch (err) {
	case ELOOP:
	case EISDIR:
	case ENXIO:
		return -EBADMSG;
	default:
		return -err;
	}
}

/*
 * Claim an attachment entry for the handle.  A handle without roles that
 * finds the table full works on without one.
 */
static int register_handle(struct chan *ch, uint32_t roles)
{
	int r = chan__attachment_claim(ch, roles);

	if (r == -EUSERS && roles == 0)
		return 0;
	return r;
}

int chan_open_owned(const char *name, uint32_t flags, uid_t owner,
		    struct chan **ret)
{
	const uint32_t roles = flags & (CHAN_SENDER | CHAN_RECEIVER);
	const bool read_only = flags & CHAN_READ_ONLY;
	char path[PATH_MAX];
	struct chan *ch = NULL;
	int fd, r;

	if (ret == NULL || chan_name_validate(name) < 0)
		return -EINVAL;
	if (flags & ~(uint32_t)(CHAN_SENDER | CHAN_RECEIVER | CHAN_READ_ONLY))
		return -EINVAL;
	if (read_only && roles != 0)
		return -EINVAL;
	r = chan__shm_path(name, path, sizeof(path));
	if (r < 0)
		return r;

	/* O_NONBLOCK keeps a FIFO planted at the name from blocking open. */
	fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_NOFOLLOW |
			    O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return open_error(errno);
	fd = move_above_stdio(fd);
	if (fd < 0)
		return fd;

	r = attach_fd(name, fd, read_only, owner, &ch);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (!read_only) {
		r = register_handle(ch, roles);
		if (r < 0) {
			chan_detach(ch);
			return r;
		}
	}
	*ret = ch;
	return 0;
}

int chan_open(const char *name, uint32_t flags, struct chan **ret)
{
	return chan_open_owned(name, flags, (uid_t)-1, ret);
}

int chan_attach(const char *name, struct chan **ret)
{
	return chan_open(name, 0, ret);
}

static int init_mutex(pthread_mutex_t *mutex)
{
	pthread_mutexattr_t attr;
	int r;

	r = pthread_mutexattr_init(&attr);
	if (r != 0)
		return -r;
	r = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (r == 0)
		r = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (r == 0)
		r = pthread_mutex_init(mutex, &attr);
	pthread_mutexattr_destroy(&attr);
	return -r;
}

static int init_segment(struct chan_seg *seg, uint32_t flags, uint64_t capacity,
			uint64_t max_msg_size, uint64_t slot_size,
			uint64_t segment_size)
{
	struct timespec now;
	int r;

	clock_gettime(CLOCK_REALTIME, &now);
	seg->magic = CHAN_SEG_MAGIC;
	seg->version = CHAN_SEG_VERSION;
	seg->header_size = CHAN_SEG_HEADER_SIZE;
	seg->abi = CHAN_SEG_ABI;
	seg->flags = flags & CHAN_TRACK_PEERS;
	seg->capacity = capacity;
	seg->max_msg_size = max_msg_size;
	seg->slot_size = slot_size;
	seg->segment_size = segment_size;
	seg->creator_pid = getpid();
	seg->created_sec = now.tv_sec;
	seg->created_nsec = now.tv_nsec;
	r = init_mutex(&seg->send_lock.mutex);
	if (r == 0)
		r = init_mutex(&seg->recv_lock.mutex);
	return r;
}

/*
 * Open an unnamed file in the shm directory.  It gets its name only once
 * it is complete (publish_segment), so no process can see a half-built
 * segment, and a creator that dies first leaves nothing behind.
 */
static int open_unnamed(const char *dir, char *tmp_path, size_t size)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	tmp_path[0] = '\0';
	if (fd >= 0)
		return move_above_stdio(fd);
	if (errno != EOPNOTSUPP && errno != EISDIR)
		return -errno;

	/* No O_TMPFILE: a hidden name outside the channel namespace. */
	for (int attempt = 0; attempt < 100; attempt++) {
		snprintf(tmp_path, size, "%s/.chan-new-%d-%ld-%d", dir,
			 (int)getpid(), (long)random(), attempt);
		fd =
		    open(tmp_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		tmp_path[0] = '\0';
		return -errno;
	}
	fd = move_above_stdio(fd);
	if (fd < 0) {
		unlink(tmp_path);
		tmp_path[0] = '\0';
	}
	return fd;
}

/* Give the finished file its name; -EEXIST if the name is taken. */
static int publish_segment(int fd, const char *tmp_path, const char *path)
{
	char proc_path[64];
	int r;

	if (tmp_path[0] != '\0') {
		r = link(tmp_path, path) < 0 ? -errno : 0;
		unlink(tmp_path);
		return r;
	}
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc_path, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

/*
 * Give the published file its owner and group.  This comes after the link,
 * because with fs.protected_hardlinks the kernel lets a process link only
 * files it owns (or holds CAP_FOWNER for).  On failure the name is removed
 * again, but only while it still refers to the file made here.
 */
static int set_owner(int fd, const char *path, const struct chan_params *p)
{
	struct stat ours, named;
	int r;

	if (p->owner == (uid_t)-1 && p->group == (gid_t)-1)
		return 0;
	if (fchown(fd, p->owner, p->group) == 0)
		return 0;

	r = -errno;
	if (fstat(fd, &ours) == 0 && lstat(path, &named) == 0 &&
	    ours.st_dev == named.st_dev && ours.st_ino == named.st_ino)
		unlink(path);
	return r;
}

static int build_segment(int fd, const struct chan_params *p, uint64_t capacity,
			 uint64_t max_msg_size, void **ret_map,
			 struct chan_seg *ret_geometry)
{
	uint64_t slot_size, segment_size;
	void *map;
	int r;

	r = chan__geometry(capacity, max_msg_size, &slot_size, &segment_size);
	if (r < 0)
		return r;

	/* fchmod applies the mode exactly, whatever the umask. */
	if (fchmod(fd, p->mode) < 0)
		return -errno;

	/*
	 * Reserve every page now: ftruncate alone reserves nothing on tmpfs,
	 * and touching an unbacked page on a full tmpfs raises SIGBUS.
	 */
	r = posix_fallocate(fd, 0, (off_t)segment_size);
	if (r != 0)
		return r == EFBIG ? -ENOSPC : -r;

	map =
	    mmap(NULL, segment_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	r = init_segment(map, p->flags, capacity, max_msg_size, slot_size,
			 segment_size);
	if (r < 0) {
		munmap(map, segment_size);
		return r;
	}
	memcpy(ret_geometry, map, sizeof(*ret_geometry));
	*ret_map = map;
	return 0;
}

/* Attach to name if its geometry matches; -EEXIST if it does not. */
static int attach_existing(const char *name, const struct chan_params *p,
			   uint64_t capacity, uint64_t max_msg_size,
			   struct chan **ret)
{
	struct chan *ch;
	int r;

	r = chan_open(name, p->roles, &ch);
	if (r < 0)
		return r;
	if (ch->capacity != capacity || ch->max_msg_size != max_msg_size ||
	    ch->flags != (p->flags & CHAN_TRACK_PEERS)) {
		chan_detach(ch);
		return -EEXIST;
	}
	*ret = ch;
	return 0;
}

/* Build and publish a new segment; -EEXIST if the name is taken. */
static int create_new(const char *name, const char *path,
		      const struct chan_params *p, uint64_t capacity,
		      uint64_t max_msg_size, struct chan **ret)
{
	struct chan_seg geometry = {0};
	char tmp_path[PATH_MAX];
	void *map = NULL;
	int fd, r;

	fd = open_unnamed(chan__shm_dir(), tmp_path, sizeof(tmp_path));
	if (fd < 0)
		return fd;
	r = build_segment(fd, p, capacity, max_msg_size, &map, &geometry);
	if (r == 0)
		r = publish_segment(fd, tmp_path, path);
	else if (tmp_path[0] != '\0')
		unlink(tmp_path);
	if (r == 0)
		r = set_owner(fd, path, p);

	if (r == 0) {
		*ret = handle_new(name, fd, map, &geometry);
		if (*ret == NULL) {
			/* The channel exists, complete; the handle failed. */
			r = -ENOMEM;
		} else {
			r = register_handle(*ret, p->roles);
			if (r < 0)
				chan_detach(*ret);
			return r;
		}
	}
	if (map != NULL)
		munmap(map, geometry.segment_size);
	close(fd);
	return r;
}

int chan_create(const char *name, const struct chan_params *params,
		struct chan **ret)
{
	struct chan_params p;
	char path[PATH_MAX];
	uint64_t capacity, max_msg_size, slot_size, segment_size;
	int r;

	if (params == NULL)
		chan_params_init(&p);
	else
		p = *params;
	capacity = p.capacity ? p.capacity : CHAN_CAPACITY_DEFAULT;
	max_msg_size = p.max_msg_size ? p.max_msg_size : CHAN_MSG_SIZE_DEFAULT;
	if (p.mode == 0)
		p.mode = CHAN_MODE_DEFAULT;

	if (ret == NULL || chan_name_validate(name) < 0)
		return -EINVAL;
	if ((p.mode & ~0777u) != 0 ||
	    (p.flags & ~(uint32_t)(CHAN_EXIST_OK | CHAN_TRACK_PEERS)) ||
	    (p.roles & ~(uint32_t)(CHAN_SENDER | CHAN_RECEIVER)))
		return -EINVAL;
	r = chan__geometry(capacity, max_msg_size, &slot_size, &segment_size);
	if (r < 0)
		return r;
	r = chan__shm_path(name, path, sizeof(path));
	if (r < 0)
		return r;

	/*
	 * With CHAN_EXIST_OK, attach first so that the common case does not
	 * build a segment only to throw it away.  The name can vanish or
	 * appear between the steps, so go round again when it does.
	 */
	for (int attempt = 0; attempt < 8; attempt++) {
		if (p.flags & CHAN_EXIST_OK) {
			r = attach_existing(name, &p, capacity, max_msg_size,
					    ret);
			if (r != -ENOENT)
				return r;
		}
		r = create_new(name, path, &p, capacity, max_msg_size, ret);
		if (r != -EEXIST || !(p.flags & CHAN_EXIST_OK))
			return r;
	}
	return r;
}

void chan_detach(struct chan *ch)
{
	if (ch == NULL)
		return;
	chan__attachment_release(ch);
	chan__guard_remove(ch->guard);
	munmap(ch->seg, ch->map_size);
	close(ch->fd);
	free(ch);
}

int chan_remove(const char *name)
{
	char path[PATH_MAX];
	int r;

	if (chan_name_validate(name) < 0)
		return -EINVAL;
	r = chan__shm_path(name, path, sizeof(path));
	if (r < 0)
		return r;
	if (unlink(path) < 0)
		return -errno;
	return 0;
}

const char *chan_name(const struct chan *ch)
{
	return ch != NULL ? ch->name : NULL;
}

size_t chan_max_msg_size(const struct chan *ch)
{
	return ch != NULL ? (size_t)ch->max_msg_size : 0;
}

int chan_info(struct chan *ch, struct chan_info *ret)
{
	const struct chan_seg *seg;
	struct chan_info info;
	struct stat st;
	uint64_t head, tail;
	uint32_t attachments, senders, receivers;

	if (ch == NULL || ret == NULL)
		return -EINVAL;
	if (fstat(ch->fd, &st) < 0)
		return -errno;
	seg = ch->seg;
	chan__peer_counts(ch, &attachments, &senders, &receivers);

	/* Read head before tail: tail only grows, so depth is never
	 * negative; clamp what a racing or hostile writer could skew. */
	head = load_acquire(&seg->head);
	tail = load_acquire(&seg->tail);
	info = (struct chan_info){
	    .capacity = ch->capacity,
	    .max_msg_size = ch->max_msg_size,
	    .segment_size = ch->map_size,
	    .depth = tail - head > ch->capacity ? ch->capacity : tail - head,
	    .msgs_sent = tail,
	    .bytes_sent = load_relaxed(&seg->bytes_sent),
	    .msgs_received = head,
	    .bytes_received = load_relaxed(&seg->bytes_received),
	    .send_waits = load_relaxed(&seg->send_waits),
	    .recv_waits = load_relaxed(&seg->recv_waits),
	    .recoveries = load_relaxed(&seg->recoveries),
	    .send_waiters = load_relaxed(&seg->send_waiters),
	    .recv_waiters = load_relaxed(&seg->recv_waiters),
	    .creator_pid = load_relaxed(&seg->creator_pid),
	    .created_sec = load_relaxed(&seg->created_sec),
	    .created_nsec = load_relaxed(&seg->created_nsec),
	    .mode = st.st_mode & 07777,
	    .owner = st.st_uid,
	    .group = st.st_gid,
	    .flags = ch->flags,
	    .attachments = attachments,
	    .senders = senders,
	    .receivers = receivers,
	    .closed = load_relaxed(&seg->closed) != 0,
	};
	if (chan__guard_faulted(ch->guard))
		return -EBADMSG;
	*ret = info;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int chan_list(char ***ret_names, size_t *ret_count)
{
	const size_t prefix_len = strlen(CHAN_SHM_PREFIX);
	char **names = NULL, **grown;
	size_t count = 0, allocated = 0;
	struct dirent *entry;
	DIR *dir;

	if (ret_names == NULL || ret_count == NULL)
		return -EINVAL;
	dir = opendir(chan__shm_dir());
	if (dir == NULL)
		return -errno;

	while ((entry = readdir(dir)) != NULL) {
		const char *name = entry->d_name + prefix_len;

		if (strncmp(entry->d_name, CHAN_SHM_PREFIX, prefix_len) != 0 ||
		    chan_name_validate(name) < 0)
			continue;
		if (count == allocated) {
			allocated = allocated ? allocated * 2 : 16;
			grown = reallocarray(names, allocated, sizeof(*names));
			if (grown == NULL)
				goto oom;
			names = grown;
		}
		names[count] = strdup(name);
		if (names[count] == NULL)
			goto oom;
		count++;
	}
	closedir(dir);

	if (count > 0)
		qsort(names, count, sizeof(*names), compare_names);
	*ret_names = names;
	*ret_count = count;
	return 0;

oom:
	closedir(dir);
	chan_list_free(names, count);
	return -ENOMEM;
}

void chan_list_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}
