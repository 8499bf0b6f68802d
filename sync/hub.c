/*
 * Hub: workspace -> git commit -> branch on a git server, with libgit2.
 *
 * Push keeps one bare repository per Hub URL as an object cache. Each push
 * fetches the branch tip into it, builds blobs and trees from the
 * workspace, commits on top of the tip (unless the tree is unchanged) and
 * pushes; the push negotiation checks that the branch still points where
 * the fetch saw it, so a concurrent update is never overwritten silently.
 */
#include "arca/hub.h"
#include "cas/hash.h"
#include "store/walk.h"
#include "util/array.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/firsterr.h"
#include "util/version.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <git2.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Per-run refs in the cache repository (several pushes to one Hub may run
 * at once): refs/arca/<pid>-<random>/{tip,push}, deleted at the end. */
#define RUN_REF_FMT "refs/arca/%ld-%08lx/%s"
/* an exclude pattern, with its NUL */
#define HUB_PATTERN_MAX 4096

static const char *const default_excludes[] = {
	".git", "__pycache__", "*.pyc", ".venv", "venv", "node_modules", "*.egg-info",
	".pytest_cache", ".mypy_cache", ".DS_Store", "*.swp", "*.swo",
};

typedef struct {
	const arca_hub_remote *remote;
	const char *token;
	const char *user;
	char url[1024];          /* for messages: no user:password@ part */
	int attempts;
	int auth_failed;
	/* push */
	const char *dst_ref;
	git_oid expect;          /* zero when the branch did not exist */
	int force;
	int moved;
	char moved_msg[512];
	char rejected[256];
	uint64_t objects, bytes;
} hub_ctx;

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init(void)
{
	git_libgit2_init();
}

/* URL without credentials, for messages. */
static void safe_url(char *out, size_t n, const char *url)
{
	const char *scheme = strstr(url, "://"), *at, *host;
	if (!scheme) {
		snprintf(out, n, "%s", url);
		return;
	}
	host = scheme + 3;
	at = strchr(host, '@');
	if (at && (!strchr(host, '/') || at < strchr(host, '/')))
		snprintf(out, n, "%.*s%s", (int)(host - url), url, at + 1);
	else
		snprintf(out, n, "%s", url);
}

/* Translates the libgit2 error after `rc` into an arca error. */
/* Never echo a credential, whatever the server said. */
static void redact(const hub_ctx *c, char *s)
{
	char *p;
	if (!c->token || !*c->token)
		return;
	while ((p = strstr(s, c->token)) != NULL)
		memset(p, '*', strlen(c->token));
}

static int git_fail(hub_ctx *c, int rc, const char *what)
{
	const git_error *e = git_error_last();
	char msg[512], *full = strdup(e && e->message ? e->message : "unknown error");
	if (full) {
		redact(c, full); /* before any truncation */
		snprintf(msg, sizeof(msg), "%s", full);
		free(full);
	} else {
		snprintf(msg, sizeof(msg), "unknown error");
	}
	if (c->auth_failed || rc == GIT_EAUTH || strstr(msg, "401") || strstr(msg, "authentication")) {
		if (!c->token || !*c->token)
			return arca_err_set(ARCA_EAUTH,
				"hub %s: %s needs credentials and no token was given", what, c->url);
		return arca_err_set(ARCA_EAUTH, "hub %s: authentication failed for %s", what, c->url);
	}
	if (strstr(msg, "404") || strstr(msg, "does not appear to be a git repository") ||
	    strstr(msg, "repository not found"))
		return arca_err_set(ARCA_ENOTFOUND, "hub %s: no repository at %s (%s)", what, c->url, msg);
	return arca_err_set(ARCA_EIO, "hub %s: %s: %s", what, c->url, msg);
}

static int cred_cb(git_credential **out, const char *url, const char *user_from_url,
		unsigned int allowed, void *payload)
{
	hub_ctx *c = payload;
	(void)url;
	(void)user_from_url;
	/* libgit2 asks again after a rejection: give up instead of looping */
	if (c->attempts++ > 0 || !c->token || !*c->token ||
	    !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) {
		c->auth_failed = 1;
		git_error_set_str(GIT_ERROR_NET, "authentication failed");
		return GIT_EAUTH;
	}
	return git_credential_userpass_plaintext_new(out, c->user, c->token);
}

static int fetch_progress_cb(const git_indexer_progress *p, void *payload)
{
	hub_ctx *c = payload;
	if (c->remote->progress)
		return c->remote->progress(ARCA_HUB_FETCH, p->received_objects, p->total_objects,
			p->received_bytes, c->remote->payload);
	return 0;
}

static int push_progress_cb(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
	hub_ctx *c = payload;
	c->objects = total;
	c->bytes = bytes;
	if (c->remote->progress)
		return c->remote->progress(ARCA_HUB_PUSH, current, total, bytes, c->remote->payload);
	return 0;
}

static int negotiation_cb(const git_push_update **updates, size_t len, void *payload)
{
	hub_ctx *c = payload;
	for (size_t i = 0; i < len; i++) {
		char have[GIT_OID_HEXSZ + 1], want[GIT_OID_HEXSZ + 1];
		if (strcmp(updates[i]->dst_refname, c->dst_ref) != 0)
			continue;
		if (c->force || git_oid_equal(&updates[i]->src, &c->expect))
			continue;
		git_oid_tostr(have, sizeof(have), &updates[i]->src);
		git_oid_tostr(want, sizeof(want), &c->expect);
		c->moved = 1;
		snprintf(c->moved_msg, sizeof(c->moved_msg),
			"%s moved on the hub since it was fetched (now %.12s, fetched %.12s); "
			"push again to build on it, or force the push to overwrite it",
			c->dst_ref + strlen("refs/heads/"), have,
			git_oid_is_zero(&c->expect) ? "nothing" : want);
		git_error_set_str(GIT_ERROR_NET, "branch moved");
		return -1;
	}
	return 0;
}

static int update_ref_cb(const char *refname, const char *status, void *data)
{
	hub_ctx *c = data;
	if (status)
		snprintf(c->rejected, sizeof(c->rejected), "%s: %s", refname, status);
	return 0;
}

static void ctx_init(hub_ctx *c, const arca_hub_remote *r)
{
	memset(c, 0, sizeof(*c));
	c->remote = r;
	c->token = r->token;
	c->user = r->user && *r->user ? r->user : "arca";
	safe_url(c->url, sizeof(c->url), r->url ? r->url : "");
}

static void callbacks(git_remote_callbacks *cb, hub_ctx *c)
{
	cb->credentials = cred_cb;
	cb->transfer_progress = fetch_progress_cb;
	cb->push_transfer_progress = push_progress_cb;
	cb->push_negotiation = negotiation_cb;
	cb->push_update_reference = update_ref_cb;
	cb->payload = c;
}

static int check_remote(const arca_hub_remote *r)
{
	if (!r)
		return arca_err_set(ARCA_EINVAL, "arca_hub_remote: missing");
	return arca__check_version("arca_hub_remote", r->version, ARCA_HUB_REMOTE_VERSION);
}

static int check_branch(const char *b)
{
	char ref[512];
	int valid = 0;
	if (!b || !*b || strlen(b) > 200)
		return arca_err_set(ARCA_EINVAL, "a branch name is required");
	snprintf(ref, sizeof(ref), "refs/heads/%s", b);
	if (git_reference_name_is_valid(&valid, ref) != 0 || !valid)
		return arca_err_set(ARCA_EINVAL, "invalid branch name '%s'", b);
	return 0;
}

/* ---- excludes ---- */

typedef struct {
	char **pats;
	size_t n, cap;
	git_repository *wrepo;    /* the workspace, when it is a git work tree */
} excludes;

static int add_pattern(excludes *x, const char *p, size_t len)
{
	int rc;
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\r' || p[len - 1] == '\t'))
		len--;
	if (!len || p[0] == '#')
		return 0;
	if (p[0] == '!')
		return arca_err_set(ARCA_EINVAL, "exclude pattern '%.*s': negation is not supported",
			(int)len, p);
	if (len >= HUB_PATTERN_MAX)
		return arca_err_set(ARCA_EINVAL, "exclude pattern '%.40s...' is longer than %d bytes",
			p, HUB_PATTERN_MAX - 1);
	if ((rc = arca_array_grow(&x->pats, &x->cap, x->n + 1, sizeof(char *), 32)) != 0)
		return rc;
	if (!(x->pats[x->n] = strndup(p, len)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	x->n++;
	return 0;
}

static int load_arcaignore(excludes *x, const char *root)
{
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int rc;
	if ((rc = arca_buf_setf(&path, "%s/.arcaignore", root)) != 0)
		return arca_err_set(ARCA_EINVAL, "%s: path too long", root);
	if (!(f = fopen(arca_buf_cstr(&path), "r"))) {
		rc = errno == ENOENT ? 0 : arca_err_sys("read %s", arca_buf_cstr(&path));
		arca_buf_release(&path);
		return rc;
	}
	/* whole lines, however long: add_pattern refuses what is too long */
	while (!rc && getline(&line, &cap, f) >= 0)
		rc = add_pattern(x, line, strcspn(line, "\n"));
	free(line);
	fclose(f);
	arca_buf_release(&path);
	return rc;
}

/* gitignore-like: "name" matches at any depth, "a/b" and "/a" match the
 * path from the root, a trailing '/' matches directories only. */
static int pattern_matches(const char *pat, const char *path, const char *name, int is_dir)
{
	char p[HUB_PATTERN_MAX];   /* add_pattern saw to it that pat fits */
	size_t n = strlen(pat);
	int dir_only = n > 1 && pat[n - 1] == '/';
	snprintf(p, sizeof(p), "%.*s", (int)(dir_only ? n - 1 : n), pat);
	if (dir_only && !is_dir)
		return 0;
	if (p[0] == '/')
		return fnmatch(p + 1, path, FNM_PATHNAME) == 0;
	if (strchr(p, '/'))
		return fnmatch(p, path, FNM_PATHNAME) == 0;
	return fnmatch(p, name, 0) == 0;
}

static int is_excluded(excludes *x, const char *path, const char *name, int is_dir, int *out)
{
	*out = !strcmp(name, ".git");
	for (size_t i = 0; !*out && i < x->n; i++)
		*out = pattern_matches(x->pats[i], path, name, is_dir);
	if (!*out && x->wrepo) {
		char rel[4200];
		int ign = 0;
		snprintf(rel, sizeof(rel), "%s%s", path, is_dir ? "/" : "");
		if (git_ignore_path_is_ignored(&ign, x->wrepo, rel) == 0)
			*out = ign;
	}
	return 0;
}

static void excludes_free(excludes *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->pats[i]);
	free(x->pats);
	git_repository_free(x->wrepo);
}

/* ---- tree building ---- */

typedef struct {
	git_treebuilder *b;
	char *path;
	size_t path_len;
	char name[256];
} level;

static int finish_level(level *stack, size_t *depth, hub_ctx *c)
{
	level *top = &stack[*depth - 1];
	git_oid oid;
	int rc = 0;
	if (git_treebuilder_entrycount(top->b) > 0) {
		if (git_treebuilder_write(&oid, top->b) != 0 ||
		    git_treebuilder_insert(NULL, stack[*depth - 2].b, top->name, &oid,
			    GIT_FILEMODE_TREE) != 0)
			rc = git_fail(c, -1, "push");
	}
	git_treebuilder_free(top->b);
	top->b = NULL;
	free(top->path);
	top->path = NULL;
	(*depth)--;
	return rc;
}

static int build_tree(git_repository *repo, const char *root, excludes *x, git_oid *tree,
		arca_hub_push_result *res, hub_ctx *c)
{
	arca_walk *w = NULL;
	arca_walk_entry e;
	level *stack = calloc(4096 / 2 + 2, sizeof(level));
	size_t depth = 0;
	arca_buf full = ARCA_BUF_INIT(PATH_MAX);
	int rc, ex;

	if (!stack)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if ((rc = arca_walk_open(&w, root)) != 0)
		goto done;
	while ((rc = arca_walk_next(w, &e)) == 1) {
		int is_dir = S_ISDIR(e.st.st_mode);
		git_oid oid;
		git_filemode_t mode;

		if (e.len == 0) { /* root */
			if (git_treebuilder_new(&stack[0].b, repo, NULL) != 0) {
				rc = git_fail(c, -1, "push");
				goto done;
			}
			depth = 1;
			continue;
		}
		/* leave directories that do not contain this entry */
		while (depth > 1 && !(e.len > stack[depth - 1].path_len &&
				e.path[stack[depth - 1].path_len] == '/' &&
				!memcmp(e.path, stack[depth - 1].path, stack[depth - 1].path_len)))
			if ((rc = finish_level(stack, &depth, c)) != 0)
				goto done;
		is_excluded(x, e.path, e.name, is_dir, &ex);
		if (ex) {
			res->excluded++;
			if (is_dir)
				arca_walk_skip(w);
			continue;
		}
		if (arca_buf_setf(&full, "%s/%s", root, e.path) != 0) {
			rc = arca_err_set(ARCA_EUNSUPPORTED, "%s/%s: path too long", root, e.path);
			goto done;
		}
		switch (e.st.st_mode & S_IFMT) {
		case S_IFDIR:
			if (git_treebuilder_new(&stack[depth].b, repo, NULL) != 0) {
				rc = git_fail(c, -1, "push");
				goto done;
			}
			stack[depth].path_len = e.len;
			stack[depth].path = strdup(e.path);
			snprintf(stack[depth].name, sizeof(stack[depth].name), "%s", e.name);
			depth++;
			if (!stack[depth - 1].path) {
				rc = arca_err_set(ARCA_ENOMEM, "out of memory");
				goto done;
			}
			continue;
		case S_IFREG:
			if (git_blob_create_from_disk(&oid, repo, arca_buf_cstr(&full)) != 0) {
				rc = git_fail(c, -1, "push");
				goto done;
			}
			mode = e.st.st_mode & S_IXUSR ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
			break;
		case S_IFLNK: {
			char target[4096];
			ssize_t n = readlinkat(e.dirfd, e.name, target, sizeof(target));
			if (n < 0) {
				rc = arca_err_sys("read symlink %s", e.path);
				goto done;
			}
			if ((size_t)n >= sizeof(target)) {
				rc = arca_err_set(ARCA_EUNSUPPORTED, "symlink %s: target too long", e.path);
				goto done;
			}
			if (git_blob_create_from_buffer(&oid, repo, target, (size_t)n) != 0) {
				rc = git_fail(c, -1, "push");
				goto done;
			}
			mode = GIT_FILEMODE_LINK;
			break;
		}
		default:
			res->excluded++; /* fifos, sockets, devices: git has no such thing */
			continue;
		}
		if (git_treebuilder_insert(NULL, stack[depth - 1].b, e.name, &oid, mode) != 0) {
			rc = git_fail(c, -1, "push");
			goto done;
		}
		res->files++;
	}
	if (rc)
		goto done;
	while (depth > 1)
		if ((rc = finish_level(stack, &depth, c)) != 0)
			goto done;
	if (git_treebuilder_write(tree, stack[0].b) != 0)
		rc = git_fail(c, -1, "push");
done:
	while (depth > 0) {
		depth--;
		git_treebuilder_free(stack[depth].b);
		free(stack[depth].path);
	}
	free(stack);
	arca_walk_free(w);
	arca_buf_release(&full);
	return rc;
}

/* ---- push ---- */

static int cache_repo(git_repository **out, const char *cache_dir, hub_ctx *c)
{
	arca_buf path = ARCA_BUF_INIT(PATH_MAX);
	char hex[33];
	uint8_t h[32];
	const char *base = cache_dir;
	int rc;

	if (arca_mkdir_p(base, 0700) < 0)
		return arca_err_sys("create %s", base);
	if ((rc = arca_sha256_digest(h, c->url, strlen(c->url))) != 0)
		return rc;
	arca_hex_encode(hex, h, 16);
	if (arca_buf_setf(&path, "%s/%s.git", base, hex) != 0)
		return arca_err_set(ARCA_EINVAL, "%s: path too long", base);
	rc = 0;
	if (git_repository_open_bare(out, arca_buf_cstr(&path)) != 0 &&
	    git_repository_init(out, arca_buf_cstr(&path), 1) != 0)
		rc = git_fail(c, -1, "push");
	arca_buf_release(&path);
	return rc;
}

int arca_hub_push(arca_hub_push_result *res, const char *path, const arca_hub_remote *r,
		const arca_hub_push_options *o)
{
	hub_ctx c;
	excludes x;
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_reference *ref = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_oid tree, commit;
	git_fetch_options fo;
	git_push_options po;
	char fetch_spec[1300], push_spec[1300], dst[600], tip_ref[128], push_ref[128];
	char *fs[1] = { fetch_spec }, *ps[1] = { push_spec };
	git_strarray fetch_specs = { fs, 1 }, push_specs = { ps, 1 };
	struct stat st;
	const char *name, *email;
	int rc;

	if (!res || !path)
		return arca_err_set(ARCA_EINVAL, "arca_hub_push: NULL argument");
	if ((rc = check_remote(r)) != 0)
		return rc;
	if (!o)
		return arca_err_set(ARCA_EINVAL, "arca_hub_push_options: missing");
	if ((rc = arca__check_version("arca_hub_push_options", o->version, ARCA_HUB_PUSH_OPTIONS_VERSION)) != 0)
		return rc;
	if ((rc = arca__result_start("arca_hub_push_result", res, sizeof(*res), ARCA_HUB_PUSH_RESULT_VERSION)) != 0)
		return rc;
	if (!r->url || !*r->url)
		return arca_err_set(ARCA_EINVAL, "hub push: a URL is required");
	if ((rc = check_branch(o->branch)) != 0)
		return rc;
	if (!o->cache_dir || !*o->cache_dir)
		return arca_err_set(ARCA_EINVAL, "hub push: a cache directory is required (cache_dir)");
	if (strlen(o->cache_dir) > 4000)
		return arca_err_set(ARCA_EINVAL, "hub push: cache directory path too long");
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return arca_err_set(ARCA_EINVAL, "hub push: %s is not a directory", path);
	pthread_once(&git_once, git_init);
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	memset(&x, 0, sizeof(x));
	ctx_init(&c, r);
	c.force = o->force;
	snprintf(dst, sizeof(dst), "refs/heads/%s", o->branch);
	c.dst_ref = dst;

	/* what to leave out */
	if (!o->no_default_excludes)
		for (size_t i = 0; i < sizeof(default_excludes) / sizeof(default_excludes[0]); i++)
			if ((rc = add_pattern(&x, default_excludes[i], strlen(default_excludes[i]))) != 0)
				goto done;
	for (size_t i = 0; i < o->nexcludes; i++)
		if ((rc = add_pattern(&x, o->excludes[i], strlen(o->excludes[i]))) != 0)
			goto done;
	if ((rc = load_arcaignore(&x, path)) != 0)
		goto done;
	if (git_repository_open_ext(&x.wrepo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0) {
		x.wrepo = NULL;
		git_error_clear();
	} else if (git_repository_is_bare(x.wrepo)) {
		git_repository_free(x.wrepo);
		x.wrepo = NULL;
	}

	/* fetch the branch tip */
	{
		unsigned long nonce = 0;
		uint8_t rnd[32];
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (arca_sha256_digest(rnd, &ts, sizeof(ts)) == 0)
			memcpy(&nonce, rnd, sizeof(nonce) < 8 ? sizeof(nonce) : 8);
		snprintf(tip_ref, sizeof(tip_ref), RUN_REF_FMT, (long)getpid(), nonce & 0xffffffffUL, "tip");
		snprintf(push_ref, sizeof(push_ref), RUN_REF_FMT, (long)getpid(), nonce & 0xffffffffUL, "push");
	}
	if ((rc = cache_repo(&repo, o->cache_dir, &c)) != 0)
		goto done;
	if (git_remote_create_anonymous(&remote, repo, r->url) != 0) {
		rc = git_fail(&c, -1, "push");
		goto done;
	}
	callbacks(&fo.callbacks, &c);
	snprintf(fetch_spec, sizeof(fetch_spec), "+%s:%s", dst, tip_ref);
	if ((rc = git_remote_fetch(remote, &fetch_specs, &fo, NULL)) != 0) {
		rc = git_fail(&c, rc, "push");
		goto done;
	}
	if (r->progress && (rc = r->progress(ARCA_HUB_FETCH, 1, 1, 0, r->payload)) != 0) {
		rc = arca_err_set(ARCA_ERROR, "hub push: cancelled");
		goto done;
	}
	if (git_reference_name_to_id(&c.expect, repo, tip_ref) == 0) {
		if (git_commit_lookup(&parent, repo, &c.expect) != 0) {
			rc = git_fail(&c, -1, "push");
			goto done;
		}
		git_oid_tostr(res->parent, sizeof(res->parent), &c.expect);
	} else {
		git_error_clear();
		memset(&c.expect, 0, sizeof(c.expect));
	}

	/* commit the workspace */
	if ((rc = build_tree(repo, path, &x, &tree, res, &c)) != 0)
		goto done;
	if (parent && git_oid_equal(git_commit_tree_id(parent), &tree)) {
		snprintf(res->commit, sizeof(res->commit), "%s", res->parent);
		res->pushed = 0;
		goto done; /* nothing to push */
	}
	name = o->author_name;
	email = o->author_email;
	if (git_signature_now(&sig, name && *name ? name : "arca",
			email && *email ? email : "arca@localhost") != 0) {
		rc = git_fail(&c, -1, "push");
		goto done;
	}
	{
		git_tree *t = NULL;
		const git_commit *parents[1] = { parent };
		if (git_tree_lookup(&t, repo, &tree) != 0 ||
		    git_commit_create(&commit, repo, NULL, sig, sig, "UTF-8",
			    o->message && *o->message ? o->message : "arca: workspace snapshot",
			    t, parent ? 1 : 0, parents) != 0) {
			git_tree_free(t);
			rc = git_fail(&c, -1, "push");
			goto done;
		}
		git_tree_free(t);
	}
	if (git_reference_create(&ref, repo, push_ref, &commit, 1, NULL) != 0) {
		rc = git_fail(&c, -1, "push");
		goto done;
	}

	/* push */
	callbacks(&po.callbacks, &c);
	c.attempts = 0;
	snprintf(push_spec, sizeof(push_spec), "%s%s:%s", o->force ? "+" : "", push_ref, dst);
	rc = git_remote_push(remote, &push_specs, &po);
	if (c.moved || rc == GIT_ENONFASTFORWARD) {
		if (!c.moved)
			snprintf(c.moved_msg, sizeof(c.moved_msg),
				"%s moved on the hub; push again to build on it, or force the push to overwrite it", o->branch);
		rc = arca_err_set(ARCA_ECONFLICT, "hub push: %s", c.moved_msg);
		goto done;
	}
	if (rc) {
		rc = git_fail(&c, rc, "push");
		goto done;
	}
	if (c.rejected[0]) {
		redact(&c, c.rejected);
		rc = arca_err_set(strstr(c.rejected, "fast-forward") || strstr(c.rejected, "fetch first") ?
			ARCA_ECONFLICT : ARCA_EIO, "hub push: %s refused %s", c.url, c.rejected);
		goto done;
	}
	git_oid_tostr(res->commit, sizeof(res->commit), &commit);
	res->pushed = 1;
	res->objects_sent = c.objects;
	res->bytes_sent = c.bytes;
done:
	if (repo) {
		git_reference *tmp;
		if (git_reference_lookup(&tmp, repo, tip_ref) == 0) {
			git_reference_delete(tmp);
			git_reference_free(tmp);
		}
		if (git_reference_lookup(&tmp, repo, push_ref) == 0) {
			git_reference_delete(tmp);
			git_reference_free(tmp);
		}
		git_error_clear();
	}
	git_signature_free(sig);
	git_commit_free(parent);
	git_reference_free(ref);
	git_remote_free(remote);
	git_repository_free(repo);
	excludes_free(&x);
	return rc;
}

/* ---- clone / pull ---- */

/* Done by hand rather than with git_clone(): the Hub's HEAD may name a
 * branch that does not exist, which git_clone() cannot check out. */
int arca_hub_clone(const char *dest, const char *branch, const arca_hub_remote *r)
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_reference *local = NULL;
	git_commit *tip = NULL;
	git_fetch_options fo;
	git_checkout_options cko;
	git_oid oid;
	char spec[1300], tracking[600], head[600];
	char *specs[1] = { spec };
	git_strarray sa = { specs, 1 };
	struct stat st;
	hub_ctx c;
	int rc;

	if (!dest)
		return arca_err_set(ARCA_EINVAL, "arca_hub_clone: NULL argument");
	if ((rc = check_remote(r)) != 0)
		return rc;
	if (!r->url || !*r->url)
		return arca_err_set(ARCA_EINVAL, "hub clone: a URL is required");
	if ((rc = check_branch(branch)) != 0)
		return rc;
	if (stat(dest, &st) == 0)
		return arca_err_set(ARCA_EEXISTS, "hub clone: %s already exists", dest);
	pthread_once(&git_once, git_init);
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	git_checkout_options_init(&cko, GIT_CHECKOUT_OPTIONS_VERSION);
	ctx_init(&c, r);
	if (git_repository_init(&repo, dest, 0) != 0 ||
	    git_remote_create(&remote, repo, "origin", r->url) != 0) {
		rc = git_fail(&c, -1, "clone");
		goto done;
	}
	snprintf(tracking, sizeof(tracking), "refs/remotes/origin/%s", branch);
	snprintf(spec, sizeof(spec), "+refs/heads/%s:%s", branch, tracking);
	callbacks(&fo.callbacks, &c);
	if ((rc = git_remote_fetch(remote, &sa, &fo, NULL)) != 0) {
		rc = git_fail(&c, rc, "clone");
		goto done;
	}
	if (git_reference_name_to_id(&oid, repo, tracking) != 0) {
		rc = arca_err_set(ARCA_ENOTFOUND, "hub clone: %s has no branch '%s'", c.url, branch);
		goto done;
	}
	snprintf(head, sizeof(head), "refs/heads/%s", branch);
	cko.checkout_strategy = GIT_CHECKOUT_FORCE;
	if (git_commit_lookup(&tip, repo, &oid) != 0 ||
	    git_branch_create(&local, repo, branch, tip, 0) != 0 ||
	    git_branch_set_upstream(local, tracking + strlen("refs/remotes/")) != 0 ||
	    git_repository_set_head(repo, head) != 0 ||
	    git_checkout_head(repo, &cko) != 0) {
		rc = git_fail(&c, -1, "clone");
		goto done;
	}
done:
	git_commit_free(tip);
	git_reference_free(local);
	git_remote_free(remote);
	git_repository_free(repo);
	if (rc) {
		/* leave nothing half-made behind: a retry must not find DEST
		 * (the removal's own errors must not replace the clone's) */
		arca_firsterr keep;
		arca_firsterr_init(&keep);
		arca_firsterr_set(&keep, rc);
		arca_rm_rf_at(AT_FDCWD, dest);
		arca_firsterr_raise(&keep);
		arca_firsterr_release(&keep);
	}
	return rc;
}

int arca_hub_pull(const char *path, const arca_hub_remote *r, char commit[41])
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_reference *head = NULL, *target_ref = NULL, *moved = NULL;
	git_annotated_commit *theirs = NULL;
	git_object *target = NULL;
	git_fetch_options fo;
	git_checkout_options cko;
	git_merge_analysis_t analysis;
	git_merge_preference_t pref;
	/* the branch is the work tree's, of any length */
	arca_buf spec = ARCA_BUF_INIT(4096), tracking = ARCA_BUF_INIT(4096);
	char *specs[1] = { NULL };
	git_strarray sa = { specs, 1 };
	const char *branch;
	hub_ctx c;
	int rc;

	if (!path)
		return arca_err_set(ARCA_EINVAL, "arca_hub_pull: NULL argument");
	if ((rc = check_remote(r)) != 0)
		return rc;
	pthread_once(&git_once, git_init);
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	git_checkout_options_init(&cko, GIT_CHECKOUT_OPTIONS_VERSION);
	ctx_init(&c, r);
	if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0)
		return arca_err_set(ARCA_EINVAL, "hub pull: %s is not a git work tree", path);
	if (git_repository_head(&head, repo) != 0 || !git_reference_is_branch(head)) {
		rc = arca_err_set(ARCA_EINVAL, "hub pull: %s is not on a branch", path);
		goto done;
	}
	branch = git_reference_shorthand(head);
	if (r->url && *r->url)
		rc = git_remote_create_anonymous(&remote, repo, r->url);
	else
		rc = git_remote_lookup(&remote, repo, "origin");
	if (rc) {
		rc = arca_err_set(ARCA_EINVAL, "hub pull: no hub URL and no 'origin' remote");
		goto done;
	}
	if (!r->url || !*r->url)
		safe_url(c.url, sizeof(c.url), git_remote_url(remote));
	if (arca_buf_setf(&tracking, "refs/remotes/origin/%s", branch) != 0 ||
	    arca_buf_setf(&spec, "+refs/heads/%s:%s", branch, arca_buf_cstr(&tracking)) != 0) {
		rc = arca_err_set(ARCA_EINVAL, "hub pull: branch name '%.200s' is too long", branch);
		goto done;
	}
	specs[0] = (char *)arca_buf_cstr(&spec);
	callbacks(&fo.callbacks, &c);
	if ((rc = git_remote_fetch(remote, &sa, &fo, NULL)) != 0) {
		rc = git_fail(&c, rc, "pull");
		goto done;
	}
	if (git_reference_lookup(&target_ref, repo, arca_buf_cstr(&tracking)) != 0) {
		rc = arca_err_set(ARCA_ENOTFOUND, "hub pull: %s has no branch '%s'", c.url, branch);
		goto done;
	}
	if (git_annotated_commit_from_ref(&theirs, repo, target_ref) != 0 ||
	    git_merge_analysis(&analysis, &pref, repo, (const git_annotated_commit **)&theirs, 1) != 0) {
		rc = git_fail(&c, -1, "pull");
		goto done;
	}
	if (analysis & GIT_MERGE_ANALYSIS_UP_TO_DATE) {
		rc = 0;
	} else if (analysis & GIT_MERGE_ANALYSIS_FASTFORWARD) {
		cko.checkout_strategy = GIT_CHECKOUT_SAFE;
		if (git_object_lookup(&target, repo, git_annotated_commit_id(theirs), GIT_OBJECT_COMMIT) != 0 ||
		    git_checkout_tree(repo, target, &cko) != 0) {
			rc = arca_err_set(ARCA_ECONFLICT,
				"hub pull: local changes in %s would be overwritten; nothing was changed", path);
			goto done;
		}
		if (git_reference_set_target(&moved, head, git_annotated_commit_id(theirs), "arca hub pull") != 0) {
			rc = git_fail(&c, -1, "pull");
			goto done;
		}
	} else {
		rc = arca_err_set(ARCA_ECONFLICT,
			"hub pull: %s has diverged from the hub's %s; nothing was changed", path, branch);
		goto done;
	}
	if (commit)
		git_oid_tostr(commit, 41, git_annotated_commit_id(theirs));
done:
	git_object_free(target);
	git_annotated_commit_free(theirs);
	git_reference_free(moved);
	git_reference_free(target_ref);
	git_reference_free(head);
	git_remote_free(remote);
	git_repository_free(repo);
	arca_buf_release(&spec);
	arca_buf_release(&tracking);
	return rc;
}

static char git2_v[32];
static pthread_once_t git2_v_once = PTHREAD_ONCE_INIT;

static void git2_v_init(void)
{
	int a = 0, b = 0, c = 0;
	git_libgit2_version(&a, &b, &c);
	snprintf(git2_v, sizeof git2_v, "%d.%d.%d", a, b, c);
}

const char *arca_sync__git2_version(void)
{
	pthread_once(&git2_v_once, git2_v_init);
	return git2_v;
}
