#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

char *th_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;
	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/arca-test-XXXXXX", base) < 0)
		abort();
	if (!mkdtemp(p))
		abort();
	return p;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	if (flag == FTW_DP)
		chmod(p, 0700);
	remove(p);
	return 0;
}

static int unlock_dir(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D && (st->st_mode & 0700) != 0700)
		chmod(p, 0700);
	return 0;
}

void th_cleanup(char *dir)
{
	if (!dir)
		return;
	nftw(dir, unlock_dir, 64, FTW_PHYS);
	nftw(dir, rm_one, 64, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

const char *th_path(const char *a, const char *b)
{
	static char bufs[256][8192];
	static int i;
	char *p = bufs[i++ % 256];
	snprintf(p, 8192, "%s/%s", a, b);
	return p;
}

void th_fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

void th_write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

void th_write_random(const char *path, size_t n, uint64_t seed)
{
	uint8_t *b = malloc(n ? n : 1);
	assert_non_null(b);
	th_fill_random(b, n, seed);
	th_write_file(path, b, n);
	free(b);
}

void th_pwrite_random(const char *path, uint64_t off, size_t n, uint64_t seed)
{
	uint8_t *b = malloc(n);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	th_fill_random(b, n, seed);
	assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
	close(fd);
	free(b);
}

int th_file_equal(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY), rc = 0;
	static uint8_t ba[1 << 20], bb[1 << 20];
	if (fa < 0 || fb < 0) {
		rc = -1;
		goto out;
	}
	for (;;) {
		ssize_t ra = read(fa, ba, sizeof(ba)), rb = read(fb, bb, sizeof(bb));
		if (ra != rb || ra < 0 || memcmp(ba, bb, (size_t)ra) != 0) {
			rc = -1;
			break;
		}
		if (ra == 0)
			break;
	}
out:
	if (fa >= 0) close(fa);
	if (fb >= 0) close(fb);
	return rc;
}

typedef struct {
	ino_t a, b;
} ino_pair;

static ino_pair pairs[65536];
static size_t npairs;

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int list(const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 16;
	*n = 0;
	*out = malloc(cap * sizeof(char *));
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap)
			*out = realloc(*out, (cap *= 2) * sizeof(char *));
		(*out)[(*n)++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(*out, *n, sizeof(char *), cmp_names);
	return 0;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static int cmp_entry(const char *a, const char *b, char *why, size_t wn, int is_root)
{
	struct stat sa, sb;
	if (lstat(a, &sa) < 0 || lstat(b, &sb) < 0) {
		snprintf(why, wn, "missing: %s or %s", a, b);
		return -1;
	}
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
		snprintf(why, wn, "type differs: %s", b);
		return -1;
	}
	if (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777)) {
		snprintf(why, wn, "mode differs: %s %o vs %o", b, sa.st_mode & 07777, sb.st_mode & 07777);
		return -1;
	}
	if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
		snprintf(why, wn, "mtime differs: %s", b);
		return -1;
	}
	if (geteuid() == 0 && (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid)) {
		snprintf(why, wn, "owner differs: %s", b);
		return -1;
	}
	if (S_ISREG(sa.st_mode)) {
		if (sa.st_size != sb.st_size || th_file_equal(a, b) != 0) {
			snprintf(why, wn, "content differs: %s", b);
			return -1;
		}
		if (sa.st_nlink != sb.st_nlink) {
			snprintf(why, wn, "link count differs: %s", b);
			return -1;
		}
		if (sa.st_nlink > 1) {
			for (size_t i = 0; i < npairs; i++) {
				if ((pairs[i].a == sa.st_ino) != (pairs[i].b == sb.st_ino)) {
					snprintf(why, wn, "hardlink structure differs: %s", b);
					return -1;
				}
			}
			if (npairs < sizeof(pairs) / sizeof(pairs[0]))
				pairs[npairs++] = (ino_pair){ sa.st_ino, sb.st_ino };
		}
	} else if (S_ISLNK(sa.st_mode)) {
		char ta[4096], tb[4096];
		ssize_t la = readlink(a, ta, sizeof(ta)), lb = readlink(b, tb, sizeof(tb));
		if (la != lb || la < 0 || memcmp(ta, tb, (size_t)la) != 0) {
			snprintf(why, wn, "symlink target differs: %s", b);
			return -1;
		}
	} else if (S_ISDIR(sa.st_mode)) {
		char **la, **lb;
		size_t na, nb;
		int rc = 0;
		list(a, &la, &na);
		list(b, &lb, &nb);
		if (na != nb) {
			snprintf(why, wn, "entry count differs in %s (%zu vs %zu)", b, na, nb);
			rc = -1;
		}
		for (size_t i = 0; !rc && i < na; i++) {
			if (strcmp(la[i], lb[i]) != 0) {
				snprintf(why, wn, "names differ in %s: %s vs %s", b, la[i], lb[i]);
				rc = -1;
				break;
			}
			char *ca, *cb;
			if (asprintf(&ca, "%s/%s", a, la[i]) < 0 || asprintf(&cb, "%s/%s", b, lb[i]) < 0)
				abort();
			rc = cmp_entry(ca, cb, why, wn, 0);
			free(ca);
			free(cb);
		}
		free_list(la, na);
		free_list(lb, nb);
		(void)is_root;
		return rc;
	}
	return 0;
}

int th_tree_equal(const char *a, const char *b, char *why, size_t n)
{
	npairs = 0;
	why[0] = '\0';
	return cmp_entry(a, b, why, n, 1);
}

arca_store *th_store_open(const char *dir)
{
	arca_store *s = NULL;
	int rc = arca_store_open(&s, dir, NULL);
	if (rc)
		fail_msg("store open: %s", arca_error_last());
	return s;
}

int th_setup(void **state)
{
	th_fixture *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->tmp = th_tmpdir();
	snprintf(f->src, sizeof(f->src), "%s/src", f->tmp);
	snprintf(f->storedir, sizeof(f->storedir), "%s/store", f->tmp);
	if (mkdir(f->src, 0755) < 0)
		abort();
	f->s = th_store_open(f->storedir);
	*state = f;
	return 0;
}

int th_teardown(void **state)
{
	th_fixture *f = *state;
	arca_store_free(f->s);
	th_cleanup(f->tmp);
	free(f);
	return 0;
}

arca_id th_snapshot(arca_store *s, const char *path, const char *name, const char *tag,
		arca_op_stats *st)
{
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_id id;
	o.name = name;
	o.tag = tag;
	int rc = arca_snapshot(&id, s, path, &o, st);
	if (rc)
		fail_msg("snapshot %s: %s", path, arca_error_last());
	return id;
}

uint64_t th_pack_size(const char *dir, char *path_out, size_t n)
{
	char packs[4096], best[4096] = "";
	DIR *d;
	struct dirent *de;
	struct stat st;
	snprintf(packs, sizeof(packs), "%s/packs", dir);
	d = opendir(packs);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "pack-", 5) && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(d);
	assert_true(best[0]);
	snprintf(path_out, n, "%s/%s", packs, best);
	assert_int_equal(stat(path_out, &st), 0);
	return (uint64_t)st.st_size;
}

int th_dest_setup(void **state)
{
	th_dest_fixture *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->tmp = th_tmpdir();
	snprintf(f->src, sizeof(f->src), "%s/src", f->tmp);
	snprintf(f->work, sizeof(f->work), "%s/work", f->tmp);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->tmp);
	mkdir(f->src, 0755);
	mkdir(f->outside, 0755);
	f->s = th_store_open(th_path(f->tmp, "store"));
	*state = f;
	return 0;
}

int th_dest_teardown(void **state)
{
	th_dest_fixture *f = *state;
	if (f->mounted[0] && umount2(f->mounted, MNT_DETACH) < 0)
		fprintf(stderr, "umount %s: %s\n", f->mounted, strerror(errno));
	arca_store_free(f->s);
	th_cleanup(f->tmp);
	free(f);
	return 0;
}

void th_rollback_ok(th_dest_fixture *f, const char *ref, const char *dest, arca_op_stats *st)
{
	int rc = arca_rollback(f->s, ref, dest, NULL, st);
	if (rc)
		fail_msg("rollback: %s", arca_error_last());
}

off_t th_file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

int th_open_rc(const char *dir)
{
	arca_store *s = NULL;
	arca_store_options o = ARCA_STORE_OPTIONS_INIT;
	int rc;
	o.no_create = 1;
	rc = arca_store_open(&s, dir, &o);
	arca_store_free(s);
	return rc;
}

int th_count_refs(const char *name, const char *tag, const arca_id *id, void *payload)
{
	(void)name;
	(void)tag;
	(void)id;
	(*(int *)payload)++;
	return 0;
}

void th_restore_equals(arca_store *s, const char *tmp, const char *ref, const char *want)
{
	char out[4096], why[512];
	static int n;
	snprintf(out, sizeof(out), "%s/restored%d", tmp, n++);
	if (arca_restore(s, ref, out, NULL, NULL) != 0)
		fail_msg("restore %s: %s", ref, arca_error_last());
	if (th_tree_equal(want, out, why, sizeof(why)) != 0)
		fail_msg("restore %s differs: %s", ref, why);
}
