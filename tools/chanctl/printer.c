/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanctl.h"
#include "printer.h"

/* Nesting of JSON values: top level, list, object, list field, object. */
#define PRINTER_DEPTH_MAX 5

struct printer {
	enum printer_layout layout;
	bool json;
	bool json_lines;
	bool legend;
	int error; /* the first negative errno, returned by printer_finish() */
	const struct printer_label *label_map; /* from printer_set_labels() */

	/* JSON: whether the value at each depth still has no members. */
	unsigned depth;
	bool first[PRINTER_DEPTH_MAX];

	/* Table: labels, then cells row by row, ncols to a row. */
	char **labels;
	size_t ncols, labels_allocated;
	char **cells;
	size_t ncells, allocated;
	size_t row_cells; /* cells in the current row so far */
	bool first_row;

	/* Table: the list field open now, and the row of its object. */
	const char *list_key;
	size_t list_rows;
	char *list_row; /* "key=value" words; NULL outside an object */
};

struct printer *printer_new(enum printer_layout layout, bool json, bool legend)
{
	struct printer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->layout = layout;
	p->json = json;
	p->legend = legend;
	p->first[0] = true;
	p->first_row = true;
	return p;
}

void printer_free(struct printer *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->ncols; i++)
		free(p->labels[i]);
	for (size_t i = 0; i < p->ncells; i++)
		free(p->cells[i]);
	free(p->labels);
	free(p->cells);
	free(p->list_row);
	free(p);
}

void printer_set_labels(struct printer *p, const struct printer_label *labels)
{
	p->label_map = labels;
}

void printer_set_json_lines(struct printer *p)
{
	p->json_lines = true;
}

static void fail(struct printer *p, int err)
{
	if (p->error == 0)
		p->error = err;
}

/* "msg_size" becomes "MSG-SIZE", unless the printer has a label for it. */
static char *label_of(const struct printer *p, const char *key)
{
	char *label;

	for (const struct printer_label *l = p->label_map; l && l->key; l++)
		if (strcmp(l->key, key) == 0)
			return strdup(l->label);
	label = strdup(key);

	for (char *c = label; c != NULL && *c != '\0'; c++)
		*c = *c == '_' ? '-' : (char)toupper((unsigned char)*c);
	return label;
}

static int append(char ***array, size_t *count, size_t *allocated, char *item)
{
	char **grown;

	if (item == NULL)
		return -ENOMEM;
	if (*count == *allocated) {
		size_t n = *allocated ? *allocated * 2 : 32;

		grown = reallocarray(*array, n, sizeof(**array));
		if (grown == NULL) {
			free(item);
			return -ENOMEM;
		}
		*array = grown;
		*allocated = n;
	}
	(*array)[(*count)++] = item;
	return 0;
}

static void add_cell(struct printer *p, char *text)
{
	int r = append(&p->cells, &p->ncells, &p->allocated, text);

	if (r < 0)
		fail(p, r);
	else
		p->row_cells++;
}

/* Add "key=value" to the row of an object in a list field. */
static void add_list_word(struct printer *p, const char *key, const char *text)
{
	char *row;

	if (asprintf(&row, "%s%s%s=%s", p->list_row,
		     p->list_row[0] != '\0' ? " " : "", key, text) < 0) {
		fail(p, -ENOMEM);
		return;
	}
	free(p->list_row);
	p->list_row = row;
}

/* Add a labelled value to the table in the layout chosen. */
static void add_table_field(struct printer *p, const char *key,
			    const char *text)
{
	if (p->list_row != NULL) {
		add_list_word(p, key, text);
		return;
	}
	if (p->layout == PRINTER_FIELDS) {
		add_cell(p, label_of(p, key));
		add_cell(p, strdup(text));
		return;
	}
	if (p->first_row) {
		int r = append(&p->labels, &p->ncols, &p->labels_allocated,
			       label_of(p, key));

		if (r < 0)
			fail(p, r);
	}
	add_cell(p, strdup(text));
}

/* Write s as a JSON string, escaping quotes, backslashes and controls. */
static void json_write_string(const char *s)
{
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		default:
			if (*c < 0x20 || *c == 0x7f)
				printf("\\u%04x", *c);
			else
				putchar(*c);
		}
	}
	putchar('"');
}

static void json_indent(const struct printer *p)
{
	if (p->json_lines)
		return;
	putchar('\n');
	for (unsigned i = 1; i < p->depth; i++)
		fputs("  ", stdout);
}

/* Start a value at the current depth: a comma after a sibling. */
static void json_begin_value(struct printer *p)
{
	if (!p->first[p->depth - 1])
		fputs(p->json_lines ? ", " : ",", stdout);
	p->first[p->depth - 1] = false;
	if (p->depth > 1)
		json_indent(p);
}

/* Open an array or object whose place (a comma, a key) is written. */
static void json_push(struct printer *p, char bracket)
{
	putchar(bracket);
	if (p->depth < PRINTER_DEPTH_MAX)
		p->first[p->depth++] = true;
	else
		fail(p, -EINVAL);
}

static void json_open(struct printer *p, char bracket)
{
	if (p->depth == 0)
		p->depth = 1;
	json_begin_value(p);
	json_push(p, bracket);
}

static void json_close(struct printer *p, char bracket)
{
	bool empty = p->first[p->depth - 1];

	p->depth--;
	if (!empty)
		json_indent(p);
	putchar(bracket);
}

static void json_key(struct printer *p, const char *key)
{
	json_begin_value(p);
	json_write_string(key);
	fputs(": ", stdout);
}

void printer_begin_list(struct printer *p)
{
	if (p->json)
		json_open(p, '[');
}

void printer_end_list(struct printer *p)
{
	if (p->json)
		json_close(p, ']');
}

void printer_begin_list_field(struct printer *p, const char *key)
{
	if (p->json) {
		json_key(p, key);
		json_push(p, '[');
		return;
	}
	if (p->layout != PRINTER_FIELDS || p->list_key != NULL)
		fail(p, -EINVAL);
	p->list_key = key;
	p->list_rows = 0;
}

void printer_end_list_field(struct printer *p)
{
	const char *key = p->list_key;

	if (p->json) {
		json_close(p, ']');
		return;
	}
	p->list_key = NULL;
	if (key != NULL && p->list_rows == 0)
		add_table_field(p, key, "-");
}

void printer_begin_object(struct printer *p)
{
	if (p->json) {
		json_open(p, '{');
		return;
	}
	if (p->list_key != NULL) {
		free(p->list_row);
		p->list_row = strdup("");
		if (p->list_row == NULL)
			fail(p, -ENOMEM);
		return;
	}
	p->row_cells = 0;
}

/* End the row of an object in a list field: the label on the first. */
static void end_list_row(struct printer *p)
{
	char *row = p->list_row;

	p->list_row = NULL;
	if (row == NULL)
		return;
	add_cell(p, p->list_rows == 0 ? label_of(p, p->list_key) : strdup(""));
	add_cell(p, row);
	p->list_rows++;
}

void printer_end_object(struct printer *p)
{
	if (p->json) {
		json_close(p, '}');
		return;
	}
	if (p->list_key != NULL) {
		end_list_row(p);
		return;
	}
	if (p->layout == PRINTER_COLUMNS) {
		/* Every object of a listing must have the same fields. */
		if (p->row_cells != p->ncols)
			fail(p, -EINVAL);
		p->first_row = false;
	}
}

void printer_field_str(struct printer *p, const char *key, const char *value)
{
	if (value == NULL) {
		printer_field_null(p, key);
		return;
	}
	if (!p->json) {
		add_table_field(p, key, value);
		return;
	}
	json_key(p, key);
	json_write_string(value);
}

void printer_field_null(struct printer *p, const char *key)
{
	if (!p->json) {
		add_table_field(p, key, "-");
		return;
	}
	json_key(p, key);
	fputs("null", stdout);
}

void printer_field_u64(struct printer *p, const char *key, uint64_t value)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, value);
	if (!p->json) {
		add_table_field(p, key, text);
		return;
	}
	json_key(p, key);
	fputs(text, stdout);
}

void printer_field_i64(struct printer *p, const char *key, int64_t value)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRId64, value);
	if (!p->json) {
		add_table_field(p, key, text);
		return;
	}
	json_key(p, key);
	fputs(text, stdout);
}

void printer_field_bool(struct printer *p, const char *key, bool value)
{
	if (!p->json) {
		add_table_field(p, key, value ? "yes" : "no");
		return;
	}
	json_key(p, key);
	fputs(value ? "true" : "false", stdout);
}

void printer_field_flag(struct printer *p, const char *key, bool value)
{
	if (!p->json) {
		add_table_field(p, key, value ? "yes" : "");
		return;
	}
	printer_field_bool(p, key, value);
}

/* Write a JSON number with one decimal, such as 12.5. */
static void json_field_decimal(struct printer *p, const char *key, double value)
{
	json_key(p, key);
	printf("%.1f", value);
}

/*
 * Messages per second: below 10 with one decimal, then in units of 1000
 * ("1.2K"), as humanize_number() writes them in 4 characters.
 */
static void format_count_rate(char *buf, size_t size, double per_sec)
{
	uint64_t whole = (uint64_t)(per_sec + 0.5);

	if (per_sec > 0 && per_sec < 9.95)
		snprintf(buf, size, "%.1f", per_sec);
	else if (size < 5 ||
		 humanize_number(buf, 5, (int64_t)whole, "", HN_AUTOSCALE,
				 HN_NOSPACE | HN_DECIMAL | HN_DIVISOR_1000) < 0)
		snprintf(buf, size, "%" PRIu64, whole);
}

void printer_field_rate(struct printer *p, const char *key, double per_sec,
			bool bytes)
{
	char text[24];

	if (p->json) {
		json_field_decimal(p, key, per_sec);
		return;
	}
	if (bytes)
		format_size(text, sizeof(text), (uint64_t)(per_sec + 0.5));
	else
		format_count_rate(text, sizeof(text), per_sec);
	add_table_field(p, key, text);
}

void printer_field_seconds(struct printer *p, const char *key, uint64_t ns)
{
	char text[40];
	int len;

	/* Nine decimals, without the trailing zeros: 0.25, not 0.250000000. */
	len = snprintf(text, sizeof(text), "%" PRIu64 ".%09" PRIu64,
		       ns / 1000000000, ns % 1000000000);
	while (len > 0 && text[len - 1] == '0')
		text[--len] = '\0';
	if (len > 0 && text[len - 1] == '.')
		text[--len] = '\0';
	if (p->json) {
		json_key(p, key);
		fputs(text, stdout);
		return;
	}
	strcat(text, " s");
	add_table_field(p, key, text);
}

void printer_field_percent(struct printer *p, const char *key, double percent)
{
	char text[16];

	if (p->json) {
		json_field_decimal(p, key, percent);
		return;
	}
	snprintf(text, sizeof(text), "%.1f%%", percent);
	add_table_field(p, key, text);
}

void printer_field_size(struct printer *p, const char *key, uint64_t bytes)
{
	char human[16], text[48];

	if (p->json) {
		printer_field_u64(p, key, bytes);
		return;
	}
	format_size(human, sizeof(human), bytes);

	/* One field to a row leaves room for the exact count as well. */
	if (p->layout == PRINTER_FIELDS)
		snprintf(text, sizeof(text), "%s (%" PRIu64 ")", human, bytes);
	else
		snprintf(text, sizeof(text), "%s", human);
	add_table_field(p, key, text);
}

static void print_row(char **cells, const size_t *widths, size_t ncols)
{
	size_t last = ncols - 1;

	/* Pad up to the last non-empty cell, so no line ends in blanks. */
	while (last > 0 && cells[last][0] == '\0')
		last--;
	for (size_t col = 0; col < last; col++)
		printf("%-*s  ", (int)widths[col], cells[col]);
	printf("%s\n", cells[last]);
}

static void print_table(struct printer *p)
{
	static char *field_labels[] = {"FIELD", "VALUE"};
	char **labels = p->layout == PRINTER_FIELDS ? field_labels : p->labels;
	size_t ncols = p->layout == PRINTER_FIELDS ? 2 : p->ncols;
	size_t *widths;

	if (ncols == 0 || p->ncells % ncols != 0)
		return;
	widths = calloc(ncols, sizeof(*widths));
	if (widths == NULL) {
		fail(p, -ENOMEM);
		return;
	}

	for (size_t col = 0; col < ncols; col++)
		widths[col] = p->legend ? strlen(labels[col]) : 0;
	for (size_t i = 0; i < p->ncells; i++) {
		size_t len = strlen(p->cells[i]);

		if (len > widths[i % ncols])
			widths[i % ncols] = len;
	}

	if (p->legend)
		print_row(labels, widths, ncols);
	for (size_t i = 0; i < p->ncells; i += ncols)
		print_row(p->cells + i, widths, ncols);
	free(widths);
}

int printer_finish(struct printer *p)
{
	if (p->json)
		putchar('\n');
	else if (p->error == 0)
		print_table(p);

	if (fflush(stdout) != 0 || ferror(stdout))
		fail(p, errno != 0 ? -errno : -EIO);
	return p->error;
}
