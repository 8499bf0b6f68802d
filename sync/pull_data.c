/*
 * A pull's data chunks taken in on every core (sync/pull_data.h). Piece i
 * lives in slot i % window until the writer's thread has staged it; a GET
 * thread starts piece i only once piece i - window is staged, so memory
 * stays at window pieces however far the network runs ahead. A piece
 * begins and ends on record boundaries that the pack index gives, so it
 * is checked on its own; a hostile index that cuts inside a record makes
 * the check fail, never a chunk be taken unchecked.
 */
#include "sync/pull_data.h"
#include "cas/pack.h"
#include "util/array.h"
#include "util/error.h"
#include "util/firsterr.h"
#include "util/hex.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

uint64_t arca_sync__pull_piece = 8u << 20;

typedef struct {
	uint8_t *buf;
	size_t cap, got;
	size_t skip;                  /* a pack header before the records */
	arca_rpack_batch b;
	int ready;                    /* checked, waiting to be staged */
} slot;

typedef struct {
	const arca_pull_data *d;
	arca_fetch_run *pieces;
	size_t n;
	slot *slots;
	size_t window;
	uint8_t key[ARCA_MAC_KEY_LEN];
	pthread_mutex_t mu;           /* guards what follows, and the slots' ready */
	pthread_cond_t cv;            /* a slot ready, a slot free, a failure */
	size_t next;                  /* the next piece to GET */
	size_t staged;                /* pieces staged */
	uint64_t bytes, requests;
	atomic_int stop;
	arca_firsterr fe;
} pipe_t;

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The record offsets that pack `x`'s index lists, sorted, unique. */
static int record_starts(const arca_pidx *x, uint64_t **out, size_t *nout)
{
	uint64_t *o = malloc((x->n ? x->n : 1) * sizeof(*o));
	size_t m = 0;

	if (!o)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < x->n; i++)
		o[i] = x->e[i].offset;
	qsort(o, x->n, sizeof(*o), u64_cmp);
	for (uint32_t i = 0; i < x->n; i++)
		if (m == 0 || o[i] != o[m - 1])
			o[m++] = o[i];
	*out = o;
	*nout = m;
	return 0;
}

/* The first of starts[0..n) (sorted) above `at`. */
static size_t first_after(const uint64_t *starts, size_t n, uint64_t at)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (starts[mid] <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A piece longer than its target by more than a record cannot be whole
 * records: the index lies, and memory is not given for it. */
static int add_piece(pipe_t *p, size_t *cap, const uint8_t *sha, uint64_t off, uint64_t end)
{
	uint64_t piece = arca_sync__pull_piece ? arca_sync__pull_piece : 1;
	int rc;
	if (end <= off)
		return 0;
	if (end - off > piece + arca_record_total_max()) {
		char hex[17];
		arca_hex_encode(hex, sha, 8);
		return arca_err_set(ARCA_ECORRUPT, "pack %s index: %" PRIu64 " bytes at offset %"
			PRIu64 " without a record start", hex, end - off, off);
	}
	if ((rc = arca_array_grow(&p->pieces, cap, p->n + 1, sizeof(*p->pieces), 64)) != 0)
		return rc;
	p->pieces[p->n].sha = sha;
	p->pieces[p->n].off = off;
	p->pieces[p->n].len = end - off;
	p->n++;
	return 0;
}

/* Cuts the runs into pieces of about arca_sync__pull_piece bytes at
 * record starts. The first piece of a whole pack (off 0) begins with the
 * pack header; the pack's hash is not checked (no thread sees all of it),
 * its records are, one by one, as those of a range are. */
static int cut(pipe_t *p, const arca_fetch_run *runs, size_t nruns)
{
	const arca_pull_data *d = p->d;
	uint64_t piece = arca_sync__pull_piece ? arca_sync__pull_piece : 1;
	uint64_t *starts = NULL;
	size_t nstarts = 0, cap = 0;
	uint32_t k = UINT32_MAX;
	int rc = 0;

	for (size_t r = 0; r < nruns && !rc; r++) {
		uint64_t at, end = runs[r].off + runs[r].len, j;
		if (k == UINT32_MAX || runs[r].sha != d->x[k].pack_sha) {
			for (k = 0; k < d->npacks && runs[r].sha != d->x[k].pack_sha; k++)
				;
			if (k == d->npacks)
				return arca_err_set(ARCA_EINVAL, "pull: a run of no known pack");
			free(starts);
			starts = NULL;
			if ((rc = record_starts(&d->x[k], &starts, &nstarts)) != 0)
				break;
		}
		at = runs[r].off;
		for (j = first_after(starts, nstarts, at); j < nstarts && starts[j] < end && !rc; j++)
			if (starts[j] - at >= piece) {
				rc = add_piece(p, &cap, runs[r].sha, at, starts[j]);
				at = starts[j];
			}
		if (!rc)
			rc = add_piece(p, &cap, runs[r].sha, at, end);
	}
	free(starts);
	return rc;
}

typedef struct {
	pipe_t *p;
	slot *sl;
	size_t len;
} sink;

static int to_slot(void *ctx, const void *buf, size_t n)
{
	sink *s = ctx;
	if (atomic_load(&s->p->stop))
		return ARCA_EUSER;
	if (n > s->len - s->sl->got)
		return arca_err_set(ARCA_ECORRUPT, "object longer than asked for");
	memcpy(s->sl->buf + s->sl->got, buf, n);
	s->sl->got += n;
	return 0;
}

static void fail(pipe_t *p, int rc)
{
	pthread_mutex_lock(&p->mu);
	arca_firsterr_set(&p->fe, rc);
	atomic_store(&p->stop, 1);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* GETs piece i into its slot and checks it. */
static int get_piece(pipe_t *p, arca_rpack_checker *c, arca_buf *key, size_t i)
{
	const arca_fetch_run *pc = &p->pieces[i];
	slot *sl = &p->slots[i % p->window];
	sink s = { p, sl, (size_t)pc->len };
	char hex[17];
	int rc;

	sl->got = 0;
	if (pc->len > sl->cap) {
		void *nb = realloc(sl->buf, (size_t)pc->len);
		if (!nb)
			return arca_err_set(ARCA_ENOMEM, "out of memory (%" PRIu64 " bytes)", pc->len);
		sl->buf = nb;
		sl->cap = (size_t)pc->len;
	}
	if ((rc = arca_layout_pack_key(key, pc->sha)) != 0 ||
	    (rc = p->d->t->get(p->d->t, arca_buf_cstr(key), pc->off, pc->len, to_slot, &s,
		    NULL)) != 0)
		return rc;
	arca_hex_encode(hex, pc->sha, 8);
	if (sl->got != pc->len)
		return arca_err_set(ARCA_ECORRUPT, "%s: pack %s is shorter than its index says",
			p->d->t->url, hex);
	sl->skip = 0;
	if (pc->off == 0) {
		uint32_t no;
		if (sl->got < ARCA_PACK_HEADER_LEN ||
		    arca_pack_header_decode(&no, sl->buf, ARCA_PACK_HEADER_LEN) != 0 || no != 0)
			return arca_err_set(ARCA_ECORRUPT, "pack %s: not a pack object", hex);
		sl->skip = ARCA_PACK_HEADER_LEN;
	}
	if ((rc = arca_rpack_check(c, sl->buf + sl->skip, sl->got - sl->skip, p->key, p->d->want,
			p->d->want_ctx, &sl->b)) != 0) {
		arca_err_wrap(rc, "pack %s offset %" PRIu64, hex,
			pc->off + sl->skip + sl->b.bad_at);
		return rc < 0 ? rc : ARCA_ECORRUPT;
	}
	return 0;
}

static void *getter(void *arg)
{
	pipe_t *p = arg;
	arca_rpack_checker *c = NULL;
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	int rc;

	if ((rc = arca_rpack_checker_new(&c)) != 0) {
		fail(p, rc);
		return NULL;
	}
	for (;;) {
		size_t i;
		pthread_mutex_lock(&p->mu);
		while (!atomic_load(&p->stop) && p->next < p->n && p->next >= p->staged + p->window)
			pthread_cond_wait(&p->cv, &p->mu);
		if (atomic_load(&p->stop) || p->next >= p->n) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		i = p->next++;
		p->requests++;
		pthread_mutex_unlock(&p->mu);
		rc = get_piece(p, c, &key, i);
		pthread_mutex_lock(&p->mu);
		p->bytes += p->slots[i % p->window].got;
		if (!rc)
			p->slots[i % p->window].ready = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (rc) {
			fail(p, rc);
			break;
		}
	}
	arca_buf_release(&key);
	arca_rpack_checker_free(c);
	return NULL;
}

/* The writer's side: stages the pieces in order as they are checked. */
static int stage_all(pipe_t *p, arca_fetch_counts *n, uint64_t *staged)
{
	const arca_pull_data *d = p->d;
	arca_rpack_checker *c = NULL;
	int rc;

	if ((rc = arca_rpack_checker_new(&c)) != 0)
		return rc;
	for (size_t i = 0; i < p->n && !rc; i++) {
		slot *sl = &p->slots[i % p->window];
		uint64_t bytes;
		int ready;
		pthread_mutex_lock(&p->mu);
		while (!sl->ready && !atomic_load(&p->stop))
			pthread_cond_wait(&p->cv, &p->mu);
		ready = sl->ready;
		pthread_mutex_unlock(&p->mu);
		if (!ready)
			break; /* a GET thread failed: its error is the one */
		rc = arca_rpack_stage(c, d->w, sl->buf + sl->skip, &sl->b, staged);
		pthread_mutex_lock(&p->mu);
		sl->ready = 0;
		p->staged++;
		bytes = p->bytes;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (!rc && d->step)
			rc = d->step(d->step_ctx, *staged, n->bytes + bytes);
	}
	arca_rpack_checker_free(c);
	return rc;
}

int arca_pull__data(const arca_pull_data *d, const arca_fetch_run *runs, size_t nruns,
		arca_fetch_counts *n, uint64_t *staged)
{
	pipe_t p;
	pthread_t th[ARCA_FETCH_MAX_JOBS];
	size_t jobs = d->jobs ? d->jobs : 1, nth = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	p.d = d;
	if ((rc = cut(&p, runs, nruns)) != 0 || p.n == 0) {
		free(p.pieces);
		return rc;
	}
	if (jobs > ARCA_FETCH_MAX_JOBS)
		jobs = ARCA_FETCH_MAX_JOBS;
	if (jobs > p.n)
		jobs = p.n;
	p.window = jobs + 2;
	if (!(p.slots = calloc(p.window, sizeof(*p.slots)))) {
		free(p.pieces);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < p.window; i++)
		p.slots[i].b = (arca_rpack_batch)ARCA_RPACK_BATCH_INIT;
	memcpy(p.key, arca_cas_writer_mac_key(d->w), sizeof(p.key));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	atomic_init(&p.stop, 0);
	arca_firsterr_init(&p.fe);
	for (size_t i = 0; i < jobs; i++, nth++)
		if (pthread_create(&th[i], NULL, getter, &p) != 0)
			break;
	rc = nth ? stage_all(&p, n, staged) : arca_err_set(ARCA_ERROR, "cannot start a thread");
	if (rc)
		fail(&p, rc);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (arca_firsterr_code(&p.fe))
		rc = arca_firsterr_raise(&p.fe);
	n->bytes += p.bytes;
	n->requests += p.requests;
	arca_firsterr_release(&p.fe);
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	for (size_t i = 0; i < p.window; i++) {
		free(p.slots[i].buf);
		arca_rpack_batch_release(&p.slots[i].b);
	}
	free(p.slots);
	free(p.pieces);
	return rc;
}
