/*
 * Restore straight from a remote, nothing staged in a store: the artifact
 * object and its pack indexes say where every record lies. The manifest
 * chunks' records are downloaded first (--jobs GETs at once, into unlinked
 * temporary files) and the manifest is rebuilt and checked against the
 * artifact id before DEST is touched. The data chunks' records then come
 * in pieces, in the order the restore needs them, into one more temporary
 * file while the restore runs: its workers wait for the pieces holding a
 * record, then read, check, decompress and write each chunk, so a chunk
 * that fails its check fails the restore as a damaged local one would.
 * The caller's store gains nothing (it is read for the remote's URL only).
 */
#include "arca/remote.h"
#include "sync/fetch.h"
#include "sync/sync.h"
#include "sync/rsource.h"
#include "store/restore.h"
#include "util/array.h"
#include "util/error.h"
#include "util/firsterr.h"
#include "util/progress.h"
#include "util/version.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The data chunks come in pieces of this size, in the order the restore
 * needs them, so it can start on the first while the others arrive. */
uint64_t arca_sync__restore_piece = 4u << 20;

typedef struct {
	arca_transport *t;
	arca_sync_options o;
	const arca_id *art;
	const arca_pidx *x;
	uint32_t npacks;
	arca_rsource rs;
	arca_fetch_counts n;
	arca_progress_state ps;
	/* the data download, running while the restore reads */
	arca_fetch_dl *dl;
	arca_fetch_run *pieces;
	uint64_t *bases;
	arca_fetch_counts dl_n;
	atomic_int dl_failed;          /* a GET failed (not cancelled by us) */
} rr_ctx;

/* The chunks of ids[0..n) not indexed yet (into *need and *want) and the
 * runs that bring them: 1, 0 when there is nothing to fetch, or an error. */
static int plan_for(rr_ctx *c, const uint8_t (*ids)[32], size_t n, arca_idset *need,
		arca_buf *want, arca_fetch_run **runs, size_t *nruns)
{
	const uint8_t *missing;
	int rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++)
		if (!arca_rsource_has(&c->rs, ids[i]) && (rc = arca_idset_add(need, ids[i])) == 1)
			rc = arca_buf_put(want, ids[i], 32);
	if (rc < 0 || want->len == 0)
		return rc < 0 ? rc : 0;
	if ((rc = arca_fetch__plan(need, c->x, c->npacks, runs, nruns, &missing,
			(const uint8_t (*)[32])want->ptr, want->len / 32)) != 0)
		return rc;
	return missing ? arca_fetch__missing(c->art, missing) : 1;
}

/* Downloads the records of chunks ids[0..n) that are not indexed yet and
 * indexes them. */
static int fetch_into(rr_ctx *c, const uint8_t (*ids)[32], size_t n)
{
	arca_idset need = ARCA_IDSET_INIT;
	arca_buf want = ARCA_BUF_INIT(SIZE_MAX);
	arca_fetch_run *runs = NULL;
	arca_fetch_landed *at = NULL;
	size_t nruns = 0;
	int *fds = NULL, rc = 0;

	if ((rc = plan_for(c, ids, n, &need, &want, &runs, &nruns)) <= 0)
		goto done;
	rc = 0;
	if (!(fds = calloc(c->o.jobs, sizeof(*fds))) || !(at = calloc(nruns, sizeof(*at)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	rc = arca_fetch__download(c->t, runs, nruns, c->o.jobs, c->o.tmp_dir, fds, at, &c->n);
	c->n.objects += nruns;
	{
		/* takes the files, also on failure */
		int rc2 = arca_rsource_add(&c->rs, &need, c->x, c->npacks, runs, nruns, at, fds,
			c->o.jobs, NULL, 0);
		if (!rc)
			rc = rc2;
	}
	if (!rc)
		rc = arca_progress__set(&c->ps, c->rs.nlocs, c->n.bytes);
done:
	free(fds);
	free(at);
	free(runs);
	arca_buf_release(&want);
	arca_idset_release(&need);
	return rc < 0 ? rc : 0;
}

static void piece_done(void *ctx, size_t i, int rc)
{
	rr_ctx *c = ctx;
	if (rc && rc != ARCA_EUSER)
		atomic_store(&c->dl_failed, 1);
	arca_rsource_piece_done(&c->rs, i, rc);
}

typedef struct {
	uint64_t key;        /* where the restore first needs the run */
	size_t run;
} run_key;

static int key_cmp(const void *a, const void *b)
{
	const run_key *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key ? 1 : (x->run > y->run) - (x->run < y->run);
}

/* The runs in the order the restore needs them (ids[] is in that order). */
static int order_runs(rr_ctx *c, const arca_fetch_run *runs, size_t nruns,
		const uint8_t (*ids)[32], size_t n, run_key *keys)
{
	arca_idset pos = ARCA_IDSET_INIT;
	size_t ri = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = arca_idset_put(&pos, ids[i], (uint32_t)i);
	for (size_t j = 0; j < nruns; j++) {
		keys[j].key = UINT64_MAX;
		keys[j].run = j;
	}
	for (uint32_t k = 0; k < c->npacks && ri < nruns && rc >= 0; k++) {
		size_t a = ri, b = ri;
		while (b < nruns && runs[b].sha == c->x[k].pack_sha)
			b++;
		ri = b;
		for (uint32_t i = 0; i < c->x[k].n && a < b; i++) {
			uint32_t at;
			size_t j;
			if (!arca_idset_get(&pos, c->x[k].e[i].id, &at) ||
			    (j = arca_fetch__run_at(runs, a, b, c->x[k].e[i].offset)) == b)
				continue;
			if (at < keys[j].key)
				keys[j].key = at;
		}
	}
	arca_idset_release(&pos);
	if (rc < 0)
		return rc;
	qsort(keys, nruns, sizeof(*keys), key_cmp);
	return 0;
}

/* Indexes the records of chunks ids[0..n) not indexed yet and starts
 * downloading them into one temporary file, in pieces, in the order the
 * ids come; a get waits for the pieces it needs. */
static int fetch_streaming(rr_ctx *c, const uint8_t (*ids)[32], size_t n)
{
	arca_idset need = ARCA_IDSET_INIT;
	arca_buf want = ARCA_BUF_INIT(SIZE_MAX);
	arca_fetch_run *runs = NULL;
	arca_fetch_landed *at = NULL;
	run_key *keys = NULL;
	uint32_t *piece0 = NULL;
	size_t nruns = 0, npieces = 0, cap = 0;
	uint64_t base = 0, piece = arca_sync__restore_piece ? arca_sync__restore_piece : 1;
	int fd = -1, rc = 0;

	if ((rc = plan_for(c, ids, n, &need, &want, &runs, &nruns)) <= 0)
		goto done;
	rc = 0;
	if (!(at = calloc(nruns, sizeof(*at))) || !(keys = calloc(nruns, sizeof(*keys))) ||
	    !(piece0 = calloc(nruns, sizeof(*piece0)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = order_runs(c, runs, nruns, (const uint8_t (*)[32])want.ptr, want.len / 32,
			keys)) != 0)
		goto done;
	for (size_t q = 0; q < nruns; q++) {
		const arca_fetch_run *r = &runs[keys[q].run];
		at[keys[q].run].file = 0;
		at[keys[q].run].base = base;
		at[keys[q].run].got = r->len;
		piece0[keys[q].run] = (uint32_t)npieces;
		for (uint64_t o = 0; o < r->len; o += piece) {
			if ((rc = arca_array_grow(&c->pieces, &cap, npieces + 1, sizeof(*c->pieces),
					64)) != 0)
				goto done;
			c->pieces[npieces].sha = r->sha;
			c->pieces[npieces].off = r->off + o;
			c->pieces[npieces].len = r->len - o < piece ? r->len - o : piece;
			npieces++;
		}
		base += r->len;
	}
	if (!(c->bases = malloc((npieces ? npieces : 1) * sizeof(*c->bases)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0, b = 0; i < npieces; i++) {
		c->bases[i] = b;
		b += c->pieces[i].len;
	}
	if ((rc = arca_fetch__temp_fd(c->o.tmp_dir, &fd)) != 0)
		goto done;
	if ((rc = arca_rsource_gate(&c->rs, npieces)) != 0) {
		close(fd);
		goto done;
	}
	/* takes fd, also on failure */
	if ((rc = arca_rsource_add(&c->rs, &need, c->x, c->npacks, runs, nruns, at, &fd, 1,
			piece0, piece)) != 0)
		goto done;
	rc = arca_fetch__dl_start(&c->dl, c->t, c->pieces, npieces, c->o.jobs, fd, c->bases,
		&c->dl_n, piece_done, c);
	if (!rc)
		c->n.objects += nruns;
done:
	free(at);
	free(keys);
	free(piece0);
	free(runs);
	arca_buf_release(&want);
	arca_idset_release(&need);
	return rc < 0 ? rc : 0;
}

/* Ends the data download: stopped when the restore failed (`rc`). The
 * error that counts: a failed GET's (the restore then failed only for
 * want of its bytes), else the restore's, else the download's. */
static int finish_download(rr_ctx *c, int rc)
{
	arca_firsterr keep;
	int rc_d;

	arca_firsterr_init(&keep);
	if (rc) {
		arca_firsterr_set(&keep, rc);
		arca_fetch__dl_cancel(c->dl);
	}
	rc_d = arca_fetch__dl_join(c->dl);
	c->dl = NULL;
	if (!atomic_load(&c->dl_failed) && rc)
		rc = arca_firsterr_raise(&keep);
	else if (rc_d)
		rc = rc_d;
	arca_firsterr_release(&keep);
	return rc;
}

/* The manifest's bytes, through the source (each chunk checked), into mf. */
static int read_manifest(rr_ctx *c, const arca_artifact_rec *rec, arca_buf *mf)
{
	arca_chunk_source src = arca_rsource_source(&c->rs);
	void *st = NULL;
	char ids[ARCA_ID_STRLEN];
	int rc;

	if ((rc = src.state_new(src.ctx, &st)) != 0)
		return rc;
	for (uint32_t i = 0; i < rec->nchunks && !rc; i++) {
		const uint8_t *raw;
		uint32_t len;
		if ((rc = src.get(src.ctx, st, rec->chunk_ids[i], &raw, &len)) != 0)
			break;
		if (len != rec->chunk_lens[i]) {
			arca_id_format(ids, c->art);
			rc = arca_err_set(ARCA_ECORRUPT, "artifact %s: manifest chunk length differs",
				ids);
			break;
		}
		rc = arca_buf_put(mf, raw, len);
	}
	src.state_free(src.ctx, st);
	return rc;
}

int arca_remote_restore(arca_op_stats *stats, arca_store *s, const char *remote, const char *ref,
		const char *dest, const arca_restore_options *ro, const arca_sync_options *so,
		arca_sync_result *pulled)
{
	rr_ctx c;
	arca_remote_conf conf;
	arca_sync_result own = ARCA_SYNC_RESULT_INIT;
	arca_fetch_ref fr;
	arca_buf obj = ARCA_BUF_INIT(ARCA_FETCH_ARTO_MAX);
	arca_buf mf = ARCA_BUF_INIT((size_t)ARCA_FETCH_MANIFEST_MAX);
	arca_buf data = ARCA_BUF_INIT(SIZE_MAX);
	arca_artifact_rec rec;
	arca_arto a;
	arca_pidx *x = NULL;
	int rc, have_rec = 0;

	if (!remote || !ref || !dest)
		return arca_err_set(ARCA_EINVAL, "arca_remote_restore: NULL argument");
	if (!pulled)
		pulled = &own;
	if ((rc = arca__result_start("arca_sync_result", pulled, sizeof(*pulled),
			ARCA_SYNC_RESULT_VERSION)) != 0)
		return rc;
	memset(&c, 0, sizeof(c));
	memset(&conf, 0, sizeof(conf));
	memset(&a, 0, sizeof(a));
	arca_rsource_init(&c.rs);
	if ((rc = arca_sync__options(&c.o, so)) != 0 ||
	    (rc = arca_sync__remote_conf(&conf, s, remote)) != 0)
		goto done;
	arca_progress__init(&c.ps, c.o.progress_cb, c.o.progress_payload);
	if ((rc = arca_sync__open(&c.t, &conf, &c.o)) != 0)
		goto done;
	c.n.requests++;
	if ((rc = arca_sync__marker(c.t, 0)) != 0 ||
	    (rc = arca_fetch__resolve(c.t, ref, &fr, &c.n)) != 0 ||
	    (rc = arca_progress__begin(&c.ps, ARCA_PROGRESS_DOWNLOAD, 0, 0)) != 0 ||
	    (rc = arca_fetch__artifact(c.t, &fr.id, &obj, &a, &rec, &c.n)) != 0)
		goto done;
	have_rec = 1;
	if ((rc = arca_store__restore_precheck(rec.a.kind, dest, ro)) != 0) {
		arca_err_wrap(rc, "restore to %s", dest);
		goto done;
	}
	c.art = &fr.id;
	if (a.npacks && !(x = calloc(a.npacks, sizeof(*x)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	c.x = x;
	c.npacks = a.npacks;
	if ((rc = arca_fetch__indexes(c.t, &a, x, c.o.jobs, &c.n)) != 0)
		goto done;

	/* the manifest first: it names the data chunks */
	if ((rc = fetch_into(&c, (const uint8_t (*)[32])rec.chunk_ids, rec.nchunks)) != 0 ||
	    (rc = read_manifest(&c, &rec, &mf)) != 0 ||
	    (rc = arca_fetch__check_manifest(c.t, &fr.id, &rec, mf.ptr, mf.len)) != 0)
		goto done;
	if ((rc = arca_fetch__data_chunks(mf.ptr, mf.len, &rec.a, &data)) != 0) {
		char ids[ARCA_ID_STRLEN];
		arca_id_format(ids, &fr.id);
		arca_err_wrap(rc, "artifact %s", ids);
		goto done;
	}
	arca_buf_release(&mf);
	if ((rc = fetch_streaming(&c, (const uint8_t (*)[32])data.ptr, data.len / 32)) != 0 ||
	    (rc = arca_progress__end(&c.ps, c.rs.nlocs, c.n.bytes)) != 0)
		goto done;
	pulled->artifacts = 1;
	{
		arca_chunk_source src = arca_rsource_source(&c.rs);
		rc = arca_store__restore_src(s, &rec, &src, dest, ro, stats);
	}
	rc = finish_download(&c, rc);
done:
	if (c.dl)
		finish_download(&c, rc ? rc : ARCA_EUSER);
	pulled->chunks = c.rs.nlocs;
	c.n.bytes += c.dl_n.bytes;
	c.n.requests += c.dl_n.requests;
	pulled->bytes = c.n.bytes;
	pulled->objects = c.n.objects;
	pulled->requests = c.n.requests;
	arca_rsource_release(&c.rs);
	free(c.pieces);
	free(c.bases);
	if (have_rec)
		arca_artifact_rec_clear(&rec);
	for (uint32_t i = 0; x && i < a.npacks; i++)
		arca_pidx_clear(&x[i]);
	free(x);
	arca_buf_release(&obj);
	arca_buf_release(&mf);
	arca_buf_release(&data);
	if (c.t)
		c.t->free(c.t);
	arca_remote_conf_clear(&conf);
	return rc;
}
