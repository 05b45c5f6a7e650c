/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the input is a whole segment file.  It is written to
 * a private directory under /dev/shm, attached, inspected, received from
 * and sent to.  Any crash, sanitizer report or hang is a bug: chan_attach
 * must reject what it cannot use, and every later call must stay inside
 * the mapping whatever the header, indices and slots contain.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"

#define FUZZ_NAME "fuzz"

static char dir_path[64];
static char file_path[128];

static void remove_dir(void)
{
	unlink(file_path);
	rmdir(dir_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir_path, sizeof(dir_path), "/dev/shm/chan-fuzz-%d-XXXXXX",
		 (int)getpid());
	if (mkdtemp(dir_path) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(file_path, sizeof(file_path), "%s/" CHAN_SHM_PREFIX FUZZ_NAME,
		 dir_path);
	setenv("CHAN_SHM_DIR", dir_path, 1);
	atexit(remove_dir);
	return 0;
}

static int write_segment(const uint8_t *data, size_t size)
{
	int fd =
	    open(file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, size);
	close(fd);
	return n == (ssize_t)size ? 0 : -1;
}

/* Call everything a peer could on the attached channel. */
static void exercise(struct chan *ch)
{
	static uint8_t buf[1 << 16];
	struct chan_info info;
	size_t len = 0;

	chan_info(ch, &info);
	for (int i = 0; i < 3; i++) {
		if (chan_try_recv(ch, buf, sizeof(buf), &len) == 0 &&
		    len > chan_max_msg_size(ch))
			abort();
	}
	/* A too-small buffer must leave the message queued. */
	chan_try_recv(ch, buf, 1, &len);
	memset(buf, 0xa5, 64);
	chan_try_send(ch, buf, len < 64 ? len : 64);
	chan_try_send(ch, NULL, 0);
	chan_info(ch, &info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chan *ch;

	if (write_segment(data, size) < 0)
		abort();
	if (chan_attach(FUZZ_NAME, &ch) == 0) {
		exercise(ch);
		chan_detach(ch);
	}
	unlink(file_path);
	return 0;
}
