/* SPDX-License-Identifier: MIT */
/*
 * Batches and zero-copy calls: chan_send_batch, chan_recv_batch,
 * chan_send_reserve / commit / abort and chan_recv_peek / release, in one
 * process and across processes, including processes killed between the
 * two halves of a zero-copy call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "testutil.h"

#define SENDERS	     2
#define RECEIVERS    2
#define PER_SENDER   50000
#define BATCH	     32
#define MAX_MSG_SIZE 64

/* A message of the cross-process test: who sent it and its number. */
struct record {
	uint32_t sender;
	uint32_t seq;
	uint32_t checksum; /* of sender and seq */
};

static uint32_t record_checksum(uint32_t sender, uint32_t seq)
{
	uint32_t words[2] = {sender, seq};

	return tu_checksum(words, sizeof(words));
}

START_TEST(batch_round_trip)
{
	char name[CHAN_NAME_MAX + 1], buf[256];
	struct iovec msgs[5];
	const char *texts[5] = {"one", "", "three", "four", "five!"};
	size_t lens[8], sent = 99, count = 99, offset = 0;
	struct chan *ch;

	tu_name(name, sizeof(name), "roundtrip");
	ch = tu_create(name, 8, 16);
	for (int i = 0; i < 5; i++)
		msgs[i] = (struct iovec){(void *)texts[i], strlen(texts[i])};

	ASSERT_RET(chan_send_batch(ch, msgs, 5, &sent, 0), 0);
	ASSERT_U64(sent, 5);
	ASSERT_RET(chan_recv_batch(ch, buf, sizeof(buf), lens, 8, &count, 0),
		   0);
	ASSERT_U64(count, 5);
	for (int i = 0; i < 5; i++) {
		ASSERT_U64(lens[i], strlen(texts[i]));
		ck_assert_msg(memcmp(buf + offset, texts[i], lens[i]) == 0,
			      "message %d: expected \"%s\"", i, texts[i]);
		offset += lens[i];
	}
	ASSERT_RET(chan_recv_batch(ch, buf, sizeof(buf), lens, 8, &count, 0),
		   -EAGAIN);
	chan_detach(ch);
}
END_TEST

START_TEST(batch_send_too_long)
{
	char name[CHAN_NAME_MAX + 1], big[17] = {0};
	struct iovec msgs[2] = {{"ok", 2}, {big, sizeof(big)}};
	struct chan_info info;
	size_t sent = 99;
	struct chan *ch;

	tu_name(name, sizeof(name), "toolong");
	ch = tu_create(name, 8, 16);
	ASSERT_RET(chan_send_batch(ch, msgs, 2, &sent, 0), -EMSGSIZE);
	ASSERT_U64(sent, 0);
	sent = 99;
	ASSERT_RET(chan_send_batch(NULL, msgs, 2, &sent, 0), -EINVAL);
	ASSERT_U64(sent, 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 0);
	chan_detach(ch);
}
END_TEST

/* A batch larger than the free room sends what fits, then times out. */
START_TEST(batch_send_partial)
{
	char name[CHAN_NAME_MAX + 1];
	struct iovec msgs[6];
	size_t sent = 99;
	struct chan *ch;

	tu_name(name, sizeof(name), "partial");
	ch = tu_create(name, 4, 16);
	for (int i = 0; i < 6; i++)
		msgs[i] = (struct iovec){"x", 1};
	ASSERT_RET(chan_send_batch(ch, msgs, 6, &sent, 50 * 1000 * 1000),
		   -ETIMEDOUT);
	ASSERT_U64(sent, 4);
	ASSERT_RET(chan_send_batch(ch, msgs, 1, &sent, 0), -EAGAIN);
	ASSERT_U64(sent, 0);
	chan_detach(ch);
}
END_TEST

/* A receive batch stops at the buffer's end, and at max_msgs. */
START_TEST(batch_recv_limits)
{
	char name[CHAN_NAME_MAX + 1], buf[10];
	size_t lens[4], count = 99;
	struct chan *ch;

	tu_name(name, sizeof(name), "limits");
	ch = tu_create(name, 8, 16);
	for (int i = 0; i < 6; i++)
		ASSERT_RET(chan_send(ch, "abcd", 4), 0);

	ASSERT_RET(chan_recv_batch(ch, buf, sizeof(buf), lens, 4, &count, 0),
		   0);
	ASSERT_U64(count, 2); /* 8 of 10 bytes used, the third needs 4 */
	ASSERT_RET(chan_recv_batch(ch, buf, 3, lens, 4, &count, 0), -EMSGSIZE);
	ASSERT_U64(lens[0], 4);
	ASSERT_RET(chan_recv_batch(ch, buf, sizeof(buf), lens, 1, &count, 0),
		   0);
	ASSERT_U64(count, 1);
	chan_close(ch);
	ASSERT_RET(chan_recv_batch(ch, buf, sizeof(buf), lens, 4, &count, 0),
		   0);
	ASSERT_U64(count, 2);
	ASSERT_RET(chan_recv_batch(ch, buf, sizeof(buf), lens, 4, &count, 0),
		   0);
	ASSERT_U64(count, 1);
	ASSERT_RET(chan_recv_batch(ch, buf, sizeof(buf), lens, 4, &count, 0),
		   -EPIPE);
	chan_detach(ch);
}
END_TEST

struct cross_args {
	char name[CHAN_NAME_MAX + 1];
	uint32_t sender;
	int log_fd;
};

static int batch_sender(void *arg)
{
	struct cross_args *a = arg;
	struct record records[BATCH];
	struct iovec msgs[BATCH];
	struct chan *ch;
	size_t sent;
	int r;

	r = chan_open(a->name, CHAN_SENDER, &ch);
	CHILD_EXPECT(r == 0, "open: %s", chan_error_name(r));
	for (uint32_t seq = 0; seq < PER_SENDER; seq += BATCH) {
		size_t n = PER_SENDER - seq < BATCH ? PER_SENDER - seq : BATCH;

		for (size_t i = 0; i < n; i++) {
			uint32_t s = seq + (uint32_t)i;

			records[i] = (struct record){
			    a->sender, s, record_checksum(a->sender, s)};
			msgs[i] =
			    (struct iovec){&records[i], sizeof(records[i])};
		}
		r = chan_send_batch(ch, msgs, n, &sent, CHAN_TIMEOUT_INFINITE);
		CHILD_EXPECT(r == 0 && sent == n, "batch at %u: %s, sent %zu",
			     seq, chan_error_name(r), sent);
	}
	chan_detach(ch);
	return 0;
}

/*
 * Receive in batches and write each record to the log pipe.  Checks per
 * sender order here; the parent checks exactly-once over all receivers.
 */
static int batch_receiver(void *arg)
{
	struct cross_args *a = arg;
	int64_t last[SENDERS];
	uint8_t buf[BATCH * MAX_MSG_SIZE];
	size_t lens[BATCH], count;
	struct chan *ch;
	int r;

	for (int i = 0; i < SENDERS; i++)
		last[i] = -1;
	r = chan_open(a->name, CHAN_RECEIVER, &ch);
	CHILD_EXPECT(r == 0, "open: %s", chan_error_name(r));
	while ((r = chan_recv_batch(ch, buf, sizeof(buf), lens, BATCH, &count,
				    CHAN_TIMEOUT_INFINITE)) == 0) {
		size_t offset = 0;

		for (size_t i = 0; i < count; i++) {
			struct record rec;

			CHILD_EXPECT(lens[i] == sizeof(rec), "length %zu",
				     lens[i]);
			memcpy(&rec, buf + offset, sizeof(rec));
			offset += lens[i];
			CHILD_EXPECT(rec.sender < SENDERS, "sender %u",
				     rec.sender);
			CHILD_EXPECT(rec.checksum ==
					 record_checksum(rec.sender, rec.seq),
				     "checksum of %u/%u", rec.sender, rec.seq);
			CHILD_EXPECT((int64_t)rec.seq > last[rec.sender],
				     "sender %u: %u after %lld", rec.sender,
				     rec.seq, (long long)last[rec.sender]);
			last[rec.sender] = rec.seq;
			CHILD_EXPECT(write(a->log_fd, &rec, sizeof(rec)) ==
					 (ssize_t)sizeof(rec),
				     "log write failed");
		}
	}
	CHILD_EXPECT(r == -EPIPE, "recv_batch ended with %s",
		     chan_error_name(r));
	chan_detach(ch);
	return 0;
}

START_TEST(batch_across_processes)
{
	struct cross_args senders[SENDERS], receivers[RECEIVERS];
	pid_t sender_pids[SENDERS], receiver_pids[RECEIVERS];
	uint8_t *seen = calloc(SENDERS * PER_SENDER, 1);
	char name[CHAN_NAME_MAX + 1];
	struct record rec;
	struct chan *ch;
	uint64_t total = 0, duplicates = 0, missing = 0;
	int log_pipe[2];

	/* Records are 12 bytes: a pipe write of them is atomic. */

	ck_assert_ptr_nonnull(seen);
	tu_name(name, sizeof(name), "cross");
	ch = tu_create(name, 64, MAX_MSG_SIZE);
	ck_assert_int_eq(pipe(log_pipe), 0);

	for (int i = 0; i < RECEIVERS; i++) {
		receivers[i] = (struct cross_args){.log_fd = log_pipe[1]};
		strcpy(receivers[i].name, name);
		receiver_pids[i] = tu_spawn(batch_receiver, &receivers[i]);
	}
	for (uint32_t i = 0; i < SENDERS; i++) {
		senders[i] = (struct cross_args){.sender = i, .log_fd = -1};
		strcpy(senders[i].name, name);
		sender_pids[i] = tu_spawn(batch_sender, &senders[i]);
	}
	close(log_pipe[1]);

	/* Read the log while the children run, or they block on the pipe. */
	while (read(log_pipe[0], &rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
		ck_assert_uint_lt(rec.sender, SENDERS);
		ck_assert_uint_lt(rec.seq, PER_SENDER);
		seen[rec.sender * PER_SENDER + rec.seq]++;
		total++;
		if (total == (uint64_t)SENDERS * PER_SENDER)
			break;
	}
	for (int i = 0; i < SENDERS; i++)
		ASSERT_CHILD_OK(sender_pids[i]);
	ASSERT_RET(chan_close(ch), 0);
	for (int i = 0; i < RECEIVERS; i++)
		ASSERT_CHILD_OK(receiver_pids[i]);
	close(log_pipe[0]);

	for (size_t i = 0; i < (size_t)SENDERS * PER_SENDER; i++) {
		if (seen[i] == 0)
			missing++;
		if (seen[i] > 1)
			duplicates++;
	}
	ASSERT_U64(missing, 0);
	ASSERT_U64(duplicates, 0);
	ASSERT_U64(total, (uint64_t)SENDERS * PER_SENDER);
	free(seen);
	chan_detach(ch);
}
END_TEST

START_TEST(reserve_commit_abort)
{
	char name[CHAN_NAME_MAX + 1], buf[16];
	struct chan_info info;
	struct chan *ch;
	size_t len;
	void *slot;

	tu_name(name, sizeof(name), "reserve");
	ch = tu_create(name, 4, 16);
	ASSERT_RET(chan_send_reserve(ch, 17, &slot, 0), -EMSGSIZE);
	ASSERT_RET(chan_send_commit(ch, 1), -EINVAL);

	ASSERT_RET(chan_send_reserve(ch, 16, &slot, 0), 0);
	memcpy(slot, "in place", 8);
	ASSERT_RET(chan_send_commit(ch, 8), 0);

	ASSERT_RET(chan_send_reserve(ch, 4, &slot, 0), 0);
	memcpy(slot, "gone", 4);
	chan_send_abort(ch);

	ASSERT_RET(chan_send_reserve(ch, 4, &slot, 0), 0);
	ASSERT_RET(chan_send_commit(ch, 5), -EMSGSIZE);

	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.depth, 1);
	ASSERT_U64(info.bytes_sent, 8);
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), 0);
	ASSERT_U64(len, 8);
	ck_assert(memcmp(buf, "in place", 8) == 0);

	/* The lock was released by each of the calls above. */
	ASSERT_RET(chan_send(ch, "after", 5), 0);
	chan_detach(ch);
}
END_TEST

START_TEST(peek_release)
{
	char name[CHAN_NAME_MAX + 1], buf[16];
	const void *msg;
	struct chan *ch;
	size_t len;

	tu_name(name, sizeof(name), "peek");
	ch = tu_create(name, 4, 16);
	ASSERT_RET(chan_recv_peek(ch, &msg, &len, 0), -EAGAIN);
	ASSERT_RET(chan_recv_release(ch), -EINVAL);
	ASSERT_RET(chan_send(ch, "first", 5), 0);
	ASSERT_RET(chan_send(ch, "second", 6), 0);

	ASSERT_RET(chan_recv_peek(ch, &msg, &len, 0), 0);
	ASSERT_U64(len, 5);
	ck_assert(memcmp(msg, "first", 5) == 0);
	ASSERT_RET(chan_recv_release(ch), 0);

	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), 0);
	ASSERT_U64(len, 6);
	ck_assert(memcmp(buf, "second", 6) == 0);
	chan_close(ch);
	ASSERT_RET(chan_recv_peek(ch, &msg, &len, CHAN_TIMEOUT_INFINITE),
		   -EPIPE);
	chan_detach(ch);
}
END_TEST

static int die_after_reserve(void *arg)
{
	const char *name = arg;
	struct chan *ch;
	void *slot;
	int r;

	r = chan_open(name, CHAN_SENDER, &ch);
	CHILD_EXPECT(r == 0, "open: %s", chan_error_name(r));
	r = chan_send_reserve(ch, 8, &slot, 0);
	CHILD_EXPECT(r == 0, "reserve: %s", chan_error_name(r));
	memcpy(slot, "torn msg", 8);
	raise(SIGKILL);
	return 1;
}

/* A sender killed between reserve and commit: nothing is published. */
START_TEST(reserve_killed)
{
	char name[CHAN_NAME_MAX + 1], buf[16];
	struct chan_info info;
	struct chan *ch;
	size_t len;
	int status;

	tu_name(name, sizeof(name), "reservekill");
	ch = tu_create(name, 4, 16);
	ASSERT_RET(chan_send(ch, "before", 6), 0);
	status = tu_wait(tu_spawn(die_after_reserve, name), TU_HANG_SEC);
	ck_assert_msg(status == 128 + SIGKILL,
		      "child: expected SIGKILL, got %s",
		      tu_status_text(status));

	ASSERT_RET(chan_send_timeout(ch, "after", 5, 2000000000ULL), 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.recoveries, 1);
	ASSERT_U64(info.depth, 2);
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), 0);
	ck_assert(len == 6 && memcmp(buf, "before", 6) == 0);
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), 0);
	ck_assert(len == 5 && memcmp(buf, "after", 5) == 0);
	ASSERT_RET(chan_try_recv(ch, buf, sizeof(buf), &len), -EAGAIN);
	chan_detach(ch);
}
END_TEST

static int die_after_peek(void *arg)
{
	const char *name = arg;
	const void *msg;
	struct chan *ch;
	size_t len;
	int r;

	r = chan_open(name, CHAN_RECEIVER, &ch);
	CHILD_EXPECT(r == 0, "open: %s", chan_error_name(r));
	r = chan_recv_peek(ch, &msg, &len, 0);
	CHILD_EXPECT(r == 0, "peek: %s", chan_error_name(r));
	raise(SIGKILL);
	return 1;
}

/* A receiver killed between peek and release: the message stays. */
START_TEST(peek_killed)
{
	char name[CHAN_NAME_MAX + 1], buf[16];
	struct chan_info info;
	struct chan *ch;
	size_t len;
	int status;

	tu_name(name, sizeof(name), "peekkill");
	ch = tu_create(name, 4, 16);
	ASSERT_RET(chan_send(ch, "kept", 4), 0);
	status = tu_wait(tu_spawn(die_after_peek, name), TU_HANG_SEC);
	ck_assert_msg(status == 128 + SIGKILL,
		      "child: expected SIGKILL, got %s",
		      tu_status_text(status));

	ASSERT_RET(chan_recv_timeout(ch, buf, sizeof(buf), &len, 2000000000ULL),
		   0);
	ck_assert(len == 4 && memcmp(buf, "kept", 4) == 0);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.recoveries, 1);
	ASSERT_U64(info.msgs_received, 1);
	chan_detach(ch);
}
END_TEST

/*
 * chan_repair repairs the lock of a sender that died holding it and clears
 * its attachment, before any other call on the channel.
 */
START_TEST(repair_after_death)
{
	struct chan_repair_report report;
	char name[CHAN_NAME_MAX + 1];
	struct chan_info info;
	struct chan *ch;
	int status;

	tu_name(name, sizeof(name), "repair");
	ch = tu_create(name, 4, 16);
	status = tu_wait(tu_spawn(die_after_reserve, name), TU_HANG_SEC);
	ck_assert_msg(status == 128 + SIGKILL,
		      "child: expected SIGKILL, got %s",
		      tu_status_text(status));
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.attachments, 2);

	ASSERT_RET(chan_repair(ch, &report), 0);
	ASSERT_U64(report.locks_repaired, 1);
	ASSERT_U64(report.locks_busy, 0);
	ASSERT_U64(report.peers_reaped, 1);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.recoveries, 1);
	ASSERT_U64(info.attachments, 1);

	ASSERT_RET(chan_repair(ch, &report), 0);
	ASSERT_U64(report.locks_repaired, 0);
	ASSERT_U64(report.peers_reaped, 0);
	ASSERT_RET(chan_repair(NULL, &report), -EINVAL);
	chan_detach(ch);
}
END_TEST

static Suite *batch_suite(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("batch");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, batch_round_trip);
	tcase_add_test(tc, batch_send_too_long);
	tcase_add_test(tc, batch_send_partial);
	tcase_add_test(tc, batch_recv_limits);
	tcase_add_test(tc, batch_across_processes);
	tcase_add_test(tc, reserve_commit_abort);
	tcase_add_test(tc, peek_release);
	tcase_add_test(tc, reserve_killed);
	tcase_add_test(tc, peek_killed);
	tcase_add_test(tc, repair_after_death);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	tu_init();
	sr = srunner_create(batch_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
