/* Chunk locations: the chunk index's values, their lookup, and walking the index. */
#include "cas/cas_impl.h"
#include "cas/chunker.h"
#include "util/buf.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t arca_chunk_loc_encode(uint8_t out[ARCA_LOC_GROUP_LEN], const arca_chunk_loc *loc)
{
	memset(out, 0, ARCA_LOC_GROUP_LEN);
	arca_put_le32(out, loc->pack);
	arca_put_le64(out + 4, loc->offset);
	arca_put_le32(out + 12, loc->stored_len);
	arca_put_le32(out + 16, loc->raw_len);
	out[20] = loc->codec;
	if (!loc->grouped)
		return ARCA_LOC_LEN;
	out[21] = 1;
	arca_put_le16(out + 22, loc->nmembers);
	arca_put_le32(out + 24, loc->member_off);
	arca_put_le32(out + 28, loc->group_raw);
	return ARCA_LOC_GROUP_LEN;
}

int arca_chunk_loc_decode(arca_chunk_loc *loc, const void *v, size_t n)
{
	const uint8_t *p = v;
	if (n != ARCA_LOC_LEN && n != ARCA_LOC_GROUP_LEN)
		return arca_err_set(ARCA_ECORRUPT, "index: chunk entry has %zu bytes", n);
	memset(loc, 0, sizeof(*loc));
	loc->pack = arca_get_le32(p);
	loc->offset = arca_get_le64(p + 4);
	loc->stored_len = arca_get_le32(p + 12);
	loc->raw_len = arca_get_le32(p + 16);
	loc->codec = p[20];
	if (loc->pack == 0 || loc->raw_len == 0 || loc->raw_len > ARCA_CHUNK_MAX_LIMIT ||
	    loc->stored_len == 0 || loc->stored_len > arca_record_stored_max() ||
	    loc->offset < ARCA_PACK_HEADER_LEN || loc->codec > ARCA_CODEC_ZSTD ||
	    (n == ARCA_LOC_LEN && p[21]))
		return arca_err_set(ARCA_ECORRUPT, "index: chunk entry out of range");
	if (n == ARCA_LOC_LEN)
		return p[22] || p[23] ? arca_err_set(ARCA_ECORRUPT, "index: chunk entry out of range") : 0;
	loc->grouped = 1;
	loc->nmembers = arca_get_le16(p + 22);
	loc->member_off = arca_get_le32(p + 24);
	loc->group_raw = arca_get_le32(p + 28);
	if (p[21] != 1 || loc->nmembers == 0 || loc->nmembers > ARCA_GROUP_MAX_MEMBERS ||
	    loc->group_raw > ARCA_GROUP_RAW_MAX || loc->member_off > loc->group_raw ||
	    loc->raw_len > loc->group_raw - loc->member_off)
		return arca_err_set(ARCA_ECORRUPT, "index: group member entry out of range");
	return 0;
}

uint64_t arca_chunk_loc_footprint(const arca_chunk_loc *loc)
{
	uint64_t whole = ARCA_RECORD_HEADER_LEN + (uint64_t)loc->stored_len;
	if (!loc->grouped)
		return whole;
	whole += (uint64_t)loc->nmembers * ARCA_GROUP_MEMBER_LEN;
	return loc->group_raw ? whole * loc->raw_len / loc->group_raw : whole;
}

int arca_cas_lookup(arca_cas *cas, MDB_txn *txn, const uint8_t id[32], arca_chunk_loc *loc)
{
	MDB_val k = { 32, (void *)id }, v;
	int mrc = mdb_get(txn, cas->dbi_chunks, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return ARCA_ENOTFOUND;
	if (mrc)
		return arca_lmdb_error(mrc, "chunk lookup");
	return arca_chunk_loc_decode(loc, v.mv_data, v.mv_size);
}

uint64_t arca_cas_chunks_count(arca_cas *cas, MDB_txn *txn)
{
	MDB_stat ms;
	return mdb_stat(txn, cas->dbi_chunks, &ms) == 0 ? (uint64_t)ms.ms_entries : 0;
}

int arca_cas_chunks_iter(arca_cas_iter **out, arca_cas *cas, MDB_txn *txn)
{
	return arca_cas__iter_open(out, cas, txn, cas->dbi_chunks, "chunks cursor");
}

int arca_cas_chunks_next(arca_cas_iter *it, const uint8_t **id, arca_chunk_loc *loc)
{
	int rc = arca_cas__iter_step(it, "chunks cursor");
	*id = NULL;
	if (rc)
		return rc;
	if (it->k.mv_size != 32)
		return arca_err_set(ARCA_ECORRUPT, "index: bad chunk key");
	*id = it->k.mv_data;
	return arca_chunk_loc_decode(loc, it->v.mv_data, it->v.mv_size);
}

int arca_cas_chunks_delete(arca_cas_iter *it)
{
	uint8_t id[32];
	MDB_val mk = { 32, id };
	int mrc;
	/* the key's bytes go with the entry */
	memcpy(id, it->k.mv_data, 32);
	if ((mrc = mdb_cursor_del(it->cur, 0)) != 0)
		return arca_lmdb_error(mrc, "remove chunk");
	mrc = mdb_del(it->txn, it->cas->dbi_macs, &mk, NULL);
	return mrc && mrc != MDB_NOTFOUND ? arca_lmdb_error(mrc, "remove chunk MAC") : 0;
}

int arca_cas_chunks_update(arca_cas_iter *it, const arca_chunk_loc *loc)
{
	uint8_t locb[ARCA_LOC_GROUP_LEN];
	MDB_val nv = { 0, locb };
	int mrc;
	nv.mv_size = arca_chunk_loc_encode(locb, loc);
	mrc = mdb_cursor_put(it->cur, &it->k, &nv, MDB_CURRENT);
	return mrc ? arca_lmdb_error(mrc, "update chunk location") : 0;
}
