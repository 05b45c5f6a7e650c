/* SPDX-License-Identifier: MIT */
/*
 * Tests of waits interrupted by signals.  A handler that runs while a call
 * waits makes it return -EINTR, with or without SA_RESTART, and nothing is
 * sent or taken twice or lost.  Loop 0 of each test installs the handler
 * without SA_RESTART, loop 1 with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* Messages of the streams sent while a process is hammered. */
#define STREAM_MSGS 20000

/* How often a signal is sent to a waiting process, in milliseconds. */
#define SIGNAL_PERIOD_MS 5

static volatile sig_atomic_t handled;

static void on_sigusr1(int sig)
{
	(void)sig;
	handled++;
}

static int install_handler(int flags)
{
	struct sigaction sa = {.sa_handler = on_sigusr1, .sa_flags = flags};

	sigemptyset(&sa.sa_mask);
	return sigaction(SIGUSR1, &sa, NULL);
}

static int sa_flags_of(int loop)
{
	return loop == 0 ? 0 : SA_RESTART;
}

struct eintr_args {
	char name[CHAN_NAME_MAX + 1];
	int flags;
	int report[2]; /* the child writes one byte once it saw EINTR */
};

static struct chan *attach_child(const char *name)
{
	struct chan *ch = NULL;
	int r = chan_attach(name, &ch);

	if (r < 0)
		tu_child_fail(__FILE__, __LINE__, "chan_attach(%s): %s", name,
			      chan_error_name(r));
	return ch;
}

/*
 * Wait in chan_recv until a signal interrupts it, report that, then
 * receive the one message the parent sends afterwards.
 */
static int eintr_receiver(void *arg)
{
	struct eintr_args *a = arg;
	struct chan *ch = attach_child(a->name);
	char buf[16], byte = 'E';
	size_t len = 77;
	int r;

	if (ch == NULL || install_handler(a->flags) < 0)
		return 1;
	r = chan_recv(ch, buf, sizeof(buf), &len);
	CHILD_EXPECT(r == -EINTR, "recv: expected EINTR, got %s",
		     chan_error_name(r));
	CHILD_EXPECT(handled > 0, "EINTR without a handler run");
	CHILD_EXPECT(len == 77, "EINTR changed *ret_len to %zu", len);
	CHILD_EXPECT(write(a->report[1], &byte, 1) == 1, "write: %s",
		     strerror(errno));

	/* A signal sent before the parent read the report may still come. */
	do
		r = chan_recv(ch, buf, sizeof(buf), &len);
	while (r == -EINTR);
	CHILD_EXPECT(r == 0, "recv: expected OK, got %s", chan_error_name(r));
	CHILD_EXPECT(len == 5 && memcmp(buf, "after", 5) == 0,
		     "expected \"after\", got \"%.*s\"", (int)len, buf);
	r = chan_try_recv(ch, buf, sizeof(buf), &len);
	CHILD_EXPECT(r == -EAGAIN, "second copy: expected EAGAIN, got %s",
		     chan_error_name(r));
	chan_detach(ch);
	return 0;
}

/*
 * Send SIGUSR1 to pid until it writes its report to fd: a signal that
 * lands just before the child sleeps only delays the sleep, so one signal
 * alone could be missed.
 */
static bool signal_until_report(pid_t pid, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t deadline = tu_now_ns() + (uint64_t)(TU_HANG_SEC * 1e9);
	char byte;

	while (tu_now_ns() < deadline) {
		kill(pid, SIGUSR1);
		if (poll(&p, 1, SIGNAL_PERIOD_MS) == 1)
			return read(fd, &byte, 1) == 1;
	}
	return false;
}

START_TEST(sig_recv_eintr)
{
	struct eintr_args a = {.flags = sa_flags_of(_i)};
	struct chan_info info;
	struct chan *ch;
	pid_t pid;

	tu_name(a.name, sizeof(a.name), "recveintr");
	ck_assert_msg(pipe(a.report) == 0, "pipe: %s", strerror(errno));
	ch = tu_create(a.name, 4, 16);
	pid = tu_spawn(eintr_receiver, &a);
	ASSERT_RET(tu_wait_waiters(ch, 1, 0, TU_HANG_SEC), 0);
	ck_assert_msg(signal_until_report(pid, a.report[0]),
		      "the receiver never reported EINTR");

	ASSERT_RET(chan_send(ch, "after", 5), 0);
	ASSERT_CHILD_OK(pid);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 0);
	ASSERT_U64(info.msgs_sent, 1);
	ASSERT_U64(info.msgs_received, 1);
	chan_detach(ch);
}
END_TEST

/*
 * Wait in chan_send on a full channel until a signal interrupts it, then
 * send the same message again once the parent made room.
 */
static int eintr_sender(void *arg)
{
	struct eintr_args *a = arg;
	struct chan *ch = attach_child(a->name);
	char byte = 'E';
	int r;

	if (ch == NULL || install_handler(a->flags) < 0)
		return 1;
	r = chan_send(ch, "mine", 4);
	CHILD_EXPECT(r == -EINTR, "send: expected EINTR, got %s",
		     chan_error_name(r));
	CHILD_EXPECT(handled > 0, "EINTR without a handler run");
	CHILD_EXPECT(write(a->report[1], &byte, 1) == 1, "write: %s",
		     strerror(errno));
	do
		r = chan_send(ch, "mine", 4);
	while (r == -EINTR);
	CHILD_EXPECT(r == 0, "send: expected OK, got %s", chan_error_name(r));
	chan_detach(ch);
	return 0;
}

START_TEST(sig_send_eintr)
{
	struct eintr_args a = {.flags = sa_flags_of(_i)};
	struct chan_info info;
	struct chan *ch;
	char buf[16];
	size_t len;
	pid_t pid;

	tu_name(a.name, sizeof(a.name), "sendeintr");
	ck_assert_msg(pipe(a.report) == 0, "pipe: %s", strerror(errno));
	ch = tu_create(a.name, 1, 16);
	ASSERT_RET(chan_send(ch, "full", 4), 0);
	pid = tu_spawn(eintr_sender, &a);
	ASSERT_RET(tu_wait_waiters(ch, 0, 1, TU_HANG_SEC), 0);
	ck_assert_msg(signal_until_report(pid, a.report[0]),
		      "the sender never reported EINTR");

	/* The interrupted send queued nothing. */
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 1);
	ASSERT_U64(info.msgs_sent, 1);

	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ck_assert_msg(len == 4 && memcmp(buf, "full", 4) == 0,
		      "expected \"full\", got \"%.*s\"", (int)len, buf);
	ASSERT_CHILD_OK(pid);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), 0);
	ck_assert_msg(len == 4 && memcmp(buf, "mine", 4) == 0,
		      "expected \"mine\", got \"%.*s\"", (int)len, buf);
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), -EAGAIN);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.msgs_sent, 2);
	chan_detach(ch);
}
END_TEST

/* Send SIGUSR1 to the target every 50 microseconds until killed. */
static int hammer(void *arg)
{
	pid_t target = *(pid_t *)arg;

	while (kill(target, SIGUSR1) == 0)
		usleep(50);
	return 0;
}

struct stream_args {
	char name[CHAN_NAME_MAX + 1];
	int flags;
};

/* A stream message: its sequence number, then bytes derived from it. */
static size_t stream_message(uint32_t seq, uint8_t *buf)
{
	size_t len = sizeof(seq) + seq % 24;

	memcpy(buf, &seq, sizeof(seq));
	for (size_t i = sizeof(seq); i < len; i++)
		buf[i] = (uint8_t)(seq + i);
	return len;
}

/*
 * Compare a received message with stream message expected.  Returns 0,
 * or -1 after printing the mismatch.
 */
static int check_stream_message(const uint8_t *buf, size_t len,
				uint32_t expected)
{
	uint8_t want[64];
	size_t want_len = stream_message(expected, want);

	if (len != want_len || memcmp(buf, want, len) != 0) {
		uint32_t seq = UINT32_MAX;

		if (len >= sizeof(seq))
			memcpy(&seq, buf, sizeof(seq));
		tu_child_fail(__FILE__, __LINE__,
			      "expected message %u (%zu bytes), got message %u "
			      "(%zu bytes)",
			      expected, want_len, seq, len);
		return -1;
	}
	return 0;
}

/* Receive the whole stream under signals, retrying after each EINTR. */
static int stream_receiver(void *arg)
{
	struct stream_args *a = arg;
	struct chan *ch = attach_child(a->name);
	uint32_t next = 0;
	uint8_t buf[64];
	size_t len;
	int r;

	if (ch == NULL || install_handler(a->flags) < 0)
		return 1;
	for (;;) {
		r = chan_recv(ch, buf, sizeof(buf), &len);
		if (r == -EINTR)
			continue;
		if (r == -EPIPE)
			break;
		CHILD_EXPECT(r == 0, "recv: %s", chan_error_name(r));
		if (check_stream_message(buf, len, next) < 0)
			return 1;
		next++;
	}
	CHILD_EXPECT(next == STREAM_MSGS, "expected %d messages, got %u",
		     STREAM_MSGS, next);
	CHILD_EXPECT(handled > 0, "no signal arrived during the stream");
	chan_detach(ch);
	return 0;
}

/* Send the whole stream under signals, retrying after each EINTR. */
static int stream_sender(void *arg)
{
	struct stream_args *a = arg;
	struct chan *ch = attach_child(a->name);
	uint8_t buf[64];
	size_t len;
	int r;

	if (ch == NULL || install_handler(a->flags) < 0)
		return 1;
	for (uint32_t seq = 0; seq < STREAM_MSGS; seq++) {
		len = stream_message(seq, buf);
		do
			r = chan_send(ch, buf, len);
		while (r == -EINTR);
		CHILD_EXPECT(r == 0, "send %u: %s", seq, chan_error_name(r));
	}
	CHILD_EXPECT(handled > 0, "no signal arrived during the stream");
	r = chan_close(ch);
	CHILD_EXPECT(r == 0, "close: %s", chan_error_name(r));
	chan_detach(ch);
	return 0;
}

/*
 * Stop the hammer once its target has ended, but before the target is
 * reaped, so that its pid cannot name another process yet.
 */
static void stop_hammer(pid_t hammer_pid, pid_t target)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)(TU_HANG_SEC * 1e9);

	while (tu_running(target) && tu_now_ns() < deadline)
		tu_sleep_ms(1);
	kill(hammer_pid, SIGKILL);
	tu_wait(hammer_pid, TU_HANG_SEC);
}

/*
 * Start the child, with the handler already in place so that no signal
 * finds the default action, which would kill it, and its hammer.
 */
static pid_t spawn_hammered(int (*fn)(void *), struct stream_args *a,
			    pid_t *hammer_pid)
{
	static pid_t target;

	ck_assert_msg(install_handler(a->flags) == 0, "sigaction: %s",
		      strerror(errno));
	target = tu_spawn(fn, a);
	*hammer_pid = tu_spawn(hammer, &target);
	return target;
}

START_TEST(sig_stream_receiver)
{
	struct stream_args a = {.flags = sa_flags_of(_i)};
	uint8_t buf[64];
	struct chan_info info;
	struct chan *ch;
	pid_t pid, hammer_pid;

	tu_name(a.name, sizeof(a.name), "streamrecv");
	ch = tu_create(a.name, 8, 64);
	pid = spawn_hammered(stream_receiver, &a, &hammer_pid);

	for (uint32_t seq = 0; seq < STREAM_MSGS; seq++)
		ASSERT_RET(chan_send(ch, buf, stream_message(seq, buf)), 0);
	ASSERT_RET(chan_close(ch), 0);
	stop_hammer(hammer_pid, pid);
	ASSERT_CHILD_OK(pid);

	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.msgs_received, STREAM_MSGS);
	ASSERT_U64(info.depth, 0);
	chan_detach(ch);
}
END_TEST

START_TEST(sig_stream_sender)
{
	struct stream_args a = {.flags = sa_flags_of(_i)};
	uint8_t buf[64];
	struct chan_info info;
	struct chan *ch;
	uint32_t next = 0;
	pid_t pid, hammer_pid;
	size_t len;
	int r;

	tu_name(a.name, sizeof(a.name), "streamsend");
	ch = tu_create(a.name, 8, 64);
	pid = spawn_hammered(stream_sender, &a, &hammer_pid);

	while ((r = chan_recv_timeout(ch, buf, sizeof(buf), &len,
				      (uint64_t)(TU_HANG_SEC * 1e9))) == 0) {
		ck_assert_msg(check_stream_message(buf, len, next) == 0,
			      "message %u is wrong (see the line above)", next);
		next++;
	}
	ASSERT_RET(r, -EPIPE);
	ASSERT_U64(next, STREAM_MSGS);
	stop_hammer(hammer_pid, pid);
	ASSERT_CHILD_OK(pid);

	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.msgs_sent, STREAM_MSGS);
	chan_detach(ch);
}
END_TEST

/*
 * An interrupt that comes before a call starts to wait is kept for it, as
 * when a signal handler runs just before the call it means to stop; a
 * call that completes at once leaves the interrupt pending.
 */
START_TEST(sig_interrupt_pending)
{
	char name[CHAN_NAME_MAX + 1], buf[8];
	struct chan *ch;
	size_t len;

	tu_name(name, sizeof(name), "pending");
	ch = tu_create(name, 4, 8);

	chan_interrupt(ch);
	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), &len, 5000000000ULL),
		   -EINTR);
	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), &len, 10000000ULL),
		   -ETIMEDOUT);

	chan_interrupt(ch);
	ASSERT_RET(chan_send(ch, "x", 1), 0);
	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), &len, 5000000000ULL),
		   0);
	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), &len, 5000000000ULL),
		   -EINTR);
	chan_detach(ch);
}
END_TEST

struct interrupter {
	struct chan *ch;
	unsigned delay_ms;
};

static void *interrupt_later(void *arg)
{
	struct interrupter *in = arg;

	tu_sleep_ms(in->delay_ms);
	chan_interrupt(in->ch);
	return NULL;
}

/* Every thread waiting on the handle returns when it is interrupted. */
START_TEST(sig_interrupt_wakes_waiter)
{
	char name[CHAN_NAME_MAX + 1], buf[8];
	struct interrupter in;
	pthread_t thread;
	struct chan *ch;
	size_t len;

	tu_name(name, sizeof(name), "wakes");
	ch = tu_create(name, 4, 8);
	in = (struct interrupter){ch, 100};
	ck_assert_int_eq(pthread_create(&thread, NULL, interrupt_later, &in),
			 0);
	ASSERT_RET(chan_recv(ch, buf, sizeof(buf), &len), -EINTR);
	pthread_join(thread, NULL);
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), -EAGAIN);
	chan_detach(ch);
}
END_TEST

static Suite *signals_suite(void)
{
	Suite *s = suite_create("signals");
	TCase *tc = tcase_create("signals");

	tcase_add_checked_fixture(tc, NULL, tu_cleanup);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, sig_recv_eintr, 0, 2);
	tcase_add_loop_test(tc, sig_send_eintr, 0, 2);
	tcase_add_loop_test(tc, sig_stream_receiver, 0, 2);
	tcase_add_loop_test(tc, sig_stream_sender, 0, 2);
	tcase_add_test(tc, sig_interrupt_pending);
	tcase_add_test(tc, sig_interrupt_wakes_waiter);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	tu_init();
	sr = srunner_create(signals_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
