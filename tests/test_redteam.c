/* Red-team regressions: what rollback, snapshot and the store must never
 * do, found by attacking them. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	char *tmp;
	char src[4096], work[4096], outside[4096];
	arca_store *s;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->tmp = th_tmpdir();
	snprintf(f->src, sizeof(f->src), "%s/src", f->tmp);
	snprintf(f->work, sizeof(f->work), "%s/work", f->tmp);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->tmp);
	mkdir(f->src, 0755);
	mkdir(f->work, 0755);
	mkdir(f->outside, 0755);
	f->s = th_store_open(th_path(f->tmp, "store"));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	arca_store_free(f->s);
	th_cleanup(f->tmp);
	free(f);
	return 0;
}

static void rollback_ok(fixture *f, const char *ref, const char *dest, arca_op_stats *st)
{
	int rc = arca_rollback(f->s, ref, dest, NULL, st);
	if (rc)
		fail_msg("rollback: %s", arca_error_last());
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

	assert_int_equal(symlink("target", th_path(f->src, "l")), 0);
	assert_int_equal(utimensat(AT_FDCWD, th_path(f->src, "l"), art, AT_SYMLINK_NOFOLLOW), 0);
	th_snapshot(f->s, f->src, "t", NULL, NULL);

	assert_int_equal(symlink("target", out), 0);
	assert_int_equal(utimensat(AT_FDCWD, out, old, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(lchown(out, 65534, 65534), 0);
	assert_int_equal(linkat(AT_FDCWD, out, AT_FDCWD, in, 0), 0);

	rollback_ok(f, "t", f->work, NULL);
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(symlink_hardlinked_to_outside_keeps_the_outside_metadata, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
