/* SPDX-License-Identifier: MIT */
/*
 * A minimal channel client for the bus tests, run inside the systemd box
 * as an unprivileged user:
 *
 *   bus_client send NAME TEXT      send TEXT as one message
 *   bus_client recv NAME SECONDS   receive one message and print it
 *   bus_client info NAME           print mode, owner, group, state
 *
 * Exit status: 0 on success, 3 at end of channel (-EPIPE), 4 on timeout,
 * 1 on any other error, 2 on a usage error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"

static int exit_code(int err)
{
	if (err == -EPIPE)
		return 3;
	if (err == -ETIMEDOUT)
		return 4;
	return 1;
}

static int do_recv(struct chan *ch, const char *seconds)
{
	uint64_t timeout_ns = strtoull(seconds, NULL, 10) * 1000000000ull;
	char buf[4096];
	size_t len;
	int r;

	r = chan_recv_timeout(ch, buf, sizeof(buf), &len, timeout_ns);
	if (r < 0)
		return r;
	printf("%.*s\n", (int)len, buf);
	return 0;
}

static int do_info(struct chan *ch)
{
	struct chan_info info;
	int r;

	r = chan_info(ch, &info);
	if (r < 0)
		return r;
	printf("mode %04o owner %u group %u capacity %llu depth %llu "
	       "closed %d\n",
	       (unsigned)info.mode, (unsigned)info.owner, (unsigned)info.group,
	       (unsigned long long)info.capacity,
	       (unsigned long long)info.depth, info.closed);
	return 0;
}

int main(int argc, char **argv)
{
	struct chan *ch;
	int r;

	if (argc < 3) {
		fprintf(stderr,
			"usage: bus_client send|recv|info NAME [ARG]\n");
		return 2;
	}
	r = chan_attach(argv[2], &ch);
	if (r < 0) {
		fprintf(stderr, "bus_client: failed to attach to %s: %s\n",
			argv[2], chan_strerror(r));
		return exit_code(r);
	}
	if (strcmp(argv[1], "send") == 0 && argc == 4)
		r = chan_send(ch, argv[3], strlen(argv[3]));
	else if (strcmp(argv[1], "recv") == 0 && argc == 4)
		r = do_recv(ch, argv[3]);
	else if (strcmp(argv[1], "info") == 0 && argc == 3)
		r = do_info(ch);
	else
		r = -EINVAL;
	chan_detach(ch);
	if (r < 0) {
		fprintf(stderr, "bus_client: %s on %s failed: %s\n", argv[1],
			argv[2], chan_strerror(r));
		return exit_code(r);
	}
	return 0;
}
