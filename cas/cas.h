/*
 * The chunk store: pack files plus the LMDB chunk index.
 *
 * All writes go through one arca_cas_writer, which owns the store's only
 * LMDB write transaction (so writers are serialised across threads and
 * processes by LMDB's own lock, which is released when its holder dies;
 * cas/writelock.h puts a lock in front of it that can time out).
 * Pack bytes are fsync'ed before that transaction commits; anything past a
 * pack's committed length is a torn tail and is cut off by the next writer.
 */
#ifndef ARCA_CAS_CAS_H
#define ARCA_CAS_CAS_H

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>

#include "cas/pack.h"
#include "util/buf.h"
#include "cas/writelock.h"

/* Opaque outside cas/ (its definition: cas/cas_impl.h). */
typedef struct arca_cas arca_cas;

typedef struct {
	uint32_t pack;
	uint64_t offset;      /* of the record (or group) header */
	uint32_t stored_len;  /* record payload; for a group member, the group's */
	uint32_t raw_len;     /* this chunk's */
	uint8_t codec;
	/* group members only */
	uint8_t grouped;
	uint16_t nmembers;
	uint32_t member_off;  /* offset of the chunk in the group's raw bytes */
	uint32_t group_raw;   /* the group's raw length */
} arca_chunk_loc;

#define ARCA_LOC_LEN 24
#define ARCA_LOC_GROUP_LEN 32

/** Bytes the chunk's record occupies in its pack (a group member: its
 *  proportional share of the group record). */
uint64_t arca_chunk_loc_footprint(const arca_chunk_loc *loc);

/**
 * Opens the chunk store of the store directory `dir` (already created).
 * Refuses (ARCA_ECORRUPT, pointing at `arca repair`) an index that is
 * truncated, damaged, or does not describe the pack files present.
 */
int arca_cas_open(arca_cas **out, const char *dir);
/** The same on the index file `index_name` inside `dir`, without the
 *  consistency check (repair builds a new index this way). */
int arca_cas_open_index(arca_cas **out, const char *dir, const char *index_name);

/** The consistency check arca_cas_open makes, on an open index. */
int arca_cas_check_index(arca_cas *cas);

/** Pack numbers of the pack files in packs/, ascending; caller frees. */
int arca_cas_pack_files(arca_cas *cas, uint32_t **nos, size_t *n);
/** Path of pack `no` into `out` (built with arca_buf_setf: ARCA_EINVAL
 *  when it would pass out->max). */
int arca_cas_pack_path(const arca_cas *cas, uint32_t no, arca_buf *out);
/** Sets the chunking parameters journaled at the head of every new pack,
 *  and the store id every meta record is bound to. */
void arca_cas_set_params(arca_cas *cas, uint64_t format, uint32_t cmin, uint32_t cavg,
		uint32_t cmax, const uint8_t store_id[ARCA_STORE_ID_LEN]);
#define ARCA_META_STORE_ID "store.id"
/** The same, waiting for other processes' writers as `wl` says (NULL:
 *  forever). A store this process may not write is opened read-only:
 *  reads work, writes fail with ARCA_EIO "store ... is read-only". */
int arca_cas_open_ex(arca_cas **out, const char *dir, const arca_writelock_config *wl);
void arca_cas_free(arca_cas *cas);

/** Opens (creating if missing) the named databases `names` into `dbis`. */
int arca_cas_open_dbis(arca_cas *cas, const char **names, MDB_dbi **dbis, size_t n);

/** Read-only transaction; the caller aborts it. */
int arca_cas_txn_read(arca_cas *cas, MDB_txn **out);

/** Looks up `id`: 0, ARCA_ENOTFOUND, or ARCA_ECORRUPT for a bad entry. */
int arca_cas_lookup(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		arca_chunk_loc *loc);

/** Encodes into 24 bytes (plain record) or 32 (group member); returns the
 *  length. */
size_t arca_chunk_loc_encode(uint8_t out[ARCA_LOC_GROUP_LEN], const arca_chunk_loc *loc);
int arca_chunk_loc_decode(arca_chunk_loc *loc, const void *p, size_t n);

/** Per-thread scratch for reading chunks. */
typedef struct {
	arca_decoder *dec;
	uint8_t *stored;
	uint8_t *raw;
	size_t stored_cap, raw_cap;
	/* the last group read: consecutive members reuse it; its raw bytes
	 * are decoded up to gout (the stream resumes from gin for more) */
	uint8_t *graw;
	size_t graw_cap;
	uint32_t gpack;
	uint64_t goff;
	int gvalid;
	arca_group g;
	size_t gin, gout;
	/* arca_chunk_reader_set_key: arca_cas_get checks by MAC where it can */
	int keyed;
	uint8_t key[32];
} arca_chunk_reader;

int arca_chunk_reader_init(arca_chunk_reader *r);
/**
 * From now on arca_cas_get checks a chunk that has a MAC under the
 * store's `key` by that MAC (AES-GMAC keyed by the store's secret, with
 * the id as nonce), not by SHA-256: it runs about ten times faster, and a
 * changed byte or a misplaced record fails it as surely (2^-128) unless
 * one knows the key, which lives in the index beside the MACs. Chunks
 * without one, or whose MAC disagrees (a damaged index row), are still
 * hashed. For readers of the store's own packs only; verify keeps SHA-256.
 */
void arca_chunk_reader_set_key(arca_chunk_reader *r, const uint8_t key[32]);
void arca_chunk_reader_release(arca_chunk_reader *r);

/**
 * Reads the chunk at `loc`, checks the record header against `id` and the
 * content against its hash. On success *raw points into the reader's
 * buffer (valid until its next use) and holds loc->raw_len bytes.
 */
int arca_cas_read(arca_cas *cas, const arca_chunk_loc *loc,
		const uint8_t id[32], arca_chunk_reader *r, const uint8_t **raw);

/**
 * Reads, checks (header, member table) and decompresses the group record
 * of group member `loc` into r->graw; *table points at its member table
 * (nmembers entries of id[32] + u32 raw length). Members are not hashed.
 */
int arca_cas_load_group(arca_cas *cas, const arca_chunk_loc *loc, arca_chunk_reader *r,
		const uint8_t **table);

/** Lookup + read. */
int arca_cas_get(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw, uint32_t *len);

/** Counters kept in the meta database. */
#define ARCA_META_CHUNKS "stat.chunks"
#define ARCA_META_UNIQUE "stat.unique_bytes"
#define ARCA_META_STORED "stat.stored_bytes"
#define ARCA_META_PACK_NEXT "pack.next"
#define ARCA_META_MAC_KEY "mac.key"

/** The store's MAC key: 1 with `key` filled, 0 when it has none yet. */
int arca_cas_mac_key(arca_cas *cas, MDB_txn *txn, uint8_t key[32]);
/** The chunk's MAC: 1 with `tag` filled, 0 when none was recorded. */
int arca_cas_mac_get(arca_cas *cas, MDB_txn *txn, const uint8_t id[32], uint8_t tag[16]);



/** Every LMDB write transaction goes through these: they take the
 *  writer lock (cas/writelock.h) first and drop it after commit/abort. */
int arca_cas_write_txn_begin(arca_cas *cas, MDB_txn **out);
/** Commits and drops the lock, also on failure. */
int arca_cas_write_txn_commit(arca_cas *cas, MDB_txn *txn);
/** Aborts and drops the lock. NULL ok. */
void arca_cas_write_txn_abort(arca_cas *cas, MDB_txn *txn);

/** Translates an LMDB return code into an arca error with context. */
int arca_lmdb_error(int mdb_rc, const char *what);

typedef struct arca_cas_writer arca_cas_writer;

/**
 * Starts the (only) write transaction, waiting for any other writer, and
 * repairs torn pack tails left by a crashed writer. Must be used, committed
 * or aborted on the thread that began it.
 */
int arca_cas_writer_begin(arca_cas_writer **out, arca_cas *cas);
MDB_txn *arca_cas_writer_txn(arca_cas_writer *w);
/** 1 when the chunk is in the index (committed or added by this writer). */
int arca_cas_writer_has(arca_cas_writer *w, const uint8_t id[32]);
/**
 * Appends a chunk record unless the id is already present. `stored` is
 * the payload in `codec` form. *added (may be NULL) tells which.
 */
int arca_cas_writer_put(arca_cas_writer *w, const uint8_t id[32],
		uint32_t raw_len, uint8_t codec, const void *stored,
		uint32_t stored_len, int *added);
/**
 * Appends a group record holding `n` chunks (ids[i], lens[i]) whose raw
 * bytes, concatenated, are `stored` in `codec` form, and indexes the
 * members not yet present. *added / *added_raw (may be NULL) count them.
 * Nothing is written when every member is already present.
 */
int arca_cas_writer_put_group(arca_cas_writer *w, const uint8_t (*ids)[32],
		const uint32_t *lens, uint32_t n, uint8_t codec, const void *stored,
		uint32_t stored_len, uint64_t *added, uint64_t *added_raw);
/** Stores `raw` as a new plain record for an id already indexed (moved
 *  out of a group by gc) and points the index at it. */
int arca_cas_writer_rewrite(arca_cas_writer *w, const uint8_t id[32], const void *raw,
		uint32_t len, int level, arca_chunk_loc *out);
/** Hashes, compresses (at `level`) and puts `raw`; for small side data. */
int arca_cas_writer_put_raw(arca_cas_writer *w, const void *raw,
		uint32_t len, int level, uint8_t id_out[32]);
/** Appends a copy of an existing record (stored payload `stored`, as
 *  described by `old`) to the current pack; the caller updates the index
 *  entry to *out. Used to repack. */
int arca_cas_writer_move(arca_cas_writer *w, const uint8_t id[32], const arca_chunk_loc *old,
		const void *stored, arca_chunk_loc *out);
/** Makes the next append start a new pack file. */
void arca_cas_writer_new_pack(arca_cas_writer *w);
/** Drops pack `no` from the live packs; its file is deleted later by
 *  arca_cas_reap_dead_packs(), once no reader can still use it. */
int arca_cas_writer_retire_pack(arca_cas_writer *w, uint32_t no);
/** Adjusts the chunk counters committed with the transaction. */
int arca_cas_writer_add_stats(arca_cas_writer *w, int64_t chunks, int64_t unique, int64_t stored);
/** Deletes retired pack files that no live reader's snapshot can still
 *  reference (per LMDB's reader table). Uses its own write transaction. */
int arca_cas_reap_dead_packs(arca_cas *cas, uint64_t *deleted, uint64_t *pending);

/** The store's MAC key (created by the first writer that needs it). */
const uint8_t *arca_cas_writer_mac_key(arca_cas_writer *w);
/** Records a chunk's MAC (keeps an existing one). */
int arca_cas_writer_put_mac(arca_cas_writer *w, const uint8_t id[32], const uint8_t tag[16]);

/* ---- journal: metadata records in packs (cas/journal.c) ---- */

/** Where a meta record lives (LMDB `journal` value, 18 bytes). */
typedef struct {
	uint32_t pack;
	uint64_t offset;      /* of the record header */
	uint32_t len;         /* payload bytes */
	uint8_t type, flags;
} arca_journal_loc;

#define ARCA_JOURNAL_LOC_LEN 18
#define ARCA_META_JOURNAL_SEQ "journal.seq"
#define ARCA_META_JOURNAL_ON "journal.on"

void arca_journal_loc_encode(uint8_t out[ARCA_JOURNAL_LOC_LEN], const arca_journal_loc *l);
int arca_journal_loc_decode(arca_journal_loc *l, const void *p, size_t n);

/**
 * Appends a meta record of `type` whose payload is a then b (either may
 * be empty) to the writer's pack, and indexes it in `journal`. *seq (may
 * be NULL) receives its sequence number.
 */
int arca_cas_writer_journal(arca_cas_writer *w, uint8_t type, uint8_t flags,
		const void *a, size_t alen, const void *b, size_t blen, uint64_t *seq);
/** Drops the journal entries older than `seq` from the index (their
 *  records stay in the packs, superseded by a checkpoint). */
int arca_cas_writer_journal_trim(arca_cas_writer *w, uint64_t seq);
/** The writer whose transaction is `txn`, or NULL. */
arca_cas_writer *arca_cas_writer_of(arca_cas *cas, MDB_txn *txn);
/** Reads and checks the payload of the meta record at `l` into `out`
 *  (l->len bytes). */
int arca_cas_read_meta(arca_cas *cas, const arca_journal_loc *l, uint64_t seq, uint8_t *out);

/** Writes this writer's buffered pack bytes to its pack file (not durable
 *  yet), so that its own chunks can be read back through its txn. */
int arca_cas_writer_flush(arca_cas_writer *w);

/** Marks chunk `id` as lost (dropped from the index). */
int arca_cas_writer_mark_damaged(arca_cas_writer *w, const uint8_t id[32]);

/** Makes pack data durable, then commits. Frees the writer. */
int arca_cas_writer_commit(arca_cas_writer *w);
/** Rolls back; appended bytes are cut off. Frees the writer. NULL ok. */
void arca_cas_writer_abort(arca_cas_writer *w);

/* ---- for the layers above: no reaching into the index's tables ---- */

/** The store's packs/ directory; owned by the handle. */
const char *arca_cas_packdir(const arca_cas *cas);
/** 1 when this process may only read the store (writes fail). */
int arca_cas_readonly(const arca_cas *cas);
#define ARCA_CAS_PARAMS_LEN 48
/** The PARAMS payload (arca_cas_set_params) put at the head of new packs:
 *  4 x u64 params, then the store id; ARCA_CAS_PARAMS_LEN bytes owned by
 *  the handle, zero until set. */
const uint8_t *arca_cas_params(const arca_cas *cas);
/** Size at which the writer starts a new pack (tests use small ones). */
void arca_cas_set_pack_target(arca_cas *cas, uint32_t bytes);

/** u64 counters and settings in the meta table: a missing key reads 0. */
int arca_cas_meta_get_u64(arca_cas *cas, MDB_txn *txn, const char *key, uint64_t *out);
int arca_cas_meta_put_u64(arca_cas *cas, MDB_txn *txn, const char *key, uint64_t v);
int arca_cas_meta_add_u64(arca_cas *cas, MDB_txn *txn, const char *key, int64_t delta);
/** The store id in meta: 1 with `id` filled, 0 when there is none. */
int arca_cas_store_id_get(arca_cas *cas, MDB_txn *txn, uint8_t id[ARCA_STORE_ID_LEN]);
/** Records `id` as the store id. */
int arca_cas_store_id_put(arca_cas *cas, MDB_txn *txn, const uint8_t id[ARCA_STORE_ID_LEN]);

/** Live packs in `txn`: how many, and their committed bytes. */
int arca_cas_pack_totals(arca_cas *cas, MDB_txn *txn, uint64_t *count, uint64_t *bytes);
/** The LMDB map's size and the bytes of it in use (the index's size). */
void arca_cas_map_usage(arca_cas *cas, uint64_t *map_size, uint64_t *used);

/*
 * Iterators over the index's tables, in key order, inside `txn`. Each
 * next() returns 0 with the entry, ARCA_ITER_END past the last one,
 * ARCA_ECORRUPT for a malformed entry (iteration may go on past it), or
 * another error. Free with arca_cas_iter_free (NULL ok).
 */
typedef struct arca_cas_iter arca_cas_iter;
#define ARCA_ITER_END 1
void arca_cas_iter_free(arca_cas_iter *it);

int arca_cas_chunks_iter(arca_cas_iter **out, arca_cas *cas, MDB_txn *txn);
/** Entries in the chunk index in `txn` (0 when it cannot tell): a total
 *  for progress reports. */
uint64_t arca_cas_chunks_count(arca_cas *cas, MDB_txn *txn);
/** *id points at the entry's id (valid until the iterator moves); on
 *  ARCA_ECORRUPT it is NULL when the key is bad, set when only the
 *  location is. */
int arca_cas_chunks_next(arca_cas_iter *it, const uint8_t **id, arca_chunk_loc *loc);
/** Deletes the current entry and its MAC (the writer's txn); the next
 *  next() returns the entry after it. */
int arca_cas_chunks_delete(arca_cas_iter *it);
/** Points the current entry at `loc` (the writer's txn). */
int arca_cas_chunks_update(arca_cas_iter *it, const arca_chunk_loc *loc);

/** Live packs (`retired` 0: value = committed length) or retired ones
 *  (1: value = id of the txn that retired it). */
int arca_cas_packs_iter(arca_cas_iter **out, arca_cas *cas, MDB_txn *txn, int retired);
/** On ARCA_ECORRUPT, *no is still set (0 when the key is bad) and *value
 *  when the value has the right size (else 0). */
int arca_cas_packs_next(arca_cas_iter *it, uint32_t *no, uint64_t *value);

int arca_cas_journal_iter(arca_cas_iter **out, arca_cas *cas, MDB_txn *txn);
/** *seq is 0 when the key is malformed (then 0 or ARCA_ECORRUPT follows
 *  the location alone). */
int arca_cas_journal_next(arca_cas_iter *it, uint64_t *seq, arca_journal_loc *l);

/** A record as it is stored in its pack. */
typedef struct {
	uint8_t codec;
	uint32_t raw_len;        /* the record's (a group's: all members) */
	uint32_t stored_len;     /* payload bytes at `stored` */
	uint16_t nmembers;       /* 0: a plain record */
	const uint8_t *table;    /* group only: nmembers x (id[32], u32 raw length) */
	const uint8_t *stored;   /* the payload in `codec` form */
} arca_stored_record;

/**
 * Reads the record at `loc` without decompressing it (for a group member:
 * its whole group record), bounds-checked and checked against its header
 * and the index entry (plain records: also against `id`). Pointers in
 * *out point into the reader (valid until its next use).
 */
int arca_cas_read_stored(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		arca_chunk_reader *r, arca_stored_record *out);

/* ---- rebuilding an index (repair; cas/rebuild.c) ---- */

/** Pack numbers of the pack files of store directory `dir` (no index
 *  needed); caller frees. */
int arca_cas_dir_pack_files(const char *dir, uint32_t **nos, size_t *n);
/** 1 with `id` filled when pack `no` of `dir` starts with an intact PARAMS
 *  record, 0 when not. */
int arca_cas_pack_store_id(const char *dir, uint32_t no, uint8_t id[ARCA_STORE_ID_LEN]);
/** Takes the writer lock without waiting / drops it. */
int arca_cas_lock_now(arca_cas *cas);
void arca_cas_unlock(arca_cas *cas);
/** A write transaction without the writer lock: the caller holds the
 *  store's (arca_cas_lock_now on the old index). */
int arca_cas_rebuild_begin(arca_cas *cas, MDB_txn **out);
/** Indexes chunk `id` at `loc`: 0, or 1 when it already was (kept). */
int arca_cas_rebuild_chunk(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		const arca_chunk_loc *loc);
int arca_cas_rebuild_mac(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		const uint8_t tag[16]);
/** Records pack `no` as live with `len` committed bytes / as retired. */
int arca_cas_rebuild_pack(arca_cas *cas, MDB_txn *txn, uint32_t no, uint64_t len);
int arca_cas_rebuild_dead_pack(arca_cas *cas, MDB_txn *txn, uint32_t no);
/** Indexes the meta record at `l` as journal entry `seq`. */
int arca_cas_rebuild_journal(arca_cas *cas, MDB_txn *txn, uint64_t seq,
		const arca_journal_loc *l);
/** Records the MAC key and the store id. */
int arca_cas_rebuild_keys(arca_cas *cas, MDB_txn *txn, const uint8_t key[32],
		const uint8_t store_id[ARCA_STORE_ID_LEN]);
/** Marks the `n` chunks `ids` lost in a transaction of its own; *count
 *  receives how many are marked in all. */
int arca_cas_rebuild_mark_lost(arca_cas *cas, const uint8_t *ids, size_t n, uint64_t *count);
/** What a pack scan calls for each record header found: 0 when the
 *  record checked out (or some group members did), 1 when it was rejected
 *  whole, or an error (ends the scan). */
typedef struct {
	int (*chunk)(void *ctx, uint32_t no, uint64_t off, const arca_record *rec);
	int (*group)(void *ctx, uint32_t no, uint64_t off, const arca_group *g);
	/* `fd` reads the pack: the payload follows the header */
	int (*meta)(void *ctx, int fd, uint32_t no, uint64_t off, const arca_meta_hdr *m);
	void *ctx;
} arca_cas_scan_ops;
typedef struct {
	uint64_t records_damaged, bytes_skipped, bytes_truncated, headers_fixed;
	int opened;              /* the pack was opened and stat'ed */
} arca_cas_scan_stats;
/**
 * Walks pack `no` record by record (cas/scan.c): rewrites a damaged pack
 * header, skips damage to the next good header, cuts a torn tail, makes
 * the file 0600 and durable. *len receives the length it ends at.
 */
int arca_cas_scan_pack(arca_cas *cas, uint32_t no, const arca_cas_scan_ops *ops,
		arca_cas_scan_stats *ss, uint64_t *len);
/** Flushes the index to disk. */
int arca_cas_rebuild_sync(arca_cas *cas);


#endif
