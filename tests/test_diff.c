/* diff: known changes between artifacts and against live trees/images. */
#include "helpers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef th_fixture fixture;

typedef struct {
	char lines[64][300];
	int n;
	uint64_t off[64], len[64];
	int nranges;
} seen;

static int on_entry(const arca_diff_entry *e, void *p)
{
	seen *s = p;
	if (s->n < 64)
		snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%c %s %u", (char)e->kind,
			e->path, e->changes);
	return 0;
}

static int on_range(uint64_t off, uint64_t len, void *p)
{
	seen *s = p;
	if (s->nranges < 64) {
		s->off[s->nranges] = off;
		s->len[s->nranges++] = len;
	}
	return 0;
}

static int has_line(const seen *s, const char *want)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->lines[i], want))
			return 1;
	return 0;
}

static int setup(void **state)
{
	fixture *f;
	th_setup(state);
	f = *state;
	mkdir(th_path(f->src, "dir"), 0755);
	th_write_random(th_path(f->src, "dir/a"), 300000, 1);
	th_write_random(th_path(f->src, "b"), 1000, 2);
	th_write_file(th_path(f->src, "c"), "c", 1);
	assert_int_equal(symlink("b", th_path(f->src, "l")), 0);
	return 0;
}

static void mutate(fixture *f)
{
	struct timespec keep[2];
	struct stat st;
	assert_int_equal(stat(th_path(f->src, "dir"), &st), 0);
	th_pwrite_random(th_path(f->src, "dir/a"), 1000, 10, 3);   /* content, same size */
	unlink(th_path(f->src, "c"));                              /* deleted */
	th_write_file(th_path(f->src, "dir/new"), "n", 1);         /* added */
	chmod(th_path(f->src, "b"), 0600);                         /* mode */
	unlink(th_path(f->src, "l"));                              /* target */
	assert_int_equal(symlink("dir/a", th_path(f->src, "l")), 0);
	keep[0] = st.st_atim;
	keep[1] = st.st_mtim;
	utimensat(AT_FDCWD, th_path(f->src, "dir"), keep, 0);
}

static void tree_changes_between_artifacts(void **state)
{
	fixture *f = *state;
	arca_diff_stats st = ARCA_DIFF_STATS_INIT;
	seen s = { .n = 0 };

	th_snapshot(f->s, f->src, "t", "v1", NULL);
	mutate(f);
	th_snapshot(f->s, f->src, "t", "v2", NULL);
	assert_int_equal(arca_diff(f->s, "t:v1", "t:v2", NULL, on_entry, NULL, &s, &st), 0);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.deleted, 1);
	assert_true(has_line(&s, "A dir/new 0"));
	assert_true(has_line(&s, "D c 0"));
	char want[64];
	snprintf(want, sizeof(want), "M dir/a %u", ARCA_DIFF_CONTENT | ARCA_DIFF_MTIME);
	assert_true(has_line(&s, want));
	snprintf(want, sizeof(want), "M b %u", ARCA_DIFF_MODE);
	assert_true(has_line(&s, want));
	snprintf(want, sizeof(want), "M l %u", ARCA_DIFF_TARGET | ARCA_DIFF_MTIME);
	assert_true(has_line(&s, want));

	/* REF alone compares with its parent: the same answer */
	seen s2 = { .n = 0 };
	assert_int_equal(arca_diff(f->s, "t:v2", NULL, NULL, on_entry, NULL, &s2, &st), 0);
	assert_int_equal(s2.n, s.n);
	for (int i = 0; i < s.n; i++)
		assert_string_equal(s.lines[i], s2.lines[i]);
	/* and nothing between an artifact and itself */
	assert_int_equal(arca_diff(f->s, "t:v1", "t:v1", NULL, on_entry, NULL, &s2, &st), 0);
	assert_int_equal(st.added + st.deleted + st.modified, 0);
}

static void live_tree_diff_uses_the_files_cache(void **state)
{
	fixture *f = *state;
	arca_diff_stats st = ARCA_DIFF_STATS_INIT;
	seen s = { .n = 0 };

	th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(arca_diff(f->s, "t", NULL, f->src, on_entry, NULL, &s, &st), 0);
	assert_int_equal(st.added + st.deleted + st.modified, 0);
	assert_int_equal(st.bytes_read, 0);

	mutate(f);
	assert_int_equal(arca_diff(f->s, "t", NULL, f->src, on_entry, NULL, &s, &st), 0);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.modified, 4); /* dir/a, b, l and the root's mtime */
	char root[32];
	snprintf(root, sizeof(root), "M  %u", ARCA_DIFF_MTIME);
	assert_true(has_line(&s, root));
	assert_true(st.bytes_read > 0 && st.bytes_read <= 300000); /* only dir/a is read */
	char want[64];
	snprintf(want, sizeof(want), "M dir/a %u", ARCA_DIFF_CONTENT | ARCA_DIFF_MTIME);
	assert_true(has_line(&s, want));
}

static void image_changes_are_byte_ranges(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "d.img");
	arca_diff_stats st = ARCA_DIFF_STATS_INIT;
	seen s = { .n = 0 };
	int fd = open(img, O_CREAT | O_WRONLY, 0644);

	assert_int_equal(ftruncate(fd, 64u << 20), 0);
	close(fd);
	th_pwrite_random(img, 0, 8u << 20, 5);
	th_snapshot(f->s, img, "d", "v1", NULL);
	th_pwrite_random(img, 3u << 20, 100, 6);
	th_pwrite_random(img, 40u << 20, 4096, 7); /* was a hole */

	assert_int_equal(arca_diff(f->s, "d:v1", NULL, img, NULL, on_range, &s, &st), 0);
	assert_int_equal(st.ranges, 2);
	assert_true(s.off[0] <= (3u << 20) && s.off[0] + s.len[0] >= (3u << 20) + 100);
	assert_true(s.len[0] <= 256u << 10);
	assert_true(s.off[1] <= (40u << 20) && s.off[1] + s.len[1] >= (40u << 20) + 4096);

	th_snapshot(f->s, img, "d", "v2", NULL);
	seen s2 = { .n = 0 };
	assert_int_equal(arca_diff(f->s, "d:v1", "d:v2", NULL, NULL, on_range, &s2, &st), 0);
	assert_true(st.ranges >= 2);
	assert_true(st.changed_bytes < 1u << 20);
	assert_int_equal(st.size_a, 64u << 20);
	assert_int_equal(st.size_b, 64u << 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tree_changes_between_artifacts, setup, th_teardown),
		cmocka_unit_test_setup_teardown(live_tree_diff_uses_the_files_cache, setup, th_teardown),
		cmocka_unit_test_setup_teardown(image_changes_are_byte_ranges, setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
