/* Environments (include/arca/env.h) on the dir backend and a custom one:
 * lifecycle, capabilities, failures, crash leftovers, repair. */
#include "helpers.h"
#include "arca/env.h"
#include "store/envs.h"
#include "store/journal.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	if (!strcmp(e->name, "crashed"))
		assert_int_equal(e->state, ARCA_ENV_CREATING);
	(*n)++;
	return 0;
}

static void crashed_create_is_listed_and_removable(void **state)
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
	arca_store_free(f->s);
	f->s = th_store_open(f->storedir);

	ok(arca_env_lookup(&info, f->s, "crashed"));
	assert_int_equal(info->state, ARCA_ENV_CREATING);
	ok(arca_env_foreach(f->s, count_env, &n));
	assert_int_equal(n, 1);
	ok(arca_env_remove(f->s, "crashed"));
	assert_false(exists(info->dir));
	arca_env_info_free(info);
	n = 0;
	ok(arca_env_foreach(f->s, count_env, &n));
	assert_int_equal(n, 0);
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
		cmocka_unit_test_setup_teardown(crashed_create_is_listed_and_removable, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(repair_rebuilds_env_records, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(env_records_survive_a_checkpoint_and_repair, th_setup,
			th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
