/*
 * arca hub: push a workspace's code to a branch on a git Hub (a
 * Gitea-style server speaking smart HTTP, or git://), and clone or pull
 * that branch on the environment side. Implemented with libgit2; nothing
 * shells out to git.
 *
 * Credentials: a token sent as HTTP basic auth (user "arca" unless set).
 * The token is never put in a URL, an error message or any output, and a
 * rejected token fails after one attempt with ARCA_EAUTH.
 *
 * The library reads no environment variables: the token, the object cache
 * directory and the commit author are whatever the caller passes (the arca
 * CLI takes them from $ARCA_HUB_TOKEN, $XDG_CACHE_HOME or $HOME, and
 * $GIT_AUTHOR_NAME / $GIT_AUTHOR_EMAIL).
 */
#ifndef ARCA_HUB_H
#define ARCA_HUB_H

#include "arca/arca.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	ARCA_HUB_FETCH = 1,  /**< receiving objects: current/total objects, bytes */
	ARCA_HUB_PUSH = 2    /**< sending objects: current/total objects, bytes */
} arca_hub_stage_t;

/** Progress callback; non-zero cancels the operation. */
typedef int (*arca_hub_progress_cb)(arca_hub_stage_t stage, uint64_t current,
		uint64_t total, uint64_t bytes, void *payload);

/** Connection settings shared by push, clone and pull. */
typedef struct {
	unsigned version;
	const char *url;           /**< http(s)://host/owner/repo.git or git:// */
	const char *user;          /**< basic-auth user; NULL = "arca" */
	const char *token;         /**< NULL or "" = no credentials */
	arca_hub_progress_cb progress;
	void *payload;
} arca_hub_remote;

#define ARCA_HUB_REMOTE_VERSION 1
#define ARCA_HUB_REMOTE_INIT { ARCA_HUB_REMOTE_VERSION, NULL, NULL, NULL, NULL, NULL }

/** Fills `remote` with the defaults of ARCA_HUB_REMOTE_INIT for `version`
 *  (pass ARCA_HUB_REMOTE_VERSION); ARCA_EINVAL for NULL or an unknown
 *  version. */
ARCA_API int arca_hub_remote_init(arca_hub_remote *remote, unsigned int version);

typedef struct {
	unsigned version;
	const char *branch;        /**< required */
	const char *message;       /**< NULL = "arca: workspace snapshot" */
	int force;                 /**< overwrite a branch that moved on the Hub */
	const char *const *excludes; /**< extra exclude patterns (gitignore-like) */
	size_t nexcludes;
	int no_default_excludes;   /**< drop the built-in list (.git stays excluded) */
	/** Directory for the local object cache (one bare repository per URL),
	 *  created 0700 if missing. Required: push fails with ARCA_EINVAL
	 *  when it is NULL or empty. */
	const char *cache_dir;
	const char *author_name;   /**< commit author and committer; NULL = "arca" */
	const char *author_email;  /**< NULL = "arca@localhost" */
} arca_hub_push_options;

#define ARCA_HUB_PUSH_OPTIONS_VERSION 1
#define ARCA_HUB_PUSH_OPTIONS_INIT { ARCA_HUB_PUSH_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, 0, NULL, NULL, NULL }

/** Fills `opts` with the defaults of ARCA_HUB_PUSH_OPTIONS_INIT for
 *  `version` (pass ARCA_HUB_PUSH_OPTIONS_VERSION); ARCA_EINVAL for NULL or
 *  an unknown version. */
ARCA_API int arca_hub_push_options_init(arca_hub_push_options *opts, unsigned int version);

/** Result of arca_hub_push; `version` set by the caller
 *  (ARCA_HUB_PUSH_RESULT_INIT). */
typedef struct {
	unsigned version;
	char commit[41];           /**< the branch's tip after the call (hex) */
	char parent[41];           /**< tip before, "" when the branch was new */
	int pushed;                /**< 0 when the tree was unchanged */
	uint64_t files;            /**< files and symlinks in the pushed tree */
	uint64_t excluded;         /**< entries left out by exclude rules */
	uint64_t objects_sent;
	uint64_t bytes_sent;
} arca_hub_push_result;

#define ARCA_HUB_PUSH_RESULT_VERSION 1
#define ARCA_HUB_PUSH_RESULT_INIT { .version = ARCA_HUB_PUSH_RESULT_VERSION }

/**
 * Builds a commit whose tree is the workspace at `path` (regular files
 * with their executable bit, symlinks; empty directories are dropped as
 * git does) and pushes it to `opts->branch`. The commit's parent is the
 * branch's tip on the Hub, fetched first; if the tree equals the tip's,
 * nothing is pushed. If the branch moves on the Hub between the fetch and
 * the push, the push fails with ARCA_ECONFLICT unless `force`. Without a
 * token, a Hub that asks for credentials fails with ARCA_EAUTH.
 * Excluded: the default list (.git, __pycache__, *.pyc, .venv, venv,
 * node_modules, *.egg-info, .pytest_cache, .mypy_cache, .DS_Store, *.swp,
 * *.swo), patterns in `path`/.arcaignore and `excludes`, and, when `path`
 * is a git work tree, whatever its .gitignore rules ignore.
 */
ARCA_API int arca_hub_push(arca_hub_push_result *out, const char *path,
		const arca_hub_remote *remote, const arca_hub_push_options *opts);

/** Clones `branch` of the Hub repository into the new directory `dest`. */
ARCA_API int arca_hub_clone(const char *dest, const char *branch,
		const arca_hub_remote *remote);

/**
 * Fast-forwards the clone at `path` to its branch's tip on the Hub
 * (remote "origin" unless remote->url is set). Refuses, with
 * ARCA_ECONFLICT, when the local branch has diverged or local changes
 * would be overwritten. `commit` (41 bytes, may be NULL) receives the new
 * tip.
 */
ARCA_API int arca_hub_pull(const char *path, const arca_hub_remote *remote, char commit[41]);

#ifdef __cplusplus
}
#endif
#endif
