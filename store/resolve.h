/* Resolving references to artifact ids. */
#ifndef ARCA_STORE_RESOLVE_H
#define ARCA_STORE_RESOLVE_H

#include "store/store.h"

/** Resolves `ref` inside `txn`. */
int arca_store__resolve(arca_id *out, arca_store *s, MDB_txn *txn, const char *ref);
/** The ARCA_ENOTFOUND error for `ref`, naming the refs that do exist. */
int arca_store__unknown_ref(arca_store *s, MDB_txn *txn, const char *ref);

#endif
