/*
 * Per-name history, ancestry checks and prune.
 *
 * An artifact's record keeps the name and time of the first snapshot that
 * stored its content, so it cannot say which names use it now, nor when.
 * The `history` database does: every named snapshot appends (id, time) to
 * its name's history, also when its content was already stored. Prune
 * ranks by that, and never removes what a ref points at.
 */
#include "store/store.h"
#include "store/artifact.h"
#include "store/history.h"
#include "store/journal.h"
#include "store/names.h"
#include "store/record.h"
#include "store/refs.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define META_HISTORY_NEXT "history.next"
#define HISTORY_VAL_LEN 40

int arca_store__history_add(arca_store *s, MDB_txn *txn, const char *name, const arca_id *id)
{
	struct timespec ts;
	int64_t now;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if ((rc = arca_store__journal_history(s, txn, name, id, now)) != 0)
		return rc;
	return arca_store__history_put(s, txn, name, strlen(name), id, now);
}

int arca_store__history_put(arca_store *s, MDB_txn *txn, const char *name, size_t n,
		const arca_id *id, int64_t time_ns)
{
	uint8_t key[ARCA_NAME_MAX + 9], val[HISTORY_VAL_LEN];
	MDB_val k = { n + 9, key }, v = { HISTORY_VAL_LEN, val };
	uint64_t seq;
	int rc, mrc;

	if (n == 0 || n > ARCA_NAME_MAX || memchr(name, 0, n))
		return arca_err_set(ARCA_EINVAL, "history: bad name");
	if ((rc = arca_cas_meta_get_u64(s->cas, txn, META_HISTORY_NEXT, &seq)) != 0)
		return rc;
	memcpy(key, name, n);
	key[n] = 0;
	arca_put_be64(key + n + 1, seq);
	memcpy(val, id->bytes, 32);
	arca_put_le64(val + 32, (uint64_t)time_ns);
	if ((mrc = mdb_put(txn, s->dbi_history, &k, &v, MDB_NOOVERWRITE)) != 0)
		return mrc == MDB_KEYEXIST ?
			arca_err_set(ARCA_ECORRUPT, "index: history entry %llu of '%s' exists "
				"(history.next went back)", (unsigned long long)seq, name) :
			arca_lmdb_error(mrc, "add history entry");
	return arca_cas_meta_put_u64(s->cas, txn, META_HISTORY_NEXT, seq + 1);
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

int arca_store__history_drop(arca_store *s, MDB_txn *txn, const arca_id *ids, size_t n)
{
	arca_id *sorted;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc;

	if (n == 0)
		return 0;
	if (!(sorted = malloc(n * sizeof(*sorted))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_id);
	if ((mrc = mdb_cursor_open(txn, s->dbi_history, &cur)) != 0) {
		free(sorted);
		return arca_lmdb_error(mrc, "history cursor");
	}
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size != HISTORY_VAL_LEN ||
		    !bsearch(v.mv_data, sorted, n, sizeof(*sorted), cmp_id))
			continue;
		/* after a delete the cursor is on the next entry; MDB_NEXT
		 * returns that one */
		if ((mrc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	if (mrc && mrc != MDB_NOTFOUND)
		rc = arca_lmdb_error(mrc, "drop history entries");
	mdb_cursor_close(cur);
	free(sorted);
	return rc;
}

/* ---- ancestry ---- */

int arca_store__check_parent(arca_store *s, MDB_txn *txn, const arca_id *parent,
		const arca_id *child)
{
	arca_id cur = *parent, saved = *parent;
	char a[ARCA_ID_STRLEN], b[ARCA_ID_STRLEN];
	unsigned power = 1, lam = 0;

	arca_id_format(a, parent);
	arca_id_format(b, child);
	for (unsigned steps = 0; steps < ARCA_ANCESTRY_MAX; steps++) {
		arca_artifact_rec rec;
		int rc, more;
		if (!memcmp(cur.bytes, child->bytes, 32))
			return arca_err_set(ARCA_EINVAL, "parent %.24s would make a cycle: it "
				"descends from %.24s, the artifact being stored", a, b);
		rc = arca_artifact_rec_get(&rec, s, txn, &cur);
		if (rc == ARCA_ENOTFOUND)
			return 0; /* the chain ends at a removed artifact */
		if (rc)
			return rc;
		more = rec.a.has_parent;
		cur = rec.a.parent;
		arca_artifact_rec_clear(&rec);
		if (!more)
			return 0;
		/* Brent: a loop among the ancestors (a damaged index) is
		 * found within twice its length */
		if (!memcmp(cur.bytes, saved.bytes, 32))
			return arca_err_set(ARCA_ECORRUPT,
				"index: the ancestors of %.24s form a cycle", a);
		if (++lam == power) {
			saved = cur;
			power *= 2;
			lam = 0;
		}
	}
	return arca_err_set(ARCA_EINVAL, "parent %.24s has more than %d ancestors", a,
		ARCA_ANCESTRY_MAX);
}

/* ---- prune ---- */

/* One artifact as a member of one name's history (or, for stores older
 * than the history, of the name in its record). */
typedef struct {
	char *name;
	arca_id id;
	int legacy;      /* only in the record, not in the history */
	uint64_t seq;    /* newest history entry */
	int64_t created; /* record's created-at (legacy ranking) */
	size_t rank;     /* 0 = newest of its name */
} member;

/* What prune decided for one artifact. */
typedef struct {
	arca_id id;
	int keep;
	int removed;
} verdict;

typedef struct {
	const char *name;
	unsigned keep;
	member *m;
	size_t n, cap;
	verdict *v;
	size_t nv;
	arca_id *refd;     /* ids refs point at, sorted */
	size_t nrefd, caprefd;
	arca_id *removed;
	size_t nremoved;
} prune_job;

static int add_member(prune_job *j, const char *name, size_t nlen, const arca_id *id,
		int legacy, uint64_t seq, int64_t created)
{
	member *m;
	if (arca_array_grow(&j->m, &j->cap, j->n + 1, sizeof(*j->m), 64) != 0)
		return ARCA_ENOMEM;
	m = &j->m[j->n];
	memset(m, 0, sizeof(*m));
	if (!(m->name = strndup(name, nlen)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	m->id = *id;
	m->legacy = legacy;
	m->seq = seq;
	m->created = created;
	j->n++;
	return 0;
}

/* name, id, newest entry first: the first of each (name, id) run stays */
static int by_name_id_newest(const void *a, const void *b)
{
	const member *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	if ((c = memcmp(x->id.bytes, y->id.bytes, 32)) != 0)
		return c;
	if (x->legacy != y->legacy)
		return x->legacy - y->legacy;
	return x->seq == y->seq ? 0 : x->seq > y->seq ? -1 : 1;
}

/* name, then rank order: history by newest entry, then legacy by time */
static int by_name_rank(const void *a, const void *b)
{
	const member *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	if (x->legacy != y->legacy)
		return x->legacy - y->legacy;
	if (!x->legacy && x->seq != y->seq)
		return x->seq > y->seq ? -1 : 1;
	if (x->legacy && x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return memcmp(x->id.bytes, y->id.bytes, 32);
}

static int load_history(prune_job *j, arca_store *s, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc = mdb_cursor_open(txn, s->dbi_history, &cur);

	if (mrc)
		return arca_lmdb_error(mrc, "history cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kb = k.mv_data;
		size_t nlen = k.mv_size >= 9 ? k.mv_size - 9 : 0;
		arca_id id;
		if (k.mv_size < 10 || nlen > ARCA_NAME_MAX || kb[nlen] != 0 ||
		    memchr(kb, 0, nlen) || v.mv_size != HISTORY_VAL_LEN) {
			rc = arca_err_set(ARCA_ECORRUPT, "index: damaged history entry");
			break;
		}
		memcpy(id.bytes, v.mv_data, 32);
		rc = add_member(j, (const char *)kb, nlen, &id, 0, arca_get_be64(kb + nlen + 1), 0);
	}
	mdb_cursor_close(cur);
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = arca_lmdb_error(mrc, "history cursor");
	return rc;
}

/* Artifacts named in their record: members of that name (legacy ones
 * unless the history has them too, which dedup_members sorts out). */
static int record_member(arca_store *s, MDB_txn *txn, const arca_artifact_rec *rec, void *ctx)
{
	(void)s;
	(void)txn;
	if (!rec->a.name)
		return 0;
	return add_member(ctx, rec->a.name, strlen(rec->a.name), &rec->a.id, 1, 0,
		rec->a.created_ns);
}

static int load_records(prune_job *j, arca_store *s, MDB_txn *txn)
{
	return arca_store__records_walk(s, txn, record_member, j);
}

/* Keeps one member per (name, id): its newest history entry, or the
 * legacy one when the history of that name does not hold it. */
static void dedup_members(prune_job *j)
{
	size_t out = 0;
	if (!j->n)
		return;
	qsort(j->m, j->n, sizeof(*j->m), by_name_id_newest);
	for (size_t i = 0; i < j->n; i++) {
		if (out && !strcmp(j->m[out - 1].name, j->m[i].name) &&
		    !memcmp(j->m[out - 1].id.bytes, j->m[i].id.bytes, 32)) {
			free(j->m[i].name);
			continue;
		}
		j->m[out++] = j->m[i];
	}
	j->n = out;
	qsort(j->m, j->n, sizeof(*j->m), by_name_rank);
	for (size_t i = 0; i < j->n; i++)
		j->m[i].rank = (i && !strcmp(j->m[i].name, j->m[i - 1].name)) ?
			j->m[i - 1].rank + 1 : 0;
}

static verdict *find_verdict(prune_job *j, const arca_id *id)
{
	return bsearch(id, j->v, j->nv, sizeof(*j->v), cmp_id);
}

/* An artifact is removed only if every name it belongs to lets it go:
 * with --name N, it belongs to N alone and is past N's keep window;
 * without, it is past the keep window of each of its names. */
static int decide(prune_job *j)
{
	arca_id *ids;
	size_t nids = 0;

	if (!(ids = malloc((j->n ? j->n : 1) * sizeof(*ids))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (size_t i = 0; i < j->n; i++)
		ids[i] = j->m[i].id;
	if (j->n)
		qsort(ids, j->n, sizeof(*ids), cmp_id);
	for (size_t i = 0; i < j->n; i++)
		if (!nids || memcmp(ids[nids - 1].bytes, ids[i].bytes, 32))
			ids[nids++] = ids[i];
	j->v = calloc(nids ? nids : 1, sizeof(*j->v));
	if (!j->v) {
		free(ids);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < nids; i++)
		j->v[i].id = ids[i];
	j->nv = nids;
	free(ids);
	/* a verdict starts as "remove" only for members of --name */
	for (size_t i = 0; i < j->nv; i++)
		j->v[i].keep = j->name != NULL;
	for (size_t i = 0; i < j->n; i++) {
		verdict *v = find_verdict(j, &j->m[i].id);
		if (j->name && !strcmp(j->m[i].name, j->name) && j->m[i].rank >= j->keep)
			v->keep = 0;
	}
	for (size_t i = 0; i < j->n; i++) {
		verdict *v = find_verdict(j, &j->m[i].id);
		if (j->name ? strcmp(j->m[i].name, j->name) != 0 : j->m[i].rank < j->keep)
			v->keep = 1;
	}
	return 0;
}

static int note_ref(const char *name, const char *tag, const arca_id *id, void *payload)
{
	prune_job *j = payload;
	(void)name;
	(void)tag;
	if (arca_array_grow(&j->refd, &j->caprefd, j->nrefd + 1, sizeof(*j->refd), 64) != 0)
		return ARCA_ENOMEM;
	j->refd[j->nrefd++] = *id;
	return 0;
}

static int remove_one(prune_job *j, arca_store *s, MDB_txn *txn, verdict *v)
{
	MDB_val k = { 32, v->id.bytes }, val;
	int rc;
	v->removed = 1;
	if (mdb_get(txn, s->dbi_artifacts, &k, &val) == MDB_NOTFOUND)
		return 0; /* only its history was left */
	if ((rc = arca_store__art_del(s, txn, &v->id)) != 0)
		return rc;
	j->removed[j->nremoved++] = v->id;
	return 0;
}

static int do_prune(prune_job *j, arca_store *s, MDB_txn *txn)
{
	arca_id *gone;
	size_t ngone = 0;
	int rc;

	if ((rc = load_history(j, s, txn)) != 0 || (rc = load_records(j, s, txn)) != 0)
		return rc;
	dedup_members(j);
	if ((rc = decide(j)) != 0)
		return rc;
	if ((rc = arca_store__refs_walk(s, txn, note_ref, j)) != 0)
		return rc;
	if (j->nrefd)
		qsort(j->refd, j->nrefd, sizeof(*j->refd), cmp_id);
	for (size_t i = 0; i < j->nv; i++)
		if (bsearch(&j->v[i].id, j->refd, j->nrefd, sizeof(*j->refd), cmp_id))
			j->v[i].keep = 1; /* whatever a ref points at stays */
	j->removed = calloc(j->nv ? j->nv : 1, sizeof(arca_id));
	gone = calloc(j->nv ? j->nv : 1, sizeof(arca_id));
	if (!j->removed || !gone) {
		free(gone);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	/* in rank order, so the ids come out per name, newest first */
	for (size_t i = 0; i < j->n && !rc; i++) {
		verdict *v = find_verdict(j, &j->m[i].id);
		if (v->keep || v->removed)
			continue;
		if ((rc = remove_one(j, s, txn, v)) == 0)
			gone[ngone++] = v->id;
	}
	if (!rc)
		rc = arca_store__history_drop(s, txn, gone, ngone);
	free(gone);
	return rc;
}

int arca_prune(arca_store *s, const char *name, unsigned keep_last,
		arca_id **removed, size_t *nremoved)
{
	prune_job j;
	arca_cas_writer *w;
	int rc;

	if (!s || !removed || !nremoved)
		return arca_err_set(ARCA_EINVAL, "arca_prune: NULL argument");
	*removed = NULL;
	*nremoved = 0;
	if (name && (rc = arca_store__check_word("name", name, ARCA_NAME_MAX, 1)) != 0)
		return rc;
	memset(&j, 0, sizeof(j));
	j.name = name;
	j.keep = keep_last;
	if ((rc = arca_store__writer_begin(&w, s)) != 0)
		return rc;
	if ((rc = do_prune(&j, s, arca_cas_writer_txn(w))) != 0)
		arca_cas_writer_abort(w);
	else
		rc = arca_cas_writer_commit(w);
	for (size_t i = 0; i < j.n; i++)
		free(j.m[i].name);
	free(j.m);
	free(j.v);
	free(j.refd);
	if (rc) {
		free(j.removed);
		return rc;
	}
	*removed = j.removed;
	*nremoved = j.nremoved;
	return 0;
}
