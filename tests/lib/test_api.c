/* SPDX-License-Identifier: MIT */
/*
 * Tests of the calls that manage channels: create, attach, remove, info,
 * list, name validation and error names, with every documented error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "segment.h"
#include "testutil.h"

/* The user tests switch to in order to be denied access. */
#define OTHER_UID 65534
#define OTHER_GID 65534

/* A pointer value that no call may store, to detect stray writes. */
#define UNTOUCHED ((struct chan *)0x1)

static char *shm_path_of(const char *name)
{
	static char path[PATH_MAX];

	tu_shm_path(path, sizeof(path), name);
	return path;
}

/* Switch a child to OTHER_UID.  Returns -1 if that fails. */
static int become_other_user(void)
{
	if (setgroups(0, NULL) < 0 || setgid(OTHER_GID) < 0 ||
	    setuid(OTHER_UID) < 0) {
		tu_child_fail(__FILE__, __LINE__, "cannot drop to uid %d: %s",
			      OTHER_UID, strerror(errno));
		return -1;
	}
	return 0;
}

START_TEST(params_init_defaults)
{
	struct chan_params p;

	memset(&p, 0xa5, sizeof(p));
	chan_params_init(&p);
	ASSERT_U64(p.capacity, CHAN_CAPACITY_DEFAULT);
	ASSERT_U64(p.max_msg_size, CHAN_MSG_SIZE_DEFAULT);
	ASSERT_U64(p.mode, CHAN_MODE_DEFAULT);
	ASSERT_U64(p.flags, 0);
	ASSERT_U64(p.owner, (uid_t)-1);
	ASSERT_U64(p.group, (gid_t)-1);
}
END_TEST

START_TEST(create_defaults)
{
	char name[CHAN_NAME_MAX + 1];
	struct timespec before, after;
	struct chan_info info;
	struct chan *ch = NULL;
	struct stat st;

	tu_name(name, sizeof(name), "defaults");
	clock_gettime(CLOCK_REALTIME, &before);
	ASSERT_RET(chan_create(name, NULL, &ch), 0);
	clock_gettime(CLOCK_REALTIME, &after);
	ck_assert_msg(ch != NULL, "chan_create returned 0 but no handle");

	ck_assert_str_eq(chan_name(ch), name);
	ASSERT_U64(chan_max_msg_size(ch), CHAN_MSG_SIZE_DEFAULT);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.capacity, CHAN_CAPACITY_DEFAULT);
	ASSERT_U64(info.max_msg_size, CHAN_MSG_SIZE_DEFAULT);
	ASSERT_U64(info.depth, 0);
	ASSERT_U64(info.msgs_sent, 0);
	ASSERT_U64(info.msgs_received, 0);
	ASSERT_U64(info.mode, CHAN_MODE_DEFAULT);
	ASSERT_U64(info.owner, geteuid());
	ASSERT_U64(info.group, getegid());
	ASSERT_U64(info.creator_pid, getpid());
	ASSERT_U64(info.closed, 0);
	ck_assert_msg(info.created_sec >= before.tv_sec &&
			  info.created_sec <= after.tv_sec,
		      "created_sec: expected %jd..%jd, got %jd",
		      (intmax_t)before.tv_sec, (intmax_t)after.tv_sec,
		      (intmax_t)info.created_sec);

	ck_assert_msg(stat(shm_path_of(name), &st) == 0, "stat %s: %s",
		      shm_path_of(name), strerror(errno));
	ASSERT_U64(info.segment_size, st.st_size);
	ASSERT_U64(st.st_mode & 07777, CHAN_MODE_DEFAULT);

	chan_detach(ch);
	ASSERT_RET(chan_remove(name), 0);
}
END_TEST

START_TEST(create_zero_params)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_params p = {.owner = (uid_t)-1, .group = (gid_t)-1};
	struct chan_info info;
	struct chan *ch = NULL;

	tu_name(name, sizeof(name), "zero");
	ASSERT_RET(chan_create(name, &p, &ch), 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.capacity, CHAN_CAPACITY_DEFAULT);
	ASSERT_U64(info.max_msg_size, CHAN_MSG_SIZE_DEFAULT);
	ASSERT_U64(info.mode, CHAN_MODE_DEFAULT);
	chan_detach(ch);
}
END_TEST

START_TEST(create_invalid_args)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_params p;
	struct chan *ch = UNTOUCHED;

	tu_name(name, sizeof(name), "invalid");
	ASSERT_RET(chan_create(NULL, NULL, &ch), -EINVAL);
	ASSERT_RET(chan_create(name, NULL, NULL), -EINVAL);

	chan_params_init(&p);
	p.capacity = CHAN_CAPACITY_MAX + 1;
	ASSERT_RET(chan_create(name, &p, &ch), -EINVAL);

	chan_params_init(&p);
	p.max_msg_size = CHAN_MSG_SIZE_MAX + 1;
	ASSERT_RET(chan_create(name, &p, &ch), -EINVAL);

	chan_params_init(&p);
	p.mode = 010000;
	ASSERT_RET(chan_create(name, &p, &ch), -EINVAL);

	/* Set-user-ID, set-group-ID and sticky bits mean nothing here. */
	chan_params_init(&p);
	p.mode = 04777;
	ASSERT_RET(chan_create(name, &p, &ch), -EINVAL);
	p.mode = 01600;
	ASSERT_RET(chan_create(name, &p, &ch), -EINVAL);

	chan_params_init(&p);
	p.flags = 1u << 31;
	ASSERT_RET(chan_create(name, &p, &ch), -EINVAL);

	ck_assert_msg(ch == UNTOUCHED, "*ret changed by a failed chan_create");
	ck_assert_msg(!tu_path_exists(shm_path_of(name)),
		      "%s exists after invalid creates", shm_path_of(name));
}
END_TEST

START_TEST(create_exists)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch, *other = UNTOUCHED;
	struct chan_info info;
	size_t len;
	char buf[8];

	tu_name(name, sizeof(name), "exists");
	ch = tu_create(name, 4, 64);
	ASSERT_RET(chan_send(ch, "kept", 4), 0);

	ASSERT_RET(chan_create(name, NULL, &other), -EEXIST);
	ck_assert_msg(other == UNTOUCHED, "*ret changed on -EEXIST");

	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 1);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ASSERT_U64(len, 4);
	ck_assert_msg(memcmp(buf, "kept", 4) == 0, "message changed");
	chan_detach(ch);
}
END_TEST

static struct chan *create_exist_ok(const char *name, uint64_t capacity,
				    uint64_t max_msg_size, int expected)
{
	struct chan_params p;
	struct chan *ch = UNTOUCHED;

	chan_params_init(&p);
	p.capacity = capacity;
	p.max_msg_size = max_msg_size;
	p.flags = CHAN_EXIST_OK;
	ASSERT_RET(chan_create(name, &p, &ch), expected);
	if (expected != 0)
		ck_assert_msg(ch == UNTOUCHED, "*ret changed on failure");
	return ch;
}

START_TEST(create_exist_ok_attaches)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_info info;
	struct chan *ch;
	char buf[8];
	size_t len;

	tu_name(name, sizeof(name), "existok");
	ch = tu_create(name, 4, 64);
	ASSERT_RET(chan_send(ch, "one", 3), 0);
	ASSERT_RET(chan_send(ch, "two!", 4), 0);
	chan_detach(ch);

	ch = create_exist_ok(name, 4, 64, 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 2);
	ASSERT_U64(info.msgs_sent, 2);
	ASSERT_U64(info.creator_pid, getpid());
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ASSERT_U64(len, 3);
	ck_assert_msg(memcmp(buf, "one", 3) == 0, "first message changed");
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ASSERT_U64(len, 4);
	ck_assert_msg(memcmp(buf, "two!", 4) == 0, "second message changed");
	chan_detach(ch);
}
END_TEST

START_TEST(create_exist_ok_geometry)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_params params;
	struct chan_info info;
	struct chan *ch, *other = NULL;

	tu_name(name, sizeof(name), "geometry");
	ch = tu_create(name, 4, 64);
	ASSERT_RET(chan_send(ch, "x", 1), 0);

	create_exist_ok(name, 8, 64, -EEXIST);
	create_exist_ok(name, 4, 128, -EEXIST);

	/* Peer tracking is part of what must match. */
	chan_params_init(&params);
	params.capacity = 4;
	params.max_msg_size = 64;
	params.flags = CHAN_EXIST_OK | CHAN_TRACK_PEERS;
	ASSERT_RET(chan_create(name, &params, &other), -EEXIST);
	ck_assert_ptr_null(other);

	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 1);
	ASSERT_U64(info.capacity, 4);
	ASSERT_U64(info.max_msg_size, 64);
	chan_detach(ch);
}
END_TEST

START_TEST(create_exist_ok_new)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_info info;
	struct chan *ch;

	tu_name(name, sizeof(name), "existnew");
	ch = create_exist_ok(name, 3, 32, 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.capacity, 3);
	ASSERT_U64(info.max_msg_size, 32);
	ck_assert_msg(tu_path_exists(shm_path_of(name)), "%s missing",
		      shm_path_of(name));
	chan_detach(ch);

	/* Zero capacity and size select the defaults, also for matching. */
	tu_name(name, sizeof(name), "existdefault");
	ASSERT_RET(chan_create(name, NULL, &ch), 0);
	chan_detach(ch);
	ch = create_exist_ok(name, 0, 0, 0);
	chan_detach(ch);
}
END_TEST

START_TEST(create_nospc)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_params p;
	struct chan *ch = UNTOUCHED;
	struct statvfs fs;
	uint64_t shm_size;

	ck_assert_msg(statvfs("/dev/shm", &fs) == 0, "statvfs: %s",
		      strerror(errno));
	shm_size = (uint64_t)fs.f_blocks * fs.f_frsize;
	if (shm_size == 0) {
		fprintf(stderr, "create_nospc: skipped, /dev/shm has no size "
				"limit\n");
		return;
	}

	/* A segment larger than the whole file system. */
	chan_params_init(&p);
	p.max_msg_size = CHAN_MSG_SIZE_MAX;
	p.capacity = shm_size / CHAN_MSG_SIZE_MAX + 2;
	ck_assert_msg(p.capacity <= CHAN_CAPACITY_MAX,
		      "/dev/shm of %ju bytes is too large for this test",
		      (uintmax_t)shm_size);
	tu_name(name, sizeof(name), "nospc");
	ASSERT_RET(chan_create(name, &p, &ch), -ENOSPC);
	ck_assert_msg(ch == UNTOUCHED, "*ret changed on -ENOSPC");
	ck_assert_msg(!tu_path_exists(shm_path_of(name)),
		      "%s left behind after -ENOSPC", shm_path_of(name));
}
END_TEST

static const mode_t test_umasks[] = {077, 022};
static const uint32_t test_modes[] = {0666, 0640, 0600, 0604};

START_TEST(create_mode_umask)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_params p;
	struct chan_info info;
	struct chan *ch;
	struct stat st;

	umask(test_umasks[_i / 4]);
	chan_params_init(&p);
	p.mode = test_modes[_i % 4];
	tu_name(name, sizeof(name), "mode");
	ASSERT_RET(chan_create(name, &p, &ch), 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ck_assert_msg(info.mode == p.mode,
		      "umask %03o: info.mode expected %04o, got %04o",
		      (unsigned)test_umasks[_i / 4], p.mode, info.mode);
	ck_assert_msg(stat(shm_path_of(name), &st) == 0, "stat: %s",
		      strerror(errno));
	ck_assert_msg((st.st_mode & 07777) == p.mode,
		      "umask %03o: file mode expected %04o, got %04o",
		      (unsigned)test_umasks[_i / 4], p.mode,
		      (unsigned)(st.st_mode & 07777));
	chan_detach(ch);
	ASSERT_RET(chan_remove(name), 0);
}
END_TEST

START_TEST(create_owner)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_params p;
	struct chan_info info;
	struct chan *ch;

	if (geteuid() != 0) {
		fprintf(stderr, "create_owner: skipped, needs root\n");
		return;
	}
	chan_params_init(&p);
	p.owner = OTHER_UID;
	p.group = OTHER_GID;
	tu_name(name, sizeof(name), "owner");
	ASSERT_RET(chan_create(name, &p, &ch), 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.owner, OTHER_UID);
	ASSERT_U64(info.group, OTHER_GID);
	ASSERT_U64(info.mode, 0600);
	chan_detach(ch);
}
END_TEST

/* Create name with owner root as an unprivileged user: chown is denied. */
static int create_chown_child(void *arg)
{
	const char *name = arg;
	struct chan_params p;
	struct chan *ch = NULL;
	int r;

	if (geteuid() == 0 && become_other_user() < 0)
		return 2;
	chan_params_init(&p);
	p.owner = 0;
	p.group = 0;
	r = chan_create(name, &p, &ch);
	CHILD_EXPECT(r == -EPERM,
		     "chan_create with owner 0: expected %s, "
		     "got %s",
		     chan_error_name(-EPERM), chan_error_name(r));
	return 0;
}

START_TEST(create_chown_eperm)
{
	char name[CHAN_NAME_MAX + 1];

	tu_name(name, sizeof(name), "chown");
	ASSERT_CHILD_OK(tu_spawn(create_chown_child, name));
	ck_assert_msg(!tu_path_exists(shm_path_of(name)),
		      "%s left behind after -EPERM", shm_path_of(name));
}
END_TEST

START_TEST(attach_errors)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch = UNTOUCHED;

	tu_name(name, sizeof(name), "missing");
	ASSERT_RET(chan_attach(name, &ch), -ENOENT);
	ASSERT_RET(chan_attach("a/b", &ch), -EINVAL);
	ASSERT_RET(chan_attach(NULL, &ch), -EINVAL);
	ASSERT_RET(chan_attach("", &ch), -EINVAL);
	ck_assert_msg(ch == UNTOUCHED, "*ret changed by a failed attach");
	ASSERT_RET(chan_attach(name, NULL), -EINVAL);
}
END_TEST

START_TEST(attach_shares_messages)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch, *other = NULL;
	char buf[8];
	size_t len;

	tu_name(name, sizeof(name), "attach");
	ch = tu_create(name, 4, 64);
	ASSERT_RET(chan_attach(name, &other), 0);
	ck_assert_str_eq(chan_name(other), name);
	ASSERT_U64(chan_max_msg_size(other), 64);
	ASSERT_RET(chan_send(other, "via", 3), 0);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ASSERT_U64(len, 3);
	ck_assert_msg(memcmp(buf, "via", 3) == 0, "message changed");
	chan_detach(other);
	chan_detach(ch);
	chan_detach(NULL);
}
END_TEST

/* As another user, try to attach to and remove name: both are denied. */
static int denied_child(void *arg)
{
	const char *name = arg;
	struct chan *ch = NULL;
	int attach, remove;

	if (geteuid() == 0 && become_other_user() < 0)
		return 2;
	attach = chan_attach(name, &ch);
	remove = chan_remove(name);
	CHILD_EXPECT(attach == -EACCES, "attach: expected %s, got %s",
		     chan_error_name(-EACCES), chan_error_name(attach));
	CHILD_EXPECT(remove == -EPERM || remove == -EACCES,
		     "remove: expected EPERM or EACCES, got %s",
		     chan_error_name(remove));
	return 0;
}

START_TEST(attach_eacces)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_params p;
	struct chan *ch;

	/* As root, another user is denied by mode 0600; otherwise the
	 * owner is denied read-write access by mode 0400. */
	chan_params_init(&p);
	p.mode = geteuid() == 0 ? 0600 : 0400;
	tu_name(name, sizeof(name), "denied");
	ASSERT_RET(chan_create(name, &p, &ch), 0);
	ASSERT_CHILD_OK(tu_spawn(denied_child, name));
	ck_assert_msg(tu_path_exists(shm_path_of(name)),
		      "%s removed by a user without permission",
		      shm_path_of(name));
	chan_detach(ch);
}
END_TEST

/* Create the file of channel name with len bytes of data and size size. */
static void write_file(const char *name, const void *data, size_t len,
		       off_t size)
{
	const char *path = shm_path_of(name);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_msg(write(fd, data, len) == (ssize_t)len, "write %s: %s",
		      path, strerror(errno));
	ck_assert_msg(ftruncate(fd, size) == 0, "ftruncate %s: %s", path,
		      strerror(errno));
	close(fd);
}

START_TEST(attach_foreign_file)
{
	char name[CHAN_NAME_MAX + 1];
	static char junk[8192];
	struct chan *ch = UNTOUCHED;

	memset(junk, 'x', sizeof(junk));
	tu_name(name, sizeof(name), "foreign");
	write_file(name, junk, sizeof(junk), sizeof(junk));
	ASSERT_RET(chan_attach(name, &ch), -EBADMSG);
	ck_assert_msg(ch == UNTOUCHED, "*ret changed on -EBADMSG");
	ck_assert_msg(tu_path_exists(shm_path_of(name)),
		      "attach removed a foreign file");
	ASSERT_RET(chan_remove(name), 0);

	write_file(name, junk, 0, 0);
	ASSERT_RET(chan_attach(name, &ch), -EBADMSG);
	ASSERT_RET(chan_remove(name), 0);

	write_file(name, junk, 100, 100);
	ASSERT_RET(chan_attach(name, &ch), -EBADMSG);
	ASSERT_RET(chan_remove(name), 0);
}
END_TEST

START_TEST(attach_truncated)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch;
	struct chan_params p;
	struct chan *other = UNTOUCHED;

	tu_name(name, sizeof(name), "truncated");
	ch = tu_create(name, 4, 64);
	chan_detach(ch);

	/* Cut off the last slot: the header no longer matches the size. */
	ck_assert_msg(truncate(shm_path_of(name), CHAN_SEG_HEADER_SIZE + 64) ==
			  0,
		      "truncate: %s", strerror(errno));
	ASSERT_RET(chan_attach(name, &other), -EBADMSG);

	chan_params_init(&p);
	p.capacity = 4;
	p.max_msg_size = 64;
	p.flags = CHAN_EXIST_OK;
	ASSERT_RET(chan_create(name, &p, &other), -EBADMSG);

	ck_assert_msg(truncate(shm_path_of(name), 100) == 0, "truncate: %s",
		      strerror(errno));
	ASSERT_RET(chan_attach(name, &other), -EBADMSG);
	ck_assert_msg(other == UNTOUCHED, "*ret changed on -EBADMSG");
}
END_TEST

START_TEST(attach_symlink)
{
	char name[CHAN_NAME_MAX + 1], target[CHAN_NAME_MAX + 1];
	char target_path[PATH_MAX];
	struct chan *ch, *other = UNTOUCHED;

	tu_name(target, sizeof(target), "target");
	tu_name(name, sizeof(name), "link");
	ch = tu_create(target, 4, 64);
	tu_shm_path(target_path, sizeof(target_path), target);
	ck_assert_msg(symlink(target_path, shm_path_of(name)) == 0,
		      "symlink: %s", strerror(errno));
	ASSERT_RET(chan_attach(name, &other), -EBADMSG);
	chan_detach(ch);
}
END_TEST

/*
 * A directory where a segment belongs is not a chan segment either; the
 * documented errors of chan_attach() name -EBADMSG for that.
 */
START_TEST(attach_directory)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch = UNTOUCHED;

	tu_name(name, sizeof(name), "dir");
	ck_assert_msg(mkdir(shm_path_of(name), 0700) == 0, "mkdir: %s",
		      strerror(errno));
	ASSERT_RET(chan_attach(name, &ch), -EBADMSG);
	ck_assert_msg(ch == UNTOUCHED, "*ret changed by a failed attach");
	rmdir(shm_path_of(name));
}
END_TEST

/* A header of a valid 4 x 64 channel, written by the test itself. */
static void fill_header(struct chan_seg *h)
{
	uint64_t slot_size =
	    (CHAN_SLOT_HEADER_SIZE + 64 + CHAN_SEG_SLOT_ALIGN - 1) &
	    ~(uint64_t)(CHAN_SEG_SLOT_ALIGN - 1);

	memset(h, 0, sizeof(*h));
	h->magic = CHAN_SEG_MAGIC;
	h->version = CHAN_SEG_VERSION;
	h->header_size = CHAN_SEG_HEADER_SIZE;
	h->abi = CHAN_SEG_ABI;
	h->capacity = 4;
	h->max_msg_size = 64;
	h->slot_size = slot_size;
	h->segment_size = CHAN_SEG_HEADER_SIZE + 4 * slot_size;
	h->creator_pid = getpid();
}

enum header_fault {
	HEADER_VALID,
	HEADER_NEWER_VERSION,
	HEADER_OLDER_VERSION,
	HEADER_OTHER_ABI,
	HEADER_BAD_MAGIC,
	HEADER_BAD_HEADER_SIZE,
	HEADER_BAD_SLOT_SIZE,
	HEADER_ZERO_CAPACITY,
	HEADER_LONGER_FILE,
	HEADER_FAULTS,
};

static const struct {
	const char *what;
	int expected;
} header_cases[HEADER_FAULTS] = {
    [HEADER_VALID] = {"valid header", 0},
    [HEADER_NEWER_VERSION] = {"version + 1", -EPROTONOSUPPORT},
    [HEADER_OLDER_VERSION] = {"version 0", -EBADMSG},
    [HEADER_OTHER_ABI] = {"another ABI", -EPROTONOSUPPORT},
    [HEADER_BAD_MAGIC] = {"wrong magic", -EBADMSG},
    [HEADER_BAD_HEADER_SIZE] = {"wrong header size", -EBADMSG},
    [HEADER_BAD_SLOT_SIZE] = {"wrong slot size", -EBADMSG},
    [HEADER_ZERO_CAPACITY] = {"capacity 0", -EBADMSG},
    [HEADER_LONGER_FILE] = {"file longer than the segment", -EBADMSG},
};

START_TEST(attach_bad_header)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_params p;
	struct chan_seg h;
	struct chan *ch = UNTOUCHED;
	off_t size;
	int r;

	fill_header(&h);
	size = (off_t)h.segment_size;
	switch ((enum header_fault)_i) {
	case HEADER_VALID:
	case HEADER_FAULTS:
		break;
	case HEADER_NEWER_VERSION:
		h.version = CHAN_SEG_VERSION + 1;
		break;
	case HEADER_OLDER_VERSION:
		h.version = 0;
		break;
	case HEADER_OTHER_ABI:
		h.abi ^= 1u << 16;
		break;
	case HEADER_BAD_MAGIC:
		h.magic ^= 1;
		break;
	case HEADER_BAD_HEADER_SIZE:
		h.header_size = CHAN_SEG_HEADER_SIZE / 2;
		break;
	case HEADER_BAD_SLOT_SIZE:
		h.slot_size += CHAN_SEG_SLOT_ALIGN;
		break;
	case HEADER_ZERO_CAPACITY:
		h.capacity = 0;
		break;
	case HEADER_LONGER_FILE:
		size += 4096;
		break;
	}

	tu_name(name, sizeof(name), "header");
	write_file(name, &h, sizeof(h), size);
	r = chan_attach(name, &ch);
	ck_assert_msg(
	    r == header_cases[_i].expected,
	    "attach with %s: expected %s, got %s", header_cases[_i].what,
	    chan_error_name(header_cases[_i].expected), chan_error_name(r));
	if (r == 0) {
		ASSERT_U64(chan_max_msg_size(ch), 64);
		chan_detach(ch);
		return;
	}
	ck_assert_msg(ch == UNTOUCHED, "*ret changed by a failed attach");

	/* chan_create with CHAN_EXIST_OK reports the same error. */
	chan_params_init(&p);
	p.capacity = 4;
	p.max_msg_size = 64;
	p.flags = CHAN_EXIST_OK;
	r = chan_create(name, &p, &ch);
	ck_assert_msg(r == header_cases[_i].expected,
		      "create CHAN_EXIST_OK with %s: expected %s, got %s",
		      header_cases[_i].what,
		      chan_error_name(header_cases[_i].expected),
		      chan_error_name(r));
	ck_assert_msg(tu_path_exists(shm_path_of(name)),
		      "a failed create removed the file it rejected");
}
END_TEST

START_TEST(remove_errors)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch;

	tu_name(name, sizeof(name), "remove");
	ch = tu_create(name, 2, 16);
	chan_detach(ch);
	ASSERT_RET(chan_remove(name), 0);
	ck_assert_msg(!tu_path_exists(shm_path_of(name)),
		      "%s still exists after chan_remove", shm_path_of(name));
	ASSERT_RET(chan_remove(name), -ENOENT);
	ASSERT_RET(chan_remove(NULL), -EINVAL);
	ASSERT_RET(chan_remove(""), -EINVAL);
	ASSERT_RET(chan_remove(".."), -EINVAL);
	ASSERT_RET(chan_remove("a/b"), -EINVAL);
}
END_TEST

START_TEST(call_invalid_args)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_info info;
	struct chan *ch;
	size_t len = 12345;
	char buf[8];

	tu_name(name, sizeof(name), "args");
	ch = tu_create(name, 2, 16);
	ASSERT_RET(chan_send(ch, "q", 1), 0);

	ASSERT_RET(chan_send(NULL, "x", 1), -EINVAL);
	ASSERT_RET(chan_try_send(NULL, "x", 1), -EINVAL);
	ASSERT_RET(chan_send_timeout(NULL, "x", 1, 0), -EINVAL);
	ASSERT_RET(chan_send(ch, NULL, 1), -EINVAL);
	ASSERT_RET(chan_try_send(ch, NULL, 1), -EINVAL);
	ASSERT_RET(chan_send_timeout(ch, NULL, 1, 1000), -EINVAL);

	ASSERT_RET(chan_recv(NULL, buf, sizeof(buf), &len), -EINVAL);
	ASSERT_RET(chan_try_recv(NULL, buf, sizeof(buf), &len), -EINVAL);
	ASSERT_RET(chan_recv_timeout(NULL, buf, sizeof(buf), &len, 0), -EINVAL);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), NULL), -EINVAL);
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), NULL), -EINVAL);
	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), NULL, 0), -EINVAL);
	ASSERT_RET(chan_recv(ch, NULL, 1, &len), -EINVAL);
	ASSERT_RET(chan_try_recv(ch, NULL, 1, &len), -EINVAL);
	ASSERT_RET(chan_recv_timeout(ch, NULL, 1, &len, 1000), -EINVAL);
	ASSERT_U64(len, 12345);

	ASSERT_RET(chan_info(NULL, &info), -EINVAL);
	ASSERT_RET(chan_info(ch, NULL), -EINVAL);
	ASSERT_RET(chan_close(NULL), -EINVAL);
	ck_assert_msg(chan_name(NULL) == NULL, "chan_name(NULL) not NULL");
	ASSERT_U64(chan_max_msg_size(NULL), 0);

	/* None of the rejected calls queued or took a message. */
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 1);
	ASSERT_U64(info.msgs_sent, 1);
	ASSERT_U64(info.msgs_received, 0);
	ASSERT_U64(info.closed, 0);
	chan_detach(ch);
}
END_TEST

/* A child creates a channel; its pid is the creator_pid others see. */
static int create_child(void *arg)
{
	struct chan_params p;
	struct chan *ch = NULL;
	int r;

	chan_params_init(&p);
	p.capacity = 4;
	p.max_msg_size = 64;
	r = chan_create(arg, &p, &ch);
	CHILD_EXPECT(r == 0, "chan_create: %s", chan_error_name(r));
	chan_detach(ch);
	return 0;
}

START_TEST(info_creator_closed)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_info info;
	struct chan *ch = NULL;
	pid_t pid;

	tu_name(name, sizeof(name), "creator");
	pid = tu_spawn(create_child, name);
	ASSERT_CHILD_OK(pid);
	ASSERT_RET(chan_attach(name, &ch), 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.creator_pid, pid);
	ASSERT_U64(info.closed, 0);

	ASSERT_RET(chan_close(ch), 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ck_assert_msg(info.closed != 0, "closed: expected non-zero, got 0");
	ASSERT_RET(chan_close(ch), 0);
	chan_detach(ch);
}
END_TEST

/* Return the index of name in names, or -1. */
static long find_name(char **names, size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(names[i], name) == 0)
			return (long)i;
	return -1;
}

START_TEST(list_sorted)
{
	static const char *const tags[] = {"list-c", "list-a", "list-b"};
	char names[3][CHAN_NAME_MAX + 1];
	struct chan *ch[3];
	char **list = NULL;
	size_t count = 0;
	long at[3];

	for (int i = 0; i < 3; i++) {
		tu_name(names[i], sizeof(names[i]), tags[i]);
		ch[i] = tu_create(names[i], 2, 16);
	}
	ASSERT_RET(chan_list(&list, &count), 0);
	for (int i = 0; i < 3; i++) {
		at[i] = find_name(list, count, names[i]);
		ck_assert_msg(at[i] >= 0, "%s missing from chan_list",
			      names[i]);
	}
	ck_assert_msg(at[1] < at[2] && at[2] < at[0],
		      "expected order list-a, list-b, list-c, got indices "
		      "%ld, %ld, %ld",
		      at[1], at[2], at[0]);
	for (size_t i = 1; i < count; i++)
		ck_assert_msg(strcmp(list[i - 1], list[i]) < 0,
			      "chan_list not sorted: \"%s\" before \"%s\"",
			      list[i - 1], list[i]);
	for (size_t i = 0; i < count; i++)
		ck_assert_msg(chan_name_validate(list[i]) == 0,
			      "chan_list returned invalid name \"%s\"",
			      list[i]);
	chan_list_free(list, count);
	for (int i = 0; i < 3; i++)
		chan_detach(ch[i]);

	ASSERT_RET(chan_list(NULL, &count), -EINVAL);
	ASSERT_RET(chan_list(&list, NULL), -EINVAL);
	chan_list_free(NULL, 0);
}
END_TEST

/*
 * Create an empty file at /dev/shm/entry.  Returns false, and leaves the
 * file alone, if it existed before.
 */
static bool place_file(const char *entry)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/%s", entry);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return false;
	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	close(fd);
	return true;
}

static void unlink_entry(const char *entry)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/dev/shm/%s", entry);
	unlink(path);
}

START_TEST(list_skips_foreign)
{
	char valid[CHAN_NAME_MAX + 1], prefix[64], entry[4][PATH_MAX];
	char longname[CHAN_NAME_MAX + 2];
	const char *dots[] = {"chan.", "chan..", "chan..."};
	bool placed_dots[3];
	struct chan *ch;
	char **list = NULL;
	size_t count = 0;

	tu_name(valid, sizeof(valid), "listed");
	tu_name(prefix, sizeof(prefix), "");
	ch = tu_create(valid, 2, 16);

	/* No prefix, a space, a non-ASCII byte, one byte too long. */
	snprintf(entry[0], PATH_MAX, "%slisted", prefix);
	snprintf(entry[1], PATH_MAX, "chan.%sbad name", prefix);
	snprintf(entry[2], PATH_MAX, "chan.%s\xc3\xa9", prefix);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(longname, prefix, strlen(prefix));
	snprintf(entry[3], PATH_MAX, "chan.%s", longname);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(place_file(entry[i]), "%s exists", entry[i]);
	for (int i = 0; i < 3; i++)
		placed_dots[i] = place_file(dots[i]);

	ASSERT_RET(chan_list(&list, &count), 0);
	for (int i = 0; i < 3; i++)
		if (placed_dots[i])
			unlink_entry(dots[i]);

	ck_assert_msg(find_name(list, count, valid) >= 0, "%s missing", valid);
	for (size_t i = 0; i < count; i++) {
		ck_assert_msg(chan_name_validate(list[i]) == 0,
			      "chan_list returned invalid name \"%s\"",
			      list[i]);
		ck_assert_msg(strncmp(list[i], prefix, strlen(prefix)) != 0 ||
				  strcmp(list[i], valid) == 0,
			      "chan_list returned \"%s\", expected only %s "
			      "with this prefix",
			      list[i], valid);
	}
	chan_list_free(list, count);
	chan_detach(ch);
}
END_TEST

/* Build a name of len copies of c. */
static char *repeat(char *buf, char c, size_t len)
{
	memset(buf, c, len);
	buf[len] = '\0';
	return buf;
}

START_TEST(name_validate_cases)
{
	static const char *const valid[] = {
	    "a",  "Z",	"0",   "9",	  "_",	 "-",		"...",
	    ".a", "a.", "..a", "a-b_c.D", "-rf", "chan.nested",
	};
	static const char *const invalid[] = {
	    "",		 ".",	 "..",	"a/b", "/x", "x/",   "a b",
	    "a\xc3\xa9", "\xff", "a\n", "a:b", "a*", "a\\b", "~",
	};
	char buf[CHAN_NAME_MAX + 2];

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		ck_assert_msg(chan_name_validate(valid[i]) == 0,
			      "\"%s\": expected valid, got %s", valid[i],
			      chan_error_name(chan_name_validate(valid[i])));
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		ck_assert_msg(chan_name_validate(invalid[i]) == -EINVAL,
			      "\"%s\": expected EINVAL, got %s", invalid[i],
			      chan_error_name(chan_name_validate(invalid[i])));
	ASSERT_RET(chan_name_validate(NULL), -EINVAL);
	ASSERT_RET(chan_name_validate(repeat(buf, 'n', CHAN_NAME_MAX)), 0);
	ASSERT_RET(chan_name_validate(repeat(buf, 'n', CHAN_NAME_MAX + 1)),
		   -EINVAL);
}
END_TEST

/* Every byte value: valid exactly when in [A-Za-z0-9._-]. */
START_TEST(name_validate_bytes)
{
	char name[3] = {'x', (char)_i, '\0'};
	bool allowed = (_i >= 'a' && _i <= 'z') || (_i >= 'A' && _i <= 'Z') ||
		       (_i >= '0' && _i <= '9') || _i == '.' || _i == '_' ||
		       _i == '-';
	int r = chan_name_validate(name);

	ck_assert_msg(r == (allowed ? 0 : -EINVAL),
		      "\"x\" + byte 0x%02x: expected %s, got %s", _i,
		      allowed ? "valid" : "EINVAL", chan_error_name(r));
}
END_TEST

START_TEST(name_create_max_length)
{
	char name[CHAN_NAME_MAX + 2];
	struct chan *ch = UNTOUCHED;
	size_t len;

	tu_name(name, sizeof(name), "");
	len = strlen(name);
	memset(name + len, 'm', CHAN_NAME_MAX - len);
	name[CHAN_NAME_MAX] = '\0';
	ch = tu_create(name, 2, 16);
	ck_assert_str_eq(chan_name(ch), name);
	chan_detach(ch);
	ASSERT_RET(chan_attach(name, &ch), 0);
	chan_detach(ch);
	ASSERT_RET(chan_remove(name), 0);

	name[CHAN_NAME_MAX] = 'm';
	name[CHAN_NAME_MAX + 1] = '\0';
	ch = UNTOUCHED;
	ASSERT_RET(chan_create(name, NULL, &ch), -EINVAL);
	ck_assert_msg(ch == UNTOUCHED, "*ret changed by a failed create");
	ck_assert_msg(!tu_path_exists(shm_path_of(name)),
		      "%s created for a name one byte too long",
		      shm_path_of(name));
}
END_TEST

/* Count the /dev/shm entries whose names contain marker. */
static size_t count_entries(const char *marker)
{
	DIR *dir = opendir("/dev/shm");
	struct dirent *entry;
	size_t found = 0;

	ck_assert_msg(dir != NULL, "opendir /dev/shm: %s", strerror(errno));
	while ((entry = readdir(dir)) != NULL) {
		if (strstr(entry->d_name, marker) != NULL)
			found++;
	}
	closedir(dir);
	return found;
}

START_TEST(name_invalid_creates_nothing)
{
	char prefix[64], names[4][PATH_MAX], pid_mark[32];
	const char *bare[] = {"", ".", ".."};
	struct chan *ch = UNTOUCHED;
	size_t before, before_tmp;
	char path[PATH_MAX];

	tu_name(prefix, sizeof(prefix), "");
	snprintf(names[0], PATH_MAX, "%sa/b", prefix);
	snprintf(names[1], PATH_MAX, "%sbad name", prefix);
	snprintf(names[2], PATH_MAX, "%s\xc3\xa9", prefix);
	snprintf(names[3], PATH_MAX, "/%s", prefix);
	snprintf(pid_mark, sizeof(pid_mark), ".chan-new-%d-", (int)getpid());
	before = count_entries(prefix);
	before_tmp = count_entries(pid_mark);

	for (int i = 0; i < 4; i++) {
		ASSERT_RET(chan_create(names[i], NULL, &ch), -EINVAL);
		tu_shm_path(path, sizeof(path), names[i]);
		ck_assert_msg(!tu_path_exists(path), "%s created", path);
	}
	for (int i = 0; i < 3; i++) {
		bool existed;

		tu_shm_path(path, sizeof(path), bare[i]);
		existed = tu_path_exists(path);
		ASSERT_RET(chan_create(bare[i], NULL, &ch), -EINVAL);
		ck_assert_msg(existed || !tu_path_exists(path), "%s created",
			      path);
	}
	ck_assert_msg(ch == UNTOUCHED, "*ret changed by a failed create");
	ASSERT_U64(count_entries(prefix), before);
	ASSERT_U64(count_entries(pid_mark), before_tmp);
}
END_TEST

static const int documented_errors[] = {
    EINVAL, EEXIST,  ENOENT, EMSGSIZE, EAGAIN,		ETIMEDOUT, EACCES,
    EPERM,  EBADMSG, ENOSPC, ENOMEM,   EPROTONOSUPPORT, EPIPE,	   EINTR,
};

START_TEST(error_names)
{
	static const char *const names[] = {
	    "EINVAL",	 "EEXIST",	    "ENOENT", "EMSGSIZE", "EAGAIN",
	    "ETIMEDOUT", "EACCES",	    "EPERM",  "EBADMSG",  "ENOSPC",
	    "ENOMEM",	 "EPROTONOSUPPORT", "EPIPE",  "EINTR",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int err = documented_errors[i];

		ck_assert_str_eq(chan_error_name(err), names[i]);
		ck_assert_str_eq(chan_error_name(-err), names[i]);
	}
	ck_assert_str_eq(chan_error_name(0), "OK");
}
END_TEST

START_TEST(error_strings)
{
	for (size_t i = 0; i < sizeof(documented_errors) / sizeof(int); i++) {
		int err = documented_errors[i];
		const char *pos = chan_strerror(err);
		const char *neg = chan_strerror(-err);

		ck_assert_msg(pos != NULL && pos[0] != '\0',
			      "chan_strerror(%s) is NULL or empty",
			      chan_error_name(err));
		ck_assert_msg(neg != NULL && strcmp(pos, neg) == 0,
			      "chan_strerror(-%s): expected \"%s\", got "
			      "\"%s\"",
			      chan_error_name(err), pos, neg ? neg : "NULL");
	}
	ck_assert_str_eq(chan_strerror(EPIPE), "channel is closed");
	ck_assert_str_eq(chan_strerror(-EPIPE), "channel is closed");
	ck_assert_str_eq(chan_strerror(ENOMEM), strerror(ENOMEM));
	ck_assert_msg(chan_strerror(0) != NULL, "chan_strerror(0) is NULL");
}
END_TEST

static const int unknown_errors[] = {4095,    -4095,   100000,
				     -100000, INT_MAX, -INT_MAX};

START_TEST(error_unknown)
{
	int err = unknown_errors[_i];
	const char *text = chan_strerror(err);
	const char *name = chan_error_name(err);

	ck_assert_msg(text != NULL && text[0] != '\0',
		      "chan_strerror(%d) is NULL or empty", err);
	ck_assert_msg(name != NULL && name[0] != '\0',
		      "chan_error_name(%d) is NULL or empty", err);
}
END_TEST

/*
 * INT_MIN has no positive counterpart: negating it to get the positive
 * code overflows, which -fsanitize=undefined reports.
 */
START_TEST(error_int_min)
{
	const char *text = chan_strerror(INT_MIN);
	const char *name = chan_error_name(INT_MIN);

	ck_assert_msg(text != NULL && text[0] != '\0',
		      "chan_strerror(INT_MIN) is NULL or empty");
	ck_assert_msg(name != NULL && name[0] != '\0',
		      "chan_error_name(INT_MIN) is NULL or empty");
}
END_TEST

/*
 * With standard output closed, open(2) hands out descriptor 1; the
 * segment must not keep it, or the program's next printf writes over the
 * channel.
 */
static int attach_without_stdout(void *arg)
{
	const char *name = arg;
	char created[CHAN_NAME_MAX + 8];
	struct chan *ch, *made;
	int r;

	close(STDOUT_FILENO);
	r = chan_attach(name, &ch);
	CHILD_EXPECT(r == 0, "attach: %s", chan_error_name(r));
	CHILD_EXPECT(fcntl(STDOUT_FILENO, F_GETFD) < 0 && errno == EBADF,
		     "attach left its segment at descriptor 1");

	snprintf(created, sizeof(created), "%s-new", name);
	r = chan_create(created, NULL, &made);
	CHILD_EXPECT(r == 0, "create: %s", chan_error_name(r));
	CHILD_EXPECT(fcntl(STDOUT_FILENO, F_GETFD) < 0 && errno == EBADF,
		     "create left its segment at descriptor 1");
	chan_detach(made);
	chan_remove(created);
	chan_detach(ch);
	return 0;
}

START_TEST(attach_stdio_closed)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch;

	tu_name(name, sizeof(name), "stdio");
	ch = tu_create(name, 4, 16);
	ASSERT_CHILD_OK(tu_spawn(attach_without_stdout, name));
	chan_detach(ch);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");

	tcase_add_checked_fixture(tc, NULL, tu_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, params_init_defaults);
	tcase_add_test(tc, create_defaults);
	tcase_add_test(tc, create_zero_params);
	tcase_add_test(tc, create_invalid_args);
	tcase_add_test(tc, create_exists);
	tcase_add_test(tc, create_exist_ok_attaches);
	tcase_add_test(tc, create_exist_ok_geometry);
	tcase_add_test(tc, create_exist_ok_new);
	tcase_add_test(tc, create_nospc);
	tcase_add_loop_test(tc, create_mode_umask, 0, 8);
	tcase_add_test(tc, create_owner);
	tcase_add_test(tc, create_chown_eperm);
	tcase_add_test(tc, attach_errors);
	tcase_add_test(tc, attach_shares_messages);
	tcase_add_test(tc, attach_eacces);
	tcase_add_test(tc, attach_foreign_file);
	tcase_add_test(tc, attach_truncated);
	tcase_add_test(tc, attach_symlink);
	tcase_add_test(tc, attach_directory);
	tcase_add_test(tc, attach_stdio_closed);
	tcase_add_loop_test(tc, attach_bad_header, 0, HEADER_FAULTS);
	tcase_add_test(tc, remove_errors);
	tcase_add_test(tc, call_invalid_args);
	tcase_add_test(tc, info_creator_closed);
	tcase_add_test(tc, list_sorted);
	tcase_add_test(tc, list_skips_foreign);
	tcase_add_test(tc, name_validate_cases);
	tcase_add_loop_test(tc, name_validate_bytes, 1, 256);
	tcase_add_test(tc, name_create_max_length);
	tcase_add_test(tc, name_invalid_creates_nothing);
	tcase_add_test(tc, error_names);
	tcase_add_test(tc, error_strings);
	tcase_add_loop_test(tc, error_unknown, 0,
			    sizeof(unknown_errors) / sizeof(int));
	tcase_add_test(tc, error_int_min);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	tu_init();
	sr = srunner_create(api_suite());

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
