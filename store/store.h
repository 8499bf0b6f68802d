/* Internal view of a store: the chunk store plus artifact metadata. */
#ifndef ARCA_STORE_STORE_H
#define ARCA_STORE_STORE_H

#include <sys/stat.h>

#include "arca/arca.h"
#include "cas/cas.h"
#include "cas/hash.h"
#include "store/manifest.h"
#include "util/buf.h"

#define ARCA_STORE_FORMAT 1
#define ARCA_NAME_MAX 255
#define ARCA_TAG_MAX 128
#define ARCA_LABELS_MAX 256
/* Cap on an artifact record (metadata + manifest chunk list). */
#define ARCA_RECORD_MAX (64u << 20)

struct arca_store {
	char *dir;
	arca_cas *cas;
	MDB_dbi dbi_artifacts;  /* id[32] -> artifact record */
	MDB_dbi dbi_refs;       /* "name:tag" -> id[32] */
	MDB_dbi dbi_files;      /* id[32] + sha256(path) -> file_stat (40) */
	MDB_dbi dbi_files_stage;/* sha256(path) -> file_stat, during a snapshot */
	MDB_dbi dbi_history;    /* name + 0 + u64be seq -> id[32] + i64le ns */
	uint32_t chunk_min, chunk_avg, chunk_max;
	int zstd_level;
	unsigned threads;
};

/* Stored form of an artifact: arca_artifact plus its manifest chunks. */
typedef struct {
	arca_artifact a;
	uint32_t nchunks;
	uint8_t (*chunk_ids)[32];
	uint32_t *chunk_lens;
} arca_artifact_rec;

int arca_artifact_rec_encode(arca_buf *out, const arca_artifact_rec *rec);
/** Parses a record (hostile bytes); free with arca_artifact_rec_clear. */
int arca_artifact_rec_decode(arca_artifact_rec *rec, const arca_id *id,
		const void *p, size_t n);
void arca_artifact_rec_clear(arca_artifact_rec *rec);

int arca_artifact_rec_get(arca_artifact_rec *rec, arca_store *s, MDB_txn *txn,
		const arca_id *id);

/** Called for each artifact record; a non-zero return stops the walk. */
typedef int (*arca_record_fn)(arca_store *s, MDB_txn *txn, const arca_artifact_rec *rec,
		void *ctx);
/** Calls fn for every artifact record in `txn`, in id order; a damaged key
 *  or record stops the walk with ARCA_ECORRUPT. */
int arca_store__records_walk(arca_store *s, MDB_txn *txn, arca_record_fn fn, void *ctx);

/** Resolves `ref` inside `txn`. */
int arca_store__resolve(arca_id *out, arca_store *s, MDB_txn *txn, const char *ref);

/** Checks a name, tag or label key: 1..max of [A-Za-z0-9._-], not
 *  starting with '.' or '-'; with allow_slash, '/'-separated parts that
 *  are each such a word (no empty, "." or ".." parts, no leading or
 *  trailing '/'). */
int arca_store__check_word(const char *what, const char *v, size_t max, int allow_slash);
/** Splits and checks "NAME:TAG" into name (ARCA_NAME_MAX+1) and tag
 *  (ARCA_TAG_MAX+1) buffers. */
int arca_store__split_ref(const char *name_tag, char *name, char *tag);

/** Calls cb(name, tag, id) for each ref in `txn`; a non-zero return stops
 *  the walk and is returned. */
int arca_store__refs_walk(arca_store *s, MDB_txn *txn, arca_ref_cb cb, void *payload);

/** Sets ref "name:tag" to `id` inside a write transaction. */
int arca_store__ref_set(arca_store *s, MDB_txn *txn, const char *name,
		const char *tag, const arca_id *id);

/* ---- metadata changes, journaled into the packs (store/journal.c) ---- */

/** Begins the store's writer (a store without a journal gets one). */
int arca_store__writer_begin(arca_cas_writer **out, arca_store *s);
/** Adds or replaces artifact record `rec` of `id`. */
int arca_store__art_put(arca_store *s, MDB_txn *txn, const arca_id *id, const void *rec,
		size_t n);
/** Removes an artifact record (and its files cache); ARCA_ENOTFOUND. */
int arca_store__art_del(arca_store *s, MDB_txn *txn, const arca_id *id);
/** Sets ref `key` ("NAME:TAG", klen bytes) to `id`. */
int arca_store__ref_put(arca_store *s, MDB_txn *txn, const char *key, size_t klen,
		const arca_id *id);
/** Deletes ref `key`; ARCA_ENOTFOUND (no detail) when absent. */
int arca_store__ref_del(arca_store *s, MDB_txn *txn, const char *key, size_t klen);
/** Journals the whole state as a checkpoint that supersedes older records. */
int arca_store__checkpoint(arca_store *s, arca_cas_writer *w);

/* ---- per-name history (prune.c) ---- */

/** Longest ancestor chain followed (parent checks, log). */
#define ARCA_ANCESTRY_MAX 100000

/** Appends (id, now) to the history of `name`: the only writer of new
 *  history entries, so they can be journaled in one place. */
int arca_store__history_add(arca_store *s, MDB_txn *txn, const char *name,
		const arca_id *id);
/** Appends a history entry with the given time, without journaling it
 *  (repair replays journaled ones this way). */
int arca_store__history_put(arca_store *s, MDB_txn *txn, const char *name, size_t n,
		const arca_id *id, int64_t time_ns);
/** Journals a history entry (store/journal.c). */
int arca_store__journal_history(arca_store *s, MDB_txn *txn, const char *name,
		const arca_id *id, int64_t time_ns);
/** Deletes every history entry, of any name, of the `n` artifacts `ids`. */
int arca_store__history_drop(arca_store *s, MDB_txn *txn, const arca_id *ids, size_t n);
/** 0 when `parent` may be the parent of the new artifact `child`: ARCA_EINVAL
 *  when `child` is among the ancestors of `parent` (a cycle) or they are
 *  more than ARCA_ANCESTRY_MAX, ARCA_ECORRUPT when they loop already. */
int arca_store__check_parent(arca_store *s, MDB_txn *txn, const arca_id *parent,
		const arca_id *child);

/* ---- reachable chunks (store/reach.c) ---- */

/** Called for each chunk an artifact needs (`manifest` set for its
 *  manifest's own chunks); a non-zero return stops the walk and is
 *  returned. */
typedef int (*arca_reach_fn)(const uint8_t id[32], uint32_t len, int manifest, void *ctx);
/**
 * Walks every chunk artifact `rec` needs: its manifest chunks, then every
 * data extent in manifest order (a chunk may come more than once). A
 * manifest that cannot be read or parsed ends the walk with its error
 * (ARCA_ECORRUPT for damage) after what could be read was reported.
 */
int arca_store__reach(arca_store *s, const arca_artifact_rec *rec, arca_reach_fn fn, void *ctx);

/* ---- files cache ---- */

/* What identifies a file's content without reading it. */
typedef struct {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
} arca_file_stat;

#define ARCA_FILE_STAT_LEN 40

void arca_file_stat_from(arca_file_stat *fs, const struct stat *st);
void arca_file_stat_encode(uint8_t out[ARCA_FILE_STAT_LEN], const arca_file_stat *fs);
/** 1 when the cache holds (artifact, path) with exactly this stat. */
int arca_files_cache_match(arca_store *s, MDB_txn *txn, const arca_id *artifact,
		const char *path, size_t len, const arca_file_stat *fs);
/** Key of the cache: artifact id + SHA-256 of the path. */
int arca_files_cache_key(uint8_t key[64], const arca_id *artifact, const char *path, size_t len);
/** Deletes every cache entry of `artifact`. */
int arca_files_cache_drop(arca_store *s, MDB_txn *txn, const arca_id *artifact);

/* ---- manifest output: bytes -> chunks in the store ---- */

typedef struct arca_mf_out arca_mf_out;

int arca_mf_out_new(arca_mf_out **out, arca_store *s, arca_cas_writer *w);
/** Byte writer callback for arca_mf_writer. */
int arca_mf_out_write(void *ctx, const void *p, size_t n);
/** Stores the tail, then fills rec->a.id, manifest_bytes and chunk list. */
int arca_mf_out_finish(arca_mf_out *o, arca_artifact_rec *rec);
void arca_mf_out_free(arca_mf_out *o);

/* ---- manifest input: chunks in the store -> bytes ---- */

typedef struct arca_mf_in arca_mf_in;

/** Streams the manifest of `rec`, checking every chunk and, at the end,
 *  that the bytes hash to the artifact id. Uses its own read txn. */
int arca_mf_in_new(arca_mf_in **out, arca_store *s, const arca_artifact_rec *rec);
/** Reader callback for arca_mf_reader. */
int arca_mf_in_read(void *ctx, void *p, size_t n);
void arca_mf_in_free(arca_mf_in *in);

/**
 * Resolves `ref`, loads its record and opens its manifest past the header:
 * *kind is the artifact kind. The caller frees *in and clears *rec.
 */
int arca_store__open_manifest(arca_store *s, const char *ref, arca_artifact_rec *rec,
		arca_mf_in **in, arca_mf_reader *r, int *kind);

/** Stores raw manifest bytes as an artifact (tests and tools). */
int arca_store__put_manifest(arca_id *out, arca_store *s, const void *p, size_t n,
		int kind);

#endif
