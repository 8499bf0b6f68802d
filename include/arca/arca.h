/*
 * arca: a content-addressed snapshot store for workspace trees and VM disk
 * images.
 *
 * Conventions (after libgit2):
 *  - functions return 0 on success or a negative ARCA_E* code; the detail of
 *    the last failure on the calling thread is in arca_error_last();
 *  - out parameters come first;
 *  - options structs carry a `version` field; initialise them with the
 *    matching *_OPTIONS_INIT macro or arca_*_options_init(opts,
 *    ARCA_*_OPTIONS_VERSION) (or pass NULL for defaults). The library
 *    accepts every version from 1 to its own, so a caller built against
 *    older headers keeps working; 0 or a newer version is ARCA_EINVAL;
 *  - result structs the caller allocates (arca_op_stats, arca_gc_result,
 *    ...) carry a `version` too: initialise them with *_INIT; an unknown
 *    version is ARCA_EINVAL before anything is done;
 *  - anything the library allocates is owned by the caller and released
 *    with the named *_free or *_clear function, never with free().
 *
 * Concurrency (LMDB's rules, and arca's writer lock on top of them):
 *  - a store handle may be shared between the threads of a process;
 *  - a process opens a store once (a second arca_store_open of the same
 *    store fails with ARCA_EINVAL); a handle must not be used in a child
 *    after fork(): the child opens its own;
 *  - "writes" below: the operation holds the store's single writer lock
 *    (across threads and processes) from its start to its end. Other
 *    writers wait for it (arca_store_options: lock_timeout_ms, on_wait);
 *    a snapshot holds it for its whole run, reading included;
 *  - "reads": it takes a read snapshot of the index and never waits for
 *    or blocks a writer; a reader sees each write completely or not at all;
 *  - restore and rollback read the store and write only their DEST: two
 *    of them must not target the same DEST at once.
 */
#ifndef ARCA_ARCA_H
#define ARCA_ARCA_H

#include <stddef.h>
#include <stdint.h>

#include "arca/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARCA_API __attribute__((visibility("default")))

/**
 * Version of the library as linked ("MAJOR.MINOR.PATCH"); the headers
 * compiled against are ARCA_VERSION_STRING and ARCA_VERSION_MAJOR, _MINOR,
 * _PATCH (arca/version.h). Static string.
 */
ARCA_API const char *arca_version(void);

/** Error codes. Zero is success. */
typedef enum {
	ARCA_OK = 0,
	ARCA_ERROR = -1,      /**< generic failure */
	ARCA_ENOTFOUND = -2,  /**< reference, artifact or chunk does not exist */
	ARCA_EEXISTS = -3,    /**< destination already exists */
	ARCA_ECORRUPT = -4,   /**< stored data failed a check */
	ARCA_ELOCKED = -5,    /**< store is locked by another writer */
	ARCA_EINVAL = -6,     /**< bad argument */
	ARCA_EIO = -7,        /**< operating system I/O error */
	ARCA_ENOMEM = -8,     /**< out of memory */
	ARCA_EAMBIGUOUS = -9, /**< reference matches more than one artifact */
	ARCA_EUNSAFE = -10,   /**< a path would escape its destination */
	ARCA_ENOSPC = -11,    /**< no space left on device */
	ARCA_EUNSUPPORTED = -12, /**< file type or format version not supported */
	ARCA_EREFERENCED = -13, /**< artifact is still pointed to by a ref */
	ARCA_EAUTH = -14,       /**< credentials missing or rejected */
	ARCA_ECONFLICT = -15,   /**< the remote moved, or history diverged */
	ARCA_EUSER = -16,       /**< cancelled: a progress callback returned
	                             non-zero */
	ARCA_ENOTSUP = -17      /**< an env's backend lacks the capability */
} arca_error_t;

/**
 * Text describing the most recent failure on this thread. The string is
 * owned by the library and valid until the next arca call on this thread.
 * Never NULL.
 */
ARCA_API const char *arca_error_last(void);

/**
 * The version of a library arca runs with, as that library reports it at
 * run time: "zstd", "lmdb", "openssl", "libgit2", "libcurl" or
 * "libarchive" (e.g. "1.5.4"). NULL for another name or a library this
 * build leaves out. The string is static.
 */
ARCA_API const char *arca_dependency_version(const char *name);

/** Short name of an error code ("ENOTFOUND", ...). Static string. */
ARCA_API const char *arca_error_name(int code);

/** 32-byte SHA-256 identifier of an artifact or chunk. */
typedef struct {
	uint8_t bytes[32];
} arca_id;

/** "art_" + 64 hex digits + NUL */
#define ARCA_ID_STRLEN 69

/** Formats `id` as "art_<hex>" into `out` (ARCA_ID_STRLEN bytes). */
ARCA_API void arca_id_format(char out[ARCA_ID_STRLEN], const arca_id *id);

/** Frees an array of ids the library returned (arca_prune). NULL is
 *  ignored. */
ARCA_API void arca_ids_free(arca_id *ids);

typedef struct arca_store arca_store;

/** Phases of a long operation, as arca_progress.phase. */
typedef enum {
	ARCA_PROGRESS_CHUNK = 1,  /**< snapshot: content read, chunked, stored */
	ARCA_PROGRESS_WRITE = 2,  /**< restore, rollback: DEST written */
	ARCA_PROGRESS_MARK = 3,   /**< gc: artifacts' chunks marked live */
	ARCA_PROGRESS_SWEEP = 4,  /**< gc: unreferenced chunks dropped */
	ARCA_PROGRESS_REPACK = 5, /**< gc: live chunks copied out of sparse packs */
	ARCA_PROGRESS_VERIFY = 6, /**< verify: chunks re-read and re-hashed */
	ARCA_PROGRESS_CHECK = 7   /**< verify: artifacts' manifests checked */
} arca_progress_phase_t;

/**
 * Where a long operation is, passed to an arca_progress_cb. The library
 * fills every field of its own version (ARCA_PROGRESS_VERSION); a caller
 * built against an older header reads only the fields it knows.
 */
typedef struct {
	unsigned version;
	arca_progress_phase_t phase;
	const char *phase_name;   /**< "chunk", "write", "mark", "sweep",
	                               "repack", "verify", "check"; static */
	uint64_t items_done;      /**< entries, artifacts or chunks of the phase */
	uint64_t items_total;     /**< 0 when not known in advance */
	uint64_t bytes_done;
	uint64_t bytes_total;     /**< 0 when not known in advance */
	int phase_end;            /**< 1 on the phase's last call */
	/** Version 2. Snapshot ("chunk"): of the content bytes stored so far
	 *  (holes not counted), those the store already had: what
	 *  deduplication saved. 0 in other phases. */
	uint64_t bytes_known;
} arca_progress;

#define ARCA_PROGRESS_VERSION 2

/**
 * Progress callback of the long operations (arca_snapshot, arca_restore,
 * arca_rollback, arca_gc, arca_verify_ext). Rules shared by all of them:
 *  - it is called on the thread that called the operation, never on a
 *    worker thread, and never concurrently with itself;
 *  - once when a phase starts (done counters 0), then at most about every
 *    100 ms while it runs, and always once at its end with `phase_end`
 *    set; at that last call each total equals its done counter (a total
 *    known in advance is never exceeded before it);
 *  - done counters never decrease within a phase;
 *  - returning non-zero cancels: the operation stops at its next check
 *    (worker threads at their next item) and returns ARCA_EUSER; what is
 *    left behind is documented per operation. It is not called again.
 * `p` is valid during the call only.
 */
typedef int (*arca_progress_cb)(const arca_progress *p, void *payload);

typedef struct {
	unsigned version;
	/** Chunk sizes, used only when the store is created; 0 = default
	 *  (min 16 KiB, avg 64 KiB, max 256 KiB). */
	uint32_t chunk_min, chunk_avg, chunk_max;
	/** zstd level for new chunks; 0 = default (3). */
	int zstd_level;
	/** Worker threads for hashing/compression; 0 = number of CPUs. */
	unsigned threads;
	/** Open an existing store without creating one. */
	int no_create;
	/** How long a write waits for another process's writer, in ms:
	 *  -1 = forever (the default of ARCA_STORE_OPTIONS_INIT), 0 = not at
	 *  all. Giving up returns ARCA_ELOCKED naming the holder's pid. */
	int lock_timeout_ms;
	/** When not NULL, called once after a write has waited a second for
	 *  another process's writer (`pid`), on the waiting thread. */
	void (*on_wait)(long pid, double waited_s, void *payload);
	void *wait_payload;
} arca_store_options;

#define ARCA_STORE_OPTIONS_VERSION 1
#define ARCA_STORE_OPTIONS_INIT { ARCA_STORE_OPTIONS_VERSION, 0, 0, 0, 0, 0, 0, -1, NULL, NULL }

/**
 * Fills `opts` with the defaults of ARCA_STORE_OPTIONS_INIT for `version`
 * (pass ARCA_STORE_OPTIONS_VERSION). Returns ARCA_EINVAL for a NULL `opts`
 * or a version this library does not know.
 */
ARCA_API int arca_store_options_init(arca_store_options *opts, unsigned int version);

/**
 * Opens (and unless opts->no_create, creates) the store in directory
 * `path`. Release with arca_store_free(). A process has a store open once
 * at a time (share the handle between threads): a second open of the same
 * store fails with ARCA_EINVAL, as its locks belong to the process.
 */
ARCA_API int arca_store_open(arca_store **out, const char *path,
		const arca_store_options *opts);

/** Closes the store. NULL is ignored. */
ARCA_API void arca_store_free(arca_store *store);

typedef enum {
	ARCA_KIND_AUTO = 0,
	ARCA_KIND_TREE = 1,  /**< a directory tree */
	ARCA_KIND_IMAGE = 2  /**< one file or block device (a disk image) */
} arca_kind_t;

/** Static name of a kind: "tree", "image". */
ARCA_API const char *arca_kind_name(arca_kind_t kind);

typedef struct {
	const char *key;
	const char *value;
} arca_label;

/** Counters of one snapshot or restore. Callers set `version` (use
 *  ARCA_OP_STATS_INIT); the library fills the rest. */
typedef struct {
	unsigned version;
	uint64_t entries;        /**< tree entries (files, dirs, links...) */
	uint64_t entries_skipped;/**< sockets and device nodes, not stored */
	uint64_t logical_bytes;  /**< file/image size, holes included */
	uint64_t bytes_read;     /**< content bytes read from the source (a
	                              file read again counts once) */
	uint64_t bytes_written;  /**< content bytes written to the target */
	uint64_t hole_bytes;     /**< bytes stored as holes */
	uint64_t chunks;         /**< data chunks referenced */
	uint64_t chunks_new;     /**< chunks added to the store */
	uint64_t new_raw_bytes;  /**< uncompressed size of new chunks */
	uint64_t new_stored_bytes; /**< bytes appended to packs */
	uint64_t files_unchanged;/**< files reused from the parent unread */
	uint64_t bytes_compared; /**< rollback: destination bytes hashed */
	uint64_t entries_changed;/**< rollback: entries created, replaced,
	                              patched or given new metadata (images:
	                              chunks rewritten) */
	uint64_t entries_removed;/**< rollback: extra entries removed */
	uint64_t files_changed;  /**< snapshot: files (or the image) that kept
	                              changing while being read, stored as last
	                              read (see on_warning); also entries that
	                              vanished or were replaced mid-walk */
	uint64_t entries_excluded;/**< snapshot: the store's own directory,
	                              found inside the tree and left out */
	uint64_t entries_foreign;/**< rollback: entries on another mount inside
	                              DEST, left as they are (ARCA_EUNSAFE) */
	uint64_t setid_dropped;  /**< restore, rollback: setuid/setgid bits not
	                              applied because the owner could not be */
} arca_op_stats;

#define ARCA_OP_STATS_VERSION 1
#define ARCA_OP_STATS_INIT { .version = ARCA_OP_STATS_VERSION }

typedef struct {
	unsigned version;
	/** Artifact name (optional): '/'-separated parts, each 1 or more of
	 *  [A-Za-z0-9._-] not starting with '.' or '-' (so no empty, "." or
	 *  ".." parts and no leading or trailing '/'); 255 bytes at most. */
	const char *name;
	const char *tag;       /**< tag under name; default "latest" alias only */
	const arca_label *labels;
	size_t nlabels;
	arca_kind_t kind;      /**< AUTO: directory -> tree, file -> image */
	/** Parent reference; default: NAME:latest before this snapshot. A
	 *  parent that descends from the new artifact (its content was stored
	 *  before, removed, and comes back) is refused with ARCA_EINVAL; the
	 *  default parent is then left out. Content already stored keeps the
	 *  parent, name and time of its first snapshot. */
	const char *parent;
	/** Called on the calling thread for each entry that could not be
	 *  read consistently (e.g. a file that kept changing while being
	 *  read: "changed while being read; stored as last read"). `path` is
	 *  the snapshot path joined with the entry's path; both strings are
	 *  valid only during the call. May be NULL. */
	void (*on_warning)(const char *path, const char *message, void *payload);
	void *warning_payload;
	/** Version 2. Progress (see arca_progress_cb), phase "chunk": items
	 *  are entries sent to the manifest, bytes their logical size (holes
	 *  included); bytes_total is the image's size for an image, 0 for a
	 *  tree (not walked in advance). May be NULL. */
	arca_progress_cb progress_cb;
	void *progress_payload;
} arca_snapshot_options;

#define ARCA_SNAPSHOT_OPTIONS_VERSION 2
#define ARCA_SNAPSHOT_OPTIONS_INIT { ARCA_SNAPSHOT_OPTIONS_VERSION, NULL, NULL, NULL, 0, ARCA_KIND_AUTO, NULL, \
	NULL, NULL, NULL, NULL }

/**
 * Fills `opts` with the defaults of ARCA_SNAPSHOT_OPTIONS_INIT for `version`
 * (pass ARCA_SNAPSHOT_OPTIONS_VERSION). Returns ARCA_EINVAL for a NULL `opts`
 * or a version this library does not know.
 */
ARCA_API int arca_snapshot_options_init(arca_snapshot_options *opts, unsigned int version);

/**
 * Snapshots `path` into the store and writes the new artifact's id to
 * `out`. When `name` is set, the refs NAME:latest and (if `tag` is set)
 * NAME:TAG point to the artifact afterwards, and the snapshot is added to
 * NAME's history (also when its content was already stored, under any
 * name), which arca_prune() ranks by. `stats` may be NULL.
 *
 * Cancelled by the progress callback (checked as content is stored and
 * once more at the end of the phase, before anything is committed), it
 * returns ARCA_EUSER and the store is as if it never started: no ref, no
 * artifact, no chunk, the pack's uncommitted tail cut off (a further pack
 * file it began is in no index; the next writer deletes it).
 *
 * Writes: holds the writer lock for the whole snapshot.
 */
ARCA_API int arca_snapshot(arca_id *out, arca_store *store, const char *path,
		const arca_snapshot_options *opts, arca_op_stats *stats);

typedef struct {
	unsigned version;
	/** Allow DEST to exist: an empty directory for trees, any regular
	 *  file or block device for images (it is overwritten). */
	int force;
	/** Version 2. Progress (see arca_progress_cb), phase "write": items
	 *  are manifest entries (the artifact's entries), bytes its logical
	 *  bytes handed to the writers; totals known. May be NULL. */
	arca_progress_cb progress_cb;
	void *progress_payload;
} arca_restore_options;

#define ARCA_RESTORE_OPTIONS_VERSION 2
#define ARCA_RESTORE_OPTIONS_INIT { ARCA_RESTORE_OPTIONS_VERSION, 0, NULL, NULL }

/**
 * Fills `opts` with the defaults of ARCA_RESTORE_OPTIONS_INIT for `version`
 * (pass ARCA_RESTORE_OPTIONS_VERSION). Returns ARCA_EINVAL for a NULL `opts`
 * or a version this library does not know.
 */
ARCA_API int arca_restore_options_init(arca_restore_options *opts, unsigned int version);

/**
 * Restores the artifact `ref` (id, unique id prefix of >= 8 hex digits,
 * NAME:TAG or NAME) to `dest`. Nothing is ever written outside `dest`:
 * manifests naming `..`, absolute paths or paths through symlinks are
 * refused with ARCA_EUNSAFE. Every chunk is verified against its id.
 *
 * Cancelled by the progress callback (checked per entry and per chunk
 * queued), it returns ARCA_EUSER; the store is untouched and `dest` is
 * left partly written, as after any failed restore (remove it).
 *
 * Reads; writes only under `dest`.
 */
ARCA_API int arca_restore(arca_store *store, const char *ref,
		const char *dest, const arca_restore_options *opts,
		arca_op_stats *stats);

typedef struct {
	unsigned version;
	/** Compare the content of files whose size and mtime already match
	 *  (by default such files are taken as unchanged, like rsync). */
	int checksum;
	/** Version 2. Progress (see arca_progress_cb), phase "write": items
	 *  are manifest entries handled, bytes the logical bytes compared or
	 *  rewritten (files taken as unchanged by size and mtime count only
	 *  at the end); totals known. May be NULL. */
	arca_progress_cb progress_cb;
	void *progress_payload;
	/** Version 3. Images: where the artifact has a hole and the file has
	 *  data, zero the range in place (FALLOC_FL_ZERO_RANGE) rather than
	 *  punch it. It reads as zeros, but the blocks stay the file's: far
	 *  cheaper on a mount with online discard, where a punch waits for
	 *  the device, and what a VM's disk wants, as the guest writes there
	 *  again. Falls back to punching; punches anyway once the file holds
	 *  more than twice the artifact's data (plus 64 MiB), so it cannot
	 *  grow without bound. */
	int keep_allocation;
	/** Version 3. Trees: the artifact `dest` was last restored or rolled
	 *  back to, when the caller knows it (an env knows its current one),
	 *  or NULL. The quick check cannot tell two artifacts apart where
	 *  they have a file of the same size and mtime (reproducible builds
	 *  give every file one mtime): such a file is then compared chunk by
	 *  chunk instead of taken as unchanged. Without a baseline the quick
	 *  check is rsync's: use `checksum` when DEST may hold another
	 *  artifact's files. */
	const char *baseline;
} arca_rollback_options;

#define ARCA_ROLLBACK_OPTIONS_VERSION 3
#define ARCA_ROLLBACK_OPTIONS_INIT { ARCA_ROLLBACK_OPTIONS_VERSION, 0, NULL, NULL, 0, NULL }

/**
 * Fills `opts` with the defaults of ARCA_ROLLBACK_OPTIONS_INIT for `version`
 * (pass ARCA_ROLLBACK_OPTIONS_VERSION). Returns ARCA_EINVAL for a NULL `opts`
 * or a version this library does not know.
 */
ARCA_API int arca_rollback_options_init(arca_rollback_options *opts, unsigned int version);

/**
 * Brings the existing directory or image `dest` back to exactly the
 * artifact `ref`, rewriting only what differs: extra entries are removed,
 * missing ones created, changed files patched chunk by chunk, metadata
 * fixed; for images only the chunks whose bytes differ are written and
 * holes are punched. Afterwards `dest` equals a fresh restore. Safe to
 * interrupt: running it again completes the job. A missing `dest` is
 * created. Nothing on another mount inside `dest` is removed, replaced or
 * entered: the rest is done and ARCA_EUNSAFE names the first such path
 * (counted in entries_foreign). A store inside `dest` is left alone.
 *
 * Cancelled by the progress callback (checked between entries and per
 * chunk queued), it returns ARCA_EUSER; the store is untouched and `dest`
 * is left partly rolled back, exactly as after any other error midway:
 * running it again finishes the job.
 *
 * Reads; writes only under `dest`. Not atomic: an interrupted
 * rollback is finished by running it again.
 */
ARCA_API int arca_rollback(arca_store *store, const char *ref, const char *dest,
		const arca_rollback_options *opts, arca_op_stats *stats);

/** Kinds of tree differences. */
typedef enum {
	ARCA_DIFF_ADDED = 'A',
	ARCA_DIFF_DELETED = 'D',
	ARCA_DIFF_MODIFIED = 'M'
} arca_diff_kind_t;

/** What differs in a modified entry (bits of arca_diff_entry.changes). */
enum {
	ARCA_DIFF_TYPE = 1,     /**< e.g. file became a directory */
	ARCA_DIFF_CONTENT = 2,
	ARCA_DIFF_MODE = 4,
	ARCA_DIFF_OWNER = 8,
	ARCA_DIFF_MTIME = 16,
	ARCA_DIFF_TARGET = 32   /**< symlink target or hardlink target */
};

typedef struct {
	arca_diff_kind_t kind;
	const char *path;       /**< "" is the root directory */
	unsigned changes;       /**< ARCA_DIFF_* bits, for MODIFIED */
	char type_a, type_b;    /**< 'D' dir, 'F' file, 'L' symlink, 'H' hardlink,
	                             'P' fifo; 0 on the side that lacks it */
	uint64_t size_a, size_b;/**< file sizes */
} arca_diff_entry;

/** Callbacks of arca_diff; data is valid during the call; non-zero stops. */
typedef int (*arca_diff_entry_cb)(const arca_diff_entry *entry, void *payload);
typedef int (*arca_diff_range_cb)(uint64_t offset, uint64_t length, void *payload);

/** Counters of arca_diff; `version` set by the caller (ARCA_DIFF_STATS_INIT). */
typedef struct {
	unsigned version;
	uint64_t added, deleted, modified;  /**< trees */
	uint64_t ranges, changed_bytes;     /**< images */
	uint64_t size_a, size_b;            /**< images */
	uint64_t bytes_read;                /**< live content read to compare */
} arca_diff_stats;

#define ARCA_DIFF_STATS_VERSION 1
#define ARCA_DIFF_STATS_INIT { .version = ARCA_DIFF_STATS_VERSION }

/**
 * Reports what changed from artifact `ref_a` to artifact `ref_b`, or to
 * the live directory/image at `path`, or (both NULL) what `ref_a` changed
 * relative to its parent. Trees call `on_entry` in path order; images
 * call `on_range` with coalesced changed byte ranges. Against a live tree
 * the files cache avoids reading files that did not change.
 *
 * Reads.
 */
ARCA_API int arca_diff(arca_store *store, const char *ref_a, const char *ref_b,
		const char *path, arca_diff_entry_cb on_entry, arca_diff_range_cb on_range,
		void *payload, arca_diff_stats *stats);

/** Resolves a reference to an artifact id. */
ARCA_API int arca_resolve(arca_id *out, arca_store *store, const char *ref);

/**
 * Points the ref NAME:TAG (`name_tag`) at the artifact `ref`, creating or
 * moving it atomically.
 *
 * Writes (briefly).
 */
ARCA_API int arca_tag_set(arca_store *store, const char *ref, const char *name_tag);

/** Deletes the ref NAME:TAG; ARCA_ENOTFOUND when it does not exist. A ref
 *  whose name an older version accepted but the current rules refuse can
 *  still be deleted by its exact NAME:TAG. */
ARCA_API int arca_tag_delete(arca_store *store, const char *name_tag);

/** Callback for arca_ref_foreach; non-zero stops the walk. */
typedef int (*arca_ref_cb)(const char *name, const char *tag, const arca_id *id,
		void *payload);

/** Calls `cb` for every ref, sorted by "NAME:TAG". */
ARCA_API int arca_ref_foreach(arca_store *store, arca_ref_cb cb, void *payload);

/**
 * Removes the artifacts `ids` (all or nothing). An artifact that a ref
 * still points to is refused with ARCA_EREFERENCED unless `force`, which
 * deletes those refs too. Their history entries go with them. Chunks are
 * reclaimed later by arca_gc().
 *
 * Writes (briefly).
 */
ARCA_API int arca_artifact_remove(arca_store *store, const arca_id *ids, size_t n,
		int force);

/**
 * Removes old artifacts of each name (or only of `name` when not NULL),
 * keeping the `keep_last` newest of each. A name's artifacts are those of
 * its history (every snapshot with that name, deduplicated or not), newest
 * snapshot first, then those whose record carries the name but which its
 * history lacks (stored before there was a history), newest first.
 *
 * An artifact is removed only when no ref (of any name or tag, "latest"
 * included) points to it and, with `name`, no other name's history holds
 * it; without `name`, it must be past the keep window of every name that
 * holds it. Prune never deletes a ref. Unnamed artifacts are never pruned.
 * The removed ids are returned in *removed (caller frees with
 * arca_ids_free()).
 *
 * Writes (briefly; no data is read).
 */
ARCA_API int arca_prune(arca_store *store, const char *name, unsigned keep_last,
		arca_id **removed, size_t *nremoved);

typedef struct {
	unsigned version;
	/** Rewrite packs whose live fraction is below this; 0 = 0.75. */
	double repack_threshold;
	/** Version 2. Progress (see arca_progress_cb): phase "mark" (items:
	 *  artifacts), "sweep" (items: chunks in the index), then "repack"
	 *  when packs are rewritten (items: chunks looked at, bytes: bytes
	 *  moved). May be NULL. */
	arca_progress_cb progress_cb;
	void *progress_payload;
} arca_gc_options;

#define ARCA_GC_OPTIONS_VERSION 2
#define ARCA_GC_OPTIONS_INIT { ARCA_GC_OPTIONS_VERSION, 0, NULL, NULL }

/**
 * Fills `opts` with the defaults of ARCA_GC_OPTIONS_INIT for `version`
 * (pass ARCA_GC_OPTIONS_VERSION). Returns ARCA_EINVAL for a NULL `opts`
 * or a version this library does not know.
 */
ARCA_API int arca_gc_options_init(arca_gc_options *opts, unsigned int version);

/** Result of arca_gc; `version` set by the caller (ARCA_GC_RESULT_INIT). */
typedef struct {
	unsigned version;
	uint64_t artifacts;          /**< artifacts whose chunks were kept */
	uint64_t chunks_live;
	uint64_t chunks_removed;     /**< unreferenced chunks dropped */
	uint64_t bytes_unreferenced; /**< their record bytes in packs */
	uint64_t packs_rewritten;    /**< packs retired (live data copied out) */
	uint64_t chunks_moved;
	uint64_t bytes_moved;
	uint64_t pack_bytes_before;  /**< committed pack bytes before / after */
	uint64_t pack_bytes_after;
	uint64_t packs_deleted;      /**< retired pack files deleted now */
	uint64_t packs_pending;      /**< retired, kept until older readers end */
	uint64_t artifacts_unreadable; /**< damaged manifests: marked as far as
	                                    readable, reported by verify/repair */
	uint64_t chunks_damaged;     /**< failed their checks while repacking:
	                                  dropped and marked lost (see repair) */
} arca_gc_result;

#define ARCA_GC_RESULT_VERSION 1
#define ARCA_GC_RESULT_INIT { .version = ARCA_GC_RESULT_VERSION }

/**
 * Reclaims chunks no artifact references and rewrites packs whose live
 * fraction is under the threshold. Safe against concurrent snapshots and
 * readers in other threads and processes.
 *
 * Cancelled by the progress callback (checked in every phase, the last
 * time at the end of the last phase, before the commit), it returns
 * ARCA_EUSER and the store is unchanged (a pack file it began for the
 * repack is removed). Retired pack files are deleted after the commit;
 * that step is not cancelled.
 *
 * Writes: holds the writer lock while it marks and repacks; readers go
 * on (they may still use retired packs, deleted later).
 */
ARCA_API int arca_gc(arca_gc_result *out, arca_store *store, const arca_gc_options *opts);

/** Metadata of one artifact. */
typedef struct {
	arca_id id;
	arca_kind_t kind;
	uint64_t logical_bytes; /**< size, holes included */
	uint64_t data_bytes;    /**< logical bytes that are not holes */
	uint64_t entries;
	int64_t created_ns;     /**< nanoseconds since the epoch */
	char *name;             /**< NULL when none */
	char *tag;              /**< tag given at creation, NULL when none */
	arca_label *labels;     /**< owned strings */
	size_t nlabels;
	int has_parent;
	arca_id parent;
	uint64_t manifest_bytes;
} arca_artifact;

/** Looks up one artifact; free with arca_artifact_free(). */
ARCA_API int arca_artifact_lookup(arca_artifact **out, arca_store *store,
		const arca_id *id);

/** Frees an artifact returned by the library. NULL is ignored. */
ARCA_API void arca_artifact_free(arca_artifact *artifact);

/** Callback for arca_artifact_foreach; a non-zero return stops the walk
 *  and is returned by it. The artifact is valid during the call only. */
typedef int (*arca_artifact_cb)(const arca_artifact *artifact, void *payload);

/** Calls `cb` for every artifact, oldest first. */
ARCA_API int arca_artifact_foreach(arca_store *store, arca_artifact_cb cb,
		void *payload);

/** Whole-store figures; `version` set by the caller (ARCA_STORE_STATS_INIT). */
typedef struct {
	unsigned version;
	uint64_t artifacts;
	uint64_t chunks;
	uint64_t logical_bytes;   /**< sum of artifacts' logical sizes */
	uint64_t data_bytes;      /**< the same without holes */
	uint64_t unique_bytes;    /**< uncompressed bytes of all chunks */
	uint64_t stored_bytes;    /**< compressed chunk bytes in packs */
	uint64_t pack_bytes;      /**< pack file bytes incl. headers */
	uint64_t packs;
	uint64_t index_bytes;     /**< size of the LMDB index in use */
} arca_store_stats;

#define ARCA_STORE_STATS_VERSION 1
#define ARCA_STORE_STATS_INIT { .version = ARCA_STORE_STATS_VERSION }

ARCA_API int arca_store_stats_get(arca_store_stats *out, arca_store *store);

/** Result of arca_verify(); `version` set by the caller
 *  (ARCA_VERIFY_RESULT_INIT). */
typedef struct {
	unsigned version;
	uint64_t chunks_checked;
	uint64_t bytes_checked;     /**< stored bytes read */
	uint64_t chunks_damaged;
	uint64_t artifacts_checked;
	size_t ndamaged;            /**< artifacts that reference damage */
	arca_id *damaged;           /**< owned; see arca_verify_result_clear */
	uint64_t packs_damaged;     /**< live packs whose header is damaged */
} arca_verify_result;

#define ARCA_VERIFY_RESULT_VERSION 1
#define ARCA_VERIFY_RESULT_INIT { .version = ARCA_VERIFY_RESULT_VERSION }

/**
 * Re-reads and re-hashes every chunk, then checks every artifact's
 * manifest and chunk references. Returns 0 when all is well,
 * ARCA_ECORRUPT when damage was found (details in `out`), or another
 * error when the check itself could not run.
 *
 * Reads (every chunk): writers go on meanwhile.
 */
ARCA_API int arca_verify(arca_verify_result *out, arca_store *store);

typedef struct {
	unsigned version;
	/** Progress (see arca_progress_cb): phase "verify" (items: chunks of
	 *  the index, bytes: stored bytes read), then "check" (items:
	 *  artifacts). May be NULL. */
	arca_progress_cb progress_cb;
	void *progress_payload;
} arca_verify_options;

#define ARCA_VERIFY_OPTIONS_VERSION 1
#define ARCA_VERIFY_OPTIONS_INIT { ARCA_VERIFY_OPTIONS_VERSION, NULL, NULL }

/**
 * Fills `opts` with the defaults of ARCA_VERIFY_OPTIONS_INIT for `version`
 * (pass ARCA_VERIFY_OPTIONS_VERSION). Returns ARCA_EINVAL for a NULL `opts`
 * or a version this library does not know.
 */
ARCA_API int arca_verify_options_init(arca_verify_options *opts, unsigned int version);

/**
 * arca_verify() with options (`opts` NULL: the defaults). Cancelled by the
 * progress callback (the worker threads stop at their next chunk), it
 * returns ARCA_EUSER and `out` holds nothing; verify writes nothing, so
 * the store is unchanged.
 */
ARCA_API int arca_verify_ext(arca_verify_result *out, arca_store *store,
		const arca_verify_options *opts);

/** Releases what arca_verify() stored in `result`; its version stays. */
ARCA_API void arca_verify_result_clear(arca_verify_result *result);

/** Result of arca_repair(); `version` set by the caller
 *  (ARCA_REPAIR_RESULT_INIT). */
typedef struct {
	unsigned version;
	uint64_t packs;            /**< pack files scanned */
	uint64_t packs_retired;    /**< retired (gc'd) pack files left alone */
	uint64_t headers_fixed;    /**< damaged pack headers rewritten */
	uint64_t chunks;           /**< good chunks indexed */
	uint64_t records_damaged;  /**< records that failed their checks */
	uint64_t bytes_skipped;    /**< bytes that are no good record */
	uint64_t bytes_truncated;  /**< torn tails cut off */
	uint64_t journal_records;  /**< committed metadata records found */
	uint64_t artifacts;        /**< artifacts rebuilt */
	uint64_t refs;             /**< refs rebuilt */
	uint64_t chunks_missing;   /**< referenced, no good copy: marked lost
	                                (a later snapshot of the data stores it again) */
	int used_old_index;        /**< the old index was readable: retired packs,
	                                pack numbering and the MAC key came from it */
	int adopted_old_metadata;  /**< ... and its artifacts, refs and history
	                                were taken over (the packs' journal is
	                                written anew from them) */
	size_t ndamaged;           /**< artifacts that lose data */
	arca_id *damaged;          /**< owned; see arca_repair_result_clear */
} arca_repair_result;

#define ARCA_REPAIR_RESULT_VERSION 1
#define ARCA_REPAIR_RESULT_INIT { .version = ARCA_REPAIR_RESULT_VERSION }

/**
 * Rebuilds the index of the store at `path` from its pack files (the
 * source of truth): every record is checked, good chunks are indexed,
 * artifacts and refs are replayed from the metadata journaled in the
 * packs, and chunks that artifacts need but no pack holds intact are
 * marked lost. Torn pack tails are cut and damaged pack headers
 * rewritten; nothing else in a pack is changed. The new index replaces
 * the old one atomically. No other process may use the store meanwhile.
 * Returns 0 (also when artifacts lose data: see `out`).
 *
 * Needs the store alone: takes the writer lock without waiting
 * (ARCA_ELOCKED when a writer runs); handles opened before it refuse to
 * write afterwards and must be opened again.
 */
ARCA_API int arca_repair(arca_repair_result *out, const char *path);

/** Releases what arca_repair() stored in `result`; its version stays. */
ARCA_API void arca_repair_result_clear(arca_repair_result *result);

#ifdef __cplusplus
}
#endif
#endif
