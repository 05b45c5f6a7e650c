/* SPDX-License-Identifier: MIT */
/*
 * Many senders and receivers at once, as processes and as threads sharing
 * one handle.  The test verifies that every message arrives exactly once,
 * intact, and in the order its sender sent it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

#define SENDERS	     4
#define RECEIVERS    3
#define TOTAL_MSGS   100000
#define PER_SENDER   (TOTAL_MSGS / SENDERS)
#define MAX_MSG_SIZE 1024
#define CAPACITY     64

/*
 * The head of each message.  A message shorter than the header carries
 * its first bytes only, so it cannot be distinguished from others of
 * its size.  Those are checked by counting them per size.
 */
struct msg_header {
	uint32_t sender;
	uint32_t seq;
	uint32_t len;
	uint32_t checksum; /* of the payload after the header */
};

#define HEADER_SIZE sizeof(struct msg_header)

/* What a receiver saw of one message. */
struct record {
	uint32_t sender;
	uint32_t seq;
	uint32_t len;
	uint32_t intact;
};

/* Shared by the test process and its children, in anonymous memory. */
struct results {
	uint32_t sent_len[SENDERS][PER_SENDER];
	uint64_t received[RECEIVERS];
	uint64_t short_received[RECEIVERS][HEADER_SIZE];
	struct record records[RECEIVERS][TOTAL_MSGS];
};

struct stress_args {
	char name[CHAN_NAME_MAX + 1];
	struct results *results;
	int id;
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

/* Build message seq of sender into buf, and return its length. */
static size_t build_message(uint8_t *buf, uint32_t sender, uint32_t seq,
			    uint64_t *rng)
{
	size_t len = tu_random(rng) % (MAX_MSG_SIZE + 1);
	struct msg_header h = {.sender = sender, .seq = seq, .len = len};
	uint8_t full[HEADER_SIZE];

	for (size_t i = HEADER_SIZE; i < len; i++)
		buf[i] = (uint8_t)tu_random(rng);
	if (len > HEADER_SIZE)
		h.checksum = tu_checksum(buf + HEADER_SIZE, len - HEADER_SIZE);
	memcpy(full, &h, sizeof(h));
	memcpy(buf, full, len < HEADER_SIZE ? len : HEADER_SIZE);
	return len;
}

static int sender_process(void *arg)
{
	struct stress_args *a = arg;
	struct chan *ch = attach_child(a->name);
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(a->id + 1);
	static uint8_t buf[MAX_MSG_SIZE];
	size_t len;
	int r;

	if (ch == NULL)
		return 1;
	for (uint32_t seq = 0; seq < PER_SENDER; seq++) {
		len = build_message(buf, (uint32_t)a->id, seq, &rng);
		a->results->sent_len[a->id][seq] = (uint32_t)len;
		r = chan_send(ch, buf, len);
		CHILD_EXPECT(r == 0, "sender %d, message %u: %s", a->id, seq,
			     chan_error_name(r));
	}
	chan_detach(ch);
	return 0;
}

/* Record one full-size message: who sent it, and whether it is intact. */
static struct record check_message(const uint8_t *buf, size_t len)
{
	struct msg_header h;
	struct record rec;

	memcpy(&h, buf, sizeof(h));
	rec.sender = h.sender;
	rec.seq = h.seq;
	rec.len = (uint32_t)len;
	rec.intact =
	    h.len == len && h.sender < SENDERS && h.seq < PER_SENDER &&
	    (len == HEADER_SIZE ||
	     h.checksum == tu_checksum(buf + HEADER_SIZE, len - HEADER_SIZE));
	return rec;
}

static int receiver_process(void *arg)
{
	struct stress_args *a = arg;
	struct results *res = a->results;
	struct chan *ch = attach_child(a->name);
	static uint8_t buf[MAX_MSG_SIZE];
	uint64_t n = 0;
	size_t len;
	int r;

	if (ch == NULL)
		return 1;
	while ((r = chan_recv(ch, buf, sizeof(buf), &len)) == 0) {
		CHILD_EXPECT(n < TOTAL_MSGS, "more than %d messages",
			     TOTAL_MSGS);
		if (len < HEADER_SIZE) {
			res->short_received[a->id][len]++;
			continue;
		}
		res->records[a->id][n++] = check_message(buf, len);
	}
	CHILD_EXPECT(r == -EPIPE, "recv: expected EPIPE at the end, got %s",
		     chan_error_name(r));
	res->received[a->id] = n;
	chan_detach(ch);
	return 0;
}

/* Check one receiver's records: intact, and in order per sender. */
static void verify_receiver(const struct results *res, int id,
			    uint8_t seen[SENDERS][PER_SENDER])
{
	int64_t last[SENDERS] = {-1, -1, -1, -1};

	for (uint64_t i = 0; i < res->received[id]; i++) {
		const struct record *rec = &res->records[id][i];

		ck_assert_msg(rec->intact,
			      "receiver %d, record %ju: message damaged "
			      "(sender %u, seq %u, %u bytes)",
			      id, (uintmax_t)i, rec->sender, rec->seq,
			      rec->len);
		ck_assert_msg((int64_t)rec->seq > last[rec->sender],
			      "receiver %d: sender %u's message %u after %jd",
			      id, rec->sender, rec->seq,
			      (intmax_t)last[rec->sender]);
		last[rec->sender] = rec->seq;
		ck_assert_msg(rec->len == res->sent_len[rec->sender][rec->seq],
			      "sender %u, message %u: sent %u bytes, received "
			      "%u",
			      rec->sender, rec->seq,
			      res->sent_len[rec->sender][rec->seq], rec->len);
		seen[rec->sender][rec->seq]++;
	}
}

static void verify_results(const struct results *res)
{
	static uint8_t seen[SENDERS][PER_SENDER];
	uint64_t short_sent[HEADER_SIZE] = {0}, short_got[HEADER_SIZE] = {0};

	for (int id = 0; id < RECEIVERS; id++) {
		verify_receiver(res, id, seen);
		for (size_t len = 0; len < HEADER_SIZE; len++)
			short_got[len] += res->short_received[id][len];
	}
	for (int s = 0; s < SENDERS; s++) {
		for (int seq = 0; seq < PER_SENDER; seq++) {
			uint32_t len = res->sent_len[s][seq];

			if (len < HEADER_SIZE) {
				short_sent[len]++;
				continue;
			}
			ck_assert_msg(seen[s][seq] == 1,
				      "sender %d, message %d: expected once, "
				      "received %u times",
				      s, seq, seen[s][seq]);
		}
	}
	for (size_t len = 0; len < HEADER_SIZE; len++)
		ck_assert_msg(short_got[len] == short_sent[len],
			      "messages of %zu bytes: sent %ju, received %ju",
			      len, (uintmax_t)short_sent[len],
			      (uintmax_t)short_got[len]);
}

START_TEST(stress_processes)
{
	struct stress_args senders[SENDERS], receivers[RECEIVERS];
	pid_t sender_pids[SENDERS], receiver_pids[RECEIVERS];
	char name[CHAN_NAME_MAX + 1];
	struct chan_info info;
	struct results *res;
	struct chan *ch;

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_msg(res != MAP_FAILED, "mmap: %s", strerror(errno));
	tu_name(name, sizeof(name), "stress");
	ch = tu_create(name, CAPACITY, MAX_MSG_SIZE);

	for (int i = 0; i < RECEIVERS; i++) {
		receivers[i] = (struct stress_args){.results = res, .id = i};
		strcpy(receivers[i].name, name);
		receiver_pids[i] = tu_spawn(receiver_process, &receivers[i]);
	}
	for (int i = 0; i < SENDERS; i++) {
		senders[i] = (struct stress_args){.results = res, .id = i};
		strcpy(senders[i].name, name);
		sender_pids[i] = tu_spawn(sender_process, &senders[i]);
	}
	for (int i = 0; i < SENDERS; i++)
		ASSERT_CHILD_OK(sender_pids[i]);
	ASSERT_RET(chan_close(ch), 0);
	for (int i = 0; i < RECEIVERS; i++)
		ASSERT_CHILD_OK(receiver_pids[i]);

	verify_results(res);
	ASSERT_RET(chan_info(ch, &info), 0);
	ASSERT_U64(info.msgs_sent, TOTAL_MSGS);
	ASSERT_U64(info.msgs_received, TOTAL_MSGS);
	ASSERT_U64(info.depth, 0);
	ASSERT_U64(info.bytes_received, info.bytes_sent);
	munmap(res, sizeof(*res));
	chan_detach(ch);
}
END_TEST

#define THREAD_SENDERS	 4
#define THREAD_RECEIVERS 4
#define THREAD_MSGS	 20000

struct thread_args {
	struct chan *ch;
	int id;
	int error;     /* the first error a thread met, or 0 */
	uint32_t *got; /* receivers: sender << 16 | seq, in order */
	size_t count;
};

static void *thread_sender(void *arg)
{
	struct thread_args *t = arg;
	uint32_t msg[4];

	for (uint32_t seq = 0; seq < THREAD_MSGS; seq++) {
		msg[0] = (uint32_t)t->id;
		msg[1] = seq;
		msg[2] = ~seq;
		msg[3] = (uint32_t)t->id ^ seq;
		t->error = chan_send(t->ch, msg, sizeof(msg) - (seq % 2) * 4);
		if (t->error < 0)
			break;
	}
	return NULL;
}

static void *thread_receiver(void *arg)
{
	struct thread_args *t = arg;
	uint32_t msg[4];
	size_t len;
	int r;

	while ((r = chan_recv(t->ch, msg, sizeof(msg), &len)) == 0) {
		if (len != sizeof(msg) - (msg[1] % 2) * 4 ||
		    msg[2] != ~msg[1] ||
		    (len == sizeof(msg) && msg[3] != (msg[0] ^ msg[1])) ||
		    msg[0] >= THREAD_SENDERS ||
		    t->count >= THREAD_SENDERS * THREAD_MSGS) {
			/* Keep draining, so that no sender blocks forever. */
			if (t->error == 0)
				t->error = -EBADMSG;
			continue;
		}
		t->got[t->count++] = msg[0] << 16 | msg[1];
	}
	if (t->error == 0 && r != -EPIPE)
		t->error = r;
	return NULL;
}

START_TEST(stress_threads)
{
	struct thread_args senders[THREAD_SENDERS];
	struct thread_args receivers[THREAD_RECEIVERS];
	pthread_t sender_ids[THREAD_SENDERS], receiver_ids[THREAD_RECEIVERS];
	static uint8_t seen[THREAD_SENDERS][THREAD_MSGS];
	char name[CHAN_NAME_MAX + 1];
	struct chan *ch;

	tu_name(name, sizeof(name), "threads");
	ch = tu_create(name, 16, 16);
	for (int i = 0; i < THREAD_RECEIVERS; i++) {
		receivers[i] = (struct thread_args){.ch = ch, .id = i};
		receivers[i].got =
		    calloc(THREAD_SENDERS * THREAD_MSGS, sizeof(uint32_t));
		ck_assert_msg(receivers[i].got != NULL, "out of memory");
		ck_assert_int_eq(pthread_create(&receiver_ids[i], NULL,
						thread_receiver, &receivers[i]),
				 0);
	}
	for (int i = 0; i < THREAD_SENDERS; i++) {
		senders[i] = (struct thread_args){.ch = ch, .id = i};
		ck_assert_int_eq(pthread_create(&sender_ids[i], NULL,
						thread_sender, &senders[i]),
				 0);
	}
	for (int i = 0; i < THREAD_SENDERS; i++) {
		pthread_join(sender_ids[i], NULL);
		ASSERT_RET(senders[i].error, 0);
	}
	ASSERT_RET(chan_close(ch), 0);

	for (int i = 0; i < THREAD_RECEIVERS; i++) {
		int64_t last[THREAD_SENDERS] = {-1, -1, -1, -1};

		pthread_join(receiver_ids[i], NULL);
		ASSERT_RET(receivers[i].error, 0);
		for (size_t k = 0; k < receivers[i].count; k++) {
			uint32_t sender = receivers[i].got[k] >> 16;
			uint32_t seq = receivers[i].got[k] & 0xffff;

			ck_assert_msg((int64_t)seq > last[sender],
				      "receiver %d: sender %u's message %u "
				      "after %jd",
				      i, sender, seq, (intmax_t)last[sender]);
			last[sender] = seq;
			seen[sender][seq]++;
		}
		free(receivers[i].got);
	}
	for (int s = 0; s < THREAD_SENDERS; s++)
		for (int seq = 0; seq < THREAD_MSGS; seq++)
			ck_assert_msg(seen[s][seq] == 1,
				      "sender %d, message %d: expected once, "
				      "received %u times",
				      s, seq, seen[s][seq]);
	chan_detach(ch);
}
END_TEST

static Suite *stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");

	tcase_add_checked_fixture(tc, NULL, tu_cleanup);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, stress_processes);
	tcase_add_test(tc, stress_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	tu_init();
	sr = srunner_create(stress_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
