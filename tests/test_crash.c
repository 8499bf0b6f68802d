/* Crash safety: torn pack tails, orphan packs, writers killed with
 * SIGKILL at arbitrary moments, and concurrent writers. */
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
	char *tmp;
	char *storedir;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->tmp = th_tmpdir();
	f->storedir = strdup(th_path(f->tmp, "store"));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	th_cleanup(f->tmp);
	free(f->storedir);
	free(f);
	return 0;
}

static void verify_clean(arca_store *s)
{
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	int rc = arca_verify(&vr, s);
	if (rc)
		fail_msg("verify: %s", arca_error_last());
	assert_int_equal(vr.ndamaged, 0);
	arca_verify_result_clear(&vr);
}

static uint64_t count_artifacts(arca_store *s)
{
	arca_store_stats st = ARCA_STORE_STATS_INIT;
	assert_int_equal(arca_store_stats_get(&st, s), 0);
	return st.artifacts;
}

static void torn_pack_tail_is_cut_off(void **state)
{
	fixture *f = *state;
	arca_store *s = th_store_open(f->storedir);
	arca_store_stats st = ARCA_STORE_STATS_INIT;
	char pack[4096];
	const char *a = th_path(f->tmp, "a"), *b = th_path(f->tmp, "b");
	uint8_t junk[1000];
	int fd;

	th_write_random(a, 1u << 20, 31);
	th_write_random(b, 1u << 20, 32);
	th_snapshot(s, a, "a", NULL, NULL);
	arca_store_free(s);

	/* what a writer killed mid-append leaves behind */
	th_pack_size(f->storedir, pack, sizeof(pack));
	th_fill_random(junk, sizeof(junk), 33);
	fd = open(pack, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);

	s = th_store_open(f->storedir);
	verify_clean(s); /* readers ignore uncommitted bytes */
	th_snapshot(s, b, "b", NULL, NULL);
	verify_clean(s);
	assert_int_equal(arca_store_stats_get(&st, s), 0);
	assert_int_equal(th_pack_size(f->storedir, pack, sizeof(pack)), st.pack_bytes);
	assert_int_equal(arca_restore(s, "a", th_path(f->tmp, "a.out"), NULL, NULL), 0);
	assert_int_equal(arca_restore(s, "b", th_path(f->tmp, "b.out"), NULL, NULL), 0);
	assert_int_equal(th_file_equal(a, th_path(f->tmp, "a.out")), 0);
	assert_int_equal(th_file_equal(b, th_path(f->tmp, "b.out")), 0);
	arca_store_free(s);
}

static void uncommitted_pack_file_is_discarded(void **state)
{
	fixture *f = *state;
	arca_store *s = th_store_open(f->storedir);
	const char *a = th_path(f->tmp, "a"), *b = th_path(f->tmp, "b");
	char orphan[4096];

	th_write_random(a, 1u << 20, 34);
	th_write_random(b, 1u << 20, 35);
	th_snapshot(s, a, "a", NULL, NULL);
	snprintf(orphan, sizeof(orphan), "%s/packs/pack-00000002.arcp", f->storedir);
	th_write_random(orphan, 5000, 36);
	th_snapshot(s, b, "b", NULL, NULL);
	verify_clean(s);
	assert_int_equal(arca_restore(s, "b", th_path(f->tmp, "b.out"), NULL, NULL), 0);
	assert_int_equal(th_file_equal(b, th_path(f->tmp, "b.out")), 0);
	arca_store_free(s);
}

static uint64_t packs_bytes(const char *storedir)
{
	char dir[4096];
	DIR *d;
	struct dirent *de;
	uint64_t total = 0;
	snprintf(dir, sizeof(dir), "%s/packs", storedir);
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d))) {
		struct stat st;
		char p[8192];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.' && stat(p, &st) == 0)
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

/* Starts a child that snapshots `path`, waits until the store's packs
 * have grown by `grow` bytes, then kills it with SIGKILL. Returns 1 if
 * the child was killed before it finished. */
static int kill_snapshot_midway(const char *storedir, const char *path, uint64_t grow)
{
	uint64_t start = packs_bytes(storedir);
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s;
		arca_id id;
		if (arca_store_open(&s, storedir, NULL) != 0)
			_exit(2);
		_exit(arca_snapshot(&id, s, path, NULL, NULL) == 0 ? 0 : 3);
	}
	for (long i = 0; i < 2000000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return 0; /* finished first */
		if (packs_bytes(storedir) >= start + grow)
			break;
		usleep(200);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status);
}

static void store_is_consistent_after_sigkill(void **state)
{
	fixture *f = *state;
	char img[4096], small[4096];
	const uint64_t points[] = { 1u << 20, 24u << 20, 96u << 20 };
	arca_store *s;
	int killed = 0;

	snprintf(img, sizeof(img), "%s/big.img", f->tmp);
	snprintf(small, sizeof(small), "%s/small", f->tmp);
	th_write_random(small, 1u << 20, 40);
	s = th_store_open(f->storedir);
	th_snapshot(s, small, "small", NULL, NULL);
	arca_store_free(s);
	th_write_random(img, 160u << 20, 41);

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		/* a fresh image each round so the child always has new data */
		th_pwrite_random(img, 0, 160u << 20, 42 + i);
		killed += kill_snapshot_midway(f->storedir, img, points[i]);

		s = th_store_open(f->storedir);
		verify_clean(s);
		assert_int_equal(arca_restore(s, "small", th_path(f->tmp, "small.out"), NULL, NULL), 0);
		assert_int_equal(th_file_equal(small, th_path(f->tmp, "small.out")), 0);
		unlink(th_path(f->tmp, "small.out"));
		arca_store_free(s);
	}
	/* at least the early kill points must have landed mid-snapshot */
	assert_true(killed >= 2);

	/* the store still takes and gives back new data */
	s = th_store_open(f->storedir);
	th_snapshot(s, img, "big", NULL, NULL);
	verify_clean(s);
	assert_int_equal(arca_restore(s, "big", th_path(f->tmp, "big.out"), NULL, NULL), 0);
	assert_int_equal(th_file_equal(img, th_path(f->tmp, "big.out")), 0);
	arca_store_free(s);
}

static void concurrent_writers_in_processes_all_land(void **state)
{
	fixture *f = *state;
	enum { N = 4 };
	pid_t pids[N];
	char paths[N][4000];
	arca_store *s = th_store_open(f->storedir);
	arca_store_free(s);

	for (int i = 0; i < N; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/w%d", f->tmp, i);
		th_write_random(paths[i], 6u << 20, 50 + i);
	}
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
			arca_id id;
			char name[16];
			snprintf(name, sizeof(name), "w%d", i);
			o.name = name;
			if (arca_store_open(&s, f->storedir, NULL) != 0)
				_exit(2);
			_exit(arca_snapshot(&id, s, paths[i], &o, NULL) == 0 ? 0 : 3);
		}
	}
	for (int i = 0; i < N; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	s = th_store_open(f->storedir);
	assert_int_equal(count_artifacts(s), N);
	verify_clean(s);
	for (int i = 0; i < N; i++) {
		char name[16], out[16100];
		snprintf(name, sizeof(name), "w%d", i);
		snprintf(out, sizeof(out), "%s.out", paths[i]);
		assert_int_equal(arca_restore(s, name, out, NULL, NULL), 0);
		assert_int_equal(th_file_equal(paths[i], out), 0);
	}
	arca_store_free(s);
}

typedef struct {
	arca_store *s;
	const char *path;
	char name[16];
	int rc;
} thread_job;

static void *snapshot_thread(void *arg)
{
	thread_job *j = arg;
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_id id;
	o.name = j->name;
	j->rc = arca_snapshot(&id, j->s, j->path, &o, NULL);
	return NULL;
}

static void one_handle_shared_by_threads(void **state)
{
	fixture *f = *state;
	enum { N = 3 };
	arca_store *s = th_store_open(f->storedir);
	pthread_t th[N];
	thread_job jobs[N];
	char paths[N][4000];

	for (int i = 0; i < N; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/t%d", f->tmp, i);
		th_write_random(paths[i], 3u << 20, 60 + i);
		jobs[i].s = s;
		jobs[i].path = paths[i];
		snprintf(jobs[i].name, sizeof(jobs[i].name), "t%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, snapshot_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].rc, 0);
	}
	assert_int_equal(count_artifacts(s), N);
	verify_clean(s);
	for (int i = 0; i < N; i++) {
		char out[16100];
		snprintf(out, sizeof(out), "%s.out", paths[i]);
		assert_int_equal(arca_restore(s, jobs[i].name, out, NULL, NULL), 0);
		assert_int_equal(th_file_equal(paths[i], out), 0);
	}
	arca_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(torn_pack_tail_is_cut_off, setup, teardown),
		cmocka_unit_test_setup_teardown(uncommitted_pack_file_is_discarded, setup, teardown),
		cmocka_unit_test_setup_teardown(store_is_consistent_after_sigkill, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_writers_in_processes_all_land, setup, teardown),
		cmocka_unit_test_setup_teardown(one_handle_shared_by_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
