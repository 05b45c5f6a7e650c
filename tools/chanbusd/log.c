/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

bool log_verbose;

/*
 * Format the whole line first and write it with one call, so that lines
 * from a daemon and its tests never interleave halfway.
 */
void log_msg(int priority, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int prefix, n;

	if (priority == LOG_DEBUG && !log_verbose)
		return;
	prefix = snprintf(line, sizeof(line), "<%d>", priority);
	va_start(ap, fmt);
	n = vsnprintf(line + prefix, sizeof(line) - prefix - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += prefix;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
