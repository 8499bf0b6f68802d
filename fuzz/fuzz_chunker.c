/*
 * fuzz_chunker: "boundaries do not depend on how the stream is split
 * across calls" (cas/chunker.h), with small sizes (min 64, avg 256,
 * max 1024) so that short inputs already span several chunks.
 *
 * Input: data[0] & 15 gives k (1..16); the next 2*k bytes are k piece
 * sizes (little-endian u16, modulo 4096, 0 allowed); the rest is the
 * stream. The stream is chunked once in a single call sequence (the way
 * arca_ingest drives the chunker) and once fed in pieces of those sizes,
 * cycling; both must report the same cut offsets. Every chunk must also
 * be within [min, max] and the unfinished tail no longer than max.
 */
#include "cas/chunker.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMIN 64u
#define CAVG 256u
#define CMAX 1024u

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_chunker.c:%d: property violated: %s\n", line, what);
	abort();
}

typedef struct {
	size_t *cuts;
	size_t n, cap;
} cut_list;

static void add_cut(cut_list *l, size_t off)
{
	CHECK(l->n < l->cap);
	l->cuts[l->n++] = off;
}

/* Feeds p[0..n) as one call sequence: scan until everything is consumed. */
static void feed(arca_chunker *c, const uint8_t *p, size_t n, size_t base, cut_list *l)
{
	size_t done = 0;
	int cut;

	do {
		size_t k = arca_chunker_scan(c, p + done, n - done, &cut);
		CHECK(k <= n - done);
		done += k;
		if (cut)
			add_cut(l, base + done);
		else
			CHECK(done == n); /* cut = 0: all bytes consumed */
	} while (done < n);
}

static void check_sizes(const cut_list *l, size_t total)
{
	size_t prev = 0;
	for (size_t i = 0; i < l->n; i++) {
		CHECK(l->cuts[i] > prev);
		CHECK(l->cuts[i] - prev >= CMIN);
		CHECK(l->cuts[i] - prev <= CMAX);
		prev = l->cuts[i];
	}
	CHECK(total - prev <= CMAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pieces[16], k, hdr, n, sum = 0;
	const uint8_t *p;
	cut_list whole, split;
	arca_chunker c;

	if (size < 1)
		return 0;
	k = (size_t)(data[0] & 15) + 1;
	hdr = 1 + 2 * k;
	if (size < hdr)
		return 0;
	for (size_t i = 0; i < k; i++) {
		pieces[i] = (size_t)(data[1 + 2 * i] | (data[2 + 2 * i] << 8)) % 4096;
		sum += pieces[i];
	}
	if (sum == 0)
		pieces[0] = 1;
	p = data + hdr;
	n = size - hdr;

	whole.cap = split.cap = n + 1;
	whole.n = split.n = 0;
	whole.cuts = malloc(whole.cap * sizeof(size_t));
	split.cuts = malloc(split.cap * sizeof(size_t));
	if (!whole.cuts || !split.cuts)
		abort();

	arca_chunker_init(&c, CMIN, CAVG, CMAX);
	if (n)
		feed(&c, p, n, 0, &whole);
	check_sizes(&whole, n);

	arca_chunker_init(&c, CMIN, CAVG, CMAX);
	for (size_t off = 0, i = 0; off < n; i++) {
		size_t m = pieces[i % k];
		if (m > n - off)
			m = n - off;
		feed(&c, p + off, m, off, &split);
		off += m;
	}

	if (whole.n != split.n || memcmp(whole.cuts, split.cuts, whole.n * sizeof(size_t))) {
		size_t i = 0;
		while (i < whole.n && i < split.n && whole.cuts[i] == split.cuts[i])
			i++;
		fprintf(stderr, "fuzz_chunker: %zu cuts in one call, %zu when split; "
			"first difference at cut %zu: %zu vs %zu\n", whole.n, split.n, i,
			i < whole.n ? whole.cuts[i] : (size_t)-1,
			i < split.n ? split.cuts[i] : (size_t)-1);
		fail(__LINE__, "split boundaries == whole boundaries");
	}
	free(whole.cuts);
	free(split.cuts);
	return 0;
}
