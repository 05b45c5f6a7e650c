/* SPDX-License-Identifier: MIT */
/*
 * Print each message of a channel on a line of its own until the channel
 * is closed and drained.  Waits for the channel to appear, so that it can
 * start before the producer.
 *
 *   consumer NAME
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include <chan.h>

static int attach_when_created(const char *name, struct chan **ret)
{
	const struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
	int r;

	for (int attempt = 0; attempt < 1000; attempt++) {
		r = chan_attach(name, ret);
		if (r != -ENOENT)
			return r;
		nanosleep(&pause, NULL);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct chan *ch;
	char msg[64];
	size_t len;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: consumer NAME\n");
		return 2;
	}

	r = attach_when_created(argv[1], &ch);
	if (r < 0) {
		fprintf(stderr, "consumer: cannot attach to \"%s\": %s\n",
			argv[1], chan_strerror(r));
		return 1;
	}

	while ((r = chan_recv(ch, msg, sizeof(msg), &len)) == 0)
		printf("%.*s\n", (int)len, msg);

	chan_detach(ch);
	if (r != -EPIPE) {
		fprintf(stderr, "consumer: receive from \"%s\": %s\n", argv[1],
			chan_strerror(r));
		return 1;
	}
	return 0;
}
