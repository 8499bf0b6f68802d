/* Hub push/clone/pull against real git servers on loopback, started by
 * this test: git http-backend behind lighttpd with basic auth, and git
 * daemon. Results are checked with git on the server side. */
#include "helpers.h"
#include "arca/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "tok-3f9a1c-secret"

static char *tmp;
static char srv[4096], tokfile[4200], cache[4200];
static int http_port, git_port;
static int repo_seq;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* Output of a shell command (first 64 KiB). */
static char *out_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *out_of(const char *fmt, ...)
{
	static char buf[65536];
	char cmd[16384];
	va_list ap;
	FILE *p;
	size_t n;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	pclose(p);
	return buf;
}

static int group_setup(void **state)
{
	char *ports;
	(void)state;
	tmp = th_tmpdir();
	snprintf(srv, sizeof(srv), "%s/srv", tmp);
	snprintf(tokfile, sizeof(tokfile), "%s/token", tmp);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	th_write_file(tokfile, TOKEN, strlen(TOKEN));
	ports = out_of("bash '%s/hub_server.sh' start '%s' '%s'", ARCA_TEST_SRC, srv, tokfile);
	if (sscanf(ports, "%d %d", &http_port, &git_port) != 2) {
		fprintf(stderr, "cannot start the test hub: %s\n", ports);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sh("bash '%s/hub_server.sh' stop '%s'", ARCA_TEST_SRC, srv);
	th_cleanup(tmp);
	return 0;
}

typedef struct {
	char name[64];
	char bare[4300];
	char url[256];
	char ws[4300];
} repo;

/* A new empty bare repo on the server and a workspace for it. */
static void new_repo(repo *r)
{
	snprintf(r->name, sizeof(r->name), "r%d.git", ++repo_seq);
	snprintf(r->bare, sizeof(r->bare), "%s/repos/%s", srv, r->name);
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/git/%s", http_port, r->name);
	snprintf(r->ws, sizeof(r->ws), "%s/ws%d", tmp, repo_seq);
	sh("git init -q --bare '%s'", r->bare);
	mkdir(r->ws, 0755);
	mkdir(th_path(r->ws, "src"), 0755);
	mkdir(th_path(r->ws, "bin"), 0755);
	mkdir(th_path(r->ws, "empty"), 0755);
	mkdir(th_path(r->ws, "node_modules"), 0755);
	mkdir(th_path(r->ws, "src/__pycache__"), 0755);
	th_write_file(th_path(r->ws, "README"), "hello\n", 6);
	th_write_file(th_path(r->ws, "src/app.py"), "print(1)\n", 9);
	th_write_file(th_path(r->ws, "src/app.pyc"), "bytecode", 8);
	th_write_file(th_path(r->ws, "src/__pycache__/x.pyc"), "x", 1);
	th_write_file(th_path(r->ws, "node_modules/m.js"), "m", 1);
	th_write_file(th_path(r->ws, "notes.swp"), "swap", 4);
	th_write_file(th_path(r->ws, "bin/run"), "#!/bin/sh\n", 10);
	chmod(th_path(r->ws, "bin/run"), 0755);
	assert_int_equal(symlink("../README", th_path(r->ws, "src/readme")), 0);
	th_write_random(th_path(r->ws, "src/data.bin"), 300000, 1);
}

static arca_hub_remote remote_for(const repo *r, const char *token)
{
	arca_hub_remote rm = ARCA_HUB_REMOTE_INIT;
	rm.url = r->url;
	rm.token = token;
	return rm;
}

static int push(const repo *r, const char *branch, int force, arca_hub_push_result *res)
{
	arca_hub_remote rm = remote_for(r, TOKEN);
	arca_hub_push_options o = ARCA_HUB_PUSH_OPTIONS_INIT;
	o.branch = branch;
	o.force = force;
	o.cache_dir = cache;
	o.author_name = "arca test";
	o.author_email = "test@arca";
	return arca_hub_push(res, r->ws, &rm, &o);
}

static const char *ls_tree(const repo *r, const char *branch)
{
	return out_of("git --git-dir='%s' ls-tree -r --format='%%(objectmode) %%(path)' %s 2>&1",
		r->bare, branch);
}

static void first_push_to_an_empty_repo(void **state)
{
	arca_hub_push_result res = ARCA_HUB_PUSH_RESULT_INIT;
	repo r;
	const char *t;
	(void)state;
	new_repo(&r);
	assert_int_equal(push(&r, "ws/main", 0, &res), 0);
	assert_true(res.pushed);
	assert_string_equal(res.parent, "");
	assert_int_equal(res.files, 5);
	t = ls_tree(&r, "ws/main");
	assert_non_null(strstr(t, "100644 README\n"));
	assert_non_null(strstr(t, "100755 bin/run\n"));
	assert_non_null(strstr(t, "120000 src/readme\n"));
	assert_non_null(strstr(t, "100644 src/data.bin\n"));
	assert_null(strstr(t, "pyc"));
	assert_null(strstr(t, "node_modules"));
	assert_null(strstr(t, ".swp"));
	assert_null(strstr(t, "empty"));
	char want[64];
	snprintf(want, sizeof(want), "%s\n", res.commit);
	assert_string_equal(out_of("git --git-dir='%s' rev-parse ws/main", r.bare), want);
}

static void second_push_records_edits_on_top(void **state)
{
	arca_hub_push_result a = ARCA_HUB_PUSH_RESULT_INIT, b = ARCA_HUB_PUSH_RESULT_INIT;
	repo r;
	const char *t;
	(void)state;
	new_repo(&r);
	assert_int_equal(push(&r, "main", 0, &a), 0);
	th_write_file(th_path(r.ws, "README"), "edited\n", 7);              /* edit */
	th_write_file(th_path(r.ws, "src/new.py"), "new\n", 4);             /* add */
	unlink(th_path(r.ws, "src/data.bin"));                               /* delete */
	chmod(th_path(r.ws, "src/app.py"), 0755);                            /* chmod +x */
	unlink(th_path(r.ws, "src/readme"));                                 /* retarget */
	assert_int_equal(symlink("app.py", th_path(r.ws, "src/readme")), 0);
	assert_int_equal(push(&r, "main", 0, &b), 0);
	assert_true(b.pushed);
	assert_string_equal(b.parent, a.commit);
	/* only new objects travel: 2 changed blobs, 1 new symlink blob,
	 * 2 trees, 1 commit (app.py's blob is unchanged, only its mode) */
	assert_true(a.objects_sent >= 9);
	assert_int_equal(b.objects_sent, 6);
	t = ls_tree(&r, "main");
	assert_non_null(strstr(t, "100755 src/app.py\n"));
	assert_non_null(strstr(t, "100644 src/new.py\n"));
	assert_null(strstr(t, "data.bin"));
	assert_string_equal(out_of("git --git-dir='%s' show main:README", r.bare), "edited\n");
	assert_string_equal(out_of("git --git-dir='%s' show main:src/readme", r.bare), "app.py");
	char want[64];
	snprintf(want, sizeof(want), "%s\n", a.commit);
	assert_string_equal(out_of("git --git-dir='%s' log --format=%%P -1 main", r.bare), want);
	assert_string_equal(out_of("git --git-dir='%s' rev-list --count main", r.bare), "2\n");
}

static void unchanged_tree_pushes_nothing(void **state)
{
	arca_hub_push_result a = ARCA_HUB_PUSH_RESULT_INIT, b = ARCA_HUB_PUSH_RESULT_INIT;
	repo r;
	(void)state;
	new_repo(&r);
	assert_int_equal(push(&r, "main", 0, &a), 0);
	th_write_file(th_path(r.ws, "src/ignored.pyc"), "more junk", 9); /* excluded */
	assert_int_equal(push(&r, "main", 0, &b), 0);
	assert_false(b.pushed);
	assert_string_equal(b.commit, a.commit);
	assert_string_equal(out_of("git --git-dir='%s' rev-list --count main", r.bare), "1\n");
}

static void gitignore_arcaignore_and_excludes_are_honoured(void **state)
{
	arca_hub_push_result res = ARCA_HUB_PUSH_RESULT_INIT;
	arca_hub_remote rm;
	arca_hub_push_options o = ARCA_HUB_PUSH_OPTIONS_INIT;
	const char *ex[] = { "*.log", "/README" };
	repo r;
	const char *t;
	(void)state;
	new_repo(&r);
	sh("git init -q '%s'", r.ws);
	th_write_file(th_path(r.ws, ".gitignore"), "secret.txt\nbuild/\n", 18);
	th_write_file(th_path(r.ws, "secret.txt"), "s", 1);
	mkdir(th_path(r.ws, "build"), 0755);
	th_write_file(th_path(r.ws, "build/out.o"), "o", 1);
	th_write_file(th_path(r.ws, "src/trace.log"), "l", 1);
	th_write_file(th_path(r.ws, ".arcaignore"), "# local\nsrc/data.bin\n", 21);
	rm = remote_for(&r, TOKEN);
	o.branch = "main";
	o.cache_dir = cache;
	o.excludes = ex;
	o.nexcludes = 2;
	assert_int_equal(arca_hub_push(&res, r.ws, &rm, &o), 0);
	t = ls_tree(&r, "main");
	assert_null(strstr(t, "secret.txt"));
	assert_null(strstr(t, "build/"));
	assert_null(strstr(t, "trace.log"));
	assert_null(strstr(t, "data.bin"));
	assert_null(strstr(t, "100644 README"));
	assert_null(strstr(t, ".git/"));
	assert_non_null(strstr(t, "100644 .gitignore\n"));
	assert_non_null(strstr(t, "100644 src/app.py\n"));

	/* --no-default-excludes keeps node_modules (but never .git) */
	o.no_default_excludes = 1;
	o.nexcludes = 0;
	assert_int_equal(arca_hub_push(&res, r.ws, &rm, &o), 0);
	t = ls_tree(&r, "main");
	assert_non_null(strstr(t, "node_modules/m.js"));
	assert_null(strstr(t, ".git/"));
}

/* A line cut at a buffer's end would become two patterns. */
static void an_arcaignore_line_too_long_is_refused(void **state)
{
	arca_hub_push_result res = ARCA_HUB_PUSH_RESULT_INIT;
	char line[5002];
	repo r;
	(void)state;
	new_repo(&r);
	memset(line, 'a', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	th_write_file(th_path(r.ws, ".arcaignore"), line, strlen(line));
	assert_int_equal(push(&r, "main", 0, &res), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "longer than 4095 bytes"));
}

/* Moves the branch on the server behind our back, right after our fetch. */
typedef struct {
	const repo *r;
	int done;
	int n;
} mover;

static int move_branch(arca_hub_stage_t stage, uint64_t cur, uint64_t total, uint64_t bytes,
		void *payload)
{
	mover *m = payload;
	(void)bytes;
	if (stage == ARCA_HUB_FETCH && cur == total && !m->done) {
		m->done = 1;
		m->n++;
		sh("cd '%s' && git clone -q -b main '%s' other && cd other && echo theirs > theirs%d.txt && "
			"git add theirs%d.txt && git -c user.name=x -c user.email=x@x commit -qm theirs && "
			"git push -q origin HEAD:main", tmp, m->r->bare, m->n, m->n);
		sh("rm -rf '%s/other'", tmp);
	}
	return 0;
}

static void moved_branch_is_not_overwritten_without_force(void **state)
{
	arca_hub_push_result a = ARCA_HUB_PUSH_RESULT_INIT, b = ARCA_HUB_PUSH_RESULT_INIT;
	arca_hub_remote rm;
	arca_hub_push_options o = ARCA_HUB_PUSH_OPTIONS_INIT;
	mover mv;
	repo r;
	char theirs[64];
	(void)state;
	new_repo(&r);
	assert_int_equal(push(&r, "main", 0, &a), 0);
	th_write_file(th_path(r.ws, "README"), "ours\n", 5);
	rm = remote_for(&r, TOKEN);
	mv.r = &r;
	mv.done = 0;
	mv.n = 0;
	rm.progress = move_branch;
	rm.payload = &mv;
	o.branch = "main";
	o.cache_dir = cache;
	assert_int_equal(arca_hub_push(&b, r.ws, &rm, &o), ARCA_ECONFLICT);
	assert_non_null(strstr(arca_error_last(), "moved on the hub"));
	snprintf(theirs, sizeof(theirs), "%s", out_of("git --git-dir='%s' rev-parse main", r.bare));
	assert_string_equal(out_of("git --git-dir='%s' show main:theirs1.txt", r.bare), "theirs\n");

	/* with --force ours wins even though the branch moves again */
	mv.done = 0;
	o.force = 1;
	assert_int_equal(arca_hub_push(&b, r.ws, &rm, &o), 0);
	assert_true(b.pushed);
	assert_int_equal(mv.n, 2);
	char tip[64];
	snprintf(tip, sizeof(tip), "%s\n", b.commit);
	assert_string_equal(out_of("git --git-dir='%s' rev-parse main", r.bare), tip);
	assert_string_equal(out_of("git --git-dir='%s' show main:README", r.bare), "ours\n");
	assert_null(strstr(ls_tree(&r, "main"), "theirs2.txt")); /* overwritten */
	assert_string_equal(b.parent, theirs[0] ? strtok(theirs, "\n") : "");
}

static void wrong_token_fails_once_with_a_clear_error(void **state)
{
	arca_hub_push_result res = ARCA_HUB_PUSH_RESULT_INIT;
	arca_hub_remote rm;
	arca_hub_push_options o = ARCA_HUB_PUSH_OPTIONS_INIT;
	repo r;
	char want[512];
	(void)state;
	new_repo(&r);
	rm = remote_for(&r, "not-the-token");
	o.branch = "main";
	o.cache_dir = cache;
	assert_int_equal(arca_hub_push(&res, r.ws, &rm, &o), ARCA_EAUTH);
	snprintf(want, sizeof(want), "hub push: authentication failed for %s", r.url);
	assert_string_equal(arca_error_last(), want);
	assert_null(strstr(arca_error_last(), "not-the-token"));
	/* no token at all */
	rm = remote_for(&r, "");
	assert_int_equal(arca_hub_push(&res, r.ws, &rm, &o), ARCA_EAUTH);
	assert_non_null(strstr(arca_error_last(), "no token was given"));
	/* nor from the environment: the library reads none */
	setenv("ARCA_HUB_TOKEN", TOKEN, 1);
	rm = remote_for(&r, NULL);
	assert_int_equal(arca_hub_push(&res, r.ws, &rm, &o), ARCA_EAUTH);
	unsetenv("ARCA_HUB_TOKEN");
	assert_null(strstr(arca_error_last(), "ARCA_"));
	assert_null(strstr(arca_error_last(), "--"));
	/* and the server saw nothing */
	assert_string_equal(out_of("git --git-dir='%s' for-each-ref | wc -l", r.bare), "0\n");
}

static void missing_repository_is_not_found(void **state)
{
	arca_hub_push_result res = ARCA_HUB_PUSH_RESULT_INIT;
	repo r;
	(void)state;
	new_repo(&r);
	snprintf(r.url, sizeof(r.url), "http://127.0.0.1:%d/git/missing.git", http_port);
	assert_int_equal(push(&r, "main", 0, &res), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_error_last(), "404"));
}

static void clone_gives_back_the_tree_and_pull_fast_forwards(void **state)
{
	arca_hub_push_result a = ARCA_HUB_PUSH_RESULT_INIT;
	arca_hub_remote rm;
	repo r;
	char dest[4400], commit[41];
	(void)state;
	new_repo(&r);
	assert_int_equal(push(&r, "env", 0, &a), 0);
	snprintf(dest, sizeof(dest), "%s/clone%d", tmp, repo_seq);
	rm = remote_for(&r, TOKEN);
	assert_int_equal(arca_hub_clone(dest, "env", &rm), 0);
	sh("diff -r --no-dereference -x .git -x node_modules -x '*.pyc' -x __pycache__ -x '*.swp' "
		"-x empty '%s' '%s'", r.ws, dest);
	assert_true(access(th_path(dest, "bin/run"), X_OK) == 0);

	th_write_file(th_path(r.ws, "README"), "v2\n", 3);
	assert_int_equal(push(&r, "env", 0, &a), 0);
	rm.url = NULL; /* use the clone's origin */
	assert_int_equal(arca_hub_pull(dest, &rm, commit), 0);
	assert_string_equal(commit, a.commit);
	assert_string_equal(out_of("cat '%s/README'", dest), "v2\n");

	assert_int_equal(arca_hub_clone(th_path(tmp, "nobranch"), "nope", &rm), ARCA_EINVAL);
	rm.url = r.url;
	assert_int_not_equal(arca_hub_clone(th_path(tmp, "nobranch"), "nope", &rm), 0);
}

/* The library reads no environment: the author and the cache directory are
 * what the caller passes, and a push without a cache directory is refused. */
static void push_uses_the_given_author_and_needs_a_cache_dir(void **state)
{
	arca_hub_push_result res = ARCA_HUB_PUSH_RESULT_INIT;
	arca_hub_remote rm;
	arca_hub_push_options o = ARCA_HUB_PUSH_OPTIONS_INIT;
	repo r;
	(void)state;
	new_repo(&r);
	rm = remote_for(&r, TOKEN);
	o.branch = "main";
	setenv("XDG_CACHE_HOME", tmp, 1);
	assert_int_equal(arca_hub_push(&res, r.ws, &rm, &o), ARCA_EINVAL);
	assert_non_null(strstr(arca_error_last(), "cache directory"));
	unsetenv("XDG_CACHE_HOME");
	assert_string_equal(out_of("git --git-dir='%s' for-each-ref | wc -l", r.bare), "0\n");

	setenv("GIT_AUTHOR_NAME", "from the environment", 1);
	o.cache_dir = cache;
	o.author_name = "Given Name";
	o.author_email = "given@example.org";
	assert_int_equal(arca_hub_push(&res, r.ws, &rm, &o), 0);
	assert_string_equal(out_of("git --git-dir='%s' log -1 --format='%%an <%%ae>|%%cn <%%ce>' main", r.bare),
		"Given Name <given@example.org>|Given Name <given@example.org>\n");
	th_write_file(th_path(r.ws, "README"), "v2\n", 3);
	o.author_name = NULL;
	o.author_email = NULL;
	assert_int_equal(arca_hub_push(&res, r.ws, &rm, &o), 0);
	assert_string_equal(out_of("git --git-dir='%s' log -1 --format='%%an <%%ae>' main", r.bare),
		"arca <arca@localhost>\n");
	unsetenv("GIT_AUTHOR_NAME");
}

static void push_over_git_daemon(void **state)
{
	arca_hub_push_result a = ARCA_HUB_PUSH_RESULT_INIT;
	repo r;
	(void)state;
	new_repo(&r);
	snprintf(r.url, sizeof(r.url), "git://127.0.0.1:%d/%s", git_port, r.name);
	assert_int_equal(push(&r, "main", 0, &a), 0);
	assert_true(a.pushed);
	assert_non_null(strstr(ls_tree(&r, "main"), "100755 bin/run\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_push_to_an_empty_repo),
		cmocka_unit_test(second_push_records_edits_on_top),
		cmocka_unit_test(unchanged_tree_pushes_nothing),
		cmocka_unit_test(gitignore_arcaignore_and_excludes_are_honoured),
		cmocka_unit_test(an_arcaignore_line_too_long_is_refused),
		cmocka_unit_test(moved_branch_is_not_overwritten_without_force),
		cmocka_unit_test(wrong_token_fails_once_with_a_clear_error),
		cmocka_unit_test(missing_repository_is_not_found),
		cmocka_unit_test(clone_gives_back_the_tree_and_pull_fast_forwards),
		cmocka_unit_test(push_uses_the_given_author_and_needs_a_cache_dir),
		cmocka_unit_test(push_over_git_daemon),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
