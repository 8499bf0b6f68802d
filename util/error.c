#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERRMSG_MAX 1024

static _Thread_local char errmsg[ERRMSG_MAX];

const char *arca_error_last(void)
{
	return errmsg[0] ? errmsg : "no error";
}

const char *arca_error_name(int code)
{
	switch (code) {
	case ARCA_OK: return "OK";
	case ARCA_ENOTFOUND: return "ENOTFOUND";
	case ARCA_EEXISTS: return "EEXISTS";
	case ARCA_ECORRUPT: return "ECORRUPT";
	case ARCA_ELOCKED: return "ELOCKED";
	case ARCA_EINVAL: return "EINVAL";
	case ARCA_EIO: return "EIO";
	case ARCA_ENOMEM: return "ENOMEM";
	case ARCA_EAMBIGUOUS: return "EAMBIGUOUS";
	case ARCA_EUNSAFE: return "EUNSAFE";
	case ARCA_ENOSPC: return "ENOSPC";
	case ARCA_EUNSUPPORTED: return "EUNSUPPORTED";
	case ARCA_EREFERENCED: return "EREFERENCED";
	case ARCA_EAUTH: return "EAUTH";
	case ARCA_ECONFLICT: return "ECONFLICT";
	case ARCA_EUSER: return "EUSER";
	case ARCA_ENOTSUP: return "ENOTSUP";
	default: return "ERROR";
	}
}

int arca_err_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return code;
}

static int code_from_errno(int e)
{
	switch (e) {
	case ENOSPC: case EDQUOT: return ARCA_ENOSPC;
	case ENOENT: return ARCA_ENOTFOUND;
	case EEXIST: case ENOTEMPTY: return ARCA_EEXISTS;
	case ELOOP: case EXDEV: return ARCA_EUNSAFE;
	case ENOMEM: return ARCA_ENOMEM;
	case EINVAL: return ARCA_EINVAL;
	default: return ARCA_EIO;
	}
}

/* Appends ": tail" to errmsg, whose first `n` bytes are set. */
static void append_tail(size_t n, const char *tail)
{
	size_t room, tl;
	if (n >= sizeof(errmsg) - 3)
		return;
	memcpy(errmsg + n, ": ", 2);
	room = sizeof(errmsg) - n - 3;
	tl = strnlen(tail, room);
	memcpy(errmsg + n + 2, tail, tl);
	errmsg[n + 2 + tl] = '\0';
}

static size_t format_into(const char *fmt, va_list ap)
{
	int n = vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	if (n < 0)
		return 0;
	return (size_t)n < sizeof(errmsg) ? (size_t)n : sizeof(errmsg) - 1;
}

int arca_err_sys(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	append_tail(format_into(fmt, ap), strerror(e));
	va_end(ap);
	return code_from_errno(e);
}

int arca_err_wrap(int code, const char *fmt, ...)
{
	char old[ERRMSG_MAX];
	va_list ap;
	memcpy(old, errmsg, sizeof(old));
	va_start(ap, fmt);
	append_tail(format_into(fmt, ap), old);
	va_end(ap);
	return code;
}
