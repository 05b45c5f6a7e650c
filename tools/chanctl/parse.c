/* SPDX-License-Identifier: MIT */
/* Strict parsers for option values, and formatting of sizes and ids. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <libutil.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chanctl.h"

#define NSEC_PER_SEC UINT64_C(1000000000)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t count_digits(const char *s)
{
	size_t n = 0;

	while (is_digit(s[n]))
		n++;
	return n;
}

/*
 * Convert a string of decimal digits, and nothing else, without sign or
 * blanks.  Returns 0, -EINVAL or -ERANGE.
 */
static int parse_decimal(const char *s, uint64_t *ret)
{
	uint64_t value = 0;
	size_t len = count_digits(s);

	if (len == 0 || s[len] != '\0')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned digit = (unsigned)(s[i] - '0');

		if (value > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		value = value * 10 + digit;
	}
	*ret = value;
	return 0;
}

int parse_count(const char *option, const char *value, uint64_t max,
		uint64_t *ret)
{
	char rule[64];
	uint64_t n;
	int r;

	r = parse_decimal(value, &n);
	if (r == -EINVAL || (r == 0 && n == 0))
		return invalid_value(option, value,
				     "expected a positive integer");
	if (r == -ERANGE || n > max) {
		snprintf(rule, sizeof(rule), "the maximum is %" PRIu64, max);
		return invalid_value(option, value, rule);
	}
	*ret = n;
	return 0;
}

int parse_size(const char *option, const char *value, uint64_t max,
	       uint64_t *ret)
{
	size_t digits = count_digits(value);
	char rule[96], limit[8];
	uint64_t n;
	int r;

	/*
	 * expand_number() alone accepts blanks, a sign and further suffixes,
	 * and in libbsd 0.11 it returns 0 with errno ERANGE for an
	 * overflowing number without a suffix, so check the form first and
	 * errno after.
	 */
	if (digits == 0 || (value[digits] != '\0' &&
			    (strchr("KMGkmg", value[digits]) == NULL ||
			     value[digits + 1] != '\0')))
		return invalid_value(option, value,
				     "expected a positive size in bytes, with "
				     "an optional suffix K, M or G "
				     "(powers of 1024)");
	errno = 0;
	r = expand_number(value, &n);
	if (r < 0 || errno != 0 || n > max) {
		format_size(limit, sizeof(limit), max);
		snprintf(rule, sizeof(rule), "the maximum is %s (%" PRIu64 ")",
			 limit, max);
		return invalid_value(option, value, rule);
	}
	if (n == 0)
		return invalid_value(option, value, "expected a positive size");
	*ret = n;
	return 0;
}

int parse_seconds(const char *option, const char *value, uint64_t *ret_ns)
{
	const char *rule = "expected seconds, such as 5 or 0.25, with at most "
			   "9 decimal places";
	size_t whole_len = count_digits(value), frac_len = 0;
	char whole[32];
	uint64_t sec, frac = 0;

	if (whole_len == 0 || whole_len >= sizeof(whole))
		return invalid_value(option, value, rule);
	if (value[whole_len] == '.') {
		const char *f = value + whole_len + 1;

		frac_len = count_digits(f);
		if (frac_len == 0 || frac_len > 9 || f[frac_len] != '\0')
			return invalid_value(option, value, rule);
		for (size_t i = 0; i < 9; i++)
			frac = frac * 10 +
			       (i < frac_len ? (uint64_t)(f[i] - '0') : 0);
	} else if (value[whole_len] != '\0') {
		return invalid_value(option, value, rule);
	}

	memcpy(whole, value, whole_len);
	whole[whole_len] = '\0';
	/* Keep below CHAN_TIMEOUT_INFINITE, which means no limit. */
	if (parse_decimal(whole, &sec) < 0 ||
	    sec >= (UINT64_MAX - frac) / NSEC_PER_SEC)
		return invalid_value(option, value, "too large");
	*ret_ns = sec * NSEC_PER_SEC + frac;
	return 0;
}

int parse_mode(const char *option, const char *value, uint32_t *ret)
{
	size_t len = strspn(value, "01234567");
	unsigned long mode;

	if (len == 0 || len > 5 || value[len] != '\0')
		return invalid_value(option, value,
				     "expected octal permission bits, "
				     "such as 0660");
	mode = strtoul(value, NULL, 8);
	/*
	 * libchan reads a mode of 0 as "use the default", 0600, and rejects
	 * the setuid, setgid and sticky bits, which mean nothing on a
	 * segment.
	 */
	if (mode == 0 || mode > 0777)
		return invalid_value(option, value,
				     "expected octal permission bits "
				     "from 0001 to 0777");
	*ret = (uint32_t)mode;
	return 0;
}

int parse_user(const char *option, const char *value, uid_t *ret)
{
	struct passwd *pw;
	uint64_t id;

	if (parse_decimal(value, &id) == 0) {
		if (id >= (uid_t)-1)
			return invalid_value(option, value,
					     "user id too large");
		*ret = (uid_t)id;
		return 0;
	}
	errno = 0;
	pw = getpwnam(value);
	if (pw == NULL)
		return invalid_value(option, value,
				     "no such user; give a user name or a "
				     "numeric user id");
	*ret = pw->pw_uid;
	return 0;
}

int parse_group(const char *option, const char *value, gid_t *ret)
{
	struct group *gr;
	uint64_t id;

	if (parse_decimal(value, &id) == 0) {
		if (id >= (gid_t)-1)
			return invalid_value(option, value,
					     "group id too large");
		*ret = (gid_t)id;
		return 0;
	}
	errno = 0;
	gr = getgrnam(value);
	if (gr == NULL)
		return invalid_value(option, value,
				     "no such group; give a group name or a "
				     "numeric group id");
	*ret = gr->gr_gid;
	return 0;
}

void format_size(char *buf, size_t size, uint64_t bytes)
{
	/*
	 * A width of 5 (four characters and the NUL) gives "512B", "4.0K",
	 * "64K", "1.5M".  humanize_number() takes a signed count, and no
	 * channel comes near INT64_MAX bytes.
	 */
	if (size < 5 ||
	    humanize_number(buf, 5, (int64_t)bytes, "", HN_AUTOSCALE,
			    HN_B | HN_NOSPACE | HN_DECIMAL) < 0)
		snprintf(buf, size, "%" PRIu64, bytes);
}

char *user_name(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);
	char *name;

	if (pw != NULL)
		return strdup(pw->pw_name);
	if (asprintf(&name, "%u", (unsigned)uid) < 0)
		return NULL;
	return name;
}

char *group_name(gid_t gid)
{
	struct group *gr = getgrgid(gid);
	char *name;

	if (gr != NULL)
		return strdup(gr->gr_name);
	if (asprintf(&name, "%u", (unsigned)gid) < 0)
		return NULL;
	return name;
}

void format_time(char *buf, size_t size, int64_t sec, int64_t nsec)
{
	time_t t = (time_t)sec;
	struct tm tm;
	char date[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "@%" PRId64, sec);
		return;
	}
	snprintf(buf, size, "%s.%09" PRId64 "Z", date, nsec);
}

int set_record_format(const struct verb *verb, enum record_format *format,
		      enum record_format requested)
{
	if (*format != requested && *format != FORMAT_LINES)
		return usage_error(verb, "-0 (--null) and --raw exclude each "
					 "other");
	*format = requested;
	return 0;
}
