/* The journal: metadata records in the packs, indexed by sequence. */
#include "cas/cas_impl.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void arca_journal_loc_encode(uint8_t out[ARCA_JOURNAL_LOC_LEN], const arca_journal_loc *l)
{
	arca_put_le32(out, l->pack);
	arca_put_le64(out + 4, l->offset);
	arca_put_le32(out + 12, l->len);
	out[16] = l->type;
	out[17] = l->flags;
}

int arca_journal_loc_decode(arca_journal_loc *l, const void *v, size_t n)
{
	const uint8_t *p = v;
	if (n != ARCA_JOURNAL_LOC_LEN)
		return arca_err_set(ARCA_ECORRUPT, "index: journal entry has %zu bytes", n);
	l->pack = arca_get_le32(p);
	l->offset = arca_get_le64(p + 4);
	l->len = arca_get_le32(p + 12);
	l->type = p[16];
	l->flags = p[17];
	if (l->pack == 0 || l->offset < ARCA_PACK_HEADER_LEN || l->len > ARCA_META_PAYLOAD_MAX ||
	    l->type == 0 || l->type > ARCA_META_TYPE_MAX)
		return arca_err_set(ARCA_ECORRUPT, "index: journal entry out of range");
	return 0;
}

/* Appends one meta record to the current pack (no rotation) and indexes it. */
int arca_cas__append_meta(arca_cas_writer *w, uint8_t type, uint8_t flags, const void *a,
		size_t alen, const void *b, size_t blen, uint64_t *seq)
{
	uint8_t hdr[ARCA_RECORD_HEADER_LEN], kb[8], vb[ARCA_JOURNAL_LOC_LEN];
	MDB_val k = { 8, kb }, v = { sizeof(vb), vb };
	arca_meta_hdr m;
	arca_journal_loc l;
	int rc, mrc;

	if (alen + blen > ARCA_META_PAYLOAD_MAX)
		return arca_err_set(ARCA_EINVAL, "meta record of %zu bytes", alen + blen);
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.flags = flags;
	m.len = (uint32_t)(alen + blen);
	m.seq = w->jseq++;
	m.tag = w->jtag;
	if (!w->cas->have_params)
		return arca_err_set(ARCA_EINVAL, "internal: journal without a store id");
	if ((rc = arca_meta_hash(m.hash, w->cas->params + 32, a, alen, b, blen)) != 0)
		return rc;
	arca_meta_encode(hdr, &m);
	l.pack = w->pack_no;
	l.offset = w->pack_len;
	l.len = m.len;
	l.type = type;
	l.flags = flags;
	if ((rc = arca_cas__append(w, hdr, sizeof(hdr))) != 0 || (alen && (rc = arca_cas__append(w, a, alen)) != 0) ||
	    (blen && (rc = arca_cas__append(w, b, blen)) != 0))
		return rc;
	arca_put_be64(kb, m.seq);
	arca_journal_loc_encode(vb, &l);
	if ((mrc = mdb_put(w->txn, w->cas->dbi_journal, &k, &v, 0)) != 0)
		return arca_lmdb_error(mrc, "journal");
	if (seq)
		*seq = m.seq;
	return 0;
}

int arca_cas_writer_journal(arca_cas_writer *w, uint8_t type, uint8_t flags,
		const void *a, size_t alen, const void *b, size_t blen, uint64_t *seq)
{
	size_t rec_len = ARCA_RECORD_HEADER_LEN + alen + blen;
	int rc;
	if ((rc = arca_cas__make_room(w, rec_len)) != 0)
		return rc;
	return arca_cas__append_meta(w, type, flags, a, alen, b, blen, seq);
}

int arca_cas_writer_journal_trim(arca_cas_writer *w, uint64_t seq)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int mrc = mdb_cursor_open(w->txn, w->cas->dbi_journal, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "journal cursor");
	while ((mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != 8 || arca_get_be64(k.mv_data) >= seq)
			break;
		if ((mrc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return mrc && mrc != MDB_NOTFOUND ? arca_lmdb_error(mrc, "journal trim") : 0;
}

int arca_cas_read_meta(arca_cas *cas, const arca_journal_loc *l, uint64_t seq, uint8_t *out)
{
	uint8_t hdr[ARCA_RECORD_HEADER_LEN], d[32];
	arca_meta_hdr m;
	ssize_t got;
	int fd = -1, rc;

	if ((rc = arca_cas__pack_fd(cas, l->pack, &fd)) != 0)
		return rc;
	got = arca_pread_full(fd, hdr, sizeof(hdr), (off_t)l->offset);
	if (got < 0)
		return arca_err_sys("pack %08u: read at %llu", l->pack, (unsigned long long)l->offset);
	if ((size_t)got != sizeof(hdr) || (rc = arca_meta_decode(&m, hdr, sizeof(hdr))) != 0 ||
	    m.seq != seq || m.len != l->len || m.type != l->type)
		return arca_err_set(ARCA_ECORRUPT, "pack %08u offset %llu: meta record %llu is damaged",
			l->pack, (unsigned long long)l->offset, (unsigned long long)seq);
	got = arca_pread_full(fd, out, l->len, (off_t)(l->offset + sizeof(hdr)));
	if (got < 0)
		return arca_err_sys("pack %08u: read at %llu", l->pack, (unsigned long long)l->offset);
	if ((size_t)got != l->len ||
	    (rc = arca_meta_hash(d, cas->params + 32, out, l->len, NULL, 0)) != 0 ||
	    memcmp(d, m.hash, 32) != 0)
		return arca_err_set(ARCA_ECORRUPT, "pack %08u offset %llu: meta record %llu is damaged",
			l->pack, (unsigned long long)l->offset, (unsigned long long)seq);
	return 0;
}

int arca_cas_journal_iter(arca_cas_iter **out, arca_cas *cas, MDB_txn *txn)
{
	return arca_cas__iter_open(out, cas, txn, cas->dbi_journal, "journal cursor");
}

int arca_cas_journal_next(arca_cas_iter *it, uint64_t *seq, arca_journal_loc *l)
{
	int rc = arca_cas__iter_step(it, "journal cursor");
	*seq = 0;
	if (rc)
		return rc;
	if (it->k.mv_size == 8)
		*seq = arca_get_be64(it->k.mv_data);
	return arca_journal_loc_decode(l, it->v.mv_data, it->v.mv_size);
}
