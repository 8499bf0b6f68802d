/*
 * S3-compatible backend (AWS S3, Ceph RGW, MinIO): path-style requests,
 * SigV4 on every request, ListObjectsV2.
 *
 * Payload hashing: x-amz-content-sha256 is always the real SHA-256 of the
 * body, so the server refuses a body damaged on the way (RGW: 400
 * XAmzContentSHA256Mismatch). The source callback can be read only once,
 * yet a retried put must resend its body, so the body is taken first: up
 * to 8 MiB in memory, above that spooled to an unlinked temporary file
 * (tmpfile(3), in /tmp), hashed while it is copied. That costs one local
 * write per large object and keeps retries and integrity checks for
 * every size; UNSIGNED-PAYLOAD would have saved the hash, not the copy.
 */
#include "cas/hash.h"
#include "sync/http.h"
#include "sync/sigv4.h"
#include "sync/transport.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <openssl/crypto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define S3_MEM_BODY_MAX (8u << 20)
#define S3_LIST_BODY_MAX (8u << 20)
#define S3_KEY_MAX 1024
#define S3_TOKEN_MAX 4096
#define S3_SPOOL_CHUNK (1u << 20)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
	arca_http_transport h;
	char *url;                 /* as given */
	char *base;                /* "http://127.0.0.1:9000" */
	char *host;                /* the Host header: "127.0.0.1:9000" */
	char *disp;                /* "s3://127.0.0.1:9000/bucket", for messages */
	char *bucket;
	char *prefix;              /* "" or "a/b/" */
	char *region;
	char *access_key, *secret, *token; /* wiped on free */
} s3;

/* What s3_sign needs besides the request: the raw query and path. */
typedef struct {
	s3 *t;
	const char *raw_path;
	const arca_sigv4_pair *query;
	size_t nquery;
	const char *payload_hash;
	arca_http_prepare_fn inner; /* a GET's range, added before signing */
	void *inner_ctx;
} sign_ctx;

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Adds date, payload hash, token and the Authorization header, signed over
 * every header already on the request. */
static int s3_sign(void *ctx, arca_http_request *req, unsigned attempt)
{
	sign_ctx *sc = ctx;
	s3 *t = sc->t;
	char date[ARCA_SIGV4_DATE_LEN + 1];
	arca_sigv4_pair hp[ARCA_HTTP_MAX_HEADERS];
	arca_sigv4_result res = ARCA_SIGV4_RESULT_INIT;
	arca_sigv4_credentials cred = { t->access_key, t->secret, t->token };
	arca_sigv4_request sr;
	int rc;
	if (sc->inner && (rc = sc->inner(sc->inner_ctx, req, attempt)) < 0)
		return rc;
	if ((rc = arca_sigv4_amz_date(date, time(NULL))) < 0 ||
			(rc = arca_http_headers_add(&req->headers, "x-amz-date", "%s", date)) < 0 ||
			(rc = arca_http_headers_add(&req->headers, "x-amz-content-sha256", "%s",
				sc->payload_hash)) < 0)
		return rc;
	if (t->token && (rc = arca_http_headers_add(&req->headers, "x-amz-security-token", "%s",
			t->token)) < 0)
		return rc;
	if (!t->access_key)
		return 0; /* anonymous */
	if (req->headers.n >= ARCA_HTTP_MAX_HEADERS)
		return arca_err_set(ARCA_EINVAL, "s3: too many headers");
	for (size_t i = 0; i < req->headers.n; i++) {
		hp[i].name = arca_http_headers_name(&req->headers, i);
		hp[i].value = arca_http_headers_value(&req->headers, i);
	}
	sr = (arca_sigv4_request){ req->method, sc->raw_path, 0, sc->query, sc->nquery, hp,
		req->headers.n, sc->payload_hash, date, t->region, "s3" };
	rc = arca_sigv4_sign(&res, &sr, &cred, NULL);
	if (rc == 0)
		rc = arca_http_headers_add(&req->headers, "Authorization", "%s",
			arca_buf_cstr(&res.authorization));
	arca_sigv4_result_release(&res);
	return rc;
}

static int check_key(const s3 *t, const char *key)
{
	size_t n = strlen(key);
	if (!n || n + strlen(t->prefix) > S3_KEY_MAX)
		return arca_err_set(ARCA_EINVAL, "s3: bad object key length (%zu)", n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
			return arca_err_set(ARCA_EINVAL, "s3: object key with a control character");
	return 0;
}

/* Raw and encoded paths of `key`, and its name for messages. */
typedef struct {
	arca_buf raw, enc, what;
} s3_path;

static int path_make(s3_path *p, const s3 *t, const char *key)
{
	int rc;
	p->raw = (arca_buf)ARCA_BUF_INIT(1u << 14);
	p->enc = (arca_buf)ARCA_BUF_INIT(1u << 16);
	p->what = (arca_buf)ARCA_BUF_INIT(1u << 14);
	if ((rc = check_key(t, key)) < 0 ||
			(rc = arca_buf_setf(&p->raw, "/%s/%s%s", t->bucket, t->prefix, key)) < 0 ||
			(rc = arca_sigv4_uri_encode(&p->enc, (const char *)p->raw.ptr, p->raw.len, 1)) < 0 ||
			(rc = arca_buf_put(&p->enc, "", 1)) < 0 ||
			(rc = arca_buf_setf(&p->what, "%s/%s%s", t->disp, t->prefix, key)) < 0)
		return rc;
	return 0;
}

static void path_release(s3_path *p)
{
	arca_buf_release(&p->raw);
	arca_buf_release(&p->enc);
	arca_buf_release(&p->what);
}

static void request_setup(arca_http_request *req, const char *method, s3 *t, s3_path *p,
		sign_ctx *sc, const char *payload_hash)
{
	arca_http_request_init(req, method, (const char *)p->enc.ptr);
	req->fixed[0][0] = "Host";
	req->fixed[0][1] = t->host;
	*sc = (sign_ctx){ t, (const char *)p->raw.ptr, NULL, 0, payload_hash, NULL, NULL };
	req->prepare = s3_sign;
	req->ctx = sc;
}

/* ---- get, head ---- */

static int s3_get(arca_transport *tr, const char *key, uint64_t off, uint64_t len,
		arca_transport_sink sink, void *ctx, uint64_t *size)
{
	s3 *t = (s3 *)tr;
	s3_path p;
	sign_ctx sc;
	arca_http_request req;
	arca_http_response resp;
	int rc;
	arca_http_response_init(&resp);
	if ((rc = path_make(&p, t, key)) < 0)
		goto out;
	request_setup(&req, "GET", t, &p, &sc, EMPTY_SHA256);
	rc = arca_http_get_range(t->h.client, t->base, &req, arca_buf_cstr(&p.what), off, len,
		sink, ctx, size, &resp);
	arca_http_request_release(&req);
out:
	path_release(&p);
	arca_http_response_release(&resp);
	return rc;
}

static int s3_head(arca_transport *tr, const char *key, uint64_t *size)
{
	s3 *t = (s3 *)tr;
	s3_path p;
	sign_ctx sc;
	arca_http_request req;
	arca_http_response resp;
	int rc;
	arca_http_response_init(&resp);
	if ((rc = path_make(&p, t, key)) < 0)
		goto out;
	request_setup(&req, "HEAD", t, &p, &sc, EMPTY_SHA256);
	rc = arca_http_head(t->h.client, t->base, &req, arca_buf_cstr(&p.what), size, &resp);
	arca_http_request_release(&req);
out:
	path_release(&p);
	arca_http_response_release(&resp);
	return rc;
}

/* ---- put ---- */

typedef struct {
	uint8_t *mem;
	FILE *spool;
	int fd;                   /* the caller's (put_fd), or -1 */
	char hash[ARCA_SIGV4_SIG_LEN + 1];
	uint8_t digest[ARCA_HASH_LEN];
} put_body;

static int source_fill(arca_transport_source src, void *ctx, uint8_t *p, size_t want)
{
	size_t got = 0, n;
	int rc;
	while (got < want) {
		n = 0;
		if ((rc = src(ctx, p + got, want - got, &n)) != 0)
			return rc;
		if (!n)
			return arca_err_set(ARCA_EINVAL, "source ended %zu bytes early", want - got);
		if (n > want - got)
			return arca_err_set(ARCA_EINVAL, "source overran its buffer");
		got += n;
	}
	return 0;
}

/* The source must end exactly at `len`. */
static int source_end(arca_transport_source src, void *ctx)
{
	uint8_t extra;
	size_t n = 0;
	int rc = src(ctx, &extra, 1, &n);
	if (rc)
		return rc;
	return n ? arca_err_set(ARCA_EINVAL, "source is longer than its length") : 0;
}

static int body_take(put_body *b, uint64_t len, arca_transport_source src, void *ctx)
{
	arca_sha256 *h = NULL;
	uint8_t *chunk = NULL;
	int rc;
	if (len <= S3_MEM_BODY_MAX) {
		if (!(b->mem = malloc(len ? (size_t)len : 1)))
			return arca_err_set(ARCA_ENOMEM, "s3: out of memory for a %llu-byte body",
				(unsigned long long)len);
		if ((rc = source_fill(src, ctx, b->mem, (size_t)len)) != 0 ||
				(rc = source_end(src, ctx)) != 0 ||
				(rc = arca_sha256_digest(b->digest, b->mem, (size_t)len)) < 0)
			return rc;
		arca_hex_encode(b->hash, b->digest, ARCA_HASH_LEN);
		return 0;
	}
	if (!(b->spool = tmpfile()))
		return arca_err_sys("s3: temporary file for a %llu-byte body",
			(unsigned long long)len);
	if (!(chunk = malloc(S3_SPOOL_CHUNK)))
		return arca_err_set(ARCA_ENOMEM, "s3: out of memory");
	if ((rc = arca_sha256_new(&h)) < 0)
		goto done;
	for (uint64_t done_ = 0; done_ < len;) {
		size_t n = len - done_ < S3_SPOOL_CHUNK ? (size_t)(len - done_) : S3_SPOOL_CHUNK;
		if ((rc = source_fill(src, ctx, chunk, n)) != 0 || (rc = arca_sha256_update(h, chunk, n)) < 0)
			goto done;
		for (size_t w = 0; w < n;) {
			ssize_t k = write(fileno(b->spool), chunk + w, n - w);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				rc = arca_err_sys("s3: spooling a %llu-byte body", (unsigned long long)len);
				goto done;
			}
			w += (size_t)k;
		}
		done_ += n;
	}
	if ((rc = source_end(src, ctx)) != 0 || (rc = arca_sha256_final(h, b->digest)) < 0)
		goto done;
	arca_hex_encode(b->hash, b->digest, ARCA_HASH_LEN);
done:
	arca_sha256_free(h);
	free(chunk);
	return rc;
}

/* The caller's file is the body: hashed in place unless its hash is known. */
static int body_of_fd(put_body *b, int fd, uint64_t len, const uint8_t *sha256)
{
	arca_sha256 *h = NULL;
	uint8_t *chunk = NULL;
	int rc = 0;
	b->fd = fd;
	if (sha256) {
		memcpy(b->digest, sha256, ARCA_HASH_LEN);
	} else {
		if (!(chunk = malloc(S3_SPOOL_CHUNK)))
			return arca_err_set(ARCA_ENOMEM, "s3: out of memory");
		if ((rc = arca_sha256_new(&h)) < 0)
			goto done;
		for (uint64_t off = 0; off < len;) {
			size_t n = len - off < S3_SPOOL_CHUNK ? (size_t)(len - off) : S3_SPOOL_CHUNK;
			ssize_t got = arca_pread_full(fd, chunk, n, (off_t)off);
			if (got != (ssize_t)n) {
				rc = got < 0 ? arca_err_sys("s3: read the body") :
					arca_err_set(ARCA_EINVAL, "s3: the body is shorter than its length");
				goto done;
			}
			if ((rc = arca_sha256_update(h, chunk, n)) < 0)
				goto done;
			off += n;
		}
		if ((rc = arca_sha256_final(h, b->digest)) < 0)
			goto done;
	}
	arca_hex_encode(b->hash, b->digest, ARCA_HASH_LEN);
done:
	arca_sha256_free(h);
	free(chunk);
	return rc;
}

static void body_release(put_body *b)
{
	free(b->mem);
	if (b->spool)
		fclose(b->spool);
}

static int hash_sink(void *ctx, const void *p, size_t n)
{
	return arca_sha256_update(ctx, p, n);
}

/* After a create-only put that was retried ends in 412: did an earlier
 * attempt, whose answer was lost, store exactly our body? */
static int stored_is_ours(s3 *t, const char *key, uint64_t len, const put_body *b)
{
	arca_sha256 *h = NULL;
	uint8_t got[ARCA_HASH_LEN];
	uint64_t size = UINT64_MAX;
	int rc;
	if (arca_sha256_new(&h) < 0)
		return 0;
	rc = s3_get(&t->h.base, key, 0, 0, hash_sink, h, &size);
	if (rc == 0)
		rc = arca_sha256_final(h, got);
	arca_sha256_free(h);
	return rc == 0 && size == len && memcmp(got, b->digest, ARCA_HASH_LEN) == 0;
}

/* Sends body `b` (taken by the caller) to path `p` of `key`. */
static int put_body_send(s3 *t, const char *key, s3_path *p, uint64_t len, put_body *b,
		int create_only)
{
	sign_ctx sc;
	arca_http_request req;
	arca_http_response resp;
	char code[64];
	int rc;
	arca_http_response_init(&resp);
	request_setup(&req, "PUT", t, p, &sc, b->hash);
	if (create_only) {
		req.fixed[1][0] = "If-None-Match";
		req.fixed[1][1] = "*";
	}
	req.has_body = 1;
	req.body_len = len;
	req.body = b->mem;
	req.body_fd = b->spool ? fileno(b->spool) : b->fd;
	rc = arca_http_run(t->h.client, t->base, &req, &resp);
	arca_http_request_release(&req);
	if (rc)
		goto out;
	arca_http_error_code(&resp, code, sizeof(code));
	if (resp.status >= 200 && resp.status < 300) {
		rc = 0;
	} else if (resp.status == 412 && create_only) {
		if (resp.attempts > 1 && stored_is_ours(t, key, len, b))
			rc = 0;
		else
			rc = arca_err_set(ARCA_EEXISTS, "put %s: 412 %s: exists",
				arca_buf_cstr(&p->what), code[0] ? code : "PreconditionFailed");
	} else if (resp.status == 501 || (resp.status == 400 && strcmp(code, "NotImplemented") == 0)) {
		rc = arca_err_set(ARCA_EUNSUPPORTED, "put %s: %ld %s: the server cannot do %s",
			arca_buf_cstr(&p->what), resp.status, code[0] ? code : "NotImplemented",
			create_only ? "create-only puts (If-None-Match: *)" : "this put");
	} else {
		rc = arca_http_fail("put", arca_buf_cstr(&p->what), &resp);
	}
out:
	arca_http_response_release(&resp);
	return rc;
}

static int s3_put(arca_transport *tr, const char *key, uint64_t len,
		arca_transport_source src, void *ctx, int create_only)
{
	put_body b = { .fd = -1 };
	s3_path p;
	int rc;
	if ((rc = path_make(&p, (s3 *)tr, key)) < 0)
		goto out;
	if ((rc = body_take(&b, len, src, ctx)) != 0) {
		if (rc < 0 && rc != ARCA_EUSER)
			rc = arca_err_wrap(rc, "put %s", arca_buf_cstr(&p.what));
		goto out;
	}
	rc = put_body_send((s3 *)tr, key, &p, len, &b, create_only);
out:
	body_release(&b);
	path_release(&p);
	return rc;
}

static int s3_put_fd(arca_transport *tr, const char *key, int fd, uint64_t len,
		const uint8_t *sha256, int create_only)
{
	put_body b = { .fd = -1 };
	s3_path p;
	int rc;
	if ((rc = path_make(&p, (s3 *)tr, key)) < 0)
		goto out;
	if ((rc = body_of_fd(&b, fd, len, sha256)) != 0) {
		rc = arca_err_wrap(rc, "put %s", arca_buf_cstr(&p.what));
		goto out;
	}
	rc = put_body_send((s3 *)tr, key, &p, len, &b, create_only);
out:
	body_release(&b);
	path_release(&p);
	return rc;
}

/* ---- remove ---- */

static int s3_remove(arca_transport *tr, const char *key)
{
	s3 *t = (s3 *)tr;
	s3_path p;
	sign_ctx sc;
	arca_http_request req;
	arca_http_response resp;
	int rc;
	arca_http_response_init(&resp);
	if ((rc = path_make(&p, t, key)) < 0)
		goto out;
	request_setup(&req, "DELETE", t, &p, &sc, EMPTY_SHA256);
	rc = arca_http_run(t->h.client, t->base, &req, &resp);
	arca_http_request_release(&req);
	if (rc == 0 && !((resp.status >= 200 && resp.status < 300) || resp.status == 404))
		rc = arca_http_fail("remove", arca_buf_cstr(&p.what), &resp);
out:
	path_release(&p);
	arca_http_response_release(&resp);
	return rc;
}

/* ---- list ---- */

static int put_utf8(arca_buf *out, uint32_t c)
{
	uint8_t u[4];
	size_t n;
	if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	if (c < 0x80) { u[0] = (uint8_t)c; n = 1; }
	else if (c < 0x800) { u[0] = (uint8_t)(0xc0 | (c >> 6)); u[1] = (uint8_t)(0x80 | (c & 0x3f)); n = 2; }
	else if (c < 0x10000) {
		u[0] = (uint8_t)(0xe0 | (c >> 12)); u[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (c & 0x3f)); n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | (c >> 18)); u[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f)); u[3] = (uint8_t)(0x80 | (c & 0x3f)); n = 4;
	}
	return arca_buf_put(out, u, n) < 0 ? -1 : 0;
}

/* XML text -> bytes, NUL-terminated in out: the five named entities and
 * numeric references; anything else (or a NUL) is refused. */
static int xml_decode(arca_buf *out, const char *p, size_t n)
{
	static const struct { const char *name; char c; } ents[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' } };
	const char *end = p + n;
	out->len = 0;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t k = amp ? (size_t)(amp - p) : (size_t)(end - p);
		if (memchr(p, '\0', k) || arca_buf_put(out, p, k) < 0)
			return -1;
		if (!amp)
			break;
		p = amp + 1;
		if (p < end && *p == '#') {
			uint32_t c = 0;
			int hex = ++p < end && (*p == 'x' || *p == 'X'), digits = 0;
			if (hex)
				p++;
			for (; p < end && *p != ';'; p++, digits++) {
				int d = (*p >= '0' && *p <= '9') ? *p - '0'
					: hex && (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f' ? (*p | 0x20) - 'a' + 10 : -1;
				if (d < 0 || digits >= 8)
					return -1;
				c = c * (hex ? 16u : 10u) + (uint32_t)d;
			}
			if (p >= end || !digits || put_utf8(out, c) < 0)
				return -1;
			p++;
			continue;
		}
		{
			size_t i;
			for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				size_t l = strlen(ents[i].name);
				if ((size_t)(end - p) >= l && memcmp(p, ents[i].name, l) == 0) {
					if (arca_buf_put(out, &ents[i].c, 1) < 0)
						return -1;
					p += l;
					break;
				}
			}
			if (i == sizeof(ents) / sizeof(ents[0]))
				return -1;
		}
	}
	return arca_buf_put(out, "", 1) < 0 ? -1 : (out->len--, 0);
}

/* The text of the first <tag>..</tag> in [p, end), or NULL. */
static const char *xml_elem(const char *p, const char *end, const char *tag, size_t *n)
{
	char open[40], close[40];
	const char *a, *b;
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(p, (size_t)(end - p), open, strlen(open));
	if (!a)
		return NULL;
	a += strlen(open);
	b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (!b)
		return NULL;
	*n = (size_t)(b - a);
	return a;
}

/* One page: calls cb per key; sets `token` (empty when it was the last). */
int arca_s3__list_page(const char *prefix, const char *body, size_t blen, const char *what,
		arca_transport_list_cb cb, void *ctx, arca_buf *token)
{
	const char *p = body, *end = body + blen, *v;
	arca_buf key = ARCA_BUF_INIT(4 * S3_KEY_MAX);
	size_t n, plen = strlen(prefix);
	int rc = 0, truncated = 0;
	if (!memmem(body, blen, "<ListBucketResult", 17)) {
		rc = arca_err_set(ARCA_ECORRUPT, "list %s: not a ListBucketResult", what);
		goto done;
	}
	while ((v = memmem(p, (size_t)(end - p), "<Contents>", 10))) {
		const char *ce = memmem(v, (size_t)(end - v), "</Contents>", 11), *k, *s;
		size_t kn, sn;
		uint64_t size = 0;
		if (!ce || !(k = xml_elem(v, ce, "Key", &kn)) || !(s = xml_elem(v, ce, "Size", &sn))) {
			rc = arca_err_set(ARCA_ECORRUPT, "list %s: a Contents entry without Key or Size", what);
			goto done;
		}
		for (size_t i = 0; i < sn; i++) {
			if (s[i] < '0' || s[i] > '9' || size > (UINT64_MAX - 9) / 10) {
				rc = arca_err_set(ARCA_ECORRUPT, "list %s: bad Size", what);
				goto done;
			}
			size = size * 10 + (uint64_t)(s[i] - '0');
		}
		if (!sn || xml_decode(&key, k, kn) < 0 || key.len < plen ||
				memcmp(key.ptr, prefix, plen) != 0) {
			rc = arca_err_set(ARCA_ECORRUPT, "list %s: a bad key", what);
			goto done;
		}
		p = ce + 11;
		if (key.len == plen)
			continue; /* the prefix itself: a console's "folder" */
		if ((rc = cb((const char *)key.ptr + plen, size, ctx)) != 0)
			goto done;
	}
	token->len = 0;
	if ((v = xml_elem(body, end, "IsTruncated", &n)))
		truncated = n == 4 && memcmp(v, "true", 4) == 0;
	if (truncated) {
		if (!(v = xml_elem(body, end, "NextContinuationToken", &n)) || !n ||
				xml_decode(token, v, n) < 0) {
			rc = arca_err_set(ARCA_ECORRUPT, "list %s: truncated without a usable token", what);
			goto done;
		}
	}
done:
	arca_buf_release(&key);
	return rc;
}

static int s3_list(arca_transport *tr, const char *prefix, arca_transport_list_cb cb, void *ctx)
{
	s3 *t = (s3 *)tr;
	arca_buf raw = ARCA_BUF_INIT(1u << 14), full = ARCA_BUF_INIT(1u << 14),
		what = ARCA_BUF_INIT(1u << 14), query = ARCA_BUF_INIT(1u << 16),
		token = ARCA_BUF_INIT(S3_TOKEN_MAX), prev = ARCA_BUF_INIT(S3_TOKEN_MAX);
	char maxkeys[16];
	int rc;
	if (!prefix)
		prefix = "";
	snprintf(maxkeys, sizeof(maxkeys), "%u", t->h.list_page ? t->h.list_page : 1000);
	if ((rc = arca_buf_setf(&raw, "/%s/", t->bucket)) < 0 ||
			(rc = arca_buf_setf(&full, "%s%s", t->prefix, prefix)) < 0 ||
			(rc = arca_buf_setf(&what, "%s/%s", t->disp, arca_buf_cstr(&full))) < 0)
		goto done;
	for (;;) {
		arca_sigv4_pair q[4] = { { "list-type", "2" }, { "max-keys", maxkeys },
			{ "prefix", arca_buf_cstr(&full) }, { "continuation-token", arca_buf_cstr(&token) } };
		size_t nq = token.len ? 4 : 3;
		arca_http_request req;
		arca_http_response resp;
		sign_ctx sc;
		if ((rc = arca_sigv4_canonical_query(&query, q, nq)) < 0)
			goto done;
		arca_http_request_init(&req, "GET", (const char *)raw.ptr);
		req.query = arca_buf_cstr(&query);
		req.fixed[0][0] = "Host";
		req.fixed[0][1] = t->host;
		sc = (sign_ctx){ t, arca_buf_cstr(&raw), q, nq, EMPTY_SHA256, NULL, NULL };
		req.prepare = s3_sign;
		req.ctx = &sc;
		req.capture_max = S3_LIST_BODY_MAX;
		arca_http_response_init(&resp);
		rc = arca_http_run(t->h.client, t->base, &req, &resp);
		arca_http_request_release(&req);
		if (rc == ARCA_ECORRUPT)
			rc = arca_err_wrap(rc, "list %s", arca_buf_cstr(&what));
		else if (rc == 0 && resp.status != 200)
			rc = arca_http_fail("list", arca_buf_cstr(&what), &resp);
		else if (rc == 0 && (rc = arca_buf_setf(&prev, "%s", arca_buf_cstr(&token))) == 0)
			rc = arca_s3__list_page(t->prefix, (const char *)resp.body.ptr ? (const char *)resp.body.ptr : "",
				resp.body.len, arca_buf_cstr(&what), cb, ctx, &token);
		arca_http_response_release(&resp);
		if (rc || !token.len)
			break;
		if (strcmp(arca_buf_cstr(&token), arca_buf_cstr(&prev)) == 0) {
			rc = arca_err_set(ARCA_ECORRUPT, "list %s: the server repeats its continuation token",
				arca_buf_cstr(&what));
			break;
		}
	}
done:
	arca_buf_release(&raw);
	arca_buf_release(&full);
	arca_buf_release(&what);
	arca_buf_release(&query);
	arca_buf_release(&token);
	arca_buf_release(&prev);
	return rc;
}

/* ---- open, free ---- */

static void s3_free(arca_transport *tr)
{
	s3 *t = (s3 *)tr;
	if (!t)
		return;
	arca_http_client_free(t->h.client);
	free(t->url);
	free(t->base);
	free(t->host);
	free(t->disp);
	free(t->bucket);
	free(t->prefix);
	free(t->region);
	wipe_free(t->access_key);
	wipe_free(t->secret);
	wipe_free(t->token);
	free(t);
}

static int is_loopback(const char *host, int bracketed)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (bracketed)
		return inet_pton(AF_INET6, host, &a6) == 1 && memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

static int bucket_ok(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-' && c != '.')
			return 0;
		if (!alnum && (i == 0 || i == n - 1))
			return 0;
	}
	return 1;
}

/* No empty, "." or ".." segment, nothing a URL or a signature would
 * reinterpret. */
static int prefix_ok(const char *p, size_t n)
{
	size_t seg = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == '/') {
			size_t l = i - seg;
			if (!l || (l == 1 && p[seg] == '.') || (l == 2 && p[seg] == '.' && p[seg + 1] == '.'))
				return 0;
			seg = i + 1;
			continue;
		}
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f || p[i] == '%' || p[i] == '\\')
			return 0;
	}
	return 1;
}

static int parse_url(s3 *t, const char *url, const arca_transport_config *cfg)
{
	const char *auth = url + 5, *slash, *hs, *he, *pp = NULL, *bk, *be, *pre;
	char host[256];
	size_t hn, pn;
	int bracketed = 0, loop;
	if (strncmp(url, "s3://", 5) != 0)
		return arca_err_set(ARCA_EINVAL, "not an s3:// URL");
	if (!(slash = strchr(auth, '/')))
		slash = auth + strlen(auth);
	/* before any message that would show the URL */
	if (memchr(auth, '@', (size_t)(slash - auth)))
		return arca_err_set(ARCA_EINVAL, "s3 URL: credentials do not belong in the URL");
	if (strpbrk(url, "?#"))
		return arca_err_set(ARCA_EINVAL, "s3 URL %s: no query or fragment allowed", url);
	if (*auth == '[') {
		bracketed = 1;
		hs = auth + 1;
		if (!(he = memchr(hs, ']', (size_t)(slash - hs))))
			return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad host", url);
		if (he + 1 < slash) {
			if (he[1] != ':')
				return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad host", url);
			pp = he + 2;
		}
	} else {
		hs = auth;
		he = memchr(hs, ':', (size_t)(slash - hs));
		if (he)
			pp = he + 1;
		else
			he = slash;
		for (const char *c = hs; c < he; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
					(*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
				return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad host", url);
	}
	hn = (size_t)(he - hs);
	if (!hn || hn >= sizeof(host))
		return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad host", url);
	memcpy(host, hs, hn);
	host[hn] = '\0';
	if (bracketed) {
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad IPv6 address", url);
	}
	if (pp) {
		unsigned long port = 0;
		if (pp == slash || slash - pp > 5)
			return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad port", url);
		for (const char *c = pp; c < slash; c++) {
			if (*c < '0' || *c > '9')
				return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad port", url);
			port = port * 10 + (unsigned long)(*c - '0');
		}
		if (!port || port > 65535)
			return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad port", url);
	}
	if (!*slash)
		return arca_err_set(ARCA_EINVAL, "s3 URL %s: no bucket (s3://HOST[:PORT]/BUCKET[/PREFIX])", url);
	bk = slash + 1;
	be = strchr(bk, '/');
	if (!be)
		be = bk + strlen(bk);
	if (!bucket_ok(bk, (size_t)(be - bk)))
		return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad bucket name (3 to 63 of a-z 0-9 . -)", url);
	pre = *be ? be + 1 : be;
	pn = strlen(pre);
	while (pn && pre[pn - 1] == '/')
		pn--;
	if (pn && !prefix_ok(pre, pn))
		return arca_err_set(ARCA_EINVAL, "s3 URL %s: bad prefix", url);
	loop = is_loopback(host, bracketed);
	t->url = strdup(url);
	t->host = dup_n(auth, (size_t)(slash - auth));
	t->bucket = dup_n(bk, (size_t)(be - bk));
	t->prefix = malloc(pn + 2);
	t->base = malloc(strlen(t->host ? t->host : "") + 16);
	t->disp = malloc((size_t)(be - url) + 1);
	if (!t->url || !t->host || !t->bucket || !t->prefix || !t->base || !t->disp)
		return arca_err_set(ARCA_ENOMEM, "s3: out of memory");
	memcpy(t->prefix, pre, pn);
	if (pn)
		t->prefix[pn++] = '/';
	t->prefix[pn] = '\0';
	snprintf(t->base, strlen(t->host) + 16, "%s://%s",
		loop || cfg->insecure_http ? "http" : "https", t->host);
	memcpy(t->disp, url, (size_t)(be - url));
	t->disp[be - url] = '\0';
	return 0;
}

static char *dup_secret(const char *s, int *bad)
{
	char *d;
	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*bad = 1;
	return d;
}

int arca_transport_s3_open(arca_transport **out, const char *url, const arca_transport_config *cfg)
{
	static const arca_transport_config none = { ARCA_TRANSPORT_VERSION, NULL, NULL, NULL, NULL,
		0, 0, 0, 0, 0 };
	arca_http_options ho = { 0 };
	s3 *t;
	int rc, bad = 0;
	*out = NULL;
	if (!cfg)
		cfg = &none;
	if (!url)
		return arca_err_set(ARCA_EINVAL, "s3: no URL");
	if (cfg->version != ARCA_TRANSPORT_VERSION)
		return arca_err_set(ARCA_EINVAL, "s3: transport config version %u", cfg->version);
	if (!cfg->access_key != !cfg->secret_key)
		return arca_err_set(ARCA_EINVAL, "s3: an access key needs its secret, and a secret its key");
	if (!(t = calloc(1, sizeof(*t))))
		return arca_err_set(ARCA_ENOMEM, "s3: out of memory");
	if ((rc = parse_url(t, url, cfg)) < 0)
		goto fail;
	t->region = strdup(cfg->region ? cfg->region : "us-east-1");
	t->access_key = dup_secret(cfg->access_key, &bad);
	t->secret = dup_secret(cfg->secret_key, &bad);
	t->token = dup_secret(cfg->session_token, &bad);
	if (!t->region || bad) {
		rc = arca_err_set(ARCA_ENOMEM, "s3: out of memory");
		goto fail;
	}
	ho.max_retries = cfg->max_retries;
	ho.retry_base_ms = cfg->retry_base_ms;
	ho.timeout_s = cfg->timeout_s;
	ho.pool = cfg->jobs > 4 ? cfg->jobs : 4;
	if ((rc = arca_http_client_new(&t->h.client, &ho)) < 0)
		goto fail;
	t->h.magic = ARCA_HTTP_TRANSPORT_MAGIC;
	t->h.base.version = ARCA_TRANSPORT_VERSION;
	t->h.base.url = t->url;
	t->h.base.readonly = 0;
	t->h.base.get = s3_get;
	t->h.base.head = s3_head;
	t->h.base.put = s3_put;
	t->h.base.put_fd = s3_put_fd;
	t->h.base.list = s3_list;
	t->h.base.remove = s3_remove;
	t->h.base.free = s3_free;
	*out = &t->h.base;
	return 0;
fail:
	s3_free(&t->h.base);
	return rc;
}
