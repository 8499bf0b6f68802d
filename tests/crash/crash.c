/*
 * Crash harness: each trial copies a known store, starts one mutating
 * operation (snapshot of a tree or an image, gc, rm, prune, rollback, tag)
 * in a child process and SIGKILLs it, either after a seeded random delay
 * spread over the operation's run time or at a seeded fault point (the
 * hook raises SIGKILL there). Then the store must verify clean, every
 * earlier artifact must restore byte-identical, the operation must be
 * visible whole or not at all, and running it again must succeed.
 *
 * ARCA_CRASH_TRIALS (default 210) and ARCA_CRASH_SEED pick the run.
 */
#include "scenario.h"
#include "../helpers.h"
#include "util/fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *root, work[4096];
static char before[SC_NOPS][65536], after[SC_NOPS][65536];
static unsigned npoints[SC_NOPS];
static long run_us[SC_NOPS];
static long child_us; /* fork to exit of the last child */
static unsigned landed_after; /* killed, yet the operation had committed */

static uint64_t rng;
static uint64_t next_rand(void)
{
	/* splitmix64 */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static arca_store *open_work(void)
{
	char p[8192];
	arca_store *s;
	snprintf(p, sizeof(p), "%s/store", work);
	if (arca_store_open(&s, p, NULL) != 0) {
		fprintf(stderr, "open %s: %s\n", p, arca_error_last());
		return NULL;
	}
	return s;
}

static int state_of(int op, char *out, size_t n)
{
	arca_store *s = open_work();
	int rc;
	if (!s)
		return -1;
	rc = sc_state(s, root, work, op, out, n);
	arca_store_free(s);
	return rc;
}

/* Before and after states, fault points and run time of each operation. */
static int learn(int op)
{
	char why[1024];
	arca_store *s;
	long t0;
	int rc;

	if (sc_fresh(root, work, op, why, sizeof(why)) != 0 ||
	    state_of(op, before[op], sizeof(before[op])) != 0 || !(s = open_work())) {
		fprintf(stderr, "%s: prepare: %s\n", sc_op_name(op), why);
		return -1;
	}
	arca_store_free(s);
	t0 = now_us(); /* the child opens the store too */
	if (!(s = open_work()))
		return -1;
	arca_fault_arm(0, 0);
	rc = sc_run(s, root, work, op);
	arca_fault_disarm();
	run_us[op] = now_us() - t0;
	npoints[op] = arca_fault_count();
	arca_store_free(s);
	if (rc || state_of(op, after[op], sizeof(after[op])) != 0) {
		fprintf(stderr, "%s: %s\n", sc_op_name(op), arca_error_last());
		return -1;
	}
	return 0;
}

/* The metadata part of a state fingerprint (chunk counts may differ). */
static size_t meta_len(const char *st)
{
	const char *c = strstr(st, " chunks:");
	return c ? (size_t)(c - st) : strlen(st);
}

static unsigned repairs;

/* The packs alone must give the same artifacts and refs: repair a copy of
 * the store whose index is deleted. A writer killed after its records
 * were durable but before its index commit may come back whole. */
static int repair_matches(int op, const char *now, char *why, size_t n)
{
	static char got[65536];
	char cmd[20000], rep[4200];
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_store *s = NULL;
	int rc;

	snprintf(rep, sizeof(rep), "%s/repaired", work);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s/store' '%s' && rm '%s/index.lmdb'",
		rep, work, rep, rep);
	if (system(cmd) != 0) {
		snprintf(why, n, "copy for repair failed");
		return -1;
	}
	if ((rc = arca_repair(&rr, rep)) != 0) {
		snprintf(why, n, "repair: %s", arca_error_last());
		return -1;
	}
	rc = rr.ndamaged != 0;
	arca_repair_result_clear(&rr);
	if (rc) {
		snprintf(why, n, "repair found damage");
		return -1;
	}
	repairs++;
	if (arca_store_open(&s, rep, NULL) != 0 || sc_state(s, root, work, SC_TAG, got,
			sizeof(got)) != 0) {
		snprintf(why, n, "repaired store: %s", arca_error_last());
		arca_store_free(s);
		return -1;
	}
	rc = arca_verify(&vr, s);
	arca_verify_result_clear(&vr);
	arca_store_free(s);
	if (rc) {
		snprintf(why, n, "repaired store does not verify: %s", arca_error_last());
		return -1;
	}
	if ((meta_len(got) == meta_len(now) && !strncmp(got, now, meta_len(now))) ||
	    (meta_len(got) == meta_len(after[op]) && !strncmp(got, after[op], meta_len(got))))
		return 0;
	snprintf(why, n, "repaired metadata\n  %.*s\nnot\n  %.*s", (int)meta_len(got), got,
		(int)meta_len(now), now);
	return -1;
}

/* One trial; returns 1 if the child was killed, 0 if it finished, -1 on
 * a failed check. */
static int trial(unsigned no, int op, int at_point, unsigned k, long delay_us)
{
	static char now[65536];
	char why[1024];
	arca_store *s;
	int status, killed, rc;
	pid_t pid;

	if (sc_fresh(root, work, op, why, sizeof(why)) != 0) {
		fprintf(stderr, "trial %u: %s\n", no, why);
		return -1;
	}
	fflush(NULL);
	child_us = now_us();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (!(s = open_work()))
			_exit(2);
		if (at_point)
			arca_fault_arm(k, ARCA_FAULT_KILL);
		rc = sc_run(s, root, work, op);
		if (rc)
			fprintf(stderr, "child: %s: %s\n", sc_op_name(op), arca_error_last());
		_exit(rc ? 1 : 0);
	}
	if (!at_point && delay_us < 1000000000L) {
		usleep((useconds_t)delay_us);
		kill(pid, SIGKILL);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	child_us = now_us() - child_us;
	killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
#define FAIL(...) do { \
		fprintf(stderr, "trial %u (%s, %s %u/%ld): ", no, sc_op_name(op), \
			at_point ? "fault point" : "delay us", at_point ? k : 0, delay_us); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return -1; } while (0)
	if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		FAIL("child failed without being killed (status %d)", status);
	if (state_of(op, now, sizeof(now)) != 0)
		FAIL("state: %s", arca_error_last());
	if (!killed && strcmp(now, after[op]))
		FAIL("finished but state is\n  %s\nnot\n  %s", now, after[op]);
	if (op != SC_ROLLBACK && strcmp(now, before[op]) && strcmp(now, after[op]))
		FAIL("half done:\n  %s\nbefore\n  %s\nafter\n  %s", now, before[op], after[op]);
	if (!(s = open_work()))
		FAIL("reopen");
	rc = sc_check(s, root, work, why, sizeof(why));
	arca_store_free(s);
	if (rc)
		FAIL("%s", why);
	if (repair_matches(op, now, why, sizeof(why)) != 0)
		FAIL("%s", why);
	if (killed && !strcmp(now, after[op]))
		landed_after++;
	if (strcmp(now, after[op])) {
		if (!(s = open_work()))
			FAIL("reopen");
		rc = sc_run(s, root, work, op);
		arca_store_free(s);
		if (rc)
			FAIL("re-run: %s", arca_error_last());
		if (state_of(op, now, sizeof(now)) != 0 || strcmp(now, after[op]))
			FAIL("re-run gave\n  %s\nnot\n  %s", now, after[op]);
	}
#undef FAIL
	return killed;
}

int main(void)
{
	const char *e;
	unsigned trials = 210, kills = 0, failures = 0, at_points = 0;
	uint64_t seed = 20261201;
	char why[1024];

	if ((e = getenv("ARCA_CRASH_TRIALS")) && *e)
		trials = (unsigned)strtoul(e, NULL, 10);
	if ((e = getenv("ARCA_CRASH_SEED")) && *e)
		seed = strtoull(e, NULL, 10);
	rng = seed;
	root = th_tmpdir();
	snprintf(work, sizeof(work), "%s/work", root);
	if (sc_build(root, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s\n", why);
		th_cleanup(root);
		return 1;
	}
	for (int op = 0; op < SC_NOPS; op++) {
		if (learn(op) != 0) {
			th_cleanup(root);
			return 1;
		}
		/* the delays spread over what a child takes, fork to exit */
		if (trial(0, op, 0, 0, 1000000000L) != 0) {
			fprintf(stderr, "%s: timed run failed\n", sc_op_name(op));
			th_cleanup(root);
			return 1;
		}
		run_us[op] = child_us;
	}
	for (unsigned i = 0; i < trials; i++) {
		int op = (int)(next_rand() % SC_NOPS);
		/* half the trials die at a fault point, half after a delay
		 * spread over (and a little past) the operation's run time */
		int at_point = next_rand() % 2 && npoints[op] > 0;
		unsigned k = at_point ? 1 + (unsigned)(next_rand() % npoints[op]) : 0;
		long delay = (long)(next_rand() % (uint64_t)(run_us[op] * 3 / 2 + 1));
		int r = trial(i, op, at_point, k, delay);
		if (r < 0)
			failures++;
		else
			kills += (unsigned)r;
		at_points += (unsigned)at_point;
	}
	printf("crash: %u trials, %u kills, %u failures, seed %llu\n", trials, kills, failures,
		(unsigned long long)seed);
	printf("  %u kills at fault points; %u killed after their commit; "
		"%u repairs from the packs alone matched\n", at_points, landed_after, repairs);
	th_cleanup(root);
	return failures ? 1 : 0;
}
