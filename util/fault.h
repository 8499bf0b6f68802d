/*
 * Fault injection for tests: every durable-write step of the library
 * (write, fsync, fdatasync, rename, truncate, fallocate, directory fsync,
 * index commit) passes a fault point. Inert (one atomic load) unless a
 * test arms it; nothing outside the test programs can arm it (no
 * environment variable, no public symbol).
 */
#ifndef ARCA_UTIL_FAULT_H
#define ARCA_UTIL_FAULT_H

/** Pass to arca_fault_arm as `err`: the nth point raises SIGKILL. */
#define ARCA_FAULT_KILL (-1)

/**
 * Called at each fault point named `point` ("write", "fsync", "commit"...).
 * Returns 0, or the errno value to fail this step with.
 */
int arca_fault_check(const char *point);

/**
 * Arms the hook and resets the count: the `nth` point passed from now on
 * (1-based) fails with `err` (once), or raises SIGKILL for ARCA_FAULT_KILL.
 * `nth` 0 only counts.
 */
void arca_fault_arm(unsigned nth, int err);
/** Back to inert; the count stays readable. */
void arca_fault_disarm(void);
/** Fault points passed since the last arming. */
unsigned arca_fault_count(void);
/** Name of the point the armed fault fired at, or NULL if it did not fire. */
const char *arca_fault_fired(void);
/** Records the names of the first `cap` points passed from the next arming
 *  into `names` (static strings); NULL stops recording. */
void arca_fault_trace(const char **names, unsigned cap);

#endif
