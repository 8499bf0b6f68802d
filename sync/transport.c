/* Picking a remote's backend by URL, and the small-object helpers every
 * caller of a transport uses (sync/transport.h). */
#include "sync/transport.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <string.h>

int arca_transport_open(arca_transport **out, const char *url, const arca_transport_config *cfg)
{
	*out = NULL;
	if (!url || !*url)
		return arca_err_set(ARCA_EINVAL, "remote URL is empty");
	if (!strncmp(url, "s3://", 5))
		return arca_transport_s3_open(out, url, cfg);
	if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8))
		return arca_transport_http_open(out, url, cfg);
	if (!strncmp(url, "file://", 7)) {
		if (url[7] != '/')
			return arca_err_set(ARCA_EINVAL,
				"remote URL '%.300s': a file URL needs an absolute path (file:///...)",
				url);
		return arca_transport_dir_open(out, url + 7);
	}
	if (strstr(url, "://"))
		return arca_err_set(ARCA_EINVAL,
			"remote URL '%.300s': use a directory, file://, s3:// or http(s)://", url);
	return arca_transport_dir_open(out, url);
}

typedef struct {
	arca_buf *out;
	const char *key;
} collect_ctx;

static int collect(void *ctx, const void *p, size_t n)
{
	collect_ctx *c = ctx;
	if (arca_buf_put(c->out, p, n) != 0)
		return arca_err_set(ARCA_ECORRUPT, "%s: object larger than %zu bytes", c->key,
			c->out->max);
	return 0;
}

int arca_transport_get_all(arca_transport *t, const char *key, arca_buf *out)
{
	collect_ctx c = { out, key };
	size_t start = out->len;
	int rc = t->get(t, key, 0, 0, collect, &c, NULL);
	if (rc)
		out->len = start;
	return rc;
}

typedef struct {
	const uint8_t *start, *p;
	size_t len, left;
} mem_src;

static int from_mem(void *ctx, void *p, size_t cap, size_t *n)
{
	mem_src *m = ctx;
	if (!p && !cap) {
		m->p = m->start;
		m->left = m->len;
		*n = 0;
		return 0;
	}
	*n = m->left < cap ? m->left : cap;
	memcpy(p, m->p, *n);
	m->p += *n;
	m->left -= *n;
	return 0;
}

int arca_transport_put_buf(arca_transport *t, const char *key, const void *p, size_t n,
		int create_only)
{
	mem_src m = { p, p, n, n };
	return t->put(t, key, n, from_mem, &m, create_only);
}

typedef struct {
	int fd;
	uint64_t off, len;
} fd_src;

static int from_fd(void *ctx, void *p, size_t cap, size_t *n)
{
	fd_src *f = ctx;
	ssize_t got;
	if (!p && !cap) {
		f->off = 0; /* a retry starts over */
		*n = 0;
		return 0;
	}
	if (cap > f->len - f->off)
		cap = (size_t)(f->len - f->off);
	got = cap ? arca_pread_full(f->fd, p, cap, (off_t)f->off) : 0;
	if (got < 0)
		return arca_err_sys("read the body of a put");
	f->off += (uint64_t)got;
	*n = (size_t)got;
	return 0;
}

int arca_transport_put_fd(arca_transport *t, const char *key, int fd, uint64_t len,
		const uint8_t *sha256, int create_only)
{
	fd_src f = { fd, 0, len };
	if (t->put_fd)
		return t->put_fd(t, key, fd, len, sha256, create_only);
	return t->put(t, key, len, from_fd, &f, create_only);
}
