/* The writer lock: a stopped writer is named, and waiting for it is
 * bounded by the store options. Uses a real child process that holds the
 * store's write transaction and stops itself with SIGSTOP. */
#include "helpers.h"
#include "store/store.h"

#include <errno.h>
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
	char storedir[1024];
	pid_t child;        /* the stopped writer, 0 when none */
	arca_store *s;
} fixture;

typedef struct {
	int calls;
	long pid;
	double waited;
} wait_log;

static void record_wait(long pid, double waited_s, void *payload)
{
	wait_log *l = payload;
	l->calls++;
	l->pid = pid;
	l->waited = waited_s;
}

/* Forks a child that opens the store, begins its write transaction and
 * stops; returns once it is stopped. */
static pid_t spawn_stopped_writer(const char *dir)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_cas_writer *w = NULL;
		if (arca_store_open(&s, dir, NULL) != 0 || arca_cas_writer_begin(&w, s->cas) != 0)
			_exit(1);
		raise(SIGSTOP);
		arca_cas_writer_abort(w);
		arca_store_free(s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	if (!WIFSTOPPED(status))
		fail_msg("the child writer did not stop (status %d)", status);
	return pid;
}

static void end_child(fixture *f)
{
	if (f->child > 0) {
		kill(f->child, SIGKILL);
		kill(f->child, SIGCONT);
		waitpid(f->child, NULL, 0);
		f->child = 0;
	}
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	arca_store *s;
	if (!f)
		abort();
	f->tmp = th_tmpdir();
	snprintf(f->storedir, sizeof(f->storedir), "%s/store", f->tmp);
	/* created, then closed before the fork: a process opens a store once */
	s = th_store_open(f->storedir);
	arca_store_free(s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	end_child(f);
	arca_store_free(f->s);
	th_cleanup(f->tmp);
	free(f);
	return 0;
}

static arca_store *open_with(const char *dir, int timeout_ms, wait_log *log)
{
	arca_store_options o = ARCA_STORE_OPTIONS_INIT;
	arca_store *s = NULL;
	o.lock_timeout_ms = timeout_ms;
	o.on_wait = log ? record_wait : NULL;
	o.wait_payload = log;
	if (arca_store_open(&s, dir, &o) != 0)
		fail_msg("store open: %s", arca_error_last());
	return s;
}

static void no_wait_fails_at_once_naming_the_stopped_writer(void **state)
{
	fixture *f = *state;
	wait_log log = { 0, 0, 0 };
	char want[64];
	arca_id id;

	f->child = spawn_stopped_writer(f->storedir);
	f->s = open_with(f->storedir, 0, &log);
	memset(&id, 0x11, sizeof(id));
	assert_int_equal(arca_tag_set(f->s, "art_0000000000", "x:y"), ARCA_ELOCKED);
	snprintf(want, sizeof(want), "writer pid %ld", (long)f->child);
	if (!strstr(arca_error_last(), want))
		fail_msg("'%s' does not name %s", arca_error_last(), want);
	assert_int_equal(log.calls, 0);
	/* every kind of write is bounded, not just refs */
	assert_int_equal(arca_snapshot(&id, f->s, f->tmp, NULL, NULL), ARCA_ELOCKED);
}

static void a_timeout_gives_up_after_telling_whom_it_waits_for(void **state)
{
	fixture *f = *state;
	wait_log log = { 0, 0, 0 };
	arca_gc_result gr = ARCA_GC_RESULT_INIT;

	f->child = spawn_stopped_writer(f->storedir);
	f->s = open_with(f->storedir, 1000, &log);
	assert_int_equal(arca_gc(&gr, f->s, NULL), ARCA_ELOCKED);
	assert_non_null(strstr(arca_error_last(), "store is locked by writer pid"));
	assert_int_equal(log.calls, 1);
	assert_int_equal(log.pid, (long)f->child);
	assert_true(log.waited >= 1.0);
}

static void a_waiting_writer_proceeds_when_the_holder_dies(void **state)
{
	fixture *f = *state;
	wait_log log = { 0, 0, 0 };
	arca_gc_result gr = ARCA_GC_RESULT_INIT;

	f->child = spawn_stopped_writer(f->storedir);
	end_child(f);
	f->s = open_with(f->storedir, 0, &log);
	assert_int_equal(arca_gc(&gr, f->s, NULL), 0);
	assert_int_equal(log.calls, 0);
}

static void the_lock_is_released_after_commit_and_abort(void **state)
{
	fixture *f = *state;
	arca_gc_result gr = ARCA_GC_RESULT_INIT;
	int status;
	pid_t pid;

	f->s = open_with(f->storedir, 0, NULL);
	assert_int_equal(arca_gc(&gr, f->s, NULL), 0);                 /* commit */
	assert_int_not_equal(arca_tag_set(f->s, "nosuchname", "x:y"), 0); /* abort */
	/* another process may write now, without waiting */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_store_options o = ARCA_STORE_OPTIONS_INIT;
		arca_gc_result r = ARCA_GC_RESULT_INIT;
		o.lock_timeout_ms = 0;
		_exit(arca_store_open(&s, f->storedir, &o) == 0 && arca_gc(&r, s, NULL) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

typedef struct {
	arca_store *s;
	int rc;
} gc_job;

static void *run_gc(void *p)
{
	gc_job *j = p;
	arca_gc_result r = ARCA_GC_RESULT_INIT;
	for (int i = 0; i < 20 && !j->rc; i++)
		j->rc = arca_gc(&r, j->s, NULL);
	return NULL;
}

static void threads_of_one_process_share_the_lock(void **state)
{
	fixture *f = *state;
	gc_job jobs[4];
	pthread_t t[4];

	/* with no wait at all, they queue on LMDB's mutex, not on the lock */
	f->s = open_with(f->storedir, 0, NULL);
	for (int i = 0; i < 4; i++) {
		jobs[i].s = f->s;
		jobs[i].rc = 0;
		assert_int_equal(pthread_create(&t[i], NULL, run_gc, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(jobs[i].rc, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_wait_fails_at_once_naming_the_stopped_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(a_timeout_gives_up_after_telling_whom_it_waits_for, setup, teardown),
		cmocka_unit_test_setup_teardown(a_waiting_writer_proceeds_when_the_holder_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(the_lock_is_released_after_commit_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(threads_of_one_process_share_the_lock, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
