/* In-place rollback of trees and images: the result equals a fresh
 * restore, only differences are written, interrupted runs complete. */
#include "helpers.h"
#include "util/fsutil.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef th_dest_fixture fixture;

static void expect_equal(const char *a, const char *b)
{
	char why[512];
	if (th_tree_equal(a, b, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static void build_tree(const char *src)
{
	mkdir(th_path(src, "dir"), 0755);
	mkdir(th_path(src, "dir/sub"), 0700);
	mkdir(th_path(src, "to-symlink"), 0755);
	th_write_file(th_path(src, "to-symlink/x"), "x", 1);
	th_write_random(th_path(src, "big"), 3u << 20, 1);
	th_write_random(th_path(src, "dir/a"), 100000, 2);
	th_write_random(th_path(src, "dir/sub/b"), 5000, 3);
	th_write_file(th_path(src, "to-dir"), "file", 4);
	th_write_file(th_path(src, "mode"), "m", 1);
	assert_int_equal(link(th_path(src, "dir/a"), th_path(src, "hard")), 0);
	assert_int_equal(symlink("dir/a", th_path(src, "link")), 0);
	assert_int_equal(mkfifo(th_path(src, "fifo"), 0644), 0);
}

static void tree_rollback_undoes_every_kind_of_change(void **state)
{
	fixture *f = *state;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	struct stat before, after;

	build_tree(f->src);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(arca_restore(f->s, "t", f->work, NULL, NULL), 0);
	assert_int_equal(stat(th_path(f->work, "big"), &before), 0);

	th_pwrite_random(th_path(f->work, "dir/a"), 50000, 10, 9); /* content */
	chmod(th_path(f->work, "mode"), 0600);                     /* mode */
	unlink(th_path(f->work, "dir/sub/b"));                     /* deleted */
	th_write_file(th_path(f->work, "dir/extra"), "e", 1);      /* added */
	mkdir(th_path(f->work, "newdir"), 0755);
	th_write_file(th_path(f->work, "newdir/y"), "y", 1);
	unlink(th_path(f->work, "to-dir"));                        /* file -> dir */
	mkdir(th_path(f->work, "to-dir"), 0755);
	th_write_file(th_path(f->work, "to-dir/inner"), "i", 1);
	unlink(th_path(f->work, "to-symlink/x"));                  /* dir -> symlink */
	rmdir(th_path(f->work, "to-symlink"));
	assert_int_equal(symlink("/", th_path(f->work, "to-symlink")), 0);
	unlink(th_path(f->work, "link"));                          /* symlink -> file */
	th_write_file(th_path(f->work, "link"), "not a link", 10);
	unlink(th_path(f->work, "fifo"));                          /* fifo -> dir */
	mkdir(th_path(f->work, "fifo"), 0755);
	unlink(th_path(f->work, "hard"));                          /* hardlink broken */
	th_write_random(th_path(f->work, "hard"), 100000, 2);

	th_rollback_ok(f, "t", f->work, &st);
	expect_equal(f->src, f->work);
	assert_true(st.entries_removed >= 2);
	/* the untouched 3 MiB file was neither read nor rewritten */
	assert_int_equal(stat(th_path(f->work, "big"), &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_true(st.bytes_written < 1u << 20);

	/* nothing left to do */
	th_rollback_ok(f, "t", f->work, &st);
	assert_int_equal(st.entries_changed, 0);
	assert_int_equal(st.entries_removed, 0);
	assert_int_equal(st.bytes_written, 0);
}

static void checksum_finds_content_changes_that_kept_size_and_mtime(void **state)
{
	fixture *f = *state;
	arca_rollback_options ro = ARCA_ROLLBACK_OPTIONS_INIT;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	struct stat sb;
	const char *p;

	th_write_random(th_path(f->src, "data"), 1u << 20, 4);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(arca_restore(f->s, "t", f->work, NULL, NULL), 0);
	p = th_path(f->work, "data");
	assert_int_equal(stat(p, &sb), 0);
	th_pwrite_random(p, 4096, 100, 5);
	struct timespec ts[2] = { sb.st_atim, sb.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);

	th_rollback_ok(f, "t", f->work, &st); /* quick check: looks unchanged */
	assert_int_not_equal(th_file_equal(th_path(f->src, "data"), p), 0);
	ro.checksum = 1;
	assert_int_equal(arca_rollback(f->s, "t", f->work, &ro, &st), 0);
	expect_equal(f->src, f->work);
	assert_int_equal(st.bytes_compared, 1u << 20);
	assert_true(st.bytes_written > 0 && st.bytes_written < 300000); /* one chunk */
}

static void rollback_does_not_follow_symlinks_out_of_dest(void **state)
{
	fixture *f = *state;
	mkdir(th_path(f->src, "d"), 0755);
	th_write_file(th_path(f->src, "d/file"), "inside", 6);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	mkdir(f->work, 0755);
	assert_int_equal(symlink(f->outside, th_path(f->work, "d")), 0);
	th_rollback_ok(f, "t", f->work, NULL);
	expect_equal(f->src, f->work);
	assert_int_not_equal(access(th_path(f->outside, "file"), F_OK), 0);
}

static void files_hardlinked_to_outside_are_replaced_not_modified(void **state)
{
	fixture *f = *state;
	struct stat st;
	const char *out = th_path(f->outside, "linked");

	th_write_file(th_path(f->src, "a"), "AAAA", 4);
	th_write_file(th_path(f->src, "b"), "BBBB", 4);
	chmod(th_path(f->src, "b"), 0600);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(arca_restore(f->s, "t", f->work, NULL, NULL), 0);
	/* b becomes another name of a, and of a file outside DEST */
	unlink(th_path(f->work, "b"));
	assert_int_equal(link(th_path(f->work, "a"), th_path(f->work, "b")), 0);
	assert_int_equal(link(th_path(f->work, "a"), out), 0);

	th_rollback_ok(f, "t", f->work, NULL);
	/* b is its own file again, with its own content and mode */
	assert_int_equal(stat(th_path(f->work, "b"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(th_file_equal(th_path(f->src, "b"), th_path(f->work, "b")), 0);
	assert_int_equal(th_file_equal(th_path(f->src, "a"), th_path(f->work, "a")), 0);
	/* and the file outside DEST was not touched */
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(th_file_equal(out, th_path(f->src, "a")), 0);
}

static void missing_destination_is_created(void **state)
{
	fixture *f = *state;
	build_tree(f->src);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	th_rollback_ok(f, "t", f->work, NULL);
	expect_equal(f->src, f->work);
}

/* "offset+length " of each data extent, by SEEK_DATA/SEEK_HOLE. */
static void data_map(const char *path, char *out, size_t n)
{
	int fd = open(path, O_RDONLY);
	off_t at = 0, end;
	size_t used = 0;
	assert_true(fd >= 0);
	out[0] = '\0';
	while ((at = lseek(fd, at, SEEK_DATA)) >= 0) {
		end = lseek(fd, at, SEEK_HOLE);
		assert_true(end > at);
		used += (size_t)snprintf(out + used, n - used, "%lld+%lld ", (long long)at,
			(long long)(end - at));
		assert_true(used < n);
		at = end;
	}
	close(fd);
}

static void image_rollback_writes_only_differing_chunks(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "disk.img"), *work = th_path(f->tmp, "work.img");
	char out[4200];
	arca_op_stats st = ARCA_OP_STATS_INIT;
	struct stat a, b;
	int fd;

	fd = open(img, O_CREAT | O_WRONLY, 0644);
	assert_int_equal(ftruncate(fd, 256u << 20), 0);
	close(fd);
	for (int i = 0; i < 8; i++)
		th_pwrite_random(img, (uint64_t)i * (30u << 20), 2u << 20, 20 + i);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	assert_int_equal(arca_restore(f->s, "disk", work, NULL, NULL), 0);

	th_pwrite_random(work, 1u << 20, 1000, 40);        /* data inside a chunk */
	th_pwrite_random(work, 100u << 20, 1u << 20, 41);  /* data where a hole was */
	fd = open(work, O_WRONLY);
	assert_int_equal(ftruncate(fd, 300u << 20), 0);     /* grown */
	close(fd);

	th_rollback_ok(f, "disk", work, &st);
	assert_int_equal(th_file_equal(img, work), 0);
	assert_int_equal(stat(work, &b), 0);
	assert_int_equal(b.st_size, 256u << 20);
	assert_true(st.bytes_written > 0 && st.bytes_written <= 256u << 10);
	assert_int_equal(st.bytes_compared, 16u << 20);
	/* the hole is a hole again: as sparse as a fresh restore */
	snprintf(out, sizeof(out), "%s/fresh.img", f->tmp);
	assert_int_equal(arca_restore(f->s, "disk", out, NULL, NULL), 0);
	assert_int_equal(stat(out, &a), 0);
	{
		/* the same data extents; block counts differ between filesystems */
		char ma[4096], mb[4096];
		data_map(out, ma, sizeof(ma));
		data_map(work, mb, sizeof(mb));
		assert_string_equal(ma, mb);
	}
}

/* 1 when the filesystem of `dir` zeroes ranges in place (ext4, xfs). */
static int zero_range_works(const char *dir)
{
	const char *p = th_path(dir, "zr-probe");
	int fd = open(p, O_CREAT | O_RDWR, 0600), ok;
	assert_true(fd >= 0);
	th_pwrite_random(p, 0, 8192, 1);
	ok = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
	close(fd);
	unlink(p);
	return ok;
}

/* keep_allocation: what was written into the artifact's holes reads as
 * zeros again but keeps its blocks; without it they are punched. */
static void image_rollback_can_keep_the_blocks_it_zeroes(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "disk.img");
	char work[2][4096], fresh[4096], ma[4096], mb[4096];
	arca_rollback_options o = ARCA_ROLLBACK_OPTIONS_INIT;
	struct stat st[2], fs;
	int fd;

	fd = open(img, O_CREAT | O_WRONLY, 0644);
	assert_int_equal(ftruncate(fd, 160u << 20), 0);
	close(fd);
	for (int i = 0; i < 4; i++)
		th_pwrite_random(img, (uint64_t)i * (16u << 20), 1u << 20, 50 + i);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	snprintf(fresh, sizeof(fresh), "%s/fresh.img", f->tmp);
	assert_int_equal(arca_restore(f->s, "disk", fresh, NULL, NULL), 0);
	assert_int_equal(stat(fresh, &fs), 0);
	data_map(fresh, ma, sizeof(ma));
	for (int k = 0; k < 2; k++) {
		snprintf(work[k], sizeof(work[k]), "%s/work%d.img", f->tmp, k);
		assert_int_equal(arca_restore(f->s, "disk", work[k], NULL, NULL), 0);
		/* 64 scattered 4 KiB writes into holes, made durable (allocated) */
		for (int i = 0; i < 64; i++)
			th_pwrite_random(work[k], (4u << 20) + (uint64_t)i * (128u << 10), 4096, 70 + i);
		fd = open(work[k], O_RDWR);
		assert_int_equal(fsync(fd), 0);
		close(fd);
		o.keep_allocation = k;
		assert_int_equal(arca_rollback(f->s, "disk", work[k], &o, NULL), 0);
		assert_int_equal(th_file_equal(img, work[k]), 0);
		/* punched: holes again (zeroed in place, a range that was read
		 * since may still show as data to SEEK_DATA: cached zeros) */
		data_map(work[k], mb, sizeof(mb));
		if (k == 0)
			assert_string_equal(ma, mb);
		assert_int_equal(stat(work[k], &st[k]), 0);
	}
	/* punched: as allocated as a fresh restore */
	assert_true(st[0].st_blocks <= fs.st_blocks + 64);
	if (zero_range_works(f->tmp))
		assert_true(st[1].st_blocks >= fs.st_blocks + 64 * 8);
	/* but kept blocks are bounded: past twice the artifact's data and
	 * 64 MiB, the rollback punches */
	th_pwrite_random(work[1], 1u << 20, 15u << 20, 90);
	th_pwrite_random(work[1], 17u << 20, 15u << 20, 91);
	th_pwrite_random(work[1], 33u << 20, 15u << 20, 92);
	th_pwrite_random(work[1], 49u << 20, 15u << 20, 93);
	th_pwrite_random(work[1], 64u << 20, 40u << 20, 94);
	fd = open(work[1], O_RDWR);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	o.keep_allocation = 1;
	assert_int_equal(arca_rollback(f->s, "disk", work[1], &o, NULL), 0);
	assert_int_equal(th_file_equal(img, work[1]), 0);
	assert_int_equal(stat(work[1], &st[1]), 0);
	assert_true(st[1].st_blocks <= fs.st_blocks + 64);
}

/* A directory whose metadata is already right is not written: no chmod,
 * chown or utimens, so its ctime stays (and a sync has no inode to write). */
static void rollback_leaves_directories_that_are_right_untouched(void **state)
{
	fixture *f = *state;
	struct stat a1, a2, b1, b2, s1, s2;
	build_tree(f->src);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	th_rollback_ok(f, "t", f->work, NULL);
	assert_int_equal(stat(th_path(f->work, "dir"), &a1), 0);
	assert_int_equal(stat(th_path(f->work, "dir/sub"), &b1), 0);
	assert_int_equal(stat(f->work, &s1), 0);
	usleep(20000);
	th_write_random(th_path(f->work, "dir/sub/new"), 10, 9);  /* dir/sub changes */
	th_rollback_ok(f, "t", f->work, NULL);
	expect_equal(f->src, f->work);
	assert_int_equal(stat(th_path(f->work, "dir"), &a2), 0);
	assert_int_equal(stat(th_path(f->work, "dir/sub"), &b2), 0);
	assert_int_equal(stat(f->work, &s2), 0);
	assert_true(a1.st_ctim.tv_sec == a2.st_ctim.tv_sec && a1.st_ctim.tv_nsec == a2.st_ctim.tv_nsec);
	assert_true(s1.st_ctim.tv_sec == s2.st_ctim.tv_sec && s1.st_ctim.tv_nsec == s2.st_ctim.tv_nsec);
	/* the one that changed had its mtime set back */
	assert_false(b1.st_ctim.tv_sec == b2.st_ctim.tv_sec && b1.st_ctim.tv_nsec == b2.st_ctim.tv_nsec);
	assert_true(b1.st_mtim.tv_sec == b2.st_mtim.tv_sec && b1.st_mtim.tv_nsec == b2.st_mtim.tv_nsec);
}

/* Two trees with the same names, sizes and mtimes but other bytes, in
 * directories whose names sort around '/' ("a/b" against "a-b", "a.b"). */
static void build_twin(const char *root, uint64_t seed)
{
	static const char *dirs[] = { "a", "a/b", "a/b/c", "a-b", "a.b", "ab", "b" };
	struct timespec ts[2] = { { 1577836800, 0 }, { 1577836800, 0 } };
	mkdir(root, 0755);
	th_write_random(th_path(root, "f"), 3000, seed);
	utimensat(AT_FDCWD, th_path(root, "f"), ts, 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
		th_write_random(th_path(p, "f"), 3000, seed + i + 1);
		utimensat(AT_FDCWD, th_path(p, "f"), ts, 0);
	}
	for (size_t i = sizeof(dirs) / sizeof(dirs[0]); i-- > 0;) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
		utimensat(AT_FDCWD, p, ts, 0);
	}
	utimensat(AT_FDCWD, root, ts, 0);
}

static void baseline_tells_apart_files_of_equal_size_and_mtime(void **state)
{
	fixture *f = *state;
	const char *a = th_path(f->tmp, "twin-a"), *bdir = th_path(f->tmp, "twin-b");
	char ta[4096], tb[4096];
	arca_rollback_options o = ARCA_ROLLBACK_OPTIONS_INIT;
	arca_op_stats st = ARCA_OP_STATS_INIT;

	snprintf(ta, sizeof(ta), "%s", a);
	snprintf(tb, sizeof(tb), "%s", bdir);
	build_twin(ta, 100);
	build_twin(tb, 200);
	th_snapshot(f->s, ta, "twin", "a", NULL);
	th_snapshot(f->s, tb, "twin", "b", NULL);
	assert_int_equal(arca_restore(f->s, "twin:a", f->work, NULL, NULL), 0);

	/* the quick check alone takes a's files for b's */
	th_rollback_ok(f, "twin:b", f->work, NULL);
	expect_equal(ta, f->work);
	/* with the baseline every such file is compared and fixed */
	o.baseline = "twin:a";
	assert_int_equal(arca_rollback(f->s, "twin:b", f->work, &o, &st), 0);
	expect_equal(tb, f->work);
	assert_int_equal(st.bytes_written, 8 * 3000);
	o.baseline = "twin:b";
	assert_int_equal(arca_rollback(f->s, "twin:a", f->work, &o, NULL), 0);
	expect_equal(ta, f->work);
	/* a baseline that is the target costs nothing: quick check only */
	o.baseline = "twin:a";
	assert_int_equal(arca_rollback(f->s, "twin:a", f->work, &o, &st), 0);
	assert_int_equal(st.bytes_compared, 0);
	o.baseline = "nosuch";
	assert_int_equal(arca_rollback(f->s, "twin:a", f->work, &o, NULL), ARCA_ENOTFOUND);
}

/* A name that is a hard link in the baseline has its target's size and
 * mtime: once the target is replaced, that name is a lone file the quick
 * check cannot tell from the target's file, so it is compared too. */
static void baseline_hard_link_is_compared_not_trusted(void **state)
{
	fixture *f = *state;
	const char *a = th_path(f->tmp, "hl-a"), *bdir = th_path(f->tmp, "hl-b");
	char ta[4096], tb[4096];
	struct timespec ts[2] = { { 1577836800, 0 }, { 1577836800, 0 } };
	arca_rollback_options o = ARCA_ROLLBACK_OPTIONS_INIT;

	snprintf(ta, sizeof(ta), "%s", a);
	snprintf(tb, sizeof(tb), "%s", bdir);
	/* a: f and its hard link x; b: f and x two files, all of one size
	 * and mtime */
	assert_int_equal(mkdir(ta, 0755), 0);
	assert_int_equal(mkdir(tb, 0755), 0);
	th_write_random(th_path(ta, "f"), 3000, 300);
	assert_int_equal(link(th_path(ta, "f"), th_path(ta, "x")), 0);
	th_write_random(th_path(tb, "f"), 3000, 301);
	th_write_random(th_path(tb, "x"), 3000, 302);
	assert_int_equal(chmod(th_path(ta, "f"), 0644), 0);
	assert_int_equal(chmod(th_path(tb, "f"), 0644), 0);
	assert_int_equal(chmod(th_path(tb, "x"), 0644), 0);
	utimensat(AT_FDCWD, th_path(ta, "f"), ts, 0);
	utimensat(AT_FDCWD, th_path(tb, "f"), ts, 0);
	utimensat(AT_FDCWD, th_path(tb, "x"), ts, 0);
	utimensat(AT_FDCWD, ta, ts, 0);
	utimensat(AT_FDCWD, tb, ts, 0);
	th_snapshot(f->s, ta, "hl", "a", NULL);
	th_snapshot(f->s, tb, "hl", "b", NULL);
	assert_int_equal(arca_restore(f->s, "hl:a", f->work, NULL, NULL), 0);

	o.baseline = "hl:a";
	assert_int_equal(arca_rollback(f->s, "hl:b", f->work, &o, NULL), 0);
	expect_equal(tb, f->work);
}

/* Bytes the process has written so far (/proc/PID/io). */
static uint64_t written_by(pid_t pid)
{
	char p[64], line[128];
	uint64_t v = 0;
	FILE *fp;
	snprintf(p, sizeof(p), "/proc/%d/io", (int)pid);
	if (!(fp = fopen(p, "r")))
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "wchar: %lu", &v) == 1)
			break;
	fclose(fp);
	return v;
}

static void killed_rollback_completes_when_run_again(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "a.img"), *work = th_path(f->tmp, "w.img");
	char storedir[4200];
	int killed = 0;

	snprintf(storedir, sizeof(storedir), "%s/store", f->tmp);
	th_write_random(img, 96u << 20, 50);
	th_snapshot(f->s, img, "a", NULL, NULL);
	for (uint64_t at = 4u << 20; at <= (64u << 20); at *= 4) {
		pid_t pid;
		int status;
		th_write_random(work, 96u << 20, 60 + at); /* every chunk differs */
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			arca_store *s;
			if (arca_store_open(&s, storedir, NULL) != 0)
				_exit(2);
			_exit(arca_rollback(s, "a", work, NULL, NULL) == 0 ? 0 : 3);
		}
		for (long i = 0; i < 2000000 && written_by(pid) < at; i++) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				goto reaped;
			usleep(100);
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
reaped:
		killed += WIFSIGNALED(status);
		th_rollback_ok(f, "a", work, NULL);
		assert_int_equal(th_file_equal(img, work), 0);
	}
	assert_true(killed >= 2);
}

/* Bind-mounts a directory holding `keep` at `at`; 0 when mounts are not
 * possible here (the test is then skipped). */
static int bind_mount(fixture *f, const char *at)
{
	const char *from = th_path(f->tmp, "mounted");
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: bind mounts need root\n");
		return 0;
	}
	mkdir(from, 0755);
	th_write_file(th_path(from, "keep"), "precious", 8);
	if (mount(from, at, NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "skipped: bind mount: %s\n", strerror(errno));
		return 0;
	}
	snprintf(f->mounted, sizeof(f->mounted), "%s", at);
	return 1;
}

static void rollback_does_not_remove_what_is_mounted_inside_dest(void **state)
{
	fixture *f = *state;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	int rc;

	th_write_file(th_path(f->src, "a"), "a", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(arca_restore(f->s, "t", f->work, NULL, NULL), 0);
	/* an extra directory (not in the artifact) holding a mount */
	mkdir(th_path(f->work, "extra"), 0755);
	mkdir(th_path(f->work, "extra/mnt"), 0755);
	th_write_file(th_path(f->work, "extra/other"), "o", 1);
	unlink(th_path(f->work, "a"));
	if (!bind_mount(f, th_path(f->work, "extra/mnt")))
		skip();

	rc = arca_rollback(f->s, "t", f->work, NULL, &st);
	assert_int_equal(rc, ARCA_EUNSAFE);
	assert_non_null(strstr(arca_error_last(), "extra/mnt"));
	assert_int_equal(st.entries_foreign, 1);
	/* the mount and what it holds stay; everything else was done */
	assert_int_equal(access(th_path(f->work, "extra/mnt/keep"), F_OK), 0);
	assert_int_equal(access(th_path(f->work, "extra/other"), F_OK), -1);
	assert_int_equal(th_file_equal(th_path(f->src, "a"), th_path(f->work, "a")), 0);
}

static void rollback_does_not_replace_a_mount_named_in_the_artifact(void **state)
{
	fixture *f = *state;
	arca_op_stats st = ARCA_OP_STATS_INIT;

	th_write_file(th_path(f->src, "mnt"), "a file", 6);
	mkdir(th_path(f->src, "d"), 0755);
	th_write_file(th_path(f->src, "d/x"), "x", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	mkdir(f->work, 0755);
	mkdir(th_path(f->work, "mnt"), 0755);
	if (!bind_mount(f, th_path(f->work, "mnt")))
		skip();

	assert_int_equal(arca_rollback(f->s, "t", f->work, NULL, &st), ARCA_EUNSAFE);
	assert_non_null(strstr(arca_error_last(), "mnt"));
	assert_int_equal(st.entries_foreign, 1);
	assert_int_equal(access(th_path(f->work, "mnt/keep"), F_OK), 0);
	assert_int_equal(th_file_equal(th_path(f->src, "d/x"), th_path(f->work, "d/x")), 0);
}

static void rm_rf_never_crosses_into_a_mount(void **state)
{
	fixture *f = *state;
	int dfd;

	mkdir(f->work, 0755);
	mkdir(th_path(f->work, "d"), 0755);
	mkdir(th_path(f->work, "d/mnt"), 0755);
	th_write_file(th_path(f->work, "d/other"), "o", 1);
	if (!bind_mount(f, th_path(f->work, "d/mnt")))
		skip();
	dfd = open(f->tmp, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(arca_rm_rf_at(dfd, "work"), ARCA_EUNSAFE);
	close(dfd);
	assert_non_null(strstr(arca_error_last(), "work/d/mnt"));
	assert_int_equal(access(th_path(f->work, "d/mnt/keep"), F_OK), 0);
	assert_int_equal(access(th_path(f->work, "d/other"), F_OK), -1);
}

typedef struct {
	const char *dest;     /* DEST */
	const char *target;   /* outside DEST */
	atomic_int stop; /* set by the test, read by the racer */
} racer;

/* Makes the regular file or fifo at `path` (never what a symlink there
 * points to) differ from the artifact, so a rollback changes its mode. */
static void spoil(const char *path, mode_t mode)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
		fchmod(fd, mode);
		futimens(fd, NULL);
	}
	close(fd);
}

/* Flips DEST/f and DEST/p between what the artifact has there and a
 * symlink to the outside file: one atomic exchange with a sibling. */
static void *race(void *arg)
{
	racer *r = arg;
	char f[4200], p[4200], fs[4200], ps[4200];
	snprintf(f, sizeof(f), "%s/f", r->dest);
	snprintf(p, sizeof(p), "%s/p", r->dest);
	snprintf(fs, sizeof(fs), "%s/.f", r->dest);
	snprintf(ps, sizeof(ps), "%s/.p", r->dest);
	while (!r->stop) {
		spoil(f, 0400);
		spoil(fs, 0400);
		spoil(p, 0644);
		spoil(ps, 0644);
		/* the rollback removes the siblings: made again */
		if (renameat2(AT_FDCWD, f, AT_FDCWD, fs, RENAME_EXCHANGE) < 0)
			if (symlink(r->target, fs) < 0) {}
		if (renameat2(AT_FDCWD, p, AT_FDCWD, ps, RENAME_EXCHANGE) < 0)
			if (symlink(r->target, ps) < 0) {}
	}
	return NULL;
}

static void racing_symlink_swaps_never_change_a_file_outside_dest(void **state)
{
	fixture *f = *state;
	const char *target = th_path(f->outside, "target");
	struct stat before, after;
	struct timespec old[2] = { { 1000000, 0 }, { 1000000, 0 } };
	racer r;
	pthread_t t;

	th_write_file(th_path(f->src, "f"), "original", 8);
	chmod(th_path(f->src, "f"), 0640);
	assert_int_equal(mkfifo(th_path(f->src, "p"), 0600), 0);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(arca_restore(f->s, "t", f->work, NULL, NULL), 0);
	th_write_file(target, "outside", 7);
	chmod(target, 0644);
	assert_int_equal(utimensat(AT_FDCWD, target, old, 0), 0);
	assert_int_equal(stat(target, &before), 0);

	r.dest = f->work;
	r.target = target;
	r.stop = 0;
	assert_int_equal(pthread_create(&t, NULL, race, &r), 0);
	for (int i = 0; i < 1000; i++) {
		arca_rollback(f->s, "t", f->work, NULL, NULL); /* may fail: the racer wins */
		assert_int_equal(stat(target, &after), 0);
		if ((after.st_mode & 07777) != (before.st_mode & 07777) ||
		    after.st_uid != before.st_uid || after.st_gid != before.st_gid ||
		    after.st_mtim.tv_sec != before.st_mtim.tv_sec)
			break;
	}
	r.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(after.st_mode & 07777, before.st_mode & 07777);
	assert_int_equal(after.st_uid, before.st_uid);
	assert_int_equal(after.st_gid, before.st_gid);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_size, 7);
}

static void image_with_other_hard_links_is_replaced_not_rewritten(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "disk.img"), *work = th_path(f->tmp, "work.img");
	const char *other = th_path(f->outside, "other.img"), *copy = th_path(f->tmp, "copy.img");
	struct stat a, b;
	char cmd[16384];

	th_write_random(img, 4u << 20, 70);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	assert_int_equal(arca_restore(f->s, "disk", work, NULL, NULL), 0);
	th_pwrite_random(work, 1u << 20, 4096, 71);
	chmod(work, 0640);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", work, copy);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(link(work, other), 0);

	th_rollback_ok(f, "disk", work, NULL);
	assert_int_equal(th_file_equal(img, work), 0);
	/* the other name still has what it had */
	assert_int_equal(th_file_equal(copy, other), 0);
	assert_int_equal(stat(work, &a), 0);
	assert_int_equal(stat(other, &b), 0);
	assert_int_not_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 1);
	assert_int_equal(a.st_mode & 07777, 0640);
}

static int store_verifies(const char *dir)
{
	arca_store *s;
	arca_verify_result v = ARCA_VERIFY_RESULT_INIT;
	int rc;
	if (arca_store_open(&s, dir, NULL) != 0)
		return -1;
	rc = arca_verify(&v, s);
	arca_verify_result_clear(&v);
	arca_store_free(s);
	return rc;
}

static void rollback_leaves_a_store_inside_dest_alone(void **state)
{
	fixture *f = *state;
	char inner[4200];
	arca_store *s;
	arca_op_stats st = ARCA_OP_STATS_INIT;

	snprintf(inner, sizeof(inner), "%s/.arca", f->work);
	th_write_file(th_path(f->src, "a"), "a", 1);
	mkdir(th_path(f->src, "d"), 0755);
	th_write_file(th_path(f->src, "d/x"), "x", 1);
	mkdir(f->work, 0755);
	s = th_store_open(inner);
	th_snapshot(s, f->src, "t", NULL, NULL);
	/* an artifact that has its own .arca: still not written over */
	mkdir(th_path(f->src, ".arca"), 0755);
	th_write_file(th_path(f->src, ".arca/data.mdb"), "not a store", 11);
	th_snapshot(s, f->src, "u", NULL, NULL);

	assert_int_equal(arca_rollback(s, "t", f->work, NULL, &st), 0);
	assert_int_equal(access(inner, F_OK), 0);
	assert_int_equal(th_file_equal(th_path(f->src, "d/x"), th_path(f->work, "d/x")), 0);
	assert_int_equal(arca_rollback(s, "u", f->work, NULL, &st), 0);
	assert_int_equal(st.entries_skipped, 1);
	assert_int_equal(arca_rollback(s, "t", f->work, NULL, &st), 0);
	arca_store_free(s);
	assert_int_equal(store_verifies(inner), 0);
	/* nor restored into, nor is DEST allowed inside it */
	s = th_store_open(inner);
	assert_int_equal(arca_rollback(s, "t", th_path(inner, "x"), NULL, NULL), ARCA_EUNSAFE);
	arca_store_free(s);
	assert_int_equal(store_verifies(inner), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tree_rollback_undoes_every_kind_of_change, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(checksum_finds_content_changes_that_kept_size_and_mtime, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(rollback_does_not_follow_symlinks_out_of_dest, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(files_hardlinked_to_outside_are_replaced_not_modified, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(missing_destination_is_created, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(image_rollback_writes_only_differing_chunks, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(image_rollback_can_keep_the_blocks_it_zeroes, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(rollback_leaves_directories_that_are_right_untouched, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(baseline_tells_apart_files_of_equal_size_and_mtime, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(baseline_hard_link_is_compared_not_trusted, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(killed_rollback_completes_when_run_again, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(rollback_does_not_remove_what_is_mounted_inside_dest, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(rollback_does_not_replace_a_mount_named_in_the_artifact, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(rm_rf_never_crosses_into_a_mount, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(racing_symlink_swaps_never_change_a_file_outside_dest, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(image_with_other_hard_links_is_replaced_not_rewritten, th_dest_setup, th_dest_teardown),
		cmocka_unit_test_setup_teardown(rollback_leaves_a_store_inside_dest_alone, th_dest_setup, th_dest_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
