/* Manifest I/O: manifest bytes to chunks in the store and back. */
#ifndef ARCA_STORE_MFIO_H
#define ARCA_STORE_MFIO_H

#include "store/store.h"
#include "store/record.h"
#include "store/chunksrc.h"

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
/** The same with the manifest chunks from `src` (copied; its ctx must
 *  outlive the reader); `rec` too is only borrowed. */
int arca_mf_in_new_src(arca_mf_in **out, const arca_chunk_source *src,
		const arca_artifact_rec *rec);
/** Reader callback for arca_mf_reader. */
int arca_mf_in_read(void *ctx, void *p, size_t n);
void arca_mf_in_free(arca_mf_in *in);

/** Stores raw manifest bytes as an artifact (tests and tools). */
int arca_store__put_manifest(arca_id *out, arca_store *s, const void *p, size_t n,
		int kind);

#endif
