/*
 * A chunk source over records downloaded from a remote (restore --from):
 * an index of chunk id -> (temporary file, offset, length, group member)
 * built from the pack indexes, and per-thread readers that pread a
 * record, check it, decompress it and hash the chunk taken from it.
 * Nothing of it is trusted: every chunk handed out hashed to its id.
 */
#ifndef ARCA_SYNC_RSOURCE_H
#define ARCA_SYNC_RSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "store/chunksrc.h"
#include "sync/fetch.h"
#include "sync/idset.h"

typedef struct {
	const uint8_t *sha;   /* the pack's name (for messages) */
	uint64_t pack_off;    /* of the record in its pack */
	uint64_t off;         /* of the record in its file */
	uint32_t file;
	uint32_t len;         /* the whole record's */
	uint16_t member;      /* 0xFFFF: a chunk record */
} arca_rsource_loc;

typedef struct {
	arca_idset at;        /* chunk id -> index into locs */
	arca_rsource_loc *locs;
	size_t nlocs, loccap;
	int *fds;             /* owned: closed by release */
	size_t nfds, fdcap;
} arca_rsource;

#define ARCA_RSOURCE_INIT { ARCA_IDSET_INIT, NULL, 0, 0, NULL, 0, 0 }

/**
 * Takes the files of one download (fds[0..nfds), owned from now on, also
 * on failure) and indexes where each chunk of `need` not indexed yet
 * lies in them: in the first of packs x[0..npacks) that has it (as
 * arca_fetch__plan chose), in the run runs[i] that covers it, landed at
 * at[i]. ARCA_ECORRUPT when a run brought fewer bytes than its records.
 */
int arca_rsource_add(arca_rsource *r, const arca_idset *need, const arca_pidx *x,
		uint32_t npacks, const arca_fetch_run *runs, size_t nruns,
		const arca_fetch_landed *at, int *fds, size_t nfds);
/** 1 when chunk `id` is indexed. */
int arca_rsource_has(const arca_rsource *r, const uint8_t id[32]);
/** The source over `r` (which must outlive its use, unchanged). */
arca_chunk_source arca_rsource_source(arca_rsource *r);
void arca_rsource_release(arca_rsource *r);

#endif
