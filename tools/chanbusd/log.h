/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with the priority prefixes that the journal reads
 * ("<3>" for LOG_ERR and so on, see sd-daemon(3)).
 */
#ifndef CHANBUSD_LOG_H
#define CHANBUSD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Also log LOG_DEBUG messages (--verbose). */
extern bool log_verbose;

__attribute__((format(printf, 2, 3))) void log_msg(int priority,
						   const char *fmt, ...);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* CHANBUSD_LOG_H */
