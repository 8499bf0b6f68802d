/*
 * fuzz_manifest: the manifest reader on hostile bytes.
 *
 * The input is the whole manifest, served by a memory read callback with
 * the documented contract (ARCA_ENOTFOUND only at a clean end of data).
 * The walk is the one restore/verify do: header; for trees, entries until
 * 0 and the extents of every FILE; for images, extents then read_finish.
 * Any error return just ends the run. On top of "no crash, leak or UB":
 *
 *  - consumer invariants: strings are NUL-terminated at their length,
 *    depth_out never asks a consumer to push, and after popping to it the
 *    top of a restore-style directory stack is the entry's parent; a
 *    FILE's extents never run past, and add up to, the size in its entry;
 *  - canonical form: when the whole input parses cleanly, re-encoding what
 *    was read with arca_mf_writer must give back the input byte for byte.
 */
#include "arca/arca.h"
#include "store/manifest.h"
#include "cas/chunker.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_manifest.c:%d: property violated: %s\n", line, what);
	abort();
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
	if (s->n - s->off < n) {
		s->off = s->n;
		return arca_err_set(ARCA_ECORRUPT, "fuzz: data ends inside a read");
	}
	memcpy(out, s->p + s->off, n);
	s->off += n;
	return 0;
}

static int buf_write(void *ctx, const void *p, size_t n)
{
	return arca_buf_put(ctx, p, n);
}

/* What a restore-style consumer keeps: the path of the innermost open
 * directory and the path lengths of all open directories (root = 0). */
typedef struct {
	char top[ARCA_MF_PATH_MAX + 1];
	uint16_t lens[ARCA_MF_PATH_MAX / 2 + 2];
	size_t depth;
} dir_stack;

static void check_string(const char *s, size_t n)
{
	CHECK(s != NULL);
	CHECK(n <= ARCA_MF_PATH_MAX);
	CHECK(s[n] == '\0');
	CHECK(strlen(s) == n);
}

/* Pops to `want` as restore does and checks the parent of `e` is on top. */
static void place(dir_stack *ds, const arca_mf_entry *e, size_t want)
{
	const char *slash = memrchr(e->path, '/', e->path_len);
	size_t parent = slash ? (size_t)(slash - e->path) : 0;

	CHECK(want >= 1);
	CHECK(want <= ds->depth); /* a consumer can only pop */
	ds->depth = want;
	CHECK(ds->lens[want - 1] == parent);
	CHECK(memcmp(ds->top, e->path, parent) == 0);
	if (e->type == ARCA_MF_DIR) {
		CHECK(ds->depth < sizeof(ds->lens) / sizeof(ds->lens[0]));
		memcpy(ds->top, e->path, e->path_len);
		ds->lens[ds->depth++] = (uint16_t)e->path_len;
	}
}

/* Reads the extents of a file (`size`: the size in its entry) or of an
 * image (`size` < 0) and re-encodes them. Returns 1 at a clean end of
 * extents, 0 after an error. */
static int walk_extents(arca_mf_reader *r, arca_mf_writer *w, int64_t size)
{
	uint8_t id[32];
	uint64_t len, total = 0;
	int has_id, rc;

	while ((rc = arca_mf_next_extent(r, id, &len, &has_id)) == 1) {
		CHECK(len > 0);
		if (has_id)
			CHECK(len <= ARCA_CHUNK_MAX_LIMIT);
		else
			CHECK(len <= ARCA_MF_MAX_SIZE);
		total += len;
		CHECK(total <= ARCA_MF_MAX_SIZE);
		if (size >= 0)
			CHECK(total <= (uint64_t)size); /* never past the entry's size */
		CHECK(arca_mf_write_extent(w, has_id ? id : NULL, len) == 0);
	}
	if (rc != 0)
		return 0;
	CHECK(r->extent_total == total);
	if (size >= 0)
		CHECK(total == (uint64_t)size); /* a file's extents add up to its size */
	CHECK(arca_mf_write_extents_end(w) == 0);
	return 1;
}

static int walk_tree(arca_mf_reader *r, arca_mf_writer *w, dir_stack *ds)
{
	arca_mf_entry e;
	size_t want;
	uint64_t n = 0;
	int rc;

	ds->depth = 1;
	ds->lens[0] = 0;
	while ((rc = arca_mf_next_entry(r, &e, &want)) == 1) {
		check_string(e.path, e.path_len);
		if (n++ == 0) {
			CHECK(e.type == ARCA_MF_DIR && e.path_len == 0 && want == 0);
		} else {
			CHECK(arca_mf_path_check(e.path, e.path_len) == 0);
			place(ds, &e, want);
		}
		CHECK((e.mode & ~07777u) == 0);
		CHECK(e.mtime_nsec < 1000000000u);
		if (e.type == ARCA_MF_SYMLINK || e.type == ARCA_MF_HARDLINK) {
			check_string(e.target, e.target_len);
			CHECK(e.target_len > 0);
		}
		if (e.type == ARCA_MF_HARDLINK)
			CHECK(arca_mf_path_check(e.target, e.target_len) == 0);
		CHECK(arca_mf_write_entry(w, &e) == 0);
		if (e.type == ARCA_MF_FILE) {
			CHECK(e.size <= ARCA_MF_MAX_SIZE);
			if (!walk_extents(r, w, (int64_t)e.size))
				return 0;
		}
	}
	if (rc != 0)
		return 0;
	CHECK(n > 0);
	CHECK(arca_mf_write_end(w) == 0);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static dir_stack ds;
	mem_src src = { data, size, 0 };
	arca_buf out = ARCA_BUF_INIT((size_t)1 << 30);
	arca_mf_writer w;
	arca_mf_reader *r;
	int kind, ok = 0;

	/* Exact-size heap object: ASan sees any write past the reader. */
	r = malloc(sizeof(*r));
	if (!r)
		return 0;
	arca_mf_reader_init(r, mem_read, &src);
	arca_mf_writer_init(&w, buf_write, &out);
	if (arca_mf_read_header(r, &kind) == 0) {
		CHECK(kind == ARCA_KIND_TREE || kind == ARCA_KIND_IMAGE);
		CHECK(arca_mf_write_header(&w, kind) == 0);
		if (kind == ARCA_KIND_TREE)
			ok = walk_tree(r, &w, &ds);
		else
			ok = walk_extents(r, &w, -1) && arca_mf_read_finish(r) == 0;
	}
	if (ok) {
		/* Clean parse: all input consumed, and canonical. */
		CHECK(src.off == size);
		if (out.len != size || memcmp(out.ptr, data, size) != 0) {
			fprintf(stderr, "fuzz_manifest: input of %zu bytes parses cleanly but "
				"re-encodes to %zu different bytes\n", size, out.len);
			fail(__LINE__, "re-encoded manifest == input");
		}
	}
	arca_buf_release(&out);
	free(r);
	return 0;
}
