/* Snapshot and restore through the public API, on real files and a real
 * LMDB store. */
#include "helpers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/time.h>
#include <unistd.h>

typedef th_fixture fixture;

static void restore_ok(arca_store *s, const char *ref, const char *dest, arca_op_stats *st)
{
	int rc = arca_restore(s, ref, dest, NULL, st);
	if (rc)
		fail_msg("restore %s: %s", ref, arca_error_last());
}

static void set_mtime(const char *path, long sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void build_awkward_tree(const char *src)
{
	char deep[4096];
	size_t n;

	th_write_random(th_path(src, "random.bin"), 3 * 1000 * 1000 + 17, 1);
	th_write_file(th_path(src, "empty"), "", 0);
	th_write_file(th_path(src, "new\nline \xc3\xbc\xe2\x98\x83 name"), "unicode", 7);
	mkdir(th_path(src, "dir"), 0751);
	th_write_random(th_path(src, "dir/a"), 100000, 2);
	assert_int_equal(link(th_path(src, "dir/a"), th_path(src, "dir/a-hardlink")), 0);
	assert_int_equal(link(th_path(src, "dir/a"), th_path(src, "z-hardlink")), 0);
	assert_int_equal(symlink("/etc/passwd", th_path(src, "dir/abs-link")), 0);
	assert_int_equal(symlink("../../outside", th_path(src, "dir/rel-link")), 0);
	assert_int_equal(symlink("dangling-target", th_path(src, "dangling")), 0);
	assert_int_equal(mkfifo(th_path(src, "fifo"), 0640), 0);
	/* a socket cannot be stored: it is skipped and counted, not an error */
	{
		int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", th_path(src, "sock"));
		assert_true(sfd >= 0);
		assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(sfd);
	}
	th_write_file(th_path(src, "secret"), "s", 1);
	chmod(th_path(src, "secret"), 0600);
	th_write_file(th_path(src, "setgid-exec"), "#!/bin/sh\n", 10);
	chmod(th_path(src, "setgid-exec"), 02755);

	/* a deep path: 60 levels of 40-byte names (~2.4 KB) */
	snprintf(deep, sizeof(deep), "%s", src);
	for (int i = 0; i < 60; i++) {
		n = strlen(deep);
		snprintf(deep + n, sizeof(deep) - n, "/level-%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
		assert_int_equal(mkdir(deep, 0755), 0);
	}
	th_write_file(th_path(deep, "bottom"), "deep", 4);

	/* a 3 GiB sparse file with data at its start, middle and end */
	{
		const char *sp = th_path(src, "sparse-3g");
		int fd = open(sp, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 3ll << 30), 0);
		close(fd);
		th_pwrite_random(sp, 0, 5000, 3);
		th_pwrite_random(sp, 1ull << 30, 70000, 4);
		th_pwrite_random(sp, (3ull << 30) - 100, 100, 5);
	}
	set_mtime(th_path(src, "random.bin"), 1500000000, 123456789);
	set_mtime(th_path(src, "dir/abs-link"), 1400000000, 5);
	set_mtime(th_path(src, "dir"), 1600000000, 999999999);
}

static void tree_with_awkward_content_round_trips(void **state)
{
	fixture *f = *state;
	char why[512], idstr[ARCA_ID_STRLEN];
	arca_op_stats st = ARCA_OP_STATS_INIT;
	struct stat sb;
	arca_id id;
	char dest[4096];

	snprintf(dest, sizeof(dest), "%s/restored", f->tmp);

	build_awkward_tree(f->src);
	id = th_snapshot(f->s, f->src, "awkward", NULL, &st);
	assert_true(st.entries > 70);
	assert_int_equal(st.entries_skipped, 1);
	{
		/* not restored, so not compared; keep the directory's mtime */
		struct stat ds;
		assert_int_equal(stat(f->src, &ds), 0);
		unlink(th_path(f->src, "sock"));
		struct timespec ts[2] = { ds.st_atim, ds.st_mtim };
		assert_int_equal(utimensat(AT_FDCWD, f->src, ts, 0), 0);
	}
	assert_int_equal(st.logical_bytes, 3 * 1000 * 1000 + 17 + 7 + 100000 + 1 + 10 + 4 + (3ull << 30));
	/* holes are never read */
	assert_true(st.bytes_read < 20 * 1000 * 1000);

	arca_id_format(idstr, &id);
	restore_ok(f->s, idstr, dest, NULL);
	if (th_tree_equal(f->src, dest, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	/* the restored 3 GiB file is sparse again */
	assert_int_equal(stat(th_path(dest, "sparse-3g"), &sb), 0);
	assert_int_equal(sb.st_size, 3ll << 30);
	assert_true((uint64_t)sb.st_blocks * 512 < 16u << 20);
}

static void image_round_trips_sparse(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "disk.img");
	const char *out = th_path(f->tmp, "disk.out");
	static uint8_t zeros[1 << 20];
	arca_op_stats st = ARCA_OP_STATS_INIT, rst = ARCA_OP_STATS_INIT;
	struct stat sb;
	int fd;

	fd = open(img, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1ll << 30), 0);
	/* 4 MiB of explicit zeros: not a hole on disk, but stored as one */
	for (int i = 0; i < 4; i++)
		assert_int_equal(pwrite(fd, zeros, sizeof(zeros), (10ll << 20) + i * (1 << 20)),
			(ssize_t)sizeof(zeros));
	close(fd);
	for (int i = 0; i < 16; i++)
		th_pwrite_random(img, (uint64_t)i * (60ull << 20) + 4096, 300000, 100 + i);

	th_snapshot(f->s, img, "disk", "v1", &st);
	assert_int_equal(st.logical_bytes, 1ll << 30);
	assert_true(st.hole_bytes >= (4u << 20) + (900ull << 20));
	restore_ok(f->s, "disk:v1", out, &rst);
	assert_int_equal(th_file_equal(img, out), 0);
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_size, 1ll << 30);
	/* explicit zeros came back as holes: less allocated than the source's data */
	assert_true((uint64_t)sb.st_blocks * 512 < 8u << 20);
	assert_int_equal(rst.bytes_written, st.logical_bytes - st.hole_bytes);
}

static void identical_snapshot_adds_nothing(void **state)
{
	fixture *f = *state;
	arca_store_stats a = ARCA_STORE_STATS_INIT, b = ARCA_STORE_STATS_INIT;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	arca_id id1, id2;

	th_write_random(th_path(f->src, "x"), 2000000, 7);
	th_write_random(th_path(f->src, "y"), 500000, 8);
	id1 = th_snapshot(f->s, f->src, "t", NULL, NULL);
	assert_int_equal(arca_store_stats_get(&a, f->s), 0);
	id2 = th_snapshot(f->s, f->src, "t", NULL, &st);
	assert_int_equal(arca_store_stats_get(&b, f->s), 0);
	assert_memory_equal(id1.bytes, id2.bytes, 32);
	assert_int_equal(st.chunks_new, 0);
	assert_int_equal(st.new_stored_bytes, 0);
	assert_int_equal(a.chunks, b.chunks);
	assert_int_equal(a.stored_bytes, b.stored_bytes);
	/* only the journaled history entry (and its commit record) */
	assert_true(b.pack_bytes - a.pack_bytes < 512);
	assert_int_equal(b.artifacts, 1);
}

static void small_image_change_adds_about_the_changed_bytes(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "vm.img");
	arca_op_stats st = ARCA_OP_STATS_INIT;

	th_write_random(img, 64u << 20, 9);
	th_snapshot(f->s, img, "vm", NULL, &st);
	assert_true(st.new_raw_bytes >= 64u << 20);
	th_pwrite_random(img, 20u << 20, 100000, 10);
	th_snapshot(f->s, img, "vm", NULL, &st);
	assert_true(st.new_raw_bytes >= 100000);
	/* the edit touches a few chunks (max 256 KiB each) plus the manifest */
	assert_true(st.new_raw_bytes < 1200000);
}

static void repeated_data_is_stored_once(void **state)
{
	fixture *f = *state;
	arca_store_stats s = ARCA_STORE_STATS_INIT;
	char name[64];
	uint8_t *buf = malloc(5u << 20);

	th_fill_random(buf, 5u << 20, 11);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "copy-%d", i);
		th_write_file(th_path(f->src, name), buf, 5u << 20);
	}
	th_snapshot(f->s, f->src, NULL, NULL, NULL);
	assert_int_equal(arca_store_stats_get(&s, f->s), 0);
	assert_int_equal(s.data_bytes, 50u << 20);
	assert_true(s.unique_bytes < (5u << 20) + (1u << 20)); /* + manifest */
	assert_true(s.stored_bytes <= s.unique_bytes + s.chunks * 64);
	free(buf);
}

static void zero_files_store_no_chunks(void **state)
{
	fixture *f = *state;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	uint8_t *z = calloc(1, 10u << 20);
	th_write_file(th_path(f->src, "zeros"), z, 10u << 20);
	th_snapshot(f->s, f->src, NULL, NULL, &st);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(st.hole_bytes, 10u << 20);
	free(z);
}

static void references_resolve_by_prefix_name_and_tag(void **state)
{
	fixture *f = *state;
	arca_id a, b, got;
	char s[ARCA_ID_STRLEN], pre[32];

	th_write_file(th_path(f->src, "v"), "one", 3);
	a = th_snapshot(f->s, f->src, "app", "staging", NULL);
	th_write_file(th_path(f->src, "v"), "two", 3);
	b = th_snapshot(f->s, f->src, "app", NULL, NULL);

	arca_id_format(s, &a);
	assert_int_equal(arca_resolve(&got, f->s, s), 0);
	assert_memory_equal(got.bytes, a.bytes, 32);
	snprintf(pre, sizeof(pre), "%.8s", s + 4); /* 8 hex digits, no art_ */
	assert_int_equal(arca_resolve(&got, f->s, pre), 0);
	assert_memory_equal(got.bytes, a.bytes, 32);
	snprintf(pre, sizeof(pre), "%.13s", s); /* art_ + 9 (odd) digits */
	assert_int_equal(arca_resolve(&got, f->s, pre), 0);
	assert_memory_equal(got.bytes, a.bytes, 32);

	assert_int_equal(arca_resolve(&got, f->s, "app:staging"), 0);
	assert_memory_equal(got.bytes, a.bytes, 32);
	assert_int_equal(arca_resolve(&got, f->s, "app"), 0);
	assert_memory_equal(got.bytes, b.bytes, 32);
	assert_int_equal(arca_resolve(&got, f->s, "app:latest"), 0);
	assert_memory_equal(got.bytes, b.bytes, 32);

	assert_int_equal(arca_resolve(&got, f->s, "nope"), ARCA_ENOTFOUND);
	assert_int_equal(arca_resolve(&got, f->s, "app:prod"), ARCA_ENOTFOUND);
	assert_int_equal(arca_resolve(&got, f->s, "art_123"), ARCA_EINVAL);
	assert_int_equal(arca_resolve(&got, f->s, "art_00000000"), ARCA_ENOTFOUND);

	/* the second snapshot's parent is the first */
	arca_artifact *art;
	assert_int_equal(arca_artifact_lookup(&art, f->s, &b), 0);
	assert_true(art->has_parent);
	assert_memory_equal(art->parent.bytes, a.bytes, 32);
	assert_string_equal(art->name, "app");
	arca_artifact_free(art);
}

static void labels_and_metadata_are_kept(void **state)
{
	fixture *f = *state;
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_label labels[] = { { "owner", "qa" }, { "app", "espocrm" } };
	arca_artifact *a;
	arca_id id;

	th_write_file(th_path(f->src, "f"), "x", 1);
	o.name = "espocrm";
	o.tag = "staging";
	o.labels = labels;
	o.nlabels = 2;
	assert_int_equal(arca_snapshot(&id, f->s, f->src, &o, NULL), 0);
	assert_int_equal(arca_artifact_lookup(&a, f->s, &id), 0);
	assert_int_equal(a->kind, ARCA_KIND_TREE);
	assert_string_equal(a->tag, "staging");
	assert_int_equal(a->nlabels, 2);
	assert_string_equal(a->labels[1].key, "app");
	assert_string_equal(a->labels[1].value, "espocrm");
	assert_false(a->has_parent);
	assert_true(a->created_ns > 1700000000ll * 1000000000ll);
	arca_artifact_free(a);

	o.name = "bad name";
	assert_int_equal(arca_snapshot(&id, f->s, f->src, &o, NULL), ARCA_EINVAL);
	o.name = NULL;
	assert_int_equal(arca_snapshot(&id, f->s, f->src, &o, NULL), ARCA_EINVAL); /* tag w/o name */
}

static void restore_refuses_existing_destinations(void **state)
{
	fixture *f = *state;
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	const char *dest = th_path(f->tmp, "dest");
	char why[256];

	th_write_file(th_path(f->src, "f"), "x", 1);
	th_snapshot(f->s, f->src, "t", NULL, NULL);
	mkdir(dest, 0755);
	assert_int_equal(arca_restore(f->s, "t", dest, NULL, NULL), ARCA_EEXISTS);
	ro.force = 1;
	assert_int_equal(arca_restore(f->s, "t", dest, &ro, NULL), 0);
	assert_int_equal(th_tree_equal(f->src, dest, why, sizeof(why)), 0);
	/* --force still needs an empty directory */
	assert_int_equal(arca_restore(f->s, "t", dest, &ro, NULL), ARCA_EEXISTS);
	assert_int_equal(arca_restore(f->s, "missing", th_path(f->tmp, "d2"), NULL, NULL),
		ARCA_ENOTFOUND);
}

typedef struct {
	arca_id seen[3];
	int n;
} seen_acc;

static int collect(const arca_artifact *a, void *p)
{
	seen_acc *acc = p;
	if (acc->n < 3)
		acc->seen[acc->n] = a->id;
	acc->n++;
	return 0;
}

static void artifacts_list_oldest_first(void **state)
{
	fixture *f = *state;
	arca_id ids[3];
	seen_acc acc = { .n = 0 };
	for (int i = 0; i < 3; i++) {
		char c = (char)('a' + i);
		th_write_file(th_path(f->src, "f"), &c, 1);
		ids[i] = th_snapshot(f->s, f->src, NULL, NULL, NULL);
	}
	assert_int_equal(arca_artifact_foreach(f->s, collect, &acc), 0);
	assert_int_equal(acc.n, 3);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(acc.seen[i].bytes, ids[i].bytes, 32);
}

static void store_reopens_with_its_chunk_parameters(void **state)
{
	fixture *f = *state;
	arca_store_options o = ARCA_STORE_OPTIONS_INIT;
	arca_store *s2;
	const char *dir = th_path(f->tmp, "small-chunks");
	o.chunk_min = 1024;
	o.chunk_avg = 4096;
	o.chunk_max = 16384;
	assert_int_equal(arca_store_open(&s2, dir, &o), 0);
	th_write_random(th_path(f->src, "f"), 1 << 20, 12);
	arca_op_stats st = ARCA_OP_STATS_INIT;
	th_snapshot(s2, f->src, NULL, NULL, &st);
	assert_true(st.chunks > 100); /* ~1 MiB / 4 KiB */
	arca_store_free(s2);
	/* reopening with other sizes keeps the recorded ones */
	o.chunk_min = o.chunk_avg = o.chunk_max = 0;
	assert_int_equal(arca_store_open(&s2, dir, &o), 0);
	th_snapshot(s2, f->src, NULL, NULL, &st);
	assert_int_equal(st.chunks_new, 0);
	arca_store_free(s2);
	o.no_create = 1;
	assert_int_equal(arca_store_open(&s2, th_path(f->tmp, "absent"), &o), ARCA_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tree_with_awkward_content_round_trips, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(image_round_trips_sparse, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(identical_snapshot_adds_nothing, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(small_image_change_adds_about_the_changed_bytes, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(repeated_data_is_stored_once, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(zero_files_store_no_chunks, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(references_resolve_by_prefix_name_and_tag, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(labels_and_metadata_are_kept, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(restore_refuses_existing_destinations, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(artifacts_list_oldest_first, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(store_reopens_with_its_chunk_parameters, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
