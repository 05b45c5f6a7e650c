/* SPDX-License-Identifier: MIT */
/*
 * Channels that track peers (CHAN_TRACK_PEERS) when a peer is killed:
 * the other side must learn that it is gone and end with -EPIPE, and the
 * attachment entries of dead processes must be reused.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash_util.h"

#define SEC_NS UINT64_C(1000000000)
#define MS_NS  UINT64_C(1000000)
#define MSG    64

struct peer {
	const char *name;
	uint32_t writer;
	unsigned count; /* messages to send before pausing, or to take */
	int log_fd;
};

/* Open as a sender, send count messages, log each, then wait to die. */
static int send_then_pause(void *arg)
{
	const struct peer *p = arg;
	uint8_t buf[MSG];
	struct chan *ch;
	int r;

	r = chan_open(p->name, CHAN_SENDER, &ch);
	if (r < 0)
		return crash_exit_code(r);
	for (unsigned seq = 0; seq < p->count; seq++) {
		crash_msg_build(buf, sizeof(buf), p->writer, seq);
		r = chan_send(ch, buf, sizeof(buf));
		if (r == -EPIPE)
			return 0;
		if (r < 0)
			return crash_exit_code(r);
		crash_log(p->log_fd, CRASH_REC(p->writer, seq));
	}
	for (;;)
		pause();
}

/* Open as a receiver and take messages until -EPIPE, logging each. */
static int receive_until_epipe(void *arg)
{
	const struct peer *p = arg;
	uint8_t buf[MSG];
	struct chan *ch;
	uint32_t writer;
	uint64_t seq;
	size_t len;
	int r;

	r = chan_open(p->name, CHAN_RECEIVER, &ch);
	if (r < 0)
		return crash_exit_code(r);
	for (unsigned i = 0; p->count == 0 || i < p->count; i++) {
		r = chan_recv(ch, buf, sizeof(buf), &len);
		if (r == -EPIPE)
			return 0;
		if (r < 0)
			return crash_exit_code(r);
		if (crash_msg_check(buf, len, &writer, &seq) < 0)
			crash_log(p->log_fd, CRASH_REC_CORRUPT);
		else
			crash_log(p->log_fd, CRASH_REC(writer, seq));
	}
	for (;;)
		pause();
}

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

static struct chan *create_tracked(const char *name, uint64_t capacity)
{
	struct chan_params p;
	struct chan *ch;

	chan_params_init(&p);
	p.capacity = capacity;
	p.max_msg_size = MSG;
	p.flags = CHAN_TRACK_PEERS;
	ck_assert_int_eq(chan_create(name, &p, &ch), 0);
	return ch;
}

/*
 * Wait until want senders are attached, at most 5 s: until then a tracking
 * channel whose senders all left ends receives with -EPIPE.
 */
static void wait_for_senders(struct chan *ch, uint32_t want)
{
	uint64_t deadline = crash_now_ns() + 5 * SEC_NS;
	struct chan_info info;

	do {
		ck_assert_int_eq(chan_info(ch, &info), 0);
		if (info.senders >= want)
			return;
		crash_sleep_us(1000);
	} while (crash_now_ns() < deadline);
	ck_abort_msg("only %u senders attached after 5 s", info.senders);
}

/*
 * The only sender dies, killed from outside or at a fault point inside
 * its fourth send: a receiver blocked on the empty channel takes the
 * three committed messages and then gets -EPIPE.  A new sender brings the
 * channel back.
 */
START_TEST(peers_sender_killed)
{
	static const char *const faults[] = {NULL, "send-half-copied@4"};
	const char *fault = faults[_i];
	struct peer sender = {NULL, 1, 3, -1};
	struct peer receiver = {NULL, 0, 0, -1};
	struct chan *ch, *again;
	int sent[2], got[2];
	uint8_t buf[MSG];
	uint32_t writer;
	char name[64];
	uint64_t seq;
	size_t len;
	pid_t s, r;

#ifndef CHAN_FAULT_INJECTION
	if (fault != NULL)
		return; /* the fault points are compiled out */
#endif
	crash_name(name, sizeof(name), "peers-sender");
	ch = create_tracked(name, 8);
	ck_assert_int_eq(pipe(sent), 0);
	ck_assert_int_eq(pipe(got), 0);
	sender.name = receiver.name = name;
	sender.log_fd = sent[1];
	sender.count = fault != NULL ? 10 : 3;
	receiver.log_fd = got[1];

	r = crash_spawn(receive_until_epipe, &receiver, NULL);
	s = crash_spawn(send_then_pause, &sender, fault);
	for (unsigned seq = 0; seq < 3; seq++) {
		uint64_t rec;

		ck_assert_msg(read_record(got[0], 5000, &rec),
			      "receiver took %u messages in 5 s", seq);
		ck_assert_uint_eq(rec, CRASH_REC(1, seq));
	}
	if (fault == NULL)
		kill(s, SIGKILL);
	ck_assert(crash_killed_by(crash_wait(s, 5000), SIGKILL));

	/* The receiver must wake and end, with nothing more taken. */
	assert_exit_ok(r, 3000, "receiver after the sender died");
	close(got[1]);
	{
		uint64_t rec;

		ck_assert_msg(!read_record(got[0], 0, &rec),
			      "receiver took a fourth message");
	}

	/*
	 * A new receiver, then a new sender: the channel works again.  The
	 * receiver attaches first, or the sender would find every receiver
	 * gone and get -EPIPE.
	 */
	ck_assert_int_eq(chan_open(name, CHAN_RECEIVER, &again), 0);
	sender.writer = 2;
	sender.count = 1;
	s = crash_spawn(send_then_pause, &sender, NULL);
	wait_for_senders(ch, 1);
	ck_assert_int_eq(
	    chan_recv_timeout(again, buf, sizeof(buf), &len, 5 * SEC_NS), 0);
	ck_assert_int_eq(crash_msg_check(buf, len, &writer, &seq), 0);
	ck_assert_uint_eq(writer, 2);
	ck_assert_uint_eq(seq, 0);
	kill(s, SIGKILL);
	crash_wait(s, 5000);
	chan_detach(again);
	close(sent[0]);
	close(sent[1]);
	close(got[0]);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

/*
 * The only receiver dies while a sender waits on the full channel: the
 * sender wakes with -EPIPE.
 */
START_TEST(peers_receiver_killed)
{
	struct peer sender = {NULL, 1, 20, -1};
	struct peer receiver = {NULL, 0, 1, -1};
	struct chan_info info;
	uint64_t deadline;
	int sent[2], got[2];
	char name[64];
	struct chan *ch;
	pid_t s, r;
	uint64_t rec;

	crash_name(name, sizeof(name), "peers-receiver");
	ch = create_tracked(name, 2);
	ck_assert_int_eq(pipe(sent), 0);
	ck_assert_int_eq(pipe(got), 0);
	sender.name = receiver.name = name;
	sender.log_fd = sent[1];
	receiver.log_fd = got[1];

	r = crash_spawn(receive_until_epipe, &receiver, NULL);
	ck_assert_int_eq(chan_info(ch, &info), 0);
	s = crash_spawn(send_then_pause, &sender, NULL);
	ck_assert(read_record(got[0], 5000, &rec));

	/* Wait for the sender to block on the full channel. */
	deadline = crash_now_ns() + 5 * SEC_NS;
	do {
		ck_assert_int_eq(chan_info(ch, &info), 0);
		crash_sleep_us(1000);
	} while (info.send_waiters == 0 && crash_now_ns() < deadline);
	ck_assert_uint_gt(info.send_waiters, 0);

	kill(r, SIGKILL);
	ck_assert(crash_killed_by(crash_wait(r, 5000), SIGKILL));
	assert_exit_ok(s, 3000, "sender after the receiver died");
	close(sent[1]);
	close(got[1]);
	close(sent[0]);
	close(got[0]);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

static int open_and_die(void *arg)
{
	struct chan *ch;
	int r = chan_open(arg, CHAN_SENDER | CHAN_RECEIVER, &ch);

	if (r < 0)
		return crash_exit_code(r);
	raise(SIGKILL);
	return 0;
}

/*
 * More processes than the table has entries open a channel and are
 * killed: their entries are taken over, so a new role still attaches,
 * and chan_peers() reaps and then lists only the live handles.
 */
START_TEST(peers_dead_entries_reused)
{
	const unsigned deaths = CHAN_ATTACH_MAX + 76;
	struct chan_peer peers[CHAN_ATTACH_MAX];
	struct chan_info info;
	char name[64], text[128];
	struct chan *ch, *late;
	size_t count;

	crash_name(name, sizeof(name), "peers-table");
	ch = create_tracked(name, 4);
	for (unsigned i = 0; i < deaths; i++) {
		int status =
		    crash_wait(crash_spawn(open_and_die, name, NULL), 5000);

		ck_assert_msg(crash_killed_by(status, SIGKILL),
			      "opener %u of %u %s", i, deaths,
			      crash_status_str(status, text, sizeof(text)));
	}
	ck_assert_int_eq(chan_open(name, CHAN_SENDER, &late), 0);

	ck_assert_int_eq(chan_peers(ch, peers, CHAN_ATTACH_MAX, &count), 0);
	ck_assert_int_eq(chan_peers(ch, peers, CHAN_ATTACH_MAX, &count), 0);
	/* The creator's handle and the late sender's. */
	ck_assert_uint_eq(count, 2);
	for (size_t i = 0; i < count && i < CHAN_ATTACH_MAX; i++) {
		ck_assert_int_eq(peers[i].alive, 1);
		ck_assert_int_eq(peers[i].pid, getpid());
	}
	ck_assert_int_eq(chan_info(ch, &info), 0);
	ck_assert_uint_eq(info.attachments, count);
	ck_assert_uint_eq(info.senders, 1);
	ck_assert_uint_eq(info.receivers, 0);
	chan_detach(late);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

static Suite *peers_suite(void)
{
	Suite *s = suite_create("crash_peers");
	TCase *tc = tcase_create("peers");

	tcase_add_unchecked_fixture(tc, crash_dir_setup, crash_dir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, peers_sender_killed, 0, 2);
	tcase_add_test(tc, peers_receiver_killed);
	tcase_add_test(tc, peers_dead_entries_reused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(peers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
