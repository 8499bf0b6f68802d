/* Snapshots of trees that hold the store itself, and of files that change
 * while they are read: never the live store, never a silent torn file,
 * always a manifest that restores. */
#include "helpers.h"
#include "store/walk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Test hooks of store/snapshot.c. */
extern void (*arca_snapshot__read_hook)(const char *path, int attempt, void *arg);
extern void *arca_snapshot__read_hook_arg;
extern size_t arca_snapshot__ext_mem_max;

#define BIG (8u << 20)

typedef struct {
	int calls;
	char path[4096];
	char message[256];
} warnings;

static void on_warning(const char *path, const char *message, void *payload)
{
	warnings *w = payload;
	w->calls++;
	snprintf(w->path, sizeof(w->path), "%s", path);
	snprintf(w->message, sizeof(w->message), "%s", message);
}

static int snap(arca_id *id, arca_store *s, const char *path, const char *name,
		warnings *w, arca_op_stats *st)
{
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	o.name = name;
	o.on_warning = on_warning;
	o.warning_payload = w;
	return arca_snapshot(id, s, path, &o, st);
}

static void restore_to(arca_store *s, const arca_id *id, const char *dest)
{
	char ids[ARCA_ID_STRLEN];
	int rc;
	arca_id_format(ids, id);
	rc = arca_restore(s, ids, dest, NULL, NULL);
	if (rc)
		print_error("restore: %s\n", arca_error_last());
	assert_int_equal(rc, 0);
}

static void verify_ok(arca_store *s)
{
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	assert_int_equal(arca_verify(&vr, s), 0);
	arca_verify_result_clear(&vr);
}

static void set_mtime(const char *path, time_t sec)
{
	struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- the store inside the tree ---- */

static void test_store_inside_the_tree_is_left_out(void **state)
{
	th_fixture *f = *state;
	char w[2048], storedir[4096], ref[2048], out[2048], why[256];
	arca_store *s;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	arca_id id, id2;
	warnings wn = { 0 };

	snprintf(w, sizeof(w), "%s/w", f->tmp);
	snprintf(ref, sizeof(ref), "%s/ref", f->tmp);
	snprintf(storedir, sizeof(storedir), "%s/.arca", w);
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	for (int i = 0; i < 2; i++) {
		const char *root = i ? ref : w;
		assert_int_equal(mkdir(root, 0755), 0);
		assert_int_equal(mkdir(th_path(root, "sub"), 0755), 0);
		th_write_random(th_path(root, "a"), 100000, 1);
		th_write_random(th_path(root, "sub/b"), 5000, 2);
		set_mtime(th_path(root, "a"), 1000000);
		set_mtime(th_path(root, "sub/b"), 1000000);
		set_mtime(th_path(root, "sub"), 1000000);
	}
	s = th_store_open(storedir);
	set_mtime(w, 1000000);
	set_mtime(ref, 1000000);

	assert_int_equal(snap(&id, s, w, "w", &wn, &st), 0);
	assert_int_equal(st.entries_excluded, 1);
	assert_int_equal(st.entries, 4); /* root, a, sub, sub/b */
	assert_int_equal(st.files_changed, 0);
	assert_int_equal(wn.calls, 0);

	restore_to(s, &id, out);
	assert_false(exists(th_path(out, ".arca")));
	set_mtime(out, 1000000);
	assert_int_equal(th_tree_equal(ref, out, why, sizeof(why)), 0);

	/* the store keeps working, and a second snapshot leaves it out too */
	th_write_random(th_path(w, "sub/c"), 3000, 3);
	assert_int_equal(snap(&id2, s, w, "w", &wn, &st), 0);
	assert_int_equal(st.entries_excluded, 1);
	assert_int_equal(st.entries, 5);
	verify_ok(s);
	arca_store_free(s);
}

static void test_snapshot_of_the_store_itself_is_refused(void **state)
{
	th_fixture *f = *state;
	arca_id id;
	assert_int_equal(arca_snapshot(&id, f->s, f->storedir, NULL, NULL), ARCA_EINVAL);
}

/* ---- files that change while being read ---- */

typedef struct {
	const char *file;     /* absolute path to change */
	const char *match;    /* hook path it reacts to */
	int mode;
	int calls;
} changer;

enum { REWRITE_ONCE, REWRITE_ALWAYS, SHRINK_ONCE, SHRINK_ALWAYS, REMOVE, TO_FIFO,
	TO_SYMLINK, REPLACE_FILE, TOUCH_ONCE };

static void change_hook(const char *path, int attempt, void *arg)
{
	changer *c = arg;
	size_t n = strlen(path), m = strlen(c->match);
	if (n < m || strcmp(path + n - m, c->match) != 0)
		return;
	if (attempt < 0) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.new", c->file);
		switch (c->mode) {
		case REMOVE:
			assert_int_equal(unlink(c->file), 0);
			break;
		case TO_FIFO:
			assert_int_equal(unlink(c->file), 0);
			assert_int_equal(mkfifo(c->file, 0644), 0);
			break;
		case TO_SYMLINK:
			assert_int_equal(unlink(c->file), 0);
			assert_int_equal(symlink("/etc/passwd", c->file), 0);
			break;
		case REPLACE_FILE:
			th_write_file(tmp, "replacement", 11);
			assert_int_equal(rename(tmp, c->file), 0);
			break;
		default:
			return;
		}
		c->calls++;
		return;
	}
	switch (c->mode) {
	case REWRITE_ONCE:
	case REWRITE_ALWAYS:
		if (c->mode == REWRITE_ONCE && c->calls)
			return;
		/* a new version of the same size; a distinct mtime so the
		 * change shows whatever the clock's granularity */
		th_write_random(c->file, BIG, 100 + (uint64_t)c->calls);
		set_mtime(c->file, 2000000 + c->calls);
		break;
	case TOUCH_ONCE:
		if (c->calls)
			return;
		/* the same bytes, a new ctime: read again */
		assert_int_equal(chmod(c->file, 0640), 0);
		break;
	case SHRINK_ONCE:
	case SHRINK_ALWAYS:
		if (c->mode == SHRINK_ONCE && c->calls)
			return;
		assert_int_equal(truncate(c->file, c->calls ? 1000 : 100000), 0);
		break;
	default:
		return;
	}
	c->calls++;
}

static void hook_on(changer *c)
{
	arca_snapshot__read_hook_arg = c;
	arca_snapshot__read_hook = change_hook;
}

static void hook_off(void)
{
	arca_snapshot__read_hook = NULL;
	arca_snapshot__read_hook_arg = NULL;
}

static int teardown_hook(void **state)
{
	hook_off();
	arca_snapshot__ext_mem_max = 1u << 16;
	return th_teardown(state);
}

/* Snapshots src with the hook on, checks the warning count, restores to
 * tmp/out and checks out/NAME equals the file as it is now when `same`. */
static void run_changing(th_fixture *f, changer *c, int expect_warnings, int same)
{
	static int round;
	char out[2048];
	arca_op_stats st = ARCA_OP_STATS_INIT;
	arca_id id;
	warnings wn = { 0 };
	int rc;

	snprintf(out, sizeof(out), "%s/out%d", f->tmp, round++);
	hook_on(c);
	rc = snap(&id, f->s, f->src, "src", &wn, &st);
	hook_off();
	assert_int_equal(rc, 0);
	assert_true(c->calls > 0);
	assert_int_equal(st.files_changed, (uint64_t)expect_warnings);
	assert_int_equal(wn.calls, expect_warnings);
	if (expect_warnings) {
		size_t n = strlen(wn.path), m = strlen(c->match);
		assert_true(n >= m && !strcmp(wn.path + n - m, c->match));
		assert_true(!strncmp(wn.path, f->src, strlen(f->src)));
	}
	/* whatever happened, the manifest is consistent: it restores */
	restore_to(f->s, &id, out);
	if (same)
		assert_int_equal(th_file_equal(c->file, th_path(out, c->match)), 0);
	verify_ok(f->s);
}

static void test_file_rewritten_once_while_read_is_read_again(void **state)
{
	th_fixture *f = *state;
	char file[2048];
	changer c = { file, "big", REWRITE_ONCE, 0 };
	snprintf(file, sizeof(file), "%s/big", f->src);
	th_write_random(file, BIG, 1);
	/* the stored content is the new version, complete */
	run_changing(f, &c, 0, 1);
}

static int keep_last(const arca_progress *p, void *payload)
{
	if (p->phase == ARCA_PROGRESS_CHUNK)
		*(arca_progress *)payload = *p;
	return 0;
}

/* A file read twice (it changed, here only its ctime) is stored once, and
 * the progress counts its content once: all of it known to the store,
 * not twice its size. */
static void test_a_file_read_again_counts_its_content_once(void **state)
{
	th_fixture *f = *state;
	char file[2048];
	changer c = { file, "big", TOUCH_ONCE, 0 };
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_progress last;
	warnings wn = { 0 };
	arca_id id;

	snprintf(file, sizeof(file), "%s/big", f->src);
	th_write_random(file, BIG, 1);
	assert_int_equal(snap(&id, f->s, f->src, "src", &wn, NULL), 0);
	assert_int_equal(chmod(file, 0600), 0); /* not the files cache's stat */
	memset(&last, 0, sizeof(last));
	o.name = "src";
	o.progress_cb = keep_last;
	o.progress_payload = &last;
	hook_on(&c);
	assert_int_equal(arca_snapshot(&id, f->s, f->src, &o, NULL), 0);
	hook_off();
	assert_int_equal(c.calls, 1);
	assert_true(last.phase_end);
	assert_int_equal(last.bytes_done, BIG);
	assert_int_equal(last.bytes_known, BIG);
}

static void test_file_rewritten_on_every_read_is_stored_with_a_warning(void **state)
{
	th_fixture *f = *state;
	char file[2048];
	changer c = { file, "big", REWRITE_ALWAYS, 0 };
	arca_op_stats st = ARCA_OP_STATS_INIT;
	warnings wn = { 0 };
	arca_id id;

	snprintf(file, sizeof(file), "%s/big", f->src);
	th_write_random(file, BIG, 1);
	th_write_random(th_path(f->src, "small"), 1000, 2);
	run_changing(f, &c, 1, 0);
	assert_int_equal(c.calls, 2);

	/* what was stored is not what is there: the files cache must not
	 * take it as unchanged next time */
	assert_int_equal(snap(&id, f->s, f->src, "src", &wn, &st), 0);
	assert_int_equal(st.files_unchanged, 1); /* only "small" */
	assert_int_equal(st.files_changed, 0);
	assert_int_equal(wn.calls, 0);
}

static void test_extents_of_a_reread_file_spill_to_disk(void **state)
{
	th_fixture *f = *state;
	char file[2048];
	changer c = { file, "big", REWRITE_ALWAYS, 0 };
	arca_snapshot__ext_mem_max = 4; /* 8 MiB is many more chunks */
	snprintf(file, sizeof(file), "%s/big", f->src);
	th_write_random(file, BIG, 1);
	run_changing(f, &c, 1, 0);

	c.mode = REWRITE_ONCE;
	c.calls = 0;
	th_write_random(file, BIG, 7);
	run_changing(f, &c, 0, 1);
}

static void test_file_truncated_while_read_is_read_again(void **state)
{
	th_fixture *f = *state;
	char file[2048];
	changer c = { file, "big", SHRINK_ONCE, 0 };
	snprintf(file, sizeof(file), "%s/big", f->src);
	th_write_random(file, BIG, 1);
	run_changing(f, &c, 0, 1);
}

static void test_file_truncated_on_every_read_gives_a_consistent_manifest(void **state)
{
	th_fixture *f = *state;
	char file[2048];
	changer c = { file, "big", SHRINK_ALWAYS, 0 };
	snprintf(file, sizeof(file), "%s/big", f->src);
	th_write_random(file, BIG, 1);
	run_changing(f, &c, 1, 0);
}

static void test_image_rewritten_while_read(void **state)
{
	th_fixture *f = *state;
	char file[2048], out[2048];
	changer c = { file, "disk.img", REWRITE_ONCE, 0 };
	arca_op_stats st = ARCA_OP_STATS_INIT;
	warnings wn = { 0 };
	arca_id id;

	snprintf(file, sizeof(file), "%s/disk.img", f->tmp);
	snprintf(out, sizeof(out), "%s/out.img", f->tmp);
	th_write_random(file, BIG, 1);
	hook_on(&c);
	assert_int_equal(snap(&id, f->s, file, NULL, &wn, &st), 0);
	hook_off();
	assert_int_equal(st.files_changed, 0);
	restore_to(f->s, &id, out);
	assert_int_equal(th_file_equal(file, out), 0);

	c.mode = REWRITE_ALWAYS;
	c.calls = 0;
	hook_on(&c);
	assert_int_equal(snap(&id, f->s, file, NULL, &wn, &st), 0);
	hook_off();
	assert_int_equal(st.files_changed, 1);
	assert_int_equal(wn.calls, 1);
	assert_string_equal(wn.path, file);
	unlink(out);
	restore_to(f->s, &id, out);
	verify_ok(f->s);
}

/* ---- entries replaced between the walk and the read ---- */

static void test_file_removed_before_open_is_left_out_with_a_warning(void **state)
{
	th_fixture *f = *state;
	char file[2048], out[2048];
	changer c = { file, "a", REMOVE, 0 };
	arca_op_stats st = ARCA_OP_STATS_INIT;
	warnings wn = { 0 };
	arca_id id;

	snprintf(file, sizeof(file), "%s/a", f->src);
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	th_write_file(file, "aaa", 3);
	/* a second link to it comes later in the walk: it must become a file
	 * of its own, not a hardlink to the entry that was left out */
	assert_int_equal(link(file, th_path(f->src, "z")), 0);
	hook_on(&c);
	assert_int_equal(snap(&id, f->s, f->src, NULL, &wn, &st), 0);
	hook_off();
	assert_int_equal(st.files_changed, 1);
	assert_int_equal(wn.calls, 1);
	restore_to(f->s, &id, out);
	assert_false(exists(th_path(out, "a")));
	assert_int_equal(th_file_equal(th_path(f->src, "z"), th_path(out, "z")), 0);
}

static void test_file_replaced_by_a_fifo_does_not_block(void **state)
{
	th_fixture *f = *state;
	char file[2048];
	changer c = { file, "a", TO_FIFO, 0 };
	arca_op_stats st = ARCA_OP_STATS_INIT;
	warnings wn = { 0 };
	arca_id id;

	snprintf(file, sizeof(file), "%s/a", f->src);
	th_write_file(file, "aaa", 3);
	hook_on(&c);
	assert_int_equal(snap(&id, f->s, f->src, NULL, &wn, &st), 0);
	hook_off();
	assert_int_equal(st.files_changed, 1);
	assert_int_equal(wn.calls, 1);
}

static void test_file_replaced_by_a_symlink_is_not_followed(void **state)
{
	th_fixture *f = *state;
	char file[2048], out[2048];
	changer c = { file, "a", TO_SYMLINK, 0 };
	arca_op_stats st = ARCA_OP_STATS_INIT;
	warnings wn = { 0 };
	arca_id id;

	snprintf(file, sizeof(file), "%s/a", f->src);
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	th_write_file(file, "aaa", 3);
	hook_on(&c);
	assert_int_equal(snap(&id, f->s, f->src, NULL, &wn, &st), 0);
	hook_off();
	assert_int_equal(st.files_changed, 1);
	restore_to(f->s, &id, out);
	assert_false(exists(th_path(out, "a")));
}

static void test_file_replaced_by_another_file_stores_the_new_one(void **state)
{
	th_fixture *f = *state;
	char file[2048];
	changer c = { file, "a", REPLACE_FILE, 0 };
	snprintf(file, sizeof(file), "%s/a", f->src);
	th_write_file(file, "aaa", 3);
	run_changing(f, &c, 0, 1);
}

static void test_walk_reports_a_directory_replaced_by_a_symlink(void **state)
{
	th_fixture *f = *state;
	char d[2048], moved[2048];
	arca_walk *w;
	arca_walk_entry e;

	for (int report = 0; report < 2; report++) {
		snprintf(d, sizeof(d), "%s/d", f->src);
		snprintf(moved, sizeof(moved), "%s/moved%d", f->tmp, report);
		assert_int_equal(mkdir(d, 0755), 0);
		th_write_file(th_path(d, "child"), "x", 1);
		assert_int_equal(arca_walk_open(&w, f->src), 0);
		if (report)
			arca_walk_report_changes(w);
		assert_int_equal(arca_walk_next(w, &e), 1); /* root */
		assert_int_equal(arca_walk_next(w, &e), 1);
		assert_string_equal(e.path, "d");
		assert_true(S_ISDIR(e.st.st_mode));
		/* between the lstat and the descent, d becomes a symlink */
		assert_int_equal(rename(d, moved), 0);
		assert_int_equal(symlink(moved, d), 0);
		if (report) {
			assert_int_equal(arca_walk_next(w, &e), 1);
			assert_true(e.dir_changed);
			assert_string_equal(e.path, "d");
		}
		assert_int_equal(arca_walk_next(w, &e), 0); /* moved/child is not walked */
		arca_walk_free(w);
		assert_int_equal(unlink(d), 0);
	}
}

/* ---- a writer that keeps rewriting a file during the snapshot ---- */

#define LIVE (32u << 20)

typedef struct {
	const char *path;
	atomic_int stop;
	int passes;
} live_writer;

static void *writer_main(void *arg)
{
	live_writer *lw = arg;
	uint8_t *buf = malloc(1u << 20);
	int fd = open(lw->path, O_WRONLY);
	if (!buf || fd < 0)
		abort();
	/* bounded: at most 10000 full passes */
	for (int v = 1; !lw->stop && v <= 10000; v++) {
		memset(buf, v & 0xff, 1u << 20);
		for (size_t off = 0; off < LIVE && !lw->stop; off += 1u << 20)
			if (pwrite(fd, buf, 1u << 20, (off_t)off) != (ssize_t)(1u << 20))
				abort();
		lw->passes++;
	}
	close(fd);
	free(buf);
	return NULL;
}

static void test_file_rewritten_during_the_snapshot_is_never_silently_torn(void **state)
{
	th_fixture *f = *state;
	char file[2048], out[2048];
	live_writer lw;
	pthread_t t;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	warnings wn = { 0 };
	arca_id id;
	uint8_t *got;
	int fd, whole = 1;

	snprintf(file, sizeof(file), "%s/live", f->src);
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	got = calloc(1, LIVE);
	assert_non_null(got);
	th_write_file(file, got, LIVE); /* version 0: all zero */
	lw.path = file;
	lw.stop = 0;
	lw.passes = 0;
	assert_int_equal(pthread_create(&t, NULL, writer_main, &lw), 0);
	assert_int_equal(snap(&id, f->s, f->src, NULL, &wn, &st), 0);
	lw.stop = 1;
	pthread_join(t, NULL);

	restore_to(f->s, &id, out);
	fd = open(th_path(out, "live"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, LIVE), (ssize_t)LIVE);
	close(fd);
	for (size_t i = 1; i < LIVE && whole; i++)
		whole = got[i] == got[0];
	free(got);
	if (!whole) {
		assert_true(st.files_changed > 0);
		assert_true(wn.calls > 0);
		assert_true(strstr(wn.path, "/live") != NULL);
	}
	assert_int_equal((int)st.files_changed, wn.calls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_inside_the_tree_is_left_out, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_snapshot_of_the_store_itself_is_refused, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_rewritten_once_while_read_is_read_again, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_rewritten_on_every_read_is_stored_with_a_warning, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_a_file_read_again_counts_its_content_once, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_extents_of_a_reread_file_spill_to_disk, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_truncated_while_read_is_read_again, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_truncated_on_every_read_gives_a_consistent_manifest, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_image_rewritten_while_read, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_removed_before_open_is_left_out_with_a_warning, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_replaced_by_a_fifo_does_not_block, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_replaced_by_a_symlink_is_not_followed, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_replaced_by_another_file_stores_the_new_one, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_walk_reports_a_directory_replaced_by_a_symlink, th_setup, teardown_hook),
		cmocka_unit_test_setup_teardown(test_file_rewritten_during_the_snapshot_is_never_silently_torn, th_setup, teardown_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
