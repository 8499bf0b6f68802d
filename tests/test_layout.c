/* The remote layout's codecs and pack objects: round trips, and every
 * kind of hostile input refused. */
#include "helpers.h"
#include "cas/cas.h"
#include "cas/hash.h"
#include "store/artifact.h"
#include "store/journal.h"
#include "store/reach.h"
#include "store/store.h"
#include "sync/layout.h"
#include "sync/rpack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- keys ---- */

static void keys_are_spelled_as_the_format_says(void **state)
{
	arca_buf b = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	uint8_t sha[32];
	arca_id id;
	char name[ARCA_NAME_MAX + 1], tag[ARCA_TAG_MAX + 1];
	uint64_t seq;
	(void)state;

	memset(sha, 0xab, 32);
	memset(id.bytes, 0x01, 32);
	assert_int_equal(arca_layout_pack_key(&b, sha), 0);
	assert_string_equal(arca_buf_cstr(&b),
		"packs/abababababababababababababababababababababababababababababababab.arcp");
	assert_int_equal(arca_layout_index_key(&b, sha), 0);
	assert_int_equal(strlen(arca_buf_cstr(&b)), 6 + 64 + 4);
	assert_int_equal(arca_layout_artifact_key(&b, &id), 0);
	assert_string_equal(arca_buf_cstr(&b),
		"artifacts/0101010101010101010101010101010101010101010101010101010101010101");
	assert_int_equal(arca_layout_ref_key(&b, "team/app", "prod", 26), 0);
	assert_string_equal(arca_buf_cstr(&b), "refs/team/app/prod/000000000000001a");
	assert_int_equal(arca_layout_parse_ref_key(arca_buf_cstr(&b), name, sizeof(name), tag,
		sizeof(tag), &seq), 0);
	assert_string_equal(name, "team/app");
	assert_string_equal(tag, "prod");
	assert_int_equal(seq, 26);
	assert_int_equal(arca_layout_ref_key(&b, "web", "latest", 0), 0);
	assert_string_equal(arca_buf_cstr(&b), "refs/web/latest/HEAD");
	assert_int_equal(arca_layout_parse_ref_key("refs/web/latest/HEAD", name, sizeof(name), tag,
		sizeof(tag), &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(arca_layout_ref_key(&b, "../x", "latest", 1), ARCA_EINVAL);
	arca_buf_release(&b);
}

static void hostile_ref_keys_are_refused(void **state)
{
	static const char *bad[] = {
		"refs/web/latest", "refs/web/latest/", "refs//latest/0000000000000001",
		"refs/../latest/0000000000000001", "refs/web/../0000000000000001",
		"refs/web/latest/000000000000001", "refs/web/latest/000000000000000A",
		"refs/web/latest/0000000000000000", "refs/web/latest/head",
		"/refs/web/latest/0000000000000001", "refs/a//b/latest/0000000000000001",
		"refs/web/lat:est/0000000000000001", "packs/web/latest/0000000000000001",
		"refs/.hidden/latest/0000000000000001", "refs/web/la/test/x/0000000000000001x",
		"refs/web/latest/00000000000000011", "refs/0000000000000001",
	};
	char name[ARCA_NAME_MAX + 1], tag[ARCA_TAG_MAX + 1];
	uint64_t seq;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (arca_layout_parse_ref_key(bad[i], name, sizeof(name), tag, sizeof(tag),
				&seq) != ARCA_EINVAL)
			fail_msg("accepted %s", bad[i]);
}

/* ---- pack index ---- */

static arca_pidx_entry mk_entry(uint8_t b, uint64_t off, uint32_t len, uint16_t member)
{
	arca_pidx_entry e;
	memset(&e, 0, sizeof(e));
	memset(e.id, b, 32);
	e.offset = off;
	e.length = len;
	e.member = member;
	return e;
}

static void encode_index(arca_buf *b, arca_pidx_entry *e, uint32_t n, uint64_t size)
{
	uint8_t sha[32];
	memset(sha, 0x5a, 32);
	b->len = 0;
	assert_int_equal(arca_pidx_encode(b, sha, size, e, n), 0);
}

/* Rewrites the trailer after a test edited the bytes. */
static void reseal(arca_buf *b)
{
	assert_int_equal(arca_sha256_digest(b->ptr + b->len - 32, b->ptr, b->len - 32), 0);
}

static void index_round_trips_sorted_without_duplicates(void **state)
{
	arca_buf b = ARCA_BUF_INIT(1 << 20);
	arca_pidx_entry e[4] = { mk_entry(3, 16, 100, ARCA_PIDX_PLAIN), mk_entry(1, 116, 200, 0),
		mk_entry(2, 116, 200, 1), mk_entry(1, 316, 64, ARCA_PIDX_PLAIN) };
	arca_pidx x;
	uint8_t id[32];
	(void)state;

	encode_index(&b, e, 4, 1000);
	assert_int_equal(b.len, 64 + 3 * 48 + 32);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), 0);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.pack_size, 1000);
	assert_int_equal(x.e[0].id[0], 1);
	assert_int_equal(x.e[0].offset, 116); /* the first copy of a duplicate */
	assert_int_equal(x.e[1].member, 1);
	assert_int_equal(x.e[2].member, ARCA_PIDX_PLAIN);
	memset(id, 2, 32);
	assert_non_null(arca_pidx_find(&x, id));
	assert_int_equal(arca_pidx_find(&x, id)->offset, 116);
	memset(id, 9, 32);
	assert_null(arca_pidx_find(&x, id));
	arca_pidx_clear(&x);
	arca_buf_release(&b);
}

static void hostile_indexes_are_refused(void **state)
{
	arca_buf b = ARCA_BUF_INIT(1 << 20);
	arca_pidx_entry e[2];
	arca_pidx x;
	(void)state;

	/* bad magic, bad trailer, short, truncated by one byte */
	e[0] = mk_entry(1, 16, 100, ARCA_PIDX_PLAIN);
	e[1] = mk_entry(2, 116, 100, ARCA_PIDX_PLAIN);
	encode_index(&b, e, 2, 216);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), 0);
	arca_pidx_clear(&x);
	b.ptr[0] ^= 1;
	reseal(&b);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	b.ptr[0] ^= 1;
	reseal(&b);
	b.ptr[b.len - 1] ^= 1;
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	b.ptr[b.len - 1] ^= 1;
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len - 1), ARCA_ECORRUPT);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, 40), ARCA_ECORRUPT);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, 0), ARCA_ECORRUPT);

	/* a newer version */
	b.ptr[8] = 2;
	reseal(&b);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_EUNSUPPORTED);
	b.ptr[8] = 1;

	/* unsorted, then a duplicate id (swap / copy entries, resealed) */
	memcpy(b.ptr + 64, e[1].id, 32);
	memcpy(b.ptr + 64 + 48, e[0].id, 32);
	reseal(&b);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	memcpy(b.ptr + 64, e[1].id, 32);
	reseal(&b);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);

	/* a record past the pack's end, one inside the pack header */
	e[0] = mk_entry(1, 16, 100, ARCA_PIDX_PLAIN);
	e[1] = mk_entry(2, 116, 101, ARCA_PIDX_PLAIN);
	encode_index(&b, e, 2, 216);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	e[0] = mk_entry(1, 8, 100, ARCA_PIDX_PLAIN);
	e[1] = mk_entry(2, 116, 100, ARCA_PIDX_PLAIN);
	encode_index(&b, e, 2, 216);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	e[0] = mk_entry(1, UINT64_MAX - 10, 100, ARCA_PIDX_PLAIN);
	encode_index(&b, e, 2, 216);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	/* a member index no group can have */
	e[0] = mk_entry(1, 16, 100, 4096);
	encode_index(&b, e, 2, 216);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);

	/* a huge count that the bytes do not back */
	e[0] = mk_entry(1, 16, 100, ARCA_PIDX_PLAIN);
	encode_index(&b, e, 2, 216);
	arca_put_le32(b.ptr + 12, 0xffffffffu);
	reseal(&b);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	arca_put_le32(b.ptr + 12, 3);
	reseal(&b);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	arca_put_le32(b.ptr + 12, 0);
	reseal(&b);
	assert_int_equal(arca_pidx_decode(&x, b.ptr, b.len), ARCA_ECORRUPT);
	arca_buf_release(&b);
}

/* ---- artifact object ---- */

static void artifact_object_round_trips(void **state)
{
	arca_buf b = ARCA_BUF_INIT(1 << 20);
	uint8_t packs[3][32];
	arca_arto a;
	(void)state;

	memset(packs[0], 9, 32);
	memset(packs[1], 3, 32);
	memset(packs[2], 9, 32);
	assert_int_equal(arca_arto_encode(&b, "record", 6, packs, 3), 0);
	assert_int_equal(b.len, 32 + 6 + 2 * 32 + 32);
	assert_int_equal(arca_arto_decode(&a, b.ptr, b.len), 0);
	assert_int_equal(a.record_len, 6);
	assert_memory_equal(a.record, "record", 6);
	assert_int_equal(a.npacks, 2);
	assert_int_equal(a.packs[0][0], 3);
	assert_int_equal(a.packs[1][0], 9);

	b.ptr[b.len - 1] ^= 1;
	assert_int_equal(arca_arto_decode(&a, b.ptr, b.len), ARCA_ECORRUPT);
	b.ptr[b.len - 1] ^= 1;
	assert_int_equal(arca_arto_decode(&a, b.ptr, b.len - 1), ARCA_ECORRUPT);
	assert_int_equal(arca_arto_decode(&a, b.ptr, 16), ARCA_ECORRUPT);
	/* packs out of order */
	memcpy(b.ptr + 38, packs[2], 32);
	memset(b.ptr + 38 + 32, 3, 32);
	reseal(&b);
	assert_int_equal(arca_arto_decode(&a, b.ptr, b.len), ARCA_ECORRUPT);
	/* huge counts */
	arca_put_le32(b.ptr + 16, 0xffffffffu);
	reseal(&b);
	assert_int_equal(arca_arto_decode(&a, b.ptr, b.len), ARCA_ECORRUPT);
	arca_put_le32(b.ptr + 16, 2);
	arca_put_le32(b.ptr + 12, 0xfffffff0u);
	reseal(&b);
	assert_int_equal(arca_arto_decode(&a, b.ptr, b.len), ARCA_ECORRUPT);
	memcpy(b.ptr, "ARCAARTX", 8);
	arca_put_le32(b.ptr + 12, 6);
	reseal(&b);
	assert_int_equal(arca_arto_decode(&a, b.ptr, b.len), ARCA_ECORRUPT);
	arca_buf_release(&b);
}

/* ---- ref entries and hints ---- */

static const char good_entry[] =
	"arca-ref 1\nref team/app:prod\nseq 7\n"
	"id 0101010101010101010101010101010101010101010101010101010101010101\n"
	"prev none\ntime 1700000000000000000\n";

static void ref_entry_round_trips(void **state)
{
	arca_ref_entry e, back;
	arca_buf b = ARCA_BUF_INIT(ARCA_REF_ENTRY_MAX);
	uint64_t seq;
	(void)state;

	assert_int_equal(arca_ref_entry_decode(&e, good_entry, strlen(good_entry)), 0);
	assert_string_equal(e.name, "team/app");
	assert_string_equal(e.tag, "prod");
	assert_int_equal(e.seq, 7);
	assert_false(e.deleted);
	assert_false(e.has_prev);
	assert_int_equal(e.time_ns, 1700000000000000000ll);
	assert_int_equal(arca_ref_entry_encode(&b, &e), 0);
	assert_int_equal(b.len, strlen(good_entry));
	assert_memory_equal(b.ptr, good_entry, b.len);

	e.deleted = 1;
	e.has_prev = 1;
	memset(e.prev.bytes, 0xfe, 32);
	e.time_ns = -5;
	b.len = 0;
	assert_int_equal(arca_ref_entry_encode(&b, &e), 0);
	assert_int_equal(arca_ref_entry_decode(&back, b.ptr, b.len), 0);
	assert_true(back.deleted);
	assert_true(back.has_prev);
	assert_memory_equal(back.prev.bytes, e.prev.bytes, 32);
	assert_int_equal(back.time_ns, -5);

	b.len = 0;
	assert_int_equal(arca_ref_hint_encode(&b, 42), 0);
	assert_string_equal(arca_buf_cstr(&b), "arca-ref-head 1\nseq 42\n");
	assert_int_equal(arca_ref_hint_decode(&seq, b.ptr, b.len), 0);
	assert_int_equal(seq, 42);
	arca_buf_release(&b);
}

/* good_entry with `from` replaced by `to`, must be refused */
static void refuse_edit(const char *from, const char *to)
{
	char buf[2048];
	const char *at = strstr(good_entry, from);
	arca_ref_entry e;
	size_t pre;
	assert_non_null(at);
	pre = (size_t)(at - good_entry);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)pre, good_entry, to, at + strlen(from));
	if (arca_ref_entry_decode(&e, buf, strlen(buf)) == 0)
		fail_msg("accepted: %s", buf);
}

static void hostile_ref_entries_are_refused(void **state)
{
	arca_ref_entry e;
	uint64_t seq;
	char big[4096];
	(void)state;

	refuse_edit("time 1700000000000000000\n", "time 1700000000000000000\nextra line\n");
	refuse_edit("time 1700000000000000000\n", "time 1700000000000000000");
	refuse_edit("seq 7\n", "seq  7\n");
	refuse_edit("seq 7\n", "seq 07\n");
	refuse_edit("seq 7\n", "seq 0\n");
	refuse_edit("seq 7\n", "seq 99999999999999999999999\n");
	refuse_edit("seq 7\n", "seq 7 \n");
	refuse_edit("seq 7\n", "seq -7\n");
	refuse_edit("id 01", "id 0G");
	refuse_edit("id 01", "id 0A");
	refuse_edit("0101\nprev", "01\nprev");
	refuse_edit("prev none", "prev nothing");
	refuse_edit("ref team/app:prod", "ref ../app:prod");
	refuse_edit("ref team/app:prod", "ref team/app");
	refuse_edit("ref team/app:prod", "ref team/app:pr od");
	refuse_edit("arca-ref 1\n", "arca-ref 1\r\n");
	refuse_edit("arca-ref 1\n", "");
	refuse_edit("time 17", "time -0");
	refuse_edit("time 1700000000000000000", "time 99999999999999999999");
	refuse_edit("prev none\n", "");
	assert_int_equal(arca_ref_entry_decode(&e, good_entry, strlen(good_entry) - 1),
		ARCA_ECORRUPT);
	assert_int_equal(arca_ref_entry_decode(&e, good_entry, 0), ARCA_ECORRUPT);
	memset(big, 'a', sizeof(big));
	assert_int_equal(arca_ref_entry_decode(&e, big, sizeof(big)), ARCA_ECORRUPT);
	assert_int_equal(arca_ref_entry_decode(&e, "arca-ref 2\n", 11), ARCA_EUNSUPPORTED);

	assert_int_equal(arca_ref_hint_decode(&seq, "arca-ref-head 1\nseq 0\n", 22), ARCA_ECORRUPT);
	assert_int_equal(arca_ref_hint_decode(&seq, "arca-ref-head 1\nseq 1", 21), ARCA_ECORRUPT);
	assert_int_equal(arca_ref_hint_decode(&seq, "arca-ref-head 1\nseq 1\n\n", 23),
		ARCA_ECORRUPT);
	assert_int_equal(arca_ref_hint_decode(&seq, "arca-ref-head 1\nseq 01\n", 23),
		ARCA_ECORRUPT);
}

/* ---- bundle header ---- */

static void bundle_header_round_trips(void **state)
{
	char names[2][ARCA_NAME_MAX + 1] = { "web", "team/app" };
	char tags[2][ARCA_TAG_MAX + 1] = { "latest", "prod" };
	arca_id ids[2], since[1];
	arca_bundle_header h = { 2, names, tags, ids, 1, since }, back;
	arca_buf b = ARCA_BUF_INIT(1 << 20);
	(void)state;

	memset(ids[0].bytes, 1, 32);
	memset(ids[1].bytes, 2, 32);
	memset(since[0].bytes, 3, 32);
	assert_int_equal(arca_bundle_header_encode(&b, &h), 0);
	assert_int_equal(arca_bundle_header_decode(&back, b.ptr, b.len), 0);
	assert_int_equal(back.nrefs, 2);
	assert_string_equal(back.names[1], "team/app");
	assert_string_equal(back.tags[0], "latest");
	assert_memory_equal(back.ids[1].bytes, ids[1].bytes, 32);
	assert_int_equal(back.nsince, 1);
	assert_memory_equal(back.since[0].bytes, since[0].bytes, 32);
	arca_bundle_header_clear(&back);

	/* since before a ref, a trailing blank line, no refs */
	{
		static const char *bad[] = {
			("arca-bundle 1\nsince 0303030303030303030303030303030303030303030303030303030303030303\n"
			 "ref web:latest 0101010101010101010101010101010101010101010101010101010101010101\n"),
			"arca-bundle 1\nref web:latest 0101010101010101010101010101010101010101010101010101010101010101\n\n",
			"arca-bundle 1\n",
			"arca-bundle 1\nref web:latest  0101010101010101010101010101010101010101010101010101010101010101\n",
			"arca-bundle 1\nref /web:latest 0101010101010101010101010101010101010101010101010101010101010101\n",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (arca_bundle_header_decode(&back, bad[i], strlen(bad[i])) == 0)
				fail_msg("accepted %s", bad[i]);
	}
	assert_int_equal(arca_bundle_header_decode(&back, "arca-bundle 2\n", 14), ARCA_EUNSUPPORTED);
	arca_buf_release(&b);
}

/* ---- pack objects: build from one store, take into another ---- */

typedef struct {
	arca_rpack_builder *b;
	MDB_txn *txn;
	uint64_t n;
} build_ctx;

static int add_one(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	build_ctx *c = ctx;
	(void)len;
	(void)manifest;
	c->n++;
	return arca_rpack_builder_add(c->b, c->txn, id, NULL);
}

typedef struct {
	arca_store *s;
	MDB_txn *txn;
	uint64_t missing;
} check_ctx;

static int check_one(const uint8_t id[32], uint32_t len, int manifest, void *ctx)
{
	check_ctx *c = ctx;
	arca_chunk_loc loc;
	(void)len;
	(void)manifest;
	c->missing += arca_cas_lookup(c->s->cas, c->txn, id, &loc) != 0;
	return 0;
}

/* A store with a tree artifact; its pack object in `pack` (read back
 * into memory) and its index decoded into *x. */
static arca_id build_pack(const char *tmp, arca_store **sp, arca_buf *pack, arca_pidx *x,
		uint8_t sha[32])
{
	char src[4096], path[4096];
	arca_store *s;
	arca_artifact_rec rec;
	arca_buf idx = ARCA_BUF_INIT(64u << 20);
	build_ctx c;
	arca_id id;
	int fd;
	off_t size;

	snprintf(src, sizeof(src), "%s/src", tmp);
	assert_int_equal(mkdir(src, 0755), 0);
	th_write_random(th_path(src, "big"), 700000, 1);
	th_write_random(th_path(src, "small1"), 3000, 2);
	th_write_random(th_path(src, "small2"), 5000, 3);
	th_write_file(th_path(src, "text"), "hello hello hello hello hello", 29);
	s = th_store_open(th_path(tmp, "a"));
	id = th_snapshot(s, src, "web", NULL, NULL);

	snprintf(path, sizeof(path), "%s/pack.tmp", tmp);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(arca_cas_txn_read(s->cas, &c.txn), 0);
	assert_int_equal(arca_artifact_rec_get(&rec, s, c.txn, &id), 0);
	assert_int_equal(arca_rpack_builder_new(&c.b, s, fd), 0);
	assert_int_equal(arca_store__reach(s, &rec, add_one, &c), 0);
	assert_true(c.n > 3);
	assert_int_equal(arca_rpack_builder_finish(c.b, sha, &idx), 0);
	assert_int_equal(arca_pidx_decode(x, idx.ptr, idx.len), 0);
	assert_memory_equal(x->pack_sha, sha, 32);
	size = lseek(fd, 0, SEEK_END);
	assert_int_equal((uint64_t)size, x->pack_size);
	assert_int_equal((uint64_t)size, arca_rpack_builder_size(c.b));
	arca_rpack_builder_free(c.b);
	mdb_txn_abort(c.txn);
	arca_artifact_rec_clear(&rec);
	pack->len = 0;
	assert_int_equal(arca_buf_grow(pack, (size_t)size), 0);
	assert_int_equal(pread(fd, pack->ptr, (size_t)size, 0), size);
	pack->len = (size_t)size;
	close(fd);
	arca_buf_release(&idx);
	*sp = s;
	return id;
}

/* Feeds `n` bytes of pack in pieces of varying size into a new store's
 * writer; returns what finish says and how many chunks the artifact of
 * store `a` misses in the new store (committed only on success). */
static int take_in(const char *dir, arca_store *a, const arca_id *id, const uint8_t sha[32],
		const uint8_t *p, size_t n, uint64_t from, uint64_t *missing, uint64_t *staged)
{
	arca_store *s = th_store_open(dir);
	arca_cas_writer *w;
	arca_rpack_reader *r;
	arca_artifact_rec rec;
	check_ctx c;
	size_t at = 0, step = 1;
	int rc = 0;

	assert_int_equal(arca_store__writer_begin(&w, s), 0);
	assert_int_equal(arca_rpack_reader_new(&r, w, sha, from, NULL, NULL), 0);
	while (at < n && !rc) {
		size_t k = n - at < step ? n - at : step;
		rc = arca_rpack_reader_feed(r, p + at, k);
		at += k;
		step = step * 3 + 1;
	}
	if (!rc)
		rc = arca_rpack_reader_finish(r, staged);
	arca_rpack_reader_free(r);
	if (rc)
		arca_cas_writer_abort(w);
	else
		assert_int_equal(arca_cas_writer_commit(w), 0);

	memset(&c, 0, sizeof(c));
	c.s = s;
	assert_int_equal(arca_cas_txn_read(a->cas, &c.txn), 0);
	assert_int_equal(arca_artifact_rec_get(&rec, a, c.txn, id), 0);
	mdb_txn_abort(c.txn);
	assert_int_equal(arca_cas_txn_read(s->cas, &c.txn), 0);
	assert_int_equal(arca_store__reach(a, &rec, check_one, &c), 0);
	mdb_txn_abort(c.txn);
	arca_artifact_rec_clear(&rec);
	arca_store_free(s);
	*missing = c.missing;
	return rc;
}

static void pack_object_carries_every_chunk_of_an_artifact(void **state)
{
	char *tmp = th_tmpdir();
	arca_store *a;
	arca_buf pack = ARCA_BUF_INIT(256u << 20);
	arca_pidx x;
	uint8_t sha[32], d[32];
	uint64_t missing, staged;
	arca_id id;
	(void)state;

	id = build_pack(tmp, &a, &pack, &x, sha);
	assert_int_equal(arca_sha256_digest(d, pack.ptr, pack.len), 0);
	assert_memory_equal(d, sha, 32);
	assert_memory_equal(pack.ptr, "ARCAPACK", 8);
	assert_int_equal(arca_get_le32(pack.ptr + 12), 0);
	assert_int_equal(take_in(th_path(tmp, "b"), a, &id, sha, pack.ptr, pack.len, 0, &missing,
		&staged), 0);
	assert_int_equal(missing, 0);
	assert_true(staged >= x.n);

	/* the same again into a store that has it all: nothing staged */
	assert_int_equal(take_in(th_path(tmp, "b"), a, &id, sha, pack.ptr, pack.len, 0, &missing,
		&staged), 0);
	assert_int_equal(staged, 0);

	/* a run of whole records from an index entry's offset */
	assert_int_equal(take_in(th_path(tmp, "c"), a, &id, sha, pack.ptr + x.e[0].offset,
		x.e[0].length, x.e[0].offset, &missing, &staged), 0);
	assert_true(staged >= 1);

	arca_pidx_clear(&x);
	arca_buf_release(&pack);
	arca_store_free(a);
	th_cleanup(tmp);
}

static void damaged_pack_objects_stage_nothing(void **state)
{
	char *tmp = th_tmpdir();
	arca_store *a;
	arca_buf pack = ARCA_BUF_INIT(256u << 20);
	arca_pidx x;
	uint8_t sha[32];
	uint64_t missing, staged, all;
	arca_id id;
	char dir[64];
	int k = 0;
	(void)state;

	id = build_pack(tmp, &a, &pack, &x, sha);
	/* missing counts every chunk occurrence the artifact needs */
	assert_int_equal(take_in(th_path(tmp, "empty"), a, &id, sha, pack.ptr, 0, 16, &all,
		&staged), 0);
	assert_true(all > 0);
	/* a flipped byte in the header, a record header, a payload, the end */
	size_t at[] = { 3, 12, 16 + 5, 16 + 70, pack.len / 2, pack.len - 1 };
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		pack.ptr[at[i]] ^= 0x40;
		snprintf(dir, sizeof(dir), "s%d", k++);
		assert_int_equal(take_in(th_path(tmp, dir), a, &id, sha, pack.ptr, pack.len, 0,
			&missing, &staged), ARCA_ECORRUPT);
		assert_int_equal(missing, all);
		pack.ptr[at[i]] ^= 0x40;
	}
	/* cut short: inside a record, and on a record boundary (hash) */
	snprintf(dir, sizeof(dir), "s%d", k++);
	assert_int_equal(take_in(th_path(tmp, dir), a, &id, sha, pack.ptr, pack.len - 7, 0,
		&missing, &staged), ARCA_ECORRUPT);
	assert_int_equal(missing, all);
	{
		const arca_pidx_entry *first = &x.e[0];
		for (uint32_t i = 1; i < x.n; i++)
			if (x.e[i].offset < first->offset)
				first = &x.e[i];
		assert_true(first->offset + first->length < pack.len);
		snprintf(dir, sizeof(dir), "s%d", k++);
		assert_int_equal(take_in(th_path(tmp, dir), a, &id, sha, pack.ptr,
			first->offset + first->length, 0, &missing, &staged), ARCA_ECORRUPT);
	}
	assert_int_equal(missing, all);

	arca_pidx_clear(&x);
	arca_buf_release(&pack);
	arca_store_free(a);
	th_cleanup(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_are_spelled_as_the_format_says),
		cmocka_unit_test(hostile_ref_keys_are_refused),
		cmocka_unit_test(index_round_trips_sorted_without_duplicates),
		cmocka_unit_test(hostile_indexes_are_refused),
		cmocka_unit_test(artifact_object_round_trips),
		cmocka_unit_test(ref_entry_round_trips),
		cmocka_unit_test(hostile_ref_entries_are_refused),
		cmocka_unit_test(bundle_header_round_trips),
		cmocka_unit_test(pack_object_carries_every_chunk_of_an_artifact),
		cmocka_unit_test(damaged_pack_objects_stage_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
