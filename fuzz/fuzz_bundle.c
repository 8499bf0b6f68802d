/*
 * fuzz_bundle: arca_import of hostile bytes into a fresh store.
 *
 * The input is a bundle (a tar stream). Properties:
 *  - arca_import never crashes, and either succeeds or fails cleanly;
 *  - when it fails, the store is exactly as it was: no artifact, no ref,
 *    no chunk, no pack bytes;
 *  - either way, verify of the store finds nothing damaged, and every
 *    artifact an import added restores.
 * Seeds are real bundles (fuzz/corpus/fuzz_bundle/, from make_seeds.c),
 * so mutations land in the tar headers, the bundle header, pack records,
 * indexes, artifact objects and ref entries.
 */
#include "arca/arca.h"
#include "arca/remote.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_bundle.c:%d: property violated: %s (%s)\n", line, what,
		arca_error_last());
	abort();
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int count_ref(const char *name, const char *tag, const arca_id *id, void *p)
{
	(void)name;
	(void)tag;
	(void)id;
	(*(int *)p)++;
	return 0;
}

typedef struct {
	arca_store *s;
	const char *dir;
	int n;
} restore_ctx;

static int restore_one(const arca_artifact *a, void *p)
{
	restore_ctx *rc = p;
	char ref[ARCA_ID_STRLEN], dest[4200];
	arca_id_format(ref, &a->id);
	snprintf(dest, sizeof(dest), "%s/out%d", rc->dir, rc->n++);
	CHECK(arca_restore(rc->s, ref, dest, NULL, NULL) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200], store[4200];
	arca_store *s = NULL;
	arca_store_stats st = ARCA_STORE_STATS_INIT;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	int fd, rc, refs = 0;

	if (size > (4u << 20))
		return 0;
	snprintf(dir, sizeof(dir), "%s/arca-fuzz-bundle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/in.tar", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	CHECK(arca_store_open(&s, store, NULL) == 0);

	rc = arca_import(NULL, s, fd, NULL);
	close(fd);
	CHECK(arca_store_stats_get(&st, s) == 0);
	CHECK(arca_ref_foreach(s, count_ref, &refs) == 0);
	if (rc != 0) {
		CHECK(rc == ARCA_ECORRUPT || rc == ARCA_ENOTFOUND || rc == ARCA_EUNSUPPORTED ||
			rc == ARCA_ENOMEM);
		CHECK(st.artifacts == 0 && st.chunks == 0 && refs == 0);
		CHECK(st.stored_bytes == 0);
	}
	CHECK(arca_verify(&vr, s) == 0);
	arca_verify_result_clear(&vr);
	if (rc == 0) {
		restore_ctx r = { s, dir, 0 };
		CHECK(arca_artifact_foreach(s, restore_one, &r) == 0);
	}
	arca_store_free(s);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
