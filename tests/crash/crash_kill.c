/* SPDX-License-Identifier: MIT */
/*
 * Senders and receivers killed with SIGKILL at random moments, with no
 * help from fault points: waiters killed while blocked, and a torture run
 * that checks every message by sequence number and checksum.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash_util.h"

#define SEC_NS	      UINT64_C(1000000000)
#define MS_NS	      UINT64_C(1000000)
#define WAITER_ROUNDS 200
#define TORTURE_KILLS 1000
#define TORTURE_MSG   512
#define PARENT_WRITER 0x7ffffeu
#define MAX_PROCS     16

struct receiver_args {
	const char *name;
	int log_fd;
};

/* Receive until the channel is closed, logging each message taken. */
static int receive_until_closed(void *arg)
{
	const struct receiver_args *a = arg;
	uint8_t buf[TORTURE_MSG];
	struct chan *ch;
	uint32_t writer;
	uint64_t seq;
	size_t len;
	int r;

	r = chan_attach(a->name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	for (;;) {
		r = chan_recv(ch, buf, sizeof(buf), &len);
		if (r == -EPIPE)
			break;
		if (r < 0)
			return crash_exit_code(r);
		if (crash_msg_check(buf, len, &writer, &seq) < 0)
			crash_log(a->log_fd, CRASH_REC_CORRUPT);
		else
			crash_log(a->log_fd, CRASH_REC(writer, seq));
	}
	chan_detach(ch);
	return 0;
}

/* Read one record from fd within timeout_ms, or return false. */
static bool read_record(int fd, int timeout_ms, uint64_t *rec)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, timeout_ms) != 1)
		return false;
	return read(fd, rec, sizeof(*rec)) == (ssize_t)sizeof(*rec);
}

static void assert_exit_ok(pid_t pid, int timeout_ms, const char *what)
{
	char text[128];
	int status = crash_wait(pid, timeout_ms);

	ck_assert_msg(crash_exited_ok(status), "%s %s", what,
		      crash_status_str(status, text, sizeof(text)));
}

/*
 * One round: two receivers block on an empty channel, one is killed and
 * restarted, a third joins, and three sends must reach the live ones.
 * Returns whether both receivers were counted as waiting at the kill.
 */
static bool killed_waiter_round(unsigned round)
{
	struct chan_info info;
	struct receiver_args args = {NULL, -1};
	uint8_t buf[256];
	uint64_t recs[3];
	char name[64];
	struct chan *ch;
	int log[2];
	pid_t r1, r2, r3;

	crash_name(name, sizeof(name), "waiter");
	ch = crash_create(name, 64, 256);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(pipe(log), 0);
	args.name = name;
	args.log_fd = log[1];

	r1 = crash_spawn(receive_until_closed, &args, NULL);
	r2 = crash_spawn(receive_until_closed, &args, NULL);
	/* Move the kill from before the attach to deep in the wait. */
	crash_sleep_us(round * 7919 % 4000);
	ck_assert_int_eq(chan_info(ch, &info), 0);
	kill(r1, SIGKILL);
	ck_assert_int_ge(crash_wait(r1, 5000), 0);
	r1 = crash_spawn(receive_until_closed, &args, NULL);
	r3 = crash_spawn(receive_until_closed, &args, NULL);
	close(log[1]);

	for (unsigned seq = 0; seq < 3; seq++) {
		uint64_t start = crash_now_ns(), elapsed;
		int r;

		crash_msg_build(buf, sizeof(buf), 1, seq);
		r = chan_send_timeout(ch, buf, sizeof(buf), 2 * SEC_NS);
		elapsed = crash_now_ns() - start;
		ck_assert_msg(r == 0, "round %u: send %u returned %s", round,
			      seq, chan_error_name(r));
		ck_assert_msg(elapsed < 100 * MS_NS,
			      "round %u: send %u took %llu ms", round, seq,
			      (unsigned long long)(elapsed / MS_NS));
	}

	for (int i = 0; i < 3; i++)
		ck_assert_msg(read_record(log[0], 5000, &recs[i]),
			      "round %u: only %d of 3 messages received in 5 s",
			      round, i);
	ck_assert_uint_eq(crash_sort_count_dups(recs, 3), 0);
	for (unsigned seq = 0; seq < 3; seq++)
		ck_assert_uint_eq(recs[seq], CRASH_REC(1, seq));

	ck_assert_int_eq(chan_close(ch), 0);
	assert_exit_ok(r1, 5000, "restarted receiver");
	assert_exit_ok(r2, 5000, "receiver");
	assert_exit_ok(r3, 5000, "late receiver");
	close(log[0]);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
	return info.recv_waiters >= 2;
}

START_TEST(kill_blocked_receiver)
{
	unsigned blocked = 0;

	for (unsigned round = 0; round < WAITER_ROUNDS; round++)
		blocked += killed_waiter_round(round);
	fprintf(stderr,
		"killed waiter: both receivers waiting in %u of %u "
		"rounds\n",
		blocked, WAITER_ROUNDS);
	ck_assert_msg(blocked > 0, "no round killed a blocked receiver");
}
END_TEST

/* Torture: processes of both roles, killed and restarted at random. */
struct torture {
	char name[64];
	char log_dir[256];
	unsigned senders, receivers, kills;
	unsigned sender_kills, receiver_kills;
	unsigned next_id; /* sender ids are writer ids, from 1 */
	struct {
		pid_t pid;
		bool sends;
		unsigned id;
	} procs[MAX_PROCS];
};

struct worker_args {
	const struct torture *t;
	unsigned id;
};

static int open_log(const struct torture *t, bool sends, unsigned id, int flags)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%c%u", t->log_dir, sends ? 's' : 'r',
		 id);
	return open(path, flags | O_CLOEXEC, 0600);
}

/* Send numbered messages until the channel is closed or we are killed. */
static int torture_sender(void *arg)
{
	const struct worker_args *a = arg;
	uint8_t buf[TORTURE_MSG];
	struct chan *ch;
	int fd, r;

	fd = open_log(a->t, true, a->id, O_WRONLY | O_CREAT | O_APPEND);
	if (fd < 0)
		return 2;
	r = chan_attach(a->t->name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	for (uint64_t seq = 0;; seq++) {
		size_t len = crash_msg_len(seq, TORTURE_MSG);

		crash_msg_build(buf, len, a->id, seq);
		r = chan_send_timeout(ch, buf, len, 10 * SEC_NS);
		if (r == -EPIPE)
			break;
		if (r < 0)
			return crash_exit_code(r);
		crash_log(fd, seq);
	}
	chan_detach(ch);
	return 0;
}

static int torture_receiver(void *arg)
{
	const struct worker_args *a = arg;
	struct receiver_args args = {a->t->name, -1};

	args.log_fd =
	    open_log(a->t, false, a->id, O_WRONLY | O_CREAT | O_APPEND);
	if (args.log_fd < 0)
		return 2;
	return receive_until_closed(&args);
}

static void torture_start(struct torture *t, unsigned slot, bool sends)
{
	struct worker_args a = {t, t->next_id++};

	t->procs[slot].sends = sends;
	t->procs[slot].id = a.id;
	t->procs[slot].pid =
	    crash_spawn(sends ? torture_sender : torture_receiver, &a, NULL);
	ck_assert_int_gt(t->procs[slot].pid, 0);
}

/* Fail if a worker ended by itself: nothing but our kills may stop one. */
static void torture_check_alive(struct torture *t)
{
	char text[128];
	int status;

	for (unsigned i = 0; i < t->senders + t->receivers; i++) {
		pid_t pid = t->procs[i].pid;

		if (waitpid(pid, &status, WNOHANG) != pid)
			continue;
		ck_abort_msg("%s %u %s",
			     t->procs[i].sends ? "sender" : "receiver",
			     t->procs[i].id,
			     crash_status_str(status, text, sizeof(text)));
	}
}

static void torture_kill_one(struct torture *t, unsigned slot)
{
	char text[128];
	int status;

	/* Generous: other builds may load the machine while this one runs. */
	kill(t->procs[slot].pid, SIGKILL);
	status = crash_wait(t->procs[slot].pid, 30000);
	ck_assert_msg(
	    crash_killed_by(status, SIGKILL) || crash_exited_ok(status),
	    "%s %u %s", t->procs[slot].sends ? "sender" : "receiver",
	    t->procs[slot].id, crash_status_str(status, text, sizeof(text)));
	if (t->procs[slot].sends)
		t->sender_kills++;
	else
		t->receiver_kills++;
}

/*
 * Watch for a stall: messages queued while none is taken for 2 s, though
 * live receivers are running.
 */
struct stall_watch {
	uint64_t received;
	uint64_t since;
};

static void stall_check(struct chan *ch, struct stall_watch *w)
{
	struct chan_info info;
	uint64_t now = crash_now_ns();

	ck_assert_int_eq(chan_info(ch, &info), 0);
	if (info.depth == 0 || info.msgs_received != w->received) {
		w->received = info.msgs_received;
		w->since = now;
		return;
	}
	ck_assert_msg(now - w->since < 2 * SEC_NS,
		      "%llu messages queued and none taken for 2 s",
		      (unsigned long long)info.depth);
}

static unsigned torture_kills_wanted(unsigned fallback)
{
	const char *env = getenv("CHAN_TORTURE_KILLS");

	return env != NULL && atoi(env) > 0 ? (unsigned)atoi(env) : fallback;
}

static void torture_run(struct torture *t, struct chan *ch, unsigned seed)
{
	struct stall_watch watch = {0, crash_now_ns()};
	unsigned procs = t->senders + t->receivers;

	for (unsigned i = 0; i < procs; i++)
		torture_start(t, i, i < t->senders);

	for (unsigned k = 0; k < t->kills; k++) {
		unsigned slot = (unsigned)rand_r(&seed) % procs;
		unsigned pause_us = (unsigned)rand_r(&seed) % 8000;

		for (unsigned slept = 0; slept < pause_us; slept += 1000) {
			crash_sleep_us(
			    pause_us - slept < 1000 ? pause_us - slept : 1000);
			stall_check(ch, &watch);
		}
		torture_check_alive(t);
		torture_kill_one(t, slot);
		torture_start(t, slot, t->procs[slot].sends);
	}
}

/*
 * Stop the run: check the channel still takes a message, kill the
 * senders, close the channel and let the receivers drain it.
 */
static void torture_stop(struct torture *t, struct chan *ch)
{
	struct stall_watch watch = {0, crash_now_ns()};
	uint8_t buf[TORTURE_MSG];
	struct chan_info info;
	uint64_t start;

	crash_msg_build(buf, 64, PARENT_WRITER, 0);
	start = crash_now_ns();
	ck_assert_int_eq(chan_send_timeout(ch, buf, 64, 2 * SEC_NS), 0);
	ck_assert_uint_lt(crash_now_ns() - start, SEC_NS);

	torture_check_alive(t);
	for (unsigned i = 0; i < t->senders; i++)
		torture_kill_one(t, i);

	/* Drain with the receivers still live, watching for a stall. */
	do {
		stall_check(ch, &watch);
		ck_assert_int_eq(chan_info(ch, &info), 0);
		crash_sleep_us(1000);
	} while (info.depth > 0);

	ck_assert_int_eq(chan_close(ch), 0);
	for (unsigned i = t->senders; i < t->senders + t->receivers; i++)
		assert_exit_ok(t->procs[i].pid, 10000, "receiver");
}

/* Append every record of the logs of one role to *recs. */
static size_t torture_read_logs(const struct torture *t, bool sends,
				uint64_t **recs)
{
	size_t total = 0;

	*recs = NULL;
	for (unsigned id = 1; id < t->next_id; id++) {
		uint64_t *part;
		size_t n;
		int fd = open_log(t, sends, id, O_RDONLY);

		if (fd < 0)
			continue;
		n = crash_read_log(fd, &part);
		close(fd);
		*recs = realloc(*recs, (total + n + 1) * sizeof(uint64_t));
		ck_assert_ptr_nonnull(*recs);
		for (size_t i = 0; i < n; i++)
			(*recs)[total + i] =
			    sends ? CRASH_REC(id, part[i]) : part[i];
		total += n;
		free(part);
	}
	return total;
}

/* Check each receiver took each sender's messages in increasing order. */
static void torture_check_order(const struct torture *t)
{
	uint64_t *last = calloc(t->next_id, sizeof(*last));
	bool *seen = calloc(t->next_id, sizeof(*seen));

	ck_assert_ptr_nonnull(last);
	ck_assert_ptr_nonnull(seen);
	for (unsigned id = 1; id < t->next_id; id++) {
		uint64_t *recs;
		size_t n;
		int fd = open_log(t, false, id, O_RDONLY);

		if (fd < 0)
			continue;
		n = crash_read_log(fd, &recs);
		close(fd);
		memset(seen, 0, t->next_id * sizeof(*seen));
		for (size_t i = 0; i < n; i++) {
			uint32_t w = CRASH_REC_WRITER(recs[i]);
			uint64_t seq = CRASH_REC_SEQ(recs[i]);

			if (w >= t->next_id)
				continue; /* the check message */
			ck_assert_msg(!seen[w] || seq > last[w],
				      "receiver %u took writer %u's %llu "
				      "after %llu",
				      id, w, (unsigned long long)seq,
				      (unsigned long long)last[w]);
			seen[w] = true;
			last[w] = seq;
		}
		free(recs);
	}
	free(last);
	free(seen);
}

/*
 * Compare delivered with committed.  A sender killed between commit and
 * log leaves one delivered message unlogged, its next sequence number.  A
 * receiver killed between take and log loses at most one message.
 */
static void torture_verify(const struct torture *t)
{
	uint64_t *sent, *got, *next;
	size_t n_sent, n_got, unlogged = 0, lost = 0, corrupt = 0;
	bool parent_seen = false;

	n_sent = torture_read_logs(t, true, &sent);
	n_got = torture_read_logs(t, false, &got);
	ck_assert_uint_eq(crash_sort_count_dups(sent, n_sent), 0);

	/* next[id] is the sequence number after sender id's last commit. */
	next = calloc(t->next_id + 1, sizeof(*next));
	for (size_t i = 0; i < n_sent; i++) {
		uint32_t w = CRASH_REC_WRITER(sent[i]);

		if (CRASH_REC_SEQ(sent[i]) + 1 > next[w])
			next[w] = CRASH_REC_SEQ(sent[i]) + 1;
	}

	for (size_t i = 0; i < n_got; i++) {
		uint32_t w = CRASH_REC_WRITER(got[i]);

		if (got[i] & CRASH_REC_CORRUPT) {
			corrupt++;
		} else if (w == PARENT_WRITER) {
			parent_seen = true;
		} else if (!crash_contains(sent, n_sent, got[i])) {
			ck_assert_msg(
			    w < t->next_id && CRASH_REC_SEQ(got[i]) == next[w],
			    "writer %u's message %llu delivered, "
			    "never sent",
			    w, (unsigned long long)CRASH_REC_SEQ(got[i]));
			unlogged++;
		}
	}
	ck_assert_msg(corrupt == 0, "%zu corrupt messages delivered", corrupt);
	ck_assert_msg(crash_sort_count_dups(got, n_got) == 0,
		      "%zu messages delivered twice",
		      crash_sort_count_dups(got, n_got));
	ck_assert_msg(parent_seen, "the check message after the run is lost");
	ck_assert_uint_le(unlogged, t->sender_kills);

	for (size_t i = 0; i < n_sent; i++)
		lost += !crash_contains(got, n_got, sent[i]);
	ck_assert_msg(lost <= t->receiver_kills,
		      "%zu committed messages lost, more than the %u receiver "
		      "kills can explain",
		      lost, t->receiver_kills);
	torture_check_order(t);
	fprintf(stderr,
		"torture %u+%u: %u kills (%u senders, %u receivers), "
		"%zu committed, %zu delivered, %zu lost, %zu unlogged\n",
		t->senders, t->receivers, t->kills, t->sender_kills,
		t->receiver_kills, n_sent, n_got, lost, unlogged);
	free(next);
	free(sent);
	free(got);
}

static void torture(unsigned senders, unsigned receivers, unsigned kills)
{
	struct torture *t = calloc(1, sizeof(*t));
	unsigned seed = (unsigned)getpid();
	struct chan *ch;

	t->senders = senders;
	t->receivers = receivers;
	t->kills = kills;
	t->next_id = 1;
	crash_name(t->name, sizeof(t->name), "torture");
	snprintf(t->log_dir, sizeof(t->log_dir), "%s/logs-%s", crash_dir(),
		 t->name);
	ck_assert_int_eq(mkdir(t->log_dir, 0700), 0);
	ch = crash_create(t->name, 16, TORTURE_MSG);
	ck_assert_ptr_nonnull(ch);
	fprintf(stderr, "torture seed %u\n", seed);

	torture_run(t, ch, seed);
	torture_stop(t, ch);
	torture_verify(t);

	chan_detach(ch);
	ck_assert_int_eq(chan_remove(t->name), 0);
	free(t);
}

START_TEST(kill_torture)
{
	torture(2, 2, torture_kills_wanted(TORTURE_KILLS));
}
END_TEST

/* Four of each, fewer kills, the stall watch on all along. */
START_TEST(kill_four_by_four)
{
	torture(4, 4, 100);
}
END_TEST

static Suite *kill_suite(void)
{
	Suite *s = suite_create("crash_kill");
	TCase *tc = tcase_create("kill");

	tcase_add_unchecked_fixture(tc, crash_dir_setup, crash_dir_teardown);
	/* CHAN_TORTURE_KILLS=5000 takes a few minutes. */
	tcase_set_timeout(tc, 3600);
	tcase_add_test(tc, kill_blocked_receiver);
	tcase_add_test(tc, kill_torture);
	tcase_add_test(tc, kill_four_by_four);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kill_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
