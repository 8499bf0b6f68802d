/* Remotes in a directory: push, pull, resume, races, damage, hostile
 * objects (docs/FORMAT.md, "Remote layout"). */
#include "helpers.h"
#include "arca/remote.h"
#include "sync/sync.h"
#include "sync/pull_data.h"
#include "sync/transport.h"
#include "cas/hash.h"
#include "util/progress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void make_tree(const char *dir, uint64_t seed, size_t big)
{
	char p[4096];
	assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
	th_write_random(th_path(dir, "big"), big, seed);
	th_write_random(th_path(dir, "small"), 5000, seed + 1);
	th_write_file(th_path(dir, "empty"), "", 0);
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_true(mkdir(p, 0750) == 0 || errno == EEXIST);
	th_write_random(th_path(p, "inner"), 70000, seed + 2);
	snprintf(p, sizeof(p), "%s/link", dir);
	unlink(p);
	assert_int_equal(symlink("sub/inner", p), 0);
}

static int push(arca_store *s, const char *remote, const char *ref, arca_sync_result *r)
{
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result tmp = ARCA_SYNC_RESULT_INIT;
	o.tmp_dir = getenv("TMPDIR");
	if (!r)
		r = &tmp;
	r->version = ARCA_SYNC_RESULT_VERSION;
	return arca_push(r, s, remote, &ref, 1, &o);
}

static int pull_jobs(arca_store *s, const char *remote, const char *ref, arca_sync_result *r,
		unsigned jobs)
{
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result tmp = ARCA_SYNC_RESULT_INIT;
	o.jobs = jobs;
	if (!r)
		r = &tmp;
	r->version = ARCA_SYNC_RESULT_VERSION;
	return arca_pull(r, s, remote, &ref, 1, &o);
}

static int pull(arca_store *s, const char *remote, const char *ref, arca_sync_result *r)
{
	return pull_jobs(s, remote, ref, r, 0);
}

/* Files under dir/sub whose names end with `suffix`. */
static int count_files(const char *dir, const char *sub, const char *suffix)
{
	DIR *d = opendir(th_path(dir, sub));
	struct dirent *de;
	int n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (de->d_name[0] != '.' && l >= sl && !strcmp(de->d_name + l - sl, suffix))
			n++;
	}
	closedir(d);
	return n;
}

static int count_remote(const char *name, const char *url, const char *region,
		int insecure_http, void *payload)
{
	(void)name;
	(void)region;
	(void)insecure_http;
	assert_non_null(url);
	(*(int *)payload)++;
	return 0;
}

static void remotes_are_kept_and_survive_repair(void **state)
{
	th_fixture *f = *state;
	int n = 0;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;

	assert_int_equal(arca_remote_add(f->s, "origin", th_path(f->tmp, "r"), NULL, 0), 0);
	assert_int_equal(arca_remote_add(f->s, "origin", "/x", NULL, 0), ARCA_EEXISTS);
	assert_int_equal(arca_remote_add(f->s, "bad/name", "/x", NULL, 0), ARCA_EINVAL);
	assert_int_equal(arca_remote_add(f->s, "two", "ftp://x/y", NULL, 0), ARCA_EINVAL);
	assert_int_equal(arca_remote_add(f->s, "other", "/srv/m", "eu-west-1", 1), 0);
	assert_int_equal(arca_remote_foreach(f->s, count_remote, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(arca_remote_remove(f->s, "other"), 0);
	assert_int_equal(arca_remote_remove(f->s, "other"), ARCA_ENOTFOUND);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	n = 0;
	assert_int_equal(arca_remote_foreach(f->s, count_remote, &n), 0);
	assert_int_equal(n, 1);
}

/* Entries of the named LMDB database of the (closed) store at `dir`. */
static size_t db_entries(const char *dir, const char *db)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat ms;
	char path[4096];
	snprintf(path, sizeof(path), "%s/index.lmdb", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	/* not the writer's (huge) map size: a sanitizer's address space
	 * cannot take it; LMDB rounds this up to what the file uses */
	assert_int_equal(mdb_env_set_mapsize(env, 1ull << 30), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &ms), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return ms.ms_entries;
}

static void push_then_pull_restores_identical_tree_and_image(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char img[4096];
	arca_sync_result res;
	arca_store *b;
	arca_id ia, ib;

	make_tree(f->src, 1, 900000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	snprintf(img, sizeof(img), "%s/disk.img", f->tmp);
	th_write_random(img, 3u << 20, 9);
	ia = th_snapshot(f->s, img, "disk", "v1", NULL);
	assert_int_equal(arca_remote_add(f->s, "origin", r, NULL, 0), 0);
	assert_int_equal(push(f->s, "origin", "web", &res), 0);
	assert_int_equal(res.artifacts, 1);
	assert_int_equal(res.refs_moved, 1);
	assert_true(res.objects >= 4);
	assert_int_equal(push(f->s, "origin", "disk:v1", NULL), 0);
	assert_int_equal(count_files(r, "", "ARCA-REMOTE"), 1);

	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "web", &res), 0);
	assert_int_equal(res.artifacts, 1);
	assert_int_equal(res.refs_moved, 1);
	assert_int_equal(pull(b, r, "disk:v1", NULL), 0);
	th_restore_equals(b, f->tmp, "web", f->src);
	{
		char out[4096];
		snprintf(out, sizeof(out), "%s/disk.out", f->tmp);
		assert_int_equal(arca_restore(b, "disk:v1", out, NULL, NULL), 0);
		assert_int_equal(th_file_equal(img, out), 0);
	}
	assert_int_equal(arca_resolve(&ib, b, "disk:v1"), 0);
	assert_memory_equal(ia.bytes, ib.bytes, 32);
	/* a second pull changes nothing */
	assert_int_equal(pull(b, r, "web", &res), 0);
	assert_int_equal(res.artifacts, 0);
	assert_int_equal(res.refs_moved, 0);
	arca_store_free(b);
	/* every pulled chunk has its MAC, as an ingested one does */
	assert_int_equal(db_entries(th_path(f->tmp, "b"), "macs"),
		db_entries(th_path(f->tmp, "b"), "chunks"));
	assert_true(db_entries(th_path(f->tmp, "b"), "macs") > 10);
}

typedef struct {
	int calls, ends;
	uint64_t first_items_total, first_bytes_total, end_items, end_bytes;
	uint64_t items_total, bytes_total; /* the largest before the end */
	int over;                 /* a done counter past its known total */
} prog_log;

static int log_progress(const arca_progress *p, void *payload)
{
	prog_log *l = payload;
	if (!l->calls++) {
		l->first_items_total = p->items_total;
		l->first_bytes_total = p->bytes_total;
	}
	if ((p->items_total && p->items_done > p->items_total) ||
	    (p->bytes_total && p->bytes_done > p->bytes_total))
		l->over = 1;
	if (!p->phase_end && p->items_total > l->items_total)
		l->items_total = p->items_total;
	if (!p->phase_end && p->bytes_total > l->bytes_total)
		l->bytes_total = p->bytes_total;
	if (p->phase_end) {
		l->ends++;
		l->end_items = p->items_done;
		l->end_bytes = p->bytes_done;
	}
	return 0;
}

/* A push knows its totals before it sends: every chunk it will send, and
 * bytes within a few percent of what it sends. */
static void a_push_reports_its_totals_up_front(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *ref = "web";
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	prog_log l = { 0 };

	make_tree(f->src, 12, 5u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	arca_sync__pack_target = 1u << 20; /* several packs */
	o.progress_cb = log_progress;
	o.progress_payload = &l;
	assert_int_equal(arca_push(&res, f->s, r, &ref, 1, &o), 0);
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	assert_int_equal(l.ends, 1);
	assert_false(l.over);
	assert_true(res.chunks > 0);
	assert_int_equal(l.first_items_total, res.chunks);
	assert_int_equal(l.end_items, res.chunks);
	assert_true(l.first_bytes_total > 0);
	assert_true(l.first_bytes_total >= l.end_bytes * 95 / 100 &&
		l.first_bytes_total <= l.end_bytes * 105 / 100);
}

/* A pull learns its totals once it has the indexes: reported before the
 * downloads end, never passed by the done counters. */
static void a_pull_reports_totals_once_it_knows_them(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *ref = "web";
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	prog_log l = { 0 };
	arca_store *b;

	make_tree(f->src, 13, 5u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	arca_sync__pack_target = 1u << 20;
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	b = th_store_open(th_path(f->tmp, "b"));
	arca_progress__interval_ns = 0;
	o.progress_cb = log_progress;
	o.progress_payload = &l;
	assert_int_equal(arca_pull(&res, b, r, &ref, 1, &o), 0);
	arca_progress__interval_ns = 100 * 1000000;
	assert_int_equal(l.ends, 1);
	assert_false(l.over);
	assert_int_equal(l.items_total, res.chunks);
	assert_true(l.bytes_total >= res.bytes * 9 / 10 && l.bytes_total <= res.bytes);
	arca_store_free(b);
}

static void a_second_push_sends_no_pack(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	arca_sync_result res;

	make_tree(f->src, 2, 600000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(arca_remote_add(f->s, "origin", r, NULL, 0), 0);
	assert_int_equal(push(f->s, "origin", "web", NULL), 0);
	int packs = count_files(r, "packs", ".arcp");
	assert_true(packs >= 1);
	assert_int_equal(push(f->s, "origin", "web", &res), 0);
	assert_int_equal(res.objects, 0);
	assert_int_equal(res.refs_moved, 0);
	assert_int_equal(count_files(r, "packs", ".arcp"), packs);

	/* new content that shares most chunks: only what is new is sent */
	th_write_random(th_path(f->src, "extra"), 100000, 77);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, "origin", "web", &res), 0);
	assert_int_equal(res.refs_moved, 1);
	assert_true(res.bytes < 400000);
}

static void a_pull_fetches_only_the_records_the_store_lacks(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char part[4096], cmd[16384];
	arca_sync_result res;
	arca_store *b;
	off_t packsize = 0;
	DIR *d;
	struct dirent *de;

	make_tree(f->src, 10, 8u << 20);
	th_write_random(th_path(f->src, "mid"), 200000, 11);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	assert_non_null(d = opendir(th_path(r, "packs")));
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".arcp"))
			packsize += th_file_size(th_path(th_path(r, "packs"), de->d_name));
	closedir(d);

	/* a store that has everything but "mid" */
	snprintf(part, sizeof(part), "%s/part", f->tmp);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s' && rm '%s/mid'", f->src, part, part);
	assert_int_equal(system(cmd), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	th_snapshot(b, part, "part", NULL, NULL);
	assert_int_equal(pull(b, r, "web", &res), 0);
	assert_true(res.bytes < (uint64_t)packsize / 2);
	assert_true(res.chunks >= 1);
	th_restore_equals(b, f->tmp, "web", f->src);
	arca_store_free(b);

	/* the same one GET at a time */
	b = th_store_open(th_path(f->tmp, "b1"));
	th_snapshot(b, part, "part", NULL, NULL);
	assert_int_equal(pull_jobs(b, r, "web", &res, 1), 0);
	assert_true(res.bytes < (uint64_t)packsize / 2);
	th_restore_equals(b, f->tmp, "web", f->src);
	arca_store_free(b);
}

static void a_pack_gone_from_the_remote_is_sent_again(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char cmd[8192];
	arca_store *b;

	make_tree(f->src, 12, 400000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(arca_remote_add(f->s, "origin", r, NULL, 0), 0);
	assert_int_equal(push(f->s, "origin", "web", NULL), 0);
	/* the remote loses everything; the cache still names its packs */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r);
	assert_int_equal(system(cmd), 0);
	th_write_random(th_path(f->src, "new"), 1000, 13);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, "origin", "web", NULL), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "web", NULL), 0);
	th_restore_equals(b, f->tmp, "web", f->src);
	arca_store_free(b);
}

static int kill_after_first_pack(const arca_progress *p, void *payload)
{
	(void)payload;
	if (p->items_done >= 1)
		raise(SIGKILL);
	return 0;
}

static void a_killed_push_resumes_without_sending_finished_packs(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	struct stat before[64], st;
	char names[64][300];
	int nbefore = 0, status;
	DIR *d;
	struct dirent *de;
	pid_t pid;

	make_tree(f->src, 3, 3u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(arca_remote_add(f->s, "origin", r, NULL, 0), 0);
	arca_store_free(f->s);
	f->s = NULL;
	arca_sync__pack_target = 512u << 10;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
		arca_sync_result res = ARCA_SYNC_RESULT_INIT;
		const char *ref = "web";
		arca_progress__interval_ns = 0;
		o.jobs = 1;
		o.progress_cb = kill_after_first_pack;
		if (arca_store_open(&s, f->storedir, NULL) != 0)
			_exit(3);
		arca_push(&res, s, "origin", &ref, 1, &o);
		_exit(4); /* not killed: the test fails */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	/* at least one whole pack and its index are there, no ref yet */
	assert_non_null(d = opendir(th_path(r, "packs")));
	while ((de = readdir(d)) != NULL && nbefore < 64) {
		if (de->d_name[0] == '.' || !strstr(de->d_name, ".arcp"))
			continue;
		snprintf(names[nbefore], sizeof(names[0]), "%s/packs/%s", r, de->d_name);
		assert_int_equal(stat(names[nbefore], &before[nbefore]), 0);
		nbefore++;
	}
	closedir(d);
	assert_true(nbefore >= 1);
	assert_int_equal(count_files(r, "refs/web/latest", ""), 0);

	f->s = th_store_open(f->storedir);
	assert_int_equal(push(f->s, "origin", "web", NULL), 0);
	for (int i = 0; i < nbefore; i++) {
		assert_int_equal(stat(names[i], &st), 0);
		assert_int_equal(st.st_ino, before[i].st_ino); /* not written again */
	}
	assert_true(count_files(r, "packs", ".arcp") > nbefore);
	{
		arca_store *b = th_store_open(th_path(f->tmp, "b"));
		assert_int_equal(pull(b, r, "web", NULL), 0);
		th_restore_equals(b, f->tmp, "web", f->src);
		arca_store_free(b);
	}
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
}

/* Forks a pusher of `ref` from store `dir` that waits for a byte on `go`;
 * its exit status: 0, 5 for ARCA_EEXISTS, 1 otherwise. */
static pid_t racer(const char *dir, const char *remote, int go)
{
	pid_t pid = fork();
	if (pid == 0) {
		arca_store *s = NULL;
		char c;
		int rc;
		if (arca_store_open(&s, dir, NULL) != 0 || read(go, &c, 1) != 1)
			_exit(1);
		rc = push(s, remote, "web", NULL);
		_exit(rc == 0 ? 0 : rc == ARCA_EEXISTS ? 5 : 1);
	}
	return pid;
}

static void racing_pushers_one_wins_and_a_descendant_follows(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char sa[4096], sb[4096], srcb[4096], key[512];
	arca_store *a, *b;
	arca_id ida, idb, winner;
	int go[2], st[2], wins = 0, losses = 0;
	pid_t pids[2];
	arca_transport *t;
	uint64_t nreq = 0;
	arca_ref_entry e;

	snprintf(sa, sizeof(sa), "%s/sa", f->tmp);
	snprintf(sb, sizeof(sb), "%s/sb", f->tmp);
	snprintf(srcb, sizeof(srcb), "%s/srcb", f->tmp);
	make_tree(f->src, 4, 300000);
	make_tree(srcb, 5, 300000);
	a = th_store_open(sa);
	b = th_store_open(sb);
	ida = th_snapshot(a, f->src, "web", NULL, NULL);
	idb = th_snapshot(b, srcb, "web", NULL, NULL);
	arca_store_free(a);
	arca_store_free(b);

	assert_int_equal(pipe(go), 0);
	pids[0] = racer(sa, r, go[0]);
	pids[1] = racer(sb, r, go[0]);
	assert_int_equal(write(go[1], "xx", 2), 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &st[i], 0), pids[i]);
		assert_true(WIFEXITED(st[i]));
		wins += WEXITSTATUS(st[i]) == 0;
		losses += WEXITSTATUS(st[i]) == 5;
	}
	close(go[0]);
	close(go[1]);
	assert_int_equal(wins, 1);
	assert_int_equal(losses, 1);

	/* entry 1 only, no prev */
	assert_int_equal(arca_transport_dir_open(&t, r), 0);
	assert_int_equal(arca_sync__ref_current(t, "web", "latest", 0, &e, &nreq), 1);
	assert_int_equal(e.seq, 1);
	assert_false(e.has_prev);
	winner = e.id;
	assert_true(!memcmp(winner.bytes, ida.bytes, 32) || !memcmp(winner.bytes, idb.bytes, 32));

	/* the loser takes the winner's artifact and builds on it */
	{
		int a_won = !memcmp(winner.bytes, ida.bytes, 32);
		const char *ldir = a_won ? sb : sa, *lsrc = a_won ? srcb : f->src;
		arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
		char par[ARCA_ID_STRLEN];
		arca_id nid;
		arca_store *l = th_store_open(ldir);
		/* its own web:latest is the losing artifact: pulling the ref
		 * would not move forward, so it takes the winner by id */
		assert_int_equal(pull(l, r, "web", NULL), ARCA_EEXISTS);
		arca_id_format(par, &winner);
		assert_int_equal(pull(l, r, par, NULL), 0);
		th_write_random(th_path(lsrc, "more"), 1000, 99);
		o.name = "web";
		o.parent = par;
		assert_int_equal(arca_snapshot(&nid, l, lsrc, &o, NULL), 0);
		assert_int_equal(push(l, r, "web", NULL), 0);
		assert_int_equal(arca_sync__ref_current(t, "web", "latest", 0, &e, &nreq), 1);
		assert_int_equal(e.seq, 2);
		assert_true(e.has_prev);
		assert_memory_equal(e.prev.bytes, winner.bytes, 32);
		assert_memory_equal(e.id.bytes, nid.bytes, 32);
		arca_store_free(l);
	}
	/* the other store's old artifact is refused, then forced */
	{
		int a_won = !memcmp(winner.bytes, ida.bytes, 32);
		arca_store *w = th_store_open(a_won ? sa : sb);
		arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
		arca_sync_result res = ARCA_SYNC_RESULT_INIT;
		const char *ref = "web";
		assert_int_equal(push(w, r, "web", NULL), ARCA_EEXISTS);
		o.force = 1;
		assert_int_equal(arca_push(&res, w, r, &ref, 1, &o), 0);
		assert_int_equal(arca_sync__ref_current(t, "web", "latest", 0, &e, &nreq), 1);
		assert_int_equal(e.seq, 3);
		arca_store_free(w);
	}
	snprintf(key, sizeof(key), "%s/refs/web/latest/HEAD", r);
	assert_int_equal(access(key, F_OK), 0);
	t->free(t);
}

static int count_ref(const char *name, const char *tag, const arca_id *id, void *payload)
{
	(void)name;
	(void)tag;
	(void)id;
	(*(int *)payload)++;
	return 0;
}

static void a_corrupt_pack_fails_the_pull_and_leaves_the_store_alone(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char srcb[4096], pk[4096];
	arca_store *b;
	arca_store_stats s0 = { .version = ARCA_STORE_STATS_VERSION }, s1 = s0;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	int refs0 = 0, refs1 = 0;
	DIR *d;
	struct dirent *de;
	int fd;
	uint8_t c;
	off_t size;

	make_tree(f->src, 6, 500000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	assert_non_null(d = opendir(th_path(r, "packs")));
	pk[0] = '\0';
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".arcp"))
			snprintf(pk, sizeof(pk), "%s/packs/%s", r, de->d_name);
	closedir(d);
	assert_true(pk[0] != '\0');
	fd = open(pk, O_RDWR);
	assert_true(fd >= 0);
	size = lseek(fd, 0, SEEK_END);
	assert_int_equal(pread(fd, &c, 1, size / 2), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, size / 2), 1);
	close(fd);

	snprintf(srcb, sizeof(srcb), "%s/srcb", f->tmp);
	make_tree(srcb, 7, 100000);
	b = th_store_open(th_path(f->tmp, "b"));
	th_snapshot(b, srcb, "mine", NULL, NULL);
	assert_int_equal(arca_store_stats_get(&s0, b), 0);
	assert_int_equal(arca_ref_foreach(b, count_ref, &refs0), 0);
	assert_int_equal(pull(b, r, "web", NULL), ARCA_ECORRUPT);
	assert_int_equal(arca_store_stats_get(&s1, b), 0);
	assert_int_equal(arca_ref_foreach(b, count_ref, &refs1), 0);
	assert_int_equal(refs0, refs1);
	assert_int_equal(s0.artifacts, s1.artifacts);
	assert_int_equal(s0.chunks, s1.chunks);
	assert_int_equal(s0.stored_bytes, s1.stored_bytes);
	assert_int_equal(arca_verify(&vr, b), 0);
	assert_int_equal(vr.chunks_damaged, 0);
	arca_verify_result_clear(&vr);
	arca_store_free(b);
}

static void largest_pack(const char *r, char *pk, size_t cap)
{
	DIR *d = opendir(th_path(r, "packs"));
	struct dirent *de;
	off_t best = -1;
	char p[4096];
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".arcp")) {
			snprintf(p, sizeof(p), "%s/packs/%s", r, de->d_name);
			if (th_file_size(p) > best) {
				best = th_file_size(p);
				snprintf(pk, cap, "%s", p);
			}
		}
	closedir(d);
	assert_true(best > 0);
}

static void read_whole(const char *path, uint8_t **p, size_t *n);

/* Cancels a pull at its `at`-th progress call after the first data bytes. */
typedef struct {
	int calls, at;
} cancel_at;

static int cancel_progress(const arca_progress *p, void *payload)
{
	cancel_at *c = payload;
	return p->bytes_done && ++c->calls >= c->at ? 1 : 0;
}

static void store_same(arca_store *b, const arca_store_stats *s0, int refs0)
{
	arca_store_stats s1 = { .version = ARCA_STORE_STATS_VERSION };
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	int refs1 = 0;
	assert_int_equal(arca_store_stats_get(&s1, b), 0);
	assert_int_equal(arca_ref_foreach(b, count_ref, &refs1), 0);
	assert_int_equal(refs0, refs1);
	assert_int_equal(s0->artifacts, s1.artifacts);
	assert_int_equal(s0->chunks, s1.chunks);
	assert_int_equal(s0->stored_bytes, s1.stored_bytes);
	assert_int_equal(arca_verify(&vr, b), 0);
	assert_int_equal(vr.chunks_damaged, 0);
	arca_verify_result_clear(&vr);
}

/* The data of a pull comes in pieces cut at record boundaries, each GET
 * and checked on its own thread: many small pieces give the same store;
 * a damaged record in one of them, or a cancel while they come, leave the
 * store as it was. */
static void a_pull_in_many_pieces(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	arca_store_stats s0 = { .version = ARCA_STORE_STATS_VERSION };
	const char *ref = "web";
	char pk[4096], *msg;
	cancel_at ca = { 0, 3 };
	uint64_t whole;
	arca_store *b;
	uint8_t c;
	off_t size;
	int fd, refs0 = 0;

	make_tree(f->src, 21, 6u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	b = th_store_open(th_path(f->tmp, "d"));
	assert_int_equal(pull(b, r, "web", &res), 0);
	whole = res.requests;
	arca_store_free(b);
	arca_sync__pull_piece = 64u << 10;

	/* cancelled while the pieces come: nothing added, no thread left */
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(arca_store_stats_get(&s0, b), 0);
	o.jobs = 3;
	o.progress_cb = cancel_progress;
	o.progress_payload = &ca;
	arca_progress__interval_ns = 0;
	assert_int_equal(arca_pull(&res, b, r, &ref, 1, &o), ARCA_EUSER);
	arca_progress__interval_ns = 100 * 1000000;
	assert_true(ca.calls >= 3);
	store_same(b, &s0, refs0);

	/* the whole of it, in pieces: the same tree back */
	o.progress_cb = NULL;
	assert_int_equal(arca_pull(&res, b, r, &ref, 1, &o), 0);
	assert_true(res.requests >= whole + 3);
	th_restore_equals(b, f->tmp, "web", f->src);
	arca_store_free(b);

	/* a record damaged in one piece: the pull fails naming pack and
	 * offset, the store it pulled into is as it was */
	largest_pack(r, pk, sizeof(pk));
	assert_true((fd = open(pk, O_RDWR)) >= 0);
	size = lseek(fd, 0, SEEK_END);
	assert_int_equal(pread(fd, &c, 1, size / 2), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, size / 2), 1);
	close(fd);
	b = th_store_open(th_path(f->tmp, "c"));
	assert_int_equal(arca_store_stats_get(&s0, b), 0);
	assert_int_equal(arca_ref_foreach(b, count_ref, &refs0), 0);
	assert_int_equal(arca_pull(&res, b, r, &ref, 1, &o), ARCA_ECORRUPT);
	msg = strdup(arca_error_last());
	assert_non_null(strstr(msg, "pack "));
	assert_non_null(strstr(msg, "offset"));
	free(msg);
	store_same(b, &s0, refs0);
	arca_store_free(b);
	arca_sync__pull_piece = 8u << 20;
}

/* Rewrites the index of the one pack the remote holds, with a valid
 * trailer: the entry at the second lowest offset moved by `shift` bytes;
 * with `grow`, the pack size grown by it and the last record 3 GiB long. */
static void lie_in_index(const char *r, uint64_t shift, uint64_t grow)
{
	DIR *d = opendir(th_path(r, "packs"));
	struct dirent *de;
	char p[4096];
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		uint8_t *bytes;
		size_t len;
		arca_pidx x;
		arca_buf enc = ARCA_BUF_INIT(SIZE_MAX);
		uint32_t lo = 0, second = UINT32_MAX;
		if (!strstr(de->d_name, ".idx"))
			continue;
		snprintf(p, sizeof(p), "%s/packs/%s", r, de->d_name);
		read_whole(p, &bytes, &len);
		assert_int_equal(arca_pidx_decode(&x, bytes, len), 0);
		free(bytes);
		for (uint32_t i = 0; i < x.n; i++)
			if (x.e[i].offset < x.e[lo].offset)
				lo = i;
		for (uint32_t i = 0; i < x.n; i++)
			if (x.e[i].offset > x.e[lo].offset &&
			    (second == UINT32_MAX || x.e[i].offset < x.e[second].offset))
				second = i;
		assert_true(second != UINT32_MAX);
		x.e[second].offset += shift;
		x.e[second].length -= (uint32_t)shift;
		if (grow) {
			uint32_t hi = 0;
			for (uint32_t i = 0; i < x.n; i++)
				if (x.e[i].offset > x.e[hi].offset)
					hi = i;
			for (uint32_t i = 0; i < x.n; i++)
				if (x.e[i].offset == x.e[hi].offset)
					x.e[i].length = 3u << 30; /* every member of it */
		}
		assert_int_equal(arca_pidx_encode(&enc, x.pack_sha, x.pack_size + grow, x.e, x.n), 0);
		th_write_file(p, enc.ptr, enc.len);
		arca_buf_release(&enc);
		arca_pidx_clear(&x);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
}

/* A pull cuts its GETs where the index says records start: an index
 * that lies about a start, or about the pack's size, fails the pull with
 * a clear error (never a chunk taken unchecked, never memory for what the
 * lie claims) and leaves the store as it was. */
static void a_lying_index_fails_the_pull_cleanly(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *r2 = th_path(f->tmp, "remote2");
	arca_store_stats s0 = { .version = ARCA_STORE_STATS_VERSION };
	arca_store *b;

	make_tree(f->src, 23, 3u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	assert_int_equal(push(f->s, r2, "web", NULL), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(arca_store_stats_get(&s0, b), 0);
	arca_sync__pull_piece = 1; /* a piece at every start the index gives */

	lie_in_index(r, 1, 0);
	assert_int_equal(pull(b, r, "web", NULL), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "pack "));
	store_same(b, &s0, 0);

	/* a record of 3 GiB in a pack said to be 1 TiB larger: refused
	 * before any GET of it */
	lie_in_index(r2, 0, 1ull << 40);
	assert_int_equal(pull(b, r2, "web", NULL), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "without a record start"));
	store_same(b, &s0, 0);
	arca_sync__pull_piece = 8u << 20;
	arca_store_free(b);
}

static void write_obj(const char *root, const char *key, const char *text)
{
	arca_transport *t;
	assert_int_equal(arca_transport_dir_open(&t, root), 0);
	assert_int_equal(arca_transport_put_buf(t, key, text, strlen(text), 0), 0);
	t->free(t);
}

/* The .idx objects under the remote's packs/, in name order. */
static int remote_indexes(const char *r, char names[][4096], int cap)
{
	DIR *d = opendir(th_path(r, "packs"));
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".idx") && n < cap)
			snprintf(names[n++], 4096, "%s/packs/%s", r, de->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	return n;
}

/* An artifact over many packs: their indexes come several at a time. All
 * of them arrive whatever the jobs; one gone, or one that names another
 * pack, fails the pull with an error that says so, the store unchanged. */
static void the_indexes_of_many_packs_come_in_parallel(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	static char idx[64][4096];
	char aside[4096 + 8];
	arca_store_stats s0 = { .version = ARCA_STORE_STATS_VERSION };
	arca_store *b;
	int n;

	make_tree(f->src, 12, 5u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	arca_sync__pack_target = 512u << 10;
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	n = remote_indexes(r, idx, 64);
	assert_true(n > 4); /* more than run at once */

	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(arca_store_stats_get(&s0, b), 0);
	snprintf(aside, sizeof(aside), "%s.aside", idx[n / 2]);
	assert_int_equal(rename(idx[n / 2], aside), 0);
	for (unsigned jobs = 1; jobs <= 8; jobs *= 8) {
		assert_int_equal(pull_jobs(b, r, "web", NULL, jobs), ARCA_ECORRUPT);
		assert_non_null(strstr(arca_error_last(), "is missing"));
		store_same(b, &s0, 0);
	}
	/* another pack's index in its place */
	assert_int_equal(link(idx[0], idx[n / 2]), 0);
	assert_int_equal(pull_jobs(b, r, "web", NULL, 8), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "names another pack"));
	store_same(b, &s0, 0);
	assert_int_equal(unlink(idx[n / 2]), 0);
	assert_int_equal(rename(aside, idx[n / 2]), 0);
	assert_int_equal(pull_jobs(b, r, "web", NULL, 8), 0);
	th_restore_equals(b, f->tmp, "web", f->src);
	arca_store_free(b);
	b = th_store_open(th_path(f->tmp, "c"));
	assert_int_equal(pull_jobs(b, r, "web", NULL, 1), 0);
	th_restore_equals(b, f->tmp, "web", f->src);
	arca_store_free(b);
}

static void hostile_keys_and_ref_entries_are_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	static const char *bad_keys[] = { "../x", "/etc/passwd", "a//b", "a/../b", ".tmp-1",
		"a/.hidden", "", "a/", "a b" };
	arca_transport *t;
	arca_buf b = ARCA_BUF_INIT(1024);
	uint64_t size;
	arca_id id;
	char entry[1024];

	assert_int_equal(arca_transport_dir_open(&t, r), 0);
	for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		assert_int_equal(arca_transport_put_buf(t, bad_keys[i], "x", 1, 0), ARCA_EINVAL);
		assert_int_equal(arca_transport_get_all(t, bad_keys[i], &b), ARCA_EINVAL);
		assert_int_equal(t->head(t, bad_keys[i], &size), ARCA_EINVAL);
	}
	assert_int_equal(arca_transport_put_buf(t, "k/one", "1", 1, 1), 0);
	assert_int_equal(arca_transport_put_buf(t, "k/one", "2", 1, 1), ARCA_EEXISTS);
	assert_int_equal(arca_transport_get_all(t, "k/one", &b), 0);
	assert_int_equal(b.len, 1);
	assert_int_equal(b.ptr[0], '1');
	assert_int_equal(arca_transport_get_all(t, "k/none", &b), ARCA_ENOTFOUND);
	/* a symlink inside the remote is never followed, at any depth */
	{
		char out[4096], lnk[4096];
		snprintf(out, sizeof(out), "%s/outside", f->tmp);
		assert_int_equal(mkdir(out, 0755), 0);
		th_write_file(th_path(out, "secret"), "s", 1);
		snprintf(lnk, sizeof(lnk), "%s/ln", r);
		assert_int_equal(symlink(out, lnk), 0);
		assert_int_equal(arca_transport_get_all(t, "ln/secret", &b), ARCA_ENOTFOUND);
		assert_int_equal(t->head(t, "ln/secret", &size), ARCA_ENOTFOUND);
		assert_int_equal(arca_transport_put_buf(t, "ln/new", "x", 1, 0), ARCA_EUNSAFE);
		assert_int_equal(t->remove(t, "ln/secret"), 0);
		assert_int_equal(access(th_path(out, "secret"), F_OK), 0);
		assert_int_equal(access(th_path(out, "new"), F_OK), -1);
	}
	t->free(t);
	arca_buf_release(&b);

	make_tree(f->src, 8, 100000);
	id = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	/* entry 2 that names another ref, then one with an extra line */
	{
		char hex[65];
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", id.bytes[i]);
		snprintf(entry, sizeof(entry), "arca-ref 1\nref other:latest\nseq 2\nid %s\n"
			"prev none\ntime 1\n", hex);
		write_obj(r, "refs/web/latest/0000000000000002", entry);
		arca_store *b2 = th_store_open(th_path(f->tmp, "b2"));
		assert_int_equal(pull(b2, r, "web", NULL), ARCA_ECORRUPT);
		snprintf(entry, sizeof(entry), "arca-ref 1\nref web:latest\nseq 2\nid %s\n"
			"prev none\ntime 1\nextra\n", hex);
		write_obj(r, "refs/web/latest/0000000000000002", entry);
		assert_int_equal(pull(b2, r, "web", NULL), ARCA_ECORRUPT);
		/* an entry pointing at an artifact the remote lacks */
		snprintf(entry, sizeof(entry), "arca-ref 1\nref web:latest\nseq 2\nid %s\n"
			"prev none\ntime 1\n", "ab00000000000000000000000000000000000000000000000000000000000000");
		write_obj(r, "refs/web/latest/0000000000000002", entry);
		assert_int_equal(pull(b2, r, "web", NULL), ARCA_ENOTFOUND);
		arca_store_free(b2);
	}
	/* an artifact object that holds another artifact: its manifest does
	 * not hash to the id its key names */
	{
		char src2[4096], ka[4096], kb[4096], hexa[65], hexb[65], cmd[16384];
		arca_id id2;
		snprintf(src2, sizeof(src2), "%s/src2", f->tmp);
		make_tree(src2, 31, 50000);
		id2 = th_snapshot(f->s, src2, "other", NULL, NULL);
		assert_int_equal(push(f->s, r, "other", NULL), 0);
		for (int i = 0; i < 32; i++) {
			snprintf(hexa + 2 * i, 3, "%02x", id.bytes[i]);
			snprintf(hexb + 2 * i, 3, "%02x", id2.bytes[i]);
		}
		snprintf(ka, sizeof(ka), "%s/artifacts/%s", r, hexa);
		snprintf(kb, sizeof(kb), "%s/artifacts/%s", r, hexb);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", kb, ka);
		assert_int_equal(system(cmd), 0);
		snprintf(entry, sizeof(entry), "art_%s", hexa);
		arca_store *b4 = th_store_open(th_path(f->tmp, "b4"));
		assert_int_equal(pull(b4, r, entry, NULL), ARCA_ECORRUPT);
		assert_non_null(strstr(arca_error_last(), "does not hash to its id"));
		arca_store_free(b4);
	}
	/* not a remote */
	{
		arca_store *b3 = th_store_open(th_path(f->tmp, "b3"));
		assert_int_equal(pull(b3, th_path(f->tmp, "nothing"), "web", NULL), ARCA_ENOTFOUND);
		arca_store_free(b3);
	}
}

static int list_ref(const char *name, const char *tag, const arca_id *id, void *payload)
{
	(void)id;
	if (!strcmp(name, "web") && !strcmp(tag, "latest"))
		(*(int *)payload)++;
	else
		(*(int *)payload) += 100;
	return 0;
}

static void remote_refs_are_listed(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	int n = 0;
	make_tree(f->src, 9, 100000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	assert_int_equal(arca_remote_ref_foreach(f->s, r, NULL, list_ref, &n), 0);
	assert_int_equal(n, 1);
}

/* restore --from: the bytes come from the remote, the store gains nothing
 * and no temporary file is left afterwards. */
static void a_remote_restore_adds_nothing_to_the_store(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char tmpdir[4096], out[4096];
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result pulled = ARCA_SYNC_RESULT_INIT;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	arca_store_stats before = ARCA_STORE_STATS_INIT, after = ARCA_STORE_STATS_INIT;
	arca_store *b;

	make_tree(f->src, 4, 300000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(arca_remote_add(b, "origin", r, NULL, 0), 0);
	assert_int_equal(arca_store_stats_get(&before, b), 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmpd", f->tmp);
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	so.tmp_dir = tmpdir;
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	assert_int_equal(arca_remote_restore(&st, b, "origin", "web", out, NULL, &so, &pulled), 0);
	{
		char why[512];
		assert_int_equal(th_tree_equal(f->src, out, why, sizeof(why)), 0);
	}
	assert_int_equal(pulled.artifacts, 1);
	assert_true(st.entries > 0);
	assert_int_equal(arca_store_stats_get(&after, b), 0);
	assert_int_equal(after.artifacts, 0);
	assert_int_equal(after.chunks, before.chunks);
	assert_int_equal(count_files(tmpdir, "", ""), 0);
	/* an unknown ref fails, and still leaves nothing behind */
	snprintf(out, sizeof(out), "%s/out2", f->tmp);
	assert_int_equal(arca_remote_restore(NULL, b, "origin", "nope", out, NULL, &so, NULL),
		ARCA_ENOTFOUND);
	assert_int_equal(count_files(tmpdir, "", ""), 0);
	/* an existing DEST is refused before any data is fetched */
	pulled = (arca_sync_result)ARCA_SYNC_RESULT_INIT;
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	assert_int_equal(arca_remote_restore(NULL, b, "origin", "web", out, NULL, &so, &pulled),
		ARCA_EEXISTS);
	assert_non_null(strstr(arca_error_last(), "already exists"));
	assert_true(pulled.bytes > 0 && pulled.bytes < 4096); /* the ref and the artifact object only */
	arca_store_free(b);
}

/* ---- restore --from streams from the remote ---- */

/* A tree with many small files (their chunks share group records), a
 * large one and a sparse image with holes, in store f->s and pushed. */
static void make_remote_content(th_fixture *f, const char *r, char *img, size_t n)
{
	char p[4096];
	make_tree(f->src, 21, 2u << 20);
	snprintf(p, sizeof(p), "%s/many", f->src);
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < 200; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%03d", i);
		th_write_random(th_path(p, name), 300 + (size_t)i * 37, 100 + (uint64_t)i);
	}
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	snprintf(img, n, "%s/disk.img", f->tmp);
	th_write_random(img, 1u << 20, 31);
	th_pwrite_random(img, 6u << 20, 700000, 32);
	assert_int_equal(truncate(img, 9u << 20), 0);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	assert_int_equal(push(f->s, r, "web", NULL), 0);
	assert_int_equal(push(f->s, r, "disk", NULL), 0);
}

static int remote_restore_jobs(arca_store *s, const char *r, const char *ref, const char *out,
		const char *tmpdir, unsigned jobs, arca_sync_result *pulled)
{
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	so.tmp_dir = tmpdir;
	so.jobs = jobs;
	return arca_remote_restore(NULL, s, r, ref, out, NULL, &so, pulled);
}

static void a_remote_restore_equals_a_local_restore(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char img[4096], tmpdir[4096], local[4096], out[4096], why[512];
	arca_store_stats s0 = ARCA_STORE_STATS_INIT, s1 = ARCA_STORE_STATS_INIT;
	arca_sync_result pulled = ARCA_SYNC_RESULT_INIT;
	arca_store *b;
	unsigned jobs[] = { 1, 4, 3 };

	make_remote_content(f, r, img, sizeof(img));
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmpd", f->tmp);
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(arca_store_stats_get(&s0, b), 0);
	for (size_t j = 0; j < 3; j++) {
		/* the last: small pieces that cut records apart */
		arca_sync__restore_piece = j == 2 ? 65537 : 4u << 20;
		snprintf(local, sizeof(local), "%s/local-tree%zu", f->tmp, j);
		assert_int_equal(arca_restore(f->s, "web", local, NULL, NULL), 0);
		snprintf(out, sizeof(out), "%s/remote-tree%zu", f->tmp, j);
		assert_int_equal(remote_restore_jobs(b, r, "web", out, tmpdir, jobs[j], &pulled), 0);
		if (th_tree_equal(local, out, why, sizeof(why)) != 0)
			fail_msg("jobs %u: tree differs: %s", jobs[j], why);
		assert_int_equal(th_tree_equal(f->src, out, why, sizeof(why)), 0);
		assert_int_equal(pulled.artifacts, 1);
		assert_true(pulled.chunks > 200);
		assert_true(pulled.objects >= 3);
		assert_true(pulled.requests >= pulled.objects);
		snprintf(local, sizeof(local), "%s/local-disk%zu", f->tmp, j);
		assert_int_equal(arca_restore(f->s, "disk", local, NULL, NULL), 0);
		snprintf(out, sizeof(out), "%s/remote-disk%zu", f->tmp, j);
		assert_int_equal(remote_restore_jobs(b, r, "disk", out, tmpdir, jobs[j], NULL), 0);
		assert_int_equal(th_file_equal(local, out), 0);
		assert_int_equal(th_file_equal(img, out), 0);
		assert_int_equal(count_files(tmpdir, "", ""), 0);
	}
	arca_sync__restore_piece = 4u << 20;
	/* the caller's store gains nothing */
	assert_int_equal(arca_store_stats_get(&s1, b), 0);
	assert_int_equal(s1.artifacts, 0);
	assert_int_equal(s1.chunks, s0.chunks);
	assert_int_equal(s1.stored_bytes, s0.stored_bytes);
	arca_store_free(b);
}

static void read_whole(const char *path, uint8_t **p, size_t *n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*n = (size_t)st.st_size;
	*p = malloc(*n + 1);
	assert_int_equal(read(fd, *p, *n), (ssize_t)*n);
	close(fd);
}

static void flip_byte(const char *path, double where)
{
	int fd = open(path, O_RDWR);
	off_t size;
	uint8_t c;
	assert_true(fd >= 0);
	size = lseek(fd, 0, SEEK_END);
	assert_int_equal(pread(fd, &c, 1, (off_t)((double)size * where)), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)((double)size * where)), 1);
	close(fd);
}

/* Every pack object of the remote into paths[] (suffix .arcp or .idx). */
static int remote_files(const char *r, const char *suffix, char (*paths)[4096], int max)
{
	DIR *d = opendir(th_path(r, "packs"));
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < max) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (l > sl && !strcmp(de->d_name + l - sl, suffix))
			snprintf(paths[n++], 4096, "%s/packs/%s", r, de->d_name);
	}
	closedir(d);
	return n;
}

static void a_flipped_record_fails_the_remote_restore(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char img[4096], tmpdir[4096], out[4096], why[512], packs[8][4096];
	arca_store_stats s0 = ARCA_STORE_STATS_INIT, s1 = ARCA_STORE_STATS_INIT;
	arca_store *b;
	int refs0 = 0, refs1 = 0, n;

	make_remote_content(f, r, img, sizeof(img));
	n = remote_files(r, ".arcp", packs, 8);
	assert_true(n >= 1);
	/* in the payloads: most of every pack is the big file and the image */
	for (int i = 0; i < n; i++)
		flip_byte(packs[i], 0.6);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmpd", f->tmp);
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	th_snapshot(b, f->src, "mine", NULL, NULL); /* the same chunks, held locally */
	assert_int_equal(arca_store_stats_get(&s0, b), 0);
	assert_int_equal(arca_ref_foreach(b, count_ref, &refs0), 0);
	for (unsigned jobs = 1; jobs <= 4; jobs += 3) {
		snprintf(out, sizeof(out), "%s/out-tree%u", f->tmp, jobs);
		assert_int_equal(remote_restore_jobs(b, r, "web", out, tmpdir, jobs, NULL),
			ARCA_ECORRUPT);
		assert_non_null(strstr(arca_error_last(), "pack "));
		assert_int_not_equal(th_tree_equal(f->src, out, why, sizeof(why)), 0);
		snprintf(out, sizeof(out), "%s/out-disk%u", f->tmp, jobs);
		assert_int_equal(remote_restore_jobs(b, r, "disk", out, tmpdir, jobs, NULL),
			ARCA_ECORRUPT);
		assert_int_not_equal(th_file_equal(img, out), 0);
		assert_int_equal(count_files(tmpdir, "", ""), 0);
	}
	assert_int_equal(arca_store_stats_get(&s1, b), 0);
	assert_int_equal(arca_ref_foreach(b, count_ref, &refs1), 0);
	assert_int_equal(refs0, refs1);
	assert_int_equal(s1.artifacts, s0.artifacts);
	assert_int_equal(s1.chunks, s0.chunks);
	assert_int_equal(s1.stored_bytes, s0.stored_bytes);
	arca_store_free(b);
}

static void a_truncated_pack_fails_the_remote_restore(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char img[4096], tmpdir[4096], out[4096], packs[8][4096];
	int n;

	make_remote_content(f, r, img, sizeof(img));
	n = remote_files(r, ".arcp", packs, 8);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++)
		assert_int_equal(truncate(packs[i], th_file_size(packs[i]) * 3 / 4), 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmpd", f->tmp);
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	arca_sync__restore_piece = 65536;
	for (unsigned jobs = 1; jobs <= 4; jobs += 3) {
		snprintf(out, sizeof(out), "%s/out%u", f->tmp, jobs);
		assert_int_equal(remote_restore_jobs(NULL, r, "web", out, tmpdir, jobs, NULL),
			ARCA_ECORRUPT);
		/* the GET's failure, not its echo in the restore (which began:
		 * the manifest came whole) */
		assert_null(strstr(arca_error_last(), "the download failed"));
		assert_int_equal(access(out, F_OK), 0);
		assert_int_equal(count_files(tmpdir, "", ""), 0);
	}
	arca_sync__restore_piece = 4u << 20;
}

static void a_chunk_in_no_index_fails_the_remote_restore(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char img[4096], tmpdir[4096], out[4096], idx[8][4096];
	uint8_t gone[32];
	int n;

	make_remote_content(f, r, img, sizeof(img));
	n = remote_files(r, ".idx", idx, 8);
	assert_true(n >= 1);
	/* "small" is one chunk of the tree, not of the image */
	{
		uint8_t *bytes;
		size_t len;
		read_whole(th_path(f->src, "small"), &bytes, &len);
		assert_int_equal(arca_sha256_digest(gone, bytes, len), 0);
		free(bytes);
	}
	for (int i = 0; i < n; i++) {
		uint8_t *bytes;
		size_t len;
		arca_pidx x;
		arca_buf enc = ARCA_BUF_INIT(SIZE_MAX);
		uint32_t at;
		read_whole(idx[i], &bytes, &len);
		assert_int_equal(arca_pidx_decode(&x, bytes, len), 0);
		free(bytes);
		if (arca_pidx_find(&x, gone)) {
			at = (uint32_t)(arca_pidx_find(&x, gone) - x.e);
			memmove(&x.e[at], &x.e[at + 1], (x.n - at - 1) * sizeof(*x.e));
			x.n--;
			assert_true(x.n > 0);
			assert_int_equal(arca_pidx_encode(&enc, x.pack_sha, x.pack_size, x.e, x.n), 0);
			th_write_file(idx[i], enc.ptr, enc.len);
		}
		arca_buf_release(&enc);
		arca_pidx_clear(&x);
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmpd", f->tmp);
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	assert_int_equal(remote_restore_jobs(NULL, r, "web", out, tmpdir, 4, NULL), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "is in none of its packs"));
	assert_int_equal(remote_restore_jobs(NULL, r, "disk", out, tmpdir, 4, NULL), 0);
	assert_int_equal(th_file_equal(img, out), 0);
	assert_int_equal(count_files(tmpdir, "", ""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(remotes_are_kept_and_survive_repair, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(push_then_pull_restores_identical_tree_and_image,
			th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_second_push_sends_no_pack, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_push_reports_its_totals_up_front, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_pull_reports_totals_once_it_knows_them, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(a_pull_fetches_only_the_records_the_store_lacks,
			th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_pack_gone_from_the_remote_is_sent_again, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(a_killed_push_resumes_without_sending_finished_packs,
			th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(racing_pushers_one_wins_and_a_descendant_follows,
			th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(
			a_corrupt_pack_fails_the_pull_and_leaves_the_store_alone, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(a_pull_in_many_pieces, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(the_indexes_of_many_packs_come_in_parallel, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(a_lying_index_fails_the_pull_cleanly, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(hostile_keys_and_ref_entries_are_refused, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(remote_refs_are_listed, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_remote_restore_adds_nothing_to_the_store, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(a_remote_restore_equals_a_local_restore, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(a_flipped_record_fails_the_remote_restore, th_setup,
			th_teardown),
		cmocka_unit_test_setup_teardown(a_chunk_in_no_index_fails_the_remote_restore,
			th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_truncated_pack_fails_the_remote_restore, th_setup,
			th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
