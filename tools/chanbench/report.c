/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (p == NULL) {
		fprintf(stderr, "chanbench: out of memory for the report\n");
		exit(1);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	return strcpy(xrealloc(NULL, strlen(s) + 1), s);
}

void report_fact_text(struct report *rep, const char *key, const char *title,
		      const char *text)
{
	if (rep->nfacts == REPORT_MAX_FACTS)
		return;
	rep->facts[rep->nfacts++] = (struct fact){
	    .key = key,
	    .title = title,
	    .value = {.kind = CELL_TEXT, .text = xstrdup(text)},
	};
}

void report_fact_number(struct report *rep, const char *key, const char *title,
			double number)
{
	if (rep->nfacts == REPORT_MAX_FACTS)
		return;
	rep->facts[rep->nfacts++] = (struct fact){
	    .key = key,
	    .title = title,
	    .value = {.kind = CELL_NUMBER, .number = number},
	};
}

struct table *report_table(struct report *rep, const char *key,
			   const char *title, const struct column *columns,
			   size_t ncolumns)
{
	struct table *t;

	if (rep->ntables == REPORT_MAX_TABLES) {
		fprintf(stderr, "chanbench: too many report tables\n");
		exit(1);
	}
	t = &rep->tables[rep->ntables++];
	*t = (struct table){.key = key,
			    .title = title,
			    .columns = columns,
			    .ncolumns = ncolumns};
	return t;
}

size_t table_add_row(struct table *t)
{
	size_t row = t->nrows++;

	t->cells =
	    xrealloc(t->cells, t->nrows * t->ncolumns * sizeof(*t->cells));
	memset(&t->cells[row * t->ncolumns], 0,
	       t->ncolumns * sizeof(*t->cells));
	return row;
}

static struct cell *cell_at(struct table *t, size_t row, size_t col)
{
	return &t->cells[row * t->ncolumns + col];
}

const struct cell *table_cell(const struct table *t, size_t row, size_t col)
{
	return &t->cells[row * t->ncolumns + col];
}

void table_set_text(struct table *t, size_t row, size_t col, const char *text)
{
	struct cell *c = cell_at(t, row, col);

	free(c->text);
	*c = (struct cell){.kind = CELL_TEXT, .text = xstrdup(text)};
}

/* A number that is not finite has no value, like a skipped measurement. */
void table_set_number(struct table *t, size_t row, size_t col, double number)
{
	struct cell *c = cell_at(t, row, col);

	c->kind = isfinite(number) ? CELL_NUMBER : CELL_NONE;
	c->number = number;
}

void table_set_bool(struct table *t, size_t row, size_t col, bool flag)
{
	struct cell *c = cell_at(t, row, col);

	c->kind = CELL_BOOL;
	c->flag = flag;
}

void report_note(struct report *rep, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (rep->nnotes == sizeof(rep->notes) / sizeof(rep->notes[0]))
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s != NULL)
		rep->notes[rep->nnotes++] = s;
}

/* Printing --------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Format a cell as text into buf. */
static void cell_text(const struct cell *c, int precision, char *buf,
		      size_t size)
{
	switch (c->kind) {
	case CELL_NONE:
		snprintf(buf, size, "-");
		break;
	case CELL_TEXT:
		snprintf(buf, size, "%s", c->text);
		break;
	case CELL_NUMBER:
		snprintf(buf, size, "%.*f", precision, c->number);
		break;
	case CELL_BOOL:
		snprintf(buf, size, "%s", c->flag ? "yes" : "no");
		break;
	}
}

static void cell_json(FILE *f, const struct cell *c, int precision)
{
	switch (c->kind) {
	case CELL_NONE:
		fputs("null", f);
		break;
	case CELL_TEXT:
		json_string(f, c->text);
		break;
	case CELL_NUMBER:
		/* Whole numbers stay whole; others get two more digits. */
		fprintf(f, "%.*f", precision ? precision + 2 : 0, c->number);
		break;
	case CELL_BOOL:
		fputs(c->flag ? "true" : "false", f);
		break;
	}
}

static size_t column_width(const struct table *t, size_t col)
{
	size_t width = strlen(t->columns[col].title);
	char buf[256];

	for (size_t row = 0; row < t->nrows; row++) {
		cell_text(table_cell(t, row, col), t->columns[col].precision,
			  buf, sizeof(buf));
		if (strlen(buf) > width)
			width = strlen(buf);
	}
	return width;
}

/* Text cells align left and numbers right; the last column is not padded. */
static void text_cell(FILE *f, const struct table *t, size_t row, size_t col,
		      size_t width)
{
	const struct cell *c = table_cell(t, row, col);
	bool last = col + 1 == t->ncolumns;
	char buf[256];

	cell_text(c, t->columns[col].precision, buf, sizeof(buf));
	if (c->kind == CELL_TEXT || last)
		fprintf(f, "%-*s", last ? 0 : (int)width, buf);
	else
		fprintf(f, "%*s", (int)width, buf);
	fputs(last ? "\n" : "  ", f);
}

static void print_table_text(FILE *f, const struct table *t)
{
	size_t widths[32];

	for (size_t col = 0; col < t->ncolumns && col < 32; col++)
		widths[col] = column_width(t, col);

	fprintf(f, "\n%s\n", t->title);
	for (size_t col = 0; col < t->ncolumns; col++) {
		bool last = col + 1 == t->ncolumns;

		fprintf(f, "%-*s%s", last ? 0 : (int)widths[col],
			t->columns[col].title, last ? "\n" : "  ");
	}
	for (size_t row = 0; row < t->nrows; row++) {
		for (size_t col = 0; col < t->ncolumns; col++)
			text_cell(f, t, row, col, widths[col]);
	}
}

static void print_table_json(FILE *f, const struct table *t)
{
	fprintf(f, "  \"%s\": [", t->key);
	for (size_t row = 0; row < t->nrows; row++) {
		fprintf(f, "%s\n    {", row ? "," : "");
		for (size_t col = 0; col < t->ncolumns; col++) {
			fprintf(f, "%s\"%s\": ", col ? ", " : "",
				t->columns[col].key);
			cell_json(f, table_cell(t, row, col),
				  t->columns[col].precision);
		}
		fputc('}', f);
	}
	fprintf(f, "%s]", t->nrows ? "\n  " : "");
}

static void print_facts(FILE *f, const struct report *rep, bool json)
{
	char buf[256];

	if (json)
		fputs("  \"run\": {", f);
	for (size_t i = 0; i < rep->nfacts; i++) {
		const struct fact *fa = &rep->facts[i];

		if (json) {
			fprintf(f, "%s\n    \"%s\": ", i ? "," : "", fa->key);
			cell_json(f, &fa->value, 0);
		} else {
			cell_text(&fa->value, 0, buf, sizeof(buf));
			fprintf(f, "%-12s %s\n", fa->title, buf);
		}
	}
	if (json)
		fputs("\n  }", f);
}

static void print_notes(FILE *f, const struct report *rep, bool json)
{
	if (json) {
		fputs(",\n  \"notes\": [", f);
		for (size_t i = 0; i < rep->nnotes; i++) {
			fputs(i ? ",\n    " : "\n    ", f);
			json_string(f, rep->notes[i]);
		}
		fputs(rep->nnotes ? "\n  ]\n" : "]\n", f);
		return;
	}
	if (rep->nnotes > 0)
		fputs("\nNotes\n", f);
	for (size_t i = 0; i < rep->nnotes; i++)
		fprintf(f, "- %s\n", rep->notes[i]);
}

void report_print(const struct report *rep, bool json)
{
	FILE *f = stdout;

	if (json)
		fputs("{\n", f);
	print_facts(f, rep, json);
	for (size_t i = 0; i < rep->ntables; i++) {
		if (json) {
			fputs(",\n", f);
			print_table_json(f, &rep->tables[i]);
		} else {
			print_table_text(f, &rep->tables[i]);
		}
	}
	print_notes(f, rep, json);
	if (json)
		fputs("}\n", f);
	fflush(f);
}

void report_free(struct report *rep)
{
	for (size_t i = 0; i < rep->nfacts; i++)
		free(rep->facts[i].value.text);
	for (size_t i = 0; i < rep->ntables; i++) {
		struct table *t = &rep->tables[i];

		for (size_t j = 0; j < t->nrows * t->ncolumns; j++)
			free(t->cells[j].text);
		free(t->cells);
	}
	for (size_t i = 0; i < rep->nnotes; i++)
		free(rep->notes[i]);
}
