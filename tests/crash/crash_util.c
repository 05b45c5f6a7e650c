/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crash_util.h"

static char dir_path[64];
static unsigned name_counter;

void crash_dir_setup(void)
{
	snprintf(dir_path, sizeof(dir_path), "/dev/shm/chan-crash-%d-XXXXXX",
		 (int)getpid());
	if (mkdtemp(dir_path) == NULL) {
		perror("mkdtemp");
		abort();
	}
	setenv("CHAN_SHM_DIR", dir_path, 1);
	unsetenv("CHAN_FAULT");
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void crash_dir_teardown(void)
{
	if (dir_path[0] != '\0')
		nftw(dir_path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	dir_path[0] = '\0';
}

const char *crash_dir(void)
{
	return dir_path;
}

void crash_name(char *buf, size_t size, const char *tag)
{
	snprintf(buf, size, "%s-%d-%u", tag, (int)getpid(), name_counter++);
}

void crash_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/" CHAN_SHM_PREFIX "%s", dir_path, name);
}

uint64_t crash_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void crash_sleep_us(unsigned us)
{
	struct timespec ts = {
	    .tv_sec = us / 1000000,
	    .tv_nsec = (long)(us % 1000000) * 1000,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

pid_t crash_spawn(int (*fn)(void *), void *arg, const char *fault)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (fault != NULL)
		setenv("CHAN_FAULT", fault, 1);
	_exit(fn(arg));
}

int crash_wait(pid_t pid, int timeout_ms)
{
	uint64_t deadline = crash_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return CRASH_WAIT_FAILED;
		if (crash_now_ns() > deadline)
			break;
		crash_sleep_us(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return CRASH_HUNG;
}

const char *crash_status_str(int status, char *buf, size_t size)
{
	if (status == CRASH_HUNG)
		snprintf(buf, size, "hung and was killed");
	else if (status == CRASH_WAIT_FAILED)
		snprintf(buf, size, "could not be waited for: %s",
			 strerror(errno));
	else if (WIFEXITED(status) && WEXITSTATUS(status) >= CRASH_EXIT_ERRNO)
		snprintf(
		    buf, size, "exited with %d: a call returned %s",
		    WEXITSTATUS(status),
		    chan_error_name(WEXITSTATUS(status) - CRASH_EXIT_ERRNO));
	else if (WIFEXITED(status))
		snprintf(buf, size, "exited with %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "wait status 0x%x", status);
	return buf;
}

bool crash_killed_by(int status, int sig)
{
	return status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == sig;
}

bool crash_exited_ok(int status)
{
	return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* xorshift64*, seeded from the message identity. */
static uint64_t payload_word(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

static void fill_payload(uint8_t *p, size_t n, uint32_t writer, uint64_t seq)
{
	uint64_t state = ((uint64_t)writer << 40 ^ seq) * 0x9e3779b97f4a7c15u;
	uint64_t word = 0;

	state |= 1;
	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			word = payload_word(&state);
		p[i] = (uint8_t)(word >> (i % 8 * 8));
	}
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

void crash_msg_build(void *buf, size_t len, uint32_t writer, uint64_t seq)
{
	struct crash_msg *m = buf;
	uint8_t *payload = (uint8_t *)(m + 1);
	size_t n = len - sizeof(*m);

	fill_payload(payload, n, writer, seq);
	m->writer = writer;
	m->len = (uint32_t)len;
	m->seq = seq;
	m->sum = fnv1a(payload, n);
}

int crash_msg_check(const void *buf, size_t len, uint32_t *writer,
		    uint64_t *seq)
{
	const struct crash_msg *m = buf;
	const uint8_t *payload = (const uint8_t *)(m + 1);
	uint8_t *expected;
	size_t n;
	int r = 0;

	if (len < sizeof(*m) || m->len != len)
		return -1;
	n = len - sizeof(*m);
	if (fnv1a(payload, n) != m->sum)
		return -1;
	expected = malloc(n + 1);
	if (expected == NULL)
		abort();
	fill_payload(expected, n, m->writer, m->seq);
	if (memcmp(expected, payload, n) != 0)
		r = -1;
	free(expected);
	if (r == 0) {
		*writer = m->writer;
		*seq = m->seq;
	}
	return r;
}

size_t crash_msg_len(uint64_t seq, size_t max)
{
	size_t min = sizeof(struct crash_msg);

	return min + (size_t)(seq * 2654435761u % (max - min + 1));
}

int crash_exit_code(int err)
{
	err = err < 0 ? -err : err;
	return err < 255 - CRASH_EXIT_ERRNO ? CRASH_EXIT_ERRNO + err : 255;
}

void crash_log(int fd, uint64_t record)
{
	if (write(fd, &record, sizeof(record)) != (ssize_t)sizeof(record))
		_exit(120);
}

size_t crash_read_log(int fd, uint64_t **ret)
{
	size_t n = 0, allocated = 64;
	uint64_t *recs = malloc(allocated * sizeof(*recs));
	ssize_t got;

	if (recs == NULL)
		abort();
	for (;;) {
		if (n == allocated) {
			allocated *= 2;
			recs = realloc(recs, allocated * sizeof(*recs));
			if (recs == NULL)
				abort();
		}
		got = read(fd, &recs[n], sizeof(*recs));
		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)sizeof(*recs))
			break;
		n++;
	}
	*ret = recs;
	return n;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

size_t crash_sort_count_dups(uint64_t *recs, size_t n)
{
	size_t dups = 0;

	qsort(recs, n, sizeof(*recs), compare_u64);
	for (size_t i = 1; i < n; i++)
		if (recs[i] == recs[i - 1])
			dups++;
	return dups;
}

bool crash_contains(const uint64_t *sorted, size_t n, uint64_t rec)
{
	return bsearch(&rec, sorted, n, sizeof(rec), compare_u64) != NULL;
}

struct chan_seg *crash_seg_map(const char *name, size_t *ret_size)
{
	char path[512];
	struct stat st;
	void *map;
	int fd;

	crash_path(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(struct chan_seg)) {
		close(fd);
		return NULL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return NULL;
	*ret_size = (size_t)st.st_size;
	return map;
}

void crash_seg_unmap(struct chan_seg *seg, size_t size)
{
	munmap(seg, size);
}

size_t crash_seg_mutexes(struct chan_seg *seg, pthread_mutex_t **out)
{
	out[0] = &seg->send_lock.mutex;
	out[1] = &seg->recv_lock.mutex;
	return 2;
}

struct chan *crash_create(const char *name, uint64_t capacity,
			  uint64_t max_msg_size)
{
	struct chan_params p;
	struct chan *ch;

	chan_params_init(&p);
	p.capacity = capacity;
	p.max_msg_size = max_msg_size;
	if (chan_create(name, &p, &ch) < 0)
		return NULL;
	return ch;
}
