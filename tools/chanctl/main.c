/* SPDX-License-Identifier: MIT */
/* chanctl: create, inspect, feed and drain chan channels from the shell. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "chanctl.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

/*
 * The verbs, in the order of the help.  Each option line has the form
 * "  -x, --long VALUE   description", aligned by hand.
 */
/* clang-format off */
static const struct verb verbs[] = {
	{
		.name = "create",
		.synopsis = "[OPTIONS] NAME",
		.summary = "Create a channel",
		.options =
"      --capacity N     maximum number of queued messages (default "
				STRINGIFY(CHAN_CAPACITY_DEFAULT) ")\n"
"      --msg-size SIZE  maximum message size in bytes, with an optional\n"
"                       suffix K, M or G, powers of 1024 (default "
				STRINGIFY(CHAN_MSG_SIZE_DEFAULT) ")\n"
"      --mode OCTAL     permission bits of the segment, 0001 to 0777\n"
"                       (default 0600)\n"
"      --owner USER     owner of the segment, a name or a user id\n"
"                       (default: the caller)\n"
"      --group GROUP    group of the segment, a name or a group id\n"
"                       (default: the caller's group)\n"
"      --exist-ok       attach to an existing channel of the same capacity\n"
"                       and message size instead of failing\n"
"      --track-peers    end the channel when a side is gone: receivers\n"
"                       stop once every sender has exited, and sends fail\n"
"                       once every receiver has exited\n",
		.min_operands = 1,
		.max_operands = 1,
		.run = verb_create,
	},
	{
		.name = "ls",
		.synopsis = "[OPTIONS]",
		.summary = "List channels, and which ones the bus manages",
		.options =
"      --json           print JSON instead of a table\n"
"      --no-legend      omit the header line\n",
		.min_operands = 0,
		.max_operands = 0,
		.run = verb_ls,
	},
	{
		.name = "info",
		.synopsis = "[OPTIONS] NAME",
		.summary = "Show the geometry, state, counters and peers of a "
			   "channel",
		.options =
"      --json           print JSON instead of a table\n"
"      --no-legend      omit the header line\n",
		.min_operands = 1,
		.max_operands = 1,
		.run = verb_info,
	},
	{
		.name = "send",
		.synopsis = "[OPTIONS] NAME [MESSAGE...]",
		.summary = "Send each MESSAGE, or messages read from standard input",
		.options =
"  -0, --null           read NUL-terminated messages instead of lines\n"
"      --raw            read the bytes of standard input in chunks of the\n"
"                       maximum message size\n"
"      --timeout SECONDS\n"
"                       wait at most SECONDS (such as 0.5) for space for\n"
"                       each message\n"
"      --nonblock       fail at once when the channel is full\n"
"      --close          close the channel after the last message\n",
		.min_operands = 1,
		.max_operands = UINT_MAX,
		.run = verb_send,
	},
	{
		.name = "recv",
		.synopsis = "[OPTIONS] NAME",
		.summary = "Receive messages and write them to standard output",
		.options =
"  -0, --null           end each message with a NUL instead of a newline\n"
"      --raw            write the messages exactly, adding nothing\n"
"  -n, --count COUNT    stop after COUNT messages\n"
"      --timeout SECONDS\n"
"                       fail when no message arrives within SECONDS\n"
"      --nonblock       take the messages queued now, then stop\n",
		.min_operands = 1,
		.max_operands = 1,
		.run = verb_recv,
	},
	{
		.name = "watch",
		.synopsis = "[OPTIONS] [NAME...]",
		.summary = "Show the depth and rates of channels, refreshed live",
		.options =
"      --interval SECONDS\n"
"                       refresh every SECONDS, such as 0.5 (default 1)\n"
"  -n, --count COUNT    stop after COUNT refreshes\n"
"      --json           print one JSON object per refresh, one per line\n"
"      --no-legend      omit the header lines\n",
		.min_operands = 0,
		.max_operands = UINT_MAX,
		.run = verb_watch,
	},
	{
		.name = "close",
		.synopsis = "NAME",
		.summary = "Close a channel: sends fail, receivers drain it",
		.options = "",
		.min_operands = 1,
		.max_operands = 1,
		.run = verb_close,
	},
	{
		.name = "rm",
		.synopsis = "[--force] NAME...",
		.summary = "Remove channels",
		.options =
"  -f, --force          ignore channels that do not exist\n",
		.min_operands = 1,
		.max_operands = UINT_MAX,
		.run = verb_rm,
	},
};
/* clang-format on */

#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

static const char exit_status_help[] =
    "Exit status:\n"
    "  0    success\n"
    "  1    other failure\n"
    "  2    usage error\n"
    "  3    channel not found\n"
    "  4    timed out, or the channel is full (send --nonblock)\n"
    "  5    channel closed, or every receiver gone (send)\n"
    "  6    channel exists (create)\n"
    "  130  interrupted by SIGINT; 143 by SIGTERM (128 + signal)\n"
    "\nEnvironment:\n"
    "  CHAN_SHM_DIR    directory of the segments (default /dev/shm)\n"
    "  CHAN_BUS_STATE  state file of chanbusd (default "
    "/run/chan-bus/channels)\n";

void verb_help(const struct verb *verb)
{
	printf("Usage: chanctl %s %s\n\n%s.\n\nOptions:\n%s"
	       "  -h, --help           show this help\n\n%s",
	       verb->name, verb->synopsis, verb->summary, verb->options,
	       exit_status_help);
}

static void print_help(void)
{
	printf("Usage: chanctl VERB [OPTIONS] [OPERANDS]\n"
	       "       chanctl --help | --version\n\n"
	       "Create, inspect, feed and drain chan message channels in "
	       "shared memory.\n\nVerbs:\n");
	for (size_t i = 0; i < VERB_COUNT; i++)
		printf("  %-7s %s\n", verbs[i].name, verbs[i].summary);
	printf("\nRun 'chanctl VERB --help' for the options of a verb.\n\n%s",
	       exit_status_help);
}

static void log_verb_list(const char *problem, const char *arg)
{
	fprintf(stderr, "chanctl: %s", problem);
	if (arg != NULL)
		fprintf(stderr, " \"%s\"", arg);
	fputs("; use one of", stderr);
	for (size_t i = 0; i < VERB_COUNT; i++)
		fprintf(stderr, "%s %s", i > 0 ? "," : "", verbs[i].name);
	fputs(", or see 'chanctl --help'\n", stderr);
}

/* Verbs match exactly: an abbreviation would change meaning over time. */
static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < VERB_COUNT; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct verb *verb;

	if (argc < 2) {
		log_verb_list("missing verb", NULL);
		return CHANCTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_help();
		return CHANCTL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("chanctl %s\n", CHANCTL_VERSION);
		return CHANCTL_EXIT_OK;
	}
	if (argv[1][0] == '-') {
		log_verb_list("unknown option", argv[1]);
		return CHANCTL_EXIT_USAGE;
	}

	verb = find_verb(argv[1]);
	if (verb == NULL) {
		log_verb_list("unknown verb", argv[1]);
		return CHANCTL_EXIT_USAGE;
	}
	return verb->run(verb, argc - 1, argv + 1);
}
