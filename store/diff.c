/*
 * Diff ("mutations"): what changed between two artifacts, or between an
 * artifact and a live directory or image.
 *
 * Trees are merged in manifest order. Content is compared by extents for
 * two artifacts; against a live tree, a file whose stat matches the files
 * cache entry for (artifact, path) is unchanged without being read, any
 * other file of the same size is hashed chunk by chunk against the
 * manifest. Images report the changed byte ranges.
 */
#include "store/store.h"
#include "store/walk.h"
#include "store/artifact.h"
#include "store/filescache.h"
#include "store/manifest.h"
#include "store/mfio.h"
#include "store/record.h"
#include "cas/hash.h"
#include "util/error.h"
#include "util/version.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One side of a tree diff: a manifest, a live directory, or nothing. */
typedef struct {
	int kind;                /* 0 none, 1 manifest, 2 live */
	arca_artifact_rec rec;
	arca_mf_in *in;
	arca_mf_reader r;
	arca_walk *walk;
	arca_walk_entry we;
	int live_root_fd;
	/* current entry */
	int has;
	arca_mf_entry e;
	char target[ARCA_MF_PATH_MAX + 1];
} side;

typedef struct {
	arca_store *s;
	arca_diff_entry_cb on_entry;
	arca_diff_range_cb on_range;
	void *payload;
	arca_diff_stats *st;
	MDB_txn *cache_txn;
	uint8_t *buf;
	size_t buf_cap;
	uint64_t pend_off, pend_len;   /* coalesced changed range */
} differ;

static int skip_extents(side *sd)
{
	uint8_t id[32];
	uint64_t len;
	int has, rc = 0;
	if (sd->kind == 1)
		while (arca_mf_in_extents(&sd->r) &&
		       (rc = arca_mf_next_extent(&sd->r, id, &len, &has)) == 1)
			;
	return rc;
}

static int live_entry(side *sd)
{
	arca_walk_entry *w = &sd->we;
	arca_mf_entry *e = &sd->e;
	memset(e, 0, sizeof(*e));
	e->path = w->path;
	e->path_len = w->len;
	e->mode = w->st.st_mode & 07777;
	e->uid = w->st.st_uid;
	e->gid = w->st.st_gid;
	e->mtime_sec = w->st.st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)w->st.st_mtim.tv_nsec;
	switch (w->st.st_mode & S_IFMT) {
	case S_IFDIR: e->type = ARCA_MF_DIR; break;
	case S_IFIFO: e->type = ARCA_MF_FIFO; break;
	case S_IFREG:
		e->type = w->first ? ARCA_MF_HARDLINK : ARCA_MF_FILE;
		e->size = (uint64_t)w->st.st_size;
		if (w->first) {
			e->target = w->first;
			e->target_len = strlen(w->first);
		}
		break;
	case S_IFLNK: {
		ssize_t n = readlinkat(w->dirfd, w->name, sd->target, sizeof(sd->target) - 1);
		if (n < 0)
			return arca_err_sys("read symlink %s", w->path);
		sd->target[n] = '\0';
		e->type = ARCA_MF_SYMLINK;
		e->target = sd->target;
		e->target_len = (size_t)n;
		break;
	}
	default:
		return 0; /* not representable: skipped, as snapshot does */
	}
	return 1;
}

/* Moves a side to its next entry (sd->has = 0 at the end). */
static int advance(side *sd)
{
	int rc;
	sd->has = 0;
	if (sd->kind == 1) {
		if ((rc = skip_extents(sd)) != 0)
			return rc;
		rc = arca_mf_next_entry(&sd->r, &sd->e, NULL);
		if (rc < 0)
			return rc;
		sd->has = rc;
		return 0;
	}
	if (sd->kind == 2) {
		while ((rc = arca_walk_next(sd->walk, &sd->we)) == 1) {
			if ((rc = live_entry(sd)) < 0)
				return rc;
			if (rc == 1) {
				sd->has = 1;
				return 0;
			}
		}
		return rc;
	}
	return 0;
}

static int report(differ *d, int kind, const side *a, const side *b, unsigned changes)
{
	arca_diff_entry de;
	memset(&de, 0, sizeof(de));
	de.kind = kind;
	de.changes = changes;
	de.path = kind == ARCA_DIFF_ADDED ? b->e.path : a->e.path;
	if (kind != ARCA_DIFF_ADDED) {
		de.type_a = (char)a->e.type;
		de.size_a = a->e.size;
	}
	if (kind != ARCA_DIFF_DELETED) {
		de.type_b = (char)b->e.type;
		de.size_b = b->e.size;
	}
	if (kind == ARCA_DIFF_ADDED)
		d->st->added++;
	else if (kind == ARCA_DIFF_DELETED)
		d->st->deleted++;
	else
		d->st->modified++;
	return d->on_entry ? d->on_entry(&de, d->payload) : 0;
}

static int grow(differ *d, size_t n)
{
	uint8_t *p;
	if (d->buf_cap >= n)
		return 0;
	if (!(p = realloc(d->buf, n)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	d->buf = p;
	d->buf_cap = n;
	return 0;
}

/* 1 when [off, off+len) of fd reads as zeros (holes are skipped). */
static int range_is_zero(differ *d, int fd, uint64_t off, uint64_t len, int *zero)
{
	uint64_t end = off + len;
	int rc;
	*zero = 1;
	while (off < end) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA), hole;
		uint64_t stop;
		if (data < 0) {
			if (errno == ENXIO)
				return 0;
			data = (off_t)off; /* no SEEK_DATA: read it all */
		}
		if ((uint64_t)data >= end)
			return 0;
		hole = lseek(fd, data, SEEK_HOLE);
		stop = hole > data && (uint64_t)hole < end ? (uint64_t)hole : end;
		for (uint64_t p = (uint64_t)data; p < stop;) {
			size_t n = stop - p > (1u << 20) ? (1u << 20) : (size_t)(stop - p);
			ssize_t got;
			if ((rc = grow(d, n)) != 0)
				return rc;
			got = arca_pread_full(fd, d->buf, n, (off_t)p);
			if (got < 0)
				return arca_err_sys("read");
			d->st->bytes_read += (uint64_t)got;
			if (got == 0)
				return 0;
			for (ssize_t i = 0; i < got; i++)
				if (d->buf[i]) {
					*zero = 0;
					return 0;
				}
			p += (uint64_t)got;
		}
		off = stop;
	}
	return 0;
}

/* Does the live fd hold extent (off, len, id|hole)? */
static int extent_matches(differ *d, int fd, uint64_t off, uint64_t len, const uint8_t *id,
		int has_id, int *same)
{
	uint8_t digest[32];
	ssize_t got;
	int rc;
	if (!has_id)
		return range_is_zero(d, fd, off, len, same);
	if ((rc = grow(d, (size_t)len)) != 0)
		return rc;
	got = arca_pread_full(fd, d->buf, (size_t)len, (off_t)off);
	if (got < 0)
		return arca_err_sys("read");
	d->st->bytes_read += (uint64_t)got;
	if ((uint64_t)got != len) {
		*same = 0;
		return 0;
	}
	if ((rc = arca_sha256_digest(digest, d->buf, (size_t)len)) != 0)
		return rc;
	*same = memcmp(digest, id, 32) == 0;
	return 0;
}

/* Content of a FILE: manifest a against manifest or live b. */
static int content_differs(differ *d, side *a, side *b, int *differs)
{
	uint8_t ida[32], idb[32];
	uint64_t la, lb, off = 0;
	int ha, hb, rc, rb, fd, same = 1;
	arca_file_stat fs;

	*differs = 0;
	if (a->e.size != b->e.size) {
		*differs = 1;
		return 0;
	}
	if (b->kind == 1) {
		for (;;) {
			rc = arca_mf_next_extent(&a->r, ida, &la, &ha);
			rb = arca_mf_next_extent(&b->r, idb, &lb, &hb);
			if (rc < 0 || rb < 0)
				return rc < 0 ? rc : rb;
			if (rc != rb || la != lb || ha != hb || (ha && memcmp(ida, idb, 32))) {
				*differs = 1;
				break;
			}
			if (rc == 0)
				break;
		}
		return 0; /* leftovers are skipped by advance() */
	}
	arca_file_stat_from(&fs, &b->we.st);
	if (d->cache_txn && arca_files_cache_match(d->s, d->cache_txn, &a->rec.a.id, a->e.path,
			a->e.path_len, &fs))
		return 0;
	fd = openat(b->we.dirfd, b->we.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return arca_err_sys("open %s", b->e.path);
	while ((rc = arca_mf_next_extent(&a->r, ida, &la, &ha)) == 1) {
		if ((rc = extent_matches(d, fd, off, la, ida, ha, &same)) != 0 || !same)
			break;
		off += la;
	}
	close(fd);
	if (rc < 0)
		return rc;
	*differs = !same;
	return 0;
}

static int compare_entries(differ *d, side *a, side *b)
{
	const arca_mf_entry *x = &a->e, *y = &b->e;
	unsigned ch = 0;
	int rc, differs;

	if (x->type != y->type)
		return report(d, ARCA_DIFF_MODIFIED, a, b, ARCA_DIFF_TYPE);
	if (x->type == ARCA_MF_HARDLINK || x->type == ARCA_MF_SYMLINK) {
		if (x->target_len != y->target_len || memcmp(x->target, y->target, x->target_len))
			ch |= ARCA_DIFF_TARGET;
	}
	if (x->type != ARCA_MF_HARDLINK) {
		if (x->mode != y->mode && x->type != ARCA_MF_SYMLINK)
			ch |= ARCA_DIFF_MODE;
		if (x->uid != y->uid || x->gid != y->gid)
			ch |= ARCA_DIFF_OWNER;
		if (x->mtime_sec != y->mtime_sec || x->mtime_nsec != y->mtime_nsec)
			ch |= ARCA_DIFF_MTIME;
	}
	if (x->type == ARCA_MF_FILE) {
		if ((rc = content_differs(d, a, b, &differs)) != 0)
			return rc;
		if (differs)
			ch |= ARCA_DIFF_CONTENT;
	}
	return ch ? report(d, ARCA_DIFF_MODIFIED, a, b, ch) : 0;
}

static int diff_trees(differ *d, side *a, side *b)
{
	int rc;
	if ((rc = advance(a)) != 0 || (rc = advance(b)) != 0)
		return rc;
	while (a->has || b->has) {
		int c = !a->has ? 1 : !b->has ? -1 :
			arca_mf_path_cmp(a->e.path, a->e.path_len, b->e.path, b->e.path_len);
		if (c < 0) {
			if ((rc = report(d, ARCA_DIFF_DELETED, a, b, 0)) != 0 || (rc = advance(a)) != 0)
				return rc;
		} else if (c > 0) {
			if ((rc = report(d, ARCA_DIFF_ADDED, a, b, 0)) != 0 || (rc = advance(b)) != 0)
				return rc;
		} else {
			/* the roots are compared for metadata only */
			if ((rc = compare_entries(d, a, b)) != 0 || (rc = advance(a)) != 0 ||
			    (rc = advance(b)) != 0)
				return rc;
		}
	}
	return 0;
}

/* ---- images ---- */

static int changed(differ *d, uint64_t off, uint64_t len)
{
	int rc = 0;
	if (!len)
		return 0;
	if (d->pend_len && d->pend_off + d->pend_len == off) {
		d->pend_len += len;
		return 0;
	}
	if (d->pend_len) {
		d->st->ranges++;
		d->st->changed_bytes += d->pend_len;
		if (d->on_range)
			rc = d->on_range(d->pend_off, d->pend_len, d->payload);
	}
	d->pend_off = off;
	d->pend_len = len;
	return rc;
}

static int flush_changed(differ *d)
{
	int rc = changed(d, UINT64_MAX, 1); /* never adjacent: flushes */
	d->pend_len = 0;
	return rc;
}

typedef struct {
	arca_mf_reader *r;
	int more;
	uint64_t off, len;
	int has_id;
	uint8_t id[32];
} cursor;

static int cur_next(cursor *c)
{
	int rc;
	c->off += c->len;
	c->len = 0;
	if (!c->more)
		return 0;
	rc = arca_mf_next_extent(c->r, c->id, &c->len, &c->has_id);
	if (rc < 0)
		return rc;
	c->more = rc;
	if (!rc)
		c->len = 0;
	return 0;
}

static int diff_images(differ *d, side *a, side *b, const char *path)
{
	cursor ca = { &a->r, 1, 0, 0, 0, { 0 } }, cb = { &b->r, 1, 0, 0, 0, { 0 } };
	uint64_t pos = 0;
	int rc;

	if (b->kind == 2) {
		struct stat st;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		int same = 1;
		if (fd < 0)
			return arca_err_sys("open %s", path);
		if (fstat(fd, &st) < 0 || arca_image_size(fd, &st, &d->st->size_b) < 0) {
			close(fd);
			return arca_err_sys("size of %s", path);
		}
		while ((rc = cur_next(&ca)) == 0 && ca.more) {
			if ((rc = extent_matches(d, fd, ca.off, ca.len, ca.id, ca.has_id, &same)) != 0)
				break;
			if (!same && (rc = changed(d, ca.off, ca.len)) != 0)
				break;
		}
		close(fd);
		if (rc)
			return rc;
		d->st->size_a = ca.off;
		if (d->st->size_b != d->st->size_a)
			rc = changed(d, d->st->size_a < d->st->size_b ? d->st->size_a : d->st->size_b,
				d->st->size_a > d->st->size_b ? d->st->size_a - d->st->size_b :
				d->st->size_b - d->st->size_a);
		return rc ? rc : flush_changed(d);
	}
	if ((rc = cur_next(&ca)) != 0 || (rc = cur_next(&cb)) != 0)
		return rc;
	while (ca.more || cb.more) {
		uint64_t end_a = ca.more ? ca.off + ca.len : UINT64_MAX;
		uint64_t end_b = cb.more ? cb.off + cb.len : UINT64_MAX;
		uint64_t end = end_a < end_b ? end_a : end_b;
		int same = ca.more && cb.more &&
			((!ca.has_id && !cb.has_id) ||
			 (ca.has_id && cb.has_id && ca.off == cb.off && ca.len == cb.len &&
			  !memcmp(ca.id, cb.id, 32)));
		if (end == UINT64_MAX)
			break;
		if (!same && (rc = changed(d, pos, end - pos)) != 0)
			return rc;
		pos = end;
		if (end == end_a && (rc = cur_next(&ca)) != 0)
			return rc;
		if (end == end_b && (rc = cur_next(&cb)) != 0)
			return rc;
	}
	d->st->size_a = ca.off;
	d->st->size_b = cb.off;
	return flush_changed(d);
}

/* ---- entry point ---- */

static int open_side(arca_store *s, side *sd, const char *ref, const arca_id *id)
{
	int kind, rc;
	char hex[ARCA_ID_STRLEN];
	if (id) {
		arca_id_format(hex, id);
		ref = hex;
	}
	if ((rc = arca_store__open_manifest(s, ref, &sd->rec, &sd->in, &sd->r, &kind)) != 0)
		return rc;
	sd->kind = 1;
	return 0;
}

static void close_side(side *sd)
{
	arca_mf_in_free(sd->in);
	arca_artifact_rec_clear(&sd->rec);
	arca_walk_free(sd->walk);
}

int arca_diff(arca_store *s, const char *ref_a, const char *ref_b, const char *path,
		arca_diff_entry_cb on_entry, arca_diff_range_cb on_range, void *payload,
		arca_diff_stats *stats)
{
	side a, b;
	differ d;
	arca_diff_stats local;
	struct stat st;
	int rc;

	if (!s || !ref_a || (ref_b && path))
		return arca_err_set(ARCA_EINVAL, "arca_diff: give at most one of ref_b and path");
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&d, 0, sizeof(d));
	memset(&local, 0, sizeof(local));
	d.s = s;
	d.on_entry = on_entry;
	d.on_range = on_range;
	d.payload = payload;
	local.version = ARCA_DIFF_STATS_VERSION;
	d.st = stats ? stats : &local;
	if ((rc = arca__result_start("arca_diff_stats", d.st, sizeof(*d.st), ARCA_DIFF_STATS_VERSION)) != 0)
		return rc;

	if ((rc = open_side(s, &a, ref_a, NULL)) != 0)
		goto done;
	if (ref_b) {
		if ((rc = open_side(s, &b, ref_b, NULL)) != 0)
			goto done;
	} else if (path) {
		if (stat(path, &st) < 0) {
			rc = arca_err_sys("diff %s", path);
			goto done;
		}
		if ((a.rec.a.kind == ARCA_KIND_TREE) != !!S_ISDIR(st.st_mode)) {
			rc = arca_err_set(ARCA_EINVAL, "%s is %s but the artifact is %s", path,
				S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
				a.rec.a.kind == ARCA_KIND_TREE ? "a tree" : "an image");
			goto done;
		}
		b.kind = 2;
		if (a.rec.a.kind == ARCA_KIND_TREE) {
			if ((rc = arca_walk_open(&b.walk, path)) != 0 ||
			    (rc = arca_cas_txn_read(s->cas, &d.cache_txn)) != 0)
				goto done;
		}
	} else if (a.rec.a.has_parent) {
		/* REF alone: what it changed relative to its parent */
		side tmp = a;
		memset(&a, 0, sizeof(a));
		b = tmp;
		rc = open_side(s, &a, NULL, &b.rec.a.parent);
		if (rc == ARCA_ENOTFOUND)
			rc = 0; /* parent removed: everything counts as added */
		if (rc)
			goto done;
	} else {
		side tmp = a;
		memset(&a, 0, sizeof(a));
		b = tmp; /* no parent: everything is added */
	}
	if (a.kind == 1 && b.kind == 1 && a.rec.a.kind != b.rec.a.kind) {
		rc = arca_err_set(ARCA_EINVAL, "cannot diff a tree against an image");
		goto done;
	}
	if ((a.kind == 1 ? a.rec.a.kind : b.rec.a.kind) == ARCA_KIND_IMAGE) {
		if (a.kind == 0) {
			/* an image without parent: all of its data is new */
			cursor cb = { &b.r, 1, 0, 0, 0, { 0 } };
			while ((rc = cur_next(&cb)) == 0 && cb.more)
				if (cb.has_id && (rc = changed(&d, cb.off, cb.len)) != 0)
					break;
			d.st->size_b = cb.off;
			if (!rc)
				rc = flush_changed(&d);
		} else {
			rc = diff_images(&d, &a, &b, path);
		}
	} else {
		rc = diff_trees(&d, &a, &b);
	}
done:
	if (d.cache_txn)
		mdb_txn_abort(d.cache_txn);
	free(d.buf);
	close_side(&a);
	close_side(&b);
	return rc;
}
