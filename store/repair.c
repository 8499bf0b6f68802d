/*
 * repair: rebuild the index from the packs, the source of truth.
 *
 * Every record of every live pack is read and checked; good chunks are
 * indexed, committed metadata records (those a COMMIT record vouches for)
 * are replayed from the newest complete checkpoint on, and chunks that
 * artifacts need but no pack holds intact are marked lost. The new index
 * is built beside the old one and renamed over it at the end, so a repair
 * that dies leaves the store as it was.
 */
#include "store/store.h"
#include "store/artifact.h"
#include "store/history.h"
#include "store/journal.h"
#include "store/reach.h"
#include "store/record.h"
#include "util/array.h"
#include "cas/chunker.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/version.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_DB "repair_scan"
#define TMP_INDEX "index.lmdb.repair"

/* A committed writer: its meta records are seqs first..last with `tag`. */
typedef struct {
	uint64_t first, last;
	uint32_t tag;
} txn_span;

typedef struct {
	arca_repair_result *res;
	arca_cas *nc;             /* the index being built */
	MDB_txn *txn;
	MDB_dbi artifacts, refs, history, scan, remotes, envs;
	arca_store st;            /* a store view of the new index */
	arca_chunk_reader rd;
	/* from the old index, when readable */
	arca_cas *old;
	int locked;               /* holds old's writer lock */
	int lockfd;               /* or this descriptor's, when there is no old */
	int old_consistent;       /* it describes the packs (arca_cas_open's check) */
	int old_packs_all;        /* every live pack it names is there */
	int old_packs_any;        /* some are (a deleted pack is damage; none: another store's) */
	uint32_t *dead;
	size_t ndead, dead_cap;
	uint64_t next;
	uint8_t key[32];
	uint64_t old_params[4];
	int have_old_params;
	/* found in the packs */
	uint8_t params[32];
	uint64_t params_seq;
	uint8_t store_id[ARCA_STORE_ID_LEN];
	int have_old_id;
	uint32_t max_pack;
	uint64_t chunks, unique, stored;
	txn_span *spans;
	size_t nspans, spans_cap;
	arca_buf lost;            /* ids of lost chunks */
	arca_buf bad_arts;        /* ids of artifacts that lose data */
} repair;

static int u32_has(const uint32_t *v, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid] == x)
			return 1;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* What the old index still knows that packs do not: retired packs, the
 * pack numbering, the MAC key, the chunking parameters. */
static void read_old_index(repair *r, const char *dir)
{
	arca_cas *old = NULL;
	MDB_txn *txn = NULL;
	arca_cas_iter *it = NULL;
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	struct stat st;
	uint32_t no;
	uint64_t val;
	int irc;
	static const char *pk[] = { "format", "chunk.min", "chunk.avg", "chunk.max" };

	if (arca_buf_setf(&path, "%s/index.lmdb", dir) != 0 ||
	    stat(arca_buf_cstr(&path), &st) < 0 || st.st_size == 0 ||
	    arca_cas_open_index(&old, dir, "index.lmdb") != 0)
		goto done;
	if (arca_cas_txn_read(old, &txn) != 0)
		goto done;
	{
		uint64_t fmt = 0;
		/* an index LMDB just made anew (the old one was lost) knows nothing */
		if (arca_cas_meta_get_u64(old, txn, "format", &fmt) != 0 || !fmt)
			goto done;
	}
	r->res->used_old_index = 1;
	arca_cas_meta_get_u64(old, txn, ARCA_META_PACK_NEXT, &r->next);
	if (arca_cas_mac_key(old, txn, r->key) != 1)
		memset(r->key, 0, sizeof(r->key));
	if (arca_cas_store_id_get(old, txn, r->store_id) == 1)
		r->have_old_id = 1;
	r->have_old_params = 1;
	for (int i = 0; i < 4; i++)
		if (arca_cas_meta_get_u64(old, txn, pk[i], &r->old_params[i]) != 0 ||
		    !r->old_params[i])
			r->have_old_params = 0;
	if (arca_cas_packs_iter(&it, old, txn, 1) != 0)
		goto done;
	while ((irc = arca_cas_packs_next(it, &no, &val)) == 0 || irc == ARCA_ECORRUPT) {
		if (!no || arca_array_grow(&r->dead, &r->dead_cap, r->ndead + 1, sizeof(*r->dead), 16))
			continue;
		r->dead[r->ndead++] = no;
	}
	/* the cursor walked keys in order: big-endian numbers sort numerically */
	arca_cas_iter_free(it);
	it = NULL;
	/* retired packs are left alone only when the live packs the old index
	 * names are all there, the old metadata taken over only when some
	 * are: another store's index names others */
	if (arca_cas_packs_iter(&it, old, txn, 0) != 0)
		goto done;
	r->old_packs_all = 1;
	while ((irc = arca_cas_packs_next(it, &no, &val)) == 0 || irc == ARCA_ECORRUPT) {
		if (irc || arca_cas_pack_path(old, no, &path) != 0 ||
		    stat(arca_buf_cstr(&path), &st) < 0 || !S_ISREG(st.st_mode))
			r->old_packs_all = 0;
		else
			r->old_packs_any = 1;
	}
done:
	arca_buf_release(&path);
	arca_cas_iter_free(it);
	if (txn)
		mdb_txn_abort(txn);
	if (r->res->used_old_index && old) {
		r->old = old; /* its metadata may be adopted */
		r->old_consistent = arca_cas_check_index(old) == 0;
		old = NULL;
		/* an index that does not describe these packs (another store's)
		 * may call live packs retired: then every pack file is scanned
		 * (a retired one only costs space until the next gc) */
		if (!r->old_consistent || !r->old_packs_all) {
			free(r->dead);
			r->dead = NULL;
			r->ndead = r->dead_cap = 0;
		}
	}
	else
		arca_cas_free(old);
}

/* Copies (or, with `dbi_to` 0, only reads through) one old database;
 * artifact records are checked. */
static int copy_db(MDB_txn *from, MDB_dbi dbi_from, MDB_txn *to, MDB_dbi dbi_to,
		int artifacts)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc = mdb_cursor_open(from, dbi_from, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "old index");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (artifacts) {
			arca_artifact_rec rec;
			arca_id id;
			if (k.mv_size != 32) {
				rc = ARCA_ECORRUPT;
				break;
			}
			memcpy(id.bytes, k.mv_data, 32);
			if ((rc = arca_artifact_rec_decode(&rec, &id, v.mv_data, v.mv_size)) != 0)
				break;
			arca_artifact_rec_clear(&rec);
		}
		if (dbi_to && (mrc = mdb_put(to, dbi_to, &k, &v, 0)) != 0) {
			rc = arca_lmdb_error(mrc, "repair: copy");
			break;
		}
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND)
		rc = arca_lmdb_error(mrc, "old index");
	return rc;
}

/*
 * A readable old index knows the artifacts and refs even when the packs
 * lost the journal records that made them (a truncated pack): its state
 * is then taken over whole, the replayed one dropped, and a checkpoint
 * afterwards puts it back into the packs.
 */
static int adopt_old_metadata(repair *r, uint64_t max_seq)
{
	const char *names[] = { "artifacts", "refs", "history" };
	MDB_dbi oa, orf, oh, *dbis[] = { &oa, &orf, &oh };
	MDB_dbi to[] = { r->artifacts, r->refs, r->history };
	MDB_txn *txn = NULL;
	uint64_t hnext = 0;
	int rc;

	if (!r->old || !r->old_consistent || !r->old_packs_any || arca_cas_open_dbis(r->old, names, dbis, 3) != 0 ||
	    arca_cas_txn_read(r->old, &txn) != 0)
		return 0;
	/* an older copy of the index: the packs hold writers it never saw,
	 * and its state would undo them */
	if (arca_cas_meta_get_u64(r->old, txn, ARCA_META_JOURNAL_SEQ, &hnext) != 0 ||
	    hnext <= max_seq) {
		mdb_txn_abort(txn);
		return 0;
	}
	hnext = 0;
	/* all or nothing: read everything once before changing anything */
	if (copy_db(txn, oa, NULL, 0, 1) != 0 || copy_db(txn, orf, NULL, 0, 0) != 0 ||
	    copy_db(txn, oh, NULL, 0, 0) != 0 ||
	    arca_cas_meta_get_u64(r->old, txn, "history.next", &hnext) != 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		int mrc = mdb_drop(r->txn, to[i], 0);
		if (mrc) {
			mdb_txn_abort(txn);
			return arca_lmdb_error(mrc, "repair: drop");
		}
	}
	if ((rc = copy_db(txn, oa, r->txn, r->artifacts, 1)) == 0 &&
	    (rc = copy_db(txn, orf, r->txn, r->refs, 0)) == 0 &&
	    (rc = copy_db(txn, oh, r->txn, r->history, 0)) == 0)
		rc = arca_cas_meta_put_u64(r->nc, r->txn, "history.next", hnext);
	mdb_txn_abort(txn);
	if (!rc)
		r->res->adopted_old_metadata = 1;
	return rc;
}

/*
 * Which store the packs belong to: every pack starts with a PARAMS record
 * that names it (checked against itself). The id most packs name wins;
 * with none, the old index's; with neither, a new one (there is no
 * journal to replay then).
 */
static int pick_store_id(repair *r, const char *dir)
{
	struct { uint8_t id[ARCA_STORE_ID_LEN]; unsigned votes; } cand[8];
	size_t ncand = 0, best = 0;
	uint32_t *nos = NULL;
	size_t n = 0;
	int rc;

	if ((rc = arca_cas_dir_pack_files(dir, &nos, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		uint8_t id[ARCA_STORE_ID_LEN];
		size_t c;
		if (!arca_cas_pack_store_id(dir, nos[i], id))
			continue;
		for (c = 0; c < ncand && memcmp(cand[c].id, id, ARCA_STORE_ID_LEN); c++)
			;
		if (c == ncand) {
			if (ncand == 8)
				continue;
			memcpy(cand[c].id, id, ARCA_STORE_ID_LEN);
			cand[c].votes = 0;
			ncand++;
		}
		cand[c].votes++;
	}
	free(nos);
	for (size_t c = 1; c < ncand; c++)
		if (cand[c].votes > cand[best].votes)
			best = c;
	if (ncand)
		memcpy(r->store_id, cand[best].id, ARCA_STORE_ID_LEN);
	else if (!r->have_old_id)
		return arca_random_bytes(r->store_id, ARCA_STORE_ID_LEN);
	return 0;
}

/* Indexes a checked chunk (the first good copy wins) with its MAC. */
static int index_chunk(repair *r, const uint8_t id[32], const arca_chunk_loc *loc,
		const uint8_t *raw, uint64_t footprint)
{
	uint8_t tag[16];
	int rc = arca_cas_rebuild_chunk(r->nc, r->txn, id, loc);

	if (rc)
		return rc == 1 ? 0 : rc;
	if ((rc = arca_mac(tag, r->key, id, raw, loc->raw_len)) != 0 ||
	    (rc = arca_cas_rebuild_mac(r->nc, r->txn, id, tag)) != 0)
		return rc;
	r->chunks++;
	r->unique += loc->raw_len;
	r->stored += footprint;
	r->res->chunks++;
	return 0;
}

/* scan_chunk, scan_group, scan_meta: 0 when the record checked out (or
 * some members did), 1 when it was rejected whole, or an error. */
static int scan_chunk(repair *r, uint32_t no, uint64_t off, const arca_record *rec)
{
	arca_chunk_loc loc;
	const uint8_t *raw;
	memset(&loc, 0, sizeof(loc));
	loc.pack = no;
	loc.offset = off;
	loc.stored_len = rec->stored_len;
	loc.raw_len = rec->raw_len;
	loc.codec = rec->codec;
	if (arca_cas_read(r->nc, &loc, rec->id, &r->rd, &raw) != 0) {
		r->res->records_damaged++;
		return 1;
	}
	return index_chunk(r, rec->id, &loc, raw, rec->stored_len);
}

static int scan_group(repair *r, uint32_t no, uint64_t off, const arca_group *g)
{
	arca_chunk_loc loc;
	const uint8_t *t;
	uint64_t moff = 0;
	int rc;

	memset(&loc, 0, sizeof(loc));
	loc.pack = no;
	loc.offset = off;
	loc.stored_len = g->stored_len;
	loc.codec = g->codec;
	loc.grouped = 1;
	loc.nmembers = (uint16_t)g->nmembers;
	loc.group_raw = g->raw_len;
	loc.raw_len = 1;
	if (g->nmembers > ARCA_GROUP_MAX_MEMBERS ||
	    arca_cas_load_group(r->nc, &loc, &r->rd, &t) != 0) {
		r->res->records_damaged++;
		return 1;
	}
	for (uint32_t i = 0; i < g->nmembers; i++) {
		const uint8_t *m = t + (size_t)i * ARCA_GROUP_MEMBER_LEN;
		uint32_t len = arca_get_le32(m + 32);
		uint8_t d[32];
		if ((rc = arca_sha256_digest(d, r->rd.graw + moff, len)) != 0)
			return rc;
		loc.member_off = (uint32_t)moff;
		loc.raw_len = len;
		if (memcmp(d, m, 32) != 0)
			r->res->records_damaged++;
		else if ((rc = index_chunk(r, m, &loc, r->rd.graw + moff, 0)) != 0)
			return rc;
		moff += len;
	}
	/* counted as the writer counts it: table and payload, once */
	r->stored += (uint64_t)g->nmembers * ARCA_GROUP_MEMBER_LEN + g->stored_len;
	return 0;
}

/* Records a checked meta record in the scan table: seq, tag -> loc. */
static int scan_meta(repair *r, int fd, uint32_t no, uint64_t off, const arca_meta_hdr *m)
{
	uint8_t kb[12], vb[ARCA_JOURNAL_LOC_LEN], d[32], *p = NULL;
	MDB_val k = { sizeof(kb), kb }, v = { sizeof(vb), vb };
	arca_journal_loc l = { no, off, m->len, m->type, m->flags };
	ssize_t got;
	int rc = 0, mrc;

	if (!(p = malloc(m->len ? m->len : 1)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	got = arca_pread_full(fd, p, m->len, (off_t)(off + ARCA_RECORD_HEADER_LEN));
	if (got != (ssize_t)m->len || arca_meta_hash(d, r->store_id, p, m->len, NULL, 0) != 0 ||
	    memcmp(d, m->hash, 32) != 0) {
		r->res->records_damaged++;
		rc = 1;
		goto done;
	}
	arca_put_be64(kb, m->seq);
	arca_put_be32(kb + 8, m->tag);
	arca_journal_loc_encode(vb, &l);
	mrc = mdb_put(r->txn, r->scan, &k, &v, MDB_NOOVERWRITE);
	if (mrc && mrc != MDB_KEYEXIST) {
		rc = arca_lmdb_error(mrc, "repair: journal");
		goto done;
	}
	if (m->type == ARCA_META_PARAMS && m->len == 48 && m->seq >= r->params_seq) {
		memcpy(r->params, p, 32);
		r->params_seq = m->seq;
	}
	if (m->type == ARCA_META_COMMIT && m->len == 16) {
		uint64_t first = arca_get_le64(p), n = arca_get_le64(p + 8);
		if (n && first + n == m->seq) {
			if ((rc = arca_array_grow(&r->spans, &r->spans_cap, r->nspans + 1,
					sizeof(*r->spans), 256)) != 0)
				goto done;
			r->spans[r->nspans].first = first;
			r->spans[r->nspans].last = m->seq;
			r->spans[r->nspans].tag = m->tag;
			r->nspans++;
		}
	}
done:
	free(p);
	return rc;
}

static int scan_chunk_cb(void *ctx, uint32_t no, uint64_t off, const arca_record *rec)
{
	return scan_chunk(ctx, no, off, rec);
}

static int scan_group_cb(void *ctx, uint32_t no, uint64_t off, const arca_group *g)
{
	return scan_group(ctx, no, off, g);
}

static int scan_meta_cb(void *ctx, int fd, uint32_t no, uint64_t off, const arca_meta_hdr *m)
{
	return scan_meta(ctx, fd, no, off, m);
}

/* Indexes what pack `no` holds intact and records its (repaired) length. */
static int scan_pack(repair *r, uint32_t no)
{
	arca_cas_scan_ops ops = { scan_chunk_cb, scan_group_cb, scan_meta_cb, r };
	arca_cas_scan_stats st = { 0, 0, 0, 0, 0 };
	uint64_t len = 0;
	int rc = arca_cas_scan_pack(r->nc, no, &ops, &st, &len);

	r->res->records_damaged += st.records_damaged;
	r->res->bytes_skipped += st.bytes_skipped;
	r->res->bytes_truncated += st.bytes_truncated;
	r->res->headers_fixed += st.headers_fixed;
	if (st.opened) {
		r->res->packs++;
		if (no > r->max_pack)
			r->max_pack = no;
	}
	return rc ? rc : arca_cas_rebuild_pack(r->nc, r->txn, no, len);
}

static int span_cmp(const void *a, const void *b)
{
	const txn_span *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* 1 when a COMMIT record vouches for the record (seq, tag). */
static int committed(const repair *r, uint64_t seq, uint32_t tag)
{
	size_t lo = 0, hi = r->nspans;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->spans[mid].first <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* spans of aborted writers never got a COMMIT; several committed
	 * spans cannot overlap, but look back a little for equal starts */
	for (size_t i = lo; i-- > 0 && lo - i <= 4;)
		if (r->spans[i].first <= seq && seq <= r->spans[i].last && r->spans[i].tag == tag)
			return 1;
	return 0;
}

typedef int (*entry_fn)(repair *r, uint64_t seq, uint32_t tag, const arca_journal_loc *l,
		void *ctx);

/* Calls fn for every committed record in the scan table, in seq order. */
static int each_committed(repair *r, entry_fn fn, void *ctx)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc = mdb_cursor_open(r->txn, r->scan, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "repair: journal cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		arca_journal_loc l;
		if (k.mv_size != 12 || arca_journal_loc_decode(&l, v.mv_data, v.mv_size) != 0)
			continue;
		uint64_t seq = arca_get_be64(k.mv_data);
		uint32_t tag = arca_get_be32((const uint8_t *)k.mv_data + 8);
		if (committed(r, seq, tag))
			rc = fn(r, seq, tag, &l, ctx);
	}
	mdb_cursor_close(cur);
	return rc;
}

typedef struct {
	uint64_t first, end; /* newest complete checkpoint: members from first, END at end */
} ckpt_pick;

typedef struct {
	uint64_t first, last, members, found, end;
} ckpt_cand;

typedef struct {
	ckpt_cand *v;
	size_t n, cap;
} ckpt_list;

static int find_end(repair *r, uint64_t seq, uint32_t tag, const arca_journal_loc *l, void *ctx)
{
	ckpt_list *cl = ctx;
	ckpt_cand *nv;
	uint8_t p[24];
	(void)tag;
	if (l->type != ARCA_META_CKPT_END || l->len != 24 || arca_cas_read_meta(r->nc, l, seq, p) != 0)
		return 0;
	int rc = arca_array_grow(&cl->v, &cl->cap, cl->n + 1, sizeof(*cl->v), 16);
	if (rc)
		return rc;
	nv = cl->v;
	nv[cl->n].first = arca_get_le64(p);
	nv[cl->n].last = arca_get_le64(p + 8);
	nv[cl->n].members = arca_get_le64(p + 16);
	nv[cl->n].found = 0;
	nv[cl->n].end = seq;
	cl->n++;
	return 0;
}

static int count_members(repair *r, uint64_t seq, uint32_t tag, const arca_journal_loc *l,
		void *ctx)
{
	ckpt_cand *c = ctx;
	(void)r;
	(void)tag;
	/* up to its END, not its `last`: checkpoints written before `last`
	 * was kept counted it as if no PARAMS record fell between members */
	if ((l->flags & ARCA_META_F_CKPT) && seq >= c->first && seq < c->end)
		c->found++;
	return 0;
}

/* Applies one committed record to the new index. */
/* A NAME 0 VALUE journal payload (remote config, env record) into `dbi`;
 * one without a name is skipped. */
static int put_named(MDB_txn *txn, MDB_dbi dbi, const uint8_t *p, size_t len)
{
	const uint8_t *z = memchr(p, 0, len);
	MDB_val k, v;
	if (!z || z == p)
		return 0;
	k.mv_size = (size_t)(z - p);
	k.mv_data = (void *)p;
	v.mv_size = len - k.mv_size - 1;
	v.mv_data = (void *)(z + 1);
	return mdb_put(txn, dbi, &k, &v, 0);
}

static int apply(repair *r, uint64_t seq, uint32_t tag, const arca_journal_loc *l, void *ctx)
{
	const ckpt_pick *pk = ctx;
	uint8_t *p;
	MDB_val k, v;
	int rc = 0, mrc = 0;
	(void)tag;

	if (pk->end && (seq < pk->first || (seq <= pk->end && !(l->flags & ARCA_META_F_CKPT))))
		return 0; /* superseded by the checkpoint */
	if (l->type == ARCA_META_PARAMS || l->type == ARCA_META_CKPT_END ||
	    l->type == ARCA_META_COMMIT)
		return 0;
	if (!(p = malloc(l->len ? l->len : 1)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if (arca_cas_read_meta(r->nc, l, seq, p) != 0) {
		r->res->records_damaged++;
		goto done;
	}
	r->res->journal_records++;
	switch (l->type) {
	case ARCA_META_ART_PUT: {
		arca_artifact_rec rec;
		arca_id id;
		if (l->len < 32)
			break;
		memcpy(id.bytes, p, 32);
		if (arca_artifact_rec_decode(&rec, &id, p + 32, l->len - 32) != 0) {
			r->res->records_damaged++;
			break;
		}
		arca_artifact_rec_clear(&rec);
		k.mv_size = 32;
		k.mv_data = p;
		v.mv_size = l->len - 32;
		v.mv_data = p + 32;
		mrc = mdb_put(r->txn, r->artifacts, &k, &v, 0);
		break;
	}
	case ARCA_META_ART_DEL: {
		arca_id id;
		if (l->len != 32)
			break;
		k.mv_size = 32;
		k.mv_data = p;
		mrc = mdb_del(r->txn, r->artifacts, &k, NULL);
		memcpy(id.bytes, p, 32);
		rc = arca_store__history_drop(&r->st, r->txn, &id, 1);
		break;
	}
	case ARCA_META_HIST_ADD: {
		arca_id id;
		if (l->len <= 40)
			break;
		memcpy(id.bytes, p, 32);
		if (arca_store__history_put(&r->st, r->txn, (const char *)p + 40, l->len - 40, &id,
				(int64_t)arca_get_le64(p + 32)) != 0)
			r->res->records_damaged++;
		break;
	}
	case ARCA_META_REF_SET:
		if (l->len <= 32)
			break;
		k.mv_size = l->len - 32;
		k.mv_data = p + 32;
		v.mv_size = 32;
		v.mv_data = p;
		mrc = mdb_put(r->txn, r->refs, &k, &v, 0);
		break;
	case ARCA_META_REF_DEL:
		k.mv_size = l->len;
		k.mv_data = p;
		mrc = l->len ? mdb_del(r->txn, r->refs, &k, NULL) : 0;
		break;
	case ARCA_META_REMOTE_SET:
		mrc = put_named(r->txn, r->remotes, p, l->len);
		break;
	case ARCA_META_REMOTE_DEL:
		k.mv_size = l->len;
		k.mv_data = p;
		mrc = l->len ? mdb_del(r->txn, r->remotes, &k, NULL) : 0;
		break;
	case ARCA_META_ENV_SET:
		/* the record is decoded when read: a damaged one is reported then */
		mrc = put_named(r->txn, r->envs, p, l->len);
		break;
	case ARCA_META_ENV_DEL:
		k.mv_size = l->len;
		k.mv_data = p;
		mrc = l->len ? mdb_del(r->txn, r->envs, &k, NULL) : 0;
		break;
	default:
		break;
	}
	if (mrc && mrc != MDB_NOTFOUND)
		rc = arca_lmdb_error(mrc, "repair: replay");
	/* the journal of the new index: what a later checkpoint supersedes */
	if (!rc)
		rc = arca_cas_rebuild_journal(r->nc, r->txn, seq, l);
done:
	free(p);
	return rc;
}

static int count_db(MDB_txn *txn, MDB_dbi dbi, uint64_t *n)
{
	MDB_stat ms;
	int mrc = mdb_stat(txn, dbi, &ms);
	*n = mrc ? 0 : ms.ms_entries;
	return mrc ? arca_lmdb_error(mrc, "repair: stat") : 0;
}

static int replay(repair *r, uint64_t *max_seq)
{
	ckpt_list cl = { NULL, 0, 0 };
	ckpt_pick pk = { 0, 0 };
	int rc;

	if (r->nspans)
		qsort(r->spans, r->nspans, sizeof(*r->spans), span_cmp);
	*max_seq = r->nspans ? r->spans[r->nspans - 1].last : 0;
	/* the newest checkpoint whose members are all there */
	if ((rc = each_committed(r, find_end, &cl)) != 0)
		goto done;
	for (size_t i = cl.n; i-- > 0;) {
		if ((rc = each_committed(r, count_members, &cl.v[i])) != 0)
			goto done;
		if (cl.v[i].found == cl.v[i].members && cl.v[i].first <= cl.v[i].last &&
		    cl.v[i].last < cl.v[i].end) {
			pk.first = cl.v[i].first;
			pk.end = cl.v[i].end;
			break;
		}
	}
	rc = each_committed(r, apply, &pk);
done:
	free(cl.v);
	return rc;
}

typedef struct {
	arca_store *s;
	repair *r;
	MDB_txn *txn;
	int lost;
} lost_walk;

static int note_missing(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	lost_walk *w = ctx;
	arca_chunk_loc loc;
	(void)len;
	(void)manifest;
	if (arca_cas_lookup(w->s->cas, w->txn, id, &loc) == 0)
		return 0;
	w->lost = 1;
	return arca_buf_put(&w->r->lost, id, 32);
}

/* Walks one artifact: collects the chunks it needs that are not indexed. */
static int check_artifact(arca_store *s, MDB_txn *txn, const arca_artifact_rec *rec, void *ctx)
{
	repair *r = ctx;
	lost_walk w = { s, r, txn, 0 };
	int rc = arca_store__reach(s, rec, note_missing, &w);
	if (rc == ARCA_ENOMEM)
		return rc;
	/* a manifest that cannot be read loses its data chunks too */
	if (rc || w.lost)
		return arca_buf_put(&r->bad_arts, rec->a.id.bytes, 32);
	return 0;
}

static int find_lost(arca_store *s, repair *r)
{
	MDB_txn *txn;
	int rc = arca_cas_txn_read(s->cas, &txn);
	if (rc)
		return rc;
	rc = arca_store__records_walk(s, txn, check_artifact, r);
	mdb_txn_abort(txn);
	return rc;
}

static int mark_lost(repair *r)
{
	return arca_cas_rebuild_mark_lost(r->nc, r->lost.ptr, r->lost.len / 32,
		&r->res->chunks_missing);
}

static int finish_meta(repair *r, uint64_t max_seq)
{
	static const char *pk[] = { "format", "chunk.min", "chunk.avg", "chunk.max" };
	arca_cas *nc = r->nc;
	uint64_t params[4];
	uint64_t next = r->next > (uint64_t)r->max_pack + 1 ? r->next : (uint64_t)r->max_pack + 1;
	int rc;

	if (r->params_seq) {
		for (int i = 0; i < 4; i++)
			params[i] = arca_get_le64(r->params + 8 * i);
	} else if (r->have_old_params) {
		memcpy(params, r->old_params, sizeof(params));
	} else {
		params[0] = ARCA_STORE_FORMAT;
		params[1] = ARCA_CHUNK_MIN_DEFAULT;
		params[2] = ARCA_CHUNK_AVG_DEFAULT;
		params[3] = ARCA_CHUNK_MAX_DEFAULT;
	}
	if (params[0] != ARCA_STORE_FORMAT || params[1] > UINT32_MAX || params[2] > UINT32_MAX ||
	    params[3] > UINT32_MAX ||
	    arca_chunker_check((uint32_t)params[1], (uint32_t)params[2], (uint32_t)params[3]) != 0)
		return arca_err_set(ARCA_ECORRUPT, "repair: the packs name unusable chunk parameters");
	for (int i = 0; i < 4; i++)
		if ((rc = arca_cas_meta_put_u64(nc, r->txn, pk[i], params[i])) != 0)
			return rc;
	if ((rc = arca_cas_meta_put_u64(nc, r->txn, ARCA_META_PACK_NEXT, next)) != 0 ||
	    (rc = arca_cas_meta_put_u64(nc, r->txn, ARCA_META_JOURNAL_SEQ, max_seq + 1)) != 0 ||
	    (rc = arca_cas_meta_put_u64(nc, r->txn, ARCA_META_JOURNAL_ON, 1)) != 0 ||
	    (rc = arca_cas_meta_put_u64(nc, r->txn, ARCA_META_CHUNKS, r->chunks)) != 0 ||
	    (rc = arca_cas_meta_put_u64(nc, r->txn, ARCA_META_UNIQUE, r->unique)) != 0 ||
	    (rc = arca_cas_meta_put_u64(nc, r->txn, ARCA_META_STORED, r->stored)) != 0)
		return rc;
	if ((rc = arca_cas_rebuild_keys(nc, r->txn, r->key, r->store_id)) != 0)
		return rc;
	/* retired packs stay retired: gc deletes them once unused */
	for (size_t i = 0; i < r->ndead; i++)
		if ((rc = arca_cas_rebuild_dead_pack(nc, r->txn, r->dead[i])) != 0)
			return rc;
	return 0;
}

static int open_store_dbis(repair *r)
{
	MDB_dbi files, stage, scan, rchunks;
	const char *names[] = { "artifacts", "refs", "files", "files_stage", "history", SCAN_DB,
		"remotes", "remote_chunks", "envs" };
	MDB_dbi *dbis[] = { &r->artifacts, &r->refs, &files, &stage, &r->history, &scan,
		&r->remotes, &rchunks, &r->envs };
	int rc = arca_cas_open_dbis(r->nc, names, dbis, 9);
	r->scan = scan;
	memset(&r->st, 0, sizeof(r->st));
	r->st.cas = r->nc;
	r->st.dbi_artifacts = r->artifacts;
	r->st.dbi_refs = r->refs;
	r->st.dbi_files = files;
	r->st.dbi_files_stage = stage;
	r->st.dbi_history = r->history;
	r->st.dbi_remotes = r->remotes;
	r->st.dbi_remote_chunks = rchunks;
	r->st.dbi_envs = r->envs;
	return rc;
}

static int remove_if_there(const char *dir, const char *name)
{
	arca_buf p = ARCA_BUF_INIT(PATH_MAX);
	int rc = arca_buf_setf(&p, "%s/%s", dir, name);
	if (!rc && unlink(arca_buf_cstr(&p)) < 0 && errno != ENOENT)
		rc = arca_err_sys("repair: remove %s", arca_buf_cstr(&p));
	arca_buf_release(&p);
	return rc;
}

/* Takes the writer lock's byte on the lock file `fd` (opened from `path`). */
static int lock_fd(int fd, const char *path)
{
	struct flock fl;

	if (fd < 0)
		return arca_err_sys("repair: open %s", path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)1 << 40; /* the writer lock's byte (cas/writelock.h) */
	fl.l_len = 1;
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return 0;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		return arca_err_set(ARCA_ELOCKED,
			"repair needs the store to itself: writer pid %ld holds it", (long)fl.l_pid);
	return arca_err_sys("repair: lock %s", path);
}

/*
 * Repair needs the store alone: it takes the writer lock (without
 * waiting), so no writer runs while it scans and none starts before the
 * new index is in place; handles opened earlier then refuse to write
 * (the index they map is not the one at the path any more).
 */
static int lock_store(repair *r, const char *dir)
{
	arca_buf pathb = ARCA_BUF_INIT(PATH_MAX);
	const char *path;
	int rc;

	if (r->old) {
		if ((rc = arca_cas_lock_now(r->old)) != 0)
			return arca_err_wrap(rc, "repair needs the store to itself");
		r->locked = 1;
		return 0;
	}
	if ((rc = arca_buf_setf(&pathb, "%s/index.lmdb-lock", dir)) != 0)
		return rc;
	path = arca_buf_cstr(&pathb);
	r->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	rc = lock_fd(r->lockfd, path);
	arca_buf_release(&pathb);
	return rc;
}

/* Journals the repaired state, so the packs describe it whole again. */
static int checkpoint(const char *path)
{
	arca_store_options o = ARCA_STORE_OPTIONS_INIT;
	arca_store *s = NULL;
	arca_cas_writer *w = NULL;
	int rc;

	o.no_create = 1;
	if ((rc = arca_store_open(&s, path, &o)) != 0 || (rc = arca_store__writer_begin(&w, s)) != 0)
		goto done;
	if ((rc = arca_store__checkpoint(s, w)) != 0) {
		arca_cas_writer_abort(w);
		goto done;
	}
	rc = arca_cas_writer_commit(w);
done:
	if (rc)
		arca_err_wrap(rc, "repair: the new index is in place, but journaling it failed");
	arca_store_free(s);
	return rc;
}

int arca_repair(arca_repair_result *out, const char *path)
{
	repair r;
	uint32_t *nos = NULL;
	size_t n = 0;
	uint64_t max_seq = 0;
	arca_buf from = ARCA_BUF_INIT(PATH_MAX), to = ARCA_BUF_INIT(PATH_MAX);
	struct stat st;
	int rc, mrc;

	if (!out || !path)
		return arca_err_set(ARCA_EINVAL, "arca_repair: NULL argument");
	if ((rc = arca__result_start("arca_repair_result", out, sizeof(*out), ARCA_REPAIR_RESULT_VERSION)) != 0)
		return rc;
	memset(&r, 0, sizeof(r));
	r.res = out;
	r.lost.max = SIZE_MAX;
	r.bad_arts.max = SIZE_MAX;
	if (arca_buf_setf(&from, "%s/packs", path) != 0 || stat(arca_buf_cstr(&from), &st) < 0 ||
	    !S_ISDIR(st.st_mode)) {
		arca_buf_release(&from);
		return arca_err_set(ARCA_ENOTFOUND, "no arca store at %s (no packs/)", path);
	}
	r.lockfd = -1;
	read_old_index(&r, path);
	if ((rc = lock_store(&r, path)) != 0 || (rc = pick_store_id(&r, path)) != 0)
		goto done;
	if (!r.key[0] && !memcmp(r.key, r.key + 1, 31) && (rc = arca_mac_keygen(r.key)) != 0)
		goto done;
	if ((rc = remove_if_there(path, TMP_INDEX)) != 0 ||
	    (rc = remove_if_there(path, TMP_INDEX "-lock")) != 0 ||
	    (rc = arca_cas_open_index(&r.nc, path, TMP_INDEX)) != 0 ||
	    (rc = open_store_dbis(&r)) != 0 ||
	    (rc = arca_chunk_reader_init(&r.rd)) != 0 ||
	    (rc = arca_cas_pack_files(r.nc, &nos, &n)) != 0)
		goto done;
	/* what the replay's reads check records against */
	arca_cas_set_params(r.nc, ARCA_STORE_FORMAT, 0, 0, 0, r.store_id);
	if ((rc = arca_cas_rebuild_begin(r.nc, &r.txn)) != 0)
		goto done;
	for (size_t i = 0; i < n && !rc; i++) {
		if (u32_has(r.dead, r.ndead, nos[i])) {
			out->packs_retired++;
			continue;
		}
		rc = scan_pack(&r, nos[i]);
	}
	if (rc || (rc = replay(&r, &max_seq)) != 0 || (rc = adopt_old_metadata(&r, max_seq)) != 0 ||
	    (rc = finish_meta(&r, max_seq)) != 0)
		goto done;
	if ((mrc = mdb_drop(r.txn, r.scan, 1)) != 0) {
		rc = arca_lmdb_error(mrc, "repair: drop scan table");
		goto done;
	}
	if ((rc = count_db(r.txn, r.artifacts, &out->artifacts)) != 0 ||
	    (rc = count_db(r.txn, r.refs, &out->refs)) != 0)
		goto done;
	mrc = mdb_txn_commit(r.txn);
	r.txn = NULL;
	if (mrc) {
		rc = arca_lmdb_error(mrc, "repair: commit");
		goto done;
	}
	/* which artifacts lose data, on the committed rebuild */
	r.st.dir = (char *)path;
	if ((rc = find_lost(&r.st, &r)) != 0 || (rc = mark_lost(&r)) != 0)
		goto done;
	if ((rc = arca_cas_rebuild_sync(r.nc)) != 0)
		goto done;
	arca_cas_free(r.nc);
	r.nc = NULL;
	if ((rc = arca_buf_setf(&from, "%s/" TMP_INDEX, path)) != 0 ||
	    (rc = arca_buf_setf(&to, "%s/index.lmdb", path)) != 0)
		goto done;
	/* LMDB's lock file describes the old index (its last transaction id
	 * picks the meta page readers use): the new index gets a new one.
	 * Processes that still have the old one open keep it, unlinked. */
	if ((rc = remove_if_there(path, "index.lmdb-lock")) != 0)
		goto done;
	if (rename(arca_buf_cstr(&from), arca_buf_cstr(&to)) < 0) {
		rc = arca_err_sys("repair: install the new index");
		goto done;
	}
	if ((rc = remove_if_there(path, TMP_INDEX "-lock")) != 0)
		goto done;
	if (arca_fsync_dir(path) < 0) {
		rc = arca_err_sys("repair: sync %s", path);
		goto done;
	}
	if ((rc = checkpoint(path)) != 0)
		goto done;
	out->ndamaged = r.bad_arts.len / 32;
	if (out->ndamaged) {
		out->damaged = malloc(r.bad_arts.len);
		if (!out->damaged) {
			rc = arca_err_set(ARCA_ENOMEM, "out of memory");
			goto done;
		}
		memcpy(out->damaged, r.bad_arts.ptr, r.bad_arts.len);
	}
done:
	if (r.txn)
		mdb_txn_abort(r.txn);
	if (r.nc) {
		arca_cas_free(r.nc);
		remove_if_there(path, TMP_INDEX);
		remove_if_there(path, TMP_INDEX "-lock");
	}
	if (r.locked)
		arca_cas_unlock(r.old);
	arca_cas_free(r.old);
	if (r.lockfd >= 0)
		close(r.lockfd);
	arca_chunk_reader_release(&r.rd);
	arca_buf_release(&r.lost);
	arca_buf_release(&r.bad_arts);
	arca_buf_release(&from);
	arca_buf_release(&to);
	free(r.spans);
	free(r.dead);
	free(nos);
	return rc;
}

void arca_repair_result_clear(arca_repair_result *r)
{
	if (!r)
		return;
	free(r->damaged);
	arca__result_clear(r, sizeof(*r));
}
