/* Pack record headers and payloads are checked before use. */
#include "helpers.h"
#include "cas/cas.h"
#include "cas/hash.h"
#include "cas/pack.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static void make_record(arca_record *r, uint8_t hdr[ARCA_RECORD_HEADER_LEN],
		const uint8_t *raw, uint32_t len)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(arca_sha256_digest(r->id, raw, len), 0);
	r->codec = ARCA_CODEC_RAW;
	r->raw_len = len;
	r->stored_len = len;
	arca_record_encode(hdr, r);
}

static void header_round_trips(void **state)
{
	uint8_t raw[100], hdr[ARCA_RECORD_HEADER_LEN];
	arca_record r, back;
	(void)state;
	th_fill_random(raw, sizeof(raw), 1);
	make_record(&r, hdr, raw, sizeof(raw));
	assert_int_equal(arca_record_decode(&back, hdr, sizeof(hdr)), 0);
	assert_memory_equal(back.id, r.id, 32);
	assert_int_equal(back.raw_len, 100);
	assert_int_equal(back.stored_len, 100);
	assert_int_equal(back.codec, ARCA_CODEC_RAW);
}

static void every_flipped_header_byte_is_detected(void **state)
{
	uint8_t raw[100], hdr[ARCA_RECORD_HEADER_LEN];
	arca_record r, back;
	(void)state;
	th_fill_random(raw, sizeof(raw), 2);
	make_record(&r, hdr, raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(hdr); i++) {
		hdr[i] ^= 0x10;
		assert_int_equal(arca_record_decode(&back, hdr, sizeof(hdr)), ARCA_ECORRUPT);
		hdr[i] ^= 0x10;
	}
	assert_int_equal(arca_record_decode(&back, hdr, sizeof(hdr) - 1), ARCA_ECORRUPT);
}

static void out_of_range_lengths_are_refused(void **state)
{
	uint8_t raw[64], hdr[ARCA_RECORD_HEADER_LEN];
	arca_record r, back;
	(void)state;
	th_fill_random(raw, sizeof(raw), 3);
	make_record(&r, hdr, raw, sizeof(raw));
	r.raw_len = 0;
	arca_record_encode(hdr, &r); /* valid checksum, invalid field */
	assert_int_equal(arca_record_decode(&back, hdr, sizeof(hdr)), ARCA_ECORRUPT);
	r.raw_len = 64;
	r.stored_len = 63; /* raw codec must store raw_len bytes */
	arca_record_encode(hdr, &r);
	assert_int_equal(arca_record_decode(&back, hdr, sizeof(hdr)), ARCA_ECORRUPT);
	r.codec = 7;
	r.stored_len = 64;
	arca_record_encode(hdr, &r);
	assert_int_equal(arca_record_decode(&back, hdr, sizeof(hdr)), ARCA_ECORRUPT);
	r.codec = ARCA_CODEC_ZSTD;
	r.raw_len = 0xffffffffu;
	arca_record_encode(hdr, &r);
	assert_int_equal(arca_record_decode(&back, hdr, sizeof(hdr)), ARCA_ECORRUPT);
}

static void payload_must_match_its_id(void **state)
{
	uint8_t raw[4096], out[4096], comp[8192], hdr[ARCA_RECORD_HEADER_LEN];
	arca_record r;
	arca_decoder *d;
	size_t clen;
	(void)state;
	memset(raw, 'a', sizeof(raw));
	raw[100] = 'b';
	make_record(&r, hdr, raw, sizeof(raw));
	assert_int_equal(arca_decoder_new(&d), 0);

	assert_int_equal(arca_record_unpack(d, &r, raw, out, sizeof(out)), 0);
	assert_memory_equal(out, raw, sizeof(raw));

	clen = ZSTD_compress(comp, sizeof(comp), raw, sizeof(raw), 3);
	assert_false(ZSTD_isError(clen));
	r.codec = ARCA_CODEC_ZSTD;
	r.stored_len = (uint32_t)clen;
	assert_int_equal(arca_record_unpack(d, &r, comp, out, sizeof(out)), 0);
	assert_memory_equal(out, raw, sizeof(raw));

	comp[clen / 2] ^= 0xff; /* damaged compressed bytes */
	assert_int_equal(arca_record_unpack(d, &r, comp, out, sizeof(out)), ARCA_ECORRUPT);

	r.codec = ARCA_CODEC_RAW;
	r.stored_len = r.raw_len;
	raw[5] ^= 1; /* content no longer matches id */
	assert_int_equal(arca_record_unpack(d, &r, raw, out, sizeof(out)), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "does not match"));
	arca_decoder_free(d);
}

static void pack_header_is_checked(void **state)
{
	uint8_t h[ARCA_PACK_HEADER_LEN];
	uint32_t no = 0;
	(void)state;
	arca_pack_header_encode(h, 7);
	assert_int_equal(arca_pack_header_decode(&no, h, sizeof(h)), 0);
	assert_int_equal(no, 7);
	h[0] = 'X';
	assert_int_equal(arca_pack_header_decode(&no, h, sizeof(h)), ARCA_ECORRUPT);
	arca_pack_header_encode(h, 7);
	h[8] = 9; /* future version */
	assert_int_equal(arca_pack_header_decode(&no, h, sizeof(h)), ARCA_EUNSUPPORTED);
}

static void group_header_and_table_are_checked(void **state)
{
	uint8_t table[3 * ARCA_GROUP_MEMBER_LEN], hdr[ARCA_RECORD_HEADER_LEN];
	arca_group g, back;
	(void)state;
	memset(&g, 0, sizeof(g));
	th_fill_random(table, sizeof(table), 9);
	for (int i = 0; i < 3; i++) {
		table[i * ARCA_GROUP_MEMBER_LEN + 32] = 100;
		memset(table + i * ARCA_GROUP_MEMBER_LEN + 33, 0, 3);
	}
	g.codec = ARCA_CODEC_ZSTD;
	g.raw_len = 300;
	g.stored_len = 120;
	g.nmembers = 3;
	assert_int_equal(arca_sha256_digest(g.table_hash, table, sizeof(table)), 0);
	arca_group_encode(hdr, &g);
	assert_int_equal(arca_group_decode(&back, hdr, sizeof(hdr)), 0);
	assert_int_equal(back.nmembers, 3);
	assert_int_equal(arca_group_table_check(&back, table), 0);
	for (size_t i = 0; i < sizeof(hdr); i++) {
		hdr[i] ^= 0x08;
		assert_int_equal(arca_group_decode(&back, hdr, sizeof(hdr)), ARCA_ECORRUPT);
		hdr[i] ^= 0x08;
	}
	table[5] ^= 1; /* a member id changed */
	assert_int_equal(arca_group_table_check(&g, table), ARCA_ECORRUPT);
	table[5] ^= 1;
	g.raw_len = 301; /* lengths do not add up */
	assert_int_equal(arca_group_table_check(&g, table), ARCA_ECORRUPT);
	g.raw_len = 300;
	g.nmembers = 0;
	arca_group_encode(hdr, &g);
	assert_int_equal(arca_group_decode(&back, hdr, sizeof(hdr)), ARCA_ECORRUPT);
}

/* A stored record read as-is is the compressed form of its chunk, and a
 * location that disagrees with the record's header is refused. */
static void stored_record_reads_back_as_its_compressed_chunk(void **state)
{
	char *dir = th_tmpdir();
	uint8_t raw[20000], id[32], ids[2][32];
	uint32_t lens[2] = { 300, 500 };
	arca_cas *cas;
	arca_cas_writer *w;
	arca_chunk_reader rd;
	arca_chunk_loc loc, bad;
	arca_stored_record sr;
	MDB_txn *txn;
	uint8_t *back = malloc(sizeof(raw));
	(void)state;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i / 100); /* compresses */
	assert_int_equal(arca_cas_open(&cas, dir), 0);
	assert_int_equal(arca_cas_writer_begin(&w, cas), 0);
	assert_int_equal(arca_cas_writer_put_raw(w, raw, sizeof(raw), 3, id), 0);
	assert_int_equal(arca_sha256_digest(ids[0], raw, lens[0]), 0);
	assert_int_equal(arca_sha256_digest(ids[1], raw + lens[0], lens[1]), 0);
	assert_int_equal(arca_cas_writer_put_group(w, (const uint8_t (*)[32])ids, lens, 2,
		ARCA_CODEC_RAW, raw, lens[0] + lens[1], NULL, NULL), 0);
	assert_int_equal(arca_cas_writer_commit(w), 0);

	assert_int_equal(arca_chunk_reader_init(&rd), 0);
	assert_int_equal(arca_cas_txn_read(cas, &txn), 0);
	assert_int_equal(arca_cas_lookup(cas, txn, id, &loc), 0);
	assert_int_equal(arca_cas_read_stored(cas, &loc, id, &rd, &sr), 0);
	assert_int_equal(sr.codec, ARCA_CODEC_ZSTD);
	assert_int_equal(sr.raw_len, sizeof(raw));
	assert_int_equal(sr.nmembers, 0);
	assert_null(sr.table);
	assert_true(sr.stored_len < sizeof(raw));
	assert_int_equal(ZSTD_decompress(back, sizeof(raw), sr.stored, sr.stored_len), sizeof(raw));
	assert_memory_equal(back, raw, sizeof(raw));
	/* an index entry that does not match the header */
	bad = loc;
	bad.stored_len--;
	assert_int_equal(arca_cas_read_stored(cas, &bad, id, &rd, &sr), ARCA_ECORRUPT);
	assert_int_equal(arca_cas_read_stored(cas, &loc, ids[0], &rd, &sr), ARCA_ECORRUPT);

	/* a group member: its whole group record */
	assert_int_equal(arca_cas_lookup(cas, txn, ids[1], &loc), 0);
	assert_int_equal(arca_cas_read_stored(cas, &loc, ids[1], &rd, &sr), 0);
	assert_int_equal(sr.codec, ARCA_CODEC_RAW);
	assert_int_equal(sr.nmembers, 2);
	assert_int_equal(sr.raw_len, lens[0] + lens[1]);
	assert_int_equal(sr.stored_len, lens[0] + lens[1]);
	assert_memory_equal(sr.table, ids[0], 32);
	assert_memory_equal(sr.table + ARCA_GROUP_MEMBER_LEN, ids[1], 32);
	assert_memory_equal(sr.stored, raw, lens[0] + lens[1]);
	mdb_txn_abort(txn);

	arca_chunk_reader_release(&rd);
	arca_cas_free(cas);
	free(back);
	th_cleanup(dir);
}

/* A zstd group of 64 members read in any order gives each its bytes
 * (decoding stops at what was asked and resumes for later members); with
 * its last block damaged, the members well before the damage still read
 * and the rest fail as corrupt. */
/* As ingest compresses a group: zstd with the frame checksum. */
static size_t compress_checked(void *dst, size_t cap, const void *src, size_t n)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t got;
	assert_non_null(cc);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	got = ZSTD_compress2(cc, dst, cap, src, n);
	ZSTD_freeCCtx(cc);
	assert_false(ZSTD_isError(got));
	return got;
}

static uint8_t pattern(size_t i, int g)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)g;
	x ^= x >> 29;
	return (uint8_t)(x * 0xBF58476D1CE4E5B9ull >> 56);
}

static void group_members_read_in_any_order_and_before_damage(void **state)
{
	enum { N = 64, LEN = 16384 };
	char *dir = th_tmpdir();
	uint8_t *raw = malloc(N * LEN), ids[2][N][32];
	uint32_t lens[N];
	size_t cap = ZSTD_compressBound(N * LEN), clen;
	uint8_t *z = malloc(cap);
	const int order[] = { 40, 3, 63, 0, 41, 12, 62, 1 };
	arca_cas *cas;
	arca_cas_writer *w;
	arca_chunk_reader rd;
	arca_chunk_loc loc;
	const uint8_t *got, *table;
	uint32_t len;
	MDB_txn *txn;
	(void)state;

	for (int g = 0; g < 2; g++) {
		for (size_t i = 0; i < (size_t)N * LEN; i++)
			raw[i] = pattern(i / 2, g); /* compresses to about half */
		for (int i = 0; i < N; i++) {
			lens[i] = LEN;
			assert_int_equal(arca_sha256_digest(ids[g][i], raw + (size_t)i * LEN, LEN), 0);
		}
	}
	assert_int_equal(arca_cas_open(&cas, dir), 0);
	assert_int_equal(arca_cas_writer_begin(&w, cas), 0);
	for (int g = 0; g < 2; g++) {
		for (size_t i = 0; i < (size_t)N * LEN; i++)
			raw[i] = pattern(i / 2, g);
		clen = compress_checked(z, cap, raw, N * LEN);
		if (g == 1)
			z[clen - 40] ^= 0x5a; /* inside the last block */
		assert_int_equal(arca_cas_writer_put_group(w, (const uint8_t (*)[32])ids[g], lens, N,
			ARCA_CODEC_ZSTD, z, (uint32_t)clen, NULL, NULL), 0);
	}
	assert_int_equal(arca_cas_writer_commit(w), 0);

	assert_int_equal(arca_chunk_reader_init(&rd), 0);
	assert_int_equal(arca_cas_txn_read(cas, &txn), 0);
	for (size_t i = 0; i < (size_t)N * LEN; i++)
		raw[i] = pattern(i / 2, 0);
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		assert_int_equal(arca_cas_get(cas, txn, ids[0][order[k]], &rd, &got, &len), 0);
		assert_int_equal(len, LEN);
		assert_memory_equal(got, raw + (size_t)order[k] * LEN, LEN);
	}
	/* the whole group after a partial decode of it */
	assert_int_equal(arca_cas_get(cas, txn, ids[0][5], &rd, &got, &len), 0);
	assert_int_equal(arca_cas_lookup(cas, txn, ids[0][5], &loc), 0);
	assert_int_equal(arca_cas_load_group(cas, &loc, &rd, &table), 0);
	assert_memory_equal(table, ids[0][0], 32);

	/* the damaged group: early members fine, the last one corrupt */
	for (size_t i = 0; i < (size_t)N * LEN; i++)
		raw[i] = pattern(i / 2, 1);
	assert_int_equal(arca_cas_get(cas, txn, ids[1][0], &rd, &got, &len), 0);
	assert_memory_equal(got, raw, LEN);
	assert_int_equal(arca_cas_get(cas, txn, ids[1][N - 1], &rd, &got, &len), ARCA_ECORRUPT);
	assert_int_equal(arca_cas_get(cas, txn, ids[1][1], &rd, &got, &len), 0);
	assert_memory_equal(got, raw + LEN, LEN);
	assert_int_equal(arca_cas_lookup(cas, txn, ids[1][1], &loc), 0);
	assert_int_equal(arca_cas_load_group(cas, &loc, &rd, &table), ARCA_ECORRUPT);
	mdb_txn_abort(txn);

	arca_chunk_reader_release(&rd);
	arca_cas_free(cas);
	free(raw);
	free(z);
	th_cleanup(dir);
}

/* A whole-group load checks that the frame ends where the record does,
 * also when a read of an earlier member already decoded every byte (a
 * small group is decoded whole at the first member's read). */
static void whole_group_load_checks_the_frame_end_after_a_member_read(void **state)
{
	enum { N = 4, LEN = 4096, JUNK = 8 };
	char *dir = th_tmpdir();
	uint8_t raw[N * LEN], ids[N][32], z[2 * N * LEN];
	uint32_t lens[N];
	size_t clen;
	arca_cas *cas;
	arca_cas_writer *w;
	arca_chunk_reader rd;
	arca_chunk_loc loc;
	const uint8_t *got, *table;
	uint32_t len;
	MDB_txn *txn;
	(void)state;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = pattern(i / 4, 7);
	for (int i = 0; i < N; i++) {
		lens[i] = LEN;
		assert_int_equal(arca_sha256_digest(ids[i], raw + (size_t)i * LEN, LEN), 0);
	}
	clen = compress_checked(z, sizeof(z) - JUNK, raw, sizeof(raw));
	memcpy(z + clen, "trailing", JUNK); /* bytes after the frame */
	assert_int_equal(arca_cas_open(&cas, dir), 0);
	assert_int_equal(arca_cas_writer_begin(&w, cas), 0);
	assert_int_equal(arca_cas_writer_put_group(w, (const uint8_t (*)[32])ids, lens, N,
		ARCA_CODEC_ZSTD, z, (uint32_t)(clen + JUNK), NULL, NULL), 0);
	assert_int_equal(arca_cas_writer_commit(w), 0);

	assert_int_equal(arca_cas_txn_read(cas, &txn), 0);
	assert_int_equal(arca_cas_lookup(cas, txn, ids[0], &loc), 0);
	/* a fresh reader: the whole load finds the junk */
	assert_int_equal(arca_chunk_reader_init(&rd), 0);
	assert_int_equal(arca_cas_load_group(cas, &loc, &rd, &table), ARCA_ECORRUPT);
	arca_chunk_reader_release(&rd);
	/* the same after a read of the first member */
	assert_int_equal(arca_chunk_reader_init(&rd), 0);
	assert_int_equal(arca_cas_get(cas, txn, ids[0], &rd, &got, &len), 0);
	assert_memory_equal(got, raw, LEN);
	assert_int_equal(arca_cas_load_group(cas, &loc, &rd, &table), ARCA_ECORRUPT);
	mdb_txn_abort(txn);

	arca_chunk_reader_release(&rd);
	arca_cas_free(cas);
	th_cleanup(dir);
}

/* The group a reader holds serves a later read at its pack and offset
 * only if the index row describes it as well: a damaged row that names
 * that place with another member count is refused, as it is by a fresh
 * reader, and never used to find the table or the payload. */
static void cached_group_is_checked_against_each_index_row(void **state)
{
	enum { N = 4, LEN = 4096 };
	char *dir = th_tmpdir();
	uint8_t raw[N * LEN], ids[N][32];
	uint32_t lens[N];
	arca_cas *cas;
	arca_cas_writer *w;
	arca_chunk_reader rd;
	arca_chunk_loc loc, bad;
	const uint8_t *got;
	MDB_txn *txn;
	(void)state;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = pattern(i / 4, 9);
	for (int i = 0; i < N; i++) {
		lens[i] = LEN;
		assert_int_equal(arca_sha256_digest(ids[i], raw + (size_t)i * LEN, LEN), 0);
	}
	assert_int_equal(arca_cas_open(&cas, dir), 0);
	assert_int_equal(arca_cas_writer_begin(&w, cas), 0);
	assert_int_equal(arca_cas_writer_put_group(w, (const uint8_t (*)[32])ids, lens, N,
		ARCA_CODEC_RAW, raw, sizeof(raw), NULL, NULL), 0);
	assert_int_equal(arca_cas_writer_commit(w), 0);
	assert_int_equal(arca_cas_txn_read(cas, &txn), 0);
	assert_int_equal(arca_cas_lookup(cas, txn, ids[1], &loc), 0);
	mdb_txn_abort(txn);

	for (int k = 0; k < 2; k++) {
		bad = loc;
		bad.nmembers = k ? ARCA_GROUP_MAX_MEMBERS - 1 : N - 2;
		if (k)
			bad.member_off = ARCA_GROUP_RAW_MAX; /* the table is searched to its end */
		assert_int_equal(arca_chunk_reader_init(&rd), 0);
		assert_int_equal(arca_cas_read(cas, &bad, ids[1], &rd, &got), ARCA_ECORRUPT);
		arca_chunk_reader_release(&rd);
		/* a reader that holds the group, in a buffer of its size */
		assert_int_equal(arca_chunk_reader_init(&rd), 0);
		assert_int_equal(arca_cas_read(cas, &loc, ids[1], &rd, &got), 0);
		assert_memory_equal(got, raw + LEN, LEN);
		assert_int_equal(arca_cas_read(cas, &bad, ids[1], &rd, &got), ARCA_ECORRUPT);
		arca_chunk_reader_release(&rd);
	}
	arca_cas_free(cas);
	th_cleanup(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_round_trips),
		cmocka_unit_test(every_flipped_header_byte_is_detected),
		cmocka_unit_test(out_of_range_lengths_are_refused),
		cmocka_unit_test(payload_must_match_its_id),
		cmocka_unit_test(pack_header_is_checked),
		cmocka_unit_test(group_header_and_table_are_checked),
		cmocka_unit_test(stored_record_reads_back_as_its_compressed_chunk),
		cmocka_unit_test(group_members_read_in_any_order_and_before_damage),
		cmocka_unit_test(whole_group_load_checks_the_frame_end_after_a_member_read),
		cmocka_unit_test(cached_group_is_checked_against_each_index_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
