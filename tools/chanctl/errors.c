/* SPDX-License-Identifier: MIT */
/* Error reporting: each failure is logged once, where it is handled. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
/* Select the NetBSD strnvis() argument order; only stravis() is used. */
#define LIBBSD_NETBSD_VIS
#include <vis.h>

#include "chanctl.h"

void log_error(const char *format, ...)
{
	va_list ap;

	fputs("chanctl: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int usage_error(const struct verb *verb, const char *format, ...)
{
	va_list ap;

	fputs("chanctl: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fprintf(stderr, "; see 'chanctl %s --help'\n", verb->name);
	return CHANCTL_EXIT_USAGE;
}

int invalid_value(const char *subject, const char *value, const char *rule)
{
	char *escaped = NULL;

	/* Show control and non-ASCII bytes as C escapes, never raw. */
	if (stravis(&escaped, value,
		    VIS_CSTYLE | VIS_OCTAL | VIS_DQ | VIS_TAB | VIS_NL) < 0)
		escaped = NULL;
	log_error("invalid %s \"%s\": %s", subject,
		  escaped != NULL ? escaped : "?", rule);
	free(escaped);
	return CHANCTL_EXIT_USAGE;
}

int option_error(const struct verb *verb, char **argv, int c)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return usage_error(verb, "option %s requires a value", arg);
	/*
	 * optopt is the letter of an unknown short option, 0 for an unknown
	 * long one, and the value of a known long option given "=VALUE"
	 * although it takes none (0x100 and up for long-only options).
	 */
	if (optopt >= 0x100)
		return usage_error(verb, "option %s takes no value", arg);
	if (optopt > 0 && optopt < 0x80)
		return usage_error(verb, "unknown option -%c", optopt);
	return usage_error(verb, "unknown option %s", arg);
}

int check_operands(const struct verb *verb, int count)
{
	if (count < 0 || (unsigned)count < verb->min_operands)
		return usage_error(verb, "missing operand: expected %s",
				   verb->synopsis);
	if ((unsigned)count > verb->max_operands)
		return usage_error(verb, "too many operands: expected %s",
				   verb->synopsis);
	return 0;
}

int exit_status_of(int err)
{
	switch (err) {
	case 0:
		return CHANCTL_EXIT_OK;
	case -ENOENT:
		return CHANCTL_EXIT_NOT_FOUND;
	case -ETIMEDOUT:
	case -EAGAIN:
		return CHANCTL_EXIT_TIMED_OUT;
	case -EPIPE:
		return CHANCTL_EXIT_CLOSED;
	case -EEXIST:
		return CHANCTL_EXIT_EXISTS;
	default:
		return CHANCTL_EXIT_FAILURE;
	}
}

int check_name(const char *name)
{
	if (chan_name_validate(name) == 0)
		return 0;
	return invalid_value("channel name", name,
			     "use 1-128 characters from A-Z a-z 0-9 . _ -, "
			     "other than \".\" and \"..\"");
}

const char *shm_dir(void)
{
	const char *dir = getenv("CHAN_SHM_DIR");

	return dir != NULL && dir[0] != '\0' ? dir : "/dev/shm";
}

char *segment_path(const char *name)
{
	char *path;

	if (asprintf(&path, "%s/%s%s", shm_dir(), CHAN_SHM_PREFIX, name) < 0)
		return NULL;
	return path;
}

int attach_channel(const char *name, uint32_t flags, struct chan **ret)
{
	const char *access =
	    flags & CHAN_READ_ONLY ? "read access" : "read and write access";
	char *path;
	int r;

	r = check_name(name);
	if (r != 0)
		return r;
	r = chan_open(name, flags, ret);
	if (r == 0)
		return 0;

	path = segment_path(name);
	switch (r) {
	case -ENOENT:
		log_error("channel \"%s\" not found; create it with "
			  "'chanctl create %s'",
			  name, name);
		break;
	case -EACCES:
		log_error("failed to attach to channel \"%s\": %s; ask the "
			  "owner of %s for %s",
			  name, chan_strerror(r), path ? path : name, access);
		break;
	case -EBADMSG:
	case -EPROTONOSUPPORT:
		log_error(
		    "failed to attach to channel \"%s\": %s; if no process "
		    "uses it, remove it with 'chanctl rm %s'",
		    name, chan_strerror(r), name);
		break;
	case -EUSERS:
		log_error("failed to attach to channel \"%s\": %d handles "
			  "are attached already, the maximum; stop some of "
			  "its processes, or see them with 'chanctl info %s'",
			  name, CHAN_ATTACH_MAX, name);
		break;
	default:
		log_error("failed to attach to channel \"%s\": %s", name,
			  chan_strerror(r));
		break;
	}
	free(path);
	return exit_status_of(r);
}
