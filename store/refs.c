/*
 * References: NAME:TAG refs and the operations that move or drop them
 * (tag; rm is in remove.c, prune in prune.c). Each operation is one write
 * transaction.
 */
#include "store/refs.h"
#include "store/journal.h"
#include "store/names.h"
#include "store/resolve.h"
#include "store/store.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

int arca_store__ref_set(arca_store *s, MDB_txn *txn, const char *name, const char *tag,
		const arca_id *id)
{
	char key[ARCA_REF_KEY_MAX];
	int n = snprintf(key, sizeof(key), "%s:%s", name, tag);
	if (n < 0 || (size_t)n >= sizeof(key))
		return arca_err_set(ARCA_EINVAL, "ref too long");
	return arca_store__ref_put(s, txn, key, (size_t)n, id);
}

/* Runs `fn` inside the store's writer and commits it (journal first). */
int arca_store__in_write_txn(arca_store *s, int (*fn)(arca_store *, MDB_txn *, void *), void *ctx)
{
	arca_cas_writer *w;
	int rc = arca_store__writer_begin(&w, s);
	if (rc)
		return rc;
	if ((rc = fn(s, arca_cas_writer_txn(w), ctx)) != 0) {
		arca_cas_writer_abort(w);
		return rc;
	}
	return arca_cas_writer_commit(w);
}

typedef struct {
	const char *ref;
	char name[ARCA_NAME_MAX + 1];
	char tag[ARCA_TAG_MAX + 1];
	int bad; /* why name/tag is refused (arca_tag_delete) */
} tag_job;

static int do_tag(arca_store *s, MDB_txn *txn, void *ctx)
{
	tag_job *j = ctx;
	arca_id id;
	int rc = arca_store__resolve(&id, s, txn, j->ref);
	return rc ? rc : arca_store__ref_set(s, txn, j->name, j->tag, &id);
}

int arca_tag_set(arca_store *s, const char *ref, const char *name_tag)
{
	tag_job j;
	int rc;
	if (!s || !ref || !name_tag)
		return arca_err_set(ARCA_EINVAL, "arca_tag_set: NULL argument");
	if ((rc = arca_store__split_ref(name_tag, j.name, j.tag)) != 0)
		return rc;
	j.ref = ref;
	return arca_store__in_write_txn(s, do_tag, &j);
}

static int do_untag(arca_store *s, MDB_txn *txn, void *ctx)
{
	tag_job *j = ctx;
	int rc = arca_store__ref_del(s, txn, j->ref, strlen(j->ref));
	if (rc == ARCA_ENOTFOUND)
		return j->bad ? j->bad : arca_store__unknown_ref(s, txn, j->ref);
	return rc;
}

int arca_tag_delete(arca_store *s, const char *name_tag)
{
	tag_job j;
	if (!s || !name_tag)
		return arca_err_set(ARCA_EINVAL, "arca_tag_delete: NULL argument");
	if (strlen(name_tag) >= ARCA_REF_KEY_MAX || !strchr(name_tag, ':'))
		return arca_store__split_ref(name_tag, j.name, j.tag);
	/* A ref whose name later rules refuse can still be deleted, by its
	 * exact key; any other invalid ref is reported as invalid. */
	j.bad = arca_store__split_ref(name_tag, j.name, j.tag);
	j.ref = name_tag;
	return arca_store__in_write_txn(s, do_untag, &j);
}

/* Calls fn for each ref as (key, id); stops on non-zero. */
int arca_store__refs_walk_keys(arca_store *s, MDB_txn *txn,
		int (*fn)(const char *key, size_t klen, const arca_id *id, void *ctx), void *ctx)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc = mdb_cursor_open(txn, s->dbi_refs, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "refs cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		arca_id id;
		if (v.mv_size != 32 || k.mv_size >= ARCA_REF_KEY_MAX) {
			rc = arca_err_set(ARCA_ECORRUPT, "index: damaged ref");
			break;
		}
		memcpy(id.bytes, v.mv_data, 32);
		rc = fn(k.mv_data, k.mv_size, &id, ctx);
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND && mrc != 0)
		rc = arca_lmdb_error(mrc, "refs cursor");
	return rc;
}

typedef struct {
	arca_ref_cb cb;
	void *payload;
} foreach_ctx;

static int foreach_one(const char *key, size_t klen, const arca_id *id, void *ctx)
{
	foreach_ctx *fc = ctx;
	char buf[ARCA_REF_KEY_MAX];
	char *colon;
	memcpy(buf, key, klen);
	buf[klen] = '\0';
	colon = strrchr(buf, ':');
	if (!colon)
		return arca_err_set(ARCA_ECORRUPT, "index: damaged ref");
	*colon = '\0';
	return fc->cb(buf, colon + 1, id, fc->payload);
}

int arca_store__refs_walk(arca_store *s, MDB_txn *txn, arca_ref_cb cb, void *payload)
{
	foreach_ctx fc = { cb, payload };
	return arca_store__refs_walk_keys(s, txn, foreach_one, &fc);
}

int arca_ref_foreach(arca_store *s, arca_ref_cb cb, void *payload)
{
	foreach_ctx fc = { cb, payload };
	MDB_txn *txn;
	int rc;
	if (!s || !cb)
		return arca_err_set(ARCA_EINVAL, "arca_ref_foreach: NULL argument");
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	rc = arca_store__refs_walk_keys(s, txn, foreach_one, &fc);
	mdb_txn_abort(txn);
	return rc;
}
