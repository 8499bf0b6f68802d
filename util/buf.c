#include "util/buf.h"
#include "util/error.h"

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
