/*
 * libcurl plumbing for the S3 and static HTTP transports (sync/http.h).
 *
 * Connection reuse: a pool of easy handles under a mutex. An easy handle
 * keeps its own connection cache, so a handle taken back from the pool
 * reuses its keep-alive connection; the pool holds about as many as the
 * engine runs jobs. The share holds only DNS and TLS sessions: libcurl
 * 7.88 does not support sharing the connection cache itself between
 * concurrent threads.
 *
 * libcurl reads proxy variables from the environment unless told a proxy;
 * CURLOPT_PROXY "" turns that off, as the library reads no environment.
 */
#include "sync/versions.h"
#include "sync/http.h"
#include "util/error.h"

#include <curl/curl.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MAX_MS 20000u

struct arca_http_client {
	arca_http_options o;
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL **idle;
	size_t nidle;
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t connects;
	atomic_uint_fast64_t seed;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	arca_http_client *c = u;
	(void)h; (void)a;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_lock[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
	arca_http_client *c = u;
	(void)h;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_lock[d]);
}

int arca_http_client_new(arca_http_client **out, const arca_http_options *o)
{
	arca_http_client *c;
	struct timespec ts;
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return arca_err_set(ARCA_ERROR, "curl: %s", curl_easy_strerror(global_rc));
	c = calloc(1, sizeof(*c));
	if (!c)
		return arca_err_set(ARCA_ENOMEM, "http: out of memory");
	c->o = *o;
	if (!c->o.max_retries) c->o.max_retries = 5;
	if (!c->o.retry_base_ms) c->o.retry_base_ms = 200;
	if (!c->o.timeout_s) c->o.timeout_s = 60;
	if (!c->o.pool) c->o.pool = 4;
	c->idle = calloc(c->o.pool, sizeof(*c->idle));
	c->share = curl_share_init();
	if (!c->idle || !c->share) {
		if (c->share) curl_share_cleanup(c->share);
		free(c->idle);
		free(c);
		return arca_err_set(ARCA_ENOMEM, "http: out of memory");
	}
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_lock[i], NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_init(&c->seed, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)c);
	atomic_init(&c->requests, 0);
	atomic_init(&c->connects, 0);
	*out = c;
	return 0;
}

void arca_http_client_free(arca_http_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nidle; i++)
		curl_easy_cleanup(c->idle[i]);
	curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_lock[i]);
	pthread_mutex_destroy(&c->pool_lock);
	free(c->idle);
	free(c);
}

uint64_t arca_http_client_requests(const arca_http_client *c)
{
	return c ? atomic_load(&((arca_http_client *)c)->requests) : 0;
}

uint64_t arca_http_client_connects(const arca_http_client *c)
{
	return c ? atomic_load(&((arca_http_client *)c)->connects) : 0;
}

static CURL *handle_take(arca_http_client *c)
{
	CURL *h = NULL;
	pthread_mutex_lock(&c->pool_lock);
	if (c->nidle)
		h = c->idle[--c->nidle];
	pthread_mutex_unlock(&c->pool_lock);
	return h ? h : curl_easy_init();
}

static void handle_give(arca_http_client *c, CURL *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->nidle < c->o.pool) {
		c->idle[c->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- headers, requests, responses ---- */

int arca_http_headers_add(arca_http_headers *h, const char *name, const char *fmt, ...)
{
	va_list ap;
	size_t n0 = h->text.len, v;
	int rc;
	if (h->n >= ARCA_HTTP_MAX_HEADERS)
		return arca_err_set(ARCA_EINVAL, "http: too many headers");
	if ((rc = arca_buf_put(&h->text, name, strlen(name) + 1)) < 0)
		return rc;
	v = h->text.len;
	va_start(ap, fmt);
	{
		char tmp[8192];
		int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
		if (k < 0 || (size_t)k >= sizeof(tmp))
			rc = arca_err_set(ARCA_EINVAL, "http: header %s too long", name);
		else
			rc = arca_buf_put(&h->text, tmp, (size_t)k + 1);
		explicit_bzero(tmp, sizeof(tmp)); /* may be a signature or token */
	}
	va_end(ap);
	if (rc < 0) {
		h->text.len = n0;
		return rc;
	}
	h->off[h->n][0] = n0;
	h->off[h->n][1] = v;
	h->n++;
	return 0;
}

const char *arca_http_headers_name(const arca_http_headers *h, size_t i)
{
	return (const char *)h->text.ptr + h->off[i][0];
}

const char *arca_http_headers_value(const arca_http_headers *h, size_t i)
{
	return (const char *)h->text.ptr + h->off[i][1];
}

static void headers_reset(arca_http_headers *h)
{
	if (h->text.ptr)
		memset(h->text.ptr, 0, h->text.len); /* may hold a signature or token */
	h->text.len = 0;
	h->n = 0;
}

void arca_http_request_init(arca_http_request *req, const char *method, const char *path)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->path = path;
	req->headers.text = (arca_buf)ARCA_BUF_INIT(1u << 16);
	req->body_fd = -1;
}

void arca_http_request_release(arca_http_request *req)
{
	headers_reset(&req->headers);
	arca_buf_release(&req->headers.text);
}

void arca_http_response_init(arca_http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->body = (arca_buf)ARCA_BUF_INIT(SIZE_MAX);
}

void arca_http_response_release(arca_http_response *r)
{
	arca_buf_release(&r->body);
}

/* ---- one attempt ---- */

typedef struct {
	arca_http_request *req;
	arca_http_response *resp;
	uint64_t pos;              /* of the upload */
	int abort_rc;
} one_try;

static int ieq_prefix(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);
	return n >= k && strncasecmp(s, p, k) == 0;
}

static int parse_u64(const char **s, const char *end, uint64_t *v)
{
	const char *p = *s;
	uint64_t x = 0;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	while (p < end && *p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*p++ - '0');
	}
	*s = p;
	*v = x;
	return 0;
}

static void parse_status(arca_http_response *r, const char *s, size_t n)
{
	const char *end = s + n, *p = memchr(s, ' ', n);
	uint64_t code;
	size_t k = 0;
	r->status = 0;
	r->has_length = r->has_range = 0;
	r->reason[0] = '\0';
	r->body.len = 0;
	if (!p)
		return;
	p++;
	if (parse_u64(&p, end, &code) < 0 || code > 999)
		return;
	r->status = (long)code;
	while (p < end && *p == ' ')
		p++;
	for (; p < end && k + 1 < sizeof(r->reason); p++)
		if (*p >= 0x20 && *p < 0x7f)
			r->reason[k++] = *p;
	while (k && r->reason[k - 1] == ' ')
		k--;
	r->reason[k] = '\0';
}

/* "bytes A-B/T" or "bytes * /T" (416) */
static void parse_content_range(arca_http_response *r, const char *p, const char *end)
{
	uint64_t a, b, t = UINT64_MAX;
	while (p < end && *p == ' ')
		p++;
	if (!ieq_prefix(p, (size_t)(end - p), "bytes "))
		return;
	p += 6;
	if (p < end && *p == '*') {
		p++;
		a = b = UINT64_MAX;
	} else if (parse_u64(&p, end, &a) < 0 || p >= end || *p++ != '-' ||
			parse_u64(&p, end, &b) < 0 || b < a)
		return;
	if (p >= end || *p++ != '/')
		return;
	if (p < end && *p == '*')
		t = UINT64_MAX;
	else if (parse_u64(&p, end, &t) < 0 || (a != UINT64_MAX && b >= t))
		return;
	r->range_first = a;
	r->range_last = b;
	r->range_total = t;
	r->has_range = 1;
}

void arca_http__parse_header(arca_http_response *r, const char *buf, size_t n)
{
	const char *end = buf + n, *p;
	while (end > buf && (end[-1] == '\r' || end[-1] == '\n'))
		end--;
	n = (size_t)(end - buf);
	if (ieq_prefix(buf, n, "HTTP/")) {
		parse_status(r, buf, n);
	} else if (ieq_prefix(buf, n, "content-length:")) {
		p = buf + 15;
		while (p < end && *p == ' ')
			p++;
		r->has_length = parse_u64(&p, end, &r->length) == 0;
	} else if (ieq_prefix(buf, n, "content-range:")) {
		parse_content_range(r, buf + 14, end);
	}
}

static size_t on_header(char *buf, size_t sz, size_t nm, void *u)
{
	one_try *a = u;
	arca_http__parse_header(a->resp, buf, sz * nm);
	return sz * nm;
}

static size_t on_write(char *p, size_t sz, size_t nm, void *u)
{
	one_try *a = u;
	arca_http_request *req = a->req;
	arca_http_response *r = a->resp;
	size_t n = sz * nm;
	if (r->status >= 200 && r->status < 300) {
		if (req->on_body) {
			int rc = req->on_body(req->ctx, r, p, n);
			if (rc) {
				a->abort_rc = rc;
				return 0;
			}
		} else if (!req->capture_max) {
			/* not wanted */
		} else if (r->body.len + n > req->capture_max || arca_buf_put(&r->body, p, n) < 0) {
			a->abort_rc = arca_err_set(ARCA_ECORRUPT, "answer longer than %zu bytes",
				req->capture_max);
			return 0;
		}
		return n;
	}
	if (r->body.len < ARCA_HTTP_ERR_BODY_MAX) {
		size_t k = ARCA_HTTP_ERR_BODY_MAX - r->body.len;
		(void)arca_buf_put(&r->body, p, n < k ? n : k);
	}
	return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *u)
{
	one_try *a = u;
	arca_http_request *req = a->req;
	size_t n = sz * nm;
	uint64_t left = req->body_len - a->pos;
	if (n > left)
		n = (size_t)left;
	if (!n)
		return 0;
	if (req->body) {
		memcpy(p, req->body + a->pos, n);
	} else {
		size_t got = 0;
		while (got < n) {
			ssize_t k = pread(req->body_fd, p + got, n - got, (off_t)(a->pos + got));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				a->abort_rc = k < 0 ? arca_err_sys("http: reading the spooled body")
					: arca_err_set(ARCA_EIO, "http: spooled body ended early");
				return CURL_READFUNC_ABORT;
			}
			got += (size_t)k;
		}
	}
	a->pos += n;
	return n;
}

static int on_seek(void *u, curl_off_t off, int origin)
{
	one_try *a = u;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > a->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	a->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static int build_url(arca_buf *url, const char *base, const arca_http_request *req)
{
	if (req->query && *req->query)
		return arca_buf_setf(url, "%s%s?%s", base, req->path, req->query);
	return arca_buf_setf(url, "%s%s", base, req->path);
}

/* One request. Returns what prepare or a callback failed with, else 0;
 * *netfail when curl got no complete answer. */
static int once(arca_http_client *c, const char *base, arca_http_request *req,
		arca_http_response *resp, unsigned n, int *netfail)
{
	arca_buf url = ARCA_BUF_INIT(1u << 16), line = ARCA_BUF_INIT(1u << 16);
	struct curl_slist *hl = NULL, *t;
	one_try a = { req, resp, 0, 0 };
	CURL *h = NULL;
	CURLcode e;
	int rc = 0;
	long timeout = (long)c->o.timeout_s;

	headers_reset(&req->headers);
	for (size_t i = 0; i < 4 && req->fixed[i][0]; i++)
		if ((rc = arca_http_headers_add(&req->headers, req->fixed[i][0], "%s",
				req->fixed[i][1])) < 0)
			goto done;
	if (req->prepare && (rc = req->prepare(req->ctx, req, n)) < 0)
		goto done;
	if ((rc = build_url(&url, base, req)) < 0)
		goto done;
	for (size_t i = 0; i < req->headers.n; i++) {
		if ((rc = arca_buf_setf(&line, "%s: %s", arca_http_headers_name(&req->headers, i),
				arca_http_headers_value(&req->headers, i))) < 0)
			goto done;
		if (!(t = curl_slist_append(hl, arca_buf_cstr(&line)))) {
			rc = arca_err_set(ARCA_ENOMEM, "http: out of memory");
			goto done;
		}
		hl = t;
	}
	/* No 100-continue round trip (or its one-second stall on servers
	 * that ignore it); no Accept header nobody signed. */
	if (!(t = curl_slist_append(hl, "Expect:")) || !(hl = t) ||
			!(t = curl_slist_append(hl, "Accept:")) || !(hl = t)) {
		rc = arca_err_set(ARCA_ENOMEM, "http: out of memory");
		goto done;
	}
	if (!(h = handle_take(c))) {
		rc = arca_err_set(ARCA_ENOMEM, "http: curl_easy_init failed");
		goto done;
	}
	curl_easy_reset(h);
	resp->status = 0;
	resp->has_length = resp->has_range = 0;
	resp->reason[0] = '\0';
	resp->body.len = 0;
	resp->curl_err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, arca_buf_cstr(&url));
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "arca");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* pack bodies are MiBs: fewer, larger reads and writes than the 16
	 * and 64 KiB defaults (a pull made a recv and a poll per 16 KiB) */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L << 10);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L << 10);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, timeout);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->curl_err);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	if (c->o.follow_redirects) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
			c->o.https_only_redirects ? "https" : "http,https");
	}
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (req->has_body) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &a);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &a);
		if (strcmp(req->method, "PUT") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	}
	atomic_fetch_add(&c->requests, 1);
	resp->attempts++;
	e = curl_easy_perform(h);
	resp->curl_code = (int)e;
	{
		long k = 0;
		if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &k) == CURLE_OK && k > 0)
			atomic_fetch_add(&c->connects, (uint64_t)k);
	}
	if (e != CURLE_OK && !resp->curl_err[0])
		snprintf(resp->curl_err, sizeof(resp->curl_err), "%s", curl_easy_strerror(e));
	if (a.abort_rc)
		rc = a.abort_rc;
	else if (e != CURLE_OK)
		*netfail = 1;
	/* the handle outlives the attempt: nothing of ours may stay in it */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	handle_give(c, h);
done:
	for (t = hl; t; t = t->next)
		explicit_bzero(t->data, strlen(t->data)); /* a signature, a token */
	curl_slist_free_all(hl);
	if (line.ptr)
		memset(line.ptr, 0, line.alloc);
	arca_buf_release(&line);
	arca_buf_release(&url);
	return rc;
}

static int retryable_curl(int e)
{
	switch ((CURLcode)e) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static uint64_t next_random(arca_http_client *c)
{
	uint64_t z = atomic_fetch_add(&c->seed, 0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* base * 2^retry, capped, then a random point in its upper half */
static void backoff(arca_http_client *c, unsigned retry)
{
	uint64_t d = c->o.retry_base_ms;
	struct timespec ts;
	for (unsigned i = 0; i < retry && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	d = d / 2 + next_random(c) % (d / 2 + 1);
	ts.tv_sec = (time_t)(d / 1000);
	ts.tv_nsec = (long)(d % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int arca_http_run(arca_http_client *c, const char *base, arca_http_request *req,
		arca_http_response *resp)
{
	resp->attempts = 0;
	for (unsigned n = 0;; n++) {
		int netfail = 0, retry;
		int rc = once(c, base, req, resp, n, &netfail);
		if (rc)
			return rc;
		retry = netfail ? retryable_curl(resp->curl_code)
			: (resp->status >= 500 || resp->status == 429);
		if (!retry || n >= c->o.max_retries) {
			if (netfail)
				resp->status = 0; /* whatever came was not a whole answer */
			return 0;
		}
		backoff(c, n);
	}
}

/* ---- ranged GET ---- */

typedef struct {
	uint64_t next;             /* absolute offset of the next byte the sink wants */
	uint64_t end;              /* UINT64_MAX: to the end */
	uint64_t pos;              /* absolute offset of the next byte in this answer */
	int started;
	arca_transport_sink sink;
	void *sctx;
	arca_http_prepare_fn inner;
	void *inner_ctx;
} get_state;

static int get_prepare(void *ctx, arca_http_request *req, unsigned attempt)
{
	get_state *g = ctx;
	int rc = 0;
	g->started = 0;
	if (g->end != UINT64_MAX)
		rc = arca_http_headers_add(&req->headers, "Range", "bytes=%llu-%llu",
			(unsigned long long)g->next, (unsigned long long)(g->end - 1));
	else if (g->next)
		rc = arca_http_headers_add(&req->headers, "Range", "bytes=%llu-",
			(unsigned long long)g->next);
	if (rc < 0)
		return rc;
	return g->inner ? g->inner(g->inner_ctx, req, attempt) : 0;
}

static int get_body(void *ctx, const arca_http_response *r, const void *p, size_t n)
{
	get_state *g = ctx;
	const uint8_t *b = p;
	if (!g->started) {
		if (r->status == 206) {
			if (!r->has_range || r->range_first == UINT64_MAX || r->range_first != g->next)
				return arca_err_set(ARCA_ECORRUPT,
					"server sent a range that was not asked for");
			g->pos = r->range_first;
		} else {
			g->pos = 0;    /* the whole object: Range ignored */
		}
		g->started = 1;
	}
	if (g->pos < g->next) {
		uint64_t skip = g->next - g->pos;
		if (skip >= n) {
			g->pos += n;
			return 0;
		}
		b += skip;
		n -= (size_t)skip;
		g->pos += skip;
	}
	if (g->end != UINT64_MAX && g->end - g->next < n)
		n = (size_t)(g->end - g->next);
	if (!n)
		return 0;
	{
		int rc = g->sink(g->sctx, b, n);
		if (rc)
			return rc;
	}
	g->next += n;
	g->pos += n;
	return 0;
}

int arca_http_get_range(arca_http_client *c, const char *base, arca_http_request *req,
		const char *what, uint64_t off, uint64_t len, arca_transport_sink sink, void *sctx,
		uint64_t *size, arca_http_response *resp)
{
	get_state g = { off, len ? off + len : UINT64_MAX, 0, 0, sink, sctx,
		req->prepare, req->ctx };
	uint64_t total = UINT64_MAX;
	int rc;
	if (len && off + len < off)
		return arca_err_set(ARCA_EINVAL, "range overflows");
	req->prepare = get_prepare;
	req->on_body = get_body;
	req->ctx = &g;
	rc = arca_http_run(c, base, req, resp);
	req->prepare = g.inner;
	req->ctx = g.inner_ctx;
	req->on_body = NULL;
	if (rc == ARCA_ECORRUPT)
		return arca_err_wrap(rc, "get %s", what);
	if (rc)
		return rc;
	if (resp->status == 206 && resp->has_range)
		total = resp->range_total;
	else if (resp->status >= 200 && resp->status < 300 && resp->status != 206 && resp->has_length)
		total = resp->length;
	else if (resp->status == 416 && resp->has_range)
		total = resp->range_total;
	if (resp->status == 416 && total == UINT64_MAX && g.end == UINT64_MAX) {
		/* radosgw's 416 does not say the size (no Content-Range): ask */
		const char *method = req->method;
		req->method = "HEAD";
		rc = arca_http_run(c, base, req, resp);
		req->method = method;
		if (rc)
			return rc;
		if (resp->status != 200)
			return arca_http_fail("get", what, resp);
		if (resp->has_length)
			total = resp->length;
		resp->status = 416;
	}
	if (resp->status == 416) {
		/* "bytes=SIZE-": nothing past the end, which is fine for len 0 */
		if (total != UINT64_MAX && g.end == UINT64_MAX && g.next == total) {
			if (size)
				*size = total;
			return 0;
		}
		return arca_err_set(ARCA_ECORRUPT, "get %s: object shorter than expected", what);
	}
	if (resp->status < 200 || resp->status >= 300)
		return arca_http_fail("get", what, resp);
	if (total != UINT64_MAX && size)
		*size = total;
	if ((g.end != UINT64_MAX && g.next < g.end) || (total != UINT64_MAX && g.next < total &&
			g.end == UINT64_MAX) || (total != UINT64_MAX && off > total))
		return arca_err_set(ARCA_ECORRUPT, "get %s: object shorter than expected", what);
	return 0;
}

/* ---- errors ---- */

void arca_http_error_code(const arca_http_response *r, char *out, size_t n)
{
	const char *b = (const char *)r->body.ptr, *p, *end;
	size_t k = 0;
	out[0] = '\0';
	if (!b || !r->body.len || !n)
		return;
	end = b + r->body.len;
	p = memmem(b, r->body.len, "<Code>", 6);
	if (!p)
		return;
	for (p += 6; p < end && k + 1 < n; p++) {
		char ch = *p;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				(ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			break;
		out[k++] = ch;
	}
	out[k] = '\0';
	if (p >= end || *p != '<')
		out[0] = '\0'; /* cut short or not a plain token */
}

int arca_http_fail(const char *op, const char *what, const arca_http_response *r)
{
	char code[64], tries[48] = "";
	int rc;
	if (r->attempts > 1)
		snprintf(tries, sizeof(tries), " (after %u attempts)", r->attempts);
	if (!r->status)
		return arca_err_set(ARCA_EIO, "%s %s: %s%s", op, what,
			r->curl_err[0] ? r->curl_err : "no answer", tries);
	arca_http_error_code(r, code, sizeof(code));
	if (r->status == 401 || r->status == 403)
		rc = ARCA_EAUTH;
	else if (r->status == 404)
		rc = ARCA_ENOTFOUND;
	else
		rc = ARCA_EIO;
	return arca_err_set(rc, "%s %s: %ld %s%s", op, what, r->status,
		code[0] ? code : r->reason[0] ? r->reason : "error", tries);
}

/* ---- transports ---- */

uint64_t arca_http_transport_requests(const arca_transport *t)
{
	const arca_http_transport *h = (const arca_http_transport *)t;
	return h && h->magic == ARCA_HTTP_TRANSPORT_MAGIC ? arca_http_client_requests(h->client) : 0;
}

uint64_t arca_http_transport_connects(const arca_transport *t)
{
	const arca_http_transport *h = (const arca_http_transport *)t;
	return h && h->magic == ARCA_HTTP_TRANSPORT_MAGIC ? arca_http_client_connects(h->client) : 0;
}

void arca_http_transport_set_list_page(arca_transport *t, unsigned max_keys)
{
	arca_http_transport *h = (arca_http_transport *)t;
	if (h && h->magic == ARCA_HTTP_TRANSPORT_MAGIC)
		h->list_page = max_keys;
}

int arca_http_head(arca_http_client *c, const char *base, arca_http_request *req,
		const char *what, uint64_t *size, arca_http_response *resp)
{
	int rc = arca_http_run(c, base, req, resp);
	if (rc)
		return rc;
	if (resp->status != 200)
		return arca_http_fail("head", what, resp);
	if (!resp->has_length)
		return arca_err_set(ARCA_ECORRUPT, "head %s: no Content-Length", what);
	if (size)
		*size = resp->length;
	return 0;
}

const char *arca_sync__curl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}
