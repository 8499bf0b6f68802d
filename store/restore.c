/*
 * Restore of an artifact into a new directory or image file.
 *
 * The calling thread reads the manifest and creates every entry with
 * *at() calls relative to directory descriptors it opened itself, never
 * following a symlink (O_NOFOLLOW) and never reusing an existing name
 * (O_EXCL, mkdirat), so nothing can be written outside DEST. Chunk
 * contents are fetched, verified and written by a pool of worker threads.
 */
#include "store/fill.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- images ---- */

static int restore_image(fill_pool *p, arca_mf_reader *r, const char *dest, int force)
{
	struct stat st;
	int fd, blk = 0, rc, rc2;
	uint64_t size = 0;
	fill_file *f;

	if (lstat(dest, &st) == 0) {
		if (!force)
			return arca_err_set(ARCA_EEXISTS, "%s already exists (use --force to overwrite)", dest);
		if (S_ISBLK(st.st_mode))
			blk = 1;
		else if (!S_ISREG(st.st_mode))
			return arca_err_set(ARCA_EINVAL, "%s is not a regular file or block device", dest);
		fd = open(dest, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (blk ? 0 : O_TRUNC));
	} else if (errno == ENOENT) {
		fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	} else {
		return arca_err_sys("restore to %s", dest);
	}
	if (fd < 0)
		return arca_err_sys("open %s", dest);
	if (!(f = fill_file_new(fd))) {
		close(fd);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	rc = fill_extents(p, r, f, 0, blk, &size);
	if (!rc)
		rc = arca_mf_read_finish(r);
	if (!rc && !blk && arca_ftruncate(fd, (off_t)size) < 0)
		rc = arca_err_sys("set size of %s", dest);
	if (!rc && blk) {
		uint64_t dev_size = 0;
		if (lseek(fd, 0, SEEK_END) >= 0)
			dev_size = (uint64_t)lseek(fd, 0, SEEK_END);
		if (dev_size < size)
			rc = arca_err_set(ARCA_ENOSPC, "%s is smaller than the image", dest);
	}
	rc2 = fill_file_release(p, f);
	return rc ? rc : rc2;
}

/* ---- trees ---- */

typedef struct {
	int fd;
	fill_file meta;
} dframe;

static int close_dir(dframe *d, int as_root, int apply)
{
	int rc = apply ? fill_apply_meta(d->fd, &d->meta, as_root) : 0;
	close(d->fd);
	d->fd = -1;
	return rc;
}

static int restore_tree(fill_pool *p, arca_mf_reader *r, const char *dest, int force,
		uint64_t *nentries)
{
	dframe *stack;
	size_t depth = 0;
	arca_mf_entry e;
	size_t want;
	int rc;

	if (mkdir(dest, 0700) < 0) {
		if (errno != EEXIST)
			return arca_err_sys("create %s", dest);
		if (!force)
			return arca_err_set(ARCA_EEXISTS, "%s already exists (use --force to restore into an empty directory)", dest);
	}
	stack = calloc(ARCA_MF_PATH_MAX / 2 + 2, sizeof(dframe));
	if (!stack)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	stack[0].fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (stack[0].fd < 0) {
		rc = arca_err_sys("open %s", dest);
		free(stack);
		return rc;
	}
	depth = 1;
	if (force) {
		struct stat st;
		int dfd = dup(stack[0].fd);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;
		int empty = 1;
		if (!d) {
			rc = arca_err_sys("read %s", dest);
			goto done;
		}
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = 0;
		closedir(d);
		(void)st;
		if (!empty) {
			rc = arca_err_set(ARCA_EEXISTS, "%s is not empty; restore needs an empty directory", dest);
			goto done;
		}
	}

	while ((rc = arca_mf_next_entry(r, &e, &want)) == 1) {
		const char *name;
		int fd;
		dframe *top;

		(*nentries)++;
		if (e.path_len == 0) { /* root: applied to DEST at the end */
			fill_take_meta(&stack[0].meta, &e);
			continue;
		}
		while (depth > want) {
			depth--;
			if ((rc = close_dir(&stack[depth], p->as_root, 1)) != 0)
				goto done;
		}
		top = &stack[depth - 1];
		name = strrchr(e.path, '/');
		name = name ? name + 1 : e.path;

		switch (e.type) {
		case ARCA_MF_DIR:
			if (mkdirat(top->fd, name, 0700) < 0) {
				rc = arca_err_sys("create directory %s", e.path);
				goto done;
			}
			fd = openat(top->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				rc = arca_err_sys("open %s", e.path);
				goto done;
			}
			stack[depth].fd = fd;
			fill_take_meta(&stack[depth].meta, &e);
			depth++;
			break;
		case ARCA_MF_FILE: {
			fill_file *f;
			uint64_t size;
			fd = openat(top->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd < 0) {
				rc = arca_err_sys("create %s", e.path);
				goto done;
			}
			if (!(f = fill_file_new(fd))) {
				close(fd);
				rc = arca_err_set(ARCA_ENOMEM, "out of memory");
				goto done;
			}
			f->tree = 1;
			fill_take_meta(f, &e);
			rc = fill_extents(p, r, f, 0, 0, &size);
			if (!rc && arca_ftruncate(fd, (off_t)size) < 0)
				rc = arca_err_sys("set size of %s", e.path);
			{
				int rc2 = fill_file_release(p, f);
				if (!rc)
					rc = rc2;
			}
			if (rc)
				goto done;
			break;
		}
		case ARCA_MF_SYMLINK:
			if (symlinkat(e.target, top->fd, name) < 0) {
				rc = arca_err_sys("create symlink %s", e.path);
				goto done;
			}
			if ((rc = fill_link_meta(top->fd, name, &e, p->as_root, 1)) != 0)
				goto done;
			break;
		case ARCA_MF_HARDLINK:
			if ((rc = fill_hardlink(stack[0].fd, top->fd, name, &e, NULL)) != 0)
				goto done;
			break;
		case ARCA_MF_FIFO:
			if (mkfifoat(top->fd, name, 0600) < 0) {
				rc = arca_err_sys("create fifo %s", e.path);
				goto done;
			}
			if ((rc = fill_link_meta(top->fd, name, &e, p->as_root, 0)) != 0)
				goto done;
			break;
		}
	}
	if (rc)
		goto done;
	while (depth > 0) {
		depth--;
		if ((rc = close_dir(&stack[depth], p->as_root, 1)) != 0)
			goto done;
	}
done:
	while (depth > 0)
		close_dir(&stack[--depth], 0, 0);
	free(stack);
	return rc;
}

int arca_restore(arca_store *s, const char *ref, const char *dest,
		const arca_restore_options *o, arca_op_stats *stats)
{
	arca_artifact_rec rec;
	arca_mf_in *in = NULL;
	arca_mf_reader r;
	fill_pool p;
	uint64_t entries = 0;
	int kind, rc, rc2, force = o ? o->force : 0;

	if (!s || !ref || !dest || !*dest)
		return arca_err_set(ARCA_EINVAL, "arca_restore: NULL argument");
	if (o && o->version != ARCA_RESTORE_OPTIONS_VERSION)
		return arca_err_set(ARCA_EINVAL, "arca_restore_options: unknown version %u", o->version);
	if ((rc = arca_store__open_manifest(s, ref, &rec, &in, &r, &kind)) != 0)
		return rc;
	fill_start(&p, s);
	if (kind == ARCA_KIND_IMAGE)
		rc = restore_image(&p, &r, dest, force);
	else
		rc = restore_tree(&p, &r, dest, force, &entries);
	rc2 = fill_finish(&p);
	if (!rc)
		rc = rc2;
	if (rc) {
		arca_err_wrap(rc, "restore to %s", dest);
		goto out;
	}
	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->entries = entries;
		stats->logical_bytes = rec.a.logical_bytes;
		stats->bytes_written = p.bytes_written;
		stats->hole_bytes = rec.a.logical_bytes > p.bytes_written ?
			rec.a.logical_bytes - p.bytes_written : 0;
	}
out:
	arca_mf_in_free(in);
	arca_artifact_rec_clear(&rec);
	return rc;
}
