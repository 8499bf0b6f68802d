/*
 * arca_push: send what a remote lacks of some artifacts, then move refs
 * (docs/FORMAT.md, "Remote layout"). The calling thread walks each
 * artifact's chunks in the order it needs them and builds pack objects
 * into unlinked temporary files; `jobs` worker threads upload them (pack,
 * then index) and note in the store's remote_chunks cache what the remote
 * now holds. Artifact objects follow once every pack is up, refs last.
 */
#include "sync/sync.h"
#include "sync/idset.h"
#include "sync/rpack.h"
#include "store/artifact.h"
#include "store/history.h"
#include "store/reach.h"
#include "store/resolve.h"
#include "util/array.h"
#include "util/error.h"
#include "util/firsterr.h"
#include "util/fsutil.h"
#include "util/progress.h"
#include "util/version.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REF_RETRIES 100

typedef struct {
	uint8_t sha[32];
	uint32_t mark;            /* 1 + the last artifact that listed it */
} pack_slot;

typedef struct job {
	struct job *next;
	int fd;
	uint8_t sha[32];
	arca_buf index;
	uint64_t size;
	uint64_t nchunks;         /* its index's entries */
} job;

typedef struct {
	arca_id id;
	int present;              /* the remote has its object already */
	uint32_t *slots;          /* packs it needs */
	size_t nslots, cap;
} art_item;

typedef struct {
	arca_store *s;
	arca_transport *t;
	const arca_remote_conf *c;
	arca_sync_options o;
	MDB_txn *txn;
	int cache_ok;             /* the store takes cache writes */

	arca_idset where;         /* chunk id -> pack slot */
	arca_idset slot_of_sha;   /* pack name -> slot (cached packs) */
	arca_idset gone;          /* cached packs HEAD found missing */
	arca_idset scanned;       /* the first pass: chunks to send */
	arca_idset records;       /* ... and their records, by place */
	uint64_t total_chunks, total_bytes;
	pack_slot *packs;
	size_t npacks, pcap;
	art_item *cur;            /* the artifact being walked */
	uint32_t cur_mark;

	arca_rpack_builder *b;
	int bfd;
	uint32_t bslot;

	pthread_mutex_t mu;
	pthread_cond_t cv_job, cv_space;
	job *head, *tail;
	unsigned queued;
	int closing;
	pthread_mutex_t cache_mu;
	arca_firsterr fe;
	atomic_uint_fast64_t packs_done, bytes, objects, requests, chunks, chunks_sent;
	arca_progress_state ps;
} push_ctx;

/* ---- pack slots ---- */

static int new_slot(push_ctx *p, const uint8_t *sha, uint32_t *slot)
{
	int rc;
	if ((rc = arca_array_grow(&p->packs, &p->pcap, p->npacks + 1, sizeof(*p->packs), 16)) != 0)
		return rc;
	memset(&p->packs[p->npacks], 0, sizeof(p->packs[0]));
	if (sha)
		memcpy(p->packs[p->npacks].sha, sha, 32);
	*slot = (uint32_t)p->npacks++;
	return 0;
}

/* The current artifact needs pack `slot`. */
static int note_pack(push_ctx *p, uint32_t slot)
{
	art_item *a = p->cur;
	int rc;
	if (p->packs[slot].mark == p->cur_mark)
		return 0;
	p->packs[slot].mark = p->cur_mark;
	if ((rc = arca_array_grow(&a->slots, &a->cap, a->nslots + 1, sizeof(uint32_t), 16)) != 0)
		return rc;
	a->slots[a->nslots++] = slot;
	return 0;
}

/* ---- uploading (worker threads) ---- */

/* Notes in remote_chunks that the remote's pack `sha` holds the chunks
 * its index lists. */
static int note_cache(push_ctx *p, const uint8_t sha[32], const arca_buf *index)
{
	arca_pidx x;
	MDB_txn *txn;
	uint8_t key[ARCA_NAME_MAX + 1 + 32];
	size_t nl;
	int rc, mrc = 0;

	if (!p->cache_ok || !p->c->cache)
		return 0;
	nl = strlen(p->c->cache);
	if ((rc = arca_pidx_decode(&x, index->ptr, index->len)) != 0)
		return rc;
	pthread_mutex_lock(&p->cache_mu);
	if ((rc = arca_cas_write_txn_begin(p->s->cas, &txn)) != 0)
		goto done;
	memcpy(key, p->c->cache, nl + 1);
	for (uint32_t i = 0; i < x.n && !mrc; i++) {
		MDB_val k = { nl + 1 + 32, key }, v = { 32, (void *)sha };
		memcpy(key + nl + 1, x.e[i].id, 32);
		mrc = mdb_put(txn, p->s->dbi_remote_chunks, &k, &v, 0);
	}
	if (mrc) {
		arca_cas_write_txn_abort(p->s->cas, txn);
		rc = arca_lmdb_error(mrc, "remote cache");
		goto done;
	}
	rc = arca_cas_write_txn_commit(p->s->cas, txn);
done:
	pthread_mutex_unlock(&p->cache_mu);
	arca_pidx_clear(&x);
	return rc;
}

static int upload(push_ctx *p, job *j)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	int rc;

	/* The index goes up after its pack, so an index that is there means
	 * both are (a resumed or repeated push): one HEAD per pack, then
	 * the two PUTs only when needed. */
	if ((rc = arca_layout_index_key(&key, j->sha)) != 0)
		goto done;
	p->requests++;
	rc = p->t->head(p->t, arca_buf_cstr(&key), NULL);
	if (rc == ARCA_ENOTFOUND) {
		if ((rc = arca_layout_pack_key(&key, j->sha)) != 0)
			goto done;
		p->requests++;
		/* a pack's name is the SHA-256 of its bytes: S3 signs with it as is */
		if ((rc = arca_transport_put_fd(p->t, arca_buf_cstr(&key), j->fd, j->size,
				j->sha, 0)) != 0)
			goto done;
		p->bytes += j->size;
		p->objects++;
		if ((rc = arca_layout_index_key(&key, j->sha)) != 0)
			goto done;
		p->requests++;
		if ((rc = arca_transport_put_buf(p->t, arca_buf_cstr(&key), j->index.ptr,
				j->index.len, 0)) != 0)
			goto done;
		p->bytes += j->index.len;
		p->objects++;
	} else if (rc) {
		goto done;
	}
	rc = note_cache(p, j->sha, &j->index);
	p->packs_done++;
	p->chunks_sent += j->nchunks;
done:
	arca_buf_release(&key);
	return rc;
}

static void *worker(void *arg)
{
	push_ctx *p = arg;
	for (;;) {
		job *j;
		pthread_mutex_lock(&p->mu);
		while (!p->head && !p->closing)
			pthread_cond_wait(&p->cv_job, &p->mu);
		j = p->head;
		if (j && !(p->head = j->next))
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		if (!j)
			break;
		if (!arca_firsterr_code(&p->fe))
			arca_firsterr_set(&p->fe, upload(p, j));
		close(j->fd);
		arca_buf_release(&j->index);
		free(j);
		pthread_mutex_lock(&p->mu);
		p->queued--;
		pthread_cond_broadcast(&p->cv_space);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

static int report(push_ctx *p)
{
	return arca_progress__set(&p->ps, p->chunks_sent, p->bytes);
}

/* Waits until fewer than `limit` jobs are queued, reporting progress. */
static int wait_queue(push_ctx *p, unsigned limit)
{
	int rc = 0;
	pthread_mutex_lock(&p->mu);
	while (p->queued >= limit || (limit == 1 && p->queued)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cv_space, &p->mu, &ts);
		pthread_mutex_unlock(&p->mu);
		rc = report(p);
		pthread_mutex_lock(&p->mu);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* ---- building (calling thread) ---- */

static int start_pack(push_ctx *p)
{
	const char *dir = p->o.tmp_dir && *p->o.tmp_dir ? p->o.tmp_dir : "/tmp";
	arca_buf path = ARCA_BUF_INIT(4096);
	int rc;

	if ((rc = arca_buf_setf(&path, "%s/arca-push-XXXXXX", dir)) != 0)
		return rc;
	p->bfd = mkostemp((char *)path.ptr, O_CLOEXEC);
	if (p->bfd < 0) {
		rc = arca_err_sys("create a temporary file in %s", dir);
		arca_buf_release(&path);
		return rc;
	}
	unlink(arca_buf_cstr(&path));
	arca_buf_release(&path);
	if ((rc = new_slot(p, NULL, &p->bslot)) != 0 ||
	    (rc = arca_rpack_builder_new(&p->b, p->s, p->bfd)) != 0) {
		close(p->bfd);
		p->bfd = -1;
	}
	return rc;
}

static int finish_pack(push_ctx *p)
{
	job *j = calloc(1, sizeof(*j));
	arca_pidx x;
	int rc;

	if (!j)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	j->index = (arca_buf)ARCA_BUF_INIT(256u << 20);
	j->fd = p->bfd;
	j->size = arca_rpack_builder_size(p->b);
	if ((rc = arca_rpack_builder_finish(p->b, j->sha, &j->index)) != 0 ||
	    (rc = arca_pidx_decode(&x, j->index.ptr, j->index.len)) != 0)
		goto fail;
	memcpy(p->packs[p->bslot].sha, j->sha, 32);
	j->nchunks = x.n;
	p->chunks += x.n;
	/* every chunk the pack holds (members of its groups too) is placed */
	for (uint32_t i = 0; i < x.n && rc >= 0; i++)
		rc = arca_idset_put(&p->where, x.e[i].id, p->bslot);
	arca_pidx_clear(&x);
	if (rc < 0)
		goto fail;
	arca_rpack_builder_free(p->b);
	p->b = NULL;
	p->bfd = -1;
	if ((rc = wait_queue(p, p->o.jobs)) != 0) {
		close(j->fd);
		arca_buf_release(&j->index);
		free(j);
		return rc;
	}
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	pthread_cond_signal(&p->cv_job);
	pthread_mutex_unlock(&p->mu);
	return 0;
fail:
	arca_buf_release(&j->index);
	free(j);
	return rc;
}

/* Drops the cache entries of the packs HEAD found gone. */
static int drop_gone(push_ctx *p)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t nl;
	int rc, mrc;

	if (!p->gone.n || !p->cache_ok || !p->c->cache)
		return 0;
	nl = strlen(p->c->cache);
	if ((rc = arca_cas_write_txn_begin(p->s->cas, &txn)) != 0)
		return rc;
	if ((mrc = mdb_cursor_open(txn, p->s->dbi_remote_chunks, &cur)) != 0) {
		arca_cas_write_txn_abort(p->s->cas, txn);
		return arca_lmdb_error(mrc, "remote cache");
	}
	k.mv_size = nl + 1;
	k.mv_data = (void *)p->c->cache;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != nl + 33 || memcmp(k.mv_data, p->c->cache, nl + 1) != 0)
			break;
		if (v.mv_size == 32 && arca_idset_has(&p->gone, v.mv_data) &&
		    (mrc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (mrc && mrc != MDB_NOTFOUND) {
		arca_cas_write_txn_abort(p->s->cas, txn);
		return arca_lmdb_error(mrc, "remote cache");
	}
	return arca_cas_write_txn_commit(p->s->cas, txn);
}

/* 1 with `sha` when the cache places `id` in a pack the remote still has. */
static int cached(push_ctx *p, const uint8_t id[32], uint32_t *slot)
{
	uint8_t key[ARCA_NAME_MAX + 1 + 32];
	arca_buf pk = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	size_t nl;
	MDB_val k, v;
	int rc;

	if (!p->c->cache)
		return 0;
	nl = strlen(p->c->cache);
	memcpy(key, p->c->cache, nl + 1);
	memcpy(key + nl + 1, id, 32);
	k.mv_size = nl + 1 + 32;
	k.mv_data = key;
	if (mdb_get(p->txn, p->s->dbi_remote_chunks, &k, &v) != 0 || v.mv_size != 32)
		return 0;
	if (arca_idset_has(&p->gone, v.mv_data))
		return 0;
	if (arca_idset_get(&p->slot_of_sha, v.mv_data, slot))
		return 1;
	/* once per pack per push: is it still there? Its index, not the pack:
	 * the index goes up last and is removed first, so only it proves both
	 * (a pack left without one is sent again, with its index) */
	if ((rc = arca_layout_index_key(&pk, v.mv_data)) != 0)
		return rc;
	p->requests++;
	rc = p->t->head(p->t, arca_buf_cstr(&pk), NULL);
	arca_buf_release(&pk);
	if (rc == ARCA_ENOTFOUND)
		return arca_idset_add(&p->gone, v.mv_data) < 0 ? ARCA_ENOMEM : 0;
	if (rc)
		return rc;
	if ((rc = new_slot(p, v.mv_data, slot)) != 0 ||
	    (rc = arca_idset_put(&p->slot_of_sha, p->packs[*slot].sha, *slot)) < 0)
		return rc;
	return 1;
}

/* The first pass, for progress totals: what on_chunk will send, each
 * record's bytes counted once (group members share one). */
static int on_scan(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	push_ctx *p = ctx;
	arca_chunk_loc loc;
	uint8_t place[32] = { 0 };
	uint32_t slot;
	int rc;
	(void)len;
	(void)manifest;

	if (arca_idset_has(&p->scanned, id) || arca_idset_has(&p->where, id))
		return 0;
	if ((rc = cached(p, id, &slot)) < 0)
		return rc;
	if (rc == 1) /* placed once: the second pass takes it from `where` */
		return arca_idset_put(&p->where, id, slot) < 0 ? ARCA_ENOMEM : 0;
	if ((rc = arca_idset_add(&p->scanned, id)) < 0)
		return rc;
	if ((rc = arca_cas_lookup(p->s->cas, p->txn, id, &loc)) != 0)
		return rc == ARCA_ENOTFOUND ? 0 : rc; /* the second pass says what is wrong */
	memcpy(place, &loc.pack, sizeof(loc.pack));
	memcpy(place + 8, &loc.offset, sizeof(loc.offset));
	if ((rc = arca_idset_add(&p->records, place)) < 0)
		return rc;
	if (rc == 1) { /* a new record: all of it goes, as the pack index will list */
		uint64_t n = loc.grouped ? loc.nmembers : 1;
		p->total_chunks += n;
		p->total_bytes += ARCA_RECORD_HEADER_LEN + n * ARCA_PIDX_ENTRY_LEN +
			(uint64_t)loc.nmembers * ARCA_GROUP_MEMBER_LEN + loc.stored_len;
	}
	return 0;
}

static int on_chunk(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	push_ctx *p = ctx;
	uint32_t slot;
	int rc;
	(void)len;
	(void)manifest;

	if (arca_idset_get(&p->where, id, &slot))
		return note_pack(p, slot);
	if ((rc = cached(p, id, &slot)) < 0)
		return rc;
	if (rc == 1) {
		if ((rc = arca_idset_put(&p->where, id, slot)) < 0)
			return rc;
		return note_pack(p, slot);
	}
	if (!p->b && (rc = start_pack(p)) != 0)
		return rc;
	if ((rc = arca_rpack_builder_add(p->b, p->txn, id, NULL)) != 0 ||
	    (rc = arca_idset_put(&p->where, id, p->bslot)) < 0 ||
	    (rc = note_pack(p, p->bslot)) != 0)
		return rc;
	if (arca_firsterr_code(&p->fe))
		return arca_firsterr_raise(&p->fe);
	if ((rc = report(p)) != 0)
		return rc;
	if (arca_rpack_builder_size(p->b) >= arca_sync__pack_target)
		return finish_pack(p);
	return 0;
}

/* ---- artifact objects and refs ---- */

static int put_artifact(push_ctx *p, art_item *a)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), obj = ARCA_BUF_INIT(256u << 20);
	uint8_t (*shas)[32] = NULL;
	MDB_val k = { 32, a->id.bytes }, v;
	int rc, mrc;

	if ((mrc = mdb_get(p->txn, p->s->dbi_artifacts, &k, &v)) != 0)
		return arca_lmdb_error(mrc, "read artifact");
	if (a->nslots && !(shas = malloc(a->nslots * 32)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (size_t i = 0; i < a->nslots; i++)
		memcpy(shas[i], p->packs[a->slots[i]].sha, 32);
	if ((rc = arca_layout_artifact_key(&key, &a->id)) != 0 ||
	    (rc = arca_arto_encode(&obj, v.mv_data, (uint32_t)v.mv_size, shas,
		    (uint32_t)a->nslots)) != 0)
		goto done;
	p->requests++;
	rc = arca_transport_put_buf(p->t, arca_buf_cstr(&key), obj.ptr, obj.len, 1);
	if (rc == ARCA_EEXISTS)
		rc = 0; /* another pusher sent it meanwhile: the same artifact */
	else if (!rc) {
		p->objects++;
		p->bytes += obj.len;
	}
done:
	free(shas);
	arca_buf_release(&key);
	arca_buf_release(&obj);
	return rc;
}

static int move_ref(push_ctx *p, const char *name, const char *tag, const arca_id *id,
		uint64_t *moved)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), b = ARCA_BUF_INIT(ARCA_REF_ENTRY_MAX);
	arca_ref_entry cur, e;
	struct timespec ts;
	int rc = 0, found, trust = 1;

	for (int attempt = 0; attempt < REF_RETRIES; attempt++) {
		uint64_t nreq = 0;
		found = arca_sync__ref_current(p->t, name, tag, trust, &cur, &nreq);
		p->requests += nreq;
		if (found < 0) {
			rc = found;
			goto done;
		}
		if (found && !cur.deleted && !memcmp(cur.id.bytes, id->bytes, 32)) {
			rc = 0; /* already there */
			goto done;
		}
		if (found && !cur.deleted && !p->o.force && !arca_sync__is_ancestor(p->s, p->txn, &cur.id, id)) {
			char theirs[ARCA_ID_STRLEN], ours[ARCA_ID_STRLEN];
			arca_id_format(theirs, &cur.id);
			arca_id_format(ours, id);
			rc = arca_err_set(ARCA_EEXISTS,
				"%s: ref %s:%s is at %s, which %s does not descend from",
				p->t->url, name, tag, theirs, ours);
			goto done;
		}
		if (found && cur.seq == UINT64_MAX) {
			rc = arca_err_set(ARCA_ECORRUPT, "%s: ref %s:%s has no entry number left",
				p->t->url, name, tag);
			goto done;
		}
		memset(&e, 0, sizeof(e));
		memcpy(e.name, name, strlen(name) + 1);
		memcpy(e.tag, tag, strlen(tag) + 1);
		e.seq = found ? cur.seq + 1 : 1;
		e.id = *id;
		e.has_prev = found && !cur.deleted;
		if (e.has_prev)
			e.prev = cur.id;
		clock_gettime(CLOCK_REALTIME, &ts);
		e.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		b.len = 0;
		if ((rc = arca_ref_entry_encode(&b, &e)) != 0 ||
		    (rc = arca_layout_ref_key(&key, name, tag, e.seq)) != 0)
			goto done;
		p->requests++;
		rc = arca_transport_put_buf(p->t, arca_buf_cstr(&key), b.ptr, b.len, 1);
		if (rc == ARCA_EEXISTS) {
			trust = 0; /* another writer moved it (or the hint lags): look again */
			continue;
		}
		if (rc)
			goto done;
		p->objects++;
		(*moved)++;
		/* the hint only saves readers GETs: a failure to write it is harmless */
		b.len = 0;
		if (arca_ref_hint_encode(&b, e.seq) == 0 &&
		    arca_layout_ref_key(&key, name, tag, 0) == 0) {
			p->requests++;
			arca_transport_put_buf(p->t, arca_buf_cstr(&key), b.ptr, b.len, 0);
		}
		rc = 0;
		goto done;
	}
	rc = arca_err_set(ARCA_EEXISTS, "%s: ref %s:%s keeps moving; try again", p->t->url,
		name, tag);
done:
	arca_buf_release(&key);
	arca_buf_release(&b);
	return rc;
}

/* ---- the push ---- */

typedef struct {
	char name[ARCA_NAME_MAX + 1];
	char tag[ARCA_TAG_MAX + 1];
	int has_ref;
	arca_id id;
} push_ref;

/* What `ref` names: NAME:TAG, a NAME (of NAME:latest), else an artifact. */
static int parse_ref(arca_store *s, MDB_txn *txn, const char *ref, push_ref *r)
{
	int rc;
	memset(r, 0, sizeof(*r));
	if (!ref)
		return arca_err_set(ARCA_EINVAL, "arca_push: NULL ref");
	if ((rc = arca_store__resolve(&r->id, s, txn, ref)) != 0)
		return rc;
	if (strchr(ref, ':')) {
		if ((rc = arca_store__split_ref(ref, r->name, r->tag)) != 0 ||
		    (rc = arca_layout_ref_check(r->name, r->tag)) != 0)
			return rc;
		r->has_ref = 1;
	} else if (strncmp(ref, "art_", 4) != 0 && strlen(ref) <= ARCA_NAME_MAX &&
		   arca_store__check_word("name", ref, ARCA_NAME_MAX, 1) == 0) {
		char key[ARCA_REF_KEY_MAX + 8];
		MDB_val k, v;
		if (snprintf(key, sizeof(key), "%s:latest", ref) >= (int)sizeof(key))
			return 0;
		k.mv_size = strlen(key);
		k.mv_data = key;
		if (mdb_get(txn, s->dbi_refs, &k, &v) == 0 && v.mv_size == 32 &&
		    !memcmp(v.mv_data, r->id.bytes, 32)) {
			memcpy(r->name, ref, strlen(ref) + 1);
			memcpy(r->tag, "latest", 7);
			r->has_ref = 1;
		}
	}
	return 0;
}

int arca_push(arca_sync_result *out, arca_store *s, const char *remote,
		const char *const *refs, size_t n, const arca_sync_options *opts)
{
	push_ctx p;
	arca_remote_conf c;
	push_ref *pr = NULL;
	art_item *arts = NULL;
	size_t narts = 0;
	pthread_t *th = NULL;
	unsigned nth = 0;
	uint64_t moved = 0;
	int rc;

	if (!out || !s || (!refs && n))
		return arca_err_set(ARCA_EINVAL, "arca_push: NULL argument");
	if ((rc = arca__result_start("arca_sync_result", out, sizeof(*out),
			ARCA_SYNC_RESULT_VERSION)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	memset(&c, 0, sizeof(c));
	p.bfd = -1;
	pthread_mutex_init(&p.mu, NULL);
	pthread_mutex_init(&p.cache_mu, NULL);
	pthread_cond_init(&p.cv_job, NULL);
	pthread_cond_init(&p.cv_space, NULL);
	arca_firsterr_init(&p.fe);
	p.s = s;
	p.c = &c;
	p.cache_ok = !arca_cas_readonly(s->cas);
	if ((rc = arca_sync__options(&p.o, opts)) != 0 ||
	    (rc = arca_sync__remote_conf(&c, s, remote)) != 0)
		goto done;
	arca_progress__init(&p.ps, p.o.progress_cb, p.o.progress_payload);
	if ((rc = arca_sync__open(&p.t, &c, &p.o)) != 0)
		goto done;
	if (p.t->readonly) {
		rc = arca_err_set(ARCA_EUNSUPPORTED, "%s is read-only: push to a directory or "
			"an S3 bucket", p.t->url);
		goto done;
	}
	if ((rc = arca_cas_txn_read(s->cas, &p.txn)) != 0)
		goto done;
	if (!(pr = calloc(n ? n : 1, sizeof(*pr))) || !(arts = calloc(n ? n : 1, sizeof(*arts)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		size_t j;
		if ((rc = parse_ref(s, p.txn, refs[i], &pr[i])) != 0)
			goto done;
		for (j = 0; j < narts && memcmp(arts[j].id.bytes, pr[i].id.bytes, 32); j++)
			;
		if (j == narts)
			arts[narts++].id = pr[i].id;
	}
	p.requests++;
	if ((rc = arca_sync__marker(p.t, 1)) != 0)
		goto done;

	if (!(th = calloc(p.o.jobs, sizeof(*th)))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	for (; nth < p.o.jobs; nth++)
		if (pthread_create(&th[nth], NULL, worker, &p) != 0) {
			rc = arca_err_set(ARCA_ERROR, "cannot start upload threads");
			goto done;
		}

	for (size_t i = 0; i < narts; i++) {
		arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
		if ((rc = arca_layout_artifact_key(&key, &arts[i].id)) != 0)
			goto done;
		p.requests++;
		rc = p.t->head(p.t, arca_buf_cstr(&key), NULL);
		arca_buf_release(&key);
		if (rc == 0)
			arts[i].present = 1;
		else if (rc != ARCA_ENOTFOUND)
			goto done;
	}
	/* what the remote lacks, counted first for the progress totals, then
	 * packed and sent in the order the artifacts need it */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < narts; i++) {
			arca_artifact_rec rec;
			if (arts[i].present)
				continue;
			if ((rc = arca_artifact_rec_get(&rec, s, p.txn, &arts[i].id)) != 0)
				goto done;
			p.cur = &arts[i];
			p.cur_mark = (uint32_t)i + 1;
			rc = arca_store__reach(s, &rec, pass ? on_chunk : on_scan, &p);
			arca_artifact_rec_clear(&rec);
			if (rc)
				goto done;
		}
		if (!pass) {
			uint64_t packs = p.total_bytes / arca_sync__pack_target + 1;
			if ((rc = arca_progress__begin(&p.ps, ARCA_PROGRESS_UPLOAD, p.total_chunks,
					p.total_bytes + packs * ARCA_PIDX_HEADER_LEN * 2)) != 0)
				goto done;
			arca_idset_release(&p.scanned);
			arca_idset_release(&p.records);
		}
	}
	if (p.b && (rc = finish_pack(&p)) != 0)
		goto done;
	if ((rc = wait_queue(&p, 1)) != 0 || (rc = arca_firsterr_raise(&p.fe)) != 0 ||
	    (rc = drop_gone(&p)) != 0)
		goto done;
	/* the last chance to cancel: past it, artifacts and refs go up */
	if ((rc = arca_progress__end(&p.ps, p.chunks_sent, p.bytes)) != 0)
		goto done;

	for (size_t i = 0; i < narts; i++) {
		if (arts[i].present)
			continue;
		if ((rc = put_artifact(&p, &arts[i])) != 0)
			goto done;
		out->artifacts++;
	}
	for (size_t i = 0; i < n; i++)
		if (pr[i].has_ref && (rc = move_ref(&p, pr[i].name, pr[i].tag, &pr[i].id, &moved)) != 0)
			goto done;
done:
	if (rc)
		arca_firsterr_set(&p.fe, rc); /* workers skip what is still queued */
	pthread_mutex_lock(&p.mu);
	p.closing = 1;
	pthread_cond_broadcast(&p.cv_job);
	pthread_mutex_unlock(&p.mu);
	for (unsigned i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	while (p.head) {
		job *j = p.head;
		p.head = j->next;
		close(j->fd);
		arca_buf_release(&j->index);
		free(j);
	}
	if (!rc)
		rc = arca_firsterr_raise(&p.fe);
	if (p.b)
		arca_rpack_builder_free(p.b);
	if (p.bfd >= 0)
		close(p.bfd);
	if (p.txn)
		mdb_txn_abort(p.txn);
	out->chunks = p.chunks;
	out->bytes = p.bytes;
	out->objects = p.objects;
	out->requests = p.requests;
	out->refs_moved = moved;
	for (size_t i = 0; i < narts; i++)
		free(arts[i].slots);
	free(arts);
	free(pr);
	free(th);
	free(p.packs);
	arca_idset_release(&p.where);
	arca_idset_release(&p.slot_of_sha);
	arca_idset_release(&p.gone);
	arca_idset_release(&p.scanned);
	arca_idset_release(&p.records);
	if (p.t)
		p.t->free(p.t);
	arca_remote_conf_clear(&c);
	arca_firsterr_release(&p.fe);
	pthread_cond_destroy(&p.cv_job);
	pthread_cond_destroy(&p.cv_space);
	pthread_mutex_destroy(&p.mu);
	pthread_mutex_destroy(&p.cache_mu);
	return rc;
}
