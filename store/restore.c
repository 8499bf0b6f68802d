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
#include "store/artifact.h"
#include "store/manifest.h"
#include "store/mfio.h"
#include "store/restore.h"
#include "store/record.h"
#include "store/frames.h"
#include "util/error.h"
#include "util/version.h"
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

/* DEST exists and the force option is not given. */
static int taken(const char *dest, int kind)
{
	return arca_err_set(ARCA_EEXISTS, "%s already exists (the force option %s)", dest,
		kind == ARCA_KIND_IMAGE ? "overwrites it" : "allows an empty directory");
}

int arca_store__restore_precheck(int kind, const char *dest, const arca_restore_options *o)
{
	struct stat st;
	if (!(o && o->force) && lstat(dest, &st) == 0)
		return taken(dest, kind);
	return 0;
}

/* ---- images ---- */

/* --force onto a file with other names writes a new file renamed over it
 * (*tmp, by the caller once every chunk is written): the other names keep
 * their content. */
static int restore_image(fill_pool *p, arca_mf_reader *r, const char *dest, int force,
		char *tmp, size_t ntmp)
{
	struct stat st;
	int fd, blk = 0, rc, rc2;
	uint64_t size = 0;
	fill_file *f;

	if ((rc = arca_fill_guard_image(p, dest)) != 0)
		return rc;
	if (lstat(dest, &st) == 0) {
		if (!force)
			return taken(dest, ARCA_KIND_IMAGE);
		if (S_ISBLK(st.st_mode))
			blk = 1;
		else if (!S_ISREG(st.st_mode))
			return arca_err_set(ARCA_EINVAL, "%s is not a regular file or block device", dest);
		fd = open(dest, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return arca_err_sys("open %s", dest);
		if (fstat(fd, &st) < 0 || (S_ISBLK(st.st_mode) != blk) ||
		    (!blk && !S_ISREG(st.st_mode))) {
			close(fd);
			return arca_err_set(ARCA_EUNSAFE, "%s was replaced while being opened", dest);
		}
		if (!blk && st.st_nlink > 1) {
			int nfd;
			close(fd);
			if ((rc = arca_fill_create_beside(dest, tmp, ntmp, &nfd)) != 0)
				return rc;
			fd = nfd;
			if ((p->as_root && fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM) ||
			    fchmod(fd, st.st_mode & 07777) < 0) {
				rc = arca_err_sys("set owner and mode of %s", tmp);
				close(fd);
				return rc;
			}
		} else if (!blk && ftruncate(fd, 0) < 0) {
			rc = arca_err_sys("truncate %s", dest);
			close(fd);
			return rc;
		}
	} else if (errno == ENOENT) {
		fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return arca_err_sys("open %s", dest);
	} else {
		return arca_err_sys("restore to %s", dest);
	}
	if (!(f = arca_fill_file_new(fd))) {
		close(fd);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	rc = arca_fill_extents(p, r, f, 0, blk, &size);
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
	rc2 = arca_fill_file_release(p, f);
	return rc ? rc : rc2;
}

/* ---- trees ---- */

typedef struct {
	arca_frame d;
	fill_file meta;   /* applied when it closes */
} dframe;

/* Applies the top directory's metadata and pops it. */
static int close_dir(fill_pool *p, arca_frames *fs)
{
	dframe *d = arca_frames_top(fs);
	int rc = arca_fill_apply_meta(p, d->d.fd, &d->meta);
	arca_frames_pop(fs);
	return rc;
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

static int is_store(fill_pool *p, int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		st.st_dev == p->guard.keep_dev && st.st_ino == p->guard.keep_ino;
}

static int restore_tree(fill_pool *p, arca_mf_reader *r, const char *dest, int force,
		uint64_t *nentries)
{
	arca_frames fs;
	dframe *root;
	size_t skip = 0;
	arca_mf_entry e;
	size_t want;
	int rc, created = 0;

	if (mkdir(dest, 0700) == 0) {
		created = 1;
	} else {
		if (errno != EEXIST)
			return arca_err_sys("create %s", dest);
		if (!force)
			return taken(dest, ARCA_KIND_TREE);
	}
	if ((rc = arca_frames_init(&fs, sizeof(dframe), ARCA_FRAMES_MAX)) != 0)
		return rc;
	root = arca_frames_push(&fs, "", 0);
	root->d.fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root->d.fd < 0) {
		rc = arca_err_sys("open %s", dest);
		goto done;
	}
	if ((rc = arca_fill_guard_root(p, root->d.fd, dest)) != 0) {
		if (created)
			rmdir(dest);
		goto done;
	}
	if (force) {
		struct stat st;
		int dfd = dup(root->d.fd);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;
		int empty = 1;
		if (!d) {
			rc = arca_err_sys("read %s", dest);
			goto done;
		}
		/* the store may be in DEST: empty but for it is empty */
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
			    !(p->guard.have_keep &&
			      fstatat(root->d.fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			      st.st_dev == p->guard.keep_dev && st.st_ino == p->guard.keep_ino))
				empty = 0;
		closedir(d);
		if (!empty) {
			rc = arca_err_set(ARCA_EEXISTS, "%s is not empty; restore needs an empty directory", dest);
			goto done;
		}
	}

	while ((rc = arca_mf_next_entry(r, &e, &want)) == 1) {
		const char *name;
		int fd;
		dframe *top, *child;

		if ((rc = arca_fill_progress(p, 1, 0)) != 0)
			goto done;
		(*nentries)++;
		if (e.path_len == 0) { /* root: applied to DEST at the end */
			arca_fill_take_meta(&root->meta, &e);
			continue;
		}
		if (skip && want > skip) { /* below the store */
			if (e.type == ARCA_MF_FILE && (rc = skip_extents(r)) != 0)
				goto done;
			continue;
		}
		skip = 0;
		while (fs.depth > want)
			if ((rc = close_dir(p, &fs)) != 0)
				goto done;
		top = arca_frames_top(&fs);
		name = strrchr(e.path, '/');
		name = name ? name + 1 : e.path;

		/* the only thing DEST may hold: the store, never replaced */
		if (fs.depth == 1 && p->guard.have_keep && is_store(p, top->d.fd, name)) {
			p->guard.kept++;
			if (e.type == ARCA_MF_FILE && (rc = skip_extents(r)) != 0)
				goto done;
			skip = want;
			continue;
		}

		switch (e.type) {
		case ARCA_MF_DIR:
			if (mkdirat(top->d.fd, name, 0700) < 0) {
				rc = arca_err_sys("create directory %s", e.path);
				goto done;
			}
			fd = openat(top->d.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				rc = arca_err_sys("open %s", e.path);
				goto done;
			}
			if (!(child = arca_frames_push(&fs, e.path, e.path_len))) {
				close(fd);
				rc = ARCA_EUNSUPPORTED;
				goto done;
			}
			child->d.fd = fd;
			arca_fill_take_meta(&child->meta, &e);
			break;
		case ARCA_MF_FILE: {
			fill_file *f;
			uint64_t size;
			fd = openat(top->d.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd < 0) {
				rc = arca_err_sys("create %s", e.path);
				goto done;
			}
			if (!(f = arca_fill_file_new(fd))) {
				close(fd);
				rc = arca_err_set(ARCA_ENOMEM, "out of memory");
				goto done;
			}
			f->tree = 1;
			arca_fill_take_meta(f, &e);
			rc = arca_fill_extents(p, r, f, 0, 0, &size);
			if (!rc && arca_ftruncate(fd, (off_t)size) < 0)
				rc = arca_err_sys("set size of %s", e.path);
			{
				int rc2 = arca_fill_file_release(p, f);
				if (!rc)
					rc = rc2;
			}
			if (rc)
				goto done;
			break;
		}
		case ARCA_MF_SYMLINK:
			if (symlinkat(e.target, top->d.fd, name) < 0) {
				rc = arca_err_sys("create symlink %s", e.path);
				goto done;
			}
			if ((rc = arca_fill_link_meta(p, top->d.fd, name, &e, 1)) != 0)
				goto done;
			break;
		case ARCA_MF_HARDLINK:
			/* 1: left out (its target is on another mount or in the store) */
			if ((rc = arca_fill_hardlink(p, root->d.fd, top->d.fd, name, &e, NULL)) < 0)
				goto done;
			rc = 0;
			break;
		case ARCA_MF_FIFO:
			if (mkfifoat(top->d.fd, name, 0600) < 0) {
				rc = arca_err_sys("create fifo %s", e.path);
				goto done;
			}
			if ((rc = arca_fill_link_meta(p, top->d.fd, name, &e, 0)) != 0)
				goto done;
			break;
		}
	}
	if (rc)
		goto done;
	while (fs.depth > 0)
		if ((rc = close_dir(p, &fs)) != 0)
			goto done;
done:
	arca_frames_release(&fs);
	return rc;
}

/* Option and result checks shared by both entry points. */
static int restore_check(const arca_restore_options *o, arca_op_stats *stats)
{
	int rc;
	if (o && (rc = arca__check_version("arca_restore_options", o->version, ARCA_RESTORE_OPTIONS_VERSION)) != 0)
		return rc;
	if (stats && (rc = arca__result_start("arca_op_stats", stats, sizeof(*stats), ARCA_OP_STATS_VERSION)) != 0)
		return rc;
	return 0;
}

/* The restore itself: the manifest `r` (past its header) of `rec`, the
 * chunks from `src` (NULL: s's cas); `s` may be NULL. */
static int restore_run(arca_store *s, const arca_artifact_rec *rec, arca_mf_reader *r, int kind,
		const arca_chunk_source *src, const char *dest, const arca_restore_options *o,
		arca_op_stats *stats)
{
	fill_pool p;
	arca_progress_state ps;
	char tmp[4096] = "";
	uint64_t entries = 0;
	int rc, rc2, force = o ? o->force : 0;

	arca_progress__init(&ps, o && o->version >= 2 ? o->progress_cb : NULL,
		o && o->version >= 2 ? o->progress_payload : NULL);
	arca_fill_start_src(&p, s, src);
	p.progress = &ps;
	rc = arca_progress__begin(&ps, ARCA_PROGRESS_WRITE, rec->a.entries, rec->a.logical_bytes);
	if (!rc && kind == ARCA_KIND_IMAGE)
		rc = restore_image(&p, r, dest, force, tmp, sizeof(tmp));
	else if (!rc)
		rc = restore_tree(&p, r, dest, force, &entries);
	rc2 = arca_fill_finish(&p);
	if (!rc)
		rc = rc2;
	if (!rc)
		rc = arca_progress__end(&ps, entries, rec->a.logical_bytes);
	if (*tmp) {
		if (!rc && rename(tmp, dest) < 0)
			rc = arca_err_sys("replace %s", dest);
		if (rc)
			unlink(tmp);
	}
	if (rc)
		return arca_err_wrap(rc, "restore to %s", dest);
	if (p.guard.foreign)
		rc = arca_err_set(ARCA_EUNSAFE, "restore to %s: %s would reach another mount or "
			"the store, left out: DEST does not equal the artifact", dest,
			p.guard.first_foreign);
	if (stats) {
		arca__result_clear(stats, sizeof(*stats));
		stats->entries = entries;
		stats->entries_skipped = p.guard.kept;
		stats->setid_dropped = p.setid_dropped;
		stats->logical_bytes = rec->a.logical_bytes;
		stats->bytes_written = p.bytes_written;
		stats->hole_bytes = rec->a.logical_bytes > p.bytes_written ?
			rec->a.logical_bytes - p.bytes_written : 0;
	}
	return rc;
}

int arca_restore(arca_store *s, const char *ref, const char *dest,
		const arca_restore_options *o, arca_op_stats *stats)
{
	arca_artifact_rec rec;
	arca_mf_in *in = NULL;
	arca_mf_reader r;
	int kind, rc;

	if (!s || !ref || !dest || !*dest)
		return arca_err_set(ARCA_EINVAL, "arca_restore: NULL argument");
	if ((rc = restore_check(o, stats)) != 0)
		return rc;
	if ((rc = arca_store__open_manifest(s, ref, &rec, &in, &r, &kind)) != 0)
		return rc;
	rc = restore_run(s, &rec, &r, kind, NULL, dest, o, stats);
	arca_mf_in_free(in);
	arca_artifact_rec_clear(&rec);
	return rc;
}

int arca_store__restore_src(arca_store *s, const arca_artifact_rec *rec,
		const arca_chunk_source *src, const char *dest, const arca_restore_options *o,
		arca_op_stats *stats)
{
	arca_mf_in *in = NULL;
	arca_mf_reader r;
	int kind, rc;

	if (!rec || !src || !dest || !*dest)
		return arca_err_set(ARCA_EINVAL, "arca_store__restore_src: NULL argument");
	if ((rc = restore_check(o, stats)) != 0)
		return rc;
	if ((rc = arca_mf_in_new_src(&in, src, rec)) != 0)
		return rc;
	arca_mf_reader_init(&r, arca_mf_in_read, in);
	if ((rc = arca_mf_read_header(&r, &kind)) == 0 && kind != (int)rec->a.kind)
		rc = arca_err_set(ARCA_ECORRUPT, "manifest kind differs from the index");
	if (!rc)
		rc = restore_run(s, rec, &r, kind, src, dest, o, stats);
	arca_mf_in_free(in);
	return rc;
}
