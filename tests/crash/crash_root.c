/* SPDX-License-Identifier: MIT */
/*
 * Tests that need root: a full tmpfs in a private mount namespace, and
 * permissions checked against an unprivileged user.  Without root the
 * whole program is skipped.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash_util.h"

#define NOBODY ((uid_t)65534)

/* Exit codes of the full-tmpfs child, one per broken promise. */
enum {
	FULL_OK,
	FULL_NO_NAMESPACE,
	FULL_BIG_NOT_ENOSPC,
	FULL_BIG_LEFT_FILES,
	FULL_FILL_FAILED,
	FULL_SMALL_NOT_ENOSPC,
	FULL_SMALL_LEFT_FILES,
	FULL_SMALL_AFTER_FREE,
};

static const char *const full_errors[] = {
    [FULL_NO_NAMESPACE] = "cannot set up the mount namespace",
    [FULL_BIG_NOT_ENOSPC] = "a channel larger than the tmpfs: not -ENOSPC",
    [FULL_BIG_LEFT_FILES] = "a failed create left a file behind",
    [FULL_FILL_FAILED] = "cannot fill the tmpfs",
    [FULL_SMALL_NOT_ENOSPC] = "a small channel on a full tmpfs: not "
			      "-ENOSPC",
    [FULL_SMALL_LEFT_FILES] = "a failed create on a full tmpfs left a "
			      "file behind",
    [FULL_SMALL_AFTER_FREE] = "a small channel after freeing space failed",
};

static unsigned count_entries(const char *path)
{
	struct dirent *e;
	unsigned n = 0;
	DIR *dir = opendir(path);

	if (dir == NULL)
		return 1000;
	while ((e = readdir(dir)) != NULL)
		n +=
		    strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(dir);
	return n;
}

static int create(const char *name, uint64_t capacity, uint64_t msg_size)
{
	struct chan_params p;
	struct chan *ch;
	int r;

	chan_params_init(&p);
	p.capacity = capacity;
	p.max_msg_size = msg_size;
	r = chan_create(name, &p, &ch);
	if (r == 0)
		chan_detach(ch);
	return r;
}

/* Write zeros to path until the file system is full. */
static int fill_up(const char *path)
{
	static char block[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	do
		n = write(fd, block, sizeof(block));
	while (n > 0);
	close(fd);
	return n < 0 && errno == ENOSPC ? 0 : -1;
}

/* Runs in a child: mount a 1 MiB tmpfs privately and run out of it. */
static int full_tmpfs(void *arg)
{
	const char *mnt = arg;
	char filler[512];

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700") < 0)
		return FULL_NO_NAMESPACE;
	setenv("CHAN_SHM_DIR", mnt, 1);

	/* 1024 slots of 4 KiB: about 4 MiB, four times the tmpfs. */
	if (create("big", 1024, 4096 - 8) != -ENOSPC)
		return FULL_BIG_NOT_ENOSPC;
	if (count_entries(mnt) != 0)
		return FULL_BIG_LEFT_FILES;

	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	if (fill_up(filler) < 0)
		return FULL_FILL_FAILED;
	if (create("small", 1, 64) != -ENOSPC)
		return FULL_SMALL_NOT_ENOSPC;
	if (count_entries(mnt) != 1)
		return FULL_SMALL_LEFT_FILES;

	unlink(filler);
	if (create("small", 1, 64) != 0)
		return FULL_SMALL_AFTER_FREE;
	return FULL_OK;
}

/*
 * /dev/shm too small: chan_create returns -ENOSPC, leaves nothing behind
 * and raises no SIGBUS, both for a channel larger than the space and for
 * a small one on a full tmpfs.
 */
START_TEST(root_tmpfs_full)
{
	char mnt[512], text[128];
	size_t code;
	int status;

	snprintf(mnt, sizeof(mnt), "%s/full", crash_dir());
	ck_assert_int_eq(mkdir(mnt, 0700), 0);
	status = crash_wait(crash_spawn(full_tmpfs, mnt, NULL), 30000);
	ck_assert_msg(status >= 0 && WIFEXITED(status), "tmpfs child %s",
		      crash_status_str(status, text, sizeof(text)));
	code = (size_t)WEXITSTATUS(status);
	ck_assert_msg(code == FULL_OK, "%s",
		      code < sizeof(full_errors) / sizeof(full_errors[0])
			  ? full_errors[code]
			  : "unexpected exit code");
	/* The mount lived in the child's namespace only. */
	ck_assert_uint_eq(count_entries(mnt), 0);
}
END_TEST

struct as_nobody {
	const char *name;
};

/* Drop to uid and gid 65534 and return -chan_attach(). */
static int attach_as_nobody(void *arg)
{
	const struct as_nobody *a = arg;
	struct chan *ch;
	int r;

	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return 200;
	r = chan_attach(a->name, &ch);
	if (r == 0)
		chan_detach(ch);
	return -r;
}

static int attach_errno_as_nobody(const char *name)
{
	struct as_nobody a = {name};
	char text[128];
	int status;

	status = crash_wait(crash_spawn(attach_as_nobody, &a, NULL), 10000);
	ck_assert_msg(status >= 0 && WIFEXITED(status) &&
			  WEXITSTATUS(status) != 200,
		      "unprivileged child %s",
		      crash_status_str(status, text, sizeof(text)));
	return -WEXITSTATUS(status);
}

static void create_with_mode(const char *name, uint32_t mode)
{
	struct chan_params p;
	struct chan *ch;

	chan_params_init(&p);
	p.capacity = 1;
	p.max_msg_size = 64;
	p.mode = mode;
	ck_assert_int_eq(chan_create(name, &p, &ch), 0);
	chan_detach(ch);
}

/*
 * A channel of root's with mode 0600 or 0644 is closed to uid 65534; the
 * same one with 0666 is open, which shows the directory is not the cause.
 */
START_TEST(root_mode_denies_others)
{
	static const struct {
		uint32_t mode;
		int expected;
	} cases[] = {
	    {0600, -EACCES},
	    {0644, -EACCES},
	    {0660, -EACCES},
	    {0666, 0},
	};
	char name[64];

	/* Let the unprivileged child reach the files. */
	ck_assert_int_eq(chmod(crash_dir(), 0711), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		crash_name(name, sizeof(name), "mode");
		create_with_mode(name, cases[i].mode);
		r = attach_errno_as_nobody(name);
		ck_assert_msg(r == cases[i].expected,
			      "mode %04o: uid 65534 attach returned %s, "
			      "expected %s",
			      cases[i].mode, chan_error_name(r),
			      chan_error_name(cases[i].expected));
		ck_assert_int_eq(chan_remove(name), 0);
	}
	ck_assert_int_eq(chmod(crash_dir(), 0700), 0);
}
END_TEST

/* The segment gets exactly the requested mode under umask 0 and 077. */
START_TEST(root_mode_ignores_umask)
{
	static const mode_t umasks[] = {0, 077};
	static const uint32_t modes[] = {0600, 0640, 0660, 0666, 0604};

	for (size_t u = 0; u < sizeof(umasks) / sizeof(umasks[0]); u++) {
		mode_t old = umask(umasks[u]);

		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			char name[64], path[512];
			struct chan_info info;
			struct chan *ch;
			struct stat st;

			crash_name(name, sizeof(name), "umask");
			create_with_mode(name, modes[m]);
			crash_path(path, sizeof(path), name);
			ck_assert_int_eq(stat(path, &st), 0);
			ck_assert_msg((st.st_mode & 07777) == modes[m],
				      "umask %03o, mode %04o: file has %04o",
				      umasks[u], modes[m], st.st_mode & 07777);
			ck_assert_int_eq(chan_attach(name, &ch), 0);
			ck_assert_int_eq(chan_info(ch, &info), 0);
			ck_assert_uint_eq(info.mode, modes[m]);
			chan_detach(ch);
			ck_assert_int_eq(chan_remove(name), 0);
		}
		umask(old);
	}
}
END_TEST

static Suite *root_suite(void)
{
	Suite *s = suite_create("crash_root");
	TCase *tc = tcase_create("root");

	tcase_add_unchecked_fixture(tc, crash_dir_setup, crash_dir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, root_tmpfs_full);
	tcase_add_test(tc, root_mode_denies_others);
	tcase_add_test(tc, root_mode_ignores_umask);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "crash_root needs root; skipped\n");
		return CRASH_SKIP;
	}
	sr = srunner_create(root_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
