#include "cas/cas.h"
#include "util/array.h"
#include "cas/chunker.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

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
#define WRITE_BUF_LEN (1u << 20)

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

int arca_cas_pack_path(const arca_cas *cas, uint32_t no, char *out, size_t n)
{
	int k = snprintf(out, n, "%s/pack-%08u.arcp", cas->packdir, no);
	return k < 0 || (size_t)k >= n ? arca_err_set(ARCA_EINVAL, "pack path too long") : 0;
}

/* For callers that go on to open the path: one cut short (a store path
 * near PATH_MAX) ends before ".arcp", names no pack, and the open fails. */
static void pack_path(char *out, size_t n, const arca_cas *cas, uint32_t no)
{
	(void)arca_cas_pack_path(cas, no, out, n);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int arca_cas_pack_files(arca_cas *cas, uint32_t **nos, size_t *n)
{
	DIR *d = opendir(cas->packdir);
	struct dirent *de;
	uint32_t *v = NULL;
	size_t cnt = 0, cap = 0;

	*nos = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : arca_err_sys("list %s", cas->packdir);
	while ((de = readdir(d)) != NULL) {
		unsigned no;
		char tail;
		struct stat st;
		if (strlen(de->d_name) != 18 ||
		    sscanf(de->d_name, "pack-%8u.arcp%c", &no, &tail) != 1 || no == 0)
			continue;
		/* a directory or symlink by that name is no pack */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (arca_array_grow(&v, &cap, cnt + 1, sizeof(*v), 64) != 0) {
			free(v);
			closedir(d);
			return ARCA_ENOMEM;
		}
		v[cnt++] = no;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), u32_cmp);
	*nos = v;
	*n = cnt;
	return 0;
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
	char path[4096];
	int fd, ok;
	pack_path(path, sizeof(path), cas, no);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
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
		if ((mrc = mdb_env_set_maxdbs(cas->env, 16)) == 0 &&
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
	char path[4096];
	int k = snprintf(path, sizeof(path), "%s/index.lmdb", cas->dir);
	if (k < 0 || (size_t)k >= sizeof(path))
		return arca_err_set(ARCA_EINVAL, "store path too long");
	return check_index(cas, path);
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

size_t arca_chunk_loc_encode(uint8_t out[ARCA_LOC_GROUP_LEN], const arca_chunk_loc *loc)
{
	memset(out, 0, ARCA_LOC_GROUP_LEN);
	arca_put_le32(out, loc->pack);
	arca_put_le64(out + 4, loc->offset);
	arca_put_le32(out + 12, loc->stored_len);
	arca_put_le32(out + 16, loc->raw_len);
	out[20] = loc->codec;
	if (!loc->grouped)
		return ARCA_LOC_LEN;
	out[21] = 1;
	arca_put_le16(out + 22, loc->nmembers);
	arca_put_le32(out + 24, loc->member_off);
	arca_put_le32(out + 28, loc->group_raw);
	return ARCA_LOC_GROUP_LEN;
}

int arca_chunk_loc_decode(arca_chunk_loc *loc, const void *v, size_t n)
{
	const uint8_t *p = v;
	if (n != ARCA_LOC_LEN && n != ARCA_LOC_GROUP_LEN)
		return arca_err_set(ARCA_ECORRUPT, "index: chunk entry has %zu bytes", n);
	memset(loc, 0, sizeof(*loc));
	loc->pack = arca_get_le32(p);
	loc->offset = arca_get_le64(p + 4);
	loc->stored_len = arca_get_le32(p + 12);
	loc->raw_len = arca_get_le32(p + 16);
	loc->codec = p[20];
	if (loc->pack == 0 || loc->raw_len == 0 || loc->raw_len > ARCA_CHUNK_MAX_LIMIT ||
	    loc->stored_len == 0 || loc->stored_len > arca_record_stored_max() ||
	    loc->offset < ARCA_PACK_HEADER_LEN || loc->codec > ARCA_CODEC_ZSTD ||
	    (n == ARCA_LOC_LEN && p[21]))
		return arca_err_set(ARCA_ECORRUPT, "index: chunk entry out of range");
	if (n == ARCA_LOC_LEN)
		return p[22] || p[23] ? arca_err_set(ARCA_ECORRUPT, "index: chunk entry out of range") : 0;
	loc->grouped = 1;
	loc->nmembers = arca_get_le16(p + 22);
	loc->member_off = arca_get_le32(p + 24);
	loc->group_raw = arca_get_le32(p + 28);
	if (p[21] != 1 || loc->nmembers == 0 || loc->nmembers > ARCA_GROUP_MAX_MEMBERS ||
	    loc->group_raw > ARCA_GROUP_RAW_MAX || loc->member_off > loc->group_raw ||
	    loc->raw_len > loc->group_raw - loc->member_off)
		return arca_err_set(ARCA_ECORRUPT, "index: group member entry out of range");
	return 0;
}

uint64_t arca_chunk_loc_footprint(const arca_chunk_loc *loc)
{
	uint64_t whole = ARCA_RECORD_HEADER_LEN + (uint64_t)loc->stored_len;
	if (!loc->grouped)
		return whole;
	whole += (uint64_t)loc->nmembers * ARCA_GROUP_MEMBER_LEN;
	return loc->group_raw ? whole * loc->raw_len / loc->group_raw : whole;
}

int arca_cas_lookup(arca_cas *cas, MDB_txn *txn, const uint8_t id[32], arca_chunk_loc *loc)
{
	MDB_val k = { 32, (void *)id }, v;
	int mrc = mdb_get(txn, cas->dbi_chunks, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return ARCA_ENOTFOUND;
	if (mrc)
		return arca_lmdb_error(mrc, "chunk lookup");
	return arca_chunk_loc_decode(loc, v.mv_data, v.mv_size);
}

int arca_chunk_reader_init(arca_chunk_reader *r)
{
	memset(r, 0, sizeof(*r));
	return arca_decoder_new(&r->dec);
}

void arca_chunk_reader_release(arca_chunk_reader *r)
{
	arca_decoder_free(r->dec);
	free(r->stored);
	free(r->raw);
	free(r->graw);
	memset(r, 0, sizeof(*r));
}

static int ensure_cap(uint8_t **p, size_t *cap, size_t need)
{
	uint8_t *n;
	if (*cap >= need)
		return 0;
	n = realloc(*p, need);
	if (!n)
		return arca_err_set(ARCA_ENOMEM, "out of memory (%zu bytes)", need);
	*p = n;
	*cap = need;
	return 0;
}

static int pack_fd(arca_cas *cas, uint32_t no, int *out)
{
	int rc = 0;
	char path[4096];

	pthread_mutex_lock(&cas->fd_lock);
	if (no >= cas->npack_fds) {
		size_t n = no + 16;
		int *fds = realloc(cas->pack_fds, n * sizeof(int));
		if (!fds) {
			rc = arca_err_set(ARCA_ENOMEM, "out of memory");
			goto done;
		}
		for (size_t i = cas->npack_fds; i < n; i++)
			fds[i] = -1;
		cas->pack_fds = fds;
		cas->npack_fds = n;
	}
	if (cas->pack_fds[no] < 0) {
		pack_path(path, sizeof(path), cas, no);
		cas->pack_fds[no] = open(path, O_RDONLY | O_CLOEXEC);
		if (cas->pack_fds[no] < 0) {
			rc = arca_err_sys("open pack %08u", no);
			if (rc == ARCA_ENOTFOUND)
				rc = ARCA_ECORRUPT;
			goto done;
		}
	}
	*out = cas->pack_fds[no];
done:
	pthread_mutex_unlock(&cas->fd_lock);
	return rc;
}

/* Reads `total` bytes of the record at `loc` into r->stored. */
static int read_record_bytes(arca_cas *cas, const arca_chunk_loc *loc, size_t total,
		arca_chunk_reader *r, const char *what)
{
	ssize_t got;
	int fd, rc;
	r->gvalid = 0; /* r->stored is about to hold this record */
	if ((rc = pack_fd(cas, loc->pack, &fd)) != 0 ||
	    (rc = ensure_cap(&r->stored, &r->stored_cap, total)) != 0)
		return rc;
	got = arca_pread_full(fd, r->stored, total, (off_t)loc->offset);
	if (got < 0)
		return arca_err_sys("pack %08u: read at %llu", loc->pack,
			(unsigned long long)loc->offset);
	if ((size_t)got != total)
		return arca_err_set(ARCA_ECORRUPT, "pack %08u: %s at %llu is truncated",
			loc->pack, what, (unsigned long long)loc->offset);
	return 0;
}

int arca_cas_load_group(arca_cas *cas, const arca_chunk_loc *loc, arca_chunk_reader *r,
		const uint8_t **table)
{
	size_t tlen = (size_t)loc->nmembers * ARCA_GROUP_MEMBER_LEN;
	size_t total = ARCA_RECORD_HEADER_LEN + tlen + (size_t)loc->stored_len;
	arca_group g;
	int rc;

	if (r->gvalid && r->gpack == loc->pack && r->goff == loc->offset) {
		*table = r->stored + ARCA_RECORD_HEADER_LEN;
		return 0;
	}
	if ((rc = ensure_cap(&r->graw, &r->graw_cap, loc->group_raw)) != 0 ||
	    (rc = read_record_bytes(cas, loc, total, r, "group")) != 0)
		return rc;
	if ((rc = arca_group_decode(&g, r->stored, total)) != 0 ||
	    (rc = arca_group_table_check(&g, r->stored + ARCA_RECORD_HEADER_LEN)) != 0)
		return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
			(unsigned long long)loc->offset);
	if (g.nmembers != loc->nmembers || g.raw_len != loc->group_raw ||
	    g.stored_len != loc->stored_len || g.codec != loc->codec)
		return arca_err_set(ARCA_ECORRUPT,
			"pack %08u offset %llu: group does not match the index",
			loc->pack, (unsigned long long)loc->offset);
	if ((rc = arca_group_unpack(r->dec, &g, r->stored + ARCA_RECORD_HEADER_LEN + tlen,
			r->graw, r->graw_cap)) != 0)
		return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
			(unsigned long long)loc->offset);
	r->gvalid = 1;
	r->gpack = loc->pack;
	r->goff = loc->offset;
	*table = r->stored + ARCA_RECORD_HEADER_LEN;
	return 0;
}

/* A member of a group record: the group (decompressed once for
 * consecutive members) must list it where the index says; its bytes must
 * hash to its id. */
static int read_member(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw)
{
	const uint8_t *t;
	uint8_t digest[32];
	uint64_t off = 0;
	int found = 0, rc;

	if ((rc = arca_cas_load_group(cas, loc, r, &t)) != 0)
		return rc;
	for (uint32_t i = 0; i < loc->nmembers && off <= loc->member_off; i++) {
		const uint8_t *m = t + (size_t)i * ARCA_GROUP_MEMBER_LEN;
		if (off == loc->member_off && !memcmp(m, id, 32) &&
		    arca_get_le32(m + 32) == loc->raw_len)
			found = 1;
		off += arca_get_le32(m + 32);
	}
	if (!found)
		return arca_err_set(ARCA_ECORRUPT, "pack %08u offset %llu: group has no such member",
			loc->pack, (unsigned long long)loc->offset);
	if ((rc = arca_sha256_digest(digest, r->graw + loc->member_off, loc->raw_len)) != 0)
		return rc;
	if (memcmp(digest, id, 32) != 0) {
		char hex[17];
		arca_hex_encode(hex, id, 8);
		return arca_err_set(ARCA_ECORRUPT, "pack %08u: chunk %s: content does not match its id",
			loc->pack, hex);
	}
	*raw = r->graw + loc->member_off;
	return 0;
}

int arca_cas_read(arca_cas *cas, const arca_chunk_loc *loc, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw)
{
	size_t total = ARCA_RECORD_HEADER_LEN + (size_t)loc->stored_len;
	arca_record rec;
	int rc;

	if (loc->grouped)
		return read_member(cas, loc, id, r, raw);
	if ((rc = ensure_cap(&r->raw, &r->raw_cap, loc->raw_len)) != 0 ||
	    (rc = read_record_bytes(cas, loc, total, r, "record")) != 0)
		return rc;
	if ((rc = arca_record_decode(&rec, r->stored, total)) != 0)
		return arca_err_wrap(rc, "pack %08u offset %llu", loc->pack,
			(unsigned long long)loc->offset);
	if (memcmp(rec.id, id, 32) != 0 || rec.raw_len != loc->raw_len ||
	    rec.stored_len != loc->stored_len || rec.codec != loc->codec)
		return arca_err_set(ARCA_ECORRUPT,
			"pack %08u offset %llu: record does not match the index",
			loc->pack, (unsigned long long)loc->offset);
	rc = arca_record_unpack(r->dec, &rec, r->stored + ARCA_RECORD_HEADER_LEN,
		r->raw, r->raw_cap);
	if (rc)
		return arca_err_wrap(rc, "pack %08u", loc->pack);
	*raw = r->raw;
	return 0;
}

int arca_cas_get(arca_cas *cas, MDB_txn *txn, const uint8_t id[32],
		arca_chunk_reader *r, const uint8_t **raw, uint32_t *len)
{
	arca_chunk_loc loc;
	int rc = arca_cas_lookup(cas, txn, id, &loc);
	if (rc == ARCA_ENOTFOUND)
		return arca_err_set(ARCA_ECORRUPT, "chunk missing from the store");
	if (rc)
		return rc;
	if ((rc = arca_cas_read(cas, &loc, id, r, raw)) != 0)
		return rc;
	*len = loc.raw_len;
	return 0;
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

/* ---- writer ---- */

struct arca_cas_writer {
	arca_cas *cas;
	MDB_txn *txn;
	uint8_t mac_key[32];
	uint32_t pack_no;      /* current pack, 0 = none open yet */
	int fd;
	uint64_t pack_len;     /* logical length incl. buffered bytes */
	uint32_t next_pack;    /* number for the next new pack (never reused) */
	int force_new;         /* start a new pack before the next append */
	uint64_t first_pack_committed; /* committed length of the pack we appended to */
	uint32_t first_pack_no;
	int created_pack;
	uint8_t *wbuf;
	size_t wlen;
	int64_t d_chunks, d_unique, d_stored;
	ZSTD_CCtx *cctx;       /* for put_raw */
	uint8_t *cbuf;
	size_t cbuf_cap;
	uint64_t jseq;         /* next journal sequence number */
	uint64_t jseq_start;
	uint64_t ndamaged;     /* entries in `damaged` when we began */
	uint32_t jtag;         /* tag of this writer's meta records */
};

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
static int repair_tails(arca_cas *cas, uint32_t last_no, uint64_t last_len, uint32_t next,
		int next_known, uint64_t jseq)
{
	char path[4096];
	struct stat st;

	if (last_no > 0) {
		pack_path(path, sizeof(path), cas, last_no);
		if (stat(path, &st) < 0)
			return arca_err_set(ARCA_ECORRUPT,
				"pack %08u is missing; run 'arca repair'", last_no);
		if ((uint64_t)st.st_size < last_len)
			return arca_err_set(ARCA_ECORRUPT,
				"pack %08u is shorter (%lld bytes) than committed (%llu); run 'arca repair'",
				last_no, (long long)st.st_size, (unsigned long long)last_len);
		if ((uint64_t)st.st_size > last_len && tail_proves_stale(cas, path, last_len, jseq))
			return stale_index(last_no);
	}
	/* Only a recorded pack.next proves a higher-numbered pack was never
	 * committed: without it, nothing is deleted. Nothing is cut either
	 * before every candidate was checked. */
	for (uint32_t no = next; next_known; no++) {
		pack_path(path, sizeof(path), cas, no);
		if (access(path, F_OK) < 0)
			break;
		if (tail_proves_stale(cas, path, 0, jseq))
			return stale_index(no);
	}
	if (last_no > 0) {
		pack_path(path, sizeof(path), cas, last_no);
		if (stat(path, &st) == 0 && (uint64_t)st.st_size > last_len &&
		    truncate(path, (off_t)last_len) < 0)
			return arca_err_sys("truncate torn tail of pack %08u", last_no);
	}
	for (uint32_t no = next; next_known; no++) {
		pack_path(path, sizeof(path), cas, no);
		if (unlink(path) < 0) {
			if (errno == ENOENT)
				break;
			return arca_err_sys("remove uncommitted pack %08u", no);
		}
	}
	return 0;
}

/* A handle opened before `arca repair` renamed a new index into place
 * still maps the old file: its commits would land where nobody looks. */
static int index_still_ours(arca_cas *cas)
{
	mdb_filehandle_t fd;
	struct stat a, b;
	char path[4096];
	if (mdb_env_get_fd(cas->env, &fd) != 0 || fstat(fd, &a) < 0 ||
	    snprintf(path, sizeof(path), "%s/index.lmdb", cas->dir) >= (int)sizeof(path))
		return 0;
	if (stat(path, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
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
		w->next_pack = (uint32_t)next;
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
		char path[4096];
		pack_path(path, sizeof(path), cas, no);
		w->fd = open(path, O_WRONLY | O_CLOEXEC);
		if (w->fd < 0) {
			rc = arca_err_sys("open pack %08u", no);
			arca_cas_writer_abort(w);
			return rc;
		}
		w->pack_no = no;
		w->pack_len = len;
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

const uint8_t *arca_cas_writer_mac_key(arca_cas_writer *w)
{
	return w->mac_key;
}

int arca_cas_writer_put_mac(arca_cas_writer *w, const uint8_t id[32], const uint8_t tag[16])
{
	MDB_val k = { 32, (void *)id }, v = { 16, (void *)tag };
	int mrc = mdb_put(w->txn, w->cas->dbi_macs, &k, &v, MDB_NOOVERWRITE);
	return mrc && mrc != MDB_KEYEXIST ? arca_lmdb_error(mrc, "record chunk MAC") : 0;
}

int arca_cas_mac_key(arca_cas *cas, MDB_txn *txn, uint8_t key[32])
{
	MDB_val k = { strlen(ARCA_META_MAC_KEY), (void *)ARCA_META_MAC_KEY }, v;
	int mrc = mdb_get(txn, cas->dbi_meta, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc)
		return arca_lmdb_error(mrc, "store key");
	if (v.mv_size != 32)
		return arca_err_set(ARCA_ECORRUPT, "index: store key has bad size");
	memcpy(key, v.mv_data, 32);
	return 1;
}

int arca_cas_mac_get(arca_cas *cas, MDB_txn *txn, const uint8_t id[32], uint8_t tag[16])
{
	MDB_val k = { 32, (void *)id }, v;
	if (mdb_get(txn, cas->dbi_macs, &k, &v) != 0 || v.mv_size != 16)
		return 0;
	memcpy(tag, v.mv_data, 16);
	return 1;
}

int arca_cas_writer_has(arca_cas_writer *w, const uint8_t id[32])
{
	MDB_val k = { 32, (void *)id }, v;
	return mdb_get(w->txn, w->cas->dbi_chunks, &k, &v) == 0;
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
	return 0;
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

static int append_meta(arca_cas_writer *w, uint8_t type, uint8_t flags, const void *a,
		size_t alen, const void *b, size_t blen, uint64_t *seq);

/* Finishes the current pack (durable, length recorded) and starts the next. */
static int rotate_pack(arca_cas_writer *w)
{
	char path[4096];
	uint8_t hdr[ARCA_PACK_HEADER_LEN];
	int rc;

	if (w->fd >= 0) {
		if ((rc = flush_wbuf(w)) != 0)
			return rc;
		if (arca_fdatasync(w->fd) < 0)
			return arca_err_sys("sync pack %08u", w->pack_no);
		if ((rc = record_pack_len(w)) != 0)
			return rc;
		close(w->fd);
		w->fd = -1;
	}
	w->pack_no = w->next_pack++;
	if ((rc = arca_meta_put_u64(w->txn, w->cas->dbi_meta, ARCA_META_PACK_NEXT, w->next_pack)) != 0)
		return rc;
	pack_path(path, sizeof(path), w->cas, w->pack_no);
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0 || fchmod(w->fd, 0600) < 0) /* 0600 whatever the umask */
		return arca_err_sys("create pack %08u", w->pack_no);
	w->created_pack = 1;
	arca_pack_header_encode(hdr, w->pack_no);
	memcpy(w->wbuf, hdr, sizeof(hdr));
	w->wlen = sizeof(hdr);
	w->pack_len = sizeof(hdr);
	/* every pack says how its store chunks, for a rebuilt index */
	if (w->cas->have_params)
		return append_meta(w, ARCA_META_PARAMS, 0, w->cas->params, sizeof(w->cas->params),
			NULL, 0, NULL);
	return 0;
}

/* Starts a new pack when a record of rec_len bytes should not go in this one. */
static int make_room(arca_cas_writer *w, size_t rec_len)
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

static int append(arca_cas_writer *w, const void *p, size_t n)
{
	int rc;
	if (w->wlen + n > WRITE_BUF_LEN && (rc = flush_wbuf(w)) != 0)
		return rc;
	if (n > WRITE_BUF_LEN) {
		if (arca_pwrite_all(w->fd, p, n, (off_t)w->pack_len) < 0)
			return arca_err_sys("write pack %08u", w->pack_no);
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

	if ((rc = make_room(w, rec_len)) != 0)
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
	if ((rc = append(w, hdr, sizeof(hdr))) != 0)
		return rc;
	return append(w, stored, stored_len);
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
	if ((rc = make_room(w, rec_len)) != 0)
		goto done;
	at = w->pack_len;
	if ((rc = append(w, hdr, sizeof(hdr))) != 0 || (rc = append(w, table, tlen)) != 0 ||
	    (rc = append(w, stored, stored_len)) != 0)
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

int arca_cas_writer_retire_pack(arca_cas_writer *w, uint32_t no)
{
	uint8_t kb[4], vb[8];
	MDB_val k = { 4, kb }, v = { 8, vb };
	int mrc;

	if (no == w->pack_no && w->fd >= 0) {
		/* nothing more goes into it; the next append opens a new pack */
		close(w->fd);
		w->fd = -1;
		w->wlen = 0;
		w->pack_len = UINT64_MAX;
		w->first_pack_no = 0;
	}
	arca_put_be32(kb, no);
	mrc = mdb_del(w->txn, w->cas->dbi_packs, &k, NULL);
	if (mrc && mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "retire pack");
	/* readers whose snapshot predates this transaction may still read it */
	arca_put_le64(vb, (uint64_t)mdb_txn_id(w->txn));
	mrc = mdb_put(w->txn, w->cas->dbi_dead, &k, &v, 0);
	return mrc ? arca_lmdb_error(mrc, "retire pack") : 0;
}

int arca_cas_writer_add_stats(arca_cas_writer *w, int64_t chunks, int64_t unique, int64_t stored)
{
	w->d_chunks += chunks;
	w->d_unique += unique;
	w->d_stored += stored;
	return 0;
}

/* Oldest transaction any live reader is using; UINT64_MAX when none. */
static int oldest_reader_msg(const char *msg, void *ctx)
{
	uint64_t *oldest = ctx;
	unsigned long long pid, txn;
	char thread[64];
	if (sscanf(msg, "%llu %63s %llu", &pid, thread, &txn) == 3 && txn < *oldest)
		*oldest = txn;
	return 0;
}

int arca_cas_reap_dead_packs(arca_cas *cas, uint64_t *deleted, uint64_t *pending)
{
	uint64_t oldest = UINT64_MAX;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char path[4096];
	int dead, rc = 0, mrc;

	*deleted = *pending = 0;
	/* Take the write lock first: then no other gc can retire a pack
	 * between our look at the readers and the deletions. */
	if ((rc = arca_cas_write_txn_begin(cas, &txn)) != 0)
		return rc;
	mdb_reader_check(cas->env, &dead);
	if (mdb_reader_list(cas->env, oldest_reader_msg, &oldest) < 0) {
		rc = arca_err_set(ARCA_ERROR, "index: cannot list readers");
		goto done;
	}
	if ((mrc = mdb_cursor_open(txn, cas->dbi_dead, &cur)) != 0) {
		rc = arca_lmdb_error(mrc, "dead packs cursor");
		goto done;
	}
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		uint32_t no;
		if (k.mv_size != 4 || v.mv_size != 8) {
			rc = arca_err_set(ARCA_ECORRUPT, "index: bad dead pack entry");
			goto done;
		}
		no = arca_get_be32(kp);
		if (arca_get_le64(v.mv_data) > oldest) {
			(*pending)++;
			continue;
		}
		pack_path(path, sizeof(path), cas, no);
		if (unlink(path) < 0 && errno != ENOENT) {
			rc = arca_err_sys("remove pack %08u", no);
			goto done;
		}
		/* our own cached descriptor would keep the space in use */
		pthread_mutex_lock(&cas->fd_lock);
		if (no < cas->npack_fds && cas->pack_fds[no] >= 0) {
			close(cas->pack_fds[no]);
			cas->pack_fds[no] = -1;
		}
		pthread_mutex_unlock(&cas->fd_lock);
		if ((mrc = mdb_cursor_del(cur, 0)) != 0) {
			rc = arca_lmdb_error(mrc, "dead packs");
			goto done;
		}
		(*deleted)++;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	rc = arca_cas_write_txn_commit(cas, txn);
	txn = NULL;
done:
	if (cur)
		mdb_cursor_close(cur);
	arca_cas_write_txn_abort(cas, txn);
	return rc;
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
	if ((rc = ensure_cap(&w->cbuf, &w->cbuf_cap, bound)) != 0)
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
	ZSTD_freeCCtx(w->cctx);
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
	if (w->cas->active == w)
		w->cas->active = NULL;
	arca_cas_write_txn_abort(w->cas, w->txn);
	writer_free(w);
}

/* ---- journal ---- */

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
static int append_meta(arca_cas_writer *w, uint8_t type, uint8_t flags, const void *a,
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
	if ((rc = append(w, hdr, sizeof(hdr))) != 0 || (alen && (rc = append(w, a, alen)) != 0) ||
	    (blen && (rc = append(w, b, blen)) != 0))
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
	if ((rc = make_room(w, rec_len)) != 0)
		return rc;
	return append_meta(w, type, flags, a, alen, b, blen, seq);
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
	int fd, rc;

	if ((rc = pack_fd(cas, l->pack, &fd)) != 0)
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
