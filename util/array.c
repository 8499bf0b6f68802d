#include "util/array.h"
#include "util/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int arca_array_resize(void *pp, size_t *cap, size_t n, size_t size)
{
	void **p = pp, *nv;

	if (n <= *cap)
		return 0;
	if (size && n > SIZE_MAX / size)
		return arca_err_set(ARCA_ENOMEM, "array of %zu elements is too large", n);
	if (!(nv = realloc(*p, n * size)))
		return arca_err_set(ARCA_ENOMEM, "out of memory (%zu bytes)", n * size);
	*p = nv;
	*cap = n;
	return 0;
}

int arca_array_grow(void *pp, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t nc = *cap ? *cap : (first ? first : 1);

	if (need <= *cap)
		return 0;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return arca_err_set(ARCA_ENOMEM, "array of %zu elements is too large", need);
		nc *= 2;
	}
	return arca_array_resize(pp, cap, nc, size);
}
