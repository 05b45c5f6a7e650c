/* SPDX-License-Identifier: MIT */
/*
 * chanbench: measure chan against pipes, Unix sockets, POSIX message
 * queues and a spinning SPSC ring, between separate processes, and print
 * the medians with chan's ratio to each peer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <gnu/libc-version.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "report.h"

#ifndef CHANBENCH_BUILD_TYPE
#define CHANBENCH_BUILD_TYPE "unknown"
#endif

#define MAX_SIZES 8

struct config cfg = {
    .pin = true,
    .capacity = CHAN_CAPACITY_DEFAULT,
    .batch = 1,
    .corrupt_seq = UINT64_MAX,
};

/* The tests, transports and sizes selected on the command line. */
struct plan {
	bool use[16]; /* by index in transports[] */
	size_t sizes[MAX_SIZES];
	size_t nsizes;
	bool sizes_given;
	bool throughput, latency, multi, idle;
};

static const size_t default_sizes[] = {64, 1024, 65536};
static const size_t default_multi_sizes[] = {64, 1024};
static const int multi_layouts[] = {1, 2, 4};

static void usage(FILE *f)
{
	fputs("Usage: chanbench [OPTION]...\n"
	      "Measure chan against other ways to pass messages between two\n"
	      "processes, and print each median with chan's ratio to it.\n"
	      "\n"
	      "  -q, --quick        3 short passes per figure (about 10 s)\n"
	      "      --smoke        tiny message counts, every check, no\n"
	      "                     figures (for CI; a few seconds)\n"
	      "  -j, --json         print one JSON object instead of tables\n"
	      "      --only LIST    transports to run, comma-separated\n"
	      "                     (default: all; multi and idle need chan)\n"
	      "      --sizes LIST   message sizes in bytes, comma-separated,\n"
	      "                     K and M suffixes allowed (default:\n"
	      "                     64,1K,64K, and 64,1K for multi); the\n"
	      "                     round trip uses the smallest size\n"
	      "      --tests LIST   throughput,latency,multi,idle\n"
	      "                     (default: all)\n"
	      "      --passes N     timed passes per figure, 1 to 15\n"
	      "                     (default: 5, or 3 with --quick)\n"
	      "      --capacity N   slots of chan and the SPSC ring\n"
	      "                     (default: 256)\n"
	      "      --batch N      also run chan with chan_send_batch and\n"
	      "                     chan_recv_batch, N messages per call, in\n"
	      "                     the throughput and multi tests, as rows\n"
	      "                     chan-batchN (1 to 256; default: 1, which\n"
	      "                     adds no rows)\n"
	      "      --no-pin       let the scheduler place the processes\n"
	      "      --timeout SEC  kill a measurement that runs longer\n"
	      "                     (default: 120)\n"
	      "      --corrupt SEQ  spoil message SEQ on the sending side, to\n"
	      "                     show that verification catches it\n"
	      "  -h, --help         print this help\n"
	      "\n"
	      "Transports:\n",
	      f);
	for (size_t i = 0; i < transport_count; i++)
		fprintf(f, "  %-16s %s\n", transports[i]->name,
			transports[i]->label);
	fputs(
	    "\nExit status: 0 on success, 1 if a message failed verification,\n"
	    "a measurement failed or objects were left behind, 2 on a usage\n"
	    "error.\n",
	    f);
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -1;
	*ret = v;
	return 0;
}

/* Parse a size such as 64, 1K, 1KiB or 16M (binary multiples). */
static int parse_size(const char *s, size_t *ret)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return -1;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	if (shift != 0) {
		end++;
		if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
			end += strlen(end);
	} else if (strcmp(end, "B") == 0) {
		end++;
	}
	if (*end != '\0' || v > MSG_MAX_SIZE)
		return -1;
	v <<= shift;
	if (v < MSG_MIN_SIZE || v > MSG_MAX_SIZE)
		return -1;
	*ret = (size_t)v;
	return 0;
}

static int parse_sizes(const char *arg, struct plan *plan)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int r = 0;

	plan->nsizes = 0;
	for (tok = strtok_r(copy, ",", &save); tok != NULL && r == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		if (plan->nsizes == MAX_SIZES) {
			fprintf(stderr,
				"chanbench: --sizes takes at most %d sizes\n",
				MAX_SIZES);
			r = -1;
		} else if (parse_size(tok, &plan->sizes[plan->nsizes++]) < 0) {
			fprintf(stderr,
				"chanbench: invalid size '%s' in --sizes: "
				"expected bytes from %zu to %zu, optionally "
				"with a K or M suffix\n",
				tok, MSG_MIN_SIZE, MSG_MAX_SIZE);
			r = -1;
		}
	}
	if (r == 0 && plan->nsizes == 0) {
		fprintf(stderr, "chanbench: --sizes needs at least one size\n");
		r = -1;
	}
	plan->sizes_given = true;
	free(copy);
	return r;
}

static int parse_only(const char *arg, struct plan *plan)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int r = 0;

	memset(plan->use, 0, sizeof(plan->use));
	for (tok = strtok_r(copy, ",", &save); tok != NULL && r == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < transport_count; i++) {
			if (strcmp(tok, transports[i]->name) == 0)
				break;
		}
		if (i == transport_count) {
			fprintf(stderr,
				"chanbench: unknown transport '%s' in --only; "
				"see --help for the list\n",
				tok);
			r = -1;
		} else {
			plan->use[i] = true;
		}
	}
	free(copy);
	return r;
}

static int parse_tests(const char *arg, struct plan *plan)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int r = 0;

	plan->throughput = plan->latency = plan->multi = plan->idle = false;
	for (tok = strtok_r(copy, ",", &save); tok != NULL && r == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "throughput") == 0) {
			plan->throughput = true;
		} else if (strcmp(tok, "latency") == 0) {
			plan->latency = true;
		} else if (strcmp(tok, "multi") == 0) {
			plan->multi = true;
		} else if (strcmp(tok, "idle") == 0) {
			plan->idle = true;
		} else {
			fprintf(stderr,
				"chanbench: unknown test '%s' in --tests: "
				"expected throughput, latency, multi or idle\n",
				tok);
			r = -1;
		}
	}
	free(copy);
	return r;
}

static int parse_number_option(const char *name, const char *arg, uint64_t min,
			       uint64_t max, uint64_t *ret)
{
	if (parse_u64(arg, ret) == 0 && *ret >= min && *ret <= max)
		return 0;
	fprintf(stderr,
		"chanbench: invalid value '%s' for %s: expected a whole number "
		"from %" PRIu64 " to %" PRIu64 "\n",
		arg, name, min, max);
	return -1;
}

enum {
	OPT_SMOKE = 256,
	OPT_ONLY,
	OPT_SIZES,
	OPT_TESTS,
	OPT_PASSES,
	OPT_CAPACITY,
	OPT_BATCH,
	OPT_NO_PIN,
	OPT_TIMEOUT,
	OPT_CORRUPT,
};

static const struct option long_options[] = {
    {"quick", no_argument, NULL, 'q'},
    {"smoke", no_argument, NULL, OPT_SMOKE},
    {"json", no_argument, NULL, 'j'},
    {"only", required_argument, NULL, OPT_ONLY},
    {"sizes", required_argument, NULL, OPT_SIZES},
    {"tests", required_argument, NULL, OPT_TESTS},
    {"passes", required_argument, NULL, OPT_PASSES},
    {"capacity", required_argument, NULL, OPT_CAPACITY},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"no-pin", no_argument, NULL, OPT_NO_PIN},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"corrupt", required_argument, NULL, OPT_CORRUPT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_option(int opt, struct plan *plan, uint64_t *passes,
			uint64_t *timeout)
{
	switch (opt) {
	case 'q':
		cfg.quick = true;
		return 0;
	case OPT_SMOKE:
		cfg.smoke = true;
		return 0;
	case 'j':
		cfg.json = true;
		return 0;
	case OPT_ONLY:
		return parse_only(optarg, plan);
	case OPT_SIZES:
		return parse_sizes(optarg, plan);
	case OPT_TESTS:
		return parse_tests(optarg, plan);
	case OPT_PASSES:
		return parse_number_option("--passes", optarg, 1, 15, passes);
	case OPT_CAPACITY:
		return parse_number_option("--capacity", optarg, 1,
					   CHAN_CAPACITY_MAX, &cfg.capacity);
	case OPT_BATCH:
		return parse_number_option("--batch", optarg, 1, BATCH_MAX,
					   &cfg.batch);
	case OPT_NO_PIN:
		cfg.pin = false;
		return 0;
	case OPT_TIMEOUT:
		return parse_number_option("--timeout", optarg, 1, 86400,
					   timeout);
	case OPT_CORRUPT:
		return parse_number_option("--corrupt", optarg, 0,
					   UINT64_MAX - 1, &cfg.corrupt_seq);
	case 'h':
		usage(stdout);
		exit(0);
	default:
		fputs("Try 'chanbench --help' for more information.\n", stderr);
		return -1;
	}
}

static int parse_args(int argc, char **argv, struct plan *plan)
{
	uint64_t passes = 0, timeout = 120;
	int opt;

	for (size_t i = 0; i < transport_count; i++)
		plan->use[i] = true;
	plan->throughput = plan->latency = plan->multi = plan->idle = true;

	while ((opt = getopt_long(argc, argv, "qjh", long_options, NULL)) !=
	       -1) {
		if (parse_option(opt, plan, &passes, &timeout) < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr,
			"chanbench: unexpected argument '%s'; see --help\n",
			argv[optind]);
		return -1;
	}

	cfg.passes = cfg.quick ? 3 : 5;
	if (passes != 0)
		cfg.passes = (unsigned)passes;
	cfg.target_s = cfg.quick ? 0.05 : 0.3;
	cfg.idle_s = 2.0;
	if (cfg.quick)
		cfg.idle_s = 0.75;
	if (cfg.smoke)
		cfg.idle_s = 0.1;
	cfg.timeout_s = (double)timeout;
	return 0;
}

/* Machine facts ----------------------------------------------------------- */

static long read_long(const char *path, long fallback)
{
	FILE *f = fopen(path, "r");
	long v;

	if (f == NULL)
		return fallback;
	if (fscanf(f, "%ld", &v) != 1)
		v = fallback;
	fclose(f);
	return v;
}

static void cpu_model(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, size, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || colon == NULL)
			continue;
		colon += strspn(colon + 1, " \t") + 1;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, size, "%s", colon);
		break;
	}
	fclose(f);
}

static void read_cpus(void)
{
	cpu_set_t set;

	cfg.ncpus = 0;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int i = 0; i < CPU_SETSIZE && cfg.ncpus < 256; i++) {
		if (CPU_ISSET(i, &set))
			cfg.cpus[cfg.ncpus++] = i;
	}
}

static void describe_pinning(char *buf, size_t size)
{
	int n = 0;

	if (!cfg.pin) {
		snprintf(buf, size, "off (--no-pin)");
		return;
	}
	if (cfg.ncpus < 2) {
		snprintf(buf, size, "off: only one CPU is available");
		return;
	}
	n = snprintf(buf, size, "one CPU per process, in turn over CPUs");
	for (int i = 0; i < cfg.ncpus && n > 0 && (size_t)n < size; i++)
		n += snprintf(buf + n, size - (size_t)n, "%s%d", i ? "," : " ",
			      cfg.cpus[i]);
}

static const char *mode_name(void)
{
	if (cfg.smoke)
		return "smoke";
	return cfg.quick ? "quick" : "full";
}

static void add_facts(struct report *rep)
{
	struct utsname uts;
	char buf[256];

	report_fact_text(rep, "mode", "mode", mode_name());
	report_fact_number(rep, "passes", "passes", cfg.smoke ? 1 : cfg.passes);
	report_fact_text(rep, "build", "build", CHANBENCH_BUILD_TYPE);
	cpu_model(buf, sizeof(buf));
	report_fact_text(rep, "cpu", "cpu", buf);
	report_fact_number(rep, "cpus_online", "cpus online",
			   (double)sysconf(_SC_NPROCESSORS_ONLN));
	if (uname(&uts) == 0)
		report_fact_text(rep, "kernel", "kernel", uts.release);
	report_fact_text(rep, "glibc", "glibc", gnu_get_libc_version());
	describe_pinning(buf, sizeof(buf));
	report_fact_text(rep, "pinning", "pinning", buf);
	report_fact_number(rep, "capacity", "capacity", (double)cfg.capacity);
	report_fact_number(rep, "batch", "chan batch", (double)cfg.batch);
	snprintf(buf, sizeof(buf), "msg_max %ld, msgsize_max %ld",
		 cfg.mq_msg_max, cfg.mq_msgsize_max);
	report_fact_text(rep, "mq_limits", "mq limits", buf);
	snprintf(buf, sizeof(buf), "%s*", name_prefix());
	report_fact_text(rep, "objects", "objects", buf);
}

/* Running the plan -------------------------------------------------------- */

/* Results kept for the ratios and the target checks. */
struct results {
	struct series thr[16][MAX_SIZES];
	struct series thr_batch[MAX_SIZES]; /* chan in batches of cfg.batch */
	struct series lat[16];
	struct series multi[3][MAX_SIZES];
	struct series multi_batch[3][MAX_SIZES];
	size_t multi_sizes[MAX_SIZES];
	size_t nmulti_sizes;
	struct idle_result idle[2];
	bool idle_ok[2];
};

static double timed(double v)
{
	return cfg.smoke ? NAN : v;
}

static double ratio(double a, double b)
{
	return cfg.smoke || b <= 0 ? NAN : a / b;
}

/*
 * Calibrate every series, then run pass p of each before pass p + 1 of
 * any.  A slow spell of a shared machine then lowers one pass of every
 * transport, not every pass of one, and the ratios stay fair.
 */
static int run_series(struct series **list, size_t n)
{
	unsigned passes = cfg.smoke ? 1 : cfg.passes;

	for (size_t i = 0; i < n; i++) {
		if (series_calibrate(list[i]) < 0)
			return -1;
	}
	for (unsigned p = 0; p < passes; p++) {
		for (size_t i = 0; i < n; i++) {
			if (series_pass(list[i]) < 0)
				return -1;
		}
	}
	for (size_t i = 0; i < n; i++)
		series_finish(list[i]);
	return 0;
}

static const struct column thr_columns[] = {
    {"transport", "transport", 0}, {"size", "size B", 0},
    {"messages", "messages", 0},   {"mmsgs_per_s", "M msg/s", 3},
    {"mb_per_s", "MB/s", 0},	   {"chan_ratio", "chan/this", 2},
    {"note", "note", 0},
};

static void throughput_row(struct table *t, const struct series *se,
			   const struct series *chan, const char *skipped)
{
	size_t row = table_add_row(t);
	char name[32];

	table_set_text(
	    t, row, 0,
	    transport_row_name(se->t, se->batch, name, sizeof(name)));
	table_set_number(t, row, 1, (double)se->size);
	if (!se->done) {
		table_set_text(t, row, 6, skipped);
		return;
	}
	table_set_number(t, row, 2, (double)se->count);
	table_set_number(t, row, 3, timed(se->median[0] / 1e6));
	table_set_number(t, row, 4,
			 timed(se->median[0] * (double)se->size / 1e6));
	if (chan->done)
		table_set_number(t, row, 5,
				 ratio(chan->median[0], se->median[0]));
}

static bool batching(const struct plan *plan)
{
	return cfg.batch > 1 && plan->use[0];
}

/*
 * The batched chan series is listed before chan's own, so that it runs
 * first in each pass, and with --corrupt it is the one that reports.
 */
static int run_throughput(const struct plan *plan, struct report *rep,
			  struct results *res)
{
	struct table *t =
	    report_table(rep, "throughput",
			 "Streaming throughput, one sender and one receiver",
			 thr_columns, 7);
	char skipped[16][MAX_SIZES][160] = {{{0}}};
	struct series *list[17 * MAX_SIZES];
	size_t n = 0;

	for (size_t s = 0; s < plan->nsizes; s++) {
		res->thr_batch[s] =
		    (struct series){.kind = TEST_THROUGHPUT,
				    .t = transports[0],
				    .size = plan->sizes[s],
				    .batch = (unsigned)cfg.batch};
		if (batching(plan))
			list[n++] = &res->thr_batch[s];
		for (size_t i = 0; i < transport_count; i++) {
			struct series *se = &res->thr[i][s];
			char *why = skipped[i][s];

			*se = (struct series){.kind = TEST_THROUGHPUT,
					      .t = transports[i],
					      .size = plan->sizes[s]};
			if (!plan->use[i])
				continue;
			if (se->t->fits(se->size, why, 140) < 0)
				strcat(why, ": skipped");
			else
				list[n++] = se;
		}
	}
	if (run_series(list, n) < 0)
		return -1;

	for (size_t s = 0; s < plan->nsizes; s++) {
		for (size_t i = 0; i < transport_count; i++) {
			if (plan->use[i])
				throughput_row(t, &res->thr[i][s],
					       &res->thr[0][s], skipped[i][s]);
			if (i == 0 && batching(plan))
				throughput_row(t, &res->thr_batch[s],
					       &res->thr[0][s], "");
		}
	}
	return 0;
}

static const struct column lat_columns[] = {
    {"transport", "transport", 0},
    {"size", "size B", 0},
    {"round_trips", "round trips", 0},
    {"p50_us", "p50 us", 2},
    {"p99_us", "p99 us", 2},
    {"p999_us", "p99.9 us", 2},
    {"chan_ratio_p50", "chan/this p50", 2},
};

static int run_latency(const struct plan *plan, struct report *rep,
		       struct results *res)
{
	struct table *t = report_table(
	    rep, "latency", "Ping-pong round trip, one channel each way",
	    lat_columns, 7);
	struct series *list[16];
	size_t size = plan->sizes[0], n = 0;
	char why[160];

	for (size_t s = 1; s < plan->nsizes; s++) {
		if (plan->sizes[s] < size)
			size = plan->sizes[s];
	}
	for (size_t i = 0; i < transport_count; i++) {
		struct series *se = &res->lat[i];

		*se = (struct series){
		    .kind = TEST_LATENCY, .t = transports[i], .size = size};
		if (plan->use[i] && se->t->fits(size, why, sizeof(why)) == 0)
			list[n++] = se;
	}
	if (run_series(list, n) < 0)
		return -1;

	for (size_t i = 0; i < n; i++) {
		const struct series *se = list[i];
		size_t row = table_add_row(t);

		table_set_text(t, row, 0, se->t->name);
		table_set_number(t, row, 1, (double)size);
		table_set_number(t, row, 2, (double)se->count);
		for (int k = 0; k < 3; k++)
			table_set_number(t, row, 3 + (size_t)k,
					 timed(se->median[k]));
		if (res->lat[0].done)
			table_set_number(
			    t, row, 6,
			    ratio(res->lat[0].median[0], se->median[0]));
	}
	return 0;
}

static const struct column multi_columns[] = {
    {"transport", "transport", 0},
    {"layout", "senders x receivers", 0},
    {"size", "size B", 0},
    {"messages", "messages", 0},
    {"mmsgs_per_s", "M msg/s", 3},
    {"mb_per_s", "MB/s", 0},
    {"ratio_to_1x1", "this/1x1", 2},
    {"vol_switches_per_kmsg", "sleeps/1k msgs", 1},
    {"invol_switches_per_kmsg", "preempts/1k msgs", 1},
};

static void multi_rows(struct table *t, struct series (*layouts)[MAX_SIZES],
		       size_t s)
{
	for (size_t l = 0; l < 3; l++) {
		const struct series *se = &layouts[l][s];
		size_t row = table_add_row(t);
		char name[32], layout[16];

		snprintf(layout, sizeof(layout), "%dx%d", se->pairs, se->pairs);
		table_set_text(
		    t, row, 0,
		    transport_row_name(se->t, se->batch, name, sizeof(name)));
		table_set_text(t, row, 1, layout);
		table_set_number(t, row, 2, (double)se->size);
		table_set_number(t, row, 3, (double)se->count);
		table_set_number(t, row, 4, timed(se->median[0] / 1e6));
		table_set_number(t, row, 5,
				 timed(se->median[0] * (double)se->size / 1e6));
		table_set_number(t, row, 6,
				 ratio(se->median[0], layouts[0][s].median[0]));
		table_set_number(t, row, 7, timed(se->median[1]));
		table_set_number(t, row, 8, timed(se->median[2]));
	}
}

/* As in run_throughput(), the batched series run first in each pass. */
static int run_multi(const struct plan *plan, struct report *rep,
		     struct results *res)
{
	struct table *t = report_table(
	    rep, "multi",
	    "chan with several senders and receivers on one channel, total",
	    multi_columns, 9);
	struct series *list[6 * MAX_SIZES];
	size_t n = 0;

	res->nmulti_sizes = plan->sizes_given ? plan->nsizes : 2;
	memcpy(res->multi_sizes,
	       plan->sizes_given ? plan->sizes : default_multi_sizes,
	       res->nmulti_sizes * sizeof(size_t));
	for (size_t s = 0; s < res->nmulti_sizes; s++) {
		for (size_t l = 0; l < 3; l++) {
			struct series se = {
			    .kind = TEST_MULTI,
			    .t = transports[0],
			    .size = res->multi_sizes[s],
			    .pairs = multi_layouts[l],
			};

			res->multi[l][s] = se;
			se.batch = (unsigned)cfg.batch;
			res->multi_batch[l][s] = se;
			if (batching(plan))
				list[n++] = &res->multi_batch[l][s];
			list[n++] = &res->multi[l][s];
		}
	}
	if (run_series(list, n) < 0)
		return -1;

	for (size_t s = 0; s < res->nmulti_sizes; s++) {
		multi_rows(t, res->multi, s);
		if (batching(plan))
			multi_rows(t, res->multi_batch, s);
	}
	return 0;
}

static const struct column idle_columns[] = {
    {"case", "case", 0},
    {"window_s", "window s", 2},
    {"cpu_ms", "CPU ms", 3},
    {"cpu_ms_per_s", "CPU ms per s", 3},
};

static int run_idle(struct report *rep, struct results *res)
{
	struct table *t = report_table(
	    rep, "idle",
	    "CPU time of a chan receiver waiting on an empty channel",
	    idle_columns, 4);

	for (int i = 0; i < 2; i++) {
		char what[64];
		size_t row;

		if (measure_idle(i == 1, &res->idle[i]) < 0)
			return -1;
		res->idle_ok[i] = true;
		row = table_add_row(t);
		if (i == 0)
			snprintf(what, sizeof(what),
				 "blocked on an empty channel");
		else
			snprintf(what, sizeof(what),
				 "after a burst of %" PRIu64 " messages",
				 res->idle[i].burst);
		table_set_text(t, row, 0, what);
		table_set_number(t, row, 1, timed(res->idle[i].window_s));
		table_set_number(t, row, 2, timed(res->idle[i].cpu_ms));
		table_set_number(t, row, 3, timed(res->idle[i].cpu_ms_per_s));
	}
	return 0;
}

/* Targets ----------------------------------------------------------------- */

static const struct column target_columns[] = {
    {"target", "target", 0},
    {"measured", "measured", 2},
    {"required", "required", 2},
    {"met", "met", 0},
};

static void add_target(struct table *t, const char *what, double measured,
		       double required, bool at_least)
{
	size_t row = table_add_row(t);

	table_set_text(t, row, 0, what);
	table_set_number(t, row, 1, measured);
	table_set_number(t, row, 2, required);
	table_set_bool(t, row, 3,
		       at_least ? measured >= required : measured <= required);
}

static void add_stream_target(struct table *t, const struct plan *plan,
			      const struct results *res, size_t size, int peer,
			      double required, const char *what)
{
	for (size_t s = 0; s < plan->nsizes; s++) {
		const struct series *chan = &res->thr[0][s];
		const struct series *other = &res->thr[peer][s];

		if (plan->sizes[s] != size || !chan->done || !other->done)
			continue;
		add_target(t, what, chan->median[0] / other->median[0],
			   required, true);
	}
}

static int peer_index(const char *name)
{
	for (size_t i = 0; i < transport_count; i++) {
		if (strcmp(transports[i]->name, name) == 0)
			return (int)i;
	}
	return 0;
}

/*
 * The idle thresholds are this tool's reading of "no CPU after a short
 * bounded spin": under 0.1 % of a CPU while blocked, and under 1 % over a
 * window that starts right after a burst.
 */
static void add_targets(struct report *rep, const struct plan *plan,
			const struct results *res)
{
	struct table *t = report_table(
	    rep, "targets", "chan against its targets", target_columns, 4);
	int spsc = peer_index("spsc"), sock = peer_index("unix-stream");

	add_stream_target(t, plan, res, 64, spsc, 0.5, "64 B chan/spsc");
	add_stream_target(t, plan, res, 1024, spsc, 0.5, "1 KiB chan/spsc");
	add_stream_target(t, plan, res, 65536, spsc, 0.8, "64 KiB chan/spsc");
	add_stream_target(t, plan, res, 65536, sock, 1.6,
			  "64 KiB chan/unix-stream");
	if (res->lat[0].done && res->lat[spsc].done)
		add_target(t, "round trip p50 chan/spsc",
			   res->lat[0].median[0] / res->lat[spsc].median[0],
			   4.0, false);
	if (res->idle_ok[0])
		add_target(t, "idle receiver CPU ms per s",
			   res->idle[0].cpu_ms_per_s, 1.0, false);
	if (res->idle_ok[1])
		add_target(t, "after-burst receiver CPU ms per s",
			   res->idle[1].cpu_ms_per_s, 10.0, false);
	for (size_t s = 0; s < res->nmulti_sizes; s++) {
		char what[48];

		snprintf(what, sizeof(what), "4x4/1x1 at %zu B",
			 res->multi_sizes[s]);
		add_target(t, what,
			   res->multi[2][s].median[0] /
			       res->multi[0][s].median[0],
			   0.7, true);
	}
}

static void add_notes(struct report *rep, const struct plan *plan)
{
	if (cfg.smoke)
		report_note(rep, "smoke run: every message was verified, but "
				 "the counts are too small for the timings to "
				 "mean anything, so none are shown");
	else
		report_note(
		    rep,
		    "each figure is the median of %u timed passes, taken in "
		    "turn over all transports after one warm-up pass each; "
		    "chan/this is chan's figure divided by this transport's, "
		    "from the same run",
		    cfg.passes);
	if (plan->latency)
		report_note(rep, "round-trip percentiles are nearest-rank, per "
				 "pass, then the median over passes; chan/this "
				 "p50 above 1 means chan is slower");
	if (plan->idle)
		report_note(rep, "the idle figures come from one window each, "
				 "measured with getrusage in the receiver");
	if (plan->multi && plan->use[0])
		report_note(rep,
			    "sleeps and preempts per 1k msgs are the "
			    "voluntary and involuntary context switches "
			    "of all processes while timed, from getrusage");
	if (batching(plan) && (plan->throughput || plan->multi))
		report_note(rep,
			    "chan-batch%u rows: chan_send_batch with %u "
			    "messages per call and chan_recv_batch with room "
			    "for %u, every message still verified; this/1x1 "
			    "compares with the 1x1 row of the same transport; "
			    "the targets use the chan rows",
			    (unsigned)cfg.batch, (unsigned)cfg.batch,
			    (unsigned)cfg.batch);
#ifdef CHANBENCH_FAULT_INJECTION
	report_note(rep, "libchan was built with CHAN_FAULT_INJECTION, which "
			 "reads the environment at each fault point: its "
			 "figures are lower than a release build's");
#endif
}

static int run_plan(const struct plan *plan, struct report *rep)
{
	struct results *res = calloc(1, sizeof(*res));
	bool have_chan = plan->use[0];
	int r = 0;

	if (res == NULL) {
		fprintf(stderr, "chanbench: out of memory\n");
		return -1;
	}
	if (plan->throughput)
		r = run_throughput(plan, rep, res);
	if (r == 0 && plan->latency)
		r = run_latency(plan, rep, res);
	if (r == 0 && plan->multi && have_chan)
		r = run_multi(plan, rep, res);
	if (r == 0 && plan->idle && have_chan)
		r = run_idle(rep, res);
	if (r == 0 && !cfg.smoke && have_chan)
		add_targets(rep, plan, res);
	free(res);
	return r;
}

int main(int argc, char **argv)
{
	struct plan plan = {0};
	struct report rep = {0};
	int r;

	if (parse_args(argc, argv, &plan) < 0)
		return 2;
	if (!plan.sizes_given) {
		memcpy(plan.sizes, default_sizes, sizeof(default_sizes));
		plan.nsizes = 3;
	}
	read_cpus();
	cfg.mq_msg_max = read_long("/proc/sys/fs/mqueue/msg_max", 10);
	cfg.mq_msgsize_max = read_long("/proc/sys/fs/mqueue/msgsize_max", 8192);
	runner_init();

	add_facts(&rep);
	if (cfg.pin && cfg.ncpus < 2)
		fprintf(stderr, "chanbench: only one CPU is available, so the "
				"processes are not pinned\n");
	fprintf(stderr, "chanbench: measuring in %s mode, objects named %s*\n",
		mode_name(), name_prefix());

	r = run_plan(&plan, &rep);
	cleanup_all();
	if (leak_check() > 0)
		r = -1;
	if (r == 0) {
		add_notes(&rep, &plan);
		report_print(&rep, cfg.json);
	}
	report_free(&rep);
	return r == 0 ? 0 : 1;
}
