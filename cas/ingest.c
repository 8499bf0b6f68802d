#include "cas/ingest.h"
#include "cas/chunker.h"
#include "cas/hash.h"
#include "util/error.h"
#include "util/firsterr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define BATCH_RAW_MIN (4u << 20)
/* New chunks of a batch are compressed together in groups of about this
 * many raw bytes: small chunks then compress like large ones. */
#define GROUP_TARGET (1u << 20)
/* Chunks first seen by this run, so a repeat is not compressed and
 * grouped again (it would waste space in a group). Bounded: past this,
 * repeats cost some space but never correctness. */
#define SEEN_MAX_SLOTS (1u << 18)
#define MARKS_PER_BATCH 1024
#define MAX_WORKERS 64

enum { EV_MARK, EV_DATA, EV_HOLE, EV_KNOWN };
enum { B_FREE, B_FILLING, B_READY, B_WORKING, B_DONE };

struct ev {
	uint8_t type;
	uint8_t zero;    /* all-zero chunk: becomes a hole */
	uint8_t known;   /* already in the committed index */
	uint8_t codec;
	uint32_t off, len;     /* DATA: bytes in batch->raw */
	uint32_t coff, clen;   /* DATA: compressed bytes in batch->comp */
	int32_t group;         /* DATA: index in batch->groups, or -1 */
	uint8_t has_mac;       /* DATA, new: mac is set */
	uint8_t mac[ARCA_MAC_LEN];
	uint64_t hole;         /* HOLE: length */
	void *payload;         /* MARK */
	uint8_t id[32];
};

struct group {
	uint32_t first, n;     /* members: batch->members[first .. first+n) */
	uint32_t coff, clen;   /* payload in batch->comp */
	uint32_t raw_len;
	uint8_t codec;
};

struct batch {
	uint8_t *raw;
	size_t len;
	uint8_t *comp;
	size_t comp_len;
	struct ev *ev;
	size_t nev;
	uint32_t *members;     /* event indices of group members, in order */
	struct group *groups;
	size_t ngroups;
	uint64_t seq;
	int state;
};

struct seen {
	uint8_t id[32];
	uint64_t seq;          /* batch that stores it */
	uint32_t ev;           /* its event in that batch */
	uint32_t used;
};

struct arca_ingest {
	arca_cas *cas;
	uint8_t mac_key[ARCA_MAC_KEY_LEN];
	pthread_mutex_t seen_mu;
	struct seen *seen;
	size_t seen_cap, seen_n;
	arca_ingest_params params;
	pthread_mutex_t mu;
	pthread_cond_t cv_producer, cv_worker, cv_writer;
	struct batch *b;
	size_t nb;
	size_t raw_cap, comp_cap, ev_cap, ev_reserve;
	uint64_t next_submit_seq, next_write_seq;
	int producer_done;
	arca_firsterr abort;   /* the first thread to fail stops them all */

	/* producer state */
	struct batch *cur;
	size_t run_start;
	arca_chunker chunker;
	uint64_t bytes_in;

	arca_ingest_producer producer;
	void *producer_ctx;
};

static void set_abort(arca_ingest *ing, int rc)
{
	arca_firsterr_set(&ing->abort, rc);
	pthread_mutex_lock(&ing->mu);
	pthread_cond_broadcast(&ing->cv_producer);
	pthread_cond_broadcast(&ing->cv_worker);
	pthread_cond_broadcast(&ing->cv_writer);
	pthread_mutex_unlock(&ing->mu);
}

static int aborted(arca_ingest *ing)
{
	return arca_err_set(arca_firsterr_code(&ing->abort), "%s", "ingest aborted");
}

/* ---- producer side ---- */

static int acquire_batch(arca_ingest *ing, struct batch **out)
{
	pthread_mutex_lock(&ing->mu);
	for (;;) {
		if (arca_firsterr_code(&ing->abort)) {
			pthread_mutex_unlock(&ing->mu);
			return aborted(ing);
		}
		for (size_t i = 0; i < ing->nb; i++) {
			if (ing->b[i].state == B_FREE) {
				ing->b[i].state = B_FILLING;
				pthread_mutex_unlock(&ing->mu);
				*out = &ing->b[i];
				return 0;
			}
		}
		pthread_cond_wait(&ing->cv_producer, &ing->mu);
	}
}

/* Hands the current batch to the workers; the unfinished run moves to a
 * fresh batch. */
static int submit(arca_ingest *ing)
{
	struct batch *old = ing->cur, *nb = NULL;
	size_t carry = old->len - ing->run_start;
	int rc;

	if ((rc = acquire_batch(ing, &nb)) != 0)
		return rc;
	memcpy(nb->raw, old->raw + ing->run_start, carry);
	nb->len = carry;
	old->len = ing->run_start;
	ing->run_start = 0;
	ing->cur = nb;

	pthread_mutex_lock(&ing->mu);
	old->seq = ing->next_submit_seq++;
	old->state = B_READY;
	pthread_cond_signal(&ing->cv_worker);
	pthread_mutex_unlock(&ing->mu);
	return 0;
}

static int reserve_events(arca_ingest *ing, size_t n)
{
	if (ing->cur->nev + n + ing->ev_reserve > ing->ev_cap)
		return submit(ing);
	return 0;
}

static struct ev *push_ev(arca_ingest *ing, uint8_t type)
{
	struct ev *e = &ing->cur->ev[ing->cur->nev++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->group = -1;
	return e;
}

int arca_ingest_mark(arca_ingest *ing, void *payload)
{
	int rc;
	if ((rc = reserve_events(ing, 1)) != 0)
		return rc; /* the caller keeps `payload` */
	push_ev(ing, EV_MARK)->payload = payload;
	return 0;
}

int arca_ingest_buffer(arca_ingest *ing, uint8_t **p, size_t *avail)
{
	int rc;
	if (arca_firsterr_code(&ing->abort))
		return aborted(ing);
	if (ing->raw_cap - ing->cur->len < ing->raw_cap / 8 &&
	    (rc = submit(ing)) != 0)
		return rc;
	*p = ing->cur->raw + ing->cur->len;
	*avail = ing->raw_cap - ing->cur->len;
	return 0;
}

static void emit_data(arca_ingest *ing, size_t end)
{
	struct ev *e = push_ev(ing, EV_DATA);
	e->off = (uint32_t)ing->run_start;
	e->len = (uint32_t)(end - ing->run_start);
	ing->run_start = end;
}

int arca_ingest_commit(arca_ingest *ing, size_t n)
{
	struct batch *b = ing->cur;
	size_t base = b->len, i = 0;

	while (i < n) {
		int cut;
		i += arca_chunker_scan(&ing->chunker, b->raw + base + i, n - i, &cut);
		if (cut)
			emit_data(ing, base + i);
	}
	b->len += n;
	ing->bytes_in += n;
	return 0;
}

int arca_ingest_feed(arca_ingest *ing, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n) {
		uint8_t *dst = NULL;
		size_t avail = 0;
		int rc = arca_ingest_buffer(ing, &dst, &avail);
		if (rc)
			return rc;
		if (avail > n)
			avail = n;
		memcpy(dst, c, avail);
		arca_ingest_commit(ing, avail);
		c += avail;
		n -= avail;
	}
	return 0;
}

int arca_ingest_end_run(arca_ingest *ing)
{
	int rc;
	if (arca_firsterr_code(&ing->abort))
		return aborted(ing);
	if (ing->cur->len > ing->run_start) {
		if ((rc = reserve_events(ing, 1)) != 0)
			return rc;
		emit_data(ing, ing->cur->len);
	}
	arca_chunker_reset(&ing->chunker);
	return 0;
}

int arca_ingest_known(arca_ingest *ing, const uint8_t id[32], uint32_t len)
{
	struct ev *e;
	int rc;
	if ((rc = arca_ingest_end_run(ing)) != 0 || (rc = reserve_events(ing, 1)) != 0)
		return rc;
	e = push_ev(ing, EV_KNOWN);
	memcpy(e->id, id, 32);
	e->len = len;
	return 0;
}

int arca_ingest_hole(arca_ingest *ing, uint64_t len)
{
	int rc;
	if (len == 0)
		return 0;
	if ((rc = arca_ingest_end_run(ing)) != 0 || (rc = reserve_events(ing, 1)) != 0)
		return rc;
	push_ev(ing, EV_HOLE)->hole = len;
	return 0;
}

static void *producer_main(void *arg)
{
	arca_ingest *ing = arg;
	int rc = ing->producer(ing, ing->producer_ctx);

	if (!rc)
		rc = arca_ingest_end_run(ing);
	if (!rc && ing->cur->nev)
		rc = submit(ing);
	if (rc) {
		set_abort(ing, rc);
		return NULL;
	}
	pthread_mutex_lock(&ing->mu);
	ing->cur->state = B_FREE;
	ing->producer_done = 1;
	pthread_cond_broadcast(&ing->cv_worker);
	pthread_cond_broadcast(&ing->cv_writer);
	pthread_mutex_unlock(&ing->mu);
	return NULL;
}

/* ---- workers ---- */

static int is_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

struct worker {
	arca_ingest *ing;
	pthread_t thread;
	int started;
};

/* One chunk in a frame of its own. */
static int compress_one(arca_ingest *ing, struct batch *b, struct ev *e, ZSTD_CCtx *cctx)
{
	size_t bound = ZSTD_compressBound(e->len), clen;
	e->codec = ARCA_CODEC_RAW;
	if (b->comp_len + bound > ing->comp_cap)
		return 0; /* cannot happen with comp_cap's sizing; store raw */
	clen = ZSTD_compress2(cctx, b->comp + b->comp_len, bound, b->raw + e->off, e->len);
	if (ZSTD_isError(clen))
		return arca_err_set(ARCA_ERROR, "zstd: %s", ZSTD_getErrorName(clen));
	if (clen < e->len) {
		e->codec = ARCA_CODEC_ZSTD;
		e->coff = (uint32_t)b->comp_len;
		e->clen = (uint32_t)clen;
		b->comp_len += clen;
	}
	return 0;
}

/* Members b->members[first .. first+n) as one frame (or stored raw,
 * concatenated, when that is not larger). */
static int compress_group(arca_ingest *ing, struct batch *b, uint32_t first, uint32_t n,
		ZSTD_CCtx *cctx)
{
	struct group *g = &b->groups[b->ngroups];
	ZSTD_outBuffer out;
	size_t raw = 0, rem;

	for (uint32_t i = 0; i < n; i++)
		raw += b->ev[b->members[first + i]].len;
	if (b->comp_len + ZSTD_compressBound(raw) + 64 > ing->comp_cap)
		return arca_err_set(ARCA_ERROR, "ingest: compression buffer too small");
	out.dst = b->comp + b->comp_len;
	out.size = ing->comp_cap - b->comp_len;
	out.pos = 0;
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
	ZSTD_CCtx_setPledgedSrcSize(cctx, raw);
	for (uint32_t i = 0; i < n; i++) {
		struct ev *e = &b->ev[b->members[first + i]];
		ZSTD_inBuffer in = { b->raw + e->off, e->len, 0 };
		while (in.pos < in.size) {
			rem = ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_continue);
			if (ZSTD_isError(rem))
				return arca_err_set(ARCA_ERROR, "zstd: %s", ZSTD_getErrorName(rem));
		}
	}
	do {
		ZSTD_inBuffer none = { NULL, 0, 0 };
		rem = ZSTD_compressStream2(cctx, &out, &none, ZSTD_e_end);
		if (ZSTD_isError(rem))
			return arca_err_set(ARCA_ERROR, "zstd: %s", ZSTD_getErrorName(rem));
	} while (rem);
	g->first = first;
	g->n = n;
	g->raw_len = (uint32_t)raw;
	g->coff = (uint32_t)b->comp_len;
	if (out.pos < raw) {
		g->codec = ARCA_CODEC_ZSTD;
		g->clen = (uint32_t)out.pos;
	} else {
		/* incompressible: the members' bytes, concatenated */
		g->codec = ARCA_CODEC_RAW;
		g->clen = (uint32_t)raw;
		for (uint32_t i = 0, at = 0; i < n; i++) {
			struct ev *e = &b->ev[b->members[first + i]];
			memcpy(b->comp + b->comp_len + at, b->raw + e->off, e->len);
			at += e->len;
		}
	}
	b->comp_len += g->clen;
	for (uint32_t i = 0; i < n; i++)
		b->ev[b->members[first + i]].group = (int32_t)b->ngroups;
	b->ngroups++;
	return 0;
}

static size_t seen_slot(const struct seen *t, size_t cap, const uint8_t id[32])
{
	uint64_t h;
	size_t i;
	memcpy(&h, id, 8);
	i = (size_t)h & (cap - 1);
	while (t[i].used && memcmp(t[i].id, id, 32) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

/* 1 when an earlier event of this run stores the same chunk (so this one
 * is a repeat); otherwise records this event as the one that stores it. */
static int seen_before(arca_ingest *ing, const uint8_t id[32], uint64_t seq, uint32_t ev)
{
	struct seen *s;
	int repeat = 0;
	pthread_mutex_lock(&ing->seen_mu);
	if (2 * (ing->seen_n + 1) > ing->seen_cap && ing->seen_cap < SEEN_MAX_SLOTS) {
		size_t ncap = ing->seen_cap ? 2 * ing->seen_cap : 4096;
		struct seen *n = calloc(ncap, sizeof(*n));
		if (n) {
			for (size_t i = 0; i < ing->seen_cap; i++)
				if (ing->seen[i].used)
					n[seen_slot(n, ncap, ing->seen[i].id)] = ing->seen[i];
			free(ing->seen);
			ing->seen = n;
			ing->seen_cap = ncap;
		}
	}
	if (!ing->seen_cap) {
		pthread_mutex_unlock(&ing->seen_mu);
		return 0;
	}
	s = &ing->seen[seen_slot(ing->seen, ing->seen_cap, id)];
	if (s->used && (s->seq < seq || (s->seq == seq && s->ev < ev))) {
		repeat = 1;
	} else if (s->used) {
		/* a later batch got there first: this event stores it now */
		s->seq = seq;
		s->ev = ev;
	} else if (2 * (ing->seen_n + 1) <= ing->seen_cap) {
		memcpy(s->id, id, 32);
		s->seq = seq;
		s->ev = ev;
		s->used = 1;
		ing->seen_n++;
	}
	pthread_mutex_unlock(&ing->seen_mu);
	return repeat;
}

static int process_batch(arca_ingest *ing, struct batch *b, ZSTD_CCtx *cctx, MDB_txn *txn)
{
	uint32_t nmembers = 0, first = 0;
	size_t group_raw = 0;
	int rc;

	b->ngroups = 0;
	for (size_t i = 0; i < b->nev; i++) {
		struct ev *e = &b->ev[i];
		const uint8_t *p;
		arca_chunk_loc loc;

		if (e->type != EV_DATA)
			continue;
		p = b->raw + e->off;
		if (is_zero(p, e->len)) {
			e->zero = 1;
			continue;
		}
		if ((rc = arca_sha256_digest(e->id, p, e->len)) != 0)
			return rc;
		rc = arca_cas_lookup(ing->cas, txn, e->id, &loc);
		if (rc == 0) {
			e->known = 1;
			continue;
		}
		if (rc != ARCA_ENOTFOUND)
			return rc;
		if (seen_before(ing, e->id, b->seq, (uint32_t)i)) {
			e->known = 1; /* stored by an earlier event of this run */
			continue;
		}
		if ((rc = arca_mac(e->mac, ing->mac_key, e->id, p, e->len)) != 0)
			return rc;
		e->has_mac = 1;
		/* new: goes into the current group */
		b->members[nmembers++] = (uint32_t)i;
		group_raw += e->len;
		if (group_raw >= GROUP_TARGET || nmembers - first == ARCA_GROUP_MAX_MEMBERS) {
			if ((rc = compress_group(ing, b, first, nmembers - first, cctx)) != 0)
				return rc;
			first = nmembers;
			group_raw = 0;
		}
	}
	if (nmembers - first == 1)
		return compress_one(ing, b, &b->ev[b->members[first]], cctx);
	if (nmembers > first)
		return compress_group(ing, b, first, nmembers - first, cctx);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	arca_ingest *ing = wk->ing;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	MDB_txn *txn = NULL;
	int rc = 0;

	if (!cctx) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory (zstd)");
		goto done;
	}
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, ing->params.zstd_level);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	if ((rc = arca_cas_txn_read(ing->cas, &txn)) != 0)
		goto done;
	mdb_txn_reset(txn);

	for (;;) {
		struct batch *b = NULL;
		pthread_mutex_lock(&ing->mu);
		for (;;) {
			if (arca_firsterr_code(&ing->abort))
				break;
			for (size_t i = 0; i < ing->nb; i++)
				if (ing->b[i].state == B_READY && (!b || ing->b[i].seq < b->seq))
					b = &ing->b[i];
			if (b || ing->producer_done)
				break;
			pthread_cond_wait(&ing->cv_worker, &ing->mu);
		}
		if (!b) {
			pthread_mutex_unlock(&ing->mu);
			break;
		}
		b->state = B_WORKING;
		pthread_mutex_unlock(&ing->mu);

		int mrc = mdb_txn_renew(txn);
		if (mrc) {
			rc = arca_lmdb_error(mrc, "renew read transaction");
			goto done;
		}
		rc = process_batch(ing, b, cctx, txn);
		mdb_txn_reset(txn);
		if (rc)
			goto done;
		pthread_mutex_lock(&ing->mu);
		b->state = B_DONE;
		pthread_cond_broadcast(&ing->cv_writer);
		pthread_mutex_unlock(&ing->mu);
	}
done:
	if (rc)
		set_abort(ing, rc);
	if (txn)
		mdb_txn_abort(txn);
	ZSTD_freeCCtx(cctx);
	return NULL;
}

/* ---- writer (calling thread) ---- */

static int write_group(struct batch *b, const struct group *g, arca_cas_writer *w,
		int level, arca_ingest_stats *st)
{
	uint8_t (*ids)[32];
	uint32_t *lens, present = 0;
	uint64_t added = 0, added_raw = 0;
	int rc;

	for (uint32_t k = 0; k < g->n; k++)
		present += arca_cas_writer_has(w, b->ev[b->members[g->first + k]].id);
	if (present == g->n)
		return 0;
	if (present) {
		/* Some members were stored meanwhile (another worker's batch got
		 * to them first): store the rest on their own rather than the
		 * whole group twice. Rare, so compressing again is fine. */
		for (uint32_t k = 0; k < g->n; k++) {
			const struct ev *m = &b->ev[b->members[g->first + k]];
			uint8_t id[32];
			if (arca_cas_writer_has(w, m->id))
				continue;
			if ((rc = arca_cas_writer_put_raw(w, b->raw + m->off, m->len, level, id)) != 0)
				return rc;
			st->chunks_new++;
			st->new_raw_bytes += m->len;
		}
		return 0;
	}
	ids = malloc((size_t)g->n * 32);
	lens = malloc((size_t)g->n * sizeof(uint32_t));

	if (!ids || !lens) {
		free(ids);
		free(lens);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	for (uint32_t k = 0; k < g->n; k++) {
		const struct ev *m = &b->ev[b->members[g->first + k]];
		memcpy(ids[k], m->id, 32);
		lens[k] = m->len;
	}
	rc = arca_cas_writer_put_group(w, (const uint8_t (*)[32])ids, lens, g->n, g->codec,
		b->comp + g->coff, g->clen, &added, &added_raw);
	if (!rc && added) {
		st->chunks_new += added;
		st->new_raw_bytes += added_raw;
		st->new_stored_bytes += g->clen + (uint64_t)g->n * ARCA_GROUP_MEMBER_LEN;
	}
	free(ids);
	free(lens);
	return rc;
}

static int write_batch(arca_ingest *ing, struct batch *b, arca_cas_writer *w,
		const arca_ingest_sink *sink, void *sink_ctx, arca_ingest_stats *st)
{
	int rc;
	for (size_t i = 0; i < b->nev; i++) {
		struct ev *e = &b->ev[i];
		int added;

		switch (e->type) {
		case EV_MARK:
			rc = sink->mark(sink_ctx, e->payload);
			e->payload = NULL;
			if (rc)
				return rc;
			break;
		case EV_KNOWN:
			if (!arca_cas_writer_has(w, e->id))
				return arca_err_set(ARCA_ECORRUPT,
					"a chunk of the parent artifact is missing from the index (run 'arca verify')");
			st->chunks++;
			st->chunks_reused++;
			if ((rc = sink->extent(sink_ctx, e->id, e->len)) != 0)
				return rc;
			break;
		case EV_HOLE:
			st->hole_bytes += e->hole;
			if ((rc = sink->extent(sink_ctx, NULL, e->hole)) != 0)
				return rc;
			break;
		case EV_DATA:
			if (e->zero) {
				st->hole_bytes += e->len;
				if ((rc = sink->extent(sink_ctx, NULL, e->len)) != 0)
					return rc;
				break;
			}
			st->chunks++;
			if (e->known) {
				if (!arca_cas_writer_has(w, e->id))
					return arca_err_set(ARCA_ECORRUPT, "chunk vanished from the index");
			} else if (e->group >= 0) {
				struct group *g = &b->groups[e->group];
				/* the group goes in with its first member */
				if (b->members[g->first] == i &&
				    (rc = write_group(b, g, w, ing->params.zstd_level, st)) != 0)
					return rc;
			} else {
				const uint8_t *stored = e->codec == ARCA_CODEC_ZSTD ?
					b->comp + e->coff : b->raw + e->off;
				uint32_t slen = e->codec == ARCA_CODEC_ZSTD ? e->clen : e->len;
				rc = arca_cas_writer_put(w, e->id, e->len, e->codec, stored, slen, &added);
				if (rc)
					return rc;
				if (added) {
					st->chunks_new++;
					st->new_raw_bytes += e->len;
					st->new_stored_bytes += slen;
				}
			}
			if (e->has_mac && (rc = arca_cas_writer_put_mac(w, e->id, e->mac)) != 0)
				return rc;
			if ((rc = sink->extent(sink_ctx, e->id, e->len)) != 0)
				return rc;
			break;
		}
	}
	return 0;
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

static void free_batches(arca_ingest *ing, const arca_ingest_sink *sink)
{
	for (size_t i = 0; i < ing->nb; i++) {
		struct batch *b = &ing->b[i];
		for (size_t j = 0; j < b->nev && b->ev; j++)
			if (b->ev[j].type == EV_MARK && b->ev[j].payload && sink->free_payload)
				sink->free_payload(b->ev[j].payload);
		free(b->raw);
		free(b->comp);
		free(b->ev);
		free(b->members);
		free(b->groups);
	}
	free(ing->b);
}

int arca_ingest_run(arca_cas_writer *w, arca_cas *cas, const arca_ingest_params *params,
		arca_ingest_producer producer, void *producer_ctx,
		const arca_ingest_sink *sink, void *sink_ctx, arca_ingest_stats *stats)
{
	arca_ingest ing;
	struct worker workers[MAX_WORKERS];
	pthread_t prod;
	int prod_started = 0, rc = 0;
	unsigned nworkers;
	/* counted in place: a sink may read *stats as the run goes (the
	 * snapshot's progress: what was already stored) */
	arca_ingest_stats local, *st = stats ? stats : &local;

	memset(&ing, 0, sizeof(ing));
	memset(st, 0, sizeof(*st));
	memset(workers, 0, sizeof(workers));
	ing.cas = cas;
	memcpy(ing.mac_key, arca_cas_writer_mac_key(w), ARCA_MAC_KEY_LEN);
	ing.params = *params;
	ing.producer = producer;
	ing.producer_ctx = producer_ctx;
	nworkers = params->threads ? params->threads : default_threads();
	if (nworkers > MAX_WORKERS)
		nworkers = MAX_WORKERS;
	ing.params.threads = nworkers;
	arca_firsterr_init(&ing.abort);
	pthread_mutex_init(&ing.mu, NULL);
	pthread_mutex_init(&ing.seen_mu, NULL);
	pthread_cond_init(&ing.cv_producer, NULL);
	pthread_cond_init(&ing.cv_worker, NULL);
	pthread_cond_init(&ing.cv_writer, NULL);
	arca_chunker_init(&ing.chunker, params->chunk_min, params->chunk_avg, params->chunk_max);

	ing.raw_cap = BATCH_RAW_MIN;
	if (ing.raw_cap < 4 * (size_t)params->chunk_max)
		ing.raw_cap = 4 * (size_t)params->chunk_max;
	ing.ev_reserve = ing.raw_cap / params->chunk_min + 2;
	ing.ev_cap = ing.ev_reserve + MARKS_PER_BATCH;
	ing.comp_cap = ZSTD_compressBound(ing.raw_cap) + ing.ev_cap * 80;
	/* One batch filling, one being written, one per worker in flight. */
	ing.nb = nworkers + 2;
	ing.b = calloc(ing.nb, sizeof(*ing.b));
	if (!ing.b) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ing.nb; i++) {
		ing.b[i].raw = malloc(ing.raw_cap);
		ing.b[i].comp = malloc(ing.comp_cap);
		ing.b[i].ev = malloc(ing.ev_cap * sizeof(struct ev));
		ing.b[i].members = malloc(ing.ev_cap * sizeof(uint32_t));
		ing.b[i].groups = malloc(ing.ev_cap * sizeof(struct group));
		if (!ing.b[i].raw || !ing.b[i].comp || !ing.b[i].ev || !ing.b[i].members ||
		    !ing.b[i].groups) {
			rc = arca_err_set(ARCA_ENOMEM, "out of memory (ingest buffers)");
			goto out;
		}
	}
	ing.cur = &ing.b[0];
	ing.cur->state = B_FILLING;

	for (unsigned i = 0; i < nworkers; i++) {
		workers[i].ing = &ing;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
			rc = arca_err_set(ARCA_ERROR, "cannot start worker thread");
			set_abort(&ing, rc);
			goto join;
		}
		workers[i].started = 1;
	}
	if (pthread_create(&prod, NULL, producer_main, &ing) != 0) {
		rc = arca_err_set(ARCA_ERROR, "cannot start reader thread");
		set_abort(&ing, rc);
		goto join;
	}
	prod_started = 1;

	for (;;) {
		struct batch *b = NULL;
		pthread_mutex_lock(&ing.mu);
		for (;;) {
			if (arca_firsterr_code(&ing.abort))
				break;
			for (size_t i = 0; i < ing.nb; i++)
				if (ing.b[i].state == B_DONE && ing.b[i].seq == ing.next_write_seq)
					b = &ing.b[i];
			if (b || (ing.producer_done && ing.next_write_seq == ing.next_submit_seq))
				break;
			pthread_cond_wait(&ing.cv_writer, &ing.mu);
		}
		pthread_mutex_unlock(&ing.mu);
		if (!b)
			break;
		rc = write_batch(&ing, b, w, sink, sink_ctx, st);
		if (rc) {
			set_abort(&ing, rc);
			break;
		}
		pthread_mutex_lock(&ing.mu);
		b->state = B_FREE;
		b->nev = 0;
		b->len = 0;
		b->comp_len = 0;
		b->ngroups = 0;
		ing.next_write_seq++;
		pthread_cond_broadcast(&ing.cv_producer);
		pthread_mutex_unlock(&ing.mu);
	}
join:
	if (prod_started)
		pthread_join(prod, NULL);
	for (unsigned i = 0; i < nworkers; i++)
		if (workers[i].started)
			pthread_join(workers[i].thread, NULL);
	if (arca_firsterr_code(&ing.abort))
		rc = arca_firsterr_raise(&ing.abort);
out:
	st->bytes_in = ing.bytes_in;
	if (ing.b)
		free_batches(&ing, sink);
	pthread_cond_destroy(&ing.cv_producer);
	pthread_cond_destroy(&ing.cv_worker);
	pthread_cond_destroy(&ing.cv_writer);
	pthread_mutex_destroy(&ing.mu);
	pthread_mutex_destroy(&ing.seen_mu);
	arca_firsterr_release(&ing.abort);
	free(ing.seen);
	return rc;
}
