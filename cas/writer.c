/* The writer: the one write transaction, appending records to packs,
 * cutting torn tails a crashed writer left, commit and abort. */
#include "cas/cas_impl.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define WRITE_BUF_LEN (1u << 20)

/* Highest committed pack and its committed length; 0 when none. */
static int last_pack(arca_cas *cas, MDB_txn *txn, uint32_t *no, uint64_t *len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int mrc = mdb_cursor_open(txn, cas->dbi_packs, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "packs cursor");
	mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	mdb_cursor_close(cur);
	if (mrc == MDB_NOTFOUND) {
		*no = 0;
		*len = 0;
		return 0;
	}
	if (mrc)
		return arca_lmdb_error(mrc, "packs cursor");
	if (k.mv_size != 4 || v.mv_size != 8)
		return arca_err_set(ARCA_ECORRUPT, "index: bad pack entry");
	{
		const uint8_t *kp = k.mv_data;
		*no = arca_get_be32(kp);
	}
	*len = arca_get_le64(v.mv_data);
	return 0;
}

/*
 * 1 when the pack bytes from `from` on hold a COMMIT record of a writer
 * that did not begin at `jseq`, the index's next sequence number. A killed
 * writer's tail can only hold its own COMMIT, which starts at `jseq` (it
 * never committed, so the number did not move); any other proves a writer
 * committed after this index was written: the index is older than the
 * packs, and cutting the "tail" would destroy committed data.
 */
static int tail_proves_stale(const arca_cas *cas, const char *path, uint64_t from,
		uint64_t jseq)
{
	uint8_t hdr[ARCA_RECORD_HEADER_LEN], c[16], d[32];
	struct stat st;
	uint64_t off = from < ARCA_PACK_HEADER_LEN ? ARCA_PACK_HEADER_LEN : from;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), stale = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	while (off + sizeof(hdr) <= (uint64_t)st.st_size &&
	       arca_pread_full(fd, hdr, sizeof(hdr), (off_t)off) == (ssize_t)sizeof(hdr)) {
		arca_record rec;
		arca_group g;
		arca_meta_hdr m;
		if (arca_meta_decode(&m, hdr, sizeof(hdr)) == 0) {
			if (m.type == ARCA_META_COMMIT && m.len == sizeof(c) &&
			    arca_pread_full(fd, c, sizeof(c), (off_t)(off + sizeof(hdr))) ==
				(ssize_t)sizeof(c) &&
			    arca_meta_hash(d, cas->params + 32, c, sizeof(c), NULL, 0) == 0 &&
			    !memcmp(d, m.hash, 32) &&
			    arca_get_le64(c) != jseq) {
				stale = 1;
				break;
			}
			off += sizeof(hdr) + m.len;
		} else if (arca_record_decode(&rec, hdr, sizeof(hdr)) == 0) {
			off += sizeof(hdr) + rec.stored_len;
		} else if (arca_group_decode(&g, hdr, sizeof(hdr)) == 0) {
			off += sizeof(hdr) + (uint64_t)g.nmembers * ARCA_GROUP_MEMBER_LEN + g.stored_len;
		} else {
			break;
		}
	}
	close(fd);
	return stale;
}

static int stale_index(uint32_t no)
{
	return arca_err_set(ARCA_ECORRUPT,
		"pack %08u holds records committed after the index was written (the index is an "
		"older copy?); nothing was changed: run 'arca repair' to rebuild it", no);
}

/* Cuts off what a crashed writer appended but never committed. Runs
 * inside the write transaction, so no other writer is active. Pack files
 * numbered `next` and up were never committed. */
static int repair_tails_in(arca_cas *cas, arca_buf *b, uint32_t last_no, uint64_t last_len,
		uint32_t next, int next_known, uint64_t jseq)
{
	struct stat st;
	int rc;

	if (last_no > 0) {
		if ((rc = arca_cas__pack_path(b, cas, last_no)) != 0)
			return rc;
		if (stat(arca_buf_cstr(b), &st) < 0)
			return arca_err_set(ARCA_ECORRUPT,
				"pack %08u is missing; run 'arca repair'", last_no);
		if ((uint64_t)st.st_size < last_len)
			return arca_err_set(ARCA_ECORRUPT,
				"pack %08u is shorter (%lld bytes) than committed (%llu); run 'arca repair'",
				last_no, (long long)st.st_size, (unsigned long long)last_len);
		if ((uint64_t)st.st_size > last_len && tail_proves_stale(cas, arca_buf_cstr(b), last_len, jseq))
			return stale_index(last_no);
	}
	/* Only a recorded pack.next proves a higher-numbered pack was never
	 * committed: without it, nothing is deleted. Nothing is cut either
	 * before every candidate was checked. */
	for (uint32_t no = next; next_known; no++) {
		if ((rc = arca_cas__pack_path(b, cas, no)) != 0)
			return rc;
		if (access(arca_buf_cstr(b), F_OK) < 0)
			break;
		if (tail_proves_stale(cas, arca_buf_cstr(b), 0, jseq))
			return stale_index(no);
	}
	if (last_no > 0) {
		if ((rc = arca_cas__pack_path(b, cas, last_no)) != 0)
			return rc;
		if (stat(arca_buf_cstr(b), &st) == 0 && (uint64_t)st.st_size > last_len &&
		    truncate(arca_buf_cstr(b), (off_t)last_len) < 0)
			return arca_err_sys("truncate torn tail of pack %08u", last_no);
	}
	for (uint32_t no = next; next_known; no++) {
		if ((rc = arca_cas__pack_path(b, cas, no)) != 0)
			return rc;
		if (unlink(arca_buf_cstr(b)) < 0) {
			if (errno == ENOENT)
				break;
			return arca_err_sys("remove uncommitted pack %08u", no);
		}
	}
	return 0;
}

static int repair_tails(arca_cas *cas, uint32_t last_no, uint64_t last_len, uint32_t next,
		int next_known, uint64_t jseq)
{
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	int rc = repair_tails_in(cas, &path, last_no, last_len, next, next_known, jseq);
	arca_buf_release(&path);
	return rc;
}

/* A handle opened before `arca repair` renamed a new index into place
 * still maps the old file: its commits would land where nobody looks. */
static int index_still_ours(arca_cas *cas)
{
	mdb_filehandle_t fd;
	struct stat a, b;
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	int gone;
	if (mdb_env_get_fd(cas->env, &fd) != 0 || fstat(fd, &a) < 0 ||
	    arca_buf_setf(&path, "%s/index.lmdb", cas->dir) != 0) {
		arca_buf_release(&path);
		return 0;
	}
	gone = stat(arca_buf_cstr(&path), &b) < 0;
	arca_buf_release(&path);
	if (gone || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return arca_err_set(ARCA_ECORRUPT,
			"the index of %s was replaced (by arca repair?) after this handle opened it; "
			"open the store again", cas->dir);
	return 0;
}

int arca_cas_writer_begin(arca_cas_writer **out, arca_cas *cas)
{
	arca_cas_writer *w;
	uint32_t no = 0;
	uint64_t len = 0;
	int rc, mrc;

	w = calloc(1, sizeof(*w));
	if (!w)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	w->cas = cas;
	w->fd = -1;
	w->path.max = PATH_MAX;
	w->wbuf = malloc(WRITE_BUF_LEN);
	if (!w->wbuf) {
		free(w);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	if ((rc = arca_cas_write_txn_begin(cas, &w->txn)) != 0) {
		free(w->wbuf);
		free(w);
		return rc;
	}
	if ((rc = index_still_ours(cas)) != 0) {
		arca_cas_writer_abort(w);
		return rc;
	}
	{
		uint64_t next = 0;
		if ((rc = last_pack(cas, w->txn, &no, &len)) != 0 ||
		    (rc = arca_meta_get_u64(w->txn, cas->dbi_meta, ARCA_META_PACK_NEXT, &next)) != 0 ||
		    (rc = arca_meta_get_u64(w->txn, cas->dbi_meta, ARCA_META_JOURNAL_SEQ, &w->jseq)) != 0) {
			arca_cas_writer_abort(w);
			return rc;
		}
		int next_known = next > 0;
		if (next <= no)
			next = (uint64_t)no + 1;
		if (next > UINT32_MAX - 1) {
			arca_cas_writer_abort(w);
			return arca_err_set(ARCA_ECORRUPT, "index: pack numbering out of range");
		}
		w->next_pack = w->begin_next = (uint32_t)next;
		if (w->jseq == 0)
			w->jseq = 1;
		if ((rc = repair_tails(cas, no, len, w->next_pack, next_known, w->jseq)) != 0) {
			arca_cas_writer_abort(w);
			return rc;
		}
	}
	if ((rc = arca_cas_mac_key(cas, w->txn, w->mac_key)) == 0) {
		/* first writer of this store: make its secret */
		MDB_val k = { strlen(ARCA_META_MAC_KEY), (void *)ARCA_META_MAC_KEY },
			v = { sizeof(w->mac_key), w->mac_key };
		if ((rc = arca_mac_keygen(w->mac_key)) != 0 ||
		    (mrc = mdb_put(w->txn, cas->dbi_meta, &k, &v, 0)) != 0) {
			rc = rc ? rc : arca_lmdb_error(mrc, "store key");
			arca_cas_writer_abort(w);
			return rc;
		}
	} else if (rc < 0) {
		arca_cas_writer_abort(w);
		return rc;
	}
	{
		MDB_stat ms;
		if ((mrc = mdb_stat(w->txn, cas->dbi_damaged, &ms)) != 0) {
			rc = arca_lmdb_error(mrc, "damaged chunks");
			arca_cas_writer_abort(w);
			return rc;
		}
		if ((rc = arca_random_bytes(&w->jtag, sizeof(w->jtag))) != 0) {
			arca_cas_writer_abort(w);
			return rc;
		}
		w->jseq_start = w->jseq;
		w->ndamaged = ms.ms_entries;
	}
	if (no > 0 && len < cas->pack_target) {
		if ((rc = arca_cas__pack_path(&w->path, cas, no)) != 0) {
			arca_cas_writer_abort(w);
			return rc;
		}
		w->fd = open(arca_buf_cstr(&w->path), O_WRONLY | O_CLOEXEC);
		if (w->fd < 0) {
			rc = arca_err_sys("open pack %08u", no);
			arca_cas_writer_abort(w);
			return rc;
		}
		w->pack_no = no;
		w->pack_len = len;
		w->kicked = len;
		w->first_pack_no = no;
		w->first_pack_committed = len;
	} else {
		w->pack_no = no; /* full or none: the next put opens no+1 */
		w->pack_len = UINT64_MAX;
	}
	cas->active = w;
	*out = w;
	return 0;
}

arca_cas_writer *arca_cas_writer_of(arca_cas *cas, MDB_txn *txn)
{
	arca_cas_writer *w = cas->active;
	return w && w->txn == txn ? w : NULL;
}

MDB_txn *arca_cas_writer_txn(arca_cas_writer *w)
{
	return w->txn;
}

int arca_cas_writer_has(arca_cas_writer *w, const uint8_t id[32])
{
	MDB_val k = { 32, (void *)id }, v;
	return mdb_get(w->txn, w->cas->dbi_chunks, &k, &v) == 0;
}

/* Has the disk start on the pack's bytes written so far, every
 * WRITEBACK_STEP of them, so that the fdatasync before the commit waits
 * for the last few only. Advice: a failure changes nothing. */
#define WRITEBACK_STEP (8u << 20)
static void start_writeback(arca_cas_writer *w, uint64_t written)
{
	if (written < w->kicked + WRITEBACK_STEP)
		return;
	(void)sync_file_range(w->fd, (off_t)w->kicked, (off_t)(written - w->kicked),
		SYNC_FILE_RANGE_WRITE);
	w->kicked = written;
}

static int flush_wbuf(arca_cas_writer *w)
{
	off_t at;
	if (!w->wlen)
		return 0;
	at = (off_t)(w->pack_len - w->wlen);
	if (arca_pwrite_all(w->fd, w->wbuf, w->wlen, at) < 0)
		return arca_err_sys("write pack %08u", w->pack_no);
	w->wlen = 0;
	start_writeback(w, w->pack_len);
	return 0;
}

int arca_cas_writer_flush(arca_cas_writer *w)
{
	return w->fd >= 0 ? flush_wbuf(w) : 0;
}

static int record_pack_len(arca_cas_writer *w)
{
	uint8_t kb[4], vb[8];
	MDB_val k = { 4, kb }, v = { 8, vb };
	int mrc;
	arca_put_be32(kb, w->pack_no);
	arca_put_le64(vb, w->pack_len);
	mrc = mdb_put(w->txn, w->cas->dbi_packs, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "record pack length") : 0;
}

/* fdatasyncs the oldest full packs until `keep` are left. */
static int sync_pending(arca_cas_writer *w, size_t keep)
{
	while (w->npending > keep) {
		if (arca_fdatasync(w->pending[0]) < 0)
			return arca_err_sys("sync pack %08u", w->pending_no[0]);
		close(w->pending[0]);
		w->npending--;
		memmove(w->pending, w->pending + 1, w->npending * sizeof(*w->pending));
		memmove(w->pending_no, w->pending_no + 1, w->npending * sizeof(*w->pending_no));
	}
	return 0;
}

/* The current pack is full: the disk starts on the rest of it now, and
 * its fdatasync waits until the commit, or until ARCA_WRITER_PENDING_MAX
 * later packs are full (by then it is written and the sync is quick). */
static int defer_sync(arca_cas_writer *w)
{
	int rc;
	if ((rc = sync_pending(w, ARCA_WRITER_PENDING_MAX - 1)) != 0)
		return rc;
	(void)sync_file_range(w->fd, (off_t)w->kicked, 0, SYNC_FILE_RANGE_WRITE);
	w->pending[w->npending] = w->fd;
	w->pending_no[w->npending] = w->pack_no;
	w->npending++;
	return 0;
}

/* Finishes the current pack (its sync deferred, length recorded) and
 * starts the next. */
static int rotate_pack(arca_cas_writer *w)
{
	uint8_t hdr[ARCA_PACK_HEADER_LEN];
	int rc;

	if (w->fd >= 0) {
		if ((rc = flush_wbuf(w)) != 0 || (rc = defer_sync(w)) != 0 ||
		    (rc = record_pack_len(w)) != 0)
			return rc;
		w->fd = -1;
	}
	w->pack_no = w->next_pack++;
	if ((rc = arca_meta_put_u64(w->txn, w->cas->dbi_meta, ARCA_META_PACK_NEXT, w->next_pack)) != 0)
		return rc;
	if ((rc = arca_cas__pack_path(&w->path, w->cas, w->pack_no)) != 0)
		return rc;
	w->fd = open(arca_buf_cstr(&w->path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0 || fchmod(w->fd, 0600) < 0) /* 0600 whatever the umask */
		return arca_err_sys("create pack %08u", w->pack_no);
	w->created_pack = 1;
	arca_pack_header_encode(hdr, w->pack_no);
	memcpy(w->wbuf, hdr, sizeof(hdr));
	w->wlen = sizeof(hdr);
	w->pack_len = sizeof(hdr);
	w->kicked = 0;
	/* every pack says how its store chunks, for a rebuilt index */
	if (w->cas->have_params)
		return arca_cas__append_meta(w, ARCA_META_PARAMS, 0, w->cas->params, sizeof(w->cas->params),
			NULL, 0, NULL);
	return 0;
}

/* Starts a new pack when a record of rec_len bytes should not go in this one. */
int arca_cas__make_room(arca_cas_writer *w, size_t rec_len)
{
	int rc;
	if (w->pack_len == UINT64_MAX || w->force_new ||
	    (w->pack_len > ARCA_PACK_HEADER_LEN && w->pack_len + rec_len > w->cas->pack_target)) {
		if ((rc = rotate_pack(w)) != 0)
			return rc;
		w->force_new = 0;
	}
	return 0;
}

/* Bytes of at least DIRECT_LEN go to the file from where they are, after
 * what the buffer holds, in one call: a pull's records are MiBs in all,
 * not worth a copy through the buffer. */
#define DIRECT_LEN (64u << 10)
int arca_cas__append(arca_cas_writer *w, const void *p, size_t n)
{
	int rc;
	if (n >= DIRECT_LEN) {
		if (arca_pwrite2_all(w->fd, w->wbuf, w->wlen, p, n,
				(off_t)(w->pack_len - w->wlen)) < 0)
			return arca_err_sys("write pack %08u", w->pack_no);
		w->wlen = 0;
		start_writeback(w, w->pack_len + n);
	} else if (w->wlen + n > WRITE_BUF_LEN && (rc = flush_wbuf(w)) != 0) {
		return rc;
	} else {
		memcpy(w->wbuf + w->wlen, p, n);
		w->wlen += n;
	}
	w->pack_len += n;
	return 0;
}

/* Appends one record to the current pack; *loc says where it went. */
static int append_record(arca_cas_writer *w, const uint8_t id[32], uint32_t raw_len,
		uint8_t codec, const void *stored, uint32_t stored_len, arca_chunk_loc *loc)
{
	uint8_t hdr[ARCA_RECORD_HEADER_LEN];
	arca_record rec;
	size_t rec_len = ARCA_RECORD_HEADER_LEN + (size_t)stored_len;
	int rc;

	if ((rc = arca_cas__make_room(w, rec_len)) != 0)
		return rc;
	memcpy(rec.id, id, 32);
	rec.codec = codec;
	rec.raw_len = raw_len;
	rec.stored_len = stored_len;
	arca_record_encode(hdr, &rec);
	memset(loc, 0, sizeof(*loc));
	loc->pack = w->pack_no;
	loc->offset = w->pack_len;
	loc->stored_len = stored_len;
	loc->raw_len = raw_len;
	loc->codec = codec;
	if ((rc = arca_cas__append(w, hdr, sizeof(hdr))) != 0)
		return rc;
	return arca_cas__append(w, stored, stored_len);
}

/* A good copy of a lost chunk was stored: it is no longer lost. */
static int undamage(arca_cas_writer *w, const uint8_t id[32])
{
	MDB_val k = { 32, (void *)id };
	int mrc;
	if (!w->ndamaged)
		return 0;
	mrc = mdb_del(w->txn, w->cas->dbi_damaged, &k, NULL);
	return mrc && mrc != MDB_NOTFOUND ? arca_lmdb_error(mrc, "damaged chunks") : 0;
}

int arca_cas_writer_mark_damaged(arca_cas_writer *w, const uint8_t id[32])
{
	uint8_t one = 1;
	MDB_val k = { 32, (void *)id }, v = { 1, &one };
	int mrc = mdb_del(w->txn, w->cas->dbi_chunks, &k, NULL);
	if (mrc && mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "drop damaged chunk");
	if ((mrc = mdb_put(w->txn, w->cas->dbi_damaged, &k, &v, 0)) != 0)
		return arca_lmdb_error(mrc, "damaged chunks");
	w->ndamaged++;
	return 0;
}

int arca_cas_writer_put(arca_cas_writer *w, const uint8_t id[32], uint32_t raw_len,
		uint8_t codec, const void *stored, uint32_t stored_len, int *added)
{
	uint8_t locb[ARCA_LOC_GROUP_LEN];
	arca_chunk_loc loc;
	MDB_val k = { 32, (void *)id }, v = { 0, locb };
	int rc, mrc;

	if (added)
		*added = 0;
	if (arca_cas_writer_has(w, id))
		return 0;
	if ((rc = append_record(w, id, raw_len, codec, stored, stored_len, &loc)) != 0)
		return rc;
	v.mv_size = arca_chunk_loc_encode(locb, &loc);
	mrc = mdb_put(w->txn, w->cas->dbi_chunks, &k, &v, MDB_NOOVERWRITE);
	if (mrc)
		return arca_lmdb_error(mrc, "add chunk");
	if ((rc = undamage(w, id)) != 0)
		return rc;
	w->d_chunks++;
	w->d_unique += raw_len;
	w->d_stored += stored_len;
	if (added)
		*added = 1;
	return 0;
}

int arca_cas_writer_put_group(arca_cas_writer *w, const uint8_t (*ids)[32],
		const uint32_t *lens, uint32_t n, uint8_t codec, const void *stored,
		uint32_t stored_len, uint64_t *added, uint64_t *added_raw)
{
	uint8_t hdr[ARCA_RECORD_HEADER_LEN], *table = NULL;
	size_t tlen = (size_t)n * ARCA_GROUP_MEMBER_LEN, rec_len;
	arca_group g;
	uint64_t off = 0, nadded = 0, nraw = 0;
	uint32_t fresh = 0;
	uint64_t at;
	int rc, mrc;

	if (added)
		*added = 0;
	if (added_raw)
		*added_raw = 0;
	if (n == 0 || n > ARCA_GROUP_MAX_MEMBERS)
		return arca_err_set(ARCA_EINVAL, "group of %u members", n);
	for (uint32_t i = 0; i < n; i++)
		fresh += !arca_cas_writer_has(w, ids[i]);
	if (!fresh)
		return 0;
	if (!(table = malloc(tlen)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	memset(&g, 0, sizeof(g));
	for (uint32_t i = 0; i < n; i++) {
		memcpy(table + (size_t)i * ARCA_GROUP_MEMBER_LEN, ids[i], 32);
		arca_put_le32(table + (size_t)i * ARCA_GROUP_MEMBER_LEN + 32, lens[i]);
		g.raw_len += lens[i];
	}
	g.codec = codec;
	g.stored_len = stored_len;
	g.nmembers = n;
	if ((rc = arca_sha256_digest(g.table_hash, table, tlen)) != 0)
		goto done;
	arca_group_encode(hdr, &g);
	rec_len = ARCA_RECORD_HEADER_LEN + tlen + stored_len;
	if ((rc = arca_cas__make_room(w, rec_len)) != 0)
		goto done;
	at = w->pack_len;
	if ((rc = arca_cas__append(w, hdr, sizeof(hdr))) != 0 || (rc = arca_cas__append(w, table, tlen)) != 0 ||
	    (rc = arca_cas__append(w, stored, stored_len)) != 0)
		goto done;
	for (uint32_t i = 0; i < n; i++) {
		arca_chunk_loc loc = { w->pack_no, at, stored_len, lens[i], codec, 1, (uint16_t)n,
			(uint32_t)off, g.raw_len };
		uint8_t locb[ARCA_LOC_GROUP_LEN];
		MDB_val k = { 32, (void *)ids[i] }, v = { 0, locb };
		off += lens[i];
		if (arca_cas_writer_has(w, ids[i]))
			continue; /* also repeats inside this group */
		v.mv_size = arca_chunk_loc_encode(locb, &loc);
		if ((mrc = mdb_put(w->txn, w->cas->dbi_chunks, &k, &v, MDB_NOOVERWRITE)) != 0) {
			rc = arca_lmdb_error(mrc, "add chunk");
			goto done;
		}
		if ((rc = undamage(w, ids[i])) != 0)
			goto done;
		nadded++;
		nraw += lens[i];
	}
	w->d_chunks += (int64_t)nadded;
	w->d_unique += (int64_t)nraw;
	w->d_stored += (int64_t)(tlen + stored_len);
	if (added)
		*added = nadded;
	if (added_raw)
		*added_raw = nraw;
done:
	free(table);
	return rc;
}

int arca_cas_writer_move(arca_cas_writer *w, const uint8_t id[32], const arca_chunk_loc *old,
		const void *stored, arca_chunk_loc *out)
{
	return append_record(w, id, old->raw_len, old->codec, stored, old->stored_len, out);
}

void arca_cas_writer_new_pack(arca_cas_writer *w)
{
	w->force_new = 1;
}


int arca_cas_writer_add_stats(arca_cas_writer *w, int64_t chunks, int64_t unique, int64_t stored)
{
	w->d_chunks += chunks;
	w->d_unique += unique;
	w->d_stored += stored;
	return 0;
}

static int compress_into(arca_cas_writer *w, const void *raw, uint32_t len, int level,
		size_t *clen)
{
	size_t bound = ZSTD_compressBound(len);
	int rc;
	if (!w->cctx) {
		w->cctx = ZSTD_createCCtx();
		if (!w->cctx)
			return arca_err_set(ARCA_ENOMEM, "out of memory (zstd)");
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	}
	if ((rc = arca_cas__ensure_cap(&w->cbuf, &w->cbuf_cap, bound)) != 0)
		return rc;
	*clen = ZSTD_compress2(w->cctx, w->cbuf, bound, raw, len);
	if (ZSTD_isError(*clen))
		return arca_err_set(ARCA_ERROR, "zstd: %s", ZSTD_getErrorName(*clen));
	return 0;
}

int arca_cas_writer_rewrite(arca_cas_writer *w, const uint8_t id[32], const void *raw,
		uint32_t len, int level, arca_chunk_loc *out)
{
	uint8_t locb[ARCA_LOC_GROUP_LEN];
	MDB_val k = { 32, (void *)id }, v = { 0, locb };
	size_t clen = 0;
	int rc, mrc;
	if ((rc = compress_into(w, raw, len, level, &clen)) != 0)
		return rc;
	if (clen < len)
		rc = append_record(w, id, len, ARCA_CODEC_ZSTD, w->cbuf, (uint32_t)clen, out);
	else
		rc = append_record(w, id, len, ARCA_CODEC_RAW, raw, len, out);
	if (rc)
		return rc;
	v.mv_size = arca_chunk_loc_encode(locb, out);
	if ((mrc = mdb_put(w->txn, w->cas->dbi_chunks, &k, &v, 0)) != 0)
		return arca_lmdb_error(mrc, "update chunk location");
	return 0;
}

int arca_cas_writer_put_raw(arca_cas_writer *w, const void *raw, uint32_t len,
		int level, uint8_t id_out[32])
{
	size_t clen = 0;
	int rc;

	if ((rc = arca_sha256_digest(id_out, raw, len)) != 0)
		return rc;
	if (arca_cas_writer_has(w, id_out))
		return 0;
	if ((rc = compress_into(w, raw, len, level, &clen)) != 0)
		return rc;
	if (clen < len)
		return arca_cas_writer_put(w, id_out, len, ARCA_CODEC_ZSTD, w->cbuf,
			(uint32_t)clen, NULL);
	return arca_cas_writer_put(w, id_out, len, ARCA_CODEC_RAW, raw, len, NULL);
}

static void writer_free(arca_cas_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->npending; i++)
		close(w->pending[i]);
	ZSTD_freeCCtx(w->cctx);
	arca_buf_release(&w->path);
	free(w->cbuf);
	free(w->wbuf);
	free(w);
}

int arca_cas_writer_commit(arca_cas_writer *w)
{
	arca_cas *cas = w->cas;
	int rc = 0;

	/* repair applies a writer's meta records only when this follows them */
	if (w->jseq != w->jseq_start) {
		uint8_t c[16];
		arca_put_le64(c, w->jseq_start);
		arca_put_le64(c + 8, w->jseq - w->jseq_start);
		if ((rc = arca_cas_writer_journal(w, ARCA_META_COMMIT, 0, c, sizeof(c), NULL, 0,
				NULL)) != 0)
			goto fail;
	}
	/* every pack durable before the transaction that points at it */
	if ((rc = sync_pending(w, 0)) != 0)
		goto fail;
	if (w->fd >= 0 && w->pack_len != UINT64_MAX &&
	    (w->pack_len != w->first_pack_committed || w->pack_no != w->first_pack_no)) {
		if ((rc = flush_wbuf(w)) != 0)
			goto fail;
		if (arca_fdatasync(w->fd) < 0) {
			rc = arca_err_sys("sync pack %08u", w->pack_no);
			goto fail;
		}
		if ((rc = record_pack_len(w)) != 0)
			goto fail;
	}
	if (w->created_pack && arca_fsync_dir(cas->packdir) < 0) {
		rc = arca_err_sys("sync %s", cas->packdir);
		goto fail;
	}
	if (w->jseq != w->jseq_start &&
	    (rc = arca_meta_put_u64(w->txn, cas->dbi_meta, ARCA_META_JOURNAL_SEQ, w->jseq)) != 0)
		goto fail;
	if ((w->d_chunks || w->d_unique || w->d_stored) &&
	    ((rc = arca_meta_add_u64(w->txn, cas->dbi_meta, ARCA_META_CHUNKS, w->d_chunks)) != 0 ||
	     (rc = arca_meta_add_u64(w->txn, cas->dbi_meta, ARCA_META_UNIQUE, w->d_unique)) != 0 ||
	     (rc = arca_meta_add_u64(w->txn, cas->dbi_meta, ARCA_META_STORED, w->d_stored)) != 0))
		goto fail;
	cas->active = NULL;
	rc = arca_cas_write_txn_commit(cas, w->txn);
	w->txn = NULL;
	if (rc)
		goto fail;
	writer_free(w);
	return 0;
fail:
	arca_cas_writer_abort(w);
	return rc;
}

void arca_cas_writer_abort(arca_cas_writer *w)
{
	if (!w)
		return;
	/* Cut our appends while we still hold the write transaction: once it
	 * is gone another writer may append and commit to the same pack.
	 * Best effort; the next writer repairs whatever is left. */
	if (w->txn && w->first_pack_no && w->fd >= 0 && w->pack_no == w->first_pack_no)
		if (arca_ftruncate(w->fd, (off_t)w->first_pack_committed) < 0) { /* repaired later */ }
	/* Packs this writer created are in no committed state: remove them
	 * while the lock still keeps their numbers ours. */
	if (w->txn && w->created_pack && w->begin_next)
		for (uint32_t no = w->begin_next; no < w->next_pack; no++) {
			if (arca_cas__pack_path(&w->path, w->cas, no) == 0)
				(void)unlink(arca_buf_cstr(&w->path));
			/* the next writer reuses the number: a descriptor cached
			 * by a read of our own chunks must not outlive the file */
			pthread_mutex_lock(&w->cas->fd_lock);
			if (no < w->cas->npack_fds && w->cas->pack_fds[no] >= 0) {
				close(w->cas->pack_fds[no]);
				w->cas->pack_fds[no] = -1;
			}
			pthread_mutex_unlock(&w->cas->fd_lock);
		}
	if (w->cas->active == w)
		w->cas->active = NULL;
	arca_cas_write_txn_abort(w->cas, w->txn);
	writer_free(w);
}
