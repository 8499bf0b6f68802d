#include "util/version.h"

#include "arca/arca.h"
#include "util/error.h"

#include <string.h>

int arca__check_version(const char *what, unsigned version, unsigned current)
{
	if (version < 1 || version > current)
		return arca_err_set(ARCA_EINVAL, "%s: unknown version %u (this library knows 1 to %u)",
			what, version, current);
	return 0;
}

int arca__result_start(const char *what, void *result, size_t size, unsigned current)
{
	int rc = arca__check_version(what, *(const unsigned *)result, current);
	/* cleared even when refused: a *_clear afterwards frees nothing */
	arca__result_clear(result, size);
	return rc;
}

void arca__result_clear(void *result, size_t size)
{
	unsigned version = *(unsigned *)result;
	memset(result, 0, size);
	*(unsigned *)result = version;
}

const char *arca_version(void)
{
	return ARCA_VERSION_STRING;
}
