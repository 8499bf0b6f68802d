/* Restore from chunks that are not in a store (a remote's, downloaded). */
#ifndef ARCA_STORE_RESTORE_H
#define ARCA_STORE_RESTORE_H

#include "arca/arca.h"
#include "store/chunksrc.h"
#include "store/record.h"
#include "store/store.h"

/**
 * Restores the artifact of record `rec` to `dest` as arca_restore does,
 * with the manifest and data chunks from `src` (each checked against its
 * id; the manifest against the artifact id). `s` may be NULL: it is only
 * kept out of DEST and gives the thread count; its chunks are not used.
 */
int arca_store__restore_src(arca_store *s, const arca_artifact_rec *rec,
		const arca_chunk_source *src, const char *dest, const arca_restore_options *o,
		arca_op_stats *stats);

/** What the restore of an artifact of `kind` to `dest` would refuse at
 *  once (DEST exists, no force option), for callers with work to do
 *  before it (a remote's downloads). */
int arca_store__restore_precheck(int kind, const char *dest, const arca_restore_options *o);

#endif
