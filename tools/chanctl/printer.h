/* SPDX-License-Identifier: MIT */
/*
 * A printer that writes either a table for people or JSON for scripts
 * from the same calls, so that the two outputs always carry the same
 * fields.  A field key such as "msg_size" is the JSON member name, and
 * its upper-case form with dashes ("MSG-SIZE") is the table label, unless
 * printer_set_labels() gives another.
 */
#ifndef CHANCTL_PRINTER_H
#define CHANCTL_PRINTER_H

#include <stdbool.h>
#include <stdint.h>

enum printer_layout {
	PRINTER_COLUMNS, /* one row per object, one column per field */
	PRINTER_FIELDS,	 /* one row per field: its label and its value */
};

struct printer;

/* Returns NULL when out of memory. */
struct printer *printer_new(enum printer_layout layout, bool json, bool legend);

/* A table label in place of the upper-case key, for narrow columns. */
struct printer_label {
	const char *key;
	const char *label;
};

/* Use labels, an array ended by {NULL, NULL}, which must outlive p. */
void printer_set_labels(struct printer *p, const struct printer_label *labels);

/* Write JSON on one line, for one object per line (JSON Lines). */
void printer_set_json_lines(struct printer *p);

/* Enclose the objects of a listing; JSON makes them an array. */
void printer_begin_list(struct printer *p);
void printer_end_list(struct printer *p);

void printer_begin_object(struct printer *p);
void printer_end_object(struct printer *p);

/*
 * Enclose the objects of a list that is one field of an object: a JSON
 * array member.  In a PRINTER_FIELDS table each object is one row, with
 * its fields as "key=value" words, and an empty list shows "-".  The
 * PRINTER_COLUMNS table has no place for it, so printer_finish() then
 * fails with -EINVAL.
 */
void printer_begin_list_field(struct printer *p, const char *key);
void printer_end_list_field(struct printer *p);

/* A NULL string, like printer_field_null(), prints null or "-". */
void printer_field_str(struct printer *p, const char *key, const char *value);
void printer_field_u64(struct printer *p, const char *key, uint64_t value);
void printer_field_i64(struct printer *p, const char *key, int64_t value);
void printer_field_bool(struct printer *p, const char *key, bool value);
void printer_field_null(struct printer *p, const char *key);

/* A JSON boolean, and "yes" or an empty cell in the table. */
void printer_field_flag(struct printer *p, const char *key, bool value);

/*
 * A rate per second, of messages or (bytes true) of bytes: a JSON number
 * with one decimal, and human units in the table ("1.2K" messages are
 * 1200, "4.0K" bytes are 4096).
 */
void printer_field_rate(struct printer *p, const char *key, double per_sec,
			bool bytes);

/* A duration: a JSON number of seconds, and "0.25 s" in the table. */
void printer_field_seconds(struct printer *p, const char *key, uint64_t ns);

/* A percentage: a JSON number with one decimal, and "37.5%" in the table. */
void printer_field_percent(struct printer *p, const char *key, double percent);

/* A byte count: a JSON number, and human units ("4.0K") in the table. */
void printer_field_size(struct printer *p, const char *key, uint64_t bytes);

/*
 * Write the table (JSON is written as it comes) and flush standard
 * output.  Returns 0, or a negative errno if memory or a write failed.
 */
int printer_finish(struct printer *p);
void printer_free(struct printer *p);

#endif /* CHANCTL_PRINTER_H */
