/*
 * fuzz_artifact_rec: artifact records (the LMDB value of an artifact) on
 * hostile bytes.
 *
 * arca_artifact_rec_decode with a fixed id; on success the record must
 * re-encode with arca_artifact_rec_encode to exactly the input bytes
 * (one record, one encoding), and arca_artifact_rec_clear must free all
 * of it (LeakSanitizer checks both the success and the failure paths).
 *
 * fuzz/crashes/fuzz_artifact_rec-* are inputs of findings fixed in the
 * library (5b4c3f9); run.sh replays them as regression tests.
 */
#include "arca/arca.h"
#include "cas/chunker.h"
#include "store/record.h"
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_artifact_rec.c:%d: property violated: %s\n", line, what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const arca_id id = { {
		0xa7, 0x0c, 0xa0, 0x01, 0x5e, 0xed, 0xf0, 0x0d, 0x11, 0x22, 0x33, 0x44,
		0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 } };
	arca_artifact_rec rec;
	arca_buf out = ARCA_BUF_INIT(ARCA_RECORD_MAX);
	int rc;

	if (arca_artifact_rec_decode(&rec, &id, data, size) != 0)
		return 0;

	CHECK(memcmp(rec.a.id.bytes, id.bytes, 32) == 0);
	CHECK(rec.a.kind == ARCA_KIND_TREE || rec.a.kind == ARCA_KIND_IMAGE);
	CHECK(rec.a.data_bytes <= rec.a.logical_bytes);
	CHECK(rec.a.nlabels <= ARCA_LABELS_MAX);
	for (size_t i = 0; i < rec.a.nlabels; i++)
		CHECK(rec.a.labels[i].key && rec.a.labels[i].key[0] &&
			rec.a.labels[i].value);
	for (uint32_t i = 0; i < rec.nchunks; i++)
		CHECK(rec.chunk_lens[i] > 0 && rec.chunk_lens[i] <= ARCA_CHUNK_MAX_LIMIT);

	rc = arca_artifact_rec_encode(&out, &rec);
	CHECK(rc == 0);
	if (out.len != size || memcmp(out.ptr, data, size) != 0) {
		fprintf(stderr, "fuzz_artifact_rec: record of %zu bytes decodes but "
			"re-encodes to %zu different bytes\n", size, out.len);
		for (size_t i = 0; i < size && i < out.len; i++)
			if (out.ptr[i] != data[i]) {
				fprintf(stderr, "first difference at byte %zu: input %02x, "
					"re-encoded %02x\n", i, data[i], out.ptr[i]);
				break;
			}
		fail(__LINE__, "re-encoded record == input");
	}
	arca_buf_release(&out);
	arca_artifact_rec_clear(&rec);
	return 0;
}
