/*
 * Static HTTP(S) backend: a remote pushed to a directory and served by any
 * web server, read-only. Pulls need only GET (with Range) and HEAD; a
 * server that ignores Range answers 200 with the whole object, which is
 * skipped to the offset (sync/http.c). Redirects are followed (at most 5,
 * never from https to http).
 */
#include "sync/http.h"
#include "sync/sigv4.h"
#include "sync/transport.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	arca_http_transport h;
	char *url;                 /* as given */
	char *base;                /* "https://host:port" */
	char *path;                /* "/dir/" : always ends with '/' */
} http_t;

typedef struct {
	arca_buf path, what;
} http_path;

static int path_make(http_path *p, const http_t *t, const char *key)
{
	size_t n = strlen(key);
	int rc;
	p->path = (arca_buf)ARCA_BUF_INIT(1u << 16);
	p->what = (arca_buf)ARCA_BUF_INIT(1u << 16);
	if (!n || n > 1024)
		return arca_err_set(ARCA_EINVAL, "http: bad object key length (%zu)", n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
			return arca_err_set(ARCA_EINVAL, "http: object key with a control character");
	if ((rc = arca_buf_setf(&p->path, "%s", t->path)) < 0 ||
			(rc = arca_sigv4_uri_encode(&p->path, key, n, 1)) < 0 ||
			(rc = arca_buf_put(&p->path, "", 1)) < 0 ||
			(rc = arca_buf_setf(&p->what, "%s%s%s", t->base, t->path, key)) < 0)
		return rc;
	return 0;
}

static void path_release(http_path *p)
{
	arca_buf_release(&p->path);
	arca_buf_release(&p->what);
}

static int http_get(arca_transport *tr, const char *key, uint64_t off, uint64_t len,
		arca_transport_sink sink, void *ctx, uint64_t *size)
{
	http_t *t = (http_t *)tr;
	http_path p;
	arca_http_request req;
	arca_http_response resp;
	int rc;
	arca_http_response_init(&resp);
	if ((rc = path_make(&p, t, key)) < 0)
		goto out;
	arca_http_request_init(&req, "GET", (const char *)p.path.ptr);
	rc = arca_http_get_range(t->h.client, t->base, &req, arca_buf_cstr(&p.what), off, len,
		sink, ctx, size, &resp);
	arca_http_request_release(&req);
out:
	path_release(&p);
	arca_http_response_release(&resp);
	return rc;
}

static int http_head(arca_transport *tr, const char *key, uint64_t *size)
{
	http_t *t = (http_t *)tr;
	http_path p;
	arca_http_request req;
	arca_http_response resp;
	int rc;
	arca_http_response_init(&resp);
	if ((rc = path_make(&p, t, key)) < 0)
		goto out;
	arca_http_request_init(&req, "HEAD", (const char *)p.path.ptr);
	rc = arca_http_head(t->h.client, t->base, &req, arca_buf_cstr(&p.what), size, &resp);
	arca_http_request_release(&req);
out:
	path_release(&p);
	arca_http_response_release(&resp);
	return rc;
}

static int http_put(arca_transport *tr, const char *key, uint64_t len,
		arca_transport_source src, void *ctx, int create_only)
{
	http_t *t = (http_t *)tr;
	(void)len; (void)src; (void)ctx; (void)create_only;
	return arca_err_set(ARCA_EUNSUPPORTED, "put %s%s%s: a static HTTP remote is read-only",
		t->base, t->path, key);
}

static int http_list(arca_transport *tr, const char *prefix, arca_transport_list_cb cb, void *ctx)
{
	http_t *t = (http_t *)tr;
	(void)cb; (void)ctx;
	return arca_err_set(ARCA_EUNSUPPORTED, "list %s%s%s: a static HTTP remote cannot be listed",
		t->base, t->path, prefix ? prefix : "");
}

static int http_remove(arca_transport *tr, const char *key)
{
	http_t *t = (http_t *)tr;
	return arca_err_set(ARCA_EUNSUPPORTED, "remove %s%s%s: a static HTTP remote is read-only",
		t->base, t->path, key);
}

static void http_free(arca_transport *tr)
{
	http_t *t = (http_t *)tr;
	if (!t)
		return;
	arca_http_client_free(t->h.client);
	free(t->url);
	free(t->base);
	free(t->path);
	free(t);
}

static int parse_url(http_t *t, const char *url, int *https)
{
	const char *auth, *slash;
	size_t an, pn;
	if (strncmp(url, "https://", 8) == 0)
		*https = 1;
	else if (strncmp(url, "http://", 7) == 0)
		*https = 0;
	else
		return arca_err_set(ARCA_EINVAL, "not an http:// or https:// URL");
	auth = url + (*https ? 8 : 7);
	slash = strchr(auth, '/');
	if (!slash)
		slash = auth + strlen(auth);
	an = (size_t)(slash - auth);
	/* before any message that would show the URL */
	if (memchr(auth, '@', an))
		return arca_err_set(ARCA_EINVAL, "http URL: credentials do not belong in the URL");
	if (strpbrk(url, "?#"))
		return arca_err_set(ARCA_EINVAL, "http URL %s: no query or fragment allowed", url);
	if (!an)
		return arca_err_set(ARCA_EINVAL, "http URL %s: no host", url);
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '\\')
			return arca_err_set(ARCA_EINVAL, "http URL %s: a character to encode", url);
	pn = strlen(slash);
	t->url = strdup(url);
	t->base = malloc((size_t)(slash - url) + 1);
	t->path = malloc(pn + 2);
	if (!t->url || !t->base || !t->path)
		return arca_err_set(ARCA_ENOMEM, "http: out of memory");
	memcpy(t->base, url, (size_t)(slash - url));
	t->base[slash - url] = '\0';
	if (!pn)
		t->path[pn++] = '/';
	else
		memcpy(t->path, slash, pn);
	if (t->path[pn - 1] != '/')
		t->path[pn++] = '/';
	t->path[pn] = '\0';
	return 0;
}

int arca_transport_http_open(arca_transport **out, const char *url, const arca_transport_config *cfg)
{
	arca_http_options ho = { 0 };
	http_t *t;
	int rc, https = 0;
	*out = NULL;
	if (!url)
		return arca_err_set(ARCA_EINVAL, "http: no URL");
	if (cfg && cfg->version != ARCA_TRANSPORT_VERSION)
		return arca_err_set(ARCA_EINVAL, "http: transport config version %u", cfg->version);
	if (!(t = calloc(1, sizeof(*t))))
		return arca_err_set(ARCA_ENOMEM, "http: out of memory");
	if ((rc = parse_url(t, url, &https)) < 0)
		goto fail;
	if (cfg) {
		ho.max_retries = cfg->max_retries;
		ho.retry_base_ms = cfg->retry_base_ms;
		ho.timeout_s = cfg->timeout_s;
		ho.pool = cfg->jobs > 4 ? cfg->jobs : 4;
	}
	ho.follow_redirects = 1;
	ho.https_only_redirects = https;
	if ((rc = arca_http_client_new(&t->h.client, &ho)) < 0)
		goto fail;
	t->h.magic = ARCA_HTTP_TRANSPORT_MAGIC;
	t->h.base.version = ARCA_TRANSPORT_VERSION;
	t->h.base.url = t->url;
	t->h.base.readonly = 1;
	t->h.base.get = http_get;
	t->h.base.head = http_head;
	t->h.base.put = http_put;
	t->h.base.list = http_list;
	t->h.base.remove = http_remove;
	t->h.base.free = http_free;
	*out = &t->h.base;
	return 0;
fail:
	http_free(&t->h.base);
	return rc;
}
