/* Arrays that grow by doubling, overflow-checked, in one place. */
#ifndef ARCA_UTIL_ARRAY_H
#define ARCA_UTIL_ARRAY_H

#include <stddef.h>

/**
 * Makes room for at least `need` elements of `size` bytes in the array
 * *(void **)pp of capacity *cap: the capacity doubles, starting at `first`.
 * On failure (no memory, or a size that would overflow) the array is
 * unchanged and ARCA_ENOMEM is returned with detail.
 */
int arca_array_grow(void *pp, size_t *cap, size_t need, size_t size, size_t first);

/** Like arca_array_grow, but the capacity becomes exactly `n` (when it
 *  is less): for arrays whose growth has its own policy or cap. */
int arca_array_resize(void *pp, size_t *cap, size_t n, size_t size);

#endif
