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

/* ---- taking in ---- */

enum { UNIT_PACK_HDR, UNIT_REC_HDR, UNIT_CHUNK, UNIT_GROUP };

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
	arca_record rec;
	arca_group grp;
	arca_decoder *dec;
	uint8_t *raw;
	size_t raw_cap;
	uint8_t (*ids)[32];
	uint32_t *lens;
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
	if ((rc = arca_decoder_new(&r->dec)) != 0 ||
	    (r->whole && (rc = arca_sha256_new(&r->h)) != 0)) {
		arca_rpack_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int ensure(uint8_t **p, size_t *cap, size_t need)
{
	uint8_t *n;
	if (*cap >= need)
		return 0;
	if (!(n = realloc(*p, need)))
		return arca_err_set(ARCA_ENOMEM, "out of memory (%zu bytes)", need);
	*p = n;
	*cap = need;
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

/* The store's MAC of a chunk it takes, as ingest gives its own: later
 * restores and rollbacks check and compare it by that, not by SHA-256. */
static int put_mac(arca_rpack_reader *r, const uint8_t id[32], const uint8_t *raw, uint32_t len)
{
	uint8_t tag[ARCA_MAC_LEN];
	int rc = arca_mac(tag, arca_cas_writer_mac_key(r->w), id, raw, len);
	return rc ? rc : arca_cas_writer_put_mac(r->w, id, tag);
}

static int take_chunk(arca_rpack_reader *r)
{
	const uint8_t *stored = r->buf + ARCA_RECORD_HEADER_LEN;
	int added = 0, rc;

	if (!wanted(r, r->rec.id))
		return 0;
	if ((rc = ensure(&r->raw, &r->raw_cap, r->rec.raw_len)) != 0 ||
	    (rc = arca_record_unpack(r->dec, &r->rec, stored, r->raw, r->raw_cap)) != 0 ||
	    (rc = arca_cas_writer_put(r->w, r->rec.id, r->rec.raw_len, r->rec.codec, stored,
		    r->rec.stored_len, &added)) != 0)
		return rc;
	r->staged += (uint64_t)added;
	if ((rc = put_mac(r, r->rec.id, r->raw, r->rec.raw_len)) != 0)
		return rc;
	return r->tap ? r->tap(r->rec.id, r->raw, r->rec.raw_len, r->ctx) : 0;
}

static int take_group(arca_rpack_reader *r)
{
	const uint8_t *table = r->buf + ARCA_RECORD_HEADER_LEN;
	size_t tlen = (size_t)r->grp.nmembers * ARCA_GROUP_MEMBER_LEN;
	uint64_t off = 0, added = 0;
	uint8_t d[32];
	int any = 0, rc;

	if ((rc = arca_group_table_check(&r->grp, table)) != 0)
		return rc;
	for (uint32_t i = 0; i < r->grp.nmembers && !any; i++)
		any = wanted(r, table + (size_t)i * ARCA_GROUP_MEMBER_LEN);
	if (!any)
		return 0;
	if ((rc = ensure(&r->raw, &r->raw_cap, r->grp.raw_len)) != 0 ||
	    (rc = arca_group_unpack(r->dec, &r->grp, table + tlen, r->raw, r->raw_cap)) != 0)
		return rc;
	if (!r->ids && (!(r->ids = malloc(ARCA_GROUP_MAX_MEMBERS * 32)) ||
	    !(r->lens = malloc(ARCA_GROUP_MAX_MEMBERS * sizeof(uint32_t)))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	/* the store indexes every member it lacks: all must check out */
	for (uint32_t i = 0; i < r->grp.nmembers; i++) {
		const uint8_t *m = table + (size_t)i * ARCA_GROUP_MEMBER_LEN;
		uint32_t len = arca_get_le32(m + 32);
		if ((rc = arca_sha256_digest(d, r->raw + off, len)) != 0)
			return rc;
		if (memcmp(d, m, 32) != 0) {
			char hex[17];
			arca_hex_encode(hex, m, 8);
			return arca_err_set(ARCA_ECORRUPT, "chunk %s: content does not match its id",
				hex);
		}
		if ((rc = put_mac(r, m, r->raw + off, len)) != 0)
			return rc;
		memcpy(r->ids[i], m, 32);
		r->lens[i] = len;
		off += len;
	}
	if ((rc = arca_cas_writer_put_group(r->w, (const uint8_t (*)[32])r->ids, r->lens,
			r->grp.nmembers, r->grp.codec, table + tlen, r->grp.stored_len, &added,
			NULL)) != 0)
		return rc;
	r->staged += added;
	off = 0;
	for (uint32_t i = 0; i < r->grp.nmembers && r->tap; i++) {
		if (wanted(r, r->ids[i]) || (r->want && r->want(r->ids[i], r->ctx) == 1))
			if ((rc = r->tap(r->ids[i], r->raw + off, r->lens[i], r->ctx)) != 0)
				return rc;
		off += r->lens[i];
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
		if (!memcmp(r->buf, ARCA_RECORD_MAGIC, 4)) {
			if ((rc = arca_record_decode(&r->rec, r->buf, r->len)) != 0)
				return rc;
			r->unit = UNIT_CHUNK;
			r->need = ARCA_RECORD_HEADER_LEN + (size_t)r->rec.stored_len;
		} else if (!memcmp(r->buf, ARCA_GROUP_MAGIC, 4)) {
			if ((rc = arca_group_decode(&r->grp, r->buf, r->len)) != 0)
				return rc;
			r->unit = UNIT_GROUP;
			r->need = ARCA_RECORD_HEADER_LEN +
				(size_t)r->grp.nmembers * ARCA_GROUP_MEMBER_LEN + r->grp.stored_len;
		} else {
			return arca_err_set(ARCA_ECORRUPT, "not a chunk or group record");
		}
		return ensure(&r->buf, &r->cap, r->need);
	default:
		rc = r->unit == UNIT_CHUNK ? take_chunk(r) : take_group(r);
		if (rc)
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
		if ((rc = ensure(&r->buf, &r->cap, r->need)) != 0)
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
	arca_decoder_free(r->dec);
	free(r->buf);
	free(r->raw);
	free(r->ids);
	free(r->lens);
	free(r);
}
