/*
 * Getting an artifact's records from a remote (pull, restore --from):
 * the ref, the artifact object, its pack indexes, the plan of GETs that
 * bring a set of chunks, and the parallel downloads into temporary files.
 */
#include "sync/fetch.h"
#include "store/manifest.h"
#include "cas/hash.h"
#include "util/array.h"
#include "util/error.h"
#include "util/firsterr.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIDX_MAX ((size_t)ARCA_PIDX_HEADER_LEN + (size_t)ARCA_PIDX_MAX_ENTRIES * ARCA_PIDX_ENTRY_LEN + 32u)
#define RANGE_GAP (256u << 10)   /* records closer than this share one GET */
#define INDEX_JOBS_MAX 4

/* ---- the ref and the artifact object ---- */

int arca_fetch__resolve(arca_transport *t, const char *ref, arca_fetch_ref *r,
		arca_fetch_counts *n)
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
	if ((rc = arca_sync__ref_current(t, r->name, r->tag, 0, &e, &n->requests)) < 0)
		return rc;
	if (rc == 0 || e.deleted)
		return arca_err_set(ARCA_ENOTFOUND, "%s has no ref %s:%s", t->url, r->name,
			r->tag);
	r->id = e.id;
	return 0;
}

int arca_fetch__artifact(arca_transport *t, const arca_id *id, arca_buf *obj, arca_arto *a,
		arca_artifact_rec *rec, arca_fetch_counts *n)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	char ids[ARCA_ID_STRLEN];
	int rc, have_rec = 0;

	memset(a, 0, sizeof(*a));
	memset(rec, 0, sizeof(*rec));
	arca_id_format(ids, id);
	if ((rc = arca_layout_artifact_key(&key, id)) != 0)
		goto done;
	n->requests++;
	if ((rc = arca_transport_get_all(t, arca_buf_cstr(&key), obj)) != 0) {
		if (rc == ARCA_ENOTFOUND)
			rc = arca_err_set(ARCA_ENOTFOUND, "%s has no artifact %s", t->url, ids);
		goto done;
	}
	n->objects++;
	n->bytes += obj->len;
	if ((rc = arca_arto_decode(a, obj->ptr, obj->len)) != 0 ||
	    (rc = arca_artifact_rec_decode(rec, id, a->record, a->record_len)) != 0) {
		arca_err_wrap(rc, "%s: artifact %s", t->url, ids);
		goto done;
	}
	have_rec = 1;
	if (rec->a.manifest_bytes > ARCA_FETCH_MANIFEST_MAX)
		rc = arca_err_set(ARCA_ECORRUPT, "%s: artifact %s: manifest too large", t->url, ids);
	else if ((rc = arca_fetch__check_record(rec)) != 0)
		arca_err_wrap(rc, "%s: artifact %s", t->url, ids);
done:
	if (rc && have_rec)
		arca_artifact_rec_clear(rec);
	arca_buf_release(&key);
	return rc;
}

int arca_fetch__check_record(const arca_artifact_rec *rec)
{
	const arca_artifact *a = &rec->a;
	/* the rules of store/snapshot.c, each failure one message */
	if ((a->name && arca_store__check_word("name", a->name, ARCA_NAME_MAX, 1) != 0) ||
	    (a->tag && arca_store__check_word("tag", a->tag, ARCA_TAG_MAX, 0) != 0))
		return arca_err_set(ARCA_ECORRUPT, "its record holds a name or tag that is not valid");
	if (a->tag && !a->name)
		return arca_err_set(ARCA_ECORRUPT, "its record has a tag but no name");
	if (a->nlabels > ARCA_LABELS_MAX)
		return arca_err_set(ARCA_ECORRUPT, "its record has too many labels");
	for (size_t i = 0; i < a->nlabels; i++)
		if (!a->labels[i].key || !a->labels[i].value ||
		    arca_store__check_word("label key", a->labels[i].key, 128, 1) != 0 ||
		    strlen(a->labels[i].value) > 1024)
			return arca_err_set(ARCA_ECORRUPT, "its record holds a label that is not valid");
	return 0;
}

uint32_t arca_fetch__max_entries = ARCA_FETCH_MAX_ENTRIES;

typedef struct {
	arca_transport *t;
	const arca_arto *a;
	arca_pidx *x;
	arca_fetch_counts *n;
	pthread_mutex_t mu;           /* guards next, entries and n */
	uint32_t next;
	uint64_t entries;             /* in the indexes decoded so far */
	arca_firsterr fe;
} idx_pool;

/* GETs and decodes the index of the artifact's pack i into x[i]. */
static int get_index(idx_pool *d, uint32_t i, arca_buf *key, arca_buf *b)
{
	arca_transport *t = d->t;
	int rc, over;

	b->len = 0;
	if ((rc = arca_layout_index_key(key, d->a->packs[i])) != 0)
		return rc;
	if ((rc = arca_transport_get_all(t, arca_buf_cstr(key), b)) != 0) {
		if (rc == ARCA_ENOTFOUND)
			rc = arca_err_set(ARCA_ECORRUPT, "%s: %s is missing", t->url,
				arca_buf_cstr(key));
		return rc;
	}
	pthread_mutex_lock(&d->mu);
	d->n->objects++;
	d->n->bytes += b->len;
	pthread_mutex_unlock(&d->mu);
	if ((rc = arca_pidx_decode(&d->x[i], b->ptr, b->len)) != 0) {
		arca_err_wrap(rc, "%s/%s", t->url, arca_buf_cstr(key));
		return rc;
	}
	if (memcmp(d->x[i].pack_sha, d->a->packs[i], 32) != 0)
		return arca_err_set(ARCA_ECORRUPT, "%s/%s: the index names another pack",
			t->url, arca_buf_cstr(key));
	pthread_mutex_lock(&d->mu);
	d->entries += d->x[i].n;
	over = d->entries > arca_fetch__max_entries;
	pthread_mutex_unlock(&d->mu);
	if (over)
		return arca_err_set(ARCA_ECORRUPT, "%s/%s: the artifact's pack indexes list "
			"more than %u chunks in all; refused", t->url, arca_buf_cstr(key),
			arca_fetch__max_entries);
	return 0;
}

static void *index_worker(void *arg)
{
	idx_pool *d = arg;
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), b = ARCA_BUF_INIT(PIDX_MAX);

	for (;;) {
		uint32_t i;
		pthread_mutex_lock(&d->mu);
		i = d->next < d->a->npacks && !arca_firsterr_code(&d->fe) ? d->next++ :
			d->a->npacks;
		if (i < d->a->npacks)
			d->n->requests++;
		pthread_mutex_unlock(&d->mu);
		if (i == d->a->npacks)
			break;
		if (arca_firsterr_set(&d->fe, get_index(d, i, &key, &b)) != 0)
			break;
	}
	arca_buf_release(&key);
	arca_buf_release(&b);
	return NULL;
}

/* Many packs mean many round trips: the indexes are fetched a few at a
 * time, each into its own buffer. Few, because a hostile index may be
 * PIDX_MAX bytes; the cap on entries holds for all of them together. */
int arca_fetch__indexes(arca_transport *t, const arca_arto *a, arca_pidx *x, size_t jobs,
		arca_fetch_counts *n)
{
	idx_pool d = { .t = t, .a = a, .x = x, .n = n };
	pthread_t th[INDEX_JOBS_MAX];
	size_t started = 0;
	int rc;

	if (jobs > INDEX_JOBS_MAX)
		jobs = INDEX_JOBS_MAX;
	if (jobs > a->npacks)
		jobs = a->npacks;
	pthread_mutex_init(&d.mu, NULL);
	arca_firsterr_init(&d.fe);
	if (jobs <= 1)
		index_worker(&d);
	else
		for (; started < jobs; started++)
			if (pthread_create(&th[started], NULL, index_worker, &d) != 0) {
				arca_firsterr_set(&d.fe, arca_err_set(ARCA_ERROR,
					"cannot start a thread"));
				break;
			}
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	rc = arca_firsterr_raise(&d.fe);
	arca_firsterr_release(&d.fe);
	pthread_mutex_destroy(&d.mu);
	return rc;
}

int arca_fetch__missing(const arca_id *id, const uint8_t c[32])
{
	char s[ARCA_ID_STRLEN], hex[17];
	arca_id_format(s, id);
	arca_hex_encode(hex, c, 8);
	return arca_err_set(ARCA_ECORRUPT, "remote artifact %s: chunk %s is in none of its packs",
		s, hex);
}

/* ---- the manifest ---- */

int arca_fetch__check_manifest(arca_transport *t, const arca_id *id,
		const arca_artifact_rec *rec, const uint8_t *mf, size_t len)
{
	char ids[ARCA_ID_STRLEN];
	uint8_t d[32];
	int rc;

	arca_id_format(ids, id);
	if (len != rec->a.manifest_bytes)
		return arca_err_set(ARCA_ECORRUPT, "artifact %s: manifest is %zu bytes, the record "
			"says %" PRIu64, ids, len, rec->a.manifest_bytes);
	if ((rc = arca_sha256_digest(d, mf, len)) != 0)
		return rc;
	if (memcmp(d, id->bytes, 32) != 0)
		return arca_err_set(ARCA_ECORRUPT, "%s: artifact %s: its manifest does not hash to "
			"its id", t->url, ids);
	return 0;
}

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

int arca_fetch__data_chunks(const uint8_t *mf, size_t n, const arca_artifact *want,
		arca_buf *ids)
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

/* ---- planning the GETs ---- */

typedef struct {
	uint64_t off;
	uint32_t len;
} rec_span;

static int span_cmp(const void *a, const void *b)
{
	const rec_span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

int arca_fetch__plan(const arca_idset *need, const arca_pidx *x, uint32_t npacks,
		arca_fetch_run **out, size_t *nout, const uint8_t **missing,
		const uint8_t (*ids)[32], size_t n)
{
	arca_idset placed = ARCA_IDSET_INIT;
	rec_span *sp = NULL;
	arca_fetch_run *runs = NULL;
	size_t nruns = 0, cap = 0, nsp;
	int rc = 0;

	*missing = NULL;
	if (!(sp = malloc((n ? n : 1) * sizeof(*sp))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (uint32_t k = 0; k < npacks && !rc; k++) {
		uint64_t bytes = 0;
		nsp = 0;
		for (uint32_t i = 0; i < x[k].n && nsp < n; i++) {
			const arca_pidx_entry *e = &x[k].e[i];
			if (!arca_idset_has(need, e->id))
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
	if (rc || *missing) {
		free(runs);
		runs = NULL;
		nruns = 0;
	}
	if (!rc) {
		*out = runs;
		*nout = nruns;
	}
	return rc;
}

size_t arca_fetch__run_at(const arca_fetch_run *runs, size_t a, size_t b, uint64_t off)
{
	size_t lo = a, hi = b;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (runs[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == a ? b : lo - 1;
}

/* ---- parallel downloads ---- */

int arca_fetch__temp_fd(const char *tmp_dir, int *fd)
{
	const char *dir = tmp_dir && *tmp_dir ? tmp_dir : "/tmp";
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

typedef struct {
	arca_transport *t;
	const arca_fetch_run *runs;
	size_t n, next;
	const char *tmp_dir;
	arca_fetch_landed *at;
	arca_fetch_counts *cnt;
	pthread_mutex_t mu;           /* guards next and cnt */
	arca_firsterr fe;
} dl_pool;

typedef struct {
	dl_pool *pool;
	uint32_t no;
	int *fd;
	uint64_t size;                /* of the file so far */
	pthread_t th;
} dl_worker;

static int to_fd(void *ctx, const void *buf, size_t n)
{
	dl_worker *w = ctx;
	if (arca_write_all(*w->fd, buf, n) < 0)
		return arca_err_sys("write temporary file");
	w->size += n;
	return 0;
}

static void *download(void *arg)
{
	dl_worker *w = arg;
	dl_pool *d = w->pool;
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);

	for (;;) {
		size_t i;
		int rc;
		pthread_mutex_lock(&d->mu);
		i = d->next < d->n && !arca_firsterr_code(&d->fe) ? d->next++ : d->n;
		if (i < d->n)
			d->cnt->requests++;
		pthread_mutex_unlock(&d->mu);
		if (i == d->n)
			break;
		if (*w->fd < 0 && (rc = arca_fetch__temp_fd(d->tmp_dir, w->fd)) != 0) {
			*w->fd = -1;
			arca_firsterr_set(&d->fe, rc);
			break;
		}
		d->at[i].file = w->no;
		d->at[i].base = w->size;
		if ((rc = arca_layout_pack_key(&key, d->runs[i].sha)) == 0)
			rc = d->t->get(d->t, arca_buf_cstr(&key), d->runs[i].off,
				d->runs[i].off ? d->runs[i].len : 0, to_fd, w, NULL);
		d->at[i].got = w->size - d->at[i].base;
		pthread_mutex_lock(&d->mu);
		d->cnt->bytes += d->at[i].got;
		pthread_mutex_unlock(&d->mu);
		if (rc) {
			arca_firsterr_set(&d->fe, rc);
			break;
		}
	}
	arca_buf_release(&key);
	return NULL;
}

int arca_fetch__download(arca_transport *t, const arca_fetch_run *runs, size_t n,
		size_t jobs, const char *tmp_dir, int *fds, arca_fetch_landed *at,
		arca_fetch_counts *cnt)
{
	dl_pool d;
	dl_worker *w;
	size_t started = 0;
	int rc;

	for (size_t i = 0; i < jobs; i++)
		fds[i] = -1;
	if (!n)
		return 0;
	if (jobs > n)
		jobs = n;
	if (!(w = calloc(jobs, sizeof(*w))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	memset(&d, 0, sizeof(d));
	d.t = t;
	d.runs = runs;
	d.n = n;
	d.tmp_dir = tmp_dir;
	d.at = at;
	d.cnt = cnt;
	pthread_mutex_init(&d.mu, NULL);
	arca_firsterr_init(&d.fe);
	for (size_t i = 0; i < jobs; i++) {
		w[i].pool = &d;
		w[i].no = (uint32_t)i;
		w[i].fd = &fds[i];
		if (pthread_create(&w[i].th, NULL, download, &w[i]) != 0) {
			arca_firsterr_set(&d.fe, arca_err_set(ARCA_ERROR, "cannot start a thread"));
			break;
		}
		started++;
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(w[i].th, NULL);
	rc = arca_firsterr_raise(&d.fe);
	arca_firsterr_release(&d.fe);
	pthread_mutex_destroy(&d.mu);
	free(w);
	return rc;
}

/* ---- downloads into one file at known places, in the background ---- */

struct arca_fetch_dl {
	arca_transport *t;
	const arca_fetch_run *runs;
	size_t n, next;
	int fd;
	const uint64_t *bases;
	arca_fetch_counts *cnt;
	arca_fetch_done_fn done;
	void *ctx;
	atomic_int cancel;
	pthread_mutex_t mu;           /* guards next and cnt */
	arca_firsterr fe;
	pthread_t th[ARCA_FETCH_MAX_JOBS];
	size_t nth;
};

typedef struct {
	arca_fetch_dl *d;
	uint64_t at, end;             /* where the next byte goes, and the run's end */
} fixed_sink;

static int to_place(void *ctx, const void *buf, size_t n)
{
	fixed_sink *s = ctx;
	if (atomic_load(&s->d->cancel))
		return ARCA_EUSER;
	if (n > s->end - s->at)
		return arca_err_set(ARCA_ECORRUPT, "object longer than asked for");
	if (arca_pwrite_all(s->d->fd, buf, n, (off_t)s->at) < 0)
		return arca_err_sys("write temporary file");
	s->at += n;
	return 0;
}

static void *download_fixed(void *arg)
{
	arca_fetch_dl *d = arg;
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);

	for (;;) {
		fixed_sink s = { d, 0, 0 };
		size_t i;
		int rc;
		pthread_mutex_lock(&d->mu);
		i = d->next < d->n && !arca_firsterr_code(&d->fe) ? d->next++ : d->n;
		if (i < d->n)
			d->cnt->requests++;
		pthread_mutex_unlock(&d->mu);
		if (i == d->n)
			break;
		s.at = d->bases[i];
		s.end = d->bases[i] + d->runs[i].len;
		if ((rc = arca_layout_pack_key(&key, d->runs[i].sha)) == 0)
			rc = d->t->get(d->t, arca_buf_cstr(&key), d->runs[i].off, d->runs[i].len,
				to_place, &s, NULL);
		if (!rc && s.at != s.end)
			rc = arca_err_set(ARCA_ECORRUPT, "%s: pack object shorter than its index says",
				d->t->url);
		pthread_mutex_lock(&d->mu);
		d->cnt->bytes += s.at - d->bases[i];
		pthread_mutex_unlock(&d->mu);
		if (rc)
			arca_firsterr_set(&d->fe, rc);
		d->done(d->ctx, i, rc);
		if (rc)
			break;
	}
	arca_buf_release(&key);
	return NULL;
}

int arca_fetch__dl_start(arca_fetch_dl **out, arca_transport *t, const arca_fetch_run *runs,
		size_t n, size_t jobs, int fd, const uint64_t *bases, arca_fetch_counts *cnt,
		arca_fetch_done_fn done, void *ctx)
{
	arca_fetch_dl *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	d->t = t;
	d->runs = runs;
	d->n = n;
	d->fd = fd;
	d->bases = bases;
	d->cnt = cnt;
	d->done = done;
	d->ctx = ctx;
	atomic_init(&d->cancel, 0);
	pthread_mutex_init(&d->mu, NULL);
	arca_firsterr_init(&d->fe);
	if (jobs > ARCA_FETCH_MAX_JOBS)
		jobs = ARCA_FETCH_MAX_JOBS;
	if (jobs > n)
		jobs = n;
	for (size_t i = 0; i < jobs; i++) {
		if (pthread_create(&d->th[i], NULL, download_fixed, d) != 0)
			break;
		d->nth++;
	}
	if (n && !d->nth) {
		rc = arca_err_set(ARCA_ERROR, "cannot start a thread");
		arca_firsterr_release(&d->fe);
		pthread_mutex_destroy(&d->mu);
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void arca_fetch__dl_cancel(arca_fetch_dl *d)
{
	if (d)
		atomic_store(&d->cancel, 1);
}

int arca_fetch__dl_join(arca_fetch_dl *d)
{
	int rc;
	if (!d)
		return 0;
	for (size_t i = 0; i < d->nth; i++)
		pthread_join(d->th[i], NULL);
	rc = arca_firsterr_raise(&d->fe);
	arca_firsterr_release(&d->fe);
	pthread_mutex_destroy(&d->mu);
	free(d);
	return rc;
}
