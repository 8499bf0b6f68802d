/*
 * fuzz_record: pack headers, chunk records and chunk index entries on
 * hostile bytes.
 *
 *  - arca_pack_header_decode on the first bytes of the input;
 *  - arca_chunk_loc_decode on the first 24 bytes (crash/UB only: bytes
 *    21..23 are padding that the decoder ignores, so no byte round trip);
 *  - arca_record_decode on the input; when it succeeds,
 *    arca_record_encode(decoded) must equal the first 64 bytes, and when
 *    the payload (stored_len bytes after the header) is in the input,
 *    arca_record_unpack into a raw_len buffer must fail cleanly on garbage
 *    and, when it succeeds, have produced bytes that hash to the id.
 *
 * The record header carries a checksum that random mutations almost never
 * keep valid, so the record checks also run on a copy of the input whose
 * checksum field (bytes 60..63: first four bytes, little endian, of the
 * SHA-256 of bytes 0..59, docs/FORMAT.md) is recomputed. That lets the
 * fuzzer reach the field checks and the zstd decoder.
 */
#include "arca/arca.h"
#include "cas/cas.h"
#include "cas/hash.h"
#include "cas/pack.h"
#include "cas/chunker.h"
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_record.c:%d: property violated: %s\n", line, what);
	abort();
}

static arca_decoder *dec;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (arca_decoder_new(&dec) != 0)
		abort();
	return 0;
}

static void check_record(const uint8_t *p, size_t n)
{
	arca_record r;
	uint8_t hdr[ARCA_RECORD_HEADER_LEN], digest[32];
	uint8_t *raw;
	int rc;

	if (arca_record_decode(&r, p, n) != 0)
		return;
	CHECK(r.codec == ARCA_CODEC_RAW || r.codec == ARCA_CODEC_ZSTD);
	CHECK(r.raw_len > 0 && r.raw_len <= ARCA_CHUNK_MAX_LIMIT);
	CHECK(r.stored_len > 0 && r.stored_len <= arca_record_stored_max());
	arca_record_encode(hdr, &r);
	CHECK(memcmp(hdr, p, ARCA_RECORD_HEADER_LEN) == 0);

	if (n - ARCA_RECORD_HEADER_LEN < r.stored_len)
		return;
	/* Exact sizes, so ASan sees any access past either buffer (the
	 * payload ends exactly at the end of libFuzzer's input buffer when
	 * stored_len covers the rest of the input). */
	raw = malloc(r.raw_len);
	if (!raw)
		return;
	rc = arca_record_unpack(dec, &r, p + ARCA_RECORD_HEADER_LEN, raw, r.raw_len);
	CHECK(rc <= 0);
	if (rc == 0) {
		CHECK(arca_sha256_digest(digest, raw, r.raw_len) == 0);
		CHECK(memcmp(digest, r.id, 32) == 0);
		if (r.codec == ARCA_CODEC_RAW)
			CHECK(memcmp(raw, p + ARCA_RECORD_HEADER_LEN, r.raw_len) == 0);
	}
	/* A buffer one byte too small must be refused, not overrun. */
	if (r.raw_len > 1)
		CHECK(arca_record_unpack(dec, &r, p + ARCA_RECORD_HEADER_LEN, raw,
			r.raw_len - 1) == ARCA_EINVAL);
	free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t pack_no;
	arca_chunk_loc loc;
	uint8_t d[32];

	if (arca_pack_header_decode(&pack_no, data, size) == 0) {
		uint8_t h[ARCA_PACK_HEADER_LEN];
		CHECK(size >= ARCA_PACK_HEADER_LEN);
		arca_pack_header_encode(h, pack_no);
		CHECK(memcmp(h, data, ARCA_PACK_HEADER_LEN) == 0);
	}

	if (size >= 24 && arca_chunk_loc_decode(&loc, data, 24) == 0) {
		uint8_t e[ARCA_LOC_GROUP_LEN];
		CHECK(loc.pack != 0 && loc.offset >= ARCA_PACK_HEADER_LEN);
		CHECK(arca_chunk_loc_encode(e, &loc) == 24);
		CHECK(memcmp(e, data, 24) == 0);
	}
	if (size >= 32 && arca_chunk_loc_decode(&loc, data, 32) == 0) {
		uint8_t e[ARCA_LOC_GROUP_LEN];
		CHECK(loc.grouped && loc.member_off + loc.raw_len <= loc.group_raw);
		CHECK(arca_chunk_loc_encode(e, &loc) == 32);
		CHECK(memcmp(e, data, 32) == 0);
	}
	{
		/* group records: header, then a member table of nmembers entries */
		arca_group g;
		if (arca_group_decode(&g, data, size) == 0) {
			uint8_t h[ARCA_RECORD_HEADER_LEN];
			arca_group_encode(h, &g);
			CHECK(memcmp(h, data, ARCA_RECORD_HEADER_LEN) == 0);
			if (size - ARCA_RECORD_HEADER_LEN >= (size_t)g.nmembers * ARCA_GROUP_MEMBER_LEN)
				(void)arca_group_table_check(&g, data + ARCA_RECORD_HEADER_LEN);
		}
	}

	check_record(data, size);

	if (size >= ARCA_RECORD_HEADER_LEN && arca_sha256_digest(d, data, 60) == 0) {
		uint8_t fixed[4];
		arca_put_le32(fixed, arca_get_le32(d));
		if (memcmp(fixed, data + 60, 4) != 0) {
			uint8_t *copy = malloc(size);
			if (!copy)
				return 0;
			memcpy(copy, data, size);
			memcpy(copy + 60, fixed, 4);
			check_record(copy, size);
			free(copy);
		}
	}
	return 0;
}
