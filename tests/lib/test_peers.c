/* SPDX-License-Identifier: MIT */
/*
 * Tests of attachments: chan_open() with roles and read-only access,
 * chan_open_owned(), chan_peers(), and channels created with
 * CHAN_TRACK_PEERS, which end when every peer of one side is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "segment.h"
#include "testutil.h"

/* The user tests switch to in order to have other permissions. */
#define OTHER_UID 65534
#define OTHER_GID 65534

/* A pointer value that no call may store, to detect stray writes. */
#define UNTOUCHED ((struct chan *)0x1)

struct peer_args {
	char name[CHAN_NAME_MAX + 1];
	uint32_t flags;
	int ready[2]; /* the child writes one byte once it is attached */
};

static struct chan *create_flags(const char *name, uint32_t flags,
				 uint32_t roles, uint32_t mode)
{
	struct chan_params p;
	struct chan *ch = NULL;
	int r;

	chan_params_init(&p);
	p.capacity = 4;
	p.max_msg_size = 32;
	p.flags = flags;
	p.roles = roles;
	p.mode = mode;
	r = chan_create(name, &p, &ch);
	ck_assert_msg(r == 0, "chan_create(%s): expected OK, got %s", name,
		      chan_error_name(r));
	return ch;
}

static struct chan *open_child(const char *name, uint32_t flags)
{
	struct chan *ch = NULL;
	int r = chan_open(name, flags, &ch);

	if (r < 0)
		tu_child_fail(__FILE__, __LINE__, "chan_open(%s, %#x): %s",
			      name, flags, chan_error_name(r));
	return ch;
}

/* Attach with a->flags, report it, and stay until killed. */
static int attached_child(void *arg)
{
	struct peer_args *a = arg;
	struct chan *ch = open_child(a->name, a->flags);
	char byte = 'A';

	if (ch == NULL)
		return 1;
	CHILD_EXPECT(write(a->ready[1], &byte, 1) == 1, "write: %s",
		     strerror(errno));
	for (;;)
		pause();
}

static pid_t spawn_attached(struct peer_args *a)
{
	char byte;
	pid_t pid;

	ck_assert_msg(pipe(a->ready) == 0, "pipe: %s", strerror(errno));
	pid = tu_spawn(attached_child, a);
	ck_assert_msg(read(a->ready[0], &byte, 1) == 1,
		      "child %d did not attach", (int)pid);
	close(a->ready[0]);
	close(a->ready[1]);
	return pid;
}

static void kill_child(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	status = tu_wait(pid, TU_HANG_SEC);
	ck_assert_msg(status == 128 + SIGKILL,
		      "child %d: expected death by SIGKILL, got %s", (int)pid,
		      tu_status_text(status));
}

START_TEST(open_errors)
{
	char name[CHAN_NAME_MAX + 1], missing[CHAN_NAME_MAX + 1];
	struct chan_params p;
	struct chan *ch, *other = UNTOUCHED;

	tu_name(name, sizeof(name), "open");
	tu_name(missing, sizeof(missing), "missing");
	ch = tu_create(name, 4, 32);

	ASSERT_RET(chan_open(name, 1u << 31, &other), -EINVAL);
	ASSERT_RET(chan_open(name, CHAN_READ_ONLY | CHAN_SENDER, &other),
		   -EINVAL);
	ASSERT_RET(chan_open(name, CHAN_READ_ONLY | CHAN_RECEIVER, &other),
		   -EINVAL);
	ASSERT_RET(chan_open("a/b", CHAN_SENDER, &other), -EINVAL);
	ASSERT_RET(chan_open(NULL, CHAN_SENDER, &other), -EINVAL);
	ASSERT_RET(chan_open(missing, CHAN_SENDER, &other), -ENOENT);
	ASSERT_RET(chan_open_owned(missing, 0, (uid_t)-1, &other), -ENOENT);
	ck_assert_msg(other == UNTOUCHED, "*ret changed by a failed open");
	ASSERT_RET(chan_open(name, CHAN_SENDER, NULL), -EINVAL);

	chan_params_init(&p);
	p.roles = 1u << 31;
	tu_name(missing, sizeof(missing), "badroles");
	ASSERT_RET(chan_create(missing, &p, &other), -EINVAL);
	ck_assert_msg(other == UNTOUCHED, "*ret changed by a failed create");
	chan_detach(ch);
}
END_TEST

START_TEST(open_owned)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch, *other = UNTOUCHED;
	uid_t someone_else = geteuid() == OTHER_UID ? 0 : OTHER_UID;

	tu_name(name, sizeof(name), "owned");
	ch = tu_create(name, 4, 32);
	ASSERT_RET(chan_open_owned(name, 0, someone_else, &other), -EPERM);
	ck_assert_msg(other == UNTOUCHED, "*ret changed by a failed open");

	ASSERT_RET(chan_open_owned(name, CHAN_SENDER, geteuid(), &other), 0);
	ASSERT_RET(chan_send(other, "own", 3), 0);
	chan_detach(other);
	ASSERT_RET(chan_open_owned(name, 0, (uid_t)-1, &other), 0);
	chan_detach(other);
	chan_detach(ch);
}
END_TEST

START_TEST(open_read_only)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_info info;
	struct chan *ch, *ro = NULL;
	size_t len, count = 99;
	char buf[8];

	tu_name(name, sizeof(name), "readonly");
	ch = tu_create(name, 4, 32);
	ASSERT_RET(chan_send(ch, "kept", 4), 0);
	ASSERT_RET(chan_open(name, CHAN_READ_ONLY, &ro), 0);

	ASSERT_RET(chan_info(ro, &info), 0);
	ASSERT_U64(info.depth, 1);
	ASSERT_U64(info.capacity, 4);
	ASSERT_RET(chan_peers(ro, NULL, 0, &count), 0);
	ASSERT_RET(chan_send(ro, "x", 1), -EBADF);
	ASSERT_RET(chan_try_send(ro, "x", 1), -EBADF);
	ASSERT_RET(chan_recv(ro, buf, sizeof(buf), &len), -EBADF);
	ASSERT_RET(chan_try_recv(ro, buf, sizeof(buf), &len), -EBADF);
	ASSERT_RET(chan_close(ro), -EBADF);

	/* The rejected calls changed nothing. */
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 1);
	ASSERT_U64(info.msgs_sent, 1);
	ASSERT_U64(info.closed, 0);
	chan_detach(ro);
	chan_detach(ch);
}
END_TEST

/* As another user: read-write attach is denied, read-only open works. */
static int read_only_child(void *arg)
{
	const char *name = arg;
	struct chan_info info;
	struct chan *ch = NULL;
	int r;

	if (geteuid() == 0 && (setgroups(0, NULL) < 0 ||
			       setgid(OTHER_GID) < 0 || setuid(OTHER_UID) < 0))
		return 2;
	r = chan_attach(name, &ch);
	CHILD_EXPECT(r == -EACCES, "attach: expected EACCES, got %s",
		     chan_error_name(r));
	r = chan_open(name, CHAN_READ_ONLY, &ch);
	CHILD_EXPECT(r == 0, "read-only open: expected OK, got %s",
		     chan_error_name(r));
	r = chan_info(ch, &info);
	CHILD_EXPECT(r == 0, "info: %s", chan_error_name(r));
	CHILD_EXPECT(info.depth == 1, "depth: expected 1, got %ju",
		     (uintmax_t)info.depth);
	chan_detach(ch);
	return 0;
}

START_TEST(open_read_only_other_user)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch;

	if (geteuid() != 0) {
		fprintf(stderr, "open_read_only_other_user: skipped, needs "
				"root\n");
		return;
	}
	tu_name(name, sizeof(name), "roother");
	ch = create_flags(name, 0, 0, 0644);
	ASSERT_RET(chan_send(ch, "x", 1), 0);
	ASSERT_CHILD_OK(tu_spawn(read_only_child, name));
	chan_detach(ch);
}
END_TEST

START_TEST(peers_invalid_args)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan_peer peers[2];
	size_t count = 99;
	struct chan *ch;

	tu_name(name, sizeof(name), "peersargs");
	ch = tu_create(name, 4, 32);
	ASSERT_RET(chan_peers(NULL, peers, 2, &count), -EINVAL);
	ASSERT_RET(chan_peers(ch, peers, 2, NULL), -EINVAL);
	ASSERT_RET(chan_peers(ch, NULL, 2, &count), -EINVAL);
	ASSERT_U64(count, 99);
	chan_detach(ch);
}
END_TEST

START_TEST(peers_listed_and_reaped)
{
	struct peer_args a = {.flags = CHAN_SENDER};
	struct chan_peer peers[4];
	struct chan_info info;
	struct chan *ch;
	size_t count = 0;
	pid_t pid;

	tu_name(a.name, sizeof(a.name), "peers");
	ch = create_flags(a.name, 0, CHAN_RECEIVER, 0);
	pid = spawn_attached(&a);

	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.attachments, 2);
	ASSERT_U64(info.senders, 1);
	ASSERT_U64(info.receivers, 1);
	ASSERT_RET(chan_peers(ch, peers, 4, &count), 0);
	ASSERT_U64(count, 2);
	ASSERT_U64(peers[0].pid, getpid());
	ASSERT_U64(peers[0].roles, CHAN_RECEIVER);
	ASSERT_U64(peers[0].alive, 1);
	ASSERT_U64(peers[1].pid, pid);
	ASSERT_U64(peers[1].roles, CHAN_SENDER);
	ASSERT_U64(peers[1].alive, 1);

	/* A count beyond size: only size entries are written. */
	memset(&peers[1], 0xa5, sizeof(peers[1]));
	ASSERT_RET(chan_peers(ch, peers, 1, &count), 0);
	ASSERT_U64(count, 2);
	ASSERT_U64(peers[0].pid, getpid());
	ASSERT_U64(peers[1].roles, 0xa5a5a5a5u);

	/* A dead peer is listed once with alive 0, then reaped. */
	kill_child(pid);
	ASSERT_RET(chan_peers(ch, peers, 4, &count), 0);
	ASSERT_U64(count, 2);
	ASSERT_U64(peers[1].pid, pid);
	ASSERT_U64(peers[1].alive, 0);
	ASSERT_RET(chan_peers(ch, peers, 4, &count), 0);
	ASSERT_U64(count, 1);
	ASSERT_U64(peers[0].pid, getpid());
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.attachments, 1);
	ASSERT_U64(info.senders, 0);
	chan_detach(ch);
}
END_TEST

START_TEST(peers_attach_max)
{
	char name[CHAN_NAME_MAX + 1];
	struct chan *handles[CHAN_ATTACH_MAX - 1];
	struct chan *ch, *extra = UNTOUCHED;
	size_t count = 0;

	/* The creator's handle takes an entry too, while one is free. */
	tu_name(name, sizeof(name), "attachmax");
	ch = tu_create(name, 4, 32);
	for (int i = 0; i < CHAN_ATTACH_MAX - 1; i++)
		ASSERT_RET(chan_open(name, CHAN_SENDER, &handles[i]), 0);
	ASSERT_RET(chan_open(name, CHAN_RECEIVER, &extra), -EUSERS);
	ck_assert_msg(extra == UNTOUCHED, "*ret changed on -EUSERS");

	/* Without a role, a handle attaches without an entry. */
	ASSERT_RET(chan_open(name, 0, &extra), 0);
	ASSERT_RET(chan_send(extra, "x", 1), 0);
	ASSERT_RET(chan_peers(ch, NULL, 0, &count), 0);
	ASSERT_U64(count, CHAN_ATTACH_MAX);
	chan_detach(extra);

	/* A detach frees its entry for the next. */
	chan_detach(handles[0]);
	ASSERT_RET(chan_open(name, CHAN_RECEIVER, &handles[0]), 0);
	for (int i = 0; i < CHAN_ATTACH_MAX - 1; i++)
		chan_detach(handles[i]);
	ASSERT_RET(chan_peers(ch, NULL, 0, &count), 0);
	ASSERT_U64(count, 1);
	chan_detach(ch);
}
END_TEST

/* As the only sender: send two messages and detach. */
static int short_sender(void *arg)
{
	struct peer_args *a = arg;
	struct chan *ch = open_child(a->name, CHAN_SENDER);
	int r;

	if (ch == NULL)
		return 1;
	r = chan_send(ch, "one", 3);
	CHILD_EXPECT(r == 0, "send: %s", chan_error_name(r));
	r = chan_send(ch, "two", 3);
	CHILD_EXPECT(r == 0, "send: %s", chan_error_name(r));
	chan_detach(ch);
	return 0;
}

START_TEST(track_senders_gone)
{
	struct peer_args a = {0};
	struct chan_info info;
	struct chan *ch;
	char buf[8];
	size_t len;

	tu_name(a.name, sizeof(a.name), "sendersgone");
	ch = create_flags(a.name, CHAN_TRACK_PEERS, CHAN_RECEIVER, 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.flags, CHAN_TRACK_PEERS);

	/* No sender ever attached: the channel is open, and empty. */
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), -EAGAIN);

	ASSERT_CHILD_OK(tu_spawn(short_sender, &a));
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ck_assert_msg(len == 3 && memcmp(buf, "one", 3) == 0,
		      "expected \"one\", got \"%.*s\"", (int)len, buf);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ck_assert_msg(len == 3 && memcmp(buf, "two", 3) == 0,
		      "expected \"two\", got \"%.*s\"", (int)len, buf);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), -EPIPE);
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), -EPIPE);

	/* The side comes back when a sender attaches again. */
	ASSERT_CHILD_OK(tu_spawn(short_sender, &a));
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), -EPIPE);

	/* chan_close() was never called. */
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.closed, 0);
	chan_detach(ch);
}
END_TEST

/* As the only receiver: attach, then detach. */
static int brief_receiver(void *arg)
{
	struct peer_args *a = arg;
	struct chan *ch = open_child(a->name, CHAN_RECEIVER);

	if (ch == NULL)
		return 1;
	chan_detach(ch);
	return 0;
}

START_TEST(track_receivers_detached)
{
	struct peer_args a = {0};
	struct chan_info info;
	struct chan *ch;

	tu_name(a.name, sizeof(a.name), "receiversleft");
	ch = create_flags(a.name, CHAN_TRACK_PEERS, CHAN_SENDER, 0);
	ASSERT_RET(chan_send(ch, "early", 5), 0);
	ASSERT_CHILD_OK(tu_spawn(brief_receiver, &a));
	ASSERT_RET(chan_send(ch, "late", 4), -EPIPE);
	ASSERT_RET(chan_try_send(ch, "late", 4), -EPIPE);
	ASSERT_RET(chan_send_timeout(ch, "late", 4, 1000), -EPIPE);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.msgs_sent, 1);
	chan_detach(ch);
}
END_TEST

/*
 * The documented contract: once every receiver has detached or died,
 * sends fail with -EPIPE, also while the channel has room.
 */
START_TEST(track_receivers_died)
{
	struct peer_args a = {.flags = CHAN_RECEIVER};
	const struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
	struct chan_info info;
	struct chan *ch;
	uint64_t killed_at, elapsed_ms;
	int sends = 0, r;
	pid_t pid;

	tu_name(a.name, sizeof(a.name), "receiversdied");
	ch = create_flags(a.name, CHAN_TRACK_PEERS, CHAN_SENDER, 0);
	pid = spawn_attached(&a);
	ASSERT_RET(chan_send(ch, "while", 5), 0);
	kill_child(pid);

	/* A death takes system calls to see, so a sender that need not
	 * wait looks at most every 100 ms: keep sending, with room left. */
	killed_at = tu_now_ns();
	while ((r = chan_send(ch, "late", 4)) == 0 && sends < 100) {
		sends++;
		nanosleep(&pause, NULL);
	}
	elapsed_ms = (tu_now_ns() - killed_at) / 1000000;
	ASSERT_RET(r, -EPIPE);
	ck_assert_msg(elapsed_ms < 1000,
		      "EPIPE came %llu ms after the receiver died, expected "
		      "within 1000 ms",
		      (unsigned long long)elapsed_ms);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.msgs_sent, 1 + (uint64_t)sends);
	chan_detach(ch);
}
END_TEST

/* A send that would wait on a full channel fails once the receiver died. */
START_TEST(track_receivers_died_full)
{
	struct peer_args a = {.flags = CHAN_RECEIVER};
	struct chan *ch;
	int r = 0;
	pid_t pid;

	tu_name(a.name, sizeof(a.name), "receiversfull");
	ch = create_flags(a.name, CHAN_TRACK_PEERS, CHAN_SENDER, 0);
	pid = spawn_attached(&a);
	kill_child(pid);
	for (int i = 0; i < 5 && r == 0; i++)
		r = chan_send_timeout(ch, "fill", 4,
				      (uint64_t)(TU_HANG_SEC * 1e9));
	ASSERT_RET(r, -EPIPE);
	chan_detach(ch);
}
END_TEST

/* As a receiver, wait on the empty channel until the senders are gone. */
static int waiting_receiver(void *arg)
{
	struct peer_args *a = arg;
	struct chan *ch = open_child(a->name, CHAN_RECEIVER);
	char buf[8];
	size_t len;
	int r;

	if (ch == NULL)
		return 1;
	r = chan_recv(ch, buf, sizeof(buf), &len);
	CHILD_EXPECT(r == -EPIPE, "recv: expected EPIPE, got %s",
		     chan_error_name(r));
	chan_detach(ch);
	return 0;
}

START_TEST(track_dead_sender_wakes)
{
	struct peer_args sender = {.flags = CHAN_SENDER}, receiver = {0};
	struct chan *ch;
	pid_t sender_pid, receiver_pid;

	tu_name(sender.name, sizeof(sender.name), "deadsender");
	strcpy(receiver.name, sender.name);
	ch = create_flags(sender.name, CHAN_TRACK_PEERS, 0, 0);
	sender_pid = spawn_attached(&sender);
	receiver_pid = tu_spawn(waiting_receiver, &receiver);
	ASSERT_RET(tu_wait_waiters(ch, 1, 0, TU_HANG_SEC), 0);
	ck_assert_msg(tu_running(receiver_pid),
		      "the receiver returned while a sender was attached");

	kill_child(sender_pid);
	ASSERT_CHILD_OK(receiver_pid);
	chan_detach(ch);
}
END_TEST

/*
 * A stopped sender (SIGSTOP, as under a debugger) is alive: receivers wait
 * on, and see end-of-channel only once it has died.
 */
START_TEST(track_stopped_sender_alive)
{
	struct peer_args a = {.flags = CHAN_SENDER};
	struct chan_peer peers[4];
	struct chan *ch;
	size_t count = 0, len;
	char buf[8];
	pid_t pid;

	tu_name(a.name, sizeof(a.name), "stopped");
	ch = create_flags(a.name, CHAN_TRACK_PEERS, CHAN_RECEIVER, 0);
	pid = spawn_attached(&a);
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);

	/* Longer than the 500 ms a waiter takes to notice a death. */
	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), &len, 1500000000ULL),
		   -ETIMEDOUT);
	ASSERT_RET(chan_peers(ch, peers, 4, &count), 0);
	ASSERT_U64(count, 2);
	ASSERT_U64(peers[1].pid, pid);
	ASSERT_U64(peers[1].alive, 1);

	kill_child(pid);
	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), &len, 5000000000ULL),
		   -EPIPE);
	chan_detach(ch);
}
END_TEST

/*
 * Liveness does not come from PIDs: a dead sender whose entry names a
 * live process (as when its PID is reused) still counts as gone.
 */
START_TEST(track_pid_reuse_ignored)
{
	struct peer_args a = {.flags = CHAN_SENDER};
	struct chan_peer peers[4];
	char path[PATH_MAX], buf[8];
	struct chan_attachment entry;
	struct chan *ch;
	size_t count = 0, len;
	off_t offset = -1;
	pid_t pid;
	int fd;

	tu_name(a.name, sizeof(a.name), "pidreuse");
	ch = create_flags(a.name, CHAN_TRACK_PEERS, CHAN_RECEIVER, 0);
	pid = spawn_attached(&a);
	kill_child(pid);

	/* Write our own, live, PID into the dead sender's entry. */
	tu_shm_path(path, sizeof(path), a.name);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	for (unsigned i = 0; i < CHAN_SEG_ATTACH_MAX && offset < 0; i++) {
		off_t at = CHAN_SEG_ATTACH_OFFSET + i * sizeof(entry);

		ck_assert_int_eq(pread(fd, &entry, sizeof(entry), at),
				 sizeof(entry));
		if (entry.state == CHAN_ATTACH_USED && entry.pid == pid)
			offset = at;
	}
	ck_assert_msg(offset >= 0, "no entry of the dead sender %d", (int)pid);
	entry.pid = getpid();
	ck_assert_int_eq(pwrite(fd, &entry, sizeof(entry), offset),
			 sizeof(entry));
	close(fd);

	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), &len, 5000000000ULL),
		   -EPIPE);
	ASSERT_RET(chan_peers(ch, peers, 4, &count), 0);
	ASSERT_U64(count, 1);
	chan_detach(ch);
}
END_TEST

/*
 * Each attach reaps the entries of processes that died, so the table and
 * the waiter counts do not fill up with the dead on a channel that nobody
 * supervises.
 */
START_TEST(attach_reaps_dead)
{
	struct peer_args a = {.flags = CHAN_SENDER};
	struct chan_info info;
	struct chan *ch, *other;

	tu_name(a.name, sizeof(a.name), "reapattach");
	ch = create_flags(a.name, 0, CHAN_RECEIVER, 0);
	/* Each child's attach reaps the one killed before it. */
	for (int i = 0; i < 5; i++)
		kill_child(spawn_attached(&a));
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.attachments, 2);

	ASSERT_RET(chan_open(a.name, CHAN_SENDER, &other), 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.attachments, 2);
	ASSERT_U64(info.senders, 1);
	ASSERT_U64(info.receivers, 1);
	chan_detach(other);
	chan_detach(ch);
}
END_TEST

/* Wait as a receiver with CHAN_FAULT=spinning: dies while spinning. */
static int die_spinning(void *arg)
{
	const char *name = arg;
	struct chan *ch;
	char buf[8];
	size_t len;
	int r;

	setenv("CHAN_FAULT", "spinning", 1);
	r = chan_attach(name, &ch);
	CHILD_EXPECT(r == 0, "attach: %s", chan_error_name(r));
	r = chan_recv_timeout(ch, buf, sizeof(buf), &len, 50000000ULL);
	/* Only a library built without fault injection gets here. */
	return r == -ETIMEDOUT ? 77 : 1;
}

/*
 * A receiver killed while it spins leaves its spin lease behind, which is
 * a time that runs out, not a count that stays: the next waiter may spin.
 */
START_TEST(dead_spinner_lease_expires)
{
	char name[CHAN_NAME_MAX + 1], path[PATH_MAX];
	struct chan_seg seg;
	struct timespec now;
	uint64_t now_ns;
	struct chan *ch;
	int status, fd;

	tu_name(name, sizeof(name), "spinner");
	ch = create_flags(name, 0, 0, 0);
	status = tu_wait(tu_spawn(die_spinning, name), TU_HANG_SEC);
	if (status == 77)
		return; /* no fault injection in this build */
	ck_assert_msg(status == 128 + SIGKILL,
		      "spinner: expected SIGKILL, got %s",
		      tu_status_text(status));

	tu_shm_path(path, sizeof(path), name);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &seg, sizeof(seg), 0), sizeof(seg));
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &now);
	now_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	ck_assert_msg(seg.recv_spin_until != 0,
		      "the dead spinner left no lease");
	ck_assert_msg(seg.recv_spin_until < now_ns,
		      "the dead spinner's lease has not run out: %llu >= %llu",
		      (unsigned long long)seg.recv_spin_until,
		      (unsigned long long)now_ns);
	chan_detach(ch);
}
END_TEST

static Suite *peers_suite(void)
{
	Suite *s = suite_create("peers");
	TCase *tc = tcase_create("peers");

	tcase_add_checked_fixture(tc, NULL, tu_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, open_owned);
	tcase_add_test(tc, open_read_only);
	tcase_add_test(tc, open_read_only_other_user);
	tcase_add_test(tc, peers_invalid_args);
	tcase_add_test(tc, peers_listed_and_reaped);
	tcase_add_test(tc, peers_attach_max);
	tcase_add_test(tc, track_senders_gone);
	tcase_add_test(tc, track_receivers_detached);
	tcase_add_test(tc, track_receivers_died);
	tcase_add_test(tc, track_receivers_died_full);
	tcase_add_test(tc, track_dead_sender_wakes);
	tcase_add_test(tc, track_stopped_sender_alive);
	tcase_add_test(tc, track_pid_reuse_ignored);
	tcase_add_test(tc, attach_reaps_dead);
	tcase_add_test(tc, dead_spinner_lease_expires);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	tu_init();
	sr = srunner_create(peers_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
