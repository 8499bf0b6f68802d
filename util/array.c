#include "util/array.h"
#include "util/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int arca_array_grow(void *pp, size_t *cap, size_t need, size_t size, size_t first)
{
	void **p = pp, *n;
	size_t nc = *cap ? *cap : (first ? first : 1);

	if (need <= *cap)
		return 0;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return arca_err_set(ARCA_ENOMEM, "array of %zu elements is too large", need);
		nc *= 2;
	}
	if (size && nc > SIZE_MAX / size)
		return arca_err_set(ARCA_ENOMEM, "array of %zu elements is too large", nc);
	if (!(n = realloc(*p, nc * size)))
		return arca_err_set(ARCA_ENOMEM, "out of memory (%zu bytes)", nc * size);
	*p = n;
	*cap = nc;
	return 0;
}
