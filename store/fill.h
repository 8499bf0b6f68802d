/*
 * The fill pool: worker threads that put chunk contents into open files at
 * given offsets (restore), or first compare what is there and write only
 * when it differs (rollback). Every chunk is verified against its id.
 */
#ifndef ARCA_STORE_FILL_H
#define ARCA_STORE_FILL_H

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store.h"
#include "store/chunksrc.h"
#include "store/manifest.h"
#include "util/firsterr.h"
#include "util/fsutil.h"
#include "util/progress.h"

#define FILL_QUEUE_LEN 256
#define FILL_MAX_THREADS 64

/* A destination file; the last reference to go finishes it. */
typedef struct {
	int fd;
	int refs;             /* jobs in flight + the manifest reader's own */
	int tree;             /* apply owner/mode/mtime when complete */
	int failed;           /* some content could not be written */
	uint32_t mode, uid, gid;
	struct timespec mtime;
} fill_file;

typedef struct {
	fill_file *f;
	uint64_t off;
	uint32_t len;
	int compare;          /* hash what is there first; write only if it differs */
	int grouped;          /* gkey says which record of the source holds it */
	uint64_t gkey;
	uint8_t id[32];
} fill_job;

typedef struct {
	arca_store *s;                /* NULL: no store (a restore from a remote) */
	arca_chunk_source src;        /* where the workers get chunks */
	pthread_mutex_t mu;
	pthread_cond_t cv_space, cv_jobs;
	fill_job q[FILL_QUEUE_LEN];
	size_t head, count;
	int closing;
	arca_firsterr err;            /* the first a worker hit */
	uint64_t bytes_written;
	uint64_t bytes_compared;
	uint64_t chunks_differing;
	int as_root;
	uint64_t setid_dropped;       /* under mu: setuid/setgid bits not applied */
	/* What DEST is, and what the walk must leave alone in it: other
	 * mounts (counted in guard.foreign) and the store (guard.kept). */
	arca_rm_guard guard;
	/* the store's packs/: DEST is never it either (a bind mount of it
	 * has no way up to the store) */
	int have_packs;
	dev_t packs_dev;
	ino_t packs_ino;
	/* the store's env area (STORE/envs): what lies below it may be DEST */
	int have_envs;
	dev_t envs_dev;
	ino_t envs_ino;
	int keep_alloc;               /* zero holes in place (arca_rollback_options) */
	int have_key;                 /* the store has a MAC key */
	uint8_t mac_key[32];
	pthread_t threads[FILL_MAX_THREADS];
	unsigned nthreads;
	/* the caller's progress (calling thread only), or NULL */
	arca_progress_state *progress;
	/* the calling thread's own source state, for src.group */
	void *pstate;
	int pstate_failed;
} fill_pool;

int arca_fill_start(fill_pool *p, arca_store *s);
/** The same with chunks from `src` (copied); `s` (may be NULL) is only
 *  kept out of DEST and gives the thread count. */
int arca_fill_start_src(fill_pool *p, arca_store *s, const arca_chunk_source *src);
/** Waits for every job; returns the first error any worker hit. */
int arca_fill_finish(fill_pool *p);
/** Counts `items` entries and `bytes` logical bytes in p->progress (if
 *  set); a cancel fails the pool (workers drop what is queued) and
 *  returns ARCA_EUSER. Calling thread only. */
int arca_fill_progress(fill_pool *p, uint64_t items, uint64_t bytes);
/** Queues one chunk for `f` (taking a reference on it). */
int arca_fill_push(fill_pool *p, fill_file *f, uint64_t off, uint32_t len,
		const uint8_t id[32], int compare);

/** A file with one reference (the caller's); NULL when out of memory. */
fill_file *arca_fill_file_new(int fd);
/** Drops a reference; the last one applies metadata (tree files) and
 *  closes the descriptor. */
int arca_fill_file_release(fill_pool *p, fill_file *f);
/** owner (as root), mode, mtime of a file or directory descriptor. When
 *  the owner cannot be set, setuid/setgid bits are dropped and counted. */
int arca_fill_apply_meta(fill_pool *p, int fd, const fill_file *meta);
void arca_fill_take_meta(fill_file *m, const arca_mf_entry *e);
/** 1 when `st` already has what arca_fill_apply_meta would give it. */
int arca_fill_meta_matches(const fill_pool *p, const struct stat *st, const fill_file *meta);

/**
 * Queues the extents of the current file or image from the manifest
 * reader. Holes are punched when `punch_holes` (the file had content);
 * *size receives the total.
 */
int arca_fill_extents(fill_pool *p, arca_mf_reader *r, fill_file *f, int compare,
		int punch_holes, uint64_t *size);

/** owner (as root) and mtime of a symlink, or owner, mode and mtime of a
 *  fifo (through a descriptor: a name swapped for a symlink meanwhile is
 *  refused, never followed). */
int arca_fill_link_meta(fill_pool *p, int dirfd, const char *name, const arca_mf_entry *e,
		int is_symlink);

/** Takes DEST's root directory: what is on another mount than it is left
 *  alone. ARCA_EUNSAFE when DEST is the store or inside it. */
int arca_fill_guard_root(fill_pool *p, int rootfd, const char *dest);
/** ARCA_EUNSAFE when the image file `dest` would be inside the store. */
int arca_fill_guard_image(fill_pool *p, const char *dest);
/** Opens `name` in `dirfd` with `flags` (O_NOFOLLOW added) and checks it
 *  still is the entry `st` described; ARCA_EUNSAFE if it was swapped.
 *  Unless O_PATH, an owner's entry without the access `flags` need gets
 *  it first (arca_openat_grant): the caller then sets its mode. */
int arca_fill_open_same(int dirfd, const char *name, int flags, const struct stat *st,
		const char *path, int *out);
/** Creates an empty file next to `path` (mode 0600) for a replacement
 *  renamed over it; its name goes to tmp. */
int arca_fill_create_beside(const char *path, char *tmp, size_t n, int *out);

/**
 * Makes `name` in `dirfd` a hard link to the manifest entry's earlier
 * path (found below `root` without following symlinks). `existing` is
 * what `name` is now, or NULL: if it already is that file, returns 1 and
 * changes nothing; otherwise it is removed first. 0 when linked now. Also
 * 1, counted in p->guard.foreign and with `name` left as it is, when the
 * target is reached only through another mount or the store.
 */
int arca_fill_hardlink(fill_pool *p, int root, int dirfd, const char *name, const arca_mf_entry *e,
		const struct stat *existing);

/** Makes [off, off+len) read as zeros: punches a hole (keep_alloc:
 *  zeroes the range in place first, see fill.c), else writes zeros. */
int arca_fill_zero_range(int fd, uint64_t off, uint64_t len, int keep_alloc);

#endif
