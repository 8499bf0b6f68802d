/* Refs and tags, removal, prune, garbage collection (also against
 * concurrent snapshots and readers in other processes). */
#include "helpers.h"
#include "store/store.h"
#include "cas/cas_impl.h" /* white-box: raw index access */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef th_fixture fixture;

static arca_id snap_content(fixture *f, const char *content, const char *name, const char *tag)
{
	th_write_file(th_path(f->src, "f"), content, strlen(content));
	return th_snapshot(f->s, f->src, name, tag, NULL);
}

static void expect_ref(arca_store *s, const char *ref, const arca_id *want)
{
	arca_id got;
	int rc = arca_resolve(&got, s, ref);
	if (rc)
		fail_msg("resolve %s: %s", ref, arca_error_last());
	assert_memory_equal(got.bytes, want->bytes, 32);
}

static void tags_move_and_delete(void **state)
{
	fixture *f = *state;
	arca_id a = snap_content(f, "a", "espocrm", NULL);
	arca_id b = snap_content(f, "b", "espocrm", NULL);
	arca_id got;
	char s[ARCA_ID_STRLEN];

	arca_id_format(s, &a);
	assert_int_equal(arca_tag_set(f->s, s, "espocrm:staging"), 0);
	expect_ref(f->s, "espocrm:staging", &a);
	expect_ref(f->s, "espocrm", &b);
	assert_int_equal(arca_tag_set(f->s, "espocrm", "espocrm:staging"), 0); /* move */
	expect_ref(f->s, "espocrm:staging", &b);
	assert_int_equal(arca_tag_delete(f->s, "espocrm:staging"), 0);
	assert_int_equal(arca_resolve(&got, f->s, "espocrm:staging"), ARCA_ENOTFOUND);
	assert_int_equal(arca_tag_delete(f->s, "espocrm:staging"), ARCA_ENOTFOUND);
	assert_int_equal(arca_tag_set(f->s, "nosuch", "x:y"), ARCA_ENOTFOUND);
	assert_int_equal(arca_tag_set(f->s, "espocrm", "no-colon"), ARCA_EINVAL);
	assert_int_equal(arca_tag_set(f->s, "espocrm", "x:bad tag"), ARCA_EINVAL);
}

static void unknown_references_list_candidates(void **state)
{
	fixture *f = *state;
	arca_id got;
	snap_content(f, "a", "web", "prod");
	assert_int_equal(arca_resolve(&got, f->s, "web:staging"), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_error_last(), "web:prod"));
	assert_int_equal(arca_resolve(&got, f->s, "db"), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_error_last(), "web:latest"));
}

static void ambiguous_prefix_lists_candidates(void **state)
{
	fixture *f = *state;
	arca_id a = snap_content(f, "a", NULL, NULL), twin, got;
	MDB_txn *txn;
	MDB_val k = { 32, a.bytes }, v;
	char s[ARCA_ID_STRLEN], t[ARCA_ID_STRLEN], pre[16];

	/* plant a second record whose id shares the first 31 bytes */
	twin = a;
	twin.bytes[31] ^= 0xff;
	assert_int_equal(mdb_txn_begin(f->s->cas->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_get(txn, f->s->dbi_artifacts, &k, &v), 0);
	MDB_val k2 = { 32, twin.bytes };
	assert_int_equal(mdb_put(txn, f->s->dbi_artifacts, &k2, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);

	arca_id_format(s, &a);
	arca_id_format(t, &twin);
	snprintf(pre, sizeof(pre), "%.10s", s + 4);
	assert_int_equal(arca_resolve(&got, f->s, pre), ARCA_EAMBIGUOUS);
	assert_non_null(strstr(arca_error_last(), "matches 2 artifacts"));
	assert_int_equal(arca_resolve(&got, f->s, s), 0); /* the full id is unique */
	assert_memory_equal(got.bytes, a.bytes, 32);
	assert_int_equal(arca_resolve(&got, f->s, t), 0);
	assert_memory_equal(got.bytes, twin.bytes, 32);
}

static void explicit_parent_and_chain(void **state)
{
	fixture *f = *state;
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_id a = snap_content(f, "a", "svc", NULL), b, c;
	arca_artifact *art;
	char s[ARCA_ID_STRLEN];

	b = snap_content(f, "b", "svc", NULL);
	th_write_file(th_path(f->src, "f"), "c", 1);
	arca_id_format(s, &a);
	o.name = "svc";
	o.parent = s;
	assert_int_equal(arca_snapshot(&c, f->s, f->src, &o, NULL), 0);
	assert_int_equal(arca_artifact_lookup(&art, f->s, &c), 0);
	assert_memory_equal(art->parent.bytes, a.bytes, 32);
	arca_artifact_free(art);
	assert_int_equal(arca_artifact_lookup(&art, f->s, &b), 0);
	assert_memory_equal(art->parent.bytes, a.bytes, 32);
	arca_artifact_free(art);
	o.parent = "nosuch:thing";
	assert_int_equal(arca_snapshot(&c, f->s, f->src, &o, NULL), ARCA_ENOTFOUND);
}

static void rm_refuses_referenced_artifacts_unless_forced(void **state)
{
	fixture *f = *state;
	arca_id a = snap_content(f, "a", "app", "v1");
	arca_id b = snap_content(f, "b", NULL, NULL);
	arca_id both[2] = { b, a }, got;

	assert_int_equal(arca_artifact_remove(f->s, both, 2, 0), ARCA_EREFERENCED);
	assert_non_null(strstr(arca_error_last(), "app:"));
	/* all or nothing: b is still there */
	char s[ARCA_ID_STRLEN];
	arca_id_format(s, &b);
	assert_int_equal(arca_resolve(&got, f->s, s), 0);
	assert_int_equal(arca_artifact_remove(f->s, both, 2, 1), 0);
	assert_int_equal(arca_resolve(&got, f->s, s), ARCA_ENOTFOUND);
	assert_int_equal(arca_resolve(&got, f->s, "app:v1"), ARCA_ENOTFOUND);
	assert_int_equal(arca_resolve(&got, f->s, "app"), ARCA_ENOTFOUND);
	assert_int_equal(arca_artifact_remove(f->s, &a, 1, 1), ARCA_ENOTFOUND);
}

static void prune_keeps_newest_and_tagged(void **state)
{
	fixture *f = *state;
	arca_id ids[5], got, *removed;
	size_t n;
	char c[2] = "0", s[ARCA_ID_STRLEN];

	for (int i = 0; i < 5; i++) {
		c[0] = (char)('0' + i);
		ids[i] = snap_content(f, c, "db", i == 1 ? "golden" : NULL);
	}
	snap_content(f, "other", "cache", NULL);
	assert_int_equal(arca_prune(f->s, "db", 2, &removed, &n), 0);
	assert_int_equal(n, 2); /* ids[0] and ids[2]; ids[1] is pinned */
	arca_ids_free(removed);
	for (int i = 0; i < 5; i++) {
		arca_id_format(s, &ids[i]);
		int want = (i == 0 || i == 2) ? ARCA_ENOTFOUND : 0;
		assert_int_equal(arca_resolve(&got, f->s, s), want);
	}
	expect_ref(f->s, "db", &ids[4]);
	expect_ref(f->s, "db:golden", &ids[1]);
	assert_int_equal(arca_resolve(&got, f->s, "cache"), 0); /* other names untouched */
}

static void gc_frees_exactly_the_unreferenced_data(void **state)
{
	fixture *f = *state;
	arca_store_stats before = ARCA_STORE_STATS_INIT, after = ARCA_STORE_STATS_INIT;
	arca_gc_result r = ARCA_GC_RESULT_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_op_stats sa = ARCA_OP_STATS_INIT, sb = ARCA_OP_STATS_INIT;
	arca_id a, b;
	char out[4096];

	th_write_random(th_path(f->src, "shared"), 3u << 20, 70);
	th_write_random(th_path(f->src, "only-a"), 2u << 20, 71);
	a = th_snapshot(f->s, f->src, "a", NULL, &sa);
	unlink(th_path(f->src, "only-a"));
	th_write_random(th_path(f->src, "only-b"), 1u << 20, 72);
	b = th_snapshot(f->s, f->src, "b", NULL, &sb);
	assert_int_equal(arca_store_stats_get(&before, f->s), 0);

	/* nothing unreferenced yet: gc changes nothing */
	assert_int_equal(arca_gc(&r, f->s, NULL), 0);
	assert_int_equal(r.chunks_removed, 0);
	assert_int_equal(r.packs_rewritten, 0);

	assert_int_equal(arca_artifact_remove(f->s, &a, 1, 1), 0);
	assert_int_equal(arca_gc(&r, f->s, NULL), 0);
	assert_int_equal(arca_store_stats_get(&after, f->s), 0);
	/* a's own chunks: only-a's data and a's manifest chunk */
	assert_int_equal(r.chunks_removed, before.chunks - after.chunks);
	assert_int_equal(after.chunks, sb.chunks + 1);
	assert_true(before.unique_bytes - after.unique_bytes >= 2u << 20);
	assert_true(before.unique_bytes - after.unique_bytes < (2u << 20) + 4096);
	assert_int_equal(r.packs_rewritten, 1); /* ~40% dead */
	assert_int_equal(r.packs_deleted, 1);
	assert_int_equal(r.packs_pending, 0);
	assert_int_equal(after.pack_bytes, r.pack_bytes_after);
	assert_true(r.pack_bytes_before - r.pack_bytes_after >= 2u << 20);

	assert_int_equal(arca_verify(&vr, f->s), 0);
	arca_verify_result_clear(&vr);
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	assert_int_equal(arca_restore(f->s, "b", out, NULL, NULL), 0);
	assert_int_equal(th_file_equal(th_path(f->src, "shared"), th_path(out, "shared")), 0);
	assert_int_equal(th_file_equal(th_path(f->src, "only-b"), th_path(out, "only-b")), 0);
	(void)b;
}

static void retired_pack_outlives_older_readers(void **state)
{
	fixture *f = *state;
	arca_gc_result r = ARCA_GC_RESULT_INIT;
	arca_id a;
	MDB_txn *reader;
	char pack1[4096];
	struct stat st;

	th_write_random(th_path(f->src, "x"), 1u << 20, 73);
	a = th_snapshot(f->s, f->src, "a", NULL, NULL);
	snprintf(pack1, sizeof(pack1), "%s/packs/pack-00000001.arcp", f->storedir);
	assert_int_equal(arca_artifact_remove(f->s, &a, 1, 1), 0);

	/* a reader whose snapshot still sees pack 1 */
	assert_int_equal(arca_cas_txn_read(f->s->cas, &reader), 0);
	assert_int_equal(arca_gc(&r, f->s, NULL), 0);
	assert_int_equal(r.packs_rewritten, 1);
	assert_int_equal(r.packs_pending, 1);
	assert_int_equal(stat(pack1, &st), 0);
	mdb_txn_abort(reader);

	assert_int_equal(arca_gc(&r, f->s, NULL), 0);
	assert_int_equal(r.packs_deleted, 1);
	assert_int_equal(r.packs_pending, 0);
	assert_int_not_equal(stat(pack1, &st), 0);
}

/* Several processes snapshot (and prune) while others collect garbage
 * and verify; afterwards every artifact verifies and restores. */
static void gc_is_safe_against_concurrent_snapshots(void **state)
{
	fixture *f = *state;
	enum { WRITERS = 2, ROUNDS = 6, GCS = 8 };
	pid_t pids[WRITERS + 2];
	int np = 0;

	for (int w = 0; w < WRITERS; w++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			arca_store *s;
			char dir[4096], name[16];
			snprintf(dir, sizeof(dir), "%s/w%d", f->tmp, w);
			snprintf(name, sizeof(name), "w%d", w);
			mkdir(dir, 0755);
			if (arca_store_open(&s, f->storedir, NULL) != 0)
				_exit(2);
			for (int i = 0; i < ROUNDS; i++) {
				arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
				arca_id id, *rm;
				size_t n;
				char p[8192];
				snprintf(p, sizeof(p), "%s/data", dir);
				/* half the content is shared with the last round */
				th_write_random(p, 2u << 20, 1000 + (uint64_t)(w * 100 + i));
				snprintf(p, sizeof(p), "%s/stable", dir);
				th_write_random(p, 1u << 20, 2000 + (uint64_t)(w * 100 + i / 2));
				o.name = name;
				if (arca_snapshot(&id, s, dir, &o, NULL) != 0)
					_exit(3);
				if (arca_prune(s, name, 1, &rm, &n) != 0)
					_exit(4);
				arca_ids_free(rm);
			}
			arca_store_free(s);
			_exit(0);
		}
		pids[np++] = pid;
	}
	for (int role = 0; role < 2; role++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			arca_store *s;
			if (arca_store_open(&s, f->storedir, NULL) != 0)
				_exit(2);
			for (int i = 0; i < GCS; i++) {
				if (role == 0) {
					arca_gc_result r = ARCA_GC_RESULT_INIT;
					if (arca_gc(&r, s, NULL) != 0)
						_exit(5);
				} else {
					arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
					int rc = arca_verify(&vr, s);
					arca_verify_result_clear(&vr);
					if (rc != 0)
						_exit(6);
				}
			}
			arca_store_free(s);
			_exit(0);
		}
		pids[np++] = pid;
	}
	for (int i = 0; i < np; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("child %d exited with %d", i, WEXITSTATUS(status));
	}

	arca_gc_result r = ARCA_GC_RESULT_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	assert_int_equal(arca_gc(&r, f->s, NULL), 0);
	assert_int_equal(arca_verify(&vr, f->s), 0);
	assert_int_equal(vr.artifacts_checked, WRITERS);
	arca_verify_result_clear(&vr);
	for (int w = 0; w < WRITERS; w++) {
		char name[16], out[4096], src[4096];
		snprintf(name, sizeof(name), "w%d", w);
		snprintf(out, sizeof(out), "%s/out%d", f->tmp, w);
		snprintf(src, sizeof(src), "%s/w%d", f->tmp, w);
		assert_int_equal(arca_restore(f->s, name, out, NULL, NULL), 0);
		assert_int_equal(th_file_equal(th_path(src, "data"), th_path(out, "data")), 0);
		assert_int_equal(th_file_equal(th_path(src, "stable"), th_path(out, "stable")), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tags_move_and_delete, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(unknown_references_list_candidates, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(ambiguous_prefix_lists_candidates, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(explicit_parent_and_chain, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(rm_refuses_referenced_artifacts_unless_forced, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(prune_keeps_newest_and_tagged, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(gc_frees_exactly_the_unreferenced_data, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(retired_pack_outlives_older_readers, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(gc_is_safe_against_concurrent_snapshots, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
