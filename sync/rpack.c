/*
 * Remote pack objects (sync/rpack.h): built from a store's records as
 * stored, taken in record by record with every chunk hashed before it is
 * staged.
 */
#include "sync/rpack.h"
#include "sync/idset.h"
#include "cas/hash.h"
#include "cas/pack.h"
#include "util/array.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- building ---- */

struct arca_rpack_builder {
	arca_store *s;
	int fd;
	arca_sha256 *h;
	uint64_t size;
	arca_chunk_reader r;
	int reader_ok;
	arca_idset ids;           /* chunks this pack holds */
	arca_pidx_entry *e;
	size_t n, cap;
};

static int out_write(arca_rpack_builder *b, const void *p, size_t n)
{
	int rc;
	if (arca_write_all(b->fd, p, n) < 0)
		return arca_err_sys("write pack object");
	if ((rc = arca_sha256_update(b->h, p, n)) != 0)
		return rc;
	b->size += n;
	return 0;
}

int arca_rpack_builder_new(arca_rpack_builder **out, arca_store *s, int fd)
{
	arca_rpack_builder *b = calloc(1, sizeof(*b));
	uint8_t hdr[ARCA_PACK_HEADER_LEN];
	int rc;

	if (!b)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	b->s = s;
	b->fd = fd;
	if ((rc = arca_sha256_new(&b->h)) != 0 || (rc = arca_chunk_reader_init(&b->r)) != 0)
		goto fail;
	b->reader_ok = 1;
	arca_pack_header_encode(hdr, 0);
	if ((rc = out_write(b, hdr, sizeof(hdr))) != 0)
		goto fail;
	*out = b;
	return 0;
fail:
	arca_rpack_builder_free(b);
	return rc;
}

static int add_entry(arca_rpack_builder *b, const uint8_t id[32], uint64_t off, uint32_t len,
		uint16_t member)
{
	int rc;
	if (b->n >= ARCA_PIDX_MAX_ENTRIES)
		return arca_err_set(ARCA_EINVAL, "pack object: too many chunks");
	if ((rc = arca_array_grow(&b->e, &b->cap, b->n + 1, sizeof(*b->e), 256)) != 0)
		return rc;
	memcpy(b->e[b->n].id, id, 32);
	b->e[b->n].offset = off;
	b->e[b->n].length = len;
	b->e[b->n].member = member;
	b->n++;
	return 0;
}

int arca_rpack_builder_add(arca_rpack_builder *b, MDB_txn *txn, const uint8_t id[32],
		uint64_t *size)
{
	arca_chunk_loc loc;
	arca_stored_record sr;
	size_t tlen, total;
	uint64_t at = b->size;
	char hex[17];
	int rc;

	if (arca_idset_has(&b->ids, id))
		goto done;
	arca_hex_encode(hex, id, 8);
	rc = arca_cas_lookup(b->s->cas, txn, id, &loc);
	if (rc == ARCA_ENOTFOUND)
		return arca_err_set(ARCA_ECORRUPT, "chunk %s: missing from the store", hex);
	if (rc)
		return rc;
	if ((rc = arca_cas_read_stored(b->s->cas, &loc, id, &b->r, &sr)) != 0)
		return arca_err_wrap(rc, "chunk %s", hex);
	tlen = (size_t)sr.nmembers * ARCA_GROUP_MEMBER_LEN;
	total = ARCA_RECORD_HEADER_LEN + tlen + sr.stored_len;
	/* read_stored leaves the whole record contiguous: header, table, payload */
	if ((rc = out_write(b, sr.stored - tlen - ARCA_RECORD_HEADER_LEN, total)) != 0)
		return rc;
	if (!sr.nmembers) {
		if ((rc = arca_idset_add(&b->ids, id)) < 0 ||
		    (rc = add_entry(b, id, at, (uint32_t)total, ARCA_PIDX_PLAIN)) != 0)
			return rc;
		goto done;
	}
	for (uint16_t i = 0; i < sr.nmembers; i++) {
		const uint8_t *m = sr.table + (size_t)i * ARCA_GROUP_MEMBER_LEN;
		if ((rc = arca_idset_add(&b->ids, m)) < 0)
			return rc;
		if (rc == 1 && (rc = add_entry(b, m, at, (uint32_t)total, i)) != 0)
			return rc;
	}
	if (!arca_idset_has(&b->ids, id))
		return arca_err_set(ARCA_ECORRUPT, "chunk %s: its group does not list it", hex);
done:
	if (size)
		*size = b->size;
	return 0;
}

uint64_t arca_rpack_builder_size(const arca_rpack_builder *b)
{
	return b->size;
}

int arca_rpack_builder_finish(arca_rpack_builder *b, uint8_t sha[32], arca_buf *index)
{
	int rc;
	if (b->n == 0)
		return arca_err_set(ARCA_EINVAL, "pack object: no chunks");
	if ((rc = arca_sha256_final(b->h, sha)) != 0)
		return rc;
	return arca_pidx_encode(index, sha, b->size, b->e, (uint32_t)b->n);
}

void arca_rpack_builder_free(arca_rpack_builder *b)
{
	if (!b)
		return;
	arca_sha256_free(b->h);
	if (b->reader_ok)
		arca_chunk_reader_release(&b->r);
	arca_idset_release(&b->ids);
	free(b->e);
	free(b);
}

/* ---- checking records, apart from staging them ---- */

struct arca_rpack_checker {
	arca_decoder *dec;
	uint8_t *raw;
	size_t raw_cap;
	uint8_t (*ids)[32];       /* a group's members, for the writer */
	uint32_t *lens;
	uint8_t *tags;            /* a group's MACs, ARCA_MAC_LEN each */
};

int arca_rpack_checker_new(arca_rpack_checker **out)
{
	arca_rpack_checker *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((rc = arca_decoder_new(&c->dec)) != 0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void arca_rpack_checker_free(arca_rpack_checker *c)
{
	if (!c)
		return;
	arca_decoder_free(c->dec);
	free(c->raw);
	free(c->ids);
	free(c->lens);
	free(c->tags);
	free(c);
}

/* A record header (ARCA_RECORD_HEADER_LEN bytes at p): which kind, and the
 * record's whole length. */
typedef struct {
	int group;
	arca_record rec;
	arca_group grp;
	size_t total;
} rec_head;

static int head_decode(rec_head *h, const uint8_t *p)
{
	int rc;
	if (!memcmp(p, ARCA_RECORD_MAGIC, 4)) {
		if ((rc = arca_record_decode(&h->rec, p, ARCA_RECORD_HEADER_LEN)) != 0)
			return rc;
		h->group = 0;
		h->total = ARCA_RECORD_HEADER_LEN + (size_t)h->rec.stored_len;
		return 0;
	}
	if (!memcmp(p, ARCA_GROUP_MAGIC, 4)) {
		if ((rc = arca_group_decode(&h->grp, p, ARCA_RECORD_HEADER_LEN)) != 0)
			return rc;
		h->group = 1;
		h->total = ARCA_RECORD_HEADER_LEN +
			(size_t)h->grp.nmembers * ARCA_GROUP_MEMBER_LEN + h->grp.stored_len;
		return 0;
	}
	return arca_err_set(ARCA_ECORRUPT, "not a chunk or group record");
}

static const uint8_t *member(const uint8_t *recp, uint32_t i)
{
	return recp + ARCA_RECORD_HEADER_LEN + (size_t)i * ARCA_GROUP_MEMBER_LEN;
}

/* Whether any chunk of the whole record at recp is wanted (want 1 or 2). */
static int any_wanted(const rec_head *h, const uint8_t *recp, arca_rpack_want_fn want,
		void *ctx)
{
	if (!want)
		return 1;
	if (!h->group)
		return want(h->rec.id, ctx) != 0;
	for (uint32_t i = 0; i < h->grp.nmembers; i++)
		if (want(member(recp, i), ctx))
			return 1;
	return 0;
}

/* Decompresses the whole record at recp into c->raw and checks every
 * chunk's hash; tags[] gets each chunk's MAC under `key`. */
static int check_record(arca_rpack_checker *c, const rec_head *h, const uint8_t *recp,
		const uint8_t *key, uint8_t *tags)
{
	uint64_t off = 0;
	uint8_t d[32];
	int rc;

	if (!h->group) {
		if ((rc = arca_array_resize(&c->raw, &c->raw_cap, h->rec.raw_len, 1)) != 0 ||
		    (rc = arca_record_unpack(c->dec, &h->rec, recp + ARCA_RECORD_HEADER_LEN, c->raw,
			    c->raw_cap)) != 0)
			return rc;
		return arca_mac(tags, key, h->rec.id, c->raw, h->rec.raw_len);
	}
	if ((rc = arca_group_table_check(&h->grp, member(recp, 0))) != 0 ||
	    (rc = arca_array_resize(&c->raw, &c->raw_cap, h->grp.raw_len, 1)) != 0 ||
	    (rc = arca_group_unpack(c->dec, &h->grp, member(recp, h->grp.nmembers), c->raw,
		    c->raw_cap)) != 0)
		return rc;
	/* the store indexes every member it lacks: all must check out */
	for (uint32_t i = 0; i < h->grp.nmembers; i++) {
		const uint8_t *m = member(recp, i);
		uint32_t len = arca_get_le32(m + 32);
		if ((rc = arca_sha256_digest(d, c->raw + off, len)) != 0)
			return rc;
		if (memcmp(d, m, 32) != 0) {
			char hex[17];
			arca_hex_encode(hex, m, 8);
			return arca_err_set(ARCA_ECORRUPT, "chunk %s: content does not match its id",
				hex);
		}
		if ((rc = arca_mac(tags + (size_t)i * ARCA_MAC_LEN, key, m, c->raw + off, len)) != 0)
			return rc;
		off += len;
	}
	return 0;
}

/* Stages the checked record at recp (its chunks' MACs in tags) into w. */
static int stage_record(arca_rpack_checker *c, arca_cas_writer *w, const rec_head *h,
		const uint8_t *recp, const uint8_t *tags, uint64_t *staged)
{
	uint64_t added = 0;
	int one = 0, rc;

	if (!h->group) {
		if ((rc = arca_cas_writer_put(w, h->rec.id, h->rec.raw_len, h->rec.codec,
				recp + ARCA_RECORD_HEADER_LEN, h->rec.stored_len, &one)) != 0 ||
		    (rc = arca_cas_writer_put_mac(w, h->rec.id, tags)) != 0)
			return rc;
		*staged += (uint64_t)one;
		return 0;
	}
	if (!c->ids && (!(c->ids = malloc(ARCA_GROUP_MAX_MEMBERS * 32)) ||
	    !(c->lens = malloc(ARCA_GROUP_MAX_MEMBERS * sizeof(uint32_t)))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < h->grp.nmembers; i++) {
		const uint8_t *m = member(recp, i);
		if ((rc = arca_cas_writer_put_mac(w, m, tags + (size_t)i * ARCA_MAC_LEN)) != 0)
			return rc;
		memcpy(c->ids[i], m, 32);
		c->lens[i] = arca_get_le32(m + 32);
	}
	if ((rc = arca_cas_writer_put_group(w, (const uint8_t (*)[32])c->ids, c->lens,
			h->grp.nmembers, h->grp.codec, member(recp, h->grp.nmembers),
			h->grp.stored_len, &added, NULL)) != 0)
		return rc;
	*staged += added;
	return 0;
}

static size_t ntags(const rec_head *h)
{
	return h->group ? h->grp.nmembers : 1;
}

int arca_rpack_check(arca_rpack_checker *c, const uint8_t *span, size_t n,
		const uint8_t key[ARCA_MAC_KEY_LEN], arca_rpack_want_fn want, void *ctx,
		arca_rpack_batch *b)
{
	size_t at = 0;
	int rc = 0;

	b->recs.len = 0;
	b->tags.len = 0;
	b->bad_at = 0;
	while (at < n && !rc) {
		rec_head h;
		uint8_t *tags;
		uint32_t at32 = (uint32_t)at;
		b->bad_at = at;
		if (n - at < ARCA_RECORD_HEADER_LEN)
			return arca_err_set(ARCA_ECORRUPT, "ends inside a record");
		if ((rc = head_decode(&h, span + at)) != 0)
			break;
		if (h.total > n - at)
			return arca_err_set(ARCA_ECORRUPT, "ends inside a record");
		if (any_wanted(&h, span + at, want, ctx)) {
			if (at > UINT32_MAX)
				return arca_err_set(ARCA_EINVAL, "span too long");
			if ((rc = arca_buf_put(&b->recs, &at32, sizeof(at32))) != 0 ||
			    (rc = arca_buf_grow(&b->tags, ntags(&h) * ARCA_MAC_LEN)) != 0)
				break;
			tags = b->tags.ptr + b->tags.len;
			if ((rc = check_record(c, &h, span + at, key, tags)) != 0)
				break;
			b->tags.len += ntags(&h) * ARCA_MAC_LEN;
		}
		at += h.total;
	}
	return rc;
}

int arca_rpack_stage(arca_rpack_checker *c, arca_cas_writer *w, const uint8_t *span,
		const arca_rpack_batch *b, uint64_t *staged)
{
	const uint8_t *tags = b->tags.ptr;
	int rc = 0;

	for (size_t i = 0; i < b->recs.len / sizeof(uint32_t) && !rc; i++) {
		uint32_t at;
		rec_head h;
		memcpy(&at, b->recs.ptr + i * sizeof(at), sizeof(at));
		/* checked already: the header decodes */
		if ((rc = head_decode(&h, span + at)) != 0 ||
		    (rc = stage_record(c, w, &h, span + at, tags, staged)) != 0)
			break;
		tags += ntags(&h) * ARCA_MAC_LEN;
	}
	return rc;
}

void arca_rpack_batch_release(arca_rpack_batch *b)
{
	arca_buf_release(&b->recs);
	arca_buf_release(&b->tags);
}

/* ---- taking in a stream ---- */

enum { UNIT_PACK_HDR, UNIT_REC_HDR, UNIT_RECORD };

struct arca_rpack_reader {
	arca_cas_writer *w;
	uint8_t sha[32];
	char name[17];            /* for messages */
	int whole;
	arca_sha256 *h;
	arca_rpack_want_fn want;
	arca_rpack_tap_fn tap;
	void *ctx;
	uint64_t pos;             /* stream offset of buf[0] */
	int unit;
	uint8_t *buf;
	size_t len, need, cap;
	rec_head head;
	arca_rpack_checker *chk;
	uint8_t *tags;            /* ARCA_GROUP_MAX_MEMBERS MACs */
	uint64_t staged;
	int failed;
};

int arca_rpack_reader_new(arca_rpack_reader **out, arca_cas_writer *w, const uint8_t sha[32],
		uint64_t from_offset, arca_rpack_want_fn want, void *ctx)
{
	arca_rpack_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	r->w = w;
	memcpy(r->sha, sha, 32);
	arca_hex_encode(r->name, sha, 8);
	r->want = want;
	r->ctx = ctx;
	r->whole = from_offset == 0;
	r->pos = from_offset;
	r->unit = r->whole ? UNIT_PACK_HDR : UNIT_REC_HDR;
	r->need = r->whole ? ARCA_PACK_HEADER_LEN : ARCA_RECORD_HEADER_LEN;
	if ((rc = arca_rpack_checker_new(&r->chk)) != 0 ||
	    (r->whole && (rc = arca_sha256_new(&r->h)) != 0)) {
		arca_rpack_reader_free(r);
		return rc;
	}
	if (!(r->tags = malloc((size_t)ARCA_GROUP_MAX_MEMBERS * ARCA_MAC_LEN))) {
		arca_rpack_reader_free(r);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

void arca_rpack_reader_tap(arca_rpack_reader *r, arca_rpack_tap_fn tap)
{
	r->tap = tap;
}

static int wanted(arca_rpack_reader *r, const uint8_t id[32])
{
	int w = r->want ? r->want(id, r->ctx) : 1;
	return w == 2 || (w == 1 && !arca_cas_writer_has(r->w, id));
}

/* The whole record is in buf: checks and stages it when a chunk of it is
 * wanted, then shows the tap what it kept. */
static int take_record(arca_rpack_reader *r)
{
	const rec_head *h = &r->head;
	uint64_t off = 0;
	int any = 0, rc;

	for (uint32_t i = 0; i < ntags(h) && !any; i++)
		any = wanted(r, h->group ? member(r->buf, i) : h->rec.id);
	if (!any)
		return 0;
	if ((rc = check_record(r->chk, h, r->buf, arca_cas_writer_mac_key(r->w), r->tags)) != 0 ||
	    (rc = stage_record(r->chk, r->w, h, r->buf, r->tags, &r->staged)) != 0 || !r->tap)
		return rc;
	if (!h->group)
		return r->tap(h->rec.id, r->chk->raw, h->rec.raw_len, r->ctx);
	for (uint32_t i = 0; i < h->grp.nmembers; i++) {
		const uint8_t *m = member(r->buf, i);
		uint32_t len = arca_get_le32(m + 32);
		if (r->want && r->want(m, r->ctx) && (rc = r->tap(m, r->chk->raw + off, len, r->ctx)) != 0)
			return rc;
		off += len;
	}
	return 0;
}

/* buf holds the whole current unit: act on it, say what comes next. */
static int unit_done(arca_rpack_reader *r)
{
	uint32_t no;
	int rc;

	switch (r->unit) {
	case UNIT_PACK_HDR:
		if ((rc = arca_pack_header_decode(&no, r->buf, r->len)) != 0)
			return rc;
		if (no != 0)
			return arca_err_set(ARCA_ECORRUPT, "not a pack object (pack number %u)", no);
		r->pos += r->len;
		r->unit = UNIT_REC_HDR;
		r->need = ARCA_RECORD_HEADER_LEN;
		r->len = 0;
		return 0;
	case UNIT_REC_HDR:
		if ((rc = head_decode(&r->head, r->buf)) != 0)
			return rc;
		r->unit = UNIT_RECORD;
		r->need = r->head.total;
		return arca_array_resize(&r->buf, &r->cap, r->need, 1);
	default:
		if ((rc = take_record(r)) != 0)
			return rc;
		r->pos += r->len;
		r->unit = UNIT_REC_HDR;
		r->need = ARCA_RECORD_HEADER_LEN;
		r->len = 0;
		return 0;
	}
}

int arca_rpack_reader_feed(void *reader, const void *pv, size_t n)
{
	arca_rpack_reader *r = reader;
	const uint8_t *p = pv;
	int rc;

	if (r->failed)
		return r->failed;
	if (r->whole && (rc = arca_sha256_update(r->h, p, n)) != 0)
		return r->failed = rc;
	while (n) {
		size_t take = r->need - r->len;
		if (take > n)
			take = n;
		if ((rc = arca_array_resize(&r->buf, &r->cap, r->need, 1)) != 0)
			return r->failed = rc;
		memcpy(r->buf + r->len, p, take);
		r->len += take;
		p += take;
		n -= take;
		if (r->len == r->need && (rc = unit_done(r)) != 0) {
			arca_err_wrap(rc, "pack %s offset %" PRIu64, r->name, r->pos);
			return r->failed = rc < 0 ? rc : ARCA_ECORRUPT;
		}
	}
	return 0;
}

int arca_rpack_reader_finish(arca_rpack_reader *r, uint64_t *chunks)
{
	uint8_t d[32];
	int rc;

	if (r->failed)
		return r->failed;
	if (r->unit != UNIT_REC_HDR || r->len != 0)
		return r->failed = arca_err_set(ARCA_ECORRUPT,
			"pack %s: ends inside a record at offset %" PRIu64, r->name, r->pos);
	if (r->whole) {
		if ((rc = arca_sha256_final(r->h, d)) != 0)
			return r->failed = rc;
		if (memcmp(d, r->sha, 32) != 0)
			return r->failed = arca_err_set(ARCA_ECORRUPT,
				"pack %s: bytes do not match its name", r->name);
	}
	if (chunks)
		*chunks = r->staged;
	return 0;
}

void arca_rpack_reader_free(arca_rpack_reader *r)
{
	if (!r)
		return;
	arca_sha256_free(r->h);
	arca_rpack_checker_free(r->chk);
	free(r->buf);
	free(r->tags);
	free(r);
}
