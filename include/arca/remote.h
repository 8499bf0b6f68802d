/*
 * arca remotes and bundles: mirror artifacts between a store and a
 * directory, an S3-compatible bucket (AWS S3, Ceph RGW, MinIO) or a static
 * HTTP server (pull only), and carry them offline in one file.
 *
 * The remote layout and the bundle format are in docs/FORMAT.md ("Remote
 * layout", "Bundle"). Credentials are whatever the caller passes in the
 * options (the arca CLI reads $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY
 * and $AWS_SESSION_TOKEN); the library never stores, logs or prints them.
 *
 * Concurrency: push, ls and export only read the store (push takes the
 * writer lock only for a moment after each pack it uploaded, to note in
 * its cache what the remote holds); pull and import hold the writer lock
 * while they stage what they fetch (every chunk checked before it is
 * staged) and commit once, or abort and leave the store as it was. Any number of
 * machines may push to one remote at once (see FORMAT.md for what happens
 * when two move the same ref).
 */
#ifndef ARCA_REMOTE_H
#define ARCA_REMOTE_H

#include "arca/arca.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress phases of sync operations (continuing arca_progress_phase_t). */
#define ARCA_PROGRESS_UPLOAD ((arca_progress_phase_t)20)   /**< push: objects sent */
#define ARCA_PROGRESS_DOWNLOAD ((arca_progress_phase_t)21) /**< pull: objects fetched */

/* ---- remotes the store knows by name ---- */

/** Adds remote `name` (a word, as a tag is) for `url`: a directory path,
 *  `s3://HOST[:PORT]/BUCKET[/PREFIX]` or `http(s)://...`. `region` (may be
 *  NULL: us-east-1) and `insecure_http` (plain HTTP to a non-loopback S3
 *  host) are kept with it. ARCA_EEXISTS when the name is taken,
 *  ARCA_EINVAL for a URL arca cannot use. Writes (journaled). */
ARCA_API int arca_remote_add(arca_store *s, const char *name, const char *url,
		const char *region, int insecure_http);
/** Removes remote `name`; ARCA_ENOTFOUND when there is none. */
ARCA_API int arca_remote_remove(arca_store *s, const char *name);

typedef int (*arca_remote_cb)(const char *name, const char *url, const char *region,
		int insecure_http, void *payload);
/** Calls cb for each remote, by name; a non-zero return stops and is
 *  returned. */
ARCA_API int arca_remote_foreach(arca_store *s, arca_remote_cb cb, void *payload);

/* ---- push, pull, list ---- */

typedef struct {
	unsigned int version;
	const char *access_key;      /**< S3; NULL: anonymous */
	const char *secret_key;
	const char *session_token;   /**< may be NULL */
	unsigned jobs;               /**< parallel transfers; 0: 4, at most 64 */
	int force;                   /**< move refs that do not move forward: on the
	                                  remote (push) or here (pull, import) */
	arca_progress_cb progress_cb;
	void *progress_payload;
	/** Directory for temporary files, unlinked at once: push builds pack
	 *  objects there (up to `jobs` + 1 of about 64 MiB), export builds its
	 *  packs there (one at a time). Pull needs none: it holds up to
	 *  `jobs` + 2 pieces of about 8 MiB in memory. NULL: /tmp (export:
	 *  the store's directory, then /tmp). The arca CLI passes $TMPDIR. */
	const char *tmp_dir;
} arca_sync_options;

#define ARCA_SYNC_OPTIONS_VERSION 1
#define ARCA_SYNC_OPTIONS_INIT { ARCA_SYNC_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL }
ARCA_API int arca_sync_options_init(arca_sync_options *opts, unsigned int version);

typedef struct {
	unsigned int version;
	uint64_t artifacts;          /**< artifacts sent / received */
	uint64_t chunks;             /**< chunks sent / received */
	uint64_t bytes;              /**< object bytes sent / received (bodies) */
	uint64_t objects;            /**< objects written / read */
	uint64_t requests;           /**< requests made, retries included */
	uint64_t refs_moved;         /**< refs created or moved */
} arca_sync_result;

#define ARCA_SYNC_RESULT_VERSION 1
#define ARCA_SYNC_RESULT_INIT { ARCA_SYNC_RESULT_VERSION, 0, 0, 0, 0, 0, 0 }

/**
 * Uploads what `remote` (a name from arca_remote_add, or a URL) lacks of
 * the `n` refs in `refs` ("NAME:TAG", "NAME", or an artifact id: then it
 * is uploaded without a ref), packs before indexes before artifacts before
 * refs. Interrupted at any point and run again, it resumes: what is
 * already there is not sent again. A ref the remote moved to an artifact
 * that is not an ancestor of ours is refused (ARCA_EEXISTS) unless
 * opts->force. Reads the store only.
 */
ARCA_API int arca_push(arca_sync_result *out, arca_store *s, const char *remote,
		const char *const *refs, size_t n, const arca_sync_options *opts);

/**
 * Fetches the `n` refs (as for push) from `remote` with plain GETs (ranges
 * of pack objects where that saves bytes), only the chunks this store
 * lacks, hashing each before it enters the store; then adds the artifacts
 * and sets the refs in one transaction. On any error nothing is added.
 * A local ref of the same name moves only to an artifact that descends
 * from the one it points at (by recorded parents); otherwise the pull
 * fails with ARCA_EEXISTS, unless opts->force, and then what it pointed at
 * stays in the store and in the name's history.
 */
ARCA_API int arca_pull(arca_sync_result *out, arca_store *s, const char *remote,
		const char *const *refs, size_t n, const arca_sync_options *opts);

typedef int (*arca_remote_ref_cb)(const char *name, const char *tag, const arca_id *id,
		void *payload);
/** Calls cb for each ref `remote` holds (by name, tag); needs a remote
 *  that can list (directory, S3): ARCA_EUNSUPPORTED for static HTTP. */
ARCA_API int arca_remote_ref_foreach(arca_store *s, const char *remote,
		const arca_sync_options *opts, arca_remote_ref_cb cb, void *payload);

/**
 * Restores `ref` of `remote` (a name store `s` knows, or a URL; `s` may be
 * NULL for a URL) to `dest` as arca_restore would, adding nothing to `s`:
 * the records of the artifact's chunks are downloaded (so->jobs GETs at
 * once) into unlinked temporary files in so->tmp_dir (NULL: /tmp), which
 * needs room for them (compressed), and the restore reads, checks and
 * writes them as they arrive; the manifest is checked against the
 * artifact id before `dest` is touched. A damaged or missing object fails
 * it (ARCA_ECORRUPT) and leaves `dest` as any failed restore does.
 * `stats` and `pulled` (either may be NULL) receive the restore's and the
 * download's counters.
 */
ARCA_API int arca_remote_restore(arca_op_stats *stats, arca_store *s, const char *remote,
		const char *ref, const char *dest, const arca_restore_options *ro,
		const arca_sync_options *so, arca_sync_result *pulled);

/* ---- bundles ---- */

/**
 * Writes a bundle holding everything needed to restore the `n` refs
 * ("NAME:TAG" or "NAME"; a bundle carries refs, so an artifact id is
 * ARCA_EINVAL) to `fd` (a file or a pipe: written in one pass); with
 * `since` (n_since references of any kind), only what those artifacts
 * lack. Same store, refs and since: same bytes. Reads the store only;
 * each pack is built in an unlinked temporary file (opts->tmp_dir, else
 * the store's directory, else /tmp) before it is copied out. `out` may
 * be NULL.
 */
ARCA_API int arca_export(arca_sync_result *out, arca_store *s, const char *const *refs,
		size_t n, const char *const *since, size_t n_since, int fd,
		const arca_sync_options *opts);

/**
 * Reads a bundle from `fd` in one pass, checks every object, then adds its
 * artifacts and refs in one transaction. A truncated, damaged or hostile
 * bundle, or one whose `since` bases this store lacks, is refused with
 * ARCA_ECORRUPT (or ARCA_ENOTFOUND for a missing base) and the store is
 * left exactly as it was. An artifact the store has keeps its record; a
 * ref it moves gets a history entry at the artifact's creation time. As
 * for a pull, a local ref moves only to an artifact that descends from
 * the one it points at, else ARCA_EEXISTS, unless opts->force.
 * Progress phase ARCA_PROGRESS_DOWNLOAD (export: ARCA_PROGRESS_UPLOAD):
 * items are members, bytes their sizes. `out` may be NULL.
 */
ARCA_API int arca_import(arca_sync_result *out, arca_store *s, int fd,
		const arca_sync_options *opts);

#ifdef __cplusplus
}
#endif

#endif
