/* Artifact records in the index, and opening an artifact's manifest. */
#ifndef ARCA_STORE_ARTIFACT_H
#define ARCA_STORE_ARTIFACT_H

#include "store/store.h"
#include "store/manifest.h"
#include "store/mfio.h"
#include "store/record.h"

int arca_artifact_rec_get(arca_artifact_rec *rec, arca_store *s, MDB_txn *txn,
		const arca_id *id);

/** Called for each artifact record; a non-zero return stops the walk. */
typedef int (*arca_record_fn)(arca_store *s, MDB_txn *txn, const arca_artifact_rec *rec,
		void *ctx);
/** Calls fn for every artifact record in `txn`, in id order; a damaged key
 *  or record stops the walk with ARCA_ECORRUPT. */
int arca_store__records_walk(arca_store *s, MDB_txn *txn, arca_record_fn fn, void *ctx);

/**
 * Resolves `ref`, loads its record and opens its manifest past the header:
 * *kind is the artifact kind. The caller frees *in and clears *rec.
 */
int arca_store__open_manifest(arca_store *s, const char *ref, arca_artifact_rec *rec,
		arca_mf_in **in, arca_mf_reader *r, int *kind);

#endif
