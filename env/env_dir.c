/*
 * The dir backend: a tree artifact becomes the directory ENV/root, an
 * image artifact the sparse file ENV/disk.img; snapshot, reset and diff
 * are arca_snapshot, arca_rollback and arca_diff of that path, and exec
 * runs a command with the root as working directory (in a process group
 * of its own when it has a timeout). Nothing runs between execs, so there
 * is no pause.
 */
#include "env/backends.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int live_path(arca_buf *p, const arca_env_ctx *e)
{
	return arca_buf_setf(p, "%s/%s", e->dir, e->kind == ARCA_KIND_IMAGE ? "disk.img" : "root");
}

/* The live path is the env's own: a directory (tree) or regular file
 * (image) on the mount of the env's directory, never a symlink followed
 * out of it. Missing is for the operation to report. */
static int live_check(const arca_env_ctx *e)
{
	arca_buf p = ARCA_BUF_INIT(PATH_MAX);
	arca_mount_id dm, lm;
	struct stat dst, st;
	int rc, want_dir = e->kind != ARCA_KIND_IMAGE;

	if ((rc = live_path(&p, e)) != 0)
		goto done;
	if (arca_lstat_mnt(AT_FDCWD, arca_buf_cstr(&p), &st, &lm) < 0) {
		rc = errno == ENOENT ? 0 : arca_err_sys("env %s: stat %s", e->name, arca_buf_cstr(&p));
		goto done;
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		rc = arca_err_set(ARCA_EUNSAFE, "env %s: %s is not a %s (%s); not followed", e->name,
			arca_buf_cstr(&p), want_dir ? "directory" : "regular file",
			S_ISLNK(st.st_mode) ? "a symlink" : "another type");
		goto done;
	}
	if (arca_lstat_mnt(AT_FDCWD, e->dir, &dst, &dm) < 0) {
		rc = arca_err_sys("env %s: stat %s", e->name, e->dir);
		goto done;
	}
	if (!arca_mount_same(&dm, &lm))
		rc = arca_err_set(ARCA_EUNSAFE, "env %s: %s is another mount; not followed", e->name,
			arca_buf_cstr(&p));
done:
	arca_buf_release(&p);
	return rc;
}

static unsigned dir_capabilities(arca_env_backend *b, const arca_env_ctx *e)
{
	(void)b;
	(void)e;
	return ARCA_ENV_CAP_SNAPSHOT | ARCA_ENV_CAP_ROLLBACK | ARCA_ENV_CAP_STREAM;
}

/* The value of setting `key` ("key=value"), or NULL. */
static const char *setting(const arca_env_ctx *e, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; e->settings && e->settings[i]; i++)
		if (!strncmp(e->settings[i], key, kl) && e->settings[i][kl] == '=')
			return e->settings[i] + kl + 1;
	return NULL;
}

static int dir_check(arca_env_backend *b, const arca_env_ctx *e)
{
	(void)b;
	for (size_t i = 0; e->settings && e->settings[i]; i++)
		if (strncmp(e->settings[i], "bwrap=", 6) != 0 || !e->settings[i][6])
			return arca_err_set(ARCA_EINVAL, "the dir backend takes only the setting "
				"bwrap=PATH ('%.200s')", e->settings[i]);
	return 0;
}

static int dir_create(arca_env_backend *b, arca_env_ctx *e)
{
	arca_buf p = ARCA_BUF_INIT(PATH_MAX);
	char id[ARCA_ID_STRLEN];
	int rc;
	(void)b;
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	arca_env__restore_progress(e, &ro);
	arca_id_format(id, e->artifact);
	if ((rc = live_path(&p, e)) == 0)
		rc = arca_restore(e->store, id, arca_buf_cstr(&p), &ro, NULL);
	arca_buf_release(&p);
	return rc;
}

static int dir_state(arca_env_backend *b, arca_env_ctx *e, arca_env_state_t *out)
{
	arca_buf p = ARCA_BUF_INIT(PATH_MAX);
	struct stat st;
	int rc;
	(void)b;
	if ((rc = live_path(&p, e)) == 0)
		*out = lstat(arca_buf_cstr(&p), &st) == 0 ? ARCA_ENV_ACTIVE : ARCA_ENV_FAILED;
	arca_buf_release(&p);
	return rc;
}

static int dir_snapshot(arca_env_backend *b, arca_env_ctx *e, const arca_snapshot_options *o,
		arca_id *out)
{
	arca_buf p = ARCA_BUF_INIT(PATH_MAX);
	int rc;
	(void)b;
	if ((rc = live_check(e)) == 0 && (rc = live_path(&p, e)) == 0)
		rc = arca_snapshot(out, e->store, arca_buf_cstr(&p), o, NULL);
	arca_buf_release(&p);
	return rc;
}

static int dir_rollback(arca_env_backend *b, arca_env_ctx *e, const arca_id *to)
{
	arca_buf p = ARCA_BUF_INIT(PATH_MAX);
	arca_rollback_options o = ARCA_ROLLBACK_OPTIONS_INIT;
	char id[ARCA_ID_STRLEN];
	int rc;
	(void)b;
	char cur[ARCA_ID_STRLEN];
	/* a disk keeps the blocks its guest wrote: a reset only zeroes them */
	o.keep_allocation = 1;
	/* what the tree was made from: files the quick check cannot tell
	 * apart between the two get compared */
	if (e->artifact) {
		arca_id_format(cur, e->artifact);
		o.baseline = cur;
	}
	arca_env__rollback_progress(e, &o);
	arca_id_format(id, to);
	if ((rc = live_check(e)) == 0 && (rc = live_path(&p, e)) == 0)
		rc = arca_rollback(e->store, id, arca_buf_cstr(&p), &o, NULL);
	arca_buf_release(&p);
	return rc;
}

static int dir_diff(arca_env_backend *b, arca_env_ctx *e, arca_diff_entry_cb on_entry,
		arca_diff_range_cb on_range, void *payload, arca_diff_stats *stats)
{
	arca_buf p = ARCA_BUF_INIT(PATH_MAX);
	char id[ARCA_ID_STRLEN];
	int rc;
	(void)b;
	arca_id_format(id, e->artifact);
	if ((rc = live_check(e)) == 0 && (rc = live_path(&p, e)) == 0)
		rc = arca_diff(e->store, id, NULL, arca_buf_cstr(&p), on_entry, on_range, payload,
			stats);
	arca_buf_release(&p);
	return rc;
}

/* ---- exec ---- */

/* 1 when real path `p` is `base` or below it. */
static int below(const char *p, const char *base)
{
	size_t bl = strlen(base);
	if (bl == 1 && base[0] == '/')
		return p[0] == '/';
	return strncmp(p, base, bl) == 0 && (p[bl] == '\0' || p[bl] == '/');
}

/* The working directory: `cwd` (taken relative to the root, a leading
 * '/' too) resolved, and still inside the root after symlinks; *fd is it
 * opened, checked again once open (a symlink swapped in after the check
 * is not followed: the child goes there by fchdir). */
static int work_dir(arca_buf *out, int *fd, const arca_env_ctx *e, const char *cwd)
{
	arca_buf base = ARCA_BUF_INIT(PATH_MAX), want = ARCA_BUF_INIT(PATH_MAX);
	char rbase[PATH_MAX], rwant[PATH_MAX];
	char link[64], now[PATH_MAX];
	ssize_t n;
	int rc;

	*fd = -1;
	if ((rc = live_check(e)) != 0)
		return rc;
	rc = e->kind == ARCA_KIND_IMAGE ? arca_buf_setf(&base, "%s", e->dir) : live_path(&base, e);
	if (rc)
		goto done;
	if (!realpath(arca_buf_cstr(&base), rbase)) {
		rc = arca_err_sys("env %s: %s", e->name, arca_buf_cstr(&base));
		goto done;
	}
	while (cwd && *cwd == '/')
		cwd++;
	if (!cwd || !*cwd) {
		snprintf(rwant, sizeof(rwant), "%s", rbase);
	} else {
		if ((rc = arca_buf_setf(&want, "%s/%s", rbase, cwd)) != 0)
			goto done;
		if (!realpath(arca_buf_cstr(&want), rwant)) {
			rc = arca_err_sys("env %s: working directory %s", e->name, cwd);
			goto done;
		}
	}
	if (!below(rwant, rbase))
		goto outside;
	if ((*fd = open(rwant, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = arca_err_sys("env %s: working directory %s", e->name, cwd ? cwd : "/");
		goto done;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", *fd);
	if ((n = readlink(link, now, sizeof(now) - 1)) > 0) {
		now[n] = '\0';
		if (!below(now, rbase))
			goto outside;
	}
	rc = arca_buf_setf(out, "%s", rwant);
	goto done;
outside:
	rc = arca_err_set(ARCA_EUNSAFE, "env %s: working directory %s is outside the env",
		e->name, cwd ? cwd : "/");
done:
	if (rc && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	arca_buf_release(&base);
	arca_buf_release(&want);
	return rc;
}

/* environ with `add` ("K=V") on top: a K of both is add's. */
static char **child_env(const char *const *add)
{
	size_t n = 0, na = 0, k = 0;
	char **v;
	while (environ && environ[n])
		n++;
	while (add && add[na])
		na++;
	if (!(v = calloc(n + na + 1, sizeof(*v))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t kl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int shadowed = 0;
		for (size_t j = 0; j < na && !shadowed; j++)
			shadowed = !strncmp(add[j], environ[i], kl) && add[j][kl] == '=';
		if (!shadowed)
			v[k++] = environ[i];
	}
	for (size_t j = 0; j < na; j++)
		v[k++] = (char *)add[j];
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: only async-signal-safe calls; the errno of a failure
 * goes back through `errfd` (close-on-exec: nothing comes on success).
 * With a timeout it leads a process group of its own, so that all of it
 * can be killed; without one it stays in the caller's, so a terminal's
 * job control (reading it, ^C) reaches it as it reaches the caller. */
static void child(int wd, const arca_env_exec_options *o, const char *const *argv,
		char **envp, int errfd)
{
	int err, in = o->stdin_fd;
	sigset_t none;
	if (o->timeout_s)
		setpgid(0, 0);
	if (fchdir(wd) < 0) /* first: a dup2 below may reuse its number */
		goto fail;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (in < 0 && (in = open("/dev/null", O_RDONLY)) < 0)
		goto fail;
	if ((in != 0 && dup2(in, 0) < 0) || (o->stdout_fd != 1 && dup2(o->stdout_fd, 1) < 0) ||
	    (o->stderr_fd != 2 && dup2(o->stderr_fd, 2) < 0))
		goto fail;
	signal(SIGPIPE, SIG_DFL);
	execvpe(argv[0], (char *const *)argv, envp);
fail:
	err = errno;
	if (write(errfd, &err, sizeof(err)) < 0)
		_exit(127);
	_exit(127);
}

/* bwrap's argv for running o->argv inside the tree at `root` (real path),
 * in directory `wd` (a real path below it): the tree is /, with its own
 * /proc and /dev, every namespace unshared (the network too unless
 * o->net), a clean environment plus o->envp. Strings it makes go to
 * `owned` (NULL-terminated), freed by the caller with the vector. */
static int bwrap_argv(const arca_env_ctx *e, const arca_env_exec_options *o, const char *root,
		const char *wd, const char ***out, char ***owned)
{
	static const char *const head[] = { "--bind", NULL, "/", "--proc", "/proc", "--dev",
		"/dev", "--unshare-all", "--die-with-parent", "--clearenv", "--setenv", "PATH",
		"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--setenv", "HOME",
		"/root" };
	const char *bw = setting(e, "bwrap");
	const char *guest = wd + strlen(root);
	size_t na = 0, ne = 0, k = 0, nh = sizeof(head) / sizeof(head[0]);
	const char **v;
	char **own;

	while (o->argv[na])
		na++;
	while (o->envp && o->envp[ne])
		ne++;
	v = calloc(1 + nh + 1 + 3 * ne + 2 + 1 + na + 1, sizeof(*v));
	own = calloc(2 * ne + 1, sizeof(*own));
	if (!v || !own) {
		free(v);
		free(own);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	v[k++] = bw ? bw : "bwrap";
	for (size_t i = 0; i < nh; i++)
		v[k++] = head[i] ? head[i] : root;
	if (o->net)
		v[k++] = "--share-net";
	for (size_t i = 0; i < ne; i++) {
		const char *eq = strchr(o->envp[i], '=');
		if (!(own[2 * i] = strndup(o->envp[i], (size_t)(eq - o->envp[i]))) ||
		    !(own[2 * i + 1] = strdup(eq + 1))) {
			for (size_t j = 0; j <= 2 * i + 1; j++)
				free(own[j]);
			free(own);
			free(v);
			return arca_err_set(ARCA_ENOMEM, "out of memory");
		}
		v[k++] = "--setenv";
		v[k++] = own[2 * i];
		v[k++] = own[2 * i + 1];
	}
	v[k++] = "--chdir";
	v[k++] = *guest ? guest : "/";
	v[k++] = "--";
	for (size_t i = 0; i < na; i++)
		v[k++] = o->argv[i];
	*out = v;
	*owned = own;
	return 0;
}

static int dir_exec(arca_env_backend *b, arca_env_ctx *e, const arca_env_exec_options *o,
		int *status)
{
	arca_buf wd = ARCA_BUF_INIT(PATH_MAX), root = ARCA_BUF_INIT(PATH_MAX);
	const char *const *argv = o->argv;
	const char **bargv = NULL;
	char rroot[PATH_MAX]; /* bargv points into it */
	char **envp = NULL, **owned = NULL;
	int p[2] = { -1, -1 }, rc, ws = 0, err = 0, wfd = -1;
	int64_t deadline;
	pid_t pid, w;
	ssize_t n;
	(void)b;

	if ((rc = work_dir(&wd, &wfd, e, o->cwd)) != 0)
		goto done;
	for (size_t i = 0; o->envp && o->envp[i]; i++)
		if (!strchr(o->envp[i], '=') || o->envp[i][0] == '=') {
			rc = arca_err_set(ARCA_EINVAL, "environment entry '%.200s' is not K=V", o->envp[i]);
			goto done;
		}
	if (o->isolate) {
		if (e->kind != ARCA_KIND_TREE) {
			rc = arca_err_set(ARCA_EINVAL, "env %s: isolation needs a tree (a root file "
				"system), not an image", e->name);
			goto done;
		}
		if ((rc = live_path(&root, e)) != 0)
			goto done;
		if (!realpath(arca_buf_cstr(&root), rroot)) {
			rc = arca_err_sys("env %s: %s", e->name, arca_buf_cstr(&root));
			goto done;
		}
		if ((rc = bwrap_argv(e, o, rroot, arca_buf_cstr(&wd), &bargv, &owned)) != 0)
			goto done;
		argv = bargv;
	}
	if (!(envp = child_env(o->isolate ? NULL : o->envp))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		rc = arca_err_sys("pipe");
		goto done;
	}
	if ((pid = fork()) < 0) {
		rc = arca_err_sys("fork");
		goto done;
	}
	if (pid == 0)
		child(wfd, o, argv, envp, p[1]);
	if (o->timeout_s)
		setpgid(pid, pid); /* also here: no race with the kill below */
	close(p[1]);
	p[1] = -1;
	do
		n = read(p[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	deadline = o->timeout_s ? mono_ms() + (int64_t)o->timeout_s * 1000 : 0;
	for (;;) {
		w = waitpid(pid, &ws, deadline ? WNOHANG : 0);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = arca_err_sys("wait for %s", o->argv[0]);
			goto done;
		}
		if (deadline && mono_ms() >= deadline) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
				;
			*status = 124;
			goto done;
		}
		if (deadline) {
			struct timespec ts = { 0, 10 * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	if (n == (ssize_t)sizeof(err)) {
		errno = err;
		rc = arca_err_sys("env %s: run %s%s", e->name, argv[0], o->isolate && err == ENOENT ?
			" (isolation needs bubblewrap: the Debian package bubblewrap)" : "");
		goto done;
	}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 1;
done:
	if (wfd >= 0)
		close(wfd);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	free(envp);
	for (size_t i = 0; owned && owned[i]; i++)
		free(owned[i]);
	free(owned);
	free(bargv);
	arca_buf_release(&wd);
	arca_buf_release(&root);
	return rc;
}

static void dir_free(arca_env_backend *b)
{
	free(b);
}

int arca_env__dir_new(arca_env_backend **out)
{
	arca_env_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	b->version = ARCA_ENV_BACKEND_VERSION;
	b->name = "dir";
	b->capabilities = dir_capabilities;
	b->check = dir_check;
	b->create = dir_create;
	b->state = dir_state;
	b->exec = dir_exec;
	b->snapshot = dir_snapshot;
	b->rollback = dir_rollback;
	b->diff = dir_diff;
	b->free = dir_free;
	*out = b;
	return 0;
}
