/* Store file modes and read-only stores: a store is private to its owner
 * (directories 0700, files 0600, whatever the umask), and a store that
 * may only be read (read-only files, a read-only mount) still lists,
 * verifies and restores, while writes fail with a clear error. */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

typedef struct {
	char *tmp;
	char src[1024];
	char storedir[1024];
	char mnt[1024];
	int mounted;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->tmp = th_tmpdir();
	snprintf(f->src, sizeof(f->src), "%s/src", f->tmp);
	snprintf(f->storedir, sizeof(f->storedir), "%s/a/b/store", f->tmp);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->tmp);
	if (mkdir(f->src, 0755) < 0)
		abort();
	th_write_random(th_path(f->src, "secret"), 200000, 7);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	if (f->mounted && umount2(f->mnt, MNT_DETACH) < 0)
		fprintf(stderr, "umount %s: %s\n", f->mnt, strerror(errno));
	th_cleanup(f->tmp);
	free(f);
	return 0;
}

/* Creates the store with one artifact ("web") under the current umask. */
static void make_store(fixture *f)
{
	arca_store *s = th_store_open(f->storedir);
	th_snapshot(s, f->src, "web", NULL, NULL);
	arca_store_free(s);
}

static void expect_mode(const char *path, mode_t want)
{
	struct stat st;
	if (stat(path, &st) < 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	if ((st.st_mode & 07777) != want)
		fail_msg("%s has mode %04o, not %04o", path, st.st_mode & 07777, want);
}

/* Calls fn on every pack file; returns how many. */
static int each_pack(const char *storedir, void (*fn)(const char *, void *), void *p)
{
	char packs[2048], path[4096];
	struct dirent *de;
	DIR *d;
	int n = 0;
	snprintf(packs, sizeof(packs), "%s/packs", storedir);
	assert_non_null(d = opendir(packs));
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "pack-", 5)) {
			snprintf(path, sizeof(path), "%s/%s", packs, de->d_name);
			fn(path, p);
			n++;
		}
	closedir(d);
	return n;
}

static void pack_is_0600(const char *path, void *p)
{
	(void)p;
	expect_mode(path, 0600);
}

static void modes_are_exact_under(fixture *f, mode_t mask)
{
	mode_t old = umask(mask);
	make_store(f);
	umask(old);
	expect_mode(th_path(f->tmp, "a"), 0700);
	expect_mode(th_path(f->tmp, "a/b"), 0700);
	expect_mode(f->storedir, 0700);
	expect_mode(th_path(f->storedir, "packs"), 0700);
	expect_mode(th_path(f->storedir, "index.lmdb"), 0600);
	expect_mode(th_path(f->storedir, "index.lmdb-lock"), 0600);
	assert_true(each_pack(f->storedir, pack_is_0600, NULL) > 0);
}

static void store_modes_are_exact_under_umask_0(void **state)
{
	modes_are_exact_under(*state, 0);
}

static void store_modes_are_exact_under_umask_077(void **state)
{
	modes_are_exact_under(*state, 077);
}

static void store_modes_are_exact_under_a_narrowing_umask(void **state)
{
	modes_are_exact_under(*state, 0277);
}

/* Runs fn in a child as user nobody; its exit status (0 = pass). */
static int as_nobody(int (*fn)(fixture *), fixture *f)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(99);
		_exit(fn(f));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int skip_unless_root(void)
{
	if (geteuid() != 0) {
		printf("skipped: needs root to run as user nobody\n");
		return 1;
	}
	return 0;
}

static void cannot_open(const char *path, void *p)
{
	int *bad = p, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || errno != EACCES) {
		fprintf(stderr, "nobody could open %s\n", path);
		(*bad)++;
	}
	if (fd >= 0)
		close(fd);
}

static int nobody_reads_files(fixture *f)
{
	int bad = 0;
	cannot_open(th_path(f->storedir, "index.lmdb"), &bad);
	cannot_open(th_path(f->storedir, "index.lmdb-lock"), &bad);
	if (each_pack(f->storedir, cannot_open, &bad) == 0)
		bad++;
	return bad;
}

static int nobody_reads(fixture *f)
{
	int bad = 0;
	cannot_open(f->storedir, &bad);
	cannot_open(th_path(f->storedir, "packs"), &bad);
	cannot_open(th_path(f->storedir, "index.lmdb"), &bad);
	return bad;
}

static void another_user_cannot_read_the_store(void **state)
{
	fixture *f = *state;
	mode_t old;
	if (skip_unless_root())
		return;
	old = umask(0);
	make_store(f);
	umask(old);
	/* only the store's own modes stand in the way */
	assert_int_equal(chmod(f->tmp, 0755), 0);
	assert_int_equal(chmod(th_path(f->tmp, "a"), 0755), 0);
	assert_int_equal(chmod(th_path(f->tmp, "a/b"), 0755), 0);
	assert_int_equal(as_nobody(nobody_reads, f), 0);
	/* nor its files, were the directories opened up */
	assert_int_equal(chmod(f->storedir, 0755), 0);
	assert_int_equal(chmod(th_path(f->storedir, "packs"), 0755), 0);
	assert_int_equal(as_nobody(nobody_reads_files, f), 0);
}

static int count_artifact(const arca_artifact *a, void *payload)
{
	(void)a;
	(*(int *)payload)++;
	return 0;
}

/* ls, verify and restore work; snapshot and tag fail as read-only.
 * Returns 0, or the number of the step that failed. */
static int use_read_only_store(const char *storedir, const char *out)
{
	arca_store_options o = ARCA_STORE_OPTIONS_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_store *s = NULL;
	arca_id id;
	int n = 0, rc;

	o.no_create = 1;
	o.lock_timeout_ms = 0;
	if (arca_store_open(&s, storedir, &o) != 0)
		return fprintf(stderr, "open: %s\n", arca_error_last()), 1;
	if (arca_artifact_foreach(s, count_artifact, &n) != 0 || n != 1)
		return fprintf(stderr, "ls: %s\n", arca_error_last()), 2;
	rc = arca_verify(&vr, s);
	arca_verify_result_clear(&vr);
	if (rc != 0)
		return fprintf(stderr, "verify: %s\n", arca_error_last()), 3;
	if (arca_restore(s, "web", out, NULL, NULL) != 0)
		return fprintf(stderr, "restore: %s\n", arca_error_last()), 4;
	rc = arca_snapshot(&id, s, out, NULL, NULL);
	if (rc != ARCA_EIO || !strstr(arca_error_last(), "is read-only"))
		return fprintf(stderr, "snapshot: %d %s\n", rc, arca_error_last()), 5;
	rc = arca_tag_set(s, "web", "web:other");
	if (rc != ARCA_EIO || !strstr(arca_error_last(), "is read-only"))
		return fprintf(stderr, "tag: %d %s\n", rc, arca_error_last()), 6;
	arca_store_free(s);
	return 0;
}

static int nobody_uses_read_only_store(fixture *f)
{
	return use_read_only_store(f->storedir, th_path(f->tmp, "out/restored"));
}

static uid_t owner_to_set;

static int chown_and_unwrite(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if (lchown(path, owner_to_set, owner_to_set) < 0 ||
	    chmod(path, st->st_mode & 07555) < 0)
		return -1;
	return 0;
}

static void a_store_with_read_only_files_lists_verifies_and_restores(void **state)
{
	fixture *f = *state;
	if (skip_unless_root())
		return;
	make_store(f);
	owner_to_set = NOBODY;
	/* depth-first so directories lose their write bit after their entries */
	assert_int_equal(nftw(f->storedir, chown_and_unwrite, 16, FTW_PHYS | FTW_DEPTH), 0);
	assert_int_equal(chmod(f->tmp, 0755), 0);
	assert_int_equal(chmod(th_path(f->tmp, "a"), 0755), 0);
	assert_int_equal(chmod(th_path(f->tmp, "a/b"), 0755), 0);
	assert_int_equal(mkdir(th_path(f->tmp, "out"), 0700), 0);
	assert_int_equal(chown(th_path(f->tmp, "out"), NOBODY, NOBODY), 0);
	assert_int_equal(as_nobody(nobody_uses_read_only_store, f), 0);
	assert_int_equal(th_file_equal(th_path(f->src, "secret"),
		th_path(f->tmp, "out/restored/secret")), 0);
}

static void a_store_on_a_read_only_mount_lists_verifies_and_restores(void **state)
{
	fixture *f = *state;
	make_store(f);
	assert_int_equal(mkdir(f->mnt, 0700), 0);
	if (mount(f->storedir, f->mnt, NULL, MS_BIND, NULL) < 0) {
		printf("skipped: bind mount: %s\n", strerror(errno));
		return;
	}
	f->mounted = 1;
	if (mount(NULL, f->mnt, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
		printf("skipped: read-only remount: %s\n", strerror(errno));
		return;
	}
	assert_int_equal(use_read_only_store(f->mnt, th_path(f->tmp, "restored")), 0);
	assert_int_equal(th_file_equal(th_path(f->src, "secret"),
		th_path(f->tmp, "restored/secret")), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(store_modes_are_exact_under_umask_0, setup, teardown),
		cmocka_unit_test_setup_teardown(store_modes_are_exact_under_umask_077, setup, teardown),
		cmocka_unit_test_setup_teardown(store_modes_are_exact_under_a_narrowing_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(another_user_cannot_read_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(a_store_with_read_only_files_lists_verifies_and_restores, setup, teardown),
		cmocka_unit_test_setup_teardown(a_store_on_a_read_only_mount_lists_verifies_and_restores, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
