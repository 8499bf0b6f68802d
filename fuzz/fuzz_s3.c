/*
 * fuzz_s3: what an S3 or HTTP server sends back, as the transports parse
 * it (a hostile server is in scope: a remote may be anyone's bucket).
 *
 * The input's first byte picks the parser, the rest is its input:
 * - even: response header lines (split at '\n') into one response. A
 *   range it accepts is ordered (first <= last, last < total unless the
 *   total is '*') and the reason phrase stays printable and terminated;
 * - odd: a ListObjectsV2 page under the prefix "p/". Every key handed to
 *   the callback is NUL-terminated and no longer than the page, and the
 *   continuation token is terminated and empty or not.
 */
#include "sync/http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_s3.c:%d: property violated: %s\n", line, what);
	abort();
}

static size_t page_len;

static int on_key(const char *key, uint64_t size, void *ctx)
{
	size_t *n = ctx;
	(void)size;
	CHECK(strlen(key) <= page_len);
	(*n)++;
	return 0;
}

static void headers(const uint8_t *p, size_t n)
{
	arca_http_response r;
	arca_http_response_init(&r);
	while (n) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) + 1 : n;
		arca_http__parse_header(&r, (const char *)p, k);
		p += k;
		n -= k;
	}
	CHECK(memchr(r.reason, '\0', sizeof(r.reason)) != NULL);
	for (const char *c = r.reason; *c; c++)
		CHECK(*c >= 0x20 && *c < 0x7f);
	if (r.has_range && r.range_first != UINT64_MAX) {
		CHECK(r.range_first <= r.range_last);
		CHECK(r.range_total == UINT64_MAX || r.range_last < r.range_total);
	}
	arca_http_response_release(&r);
}

static void list(const uint8_t *p, size_t n)
{
	arca_buf token = ARCA_BUF_INIT(1u << 16);
	size_t keys = 0;
	int rc;
	page_len = n;
	rc = arca_s3__list_page("p/", (const char *)p, n, "fuzz", on_key, &keys, &token);
	if (rc == 0 && token.len)
		CHECK(strlen(arca_buf_cstr(&token)) == token.len);
	arca_buf_release(&token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	if (data[0] % 2 == 0)
		headers(data + 1, size - 1);
	else
		list(data + 1, size - 1);
	return 0;
}
