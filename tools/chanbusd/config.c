/* SPDX-License-Identifier: MIT */
/* Read and validate the bus configuration with libinih. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

/* The state of one file's parse, shared by the line reader and handler. */
struct parse_state {
	struct bus_config *config;
	const char *path;
	FILE *file;
	int line;      /* number of the line being parsed, from 1 */
	bool at_start; /* the next chunk read starts a new line */
	bool failed;   /* an error was logged; stop reading */
};

static void parse_error(struct parse_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void parse_error(struct parse_state *s, const char *fmt, ...)
{
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_err("%s:%d: %s", s->path, s->line, text);
	s->failed = true;
}

static int parse_u64(const char *value, uint64_t *ret, char **ret_end)
{
	unsigned long long n;
	char *end;

	if (!isdigit((unsigned char)value[0]))
		return -EINVAL;
	errno = 0;
	n = strtoull(value, &end, 10);
	if (errno != 0)
		return -EINVAL;
	*ret = n;
	*ret_end = end;
	return 0;
}

static int parse_count(const char *value, uint64_t max, uint64_t *ret)
{
	uint64_t n;
	char *end;

	if (parse_u64(value, &n, &end) < 0 || *end != '\0')
		return -EINVAL;
	if (n == 0 || n > max)
		return -EINVAL;
	*ret = n;
	return 0;
}

/* A byte count with an optional binary suffix K, M or G. */
static int parse_size(const char *value, uint64_t max, uint64_t *ret)
{
	uint64_t n, unit = 1;
	char *end;

	if (parse_u64(value, &n, &end) < 0)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'K':
	case 'k':
		unit = UINT64_C(1) << 10;
		break;
	case 'M':
	case 'm':
		unit = UINT64_C(1) << 20;
		break;
	case 'G':
	case 'g':
		unit = UINT64_C(1) << 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end != '\0' && end[1] != '\0')
		return -EINVAL;
	if (n == 0 || n > max / unit)
		return -EINVAL;
	*ret = n * unit;
	return 0;
}

static int parse_mode(const char *value, uint32_t *ret)
{
	unsigned long n;
	char *end;

	if (value[0] < '0' || value[0] > '7' || strlen(value) > 4)
		return -EINVAL;
	n = strtoul(value, &end, 8);
	if (*end != '\0' || n == 0 || n > 0777)
		return -EINVAL;
	*ret = (uint32_t)n;
	return 0;
}

static int parse_bool(const char *value, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* A user name, or a numeric uid when no user has that name. */
static int parse_user(const char *value, uid_t *ret)
{
	struct passwd *pw;
	uint64_t n;
	char *end;

	errno = 0;
	pw = getpwnam(value);
	if (pw != NULL) {
		*ret = pw->pw_uid;
		return 0;
	}
	if (parse_u64(value, &n, &end) < 0 || *end != '\0' || n >= (uid_t)-1)
		return -ENOENT;
	*ret = (uid_t)n;
	return 0;
}

static int parse_group(const char *value, gid_t *ret)
{
	struct group *gr;
	uint64_t n;
	char *end;

	errno = 0;
	gr = getgrnam(value);
	if (gr != NULL) {
		*ret = gr->gr_gid;
		return 0;
	}
	if (parse_u64(value, &n, &end) < 0 || *end != '\0' || n >= (gid_t)-1)
		return -ENOENT;
	*ret = (gid_t)n;
	return 0;
}

const struct channel_conf *config_find(const struct bus_config *config,
				       const char *name)
{
	for (size_t i = 0; i < config->n_channels; i++) {
		if (strcmp(config->channels[i].name, name) == 0)
			return &config->channels[i];
	}
	return NULL;
}

/* Return the channel declared by section, adding it with the defaults. */
static struct channel_conf *channel_get(struct bus_config *config,
					const char *name)
{
	struct channel_conf *grown, *c;

	c = (struct channel_conf *)config_find(config, name);
	if (c != NULL)
		return c;
	grown = reallocarray(config->channels, config->n_channels + 1,
			     sizeof(*grown));
	if (grown == NULL)
		return NULL;
	config->channels = grown;
	c = &grown[config->n_channels++];
	*c = (struct channel_conf){
	    .capacity = CHAN_CAPACITY_DEFAULT,
	    .max_msg_size = CHAN_MSG_SIZE_DEFAULT,
	    .mode = CHAN_MODE_DEFAULT,
	    .owner = (uid_t)-1,
	    .group = (gid_t)-1,
	    .on_stop = ON_STOP_CLOSE,
	};
	strcpy(c->name, name);
	return c;
}

/* Return the channel name of a "channel NAME" section, or NULL. */
static const char *section_channel(const char *section)
{
	if (strncmp(section, "channel", 7) != 0 ||
	    !isspace((unsigned char)section[7]))
		return NULL;
	section += 7;
	while (isspace((unsigned char)*section))
		section++;
	return section;
}

/*
 * Check a section header and register its channel, so that a section
 * without keys still declares a channel with the defaults.
 */
static void section_begin(struct parse_state *s, const char *section)
{
	const char *name;

	if (strcmp(section, "bus") == 0)
		return;
	name = section_channel(section);
	if (name == NULL) {
		parse_error(s,
			    "unknown section [%s]: expected [bus] or "
			    "[channel NAME]",
			    section);
		return;
	}
	if (chan_name_validate(name) < 0) {
		parse_error(s,
			    "invalid channel name \"%s\" in [%s]: expected 1 "
			    "to %d characters from A-Z a-z 0-9 . _ -",
			    name, section, CHAN_NAME_MAX);
		return;
	}
	if (channel_get(s->config, name) == NULL)
		parse_error(s, "out of memory");
}

/* Find a section header in a line as libinih would, and check it. */
static void scan_section(struct parse_state *s, char *line)
{
	char *start = line, *end;
	char section[256];
	size_t len;

	if (s->line == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	while (isspace((unsigned char)*start))
		start++;
	if (*start != '[')
		return;
	end = strchr(start, ']');
	if (end == NULL)
		return; /* libinih reports the syntax error */
	len = (size_t)(end - start - 1);
	if (len >= sizeof(section)) {
		parse_error(s, "section name too long");
		return;
	}
	memcpy(section, start + 1, len);
	section[len] = '\0';
	section_begin(s, section);
}

/*
 * The line reader given to libinih.  It counts lines, so that the handler
 * knows where each key is, and checks each section header as it passes.
 * Returning NULL ends the parse at the first error.
 */
static char *read_line(char *buf, int size, void *stream)
{
	struct parse_state *s = stream;
	bool new_line = s->at_start;
	size_t len;

	if (s->failed || fgets(buf, size, s->file) == NULL)
		return NULL;
	len = strlen(buf);
	s->at_start = len > 0 && buf[len - 1] == '\n';
	if (!new_line)
		return buf;
	s->line++;
	scan_section(s, buf);
	return s->failed ? NULL : buf;
}

static void invalid_value(struct parse_state *s, const char *section,
			  const char *key, const char *value,
			  const char *expected)
{
	parse_error(s, "invalid %s \"%s\" in [%s]: expected %s", key, value,
		    section, expected);
}

static int set_channel_key(struct parse_state *s, const char *section,
			   struct channel_conf *c, const char *key,
			   const char *value)
{
	char expected[128];

	if (strcmp(key, "capacity") == 0) {
		snprintf(expected, sizeof(expected),
			 "a positive integer up to %" PRIu64,
			 (uint64_t)CHAN_CAPACITY_MAX);
		if (parse_count(value, CHAN_CAPACITY_MAX, &c->capacity) < 0)
			invalid_value(s, section, key, value, expected);
	} else if (strcmp(key, "max-msg-size") == 0) {
		if (parse_size(value, CHAN_MSG_SIZE_MAX, &c->max_msg_size) < 0)
			invalid_value(s, section, key, value,
				      "a size from 1 byte to 1G, with an "
				      "optional K, M or G suffix");
	} else if (strcmp(key, "mode") == 0) {
		if (parse_mode(value, &c->mode) < 0)
			invalid_value(s, section, key, value,
				      "an octal mode from 0001 to 0777");
	} else if (strcmp(key, "user") == 0) {
		if (parse_user(value, &c->owner) < 0)
			invalid_value(s, section, key, value,
				      "an existing user name or a numeric uid");
	} else if (strcmp(key, "group") == 0) {
		if (parse_group(value, &c->group) < 0)
			invalid_value(
			    s, section, key, value,
			    "an existing group name or a numeric gid");
	} else if (strcmp(key, "on-stop") == 0) {
		if (strcmp(value, "close") == 0)
			c->on_stop = ON_STOP_CLOSE;
		else if (strcmp(value, "remove") == 0)
			c->on_stop = ON_STOP_REMOVE;
		else
			invalid_value(s, section, key, value,
				      "close or remove");
	} else {
		parse_error(s,
			    "unknown key \"%s\" in [%s]: expected capacity, "
			    "max-msg-size, mode, user, group or on-stop",
			    key, section);
	}
	return s->failed ? 0 : 1;
}

static int set_bus_key(struct parse_state *s, const char *key,
		       const char *value)
{
	struct bus_config *config = s->config;
	char expected[64];
	uint64_t n;

	if (strcmp(key, "housekeeping-interval") == 0) {
		snprintf(expected, sizeof(expected),
			 "a number of seconds from 1 to %d",
			 BUS_HOUSEKEEPING_MAX_SEC);
		if (parse_count(value, BUS_HOUSEKEEPING_MAX_SEC, &n) < 0)
			invalid_value(s, "bus", key, value, expected);
		else
			config->housekeeping_sec = (unsigned)n;
	} else if (strcmp(key, "remove-undeclared") == 0) {
		if (parse_bool(value, &config->remove_undeclared) < 0)
			invalid_value(s, "bus", key, value, "yes or no");
	} else {
		parse_error(s,
			    "unknown key \"%s\" in [bus]: expected "
			    "housekeeping-interval or remove-undeclared",
			    key);
	}
	return s->failed ? 0 : 1;
}

static int handle_key(void *user, const char *section, const char *key,
		      const char *value)
{
	struct parse_state *s = user;
	const char *name;

	if (s->failed)
		return 0;
	if (section[0] == '\0') {
		parse_error(s,
			    "key \"%s\" outside a section: put it under "
			    "[bus] or [channel NAME]",
			    key);
		return 0;
	}
	if (value == NULL || value[0] == '\0') {
		parse_error(s, "missing value for %s in [%s]", key, section);
		return 0;
	}
	if (strcmp(section, "bus") == 0)
		return set_bus_key(s, key, value);

	/* section_begin() accepted this section when the reader passed it. */
	name = section_channel(section);
	return set_channel_key(s, section, channel_get(s->config, name), key,
			       value);
}

static int parse_file(struct bus_config *config, const char *path)
{
	struct parse_state s = {
	    .config = config,
	    .path = path,
	    .at_start = true,
	};
	int r;

	s.file = fopen(path, "re");
	if (s.file == NULL) {
		r = -errno;
		log_err("%s: failed to open the configuration file: %s", path,
			chan_strerror(r));
		return r;
	}
	r = ini_parse_stream(read_line, &s, handle_key, &s);
	if (!s.failed && ferror(s.file)) {
		log_err("%s: failed to read the configuration file", path);
		s.failed = true;
	}
	fclose(s.file);

	/* A positive result with no error of ours is a syntax error. */
	if (!s.failed && r != 0) {
		log_err("%s:%d: syntax error: expected [section], key = value, "
			"or a comment",
			path, r);
		s.failed = true;
	}
	return s.failed ? -EINVAL : 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_dropin(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 5 &&
	       strcmp(name + len - 5, ".conf") == 0;
}

/* List the *.conf files of dir in lexical (strcmp) order. */
static int list_dropins(const char *dir, char ***ret, size_t *ret_count)
{
	char **paths = NULL, **grown;
	size_t count = 0;
	struct dirent *entry;
	DIR *d = opendir(dir);

	*ret = NULL;
	*ret_count = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((entry = readdir(d)) != NULL) {
		if (!is_dropin(entry->d_name))
			continue;
		grown = reallocarray(paths, count + 1, sizeof(*paths));
		if (grown == NULL)
			break;
		paths = grown;
		if (asprintf(&paths[count], "%s/%s", dir, entry->d_name) < 0)
			break;
		count++;
	}
	closedir(d);
	if (entry != NULL) {
		chan_list_free(paths, count);
		return -ENOMEM;
	}
	if (count > 0)
		qsort(paths, count, sizeof(*paths), compare_names);
	*ret = paths;
	*ret_count = count;
	return 0;
}

int config_load(const char *main_file, const char *dropin_dir,
		struct bus_config *ret)
{
	struct bus_config config = {
	    .housekeeping_sec = BUS_HOUSEKEEPING_DEFAULT_SEC,
	};
	char **dropins = NULL;
	size_t n_dropins = 0;
	int r;

	r = parse_file(&config, main_file);
	if (r == 0 && dropin_dir != NULL) {
		r = list_dropins(dropin_dir, &dropins, &n_dropins);
		if (r < 0)
			log_err("%s: failed to read the drop-in directory: %s",
				dropin_dir, chan_strerror(r));
	}
	for (size_t i = 0; r == 0 && i < n_dropins; i++)
		r = parse_file(&config, dropins[i]);
	chan_list_free(dropins, n_dropins);

	if (r < 0) {
		config_free(&config);
		return r;
	}
	*ret = config;
	return 0;
}

void config_free(struct bus_config *config)
{
	free(config->channels);
	config->channels = NULL;
	config->n_channels = 0;
}
