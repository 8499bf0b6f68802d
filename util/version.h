/* Versions of the structs callers hand to the library. */
#ifndef ARCA_UTIL_VERSION_H
#define ARCA_UTIL_VERSION_H

/**
 * The one check of a caller's struct version: any version from 1 to
 * `current` is accepted (a caller built against older headers passes an
 * older, shorter struct); 0 (not initialised) or a newer one is refused
 * with ARCA_EINVAL naming `what`.
 */
int arca__check_version(const char *what, unsigned version, unsigned current);

#endif
