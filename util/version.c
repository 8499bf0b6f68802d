#include "util/version.h"

#include "arca/arca.h"
#include "util/error.h"

int arca__check_version(const char *what, unsigned version, unsigned current)
{
	if (version < 1 || version > current)
		return arca_err_set(ARCA_EINVAL, "%s: unknown version %u (this library knows 1 to %u)",
			what, version, current);
	return 0;
}

const char *arca_version(void)
{
	return ARCA_VERSION_STRING;
}
