/* SPDX-License-Identifier: MIT */
/*
 * chanbusd: create the channels of a configuration, keep them in shape,
 * and close them at stop.  A Type=notify service; see chanbusd(8).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"

#ifndef CHANBUSD_SYSCONFDIR
#define CHANBUSD_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG	   CHANBUSD_SYSCONFDIR "/chan/bus.conf"
#define DEFAULT_CONFIG_DIR CHANBUSD_SYSCONFDIR "/chan/bus.d"
#define STATE_FILE_NAME	   "channels"

/* Exit codes, as documented in chanbusd(8). */
enum {
	EXIT_CONFIG = 1, /* invalid configuration, or failed to start */
	EXIT_USAGE = 2,	 /* invalid command line */
};

struct options {
	const char *config;
	const char *config_dir; /* NULL: no drop-in directory */
	const char *state_file; /* NULL: no state file */
	bool check;
};

/* The daemon's timers, on CLOCK_MONOTONIC in microseconds. */
struct timers {
	uint64_t housekeeping_at;
	uint64_t watchdog_usec; /* 0: no watchdog */
	uint64_t watchdog_at;
};

static char state_file_buf[PATH_MAX];

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: chanbusd [OPTION]...\n"
		"Create the channels of the bus configuration and manage "
		"them until stopped.\n\n"
		"  -c, --config FILE      main configuration file (default "
		"%s)\n"
		"  -d, --config-dir DIR   drop-in directory of *.conf files "
		"(default %s,\n"
		"                         or none when --config is given)\n"
		"  -s, --state-file FILE  list of managed channels (default "
		"$RUNTIME_DIRECTORY/%s)\n"
		"      --check            validate the configuration and "
		"exit\n"
		"  -v, --verbose          also log each channel's state at "
		"each housekeeping round\n"
		"  -h, --help             show this help and exit\n",
		DEFAULT_CONFIG, DEFAULT_CONFIG_DIR, STATE_FILE_NAME);
}

/* The first directory of $RUNTIME_DIRECTORY (a colon-separated list). */
static const char *default_state_file(void)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");
	size_t len;

	if (dir == NULL || dir[0] == '\0')
		return NULL;
	len = strcspn(dir, ":");
	if (snprintf(state_file_buf, sizeof(state_file_buf), "%.*s/%s",
		     (int)len, dir,
		     STATE_FILE_NAME) >= (int)sizeof(state_file_buf))
		return NULL;
	return state_file_buf;
}

static int parse_options(int argc, char **argv, struct options *opts)
{
	enum { OPT_CHECK = 256 };
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"config-dir", required_argument, NULL, 'd'},
	    {"state-file", required_argument, NULL, 's'},
	    {"check", no_argument, NULL, OPT_CHECK},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool config_dir_set = false;
	int c;

	*opts = (struct options){.config = DEFAULT_CONFIG};
	while ((c = getopt_long(argc, argv, "c:d:s:vh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			opts->config = optarg;
			break;
		case 'd':
			opts->config_dir = optarg;
			config_dir_set = true;
			break;
		case 's':
			opts->state_file = optarg;
			break;
		case OPT_CHECK:
			opts->check = true;
			break;
		case 'v':
			log_verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chanbusd: unexpected argument \"%s\"\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!config_dir_set && strcmp(opts->config, DEFAULT_CONFIG) == 0)
		opts->config_dir = DEFAULT_CONFIG_DIR;
	if (opts->state_file == NULL)
		opts->state_file = default_state_file();
	return 0;
}

/*
 * Block the signals the daemon handles and read them from a signalfd in
 * the event loop, so that no work happens in a signal handler.
 */
static int open_signalfd(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

static void notify_status(const struct bus *bus, const char *state,
			  const char *note)
{
	size_t managed, errors;

	bus_count(bus, &managed, &errors);
	sd_notifyf(0, "%sSTATUS=%zu channels, %zu errors%s", state, managed,
		   errors, note);
}

static void reload(struct bus *bus, const struct options *opts)
{
	struct bus_config config;
	size_t managed, errors;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)now_usec());
	log_info("reloading the configuration from %s", opts->config);
	if (config_load(opts->config, opts->config_dir, &config) < 0) {
		log_err("reload failed: keeping the previous configuration");
		notify_status(bus, "READY=1\n", ", last reload failed");
		return;
	}
	bus_reload(bus, &config);
	bus_count(bus, &managed, &errors);
	log_info("reloaded: %zu channels, %zu errors", managed, errors);
	notify_status(bus, "READY=1\n", "");
}

static int poll_timeout_ms(const struct timers *t)
{
	uint64_t now = now_usec(), next = t->housekeeping_at;

	if (t->watchdog_usec != 0 && t->watchdog_at < next)
		next = t->watchdog_at;
	if (next <= now)
		return 0;
	return (int)((next - now + 999) / 1000);
}

static void run_timers(struct bus *bus, struct timers *t)
{
	uint64_t now = now_usec();

	if (t->watchdog_usec != 0 && now >= t->watchdog_at) {
		sd_notify(0, "WATCHDOG=1");
		t->watchdog_at = now + t->watchdog_usec / 2;
	}
	if (now >= t->housekeeping_at) {
		bus_housekeeping(bus);
		notify_status(bus, "", "");
		t->housekeeping_at =
		    now_usec() +
		    (uint64_t)bus->config.housekeeping_sec * 1000000;
	}
}

/* Read one signal; return the signal number, or 0 if none is pending. */
static int read_signal(int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

/* Serve until SIGTERM or SIGINT; return the signal that stopped it. */
static int event_loop(struct bus *bus, const struct options *opts, int sfd)
{
	struct timers t = {0};
	struct pollfd pfd = {.fd = sfd, .events = POLLIN};

	if (sd_watchdog_enabled(0, &t.watchdog_usec) <= 0)
		t.watchdog_usec = 0;
	t.watchdog_at = now_usec();
	t.housekeeping_at =
	    now_usec() + (uint64_t)bus->config.housekeeping_sec * 1000000;

	for (;;) {
		int r = poll(&pfd, 1, poll_timeout_ms(&t));
		int sig;

		if (r < 0 && errno != EINTR) {
			log_err("poll failed: %s", chan_strerror(-errno));
			return SIGTERM;
		}
		while ((sig = read_signal(sfd)) != 0) {
			if (sig != SIGHUP)
				return sig;
			reload(bus, opts);
			t.housekeeping_at =
			    now_usec() +
			    (uint64_t)bus->config.housekeeping_sec * 1000000;
		}
		run_timers(bus, &t);
	}
}

static int check_config(const struct options *opts)
{
	struct bus_config config;

	if (config_load(opts->config, opts->config_dir, &config) < 0)
		return EXIT_CONFIG;
	printf("%s: valid, %zu channels\n", opts->config, config.n_channels);
	config_free(&config);
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	struct bus bus = {0};
	struct bus_config config;
	struct options opts;
	size_t managed, errors;
	int sfd, sig;

	if (parse_options(argc, argv, &opts) < 0)
		return EXIT_USAGE;
	if (opts.check)
		return check_config(&opts);

	/* Validate everything before touching any channel. */
	if (config_load(opts.config, opts.config_dir, &config) < 0) {
		log_err("invalid configuration: no channel was touched");
		return EXIT_CONFIG;
	}
	sfd = open_signalfd();
	if (sfd < 0) {
		log_err("failed to set up signal handling: %s",
			chan_strerror(sfd));
		config_free(&config);
		return EXIT_CONFIG;
	}
	log_info("starting: configuration %s, %zu channels declared",
		 opts.config, config.n_channels);

	bus.state_file = opts.state_file;
	bus_start(&bus, &config);
	bus_count(&bus, &managed, &errors);
	log_info("ready: %zu channels, %zu errors", managed, errors);
	notify_status(&bus, "READY=1\n", "");

	sig = event_loop(&bus, &opts, sfd);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	log_info("stopping on SIG%s", sigabbrev_np(sig));
	bus_stop(&bus);
	close(sfd);
	log_info("stopped");
	return EXIT_SUCCESS;
}
