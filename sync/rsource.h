/*
 * A chunk source over records downloaded from a remote (restore --from):
 * an index of chunk id -> (temporary file, offset, length, group member)
 * built from the pack indexes, and per-thread readers that pread a
 * record, check it, decompress it and hash the chunk taken from it.
 * Nothing of it is trusted: every chunk handed out hashed to its id.
 */
#ifndef ARCA_SYNC_RSOURCE_H
#define ARCA_SYNC_RSOURCE_H

#include <pthread.h>
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
	uint32_t piece0, npieces; /* download pieces that hold it (0: all in) */
} arca_rsource_loc;

typedef struct {
	arca_idset at;        /* chunk id -> index into locs */
	arca_rsource_loc *locs;
	size_t nlocs, loccap;
	int *fds;             /* owned: closed by release */
	size_t nfds, fdcap;
	/* the pieces of a download still under way */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *done;        /* per piece */
	size_t npieces;
	int failed;
} arca_rsource;

void arca_rsource_init(arca_rsource *r);

/**
 * Takes the files of one download (fds[0..nfds), owned from now on, also
 * on failure) and indexes where each chunk of `need` not indexed yet
 * lies in them: in the first of packs x[0..npacks) that has it (as
 * arca_fetch__plan chose), in the run runs[i] that covers it, landed at
 * at[i]. ARCA_ECORRUPT when a run brought fewer bytes than its records.
 * With `piece0` (a download still under way, see arca_rsource_gate):
 * run i is pieces piece0[i].. of `piece_size` bytes, and a chunk is read
 * only once the pieces holding its record are in.
 */
int arca_rsource_add(arca_rsource *r, const arca_idset *need, const arca_pidx *x,
		uint32_t npacks, const arca_fetch_run *runs, size_t nruns,
		const arca_fetch_landed *at, int *fds, size_t nfds, const uint32_t *piece0,
		uint64_t piece_size);
/** Makes `npieces` download pieces pending (before the gets begin). */
int arca_rsource_gate(arca_rsource *r, size_t npieces);
/** Piece `i` is in (rc 0), or the download failed (then every get that
 *  waits fails). Any thread. */
void arca_rsource_piece_done(arca_rsource *r, size_t i, int rc);
/** 1 when chunk `id` is indexed. */
int arca_rsource_has(const arca_rsource *r, const uint8_t id[32]);
/** The source over `r` (which must outlive its use, unchanged). */
arca_chunk_source arca_rsource_source(arca_rsource *r);
void arca_rsource_release(arca_rsource *r);

#endif
