/*
 * Writes the small seed corpora of the fuzz targets into
 * DIR/<target>/<name> (fuzz/make-seeds.sh runs it on fuzz/corpus).
 * Everything is produced by the library's own encoders, so the seeds are
 * valid inputs that the fuzzer then mutates.
 */
#include "arca/arca.h"
#include "arca/remote.h"
#include "cas/hash.h"
#include "cas/pack.h"
#include "store/envs.h"
#include "store/manifest.h"
#include "store/record.h"
#include "sync/layout.h"
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

static const char *outdir;

static void die(const char *what)
{
	fprintf(stderr, "make_seeds: %s failed: %s\n", what, arca_error_last());
	exit(1);
}

static void put(const char *target, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Deterministic filler bytes (xorshift). */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* ---- manifests ---- */

static int buf_write(void *ctx, const void *p, size_t n)
{
	return arca_buf_put(ctx, p, n);
}

static arca_mf_entry ent(uint8_t type, const char *path, const char *target)
{
	arca_mf_entry e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.path = path;
	e.path_len = strlen(path);
	e.mode = type == ARCA_MF_DIR ? 0755 : 0644;
	e.uid = 1000;
	e.gid = 1000;
	e.mtime_sec = 1700000000;
	e.mtime_nsec = 123456789;
	e.target = target;
	e.target_len = target ? strlen(target) : 0;
	return e;
}

typedef struct {
	const uint8_t *p;
	size_t n, off;
} mem_src;

static int mem_read(void *ctx, void *out, size_t n)
{
	mem_src *s = ctx;
	if (n == 0)
		return 0;
	if (s->off == s->n)
		return ARCA_ENOTFOUND;
	if (s->n - s->off < n)
		return ARCA_ECORRUPT;
	memcpy(out, s->p + s->off, n);
	s->off += n;
	return 0;
}

/* The valid seeds must stay valid when the format changes: parse them. */
static void check_manifest(const uint8_t *p, size_t n)
{
	static arca_mf_reader r;
	mem_src src = { p, n, 0 };
	arca_mf_entry e;
	uint8_t id[32];
	uint64_t len;
	int kind, has_id, rc;

	arca_mf_reader_init(&r, mem_read, &src);
	if (arca_mf_read_header(&r, &kind))
		die("seed manifest header");
	if (kind == ARCA_KIND_IMAGE) {
		while ((rc = arca_mf_next_extent(&r, id, &len, &has_id)) == 1)
			;
		if (rc || arca_mf_read_finish(&r))
			die("seed image manifest");
		return;
	}
	while ((rc = arca_mf_next_entry(&r, &e, NULL)) == 1)
		if (e.type == ARCA_MF_FILE) {
			while ((rc = arca_mf_next_extent(&r, id, &len, &has_id)) == 1)
				;
			if (rc)
				die("seed manifest extents");
		}
	if (rc)
		die("seed tree manifest");
}

static void manifests(void)
{
	const char *T = "fuzz_manifest";
	uint8_t id[32], hole[9];
	arca_buf b = ARCA_BUF_INIT(1 << 20);
	arca_mf_writer w;
	arca_mf_entry e;

	fill(id, sizeof(id), 7);

	/* a tree with every entry type, nesting and popping */
	arca_mf_writer_init(&w, buf_write, &b);
	if (arca_mf_write_header(&w, ARCA_KIND_TREE))
		die("manifest header");
	e = ent(ARCA_MF_DIR, "", NULL);
	arca_mf_write_entry(&w, &e);
	e = ent(ARCA_MF_DIR, "a", NULL);
	arca_mf_write_entry(&w, &e);
	e = ent(ARCA_MF_DIR, "a/d", NULL);
	arca_mf_write_entry(&w, &e);
	e = ent(ARCA_MF_FILE, "a/d/g", NULL);
	arca_mf_write_entry(&w, &e);
	arca_mf_write_extents_end(&w);
	e = ent(ARCA_MF_FILE, "a/f", NULL);
	e.size = 4096 + 8192 + 100;
	arca_mf_write_entry(&w, &e);
	arca_mf_write_extent(&w, id, 4096);
	arca_mf_write_extent(&w, NULL, 8192);
	arca_mf_write_extent(&w, id, 100);
	arca_mf_write_extents_end(&w);
	e = ent(ARCA_MF_SYMLINK, "a/l", "../b");
	arca_mf_write_entry(&w, &e);
	e = ent(ARCA_MF_HARDLINK, "b", "a/f");
	arca_mf_write_entry(&w, &e);
	e = ent(ARCA_MF_FIFO, "p", NULL);
	arca_mf_write_entry(&w, &e);
	if (arca_mf_write_end(&w))
		die("manifest");
	check_manifest(b.ptr, b.len);
	put(T, "tree", b.ptr, b.len);

	/* the smallest tree: just the root */
	b.len = 0;
	arca_mf_writer_init(&w, buf_write, &b);
	arca_mf_write_header(&w, ARCA_KIND_TREE);
	e = ent(ARCA_MF_DIR, "", NULL);
	arca_mf_write_entry(&w, &e);
	arca_mf_write_end(&w);
	check_manifest(b.ptr, b.len);
	put(T, "tree-root", b.ptr, b.len);

	/* a 255-byte name and a chain of 40 nested directories */
	{
		static char names[2][512], deep[512];
		b.len = 0;
		arca_mf_writer_init(&w, buf_write, &b);
		arca_mf_write_header(&w, ARCA_KIND_TREE);
		e = ent(ARCA_MF_DIR, "", NULL);
		arca_mf_write_entry(&w, &e);
		for (size_t i = 0; i < 40; i++) {
			deep[2 * i] = 'a';
			e = ent(ARCA_MF_DIR, deep, NULL); /* "a", "a/a", ... */
			arca_mf_write_entry(&w, &e);
			deep[2 * i + 1] = '/';
		}
		e = ent(ARCA_MF_FILE, "a/a/f", NULL);
		arca_mf_write_entry(&w, &e);
		arca_mf_write_extents_end(&w);
		memset(names[0], 'x', 255);
		e = ent(ARCA_MF_DIR, names[0], NULL);
		arca_mf_write_entry(&w, &e);
		memcpy(names[1], names[0], 255);
		memcpy(names[1] + 255, "/f", 3);
		e = ent(ARCA_MF_FIFO, names[1], NULL);
		arca_mf_write_entry(&w, &e);
		if (arca_mf_write_end(&w))
			die("manifest");
		check_manifest(b.ptr, b.len);
		put(T, "tree-deep", b.ptr, b.len);
	}

	/* an image: chunk, hole, chunk */
	b.len = 0;
	arca_mf_writer_init(&w, buf_write, &b);
	arca_mf_write_header(&w, ARCA_KIND_IMAGE);
	arca_mf_write_extent(&w, id, 65536);
	arca_mf_write_extent(&w, NULL, 1 << 20);
	arca_mf_write_extent(&w, id, 512);
	if (arca_mf_write_extents_end(&w))
		die("image manifest");
	check_manifest(b.ptr, b.len);
	put(T, "image", b.ptr, b.len);

	/* not canonical: two adjacent holes, which the writer would have merged
	 * (the reader must refuse it; regression seed for the canonical check) */
	b.len = 0;
	arca_mf_writer_init(&w, buf_write, &b);
	arca_mf_write_header(&w, ARCA_KIND_IMAGE);
	arca_mf_write_extent(&w, NULL, 4096);
	arca_mf_write_extents_end(&w); /* "Z <4096> E" */
	b.len--;                       /* drop the E ... */
	memcpy(hole, b.ptr + b.len - 9, 9);
	arca_buf_put(&b, hole, 9);     /* ... repeat the hole ... */
	arca_buf_put(&b, "E", 1);      /* ... and end */
	put(T, "image-adjacent-holes", b.ptr, b.len);
	arca_buf_release(&b);
}

/* ---- chunk records ---- */

static void records(void)
{
	const char *T = "fuzz_record";
	uint8_t raw[300], out[ARCA_RECORD_HEADER_LEN + 600], ph[ARCA_PACK_HEADER_LEN];
	arca_record r, back;
	size_t z;

	fill(raw, sizeof(raw), 11);
	memset(raw + 150, 'a', 150); /* compressible half */

	memset(&r, 0, sizeof(r));
	if (arca_sha256_digest(r.id, raw, sizeof(raw)))
		die("sha256");
	r.codec = ARCA_CODEC_RAW;
	r.raw_len = r.stored_len = sizeof(raw);
	arca_record_encode(out, &r);
	memcpy(out + ARCA_RECORD_HEADER_LEN, raw, sizeof(raw));
	if (arca_record_decode(&back, out, ARCA_RECORD_HEADER_LEN))
		die("seed record");
	put(T, "raw", out, ARCA_RECORD_HEADER_LEN + sizeof(raw));

	z = ZSTD_compress(out + ARCA_RECORD_HEADER_LEN, sizeof(out) - ARCA_RECORD_HEADER_LEN,
		raw, sizeof(raw), 3);
	if (ZSTD_isError(z)) {
		fprintf(stderr, "make_seeds: zstd: %s\n", ZSTD_getErrorName(z));
		exit(1);
	}
	r.codec = ARCA_CODEC_ZSTD;
	r.stored_len = (uint32_t)z;
	arca_record_encode(out, &r);
	if (arca_record_decode(&back, out, ARCA_RECORD_HEADER_LEN))
		die("seed record");
	put(T, "zstd", out, ARCA_RECORD_HEADER_LEN + z);

	/* header only: payload missing */
	put(T, "zstd-header", out, ARCA_RECORD_HEADER_LEN);

	arca_pack_header_encode(ph, 1);
	put(T, "pack-header", ph, sizeof(ph));
}

/* ---- artifact records ---- */

static void check_artifact_rec(const uint8_t *p, size_t n)
{
	static const arca_id id;
	arca_artifact_rec rec;
	if (arca_artifact_rec_decode(&rec, &id, p, n))
		die("seed artifact record");
	arca_artifact_rec_clear(&rec);
}

static void artifact_records(void)
{
	const char *T = "fuzz_artifact_rec";
	arca_label labels[3] = { { "host", "build-7" }, { "empty", "" }, { "k", "v" } };
	uint8_t ids[3][32];
	uint32_t lens[3] = { 65536, 1, 8u << 20 };
	arca_artifact_rec rec;
	arca_buf b = ARCA_BUF_INIT(1 << 20);

	memset(&rec, 0, sizeof(rec));
	fill(&ids[0][0], sizeof(ids), 3);
	rec.a.kind = ARCA_KIND_TREE;
	rec.a.logical_bytes = 1u << 30;
	rec.a.data_bytes = 1u << 29;
	rec.a.entries = 42;
	rec.a.created_ns = 1700000000123456789ll;
	rec.a.manifest_bytes = 4096;
	rec.a.name = "web";
	rec.a.tag = "v1.2";
	rec.a.labels = labels;
	rec.a.nlabels = 3;
	rec.a.has_parent = 1;
	fill(rec.a.parent.bytes, 32, 5);
	rec.nchunks = 3;
	rec.chunk_ids = ids;
	rec.chunk_lens = lens;
	if (arca_artifact_rec_encode(&b, &rec))
		die("artifact record");
	check_artifact_rec(b.ptr, b.len);
	put(T, "full", b.ptr, b.len);

	/* image, no name, tag, labels or parent; one chunk */
	memset(&rec, 0, sizeof(rec));
	rec.a.kind = ARCA_KIND_IMAGE;
	rec.a.logical_bytes = rec.a.data_bytes = 512;
	rec.a.manifest_bytes = 64;
	rec.nchunks = 1;
	rec.chunk_ids = ids;
	rec.chunk_lens = lens;
	b.len = 0;
	if (arca_artifact_rec_encode(&b, &rec))
		die("artifact record");
	check_artifact_rec(b.ptr, b.len);
	put(T, "minimal", b.ptr, b.len);
	arca_buf_release(&b);
}

/* ---- chunker streams ---- */

/* ---- env records (fuzz_env_rec decodes them as env "web-1") ---- */

static void env_records(void)
{
	arca_label labels[] = { { "team", "core" }, { "ci/run", "a=b c" } };
	char *settings[] = { "cpus=2", "mem=512M" };
	arca_buf b = ARCA_BUF_INIT(ARCA_ENV_REC_MAX);
	arca_env_info e;

	memset(&e, 0, sizeof(e));
	e.version = ARCA_ENV_INFO_VERSION;
	e.name = "web-1";
	e.backend = "dir";
	e.state = ARCA_ENV_ACTIVE;
	e.kind = ARCA_KIND_TREE;
	fill(e.source.bytes, 32, 41);
	fill(e.current.bytes, 32, 42);
	e.created_ns = 1764590000123456789;
	if (arca_store__env_encode(&b, &e))
		die("env encode");
	put("fuzz_env_rec", "plain", b.ptr, b.len);
	b.len = 0;
	e.backend = "smolvm";
	e.state = ARCA_ENV_FAILED;
	e.kind = ARCA_KIND_IMAGE;
	e.labels = labels;
	e.nlabels = 2;
	e.settings = settings;
	e.nsettings = 2;
	e.error = "machine start: Error: no kvm";
	if (arca_store__env_encode(&b, &e))
		die("env encode");
	put("fuzz_env_rec", "full", b.ptr, b.len);
	arca_buf_release(&b);
}

static void chunker_streams(void)
{
	const char *T = "fuzz_chunker";
	uint8_t s[1 + 2 * 4 + 4000];

	/* 4 piece sizes: 1, 63, 1024, 700 */
	s[0] = 3;
	s[1] = 1;   s[2] = 0;
	s[3] = 63;  s[4] = 0;
	s[5] = 0;   s[6] = 4;
	s[7] = 0xbc; s[8] = 2;
	fill(s + 9, 4000, 21);
	put(T, "random-4000", s, sizeof(s));

	/* zeros: no content cut, only max-size cuts; pieces of 1000 */
	memset(s, 0, sizeof(s));
	s[0] = 0;
	s[1] = 0xe8; s[2] = 3;
	put(T, "zeros-3000", s, 3 + 3000);

	/* one byte pieces over a short stream */
	s[0] = 0;
	s[1] = 1; s[2] = 0;
	fill(s + 3, 1500, 99);
	put(T, "bytewise-1500", s, 3 + 1500);
}

/* ---- references (fuzz_ref's store has web:latest, web:prod,
 * team/app:prod and ids 11.., 22.., 33..33 and 33..cc) ---- */

static void references(void)
{
	static const char *const seeds[][2] = {
		{ "name", "web" },
		{ "name-tag", "web:prod" },
		{ "slash-name-tag", "team/app:prod" },
		{ "slash-name", "team/app" },
		{ "id-prefix", "art_11111111" },
		{ "id-full", "art_2222222222222222222222222222222222222222222222222222222222222222" },
		{ "id-ambiguous", "33333333333333" },
		{ "id-bad", "art_zz" },
		{ "empty-part", "a//b:t" },
		{ "absolute", "/abs" },
		{ "dotdot", "a/../b" },
		{ "dot", "a/./b:latest" },
		{ "trailing-slash", "team/:prod" },
		{ "no-tag", "web:" },
		{ "no-name", ":prod" },
		{ "two-colons", "x:y:z" },
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		put("fuzz_ref", seeds[i][0], seeds[i][1], strlen(seeds[i][1]));
}

/* ---- bundles: real exports of a tiny store ---- */

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* Exports `refs` (and `since`) of `s` as seed `name`. */
static void put_bundle(arca_store *s, const char *dir, const char *name,
		const char *const *refs, size_t n, const char *const *since, size_t ns)
{
	char path[4200];
	uint8_t *p;
	struct stat st;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/bundle", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	rc = arca_export(NULL, s, refs, n, since, ns, fd, NULL);
	if (rc == ARCA_EUNSUPPORTED) { /* built without bundles */
		close(fd);
		return;
	}
	if (rc || fstat(fd, &st) < 0 || !(p = malloc((size_t)st.st_size + 1)) ||
	    pread(fd, p, (size_t)st.st_size, 0) != st.st_size)
		die("arca_export");
	put("fuzz_bundle", name, p, (size_t)st.st_size);
	free(p);
	close(fd);
}

static void bundles(void)
{
	char dir[] = "/tmp/arca-seeds-XXXXXX", path[4200], src[4200];
	const char *tree[] = { "seed:v1", "seed" }, *img[] = { "disk" }, *v2[] = { "seed:v2" };
	const char *base[] = { "seed:v1" };
	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_store *s;
	arca_id id;
	uint8_t data[3000];

	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(path, sizeof(path), "%s/store", dir);
	if (arca_store_open(&s, path, NULL) != 0)
		die("arca_store_open");
	snprintf(src, sizeof(src), "%s/src", dir);
	if (mkdir(src, 0755) < 0)
		die("mkdir");
	fill(data, sizeof(data), 7);
	snprintf(path, sizeof(path), "%s/a", src);
	write_file(path, data, sizeof(data));
	snprintf(path, sizeof(path), "%s/b", src);
	write_file(path, "hello\n", 6);
	so.name = "seed";
	so.tag = "v1";
	if (arca_snapshot(&id, s, src, &so, NULL) != 0)
		die("arca_snapshot");
	put_bundle(s, dir, "tree", tree, 2, NULL, 0);
	snprintf(path, sizeof(path), "%s/c", src);
	write_file(path, data, 1000);
	so.tag = "v2";
	if (arca_snapshot(&id, s, src, &so, NULL) != 0)
		die("arca_snapshot");
	put_bundle(s, dir, "since", v2, 1, base, 1);
	snprintf(path, sizeof(path), "%s/disk", dir);
	write_file(path, data, sizeof(data));
	so.name = "disk";
	so.tag = NULL;
	if (arca_snapshot(&id, s, path, &so, NULL) != 0)
		die("arca_snapshot");
	put_bundle(s, dir, "image", img, 1, NULL, 0);
	arca_store_free(s);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- remote pack objects (fuzz_rpack: data[0] = how to feed, then the
 * pack: header, a raw chunk record, a raw group of two members) ---- */

static void rpack_objects(void)
{
	uint8_t buf[4096], raw[200], table[2 * ARCA_GROUP_MEMBER_LEN];
	arca_record r;
	arca_group g;
	size_t n = 1;

	buf[0] = 0; /* whole pack, piece size 1 */
	arca_pack_header_encode(buf + n, 0);
	n += ARCA_PACK_HEADER_LEN;
	fill(raw, sizeof(raw), 21);
	memset(&r, 0, sizeof(r));
	if (arca_sha256_digest(r.id, raw, 100))
		die("sha256");
	r.codec = ARCA_CODEC_RAW;
	r.raw_len = r.stored_len = 100;
	arca_record_encode(buf + n, &r);
	n += ARCA_RECORD_HEADER_LEN;
	memcpy(buf + n, raw, 100);
	n += 100;
	memset(&g, 0, sizeof(g));
	for (int i = 0; i < 2; i++) {
		if (arca_sha256_digest(table + i * ARCA_GROUP_MEMBER_LEN, raw + 100 + 50 * i, 50))
			die("sha256");
		arca_put_le32(table + i * ARCA_GROUP_MEMBER_LEN + 32, 50);
	}
	g.codec = ARCA_CODEC_RAW;
	g.raw_len = g.stored_len = 100;
	g.nmembers = 2;
	if (arca_sha256_digest(g.table_hash, table, sizeof(table)))
		die("sha256");
	arca_group_encode(buf + n, &g);
	n += ARCA_RECORD_HEADER_LEN;
	memcpy(buf + n, table, sizeof(table));
	n += sizeof(table);
	memcpy(buf + n, raw + 100, 100);
	n += 100;
	put("fuzz_rpack", "whole", buf, n);
	buf[0] = 1 | (3 << 1); /* records from offset 16, pieces of 112 */
	put("fuzz_rpack", "records", buf, n);
}

/* ---- remote layout objects (fuzz_layout: first byte picks the decoder) ---- */

static void put_layout(const char *name, uint8_t kind, const arca_buf *b)
{
	uint8_t *p = malloc(b->len + 1);
	if (!p)
		die("malloc");
	p[0] = kind;
	memcpy(p + 1, b->ptr, b->len);
	put("fuzz_layout", name, p, b->len + 1);
	free(p);
}

static void layout_objects(void)
{
	arca_buf b = ARCA_BUF_INIT(1 << 20);
	arca_pidx_entry e[3];
	uint8_t sha[32], packs[2][32];
	arca_ref_entry re;
	arca_id ids[2];
	char names[2][ARCA_NAME_MAX + 1] = { "web", "team/app" };
	char tags[2][ARCA_TAG_MAX + 1] = { "latest", "prod" };
	arca_bundle_header h = { 2, names, tags, ids, 1, ids };

	memset(e, 0, sizeof(e));
	for (int i = 0; i < 3; i++) {
		fill(e[i].id, 32, (uint32_t)i + 7);
		e[i].offset = 16 + 100 * (uint64_t)i;
		e[i].length = 100;
		e[i].member = i == 2 ? ARCA_PIDX_PLAIN : (uint16_t)i;
	}
	fill(sha, 32, 3);
	if (arca_pidx_encode(&b, sha, 316, e, 3) != 0)
		die("pidx");
	put_layout("pidx", 0, &b);
	b.len = 0;
	fill(packs[0], 32, 4);
	fill(packs[1], 32, 5);
	if (arca_arto_encode(&b, "\x01\x01record", 8, packs, 2) != 0)
		die("arto");
	put_layout("arto", 1, &b);
	memset(&re, 0, sizeof(re));
	memcpy(re.name, "team/app", 9);
	memcpy(re.tag, "prod", 5);
	re.seq = 3;
	fill(re.id.bytes, 32, 6);
	re.has_prev = 1;
	fill(re.prev.bytes, 32, 7);
	re.time_ns = 1700000000123456789ll;
	b.len = 0;
	if (arca_ref_entry_encode(&b, &re) != 0)
		die("ref entry");
	put_layout("ref-entry", 2, &b);
	re.deleted = 1;
	re.has_prev = 0;
	b.len = 0;
	if (arca_ref_entry_encode(&b, &re) != 0)
		die("ref entry");
	put_layout("ref-entry-deleted", 2, &b);
	b.len = 0;
	if (arca_ref_hint_encode(&b, 12) != 0)
		die("hint");
	put_layout("ref-hint", 3, &b);
	fill(ids[0].bytes, 32, 8);
	fill(ids[1].bytes, 32, 9);
	b.len = 0;
	if (arca_bundle_header_encode(&b, &h) != 0)
		die("bundle header");
	put_layout("bundle-header", 4, &b);
	b.len = 0;
	if (arca_layout_ref_key(&b, "team/app", "prod", 3) != 0)
		die("ref key");
	put_layout("ref-key", 5, &b);
	b.len = 0;
	if (arca_layout_ref_key(&b, "web", "latest", 0) != 0)
		die("ref key");
	put_layout("ref-key-head", 5, &b);
	arca_buf_release(&b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	manifests();
	records();
	artifact_records();
	env_records();
	chunker_streams();
	references();
	bundles();
	layout_objects();
	rpack_objects();
	return 0;
}
