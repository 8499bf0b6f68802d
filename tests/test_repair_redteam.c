/* Indexes that do not describe the packs beside them (an older copy of the
 * store's own index, another store's index) are never acted on: no writer
 * cuts committed records as if they were a torn tail, and repair neither
 * takes their metadata over newer journal records nor skips the packs they
 * call retired. */
#include "helpers.h"
#include "store/store.h"
#include "cas/cas_impl.h" /* white-box: raw index access */
#include "util/buf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *pack1(const char *store)
{
	static char p[8192];
	snprintf(p, sizeof(p), "%s/packs/pack-00000001.arcp", store);
	return p;
}

static void copy_file(const char *from, const char *to)
{
	char cmd[32768];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && rm -f '%s-lock'", from, to, to);
	assert_int_equal(system(cmd), 0);
}

static void keep_copy(th_fixture *f, const char *name)
{
	char cmd[32768];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s' && cp -a '%s' '%s/%s'", f->tmp, name, f->src,
		f->tmp, name);
	assert_int_equal(system(cmd), 0);
}

/* An older copy of the index put back: the writers that committed after
 * it are in the pack past its committed length. A writer must not cut
 * them off as a torn tail, and repair must keep them. */
static void an_older_copy_of_the_index_loses_nothing(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	char old[4096];
	arca_store *s;
	off_t size;
	int nrefs = 0;

	th_write_random(th_path(f->src, "a"), 1u << 20, 1);
	th_snapshot(f->s, f->src, "one", NULL, NULL);
	keep_copy(f, "one");
	arca_store_free(f->s);
	f->s = NULL;
	snprintf(old, sizeof(old), "%s/old.lmdb", f->tmp);
	copy_file(th_path(f->storedir, "index.lmdb"), old);
	f->s = th_store_open(f->storedir);
	th_write_random(th_path(f->src, "a"), 1u << 20, 2);
	th_snapshot(f->s, f->src, "two", NULL, NULL);
	keep_copy(f, "two");
	assert_int_equal(arca_tag_set(f->s, "two", "keep:it"), 0);
	arca_store_free(f->s);
	f->s = NULL;
	size = th_file_size(pack1(f->storedir));

	copy_file(old, th_path(f->storedir, "index.lmdb"));
	s = th_store_open(f->storedir);
	{
		arca_id id;
		arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
		so.name = "three";
		assert_int_equal(arca_snapshot(&id, s, f->src, &so, NULL), ARCA_ECORRUPT);
	}
	arca_store_free(s);
	assert_int_equal(th_file_size(pack1(f->storedir)), size); /* nothing cut */

	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	assert_int_equal(rr.artifacts, 2);
	assert_int_equal(rr.ndamaged, 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	assert_int_equal(arca_ref_foreach(f->s, th_count_refs, &nrefs), 0);
	assert_int_equal(nrefs, 3); /* one:latest, two:latest, keep:it */
	th_restore_equals(f->s, f->tmp, "one", th_path(f->tmp, "one"));
	th_restore_equals(f->s, f->tmp, "keep:it", th_path(f->tmp, "two"));
}

/* Repair run straight on a store whose index is an older copy takes the
 * packs' newer journal, not the old index's state. */
static void repair_prefers_newer_journal_records_over_an_older_index(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	char old[4096];

	th_write_random(th_path(f->src, "a"), 1u << 20, 1);
	th_snapshot(f->s, f->src, "one", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;
	snprintf(old, sizeof(old), "%s/old.lmdb", f->tmp);
	copy_file(th_path(f->storedir, "index.lmdb"), old);
	f->s = th_store_open(f->storedir);
	th_write_random(th_path(f->src, "a"), 1u << 20, 2);
	th_snapshot(f->s, f->src, "two", NULL, NULL);
	keep_copy(f, "two");
	arca_store_free(f->s);
	f->s = NULL;
	copy_file(old, th_path(f->storedir, "index.lmdb"));
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	assert_int_equal(rr.artifacts, 2);
	assert_int_equal(rr.ndamaged, 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	th_restore_equals(f->s, f->tmp, "two", th_path(f->tmp, "two"));
}

/* Another store's index in place of this one's is refused at open, before
 * a writer can take this store's longer pack for a torn tail. */
static void an_index_of_another_store_is_refused(void **state)
{
	th_fixture *f = *state;
	char other[4096], osrc[4096];
	arca_store *o;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	off_t size;

	snprintf(other, sizeof(other), "%s/other", f->tmp);
	snprintf(osrc, sizeof(osrc), "%s/osrc", f->tmp);
	assert_int_equal(mkdir(osrc, 0700), 0);
	th_write_random(th_path(osrc, "x"), 1u << 20, 7);
	o = th_store_open(other);
	th_snapshot(o, osrc, "theirs", NULL, NULL);
	arca_store_free(o);

	th_write_random(th_path(f->src, "a"), 3u << 20, 1);
	th_snapshot(f->s, f->src, "mine", NULL, NULL);
	keep_copy(f, "mine");
	arca_store_free(f->s);
	f->s = NULL;
	size = th_file_size(pack1(f->storedir));
	assert_true(size > th_file_size(pack1(other)));

	copy_file(th_path(other, "index.lmdb"), th_path(f->storedir, "index.lmdb"));
	assert_int_equal(th_open_rc(f->storedir), ARCA_ECORRUPT);
	assert_int_equal(th_file_size(pack1(f->storedir)), size);
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	assert_int_equal(rr.artifacts, 1);
	assert_int_equal(rr.ndamaged, 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	th_restore_equals(f->s, f->tmp, "mine", th_path(f->tmp, "mine"));
}

/* Another store's index that calls pack 1 retired (its gc retired its own
 * pack 1 while a reader held it): repair must still scan this store's
 * live pack 1. */
static void repair_scans_packs_a_foreign_index_calls_retired(void **state)
{
	th_fixture *f = *state;
	char other[4096], osrc[4096];
	arca_store *o;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_gc_result gr = ARCA_GC_RESULT_INIT;

	snprintf(other, sizeof(other), "%s/other", f->tmp);
	snprintf(osrc, sizeof(osrc), "%s/osrc", f->tmp);
	assert_int_equal(mkdir(osrc, 0700), 0);
	th_write_random(th_path(osrc, "x"), 1u << 20, 7);
	o = th_store_open(other);
	{
		arca_id ids[1];
		ids[0] = th_snapshot(o, osrc, "gone", NULL, NULL);
		th_write_random(th_path(osrc, "y"), 1u << 16, 8);
		assert_int_equal(arca_artifact_remove(o, ids, 1, 1), 0);
	}
	/* a reader in another process (one process opens a store once) */
	{
		int up[2], down[2];
		char c;
		pid_t pid;
		assert_int_equal(pipe(up), 0);
		assert_int_equal(pipe(down), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			arca_store *reader = NULL;
			MDB_txn *rtxn;
			arca_store_options ro = ARCA_STORE_OPTIONS_INIT;
			ro.no_create = 1;
			if (arca_store_open(&reader, other, &ro) != 0 ||
			    arca_cas_txn_read(reader->cas, &rtxn) != 0)
				_exit(1);
			if (write(up[1], "r", 1) != 1 || read(down[0], &c, 1) != 1)
				_exit(1);
			_exit(0);
		}
		assert_int_equal(read(up[0], &c, 1), 1);
		{
			arca_gc_options go = ARCA_GC_OPTIONS_INIT;
			go.repack_threshold = 1.0;
			assert_int_equal(arca_gc(&gr, o, &go), 0);
		}
		assert_int_equal(write(down[1], "x", 1), 1);
		assert_int_equal(waitpid(pid, NULL, 0), pid);
		close(up[0]); close(up[1]); close(down[0]); close(down[1]);
	}
	assert_true(gr.packs_pending >= 1); /* pack 1 retired, not yet deleted */
	arca_store_free(o);

	th_write_random(th_path(f->src, "a"), 3u << 20, 1);
	th_snapshot(f->s, f->src, "mine", NULL, NULL);
	keep_copy(f, "mine");
	arca_store_free(f->s);
	f->s = NULL;

	copy_file(th_path(other, "index.lmdb"), th_path(f->storedir, "index.lmdb"));
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	assert_int_equal(rr.packs_retired, 0);
	assert_int_equal(rr.ndamaged, 0);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	th_restore_equals(f->s, f->tmp, "mine", th_path(f->tmp, "mine"));
	{
		arca_gc_options go = ARCA_GC_OPTIONS_INIT;
		assert_int_equal(arca_gc(&gr, f->s, &go), 0);
	}
	assert_true(th_file_size(pack1(f->storedir)) > 0);
	th_restore_equals(f->s, f->tmp, "mine", th_path(f->tmp, "mine"));
}

/* Random bytes with a well-formed chunk record header at `at` claiming
 * `claim` payload bytes: what a file holding another store's pack (a
 * snapshot of a home directory with a store in it) looks like. */
static void write_with_inner_header(const char *path, size_t n, size_t at, uint32_t claim,
		uint64_t seed)
{
	uint8_t *p = malloc(n);
	arca_record rec;
	assert_non_null(p);
	th_fill_random(p, n, seed);
	memset(&rec, 0, sizeof(rec));
	memset(rec.id, 0x11, sizeof(rec.id));
	rec.codec = ARCA_CODEC_RAW;
	rec.raw_len = claim;
	rec.stored_len = claim;
	arca_record_encode(p + at, &rec);
	th_write_file(path, p, n);
	free(p);
}

/* Offset of the first chunk or group record of pack 1. */
static off_t first_data_record(const char *pack)
{
	uint8_t h[ARCA_RECORD_HEADER_LEN];
	off_t off = ARCA_PACK_HEADER_LEN;
	int fd = open(pack, O_RDONLY);
	assert_true(fd >= 0);
	while (pread(fd, h, sizeof(h), off) == (ssize_t)sizeof(h)) {
		arca_meta_hdr m;
		if (arca_meta_decode(&m, h, sizeof(h)) != 0)
			break;
		off += (off_t)sizeof(h) + m.len;
	}
	close(fd);
	assert_true(!memcmp(h, "ARCK", 4) || !memcmp(h, "ARCG", 4));
	return off;
}

static void inner_header_case(th_fixture *f, uint32_t claim, size_t last_len)
{
	char d1[4096], d2[4096], d3[4096];
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	off_t at;

	snprintf(d1, sizeof(d1), "%s/d1", f->tmp);
	snprintf(d2, sizeof(d2), "%s/d2", f->tmp);
	snprintf(d3, sizeof(d3), "%s/d3", f->tmp);
	assert_int_equal(mkdir(d1, 0700), 0);
	assert_int_equal(mkdir(d2, 0700), 0);
	assert_int_equal(mkdir(d3, 0700), 0);
	write_with_inner_header(th_path(d1, "inner.arcp"), 100000, 50000, claim, 1);
	th_write_random(th_path(d2, "b"), 200000, 2);
	th_write_random(th_path(d3, "c"), last_len, 3);
	th_snapshot(f->s, d1, "one", NULL, NULL);
	th_snapshot(f->s, d2, "two", NULL, NULL);
	th_snapshot(f->s, d3, "three", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;
	/* bit rot in the header of the record that holds the inner header */
	at = first_data_record(pack1(f->storedir));
	{
		int fd = open(pack1(f->storedir), O_RDWR);
		uint8_t b;
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &b, 1, at + 8), 1);
		b ^= 0x5a;
		assert_int_equal(pwrite(fd, &b, 1, at + 8), 1);
		close(fd);
	}
	assert_int_equal(unlink(th_path(f->storedir, "index.lmdb")), 0);
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	assert_int_equal(rr.artifacts, 3);
	assert_int_equal(rr.ndamaged, 1); /* only "one" */
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	th_restore_equals(f->s, f->tmp, "two", d2);
	th_restore_equals(f->s, f->tmp, "three", d3);
}

/* After a damaged header, the scan looks for the next record; a header
 * it finds inside a payload must not make it skip the real records that
 * follow. */
static void a_header_inside_a_payload_does_not_hide_the_records_after_it(void **state)
{
	inner_header_case(*state, 300000, 1u << 20);
}

/* ... nor cut them off as a torn tail when its claimed length runs past
 * the end of the pack. */
static void a_header_inside_a_payload_is_not_taken_for_a_torn_tail(void **state)
{
	inner_header_case(*state, 8u << 20, 300000);
}

/* A pack file that appeared from elsewhere (copied in with another mode)
 * becomes a live pack that writers append the store's data to: repair
 * gives it the mode of the store's own packs. */
static void a_stray_pack_file_gets_the_mode_of_packs(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	char p7[8192];
	struct stat st;
	int fd;

	th_write_random(th_path(f->src, "a"), 1u << 16, 1);
	th_snapshot(f->s, f->src, "one", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;
	snprintf(p7, sizeof(p7), "%s/packs/pack-00000007.arcp", f->storedir);
	fd = open(p7, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	arca_repair_result_clear(&rr);
	assert_int_equal(stat(p7, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f->s = th_store_open(f->storedir);
	th_restore_equals(f->s, f->tmp, "one", f->src);
}

static int dump_ref(const char *name, const char *tag, const arca_id *id, void *p)
{
	char hex[ARCA_ID_STRLEN];
	arca_id_format(hex, id);
	char line[4096];
	int k = snprintf(line, sizeof(line), "ref %s:%s=%s\n", name, tag, hex);
	return arca_buf_put(p, line, (size_t)k) != 0;
}

static int dump_art(const arca_artifact *a, void *p)
{
	char hex[ARCA_ID_STRLEN];
	arca_id_format(hex, &a->id);
	char line[256];
	int k = snprintf(line, sizeof(line), "art %s\n", hex);
	return arca_buf_put(p, line, (size_t)k) != 0;
}

static char *state_of(arca_store *s)
{
	arca_buf b = { 0 };
	b.max = SIZE_MAX;
	assert_int_equal(arca_ref_foreach(s, dump_ref, &b), 0);
	assert_int_equal(arca_artifact_foreach(s, dump_art, &b), 0);
	assert_int_equal(arca_buf_put(&b, "", 1), 0);
	return (char *)b.ptr;
}

/* A long life in small packs: rotation every few records, tags moved over
 * and over, rm and the same content again, prune, gc after gc (checkpoint
 * after checkpoint). The packs alone give back the same refs and
 * artifacts, and the store verifies. */
static void a_long_history_in_small_packs_is_rebuilt_whole(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_gc_result gr = ARCA_GC_RESULT_INIT;
	char *want, *got;

	arca_cas_set_pack_target(f->s->cas, 48 * 1024);
	for (int round = 0; round < 6; round++) {
		arca_id id;
		char tag[32];
		arca_gc_options go = ARCA_GC_OPTIONS_INIT;
		th_write_random(th_path(f->src, "a"), 40000, (uint64_t)round % 3);
		th_write_random(th_path(f->src, "b"), 30000, 100 + (uint64_t)round);
		id = th_snapshot(f->s, f->src, "app", NULL, NULL);
		snprintf(tag, sizeof(tag), "app:r%d", round);
		assert_int_equal(arca_tag_set(f->s, "app", tag), 0);
		assert_int_equal(arca_tag_set(f->s, "app", "moving:tag"), 0);
		if (round == 2) {
			/* rm, then the very same content again */
			assert_int_equal(arca_artifact_remove(f->s, &id, 1, 1), 0);
			th_snapshot(f->s, f->src, "app", NULL, NULL);
		}
		if (round == 4) {
			arca_id *rm = NULL;
			size_t nrm = 0;
			assert_int_equal(arca_tag_delete(f->s, "app:r0"), 0);
			assert_int_equal(arca_tag_delete(f->s, "app:r1"), 0);
			assert_int_equal(arca_prune(f->s, "app", 2, &rm, &nrm), 0);
			arca_ids_free(rm);
		}
		go.repack_threshold = 1.0;
		assert_int_equal(arca_gc(&gr, f->s, &go), 0);
	}
	want = state_of(f->s);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(unlink(th_path(f->storedir, "index.lmdb")), 0);
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	assert_int_equal(rr.ndamaged, 0);
	assert_true(rr.packs > 2);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	got = state_of(f->s);
	assert_string_equal(got, want);
	free(got);
	{
		arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
		if (arca_verify(&vr, f->s) != 0)
			fail_msg("verify: %s", arca_error_last());
		arca_verify_result_clear(&vr);
	}
	/* and again, from the packs repair itself journaled into */
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(unlink(th_path(f->storedir, "index.lmdb")), 0);
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	got = state_of(f->s);
	assert_string_equal(got, want);
	free(got);
	free(want);
	th_restore_equals(f->s, f->tmp, "moving:tag", f->src);
}

/* A checkpoint larger than a pack: the packs rotate between its members,
 * and every new pack starts with a PARAMS record of its own. Repair must
 * still find the checkpoint complete and replay from it, not from the
 * first record on (older records may be gone with retired packs: then an
 * artifact whose ART_DEL went with them would come back). */
static void a_checkpoint_spanning_several_packs_is_complete(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_cas_writer *w;
	MDB_val k = { strlen(ARCA_META_JOURNAL_ON), (void *)ARCA_META_JOURNAL_ON };
	char *want, *got;

	arca_cas_set_pack_target(f->s->cas, 4096);
	for (int i = 0; i < 40; i++) {
		char name[32], data[64];
		int n = snprintf(data, sizeof(data), "content number %d\n", i);
		snprintf(name, sizeof(name), "n%d", i);
		th_write_file(th_path(f->src, "a"), data, (size_t)n);
		th_snapshot(f->s, f->src, name, NULL, NULL);
	}
	/* the next writer journals the whole state: 40 artifacts, refs and
	 * history entries, about 9 KiB of records in 4 KiB packs */
	assert_int_equal(arca_cas_writer_begin(&w, f->s->cas), 0);
	assert_int_equal(mdb_del(arca_cas_writer_txn(w), f->s->cas->dbi_meta, &k, NULL), 0);
	assert_int_equal(arca_cas_writer_commit(w), 0);
	assert_int_equal(arca_tag_set(f->s, "n0", "keep:it"), 0);
	want = state_of(f->s);
	arca_store_free(f->s);
	f->s = NULL;
	assert_int_equal(unlink(th_path(f->storedir, "index.lmdb")), 0);
	if (arca_repair(&rr, f->storedir) != 0)
		fail_msg("repair: %s", arca_error_last());
	assert_int_equal(rr.ndamaged, 0);
	/* the checkpoint's 120 members and the tag set after it; a replay
	 * from the start would apply all 241 */
	assert_int_equal(rr.journal_records, 121);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	got = state_of(f->s);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

/* Another store's pack stored as a file inside a snapshot: after damage to
 * the record holding it, repair's resync walks into that file and finds
 * complete, committed-looking meta records. They are bound to the other
 * store's id and must never be replayed. */
static void a_foreign_pack_inside_a_payload_is_never_replayed(void **state)
{
	th_fixture *f = *state;
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	arca_store *other;
	char odir[4096], ostore[4096];
	uint8_t *buf;
	off_t size, inner = -1, rec = -1;
	size_t n;
	int fd, nrefs = 0;

	/* the other store: random data, so the pack inside is stored raw */
	snprintf(odir, sizeof(odir), "%s/osrc", f->tmp);
	snprintf(ostore, sizeof(ostore), "%s/ostore", f->tmp);
	assert_int_equal(mkdir(odir, 0755), 0);
	th_write_random(th_path(odir, "x"), 40000, 77);
	other = th_store_open(ostore);
	th_snapshot(other, odir, "foreign", "t1", NULL);
	th_snapshot(other, odir, "foreign2", NULL, NULL);
	arca_store_free(other);
	copy_file(pack1(ostore), th_path(f->src, "embedded.arcp"));
	th_write_random(th_path(f->src, "mine"), 30000, 78);
	th_snapshot(f->s, f->src, "mine", NULL, NULL);
	arca_store_free(f->s);
	f->s = NULL;

	/* damage the header of the record that holds the embedded pack */
	size = th_file_size(pack1(f->storedir));
	n = size > 0 && size < (64 << 20) ? (size_t)size : 0;
	assert_true(n > 0);
	buf = malloc(n);
	assert_non_null(buf);
	fd = open(pack1(f->storedir), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, 0), size);
	for (off_t i = 16; i + 8 <= size; i++)
		if (!memcmp(buf + i, "ARCAPACK", 8)) {
			inner = i;
			break;
		}
	assert_true(inner > 0);
	for (off_t i = inner; i-- > 16;) {
		arca_record r;
		arca_group g;
		if (arca_record_decode(&r, buf + i, (size_t)(size - i)) == 0 ||
		    arca_group_decode(&g, buf + i, (size_t)(size - i)) == 0) {
			rec = i;
			break;
		}
	}
	assert_true(rec > 0);
	buf[rec + 8] ^= 0xff;
	assert_int_equal(pwrite(fd, buf + rec + 8, 1, rec + 8), 1);
	close(fd);
	free(buf);

	assert_int_equal(unlink(th_path(f->storedir, "index.lmdb")), 0);
	assert_int_equal(arca_repair(&rr, f->storedir), 0);
	assert_int_equal(rr.artifacts, 1);
	assert_int_equal(rr.refs, 1);
	arca_repair_result_clear(&rr);
	f->s = th_store_open(f->storedir);
	assert_int_equal(arca_ref_foreach(f->s, th_count_refs, &nrefs), 0);
	assert_int_equal(nrefs, 1);
	{
		arca_id id;
		assert_int_equal(arca_resolve(&id, f->s, "foreign"), ARCA_ENOTFOUND);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(an_older_copy_of_the_index_loses_nothing, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(repair_prefers_newer_journal_records_over_an_older_index, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(an_index_of_another_store_is_refused, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(repair_scans_packs_a_foreign_index_calls_retired, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_header_inside_a_payload_does_not_hide_the_records_after_it, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_header_inside_a_payload_is_not_taken_for_a_torn_tail, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_stray_pack_file_gets_the_mode_of_packs, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_long_history_in_small_packs_is_rebuilt_whole, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_checkpoint_spanning_several_packs_is_complete, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(a_foreign_pack_inside_a_payload_is_never_replayed, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
