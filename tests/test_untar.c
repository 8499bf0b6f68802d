/* The guest tar import of the smolvm backend (env/untar.c): a tree comes
 * back with its modes, links and mtimes; hostile members (leaving the
 * tree, going through a symlink, devices) and damaged tars are refused or
 * skipped and nothing outside DEST is made. */
#include "helpers.h"
#include "env/untar.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

typedef struct {
	const char *name;
	mode_t type, perm;
	const char *data;     /* file content, or symlink target */
	const char *hardlink;
	dev_t rdev;
} member;

static void write_tar(const char *path, const member *m, size_t n)
{
	struct archive *a = archive_write_new();
	assert_non_null(a);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, m[i].type);
		archive_entry_set_perm(e, m[i].perm);
		archive_entry_set_mtime(e, 1577836800 + (time_t)i, 0);
		if (m[i].hardlink)
			archive_entry_set_hardlink(e, m[i].hardlink);
		if (m[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, m[i].data);
		if (m[i].type == AE_IFCHR || m[i].type == AE_IFBLK)
			archive_entry_set_rdev(e, m[i].rdev);
		if (m[i].type == AE_IFREG && !m[i].hardlink && m[i].data)
			archive_entry_set_size(e, (la_int64_t)strlen(m[i].data));
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m[i].type == AE_IFREG && !m[i].hardlink && m[i].data)
			assert_int_equal(archive_write_data(a, m[i].data, strlen(m[i].data)),
				(la_ssize_t)strlen(m[i].data));
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void a_tree_comes_back_with_modes_links_and_mtimes(void **state)
{
	char *tmp = th_tmpdir(), tar[4096], dest[4096];
	const member m[] = {
		{ "./", AE_IFDIR, 0755, NULL, NULL, 0 },
		{ "./d", AE_IFDIR, 0750, NULL, NULL, 0 },
		{ "./d/f", AE_IFREG, 0640, "hello", NULL, 0 },
		{ "./d/link", AE_IFLNK, 0777, "f", NULL, 0 },
		{ "./hard", AE_IFREG, 0640, NULL, "./d/f", 0 },
		{ "./fifo", AE_IFIFO, 0600, NULL, NULL, 0 },
		{ "./null", AE_IFCHR, 0666, NULL, NULL, makedev(1, 3) },
	};
	struct stat a, b;
	char buf[16];
	(void)state;
	snprintf(tar, sizeof(tar), "%s/t.tar", tmp);
	snprintf(dest, sizeof(dest), "%s/out", tmp);
	write_tar(tar, m, sizeof(m) / sizeof(m[0]));
	assert_int_equal(arca_env__untar(tar, dest), 0);
	assert_int_equal(lstat(th_path(dest, "d/f"), &a), 0);
	assert_int_equal(a.st_mode & 07777, 0640);
	assert_int_equal(a.st_mtime, 1577836800 + 2);
	assert_int_equal(lstat(th_path(dest, "hard"), &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_nlink == 2);
	assert_int_equal(readlink(th_path(dest, "d/link"), buf, sizeof(buf)), 1);
	assert_int_equal(lstat(th_path(dest, "d"), &a), 0);
	assert_int_equal(a.st_mode & 07777, 0750);
	assert_int_equal(lstat(th_path(dest, "fifo"), &a), 0);
	assert_true(S_ISFIFO(a.st_mode));
	/* a device node is never made on the host */
	assert_int_equal(lstat(th_path(dest, "null"), &a), -1);
	/* DEST must be new */
	assert_true(arca_env__untar(tar, dest) < 0);
	th_cleanup(tmp);
}

static void hostile_members_are_refused_and_make_nothing_outside(void **state)
{
	char *tmp = th_tmpdir(), tar[4096], dest[4096];
	const char *outside = th_path(tmp, "outside");
	const member bad[][2] = {
		{ { "../evil", AE_IFREG, 0644, "x", NULL, 0 }, { NULL, 0, 0, NULL, NULL, 0 } },
		{ { "/abs-evil", AE_IFREG, 0644, "x", NULL, 0 }, { NULL, 0, 0, NULL, NULL, 0 } },
		{ { "a/../../evil", AE_IFREG, 0644, "x", NULL, 0 }, { NULL, 0, 0, NULL, NULL, 0 } },
		{ { "s", AE_IFLNK, 0777, NULL, NULL, 0 }, { "s/evil", AE_IFREG, 0644, "x", NULL, 0 } },
		{ { "h", AE_IFREG, 0644, NULL, "../outside/target", 0 }, { NULL, 0, 0, NULL, NULL, 0 } },
	};
	(void)state;
	assert_int_equal(mkdir(outside, 0755), 0);
	th_write_file(th_path(outside, "target"), "keep", 4);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		member m[2];
		size_t n = bad[k][1].name ? 2 : 1;
		memcpy(m, bad[k], sizeof(m));
		if (m[0].type == AE_IFLNK)
			m[0].data = outside;
		snprintf(tar, sizeof(tar), "%s/bad%zu.tar", tmp, k);
		snprintf(dest, sizeof(dest), "%s/out%zu", tmp, k);
		write_tar(tar, m, n);
		int rc = arca_env__untar(tar, dest);
		if (rc != ARCA_ECORRUPT) {
			char cmd[8300];
			snprintf(cmd, sizeof(cmd), "ls -laR %s %s >&2", dest, outside);
			if (system(cmd)) {}
			fail_msg("member %s%s%s: %d %s", m[0].name, n > 1 ? " then " : "",
				n > 1 ? m[1].name : "", rc, arca_error_last());
		}
		assert_int_equal(access(th_path(tmp, "evil"), F_OK), -1);
		assert_int_equal(access("/abs-evil", F_OK), -1);
		assert_int_equal(access(th_path(outside, "evil"), F_OK), -1);
	}
	{
		struct stat st;
		assert_int_equal(stat(th_path(outside, "target"), &st), 0);
		assert_int_equal(st.st_nlink, 1);
		assert_int_equal(st.st_size, 4);
	}
	th_cleanup(tmp);
}

static void a_truncated_or_garbage_tar_is_refused(void **state)
{
	char *tmp = th_tmpdir(), tar[4096], dest[4096];
	const member m[] = { { "f", AE_IFREG, 0644, "0123456789abcdef0123456789abcdef", NULL, 0 },
		{ "g", AE_IFREG, 0644, "more", NULL, 0 } };
	(void)state;
	snprintf(tar, sizeof(tar), "%s/t.tar", tmp);
	write_tar(tar, m, 2);
	assert_int_equal(truncate(tar, 600), 0);  /* inside f's data block */
	snprintf(dest, sizeof(dest), "%s/out", tmp);
	assert_int_equal(arca_env__untar(tar, dest), ARCA_ECORRUPT);
	th_write_file(tar, "this is not a tar at all, not even close........", 48);
	snprintf(dest, sizeof(dest), "%s/out2", tmp);
	assert_int_equal(arca_env__untar(tar, dest), ARCA_ECORRUPT);
	snprintf(dest, sizeof(dest), "%s/out3", tmp);
	assert_int_equal(arca_env__untar(th_path(tmp, "missing.tar"), dest), ARCA_ECORRUPT);
	th_cleanup(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_tree_comes_back_with_modes_links_and_mtimes),
		cmocka_unit_test(hostile_members_are_refused_and_make_nothing_outside),
		cmocka_unit_test(a_truncated_or_garbage_tar_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
