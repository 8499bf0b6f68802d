/*
 * Garbage collection: mark every chunk reachable from an artifact, drop
 * the rest from the index, and rewrite packs whose live fraction is low.
 *
 * All of it runs in the store's single write transaction, so a snapshot in
 * another thread or process either committed before (its chunks are
 * marked) or starts after (it sees the collected state); a chunk a
 * snapshot is adding can never be collected. Retired pack files are
 * deleted only once LMDB's reader table shows no snapshot older than the
 * collection (arca_cas_reap_dead_packs).
 */
#include "store/store.h"
#include "store/artifact.h"
#include "store/journal.h"
#include "store/reach.h"
#include "store/record.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/version.h"

#include <stdlib.h>
#include <string.h>

/* Set of chunk ids, by their first 8 bytes: a collision can only keep a
 * dead chunk alive, never drop a live one. */
typedef struct {
	uint64_t *slots;
	size_t cap, n;
} id_set;

static uint64_t id_key(const uint8_t id[32])
{
	uint64_t k;
	memcpy(&k, id, 8);
	return k ? k : 1; /* 0 marks an empty slot */
}

static int set_add(id_set *s, const uint8_t id[32])
{
	uint64_t k = id_key(id);
	size_t i;
	if (2 * (s->n + 1) > s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 1 << 16;
		uint64_t *ns = calloc(ncap, sizeof(uint64_t));
		if (!ns)
			return arca_err_set(ARCA_ENOMEM, "out of memory (gc mark set)");
		for (size_t j = 0; j < s->cap; j++) {
			if (!s->slots[j])
				continue;
			size_t p = (size_t)(s->slots[j] * 0x9e3779b97f4a7c15ull >> 20) & (ncap - 1);
			while (ns[p])
				p = (p + 1) & (ncap - 1);
			ns[p] = s->slots[j];
		}
		free(s->slots);
		s->slots = ns;
		s->cap = ncap;
	}
	i = (size_t)(k * 0x9e3779b97f4a7c15ull >> 20) & (s->cap - 1);
	while (s->slots[i] && s->slots[i] != k)
		i = (i + 1) & (s->cap - 1);
	if (!s->slots[i]) {
		s->slots[i] = k;
		s->n++;
	}
	return 0;
}

static int set_has(const id_set *s, const uint8_t id[32])
{
	uint64_t k = id_key(id);
	size_t i;
	if (!s->cap)
		return 0;
	i = (size_t)(k * 0x9e3779b97f4a7c15ull >> 20) & (s->cap - 1);
	while (s->slots[i]) {
		if (s->slots[i] == k)
			return 1;
		i = (i + 1) & (s->cap - 1);
	}
	return 0;
}

static int mark_one(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	(void)len;
	(void)manifest;
	return set_add(ctx, id);
}

/* Marks the manifest chunks and every data chunk of one artifact. */
static int mark_artifact(arca_store *s, id_set *live, const arca_artifact_rec *rec)
{
	char hex[ARCA_ID_STRLEN];
	int rc = arca_store__reach(s, rec, mark_one, live);
	if (rc) {
		/* Damage (a chunk that fails its checks) only loses what is
		 * already lost: what was read up to it stays marked. Anything
		 * else (I/O errors, no memory) might hide live chunks. */
		arca_id_format(hex, &rec->a.id);
		return arca_err_wrap(rc == ARCA_ECORRUPT ? ARCA_ECORRUPT : rc,
			"gc: cannot read artifact %s", hex);
	}
	return 0;
}

typedef struct {
	id_set *live;
	uint64_t *nart, *nunreadable;
	arca_progress_state *ps;
} mark_job;

static int mark_one_artifact(arca_store *s, MDB_txn *txn, const arca_artifact_rec *rec,
		void *ctx)
{
	mark_job *m = ctx;
	int rc = mark_artifact(s, m->live, rec);
	(void)txn;
	(*m->nart)++;
	if (rc == ARCA_ECORRUPT) {
		(*m->nunreadable)++;
		rc = 0;
	}
	return rc ? rc : arca_progress__add(m->ps, 1, 0);
}

/* Entries of a database, for a phase's total (0: not known). */
static uint64_t db_entries(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat ms;
	return mdb_stat(txn, dbi, &ms) == 0 ? (uint64_t)ms.ms_entries : 0;
}

static int mark_all(arca_store *s, MDB_txn *txn, id_set *live, uint64_t *nart,
		uint64_t *nunreadable, arca_progress_state *ps)
{
	mark_job m = { live, nart, nunreadable, ps };
	int rc = arca_progress__begin(ps, ARCA_PROGRESS_MARK, db_entries(txn, s->dbi_artifacts), 0);
	if (!rc)
		rc = arca_store__records_walk(s, txn, mark_one_artifact, &m);
	return rc ? rc : arca_progress__end(ps, *nart, 0);
}

#define PACK_OVERHEAD (ARCA_PACK_HEADER_LEN + ARCA_RECORD_HEADER_LEN + 32)

typedef struct {
	uint64_t committed;  /* file length */
	uint64_t live;       /* bytes of live records */
	int exists;
	int rewrite;
} pack_info;

static int load_packs(arca_store *s, MDB_txn *txn, pack_info **out, uint32_t *npacks)
{
	arca_cas_iter *it;
	pack_info *p = NULL;
	uint32_t n = 0, no;
	uint64_t len;
	int rc;

	/* the highest number (the writer that began this txn checked the
	 * last entry) sizes the table */
	if ((rc = arca_cas_packs_iter(&it, s->cas, txn, 0)) != 0)
		return rc;
	while ((rc = arca_cas_packs_next(it, &no, &len)) == 0 || rc == ARCA_ECORRUPT)
		if (no && no >= n)
			n = no + 1;
	arca_cas_iter_free(it);
	if (n > (1u << 24))
		return arca_err_set(ARCA_ECORRUPT, "index: pack numbers out of range");
	p = calloc(n ? n : 1, sizeof(*p));
	if (!p)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((rc = arca_cas_packs_iter(&it, s->cas, txn, 0)) != 0) {
		free(p);
		return rc;
	}
	while ((rc = arca_cas_packs_next(it, &no, &len)) == 0 || rc == ARCA_ECORRUPT) {
		if (rc == 0 && no < n) {
			p[no].exists = 1;
			p[no].committed = len;
		}
	}
	arca_cas_iter_free(it);
	*out = p;
	*npacks = n;
	return 0;
}

/* Journal records since the last checkpoint are live: add their bytes. */
static int journal_live(arca_store *s, MDB_txn *txn, pack_info *packs, uint32_t npacks)
{
	arca_cas_iter *it;
	arca_journal_loc l;
	uint64_t seq;
	int rc = arca_cas_journal_iter(&it, s->cas, txn);
	if (rc)
		return rc;
	while ((rc = arca_cas_journal_next(it, &seq, &l)) == 0 || rc == ARCA_ECORRUPT)
		if (rc == 0 && l.pack < npacks)
			packs[l.pack].live += ARCA_RECORD_HEADER_LEN + (uint64_t)l.len;
	arca_cas_iter_free(it);
	return 0;
}

static int journal_in_retired(arca_store *s, MDB_txn *txn, const pack_info *packs,
		uint32_t npacks)
{
	arca_cas_iter *it;
	arca_journal_loc l;
	uint64_t seq;
	int found = 0, rc;
	if (arca_cas_journal_iter(&it, s->cas, txn) != 0)
		return 1; /* when in doubt, checkpoint */
	while (!found && ((rc = arca_cas_journal_next(it, &seq, &l)) == 0 || rc == ARCA_ECORRUPT))
		found = rc != 0 || (l.pack < npacks && packs[l.pack].rewrite);
	arca_cas_iter_free(it);
	return found;
}

/* Drops unmarked chunks from the index and sums live bytes per pack. */
static int sweep(arca_store *s, arca_cas_writer *w, const id_set *live, pack_info *packs,
		uint32_t npacks, arca_gc_result *res, arca_progress_state *ps)
{
	arca_cas_iter *it;
	const uint8_t *id;
	arca_chunk_loc loc;
	int64_t d_chunks = 0, d_unique = 0, d_stored = 0;
	MDB_txn *txn = arca_cas_writer_txn(w);
	int rc = arca_cas_chunks_iter(&it, s->cas, txn);

	if (rc)
		return rc;
	if ((rc = arca_progress__begin(ps, ARCA_PROGRESS_SWEEP,
			arca_cas_chunks_count(s->cas, txn), 0)) != 0) {
		arca_cas_iter_free(it);
		return rc;
	}
	while ((rc = arca_cas_chunks_next(it, &id, &loc)) == 0) {
		if ((rc = arca_progress__add(ps, 1, 0)) != 0)
			break;
		if (set_has(live, id)) {
			if (loc.pack < npacks)
				packs[loc.pack].live += arca_chunk_loc_footprint(&loc);
			res->chunks_live++;
			continue;
		}
		if ((rc = arca_cas_chunks_delete(it)) != 0)
			break;
		d_chunks--;
		d_unique -= loc.raw_len;
		d_stored -= (int64_t)(arca_chunk_loc_footprint(&loc) - (loc.grouped ? 0 : ARCA_RECORD_HEADER_LEN));
		res->chunks_removed++;
		res->bytes_unreferenced += arca_chunk_loc_footprint(&loc);
	}
	arca_cas_iter_free(it);
	if (rc == ARCA_ITER_END)
		rc = arca_cas_writer_add_stats(w, d_chunks, d_unique, d_stored);
	if (!rc)
		rc = arca_progress__end(ps, res->chunks_live + res->chunks_removed, 0);
	return rc;
}

/* Copies live records out of the packs marked for rewriting. */
static int repack(arca_store *s, arca_cas_writer *w, pack_info *packs, uint32_t npacks,
		arca_gc_result *res, arca_progress_state *ps)
{
	arca_cas_iter *it;
	const uint8_t *kid;
	arca_chunk_loc loc, moved;
	arca_chunk_reader rd;
	arca_buf bad = ARCA_BUF_INIT(SIZE_MAX);
	int rc, irc = 0;

	if ((rc = arca_chunk_reader_init(&rd)) != 0)
		return rc;
	if ((rc = arca_cas_chunks_iter(&it, s->cas, arca_cas_writer_txn(w))) != 0) {
		arca_chunk_reader_release(&rd);
		return rc;
	}
	arca_cas_writer_new_pack(w);
	rc = arca_progress__begin(ps, ARCA_PROGRESS_REPACK,
		arca_cas_chunks_count(s->cas, arca_cas_writer_txn(w)), 0);
	while (!rc && (irc = arca_cas_chunks_next(it, &kid, &loc)) == 0) {
		const uint8_t *raw;

		if ((rc = arca_progress__set(ps, ps->p.items_done + 1, res->bytes_moved)) != 0)
			break;
		if (loc.pack >= npacks || !packs[loc.pack].rewrite)
			continue;
		/* copy only what still checks out: never spread damage */
		if ((rc = arca_cas_read(s->cas, &loc, kid, &rd, &raw)) == ARCA_ECORRUPT) {
			/* dropped after the walk: deleting moves the cursor */
			rc = arca_buf_put(&bad, kid, 32);
			res->chunks_damaged++;
			continue;
		} else if (rc) {
			arca_err_wrap(rc, "gc: cannot repack (nothing was collected)");
			break;
		}
		if (loc.grouped) {
			/* out of its group into a record of its own */
			uint8_t id[32];
			memcpy(id, kid, 32);
			rc = arca_cas_writer_rewrite(w, id, raw, loc.raw_len, s->zstd_level, &moved);
			if (rc)
				break;
			arca_cas_writer_add_stats(w, 0, 0, (int64_t)moved.stored_len -
				(int64_t)arca_chunk_loc_footprint(&loc));
			res->chunks_moved++;
			res->bytes_moved += ARCA_RECORD_HEADER_LEN + (uint64_t)moved.stored_len;
			continue;
		}
		rc = arca_cas_writer_move(w, kid, &loc,
			rd.stored + ARCA_RECORD_HEADER_LEN, &moved);
		if (rc)
			break;
		if ((rc = arca_cas_chunks_update(it, &moved)) != 0)
			break;
		res->chunks_moved++;
		res->bytes_moved += ARCA_RECORD_HEADER_LEN + (uint64_t)loc.stored_len;
	}
	arca_cas_iter_free(it);
	arca_chunk_reader_release(&rd);
	if (!rc && irc != ARCA_ITER_END && irc != 0)
		rc = irc;
	for (size_t i = 0; !rc && i < bad.len; i += 32)
		rc = arca_cas_writer_mark_damaged(w, bad.ptr + i);
	arca_buf_release(&bad);
	if (!rc)
		rc = arca_progress__end(ps, 0, res->bytes_moved);
	return rc;
}

/* Sum of committed pack lengths (a read snapshot). */
static int live_pack_bytes(arca_store *s, uint64_t *out)
{
	MDB_txn *txn;
	arca_cas_iter *it;
	uint32_t no;
	uint64_t len;
	int rc;
	*out = 0;
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	if ((rc = arca_cas_packs_iter(&it, s->cas, txn, 0)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	while ((rc = arca_cas_packs_next(it, &no, &len)) == 0 || rc == ARCA_ECORRUPT)
		*out += len;
	arca_cas_iter_free(it);
	mdb_txn_abort(txn);
	return 0;
}

int arca_gc(arca_gc_result *res, arca_store *s, const arca_gc_options *opts)
{
	arca_cas_writer *w = NULL;
	id_set live = { NULL, 0, 0 };
	pack_info *packs = NULL;
	uint32_t npacks = 0;
	double threshold = 0.75;
	uint64_t deleted, pending;
	arca_progress_state ps;
	int rc;

	if (!res || !s)
		return arca_err_set(ARCA_EINVAL, "arca_gc: NULL argument");
	if (opts && (rc = arca__check_version("arca_gc_options", opts->version, ARCA_GC_OPTIONS_VERSION)) != 0)
		return rc;
	if (opts && opts->repack_threshold > 0)
		threshold = opts->repack_threshold;
	if (threshold > 1.0)
		return arca_err_set(ARCA_EINVAL, "repack threshold must be in (0, 1]");
	if ((rc = arca__result_start("arca_gc_result", res, sizeof(*res), ARCA_GC_RESULT_VERSION)) != 0)
		return rc;
	arca_progress__init(&ps, opts && opts->version >= 2 ? opts->progress_cb : NULL,
		opts && opts->version >= 2 ? opts->progress_payload : NULL);

	if ((rc = arca_store__writer_begin(&w, s)) != 0)
		goto done;
	if ((rc = live_pack_bytes(s, &res->pack_bytes_before)) != 0)
		goto done;
	if ((rc = mark_all(s, arca_cas_writer_txn(w), &live, &res->artifacts,
			&res->artifacts_unreadable, &ps)) != 0 ||
	    (rc = load_packs(s, arca_cas_writer_txn(w), &packs, &npacks)) != 0 ||
	    (rc = sweep(s, w, &live, packs, npacks, res, &ps)) != 0 ||
	    (rc = journal_live(s, arca_cas_writer_txn(w), packs, npacks)) != 0)
		goto done;
	for (uint32_t i = 0; i < npacks; i++) {
		uint64_t body;
		if (!packs[i].exists)
			continue;
		/* the pack header and the PARAMS record after it are overhead */
		body = packs[i].committed > PACK_OVERHEAD ? packs[i].committed - PACK_OVERHEAD : 0;
		if (body == 0 || (double)packs[i].live < threshold * (double)body) {
			packs[i].rewrite = 1;
			res->packs_rewritten++;
		}
	}
	if (res->packs_rewritten && (rc = repack(s, w, packs, npacks, res, &ps)) != 0)
		goto done;
	for (uint32_t i = 0; i < npacks; i++)
		if (packs[i].rewrite && (rc = arca_cas_writer_retire_pack(w, i)) != 0)
			goto done;
	/* the journal records of retired packs live on in a new checkpoint */
	if (res->packs_rewritten && journal_in_retired(s, arca_cas_writer_txn(w), packs, npacks) &&
	    (rc = arca_store__checkpoint(s, w)) != 0)
		goto done;
	/* a cancel is no longer possible: the pack files are deleted after this */
	rc = arca_cas_writer_commit(w);
	w = NULL;
	if (rc || (rc = live_pack_bytes(s, &res->pack_bytes_after)) != 0)
		goto done;
	rc = arca_cas_reap_dead_packs(s->cas, &deleted, &pending);
	res->packs_deleted = deleted;
	res->packs_pending = pending;
done:
	arca_cas_writer_abort(w);
	free(live.slots);
	free(packs);
	return rc;
}
