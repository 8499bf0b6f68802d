/*
 * AWS Signature Version 4 (header form, "AWS4-HMAC-SHA256") for
 * S3-compatible remotes: AWS S3, Ceph RGW, MinIO. Pure: no transport, no
 * clock, no environment; the caller passes everything that is signed.
 *
 * What is signed (the canonical request, one item a line):
 *   method                 upper-case token, "GET", "PUT" ...
 *   canonical URI          the path, URI-encoded once by the S3 rule: every
 *                          byte but A-Z a-z 0-9 - . _ ~ and '/' becomes %XX.
 *                          No normalisation: "//a/./b" stays as it is (S3
 *                          keys may hold such runs), and no second encoding
 *                          (that is for the other AWS services).
 *   canonical query        the pairs, names and values encoded like the
 *                          path but with '/' encoded too, sorted by name
 *                          then value, "a=1&b=" ("name=" for no value).
 *   canonical headers      the headers given, names lower-cased, values
 *                          trimmed with inner runs of blanks made one
 *                          space; a name given twice has its values joined
 *                          with ',' in the order given; sorted by name.
 *   signed headers         their names, ';'-separated.
 *   payload hash           lower-case hex SHA-256 of the body, or
 *                          "UNSIGNED-PAYLOAD" (or a "STREAMING-..." value).
 *
 * What the caller provides and must send: the headers list is exactly the
 * set that is signed and must go out on the wire with those values; it
 * must hold `host` and `x-amz-date` (equal to the signing time), and for
 * S3 also `x-amz-content-sha256` (checked against the payload hash when
 * present); with a session token, `x-amz-security-token` (checked equal).
 * The signer adds no header itself. The query sent must be the canonical
 * query (arca_sigv4_canonical_query builds it) and the path one that
 * decodes to the same bytes as the one signed (arca_sigv4_uri_encode).
 * Nothing here reads the clock: pass the time (arca_sigv4_amz_date).
 *
 * Secrets are only read; every copy and derived key on the stack is wiped
 * (OPENSSL_cleanse) before return. A signing-key cache is the caller's,
 * not locked: one per thread or under the caller's lock.
 */
#ifndef ARCA_SYNC_SIGV4_H
#define ARCA_SYNC_SIGV4_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ARCA_SIGV4_DATE_LEN 16        /* "YYYYMMDDTHHMMSSZ" */
#define ARCA_SIGV4_SIG_LEN 64         /* hex HMAC-SHA256 */
#define ARCA_SIGV4_TEXT_MAX (1u << 16) /* cap on each string built */
#define ARCA_SIGV4_MAX_HEADERS 64
#define ARCA_SIGV4_MAX_QUERY 128
#define ARCA_SIGV4_NAME_MAX 63        /* region, service */
#define ARCA_SIGV4_SECRET_MAX 256

/** A header or query parameter; `value` NULL counts as "". Borrowed. */
typedef struct {
	const char *name;
	const char *value;
} arca_sigv4_pair;

/** One request to sign; every pointer is borrowed for the call only. */
typedef struct {
	const char *method;
	/* The path as raw bytes (path_encoded 0) or as sent, %XX-encoded
	 * (path_encoded 1: decoded, then encoded once by the S3 rule, so
	 * "%24" and "$" sign alike). Must start with '/'; "" or NULL is "/". */
	const char *path;
	int path_encoded;
	const arca_sigv4_pair *query;   /* raw, unencoded; any order */
	size_t nquery;
	const arca_sigv4_pair *headers; /* any case, any order */
	size_t nheaders;
	const char *payload_hash;
	const char *amz_date;           /* "YYYYMMDDTHHMMSSZ", UTC */
	const char *region;             /* "us-east-1" */
	const char *service;            /* "s3" */
} arca_sigv4_request;

typedef struct {
	const char *access_key_id;
	const char *secret;
	const char *session_token;      /* NULL for long-term keys */
} arca_sigv4_credentials;

/** What signing produced; owned by the caller, freed with
 *  arca_sigv4_result_release. Every buffer is NUL-terminated, so
 *  arca_buf_cstr gives the string. None holds a secret. */
typedef struct {
	arca_buf canonical_request;
	arca_buf string_to_sign;
	arca_buf signed_headers;        /* "host;x-amz-date" */
	arca_buf authorization;         /* the Authorization header's value */
	char signature[ARCA_SIGV4_SIG_LEN + 1];
} arca_sigv4_result;

#define ARCA_SIGV4_RESULT_INIT { ARCA_BUF_INIT(ARCA_SIGV4_TEXT_MAX), \
	ARCA_BUF_INIT(ARCA_SIGV4_TEXT_MAX), ARCA_BUF_INIT(ARCA_SIGV4_TEXT_MAX), \
	ARCA_BUF_INIT(ARCA_SIGV4_TEXT_MAX), { 0 } }

/** The derived signing key for one (secret, date, region, service); the
 *  secret is remembered only as its SHA-256, to notice a change. Start
 *  from ARCA_SIGV4_KEY_INIT, wipe with arca_sigv4_key_clear. */
typedef struct {
	int valid;
	char date[9];
	char region[ARCA_SIGV4_NAME_MAX + 1];
	char service[ARCA_SIGV4_NAME_MAX + 1];
	uint8_t secret_id[32];
	uint8_t key[32];
} arca_sigv4_key;

#define ARCA_SIGV4_KEY_INIT { 0, { 0 }, { 0 }, { 0 }, { 0 }, { 0 } }

/** Signs `req`: fills every field of `out` (its buffers are reset first).
 *  `cache` may be NULL; otherwise its key is reused when it matches and
 *  replaced when not. ARCA_EINVAL names the bad argument; ARCA_ERROR for
 *  an OpenSSL failure. On failure `out` holds nothing valid. */
int arca_sigv4_sign(arca_sigv4_result *out, const arca_sigv4_request *req,
		const arca_sigv4_credentials *cred, arca_sigv4_key *cache);

/** Frees the buffers of `r`; it may be reused. */
void arca_sigv4_result_release(arca_sigv4_result *r);

/** Wipes a cached key; it is then empty (as ARCA_SIGV4_KEY_INIT). */
void arca_sigv4_key_clear(arca_sigv4_key *k);

/** Formats `t` (UTC) as "YYYYMMDDTHHMMSSZ"; ARCA_EINVAL outside years
 *  1000..9999. */
int arca_sigv4_amz_date(char out[ARCA_SIGV4_DATE_LEN + 1], time_t t);

/** Appends the `n` bytes of `s`, URI-encoded by the SigV4 rule (unreserved
 *  bytes kept, the rest %XX upper-case; '/' kept when keep_slash). */
int arca_sigv4_uri_encode(arca_buf *out, const char *s, size_t n, int keep_slash);

/** Sets `out` to the canonical URI of `path` (see the request's path). */
int arca_sigv4_canonical_path(arca_buf *out, const char *path, int path_encoded);

/** Sets `out` to the canonical query string of the pairs: also the query
 *  to send, after the '?'. */
int arca_sigv4_canonical_query(arca_buf *out, const arca_sigv4_pair *q, size_t n);

/** Lower-case hex SHA-256 of `n` bytes, for x-amz-content-sha256. */
int arca_sigv4_payload_hash(char out[ARCA_SIGV4_SIG_LEN + 1], const void *p, size_t n);

#endif
