/*
 * Rollback: bring an existing directory or image back to an artifact,
 * touching only what differs.
 *
 * Trees: the manifest (canonical order) is merged with the destination's
 * sorted directory listings. Extra entries are removed, missing ones
 * created, type changes replaced, metadata fixed. A regular file whose
 * size and mtime match the manifest is taken as unchanged (like rsync's
 * quick check; `checksum` compares its content anyway); other files are
 * compared chunk by chunk and only the differing chunks are written.
 * Images: every data extent is hashed in place and rewritten only if it
 * differs; holes are punched (or zeroed in place: keep_allocation).
 *
 * Every step is idempotent, so a rollback killed half way is completed by
 * running it again. As in restore, all paths are walked with *at() calls
 * and O_NOFOLLOW from descriptors we opened, never outside DEST.
 */
#include "store/fill.h"
#include "store/frames.h"
#include "store/walk.h"
#include "store/artifact.h"
#include "store/manifest.h"
#include "store/mfio.h"
#include "store/record.h"
#include "store/store.h"
#include "util/array.h"
#include "util/error.h"
#include "util/version.h"
#include "util/fsutil.h"
#include "util/treewarm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* threads that stat ahead of the walk: they wait on the disk, not on a CPU */
#define ROLLBACK_WARM_THREADS 4

/* A file kept by the quick check although it has other names: those must
 * be the artifact's hard links to it, else it is replaced by a second pass
 * (another name in DEST or outside would share what the artifact keeps
 * apart). */
typedef struct {
	dev_t dev;
	ino_t ino;
	nlink_t expect;   /* 1 + the artifact's hard links found on it */
	char *path;
} shared_file;

typedef struct {
	fill_pool *p;
	int checksum;
	uint64_t changed, removed;
	shared_file *shared;
	size_t nshared, capshared;
	size_t *index;        /* hash of shared by inode: position + 1, 0 = free */
	size_t capindex;
	shared_file *force;   /* second pass: never taken as unchanged (sorted) */
	size_t nforce, capforce;
	arca_frames dirs;     /* the open directories of the tree, DEST first */
	/* the baseline's manifest, read along with the target's: its
	 * current entry (bl_have), kept past each FILE's extents */
	arca_mf_in *bl_in;
	arca_mf_reader bl;
	int bl_have, bl_type;
	uint64_t bl_size;
	int64_t bl_mtime_sec;
	uint32_t bl_mtime_nsec;
	char bl_path[ARCA_MF_PATH_MAX + 1];
	size_t bl_len;
	uint64_t data_bytes;  /* the target's bytes that are not holes */
	uint64_t image_size;  /* the target image's size */
} rb;

/* ---- directory frames ---- */

/* A directory on b->dirs; its names are what it held, sorted. */
typedef arca_frame frame;

typedef struct {
	frame f;
	fill_file meta;   /* applied when it closes */
} dir_frame;

/* rm -rf of `name` in the innermost directory, leaving other mounts and
 * the store alone: *left is 1 when some of it had to stay. */
static int rm_entry(rb *b, int dirfd, const char *name, int *left)
{
	arca_rm_guard *g = &b->p->guard;
	uint64_t f0 = g->foreign, k0 = g->kept;
	int rc = arca_rm_rf_guarded(dirfd, name, g);

	frame *top = arca_frames_top(&b->dirs);

	if (!f0 && g->foreign && top->path_len) { /* name it from DEST */
		char rel[sizeof(g->first_foreign)];
		snprintf(rel, sizeof(rel), "%s", g->first_foreign);
		if (snprintf(g->first_foreign, sizeof(g->first_foreign), "%.*s/%s",
				(int)top->path_len, b->dirs.path, rel) < 0)
			g->first_foreign[0] = '\0';
	}
	*left = g->foreign != f0 || g->kept != k0;
	return rc;
}

/* Removes listed names that sort before `upto` (all when NULL); returns
 * 1 in *exists when `upto` itself is there. */
static int drop_extras(rb *b, frame *f, const char *upto, int *exists)
{
	int rc, left;
	if (exists)
		*exists = 0;
	while (f->i < f->n) {
		int c = upto ? strcmp(f->names[f->i], upto) : -1;
		if (c > 0)
			break;
		if (c == 0) {
			f->i++;
			*exists = 1;
			break;
		}
		if ((rc = rm_entry(b, f->fd, f->names[f->i], &left)) != 0)
			return rc;
		b->removed += !left;
		f->i++;
	}
	return 0;
}

/* Drops the top directory's remaining extras, applies its metadata and
 * pops it. */
static int close_frame(rb *b)
{
	dir_frame *d = arca_frames_top(&b->dirs);
	struct stat st;
	int rc = drop_extras(b, &d->f, NULL, NULL);
	/* a directory already right is left alone: setting its metadata
	 * anyway would dirty every inode of the tree for the next sync */
	if (!rc && (fstat(d->f.fd, &st) < 0 || !arca_fill_meta_matches(b->p, &st, &d->meta)))
		rc = arca_fill_apply_meta(b->p, d->f.fd, &d->meta);
	arca_frames_pop(&b->dirs);
	return rc;
}

/* ---- the baseline ---- */

/* Manifest order (pre-order, siblings sorted bytewise) of two paths. */
static int cmp_preorder(const char *a, size_t na, const char *b, size_t nb)
{
	size_t i = 0;
	while (i < na && i < nb && a[i] == b[i])
		i++;
	if (i == na && i == nb)
		return 0;
	if (i == na)
		return -1;     /* a is b's ancestor, or a shorter sibling */
	if (i == nb)
		return 1;
	if (a[i] == '/')
		return -1;     /* a's name ends first: it sorts first */
	if (b[i] == '/')
		return 1;
	return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
}

static int skip_extents(arca_mf_reader *r);

static int bl_next(rb *b)
{
	arca_mf_entry e;
	size_t want;
	int rc = arca_mf_next_entry(&b->bl, &e, &want);
	if (rc != 1) {
		b->bl_have = 0;
		return rc;
	}
	b->bl_have = 1;
	b->bl_type = e.type;
	b->bl_size = e.size;
	b->bl_mtime_sec = e.mtime_sec;
	b->bl_mtime_nsec = e.mtime_nsec;
	b->bl_len = e.path_len;
	memcpy(b->bl_path, e.path, e.path_len);
	b->bl_path[e.path_len] = '\0';
	return e.type == ARCA_MF_FILE ? skip_extents(&b->bl) : 0;
}

/* 1 when the baseline has a file at e's path with e's size and mtime: the
 * quick check cannot tell which of the two DEST holds. A hard link there
 * has its target's size and mtime, not read here: it is compared too. */
static int bl_ambiguous(rb *b, const arca_mf_entry *e)
{
	while (b->bl_have && cmp_preorder(b->bl_path, b->bl_len, e->path, e->path_len) < 0)
		if (bl_next(b) < 0) {
			/* unreadable baseline: compare rather than trust */
			b->bl_have = 0;
			arca_mf_in_free(b->bl_in);
			b->bl_in = NULL;
			b->checksum = 1;
			return 1;
		}
	if (!b->bl_have || b->bl_len != e->path_len || memcmp(b->bl_path, e->path, e->path_len) != 0)
		return 0;
	return b->bl_type == ARCA_MF_HARDLINK || (b->bl_type == ARCA_MF_FILE &&
		b->bl_size == e->size && b->bl_mtime_sec == e->mtime_sec &&
		b->bl_mtime_nsec == e->mtime_nsec);
}

/* Opens the baseline along with the target (`id`): none when there is
 * none, or when it is the target itself (nothing to tell apart). */
static int bl_open(rb *b, arca_store *s, const char *ref, const arca_id *target)
{
	arca_artifact_rec rec;
	int kind, rc;
	if (!ref)
		return 0;
	if ((rc = arca_store__open_manifest(s, ref, &rec, &b->bl_in, &b->bl, &kind)) != 0)
		return arca_err_wrap(rc, "baseline %s", ref);
	if (kind != ARCA_KIND_TREE || memcmp(rec.a.id.bytes, target->bytes, 32) == 0) {
		arca_mf_in_free(b->bl_in);
		b->bl_in = NULL;
		arca_artifact_rec_clear(&rec);
		return 0;
	}
	arca_artifact_rec_clear(&rec);
	if ((rc = bl_next(b)) < 0) {
		arca_mf_in_free(b->bl_in); /* the caller frees b alone */
		b->bl_in = NULL;
		return arca_err_wrap(rc, "baseline %s", ref);
	}
	return 0;
}

/* ---- entries ---- */

static int meta_differs(const struct stat *st, const arca_mf_entry *e, int as_root)
{
	uint32_t mode = e->mode;
	/* what a restore by a user gives: no setuid/setgid it cannot own */
	if (!as_root && (st->st_uid != e->uid || st->st_gid != e->gid))
		mode &= ~(uint32_t)06000;
	return (st->st_mode & 07777) != mode ||
		st->st_mtim.tv_sec != e->mtime_sec || (uint32_t)st->st_mtim.tv_nsec != e->mtime_nsec ||
		(as_root && (st->st_uid != e->uid || st->st_gid != e->gid));
}

static int skip_extents(arca_mf_reader *r)
{
	uint8_t id[32];
	uint64_t len;
	int has, rc;
	while ((rc = arca_mf_next_extent(r, id, &len, &has)) == 1)
		;
	return rc;
}

/* Gives the owner write access to an existing file through a descriptor
 * of that very file (O_PATH: no read access needed to open it). */
static int make_writable(frame *top, const char *name, const struct stat *st, const char *path)
{
	char proc[64];
	int fd, rc;
	if ((rc = arca_fill_open_same(top->fd, name, O_PATH, st, path, &fd)) != 0)
		return rc;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = chmod(proc, (st->st_mode & 07777) | 0600) < 0 ? arca_err_sys("chmod %s", path) : 0;
	close(fd);
	return rc;
}

static size_t shared_slot(const rb *b, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4full);
	size_t i = (size_t)(h >> 17) & (b->capindex - 1);
	while (b->index[i] && (b->shared[b->index[i] - 1].dev != dev ||
			       b->shared[b->index[i] - 1].ino != ino))
		i = (i + 1) & (b->capindex - 1);
	return i;
}

/* The kept file with this inode, or NULL. */
static shared_file *find_shared(rb *b, dev_t dev, ino_t ino)
{
	size_t i;
	if (!b->capindex)
		return NULL;
	i = shared_slot(b, dev, ino);
	return b->index[i] ? &b->shared[b->index[i] - 1] : NULL;
}

static int cmp_file(const void *x, const void *y)
{
	const shared_file *a = x, *c = y;
	if (a->dev != c->dev)
		return a->dev < c->dev ? -1 : 1;
	return a->ino < c->ino ? -1 : a->ino > c->ino;
}

static int is_forced(const rb *b, dev_t dev, ino_t ino)
{
	shared_file key;
	key.dev = dev;
	key.ino = ino;
	return b->nforce && bsearch(&key, b->force, b->nforce, sizeof(key), cmp_file) != NULL;
}

static int note_shared(rb *b, const struct stat *st, const char *path)
{
	shared_file *f;
	int rc;
	if (find_shared(b, st->st_dev, st->st_ino))
		return 0; /* two files of the artifact on one inode: the first counts */
	if ((rc = arca_array_grow(&b->shared, &b->capshared, b->nshared + 1, sizeof(*b->shared),
			16)) != 0)
		return rc;
	/* the index stays at most half full (a power of two, as capshared) */
	if (b->capindex < 2 * b->capshared) {
		size_t *ix = calloc(2 * b->capshared, sizeof(*ix));
		if (!ix)
			return arca_err_set(ARCA_ENOMEM, "out of memory");
		free(b->index);
		b->index = ix;
		b->capindex = 2 * b->capshared;
		for (size_t i = 0; i < b->nshared; i++)
			b->index[shared_slot(b, b->shared[i].dev, b->shared[i].ino)] = i + 1;
	}
	f = &b->shared[b->nshared];
	if (!(f->path = strdup(path)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->expect = 1;
	b->index[shared_slot(b, f->dev, f->ino)] = ++b->nshared;
	return 0;
}

static void shared_free(shared_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

static int do_file(rb *b, arca_mf_reader *r, frame *top, const char *name,
		const arca_mf_entry *e, int exists, const struct stat *st)
{
	fill_file *f;
	uint64_t size;
	int fd, rc, rc2, patch, left;

	/* A file sharing its inode with another name is never changed in
	 * place (the other name may be outside DEST): unless it already
	 * matches in every respect, it is replaced. */
	if (exists && S_ISREG(st->st_mode) && !b->checksum &&
	    (st->st_nlink == 1 || (!meta_differs(st, e, b->p->as_root) &&
	     !is_forced(b, st->st_dev, st->st_ino))) &&
	    (uint64_t)st->st_size == e->size && st->st_mtim.tv_sec == e->mtime_sec &&
	    (uint32_t)st->st_mtim.tv_nsec == e->mtime_nsec && !(b->bl_in && bl_ambiguous(b, e))) {
		/* quick check: content taken as unchanged */
		if ((rc = skip_extents(r)) != 0)
			return rc;
		if (st->st_nlink > 1)
			return note_shared(b, st, e->path);
		if (!meta_differs(st, e, b->p->as_root))
			return 0;
		if ((rc = arca_fill_open_same(top->fd, name, O_RDONLY | O_NONBLOCK, st, e->path, &fd)) != 0)
			return rc;
		fill_file m;
		arca_fill_take_meta(&m, e);
		rc = arca_fill_apply_meta(b->p, fd, &m);
		close(fd);
		b->changed++;
		return rc;
	}
	/* an existing single-link file is patched in place; anything else
	 * (other types, hardlinked files) is replaced */
	patch = exists && S_ISREG(st->st_mode) && st->st_nlink == 1;
	if (exists && !patch) {
		if ((rc = rm_entry(b, top->fd, name, &left)) != 0)
			return rc;
		if (left)
			return skip_extents(r);
	}
	if (patch) {
		if (!b->p->as_root && (st->st_mode & 0600) != 0600 &&
		    (rc = make_writable(top, name, st, e->path)) != 0)
			return rc;
		if ((rc = arca_fill_open_same(top->fd, name, O_RDWR, st, e->path, &fd)) != 0)
			return rc;
	} else {
		fd = openat(top->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return arca_err_sys("open %s", e->path);
	}
	if (!(f = arca_fill_file_new(fd))) {
		close(fd);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	f->tree = 1;
	arca_fill_take_meta(f, e);
	rc = arca_fill_extents(b->p, r, f, patch, patch, &size);
	if (!rc && arca_ftruncate(fd, (off_t)size) < 0)
		rc = arca_err_sys("set size of %s", e->path);
	rc2 = arca_fill_file_release(b->p, f);
	b->changed++;
	return rc ? rc : rc2;
}

static int do_symlink(rb *b, frame *top, const char *name, const arca_mf_entry *e,
		int exists, const struct stat *st)
{
	char cur[ARCA_MF_PATH_MAX + 1];
	int rc, left;
	if (exists && S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(top->fd, name, cur, sizeof(cur));
		if (n == (ssize_t)e->target_len && !memcmp(cur, e->target, (size_t)n)) {
			if (st->st_mtim.tv_sec == e->mtime_sec &&
			    (uint32_t)st->st_mtim.tv_nsec == e->mtime_nsec &&
			    (!b->p->as_root || (st->st_uid == e->uid && st->st_gid == e->gid)))
				return 0;
			/* a symlink with other hard links (one may be outside
			 * DEST) shares its owner and mtime with them: those are
			 * never changed in place, it is replaced */
			if (st->st_nlink == 1) {
				b->changed++;
				return arca_fill_link_meta(b->p, top->fd, name, e, 1);
			}
		}
	}
	if (exists) {
		if ((rc = rm_entry(b, top->fd, name, &left)) != 0 || left)
			return rc;
	}
	if (symlinkat(e->target, top->fd, name) < 0)
		return arca_err_sys("create symlink %s", e->path);
	b->changed++;
	return arca_fill_link_meta(b->p, top->fd, name, e, 1);
}

static int do_fifo(rb *b, frame *top, const char *name, const arca_mf_entry *e,
		int exists, const struct stat *st)
{
	int rc, left;
	/* a fifo has no content: one with other metadata is made anew */
	if (exists && S_ISFIFO(st->st_mode) && st->st_nlink == 1 &&
	    !meta_differs(st, e, b->p->as_root))
		return 0;
	if (exists) {
		if ((rc = rm_entry(b, top->fd, name, &left)) != 0 || left)
			return rc;
	}
	if (mkfifoat(top->fd, name, 0600) < 0)
		return arca_err_sys("create fifo %s", e->path);
	b->changed++;
	return arca_fill_link_meta(b->p, top->fd, name, e, 0);
}

static int do_hardlink(rb *b, int root, frame *top, const char *name, const arca_mf_entry *e,
		int exists, const struct stat *st)
{
	struct stat now;
	shared_file *f;
	int rc = arca_fill_hardlink(b->p, root, top->fd, name, e, exists ? st : NULL);
	if (rc == 0)
		b->changed++;
	if (rc >= 0 && b->nshared && fstatat(top->fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (f = find_shared(b, now.st_dev, now.st_ino)) != NULL)
		f->expect++;
	return rc < 0 ? rc : 0;
}

/* Opens (creating it if needed) the directory entry `e` and pushes it;
 * 1 when it has to be left as it is (something in it stays). */
static int open_dir(rb *b, frame *top, const char *name, const arca_mf_entry *e,
		int exists, const struct stat *st)
{
	dir_frame *child;
	int fd, rc, left;
	if (exists && !S_ISDIR(st->st_mode)) {
		if ((rc = rm_entry(b, top->fd, name, &left)) != 0)
			return rc;
		if (left)
			return 1;
		exists = 0;
	}
	if (!exists) {
		if (mkdirat(top->fd, name, 0700) < 0)
			return arca_err_sys("create directory %s", e->path);
		b->changed++;
		fd = openat(top->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return arca_err_sys("open %s", e->path);
	} else {
		if (meta_differs(st, e, b->p->as_root))
			b->changed++;
		if ((rc = arca_fill_open_same(top->fd, name, O_RDONLY | O_DIRECTORY, st, e->path,
				&fd)) != 0)
			return rc;
		if ((st->st_mode & 0700) != 0700)
			fchmod(fd, (st->st_mode & 07777) | 0700);
	}
	if (!(child = arca_frames_push(&b->dirs, e->path, e->path_len))) {
		close(fd);
		return ARCA_EUNSUPPORTED;
	}
	child->f.fd = fd;
	arca_fill_take_meta(&child->meta, e);
	if (exists && (rc = arca_frames_list(&child->f, NULL)) != 0) {
		arca_frames_pop(&b->dirs);
		return rc;
	}
	return 0;
}

/* Moves the kept files that still have names besides the artifact's to
 * b->force, for a second pass that replaces them. */
static int find_strays(rb *b, const char *dest)
{
	int root, rc = 0;
	if (!b->nshared)
		return 0;
	if ((rc = arca_array_grow(&b->force, &b->capforce, b->nforce + b->nshared,
			sizeof(*b->force), 16)) != 0)
		return rc;
	if ((root = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return arca_err_sys("open %s", dest);
	for (size_t i = 0; i < b->nshared; i++) {
		shared_file *f = &b->shared[i];
		struct stat st;
		/* only a stat: a swapped directory on the way costs a pass */
		if (fstatat(root, f->path, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_dev != f->dev || st.st_ino != f->ino || st.st_nlink == f->expect)
			continue;
		b->force[b->nforce] = *f; /* one per inode: note_shared saw to it */
		b->force[b->nforce++].path = NULL;
	}
	close(root);
	qsort(b->force, b->nforce, sizeof(*b->force), cmp_file);
	return rc;
}

static int rollback_tree(rb *b, arca_mf_reader *r, const char *dest)
{
	arca_treewarm *warm = NULL;
	dir_frame *root;
	size_t want, skip = 0;
	arca_mf_entry e;
	int rc, created = 0;

	if (mkdir(dest, 0700) == 0)
		created = 1;
	else if (errno != EEXIST)
		return arca_err_sys("create %s", dest);
	if ((rc = arca_frames_init(&b->dirs, sizeof(dir_frame), ARCA_FRAMES_MAX)) != 0)
		return rc;
	root = arca_frames_push(&b->dirs, "", 0);
	root->f.fd = arca_openat_grant(AT_FDCWD, dest, O_RDONLY | O_DIRECTORY, 0700);
	if (root->f.fd < 0) {
		rc = arca_err_sys("open %s", dest);
		goto done;
	}
	if ((rc = arca_fill_guard_root(b->p, root->f.fd, dest)) != 0) {
		if (created)
			rmdir(dest);
		goto done;
	}
	{
		struct stat rst;
		if (fstat(root->f.fd, &rst) == 0 && (rst.st_mode & 0700) != 0700)
			fchmod(root->f.fd, (rst.st_mode & 07777) | 0700);
	}
	if ((rc = arca_frames_list(&root->f, NULL)) != 0)
		goto done;
	/* the walk stats entry after entry: warm the caches ahead of it */
	warm = arca_treewarm_start(root->f.fd, ROLLBACK_WARM_THREADS);

	while ((rc = arca_mf_next_entry(r, &e, &want)) == 1) {
		struct stat st;
		arca_mount_id m;
		const char *name;
		frame *top;
		int exists;

		/* a cancel stops between entries */
		if ((rc = arca_fill_progress(b->p, 1, 0)) != 0)
			goto done;
		if (e.path_len == 0) {
			arca_fill_take_meta(&root->meta, &e);
			continue;
		}
		if (skip && want > skip) { /* below an entry left as it is */
			if (e.type == ARCA_MF_FILE && (rc = skip_extents(r)) != 0)
				goto done;
			continue;
		}
		skip = 0;
		while (b->dirs.depth > want)
			if ((rc = close_frame(b)) != 0)
				goto done;
		top = arca_frames_top(&b->dirs);
		name = strrchr(e.path, '/');
		name = name ? name + 1 : e.path;
		if ((rc = drop_extras(b, top, name, &exists)) != 0)
			goto done;
		if (exists && arca_lstat_mnt(top->fd, name, &st, &m) < 0) {
			if (errno != ENOENT) {
				rc = arca_err_sys("stat %s", e.path);
				goto done;
			}
			exists = 0;
		}
		/* another mount, or the store: neither replaced nor entered */
		if (exists && arca_rm_guard_leaves(&b->p->guard, &st, &m, e.path)) {
			if (e.type == ARCA_MF_FILE && (rc = skip_extents(r)) != 0)
				goto done;
			skip = want;
			continue;
		}

		switch (e.type) {
		case ARCA_MF_DIR:
			rc = open_dir(b, top, name, &e, exists, &st);
			if (rc == 1) {
				skip = want;
				rc = 0;
			}
			break;
		case ARCA_MF_FILE:
			rc = do_file(b, r, top, name, &e, exists, &st);
			break;
		case ARCA_MF_SYMLINK:
			rc = do_symlink(b, top, name, &e, exists, &st);
			break;
		case ARCA_MF_HARDLINK:
			rc = do_hardlink(b, root->f.fd, top, name, &e, exists, &st);
			break;
		case ARCA_MF_FIFO:
			rc = do_fifo(b, top, name, &e, exists, &st);
			break;
		}
		if (rc)
			goto done;
	}
	if (rc)
		goto done;
	while (b->dirs.depth > 0)
		if ((rc = close_frame(b)) != 0)
			goto done;
	rc = find_strays(b, dest);
done:
	arca_treewarm_stop(warm);
	arca_frames_release(&b->dirs);
	return rc;
}

/* An image is rewritten in place, unless another name shares its inode:
 * then the new content goes to a file next to it that replaces it (*tmp,
 * renamed by the caller once every chunk is written). */
static int rollback_image(rb *b, arca_mf_reader *r, const char *dest, char *tmp, size_t ntmp)
{
	struct stat st;
	fill_file *f;
	uint64_t size = 0;
	int fd, blk = 0, fresh = 0, rc, rc2;

	if ((rc = arca_fill_guard_image(b->p, dest)) != 0)
		return rc;
	if (lstat(dest, &st) == 0) {
		if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
			return arca_err_set(ARCA_EINVAL, "%s is not a regular file or block device", dest);
		fd = open(dest, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return arca_err_sys("open %s", dest);
		if (fstat(fd, &st) < 0 || (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))) {
			close(fd);
			return arca_err_set(ARCA_EUNSAFE, "%s was replaced while being opened", dest);
		}
		blk = S_ISBLK(st.st_mode);
		if (blk) {
			/* a device cannot grow: refuse before any of it is
			 * overwritten, not at the first write past its end */
			uint64_t dev_size;
			if (arca_image_size(fd, &st, &dev_size) < 0)
				rc = arca_err_sys("size of %s", dest);
			else if (dev_size < b->image_size)
				rc = arca_err_set(ARCA_ENOSPC,
					"%s holds %llu bytes, the image is %llu", dest,
					(unsigned long long)dev_size,
					(unsigned long long)b->image_size);
			if (rc) {
				close(fd);
				return rc;
			}
		}
		if (!blk && st.st_nlink > 1) {
			int nfd;
			if ((rc = arca_fill_create_beside(dest, tmp, ntmp, &nfd)) != 0) {
				close(fd);
				return rc;
			}
			if (b->p->as_root && fchown(nfd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
				rc = arca_err_sys("chown %s", tmp);
			if (!rc && fchmod(nfd, st.st_mode & 07777) < 0)
				rc = arca_err_sys("chmod %s", tmp);
			close(fd);
			fd = nfd;
			fresh = 1;
			if (rc) {
				close(fd);
				return rc;
			}
		}
	} else if (errno == ENOENT) {
		fresh = 1;
		fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return arca_err_sys("open %s", dest);
	} else {
		return arca_err_sys("rollback %s", dest);
	}
	if (!(f = arca_fill_file_new(fd))) {
		close(fd);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	/* every data extent is read once, front to back */
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* zeroing in place keeps every block the guest ever wrote: once the
	 * file holds twice the artifact's data (and 64 MiB more), punch
	 * this time, so it cannot grow without bound */
	if (b->p->keep_alloc && !blk && !fresh &&
	    (uint64_t)st.st_blocks * 512 > 2 * b->data_bytes + (64u << 20))
		b->p->keep_alloc = 0;
	rc = arca_fill_extents(b->p, r, f, !fresh, !fresh, &size);
	if (!rc)
		rc = arca_mf_read_finish(r);
	if (!rc && !blk && (fresh || (uint64_t)st.st_size != size) && arca_ftruncate(fd, (off_t)size) < 0)
		rc = arca_err_sys("set size of %s", dest);
	rc2 = arca_fill_file_release(b->p, f);
	return rc ? rc : rc2;
}

int arca_rollback(arca_store *s, const char *ref, const char *dest,
		const arca_rollback_options *o, arca_op_stats *stats)
{
	arca_artifact_rec rec;
	arca_mf_in *in = NULL;
	arca_mf_reader r;
	fill_pool p;
	arca_progress_state ps;
	char tmp[4096] = "";
	rb *b;
	int kind, rc, rc2;

	if (!s || !ref || !dest || !*dest)
		return arca_err_set(ARCA_EINVAL, "arca_rollback: NULL argument");
	if (o && (rc = arca__check_version("arca_rollback_options", o->version, ARCA_ROLLBACK_OPTIONS_VERSION)) != 0)
		return rc;
	if (stats && (rc = arca__result_start("arca_op_stats", stats, sizeof(*stats), ARCA_OP_STATS_VERSION)) != 0)
		return rc;
	if (!(b = calloc(1, sizeof(*b))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	b->checksum = o ? o->checksum : 0;
	if ((rc = arca_store__open_manifest(s, ref, &rec, &in, &r, &kind)) != 0) {
		free(b);
		return rc;
	}
	if (kind == ARCA_KIND_TREE &&
	    (rc = bl_open(b, s, o && o->version >= 3 ? o->baseline : NULL, &rec.a.id)) != 0) {
		arca_mf_in_free(in);
		arca_artifact_rec_clear(&rec);
		free(b);
		return rc;
	}
	arca_progress__init(&ps, o && o->version >= 2 ? o->progress_cb : NULL,
		o && o->version >= 2 ? o->progress_payload : NULL);
	arca_fill_start(&p, s);
	p.progress = &ps;
	p.keep_alloc = o && o->version >= 3 && o->keep_allocation;
	b->p = &p;
	rc = arca_progress__begin(&ps, ARCA_PROGRESS_WRITE, rec.a.entries, rec.a.logical_bytes);
	if (rc) {
		/* cancelled before anything was done */
	} else if (kind == ARCA_KIND_IMAGE) {
		b->data_bytes = rec.a.data_bytes;
		b->image_size = rec.a.logical_bytes;
		rc = rollback_image(b, &r, dest, tmp, sizeof(tmp));
	} else {
		rc = rollback_tree(b, &r, dest);
		if (!rc && b->nforce) {
			/* the same artifact, whatever its ref points to now */
			char idstr[ARCA_ID_STRLEN];
			arca_id_format(idstr, &rec.a.id);
			arca_mf_in_free(in);
			in = NULL;
			arca_artifact_rec_clear(&rec);
			shared_free(b->shared, b->nshared);
			free(b->index);
			b->shared = NULL;
			b->index = NULL;
			b->nshared = b->capshared = b->capindex = 0;
			rc = arca_store__open_manifest(s, idstr, &rec, &in, &r, &kind);
			/* the first pass settled every file the baseline made
			 * ambiguous: none is taken as unchanged any more unless
			 * it is right */
			if (b->bl_in) {
				arca_mf_in_free(b->bl_in);
				b->bl_in = NULL;
			}
			if (!rc)
				rc = rollback_tree(b, &r, dest);
		}
	}
	rc2 = arca_fill_finish(&p);
	if (!rc)
		rc = rc2;
	if (*tmp) {
		if (!rc && rename(tmp, dest) < 0)
			rc = arca_err_sys("replace %s", dest);
		if (rc)
			unlink(tmp);
	}
	if (!rc)
		rc = arca_progress__end(&ps, rec.a.entries, rec.a.logical_bytes);
	if (rc) {
		arca_err_wrap(rc, "rollback %s (run it again to finish)", dest);
	} else if (p.guard.foreign) {
		rc = arca_err_set(ARCA_EUNSAFE, "rollback %s: %s is another mount, left as it is: "
			"DEST does not equal the artifact", dest, p.guard.first_foreign);
	}
	if (stats) {
		arca__result_clear(stats, sizeof(*stats));
		stats->logical_bytes = rec.a.logical_bytes;
		stats->bytes_written = p.bytes_written;
		stats->bytes_compared = p.bytes_compared;
		stats->entries = rec.a.entries;
		stats->entries_skipped = p.guard.kept;
		stats->entries_changed = b->changed + (kind == ARCA_KIND_IMAGE ? p.chunks_differing : 0);
		stats->entries_removed = b->removed;
		stats->entries_foreign = p.guard.foreign;
		stats->setid_dropped = p.setid_dropped;
	}
	arca_mf_in_free(in);
	arca_mf_in_free(b->bl_in);
	arca_artifact_rec_clear(&rec);
	shared_free(b->shared, b->nshared);
	free(b->index);
	free(b->force);
	free(b);
	return rc;
}
