/* SPDX-License-Identifier: MIT */
/*
 * Test that the shared library exports the functions declared in chan.h
 * and nothing else, under the version node CHAN_0.1.
 * Run as: test_symbols PATH-TO-libchan.so PATH-TO-chan.h
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* The functions declared in chan.h, read by read_declared(). */
#define DECLARED_MAX 128
static char *declared[DECLARED_MAX];
static size_t declared_count;

static const char *library_path;
static const char *header_path;

/* Read the file at path into a NUL-terminated buffer. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long size;

	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)size + 1);
	ck_assert_msg(text != NULL, "out of memory");
	ck_assert_msg(fread(text, 1, (size_t)size, f) == (size_t)size,
		      "read %s failed", path);
	fclose(f);
	return text;
}

/* Blank out the comments, so that only declarations name functions. */
static void strip_comments(char *text)
{
	char *start, *end;

	while ((start = strstr(text, "/*")) != NULL) {
		end = strstr(start + 2, "*/");
		end = end != NULL ? end + 2 : start + strlen(start);
		memset(start, ' ', (size_t)(end - start));
		text = end;
	}
}

/* Collect every identifier chan_* followed by "(" in the header. */
static void read_declared(void)
{
	char *text = read_text(header_path);
	const char *p = text;

	strip_comments(text);
	while ((p = strstr(p, "chan_")) != NULL) {
		size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz_0123456789");
		const char *after = p + len;
		bool word_start =
		    p == text ||
		    !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z'));

		while (*after == ' ')
			after++;
		if (word_start && *after == '(' &&
		    declared_count < DECLARED_MAX)
			declared[declared_count++] = strndup(p, len);
		p += len;
	}
	free(text);
	ck_assert_msg(declared_count >= 10,
		      "found only %zu functions declared in %s", declared_count,
		      header_path);
}

/* One line of `nm -D --defined-only`: "[value] type name[@[@]version]". */
struct symbol {
	char type;
	char name[256];
	char version[64];
};

static bool parse_line(const char *line, struct symbol *sym)
{
	char first[256], second[256], third[256];
	int fields = sscanf(line, "%255s %255s %255s", first, second, third);
	const char *name, *at;

	if (fields == 3) {
		sym->type = second[0];
		name = third;
	} else if (fields == 2) {
		sym->type = first[0];
		name = second;
	} else {
		return false;
	}
	snprintf(sym->name, sizeof(sym->name), "%s", name);
	sym->version[0] = '\0';
	at = strchr(name, '@');
	if (at != NULL) {
		sym->name[at - name] = '\0';
		while (*at == '@')
			at++;
		snprintf(sym->version, sizeof(sym->version), "%s", at);
	}
	return true;
}

static FILE *open_nm(void)
{
	char command[4096];
	FILE *nm;

	snprintf(command, sizeof(command), "nm -D --defined-only '%s'",
		 library_path);
	nm = popen(command, "r");
	ck_assert_msg(nm != NULL, "cannot run %s: %s", command,
		      strerror(errno));
	return nm;
}

static long declared_index(const char *name)
{
	for (size_t i = 0; i < declared_count; i++)
		if (strcmp(declared[i], name) == 0)
			return (long)i;
	return -1;
}

START_TEST(symbols_public_only)
{
	bool exported[DECLARED_MAX] = {false};
	bool version_node = false;
	struct symbol sym;
	char line[512];
	size_t symbols = 0;
	FILE *nm;

	read_declared();
	nm = open_nm();

	while (fgets(line, sizeof(line), nm) != NULL) {
		long i;

		if (!parse_line(line, &sym))
			continue;
		symbols++;
		if (sym.type == 'A') {
			version_node |= strcmp(sym.name, "CHAN_0.1") == 0;
			continue;
		}
		ck_assert_msg(strncmp(sym.name, "chan_", 5) == 0,
			      "exported symbol %s: expected the prefix chan_",
			      sym.name);
		ck_assert_msg(strncmp(sym.name, "chan__", 6) != 0,
			      "internal symbol %s is exported", sym.name);
		ck_assert_msg(strcmp(sym.version, "CHAN_0.1") == 0,
			      "symbol %s: expected version CHAN_0.1, got "
			      "\"%s\"",
			      sym.name, sym.version);
		i = declared_index(sym.name);
		ck_assert_msg(i >= 0, "exported %s is not declared in chan.h",
			      sym.name);
		exported[i] = true;
	}
	ck_assert_msg(pclose(nm) == 0, "nm failed on %s", library_path);

	ck_assert_msg(symbols > 0, "nm listed no symbols in %s", library_path);
	ck_assert_msg(version_node, "version node CHAN_0.1 missing from %s",
		      library_path);
	for (size_t i = 0; i < declared_count; i++)
		ck_assert_msg(exported[i],
			      "%s is declared in chan.h but not "
			      "exported",
			      declared[i]);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("symbols");
	TCase *tc = tcase_create("symbols");
	SRunner *sr;
	int failed;

	if (argc != 3) {
		fprintf(stderr, "usage: %s LIBRARY HEADER\n", argv[0]);
		return EXIT_FAILURE;
	}
	library_path = argv[1];
	header_path = argv[2];
	tcase_add_test(tc, symbols_public_only);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
