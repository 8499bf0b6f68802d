/* Built without libarchive: no tar import. */
#include "env/untar.h"
#include "arca/arca.h"
#include "util/error.h"

int arca_env__untar(const char *tar, const char *dest)
{
	(void)dest;
	return arca_err_set(ARCA_ENOTSUP, "untar %s: arca was built without libarchive", tar);
}
