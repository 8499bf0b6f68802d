/*
 * verify: every chunk is re-read and re-hashed (in parallel), then every
 * artifact's manifest is parsed and its chunk references checked, so the
 * damage can be named by artifact.
 */
#include "store/store.h"
#include "store/reach.h"
#include "store/record.h"
#include "cas/hash.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/firsterr.h"
#include "util/progress.h"
#include "util/version.h"
#include "util/fsutil.h"

#include <fcntl.h>
#include <limits.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GRAB 64
#define MAX_THREADS 64

/* A group record found through its members; checked once. */
typedef struct {
	arca_chunk_loc loc;
	int bad;
} group_ref;

typedef struct {
	arca_store *s;
	arca_cas_iter *cur;
	group_ref *groups;
	size_t ngroups, groups_cap, next_group;
	size_t *gslots;          /* open addressing: index + 1, 0 = empty */
	size_t gslots_cap;
	pthread_mutex_t mu;
	int at_end;
	arca_firsterr err;       /* the first a worker hit */
	uint8_t (*damaged)[32];
	size_t ndamaged, cap;
	/* members that fail their hash: damage only if the index uses that copy */
	struct { uint8_t id[32]; uint32_t pack; uint64_t offset; } *gbad;
	size_t ngbad, gbad_cap;
	uint64_t checked, bytes;
	unsigned running;        /* workers not yet finished (under mu) */
	pthread_cond_t cv_done;  /* a worker finished */
} chunk_pass;

static int add_damaged(chunk_pass *cp, const uint8_t id[32])
{
	if (arca_array_grow(&cp->damaged, &cp->cap, cp->ndamaged + 1, 32, 64) != 0)
		return ARCA_ENOMEM;
	memcpy(cp->damaged[cp->ndamaged++], id, 32);
	return 0;
}

static size_t gslot(const size_t *slots, size_t cap, const group_ref *g, uint32_t pack,
		uint64_t off)
{
	size_t i = (size_t)((off * 0x9e3779b97f4a7c15ull) ^ pack) & (cap - 1);
	while (slots[i] && (g[slots[i] - 1].loc.pack != pack || g[slots[i] - 1].loc.offset != off))
		i = (i + 1) & (cap - 1);
	return i;
}

/* Remembers the group of member `loc` (under cp->mu). */
static int add_group(chunk_pass *cp, const arca_chunk_loc *loc)
{
	size_t i;
	if (2 * (cp->ngroups + 1) > cp->gslots_cap) {
		size_t ncap = cp->gslots_cap ? 2 * cp->gslots_cap : 1024;
		size_t *ns = calloc(ncap, sizeof(size_t));
		if (!ns)
			return arca_err_set(ARCA_ENOMEM, "out of memory");
		for (size_t j = 0; j < cp->ngroups; j++)
			ns[gslot(ns, ncap, cp->groups, cp->groups[j].loc.pack, cp->groups[j].loc.offset)] = j + 1;
		free(cp->gslots);
		cp->gslots = ns;
		cp->gslots_cap = ncap;
	}
	i = gslot(cp->gslots, cp->gslots_cap, cp->groups, loc->pack, loc->offset);
	if (cp->gslots[i])
		return 0;
	if (arca_array_grow(&cp->groups, &cp->groups_cap, cp->ngroups + 1, sizeof(*cp->groups),
			256) != 0)
		return ARCA_ENOMEM;
	cp->groups[cp->ngroups].loc = *loc;
	cp->groups[cp->ngroups].bad = 0;
	cp->gslots[i] = ++cp->ngroups;
	return 0;
}

static int group_is_bad(const chunk_pass *cp, const arca_chunk_loc *loc)
{
	size_t i;
	if (!cp->gslots_cap)
		return 0;
	i = gslot(cp->gslots, cp->gslots_cap, cp->groups, loc->pack, loc->offset);
	return cp->gslots[i] && cp->groups[cp->gslots[i] - 1].bad;
}

/* Checks groups one by one: every member of the table must hash to its id. */
static void *group_worker(void *arg)
{
	chunk_pass *cp = arg;
	arca_chunk_reader rd;
	int rc = arca_chunk_reader_init(&rd);

	while (!rc) {
		group_ref *g;
		const uint8_t *t;
		uint64_t off = 0;
		pthread_mutex_lock(&cp->mu);
		g = cp->next_group < cp->ngroups && !arca_firsterr_code(&cp->err) ? &cp->groups[cp->next_group++] : NULL;
		pthread_mutex_unlock(&cp->mu);
		if (!g)
			break;
		if (arca_cas_load_group(cp->s->cas, &g->loc, &rd, &t) != 0) {
			g->bad = 1;
			continue;
		}
		for (uint32_t i = 0; i < g->loc.nmembers && !rc; i++) {
			const uint8_t *m = t + (size_t)i * ARCA_GROUP_MEMBER_LEN;
			uint32_t len = arca_get_le32(m + 32);
			uint8_t d[32];
			if ((rc = arca_sha256_digest(d, rd.graw + off, len)) != 0)
				break;
			if (memcmp(d, m, 32) != 0) {
				pthread_mutex_lock(&cp->mu);
				rc = arca_array_grow(&cp->gbad, &cp->gbad_cap, cp->ngbad + 1,
					sizeof(*cp->gbad), 16);
				if (!rc) {
					memcpy(cp->gbad[cp->ngbad].id, m, 32);
					cp->gbad[cp->ngbad].pack = g->loc.pack;
					cp->gbad[cp->ngbad].offset = g->loc.offset;
					cp->ngbad++;
				}
				pthread_mutex_unlock(&cp->mu);
			}
			off += len;
		}
		pthread_mutex_lock(&cp->mu);
		cp->bytes += ARCA_RECORD_HEADER_LEN + g->loc.stored_len +
			(uint64_t)g->loc.nmembers * ARCA_GROUP_MEMBER_LEN;
		pthread_mutex_unlock(&cp->mu);
	}
	arca_firsterr_set(&cp->err, rc);
	arca_chunk_reader_release(&rd);
	return NULL;
}

static void *chunk_worker(void *arg)
{
	chunk_pass *cp = arg;
	arca_chunk_reader rd;
	uint8_t ids[GRAB][32];
	arca_chunk_loc locs[GRAB];
	int bad[GRAB];
	int rc = arca_chunk_reader_init(&rd);

	while (!rc) {
		size_t n = 0;
		pthread_mutex_lock(&cp->mu);
		while (n < GRAB && !cp->at_end && !arca_firsterr_code(&cp->err)) {
			const uint8_t *id;
			int irc = arca_cas_chunks_next(cp->cur, &id, &locs[n]);
			if (irc == ARCA_ITER_END) {
				cp->at_end = 1;
				break;
			}
			if (irc && irc != ARCA_ECORRUPT) {
				rc = irc;
				break;
			}
			if (!id)
				continue;
			memcpy(ids[n], id, 32);
			bad[n] = irc != 0;
			n++;
		}
		pthread_mutex_unlock(&cp->mu);
		if (rc || n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			const uint8_t *raw;
			if (!bad[i] && !locs[i].grouped &&
			    arca_cas_read(cp->s->cas, &locs[i], ids[i], &rd, &raw) != 0)
				bad[i] = 1;
		}
		pthread_mutex_lock(&cp->mu);
		for (size_t i = 0; i < n && !rc; i++) {
			cp->checked++;
			if (!bad[i] && locs[i].grouped)
				rc = add_group(cp, &locs[i]); /* checked in the group pass */
			else if (bad[i])
				rc = add_damaged(cp, ids[i]);
			else
				cp->bytes += ARCA_RECORD_HEADER_LEN + locs[i].stored_len;
		}
		pthread_mutex_unlock(&cp->mu);
	}
	arca_firsterr_set(&cp->err, rc);
	arca_chunk_reader_release(&rd);
	return NULL;
}

static void worker_finished(chunk_pass *cp)
{
	pthread_mutex_lock(&cp->mu);
	cp->running--;
	pthread_cond_broadcast(&cp->cv_done);
	pthread_mutex_unlock(&cp->mu);
}

static void *chunk_thread(void *arg)
{
	chunk_worker(arg);
	worker_finished(arg);
	return NULL;
}

static void *group_thread(void *arg)
{
	group_worker(arg);
	worker_finished(arg);
	return NULL;
}

/* Starts up to `want` threads of `fn` and waits for them, reporting
 * progress meanwhile on this thread; a cancel is recorded as the pass's
 * error, which makes the workers stop at their next chunk. */
static void run_workers(chunk_pass *cp, void *(*fn)(void *), void *(*inline_fn)(void *),
		unsigned want, arca_progress_state *ps)
{
	pthread_t th[MAX_THREADS];
	unsigned nth = 0;
	int rc = 0;

	for (unsigned i = 0; i < want; i++) {
		pthread_mutex_lock(&cp->mu);
		cp->running++;
		pthread_mutex_unlock(&cp->mu);
		if (pthread_create(&th[nth], NULL, fn, cp) == 0) {
			nth++;
			continue;
		}
		pthread_mutex_lock(&cp->mu);
		cp->running--;
		pthread_mutex_unlock(&cp->mu);
	}
	if (nth == 0)
		inline_fn(cp);
	pthread_mutex_lock(&cp->mu);
	while (ps->cb && cp->running) {
		struct timespec ts;
		uint64_t checked, bytes;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&cp->cv_done, &cp->mu, &ts);
		checked = cp->checked;
		bytes = cp->bytes;
		pthread_mutex_unlock(&cp->mu);
		if (!rc && (rc = arca_progress__set(ps, checked, bytes)) != 0)
			arca_firsterr_set(&cp->err, rc);
		pthread_mutex_lock(&cp->mu);
	}
	pthread_mutex_unlock(&cp->mu);
	for (unsigned i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

typedef struct {
	arca_store *s;
	MDB_txn *txn;
	const chunk_pass *cp;
} damage_walk;

/* Stops the walk (1) at the first chunk that is missing or damaged. */
static int check_chunk(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	damage_walk *d = ctx;
	arca_chunk_loc loc;
	if (manifest)
		return 0; /* read, and checked, by the walk itself */
	return arca_cas_lookup(d->s->cas, d->txn, id, &loc) != 0 || loc.raw_len != len ||
		(d->cp->ndamaged && bsearch(id, d->cp->damaged, d->cp->ndamaged, 32, id_cmp));
}

/* 1 when the artifact's manifest or any chunk it references is damaged. */
static int artifact_damaged(arca_store *s, MDB_txn *txn, const chunk_pass *cp,
		const arca_artifact_rec *rec)
{
	damage_walk d = { s, txn, cp };
	int rc = arca_store__reach(s, rec, check_chunk, &d);
	return rc == ARCA_ENOMEM ? -1 : rc != 0;
}

/* A pack whose header is damaged is damage even if its records read fine:
 * repair rewrites the header. Each bad pack counts as one damaged chunk. */
static int check_pack_headers(arca_store *s, MDB_txn *txn, uint64_t *bad)
{
	arca_cas_iter *it;
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	uint32_t no;
	uint64_t len;
	int irc, rc = arca_cas_packs_iter(&it, s->cas, txn, 0);
	if (rc)
		return rc;
	while ((irc = arca_cas_packs_next(it, &no, &len)) == 0 || irc == ARCA_ECORRUPT) {
		uint8_t h[ARCA_PACK_HEADER_LEN];
		uint32_t hno;
		int fd;
		if (!no)
			continue;
		if (arca_cas_pack_path(s->cas, no, &path) != 0)
			continue;
		fd = open(arca_buf_cstr(&path), O_RDONLY | O_CLOEXEC);
		if (fd < 0 || arca_pread_full(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
		    arca_pack_header_decode(&hno, h, sizeof(h)) != 0 || hno != no)
			(*bad)++;
		if (fd >= 0)
			close(fd);
	}
	arca_cas_iter_free(it);
	arca_buf_release(&path);
	return 0;
}

/* Entries of a database, for a phase's total (0: not known). */
static uint64_t db_entries(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat ms;
	return mdb_stat(txn, dbi, &ms) == 0 ? (uint64_t)ms.ms_entries : 0;
}

int arca_verify(arca_verify_result *out, arca_store *s)
{
	return arca_verify_ext(out, s, NULL);
}

int arca_verify_ext(arca_verify_result *out, arca_store *s, const arca_verify_options *o)
{
	chunk_pass cp;
	MDB_txn *txn = NULL;
	MDB_cursor *acur = NULL;
	MDB_val k, v;
	arca_progress_state ps;
	unsigned want;
	size_t damaged_cap = 0;   /* of out->damaged */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rc = 0, mrc;

	if (!out || !s)
		return arca_err_set(ARCA_EINVAL, "arca_verify: NULL argument");
	if (o && (rc = arca__check_version("arca_verify_options", o->version, ARCA_VERIFY_OPTIONS_VERSION)) != 0)
		return rc;
	if ((rc = arca__result_start("arca_verify_result", out, sizeof(*out), ARCA_VERIFY_RESULT_VERSION)) != 0)
		return rc;
	arca_progress__init(&ps, o ? o->progress_cb : NULL, o ? o->progress_payload : NULL);
	memset(&cp, 0, sizeof(cp));
	cp.s = s;
	pthread_mutex_init(&cp.mu, NULL);
	arca_firsterr_init(&cp.err);
	pthread_cond_init(&cp.cv_done, NULL);
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		goto done;
	if ((rc = arca_cas_chunks_iter(&cp.cur, s->cas, txn)) != 0)
		goto done;
	want = s->threads ? s->threads : (ncpu < 1 ? 1 : (unsigned)ncpu);
	if (want > MAX_THREADS)
		want = MAX_THREADS;
	if ((rc = arca_progress__begin(&ps, ARCA_PROGRESS_VERIFY,
			arca_cas_chunks_count(s->cas, txn), 0)) != 0)
		goto done;
	run_workers(&cp, chunk_thread, chunk_worker, want, &ps);
	arca_cas_iter_free(cp.cur);
	cp.cur = NULL;
	if (!arca_firsterr_code(&cp.err) && cp.ngroups)
		run_workers(&cp, group_thread, group_worker, want, &ps);
	if ((rc = arca_firsterr_raise(&cp.err)) != 0)
		goto done;
	if ((rc = arca_progress__end(&ps, cp.checked, cp.bytes)) != 0)
		goto done;
	for (size_t i = 0; i < cp.ngbad; i++) {
		arca_chunk_loc loc;
		if (arca_cas_lookup(s->cas, txn, cp.gbad[i].id, &loc) != 0 ||
		    (loc.grouped && loc.pack == cp.gbad[i].pack && loc.offset == cp.gbad[i].offset))
			if ((rc = add_damaged(&cp, cp.gbad[i].id)) != 0)
				goto done;
	}
	/* members of groups that could not be read at all are damaged too */
	for (size_t i = 0; i < cp.ngroups; i++) {
		if (!cp.groups[i].bad)
			continue;
		const uint8_t *id;
		arca_chunk_loc loc;
		int irc;
		if ((rc = arca_cas_chunks_iter(&cp.cur, s->cas, txn)) != 0)
			goto done;
		while ((irc = arca_cas_chunks_next(cp.cur, &id, &loc)) == 0 || irc == ARCA_ECORRUPT) {
			if (irc == 0 && loc.grouped && group_is_bad(&cp, &loc) &&
			    (rc = add_damaged(&cp, id)) != 0)
				goto done;
		}
		arca_cas_iter_free(cp.cur);
		cp.cur = NULL;
		break;
	}
	out->chunks_checked = cp.checked;
	out->bytes_checked = cp.bytes;
	out->chunks_damaged = cp.ndamaged;
	if ((rc = check_pack_headers(s, txn, &out->packs_damaged)) != 0)
		goto done;
	if (cp.ndamaged)
		qsort(cp.damaged, cp.ndamaged, 32, id_cmp);

	if ((mrc = mdb_cursor_open(txn, s->dbi_artifacts, &acur)) != 0) {
		rc = arca_lmdb_error(mrc, "artifacts cursor");
		goto done;
	}
	if ((rc = arca_progress__begin(&ps, ARCA_PROGRESS_CHECK, db_entries(txn, s->dbi_artifacts),
			0)) != 0)
		goto done;
	for (mrc = mdb_cursor_get(acur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(acur, &k, &v, MDB_NEXT)) {
		arca_artifact_rec rec;
		arca_id id;
		int bad;
		if (k.mv_size != 32)
			continue;
		if ((rc = arca_progress__set(&ps, out->artifacts_checked, 0)) != 0)
			goto done;
		memcpy(id.bytes, k.mv_data, 32);
		out->artifacts_checked++;
		bad = arca_artifact_rec_decode(&rec, &id, v.mv_data, v.mv_size) != 0;
		if (!bad) {
			bad = artifact_damaged(s, txn, &cp, &rec);
			arca_artifact_rec_clear(&rec);
		}
		if (bad < 0) {
			rc = ARCA_ENOMEM;
			goto done;
		}
		if (bad) {
			if ((rc = arca_array_grow(&out->damaged, &damaged_cap, out->ndamaged + 1,
					sizeof(arca_id), 16)) != 0)
				goto done;
			out->damaged[out->ndamaged++] = id;
		}
	}
	if (mrc != MDB_NOTFOUND) {
		rc = arca_lmdb_error(mrc, "artifacts cursor");
		goto done;
	}
	if ((rc = arca_progress__end(&ps, out->artifacts_checked, 0)) != 0)
		goto done;
	if (out->chunks_damaged || out->ndamaged || out->packs_damaged)
		rc = arca_err_set(ARCA_ECORRUPT,
			"%llu damaged chunks, %zu damaged artifacts, %llu damaged pack headers "
			"(run 'arca repair')",
			(unsigned long long)out->chunks_damaged, out->ndamaged,
			(unsigned long long)out->packs_damaged);
done:
	if (acur)
		mdb_cursor_close(acur);
	arca_cas_iter_free(cp.cur);
	if (txn)
		mdb_txn_abort(txn);
	free(cp.damaged);
	free(cp.gbad);
	free(cp.groups);
	free(cp.gslots);
	pthread_cond_destroy(&cp.cv_done);
	pthread_mutex_destroy(&cp.mu);
	arca_firsterr_release(&cp.err);
	if (rc == ARCA_EUSER)
		arca_verify_result_clear(out); /* cancelled: no partial verdict */
	return rc;
}

void arca_verify_result_clear(arca_verify_result *r)
{
	if (!r)
		return;
	free(r->damaged);
	arca__result_clear(r, sizeof(*r));
}
