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
 * differs; holes are punched.
 *
 * Every step is idempotent, so a rollback killed half way is completed by
 * running it again. As in restore, all paths are walked with *at() calls
 * and O_NOFOLLOW from descriptors we opened, never outside DEST.
 */
#include "store/fill.h"
#include "store/walk.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	fill_pool *p;
	int checksum;
	uint64_t changed, removed;
} rb;

/* ---- directory frames ---- */

typedef struct {
	int fd;
	fill_file meta;
	char **names;   /* what the directory held, sorted */
	size_t n, i;
} frame;

static int list_names(frame *f)
{
	f->i = 0;
	if (arca_dir_names(f->fd, &f->names, &f->n) < 0)
		return arca_err_sys("read directory");
	return 0;
}

static void frame_release(frame *f)
{
	arca_dir_names_free(f->names, f->n);
	if (f->fd >= 0)
		close(f->fd);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

/* Removes listed names that sort before `upto` (all when NULL); returns
 * 1 in *exists when `upto` itself is there. */
static int drop_extras(rb *b, frame *f, const char *upto, int *exists)
{
	int rc;
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
		if ((rc = arca_rm_rf_at(f->fd, f->names[f->i])) != 0)
			return rc;
		b->removed++;
		f->i++;
	}
	return 0;
}

static int close_frame(rb *b, frame *f, int apply)
{
	int rc = drop_extras(b, f, NULL, NULL);
	if (!rc && apply)
		rc = fill_apply_meta(f->fd, &f->meta, b->p->as_root);
	frame_release(f);
	return rc;
}

/* ---- entries ---- */

static int meta_differs(const struct stat *st, const arca_mf_entry *e, int as_root)
{
	return (st->st_mode & 07777) != e->mode ||
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

static int do_file(rb *b, arca_mf_reader *r, frame *top, const char *name,
		const arca_mf_entry *e, int exists, const struct stat *st)
{
	fill_file *f;
	uint64_t size;
	int fd, rc, rc2, patch;

	/* A file sharing its inode with another name is never changed in
	 * place (the other name may be outside DEST): unless it already
	 * matches in every respect, it is replaced. */
	if (exists && S_ISREG(st->st_mode) && !b->checksum &&
	    (st->st_nlink == 1 || !meta_differs(st, e, b->p->as_root)) &&
	    (uint64_t)st->st_size == e->size && st->st_mtim.tv_sec == e->mtime_sec &&
	    (uint32_t)st->st_mtim.tv_nsec == e->mtime_nsec) {
		/* quick check: content taken as unchanged */
		if ((rc = skip_extents(r)) != 0)
			return rc;
		if (!meta_differs(st, e, b->p->as_root))
			return 0;
		fd = openat(top->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return arca_err_sys("open %s", e->path);
		fill_file m;
		fill_take_meta(&m, e);
		rc = fill_apply_meta(fd, &m, b->p->as_root);
		close(fd);
		b->changed++;
		return rc;
	}
	/* an existing single-link file is patched in place; anything else
	 * (other types, hardlinked files) is replaced */
	patch = exists && S_ISREG(st->st_mode) && st->st_nlink == 1;
	if (exists && !patch) {
		if ((rc = arca_rm_rf_at(top->fd, name)) != 0)
			return rc;
	}
	if (patch) {
		if ((st->st_mode & 0600) != 0600)
			fchmodat(top->fd, name, (st->st_mode & 07777) | 0600, 0);
		fd = openat(top->fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	} else {
		fd = openat(top->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return arca_err_sys("open %s", e->path);
	if (!(f = fill_file_new(fd))) {
		close(fd);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	f->tree = 1;
	fill_take_meta(f, e);
	rc = fill_extents(b->p, r, f, patch, patch, &size);
	if (!rc && arca_ftruncate(fd, (off_t)size) < 0)
		rc = arca_err_sys("set size of %s", e->path);
	rc2 = fill_file_release(b->p, f);
	b->changed++;
	return rc ? rc : rc2;
}

static int do_symlink(rb *b, frame *top, const char *name, const arca_mf_entry *e,
		int exists, const struct stat *st)
{
	char cur[ARCA_MF_PATH_MAX + 1];
	int rc;
	if (exists && S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(top->fd, name, cur, sizeof(cur));
		if (n == (ssize_t)e->target_len && !memcmp(cur, e->target, (size_t)n)) {
			if (st->st_mtim.tv_sec == e->mtime_sec &&
			    (uint32_t)st->st_mtim.tv_nsec == e->mtime_nsec &&
			    (!b->p->as_root || (st->st_uid == e->uid && st->st_gid == e->gid)))
				return 0;
			b->changed++;
			return fill_link_meta(top->fd, name, e, b->p->as_root, 1);
		}
	}
	if (exists && (rc = arca_rm_rf_at(top->fd, name)) != 0)
		return rc;
	if (symlinkat(e->target, top->fd, name) < 0)
		return arca_err_sys("create symlink %s", e->path);
	b->changed++;
	return fill_link_meta(top->fd, name, e, b->p->as_root, 1);
}

static int do_fifo(rb *b, frame *top, const char *name, const arca_mf_entry *e,
		int exists, const struct stat *st)
{
	int rc;
	if (exists && S_ISFIFO(st->st_mode) && st->st_nlink == 1) {
		if (!meta_differs(st, e, b->p->as_root))
			return 0;
		b->changed++;
		return fill_link_meta(top->fd, name, e, b->p->as_root, 0);
	}
	if (exists && (rc = arca_rm_rf_at(top->fd, name)) != 0)
		return rc;
	if (mkfifoat(top->fd, name, 0600) < 0)
		return arca_err_sys("create fifo %s", e->path);
	b->changed++;
	return fill_link_meta(top->fd, name, e, b->p->as_root, 0);
}

static int do_hardlink(rb *b, int root, frame *top, const char *name, const arca_mf_entry *e,
		int exists, const struct stat *st)
{
	int rc = fill_hardlink(root, top->fd, name, e, exists ? st : NULL);
	if (rc == 0)
		b->changed++;
	return rc < 0 ? rc : 0;
}

static int rollback_tree(rb *b, arca_mf_reader *r, const char *dest)
{
	frame *stack;
	size_t depth = 0, want;
	arca_mf_entry e;
	int rc;

	if (mkdir(dest, 0700) < 0 && errno != EEXIST)
		return arca_err_sys("create %s", dest);
	stack = calloc(ARCA_MF_PATH_MAX / 2 + 2, sizeof(frame));
	if (!stack)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	stack[0].fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (stack[0].fd < 0) {
		rc = arca_err_sys("open %s", dest);
		free(stack);
		return rc;
	}
	depth = 1;
	{
		struct stat rst;
		if (fstat(stack[0].fd, &rst) == 0 && (rst.st_mode & 0700) != 0700)
			fchmod(stack[0].fd, (rst.st_mode & 07777) | 0700);
	}
	if ((rc = list_names(&stack[0])) != 0)
		goto done;

	while ((rc = arca_mf_next_entry(r, &e, &want)) == 1) {
		struct stat st;
		const char *name;
		frame *top;
		int exists;

		if (e.path_len == 0) {
			fill_take_meta(&stack[0].meta, &e);
			continue;
		}
		while (depth > want) {
			depth--;
			if ((rc = close_frame(b, &stack[depth], 1)) != 0)
				goto done;
		}
		top = &stack[depth - 1];
		name = strrchr(e.path, '/');
		name = name ? name + 1 : e.path;
		if ((rc = drop_extras(b, top, name, &exists)) != 0)
			goto done;
		if (exists && fstatat(top->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) {
				rc = arca_err_sys("stat %s", e.path);
				goto done;
			}
			exists = 0;
		}

		switch (e.type) {
		case ARCA_MF_DIR: {
			frame *child = &stack[depth];
			if (exists && !S_ISDIR(st.st_mode)) {
				if ((rc = arca_rm_rf_at(top->fd, name)) != 0)
					goto done;
				exists = 0;
			}
			if (!exists) {
				if (mkdirat(top->fd, name, 0700) < 0) {
					rc = arca_err_sys("create directory %s", e.path);
					goto done;
				}
				b->changed++;
			} else if (meta_differs(&st, &e, b->p->as_root)) {
				b->changed++;
			}
			child->fd = openat(top->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (child->fd < 0) {
				rc = arca_err_sys("open %s", e.path);
				goto done;
			}
			if (exists && (st.st_mode & 0700) != 0700)
				fchmod(child->fd, (st.st_mode & 07777) | 0700);
			fill_take_meta(&child->meta, &e);
			depth++;
			if (exists && (rc = list_names(child)) != 0)
				goto done;
			break;
		}
		case ARCA_MF_FILE:
			rc = do_file(b, r, top, name, &e, exists, &st);
			break;
		case ARCA_MF_SYMLINK:
			rc = do_symlink(b, top, name, &e, exists, &st);
			break;
		case ARCA_MF_HARDLINK:
			rc = do_hardlink(b, stack[0].fd, top, name, &e, exists, &st);
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
	while (depth > 0) {
		depth--;
		if ((rc = close_frame(b, &stack[depth], 1)) != 0)
			goto done;
	}
done:
	while (depth > 0)
		frame_release(&stack[--depth]);
	free(stack);
	return rc;
}

static int rollback_image(rb *b, arca_mf_reader *r, const char *dest)
{
	struct stat st;
	fill_file *f;
	uint64_t size = 0;
	int fd, blk = 0, fresh = 0, rc, rc2;

	if (lstat(dest, &st) == 0) {
		if (S_ISBLK(st.st_mode))
			blk = 1;
		else if (!S_ISREG(st.st_mode))
			return arca_err_set(ARCA_EINVAL, "%s is not a regular file or block device", dest);
		fd = open(dest, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	} else if (errno == ENOENT) {
		fresh = 1;
		fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	} else {
		return arca_err_sys("rollback %s", dest);
	}
	if (fd < 0)
		return arca_err_sys("open %s", dest);
	if (!(f = fill_file_new(fd))) {
		close(fd);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	/* every data extent is read once, front to back */
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = fill_extents(b->p, r, f, !fresh, !fresh, &size);
	if (!rc)
		rc = arca_mf_read_finish(r);
	if (!rc && !blk && (fresh || (uint64_t)st.st_size != size) && arca_ftruncate(fd, (off_t)size) < 0)
		rc = arca_err_sys("set size of %s", dest);
	rc2 = fill_file_release(b->p, f);
	return rc ? rc : rc2;
}

int arca_rollback(arca_store *s, const char *ref, const char *dest,
		const arca_rollback_options *o, arca_op_stats *stats)
{
	arca_artifact_rec rec;
	arca_mf_in *in = NULL;
	arca_mf_reader r;
	fill_pool p;
	rb b;
	int kind, rc, rc2;

	if (!s || !ref || !dest || !*dest)
		return arca_err_set(ARCA_EINVAL, "arca_rollback: NULL argument");
	if (o && o->version != ARCA_ROLLBACK_OPTIONS_VERSION)
		return arca_err_set(ARCA_EINVAL, "arca_rollback_options: unknown version %u", o->version);
	memset(&b, 0, sizeof(b));
	b.checksum = o ? o->checksum : 0;
	if ((rc = arca_store__open_manifest(s, ref, &rec, &in, &r, &kind)) != 0)
		return rc;
	fill_start(&p, s);
	b.p = &p;
	rc = kind == ARCA_KIND_IMAGE ? rollback_image(&b, &r, dest) : rollback_tree(&b, &r, dest);
	rc2 = fill_finish(&p);
	if (!rc)
		rc = rc2;
	if (rc) {
		arca_err_wrap(rc, "rollback %s (run it again to finish)", dest);
	} else if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->logical_bytes = rec.a.logical_bytes;
		stats->bytes_written = p.bytes_written;
		stats->bytes_compared = p.bytes_compared;
		stats->entries = rec.a.entries;
		stats->entries_changed = b.changed + (kind == ARCA_KIND_IMAGE ? p.chunks_differing : 0);
		stats->entries_removed = b.removed;
	}
	arca_mf_in_free(in);
	arca_artifact_rec_clear(&rec);
	return rc;
}
