#include "util/buf.h"
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int arca_buf_grow(arca_buf *b, size_t extra)
{
	size_t need, n;
	uint8_t *p;

	if (extra > b->max || b->len > b->max - extra)
		return arca_err_set(ARCA_EINVAL, "buffer limit of %zu bytes exceeded", b->max);
	need = b->len + extra;
	if (need <= b->alloc)
		return 0;
	n = b->alloc ? b->alloc : 256;
	while (n < need)
		n = n > b->max / 2 ? b->max : n * 2;
	p = realloc(b->ptr, n);
	if (!p)
		return arca_err_set(ARCA_ENOMEM, "out of memory (%zu bytes)", n);
	b->ptr = p;
	b->alloc = n;
	return 0;
}

int arca_buf_put(arca_buf *b, const void *p, size_t n)
{
	int rc = arca_buf_grow(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	return 0;
}

void arca_buf_release(arca_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->alloc = 0;
}

static int buf_vprintf(arca_buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n, rc;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0) {
		va_end(again);
		return arca_err_set(ARCA_EINVAL, "bad format");
	}
	/* room for the NUL too, so the cap holds for what is stored */
	if ((rc = arca_buf_grow(b, (size_t)n + 1)) != 0) {
		va_end(again);
		return rc;
	}
	vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, again);
	va_end(again);
	b->len += (size_t)n;
	return 0;
}

int arca_buf_printf(arca_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int arca_buf_setf(arca_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t old = b->len;
	int rc;

	b->len = 0;
	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	if (rc)
		b->len = old;
	return rc;
}

const char *arca_buf_cstr(const arca_buf *b)
{
	return b->ptr ? (const char *)b->ptr : "";
}
