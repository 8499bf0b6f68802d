/*
 * fuzz_pack: arca repair on a hostile pack file.
 *
 * The input is the body of pack 1 (after a valid pack header) of a store
 * whose index is missing. Properties:
 *  - arca_repair never crashes and either succeeds or fails cleanly;
 *  - when it succeeds, the store opens and verify runs; when repair said
 *    no artifact loses data, verify finds nothing damaged;
 *  - arca_meta_decode on the input: a decoded header re-encodes to the
 *    same 64 bytes.
 * Seeds are real packs (fuzz/corpus/fuzz_pack/), so mutations land inside
 * chunk, group and meta records and exercise the checks and the resync.
 */
#include "arca/arca.h"
#include "cas/pack.h"

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
	fprintf(stderr, "fuzz_pack.c:%d: property violated: %s\n", line, what);
	abort();
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void check_meta(const uint8_t *p, size_t n)
{
	arca_meta_hdr m;
	uint8_t again[ARCA_RECORD_HEADER_LEN];
	if (arca_meta_decode(&m, p, n) != 0)
		return;
	arca_meta_encode(again, &m);
	CHECK(memcmp(again, p, ARCA_RECORD_HEADER_LEN) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200];
	uint8_t hdr[ARCA_PACK_HEADER_LEN];
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	int fd, rc;

	check_meta(data, size);
	if (size > (1u << 20))
		return 0;
	snprintf(dir, sizeof(dir), "%s/arca-fuzz-pack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/packs", dir);
	if (mkdir(path, 0700) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/packs/pack-00000001.arcp", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	arca_pack_header_encode(hdr, 1);
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);

	rc = arca_repair(&rr, dir);
	if (rc == 0) {
		arca_store *s = NULL;
		arca_store_options o = ARCA_STORE_OPTIONS_INIT;
		arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
		int lost = rr.ndamaged != 0;
		o.no_create = 1;
		CHECK(arca_store_open(&s, dir, &o) == 0);
		rc = arca_verify(&vr, s);
		CHECK(rc == 0 || rc == ARCA_ECORRUPT);
		if (!lost)
			CHECK(rc == 0);
		arca_verify_result_clear(&vr);
		arca_store_free(s);
		arca_repair_result_clear(&rr);
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
