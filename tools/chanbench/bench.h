/* SPDX-License-Identifier: MIT */
/*
 * chanbench: compare chan with pipes, Unix sockets, POSIX message queues
 * and a spinning shared-memory ring, between separate processes.
 */
#ifndef CHANBENCH_H
#define CHANBENCH_H

#include <mqueue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chan.h"

#define MAX_PROCS   8  /* processes in one measurement */
#define MAX_SENDERS 4  /* senders in the multi-process test */
#define NAME_LEN    96 /* object names, with room for "/dev/shm/chan." */
#define ERR_LEN	    320
#define BATCH_MAX   256 /* messages per chan_send_batch call */

/* Every message starts with this header; the pattern fills the rest. */
struct msg_hdr {
	uint64_t seq;
	uint32_t len;
	uint32_t sender;
};

#define MSG_MIN_SIZE ((size_t)sizeof(struct msg_hdr))
#define MSG_MAX_SIZE ((size_t)16 << 20)

void msg_fill(void *buf, size_t len, uint64_t seq, uint32_t sender);
int msg_verify(const void *buf, size_t len, struct msg_hdr *ret_hdr, char *why,
	       size_t why_size);

/* One direction of a transport, created by the parent before any fork. */
struct link {
	const struct transport *t;
	char name[NAME_LEN]; /* for objects opened by name */
	int fd[2];	     /* for pipes and socket pairs */
	size_t msg_size;     /* largest message, in bytes */
	uint64_t capacity;   /* messages, for chan and the SPSC ring */
	bool created;
};

/* A process's open end of a link. */
struct endpoint {
	const struct link *link;
	bool tx;
	int fd;
	struct chan *ch;
	mqd_t mq;
	struct spsc *ring;
	uint64_t pos;	 /* SPSC: next index to write or read */
	uint64_t cached; /* SPSC: last index seen of the other side */
	uint8_t *rbuf;	 /* stream receive buffer */
	size_t rbuf_size;
	size_t rbuf_start;
	size_t rbuf_end;
};

/* The kind of name a transport's objects get, which says how to remove them. */
enum naming {
	NAMING_NONE, /* inherited descriptors, nothing to remove */
	NAMING_CHAN, /* a chan name: the file CHAN_SHM_PREFIX + name */
	NAMING_SHM,  /* a shm_open(3) name */
	NAMING_MQ,   /* an mq_open(3) name */
};

struct transport {
	const char *name; /* used by --only and in the output */
	enum naming naming;
	const char *label; /* what it is, for the help text */
	/* Return 0 if len fits, or -EMSGSIZE with why filled in. */
	int (*fits)(size_t len, char *why, size_t why_size);
	int (*create)(struct link *link);
	int (*open)(const struct link *link, bool tx, struct endpoint *ep);
	int (*send)(struct endpoint *ep, const void *buf, size_t len);
	int (*recv)(struct endpoint *ep, void *buf, size_t size,
		    size_t *ret_len);
	void (*close)(struct endpoint *ep);
	void (*destroy)(struct link *link);
};

extern const struct transport *const transports[];
extern const size_t transport_count;
const struct transport *transport_find(const char *name);
const char *transport_chan_path(const char *name, char *buf, size_t size);

/* The SPSC reference ring (spsc.c). */
int spsc_create(struct link *link);
int spsc_open(const struct link *link, bool tx, struct endpoint *ep);
int spsc_send(struct endpoint *ep, const void *buf, size_t len);
int spsc_recv(struct endpoint *ep, void *buf, size_t size, size_t *ret_len);
void spsc_close(struct endpoint *ep);
void spsc_destroy(struct link *link);
void spin_pause(unsigned *spins);

/* The report of one child process, in the shared control page. */
struct proc_result {
	int64_t t_start_ns;
	int64_t t_end_ns;
	uint64_t count;
	uint64_t bytes;
	struct {
		uint64_t count;
		uint64_t sum;
		uint64_t sum_sq;
	} from[MAX_SENDERS];
	double p50_ns, p99_ns, p999_ns;
	double cpu_ms;
	double wall_s;
	uint64_t vol_switches;	 /* multi: context switches while timed, */
	uint64_t invol_switches; /* voluntary (sleeps) and involuntary */
	char err[ERR_LEN];
};

struct ctl {
	uint32_t ready;	       /* children attached and waiting to start */
	uint32_t blocked;      /* idle test: the receiver is about to wait */
	uint32_t senders_done; /* multi test: senders that have finished */
	struct proc_result res[MAX_PROCS];
};

struct job;
typedef int (*role_fn)(struct job *job, int index, struct proc_result *res);

struct job {
	char what[64]; /* "pipe 64 B", for messages */
	const struct transport *t;
	struct link links[2];
	size_t nlinks;
	size_t size;	/* message size in bytes */
	uint64_t count; /* messages per sender, or round trips */
	unsigned batch; /* chan: messages per batch call, or 1 */
	int nsenders;
	int nprocs;
	role_fn roles[MAX_PROCS];
	/* Runs in the parent while the children run, if set. */
	int (*parent)(struct job *job);
	double idle_s;
	uint64_t corrupt_seq; /* UINT64_MAX: corrupt nothing */
	struct ctl *ctl;
	pid_t pids[MAX_PROCS];
	int status[MAX_PROCS];
};

/* Settings shared by the whole run (main.c). */
struct config {
	bool quick, smoke, json, pin;
	unsigned passes;
	double target_s;  /* wanted duration of one timed pass */
	double idle_s;	  /* idle test window */
	double timeout_s; /* a measurement that runs longer has hung */
	uint64_t capacity;
	uint64_t batch; /* --batch: messages per chan batch call */
	uint64_t corrupt_seq;
	int cpus[256];
	int ncpus;
	long mq_msg_max;
	long mq_msgsize_max;
};

extern struct config cfg;

/* Processes, cleanup and signals (runner.c). */
void runner_init(void);
int job_run(struct job *job);
int job_wait_flag(struct job *job, const uint32_t *flag);
void job_barrier(struct job *job);
int link_create(struct link *link, const struct transport *t, size_t size);
void link_destroy(struct link *link);
void cleanup_all(void);
int leak_check(void);
const char *name_prefix(void);
void make_name(char *buf, size_t size, const char *kind);
int64_t now_ns(void);
void fail(struct proc_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The measurements (measure.c). */
#define MAX_PASSES 15

enum test_kind {
	TEST_THROUGHPUT,
	TEST_LATENCY,
	TEST_MULTI,
};

/*
 * One figure measured over several passes.  values[p] is pass p:
 * messages per second for throughput; for multi, that and the voluntary
 * and involuntary context switches of all processes per 1000 messages;
 * or the p50, p99 and p99.9 round trip in microseconds for latency.
 */
struct series {
	enum test_kind kind;
	const struct transport *t;
	size_t size;
	int pairs;	/* multi: senders, and as many receivers */
	unsigned batch; /* chan: messages per batch call, or 1 */
	uint64_t count; /* messages (in all) or round trips per pass */
	unsigned npasses;
	double values[MAX_PASSES][3];
	double median[3];
	bool done;
};

struct idle_result {
	uint64_t burst; /* messages received before the window */
	double window_s;
	double cpu_ms;
	double cpu_ms_per_s;
};

/* A transport's name in the output: "chan-batch32" for chan in batches. */
const char *transport_row_name(const struct transport *t, unsigned batch,
			       char *buf, size_t size);
int series_calibrate(struct series *se);
int series_pass(struct series *se);
void series_finish(struct series *se);
double median(double *v, unsigned n);
int measure_idle(bool after_burst, struct idle_result *ret);

#endif /* CHANBENCH_H */
