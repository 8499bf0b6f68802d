/* Stands in for env/env_smolvm.c until that backend is built. */
#include "env/backends.h"
#include "util/error.h"

#include <stddef.h>

int arca_env__smolvm_new(arca_env_backend **out)
{
	*out = NULL;
	return arca_err_set(ARCA_ENOTFOUND, "smolvm backend not built");
}
