/* The manifest reader accepts canonical manifests and nothing else. */
#include "helpers.h"
#include "store/manifest.h"
#include "util/buf.h"

#include <string.h>

typedef struct {
	uint8_t b[65536];
	size_t len, off;
} mem;

static int mem_write(void *ctx, const void *p, size_t n)
{
	mem *m = ctx;
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
	return 0;
}

static int mem_read(void *ctx, void *p, size_t n)
{
	mem *m = ctx;
	if (n && m->off == m->len)
		return ARCA_ENOTFOUND;
	if (n > m->len - m->off)
		return ARCA_ECORRUPT;
	memcpy(p, m->b + m->off, n);
	m->off += n;
	return 0;
}

static arca_mf_entry ent(int type, const char *path, const char *target)
{
	arca_mf_entry e;
	memset(&e, 0, sizeof(e));
	e.type = (uint8_t)type;
	e.path = path;
	e.path_len = strlen(path);
	e.mode = type == ARCA_MF_DIR ? 0755 : 0644;
	e.mtime_sec = 1700000000;
	e.mtime_nsec = 123;
	if (type == ARCA_MF_FILE)
		e.size = 2000;
	if (target) {
		e.target = target;
		e.target_len = strlen(target);
	}
	return e;
}

/* Writes a tree manifest from a list of entries; FILE entries get one
 * chunk extent and one hole. */
static void build(mem *m, const arca_mf_entry *es, size_t n)
{
	arca_mf_writer w;
	uint8_t id[32];
	memset(m, 0, sizeof(*m));
	memset(id, 0xab, sizeof(id));
	arca_mf_writer_init(&w, mem_write, m);
	assert_int_equal(arca_mf_write_header(&w, ARCA_KIND_TREE), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(arca_mf_write_entry(&w, &es[i]), 0);
		if (es[i].type == ARCA_MF_FILE) {
			assert_int_equal(arca_mf_write_extent(&w, id, 1000), 0);
			assert_int_equal(arca_mf_write_extent(&w, NULL, 500), 0);
			assert_int_equal(arca_mf_write_extent(&w, NULL, 500), 0);
			assert_int_equal(arca_mf_write_extents_end(&w), 0);
		}
	}
	assert_int_equal(arca_mf_write_end(&w), 0);
}

/* Reads the whole manifest; returns 0 or the first error. */
static int parse(mem *m, size_t *nentries)
{
	arca_mf_reader r;
	arca_mf_entry e;
	uint8_t id[32];
	uint64_t len;
	int kind, has, rc;
	m->off = 0;
	*nentries = 0;
	arca_mf_reader_init(&r, mem_read, m);
	if ((rc = arca_mf_read_header(&r, &kind)) != 0)
		return rc;
	while ((rc = arca_mf_next_entry(&r, &e, NULL)) == 1) {
		(*nentries)++;
		if (e.type != ARCA_MF_FILE)
			continue;
		while ((rc = arca_mf_next_extent(&r, id, &len, &has)) == 1)
			;
		if (rc)
			return rc;
		if (r.extent_total != 2000)
			return -100;
	}
	return rc;
}

static void canonical_tree_round_trips(void **state)
{
	mem m;
	size_t n;
	const arca_mf_entry es[] = {
		ent(ARCA_MF_DIR, "", NULL),
		ent(ARCA_MF_DIR, "a", NULL),
		ent(ARCA_MF_FILE, "a/f", NULL),
		ent(ARCA_MF_HARDLINK, "a/g", "a/f"),
		ent(ARCA_MF_DIR, "a/sub", NULL),
		ent(ARCA_MF_SYMLINK, "a/sub/l", "../../../etc/passwd"),
		ent(ARCA_MF_FILE, "a.b", NULL),
		ent(ARCA_MF_FIFO, "z\nname \xc3\xbc", NULL),
	};
	(void)state;
	build(&m, es, sizeof(es) / sizeof(es[0]));
	assert_int_equal(parse(&m, &n), 0);
	assert_int_equal(n, sizeof(es) / sizeof(es[0]));
}

static void adjacent_holes_are_merged(void **state)
{
	mem m;
	const arca_mf_entry es[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "f", NULL) };
	(void)state;
	build(&m, es, 2);
	/* header 12, root 1+2+24, file 1+2+1+24+8, chunk 37, ONE hole 9, end 1, end 1 */
	assert_int_equal(m.len, 12 + 27 + 36 + 37 + 9 + 1 + 1);
}

static void refuse(const arca_mf_entry *es, size_t n, int expect)
{
	mem m;
	size_t got;
	build(&m, es, n);
	assert_int_equal(parse(&m, &got), expect);
}

static void dot_dot_and_absolute_paths_are_refused(void **state)
{
	(void)state;
	const arca_mf_entry a[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "../evil", NULL) };
	refuse(a, 2, ARCA_EUNSAFE);
	const arca_mf_entry b[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "/etc/evil", NULL) };
	refuse(b, 2, ARCA_EUNSAFE);
	const arca_mf_entry c[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_DIR, "a", NULL),
		ent(ARCA_MF_FILE, "a/../../evil", NULL) };
	refuse(c, 3, ARCA_EUNSAFE);
	const arca_mf_entry d[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, ".", NULL) };
	refuse(d, 2, ARCA_EUNSAFE);
	const arca_mf_entry e[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_DIR, "a", NULL),
		ent(ARCA_MF_FILE, "a//b", NULL) };
	refuse(e, 3, ARCA_EUNSAFE);
	const arca_mf_entry f[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "f", NULL),
		ent(ARCA_MF_HARDLINK, "g", "../f") };
	refuse(f, 3, ARCA_EUNSAFE);
}

static void entries_under_a_non_directory_are_refused(void **state)
{
	(void)state;
	/* the classic symlink trick: "a" -> /etc, then "a/passwd" */
	const arca_mf_entry a[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_SYMLINK, "a", "/etc"),
		ent(ARCA_MF_FILE, "a/passwd", NULL) };
	refuse(a, 3, ARCA_ECORRUPT);
	const arca_mf_entry b[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "x/y", NULL) };
	refuse(b, 2, ARCA_ECORRUPT);
	const arca_mf_entry c[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "f", NULL),
		ent(ARCA_MF_FILE, "f/g", NULL) };
	refuse(c, 3, ARCA_ECORRUPT);
}

static void out_of_order_or_repeated_entries_are_refused(void **state)
{
	(void)state;
	const arca_mf_entry a[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "b", NULL),
		ent(ARCA_MF_FILE, "a", NULL) };
	refuse(a, 3, ARCA_ECORRUPT);
	const arca_mf_entry b[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "a", NULL),
		ent(ARCA_MF_FILE, "a", NULL) };
	refuse(b, 3, ARCA_ECORRUPT);
	const arca_mf_entry c[] = { ent(ARCA_MF_FILE, "a", NULL) };
	refuse(c, 1, ARCA_ECORRUPT);
	const arca_mf_entry d[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_HARDLINK, "a", "b"),
		ent(ARCA_MF_FILE, "b", NULL) };
	refuse(d, 3, ARCA_ECORRUPT);
}

static void truncation_and_trailing_bytes_are_refused(void **state)
{
	mem m;
	size_t n;
	const arca_mf_entry es[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "f", NULL) };
	(void)state;
	build(&m, es, 2);
	size_t full = m.len;
	for (size_t cut = 0; cut < full; cut++) {
		m.len = cut;
		assert_int_equal(parse(&m, &n), ARCA_ECORRUPT);
	}
	m.len = full;
	m.b[m.len++] = 0;
	assert_int_equal(parse(&m, &n), ARCA_ECORRUPT);
}

static void extents_must_add_up_to_the_file_size(void **state)
{
	arca_mf_entry es[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "f", NULL) };
	(void)state;
	es[1].size = 1999;
	refuse(es, 2, ARCA_ECORRUPT);
	es[1].size = 2001;
	refuse(es, 2, ARCA_ECORRUPT);
}

static void unknown_version_is_unsupported(void **state)
{
	mem m;
	size_t n;
	const arca_mf_entry es[] = { ent(ARCA_MF_DIR, "", NULL) };
	(void)state;
	build(&m, es, 1);
	m.b[6] = 2;
	assert_int_equal(parse(&m, &n), ARCA_EUNSUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(canonical_tree_round_trips),
		cmocka_unit_test(adjacent_holes_are_merged),
		cmocka_unit_test(dot_dot_and_absolute_paths_are_refused),
		cmocka_unit_test(entries_under_a_non_directory_are_refused),
		cmocka_unit_test(out_of_order_or_repeated_entries_are_refused),
		cmocka_unit_test(truncation_and_trailing_bytes_are_refused),
		cmocka_unit_test(extents_must_add_up_to_the_file_size),
		cmocka_unit_test(unknown_version_is_unsupported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
