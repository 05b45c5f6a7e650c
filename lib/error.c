/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "chan.h"

const char *chan_strerror(int err)
{
	const char *text;

	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;

	/* The meanings chan gives these codes, where they differ from libc. */
	switch (err) {
	case 0:
		return "success";
	case EPIPE:
		return "channel is closed";
	case EMSGSIZE:
		return "message does not fit";
	case EBADMSG:
		return "segment is corrupt or not a chan channel";
	case EPROTONOSUPPORT:
		return "segment format or ABI not supported by this library";
	case ENOENT:
		return "no such channel";
	case EEXIST:
		return "channel exists, or exists with another geometry";
	case ENOSPC:
		return "no space left in shared memory";
	case EAGAIN:
		return "operation would block";
	case ETIMEDOUT:
		return "timed out";
	}

	/* strerrordesc_np, unlike strerror, returns a constant string. */
	text = strerrordesc_np(err);
	return text != NULL ? text : "unknown error";
}

const char *chan_error_name(int err)
{
	const char *name;

	if (err == INT_MIN)
		return "EUNKNOWN";
	if (err < 0)
		err = -err;
	if (err == 0)
		return "OK";
	name = strerrorname_np(err);
	return name != NULL ? name : "EUNKNOWN";
}
