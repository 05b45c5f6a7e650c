/* SPDX-License-Identifier: MIT */
/*
 * Tests of chanctl, run through the built binary (CHANCTL_PATH) on real
 * segments in /dev/shm.  Every channel name starts with name_prefix(),
 * and each test case removes the segments of that prefix at its end.
 *
 * Usage: test_chanctl [SUITE], with SUITE one of cli, show, io, pipe,
 * watch.
 */
#define _GNU_SOURCE
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "harness.h"

/* Assert that a command exited with status and that stderr has text. */
#define ck_assert_failed_with(res, expected_status, text)                      \
	do {                                                                   \
		ck_assert_int_eq((res)->status, (expected_status));            \
		ck_assert_msg(strstr((res)->err, (text)) != NULL,              \
			      "stderr \"%s\" lacks \"%s\"", (res)->err,        \
			      (text));                                         \
	} while (0)

static bool segment_exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm/%s%s", CHAN_SHM_PREFIX, name);
	return lstat(path, &st) == 0;
}

static void create(const char *name, const char *capacity, const char *msg_size)
{
	struct result res;

	CHANCTL(&res, NULL, "create", "--capacity", capacity, "--msg-size",
		msg_size, name);
	ck_assert_msg(res.status == 0, "create %s: %s", name, res.err);
	result_free(&res);
}

static void teardown_segments(void)
{
	remove_test_segments();
}

/* cli: help, version, verbs, options and names. */

START_TEST(cli_help_lists_verbs)
{
	static const char *const verbs[] = {"create", "ls",    "info",	"send",
					    "recv",   "watch", "close", "rm"};
	struct result res;

	CHANCTL(&res, NULL, "--help");
	ck_assert_int_eq(res.status, 0);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++)
		ck_assert_ptr_nonnull(strstr(res.out, verbs[i]));
	ck_assert_ptr_nonnull(strstr(res.out, "6    channel exists"));
	result_free(&res);

	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++) {
		char usage[64];

		CHANCTL(&res, NULL, verbs[i], "--help");
		ck_assert_int_eq(res.status, 0);
		snprintf(usage, sizeof(usage), "Usage: chanctl %s ", verbs[i]);
		ck_assert_ptr_nonnull(strstr(res.out, usage));
		ck_assert_ptr_nonnull(strstr(res.out, "Exit status:"));
		result_free(&res);
	}
}
END_TEST

START_TEST(cli_version)
{
	struct result res;

	CHANCTL(&res, NULL, "--version");
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "chanctl " CHANCTL_VERSION "\n");
	result_free(&res);
}
END_TEST

START_TEST(cli_unknown_verb)
{
	static const char *const bad[] = {"sen", "cr", "recieve", "list"};
	struct result res;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char expected[64];

		CHANCTL(&res, NULL, bad[i], "x");
		snprintf(expected, sizeof(expected), "unknown verb \"%s\"",
			 bad[i]);
		ck_assert_failed_with(&res, 2, expected);
		ck_assert_ptr_nonnull(strstr(
		    res.err, "create, ls, info, send, recv, watch, close, rm"));
		result_free(&res);
	}

	run_argv(&res, NULL, 0, (const char *const[]){CHANCTL_PATH, NULL});
	ck_assert_failed_with(&res, 2, "missing verb");
	result_free(&res);
}
END_TEST

START_TEST(cli_bad_options)
{
	struct result res;

	CHANCTL(&res, NULL, "create", "--bogus", "x");
	ck_assert_failed_with(&res, 2, "unknown option --bogus");
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "-q", "x");
	ck_assert_failed_with(&res, 2, "unknown option -q");
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "x", "--timeout");
	ck_assert_failed_with(&res, 2, "option --timeout requires a value");
	result_free(&res);

	CHANCTL(&res, NULL, "ls", "--json=yes");
	ck_assert_failed_with(&res, 2, "option --json=yes takes no value");
	result_free(&res);

	CHANCTL(&res, NULL, "info");
	ck_assert_failed_with(&res, 2, "missing operand");
	result_free(&res);

	CHANCTL(&res, NULL, "close", "a", "b");
	ck_assert_failed_with(&res, 2, "too many operands");
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "--nonblock", "--timeout", "1", "x");
	ck_assert_failed_with(&res, 2, "exclude each other");
	result_free(&res);
}
END_TEST

START_TEST(create_defaults)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;
	uint64_t value;

	make_name(name, "defaults");
	CHANCTL(&res, NULL, "create", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "");
	result_free(&res);

	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_int_eq(json_u64(res.out, "capacity", &value), 0);
	ck_assert_uint_eq(value, CHAN_CAPACITY_DEFAULT);
	ck_assert_int_eq(json_u64(res.out, "max_msg_size", &value), 0);
	ck_assert_uint_eq(value, CHAN_MSG_SIZE_DEFAULT);
	ck_assert_ptr_nonnull(strstr(res.out, "\"mode\": \"0600\""));
	ck_assert_ptr_nonnull(strstr(res.out, "\"closed\": false"));
	result_free(&res);
}
END_TEST

START_TEST(create_options)
{
	char name[CHAN_NAME_MAX + 1], uid[16], member[128];
	struct passwd *pw = getpwuid(getuid());
	struct group *gr = getgrgid(getgid());
	struct result res;
	uint64_t value;

	/* The caller's own user and group, so that no privilege is needed:
	 * the owner by number and the group by name. */
	ck_assert_ptr_nonnull(pw);
	ck_assert_ptr_nonnull(gr);
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	make_name(name, "options");
	CHANCTL(&res, NULL, "create", "--capacity", "8", "--msg-size", "2K",
		"--mode", "0640", "--owner", uid, "--group", gr->gr_name, name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_int_eq(json_u64(res.out, "capacity", &value), 0);
	ck_assert_uint_eq(value, 8);
	ck_assert_int_eq(json_u64(res.out, "max_msg_size", &value), 0);
	ck_assert_uint_eq(value, 2048);
	ck_assert_ptr_nonnull(strstr(res.out, "\"mode\": \"0640\""));
	snprintf(member, sizeof(member), "\"owner\": \"%s\"", pw->pw_name);
	ck_assert_ptr_nonnull(strstr(res.out, member));
	snprintf(member, sizeof(member), "\"group\": \"%s\"", gr->gr_name);
	ck_assert_ptr_nonnull(strstr(res.out, member));
	result_free(&res);
}
END_TEST

START_TEST(create_exists)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "exists");
	create(name, "4", "64");

	CHANCTL(&res, NULL, "create", "--capacity", "4", "--msg-size", "64",
		name);
	ck_assert_failed_with(&res, 6, "exists; pass --exist-ok");
	ck_assert_ptr_nonnull(strstr(res.err, name));
	result_free(&res);

	CHANCTL(&res, NULL, "create", "--exist-ok", "--capacity", "4",
		"--msg-size", "64", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "create", "--exist-ok", "--capacity", "5",
		"--msg-size", "64", name);
	ck_assert_failed_with(&res, 6, "exists with capacity 4");
	result_free(&res);
}
END_TEST

/* Each invalid option value is rejected, named, and creates nothing. */
START_TEST(create_invalid_values)
{
	static const struct {
		const char *option, *value, *reason;
	} cases[] = {
	    {"--capacity", "12x", "expected a positive integer"},
	    {"--capacity", "-1", "expected a positive integer"},
	    {"--capacity", "0", "expected a positive integer"},
	    {"--capacity", " 3", "expected a positive integer"},
	    {"--capacity", "16777217", "the maximum is 16777216"},
	    {"--capacity", "99999999999999999999", "the maximum is"},
	    {"--msg-size", "1Q", "suffix K, M or G"},
	    {"--msg-size", "-5", "suffix K, M or G"},
	    {"--msg-size", "1K5", "suffix K, M or G"},
	    {"--msg-size", "1T", "suffix K, M or G"},
	    {"--msg-size", "0", "expected a positive size"},
	    {"--msg-size", "2G", "the maximum is 1.0G"},
	    {"--msg-size", "18446744073709551616", "the maximum is"},
	    {"--msg-size", "99999999999G", "the maximum is"},
	    {"--mode", "999", "expected octal permission bits"},
	    {"--mode", "0", "from 0001 to 0777"},
	    {"--mode", "1000", "from 0001 to 0777"},
	    {"--mode", "4755", "from 0001 to 0777"},
	    {"--mode", "2770", "from 0001 to 0777"},
	    {"--mode", "10000", "from 0001 to 0777"},
	    {"--owner", "no-such-user-zz", "no such user"},
	    {"--group", "no-such-group-zz", "no such group"},
	};
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "invalid");
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char expected[128];

		CHANCTL(&res, NULL, "create", cases[i].option, cases[i].value,
			name);
		snprintf(expected, sizeof(expected),
			 "invalid %s \"%s\": ", cases[i].option,
			 cases[i].value);
		ck_assert_failed_with(&res, 2, expected);
		ck_assert_failed_with(&res, 2, cases[i].reason);
		result_free(&res);
		ck_assert_msg(!segment_exists(name), "%s %s created it",
			      cases[i].option, cases[i].value);
	}
}
END_TEST

START_TEST(names_invalid)
{
	static const char *const names[] = {
	    "", "a/b", "/x", "..", ".", "caf\xc3\xa9", "tab\tname",
	};
	struct result res;

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		CHANCTL(&res, NULL, "create", "--", names[i]);
		ck_assert_failed_with(&res, 2, "invalid channel name \"");
		ck_assert_ptr_nonnull(strstr(
		    res.err, "use 1-128 characters from A-Z a-z 0-9 . _ -"));
		result_free(&res);
		ck_assert_msg(!segment_exists(names[i]), "\"%s\" was created",
			      names[i]);
	}

	/* Non-ASCII and control bytes are shown escaped, never raw. */
	CHANCTL(&res, NULL, "create", "tab\tname");
	ck_assert_ptr_nonnull(strstr(res.err, "\"tab\\tname\""));
	result_free(&res);
	CHANCTL(&res, NULL, "create", "caf\xc3\xa9");
	ck_assert_ptr_null(strstr(res.err, "\xc3"));
	result_free(&res);
}
END_TEST

START_TEST(names_length_limit)
{
	char name[CHAN_NAME_MAX + 2], line[CHAN_NAME_MAX + 4];
	struct result res;

	make_name(name, "");
	memset(name + strlen(name), 'n', sizeof(name) - 1 - strlen(name));
	name[CHAN_NAME_MAX + 1] = '\0';

	/* 129 characters: rejected. */
	CHANCTL(&res, NULL, "create", name);
	ck_assert_failed_with(&res, 2, "invalid channel name");
	result_free(&res);
	ck_assert(!segment_exists(name));

	/* 128 characters: valid, and listed exactly as typed. */
	name[CHAN_NAME_MAX] = '\0';
	CHANCTL(&res, NULL, "create", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	ck_assert(segment_exists(name));

	CHANCTL(&res, NULL, "ls", "--no-legend");
	ck_assert_int_eq(res.status, 0);
	snprintf(line, sizeof(line), "\n%s ", name);
	ck_assert_msg(strstr(res.out, line + 1) == res.out ||
			  strstr(res.out, line) != NULL,
		      "ls lacks the name: %s", res.out);
	result_free(&res);
}
END_TEST

START_TEST(names_leading_dash)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	snprintf(name, sizeof(name), "-%sdash", name_prefix());
	CHANCTL(&res, NULL, "create", name);
	ck_assert_failed_with(&res, 2, "unknown option");
	result_free(&res);

	CHANCTL(&res, NULL, "create", "--", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	CHANCTL(&res, NULL, "send", "--", name, "-m");
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	CHANCTL(&res, NULL, "recv", "--nonblock", "--", name);
	ck_assert_str_eq(res.out, "-m\n");
	result_free(&res);
	CHANCTL(&res, NULL, "rm", "--", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	ck_assert(!segment_exists(name));
}
END_TEST

START_TEST(not_found_everywhere)
{
	static const char *const verbs[] = {"info", "send", "recv", "close"};
	char name[CHAN_NAME_MAX + 1], expected[512];
	struct result res;

	make_name(name, "missing");
	snprintf(expected, sizeof(expected),
		 "channel \"%s\" not found; create it with 'chanctl create %s'",
		 name, name);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++) {
		CHANCTL(&res, NULL, verbs[i], name);
		ck_assert_failed_with(&res, 3, expected);
		result_free(&res);
	}

	CHANCTL(&res, NULL, "rm", name);
	ck_assert_failed_with(&res, 3, "not found; pass --force");
	result_free(&res);
	CHANCTL(&res, NULL, "rm", "--force", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
}
END_TEST

START_TEST(rm_several)
{
	char a[CHAN_NAME_MAX + 1], b[CHAN_NAME_MAX + 1];
	char missing[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(a, "rm-a");
	make_name(b, "rm-b");
	make_name(missing, "rm-missing");
	create(a, "2", "8");
	create(b, "2", "8");

	/* Like rm(1): the missing one is reported, the others removed. */
	CHANCTL(&res, NULL, "rm", a, missing, b);
	ck_assert_failed_with(&res, 3, missing);
	result_free(&res);
	ck_assert(!segment_exists(a));
	ck_assert(!segment_exists(b));
}
END_TEST

START_TEST(env_shm_dir)
{
	char dir[] = "/tmp/chanctl-test-XXXXXX", path[PATH_MAX];
	char name[CHAN_NAME_MAX + 1];
	struct result res;
	struct stat st;

	make_name(name, "envdir");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("CHAN_SHM_DIR", dir, 1);
	CHANCTL(&res, NULL, "create", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	snprintf(path, sizeof(path), "%s/chan.%s", dir, name);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(!segment_exists(name));

	CHANCTL(&res, NULL, "rm", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	ck_assert_int_eq(rmdir(dir), 0);

	/* A directory that cannot be listed is a plain failure. */
	setenv("CHAN_SHM_DIR", dir, 1);
	CHANCTL(&res, NULL, "ls");
	snprintf(path, sizeof(path), "failed to list channels in %s: %s;", dir,
		 strerror(ENOENT));
	ck_assert_failed_with(&res, 1, path);
	result_free(&res);

	/* A missing directory is no missing channel. */
	CHANCTL(&res, NULL, "create", name);
	snprintf(path, sizeof(path),
		 "directory %s not found; create it or unset CHAN_SHM_DIR",
		 dir);
	ck_assert_failed_with(&res, 1, path);
	result_free(&res);
	unsetenv("CHAN_SHM_DIR");
}
END_TEST

START_TEST(watch_invalid_options)
{
	static const struct {
		const char *option, *value, *reason;
	} cases[] = {
	    {"--interval", "0", "expected a positive number of seconds"},
	    {"--interval", "0.0", "expected a positive number of seconds"},
	    {"--interval", "-1", "expected seconds"},
	    {"--interval", "1s", "expected seconds"},
	    {"--count", "0", "expected a positive integer"},
	    {"--count", "x", "expected a positive integer"},
	};
	struct result res;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char expected[128];

		CHANCTL(&res, NULL, "watch", cases[i].option, cases[i].value);
		snprintf(expected, sizeof(expected), "invalid %s \"%s\": %s",
			 cases[i].option, cases[i].value, cases[i].reason);
		ck_assert_failed_with(&res, 2, expected);
		result_free(&res);
	}

	CHANCTL(&res, NULL, "watch", "-n", "1", "bad/name");
	ck_assert_failed_with(&res, 2, "invalid channel name \"bad/name\"");
	result_free(&res);
}
END_TEST

/* -0 and --raw exclude each other, in either order, and do nothing. */
START_TEST(null_raw_exclusive)
{
	static const char *const orders[][2] = {{"-0", "--raw"},
						{"--raw", "--null"}};
	const char *expected = "-0 (--null) and --raw exclude each other";
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "exclusive");
	create(name, "4", "8");
	CHANCTL(&res, NULL, "send", name, "kept");
	result_free(&res);

	for (size_t i = 0; i < 2; i++) {
		CHANCTL(&res, "a\n", "send", orders[i][0], orders[i][1], name);
		ck_assert_failed_with(&res, 2, expected);
		ck_assert_failed_with(&res, 2, "'chanctl send --help'");
		result_free(&res);

		CHANCTL(&res, NULL, "recv", orders[i][0], orders[i][1],
			"--nonblock", name);
		ck_assert_failed_with(&res, 2, expected);
		ck_assert_failed_with(&res, 2, "'chanctl recv --help'");
		ck_assert_str_eq(res.out, "");
		result_free(&res);
	}

	/* Neither send queued nor recv took a message. */
	CHANCTL(&res, NULL, "recv", "--nonblock", name);
	ck_assert_str_eq(res.out, "kept\n");
	result_free(&res);
}
END_TEST

START_TEST(create_track_peers)
{
	char plain[CHAN_NAME_MAX + 1], tracked[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(plain, "untracked");
	make_name(tracked, "tracked");
	create(plain, "2", "8");
	CHANCTL(&res, NULL, "create", "--track-peers", tracked);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "info", "--json", plain);
	ck_assert_ptr_nonnull(strstr(res.out, "\"tracks_peers\": false,"));
	result_free(&res);
	CHANCTL(&res, NULL, "info", "--json", tracked);
	ck_assert_ptr_nonnull(strstr(res.out, "\"tracks_peers\": true,"));
	result_free(&res);
	CHANCTL(&res, NULL, "info", tracked);
	ck_assert_ptr_nonnull(strstr(res.out, "\nTRACKS-PEERS    yes\n"));
	result_free(&res);

	/* --exist-ok takes a channel only if --track-peers matches too. */
	CHANCTL(&res, NULL, "create", "--exist-ok", tracked);
	ck_assert_failed_with(&res, 6, "exists and tracks peers");
	result_free(&res);
	CHANCTL(&res, NULL, "create", "--exist-ok", "--track-peers", tracked);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	CHANCTL(&res, NULL, "create", "--exist-ok", "--capacity", "2",
		"--msg-size", "8", "--track-peers", plain);
	ck_assert_failed_with(&res, 6, "exists and does not track peers");
	result_free(&res);
}
END_TEST

/* show: ls and info, as tables and as JSON. */

/* Check that text parses as JSON, with python3 -m json.tool. */
static void assert_valid_json(const char *text)
{
	struct result res;

	run_argv(&res, text, strlen(text),
		 (const char *const[]){"python3", "-m", "json.tool", NULL});
	ck_assert_msg(res.status == 0, "invalid JSON (%s): %s", res.err, text);
	result_free(&res);
}

/* The line of a table whose first cell is first, or NULL. */
static char *find_row(const char *table, const char *first)
{
	size_t len = strlen(first);

	for (const char *line = table; line != NULL && *line != '\0';) {
		const char *end = strchrnul(line, '\n');

		if (strncmp(line, first, len) == 0 && line[len] == ' ')
			return strndup(line, (size_t)(end - line));
		line = *end ? end + 1 : NULL;
	}
	return NULL;
}

/*
 * Check that the first line of a table has the labels of expected, in
 * that order, separated by blanks only.  Column widths vary with the
 * channels listed.
 */
static void assert_header(const char *table, const char *expected)
{
	char *line = strndup(table, strcspn(table, "\n"));
	char *words = strdup(expected), *saved = NULL, *at = line;

	for (char *word = strtok_r(words, " ", &saved); word != NULL;
	     word = strtok_r(NULL, " ", &saved)) {
		at += strspn(at, " ");
		ck_assert_msg(strncmp(at, word, strlen(word)) == 0,
			      "header \"%s\" lacks %s", line, word);
		at += strlen(word);
		ck_assert_msg(*at == ' ' || *at == '\0', "header \"%s\"", line);
	}
	ck_assert_msg(*at == '\0', "header \"%s\" has more columns", line);
	free(words);
	free(line);
}

START_TEST(ls_table)
{
	char open_name[CHAN_NAME_MAX + 1], closed_name[CHAN_NAME_MAX + 1];
	struct result res;
	char *row;

	make_name(open_name, "ls-open");
	make_name(closed_name, "ls-closed");
	create(open_name, "8", "4K");
	create(closed_name, "2", "100");
	CHANCTL(&res, NULL, "send", open_name, "a", "b", "c");
	result_free(&res);
	CHANCTL(&res, NULL, "close", closed_name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "ls");
	ck_assert_int_eq(res.status, 0);
	assert_header(res.out,
		      "NAME CAPACITY MSG-SIZE DEPTH SIZE MODE OWNER STATE BUS");

	row = find_row(res.out, open_name);
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(strstr(row, " 8 ") && strstr(row, " 4.0K ") &&
			  strstr(row, " 3 ") && strstr(row, " 0600 ") &&
			  strstr(row, " open"),
		      "row: %s", row);
	free(row);
	row = find_row(res.out, closed_name);
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(strstr(row, " 100B ") && strstr(row, " closed"),
		      "row: %s", row);
	free(row);
	result_free(&res);

	CHANCTL(&res, NULL, "ls", "--no-legend");
	ck_assert_int_eq(res.status, 0);
	ck_assert_ptr_null(strstr(res.out, "NAME"));
	ck_assert_ptr_nonnull(strstr(res.out, open_name));
	result_free(&res);
}
END_TEST

START_TEST(ls_json)
{
	char name[CHAN_NAME_MAX + 1], member[CHAN_NAME_MAX + 32];
	struct result res;
	const char *object;

	make_name(name, "ls-json");
	create(name, "8", "1M");
	CHANCTL(&res, NULL, "send", name, "x");
	result_free(&res);

	CHANCTL(&res, NULL, "ls", "--json");
	ck_assert_int_eq(res.status, 0);
	assert_valid_json(res.out);
	snprintf(member, sizeof(member), "\"name\": \"%s\"", name);
	object = strstr(res.out, member);
	ck_assert_ptr_nonnull(object);
	ck_assert_ptr_nonnull(strstr(object, "\"capacity\": 8,"));
	ck_assert_ptr_nonnull(strstr(object, "\"msg_size\": 1048576,"));
	ck_assert_ptr_nonnull(strstr(object, "\"depth\": 1,"));
	ck_assert_ptr_nonnull(strstr(object, "\"state\": \"open\""));
	result_free(&res);
}
END_TEST

/* A segment that cannot be attached is listed with its error. */
START_TEST(ls_corrupt_segment)
{
	char name[CHAN_NAME_MAX + 1], good[CHAN_NAME_MAX + 1];
	char path[PATH_MAX];
	struct result res;
	char *row;
	int fd;

	make_name(name, "corrupt");
	make_name(good, "corrupt-neighbour");
	create(good, "2", "8");
	snprintf(path, sizeof(path), "/dev/shm/chan.%s", name);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a channel", 13), 13);
	close(fd);

	CHANCTL(&res, NULL, "ls");
	ck_assert_int_eq(res.status, 0);
	row = find_row(res.out, name);
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(strstr(row, "error: segment is corrupt") != NULL, "%s",
		      row);
	free(row);
	ck_assert_ptr_nonnull(strstr(res.out, good));
	result_free(&res);

	CHANCTL(&res, NULL, "ls", "--json");
	ck_assert_int_eq(res.status, 0);
	assert_valid_json(res.out);
	ck_assert_ptr_nonnull(strstr(res.out, "\"capacity\": null"));
	ck_assert_ptr_nonnull(strstr(res.out, "\"state\": \"error: segment"));
	result_free(&res);

	CHANCTL(&res, NULL, "info", name);
	ck_assert_failed_with(&res, 1, "segment is corrupt");
	ck_assert_ptr_nonnull(strstr(res.err, "'chanctl rm "));
	result_free(&res);
}
END_TEST

/*
 * A channel without read permission is listed with the error, since ls
 * and info need read access only.  root is not bound by the mode, so
 * there the channel is listed as usual.
 */
START_TEST(ls_no_permission)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;
	char *row;

	make_name(name, "write-only");
	CHANCTL(&res, NULL, "create", "--mode", "0200", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "ls");
	ck_assert_int_eq(res.status, 0);
	row = find_row(res.out, name);
	ck_assert_ptr_nonnull(row);
	if (geteuid() == 0)
		ck_assert_msg(strstr(row, " 0200 ") && strstr(row, " open"),
			      "%s", row);
	else
		ck_assert_msg(strstr(row, "error: Permission denied"), "%s",
			      row);
	free(row);
	result_free(&res);

	CHANCTL(&res, NULL, "info", name);
	if (geteuid() == 0) {
		ck_assert_int_eq(res.status, 0);
	} else {
		ck_assert_failed_with(&res, 1, "Permission denied");
		ck_assert_failed_with(&res, 1, "for read access");
	}
	result_free(&res);
}
END_TEST

/*
 * Every member of info --json has a table row with the same value: sizes
 * show the exact count in brackets, booleans as yes and no.
 */
START_TEST(info_json_matches_table)
{
	char name[CHAN_NAME_MAX + 1];
	struct result table, json;
	const char *line;
	int members = 0;

	make_name(name, "info");
	create(name, "16", "512");
	CHANCTL(&table, NULL, "send", name, "one", "two", "three");
	result_free(&table);
	CHANCTL(&table, NULL, "recv", "-n", "1", name);
	result_free(&table);

	CHANCTL(&table, NULL, "info", name);
	ck_assert_int_eq(table.status, 0);
	assert_header(table.out, "FIELD VALUE");
	CHANCTL(&json, NULL, "info", "--json", name);
	ck_assert_int_eq(json.status, 0);
	assert_valid_json(json.out);

	for (line = strstr(json.out, "\n  \""); line != NULL;
	     line = strstr(line + 1, "\n  \"")) {
		char key[64], value[256], label[64], *row;

		ck_assert_int_eq(
		    sscanf(line, "\n  \"%63[^\"]\": %255[^,\n]", key, value),
		    2);
		/* The peers array has rows of its own; see info_peers. */
		if (strcmp(value, "[]") == 0)
			strcpy(value, "-");
		for (size_t i = 0; i <= strlen(key); i++)
			label[i] = key[i] == '_' ? '-' : (char)toupper(key[i]);
		row = find_row(table.out, label);
		ck_assert_msg(row != NULL, "no row %s", label);

		if (value[0] == '"') {
			value[strlen(value) - 1] = '\0';
			memmove(value, value + 1, strlen(value));
		} else if (strcmp(value, "false") == 0) {
			strcpy(value, "no");
		} else if (strcmp(value, "true") == 0) {
			strcpy(value, "yes");
		}
		ck_assert_msg(strstr(row + strlen(label), value) != NULL,
			      "row \"%s\" lacks %s", row, value);
		free(row);
		members++;
	}
	ck_assert_int_eq(members, 26);

	ck_assert_ptr_nonnull(strstr(json.out, "\"depth\": 2,"));
	ck_assert_ptr_nonnull(strstr(json.out, "\"msgs_sent\": 3,"));
	ck_assert_ptr_nonnull(strstr(json.out, "\"bytes_sent\": 11,"));
	ck_assert_ptr_nonnull(strstr(json.out, "\"msgs_received\": 1,"));
	ck_assert_ptr_nonnull(strstr(table.out, "512B (512)"));
	result_free(&table);
	result_free(&json);

	CHANCTL(&table, NULL, "info", "--no-legend", name);
	ck_assert_int_eq(table.status, 0);
	ck_assert_msg(strncmp(table.out, "NAME ", 5) == 0, "%s", table.out);
	result_free(&table);
}
END_TEST

/* Run chanctl as the user and group 65534 (nobody), with no other group. */
static void run_as_nobody(struct result *res, const char *verb,
			  const char *option, const char *name)
{
	int out[2], err[2];
	pid_t pid;

	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
		    setuid(65534) < 0)
			_exit(126);
		alarm(CHILD_TIMEOUT_SEC);
		execl(CHANCTL_PATH, CHANCTL_PATH, verb, option, name,
		      (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	res->out = read_all(out[0]);
	res->err = read_all(err[0]);
	res->out_len = strlen(res->out);
	res->err_len = strlen(res->err);
	close(out[0]);
	close(err[0]);
	res->status = wait_status(pid);
}

/*
 * info and ls need only read permission, and send and recv read and
 * write.  As root, the channel belongs to root with mode 0644 and the
 * commands run as nobody; otherwise the caller owns it with mode 0444.
 */
START_TEST(show_read_only)
{
	char name[CHAN_NAME_MAX + 1], member[CHAN_NAME_MAX + 32];
	bool root = geteuid() == 0;
	struct result res;
	const char *object;

	make_name(name, "read-only");
	CHANCTL(&res, NULL, "create", "--mode", root ? "0644" : "0444", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	if (root)
		run_as_nobody(&res, "info", "--json", name);
	else
		CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_msg(res.status == 0, "info: %s", res.err);
	ck_assert_ptr_nonnull(strstr(res.out, "\"attachments\": 0,"));
	result_free(&res);

	if (root)
		run_as_nobody(&res, "ls", "--json", NULL);
	else
		CHANCTL(&res, NULL, "ls", "--json");
	ck_assert_msg(res.status == 0, "ls: %s", res.err);
	snprintf(member, sizeof(member), "\"name\": \"%s\"", name);
	object = strstr(res.out, member);
	ck_assert_ptr_nonnull(object);
	ck_assert_ptr_nonnull(strstr(object, "\"state\": \"open\""));
	result_free(&res);

	if (root)
		run_as_nobody(&res, "send", name, "m");
	else
		CHANCTL(&res, NULL, "send", name, "m");
	ck_assert_failed_with(&res, 1, "Permission denied");
	ck_assert_failed_with(&res, 1, "for read and write access");
	result_free(&res);

	if (root)
		run_as_nobody(&res, "recv", "--nonblock", name);
	else
		CHANCTL(&res, NULL, "recv", "--nonblock", name);
	ck_assert_failed_with(&res, 1, "for read and write access");
	result_free(&res);
}
END_TEST

/* Poll info --json until member has the value expected, for up to 10 s. */
/*
 * A create that the directory's permissions forbid names the directory,
 * not a segment path.  As root, nobody creates in a directory of mode
 * 0700; otherwise the caller creates in one of mode 0555.
 */
START_TEST(create_no_permission)
{
	char dir[] = "/tmp/chanctl-test-XXXXXX", expected[PATH_MAX + 64];
	char name[CHAN_NAME_MAX + 1];
	bool root = geteuid() == 0;
	struct result res;

	make_name(name, "dir-denied");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, root ? 0700 : 0555), 0);
	setenv("CHAN_SHM_DIR", dir, 1);
	if (root)
		run_as_nobody(&res, "create", "--", name);
	else
		CHANCTL(&res, NULL, "create", name);
	unsetenv("CHAN_SHM_DIR");
	ck_assert_int_eq(rmdir(dir), 0);

	snprintf(expected, sizeof(expected), "check the permissions of %s,",
		 dir);
	ck_assert_failed_with(&res, 1, expected);
	ck_assert_msg(strstr(res.err, "/chan.") == NULL, "%s", res.err);
	result_free(&res);
}
END_TEST

/*
 * Only the owner of a segment in /dev/shm, which has the sticky bit, or
 * root may remove it, and rm says so.  This needs a channel of another
 * user, so it runs only as root.
 */
START_TEST(rm_not_owner)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	if (geteuid() != 0)
		return;
	make_name(name, "not-owner");
	CHANCTL(&res, NULL, "create", "--mode", "0666", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	run_as_nobody(&res, "rm", "--", name);
	ck_assert_failed_with(&res, 1, strerror(EPERM));
	ck_assert_failed_with(&res, 1, "remove it as root, its owner,");
	ck_assert_failed_with(&res, 1, "/dev/shm, which has the sticky bit");
	result_free(&res);
	ck_assert(segment_exists(name));
}
END_TEST

static bool wait_for_member(const char *name, const char *member,
			    uint64_t expected)
{
	const struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
	struct result res;
	uint64_t value;

	for (int i = 0; i < 1000; i++) {
		CHANCTL(&res, NULL, "info", "--json", name);
		if (json_u64(res.out, member, &value) < 0)
			value = UINT64_MAX;
		result_free(&res);
		if (value == expected)
			return true;
		nanosleep(&pause, NULL);
	}
	return false;
}

/* info lists the attached processes, with their roles, from both sides. */
START_TEST(info_peers)
{
	char name[CHAN_NAME_MAX + 1], member[64], *row;
	pid_t sender, receiver;
	struct result res;
	const char *peer;
	int feed;

	make_name(name, "peers");
	CHANCTL(&res, NULL, "create", "--track-peers", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	receiver =
	    spawn_piped((const char *const[]){CHANCTL_PATH, "recv", name, NULL},
			NULL, NULL, false);
	sender =
	    spawn_piped((const char *const[]){CHANCTL_PATH, "send", name, NULL},
			&feed, NULL, false);
	ck_assert(wait_for_member(name, "attachments", 2));

	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_int_eq(res.status, 0);
	assert_valid_json(res.out);
	ck_assert_ptr_nonnull(strstr(res.out, "\"senders\": 1,"));
	ck_assert_ptr_nonnull(strstr(res.out, "\"receivers\": 1,"));
	snprintf(member, sizeof(member), "\"pid\": %d,", (int)receiver);
	peer = strstr(res.out, member);
	ck_assert_msg(peer != NULL, "no receiver peer: %s", res.out);
	ck_assert_ptr_nonnull(strstr(peer, "\"roles\": \"receiver\","));
	ck_assert_ptr_nonnull(strstr(peer, "\"alive\": true,"));
	snprintf(member, sizeof(member), "\"pid\": %d,", (int)sender);
	peer = strstr(res.out, member);
	ck_assert_msg(peer != NULL, "no sender peer: %s", res.out);
	ck_assert_ptr_nonnull(strstr(peer, "\"roles\": \"sender\","));
	result_free(&res);

	/* The table shows one row per peer, the first labelled PEERS. */
	CHANCTL(&res, NULL, "info", name);
	ck_assert_int_eq(res.status, 0);
	row = find_row(res.out, "PEERS");
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(strstr(row, " roles=") && strstr(row, " alive=yes"), "%s",
		      row);
	free(row);
	snprintf(member, sizeof(member), "pid=%d roles=sender alive=yes",
		 (int)sender);
	ck_assert_ptr_nonnull(strstr(res.out, member));
	snprintf(member, sizeof(member), "pid=%d roles=receiver alive=yes",
		 (int)receiver);
	ck_assert_ptr_nonnull(strstr(res.out, member));
	result_free(&res);

	/* The sender's end of input ends the channel for the receiver. */
	close(feed);
	ck_assert_int_eq(wait_status(sender), 0);
	ck_assert_int_eq(wait_status_timeout(receiver, 10000), 0);
	ck_assert(wait_for_member(name, "attachments", 0));
}
END_TEST

/* Write text to path, or fail the test. */
static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* The state file of chanbusd marks the channels of the bus. */
START_TEST(bus_state_file)
{
	char dir[] = "/tmp/chanctl-bus-XXXXXX", path[PATH_MAX];
	char managed[CHAN_NAME_MAX + 1], other[CHAN_NAME_MAX + 1];
	char text[3 * CHAN_NAME_MAX], member[CHAN_NAME_MAX + 32];
	struct result res;
	const char *object;
	char *row;

	make_name(managed, "bus-managed");
	make_name(other, "bus-other");
	create(managed, "2", "8");
	create(other, "2", "8");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/channels", dir);
	snprintf(text, sizeof(text), "aaa-not-here\n%s\nzzz-not-here\n",
		 managed);
	write_text(path, text);
	setenv("CHAN_BUS_STATE", path, 1);

	CHANCTL(&res, NULL, "ls");
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.err, "");
	row = find_row(res.out, managed);
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(strstr(row, " open ") != NULL &&
			  strcmp(row + strlen(row) - 4, " yes") == 0,
		      "row: \"%s\"", row);
	free(row);
	row = find_row(res.out, other);
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(strcmp(row + strlen(row) - 5, " open") == 0,
		      "row: \"%s\"", row);
	free(row);
	result_free(&res);

	CHANCTL(&res, NULL, "ls", "--json");
	ck_assert_int_eq(res.status, 0);
	assert_valid_json(res.out);
	snprintf(member, sizeof(member), "\"name\": \"%s\"", managed);
	object = strstr(res.out, member);
	ck_assert_ptr_nonnull(object);
	ck_assert_ptr_nonnull(strstr(object, "\"bus\": true\n"));
	snprintf(member, sizeof(member), "\"name\": \"%s\"", other);
	object = strstr(res.out, member);
	ck_assert_ptr_nonnull(object);
	ck_assert_ptr_nonnull(strstr(object, "\"bus\": false\n"));
	result_free(&res);

	CHANCTL(&res, NULL, "info", managed);
	ck_assert_ptr_nonnull(strstr(res.out, "\nMANAGED-BY-BUS  yes\n"));
	result_free(&res);
	CHANCTL(&res, NULL, "info", "--json", other);
	ck_assert_ptr_nonnull(strstr(res.out, "\"managed_by_bus\": false,"));
	result_free(&res);

	/* No file: no bus runs, which is no error. */
	ck_assert_int_eq(unlink(path), 0);
	CHANCTL(&res, NULL, "info", "--json", managed);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.err, "");
	ck_assert_ptr_nonnull(strstr(res.out, "\"managed_by_bus\": false,"));
	result_free(&res);

	/* A file that cannot be read: reported, and shown as unknown. */
	ck_assert_int_eq(mkdir(path, 0700), 0);
	CHANCTL(&res, NULL, "info", "--json", managed);
	ck_assert_int_eq(res.status, 0);
	ck_assert_ptr_nonnull(strstr(res.out, "\"managed_by_bus\": null,"));
	ck_assert_ptr_nonnull(strstr(res.err, "failed to read the bus state "
					      "file"));
	ck_assert_ptr_nonnull(strstr(res.err, path));
	result_free(&res);

	unsetenv("CHAN_BUS_STATE");
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Wait up to 10 s until path exists, or not; return whether it came. */
static bool wait_for_file(const char *path, bool present)
{
	const struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};

	for (int i = 0; i < 1000; i++) {
		if ((access(path, F_OK) == 0) == present)
			return true;
		nanosleep(&pause, NULL);
	}
	return false;
}

/*
 * The state file that chanbusd writes, read by chanctl: the channel of
 * the bus is marked while the daemon runs, and no longer after it stops.
 */
START_TEST(bus_daemon_state)
{
	char dir[] = "/tmp/chanctl-busd-XXXXXX", config[PATH_MAX];
	char drop_ins[PATH_MAX], state[PATH_MAX], text[256];
	char name[CHAN_NAME_MAX + 1], *row;
	struct result res;
	pid_t daemon;

	make_name(name, "bus-daemon");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(config, sizeof(config), "%s/bus.conf", dir);
	snprintf(drop_ins, sizeof(drop_ins), "%s/bus.d", dir);
	snprintf(state, sizeof(state), "%s/channels", dir);
	ck_assert_int_eq(mkdir(drop_ins, 0700), 0);
	snprintf(text, sizeof(text),
		 "[channel %s]\ncapacity = 4\non-stop = remove\n", name);
	write_text(config, text);

	daemon =
	    spawn_piped((const char *const[]){CHANBUSD_PATH, "--config", config,
					      "--config-dir", drop_ins,
					      "--state-file", state, NULL},
			NULL, NULL, false);
	ck_assert_msg(wait_for_file(state, true), "no state file %s", state);
	setenv("CHAN_BUS_STATE", state, 1);

	CHANCTL(&res, NULL, "ls");
	ck_assert_int_eq(res.status, 0);
	row = find_row(res.out, name);
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(strcmp(row + strlen(row) - 4, " yes") == 0, "row: %s",
		      row);
	free(row);
	result_free(&res);
	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_ptr_nonnull(strstr(res.out, "\"managed_by_bus\": true,"));
	result_free(&res);

	/* A clean stop removes the state file: no bus runs. */
	ck_assert_int_eq(kill(daemon, SIGTERM), 0);
	ck_assert_int_eq(wait_status_timeout(daemon, 10000), 0);
	ck_assert(wait_for_file(state, false));
	create(name, "4", "8");
	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.err, "");
	ck_assert_ptr_nonnull(strstr(res.out, "\"managed_by_bus\": false,"));
	result_free(&res);

	unsetenv("CHAN_BUS_STATE");
	ck_assert_int_eq(rmdir(drop_ins), 0);
	ck_assert_int_eq(unlink(config), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* io: send and recv in each format, with limits and timeouts. */

START_TEST(send_lines)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "lines");
	create(name, "8", "64");
	CHANCTL(&res, "one\ntwo\n\nfour", "send", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_ptr_nonnull(strstr(res.out, "\"depth\": 4,"));
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "--nonblock", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "one\ntwo\n\nfour\n");
	result_free(&res);
}
END_TEST

START_TEST(send_nul)
{
	static const char input[] = "a\nb\0c";
	static const char expected[] = "a\nb\0c\0";
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "nul");
	create(name, "8", "64");
	run_argv(&res, input, sizeof(input) - 1,
		 (const char *const[]){CHANCTL_PATH, "send", "-0", name, NULL});
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "-0", "--nonblock", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_uint_eq(res.out_len, sizeof(expected) - 1);
	ck_assert_mem_eq(res.out, expected, sizeof(expected) - 1);
	result_free(&res);
}
END_TEST

START_TEST(send_arguments)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "args");
	create(name, "8", "64");
	CHANCTL(&res, "ignored\n", "send", name, "x", "y z", "");
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "--raw", "-n", "2", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "xy z");
	result_free(&res);
	CHANCTL(&res, NULL, "recv", "--nonblock", name);
	ck_assert_str_eq(res.out, "\n");
	result_free(&res);
}
END_TEST

START_TEST(recv_count)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "count");
	create(name, "8", "64");
	CHANCTL(&res, NULL, "send", name, "1", "2", "3", "4", "5");
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "-n", "2", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "1\n2\n");
	result_free(&res);
	CHANCTL(&res, NULL, "recv", "--count", "1", name);
	ck_assert_str_eq(res.out, "3\n");
	result_free(&res);

	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_ptr_nonnull(strstr(res.out, "\"depth\": 2,"));
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "-n", "0", name);
	ck_assert_failed_with(&res, 2, "invalid --count \"0\"");
	result_free(&res);
}
END_TEST

START_TEST(recv_nonblock_empty)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "nonblock");
	create(name, "2", "8");
	CHANCTL(&res, NULL, "recv", "--nonblock", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_uint_eq(res.out_len, 0);
	ck_assert_uint_eq(res.err_len, 0);
	result_free(&res);
}
END_TEST

START_TEST(recv_timeout)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "recv-timeout");
	create(name, "2", "8");
	CHANCTL(&res, NULL, "send", name, "m");
	result_free(&res);

	/* The queued message is taken, then the wait for the next fails. */
	CHANCTL(&res, NULL, "recv", "--timeout", "0.2", name);
	ck_assert_failed_with(&res, 4, "no message arrived on channel");
	ck_assert_ptr_nonnull(strstr(res.err, "within 0.2 s"));
	ck_assert_str_eq(res.out, "m\n");
	result_free(&res);
}
END_TEST

START_TEST(send_full)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "full");
	create(name, "2", "8");
	CHANCTL(&res, NULL, "send", name, "a", "b");
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "send", "--nonblock", name, "c");
	ck_assert_failed_with(&res, 4, "is full");
	result_free(&res);

	CHANCTL(&res, "c\nd\n", "send", "--timeout", "0.1", name);
	ck_assert_failed_with(&res, 4, "timed out after 0.1 s");
	ck_assert_ptr_nonnull(strstr(res.err, "0 messages were sent"));
	result_free(&res);
}
END_TEST

START_TEST(send_invalid_timeout)
{
	static const char *const values[] = {"-1", "1.5s",	   "abc", ".5",
					     "1.", "0.1234567891", "1e3", ""};
	struct result res;

	for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
		char expected[64];

		CHANCTL(&res, NULL, "send", "--timeout", values[i], "x");
		snprintf(expected, sizeof(expected), "invalid --timeout \"%s\"",
			 values[i]);
		ck_assert_failed_with(&res, 2, expected);
		result_free(&res);
	}
}
END_TEST

START_TEST(send_closed)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "closed");
	create(name, "4", "8");
	CHANCTL(&res, NULL, "send", name, "a", "b");
	result_free(&res);
	CHANCTL(&res, NULL, "close", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	CHANCTL(&res, NULL, "send", name, "c");
	ck_assert_failed_with(&res, 5, "is closed");
	result_free(&res);

	/* Receivers drain what is left, then see the end of the channel. */
	CHANCTL(&res, NULL, "recv", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "a\nb\n");
	result_free(&res);
	CHANCTL(&res, NULL, "recv", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "");
	result_free(&res);
}
END_TEST

START_TEST(send_line_too_long)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "too-long");
	create(name, "8", "8");
	CHANCTL(&res, "short\n0123456789\nafter\n", "send", name);
	ck_assert_failed_with(&res, 1, "line 2 of standard input is 10 bytes");
	ck_assert_ptr_nonnull(strstr(res.err, "maximum message size of 8"));
	ck_assert_ptr_nonnull(strstr(res.err, "the 1 line before it was sent"));
	ck_assert_ptr_nonnull(strstr(res.err, "--msg-size"));
	result_free(&res);

	CHANCTL(&res, NULL, "recv", "--nonblock", name);
	ck_assert_str_eq(res.out, "short\n");
	result_free(&res);

	/* Arguments are all checked before the first is sent. */
	CHANCTL(&res, NULL, "send", name, "ok", "0123456789");
	ck_assert_failed_with(&res, 1, "MESSAGE argument 2 is 10 bytes");
	ck_assert_ptr_nonnull(strstr(res.err, "nothing was sent"));
	result_free(&res);
	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_ptr_nonnull(strstr(res.out, "\"depth\": 0,"));
	result_free(&res);
}
END_TEST

START_TEST(send_raw_chunks)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "raw");
	create(name, "8", "4");
	CHANCTL(&res, "abcdefghij", "send", "--raw", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	/* Without --close the channel stays open. */
	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_ptr_nonnull(strstr(res.out, "\"depth\": 3,"));
	ck_assert_ptr_nonnull(strstr(res.out, "\"closed\": false"));
	result_free(&res);
	CHANCTL(&res, NULL, "recv", "--nonblock", name);
	ck_assert_str_eq(res.out, "abcd\nefgh\nij\n");
	result_free(&res);

	CHANCTL(&res, "xyz", "send", "--raw", "--close", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_ptr_nonnull(strstr(res.out, "\"closed\": true"));
	result_free(&res);
	CHANCTL(&res, NULL, "recv", "--raw", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "xyz");
	result_free(&res);
}
END_TEST

/* A closed standard output loses the message taken, and recv reports it. */
START_TEST(recv_stdout_closed)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;
	int fds[2], err_fds[2];
	char err[512] = "";
	pid_t pid;

	make_name(name, "epipe");
	create(name, "4", "8");
	CHANCTL(&res, NULL, "send", name, "a", "b");
	result_free(&res);

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(pipe(err_fds), 0);
	close(fds[0]);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(err_fds[1], STDERR_FILENO);
		signal(SIGPIPE, SIG_DFL);
		alarm(CHILD_TIMEOUT_SEC);
		execl(CHANCTL_PATH, CHANCTL_PATH, "recv", name, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	close(err_fds[1]);
	ck_assert_int_eq(wait_status(pid), 1);
	ck_assert_int_gt(read(err_fds[0], err, sizeof(err) - 1), 0);
	close(err_fds[0]);
	ck_assert_msg(strstr(err, "message 1 was already taken") != NULL &&
			  strstr(err, "is lost") != NULL,
		      "%s", err);
	/* The system's meaning of EPIPE, not that of libchan. */
	ck_assert_msg(strstr(err, strerror(EPIPE)) != NULL, "%s", err);

	CHANCTL(&res, NULL, "recv", "--nonblock", name);
	ck_assert_str_eq(res.out, "b\n");
	result_free(&res);
}
END_TEST

/* A full standard output is reported in the system's words. */
START_TEST(recv_stdout_full)
{
	char name[CHAN_NAME_MAX + 1], *err;
	struct result res;
	int err_fds[2], full;
	pid_t pid;

	make_name(name, "stdout-full");
	create(name, "4", "8");
	CHANCTL(&res, NULL, "send", name, "a");
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(full, 0);
	ck_assert_int_eq(pipe(err_fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(full, STDOUT_FILENO);
		dup2(err_fds[1], STDERR_FILENO);
		alarm(CHILD_TIMEOUT_SEC);
		execl(CHANCTL_PATH, CHANCTL_PATH, "recv", "-n", "1", name,
		      (char *)NULL);
		_exit(127);
	}
	close(full);
	close(err_fds[1]);
	err = read_all(err_fds[0]);
	close(err_fds[0]);
	ck_assert_int_eq(wait_status(pid), 1);
	ck_assert_msg(strstr(err, "failed to write to standard output: ") &&
			  strstr(err, strerror(ENOSPC)),
		      "%s", err);
	ck_assert_msg(strstr(err, "shared memory") == NULL, "%s", err);
	free(err);
}
END_TEST

/* pipe: concurrent processes, blocking, close and signals. */

static void write_file(const char *path, size_t size)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	/* A pattern that differs from chunk to chunk, unlike zeros. */
	for (size_t i = 0; i < size; i++)
		fputc((int)((i * 7919 + i / 251) & 0xff), f);
	ck_assert_int_eq(fclose(f), 0);
}

static void make_tree(const char *root)
{
	static const struct {
		const char *path;
		size_t size;
	} files[] = {
	    {"empty", 0},
	    {"one-byte", 1},
	    {"exact", 1024},
	    {"big", 300000},
	    {"sub/small", 100},
	    {"sub/deeper/mid", 5000},
	    {"sub/deeper/nothing", 0},
	};
	char path[PATH_MAX];

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/sub/deeper", root),
			 sizeof(path));
	ck_assert_int_eq(mkdir(path, 0755) == 0 || errno == EEXIST, 1);
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		ck_assert_int_lt(
		    snprintf(path, sizeof(path), "%s/%s", root, files[i].path),
		    sizeof(path));
		write_file(path, files[i].size);
	}
}

static void remove_tree(const char *root)
{
	struct result res;

	run_argv(&res, NULL, 0,
		 (const char *const[]){"rm", "-rf", "--", root, NULL});
	result_free(&res);
}

START_TEST(tar_round_trip)
{
	char root[] = "/tmp/chanctl-tar-XXXXXX";
	char src[PATH_MAX], dst[PATH_MAX], sender[2 * PATH_MAX];
	char receiver[2 * PATH_MAX], name[CHAN_NAME_MAX + 1];
	struct result res;
	pid_t send_pid, recv_pid;

	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(src, sizeof(src), "%s/src", root);
	snprintf(dst, sizeof(dst), "%s/dst", root);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	ck_assert_int_eq(mkdir(dst, 0755), 0);
	snprintf(sender, sizeof(sender), "%s/sub", src);
	ck_assert_int_eq(mkdir(sender, 0755), 0);
	make_tree(src);

	/*
	 * A small channel, so that both sides block many times, with a
	 * message size that does not divide tar's 10240-byte records, so
	 * that the last chunk is a short one.
	 */
	make_name(name, "tar");
	create(name, "4", "1000");
	snprintf(sender, sizeof(sender),
		 "set -o pipefail; tar -C '%s' -cf - . | tee '%s/sent.tar' | "
		 "'%s' send --raw --close '%s'",
		 src, root, CHANCTL_PATH, name);
	snprintf(receiver, sizeof(receiver),
		 "set -o pipefail; '%s' recv --raw '%s' | "
		 "tee '%s/received.tar' | tar -C '%s' -xf -",
		 CHANCTL_PATH, name, root, dst);
	recv_pid =
	    spawn_argv((const char *const[]){"bash", "-c", receiver, NULL});
	send_pid =
	    spawn_argv((const char *const[]){"bash", "-c", sender, NULL});
	ck_assert_int_eq(wait_status(send_pid), 0);
	ck_assert_int_eq(wait_status(recv_pid), 0);

	run_argv(&res, NULL, 0,
		 (const char *const[]){"diff", "-r", src, dst, NULL});
	ck_assert_msg(res.status == 0, "trees differ: %s", res.out);
	result_free(&res);

	/* The archive itself, padding included, arrives byte for byte. */
	snprintf(src, sizeof(src), "%s/sent.tar", root);
	snprintf(dst, sizeof(dst), "%s/received.tar", root);
	run_argv(&res, NULL, 0, (const char *const[]){"cmp", src, dst, NULL});
	ck_assert_msg(res.status == 0, "archives differ: %s", res.out);
	result_free(&res);
	remove_tree(root);
}
END_TEST

START_TEST(recv_woken_by_close)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;
	pid_t pid;

	make_name(name, "wake");
	create(name, "2", "8");
	pid =
	    spawn_argv((const char *const[]){CHANCTL_PATH, "recv", name, NULL});
	ck_assert_int_eq(wait_for_receiver(name), 0);

	CHANCTL(&res, NULL, "close", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	ck_assert_int_eq(wait_status(pid), 0);
}
END_TEST

static void check_signal_exit(int signo, int expected)
{
	char name[CHAN_NAME_MAX + 1], tag[32];
	pid_t pid;

	snprintf(tag, sizeof(tag), "signal-%d", signo);
	make_name(name, tag);
	create(name, "2", "8");
	pid =
	    spawn_argv((const char *const[]){CHANCTL_PATH, "recv", name, NULL});
	ck_assert_int_eq(wait_for_receiver(name), 0);
	ck_assert_int_eq(kill(pid, signo), 0);
	ck_assert_int_eq(wait_status(pid), expected);
}

START_TEST(recv_sigint)
{
	check_signal_exit(SIGINT, 130);
}
END_TEST

START_TEST(recv_sigterm)
{
	check_signal_exit(SIGTERM, 143);
}
END_TEST

/*
 * A recv started with SIGINT ignored, as a shell starts the background
 * jobs of a script, keeps it ignored: SIGINT leaves it waiting, and a
 * close ends it with status 0.
 */
START_TEST(recv_sigint_ignored)
{
	char name[CHAN_NAME_MAX + 1], script[PATH_MAX + 2 * CHAN_NAME_MAX];
	const struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
	struct result res;
	int status;
	pid_t pid;

	make_name(name, "sigint-ignored");
	create(name, "2", "8");
	snprintf(script, sizeof(script), "trap '' INT; exec '%s' recv '%s'",
		 CHANCTL_PATH, name);
	pid = spawn_argv((const char *const[]){"sh", "-c", script, NULL});
	ck_assert_int_eq(wait_for_receiver(name), 0);

	ck_assert_int_eq(kill(pid, SIGINT), 0);
	/* A handler would end recv with 130 within a moment; give it 0.5 s. */
	for (int i = 0; i < 50; i++) {
		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
			      "recv exited after an ignored SIGINT");
		nanosleep(&pause, NULL);
	}

	CHANCTL(&res, NULL, "close", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	ck_assert_int_eq(wait_status(pid), 0);
}
END_TEST

/* A producer and a consumer running at once exchange every line. */
START_TEST(send_recv_concurrent)
{
	char name[CHAN_NAME_MAX + 1], *input, *p;
	struct result res;
	pid_t pid;

	make_name(name, "concurrent");
	create(name, "3", "16");
	input = malloc(2000 * sizeof("line1999\n"));
	ck_assert_ptr_nonnull(input);
	p = input;
	for (int i = 0; i < 2000; i++)
		p += sprintf(p, "line%d\n", i);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		CHANCTL(&res, input, "send", "--close", name);
		_exit(res.status);
	}
	CHANCTL(&res, NULL, "recv", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, input);
	result_free(&res);
	ck_assert_int_eq(wait_status(pid), 0);
	free(input);
}
END_TEST

/*
 * SIGINT sent at once after the start, so that it lands anywhere from
 * before the handler is installed to the wait itself, always stops recv
 * with status 130 (by exit or by the default action) within 2 s.
 */
START_TEST(recv_sigint_at_start)
{
	char name[CHAN_NAME_MAX + 1];

	make_name(name, "sigint-race");
	create(name, "2", "8");
	for (int i = 0; i < 100; i++) {
		const struct timespec delay = {.tv_nsec = (i % 25) * 100000};
		pid_t pid = spawn_piped(
		    (const char *const[]){CHANCTL_PATH, "recv", name, NULL},
		    NULL, NULL, false);

		/* Spread the signals over the first 2.5 ms of the run. */
		nanosleep(&delay, NULL);
		ck_assert_int_eq(kill(pid, SIGINT), 0);
		ck_assert_msg(wait_status_timeout(pid, 2000) == 130,
			      "run %d: no exit with 130 within 2 s", i);
	}
}
END_TEST

/*
 * On a channel that tracks peers, a shell pipeline needs no close: recv
 * ends once the sending process exits.
 */
START_TEST(track_peers_pipeline)
{
	char name[CHAN_NAME_MAX + 1], script[2 * PATH_MAX];
	struct result res;
	pid_t pid;

	make_name(name, "pipeline");
	CHANCTL(&res, NULL, "create", "--track-peers", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	snprintf(script, sizeof(script), "printf 'a\\nb\\n' | '%s' send '%s'",
		 CHANCTL_PATH, name);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (wait_for_receiver(name) < 0)
			_exit(99);
		run_argv(&res, NULL, 0,
			 (const char *const[]){"bash", "-c", script, NULL});
		_exit(res.status);
	}
	CHANCTL(&res, NULL, "recv", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "a\nb\n");
	result_free(&res);
	ck_assert_int_eq(wait_status(pid), 0);

	/* The channel was not closed: only its sender is gone. */
	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_ptr_nonnull(strstr(res.out, "\"closed\": false,"));
	result_free(&res);
}
END_TEST

/* A sender killed by SIGKILL ends the channel for its receiver too. */
START_TEST(track_peers_sender_killed)
{
	char name[CHAN_NAME_MAX + 1], *out;
	pid_t sender, receiver;
	struct result res;
	int feed, drain;

	make_name(name, "killed");
	CHANCTL(&res, NULL, "create", "--track-peers", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	receiver =
	    spawn_piped((const char *const[]){CHANCTL_PATH, "recv", name, NULL},
			NULL, &drain, false);
	sender =
	    spawn_piped((const char *const[]){CHANCTL_PATH, "send", name, NULL},
			&feed, NULL, false);
	ck_assert_int_eq(write(feed, "m\n", 2), 2);
	ck_assert(wait_for_member(name, "msgs_received", 1));
	ck_assert(wait_for_member(name, "recv_waiters", 1));

	/* The input stays open: only the kill ends the sender. */
	ck_assert_int_eq(kill(sender, SIGKILL), 0);
	ck_assert_int_eq(wait_status(sender), 128 + SIGKILL);
	ck_assert_msg(wait_status_timeout(receiver, 3000) == 0,
		      "recv did not end within 3 s of the sender's death");
	out = read_all(drain);
	ck_assert_str_eq(out, "m\n");
	free(out);
	close(drain);
	close(feed);
}
END_TEST

/* Once every receiver is gone, send fails as on a closed channel. */
START_TEST(track_peers_receivers_gone)
{
	char name[CHAN_NAME_MAX + 1], fix[3 * CHAN_NAME_MAX + 128];
	struct result res;

	make_name(name, "no-receiver");
	CHANCTL(&res, NULL, "create", "--track-peers", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	/* No receiver has come yet, so sends still queue. */
	CHANCTL(&res, NULL, "send", name, "x");
	ck_assert_int_eq(res.status, 0);
	result_free(&res);
	CHANCTL(&res, NULL, "recv", "-n", "1", name);
	ck_assert_str_eq(res.out, "x\n");
	result_free(&res);

	CHANCTL(&res, NULL, "send", name, "y");
	ck_assert_failed_with(&res, 5, "every receiver of channel");
	ck_assert_failed_with(&res, 5, "is gone");
	ck_assert_ptr_nonnull(strstr(res.err, "0 messages were sent"));
	snprintf(fix, sizeof(fix),
		 "remove it and create it anew ('chanctl rm %s', then "
		 "'chanctl create --track-peers %s')",
		 name, name);
	ck_assert_failed_with(&res, 5, fix);
	/* A receiver started now would not help, so send names none. */
	ck_assert_msg(strstr(res.err, "chanctl recv") == NULL, "%s", res.err);
	result_free(&res);

	/*
	 * Both sides have come and gone: the channel is not closed, but a
	 * new receiver sees its end at once, where a wait would time out.
	 */
	CHANCTL(&res, NULL, "info", "--json", name);
	ck_assert_ptr_nonnull(strstr(res.out, "\"closed\": false,"));
	result_free(&res);
	CHANCTL(&res, NULL, "recv", "--timeout", "30", name);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "");
	result_free(&res);
}
END_TEST

/* The whitespace-separated cells of a table row, into cells[max]. */
static size_t split_row(char *row, char **cells, size_t max)
{
	size_t n = 0;
	char *saved = NULL;

	for (char *cell = strtok_r(row, " ", &saved); cell && n < max;
	     cell = strtok_r(NULL, " ", &saved))
		cells[n++] = cell;
	return n;
}

/* Start yes(1) feeding a channel and a receiver draining it. */
static pid_t start_traffic(const char *name)
{
	char script[2 * PATH_MAX];

	snprintf(script, sizeof(script),
		 "yes 0123456789 | '%1$s' send '%2$s' & "
		 "'%1$s' recv '%2$s' >/dev/null & wait",
		 CHANCTL_PATH, name);
	return spawn_piped((const char *const[]){"bash", "-c", script, NULL},
			   NULL, NULL, true);
}

static void stop_traffic(pid_t group)
{
	kill(-group, SIGKILL);
	wait_status(group);
}

/*
 * watch without a terminal prints plain frames: rates come from the
 * second frame on, and an idle channel shows its depth and how full it
 * is.
 */
START_TEST(watch_plain_frames)
{
	char idle[CHAN_NAME_MAX + 1], busy[CHAN_NAME_MAX + 1];
	char missing[CHAN_NAME_MAX + 1], *cells[16], *row;
	const char *second;
	struct result res;
	pid_t traffic;

	make_name(idle, "watch-idle");
	make_name(busy, "watch-busy");
	make_name(missing, "watch-missing");
	create(idle, "8", "64");
	create(busy, "64", "64");
	CHANCTL(&res, NULL, "send", idle, "a", "b", "c");
	result_free(&res);
	traffic = start_traffic(busy);
	ck_assert(wait_for_member(busy, "attachments", 2));

	CHANCTL(&res, NULL, "watch", "-n", "2", "--interval", "0.2", idle, busy,
		missing);
	stop_traffic(traffic);
	ck_assert_msg(res.status == 0, "watch: %s", res.err);
	ck_assert_ptr_null(strchr(res.out, '\033'));
	ck_assert_ptr_nonnull(strstr(res.out, ", every 0.2 s, 3 channels\n"));

	/* Two frames, parted by one blank line. */
	second = strstr(res.out, "\n\n");
	ck_assert_ptr_nonnull(second);
	second += 2;
	ck_assert_ptr_null(strstr(second, "\n\n"));
	assert_header(strchr(second, '\n') + 1,
		      "NAME DEPTH FULL SEND/S SEND-B/S RECV/S RECV-B/S "
		      "SEND-WAIT RECV-WAIT ATTACHED RECOVERIES STATE");

	row = find_row(res.out, busy);
	ck_assert_ptr_nonnull(row);
	ck_assert_int_eq(split_row(row, cells, 16), 12);
	ck_assert_str_eq(cells[3], "-"); /* no rate in the first frame */
	free(row);

	row = find_row(second, idle);
	ck_assert_ptr_nonnull(row);
	ck_assert_int_eq(split_row(row, cells, 16), 12);
	ck_assert_str_eq(cells[1], "3");
	ck_assert_str_eq(cells[2], "37.5%");
	ck_assert_str_eq(cells[3], "0");
	ck_assert_str_eq(cells[5], "0");
	ck_assert_str_eq(cells[11], "open");
	free(row);

	row = find_row(second, busy);
	ck_assert_ptr_nonnull(row);
	ck_assert_int_eq(split_row(row, cells, 16), 12);
	for (int i = 3; i <= 6; i++)
		ck_assert_msg(strcmp(cells[i], "0") != 0 &&
				  strcmp(cells[i], "0B") != 0 &&
				  strcmp(cells[i], "-") != 0,
			      "rate %d is %s", i, cells[i]);
	ck_assert_str_eq(cells[9], "2");
	free(row);

	row = find_row(second, missing);
	ck_assert_ptr_nonnull(row);
	ck_assert_ptr_nonnull(strstr(row, "error: no such channel"));
	free(row);
	result_free(&res);
}
END_TEST

/* Check watch --json output with a Python script given the names. */
static void check_json_frames(const char *json, const char *idle,
			      const char *busy)
{
	static const char script[] =
	    "import json, sys\n"
	    "idle, busy = sys.argv[1], sys.argv[2]\n"
	    "lines = sys.stdin.read().split('\\n')\n"
	    "assert lines[-1] == '', 'no newline at the end'\n"
	    "frames = [json.loads(line) for line in lines[:-1]]\n"
	    "assert len(frames) == 2, 'frames: %d' % len(frames)\n"
	    "for f in frames:\n"
	    "    assert f['interval'] == 0.2, f['interval']\n"
	    "    assert f['time'].endswith('Z'), f['time']\n"
	    "ch = {c['name']: c for c in frames[1]['channels']}\n"
	    "assert ch[idle]['depth'] == 3, ch[idle]\n"
	    "assert ch[idle]['full_percent'] == 37.5, ch[idle]\n"
	    "assert ch[idle]['send_msgs_per_sec'] == 0, ch[idle]\n"
	    "assert ch[busy]['send_msgs_per_sec'] > 0, ch[busy]\n"
	    "assert ch[busy]['recv_bytes_per_sec'] > 0, ch[busy]\n"
	    "first = {c['name']: c for c in frames[0]['channels']}\n"
	    "assert first[busy]['send_msgs_per_sec'] is None, first[busy]\n";
	struct result res;

	run_argv(
	    &res, json, strlen(json),
	    (const char *const[]){"python3", "-c", script, idle, busy, NULL});
	ck_assert_msg(res.status == 0, "%s\n%s", res.err, json);
	result_free(&res);
}

/* watch --json prints one object per refresh, one per line. */
START_TEST(watch_json_lines)
{
	char idle[CHAN_NAME_MAX + 1], busy[CHAN_NAME_MAX + 1];
	struct result res;
	pid_t traffic;

	make_name(idle, "watch-json-idle");
	make_name(busy, "watch-json-busy");
	create(idle, "8", "64");
	create(busy, "64", "64");
	CHANCTL(&res, NULL, "send", idle, "a", "b", "c");
	result_free(&res);
	traffic = start_traffic(busy);
	ck_assert(wait_for_member(busy, "attachments", 2));

	/* Every channel: ours are among them. */
	CHANCTL(&res, NULL, "watch", "--json", "-n", "2", "--interval", "0.2");
	stop_traffic(traffic);
	ck_assert_msg(res.status == 0, "watch: %s", res.err);
	check_json_frames(res.out, idle, busy);
	result_free(&res);
}
END_TEST

/*
 * Channels created and removed while watch lists every channel show up
 * and drop out between refreshes, without an error.
 */
START_TEST(watch_channels_come_and_go)
{
	const struct timespec pause = {.tv_nsec = 300 * 1000 * 1000};
	char name[CHAN_NAME_MAX + 1], member[CHAN_NAME_MAX + 16];
	char path[] = "/tmp/chanctl-watch-XXXXXX", script[2 * PATH_MAX];
	const char *first, *last;
	struct result res;
	char *out;
	pid_t pid;
	int fd;

	make_name(name, "come-and-go");
	snprintf(member, sizeof(member), "\"name\": \"%s\"", name);

	/* A file, unlike a pipe, never fills while the frames come. */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	snprintf(script, sizeof(script),
		 "exec '%s' watch --json --interval 0.05 -n 40 >'%s'",
		 CHANCTL_PATH, path);
	pid = spawn_piped((const char *const[]){"bash", "-c", script, NULL},
			  NULL, NULL, false);
	nanosleep(&pause, NULL);
	create(name, "2", "8");
	nanosleep(&pause, NULL);
	CHANCTL(&res, NULL, "rm", name);
	ck_assert_int_eq(res.status, 0);
	result_free(&res);

	ck_assert_int_eq(wait_status(pid), 0);
	out = read_all(fd);
	close(fd);
	unlink(path);
	first = strstr(out, member);
	ck_assert_msg(first != NULL, "never listed: %.500s", out);
	last = strrchr(out, '\n');
	ck_assert_ptr_nonnull(last);
	while (last > out && last[-1] != '\n')
		last--;
	ck_assert_msg(strstr(last, member) == NULL, "still listed: %.500s",
		      strstr(last, member));
	assert_valid_json(last);
	free(out);
}
END_TEST

/* A reader that stops early, as head(1) does, ends watch quietly. */
START_TEST(watch_reader_closes)
{
	char script[PATH_MAX];
	struct result res;

	snprintf(script, sizeof(script),
		 "'%s' watch --interval 0.05 | head -n 1 >/dev/null; "
		 "echo ${PIPESTATUS[0]}",
		 CHANCTL_PATH);
	run_argv(&res, NULL, 0,
		 (const char *const[]){"bash", "-c", script, NULL});
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.out, "0\n");
	ck_assert_str_eq(res.err, "");
	result_free(&res);
}
END_TEST

/*
 * Run a shell command on a terminal that script(1) provides, with input
 * typed on it, and return the output, carriage returns included.
 */
static void run_on_terminal(struct result *res, const char *input,
			    const char *format, const char *name)
{
	char command[2 * PATH_MAX];

	snprintf(command, sizeof(command), format, CHANCTL_PATH, name);
	run_argv(res, input, input_length(input),
		 (const char *const[]){"script", "-qec", command, "/dev/null",
				       NULL});
	ck_assert_msg(res->status == 0, "script: %s", res->err);
}

/* Check that line editing and echo are on in the stty -a after rc=. */
static void assert_terminal_restored(const char *out, const char *rc)
{
	const char *after = strstr(out, rc);

	ck_assert_msg(after != NULL, "no %s in: %s", rc, out);
	ck_assert_ptr_nonnull(strstr(after, " icanon "));
	ck_assert_ptr_nonnull(strstr(after, " echo "));
}

/*
 * On a terminal, watch clears the screen for each frame, quits on q or a
 * signal, and restores the terminal's modes when it ends.
 */
START_TEST(watch_terminal)
{
	char name[CHAN_NAME_MAX + 1];
	struct result res;

	make_name(name, "watch-tty");
	create(name, "8", "64");
	run_on_terminal(&res, NULL,
			"'%s' watch -n 2 --interval 0.1 '%s'; echo rc=$?; "
			"stty -a",
			name);
	ck_assert_ptr_nonnull(strstr(res.out, "\033[H\033[J"));
	ck_assert_ptr_nonnull(strstr(res.out, "press q to quit"));
	ck_assert_ptr_nonnull(strstr(res.out, "\033[?25h"));
	assert_terminal_restored(res.out, "rc=0");
	result_free(&res);

	/* No count: only the q typed ends it. */
	run_on_terminal(&res, "q",
			"'%s' watch --interval 0.1 '%s'; echo rc=$?; stty -a",
			name);
	assert_terminal_restored(res.out, "rc=0");
	result_free(&res);

	run_on_terminal(&res, NULL,
			"'%s' watch --interval 0.1 '%s' </dev/tty & "
			"sleep 0.5; kill -TERM $!; wait $!; echo rc=$?; "
			"stty -a",
			name);
	assert_terminal_restored(res.out, "rc=143");
	result_free(&res);
}
END_TEST

static TCase *tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, NULL, teardown_segments);
	tcase_set_timeout(tc, CHILD_TIMEOUT_SEC);
	return tc;
}

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase("cli");

	tcase_add_test(tc, cli_help_lists_verbs);
	tcase_add_test(tc, cli_version);
	tcase_add_test(tc, cli_unknown_verb);
	tcase_add_test(tc, cli_bad_options);
	tcase_add_test(tc, create_defaults);
	tcase_add_test(tc, create_options);
	tcase_add_test(tc, create_exists);
	tcase_add_test(tc, create_invalid_values);
	tcase_add_test(tc, names_invalid);
	tcase_add_test(tc, names_length_limit);
	tcase_add_test(tc, names_leading_dash);
	tcase_add_test(tc, not_found_everywhere);
	tcase_add_test(tc, rm_several);
	tcase_add_test(tc, env_shm_dir);
	tcase_add_test(tc, watch_invalid_options);
	tcase_add_test(tc, create_track_peers);
	tcase_add_test(tc, null_raw_exclusive);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *show_suite(void)
{
	Suite *s = suite_create("show");
	TCase *tc = tcase("show");

	tcase_add_test(tc, ls_table);
	tcase_add_test(tc, ls_json);
	tcase_add_test(tc, ls_corrupt_segment);
	tcase_add_test(tc, ls_no_permission);
	tcase_add_test(tc, info_json_matches_table);
	tcase_add_test(tc, show_read_only);
	tcase_add_test(tc, create_no_permission);
	tcase_add_test(tc, rm_not_owner);
	tcase_add_test(tc, info_peers);
	tcase_add_test(tc, bus_state_file);
	tcase_add_test(tc, bus_daemon_state);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase("io");

	tcase_add_test(tc, send_lines);
	tcase_add_test(tc, send_nul);
	tcase_add_test(tc, send_arguments);
	tcase_add_test(tc, recv_count);
	tcase_add_test(tc, recv_nonblock_empty);
	tcase_add_test(tc, recv_timeout);
	tcase_add_test(tc, send_full);
	tcase_add_test(tc, send_invalid_timeout);
	tcase_add_test(tc, send_closed);
	tcase_add_test(tc, send_line_too_long);
	tcase_add_test(tc, send_raw_chunks);
	tcase_add_test(tc, recv_stdout_closed);
	tcase_add_test(tc, recv_stdout_full);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *pipe_suite(void)
{
	Suite *s = suite_create("pipe");
	TCase *tc = tcase("pipe");

	tcase_add_test(tc, tar_round_trip);
	tcase_add_test(tc, recv_woken_by_close);
	tcase_add_test(tc, recv_sigint);
	tcase_add_test(tc, recv_sigterm);
	tcase_add_test(tc, recv_sigint_ignored);
	tcase_add_test(tc, send_recv_concurrent);
	tcase_add_test(tc, recv_sigint_at_start);
	tcase_add_test(tc, track_peers_pipeline);
	tcase_add_test(tc, track_peers_sender_killed);
	tcase_add_test(tc, track_peers_receivers_gone);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase("watch");

	tcase_add_test(tc, watch_plain_frames);
	tcase_add_test(tc, watch_json_lines);
	tcase_add_test(tc, watch_terminal);
	tcase_add_test(tc, watch_reader_closes);
	tcase_add_test(tc, watch_channels_come_and_go);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		Suite *(*make)(void);
	} suites[] = {
	    {"cli", cli_suite},	  {"show", show_suite},	  {"io", io_suite},
	    {"pipe", pipe_suite}, {"watch", watch_suite},
	};
	SRunner *runner = NULL;
	int failed;

	for (size_t i = 0; i < sizeof(suites) / sizeof(*suites); i++) {
		if (argc > 1 && strcmp(argv[1], suites[i].name) != 0)
			continue;
		if (runner == NULL)
			runner = srunner_create(suites[i].make());
		else
			srunner_add_suite(runner, suites[i].make());
	}
	if (runner == NULL) {
		fprintf(stderr, "test_chanctl: unknown suite \"%s\"\n",
			argv[1]);
		return 2;
	}

	/* Fix the prefix in the runner, before the tests fork. */
	name_prefix();
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	remove_test_segments();
	return failed == 0 ? 0 : 1;
}
