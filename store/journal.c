/*
 * Metadata changes, journaled: every change to artifacts and refs is
 * written as a meta record into the packs (durable before the LMDB commit
 * like chunk data), so `arca repair` can rebuild the index from the packs.
 * A checkpoint (the whole state as meta records, then an end marker)
 * supersedes older records; gc writes one whenever it retires a pack that
 * holds journal records.
 */
#include "store/journal.h"
#include "store/store.h"
#include "store/filescache.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static arca_cas_writer *writer(arca_store *s, MDB_txn *txn)
{
	arca_cas_writer *w = arca_cas_writer_of(s->cas, txn);
	if (!w)
		arca_err_set(ARCA_EINVAL, "internal: metadata change outside a store writer");
	return w;
}

int arca_store__art_put(arca_store *s, MDB_txn *txn, const arca_id *id, const void *rec,
		size_t n)
{
	arca_cas_writer *w = writer(s, txn);
	MDB_val k = { 32, (void *)id->bytes }, v = { n, (void *)rec };
	int rc, mrc;
	if (!w)
		return ARCA_EINVAL;
	if ((rc = arca_cas_writer_journal(w, ARCA_META_ART_PUT, 0, id->bytes, 32, rec, n, NULL)) != 0)
		return rc;
	mrc = mdb_put(txn, s->dbi_artifacts, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "add artifact") : 0;
}

int arca_store__art_del(arca_store *s, MDB_txn *txn, const arca_id *id)
{
	arca_cas_writer *w = writer(s, txn);
	MDB_val k = { 32, (void *)id->bytes };
	char str[ARCA_ID_STRLEN];
	int rc, mrc;
	if (!w)
		return ARCA_EINVAL;
	mrc = mdb_del(txn, s->dbi_artifacts, &k, NULL);
	if (mrc == MDB_NOTFOUND) {
		arca_id_format(str, id);
		return arca_err_set(ARCA_ENOTFOUND, "artifact %s not found", str);
	}
	if (mrc)
		return arca_lmdb_error(mrc, "remove artifact");
	if ((rc = arca_cas_writer_journal(w, ARCA_META_ART_DEL, 0, id->bytes, 32, NULL, 0, NULL)) != 0)
		return rc;
	return arca_files_cache_drop(s, txn, id);
}

int arca_store__ref_put(arca_store *s, MDB_txn *txn, const char *key, size_t klen,
		const arca_id *id)
{
	arca_cas_writer *w = writer(s, txn);
	MDB_val k = { klen, (void *)key }, v = { 32, (void *)id->bytes }, cur;
	int rc, mrc;
	if (!w)
		return ARCA_EINVAL;
	if (mdb_get(txn, s->dbi_refs, &k, &cur) == 0 && cur.mv_size == 32 &&
	    !memcmp(cur.mv_data, id->bytes, 32))
		return 0; /* unchanged: nothing to journal */
	if ((rc = arca_cas_writer_journal(w, ARCA_META_REF_SET, 0, id->bytes, 32, key, klen, NULL)) != 0)
		return rc;
	mrc = mdb_put(txn, s->dbi_refs, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "set ref") : 0;
}

int arca_store__ref_del(arca_store *s, MDB_txn *txn, const char *key, size_t klen)
{
	arca_cas_writer *w = writer(s, txn);
	MDB_val k = { klen, (void *)key };
	int mrc;
	if (!w)
		return ARCA_EINVAL;
	mrc = mdb_del(txn, s->dbi_refs, &k, NULL);
	if (mrc == MDB_NOTFOUND)
		return ARCA_ENOTFOUND;
	if (mrc)
		return arca_lmdb_error(mrc, "delete ref");
	return arca_cas_writer_journal(w, ARCA_META_REF_DEL, 0, key, klen, NULL, 0, NULL);
}

int arca_store__remote_put(arca_store *s, MDB_txn *txn, const char *name, const void *config,
		size_t n)
{
	arca_cas_writer *w = writer(s, txn);
	size_t nl = strlen(name);
	MDB_val k = { nl, (void *)name }, v = { n, (void *)config };
	int rc, mrc;
	if (!w)
		return ARCA_EINVAL;
	/* the name's NUL separates it from the config */
	if ((rc = arca_cas_writer_journal(w, ARCA_META_REMOTE_SET, 0, name, nl + 1, config, n,
			NULL)) != 0)
		return rc;
	mrc = mdb_put(txn, s->dbi_remotes, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "set remote") : 0;
}

int arca_store__remote_del(arca_store *s, MDB_txn *txn, const char *name)
{
	arca_cas_writer *w = writer(s, txn);
	size_t nl = strlen(name);
	MDB_val k = { nl, (void *)name }, v;
	MDB_cursor *cur;
	int rc, mrc;
	if (!w)
		return ARCA_EINVAL;
	mrc = mdb_del(txn, s->dbi_remotes, &k, NULL);
	if (mrc == MDB_NOTFOUND)
		return ARCA_ENOTFOUND;
	if (mrc)
		return arca_lmdb_error(mrc, "delete remote");
	if ((rc = arca_cas_writer_journal(w, ARCA_META_REMOTE_DEL, 0, name, nl, NULL, 0, NULL)) != 0)
		return rc;
	/* its cache entries: NAME 0 id */
	if ((mrc = mdb_cursor_open(txn, s->dbi_remote_chunks, &cur)) != 0)
		return arca_lmdb_error(mrc, "remote cache");
	k.mv_size = nl + 1;
	k.mv_data = (void *)name;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != nl + 33 || memcmp(k.mv_data, name, nl + 1) != 0)
			break;
		if ((mrc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return mrc && mrc != MDB_NOTFOUND ? arca_lmdb_error(mrc, "remote cache") : 0;
}

int arca_store__env_rec_put(arca_store *s, MDB_txn *txn, const char *name, const void *rec,
		size_t n)
{
	arca_cas_writer *w = writer(s, txn);
	size_t nl = strlen(name);
	MDB_val k = { nl, (void *)name }, v = { n, (void *)rec };
	int rc, mrc;
	if (!w)
		return ARCA_EINVAL;
	if ((rc = arca_cas_writer_journal(w, ARCA_META_ENV_SET, 0, name, nl + 1, rec, n,
			NULL)) != 0)
		return rc;
	mrc = mdb_put(txn, s->dbi_envs, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "set env") : 0;
}

int arca_store__env_rec_del(arca_store *s, MDB_txn *txn, const char *name)
{
	arca_cas_writer *w = writer(s, txn);
	size_t nl = strlen(name);
	MDB_val k = { nl, (void *)name };
	int mrc;
	if (!w)
		return ARCA_EINVAL;
	mrc = mdb_del(txn, s->dbi_envs, &k, NULL);
	if (mrc == MDB_NOTFOUND)
		return ARCA_ENOTFOUND;
	if (mrc)
		return arca_lmdb_error(mrc, "delete env");
	return arca_cas_writer_journal(w, ARCA_META_ENV_DEL, 0, name, nl, NULL, 0, NULL);
}

int arca_store__journal_history(arca_store *s, MDB_txn *txn, const char *name,
		const arca_id *id, int64_t time_ns)
{
	arca_cas_writer *w = writer(s, txn);
	uint8_t p[40];
	if (!w)
		return ARCA_EINVAL;
	memcpy(p, id->bytes, 32);
	arca_put_le64(p + 32, (uint64_t)time_ns);
	return arca_cas_writer_journal(w, ARCA_META_HIST_ADD, 0, p, sizeof(p), name, strlen(name),
		NULL);
}

/* History entries (key NAME 0 seq, value id + time) in key order, which
 * is the order they were added within each name. */
static int dump_history(arca_store *s, arca_cas_writer *w, uint64_t *count, uint64_t *last)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc = mdb_cursor_open(arca_cas_writer_txn(w), s->dbi_history, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "checkpoint cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *z = memchr(k.mv_data, 0, k.mv_size);
		if (!z || v.mv_size != 40)
			continue;
		rc = arca_cas_writer_journal(w, ARCA_META_HIST_ADD, ARCA_META_F_CKPT, v.mv_data, 40,
			k.mv_data, (size_t)(z - (const char *)k.mv_data), last);
		(*count)++;
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND && mrc != 0)
		rc = arca_lmdb_error(mrc, "checkpoint cursor");
	return rc;
}

/* Remotes (envs) as REMOTE_SET (ENV_SET) members: NAME 0 config (record). */
static int dump_named(arca_cas_writer *w, MDB_dbi dbi, uint8_t type, uint64_t *count,
		uint64_t *last)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char name[256];
	int rc = 0, mrc = mdb_cursor_open(arca_cas_writer_txn(w), dbi, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "checkpoint cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size >= sizeof(name) || memchr(k.mv_data, 0, k.mv_size))
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		rc = arca_cas_writer_journal(w, type, ARCA_META_F_CKPT, name,
			k.mv_size + 1, v.mv_data, v.mv_size, last);
		(*count)++;
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND && mrc != 0)
		rc = arca_lmdb_error(mrc, "checkpoint cursor");
	return rc;
}

/* Journals every entry of `dbi` as a checkpoint member of `type`. */
static int dump_db(arca_cas_writer *w, MDB_dbi dbi, uint8_t type, uint64_t *count,
		uint64_t *last)
{
	MDB_txn *txn = arca_cas_writer_txn(w);
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc = mdb_cursor_open(txn, dbi, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "checkpoint cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		/* artifacts: id + record; refs: id + key (value first) */
		if (type == ARCA_META_ART_PUT)
			rc = arca_cas_writer_journal(w, type, ARCA_META_F_CKPT, k.mv_data, k.mv_size,
				v.mv_data, v.mv_size, last);
		else
			rc = arca_cas_writer_journal(w, type, ARCA_META_F_CKPT, v.mv_data, v.mv_size,
				k.mv_data, k.mv_size, last);
		(*count)++;
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND && mrc != 0)
		rc = arca_lmdb_error(mrc, "checkpoint cursor");
	return rc;
}

int arca_store__checkpoint(arca_store *s, arca_cas_writer *w)
{
	uint8_t end[24];
	uint64_t first = 0, last = 0, count = 0;
	int rc;

	/* a marker record pins where the members start; they are not quite
	 * consecutive: a pack that fills up between them starts the next
	 * with an unflagged PARAMS record, so the last one's number is kept */
	if ((rc = arca_cas_writer_journal(w, ARCA_META_PARAMS, ARCA_META_F_CKPT,
			arca_cas_params(s->cas), ARCA_CAS_PARAMS_LEN, NULL, 0, &first)) != 0)
		return rc;
	count = 1;
	last = first;
	if ((rc = dump_db(w, s->dbi_artifacts, ARCA_META_ART_PUT, &count, &last)) != 0 ||
	    (rc = dump_db(w, s->dbi_refs, ARCA_META_REF_SET, &count, &last)) != 0 ||
	    (rc = dump_history(s, w, &count, &last)) != 0 ||
	    (rc = dump_named(w, s->dbi_remotes, ARCA_META_REMOTE_SET, &count, &last)) != 0 ||
	    (rc = dump_named(w, s->dbi_envs, ARCA_META_ENV_SET, &count, &last)) != 0)
		return rc;
	arca_put_le64(end, first);
	arca_put_le64(end + 8, last);
	arca_put_le64(end + 16, count);
	if ((rc = arca_cas_writer_journal(w, ARCA_META_CKPT_END, 0, end, sizeof(end), NULL, 0,
			NULL)) != 0)
		return rc;
	/* what came before is superseded */
	if ((rc = arca_cas_writer_journal_trim(w, first)) != 0)
		return rc;
	return arca_cas_meta_put_u64(s->cas, arca_cas_writer_txn(w), ARCA_META_JOURNAL_ON, 1);
}

int arca_store__writer_begin(arca_cas_writer **out, arca_store *s)
{
	arca_cas_writer *w;
	uint64_t on = 0;
	int rc;

	if ((rc = arca_cas_writer_begin(&w, s->cas)) != 0)
		return rc;
	/* a store made before the journal existed gets its state journaled
	 * once, by its first writer */
	if ((rc = arca_cas_meta_get_u64(s->cas, arca_cas_writer_txn(w), ARCA_META_JOURNAL_ON,
			&on)) != 0 || (!on && (rc = arca_store__checkpoint(s, w)) != 0)) {
		arca_cas_writer_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}
