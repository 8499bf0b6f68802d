/*
 * fuzz_layout: the remote layout's decoders (sync/layout.h) on hostile
 * bytes. The first input byte picks the decoder, the rest is the object:
 * 0 pack index, 1 artifact object, 2 ref entry, 3 ref hint, 4 bundle
 * header, 5 ref key (up to a NUL). Each either fails with ARCA_ECORRUPT /
 * ARCA_EUNSUPPORTED (ARCA_EINVAL for a key) and a message, or succeeds;
 * then encoding what it decoded must give the input back byte for byte
 * (there is one spelling of each object). The pack index and artifact
 * object checks also run on a copy whose trailer (SHA-256 of the rest) is
 * recomputed, so the fuzzer gets past it.
 */
#include "arca/arca.h"
#include "cas/hash.h"
#include "sync/layout.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_layout.c:%d: property violated: %s\n", line, what);
	abort();
}

static void refused(int rc)
{
	CHECK(rc == ARCA_ECORRUPT || rc == ARCA_EUNSUPPORTED || rc == ARCA_ENOMEM);
	CHECK(arca_error_last()[0] != '\0');
}

static void same(const arca_buf *b, const uint8_t *p, size_t n)
{
	CHECK(b->len == n);
	CHECK(n == 0 || memcmp(b->ptr, p, n) == 0);
}

static void pidx(const uint8_t *p, size_t n)
{
	arca_pidx x;
	arca_buf b = ARCA_BUF_INIT(SIZE_MAX);
	int rc = arca_pidx_decode(&x, p, n);
	if (rc) {
		refused(rc);
		return;
	}
	for (uint32_t i = 0; i < x.n; i++) {
		CHECK(x.e[i].offset + x.e[i].length <= x.pack_size);
		CHECK(arca_pidx_find(&x, x.e[i].id) == &x.e[i]);
	}
	CHECK(arca_pidx_encode(&b, x.pack_sha, x.pack_size, x.e, x.n) == 0);
	same(&b, p, n);
	arca_buf_release(&b);
	arca_pidx_clear(&x);
}

static void arto(const uint8_t *p, size_t n)
{
	arca_arto a;
	arca_buf b = ARCA_BUF_INIT(SIZE_MAX);
	uint8_t (*packs)[32] = NULL;
	int rc = arca_arto_decode(&a, p, n);
	if (rc) {
		refused(rc);
		return;
	}
	CHECK(a.record >= p && a.record + a.record_len <= p + n);
	if (a.npacks) {
		packs = malloc((size_t)a.npacks * 32);
		CHECK(packs != NULL);
		memcpy(packs, a.packs, (size_t)a.npacks * 32);
	}
	CHECK(arca_arto_encode(&b, a.record, a.record_len, packs, a.npacks) == 0);
	same(&b, p, n);
	free(packs);
	arca_buf_release(&b);
}

static void ref_entry(const uint8_t *p, size_t n)
{
	arca_ref_entry e;
	arca_buf b = ARCA_BUF_INIT(4096);
	int rc = arca_ref_entry_decode(&e, p, n);
	if (rc) {
		refused(rc);
		return;
	}
	CHECK(e.seq > 0);
	CHECK(arca_ref_entry_encode(&b, &e) == 0);
	same(&b, p, n);
	arca_buf_release(&b);
}

static void ref_hint(const uint8_t *p, size_t n)
{
	uint64_t seq;
	arca_buf b = ARCA_BUF_INIT(4096);
	int rc = arca_ref_hint_decode(&seq, p, n);
	if (rc) {
		refused(rc);
		return;
	}
	CHECK(seq > 0);
	CHECK(arca_ref_hint_encode(&b, seq) == 0);
	same(&b, p, n);
	arca_buf_release(&b);
}

static void bundle_header(const uint8_t *p, size_t n)
{
	arca_bundle_header h;
	arca_buf b = ARCA_BUF_INIT(SIZE_MAX);
	int rc = arca_bundle_header_decode(&h, p, n);
	if (rc) {
		refused(rc);
		return;
	}
	CHECK(h.nrefs >= 1 && h.nrefs <= ARCA_BUNDLE_MAX_REFS);
	CHECK(arca_bundle_header_encode(&b, &h) == 0);
	same(&b, p, n);
	arca_buf_release(&b);
	arca_bundle_header_clear(&h);
}

static void ref_key(const uint8_t *p, size_t n)
{
	char key[2048], name[ARCA_NAME_MAX + 1], tag[ARCA_TAG_MAX + 1];
	arca_buf b = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX);
	uint64_t seq;
	int rc;

	n = n < sizeof(key) - 1 ? n : sizeof(key) - 1;
	memcpy(key, p, n);
	key[n] = '\0';
	rc = arca_layout_parse_ref_key(key, name, sizeof(name), tag, sizeof(tag), &seq);
	if (rc) {
		CHECK(rc == ARCA_EINVAL);
		return;
	}
	/* no part is empty or starts with '.' (so none is "." or "..") */
	CHECK(key[0] != '/' && strstr(key, "//") == NULL && strstr(key, "/.") == NULL);
	CHECK(arca_layout_ref_key(&b, name, tag, seq) == 0);
	CHECK(strcmp(arca_buf_cstr(&b), key) == 0);
	arca_buf_release(&b);
}

/* `fn` on the bytes, then on a copy with the trailer made to match. */
static void sealed(void (*fn)(const uint8_t *, size_t), const uint8_t *p, size_t n)
{
	uint8_t *c;
	fn(p, n);
	if (n < 32 || !(c = malloc(n)))
		return;
	memcpy(c, p, n);
	if (arca_sha256_digest(c + n - 32, c, n - 32) == 0)
		fn(c, n);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 6) {
	case 0: sealed(pidx, data + 1, size - 1); break;
	case 1: sealed(arto, data + 1, size - 1); break;
	case 2: ref_entry(data + 1, size - 1); break;
	case 3: ref_hint(data + 1, size - 1); break;
	case 4: bundle_header(data + 1, size - 1); break;
	default: ref_key(data + 1, size - 1); break;
	}
	return 0;
}
