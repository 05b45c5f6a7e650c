/* SPDX-License-Identifier: MIT */
/*
 * Processes killed at the library's fault points.  After any death at any
 * point the channel keeps working and each death inside a lock is counted
 * as one recovery.  Torn messages never appear, and committed ones appear
 * exactly once.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash_util.h"

#ifndef CHAN_FAULT_INJECTION
int main(void)
{
	/* The fault points are compiled out of this build of libchan. */
	fprintf(stderr, "libchan built without CHAN_FAULT_INJECTION\n");
	return CRASH_SKIP;
}
#else

#define SEC_NS	     UINT64_C(1000000000)
#define MS_NS	     UINT64_C(1000000)
#define CAPACITY     4
#define MAX_MSG	     4096
#define MESSAGES     60
#define SENTINEL     0x7fffffu
#define DEFAULT_RUNS 50

/* What a death at the point does to the message in flight. */
enum inflight {
	INFLIGHT_NONE,	    /* nothing written yet */
	INFLIGHT_TORN,	    /* partly written: never delivered */
	INFLIGHT_DELIVERED, /* committed before the death: delivered once */
	INFLIGHT_REQUEUED,  /* copied but not released: stays queued */
	INFLIGHT_LOST,	    /* released but never returned: lost */
};

struct fault_case {
	const char *point;
	bool victim_sends;   /* else the victim receives */
	uint64_t recoveries; /* per death: 1 if a lock is held there */
	enum inflight inflight;
	bool must_die;	/* the point is reached once per message */
	bool hog;	/* a peer holds the lock, so lock-wait is hit */
	bool slow_peer; /* the peer sends slowly, so waiting is hit */
};

static const struct fault_case fault_cases[] = {
    {"lock-wait", true, 0, INFLIGHT_NONE, false, true, false},
    {"locked", true, 1, INFLIGHT_NONE, true, false, false},
    {"locked", false, 1, INFLIGHT_NONE, true, false, false},
    {"send-half-copied", true, 1, INFLIGHT_TORN, true, false, false},
    {"send-before-publish", true, 1, INFLIGHT_TORN, true, false, false},
    {"send-published", true, 1, INFLIGHT_DELIVERED, true, false, false},
    {"recv-copied", false, 1, INFLIGHT_REQUEUED, true, false, false},
    {"recv-released", false, 1, INFLIGHT_LOST, true, false, false},
    {"spinning", false, 0, INFLIGHT_NONE, false, false, true},
    {"waiting", false, 0, INFLIGHT_NONE, false, false, true},
};

/* One process's part in a run. */
struct worker {
	const char *name;
	uint32_t writer;
	unsigned count;	 /* messages to send or take; 0: until SENTINEL */
	unsigned gap_us; /* pause between sends */
	int log_fd;
	size_t msg_len; /* 0: vary the length with the sequence number */
};

static int send_messages(void *arg)
{
	const struct worker *w = arg;
	static uint8_t buf[MAX_MSG];
	struct chan *ch;
	int r;

	r = chan_attach(w->name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	for (unsigned seq = 0; seq < w->count; seq++) {
		size_t len =
		    w->msg_len ? w->msg_len : crash_msg_len(seq, MAX_MSG);

		crash_msg_build(buf, len, w->writer, seq);
		r = chan_send_timeout(ch, buf, len, 10 * SEC_NS);
		if (r < 0)
			return crash_exit_code(r);
		crash_log(w->log_fd, seq);
		if (w->gap_us)
			crash_sleep_us(w->gap_us);
	}
	chan_detach(ch);
	return 0;
}

/* Return the log record of a received message, or CRASH_REC_CORRUPT. */
static uint64_t record_of(const void *buf, size_t len)
{
	uint32_t writer;
	uint64_t seq;

	if (crash_msg_check(buf, len, &writer, &seq) < 0)
		return CRASH_REC_CORRUPT;
	return CRASH_REC(writer, seq);
}

static int receive_messages(void *arg)
{
	const struct worker *w = arg;
	static uint8_t buf[MAX_MSG];
	struct chan *ch;
	size_t len;
	int r;

	r = chan_attach(w->name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	for (unsigned i = 0; w->count == 0 || i < w->count; i++) {
		uint64_t rec;

		r = chan_recv_timeout(ch, buf, sizeof(buf), &len, 10 * SEC_NS);
		if (r == -EPIPE)
			break;
		if (r < 0)
			return crash_exit_code(r);
		rec = record_of(buf, len);
		crash_log(w->log_fd, rec);
		if (CRASH_REC_WRITER(rec) == SENTINEL)
			break;
	}
	chan_detach(ch);
	return 0;
}

static volatile sig_atomic_t hog_stop;

static void hog_signal(int sig)
{
	(void)sig;
	hog_stop = 1;
}

/*
 * Take the segment lock directly, again and again, so that a library call
 * running beside finds it busy and reaches the lock-wait point.
 */
static int hog_lock(void *arg)
{
	const struct worker *w = arg;
	pthread_mutex_t *mutexes[2];
	struct chan_seg *seg;
	size_t size;
	int r;

	seg = crash_seg_map(w->name, &size);
	if (seg == NULL)
		return 2;
	crash_seg_mutexes(seg, mutexes);
	for (bool ready = false; !hog_stop; ready = true) {
		r = pthread_mutex_lock(mutexes[0]);
		if (r != 0)
			return crash_exit_code(r);
		if (!ready)
			crash_log(w->log_fd, 0);
		crash_sleep_us(500);
		pthread_mutex_unlock(mutexes[0]);
		crash_sleep_us(100);
	}
	crash_seg_unmap(seg, size);
	return 0;
}

/* Start the hog, and return once it has taken the lock once. */
static pid_t spawn_hog(const char *name)
{
	struct sigaction sa = {.sa_handler = hog_signal};
	struct worker w = {name, 0, 0, 0, -1, 0};
	sigset_t block, old;
	int ready[2];
	uint64_t byte;
	pid_t pid;

	ck_assert_int_eq(pipe(ready), 0);
	w.log_fd = ready[1];
	/* Block SIGUSR1 until the handler is in place in the child. */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGUSR1, &sa, NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(ready[0]);
		_exit(hog_lock(&w));
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &byte, sizeof(byte)), sizeof(byte));
	close(ready[0]);
	return pid;
}

static uint64_t recoveries_of(struct chan *ch)
{
	struct chan_info info;

	ck_assert_int_eq(chan_info(ch, &info), 0);
	return info.recoveries;
}

/* Send one sentinel and check the channel takes it at once. */
static void assert_usable(struct chan *ch, const char *what)
{
	uint8_t buf[sizeof(struct crash_msg) + 8];
	uint64_t start, elapsed;
	int r;

	crash_msg_build(buf, sizeof(buf), SENTINEL, 0);
	start = crash_now_ns();
	r = chan_send_timeout(ch, buf, sizeof(buf), 2 * SEC_NS);
	elapsed = crash_now_ns() - start;
	ck_assert_msg(r == 0, "%s: send after the death returned %s", what,
		      chan_error_name(r));
	ck_assert_msg(elapsed < SEC_NS, "%s: send after the death took %llu ms",
		      what, (unsigned long long)(elapsed / MS_NS));
}

static void assert_exit_ok(pid_t pid, int timeout_ms, const char *what)
{
	char text[128];
	int status = crash_wait(pid, timeout_ms);

	ck_assert_msg(crash_exited_ok(status), "%s %s", what,
		      crash_status_str(status, text, sizeof(text)));
}

/* Store the sequence numbers of writer's intact records; return the count. */
static size_t seqs_of(const uint64_t *recs, size_t n, uint32_t writer,
		      uint64_t *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (!(recs[i] & CRASH_REC_CORRUPT) &&
		    CRASH_REC_WRITER(recs[i]) == writer)
			out[k++] = CRASH_REC_SEQ(recs[i]);
	return k;
}

static size_t count_corrupt(const uint64_t *recs, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += (recs[i] & CRASH_REC_CORRUPT) != 0;
	return k;
}

struct run_result {
	bool killed;
	size_t committed;   /* messages the sender logged as committed */
	size_t victim_took; /* messages the victim receiver logged */
	uint64_t *delivered;
	size_t delivered_count;
	uint64_t *commits;
};

/*
 * Check the delivered set against the committed one: no corruption, no
 * duplicate, every logged commit delivered, and at most the one message
 * in flight at the death differing, as the fault case specifies.
 */
static void check_delivery(const struct fault_case *fc, unsigned nth,
			   struct run_result *res, const uint64_t *all_recs,
			   size_t all_count)
{
	uint64_t *seqs = res->delivered, *commits = res->commits;
	size_t n = res->delivered_count, c = res->committed;
	uint64_t inflight = fc->victim_sends ? c : res->victim_took;
	bool inflight_seen;

	ck_assert_msg(count_corrupt(all_recs, all_count) == 0,
		      "%s@%u: %zu corrupt messages delivered", fc->point, nth,
		      count_corrupt(all_recs, all_count));
	ck_assert_msg(crash_sort_count_dups(seqs, n) == 0,
		      "%s@%u: a message was delivered twice", fc->point, nth);
	crash_sort_count_dups(commits, c);

	for (size_t i = 0; i < n; i++)
		ck_assert_msg(crash_contains(commits, c, seqs[i]) ||
				  (seqs[i] == inflight && fc->victim_sends),
			      "%s@%u: message %llu delivered, never sent",
			      fc->point, nth, (unsigned long long)seqs[i]);
	inflight_seen = crash_contains(seqs, n, inflight);

	if (!res->killed) {
		ck_assert_uint_eq(n, c);
		return;
	}
	switch (fc->inflight) {
	case INFLIGHT_NONE:
	case INFLIGHT_REQUEUED:
		ck_assert_msg(n == c, "%s@%u: %zu delivered, %zu committed",
			      fc->point, nth, n, c);
		break;
	case INFLIGHT_TORN:
		ck_assert_msg(!inflight_seen,
			      "%s@%u: torn message %llu delivered", fc->point,
			      nth, (unsigned long long)inflight);
		ck_assert_msg(n == c, "%s@%u: %zu delivered, %zu committed",
			      fc->point, nth, n, c);
		break;
	case INFLIGHT_DELIVERED:
		ck_assert_msg(inflight_seen,
			      "%s@%u: published message %llu lost", fc->point,
			      nth, (unsigned long long)inflight);
		ck_assert_uint_eq(n, c + 1);
		break;
	case INFLIGHT_LOST:
		ck_assert_msg(!inflight_seen && n + 1 == c,
			      "%s@%u: %zu of %zu delivered; expected all but "
			      "message %llu, released by the victim",
			      fc->point, nth, n, c,
			      (unsigned long long)inflight);
		break;
	}
	if (fc->inflight == INFLIGHT_REQUEUED)
		ck_assert_msg(
		    inflight_seen,
		    "%s@%u: message %llu copied by the victim is lost",
		    fc->point, nth, (unsigned long long)inflight);
}

/*
 * The victim sends, a peer receives until the sentinel, and a hog may
 * hold the lock.  The sentinel is the usability check after the death.
 */
static void run_victim_sender(const struct fault_case *fc, unsigned nth,
			      const char *name, struct chan *ch,
			      struct run_result *res)
{
	int commit_pipe[2], recv_pipe[2], status;
	struct worker victim = {name, 1, MESSAGES, 0, -1, 0};
	struct worker peer = {name, 0, 0, 0, -1, 0};
	char fault[64], text[128];
	pid_t victim_pid, peer_pid, hog_pid = -1;
	uint64_t *recs;
	size_t n;

	ck_assert_int_eq(pipe(commit_pipe), 0);
	ck_assert_int_eq(pipe(recv_pipe), 0);
	victim.log_fd = commit_pipe[1];
	peer.log_fd = recv_pipe[1];
	snprintf(fault, sizeof(fault), "%s@%u", fc->point, nth);
	victim.gap_us = fc->hog ? 300 : 0;

	peer_pid = crash_spawn(receive_messages, &peer, NULL);
	if (fc->hog)
		hog_pid = spawn_hog(name);
	victim_pid = crash_spawn(send_messages, &victim, fault);
	close(commit_pipe[1]);
	close(recv_pipe[1]);

	status = crash_wait(victim_pid, 20000);
	res->killed = crash_killed_by(status, SIGKILL);
	ck_assert_msg(res->killed || crash_exited_ok(status), "%s: victim %s",
		      fault, crash_status_str(status, text, sizeof(text)));
	if (fc->must_die)
		ck_assert_msg(res->killed, "%s: victim was not killed", fault);
	if (hog_pid > 0) {
		kill(hog_pid, SIGUSR1);
		assert_exit_ok(hog_pid, 5000, "lock hog");
	}

	assert_usable(ch, fault);
	assert_exit_ok(peer_pid, 15000, "receiver");

	res->committed = crash_read_log(commit_pipe[0], &res->commits);
	n = crash_read_log(recv_pipe[0], &recs);
	close(commit_pipe[0]);
	close(recv_pipe[0]);
	res->delivered = malloc((n + 1) * sizeof(uint64_t));
	res->delivered_count = seqs_of(recs, n, victim.writer, res->delivered);
	check_delivery(fc, nth, res, recs, n);
	free(recs);
}

/* Take what is queued while the sender peer runs, then the rest. */
static size_t drain_while(struct chan *ch, pid_t peer, uint64_t *recs,
			  size_t max, int *peer_status)
{
	static uint8_t buf[MAX_MSG];
	uint64_t deadline = crash_now_ns() + 20 * SEC_NS;
	bool peer_done = false;
	size_t n = 0, len;
	int r;

	while (crash_now_ns() < deadline) {
		r = chan_recv_timeout(ch, buf, sizeof(buf), &len, 10 * MS_NS);
		if (r == 0) {
			ck_assert_uint_lt(n, max);
			recs[n++] = record_of(buf, len);
			continue;
		}
		ck_assert_msg(r == -ETIMEDOUT, "drain: receive returned %s",
			      chan_error_name(r));
		if (peer_done)
			return n;
		/* One more pass after the peer ended takes its last ones. */
		peer_done = waitpid(peer, peer_status, WNOHANG) == peer;
	}
	ck_abort_msg("drain: sender peer still running after 20 s");
	return n;
}

/*
 * The victim receives from a sender peer; after the death this process
 * takes what is left, then checks the channel takes a new message.
 */
static void run_victim_receiver(const struct fault_case *fc, unsigned nth,
				const char *name, struct chan *ch,
				struct run_result *res)
{
	int commit_pipe[2], recv_pipe[2], status, peer_status = 0;
	struct worker victim = {name, 0, MESSAGES, 0, -1, 0};
	struct worker peer = {name, 1, MESSAGES, 0, -1, 0};
	uint64_t drained[MESSAGES * 2], *recs, *all;
	size_t n, d, len;
	char fault[64], text[128];
	uint8_t buf[MAX_MSG];
	pid_t victim_pid, peer_pid;

	ck_assert_int_eq(pipe(commit_pipe), 0);
	ck_assert_int_eq(pipe(recv_pipe), 0);
	victim.log_fd = recv_pipe[1];
	peer.log_fd = commit_pipe[1];
	peer.gap_us = fc->slow_peer ? 300 : 0;
	snprintf(fault, sizeof(fault), "%s@%u", fc->point, nth);

	victim_pid = crash_spawn(receive_messages, &victim, fault);
	peer_pid = crash_spawn(send_messages, &peer, NULL);
	close(commit_pipe[1]);
	close(recv_pipe[1]);

	status = crash_wait(victim_pid, 20000);
	res->killed = crash_killed_by(status, SIGKILL);
	ck_assert_msg(res->killed || crash_exited_ok(status), "%s: victim %s",
		      fault, crash_status_str(status, text, sizeof(text)));
	if (fc->must_die)
		ck_assert_msg(res->killed, "%s: victim was not killed", fault);

	d = drain_while(ch, peer_pid, drained, MESSAGES * 2, &peer_status);
	ck_assert_msg(crash_exited_ok(peer_status), "%s: sender %s", fault,
		      crash_status_str(peer_status, text, sizeof(text)));
	assert_usable(ch, fault);
	ck_assert_int_eq(chan_try_recv(ch, buf, sizeof(buf), &len), 0);
	ck_assert_uint_eq(CRASH_REC_WRITER(record_of(buf, len)), SENTINEL);

	res->committed = crash_read_log(commit_pipe[0], &res->commits);
	ck_assert_uint_eq(res->committed, MESSAGES);
	n = crash_read_log(recv_pipe[0], &recs);
	close(commit_pipe[0]);
	close(recv_pipe[0]);
	res->victim_took = n;

	all = malloc((n + d) * sizeof(uint64_t) + 1);
	memcpy(all, recs, n * sizeof(uint64_t));
	memcpy(all + n, drained, d * sizeof(uint64_t));
	res->delivered = malloc((n + d) * sizeof(uint64_t) + 1);
	res->delivered_count = seqs_of(all, n + d, peer.writer, res->delivered);
	check_delivery(fc, nth, res, all, n + d);
	free(all);
	free(recs);
}

static unsigned runs_per_point(void)
{
	const char *env = getenv("CHAN_FAULT_RUNS");

	return env != NULL && atoi(env) > 0 ? (unsigned)atoi(env)
					    : DEFAULT_RUNS;
}

/* Run one death at the nth hit of the point; returns whether it died. */
static bool run_fault_case(const struct fault_case *fc, unsigned nth)
{
	struct run_result res = {0};
	char name[64];
	struct chan *ch;

	crash_name(name, sizeof(name), "fault");
	ch = crash_create(name, CAPACITY, MAX_MSG);
	ck_assert_ptr_nonnull(ch);

	if (fc->victim_sends)
		run_victim_sender(fc, nth, name, ch, &res);
	else
		run_victim_receiver(fc, nth, name, ch, &res);

	ck_assert_msg(recoveries_of(ch) == (res.killed ? fc->recoveries : 0),
		      "%s@%u: recoveries %llu, expected %llu", fc->point, nth,
		      (unsigned long long)recoveries_of(ch),
		      (unsigned long long)(res.killed ? fc->recoveries : 0));
	if (fc->must_die && fc->inflight != INFLIGHT_NONE) {
		size_t expected =
		    fc->victim_sends ? res.committed : res.victim_took;

		ck_assert_msg(expected == nth - 1,
			      "%s@%u: victim finished %zu messages before "
			      "dying, expected %u",
			      fc->point, nth, expected, nth - 1);
	}
	free(res.commits);
	free(res.delivered);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
	return res.killed;
}

/* Every fault point, the death moved from the 1st to the N-th hit. */
START_TEST(fault_point_matrix)
{
	const struct fault_case *fc = &fault_cases[_i];
	unsigned runs = runs_per_point(), deaths = 0;

	for (unsigned nth = 1; nth <= runs; nth++)
		deaths += run_fault_case(fc, nth);
	fprintf(stderr, "%s (victim %s): %u deaths in %u runs\n", fc->point,
		fc->victim_sends ? "sends" : "receives", deaths, runs);
	ck_assert_msg(deaths > 0, "%s: never reached", fc->point);
}
END_TEST

/* Send one message, waiting up to 5 s for space. */
static int send_one(void *arg)
{
	const char *name = arg;
	uint8_t buf[64];
	struct chan *ch;
	int r;

	r = chan_attach(name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	crash_msg_build(buf, sizeof(buf), 7, 0);
	r = chan_send_timeout(ch, buf, sizeof(buf), 5 * SEC_NS);
	chan_detach(ch);
	return r < 0 ? crash_exit_code(r) : 0;
}

static int try_send_one(void *arg)
{
	const char *name = arg;
	uint8_t buf[64];
	struct chan *ch;
	int r;

	r = chan_attach(name, &ch);
	if (r < 0)
		return crash_exit_code(r);
	crash_msg_build(buf, sizeof(buf), 7, 0);
	r = chan_try_send(ch, buf, sizeof(buf));
	chan_detach(ch);
	return r < 0 && r != -EAGAIN ? crash_exit_code(r) : 0;
}

static void assert_killed(pid_t pid, const char *what)
{
	char text[128];
	int status = crash_wait(pid, 10000);

	ck_assert_msg(crash_killed_by(status, SIGKILL), "%s %s", what,
		      crash_status_str(status, text, sizeof(text)));
}

/*
 * The lock holder dies: the next caller gets the lock at once and counts
 * one recovery, which proves the mutex robust and process-shared.
 */
START_TEST(fault_lock_owner_died)
{
	struct chan_info info;
	char name[64];
	struct chan *ch;
	uint8_t buf[64];
	size_t len;

	crash_name(name, sizeof(name), "owner");
	ch = crash_create(name, 4, 256);
	ck_assert_ptr_nonnull(ch);

	assert_killed(crash_spawn(send_one, name, "locked"), "lock holder");
	ck_assert_uint_eq(recoveries_of(ch), 0);
	assert_usable(ch, "after the lock holder died");
	ck_assert_int_eq(chan_info(ch, &info), 0);
	ck_assert_uint_eq(info.recoveries, 1);
	ck_assert_uint_eq(info.depth, 1);
	ck_assert_uint_eq(info.msgs_sent, 1);

	/* Only the sentinel is queued: the dead sender wrote nothing. */
	ck_assert_int_eq(chan_try_recv(ch, buf, sizeof(buf), &len), 0);
	ck_assert_uint_eq(CRASH_REC_WRITER(record_of(buf, len)), SENTINEL);
	ck_assert_int_eq(chan_try_recv(ch, buf, sizeof(buf), &len), -EAGAIN);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

/*
 * On glibc the mutex kind records robustness and sharing: check both bits
 * in the live segment, since the attribute getters need an attribute
 * object the segment does not keep.
 */
START_TEST(fault_mutex_kind)
{
#ifdef __GLIBC__
	/* glibc's PTHREAD_MUTEX_ROBUST_NORMAL_NP and PTHREAD_MUTEX_PSHARED_BIT
	 */
	const int robust_bit = 16, pshared_bit = 128;
	pthread_mutex_t *mutexes[2];
	struct chan_seg *seg;
	char name[64];
	struct chan *ch;
	size_t size, n;

	crash_name(name, sizeof(name), "kind");
	ch = crash_create(name, 1, 64);
	ck_assert_ptr_nonnull(ch);
	seg = crash_seg_map(name, &size);
	ck_assert_ptr_nonnull(seg);
	n = crash_seg_mutexes(seg, mutexes);
	for (size_t i = 0; i < n; i++) {
		int kind = mutexes[i]->__data.__kind;

		ck_assert_msg(kind & robust_bit,
			      "mutex %zu: kind 0x%x is not robust", i, kind);
		ck_assert_msg(kind & pshared_bit,
			      "mutex %zu: kind 0x%x is not process-shared", i,
			      kind);
	}
	crash_seg_unmap(seg, size);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
#endif
}
END_TEST

/* A process that dies just after repairing the lock is counted too. */
START_TEST(fault_recovered_dies)
{
	struct fault_case fc = {"locked", true,	 1,    INFLIGHT_NONE,
				true,	  false, false};
	unsigned runs = runs_per_point() / 5 + 1;

	for (unsigned nth = 1; nth <= runs; nth++) {
		struct worker victim = {NULL, 1, MESSAGES, 0, -1, 0};
		struct run_result res = {.killed = true};
		char name[64], fault[64];
		int commit_pipe[2];
		uint64_t got[MESSAGES + 1];
		uint8_t buf[MAX_MSG];
		struct chan *ch;
		size_t n = 0, len;

		crash_name(name, sizeof(name), "recovered");
		ch = crash_create(name, MESSAGES + 4, MAX_MSG);
		ck_assert_ptr_nonnull(ch);
		ck_assert_int_eq(pipe(commit_pipe), 0);
		victim.name = name;
		victim.log_fd = commit_pipe[1];
		snprintf(fault, sizeof(fault), "locked@%u", nth);

		assert_killed(crash_spawn(send_messages, &victim, fault),
			      "first lock holder");
		assert_killed(crash_spawn(send_one, name, "recovered"),
			      "repairing process");
		close(commit_pipe[1]);
		assert_usable(ch, "after two deaths");
		ck_assert_uint_eq(recoveries_of(ch), 2);

		while (chan_try_recv(ch, buf, sizeof(buf), &len) == 0) {
			uint64_t rec = record_of(buf, len);

			if (CRASH_REC_WRITER(rec) == victim.writer)
				got[n++] = CRASH_REC_SEQ(rec);
			else
				ck_assert_uint_eq(CRASH_REC_WRITER(rec),
						  SENTINEL);
		}
		res.committed = crash_read_log(commit_pipe[0], &res.commits);
		close(commit_pipe[0]);
		res.delivered = got;
		res.delivered_count = n;
		check_delivery(&fc, nth, &res, got, 0);
		ck_assert_uint_eq(n, nth - 1);
		free(res.commits);
		chan_detach(ch);
		ck_assert_int_eq(chan_remove(name), 0);
	}
}
END_TEST

/* Queue count messages of msg_len bytes from writer 1. */
static void fill(struct chan *ch, unsigned count, size_t msg_len)
{
	uint8_t buf[MAX_MSG];

	for (unsigned seq = 0; seq < count; seq++) {
		crash_msg_build(buf, msg_len, 1, seq);
		ck_assert_int_eq(chan_try_send(ch, buf, msg_len), 0);
	}
}

/* Take writer 1's messages first..last, in order. */
static void expect_take(struct chan *ch, unsigned first, unsigned last)
{
	uint8_t buf[MAX_MSG];
	size_t len;

	for (unsigned seq = first; seq <= last; seq++) {
		uint64_t rec;

		ck_assert_int_eq(chan_try_recv(ch, buf, sizeof(buf), &len), 0);
		rec = record_of(buf, len);
		ck_assert_msg(!(rec & CRASH_REC_CORRUPT), "message corrupt");
		ck_assert_uint_eq(CRASH_REC_WRITER(rec), 1);
		ck_assert_uint_eq(CRASH_REC_SEQ(rec), seq);
	}
}

/* Take writer 1's messages first..last, and check nothing else is queued. */
static void expect_queue(struct chan *ch, unsigned first, unsigned last)
{
	uint8_t buf[MAX_MSG];
	size_t len;

	expect_take(ch, first, last);
	ck_assert_int_eq(chan_try_recv(ch, buf, sizeof(buf), &len), -EAGAIN);
}

/*
 * A sender dies halfway through its fourth 4 KiB message, or with the
 * payload written and the tail not yet moved: three messages stay.
 */
START_TEST(fault_torn_send)
{
	static const char *const points[] = {
	    "send-half-copied@4",
	    "send-before-publish@4",
	};
	const char *point = points[_i];
	struct worker victim = {NULL, 1, 10, 0, -1, MAX_MSG};
	struct chan_info info;
	char name[64];
	struct chan *ch;
	int devnull;

	crash_name(name, sizeof(name), "torn");
	ch = crash_create(name, 8, MAX_MSG);
	ck_assert_ptr_nonnull(ch);
	devnull = open("/dev/null", O_WRONLY);
	victim.name = name;
	victim.log_fd = devnull;
	assert_killed(crash_spawn(send_messages, &victim, point), point);
	close(devnull);

	ck_assert_int_eq(chan_info(ch, &info), 0);
	ck_assert_uint_eq(info.depth, 3);
	ck_assert_uint_eq(info.msgs_sent, 3);
	ck_assert_uint_eq(info.recoveries, 0);
	expect_queue(ch, 0, 2);

	/*
	 * The next message takes the torn one's slot, whole.  The sender
	 * died holding the send lock, so this send is the one that repairs
	 * it, whether or not receives take the same lock.
	 */
	fill(ch, 1, MAX_MSG);
	ck_assert_uint_eq(recoveries_of(ch), 1);
	expect_queue(ch, 0, 0);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

/*
 * A receiver dies taking its second message of three: between copy and
 * release it stays queued for the next receiver; after release it is lost,
 * the documented window.
 */
START_TEST(fault_torn_recv)
{
	static const char *const points[] = {
	    "recv-copied@2",
	    "recv-released@2",
	};
	const bool released = _i == 1;
	struct worker victim = {NULL, 0, 3, 0, -1, 0};
	struct chan_info info;
	char name[64];
	struct chan *ch;
	int devnull;

	crash_name(name, sizeof(name), "torn-recv");
	ch = crash_create(name, 8, MAX_MSG);
	ck_assert_ptr_nonnull(ch);
	fill(ch, 3, MAX_MSG);
	devnull = open("/dev/null", O_WRONLY);
	victim.name = name;
	victim.log_fd = devnull;
	assert_killed(crash_spawn(receive_messages, &victim, points[_i]),
		      points[_i]);
	close(devnull);

	ck_assert_int_eq(chan_info(ch, &info), 0);
	ck_assert_uint_eq(info.depth, released ? 1 : 2);
	ck_assert_uint_eq(info.msgs_received, released ? 2 : 1);
	expect_queue(ch, released ? 2 : 1, 2);
	ck_assert_uint_eq(recoveries_of(ch), 1);
	assert_usable(ch, points[_i]);
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

/* Wait until the channel reports want senders waiting, at most 5 s. */
static void wait_for_send_waiters(struct chan *ch, uint32_t want)
{
	uint64_t deadline = crash_now_ns() + 5 * SEC_NS;
	struct chan_info info;

	do {
		ck_assert_int_eq(chan_info(ch, &info), 0);
		if (info.send_waiters >= want)
			return;
		crash_sleep_us(1000);
	} while (crash_now_ns() < deadline);
	ck_abort_msg("only %u senders waiting after 5 s", info.send_waiters);
}

/*
 * B and C wait on a full channel while A dies holding the lock; a drain
 * lets both finish within a second.
 */
START_TEST(fault_waiters_dead_owner)
{
	uint8_t buf[MAX_MSG];
	uint64_t start;
	char name[64];
	struct chan *ch;
	pid_t b, c;
	size_t len;

	crash_name(name, sizeof(name), "waiters");
	ch = crash_create(name, 2, MAX_MSG);
	ck_assert_ptr_nonnull(ch);
	fill(ch, 2, 64);
	b = crash_spawn(send_one, name, NULL);
	c = crash_spawn(send_one, name, NULL);
	wait_for_send_waiters(ch, 2);
	assert_killed(crash_spawn(try_send_one, name, "locked"), "holder A");

	start = crash_now_ns();
	expect_take(ch, 0, 1);
	assert_exit_ok(b, 1000, "sender B");
	assert_exit_ok(c, 1000, "sender C");
	ck_assert_msg(crash_now_ns() - start < SEC_NS,
		      "waiting senders took over 1 s after the drain");
	ck_assert_uint_eq(recoveries_of(ch), 1);

	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(chan_try_recv(ch, buf, sizeof(buf), &len), 0);
		ck_assert_uint_eq(record_of(buf, len), CRASH_REC(7, 0));
	}
	chan_detach(ch);
	ck_assert_int_eq(chan_remove(name), 0);
}
END_TEST

static Suite *fault_suite(void)
{
	Suite *s = suite_create("crash_fault");
	TCase *tc = tcase_create("fault");

	tcase_add_unchecked_fixture(tc, crash_dir_setup, crash_dir_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, fault_point_matrix, 0,
			    sizeof(fault_cases) / sizeof(fault_cases[0]));
	tcase_add_test(tc, fault_lock_owner_died);
	tcase_add_test(tc, fault_mutex_kind);
	tcase_add_test(tc, fault_recovered_dies);
	tcase_add_loop_test(tc, fault_torn_send, 0, 2);
	tcase_add_loop_test(tc, fault_torn_recv, 0, 2);
	tcase_add_test(tc, fault_waiters_dead_owner);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif /* CHAN_FAULT_INJECTION */
