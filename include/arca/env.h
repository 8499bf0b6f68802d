/*
 * arca environments: an artifact restored into a new environment through
 * a backend, snapshotted into new artifacts and reset in place.
 *
 * An env is a record in the store (LMDB, journaled in the packs like every
 * other state, so `repair` rebuilds it): its name, backend, the artifact it
 * was created from, the artifact it is now at, its state, when it was
 * created, its labels and its backend's settings. Its files live in the
 * store's env area (STORE/envs/NAME), which the env layer creates and
 * removes; a backend keeps everything of its own in there.
 *
 * Backends follow the shape of a common execution-environment interface,
 * in the manner of libgit2's git_odb_backend: a versioned vtable of
 * create, destroy, pause, resume, exec, state, snapshot and rollback, and
 * a capability mask. A call the backend cannot do fails with
 * ARCA_ENOTSUP, never with a generic error.
 *
 * State changes are committed before and after each step: `create`
 * commits a `creating` record first, so a crash never leaves files
 * without a record; a failed create ends `failed` with its files removed
 * and the error in the record. `rm` commits `destroyed` before it
 * destroys, so an interrupted `rm` is finished by running it again.
 *
 * Each call that works on an env holds its lock (an flock of
 * STORE/envs/.locks/NAME, which goes with the process): exclusive for
 * create (all of it), snapshot, reset, pause, resume and rm; shared for
 * exec and diff, which may run side by side. It is never waited for: a
 * call that meets it held fails with ARCA_ELOCKED ("env NAME is busy"),
 * and a create of a name another call holds with ARCA_EEXISTS. So a
 * `creating` record whose lock is free was left by a create whose
 * process died: the next call that meets it (lookup and foreach too)
 * removes its files and commits it `failed` ("create interrupted"); one
 * `destroyed` left so is finished (its files and record removed) by the
 * next lookup or foreach. A create running in another process is never
 * touched. Threads are callers like processes (each call opens the
 * lock anew).
 *
 * The env area is the store's own: STORE/envs, STORE/envs/NAME and the
 * dir backend's root or disk.img are never followed when they are a
 * symlink or another mount (ARCA_EUNSAFE); rm removes such a symlink
 * itself, never what it points to.
 */
#ifndef ARCA_ENV_H
#define ARCA_ENV_H

#include "arca/arca.h"

#ifdef __cplusplus
extern "C" {
#endif

/** States of an env, as kept in its record. */
typedef enum {
	ARCA_ENV_CREATING = 1,
	ARCA_ENV_ACTIVE = 2,
	ARCA_ENV_PAUSED = 3,
	ARCA_ENV_DESTROYED = 4,   /**< rm was interrupted: files may remain */
	ARCA_ENV_FAILED = 5
} arca_env_state_t;

/** Static name of a state: "creating", "active", ... */
ARCA_API const char *arca_env_state_name(arca_env_state_t state);

/** Capability bits of a backend. */
enum {
	ARCA_ENV_CAP_SNAPSHOT = 1,  /**< snapshot into a new artifact */
	ARCA_ENV_CAP_ROLLBACK = 2,  /**< reset in place to an artifact */
	ARCA_ENV_CAP_PAUSE = 4,     /**< pause and resume */
	ARCA_ENV_CAP_STREAM = 8     /**< exec output streams as it comes */
};

/** One env, as arca_env_lookup and arca_env_foreach give it. */
typedef struct {
	unsigned version;
	char *name;
	char *backend;
	arca_env_state_t state;
	arca_id source;           /**< the artifact it was created from */
	arca_id current;          /**< the artifact it is at (after reset/snapshot) */
	arca_kind_t kind;
	int64_t created_ns;
	arca_label *labels;
	size_t nlabels;
	char *dir;                /**< its directory in the store's env area */
	char *error;              /**< failed: why (one line); else NULL */
	char **settings;          /**< the backend's "key=value" settings */
	size_t nsettings;
	unsigned capabilities;    /**< ARCA_ENV_CAP_* of its backend; 0 when
	                               that backend is not built in */
} arca_env_info;

#define ARCA_ENV_INFO_VERSION 1
/** Frees an env the library returned (all its strings). NULL is ignored. */
ARCA_API void arca_env_info_free(arca_env_info *info);

/* ---- backends ---- */

typedef struct arca_env_backend arca_env_backend;

/** What a backend is given about the env it works on. */
typedef struct {
	unsigned version;
	arca_store *store;        /**< to restore, snapshot and roll back artifacts */
	const char *name;
	const char *dir;          /**< the env's own directory; exists (but
	                               in check, which runs before it is made) */
	arca_kind_t kind;
	const arca_id *artifact;  /**< current (create: the source) */
	const char *const *settings; /**< "key=value", NULL-terminated */
	/** For a failure's message: the backend may fill it (NUL-ended). */
	char *detail;
	size_t detail_cap;
	/** Version 2. create: "key=value\n" lines of what the backend chose
	 *  for itself (a kernel, a machine type ...); the env layer adds them
	 *  to the record's settings, so that `env show` shows them and later
	 *  calls get them (a backend's check must take them back). */
	char *chosen;
	size_t chosen_cap;
	/** Version 3. create and rollback: the caller's progress callback
	 *  (may be NULL), for the backend's arca_restore / arca_rollback. */
	arca_progress_cb progress_cb;
	void *progress_payload;
} arca_env_ctx;

#define ARCA_ENV_CTX_VERSION 3

/** Options of an exec. */
typedef struct {
	unsigned version;
	const char *const *argv;  /**< NULL-terminated, argv[0] found on PATH */
	const char *const *envp;  /**< "K=V" added to the command's environment; may be NULL */
	/** Inside the env, relative to its root (a leading '/' too); NULL: the
	 *  root. One that leads outside (through ".." or a symlink) is
	 *  refused with ARCA_EUNSAFE. */
	const char *cwd;
	/** 0: none. With one, the command leads a process group of its own,
	 *  killed (SIGKILL) whole on expiry: status 124. */
	unsigned timeout_s;
	int stdin_fd;             /**< -1: /dev/null */
	int stdout_fd, stderr_fd; /**< where its output goes, as it comes */
	/** dir backend: run inside the tree as its root (bubblewrap: the
	 *  setting bwrap=PATH, else `bwrap` on PATH), with a clean
	 *  environment and no network unless `net`. Other backends are
	 *  isolated already and ignore both. */
	int isolate;
	int net;
} arca_env_exec_options;

#define ARCA_ENV_EXEC_OPTIONS_VERSION 1
#define ARCA_ENV_EXEC_OPTIONS_INIT \
	{ ARCA_ENV_EXEC_OPTIONS_VERSION, NULL, NULL, NULL, 0, -1, 1, 2, 0, 0 }

/**
 * A backend. Every operation but capabilities may be NULL when the
 * capability mask says it is not supported (the env layer then fails the
 * call with ARCA_ENOTSUP). Operations return 0 or an arca error code and
 * set the error message; they never print or exit.
 */
struct arca_env_backend {
	unsigned version;         /**< ARCA_ENV_BACKEND_VERSION */
	const char *name;         /**< "dir", "smolvm", "qemu" */
	/** ARCA_ENV_CAP_* for an env with these settings. */
	unsigned (*capabilities)(arca_env_backend *b, const arca_env_ctx *e);
	/** Checks settings before anything is made (unknown keys, bad values). */
	int (*check)(arca_env_backend *b, const arca_env_ctx *e);
	/** Makes the env from e->artifact (restores it, boots it ...). */
	int (*create)(arca_env_backend *b, arca_env_ctx *e);
	/** Stops whatever runs and removes what create made outside e->dir. */
	int (*destroy)(arca_env_backend *b, arca_env_ctx *e);
	int (*pause)(arca_env_backend *b, arca_env_ctx *e);
	int (*resume)(arca_env_backend *b, arca_env_ctx *e);
	/** Runs a command; *status: its exit status (128 + signal when
	 *  killed, 124 on timeout). */
	int (*exec)(arca_env_backend *b, arca_env_ctx *e, const arca_env_exec_options *o,
		int *status);
	/** The live state (a VM that died is FAILED). */
	int (*state)(arca_env_backend *b, arca_env_ctx *e, arca_env_state_t *out);
	/** A new artifact of what the env holds now, parent e->artifact. */
	int (*snapshot)(arca_env_backend *b, arca_env_ctx *e, const arca_snapshot_options *o,
		arca_id *out);
	/** Puts the env back to artifact `to` in place. */
	int (*rollback)(arca_env_backend *b, arca_env_ctx *e, const arca_id *to);
	/** What changed since e->artifact, as arca_diff reports it. */
	int (*diff)(arca_env_backend *b, arca_env_ctx *e, arca_diff_entry_cb on_entry,
		arca_diff_range_cb on_range, void *payload, arca_diff_stats *stats);
	void (*free)(arca_env_backend *b);
};

#define ARCA_ENV_BACKEND_VERSION 1

/** A new instance of a built-in backend by name ("dir", "smolvm"; free
 *  with (*out)->free); ARCA_ENOTFOUND for another name or a backend not
 *  built. */
ARCA_API int arca_env_backend_builtin(arca_env_backend **out, const char *name);

/* ---- envs ---- */

typedef struct {
	unsigned version;
	const char *backend;      /**< NULL: "dir" */
	const char *name;         /**< NULL: derived from the artifact's name */
	const arca_label *labels;
	size_t nlabels;
	const char *const *settings; /**< "key=value" for the backend, NULL-terminated */
	/** Instead of a built-in backend; not kept, and later calls on the env
	 *  find its backend by name among the built-ins only (without it, the
	 *  env can only be looked up and, unless it runs, removed). */
	arca_env_backend *custom;
	/** Version 2. Progress of the restore into the env (phase "write"),
	 *  as arca_restore reports it; may be NULL. */
	arca_progress_cb progress_cb;
	void *progress_payload;
} arca_env_create_options;

#define ARCA_ENV_CREATE_OPTIONS_VERSION 2
#define ARCA_ENV_CREATE_OPTIONS_INIT { ARCA_ENV_CREATE_OPTIONS_VERSION, NULL, NULL, NULL, 0, NULL, NULL, \
	NULL, NULL }

/**
 * Creates an env from artifact `ref`; *name_out (may be NULL) gets its
 * name (free() it). Env names are single words as artifact name parts
 * ([A-Za-z0-9._-], no '/'); the default is the last part of the
 * artifact's name (or "env") and "-" and 6 random hex digits. A name in
 * use is ARCA_EEXISTS. When the backend fails, the env's record stays
 * `failed` with the error, and the call returns that error.
 *
 * Writes (briefly, three times); the backend's work runs between.
 */
ARCA_API int arca_env_create(arca_store *store, const char *ref,
		const arca_env_create_options *opts, char **name_out);
/** The env `name` (free with arca_env_info_free); ARCA_ENOTFOUND. Reads
 *  (writes only to finish what a dead process left, as above). */
ARCA_API int arca_env_lookup(arca_env_info **out, arca_store *store, const char *name);
typedef int (*arca_env_cb)(const arca_env_info *info, void *payload);
/** In name order; non-zero from cb stops and is returned. */
ARCA_API int arca_env_foreach(arca_store *store, arca_env_cb cb, void *payload);
/** Runs a command in an `active` env; *status is its exit status (124 on
 *  timeout, 128 + N when killed by signal N). A command that cannot be
 *  started is an error (ARCA_ENOTFOUND when not found), not a status. */
ARCA_API int arca_env_exec(arca_store *store, const char *name,
		const arca_env_exec_options *opts, int *status);
/** A new artifact of the env (name, tag, labels and callbacks from `o`,
 *  which may be NULL; its kind and parent are not taken from `o`: the
 *  parent is always the env's current artifact); the env is then at it. */
ARCA_API int arca_env_snapshot(arca_store *store, const char *name,
		const arca_snapshot_options *o, arca_id *out);
/** Back to `ref` in place (NULL: the artifact it was created from); an
 *  artifact of another kind is ARCA_EINVAL. The env is then at `ref`. */
ARCA_API int arca_env_reset(arca_store *store, const char *name, const char *ref);

typedef struct {
	unsigned version;
	/** Progress of the rollback (phase "write"), as arca_rollback
	 *  reports it; may be NULL. */
	arca_progress_cb progress_cb;
	void *progress_payload;
} arca_env_reset_options;

#define ARCA_ENV_RESET_OPTIONS_VERSION 1
#define ARCA_ENV_RESET_OPTIONS_INIT { ARCA_ENV_RESET_OPTIONS_VERSION, NULL, NULL }
/** arca_env_reset with options (NULL: none). */
ARCA_API int arca_env_reset_ext(arca_store *store, const char *name, const char *ref,
		const arca_env_reset_options *opts);
/** What changed in the env since its current artifact (as arca_diff
 *  against a live path reports it). Reads. */
ARCA_API int arca_env_diff(arca_store *store, const char *name, arca_diff_entry_cb on_entry,
		arca_diff_range_cb on_range, void *payload, arca_diff_stats *stats);
/** Pause an active env / resume a paused one; ARCA_ENOTSUP (in any
 *  state) when its backend cannot. */
ARCA_API int arca_env_pause(arca_store *store, const char *name);
ARCA_API int arca_env_resume(arca_store *store, const char *name);
/** Destroys the env and removes its files and record, in any state (one
 *  that runs needs its backend). */
ARCA_API int arca_env_remove(arca_store *store, const char *name);

#ifdef __cplusplus
}
#endif

#endif
