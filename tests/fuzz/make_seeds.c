/* SPDX-License-Identifier: MIT */
/*
 * Write the seed corpus of fuzz_attach: small valid segments made by the
 * library, in several states, and corrupt variants of them.  Usage:
 * make_seeds DIR.  Seeds hold this machine's ABI (pointer and mutex
 * size), so regenerate them on another architecture.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan.h"
#include "segment.h"

static char tmp_dir[64];
static const char *out_dir;

static void die(const char *what, int err)
{
	fprintf(stderr, "make_seeds: %s: %s\n", what, chan_strerror(err));
	exit(1);
}

/* Read the segment file of name; returns malloc'd bytes. */
static uint8_t *read_segment(const char *name, size_t *ret_size)
{
	char path[256];
	struct stat st;
	uint8_t *bytes;
	int fd;

	snprintf(path, sizeof(path), "%s/" CHAN_SHM_PREFIX "%s", tmp_dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path, errno);
	bytes = malloc((size_t)st.st_size);
	if (bytes == NULL || read(fd, bytes, (size_t)st.st_size) != st.st_size)
		die(path, EIO);
	close(fd);
	unlink(path);
	*ret_size = (size_t)st.st_size;
	return bytes;
}

static void write_seed(const char *seed, const uint8_t *bytes, size_t size)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", out_dir, seed);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, bytes, size) != (ssize_t)size)
		die(path, errno);
	close(fd);
}

/*
 * Make a channel of the geometry, send sends messages and take takes of
 * them, close it if asked, and return the segment's bytes.
 */
static uint8_t *make(const char *name, uint64_t capacity, uint64_t msg_size,
		     int sends, int takes, int closed, size_t *ret_size)
{
	struct chan_params p;
	uint8_t buf[256];
	struct chan *ch;
	size_t len;
	int r;

	chan_params_init(&p);
	p.capacity = capacity;
	p.max_msg_size = msg_size;
	r = chan_create(name, &p, &ch);
	if (r < 0)
		die("chan_create", r);
	for (int i = 0; i < sends; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		if (i >= takes + (int)capacity)
			die("too many sends", EINVAL);
		r = chan_try_send(ch, buf, (size_t)(i + 1) % (msg_size + 1));
		if (r < 0)
			die("chan_try_send", r);
		if (i < takes) {
			r = chan_try_recv(ch, buf, sizeof(buf), &len);
			if (r < 0)
				die("chan_try_recv", r);
		}
	}
	if (closed)
		chan_close(ch);
	chan_detach(ch);
	return read_segment(name, ret_size);
}

static void write_corrupt_variants(uint8_t *bytes, size_t size)
{
	struct chan_seg *seg = (struct chan_seg *)bytes;
	struct chan_seg saved = *seg;
	struct chan_slot *slot =
	    (struct chan_slot *)(bytes + CHAN_SEG_HEADER_SIZE);

	seg->magic ^= 0xff;
	write_seed("bad-magic", bytes, size);
	*seg = saved;
	seg->version = CHAN_SEG_VERSION + 1;
	write_seed("bad-version", bytes, size);
	*seg = saved;
	seg->capacity++;
	write_seed("bad-geometry", bytes, size);
	*seg = saved;
	write_seed("bad-truncated", bytes, size - 1);
	seg->tail = seg->head + seg->capacity + 1;
	write_seed("bad-tail", bytes, size);
	*seg = saved;
	seg->head = seg->tail + 1;
	write_seed("bad-head", bytes, size);
	*seg = saved;
	slot->len = UINT32_MAX;
	write_seed("bad-slot-len", bytes, size);
}

int main(int argc, char **argv)
{
	uint8_t *bytes;
	size_t size;

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	out_dir = argv[1];
	snprintf(tmp_dir, sizeof(tmp_dir), "/dev/shm/chan-seeds-XXXXXX");
	if (mkdtemp(tmp_dir) == NULL)
		die("mkdtemp", errno);
	setenv("CHAN_SHM_DIR", tmp_dir, 1);

	bytes = make("empty", 1, 16, 0, 0, 0, &size);
	write_seed("valid-empty", bytes, size);
	free(bytes);
	bytes = make("full", 2, 32, 2, 0, 0, &size);
	write_seed("valid-full", bytes, size);
	free(bytes);
	bytes = make("wrapped", 4, 8, 6, 3, 0, &size);
	write_seed("valid-wrapped", bytes, size);
	free(bytes);
	bytes = make("closed", 2, 16, 1, 0, 1, &size);
	write_seed("valid-closed", bytes, size);
	free(bytes);

	bytes = make("corrupt", 2, 16, 1, 0, 0, &size);
	write_corrupt_variants(bytes, size);
	free(bytes);
	rmdir(tmp_dir);
	return 0;
}
