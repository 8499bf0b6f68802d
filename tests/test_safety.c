/* Hostile manifests and damaged packs: clear errors, nothing written
 * outside DEST, damage named by verify. */
#include "helpers.h"
#include "store/manifest.h"
#include "store/mfio.h"
#include "util/buf.h"

#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
	char *tmp;
	char *outside;
	arca_store *s;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	f->tmp = th_tmpdir();
	f->outside = strdup(th_path(f->tmp, "outside"));
	mkdir(f->outside, 0755);
	th_write_file(th_path(f->outside, "target"), "precious", 8);
	f->s = th_store_open(th_path(f->tmp, "store"));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	arca_store_free(f->s);
	th_cleanup(f->tmp);
	free(f->outside);
	free(f);
	return 0;
}

static int buf_write(void *ctx, const void *p, size_t n)
{
	return arca_buf_put(ctx, p, n);
}

static arca_mf_entry ent(int type, const char *path, const char *target)
{
	arca_mf_entry e;
	memset(&e, 0, sizeof(e));
	e.type = (uint8_t)type;
	e.path = path;
	e.path_len = strlen(path);
	e.mode = 0755;
	if (target) {
		e.target = target;
		e.target_len = strlen(target);
	}
	return e;
}

/* Stores a tree manifest listing `es` (files empty) as an artifact. */
static arca_id put_tree(arca_store *s, const arca_mf_entry *es, size_t n)
{
	arca_buf b = ARCA_BUF_INIT(1 << 20);
	arca_mf_writer w;
	arca_id id;
	arca_mf_writer_init(&w, buf_write, &b);
	assert_int_equal(arca_mf_write_header(&w, ARCA_KIND_TREE), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(arca_mf_write_entry(&w, &es[i]), 0);
		if (es[i].type == ARCA_MF_FILE)
			assert_int_equal(arca_mf_write_extents_end(&w), 0);
	}
	assert_int_equal(arca_mf_write_end(&w), 0);
	assert_int_equal(arca_store__put_manifest(&id, s, b.ptr, b.len, ARCA_KIND_TREE), 0);
	arca_buf_release(&b);
	return id;
}

static int restore_id(arca_store *s, const arca_id *id, const char *dest)
{
	char str[ARCA_ID_STRLEN];
	arca_id_format(str, id);
	return arca_restore(s, str, dest, NULL, NULL);
}

static int exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

static void dot_dot_path_is_refused(void **state)
{
	fixture *f = *state;
	const arca_mf_entry es[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, "../evil", NULL) };
	arca_id id = put_tree(f->s, es, 2);
	assert_int_equal(restore_id(f->s, &id, th_path(f->tmp, "dest")), ARCA_EUNSAFE);
	assert_non_null(strstr(arca_error_last(), "'../evil'"));
	assert_false(exists(th_path(f->tmp, "evil")));
}

static void absolute_path_is_refused(void **state)
{
	fixture *f = *state;
	char abs[4096];
	snprintf(abs, sizeof(abs), "%s/abs-evil", f->outside);
	const arca_mf_entry es[] = { ent(ARCA_MF_DIR, "", NULL), ent(ARCA_MF_FILE, abs, NULL) };
	arca_id id = put_tree(f->s, es, 2);
	assert_int_equal(restore_id(f->s, &id, th_path(f->tmp, "dest")), ARCA_EUNSAFE);
	assert_false(exists(abs));
}

static void writing_through_a_symlinked_parent_is_refused(void **state)
{
	fixture *f = *state;
	const arca_mf_entry es[] = { ent(ARCA_MF_DIR, "", NULL),
		ent(ARCA_MF_SYMLINK, "a", f->outside), ent(ARCA_MF_FILE, "a/planted", NULL) };
	arca_id id = put_tree(f->s, es, 3);
	assert_int_equal(restore_id(f->s, &id, th_path(f->tmp, "dest")), ARCA_ECORRUPT);
	assert_false(exists(th_path(f->outside, "planted")));
}

static void hardlink_through_a_symlink_is_refused(void **state)
{
	fixture *f = *state;
	struct stat st;
	const char *target = th_path(f->outside, "target");
	const arca_mf_entry es[] = { ent(ARCA_MF_DIR, "", NULL),
		ent(ARCA_MF_SYMLINK, "l", target), ent(ARCA_MF_HARDLINK, "m", "l") };
	arca_id id = put_tree(f->s, es, 3);
	assert_int_equal(restore_id(f->s, &id, th_path(f->tmp, "dest")), ARCA_ECORRUPT);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	const arca_mf_entry es2[] = { ent(ARCA_MF_DIR, "", NULL),
		ent(ARCA_MF_SYMLINK, "d", f->outside), ent(ARCA_MF_HARDLINK, "m", "d/target") };
	id = put_tree(f->s, es2, 3);
	assert_int_equal(restore_id(f->s, &id, th_path(f->tmp, "dest2")), ARCA_EUNSAFE);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_nlink, 1);
}

static void symlinked_destination_is_not_followed(void **state)
{
	fixture *f = *state;
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	const char *dest = th_path(f->tmp, "dest-link");
	const char *src = th_path(f->tmp, "src");
	mkdir(src, 0755);
	th_write_file(th_path(src, "payload"), "p", 1);
	th_snapshot(f->s, src, "t", NULL, NULL);
	assert_int_equal(symlink(f->outside, dest), 0);
	ro.force = 1;
	assert_int_not_equal(arca_restore(f->s, "t", dest, &ro, NULL), 0);
	assert_false(exists(th_path(f->outside, "payload")));
}

static void flipped_pack_byte_is_found_and_named(void **state)
{
	fixture *f = *state;
	const char *a = th_path(f->tmp, "a.img"), *b = th_path(f->tmp, "b.img");
	char pack[4096];
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_id ia, ib;
	uint64_t before, after;
	int fd;
	uint8_t byte;

	th_write_random(a, 3u << 20, 21);
	th_write_random(b, 3u << 20, 22);
	assert_int_equal(arca_verify(&vr, f->s), 0); /* empty store is fine */
	arca_verify_result_clear(&vr);
	ia = th_snapshot(f->s, a, "a", NULL, NULL);
	before = th_pack_size(th_path(f->tmp, "store"), pack, sizeof(pack));
	ib = th_snapshot(f->s, b, "b", NULL, NULL);
	after = th_pack_size(th_path(f->tmp, "store"), pack, sizeof(pack));
	assert_true(after > before + (1u << 20));
	assert_int_equal(arca_verify(&vr, f->s), 0);
	assert_int_equal(vr.ndamaged, 0);
	arca_verify_result_clear(&vr);

	/* flip one byte inside b's data */
	fd = open(pack, O_RDWR);
	assert_true(fd >= 0);
	off_t at = (off_t)(before + (after - before) / 2);
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= 0x01;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);

	assert_int_equal(arca_verify(&vr, f->s), ARCA_ECORRUPT);
	assert_int_equal(vr.chunks_damaged, 1);
	assert_int_equal(vr.ndamaged, 1);
	assert_memory_equal(vr.damaged[0].bytes, ib.bytes, 32);
	arca_verify_result_clear(&vr);

	assert_int_equal(arca_restore(f->s, "b", th_path(f->tmp, "b.out"), NULL, NULL), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "pack 00000001"));
	assert_int_equal(arca_restore(f->s, "a", th_path(f->tmp, "a.out"), NULL, NULL), 0);
	assert_int_equal(th_file_equal(a, th_path(f->tmp, "a.out")), 0);
	(void)ia;
}

static void damage_inside_a_compressed_group_is_found(void **state)
{
	fixture *f = *state;
	const char *src = th_path(f->tmp, "text");
	char pack[4096];
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	uint64_t size;
	int fd;
	uint8_t byte;
	FILE *fp;

	/* compressible content: new chunks are stored together as groups */
	fp = fopen(src, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200000; i++)
		fprintf(fp, "line %d of some compressible text %d\n", i, i * 7);
	fclose(fp);
	th_snapshot(f->s, src, "text", NULL, NULL);
	size = th_pack_size(th_path(f->tmp, "store"), pack, sizeof(pack));
	assert_int_equal(arca_verify(&vr, f->s), 0);
	arca_verify_result_clear(&vr);

	fd = open(pack, O_RDWR);
	assert_int_equal(pread(fd, &byte, 1, (off_t)(size / 3)), 1);
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)(size / 3)), 1);
	close(fd);

	assert_int_equal(arca_verify(&vr, f->s), ARCA_ECORRUPT);
	assert_true(vr.chunks_damaged >= 1);
	assert_int_equal(vr.ndamaged, 1);
	arca_verify_result_clear(&vr);
	assert_int_equal(arca_restore(f->s, "text", th_path(f->tmp, "text.out"), NULL, NULL),
		ARCA_ECORRUPT);
}

/* Empties the store's "macs" database (mode 0), or flips a byte of every
 * MAC in it (mode 1); the store must be closed. */
static void spoil_macs(const char *storedir, int mode)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 1ull << 30), 0);
	assert_int_equal(mdb_env_open(env, th_path(storedir, "index.lmdb"), MDB_NOSUBDIR, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "macs", 0, &dbi), 0);
	if (mode == 0) {
		assert_int_equal(mdb_drop(txn, dbi, 0), 0);
	} else {
		int n = 0;
		assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
		while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
			uint8_t tag[16];
			memcpy(tag, v.mv_data, 16);
			tag[3] ^= 0x10;
			v.mv_data = tag;
			assert_int_equal(mdb_cursor_put(c, &k, &v, MDB_CURRENT), 0);
			n++;
		}
		mdb_cursor_close(c);
		assert_true(n > 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Restores check the store's own chunks by their MACs; a chunk without
 * one, or with a MAC row the index got wrong, is checked by its hash. */
static void restore_checks_chunks_by_mac_and_falls_back_to_the_hash(void **state)
{
	fixture *f = *state;
	const char *a = th_path(f->tmp, "a"), *storedir = th_path(f->tmp, "store");
	char pack[4096], sd[4096];
	uint64_t size;
	uint8_t byte;
	int fd;

	snprintf(sd, sizeof(sd), "%s", storedir);
	th_write_random(a, 3u << 20, 31);
	th_snapshot(f->s, a, "a", NULL, NULL);
	arca_store_free(f->s);

	/* wrong MACs, right data: the hash settles it, the restore succeeds */
	spoil_macs(sd, 1);
	f->s = th_store_open(sd);
	assert_int_equal(arca_restore(f->s, "a", th_path(f->tmp, "a.1"), NULL, NULL), 0);
	assert_int_equal(th_file_equal(a, th_path(f->tmp, "a.1")), 0);
	arca_store_free(f->s);

	/* no MACs and a flipped byte in the (incompressible, raw) data */
	spoil_macs(sd, 0);
	size = th_pack_size(sd, pack, sizeof(pack));
	fd = open(pack, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, (off_t)(size / 2)), 1);
	byte ^= 0x01;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)(size / 2)), 1);
	close(fd);
	f->s = th_store_open(sd);
	assert_int_equal(arca_restore(f->s, "a", th_path(f->tmp, "a.2"), NULL, NULL), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "does not match its id"));
}

static void truncated_pack_is_reported(void **state)
{
	fixture *f = *state;
	const char *a = th_path(f->tmp, "a.img");
	char pack[4096];
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	uint64_t size;

	th_write_random(a, 2u << 20, 23);
	th_snapshot(f->s, a, "a", NULL, NULL);
	size = th_pack_size(th_path(f->tmp, "store"), pack, sizeof(pack));
	assert_int_equal(truncate(pack, (off_t)(size / 2)), 0);
	assert_int_equal(arca_verify(&vr, f->s), ARCA_ECORRUPT);
	assert_true(vr.chunks_damaged > 0);
	assert_int_equal(vr.ndamaged, 1);
	arca_verify_result_clear(&vr);
	assert_int_equal(arca_restore(f->s, "a", th_path(f->tmp, "a.out"), NULL, NULL), ARCA_ECORRUPT);
	assert_non_null(strstr(arca_error_last(), "truncated"));
}

/* Runs a restore of `ref` to `dest` as user nobody; the child's exit
 * status: 0 when it succeeded with `dropped` setid bits counted. */
static int restore_as_nobody(const char *store, const char *ref, const char *dest,
		uint64_t dropped)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arca_store *s;
		arca_op_stats st = ARCA_OP_STATS_INIT;
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		if (arca_store_open(&s, store, NULL) != 0)
			_exit(11);
		if (arca_restore(s, ref, dest, NULL, &st) != 0) {
			fprintf(stderr, "restore as nobody: %s\n", arca_error_last());
			_exit(12);
		}
		_exit(st.setid_dropped == dropped ? 0 : 13);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void user_restore_drops_setuid_and_setgid_it_cannot_own(void **state)
{
	fixture *f = *state;
	const char *src = th_path(f->tmp, "src"), *dest = th_path(f->tmp, "dest");
	char cmd[8192];
	struct stat st;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root to become another user\n");
		skip();
	}
	mkdir(src, 0755);
	th_write_file(th_path(src, "suid"), "#!/bin/sh\n", 10);
	th_write_file(th_path(src, "sgid"), "#!/bin/sh\n", 10);
	th_write_file(th_path(src, "plain"), "#!/bin/sh\n", 10);
	assert_int_equal(chown(th_path(src, "suid"), 0, 0), 0);
	assert_int_equal(chmod(th_path(src, "suid"), 04755), 0);
	assert_int_equal(chown(th_path(src, "sgid"), 0, 0), 0);
	assert_int_equal(chmod(th_path(src, "sgid"), 02755), 0);
	th_snapshot(f->s, src, "t", NULL, NULL);
	/* nobody may read the store and write where it restores */
	chmod(f->tmp, 0777);
	snprintf(cmd, sizeof(cmd), "chmod -R a+rwX '%s/store'", f->tmp);
	assert_int_equal(system(cmd), 0);

	assert_int_equal(restore_as_nobody(th_path(f->tmp, "store"), "t", dest, 2), 0);
	assert_int_equal(stat(th_path(dest, "suid"), &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(stat(th_path(dest, "sgid"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(stat(th_path(dest, "plain"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

static void restore_force_onto_a_hardlinked_image_keeps_the_other_name(void **state)
{
	fixture *f = *state;
	const char *img = th_path(f->tmp, "img"), *dest = th_path(f->tmp, "dest.img");
	const char *other = th_path(f->outside, "other");
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	struct stat st;

	th_write_random(img, 1u << 20, 80);
	th_snapshot(f->s, img, "disk", NULL, NULL);
	th_write_file(dest, "old content", 11);
	assert_int_equal(link(dest, other), 0);
	ro.force = 1;
	assert_int_equal(arca_restore(f->s, "disk", dest, &ro, NULL), 0);
	assert_int_equal(th_file_equal(img, dest), 0);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(st.st_size, 11);
	assert_int_equal(st.st_nlink, 1);
}

static void restore_into_a_directory_holding_the_store_leaves_it_alone(void **state)
{
	fixture *f = *state;
	const char *src = th_path(f->tmp, "src"), *dest = th_path(f->tmp, "dest");
	char inner[4200];
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	arca_verify_result v = ARCA_VERIFY_RESULT_INIT;
	arca_store *s;

	snprintf(inner, sizeof(inner), "%s/.arca", dest);
	mkdir(src, 0755);
	mkdir(th_path(src, ".arca"), 0755);
	th_write_file(th_path(src, ".arca/lock"), "x", 1);
	th_write_file(th_path(src, "a"), "a", 1);
	mkdir(dest, 0755);
	s = th_store_open(inner);
	th_snapshot(s, src, "t", NULL, NULL);
	ro.force = 1; /* DEST holds nothing but the store */
	assert_int_equal(arca_restore(s, "t", dest, &ro, NULL), 0);
	assert_int_equal(th_file_equal(th_path(src, "a"), th_path(dest, "a")), 0);
	assert_int_equal(access(th_path(inner, "lock"), F_OK), -1);
	/* nor restored inside the store */
	assert_int_equal(arca_restore(s, "t", th_path(inner, "x"), NULL, NULL), ARCA_EUNSAFE);
	assert_int_equal(exists(th_path(inner, "x")), 0);
	th_write_random(th_path(f->tmp, "img"), 100000, 81);
	th_snapshot(s, th_path(f->tmp, "img"), "img", NULL, NULL);
	assert_int_equal(arca_restore(s, "img", th_path(inner, "x.img"), NULL, NULL), ARCA_EUNSAFE);
	assert_int_equal(arca_rollback(s, "img", th_path(inner, "x.img"), NULL, NULL), ARCA_EUNSAFE);
	assert_int_equal(exists(th_path(inner, "x.img")), 0);
	assert_int_equal(arca_verify(&v, s), 0);
	arca_verify_result_clear(&v);
	arca_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(dot_dot_path_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(absolute_path_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(writing_through_a_symlinked_parent_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(hardlink_through_a_symlink_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(symlinked_destination_is_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(flipped_pack_byte_is_found_and_named, setup, teardown),
		cmocka_unit_test_setup_teardown(damage_inside_a_compressed_group_is_found, setup, teardown),
		cmocka_unit_test_setup_teardown(restore_checks_chunks_by_mac_and_falls_back_to_the_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated_pack_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(user_restore_drops_setuid_and_setgid_it_cannot_own, setup, teardown),
		cmocka_unit_test_setup_teardown(restore_force_onto_a_hardlinked_image_keeps_the_other_name, setup, teardown),
		cmocka_unit_test_setup_teardown(restore_into_a_directory_holding_the_store_leaves_it_alone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
