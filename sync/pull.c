/*
 * arca_pull: fetch artifacts and refs from a remote with plain GETs.
 * Per artifact: its object, the indexes of the packs it lists, then its
 * manifest chunks (kept in memory: the manifest must be read before its
 * data chunks are known), then the data chunks the store lacks, each
 * pack whole or as ranges of the records needed. Every chunk is hashed
 * before it is staged into the one writer; the manifest must hash to the
 * artifact id; then artifacts, refs and history go into the same
 * transaction, committed once. Any error aborts it: the store is as it was.
 */
#include "sync/sync.h"
#include "sync/idset.h"
#include "sync/rpack.h"
#include "cas/hash.h"
#include "store/history.h"
#include "store/journal.h"
#include "store/manifest.h"
#include "store/record.h"
#include "util/array.h"
#include "util/error.h"
#include "util/firsterr.h"
#include "util/fsutil.h"
#include "util/hex.h"
#include "util/progress.h"
#include "util/version.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARTO_MAX ((size_t)ARCA_RECORD_MAX + ARCA_ARTO_MAX_PACKS * 32u + 128u)
#define PIDX_MAX ((size_t)ARCA_PIDX_HEADER_LEN + (size_t)ARCA_PIDX_MAX_ENTRIES * ARCA_PIDX_ENTRY_LEN + 32u)
#define MANIFEST_MAX (1ull << 32)
#define RANGE_GAP (256u << 10)   /* records closer than this share one GET */

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
	uint64_t chunks, bytes, requests, objects;
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

static int missing_chunk(const arca_id *id, const uint8_t c[32]);

/* ---- fetching chunks from packs ---- */

typedef struct {
	uint64_t off;
	uint32_t len;
} rec_span;

static int span_cmp(const void *a, const void *b)
{
	const rec_span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

typedef struct {
	pull_ctx *p;
	arca_rpack_reader *r;
} feed_ctx;

static int feed(void *ctx, const void *buf, size_t n)
{
	feed_ctx *f = ctx;
	f->p->bytes += n;
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
	p->requests++;
	if ((rc = p->t->get(p->t, arca_buf_cstr(&key), off, off ? len : 0, feed, &f, NULL)) != 0 ||
	    (rc = arca_rpack_reader_finish(f.r, &staged)) != 0)
		goto done;
	p->objects++;
	p->chunks += staged;
	rc = arca_progress__set(&p->ps, p->chunks, p->bytes);
done:
	arca_rpack_reader_free(f.r);
	arca_buf_release(&key);
	return rc;
}

typedef struct {
	const uint8_t *sha;
	uint64_t off, len;        /* off 0: the whole pack */
} run;

/* The GETs that bring every chunk of p->need: per pack (the first listed
 * that has a chunk), the whole pack when most of it is needed, else runs
 * of records closer than RANGE_GAP. *missing: a needed chunk no pack has. */
static int plan(pull_ctx *p, arca_pidx *x, uint32_t npacks, run **out, size_t *nout,
		const uint8_t **missing, const uint8_t (*ids)[32], size_t n)
{
	arca_idset placed = ARCA_IDSET_INIT;
	rec_span *sp = NULL;
	run *runs = NULL;
	size_t nruns = 0, cap = 0, nsp;
	int rc = 0;

	*missing = NULL;
	if (!(sp = malloc(n * sizeof(*sp))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (uint32_t k = 0; k < npacks && !rc; k++) {
		uint64_t bytes = 0;
		nsp = 0;
		for (uint32_t i = 0; i < x[k].n && nsp < n; i++) {
			const arca_pidx_entry *e = &x[k].e[i];
			if (!arca_idset_has(&p->need, e->id))
				continue;
			if ((rc = arca_idset_add(&placed, e->id)) < 0)
				goto done;
			if (rc == 0)
				continue; /* an earlier pack brings it */
			rc = 0;
			sp[nsp].off = e->offset;
			sp[nsp].len = e->length;
			nsp++;
		}
		if (!nsp)
			continue;
		qsort(sp, nsp, sizeof(*sp), span_cmp);
		{
			size_t m = 0;
			for (size_t i = 0; i < nsp; i++)
				if (m == 0 || sp[i].off != sp[m - 1].off)
					sp[m++] = sp[i];
			nsp = m;
		}
		for (size_t i = 0; i < nsp; i++)
			bytes += sp[i].len;
		for (size_t i = 0; i < nsp;) {
			uint64_t st = sp[i].off, end = sp[i].off + sp[i].len;
			size_t j = i + 1;
			if (bytes * 2 >= x[k].pack_size) {
				st = 0;
				end = x[k].pack_size;
				j = nsp;
			}
			while (j < nsp && sp[j].off >= end && sp[j].off - end <= RANGE_GAP) {
				end = sp[j].off + sp[j].len;
				j++;
			}
			if (j < nsp && sp[j].off < end) {
				rc = arca_err_set(ARCA_ECORRUPT, "pack index: records overlap");
				goto done;
			}
			if ((rc = arca_array_grow(&runs, &cap, nruns + 1, sizeof(*runs), 16)) != 0)
				goto done;
			runs[nruns].sha = x[k].pack_sha;
			runs[nruns].off = st;
			runs[nruns].len = end - st;
			nruns++;
			i = j;
		}
	}
	for (size_t i = 0; i < n && !*missing; i++)
		if (!arca_idset_has(&placed, ids[i]))
			*missing = ids[i];
done:
	free(sp);
	arca_idset_release(&placed);
	if (rc)
		free(runs);
	else {
		*out = runs;
		*nout = nruns;
	}
	return rc;
}

/* ---- parallel GETs: --jobs runs land in unlinked temp files, then the
 * calling thread (the writer's) takes them in, in order ---- */

typedef struct {
	pull_ctx *p;
	const run *r;
	int fd;
	arca_firsterr *fe;
	pthread_t th;
	int started;
} dl_job;

static int to_fd(void *ctx, const void *buf, size_t n)
{
	dl_job *j = ctx;
	if (arca_write_all(j->fd, buf, n) < 0)
		return arca_err_sys("write temporary file");
	return 0;
}

static void *download(void *arg)
{
	dl_job *j = arg;
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	int rc;
	if (arca_firsterr_code(j->fe))
		goto done;
	if ((rc = arca_layout_pack_key(&key, j->r->sha)) == 0)
		rc = j->p->t->get(j->p->t, arca_buf_cstr(&key), j->r->off,
			j->r->off ? j->r->len : 0, to_fd, j, NULL);
	arca_firsterr_set(j->fe, rc);
done:
	arca_buf_release(&key);
	return NULL;
}

static int temp_fd(pull_ctx *p, int *fd)
{
	const char *dir = p->o.tmp_dir && *p->o.tmp_dir ? p->o.tmp_dir : "/tmp";
	arca_buf path = ARCA_BUF_INIT(4096);
	int rc;
	if ((rc = arca_buf_setf(&path, "%s/arca-pull-XXXXXX", dir)) != 0)
		return rc;
	*fd = mkostemp((char *)path.ptr, O_CLOEXEC);
	if (*fd < 0)
		rc = arca_err_sys("create a temporary file in %s", dir);
	else
		unlink(arca_buf_cstr(&path));
	arca_buf_release(&path);
	return rc;
}

/* Takes the bytes of run `r` from `fd` in. */
static int take_file(pull_ctx *p, const run *r, int fd)
{
	feed_ctx f = { p, NULL };
	uint8_t *buf = NULL;
	uint64_t staged = 0, off = 0;
	int rc;

	if ((rc = arca_rpack_reader_new(&f.r, p->w, r->sha, r->off, want, p)) != 0)
		return rc;
	arca_rpack_reader_tap(f.r, tap);
	if (!(buf = malloc(1u << 20))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	for (;;) {
		ssize_t got = arca_pread_full(fd, buf, 1u << 20, (off_t)off);
		if (got < 0) {
			rc = arca_err_sys("read temporary file");
			goto done;
		}
		if (got == 0)
			break;
		if ((rc = feed(&f, buf, (size_t)got)) != 0)
			goto done;
		off += (uint64_t)got;
	}
	if ((rc = arca_rpack_reader_finish(f.r, &staged)) != 0)
		goto done;
	p->objects++;
	p->chunks += staged;
	rc = arca_progress__set(&p->ps, p->chunks, p->bytes);
done:
	free(buf);
	arca_rpack_reader_free(f.r);
	return rc;
}

static int run_parallel(pull_ctx *p, const run *runs, size_t n)
{
	dl_job *jobs = calloc(p->o.jobs, sizeof(*jobs));
	arca_firsterr fe;
	int rc = 0;

	if (!jobs)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->o.jobs; i++)
		jobs[i].fd = -1; /* a job never started has nothing to close */
	arca_firsterr_init(&fe);
	for (size_t at = 0; at < n && !rc; at += p->o.jobs) {
		size_t k = n - at < p->o.jobs ? n - at : p->o.jobs;
		for (size_t i = 0; i < k; i++) {
			jobs[i].p = p;
			jobs[i].r = &runs[at + i];
			jobs[i].fe = &fe;
			jobs[i].started = 0;
			if ((rc = temp_fd(p, &jobs[i].fd)) != 0) {
				jobs[i].fd = -1;
				arca_firsterr_set(&fe, rc);
				break;
			}
			p->requests++;
			if (pthread_create(&jobs[i].th, NULL, download, &jobs[i]) != 0) {
				arca_firsterr_set(&fe, arca_err_set(ARCA_ERROR, "cannot start a thread"));
				break;
			}
			jobs[i].started = 1;
		}
		for (size_t i = 0; i < k; i++)
			if (jobs[i].started)
				pthread_join(jobs[i].th, NULL);
		rc = arca_firsterr_raise(&fe);
		for (size_t i = 0; i < k; i++) {
			if (!rc && jobs[i].started)
				rc = take_file(p, jobs[i].r, jobs[i].fd);
			if (jobs[i].fd >= 0)
				close(jobs[i].fd);
			jobs[i].fd = -1;
		}
	}
	arca_firsterr_release(&fe);
	free(jobs);
	return rc;
}

/* Fetches every chunk in p->need from the packs `x` (the artifact's). */
static int fetch(pull_ctx *p, arca_pidx *x, uint32_t npacks, const uint8_t (*ids)[32], size_t n,
		const arca_id *art)
{
	run *runs = NULL;
	size_t nruns = 0;
	const uint8_t *missing;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = plan(p, x, npacks, &runs, &nruns, &missing, ids, n)) != 0)
		return rc;
	if (missing)
		rc = missing_chunk(art, missing);
	else if (p->o.jobs > 1 && nruns > 1)
		rc = run_parallel(p, runs, nruns);
	else
		for (size_t i = 0; i < nruns && !rc; i++)
			rc = fetch_run(p, runs[i].sha, runs[i].off, runs[i].len);
	free(runs);
	return rc;
}

/* ---- one artifact ---- */

typedef struct {
	const uint8_t *p;
	size_t n, off;
} mem_in;

static int mem_read(void *ctx, void *out, size_t n)
{
	mem_in *m = ctx;
	if (m->off == m->n && n)
		return ARCA_ENOTFOUND;
	if (n > m->n - m->off)
		return arca_err_set(ARCA_ECORRUPT, "manifest: truncated");
	memcpy(out, m->p + m->off, n);
	m->off += n;
	return 0;
}

/* The data chunks of the manifest in `mf` (unique, in order) into `ids`;
 * the record's kind and sizes must be the manifest's. */
static int data_chunks(const uint8_t *mf, size_t n, const arca_artifact *want, arca_buf *ids)
{
	mem_in m = { mf, n, 0 };
	arca_mf_reader r;
	arca_mf_entry e;
	arca_idset seen = ARCA_IDSET_INIT;
	uint8_t id[32];
	uint64_t len, logical = 0, data = 0;
	int kind, has_id, rc;

	arca_mf_reader_init(&r, mem_read, &m);
	if ((rc = arca_mf_read_header(&r, &kind)) != 0)
		goto done;
	if (kind != (int)want->kind) {
		rc = arca_err_set(ARCA_ECORRUPT, "manifest kind differs from the artifact record");
		goto done;
	}
	for (;;) {
		if (kind == ARCA_KIND_TREE) {
			if ((rc = arca_mf_next_entry(&r, &e, NULL)) <= 0)
				break;
			if (e.type != ARCA_MF_FILE)
				continue;
		}
		while ((rc = arca_mf_next_extent(&r, id, &len, &has_id)) == 1) {
			if (logical + len < logical) {
				rc = arca_err_set(ARCA_ECORRUPT, "manifest: sizes overflow");
				goto done;
			}
			logical += len;
			if (!has_id)
				continue;
			data += len;
			if ((rc = arca_idset_add(&seen, id)) < 0)
				goto done;
			if (rc == 1 && (rc = arca_buf_put(ids, id, 32)) != 0)
				goto done;
		}
		if (rc < 0)
			goto done;
		if (kind == ARCA_KIND_IMAGE) {
			rc = arca_mf_read_finish(&r);
			break;
		}
	}
	if (!rc && m.off != m.n)
		rc = arca_err_set(ARCA_ECORRUPT, "manifest: bytes after its end");
	if (!rc && (logical != want->logical_bytes || data != want->data_bytes))
		rc = arca_err_set(ARCA_ECORRUPT, "the record's sizes differ from the manifest's");
done:
	arca_idset_release(&seen);
	return rc;
}

static int load_indexes(pull_ctx *p, const arca_arto *a, arca_pidx *x)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), b = ARCA_BUF_INIT(PIDX_MAX);
	int rc = 0;
	for (uint32_t i = 0; i < a->npacks && !rc; i++) {
		b.len = 0;
		if ((rc = arca_layout_index_key(&key, a->packs[i])) != 0)
			break;
		p->requests++;
		if ((rc = arca_transport_get_all(p->t, arca_buf_cstr(&key), &b)) != 0) {
			if (rc == ARCA_ENOTFOUND)
				rc = arca_err_set(ARCA_ECORRUPT, "%s: %s is missing", p->t->url,
					arca_buf_cstr(&key));
			break;
		}
		p->objects++;
		p->bytes += b.len;
		if ((rc = arca_pidx_decode(&x[i], b.ptr, b.len)) != 0) {
			arca_err_wrap(rc, "%s/%s", p->t->url, arca_buf_cstr(&key));
			break;
		}
		if (memcmp(x[i].pack_sha, a->packs[i], 32) != 0)
			rc = arca_err_set(ARCA_ECORRUPT, "%s/%s: the index names another pack",
				p->t->url, arca_buf_cstr(&key));
	}
	arca_buf_release(&key);
	arca_buf_release(&b);
	return rc;
}

static int missing_chunk(const arca_id *id, const uint8_t c[32])
{
	char s[ARCA_ID_STRLEN], hex[17];
	arca_id_format(s, id);
	arca_hex_encode(hex, c, 8);
	return arca_err_set(ARCA_ECORRUPT, "remote artifact %s: chunk %s is in none of its packs",
		s, hex);
}

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
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), obj = ARCA_BUF_INIT(ARTO_MAX);
	arca_buf mf = ARCA_BUF_INIT((size_t)MANIFEST_MAX), need = ARCA_BUF_INIT(SIZE_MAX);
	arca_buf data = ARCA_BUF_INIT(SIZE_MAX);
	arca_artifact_rec rec;
	arca_arto a;
	arca_pidx *x = NULL;
	MDB_txn *txn = arca_cas_writer_txn(p->w);
	MDB_val k = { 32, (void *)id->bytes }, v;
	uint8_t d[32];
	char ids[ARCA_ID_STRLEN];
	int rc, have_rec = 0;

	memset(&a, 0, sizeof(a));
	memset(&rec, 0, sizeof(rec));
	arca_id_format(ids, id);
	if (mdb_get(txn, p->s->dbi_artifacts, &k, &v) == 0)
		return 0; /* the store has it */
	if ((rc = arca_layout_artifact_key(&key, id)) != 0)
		goto done;
	p->requests++;
	if ((rc = arca_transport_get_all(p->t, arca_buf_cstr(&key), &obj)) != 0) {
		if (rc == ARCA_ENOTFOUND)
			rc = arca_err_set(ARCA_ENOTFOUND, "%s has no artifact %s", p->t->url, ids);
		goto done;
	}
	p->objects++;
	p->bytes += obj.len;
	if ((rc = arca_arto_decode(&a, obj.ptr, obj.len)) != 0 ||
	    (rc = arca_artifact_rec_decode(&rec, id, a.record, a.record_len)) != 0) {
		arca_err_wrap(rc, "%s: artifact %s", p->t->url, ids);
		goto done;
	}
	have_rec = 1;
	if (rec.a.manifest_bytes > MANIFEST_MAX) {
		rc = arca_err_set(ARCA_ECORRUPT, "%s: artifact %s: manifest too large", p->t->url, ids);
		goto done;
	}
	if (a.npacks && !(x = calloc(a.npacks, sizeof(*x)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = load_indexes(p, &a, x)) != 0)
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
	if (mf.len != rec.a.manifest_bytes) {
		rc = arca_err_set(ARCA_ECORRUPT, "artifact %s: manifest is %zu bytes, the record "
			"says %" PRIu64, ids, mf.len, rec.a.manifest_bytes);
		goto done;
	}
	if ((rc = arca_sha256_digest(d, mf.ptr, mf.len)) != 0)
		goto done;
	if (memcmp(d, id->bytes, 32) != 0) {
		rc = arca_err_set(ARCA_ECORRUPT, "%s: artifact %s: its manifest does not hash to "
			"its id", p->t->url, ids);
		goto done;
	}

	/* the data chunks the store lacks */
	if ((rc = data_chunks(mf.ptr, mf.len, &rec.a, &data)) != 0) {
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
			rc = missing_chunk(id, data.ptr + 32 * i);
			goto done;
		}
	for (uint32_t i = 0; i < rec.nchunks; i++)
		if (!arca_cas_writer_has(p->w, rec.chunk_ids[i])) {
			rc = missing_chunk(id, rec.chunk_ids[i]);
			goto done;
		}
	rc = arca_store__art_put(p->s, txn, id, a.record, a.record_len);
done:
	if (have_rec)
		arca_artifact_rec_clear(&rec);
	for (uint32_t i = 0; x && i < a.npacks; i++)
		arca_pidx_clear(&x[i]);
	free(x);
	arca_buf_release(&key);
	arca_buf_release(&obj);
	arca_buf_release(&mf);
	arca_buf_release(&need);
	arca_buf_release(&data);
	return rc;
}

/* ---- refs ---- */

/* set_ref: 1 when the ref moved, 0 when it was there already. */

typedef struct {
	char name[ARCA_NAME_MAX + 1];
	char tag[ARCA_TAG_MAX + 1];
	int has_ref;
	arca_id id;
} pull_ref;

static int resolve_remote(pull_ctx *p, const char *ref, pull_ref *r)
{
	arca_ref_entry e;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!ref)
		return arca_err_set(ARCA_EINVAL, "arca_pull: NULL ref");
	if (!strncmp(ref, "art_", 4)) {
		if (strlen(ref) != 68 || arca_hex_decode(r->id.bytes, 32, ref + 4, 64) != 64)
			return arca_err_set(ARCA_EINVAL, "'%.100s': give a remote artifact by its "
				"full id (art_ and 64 hex digits)", ref);
		return 0;
	}
	if (strchr(ref, ':')) {
		if ((rc = arca_store__split_ref(ref, r->name, r->tag)) != 0)
			return rc;
	} else {
		if ((rc = arca_store__check_word("name", ref, ARCA_NAME_MAX, 1)) != 0)
			return rc;
		memcpy(r->name, ref, strlen(ref) + 1);
		memcpy(r->tag, "latest", 7);
	}
	r->has_ref = 1;
	if ((rc = arca_sync__ref_current(p->t, r->name, r->tag, 0, &e, &p->requests)) < 0)
		return rc;
	if (rc == 0 || e.deleted)
		return arca_err_set(ARCA_ENOTFOUND, "%s has no ref %s:%s", p->t->url, r->name,
			r->tag);
	r->id = e.id;
	return 0;
}

static int set_ref(pull_ctx *p, const pull_ref *r)
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
	pull_ref *pr = NULL;
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
	p.requests++;
	if ((rc = arca_sync__marker(p.t, 0)) != 0)
		goto done;
	if (!(pr = calloc(n ? n : 1, sizeof(*pr)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = resolve_remote(&p, refs[i], &pr[i])) != 0)
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
	if ((rc = arca_progress__end(&p.ps, p.chunks, p.bytes)) != 0)
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
	out->bytes = p.bytes;
	out->objects = p.objects;
	out->requests = p.requests;
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
