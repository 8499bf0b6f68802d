#include "store/fill.h"
#include "store/walk.h"
#include "store/manifest.h"
#include "store/envs.h"
#include "store/store.h"
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

static void pool_fail(fill_pool *p, int rc)
{
	arca_firsterr_set(&p->err, rc);
	pthread_mutex_lock(&p->mu);
	pthread_cond_broadcast(&p->cv_space);
	pthread_cond_broadcast(&p->cv_jobs);
	pthread_mutex_unlock(&p->mu);
}

/* Sets the owner if it can; 0 when it could not, 1 when the file has it. */
static int set_owner(fill_pool *p, int fd, uint32_t uid, uint32_t gid, uint32_t mode)
{
	struct stat st;
	if (p->as_root) {
		if (fchown(fd, uid, gid) == 0)
			return 1;
		return errno == EPERM ? 0 : arca_err_sys("chown");
	}
	/* as a user, only a setuid/setgid file needs the right owner */
	if (!(mode & 06000))
		return 1;
	if (fstat(fd, &st) == 0 && st.st_uid == uid && st.st_gid == gid)
		return 1;
	return fchown(fd, uid, gid) == 0;
}

static uint32_t safe_mode(fill_pool *p, uint32_t mode, int owned)
{
	if (owned || !(mode & 06000))
		return mode;
	/* a setuid file owned by whoever restored it is not the original */
	pthread_mutex_lock(&p->mu);
	p->setid_dropped++;
	pthread_mutex_unlock(&p->mu);
	return mode & ~(uint32_t)06000;
}

int arca_fill_apply_meta(fill_pool *p, int fd, const fill_file *f)
{
	struct timespec ts[2];
	int owned = set_owner(p, fd, f->uid, f->gid, f->mode);
	if (owned < 0)
		return owned;
	if (fchmod(fd, safe_mode(p, f->mode, owned)) < 0)
		return arca_err_sys("chmod");
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = f->mtime;
	if (futimens(fd, ts) < 0)
		return arca_err_sys("set mtime");
	return 0;
}

int arca_fill_meta_matches(const fill_pool *p, const struct stat *st, const fill_file *m)
{
	int owned = st->st_uid == m->uid && st->st_gid == m->gid;
	/* what apply_meta gives when it cannot own the file: no setid bits */
	uint32_t mode = owned ? m->mode : m->mode & ~(uint32_t)06000;
	return (!p->as_root || owned) && (st->st_mode & 07777) == (mode & 07777) &&
		st->st_mtim.tv_sec == m->mtime.tv_sec && st->st_mtim.tv_nsec == m->mtime.tv_nsec;
}

void arca_fill_take_meta(fill_file *m, const arca_mf_entry *e)
{
	m->mode = e->mode;
	m->uid = e->uid;
	m->gid = e->gid;
	m->mtime.tv_sec = e->mtime_sec;
	m->mtime.tv_nsec = e->mtime_nsec;
}

fill_file *arca_fill_file_new(int fd)
{
	fill_file *f = calloc(1, sizeof(*f));
	if (f) {
		f->fd = fd;
		f->refs = 1;
	}
	return f;
}

int arca_fill_file_release(fill_pool *p, fill_file *f)
{
	int last, rc = 0;
	pthread_mutex_lock(&p->mu);
	last = --f->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (!last)
		return 0;
	/* a file that missed some of its content keeps no final metadata, so
	 * a rerun of the rollback does not take it as unchanged */
	if (f->tree && !f->failed && !arca_firsterr_code(&p->err))
		rc = arca_fill_apply_meta(p, f->fd, f);
	if (close(f->fd) < 0 && !rc)
		rc = arca_err_sys("close");
	free(f);
	return rc;
}

/* 1 when the destination already holds the chunk at j->off: compared by
 * the store's keyed MAC when the chunk has one (fast), else by SHA-256. */
static int already_there(fill_pool *p, void *src, fill_job *j, uint8_t **buf, size_t *cap)
{
	uint8_t d[32], tag[ARCA_MAC_LEN];
	ssize_t got;
	if (*cap < j->len) {
		uint8_t *n = realloc(*buf, j->len);
		if (!n)
			return 0;
		*buf = n;
		*cap = j->len;
	}
	got = arca_pread_full(j->f->fd, *buf, j->len, (off_t)j->off);
	if (got != (ssize_t)j->len)
		return 0;
	if (p->have_key && p->src.mac && p->src.mac(p->src.ctx, src, j->id, tag) == 1)
		return arca_mac(d, p->mac_key, j->id, *buf, j->len) == 0 &&
			memcmp(d, tag, ARCA_MAC_LEN) == 0;
	return arca_sha256_digest(d, *buf, j->len) == 0 && memcmp(d, j->id, 32) == 0;
}

#define RUN_MIN 16
#define RUN_MAX FILL_QUEUE_LEN

static int same_record(const fill_job *a, const fill_job *b)
{
	return a->grouped && b->grouped && a->gkey == b->gkey;
}

/* Takes up to RUN_MIN queued jobs at once, and then the rest of the last
 * one's record: consecutive jobs usually come from one group record,
 * which is then decompressed by one worker, once. */
static size_t pop_run(fill_pool *p, fill_job *out)
{
	size_t n = 0;
	pthread_mutex_lock(&p->mu);
	while (!p->count && !p->closing && !arca_firsterr_code(&p->err))
		pthread_cond_wait(&p->cv_jobs, &p->mu);
	while (p->count && !arca_firsterr_code(&p->err) &&
	       (n < RUN_MIN || (n < RUN_MAX && same_record(&out[n - 1], &p->q[p->head])))) {
		out[n++] = p->q[p->head];
		p->head = (p->head + 1) % FILL_QUEUE_LEN;
		p->count--;
	}
	pthread_cond_broadcast(&p->cv_space);
	pthread_mutex_unlock(&p->mu);
	return n;
}

static int do_job(fill_pool *p, fill_job *j, void *src, uint8_t **cmp, size_t *cmp_cap)
{
	const uint8_t *raw;
	uint32_t len;
	int same = j->compare && already_there(p, src, j, cmp, cmp_cap), rc = 0;

	if (!same) {
		rc = p->src.get(p->src.ctx, src, j->id, &raw, &len);
		if (!rc && len != j->len)
			rc = arca_err_set(ARCA_ECORRUPT, "chunk length differs from the manifest");
		if (!rc && arca_pwrite_all(j->f->fd, raw, len, (off_t)j->off) < 0)
			rc = arca_err_sys("write");
	}
	pthread_mutex_lock(&p->mu);
	if (rc) {
		j->f->failed = 1;
	} else {
		if (j->compare)
			p->bytes_compared += j->len;
		if (!same) {
			p->bytes_written += j->len;
			p->chunks_differing += j->compare;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static void *worker_main(void *arg)
{
	fill_pool *p = arg;
	void *src = NULL;
	uint8_t *cmp = NULL;
	size_t cmp_cap = 0, n;
	fill_job run[RUN_MAX];
	int rc;

	if ((rc = p->src.state_new(p->src.ctx, &src)) != 0) {
		src = NULL;
		goto out;
	}
	while (!rc && (n = pop_run(p, run)) > 0) {
		for (size_t i = 0; i < n; i++) {
			int rc2;
			if (!rc) {
				rc = do_job(p, &run[i], src, &cmp, &cmp_cap);
			} else {
				pthread_mutex_lock(&p->mu); /* other workers mark it too */
				run[i].f->failed = 1;
				pthread_mutex_unlock(&p->mu);
			}
			rc2 = arca_fill_file_release(p, run[i].f);
			if (!rc)
				rc = rc2;
		}
	}
out:
	if (rc)
		pool_fail(p, rc);
	if (src)
		p->src.state_free(p->src.ctx, src);
	free(cmp);
	/* after a failure, release what is left so every file is closed */
	for (;;) {
		fill_job j;
		pthread_mutex_lock(&p->mu);
		if (!p->count || !arca_firsterr_code(&p->err)) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		j = p->q[p->head];
		p->head = (p->head + 1) % FILL_QUEUE_LEN;
		p->count--;
		j.f->failed = 1;
		pthread_mutex_unlock(&p->mu);
		arca_fill_file_release(p, j.f);
	}
	return NULL;
}

int arca_fill_start(fill_pool *p, arca_store *s)
{
	return arca_fill_start_src(p, s, NULL);
}

int arca_fill_start_src(fill_pool *p, arca_store *s, const arca_chunk_source *src)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = s && s->threads ? s->threads : (ncpu < 1 ? 1 : (unsigned)ncpu);
	memset(p, 0, sizeof(*p));
	p->s = s;
	p->src = src ? *src : arca_store__cas_source(s);
	p->as_root = geteuid() == 0;
	if (s) {
		struct stat st;
		/* the store may be inside DEST: it is never touched */
		if (s->dir && stat(s->dir, &st) == 0) {
			p->guard.have_keep = 1;
			p->guard.keep_dev = st.st_dev;
			p->guard.keep_ino = st.st_ino;
		}
		if (arca_cas_packdir(s->cas) && stat(arca_cas_packdir(s->cas), &st) == 0) {
			p->have_packs = 1;
			p->packs_dev = st.st_dev;
			p->packs_ino = st.st_ino;
		}
		if (s->dir) {
			arca_buf envs = ARCA_BUF_INIT(PATH_MAX);
			if (arca_buf_setf(&envs, "%s/" ARCA_STORE_ENVS_DIR, s->dir) == 0 &&
			    lstat(arca_buf_cstr(&envs), &st) == 0 && S_ISDIR(st.st_mode)) {
				p->have_envs = 1;
				p->envs_dev = st.st_dev;
				p->envs_ino = st.st_ino;
			}
			arca_buf_release(&envs);
		}
	}
	if (s) {
		MDB_txn *txn;
		if (arca_cas_txn_read(s->cas, &txn) == 0) {
			p->have_key = arca_cas_mac_key(s->cas, txn, p->mac_key) == 1;
			mdb_txn_abort(txn);
		}
	}
	arca_firsterr_init(&p->err);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_space, NULL);
	pthread_cond_init(&p->cv_jobs, NULL);
	if (n > FILL_MAX_THREADS)
		n = FILL_MAX_THREADS;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
			pool_fail(p, arca_err_set(ARCA_ERROR, "cannot start worker thread"));
			break;
		}
		p->nthreads++;
	}
	return arca_firsterr_code(&p->err);
}

int arca_fill_finish(fill_pool *p)
{
	int rc;
	pthread_mutex_lock(&p->mu);
	p->closing = 1;
	pthread_cond_broadcast(&p->cv_jobs);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	if (p->pstate)
		p->src.state_free(p->src.ctx, p->pstate);
	p->pstate = NULL;
	pthread_cond_destroy(&p->cv_space);
	pthread_cond_destroy(&p->cv_jobs);
	pthread_mutex_destroy(&p->mu);
	rc = arca_firsterr_raise(&p->err);
	arca_firsterr_release(&p->err);
	return rc;
}

int arca_fill_progress(fill_pool *p, uint64_t items, uint64_t bytes)
{
	int rc = p->progress ? arca_progress__add(p->progress, items, bytes) : 0;
	if (rc)
		pool_fail(p, rc);
	return rc;
}

int arca_fill_push(fill_pool *p, fill_file *f, uint64_t off, uint32_t len, const uint8_t id[32],
		int compare)
{
	fill_job *j;
	uint64_t gkey = 0;
	int grouped = 0, rc;
	if (p->src.group && !p->pstate_failed) {
		if (!p->pstate && p->src.state_new(p->src.ctx, &p->pstate) != 0) {
			p->pstate = NULL;
			p->pstate_failed = 1; /* only the grouping is lost */
		}
		if (p->pstate)
			grouped = p->src.group(p->src.ctx, p->pstate, id, &gkey) == 1;
	}
	pthread_mutex_lock(&p->mu);
	while (p->count == FILL_QUEUE_LEN && !arca_firsterr_code(&p->err))
		pthread_cond_wait(&p->cv_space, &p->mu);
	if ((rc = arca_firsterr_code(&p->err)) != 0) {
		pthread_mutex_unlock(&p->mu);
		return rc;
	}
	j = &p->q[(p->head + p->count) % FILL_QUEUE_LEN];
	j->f = f;
	j->off = off;
	j->len = len;
	j->compare = compare;
	j->grouped = grouped;
	j->gkey = gkey;
	memcpy(j->id, id, 32);
	f->refs++;
	p->count++;
	pthread_cond_signal(&p->cv_jobs);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Makes [off, off+len) read as zeros. keep_alloc: FALLOC_FL_ZERO_RANGE
 * first, which marks the blocks unwritten and frees nothing, so costs no
 * discard on a mount with online discard (a punch there waits for the
 * device). Else a punched hole, else zeros. */
static int zero_piece(int fd, uint64_t off, uint64_t len, int keep_alloc)
{
	static const uint8_t zeros[65536];
	if (keep_alloc &&
	    arca_fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (arca_fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
		return arca_err_sys("punch a hole");
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		if (arca_pwrite_all(fd, zeros, n, (off_t)off) < 0)
			return arca_err_sys("write zeros");
		off += n;
		len -= n;
	}
	return 0;
}

int arca_fill_zero_range(int fd, uint64_t off, uint64_t len, int keep_alloc)
{
	uint64_t end = off + len;
	/* Only the pieces that hold data: punching a long range that is
	 * mostly a hole already costs the filesystem far more. */
	while (off < end) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA), hole;
		int rc;
		if (data < 0)
			return errno == ENXIO ? 0 : zero_piece(fd, off, end - off, keep_alloc);
		if ((uint64_t)data >= end)
			return 0;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > end)
			hole = (off_t)end;
		if ((rc = zero_piece(fd, (uint64_t)data, (uint64_t)(hole - data), keep_alloc)) != 0)
			return rc;
		off = (uint64_t)hole;
	}
	return 0;
}

int arca_fill_extents(fill_pool *p, arca_mf_reader *r, fill_file *f, int compare, int punch_holes,
		uint64_t *size)
{
	uint8_t id[32];
	uint64_t off = 0, len;
	int has_id, rc;

	while ((rc = arca_mf_next_extent(r, id, &len, &has_id)) == 1) {
		if (has_id) {
			if ((rc = arca_fill_push(p, f, off, (uint32_t)len, id, compare)) != 0)
				return rc;
		} else if (punch_holes &&
			   (rc = arca_fill_zero_range(f->fd, off, len, p->keep_alloc)) != 0) {
			return rc;
		}
		off += len;
		if ((rc = arca_fill_progress(p, 0, len)) != 0)
			return rc;
	}
	*size = off;
	return rc;
}

int arca_fill_link_meta(fill_pool *p, int dirfd, const char *name, const arca_mf_entry *e,
		int is_symlink)
{
	struct timespec ts[2];
	struct stat st;
	fill_file m;
	int fd, rc;

	if (!is_symlink) {
		/* O_NONBLOCK: a fifo opens at once, without a writer */
		fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return arca_err_sys("open %s", e->path);
		if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
			close(fd);
			return arca_err_set(ARCA_EUNSAFE, "%s was replaced while being restored", e->path);
		}
		arca_fill_take_meta(&m, e);
		rc = arca_fill_apply_meta(p, fd, &m);
		close(fd);
		return rc ? arca_err_wrap(rc, "%s", e->path) : 0;
	}
	/* the symlink itself, never what it points to */
	if (p->as_root && fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EPERM)
		return arca_err_sys("chown %s", e->path);
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = e->mtime_sec;
	ts[1].tv_nsec = e->mtime_nsec;
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return arca_err_sys("set mtime of %s", e->path);
	return 0;
}

int arca_fill_guard_root(fill_pool *p, int rootfd, const char *dest)
{
	struct stat st, up;
	int fd, rc = 0;

	if (arca_lstat_mnt(rootfd, "", &st, &p->guard.mount) < 0)
		return arca_err_sys("stat %s", dest);
	if (!p->guard.have_keep)
		return 0;
	/* DEST or one of the directories above it is the store */
	if ((fd = dup(rootfd)) < 0)
		return arca_err_sys("dup");
	for (int i = 0; i < 4096; i++) {
		int next;
		/* an env's files (env/): the env layer's, below the store */
		if (i > 0 && p->have_envs && st.st_dev == p->envs_dev && st.st_ino == p->envs_ino)
			break;
		if ((st.st_dev == p->guard.keep_dev && st.st_ino == p->guard.keep_ino) ||
		    (p->have_packs && st.st_dev == p->packs_dev && st.st_ino == p->packs_ino)) {
			rc = arca_err_set(ARCA_EUNSAFE, "%s is inside the store", dest);
			break;
		}
		if ((next = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			break;
		close(fd);
		fd = next;
		if (fstat(fd, &up) < 0 || (up.st_dev == st.st_dev && up.st_ino == st.st_ino))
			break; /* the root */
		st = up;
	}
	close(fd);
	return rc;
}

static int guard_image_dir(fill_pool *p, const char *dest);

/* 1 when `st` is one of the files in directory `dir`. */
static int is_file_in(const char *dir, const struct stat *st)
{
	struct stat fst;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), found = 0;
	char **names;
	size_t n;

	if (fd < 0)
		return 0;
	if (arca_dir_names(fd, &names, &n) == 0) {
		for (size_t i = 0; i < n && !found; i++)
			found = fstatat(fd, names[i], &fst, AT_SYMLINK_NOFOLLOW) == 0 &&
				S_ISREG(fst.st_mode) && fst.st_dev == st->st_dev &&
				fst.st_ino == st->st_ino;
		arca_dir_names_free(names, n);
	}
	close(fd);
	return found;
}

int arca_fill_guard_image(fill_pool *p, const char *dest)
{
	struct stat st;

	/* the image file itself may be a store file mounted elsewhere */
	if (p->s && p->guard.have_keep && lstat(dest, &st) == 0 && S_ISREG(st.st_mode) &&
	    (is_file_in(p->s->dir, &st) || is_file_in(arca_cas_packdir(p->s->cas), &st)))
		return arca_err_set(ARCA_EUNSAFE, "%s is a file of the store", dest);
	return guard_image_dir(p, dest);
}

static int guard_image_dir(fill_pool *p, const char *dest)
{
	char dir[4096];
	const char *sl = strrchr(dest, '/');
	size_t n = sl ? (size_t)(sl - dest) : 0;
	int fd, rc;

	if (!p->guard.have_keep)
		return 0;
	if (n >= sizeof(dir))
		return arca_err_set(ARCA_EINVAL, "%s: path too long", dest);
	memcpy(dir, dest, n);
	dir[n] = '\0';
	if (!sl)
		memcpy(dir, ".", 2);
	else if (!n)
		memcpy(dir, "/", 2);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0; /* the open of dest itself reports it */
	rc = arca_fill_guard_root(p, fd, dest);
	close(fd);
	return rc;
}

int arca_fill_open_same(int dirfd, const char *name, int flags, const struct stat *st,
		const char *path, int *out)
{
	struct stat now;
	/* what is rolled back gets its mode in the end: a file or directory
	 * its owner made unreadable is opened all the same */
	int fd = (flags & O_PATH) ? openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC) :
		arca_openat_grant(dirfd, name, flags,
			S_ISDIR(st->st_mode) ? 0700 : (flags & O_ACCMODE) == O_RDONLY ? 0400 : 0600);
	if (fd < 0)
		return arca_err_sys("open %s", path);
	if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino ||
	    (now.st_mode & S_IFMT) != (st->st_mode & S_IFMT) ||
	    (S_ISREG(now.st_mode) && now.st_nlink != st->st_nlink)) {
		close(fd);
		return arca_err_set(ARCA_EUNSAFE, "%s was replaced while being rolled back", path);
	}
	*out = fd;
	return 0;
}

int arca_fill_create_beside(const char *path, char *tmp, size_t n, int *out)
{
	int fd;
	if ((size_t)snprintf(tmp, n, "%s.arca-XXXXXX", path) >= n)
		return arca_err_set(ARCA_EINVAL, "%s: path too long", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return arca_err_sys("create %s", tmp);
	*out = fd;
	return 0;
}

/* Opens the directory holding `path` (relative to root) without following
 * symlinks; *name points at its last component. 1 when a directory on
 * the way is another mount than g's or the store (nothing opened). */
static int open_parent(int root, const char *path, size_t len, arca_rm_guard *g,
		int *out, const char **name)
{
	char comp[256];
	int fd = dup(root);
	size_t start = 0;

	if (fd < 0)
		return arca_err_sys("dup");
	for (size_t i = 0; i < len; i++) {
		struct stat st;
		arca_mount_id m;
		if (path[i] != '/')
			continue;
		size_t n = i - start;
		if (n >= sizeof(comp)) { /* the manifest reader allows no longer name */
			close(fd);
			return arca_err_set(ARCA_ECORRUPT, "hardlink target '%s': name too long", path);
		}
		memcpy(comp, path + start, n);
		comp[n] = '\0';
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return arca_err_set(ARCA_EUNSAFE,
				"hardlink target '%s' is not inside the tree", path);
		fd = next;
		start = i + 1;
		if (arca_lstat_mnt(fd, "", &st, &m) < 0) {
			int rc = arca_err_sys("stat %.*s", (int)i, path);
			close(fd);
			return rc;
		}
		if (!arca_mount_same(&m, &g->mount) ||
		    (g->have_keep && st.st_dev == g->keep_dev && st.st_ino == g->keep_ino)) {
			close(fd);
			return 1;
		}
	}
	*out = fd;
	*name = path + start;
	return 0;
}

/* A hard link that cannot be made without reaching another mount or
 * the store: left out, and reported like an entry on another mount. */
static int link_left(fill_pool *p, const arca_mf_entry *e)
{
	if (!p->guard.foreign++)
		snprintf(p->guard.first_foreign, sizeof(p->guard.first_foreign), "%s", e->path);
	return 1;
}

int arca_fill_hardlink(fill_pool *p, int root, int dirfd, const char *name, const arca_mf_entry *e,
		const struct stat *existing)
{
	const char *tname = NULL;
	struct stat tst;
	arca_mount_id tm;
	int tfd = -1, rc;

	/* the target is looked up by path below DEST: where that leaves
	 * DEST's mount or enters the store, no link is made (linkat would
	 * fail across mounts, after the entry there was removed) */
	if ((rc = open_parent(root, e->target, e->target_len, &p->guard, &tfd, &tname)) != 0)
		return rc == 1 ? link_left(p, e) : rc;
	if (arca_lstat_mnt(tfd, tname, &tst, &tm) < 0 || !S_ISREG(tst.st_mode)) {
		close(tfd);
		return arca_err_set(ARCA_ECORRUPT, "hardlink %s: target %s is not a restored file",
			e->path, e->target);
	}
	if (!arca_mount_same(&tm, &p->guard.mount)) {
		close(tfd);
		return link_left(p, e);
	}
	if (existing && existing->st_ino == tst.st_ino && existing->st_dev == tst.st_dev) {
		close(tfd);
		return 1;
	}
	if (existing) {
		uint64_t left = p->guard.foreign + p->guard.kept;
		if ((rc = arca_rm_rf_guarded(dirfd, name, &p->guard)) != 0 ||
		    left != p->guard.foreign + p->guard.kept) {
			close(tfd);
			return rc ? rc : 1; /* what is left stays */
		}
	}
	rc = linkat(tfd, tname, dirfd, name, 0) < 0 ? arca_err_sys("link %s", e->path) : 0;
	close(tfd);
	return rc;
}
