/* SPDX-License-Identifier: MIT */
/*
 * The measurements: what each child process does, and how the parent
 * turns their timestamps into rates, percentiles and CPU figures.
 *
 * Every measurement forks fresh processes that open the transport by name
 * (or use the inherited descriptors of a pipe or socket pair), meet at a
 * barrier, and only then start their clocks.  A warm-up pass, not
 * reported, calibrates the message count so that each timed pass lasts
 * about cfg.target_s; the reported figure is the median of cfg.passes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>

#include "bench.h"

#define SMOKE_MESSAGES	  64
#define SMOKE_ROUND_TRIPS 32

static int open_end(struct job *job, int link, bool tx, struct endpoint *ep,
		    struct proc_result *res)
{
	const struct link *l = &job->links[link];
	int r;

	memset(ep, 0, sizeof(*ep));
	ep->link = l;
	ep->tx = tx;
	ep->fd = -1;
	r = l->t->open(l, tx, ep);
	if (r < 0) {
		fail(res, "failed to open %s%s%s for %s: %s", l->t->name,
		     l->name[0] ? " " : "", l->name,
		     tx ? "sending" : "receiving", strerror(-r));
	}
	return r;
}

static void *alloc_buffer(size_t size, struct proc_result *res)
{
	void *buf = malloc(size);

	if (buf == NULL)
		fail(res, "out of memory for a %zu-byte buffer", size);
	return buf;
}

/* Fill message seq, and spoil it on purpose if --corrupt names it. */
static void make_message(struct job *job, void *buf, uint64_t seq,
			 uint32_t sender)
{
	msg_fill(buf, job->size, seq, sender);
	if (seq == job->corrupt_seq)
		((uint8_t *)buf)[job->size - 1] ^= 0x01;
}

static int send_one(struct job *job, struct endpoint *ep, void *buf,
		    uint64_t seq, uint32_t sender, struct proc_result *res)
{
	int r;

	make_message(job, buf, seq, sender);
	r = ep->link->t->send(ep, buf, job->size);
	if (r < 0)
		fail(res, "sending message %" PRIu64 " failed: %s", seq,
		     strerror(-r));
	return r;
}

/* Check a received message against the one expected, naming any fault. */
static int check_one(struct job *job, const void *buf, size_t len, uint64_t seq,
		     uint32_t sender, struct proc_result *res)
{
	struct msg_hdr hdr;
	char why[160];

	if (len != job->size) {
		fail(res, "message %" PRIu64 ": length %zu, expected %zu", seq,
		     len, job->size);
		return -1;
	}
	if (msg_verify(buf, len, &hdr, why, sizeof(why)) < 0) {
		fail(res, "message %" PRIu64 ": %s", seq, why);
		return -1;
	}
	if (hdr.seq != seq || hdr.sender != sender) {
		fail(res,
		     "message %" PRIu64 ": sequence number %" PRIu64
		     " from sender %" PRIu32 ", expected %" PRIu64
		     " from sender %" PRIu32,
		     seq, hdr.seq, hdr.sender, seq, sender);
		return -1;
	}
	return 0;
}

static int recv_one(struct job *job, struct endpoint *ep, void *buf,
		    uint64_t seq, uint32_t sender, struct proc_result *res)
{
	size_t len = 0;
	int r = ep->link->t->recv(ep, buf, job->size, &len);

	if (r < 0) {
		fail(res, "receiving message %" PRIu64 " failed: %s", seq,
		     strerror(-r));
		return r;
	}
	return check_one(job, buf, len, seq, sender, res);
}

/* Batches ----------------------------------------------------------------- */

/*
 * Room for job->batch messages, with the iovecs of chan_send_batch() and
 * the lengths of chan_recv_batch().  A job that does not batch has a
 * batch of one, used one message at a time through the transport.
 */
struct batch {
	uint8_t *data;
	struct iovec *iov;
	size_t *lens;
};

static void batch_free(struct batch *b)
{
	free(b->data);
	free(b->iov);
	free(b->lens);
	memset(b, 0, sizeof(*b));
}

static int batch_alloc(struct job *job, struct batch *b,
		       struct proc_result *res)
{
	size_t n = job->batch;

	memset(b, 0, sizeof(*b));
	b->data = alloc_buffer(n * job->size, res);
	if (b->data != NULL)
		b->iov = alloc_buffer(n * sizeof(*b->iov), res);
	if (b->iov != NULL)
		b->lens = alloc_buffer(n * sizeof(*b->lens), res);
	if (b->lens == NULL) {
		batch_free(b);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		b->iov[i].iov_base = b->data + i * job->size;
		b->iov[i].iov_len = job->size;
	}
	return 0;
}

/* Send messages seq to seq + n - 1 with one chan_send_batch() call. */
static int send_batch(struct job *job, struct endpoint *ep, struct batch *b,
		      uint64_t seq, size_t n, uint32_t sender,
		      struct proc_result *res)
{
	size_t sent = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		make_message(job, b->iov[i].iov_base, seq + i, sender);
	r = chan_send_batch(ep->ch, b->iov, n, &sent, CHAN_TIMEOUT_INFINITE);
	if (r < 0) {
		fail(res,
		     "sending messages %" PRIu64 " to %" PRIu64
		     " failed after %zu of them: %s",
		     seq, seq + n - 1, sent, chan_strerror(r));
	} else if (sent != n) {
		fail(res,
		     "chan_send_batch of messages %" PRIu64 " to %" PRIu64
		     " returned 0 but sent %zu of %zu",
		     seq, seq + n - 1, sent, n);
		r = -EIO;
	}
	return r;
}

/*
 * Send messages 0 to job->count - 1 as sender: one at a time through the
 * transport, or job->batch at a time with chan_send_batch().
 */
static int send_all(struct job *job, struct endpoint *ep, struct batch *b,
		    uint32_t sender, struct proc_result *res)
{
	uint64_t seq = 0;
	int r = 0;

	while (seq < job->count && r == 0) {
		uint64_t n = job->count - seq;

		if (n > job->batch)
			n = job->batch;
		if (job->batch == 1)
			r = send_one(job, ep, b->data, seq, sender, res);
		else
			r = send_batch(job, ep, b, seq, (size_t)n, sender, res);
		seq += n;
	}
	return r;
}

/*
 * Take what is queued, up to job->batch messages, into b, and store the
 * number taken in *ret_count.  A batch of one is a plain chan_recv().
 */
static int recv_some(struct job *job, struct endpoint *ep, struct batch *b,
		     size_t *ret_count)
{
	int r;

	if (job->batch == 1) {
		r = chan_recv(ep->ch, b->data, job->size, &b->lens[0]);
		*ret_count = r == 0 ? 1 : 0;
		return r;
	}
	return chan_recv_batch(ep->ch, b->data, job->batch * job->size, b->lens,
			       job->batch, ret_count, CHAN_TIMEOUT_INFINITE);
}

/* Receive and check messages 0 to job->count - 1 from sender 0. */
static int recv_all(struct job *job, struct endpoint *ep, struct batch *b,
		    struct proc_result *res)
{
	uint64_t seq = 0;
	int r = 0;

	if (job->batch == 1) {
		for (; seq < job->count && r == 0; seq++)
			r = recv_one(job, ep, b->data, seq, 0, res);
		return r;
	}
	while (seq < job->count && r == 0) {
		const uint8_t *msg = b->data;
		size_t got = 0;

		r = recv_some(job, ep, b, &got);
		if (r < 0)
			fail(res, "receiving message %" PRIu64 " failed: %s",
			     seq, chan_strerror(r));
		for (size_t i = 0; i < got && r == 0; i++) {
			r = check_one(job, msg, b->lens[i], seq++, 0, res);
			msg += b->lens[i];
		}
	}
	return r;
}

/* Streaming throughput ---------------------------------------------------- */

static int role_stream_send(struct job *job, int index, struct proc_result *res)
{
	struct endpoint ep;
	struct batch b;
	int r = -1;

	(void)index;
	if (batch_alloc(job, &b, res) < 0 ||
	    open_end(job, 0, true, &ep, res) < 0)
		goto out;
	job_barrier(job);
	res->t_start_ns = now_ns();
	r = send_all(job, &ep, &b, 0, res);
	ep.link->t->close(&ep);
out:
	batch_free(&b);
	return r;
}

static int role_stream_recv(struct job *job, int index, struct proc_result *res)
{
	struct endpoint ep;
	struct batch b;
	int r = -1;

	(void)index;
	if (batch_alloc(job, &b, res) < 0 ||
	    open_end(job, 0, false, &ep, res) < 0)
		goto out;
	job_barrier(job);
	r = recv_all(job, &ep, &b, res);
	res->t_end_ns = now_ns();
	ep.link->t->close(&ep);
out:
	batch_free(&b);
	return r;
}

const char *transport_row_name(const struct transport *t, unsigned batch,
			       char *buf, size_t size)
{
	if (batch <= 1)
		return t->name;
	snprintf(buf, size, "%s-batch%u", t->name, batch);
	return buf;
}

/* Only chan runs in batches, so other transports get a batch of 0 or 1. */
static void job_init(struct job *job, const struct transport *t, unsigned batch,
		     size_t size, const char *test)
{
	char name[32];

	memset(job, 0, sizeof(*job));
	job->t = t;
	job->batch = batch > 1 ? batch : 1;
	job->size = size;
	snprintf(job->what, sizeof(job->what), "%s %zu B %s",
		 transport_row_name(t, job->batch, name, sizeof(name)), size,
		 test);
}

static int job_links(struct job *job, size_t nlinks)
{
	for (size_t i = 0; i < nlinks; i++) {
		int r = link_create(&job->links[i], job->t, job->size);

		if (r < 0) {
			fprintf(stderr,
				"chanbench: %s: failed to create %s%s%s: %s\n",
				job->what, job->t->name,
				job->links[i].name[0] ? " " : "",
				job->links[i].name, strerror(-r));
			for (size_t j = 0; j < i; j++)
				link_destroy(&job->links[j]);
			return -1;
		}
	}
	job->nlinks = nlinks;
	return 0;
}

static void job_unlink(struct job *job)
{
	for (size_t i = 0; i < job->nlinks; i++)
		link_destroy(&job->links[i]);
}

static double seconds(int64_t ns)
{
	return ns > 0 ? (double)ns / 1e9 : 1e-9;
}

static int run_stream(const struct series *se, uint64_t count, double *ret_rate)
{
	struct job job;
	int r;

	job_init(&job, se->t, se->batch, se->size, "throughput");
	job.count = count;
	job.nprocs = 2;
	job.roles[0] = role_stream_send;
	job.roles[1] = role_stream_recv;
	if (job_links(&job, 1) < 0)
		return -1;
	r = job_run(&job);
	job_unlink(&job);
	if (r < 0)
		return -1;
	*ret_rate = (double)count / seconds(job.ctl->res[1].t_end_ns -
					    job.ctl->res[0].t_start_ns);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Messages for a warm-up pass: enough to be timed, few enough to be quick. */
static uint64_t warmup_count(size_t size)
{
	uint64_t n = ((uint64_t)32 << 20) / size;

	if (n < 500)
		return 500;
	return n > 20000 ? 20000 : n;
}

static uint64_t count_for(double rate, uint64_t min)
{
	double n = rate * cfg.target_s;

	if (n < (double)min)
		return min;
	return n > 1e8 ? 100000000 : (uint64_t)n;
}

/* Round-trip latency ------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile p (0 to 1) of n sorted samples. */
static double percentile(const int64_t *sorted, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)ceil(p * (double)n);

	return (double)sorted[rank > 0 ? rank - 1 : 0];
}

static int role_ping(struct job *job, int index, struct proc_result *res)
{
	struct endpoint tx, rx;
	int64_t *samples;
	uint8_t *buf;
	int r = -1;

	(void)index;
	buf = alloc_buffer(job->size, res);
	samples = alloc_buffer(job->count * sizeof(*samples), res);
	if (buf == NULL || samples == NULL)
		goto out;
	if (open_end(job, 0, true, &tx, res) < 0)
		goto out;
	if (open_end(job, 1, false, &rx, res) < 0)
		goto out_tx;

	job_barrier(job);
	res->t_start_ns = now_ns();
	for (uint64_t i = 0; i < job->count; i++) {
		int64_t t0 = now_ns();

		r = send_one(job, &tx, buf, i, 0, res);
		if (r == 0)
			r = recv_one(job, &rx, buf, i, 1, res);
		if (r < 0)
			break;
		samples[i] = now_ns() - t0;
	}
	res->t_end_ns = now_ns();
	if (r == 0) {
		qsort(samples, job->count, sizeof(*samples), cmp_i64);
		res->p50_ns = percentile(samples, job->count, 0.50);
		res->p99_ns = percentile(samples, job->count, 0.99);
		res->p999_ns = percentile(samples, job->count, 0.999);
	}
	rx.link->t->close(&rx);
out_tx:
	tx.link->t->close(&tx);
out:
	free(samples);
	free(buf);
	return r;
}

static int role_pong(struct job *job, int index, struct proc_result *res)
{
	struct endpoint tx, rx;
	uint8_t *buf;
	int r = -1;

	(void)index;
	buf = alloc_buffer(job->size, res);
	if (buf == NULL || open_end(job, 0, false, &rx, res) < 0)
		goto out;
	if (open_end(job, 1, true, &tx, res) < 0)
		goto out_rx;

	job_barrier(job);
	for (uint64_t i = 0; i < job->count; i++) {
		r = recv_one(job, &rx, buf, i, 0, res);
		if (r == 0)
			r = send_one(job, &tx, buf, i, 1, res);
		if (r < 0)
			break;
	}
	tx.link->t->close(&tx);
out_rx:
	rx.link->t->close(&rx);
out:
	free(buf);
	return r;
}

static int run_latency(const struct transport *t, size_t size, uint64_t count,
		       struct proc_result *ret)
{
	struct job job;
	int r;

	job_init(&job, t, 1, size, "round trip");
	job.count = count;
	job.nprocs = 2;
	job.roles[0] = role_ping;
	job.roles[1] = role_pong;
	if (job_links(&job, 2) < 0)
		return -1;
	r = job_run(&job);
	job_unlink(&job);
	if (r < 0)
		return -1;
	*ret = job.ctl->res[0];
	return 0;
}

/* Several senders and receivers on one channel ---------------------------- */

/* Store this process's voluntary and involuntary switches in ret[0], ret[1]. */
static void switches_now(uint64_t ret[2])
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	ret[0] = (uint64_t)ru.ru_nvcsw;
	ret[1] = (uint64_t)ru.ru_nivcsw;
}

/* Store in res the context switches made since switches_now(start). */
static void switches_since(const uint64_t start[2], struct proc_result *res)
{
	uint64_t now[2];

	switches_now(now);
	res->vol_switches = now[0] - start[0];
	res->invol_switches = now[1] - start[1];
}

/*
 * Each sender sends job->count messages numbered from 0, and the last one
 * to finish closes the channel, so that each receiver stops at -EPIPE once
 * the channel is drained.
 */
static int role_multi_send(struct job *job, int index, struct proc_result *res)
{
	uint64_t switches[2];
	struct endpoint ep;
	struct batch b;
	int r = -1;

	if (batch_alloc(job, &b, res) < 0 ||
	    open_end(job, 0, true, &ep, res) < 0)
		goto out;
	job_barrier(job);
	res->t_start_ns = now_ns();
	switches_now(switches);
	r = send_all(job, &ep, &b, (uint32_t)index, res);
	switches_since(switches, res);
	if (r == 0 &&
	    __atomic_add_fetch(&job->ctl->senders_done, 1, __ATOMIC_ACQ_REL) ==
		(uint32_t)job->nsenders) {
		r = chan_close(ep.ch);
		if (r < 0)
			fail(res, "chan_close failed: %s", chan_strerror(r));
	}
	ep.link->t->close(&ep);
out:
	batch_free(&b);
	return r;
}

/*
 * Messages of one sender reach a receiver in the order sent, so each
 * receiver checks that the sequence numbers from each sender increase,
 * and sums them for the parent's check that none was lost or repeated.
 */
static int take_multi(struct job *job, const void *buf, size_t len,
		      uint64_t *last, struct proc_result *res)
{
	struct msg_hdr hdr = {0};
	char why[160];
	uint64_t n = res->count;

	if (len != job->size) {
		fail(res,
		     "message %" PRIu64 " received: length %zu, expected %zu",
		     n, len, job->size);
		return -1;
	}
	if (msg_verify(buf, len, &hdr, why, sizeof(why)) < 0) {
		fail(res,
		     "message %" PRIu64 " received (sequence number %" PRIu64
		     " from sender %" PRIu32 " by its header): %s",
		     n, hdr.seq, hdr.sender, why);
		return -1;
	}
	if (hdr.sender >= (uint32_t)job->nsenders || hdr.seq >= job->count ||
	    (res->from[hdr.sender].count > 0 && hdr.seq <= last[hdr.sender])) {
		fail(res,
		     "message %" PRIu64 " received: sequence number %" PRIu64
		     " from sender %" PRIu32 " is out of order or out of range",
		     n, hdr.seq, hdr.sender);
		return -1;
	}
	last[hdr.sender] = hdr.seq;
	res->from[hdr.sender].count++;
	res->from[hdr.sender].sum += hdr.seq;
	res->from[hdr.sender].sum_sq += hdr.seq * hdr.seq;
	res->count++;
	return 0;
}

static int role_multi_recv(struct job *job, int index, struct proc_result *res)
{
	uint64_t last[MAX_SENDERS] = {0}, switches[2];
	struct endpoint ep;
	struct batch b;
	int r = -1;

	(void)index;
	if (batch_alloc(job, &b, res) < 0 ||
	    open_end(job, 0, false, &ep, res) < 0)
		goto out;
	job_barrier(job);
	switches_now(switches);
	for (;;) {
		const uint8_t *msg = b.data;
		size_t got = 0;

		r = recv_some(job, &ep, &b, &got);
		if (r == -EPIPE) {
			res->t_end_ns = now_ns();
			switches_since(switches, res);
			r = 0;
			break;
		}
		if (r < 0) {
			fail(res, "receiving message %" PRIu64 " failed: %s",
			     res->count, chan_strerror(r));
			break;
		}
		for (size_t i = 0; i < got && r == 0; i++) {
			r = take_multi(job, msg, b.lens[i], last, res);
			msg += b.lens[i];
		}
		if (r < 0)
			break;
	}
	ep.link->t->close(&ep);
out:
	batch_free(&b);
	return r;
}

/*
 * Check that every message of every sender arrived once, by the count and
 * by the sums of seq and seq squared over all receivers.
 */
static int check_multi(const struct job *job)
{
	uint64_t n = job->count;
	uint64_t want_sum = n * (n - 1) / 2;
	uint64_t want_sq = 0;

	for (uint64_t i = 0; i < n; i++)
		want_sq += i * i;

	for (int s = 0; s < job->nsenders; s++) {
		uint64_t count = 0, sum = 0, sum_sq = 0;

		for (int i = job->nsenders; i < job->nprocs; i++) {
			count += job->ctl->res[i].from[s].count;
			sum += job->ctl->res[i].from[s].sum;
			sum_sq += job->ctl->res[i].from[s].sum_sq;
		}
		if (count != n || sum != want_sum || sum_sq != want_sq) {
			fprintf(stderr,
				"chanbench: %s: sender %d: the receivers got "
				"%" PRIu64 " messages of %" PRIu64
				", or some were lost and others repeated\n",
				job->what, s, count, n);
			return -1;
		}
	}
	return 0;
}

/*
 * Run the multi test once, and store in ret the rate in messages per
 * second and the context switches of all processes per 1000 messages,
 * voluntary and involuntary, while they were timed.
 */
static int run_multi(const struct series *se, uint64_t total, double ret[3])
{
	uint64_t vol = 0, invol = 0, msgs;
	int64_t start = INT64_MAX, end = 0;
	int pairs = se->pairs;
	char layout[16];
	struct job job;
	int r;

	snprintf(layout, sizeof(layout), "%dx%d", pairs, pairs);
	job_init(&job, se->t, se->batch, se->size, layout);
	job.count = total / (uint64_t)pairs;
	job.nsenders = pairs;
	job.nprocs = 2 * pairs;
	for (int i = 0; i < pairs; i++) {
		job.roles[i] = role_multi_send;
		job.roles[pairs + i] = role_multi_recv;
	}
	if (job_links(&job, 1) < 0)
		return -1;
	r = job_run(&job);
	job_unlink(&job);
	if (r < 0 || check_multi(&job) < 0)
		return -1;

	for (int i = 0; i < job.nprocs; i++) {
		const struct proc_result *res = &job.ctl->res[i];

		if (i < pairs && res->t_start_ns < start)
			start = res->t_start_ns;
		if (i >= pairs && res->t_end_ns > end)
			end = res->t_end_ns;
		vol += res->vol_switches;
		invol += res->invol_switches;
	}
	msgs = job.count * (uint64_t)pairs;
	ret[0] = (double)msgs / seconds(end - start);
	ret[1] = (double)vol * 1000 / (double)msgs;
	ret[2] = (double)invol * 1000 / (double)msgs;
	return 0;
}

/* Calibration and passes ------------------------------------------------- */

/* Run one unreported pass of n messages, to warm up and to time it. */
static int warm_up(struct series *se, uint64_t n, double *ret_seconds)
{
	struct proc_result res;
	double rate = 0, multi[3];

	switch (se->kind) {
	case TEST_THROUGHPUT:
		if (run_stream(se, n, &rate) < 0)
			return -1;
		break;
	case TEST_LATENCY:
		if (run_latency(se->t, se->size, n, &res) < 0)
			return -1;
		rate = (double)n / seconds(res.t_end_ns - res.t_start_ns);
		break;
	case TEST_MULTI:
		if (run_multi(se, n, multi) < 0)
			return -1;
		rate = multi[0];
		break;
	}
	*ret_seconds = rate > 0 ? (double)n / rate : 1;
	return 0;
}

int series_calibrate(struct series *se)
{
	uint64_t n, min;
	double secs;

	if (cfg.smoke) {
		se->count = se->kind == TEST_LATENCY ? SMOKE_ROUND_TRIPS
						     : SMOKE_MESSAGES;
		if (se->kind == TEST_MULTI)
			se->count *= (uint64_t)se->pairs;
		return 0;
	}
	n = se->kind == TEST_LATENCY ? 2000 : warmup_count(se->size);
	min = se->kind == TEST_LATENCY ? 1000 : 200;
	if (se->kind == TEST_MULTI) {
		n = n / (uint64_t)se->pairs * (uint64_t)se->pairs;
		min *= (uint64_t)se->pairs;
	}
	if (warm_up(se, n, &secs) < 0)
		return -1;
	se->count = count_for((double)n / secs, min);
	if (se->kind == TEST_MULTI)
		se->count =
		    se->count / (uint64_t)se->pairs * (uint64_t)se->pairs;
	return 0;
}

int series_pass(struct series *se)
{
	double *v = se->values[se->npasses];
	struct proc_result res;

	switch (se->kind) {
	case TEST_THROUGHPUT:
		if (run_stream(se, se->count, &v[0]) < 0)
			return -1;
		break;
	case TEST_LATENCY:
		if (run_latency(se->t, se->size, se->count, &res) < 0)
			return -1;
		v[0] = res.p50_ns / 1e3;
		v[1] = res.p99_ns / 1e3;
		v[2] = res.p999_ns / 1e3;
		break;
	case TEST_MULTI:
		if (run_multi(se, se->count, v) < 0)
			return -1;
		break;
	}
	se->npasses++;
	return 0;
}

void series_finish(struct series *se)
{
	for (int k = 0; k < 3; k++) {
		double col[MAX_PASSES];

		for (unsigned p = 0; p < se->npasses; p++)
			col[p] = se->values[p][k];
		se->median[k] = median(col, se->npasses);
	}
	se->done = true;
}

/* CPU use of an idle receiver --------------------------------------------- */

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/*
 * Take the burst (job->count messages, possibly none), then measure the
 * CPU used while blocked in chan_recv until the parent's wake-up message
 * arrives, job->idle_s seconds later.
 */
static int role_idle_recv(struct job *job, int index, struct proc_result *res)
{
	struct endpoint ep;
	double cpu0;
	int64_t t0;
	uint8_t *buf;
	int r = -1;

	(void)index;
	buf = alloc_buffer(job->size, res);
	if (buf == NULL || open_end(job, 0, false, &ep, res) < 0)
		goto out;
	job_barrier(job);
	for (uint64_t seq = 0; seq < job->count; seq++) {
		r = recv_one(job, &ep, buf, seq, 0, res);
		if (r < 0)
			goto out_close;
	}

	cpu0 = cpu_ms();
	t0 = now_ns();
	__atomic_store_n(&job->ctl->blocked, 1, __ATOMIC_RELEASE);
	r = recv_one(job, &ep, buf, job->count, 0, res);
	res->cpu_ms = cpu_ms() - cpu0;
	res->wall_s = seconds(now_ns() - t0);
out_close:
	ep.link->t->close(&ep);
out:
	free(buf);
	return r;
}

/* Wait for the receiver to block, let it idle, then wake it. */
static int parent_idle(struct job *job)
{
	struct timespec idle = {
	    .tv_sec = (time_t)job->idle_s,
	    .tv_nsec =
		(long)((job->idle_s - (double)(time_t)job->idle_s) * 1e9),
	};
	struct chan *ch;
	uint8_t *buf;
	int r;

	if (job_wait_flag(job, &job->ctl->blocked) < 0) {
		fprintf(stderr,
			"chanbench: %s: the receiver did not start waiting\n",
			job->what);
		return -1;
	}
	nanosleep(&idle, NULL);

	buf = malloc(job->size);
	r = buf == NULL ? -ENOMEM : chan_attach(job->links[0].name, &ch);
	if (r == 0) {
		msg_fill(buf, job->size, job->count, 0);
		r = chan_send(ch, buf, job->size);
		chan_detach(ch);
	}
	free(buf);
	if (r < 0)
		fprintf(
		    stderr,
		    "chanbench: %s: failed to send the wake-up message: %s\n",
		    job->what, chan_strerror(r));
	return r;
}

int measure_idle(bool after_burst, struct idle_result *ret)
{
	const struct proc_result *res;
	struct job job;
	int r;

	job_init(&job, transports[0], 1, 64,
		 after_burst ? "idle after a burst" : "idle receiver");
	job.idle_s = cfg.idle_s;
	job.parent = parent_idle;
	if (after_burst) {
		job.count = cfg.smoke ? SMOKE_MESSAGES : 100000;
		job.nprocs = 2;
		job.roles[0] = role_stream_send;
		job.roles[1] = role_idle_recv;
	} else {
		job.nprocs = 1;
		job.roles[0] = role_idle_recv;
	}
	if (job_links(&job, 1) < 0)
		return -1;
	r = job_run(&job);
	job_unlink(&job);
	if (r < 0)
		return -1;

	res = &job.ctl->res[job.nprocs - 1];
	ret->burst = job.count;
	ret->window_s = res->wall_s;
	ret->cpu_ms = res->cpu_ms;
	ret->cpu_ms_per_s = res->cpu_ms / res->wall_s;
	return 0;
}
