/* Bundles: arca_export writes one tar that arca_import takes into another
 * store, byte-identical restores, the same bytes every time, --since; and
 * every kind of hostile bundle is refused with the store left exactly as
 * it was. */
#include "helpers.h"
#include "arca/remote.h"
#include "sync/layout.h"
#include "util/buf.h"
#include "util/progress.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	char *tmp;
	char src[4096], a_dir[4096], b_dir[4096];
	arca_store *a, *b;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->tmp = th_tmpdir();
	snprintf(f->src, sizeof(f->src), "%s/src", f->tmp);
	snprintf(f->a_dir, sizeof(f->a_dir), "%s/a", f->tmp);
	snprintf(f->b_dir, sizeof(f->b_dir), "%s/b", f->tmp);
	mkdir(f->src, 0755);
	mkdir(th_path(f->src, "sub"), 0755);
	mkdir(th_path(f->src, "empty"), 0700);
	th_write_random(th_path(f->src, "big"), 700000, 1);
	th_write_random(th_path(f->src, "sub/small"), 3000, 2);
	th_write_file(th_path(f->src, "sub/hello"), "hello\n", 6);
	assert_int_equal(symlink("sub/hello", th_path(f->src, "link")), 0);
	f->a = th_store_open(f->a_dir);
	f->b = th_store_open(f->b_dir);
	/* the importing store has data of its own: a refused import must
	 * leave its packs, refs and artifacts as they were */
	mkdir(th_path(f->tmp, "own"), 0755);
	th_write_random(th_path(f->tmp, "own/data"), 200000, 77);
	th_snapshot(f->b, th_path(f->tmp, "own"), "own", NULL, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	arca_store_free(f->a);
	arca_store_free(f->b);
	th_cleanup(f->tmp);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static int export_to(arca_store *s, const char **refs, size_t n, const char **since,
		size_t ns, const char *path)
{
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc;
	assert_true(fd >= 0);
	rc = arca_export(&r, s, refs, n, since, ns, fd, NULL);
	close(fd);
	return rc;
}

static void export_ok(arca_store *s, const char **refs, size_t n, const char **since,
		size_t ns, const char *path)
{
	if (export_to(s, refs, n, since, ns, path) != 0)
		fail_msg("export: %s", arca_error_last());
}

static int import_from(arca_store *s, const char *path, arca_sync_result *r)
{
	arca_sync_result local = ARCA_SYNC_RESULT_INIT;
	int fd = open(path, O_RDONLY), rc;
	assert_true(fd >= 0);
	rc = arca_import(r ? r : &local, s, fd, NULL);
	close(fd);
	return rc;
}

static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

/* Everything a failed import must leave as it was. */
typedef struct {
	char *p;
	size_t n, cap;
} text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *t, const char *fmt, ...)
{
	va_list ap;
	char line[1024];
	int k;
	va_start(ap, fmt);
	k = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (t->n + (size_t)k + 1 > t->cap) {
		t->cap = (t->n + (size_t)k + 1) * 2;
		t->p = realloc(t->p, t->cap);
	}
	memcpy(t->p + t->n, line, (size_t)k + 1);
	t->n += (size_t)k;
}

static int add_ref(const char *name, const char *tag, const arca_id *id, void *p)
{
	char hex[ARCA_ID_STRLEN];
	arca_id_format(hex, id);
	text_add(p, "ref %s:%s %s\n", name, tag, hex);
	return 0;
}

static int add_art(const arca_artifact *a, void *p)
{
	char hex[ARCA_ID_STRLEN];
	arca_id_format(hex, &a->id);
	text_add(p, "artifact %s\n", hex);
	return 0;
}

static char *state_of(arca_store *s, const char *dir)
{
	arca_store_stats st = ARCA_STORE_STATS_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	struct dirent **names;
	text t = { NULL, 0, 0 };
	int n;

	assert_int_equal(arca_ref_foreach(s, add_ref, &t), 0);
	assert_int_equal(arca_artifact_foreach(s, add_art, &t), 0);
	assert_int_equal(arca_store_stats_get(&st, s), 0);
	text_add(&t, "stats %llu %llu %llu %llu %llu %llu\n", (unsigned long long)st.artifacts,
		(unsigned long long)st.chunks, (unsigned long long)st.unique_bytes,
		(unsigned long long)st.stored_bytes, (unsigned long long)st.pack_bytes,
		(unsigned long long)st.packs);
	n = scandir(th_path(dir, "packs"), &names, NULL, alphasort);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.')
			text_add(&t, "file %s %lld\n", names[i]->d_name, (long long)th_file_size(
				th_path(th_path(dir, "packs"), names[i]->d_name)));
		free(names[i]);
	}
	free(names);
	if (arca_verify(&vr, s) != 0)
		fail_msg("verify: %s", arca_error_last());
	arca_verify_result_clear(&vr);
	if (!t.p)
		text_add(&t, "empty\n");
	return t.p;
}

/* ---- tar surgery ---- */

#define MAX_MEMBERS 64

typedef struct {
	char name[1024];
	uint8_t *data;
	size_t len;
	int type;              /* AE_IFREG, AE_IFLNK */
} member;

typedef struct {
	member m[MAX_MEMBERS];
	size_t n;
} tarball;

static void tar_read(tarball *t, const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	t->n = 0;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		member *m = &t->m[t->n++];
		assert_true(t->n <= MAX_MEMBERS);
		snprintf(m->name, sizeof(m->name), "%s", archive_entry_pathname(e));
		m->len = (size_t)archive_entry_size(e);
		m->data = malloc(m->len + 1);
		m->type = AE_IFREG;
		assert_int_equal(archive_read_data(a, m->data, m->len), (la_ssize_t)m->len);
	}
	archive_read_free(a);
}

static void tar_write(const tarball *t, const char *path)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < t->n; i++) {
		const member *m = &t->m[i];
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m->name);
		archive_entry_set_filetype(e, (unsigned)m->type);
		archive_entry_set_perm(e, 0644);
		if (m->type == AE_IFLNK) {
			archive_entry_set_symlink(e, "arca-bundle");
			archive_entry_set_size(e, 0);
		} else {
			archive_entry_set_size(e, (la_int64_t)m->len);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m->type == AE_IFREG && m->len)
			assert_int_equal(archive_write_data(a, m->data, m->len), (la_ssize_t)m->len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void tar_clear(tarball *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->m[i].data);
	t->n = 0;
}

static void tar_insert(tarball *t, size_t at, const member *m)
{
	assert_true(t->n < MAX_MEMBERS);
	memmove(&t->m[at + 1], &t->m[at], (t->n - at) * sizeof(member));
	t->m[at] = *m;
	t->m[at].data = malloc(m->len + 1);
	memcpy(t->m[at].data, m->data, m->len);
	t->n++;
}

static size_t find_member(const tarball *t, const char *prefix, const char *suffix)
{
	for (size_t i = 0; i < t->n; i++) {
		size_t n = strlen(t->m[i].name), sl = strlen(suffix);
		if (!strncmp(t->m[i].name, prefix, strlen(prefix)) && n >= sl &&
		    !strcmp(t->m[i].name + n - sl, suffix))
			return i;
	}
	fail_msg("no member %s*%s", prefix, suffix);
	return 0;
}

/* A bundle of web:v1 (the fixture's tree), unpacked. */
static void good_bundle(fixture *f, tarball *t, char *path, size_t n)
{
	const char *refs[] = { "web:v1", "web" };
	snprintf(path, n, "%s/good.tar", f->tmp);
	th_snapshot(f->a, f->src, "web", "v1", NULL);
	export_ok(f->a, refs, 2, NULL, 0, path);
	tar_read(t, path);
}

/* The import of `path` into store b fails with `code` and changes nothing,
 * and a good bundle still imports afterwards. */
static void refused(fixture *f, const char *path, int code, const char *msg)
{
	char *before = state_of(f->b, f->b_dir), *after;
	int rc = import_from(f->b, path, NULL);
	if (rc != code)
		fail_msg("import of %s: want %d, got %d (%s)", path, code, rc, arca_error_last());
	if (msg && !strstr(arca_error_last(), msg))
		fail_msg("import of %s: message '%s' lacks '%s'", path, arca_error_last(), msg);
	after = state_of(f->b, f->b_dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void good_still_imports(fixture *f, const char *good)
{
	if (import_from(f->b, good, NULL) != 0)
		fail_msg("good import after a refused one: %s", arca_error_last());
	th_restore_equals(f->b, f->tmp, "web:v1", f->src);
}

/* ---- round trips ---- */

static void tree_round_trip_restores_identically(void **state)
{
	fixture *f = *state;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT, e = ARCA_SYNC_RESULT_INIT;
	const char *refs[] = { "web:v1", "web" };
	char path[4200];
	arca_id ida, idb;
	int fd;

	arca_id id = th_snapshot(f->a, f->src, "web", "v1", NULL);
	snprintf(path, sizeof(path), "%s/b.tar", f->tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(arca_export(&e, f->a, refs, 2, NULL, 0, fd, NULL), 0);
	close(fd);
	assert_int_equal(e.bytes, (uint64_t)th_file_size(path));
	assert_int_equal(e.artifacts, 1);
	assert_int_equal(e.refs_moved, 2);
	assert_int_equal(e.objects, 7); /* header, marker, pack, index, artifact, 2 refs */
	if (import_from(f->b, path, &r) != 0)
		fail_msg("import: %s", arca_error_last());
	assert_int_equal(r.artifacts, 1);
	assert_int_equal(r.refs_moved, 2);
	assert_int_equal(r.chunks, e.chunks);
	assert_int_equal(r.bytes, e.bytes);
	assert_int_equal(arca_resolve(&ida, f->b, "web:v1"), 0);
	assert_int_equal(arca_resolve(&idb, f->b, "web:latest"), 0);
	assert_memory_equal(ida.bytes, id.bytes, 32);
	assert_memory_equal(idb.bytes, id.bytes, 32);
	th_restore_equals(f->b, f->tmp, "web:v1", f->src);
	free(state_of(f->b, f->b_dir)); /* verify is clean */

	/* again: nothing new, refs unchanged */
	arca_sync_result r2 = ARCA_SYNC_RESULT_INIT;
	assert_int_equal(import_from(f->b, path, &r2), 0);
	assert_int_equal(r2.artifacts, 0);
	assert_int_equal(r2.chunks, 0);
	assert_int_equal(r2.refs_moved, 0);
}

static void image_round_trip_restores_identically(void **state)
{
	fixture *f = *state;
	const char *refs[] = { "disk" };
	char img[4200], path[4200], out[4200];
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	int fd;

	snprintf(img, sizeof(img), "%s/disk.img", f->tmp);
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8 << 20), 0);
	close(fd);
	th_pwrite_random(img, 4096, 500000, 3);
	th_pwrite_random(img, 5 << 20, 300000, 4);
	th_snapshot(f->a, img, "disk", NULL, NULL);
	snprintf(path, sizeof(path), "%s/img.tar", f->tmp);
	export_ok(f->a, refs, 1, NULL, 0, path);
	if (import_from(f->b, path, NULL) != 0)
		fail_msg("import: %s", arca_error_last());
	snprintf(out, sizeof(out), "%s/disk.out", f->tmp);
	assert_int_equal(arca_restore(f->b, "disk", out, &ro, NULL), 0);
	assert_int_equal(th_file_equal(img, out), 0);
}

static void long_ref_names_round_trip(void **state)
{
	fixture *f = *state;
	char name[256], tag[129], ref[400], path[4200];
	const char *refs[] = { ref };
	arca_id id, got;

	/* a key longer than ustar's 100-byte name field: pax carries it */
	memset(name, 'n', 255);
	for (int i = 50; i < 250; i += 51)
		name[i] = '/';
	name[255] = 0;
	memset(tag, 't', 128);
	tag[128] = 0;
	snprintf(ref, sizeof(ref), "%s:%s", name, tag);
	id = th_snapshot(f->a, f->src, name, tag, NULL);
	snprintf(path, sizeof(path), "%s/long.tar", f->tmp);
	export_ok(f->a, refs, 1, NULL, 0, path);
	if (import_from(f->b, path, NULL) != 0)
		fail_msg("import: %s", arca_error_last());
	assert_int_equal(arca_resolve(&got, f->b, ref), 0);
	assert_memory_equal(got.bytes, id.bytes, 32);
}

/* The most refs a bundle takes, each with a long name: the header is
 * far past 64 KiB and still goes round trip; one more is refused. */
static void a_bundle_takes_4096_long_refs(void **state)
{
	fixture *f = *state;
	enum { N = 4096 };
	char (*refs)[400] = calloc(N + 1, sizeof(*refs));
	const char **rp = calloc(N + 1, sizeof(*rp));
	char path[4200], tag[129];
	arca_id id, got;

	assert_non_null(refs);
	assert_non_null(rp);
	memset(tag, 't', 120);
	tag[120] = 0;
	id = th_snapshot(f->a, f->src, "w", NULL, NULL);
	for (int i = 0; i <= N; i++) {
		snprintf(refs[i], sizeof(refs[i]), "%0200d:%s%d", i, tag, i);
		assert_int_equal(arca_tag_set(f->a, "w", refs[i]), 0);
		rp[i] = refs[i];
	}
	snprintf(path, sizeof(path), "%s/many.tar", f->tmp);
	export_ok(f->a, rp, N, NULL, 0, path);
	if (import_from(f->b, path, NULL) != 0)
		fail_msg("import: %s", arca_error_last());
	assert_int_equal(arca_resolve(&got, f->b, refs[N - 1]), 0);
	assert_memory_equal(got.bytes, id.bytes, 32);
	assert_int_equal(export_to(f->a, rp, N + 1, NULL, 0, path), ARCA_EINVAL);
	free(refs);
	free(rp);
}

/* ---- determinism ---- */

typedef struct {
	int fd;
	uint8_t *p;
	size_t n, cap;
} pipe_sink;

static void *drain(void *arg)
{
	pipe_sink *ps = arg;
	for (;;) {
		ssize_t k;
		if (ps->n == ps->cap) {
			ps->cap = ps->cap ? ps->cap * 2 : 1 << 20;
			ps->p = realloc(ps->p, ps->cap);
		}
		k = read(ps->fd, ps->p + ps->n, ps->cap - ps->n);
		if (k <= 0)
			break;
		ps->n += (size_t)k;
	}
	return NULL;
}

static void two_exports_are_byte_identical(void **state)
{
	fixture *f = *state;
	const char *refs[] = { "web", "web:v1" };
	char p1[4200], p2[4200];
	uint8_t *a, *b;
	size_t na, nb;
	int fds[2];
	pthread_t th;
	pipe_sink ps = { -1, NULL, 0, 0 };

	th_snapshot(f->a, f->src, "web", "v1", NULL);
	snprintf(p1, sizeof(p1), "%s/1.tar", f->tmp);
	snprintf(p2, sizeof(p2), "%s/2.tar", f->tmp);
	export_ok(f->a, refs, 2, NULL, 0, p1);
	export_ok(f->a, refs, 2, NULL, 0, p2);
	a = slurp(p1, &na);
	b = slurp(p2, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	assert_int_equal(na % 512, 0);

	/* a pipe gets the same bytes as a file */
	assert_int_equal(pipe(fds), 0);
	ps.fd = fds[0];
	assert_int_equal(pthread_create(&th, NULL, drain, &ps), 0);
	assert_int_equal(arca_export(NULL, f->a, refs, 2, NULL, 0, fds[1], NULL), 0);
	close(fds[1]);
	pthread_join(th, NULL);
	close(fds[0]);
	assert_int_equal(ps.n, na);
	assert_memory_equal(ps.p, a, na);
	free(ps.p);
	free(a);
	free(b);
}

static void members_follow_the_format(void **state)
{
	fixture *f = *state;
	tarball t;
	char path[4200];
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t i = 0;

	good_bundle(f, &t, path, sizeof(path));
	assert_string_equal(t.m[0].name, "arca-bundle");
	assert_true(!strncmp((char *)t.m[0].data, "arca-bundle 1\nref web:v1 ", 25));
	assert_string_equal(t.m[1].name, "ARCA-REMOTE");
	assert_int_equal(t.m[1].len, 14);
	assert_memory_equal(t.m[1].data, "arca-remote 1\n", 14);
	assert_true(!strncmp(t.m[2].name, "packs/", 6));
	assert_true(strstr(t.m[2].name, ".arcp") != NULL);
	assert_true(strstr(t.m[3].name, ".idx") != NULL);
	assert_true(!strncmp(t.m[t.n - 3].name, "artifacts/", 10));
	assert_string_equal(t.m[t.n - 2].name + strlen(t.m[t.n - 2].name) - 20,
		"/v1/0000000000000001");
	assert_true(!strncmp(t.m[t.n - 1].name, "refs/web/latest/", 16));
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		assert_int_equal(archive_entry_mtime(e), 0);
		assert_int_equal(archive_entry_uid(e), 0);
		assert_int_equal(archive_entry_gid(e), 0);
		assert_int_equal(archive_entry_perm(e), 0644);
		assert_true(!archive_entry_uname(e) || !*archive_entry_uname(e));
		assert_true(!archive_entry_gname(e) || !*archive_entry_gname(e));
		i++;
	}
	assert_int_equal(i, t.n);
	archive_read_free(a);
	/* the first block is a plain ustar header: no user or group names */
	uint8_t *raw;
	size_t n;
	raw = slurp(path, &n);
	assert_memory_equal(raw + 257, "ustar", 5);
	for (int k = 265; k < 265 + 64; k++)
		assert_int_equal(raw[k], 0);
	free(raw);
	tar_clear(&t);
}

/* ---- --since ---- */

static void since_leaves_out_the_base(void **state)
{
	fixture *f = *state;
	const char *v1[] = { "web:v1" }, *v2[] = { "web:v2" }, *base[] = { "web:v1" };
	char full[4200], inc[4200], first[4200], cdir[4200];
	arca_store *c;
	char *before, *after;

	th_snapshot(f->a, f->src, "web", "v1", NULL);
	th_write_random(th_path(f->src, "sub/new"), 200000, 9);
	th_snapshot(f->a, f->src, "web", "v2", NULL);
	snprintf(full, sizeof(full), "%s/full.tar", f->tmp);
	snprintf(inc, sizeof(inc), "%s/inc.tar", f->tmp);
	snprintf(first, sizeof(first), "%s/v1.tar", f->tmp);
	export_ok(f->a, v2, 1, NULL, 0, full);
	export_ok(f->a, v2, 1, base, 1, inc);
	export_ok(f->a, v1, 1, NULL, 0, first);
	assert_true(th_file_size(inc) < th_file_size(full) / 2);

	/* a store with the base takes it */
	assert_int_equal(import_from(f->b, first, NULL), 0);
	if (import_from(f->b, inc, NULL) != 0)
		fail_msg("import --since bundle: %s", arca_error_last());
	th_restore_equals(f->b, f->tmp, "web:v2", f->src);

	/* one without it refuses, unchanged */
	snprintf(cdir, sizeof(cdir), "%s/c", f->tmp);
	c = th_store_open(cdir);
	before = state_of(c, cdir);
	assert_int_equal(import_from(c, inc, NULL), ARCA_ENOTFOUND);
	assert_non_null(strstr(arca_error_last(), "--since"));
	after = state_of(c, cdir);
	assert_string_equal(before, after);
	free(before);
	free(after);
	arca_store_free(c);
}

static void export_refuses_bad_refs(void **state)
{
	fixture *f = *state;
	arca_id id = th_snapshot(f->a, f->src, "web", "v1", NULL);
	char hex[ARCA_ID_STRLEN], path[4200];
	const char *byid[] = { hex }, *missing[] = { "nosuch" }, *ok[] = { "web" };
	const char *nobase[] = { "nosuch" };

	arca_id_format(hex, &id);
	snprintf(path, sizeof(path), "%s/x.tar", f->tmp);
	assert_int_equal(export_to(f->a, byid, 1, NULL, 0, path), ARCA_EINVAL);
	assert_int_equal(export_to(f->a, missing, 1, NULL, 0, path), ARCA_ENOTFOUND);
	assert_int_equal(export_to(f->a, ok, 0, NULL, 0, path), ARCA_EINVAL);
	assert_int_equal(export_to(f->a, ok, 1, nobase, 1, path), ARCA_ENOTFOUND);
}

/* ---- hostile bundles ---- */

static void truncated_bundles_are_refused(void **state)
{
	fixture *f = *state;
	tarball t;
	char good[4200], cut[4200];
	uint8_t *p;
	size_t n;

	good_bundle(f, &t, good, sizeof(good));
	p = slurp(good, &n);
	size_t offs[] = { 0, 1, 511, 512, 1024, 1500, n / 4, n / 3, n / 2, 3 * n / 4,
		n - 1536 + 40, n - 2048 - 100 };
	snprintf(cut, sizeof(cut), "%s/cut.tar", f->tmp);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		th_write_file(cut, p, offs[i]);
		refused(f, cut, ARCA_ECORRUPT, NULL);
	}
	free(p);
	tar_clear(&t);
	good_still_imports(f, good);
}

static void a_flipped_byte_in_a_pack_is_refused(void **state)
{
	fixture *f = *state;
	tarball t;
	char good[4200], bad[4200];
	size_t i;

	good_bundle(f, &t, good, sizeof(good));
	i = find_member(&t, "packs/", ".arcp");
	t.m[i].data[t.m[i].len / 2] ^= 0x20;
	snprintf(bad, sizeof(bad), "%s/flip.tar", f->tmp);
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, NULL);
	/* and in its index */
	t.m[i].data[t.m[i].len / 2] ^= 0x20;
	t.m[i + 1].data[100] ^= 1;
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, NULL);
	tar_clear(&t);
	good_still_imports(f, good);
}

static void bad_member_names_are_refused(void **state)
{
	fixture *f = *state;
	const char *names[] = { "../x", "/abs", "packs/../arca-bundle", "./arca-bundle",
		"extra", "refs/web/v1/HEAD", "artifacts/ABCDEF" };
	tarball t;
	char good[4200], bad[4200];
	member m = { "", (uint8_t *)"x", 1, AE_IFREG };

	good_bundle(f, &t, good, sizeof(good));
	snprintf(bad, sizeof(bad), "%s/names.tar", f->tmp);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(m.name, sizeof(m.name), "%s", names[i]);
		tar_insert(&t, 1, &m);
		tar_write(&t, bad);
		refused(f, bad, ARCA_ECORRUPT, i == 0 ? ".." : i == 1 ? "absolute" : NULL);
		free(t.m[1].data);
		memmove(&t.m[1], &t.m[2], (t.n - 2) * sizeof(member));
		t.n--;
	}
	tar_clear(&t);
	good_still_imports(f, good);
}

static void the_remote_marker_is_required(void **state)
{
	fixture *f = *state;
	tarball t;
	char good[4200], bad[4200];
	member gone;

	good_bundle(f, &t, good, sizeof(good));
	snprintf(bad, sizeof(bad), "%s/marker.tar", f->tmp);
	t.m[1].data[12] = '2';
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "marker");
	t.m[1].data[12] = '1';
	gone = t.m[1];
	memmove(&t.m[1], &t.m[2], (t.n - 2) * sizeof(member));
	t.n--;
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "order");
	t.m[t.n++] = gone; /* freed with the others */
	tar_clear(&t);
	good_still_imports(f, good);
}

static void a_symlink_member_is_refused(void **state)
{
	fixture *f = *state;
	tarball t;
	char good[4200], bad[4200];
	size_t i;

	good_bundle(f, &t, good, sizeof(good));
	i = find_member(&t, "packs/", ".arcp");
	t.m[i].type = AE_IFLNK;
	snprintf(bad, sizeof(bad), "%s/link.tar", f->tmp);
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "regular file");
	tar_clear(&t);
	good_still_imports(f, good);
}

/* A ustar header block for `name` of `size` bytes. */
static void ustar_header(uint8_t h[512], const char *name, uint64_t size)
{
	unsigned sum = 0;
	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	memcpy(h + 136, "00000000000", 12);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static void oversized_members_are_refused(void **state)
{
	fixture *f = *state;
	tarball t;
	char good[4200], bad[4200];
	uint8_t *p, h[512];
	size_t n, i, first;
	int fd;

	good_bundle(f, &t, good, sizeof(good));
	snprintf(bad, sizeof(bad), "%s/big.tar", f->tmp);

	/* a header of 4 MiB + 1 (zeros) */
	free(t.m[0].data);
	t.m[0].len = (4 << 20) + 1;
	t.m[0].data = calloc(1, t.m[0].len);
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "larger than");

	/* a pack member that says 300 MiB: refused before a byte is read */
	tar_clear(&t);
	tar_read(&t, good);
	p = slurp(good, &n);
	i = find_member(&t, "packs/", ".arcp");
	/* the header and marker members as they are */
	first = 512 + ((t.m[0].len + 511) / 512) * 512 + 512 + ((t.m[1].len + 511) / 512) * 512;
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, first), (ssize_t)first);
	ustar_header(h, t.m[i].name, 300ull << 20);
	assert_int_equal(write(fd, h, 512), 512);
	assert_int_equal(write(fd, p + first + 512, 4096), 4096);
	close(fd);
	refused(f, bad, ARCA_ECORRUPT, "larger than");
	free(p);
	tar_clear(&t);
	good_still_imports(f, good);
}

static void members_out_of_order_are_refused(void **state)
{
	fixture *f = *state;
	tarball t;
	char good[4200], bad[4200];
	member tmp;
	size_t i;

	good_bundle(f, &t, good, sizeof(good));
	snprintf(bad, sizeof(bad), "%s/order.tar", f->tmp);
	/* an index before its pack */
	i = find_member(&t, "packs/", ".arcp");
	tmp = t.m[i];
	t.m[i] = t.m[i + 1];
	t.m[i + 1] = tmp;
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "order");
	t.m[i + 1] = t.m[i];
	t.m[i] = tmp;
	/* the refs before the artifact */
	tmp = t.m[t.n - 3];
	t.m[t.n - 3] = t.m[t.n - 2];
	t.m[t.n - 2] = tmp;
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, NULL);
	t.m[t.n - 2] = t.m[t.n - 3];
	t.m[t.n - 3] = tmp;
	/* the refs in another order than the header's */
	tmp = t.m[t.n - 2];
	t.m[t.n - 2] = t.m[t.n - 1];
	t.m[t.n - 1] = tmp;
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "order");
	t.m[t.n - 1] = t.m[t.n - 2];
	t.m[t.n - 2] = tmp;
	/* the header not first */
	tmp = t.m[0];
	t.m[0] = t.m[1];
	t.m[1] = tmp;
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "order");
	t.m[1] = t.m[0];
	t.m[0] = tmp;
	/* a ref missing */
	t.n--;
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "truncated");
	t.n++;
	tar_clear(&t);
	good_still_imports(f, good);
}

static void duplicate_members_are_refused(void **state)
{
	fixture *f = *state;
	tarball t;
	char good[4200], bad[4200];
	size_t i;

	good_bundle(f, &t, good, sizeof(good));
	snprintf(bad, sizeof(bad), "%s/dup.tar", f->tmp);
	i = find_member(&t, "packs/", ".arcp");
	tar_insert(&t, i + 2, &t.m[i + 1]);
	tar_insert(&t, i + 2, &t.m[i]);
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "duplicate");
	tar_clear(&t);

	tar_read(&t, good);
	tar_insert(&t, t.n, &t.m[t.n - 1]);
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "duplicate");
	tar_clear(&t);

	tar_read(&t, good);
	tar_insert(&t, 1, &t.m[0]);
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "duplicate");
	tar_clear(&t);
	good_still_imports(f, good);
}

/* A --since bundle whose header forgets its base: the artifact's manifest
 * names data chunks that neither the bundle nor the store has. */
static void chunks_in_neither_bundle_nor_store_are_refused(void **state)
{
	fixture *f = *state;
	const char *v2[] = { "web:v2" }, *base[] = { "web:v1" }, *v1[] = { "web:v1" };
	char inc[4200], first[4200];
	tarball t;
	char *nl;

	th_snapshot(f->a, f->src, "web", "v1", NULL);
	th_write_random(th_path(f->src, "sub/new"), 100000, 11);
	th_snapshot(f->a, f->src, "web", "v2", NULL);
	snprintf(inc, sizeof(inc), "%s/inc.tar", f->tmp);
	snprintf(first, sizeof(first), "%s/v1.tar", f->tmp);
	export_ok(f->a, v2, 1, base, 1, inc);
	export_ok(f->a, v1, 1, NULL, 0, first);
	tar_read(&t, inc);
	assert_string_equal(t.m[0].name, "arca-bundle");
	t.m[0].data[t.m[0].len] = 0;
	nl = strstr((char *)t.m[0].data, "since ");
	assert_non_null(nl);
	t.m[0].len = (size_t)(nl - (char *)t.m[0].data);
	tar_write(&t, inc);
	refused(f, inc, ARCA_ECORRUPT, "neither the bundle nor the store");
	tar_clear(&t);
	/* with the base imported first, the same bundle is complete */
	assert_int_equal(import_from(f->b, first, NULL), 0);
	if (import_from(f->b, inc, NULL) != 0)
		fail_msg("import: %s", arca_error_last());
	th_restore_equals(f->b, f->tmp, "web:v2", f->src);
}

/* An artifact object must list the packs that hold its chunks: an
 * unpacked bundle is a remote, and pulls go by that list. */
static void an_artifact_object_must_list_its_packs(void **state)
{
	fixture *f = *state;
	tarball t;
	char good[4200], bad[4200];
	arca_buf obj = ARCA_BUF_INIT(SIZE_MAX);
	arca_arto o;
	uint8_t none[1][32];
	size_t i;

	good_bundle(f, &t, good, sizeof(good));
	snprintf(bad, sizeof(bad), "%s/arto.tar", f->tmp);
	i = find_member(&t, "artifacts/", "");
	assert_int_equal(arca_arto_decode(&o, t.m[i].data, t.m[i].len), 0);
	assert_int_equal(o.npacks, 1);
	assert_int_equal(arca_arto_encode(&obj, o.record, o.record_len, none, 0), 0);
	free(t.m[i].data);
	t.m[i].data = obj.ptr;
	t.m[i].len = obj.len;
	tar_write(&t, bad);
	refused(f, bad, ARCA_ECORRUPT, "does not list the pack");
	tar_clear(&t);
	good_still_imports(f, good);
}

static void garbage_is_refused(void **state)
{
	fixture *f = *state;
	char bad[4200];
	uint8_t junk[20000];
	th_fill_random(junk, sizeof(junk), 5);
	snprintf(bad, sizeof(bad), "%s/junk", f->tmp);
	th_write_file(bad, junk, sizeof(junk));
	refused(f, bad, ARCA_ECORRUPT, NULL);
	th_write_file(bad, "", 0);
	refused(f, bad, ARCA_ECORRUPT, NULL);
}

static int cancel_cb(const arca_progress *p, void *payload)
{
	(void)p;
	return ++*(int *)payload > 3;
}

static void a_cancelled_import_changes_nothing(void **state)
{
	fixture *f = *state;
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	tarball t;
	char good[4200], *before, *after;
	int calls = 0, fd;

	good_bundle(f, &t, good, sizeof(good));
	tar_clear(&t);
	arca_progress__interval_ns = 0;
	so.progress_cb = cancel_cb;
	so.progress_payload = &calls;
	before = state_of(f->b, f->b_dir);
	fd = open(good, O_RDONLY);
	assert_int_equal(arca_import(&r, f->b, fd, &so), ARCA_EUSER);
	close(fd);
	after = state_of(f->b, f->b_dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
	good_still_imports(f, good);
}

typedef struct {
	int calls, ends;
	arca_progress_phase_t phase;
	uint64_t items, bytes;
	int went_back;
} progress_log;

static int log_cb(const arca_progress *p, void *payload)
{
	progress_log *l = payload;
	if (l->calls++ && (p->items_done < l->items || p->bytes_done < l->bytes))
		l->went_back = 1;
	l->phase = p->phase;
	l->items = p->items_done;
	l->bytes = p->bytes_done;
	l->ends += p->phase_end;
	return 0;
}

static void progress_counts_members(void **state)
{
	fixture *f = *state;
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	const char *refs[] = { "web" };
	progress_log l = { 0, 0, 0, 0, 0, 0 };
	char path[4200];
	int fd;

	th_snapshot(f->a, f->src, "web", NULL, NULL);
	arca_progress__interval_ns = 0;
	so.progress_cb = log_cb;
	so.progress_payload = &l;
	snprintf(path, sizeof(path), "%s/p.tar", f->tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(arca_export(&r, f->a, refs, 1, NULL, 0, fd, &so), 0);
	close(fd);
	assert_int_equal(l.phase, ARCA_PROGRESS_UPLOAD);
	assert_int_equal(l.ends, 1);
	assert_int_equal(l.items, r.objects);
	assert_false(l.went_back);

	memset(&l, 0, sizeof(l));
	fd = open(path, O_RDONLY);
	assert_int_equal(arca_import(&r, f->b, fd, &so), 0);
	close(fd);
	assert_int_equal(l.phase, ARCA_PROGRESS_DOWNLOAD);
	assert_int_equal(l.ends, 1);
	assert_int_equal(l.items, r.objects);
	assert_int_equal(l.items, 6);
	assert_false(l.went_back);
}

static void a_cancelled_export_returns_euser(void **state)
{
	fixture *f = *state;
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	const char *refs[] = { "web" };
	char path[4200];
	int calls = 0, fd;

	th_snapshot(f->a, f->src, "web", NULL, NULL);
	arca_progress__interval_ns = 0;
	so.progress_cb = cancel_cb;
	so.progress_payload = &calls;
	snprintf(path, sizeof(path), "%s/cancel.tar", f->tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(arca_export(NULL, f->a, refs, 1, NULL, 0, fd, &so), ARCA_EUSER);
	close(fd);
	/* what was written is refused as cut short */
	refused(f, path, ARCA_ECORRUPT, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tree_round_trip_restores_identically, setup, teardown),
		cmocka_unit_test_setup_teardown(image_round_trip_restores_identically, setup, teardown),
		cmocka_unit_test_setup_teardown(long_ref_names_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(a_bundle_takes_4096_long_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(two_exports_are_byte_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(members_follow_the_format, setup, teardown),
		cmocka_unit_test_setup_teardown(since_leaves_out_the_base, setup, teardown),
		cmocka_unit_test_setup_teardown(export_refuses_bad_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated_bundles_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_flipped_byte_in_a_pack_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_member_names_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(the_remote_marker_is_required, setup, teardown),
		cmocka_unit_test_setup_teardown(a_symlink_member_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_members_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(members_out_of_order_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_members_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(chunks_in_neither_bundle_nor_store_are_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(an_artifact_object_must_list_its_packs, setup,
			teardown),
		cmocka_unit_test_setup_teardown(garbage_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_cancelled_import_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(a_cancelled_export_returns_euser, setup, teardown),
		cmocka_unit_test_setup_teardown(progress_counts_members, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
