/* Red-team regressions: what rollback, snapshot and the store must never
 * do, found by attacking them. */
#include "helpers.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef th_dest_fixture fixture;

/* as th_dest_setup, with `work` made too */
static int setup_with_work(void **state)
{
	fixture *f;
	th_dest_setup(state);
	f = *state;
	mkdir(f->work, 0755);
	return 0;
}

/* A symlink can have hard links too (link(2) does not follow it): its
 * mtime and owner are the inode's, shared with the name outside DEST. */
static void symlink_hardlinked_to_outside_keeps_the_outside_metadata(void **state)
{
	fixture *f = *state;
	const char *out = th_path(f->outside, "l"), *in = th_path(f->work, "l");
	struct timespec art[2] = { { 0, UTIME_OMIT }, { 1577836800, 0 } };
	struct timespec old[2] = { { 0, UTIME_OMIT }, { 1262304000, 0 } };
	struct stat st;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root to give a symlink another owner\n");
		skip();
	}
	assert_int_equal(symlink("target", th_path(f->src, "l")), 0);
	assert_int_equal(utimensat(AT_FDCWD, th_path(f->src, "l"), art, AT_SYMLINK_NOFOLLOW), 0);
	th_snapshot(f->s, f->src, "t", NULL, NULL);

	assert_int_equal(symlink("target", out), 0);
	assert_int_equal(utimensat(AT_FDCWD, out, old, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(lchown(out, 65534, 65534), 0);
	assert_int_equal(linkat(AT_FDCWD, out, AT_FDCWD, in, 0), 0);

	th_rollback_ok(f, "t", f->work, NULL);
	assert_int_equal(lstat(out, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1262304000);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	/* DEST has what the artifact has, on an inode of its own */
	assert_int_equal(lstat(in, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_mtim.tv_sec, 1577836800);
	assert_int_equal(st.st_uid, 0);
	/* one that already matches in every respect is left as it is */
	assert_int_equal(linkat(AT_FDCWD, in, AT_FDCWD, th_path(f->outside, "l2"), 0), 0);
	th_rollback_ok(f, "t", f->work, NULL);
	assert_int_equal(lstat(in, &st), 0);
	assert_int_equal(st.st_nlink, 2);
}

/* Bind-mounts `what` on `where`; 0 (and a printed reason) when mounts
 * are not possible here. */
static int bind(fixture *f, const char *what, const char *where)
{
	if (mount(what, where, NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "skipped: bind mount: %s\n", strerror(errno));
		return 0;
	}
	snprintf(f->mounted, sizeof(f->mounted), "%s", where);
	return 1;
}

/* DEST/y is a hard link to DEST/x, but a file is mounted on DEST/x: the
 * link cannot be made again (another mount), so y must not be removed,
 * and the rest of the tree is still rolled back. */
static void hardlink_to_a_mounted_file_keeps_the_link_and_finishes(void **state)
{
	fixture *f = *state;
	const char *sec = th_path(f->outside, "sec");
	struct stat st;

	th_write_file(th_path(f->src, "x"), "artifact", 8);
	assert_int_equal(link(th_path(f->src, "x"), th_path(f->src, "y")), 0);
	th_write_file(th_path(f->src, "z"), "zzz", 3);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	rmdir(f->work);
	assert_int_equal(arca_restore(f->s, "t", f->work, NULL, NULL), 0);
	th_write_file(th_path(f->work, "z"), "changed", 7);
	th_write_file(sec, "secret", 6);
	if (!bind(f, sec, th_path(f->work, "x")))
		skip();

	assert_int_equal(arca_rollback(f->s, "t", f->work, NULL, NULL), ARCA_EUNSAFE);
	assert_int_equal(th_file_equal(th_path(f->src, "z"), th_path(f->work, "z")), 0);
	assert_int_equal(lstat(th_path(f->work, "y"), &st), 0);
	assert_int_equal(th_file_equal(th_path(f->src, "x"), th_path(f->work, "y")), 0);
	assert_int_equal(umount2(f->mounted, MNT_DETACH), 0);
	f->mounted[0] = '\0';
	/* once the mount is gone, a rollback completes */
	th_rollback_ok(f, "t", f->work, NULL);
	assert_int_equal(lstat(th_path(f->work, "y"), &st), 0);
	assert_int_equal(st.st_nlink, 2);
}

/* The store inside DEST is never restored into: nor may a hard link in
 * the artifact give one of its files a name in DEST. */
static void restore_never_links_to_a_file_of_the_store_inside_dest(void **state)
{
	fixture *f = *state;
	char inner[4200];
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	struct stat a, b;
	arca_store *s;

	snprintf(inner, sizeof(inner), "%s/.arca", f->work);
	mkdir(th_path(f->src, ".arca"), 0755);
	th_write_file(th_path(f->src, ".arca/index.lmdb"), "not a store", 11);
	assert_int_equal(link(th_path(f->src, ".arca/index.lmdb"), th_path(f->src, "y")), 0);
	s = th_store_open(inner);
	th_snapshot(s, f->src, "t", NULL, NULL);

	assert_int_equal(arca_restore(s, "t", f->work, &ro, NULL), ARCA_EEXISTS);
	ro.force = 1;
	if (arca_restore(s, "t", f->work, &ro, NULL) != ARCA_EUNSAFE)
		fail_msg("restore: %s", arca_error_last());
	assert_int_equal(stat(th_path(inner, "index.lmdb"), &a), 0);
	assert_int_equal(a.st_nlink, 1);
	if (lstat(th_path(f->work, "y"), &b) == 0)
		assert_int_not_equal(a.st_ino, b.st_ino);
	assert_int_equal(arca_rollback(s, "t", f->work, NULL, NULL), ARCA_EUNSAFE);
	assert_int_equal(stat(th_path(inner, "index.lmdb"), &a), 0);
	assert_int_equal(a.st_nlink, 1);
	arca_store_free(s);
}

/* A bind mount of the store's packs/ has no ".." up to the store: DEST
 * (or an image's directory) that is one must still be refused. */
static void a_bind_mount_of_the_packs_is_never_rolled_back_into(void **state)
{
	fixture *f = *state;
	const char *packs = th_path(th_path(f->tmp, "store"), "packs");
	const char *img = th_path(f->tmp, "disk.img");
	char pack[4200];
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	arca_verify_result v = ARCA_VERIFY_RESULT_INIT;
	int rc;

	th_write_file(th_path(f->src, "f"), "f", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	th_write_random(img, 100000, 1);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	if (!bind(f, packs, f->work))
		skip();
	snprintf(pack, sizeof(pack), "%s/pack-00000001.arcp", f->work);
	assert_int_equal(access(pack, F_OK), 0);

	assert_int_equal(arca_rollback(f->s, "t", f->work, NULL, NULL), ARCA_EUNSAFE);
	assert_int_equal(arca_rollback(f->s, "disk", pack, NULL, NULL), ARCA_EUNSAFE);
	ro.force = 1;
	assert_int_equal(arca_restore(f->s, "disk", pack, &ro, NULL), ARCA_EUNSAFE);
	assert_int_equal(access(pack, F_OK), 0);
	rc = arca_verify(&v, f->s);
	arca_verify_result_clear(&v);
	assert_int_equal(rc, 0);
}

/* Nor is a pack or the index, mounted on an image's path, written over. */
static void a_store_file_mounted_as_the_image_is_never_written(void **state)
{
	fixture *f = *state;
	const char *store = th_path(f->tmp, "store");
	const char *img = th_path(f->tmp, "disk.img"), *dest = th_path(f->tmp, "dest.img");
	char pack[4200], index[4200];
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	arca_verify_result v = ARCA_VERIFY_RESULT_INIT;
	int rc;

	snprintf(pack, sizeof(pack), "%s/packs/pack-00000001.arcp", store);
	snprintf(index, sizeof(index), "%s/index.lmdb", store);
	th_write_random(img, 100000, 2);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	th_write_file(dest, "", 0);
	ro.force = 1;
	if (!bind(f, pack, dest))
		skip();
	assert_int_equal(arca_rollback(f->s, "disk", dest, NULL, NULL), ARCA_EUNSAFE);
	assert_int_equal(arca_restore(f->s, "disk", dest, &ro, NULL), ARCA_EUNSAFE);
	assert_int_equal(umount2(f->mounted, MNT_DETACH), 0);
	f->mounted[0] = '\0';
	if (!bind(f, index, dest))
		skip();
	assert_int_equal(arca_restore(f->s, "disk", dest, &ro, NULL), ARCA_EUNSAFE);
	assert_int_equal(umount2(f->mounted, MNT_DETACH), 0);
	f->mounted[0] = '\0';
	rc = arca_verify(&v, f->s);
	arca_verify_result_clear(&v);
	assert_int_equal(rc, 0);
	/* an ordinary file there is restored */
	assert_int_equal(arca_restore(f->s, "disk", dest, &ro, NULL), 0);
	assert_int_equal(th_file_equal(img, dest), 0);
}

static void expect_equal(const char *a, const char *b)
{
	char why[512];
	if (th_tree_equal(a, b, why, sizeof(why)) != 0)
		fail_msg("trees differ: %s", why);
}

/* The quick check keeps a file whose size and mtime match, but names it
 * shares its inode with must be the artifact's hard links to it: two
 * files of the artifact linked together in DEST (or one linked to a name
 * outside) would stay one file, and a write to one change the other. */
static void files_the_artifact_keeps_apart_are_unlinked_in_dest(void **state)
{
	fixture *f = *state;
	struct timespec t[2] = { { 0, UTIME_OMIT }, { 1577836800, 0 } };
	const char *out = th_path(f->outside, "o");
	arca_op_stats st = ARCA_OP_STATS_INIT;
	struct stat a, b;

	th_write_file(th_path(f->src, "x"), "same", 4);
	th_write_file(th_path(f->src, "y"), "same", 4);
	th_write_file(th_path(f->src, "z"), "same", 4);
	th_write_file(th_path(f->src, "h1"), "linked", 6);
	assert_int_equal(link(th_path(f->src, "h1"), th_path(f->src, "h2")), 0);
	assert_int_equal(utimensat(AT_FDCWD, th_path(f->src, "x"), t, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, th_path(f->src, "y"), t, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, th_path(f->src, "z"), t, 0), 0);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	rmdir(f->work);
	assert_int_equal(arca_restore(f->s, "t", f->work, NULL, NULL), 0);

	/* the artifact's own hard links, as they are: nothing to do */
	th_rollback_ok(f, "t", f->work, &st);
	assert_int_equal(st.entries_changed, 0);

	assert_int_equal(unlink(th_path(f->work, "y")), 0);
	assert_int_equal(link(th_path(f->work, "x"), th_path(f->work, "y")), 0);
	assert_int_equal(link(th_path(f->work, "z"), out), 0);
	th_rollback_ok(f, "t", f->work, NULL);
	expect_equal(f->src, f->work);
	assert_int_equal(stat(th_path(f->work, "z"), &a), 0);
	assert_int_equal(stat(out, &b), 0);
	assert_int_not_equal(a.st_ino, b.st_ino);
	assert_int_equal(b.st_nlink, 1);
	assert_int_equal(th_file_equal(th_path(f->src, "z"), out), 0);
}

/* Whether another process can begin a write transaction at once. */
static int other_process_can_write(const char *dir)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store_options o = ARCA_STORE_OPTIONS_INIT;
		arca_store *s = NULL;
		arca_cas_writer *w = NULL;
		o.lock_timeout_ms = 0;
		alarm(5); /* a wait on LMDB's mutex would be a hang */
		if (arca_store_open(&s, dir, &o) != 0)
			_exit(2);
		_exit(arca_cas_writer_begin(&w, s->cas) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status) == 0;
}

/* POSIX record locks belong to the process: a second handle on the same
 * store would reset LMDB's lock file and, once closed, drop the first
 * handle's locks, so another process could write at the same time. */
static void a_store_open_twice_in_one_process_keeps_its_writer_exclusive(void **state)
{
	fixture *f = *state;
	const char *dir = th_path(f->tmp, "store");
	arca_cas_writer *w = NULL;
	arca_store *again = NULL;

	assert_int_equal(arca_cas_writer_begin(&w, f->s->cas), 0);
	assert_int_equal(arca_store_open(&again, dir, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "already open"));
	if (again)
		arca_store_free(again);
	assert_int_equal(other_process_can_write(dir), 0);
	arca_cas_writer_abort(w);
	assert_int_equal(other_process_can_write(dir), 1);
	/* once closed, it opens again */
	arca_store_free(f->s);
	f->s = th_store_open(dir);
}

#define NOBODY 65534

static int chown_tree(const char *path)
{
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "chown -R %d:%d '%s'", NOBODY, NOBODY, path);
	return system(cmd);
}

/* As nobody: restores `ref` to `dest`, breaks it in ways its owner may
 * (unreadable directories and files, an extra locked-up directory), and
 * rolls it back twice. The exit status says which step failed. */
static int nobody_restores_and_rolls_back(const char *storedir, const char *ref,
		const char *dest)
{
	arca_store *s = NULL;
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return 99;
	if (access(storedir, R_OK | W_OK | X_OK) < 0)
		return 98; /* TMPDIR not open to nobody */
	if (arca_store_open(&s, storedir, NULL) != 0)
		return 1;
	if (arca_restore(s, ref, dest, NULL, NULL) != 0) {
		fprintf(stderr, "restore: %s\n", arca_error_last());
		return 2;
	}
	/* what a restore made, rolled back as it is */
	if (arca_rollback(s, ref, dest, NULL, NULL) != 0) {
		fprintf(stderr, "rollback: %s\n", arca_error_last());
		return 3;
	}
	if (chmod(th_path(dest, "locked"), 0700) < 0 ||
	    chmod(th_path(dest, "locked/in"), 0700) < 0)
		return 4;
	th_write_file(th_path(dest, "locked/in/f"), "changed", 7);
	th_write_file(th_path(dest, "locked/new"), "n", 1);
	if (chmod(th_path(dest, "locked/in"), 0) < 0 || chmod(th_path(dest, "locked"), 0) < 0 ||
	    mkdir(th_path(dest, "extra"), 0700) < 0 || mkdir(th_path(dest, "extra/sub"), 0700) < 0)
		return 5;
	th_write_file(th_path(dest, "extra/sub/x"), "x", 1);
	if (chmod(th_path(dest, "extra/sub"), 0) < 0 || chmod(th_path(dest, "extra"), 0500) < 0 ||
	    chmod(th_path(dest, "readonly"), 0700) < 0 || chmod(dest, 0) < 0)
		return 6;
	if (arca_rollback(s, ref, dest, NULL, NULL) != 0) {
		fprintf(stderr, "rollback: %s\n", arca_error_last());
		return 7;
	}
	arca_store_free(s);
	return 0;
}

/* A tree's owner may take away their own access to its entries (an
 * artifact can hold such modes): rollback gives it back to itself while
 * it rewrites or removes them, as it sets their modes in the end anyway,
 * instead of failing on them at every run. */
static void rollback_as_owner_gets_through_entries_without_owner_access(void **state)
{
	fixture *f = *state;
	char dest[4200], storedir[4200], why[512];
	struct stat st;
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root to run as user nobody\n");
		skip();
	}
	snprintf(dest, sizeof(dest), "%s/dest", f->tmp);
	snprintf(storedir, sizeof(storedir), "%s/store", f->tmp);
	assert_int_equal(mkdir(th_path(f->src, "locked"), 0700), 0);
	assert_int_equal(mkdir(th_path(f->src, "locked/in"), 0700), 0);
	th_write_file(th_path(f->src, "locked/in/f"), "in", 2);
	th_write_file(th_path(f->src, "locked/unreadable"), "u", 1);
	th_write_file(th_path(f->src, "readonly"), "r", 1);
	assert_int_equal(chmod(th_path(f->src, "locked/unreadable"), 0), 0);
	assert_int_equal(chmod(th_path(f->src, "locked/in"), 0), 0);
	assert_int_equal(chmod(th_path(f->src, "locked"), 0500), 0);
	assert_int_equal(chmod(th_path(f->src, "readonly"), 0400), 0);
	assert_int_equal(chown_tree(f->src), 0);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(chown_tree(f->tmp), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(nobody_restores_and_rolls_back(storedir, "t", dest));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 98) {
		fprintf(stderr, "skipped: nobody cannot reach %s\n", f->tmp);
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	/* root sees everything: DEST is the artifact again, modes included */
	assert_int_equal(th_tree_equal(f->src, dest, why, sizeof(why)), 0);
	assert_int_equal(lstat(th_path(dest, "locked/in"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0);
	f->s = th_store_open(storedir);
}

/* A loop device over `backing` into `dev`; -1 (and a printed reason)
 * when there are none here. */
static int loop_attach(const char *backing, char *dev, size_t n)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC), num, fd, lfd;
	if (ctl < 0 || (num = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0) {
		fprintf(stderr, "skipped: no loop devices: %s\n", strerror(errno));
		if (ctl >= 0)
			close(ctl);
		return -1;
	}
	close(ctl);
	snprintf(dev, n, "/dev/loop%d", num);
	fd = open(backing, O_RDWR | O_CLOEXEC);
	lfd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0 || lfd < 0 || ioctl(lfd, LOOP_SET_FD, fd) < 0) {
		fprintf(stderr, "skipped: attach %s: %s\n", dev, strerror(errno));
		if (fd >= 0)
			close(fd);
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	close(fd);
	/* gone with its last descriptor, also when an assertion fails */
	struct loop_info64 li;
	memset(&li, 0, sizeof(li));
	li.lo_flags = LO_FLAGS_AUTOCLEAR;
	ioctl(lfd, LOOP_SET_STATUS64, &li);
	return lfd;
}

static void loop_detach(int lfd)
{
	ioctl(lfd, LOOP_CLR_FD, 0);
	close(lfd);
}

/* A block device's st_size is 0: its size is the device's. Snapshot
 * knew; diff took a live device for an empty image, and rollback onto a
 * device smaller than the image overwrote all of it before failing at
 * its end (and could never finish). */
static void a_block_device_is_sized_as_a_device(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "img"), *small = th_path(f->tmp, "small"),
		*keep = th_path(f->tmp, "small.orig"), *large = th_path(f->tmp, "large");
	arca_diff_stats ds = ARCA_DIFF_STATS_INIT;
	char dev[64];
	int lfd;

	th_write_random(img, 1 << 20, 11);
	th_snapshot(f->s, img, "img", NULL, NULL);
	th_write_random(small, 512 << 10, 12);
	th_write_random(keep, 512 << 10, 12);
	if ((lfd = loop_attach(small, dev, sizeof(dev))) < 0)
		skip();
	assert_int_equal(arca_rollback(f->s, "img", dev, NULL, NULL), ARCA_ENOSPC);
	/* read through the device: its cache is what was written */
	assert_int_equal(th_file_equal(dev, keep), 0);
	loop_detach(lfd);

	/* a larger device: the image is its start, the rest is left */
	th_write_random(large, 2 << 20, 13);
	if ((lfd = loop_attach(large, dev, sizeof(dev))) < 0)
		skip();
	th_rollback_ok(f, "img", dev, NULL);
	assert_int_equal(arca_diff(f->s, "img", NULL, dev, NULL, NULL, NULL, &ds), 0);
	loop_detach(lfd);
	assert_int_equal(ds.size_a, 1 << 20);
	assert_int_equal(ds.size_b, 2 << 20);
	assert_int_equal(ds.changed_bytes, 1 << 20); /* the tail only */
	assert_int_equal(ds.ranges, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(symlink_hardlinked_to_outside_keeps_the_outside_metadata, setup_with_work, th_dest_teardown),
		cmocka_unit_test_setup_teardown(hardlink_to_a_mounted_file_keeps_the_link_and_finishes, setup_with_work, th_dest_teardown),
		cmocka_unit_test_setup_teardown(restore_never_links_to_a_file_of_the_store_inside_dest, setup_with_work, th_dest_teardown),
		cmocka_unit_test_setup_teardown(a_bind_mount_of_the_packs_is_never_rolled_back_into, setup_with_work, th_dest_teardown),
		cmocka_unit_test_setup_teardown(a_store_file_mounted_as_the_image_is_never_written, setup_with_work, th_dest_teardown),
		cmocka_unit_test_setup_teardown(files_the_artifact_keeps_apart_are_unlinked_in_dest, setup_with_work, th_dest_teardown),
		cmocka_unit_test_setup_teardown(a_store_open_twice_in_one_process_keeps_its_writer_exclusive, setup_with_work, th_dest_teardown),
		cmocka_unit_test_setup_teardown(rollback_as_owner_gets_through_entries_without_owner_access, setup_with_work, th_dest_teardown),
		cmocka_unit_test_setup_teardown(a_block_device_is_sized_as_a_device, setup_with_work, th_dest_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
