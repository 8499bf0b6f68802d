/* Writing the tables of an index rebuilt from the packs (arca repair). */
#include "cas/cas_impl.h"
#include "util/buf.h"
#include "util/error.h"

#include <string.h>

int arca_cas_rebuild_begin(arca_cas *cas, MDB_txn **out)
{
	int mrc = arca_mdb_txn_begin(cas->env, 0, out);
	return mrc ? arca_lmdb_error(mrc, "repair: begin") : 0;
}

int arca_cas_rebuild_chunk(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		const arca_chunk_loc *loc)
{
	uint8_t lb[ARCA_LOC_GROUP_LEN];
	MDB_val k = { 32, (void *)id }, v = { 0, lb };
	int mrc;

	v.mv_size = arca_chunk_loc_encode(lb, loc);
	mrc = mdb_put(txn, cas->dbi_chunks, &k, &v, MDB_NOOVERWRITE);
	if (mrc == MDB_KEYEXIST)
		return 1;
	return mrc ? arca_lmdb_error(mrc, "repair: index chunk") : 0;
}

int arca_cas_rebuild_mac(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		const uint8_t tag[16])
{
	MDB_val k = { 32, (void *)id }, v = { 16, (void *)tag };
	int mrc = mdb_put(txn, cas->dbi_macs, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "repair: chunk MAC") : 0;
}

static int put_pack_key(MDB_txn *txn, MDB_dbi dbi, uint32_t no, uint64_t val)
{
	uint8_t kb[4], vb[8];
	MDB_val k = { 4, kb }, v = { 8, vb };
	int mrc;
	arca_put_be32(kb, no);
	arca_put_le64(vb, val);
	mrc = mdb_put(txn, dbi, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "repair") : 0;
}

int arca_cas_rebuild_pack(arca_cas *cas, MDB_txn *txn, uint32_t no, uint64_t len)
{
	return put_pack_key(txn, cas->dbi_packs, no, len);
}

int arca_cas_rebuild_dead_pack(arca_cas *cas, MDB_txn *txn, uint32_t no)
{
	return put_pack_key(txn, cas->dbi_dead, no, 0);
}

int arca_cas_rebuild_journal(arca_cas *cas, MDB_txn *txn, uint64_t seq,
		const arca_journal_loc *l)
{
	uint8_t kb[8], vb[ARCA_JOURNAL_LOC_LEN];
	MDB_val k = { 8, kb }, v = { sizeof(vb), vb };
	int mrc;
	arca_put_be64(kb, seq);
	arca_journal_loc_encode(vb, l);
	mrc = mdb_put(txn, cas->dbi_journal, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "repair: journal") : 0;
}

int arca_cas_rebuild_keys(arca_cas *cas, MDB_txn *txn, const uint8_t key[32],
		const uint8_t store_id[ARCA_STORE_ID_LEN])
{
	MDB_val k = { strlen(ARCA_META_MAC_KEY), (void *)ARCA_META_MAC_KEY },
		v = { 32, (void *)key };
	int mrc;

	if ((mrc = mdb_put(txn, cas->dbi_meta, &k, &v, 0)) != 0)
		return arca_lmdb_error(mrc, "repair: store key");
	k.mv_size = strlen(ARCA_META_STORE_ID);
	k.mv_data = ARCA_META_STORE_ID;
	v.mv_size = ARCA_STORE_ID_LEN;
	v.mv_data = (void *)store_id;
	if ((mrc = mdb_put(txn, cas->dbi_meta, &k, &v, 0)) != 0)
		return arca_lmdb_error(mrc, "repair: store id");
	return 0;
}

int arca_cas_rebuild_mark_lost(arca_cas *cas, const uint8_t *ids, size_t n, uint64_t *count)
{
	MDB_txn *txn;
	MDB_stat ms;
	uint8_t one = 1;
	int mrc = arca_mdb_txn_begin(cas->env, 0, &txn);
	if (mrc)
		return arca_lmdb_error(mrc, "repair: begin");
	for (size_t i = 0; i < n && !mrc; i++) {
		MDB_val k = { 32, (void *)(ids + 32 * i) }, v = { 1, &one };
		mrc = mdb_put(txn, cas->dbi_damaged, &k, &v, 0);
	}
	if (mrc) {
		mdb_txn_abort(txn);
		return arca_lmdb_error(mrc, "repair: mark lost chunks");
	}
	*count = mdb_stat(txn, cas->dbi_damaged, &ms) ? 0 : ms.ms_entries;
	mrc = mdb_txn_commit(txn);
	return mrc ? arca_lmdb_error(mrc, "repair: commit") : 0;
}

int arca_cas_rebuild_sync(arca_cas *cas)
{
	int mrc = mdb_env_sync(cas->env, 1);
	return mrc ? arca_lmdb_error(mrc, "repair: sync") : 0;
}
