/*
 * fuzz_ref: names, tags and references (user input that becomes LMDB
 * keys and, through restore paths and hub names, file system paths).
 *
 * The input, up to its first NUL, is one string:
 * - arca_store__check_word, with and without '/', must agree with an
 *   independent statement of the rule: 1..max bytes of [A-Za-z0-9._-]
 *   (and '/'), not starting with '.', '-' or '/', not ending with '/',
 *   and containing none of "//", "/.", "/-";
 * - arca_store__split_ref succeeds exactly when the input is NAME:TAG
 *   split at its last ':' with both parts valid, and then they join back
 *   to the input;
 * - arca_resolve on a small store (refs web:latest, web:prod,
 *   team/app:prod; two artifact ids sharing 31 bytes) returns 0 with one
 *   of its ids, or ARCA_ENOTFOUND / ARCA_EINVAL / ARCA_EAMBIGUOUS with an
 *   error message; a valid NAME or NAME:TAG is never ARCA_EINVAL.
 */
#include "arca/arca.h"
#include "store/store.h"
#include "store/journal.h"
#include "store/names.h"
#include "store/refs.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_ref.c:%d: property violated: %s\n", line, what);
	abort();
}

static arca_store *store;
static char dir[4096];
static arca_id ids[4];

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

static void put_artifact(MDB_txn *txn, const arca_id *id)
{
	static const char junk[] = "not decoded by resolve";
	MDB_val k = { 32, (void *)id->bytes }, v = { sizeof(junk), (void *)junk };
	if (mdb_put(txn, store->dbi_artifacts, &k, &v, 0) != 0)
		abort();
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	arca_cas_writer *w;
	MDB_txn *txn;

	snprintf(dir, sizeof(dir), "%s/arca-fuzz-ref-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || arca_store_open(&store, dir, NULL) != 0) {
		fprintf(stderr, "fuzz_ref: cannot make a store in %s: %s\n", dir,
			arca_error_last());
		abort();
	}
	atexit(done);
	for (int i = 0; i < 4; i++)
		memset(ids[i].bytes, 0x11 * (i + 1), 32);
	ids[3] = ids[2];
	ids[3].bytes[31] ^= 0xff; /* ids[2] and ids[3] share 31 bytes */
	if (arca_store__writer_begin(&w, store) != 0)
		abort();
	txn = arca_cas_writer_txn(w);
	for (int i = 0; i < 4; i++)
		put_artifact(txn, &ids[i]);
	if (arca_store__ref_set(store, txn, "web", "latest", &ids[0]) ||
	    arca_store__ref_set(store, txn, "web", "prod", &ids[1]) ||
	    arca_store__ref_set(store, txn, "team/app", "prod", &ids[2]) ||
	    arca_cas_writer_commit(w) != 0)
		abort();
}

static int word_char(char c, int slash)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '.' || c == '_' || c == '-' || (slash && c == '/');
}

/* The rule, stated differently from store/refs.c. */
static int valid_word(const char *v, size_t n, size_t max, int slash)
{
	if (n == 0 || n > max || v[0] == '.' || v[0] == '-' || v[0] == '/' || v[n - 1] == '/')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!word_char(v[i], slash))
			return 0;
	return !memmem(v, n, "//", 2) && !memmem(v, n, "/.", 2) && !memmem(v, n, "/-", 2);
}

static void check_split(const char *in, size_t n)
{
	char name[ARCA_NAME_MAX + 1], tag[ARCA_TAG_MAX + 1], joined[ARCA_NAME_MAX + ARCA_TAG_MAX + 2];
	const char *colon = strrchr(in, ':');
	int want = colon && valid_word(in, (size_t)(colon - in), ARCA_NAME_MAX, 1) &&
		valid_word(colon + 1, n - (size_t)(colon - in) - 1, ARCA_TAG_MAX, 0);
	int rc = arca_store__split_ref(in, name, tag);

	CHECK(rc == 0 || rc == ARCA_EINVAL);
	CHECK((rc == 0) == want);
	if (rc)
		return;
	snprintf(joined, sizeof(joined), "%s:%s", name, tag);
	CHECK(strcmp(joined, in) == 0);
}

static void check_resolve(const char *in, size_t n)
{
	arca_id out;
	char name[ARCA_NAME_MAX + 1], tag[ARCA_TAG_MAX + 1];
	int syntax_ok = strchr(in, ':') ? arca_store__split_ref(in, name, tag) == 0 :
		valid_word(in, n, ARCA_NAME_MAX, 1);
	int rc = arca_resolve(&out, store, in);

	CHECK(rc == 0 || rc == ARCA_ENOTFOUND || rc == ARCA_EINVAL || rc == ARCA_EAMBIGUOUS);
	if (rc) {
		CHECK(arca_error_last()[0] != '\0');
		if (syntax_ok && strncmp(in, "art_", 4) != 0)
			CHECK(rc != ARCA_EINVAL);
		return;
	}
	int known = 0;
	for (int i = 0; i < 4; i++)
		known |= !memcmp(out.bytes, ids[i].bytes, 32);
	CHECK(known);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[1024];
	size_t n;

	if (!store)
		setup();
	n = size < sizeof(in) - 1 ? size : sizeof(in) - 1;
	memcpy(in, data, n);
	in[n] = '\0';
	n = strlen(in);

	for (int slash = 0; slash < 2; slash++) {
		int rc = arca_store__check_word("name", in, ARCA_NAME_MAX, slash);
		CHECK(rc == 0 || rc == ARCA_EINVAL);
		CHECK((rc == 0) == valid_word(in, n, ARCA_NAME_MAX, slash));
	}
	check_split(in, n);
	check_resolve(in, n);
	return 0;
}
