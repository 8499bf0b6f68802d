/* Progress callbacks of the long operations: sane counters, called on the
 * calling thread, and a non-zero return cancels with ARCA_EUSER leaving
 * the store as it was. */
#include "helpers.h"
#include "util/progress.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef th_fixture fixture;

#define MAX_PHASES 8

/* What the callback saw, and when it cancels. */
typedef struct {
	pthread_t caller;
	int calls;
	int cancel_at;              /* cancel at this call (1-based); 0: never */
	int cancel_at_end;          /* cancel at the first phase_end */
	arca_progress_phase_t cancel_phase; /* cancel in this phase, at its */
	int cancel_phase_call;      /* k-th call (0: at its phase_end) */
	int phase_calls;
	int errors;                 /* rule broken: see `why` */
	char why[256];
	int in_phase;
	arca_progress last;
	uint64_t begin_items_total, begin_bytes_total;
	arca_progress_phase_t phases[MAX_PHASES];
	int nphases, nends;
} recorder;

static void broke(recorder *r, const char *why)
{
	if (!r->errors++)
		snprintf(r->why, sizeof(r->why), "call %d (%s): %s", r->calls,
			r->last.phase_name ? r->last.phase_name : "?", why);
}

static int on_progress(const arca_progress *p, void *payload)
{
	recorder *r = payload;
	r->calls++;
	if (!pthread_equal(pthread_self(), r->caller))
		broke(r, "called on another thread");
	if (p->version != ARCA_PROGRESS_VERSION || !p->phase_name || !*p->phase_name)
		broke(r, "bad version or phase name");
	if (!r->in_phase) {
		/* a phase starts: done counters at 0 */
		if (p->items_done || p->bytes_done)
			broke(r, "phase starts with done counters set");
		if (r->nphases < MAX_PHASES)
			r->phases[r->nphases++] = p->phase;
		r->phase_calls = 0;
		r->begin_items_total = p->items_total;
		r->begin_bytes_total = p->bytes_total;
		r->in_phase = 1;
	} else {
		if (p->phase != r->last.phase)
			broke(r, "phase changed without a phase_end");
		if (p->items_done < r->last.items_done || p->bytes_done < r->last.bytes_done)
			broke(r, "done counter went down");
	}
	if (!p->phase_end && ((p->items_total && p->items_done > p->items_total) ||
			(p->bytes_total && p->bytes_done > p->bytes_total)))
		broke(r, "done past a known total");
	if (p->phase_end) {
		r->nends++;
		if (p->items_done != p->items_total || p->bytes_done != p->bytes_total)
			broke(r, "phase_end with done != total");
		if ((r->begin_items_total && p->items_done != r->begin_items_total) ||
		    (r->begin_bytes_total && p->bytes_done != r->begin_bytes_total))
			broke(r, "phase ended short of the total known at its start");
		r->in_phase = 0;
	}
	r->last = *p;
	r->phase_calls++;
	if (r->cancel_at && r->calls >= r->cancel_at)
		return 1;
	if (r->cancel_phase && p->phase == r->cancel_phase &&
	    (r->cancel_phase_call ? r->phase_calls == r->cancel_phase_call : p->phase_end))
		return 1;
	return r->cancel_at_end && p->phase_end;
}

static recorder rec_new(int cancel_at, int cancel_at_end)
{
	recorder r;
	memset(&r, 0, sizeof(r));
	r.caller = pthread_self();
	r.cancel_at = cancel_at;
	r.cancel_at_end = cancel_at_end;
	return r;
}

static void assert_sane(const recorder *r)
{
	if (r->errors)
		fail_msg("%s", r->why);
}

/* ---- what "the store is unchanged" means ---- */

typedef struct {
	char refs[4096];
	char artifacts[4096];
	arca_store_stats stats;
	char packs[2048];           /* pack file names and sizes */
} store_state;

static int ref_line(const char *name, const char *tag, const arca_id *id, void *payload)
{
	char *out = payload, hex[ARCA_ID_STRLEN];
	arca_id_format(hex, id);
	snprintf(out + strlen(out), 4096 - strlen(out), "%s:%s=%s\n", name, tag, hex);
	return 0;
}

static int artifact_line(const arca_artifact *a, void *payload)
{
	char *out = payload, hex[ARCA_ID_STRLEN];
	arca_id_format(hex, &a->id);
	snprintf(out + strlen(out), 4096 - strlen(out), "%s\n", hex);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void take_state(fixture *f, store_state *st)
{
	struct dirent **names;
	int n;
	memset(st, 0, sizeof(*st));
	st->stats.version = ARCA_STORE_STATS_VERSION;
	assert_int_equal(arca_ref_foreach(f->s, ref_line, st->refs), 0);
	assert_int_equal(arca_artifact_foreach(f->s, artifact_line, st->artifacts), 0);
	assert_int_equal(arca_store_stats_get(&st->stats, f->s), 0);
	n = scandir(th_path(f->storedir, "packs"), &names, NULL, by_name);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			char p[4096];
			snprintf(p, sizeof(p), "%s/packs/%s", f->storedir, names[i]->d_name);
			snprintf(st->packs + strlen(st->packs), sizeof(st->packs) - strlen(st->packs),
				"%s %lld\n", names[i]->d_name, (long long)th_file_size(p));
		}
		free(names[i]);
	}
	free(names);
}

/* The pack files are exactly as they were: a cancelled writer's appends
 * are cut off and the packs it created are removed. */
static void assert_unchanged(fixture *f, const store_state *before)
{
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	store_state now;
	take_state(f, &now);
	assert_string_equal(now.refs, before->refs);
	assert_string_equal(now.artifacts, before->artifacts);
	assert_string_equal(now.packs, before->packs);
	assert_memory_equal(&now.stats, &before->stats, sizeof(now.stats));
	assert_int_equal(arca_verify(&vr, f->s), 0);
	arca_verify_result_clear(&vr);
}

/* ---- inputs ---- */

/* A tree of 24 files of 192 KiB in 3 directories (tree `seed`). */
static void make_tree(const char *dir, uint64_t seed)
{
	for (int d = 0; d < 3; d++) {
		char sub[4096];
		assert_true(snprintf(sub, sizeof(sub), "%s/d%d", dir, d) < (int)sizeof(sub));
		mkdir(sub, 0755);
		for (int i = 0; i < 8; i++) {
			char name[32];
			snprintf(name, sizeof(name), "f%d", i);
			th_write_random(th_path(sub, name), 192 * 1024, seed * 100 + (uint64_t)(d * 8 + i));
		}
	}
}

/* An 8 MiB sparse image with 3 MiB of data. */
static void make_image(const char *path, uint64_t seed)
{
	th_write_file(path, "", 0);
	assert_int_equal(truncate(path, 8 << 20), 0);
	th_pwrite_random(path, 0, 1 << 20, seed);
	th_pwrite_random(path, 3 << 20, 1 << 20, seed + 1);
	th_pwrite_random(path, 7 << 20, 1 << 20, seed + 2);
}

static int setup(void **state)
{
	arca_progress__interval_ns = 0; /* every update is a call */
	return th_setup(state);
}

/* ---- snapshot ---- */

static int snap_with(fixture *f, const char *path, const char *name, recorder *r, arca_id *id)
{
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	o.name = name;
	o.progress_cb = on_progress;
	o.progress_payload = r;
	return arca_snapshot(id, f->s, path, &o, NULL);
}

static void test_snapshot_tree_reports_progress(void **state)
{
	fixture *f = *state;
	recorder r = rec_new(0, 0);
	arca_op_stats st = ARCA_OP_STATS_INIT;
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_id id;
	make_tree(f->src, 1);
	o.name = "t";
	o.progress_cb = on_progress;
	o.progress_payload = &r;
	assert_int_equal(arca_snapshot(&id, f->s, f->src, &o, &st), 0);
	assert_sane(&r);
	assert_true(r.calls > 3);
	assert_int_equal(r.nphases, 1);
	assert_int_equal(r.phases[0], ARCA_PROGRESS_CHUNK);
	assert_int_equal(r.nends, 1);
	assert_string_equal(r.last.phase_name, "chunk");
	assert_int_equal(r.last.items_done, st.entries);
	assert_int_equal(r.last.bytes_done, st.logical_bytes);
}

static void test_snapshot_image_reports_progress_against_its_size(void **state)
{
	fixture *f = *state;
	recorder r = rec_new(0, 0);
	const char *img = th_path(f->tmp, "disk.img");
	arca_id id;
	make_image(img, 5);
	assert_int_equal(snap_with(f, img, "img", &r, &id), 0);
	assert_sane(&r);
	assert_true(r.calls > 3);
	assert_int_equal(r.nends, 1);
	assert_int_equal(r.last.bytes_total, 8 << 20);
	assert_int_equal(r.last.bytes_done, 8 << 20);
}

/* Cancels a snapshot of `path` at call `at` (0: at the phase's end) and
 * checks that nothing changed and a snapshot afterwards works. */
static void snapshot_cancelled(fixture *f, const char *path, int at)
{
	recorder r = rec_new(at, at == 0);
	store_state before;
	arca_id id;
	th_snapshot(f->s, f->src, "base", NULL, NULL); /* something to keep */
	take_state(f, &before);
	assert_int_equal(snap_with(f, path, "new", &r, &id), ARCA_EUSER);
	assert_non_null(strstr(arca_error_last(), "cancelled"));
	assert_sane(&r);
	if (at)
		assert_int_equal(r.calls, at); /* never called after a cancel */
	else
		assert_true(r.last.phase_end);
	assert_unchanged(f, &before);
	r = rec_new(0, 0);
	assert_int_equal(snap_with(f, path, "new", &r, &id), 0);
	assert_sane(&r);
}

static void test_snapshot_tree_cancelled_at_once_changes_nothing(void **state)
{
	fixture *f = *state;
	char tree[4096];
	snprintf(tree, sizeof(tree), "%s/tree", f->tmp);
	mkdir(tree, 0755);
	make_tree(tree, 2);
	th_write_file(th_path(f->src, "a"), "a", 1);
	snapshot_cancelled(f, tree, 1);
}

static void test_snapshot_tree_cancelled_midway_changes_nothing(void **state)
{
	fixture *f = *state;
	char tree[4096];
	snprintf(tree, sizeof(tree), "%s/tree", f->tmp);
	mkdir(tree, 0755);
	make_tree(tree, 3);
	th_write_file(th_path(f->src, "a"), "a", 1);
	snapshot_cancelled(f, tree, 10);
}

static void test_snapshot_tree_cancelled_at_its_end_changes_nothing(void **state)
{
	fixture *f = *state;
	char tree[4096];
	snprintf(tree, sizeof(tree), "%s/tree", f->tmp);
	mkdir(tree, 0755);
	make_tree(tree, 4);
	th_write_file(th_path(f->src, "a"), "a", 1);
	snapshot_cancelled(f, tree, 0);
}

static void test_snapshot_image_cancelled_midway_changes_nothing(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "disk.img");
	make_image(img, 6);
	th_write_file(th_path(f->src, "a"), "a", 1);
	snapshot_cancelled(f, img, 5);
}

static void test_snapshot_image_cancelled_at_its_end_changes_nothing(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "disk.img");
	make_image(img, 7);
	th_write_file(th_path(f->src, "a"), "a", 1);
	snapshot_cancelled(f, img, 0);
}

/* A caller built against version 1 has no progress fields: they are
 * neither written by the initialiser nor read. */
static void test_version_1_options_have_no_progress_fields(void **state)
{
	fixture *f = *state;
	arca_snapshot_options o;
	arca_id id;
	memset(&o, 0xa5, sizeof(o));
	assert_int_equal(arca_snapshot_options_init(&o, 1), 0);
	assert_int_equal(o.version, 1);
	{
		unsigned char poison[sizeof(o.progress_cb)];
		memset(poison, 0xa5, sizeof(poison));
		assert_memory_equal(&o.progress_cb, poison, sizeof(poison));
	}
	th_write_file(th_path(f->src, "a"), "a", 1);
	assert_int_equal(arca_snapshot(&id, f->s, f->src, &o, NULL), 0); /* not called */
}

/* ---- restore ---- */

static int restore_with(fixture *f, const char *ref, const char *dest, recorder *r)
{
	arca_restore_options o = ARCA_RESTORE_OPTIONS_INIT;
	o.progress_cb = on_progress;
	o.progress_payload = r;
	return arca_restore(f->s, ref, dest, &o, NULL);
}

static void test_restore_reports_progress_to_the_artifacts_totals(void **state)
{
	fixture *f = *state;
	recorder r = rec_new(0, 0);
	arca_op_stats st = ARCA_OP_STATS_INIT;
	char why[256];
	make_tree(f->src, 8);
	th_snapshot(f->s, f->src, "t", NULL, &st);
	assert_int_equal(restore_with(f, "t", th_path(f->tmp, "out"), &r), 0);
	assert_sane(&r);
	assert_true(r.calls > 3);
	assert_int_equal(r.nends, 1);
	assert_int_equal(r.phases[0], ARCA_PROGRESS_WRITE);
	assert_int_equal(r.begin_items_total, st.entries);
	assert_int_equal(r.begin_bytes_total, st.logical_bytes);
	assert_int_equal(th_tree_equal(f->src, th_path(f->tmp, "out"), why, sizeof(why)), 0);
}

static void test_restore_cancelled_leaves_the_store_alone(void **state)
{
	fixture *f = *state;
	store_state before;
	const char *img = th_path(f->tmp, "disk.img");
	recorder r;
	make_tree(f->src, 9);
	make_image(img, 9);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	th_snapshot(f->s, img, "img", NULL, NULL);
	take_state(f, &before);
	r = rec_new(1, 0);
	assert_int_equal(restore_with(f, "t", th_path(f->tmp, "out1"), &r), ARCA_EUSER);
	assert_int_equal(r.calls, 1);
	r = rec_new(6, 0);
	assert_int_equal(restore_with(f, "t", th_path(f->tmp, "out2"), &r), ARCA_EUSER);
	assert_sane(&r);
	assert_int_equal(r.calls, 6);
	r = rec_new(4, 0);
	assert_int_equal(restore_with(f, "img", th_path(f->tmp, "out.img"), &r), ARCA_EUSER);
	assert_sane(&r);
	assert_unchanged(f, &before);
	th_restore_equals(f->s, f->tmp, "t", f->src);
}

/* ---- rollback ---- */

static void test_rollback_cancelled_stops_and_a_rerun_finishes(void **state)
{
	fixture *f = *state;
	arca_rollback_options o = ARCA_ROLLBACK_OPTIONS_INIT;
	const char *dest = th_path(f->tmp, "work");
	store_state before;
	recorder r;
	char why[256];
	make_tree(f->src, 10);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(arca_restore(f->s, "t", dest, NULL, NULL), 0);
	for (int i = 0; i < 8; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s/d1/f%d", dest, i);
		th_pwrite_random(name, 4096, 8192, 77 + (uint64_t)i);
	}
	take_state(f, &before);
	o.checksum = 1;
	o.progress_cb = on_progress;
	r = rec_new(8, 0);
	o.progress_payload = &r;
	assert_int_equal(arca_rollback(f->s, "t", dest, &o, NULL), ARCA_EUSER);
	assert_non_null(strstr(arca_error_last(), "cancelled"));
	assert_sane(&r);
	assert_int_equal(r.calls, 8);
	assert_unchanged(f, &before);
	/* run again: it finishes, with sane progress to the end */
	r = rec_new(0, 0);
	o.progress_payload = &r;
	assert_int_equal(arca_rollback(f->s, "t", dest, &o, NULL), 0);
	assert_sane(&r);
	assert_int_equal(r.nends, 1);
	assert_int_equal(th_tree_equal(f->src, dest, why, sizeof(why)), 0);
}

/* ---- gc ---- */

/* Two artifacts, one removed: gc has chunks to drop and packs to rewrite. */
static void gc_fixture(fixture *f)
{
	char tree[4096];
	arca_id gone;
	make_tree(f->src, 11);
	th_snapshot(f->s, f->src, "keep", NULL, NULL);
	snprintf(tree, sizeof(tree), "%s/tree", f->tmp);
	mkdir(tree, 0755);
	make_tree(tree, 12);
	gone = th_snapshot(f->s, tree, "gone", NULL, NULL);
	assert_int_equal(arca_artifact_remove(f->s, &gone, 1, 1), 0);
}

static int gc_with(fixture *f, recorder *r, arca_gc_result *res)
{
	arca_gc_options o = ARCA_GC_OPTIONS_INIT;
	o.repack_threshold = 0.9;
	o.progress_cb = on_progress;
	o.progress_payload = r;
	return arca_gc(res, f->s, &o);
}

static void test_gc_reports_mark_sweep_and_repack(void **state)
{
	fixture *f = *state;
	arca_gc_result res = ARCA_GC_RESULT_INIT;
	recorder r = rec_new(0, 0);
	gc_fixture(f);
	assert_int_equal(gc_with(f, &r, &res), 0);
	assert_sane(&r);
	assert_true(res.chunks_removed > 0);
	assert_true(res.packs_rewritten > 0);
	assert_int_equal(r.nphases, 3);
	assert_int_equal(r.phases[0], ARCA_PROGRESS_MARK);
	assert_int_equal(r.phases[1], ARCA_PROGRESS_SWEEP);
	assert_int_equal(r.phases[2], ARCA_PROGRESS_REPACK);
	assert_int_equal(r.nends, 3);
}

/* Cancels a gc in `phase` at its k-th call (0: at its end) and checks
 * that nothing changed and a gc afterwards does the work. */
static void gc_cancelled(void **state, arca_progress_phase_t phase, int k)
{
	fixture *f = *state;
	arca_gc_result res = ARCA_GC_RESULT_INIT;
	store_state before;
	recorder r = rec_new(0, 0), all = rec_new(0, 0);
	gc_fixture(f);
	take_state(f, &before);
	r.cancel_phase = phase;
	r.cancel_phase_call = k;
	assert_int_equal(gc_with(f, &r, &res), ARCA_EUSER);
	assert_non_null(strstr(arca_error_last(), "cancelled"));
	assert_sane(&r);
	assert_int_equal(r.last.phase, phase);
	assert_unchanged(f, &before);
	res.version = ARCA_GC_RESULT_VERSION;
	assert_int_equal(gc_with(f, &all, &res), 0);
	assert_sane(&all);
	assert_true(res.chunks_removed > 0);
	assert_int_equal(arca_verify(&(arca_verify_result){ .version = ARCA_VERIFY_RESULT_VERSION },
		f->s), 0);
}

static void test_gc_cancelled_at_once_changes_nothing(void **state)
{
	gc_cancelled(state, ARCA_PROGRESS_MARK, 1);
}

static void test_gc_cancelled_in_the_sweep_changes_nothing(void **state)
{
	gc_cancelled(state, ARCA_PROGRESS_SWEEP, 20);
}

static void test_gc_cancelled_while_repacking_changes_nothing(void **state)
{
	gc_cancelled(state, ARCA_PROGRESS_REPACK, 20);
}

static void test_gc_cancelled_at_its_last_call_changes_nothing(void **state)
{
	gc_cancelled(state, ARCA_PROGRESS_REPACK, 0);
}

/* ---- verify ---- */

static int verify_with(fixture *f, recorder *r, arca_verify_result *vr)
{
	arca_verify_options o = ARCA_VERIFY_OPTIONS_INIT;
	o.progress_cb = on_progress;
	o.progress_payload = r;
	return arca_verify_ext(vr, f->s, &o);
}

static void test_verify_reports_chunks_then_artifacts(void **state)
{
	fixture *f = *state;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	recorder r = rec_new(0, 0);
	make_tree(f->src, 13);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(verify_with(f, &r, &vr), 0);
	assert_sane(&r);
	assert_int_equal(r.nphases, 2);
	assert_int_equal(r.phases[0], ARCA_PROGRESS_VERIFY);
	assert_int_equal(r.phases[1], ARCA_PROGRESS_CHECK);
	assert_int_equal(r.nends, 2);
	assert_int_equal(r.last.items_done, vr.artifacts_checked);
	arca_verify_result_clear(&vr);
}

static void test_verify_cancelled_stops_with_euser(void **state)
{
	fixture *f = *state;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	store_state before;
	recorder r;
	make_tree(f->src, 14);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	take_state(f, &before);
	r = rec_new(1, 0);
	assert_int_equal(verify_with(f, &r, &vr), ARCA_EUSER);
	assert_int_equal(r.calls, 1);
	assert_int_equal(vr.chunks_checked, 0);
	r = rec_new(0, 0);
	r.cancel_phase = ARCA_PROGRESS_VERIFY;
	r.cancel_phase_call = 0;
	assert_int_equal(verify_with(f, &r, &vr), ARCA_EUSER);
	assert_sane(&r);
	r = rec_new(0, 0);
	r.cancel_phase = ARCA_PROGRESS_CHECK;
	r.cancel_phase_call = 2;
	assert_int_equal(verify_with(f, &r, &vr), ARCA_EUSER);
	assert_sane(&r);
	assert_null(vr.damaged);
	assert_int_equal(vr.artifacts_checked, 0);
	assert_unchanged(f, &before);
}

/* With the default interval (100 ms) a phase still starts and ends with
 * a call, made on the calling thread. */
static void test_verify_with_rate_limit_still_ends_each_phase(void **state)
{
	fixture *f = *state;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	recorder r = rec_new(0, 0);
	make_tree(f->src, 15);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	arca_progress__interval_ns = 100000000;
	assert_int_equal(verify_with(f, &r, &vr), 0);
	arca_progress__interval_ns = 0;
	assert_sane(&r);
	assert_int_equal(r.nends, 2);
	arca_verify_result_clear(&vr);
}

static void test_verify_options_init_fills_the_defaults(void **state)
{
	arca_verify_options o;
	(void)state;
	memset(&o, 0xa5, sizeof(o));
	assert_int_equal(arca_verify_options_init(&o, ARCA_VERIFY_OPTIONS_VERSION), 0);
	assert_int_equal(o.version, ARCA_VERIFY_OPTIONS_VERSION);
	assert_null(o.progress_cb);
	assert_null(o.progress_payload);
	assert_int_equal(arca_verify_options_init(&o, 0), ARCA_EINVAL);
	assert_int_equal(arca_verify_options_init(&o, ARCA_VERIFY_OPTIONS_VERSION + 1), ARCA_EINVAL);
	assert_int_equal(arca_verify_options_init(NULL, ARCA_VERIFY_OPTIONS_VERSION), ARCA_EINVAL);
}

static void test_verify_ext_refuses_an_unknown_options_version(void **state)
{
	fixture *f = *state;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_verify_options o = ARCA_VERIFY_OPTIONS_INIT;
	o.version = ARCA_VERIFY_OPTIONS_VERSION + 1;
	assert_int_equal(arca_verify_ext(&vr, f->s, &o), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "arca_verify_options"));
	assert_int_equal(arca_verify_ext(&vr, f->s, NULL), 0);
}

static void test_euser_has_a_name(void **state)
{
	(void)state;
	assert_string_equal(arca_error_name(ARCA_EUSER), "EUSER");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_tree_reports_progress, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image_reports_progress_against_its_size, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_tree_cancelled_at_once_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_tree_cancelled_midway_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_tree_cancelled_at_its_end_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image_cancelled_midway_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_image_cancelled_at_its_end_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_version_1_options_have_no_progress_fields, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_restore_reports_progress_to_the_artifacts_totals, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_restore_cancelled_leaves_the_store_alone, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_cancelled_stops_and_a_rerun_finishes, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_gc_reports_mark_sweep_and_repack, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_gc_cancelled_at_once_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_gc_cancelled_in_the_sweep_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_gc_cancelled_while_repacking_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_gc_cancelled_at_its_last_call_changes_nothing, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_verify_reports_chunks_then_artifacts, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_verify_cancelled_stops_with_euser, setup, th_teardown),
		cmocka_unit_test_setup_teardown(test_verify_with_rate_limit_still_ends_each_phase, setup, th_teardown),
		cmocka_unit_test(test_verify_options_init_fills_the_defaults),
		cmocka_unit_test_setup_teardown(test_verify_ext_refuses_an_unknown_options_version, setup, th_teardown),
		cmocka_unit_test(test_euser_has_a_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
