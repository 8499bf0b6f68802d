/*
 * One store in a known state and the mutating operations run against it,
 * shared by the fault-injection test and the crash harness: each trial
 * copies the template store, runs one operation (failed or killed on the
 * way), then checks what is left.
 */
#ifndef ARCA_TEST_SCENARIO_H
#define ARCA_TEST_SCENARIO_H

#include <stddef.h>

#include "arca/arca.h"

enum {
	SC_SNAP_TREE, SC_SNAP_IMAGE, SC_GC, SC_RM, SC_PRUNE, SC_ROLLBACK, SC_TAG, SC_NOPS
};

const char *sc_op_name(int op);

/** Builds sources and the template store under `root` (0, or -1 with
 *  `why`). */
int sc_build(const char *root, char *why, size_t n);
/** Copies the template to `work`/store and prepares what `op` needs
 *  (the rollback destination). */
int sc_fresh(const char *root, const char *work, int op, char *why, size_t n);
/** Runs `op` on the store in `work`; returns the library's code. */
int sc_run(arca_store *s, const char *root, const char *work, int op);
/** A fingerprint of what the operations change: refs, artifacts (those
 *  of the template by id, others as NEW), chunk count, and for rollback
 *  whether the destination is the target. */
int sc_state(arca_store *s, const char *root, const char *work, int op, char *out, size_t n);
/** Verify clean and every template artifact still present restores
 *  byte-identical to its source. 0, or -1 with `why`. */
int sc_check(arca_store *s, const char *root, const char *work, char *why, size_t n);

#endif
