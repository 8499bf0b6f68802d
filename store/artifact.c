/* Artifact records in the index: lookup, listing, walking, and opening an
 * artifact's manifest. */
#include "store/artifact.h"
#include "store/manifest.h"
#include "store/mfio.h"
#include "store/record.h"
#include "store/resolve.h"
#include "store/store.h"
#include "util/array.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int arca_artifact_rec_get(arca_artifact_rec *rec, arca_store *s, MDB_txn *txn, const arca_id *id)
{
	MDB_val k = { 32, (void *)id->bytes }, v;
	int mrc = mdb_get(txn, s->dbi_artifacts, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		char hex[ARCA_ID_STRLEN];
		arca_id_format(hex, id);
		return arca_err_set(ARCA_ENOTFOUND, "artifact %s not found", hex);
	}
	if (mrc)
		return arca_lmdb_error(mrc, "artifact lookup");
	if (v.mv_size > ARCA_RECORD_MAX)
		return arca_err_set(ARCA_ECORRUPT, "index: artifact record too large");
	return arca_artifact_rec_decode(rec, id, v.mv_data, v.mv_size);
}

int arca_artifact_lookup(arca_artifact **out, arca_store *s, const arca_id *id)
{
	arca_artifact_rec rec;
	MDB_txn *txn;
	int rc;

	if (!out || !s || !id)
		return arca_err_set(ARCA_EINVAL, "arca_artifact_lookup: NULL argument");
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	rc = arca_artifact_rec_get(&rec, s, txn, id);
	mdb_txn_abort(txn);
	if (rc)
		return rc;
	free(rec.chunk_ids);
	free(rec.chunk_lens);
	*out = malloc(sizeof(arca_artifact));
	if (!*out) {
		arca_record__artifact_clear(&rec.a);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	**out = rec.a;
	return 0;
}

void arca_artifact_free(arca_artifact *a)
{
	if (!a)
		return;
	arca_record__artifact_clear(a);
	free(a);
}

int arca_store__records_walk(arca_store *s, MDB_txn *txn, arca_record_fn fn, void *ctx)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc = mdb_cursor_open(txn, s->dbi_artifacts, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "artifacts cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		arca_artifact_rec rec;
		arca_id id;
		if (k.mv_size != 32) {
			rc = arca_err_set(ARCA_ECORRUPT, "index: bad artifact key");
			break;
		}
		memcpy(id.bytes, k.mv_data, 32);
		if ((rc = arca_artifact_rec_decode(&rec, &id, v.mv_data, v.mv_size)) != 0)
			break;
		rc = fn(s, txn, &rec, ctx);
		arca_artifact_rec_clear(&rec);
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND)
		rc = arca_lmdb_error(mrc, "artifacts cursor");
	return rc;
}

static int by_created(const void *x, const void *y)
{
	const arca_artifact *a = x, *b = y;
	if (a->created_ns != b->created_ns)
		return a->created_ns < b->created_ns ? -1 : 1;
	return memcmp(a->id.bytes, b->id.bytes, 32);
}

int arca_artifact_foreach(arca_store *s, arca_artifact_cb cb, void *payload)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	arca_artifact *all = NULL;
	size_t n = 0, cap = 0;
	int rc, mrc;

	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	if ((mrc = mdb_cursor_open(txn, s->dbi_artifacts, &cur)) != 0) {
		rc = arca_lmdb_error(mrc, "artifacts cursor");
		goto done;
	}
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		arca_artifact_rec rec;
		arca_id id;
		if (k.mv_size != 32) {
			rc = arca_err_set(ARCA_ECORRUPT, "index: bad artifact key");
			goto done;
		}
		memcpy(id.bytes, k.mv_data, 32);
		if ((rc = arca_artifact_rec_decode(&rec, &id, v.mv_data, v.mv_size)) != 0)
			goto done;
		free(rec.chunk_ids);
		free(rec.chunk_lens);
		if ((rc = arca_array_grow(&all, &cap, n + 1, sizeof(*all), 64)) != 0) {
			arca_record__artifact_clear(&rec.a);
			goto done;
		}
		all[n++] = rec.a;
	}
	if (mrc != MDB_NOTFOUND) {
		rc = arca_lmdb_error(mrc, "artifacts cursor");
		goto done;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	mdb_txn_abort(txn);
	txn = NULL;
	if (n)
		qsort(all, n, sizeof(*all), by_created);
	for (size_t i = 0; i < n && !rc; i++)
		rc = cb(&all[i], payload);
done:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	for (size_t i = 0; i < n; i++)
		arca_record__artifact_clear(&all[i]);
	free(all);
	return rc;
}

int arca_store__open_manifest(arca_store *s, const char *ref, arca_artifact_rec *rec,
		arca_mf_in **in, arca_mf_reader *r, int *kind)
{
	MDB_txn *txn;
	arca_id id;
	int rc;

	memset(rec, 0, sizeof(*rec));
	*in = NULL;
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	rc = arca_store__resolve(&id, s, txn, ref);
	if (!rc)
		rc = arca_artifact_rec_get(rec, s, txn, &id);
	mdb_txn_abort(txn);
	if (rc)
		return rc;
	if ((rc = arca_mf_in_new(in, s, rec)) != 0)
		goto fail;
	arca_mf_reader_init(r, arca_mf_in_read, *in);
	if ((rc = arca_mf_read_header(r, kind)) != 0)
		goto fail;
	if (*kind != (int)rec->a.kind) {
		rc = arca_err_set(ARCA_ECORRUPT, "manifest kind differs from the index");
		goto fail;
	}
	return 0;
fail:
	arca_mf_in_free(*in);
	*in = NULL;
	arca_artifact_rec_clear(rec);
	return rc;
}
