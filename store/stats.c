/* Store statistics (arca_store_stats_get). */
#include "store/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/version.h"

static int sum_logical(const arca_artifact *a, void *payload)
{
	arca_store_stats *st = payload;
	st->logical_bytes += a->logical_bytes;
	st->data_bytes += a->data_bytes;
	return 0;
}

int arca_store_stats_get(arca_store_stats *out, arca_store *s)
{
	MDB_txn *txn;
	MDB_stat ms;
	uint64_t map_size;
	int rc, mrc;

	if (!out || !s)
		return arca_err_set(ARCA_EINVAL, "arca_store_stats_get: NULL argument");
	if ((rc = arca__result_start("arca_store_stats", out, sizeof(*out), ARCA_STORE_STATS_VERSION)) != 0)
		return rc;
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	if ((rc = arca_cas_meta_get_u64(s->cas, txn, ARCA_META_CHUNKS, &out->chunks)) ||
	    (rc = arca_cas_meta_get_u64(s->cas, txn, ARCA_META_UNIQUE, &out->unique_bytes)) ||
	    (rc = arca_cas_meta_get_u64(s->cas, txn, ARCA_META_STORED, &out->stored_bytes)))
		goto done;
	if ((mrc = mdb_stat(txn, s->dbi_artifacts, &ms)) != 0) {
		rc = arca_lmdb_error(mrc, "stat");
		goto done;
	}
	out->artifacts = ms.ms_entries;
	if ((rc = arca_cas_pack_totals(s->cas, txn, &out->packs, &out->pack_bytes)) != 0)
		goto done;
	arca_cas_map_usage(s->cas, &map_size, &out->index_bytes);
done:
	mdb_txn_abort(txn);
	if (!rc)
		rc = arca_artifact_foreach(s, sum_logical, out);
	return rc;
}
