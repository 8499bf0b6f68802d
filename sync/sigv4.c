/* AWS Signature Version 4: canonical request, string to sign, signature. */
#include "sync/sigv4.h"
#include "cas/hash.h"
#include "util/error.h"
#include "util/hex.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"

/* Appends and keeps the bytes NUL-terminated, like arca_buf_printf. */
static int put(arca_buf *b, const void *p, size_t n)
{
	int rc = arca_buf_grow(b, n + 1);
	if (rc)
		return rc;
	if (n)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

static int puts_(arca_buf *b, const char *s)
{
	return put(b, s, strlen(s));
}

static int putc_(arca_buf *b, char c)
{
	return put(b, &c, 1);
}

static void reset(arca_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~';
}

int arca_sigv4_uri_encode(arca_buf *out, const char *s, size_t n, int keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			rc = putc_(out, (char)c);
		} else {
			char esc[3] = { '%', digits[c >> 4], digits[c & 15] };
			rc = put(out, esc, 3);
		}
	}
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Encodes an already-encoded path once more from its decoded bytes, so the
 * result is canonical whatever the sender chose to escape. */
static int encode_encoded_path(arca_buf *out, const char *path)
{
	int rc = 0;
	for (size_t i = 0; path[i] && !rc; i++) {
		char c = path[i];
		if (c == '%') {
			int hi = hexval(path[i + 1]), lo = hi < 0 ? -1 : hexval(path[i + 2]);
			if (lo < 0)
				return arca_err_set(ARCA_EINVAL,
					"sigv4: bad %%-escape in path at byte %zu", i);
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		rc = arca_sigv4_uri_encode(out, &c, 1, 1);
	}
	return rc;
}

int arca_sigv4_canonical_path(arca_buf *out, const char *path, int path_encoded)
{
	reset(out);
	if (!path || !*path)
		return puts_(out, "/");
	if (path[0] != '/')
		return arca_err_set(ARCA_EINVAL, "sigv4: path does not start with '/'");
	if (path_encoded)
		return encode_encoded_path(out, path);
	return arca_sigv4_uri_encode(out, path, strlen(path), 1);
}

typedef struct {
	size_t name, nlen, value, vlen;   /* offsets into the scratch buffer */
} encoded_pair;

static int pair_cmp(const uint8_t *base, const encoded_pair *a, const encoded_pair *b)
{
	size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
	int c = memcmp(base + a->name, base + b->name, n);
	if (c || a->nlen != b->nlen)
		return c ? c : (a->nlen < b->nlen ? -1 : 1);
	n = a->vlen < b->vlen ? a->vlen : b->vlen;
	c = memcmp(base + a->value, base + b->value, n);
	if (c || a->vlen == b->vlen)
		return c;
	return a->vlen < b->vlen ? -1 : 1;
}

int arca_sigv4_canonical_query(arca_buf *out, const arca_sigv4_pair *q, size_t n)
{
	encoded_pair p[ARCA_SIGV4_MAX_QUERY];
	arca_buf scratch = ARCA_BUF_INIT(ARCA_SIGV4_TEXT_MAX);
	int rc = 0;

	reset(out);
	if (n > ARCA_SIGV4_MAX_QUERY)
		return arca_err_set(ARCA_EINVAL, "sigv4: %zu query parameters (at most %d)",
			n, ARCA_SIGV4_MAX_QUERY);
	for (size_t i = 0; i < n && !rc; i++) {
		const char *v = q[i].value ? q[i].value : "";
		if (!q[i].name || !*q[i].name) {
			rc = arca_err_set(ARCA_EINVAL, "sigv4: query parameter %zu has no name", i);
			break;
		}
		p[i].name = scratch.len;
		rc = arca_sigv4_uri_encode(&scratch, q[i].name, strlen(q[i].name), 0);
		p[i].nlen = scratch.len - p[i].name;
		p[i].value = scratch.len;
		if (!rc)
			rc = arca_sigv4_uri_encode(&scratch, v, strlen(v), 0);
		p[i].vlen = scratch.len - p[i].value;
	}
	/* insertion sort: n is small, and equal pairs keep their order */
	for (size_t i = 1; i < n && !rc; i++) {
		encoded_pair t = p[i];
		size_t j = i;
		for (; j > 0 && pair_cmp(scratch.ptr, &p[j - 1], &t) > 0; j--)
			p[j] = p[j - 1];
		p[j] = t;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = putc_(out, '&');
		if (!rc)
			rc = put(out, scratch.ptr + p[i].name, p[i].nlen);
		if (!rc)
			rc = putc_(out, '=');
		if (!rc)
			rc = put(out, scratch.ptr + p[i].value, p[i].vlen);
	}
	arca_buf_release(&scratch);
	if (rc)
		reset(out);
	return rc;
}

int arca_sigv4_amz_date(char out[ARCA_SIGV4_DATE_LEN + 1], time_t t)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999)
		return arca_err_set(ARCA_EINVAL, "sigv4: time %lld cannot be formatted",
			(long long)t);
	if (strftime(out, ARCA_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != ARCA_SIGV4_DATE_LEN)
		return arca_err_set(ARCA_EINVAL, "sigv4: time %lld cannot be formatted",
			(long long)t);
	return 0;
}

int arca_sigv4_payload_hash(char out[ARCA_SIGV4_SIG_LEN + 1], const void *p, size_t n)
{
	uint8_t h[ARCA_HASH_LEN];
	int rc = arca_sha256_digest(h, p, n);
	if (rc)
		return rc;
	arca_hex_encode(out, h, sizeof(h));
	return 0;
}

/* ---- checks of the request ---- */

static int is_tchar(unsigned char c)
{
	return unreserved(c) || (c && strchr("!#$%&'*+^`|", c));
}

static int check_date(const char *d)
{
	static const char shape[] = "DDDDDDDDTDDDDDDZ";
	if (!d || strlen(d) != ARCA_SIGV4_DATE_LEN)
		return arca_err_set(ARCA_EINVAL, "sigv4: amz_date is not YYYYMMDDTHHMMSSZ");
	for (size_t i = 0; i < ARCA_SIGV4_DATE_LEN; i++) {
		int ok = shape[i] == 'D' ? (d[i] >= '0' && d[i] <= '9') : d[i] == shape[i];
		if (!ok)
			return arca_err_set(ARCA_EINVAL, "sigv4: amz_date is not YYYYMMDDTHHMMSSZ");
	}
	return 0;
}

/* Region, service and access key id go into the credential scope, which
 * '/' separates and the Authorization header delimits with ',' and ' '. */
static int check_scope_part(const char *what, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n > max)
		return arca_err_set(ARCA_EINVAL, "sigv4: %s must have 1 to %zu characters", what, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '/' || c == ',' || c == ';' || c == '=')
			return arca_err_set(ARCA_EINVAL, "sigv4: %s has a bad character", what);
	}
	return 0;
}

static int check_payload_hash(const char *h)
{
	size_t n = h ? strlen(h) : 0;
	if (n == ARCA_SIGV4_SIG_LEN && strspn(h, "0123456789abcdef") == n)
		return 0;
	if (h && (!strcmp(h, "UNSIGNED-PAYLOAD") ||
			(!strncmp(h, "STREAMING-", 10) && n > 10 &&
			 strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n)))
		return 0;
	return arca_err_set(ARCA_EINVAL,
		"sigv4: payload hash is not lower-case hex SHA-256 nor UNSIGNED-PAYLOAD");
}

static int check_method(const char *m)
{
	size_t n = m ? strlen(m) : 0;
	if (!n || n > 32 || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n)
		return arca_err_set(ARCA_EINVAL, "sigv4: method is not an upper-case token");
	return 0;
}

/* ---- canonical headers ---- */

static int name_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z') x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z') y = (unsigned char)(y - 'A' + 'a');
		if (x != y || !x)
			return x - y;
	}
}

static int put_lower(arca_buf *b, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++)
		rc = putc_(b, (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s);
	return rc;
}

/* Trimmed, blanks collapsed; control bytes (a folded or injected line
 * among them) are refused rather than guessed at. */
static int put_value(arca_buf *b, const char *name, const char *v)
{
	const char *end;
	int rc = 0, blank = 0;

	if (!v)
		v = "";
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (; v < end && !rc; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == ' ' || c == '\t') {
			blank = 1;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return arca_err_set(ARCA_EINVAL,
				"sigv4: header %s has a control character in its value", name);
		if (blank)
			rc = putc_(b, ' ');
		blank = 0;
		if (!rc)
			rc = putc_(b, (char)c);
	}
	return rc;
}

/* A header whose canonical value must equal what the signer was told. */
typedef struct {
	const char *name;
	const char *want;    /* NULL: no constraint on the value */
	int required;
	int seen;
} header_rule;

static int check_rules(header_rule *rules, size_t nrules, const char *name,
		const char *value, size_t vlen)
{
	for (size_t i = 0; i < nrules; i++) {
		if (strcmp(rules[i].name, name))
			continue;
		rules[i].seen = 1;
		if (rules[i].want && (strlen(rules[i].want) != vlen ||
				memcmp(rules[i].want, value, vlen)))
			return arca_err_set(ARCA_EINVAL,
				"sigv4: header %s differs from the value being signed", name);
	}
	return 0;
}

/* Appends the canonical headers (each "name:value\n") to `creq` and sets
 * `signed_headers`. */
static int canonical_headers(arca_buf *creq, arca_buf *signed_headers,
		const arca_sigv4_request *req, const arca_sigv4_credentials *cred)
{
	size_t idx[ARCA_SIGV4_MAX_HEADERS], n = req->nheaders, start = 0;
	header_rule rules[] = {
		{ "host", NULL, 1, 0 },
		{ "x-amz-date", req->amz_date, 1, 0 },
		{ "x-amz-content-sha256", req->payload_hash, 0, 0 },
		{ "x-amz-security-token", cred->session_token, cred->session_token != NULL, 0 },
	};
	const size_t nrules = sizeof(rules) / sizeof(rules[0]);
	int rc = 0;

	if (n > ARCA_SIGV4_MAX_HEADERS)
		return arca_err_set(ARCA_EINVAL, "sigv4: %zu headers (at most %d)",
			n, ARCA_SIGV4_MAX_HEADERS);
	for (size_t i = 0; i < n; i++) {
		const char *name = req->headers[i].name;
		if (!name || !*name)
			return arca_err_set(ARCA_EINVAL, "sigv4: header %zu has no name", i);
		for (const char *c = name; *c; c++)
			if (!is_tchar((unsigned char)*c))
				return arca_err_set(ARCA_EINVAL, "sigv4: bad header name '%s'", name);
		/* insertion sort keeps repeated names in the order given */
		size_t j = i;
		for (; j > 0 && name_cmp(req->headers[idx[j - 1]].name, name) > 0; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
	}
	reset(signed_headers);
	for (size_t i = 0; i < n && !rc; i++) {
		const arca_sigv4_pair *h = &req->headers[idx[i]];
		int repeat = i > 0 && !name_cmp(req->headers[idx[i - 1]].name, h->name);
		if (repeat) {
			rc = putc_(creq, ',');
		} else {
			if (signed_headers->len)
				rc = putc_(signed_headers, ';');
			if (!rc)
				rc = put_lower(signed_headers, h->name);
			if (!rc)
				rc = put_lower(creq, h->name);
			if (!rc)
				rc = putc_(creq, ':');
			start = creq->len;
		}
		if (!rc)
			rc = put_value(creq, h->name, h->value);
		int last = i + 1 == n || name_cmp(req->headers[idx[i + 1]].name, h->name);
		if (!rc && last) {
			/* the name just written, lower-case, ends signed_headers */
			const char *sh = arca_buf_cstr(signed_headers);
			const char *lname = strrchr(sh, ';') ? strrchr(sh, ';') + 1 : sh;
			rc = check_rules(rules, nrules, lname, (const char *)creq->ptr + start,
				creq->len - start);
			if (!rc)
				rc = putc_(creq, '\n');
		}
	}
	for (size_t i = 0; i < nrules && !rc; i++)
		if (rules[i].required && !rules[i].seen)
			rc = arca_err_set(ARCA_EINVAL, "sigv4: the %s header must be signed",
				rules[i].name);
	return rc;
}

/* ---- keys and MACs ---- */

static int hmac(uint8_t out[32], const void *key, size_t klen, const void *msg, size_t n)
{
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len) || len != 32)
		return arca_err_set(ARCA_ERROR, "sigv4: openssl: HMAC-SHA256 failed");
	return 0;
}

static int derive_key(uint8_t key[32], const char *secret, const char *date8,
		const char *region, const char *service)
{
	uint8_t ksecret[4 + ARCA_SIGV4_SECRET_MAX], k[32];
	size_t slen = strlen(secret);
	int rc;

	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret, slen);
	rc = hmac(k, ksecret, 4 + slen, date8, 8);
	if (!rc)
		rc = hmac(k, k, 32, region, strlen(region));
	if (!rc)
		rc = hmac(k, k, 32, service, strlen(service));
	if (!rc)
		rc = hmac(key, k, 32, "aws4_request", 12);
	OPENSSL_cleanse(ksecret, sizeof(ksecret));
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

void arca_sigv4_key_clear(arca_sigv4_key *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

/* The signing key, from the cache when it was made for the same inputs. */
static int signing_key(uint8_t key[32], arca_sigv4_key *cache, const char *secret,
		const char *date8, const char *region, const char *service)
{
	uint8_t id[32];
	int rc;

	if (!cache)
		return derive_key(key, secret, date8, region, service);
	if ((rc = arca_sha256_digest(id, secret, strlen(secret))) != 0)
		return rc;
	if (cache->valid && !memcmp(cache->date, date8, 8) && !strcmp(cache->region, region) &&
			!strcmp(cache->service, service) &&
			CRYPTO_memcmp(cache->secret_id, id, sizeof(id)) == 0) {
		memcpy(key, cache->key, 32);
		OPENSSL_cleanse(id, sizeof(id));
		return 0;
	}
	arca_sigv4_key_clear(cache);
	rc = derive_key(key, secret, date8, region, service);
	if (!rc) {
		memcpy(cache->date, date8, 8);
		memcpy(cache->region, region, strlen(region) + 1);
		memcpy(cache->service, service, strlen(service) + 1);
		memcpy(cache->secret_id, id, sizeof(id));
		memcpy(cache->key, key, 32);
		cache->valid = 1;
	}
	OPENSSL_cleanse(id, sizeof(id));
	return rc;
}

/* ---- the whole ---- */

static int check_request(const arca_sigv4_request *req, const arca_sigv4_credentials *cred)
{
	int rc;
	if (!req || !cred)
		return arca_err_set(ARCA_EINVAL, "sigv4: NULL argument");
	if ((rc = check_method(req->method)) || (rc = check_date(req->amz_date)) ||
			(rc = check_payload_hash(req->payload_hash)) ||
			(rc = check_scope_part("region", req->region, ARCA_SIGV4_NAME_MAX)) ||
			(rc = check_scope_part("service", req->service, ARCA_SIGV4_NAME_MAX)) ||
			(rc = check_scope_part("access key id", cred->access_key_id, 128)))
		return rc;
	if (!cred->secret || !*cred->secret || strlen(cred->secret) > ARCA_SIGV4_SECRET_MAX)
		return arca_err_set(ARCA_EINVAL, "sigv4: secret must have 1 to %d bytes",
			ARCA_SIGV4_SECRET_MAX);
	if ((req->nquery && !req->query) || (req->nheaders && !req->headers))
		return arca_err_set(ARCA_EINVAL, "sigv4: NULL query or header list");
	return 0;
}

static int build_canonical_request(arca_sigv4_result *out, const arca_sigv4_request *req,
		const arca_sigv4_credentials *cred)
{
	arca_buf part = ARCA_BUF_INIT(ARCA_SIGV4_TEXT_MAX);
	arca_buf *creq = &out->canonical_request;
	int rc;

	rc = puts_(creq, req->method);
	if (!rc) rc = putc_(creq, '\n');
	if (!rc) rc = arca_sigv4_canonical_path(&part, req->path, req->path_encoded);
	if (!rc) rc = put(creq, part.ptr, part.len);
	if (!rc) rc = putc_(creq, '\n');
	if (!rc) rc = arca_sigv4_canonical_query(&part, req->query, req->nquery);
	if (!rc) rc = put(creq, part.ptr, part.len);
	if (!rc) rc = putc_(creq, '\n');
	if (!rc) rc = canonical_headers(creq, &out->signed_headers, req, cred);
	if (!rc) rc = putc_(creq, '\n');
	if (!rc) rc = put(creq, out->signed_headers.ptr, out->signed_headers.len);
	if (!rc) rc = putc_(creq, '\n');
	if (!rc) rc = puts_(creq, req->payload_hash);
	arca_buf_release(&part);
	return rc;
}

int arca_sigv4_sign(arca_sigv4_result *out, const arca_sigv4_request *req,
		const arca_sigv4_credentials *cred, arca_sigv4_key *cache)
{
	char date8[9], creq_hash[ARCA_SIGV4_SIG_LEN + 1];
	uint8_t key[32], sig[32];
	int rc;

	if (!out)
		return arca_err_set(ARCA_EINVAL, "sigv4: NULL argument");
	reset(&out->canonical_request);
	reset(&out->string_to_sign);
	reset(&out->signed_headers);
	reset(&out->authorization);
	out->signature[0] = '\0';
	if ((rc = check_request(req, cred)) != 0)
		return rc;
	memcpy(date8, req->amz_date, 8);
	date8[8] = '\0';

	if ((rc = build_canonical_request(out, req, cred)) != 0)
		goto done;
	if ((rc = arca_sigv4_payload_hash(creq_hash, out->canonical_request.ptr,
			out->canonical_request.len)) != 0)
		goto done;
	if ((rc = arca_buf_setf(&out->string_to_sign, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s",
			req->amz_date, date8, req->region, req->service, creq_hash)) != 0)
		goto done;

	if ((rc = signing_key(key, cache, cred->secret, date8, req->region, req->service)) != 0)
		goto done;
	if ((rc = hmac(sig, key, sizeof(key), out->string_to_sign.ptr,
			out->string_to_sign.len)) != 0)
		goto done;
	arca_hex_encode(out->signature, sig, sizeof(sig));
	rc = arca_buf_setf(&out->authorization,
		ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		cred->access_key_id, date8, req->region, req->service,
		arca_buf_cstr(&out->signed_headers), out->signature);
done:
	OPENSSL_cleanse(key, sizeof(key));
	if (rc) {
		reset(&out->canonical_request);
		reset(&out->string_to_sign);
		reset(&out->signed_headers);
		reset(&out->authorization);
		out->signature[0] = '\0';
	}
	return rc;
}

void arca_sigv4_result_release(arca_sigv4_result *r)
{
	if (!r)
		return;
	arca_buf_release(&r->canonical_request);
	arca_buf_release(&r->string_to_sign);
	arca_buf_release(&r->signed_headers);
	arca_buf_release(&r->authorization);
	r->signature[0] = '\0';
}
