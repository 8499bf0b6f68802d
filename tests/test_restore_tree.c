/* Tree restore of a wide and deep tree (cross-directory hard links,
 * read-only directories, exact mtimes), with 1, 8 and the default fill
 * threads: whatever the interleaving of the workers that write and finish
 * files, the result is the source, entry by entry. */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

typedef th_fixture fixture;

static void set_mtime(const char *path, long sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void mkdir_ok(const char *path)
{
	if (mkdir(path, 0755) < 0)
		fail_msg("mkdir %s: %s", path, strerror(errno));
}

static void link_ok(const char *from, const char *to)
{
	if (link(from, to) < 0)
		fail_msg("link %s %s: %s", from, to, strerror(errno));
}

/* Directories are closed (mode, mtime) last: give a few read-only modes
 * and exact mtimes, deepest first. */
static void close_dir(const char *path, mode_t mode, long sec)
{
	assert_int_equal(chmod(path, mode), 0);
	set_mtime(path, sec, 123456789);
}

/* ~3000 files over ~130 directories, some 8 deep; hard links whose
 * target is in a directory made before or after the link's own, and
 * in the same one; symlinks, fifos, empty, sparse and many-chunk files;
 * directories of mode 0555/0500 holding entries; exact mtimes. */
static void build_wide_deep_tree(const char *src)
{
	char dir[2048], p[2200], deep[2048];
	int nfile = 0;

	for (int a = 0; a < 12; a++) {
		snprintf(dir, sizeof(dir), "%s/top%02d", src, a);
		mkdir_ok(dir);
		for (int b = 0; b < 10; b++) {
			snprintf(dir, sizeof(dir), "%s/top%02d/sub%d", src, a, b);
			mkdir_ok(dir);
			for (int c = 0; c < 24; c++, nfile++) {
				snprintf(p, sizeof(p), "%s/f%02d", dir, c);
				/* sizes from empty to a few chunks */
				th_write_random(p, (size_t)((nfile * 7919) % 70000) * (c % 5 ? 1 : 0),
					(uint64_t)nfile + 1);
				chmod(p, c % 3 ? 0644 : 0400);
				set_mtime(p, 1500000000 + nfile, nfile);
			}
			snprintf(p, sizeof(p), "%s/link", dir);
			assert_int_equal(symlink("f01", p), 0);
			set_mtime(p, 1400000000 + a * 10 + b, 7);
			snprintf(p, sizeof(p), "%s/pipe", dir);
			assert_int_equal(mkfifo(p, 0640), 0);
			set_mtime(p, 1300000000 + a, 9);
			/* a link right after its target: made while the target
			 * may still be in the making on another thread */
			{
				char t[2200];
				snprintf(p, sizeof(p), "%s/zz-a", dir);
				th_write_random(p, 10, (uint64_t)(a * 10 + b));
				snprintf(t, sizeof(t), "%s/zz-b", dir);
				link_ok(p, t);
			}
		}
	}
	/* many chunks (made by the reading thread), and a sparse one */
	th_write_random(th_path(src, "top03/big"), 3 * 1000 * 1000 + 5, 99);
	{
		int fd = open(th_path(src, "top05/sub5/sparse"), O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 8 << 20), 0);
		close(fd);
		th_pwrite_random(th_path(src, "top05/sub5/sparse"), 5 << 20, 1000, 5);
	}
	/* a chain 8 deep, with a file at every level */
	snprintf(deep, sizeof(deep), "%s/top07", src);
	for (int i = 0; i < 8; i++) {
		size_t n = strlen(deep);
		snprintf(deep + n, sizeof(deep) - n, "/level%d", i);
		mkdir_ok(deep);
		snprintf(p, sizeof(p), "%s/at%d", deep, i);
		th_write_random(p, 100 + (size_t)i, 500 + (uint64_t)i);
	}

	/* hard links; the manifest names the first path in walk order as the
	 * file, so each link's target is earlier: */
	/* same directory */
	link_ok(th_path(src, "top00/sub0/f01"), th_path(src, "top00/sub0/zz-same"));
	/* link's directory made before the target's (top01 opens before
	 * top01/sub9, the link comes after sub9's entries) */
	link_ok(th_path(src, "top01/sub9/f02"), th_path(src, "top01/zz-up"));
	/* target in a directory made long before, and closed */
	link_ok(th_path(src, "top00/sub3/f04"), th_path(src, "top11/sub9/zz-far"));
	link_ok(th_path(src, "top00/sub3/f04"), th_path(src, "top06/zz-far2"));
	/* deep target, shallow link, and a link into the deep chain */
	link_ok(th_path(src, "top07/level0/level1/level2/level3/level4/level5/at5"),
		th_path(src, "top08/zz-deep"));
	link_ok(th_path(src, "top02/sub1/f07"),
		th_path(src, "top07/level0/level1/level2/level3/level4/level5/level6/zz-in"));
	/* the many-chunk file linked from a read-only directory */
	link_ok(th_path(src, "top03/big"), th_path(src, "top10/sub0/zz-big"));
	/* many links to one file across the tree */
	for (int a = 4; a < 12; a++) {
		snprintf(p, sizeof(p), "%s/top%02d/sub2/zz-many", src, a);
		link_ok(th_path(src, "top04/sub1/f03"), p);
	}

	/* directories: read-only ones with entries, exact mtimes; deepest
	 * first so a parent's mtime is the last change to it */
	{
		char d[2048];
		snprintf(d, sizeof(d), "%s/top07/level0/level1/level2/level3/level4/level5/level6/level7", src);
		for (int i = 7; i >= 0; i--) {
			close_dir(d, i % 2 ? 0555 : 0700, 1600000000 + i);
			*strrchr(d, '/') = '\0';
		}
	}
	for (int a = 0; a < 12; a++) {
		for (int b = 0; b < 10; b++) {
			snprintf(dir, sizeof(dir), "%s/top%02d/sub%d", src, a, b);
			close_dir(dir, (a + b) % 3 == 0 ? 0555 : (a + b) % 3 == 1 ? 0500 : 0751,
				1700000000 + a * 10 + b);
		}
		snprintf(dir, sizeof(dir), "%s/top%02d", src, a);
		close_dir(dir, a % 2 ? 0555 : 0755, 1710000000 + a);
	}
	set_mtime(src, 1720000000, 1);
}

/* Compares every entry of `a` with `b`'s: type, mode, size, mtime, link
 * count, content, symlink target; and that `b` has no other. Returns how
 * many it compared. */
static size_t compare_entries(const char *a, const char *b)
{
	struct stat sa, sb;
	DIR *d;
	struct dirent *de;
	size_t n = 1, na = 0, nb = 0;

	if (lstat(a, &sa) < 0 || lstat(b, &sb) < 0)
		fail_msg("%s: missing in the restore", b);
	if (sa.st_mode != sb.st_mode)
		fail_msg("%s: mode %o, want %o", b, sb.st_mode, sa.st_mode);
	if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)
		fail_msg("%s: mtime %lld.%09ld, want %lld.%09ld", b, (long long)sb.st_mtim.tv_sec,
			sb.st_mtim.tv_nsec, (long long)sa.st_mtim.tv_sec, sa.st_mtim.tv_nsec);
	if (!S_ISDIR(sa.st_mode) && sa.st_nlink != sb.st_nlink)
		fail_msg("%s: %lu links, want %lu", b, (unsigned long)sb.st_nlink,
			(unsigned long)sa.st_nlink);
	if (S_ISREG(sa.st_mode)) {
		if (sa.st_size != sb.st_size)
			fail_msg("%s: size %lld, want %lld", b, (long long)sb.st_size, (long long)sa.st_size);
		if (th_file_equal(a, b) != 0)
			fail_msg("%s: content differs", b);
	}
	if (S_ISLNK(sa.st_mode)) {
		char ta[256], tb[256];
		ssize_t la = readlink(a, ta, sizeof(ta)), lb = readlink(b, tb, sizeof(tb));
		if (la != lb || la < 0 || memcmp(ta, tb, (size_t)la))
			fail_msg("%s: symlink target differs", b);
	}
	if (!S_ISDIR(sa.st_mode))
		return n;
	if (!(d = opendir(a)))
		fail_msg("opendir %s", a);
	while ((de = readdir(d)) != NULL) {
		char ca[4096], cb[4096];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		na++;
		snprintf(ca, sizeof(ca), "%s/%s", a, de->d_name);
		snprintf(cb, sizeof(cb), "%s/%s", b, de->d_name);
		n += compare_entries(ca, cb);
	}
	closedir(d);
	if (!(d = opendir(b)))
		fail_msg("opendir %s", b);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			nb++;
	closedir(d);
	if (na != nb)
		fail_msg("%s: %zu entries, want %zu", b, nb, na);
	return n;
}

static void restore_and_compare(arca_store *s, const char *src, const char *dest)
{
	char why[512];
	if (arca_restore(s, "wide", dest, NULL, NULL) != 0)
		fail_msg("restore: %s", arca_error_last());
	assert_true(compare_entries(src, dest) > 3000);
	if (th_tree_equal(src, dest, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static void wide_deep_tree_restores_entry_by_entry(void **state)
{
	fixture *f = *state;
	char dest[4096];

	build_wide_deep_tree(f->src);
	th_snapshot(f->s, f->src, "wide", NULL, NULL);
	/* several runs: a wrong order shows in some interleaving */
	for (int i = 0; i < 4; i++) {
		snprintf(dest, sizeof(dest), "%s/out%d", f->tmp, i);
		restore_and_compare(f->s, f->src, dest);
	}
}

static void reopen(fixture *f, unsigned threads)
{
	arca_store_options o = ARCA_STORE_OPTIONS_INIT;
	o.threads = threads;
	arca_store_free(f->s);
	f->s = NULL;
	if (arca_store_open(&f->s, f->storedir, &o) != 0)
		fail_msg("store open: %s", arca_error_last());
}

static void wide_deep_tree_restores_with_one_thread_and_with_many(void **state)
{
	fixture *f = *state;
	char dest[4096];

	build_wide_deep_tree(f->src);
	th_snapshot(f->s, f->src, "wide", NULL, NULL);
	reopen(f, 1);
	snprintf(dest, sizeof(dest), "%s/one", f->tmp);
	restore_and_compare(f->s, f->src, dest);
	reopen(f, 8);
	snprintf(dest, sizeof(dest), "%s/eight", f->tmp);
	restore_and_compare(f->s, f->src, dest);
}

/* Many directories with few open descriptors: each directory closes as
 * its entries are made. */
static void many_directories_restore_under_a_low_descriptor_limit(void **state)
{
	fixture *f = *state;
	struct rlimit old, low;
	char p[2048], why[512];
	int rc;

	for (int i = 0; i < 3000; i++) {
		snprintf(p, sizeof(p), "%s/d%04d", f->src, i);
		mkdir_ok(p);
		snprintf(p, sizeof(p), "%s/d%04d/f", f->src, i);
		th_write_random(p, (size_t)(i % 7) * 100, (uint64_t)i);
		snprintf(p, sizeof(p), "%s/d%04d", f->src, i);
		set_mtime(p, 1600000000 + i, 0);
	}
	th_snapshot(f->s, f->src, "many", NULL, NULL);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 1024;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	rc = arca_restore(f->s, "many", th_path(f->tmp, "out"), NULL, NULL);
	setrlimit(RLIMIT_NOFILE, &old);
	if (rc)
		fail_msg("restore: %s", arca_error_last());
	if (th_tree_equal(f->src, th_path(f->tmp, "out"), why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(wide_deep_tree_restores_entry_by_entry, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(wide_deep_tree_restores_with_one_thread_and_with_many, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(many_directories_restore_under_a_low_descriptor_limit, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
