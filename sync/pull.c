/*
 * arca_pull: fetch artifacts and refs from a remote with plain GETs.
 * Per artifact: its object, the indexes of the packs it lists, then its
 * manifest chunks (kept in memory: the manifest must be read before its
 * data chunks are known), then the data chunks the store lacks, as ranges
 * of records GET in pieces and checked on every core (sync/pull_data.c),
 * nothing written outside the store. Every chunk is hashed before it is
 * staged into the one writer; the manifest must hash to the
 * artifact id; then artifacts, refs and history go into the same
 * transaction, committed once. Any error aborts it: the store is as it was.
 */
#include "sync/sync.h"
#include "sync/fetch.h"
#include "sync/pull_data.h"
#include "sync/idset.h"
#include "sync/rpack.h"
#include "cas/hash.h"
#include "store/history.h"
#include "store/journal.h"
#include "store/manifest.h"
#include "store/record.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
	uint8_t id[32];
	uint8_t *raw;
	uint32_t len;
} mf_chunk;

typedef struct {
	arca_store *s;
	arca_transport *t;
	arca_sync_options o;
	arca_cas_writer *w;
	MDB_txn *committed;       /* a read txn from before the writer */
	arca_chunk_reader rd;
	arca_progress_state ps;
	arca_idset need;          /* chunks wanted by the fetch in progress */
	int need_mode;            /* what want() answers for them: 1 or 2 */
	arca_idset mf_at;         /* manifest chunk -> index in mf */
	mf_chunk *mf;
	size_t nmf, mfcap;
	uint64_t chunks;
	arca_fetch_counts n;
} pull_ctx;

static int want(const uint8_t id[32], void *ctx)
{
	pull_ctx *p = ctx;
	return arca_idset_has(&p->need, id) ? p->need_mode : 0;
}

/* Keeps the bytes of the manifest chunks fetched. */
static int tap(const uint8_t id[32], const uint8_t *raw, uint32_t len, void *ctx)
{
	pull_ctx *p = ctx;
	uint32_t at;
	int rc;
	if (p->need_mode != 2 || !arca_idset_has(&p->need, id) || arca_idset_get(&p->mf_at, id, &at))
		return 0;
	if (p->nmf == p->mfcap) {
		size_t cap = p->mfcap ? 2 * p->mfcap : 16;
		void *n = realloc(p->mf, cap * sizeof(*p->mf));
		if (!n)
			return arca_err_set(ARCA_ENOMEM, "out of memory");
		p->mf = n;
		p->mfcap = cap;
	}
	if (!(p->mf[p->nmf].raw = malloc(len)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	memcpy(p->mf[p->nmf].id, id, 32);
	memcpy(p->mf[p->nmf].raw, raw, len);
	p->mf[p->nmf].len = len;
	if ((rc = arca_idset_put(&p->mf_at, id, (uint32_t)p->nmf)) < 0)
		return rc;
	p->nmf++;
	return 0;
}

/* ---- fetching chunks from packs ---- */
typedef struct {
	pull_ctx *p;
	arca_rpack_reader *r;
} feed_ctx;

static int feed(void *ctx, const void *buf, size_t n)
{
	feed_ctx *f = ctx;
	f->p->n.bytes += n;
	return arca_rpack_reader_feed(f->r, buf, n);
}

/* GETs bytes [off, off + len) of pack `sha` (off 0: the whole pack) through
 * a reader into the writer. */
static int fetch_run(pull_ctx *p, const uint8_t sha[32], uint64_t off, uint64_t len)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	feed_ctx f = { p, NULL };
	uint64_t staged = 0;
	int rc;

	if ((rc = arca_layout_pack_key(&key, sha)) != 0 ||
	    (rc = arca_rpack_reader_new(&f.r, p->w, sha, off, want, p)) != 0)
		goto done;
	arca_rpack_reader_tap(f.r, tap);
	p->n.requests++;
	if ((rc = p->t->get(p->t, arca_buf_cstr(&key), off, off ? len : 0, feed, &f, NULL)) != 0 ||
	    (rc = arca_rpack_reader_finish(f.r, &staged)) != 0)
		goto done;
	p->n.objects++;
	p->chunks += staged;
	rc = arca_progress__set(&p->ps, p->chunks, p->n.bytes);
done:
	arca_rpack_reader_free(f.r);
	arca_buf_release(&key);
	return rc;
}

/* ---- data chunks: checked on every core (sync/pull_data.c) ---- */

static int data_step(void *ctx, uint64_t staged, uint64_t bytes)
{
	pull_ctx *p = ctx;
	return arca_progress__set(&p->ps, staged, bytes);
}

static int take_data(pull_ctx *p, const arca_pidx *x, uint32_t npacks,
		const arca_fetch_run *runs, size_t nruns)
{
	arca_pull_data d = { p->t, p->w, x, npacks, p->o.jobs, want, p, data_step, p };
	p->n.objects += nruns;
	return arca_pull__data(&d, runs, nruns, &p->n, &p->chunks);
}

/* Fetches every chunk in p->need from the packs `x` (the artifact's). */
static int fetch(pull_ctx *p, arca_pidx *x, uint32_t npacks, const uint8_t (*ids)[32], size_t n,
		const arca_id *art)
{
	arca_fetch_run *runs = NULL;
	size_t nruns = 0;
	const uint8_t *missing;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = arca_fetch__plan(&p->need, x, npacks, &runs, &nruns, &missing, ids, n)) != 0)
		return rc;
	if (!missing) {
		uint64_t bytes = 0;
		for (size_t i = 0; i < nruns; i++)
			bytes += runs[i].len;
		arca_progress__totals(&p->ps, p->chunks + n, p->n.bytes + bytes);
	}
	if (missing)
		rc = arca_fetch__missing(art, missing);
	else if (p->need_mode == 1)
		rc = take_data(p, x, npacks, runs, nruns);
	else /* the manifest's few records, with their bytes kept by tap */
		for (size_t i = 0; i < nruns && !rc; i++)
			rc = fetch_run(p, runs[i].sha, runs[i].off, runs[i].len);
	free(runs);
	return rc;
}

/* ---- one artifact ---- */

/* Puts p->need to the ids, then fetches them. */
static int fetch_ids(pull_ctx *p, arca_pidx *x, uint32_t npacks, const uint8_t (*ids)[32],
		size_t n, int mode, const arca_id *art)
{
	arca_idset_release(&p->need);
	p->need_mode = mode;
	for (size_t i = 0; i < n; i++) {
		int rc = arca_idset_add(&p->need, ids[i]);
		if (rc < 0)
			return rc;
	}
	return fetch(p, x, npacks, ids, n, art);
}

static int pull_artifact(pull_ctx *p, const arca_id *id)
{
	arca_buf obj = ARCA_BUF_INIT(ARCA_FETCH_ARTO_MAX);
	arca_buf mf = ARCA_BUF_INIT((size_t)ARCA_FETCH_MANIFEST_MAX), need = ARCA_BUF_INIT(SIZE_MAX);
	arca_buf data = ARCA_BUF_INIT(SIZE_MAX);
	arca_artifact_rec rec;
	arca_arto a;
	arca_pidx *x = NULL;
	MDB_txn *txn = arca_cas_writer_txn(p->w);
	MDB_val k = { 32, (void *)id->bytes }, v;
	char ids[ARCA_ID_STRLEN];
	int rc, have_rec = 0;

	memset(&a, 0, sizeof(a));
	memset(&rec, 0, sizeof(rec));
	arca_id_format(ids, id);
	if (mdb_get(txn, p->s->dbi_artifacts, &k, &v) == 0)
		return 0; /* the store has it */
	if ((rc = arca_fetch__artifact(p->t, id, &obj, &a, &rec, &p->n)) != 0)
		goto done;
	have_rec = 1;
	if (a.npacks && !(x = calloc(a.npacks, sizeof(*x)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = arca_fetch__indexes(p->t, &a, x, p->o.jobs, &p->n)) != 0)
		goto done;

	/* the manifest: from the store where it has the chunks, else fetched;
	 * the writer must still have them too (a gc may have dropped them
	 * while this pull waited for the lock) */
	for (uint32_t i = 0; i < rec.nchunks; i++) {
		arca_chunk_loc loc;
		uint32_t at;
		if (arca_idset_get(&p->mf_at, rec.chunk_ids[i], &at) ||
		    (arca_cas_lookup(p->s->cas, p->committed, rec.chunk_ids[i], &loc) == 0 &&
		     arca_cas_writer_has(p->w, rec.chunk_ids[i])))
			continue;
		if ((rc = arca_buf_put(&need, rec.chunk_ids[i], 32)) != 0)
			goto done;
	}
	if ((rc = fetch_ids(p, x, a.npacks, (const uint8_t (*)[32])need.ptr, need.len / 32, 2,
			id)) != 0)
		goto done;
	for (uint32_t i = 0; i < rec.nchunks; i++) {
		const uint8_t *raw;
		uint32_t at, len;
		if (arca_idset_get(&p->mf_at, rec.chunk_ids[i], &at)) {
			raw = p->mf[at].raw;
			len = p->mf[at].len;
		} else if ((rc = arca_cas_get(p->s->cas, p->committed, rec.chunk_ids[i], &p->rd,
				&raw, &len)) != 0) {
			goto done;
		}
		if (len != rec.chunk_lens[i]) {
			rc = arca_err_set(ARCA_ECORRUPT, "artifact %s: manifest chunk length differs",
				ids);
			goto done;
		}
		if ((rc = arca_buf_put(&mf, raw, len)) != 0)
			goto done;
	}
	if ((rc = arca_fetch__check_manifest(p->t, id, &rec, mf.ptr, mf.len)) != 0)
		goto done;

	/* the data chunks the store lacks */
	if ((rc = arca_fetch__data_chunks(mf.ptr, mf.len, &rec.a, &data)) != 0) {
		arca_err_wrap(rc, "artifact %s", ids);
		goto done;
	}
	need.len = 0;
	for (size_t i = 0; i < data.len / 32; i++)
		if (!arca_cas_writer_has(p->w, data.ptr + 32 * i) &&
		    (rc = arca_buf_put(&need, data.ptr + 32 * i, 32)) != 0)
			goto done;
	if ((rc = fetch_ids(p, x, a.npacks, (const uint8_t (*)[32])need.ptr, need.len / 32, 1,
			id)) != 0)
		goto done;
	for (size_t i = 0; i < data.len / 32; i++)
		if (!arca_cas_writer_has(p->w, data.ptr + 32 * i)) {
			rc = arca_fetch__missing(id, data.ptr + 32 * i);
			goto done;
		}
	for (uint32_t i = 0; i < rec.nchunks; i++)
		if (!arca_cas_writer_has(p->w, rec.chunk_ids[i])) {
			rc = arca_fetch__missing(id, rec.chunk_ids[i]);
			goto done;
		}
	rc = arca_store__art_put(p->s, txn, id, a.record, a.record_len);
done:
	if (have_rec)
		arca_artifact_rec_clear(&rec);
	for (uint32_t i = 0; x && i < a.npacks; i++)
		arca_pidx_clear(&x[i]);
	free(x);
	arca_buf_release(&obj);
	arca_buf_release(&mf);
	arca_buf_release(&need);
	arca_buf_release(&data);
	return rc;
}

/* ---- refs ---- */

/* set_ref: 1 when the ref moved, 0 when it was there already. */

static int set_ref(pull_ctx *p, const arca_fetch_ref *r)
{
	MDB_txn *txn = arca_cas_writer_txn(p->w);
	char key[ARCA_REF_KEY_MAX + 1];
	MDB_val k, v;
	int n = snprintf(key, sizeof(key), "%s:%s", r->name, r->tag), rc;

	k.mv_size = (size_t)n;
	k.mv_data = key;
	if (mdb_get(txn, p->s->dbi_refs, &k, &v) == 0 && v.mv_size == 32) {
		arca_id here;
		memcpy(here.bytes, v.mv_data, 32);
		if (!memcmp(here.bytes, r->id.bytes, 32))
			return 0;
		/* as a push: a ref moves only forward, unless forced */
		if (!p->o.force && !arca_sync__is_ancestor(p->s, txn, &here, &r->id)) {
			char mine[ARCA_ID_STRLEN], theirs[ARCA_ID_STRLEN];
			arca_id_format(mine, &here);
			arca_id_format(theirs, &r->id);
			return arca_err_set(ARCA_EEXISTS, "ref %s is at %s here, which %s from %s "
				"does not descend from", key, mine, theirs, p->t->url);
		}
	}
	if ((rc = arca_store__ref_put(p->s, txn, key, (size_t)n, &r->id)) != 0 ||
	    (rc = arca_store__history_add(p->s, txn, r->name, &r->id)) != 0)
		return rc;
	return 1;
}

int arca_pull(arca_sync_result *out, arca_store *s, const char *remote,
		const char *const *refs, size_t n, const arca_sync_options *opts)
{
	pull_ctx p;
	arca_remote_conf c;
	arca_fetch_ref *pr = NULL;
	int rc, reader = 0;

	if (!out || !s || (!refs && n))
		return arca_err_set(ARCA_EINVAL, "arca_pull: NULL argument");
	if ((rc = arca__result_start("arca_sync_result", out, sizeof(*out),
			ARCA_SYNC_RESULT_VERSION)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	memset(&c, 0, sizeof(c));
	p.s = s;
	if ((rc = arca_sync__options(&p.o, opts)) != 0 ||
	    (rc = arca_sync__remote_conf(&c, s, remote)) != 0)
		goto done;
	arca_progress__init(&p.ps, p.o.progress_cb, p.o.progress_payload);
	if ((rc = arca_sync__open(&p.t, &c, &p.o)) != 0)
		goto done;
	p.n.requests++;
	if ((rc = arca_sync__marker(p.t, 0)) != 0)
		goto done;
	if (!(pr = calloc(n ? n : 1, sizeof(*pr)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = arca_fetch__resolve(p.t, refs[i], &pr[i], &p.n)) != 0)
			goto done;
	if ((rc = arca_chunk_reader_init(&p.rd)) != 0)
		goto done;
	reader = 1;
	if ((rc = arca_progress__begin(&p.ps, ARCA_PROGRESS_DOWNLOAD, 0, 0)) != 0 ||
	    (rc = arca_cas_txn_read(s->cas, &p.committed)) != 0 ||
	    (rc = arca_store__writer_begin(&p.w, s)) != 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		size_t j;
		for (j = 0; j < i && memcmp(pr[j].id.bytes, pr[i].id.bytes, 32); j++)
			;
		if (j < i)
			continue;
		MDB_val k = { 32, pr[i].id.bytes }, v;
		if (mdb_get(arca_cas_writer_txn(p.w), s->dbi_artifacts, &k, &v) == 0)
			continue; /* the store has it */
		if ((rc = pull_artifact(&p, &pr[i].id)) != 0)
			goto done;
		out->artifacts++;
	}
	for (size_t i = 0; i < n; i++)
		if (pr[i].has_ref) {
			if ((rc = set_ref(&p, &pr[i])) < 0)
				goto done;
			out->refs_moved += (uint64_t)rc;
		}
	/* the last chance to cancel: nothing is committed yet */
	if ((rc = arca_progress__end(&p.ps, p.chunks, p.n.bytes)) != 0)
		goto done;
	mdb_txn_abort(p.committed);
	p.committed = NULL;
	rc = arca_cas_writer_commit(p.w);
	p.w = NULL;
done:
	if (p.w)
		arca_cas_writer_abort(p.w);
	if (p.committed)
		mdb_txn_abort(p.committed);
	if (reader)
		arca_chunk_reader_release(&p.rd);
	out->chunks = p.chunks;
	out->bytes = p.n.bytes;
	out->objects = p.n.objects;
	out->requests = p.n.requests;
	if (rc) {
		out->artifacts = 0;
		out->refs_moved = 0;
	}
	for (size_t i = 0; i < p.nmf; i++)
		free(p.mf[i].raw);
	free(p.mf);
	arca_idset_release(&p.need);
	arca_idset_release(&p.mf_at);
	free(pr);
	if (p.t)
		p.t->free(p.t);
	arca_remote_conf_clear(&c);
	return rc;
}
