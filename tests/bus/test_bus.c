/* SPDX-License-Identifier: MIT */
/*
 * Tests of chanbusd run directly: each test writes a configuration in a
 * temporary directory, starts the built daemon with --config,
 * --config-dir and --state-file, and reads its sd_notify messages from a
 * datagram socket it binds there (NOTIFY_SOCKET).  Channel names start
 * with "tbus<pid>." and every test removes its channels at exit.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"

/* Limit of every wait for the daemon; only to detect a hang. */
#define WAIT_MS 10000

struct fixture {
	char prefix[32];
	char dir[64];
	char config[96];
	char config_dir[96];
	char state[96];
	char log[96];
	char socket[96];
	int notify_fd;
	pid_t daemon;
	int cleaner_fd; /* closed when the test process ends */
};

static struct fixture fx;

static void remove_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "failed to remove %s\n", dir);
}

static void remove_channels(void)
{
	size_t prefix_len = strlen(fx.prefix), count;
	char **names;

	if (chan_list(&names, &count) < 0)
		return;
	for (size_t i = 0; i < count; i++) {
		if (strncmp(names[i], fx.prefix, prefix_len) == 0)
			chan_remove(names[i]);
	}
	chan_list_free(names, count);
}

/*
 * Start a process that removes the test's channels and files once the
 * test process is gone, however it ends: Check ends a failed test with
 * _exit(), which skips atexit() handlers and the teardown.  The daemons
 * die with the test process (PR_SET_PDEATHSIG), so a second pass after a
 * pause removes a channel that a dying daemon re-created.
 */
static void start_cleaner(void)
{
	int fds[2];
	pid_t pid;
	char byte;

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Leave the process group that Check kills after the test. */
		setsid();
		close(fds[1]);
		while (read(fds[0], &byte, 1) < 0 && errno == EINTR)
			;
		remove_channels();
		usleep(200000);
		remove_channels();
		remove_tree(fx.dir);
		_exit(0);
	}
	close(fds[0]);
	fx.cleaner_fd = fds[1];
}

/* Kill the daemon and remove every channel and file of this test. */
static void cleanup(void)
{
	if (fx.daemon > 0) {
		kill(fx.daemon, SIGKILL);
		waitpid(fx.daemon, NULL, 0);
		fx.daemon = 0;
	}
	remove_channels();
	if (fx.notify_fd > 0)
		close(fx.notify_fd);
	remove_tree(fx.dir);
}

static void setup(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	memset(&fx, 0, sizeof(fx));
	snprintf(fx.prefix, sizeof(fx.prefix), "tbus%d.", (int)getpid());
	strcpy(fx.dir, "/tmp/chanbusd-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx.dir));
	start_cleaner();

	snprintf(fx.config, sizeof(fx.config), "%s/bus.conf", fx.dir);
	snprintf(fx.config_dir, sizeof(fx.config_dir), "%s/bus.d", fx.dir);
	snprintf(fx.state, sizeof(fx.state), "%s/channels", fx.dir);
	snprintf(fx.log, sizeof(fx.log), "%s/stderr", fx.dir);
	snprintf(fx.socket, sizeof(fx.socket), "%s/notify", fx.dir);
	ck_assert_int_eq(mkdir(fx.config_dir, 0755), 0);

	fx.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fx.notify_fd, 0);
	ck_assert_uint_lt(strlen(fx.socket), sizeof(addr.sun_path));
	strcpy(addr.sun_path, fx.socket);
	ck_assert_int_eq(
	    bind(fx.notify_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
}

static void teardown(void)
{
	cleanup();
}

/* Build "tbus<pid>.<suffix>" in a static buffer, one of four in turn. */
static const char *chan_name_of(const char *suffix)
{
	static char names[4][CHAN_NAME_MAX + 1];
	static int next;
	char *name = names[next++ % 4];

	snprintf(name, CHAN_NAME_MAX + 1, "%s%s", fx.prefix, suffix);
	return name;
}

/*
 * Write a configuration file.  The format gets the channel prefix as its
 * first argument, so "[channel %1$sa]" declares tbus<pid>.a.
 */
static void write_file(const char *path, const char *fmt, ...)
{
	va_list ap;
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

static void write_dropin(const char *file, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", fx.config_dir, file);
	write_file(path, text, fx.prefix);
}

/* Read a whole file into a static buffer; "" if it does not exist. */
static const char *read_text(const char *path)
{
	static char buf[65536];
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool log_contains(const char *text)
{
	return strstr(read_text(fx.log), text) != NULL;
}

static pid_t spawn_daemon(bool watchdog)
{
	pid_t pid = fork();
	int fd;

	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(fx.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		_exit(126);
	setenv("NOTIFY_SOCKET", fx.socket, 1);
	unsetenv("RUNTIME_DIRECTORY");
	if (watchdog) {
		char pid_text[32];

		snprintf(pid_text, sizeof(pid_text), "%d", (int)getpid());
		setenv("WATCHDOG_PID", pid_text, 1);
		setenv("WATCHDOG_USEC", "200000", 1);
	} else {
		unsetenv("WATCHDOG_PID");
		unsetenv("WATCHDOG_USEC");
	}
	execl(CHANBUSD_PATH, "chanbusd", "--config", fx.config, "--config-dir",
	      fx.config_dir, "--state-file", fx.state, (char *)NULL);
	_exit(127);
}

static void start_daemon(void)
{
	fx.daemon = spawn_daemon(false);
}

/* Wait for the daemon to exit and return its exit status, or -1. */
static int wait_daemon(void)
{
	int status;

	for (int ms = 0; ms < WAIT_MS; ms += 10) {
		pid_t r = waitpid(fx.daemon, &status, WNOHANG);

		ck_assert_int_ge(r, 0);
		if (r == fx.daemon) {
			fx.daemon = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		usleep(10000);
	}
	ck_abort_msg("chanbusd did not exit within %d ms", WAIT_MS);
	return -1;
}

static int stop_daemon(int sig)
{
	ck_assert_int_eq(kill(fx.daemon, sig), 0);
	return wait_daemon();
}

/* Receive one notification into a static buffer, or NULL at timeout. */
static const char *recv_notify(int timeout_ms)
{
	static char buf[4096];
	struct pollfd pfd = {.fd = fx.notify_fd, .events = POLLIN};
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return NULL;
	n = recv(fx.notify_fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

/* Return the first notification that has the line `line`. */
static const char *wait_notify(const char *line)
{
	struct timespec start, now;
	size_t len = strlen(line);

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		const char *msg, *at;
		long elapsed;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 +
			  (now.tv_nsec - start.tv_nsec) / 1000000;
		ck_assert_msg(
		    elapsed < WAIT_MS,
		    "no \"%s\" from chanbusd within %d ms; stderr:\n%s", line,
		    WAIT_MS, read_text(fx.log));
		msg = recv_notify(WAIT_MS - (int)elapsed);
		if (msg == NULL)
			continue;
		for (at = msg; (at = strstr(at, line)) != NULL; at++) {
			if ((at == msg || at[-1] == '\n') &&
			    (at[len] == '\0' || at[len] == '\n'))
				return msg;
		}
	}
}

static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *at = text; (at = strstr(at, line)) != NULL; at++) {
		if ((at == text || at[-1] == '\n') &&
		    (at[len] == '\0' || at[len] == '\n'))
			return true;
	}
	return false;
}

static struct chan *attach(const char *suffix)
{
	struct chan *ch = NULL;
	int r = chan_attach(chan_name_of(suffix), &ch);

	ck_assert_msg(r == 0, "attach to %s failed: %s", chan_name_of(suffix),
		      chan_strerror(r));
	return ch;
}

static struct chan_info info_of(const char *suffix)
{
	struct chan_info info;
	struct chan *ch = attach(suffix);

	ck_assert_int_eq(chan_info(ch, &info), 0);
	chan_detach(ch);
	return info;
}

static bool channel_exists(const char *suffix)
{
	struct chan *ch;
	int r = chan_attach(chan_name_of(suffix), &ch);

	if (r == 0)
		chan_detach(ch);
	ck_assert_msg(r == 0 || r == -ENOENT, "attach to %s: %s",
		      chan_name_of(suffix), chan_strerror(r));
	return r == 0;
}

static void send_text(const char *suffix, const char *text)
{
	struct chan *ch = attach(suffix);

	ck_assert_int_eq(chan_try_send(ch, text, strlen(text)), 0);
	chan_detach(ch);
}

static void expect_text(struct chan *ch, const char *text)
{
	char buf[256];
	size_t len;
	int r;

	r = chan_recv_timeout(ch, buf, sizeof(buf) - 1, &len,
			      (uint64_t)WAIT_MS * 1000000);
	ck_assert_msg(r == 0, "receive failed: %s", chan_strerror(r));
	buf[len] = '\0';
	ck_assert_str_eq(buf, text);
}

/* The daemon's stderr for failure messages. */
#define LOG read_text(fx.log)

START_TEST(bus_start_creates)
{
	bool root = geteuid() == 0;
	uid_t owner = root ? 65534 : geteuid();
	struct chan_info a, b;
	const char *ready, *state;
	char expected[256];
	struct chan *ch;
	pid_t sender;
	int status;

	write_file(fx.config,
		   "# main file\n"
		   "[bus]\nhousekeeping-interval = 30\n\n"
		   "[channel %1$sa]\ncapacity = 8\nmax-msg-size = 1K\n"
		   "mode = 0640\non-stop = remove\n\n"
		   "[channel %1$sb]\ncapacity = 4\nmax-msg-size = 100\n"
		   "user = %2$u\n",
		   fx.prefix, (unsigned)owner);
	/* A drop-in overrides one key of a channel of the main file. */
	write_dropin("10-a.conf", "[channel %1$sa]\nmode = 0660\n");
	start_daemon();

	ready = wait_notify("READY=1");
	ck_assert_msg(channel_exists("a"), "READY=1 before channel a exists");
	ck_assert_msg(channel_exists("b"), "READY=1 before channel b exists");
	ck_assert_msg(has_line(ready, "STATUS=2 channels, 0 errors"),
		      "READY message: %s", ready);

	a = info_of("a");
	ck_assert_uint_eq(a.capacity, 8);
	ck_assert_uint_eq(a.max_msg_size, 1024);
	ck_assert_uint_eq(a.mode, 0660);
	ck_assert_uint_eq(a.owner, geteuid());
	ck_assert_int_eq(a.closed, 0);
	b = info_of("b");
	ck_assert_uint_eq(b.capacity, 4);
	ck_assert_uint_eq(b.max_msg_size, 100);
	ck_assert_uint_eq(b.mode, 0600);
	ck_assert_uint_eq(b.owner, owner);

	state = read_text(fx.state);
	snprintf(expected, sizeof(expected), "%sa\n%sb\n", fx.prefix,
		 fx.prefix);
	ck_assert_str_eq(state, expected);
	ck_assert_uint_eq(stat(fx.state, &(struct stat){0}), 0);

	/* A client process sends, this one receives. */
	sender = fork();
	ck_assert_int_ge(sender, 0);
	if (sender == 0) {
		struct chan *out;

		if (chan_attach(chan_name_of("a"), &out) < 0)
			_exit(1);
		for (int i = 0; i < 3; i++) {
			char text[16];

			snprintf(text, sizeof(text), "m%d", i);
			if (chan_send(out, text, strlen(text)) < 0)
				_exit(2);
		}
		chan_detach(out);
		_exit(0);
	}
	ch = attach("a");
	expect_text(ch, "m0");
	expect_text(ch, "m1");
	expect_text(ch, "m2");
	chan_detach(ch);
	ck_assert_int_eq(waitpid(sender, &status, 0), sender);
	ck_assert_int_eq(WEXITSTATUS(status), 0);

	ck_assert_int_eq(stop_daemon(SIGTERM), 0);
	wait_notify("STOPPING=1");
	ck_assert_msg(!channel_exists("a"), "on-stop = remove left a");
	ck_assert_msg(channel_exists("b"), "on-stop = close removed b");
	ck_assert_int_eq(info_of("b").closed, 1);
	ck_assert_int_eq(access(fx.state, F_OK), -1);
	ck_assert_msg(log_contains("created channel "), "stderr:\n%s", LOG);
	ck_assert_msg(log_contains("<6>stopped\n"), "stderr:\n%s", LOG);
}
END_TEST

START_TEST(bus_stop_wakes_receiver)
{
	struct chan_info info;
	struct chan *ch;
	pid_t receiver;
	int status, waited = 0;

	write_file(fx.config, "[channel %1$sq]\ncapacity = 4\n", fx.prefix);
	start_daemon();
	wait_notify("READY=1");

	receiver = fork();
	ck_assert_int_ge(receiver, 0);
	if (receiver == 0) {
		char buf[64];
		size_t len;
		int r;

		if (chan_attach(chan_name_of("q"), &ch) < 0)
			_exit(1);
		r = chan_recv(ch, buf, sizeof(buf), &len);
		_exit(r == -EPIPE ? 0 : 2);
	}

	/* Stop the daemon only once the receiver sleeps in chan_recv(). */
	ch = attach("q");
	do {
		ck_assert_int_eq(chan_info(ch, &info), 0);
		if (info.recv_waiters > 0)
			break;
		usleep(10000);
	} while ((waited += 10) < WAIT_MS);
	chan_detach(ch);
	ck_assert_uint_eq(info.recv_waiters, 1);

	ck_assert_int_eq(stop_daemon(SIGTERM), 0);
	ck_assert_int_eq(waitpid(receiver, &status, 0), receiver);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "blocked receiver did not get -EPIPE (status %d)",
		      status);
	ck_assert_int_eq(info_of("q").closed, 1);

	/* The next start replaces the closed, empty channel. */
	start_daemon();
	wait_notify("READY=1");
	ck_assert_int_eq(info_of("q").closed, 0);
	ck_assert_msg(log_contains("is closed and empty: replacing it"),
		      "stderr:\n%s", LOG);
	ck_assert_int_eq(stop_daemon(SIGINT), 0);
}
END_TEST

START_TEST(bus_reload_applies)
{
	struct chan *ch;
	char expected[256];
	const char *msg;

	write_file(fx.config,
		   "[channel %1$sa]\nmode = 0600\n"
		   "[channel %1$sb]\ncapacity = 2\n"
		   "[channel %1$sg]\ncapacity = 4\n",
		   fx.prefix);
	start_daemon();
	wait_notify("READY=1");
	send_text("g", "kept-1");
	send_text("g", "kept-2");

	/* a: mode changed, b: removed, c: added, g: geometry changed. */
	write_file(fx.config,
		   "[channel %1$sa]\nmode = 0660\n"
		   "[channel %1$sc]\ncapacity = 2\n"
		   "[channel %1$sg]\ncapacity = 8\n",
		   fx.prefix);
	ck_assert_int_eq(kill(fx.daemon, SIGHUP), 0);
	msg = wait_notify("RELOADING=1");
	ck_assert_msg(strstr(msg, "MONOTONIC_USEC=") != NULL, "%s", msg);
	msg = wait_notify("READY=1");
	ck_assert_msg(has_line(msg, "STATUS=3 channels, 0 errors"), "%s", msg);

	ck_assert_uint_eq(info_of("a").mode, 0660);
	ck_assert_msg(channel_exists("c"), "reload did not create c");
	ck_assert_msg(channel_exists("b"), "reload removed b");
	snprintf(expected, sizeof(expected), "%sa\n%sc\n%sg\n", fx.prefix,
		 fx.prefix, fx.prefix);
	ck_assert_str_eq(read_text(fx.state), expected);

	/* The geometry change is reported and the messages are kept. */
	ck_assert_uint_eq(info_of("g").capacity, 4);
	ck_assert_uint_eq(info_of("g").depth, 2);
	snprintf(expected, sizeof(expected),
		 "channel %sg keeps capacity 4 and max-msg-size 4096: the "
		 "configured capacity 8",
		 fx.prefix);
	ck_assert_msg(log_contains(expected), "stderr:\n%s", LOG);
	ch = attach("g");
	expect_text(ch, "kept-1");
	expect_text(ch, "kept-2");
	chan_detach(ch);

	/* An invalid configuration keeps the daemon and its channels. */
	write_file(fx.config, "[channel %1$sa]\nmode = 0999\n", fx.prefix);
	ck_assert_int_eq(kill(fx.daemon, SIGHUP), 0);
	wait_notify("RELOADING=1");
	msg = wait_notify("READY=1");
	ck_assert_msg(strstr(msg, "last reload failed") != NULL, "%s", msg);
	ck_assert_int_eq(kill(fx.daemon, 0), 0);
	ck_assert_uint_eq(info_of("a").mode, 0660);
	ck_assert_msg(log_contains("invalid mode \"0999\""), "stderr:\n%s",
		      LOG);
	ck_assert_msg(log_contains("<3>reload failed"), "stderr:\n%s", LOG);

	/* remove-undeclared = yes removes what the configuration drops. */
	write_file(fx.config,
		   "[bus]\nremove-undeclared = yes\n"
		   "[channel %1$sa]\nmode = 0660\n"
		   "[channel %1$sg]\ncapacity = 4\n",
		   fx.prefix);
	ck_assert_int_eq(kill(fx.daemon, SIGHUP), 0);
	wait_notify("RELOADING=1");
	wait_notify("READY=1");
	ck_assert_msg(!channel_exists("c"), "remove-undeclared left c");
	ck_assert_msg(channel_exists("b"), "b was unmanaged; it must stay");
	ck_assert_int_eq(stop_daemon(SIGTERM), 0);
}
END_TEST

START_TEST(bus_bad_config_untouched)
{
	struct chan_params params;
	struct chan *ch;
	char expected[256];

	/* An existing channel that the configuration would change. */
	chan_params_init(&params);
	params.capacity = 4;
	ck_assert_int_eq(chan_create(chan_name_of("x"), &params, &ch), 0);
	ck_assert_int_eq(chan_try_send(ch, "old", 3), 0);
	chan_detach(ch);

	write_file(fx.config,
		   "[channel %1$sx]\ncapacity = 4\nmode = 0644\n"
		   "[channel %1$sy]\n",
		   fx.prefix);
	write_dropin("10-app.conf", "# the application's channels\n"
				    "[channel %1$sz]\n"
				    "capacity = abc\n");
	start_daemon();
	ck_assert_int_eq(wait_daemon(), 1);

	snprintf(expected, sizeof(expected),
		 "bus.d/10-app.conf:3: invalid capacity \"abc\" in "
		 "[channel %sz]: expected a positive integer",
		 fx.prefix);
	ck_assert_msg(log_contains(expected), "stderr:\n%s", LOG);
	ck_assert_ptr_null(recv_notify(0));
	ck_assert_msg(!channel_exists("y"), "y created despite the error");
	ck_assert_uint_eq(info_of("x").mode, 0600);
	ck_assert_uint_eq(info_of("x").depth, 1);
}
END_TEST

/* Run chanbusd --check and return its exit status. */
static int run_check(void)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(fx.log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		execl(CHANBUSD_PATH, "chanbusd", "--check", "--config",
		      fx.config, "--config-dir", fx.config_dir, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(bus_check_option)
{
	static const char *const invalid[] = {
	    "[channel %1$sa]\ncapacity = 0\n",
	    "[channel %1$sa]\ncapacity = 16777217\n",
	    "[channel %1$sa]\nmax-msg-size = 2G\n",
	    "[channel %1$sa]\nmax-msg-size = 4X\n",
	    "[channel %1$sa]\nmode = 644\nmode = 08\n",
	    "[channel %1$sa]\nuser = no-such-user-chanbusd\n",
	    "[channel %1$sa]\ngroup = no-such-group-chanbusd\n",
	    "[channel %1$sa]\non-stop = explode\n",
	    "[channel %1$sa]\ncolour = blue\n",
	    "[channel bad/name]\n",
	    "[chanel x]\n",
	    "[bus]\nhousekeeping-interval = 0\n",
	    "[bus]\nremove-undeclared = maybe\n",
	    "capacity = 4\n",
	    "[channel %1$sa]\nthis line has no equals sign\n",
	};

	write_file(fx.config,
		   "[bus]\nhousekeeping-interval = 5\nremove-undeclared = no\n"
		   "[channel %1$sa]\ncapacity = 16\nmax-msg-size = 64K\n"
		   "mode = 0640 ; inline comment\non-stop = remove\n"
		   "[channel %1$sb]\n",
		   fx.prefix);
	ck_assert_int_eq(run_check(), 0);
	ck_assert_msg(log_contains("valid, 2 channels"), "%s", LOG);
	ck_assert_msg(!channel_exists("a"), "--check created a channel");

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		write_file(fx.config, invalid[i], fx.prefix);
		ck_assert_msg(run_check() == 1, "accepted:\n%s",
			      read_text(fx.config));
	}
}
END_TEST

START_TEST(bus_restart_adopts)
{
	struct chan *ch;
	const char *msg;
	char expected[128];

	write_file(fx.config, "[channel %1$sk]\ncapacity = 8\n", fx.prefix);
	start_daemon();
	wait_notify("READY=1");
	send_text("k", "m0");
	send_text("k", "m1");
	send_text("k", "m2");
	ck_assert_int_eq(stop_daemon(SIGKILL), -1);

	start_daemon();
	msg = wait_notify("READY=1");
	ck_assert_msg(has_line(msg, "STATUS=1 channels, 0 errors"), "%s", msg);
	snprintf(expected, sizeof(expected),
		 "adopted channel %sk: capacity 8, max-msg-size 4096, 3 "
		 "messages queued",
		 fx.prefix);
	ck_assert_msg(log_contains(expected), "stderr:\n%s", LOG);
	ck_assert_uint_eq(info_of("k").depth, 3);
	ch = attach("k");
	expect_text(ch, "m0");
	expect_text(ch, "m1");
	expect_text(ch, "m2");
	chan_detach(ch);
	ck_assert_int_eq(stop_daemon(SIGTERM), 0);
}
END_TEST

START_TEST(bus_restart_conflict)
{
	const char *msg;
	char expected[256];

	write_file(fx.config, "[channel %1$sk]\ncapacity = 4\n", fx.prefix);
	start_daemon();
	wait_notify("READY=1");
	send_text("k", "precious");
	ck_assert_int_eq(stop_daemon(SIGKILL), -1);

	/* The channel fails alone: the daemon starts and reports it. */
	write_file(fx.config,
		   "[channel %1$sk]\ncapacity = 8\n[channel %1$sok]\n",
		   fx.prefix);
	start_daemon();
	msg = wait_notify("READY=1");
	ck_assert_msg(has_line(msg, "STATUS=1 channels, 1 errors"), "%s", msg);
	snprintf(expected, sizeof(expected),
		 "<3>channel %sk exists with capacity 4 and max-msg-size "
		 "4096, but the configuration sets capacity 8 and "
		 "max-msg-size 4096",
		 fx.prefix);
	ck_assert_msg(log_contains(expected), "stderr:\n%s", LOG);
	ck_assert_uint_eq(info_of("k").capacity, 4);
	ck_assert_uint_eq(info_of("k").depth, 1);
	snprintf(expected, sizeof(expected), "%sok\n", fx.prefix);
	ck_assert_str_eq(read_text(fx.state), expected);
	ck_assert_int_eq(stop_daemon(SIGTERM), 0);
	ck_assert_uint_eq(info_of("k").closed, 0);
}
END_TEST

START_TEST(bus_housekeeping_recreates)
{
	char expected[128];

	write_file(fx.config,
		   "[bus]\nhousekeeping-interval = 1\n[channel %1$sh]\n",
		   fx.prefix);
	start_daemon();
	wait_notify("READY=1");
	ck_assert_int_eq(chan_remove(chan_name_of("h")), 0);

	for (int ms = 0; ms < WAIT_MS && !channel_exists("h"); ms += 50)
		usleep(50000);
	ck_assert_msg(channel_exists("h"), "h was not re-created");
	snprintf(expected, sizeof(expected),
		 "<3>segment of channel %sh vanished", fx.prefix);
	ck_assert_msg(log_contains(expected), "stderr:\n%s", LOG);
	ck_assert_int_eq(stop_daemon(SIGTERM), 0);
}
END_TEST

#ifdef CHAN_FAULT_INJECTION
START_TEST(bus_housekeeping_recovery)
{
	char expected[128];
	struct chan *ch;
	pid_t victim;
	int status;

	write_file(fx.config,
		   "[bus]\nhousekeeping-interval = 1\n[channel %1$sr]\n",
		   fx.prefix);
	start_daemon();
	wait_notify("READY=1");

	/* A sender killed while it holds the lock leaves it to recover. */
	victim = fork();
	ck_assert_int_ge(victim, 0);
	if (victim == 0) {
		setenv("CHAN_FAULT", "locked", 1);
		if (chan_attach(chan_name_of("r"), &ch) < 0)
			_exit(1);
		chan_send(ch, "x", 1);
		_exit(2);
	}
	ck_assert_int_eq(waitpid(victim, &status, 0), victim);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "the fault point did not kill the sender");

	/* Housekeeping repairs the lock before any client touches it. */
	snprintf(expected, sizeof(expected),
		 "<4>channel %sr: 1 lock owners died", fx.prefix);
	for (int ms = 0; ms < WAIT_MS && !log_contains(expected); ms += 50)
		usleep(50000);
	ck_assert_msg(log_contains(expected), "stderr:\n%s", LOG);
	snprintf(expected, sizeof(expected),
		 "<5>channel %sr: cleared 1 attachments", fx.prefix);
	ck_assert_msg(log_contains(expected), "stderr:\n%s", LOG);
	ck_assert_uint_eq(info_of("r").recoveries, 1);
	send_text("r", "after");
	ck_assert_uint_eq(info_of("r").recoveries, 1);
	ck_assert_int_eq(stop_daemon(SIGTERM), 0);
}
END_TEST
#endif

START_TEST(bus_watchdog_pings)
{
	write_file(fx.config, "[channel %1$sw]\n", fx.prefix);
	fx.daemon = spawn_daemon(true);
	wait_notify("READY=1");
	wait_notify("WATCHDOG=1");
	wait_notify("WATCHDOG=1");
	ck_assert_int_eq(stop_daemon(SIGTERM), 0);
}
END_TEST

static Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bus_start_creates);
	tcase_add_test(tc, bus_stop_wakes_receiver);
	tcase_add_test(tc, bus_reload_applies);
	tcase_add_test(tc, bus_bad_config_untouched);
	tcase_add_test(tc, bus_check_option);
	tcase_add_test(tc, bus_restart_adopts);
	tcase_add_test(tc, bus_restart_conflict);
	tcase_add_test(tc, bus_housekeeping_recreates);
#ifdef CHAN_FAULT_INJECTION
	tcase_add_test(tc, bus_housekeeping_recovery);
#endif
	tcase_add_test(tc, bus_watchdog_pings);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bus_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
