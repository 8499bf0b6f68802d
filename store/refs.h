/* NAME:TAG refs in the index. */
#ifndef ARCA_STORE_REFS_H
#define ARCA_STORE_REFS_H

#include <stddef.h>

#include "store/store.h"

/** Calls cb(name, tag, id) for each ref in `txn`; a non-zero return stops
 *  the walk and is returned. */
int arca_store__refs_walk(arca_store *s, MDB_txn *txn, arca_ref_cb cb, void *payload);
/** Calls fn for each ref as (key, id); stops on non-zero. */
int arca_store__refs_walk_keys(arca_store *s, MDB_txn *txn,
		int (*fn)(const char *key, size_t klen, const arca_id *id, void *ctx), void *ctx);

/** Sets ref "name:tag" to `id` inside a write transaction. */
int arca_store__ref_set(arca_store *s, MDB_txn *txn, const char *name,
		const char *tag, const arca_id *id);

/** Runs `fn` inside the store's writer and commits it (journal first). */
int arca_store__in_write_txn(arca_store *s, int (*fn)(arca_store *, MDB_txn *, void *),
		void *ctx);

#endif
