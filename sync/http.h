/*
 * libcurl plumbing shared by the S3 and static HTTP transports: a client
 * (a pool of easy handles, each keeping its connections alive, and one
 * share for DNS and TLS sessions), one request with bounded retries and
 * backoff, ranged GETs that resume where a broken transfer stopped, and the
 * one-line error messages of sync/transport.h. libcurl's headers stay in
 * http.c and the two transports.
 */
#ifndef ARCA_SYNC_HTTP_H
#define ARCA_SYNC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "sync/transport.h"
#include "util/buf.h"

#define ARCA_HTTP_MAX_HEADERS 16
#define ARCA_HTTP_ERR_BODY_MAX (64u << 10)   /* error bodies kept to find <Code> */

typedef struct arca_http_client arca_http_client;

/** Request headers: names and values stored in `text`, as offsets so the
 *  buffer may grow. */
typedef struct {
	arca_buf text;
	size_t off[ARCA_HTTP_MAX_HEADERS][2];
	size_t n;
} arca_http_headers;

/** What one response said. `status` 0: no HTTP answer (curl_code). */
typedef struct {
	long status;
	int curl_code;
	char curl_err[256];
	char reason[64];           /* the status line's phrase, sanitised */
	int has_length;
	uint64_t length;           /* Content-Length */
	int has_range;
	uint64_t range_first, range_last, range_total; /* Content-Range; total UINT64_MAX: '*' */
	arca_buf body;             /* a non-2xx body (capped), or a captured 2xx body */
	unsigned attempts;         /* requests made */
} arca_http_response;

typedef struct arca_http_request arca_http_request;

/** Adds per-attempt headers (a Range that resumes a GET, a signature). */
typedef int (*arca_http_prepare_fn)(void *ctx, arca_http_request *req, unsigned attempt);
/** Receives 2xx body bytes; non-zero aborts the request (not retried). */
typedef int (*arca_http_body_fn)(void *ctx, const arca_http_response *r, const void *p, size_t n);

struct arca_http_request {
	const char *method;        /* "GET", "HEAD", "PUT", "DELETE" */
	const char *path;          /* encoded, from '/' */
	const char *query;         /* encoded, without '?'; NULL: none */
	arca_http_headers headers; /* rebuilt each attempt: fixed ones, then prepare's */
	const char *fixed[4][2];   /* headers every attempt carries; NULL name ends */
	/* body of a PUT: memory, or a file read with pread */
	const uint8_t *body;
	int body_fd;               /* -1: none */
	uint64_t body_len;
	int has_body;
	arca_http_prepare_fn prepare;
	arca_http_body_fn on_body; /* NULL: a 2xx body is captured in resp->body */
	size_t capture_max;        /* its cap (ARCA_ECORRUPT past it); 0: dropped */
	void *ctx;
};

typedef struct {
	unsigned max_retries;      /* 0: 5 */
	unsigned retry_base_ms;    /* 0: 200 */
	unsigned timeout_s;        /* without progress; 0: 60 */
	unsigned pool;             /* idle handles kept; 0: 4 */
	int follow_redirects;      /* static HTTP: up to 5, never https -> http */
	int https_only_redirects;
} arca_http_options;

/** A new client; curl is initialised once per process. */
int arca_http_client_new(arca_http_client **out, const arca_http_options *o);
void arca_http_client_free(arca_http_client *c);
/** Requests this client has sent, retries included (for tests). */
uint64_t arca_http_client_requests(const arca_http_client *c);
/** Connections it has opened (fewer than requests when they are reused). */
uint64_t arca_http_client_connects(const arca_http_client *c);

void arca_http_request_init(arca_http_request *req, const char *method, const char *path);
void arca_http_request_release(arca_http_request *req);
void arca_http_response_init(arca_http_response *r);
void arca_http_response_release(arca_http_response *r);

/** Adds a header; the value is formatted. */
int arca_http_headers_add(arca_http_headers *h, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *arca_http_headers_name(const arca_http_headers *h, size_t i);
const char *arca_http_headers_value(const arca_http_headers *h, size_t i);

/**
 * Sends `req` to `base` (scheme://authority) until an answer that is not
 * retried: 5xx, 429, timeouts and connection failures are retried up to
 * max_retries times with exponential backoff and jitter. Returns 0 with
 * `resp` filled (status 0 when no whole answer came: resp->curl_err says
 * why) for the caller to judge with arca_http_fail, or what on_body /
 * prepare returned (not retried; their message stands).
 */
int arca_http_run(arca_http_client *c, const char *base, arca_http_request *req,
		arca_http_response *resp);

/**
 * Streams bytes [off, off + len) (len 0: to the end) of the GET `req`
 * describes to sink, whatever the server does with Range: 206 is checked
 * against the range asked, a 200 with the whole body is skipped to `off`;
 * a transfer broken midway resumes from the next byte. Sets *size when
 * the answer tells it. Returns 0, the sink's code, or an error with its
 * message set ("get WHAT: ..."; ARCA_ECORRUPT for a short object).
 */
int arca_http_get_range(arca_http_client *c, const char *base, arca_http_request *req,
		const char *what, uint64_t off, uint64_t len, arca_transport_sink sink, void *sctx,
		uint64_t *size, arca_http_response *resp);

/**
 * The error for a failed request: "OP WHAT: 403 SignatureDoesNotMatch"
 * (the XML <Code> of the body, or the reason phrase), with the attempt
 * count when it was retried. 401/403 -> ARCA_EAUTH, 404 -> ARCA_ENOTFOUND,
 * no answer or anything else -> ARCA_EIO.
 */
int arca_http_fail(const char *op, const char *what, const arca_http_response *r);
/** Runs the HEAD `req` and reads its answer: 0 with *size (may be NULL),
 *  ARCA_ENOTFOUND for 404, else the failure as arca_http_fail says. */
int arca_http_head(arca_http_client *c, const char *base, arca_http_request *req,
		const char *what, uint64_t *size, arca_http_response *resp);
/** Takes one response header line (status line, Content-Length,
 *  Content-Range; hostile bytes) into `r`. (Fuzzed: fuzz/fuzz_s3.c.) */
void arca_http__parse_header(arca_http_response *r, const char *buf, size_t n);
/** One ListObjectsV2 page (hostile bytes): cb per key under `prefix`, with
 *  the prefix cut; `token` gets the continuation token, empty at the end.
 *  (Fuzzed: fuzz/fuzz_s3.c.) */
int arca_s3__list_page(const char *prefix, const char *body, size_t blen, const char *what,
		arca_transport_list_cb cb, void *ctx, arca_buf *token);

/** The <Code> of an S3 XML error body into `out` ("" when none). */
void arca_http_error_code(const arca_http_response *r, char *out, size_t n);

/* ---- what both curl transports start with ---- */

#define ARCA_HTTP_TRANSPORT_MAGIC 0x61726874u

typedef struct {
	arca_transport base;
	unsigned magic;            /* ARCA_HTTP_TRANSPORT_MAGIC */
	arca_http_client *client;
	unsigned list_page;        /* S3 max-keys; 0: 1000 (tests make it small) */
} arca_http_transport;

/** Requests sent by an S3 or static HTTP transport, retries included; `t`
 *  must be one of those. */
uint64_t arca_http_transport_requests(const arca_transport *t);
/** Connections it has opened, likewise. */
uint64_t arca_http_transport_connects(const arca_transport *t);
/** Test hook: the page size of an S3 transport's listings. */
void arca_http_transport_set_list_page(arca_transport *t, unsigned max_keys);

#endif
