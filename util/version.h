/* Versions of the structs callers hand to the library. */
#ifndef ARCA_UTIL_VERSION_H
#define ARCA_UTIL_VERSION_H

#include <stddef.h>

/**
 * The one check of a caller's struct version: any version from 1 to
 * `current` is accepted (a caller built against older headers passes an
 * older, shorter struct); 0 (not initialised) or a newer one is refused
 * with ARCA_EINVAL naming `what`.
 */
int arca__check_version(const char *what, unsigned version, unsigned current);

/**
 * A result struct the caller allocates starts with `unsigned version`:
 * checks it as arca__check_version does and zeroes the rest of the
 * `size` bytes, also when the version is refused (so that the matching
 * *_clear is safe after any call). Once a result gains fields, `size`
 * must be that of the caller's version.
 */
int arca__result_start(const char *what, void *result, size_t size, unsigned current);

/** Zeroes a result struct except its leading version. */
void arca__result_clear(void *result, size_t size);

#endif
