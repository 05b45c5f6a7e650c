/* SPDX-License-Identifier: MIT */
/*
 * Segments in unexpected states: creators racing, stopped or killed
 * mid-create, segments left behind or removed under attached processes,
 * and hostile or corrupt files and contents.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash_util.h"

#define SEC_NS	    UINT64_C(1000000000)
#define MS_NS	    UINT64_C(1000000)
#define RACERS	    20
#define STOP_ROUNDS 100
#define EXIT_EXISTS 1 /* a creator found the name taken */
#define EXIT_NOENT  3 /* an opener found no channel */

/*
 * Count the files of the private directory that the creation of name can
 * leave: its segment and temporary files.  Sets *found if the segment is
 * there.
 */
static unsigned dir_entries(const char *name, bool *found)
{
	char file[256];
	struct dirent *e;
	unsigned n = 0;
	DIR *dir;

	snprintf(file, sizeof(file), CHAN_SHM_PREFIX "%s", name);
	*found = false;
	dir = opendir(crash_dir());
	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, file) == 0) {
			*found = true;
			n++;
		} else if (strncmp(e->d_name, ".chan-new", 9) == 0) {
			n++;
		}
	}
	closedir(dir);
	return n;
}

static void assert_status_ok(int status, const char *what)
{
	char text[128];

	ck_assert_msg(crash_exited_ok(status), "%s %s", what,
		      crash_status_str(status, text, sizeof(text)));
}

struct racer {
	const char *name;
	uint32_t flags;
	uint32_t writer;
	int start_fd;
	int start_write_fd; /* closed by each racer, so that EOF arrives */
	bool send;	    /* creators send too, when they get a handle */
};

/* Block on a pipe until the parent closes it: a start line for racers. */
static void wait_start(const struct racer *a)
{
	char byte;

	close(a->start_write_fd);
	while (read(a->start_fd, &byte, 1) < 0 && errno == EINTR)
		;
}

static int send_record(struct chan *ch, uint32_t writer)
{
	uint8_t buf[64];

	crash_msg_build(buf, sizeof(buf), writer, 0);
	return chan_send_timeout(ch, buf, sizeof(buf), 2 * SEC_NS);
}

static int race_create(void *arg)
{
	const struct racer *a = arg;
	struct chan_params p;
	struct chan *ch;
	int r;

	chan_params_init(&p);
	p.capacity = 64;
	p.max_msg_size = 256;
	p.flags = a->flags;
	wait_start(a);
	r = chan_create(a->name, &p, &ch);
	if (r == -EEXIST)
		return EXIT_EXISTS;
	if (r < 0)
		return crash_exit_code(r);
	if (a->send)
		r = send_record(ch, a->writer);
	chan_detach(ch);
	return r < 0 ? crash_exit_code(r) : 0;
}

/* Attach until the channel exists, then send one message. */
static int race_send(void *arg)
{
	const struct racer *a = arg;
	uint64_t deadline;
	struct chan *ch;
	int r;

	wait_start(a);
	deadline = crash_now_ns() + 5 * SEC_NS;
	while ((r = chan_attach(a->name, &ch)) == -ENOENT &&
	       crash_now_ns() < deadline)
		crash_sleep_us(100);
	if (r < 0)
		return crash_exit_code(r);
	r = send_record(ch, a->writer);
	chan_detach(ch);
	return r < 0 ? crash_exit_code(r) : 0;
}

/* Take every queued message and check writers first..first+count-1. */
static void expect_writers(struct chan *ch, uint32_t first, unsigned count)
{
	uint64_t recs[RACERS * 2];
	uint8_t buf[256];
	uint32_t writer;
	uint64_t seq;
	unsigned n = 0;
	size_t len;

	while (chan_try_recv(ch, buf, sizeof(buf), &len) == 0) {
		ck_assert_uint_lt(n, RACERS * 2);
		ck_assert_int_eq(crash_msg_check(buf, len, &writer, &seq), 0);
		recs[n++] = writer;
	}
	ck_assert_uint_eq(n, count);
	ck_assert_uint_eq(crash_sort_count_dups(recs, n), 0);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(recs[i], first + i);
}

/*
 * Twenty creators and twenty senders start together.  Without
 * CHAN_EXIST_OK exactly one creator wins; with it, all share one channel.
 */
START_TEST(segment_racing_creators)
{
	const bool exist_ok = _i == 1;
	unsigned created = 0, existed = 0;
	pid_t creators[RACERS], senders[RACERS];
	struct racer a = {0};
	struct chan_info info;
	char name[64], text[128];
	struct chan *ch;
	int start[2];
	bool found;

	crash_name(name, sizeof(name), "race");
	ck_assert_int_eq(pipe(start), 0);
	a.name = name;
	a.flags = exist_ok ? CHAN_EXIST_OK : 0;
	a.start_fd = start[0];
	a.start_write_fd = start[1];
	a.send = exist_ok;
	for (unsigned i = 0; i < RACERS; i++) {
		a.writer = RACERS + i;
		creators[i] = crash_spawn(race_create, &a, NULL);
		a.writer = i;
		senders[i] = crash_spawn(race_send, &a, NULL);
	}
	close(start[1]);
	close(start[0]);

	for (unsigned i = 0; i < RACERS; i++) {
		int status = crash_wait(creators[i], 10000);

		if (crash_exited_ok(status))
			created++;
		else if (status >= 0 && WIFEXITED(status) &&
			 WEXITSTATUS(status) == EXIT_EXISTS)
			existed++;
		else
			ck_abort_msg(
			    "creator %u %s", i,
			    crash_status_str(status, text, sizeof(text)));
	}
	for (unsigned i = 0; i < RACERS; i++)
		assert_status_ok(crash_wait(senders[i], 10000), "sender");
	ck_assert_uint_eq(created, exist_ok ? RACERS : 1);
	ck_assert_uint_eq(existed, exist_ok ? 0 : RACERS - 1);

	ck_assert_int_eq(chan_attach(name, &ch), 0);
	ck_assert_int_eq(chan_info(ch, &info), 0);
	found = false;
	for (unsigned i = 0; i < RACERS; i++)
		found |= info.creator_pid == creators[i];
	ck_assert_msg(found, "creator pid %lld is none of the creators",
		      (long long)info.creator_pid);
	if (exist_ok) {
		/* Writers 0..19 from senders, 20..39 from creators. */
		ck_assert_uint_eq(info.depth, RACERS * 2);
	}
	expect_writers(ch, 0, exist_ok ? RACERS * 2 : RACERS);
	chan_detach(ch);
	ck_assert_uint_eq(dir_entries(name, &found), 1);
	ck_assert(found);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

static int create_big(void *arg)
{
	const char *name = arg;
	struct chan_params p;
	struct chan *ch;
	int r;

	chan_params_init(&p);
	p.capacity = 256;
	p.max_msg_size = 4096;
	r = chan_create(name, &p, &ch);
	if (r == -EEXIST)
		return EXIT_EXISTS;
	if (r < 0)
		return crash_exit_code(r);
	chan_detach(ch);
	return 0;
}

/*
 * Attach, or create with CHAN_EXIST_OK on odd rounds, and send one
 * message: a half-built segment would fail the geometry check or the send.
 */
static int open_and_send(void *arg)
{
	const struct racer *a = arg;
	struct chan_params p;
	struct chan_info info;
	struct chan *ch;
	int r;

	chan_params_init(&p);
	p.capacity = 256;
	p.max_msg_size = 4096;
	p.flags = CHAN_EXIST_OK;
	if (a->writer % 2)
		r = chan_create(a->name, &p, &ch);
	else
		r = chan_attach(a->name, &ch);
	if (r == -ENOENT)
		return EXIT_NOENT;
	if (r < 0)
		return crash_exit_code(r);
	r = chan_info(ch, &info);
	if (r < 0)
		return crash_exit_code(r);
	if (info.capacity != 256 || info.max_msg_size != 4096 || info.depth)
		return 4;
	r = send_record(ch, a->writer);
	chan_detach(ch);
	return r < 0 ? crash_exit_code(r) : 0;
}

/*
 * A creator stopped at a random moment of chan_create while another
 * process opens the name: the opener finds no channel or a complete one,
 * and the segment that ends up named is the one the opener used.
 */
START_TEST(segment_stopped_creator)
{
	for (unsigned round = 0; round < STOP_ROUNDS; round++) {
		struct racer a = {.writer = round};
		char name[64], text[128];
		int status, opener_status;
		struct chan *ch;
		pid_t creator;
		bool found, opened, stopped;

		crash_name(name, sizeof(name), "stopped");
		a.name = name;
		creator = crash_spawn(create_big, name, NULL);
		crash_sleep_us(round * 37 % 800);
		kill(creator, SIGSTOP);
		ck_assert_int_eq(waitpid(creator, &status, WUNTRACED), creator);
		stopped = WIFSTOPPED(status);

		opener_status =
		    crash_wait(crash_spawn(open_and_send, &a, NULL), 10000);
		opened = crash_exited_ok(opener_status);
		ck_assert_msg(
		    opened || (WIFEXITED(opener_status) &&
			       WEXITSTATUS(opener_status) == EXIT_NOENT),
		    "round %u: opener %s", round,
		    crash_status_str(opener_status, text, sizeof(text)));

		/* The creator may have finished before the stop. */
		if (stopped) {
			kill(creator, SIGCONT);
			status = crash_wait(creator, 10000);
		}
		ck_assert_msg(crash_exited_ok(status) ||
				  (status >= 0 && WIFEXITED(status) &&
				   WEXITSTATUS(status) == EXIT_EXISTS),
			      "round %u: creator %s", round,
			      crash_status_str(status, text, sizeof(text)));

		/* The named segment is complete and contains what was sent. */
		ck_assert_int_eq(chan_attach(name, &ch), 0);
		if (opened)
			expect_writers(ch, round, 1);
		else
			expect_writers(ch, 0, 0);
		chan_detach(ch);
		ck_assert_uint_eq(dir_entries(name, &found), 1);
		ck_assert(found);
		ck_assert_int_eq(chan_remove(name), 0);
	}
}
END_TEST

/*
 * A creator killed at a random moment leaves no file, or a complete
 * channel, and never a stray temporary file.
 */
START_TEST(segment_killed_creator)
{
	unsigned complete = 0;

	for (unsigned round = 0; round < STOP_ROUNDS; round++) {
		struct chan_info info;
		char name[64];
		struct chan *ch;
		unsigned entries;
		pid_t creator;
		bool found;
		int r;

		crash_name(name, sizeof(name), "killed");
		creator = crash_spawn(create_big, name, NULL);
		crash_sleep_us(round * 37 % 800);
		kill(creator, SIGKILL);
		ck_assert_int_ge(crash_wait(creator, 10000), 0);

		entries = dir_entries(name, &found);
		ck_assert_uint_eq(entries, found ? 1 : 0);
		r = chan_attach(name, &ch);
		ck_assert_int_eq(r, found ? 0 : -ENOENT);
		if (r < 0)
			continue;
		ck_assert_int_eq(chan_info(ch, &info), 0);
		ck_assert_uint_eq(info.capacity, 256);
		ck_assert_int_eq(send_record(ch, 1), 0);
		chan_detach(ch);
		ck_assert_int_eq(chan_remove(name), 0);
		complete++;
	}
	fprintf(stderr, "killed creator: %u of %u left a channel\n", complete,
		STOP_ROUNDS);
}
END_TEST

static int create_send_die(void *arg)
{
	const char *name = arg;
	struct chan *ch = crash_create(name, 8, 128);

	if (ch == NULL)
		return 2;
	for (uint32_t writer = 0; writer < 3; writer++)
		if (send_record(ch, writer) < 0)
			return 3;
	raise(SIGKILL);
	return 4;
}

/*
 * A creator killed after sending leaves its channel: the same geometry
 * reuses it with the messages intact, another geometry gets -EEXIST.
 */
START_TEST(segment_leftover_reuse)
{
	struct chan_params p;
	struct chan_info info;
	char name[64], text[128];
	struct chan *ch, *other;
	int status;

	crash_name(name, sizeof(name), "leftover");
	status = crash_wait(crash_spawn(create_send_die, name, NULL), 10000);
	ck_assert_msg(crash_killed_by(status, SIGKILL), "creator %s",
		      crash_status_str(status, text, sizeof(text)));

	chan_params_init(&p);
	p.capacity = 8;
	p.max_msg_size = 128;
	p.flags = CHAN_EXIST_OK;
	ck_assert_int_eq(chan_create(name, &p, &ch), 0);
	ck_assert_int_eq(chan_info(ch, &info), 0);
	ck_assert_uint_eq(info.depth, 3);
	ck_assert_uint_eq(info.recoveries, 0);

	p.capacity = 16;
	ck_assert_int_eq(chan_create(name, &p, &other), -EEXIST);
	p.capacity = 8;
	p.max_msg_size = 256;
	ck_assert_int_eq(chan_create(name, &p, &other), -EEXIST);
	p.flags = 0;
	p.max_msg_size = 128;
	ck_assert_int_eq(chan_create(name, &p, &other), -EEXIST);

	expect_writers(ch, 0, 3);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
	ck_assert_int_eq(chan_attach(name, &ch), -ENOENT);
}
END_TEST

struct late_sender {
	const char *name;
	int go_fd;
};

/* Attach, stop until SIGCONT, then send, receive and send again. */
static int send_after_go(void *arg)
{
	const struct late_sender *a = arg;
	uint8_t buf[256];
	struct chan *ch;
	size_t len;
	int r;

	r = chan_attach(a->name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	raise(SIGSTOP);
	r = send_record(ch, 9);
	if (r < 0)
		return crash_exit_code(r);
	r = chan_try_recv(ch, buf, sizeof(buf), &len);
	if (r < 0)
		return crash_exit_code(r);
	r = send_record(ch, 10);
	chan_detach(ch);
	return r < 0 ? crash_exit_code(r) : 0;
}

/*
 * The name goes (chan_remove, or an unlink from outside) while a process
 * is attached: it keeps working on its mapping, new attaches fail, and no
 * call creates a new segment under the name.
 */
START_TEST(segment_vanished)
{
	struct late_sender a = {0};
	char name[64], path[512];
	struct chan *ch, *again;
	uint8_t buf[256] = {0};
	struct stat st;
	pid_t pid;
	int status;

	crash_name(name, sizeof(name), "vanish");
	ch = crash_create(name, 4, 256);
	ck_assert_ptr_nonnull(ch);
	a.name = name;
	pid = crash_spawn(send_after_go, &a, NULL);
	ck_assert_int_eq(waitpid(pid, &status, WUNTRACED), pid);
	ck_assert(WIFSTOPPED(status));

	crash_path(path, sizeof(path), name);
	if (_i == 0)
		ck_assert_int_eq(chan_remove(name), 0);
	else
		ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(chan_attach(name, &again), -ENOENT);

	kill(pid, SIGCONT);
	assert_status_ok(crash_wait(pid, 10000), "attached sender");
	expect_writers(ch, 10, 1);
	ck_assert_int_eq(chan_try_send(ch, buf, 64), 0);

	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(chan_attach(name, &again), -ENOENT);
	ck_assert_int_eq(chan_remove(name), -ENOENT);
	chan_detach(ch);
}
END_TEST

/* A valid segment's bytes, to corrupt one field at a time. */
static uint8_t *template_segment(size_t *ret_size)
{
	char name[64], path[512];
	struct chan *ch;
	struct stat st;
	uint8_t *bytes;
	int fd;

	crash_name(name, sizeof(name), "template");
	ch = crash_create(name, 2, 64);
	ck_assert_ptr_nonnull(ch);
	crash_path(path, sizeof(path), name);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	bytes = malloc((size_t)st.st_size);
	ck_assert_int_eq(read(fd, bytes, (size_t)st.st_size), st.st_size);
	close(fd);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
	*ret_size = (size_t)st.st_size;
	return bytes;
}

enum hostile_kind {
	HOSTILE_VALID,
	HOSTILE_MAGIC,
	HOSTILE_VERSION_NEWER,
	HOSTILE_VERSION_ZERO,
	HOSTILE_ABI,
	HOSTILE_HEADER_SIZE,
	HOSTILE_CAPACITY,
	HOSTILE_CAPACITY_ZERO,
	HOSTILE_MSG_SIZE_HUGE,
	HOSTILE_SLOT_SIZE,
	HOSTILE_SEGMENT_SIZE,
	HOSTILE_TRUNCATED,
	HOSTILE_EXTENDED,
	HOSTILE_EMPTY,
	HOSTILE_HEADER_ONLY,
	HOSTILE_SHORT,
	HOSTILE_SYMLINK,
	HOSTILE_FIFO,
	HOSTILE_CHAR_DEVICE,
	HOSTILE_DIRECTORY,
	HOSTILE_COUNT,
};

static const struct {
	const char *what;
	int expected;
} hostile_cases[HOSTILE_COUNT] = {
    [HOSTILE_VALID] = {"valid segment", 0},
    [HOSTILE_MAGIC] = {"wrong magic", -EBADMSG},
    [HOSTILE_VERSION_NEWER] = {"newer version", -EPROTONOSUPPORT},
    [HOSTILE_VERSION_ZERO] = {"version 0", -EBADMSG},
    [HOSTILE_ABI] = {"another ABI", -EPROTONOSUPPORT},
    [HOSTILE_HEADER_SIZE] = {"wrong header size", -EBADMSG},
    [HOSTILE_CAPACITY] = {"capacity beyond the size", -EBADMSG},
    [HOSTILE_CAPACITY_ZERO] = {"capacity 0", -EBADMSG},
    [HOSTILE_MSG_SIZE_HUGE] = {"max_msg_size 2^40", -EBADMSG},
    [HOSTILE_SLOT_SIZE] = {"wrong slot size", -EBADMSG},
    [HOSTILE_SEGMENT_SIZE] = {"wrong segment size", -EBADMSG},
    [HOSTILE_TRUNCATED] = {"truncated file", -EBADMSG},
    [HOSTILE_EXTENDED] = {"extended file", -EBADMSG},
    [HOSTILE_EMPTY] = {"empty file", -EBADMSG},
    [HOSTILE_HEADER_ONLY] = {"header without slots", -EBADMSG},
    [HOSTILE_SHORT] = {"100-byte file", -EBADMSG},
    [HOSTILE_SYMLINK] = {"symbolic link to a segment", -EBADMSG},
    [HOSTILE_FIFO] = {"FIFO", -EBADMSG},
    [HOSTILE_DIRECTORY] = {"directory", -EBADMSG},
    [HOSTILE_CHAR_DEVICE] = {"character device", -EBADMSG},
};

static void write_file(const char *path, const void *bytes, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, bytes, size), (ssize_t)size);
	close(fd);
}

/* Place the hostile object of kind at path. */
static void make_hostile(enum hostile_kind kind, const char *path,
			 const char *name)
{
	size_t size, write_size;
	uint8_t *bytes = template_segment(&size);
	struct chan_seg *h = (struct chan_seg *)bytes;
	char target[600];

	write_size = size;
	switch (kind) {
	case HOSTILE_MAGIC:
		h->magic ^= 1;
		break;
	case HOSTILE_VERSION_NEWER:
		h->version = CHAN_SEG_VERSION + 1;
		break;
	case HOSTILE_VERSION_ZERO:
		h->version = 0;
		break;
	case HOSTILE_ABI:
		h->abi ^= 0x080000; /* 4-byte pointers */
		break;
	case HOSTILE_HEADER_SIZE:
		h->header_size = CHAN_SEG_HEADER_SIZE * 2;
		break;
	case HOSTILE_CAPACITY:
		h->capacity = 3;
		break;
	case HOSTILE_CAPACITY_ZERO:
		h->capacity = 0;
		break;
	case HOSTILE_MSG_SIZE_HUGE:
		h->max_msg_size = UINT64_C(1) << 40;
		break;
	case HOSTILE_SLOT_SIZE:
		h->slot_size += 64;
		break;
	case HOSTILE_SEGMENT_SIZE:
		h->segment_size += 4096;
		break;
	case HOSTILE_TRUNCATED:
		write_size = size - 64;
		break;
	case HOSTILE_EXTENDED:
		bytes = realloc(bytes, size + 4096);
		memset(bytes + size, 0, 4096);
		write_size = size + 4096;
		break;
	case HOSTILE_EMPTY:
		write_size = 0;
		break;
	case HOSTILE_HEADER_ONLY:
		write_size = CHAN_SEG_HEADER_SIZE;
		break;
	case HOSTILE_SHORT:
		write_size = 100;
		break;
	default:
		break;
	}

	switch (kind) {
	case HOSTILE_SYMLINK:
		snprintf(target, sizeof(target), "%s.target", path);
		write_file(target, bytes, size);
		ck_assert_int_eq(symlink(target, path), 0);
		break;
	case HOSTILE_FIFO:
		ck_assert_int_eq(mkfifo(path, 0600), 0);
		break;
	case HOSTILE_DIRECTORY:
		ck_assert_int_eq(mkdir(path, 0700), 0);
		break;
	case HOSTILE_CHAR_DEVICE:
		/* The same device as /dev/null: reads nothing, harms nothing.
		 */
		ck_assert_int_eq(mknod(path, S_IFCHR | 0600, makedev(1, 3)), 0);
		break;
	default:
		write_file(path, bytes, write_size);
		break;
	}
	(void)name;
	free(bytes);
}

/* Attach in a child, so that a crash shows as a signal, not a lost test. */
static int attach_result(void *arg)
{
	const char *name = arg;
	struct chan_params p;
	struct chan *ch;
	int r;

	r = chan_attach(name, &ch);
	if (r == 0) {
		uint8_t buf[64];
		size_t len;

		/* A valid segment must also carry messages. */
		if (chan_try_send(ch, buf, sizeof(buf)) != 0 ||
		    chan_try_recv(ch, buf, sizeof(buf), &len) != 0)
			return 250;
		chan_detach(ch);
	}

	/* chan_create with CHAN_EXIST_OK validates the same way. */
	chan_params_init(&p);
	p.capacity = 2;
	p.max_msg_size = 64;
	p.flags = CHAN_EXIST_OK;
	if (chan_create(name, &p, &ch) == 0)
		chan_detach(ch);
	else if (chan_create(name, &p, &ch) != r)
		return 251;
	return -r;
}

static void check_hostile(enum hostile_kind kind)
{
	char name[64], path[512], text[128];
	int status;

	crash_name(name, sizeof(name), "hostile");
	crash_path(path, sizeof(path), name);
	make_hostile(kind, path, name);

	status = crash_wait(crash_spawn(attach_result, name, NULL), 10000);
	ck_assert_msg(status >= 0 && WIFEXITED(status), "%s: attach %s",
		      hostile_cases[kind].what,
		      crash_status_str(status, text, sizeof(text)));
	ck_assert_msg(WEXITSTATUS(status) != 250,
		      "%s: attached, but cannot send and receive",
		      hostile_cases[kind].what);
	ck_assert_msg(WEXITSTATUS(status) != 251,
		      "%s: chan_create with CHAN_EXIST_OK disagrees with "
		      "chan_attach",
		      hostile_cases[kind].what);
	ck_assert_msg(-WEXITSTATUS(status) == hostile_cases[kind].expected,
		      "%s: chan_attach returned %s, expected %s",
		      hostile_cases[kind].what,
		      chan_error_name(-WEXITSTATUS(status)),
		      chan_error_name(hostile_cases[kind].expected));
}

START_TEST(segment_hostile_file)
{
	check_hostile((enum hostile_kind)_i);
}
END_TEST

/* Rewrites of a live segment by a hostile or broken peer. */
enum garbage_kind {
	GARBAGE_TAIL_AHEAD,
	GARBAGE_HEAD_AHEAD,
	GARBAGE_INDICES_WRAP,
	GARBAGE_LEN_HUGE,
	GARBAGE_LEN_MAX,
	GARBAGE_LEN_OVER,
	GARBAGE_GEOMETRY,
	GARBAGE_CLOSED,
	GARBAGE_WAITERS,
	GARBAGE_MUTEX,
	GARBAGE_COUNT,
};

static const char *const garbage_names[GARBAGE_COUNT] = {
    "tail - head > capacity",
    "head > tail",
    "indices about to wrap",
    "slot length 2^32-1",
    "slot length = max_msg_size, payload garbage",
    "slot length max_msg_size + 1",
    "header geometry rewritten",
    "closed flag garbage",
    "waiter counts and futex words garbage",
    "mutex bytes garbage",
};

#define GARBAGE_CAPACITY 4
#define GARBAGE_MSG	 64

static void write_garbage(struct chan_seg *seg, enum garbage_kind kind)
{
	uint8_t *slots = (uint8_t *)seg + CHAN_SEG_HEADER_SIZE;
	uint64_t head = seg->head, slot_size = seg->slot_size;
	pthread_mutex_t *mutexes[2];
	struct chan_slot *slot =
	    (struct chan_slot *)(slots + head % GARBAGE_CAPACITY * slot_size);

	switch (kind) {
	case GARBAGE_TAIL_AHEAD:
		seg->tail = seg->head + 1000;
		break;
	case GARBAGE_HEAD_AHEAD:
		seg->head = seg->tail + 1;
		break;
	case GARBAGE_INDICES_WRAP:
		seg->head = UINT64_MAX - 1;
		seg->tail = 1;
		break;
	case GARBAGE_LEN_HUGE:
		slot->len = UINT32_MAX;
		break;
	case GARBAGE_LEN_MAX:
		slot->len = GARBAGE_MSG;
		memset(slot + 1, 0xa5, GARBAGE_MSG);
		break;
	case GARBAGE_LEN_OVER:
		slot->len = GARBAGE_MSG + 1;
		break;
	case GARBAGE_GEOMETRY:
		seg->capacity = UINT64_C(1) << 40;
		seg->slot_size = UINT64_C(1) << 40;
		seg->max_msg_size = UINT64_C(1) << 30;
		seg->segment_size = 1;
		break;
	case GARBAGE_CLOSED:
		seg->closed = 0xdeadbeef;
		break;
	case GARBAGE_WAITERS:
		seg->recv_waiters = UINT32_MAX;
		seg->send_waiters = UINT32_MAX;
		seg->data_seq = 0x12345678;
		seg->space_seq = 0x9abcdef0;
		break;
	case GARBAGE_MUTEX:
		for (size_t i = 0; i < crash_seg_mutexes(seg, mutexes); i++)
			memset(mutexes[i], 0xff, sizeof(*mutexes[i]));
		break;
	default:
		break;
	}
}

static bool allowed(int r)
{
	return r == 0 || r == -EBADMSG || r == -EAGAIN || r == -ETIMEDOUT ||
	       r == -EPIPE || r == -EMSGSIZE;
}

/*
 * Attached before the garbage lands, then every call: each must return
 * a documented result within its timeout.
 */
static int use_after_garbage(void *arg)
{
	const char *name = arg;
	uint8_t buf[GARBAGE_MSG * 2];
	struct chan_info info;
	struct chan *ch;
	size_t len;
	int r;

	r = chan_attach(name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	raise(SIGSTOP);

	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < 8; i++) {
		r = chan_try_recv(ch, buf, sizeof(buf), &len);
		if (!allowed(r))
			return crash_exit_code(r);
		if (r == 0 && len > GARBAGE_MSG)
			return 5;
		r = chan_try_send(ch, buf, GARBAGE_MSG);
		if (!allowed(r))
			return crash_exit_code(r);
	}
	r = chan_send_timeout(ch, buf, GARBAGE_MSG, 100 * MS_NS);
	if (!allowed(r))
		return crash_exit_code(r);
	r = chan_recv_timeout(ch, buf, sizeof(buf), &len, 100 * MS_NS);
	if (!allowed(r))
		return crash_exit_code(r);
	r = chan_info(ch, &info);
	if (r < 0)
		return crash_exit_code(r);
	if (info.depth > info.capacity || info.capacity != GARBAGE_CAPACITY)
		return 6;
	r = chan_close(ch);
	if (!allowed(r))
		return crash_exit_code(r);
	chan_detach(ch);
	return 0;
}

static int corrupt_segment(void *arg)
{
	const struct racer *a = arg;
	struct chan_seg *seg;
	size_t size;

	seg = crash_seg_map(a->name, &size);
	if (seg == NULL)
		return 2;
	write_garbage(seg, (enum garbage_kind)a->writer);
	crash_seg_unmap(seg, size);
	return 0;
}

START_TEST(segment_garbage_live)
{
	const enum garbage_kind kind = (enum garbage_kind)_i;
	struct racer a = {.writer = kind};
	char name[64], text[128];
	struct chan *ch;
	int status;
	pid_t victim;

	crash_name(name, sizeof(name), "garbage");
	ch = crash_create(name, GARBAGE_CAPACITY, GARBAGE_MSG);
	ck_assert_ptr_nonnull(ch);
	for (uint32_t writer = 0; writer < 2; writer++) {
		uint8_t buf[GARBAGE_MSG];

		crash_msg_build(buf, sizeof(buf), writer, 0);
		ck_assert_int_eq(chan_try_send(ch, buf, sizeof(buf)), 0);
	}
	a.name = name;

	victim = crash_spawn(use_after_garbage, name, NULL);
	ck_assert_int_eq(waitpid(victim, &status, WUNTRACED), victim);
	ck_assert(WIFSTOPPED(status));
	assert_status_ok(
	    crash_wait(crash_spawn(corrupt_segment, &a, NULL), 5000),
	    "corrupter");
	kill(victim, SIGCONT);
	status = crash_wait(victim, 10000);
	ck_assert_msg(crash_exited_ok(status), "%s: victim %s",
		      garbage_names[kind],
		      crash_status_str(status, text, sizeof(text)));
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

static int truncate_file(void *arg)
{
	char path[512];

	crash_path(path, sizeof(path), arg);
	return truncate(path, CHAN_SEG_HEADER_SIZE) < 0 ? 2 : 0;
}

static int use_after_truncate(void *arg)
{
	const char *name = arg;
	static uint8_t buf[4096];
	struct chan *ch;
	size_t len;
	int r;

	r = chan_attach(name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	raise(SIGSTOP);
	r = chan_try_send(ch, buf, sizeof(buf));
	if (!allowed(r))
		return crash_exit_code(r);
	r = chan_try_recv(ch, buf, sizeof(buf), &len);
	if (!allowed(r))
		return crash_exit_code(r);
	chan_detach(ch);
	return 0;
}

/*
 * Another process truncates the segment file while we are attached, so
 * the mapping reaches past the end of the file.  Touching those pages
 * raises SIGBUS; the library must catch it and return an error.
 */
START_TEST(segment_truncated_live)
{
	char name[64], text[128];
	struct chan *ch;
	uint8_t buf[64] = {0};
	int status;
	pid_t victim;

	crash_name(name, sizeof(name), "truncated");
	ch = crash_create(name, 4, 4096);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(chan_try_send(ch, buf, sizeof(buf)), 0);

	victim = crash_spawn(use_after_truncate, name, NULL);
	ck_assert_int_eq(waitpid(victim, &status, WUNTRACED), victim);
	assert_status_ok(
	    crash_wait(crash_spawn(truncate_file, name, NULL), 5000),
	    "truncate");
	kill(victim, SIGCONT);
	status = crash_wait(victim, 10000);
	chan_detach(ch);
	chan_remove(name);
	ck_assert_msg(!(status >= 0 && WIFSIGNALED(status)),
		      "attached process %s after the file was truncated",
		      crash_status_str(status, text, sizeof(text)));
	ck_assert_msg(crash_exited_ok(status), "attached process %s",
		      crash_status_str(status, text, sizeof(text)));
}
END_TEST

/*
 * On glibc PTHREAD_MUTEX_ROBUST is an enum constant, not a macro, so an
 * #ifdef on it is always false and silently drops robustness.
 */
START_TEST(segment_robust_not_ifdef)
{
	static const char *const bad[] = {
	    "#ifdef PTHREAD_MUTEX_ROBUST",
	    "#ifndef PTHREAD_MUTEX_ROBUST",
	    "defined(PTHREAD_MUTEX_ROBUST)",
	    "defined PTHREAD_MUTEX_ROBUST",
	};
	const char *dir_path = CHAN_SOURCE_DIR "/lib";
	bool used = false;
	struct dirent *e;
	DIR *dir;

	dir = opendir(dir_path);
	ck_assert_msg(dir != NULL, "cannot open %s", dir_path);
	while ((e = readdir(dir)) != NULL) {
		size_t n = strlen(e->d_name);
		char path[512], *text;
		FILE *f;
		long size;

		if (n < 2 || (strcmp(e->d_name + n - 2, ".c") != 0 &&
			      strcmp(e->d_name + n - 2, ".h") != 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		rewind(f);
		text = calloc(1, (size_t)size + 1);
		ck_assert_uint_eq(fread(text, 1, (size_t)size, f),
				  (size_t)size);
		fclose(f);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ck_assert_msg(strstr(text, bad[i]) == NULL,
				      "%s tests PTHREAD_MUTEX_ROBUST with the "
				      "preprocessor: \"%s\"",
				      path, bad[i]);
		used |= strstr(text, "PTHREAD_MUTEX_ROBUST") != NULL;
		free(text);
	}
	closedir(dir);
	ck_assert_msg(used, "no file in %s uses PTHREAD_MUTEX_ROBUST",
		      dir_path);
}
END_TEST

static Suite *segment_suite(void)
{
	Suite *s = suite_create("crash_segment");
	TCase *tc = tcase_create("segment");

	tcase_add_unchecked_fixture(tc, crash_dir_setup, crash_dir_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, segment_racing_creators, 0, 2);
	tcase_add_test(tc, segment_stopped_creator);
	tcase_add_test(tc, segment_killed_creator);
	tcase_add_test(tc, segment_leftover_reuse);
	tcase_add_loop_test(tc, segment_vanished, 0, 2);
	tcase_add_loop_test(tc, segment_hostile_file, 0, HOSTILE_COUNT);
	tcase_add_loop_test(tc, segment_garbage_live, 0, GARBAGE_COUNT);
	tcase_add_test(tc, segment_robust_not_ifdef);
	tcase_add_test(tc, segment_truncated_live);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(segment_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
