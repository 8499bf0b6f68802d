/* Thread-local error detail; every failing library call sets it. */
#ifndef ARCA_UTIL_ERROR_H
#define ARCA_UTIL_ERROR_H

#include "arca/arca.h"

/** Records a formatted message for this thread and returns `code`. */
int arca_err_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** Like arca_err_set with ": <strerror(errno)>" appended; the code is
 *  derived from errno (ENOSPC -> ARCA_ENOSPC, ENOENT -> ARCA_ENOTFOUND,
 *  EEXIST -> ARCA_EEXISTS, ELOOP/EXDEV -> ARCA_EUNSAFE, ENOMEM ->
 *  ARCA_ENOMEM, otherwise ARCA_EIO). */
int arca_err_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Prepends "context: " to this thread's message; returns `code`. */
int arca_err_wrap(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
