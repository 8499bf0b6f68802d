/* The artifact record: the LMDB value of an artifact, as bytes. */
#ifndef ARCA_STORE_RECORD_H
#define ARCA_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "arca/arca.h"
#include "util/buf.h"

#define ARCA_LABELS_MAX 256
/* Cap on an artifact record (metadata + manifest chunk list). */
#define ARCA_RECORD_MAX (64u << 20)

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
/** Frees what `a` owns (name, tag, labels) and zeroes it. */
void arca_record__artifact_clear(arca_artifact *a);

#endif
