/* Fault injection: every durable-write step of each mutating operation
 * fails in turn, with EIO and with ENOSPC. The operation must report the
 * right error (or succeed when the step came after its commit), and the
 * store must be valid, keep every earlier artifact, show the operation
 * whole or not at all, and take the operation again. */
#include "helpers.h"
#include "crash/scenario.h"
#include "util/fault.h"
#include "util/fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 8192

static char *root;
static unsigned total_points, total_injected;
static const char *trace[MAX_POINTS];

static arca_store *open_work(const char *work)
{
	return th_store_open(th_path(work, "store"));
}

static void state_of(const char *work, int op, char *out, size_t n)
{
	arca_store *s = open_work(work);
	if (sc_state(s, root, work, op, out, n) != 0)
		fail_msg("state: %s", arca_error_last());
	arca_store_free(s);
}

static void fresh(const char *work, int op)
{
	char why[1024];
	if (sc_fresh(root, work, op, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static void check(const char *work, const char *what)
{
	char why[1024];
	arca_store *s = open_work(work);
	if (sc_check(s, root, work, why, sizeof(why)) != 0)
		fail_msg("%s: %s", what, why);
	arca_store_free(s);
}

static void fail_each_point(int op)
{
	static char before[65536], after[65536], now[65536];
	const int errs[] = { EIO, ENOSPC };
	const char *work = th_path(root, "work");
	unsigned npoints, commit_at = 0, injected = 0;
	arca_store *s;
	int rc;

	fresh(work, op);
	state_of(work, op, before, sizeof(before));
	s = open_work(work);
	arca_fault_trace(trace, MAX_POINTS);
	arca_fault_arm(0, 0);
	rc = sc_run(s, root, work, op);
	arca_fault_disarm();
	arca_fault_trace(NULL, 0);
	npoints = arca_fault_count();
	if (rc)
		fail_msg("%s: %s", sc_op_name(op), arca_error_last());
	arca_store_free(s);
	state_of(work, op, after, sizeof(after));
	assert_string_not_equal(before, after);
	for (unsigned i = 0; i < npoints && i < MAX_POINTS && !commit_at; i++)
		if (!strcmp(trace[i], "commit"))
			commit_at = i + 1;
	assert_true(npoints > 0);

	for (unsigned i = 1; i <= npoints; i++) {
		for (size_t e = 0; e < 2; e++) {
			const char *at;
			char what[256];
			fresh(work, op);
			s = open_work(work);
			arca_fault_arm(i, errs[e]);
			rc = sc_run(s, root, work, op);
			arca_fault_disarm();
			at = arca_fault_fired();
			arca_store_free(s);
			snprintf(what, sizeof(what), "%s, fault %u/%u (%s) %s", sc_op_name(op), i,
				npoints, at ? at : "not reached", errs[e] == EIO ? "EIO" : "ENOSPC");
			injected += at != NULL;
			if (rc && rc != (errs[e] == EIO ? ARCA_EIO : ARCA_ENOSPC))
				fail_msg("%s: error %s: %s", what, arca_error_name(rc), arca_error_last());
			state_of(work, op, now, sizeof(now));
			if (!rc && strcmp(now, after))
				fail_msg("%s: succeeded but state is\n  %s\nnot\n  %s", what, now, after);
			if (rc && op != SC_ROLLBACK && strcmp(now, before) &&
			    (strcmp(now, after) || (commit_at && i < commit_at)))
				fail_msg("%s: half done:\n  %s\nbefore\n  %s\nafter\n  %s", what, now,
					before, after);
			check(work, what);
			if (rc && strcmp(now, after)) {
				/* the operation again, now without fault */
				s = open_work(work);
				if ((rc = sc_run(s, root, work, op)) != 0)
					fail_msg("%s: re-run: %s", what, arca_error_last());
				arca_store_free(s);
				state_of(work, op, now, sizeof(now));
				if (strcmp(now, after))
					fail_msg("%s: re-run gave\n  %s\nnot\n  %s", what, now, after);
			}
		}
	}
	printf("%s: %u points, %u faults injected\n", sc_op_name(op), npoints, injected);
	total_points += npoints;
	total_injected += injected;
}

static void snapshot_tree_survives_each_fault(void **state) { (void)state; fail_each_point(SC_SNAP_TREE); }
static void snapshot_image_survives_each_fault(void **state) { (void)state; fail_each_point(SC_SNAP_IMAGE); }
static void gc_survives_each_fault(void **state) { (void)state; fail_each_point(SC_GC); }
static void rm_survives_each_fault(void **state) { (void)state; fail_each_point(SC_RM); }
static void prune_survives_each_fault(void **state) { (void)state; fail_each_point(SC_PRUNE); }
static void rollback_survives_each_fault(void **state) { (void)state; fail_each_point(SC_ROLLBACK); }
static void tag_survives_each_fault(void **state) { (void)state; fail_each_point(SC_TAG); }

static void unarmed_hook_never_fires(void **state)
{
	(void)state;
	arca_fault_disarm();
	assert_int_equal(arca_fault_check("write"), 0);
	arca_fault_arm(2, EIO);
	assert_int_equal(arca_fault_check("write"), 0);
	assert_int_equal(arca_fault_check("fsync"), EIO);
	assert_string_equal(arca_fault_fired(), "fsync");
	assert_int_equal(arca_fault_check("write"), 0); /* once */
	assert_int_equal(arca_fault_count(), 3);
	arca_fault_disarm();
	assert_int_equal(arca_fault_check("write"), 0);
	assert_int_equal(arca_fault_count(), 3);
}

/* mkdir -p syncs each directory it makes into its parent (a new store's
 * or remote's entry survives a crash), and a failed sync fails it. */
static void mkdir_p_syncs_each_directory_it_makes(void **state)
{
	const char *names[16];
	char *t = th_tmpdir(), p[4096];
	unsigned syncs = 0;

	(void)state;
	snprintf(p, sizeof(p), "%s/a/b/c", t);
	arca_fault_trace(names, 16);
	arca_fault_arm(0, 0);
	assert_int_equal(arca_mkdir_p(p, 0755), 0);
	for (unsigned i = 0; i < arca_fault_count() && i < 16; i++)
		syncs += !strcmp(names[i], "dirsync");
	assert_int_equal(syncs, 3);
	arca_fault_arm(0, 0);
	assert_int_equal(arca_mkdir_p(p, 0755), 0); /* there: nothing made, nothing synced */
	assert_int_equal(arca_fault_count(), 0);
	snprintf(p, sizeof(p), "%s/d/e", t);
	arca_fault_arm(2, EIO);
	assert_int_equal(arca_mkdir_p(p, 0755), -1);
	assert_int_equal(errno, EIO);
	arca_fault_disarm();
	arca_fault_trace(NULL, 0);
	th_cleanup(t);
}

static int group_setup(void **state)
{
	char why[1024];
	(void)state;
	root = th_tmpdir();
	if (sc_build(root, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s\n", why);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	printf("faults: %u injected, %u points\n", total_injected, total_points);
	th_cleanup(root);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unarmed_hook_never_fires),
		cmocka_unit_test(mkdir_p_syncs_each_directory_it_makes),
		cmocka_unit_test(snapshot_tree_survives_each_fault),
		cmocka_unit_test(snapshot_image_survives_each_fault),
		cmocka_unit_test(gc_survives_each_fault),
		cmocka_unit_test(rm_survives_each_fault),
		cmocka_unit_test(prune_survives_each_fault),
		cmocka_unit_test(rollback_survives_each_fault),
		cmocka_unit_test(tag_survives_each_fault),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
