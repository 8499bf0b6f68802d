/* Manifest I/O: manifest bytes to chunks in the store (arca_mf_out) and
 * back, checked against the artifact id (arca_mf_in). */
#include "store/mfio.h"
#include "store/journal.h"
#include "store/record.h"
#include "store/store.h"
#include "cas/chunker.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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

struct arca_mf_in {
	const arca_artifact_rec *rec;
	arca_chunk_source src;
	void *state;           /* src's, for this reader */
	arca_sha256 *hash;
	uint32_t next;         /* next chunk index */
	const uint8_t *cur;
	size_t cur_len, cur_off;
	uint64_t total;
};

int arca_mf_in_new(arca_mf_in **out, arca_store *s, const arca_artifact_rec *rec)
{
	arca_chunk_source src = arca_store__cas_source(s);
	return arca_mf_in_new_src(out, &src, rec);
}

int arca_mf_in_new_src(arca_mf_in **out, const arca_chunk_source *src,
		const arca_artifact_rec *rec)
{
	arca_mf_in *in = calloc(1, sizeof(*in));
	int rc;
	if (!in)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	in->rec = rec;
	in->src = *src;
	if ((rc = arca_sha256_new(&in->hash)) != 0 ||
	    (rc = src->state_new(src->ctx, &in->state)) != 0) {
		in->state = NULL;
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

	rc = in->src.get(in->src.ctx, in->state, in->rec->chunk_ids[in->next], &in->cur, &len);
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
	if (in->state)
		in->src.state_free(in->src.ctx, in->state);
	arca_sha256_free(in->hash);
	free(in);
}

/* ---- raw manifests (tests, tools) ---- */

int arca_store__put_manifest(arca_id *out, arca_store *s, const void *p, size_t n, int kind)
{
	arca_cas_writer *w = NULL;
	arca_mf_out *mo = NULL;
	arca_artifact_rec rec;
	arca_buf b = ARCA_BUF_INIT(ARCA_RECORD_MAX);
	struct timespec ts;
	int rc;

	memset(&rec, 0, sizeof(rec));
	if ((rc = arca_store__writer_begin(&w, s)) != 0 ||
	    (rc = arca_mf_out_new(&mo, s, w)) != 0 ||
	    (rc = arca_mf_out_write(mo, p, n)) != 0 ||
	    (rc = arca_mf_out_finish(mo, &rec)) != 0)
		goto fail;
	clock_gettime(CLOCK_REALTIME, &ts);
	rec.a.kind = kind;
	rec.a.created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if ((rc = arca_artifact_rec_encode(&b, &rec)) != 0)
		goto fail;
	if ((rc = arca_store__art_put(s, arca_cas_writer_txn(w), &rec.a.id, b.ptr, b.len)) != 0)
		goto fail;
	*out = rec.a.id;
	rc = arca_cas_writer_commit(w);
	w = NULL;
fail:
	arca_cas_writer_abort(w);
	arca_mf_out_free(mo);
	arca_artifact_rec_clear(&rec);
	arca_buf_release(&b);
	return rc;
}
