/* SPDX-License-Identifier: MIT */
/*
 * The report: a list of facts about the run and a few tables, built once
 * and printed either as aligned text or as one JSON object by the same
 * walk, so that the two cannot disagree.
 */
#ifndef CHANBENCH_REPORT_H
#define CHANBENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>

enum cell_kind {
	CELL_NONE, /* no value: "-" in text, null in JSON */
	CELL_TEXT,
	CELL_NUMBER,
	CELL_BOOL,
};

struct cell {
	enum cell_kind kind;
	double number;
	char *text;
	bool flag;
};

struct column {
	const char *key;   /* JSON member name */
	const char *title; /* text heading */
	int precision;	   /* digits after the point, for numbers */
};

struct table {
	const char *key;
	const char *title;
	const struct column *columns;
	size_t ncolumns;
	struct cell *cells; /* nrows * ncolumns, row by row */
	size_t nrows;
};

struct fact {
	const char *key;
	const char *title;
	struct cell value;
};

#define REPORT_MAX_FACTS  24
#define REPORT_MAX_TABLES 8

struct report {
	struct fact facts[REPORT_MAX_FACTS];
	size_t nfacts;
	struct table tables[REPORT_MAX_TABLES];
	size_t ntables;
	char *notes[32];
	size_t nnotes;
};

void report_fact_text(struct report *rep, const char *key, const char *title,
		      const char *text);
void report_fact_number(struct report *rep, const char *key, const char *title,
			double number);
struct table *report_table(struct report *rep, const char *key,
			   const char *title, const struct column *columns,
			   size_t ncolumns);
size_t table_add_row(struct table *t);
void table_set_text(struct table *t, size_t row, size_t col, const char *text);
void table_set_number(struct table *t, size_t row, size_t col, double number);
void table_set_bool(struct table *t, size_t row, size_t col, bool flag);
const struct cell *table_cell(const struct table *t, size_t row, size_t col);
void report_note(struct report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void report_print(const struct report *rep, bool json);
void report_free(struct report *rep);

#endif /* CHANBENCH_REPORT_H */
