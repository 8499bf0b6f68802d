/* Names, per-name history, prune of shared (deduplicated) content, parent
 * cycles. Identical content has one id and one record, which keeps the
 * name and time of the first snapshot that stored it. */
#include "helpers.h"
#include "store/store.h"
#include "store/artifact.h"
#include "store/record.h"
#include "cas/cas_impl.h" /* white-box: raw index access */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

typedef th_fixture fixture;

/* A directory tmp/<dir> holding one file; snapshots of it always have the
 * same id as long as it is not touched again. */
static const char *content_dir(fixture *f, const char *dir, const char *content)
{
	static char path[8][1024];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, 1024, "%s/%s", f->tmp, dir);
	mkdir(p, 0755);
	th_write_file(th_path(p, "f"), content, strlen(content));
	return p;
}

static arca_id snap(fixture *f, const char *dir, const char *name)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", f->tmp, dir);
	return th_snapshot(f->s, p, name, NULL, NULL);
}

static int exists(fixture *f, const arca_id *id)
{
	arca_artifact *a = NULL;
	int rc = arca_artifact_lookup(&a, f->s, id);
	arca_artifact_free(a);
	if (rc && rc != ARCA_ENOTFOUND)
		fail_msg("lookup: %s", arca_error_last());
	return rc == 0;
}

static void expect_ref(arca_store *s, const char *ref, const arca_id *want)
{
	arca_id got;
	if (arca_resolve(&got, s, ref))
		fail_msg("resolve %s: %s", ref, arca_error_last());
	assert_memory_equal(got.bytes, want->bytes, 32);
}

static size_t prune(fixture *f, const char *name, unsigned keep)
{
	arca_id *removed;
	size_t n;
	if (arca_prune(f->s, name, keep, &removed, &n))
		fail_msg("prune: %s", arca_error_last());
	arca_ids_free(removed);
	return n;
}

/* History entries of `id` (name NULL: of any name). */
static size_t history_count(fixture *f, const char *name, const arca_id *id)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	assert_int_equal(mdb_txn_begin(f->s->cas->env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_cursor_open(txn, f->s->dbi_history, &cur), 0);
	for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		assert_int_equal(v.mv_size, 40);
		if (memcmp(v.mv_data, id->bytes, 32))
			continue;
		if (name && (k.mv_size != strlen(name) + 9 || memcmp(k.mv_data, name, strlen(name) + 1)))
			continue;
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return n;
}

static void history_clear(fixture *f)
{
	MDB_txn *txn;
	assert_int_equal(mdb_txn_begin(f->s->cas->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_drop(txn, f->s->dbi_history, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void set_parent(fixture *f, const arca_id *id, const arca_id *parent)
{
	arca_artifact_rec rec;
	arca_buf b = ARCA_BUF_INIT(ARCA_RECORD_MAX);
	MDB_txn *txn;
	MDB_val k = { 32, (void *)id->bytes }, v;
	assert_int_equal(mdb_txn_begin(f->s->cas->env, NULL, 0, &txn), 0);
	assert_int_equal(arca_artifact_rec_get(&rec, f->s, txn, id), 0);
	rec.a.has_parent = 1;
	rec.a.parent = *parent;
	assert_int_equal(arca_artifact_rec_encode(&b, &rec), 0);
	v.mv_size = b.len;
	v.mv_data = b.ptr;
	assert_int_equal(mdb_put(txn, f->s->dbi_artifacts, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	arca_buf_release(&b);
	arca_artifact_rec_clear(&rec);
}

/* ---- history ---- */

static void every_named_snapshot_appends_history_also_when_deduplicated(void **state)
{
	fixture *f = *state;
	content_dir(f, "A", "a");
	arca_id a = snap(f, "A", "app");
	arca_id a2 = snap(f, "A", "app");
	arca_id a3 = snap(f, "A", "other");
	th_snapshot(f->s, th_path(f->tmp, "A"), NULL, NULL, NULL); /* unnamed: none */
	assert_memory_equal(a.bytes, a2.bytes, 32);
	assert_memory_equal(a.bytes, a3.bytes, 32);
	assert_int_equal(history_count(f, "app", &a), 2);
	assert_int_equal(history_count(f, "other", &a), 1);
	assert_int_equal(history_count(f, NULL, &a), 3);
}

static void rm_deletes_the_history_of_what_it_removes(void **state)
{
	fixture *f = *state;
	content_dir(f, "A", "a");
	content_dir(f, "B", "b");
	arca_id a = snap(f, "A", "app");
	arca_id b = snap(f, "B", "app");
	snap(f, "A", "other");
	assert_int_equal(arca_artifact_remove(f->s, &a, 1, 1), 0);
	assert_int_equal(history_count(f, NULL, &a), 0);
	assert_int_equal(history_count(f, "app", &b), 1);
}

/* ---- prune ---- */

static void prune_keeps_what_latest_points_to_when_content_returns(void **state)
{
	fixture *f = *state;
	content_dir(f, "A", "first");
	content_dir(f, "B", "second");
	arca_id a = snap(f, "A", "app");
	arca_id b = snap(f, "B", "app");
	arca_id again = snap(f, "A", "app"); /* back to the first content */
	assert_memory_equal(again.bytes, a.bytes, 32);
	assert_int_equal(prune(f, "app", 1), 1);
	assert_true(exists(f, &a));
	assert_false(exists(f, &b));
	expect_ref(f->s, "app", &a);
	assert_int_equal(history_count(f, NULL, &b), 0); /* dropped with it */
	assert_int_equal(prune(f, NULL, 1), 0);
	assert_true(exists(f, &a));
}

static void prune_never_removes_what_a_ref_points_to(void **state)
{
	fixture *f = *state;
	content_dir(f, "A", "a");
	content_dir(f, "B", "b");
	arca_id a = snap(f, "A", "app");
	arca_id b = snap(f, "B", "app");
	assert_int_equal(prune(f, "app", 0), 1); /* app:latest pins b */
	assert_false(exists(f, &a));
	assert_true(exists(f, &b));
	expect_ref(f->s, "app", &b);
	assert_int_equal(prune(f, NULL, 0), 0);
	expect_ref(f->s, "app", &b);
}

static void prune_by_name_spares_content_another_name_uses(void **state)
{
	fixture *f = *state;
	content_dir(f, "X", "shared");
	content_dir(f, "Y", "a only");
	content_dir(f, "Z", "b only");
	arca_id x = snap(f, "X", "a");   /* the record says a */
	snap(f, "X", "b");               /* b:latest -> x */
	arca_id y = snap(f, "Y", "a");
	assert_int_equal(prune(f, "a", 1), 0);
	assert_true(exists(f, &x));
	expect_ref(f->s, "b", &x);
	/* no ref to x any more, but it is still in b's history */
	arca_id z = snap(f, "Z", "b");
	assert_int_equal(prune(f, "a", 1), 0);
	assert_true(exists(f, &x));
	assert_true(exists(f, &y));
	assert_true(exists(f, &z));
	/* once b lets it go too, it goes */
	assert_int_equal(prune(f, NULL, 1), 1);
	assert_false(exists(f, &x));
}

static void prune_without_name_keeps_the_window_of_every_name(void **state)
{
	fixture *f = *state;
	content_dir(f, "X", "shared");
	content_dir(f, "Y", "y");
	content_dir(f, "Y2", "y2");
	content_dir(f, "W", "w");
	arca_id x = snap(f, "X", "a");
	arca_id y = snap(f, "Y", "a");
	snap(f, "Y2", "a");
	snap(f, "X", "b");
	snap(f, "W", "b");
	/* a: Y2 Y | X ; b: W X -> x is within b's window */
	assert_int_equal(prune(f, NULL, 2), 0);
	assert_true(exists(f, &x));
	assert_int_equal(prune(f, NULL, 1), 2);
	assert_false(exists(f, &x));
	assert_false(exists(f, &y));
}

static void prune_ranks_artifacts_older_than_the_history_after_it(void **state)
{
	fixture *f = *state;
	arca_id old[3], d;
	char dir[8];
	for (int i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "O%d", i);
		content_dir(f, dir, dir);
		old[i] = snap(f, dir, "app");
	}
	history_clear(f); /* as a store made before the history */
	content_dir(f, "D", "d");
	d = snap(f, "D", "app");
	assert_int_equal(prune(f, "app", 2), 2); /* keeps d and the newest old one */
	assert_true(exists(f, &d));
	assert_true(exists(f, &old[2]));
	assert_false(exists(f, &old[1]));
	assert_false(exists(f, &old[0]));
}

/* ---- names ---- */

static const char *const bad_names[] = {
	"/abs", "a/../b", "a//b", "a/", "a/./b", ".", "..", "a/.", "a/..", "/", "a/-b",
	"../a", "a/b/", "",
};

static void names_with_bad_slash_parts_are_refused_everywhere(void **state)
{
	fixture *f = *state;
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_id id, *removed;
	size_t n;
	char ref[64];

	content_dir(f, "A", "a");
	id = snap(f, "A", "team/app.v2");
	expect_ref(f->s, "team/app.v2", &id);
	assert_int_equal(arca_tag_set(f->s, "team/app.v2", "a/b/c:prod"), 0);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		const char *name = bad_names[i];
		o.name = name;
		assert_int_equal(arca_snapshot(&id, f->s, th_path(f->tmp, "A"), &o, NULL),
			ARCA_EINVAL);
		snprintf(ref, sizeof(ref), "%s:t", name);
		assert_int_equal(arca_tag_set(f->s, "team/app.v2", ref), ARCA_EINVAL);
		assert_int_equal(arca_tag_delete(f->s, ref), ARCA_EINVAL);
		if (*name)
			assert_int_equal(arca_prune(f->s, name, 1, &removed, &n), ARCA_EINVAL);
		assert_int_equal(arca_resolve(&id, f->s, ref), ARCA_EINVAL);
		if (*name)
			assert_int_equal(arca_resolve(&id, f->s, name), ARCA_EINVAL);
	}
	assert_int_equal(arca_tag_set(f->s, "team/app.v2", "ok:a/b"), ARCA_EINVAL);
}

static void a_ref_stored_before_the_rules_can_still_be_deleted(void **state)
{
	fixture *f = *state;
	MDB_txn *txn;
	content_dir(f, "A", "a");
	arca_id id = snap(f, "A", "app");
	MDB_val k = { 11, (void *)"a//b:latest" }, v = { 32, id.bytes };
	assert_int_equal(mdb_txn_begin(f->s->cas->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, f->s->dbi_refs, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(arca_tag_delete(f->s, "a//b:latest"), 0);
	assert_int_equal(arca_tag_delete(f->s, "a//b:latest"), ARCA_EINVAL);
}

/* ---- parents ---- */

static void a_parent_that_would_make_a_cycle_is_refused(void **state)
{
	fixture *f = *state;
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_artifact *art;
	arca_id a, b, again;
	char bs[ARCA_ID_STRLEN];

	content_dir(f, "A", "a");
	content_dir(f, "B", "b");
	a = snap(f, "A", "app");
	b = snap(f, "B", "app"); /* parent a */
	assert_int_equal(arca_artifact_remove(f->s, &a, 1, 1), 0);
	arca_id_format(bs, &b);
	o.parent = bs;
	assert_int_equal(arca_snapshot(&again, f->s, th_path(f->tmp, "A"), &o, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "cycle"));
	assert_false(exists(f, &a));
	/* the implicit parent (app:latest = b) is left out instead */
	o.parent = NULL;
	o.name = "app";
	assert_int_equal(arca_snapshot(&again, f->s, th_path(f->tmp, "A"), &o, NULL), 0);
	assert_memory_equal(again.bytes, a.bytes, 32);
	assert_int_equal(arca_artifact_lookup(&art, f->s, &a), 0);
	assert_false(art->has_parent);
	arca_artifact_free(art);
}

static void a_parent_whose_ancestors_loop_is_refused(void **state)
{
	fixture *f = *state;
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_id a, b, c;
	char bs[ARCA_ID_STRLEN];

	content_dir(f, "A", "a");
	content_dir(f, "B", "b");
	content_dir(f, "C", "c");
	a = snap(f, "A", "app");
	b = snap(f, "B", "app");
	set_parent(f, &a, &b); /* damaged: a <-> b */
	arca_id_format(bs, &b);
	o.parent = bs;
	assert_int_equal(arca_snapshot(&c, f->s, th_path(f->tmp, "C"), &o, NULL), ARCA_ECORRUPT);
}

#ifdef ARCA_TEST_BIN
static void log_of_a_parent_cycle_stops_with_an_error(void **state)
{
	fixture *f = *state;
	char cmd[4096], line[256];
	FILE *p;
	size_t lines = 0;
	int status;

	content_dir(f, "A", "a");
	content_dir(f, "B", "b");
	arca_id a = snap(f, "A", "app");
	arca_id b = snap(f, "B", "app");
	set_parent(f, &a, &b); /* damaged: a <-> b */
	snprintf(cmd, sizeof(cmd), "'%s' --store '%s' log app 2>&1", ARCA_TEST_BIN, f->storedir);
	assert_non_null(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p) && lines < 1000000)
		lines++;
	status = pclose(p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 4);
	assert_true(lines <= 4);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_named_snapshot_appends_history_also_when_deduplicated, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(rm_deletes_the_history_of_what_it_removes, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(prune_keeps_what_latest_points_to_when_content_returns, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(prune_never_removes_what_a_ref_points_to, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(prune_by_name_spares_content_another_name_uses, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(prune_without_name_keeps_the_window_of_every_name, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(prune_ranks_artifacts_older_than_the_history_after_it, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(names_with_bad_slash_parts_are_refused_everywhere, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_ref_stored_before_the_rules_can_still_be_deleted, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_parent_that_would_make_a_cycle_is_refused, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_parent_whose_ancestors_loop_is_refused, th_setup, th_teardown),
#ifdef ARCA_TEST_BIN
		cmocka_unit_test_setup_teardown(log_of_a_parent_cycle_stops_with_an_error, th_setup, th_teardown),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
