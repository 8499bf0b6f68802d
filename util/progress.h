/* Progress reports of long operations: rate-limited calls of the caller's
 * arca_progress_cb, made on the calling thread only, and its cancel. */
#ifndef ARCA_UTIL_PROGRESS_H
#define ARCA_UTIL_PROGRESS_H

#include <stdint.h>

#include "arca/arca.h"

typedef struct {
	arca_progress_cb cb;      /* NULL: every call is a no-op */
	void *payload;
	arca_progress p;
	int64_t next_ns;          /* no regular call before this */
	int cancelled;
} arca_progress_state;

/** Minimum time between two regular calls; tests set it to 0. */
extern int64_t arca_progress__interval_ns;

void arca_progress__init(arca_progress_state *ps, arca_progress_cb cb, void *payload);
/** Starts `phase` with the totals (0 = unknown) and calls the callback.
 *  ARCA_EUSER when it cancels (or cancelled before). */
int arca_progress__begin(arca_progress_state *ps, arca_progress_phase_t phase,
		uint64_t items_total, uint64_t bytes_total);
/** Raises the totals of the phase (work found as it goes: a fetch that
 *  learns what it must get); a total is never lowered. */
void arca_progress__totals(arca_progress_state *ps, uint64_t items_total, uint64_t bytes_total);
/** Sets the done counters (kept monotonic, and within a known total)
 *  and calls the callback when the interval has passed. */
int arca_progress__set(arca_progress_state *ps, uint64_t items_done, uint64_t bytes_done);
/** Adds to the done counters, as arca_progress__set. */
int arca_progress__add(arca_progress_state *ps, uint64_t items, uint64_t bytes);
/** The phase's last call, with the final done counters (kept if lower
 *  than those reported): totals become the done counters. */
int arca_progress__end(arca_progress_state *ps, uint64_t items_done, uint64_t bytes_done);
/** Sets bytes_known (snapshot: content the store already had), kept
 *  monotonic; reported with the next call. */
void arca_progress__known(arca_progress_state *ps, uint64_t bytes_known);
/** ARCA_EUSER when the callback cancelled, else 0; calls nothing. */
int arca_progress__cancelled(const arca_progress_state *ps);

#endif
