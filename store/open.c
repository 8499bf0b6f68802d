/* Opening a store: its directory, chunk store, named databases, chunking
 * parameters and store id. */
#include "store/store.h"
#include "cas/chunker.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/version.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define META_FORMAT "format"
#define META_CMIN "chunk.min"
#define META_CAVG "chunk.avg"
#define META_CMAX "chunk.max"

/* A new store id, recorded. */
static int new_store_id(arca_cas *cas, MDB_txn *txn, uint8_t id[ARCA_STORE_ID_LEN])
{
	int rc = arca_random_bytes(id, ARCA_STORE_ID_LEN);
	return rc ? rc : arca_cas_store_id_put(cas, txn, id);
}

/* The id that binds the store's journal records to it: a store from
 * before it had one gets one (a read-only one cannot write records). */
static int load_store_id(arca_cas *cas, uint8_t id[ARCA_STORE_ID_LEN])
{
	MDB_txn *txn;
	int rc;

	memset(id, 0, ARCA_STORE_ID_LEN);
	if ((rc = arca_cas_txn_read(cas, &txn)) != 0)
		return rc;
	rc = arca_cas_store_id_get(cas, txn, id);
	mdb_txn_abort(txn);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (arca_cas_readonly(cas))
		return 0;
	if ((rc = arca_cas_write_txn_begin(cas, &txn)) != 0)
		return rc;
	if ((rc = arca_cas_store_id_get(cas, txn, id)) == 0)
		rc = new_store_id(cas, txn, id);
	if (rc < 0) {
		arca_cas_write_txn_abort(cas, txn);
		return rc;
	}
	return arca_cas_write_txn_commit(cas, txn);
}

/* Reads the store's chunking parameters, recording them on first use. */
static int load_params(arca_store *s, const arca_store_options *o)
{
	arca_cas *cas = s->cas;
	MDB_txn *txn;
	uint64_t fmt = 0, mn = 0, av = 0, mx = 0;
	uint8_t id[ARCA_STORE_ID_LEN];
	int rc;

	if ((rc = arca_cas_txn_read(cas, &txn)) != 0)
		return rc;
	rc = arca_cas_meta_get_u64(cas, txn, META_FORMAT, &fmt);
	if (!rc && fmt) {
		if ((rc = arca_cas_meta_get_u64(cas, txn, META_CMIN, &mn)) == 0 &&
		    (rc = arca_cas_meta_get_u64(cas, txn, META_CAVG, &av)) == 0)
			rc = arca_cas_meta_get_u64(cas, txn, META_CMAX, &mx);
	}
	mdb_txn_abort(txn);
	if (rc)
		return rc;
	if (fmt) {
		if (fmt != ARCA_STORE_FORMAT)
			return arca_err_set(ARCA_EUNSUPPORTED, "store format %llu is not supported",
				(unsigned long long)fmt);
		if (mn > UINT32_MAX || av > UINT32_MAX || mx > UINT32_MAX ||
		    arca_chunker_check((uint32_t)mn, (uint32_t)av, (uint32_t)mx) != 0)
			return arca_err_set(ARCA_ECORRUPT, "store has invalid chunk parameters");
		s->chunk_min = (uint32_t)mn;
		s->chunk_avg = (uint32_t)av;
		s->chunk_max = (uint32_t)mx;
		if ((rc = load_store_id(cas, id)) != 0)
			return rc;
		arca_cas_set_params(cas, fmt, s->chunk_min, s->chunk_avg, s->chunk_max, id);
		return 0;
	}
	s->chunk_min = o && o->chunk_min ? o->chunk_min : ARCA_CHUNK_MIN_DEFAULT;
	s->chunk_avg = o && o->chunk_avg ? o->chunk_avg : ARCA_CHUNK_AVG_DEFAULT;
	s->chunk_max = o && o->chunk_max ? o->chunk_max : ARCA_CHUNK_MAX_DEFAULT;
	if ((rc = arca_chunker_check(s->chunk_min, s->chunk_avg, s->chunk_max)) != 0)
		return rc;
	if ((rc = arca_cas_write_txn_begin(cas, &txn)) != 0)
		return rc;
	if ((rc = arca_cas_meta_get_u64(cas, txn, META_FORMAT, &fmt)) != 0 || fmt) {
		/* Another process initialised it meanwhile: use its values. */
		arca_cas_write_txn_abort(cas, txn);
		return rc ? rc : load_params(s, o);
	}
	if ((rc = arca_cas_meta_put_u64(cas, txn, META_FORMAT, ARCA_STORE_FORMAT)) != 0 ||
	    (rc = arca_cas_meta_put_u64(cas, txn, META_CMIN, s->chunk_min)) != 0 ||
	    (rc = arca_cas_meta_put_u64(cas, txn, META_CAVG, s->chunk_avg)) != 0 ||
	    (rc = arca_cas_meta_put_u64(cas, txn, META_CMAX, s->chunk_max)) != 0 ||
	    (rc = arca_cas_meta_put_u64(cas, txn, ARCA_META_PACK_NEXT, 1)) != 0 ||
	    (rc = arca_cas_meta_put_u64(cas, txn, ARCA_META_JOURNAL_ON, 1)) != 0 ||
	    (rc = new_store_id(cas, txn, id)) != 0) {
		arca_cas_write_txn_abort(cas, txn);
		return rc;
	}
	rc = arca_cas_write_txn_commit(cas, txn);
	if (rc)
		return arca_err_wrap(rc, "initialise store");
	arca_cas_set_params(cas, ARCA_STORE_FORMAT, s->chunk_min, s->chunk_avg, s->chunk_max, id);
	return 0;
}

int arca_store_open(arca_store **out, const char *path, const arca_store_options *o)
{
	arca_store *s;
	arca_writelock_config wl = ARCA_WRITELOCK_CONFIG_INIT;
	struct stat st;
	int rc;

	if (!out || !path || !*path)
		return arca_err_set(ARCA_EINVAL, "arca_store_open: no path");
	if (o && (rc = arca__check_version("arca_store_options", o->version, ARCA_STORE_OPTIONS_VERSION)) != 0)
		return rc;
	if (o && o->no_create) {
		arca_buf idx = ARCA_BUF_INIT(PATH_MAX);
		if ((rc = arca_buf_setf(&idx, "%s/index.lmdb", path)) != 0)
			return rc;
		rc = stat(arca_buf_cstr(&idx), &st);
		arca_buf_release(&idx);
		if (rc < 0)
			return arca_err_set(ARCA_ENOTFOUND, "no arca store at %s", path);
	} else if (arca_mkdir_p(path, 0700) < 0) {
		return arca_err_sys("create store %s", path);
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(path))) {
		free(s);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	s->zstd_level = o && o->zstd_level ? o->zstd_level : 3;
	s->threads = o ? o->threads : 0;
	if (o) {
		wl.timeout_ms = o->lock_timeout_ms;
		wl.on_wait = o->on_wait;
		wl.payload = o->wait_payload;
	}
	if ((rc = arca_cas_open_ex(&s->cas, path, &wl)) != 0)
		goto fail;
	{
		const char *names[] = { "artifacts", "refs", "files", "files_stage", "history",
			"remotes", "remote_chunks", "envs" };
		MDB_dbi *dbis[] = { &s->dbi_artifacts, &s->dbi_refs, &s->dbi_files,
			&s->dbi_files_stage, &s->dbi_history, &s->dbi_remotes, &s->dbi_remote_chunks,
			&s->dbi_envs };
		if ((rc = arca_cas_open_dbis(s->cas, names, dbis, 8)) != 0)
			goto fail;
	}
	if ((rc = load_params(s, o)) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	arca_err_wrap(rc, "store %s", path);
	arca_store_free(s);
	return rc;
}

void arca_store_free(arca_store *s)
{
	if (!s)
		return;
	arca_cas_free(s->cas);
	free(s->dir);
	free(s);
}
