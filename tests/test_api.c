/* The public API's evolution contract: options initialisers, the one
 * version check every function taking options or a result applies, memory
 * the library returns released by its own functions, and the library's
 * version. */
#include "helpers.h"
#include "arca/hub.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef th_fixture fixture;

/* Poison so that a field the initialiser forgets shows up. */
#define POISON(x) memset(&(x), 0xa5, sizeof(x))

static void test_store_options_init_fills_the_defaults(void **state)
{
	arca_store_options want = ARCA_STORE_OPTIONS_INIT, o;
	(void)state;
	POISON(o);
	assert_int_equal(arca_store_options_init(&o, ARCA_STORE_OPTIONS_VERSION), 0);
	assert_int_equal(o.version, ARCA_STORE_OPTIONS_VERSION);
	assert_int_equal(o.chunk_min, want.chunk_min);
	assert_int_equal(o.chunk_avg, want.chunk_avg);
	assert_int_equal(o.chunk_max, want.chunk_max);
	assert_int_equal(o.zstd_level, want.zstd_level);
	assert_int_equal(o.threads, want.threads);
	assert_int_equal(o.no_create, 0);
	assert_int_equal(o.lock_timeout_ms, -1);
	assert_null(o.on_wait);
	assert_null(o.wait_payload);
}

static void test_snapshot_options_init_fills_the_defaults(void **state)
{
	arca_snapshot_options o;
	(void)state;
	POISON(o);
	assert_int_equal(arca_snapshot_options_init(&o, ARCA_SNAPSHOT_OPTIONS_VERSION), 0);
	assert_int_equal(o.version, ARCA_SNAPSHOT_OPTIONS_VERSION);
	assert_null(o.name);
	assert_null(o.tag);
	assert_null(o.labels);
	assert_int_equal(o.nlabels, 0);
	assert_int_equal(o.kind, ARCA_KIND_AUTO);
	assert_null(o.parent);
	assert_null(o.on_warning);
	assert_null(o.warning_payload);
}

static void test_restore_rollback_gc_options_init_fill_the_defaults(void **state)
{
	arca_restore_options r;
	arca_rollback_options b;
	arca_gc_options g;
	(void)state;
	POISON(r);
	POISON(b);
	POISON(g);
	assert_int_equal(arca_restore_options_init(&r, ARCA_RESTORE_OPTIONS_VERSION), 0);
	assert_int_equal(r.version, ARCA_RESTORE_OPTIONS_VERSION);
	assert_int_equal(r.force, 0);
	assert_int_equal(arca_rollback_options_init(&b, ARCA_ROLLBACK_OPTIONS_VERSION), 0);
	assert_int_equal(b.version, ARCA_ROLLBACK_OPTIONS_VERSION);
	assert_int_equal(b.checksum, 0);
	assert_int_equal(b.keep_allocation, 0);
	{
		/* a version-2 caller's struct ends before keep_allocation */
		unsigned char raw[sizeof(arca_rollback_options) + 8];
		memset(raw, 0xA5, sizeof(raw));
		assert_int_equal(arca_rollback_options_init((arca_rollback_options *)raw, 2), 0);
		for (size_t i = offsetof(arca_rollback_options, keep_allocation); i < sizeof(raw); i++)
			assert_int_equal(raw[i], 0xA5);
	}
	assert_int_equal(arca_gc_options_init(&g, ARCA_GC_OPTIONS_VERSION), 0);
	assert_int_equal(g.version, ARCA_GC_OPTIONS_VERSION);
	assert_true(g.repack_threshold == 0);
}

static void test_hub_options_init_fill_the_defaults(void **state)
{
	arca_hub_remote r;
	arca_hub_push_options p;
	(void)state;
	POISON(r);
	POISON(p);
	assert_int_equal(arca_hub_remote_init(&r, ARCA_HUB_REMOTE_VERSION), 0);
	assert_int_equal(r.version, ARCA_HUB_REMOTE_VERSION);
	assert_null(r.url);
	assert_null(r.user);
	assert_null(r.token);
	assert_null(r.progress);
	assert_null(r.payload);
	assert_int_equal(arca_hub_push_options_init(&p, ARCA_HUB_PUSH_OPTIONS_VERSION), 0);
	assert_int_equal(p.version, ARCA_HUB_PUSH_OPTIONS_VERSION);
	assert_null(p.branch);
	assert_null(p.message);
	assert_int_equal(p.force, 0);
	assert_null(p.excludes);
	assert_int_equal(p.nexcludes, 0);
	assert_int_equal(p.no_default_excludes, 0);
	assert_null(p.cache_dir);
}

/* Each initialiser refuses 0 (never initialised), the next version (a
 * caller built against newer headers) and NULL, and leaves opts alone. */
#define REFUSES(type, init, current) do { \
		type o, before; \
		POISON(o); \
		before = o; \
		assert_int_equal(init(&o, 0), ARCA_EINVAL); \
		assert_non_null(strstr(arca_error_last(), #type)); \
		assert_int_equal(init(&o, (current) + 1), ARCA_EINVAL); \
		assert_int_equal(init(NULL, current), ARCA_EINVAL); \
		assert_memory_equal(&o, &before, sizeof(o)); \
	} while (0)

static void test_options_init_refuses_unknown_versions(void **state)
{
	(void)state;
	REFUSES(arca_store_options, arca_store_options_init, ARCA_STORE_OPTIONS_VERSION);
	REFUSES(arca_snapshot_options, arca_snapshot_options_init, ARCA_SNAPSHOT_OPTIONS_VERSION);
	REFUSES(arca_restore_options, arca_restore_options_init, ARCA_RESTORE_OPTIONS_VERSION);
	REFUSES(arca_rollback_options, arca_rollback_options_init, ARCA_ROLLBACK_OPTIONS_VERSION);
	REFUSES(arca_gc_options, arca_gc_options_init, ARCA_GC_OPTIONS_VERSION);
	REFUSES(arca_hub_remote, arca_hub_remote_init, ARCA_HUB_REMOTE_VERSION);
	REFUSES(arca_hub_push_options, arca_hub_push_options_init, ARCA_HUB_PUSH_OPTIONS_VERSION);
}

static void test_store_open_refuses_unknown_versions(void **state)
{
	fixture *f = *state;
	arca_store_options o = ARCA_STORE_OPTIONS_INIT;
	arca_store *s = NULL;
	char dir[1100];
	snprintf(dir, sizeof(dir), "%s/other", f->tmp);
	o.version = 0;
	assert_int_equal(arca_store_open(&s, dir, &o), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "arca_store_options"));
	o.version = ARCA_STORE_OPTIONS_VERSION + 1;
	assert_int_equal(arca_store_open(&s, dir, &o), ARCA_EINVAL);
	assert_null(s);
	/* what the initialiser gives is accepted */
	assert_int_equal(arca_store_options_init(&o, ARCA_STORE_OPTIONS_VERSION), 0);
	assert_int_equal(arca_store_open(&s, dir, &o), 0);
	arca_store_free(s);
}

static void test_operations_refuse_unknown_option_versions(void **state)
{
	fixture *f = *state;
	unsigned bad[2] = { 0, 0 };
	arca_id id = th_snapshot(f->s, f->src, "app", NULL, NULL);
	char ref[ARCA_ID_STRLEN], dest[1100];
	arca_id_format(ref, &id);
	snprintf(dest, sizeof(dest), "%s/dest", f->tmp);
	for (int i = 0; i < 2; i++) {
		arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
		arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
		arca_rollback_options bo = ARCA_ROLLBACK_OPTIONS_INIT;
		arca_gc_options go = ARCA_GC_OPTIONS_INIT;
		arca_gc_result gr = ARCA_GC_RESULT_INIT;
		arca_id out;

		bad[1] = ARCA_SNAPSHOT_OPTIONS_VERSION + 1;
		so.version = bad[i];
		assert_int_equal(arca_snapshot(&out, f->s, f->src, &so, NULL), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_snapshot_options"));

		bad[1] = ARCA_RESTORE_OPTIONS_VERSION + 1;
		ro.version = bad[i];
		assert_int_equal(arca_restore(f->s, ref, dest, &ro, NULL), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_restore_options"));

		bad[1] = ARCA_ROLLBACK_OPTIONS_VERSION + 1;
		bo.version = bad[i];
		assert_int_equal(arca_rollback(f->s, ref, dest, &bo, NULL), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_rollback_options"));

		bad[1] = ARCA_GC_OPTIONS_VERSION + 1;
		go.version = bad[i];
		assert_int_equal(arca_gc(&gr, f->s, &go), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_gc_options"));
	}
	/* nothing was written: the destination was never created */
	assert_int_equal(access(dest, F_OK), -1);
}

static void test_hub_functions_refuse_unknown_versions(void **state)
{
	fixture *f = *state;
	arca_hub_remote r = ARCA_HUB_REMOTE_INIT;
	arca_hub_push_options po = ARCA_HUB_PUSH_OPTIONS_INIT;
	arca_hub_push_result res = ARCA_HUB_PUSH_RESULT_INIT;
	char dest[1100];
	snprintf(dest, sizeof(dest), "%s/clone", f->tmp);
	r.url = "git://127.0.0.1:9/none.git"; /* never contacted */
	po.branch = "main";

	r.version = 0;
	assert_int_equal(arca_hub_push(&res, f->src, &r, &po), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "arca_hub_remote"));
	r.version = ARCA_HUB_REMOTE_VERSION + 1;
	assert_int_equal(arca_hub_clone(dest, "main", &r), ARCA_EINVAL);
	assert_int_equal(arca_hub_pull(f->src, &r, NULL), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "arca_hub_remote"));

	r.version = ARCA_HUB_REMOTE_VERSION;
	po.version = 0;
	assert_int_equal(arca_hub_push(&res, f->src, &r, &po), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "arca_hub_push_options"));
	po.version = ARCA_HUB_PUSH_OPTIONS_VERSION + 1;
	assert_int_equal(arca_hub_push(&res, f->src, &r, &po), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "arca_hub_push_options"));
	assert_int_equal(access(dest, F_OK), -1);
}

/* Result structs the caller allocates: a version the library does not
 * know is refused before anything is done. */
static void test_operations_refuse_unknown_result_versions(void **state)
{
	fixture *f = *state;
	arca_id id = th_snapshot(f->s, f->src, "app", NULL, NULL), out;
	char ref[ARCA_ID_STRLEN], dest[1100];
	arca_store_stats before = ARCA_STORE_STATS_INIT, after = ARCA_STORE_STATS_INIT;
	arca_id_format(ref, &id);
	snprintf(dest, sizeof(dest), "%s/dest", f->tmp);
	th_write_file(th_path(f->src, "new"), "new", 3);
	assert_int_equal(arca_store_stats_get(&before, f->s), 0);
	for (unsigned bad = 0; bad <= 2; bad += 2) {
		arca_op_stats st = ARCA_OP_STATS_INIT;
		arca_gc_result gr = ARCA_GC_RESULT_INIT;
		arca_store_stats ss = ARCA_STORE_STATS_INIT;
		arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
		arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
		arca_diff_stats ds = ARCA_DIFF_STATS_INIT;
		arca_hub_push_result hr = ARCA_HUB_PUSH_RESULT_INIT;
		arca_hub_remote r = ARCA_HUB_REMOTE_INIT;
		arca_hub_push_options po = ARCA_HUB_PUSH_OPTIONS_INIT;

		st.version = gr.version = ss.version = vr.version = rr.version = ds.version =
			hr.version = bad;
		assert_int_equal(arca_snapshot(&out, f->s, f->src, NULL, &st), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_op_stats"));
		assert_int_equal(arca_restore(f->s, ref, dest, NULL, &st), ARCA_EINVAL);
		assert_int_equal(arca_rollback(f->s, ref, dest, NULL, &st), ARCA_EINVAL);
		assert_int_equal(arca_gc(&gr, f->s, NULL), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_gc_result"));
		assert_int_equal(arca_store_stats_get(&ss, f->s), ARCA_EINVAL);
		vr.damaged = &out; /* as left by a caller: must not reach free() */
		assert_int_equal(arca_verify(&vr, f->s), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_verify_result"));
		assert_null(vr.damaged);
		arca_verify_result_clear(&vr);
		assert_int_equal(arca_repair(&rr, f->storedir), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_repair_result"));
		assert_int_equal(arca_diff(f->s, ref, NULL, f->src, NULL, NULL, NULL, &ds), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_diff_stats"));
		r.url = "git://127.0.0.1:9/none.git";
		po.branch = "main";
		assert_int_equal(arca_hub_push(&hr, f->src, &r, &po), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "arca_hub_push_result"));
	}
	/* nothing was stored, restored or collected */
	assert_int_equal(access(dest, F_OK), -1);
	assert_int_equal(arca_store_stats_get(&after, f->s), 0);
	assert_int_equal(after.artifacts, before.artifacts);
	assert_int_equal(after.chunks, before.chunks);
	assert_int_equal(after.version, ARCA_STORE_STATS_VERSION);
}

/* A result keeps its version through a call and a clear, so it can be
 * used again. */
static void test_results_keep_their_version_for_reuse(void **state)
{
	fixture *f = *state;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_id out;
	th_write_file(th_path(f->src, "a"), "a", 1);
	assert_int_equal(arca_snapshot(&out, f->s, f->src, NULL, &st), 0);
	assert_int_equal(st.version, ARCA_OP_STATS_VERSION);
	assert_true(st.entries > 0);
	th_write_file(th_path(f->src, "b"), "b", 1);
	assert_int_equal(arca_snapshot(&out, f->s, f->src, NULL, &st), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(arca_verify(&vr, f->s), 0);
		assert_int_equal(vr.artifacts_checked, 2);
		arca_verify_result_clear(&vr);
		assert_int_equal(vr.version, ARCA_VERIFY_RESULT_VERSION);
	}
}

static void test_prune_result_is_released_by_arca_ids_free(void **state)
{
	fixture *f = *state;
	arca_id *removed = NULL;
	size_t n = 0;
	th_write_file(th_path(f->src, "a"), "one", 3);
	th_snapshot(f->s, f->src, "app", NULL, NULL);
	th_write_file(th_path(f->src, "a"), "two", 3);
	th_snapshot(f->s, f->src, "app", NULL, NULL);
	assert_int_equal(arca_prune(f->s, "app", 1, &removed, &n), 0);
	assert_int_equal(n, 1);
	assert_non_null(removed);
	arca_ids_free(removed); /* ASan reports a mismatch or a leak */
	arca_ids_free(NULL);
}

static void test_version_matches_the_macros(void **state)
{
	char want[64];
	(void)state;
	snprintf(want, sizeof(want), "%d.%d.%d", ARCA_VERSION_MAJOR, ARCA_VERSION_MINOR,
		ARCA_VERSION_PATCH);
	assert_string_equal(arca_version(), want);
	assert_string_equal(ARCA_VERSION_STRING, want);
	assert_true(ARCA_VERSION_MAJOR >= 0 && ARCA_VERSION_MINOR >= 0 && ARCA_VERSION_PATCH >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_options_init_fills_the_defaults),
		cmocka_unit_test(test_snapshot_options_init_fills_the_defaults),
		cmocka_unit_test(test_restore_rollback_gc_options_init_fill_the_defaults),
		cmocka_unit_test(test_hub_options_init_fill_the_defaults),
		cmocka_unit_test(test_options_init_refuses_unknown_versions),
		cmocka_unit_test_setup_teardown(test_store_open_refuses_unknown_versions, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_operations_refuse_unknown_option_versions, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_hub_functions_refuse_unknown_versions, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_prune_result_is_released_by_arca_ids_free, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_operations_refuse_unknown_result_versions, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_results_keep_their_version_for_reuse, th_setup, th_teardown),
		cmocka_unit_test(test_version_matches_the_macros),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
