/* Shared test helpers: temporary directories, data, tree comparison. */
#ifndef ARCA_TEST_HELPERS_H
#define ARCA_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include "arca/arca.h"

/* A fresh directory under $TMPDIR (or /tmp); free with th_cleanup(). */
char *th_tmpdir(void);
/* rm -rf and free */
void th_cleanup(char *dir);
/* path = a + "/" + b, in a static buffer that is reused after 256 calls */
const char *th_path(const char *a, const char *b);

/* Deterministic pseudo-random bytes. */
void th_fill_random(uint8_t *p, size_t n, uint64_t seed);
void th_write_file(const char *path, const void *p, size_t n);
void th_write_random(const char *path, size_t n, uint64_t seed);
/* Writes `n` random bytes at `off` into an existing file. */
void th_pwrite_random(const char *path, uint64_t off, size_t n, uint64_t seed);

/* Compares two trees: types, modes, mtimes (ns), owners, sizes, contents,
 * symlink targets and hardlink structure. Returns 0 if identical, else
 * fills `why`. */
int th_tree_equal(const char *a, const char *b, char *why, size_t n);
/* 0 if the files have identical bytes. */
int th_file_equal(const char *a, const char *b);

arca_store *th_store_open(const char *dir);

/* The common cmocka fixture: a fresh directory `tmp` holding an empty
 * `src/` and a store open at `store/`. */
typedef struct {
	char *tmp;
	char src[1024];
	char storedir[1024];
	arca_store *s;
} th_fixture;
int th_setup(void **state);
int th_teardown(void **state);
/* Restore and rollback tests: `src/` and `outside/` made (`work` only
 * named), a store at `store/`, and `mounted` unmounted in teardown even
 * after a failure. */
typedef struct {
	char *tmp;
	char src[4096], work[4096], outside[4096];
	char mounted[4096];
	arca_store *s;
} th_dest_fixture;
int th_dest_setup(void **state);
int th_dest_teardown(void **state);
/* arca_rollback asserting success. */
void th_rollback_ok(th_dest_fixture *f, const char *ref, const char *dest, arca_op_stats *st);

/* Size of the file at `p`, -1 when it cannot be stat'ed. */
off_t th_file_size(const char *p);
/* What opening the existing store at `dir` returns (the handle is closed). */
int th_open_rc(const char *dir);
/* arca_ref_cb counting refs into *(int *)payload. */
int th_count_refs(const char *name, const char *tag, const arca_id *id, void *payload);
/* Restores `ref` into a new directory under `tmp` and asserts that it
 * equals the tree `want`. */
void th_restore_equals(arca_store *s, const char *tmp, const char *ref, const char *want);

/* Snapshot helper asserting success. */
arca_id th_snapshot(arca_store *s, const char *path, const char *name, const char *tag,
		arca_op_stats *st);
/* File size of the only/last pack in store `dir`. */
uint64_t th_pack_size(const char *dir, char *path_out, size_t n);

#endif
