/* Metadata changes, journaled into the packs (store/journal.c). */
#ifndef ARCA_STORE_JOURNAL_H
#define ARCA_STORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

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
/** Sets remote `name` to `config` (n bytes of text, no NUL). */
int arca_store__remote_put(arca_store *s, MDB_txn *txn, const char *name, const void *config,
		size_t n);
/** Deletes remote `name` (and its cache entries); ARCA_ENOTFOUND (no
 *  detail) when absent. */
int arca_store__remote_del(arca_store *s, MDB_txn *txn, const char *name);
/** Sets env `name`'s record to `rec` (n bytes of text, no NUL). */
int arca_store__env_rec_put(arca_store *s, MDB_txn *txn, const char *name, const void *rec,
		size_t n);
/** Deletes env `name`'s record; ARCA_ENOTFOUND (no detail) when absent. */
int arca_store__env_rec_del(arca_store *s, MDB_txn *txn, const char *name);
/** Journals the whole state as a checkpoint that supersedes older records. */
int arca_store__checkpoint(arca_store *s, arca_cas_writer *w);
/** Journals a history entry. */
int arca_store__journal_history(arca_store *s, MDB_txn *txn, const char *name,
		const arca_id *id, int64_t time_ns);

#endif
