/*
 * Getting an artifact's records from a remote, shared by pull and the
 * streaming restore: the ref, the artifact object, its pack indexes, the
 * GETs that bring a set of chunks and the parallel downloads of them.
 */
#ifndef ARCA_SYNC_FETCH_H
#define ARCA_SYNC_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "sync/idset.h"
#include "sync/sync.h"
#include "store/record.h"
#include "util/buf.h"

#define ARCA_FETCH_ARTO_MAX \
	((size_t)ARCA_RECORD_MAX + ARCA_ARTO_MAX_PACKS * 32u + 128u)
#define ARCA_FETCH_MANIFEST_MAX (1ull << 32)

/* What arca_sync_result reports of a fetch. */
typedef struct {
	uint64_t bytes, requests, objects;
} arca_fetch_counts;

/* A remote ref resolved to an artifact. */
typedef struct {
	char name[ARCA_NAME_MAX + 1];
	char tag[ARCA_TAG_MAX + 1];
	int has_ref;          /* 0: given as an artifact id */
	arca_id id;
} arca_fetch_ref;

/** `ref` ("NAME", "NAME:TAG" or a full art_ id) on `t` into *r. */
int arca_fetch__resolve(arca_transport *t, const char *ref, arca_fetch_ref *r,
		arca_fetch_counts *n);

/** GETs and checks artifacts/<id>: *a points into `obj` (its cap
 *  ARCA_FETCH_ARTO_MAX), *rec is decoded (the caller clears it; on
 *  failure it is left cleared). */
int arca_fetch__artifact(arca_transport *t, const arca_id *id, arca_buf *obj, arca_arto *a,
		arca_artifact_rec *rec, arca_fetch_counts *n);

/** ARCA_ECORRUPT unless the record's name, tag and labels are what a
 *  local snapshot would take: a remote or a bundle cannot plant names no
 *  command accepts (control bytes, "..", a tag without a name). */
int arca_fetch__check_record(const arca_artifact_rec *rec);

/** Entries that the indexes of one artifact's packs may list in all (48
 *  bytes each in memory): past it the artifact is refused, so a hostile
 *  remote cannot make a reader hold 65536 indexes of 4 Mi entries. A
 *  variable so that tests can lower it. */
#define ARCA_FETCH_MAX_ENTRIES (8u << 20)
extern uint32_t arca_fetch__max_entries;

/** GETs and checks the index of every pack `a` lists into x[0..npacks),
 *  a few at a time (at most `jobs`). */
int arca_fetch__indexes(arca_transport *t, const arca_arto *a, arca_pidx *x, size_t jobs,
		arca_fetch_counts *n);

/** The manifest bytes `mf` of artifact `id` are what `rec` says. */
int arca_fetch__check_manifest(arca_transport *t, const arca_id *id,
		const arca_artifact_rec *rec, const uint8_t *mf, size_t len);

/** The data chunks of manifest `mf` (unique, in order) as 32-byte ids into
 *  `ids`; the record's kind and sizes must be the manifest's. */
int arca_fetch__data_chunks(const uint8_t *mf, size_t n, const arca_artifact *want,
		arca_buf *ids);

/** ARCA_ECORRUPT: chunk `c` of artifact `id` is in none of its packs. */
int arca_fetch__missing(const arca_id *id, const uint8_t c[32]);

/* One GET: bytes [off, off + len) of pack `sha`; off 0: the whole pack. */
typedef struct {
	const uint8_t *sha;
	uint64_t off, len;
} arca_fetch_run;

/**
 * The GETs that bring every chunk of `need` (ids[0..n), the same set) from
 * packs x[0..npacks): per pack (the first listed that has a chunk), the
 * whole pack when most of it is needed, else runs of records close
 * together. *missing: a needed chunk no pack has (then no runs).
 */
int arca_fetch__plan(const arca_idset *need, const arca_pidx *x, uint32_t npacks,
		arca_fetch_run **out, size_t *nout, const uint8_t **missing,
		const uint8_t (*ids)[32], size_t n);

/** Of runs[a..b) (one pack's, sorted by offset), the one that starts last
 *  at or before `off`; b when none does. */
size_t arca_fetch__run_at(const arca_fetch_run *runs, size_t a, size_t b, uint64_t off);

/* Where a downloaded run landed. */
typedef struct {
	uint32_t file;        /* index into the downloads' files */
	uint64_t base;        /* offset of the run's first byte in it */
	uint64_t got;         /* bytes received */
} arca_fetch_landed;

/**
 * GETs runs[0..n) on up to `jobs` threads, each appending what it gets to
 * its own unlinked temporary file in `tmp_dir` (NULL: /tmp); fds[0..jobs)
 * receive those files (-1 where none was made; the caller closes the
 * others, also on failure), at[i] where run i landed. Counts a request
 * per run started and the bytes received.
 */
int arca_fetch__download(arca_transport *t, const arca_fetch_run *runs, size_t n,
		size_t jobs, const char *tmp_dir, int *fds, arca_fetch_landed *at,
		arca_fetch_counts *cnt);

/* Downloads in the background, each run into one file at a known place
 * (a restore reads records as soon as the run that holds them is in). */
typedef struct arca_fetch_dl arca_fetch_dl;
#define ARCA_FETCH_MAX_JOBS 64
/** After each run, on the thread that got it: rc 0 when it is complete
 *  (all runs[i].len bytes at bases[i]). */
typedef void (*arca_fetch_done_fn)(void *ctx, size_t i, int rc);

/**
 * Starts the GETs of runs[0..n) (exactly [off, off + len) each; len
 * known) on up to `jobs` threads, in order, each written at bases[i] of
 * `fd`, calling `done` after each. The first failure stops the others.
 * `cnt` may be read only after the join.
 */
int arca_fetch__dl_start(arca_fetch_dl **out, arca_transport *t, const arca_fetch_run *runs,
		size_t n, size_t jobs, int fd, const uint64_t *bases, arca_fetch_counts *cnt,
		arca_fetch_done_fn done, void *ctx);
/** Makes the running GETs stop soon (ARCA_EUSER); any thread. */
void arca_fetch__dl_cancel(arca_fetch_dl *d);
/** Waits for the threads, frees `d`; the first failure (NULL: 0). */
int arca_fetch__dl_join(arca_fetch_dl *d);

/** An unlinked temporary file in `tmp_dir` (NULL or "": /tmp). */
int arca_fetch__temp_fd(const char *tmp_dir, int *fd);

#endif
