#include "store/store.h"
#include "util/array.h"
#include "cas/chunker.h"
#include "store/manifest.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_VERSION 1
#define REC_HAS_PARENT 1

/* ---- artifact record ---- */

static int put_str(arca_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	uint8_t l[2];
	if (n > 0xffff)
		return arca_err_set(ARCA_EINVAL, "string too long");
	arca_put_le16(l, (uint16_t)n);
	int rc = arca_buf_put(b, l, 2);
	return rc ? rc : arca_buf_put(b, s, n);
}

int arca_artifact_rec_encode(arca_buf *b, const arca_artifact_rec *rec)
{
	const arca_artifact *a = &rec->a;
	uint8_t h[44];
	int rc;

	h[0] = REC_VERSION;
	h[1] = (uint8_t)a->kind;
	arca_put_le16(h + 2, a->has_parent ? REC_HAS_PARENT : 0);
	arca_put_le64(h + 4, a->logical_bytes);
	arca_put_le64(h + 12, a->entries);
	arca_put_le64(h + 20, (uint64_t)a->created_ns);
	arca_put_le64(h + 28, a->manifest_bytes);
	arca_put_le64(h + 36, a->data_bytes);
	if ((rc = arca_buf_put(b, h, sizeof(h))) != 0)
		return rc;
	if (a->has_parent && (rc = arca_buf_put(b, a->parent.bytes, 32)) != 0)
		return rc;
	if ((rc = put_str(b, a->name)) != 0 || (rc = put_str(b, a->tag)) != 0)
		return rc;
	arca_put_le16(h, (uint16_t)a->nlabels);
	if ((rc = arca_buf_put(b, h, 2)) != 0)
		return rc;
	for (size_t i = 0; i < a->nlabels; i++)
		if ((rc = put_str(b, a->labels[i].key)) != 0 ||
		    (rc = put_str(b, a->labels[i].value)) != 0)
			return rc;
	arca_put_le32(h, rec->nchunks);
	if ((rc = arca_buf_put(b, h, 4)) != 0)
		return rc;
	for (uint32_t i = 0; i < rec->nchunks; i++) {
		arca_put_le32(h, rec->chunk_lens[i]);
		if ((rc = arca_buf_put(b, rec->chunk_ids[i], 32)) != 0 ||
		    (rc = arca_buf_put(b, h, 4)) != 0)
			return rc;
	}
	return 0;
}

typedef struct {
	const uint8_t *p;
	size_t n, off;
} cursor;

static const uint8_t *take(cursor *c, size_t n)
{
	if (n > c->n - c->off)
		return NULL;
	const uint8_t *p = c->p + c->off;
	c->off += n;
	return p;
}

static int take_str(cursor *c, char **out)
{
	const uint8_t *l = take(c, 2), *s;
	size_t n;
	*out = NULL;
	if (!l)
		return -1;
	n = arca_get_le16(l);
	if (!(s = take(c, n)) || memchr(s, '\0', n))
		return -1;
	if (n == 0)
		return 0;
	*out = malloc(n + 1);
	if (!*out)
		return -1;
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	return 0;
}

int arca_artifact_rec_decode(arca_artifact_rec *rec, const arca_id *id, const void *p, size_t n)
{
	cursor c = { p, n, 0 };
	const uint8_t *h;
	arca_artifact *a = &rec->a;
	uint32_t nl;

	memset(rec, 0, sizeof(*rec));
	a->id = *id;
	if (!(h = take(&c, 44)) || h[0] != REC_VERSION)
		goto bad;
	a->kind = h[1];
	if (a->kind != ARCA_KIND_TREE && a->kind != ARCA_KIND_IMAGE)
		goto bad;
	if (arca_get_le16(h + 2) & ~REC_HAS_PARENT)
		goto bad; /* unknown flags: not a record this version wrote */
	a->has_parent = (arca_get_le16(h + 2) & REC_HAS_PARENT) != 0;
	a->logical_bytes = arca_get_le64(h + 4);
	a->entries = arca_get_le64(h + 12);
	a->created_ns = (int64_t)arca_get_le64(h + 20);
	a->manifest_bytes = arca_get_le64(h + 28);
	a->data_bytes = arca_get_le64(h + 36);
	if (a->data_bytes > a->logical_bytes)
		goto bad;
	if (a->has_parent) {
		if (!(h = take(&c, 32)))
			goto bad;
		memcpy(a->parent.bytes, h, 32);
	}
	if (take_str(&c, &a->name) || take_str(&c, &a->tag) || !(h = take(&c, 2)))
		goto bad;
	nl = arca_get_le16(h);
	if (nl > ARCA_LABELS_MAX)
		goto bad;
	a->labels = calloc(nl ? nl : 1, sizeof(arca_label));
	if (!a->labels)
		goto bad;
	for (uint32_t i = 0; i < nl; i++) {
		char *k, *v;
		if (take_str(&c, &k))
			goto bad;
		a->labels[i].key = k;
		a->nlabels = i + 1;
		if (take_str(&c, &v))
			goto bad;
		a->labels[i].value = v ? v : strdup("");
		if (!k || !a->labels[i].value)
			goto bad; /* labels have a key */
	}
	if (!(h = take(&c, 4)))
		goto bad;
	rec->nchunks = arca_get_le32(h);
	if ((uint64_t)rec->nchunks * 36 != c.n - c.off)
		goto bad;
	rec->chunk_ids = malloc((size_t)rec->nchunks * 32 + 1);
	rec->chunk_lens = malloc((size_t)rec->nchunks * 4 + 1);
	if (!rec->chunk_ids || !rec->chunk_lens)
		goto bad;
	for (uint32_t i = 0; i < rec->nchunks; i++) {
		h = take(&c, 36);
		memcpy(rec->chunk_ids[i], h, 32);
		rec->chunk_lens[i] = arca_get_le32(h + 32);
		if (rec->chunk_lens[i] == 0 || rec->chunk_lens[i] > ARCA_CHUNK_MAX_LIMIT)
			goto bad;
	}
	return 0;
bad:
	arca_artifact_rec_clear(rec);
	return arca_err_set(ARCA_ECORRUPT, "index: artifact record is damaged");
}

static void artifact_clear(arca_artifact *a)
{
	free(a->name);
	free(a->tag);
	for (size_t i = 0; i < a->nlabels; i++) {
		free((char *)a->labels[i].key);
		free((char *)a->labels[i].value);
	}
	free(a->labels);
	memset(a, 0, sizeof(*a));
}

void arca_artifact_rec_clear(arca_artifact_rec *rec)
{
	artifact_clear(&rec->a);
	free(rec->chunk_ids);
	free(rec->chunk_lens);
	memset(rec, 0, sizeof(*rec));
}

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
		artifact_clear(&rec.a);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	**out = rec.a;
	return 0;
}

void arca_artifact_free(arca_artifact *a)
{
	if (!a)
		return;
	artifact_clear(a);
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
			artifact_clear(&rec.a);
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
		artifact_clear(&all[i]);
	free(all);
	return rc;
}

/* ---- manifest output ---- */

struct arca_mf_out {
	arca_store *s;
	arca_cas_writer *w;
	arca_sha256 *hash;
	arca_chunker chunker;
	uint8_t *buf;        /* pending bytes of the current manifest chunk */
	size_t len;
	uint64_t total;
	arca_buf ids;        /* id[32] + len u32 per chunk */
};

int arca_mf_out_new(arca_mf_out **out, arca_store *s, arca_cas_writer *w)
{
	arca_mf_out *o = calloc(1, sizeof(*o));
	int rc;
	if (!o)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	o->s = s;
	o->w = w;
	o->ids.max = ARCA_RECORD_MAX;
	arca_chunker_init(&o->chunker, s->chunk_min, s->chunk_avg, s->chunk_max);
	o->buf = malloc(s->chunk_max);
	if (!o->buf) {
		free(o);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	if ((rc = arca_sha256_new(&o->hash)) != 0) {
		free(o->buf);
		free(o);
		return rc;
	}
	*out = o;
	return 0;
}

static int store_chunk(arca_mf_out *o)
{
	uint8_t rec[36];
	int rc;
	if (!o->len)
		return 0;
	rc = arca_cas_writer_put_raw(o->w, o->buf, (uint32_t)o->len, o->s->zstd_level, rec);
	if (rc)
		return rc;
	arca_put_le32(rec + 32, (uint32_t)o->len);
	o->len = 0;
	return arca_buf_put(&o->ids, rec, 36);
}

int arca_mf_out_write(void *ctx, const void *p, size_t n)
{
	arca_mf_out *o = ctx;
	const uint8_t *c = p;
	int rc;

	if ((rc = arca_sha256_update(o->hash, p, n)) != 0)
		return rc;
	o->total += n;
	while (n) {
		int cut;
		size_t k = arca_chunker_scan(&o->chunker, c, n, &cut);
		memcpy(o->buf + o->len, c, k);
		o->len += k;
		c += k;
		n -= k;
		if (cut && (rc = store_chunk(o)) != 0)
			return rc;
	}
	return 0;
}

int arca_mf_out_finish(arca_mf_out *o, arca_artifact_rec *rec)
{
	int rc;
	if ((rc = store_chunk(o)) != 0 ||
	    (rc = arca_sha256_final(o->hash, rec->a.id.bytes)) != 0)
		return rc;
	rec->a.manifest_bytes = o->total;
	rec->nchunks = (uint32_t)(o->ids.len / 36);
	rec->chunk_ids = malloc((size_t)rec->nchunks * 32 + 1);
	rec->chunk_lens = malloc((size_t)rec->nchunks * 4 + 1);
	if (!rec->chunk_ids || !rec->chunk_lens)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < rec->nchunks; i++) {
		memcpy(rec->chunk_ids[i], o->ids.ptr + 36 * i, 32);
		rec->chunk_lens[i] = arca_get_le32(o->ids.ptr + 36 * i + 32);
	}
	return 0;
}

void arca_mf_out_free(arca_mf_out *o)
{
	if (!o)
		return;
	arca_sha256_free(o->hash);
	arca_buf_release(&o->ids);
	free(o->buf);
	free(o);
}

/* ---- manifest input ---- */

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

struct arca_mf_in {
	arca_store *s;
	const arca_artifact_rec *rec;
	MDB_txn *txn;
	arca_chunk_reader reader;
	arca_sha256 *hash;
	uint32_t next;         /* next chunk index */
	const uint8_t *cur;
	size_t cur_len, cur_off;
	uint64_t total;
};

int arca_mf_in_new(arca_mf_in **out, arca_store *s, const arca_artifact_rec *rec)
{
	arca_mf_in *in = calloc(1, sizeof(*in));
	int rc;
	if (!in)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	in->s = s;
	in->rec = rec;
	if ((rc = arca_chunk_reader_init(&in->reader)) != 0 ||
	    (rc = arca_sha256_new(&in->hash)) != 0 ||
	    (rc = arca_cas_txn_read(s->cas, &in->txn)) != 0) {
		arca_mf_in_free(in);
		return rc;
	}
	*out = in;
	return 0;
}

static int next_chunk(arca_mf_in *in)
{
	uint32_t len;
	int rc;
	char hex[ARCA_ID_STRLEN];

	rc = arca_cas_get(in->s->cas, in->txn, in->rec->chunk_ids[in->next],
		&in->reader, &in->cur, &len);
	if (rc) {
		arca_id_format(hex, &in->rec->a.id);
		return arca_err_wrap(rc == ARCA_ENOTFOUND ? ARCA_ECORRUPT : rc,
			"manifest of %s", hex);
	}
	if (len != in->rec->chunk_lens[in->next])
		return arca_err_set(ARCA_ECORRUPT, "manifest chunk has the wrong length");
	if ((rc = arca_sha256_update(in->hash, in->cur, len)) != 0)
		return rc;
	in->cur_len = len;
	in->cur_off = 0;
	in->next++;
	in->total += len;
	if (in->next == in->rec->nchunks) {
		uint8_t d[32];
		if ((rc = arca_sha256_final(in->hash, d)) != 0)
			return rc;
		if (memcmp(d, in->rec->a.id.bytes, 32) != 0) {
			arca_id_format(hex, &in->rec->a.id);
			return arca_err_set(ARCA_ECORRUPT,
				"manifest of %s does not hash to its id", hex);
		}
	}
	return 0;
}

int arca_mf_in_read(void *ctx, void *p, size_t n)
{
	arca_mf_in *in = ctx;
	uint8_t *c = p;
	size_t done = 0;
	int rc;

	while (done < n) {
		if (in->cur_off == in->cur_len) {
			if (in->next == in->rec->nchunks)
				return done == 0 ? ARCA_ENOTFOUND :
					arca_err_set(ARCA_ECORRUPT, "manifest: truncated");
			if ((rc = next_chunk(in)) != 0)
				return rc;
		}
		size_t k = in->cur_len - in->cur_off;
		if (k > n - done)
			k = n - done;
		memcpy(c + done, in->cur + in->cur_off, k);
		in->cur_off += k;
		done += k;
	}
	return 0;
}

void arca_mf_in_free(arca_mf_in *in)
{
	if (!in)
		return;
	if (in->txn)
		mdb_txn_abort(in->txn);
	arca_chunk_reader_release(&in->reader);
	arca_sha256_free(in->hash);
	free(in);
}
