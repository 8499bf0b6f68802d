/* The index is rebuilt from the packs: lost, empty or truncated indexes are
 * refused (never taken for an empty store), damaged packs are repaired,
 * lost chunks are named and can be stored again. */
#include "helpers.h"
#include "store/store.h"
#include "cas/cas_impl.h" /* white-box: raw index access */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void reopen(th_fixture *f)
{
	arca_store_free(f->s);
	f->s = th_store_open(f->storedir);
}

static const char *index_path(th_fixture *f)
{
	return th_path(f->storedir, "index.lmdb");
}

static const char *pack_path(th_fixture *f, unsigned no)
{
	static char p[4096];
	snprintf(p, sizeof(p), "%s/packs/pack-%08u.arcp", f->storedir, no);
	return p;
}

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static void repair_ok(th_fixture *f, arca_repair_result *rr)
{
	arca_store_free(f->s);
	f->s = NULL;
	if (arca_repair(rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	f->s = th_store_open(f->storedir);
}

static void verify_ok(th_fixture *f)
{
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	if (arca_verify(&vr, f->s) != 0)
		fail_msg("verify: %s", arca_error_last());
	arca_verify_result_clear(&vr);
}

/* Two versions of src, kept as copies for comparison: v1 and v2. */
static void two_versions(th_fixture *f)
{
	char cmd[8192];
	th_write_random(th_path(f->src, "a"), 3u << 20, 1);
	th_write_file(th_path(f->src, "b"), "one\n", 4);
	th_snapshot(f->s, f->src, "app", NULL, NULL);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s/v1'", f->src, f->tmp);
	assert_int_equal(system(cmd), 0);
	th_write_file(th_path(f->src, "b"), "two\n", 4);
	th_snapshot(f->s, f->src, "app", "v2", NULL);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s/v2'", f->src, f->tmp);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(arca_tag_set(f->s, "app:v2", "keep:it"), 0);
}

static void a_lost_index_is_refused_and_repair_brings_everything_back(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_id first;
	off_t pack;
	int nrefs = 0;

	two_versions(f);
	assert_int_equal(arca_resolve(&first, f->s, "app"), 0);
	pack = th_file_size(pack_path(f, 1));
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(unlink(index_path(f)), 0);

	/* a writer must not take the packs for uncommitted ones */
	{
		arca_store *s = NULL;
		int rc = arca_store_open(&s, f->storedir, NULL);
		assert_int_equal(rc, ARCA_ECORRUPT);
		assert_non_null(strstr(arca_error_last(), "arca repair"));
		assert_null(s);
	}
	assert_int_equal(th_open_rc(f->storedir), ARCA_ECORRUPT);
	assert_int_equal(th_file_size(pack_path(f, 1)), pack);

	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	assert_int_equal(rr.artifacts, 2);
	assert_int_equal(rr.refs, 3);
	assert_int_equal(rr.ndamaged, 0);
	assert_int_equal(rr.chunks_missing, 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	verify_ok(f);
	assert_int_equal(arca_ref_foreach(f->s, th_count_refs, &nrefs), 0);
	assert_int_equal(nrefs, 3);
	th_restore_equals(f->s, f->tmp, "app:v2", th_path(f->tmp, "v2"));
	th_restore_equals(f->s, f->tmp, "keep:it", th_path(f->tmp, "v2"));
	{
		arca_id latest;
		assert_int_equal(arca_resolve(&latest, f->s, "app"), 0);
		assert_memory_equal(latest.bytes, first.bytes, 32);
	}
	/* the rebuilt store takes new snapshots and collects garbage */
	th_write_file(th_path(f->src, "c"), "three\n", 6);
	th_snapshot(f->s, f->src, "app", NULL, NULL);
	{
		arca_gc_result gr = ARCA_GC_RESULT_INIT;
		assert_int_equal(arca_gc(&gr, f->s, NULL), 0);
	}
	verify_ok(f);
}

static void an_empty_index_is_refused(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;

	two_versions(f);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(truncate(index_path(f), 0), 0);
	assert_int_equal(th_open_rc(f->storedir), ARCA_ECORRUPT);
	/* and it stays refused: opening did not make it look valid */
	assert_int_equal(th_open_rc(f->storedir), ARCA_ECORRUPT);
	assert_true(th_file_size(pack_path(f, 1)) > (3 << 20));
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	assert_int_equal(rr.artifacts, 2);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	th_restore_equals(f->s, f->tmp, "app:v2", th_path(f->tmp, "v2"));
}

static void a_truncated_index_is_refused_without_a_crash(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	pid_t pid;
	int status;

	two_versions(f);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(truncate(index_path(f), th_file_size(index_path(f)) / 2), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(th_open_rc(f->storedir) == ARCA_ECORRUPT ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status)); /* no SIGBUS */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	assert_int_equal(rr.artifacts, 2);
	assert_true(rr.used_old_index == 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	verify_ok(f);
}

static void after_a_pack_is_truncated_repair_lets_writers_go_on(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_gc_result gr = ARCA_GC_RESULT_INIT;
	arca_id id;

	two_versions(f);
	assert_int_equal(truncate(pack_path(f, 1), 1 << 20), 0);
	th_write_file(th_path(f->src, "d"), "new\n", 4);
	assert_int_equal(arca_snapshot(&id, f->s, f->src, NULL, NULL), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "repair"));
	repair_ok(f, &rr);
	assert_int_equal(rr.ndamaged, 2);
	assert_true(rr.chunks_missing > 0);
	assert_true(rr.bytes_truncated > 0);
	assert_int_equal(arca_artifact_remove(f->s, rr.damaged, rr.ndamaged, 1), 0);
	arca_repair_result_clear(&rr);
	th_snapshot(f->s, f->src, "app", NULL, NULL);
	assert_int_equal(arca_gc(&gr, f->s, NULL), 0);
	verify_ok(f);
	th_restore_equals(f->s, f->tmp, "app", f->src);
}

static void after_a_pack_is_deleted_repair_names_the_loss(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_gc_result gr = ARCA_GC_RESULT_INIT;

	arca_cas_set_pack_target(f->s->cas, 1 << 20); /* several packs */
	two_versions(f);
	assert_true(th_file_size(pack_path(f, 3)) > 0);
	assert_int_equal(unlink(pack_path(f, 2)), 0);
	assert_int_equal(arca_verify(&vr, f->s), ARCA_ECORRUPT);
	assert_int_equal(vr.ndamaged, 2);
	arca_verify_result_clear(&vr);
	repair_ok(f, &rr);
	assert_int_equal(rr.ndamaged, 2);
	assert_int_equal(arca_artifact_remove(f->s, rr.damaged, rr.ndamaged, 1), 0);
	arca_repair_result_clear(&rr);
	verify_ok(f);
	assert_int_equal(arca_gc(&gr, f->s, NULL), 0);
	th_snapshot(f->s, f->src, "app", NULL, NULL);
	verify_ok(f);
	th_restore_equals(f->s, f->tmp, "app", f->src);
}

static void bit_rot_is_healed_by_snapshotting_the_same_data_again(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_op_stats st = ARCA_OP_STATS_INIT;

	two_versions(f);
	flip_byte(pack_path(f, 1), 1 << 20);
	assert_int_equal(arca_verify(&vr, f->s), ARCA_ECORRUPT);
	arca_verify_result_clear(&vr);
	repair_ok(f, &rr);
	assert_int_equal(rr.records_damaged, 1);
	assert_int_equal(rr.ndamaged, 2);
	arca_repair_result_clear(&rr);
	/* the damaged chunk does not count as present: it is stored again */
	th_snapshot(f->s, f->src, "app", NULL, &st);
	assert_true(st.chunks_new >= 1);
	verify_ok(f);
	th_restore_equals(f->s, f->tmp, "app:v2", th_path(f->tmp, "v2"));
	th_restore_equals(f->s, f->tmp, "keep:it", th_path(f->tmp, "v2"));
}

static void gc_with_a_damaged_chunk_collects_the_rest(void **state)
{
	th_fixture *f = *state;
	arca_gc_result gr = ARCA_GC_RESULT_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_id gone;

	th_write_random(th_path(f->src, "a"), 2u << 20, 5);
	th_snapshot(f->s, f->src, "keep", NULL, NULL);
	th_write_random(th_path(f->src, "a"), 2u << 20, 6);
	gone = th_snapshot(f->s, f->src, "drop", NULL, NULL);
	assert_int_equal(arca_artifact_remove(f->s, &gone, 1, 1), 0);
	flip_byte(pack_path(f, 1), 1 << 20);
	assert_int_equal(arca_gc(&gr, f->s, NULL), 0);
	assert_true(gr.chunks_removed > 0);
	assert_int_equal(gr.chunks_damaged, 1);
	assert_int_equal(arca_verify(&vr, f->s), ARCA_ECORRUPT);
	assert_int_equal(vr.ndamaged, 1);
	arca_verify_result_clear(&vr);
}

static void a_flipped_pack_header_is_found_and_fixed(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;

	two_versions(f);
	flip_byte(pack_path(f, 1), 13); /* the pack number */
	assert_int_equal(arca_verify(&vr, f->s), ARCA_ECORRUPT);
	assert_int_equal(vr.packs_damaged, 1);
	arca_verify_result_clear(&vr);
	repair_ok(f, &rr);
	assert_int_equal(rr.headers_fixed, 1);
	assert_int_equal(rr.ndamaged, 0);
	arca_repair_result_clear(&rr);
	verify_ok(f);
}

static void repair_after_gc_replays_from_the_checkpoint(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_gc_result gr = ARCA_GC_RESULT_INIT;
	arca_id first;
	int nrefs = 0;

	two_versions(f);
	assert_int_equal(arca_resolve(&first, f->s, "app"), 0);
	assert_int_equal(arca_tag_delete(f->s, "keep:it"), 0);
	assert_int_equal(arca_tag_delete(f->s, "app:v2"), 0);
	{
		arca_id v2;
		assert_int_equal(arca_resolve(&v2, f->s, "app"), 0);
	}
	/* remove the first version; gc retires the pack holding the journal */
	{
		arca_id ids[1];
		arca_op_stats st = ARCA_OP_STATS_INIT;
		th_write_file(th_path(f->src, "b"), "one\n", 4);
		ids[0] = th_snapshot(f->s, f->src, "old", NULL, &st);
		assert_int_equal(arca_artifact_remove(f->s, ids, 1, 1), 0);
	}
	{
		arca_gc_options go = ARCA_GC_OPTIONS_INIT;
		go.repack_threshold = 1.0;
		assert_int_equal(arca_gc(&gr, f->s, &go), 0);
	}
	assert_true(gr.packs_rewritten >= 1);
	th_write_file(th_path(f->src, "e"), "after\n", 6);
	th_snapshot(f->s, f->src, "app", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(unlink(index_path(f)), 0);
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	assert_int_equal(rr.artifacts, 3); /* v1, v2 and the last; not "old" */
	assert_int_equal(rr.refs, 1);
	assert_int_equal(rr.ndamaged, 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	assert_int_equal(arca_ref_foreach(f->s, th_count_refs, &nrefs), 0);
	assert_int_equal(nrefs, 1);
	verify_ok(f);
	th_restore_equals(f->s, f->tmp, "app", f->src);
}

/* The records of a writer whose COMMIT record never reached the pack are
 * not replayed, even when they are otherwise complete. */
static void an_unfinished_writer_is_not_replayed(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_id a, b, got;
	off_t size;

	th_write_random(th_path(f->src, "a"), 1u << 20, 9);
	a = th_snapshot(f->s, f->src, "app", NULL, NULL);
	th_write_file(th_path(f->src, "b"), "more\n", 5);
	b = th_snapshot(f->s, f->src, "app", NULL, NULL);
	assert_memory_not_equal(a.bytes, b.bytes, 32);
	arca_store_free(f->s);
	f->s = NULL;
	/* cut the last record: the second snapshot's COMMIT (64 + 16 bytes) */
	size = th_file_size(pack_path(f, 1));
	assert_int_equal(truncate(pack_path(f, 1), size - 80), 0);
	assert_int_equal(unlink(index_path(f)), 0);
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	assert_int_equal(rr.artifacts, 1);
	assert_int_equal(rr.ndamaged, 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	assert_int_equal(arca_resolve(&got, f->s, "app"), 0);
	assert_memory_equal(got.bytes, a.bytes, 32);
	verify_ok(f);
	/* a new snapshot of the same content stores it in full again */
	assert_memory_equal(th_snapshot(f->s, f->src, "app", NULL, NULL).bytes, b.bytes, 32);
	verify_ok(f);
}

static void a_store_from_before_the_journal_gets_one(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_cas_writer *w;
	MDB_val k = { strlen(ARCA_META_JOURNAL_ON), (void *)ARCA_META_JOURNAL_ON };

	two_versions(f);
	/* as an old store: no journal flag */
	assert_int_equal(arca_cas_writer_begin(&w, f->s->cas), 0);
	assert_int_equal(mdb_del(arca_cas_writer_txn(w), f->s->cas->dbi_meta, &k, NULL), 0);
	assert_int_equal(arca_cas_writer_commit(w), 0);
	/* the next writer journals the whole state */
	assert_int_equal(arca_tag_set(f->s, "app", "x:y"), 0);
	reopen(f);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(unlink(index_path(f)), 0);
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	assert_int_equal(rr.artifacts, 2);
	assert_int_equal(rr.refs, 4);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	verify_ok(f);
}

static void repair_of_a_healthy_store_changes_nothing(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_store_stats a = ARCA_STORE_STATS_INIT, b = ARCA_STORE_STATS_INIT;

	two_versions(f);
	assert_int_equal(arca_store_stats_get(&a, f->s), 0);
	repair_ok(f, &rr);
	assert_int_equal(rr.ndamaged, 0);
	assert_int_equal(rr.records_damaged, 0);
	assert_int_equal(rr.bytes_skipped, 0);
	assert_int_equal(rr.bytes_truncated, 0);
	assert_true(rr.used_old_index);
	arca_repair_result_clear(&rr);
	assert_int_equal(arca_store_stats_get(&b, f->s), 0);
	assert_int_equal(a.chunks, b.chunks);
	assert_int_equal(a.unique_bytes, b.unique_bytes);
	assert_int_equal(a.stored_bytes, b.stored_bytes);
	assert_true(b.pack_bytes - a.pack_bytes < 4096); /* the checkpoint it journals */
	assert_int_equal(a.artifacts, b.artifacts);
	verify_ok(f);
	th_restore_equals(f->s, f->tmp, "app", th_path(f->tmp, "v2"));
}

/* Repair needs the store alone: a live writer elsewhere makes it refuse;
 * a handle opened before a repair refuses to write into the old index. */
static void repair_refuses_while_a_writer_runs(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	int up[2], down[2], status;
	char c;
	pid_t pid;

	two_versions(f);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_cas_writer *w;
		close(up[0]);
		close(down[1]);
		if (arca_store_open(&s, f->storedir, NULL) != 0 ||
		    arca_cas_writer_begin(&w, s->cas) != 0)
			_exit(1);
		if (write(up[1], "w", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		arca_cas_writer_abort(w);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	assert_int_equal(read(up[0], &c, 1), 1);
	assert_int_equal(arca_repair(&rr, f->storedir), ARCA_ELOCKED);
	assert_non_null(strstr(arca_error_last(), "to itself"));
	assert_int_equal(write(down[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	arca_repair_result_clear(&rr);
	close(up[0]);
	close(down[1]);
	f->s = th_store_open(f->storedir);
	verify_ok(f);
}

static void a_handle_from_before_a_repair_does_not_write_into_the_old_index(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	int up[2], down[2], status;
	char c;
	pid_t pid;

	two_versions(f);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		int rc;
		close(up[0]);
		close(down[1]);
		if (arca_store_open(&s, f->storedir, NULL) != 0) {
			fprintf(stderr, "child: %s\n", arca_error_last());
			_exit(1);
		}
		if (write(up[1], "o", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		/* the repair ran meanwhile */
		rc = arca_tag_set(s, "app", "late:tag");
		_exit(rc == ARCA_ECORRUPT && strstr(arca_error_last(), "open the store again") ? 0 : 2);
	}
	close(up[1]);
	close(down[0]);
	assert_int_equal(read(up[0], &c, 1), 1);
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	arca_repair_result_clear(&rr);
	assert_int_equal(write(down[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(up[0]);
	close(down[1]);
	f->s = th_store_open(f->storedir);
	{
		arca_id id;
		assert_int_equal(arca_resolve(&id, f->s, "late:tag"), ARCA_ENOTFOUND);
	}
	verify_ok(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_lost_index_is_refused_and_repair_brings_everything_back, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(an_empty_index_is_refused, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_truncated_index_is_refused_without_a_crash, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(after_a_pack_is_truncated_repair_lets_writers_go_on, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(after_a_pack_is_deleted_repair_names_the_loss, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(bit_rot_is_healed_by_snapshotting_the_same_data_again, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(gc_with_a_damaged_chunk_collects_the_rest, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_flipped_pack_header_is_found_and_fixed, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(repair_after_gc_replays_from_the_checkpoint, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(an_unfinished_writer_is_not_replayed, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_store_from_before_the_journal_gets_one, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(repair_of_a_healthy_store_changes_nothing, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(repair_refuses_while_a_writer_runs, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_handle_from_before_a_repair_does_not_write_into_the_old_index, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
