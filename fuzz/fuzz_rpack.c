/*
 * fuzz_rpack: a remote pack object taken in by arca_rpack_reader (pull and
 * import feed it bytes from the network or a bundle). data[0] says how the
 * rest is fed: bit 0 clear, as a whole pack named by its own SHA-256 (so
 * the content, not the name check, is what the fuzzer explores); set, as
 * a run of records from offset 16; bits 1-7 pick the piece size. Into a
 * store made once in $TMPDIR (removed at exit), in a writer that is always
 * aborted. Properties: the reader returns 0 or ARCA_ECORRUPT /
 * ARCA_EUNSUPPORTED / ARCA_ENOMEM with a message; every chunk it passes
 * to the tap hashes to its id; it never stages more chunks than it tapped
 * (so nothing unchecked enters the store).
 */
#include "arca/arca.h"
#include "cas/cas.h"
#include "cas/hash.h"
#include "store/journal.h"
#include "store/store.h"
#include "sync/rpack.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_rpack.c:%d: property violated: %s\n", line, what);
	abort();
}

static arca_store *store;
static char dir[4096];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void done(void)
{
	arca_store_free(store);
	store = NULL;
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/arca-fuzz-rpack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || arca_store_open(&store, dir, NULL) != 0) {
		fprintf(stderr, "fuzz_rpack: cannot make a store in %s: %s\n", dir,
			arca_error_last());
		abort();
	}
	atexit(done);
}

static int taps;

static int tap(const uint8_t id[32], const uint8_t *raw, uint32_t len, void *ctx)
{
	uint8_t d[32];
	(void)ctx;
	CHECK(arca_sha256_digest(d, raw, len) == 0);
	CHECK(memcmp(d, id, 32) == 0);
	taps++;
	return 0;
}

static int want_all(const uint8_t id[32], void *ctx)
{
	(void)id;
	(void)ctx;
	return 2;
}

/* The same records checked apart from staging (pull's path) must agree
 * with the stream: both fail, or both stage the same chunks. */
static void check_apart(const uint8_t *span, size_t n, int rc_stream, uint64_t staged_stream)
{
	arca_rpack_checker *c;
	arca_rpack_batch b = ARCA_RPACK_BATCH_INIT;
	arca_cas_writer *w;
	uint64_t staged = 0;
	int rc;

	CHECK(arca_rpack_checker_new(&c) == 0);
	if (arca_store__writer_begin(&w, store) != 0)
		abort();
	rc = arca_rpack_check(c, span, n, arca_cas_writer_mac_key(w), NULL, NULL, &b);
	CHECK(rc == 0 || rc == ARCA_ECORRUPT || rc == ARCA_EUNSUPPORTED || rc == ARCA_ENOMEM);
	if (rc_stream != ARCA_ENOMEM && rc != ARCA_ENOMEM)
		CHECK((rc == 0) == (rc_stream == 0));
	if (rc == 0) {
		CHECK(arca_rpack_stage(c, w, span, &b, &staged) == 0);
		CHECK(rc_stream != 0 || staged == staged_stream);
	}
	arca_cas_writer_abort(w);
	arca_rpack_batch_release(&b);
	arca_rpack_checker_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arca_cas_writer *w;
	arca_rpack_reader *r;
	uint8_t sha[32];
	uint64_t staged = 0;
	size_t step, at;
	int partial, rc;

	if (!store)
		setup();
	if (size < 1)
		return 0;
	partial = data[0] & 1;
	step = (size_t)(data[0] >> 1) * 37 + 1;
	data++;
	size--;
	if (arca_sha256_digest(sha, data, size) != 0 || arca_store__writer_begin(&w, store) != 0)
		abort();
	if (partial && size < 16) {
		arca_cas_writer_abort(w);
		return 0;
	}
	CHECK(arca_rpack_reader_new(&r, w, sha, partial ? 16 : 0, want_all, NULL) == 0);
	arca_rpack_reader_tap(r, tap);
	taps = 0;
	rc = 0;
	for (at = partial ? 16 : 0; at < size && !rc; at += step)
		rc = arca_rpack_reader_feed(r, data + at, size - at < step ? size - at : step);
	if (!rc)
		rc = arca_rpack_reader_finish(r, &staged);
	CHECK(rc == 0 || rc == ARCA_ECORRUPT || rc == ARCA_EUNSUPPORTED || rc == ARCA_ENOMEM);
	if (rc)
		CHECK(arca_error_last()[0] != '\0');
	else
		CHECK(staged <= (uint64_t)taps);
	arca_rpack_reader_free(r);
	arca_cas_writer_abort(w);
	if (partial)
		check_apart(data + 16, size - 16, rc, staged);
	return 0;
}
