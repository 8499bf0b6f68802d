/* The cache warmer of rollback's walk (util/treewarm.c): it visits the
 * whole tree, never goes through a symlink or onto another mount, ends
 * on deep and looping trees, and stops at once leaving no descriptor. */
#include "helpers.h"
#include "util/treewarm.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Events inotify reported on the watched directory so far. */
static int events(int ino)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int n = 0;
	ssize_t got;
	while ((got = read(ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + got;) {
			struct inotify_event *e = (struct inotify_event *)p;
			n++;
			p += sizeof(*e) + e->len;
		}
	}
	return n;
}

static void warm(const char *root, unsigned threads)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY);
	arca_treewarm *w;
	assert_true(fd >= 0);
	w = arca_treewarm_start(fd, threads);
	assert_non_null(w);
	close(fd); /* it holds its own */
	/* stop waits for the threads; give them the time to finish first */
	usleep(300000);
	arca_treewarm_stop(w);
}

static void visits_the_tree_but_never_through_a_symlink(void **state)
{
	char *tmp = th_tmpdir(), p[4096];
	const char *root = th_path(tmp, "root"), *outside = th_path(tmp, "outside");
	int fds = count_fds(), in_out, in_deep;
	(void)state;

	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(mkdir(th_path(outside, "sub"), 0755), 0);
	th_write_file(th_path(outside, "sub/f"), "x", 1);
	/* 30 directories of 10 files, one 100 levels deep, two symlinks out
	 * and one loop */
	for (int i = 0; i < 30; i++) {
		snprintf(p, sizeof(p), "%s/d%02d", root, i);
		assert_int_equal(mkdir(p, 0755), 0);
		for (int j = 0; j < 10; j++) {
			char q[4200];
			snprintf(q, sizeof(q), "%s/f%d", p, j);
			th_write_file(q, "y", 1);
		}
	}
	snprintf(p, sizeof(p), "%s/deep", root);
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < 100; i++) {
		size_t n = strlen(p);
		snprintf(p + n, sizeof(p) - n, "/%d", i % 10);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	assert_int_equal(symlink(outside, th_path(root, "d00/out")), 0);
	assert_int_equal(symlink(th_path(outside, "sub"), th_path(root, "out2")), 0);
	assert_int_equal(symlink("..", th_path(root, "d01/loop")), 0);

	in_out = inotify_init1(IN_NONBLOCK);
	assert_true(in_out >= 0);
	assert_true(inotify_add_watch(in_out, outside, IN_OPEN | IN_ACCESS) >= 0);
	assert_true(inotify_add_watch(in_out, th_path(outside, "sub"), IN_OPEN | IN_ACCESS) >= 0);
	in_deep = inotify_init1(IN_NONBLOCK);
	assert_true(in_deep >= 0);
	/* and one inside, which it must visit */
	assert_true(inotify_add_watch(in_deep, th_path(root, "d29"), IN_OPEN | IN_ACCESS) >= 0);

	for (unsigned t = 1; t <= 4; t += 3)
		warm(root, t);
	assert_true(events(in_deep) > 0);
	assert_int_equal(events(in_out), 0);
	close(in_out);
	close(in_deep);
	assert_int_equal(count_fds(), fds);
	th_cleanup(tmp);
}

static void stops_at_once_and_leaves_no_descriptor(void **state)
{
	char *tmp = th_tmpdir(), p[4096];
	const char *root = th_path(tmp, "root");
	int fds = count_fds(), fd;
	(void)state;

	assert_int_equal(mkdir(root, 0755), 0);
	for (int i = 0; i < 400; i++) {
		snprintf(p, sizeof(p), "%s/%03d", root, i);
		assert_int_equal(mkdir(p, 0755), 0);
		for (int j = 0; j < 4; j++) {
			char q[4200];
			snprintf(q, sizeof(q), "%s/%d", p, j);
			assert_int_equal(mkdir(q, 0755), 0);
		}
	}
	fd = open(root, O_RDONLY | O_DIRECTORY);
	for (int k = 0; k < 20; k++) {
		arca_treewarm *w = arca_treewarm_start(fd, 4);
		assert_non_null(w);
		if (k % 2)
			usleep(1000);
		arca_treewarm_stop(w);
	}
	/* not a directory, no threads: nothing started */
	assert_null(arca_treewarm_start(fd, 0));
	close(fd);
	fd = open(th_path(tmp, "file"), O_CREAT | O_RDWR, 0600);
	assert_null(arca_treewarm_start(fd, 2));
	close(fd);
	arca_treewarm_stop(NULL);
	assert_int_equal(count_fds(), fds);
	th_cleanup(tmp);
}

/* A bind mount of the same filesystem has the tree's st_dev: it is told
 * by its mount id, and neither entered nor opened past its root. */
static void never_enters_a_bind_mount_of_the_same_filesystem(void **state)
{
	char *tmp = th_tmpdir();
	const char *root = th_path(tmp, "root"), *outside = th_path(tmp, "outside");
	const char *at = th_path(tmp, "root/d/mnt");
	int fds = count_fds(), in_out;
	(void)state;

	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(th_path(root, "d"), 0755), 0);
	assert_int_equal(mkdir(at, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(mkdir(th_path(outside, "sub"), 0755), 0);
	th_write_file(th_path(outside, "sub/f"), "x", 1);
	if (geteuid() != 0 || mount(outside, at, NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "skipped: bind mounts need root\n");
		th_cleanup(tmp);
		return;
	}
	in_out = inotify_init1(IN_NONBLOCK);
	assert_true(in_out >= 0);
	assert_true(inotify_add_watch(in_out, th_path(outside, "sub"), IN_OPEN | IN_ACCESS) >= 0);
	warm(root, 2);
	assert_int_equal(umount2(at, MNT_DETACH), 0);
	assert_int_equal(events(in_out), 0);
	close(in_out);
	assert_int_equal(count_fds(), fds);
	th_cleanup(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(visits_the_tree_but_never_through_a_symlink),
		cmocka_unit_test(stops_at_once_and_leaves_no_descriptor),
		cmocka_unit_test(never_enters_a_bind_mount_of_the_same_filesystem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
