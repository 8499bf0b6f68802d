/*
 * The `envs` table: env name -> env record (store/env_record.c). Every
 * change is one write transaction through the store's writer, journaled
 * (ENV_SET, ENV_DEL) so `repair` rebuilds the table from the packs.
 */
#include "store/envs.h"
#include "store/journal.h"
#include "store/names.h"
#include "store/refs.h"
#include "store/store.h"
#include "util/error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int arca_store__env_path(char **out, arca_store *s, const char *name)
{
	arca_buf p = ARCA_BUF_INIT(PATH_MAX);
	int rc = name ? arca_buf_setf(&p, "%s/" ARCA_STORE_ENVS_DIR "/%s", s->dir, name) :
		arca_buf_setf(&p, "%s/" ARCA_STORE_ENVS_DIR, s->dir);
	if (!rc && !(*out = strdup(arca_buf_cstr(&p))))
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
	arca_buf_release(&p);
	return rc;
}

static int check_name(const char *name)
{
	if (!name)
		return arca_err_set(ARCA_EINVAL, "env name missing");
	return arca_store__check_word("env name", name, ARCA_NAME_MAX, 0);
}

int arca_store__env_get(arca_env_info *out, arca_store *s, const char *name)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc, mrc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_name(name)) != 0 || (rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	k.mv_size = strlen(name);
	k.mv_data = (void *)name;
	mrc = mdb_get(txn, s->dbi_envs, &k, &v);
	if (mrc == 0)
		rc = arca_store__env_decode(out, name, v.mv_data, v.mv_size);
	else if (mrc == MDB_NOTFOUND)
		rc = arca_err_set(ARCA_ENOTFOUND, "no env named %s", name);
	else
		rc = arca_lmdb_error(mrc, "read envs");
	mdb_txn_abort(txn);
	return rc;
}

int arca_store__env_each(arca_store *s, int (*cb)(arca_env_info *e, void *ctx), void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	char name[ARCA_NAME_MAX + 1];
	int rc, mrc;

	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	if ((mrc = mdb_cursor_open(txn, s->dbi_envs, &cur)) != 0) {
		mdb_txn_abort(txn);
		return arca_lmdb_error(mrc, "read envs");
	}
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		arca_env_info e;
		if (k.mv_size == 0 || k.mv_size > ARCA_NAME_MAX || memchr(k.mv_data, 0, k.mv_size)) {
			rc = arca_err_set(ARCA_ECORRUPT, "envs: damaged key");
			break;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		if ((rc = arca_store__env_decode(&e, name, v.mv_data, v.mv_size)) != 0)
			break;
		rc = cb(&e, ctx);
		arca_store__env_info_clear(&e);
	}
	if (!rc && mrc != MDB_NOTFOUND && mrc != 0)
		rc = arca_lmdb_error(mrc, "read envs");
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

typedef struct {
	const char *name;
	const arca_buf *rec;
	int create;
} put_job;

static int put_in_txn(arca_store *s, MDB_txn *txn, void *ctx)
{
	put_job *j = ctx;
	MDB_val k = { strlen(j->name), (void *)j->name }, v;
	int mrc = mdb_get(txn, s->dbi_envs, &k, &v);
	if (mrc && mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "read envs");
	if (j->create && mrc == 0)
		return arca_err_set(ARCA_EEXISTS, "env %s exists already", j->name);
	if (!j->create && mrc == MDB_NOTFOUND)
		return arca_err_set(ARCA_ENOTFOUND, "no env named %s", j->name);
	return arca_store__env_rec_put(s, txn, j->name, j->rec->ptr, j->rec->len);
}

int arca_store__env_put(arca_store *s, const arca_env_info *e, int create)
{
	arca_buf rec = ARCA_BUF_INIT(ARCA_ENV_REC_MAX);
	put_job j;
	int rc = arca_store__env_encode(&rec, e);
	if (!rc) {
		j.name = e->name;
		j.rec = &rec;
		j.create = create;
		rc = arca_store__in_write_txn(s, put_in_txn, &j);
	}
	arca_buf_release(&rec);
	return rc;
}

static int del_in_txn(arca_store *s, MDB_txn *txn, void *ctx)
{
	const char *name = ctx;
	int rc = arca_store__env_rec_del(s, txn, name);
	return rc == ARCA_ENOTFOUND ? arca_err_set(ARCA_ENOTFOUND, "no env named %s", name) : rc;
}

int arca_store__env_delete(arca_store *s, const char *name)
{
	int rc = check_name(name);
	return rc ? rc : arca_store__in_write_txn(s, del_in_txn, (void *)name);
}
