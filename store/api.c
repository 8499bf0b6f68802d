/* Public API plumbing of the store layer: options initialisers and the
 * release of arrays the library returns. */
#include "arca/arca.h"
#include "util/error.h"
#include "util/version.h"

#include <stdlib.h>
#include <string.h>

/* Copies the defaults. Only version 1 exists: when a version adds fields
 * (at the end), a caller of an older version has a shorter struct, so copy
 * only up to offsetof(type, first newer field) for it. */
#define OPTIONS_INIT(type, tmpl_init, current) \
	int type##_init(type *opts, unsigned int version) \
	{ \
		type tmpl = tmpl_init; \
		int rc; \
		if (!opts) \
			return arca_err_set(ARCA_EINVAL, #type "_init: NULL argument"); \
		if ((rc = arca__check_version(#type, version, current)) != 0) \
			return rc; \
		memcpy(opts, &tmpl, sizeof(tmpl)); \
		opts->version = version; \
		return 0; \
	}

OPTIONS_INIT(arca_store_options, ARCA_STORE_OPTIONS_INIT, ARCA_STORE_OPTIONS_VERSION)
OPTIONS_INIT(arca_snapshot_options, ARCA_SNAPSHOT_OPTIONS_INIT, ARCA_SNAPSHOT_OPTIONS_VERSION)
OPTIONS_INIT(arca_restore_options, ARCA_RESTORE_OPTIONS_INIT, ARCA_RESTORE_OPTIONS_VERSION)
OPTIONS_INIT(arca_rollback_options, ARCA_ROLLBACK_OPTIONS_INIT, ARCA_ROLLBACK_OPTIONS_VERSION)
OPTIONS_INIT(arca_gc_options, ARCA_GC_OPTIONS_INIT, ARCA_GC_OPTIONS_VERSION)

void arca_ids_free(arca_id *ids)
{
	free(ids);
}
