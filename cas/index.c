/* The chunk index: opening and checking the LMDB environment, its
 * tables, transactions and meta counters; LMDB error translation. */
#include "cas/cas_impl.h"
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

/* Virtual size of the LMDB map: the index file grows on demand up to it,
 * and only pages in use take disk or memory, so a large map costs nothing
 * on 64-bit systems (1 TiB of index is ~10^10 chunks). Smaller sizes are
 * tried where the system refuses to reserve that much address space. */
static const uint64_t map_sizes[] = { 1ull << 40, 1ull << 36, 1ull << 33 };

int arca_mdb_txn_begin(MDB_env *env, unsigned flags, MDB_txn **out)
{
	int mrc = mdb_txn_begin(env, NULL, flags, out);
	if (mrc == MDB_MAP_RESIZED) {
		/* another process grew the map: adopt its size */
		mdb_env_set_mapsize(env, 0);
		mrc = mdb_txn_begin(env, NULL, flags, out);
	}
	return mrc;
}

int arca_lmdb_error(int mdb_rc, const char *what)
{
	int code = ARCA_ERROR;
	if (mdb_rc == ENOSPC || mdb_rc == MDB_MAP_FULL)
		code = ARCA_ENOSPC;
	else if (mdb_rc == MDB_CORRUPTED || mdb_rc == MDB_PAGE_NOTFOUND || mdb_rc == MDB_INVALID)
		code = ARCA_ECORRUPT;
	else if (mdb_rc == MDB_NOTFOUND)
		code = ARCA_ENOTFOUND;
	else if (mdb_rc == ENOMEM)
		code = ARCA_ENOMEM;
	else if (mdb_rc > 0)
		code = ARCA_EIO;
	return arca_err_set(code, "index: %s: %s", what, mdb_strerror(mdb_rc));
}

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

void arca_cas_set_params(arca_cas *cas, uint64_t format, uint32_t cmin, uint32_t cavg,
		uint32_t cmax, const uint8_t store_id[ARCA_STORE_ID_LEN])
{
	memcpy(cas->params + 32, store_id, ARCA_STORE_ID_LEN);
	arca_put_le64(cas->params, format);
	arca_put_le64(cas->params + 8, cmin);
	arca_put_le64(cas->params + 16, cavg);
	arca_put_le64(cas->params + 24, cmax);
	cas->have_params = 1;
}

static int damaged_index(const char *path, const char *why)
{
	return arca_err_set(ARCA_ECORRUPT,
		"index %s %s; the packs are intact: run 'arca repair' to rebuild it", path, why);
}

/* The record header at (pack, off) into hdr: 0, or -1 when it cannot be
 * read (a damaged or missing pack, not evidence of a foreign index). */
static int sample_header(arca_cas *cas, uint32_t no, uint64_t off,
		uint8_t hdr[ARCA_RECORD_HEADER_LEN])
{
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	int fd, ok;
	fd = arca_cas__pack_path(&path, cas, no) == 0 ?
		open(arca_buf_cstr(&path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	arca_buf_release(&path);
	if (fd < 0)
		return -1;
	ok = arca_pread_full(fd, hdr, ARCA_RECORD_HEADER_LEN, (off_t)off) == ARCA_RECORD_HEADER_LEN;
	close(fd);
	return ok ? 0 : -1;
}

/*
 * Does the index point at its own records? A few entries (the first and
 * last chunk by id, the newest journal record) are looked up in the packs:
 * an index copied from another store names records that are not there.
 * One mismatch may be bit rot in that record; the store then still opens
 * (verify and repair deal with it); two, or the only one, refuse it.
 */
static int sample_records(arca_cas *cas, MDB_txn *txn, MDB_dbi packs, int *samples,
		int *mismatches)
{
	static const MDB_cursor_op ops[] = { MDB_FIRST, MDB_LAST };
	uint8_t hdr[ARCA_RECORD_HEADER_LEN], kb[4];
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v, pk = { 4, kb }, pv;

	if (mdb_dbi_open(txn, "chunks", 0, &dbi) == 0 && mdb_cursor_open(txn, dbi, &cur) == 0) {
		for (size_t i = 0; i < 2; i++) {
			arca_chunk_loc loc;
			arca_record rec;
			arca_group g;
			int bad;
			if (mdb_cursor_get(cur, &k, &v, ops[i]) != 0 || k.mv_size != 32 ||
			    arca_chunk_loc_decode(&loc, v.mv_data, v.mv_size) != 0)
				break;
			arca_put_be32(kb, loc.pack);
			if (!packs || mdb_get(txn, packs, &pk, &pv) != 0 ||
			    sample_header(cas, loc.pack, loc.offset, hdr) != 0)
				continue;
			if (loc.grouped)
				bad = arca_group_decode(&g, hdr, sizeof(hdr)) != 0 ||
					g.nmembers != loc.nmembers || g.stored_len != loc.stored_len ||
					g.raw_len != loc.group_raw;
			else
				bad = arca_record_decode(&rec, hdr, sizeof(hdr)) != 0 ||
					memcmp(rec.id, k.mv_data, 32) != 0 ||
					rec.stored_len != loc.stored_len;
			(*samples)++;
			*mismatches += bad;
			if (i == 0 && mdb_cursor_get(cur, &k, &v, MDB_NEXT) != 0)
				break; /* a single chunk: sampled once */
		}
		mdb_cursor_close(cur);
	}
	if (mdb_dbi_open(txn, "journal", 0, &dbi) == 0 && mdb_cursor_open(txn, dbi, &cur) == 0) {
		arca_journal_loc l;
		arca_meta_hdr m;
		uint64_t seq = 0;
		if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8 &&
		    arca_journal_loc_decode(&l, v.mv_data, v.mv_size) == 0) {
			seq = arca_get_be64(k.mv_data);
			arca_put_be32(kb, l.pack);
			if (packs && mdb_get(txn, packs, &pk, &pv) == 0 &&
			    sample_header(cas, l.pack, l.offset, hdr) == 0) {
				(*samples)++;
				*mismatches += arca_meta_decode(&m, hdr, sizeof(hdr)) != 0 || m.seq != seq ||
					m.len != l.len || m.type != l.type;
			}
		}
		mdb_cursor_close(cur);
	}
	return 0;
}

/*
 * The index must describe the packs beside it: LMDB maps the file, so a
 * truncated one would kill readers with SIGBUS, and an empty or foreign
 * one would make the first writer take every pack for uncommitted.
 */
static int check_index(arca_cas *cas, const char *path)
{
	MDB_txn *txn = NULL;
	uint32_t *nos = NULL;
	size_t n = 0;
	uint64_t next = 0;
	int rc, mrc;

	/* (a truncated file was refused before it was mapped: open_index) */
	if ((rc = arca_cas_pack_files(cas, &nos, &n)) != 0)
		return rc;
	if (n == 0)
		goto done;
	if ((mrc = mdb_txn_begin(cas->env, NULL, MDB_RDONLY, &txn)) != 0) {
		rc = mrc == MDB_CORRUPTED || mrc == MDB_INVALID || mrc == MDB_PAGE_NOTFOUND ?
			damaged_index(path, "is damaged") : arca_lmdb_error(mrc, path);
		goto done;
	}
	{
		MDB_dbi meta, packs, dead;
		MDB_val k = { 6, "format" }, v;
		if (mdb_dbi_open(txn, "meta", 0, &meta) != 0 || mdb_get(txn, meta, &k, &v) != 0 ||
		    v.mv_size != 8) {
			rc = damaged_index(path, "is missing or empty but packs exist");
			goto done;
		}
		k.mv_size = strlen(ARCA_META_PACK_NEXT);
		k.mv_data = ARCA_META_PACK_NEXT;
		if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 8)
			next = arca_get_le64(v.mv_data);
		if (mdb_dbi_open(txn, "packs", 0, &packs) != 0)
			packs = 0;
		if (mdb_dbi_open(txn, "deadpacks", 0, &dead) != 0)
			dead = 0;
		/* every pack numbered below pack.next was committed: the index
		 * must list it as live or retired */
		for (size_t i = 0; i < n && nos[i] < next; i++) {
			uint8_t kb[4];
			MDB_val pk = { 4, kb }, pv;
			arca_put_be32(kb, nos[i]);
			if ((packs && mdb_get(txn, packs, &pk, &pv) == 0) ||
			    (dead && mdb_get(txn, dead, &pk, &pv) == 0))
				continue;
			rc = arca_err_set(ARCA_ECORRUPT,
				"index %s does not know pack %08u; run 'arca repair' to rebuild it",
				path, nos[i]);
			goto done;
		}
		{
			int samples = 0, bad = 0;
			sample_records(cas, txn, packs, &samples, &bad);
			if (bad >= 2 || (bad && bad == samples)) {
				rc = damaged_index(path, "names records the packs do not hold (an index "
					"of another store?)");
				goto done;
			}
		}
	}
	rc = 0;
done:
	if (txn)
		mdb_txn_abort(txn);
	free(nos);
	return rc;
}

/* What opening a store this process may only read fails with. */
static int readonly_errno(int e)
{
	return e == EACCES || e == EROFS || e == EPERM;
}

static int env_open(arca_cas *cas, const char *lmdb_path, unsigned flags)
{
	int mrc = 0;
	for (size_t i = 0; i < sizeof(map_sizes) / sizeof(map_sizes[0]); i++) {
		if ((mrc = mdb_env_create(&cas->env)) != 0)
			return mrc;
		if ((mrc = mdb_env_set_maxdbs(cas->env, 32)) == 0 &&
		    (mrc = mdb_env_set_mapsize(cas->env, map_sizes[i])) == 0 &&
		    (mrc = mdb_env_set_maxreaders(cas->env, 1022)) == 0 &&
		    /* the index holds the store's MAC key: 0600 (the caller
		     * undoes what a umask narrowed) */
		    (mrc = mdb_env_open(cas->env, lmdb_path, flags, 0600)) == 0)
			return 0;
		mdb_env_close(cas->env);
		cas->env = NULL;
		if (mrc != ENOMEM && mrc != EINVAL)
			break;
	}
	return mrc;
}

static int open_index(arca_cas **out, const char *dir, const char *index_name,
		const arca_writelock_config *wl);

/* The indexes this process has open. LMDB's and the writer's locks are
 * POSIX record locks, which belong to the process: a second open of the
 * same index takes LMDB's lock file as unused and resets it (under a
 * live write transaction), and closing either drops the other's locks,
 * so another process then writes at the same time. One open each. A
 * forked child holds none of its parent's locks: it may open them anew. */
typedef struct open_index_rec {
	dev_t dev;
	ino_t ino;
	pid_t pid;
	struct open_index_rec *next;
} open_index_rec;

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static open_index_rec *open_list;

static int index_is_open(const struct stat *st)
{
	pid_t me = getpid();
	for (open_index_rec *r = open_list; r; r = r->next)
		if (r->dev == st->st_dev && r->ino == st->st_ino && r->pid == me)
			return 1;
	return 0;
}

static int list_open_index(arca_cas *cas)
{
	struct stat st;
	int fd;
	open_index_rec *r;
	if (mdb_env_get_fd(cas->env, &fd) != 0 || fstat(fd, &st) < 0)
		return arca_err_sys("stat the index of %s", cas->dir);
	if (!(r = malloc(sizeof(*r))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	r->dev = cas->index_dev = st.st_dev;
	r->ino = cas->index_ino = st.st_ino;
	r->pid = cas->open_pid = getpid();
	r->next = open_list;
	open_list = r;
	cas->open_listed = 1;
	return 0;
}

static void unlist_open_index(arca_cas *cas)
{
	pthread_mutex_lock(&open_mu);
	for (open_index_rec **p = &open_list; *p; p = &(*p)->next) {
		if ((*p)->dev == cas->index_dev && (*p)->ino == cas->index_ino &&
		    (*p)->pid == cas->open_pid) {
			open_index_rec *r = *p;
			*p = r->next;
			free(r);
			break;
		}
	}
	cas->open_listed = 0;
	pthread_mutex_unlock(&open_mu);
}

int arca_cas_check_index(arca_cas *cas)
{
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	int rc = arca_buf_setf(&path, "%s/index.lmdb", cas->dir) != 0 ?
		arca_err_set(ARCA_EINVAL, "store path too long") :
		check_index(cas, arca_buf_cstr(&path));
	arca_buf_release(&path);
	return rc;
}

int arca_cas_open(arca_cas **out, const char *dir)
{
	return arca_cas_open_ex(out, dir, NULL);
}

int arca_cas_open_ex(arca_cas **out, const char *dir, const arca_writelock_config *wl)
{
	arca_cas *cas;
	int rc;

	if ((rc = open_index(&cas, dir, "index.lmdb", wl)) != 0)
		return rc;
	if ((rc = arca_cas_check_index(cas)) != 0) {
		arca_cas_free(cas);
		return rc;
	}
	*out = cas;
	return 0;
}

int arca_cas_open_index(arca_cas **out, const char *dir, const char *index_name)
{
	return open_index(out, dir, index_name, NULL);
}

static int open_index(arca_cas **out, const char *dir, const char *index_name,
		const arca_writelock_config *wl)
{
	arca_cas *cas;
	struct stat st;
	char *lmdb_path = NULL, *lock_path = NULL;
	/* NOTLS: worker threads hold read transactions while the calling
	 * thread holds the write transaction. */
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
	int rc, mrc, dead, new_index, new_lock;

	cas = calloc(1, sizeof(*cas));
	if (!cas)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	arca_writelock_init(&cas->wlock, wl);
	pthread_mutex_init(&cas->fd_lock, NULL);
	cas->pack_target = ARCA_PACK_TARGET;
	cas->dir = strdup(dir);
	cas->packdir = path_join(dir, "packs");
	lmdb_path = path_join(dir, index_name);
	lock_path = lmdb_path ? malloc(strlen(lmdb_path) + 6) : NULL;
	if (lock_path)
		snprintf(lock_path, strlen(lmdb_path) + 6, "%s-lock", lmdb_path);
	if (!cas->dir || !cas->packdir || !lmdb_path || !lock_path) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto fail;
	}
	if (arca_mkdir_mode(cas->packdir, 0700) < 0 && errno != EEXIST && !readonly_errno(errno)) {
		rc = arca_err_sys("create %s", cas->packdir);
		goto fail;
	}
	new_index = access(lmdb_path, F_OK) < 0;
	new_lock = access(lock_path, F_OK) < 0;
	if (access(dir, W_OK) < 0 && readonly_errno(errno))
		flags |= MDB_RDONLY;
	/* A store we may only read: read-only, then also without LMDB's lock
	 * file (which must be writable). MDB_NOLOCK is safe only because no
	 * one can write the store: a writer would reuse pages under us. */
	pthread_mutex_lock(&open_mu);
	if (stat(lmdb_path, &st) == 0 && index_is_open(&st)) {
		pthread_mutex_unlock(&open_mu);
		rc = arca_err_set(ARCA_EINVAL, "store %s is already open in this process", dir);
		goto fail;
	}
	while ((mrc = env_open(cas, lmdb_path, flags)) != 0 && readonly_errno(mrc) &&
	       !(flags & MDB_NOLOCK))
		flags |= flags & MDB_RDONLY ? MDB_NOLOCK : MDB_RDONLY;
	rc = mrc ? 0 : list_open_index(cas);
	pthread_mutex_unlock(&open_mu);
	if (rc)
		goto fail;
	if (mrc != 0) {
		rc = mrc == MDB_INVALID || mrc == MDB_CORRUPTED || mrc == MDB_VERSION_MISMATCH ?
			damaged_index(lmdb_path, "is damaged") : arca_lmdb_error(mrc, lmdb_path);
		goto fail;
	}
	/* before any page is touched through the map */
	if (stat(lmdb_path, &st) == 0) {
		MDB_envinfo info;
		MDB_stat ms;
		if (mdb_env_info(cas->env, &info) == 0 && mdb_env_stat(cas->env, &ms) == 0 &&
		    (uint64_t)st.st_size < (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize) {
			rc = damaged_index(lmdb_path, "is truncated");
			goto fail;
		}
	}
	if (flags & MDB_RDONLY) {
		cas->wlock.readonly = cas->dir;
	} else {
		if ((new_index && chmod(lmdb_path, 0600) < 0) ||
		    (new_lock && chmod(lock_path, 0600) < 0)) {
			rc = arca_err_sys("chmod %s", lmdb_path);
			goto fail;
		}
		if ((rc = arca_writelock_open(&cas->wlock, lock_path)) != 0)
			goto fail;
	}
	mdb_reader_check(cas->env, &dead);
	{
		const char *names[] = { "chunks", "packs", "meta", "deadpacks", "macs", "journal",
			"damaged" };
		MDB_dbi *dbis[] = { &cas->dbi_chunks, &cas->dbi_packs, &cas->dbi_meta, &cas->dbi_dead,
			&cas->dbi_macs, &cas->dbi_journal, &cas->dbi_damaged };
		if ((rc = arca_cas_open_dbis(cas, names, dbis, 7)) != 0)
			goto fail;
	}
	free(lmdb_path);
	free(lock_path);
	*out = cas;
	return 0;
fail:
	free(lmdb_path);
	free(lock_path);
	arca_cas_free(cas);
	return rc;
}

void arca_cas_free(arca_cas *cas)
{
	if (!cas)
		return;
	for (size_t i = 0; i < cas->npack_fds; i++)
		if (cas->pack_fds[i] >= 0)
			close(cas->pack_fds[i]);
	free(cas->pack_fds);
	if (cas->env)
		mdb_env_close(cas->env);
	arca_writelock_release(&cas->wlock); /* after LMDB's: it drops our record locks */
	if (cas->open_listed)
		unlist_open_index(cas); /* once no descriptor of it is left */
	pthread_mutex_destroy(&cas->fd_lock);
	free(cas->dir);
	free(cas->packdir);
	free(cas);
}

/* Opens named databases, creating them only when missing, so opening an
 * existing store never waits for the writer. */
/* A store made by an older version that we may not write lacks some
 * databases: they read as the main database, where no 32-byte or
 * "NAME:TAG" key exists, so lookups find nothing; only writers (refused
 * on such a store) would iterate them. */
static int open_dbis_readonly(arca_cas *cas, const char **names, MDB_dbi **dbis, size_t n)
{
	MDB_txn *txn;
	int mrc = arca_mdb_txn_begin(cas->env, MDB_RDONLY, &txn);
	if (mrc)
		return arca_lmdb_error(mrc, "open databases");
	for (size_t i = 0; i < n; i++) {
		mrc = mdb_dbi_open(txn, names[i], 0, dbis[i]);
		if (mrc == MDB_NOTFOUND)
			*dbis[i] = 0;
		else if (mrc) {
			mdb_txn_abort(txn);
			return arca_lmdb_error(mrc, "open databases");
		}
	}
	mrc = mdb_txn_commit(txn);
	return mrc ? arca_lmdb_error(mrc, "open databases") : 0;
}

int arca_cas_open_dbis(arca_cas *cas, const char **names, MDB_dbi **dbis, size_t n)
{
	MDB_txn *txn;
	int mrc = 0;

	for (int create = 0; create < 2; create++) {
		int rc;
		mrc = 0;
		rc = create ? arca_cas_write_txn_begin(cas, &txn) :
			(mrc = arca_mdb_txn_begin(cas->env, MDB_RDONLY, &txn)) != 0 ?
			arca_lmdb_error(mrc, "open databases") : 0;
		if (rc)
			return rc;
		for (size_t i = 0; i < n && !mrc; i++)
			mrc = mdb_dbi_open(txn, names[i], create ? MDB_CREATE : 0, dbis[i]);
		if (mrc) {
			if (create)
				arca_cas_write_txn_abort(cas, txn);
			else
				mdb_txn_abort(txn);
			if (mrc == MDB_NOTFOUND && !create && cas->wlock.readonly)
				return open_dbis_readonly(cas, names, dbis, n);
			if (mrc == MDB_NOTFOUND && !create)
				continue;
			return arca_lmdb_error(mrc, "open databases");
		}
		/* Committing (even read-only) keeps the handles open. */
		if (create)
			return arca_cas_write_txn_commit(cas, txn);
		mrc = mdb_txn_commit(txn);
		return mrc ? arca_lmdb_error(mrc, "open databases") : 0;
	}
	return arca_lmdb_error(mrc, "open databases");
}

int arca_cas_txn_read(arca_cas *cas, MDB_txn **out)
{
	int mrc = arca_mdb_txn_begin(cas->env, MDB_RDONLY, out);
	return mrc ? arca_lmdb_error(mrc, "begin read transaction") : 0;
}

int arca_meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int mrc = mdb_get(txn, dbi, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	if (mrc)
		return arca_lmdb_error(mrc, key);
	if (v.mv_size != 8)
		return arca_err_set(ARCA_ECORRUPT, "index: meta %s has bad size", key);
	*out = arca_get_le64(v.mv_data);
	return 0;
}

int arca_meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t value)
{
	uint8_t buf[8];
	MDB_val k = { strlen(key), (void *)key }, v = { 8, buf };
	int mrc;
	arca_put_le64(buf, value);
	mrc = mdb_put(txn, dbi, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, key) : 0;
}

int arca_meta_add_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, int64_t delta)
{
	uint64_t v;
	int rc = arca_meta_get_u64(txn, dbi, key, &v);
	if (rc)
		return rc;
	return arca_meta_put_u64(txn, dbi, key, v + (uint64_t)delta);
}

const char *arca_cas_packdir(const arca_cas *cas)
{
	return cas->packdir;
}

int arca_cas_readonly(const arca_cas *cas)
{
	return cas->wlock.readonly != NULL;
}

const uint8_t *arca_cas_params(const arca_cas *cas)
{
	return cas->params;
}

void arca_cas_set_pack_target(arca_cas *cas, uint32_t bytes)
{
	cas->pack_target = bytes;
}

int arca_cas_meta_get_u64(arca_cas *cas, MDB_txn *txn, const char *key, uint64_t *out)
{
	return arca_meta_get_u64(txn, cas->dbi_meta, key, out);
}

int arca_cas_meta_put_u64(arca_cas *cas, MDB_txn *txn, const char *key, uint64_t v)
{
	return arca_meta_put_u64(txn, cas->dbi_meta, key, v);
}

int arca_cas_meta_add_u64(arca_cas *cas, MDB_txn *txn, const char *key, int64_t delta)
{
	return arca_meta_add_u64(txn, cas->dbi_meta, key, delta);
}

int arca_cas_store_id_get(arca_cas *cas, MDB_txn *txn, uint8_t id[ARCA_STORE_ID_LEN])
{
	MDB_val k = { strlen(ARCA_META_STORE_ID), (void *)ARCA_META_STORE_ID }, v;
	int mrc = mdb_get(txn, cas->dbi_meta, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc)
		return arca_lmdb_error(mrc, "store id");
	if (v.mv_size != ARCA_STORE_ID_LEN)
		return arca_err_set(ARCA_ECORRUPT, "index: store id has bad size");
	memcpy(id, v.mv_data, ARCA_STORE_ID_LEN);
	return 1;
}

int arca_cas_store_id_put(arca_cas *cas, MDB_txn *txn, const uint8_t id[ARCA_STORE_ID_LEN])
{
	MDB_val k = { strlen(ARCA_META_STORE_ID), (void *)ARCA_META_STORE_ID },
		v = { ARCA_STORE_ID_LEN, (void *)id };
	int mrc = mdb_put(txn, cas->dbi_meta, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "store id") : 0;
}

void arca_cas_map_usage(arca_cas *cas, uint64_t *map_size, uint64_t *used)
{
	MDB_envinfo info;
	MDB_stat ms;
	mdb_env_info(cas->env, &info);
	mdb_env_stat(cas->env, &ms);
	*map_size = (uint64_t)info.me_mapsize;
	*used = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
}
