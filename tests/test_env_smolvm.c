/* The smolvm env backend through its vtable, against tests/fake_smolvm.py
 * (a FAKE smolvm: the subset of the 0.8.0 and 1.9.3 CLIs the backend
 * uses, over host directories), for both CLI versions; and a smoke test
 * against a real smolvm when one is on PATH. */
#include "helpers.h"
#include "env/backends.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAKE ARCA_TEST_SRC "/fake_smolvm.py"

typedef struct {
	const char *version;  /* of the fake; NULL: the real smolvm */
	char *tmp;
	char envdir[1024], home[1024], log[1024], bin[1100];
	arca_store *s;
	arca_env_backend *b;
	arca_id tree, image;
	char detail[512];
	const char *settings[16];
	arca_env_ctx ctx;
} fx;

static void fx_settings(fx *f, const char *extra)
{
	size_t n = 0;
	f->settings[n++] = f->bin;
	f->settings[n++] = f->version ? "image=alpine" : "image=alpine:latest";
	f->settings[n++] = "cpus=2";
	f->settings[n++] = "mem=512";
	if (extra)
		f->settings[n++] = extra;
	f->settings[n] = NULL;
}

static int fx_setup(void **state, const char *version)
{
	fx *f = calloc(1, sizeof *f);
	f->version = version;
	f->tmp = th_tmpdir();
	snprintf(f->envdir, sizeof f->envdir, "%s/env", f->tmp);
	snprintf(f->home, sizeof f->home, "%s/fake", f->tmp);
	snprintf(f->log, sizeof f->log, "%s/argv.log", f->tmp);
	snprintf(f->bin, sizeof f->bin, "smolvm-bin=%s", version ? FAKE : "smolvm");
	assert_int_equal(mkdir(f->envdir, 0700), 0);
	if (version) {
		setenv("FAKE_SMOLVM_VERSION", version, 1);
		setenv("FAKE_SMOLVM_HOME", f->home, 1);
		setenv("FAKE_SMOLVM_LOG", f->log, 1);
		unsetenv("FAKE_SMOLVM_FAIL_START");
	}
	f->s = th_store_open(th_path(f->tmp, "store"));
	const char *src = th_path(f->tmp, "src");
	assert_int_equal(mkdir(src, 0755), 0);
	th_write_file(th_path(src, "a.txt"), "hello\n", 6);
	assert_int_equal(mkdir(th_path(src, "sub"), 0755), 0);
	th_write_random(th_path(src, "sub/b.bin"), 70000, 1);
	f->tree = th_snapshot(f->s, src, "t", NULL, NULL);
	th_write_random(th_path(f->tmp, "disk.img"), 1 << 20, 2);
	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	so.name = "disk";
	so.kind = ARCA_KIND_IMAGE;
	assert_int_equal(arca_snapshot(&f->image, f->s, th_path(f->tmp, "disk.img"), &so, NULL), 0);
	assert_int_equal(arca_env__smolvm_new(&f->b), 0);
	fx_settings(f, NULL);
	f->ctx = (arca_env_ctx){ ARCA_ENV_CTX_VERSION, f->s, "e1", f->envdir, ARCA_KIND_TREE, &f->tree,
		f->settings, f->detail, sizeof f->detail, NULL, 0, NULL, NULL };
	*state = f;
	return 0;
}

static int setup_v080(void **state) { return fx_setup(state, "0.8.0"); }
static int setup_v193(void **state) { return fx_setup(state, "1.9.3"); }
static int setup_real(void **state) { return fx_setup(state, NULL); }

static int fx_teardown(void **state)
{
	fx *f = *state;
	f->b->free(f->b);
	arca_store_free(f->s);
	th_cleanup(f->tmp);
	free(f);
	return 0;
}

static void image_ctx(fx *f)
{
	f->ctx.kind = ARCA_KIND_IMAGE;
	f->ctx.artifact = &f->image;
}

/* ---- the argv log ---- */

static void log_reset(fx *f)
{
	unlink(f->log);
}

/* One argv as the fake logs it (json.dumps of a list of strings). */
static char *jl(const char *first, ...)
{
	char *out = calloc(1, 8192);
	size_t n = 0;
	va_list ap;
	va_start(ap, first);
	out[n++] = '[';
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		if (n > 1)
			n += (size_t)snprintf(out + n, 8192 - n, ", ");
		out[n++] = '"';
		for (; *a; a++) {
			if (*a == '"' || *a == '\\')
				out[n++] = '\\';
			out[n++] = *a;
		}
		out[n++] = '"';
	}
	va_end(ap);
	out[n++] = ']';
	return out;
}

/* The log equals `want` (NULL-terminated, freed here). */
static void expect_log(fx *f, char **want)
{
	FILE *fp = fopen(f->log, "r");
	char line[8192];
	size_t i = 0;
	assert_non_null(fp);
	while (fgets(line, sizeof line, fp)) {
		line[strcspn(line, "\n")] = 0;
		if (!want[i])
			fail_msg("extra call %zu: %s", i, line);
		if (strcmp(line, want[i]) != 0)
			fail_msg("call %zu:\n got  %s\n want %s", i, line, want[i]);
		free(want[i++]);
	}
	fclose(fp);
	if (want[i])
		fail_msg("missing call %zu: %s", i, want[i]);
}

static const char *vol(fx *f, const char *sub, const char *guest)
{
	static char b[2][2048];
	static int k;
	k ^= 1;
	snprintf(b[k], sizeof b[k], "%s/%s:%s", f->envdir, sub, guest);
	return b[k];
}

#define COPY_IN "rm -rf \"$2\" && mkdir -p \"$2\" && cp -a \"$1\"/. \"$2\"/"

static int v1(fx *f)
{
	return strcmp(f->version, "1.0.2") >= 0;
}

/* ---- helpers ---- */

static void create_ok(fx *f)
{
	if (f->b->create(f->b, &f->ctx) != 0)
		fail_msg("create: %s", arca_error_last());
}

static int run(fx *f, const char *const *argv, unsigned timeout, const char *const *envp,
	char *out, size_t outcap, char *err, size_t errcap)
{
	int po[2], pe[2], status = -1;
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;
	o.argv = argv;
	o.envp = envp;
	o.timeout_s = timeout;
	o.stdout_fd = po[1];
	o.stderr_fd = pe[1];
	int rc = f->b->exec(f->b, &f->ctx, &o, &status);
	close(po[1]);
	close(pe[1]);
	ssize_t n = arca_read_full(po[0], out, outcap - 1);
	out[n > 0 ? n : 0] = 0;
	n = arca_read_full(pe[0], err, errcap - 1);
	err[n > 0 ? n : 0] = 0;
	close(po[0]);
	close(pe[0]);
	if (rc != 0)
		fail_msg("exec: %s", arca_error_last());
	return status;
}

/* What the fake's `machine ls --json` says (trimmed). */
static void fake_ls(fx *f, char *out, size_t cap)
{
	char cmd[2048];
	(void)f;
	snprintf(cmd, sizeof cmd, "FAKE_SMOLVM_LOG= %s machine ls --json", FAKE);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = 0;
	pclose(p);
	while (n > 0 && out[n - 1] == '\n')
		out[--n] = 0;
}

static void fake_data_dir(fx *f, char *out, size_t cap)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "FAKE_SMOLVM_LOG= %s machine data-dir %sarca-e1", FAKE,
		v1(f) ? "-n " : "");
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)cap, p));
	pclose(p);
	out[strcspn(out, "\n")] = 0;
}

static int fake(fx *f, const char *args)
{
	char cmd[2048];
	(void)f;
	snprintf(cmd, sizeof cmd, "FAKE_SMOLVM_LOG= %s %s </dev/null >/dev/null 2>&1", FAKE, args);
	return WEXITSTATUS(system(cmd));
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- tests ---- */

static void test_argv_sequence_of_create_exec_destroy(void **state)
{
	fx *f = *state;
	create_ok(f);
	char *want[] = {
		jl("--version", NULL),
		v1(f) ? jl("machine", "create", "-n", "arca-e1", "--image", "alpine", "--cpus", "2",
				"--mem", "512", "-v", vol(f, "tree", "/mnt/arca:ro"), "-v",
				vol(f, "xfer", "/mnt/arca-xfer"), NULL)
			: jl("machine", "create", "arca-e1", "--image", "alpine", "--cpus", "2",
				"--mem", "512", "-v", vol(f, "tree", "/mnt/arca:ro"), "-v",
				vol(f, "xfer", "/mnt/arca-xfer"), NULL),
		jl("machine", "start", "-n", "arca-e1", NULL),
		jl("machine", "exec", "--name", "arca-e1", "--", "/bin/sh", "-c", COPY_IN, "sh",
			"/mnt/arca", "/arca", NULL),
		NULL };
	expect_log(f, want);

	log_reset(f);
	char out[256], err[256];
	const char *cat[] = { "cat", "/arca/a.txt", NULL };
	assert_int_equal(run(f, cat, 0, NULL, out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "hello\n");
	char *want2[] = {
		jl("--version", NULL),
		jl("machine", "status", "-n", "arca-e1", "--json", NULL),
		jl("machine", "exec", "--name", "arca-e1", "--stream", "--", "cat", "/arca/a.txt", NULL),
		NULL };
	expect_log(f, want2);

	log_reset(f);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
	char *want3[] = {
		jl("--version", NULL),
		jl("machine", "ls", "--json", NULL),
		jl("machine", "stop", "-n", "arca-e1", NULL),
		v1(f) ? jl("machine", "delete", "-n", "arca-e1", "-f", NULL)
			: jl("machine", "delete", "arca-e1", "-f", NULL),
		NULL };
	expect_log(f, want3);
	char ls[256];
	fake_ls(f, ls, sizeof ls);
	assert_string_equal(ls, "[]");
	assert_int_equal(dir_entries(f->envdir), 0);
}

static void test_exec_passes_status_and_output_through(void **state)
{
	fx *f = *state;
	create_ok(f);
	char out[256], err[256];
	const char *sh[] = { "sh", "-c", "echo out; echo err >&2; exit 7", NULL };
	assert_int_equal(run(f, sh, 0, NULL, out, sizeof out, err, sizeof err), 7);
	assert_string_equal(out, "out\n");
	assert_string_equal(err, "err\n");
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void test_exec_environment_stays_out_of_argv(void **state)
{
	fx *f = *state;
	create_ok(f);
	char out[256], err[256], line[8192];
	const char *sh[] = { "sh", "-c", "printf '%s' \"$TOKEN\"", NULL };
	const char *envp[] = { "TOKEN=s3cr3t 'quoted'", NULL };
	log_reset(f);
	assert_int_equal(run(f, sh, 0, envp, out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "s3cr3t 'quoted'");
	FILE *fp = fopen(f->log, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof line, fp))
		assert_null(strstr(line, "s3cr3t"));
	fclose(fp);
	/* the env file is gone */
	assert_int_equal(dir_entries(th_path(f->envdir, "xfer")), 0);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void test_exec_timeout_gives_124(void **state)
{
	fx *f = *state;
	create_ok(f);
	char out[64], err[64];
	const char *sl[] = { "sleep", "10", NULL };
	assert_int_equal(run(f, sl, 1, NULL, out, sizeof out, err, sizeof err), 124);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void test_exec_needs_a_running_machine(void **state)
{
	fx *f = *state;
	create_ok(f);
	assert_int_equal(fake(f, "machine stop -n arca-e1"), 0);
	arca_env_state_t st;
	assert_int_equal(f->b->state(f->b, &f->ctx, &st), 0);
	assert_int_equal(st, ARCA_ENV_FAILED);
	const char *t[] = { "true", NULL };
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;
	o.argv = t;
	int status;
	assert_int_not_equal(f->b->exec(f->b, &f->ctx, &o, &status), 0);
	assert_non_null(strstr(arca_error_last(), "not running"));
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void test_smolvm_error_becomes_the_message(void **state)
{
	fx *f = *state;
	fx_settings(f, "volume=/nonexistent-arca-dir:/data");
	assert_int_equal(f->b->create(f->b, &f->ctx), ARCA_ERROR);
	assert_string_equal(arca_error_last(), "smolvm machine create arca-e1: volume host path "
		"'/nonexistent-arca-dir' is not an existing directory");
	assert_string_equal(f->detail, arca_error_last());
	assert_int_equal(dir_entries(f->envdir), 0);
}

static void test_env_names_become_valid_machine_names(void **state)
{
	fx *f = *state;
	char ls[4096];
	f->ctx.name = "team/a..b-";
	create_ok(f);
	fake_ls(f, ls, sizeof ls);
	assert_non_null(strstr(ls, "arca-team-a-b-"));
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
	fake_ls(f, ls, sizeof ls);
	assert_string_equal(ls, "[]");
}

static void test_bad_settings_are_einval(void **state)
{
	fx *f = *state;
	fx_settings(f, "cpus=many");
	assert_int_equal(f->b->check(f->b, &f->ctx), ARCA_EINVAL);
	fx_settings(f, "colour=blue");
	assert_int_equal(f->b->check(f->b, &f->ctx), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "unknown setting 'colour'"));
	fx_settings(f, "volume=relative:/x");
	assert_int_equal(f->b->check(f->b, &f->ctx), ARCA_EINVAL);
}

static void test_failed_start_leaves_nothing_behind(void **state)
{
	fx *f = *state;
	setenv("FAKE_SMOLVM_FAIL_START", "1", 1);
	assert_int_equal(f->b->create(f->b, &f->ctx), ARCA_ERROR);
	unsetenv("FAKE_SMOLVM_FAIL_START");
	assert_string_equal(arca_error_last(),
		"smolvm machine start arca-e1: failed to start machine 'arca-e1': "
		"agent did not become ready (fake)");
	char ls[256];
	fake_ls(f, ls, sizeof ls);
	assert_string_equal(ls, "[]");
	assert_int_equal(dir_entries(f->envdir), 0);
	/* and a destroy after it has nothing to do */
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void test_delete_without_force_is_a_trap(void **state)
{
	fx *f = *state;
	char ls[256];
	/* why SV_DELETE always passes -f: the fake does what smolvm does */
	assert_int_equal(fake(f, v1(f) ? "machine create -n m" : "machine create m"), 0);
	assert_int_equal(fake(f, v1(f) ? "machine delete -n m" : "machine delete m"), 0);
	fake_ls(f, ls, sizeof ls);
	assert_string_not_equal(ls, "[]");
	/* and it rejects the other version's shape */
	assert_int_equal(fake(f, v1(f) ? "machine create m2" : "machine create -n m2"), 2);
}

static void test_bad_arguments_are_einval(void **state)
{
	fx *f = *state;
	/* a smolvm that says 1.9.3 but parses like 0.8.0: -n on create is
	 * rejected with exit 2 */
	char script[2048], bin[2100];
	const char *path = th_path(f->tmp, "liar.sh");
	snprintf(script, sizeof script, "#!/bin/sh\n[ \"$1\" = --version ] && echo 'smolvm 1.9.3' && exit 0\n"
		"FAKE_SMOLVM_VERSION=0.8.0 exec %s \"$@\"\n", FAKE);
	th_write_file(path, script, strlen(script));
	assert_int_equal(chmod(path, 0755), 0);
	snprintf(bin, sizeof bin, "smolvm-bin=%s", path);
	f->settings[0] = bin;
	assert_int_equal(f->b->create(f->b, &f->ctx), ARCA_EINVAL);
	assert_string_equal(arca_error_last(),
		"smolvm machine create arca-e1: error: unexpected argument '-n' found");
	assert_int_equal(dir_entries(f->envdir), 0);
}

static void test_missing_smolvm_is_enotfound(void **state)
{
	fx *f = *state;
	f->settings[0] = "smolvm-bin=/nonexistent/smolvm";
	assert_int_equal(f->b->create(f->b, &f->ctx), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_error_last(), "cannot run '/nonexistent/smolvm'"));
}

/* exec output is capped at 11 MiB per stream, so data never goes that way */
static void test_big_files_bypass_the_exec_output_cap(void **state)
{
	fx *f = *state;
	const char *src = th_path(f->tmp, "big");
	assert_int_equal(mkdir(src, 0755), 0);
	th_write_random(th_path(src, "blob"), 12u << 20, 5);
	arca_id big = th_snapshot(f->s, src, "big", NULL, NULL);
	f->ctx.artifact = &big;
	create_ok(f);

	int fd = open(th_path(f->tmp, "stdout"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	const char *cat[] = { "cat", "/arca/blob", NULL };
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;
	o.argv = cat;
	o.stdout_fd = fd;
	int status = -1;
	assert_int_equal(f->b->exec(f->b, &f->ctx, &o, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(lseek(fd, 0, SEEK_END), 11 << 20);
	close(fd);

	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_id snap;
	char ref[ARCA_ID_STRLEN];
	if (f->b->snapshot(f->b, &f->ctx, &so, &snap) != 0)
		fail_msg("snapshot: %s", arca_error_last());
	arca_id_format(ref, &snap);
	const char *dest = th_path(f->tmp, "out");
	assert_int_equal(arca_restore(f->s, ref, dest, NULL, NULL), 0);
	assert_int_equal(th_file_equal(th_path(dest, "blob"), th_path(src, "blob")), 0);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void test_tree_snapshot_and_rollback(void **state)
{
	fx *f = *state;
	char out[256], err[256];
	create_ok(f);
	/* modes and links come back through the guest's tar */
	const char *add[] = { "sh", "-c", "echo new > \"$1\"/c.txt && chmod 0604 \"$1\"/c.txt && "
		"ln -s a.txt \"$1\"/l", "sh", "/arca", NULL };
	assert_int_equal(run(f, add, 0, NULL, out, sizeof out, err, sizeof err), 0);
	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	so.name = "t";
	arca_id snap;
	if (f->b->snapshot(f->b, &f->ctx, &so, &snap) != 0)
		fail_msg("snapshot: %s", arca_error_last());
	char ref[ARCA_ID_STRLEN];
	arca_id_format(ref, &snap);
	const char *dest = th_path(f->tmp, "out");
	assert_int_equal(arca_restore(f->s, ref, dest, NULL, NULL), 0);
	assert_int_equal(th_file_equal(th_path(dest, "sub/b.bin"), th_path(f->tmp, "src/sub/b.bin")), 0);
	struct stat st;
	char lk[16] = "";
	assert_int_equal(lstat(th_path(dest, "c.txt"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_int_equal(readlink(th_path(dest, "l"), lk, sizeof lk - 1), 5);
	assert_string_equal(lk, "a.txt");
	assert_int_equal(dir_entries(th_path(f->envdir, "xfer")), 0);

	assert_int_equal(f->b->rollback(f->b, &f->ctx, &f->tree), 0);
	const char *t[] = { "test", "-e", "/arca/c.txt", NULL };
	assert_int_equal(run(f, t, 0, NULL, out, sizeof out, err, sizeof err), 1);
	const char *cat[] = { "cat", "/arca/a.txt", NULL };
	assert_int_equal(run(f, cat, 0, NULL, out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "hello\n");
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static int note_diff(const arca_diff_entry *d, void *payload)
{
	char *log = payload;
	size_t n = strlen(log);
	snprintf(log + n, 512 - n, "%c %s %u;", (char)d->kind, d->path, d->changes);
	return 0;
}

/* diff of a tree env: the guest's tree, brought out as a tar, against its
 * artifact; nothing left behind. An image env's diff is refused. */
static void test_tree_diff_through_the_guest_tar(void **state)
{
	fx *f = *state;
	char out[256], err[256], log[512] = "";
	arca_diff_stats ds = ARCA_DIFF_STATS_INIT;
	create_ok(f);
	const char *ch[] = { "sh", "-c", "echo changed > \"$1\"/a.txt && echo x > \"$1\"/new",
		"sh", "/arca", NULL };
	assert_int_equal(run(f, ch, 0, NULL, out, sizeof out, err, sizeof err), 0);
	if (f->b->diff(f->b, &f->ctx, note_diff, NULL, log, &ds) != 0)
		fail_msg("diff: %s", arca_error_last());
	assert_non_null(strstr(log, "M a.txt "));
	assert_non_null(strstr(log, "A new "));
	if (strstr(log, "sub/b.bin"))
		fail_msg("diff: %s", log);
	assert_int_equal(dir_entries(th_path(f->envdir, "xfer")), 0);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void test_image_diff_is_not_supported(void **state)
{
	fx *f = *state;
	image_ctx(f);
	create_ok(f);
	assert_int_equal(f->b->diff(f->b, &f->ctx, note_diff, NULL, NULL, NULL), ARCA_ENOTSUP);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void expect_marker(const char *dd)
{
	char m[8] = "";
	FILE *fp = fopen(th_path(dd, "overlay.formatted"), "r");
	assert_non_null(fp);
	assert_non_null(fgets(m, sizeof m, fp));
	fclose(fp);
	assert_string_equal(m, "1");
	assert_int_equal(access(th_path(dd, "storage.formatted"), F_OK), 0);
}

static void test_image_disk_restored_while_stopped(void **state)
{
	fx *f = *state;
	image_ctx(f);
	create_ok(f);
	char *want[] = {
		jl("--version", NULL),
		v1(f) ? jl("machine", "create", "-n", "arca-e1", "--image", "alpine", "--cpus", "2",
				"--mem", "512", "-v", vol(f, "xfer", "/mnt/arca-xfer"), NULL)
			: jl("machine", "create", "arca-e1", "--image", "alpine", "--cpus", "2",
				"--mem", "512", "-v", vol(f, "xfer", "/mnt/arca-xfer"), NULL),
		jl("machine", "start", "-n", "arca-e1", NULL),
		jl("machine", "stop", "-n", "arca-e1", NULL),
		v1(f) ? jl("machine", "data-dir", "-n", "arca-e1", NULL)
			: jl("machine", "data-dir", "arca-e1", NULL),
		jl("machine", "start", "-n", "arca-e1", NULL),
		NULL };
	expect_log(f, want);
	char dd[2048];
	fake_data_dir(f, dd, sizeof dd);
	assert_int_equal(th_file_equal(th_path(dd, "overlay.raw"), th_path(f->tmp, "disk.img")), 0);
	expect_marker(dd);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
	assert_int_equal(access(dd, F_OK), -1);
}

static void test_image_snapshot_and_rollback(void **state)
{
	fx *f = *state;
	char dd[2048], ref[ARCA_ID_STRLEN];
	image_ctx(f);
	create_ok(f);
	fake_data_dir(f, dd, sizeof dd);
	/* what the guest would have written */
	th_pwrite_random(th_path(dd, "overlay.raw"), 4096, 8192, 9);
	arca_id snap;
	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	so.name = "disk";
	if (f->b->snapshot(f->b, &f->ctx, &so, &snap) != 0)
		fail_msg("snapshot: %s", arca_error_last());
	arca_artifact *a;
	assert_int_equal(arca_artifact_lookup(&a, f->s, &snap), 0);
	arca_artifact_free(a);
	arca_id_format(ref, &snap);
	const char *got = th_path(f->tmp, "snap.img");
	assert_int_equal(arca_restore(f->s, ref, got, NULL, NULL), 0);
	assert_int_equal(th_file_equal(got, th_path(dd, "overlay.raw")), 0);
	assert_int_not_equal(th_file_equal(got, th_path(f->tmp, "disk.img")), 0);

	assert_int_equal(f->b->rollback(f->b, &f->ctx, &f->image), 0);
	assert_int_equal(th_file_equal(th_path(dd, "overlay.raw"), th_path(f->tmp, "disk.img")), 0);
	expect_marker(dd);
	arca_env_state_t st;
	assert_int_equal(f->b->state(f->b, &f->ctx, &st), 0);
	assert_int_equal(st, ARCA_ENV_ACTIVE);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
}

static void test_capabilities(void **state)
{
	fx *f = *state;
	assert_int_equal(f->b->capabilities(f->b, &f->ctx),
		ARCA_ENV_CAP_SNAPSHOT | ARCA_ENV_CAP_ROLLBACK | ARCA_ENV_CAP_STREAM);
	assert_null(f->b->pause);
	assert_null(f->b->resume);
}

/* A real smolvm: the same lifecycle, when one is installed. */
static void test_real_smolvm_smoke(void **state)
{
	fx *f = *state;
	if (system("command -v smolvm >/dev/null 2>&1") != 0)
		skip();
	char out[256], err[256];
	create_ok(f);
	const char *cat[] = { "cat", "/arca/a.txt", NULL };
	assert_int_equal(run(f, cat, 0, NULL, out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "hello\n");
	const char *sl[] = { "sleep", "10", NULL };
	assert_int_equal(run(f, sl, 1, NULL, out, sizeof out, err, sizeof err), 124);
	assert_int_equal(f->b->destroy(f->b, &f->ctx), 0);
	assert_int_equal(dir_entries(f->envdir), 0);
}

/* An env whose directory was swapped for a symlink out of the store: the
 * backend never follows it (its rm of tree/ and xfer/ refuses), and `env
 * rm` removes the link first, then deletes the machine. */
static void test_symlinked_env_dir_is_never_followed(void **state)
{
	fx *f = *state;
	arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
	arca_env_info *info = NULL;
	char out[1100], away[1100], ls[256];

	snprintf(out, sizeof out, "%s/outside", f->tmp);
	assert_int_equal(mkdir(out, 0755), 0);
	assert_int_equal(mkdir(th_path(out, "tree"), 0755), 0);
	assert_int_equal(mkdir(th_path(out, "xfer"), 0755), 0);
	th_write_file(th_path(out, "tree/keep"), "k", 1);
	th_write_file(th_path(out, "xfer/keep"), "k", 1);

	/* the backend alone */
	create_ok(f);
	snprintf(away, sizeof away, "%s.away", f->envdir);
	assert_int_equal(rename(f->envdir, away), 0);
	assert_int_equal(symlink(out, f->envdir), 0);
	{
		int rc = f->b->destroy(f->b, &f->ctx);
		if (rc != ARCA_EUNSAFE)
			fail_msg("destroy: %d %s", rc, arca_error_last());
	}
	assert_int_equal(access(th_path(out, "tree/keep"), F_OK), 0);
	assert_int_equal(access(th_path(out, "xfer/keep"), F_OK), 0);

	/* through the env layer */
	co.backend = "smolvm";
	co.name = "e2";
	co.settings = f->settings;
	if (arca_env_create(f->s, "t", &co, NULL) != 0)
		fail_msg("env create: %s", arca_error_last());
	assert_int_equal(arca_env_lookup(&info, f->s, "e2"), 0);
	snprintf(away, sizeof away, "%s.away", info->dir);
	assert_int_equal(rename(info->dir, away), 0);
	assert_int_equal(symlink(out, info->dir), 0);
	assert_int_equal(arca_env_reset(f->s, "e2", NULL), ARCA_EUNSAFE);
	assert_int_equal(arca_env_snapshot(f->s, "e2", NULL, NULL), ARCA_EUNSAFE);
	if (arca_env_remove(f->s, "e2") != 0)
		fail_msg("env rm: %s", arca_error_last());
	assert_int_equal(access(info->dir, F_OK), -1);
	assert_int_equal(access(th_path(out, "tree/keep"), F_OK), 0);
	assert_int_equal(access(th_path(out, "xfer/keep"), F_OK), 0);
	fake_ls(f, ls, sizeof ls);
	assert_null(strstr(ls, "arca-e2"));
	arca_env_info_free(info);
}

/* each case against both CLI versions, named for the version */
#define BOTH(t) { "0.8.0: " #t, t, setup_v080, fx_teardown, NULL }, \
	{ "1.9.3: " #t, t, setup_v193, fx_teardown, NULL }

int main(void)
{
	if (system("python3 -c pass >/dev/null 2>&1") != 0)
		return 77;
	const struct CMUnitTest tests[] = {
		BOTH(test_argv_sequence_of_create_exec_destroy),
		BOTH(test_exec_passes_status_and_output_through),
		BOTH(test_exec_environment_stays_out_of_argv),
		BOTH(test_exec_timeout_gives_124),
		BOTH(test_exec_needs_a_running_machine),
		BOTH(test_smolvm_error_becomes_the_message),
		BOTH(test_bad_settings_are_einval),
		cmocka_unit_test_setup_teardown(test_env_names_become_valid_machine_names, setup_v193,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments_are_einval, setup_v193, fx_teardown),
		cmocka_unit_test_setup_teardown(test_missing_smolvm_is_enotfound, setup_v193, fx_teardown),
		BOTH(test_failed_start_leaves_nothing_behind),
		BOTH(test_delete_without_force_is_a_trap),
		BOTH(test_tree_snapshot_and_rollback),
		BOTH(test_big_files_bypass_the_exec_output_cap),
		BOTH(test_image_disk_restored_while_stopped),
		BOTH(test_image_snapshot_and_rollback),
		BOTH(test_symlinked_env_dir_is_never_followed),
		cmocka_unit_test_setup_teardown(test_capabilities, setup_v193, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tree_diff_through_the_guest_tar, setup_v193, fx_teardown),
		cmocka_unit_test_setup_teardown(test_image_diff_is_not_supported, setup_v193, fx_teardown),
		cmocka_unit_test_setup_teardown(test_real_smolvm_smoke, setup_real, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
