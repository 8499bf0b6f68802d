/*
 * A pull's data chunks taken in on every core: the GETs are cut into
 * pieces at record boundaries; --jobs threads each GET a piece into
 * memory and check it (decompress, hash, MAC every chunk wanted), while
 * the writer's thread stages the checked pieces in order.
 */
#ifndef ARCA_SYNC_PULL_DATA_H
#define ARCA_SYNC_PULL_DATA_H

#include "sync/fetch.h"
#include "sync/rpack.h"

/* The size the runs are cut to (at record boundaries). A variable so that
 * tests can make many pieces of a small pull. */
extern uint64_t arca_sync__pull_piece;

typedef struct {
	arca_transport *t;
	arca_cas_writer *w;
	const arca_pidx *x;           /* the packs the runs come from */
	uint32_t npacks;
	size_t jobs;
	/* which chunks to keep; called on the GET threads, so read-only */
	arca_rpack_want_fn want;
	void *want_ctx;
	/* after each piece staged, on the writer's thread: chunks staged and
	 * bytes received so far; non-zero stops the pull */
	int (*step)(void *ctx, uint64_t staged, uint64_t bytes);
	void *step_ctx;
} arca_pull_data;

/**
 * GETs runs[0..nruns) (arca_fetch__plan's, of packs d->x) and stages
 * every wanted chunk into d->w once checked. At most jobs + 2 pieces are
 * in memory. n gains the bytes and requests, *staged the chunks staged.
 * A damaged record fails it with ARCA_ECORRUPT naming pack and offset;
 * what was staged then is the caller's to abort.
 */
int arca_pull__data(const arca_pull_data *d, const arca_fetch_run *runs, size_t nruns,
		arca_fetch_counts *n, uint64_t *staged);

#endif
