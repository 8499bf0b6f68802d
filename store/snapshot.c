/*
 * Snapshot of a directory tree or a disk image.
 *
 * The walk (or image read) runs as the ingest producer; the manifest is
 * written on the calling thread in the order the producer saw things, so
 * it is canonical: pre-order, siblings sorted bytewise.
 */
#include "store/store.h"
#include "cas/hash.h"
#include "cas/ingest.h"
#include "store/manifest.h"
#include "store/walk.h"
#include "store/artifact.h"
#include "store/filescache.h"
#include "store/history.h"
#include "store/journal.h"
#include "store/mfio.h"
#include "store/names.h"
#include "store/record.h"
#include "store/refs.h"
#include "store/resolve.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/version.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A tree entry (or a warning about one) travelling from the walker to
 * the manifest writer. */
typedef struct {
	arca_mf_entry e;
	int cache;            /* regular file: record fs in the files cache */
	arca_file_stat fs;
	const char *warning;  /* set: not an entry but a warning about e.path */
	char strings[];
} entry_msg;

/* Marks the end of a file's extents (or of an image's). */
static entry_msg extents_end;
/* Drops the current file (or image) with the extents sent so far: it is
 * read again and sent anew. */
static entry_msg extents_discard;
/* Starts an image: its extents are held back like a file's. */
static entry_msg image_begin;

static const char msg_changed[] = "changed while being read; stored as last read";
static const char msg_dir_changed[] = "was removed or replaced while being read; stored empty";
static const char msg_vanished[] = "was removed or replaced while being read; not stored";

/* Test hook: called on the producer thread after the first block of each
 * read attempt of a file or image (attempt 0, then 1 for the re-read),
 * and with attempt -1 before a tree's file is opened. */
void (*arca_snapshot__read_hook)(const char *path, int attempt, void *arg);
void *arca_snapshot__read_hook_arg;

/* A held-back extent. Past ext_mem_max of them, a file's extents spill
 * to an unlinked temporary file in the store, so memory stays bounded
 * whatever the file's size. */
typedef struct {
	uint8_t id[32];
	uint64_t len;
	uint8_t has_id;
} held_extent;

#define SPILL_REC 41
size_t arca_snapshot__ext_mem_max = 1u << 16; /* ~3 MiB; tests lower it */

typedef struct {
	arca_store *s;
	const char *path;
	int kind;
	int image_fd;
	uint64_t image_size;
	dev_t store_dev;       /* the store's own directory: never stored */
	ino_t store_ino;
	const arca_snapshot_options *o;

	/* producer side */
	uint64_t bytes_read, entries, skipped, excluded, files_unchanged;

	/* incremental trees: the parent's manifest, walked alongside */
	int have_parent;
	arca_artifact_rec parent;
	arca_mf_in *pin;
	arca_mf_reader pr;
	arca_mf_entry pe;      /* parent entry at the reader's position */
	int parent_has;        /* pe is valid */
	int parent_consumed;   /* pe's extents were read */
	MDB_txn *cache_txn;

	/* writer side */
	arca_cas_writer *w;
	int write_cache;
	arca_mf_writer mw;
	uint64_t logical, holes, chunks, changed;
	/* the file (or image) whose extents are held back until its end */
	entry_msg *pending;
	int pending_image;
	held_extent *held;
	size_t nheld, held_cap;
	int spill_fd;
	uint64_t nspilled;
	uint64_t held_total, held_holes, held_chunks;
	arca_progress_state progress;
	uint64_t sunk_entries;  /* entries written to the manifest */
	uint64_t data_sunk;     /* content bytes of chunks (not holes) sunk */
	const arca_ingest_stats *live; /* the ingest's counters as it runs */
} snap;

static int check_options(const arca_snapshot_options *o)
{
	int rc;
	if ((rc = arca__check_version("arca_snapshot_options", o->version, ARCA_SNAPSHOT_OPTIONS_VERSION)) != 0)
		return rc;
	if (o->name && (rc = arca_store__check_word("name", o->name, ARCA_NAME_MAX, 1)) != 0)
		return rc;
	if (o->tag && (rc = arca_store__check_word("tag", o->tag, ARCA_TAG_MAX, 0)) != 0)
		return rc;
	if (o->tag && !o->name)
		return arca_err_set(ARCA_EINVAL, "a tag needs a name");
	if (o->nlabels > ARCA_LABELS_MAX)
		return arca_err_set(ARCA_EINVAL, "too many labels (max %d)", ARCA_LABELS_MAX);
	for (size_t i = 0; i < o->nlabels; i++) {
		if (!o->labels[i].key || !o->labels[i].value)
			return arca_err_set(ARCA_EINVAL, "label %zu is incomplete", i);
		if ((rc = arca_store__check_word("label key", o->labels[i].key, 128, 1)) != 0)
			return rc;
		if (strlen(o->labels[i].value) > 1024)
			return arca_err_set(ARCA_EINVAL, "label value too long (max 1024 bytes)");
	}
	return 0;
}

/* ---- producer ---- */

/* Feeds `size` bytes of `fd`; *shrank when the file ended early (then
 * only what was there is fed). */
static int feed_content(arca_ingest *ing, int fd, uint64_t size, int sparse,
		uint64_t *nread, const char *what, int attempt, int *shrank)
{
	uint64_t off = 0;
	int rc, hooked = 0;

	while (off < size) {
		uint64_t end = size;
		if (sparse) {
			off_t d = lseek(fd, (off_t)off, SEEK_DATA);
			if (d < 0) {
				if (errno != ENXIO) {
					sparse = 0; /* not supported here: read it all */
					d = (off_t)off;
				} else {
					d = (off_t)size;
				}
			}
			if ((uint64_t)d > size)
				d = (off_t)size;
			if ((uint64_t)d > off) {
				if ((rc = arca_ingest_hole(ing, (uint64_t)d - off)) != 0)
					return rc;
				off = (uint64_t)d;
				continue;
			}
			if (sparse) {
				off_t h = lseek(fd, (off_t)off, SEEK_HOLE);
				if (h > (off_t)off && (uint64_t)h < size)
					end = (uint64_t)h;
			}
		}
		while (off < end) {
			uint8_t *p;
			size_t avail;
			ssize_t r;
			if ((rc = arca_ingest_buffer(ing, &p, &avail)) != 0)
				return rc;
			if (avail > end - off)
				avail = (size_t)(end - off);
			r = pread(fd, p, avail, (off_t)off);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return arca_err_sys("read %s", what);
			}
			if (r == 0) {
				*shrank = 1;
				return arca_ingest_end_run(ing);
			}
			arca_ingest_commit(ing, (size_t)r);
			off += (uint64_t)r;
			*nread += (uint64_t)r;
			if (!hooked && arca_snapshot__read_hook) {
				hooked = 1;
				arca_snapshot__read_hook(what, attempt, arca_snapshot__read_hook_arg);
			}
		}
	}
	return arca_ingest_end_run(ing);
}

/* A file's fstat and the time just before it was taken. */
typedef struct {
	struct stat st;
	int64_t at_ns;
} fstamp;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int stamp(int fd, fstamp *f, const char *what)
{
	f->at_ns = now_ns();
	if (fstat(fd, &f->st) < 0)
		return arca_err_sys("stat %s", what);
	return 0;
}

static int64_t ctime_ns(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* How far a change can be stamped behind the clock: a timer tick (10 ms
 * covers HZ=100), or 2 s on filesystems with whole-second times. */
static int64_t stamp_slack(const struct stat *st)
{
	return st->st_ctim.tv_nsec == 0 ? 2000000000 : 10000000;
}

static int racy(const fstamp *f)
{
	return ctime_ns(&f->st) + stamp_slack(&f->st) > f->at_ns;
}

/* After a read of the file `before` describes: 0 when what was read is
 * one version of it; 1 when it may not be: it changed or shrank, or it
 * had changed so shortly before the read that a change during the read
 * could carry the same timestamp and go unseen (git's "racy clean").
 * With `reread`, this then waits until a new change would show and
 * *after is the file to read again. */
static int settle(int fd, const fstamp *before, int shrank, int reread, fstamp *after,
		const char *what)
{
	int64_t wait;
	int rc;

	if (S_ISBLK(before->st.st_mode))
		return shrank; /* a block device carries no timestamps to compare */
	if ((rc = stamp(fd, after, what)) != 0)
		return rc;
	if (!shrank && after->st.st_size == before->st.st_size &&
	    after->st.st_mtim.tv_sec == before->st.st_mtim.tv_sec &&
	    after->st.st_mtim.tv_nsec == before->st.st_mtim.tv_nsec &&
	    after->st.st_ctim.tv_sec == before->st.st_ctim.tv_sec &&
	    after->st.st_ctim.tv_nsec == before->st.st_ctim.tv_nsec && !racy(before))
		return 0;
	if (!reread)
		return 1;
	wait = ctime_ns(&after->st) + stamp_slack(&after->st) - now_ns();
	if (wait > 0) {
		struct timespec ts = { (time_t)(wait / 1000000000), (long)(wait % 1000000000) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if ((rc = stamp(fd, after, what)) != 0)
			return rc;
	}
	return 1;
}

static entry_msg *warning_new(const char *path, size_t len, const char *warning)
{
	entry_msg *m = malloc(sizeof(*m) + len + 1);
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	memcpy(m->strings, path, len);
	m->strings[len] = '\0';
	m->e.path = m->strings;
	m->e.path_len = len;
	m->warning = warning;
	return m;
}

static int produce_image(arca_ingest *ing, void *ctx)
{
	snap *sn = ctx;
	fstamp before, after;
	uint64_t size = sn->image_size;
	int rc, shrank = 0;

	if ((rc = stamp(sn->image_fd, &before, sn->path)) != 0)
		return rc;
	if ((rc = arca_ingest_mark(ing, &image_begin)) != 0)
		return rc;
	for (int attempt = 0;; attempt++) {
		uint64_t read_before = sn->bytes_read;
		shrank = 0;
		if ((rc = feed_content(ing, sn->image_fd, size, 1, &sn->bytes_read, sn->path,
				attempt, &shrank)) != 0)
			return rc;
		if ((rc = settle(sn->image_fd, &before, shrank, attempt == 0, &after, sn->path)) < 0)
			return rc;
		if (rc == 0)
			break;
		if (attempt == 1) {
			entry_msg *w = warning_new(sn->path, strlen(sn->path), msg_changed);
			if (!w)
				return arca_err_set(ARCA_ENOMEM, "out of memory");
			if ((rc = arca_ingest_mark(ing, w)) != 0) {
				free(w);
				return rc;
			}
			break;
		}
		/* read it once more, from the start */
		sn->bytes_read = read_before;
		if ((rc = arca_ingest_mark(ing, &extents_discard)) != 0 ||
		    (rc = arca_ingest_mark(ing, &image_begin)) != 0)
			return rc;
		if (!S_ISBLK(before.st.st_mode)) {
			before = after;
			size = (uint64_t)after.st.st_size;
		}
	}
	return arca_ingest_mark(ing, &extents_end);
}

static entry_msg *entry_new(int type, const char *path, size_t len, const struct stat *st,
		const char *target, size_t tlen)
{
	entry_msg *m = malloc(sizeof(*m) + len + tlen + 2);
	if (!m)
		return NULL;
	memset(&m->e, 0, sizeof(m->e));
	m->e.type = (uint8_t)type;
	memcpy(m->strings, path, len);
	m->strings[len] = '\0';
	m->e.path = m->strings;
	m->e.path_len = len;
	if (target) {
		memcpy(m->strings + len + 1, target, tlen);
		m->strings[len + 1 + tlen] = '\0';
		m->e.target = m->strings + len + 1;
		m->e.target_len = tlen;
	}
	if (st) {
		m->e.mode = st->st_mode & 07777;
		m->e.uid = st->st_uid;
		m->e.gid = st->st_gid;
		m->e.mtime_sec = st->st_mtim.tv_sec;
		m->e.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	}
	m->warning = NULL;
	m->cache = type == ARCA_MF_FILE && st;
	if (m->cache) {
		arca_file_stat_from(&m->fs, st);
		m->e.size = (uint64_t)st->st_size;
	}
	return m;
}

static int emit(arca_ingest *ing, snap *sn, entry_msg *m)
{
	int rc;
	if (!m)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((rc = arca_ingest_mark(ing, m)) != 0) {
		free(m);
		return rc;
	}
	sn->entries++;
	return 0;
}

/* O_NONBLOCK: a file replaced by a FIFO since its lstat must not block
 * the open (it changes nothing for regular files). */
static int open_file(int dirfd, const char *name)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	int fd = openat(dirfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags);
	return fd;
}

/* ---- incremental: reuse unchanged files of the parent ---- */

static void parent_stop(snap *sn)
{
	sn->parent_has = 0;
}

static int parent_open(snap *sn)
{
	int kind;
	if (!sn->have_parent || arca_mf_in_new(&sn->pin, sn->s, &sn->parent) != 0 ||
	    arca_cas_txn_read(sn->s->cas, &sn->cache_txn) != 0)
		return 0;
	arca_mf_reader_init(&sn->pr, arca_mf_in_read, sn->pin);
	if (arca_mf_read_header(&sn->pr, &kind) != 0 || kind != ARCA_KIND_TREE ||
	    arca_mf_next_entry(&sn->pr, &sn->pe, NULL) != 1)
		return 0;
	sn->parent_has = 1;
	sn->parent_consumed = 1; /* the root has no extents */
	return 0;
}

static void parent_close(snap *sn)
{
	if (sn->cache_txn)
		mdb_txn_abort(sn->cache_txn);
	sn->cache_txn = NULL;
	arca_mf_in_free(sn->pin);
	sn->pin = NULL;
	sn->parent_has = 0;
}

/* Moves to the parent's next entry; a damaged parent just stops reuse. */
static void parent_advance(snap *sn)
{
	uint8_t id[32];
	uint64_t len;
	int has, rc = 0;
	if (!sn->parent_consumed)
		while ((rc = arca_mf_next_extent(&sn->pr, id, &len, &has)) == 1)
			;
	if (rc < 0 || arca_mf_next_entry(&sn->pr, &sn->pe, NULL) != 1) {
		parent_stop(sn);
		return;
	}
	sn->parent_consumed = sn->pe.type != ARCA_MF_FILE;
}

/* Positions the parent reader at `path`; 1 if the parent has it. */
static int parent_seek(snap *sn, const char *path, size_t len)
{
	while (sn->parent_has) {
		int c = arca_mf_path_cmp(sn->pe.path, sn->pe.path_len, path, len);
		if (c == 0)
			return 1;
		if (c > 0)
			return 0;
		parent_advance(sn);
	}
	return 0;
}

/* Passes the parent's extents for an unchanged file; *reused says so.
 * Takes ownership of `m`. */
static int try_reuse(arca_ingest *ing, snap *sn, entry_msg *m, int *reused)
{
	uint8_t id[32];
	uint64_t len, size;
	int has, rc;

	*reused = 0;
	if (!parent_seek(sn, m->e.path, m->e.path_len) || sn->pe.type != ARCA_MF_FILE ||
	    !arca_files_cache_match(sn->s, sn->cache_txn, &sn->parent.a.id, m->e.path,
		    m->e.path_len, &m->fs)) {
		free(m);
		return 0;
	}
	*reused = 1;
	size = m->fs.size; /* m belongs to the writer once emitted */
	if ((rc = emit(ing, sn, m)) != 0)
		return rc;
	sn->parent_consumed = 1;
	while ((rc = arca_mf_next_extent(&sn->pr, id, &len, &has)) == 1) {
		rc = has ? arca_ingest_known(ing, id, (uint32_t)len) : arca_ingest_hole(ing, len);
		if (rc)
			return rc;
	}
	if (rc < 0)
		return arca_err_wrap(rc, "reading the parent's manifest");
	if (sn->pr.extent_total != size)
		return arca_err_set(ARCA_ECORRUPT, "parent manifest: size of %s does not match the files cache",
			sn->pe.path);
	sn->files_unchanged++;
	return arca_ingest_mark(ing, &extents_end);
}

static int emit_warning(arca_ingest *ing, const char *path, size_t len, const char *warning)
{
	entry_msg *m = warning_new(path, len, warning);
	int rc;
	if (!m)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((rc = arca_ingest_mark(ing, m)) != 0)
		free(m);
	return rc;
}

/* Reads an open file into the manifest: once, and once more from the
 * start when it changed meanwhile; if it changed again, what was read
 * last is stored with a warning (and not put in the files cache). */
static int read_file(arca_ingest *ing, snap *sn, int fd, const char *path, size_t len,
		fstamp *now)
{
	fstamp after;
	int rc;

	for (int attempt = 0;; attempt++) {
		uint64_t read_before = sn->bytes_read;
		int shrank = 0;
		if ((rc = emit(ing, sn, entry_new(ARCA_MF_FILE, path, len, &now->st, NULL, 0))) != 0)
			return rc;
		rc = feed_content(ing, fd, (uint64_t)now->st.st_size,
			(uint64_t)now->st.st_blocks * 512 < (uint64_t)now->st.st_size,
			&sn->bytes_read, path, attempt, &shrank);
		if (rc)
			return rc;
		if ((rc = settle(fd, now, shrank, attempt == 0, &after, path)) < 0)
			return rc;
		if (rc == 0)
			break;
		if (attempt == 1) {
			if ((rc = emit_warning(ing, path, len, msg_changed)) != 0)
				return rc;
			break;
		}
		if ((rc = arca_ingest_mark(ing, &extents_discard)) != 0)
			return rc;
		sn->entries--; /* the entry is sent again */
		sn->bytes_read = read_before; /* counted once: what is stored */
		*now = after;
	}
	return arca_ingest_mark(ing, &extents_end);
}

static int snap_file(arca_ingest *ing, snap *sn, arca_walk *w, int dirfd, const char *name,
		const char *path, size_t len, const struct stat *st)
{
	fstamp now;
	int fd, rc;

	if (sn->parent_has) {
		entry_msg *m = entry_new(ARCA_MF_FILE, path, len, st, NULL, 0);
		int reused;
		if (!m)
			return arca_err_set(ARCA_ENOMEM, "out of memory");
		rc = try_reuse(ing, sn, m, &reused);
		if (reused || rc)
			return rc;
	}
	if (arca_snapshot__read_hook)
		arca_snapshot__read_hook(path, -1, arca_snapshot__read_hook_arg);
	fd = open_file(dirfd, name);
	if (fd < 0 && (errno == ENOENT || errno == ELOOP))
		goto gone; /* removed, or replaced by a symlink, since the walk saw it */
	if (fd < 0)
		return arca_err_sys("open %s", path);
	if ((rc = stamp(fd, &now, path)) != 0) {
		close(fd);
		return rc;
	}
	if (!S_ISREG(now.st.st_mode)) {
		close(fd);
		goto gone;
	}
	if (now.st.st_ino != st->st_ino || now.st.st_dev != st->st_dev)
		arca_walk_forget_link(w, st); /* replaced by another file: store that */
	rc = read_file(ing, sn, fd, path, len, &now);
	close(fd);
	return rc;
gone:
	arca_walk_forget_link(w, st);
	return emit_warning(ing, path, len, msg_vanished);
}

static int snap_symlink(arca_ingest *ing, snap *sn, int dirfd, const char *name,
		const char *path, size_t len, const struct stat *st)
{
	char target[ARCA_MF_PATH_MAX + 1];
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
	if (n < 0)
		return arca_err_sys("read symlink %s", path);
	if ((size_t)n >= sizeof(target) || n == 0)
		return arca_err_set(ARCA_EUNSUPPORTED, "symlink %s: target too long", path);
	return emit(ing, sn, entry_new(ARCA_MF_SYMLINK, path, len, st, target, (size_t)n));
}

static int produce_tree(arca_ingest *ing, void *ctx)
{
	snap *sn = ctx;
	arca_walk *w = NULL;
	arca_walk_entry e;
	int rc;

	if ((rc = arca_walk_open(&w, sn->path)) != 0)
		return rc;
	arca_walk_report_changes(w);
	parent_open(sn);
	while ((rc = arca_walk_next(w, &e)) == 1) {
		if (e.dir_changed) {
			rc = emit_warning(ing, e.path, e.len, msg_dir_changed);
			if (rc)
				break;
			continue;
		}
		switch (e.st.st_mode & S_IFMT) {
		case S_IFDIR:
			if (e.st.st_dev == sn->store_dev && e.st.st_ino == sn->store_ino) {
				/* the store itself: storing it would capture its live
				 * index, and restoring that would overwrite it */
				arca_walk_skip(w);
				sn->excluded++;
				rc = 0;
				break;
			}
			rc = emit(ing, sn, entry_new(ARCA_MF_DIR, e.path, e.len, &e.st, NULL, 0));
			break;
		case S_IFREG:
			if (e.first)
				rc = emit(ing, sn, entry_new(ARCA_MF_HARDLINK, e.path, e.len, NULL,
					e.first, strlen(e.first)));
			else
				rc = snap_file(ing, sn, w, e.dirfd, e.name, e.path, e.len, &e.st);
			break;
		case S_IFLNK:
			rc = snap_symlink(ing, sn, e.dirfd, e.name, e.path, e.len, &e.st);
			break;
		case S_IFIFO:
			rc = emit(ing, sn, entry_new(ARCA_MF_FIFO, e.path, e.len, &e.st, NULL, 0));
			break;
		default:
			sn->skipped++; /* sockets and device nodes */
			rc = 0;
			break;
		}
		if (rc)
			break;
	}
	parent_close(sn);
	arca_walk_free(w);
	return rc;
}

/* ---- sink (calling thread) ---- */

static void sink_warn(snap *sn, const char *path, const char *message)
{
	arca_buf full = ARCA_BUF_INIT(SIZE_MAX);
	const char *shown = sn->kind == ARCA_KIND_TREE ? sn->path : path;
	sn->changed++;
	if (!sn->o->on_warning)
		return;
	/* a path cut short would name another file: without memory, the
	 * path in the tree is what it gets */
	if (sn->kind == ARCA_KIND_TREE && path[0])
		shown = arca_buf_setf(&full, "%s%s%s", sn->path,
			sn->path[strlen(sn->path) - 1] == '/' ? "" : "/", path) == 0 ?
			arca_buf_cstr(&full) : path;
	sn->o->on_warning(shown, message, sn->o->warning_payload);
	arca_buf_release(&full);
}

static void held_reset(snap *sn)
{
	sn->nheld = 0;
	sn->nspilled = 0;
	sn->held_total = sn->held_holes = sn->held_chunks = 0;
}

static int spill_open(snap *sn)
{
	arca_buf tmpl = ARCA_BUF_INIT(4096);
	sn->spill_fd = open(sn->s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (sn->spill_fd >= 0)
		return 0;
	if (arca_buf_setf(&tmpl, "%s/snapshot-XXXXXX", sn->s->dir) != 0)
		return arca_err_set(ARCA_EINVAL, "store path too long");
	sn->spill_fd = mkostemp((char *)tmpl.ptr, O_CLOEXEC);
	if (sn->spill_fd < 0) {
		int rc = arca_err_sys("temporary file in %s", sn->s->dir);
		arca_buf_release(&tmpl);
		return rc;
	}
	unlink(arca_buf_cstr(&tmpl));
	arca_buf_release(&tmpl);
	return 0;
}

/* Moves the held extents in memory to the spill file. */
static int spill(snap *sn)
{
	uint8_t buf[256 * SPILL_REC];
	size_t i = 0;
	int rc;

	if (sn->spill_fd < 0 && (rc = spill_open(sn)) != 0)
		return rc;
	while (i < sn->nheld) {
		size_t n = 0;
		for (; i < sn->nheld && n < 256; i++, n++) {
			uint8_t *r = buf + n * SPILL_REC;
			memcpy(r, sn->held[i].id, 32);
			arca_put_le64(r + 32, sn->held[i].len);
			r[40] = sn->held[i].has_id;
		}
		if (arca_pwrite_all(sn->spill_fd, buf, n * SPILL_REC,
				(off_t)(sn->nspilled * SPILL_REC)) < 0)
			return arca_err_sys("write temporary file in %s", sn->s->dir);
		sn->nspilled += n;
	}
	sn->nheld = 0;
	return 0;
}

static int hold_extent(snap *sn, const uint8_t *id, uint64_t len)
{
	size_t max = arca_snapshot__ext_mem_max ? arca_snapshot__ext_mem_max : 1;
	held_extent *x;
	int rc;
	if (sn->nheld == sn->held_cap) {
		if (sn->held_cap >= max) {
			if ((rc = spill(sn)) != 0)
				return rc;
		} else {
			/* doubling, but never past the memory cap */
			size_t nc = sn->held_cap ? sn->held_cap * 2 : 64;
			if (nc > max)
				nc = max;
			if ((rc = arca_array_resize(&sn->held, &sn->held_cap, nc, sizeof(*sn->held))) != 0)
				return rc;
		}
	}
	x = &sn->held[sn->nheld++];
	x->has_id = id != NULL;
	if (id)
		memcpy(x->id, id, 32);
	x->len = len;
	sn->held_total += len;
	if (id)
		sn->held_chunks++;
	else
		sn->held_holes += len;
	return 0;
}

static int put_cache(snap *sn, const entry_msg *m)
{
	uint8_t key[32], val[ARCA_FILE_STAT_LEN];
	MDB_val k = { 32, key }, v = { ARCA_FILE_STAT_LEN, val };
	int rc, mrc;
	arca_file_stat_encode(val, &m->fs);
	if ((rc = arca_sha256_digest(key, m->e.path, m->e.path_len)) == 0 &&
	    (mrc = mdb_put(arca_cas_writer_txn(sn->w), sn->s->dbi_files_stage, &k, &v, 0)) != 0)
		rc = arca_lmdb_error(mrc, "files cache");
	return rc;
}

/* Writes the pending file (or image) and its held extents. Its size is
 * what its extents add up to: a file that shrank while being read still
 * gives a consistent manifest. */
static int flush_pending(snap *sn)
{
	uint8_t buf[256 * SPILL_REC];
	entry_msg *m = sn->pending;
	int rc = 0;

	if (!sn->pending_image) {
		if (m->e.size != sn->held_total)
			m->cache = 0;
		m->e.size = sn->held_total;
		if ((rc = arca_mf_write_entry(&sn->mw, &m->e)) != 0)
			return rc;
		if (m->cache && sn->write_cache && (rc = put_cache(sn, m)) != 0)
			return rc;
	}
	for (uint64_t i = 0; i < sn->nspilled && !rc;) {
		size_t n = sn->nspilled - i > 256 ? 256 : (size_t)(sn->nspilled - i);
		ssize_t r = pread(sn->spill_fd, buf, n * SPILL_REC, (off_t)(i * SPILL_REC));
		if (r != (ssize_t)(n * SPILL_REC))
			return r < 0 ? arca_err_sys("read temporary file in %s", sn->s->dir) :
				arca_err_set(ARCA_EIO, "temporary file in %s: short read", sn->s->dir);
		for (size_t j = 0; j < n && !rc; j++) {
			const uint8_t *x = buf + j * SPILL_REC;
			rc = arca_mf_write_extent(&sn->mw, x[40] ? x : NULL, arca_get_le64(x + 32));
		}
		i += n;
	}
	for (size_t i = 0; i < sn->nheld && !rc; i++)
		rc = arca_mf_write_extent(&sn->mw, sn->held[i].has_id ? sn->held[i].id : NULL,
			sn->held[i].len);
	if (rc)
		return rc;
	sn->logical += sn->held_total;
	sn->holes += sn->held_holes;
	sn->chunks += sn->held_chunks;
	held_reset(sn);
	if (!sn->pending_image) {
		rc = arca_mf_write_extents_end(&sn->mw);
		free(m);
		sn->sunk_entries++; /* counted once written: a file read again is one entry */
	}
	sn->pending = NULL;
	sn->pending_image = 0;
	return rc;
}

static void drop_pending(snap *sn)
{
	if (!sn->pending_image)
		free(sn->pending);
	sn->pending = NULL;
	sn->pending_image = 0;
	held_reset(sn);
}

/* Progress from the sink, on the calling thread; a cancel aborts the
 * ingest, whose workers and reader then stop. */
static int sink_progress(snap *sn)
{
	/* what deduplication saved so far: content sunk that was not new
	 * (a group's new bytes count when its first member is written) */
	uint64_t added = sn->live ? sn->live->new_raw_bytes : 0;
	arca_progress__known(&sn->progress, sn->data_sunk > added ? sn->data_sunk - added : 0);
	return arca_progress__set(&sn->progress, sn->sunk_entries, sn->logical + sn->held_total);
}

static int sink_mark(void *ctx, void *payload)
{
	snap *sn = ctx;
	entry_msg *m = payload;
	int rc;

	if ((rc = sink_progress(sn)) != 0)
		return rc;

	if (m == &extents_end)
		return sn->pending ? flush_pending(sn) : arca_mf_write_extents_end(&sn->mw);
	if (m == &extents_discard) {
		/* the content is sent again: count it once */
		sn->data_sunk -= sn->held_total - sn->held_holes;
		drop_pending(sn);
		return 0;
	}
	if (m == &image_begin) {
		drop_pending(sn);
		sn->pending = &image_begin;
		sn->pending_image = 1;
		return 0;
	}
	if (m->warning) {
		if (sn->pending && !sn->pending_image)
			sn->pending->cache = 0; /* what was stored is not what is there */
		sink_warn(sn, m->e.path, m->warning);
		free(m);
		return 0;
	}
	if (m->e.type == ARCA_MF_FILE) {
		drop_pending(sn);
		sn->pending = m;
		return 0;
	}
	rc = arca_mf_write_entry(&sn->mw, &m->e);
	free(m);
	sn->sunk_entries++;
	return rc;
}

static int sink_extent(void *ctx, const uint8_t *id, uint64_t len)
{
	snap *sn = ctx;
	int rc;
	if (id)
		sn->data_sunk += len;
	if ((rc = sink_progress(sn)) != 0)
		return rc;
	if (sn->pending)
		return hold_extent(sn, id, len);
	sn->logical += len;
	if (id)
		sn->chunks++;
	else
		sn->holes += len;
	return arca_mf_write_extent(&sn->mw, id, len);
}

static void sink_free(void *payload)
{
	if (payload != &extents_end && payload != &extents_discard && payload != &image_begin)
		free(payload);
}

static int add_artifact(arca_store *s, arca_cas_writer *w, arca_artifact_rec *rec,
		const arca_snapshot_options *o)
{
	MDB_txn *txn = arca_cas_writer_txn(w);
	MDB_val k = { 32, rec->a.id.bytes }, v;
	arca_buf b = ARCA_BUF_INIT(ARCA_RECORD_MAX);
	struct timespec ts;
	arca_id parent;
	int rc, mrc;

	mrc = mdb_get(txn, s->dbi_artifacts, &k, &v);
	if (mrc == 0)
		goto refs; /* same content as an existing artifact: same id */
	if (mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "artifact lookup");

	clock_gettime(CLOCK_REALTIME, &ts);
	rec->a.created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	rec->a.name = o->name ? strdup(o->name) : NULL;
	rec->a.tag = o->tag ? strdup(o->tag) : NULL;
	if ((o->name && !rec->a.name) || (o->tag && !rec->a.tag))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	rec->a.labels = (arca_label *)o->labels;
	rec->a.nlabels = o->nlabels;
	/* Only a new id gets a parent, and it must not descend from that id
	 * (possible once an artifact was removed and its content comes back). */
	if (o->parent) {
		if ((rc = arca_store__resolve(&parent, s, txn, o->parent)) != 0 ||
		    (rc = arca_store__check_parent(s, txn, &parent, &rec->a.id)) != 0)
			return arca_err_wrap(rc, "parent %s", o->parent);
		rec->a.has_parent = 1;
		rec->a.parent = parent;
	} else if (o->name) {
		char ref[ARCA_NAME_MAX + 8];
		snprintf(ref, sizeof(ref), "%s:latest", o->name);
		if (arca_store__resolve(&parent, s, txn, ref) == 0 &&
		    arca_store__check_parent(s, txn, &parent, &rec->a.id) == 0) {
			rec->a.has_parent = 1;
			rec->a.parent = parent;
		}
	}
	rc = arca_artifact_rec_encode(&b, rec);
	rec->a.labels = NULL; /* borrowed from the options */
	rec->a.nlabels = 0;
	if (rc)
		goto out;
	v.mv_size = b.len;
	v.mv_data = b.ptr;
	if ((rc = arca_store__art_put(s, txn, &rec->a.id, b.ptr, b.len)) != 0)
		goto out;
refs:
	rc = 0;
	if (o->name && (rc = arca_store__history_add(s, txn, o->name, &rec->a.id)) == 0 &&
	    (rc = arca_store__ref_set(s, txn, o->name, "latest", &rec->a.id)) == 0 && o->tag)
		rc = arca_store__ref_set(s, txn, o->name, o->tag, &rec->a.id);
out:
	arca_buf_release(&b);
	return rc;
}

static int latest_points_to(const char *name, const char *tag, const arca_id *id, void *p)
{
	(void)name;
	return !strcmp(tag, "latest") && !memcmp(id->bytes, ((const arca_id *)p)->bytes, 32);
}

/* Files of the new artifact become the cache; the parent's entries go
 * once no NAME:latest points at it any more. */
static int cache_commit(snap *sn, const arca_id *id)
{
	MDB_txn *txn = arca_cas_writer_txn(sn->w);
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t key[64];
	int rc = 0, mrc;

	if (!sn->write_cache)
		return 0;
	if ((rc = arca_files_cache_drop(sn->s, txn, id)) != 0)
		return rc;
	if ((mrc = mdb_cursor_open(txn, sn->s->dbi_files_stage, &cur)) != 0)
		return arca_lmdb_error(mrc, "files cache");
	memcpy(key, id->bytes, 32);
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		MDB_val nk = { 64, key };
		if (k.mv_size != 32)
			continue;
		memcpy(key + 32, k.mv_data, 32);
		if ((mrc = mdb_put(txn, sn->s->dbi_files, &nk, &v, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (mrc && mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "files cache");
	if ((mrc = mdb_drop(txn, sn->s->dbi_files_stage, 0)) != 0)
		return arca_lmdb_error(mrc, "files cache");
	if (sn->have_parent && memcmp(sn->parent.a.id.bytes, id->bytes, 32) != 0) {
		rc = arca_store__refs_walk(sn->s, txn, latest_points_to, &sn->parent.a.id);
		if (rc == 0)
			rc = arca_files_cache_drop(sn->s, txn, &sn->parent.a.id);
		else if (rc == 1)
			rc = 0;
	}
	return rc;
}

/* The artifact whose unchanged files a tree snapshot may reuse. */
static void find_parent(snap *sn, const arca_snapshot_options *o)
{
	MDB_txn *txn;
	arca_id id;
	char ref[ARCA_NAME_MAX + 8];
	int rc;

	if (sn->kind != ARCA_KIND_TREE || arca_cas_txn_read(sn->s->cas, &txn) != 0)
		return;
	if (o->parent)
		rc = arca_store__resolve(&id, sn->s, txn, o->parent);
	else if (o->name) {
		snprintf(ref, sizeof(ref), "%s:latest", o->name);
		rc = arca_store__resolve(&id, sn->s, txn, ref);
	} else
		rc = ARCA_ENOTFOUND;
	if (rc == 0 && arca_artifact_rec_get(&sn->parent, sn->s, txn, &id) == 0) {
		if (sn->parent.a.kind == ARCA_KIND_TREE)
			sn->have_parent = 1;
		else
			arca_artifact_rec_clear(&sn->parent);
	}
	mdb_txn_abort(txn);
}

int arca_snapshot(arca_id *out, arca_store *s, const char *path,
		const arca_snapshot_options *opts, arca_op_stats *stats)
{
	arca_snapshot_options defaults = ARCA_SNAPSHOT_OPTIONS_INIT;
	const arca_snapshot_options *o = opts ? opts : &defaults;
	arca_cas_writer *w = NULL;
	arca_mf_out *mo = NULL;
	arca_artifact_rec rec;
	arca_ingest_stats ist;
	arca_ingest_params ip;
	arca_ingest_sink sink = { sink_mark, sink_extent, sink_free };
	snap sn;
	struct stat st;
	int rc;

	memset(&sn, 0, sizeof(sn));
	memset(&rec, 0, sizeof(rec));
	memset(&ist, 0, sizeof(ist));
	sn.image_fd = -1;
	sn.spill_fd = -1;
	if (!out || !s || !path)
		return arca_err_set(ARCA_EINVAL, "arca_snapshot: NULL argument");
	if ((rc = check_options(o)) != 0)
		return rc;
	if (stats && (rc = arca__result_start("arca_op_stats", stats, sizeof(*stats), ARCA_OP_STATS_VERSION)) != 0)
		return rc;
	if (o->parent) {
		arca_id parent;
		if ((rc = arca_resolve(&parent, s, o->parent)) != 0)
			return arca_err_wrap(rc, "parent");
	}
	if (stat(s->dir, &st) < 0)
		return arca_err_sys("stat the store %s", s->dir);
	sn.store_dev = st.st_dev;
	sn.store_ino = st.st_ino;
	if (stat(path, &st) < 0)
		return arca_err_sys("snapshot %s", path);
	if (S_ISDIR(st.st_mode) && st.st_dev == sn.store_dev && st.st_ino == sn.store_ino)
		return arca_err_set(ARCA_EINVAL, "snapshot %s: that is the store itself", path);
	sn.kind = o->kind;
	if (sn.kind == ARCA_KIND_AUTO)
		sn.kind = S_ISDIR(st.st_mode) ? ARCA_KIND_TREE : ARCA_KIND_IMAGE;
	if (sn.kind == ARCA_KIND_TREE && !S_ISDIR(st.st_mode))
		return arca_err_set(ARCA_EINVAL, "snapshot %s: not a directory", path);
	if (sn.kind == ARCA_KIND_IMAGE) {
		if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
			return arca_err_set(ARCA_EINVAL,
				"snapshot %s: an image must be a regular file or block device", path);
		sn.image_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (sn.image_fd < 0)
			return arca_err_sys("open %s", path);
		if (arca_image_size(sn.image_fd, &st, &sn.image_size) < 0) {
			rc = arca_err_sys("size of %s", path);
			goto done;
		}
	}
	sn.s = s;
	sn.path = path;
	sn.o = o;
	arca_progress__init(&sn.progress, o->version >= 2 ? o->progress_cb : NULL,
		o->version >= 2 ? o->progress_payload : NULL);

	if ((rc = arca_store__writer_begin(&w, s)) != 0 ||
	    (rc = arca_mf_out_new(&mo, s, w)) != 0)
		goto done;
	sn.w = w;
	sn.write_cache = sn.kind == ARCA_KIND_TREE && o->name;
	find_parent(&sn, o);
	if (sn.write_cache) {
		int mrc = mdb_drop(arca_cas_writer_txn(w), s->dbi_files_stage, 0);
		if (mrc) {
			rc = arca_lmdb_error(mrc, "files cache");
			goto done;
		}
	}
	arca_mf_writer_init(&sn.mw, arca_mf_out_write, mo);
	if ((rc = arca_mf_write_header(&sn.mw, sn.kind)) != 0)
		goto done;

	ip.chunk_min = s->chunk_min;
	ip.chunk_avg = s->chunk_avg;
	ip.chunk_max = s->chunk_max;
	ip.zstd_level = s->zstd_level;
	ip.threads = s->threads;
	if ((rc = arca_progress__begin(&sn.progress, ARCA_PROGRESS_CHUNK, 0,
			sn.kind == ARCA_KIND_IMAGE ? sn.image_size : 0)) != 0)
		goto done;
	sn.live = &ist;
	rc = arca_ingest_run(w, s->cas, &ip,
		sn.kind == ARCA_KIND_TREE ? produce_tree : produce_image, &sn,
		&sink, &sn, &ist);
	if (!rc) /* the last chance to cancel: nothing is committed yet */
		rc = arca_progress__end(&sn.progress, sn.sunk_entries, sn.logical);
	if (rc) {
		arca_err_wrap(rc, "snapshot %s", path);
		goto done;
	}
	rc = sn.kind == ARCA_KIND_TREE ? arca_mf_write_end(&sn.mw) :
		arca_mf_write_extents_end(&sn.mw);
	if (rc || (rc = arca_mf_out_finish(mo, &rec)) != 0)
		goto done;
	rec.a.kind = sn.kind;
	rec.a.logical_bytes = sn.logical;
	rec.a.data_bytes = sn.logical - sn.holes;
	rec.a.entries = sn.entries;
	if ((rc = add_artifact(s, w, &rec, o)) != 0 || (rc = cache_commit(&sn, &rec.a.id)) != 0)
		goto done;
	rc = arca_cas_writer_commit(w);
	w = NULL;
	if (rc)
		goto done;
	*out = rec.a.id;
	if (stats) {
		arca__result_clear(stats, sizeof(*stats));
		stats->entries = sn.entries;
		stats->entries_skipped = sn.skipped;
		stats->logical_bytes = sn.logical;
		stats->bytes_read = sn.bytes_read;
		stats->hole_bytes = sn.holes;
		stats->chunks = sn.chunks;
		stats->chunks_new = ist.chunks_new;
		stats->new_raw_bytes = ist.new_raw_bytes;
		stats->new_stored_bytes = ist.new_stored_bytes;
		stats->files_unchanged = sn.files_unchanged;
		stats->files_changed = sn.changed;
		stats->entries_excluded = sn.excluded;
	}
done:
	arca_cas_writer_abort(w);
	arca_mf_out_free(mo);
	arca_artifact_rec_clear(&rec);
	arca_artifact_rec_clear(&sn.parent);
	if (sn.image_fd >= 0)
		close(sn.image_fd);
	drop_pending(&sn);
	free(sn.held);
	if (sn.spill_fd >= 0)
		close(sn.spill_fd);
	return rc;
}
