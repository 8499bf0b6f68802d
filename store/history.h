/* Per-name history of artifacts (store/prune.c). */
#ifndef ARCA_STORE_HISTORY_H
#define ARCA_STORE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

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
/** Deletes every history entry, of any name, of the `n` artifacts `ids`. */
int arca_store__history_drop(arca_store *s, MDB_txn *txn, const arca_id *ids, size_t n);
/** 0 when `parent` may be the parent of the new artifact `child`: ARCA_EINVAL
 *  when `child` is among the ancestors of `parent` (a cycle) or they are
 *  more than ARCA_ANCESTRY_MAX, ARCA_ECORRUPT when they loop already. */
int arca_store__check_parent(arca_store *s, MDB_txn *txn, const arca_id *parent,
		const arca_id *child);

#endif
