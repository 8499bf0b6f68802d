/*
 * Remote pack objects (docs/FORMAT.md, "Pack object"): building one from
 * a store's records without decompressing them (push, export), and taking
 * one in, record by record, checking every chunk before it is staged in a
 * store's write (pull, import). Shared by the remote engine and bundles.
 */
#ifndef ARCA_SYNC_RPACK_H
#define ARCA_SYNC_RPACK_H

#include <stddef.h>
#include <stdint.h>

#include "cas/cas.h"
#include "cas/hash.h"
#include "store/store.h"
#include "sync/layout.h"
#include "util/buf.h"

/* ---- building ---- */

typedef struct arca_rpack_builder arca_rpack_builder;

/**
 * Starts a pack object written to `fd` (a temporary file the caller owns,
 * empty), hashing as it goes. The caller then adds chunks; records are
 * copied as stored (arca_cas_read_stored), a group record once for all
 * its members.
 */
int arca_rpack_builder_new(arca_rpack_builder **out, arca_store *s, int fd);
/** Adds the record that holds chunk `id` (looked up in `txn`) unless this
 *  pack has it already. *size is the pack's size after it. */
int arca_rpack_builder_add(arca_rpack_builder *b, MDB_txn *txn, const uint8_t id[32],
		uint64_t *size);
/** Bytes written so far (for cutting packs at ARCA_REMOTE_PACK_TARGET). */
uint64_t arca_rpack_builder_size(const arca_rpack_builder *b);
/** Ends the pack: *sha = its name, `index` = its encoded index, every
 *  chunk id it holds listed once (members of copied groups included). */
int arca_rpack_builder_finish(arca_rpack_builder *b, uint8_t sha[32], arca_buf *index);
void arca_rpack_builder_free(arca_rpack_builder *b);

/* ---- taking in ---- */

typedef struct arca_rpack_reader arca_rpack_reader;

/** Which chunks to keep: 1 keep, 0 skip (the store has it, or not needed),
 *  2 check and pass to the tap even when the writer has it already. */
typedef int (*arca_rpack_want_fn)(const uint8_t id[32], void *ctx);
/** Sees the raw bytes of each chunk the reader checked (hashed) and kept;
 *  they are valid during the call only. Non-zero stops the reader. */
typedef int (*arca_rpack_tap_fn)(const uint8_t id[32], const uint8_t *raw, uint32_t len,
		void *ctx);

/**
 * Takes in the bytes of pack object `sha` (whole, as a stream; or, with
 * `from_offset`, a run of whole records starting at that offset) and
 * stages each wanted chunk into writer `w` after checking its record and
 * its hash (a group: every member, once decompressed). Bytes arrive
 * through arca_rpack_reader_feed in any pieces; memory stays bounded by
 * one record. For a whole pack the SHA-256 of all bytes must equal `sha`
 * at finish (ARCA_ECORRUPT otherwise).
 */
int arca_rpack_reader_new(arca_rpack_reader **out, arca_cas_writer *w, const uint8_t sha[32],
		uint64_t from_offset, arca_rpack_want_fn want, void *ctx);
/** Passes every chunk kept to `tap` (the same ctx as `want`). */
void arca_rpack_reader_tap(arca_rpack_reader *r, arca_rpack_tap_fn tap);
/** An arca_transport_sink: feeds bytes. */
int arca_rpack_reader_feed(void *reader, const void *p, size_t n);
/** Checks the stream ended on a record boundary (and the hash, for a whole
 *  pack). *chunks (may be NULL) = chunks staged. */
int arca_rpack_reader_finish(arca_rpack_reader *r, uint64_t *chunks);
void arca_rpack_reader_free(arca_rpack_reader *r);

/* ---- checking apart from staging: pull checks on many threads, the
 * writer's thread stages ---- */

/** One thread's decompression state and buffers. */
typedef struct arca_rpack_checker arca_rpack_checker;
int arca_rpack_checker_new(arca_rpack_checker **out);
void arca_rpack_checker_free(arca_rpack_checker *c);

/** What a check found in a span: the records to stage, and their MACs. */
typedef struct {
	arca_buf recs;            /* uint32 offsets into the span, in order */
	arca_buf tags;            /* ARCA_MAC_LEN per chunk of those records */
	size_t bad_at;            /* after a failure: the record that failed */
} arca_rpack_batch;
#define ARCA_RPACK_BATCH_INIT { ARCA_BUF_INIT(SIZE_MAX), ARCA_BUF_INIT(SIZE_MAX), 0 }

/**
 * Checks span[0..n), whole records of a pack object (a piece cut at
 * record boundaries): every record with a chunk `want` answers non-zero
 * for (NULL: all) is decompressed, each of its chunks hashed and its MAC
 * under `key` made, into `b`. ARCA_ECORRUPT when a record is damaged or
 * the span ends inside one. Any thread, one checker each; `want` is
 * called on it.
 */
int arca_rpack_check(arca_rpack_checker *c, const uint8_t *span, size_t n,
		const uint8_t key[ARCA_MAC_KEY_LEN], arca_rpack_want_fn want, void *ctx,
		arca_rpack_batch *b);
/** Stages what `b` found in `span` into `w` (the writer's thread);
 *  *staged += chunks the writer did not have. */
int arca_rpack_stage(arca_rpack_checker *c, arca_cas_writer *w, const uint8_t *span,
		const arca_rpack_batch *b, uint64_t *staged);
void arca_rpack_batch_release(arca_rpack_batch *b);

#endif
