/* Environments (include/arca/env.h) on the dir backend and a custom one:
 * lifecycle, capabilities, failures, crash leftovers, repair. */
#include "helpers.h"
#include "arca/env.h"
#include "store/envs.h"
#include "store/journal.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void make_tree(const char *dir)
{
	char p[4096];
	th_write_file(th_path(dir, "hello.txt"), "hello\n", 6);
	th_write_random(th_path(dir, "blob"), 200000, 7);
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	th_write_file(th_path(p, "inner"), "inner\n", 6);
}

/* asserts success, saying why not */
#define ok(x) do { \
	int rc_ = (x); \
	if (rc_) \
		print_error("%s: %s\n", #x, arca_error_last()); \
	assert_int_equal(rc_, 0); \
} while (0)

static int exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* Runs argv in env `name`, output through pipes into out/err. */
static int run(arca_store *s, const char *name, const char *const *argv, unsigned timeout,
		char *out, size_t on, char *err, size_t en, int *status)
{
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;
	int po[2], pe[2], rc;
	ssize_t n;
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	o.argv = argv;
	o.timeout_s = timeout;
	o.stdout_fd = po[1];
	o.stderr_fd = pe[1];
	rc = arca_env_exec(s, name, &o, status);
	close(po[1]);
	close(pe[1]);
	n = read(po[0], out, on - 1);
	out[n > 0 ? n : 0] = '\0';
	n = read(pe[0], err, en - 1);
	err[n > 0 ? n : 0] = '\0';
	close(po[0]);
	close(pe[0]);
	return rc;
}

static int sh(arca_store *s, const char *name, const char *script, int *status)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	char out[256], err[256];
	return run(s, name, argv, 0, out, sizeof(out), err, sizeof(err), status);
}

typedef struct {
	int entries;
	int saw_hello;
	uint64_t ranges;
} diff_seen;

static int on_entry(const arca_diff_entry *e, void *payload)
{
	diff_seen *d = payload;
	d->entries++;
	if (!strcmp(e->path, "hello.txt") && e->kind == ARCA_DIFF_MODIFIED)
		d->saw_hello = 1;
	return 0;
}

static int on_range(uint64_t off, uint64_t len, void *payload)
{
	(void)off;
	(void)len;
	((diff_seen *)payload)->ranges++;
	return 0;
}

static void dir_env_full_lifecycle(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_label labels[] = { { "team", "core" } };
	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	const char *echo[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	char out[256], err[256], p[4096];
	arca_env_info *info = NULL;
	arca_artifact *art = NULL;
	diff_seen d = { 0, 0, 0 };
	arca_id src, snap;
	char *name = NULL;
	int status = -1;

	make_tree(f->src);
	src = th_snapshot(f->s, f->src, "web/app", NULL, NULL);
	co.labels = labels;
	co.nlabels = 1;
	ok(arca_env_create(f->s, "web/app", &co, &name));
	assert_non_null(name);
	assert_int_equal(strncmp(name, "app-", 4), 0);
	assert_int_equal(strlen(name), 10);

	ok(arca_env_lookup(&info, f->s, name));
	assert_int_equal(info->state, ARCA_ENV_ACTIVE);
	assert_string_equal(info->backend, "dir");
	assert_int_equal(info->kind, ARCA_KIND_TREE);
	assert_memory_equal(info->source.bytes, src.bytes, 32);
	assert_memory_equal(info->current.bytes, src.bytes, 32);
	assert_int_equal(info->nlabels, 1);
	assert_string_equal(info->labels[0].value, "core");
	assert_null(info->error);
	assert_int_equal(info->capabilities, ARCA_ENV_CAP_SNAPSHOT | ARCA_ENV_CAP_ROLLBACK |
		ARCA_ENV_CAP_STREAM);
	snprintf(p, sizeof(p), "%s/root", info->dir);
	assert_int_equal(th_tree_equal(f->src, p, err, sizeof(err)), 0);

	/* exec: its exit status, stdout and stderr apart */
	assert_int_equal(run(f->s, name, echo, 0, out, sizeof(out), err, sizeof(err), &status), 0);
	assert_int_equal(status, 3);
	assert_string_equal(out, "out\n");
	assert_string_equal(err, "err\n");
	/* it runs in the root */
	assert_int_equal(sh(f->s, name, "test -f hello.txt && test -d sub", &status), 0);
	assert_int_equal(status, 0);

	/* a change made through exec shows in the diff */
	assert_int_equal(sh(f->s, name, "echo changed > hello.txt", &status), 0);
	assert_int_equal(status, 0);
	ok(arca_env_diff(f->s, name, on_entry, on_range, &d, NULL));
	assert_int_equal(d.entries, 1);
	assert_true(d.saw_hello);

	/* snapshot: parent is the source, the env moves to it */
	so.name = "web/app-snap";
	ok(arca_env_snapshot(f->s, name, &so, &snap));
	assert_int_equal(arca_artifact_lookup(&art, f->s, &snap), 0);
	assert_true(art->has_parent);
	assert_memory_equal(art->parent.bytes, src.bytes, 32);
	arca_artifact_free(art);
	arca_env_info_free(info);
	ok(arca_env_lookup(&info, f->s, name));
	assert_memory_equal(info->current.bytes, snap.bytes, 32);
	assert_memory_equal(info->source.bytes, src.bytes, 32);
	d.entries = 0;
	ok(arca_env_diff(f->s, name, on_entry, on_range, &d, NULL));
	assert_int_equal(d.entries, 0);

	/* reset to the source: the change is gone */
	ok(arca_env_reset(f->s, name, NULL));
	assert_int_equal(th_tree_equal(f->src, p, err, sizeof(err)), 0);
	arca_env_info_free(info);
	ok(arca_env_lookup(&info, f->s, name));
	assert_memory_equal(info->current.bytes, src.bytes, 32);

	/* reset to the snapshot: it is back */
	ok(arca_env_reset(f->s, name, "web/app-snap"));
	assert_int_equal(sh(f->s, name, "grep -qx changed hello.txt", &status), 0);
	assert_int_equal(status, 0);
	arca_env_info_free(info);
	ok(arca_env_lookup(&info, f->s, name));
	assert_memory_equal(info->current.bytes, snap.bytes, 32);

	/* rm: files and record gone */
	ok(arca_env_remove(f->s, name));
	assert_false(exists(info->dir));
	arca_env_info_free(info);
	info = NULL;
	assert_int_equal(arca_env_lookup(&info, f->s, name), ARCA_ENOTFOUND);
	assert_int_equal(arca_env_remove(f->s, name), ARCA_ENOTFOUND);
	free(name);
}

static void image_env_snapshot_and_reset(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	char img[4096], disk[4096];
	arca_env_info *info = NULL;
	arca_artifact *art = NULL;
	diff_seen d = { 0, 0, 0 };
	arca_id src, snap;
	int status;

	snprintf(img, sizeof(img), "%s/disk.img", f->tmp);
	th_write_random(img, 1u << 20, 3);
	src = th_snapshot(f->s, img, "vm", NULL, NULL);
	co.name = "vm1";
	ok(arca_env_create(f->s, "vm", &co, NULL));
	ok(arca_env_lookup(&info, f->s, "vm1"));
	assert_int_equal(info->kind, ARCA_KIND_IMAGE);
	snprintf(disk, sizeof(disk), "%s/disk.img", info->dir);
	assert_int_equal(th_file_equal(img, disk), 0);
	/* exec runs in the env's directory */
	assert_int_equal(sh(f->s, "vm1", "test -f disk.img", &status), 0);
	assert_int_equal(status, 0);

	th_pwrite_random(disk, 4096, 4096, 11);
	ok(arca_env_diff(f->s, "vm1", on_entry, on_range, &d, NULL));
	assert_true(d.ranges >= 1);
	ok(arca_env_snapshot(f->s, "vm1", NULL, &snap));
	assert_int_equal(arca_artifact_lookup(&art, f->s, &snap), 0);
	assert_memory_equal(art->parent.bytes, src.bytes, 32);
	assert_int_equal(art->kind, ARCA_KIND_IMAGE);
	arca_artifact_free(art);

	ok(arca_env_reset(f->s, "vm1", NULL));
	assert_int_equal(th_file_equal(img, disk), 0);
	/* a tree is not an image */
	th_write_file(th_path(f->src, "a"), "a", 1);
	th_snapshot(f->s, f->src, "tree", NULL, NULL);
	assert_int_equal(arca_env_reset(f->s, "vm1", "tree"), ARCA_EINVAL);
	ok(arca_env_remove(f->s, "vm1"));
	assert_false(exists(disk));
	arca_env_info_free(info);
}

static void pause_is_not_supported_by_dir(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;

	th_write_file(th_path(f->src, "a"), "a", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "p";
	ok(arca_env_create(f->s, "t", &co, NULL));
	assert_int_equal(arca_env_pause(f->s, "p"), ARCA_ENOTSUP);
	assert_int_equal(arca_env_resume(f->s, "p"), ARCA_ENOTSUP);
	/* a second env of the same name is refused */
	assert_int_equal(arca_env_create(f->s, "t", &co, NULL), ARCA_EEXISTS);
	co.name = "../x";
	assert_int_equal(arca_env_create(f->s, "t", &co, NULL), ARCA_EINVAL);
	co.name = "q";
	co.backend = "nope";
	assert_int_equal(arca_env_create(f->s, "t", &co, NULL), ARCA_ENOTFOUND);
	co.backend = "smolvm";
	assert_int_equal(arca_env_create(f->s, "t", &co, NULL) < 0, 1);
}

static void exec_timeout_gives_124_and_bad_cwd_is_refused(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;
	const char *slow[] = { "sh", "-c", "sleep 30", NULL };
	const char *pwd[] = { "sh", "-c", "pwd; echo $ARCA_T", NULL };
	const char *env_add[] = { "ARCA_T=yes", NULL };
	char out[4096], err[256], want[4096];
	arca_env_info *info = NULL;
	int status = -1, po[2];
	ssize_t n;

	make_tree(f->src);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "slow";
	ok(arca_env_create(f->s, "t", &co, NULL));
	assert_int_equal(run(f->s, "slow", slow, 1, out, sizeof(out), err, sizeof(err), &status), 0);
	assert_int_equal(status, 124);
	/* the whole group goes: a child left holding stdout would block run()'s read */
	{
		const char *bg[] = { "sh", "-c", "sleep 30 & sleep 30", NULL };
		time_t t0 = time(NULL);
		assert_int_equal(run(f->s, "slow", bg, 1, out, sizeof(out), err, sizeof(err), &status),
			0);
		assert_int_equal(status, 124);
		assert_true(time(NULL) - t0 < 10);
	}

	/* cwd inside the root, envp added */
	assert_int_equal(pipe(po), 0);
	o.argv = pwd;
	o.envp = env_add;
	o.cwd = "/sub";
	o.stdout_fd = po[1];
	ok(arca_env_exec(f->s, "slow", &o, &status));
	close(po[1]);
	n = read(po[0], out, sizeof(out) - 1);
	close(po[0]);
	out[n > 0 ? n : 0] = '\0';
	assert_int_equal(status, 0);
	ok(arca_env_lookup(&info, f->s, "slow"));
	{
		char real[4096];
		snprintf(real, sizeof(real), "%s/root/sub", info->dir);
		assert_non_null(realpath(real, want));
		strncat(want, "\nyes\n", sizeof(want) - strlen(want) - 1);
	}
	assert_string_equal(out, want);
	o.stdout_fd = 1;
	o.cwd = "../..";
	assert_int_equal(arca_env_exec(f->s, "slow", &o, &status), ARCA_EUNSAFE);
	o.cwd = "nowhere";
	assert_int_equal(arca_env_exec(f->s, "slow", &o, &status), ARCA_ENOTFOUND);
	/* a command that cannot start is an error, not a status */
	{
		const char *none[] = { "arca-no-such-command", NULL };
		o.argv = none;
		o.cwd = NULL;
		assert_int_equal(arca_env_exec(f->s, "slow", &o, &status), ARCA_ENOTFOUND);
	}
	/* killed by a signal: 128 + its number */
	{
		const char *kill9[] = { "sh", "-c", "kill -9 $$", NULL };
		assert_int_equal(run(f->s, "slow", kill9, 0, out, sizeof(out), err, sizeof(err),
			&status), 0);
		assert_int_equal(status, 137);
	}
	arca_env_info_free(info);
}

/* A backend whose create makes a file in the env and then fails. */
static unsigned bad_caps(arca_env_backend *b, const arca_env_ctx *e)
{
	(void)b;
	(void)e;
	return 0;
}

/* ---- exec --isolate (bubblewrap) ---- */

static int run_isolated(arca_store *s, const char *name, const char *script,
		const char *const *envp, int net, char *out, size_t on, int *status)
{
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;
	const char *argv[] = { "sh", "-c", script, NULL };
	int po[2], rc;
	ssize_t n, got = 0;
	assert_int_equal(pipe(po), 0);
	o.argv = argv;
	o.envp = envp;
	o.isolate = 1;
	o.net = net;
	o.stdout_fd = po[1];
	rc = arca_env_exec(s, name, &o, status);
	close(po[1]);
	while ((n = read(po[0], out + got, on - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(po[0]);
	return rc;
}

/* A root file system made of the host's sh and cat and their libraries:
 * inside the sandbox it is /, its files are the env's, the host's
 * environment and network stay out. */
static void isolated_exec_runs_inside_the_tree(void **state)
{
	th_fixture *f = *state;
	char root[4096], cmd[8192], out[4096], p[4096];
	const char *envp[] = { "X=42", NULL };
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_info *info = NULL;
	arca_id id;
	int st = -1;

	if (system("command -v bwrap >/dev/null 2>&1") != 0) {
		print_message("skipped: no bwrap (apt-get install bubblewrap)\n");
		skip();
	}
	snprintf(root, sizeof(root), "%s/rootfs", f->tmp);
	snprintf(cmd, sizeof(cmd),
		"set -e; R='%s'; mkdir -p $R/bin $R/proc $R/dev $R/etc $R/tmp; "
		"for b in sh cat; do p=$(command -v $b); cp -L $p $R/bin/; "
		"for l in $(ldd $p | grep -o '/[^ ]*'); do mkdir -p $R$(dirname $l); cp -L $l $R$l; done; done; "
		"echo inside > $R/etc/marker", root);
	assert_int_equal(system(cmd), 0);
	id = th_snapshot(f->s, root, "rootfs", NULL, NULL);
	(void)id;
	co.name = "iso";
	ok(arca_env_create(f->s, "rootfs", &co, NULL));

	ok(run_isolated(f->s, "iso", "cat /etc/marker", NULL, 0, out, sizeof(out), &st));
	assert_int_equal(st, 0);
	assert_string_equal(out, "inside\n");
	/* a clean environment: the host's variables stay out, -e ones come in */
	setenv("ARCA_TEST_LEAK", "leaked", 1);
	ok(run_isolated(f->s, "iso", "echo ${ARCA_TEST_LEAK:-none} $X $HOME", envp, 0, out,
		sizeof(out), &st));
	unsetenv("ARCA_TEST_LEAK");
	assert_string_equal(out, "none 42 /root\n");
	/* what it writes at / lands in the env's tree */
	ok(run_isolated(f->s, "iso", "echo new > /made; exit 3", NULL, 0, out, sizeof(out), &st));
	assert_int_equal(st, 3);
	ok(arca_env_lookup(&info, f->s, "iso"));
	snprintf(p, sizeof(p), "%s/root/made", info->dir);
	assert_true(exists(p));
	arca_env_info_free(info);
	/* no network but loopback unless asked */
	{
		/* /proc/net/dev: two header lines, then one per interface */
		int host_ifaces = system("[ $(wc -l < /proc/net/dev) -gt 3 ]") == 0;
		size_t lines = 0;
		ok(run_isolated(f->s, "iso", "cat /proc/net/dev", NULL, 0, out, sizeof(out), &st));
		for (const char *c = out; *c; c++)
			lines += *c == '\n';
		assert_int_equal(lines, 3);
		assert_non_null(strstr(out, "lo:"));
		ok(run_isolated(f->s, "iso", "cat /proc/net/dev", NULL, 1, out, sizeof(out), &st));
		lines = 0;
		for (const char *c = out; *c; c++)
			lines += *c == '\n';
		if (host_ifaces)
			assert_true(lines > 3); /* the host's interfaces */
	}
	ok(arca_env_remove(f->s, "iso"));
}

static void isolated_exec_of_an_image_is_refused(void **state)
{
	th_fixture *f = *state;
	char img[4096], out[64];
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	int st;
	snprintf(img, sizeof(img), "%s/disk.img", f->tmp);
	th_write_random(img, 100000, 3);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	co.name = "img";
	ok(arca_env_create(f->s, "disk", &co, NULL));
	assert_int_equal(run_isolated(f->s, "img", "true", NULL, 0, out, sizeof(out), &st),
		ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "isolation needs a tree"));
	ok(arca_env_remove(f->s, "img"));
}

static int bad_create(arca_env_backend *b, arca_env_ctx *e)
{
	char p[4096];
	(void)b;
	snprintf(p, sizeof(p), "%s/half-made", e->dir);
	th_write_file(p, "x", 1);
	snprintf(e->detail, e->detail_cap, "the disk exploded");
	return arca_err_set(ARCA_EIO, "boot failed");
}

static void failed_create_leaves_failed_record_and_no_files(void **state)
{
	th_fixture *f = *state;
	arca_env_backend bad;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_info *info = NULL;
	int status;

	memset(&bad, 0, sizeof(bad));
	bad.version = ARCA_ENV_BACKEND_VERSION;
	bad.name = "bad";
	bad.capabilities = bad_caps;
	bad.create = bad_create;
	th_write_file(th_path(f->src, "a"), "a", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "broken";
	co.custom = &bad;
	assert_int_equal(arca_env_create(f->s, "t", &co, NULL), ARCA_EIO);
	assert_non_null(strstr(arca_error_last(), "boot failed"));
	ok(arca_env_lookup(&info, f->s, "broken"));
	assert_int_equal(info->state, ARCA_ENV_FAILED);
	assert_string_equal(info->backend, "bad");
	assert_non_null(info->error);
	assert_non_null(strstr(info->error, "boot failed"));
	assert_non_null(strstr(info->error, "the disk exploded"));
	assert_false(exists(info->dir));
	assert_int_equal(sh(f->s, "broken", "true", &status), ARCA_EINVAL);
	ok(arca_env_remove(f->s, "broken"));
	arca_env_info_free(info);
	info = NULL;
	assert_int_equal(arca_env_lookup(&info, f->s, "broken"), ARCA_ENOTFOUND);
}

static int count_env(const arca_env_info *e, void *payload)
{
	int *n = payload;
	/* a create that crashed is finished as it is met: never `creating` */
	if (!strcmp(e->name, "crashed")) {
		assert_int_equal(e->state, ARCA_ENV_FAILED);
		assert_non_null(strstr(e->error, "create interrupted"));
	}
	(*n)++;
	return 0;
}

/* Entries of `dir` but . and .. (-1: none there); the first one's name. */
static int entries(const char *dir, char *first, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int k = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && k++ == 0 && first)
			snprintf(first, n, "%s", de->d_name);
	closedir(d);
	return k;
}

/* STORE/envs holds nothing of env `name`: no directory, no lock. */
static void no_files_of(const char *storedir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/envs/%s", storedir, name);
	assert_false(exists(p));
	snprintf(p, sizeof(p), "%s/envs/.locks/%s", storedir, name);
	assert_false(exists(p));
}

static void crashed_create_ends_failed_without_files(void **state)
{
	th_fixture *f = *state;
	arca_env_info rec, *info = NULL;
	char p[4096];
	arca_id id;
	int n = 0;

	th_write_file(th_path(f->src, "a"), "a", 1);
	id = th_snapshot(f->s, f->src, "t", NULL, NULL);
	memset(&rec, 0, sizeof(rec));
	rec.version = ARCA_ENV_INFO_VERSION;
	rec.name = "crashed";
	rec.backend = "dir";
	rec.state = ARCA_ENV_CREATING;
	rec.kind = ARCA_KIND_TREE;
	rec.source = rec.current = id;
	rec.created_ns = 1;
	assert_int_equal(arca_store__env_put(f->s, &rec, 1), 0);
	snprintf(p, sizeof(p), "%s/envs/crashed/root", f->storedir);
	assert_int_equal(arca_mkdir_p(p, 0755), 0);
	th_write_file(th_path(p, "partial"), "p", 1);
	/* the lock file its process left (the lock went with the process) */
	snprintf(p, sizeof(p), "%s/envs/.locks", f->storedir);
	assert_int_equal(arca_mkdir_p(p, 0700), 0);
	th_write_file(th_path(p, "crashed"), "", 0);
	arca_store_free(f->s);
	f->s = th_store_open(f->storedir);

	ok(arca_env_foreach(f->s, count_env, &n));
	assert_int_equal(n, 1);
	ok(arca_env_lookup(&info, f->s, "crashed"));
	assert_int_equal(info->state, ARCA_ENV_FAILED);
	assert_false(exists(info->dir));
	no_files_of(f->storedir, "crashed");
	ok(arca_env_remove(f->s, "crashed"));
	arca_env_info_free(info);
	n = 0;
	ok(arca_env_foreach(f->s, count_env, &n));
	assert_int_equal(n, 0);
}

/* An rm that died after committing `destroyed`: the next call finishes it. */
static void crashed_rm_is_finished(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_info *info = NULL;
	int n = 0;

	th_write_file(th_path(f->src, "a"), "a", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "half-gone";
	ok(arca_env_create(f->s, "t", &co, NULL));
	ok(arca_env_lookup(&info, f->s, "half-gone"));
	info->state = ARCA_ENV_DESTROYED;
	assert_int_equal(arca_store__env_put(f->s, info, 0), 0);
	ok(arca_env_foreach(f->s, count_env, &n));
	assert_int_equal(n, 0);
	assert_false(exists(info->dir));
	no_files_of(f->storedir, "half-gone");
	arca_env_info_free(info);
	info = NULL;
	assert_int_equal(arca_env_lookup(&info, f->s, "half-gone"), ARCA_ENOTFOUND);
}

/* ---- crashes and other processes ---- */

/* A tree of a few files and one of 2 MiB, or an image of 4 MiB. */
static const char *kill_source(th_fixture *f, int image)
{
	static char p[4096];
	if (image) {
		snprintf(p, sizeof(p), "%s/big.img", f->tmp);
		th_write_random(p, 4u << 20, 21);
		th_snapshot(f->s, p, "big", NULL, NULL);
	} else {
		make_tree(f->src);
		th_write_random(th_path(f->src, "big"), 2u << 20, 22);
		for (int i = 0; i < 20; i++) {
			char n[32];
			snprintf(n, sizeof(n), "f%02d", i);
			th_write_random(th_path(f->src, n), 5000 + (size_t)i, (uint64_t)i);
		}
		th_snapshot(f->s, f->src, "big", NULL, NULL);
	}
	return "big";
}

/* SIGKILL (a fault point raising it) in the middle of a create: between
 * the commit of its `creating` record and that of `active`, with files
 * half restored. The next call finds it `failed`, its files gone. */
static void sigkill_during_create(th_fixture *f, int image)
{
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	const char *names[4096];
	unsigned first = 0, last = 0, count;
	arca_env_info *info = NULL;
	char p[4096];
	int status, n = 0;
	pid_t pid;

	kill_source(f, image);
	/* where the points of one create fall */
	co.name = "dry";
	arca_fault_trace(names, 4096);
	arca_fault_arm(0, 0);
	ok(arca_env_create(f->s, "big", &co, NULL));
	count = arca_fault_count();
	arca_fault_disarm();
	arca_fault_trace(NULL, 0);
	assert_true(count < 4096);
	for (unsigned i = 0; i < count; i++)
		if (!strcmp(names[i], "commit")) {
			if (!first)
				first = i + 1;
			last = i + 1;
		}
	assert_true(last > first + 4);
	ok(arca_env_remove(f->s, "dry"));

	arca_store_free(f->s);
	f->s = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s;
		if (arca_store_open(&s, f->storedir, NULL) != 0)
			_exit(2);
		co.name = "victim";
		arca_fault_arm(first + (last - first) / 2, ARCA_FAULT_KILL);
		arca_env_create(s, "big", &co, NULL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	f->s = th_store_open(f->storedir);
	/* it died with files half made */
	snprintf(p, sizeof(p), "%s/envs/victim", f->storedir);
	assert_true(exists(p));

	ok(arca_env_lookup(&info, f->s, "victim"));
	assert_int_equal(info->state, ARCA_ENV_FAILED);
	assert_non_null(info->error);
	assert_non_null(strstr(info->error, "create interrupted"));
	no_files_of(f->storedir, "victim");
	/* nothing else was left in the env area either */
	snprintf(p, sizeof(p), "%s/envs", f->storedir);
	assert_int_equal(entries(p, NULL, 0), 1); /* .locks */
	snprintf(p, sizeof(p), "%s/envs/.locks", f->storedir);
	assert_int_equal(entries(p, NULL, 0), 0);
	ok(arca_env_foreach(f->s, count_env, &n));
	assert_int_equal(n, 1);
	ok(arca_env_remove(f->s, "victim"));
	arca_env_info_free(info);
	info = NULL;
	/* and the name makes a good env again */
	co.name = "victim";
	ok(arca_env_create(f->s, "big", &co, NULL));
	ok(arca_env_lookup(&info, f->s, "victim"));
	assert_int_equal(info->state, ARCA_ENV_ACTIVE);
	arca_env_info_free(info);
}

static void sigkill_during_create_of_a_tree(void **state)
{
	sigkill_during_create(*state, 0);
}

static void sigkill_during_create_of_an_image(void **state)
{
	sigkill_during_create(*state, 1);
}

/* A backend that restores through the dir backend, then says so on
 * `ready` and waits for a byte on `go`: a create that is held alive. */
static int held_ready = -1, held_go = -1;

static unsigned held_caps(arca_env_backend *b, const arca_env_ctx *e)
{
	(void)b;
	(void)e;
	return ARCA_ENV_CAP_SNAPSHOT | ARCA_ENV_CAP_ROLLBACK;
}

static int held_create(arca_env_backend *b, arca_env_ctx *e)
{
	arca_env_backend *dir = NULL;
	char c = 0;
	int rc;
	(void)b;
	if ((rc = arca_env_backend_builtin(&dir, "dir")) != 0)
		return rc;
	rc = dir->create(dir, e);
	dir->free(dir);
	if (write(held_ready, "r", 1) != 1 || read(held_go, &c, 1) != 1)
		return arca_err_set(ARCA_EIO, "held: pipe");
	return rc;
}

/* Starts a child that creates env `name` and holds it `creating`. */
static pid_t start_held_create(th_fixture *f, const char *name, int *go_w)
{
	int ready[2], go[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
		arca_env_backend held;
		arca_store *s;
		close(ready[0]);
		close(go[1]);
		held_ready = ready[1];
		held_go = go[0];
		memset(&held, 0, sizeof(held));
		held.version = ARCA_ENV_BACKEND_VERSION;
		held.name = "dir"; /* later calls find the built-in one */
		held.capabilities = held_caps;
		held.create = held_create;
		if (arca_store_open(&s, f->storedir, NULL) != 0)
			_exit(2);
		co.name = name;
		co.custom = &held;
		_exit(arca_env_create(s, "t", &co, NULL) == 0 ? 0 : 3);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*go_w = go[1];
	return pid;
}

static int count_creating(const arca_env_info *e, void *payload)
{
	if (e->state == ARCA_ENV_CREATING)
		(*(int *)payload)++;
	return 0;
}

/* A create that runs in another process is not a crashed one: nothing
 * touches it, and the name is taken. */
static void live_create_in_another_process_is_left_alone(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_info *info = NULL;
	char p[4096];
	int go, status, n = 0;
	pid_t pid;

	make_tree(f->src);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;
	pid = start_held_create(f, "live", &go);
	f->s = th_store_open(f->storedir);

	ok(arca_env_lookup(&info, f->s, "live"));
	assert_int_equal(info->state, ARCA_ENV_CREATING);
	snprintf(p, sizeof(p), "%s/root/hello.txt", info->dir);
	ok(arca_env_foreach(f->s, count_creating, &n));
	assert_int_equal(n, 1);
	assert_int_equal(arca_env_remove(f->s, "live"), ARCA_ELOCKED);
	assert_int_equal(arca_env_reset(f->s, "live", NULL), ARCA_ELOCKED);
	assert_int_equal(sh(f->s, "live", "true", &status), ARCA_ELOCKED);
	co.name = "live";
	assert_int_equal(arca_env_create(f->s, "t", &co, NULL), ARCA_EEXISTS);
	assert_true(exists(p));
	arca_env_info_free(info);
	info = NULL;

	assert_int_equal(write(go, "g", 1), 1);
	close(go);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ok(arca_env_lookup(&info, f->s, "live"));
	assert_int_equal(info->state, ARCA_ENV_ACTIVE);
	assert_true(exists(p));
	ok(sh(f->s, "live", "test -f hello.txt", &status));
	assert_int_equal(status, 0);
	ok(arca_env_remove(f->s, "live"));
	no_files_of(f->storedir, "live");
	arca_env_info_free(info);
}

/* rm, reset and snapshot while an exec runs are refused (the exec and
 * its files stay); another exec and a diff run beside it. */
static void changes_during_an_exec_are_refused(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_info *info = NULL;
	char started[4096];
	int status;
	pid_t pid;

	make_tree(f->src);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "busy";
	ok(arca_env_create(f->s, "t", &co, NULL));
	ok(arca_env_lookup(&info, f->s, "busy"));
	snprintf(started, sizeof(started), "%s/root/started", info->dir);
	arca_store_free(f->s);
	f->s = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s;
		int st;
		if (arca_store_open(&s, f->storedir, NULL) != 0)
			_exit(2);
		_exit(sh(s, "busy", "touch started; sleep 3; test -f hello.txt", &st) == 0 ? st : 9);
	}
	f->s = th_store_open(f->storedir);
	for (int i = 0; i < 1000 && !exists(started); i++)
		usleep(10000);
	assert_true(exists(started));
	assert_int_equal(arca_env_remove(f->s, "busy"), ARCA_ELOCKED);
	assert_non_null(strstr(arca_error_last(), "busy"));
	assert_int_equal(arca_env_reset(f->s, "busy", NULL), ARCA_ELOCKED);
	assert_int_equal(arca_env_snapshot(f->s, "busy", NULL, NULL), ARCA_ELOCKED);
	ok(sh(f->s, "busy", "test -f started", &status));
	assert_int_equal(status, 0);
	ok(arca_env_diff(f->s, "busy", NULL, NULL, NULL, NULL));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ok(arca_env_reset(f->s, "busy", NULL));
	assert_false(exists(started));
	ok(arca_env_remove(f->s, "busy"));
	no_files_of(f->storedir, "busy");
	arca_env_info_free(info);
}

/* Two processes reset one env over and over to two artifacts: each call
 * runs whole or is refused, and the env's tree is what its record says. */
static void concurrent_resets_do_not_mix(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_info *info = NULL;
	char a[4096], b[4096], root[4096], why[256], c[4096];
	arca_id ida, idb;
	pid_t pids[2];
	int status;

	snprintf(a, sizeof(a), "%s/a", f->tmp);
	snprintf(b, sizeof(b), "%s/b", f->tmp);
	assert_int_equal(mkdir(a, 0755), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	for (int i = 0; i < 30; i++) {
		char n[32];
		snprintf(n, sizeof(n), "f%02d", i);
		th_write_random(th_path(a, n), 20000, (uint64_t)i);
		/* sizes apart from a's: rollback skips a file of equal size and mtime */
		th_write_random(th_path(b, n), 20001, (uint64_t)i + 100);
	}
	ida = th_snapshot(f->s, a, "a", NULL, NULL);
	idb = th_snapshot(f->s, b, "b", NULL, NULL);
	co.name = "twice";
	ok(arca_env_create(f->s, "a", &co, NULL));
	arca_store_free(f->s);
	f->s = NULL;
	for (int k = 0; k < 2; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			arca_store *s;
			if (arca_store_open(&s, f->storedir, NULL) != 0)
				_exit(2);
			for (int i = 0; i < 15; i++) {
				int rc = arca_env_reset(s, "twice", (i + k) % 2 ? "a" : "b");
				if (rc && rc != ARCA_ELOCKED)
					_exit(3);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	f->s = th_store_open(f->storedir);
	ok(arca_env_lookup(&info, f->s, "twice"));
	snprintf(root, sizeof(root), "%s/root", info->dir);
	snprintf(c, sizeof(c), "%s", !memcmp(info->current.bytes, ida.bytes, 32) ? a : b);
	assert_true(!memcmp(info->current.bytes, ida.bytes, 32) ||
		!memcmp(info->current.bytes, idb.bytes, 32));
	if (th_tree_equal(c, root, why, sizeof(why)) != 0)
		fail_msg("tree is not its record's: %s", why);
	arca_env_info_free(info);
}

/* Two creates of one name at once: one env, the other refused. */
static void concurrent_creates_of_one_name(void **state)
{
	th_fixture *f = *state;
	arca_env_info *info = NULL;
	char root[4096], why[256];
	int status, wins = 0, taken = 0;
	pid_t pids[2];

	kill_source(f, 0);
	arca_store_free(f->s);
	f->s = NULL;
	for (int k = 0; k < 2; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
			arca_store *s;
			int rc;
			if (arca_store_open(&s, f->storedir, NULL) != 0)
				_exit(2);
			co.name = "same";
			rc = arca_env_create(s, "big", &co, NULL);
			_exit(rc == 0 ? 0 : rc == ARCA_EEXISTS ? 1 : 3);
		}
	}
	for (int k = 0; k < 2; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		wins += WEXITSTATUS(status) == 0;
		taken += WEXITSTATUS(status) == 1;
	}
	assert_int_equal(wins, 1);
	assert_int_equal(taken, 1);
	f->s = th_store_open(f->storedir);
	ok(arca_env_lookup(&info, f->s, "same"));
	assert_int_equal(info->state, ARCA_ENV_ACTIVE);
	snprintf(root, sizeof(root), "%s/root", info->dir);
	assert_int_equal(th_tree_equal(f->src, root, why, sizeof(why)), 0);
	arca_env_info_free(info);
}

/* ---- hostile names and paths ---- */

static void hostile_env_names_are_refused_before_anything_is_made(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_info *info = NULL;
	char longest[300], too_long[300], p[4096];
	const char *bad[] = { "", ".", "..", "a/b", "../x", "/abs", "-rf", ".hidden", ".locks",
		"tab\there", "nl\nx", "esc\033[0m", "del\177", "sp ace", "a\\b", too_long };
	int n = 0, status;

	memset(longest, 'a', 255);
	longest[255] = '\0';
	memset(too_long, 'b', 256);
	too_long[256] = '\0';
	th_write_file(th_path(f->src, "a"), "a", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		co.name = bad[i];
		assert_int_equal(arca_env_create(f->s, "t", &co, NULL), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "invalid env name"));
		assert_int_equal(arca_env_lookup(&info, f->s, bad[i]), ARCA_EINVAL);
		assert_int_equal(arca_env_remove(f->s, bad[i]), ARCA_EINVAL);
		assert_int_equal(sh(f->s, bad[i], "true", &status), ARCA_EINVAL);
	}
	snprintf(p, sizeof(p), "%s/envs", f->storedir);
	assert_true(entries(p, NULL, 0) <= 0);
	ok(arca_env_foreach(f->s, count_env, &n));
	assert_int_equal(n, 0);
	/* the longest name there is makes a whole env */
	co.name = longest;
	ok(arca_env_create(f->s, "t", &co, NULL));
	ok(sh(f->s, longest, "test -f a", &status));
	assert_int_equal(status, 0);
	ok(arca_env_remove(f->s, longest));
	no_files_of(f->storedir, longest);
}

/* Replaces `path` by a symlink to `to` (what was there moves to path.away). */
static void swap_for_link(const char *path, const char *to)
{
	size_t n = strlen(path) + sizeof(".away");
	char *away = malloc(n);
	assert_non_null(away);
	snprintf(away, n, "%s.away", path);
	assert_int_equal(rename(path, away), 0);
	assert_int_equal(symlink(to, path), 0);
	free(away);
}

/* Every operation meets the symlink, none follows it out of the store;
 * rm removes the link itself. */
static void symlink_attack(th_fixture *f, const char *name, int image, const char *which)
{
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;
	const char *argv[] = { "sh", "-c", "echo pwned > pwned", NULL };
	char out_dir[2048], target[4096], victim[4096], p[4096], img[4096];
	arca_env_info *info = NULL;
	int status = -1;

	snprintf(out_dir, sizeof(out_dir), "%s/outside", f->tmp);
	assert_int_equal(mkdir(out_dir, 0755), 0);
	snprintf(victim, sizeof(victim), "%s/precious", out_dir);
	th_write_file(victim, "keep\n", 5);
	if (image) {
		snprintf(img, sizeof(img), "%s/disk.img", f->tmp);
		th_write_random(img, 100000, 5);
		th_snapshot(f->s, img, "t", NULL, NULL);
	} else {
		th_write_file(th_path(f->src, "a"), "a", 1);
		th_snapshot(f->s, f->src, "t", NULL, NULL);
	}
	co.name = name;
	ok(arca_env_create(f->s, "t", &co, NULL));
	ok(arca_env_lookup(&info, f->s, name));
	if (!strcmp(which, "")) {
		snprintf(p, sizeof(p), "%s", info->dir);
		/* a copy of the env's own layout outside, so following would work */
		snprintf(target, sizeof(target), "%s/%s", out_dir, image ? "disk.img" : "root");
		if (image)
			th_write_file(target, "outside image", 13);
		else
			assert_int_equal(mkdir(target, 0755), 0);
		swap_for_link(p, out_dir);
	} else {
		snprintf(p, sizeof(p), "%s/%s", info->dir, which);
		swap_for_link(p, image ? victim : out_dir);
	}
	o.argv = argv;
	assert_int_equal(arca_env_exec(f->s, name, &o, &status), ARCA_EUNSAFE);
	assert_non_null(strstr(arca_error_last(), "not followed"));
	o.cwd = "/";
	assert_int_equal(arca_env_exec(f->s, name, &o, &status), ARCA_EUNSAFE);
	assert_int_equal(arca_env_reset(f->s, name, NULL), ARCA_EUNSAFE);
	assert_int_equal(arca_env_snapshot(f->s, name, NULL, NULL), ARCA_EUNSAFE);
	assert_int_equal(arca_env_diff(f->s, name, NULL, NULL, NULL, NULL), ARCA_EUNSAFE);
	/* nothing outside was written */
	assert_false(exists(th_path(out_dir, "pwned")));
	assert_int_equal(th_file_equal(victim, victim), 0);
	{
		char buf[16] = { 0 };
		int fd = open(victim, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, buf, sizeof(buf)), 5);
		close(fd);
		assert_string_equal(buf, "keep\n");
	}
	ok(arca_env_remove(f->s, name));
	assert_false(exists(p));
	assert_true(exists(victim));
	no_files_of(f->storedir, name);
	arca_env_info_free(info);
}

static void symlinked_env_dir_is_not_followed(void **state)
{
	symlink_attack(*state, "linked", 0, "");
}

static void symlinked_env_root_is_not_followed(void **state)
{
	symlink_attack(*state, "rootlink", 0, "root");
}

static void symlinked_env_disk_is_not_followed(void **state)
{
	symlink_attack(*state, "disklink", 1, "disk.img");
}

static void symlinked_env_area_is_not_followed(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	char out_dir[4096], area[4096];

	snprintf(out_dir, sizeof(out_dir), "%s/outside", f->tmp);
	assert_int_equal(mkdir(out_dir, 0755), 0);
	snprintf(area, sizeof(area), "%s/envs", f->storedir);
	assert_int_equal(symlink(out_dir, area), 0);
	th_write_file(th_path(f->src, "a"), "a", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "e";
	assert_int_equal(arca_env_create(f->s, "t", &co, NULL), ARCA_EUNSAFE);
	assert_int_equal(entries(out_dir, NULL, 0), 0);
}

/* -w stays inside the env: "..", an absolute path (the env's own), a
 * symlink in the env that points out. */
static void exec_cwd_cannot_leave_the_env(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;
	const char *pwd[] = { "pwd", NULL };
	const char *escapes[] = { "..", "../..", "sub/../..", "/..", "//../../etc", "out",
		"out/x", "sub/up", "dots/../../..", "/proc/self/root" };
	char p[4096], out[4096], real[4096];
	arca_env_info *info = NULL;
	int status = -1, po[2];
	ssize_t n;

	make_tree(f->src);
	assert_int_equal(mkdir(th_path(f->src, "etc"), 0755), 0);
	assert_int_equal(symlink("/etc", th_path(f->src, "out")), 0);
	assert_int_equal(symlink("../..", th_path(f->src, "sub/up")), 0);
	assert_int_equal(mkdir(th_path(f->src, "dots"), 0755), 0);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "cwd";
	ok(arca_env_create(f->s, "t", &co, NULL));
	o.argv = pwd;
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		o.cwd = escapes[i];
		status = -1;
		{
			int rc = arca_env_exec(f->s, "cwd", &o, &status);
			if (rc != ARCA_EUNSAFE && rc != ARCA_ENOTFOUND)
				print_error("-w %s: %d\n", escapes[i], rc);
			assert_true(rc == ARCA_EUNSAFE || rc == ARCA_ENOTFOUND);
			assert_int_equal(status, -1);
		}
	}
	/* "/etc" is the env's etc */
	ok(arca_env_lookup(&info, f->s, "cwd"));
	snprintf(p, sizeof(p), "%s/root/etc", info->dir);
	assert_non_null(realpath(p, real));
	assert_int_equal(pipe(po), 0);
	o.cwd = "/etc";
	o.stdout_fd = po[1];
	ok(arca_env_exec(f->s, "cwd", &o, &status));
	close(po[1]);
	n = read(po[0], out, sizeof(out) - 1);
	close(po[0]);
	out[n > 0 ? n : 0] = '\0';
	strncat(real, "\n", sizeof(real) - strlen(real) - 1);
	assert_string_equal(out, real);
	arca_env_info_free(info);
}

static void repair_rebuilds_env_records(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_label labels[] = { { "k", "v w" } };
	arca_env_info *info = NULL;
	arca_id snap;
	int n = 0;

	make_tree(f->src);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "keep";
	co.labels = labels;
	co.nlabels = 1;
	ok(arca_env_create(f->s, "t", &co, NULL));
	ok(arca_env_snapshot(f->s, "keep", NULL, &snap));
	co.name = "gone";
	ok(arca_env_create(f->s, "t", &co, NULL));
	ok(arca_env_remove(f->s, "gone"));
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(unlink(th_path(f->storedir, "index.lmdb")), 0);
	unlink(th_path(f->storedir, "index.lmdb-lock"));
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	ok(arca_env_lookup(&info, f->s, "keep"));
	assert_int_equal(info->state, ARCA_ENV_ACTIVE);
	assert_memory_equal(info->current.bytes, snap.bytes, 32);
	assert_string_equal(info->labels[0].value, "v w");
	arca_env_info_free(info);
	info = NULL;
	assert_int_equal(arca_env_lookup(&info, f->s, "gone"), ARCA_ENOTFOUND);
	ok(arca_env_foreach(f->s, count_env, &n));
	assert_int_equal(n, 1);
}

/* A checkpoint supersedes the journal before it: it must carry the envs. */
static void env_records_survive_a_checkpoint_and_repair(void **state)
{
	th_fixture *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_env_info *info = NULL;
	arca_cas_writer *w;

	th_write_file(th_path(f->src, "a"), "a", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	co.name = "ck";
	ok(arca_env_create(f->s, "t", &co, NULL));
	assert_int_equal(arca_store__writer_begin(&w, f->s), 0);
	assert_int_equal(arca_store__checkpoint(f->s, w), 0);
	assert_int_equal(arca_cas_writer_commit(w), 0);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(unlink(th_path(f->storedir, "index.lmdb")), 0);
	unlink(th_path(f->storedir, "index.lmdb-lock"));
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	ok(arca_env_lookup(&info, f->s, "ck"));
	assert_int_equal(info->state, ARCA_ENV_ACTIVE);
	arca_env_info_free(info);
}

/* The record codec: one encoding, and nothing else decodes. */
static void record_codec_is_strict(void **state)
{
	arca_env_info e, d;
	arca_label l[] = { { "a/b", "x=y" } };
	char *set[] = { "cpus=2" };
	arca_buf b = ARCA_BUF_INIT(ARCA_ENV_REC_MAX), b2 = ARCA_BUF_INIT(ARCA_ENV_REC_MAX);
	const char *bad[] = {
		"arca-env 2\n",
		"arca-env 1\nname n\n",
		"arca-env 1\nname m\nbackend dir\nstate active\nkind tree\nsource %s\ncurrent %s\n"
		"created 5\n",
		"arca-env 1\nname n\nbackend dir\nstate active\nkind tree\nsource %s\ncurrent %s\n"
		"created 05\n",
		"arca-env 1\nname n\nbackend dir\nstate bored\nkind tree\nsource %s\ncurrent %s\n"
		"created 5\n",
		"arca-env 1\nname n\nbackend dir\nstate active\nkind tree\nsource %s\ncurrent %s\n"
		"created 5\nsetting x=1\nlabel a=b\n",
		"arca-env 1\nname n\nbackend dir\nstate active\nkind tree\nsource %s\ncurrent %s\n"
		"created 5\nerror x\nerror y\n",
		"arca-env 1\nname n\nbackend dir\nstate active\nkind tree\nsource %s\ncurrent %s\n"
		"created 5",
		"arca-env 1\nname n\nbackend dir\nstate active\nkind tree\nsource %s\ncurrent %s\n"
		"created 99999999999999999999\n",
	};
	char hex[65], buf[1024];
	(void)state;

	memset(&e, 0, sizeof(e));
	e.version = ARCA_ENV_INFO_VERSION;
	e.name = "n";
	e.backend = "dir";
	e.state = ARCA_ENV_FAILED;
	e.kind = ARCA_KIND_IMAGE;
	memset(e.source.bytes, 0xab, 32);
	memset(e.current.bytes, 0xcd, 32);
	e.created_ns = 123;
	e.labels = l;
	e.nlabels = 1;
	e.settings = set;
	e.nsettings = 1;
	e.error = "multi\nline";
	assert_int_equal(arca_store__env_encode(&b, &e), 0);
	assert_int_equal(arca_store__env_decode(&d, "n", b.ptr, b.len), 0);
	assert_string_equal(d.error, "multi line");
	assert_string_equal(d.labels[0].key, "a/b");
	assert_string_equal(d.labels[0].value, "x=y");
	assert_string_equal(d.settings[0], "cpus=2");
	assert_int_equal(d.created_ns, 123);
	assert_memory_equal(d.current.bytes, e.current.bytes, 32);
	assert_int_equal(arca_store__env_encode(&b2, &d), 0);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.ptr, b2.ptr, b.len);
	arca_store__env_info_clear(&d);
	/* another name's record */
	assert_int_equal(arca_store__env_decode(&d, "m", b.ptr, b.len), ARCA_ECORRUPT);
	/* a cut record decodes only when it is itself canonical (the optional
	 * lines cut off whole) */
	for (size_t cut = 0; cut < b.len; cut++) {
		if (arca_store__env_decode(&d, "n", b.ptr, cut) != 0)
			continue;
		b2.len = 0;
		assert_int_equal(arca_store__env_encode(&b2, &d), 0);
		assert_int_equal(b2.len, cut);
		assert_memory_equal(b2.ptr, b.ptr, cut);
		arca_store__env_info_clear(&d);
	}
	memset(hex, 'a', 64);
	hex[64] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(buf, sizeof(buf), bad[i], hex, hex);
		assert_int_equal(arca_store__env_decode(&d, "n", buf, (size_t)n), ARCA_ECORRUPT);
	}
	arca_buf_release(&b);
	arca_buf_release(&b2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_codec_is_strict),
		cmocka_unit_test_setup_teardown(dir_env_full_lifecycle, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(image_env_snapshot_and_reset, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(pause_is_not_supported_by_dir, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(isolated_exec_runs_inside_the_tree, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(isolated_exec_of_an_image_is_refused, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(exec_timeout_gives_124_and_bad_cwd_is_refused, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(failed_create_leaves_failed_record_and_no_files, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(crashed_create_ends_failed_without_files, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(crashed_rm_is_finished, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(sigkill_during_create_of_a_tree, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(sigkill_during_create_of_an_image, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(live_create_in_another_process_is_left_alone, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(changes_during_an_exec_are_refused, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(concurrent_resets_do_not_mix, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(concurrent_creates_of_one_name, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(hostile_env_names_are_refused_before_anything_is_made,
			th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(symlinked_env_dir_is_not_followed, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(symlinked_env_root_is_not_followed, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(symlinked_env_disk_is_not_followed, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(symlinked_env_area_is_not_followed, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(exec_cwd_cannot_leave_the_env, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(repair_rebuilds_env_records, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(env_records_survive_a_checkpoint_and_repair, th_setup,
			th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
