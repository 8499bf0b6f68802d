/*
 * The env layer: env records (store/envs.h) driven through a backend's
 * vtable. Each state change is committed before the step it announces
 * (creating, destroyed) or after the step it records (active, failed,
 * paused, current), so a crash leaves a record that says what to clean.
 */
#include "env/backends.h"
#include "env/env_lock.h"
#include "store/envs.h"
#include "store/names.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/hex.h"
#include "util/version.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DETAIL_MAX 512
#define CHOSEN_MAX 2048

const char *arca_env_state_name(arca_env_state_t state)
{
	switch (state) {
	case ARCA_ENV_CREATING: return "creating";
	case ARCA_ENV_ACTIVE: return "active";
	case ARCA_ENV_PAUSED: return "paused";
	case ARCA_ENV_DESTROYED: return "destroyed";
	case ARCA_ENV_FAILED: return "failed";
	}
	return "unknown";
}

void arca_env_info_free(arca_env_info *info)
{
	if (!info)
		return;
	arca_store__env_info_clear(info);
	free(info);
}

int arca_env_backend_builtin(arca_env_backend **out, const char *name)
{
	if (!out || !name)
		return arca_err_set(ARCA_EINVAL, "arca_env_backend_builtin: NULL argument");
	*out = NULL;
	if (!strcmp(name, "dir"))
		return arca_env__dir_new(out);
	if (!strcmp(name, "smolvm"))
		return arca_env__smolvm_new(out);
	if (!strcmp(name, "qemu"))
		return arca_env__qemu_new(out);
	return arca_err_set(ARCA_ENOTFOUND, "no env backend named '%.64s'", name);
}

/* ---- one operation on one env ---- */

typedef struct {
	arca_store *s;
	arca_env_info info;
	arca_env_backend *b;     /* NULL when not available */
	int own_b;               /* built here: freed at the end */
	arca_env_ctx ctx;
	const char **settings;   /* info.settings, NULL-terminated */
	char detail[DETAIL_MAX];
	char chosen[CHOSEN_MAX];
	int b_rc;                /* why op->b is NULL */
	char b_msg[256];
	int area_fd;             /* STORE/envs, or -1 */
	int lock_fd;             /* the env's lock (env/env_lock.c), or -1 */
} env_op;

/* How an operation holds the env's lock: not at all (reads of the
 * record), shared (exec, diff: they may run side by side), exclusive
 * (what changes the env), or exclusive to finish what a dead process
 * left. */
enum { OP_READ, OP_SHARED, OP_EXCL, OP_RECOVER };

static void op_init(env_op *op, arca_store *s)
{
	memset(op, 0, sizeof(*op));
	op->s = s;
	op->area_fd = op->lock_fd = -1;
}

static int env_dir(char **out, arca_store *s, const char *name)
{
	return arca_store__env_path(out, s, name);
}

static int check_backend(arca_env_backend *b)
{
	if (!b->name || !b->capabilities)
		return arca_err_set(ARCA_EINVAL, "env backend: no name or capabilities");
	return arca__check_version("arca_env_backend", b->version, ARCA_ENV_BACKEND_VERSION);
}

/* Fills the backend context of op->info (its record read or made). */
static int op_ctx(env_op *op)
{
	if (!op->info.dir && env_dir(&op->info.dir, op->s, op->info.name) != 0)
		return ARCA_ENOMEM;
	free(op->settings);
	if (!(op->settings = calloc(op->info.nsettings + 1, sizeof(*op->settings))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	for (size_t i = 0; i < op->info.nsettings; i++)
		op->settings[i] = op->info.settings[i];
	/* the caller's progress callback survives a refill */
	arca_progress_cb pcb = op->ctx.progress_cb;
	void *ppl = op->ctx.progress_payload;
	memset(&op->ctx, 0, sizeof(op->ctx));
	op->ctx.progress_cb = pcb;
	op->ctx.progress_payload = ppl;
	op->ctx.version = ARCA_ENV_CTX_VERSION;
	op->ctx.store = op->s;
	op->ctx.name = op->info.name;
	op->ctx.dir = op->info.dir;
	op->ctx.kind = op->info.kind;
	op->ctx.artifact = &op->info.current;
	op->ctx.settings = op->settings;
	op->detail[0] = '\0';
	op->ctx.detail = op->detail;
	op->ctx.detail_cap = sizeof(op->detail);
	op->chosen[0] = '\0';
	op->ctx.chosen = op->chosen;
	op->ctx.chosen_cap = sizeof(op->chosen);
	if (op->b)
		op->info.capabilities = op->b->capabilities(op->b, &op->ctx);
	return 0;
}

static void op_close(env_op *op)
{
	if (op->lock_fd >= 0)
		arca_env__unlock(op->lock_fd, op->area_fd, op->info.name);
	if (op->area_fd >= 0)
		close(op->area_fd);
	if (op->b && op->own_b && op->b->free)
		op->b->free(op->b);
	free(op->settings);
	/* labels and settings of a record being made are the caller's */
	if (op->info.version)
		arca_store__env_info_clear(&op->info);
	memset(op, 0, sizeof(*op));
}

static void finish_interrupted(arca_store *s, const char *name, int removes);

/* Reads env `name`; its backend too when available (else op->b NULL, and
 * need_backend says why). With a lock (`how`), a `creating` record its
 * dead creator left is first finished (failed), and the env's directory
 * must be its own (not a symlink or a mount) unless it is to be removed. */
static int op_open(env_op *op, arca_store *s, const char *name, int how)
{
	int rc, brc;

	op_init(op, s);
	if (!s)
		return arca_err_set(ARCA_EINVAL, "env: NULL store");
	if ((rc = arca_store__env_get(&op->info, s, name)) != 0)
		return rc;
	if (how != OP_READ) {
		if (how != OP_RECOVER && op->info.state == ARCA_ENV_CREATING)
			finish_interrupted(s, name, 0);
		arca_store__env_info_clear(&op->info);
		if ((rc = arca_env__area_open(&op->area_fd, s, 1)) != 0 ||
		    (rc = arca_env__lock(&op->lock_fd, op->area_fd, name, how == OP_SHARED)) != 0 ||
		    /* what it is now that no one else changes it */
		    (rc = arca_store__env_get(&op->info, s, name)) != 0) {
			if (op->lock_fd >= 0)
				arca_env__unlock(op->lock_fd, op->area_fd, name);
			op->lock_fd = -1;
			op_close(op);
			return rc;
		}
	}
	brc = arca_env_backend_builtin(&op->b, op->info.backend);
	if (!brc && (brc = check_backend(op->b)) != 0 && op->b->free)
		op->b->free(op->b);
	if (brc) {
		op->b = NULL;
		op->b_rc = brc;
		snprintf(op->b_msg, sizeof(op->b_msg), "%s", arca_error_last());
	}
	op->own_b = 1;
	if ((rc = op_ctx(op)) != 0)
		op_close(op);
	return rc;
}

/* The env's directory is its own: operations other than rm and the
 * recovery follow it. */
static int own_dir(env_op *op)
{
	return arca_env__check_dir(op->area_fd, op->info.name);
}

/* A backend's failure, with its detail when it gave one. */
static int backend_fail(env_op *op, int rc, const char *what)
{
	char msg[1024];
	if (!rc)
		return 0;
	snprintf(msg, sizeof(msg), "%s", arca_error_last());
	op->detail[sizeof(op->detail) - 1] = '\0';
	if (op->detail[0])
		return arca_err_set(rc, "env %s: %s: %s (%s)", op->info.name, what, msg, op->detail);
	return arca_err_set(rc, "env %s: %s: %s", op->info.name, what, msg);
}

/* The state it must be in; then its backend must be there. */
static int need_state(env_op *op, arca_env_state_t want)
{
	if (op->info.state != want)
		return arca_err_set(ARCA_EINVAL, "env %s is %s, not %s", op->info.name,
			arca_env_state_name(op->info.state), arca_env_state_name(want));
	if (!op->b)
		return arca_err_set(op->b_rc, "env %s: %s", op->info.name, op->b_msg);
	return 0;
}

static int need_cap(env_op *op, unsigned cap, const void *fn, const char *what)
{
	if ((op->info.capabilities & cap) && fn)
		return 0;
	return arca_err_set(ARCA_ENOTSUP, "env %s: the %s backend cannot %s", op->info.name,
		op->info.backend, what);
}

static int commit(env_op *op, arca_env_state_t state)
{
	op->info.state = state;
	return arca_store__env_put(op->s, &op->info, 0);
}

/* ---- files ---- */

/* Removes STORE/envs/NAME: a symlink or file there itself, never what it
 * points to; a mount below it is left (ARCA_EUNSAFE). */
static int remove_files(int area_fd, const char *name)
{
	struct stat st;
	if (fstatat(area_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return arca_rm_rf_at(area_fd, name);
	return errno == ENOENT ? 0 : arca_err_sys("stat envs/%s", name);
}

static int make_dir(env_op *op)
{
	int rc;
	/* no record had the name: what is there is a stray of no env */
	if ((rc = remove_files(op->area_fd, op->info.name)) == 0 &&
	    mkdirat(op->area_fd, op->info.name, 0700) < 0)
		rc = arca_err_sys("create %s", op->info.dir);
	if (!rc && fchmodat(op->area_fd, op->info.name, 0700, 0) < 0)
		rc = arca_err_sys("chmod %s", op->info.dir);
	return rc;
}

/* ---- create ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* NAME's last part (or "env") and "-" and 6 hex digits. */
static int default_name(char **out, const char *art_name)
{
	const char *base = art_name ? strrchr(art_name, '/') : NULL;
	uint8_t r[3];
	char hex[7];
	arca_buf b = ARCA_BUF_INIT(ARCA_NAME_MAX + 1);
	int rc;

	base = base ? base + 1 : art_name && *art_name ? art_name : "env";
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 20);
		r[0] = (uint8_t)t;
		r[1] = (uint8_t)(t >> 8);
		r[2] = (uint8_t)(t >> 16);
	}
	arca_hex_encode(hex, r, sizeof(r));
	rc = arca_buf_setf(&b, "%.*s-%s", ARCA_NAME_MAX - 7, base, hex);
	if (!rc && !(*out = strdup(arca_buf_cstr(&b))))
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
	arca_buf_release(&b);
	return rc;
}

/* Takes the lock of op->info.name, then commits its `creating` record;
 * both stay until the create ends. A name whose lock another call holds
 * is in use. */
static int lock_and_record(env_op *op)
{
	int rc = arca_env__lock(&op->lock_fd, op->area_fd, op->info.name, 0);
	if (rc == ARCA_ELOCKED)
		return arca_err_set(ARCA_EEXISTS, "env %s exists already (another arca call is "
			"working on it)", op->info.name);
	if (!rc && (rc = arca_store__env_put(op->s, &op->info, 1)) != 0) {
		arca_env__unlock(op->lock_fd, op->area_fd, op->info.name);
		op->lock_fd = -1;
	}
	return rc;
}

/* The `creating` record, under its name or, when that default one is
 * taken, a fresh default one. */
static int create_record(env_op *op, int given, const char *art_name)
{
	int rc = arca_env__area_open(&op->area_fd, op->s, 1);
	if (!rc)
		rc = lock_and_record(op);
	for (int tries = 0; rc == ARCA_EEXISTS && !given && tries < 8; tries++) {
		free(op->info.name);
		op->info.name = NULL;
		if ((rc = default_name(&op->info.name, art_name)) != 0)
			return rc;
		rc = lock_and_record(op);
	}
	if (!rc) {
		free(op->info.dir);
		op->info.dir = NULL;
		rc = op_ctx(op);
	}
	return rc;
}

/* The record being made borrows the caller's labels and settings. */
static void forget_borrowed(env_op *op)
{
	op->info.labels = NULL;
	op->info.nlabels = 0;
	op->info.settings = NULL;
	op->info.nsettings = 0;
}

/* The create succeeded: the record goes `active` with what the backend
 * chose added to the settings ("k=v" lines of ctx.chosen). */
static int commit_created(env_op *op)
{
	char **all, **had = op->info.settings;
	size_t n = op->info.nsettings, had_n = n, extra = 0;
	int rc;

	op->chosen[sizeof(op->chosen) - 1] = '\0';
	for (const char *c = op->chosen; *c; c++)
		extra += *c == '\n';
	if (!extra)
		return commit(op, ARCA_ENV_ACTIVE);
	if (!(all = calloc(n + extra + 1, sizeof(*all))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	memcpy(all, had, n * sizeof(*all));
	for (char *line = op->chosen, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if (strchr(line, '='))
			all[n++] = line;
	}
	op->info.settings = all;
	op->info.nsettings = n;
	rc = commit(op, ARCA_ENV_ACTIVE);
	op->info.settings = had; /* the caller's, as forget_borrowed expects */
	op->info.nsettings = had_n;
	free(all);
	return rc;
}

static int do_create(env_op *op, const char *ref, const arca_env_create_options *o)
{
	arca_artifact *art = NULL;
	size_t ns = 0;
	int rc;

	if ((rc = arca_resolve(&op->info.source, op->s, ref)) != 0 ||
	    (rc = arca_artifact_lookup(&art, op->s, &op->info.source)) != 0)
		return rc;
	op->info.current = op->info.source;
	op->info.kind = art->kind;
	op->info.created_ns = now_ns();
	op->info.state = ARCA_ENV_CREATING;
	op->info.labels = (arca_label *)o->labels;
	op->info.nlabels = o->labels ? o->nlabels : 0;
	while (o->settings && o->settings[ns])
		ns++;
	op->info.settings = (char **)o->settings;
	op->info.nsettings = ns;
	if (o->custom) {
		op->b = o->custom;
	} else {
		op->own_b = 1;
		if ((rc = arca_env_backend_builtin(&op->b, o->backend ? o->backend : "dir")) != 0)
			goto done;
	}
	if ((rc = check_backend(op->b)) != 0)
		goto done;
	if (!(op->info.backend = strdup(op->b->name))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	if (o->name && (rc = arca_store__check_word("env name", o->name, ARCA_NAME_MAX, 0)) != 0)
		goto done;
	if (o->name ? !(op->info.name = strdup(o->name)) : 0) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	if (!o->name && (rc = default_name(&op->info.name, art->name)) != 0)
		goto done;
	/* one value a key: a record (and its JSON) never holds two */
	for (size_t i = 0; i < op->info.nlabels; i++)
		for (size_t k = 0; k < i; k++)
			if (op->info.labels[i].key && op->info.labels[k].key &&
			    !strcmp(op->info.labels[i].key, op->info.labels[k].key)) {
				rc = arca_err_set(ARCA_EINVAL, "label %.128s given twice",
					op->info.labels[i].key);
				goto done;
			}
	/* the record's own checks (labels, settings) before anything is made */
	{
		arca_buf tmp = ARCA_BUF_INIT(ARCA_ENV_REC_MAX);
		rc = arca_store__env_encode(&tmp, &op->info);
		arca_buf_release(&tmp);
		if (rc)
			goto done;
	}
	if ((rc = op_ctx(op)) != 0)
		goto done;
	if (o->version >= 2) {
		op->ctx.progress_cb = o->progress_cb;
		op->ctx.progress_payload = o->progress_payload;
	}
	if (op->b->check && (rc = backend_fail(op, op->b->check(op->b, &op->ctx), "check")) != 0)
		goto done;
	if ((rc = create_record(op, o->name != NULL, art->name)) != 0)
		goto done;
	rc = make_dir(op);
	if (!rc)
		rc = backend_fail(op, op->b->create(op->b, &op->ctx), "create");
	if (!rc) {
		rc = commit_created(op);
	} else {
		char msg[ARCA_ENV_ERROR_MAX + 1];
		int rc2;
		snprintf(msg, sizeof(msg), "%s", arca_error_last());
		if (op->b->destroy)
			op->b->destroy(op->b, &op->ctx);
		remove_files(op->area_fd, op->info.name);
		op->info.error = msg;
		rc2 = commit(op, ARCA_ENV_FAILED);
		op->info.error = NULL;
		arca_err_set(rc, "%s", msg);
		(void)rc2;
	}
done:
	arca_artifact_free(art);
	return rc;
}

int arca_env_create(arca_store *s, const char *ref, const arca_env_create_options *opts,
		char **name_out)
{
	arca_env_create_options def = ARCA_ENV_CREATE_OPTIONS_INIT;
	env_op op;
	int rc;

	if (name_out)
		*name_out = NULL;
	if (!s || !ref)
		return arca_err_set(ARCA_EINVAL, "arca_env_create: NULL argument");
	if (opts && (rc = arca__check_version("arca_env_create_options", opts->version,
			ARCA_ENV_CREATE_OPTIONS_VERSION)) != 0)
		return rc;
	op_init(&op, s);
	rc = do_create(&op, ref, opts ? opts : &def);
	if (!rc && name_out && !(*name_out = strdup(op.info.name)))
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
	forget_borrowed(&op);
	if (!op.own_b)
		op.b = NULL; /* the caller's */
	op.info.version = 1; /* what it holds now is ours */
	op_close(&op);
	return rc;
}

/* ---- reading ---- */

static int fill_info(arca_env_info *e, arca_store *s)
{
	arca_env_backend *b = NULL;
	env_op op;
	int rc;

	if ((rc = env_dir(&e->dir, s, e->name)) != 0)
		return rc;
	if (arca_env_backend_builtin(&b, e->backend) != 0 || check_backend(b) != 0) {
		if (b && b->free)
			b->free(b);
		return 0; /* no backend here: no capabilities */
	}
	op_init(&op, s);
	op.info = *e;
	op.b = b;
	rc = op_ctx(&op);
	e->capabilities = op.info.capabilities;
	free(op.settings);
	if (b->free)
		b->free(b);
	return rc;
}

static int do_remove(env_op *op);

/* Env `name` was left `creating` (or `destroyed`, when `removes`) by a
 * process that died, if its lock is free: the create ends `failed` with
 * its files removed (the rm is finished). Else, or when that cannot be
 * done, the record stays as it is. */
static void finish_interrupted(arca_store *s, const char *name, int removes)
{
	char msg[1024];
	env_op op;

	snprintf(msg, sizeof(msg), "%s", arca_error_last());
	if (op_open(&op, s, name, OP_RECOVER) != 0)
		goto out;
	if (op.info.state == ARCA_ENV_CREATING) {
		/* as in rm: a directory not its own goes before the backend */
		if ((own_dir(&op) == 0 || remove_files(op.area_fd, name) == 0) && op.b &&
		    op.b->destroy)
			op.b->destroy(op.b, &op.ctx);
		if (remove_files(op.area_fd, name) == 0) {
			op.info.error = strdup("create interrupted (its process died); its files "
				"were removed");
			commit(&op, ARCA_ENV_FAILED);
		}
	} else if (removes && op.info.state == ARCA_ENV_DESTROYED) {
		do_remove(&op);
	}
	op_close(&op);
out:
	arca_err_set(ARCA_ERROR, "%s", msg); /* a read leaves the last error alone */
}

static int interrupted(arca_env_state_t st)
{
	return st == ARCA_ENV_CREATING || st == ARCA_ENV_DESTROYED;
}

int arca_env_lookup(arca_env_info **out, arca_store *s, const char *name)
{
	arca_env_info *e;
	int rc;

	if (!out || !s)
		return arca_err_set(ARCA_EINVAL, "arca_env_lookup: NULL argument");
	*out = NULL;
	if (!(e = calloc(1, sizeof(*e))))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	rc = arca_store__env_get(e, s, name);
	if (!rc && interrupted(e->state)) {
		arca_store__env_info_clear(e);
		finish_interrupted(s, name, 1);
		rc = arca_store__env_get(e, s, name);
	}
	if (rc || (rc = fill_info(e, s)) != 0) {
		arca_env_info_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

typedef struct {
	arca_store *s;
	arca_env_cb cb;
	void *payload;
	char **left;             /* names of interrupted envs */
	size_t nleft;
} each_job;

static int each_one(arca_env_info *e, void *ctx)
{
	each_job *j = ctx;
	int rc = fill_info(e, j->s);
	return rc ? rc : j->cb(e, j->payload);
}

static int each_left(arca_env_info *e, void *ctx)
{
	each_job *j = ctx;
	char **v;
	if (!interrupted(e->state))
		return 0;
	if (!(v = realloc(j->left, (j->nleft + 1) * sizeof(*v))) ||
	    !(v[j->nleft] = strdup(e->name))) {
		if (v)
			j->left = v;
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	j->left = v;
	j->nleft++;
	return 0;
}

int arca_env_foreach(arca_store *s, arca_env_cb cb, void *payload)
{
	each_job j = { s, cb, payload, NULL, 0 };
	int rc;
	if (!s || !cb)
		return arca_err_set(ARCA_EINVAL, "arca_env_foreach: NULL argument");
	/* what dead processes left is finished first (outside the read) */
	rc = arca_store__env_each(s, each_left, &j);
	for (size_t i = 0; i < j.nleft; i++) {
		if (!rc)
			finish_interrupted(s, j.left[i], 1);
		free(j.left[i]);
	}
	free(j.left);
	return rc ? rc : arca_store__env_each(s, each_one, &j);
}

/* ---- operations ---- */

int arca_env_exec(arca_store *s, const char *name, const arca_env_exec_options *opts,
		int *status)
{
	env_op op;
	int rc, st = -1;

	if (!opts || !status || !opts->argv || !opts->argv[0])
		return arca_err_set(ARCA_EINVAL, "arca_env_exec: no command");
	if ((rc = arca__check_version("arca_env_exec_options", opts->version,
			ARCA_ENV_EXEC_OPTIONS_VERSION)) != 0)
		return rc;
	if ((rc = op_open(&op, s, name, OP_SHARED)) != 0)
		return rc;
	if ((rc = own_dir(&op)) == 0 && (rc = need_state(&op, ARCA_ENV_ACTIVE)) == 0 && !op.b->exec)
		rc = arca_err_set(ARCA_ENOTSUP, "env %s: the %s backend cannot exec", name,
			op.info.backend);
	if (!rc)
		rc = backend_fail(&op, op.b->exec(op.b, &op.ctx, opts, &st), "exec");
	if (!rc)
		*status = st;
	op_close(&op);
	return rc;
}

int arca_env_snapshot(arca_store *s, const char *name, const arca_snapshot_options *o,
		arca_id *out)
{
	arca_snapshot_options so;
	char parent[ARCA_ID_STRLEN], *snap_name = NULL;
	env_op op;
	arca_id id;
	int rc;

	if (o && (rc = arca__check_version("arca_snapshot_options", o->version,
			ARCA_SNAPSHOT_OPTIONS_VERSION)) != 0)
		return rc;
	if ((rc = op_open(&op, s, name, OP_EXCL)) != 0)
		return rc;
	if ((rc = own_dir(&op)) != 0 || (rc = need_state(&op, ARCA_ENV_ACTIVE)) != 0 ||
	    (rc = need_cap(&op, ARCA_ENV_CAP_SNAPSHOT, (const void *)op.b->snapshot,
			"snapshot")) != 0)
		goto done;
	arca_snapshot_options_init(&so, ARCA_SNAPSHOT_OPTIONS_VERSION);
	if (o) {
		so.name = o->name;
		so.tag = o->tag;
		so.labels = o->labels;
		so.nlabels = o->nlabels;
		so.on_warning = o->on_warning;
		so.warning_payload = o->warning_payload;
		if (o->version >= 2) {
			so.progress_cb = o->progress_cb;
			so.progress_payload = o->progress_payload;
		}
	}
	/* a tag without a name: the name of the artifact the env is at, else
	 * the env's own */
	if (so.tag && !so.name) {
		arca_artifact *a = NULL;
		if (arca_artifact_lookup(&a, s, &op.info.current) == 0 && a->name &&
		    (snap_name = strdup(a->name)) == NULL) {
			arca_artifact_free(a);
			rc = arca_err_set(ARCA_ENOMEM, "out of memory");
			goto done;
		}
		arca_artifact_free(a);
		so.name = snap_name ? snap_name : op.info.name;
	}
	/* the env's history: always its current artifact */
	arca_id_format(parent, &op.info.current);
	so.parent = parent;
	so.kind = op.info.kind;
	if ((rc = backend_fail(&op, op.b->snapshot(op.b, &op.ctx, &so, &id), "snapshot")) != 0)
		goto done;
	op.info.current = id;
	if ((rc = commit(&op, ARCA_ENV_ACTIVE)) == 0 && out)
		*out = id;
done:
	free(snap_name);
	op_close(&op);
	return rc;
}

int arca_env_reset(arca_store *s, const char *name, const char *ref)
{
	return arca_env_reset_ext(s, name, ref, NULL);
}

int arca_env_reset_ext(arca_store *s, const char *name, const char *ref,
		const arca_env_reset_options *opts)
{
	arca_artifact *art = NULL;
	env_op op;
	arca_id to;
	int rc;

	if (opts && (rc = arca__check_version("arca_env_reset_options", opts->version,
			ARCA_ENV_RESET_OPTIONS_VERSION)) != 0)
		return rc;
	if ((rc = op_open(&op, s, name, OP_EXCL)) != 0)
		return rc;
	if (opts) {
		op.ctx.progress_cb = opts->progress_cb;
		op.ctx.progress_payload = opts->progress_payload;
	}
	if ((rc = own_dir(&op)) != 0 || (rc = need_state(&op, ARCA_ENV_ACTIVE)) != 0 ||
	    (rc = need_cap(&op, ARCA_ENV_CAP_ROLLBACK, (const void *)op.b->rollback,
			"reset in place")) != 0)
		goto done;
	to = op.info.source;
	if (ref && (rc = arca_resolve(&to, s, ref)) != 0)
		goto done;
	if ((rc = arca_artifact_lookup(&art, s, &to)) != 0)
		goto done;
	if (art->kind != op.info.kind) {
		rc = arca_err_set(ARCA_EINVAL, "env %s holds a %s; %s is a %s", name,
			arca_kind_name(op.info.kind), ref ? ref : "its source", arca_kind_name(art->kind));
		goto done;
	}
	if ((rc = backend_fail(&op, op.b->rollback(op.b, &op.ctx, &to), "reset")) != 0)
		goto done;
	op.info.current = to;
	rc = commit(&op, ARCA_ENV_ACTIVE);
done:
	arca_artifact_free(art);
	op_close(&op);
	return rc;
}

int arca_env_diff(arca_store *s, const char *name, arca_diff_entry_cb on_entry,
		arca_diff_range_cb on_range, void *payload, arca_diff_stats *stats)
{
	env_op op;
	int rc;

	if ((rc = op_open(&op, s, name, OP_SHARED)) != 0)
		return rc;
	if ((rc = own_dir(&op)) != 0)
		;
	else if (op.info.state != ARCA_ENV_PAUSED && (rc = need_state(&op, ARCA_ENV_ACTIVE)) != 0)
		;
	else if (!op.b)
		rc = arca_err_set(op.b_rc, "env %s: %s", name, op.b_msg);
	else if (!op.b->diff)
		rc = arca_err_set(ARCA_ENOTSUP, "env %s: the %s backend cannot diff", name,
			op.info.backend);
	else
		rc = backend_fail(&op, op.b->diff(op.b, &op.ctx, on_entry, on_range, payload, stats),
			"diff");
	op_close(&op);
	return rc;
}

static int pause_resume(arca_store *s, const char *name, int pause)
{
	env_op op;
	int rc;

	if ((rc = op_open(&op, s, name, OP_EXCL)) != 0)
		return rc;
	/* no pause: ENOTSUP whatever the state */
	if ((rc = own_dir(&op)) != 0)
		goto done;
	if (!op.b) {
		rc = arca_err_set(op.b_rc, "env %s: %s", name, op.b_msg);
		goto done;
	}
	if ((rc = need_cap(&op, ARCA_ENV_CAP_PAUSE,
			pause ? (const void *)op.b->pause : (const void *)op.b->resume,
			pause ? "pause" : "resume")) != 0 ||
	    (rc = need_state(&op, pause ? ARCA_ENV_ACTIVE : ARCA_ENV_PAUSED)) != 0)
		goto done;
	rc = pause ? op.b->pause(op.b, &op.ctx) : op.b->resume(op.b, &op.ctx);
	if ((rc = backend_fail(&op, rc, pause ? "pause" : "resume")) == 0)
		rc = commit(&op, pause ? ARCA_ENV_PAUSED : ARCA_ENV_ACTIVE);
done:
	op_close(&op);
	return rc;
}

int arca_env_pause(arca_store *s, const char *name)
{
	return pause_resume(s, name, 1);
}

int arca_env_resume(arca_store *s, const char *name)
{
	return pause_resume(s, name, 0);
}

/* rm under the lock: stop it, its files, then its record. */
static int do_remove(env_op *op)
{
	const char *name = op->info.name;
	int rc = 0;

	/* what runs must be stopped by its backend; a record that never got
	 * to run (or whose backend already stopped it) needs none */
	if (!op->b && (op->info.state == ARCA_ENV_ACTIVE || op->info.state == ARCA_ENV_PAUSED))
		return arca_err_set(op->b_rc, "env %s: cannot stop it without its backend: %s", name,
			op->b_msg);
	if (op->info.state != ARCA_ENV_DESTROYED && (rc = commit(op, ARCA_ENV_DESTROYED)) != 0)
		return rc;
	/* a backend follows its directory: one that is not the env's own (a
	 * symlink) goes first, so that what it points to is never reached */
	if (own_dir(op) != 0 && (rc = remove_files(op->area_fd, name)) != 0)
		return rc;
	if (op->b && op->b->destroy &&
	    (rc = backend_fail(op, op->b->destroy(op->b, &op->ctx), "destroy")) != 0)
		return rc;
	if ((rc = remove_files(op->area_fd, name)) == 0)
		rc = arca_store__env_delete(op->s, name);
	return rc;
}

int arca_env_remove(arca_store *s, const char *name)
{
	env_op op;
	int rc;

	if ((rc = op_open(&op, s, name, OP_EXCL)) != 0)
		return rc;
	rc = do_remove(&op);
	op_close(&op);
	return rc;
}
