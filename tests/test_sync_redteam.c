/* Red-team of pull, import and restore --from: every failure leaves the
 * store exactly as it was, wrong data is refused, a killed pull or import
 * leaves a store that verifies and pulls again. */
#include "helpers.h"
#include "arca/remote.h"
#include "cas/hash.h"
#include "store/record.h"
#include "sync/layout.h"
#include "sync/fetch.h"
#include "sync/pull_data.h"
#include "sync/sync.h"
#include "sync/transport.h"
#include "util/buf.h"
#include "util/progress.h"

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

static void make_tree(const char *dir, uint64_t seed, size_t big)
{
	char p[4096];
	assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
	th_write_random(th_path(dir, "big"), big, seed);
	th_write_random(th_path(dir, "small"), 5000, seed + 1);
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_true(mkdir(p, 0750) == 0 || errno == EEXIST);
	th_write_random(th_path(p, "inner"), 70000, seed + 2);
}

static int push(arca_store *s, const char *remote, const char *ref)
{
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	return arca_push(&r, s, remote, &ref, 1, &o);
}

static int pulln(arca_store *s, const char *remote, const char *const *refs, size_t n,
		arca_sync_result *out)
{
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	o.jobs = 1;
	if (!out)
		out = &r;
	out->version = ARCA_SYNC_RESULT_VERSION;
	return arca_pull(out, s, remote, refs, n, &o);
}

static int pull(arca_store *s, const char *remote, const char *ref)
{
	return pulln(s, remote, &ref, 1, NULL);
}

/* The ref may go back and forth between unrelated artifacts: forced. */
static int pull_forced(arca_store *s, const char *remote, const char *ref)
{
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	o.jobs = 1;
	o.force = 1;
	return arca_pull(&r, s, remote, &ref, 1, &o);
}

static int export_to(arca_store *s, const char *ref, const char *path)
{
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc;
	assert_true(fd >= 0);
	rc = arca_export(&r, s, &ref, 1, NULL, 0, fd, NULL);
	close(fd);
	return rc;
}

static int import_from(arca_store *s, const char *path, arca_sync_result *out)
{
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	assert_true(fd >= 0);
	rc = arca_import(out ? out : &r, s, fd, NULL);
	close(fd);
	return rc;
}

/* ---- a fingerprint of everything a store holds ---- */

static int add_ref(const char *name, const char *tag, const arca_id *id, void *payload)
{
	arca_buf *b = payload;
	char s[ARCA_ID_STRLEN];
	arca_id_format(s, id);
	return arca_buf_printf(b, "ref %s:%s %s\n", name, tag, s);
}

/* Files under `dir` with their sizes, the LMDB files left out (they may
 * grow on an aborted write and hold nothing then). */
static void add_files(arca_buf *b, const char *dir, const char *rel)
{
	char p[4096];
	DIR *d;
	struct dirent *de;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_non_null(d = opendir(p));
	while ((de = readdir(d)) != NULL) {
		char q[8300], r2[4200];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(r2, sizeof(r2), "%s/%s", rel, de->d_name);
		snprintf(q, sizeof(q), "%s/%s", dir, r2);
		assert_int_equal(lstat(q, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			add_files(b, dir, r2);
			continue;
		}
		if (strstr(de->d_name, ".mdb") || strstr(de->d_name, "lock"))
			continue;
		assert_int_equal(arca_buf_printf(b, "file %s %lld\n", r2, (long long)st.st_size),
			0);
	}
	closedir(d);
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* refs, stats and files, as sorted lines */
static char *fingerprint(arca_store *s, const char *storedir)
{
	arca_buf b = ARCA_BUF_INIT(1u << 24);
	arca_store_stats st = ARCA_STORE_STATS_INIT;
	char *lines[4096], *out, *p, *save = NULL;
	size_t n = 0, len = 0;

	assert_int_equal(arca_ref_foreach(s, add_ref, &b), 0);
	assert_int_equal(arca_store_stats_get(&st, s), 0);
	assert_int_equal(arca_buf_printf(&b, "stats artifacts %llu chunks %llu packs %llu\n",
		(unsigned long long)st.artifacts, (unsigned long long)st.chunks,
		(unsigned long long)st.packs), 0);
	add_files(&b, storedir, ".");
	p = strdup(arca_buf_cstr(&b));
	for (char *l = strtok_r(p, "\n", &save); l && n < 4096; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	qsort(lines, n, sizeof(*lines), line_cmp);
	out = calloc(1, b.len + 2);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(lines[i]);
		memcpy(out + len, lines[i], l);
		out[len + l] = '\n';
		len += l + 1;
	}
	free(p);
	arca_buf_release(&b);
	return out;
}

static void verify_clean(arca_store *s)
{
	arca_verify_result v = ARCA_VERIFY_RESULT_INIT;
	assert_int_equal(arca_verify(&v, s), 0);
	assert_int_equal(v.chunks_damaged, 0);
	assert_int_equal(v.ndamaged, 0);
	arca_verify_result_clear(&v);
}

static void assert_same(const char *before, const char *after)
{
	if (strcmp(before, after) != 0) {
		print_error("before:\n%s\nafter:\n%s\n", before, after);
		fail();
	}
}

/* ---- helpers on the remote's bytes ---- */

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

/* The first file in r/sub whose name ends with suffix, into out. */
static int first_file(const char *r, const char *sub, const char *suffix, char *out, size_t n,
		int skip)
{
	DIR *d = opendir(th_path(r, sub));
	struct dirent *de;
	int found = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (de->d_name[0] == '.' || l < sl || strcmp(de->d_name + l - sl, suffix))
			continue;
		if (skip-- > 0)
			continue;
		snprintf(out, n, "%s/%s/%s", r, sub, de->d_name);
		found = 1;
		break;
	}
	closedir(d);
	return found;
}

static void artifact_path(char *out, size_t n, const char *r, const arca_id *id)
{
	char s[ARCA_ID_STRLEN];
	arca_id_format(s, id);
	snprintf(out, n, "%s/artifacts/%s", r, s + 4);
}

/* ---- failures leave the store as it was ---- */

/* Two refs pulled at once, the second's pack damaged: the first's chunks
 * were staged already, and still nothing is left of them. */
static void a_pull_failing_on_its_second_artifact_changes_nothing(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *refs[2] = { "aaa", "bbb" };
	char src2[4096], pk[4096], *before, *after;
	arca_store *b;
	uint8_t *bytes;
	size_t n;

	make_tree(f->src, 1, 600000);
	th_snapshot(f->s, f->src, "aaa", NULL, NULL);
	assert_int_equal(push(f->s, r, "aaa"), 0);
	assert_true(first_file(r, "packs", ".arcp", pk, sizeof(pk), 0));
	snprintf(src2, sizeof(src2), "%s/src2", f->tmp);
	make_tree(src2, 50, 600000);
	th_snapshot(f->s, src2, "bbb", NULL, NULL);
	assert_int_equal(push(f->s, r, "bbb"), 0);
	/* damage the pack bbb added (the one that is not aaa's) */
	{
		char p0[4096], p1[4096];
		assert_true(first_file(r, "packs", ".arcp", p0, sizeof(p0), 0));
		assert_true(first_file(r, "packs", ".arcp", p1, sizeof(p1), 1));
		snprintf(pk, sizeof(pk), "%s", strcmp(p0, pk) ? p0 : p1);
	}
	read_whole(pk, &bytes, &n);
	bytes[n / 2] ^= 0x40;
	th_write_file(pk, bytes, n);
	free(bytes);

	b = th_store_open(th_path(f->tmp, "b"));
	th_snapshot(b, f->src, "local", NULL, NULL);
	before = fingerprint(b, th_path(f->tmp, "b"));
	assert_int_equal(pulln(b, r, refs, 2, NULL), ARCA_ECORRUPT);
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_same(before, after);
	verify_clean(b);
	assert_int_equal(pull(b, r, "aaa"), 0);
	verify_clean(b);
	free(before);
	free(after);
	arca_store_free(b);
}

/* A local ref of the same name pointing at an unrelated artifact. */
static void a_pull_moves_a_local_ref_only_forward_unless_forced(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char src2[4096];
	arca_store *b;
	arca_id remote_id, local_id, now;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	const char *ref = "web";

	make_tree(f->src, 2, 200000);
	remote_id = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	snprintf(src2, sizeof(src2), "%s/src2", f->tmp);
	make_tree(src2, 77, 200000);
	local_id = th_snapshot(b, src2, "web", NULL, NULL);
	/* refused: the remote's artifact does not descend from the local one */
	assert_int_equal(pulln(b, r, &ref, 1, &res), ARCA_EEXISTS);
	assert_non_null(strstr(arca_error_last(), "does not descend"));
	assert_int_equal(arca_resolve(&now, b, "web"), 0);
	assert_memory_equal(now.bytes, local_id.bytes, 32);
	/* forced: moved, and the local artifact stays in the store */
	{
		arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
		arca_sync_result fr = ARCA_SYNC_RESULT_INIT;
		char s[ARCA_ID_STRLEN];
		arca_id got;
		so.force = 1;
		assert_int_equal(arca_pull(&fr, b, r, &ref, 1, &so), 0);
		assert_int_equal(fr.refs_moved, 1);
		assert_int_equal(arca_resolve(&now, b, "web"), 0);
		assert_memory_equal(now.bytes, remote_id.bytes, 32);
		arca_id_format(s, &local_id);
		assert_int_equal(arca_resolve(&got, b, s), 0);
	}
	/* a descendant moves it without force */
	{
		arca_id next;
		make_tree(f->src, 3, 200000);
		next = th_snapshot(f->s, f->src, "web", NULL, NULL);
		assert_int_equal(push(f->s, r, "web"), 0);
		assert_int_equal(pulln(b, r, &ref, 1, &res), 0);
		assert_int_equal(arca_resolve(&now, b, "web"), 0);
		assert_memory_equal(now.bytes, next.bytes, 32);
	}
	verify_clean(b);
	arca_store_free(b);
}

static int cancel_at_end(const arca_progress *p, void *payload)
{
	(void)payload;
	return p->phase_end ? 1 : 0;
}

/* The progress callback's last call may cancel (as a snapshot's and an
 * import's may): the pull then fails, and must have added nothing. */
static void a_pull_cancelled_at_its_last_progress_call_adds_nothing(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *ref = "web";
	char *before, *after;
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	arca_store *b;
	int rc;

	make_tree(f->src, 24, 300000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	before = fingerprint(b, th_path(f->tmp, "b"));
	o.progress_cb = cancel_at_end;
	rc = arca_pull(&res, b, r, &ref, 1, &o);
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_int_equal(rc, ARCA_EUSER);
	assert_same(before, after);
	free(before);
	free(after);
	arca_store_free(b);
}

/* ... and a push cancelled there has moved no ref and sent no artifact
 * object (only packs, which a re-run reuses). */
static void a_push_cancelled_at_its_last_progress_call_moves_no_ref(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *ref = "web";
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	char dir[4096];
	struct stat st;

	make_tree(f->src, 25, 300000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	o.progress_cb = cancel_at_end;
	assert_int_equal(arca_push(&res, f->s, r, &ref, 1, &o), ARCA_EUSER);
	assert_int_equal(res.refs_moved, 0);
	snprintf(dir, sizeof(dir), "%s/refs/web", r);
	assert_int_equal(stat(dir, &st), -1);
	snprintf(dir, sizeof(dir), "%s/artifacts", r);
	assert_true(stat(dir, &st) != 0 || st.st_nlink == 2);
	assert_int_equal(push(f->s, r, "web"), 0);
	{
		arca_store *b = th_store_open(th_path(f->tmp, "b"));
		assert_int_equal(pull_forced(b, r, "web"), 0);
		verify_clean(b);
		arca_store_free(b);
	}
}

/* A pull holds its pieces in memory: no temporary dir needed, even a
 * missing one. Parallel GETs of a remote restore, whose temporary file
 * cannot be made: an error, and no descriptor of the caller's closed
 * (jobs never started must not close fd 0). */
static void parallel_gets_without_a_temporary_dir(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *ref = "web";
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	arca_store *b;
	int saved0 = dup(0), null = open("/dev/null", O_RDONLY);

	assert_true(saved0 >= 0 && null >= 0);
	arca_sync__pack_target = 256u << 10;
	make_tree(f->src, 25, 2u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	b = th_store_open(th_path(f->tmp, "b"));
	o.jobs = 4;
	o.tmp_dir = th_path(f->tmp, "no-such-dir");
	assert_int_equal(dup2(null, 0), 0);
	assert_true(arca_remote_restore(NULL, NULL, r, "web", th_path(f->tmp, "out"), NULL, &o,
		NULL) < 0);
	{
		int open0 = fcntl(0, F_GETFD) != -1;
		assert_int_equal(dup2(saved0, 0), 0);
		assert_true(open0);
	}
	assert_int_equal(arca_pull(&res, b, r, &ref, 1, &o), 0);
	assert_true(res.requests > 2);
	th_restore_equals(b, f->tmp, "web", f->src);
	close(saved0);
	close(null);
	arca_store_free(b);
}

static void importing_a_bundle_twice_adds_nothing_the_second_time(void **state)
{
	th_fixture *f = *state;
	char bundle[4096], *before, *after;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	arca_store *b;

	make_tree(f->src, 3, 700000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	snprintf(bundle, sizeof(bundle), "%s/web.arcb", f->tmp);
	assert_int_equal(export_to(f->s, "web", bundle), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(import_from(b, bundle, NULL), 0);
	before = fingerprint(b, th_path(f->tmp, "b"));
	assert_int_equal(import_from(b, bundle, &res), 0);
	assert_int_equal(res.refs_moved, 0);
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_same(before, after);
	verify_clean(b);
	th_restore_equals(b, f->tmp, "web", f->src);
	free(before);
	free(after);
	arca_store_free(b);
}

/* An import moves a local ref as a pull does: only forward (to an
 * artifact descending from the one it names), unless forced. An older
 * bundle imported after a newer one must not rewind the ref silently. */
static int import_forced(arca_store *s, const char *path)
{
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	assert_true(fd >= 0);
	o.force = 1;
	rc = arca_import(&r, s, fd, &o);
	close(fd);
	return rc;
}

static void an_import_moves_a_local_ref_only_forward_unless_forced(void **state)
{
	th_fixture *f = *state;
	char b1[4096], b2[4096], src2[4096], *before, *after;
	arca_id v1, v2, other, now;
	arca_store *b, *c;

	make_tree(f->src, 5, 200000);
	v1 = th_snapshot(f->s, f->src, "web", NULL, NULL);
	snprintf(b1, sizeof(b1), "%s/v1.arcb", f->tmp);
	assert_int_equal(export_to(f->s, "web", b1), 0);
	th_write_random(th_path(f->src, "small"), 9000, 55);
	v2 = th_snapshot(f->s, f->src, "web", NULL, NULL);
	snprintf(b2, sizeof(b2), "%s/v2.arcb", f->tmp);
	assert_int_equal(export_to(f->s, "web", b2), 0);

	/* forward, without the parent's own bundle: moved */
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(import_from(b, b1, NULL), 0);
	assert_int_equal(import_from(b, b2, NULL), 0);
	assert_int_equal(arca_resolve(&now, b, "web"), 0);
	assert_memory_equal(now.bytes, v2.bytes, 32);
	/* back: refused, and the store is as it was */
	before = fingerprint(b, th_path(f->tmp, "b"));
	assert_int_equal(import_from(b, b1, NULL), ARCA_EEXISTS);
	assert_non_null(strstr(arca_error_last(), "does not descend"));
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_same(before, after);
	free(after);
	free(before);
	/* forced: moved back */
	assert_int_equal(import_forced(b, b1), 0);
	assert_int_equal(arca_resolve(&now, b, "web"), 0);
	assert_memory_equal(now.bytes, v1.bytes, 32);
	verify_clean(b);
	arca_store_free(b);

	/* a local ref at unrelated work is not taken over either */
	c = th_store_open(th_path(f->tmp, "c"));
	snprintf(src2, sizeof(src2), "%s/src2", f->tmp);
	make_tree(src2, 66, 100000);
	other = th_snapshot(c, src2, "web", NULL, NULL);
	assert_int_equal(import_from(c, b2, NULL), ARCA_EEXISTS);
	assert_int_equal(arca_resolve(&now, c, "web"), 0);
	assert_memory_equal(now.bytes, other.bytes, 32);
	verify_clean(c);
	arca_store_free(c);
}

/* The ref names a parent the pulling store never gets. */
static void an_artifact_pulled_without_its_parent_verifies_and_gcs(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	arca_gc_result g = ARCA_GC_RESULT_INIT;
	arca_store *b;
	char id2[ARCA_ID_STRLEN];
	arca_id a2;

	make_tree(f->src, 4, 300000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	th_write_random(th_path(f->src, "small"), 9000, 99);
	a2 = th_snapshot(f->s, f->src, "web", NULL, NULL);
	arca_id_format(id2, &a2);
	assert_int_equal(push(f->s, r, id2), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, id2), 0);
	verify_clean(b);
	assert_int_equal(arca_gc(&g, b, NULL), 0);
	verify_clean(b);
	th_restore_equals(b, f->tmp, id2, f->src);
	arca_store_free(b);
}

/* ---- wrong data ---- */

/* The ref names B; artifacts/<B> holds A's object. */
static void an_artifact_object_under_another_id_is_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char pa[4096], pb[4096], src2[4096], *before, *after;
	arca_id ia, ib;
	arca_store *b;
	uint8_t *bytes;
	size_t n;

	make_tree(f->src, 5, 200000);
	ia = th_snapshot(f->s, f->src, "aaa", NULL, NULL);
	snprintf(src2, sizeof(src2), "%s/src2", f->tmp);
	make_tree(src2, 55, 200000);
	ib = th_snapshot(f->s, src2, "bbb", NULL, NULL);
	assert_int_equal(push(f->s, r, "aaa"), 0);
	assert_int_equal(push(f->s, r, "bbb"), 0);
	artifact_path(pa, sizeof(pa), r, &ia);
	artifact_path(pb, sizeof(pb), r, &ib);
	read_whole(pa, &bytes, &n);
	th_write_file(pb, bytes, n);
	free(bytes);
	b = th_store_open(th_path(f->tmp, "b"));
	before = fingerprint(b, th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "bbb"), ARCA_ECORRUPT);
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_same(before, after);
	free(before);
	free(after);
	arca_store_free(b);
}

/* Rewrites the record inside artifacts/<id> with `edit` applied. */
static void edit_record(const char *r, const arca_id *id, void (*edit)(arca_artifact_rec *))
{
	char pa[4096];
	uint8_t *bytes;
	size_t n;
	arca_arto a;
	arca_artifact_rec rec;
	arca_buf rb = ARCA_BUF_INIT(1u << 28), ob = ARCA_BUF_INIT(1u << 28);

	artifact_path(pa, sizeof(pa), r, id);
	read_whole(pa, &bytes, &n);
	assert_int_equal(arca_arto_decode(&a, bytes, n), 0);
	assert_int_equal(arca_artifact_rec_decode(&rec, id, a.record, a.record_len), 0);
	edit(&rec);
	assert_int_equal(arca_artifact_rec_encode(&rb, &rec), 0);
	assert_int_equal(arca_arto_encode(&ob, rb.ptr, (uint32_t)rb.len,
		(uint8_t (*)[32])(uintptr_t)a.packs, a.npacks), 0);
	th_write_file(pa, ob.ptr, ob.len);
	arca_artifact_rec_clear(&rec);
	arca_buf_release(&rb);
	arca_buf_release(&ob);
	free(bytes);
}

static void claim_image(arca_artifact_rec *rec)
{
	rec->a.kind = ARCA_KIND_IMAGE;
}

static void claim_tree(arca_artifact_rec *rec)
{
	rec->a.kind = ARCA_KIND_TREE;
}

static void claim_bigger(arca_artifact_rec *rec)
{
	rec->a.logical_bytes += 1u << 30;
	rec->a.data_bytes += 1u << 30;
	rec->a.entries += 1000;
}

/* What an artifact's record says about its content must be what its
 * manifest holds: a remote cannot make a tree an image, nor a 1 MiB tree
 * one of 1 GiB. */
static void a_record_lying_about_its_manifest_is_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	arca_id ia;
	arca_store *b;
	arca_artifact *got = NULL;
	int rc;

	make_tree(f->src, 17, 1u << 20);
	ia = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	b = th_store_open(th_path(f->tmp, "b"));

	edit_record(r, &ia, claim_image);
	assert_int_equal(pull(b, r, "web"), ARCA_ECORRUPT);

	edit_record(r, &ia, claim_tree); /* back as it was */
	edit_record(r, &ia, claim_bigger);
	rc = pull(b, r, "web");
	if (rc == 0) {
		assert_int_equal(arca_artifact_lookup(&got, b, &ia), 0);
		print_message("pulled record claims %llu bytes, %llu entries\n",
			(unsigned long long)got->logical_bytes, (unsigned long long)got->entries);
		assert_true(got->logical_bytes < (1u << 30));
		arca_artifact_free(got);
	} else {
		assert_int_equal(rc, ARCA_ECORRUPT);
	}
	arca_store_free(b);
}

static const char *bad_name_now;

static void claim_name(arca_artifact_rec *rec)
{
	free(rec->a.name);
	rec->a.name = strdup(bad_name_now);
}

static void claim_label_key(arca_artifact_rec *rec)
{
	arca_label *l = realloc(rec->a.labels, (rec->a.nlabels + 1) * sizeof(*l));
	assert_non_null(l);
	rec->a.labels = l;
	l[rec->a.nlabels].key = strdup("k\033[2J");
	l[rec->a.nlabels].value = strdup("v");
	rec->a.nlabels++;
}

/* A record's name, tag and label keys obey the rules a local snapshot
 * does: a remote cannot plant names no command would take (terminal
 * escapes, line breaks, "..", a tag without a name) in this store. */
static void a_record_with_names_a_snapshot_refuses_is_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	static const char *const bad[] = { "we\033]0;x\007b", "a\nb", "../../etc", "a//b", "-x" };
	char *before, *after;
	arca_id ia;
	arca_store *b;

	make_tree(f->src, 19, 200000);
	ia = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	before = fingerprint(b, th_path(f->tmp, "b"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad_name_now = bad[i];
		edit_record(r, &ia, claim_name);
		assert_int_equal(pull(b, r, "web"), ARCA_ECORRUPT);
		assert_int_equal(arca_remote_restore(NULL, b, r, "web", th_path(f->tmp, "rr"), NULL,
			NULL, NULL), ARCA_ECORRUPT);
	}
	bad_name_now = "web";
	edit_record(r, &ia, claim_name);
	edit_record(r, &ia, claim_label_key);
	assert_int_equal(pull(b, r, "web"), ARCA_ECORRUPT);
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_same(before, after);
	free(before);
	free(after);
	arca_store_free(b);
}

/* Exports a snapshot of a tree (seed, big) as web, patches its artifact
 * object in place in the tar with `edit` (the record keeps its length,
 * the sizes being fixed-width), and checks import refuses the bundle and
 * leaves the store as it was. */
static void patched_bundle_is_refused(th_fixture *f, uint64_t seed, size_t big,
		void (*edit)(arca_artifact_rec *))
{
	char bundle[4096], *before, *after;
	uint8_t *bytes;
	size_t n, at, len;
	uint32_t rlen, np;
	arca_id ia;
	arca_arto a;
	arca_artifact_rec rec;
	arca_buf rb = ARCA_BUF_INIT(1u << 28), ob = ARCA_BUF_INIT(1u << 28);
	arca_store *b;

	make_tree(f->src, seed, big);
	ia = th_snapshot(f->s, f->src, "web", NULL, NULL);
	snprintf(bundle, sizeof(bundle), "%s/web.arcb", f->tmp);
	assert_int_equal(export_to(f->s, "web", bundle), 0);
	read_whole(bundle, &bytes, &n);
	for (at = 0; at + 8 <= n && memcmp(bytes + at, "ARCAARTO", 8); at += 512)
		;
	assert_true(at + 20 <= n);
	rlen = (uint32_t)bytes[at + 12] | (uint32_t)bytes[at + 13] << 8 |
		(uint32_t)bytes[at + 14] << 16 | (uint32_t)bytes[at + 15] << 24;
	np = (uint32_t)bytes[at + 16] | (uint32_t)bytes[at + 17] << 8 |
		(uint32_t)bytes[at + 18] << 16 | (uint32_t)bytes[at + 19] << 24;
	len = 32 + (size_t)rlen + 32 * (size_t)np + 32;
	assert_int_equal(arca_arto_decode(&a, bytes + at, len), 0);
	assert_int_equal(arca_artifact_rec_decode(&rec, &ia, a.record, a.record_len), 0);
	edit(&rec);
	assert_int_equal(arca_artifact_rec_encode(&rb, &rec), 0);
	assert_int_equal(arca_arto_encode(&ob, rb.ptr, (uint32_t)rb.len,
		(uint8_t (*)[32])(uintptr_t)a.packs, a.npacks), 0);
	assert_int_equal(ob.len, len);
	memcpy(bytes + at, ob.ptr, len);
	arca_artifact_rec_clear(&rec);
	th_write_file(bundle, bytes, n);
	b = th_store_open(th_path(f->tmp, "b"));
	before = fingerprint(b, th_path(f->tmp, "b"));
	assert_int_equal(import_from(b, bundle, NULL), ARCA_ECORRUPT);
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_same(before, after);
	free(before);
	free(after);
	free(bytes);
	arca_buf_release(&rb);
	arca_buf_release(&ob);
	arca_store_free(b);
}

/* The same in a bundle (a name of the same length, patched in place). */
static void a_bundle_record_with_a_bad_name_is_refused(void **state)
{
	bad_name_now = "w\033b";
	patched_bundle_is_refused(*state, 22, 200000, claim_name);
}

/* The same lie about the manifest, in a bundle. */
static void a_bundle_record_lying_about_its_manifest_is_refused(void **state)
{
	patched_bundle_is_refused(*state, 21, 1u << 20, claim_bigger);
}

/* The size check of pulled and imported records holds for holes, sparse
 * files and hardlinks (what snapshot counts in its sizes). */
static void sparse_and_hardlinked_content_pulls_and_imports(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char img[4096], bundle[4096], p[4096];
	arca_store *b, *c;
	int fd;

	make_tree(f->src, 18, 300000);
	snprintf(p, sizeof(p), "%s/sparse", f->src);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8u << 20), 0);
	close(fd);
	th_pwrite_random(p, 3u << 20, 100000, 5);
	assert_int_equal(link(th_path(f->src, "small"), th_path(f->src, "hard")), 0);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	snprintf(img, sizeof(img), "%s/disk.img", f->tmp);
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16u << 20), 0);
	close(fd);
	th_pwrite_random(img, 0, 200000, 6);
	th_pwrite_random(img, 9u << 20, 300000, 7);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	assert_int_equal(push(f->s, r, "disk"), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "web"), 0);
	assert_int_equal(pull(b, r, "disk"), 0);
	th_restore_equals(b, f->tmp, "web", f->src);
	snprintf(bundle, sizeof(bundle), "%s/all.arcb", f->tmp);
	{
		const char *refs[2] = { "web", "disk" };
		arca_sync_result res = ARCA_SYNC_RESULT_INIT;
		fd = open(bundle, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(arca_export(&res, f->s, refs, 2, NULL, 0, fd, NULL), 0);
		close(fd);
	}
	c = th_store_open(th_path(f->tmp, "c"));
	assert_int_equal(import_from(c, bundle, NULL), 0);
	th_restore_equals(c, f->tmp, "web", f->src);
	arca_store_free(c);
	arca_store_free(b);
}

/* The index of one pack stored as another's. */
static void an_index_for_another_pack_is_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char i0[4096], i1[4096];
	arca_store *b;
	uint8_t *bytes;
	size_t n;

	arca_sync__pack_target = 256u << 10;
	make_tree(f->src, 6, 2u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	assert_true(first_file(r, "packs", ".idx", i0, sizeof(i0), 0));
	assert_true(first_file(r, "packs", ".idx", i1, sizeof(i1), 1));
	read_whole(i0, &bytes, &n);
	th_write_file(i1, bytes, n);
	free(bytes);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "web"), ARCA_ECORRUPT);
	{
		arca_store_stats st = ARCA_STORE_STATS_INIT;
		assert_int_equal(arca_store_stats_get(&st, b), 0);
		assert_int_equal(st.artifacts, 0);
		assert_int_equal(st.chunks, 0);
	}
	arca_store_free(b);
}

/* packs/<A>.arcp holds pack B's bytes (its index is A's): refused. */
static void a_pack_object_holding_another_packs_bytes_is_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char p0[4096], p1[4096], *before, *after;
	arca_store *b;
	uint8_t *bytes;
	size_t n;

	arca_sync__pack_target = 256u << 10;
	make_tree(f->src, 26, 2u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	assert_true(first_file(r, "packs", ".arcp", p0, sizeof(p0), 0));
	assert_true(first_file(r, "packs", ".arcp", p1, sizeof(p1), 1));
	read_whole(p0, &bytes, &n);
	th_write_file(p1, bytes, n);
	free(bytes);
	b = th_store_open(th_path(f->tmp, "b"));
	before = fingerprint(b, th_path(f->tmp, "b"));
	assert_int_equal(pulln(b, r, (const char *const[]){ "web" }, 1, NULL), ARCA_ECORRUPT);
	{
		arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
		arca_sync_result res = ARCA_SYNC_RESULT_INIT;
		const char *ref = "web";
		o.jobs = 4;
		assert_int_equal(arca_pull(&res, b, r, &ref, 1, &o), ARCA_ECORRUPT);
	}
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_same(before, after);
	free(before);
	free(after);
	arca_store_free(b);
}

/* Re-encodes an index with every offset moved by `delta` (the trailer
 * made right again): a well-formed index that lies. */
static void shift_index(const char *path, int64_t delta)
{
	uint8_t *bytes;
	size_t n;
	arca_pidx x;
	arca_buf out = ARCA_BUF_INIT(1u << 28);
	read_whole(path, &bytes, &n);
	assert_int_equal(arca_pidx_decode(&x, bytes, n), 0);
	for (uint32_t i = 0; i < x.n; i++)
		if (x.e[i].offset + (uint64_t)delta >= 16 &&
		    x.e[i].offset + (uint64_t)delta + x.e[i].length <= x.pack_size)
			x.e[i].offset += (uint64_t)delta;
	assert_int_equal(arca_pidx_encode(&out, x.pack_sha, x.pack_size, x.e, x.n), 0);
	th_write_file(path, out.ptr, out.len);
	arca_pidx_clear(&x);
	arca_buf_release(&out);
	free(bytes);
}

static void an_index_one_record_off_is_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char ix[4096];
	arca_store *b;

	make_tree(f->src, 7, 400000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	assert_true(first_file(r, "packs", ".idx", ix, sizeof(ix), 0));
	shift_index(ix, 1);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "web"), ARCA_ECORRUPT);
	{
		arca_store_stats st = ARCA_STORE_STATS_INIT;
		assert_int_equal(arca_store_stats_get(&st, b), 0);
		assert_int_equal(st.artifacts, 0);
	}
	verify_clean(b);
	arca_store_free(b);
}

/* An artifact object that lists only one of the packs holding its chunks. */
static void an_artifact_object_missing_a_pack_is_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char pa[4096];
	arca_id ia;
	arca_store *b;
	uint8_t *bytes;
	size_t n;
	arca_arto a;
	arca_buf out = ARCA_BUF_INIT(1u << 28);

	arca_sync__pack_target = 256u << 10;
	make_tree(f->src, 8, 2u << 20);
	ia = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	artifact_path(pa, sizeof(pa), r, &ia);
	read_whole(pa, &bytes, &n);
	assert_int_equal(arca_arto_decode(&a, bytes, n), 0);
	assert_true(a.npacks >= 2);
	assert_int_equal(arca_arto_encode(&out, a.record, a.record_len, (uint8_t (*)[32])(uintptr_t)a.packs,
		a.npacks - 1), 0);
	th_write_file(pa, out.ptr, out.len);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "web"), ARCA_ECORRUPT);
	{
		arca_store_stats st = ARCA_STORE_STATS_INIT;
		assert_int_equal(arca_store_stats_get(&st, b), 0);
		assert_int_equal(st.artifacts, 0);
		assert_int_equal(st.chunks, 0);
	}
	arca_buf_release(&out);
	free(bytes);
	arca_store_free(b);
}

static void write_entry(const char *r, const char *name, const char *tag, uint64_t seq,
		const arca_id *id)
{
	arca_ref_entry e;
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), b = ARCA_BUF_INIT(4096);
	char p[4096];
	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.tag, sizeof(e.tag), "%s", tag);
	e.seq = seq;
	e.id = *id;
	e.time_ns = 1;
	assert_int_equal(arca_ref_entry_encode(&b, &e), 0);
	assert_int_equal(arca_layout_ref_key(&key, name, tag, seq), 0);
	snprintf(p, sizeof(p), "%s/%s", r, arca_buf_cstr(&key));
	th_write_file(p, b.ptr, b.len);
	arca_buf_release(&key);
	arca_buf_release(&b);
}

static void write_hint(const char *r, uint64_t seq)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), b = ARCA_BUF_INIT(4096);
	char p[4096];
	assert_int_equal(arca_ref_hint_encode(&b, seq), 0);
	assert_int_equal(arca_layout_ref_key(&key, "web", "latest", 0), 0);
	snprintf(p, sizeof(p), "%s/%s", r, arca_buf_cstr(&key));
	th_write_file(p, b.ptr, b.len);
	arca_buf_release(&key);
	arca_buf_release(&b);
}

/* Entries 1 and 3 (no 2), hints past the end and at 2^64-1: the pull
 * takes a real entry or fails cleanly, and never loops or crashes. */
static void ref_seq_gaps_and_wild_hints_are_handled(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char src2[4096];
	arca_id i1, i3, got;
	arca_store *b;
	int rc;

	make_tree(f->src, 9, 100000);
	i1 = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	snprintf(src2, sizeof(src2), "%s/src2", f->tmp);
	make_tree(src2, 90, 100000);
	i3 = th_snapshot(f->s, src2, "other", NULL, NULL);
	{
		char s[ARCA_ID_STRLEN];
		arca_id_format(s, &i3);
		assert_int_equal(push(f->s, r, s), 0);
	}
	write_entry(r, "web", "latest", 3, &i3);
	b = th_store_open(th_path(f->tmp, "b"));

	write_hint(r, 1);
	assert_int_equal(pull_forced(b, r, "web"), 0);
	assert_int_equal(arca_resolve(&got, b, "web"), 0);
	assert_memory_equal(got.bytes, i1.bytes, 32); /* the gap ends the walk */

	write_hint(r, 3);
	assert_int_equal(pull_forced(b, r, "web"), 0);
	assert_int_equal(arca_resolve(&got, b, "web"), 0);
	assert_memory_equal(got.bytes, i3.bytes, 32);

	write_hint(r, 1000);
	assert_int_equal(pull_forced(b, r, "web"), 0);
	assert_int_equal(arca_resolve(&got, b, "web"), 0);
	assert_memory_equal(got.bytes, i1.bytes, 32);

	write_hint(r, UINT64_MAX);
	assert_int_equal(pull_forced(b, r, "web"), 0);

	/* an entry at seq 2^64-1 itself: the walk must not wrap to 0 (HEAD) */
	write_entry(r, "web", "latest", UINT64_MAX, &i3);
	rc = pull_forced(b, r, "web");
	assert_true(rc == 0 || rc == ARCA_ECORRUPT);
	verify_clean(b);
	arca_store_free(b);
}

/* A hint that lags behind the entries (a writer died between entry and
 * hint): a push that trusts it collides with the newer entry, looks
 * again and lands after it, with the right parent; an entry at 2^64-1
 * stops pushes with an error instead of wrapping to the hint's key. */
static void a_push_over_a_stale_hint_lands_after_the_newest_entry(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	arca_transport *t;
	arca_ref_entry e;
	uint64_t nreq = 0;
	arca_id i2, i3;

	make_tree(f->src, 5, 10000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	th_write_random(th_path(f->src, "v2"), 5000, 2);
	i2 = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	write_hint(r, 1);
	th_write_random(th_path(f->src, "v3"), 5000, 3);
	i3 = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	assert_int_equal(arca_transport_dir_open(&t, r), 0);
	assert_int_equal(arca_sync__ref_current(t, "web", "latest", 0, &e, &nreq), 1);
	assert_int_equal(e.seq, 3);
	assert_memory_equal(e.id.bytes, i3.bytes, 32);
	assert_true(e.has_prev);
	assert_memory_equal(e.prev.bytes, i2.bytes, 32);

	write_entry(r, "web", "latest", UINT64_MAX, &i3);
	write_hint(r, UINT64_MAX);
	th_write_random(th_path(f->src, "v4"), 5000, 4);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), ARCA_ECORRUPT);
	assert_int_equal(arca_sync__ref_current(t, "web", "latest", 0, &e, &nreq), 1);
	assert_int_equal(e.seq, UINT64_MAX);
	t->free(t);
}

/* A remote artifact whose pack indexes list more entries in all than a
 * reader holds (the cap lowered here) is refused by pull and restore
 * --from, with the store unchanged; at the cap it is taken. */
static void pack_indexes_past_the_entry_cap_are_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *ref = "web";
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	arca_store *b;
	char *before, *after;
	uint64_t chunks;

	make_tree(f->src, 31, 200000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(arca_push(&res, f->s, r, &ref, 1, &o), 0);
	chunks = res.chunks;
	b = th_store_open(th_path(f->tmp, "b"));
	before = fingerprint(b, th_path(f->tmp, "b"));
	arca_fetch__max_entries = (uint32_t)chunks - 1;
	assert_int_equal(arca_pull(&res, b, r, &ref, 1, &o), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "chunks in all; refused"));
	assert_int_equal(arca_remote_restore(NULL, b, r, ref, th_path(f->tmp, "out"), NULL, NULL,
		NULL), ARCA_ECORRUPT);
	after = fingerprint(b, th_path(f->tmp, "b"));
	assert_same(before, after);
	arca_fetch__max_entries = (uint32_t)chunks;
	assert_int_equal(pull_forced(b, r, "web"), 0);
	arca_fetch__max_entries = ARCA_FETCH_MAX_ENTRIES;
	verify_clean(b);
	free(before);
	free(after);
	arca_store_free(b);
}

/* ---- the dir remote stays inside its directory ---- */

static void a_symlinked_packs_dir_is_not_followed(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char packs[4096], moved[4096];
	arca_store *b;
	int rc;

	make_tree(f->src, 10, 200000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	snprintf(packs, sizeof(packs), "%s/packs", r);
	snprintf(moved, sizeof(moved), "%s/elsewhere", f->tmp);
	assert_int_equal(rename(packs, moved), 0);
	assert_int_equal(symlink(moved, packs), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	rc = pull(b, r, "web");
	assert_true(rc == ARCA_ECORRUPT || rc == ARCA_EUNSAFE || rc == ARCA_EIO ||
		rc == ARCA_ENOTFOUND);
	{
		arca_store_stats st = ARCA_STORE_STATS_INIT;
		assert_int_equal(arca_store_stats_get(&st, b), 0);
		assert_int_equal(st.artifacts, 0);
	}
	/* a push through it does not write outside either */
	th_write_random(th_path(f->src, "small"), 7777, 3);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_true(push(f->s, r, "web") != 0);
	arca_store_free(b);
}

/* Pulls `ref` from `r` into a new store in a child that must finish within
 * 20 s; its return code, or -1000 when it hung. */
static int pull_in_child(const char *storedir, const char *r, const char *ref)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		alarm(20);
		if (arca_store_open(&s, storedir, NULL) != 0)
			_exit(99);
		int rc = pull(s, r, ref);
		arca_store_free(s);
		_exit(rc < 0 ? -rc : rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return -1000;
	return -WEXITSTATUS(status);
}

/* A FIFO where an object should be: an error (or, for the hint, ignored),
 * never a pull that waits forever for a writer. */
static void a_fifo_in_the_remote_does_not_hang_a_pull(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char head[4096], pa[4096];
	arca_id ia;

	make_tree(f->src, 22, 100000);
	ia = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	snprintf(head, sizeof(head), "%s/refs/web/latest/HEAD", r);
	assert_int_equal(unlink(head), 0);
	assert_int_equal(mkfifo(head, 0644), 0);
	assert_int_equal(pull_in_child(th_path(f->tmp, "b"), r, "web"), 0);
	artifact_path(pa, sizeof(pa), r, &ia);
	assert_int_equal(unlink(pa), 0);
	assert_int_equal(mkfifo(pa, 0644), 0);
	assert_int_equal(pull_in_child(th_path(f->tmp, "c"), r, "web"), ARCA_ECORRUPT);
}

/* Refs that would climb out, and objects that are symlinks to files
 * outside the remote: refused, nothing read from outside. */
static void dotdot_refs_and_symlinked_objects_are_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char pa[4096], outside[4096];
	arca_store *b;
	arca_id ia;
	uint8_t *bytes;
	size_t n;

	make_tree(f->src, 27, 100000);
	ia = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "../web"), ARCA_EINVAL);
	assert_int_equal(pull(b, r, "web:.."), ARCA_EINVAL);
	assert_int_equal(pull(b, r, "web/../../x:latest"), ARCA_EINVAL);
	/* the artifact object moved outside, a symlink left in its place */
	artifact_path(pa, sizeof(pa), r, &ia);
	snprintf(outside, sizeof(outside), "%s/outside-object", f->tmp);
	read_whole(pa, &bytes, &n);
	th_write_file(outside, bytes, n);
	free(bytes);
	assert_int_equal(unlink(pa), 0);
	assert_int_equal(symlink(outside, pa), 0);
	assert_true(pull(b, r, "web") < 0);
	{
		arca_store_stats st = ARCA_STORE_STATS_INIT;
		assert_int_equal(arca_store_stats_get(&st, b), 0);
		assert_int_equal(st.artifacts, 0);
	}
	arca_store_free(b);
}

static void a_remote_that_is_a_file_is_refused(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remotefile");
	arca_store *b;
	th_write_file(r, "x", 1);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_true(pull(b, r, "web") < 0);
	make_tree(f->src, 11, 1000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_true(push(f->s, r, "web") < 0);
	assert_int_equal(th_file_size(r), 1);
	arca_store_free(b);
}

/* The name of the temporary file of a put in progress, read while the
 * put asks its source for bytes. */
typedef struct {
	const char *dir;
	char name[256];
	int calls;
} peek_ctx;

static int peek_src(void *ctx, void *p, size_t cap, size_t *n)
{
	peek_ctx *c = ctx;
	struct dirent *de;
	DIR *d;
	(void)p;
	(void)cap;
	*n = 0;
	if (c->calls++ || !(d = opendir(c->dir)))
		return 0;
	while ((de = readdir(d)) != NULL)
		if (!strncmp(de->d_name, ".tmp", 4))
			snprintf(c->name, sizeof(c->name), "%s", de->d_name);
	closedir(d);
	return 0;
}

/* A push killed mid-put leaves its temporary file behind; a later push
 * whose process has the same pid (the norm in a container, or another
 * machine on a shared mount) must not trip over it. The stale names here
 * are exactly those this process's next puts would have chosen. */
static void stale_temporary_files_in_a_dir_remote_do_not_block_a_push(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char packs[4096], stale[4400];
	peek_ctx pk;
	arca_transport *t;
	arca_store *b;
	long pid = -1;
	unsigned next = 0;

	make_tree(f->src, 12, 300000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	memset(&pk, 0, sizeof(pk));
	pk.dir = r;
	assert_int_equal(arca_transport_dir_open(&t, r), 0);
	assert_int_equal(t->put(t, "probe", 0, peek_src, &pk, 0), 0);
	t->free(t);
	assert_true(pk.name[0] != '\0');
	if (sscanf(pk.name, ".tmp-%ld-%u", &pid, &next) != 2 || pid != (long)getpid())
		pid = (long)getpid(), next = 0; /* names no longer made of pid and count */
	snprintf(packs, sizeof(packs), "%s/packs", r);
	assert_int_equal(mkdir(packs, 0755), 0);
	for (unsigned i = 0; i < 256; i++) {
		snprintf(stale, sizeof(stale), "%s/.tmp-%ld-%u", packs, pid, next + i);
		th_write_file(stale, "x", 1);
	}
	assert_int_equal(push(f->s, r, "web"), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "web"), 0);
	th_restore_equals(b, f->tmp, "web", f->src);
	arca_store_free(b);
}

/* refs/NAME/TAG/ holds a ref's entries (16 hex digits) and hint (HEAD):
 * a name with a '/' and such a tag would make one of those a directory
 * (a/b:0000000000000001 against a:b's entry 1, a/b:HEAD against a:b's
 * hint), which a dir remote cannot hold. Push and export refuse those
 * refs before writing anything, in either order; other tags of such
 * names go up, and both refs come back. */
static void refs_whose_keys_would_collide_are_refused_before_any_write(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	static const char *const bad[] = { "a/b:0000000000000001", "a/b:HEAD" };
	arca_store *b;

	make_tree(f->src, 41, 100000);
	th_snapshot(f->s, f->src, "a", "b", NULL);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(arca_tag_set(f->s, "a:b", bad[i]), 0);
		assert_int_equal(push(f->s, r, bad[i]), ARCA_EINVAL);
		assert_non_null(strstr(arca_error_last(), "cannot go to a remote"));
		assert_int_equal(export_to(f->s, bad[i], th_path(f->tmp, "x.tar")), ARCA_EINVAL);
	}
	assert_int_equal(access(th_path(r, "refs"), F_OK), -1); /* nothing went up */
	assert_int_equal(arca_tag_set(f->s, "a:b", "a/b:v1"), 0);
	assert_int_equal(push(f->s, r, "a:b"), 0);
	assert_int_equal(push(f->s, r, "a/b:v1"), 0);
	assert_int_equal(push(f->s, r, "a/b:HEAD"), ARCA_EINVAL);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "a:b"), 0);
	assert_int_equal(pull(b, r, "a/b:v1"), 0);
	th_restore_equals(b, f->tmp, "a/b:v1", f->src);
	arca_store_free(b);
}

/* Whoever removes a pack from a remote removes its index first (FORMAT:
 * an index exists only if its pack does), so a removal cut short leaves
 * a pack without its index. The push cache must not take such a pack as
 * present: an artifact object listing it could never be pulled. */
static void a_cached_pack_whose_index_is_gone_is_sent_again(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char idx[4096];
	arca_store *b;

	make_tree(f->src, 13, 400000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(arca_remote_add(f->s, "origin", r, NULL, 0), 0);
	assert_int_equal(push(f->s, "origin", "web"), 0);
	assert_true(first_file(r, "packs", ".idx", idx, sizeof(idx), 0));
	assert_true(first_file(r, "packs", ".idx", idx, sizeof(idx), 1) == 0);
	assert_int_equal(unlink(idx), 0);
	/* new content sharing the cached chunks */
	th_write_random(th_path(f->src, "new"), 1000, 14);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, "origin", "web"), 0);
	b = th_store_open(th_path(f->tmp, "b"));
	assert_int_equal(pull(b, r, "web"), 0);
	th_restore_equals(b, f->tmp, "web", f->src);
	verify_clean(b);
	arca_store_free(b);
}

/* ---- kill -9 ---- */

static int kill_at, calls;

/* Dies at its kill_at-th call; otherwise slows the work down a little so
 * the parent's timed kill lands inside it. */
static int dying_progress(const arca_progress *p, void *payload)
{
	(void)p;
	(void)payload;
	if (++calls == kill_at)
		raise(SIGKILL);
	usleep(1000);
	return 0;
}

/* Child: pull (or import) and die at progress call `at` (0: never, the
 * parent kills it after `us` instead). 1 when it was killed. */
static int run_killed(const char *bdir, const char *r, const char *bundle, int at,
		useconds_t us)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
		arca_sync_result res = ARCA_SYNC_RESULT_INIT;
		const char *ref = "web";
		arca_progress__interval_ns = 0;
		kill_at = at;
		o.jobs = 1;
		o.progress_cb = dying_progress;
		if (arca_store_open(&s, bdir, NULL) != 0)
			_exit(3);
		if (bundle) {
			int fd = open(bundle, O_RDONLY);
			arca_import(&res, s, fd, &o);
		} else {
			arca_pull(&res, s, r, &ref, 1, &o);
		}
		arca_store_free(s);
		_exit(0);
	}
	if (!at) {
		usleep(us);
		kill(pid, SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status);
}

/* A killed writer leaves its uncommitted pack file (the next writer
 * removes it, cas/writer.c); only the pack lines are left out. */
static void drop_pack_lines(char *fp)
{
	char *in = fp, *out = fp;
	while (*in) {
		char *nl = strchr(in, '\n');
		size_t l = nl ? (size_t)(nl - in) + 1 : strlen(in);
		if (strncmp(in, "file ./packs/", 13) != 0) {
			memmove(out, in, l);
			out += l;
		}
		in += l;
	}
	*out = 0;
}

/* Killed at every progress call in turn, then at timed points: each time
 * the store opens and verifies, untouched (a pull commits once); at the
 * end a pull or import completes and restores. */
static void killed_then_recovers(th_fixture *f, const char *r, const char *bundle)
{
	char bdir[4096], *before, *after;
	int killed = 0, t;
	arca_store *s;

	snprintf(bdir, sizeof(bdir), "%s/killed", f->tmp);
	s = th_store_open(bdir);
	before = fingerprint(s, bdir);
	arca_store_free(s);
	for (t = 1; t < 200; t++) {
		if (!run_killed(bdir, r, bundle, t, 0))
			break; /* past the last call: it finished */
		killed++;
		s = th_store_open(bdir);
		verify_clean(s);
		after = fingerprint(s, bdir);
		drop_pack_lines(after);
		if (strcmp(before, after) != 0) {
			/* killed at the progress call after the commit: all of it */
			arca_id id;
			assert_int_equal(arca_resolve(&id, s, "web"), 0);
			th_restore_equals(s, f->tmp, "web", f->src);
			free(after);
			arca_store_free(s);
			break;
		}
		free(after);
		arca_store_free(s);
	}
	assert_true(killed >= 3);
	/* it finished: start over for the timed kills */
	th_cleanup(strdup(bdir));
	for (int i = 0; i < 4; i++) {
		killed += run_killed(bdir, r, bundle, 0, (useconds_t)(1000 + i * 7919 * t / 4));
		s = th_store_open(bdir);
		verify_clean(s);
		arca_store_free(s);
	}
	s = th_store_open(bdir);
	if (bundle)
		assert_int_equal(import_from(s, bundle, NULL), 0);
	else
		assert_int_equal(pull(s, r, "web"), 0);
	verify_clean(s);
	th_restore_equals(s, f->tmp, "web", f->src);
	arca_store_free(s);
	print_message("%d calls, %d kills\n", t, killed);
	free(before);
}

static void a_pull_killed_anywhere_leaves_a_store_that_pulls_again(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	arca_sync__pack_target = 256u << 10;
	make_tree(f->src, 12, 3u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	arca_store_free(f->s);
	f->s = NULL;
	killed_then_recovers(f, r, NULL);
}

static void an_import_killed_anywhere_leaves_a_store_that_imports_again(void **state)
{
	th_fixture *f = *state;
	char bundle[4096];
	make_tree(f->src, 13, 3u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	snprintf(bundle, sizeof(bundle), "%s/web.arcb", f->tmp);
	assert_int_equal(export_to(f->s, "web", bundle), 0);
	arca_store_free(f->s);
	f->s = NULL;
	killed_then_recovers(f, NULL, bundle);
}

/* ---- two processes ---- */

/* A gc in another process while this one pulls (each waits for the
 * other's lock or runs beside it); then the store verifies. */
static void a_pull_and_a_gc_at_once_leave_a_clean_store(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *bdir = th_path(f->tmp, "b");
	arca_store *b;
	pid_t pid;
	int status;

	make_tree(f->src, 14, 3u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	b = th_store_open(bdir);
	th_snapshot(b, f->src, "mine", NULL, NULL); /* shares chunks with web */
	assert_int_equal(arca_tag_delete(b, "mine:latest"), 0);
	arca_store_free(b);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		for (int i = 0; i < 20; i++) {
			arca_gc_result g = ARCA_GC_RESULT_INIT;
			if (arca_store_open(&s, bdir, NULL) != 0)
				_exit(3);
			arca_gc(&g, s, NULL);
			arca_store_free(s);
			usleep(5000);
		}
		_exit(0);
	}
	b = th_store_open(bdir);
	{
		int rc = pull(b, r, "web");
		assert_true(rc == 0 || rc == ARCA_ELOCKED);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	verify_clean(b);
	if (pull(b, r, "web") == 0)
		th_restore_equals(b, f->tmp, "web", f->src);
	verify_clean(b);
	arca_store_free(b);
}

static int gc_pipe = -1;

/* Tells the parent the gc holds the writer lock, then keeps it a while. */
static int gc_hold(const arca_progress *p, void *payload)
{
	static int told;
	(void)p;
	(void)payload;
	if (!told++) {
		(void)!write(gc_pipe, "x", 1);
		usleep(1500000);
	}
	return 0;
}

/* The pulling store once had the artifact, removed it, and a gc in
 * another process drops its chunks while the pull waits for the writer
 * lock: the pull must fetch them again, not take the store's view from
 * before the wait for the truth (and blame the remote). */
static void a_pull_waiting_for_a_gc_fetches_what_the_gc_dropped(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char bdir[4096];
	arca_store *b;
	arca_id ia;
	int fds[2], status;
	pid_t pid;
	char c;

	snprintf(bdir, sizeof(bdir), "%s/b", f->tmp);
	make_tree(f->src, 23, 1u << 20);
	ia = th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	b = th_store_open(bdir);
	assert_int_equal(pull(b, r, "web"), 0);
	assert_int_equal(arca_artifact_remove(b, &ia, 1, 1), 0);
	arca_store_free(b);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_gc_options go;
		arca_gc_result g = ARCA_GC_RESULT_INIT;
		close(fds[0]);
		gc_pipe = fds[1];
		arca_progress__interval_ns = 0;
		if (arca_store_open(&s, bdir, NULL) != 0)
			_exit(3);
		arca_gc_options_init(&go, ARCA_GC_OPTIONS_VERSION);
		go.progress_cb = gc_hold;
		if (arca_gc(&g, s, &go) != 0 || g.chunks_removed == 0)
			_exit(5);
		arca_store_free(s);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	b = th_store_open(bdir);
	{
		int rc = pull(b, r, "web");
		if (rc)
			print_message("pull after the gc: %s\n", arca_error_last());
		assert_int_equal(rc, 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	verify_clean(b);
	th_restore_equals(b, f->tmp, "web", f->src);
	arca_store_free(b);
}

/* Snapshots in another process while this one pushes. */
static void a_push_while_another_process_snapshots(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	pid_t pid;
	int status;

	make_tree(f->src, 15, 2u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		char d[4096];
		snprintf(d, sizeof(d), "%s/src3", f->tmp);
		for (int i = 0; i < 5; i++) {
			arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
			arca_op_stats st = ARCA_OP_STATS_INIT;
			if (arca_store_open(&s, f->storedir, NULL) != 0)
				_exit(3);
			make_tree(d, 100 + (uint64_t)i, 500000);
			so.name = "other";
			arca_id sid;
			int rc = arca_snapshot(&sid, s, d, &so, &st);
			if (rc != 0) {
				fprintf(stderr, "snapshot %d: %d %s\n", i, rc, arca_error_last());
				_exit(5);
			}
			arca_store_free(s);
		}
		_exit(0);
	}
	f->s = th_store_open(f->storedir);
	assert_int_equal(push(f->s, r, "web"), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	verify_clean(f->s);
	{
		arca_store *b = th_store_open(th_path(f->tmp, "b"));
		assert_int_equal(pull(b, r, "web"), 0);
		th_restore_equals(b, f->tmp, "web", f->src);
		arca_store_free(b);
	}
}

/* A gc repacking in another process while this one pushes (push reads
 * the store without the writer lock): the push succeeds or fails with an
 * error, and what it sent pulls back identical. */
static void a_push_while_another_process_gcs(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char src2[4096];
	pid_t pid;
	int status, ok = 0;

	snprintf(src2, sizeof(src2), "%s/src2", f->tmp);
	make_tree(src2, 19, 3u << 20);
	th_snapshot(f->s, src2, "old", NULL, NULL);
	make_tree(f->src, 20, 3u << 20);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s = NULL;
		arca_gc_options go;
		arca_gc_result g = ARCA_GC_RESULT_INIT;
		if (arca_store_open(&s, f->storedir, NULL) != 0)
			_exit(3);
		usleep(20000);
		if (arca_tag_delete(s, "old:latest") != 0)
			_exit(4);
		arca_gc_options_init(&go, ARCA_GC_OPTIONS_VERSION);
		go.repack_threshold = 0.99;
		if (arca_gc(&g, s, &go) != 0)
			_exit(5);
		arca_store_free(s);
		_exit(0);
	}
	f->s = th_store_open(f->storedir);
	arca_sync__pack_target = 256u << 10;
	for (int i = 0; i < 3; i++) {
		int rc = push(f->s, r, "web");
		if (rc == 0)
			ok++;
		else
			print_message("push during gc: %d %s\n", rc, arca_error_last());
	}
	arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(ok > 0);
	verify_clean(f->s);
	{
		arca_store *b = th_store_open(th_path(f->tmp, "b"));
		assert_int_equal(pull(b, r, "web"), 0);
		th_restore_equals(b, f->tmp, "web", f->src);
		arca_store_free(b);
	}
}

/* ---- restore --from ---- */

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void a_remote_restore_failing_leaves_no_temporary_store(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	char tmpdir[4096], out[4096], pk[4096], notdir[4096];
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	uint8_t *bytes;
	size_t n;
	int rc;

	make_tree(f->src, 16, 300000);
	th_snapshot(f->s, f->src, "web", NULL, NULL);
	assert_int_equal(push(f->s, r, "web"), 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmpd", f->tmp);
	assert_int_equal(mkdir(tmpdir, 0700), 0);
	so.tmp_dir = tmpdir;

	/* dest exists and holds a file: refused (only after the whole
	 * fetch), leaving no throw-away store */
	snprintf(out, sizeof(out), "%s/out", f->tmp);
	assert_int_equal(mkdir(out, 0755), 0);
	th_write_file(th_path(out, "keep"), "keep", 4);
	rc = arca_remote_restore(NULL, NULL, r, "web", out, NULL, &so, NULL);
	assert_int_equal(rc, ARCA_EEXISTS);
	assert_int_equal(count_entries(tmpdir), 0);
	assert_int_equal(th_file_size(th_path(out, "keep")), 4);

	/* tmp_dir a file and tmp_dir missing: an error, nothing made */
	snprintf(notdir, sizeof(notdir), "%s/afile", f->tmp);
	th_write_file(notdir, "x", 1);
	so.tmp_dir = notdir;
	snprintf(out, sizeof(out), "%s/out2", f->tmp);
	assert_true(arca_remote_restore(NULL, NULL, r, "web", out, NULL, &so, NULL) < 0);
	assert_int_equal(th_file_size(notdir), 1);
	so.tmp_dir = th_path(f->tmp, "nonexistent");
	assert_true(arca_remote_restore(NULL, NULL, r, "web", out, NULL, &so, NULL) < 0);
	assert_int_equal(count_entries(th_path(f->tmp, "nonexistent")), -1);

	/* a damaged remote: the pull fails, the temp store goes */
	so.tmp_dir = tmpdir;
	assert_true(first_file(r, "packs", ".arcp", pk, sizeof(pk), 0));
	read_whole(pk, &bytes, &n);
	bytes[n / 2] ^= 1;
	th_write_file(pk, bytes, n);
	free(bytes);
	snprintf(out, sizeof(out), "%s/out3", f->tmp);
	assert_int_equal(arca_remote_restore(NULL, NULL, r, "web", out, NULL, &so, NULL),
		ARCA_ECORRUPT);
	assert_int_equal(count_entries(tmpdir), 0);
}

typedef struct {
	int calls, at;
} cancel_nth;

static int cancel_on_nth(const arca_progress *p, void *payload)
{
	cancel_nth *c = payload;
	(void)p;
	return ++c->calls >= c->at ? 1 : 0;
}

/* Pieces of one byte (every record its own piece) on 64 threads, two
 * artifacts sharing chunks in one pull: a cancel at any progress call
 * leaves the store as it was and no thread waiting; the whole pull then
 * gives both trees back and a clean store. */
static void one_byte_pieces_on_64_threads_cancel_anywhere(void **state)
{
	th_fixture *f = *state;
	const char *r = th_path(f->tmp, "remote");
	const char *refs[2] = { "a", "b" };
	char src2[4096], *before, *after;
	arca_sync_options o = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result res = ARCA_SYNC_RESULT_INIT;
	cancel_nth c;
	arca_store *b;
	int rc, n;

	make_tree(f->src, 31, 1u << 20);
	th_snapshot(f->s, f->src, "a", NULL, NULL);
	snprintf(src2, sizeof(src2), "%s/src2", f->tmp);
	make_tree(src2, 31, 1u << 20); /* the same big file ... */
	th_write_random(th_path(src2, "small"), 9000, 77); /* ... one file new */
	th_snapshot(f->s, src2, "b", NULL, NULL);
	assert_int_equal(push(f->s, r, "a"), 0);
	assert_int_equal(push(f->s, r, "b"), 0);
	b = th_store_open(th_path(f->tmp, "d"));
	before = fingerprint(b, th_path(f->tmp, "d"));
	arca_sync__pull_piece = 1;
	arca_progress__interval_ns = 0;
	o.jobs = 64;
	o.progress_cb = cancel_on_nth;
	o.progress_payload = &c;
	for (n = 1;; n++) {
		c.calls = 0;
		c.at = n;
		rc = arca_pull(&res, b, r, refs, 2, &o);
		if (rc == 0)
			break;
		assert_int_equal(rc, ARCA_EUSER);
		after = fingerprint(b, th_path(f->tmp, "d"));
		assert_same(before, after);
		free(after);
	}
	arca_progress__interval_ns = 100 * 1000000;
	arca_sync__pull_piece = 8u << 20;
	assert_true(n > 3);
	th_restore_equals(b, f->tmp, "a", f->src);
	th_restore_equals(b, f->tmp, "b", src2);
	verify_clean(b);
	free(before);
	arca_store_free(b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, th_setup, th_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(a_pull_failing_on_its_second_artifact_changes_nothing),
		T(a_pull_moves_a_local_ref_only_forward_unless_forced),
		T(a_pull_cancelled_at_its_last_progress_call_adds_nothing),
		T(a_push_cancelled_at_its_last_progress_call_moves_no_ref),
		T(parallel_gets_without_a_temporary_dir),
		T(importing_a_bundle_twice_adds_nothing_the_second_time),
		T(an_artifact_pulled_without_its_parent_verifies_and_gcs),
		T(an_import_moves_a_local_ref_only_forward_unless_forced),
		T(an_artifact_object_under_another_id_is_refused),
		T(a_record_lying_about_its_manifest_is_refused),
		T(a_bundle_record_lying_about_its_manifest_is_refused),
		T(a_record_with_names_a_snapshot_refuses_is_refused),
		T(a_bundle_record_with_a_bad_name_is_refused),
		T(sparse_and_hardlinked_content_pulls_and_imports),
		T(an_index_for_another_pack_is_refused),
		T(an_index_one_record_off_is_refused),
		T(a_pack_object_holding_another_packs_bytes_is_refused),
		T(an_artifact_object_missing_a_pack_is_refused),
		T(ref_seq_gaps_and_wild_hints_are_handled),
		T(a_push_over_a_stale_hint_lands_after_the_newest_entry),
		T(pack_indexes_past_the_entry_cap_are_refused),
		T(a_symlinked_packs_dir_is_not_followed),
		T(dotdot_refs_and_symlinked_objects_are_refused),
		T(a_remote_that_is_a_file_is_refused),
		T(stale_temporary_files_in_a_dir_remote_do_not_block_a_push),
		T(a_cached_pack_whose_index_is_gone_is_sent_again),
		T(refs_whose_keys_would_collide_are_refused_before_any_write),
		T(a_fifo_in_the_remote_does_not_hang_a_pull),
		T(a_pull_killed_anywhere_leaves_a_store_that_pulls_again),
		T(an_import_killed_anywhere_leaves_a_store_that_imports_again),
		T(a_pull_and_a_gc_at_once_leave_a_clean_store),
		T(a_pull_waiting_for_a_gc_fetches_what_the_gc_dropped),
		T(a_push_while_another_process_snapshots),
		T(a_push_while_another_process_gcs),
		T(a_remote_restore_failing_leaves_no_temporary_store),
		T(one_byte_pieces_on_64_threads_cancel_anywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
