/* SPDX-License-Identifier: MIT */
/*
 * Send the numbers 0 to 99 on a channel, one message each, then close it
 * so that the consumer sees end-of-channel.
 *
 *   producer NAME
 */
#include <stdio.h>
#include <string.h>

#include <chan.h>

int main(int argc, char **argv)
{
	struct chan_params params;
	struct chan *ch;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: producer NAME\n");
		return 2;
	}

	chan_params_init(&params);
	params.capacity = 16;
	params.max_msg_size = 64;
	params.flags = CHAN_EXIST_OK;
	r = chan_create(argv[1], &params, &ch);
	if (r < 0) {
		fprintf(stderr, "producer: cannot create channel \"%s\": %s\n",
			argv[1], chan_strerror(r));
		return 1;
	}

	for (int i = 0; i < 100; i++) {
		char text[16];
		int len = snprintf(text, sizeof(text), "%d", i);

		r = chan_send(ch, text, (size_t)len);
		if (r < 0) {
			fprintf(stderr, "producer: send %d to \"%s\": %s\n", i,
				argv[1], chan_strerror(r));
			chan_detach(ch);
			return 1;
		}
	}

	chan_close(ch);
	chan_detach(ch);
	return 0;
}
