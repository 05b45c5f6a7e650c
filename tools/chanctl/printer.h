/* SPDX-License-Identifier: MIT */
/*
 * A printer that writes either a table for people or JSON for scripts
 * from the same calls, so that the two outputs always carry the same
 * fields.  A field key such as "msg_size" is the JSON member name, and
 * its upper-case form with dashes ("MSG-SIZE") is the table label.
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

/* Enclose the objects of a listing; JSON makes them an array. */
void printer_begin_list(struct printer *p);
void printer_end_list(struct printer *p);

void printer_begin_object(struct printer *p);
void printer_end_object(struct printer *p);

/* A NULL string, like printer_field_null(), prints null or "-". */
void printer_field_str(struct printer *p, const char *key, const char *value);
void printer_field_u64(struct printer *p, const char *key, uint64_t value);
void printer_field_i64(struct printer *p, const char *key, int64_t value);
void printer_field_bool(struct printer *p, const char *key, bool value);
void printer_field_null(struct printer *p, const char *key);

/* A byte count: a JSON number, and human units ("4.0K") in the table. */
void printer_field_size(struct printer *p, const char *key, uint64_t bytes);

/*
 * Write the table (JSON is written as it comes) and flush standard
 * output.  Returns 0, or a negative errno if memory or a write failed.
 */
int printer_finish(struct printer *p);
void printer_free(struct printer *p);

#endif /* CHANCTL_PRINTER_H */
