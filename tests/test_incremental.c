/* Incremental tree snapshots: unchanged files (by the files cache) are
 * not read again, changed ones are. */
#include "helpers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFILES 6000
#define FILE_SIZE 35000 /* 6000 x 35 KB = 210 MB */

typedef th_fixture fixture;

static int setup(void **state)
{
	fixture *f;
	uint8_t *buf = malloc(FILE_SIZE);
	th_setup(state);
	f = *state;
	for (int d = 0; d < 60; d++) {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s/d%02d", f->src, d);
		mkdir(dir, 0755);
		for (int i = 0; i < NFILES / 60; i++) {
			char p[4300];
			snprintf(p, sizeof(p), "%s/f%03d", dir, i);
			th_fill_random(buf, FILE_SIZE, (uint64_t)(d * 1000 + i));
			th_write_file(p, buf, FILE_SIZE);
		}
	}
	free(buf);
	return 0;
}

static void unchanged_tree_reads_no_file_content(void **state)
{
	fixture *f = *state;
	arca_op_stats first = ARCA_OP_STATS_INIT, second = ARCA_OP_STATS_INIT;
	arca_id a, b;

	a = th_snapshot(f->s, f->src, "ws", NULL, &first);
	assert_int_equal(first.bytes_read, (uint64_t)NFILES * FILE_SIZE);
	assert_int_equal(first.files_unchanged, 0);
	b = th_snapshot(f->s, f->src, "ws", NULL, &second);
	assert_int_equal(second.bytes_read, 0);
	assert_int_equal(second.files_unchanged, NFILES);
	assert_int_equal(second.chunks_new, 0);
	assert_memory_equal(a.bytes, b.bytes, 32);
}

static void changed_files_are_read_again(void **state)
{
	fixture *f = *state;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	struct stat sb;
	char why[512], out[4200];
	const char *touched = th_path(f->src, "d07/f010");
	const char *same_size = th_path(f->src, "d08/f011");

	th_snapshot(f->s, f->src, "ws", NULL, NULL);
	/* append to one file, add one, delete one */
	int fd = open(th_path(f->src, "d01/f001"), O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "more", 4), 4);
	close(fd);
	th_write_file(th_path(f->src, "d02/new"), "new file", 8);
	assert_int_equal(unlink(th_path(f->src, "d03/f003")), 0);
	/* rewrite a file in place with the same size and mtime: only ctime
	 * tells it changed */
	assert_int_equal(stat(same_size, &sb), 0);
	th_pwrite_random(same_size, 100, 50, 4242);
	struct timespec ts[2] = { sb.st_atim, sb.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, same_size, ts, 0), 0);
	/* new mtime, same content */
	ts[1].tv_sec += 10;
	assert_int_equal(utimensat(AT_FDCWD, touched, ts, 0), 0);

	th_snapshot(f->s, f->src, "ws", NULL, &st);
	assert_int_equal(st.bytes_read, (FILE_SIZE + 4) + 8 + FILE_SIZE + FILE_SIZE);
	assert_int_equal(st.files_unchanged, NFILES - 1 - 3);

	snprintf(out, sizeof(out), "%s/out", f->tmp);
	assert_int_equal(arca_restore(f->s, "ws", out, NULL, NULL), 0);
	if (th_tree_equal(f->src, out, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unchanged_tree_reads_no_file_content, setup, th_teardown),
		cmocka_unit_test_setup_teardown(changed_files_are_read_again, setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
